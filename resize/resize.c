// SPDX-License-Identifier: MIT
/*
 * resize.slotfs - grow or shrink a slotfs file system, as resize2fs does
 * ext4: growing offline or on-line through the mount (SLOTFS_IOC_GROW),
 * shrinking offline.  A front end over slot.h (slot_grow, slot_shrink).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
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
		"mounted (on-line, as root) or not; grow an image file first\n"
		"(truncate -s), a partition or LV with its own tools.  A SIZE\n"
		"below the file system's shrinks it, unmounted only.\n"
		"SIZE takes a K, M, G or T suffix (powers of 1024).\n"
		"  -V        print the version and exit\n");
}

/* What a resize did or why not. */
struct resize_res {
	struct slotfs_grow g;   /* sizes, regions, the grow's limit */
	uint64_t min;           /* a shrink's least size */
	bool shrink;
};

/* Resize the store at path, which nothing has open: 0 or a negative errno
 * (open's, -EBUSY when in use), *res filled. */
static int resize_offline(const char *path, struct resize_res *res)
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
	struct slotfs_grow *g = &res->g;
	res->shrink = g->size && (g->size & ~((1ull << 20) - 1)) <
				 before.device_size;
	if (res->shrink)
		r = slot_shrink(s, g->size, &res->min);
	else
		r = slot_grow(s, g->size, &g->limit);
	slot_geometry_get(s, &after);
	int cr = slot_close(s);
	slotfs_grow_result(g, &before, &after);
	return r < 0 ? r : cr;
}

/* Through the mount of path: 0 or the grow's negative errno; 1 when it
 * could not ask (no slotfs mount has path, or the mount did not answer),
 * said on stderr. */
static int resize_mounted(const char *path, struct resize_res *res)
{
	char mnt[PATH_MAX];
	if (sfs_client_mount(PROG, path, mnt, sizeof(mnt)))
		return 1;
	printf("%s is mounted on %s; resizing it on-line\n", path, mnt);
	int r = sfs_client_ioctl(mnt, SLOTFS_IOC_GROW, &res->g);
	if (r == -EINVAL && res->g.size)        /* a smaller size */
		res->shrink = true;
	if (r < 0 && !res->g.old_size) {        /* the mount did not answer */
		/* the daemon died under the ioctl (FUSE aborts the request) */
		bool gone = r == -ECONNABORTED || r == -ENOTCONN;
		fprintf(stderr, PROG ": %s: %s\n", mnt, gone ?
			"the mount went away (its daemon stopped); run "
			"fsck.slotfs, then resize again" : slot_strerror(r));
		return 1;
	}
	return r;
}

/* Whether the size asked (0: the device's) gives the file system on path
 * the regions it has: found without opening it for writing, which would
 * count a mount and stamp the superblock for nothing. */
static bool resize_nothing_to_do(const char *path, uint64_t size,
				 struct slot_geometry *g)
{
	if (slot_probe_path(path, g) != 1 || !g->region_size)
		return false;
	if (!size) {
		struct slot_dev *dev;
		if (slot_dev_open(path, SLOT_ENGINE_PSYNC, 1, false, true,
				  false, &dev) < 0)
			return false;
		size = dev->size;
		slot_dev_close(dev);
	}
	size &= ~((1ull << 20) - 1);    /* whole MiB, as the store counts */
	uint64_t nreg = size > g->slot_area_offset ?
			(size - g->slot_area_offset) / g->region_size : 0;
	if (nreg != g->region_count)
		return false;
	/* an unclean store is recovered first, as resize_offline's open
	 * does; a read-only open writes nothing to find out (in use or
	 * unreadable: nothing to do stands, and the mount recovers) */
	struct slot_opts o;
	slot_opts_init(&o);
	o.read_only = true;
	o.periodic_checkpoint = false;
	struct slot_store *s;
	if (slot_open(path, &o, &s) < 0)
		return true;
	struct slot_recovery rec;
	slot_recovery_report(s, &rec);
	slot_close(s);
	return rec.was_clean;
}

/* The message for a refusal r. */
static void resize_refused(const char *path, const struct resize_res *res,
			   bool mounted, int r)
{
	const struct slotfs_grow *g = &res->g;
	char a[32], l[32], m[32];
	slot_format_size(g->old_size, a, sizeof(a));
	slot_format_size(g->limit, l, sizeof(l));
	slot_format_size(res->min, m, sizeof(m));
	if (r == -ENOSPC && res->shrink && g->size < res->min)
		fprintf(stderr, PROG ": %s: its files need at least %s (%"
			PRIu64 " bytes)\n", path, m, res->min);
	else if (r == -ENOSPC && res->shrink)   /* the moves did not fit */
		fprintf(stderr, PROG ": %s: its files need %s packed tight, "
			"but the slots free below the new end are of other "
			"sizes than those past it (a shrink moves chunks, it "
			"does not repack the rest): try a larger size\n",
			path, m);
	else if (r == -ENOSPC)
		fprintf(stderr, PROG ": %s: its metadata area indexes at most "
			"%s (%" PRIu64 " bytes); a store made with a larger "
			"mkfs.slotfs -m grows further\n", path, l, g->limit);
	else if (r == -EFBIG)
		fprintf(stderr, PROG ": %s: the device is smaller than the "
			"%" PRIu64 " bytes asked; grow it first\n", path,
			g->size);
	else if (r == -EINVAL && mounted)
		fprintf(stderr, PROG ": %s: the file system is %s; it shrinks "
			"only unmounted: unmount it first\n", path, a);
	else
		fprintf(stderr, PROG ": %s: %s\n", path, slot_open_strerror(r));
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
	char path[PATH_MAX];
	int r = sfs_client_device(PROG, argv[optind], path, sizeof(path));
	if (r < 0)
		return 1;
	struct resize_res res = { 0 };
	if (optind == argc - 2 &&
	    (slot_parse_size(argv[optind + 1], &res.g.size) || !res.g.size)) {
		fprintf(stderr, PROG ": bad size: %s\n", argv[optind + 1]);
		return 1;
	}
	struct slot_geometry now;
	if (resize_nothing_to_do(path, res.g.size, &now)) {
		char a[32];
		printf("%s is already %s (%" PRIu32 " regions): nothing to "
		       "do\n", path,
		       slot_format_size(now.device_size, a, sizeof(a)),
		       now.region_count);
		return 0;
	}

	bool mounted = false;
	r = resize_offline(path, &res);
	if (r == -EBUSY) {
		r = resize_mounted(path, &res);
		if (r == 1)
			return 1;
		mounted = true;
	} else if (r < 0 && !res.g.old_size) {
		fprintf(stderr, PROG ": cannot open %s: %s\n", path,
			slot_open_strerror(r));
		return 1;
	}
	if (r < 0) {
		resize_refused(path, &res, mounted, r);
		return 1;
	}
	const struct slotfs_grow *g = &res.g;
	char a[32], b[32];
	slot_format_size(g->old_size, a, sizeof(a));
	slot_format_size(g->new_size, b, sizeof(b));
	if (g->new_regions == g->old_regions)
		printf("%s is already %s (%" PRIu32 " regions): nothing to "
		       "do\n", path, a, g->old_regions);
	else
		printf("%s %s from %s to %s (%" PRIu32 " to %" PRIu32
		       " regions)\n", path, res.shrink ? "shrunk" : "grown",
		       a, b, g->old_regions, g->new_regions);
	return 0;
}
