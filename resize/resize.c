// SPDX-License-Identifier: MIT
/*
 * resize.slotfs - grow a slotfs file system into the rest of its device,
 * as resize2fs grows ext4: offline, or on-line through the mount
 * (SLOTFS_IOC_GROW); never shrinking.  A front end over slot.h
 * (slot_grow).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "ioctl.h"
#include "slot.h"

#define PROG "resize.slotfs"

static void resize_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " [-V] DEVICE_OR_IMAGE [SIZE]\n"
		"\n"
		"Grow the file system to SIZE (default: all of the device),\n"
		"mounted (on-line, as root) or not.  Grow an image file first\n"
		"(truncate -s), a partition or LV with its own tools.\n"
		"SIZE takes a K, M, G or T suffix (powers of 1024).\n"
		"  -V        print the version and exit\n");
}

/* Grow the store at path, which nothing has open: 0 or a negative errno
 * (open's, -EBUSY when in use), *g filled. */
static int resize_offline(const char *path, struct slotfs_grow *g)
{
	struct slot_opts o;
	slot_opts_init(&o);
	o.periodic_checkpoint = false;
	struct slot_store *s;
	int r = slot_open(path, &o, &s);
	if (r < 0)
		return r;
	struct slot_geometry before, after;
	slot_geometry_get(s, &before);
	r = slot_grow(s, g->size, &g->limit);
	slot_geometry_get(s, &after);
	int cr = slot_close(s);
	g->old_size = before.device_size;
	g->new_size = after.device_size;
	g->old_regions = before.region_count;
	g->new_regions = after.region_count;
	return r < 0 ? r : cr;
}

int main(int argc, char **argv)
{
	int c;
	while ((c = getopt(argc, argv, "Vh")) != -1) {
		switch (c) {
		case 'V':
			printf(PROG " %s\n", SLOTFS_VERSION);
			return 0;
		case 'h':
			resize_usage(stdout);
			return 0;
		default:
			resize_usage(stderr);
			return 1;
		}
	}
	if (optind != argc - 1 && optind != argc - 2) {
		resize_usage(stderr);
		return 1;
	}
	const char *path = argv[optind];
	struct slotfs_grow g = { 0 };
	if (optind == argc - 2 && slot_parse_size(argv[optind + 1], &g.size)) {
		fprintf(stderr, PROG ": bad size: %s\n", argv[optind + 1]);
		return 1;
	}

	int r = resize_offline(path, &g);
	char mnt[4096];
	if (r == -EBUSY && !sfs_client_find(path, mnt, sizeof(mnt))) {
		printf("%s is mounted on %s; growing it on-line\n", path, mnt);
		r = sfs_client_ioctl(mnt, SLOTFS_IOC_GROW, &g);
		if (r < 0 && !g.old_size) {     /* the mount did not answer */
			fprintf(stderr, PROG ": %s: %s\n", mnt,
				slot_strerror(r));
			return 1;
		}
	} else if (r == -EBUSY) {
		fprintf(stderr, PROG ": %s is in use, and not by a slotfs "
			"mount; close it first\n", path);
		return 1;
	} else if (r < 0 && !g.old_size) {
		fprintf(stderr, PROG ": cannot open %s: %s\n", path,
			slot_strerror(r));
		return 1;
	}
	char a[32], b[32], l[32];
	slot_format_size(g.old_size, a, sizeof(a));
	slot_format_size(g.new_size, b, sizeof(b));
	slot_format_size(g.limit, l, sizeof(l));
	if (r == -ENOSPC) {
		fprintf(stderr, PROG ": %s: its metadata area indexes at most "
			"%s (%" PRIu64 " bytes); a store made with a larger "
			"mkfs.slotfs -m grows further\n", path, l, g.limit);
		return 1;
	} else if (r == -EFBIG) {
		fprintf(stderr, PROG ": %s: the device is smaller than the "
			"size asked; grow it first\n", path);
		return 1;
	} else if (r == -EINVAL) {
		fprintf(stderr, PROG ": %s: the file system is already %s; "
			"it cannot shrink\n", path, a);
		return 1;
	} else if (r < 0) {
		fprintf(stderr, PROG ": %s: %s\n", path, slot_strerror(r));
		return 1;
	}
	if (g.new_regions == g.old_regions)
		printf("%s is already %s (%" PRIu32 " regions): nothing to "
		       "do\n", path, a, g.old_regions);
	else
		printf("%s grown from %s to %s (%" PRIu32 " to %" PRIu32
		       " regions)\n", path, a, b, g.old_regions,
		       g.new_regions);
	return 0;
}
