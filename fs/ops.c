/* SPDX-License-Identifier: MIT */
/*
 * ops.c - FUSE low-level operations over the libslot file face.
 *
 * Every handler maps the request onto one or two slot_ns_* / slot_file_*
 * calls and turns a core error into a reply errno in sfs_errno() only.
 * The store is thread-safe; the only lock here queues small reads so
 * that they reach it in batches (sfs_op_read).
 *
 * The kernel counts the references it keeps to each node (every entry
 * reply names one) and forgets them later; the store holds the node as
 * many times (sfs_ref), so that a node the kernel still knows answers
 * after its last name went: fstat of an O_PATH descriptor, ls in a
 * removed working directory, the times the writeback cache writes back
 * after an unlink.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <linux/fs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs.h"
#include "ioctl.h"

#define SFS_MAX_WRITE   (1u << 20)
#define SFS_READAHEAD   (4u << 20)  /* with -o read_ahead_kb, see main.c */

int sfs_errno(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return 0;
	case EUCLEAN:           /* corrupt structure: the caller sees EIO */
	case EBADMSG:           /* checksum mismatch */
		return EIO;
	default:
		/* Anything that is not an errno must not reach the kernel. */
		return err < 4096 ? err : EIO;
	}
}

void sfs_attr_to_stat(const struct slot_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = a->size;
	st->st_blocks = a->blocks;
	st->st_blksize = 4096;
	st->st_atim = a->atime;
	st->st_mtim = a->mtime;
	st->st_ctim = a->ctime;
}

static void sfs_fill_entry(struct sfs *fs, const struct slot_attr *a,
			   struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = a->ino;
	e->generation = 1;
	sfs_attr_to_stat(a, &e->attr);
	e->attr_timeout = fs->attr_timeout;
	e->entry_timeout = fs->entry_timeout;
}

/*
 * A reference of the kernel's to node ino, taken before the reply that
 * gives it, so that no forget can come first; sfs_unref gives n back (a
 * forget, or a reply the kernel did not take).
 */
static int sfs_ref(struct sfs *fs, fuse_ino_t ino)
{
	return sfs_ino_virtual(ino) ? 0 : slot_ns_hold(fs->store, ino);
}

static void sfs_unref(struct sfs *fs, fuse_ino_t ino, uint64_t n)
{
	if (!sfs_ino_virtual(ino))
		slot_ns_forget(fs->store, ino, n);
}

static void sfs_reply_entry(fuse_req_t req, int err, const struct slot_attr *a)
{
	struct sfs *fs = sfs_of(req);
	struct fuse_entry_param e;

	if (!err)
		err = sfs_ref(fs, a->ino);  /* -ENOENT: its name went meanwhile */
	if (err < 0) {
		fuse_reply_err(req, sfs_errno(err));
		return;
	}
	sfs_fill_entry(fs, a, &e);
	if (fuse_reply_entry(req, &e) == -ENOENT)
		sfs_unref(fs, a->ino, 1);
}

/*
 * Owner and mode of a new entry: the caller's ids, except that under a
 * set-gid directory the entry takes the directory's group and a new
 * directory inherits the set-gid bit (as ext4 does).  A caller outside
 * the group cannot make a set-gid executable there.
 */
static int sfs_new_owner(fuse_req_t req, fuse_ino_t parent, uint32_t *mode,
			 uint32_t *uid, uint32_t *gid)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct slot_attr pa;
	int err;

	*uid = ctx->uid;
	*gid = ctx->gid;
	err = slot_ns_getattr(sfs_of(req)->store, parent, &pa);
	if (err < 0)
		return err;
	if (!S_ISDIR(pa.mode))
		return -ENOTDIR;
	err = sfs_perm_attr(req, &pa, W_OK | X_OK);
	if (err < 0)
		return err;
	if (pa.mode & S_ISGID) {
		*gid = pa.gid;
		if (S_ISDIR(*mode))
			*mode |= S_ISGID;
	}
	if (!S_ISDIR(*mode) && (*mode & (S_ISGID | S_IXGRP)) ==
	    (S_ISGID | S_IXGRP) && ctx->uid != 0 && !sfs_in_group(req, *gid))
		*mode &= ~S_ISGID;
	return 0;
}

/* Creating under the virtual directory or naming /.slotfs is refused. */
static int sfs_check_new_name(fuse_ino_t parent, const char *name)
{
	if (sfs_ino_virtual(parent))
		return -EPERM;
	if (sfs_is_status_name(parent, name))
		return -EEXIST;
	return 0;
}

/* Removing or renaming the virtual directory or anything in it. */
static int sfs_check_old_name(fuse_ino_t parent, const char *name)
{
	if (sfs_ino_virtual(parent) || sfs_is_status_name(parent, name))
		return -EPERM;
	return 0;
}

/*
 * Make parent/name as the caller asked: owner and set-gid as
 * sfs_new_owner says, then, on an ACL mount, the parent's default ACL or
 * else the caller's umask (the kernel leaves both to us there).
 */
static int sfs_make(fuse_req_t req, fuse_ino_t parent, const char *name,
		    uint32_t mode, uint64_t rdev, const char *target,
		    struct slot_attr *a)
{
	struct sfs *fs = sfs_of(req);
	struct slot_ns_new nw = { .mode = mode, .rdev = rdev,
				  .target = target };
	int err = sfs_check_new_name(parent, name);

	if (!err)
		err = sfs_new_owner(req, parent, &nw.mode, &nw.uid, &nw.gid);
	if (err)
		return err;
	if (fs->acl) {
		nw.flags = SLOT_NS_ACL;
		nw.umask = fuse_req_ctx(req)->umask;
	}
	return slot_ns_make(fs->store, parent, name, &nw, a);
}

/* The set-id bits a write, a truncation or a change of owner drops, as
 * the kernel's should_remove_suid: set-user-ID; set-group-ID when
 * group-execute makes it meaningful, or when the caller is outside the
 * file's group (root keeps it, as CAP_FSETID does). */
static uint32_t sfs_setid_dropped(fuse_req_t req, const struct slot_attr *a)
{
	uint32_t drop = a->mode & S_ISUID;
	if ((a->mode & S_ISGID) &&
	    ((a->mode & S_IXGRP) || (fuse_req_ctx(req)->uid != 0 &&
				     !sfs_in_group(req, a->gid))))
		drop |= S_ISGID;
	return drop;
}

/*
 * A write (or fallocate) by anyone but root drops set-user-ID, and
 * set-group-ID when group-execute makes it meaningful, as write(2) does.
 * The kernel does this too when it owns killpriv; doing it here covers
 * writes that reach us with the writer's credentials whatever the kernel
 * negotiated.
 */
static int sfs_write_killpriv(struct sfs *fs, fuse_req_t req, fuse_ino_t ino)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct slot_attr a, in, out;
	uint32_t kill;
	int err;

	if (ctx->uid == 0)
		return 0;
	err = slot_ns_getattr(fs->store, ino, &a);
	if (err < 0)
		return err;
	kill = sfs_setid_dropped(req, &a);
	if (!kill)
		return 0;
	memset(&in, 0, sizeof(in));
	in.mode = a.mode & ~kill;
	err = slot_ns_setattr(fs->store, ino, &in, SLOT_SET_MODE, &out);
	/* with KILLPRIV_V2 the kernel left it to us and still holds the
	 * old mode: it must ask again (attributes only) */
	if (!err && fs->killpriv_v2 && fs->se)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
	return err;
}

/* Whether a handle opened with flags can write: only such a handle has
 * written anything to start writing out at its close. */
static bool sfs_flags_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY;
}

#define SFS_READ_SMALL  (64u << 10)     /* larger reads keep a thread each */
/* Threads serving small reads at once (sfs_op_read): while one replies
 * to a finished batch, the other's batch is at the device. */
#define SFS_READ_LEADS  2u

/* fallocate's modes that zero a range (slot_file_zero). */
static bool sfs_falloc_zero(uint32_t mode)
{
	return (mode & ~(uint32_t)FALLOC_FL_KEEP_SIZE) == FALLOC_FL_ZERO_RANGE ||
	       mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
}

/*
 * How long the handler of the request in buf may wait on the device.
 * The namespace is all in memory, so SFS_WAIT_NONE requests take
 * microseconds, and the polling loop (loop.c) serves them on its reading
 * thread; so is a small read while SFS_READ_LEADS threads serve reads,
 * since it only joins their queue (sfs_op_read; a hint, read without the
 * lock: if a serving thread has just stopped, this one serves, as a read),
 * and so are a write the store only copies into a write buffer and a
 * close that only queues its write-out (the store says which: creating
 * small files, handing each WRITE and RELEASE to another thread cost two
 * thread wake-ups a file), a SETATTR (cp -a, tar and rsync set the mode
 * and times of each file they make) and an O_TRUNC open unless the
 * truncation must write (the store says), and extended attribute
 * changes once the superblock says the store has some, and a hole
 * punched or zeroed inside a chunk's data, which the store writes as
 * zeros (the store says).  A read
 * waits for at most the device reads of its own bytes (SFS_WAIT_READ).
 * Anything else may wait longer (other writes, fsync, fallocate).
 */
enum sfs_wait sfs_op_wait(struct sfs *fs, const void *buf, size_t len)
{
	const struct fuse_in_header *in = buf;
	const void *arg = in + 1;
	if (len < sizeof(*in))
		return SFS_WAIT_LONG;
	len -= sizeof(*in);
	switch (in->opcode) {
	case FUSE_LOOKUP:
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_GETATTR:
	case FUSE_READLINK:
	case FUSE_MKNOD:
	case FUSE_MKDIR:
	case FUSE_SYMLINK:
	case FUSE_LINK:
	case FUSE_UNLINK:
	case FUSE_RMDIR:
	case FUSE_RENAME:
	case FUSE_RENAME2:
	case FUSE_CREATE:
	case FUSE_OPENDIR:
	case FUSE_READDIR:
	case FUSE_READDIRPLUS:
	case FUSE_RELEASEDIR:
	case FUSE_STATFS:
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR:
	case FUSE_ACCESS:
	case FUSE_LSEEK:
	case FUSE_INTERRUPT:
		return SFS_WAIT_NONE;
	case FUSE_READ:
		return len >= sizeof(struct fuse_read_in) &&
		       ((const struct fuse_read_in *)arg)->size <=
		       SFS_READ_SMALL &&
		       __atomic_load_n(&fs->rq_leads, __ATOMIC_RELAXED) >=
		       SFS_READ_LEADS ?
		       SFS_WAIT_NONE : SFS_WAIT_READ;
	case FUSE_SETXATTR:     /* the first may write the superblock */
		return __atomic_load_n(&fs->xattr_feature, __ATOMIC_RELAXED) ?
		       SFS_WAIT_NONE : SFS_WAIT_LONG;
	case FUSE_REMOVEXATTR:
		return SFS_WAIT_NONE;
	case FUSE_SETATTR: {    /* a truncation may wait; the rest is memory */
		const struct fuse_setattr_in *a = arg;
		if (len < sizeof(*a))
			return SFS_WAIT_LONG;
		if (!(a->valid & FATTR_SIZE) || sfs_ino_virtual(in->nodeid))
			return SFS_WAIT_NONE;
		return slot_file_truncate_waits(fs->store, in->nodeid,
						a->size) ?
		       SFS_WAIT_LONG : SFS_WAIT_NONE;
	}
	case FUSE_OPEN: {       /* sfs_op_open: truncates on O_TRUNC */
		const struct fuse_open_in *o = arg;
		if (len < sizeof(*o))
			return SFS_WAIT_LONG;
		if (!(o->flags & O_TRUNC) || !sfs_flags_write((int)o->flags) ||
		    sfs_ino_virtual(in->nodeid))
			return SFS_WAIT_NONE;
		return slot_file_truncate_waits(fs->store, in->nodeid, 0) ?
		       SFS_WAIT_LONG : SFS_WAIT_NONE;
	}
	case FUSE_WRITE: {      /* into a write buffer, or not */
		const struct fuse_write_in *w = arg;
		if (len < sizeof(*w))
			return SFS_WAIT_LONG;
		if (sfs_ino_virtual(in->nodeid))
			return SFS_WAIT_NONE;   /* refused */
		return slot_file_write_waits(fs->store, in->nodeid, w->offset,
					     w->size) ?
		       SFS_WAIT_LONG : SFS_WAIT_NONE;
	}
	case FUSE_FALLOCATE: {  /* a hole inside a chunk is a write */
		const struct fuse_fallocate_in *f = arg;
		if (len < sizeof(*f))
			return SFS_WAIT_LONG;
		return !sfs_falloc_zero(f->mode) ||
		       sfs_ino_virtual(in->nodeid) ||
		       slot_file_zero_waits(fs->store, in->nodeid, f->offset,
					    f->length) ?
		       SFS_WAIT_LONG : SFS_WAIT_NONE;
	}
	case FUSE_RELEASE: {    /* read-only unholds; a writer's queues */
		const struct fuse_release_in *r = arg;
		if (len < sizeof(*r))
			return SFS_WAIT_LONG;
		if (sfs_ino_virtual(in->nodeid))
			return SFS_WAIT_NONE;   /* frees a rendering */
		return sfs_flags_write((int)r->flags) &&
		       slot_ns_release_waits(fs->store, in->nodeid) ?
		       SFS_WAIT_LONG : SFS_WAIT_NONE;
	}
	default:
		return SFS_WAIT_LONG;
	}
}

/* ------------------------------------------------------------------ */

static void sfs_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct sfs *fs = userdata;

	conn->max_write = SFS_MAX_WRITE;
	conn->max_readahead = SFS_READAHEAD;
	conn->time_gran = 1;
	/*
	 * The kernel keeps at most max_background asynchronous requests
	 * (direct I/O from io_uring or aio, read-ahead) in flight, 12 unless
	 * told: a 4 KiB random read at depth 32 then reaches the daemon 12 at
	 * a time and the device sees 5 in flight.  64 covers a queue of 32;
	 * the kernel caps it for mounts by users without CAP_SYS_ADMIN.
	 */
	if (fs->max_background) {
		conn->max_background = fs->max_background;
		conn->congestion_threshold = fs->max_background * 3 / 4;
	}
	/*
	 * Write-back caching is opt-in: with it the kernel owns i_size and
	 * acknowledges write(2) before the store has allocated a slot, so a
	 * full device (ENOSPC) or an I/O error shows only at fsync/close and
	 * leaves the kernel's size past what the store holds.  Write-through
	 * reports them to the write that hit them.
	 */
	if (fs->writeback_cache && !fs->read_only &&
	    (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* Let the kernel clear set-id bits itself, in the writer's context. */
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	/* O_TRUNC then arrives as a setattr, where the kernel also kills
	   privileges; one code path for truncation. */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
			FUSE_CAP_SPLICE_MOVE);
	/*
	 * Every readdir a readdirplus: the names and attributes are all in
	 * memory, and ls -l, du, rm -r and cp -a of a tree stat what they
	 * list.  The kernel's adaptive choice uses it for a directory's
	 * first page and then only once lookups follow, so a large
	 * directory still cost a LOOKUP per name: rm -rf of /usr/share/man
	 * (24,515 entries) on a fresh mount ran 0.72-0.80 s against
	 * 1.08-1.16 (find, which stats nothing, 0.08 s against 0.06).
	 */
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* fstrim asks the mount point, a directory */
	if (conn->capable & FUSE_CAP_IOCTL_DIR)
		conn->want |= FUSE_CAP_IOCTL_DIR;
	/*
	 * ACLs: the kernel enforces them (it turns default_permissions on)
	 * and asks us for them as xattrs; we keep the mode in step and do
	 * the inheritance, which needs the umask left to us (DONT_MASK):
	 * a default ACL takes its place.
	 */
	if (fs->acl) {
		const uint64_t need = FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
		if ((conn->capable & need) == need) {
			conn->want |= need;
		} else {
			fuse_log(FUSE_LOG_ERR, "slotfs: the kernel offers no "
				 "POSIX ACLs; serving none\n");
			fs->acl = false;
			/* someone must check the modes */
			fs->check_perms = !fs->kernel_perms;
		}
	}
	/*
	 * Where the kernel checks permissions and a directory's atime never
	 * moves, opening one is nothing to slotfs: an ENOSYS to the first
	 * OPENDIR and the kernel sends no more of them, nor RELEASEDIR (and
	 * keeps listings as cache_readdir does).  Two requests fewer a
	 * directory walked: du -s of a tree walked again 0.07-0.09 s against
	 * 0.14-0.15, dbench 239-262 MB/s against 229-235.
	 */
	fs->no_opendir = !fs->check_perms &&
			 (fs->atime == SFS_ATIME_OFF || fs->nodiratime ||
			  fs->read_only) &&
			 (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT);
}

static void sfs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct sfs *fs = sfs_of(req);
	struct fuse_entry_param e;
	struct slot_attr a;
	int err;

	if (sfs_ino_virtual(parent) || sfs_is_status_name(parent, name)) {
		err = sfs_status_lookup(fs, parent, name, &e);
		if (err < 0)
			fuse_reply_err(req, sfs_errno(err));
		else
			fuse_reply_entry(req, &e);
		return;
	}
	err = sfs_perm_ino(req, parent, X_OK);
	if (!err)
		err = slot_ns_lookup(fs->store, parent, name, &a);
	if (err == -ENOENT) {
		/* A negative entry: the kernel drops it on create. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->negative_timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	sfs_reply_entry(req, err, &a);
}

static void sfs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	sfs_unref(sfs_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void sfs_op_forget_multi(fuse_req_t req, size_t count,
				struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		sfs_unref(sfs_of(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void sfs_op_getattr(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	struct sfs *fs = sfs_of(req);
	struct slot_attr a;
	struct stat st;
	int err;

	if (sfs_ino_virtual(ino)) {
		err = sfs_status_stat(fs, ino, &st);
		if (err < 0)
			fuse_reply_err(req, sfs_errno(err));
		else
			fuse_reply_attr(req, &st, 0);
		return;
	}
	err = slot_ns_getattr(fs->store, ino, &a);
	if (err < 0) {
		fuse_reply_err(req, sfs_errno(err));
		return;
	}
	sfs_attr_to_stat(&a, &st);
	fuse_reply_attr(req, &st, fs->attr_timeout);
}

static void sfs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			   int to_set, struct fuse_file_info *fi)
{
	struct sfs *fs = sfs_of(req);
	struct slot_attr in, out;
	unsigned mask = 0;
	struct stat st;
	int err;

	if (sfs_ino_virtual(ino)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	memset(&in, 0, sizeof(in));
	if (to_set & FUSE_SET_ATTR_MODE) {
		mask |= SLOT_SET_MODE;
		in.mode = attr->st_mode;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		mask |= SLOT_SET_UID;
		in.uid = attr->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		mask |= SLOT_SET_GID;
		in.gid = attr->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (attr->st_size < 0) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		mask |= SLOT_SET_SIZE;
		in.size = attr->st_size;
	}
	if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
		mask |= SLOT_SET_ATIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_ATIME) {
		mask |= SLOT_SET_ATIME;
		in.atime = attr->st_atim;
	}
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
		mask |= SLOT_SET_MTIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_MTIME) {
		mask |= SLOT_SET_MTIME;
		in.mtime = attr->st_mtim;
	}
	if (to_set & FUSE_SET_ATTR_CTIME) {
		mask |= SLOT_SET_CTIME;
		in.ctime = attr->st_ctim;
	}
	/*
	 * A change of owner drops set-id bits on all but directories (FIFOs
	 * and device nodes too), as chown(2) does on Linux; the kernel
	 * usually sends the new mode along, but not when it thinks the
	 * file system handles it.  Nothing at all is chown(f, -1, -1), a
	 * change of owner to the same: it moves the change time (the
	 * kernel sends no FATTR_CTIME without writeback_cache) and drops
	 * the bits as any chown.
	 */
	bool kill = !(mask & SLOT_SET_MODE) &&
		    (!to_set || (mask & (SLOT_SET_UID | SLOT_SET_GID)) ||
		     (to_set & (FUSE_SET_ATTR_KILL_SUID |
				FUSE_SET_ATTR_KILL_SGID)));
	if (!to_set) {
		mask |= SLOT_SET_CTIME;
		clock_gettime(CLOCK_REALTIME, &in.ctime);
	}
	bool search_lost = false;       /* of a directory, for our checks */
	if (kill || (mask && sfs_perm_ours(req))) {
		struct slot_attr cur;

		err = slot_ns_getattr(fs->store, ino, &cur);
		if (!err)
			err = sfs_perm_setattr(req, &cur, mask, &in, fi &&
					       (fi->fh & SFS_FH_WRITES));
		if (err < 0) {
			fuse_reply_err(req, sfs_errno(err));
			return;
		}
		uint32_t drop = kill && !S_ISDIR(cur.mode) ?
				sfs_setid_dropped(req, &cur) : 0;
		if (drop) {
			mask |= SLOT_SET_MODE;
			in.mode = cur.mode & ~drop;
		}
		/* an execute bit taken away (one given refuses nothing a
		 * cached name allowed), or another owner or group */
		search_lost = fs->inval && S_ISDIR(cur.mode) &&
			(((mask & SLOT_SET_MODE) &&
			  (cur.mode & ~in.mode & 0111)) ||
			 ((mask & SLOT_SET_UID) && in.uid != cur.uid) ||
			 ((mask & SLOT_SET_GID) && in.gid != cur.gid));
	}

	if (mask)
		err = slot_ns_setattr(fs->store, ino, &in, mask, &out);
	else
		err = slot_ns_getattr(fs->store, ino, &out);
	if (err < 0) {
		fuse_reply_err(req, sfs_errno(err));
		return;
	}
	sfs_attr_to_stat(&out, &st);
	fuse_reply_attr(req, &st, fs->attr_timeout);
	/* out of memory: the names cached in it pass till entry_timeout */
	if (search_lost)
		sfs_inval_dir(fs, ino);
}

/* A read of ino through a handle of fh: its atime moves as the mount
 * says (the kernel marks a FUSE inode S_NOATIME and leaves atime to the
 * daemon; it drops its cached atime after each read it sends).  Whether
 * it moved; a change lost here costs nothing but the time, so an error
 * is none. */
static bool sfs_accessed(struct sfs *fs, fuse_ino_t ino, uint64_t fh,
			 bool dir)
{
	if (fs->atime == SFS_ATIME_OFF || (dir && fs->nodiratime) ||
	    (fh & SFS_FH_NOATIME) || fs->read_only)
		return false;
	return slot_ns_accessed(fs->store, ino,
				fs->atime == SFS_ATIME_STRICT ?
				SLOT_ATIME_STRICT : SLOT_ATIME_RELATIVE) > 0;
}

static void sfs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[SLOT_PATH_MAX + 1];
	int n;

	if (sfs_ino_virtual(ino)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	n = slot_ns_readlink(sfs_of(req)->store, ino, buf, sizeof(buf));
	if (n < 0) {
		fuse_reply_err(req, sfs_errno(n));
		return;
	}
	buf[(size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1] = '\0';
	sfs_accessed(sfs_of(req), ino, 0, false);
	fuse_reply_readlink(req, buf);
}

static void sfs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode, dev_t rdev)
{
	struct slot_attr a;
	/* mknod(2) with type 0 is a file */
	int err = sfs_make(req, parent, name, (mode & S_IFMT) ? mode :
			   S_IFREG | mode, rdev, NULL, &a);

	sfs_reply_entry(req, err, &a);
}

static void sfs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode)
{
	struct slot_attr a;
	int err = sfs_make(req, parent, name, S_IFDIR | (mode & 07777), 0,
			   NULL, &a);

	sfs_reply_entry(req, err, &a);
}

static void sfs_op_symlink(fuse_req_t req, const char *link,
			   fuse_ino_t parent, const char *name)
{
	struct slot_attr a;
	int err = sfs_make(req, parent, name, S_IFLNK | 0777, 0, link, &a);

	sfs_reply_entry(req, err, &a);
}

static void sfs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
			const char *newname)
{
	struct sfs *fs = sfs_of(req);
	struct slot_attr a;
	int err;

	if (sfs_ino_virtual(ino))
		err = -EPERM;
	else
		err = sfs_check_new_name(newparent, newname);
	if (!err)
		err = sfs_perm_ino(req, newparent, W_OK | X_OK);
	if (!err)
		err = sfs_perm_link(req, ino);
	if (!err)
		err = slot_ns_link(fs->store, ino, newparent, newname, &a);
	sfs_reply_entry(req, err, &a);
}

static void sfs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int err = sfs_check_old_name(parent, name);

	if (!err)
		err = sfs_perm_remove(req, parent, name);
	if (!err)
		err = slot_ns_unlink(sfs_of(req)->store, parent, name);
	fuse_reply_err(req, sfs_errno(err));
}

static void sfs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int err = sfs_check_old_name(parent, name);

	if (!err)
		err = sfs_perm_remove(req, parent, name);
	if (!err)
		err = slot_ns_rmdir(sfs_of(req)->store, parent, name);
	fuse_reply_err(req, sfs_errno(err));
}

static void sfs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			  fuse_ino_t newparent, const char *newname,
			  unsigned int flags)
{
	unsigned sflags = 0;
	int err;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);    /* RENAME_WHITEOUT */
		return;
	}
	if (flags & RENAME_NOREPLACE)
		sflags |= SLOT_RENAME_NOREPLACE;
	if (flags & RENAME_EXCHANGE)
		sflags |= SLOT_RENAME_EXCHANGE;
	err = sfs_check_old_name(parent, name);
	if (!err)
		err = sfs_check_old_name(newparent, newname);
	if (!err)
		err = sfs_perm_rename(req, parent, name, newparent, newname,
				      flags & RENAME_EXCHANGE);
	if (!err)
		err = slot_ns_rename(sfs_of(req)->store, parent, name,
				     newparent, newname, sflags);
	fuse_reply_err(req, sfs_errno(err));
}

/* A file handle remembers whether it was opened for writing (perm.c),
 * and with O_NOATIME. */
static uint64_t sfs_fh_of(int flags)
{
	return (sfs_flags_write(flags) ? SFS_FH_WRITES : 0) |
	       ((flags & O_NOATIME) ? SFS_FH_NOATIME : 0);
}

static void sfs_op_open(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct sfs *fs = sfs_of(req);
	int err;

	if (sfs_ino_virtual(ino)) {
		sfs_status_open(req, ino, fi);
		return;
	}
	err = sfs_perm_open(req, ino, fi->flags);
	if (!err)
		err = slot_ns_open(fs->store, ino);
	if (err < 0) {
		fuse_reply_err(req, sfs_errno(err));
		return;
	}
	/* Without atomic_o_trunc the kernel truncates by setattr; a stray
	   O_TRUNC is still honoured. */
	if ((fi->flags & O_TRUNC) && sfs_flags_write(fi->flags)) {
		struct slot_attr in = { .size = 0 }, out;

		err = slot_ns_setattr(fs->store, ino, &in, SLOT_SET_SIZE,
				      &out);
		if (err < 0) {
			slot_ns_release(fs->store, ino);
			fuse_reply_err(req, sfs_errno(err));
			return;
		}
	}
	fi->fh = sfs_fh_of(fi->flags);
	/* Only this mount changes the store, so the page cache stays
	   valid across opens. */
	fi->keep_cache = 1;
	/* Reads the kernel serves from its cache never reach the daemon:
	   an open to read counts as the read (a file just written is read
	   back from the cache).  When that moves atime, the kernel's
	   cached one must go: the open drops the file's pages, and the
	   kernel drops its atime after the read that then comes.  (Telling
	   it to drop its attributes instead cost a GETATTR before every
	   first read, with auto_inval_data: cold reads of small files
	   3,800 a second against 4,700.)  An empty file sees no read. */
	if (!sfs_flags_write(fi->flags) &&
	    sfs_accessed(fs, ino, fi->fh, false)) {
		struct slot_attr a;

		fi->keep_cache = 0;
		if (fs->se && !slot_ns_getattr(fs->store, ino, &a) && !a.size)
			fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
	}
	if (fuse_reply_open(req, fi) == -ENOENT)
		slot_ns_release(fs->store, ino);   /* no release will come */
}

/* Answers the read; a reply the kernel no longer wants (the reader was
 * interrupted) is its business, so this never fails. */
static int sfs_read_reply(void *req, const struct iovec *iov, int iovcnt)
{
	if (iovcnt)
		fuse_reply_iov(req, iov, iovcnt);
	else
		fuse_reply_buf(req, NULL, 0);
	return 0;
}

#define SFS_READ_BATCH  64              /* reads sent to the store at once */

static void sfs_read_one(struct sfs *fs, fuse_req_t req, fuse_ino_t ino,
			 size_t size, off_t off)
{
	/* the reply goes out from the store's buffers: the kernel's copy
	   into the page cache is the only one */
	int err = slot_file_read_iov(fs->store, ino, (uint64_t)off, size,
				     sfs_read_reply, req);
	if (err < 0)
		fuse_reply_err(req, sfs_errno(err));
}

/* Serves the queued reads, a batch at a time, until none is left.
 * Called and returns with rq_lock held. */
static void sfs_read_drain(struct sfs *fs)
{
	struct slot_read rs[SFS_READ_BATCH];
	struct sfs_rq *q[SFS_READ_BATCH];
	size_t n;

	while (fs->rq_head) {
		for (n = 0; fs->rq_head && n < SFS_READ_BATCH; n++) {
			q[n] = fs->rq_head;
			fs->rq_head = q[n]->next;
		}
		if (!fs->rq_head)
			fs->rq_tail = &fs->rq_head;
		pthread_mutex_unlock(&fs->rq_lock);
		for (size_t i = 0; i < n; i++)
			rs[i] = q[i]->rd;
		int err = slot_file_read_many(fs->store, rs, n);
		for (size_t i = 0; i < n; i++) {
			int e = err ? err : rs[i].result;
			if (e < 0)
				fuse_reply_err(rs[i].arg, sfs_errno(e));
			free(q[i]);
		}
		pthread_mutex_lock(&fs->rq_lock);
	}
}

/* With rq_lock held and no thread serving: serves this read, then the
 * queue that builds up meanwhile. */
static void sfs_read_lead(struct sfs *fs, fuse_req_t req, fuse_ino_t ino,
			  size_t size, off_t off)
{
	/* atomic: sfs_op_wait reads it without the lock */
	__atomic_store_n(&fs->rq_leads, fs->rq_leads + 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&fs->rq_lock);
	sfs_read_one(fs, req, ino, size, off);
	pthread_mutex_lock(&fs->rq_lock);
	sfs_read_drain(fs);
	__atomic_store_n(&fs->rq_leads, fs->rq_leads - 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&fs->rq_lock);
}

/*
 * Small reads go through at most SFS_READ_LEADS threads at a time.  A
 * read that finds them all busy joins a queue and its own thread goes back
 * for more requests at once; the busy threads then serve the queue in
 * batches whose device reads go out together.  So at a deep queue (random
 * 4 KiB reads) the device sees the depth, instead of one synchronous read
 * per FUSE thread; at depth 1 a read is served in its own thread, as
 * before.  With one serving thread the device idled while it replied to
 * a finished batch; three or four were slower than two (more batches of
 * fewer reads).
 */
static void sfs_read_serve(struct sfs *fs, fuse_req_t req, fuse_ino_t ino,
			   size_t size, off_t off)
{
	struct sfs_rq *rq;

	if (size > SFS_READ_SMALL) {
		sfs_read_one(fs, req, ino, size, off);
		return;
	}
	pthread_mutex_lock(&fs->rq_lock);
	if (fs->rq_leads < SFS_READ_LEADS) {
		sfs_read_lead(fs, req, ino, size, off);
		return;
	}
	rq = malloc(sizeof(*rq));
	if (rq) {
		*rq = (struct sfs_rq){ .rd = { .ino = ino,
			.off = (uint64_t)off, .len = size,
			.fn = sfs_read_reply, .arg = req } };
		*fs->rq_tail = rq;
		fs->rq_tail = &rq->next;
	}
	pthread_mutex_unlock(&fs->rq_lock);
	if (!rq)        /* no memory to queue it: read it here */
		sfs_read_one(fs, req, ino, size, off);
}

static void sfs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	struct sfs *fs = sfs_of(req);

	if (sfs_ino_virtual(ino)) {
		sfs_status_read(req, size, off, fi);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	sfs_read_serve(fs, req, ino, size, off);
	/* after the reply, which does not wait for it */
	sfs_accessed(fs, ino, fi->fh, false);
}

static void sfs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
			 size_t size, off_t off, struct fuse_file_info *fi)
{
	struct sfs *fs = sfs_of(req);
	ssize_t n;
	int err;

	if (sfs_ino_virtual(ino)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!fi->writepage) {
		err = sfs_write_killpriv(fs, req, ino);
		if (err < 0) {
			fuse_reply_err(req, sfs_errno(err));
			return;
		}
	}
	n = slot_file_write(fs->store, ino, off, buf, size);
	if (n < 0)
		fuse_reply_err(req, sfs_errno(n));
	else
		fuse_reply_write(req, (size_t)n < size ? (size_t)n : size);
}

/* Bytes one copy_file_range request moves at most: its reply counts in
 * 32 bits, and a caller (cp) asks again for the rest. */
#define SFS_COPY_MAX (64u << 20)
#define SFS_COPY_PIECE (1u << 20)

/*
 * copy_file_range(2), which cp uses for the whole file: the bytes go from
 * slot to slot inside the daemon instead of out to the kernel's page
 * cache and back through FUSE writes.  Stops at the input's end; a
 * partial count is a short copy, as the syscall allows.
 */
static void sfs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
				   off_t off_in, struct fuse_file_info *fi_in,
				   fuse_ino_t ino_out, off_t off_out,
				   struct fuse_file_info *fi_out, size_t len,
				   int flags)
{
	struct sfs *fs = sfs_of(req);
	size_t done = 0, max = len < SFS_COPY_MAX ? len : SFS_COPY_MAX;
	ssize_t err = 0;
	char *buf;

	(void)fi_out;
	/* the status files: the kernel copies them itself */
	if (sfs_ino_virtual(ino_in) || sfs_ino_virtual(ino_out)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (flags || off_in < 0 || off_out < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	err = sfs_write_killpriv(fs, req, ino_out);
	buf = err < 0 ? NULL : malloc(SFS_COPY_PIECE);
	if (!err && !buf)
		err = -ENOMEM;
	while (!err && done < max) {
		size_t want = max - done < SFS_COPY_PIECE ? max - done
							  : SFS_COPY_PIECE;
		ssize_t r = slot_file_read(fs->store, ino_in,
					   (uint64_t)off_in + done, buf, want);
		ssize_t w = r > 0 ? slot_file_write(fs->store, ino_out,
						    (uint64_t)off_out + done,
						    buf, (size_t)r) : r;
		if (w < 0)
			err = w;
		if (w <= 0)
			break;  /* 0: the input's end */
		done += (size_t)w;
		if (w < r)
			break;
	}
	free(buf);
	if (done)
		sfs_accessed(fs, ino_in, fi_in->fh, false);
	/* bytes copied before an error are the answer, as for write(2) */
	if (err < 0 && !done)
		fuse_reply_err(req, sfs_errno((int)err));
	else
		fuse_reply_write(req, done);
}

static void sfs_op_release(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	if (sfs_ino_virtual(ino)) {
		sfs_status_release(req, fi);
		return;
	}
	/* The kernel ignores a release error; nothing to report it to. */
	if (sfs_flags_write(fi->flags))
		slot_ns_release(sfs_of(req)->store, ino);
	else
		slot_ns_unhold(sfs_of(req)->store, ino);
	fuse_reply_err(req, 0);
}

static void sfs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
			 struct fuse_file_info *fi)
{
	int err = 0;

	if (!sfs_ino_virtual(ino))
		err = slot_file_fsync(sfs_of(req)->store, ino, datasync != 0);
	fuse_reply_err(req, sfs_errno(err));
}

static void sfs_op_opendir(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	struct sfs *fs = sfs_of(req);
	int err = fs->no_opendir ? -ENOSYS : sfs_perm_ino(req, ino, R_OK);

	if (err < 0) {
		fuse_reply_err(req, sfs_errno(err));
		return;
	}
	fi->fh = sfs_fh_of(fi->flags);
	/* The kernel keeps what a listing returned till the directory
	   changes through it (every change does), so an unchanged one lists
	   with no request.  Its listings then never reach the daemon: the
	   open counts as the read, as a file's does (sfs_op_open), and when
	   that moves atime the kernel's copy goes with its cached atime. */
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	if (sfs_accessed(fs, ino, fi->fh, true) && fs->se)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
	fuse_reply_open(req, fi);
}

static void sfs_op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	fuse_reply_err(req, sfs_errno(sfs_perm_access(req, ino, mask)));
}

struct sfs_dirbuf {
	fuse_req_t req;
	struct sfs *fs;
	fuse_ino_t dir;
	char *buf;
	size_t size, used;
	bool plus;
	bool names_only;        /* plus, but the caller may not search dir */
	bool full;
	fuse_ino_t *refs;       /* plus: the nodes listed, for sfs_ref */
	size_t nrefs;
};

/* Add one entry; false when it does not fit (it is then not consumed). */
static bool sfs_dirbuf_add(struct sfs_dirbuf *d, const char *name,
			   const struct fuse_entry_param *e, off_t next)
{
	size_t room = d->size - d->used, n;

	if (d->plus)
		n = fuse_add_direntry_plus(d->req, d->buf + d->used, room,
					   name, e, next);
	else
		n = fuse_add_direntry(d->req, d->buf + d->used, room, name,
				      &e->attr, next);
	if (n > room) {
		d->full = true;
		return false;
	}
	d->used += n;
	if (d->refs && e->ino && !sfs_ino_virtual(e->ino))
		d->refs[d->nrefs++] = e->ino;
	return true;
}

/*
 * FUSE directory offsets: 1 is after ".", 2 after "..", and a store entry
 * whose resume cookie is c sits at c + 2.  Store cookies grow per
 * directory and stay put while entries come and go, so offsets are stable
 * across calls and telldir()/seekdir() work.
 */
static int sfs_readdir_cb(void *arg, const char *name,
			  const struct slot_attr *attr, uint64_t next)
{
	struct sfs_dirbuf *d = arg;
	struct fuse_entry_param e;

	if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
		return 0;
	/* A stray store entry named .slotfs in the root stays hidden, as
	   lookup shows the virtual directory there. */
	if (sfs_is_status_name(d->dir, name))
		return 0;
	if (next > (uint64_t)INT64_MAX - 2)
		return -EOVERFLOW;
	sfs_fill_entry(d->fs, attr, &e);
	/* Node 0: the kernel lists the name but keeps no entry that a
	   later path walk could take without a lookup (perm.c). */
	if (d->names_only)
		e.ino = 0;
	return sfs_dirbuf_add(d, name, &e, (off_t)(next + 2)) ? 0 : 1;
}

static void sfs_readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size,
			       off_t off, bool plus, uint64_t fh)
{
	struct sfs *fs = sfs_of(req);
	struct sfs_dirbuf d = {
		.req = req, .fs = fs, .dir = ino, .size = size, .plus = plus,
	};
	struct fuse_entry_param e;
	int err = 0;

	if (ino == SFS_INO_STATUS) {
		sfs_status_readdir(req, size, off, plus);
		return;
	}
	if (sfs_ino_virtual(ino)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	d.names_only = plus && sfs_perm_ino(req, ino, X_OK) < 0;
	d.buf = malloc(size ? size : 1);
	/* an entry with attributes takes more than 128 bytes */
	if (plus && !d.names_only)
		d.refs = malloc((size / 128 + 1) * sizeof(*d.refs));
	if (!d.buf || (plus && !d.names_only && !d.refs)) {
		free(d.buf);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* "." and ".." carry no attributes: the kernel does not make
	   dentries for them (ino 0 in the entry means "no entry"). */
	memset(&e, 0, sizeof(e));
	e.attr.st_mode = S_IFDIR;
	if (off < 1) {
		e.attr.st_ino = ino;
		sfs_dirbuf_add(&d, ".", &e, 1);
	}
	if (off < 2 && !d.full) {
		struct slot_attr pa;

		e.attr.st_ino = ino;
		if (ino == SLOT_ROOT_INO)
			e.attr.st_ino = SLOT_ROOT_INO;
		else if (slot_ns_lookup(fs->store, ino, "..", &pa) == 0)
			e.attr.st_ino = pa.ino;
		sfs_dirbuf_add(&d, "..", &e, 2);
	}
	if (!d.full)
		err = slot_ns_readdir(fs->store, ino, off > 2 ? off - 2 : 0,
				      sfs_readdir_cb, &d);
	/* the store's lock was held while the entries were listed: the
	   references are taken now, and refs keeps those taken; one whose
	   name went meanwhile is listed without (the kernel's forget of it
	   then finds nothing) */
	size_t nheld = 0;
	for (size_t i = 0; i < d.nrefs; i++)
		if (!sfs_ref(fs, d.refs[i]))
			d.refs[nheld++] = d.refs[i];
	/* Entries already gathered go out; the error comes on the next
	   call, which starts where it occurred. */
	int sent;
	if (err < 0 && d.used == 0)
		sent = fuse_reply_err(req, sfs_errno(err));
	else
		sent = fuse_reply_buf(req, d.buf, d.used);
	for (size_t i = 0; sent == -ENOENT && i < nheld; i++)
		sfs_unref(fs, d.refs[i], 1);
	free(d.refs);
	free(d.buf);
	if (err >= 0)
		sfs_accessed(fs, ino, fh, true);
}

static void sfs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	sfs_readdir_common(req, ino, size, off, false, fi->fh);
}

static void sfs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			       off_t off, struct fuse_file_info *fi)
{
	sfs_readdir_common(req, ino, size, off, true, fi->fh);
}

static void sfs_op_releasedir(fuse_req_t req, fuse_ino_t ino,
			      struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void sfs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			    struct fuse_file_info *fi)
{
	int err = 0;

	if (!sfs_ino_virtual(ino))
		err = slot_dir_fsync(sfs_of(req)->store, ino);
	fuse_reply_err(req, sfs_errno(err));
}

static void sfs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct slot_statfs sf;
	struct statvfs st;
	uint64_t bs;
	int err;

	err = slot_statfs(sfs_of(req)->store, &sf);
	if (err < 0) {
		fuse_reply_err(req, sfs_errno(err));
		return;
	}
	/* Report in 4 KiB units whatever the store counts in. */
	bs = sf.block_size ? sf.block_size : 4096;
	memset(&st, 0, sizeof(st));
	st.f_bsize = 4096;
	st.f_frsize = 4096;
	st.f_blocks = sf.blocks * bs / 4096;
	st.f_bfree = sf.blocks_free * bs / 4096;
	st.f_bavail = st.f_bfree;
	st.f_files = sf.files;
	st.f_ffree = sf.files_free;
	st.f_favail = sf.files_free;
	st.f_namemax = sf.name_max ? sf.name_max : SLOT_NAME_MAX;
	fuse_reply_statfs(req, &st);
}

static void sfs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			  mode_t mode, struct fuse_file_info *fi)
{
	struct sfs *fs = sfs_of(req);
	struct fuse_entry_param e;
	struct slot_attr a;
	int err = sfs_make(req, parent, name, S_IFREG | (mode & 07777), 0,
			   NULL, &a);

	if (!err)
		err = slot_ns_open(fs->store, a.ino);
	if (!err && (err = sfs_ref(fs, a.ino)) < 0)
		slot_ns_unhold(fs->store, a.ino);
	if (err < 0) {
		fuse_reply_err(req, sfs_errno(err));
		return;
	}
	sfs_fill_entry(fs, &a, &e);
	fi->fh = sfs_fh_of(fi->flags);
	fi->keep_cache = 1;
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		slot_ns_release(fs->store, a.ino);
		sfs_unref(fs, a.ino, 1);
	}
}

static void sfs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			     off_t offset, off_t length,
			     struct fuse_file_info *fi)
{
	struct sfs *fs = sfs_of(req);
	struct slot_attr a;
	int err;

	if (sfs_ino_virtual(ino)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	/* Mode 0 and FALLOC_FL_KEEP_SIZE (rsync --preallocate) set the
	   space aside for the chunks not yet written, and mode 0 extends
	   the size (slot_file_allocate); a range the free space cannot hold
	   is refused, as ext4 refuses it.  PUNCH_HOLE and ZERO_RANGE drop
	   the chunks in the range and zero the ends (slot_file_zero).  The
	   kernel holds the inode lock, so no write races them. */
	bool zero = sfs_falloc_zero((uint32_t)mode);
	if (mode != 0 && mode != FALLOC_FL_KEEP_SIZE && !zero) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (offset < 0 || length <= 0 ||
	    (uint64_t)offset > (uint64_t)INT64_MAX - (uint64_t)length) {
		fuse_reply_err(req, offset < 0 || length <= 0 ? EINVAL :
			       EFBIG);
		return;
	}
	err = slot_ns_getattr(fs->store, ino, &a);
	if (!err && !S_ISREG(a.mode))
		err = -ENODEV;
	/* a change of the file, as a write: with KILLPRIV_V2 the kernel
	 * leaves its set-id bits to us (ext4 drops them at fallocate) */
	if (!err)
		err = sfs_write_killpriv(fs, req, ino);
	if (!err && zero) {
		err = slot_file_zero(fs->store, ino, (uint64_t)offset,
				     (uint64_t)length,
				     mode & FALLOC_FL_KEEP_SIZE);
		fuse_reply_err(req, sfs_errno(err));
		return;
	}
	if (!err)
		err = slot_file_allocate(fs->store, ino, (uint64_t)offset,
					 (uint64_t)length,
					 mode & FALLOC_FL_KEEP_SIZE);
	fuse_reply_err(req, sfs_errno(err));
}

/* SEEK_DATA and SEEK_HOLE; the kernel answers the other whences. */
static void sfs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off,
			 int whence, struct fuse_file_info *fi)
{
	uint64_t out;
	int err;

	(void)fi;
	/* With writeback_cache the kernel holds written pages the store has
	 * not seen, and does not send them before asking: data would look
	 * like a hole.  ENOSYS makes the kernel stop asking for the whole
	 * mount, and take every byte below the size for data. */
	if (sfs_of(req)->writeback_cache) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (off < 0) {          /* ext4's answer: no data there */
		fuse_reply_err(req, ENXIO);
		return;
	}
	if (sfs_ino_virtual(ino)) {     /* no holes: data up to its size */
		struct stat st;
		err = sfs_status_stat(sfs_of(req), ino, &st);
		if (!err && (S_ISDIR(st.st_mode) || off >= st.st_size))
			err = S_ISDIR(st.st_mode) ? -EISDIR : -ENXIO;
		out = whence == SEEK_HOLE ? (uint64_t)st.st_size :
					    (uint64_t)off;
	} else {
		err = slot_file_seek(sfs_of(req)->store, ino, (uint64_t)off,
				     whence == SEEK_HOLE, &out);
	}
	if (err < 0)
		fuse_reply_err(req, sfs_errno(err));
	else
		fuse_reply_lseek(req, (off_t)out);
}

/*
 * Extended attributes, when the mount serves them (fs->xattr; main.c).
 * Off, each op answers ENOSYS, and the kernel stops sending any for the
 * mount.  That is worth having: with getxattr answered, the kernel asks
 * for security.capability before a file's first write(2)
 * (file_remove_privs), a round trip a file; not before every write, as
 * it would without KILLPRIV_V2 (init.c).
 *
 * The namespaces ext4 has: user., trusted., security., and, on an ACL
 * mount (-o acl), system.posix_acl_access and _default, whose meaning
 * the store keeps (slot.h) and whose checks the kernel makes (owner or
 * CAP_FOWNER, a valid ACL).  The kernel checks the rest of what the VFS
 * asks (capabilities for trusted. and security., user. only on files
 * and directories, sticky directories); a user. name also needs read or
 * write permission on the object, which the daemon checks where the
 * kernel does not (perm.c).
 */
static bool sfs_xattr_acl(const char *name)
{
	return !strcmp(name, SLOT_XATTR_ACL_ACCESS) ||
	       !strcmp(name, SLOT_XATTR_ACL_DEFAULT);
}

static int sfs_xattr_check(fuse_req_t req, fuse_ino_t ino, const char *name,
			   int mask)
{
	static const char *const spaces[] = { "user.", "trusted.",
					      "security." };
	bool known = name == NULL || (sfs_of(req)->acl && sfs_xattr_acl(name));

	if (!sfs_of(req)->xattr)
		return -ENOSYS;
	for (size_t i = 0; name && i < sizeof(spaces) / sizeof(spaces[0]); i++) {
		size_t n = strlen(spaces[i]);
		if (strncmp(name, spaces[i], n))
			continue;
		if (!name[n])
			return -EINVAL;         /* "user.": as the VFS says */
		known = true;
	}
	if (!known)
		return -EOPNOTSUPP;
	if (sfs_ino_virtual(ino))       /* the status files have none */
		return mask == W_OK ? -EPERM : 0;
	if (name && !strncmp(name, "user.", 5))
		return sfs_perm_xattr_user(req, ino, mask);
	return 0;
}

/* A value or a list: its size when asked for 0 bytes, else its bytes. */
static void sfs_reply_sized(fuse_req_t req, const void *buf, ssize_t len,
			    size_t size)
{
	if (len < 0)
		fuse_reply_err(req, sfs_errno((int)len));
	else if (!size)
		fuse_reply_xattr(req, (size_t)len);
	else if ((size_t)len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, buf, (size_t)len);
}

/*
 * Setting an access ACL drops set-group-ID when the caller is neither in
 * the file's group nor root, as chmod(2) would (the kernel asks for it
 * with a flag libfuse does not pass on).
 */
static int sfs_acl_killsgid(fuse_req_t req, fuse_ino_t ino)
{
	struct slot_store *st = sfs_of(req)->store;
	struct slot_attr a;
	int err = slot_ns_getattr(st, ino, &a);

	if (err || !(a.mode & S_ISGID) || fuse_req_ctx(req)->uid == 0 ||
	    sfs_in_group(req, a.gid))
		return err;
	a.mode &= ~S_ISGID;
	return slot_ns_setattr(st, ino, &a, SLOT_SET_MODE, NULL);
}

static void sfs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			    const char *value, size_t size, int flags)
{
	int err = sfs_xattr_check(req, ino, name, W_OK);

	if (!err && (flags & ~(XATTR_CREATE | XATTR_REPLACE)))
		err = -EINVAL;
	if (!err)
		err = slot_xattr_set(sfs_of(req)->store, ino, name, value, size,
				     ((flags & XATTR_CREATE) ?
				      SLOT_XATTR_CREATE : 0) |
				     ((flags & XATTR_REPLACE) ?
				      SLOT_XATTR_REPLACE : 0));
	if (!err && !strcmp(name, SLOT_XATTR_ACL_ACCESS))
		err = sfs_acl_killsgid(req, ino);
	if (!err)
		__atomic_store_n(&sfs_of(req)->xattr_feature, true,
				 __ATOMIC_RELAXED);
	fuse_reply_err(req, sfs_errno(err));
}

static void sfs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			    size_t size)
{
	char *buf = NULL;
	ssize_t len = sfs_xattr_check(req, ino, name, R_OK);

	__atomic_fetch_add(&sfs_of(req)->getxattr_requests, 1,
			   __ATOMIC_RELAXED);
	if (!len && sfs_ino_virtual(ino))
		len = -ENODATA;
	if (!len && size && !(buf = malloc(size)))
		len = -ENOMEM;
	if (!len)
		len = slot_xattr_get(sfs_of(req)->store, ino, name, buf, size);
	sfs_reply_sized(req, buf, len, size);
	free(buf);
}

/* The names a caller may see: trusted. ones only for root, as ext4
 * lists them only to CAP_SYS_ADMIN, and ACLs only on an ACL mount. */
static void sfs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct slot_store *st = sfs_of(req)->store;
	char *buf = NULL;
	ssize_t len = sfs_xattr_check(req, ino, NULL, R_OK);

	if (!len && !sfs_ino_virtual(ino))
		len = slot_xattr_list(st, ino, NULL, 0);
	if (len > 0 && !(buf = malloc((size_t)len)))
		len = -ENOMEM;
	if (len > 0)
		len = slot_xattr_list(st, ino, buf, (size_t)len);
	bool root = fuse_req_ctx(req)->uid == 0, acl = sfs_of(req)->acl;
	if (len > 0 && (!root || !acl)) {
		size_t keep = 0;
		for (size_t at = 0; at < (size_t)len; at += strlen(buf + at) + 1)
			if ((root || strncmp(buf + at, "trusted.", 8)) &&
			    (acl || !sfs_xattr_acl(buf + at))) {
				size_t n = strlen(buf + at) + 1;
				memmove(buf + keep, buf + at, n);
				keep += n;
			}
		len = (ssize_t)keep;
	}
	sfs_reply_sized(req, buf, len, size);
	free(buf);
}

static void sfs_op_removexattr(fuse_req_t req, fuse_ino_t ino,
			       const char *name)
{
	int err = sfs_xattr_check(req, ino, name, W_OK);

	if (!err)
		err = slot_xattr_remove(sfs_of(req)->store, ino, name);
	fuse_reply_err(req, sfs_errno(err));
}

/*
 * The ioctls below return 1 when cmd is not theirs, a negative errno for
 * sfs_op_ioctl to reply with, or 0 once they have replied.
 */

/*
 * lsattr and chattr: the inode flags (FS_IOC_GETFLAGS, or the fsxattr the
 * kernel may ask for instead; the kernel checks the caller owns the file
 * before a set).  slotfs keeps none: every file shows none, setting none
 * is no change, and setting any is EOPNOTSUPP ("Operation not supported
 * while setting flags"), as on a file system without them.
 */
static int sfs_ioctl_flags(fuse_req_t req, unsigned cmd, const void *in_buf,
			   size_t in_bufsz, size_t out_bufsz)
{
	static const struct fsxattr none_x;
	static const uint32_t none_f;
	const void *none = &none_f;
	size_t size = sizeof(none_f);
	bool set;

	switch (cmd) {
	case FS_IOC_FSGETXATTR:
	case FS_IOC_FSSETXATTR:
		none = &none_x;
		size = sizeof(none_x);
		/* fall through */
	case FS_IOC_GETFLAGS:
	case FS_IOC_SETFLAGS:
		set = cmd == FS_IOC_SETFLAGS || cmd == FS_IOC_FSSETXATTR;
		break;
	default:
		return 1;
	}
	if ((set ? in_bufsz : out_bufsz) < size)
		return -EINVAL;
	if (set && memcmp(in_buf, none, size))
		return -EOPNOTSUPP;
	fuse_reply_ioctl(req, 0, set ? NULL : none, set ? 0 : size);
	return 0;
}

void sfs_uevent_change(const struct sfs *fs)
{
	char path[64];
	if (!fs->blk_dev)
		return;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent",
		 major(fs->blk_dev), minor(fs->blk_dev));
	/* no sysfs: nothing to tell; a refusal changes nothing stored */
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = write(fd, "change", 6);
		(void)n;
		close(fd);
	}
}

/* The volume label, as ext4 answers it (e2label on a mount): anyone may
 * read it, root sets it (CAP_SYS_ADMIN there); and root sets the UUID.
 * Either change is told to udev. */
static int sfs_ioctl_names(struct sfs *fs, fuse_req_t req, unsigned cmd,
			   const void *in_buf, size_t in_bufsz,
			   size_t out_bufsz)
{
	char label[FSLABEL_MAX] = { 0 };
	struct slotfs_uuid u;
	if (cmd == SLOTFS_IOC_SET_UUID) {
		if (fuse_req_ctx(req)->uid != 0)
			return -EPERM;
		if (in_bufsz < sizeof(u))
			return -EINVAL;
		memcpy(&u, in_buf, sizeof(u));
		int err = slot_store_set_uuid(fs->store, u.uuid);
		if (err)
			return err;
		sfs_uevent_change(fs);
		fuse_reply_ioctl(req, 0, NULL, 0);
		return 0;
	}
	if (cmd == FS_IOC_GETFSLABEL) {
		struct slot_geometry g;
		if (out_bufsz < sizeof(label))
			return -EINVAL;
		slot_geometry_get(fs->store, &g);
		memcpy(label, g.label, strlen(g.label));
		fuse_reply_ioctl(req, 0, label, sizeof(label));
		return 0;
	}
	if (cmd != FS_IOC_SETFSLABEL)
		return 1;
	if (fuse_req_ctx(req)->uid != 0)
		return -EPERM;
	if (in_bufsz < sizeof(label))
		return -EINVAL;
	memcpy(label, in_buf, sizeof(label));
	if (strnlen(label, sizeof(label)) == sizeof(label))
		return -EINVAL;
	int err = slot_store_set_label(fs->store, label);
	if (err)
		return err;
	sfs_uevent_change(fs);
	fuse_reply_ioctl(req, 0, NULL, 0);
	return 0;
}

/* SLOTFS_IOC_GROW (resize.slotfs on a mounted store): the struct goes
 * back with the ioctl's result, a refusal's too. */
static void sfs_ioctl_grow(struct sfs *fs, fuse_req_t req,
			   const void *in_buf)
{
	struct slotfs_grow g;
	struct slot_geometry before, after;
	memcpy(&g, in_buf, sizeof(g));
	slot_geometry_get(fs->store, &before);
	int err = slot_grow(fs->store, g.size, &g.limit);
	slot_geometry_get(fs->store, &after);
	slotfs_grow_result(&g, &before, &after);
	fuse_reply_ioctl(req, err ? -sfs_errno(err) : 0, &g, sizeof(g));
}

/* FITRIM (fstrim), with the range in bytes of the device, and the reply
 * saying how many were discarded; SLOTFS_IOC_GROW.  Root's, as on ext4
 * (CAP_SYS_ADMIN there). */
static int sfs_ioctl_admin(struct sfs *fs, fuse_req_t req, unsigned cmd,
			   const void *in_buf, size_t in_bufsz,
			   size_t out_bufsz)
{
	struct fstrim_range r;
	uint64_t trimmed;
	size_t need = cmd == SLOTFS_IOC_GROW ? sizeof(struct slotfs_grow) :
		      sizeof(r);

	if (cmd != FITRIM && cmd != SLOTFS_IOC_GROW)
		return 1;
	if (fuse_req_ctx(req)->uid != 0)
		return -EPERM;
	if (in_bufsz < need || out_bufsz < need)
		return -EINVAL;
	if (cmd == SLOTFS_IOC_GROW) {
		sfs_ioctl_grow(fs, req, in_buf);
		return 0;
	}
	memcpy(&r, in_buf, sizeof(r));
	int err = slot_trim(fs->store, r.start, r.len, r.minlen, &trimmed);
	if (err)
		return err;
	r.len = trimmed;
	fuse_reply_ioctl(req, 0, &r, sizeof(r));
	return 0;
}

/* The ioctls above; anything else, and every 32-bit caller's, is not
 * ours (ENOTTY). */
static void sfs_op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned cmd,
			 void *arg, struct fuse_file_info *fi, unsigned flags,
			 const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	struct sfs *fs = sfs_of(req);
	int err = 1;

	(void)ino;
	(void)arg;
	(void)fi;
	if (flags & FUSE_IOCTL_COMPAT)
		err = -ENOTTY;
	if (err == 1)
		err = sfs_ioctl_flags(req, cmd, in_buf, in_bufsz, out_bufsz);
	if (err == 1)
		err = sfs_ioctl_names(fs, req, cmd, in_buf, in_bufsz,
				      out_bufsz);
	if (err == 1)
		err = sfs_ioctl_admin(fs, req, cmd, in_buf, in_bufsz,
				      out_bufsz);
	if (err == 1)
		err = -ENOTTY;
	if (err)
		fuse_reply_err(req, sfs_errno(err));
}

const struct fuse_lowlevel_ops sfs_ll_ops = {
	.init           = sfs_op_init,
	.lookup         = sfs_op_lookup,
	.forget         = sfs_op_forget,
	.forget_multi   = sfs_op_forget_multi,
	.getattr        = sfs_op_getattr,
	.setattr        = sfs_op_setattr,
	.readlink       = sfs_op_readlink,
	.mknod          = sfs_op_mknod,
	.mkdir          = sfs_op_mkdir,
	.unlink         = sfs_op_unlink,
	.rmdir          = sfs_op_rmdir,
	.symlink        = sfs_op_symlink,
	.rename         = sfs_op_rename,
	.link           = sfs_op_link,
	.open           = sfs_op_open,
	.read           = sfs_op_read,
	.write          = sfs_op_write,
	/* no .flush: close(2) has nothing to wait for (release starts the
	 * write-out, fsync waits for it), and without it the kernel stops
	 * sending one round trip per close */
	.release        = sfs_op_release,
	.fsync          = sfs_op_fsync,
	.opendir        = sfs_op_opendir,
	.readdir        = sfs_op_readdir,
	.readdirplus    = sfs_op_readdirplus,
	.releasedir     = sfs_op_releasedir,
	.fsyncdir       = sfs_op_fsyncdir,
	.statfs         = sfs_op_statfs,
	.create         = sfs_op_create,
	.fallocate      = sfs_op_fallocate,
	.access         = sfs_op_access,
	.lseek          = sfs_op_lseek,
	.setxattr       = sfs_op_setxattr,
	.getxattr       = sfs_op_getxattr,
	.listxattr      = sfs_op_listxattr,
	.removexattr    = sfs_op_removexattr,
	.ioctl          = sfs_op_ioctl,
	.copy_file_range = sfs_op_copy_file_range,
};
