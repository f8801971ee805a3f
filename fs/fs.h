/* SPDX-License-Identifier: MIT */
/*
 * fs.h - the slotfs FUSE front end: shared state and helpers.
 *
 * fs/ knows libslot only through slot.h; inode numbers are slot_ino_t as
 * they come from the store, and the root is SLOT_ROOT_INO == FUSE_ROOT_ID.
 */
#ifndef SLOTFS_FS_H
#define SLOTFS_FS_H

#define FUSE_USE_VERSION 314   /* FUSE_MAKE_VERSION(3, 14) */
#include <fuse_lowlevel.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include "slot.h"

#if SLOT_ROOT_INO != FUSE_ROOT_ID
#error "slotfs relies on the store's root being FUSE's root"
#endif

/*
 * The virtual status directory /.slotfs/ and its files use inode numbers
 * at the top of the range, where the store's oids (which start at 1 and
 * grow) never reach.
 */
#define SFS_STATUS_NAME   ".slotfs"
#define SFS_INO_STATUS    (UINT64_MAX - 1)  /* /.slotfs */
#define SFS_INO_JSON      (UINT64_MAX - 2)  /* /.slotfs/status.json */
#define SFS_INO_METRICS   (UINT64_MAX - 3)  /* /.slotfs/metrics */

/* A read waiting for the batch that serves it (see sfs_op_read). */
struct sfs_rq {
	struct slot_read rd;            /* rd.arg: the fuse_req_t */
	struct sfs_rq *next;
};

struct sfs {
	struct slot_store *store;
	pthread_mutex_t rq_lock;
	struct sfs_rq *rq_head, **rq_tail;
	unsigned rq_leads;              /* threads serving small reads
					   (ops.c, SFS_READ_LEADS at most) */
	bool read_only;
	bool debug;
	bool writeback_cache;            /* -o writeback_cache */
	bool xattr;                     /* extended attributes served */
	/* the store's superblock says it has xattrs: a setxattr no longer
	 * writes it (sfs_op_wait serves one on the reading thread) */
	bool xattr_feature;
	bool acl;                       /* POSIX ACLs served and enforced */
	int atime;                      /* SFS_ATIME_* (-o noatime, ...) */
	bool nodiratime;                /* -o nodiratime */
	bool killpriv_v2;               /* asked at INIT, and granted (init.c) */
	struct fuse_session *se;        /* for notifications to the kernel */
	bool init_seen, init_done;      /* the INIT exchange (init.c) */
	uint64_t init_unique;
	uint32_t init_flags;            /* what the kernel offered */
	bool check_perms;               /* the daemon checks permissions,
					   not the kernel (perm.c) */
	bool kernel_perms;              /* default_permissions was given */
	bool no_opendir;                /* opendir answers ENOSYS (init) */
	unsigned max_background;        /* -o max_background */
	struct timespec mount_time;     /* times of the virtual nodes */
	double attr_timeout;
	double entry_timeout;
	double negative_timeout;        /* of a name not found */
	struct sfs_inval *inval;        /* inval.c; NULL: the kernel checks
					   permissions, or root mounted */
	/* the polling loop (loop.c): requests its reading thread served
	 * itself, and those it handed to another thread first; atomic */
	uint64_t loop_in_place, loop_handed_on;
	/* how its reading thread found each request: waiting already, while
	 * it polled, or after it slept; and the polling window now (ns) */
	uint64_t loop_found_waiting, loop_found_polling, loop_found_asleep;
	int64_t loop_window_ns;
	/* FUSE over io_uring (ring.c), when the kernel offered it; requests
	 * that came through it (atomic) */
	struct sfs_ring *ring;
	uint64_t ring_requests;
	uint64_t getxattr_requests;     /* answered (atomic) */
	dev_t blk_dev;                  /* the block device mounted; 0: an
					   image file */
};

/* How reads move atime (the kernel leaves it to FUSE daemons). */
enum sfs_atime {
	SFS_ATIME_RELATIVE,             /* relatime, the default */
	SFS_ATIME_STRICT,               /* strictatime */
	SFS_ATIME_OFF,                  /* noatime */
};

extern const struct fuse_lowlevel_ops sfs_ll_ops;

static inline struct sfs *sfs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Tell udev the device's names changed (a label or UUID set through the
 * mount): it reads them again, and /dev/disk/by-label and by-uuid follow,
 * as after tune.slotfs on an unmounted device (udev sees its close). */
void sfs_uevent_change(const struct sfs *fs);

/* Core error (negative errno) to the positive errno FUSE replies with. */
int sfs_errno(int err);
enum sfs_wait {
	SFS_WAIT_NONE,          /* served from memory */
	SFS_WAIT_READ,          /* at most the device reads of its bytes */
	SFS_WAIT_LONG,          /* anything: writes, fsync, ... */
};
enum sfs_wait sfs_op_wait(struct sfs *fs, const void *buf, size_t len);
int sfs_loop_polling(struct fuse_session *se, struct sfs *fs, unsigned poll_us,
		     unsigned awake_us, unsigned max_threads,
		     unsigned max_idle);

/* -o awake_us (awake.c): a SCHED_IDLE thread on each CPU spins for
 * window_us after each request, so that no CPU halts while a caller
 * waits for its reply.  start: 0 (*out NULL for a window of 0) or a
 * negative errno; poke: a request came (NULL: nothing). */
struct sfs_awake;
int sfs_awake_start(unsigned window_us, struct sfs_awake **out);
void sfs_awake_poke(struct sfs_awake *aw);
void sfs_awake_stop(struct sfs_awake *aw);
/* A detached thread running fn(arg): 0 or a negative errno. */
int sfs_thread_detached(void *(*fn)(void *), void *arg);
/* ring.c: FUSE over io_uring.  attach stands between the session and
 * /dev/fuse, to take the ring if the kernel offers it at INIT; detach,
 * after the loop has ended, stops its threads. */
int sfs_ring_attach(struct fuse_session *se, struct sfs *fs, unsigned depth,
		    unsigned max_threads, unsigned max_idle,
		    void (*log)(void *arg, const char *msg));
bool sfs_ring_running(const struct sfs *fs);
void sfs_ring_detach(struct sfs *fs);
/* init.c: FUSE_HANDLE_KILLPRIV_V2 asked for at INIT (fs->killpriv_v2).
 * The session's I/O shows each request and reply to these; attach makes
 * a pass-through one where the ring has not. */
void sfs_init_request(struct sfs *fs, const void *buf, ssize_t n);
void sfs_init_reply(struct sfs *fs, struct iovec *iov, int count);
int sfs_init_attach(struct fuse_session *se, struct sfs *fs);
void sfs_attr_to_stat(const struct slot_attr *a, struct stat *st);

/* inval.c: a thread that drops the names the kernel cached in a
 * directory whose search permission changed, for the daemon's checks.
 * start: 0 or a negative errno; dir: queue a directory (0, -ENOMEM, or
 * -ENOTCONN when not started);
 * stop_begin, then the session's unmount, then stop_end. */
struct sfs_inval;
int sfs_inval_start(struct sfs *fs);
int sfs_inval_dir(struct sfs *fs, fuse_ino_t dir);
void sfs_inval_stop_begin(struct sfs *fs);
void sfs_inval_stop_end(struct sfs *fs);

/* perm.c: permission checks when the kernel leaves them to the daemon;
 * each returns 0 or -EACCES/-EPERM (or the store's error). */
#define SFS_FH_WRITES   1u      /* fi->fh of a handle opened for writing */
#define SFS_FH_NOATIME  2u      /* ... opened with O_NOATIME (ops.c) */
bool sfs_in_group(fuse_req_t req, gid_t gid);
/* Whether the daemon decides for this caller (not root, no
 * default_permissions); every check below is 0 when not. */
bool sfs_perm_ours(fuse_req_t req);
int sfs_perm_attr(fuse_req_t req, const struct slot_attr *a, int mask);
int sfs_perm_ino(fuse_req_t req, fuse_ino_t ino, int mask);
int sfs_perm_xattr_user(fuse_req_t req, fuse_ino_t ino, int mask);
int sfs_perm_link(fuse_req_t req, fuse_ino_t ino);
int sfs_perm_remove(fuse_req_t req, fuse_ino_t dir, const char *name);
int sfs_perm_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		    fuse_ino_t newparent, const char *newname, bool exchange);
int sfs_perm_open(fuse_req_t req, fuse_ino_t ino, int flags);
int sfs_perm_setattr(fuse_req_t req, const struct slot_attr *cur,
		     unsigned mask, struct slot_attr *in, bool fh_writes);
int sfs_perm_access(fuse_req_t req, fuse_ino_t ino, int mask);

/* status.c: the virtual /.slotfs/ directory. */
static inline bool sfs_ino_virtual(fuse_ino_t ino)
{
	return ino >= SFS_INO_METRICS && ino <= SFS_INO_STATUS;
}
static inline bool sfs_is_status_name(fuse_ino_t parent, const char *name)
{
	return parent == SLOT_ROOT_INO && !strcmp(name, SFS_STATUS_NAME);
}
int sfs_status_stat(struct sfs *fs, fuse_ino_t ino, struct stat *st);
int sfs_status_lookup(struct sfs *fs, fuse_ino_t parent, const char *name,
		      struct fuse_entry_param *e);
void sfs_status_open(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi);
void sfs_status_read(fuse_req_t req, size_t size, off_t off,
		     struct fuse_file_info *fi);
void sfs_status_release(fuse_req_t req, struct fuse_file_info *fi);
void sfs_status_readdir(fuse_req_t req, size_t size, off_t off, bool plus);

#endif /* SLOTFS_FS_H */
