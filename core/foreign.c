// SPDX-License-Identifier: MIT
/*
 * foreign.c - another file system where slotfs's primary superblock was.
 *
 * A device made slotfs, then made swap or another file system, may keep
 * slotfs's backup superblock (at 64 KiB) when the new one does not write
 * there.  Read as slotfs, it would look like a slotfs whose primary was
 * damaged: the store would open from the backup and rewrite the primary,
 * and fsck would "restore" it, over the other file system.  So where the
 * primary does not decode, libblkid (the probe blkid, mount and mkfs
 * use) is asked whether another file system or a partition table is
 * there, as e2fsck asks before it falls back to a backup.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#if HAVE_BLKID
#include <blkid/blkid.h>
#endif

#include "internal.h"

#if HAVE_BLKID
static void fg_copy(blkid_probe pr, const char *name, char *dst, size_t cap)
{
	const char *v;
	if (blkid_probe_lookup_value(pr, name, &v, NULL) == 0)
		snprintf(dst, cap, "%s", v);
}
#endif

int slot_dev_foreign(const char *path, struct slot_foreign *f)
{
	memset(f, 0, sizeof(*f));
#if HAVE_BLKID
	blkid_probe pr = blkid_new_probe_from_filename(path);
	if (!pr)
		return errno ? -errno : -EIO;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE |
					  BLKID_SUBLKS_LABEL);
	blkid_probe_enable_partitions(pr, 1);
	int r = blkid_do_safeprobe(pr), found = 0;
	if (r == -2) {
		f->conflict = true;
		found = 1;
	} else if (r == 0) {
		fg_copy(pr, "TYPE", f->type, sizeof(f->type));
		fg_copy(pr, "LABEL", f->label, sizeof(f->label));
		fg_copy(pr, "PTTYPE", f->pttype, sizeof(f->pttype));
		found = f->type[0] || f->pttype[0];
	} else if (r < 0) {
		found = -EIO;
	}
	blkid_free_probe(pr);
	return found;
#else
	(void)path;
	return 0;
#endif
}

int sl_sb_foreign(struct slot_dev *dev, int primary_err)
{
	struct slot_foreign f;
	/* asked whatever failed in the primary's decoding: gdisk and sgdisk
	 * keep sector 0's first 440 bytes (boot code), slotfs's magic with
	 * them, and write a partition table behind it.  A device without a
	 * path (the emulated one) has nothing to probe, and a probe that
	 * cannot run proves nothing. */
	bool undecoded = primary_err == -EINVAL || primary_err == -EBADMSG ||
			 primary_err == -EUCLEAN;
	return undecoded && dev->name &&
	       slot_dev_foreign(dev->name, &f) == 1 ? -EMEDIUMTYPE : 0;
}
