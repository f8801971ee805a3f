/* SPDX-License-Identifier: MIT */
/*
 * ioctl.h - the ioctls a slotfs mount answers beyond the kernel's own
 * (FITRIM, FS_IOC_GETFLAGS): the contract between the daemon (fs/ops.c)
 * and the tools that talk to a mounted store (resize.slotfs).
 */
#ifndef SLOTFS_IOCTL_H
#define SLOTFS_IOCTL_H

#include <linux/ioctl.h>
#include <stdint.h>

#include "slot.h"

/*
 * Grow a mounted file system into its device, as ext4's
 * EXT4_IOC_RESIZE_FS does (root only; on any file or directory of the
 * mount).  The reply fills the struct even when the ioctl fails, so that
 * a refusal can say why (limit, for ENOSPC); errors are slot_grow's.
 */
struct slotfs_grow {
	uint64_t size;          /* in: bytes to grow to, 0: all of the device */
	uint64_t limit;         /* out: the most the metadata area indexes */
	uint64_t old_size, new_size;            /* out: bytes */
	uint32_t old_regions, new_regions;      /* out */
};

#define SLOTFS_IOC_GROW _IOWR('S', 1, struct slotfs_grow)

/*
 * A new UUID for a mounted file system (tune.slotfs -U; root only), as
 * ext4's EXT4_IOC_SETFSUUID, whose flexible array a FUSE ioctl cannot
 * carry.  Errors are slot_store_set_uuid's.
 */
struct slotfs_uuid {
	uint8_t uuid[16];
};

#define SLOTFS_IOC_SET_UUID _IOW('S', 2, struct slotfs_uuid)

/* The out fields, from the geometry before and after a resize (the daemon
 * answering the ioctl, resize.slotfs resizing offline). */
static inline void slotfs_grow_result(struct slotfs_grow *g,
				      const struct slot_geometry *before,
				      const struct slot_geometry *after)
{
	g->old_size = before->device_size;
	g->new_size = after->device_size;
	g->old_regions = before->region_count;
	g->new_regions = after->region_count;
}

#endif
