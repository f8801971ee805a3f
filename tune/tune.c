// SPDX-License-Identifier: MIT
/*
 * tune.slotfs - list or change what a slotfs superblock says, as tune2fs
 * and e2label do for ext4: -l lists it (also while mounted), -L gives the
 * file system a new label and -U a new UUID (on a mounted store through
 * the mount, which writes them as its own superblock: FS_IOC_SETFSLABEL,
 * SLOTFS_IOC_SET_UUID), -e what errors found in use do (unmounted).  A
 * front end over slot.h.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <linux/fs.h>
#include <string.h>

#include "client.h"
#include "ioctl.h"
#include "slot.h"

#define PROG "tune.slotfs"

static void tune_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " [-l] [-e BEHAVIOR] [-L LABEL] [-U UUID] [-V]"
		" DEVICE_OR_IMAGE\n"
		"\n"
		"  -l        list the superblock's contents\n"
		"  -e BEHAVIOR  what an error found in use does: continue or\n"
		"            remount-ro (unmounted only)\n"
		"  -L LABEL  set the volume label (at most %d bytes; \"\" clears"
		" it)\n"
		"  -U UUID   set the UUID: a UUID, random or time\n"
		"            (-L and -U: mounted, as root, or not)\n"
		"  -V        print the version and exit\n", SLOT_LABEL_MAX);
}

/* Open path; exclusive for a change, so that a store using it is not
 * written under (-EBUSY, said by the caller). */
static int tune_open(const char *path, bool change, struct slot_dev **dev)
{
	int r = slot_dev_open(path, SLOT_ENGINE_PSYNC, 4, false, !change,
			      change, dev);
	if (r < 0 && r != -EBUSY)
		fprintf(stderr, PROG ": cannot open %s: %s\n", path,
			slot_open_strerror(r));
	return r;
}

/* A new label and/or UUID (NULL: not) for the store mounted from path,
 * through its mount. */
static int tune_change_mounted(const char *path, const char *label,
			       const uint8_t *uuid)
{
	char mnt[PATH_MAX], buf[FSLABEL_MAX] = { 0 };
	if (sfs_client_mount(PROG, path, mnt, sizeof(mnt)))
		return -EBUSY;
	int r = 0;
	if (label) {
		memcpy(buf, label, strlen(label));
		r = sfs_client_ioctl(mnt, FS_IOC_SETFSLABEL, buf);
	}
	if (!r && uuid) {
		struct slotfs_uuid u;
		memcpy(u.uuid, uuid, sizeof(u.uuid));
		r = sfs_client_ioctl(mnt, SLOTFS_IOC_SET_UUID, &u);
	}
	if (r)
		fprintf(stderr, PROG ": %s (mounted on %s): %s\n", path, mnt,
			slot_strerror(r));
	return r;
}

static void tune_error(const char *path, int r)
{
	if (r == -EMEDIUMTYPE)
		sfs_client_foreign(PROG, path);
	else if (r == -EINVAL)
		fprintf(stderr, PROG ": %s holds no slotfs file system\n", path);
	else if (r == -EUCLEAN)
		fprintf(stderr, PROG ": %s: the superblock is damaged; run "
			"fsck.slotfs first\n", path);
	else
		fprintf(stderr, PROG ": %s: %s\n", path, slot_open_strerror(r));
}

int main(int argc, char **argv)
{
	const char *label = NULL;
	uint8_t uuid_buf[16], *uuid = NULL;
	bool list = false;
	int c, errors = 0;

	while ((c = getopt(argc, argv, "le:L:U:Vh")) != -1) {
		switch (c) {
		case 'l':
			list = true;
			break;
		case 'e':
			if (sfs_client_errors(PROG, optarg, &errors))
				return 1;
			break;
		case 'L':
			label = optarg;
			break;
		case 'U':
			if (sfs_client_uuid(PROG, optarg, uuid_buf))
				return 1;
			uuid = uuid_buf;
			break;
		case 'V':
			printf(PROG " %s\n", SLOTFS_VERSION);
			return 0;
		case 'h':
			tune_usage(stdout);
			return 0;
		default:
			tune_usage(stderr);
			return 1;
		}
	}
	bool change = label || uuid || errors;
	if (optind != argc - 1 || (!list && !change)) {
		tune_usage(stderr);
		return 1;
	}
	char path[PATH_MAX];
	int r = sfs_client_device(PROG, argv[optind], path, sizeof(path));
	if (r < 0)
		return 1;
	if (label && strlen(label) > SLOT_LABEL_MAX) {
		fprintf(stderr, PROG ": a label is at most %d bytes\n",
			SLOT_LABEL_MAX);
		return 1;
	}

	struct slot_dev *dev;
	r = tune_open(path, change, &dev);
	if (r == -EBUSY && errors) {
		fprintf(stderr, PROG ": %s is in use: -e changes an unmounted "
			"file system (mount with -o errors= meanwhile)\n",
			path);
		return 1;
	}
	if (r == -EBUSY) {     /* only a change opens exclusive */
		if (tune_change_mounted(path, label, uuid))
			return 1;
		if (!list)
			return 0;
		label = NULL;   /* set: the listing is left */
		uuid = NULL;
		r = tune_open(path, false, &dev);
	}
	if (r < 0)
		return 1;
	if (label)
		r = slot_set_label(dev, label);
	if (!r && uuid)
		r = slot_set_uuid(dev, uuid);
	if (!r && errors)
		r = slot_set_errors(dev, (enum slot_errors)errors);
	if (!r && list)
		r = slot_describe(dev, stdout);
	slot_dev_close(dev);
	if (r) {
		tune_error(path, r);
		return 1;
	}
	return 0;
}
