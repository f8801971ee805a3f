// SPDX-License-Identifier: MIT
/*
 * resize.slotfs - grow a slotfs file system into the rest of its device,
 * as resize2fs grows ext4: offline (not while mounted), never shrinking.
 * A front end over slot.h (slot_grow).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slot.h"

#define PROG "resize.slotfs"

static void resize_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " [-V] DEVICE_OR_IMAGE [SIZE]\n"
		"\n"
		"Grow the file system to SIZE (default: all of the device); the\n"
		"file system must not be mounted.  Grow an image file first\n"
		"(truncate -s), a partition or LV with its own tools.\n"
		"SIZE takes a K, M, G or T suffix (powers of 1024).\n"
		"  -V        print the version and exit\n");
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
	uint64_t size = 0;
	if (optind == argc - 2 && slot_parse_size(argv[optind + 1], &size)) {
		fprintf(stderr, PROG ": bad size: %s\n", argv[optind + 1]);
		return 1;
	}

	struct slot_opts o;
	slot_opts_init(&o);
	o.periodic_checkpoint = false;
	struct slot_store *s;
	int r = slot_open(path, &o, &s);
	if (r == -EBUSY) {
		fprintf(stderr, PROG ": %s is in use (mounted?); unmount it "
			"first\n", path);
		return 1;
	} else if (r < 0) {
		fprintf(stderr, PROG ": cannot open %s: %s\n", path,
			slot_strerror(r));
		return 1;
	}
	struct slot_geometry before, after;
	slot_geometry_get(s, &before);
	uint64_t limit;
	r = slot_grow(s, size, &limit);
	slot_geometry_get(s, &after);
	int cr = slot_close(s);
	char a[32], b[32], l[32];
	slot_format_size(before.device_size, a, sizeof(a));
	slot_format_size(after.device_size, b, sizeof(b));
	slot_format_size(limit, l, sizeof(l));
	if (r == -ENOSPC) {
		fprintf(stderr, PROG ": %s: its metadata area indexes at most "
			"%s (%" PRIu64 " bytes); a store made with a larger "
			"mkfs.slotfs -m grows further\n", path, l, limit);
		return 1;
	} else if (r == -EFBIG) {
		fprintf(stderr, PROG ": %s: the device is smaller than the "
			"size asked; grow it first\n", path);
		return 1;
	} else if (r == -EINVAL) {
		fprintf(stderr, PROG ": %s: the file system is already %s; "
			"it cannot shrink\n", path, a);
		return 1;
	} else if (r < 0 || cr < 0) {
		fprintf(stderr, PROG ": %s: %s\n", path,
			slot_strerror(r < 0 ? r : cr));
		return 1;
	}
	if (after.region_count == before.region_count)
		printf("%s is already %s (%" PRIu32 " regions): nothing to "
		       "do\n", path, a, before.region_count);
	else
		printf("%s grown from %s to %s (%" PRIu32 " to %" PRIu32
		       " regions)\n", path, a, b, before.region_count,
		       after.region_count);
	return 0;
}
