// SPDX-License-Identifier: MIT
/*
 * slotfs-dump - print the on-disk structures of a slotfs file system.
 *
 * Opens the device read-only and without the exclusive lock, so it can
 * look at a mounted file system (what it prints may then be mid-update);
 * slot_dump() does the decoding.
 */
#include "config.h"

#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "client.h"
#include "slot.h"

#define PROG "slotfs-dump"

static void dump_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " [-s] [-V] DEVICE_OR_IMAGE\n"
		"\n"
		"  -s  also decode the header of every slot\n"
		"  -V  print the version and exit\n");
}

int main(int argc, char **argv)
{
	struct slot_dev *dev;
	bool slots = false;
	int c, r;

	while ((c = getopt(argc, argv, "sVh")) != -1) {
		switch (c) {
		case 's':
			slots = true;
			break;
		case 'V':
			printf(PROG " %s\n", SLOTFS_VERSION);
			return 0;
		case 'h':
			dump_usage(stdout);
			return 0;
		default:
			dump_usage(stderr);
			return 1;
		}
	}
	if (optind != argc - 1) {
		dump_usage(stderr);
		return 1;
	}

	char path[PATH_MAX];
	if (sfs_client_device(PROG, argv[optind], path, sizeof(path)) < 0)
		return 1;
	r = slot_dev_open(path, SLOT_ENGINE_AUTO, 32, false, true, false,
			  &dev);
	if (r < 0) {
		fprintf(stderr, PROG ": cannot open %s: %s\n", argv[optind],
			slot_open_strerror(r));
		return 1;
	}
	r = slot_dump(dev, stdout, slots);
	slot_dev_close(dev);
	/* A closed pipe (| head) or a full disk must not pass as success. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (r == 0)
			fprintf(stderr, PROG ": error writing output\n");
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, PROG ": %s: %s\n", argv[optind],
			slot_open_strerror(r));
		return 1;
	}
	return 0;
}
