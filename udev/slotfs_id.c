// SPDX-License-Identifier: MIT
/*
 * slotfs_id - names a slotfs for udev, as udev's blkid builtin names the
 * file systems libblkid knows: the ID_FS_* properties (in blkid -o udev's
 * form) from which 60-persistent-storage.rules makes the
 * /dev/disk/by-label and by-uuid links that mount(8), fsck(8), findfs and
 * systemd's fstab lines resolve LABEL= and UUID= by, and which lsblk -f
 * shows.  libblkid has no slotfs prober, so 59-slotfs.rules runs this for
 * each block device first.  Prints nothing for a device that holds no
 * slotfs (or one made over since: slot_dev_foreign), and an empty label
 * for a slotfs without one.  A front end over slot.h; the encodings are
 * libblkid's.
 */
#include "config.h"

#include <blkid/blkid.h>
#include <stdio.h>
#include <string.h>
#include <uuid/uuid.h>

#include "slot.h"

#define PROG "slotfs_id"

/* KEY=value with blanks made safe, and KEY_ENC=value with every unsafe
 * byte \xNN, as blkid -o udev prints them. */
static void id_print(const char *key, const char *value)
{
	char safe[4 * (SLOT_LABEL_MAX + 1)], enc[4 * (SLOT_LABEL_MAX + 1)];

	if (blkid_safe_string(value, safe, sizeof(safe)) ||
	    blkid_encode_string(value, enc, sizeof(enc)))
		return;
	printf("ID_FS_%s=%s\nID_FS_%s_ENC=%s\n", key, safe, key, enc);
}

int main(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "Usage: " PROG " DEVICE_OR_IMAGE\n");
		return 2;
	}
	struct slot_geometry g;
	int r = slot_probe_path(argv[1], &g);
	if (r < 0) {
		fprintf(stderr, PROG ": cannot open %s: %s\n", argv[1],
			slot_open_strerror(r));
		return 1;
	}
	if (r == 0)
		return 0;
	/* damaged (a zeroed geometry): a slotfs still, with no name */
	if (g.block_size) {
		char uuid[37];
		uuid_unparse_lower(g.uuid, uuid);
		id_print("UUID", uuid);
		/* empty, so that a label the device had before goes */
		id_print("LABEL", g.label);
	}
	printf("ID_FS_TYPE=slotfs\nID_FS_USAGE=filesystem\n");
	return 0;
}
