/* SPDX-License-Identifier: MIT */
/*
 * find.c - the device that holds a slotfs named by its label or UUID, as
 * fstab and the e2fsprogs tools name file systems ("LABEL=store",
 * "UUID=...").  libblkid, which resolves those names for other file
 * systems, does not know slotfs's superblock, so the block devices the
 * kernel lists are probed here.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <uuid/uuid.h>

#include "slot.h"

#define FIND_PARTITIONS "/proc/partitions"

struct find_want {
	bool by_uuid;
	uuid_t uuid;
	char label[SLOT_LABEL_MAX + 1];
};

/* "LABEL=x" or "UUID=x", the value quoted or not, into w: 1; a path: 0;
 * -EDOM for a value that cannot be one. */
static int find_parse(const char *spec, struct find_want *w)
{
	const char *v;
	if (!strncmp(spec, "UUID=", 5))
		v = spec + 5;
	else if (!strncmp(spec, "LABEL=", 6))
		v = spec + 6;
	else
		return 0;
	w->by_uuid = v == spec + 5;
	size_t n = strlen(v);
	if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
		v++;
		n -= 2;
	}
	if (!n || n > SLOT_LABEL_MAX)
		return -EDOM;
	memcpy(w->label, v, n);
	w->label[n] = '\0';
	if (w->by_uuid && uuid_parse(w->label, w->uuid))
		return -EDOM;
	return 1;
}

/* Whether the device at path holds the slotfs w names. */
static bool find_matches(const char *path, const struct find_want *w)
{
	struct slot_geometry g;
	/* no medium, no access, none, or too damaged to name: not it */
	if (slot_probe_path(path, &g) != 1 || !g.block_size)
		return false;
	return w->by_uuid ? !memcmp(g.uuid, w->uuid, sizeof(w->uuid))
			  : !strcmp(g.label, w->label);
}

int slot_probe_path(const char *path, struct slot_geometry *geo)
{
	struct slot_dev *dev;
	/* buffered and shared, as tune.slotfs -l reads: two blocks */
	int r = slot_dev_open(path, SLOT_ENGINE_PSYNC, 1, false, true, false,
			      &dev);
	if (r < 0)
		return r;
	r = slot_probe(dev, geo);
	slot_dev_close(dev);
	return r;
}

int slot_find_device(const char *spec, char *path, size_t cap)
{
	struct find_want w = { 0 };
	int r = find_parse(spec, &w);
	if (r <= 0) {
		if (r < 0)
			return r;
		if (strlen(spec) >= cap)
			return -ENAMETOOLONG;
		strcpy(path, spec);
		return 0;
	}
	FILE *f = fopen(FIND_PARTITIONS, "re");
	if (!f)
		return -errno;
	char line[256], name[128], dev[160];
	unsigned long long blocks;
	int found = 0;
	while (fgets(line, sizeof(line), f)) {
		/* "major minor #blocks name"; the heading does not scan */
		if (sscanf(line, "%*u %*u %llu %127s", &blocks, name) != 2 ||
		    blocks < 1024)
			continue;       /* under 1 MiB: no slotfs fits */
		for (char *p = name; *p; p++)
			if (*p == '!')  /* the kernel's '/' in a name */
				*p = '/';
		snprintf(dev, sizeof(dev), "/dev/%s", name);
		if (!find_matches(dev, &w))
			continue;
		if (!found++) {
			if (strlen(dev) >= cap) {
				fclose(f);
				return -ENAMETOOLONG;
			}
			strcpy(path, dev);
		}
	}
	fclose(f);
	if (!found)
		return -ENODEV;
	return found > 1 ? -ENOTUNIQ : 0;
}
