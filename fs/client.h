/* SPDX-License-Identifier: MIT */
/*
 * client.h - what the programs share on the user's side: the device a
 * LABEL= or UUID= names, and how the tools (resize.slotfs, tune.slotfs)
 * reach a mounted store: find the slotfs mount of a device or image, and
 * send it one of the ioctls it answers (ioctl.h, and the kernel's
 * FS_IOC_SETFSLABEL).
 */
#ifndef SLOTFS_CLIENT_H
#define SLOTFS_CLIENT_H

#include <stddef.h>

/* The device or image spec names (slot_find_device) into path (cap
 * bytes): 0, or a negative errno, said on stderr after "prog: spec: ". */
int sfs_client_device(const char *prog, const char *spec, char *path,
		      size_t cap);
/* Where the slotfs of path (an image or a device), which something holds,
 * is mounted: 0 and the mount point in mnt (len bytes), or a negative
 * errno, said on stderr after "prog: " (-ENOENT: no slotfs mount has it). */
int sfs_client_mount(const char *prog, const char *path, char *mnt,
		     size_t len);
/* What slot_dev_foreign found, in words ("a swap file system labelled
 * 'x'"), into buf. */
struct slot_foreign;
void sfs_client_foreign_words(const struct slot_foreign *f, char *buf,
			       size_t cap);
/* After -EMEDIUMTYPE: says on stderr what else path holds, as e2fsck
 * does ("contains a swap file system"). */
void sfs_client_foreign(const char *prog, const char *path);
/* An errors= behaviour by name, as ext4's ("continue", "remount-ro"):
 * 0 and *out (an enum slot_errors), or -EINVAL said on stderr. */
int sfs_client_errors(const char *prog, const char *name, int *out);
/* A UUID as -U takes it, as e2fsprogs do: "random", "time" or the
 * 36-character form, into uuid: 0, or -EINVAL said on stderr after
 * "prog: " (the nil UUID names no file system: refused). */
int sfs_client_uuid(const char *prog, const char *arg, unsigned char uuid[16]);
/* ioctl(request, arg) on the mount point mnt: 0 or a negative errno. */
int sfs_client_ioctl(const char *mnt, unsigned long request, void *arg);

#endif
