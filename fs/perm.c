/* SPDX-License-Identifier: MIT */
/*
 * perm.c - permission checks for a mount the kernel does not check.
 *
 * With -o default_permissions the kernel checks every access against the
 * modes we report; to do so it must hold fresh attributes of each
 * directory a path crosses, and a create or unlink makes the directory's
 * attributes stale, so each one cost a GETATTR round trip before the
 * next path walk.  Without it the kernel checks nothing (but execute
 * permission of regular files), and the daemon checks here instead, as
 * generic_permission() and the VFS would.
 *
 * That is sound only when a single identity reaches the mount: the kernel
 * caches a name once looked up and walks it again without asking, so
 * another user could pass through a directory he may not search.  Without
 * allow_other (or allow_root) the kernel lets only the mounting user's
 * processes in, and the daemon checks; with either (or writeback_cache,
 * see main.c) the kernel checks and everything here returns 0 at once.
 * For the same reason a READDIRPLUS of a directory the caller may read
 * but not search lists names without entries (ops.c).
 *
 * Root (fsuid 0) passes every check, as with CAP_DAC_OVERRIDE, but
 * execute needs some execute bit: the kernel checks that for exec, and
 * sfs_perm_access() for access(2).
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "fs.h"

#define SFS_NGROUPS     64

/* Whether the caller's fsgid or supplementary groups (read from /proc,
 * so callers ask only when it matters) include gid. */
bool sfs_in_group(fuse_req_t req, gid_t gid)
{
	gid_t groups[SFS_NGROUPS];
	int n;

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	n = fuse_req_getgroups(req, SFS_NGROUPS, groups);
	if (n > SFS_NGROUPS)
		n = SFS_NGROUPS;
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/* The daemon, not the kernel, decides (see the top of this file). */
bool sfs_perm_ours(fuse_req_t req)
{
	return sfs_of(req)->check_perms && fuse_req_ctx(req)->uid != 0;
}

/* mask: R_OK, W_OK and X_OK bits, as access(2). */
int sfs_perm_attr(fuse_req_t req, const struct slot_attr *a, int mask)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	unsigned bits;

	if (!sfs_perm_ours(req))
		return 0;
	if (ctx->uid == a->uid) {
		bits = a->mode >> 6;
	} else {
		unsigned g = (a->mode >> 3) & 7, o = a->mode & 7;

		if (((g ^ o) & (unsigned)mask) == 0)   /* either will do */
			bits = o;
		else
			bits = sfs_in_group(req, a->gid) ? g : o;
	}
	return (bits & (unsigned)mask) == (unsigned)mask ? 0 : -EACCES;
}

int sfs_perm_ino(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct slot_attr a;
	int err;

	if (!sfs_perm_ours(req) || sfs_ino_virtual(ino))
		return 0;       /* the status files are open to all */
	err = slot_ns_getattr(sfs_of(req)->store, ino, &a);
	return err < 0 ? err : sfs_perm_attr(req, &a, mask);
}

/* A user. attribute of ino: read or write permission on it, and on a
 * sticky directory a write is its owner's only, as the kernel's
 * xattr_permission has it (which passes that one to us here). */
int sfs_perm_xattr_user(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct slot_attr a;
	int err;

	if (!sfs_perm_ours(req) || sfs_ino_virtual(ino))
		return 0;
	err = slot_ns_getattr(sfs_of(req)->store, ino, &a);
	if (err < 0)
		return err;
	if (S_ISDIR(a.mode) && (a.mode & S_ISVTX) && (mask & W_OK) &&
	    fuse_req_ctx(req)->uid != a.uid)
		return -EPERM;
	return sfs_perm_attr(req, &a, mask);
}

/* fs.protected_hardlinks, as the kernel reads it at each link; unreadable
 * counts as set (the default on Debian). */
static bool sfs_protected_hardlinks(void)
{
	FILE *f = fopen("/proc/sys/fs/protected_hardlinks", "re");
	int on = 1;
	if (f) {
		if (fscanf(f, "%d", &on) != 1)
			on = 1;
		fclose(f);
	}
	return on != 0;
}

/*
 * A new name for ino: with fs.protected_hardlinks, someone who does not
 * own the file may link only a regular file without meaningful set-id
 * bits that he may read and write (the kernel's may_linkat, which asks
 * us for that permission and, when we check permissions, hears yes).
 */
int sfs_perm_link(fuse_req_t req, fuse_ino_t ino)
{
	struct slot_attr a;
	int err;

	if (!sfs_perm_ours(req) || !sfs_protected_hardlinks())
		return 0;
	err = slot_ns_getattr(sfs_of(req)->store, ino, &a);
	if (err < 0)
		return err;
	if (a.uid == fuse_req_ctx(req)->uid)
		return 0;
	if (!S_ISREG(a.mode) || (a.mode & S_ISUID) ||
	    (a.mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) ||
	    sfs_perm_attr(req, &a, R_OK | W_OK) < 0)
		return -EPERM;
	return 0;
}

/*
 * Removing or replacing name in dir: write and search permission on dir,
 * and in a sticky directory ownership of the entry or of dir.
 */
int sfs_perm_remove(fuse_req_t req, fuse_ino_t dir, const char *name)
{
	struct slot_store *s = sfs_of(req)->store;
	uint32_t uid = fuse_req_ctx(req)->uid;
	struct slot_attr d, a;
	int err;

	if (!sfs_perm_ours(req))
		return 0;
	err = slot_ns_getattr(s, dir, &d);
	if (!err)
		err = sfs_perm_attr(req, &d, W_OK | X_OK);
	if (err || !(d.mode & S_ISVTX) || d.uid == uid)
		return err;
	err = slot_ns_lookup(s, dir, name, &a);
	if (err == -ENOENT)
		return 0;       /* the operation itself reports it */
	if (err)
		return err;
	return a.uid == uid ? 0 : -EPERM;
}

/*
 * rename(2): both ends as a removal (the target only if it exists), and a
 * directory that changes parent needs write permission on itself, for
 * its ".." (with RENAME_EXCHANGE both move).
 */
static int sfs_perm_reparent(fuse_req_t req, fuse_ino_t dir,
			     const char *name)
{
	struct slot_attr a;
	int err = slot_ns_lookup(sfs_of(req)->store, dir, name, &a);

	if (err == -ENOENT)
		return 0;       /* the operation itself reports it */
	if (err)
		return err;
	return S_ISDIR(a.mode) ? sfs_perm_attr(req, &a, W_OK) : 0;
}

int sfs_perm_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		    fuse_ino_t newparent, const char *newname, bool exchange)
{
	int err;

	if (!sfs_perm_ours(req))
		return 0;
	err = sfs_perm_remove(req, parent, name);
	if (!err)
		err = sfs_perm_remove(req, newparent, newname);
	if (err || parent == newparent)
		return err;
	err = sfs_perm_reparent(req, parent, name);
	if (!err && exchange)
		err = sfs_perm_reparent(req, newparent, newname);
	return err;
}

/* The kernel's __FMODE_EXEC, which it leaves in the flags of the open
 * that execve(2) makes: that one needs execute permission, not read. */
#define SFS_O_EXEC      040

/* What open(2) with flags needs: reading, writing, or both. */
int sfs_perm_open(fuse_req_t req, fuse_ino_t ino, int flags)
{
	int mask;

	if (flags & SFS_O_EXEC)
		return sfs_perm_ino(req, ino, X_OK);
	switch (flags & O_ACCMODE) {
	case O_RDONLY:
		mask = R_OK;
		break;
	case O_WRONLY:
		mask = W_OK;
		break;
	default:
		mask = R_OK | W_OK;
		break;
	}
	if (flags & O_TRUNC)
		mask |= W_OK;
	return sfs_perm_ino(req, ino, mask);
}

/*
 * setattr: chmod and explicit times are the owner's (utimensat with one
 * time "now" and the other omitted is explicit); touch to "now" (both
 * times) and truncate (which moves mtime to now) need write permission,
 * unless the size comes through a handle opened for writing (ftruncate,
 * or open with O_TRUNC, which the kernel sends as open then setattr);
 * chown is root's, but the owner may give the file to one of his groups.
 * Without KILLPRIV_V2 the kernel kills set-id bits after a write by a
 * mode change, which any writer may then make if it only drops them;
 * with it, set-id bits are ours to drop (ops.c) and a mode change is
 * the owner's alone.  in->mode loses set-group-ID when the caller is not
 * in the file's group, as chmod(2) does.
 */
int sfs_perm_setattr(fuse_req_t req, const struct slot_attr *cur,
		     unsigned mask, struct slot_attr *in, bool fh_writes)
{
	uint32_t uid = fuse_req_ctx(req)->uid;
	bool owner = cur->uid == uid;
	const unsigned both_now = SLOT_SET_ATIME_NOW | SLOT_SET_MTIME_NOW;
	unsigned now = mask & both_now;
	bool trunc_now = now == SLOT_SET_MTIME_NOW && (mask & SLOT_SET_SIZE);

	if (!sfs_perm_ours(req))
		return 0;
	if (mask & SLOT_SET_UID && (!owner || in->uid != cur->uid))
		return -EPERM;
	if (mask & SLOT_SET_GID && (!owner || (in->gid != cur->gid &&
					       !sfs_in_group(req, in->gid))))
		return -EPERM;
	if (mask & SLOT_SET_MODE) {
		uint32_t setid = S_ISUID | S_ISGID;

		if (!owner && (sfs_of(req)->killpriv_v2 ||
			       ((in->mode ^ cur->mode) & 07777 & ~setid) ||
			       (in->mode & ~cur->mode & setid)))
			return -EPERM;
		if (owner && (in->mode & S_ISGID) &&
		    !sfs_in_group(req, mask & SLOT_SET_GID ? in->gid :
				    cur->gid))
			in->mode &= ~(uint32_t)S_ISGID;
	}
	if (!owner && ((mask & (SLOT_SET_ATIME | SLOT_SET_MTIME)) ||
		       (now && now != both_now && !trunc_now)))
		return -EPERM;
	if ((now && !owner && !(trunc_now && fh_writes)) ||
	    ((mask & SLOT_SET_SIZE) && !fh_writes))
		return sfs_perm_attr(req, cur, W_OK);
	return 0;
}

/*
 * access(2), chdir(2): what sfs_perm_attr says, except that root may
 * execute only what has an execute bit (the kernel asks us for access()
 * and leaves that rule to us).
 */
int sfs_perm_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct slot_attr a;
	int err;

	if (sfs_ino_virtual(ino))
		return mask & W_OK ? -EACCES : 0;
	err = slot_ns_getattr(sfs_of(req)->store, ino, &a);
	if (err < 0)
		return err;
	if ((mask & X_OK) && !S_ISDIR(a.mode) && !(a.mode & 0111))
		return -EACCES;
	return sfs_perm_attr(req, &a, mask);
}
