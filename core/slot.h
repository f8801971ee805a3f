/* SPDX-License-Identifier: MIT */
/*
 * slot.h - the public face of libslot, the slotfs slot store.
 *
 * A store keeps objects in fixed-size slots on a block device or an image
 * file.  Objects live in one namespace of directories and names, which the
 * store persists with its index:
 *
 *   - the key-value face (slot_put_many, slot_get_many, slot_delete_many)
 *     treats a key as a path relative to the root ("a/b/c"); missing parent
 *     directories are made on put;
 *   - the file face (slot_ns_*, slot_file_*) works on inode numbers, as a
 *     FUSE low-level file system does.
 *
 * Every function returns 0 (or a count) on success and a negative errno on
 * failure.  All functions are thread-safe unless a comment says otherwise.
 *
 * Durability: data is durable once slot_sync() (or slot_file_fsync() for the
 * file's own data and name) has returned 0.  slot_dir_fsync() makes every
 * file's data and the whole namespace durable, slot_checkpoint(s, true) the
 * namespace and the data already written out.  See README.md,
 * "Durability".
 */
#ifndef SLOT_H
#define SLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLOT_VERSION_MAJOR 1
#define SLOT_VERSION_MINOR 17

#define SLOT_NAME_MAX 255     /* bytes in one name; longer: -ENAMETOOLONG */
#define SLOT_PATH_MAX 4096    /* a key, with its slashes, is shorter:
				 * PATH_MAX's bytes with the NUL */
#define SLOT_LABEL_MAX 63     /* bytes in a volume label */
#define SLOT_ROOT_INO 1       /* inode number of the root directory */

struct slot_store;

/* ------------------------------------------------------------------ */
/* Devices                                                             */
/* ------------------------------------------------------------------ */

/*
 * One I/O on a device.  buf and off are aligned to the store's block size
 * (4096) when the device was opened with O_DIRECT.  The device sets res to
 * the bytes moved or a negative errno; a short count is an error to the
 * store (the engine retries short I/O itself before it reports).
 *
 * A request may instead gather or scatter its len bytes over iovcnt
 * (1..SLOT_IO_IOV_MAX) segments, iov, each aligned as buf would be; buf is
 * then unused.  The store sends a slot's header block and its payload, in
 * the caller's own buffer, as one request this way.
 */
#define SLOT_IO_IOV_MAX 4
struct slot_io {
	void *buf;
	uint64_t off;
	uint32_t len;
	int32_t res;            /* set by the device: len, or a negative errno */
	const struct iovec *iov;
	unsigned iovcnt;
	/*
	 * Optional hooks, so the store's own work (checksums) overlaps the
	 * device's: prep runs just before the request is sent, and a
	 * negative errno from it fails the request unsent; done may run once
	 * the request has finished, res final.  Both run in the thread that
	 * called read or write, before it returns.  A device must call prep;
	 * done is a hint the store does not rely on.
	 */
	int (*prep)(struct slot_io *io);
	void (*done)(struct slot_io *io);
	void *arg;
};

/*
 * A device is a table of functions plus a context, as littlefs's
 * struct lfs_config and e2fsprogs' io_manager are.  The store calls them
 * from many threads at once; submit runs a batch to completion and returns
 * 0 when every request in it succeeded, else the first error.
 */
struct slot_dev_ops {
	int (*read)(void *ctx, struct slot_io *ios, size_t n);
	int (*write)(void *ctx, struct slot_io *ios, size_t n);
	int (*flush)(void *ctx);
	void (*close)(void *ctx);
	/* Give [off, off + len) back to the device (TRIM; a hole in an image
	 * file); NULL or -EOPNOTSUPP: it cannot. */
	int (*discard)(void *ctx, uint64_t off, uint64_t len);
};

struct slot_dev {
	const struct slot_dev_ops *ops;
	void *ctx;
	uint64_t size;          /* bytes */
	uint32_t block_size;    /* logical block size, a power of two */
	const char *name;       /* for messages */
};

/* Engine counters, shared by every engine. */
struct slot_dev_stats {
	uint64_t submitted;     /* requests handed to the device */
	uint64_t completed;     /* requests the device finished */
	uint64_t errors;
	uint64_t flushes;
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint32_t sq_depth;      /* requests submitted and not reaped, now */
	uint32_t sq_depth_max;  /* high-water mark of sq_depth */
	uint32_t cq_depth_max;  /* most completions reaped at once */
	uint32_t queue_depth;   /* the configured bound */
};

enum slot_engine {
	SLOT_ENGINE_AUTO = 0,   /* io_uring, else pread/pwrite with a message */
	SLOT_ENGINE_URING,
	SLOT_ENGINE_PSYNC,
};

/*
 * Open an image file or block device as a device.  direct selects
 * O_DIRECT; read_only opens it read-only; exclusive takes an exclusive
 * flock() so a second store on the same file fails with -EBUSY.
 */
int slot_dev_open(const char *path, enum slot_engine engine,
		  unsigned queue_depth, bool direct, bool read_only,
		  bool exclusive, struct slot_dev **out);
void slot_dev_close(struct slot_dev *dev);
void slot_dev_get_stats(const struct slot_dev *dev, struct slot_dev_stats *st);
const char *slot_dev_engine_name(const struct slot_dev *dev);

/*
 * The emulated device: a RAM image for tests.  It records every write and
 * flush, can fail the Nth read or write, can hold a write until released
 * (to keep a put in flight), and can cut power: after a cut every write and
 * flush fails with -EIO.  See core/dev_emu.c.
 */
struct slot_emu;
struct slot_emu_op {
	uint8_t kind;           /* 'W' write, 'F' flush */
	uint64_t off;
	uint32_t len;
	uint32_t data_off;      /* where the written bytes are in the log */
};

int slot_emu_create(uint64_t size, struct slot_emu **out);
void slot_emu_destroy(struct slot_emu *emu);
struct slot_dev *slot_emu_dev(struct slot_emu *emu);
uint8_t *slot_emu_image(struct slot_emu *emu);          /* live bytes */
uint64_t slot_emu_size(const struct slot_emu *emu);
/* Fail the nth (1-based, counted from now) read or write with err; 0 off. */
void slot_emu_fail_read(struct slot_emu *emu, uint64_t nth, int err);
void slot_emu_fail_write(struct slot_emu *emu, uint64_t nth, int err);
/* Fail every read (or write) from now on with err; 0 turns it off. */
void slot_emu_fail_reads(struct slot_emu *emu, int err);
void slot_emu_fail_writes(struct slot_emu *emu, int err);
/*
 * Hold writes (or reads, or flushes, libslot 1.14): the nth from now
 * (1-based) blocks, and with it the device, until slot_emu_release();
 * slot_emu_wait_held() waits until one is blocked.  A release lets the
 * held request go; holds armed and not reached stay armed (nth 0
 * disarms).
 */
void slot_emu_hold_write(struct slot_emu *emu, uint64_t nth);
void slot_emu_hold_read(struct slot_emu *emu, uint64_t nth);
void slot_emu_hold_flush(struct slot_emu *emu, uint64_t nth);
void slot_emu_wait_held(struct slot_emu *emu);
void slot_emu_release(struct slot_emu *emu);
/* The write log: every write and flush since create or the last reset. */
void slot_emu_log_start(struct slot_emu *emu);
size_t slot_emu_log(const struct slot_emu *emu, const struct slot_emu_op **ops);
const uint8_t *slot_emu_log_data(const struct slot_emu *emu);
void slot_emu_log_stop(struct slot_emu *emu);
/* Snapshot of the image as it was when logging started. */
const uint8_t *slot_emu_log_base(const struct slot_emu *emu);
/* Cut power: from now on every write and flush fails with -EIO. */
void slot_emu_power_cut(struct slot_emu *emu);
uint64_t slot_emu_reads(const struct slot_emu *emu);
uint64_t slot_emu_writes(const struct slot_emu *emu);
uint64_t slot_emu_flushes(const struct slot_emu *emu);
/* Bytes discarded (they read as zeros); a logging device discards none. */
uint64_t slot_emu_discarded(const struct slot_emu *emu);

/* ------------------------------------------------------------------ */
/* Format                                                              */
/* ------------------------------------------------------------------ */

struct slot_geometry {
	uint64_t device_size;   /* bytes the file system covers */
	uint32_t block_size;    /* slot header size and I/O alignment */
	uint32_t chunk_size;    /* largest slot payload: one object chunk */
	uint32_t min_slot;      /* smallest slot payload */
	uint32_t class_count;   /* slot size classes, min_slot..chunk_size */
	uint64_t meta_offset, meta_size;  /* both checkpoint containers */
	uint64_t slot_area_offset;
	uint64_t region_size;
	uint32_t region_count;
	uint64_t capacity;      /* payload bytes if all regions held chunks */
	uint64_t max_small_files; /* files of min_slot that fit */
	uint8_t uuid[16];
	char label[SLOT_LABEL_MAX + 1];
	uint32_t class_size[8]; /* payload of each slot class, ascending */
	bool xattrs;            /* extended attributes have been set here
				   (the ro_compat XATTR feature) */
	bool acls;              /* an object holds a POSIX ACL (store
				   open: since it was opened) */
};

struct slot_format_opts {
	uint32_t chunk_size;    /* 0: default 1 MiB; power of two */
	uint32_t min_slot;      /* 0: default 4 KiB; power of two */
	uint64_t meta_size;     /* 0: chosen from the size */
	uint64_t region_size;   /* 0: chosen from the size */
	const char *label;      /* NULL: none */
	const uint8_t *uuid;    /* NULL: random */
	bool dry_run;           /* compute and report, write nothing */
};

void slot_format_opts_init(struct slot_format_opts *o);
/* A size as the tools take it: "4096", "64K", "1M", "1MiB", "2GB" (powers
 * of 1024).  -EINVAL: not one; -ERANGE: past 2^64. */
int slot_parse_size(const char *s, uint64_t *bytes);
/* A size as the tools print it, into buf: "4 KiB" when exact, else
 * "1.50 GiB".  Returns buf. */
const char *slot_format_size(uint64_t bytes, char *buf, size_t cap);
/*
 * Compute the layout for a device of size bytes (rounded down to whole
 * MiB), without writing.  -EFBIG: too small for the layout; -EINVAL: a
 * slot size that is not a power of two or is out of range; -ENOBUFS: a
 * metadata area (meta_size) whose checkpoint containers cannot index
 * every slot the device holds and a thousand files beside; -EOVERFLOW:
 * more than 2^32 regions.
 */
int slot_format_plan(uint64_t size, const struct slot_format_opts *o,
		     struct slot_geometry *geo);
/* Write a fresh file system on dev.  geo (may be NULL) receives the layout. */
int slot_format(struct slot_dev *dev, const struct slot_format_opts *o,
		struct slot_geometry *geo);
/*
 * Does dev hold a slotfs superblock (primary or backup)?  Returns 1 with
 * geo filled, 0 when not, or a negative errno on I/O error.  A slotfs
 * superblock too damaged to decode still returns 1, with geo zeroed
 * (block_size 0).
 */
int slot_probe(struct slot_dev *dev, struct slot_geometry *geo);
/* slot_probe of the device or image at path, opened read-only, shared and
 * buffered (the two superblock blocks are all it reads); a negative errno
 * also when it cannot be opened. */
int slot_probe_path(const char *path, struct slot_geometry *geo);
/*
 * The block device that holds the slotfs spec names, "LABEL=label" or
 * "UUID=uuid" (as fstab names file systems; the value may be quoted),
 * among those the kernel lists in /proc/partitions: "/dev/NAME" into
 * path.  Any other spec is a path, copied as it is.  -ENODEV: no device
 * holds it; -ENOTUNIQ: more than one does (path gets the first, and
 * callers should refuse: two devices hold copies); -EDOM: an empty
 * value, a label too long or a UUID that is none; -ENAMETOOLONG: cap is
 * too small.  slot_strerror() words them.
 */
int slot_find_device(const char *spec, char *path, size_t cap);
/* What libblkid finds on a device besides slotfs. */
struct slot_foreign {
	char type[32];          /* a file system's: "ext4", "swap"; or "" */
	char label[64];         /* its label, or "" */
	char pttype[16];        /* a partition table's: "dos", "gpt"; or "" */
	bool conflict;          /* several signatures that disagree */
};
/*
 * Whether libblkid finds another file system or a partition table on
 * path: 1 with f filled, 0 when not (or when built without libblkid), or
 * a negative errno.  mkfs.slotfs asks before it formats; open, fsck and
 * the probes ask where the primary superblock has no slotfs magic but the
 * backup is valid, and then take the device for the other file system's
 * (-EMEDIUMTYPE), never restoring the primary over it.
 */
int slot_dev_foreign(const char *path, struct slot_foreign *f);

/* ------------------------------------------------------------------ */
/* Open and close                                                      */
/* ------------------------------------------------------------------ */

struct slot_opts {
	unsigned queue_depth;           /* in flight on the device; 32 */
	bool direct_io;                 /* O_DIRECT; default true */
	enum slot_engine engine;        /* default AUTO */
	unsigned meta_idle_quiet_ms;    /* idle gate quiet period; 200 */
	unsigned checkpoint_interval_ms;/* periodic thread period; 5000.
					   After 6 periods deferred by the
					   idle gate it forces one. */
	bool periodic_checkpoint;       /* start the thread; default true */
	bool read_only;
	bool validate;                  /* check every checkpoint entry
					   against its slot header even on a
					   clean open; default false (a dirty
					   open always does) */
	bool force_scan;                /* scan slot headers even if clean */
	/* Messages (recovery, warnings, failed device writes and flushes,
	 * one a second at most) go here; NULL means stderr. */
	void (*log)(void *arg, const char *msg);
	void *log_arg;
};

void slot_opts_init(struct slot_opts *o);

/*
 * Open the store on a path (image file or block device).  Errors:
 * -EINVAL not slotfs (foreign or blank), -EUCLEAN corrupt beyond what open
 * repairs (run fsck), -EFBIG a device smaller than its file system
 * (truncated?), -EPROTONOSUPPORT unknown incompatible feature or
 * newer major version, -EBUSY in use by another store, -EROFS read-only
 * device for a read-write open.  slot_strerror() words them.
 */
int slot_open(const char *path, const struct slot_opts *o,
	      struct slot_store **out);
/* Open on a device the caller made (the emulated one); takes no ownership. */
int slot_open_dev(struct slot_dev *dev, const struct slot_opts *o,
		  struct slot_store **out);
/* Force a checkpoint, flush, mark clean, free everything.  Not while
 * another thread is in a call on s: batches started and not yet waited
 * for are the exception (close lets them finish). */
int slot_close(struct slot_store *s);
/*
 * Grow the file system to size bytes of its device (0: all of it, as the
 * device is now; whole MiB), in new regions after the last:
 * resize.slotfs.  Works while the store is in use (a mounted one grows
 * through the mount's SLOTFS_IOC_GROW); writers go on meanwhile.  The
 * checkpoint containers bound how far: -ENOSPC beyond what they can
 * index, and *limit gets the largest size they can.  -EFBIG: the device
 * is smaller than size; -EINVAL: smaller than the file system (no
 * shrinking); -EBUSY: another grow is under way.  Durable when it
 * returns 0; a crash on the way leaves the old size or the new, whole.
 */
int slot_grow(struct slot_store *s, uint64_t size, uint64_t *limit);
/*
 * Shrink the file system to size bytes (whole MiB), as resize2fs shrinks
 * an unmounted ext4: the chunks in the regions past it are written again
 * below it (copies: files keep their times), then the superblocks say
 * the new size.  *min gets the least size the slots in use need (an
 * estimate, as resize2fs -P's; always set).  -ENOSPC below it, -EINVAL
 * past the file system's size (slot_grow grows; its own size is nothing
 * to do), -EBUSY when a
 * writer put a chunk back up there meanwhile (nothing else should write:
 * resize.slotfs shrinks only what is not mounted).  Durable when it
 * returns 0; a crash on the way leaves the old size or the new, whole.
 */
int slot_shrink(struct slot_store *s, uint64_t size, uint64_t *min);
/* Drop the store as a crash would: no checkpoint, no flush, no clean flag. */
void slot_abandon(struct slot_store *s);

/* A message for an errno that slot functions return (positive or not):
 * static text, valid for the life of the process. */
const char *slot_strerror(int err);
/* ... returned by what opens or probes a device (slot_dev_open, slot_open,
 * slot_open_dev, slot_probe, slot_probe_path, slot_dump, slot_fsck): there
 * -EINVAL says the device holds no slotfs, -EFBIG that it is too small,
 * -EBUSY that it is in use. */
const char *slot_open_strerror(int err);

/* What the last open found and did (recovery report). */
struct slot_recovery {
	bool was_clean;
	bool scanned;
	uint64_t ckpt_seq;
	uint64_t entries_loaded;
	uint64_t entries_dropped;       /* failed slot-header validation */
	uint64_t slots_scanned;
	uint64_t slots_recovered;       /* newer than the checkpoint */
	uint64_t objects_recovered;     /* ... of these objects */
	uint64_t lost_found;            /* named into /lost+found */
};
void slot_recovery_report(const struct slot_store *s, struct slot_recovery *r);
void slot_geometry_get(const struct slot_store *s, struct slot_geometry *geo);

/* ------------------------------------------------------------------ */
/* Key-value face                                                      */
/* ------------------------------------------------------------------ */

struct slot_put {
	const char *key;        /* NUL-terminated path "dir/name"; the
				   rules for keys: libslot(3) */
	const void *buf;        /* may be NULL when len is 0 */
	size_t len;
	int result;             /* out: 0, -ECANCELED (a delete won), errno */
};

struct slot_get {
	const char *key;
	void *buf;
	size_t cap;             /* bytes buf holds */
	size_t len;             /* out: object size */
	int result;             /* out: 0, -ENOENT, -ENOBUFS (len says how
				   much is needed), -EIO (checksum), errno */
};

/*
 * Buffers aligned to 4096 bytes are used for the device I/O as they are
 * (puts of 64 KiB or more, gets of whole blocks); in huge pages (2 MiB-
 * aligned, madvise MADV_HUGEPAGE) a 1 MiB object is one device request
 * rather than two on a disk with a 254-segment limit.  See libslot(3).
 *
 * Put many whole objects.  Takes the store lock twice for the batch (once
 * to allocate every slot, once to commit), whatever n is, and does no I/O
 * under it.  An object replaces any older one under its key atomically.
 * An item fails alone for its key (a bad one), or when its object is
 * larger than the whole store (-ENOSPC); the others' slots are taken
 * together, so when they do not all fit every one of them gets -ENOSPC.
 * Of two items with one key, the later wins.  Returns 0 if every item
 * succeeded, else the first item error.
 */
int slot_put_many(struct slot_store *s, struct slot_put *items, size_t n);
/* Read many whole objects into caller buffers, verifying checksums. */
int slot_get_many(struct slot_store *s, struct slot_get *items, size_t n);
/*
 * slot_get_many and slot_put_many, started and left to run while the
 * caller goes on (a model computing on one layer's KV chunks while the
 * next ones load, or while the last ones are written out): items, their
 * keys and buffers belong to the batch until its wait, which returns what
 * slot_get_many or slot_put_many would have and frees *op.  Started
 * batches run side by side (up to SLOT_BATCHES_RUNNING at once, then in
 * turn) and share the engine's queue depth: as one drains at its end, the
 * next takes up the depth it gives back, so the device stays busy.
 * Batches running side by side are as calls from separate threads: of
 * two puts of one key, the one that commits last wins; wait for the
 * first to order them.  A put is in slot_sync's reach once waited for.
 * Every started batch must be waited for; slot_close first lets those
 * still queued or running finish.
 */
#define SLOT_BATCHES_RUNNING 4
#define SLOT_GET_RUNNING SLOT_BATCHES_RUNNING   /* its older name */
struct slot_get_op;
int slot_get_many_start(struct slot_store *s, struct slot_get *items,
			size_t n, struct slot_get_op **op);
int slot_get_wait(struct slot_get_op *op);
struct slot_put_op;
int slot_put_many_start(struct slot_store *s, struct slot_put *items,
			size_t n, struct slot_put_op **op);
int slot_put_wait(struct slot_put_op *op);
/*
 * Delete many keys.  A delete of a key whose put is in flight cancels that
 * put: it reports -ECANCELED, its slots are freed, and the key stays absent.
 * A delete is durable, as a put is, at the next slot_sync or checkpoint: a
 * crash before it may bring back the key, with the value of its last put
 * that reached the device, whole (a canceled one's too).  results (may be
 * NULL) receives 0 or a negative errno per key: -ENOENT, a bad key's
 * (-EINVAL, -ENAMETOOLONG, -ENOTDIR), -EISDIR for a directory; -EROFS for
 * every key of a read-only store.  Returns 0 or the first error.
 * Directories above a deleted key that the delete leaves empty go too, up
 * to the root, as an object store's prefixes go with their last key.
 */
int slot_delete_many(struct slot_store *s, const char *const *keys, size_t n,
		     int *results);
/* Size of the object under key, or -ENOENT. */
int slot_lookup(struct slot_store *s, const char *key, uint64_t *size);
/*
 * Call fn for every regular file, with its key (path from the root) and
 * size.  A non-zero return from fn stops the walk and is returned.  fn
 * runs without the store's lock, so it may call into the store; a key
 * put, deleted or renamed (with its directory too) during the walk may
 * or may not be seen, every key left alone is seen once.
 */
int slot_iterate(struct slot_store *s,
		 int (*fn)(void *arg, const char *key, uint64_t size),
		 void *arg);
/* Make everything written so far durable: data, and every name and
 * attribute (names changed through the journal, or a checkpoint when a
 * change the journal does not carry waits). */
int slot_sync(struct slot_store *s);
/*
 * Write the index to the metadata region.  Returns 1 when it wrote, 0 when
 * it did not need to or must wait: nothing dirty, or (unless force) I/O in
 * flight or quiet period not over.  force bypasses only the idle gate.
 */
int slot_checkpoint(struct slot_store *s, bool force);

/* ------------------------------------------------------------------ */
/* File face                                                           */
/* ------------------------------------------------------------------ */

typedef uint64_t slot_ino_t;

struct slot_attr {
	slot_ino_t ino;
	uint32_t mode;          /* type and permission bits, as st_mode */
	uint32_t nlink;
	uint32_t uid, gid;
	uint64_t rdev;
	uint64_t size;
	uint64_t blocks;        /* 512-byte units held on the device, or
				   buffered to be written there */
	struct timespec atime, mtime, ctime;
};

/* setattr mask bits */
#define SLOT_SET_MODE   (1u << 0)
#define SLOT_SET_UID    (1u << 1)
#define SLOT_SET_GID    (1u << 2)
#define SLOT_SET_SIZE   (1u << 3)
#define SLOT_SET_ATIME  (1u << 4)  /* to attr->atime */
#define SLOT_SET_MTIME  (1u << 5)
#define SLOT_SET_ATIME_NOW (1u << 6)
#define SLOT_SET_MTIME_NOW (1u << 7)
#define SLOT_SET_CTIME  (1u << 8)  /* to attr->ctime */

/* rename flags, as renameat2 */
#define SLOT_RENAME_NOREPLACE (1u << 0)
#define SLOT_RENAME_EXCHANGE  (1u << 1)

int slot_ns_lookup(struct slot_store *s, slot_ino_t parent, const char *name,
		   struct slot_attr *out);
int slot_ns_getattr(struct slot_store *s, slot_ino_t ino,
		    struct slot_attr *out);
/* Change what mask names; SLOT_SET_SIZE truncates or extends. ctime moves.
 * Times are kept from 1677-09-21 to 2262-04-11 in ns; one beyond is the
 * nearest of those; a tv_nsec outside [0, 1e9) is -EINVAL. */
int slot_ns_setattr(struct slot_store *s, slot_ino_t ino,
		    const struct slot_attr *in, unsigned mask,
		    struct slot_attr *out);
/*
 * A read of ino, now: its atime moves as the rule says, ctime stays.
 * SLOT_ATIME_RELATIVE (mount(8)'s relatime) moves it only when it is
 * not after the mtime or the ctime, or is a day old; SLOT_ATIME_STRICT
 * always.  Lazily, as with lazytime: the next checkpoint (or a record
 * of the object written for another change) carries it, so a crash may
 * lose it and neither fsync nor slot_sync waits for it.  A read-only
 * store changes nothing.  Returns 1 when atime moved, 0 when it did not,
 * or -ENOENT.  libslot 1.15.
 */
#define SLOT_ATIME_RELATIVE 0u
#define SLOT_ATIME_STRICT   1u
int slot_ns_accessed(struct slot_store *s, slot_ino_t ino, unsigned rule);
/*
 * Make any kind of object, as a POSIX file system with ACLs does: when
 * SLOT_NS_ACL is given and parent has a default ACL, the new object (not a
 * symlink) takes it as its access ACL masked by the create mode, and a
 * directory takes it as its default ACL too (POSIX.1e); otherwise the
 * permission bits lose those in umask.
 */
struct slot_ns_new {
	uint32_t mode;          /* type (none: a regular file) and bits */
	uint32_t umask;
	uint32_t uid, gid;
	uint64_t rdev;          /* character and block devices */
	const char *target;     /* symlinks: required, and only for them */
	unsigned flags;
};
#define SLOT_NS_ACL (1u << 0)   /* inherit the parent's default ACL */
int slot_ns_make(struct slot_store *s, slot_ino_t parent, const char *name,
		 const struct slot_ns_new *nw, struct slot_attr *out);
/* Make a regular file, FIFO, socket or device node (mode says which). */
int slot_ns_mknod(struct slot_store *s, slot_ino_t parent, const char *name,
		  uint32_t mode, uint64_t rdev, uint32_t uid, uint32_t gid,
		  struct slot_attr *out);
int slot_ns_mkdir(struct slot_store *s, slot_ino_t parent, const char *name,
		  uint32_t mode, uint32_t uid, uint32_t gid,
		  struct slot_attr *out);
int slot_ns_symlink(struct slot_store *s, slot_ino_t parent, const char *name,
		    const char *target, uint32_t uid, uint32_t gid,
		    struct slot_attr *out);
/* Copies the target, NUL-terminated; returns its length. */
int slot_ns_readlink(struct slot_store *s, slot_ino_t ino, char *buf,
		     size_t cap);
int slot_ns_link(struct slot_store *s, slot_ino_t ino, slot_ino_t newparent,
		 const char *newname, struct slot_attr *out);
int slot_ns_unlink(struct slot_store *s, slot_ino_t parent, const char *name);
int slot_ns_rmdir(struct slot_store *s, slot_ino_t parent, const char *name);
/* Atomic; replaces an existing target as rename(2) does. */
int slot_ns_rename(struct slot_store *s, slot_ino_t parent, const char *name,
		   slot_ino_t newparent, const char *newname, unsigned flags);
/*
 * List dir from cookie (0 = start).  fn gets each entry and the cookie that
 * resumes after it; a non-zero return stops the listing (not an error).
 */
int slot_ns_readdir(struct slot_store *s, slot_ino_t dir, uint64_t cookie,
		    int (*fn)(void *arg, const char *name,
			      const struct slot_attr *attr, uint64_t next),
		    void *arg);
/*
 * Hold an inode, so that a node whose last name went keeps its data and
 * answers until the last hold goes.  slot_ns_open holds it for an open
 * file (as POSIX asks of an unlinked open file), and slot_ns_release or
 * slot_ns_unhold drops that; libslot 1.16.  A FUSE front end also holds
 * it (slot_ns_hold) for each reference the kernel keeps (its lookup
 * count), dropped by slot_ns_forget, so that a node the kernel still
 * knows answers (fstat of an O_PATH descriptor, ls in a removed working
 * directory).  A removed file held but not open is taken to go soon (the
 * kernel's forget follows the unlink): an allocation, a name or an
 * attribute short of room waits a moment for it before it says ENOSPC.
 */
int slot_ns_hold(struct slot_store *s, slot_ino_t ino);
int slot_ns_open(struct slot_store *s, slot_ino_t ino);
/* Drop n holds at once (FUSE's forget); libslot 1.12. */
int slot_ns_forget(struct slot_store *s, slot_ino_t ino, uint64_t n);
/* Drop an open file's hold and start writing out what it buffered. */
int slot_ns_release(struct slot_store *s, slot_ino_t ino);
/* The same, touching no device: for a handle that wrote nothing. */
int slot_ns_unhold(struct slot_store *s, slot_ino_t ino);

/*
 * Extended attributes of an object of any type.  A name is 1 to
 * SLOT_XATTR_NAME_MAX bytes with no NUL, a value at most
 * SLOT_XATTR_SIZE_MAX bytes, and one object's names and values together at
 * most SLOT_XATTR_OBJ_MAX bytes.  What a name means (user., trusted.,
 * security.) is the caller's business, but for the ACLs below.  A change
 * moves ctime and becomes
 * durable with the next checkpoint: slot_file_fsync of the object, or
 * slot_sync, takes one.
 */
#define SLOT_XATTR_NAME_MAX 255
#define SLOT_XATTR_SIZE_MAX 65536
#define SLOT_XATTR_OBJ_MAX  65536
/*
 * The one system. namespace the store knows (others: -EOPNOTSUPP): POSIX
 * ACLs in the Linux xattr form (FORMAT.md, "ACLs").  A value is checked
 * (-EINVAL); one with no entries removes the ACL, and removing one that
 * is not there is no error, as on ext4.  Setting an access ACL
 * sets the mode's permission bits from it, and stores nothing when the
 * bits say all it says; slot_ns_setattr of the mode rewrites the ACL to
 * match.  A default ACL belongs to a directory only (-EACCES).  Who may
 * set them is the caller's business.
 */
#define SLOT_XATTR_ACL_ACCESS  "system.posix_acl_access"
#define SLOT_XATTR_ACL_DEFAULT "system.posix_acl_default"
#define SLOT_XATTR_CREATE   (1u << 0)  /* -EEXIST if it exists */
#define SLOT_XATTR_REPLACE  (1u << 1)  /* -ENODATA unless it exists */

/* Set name to value[0, len).  -ERANGE for a bad name, -E2BIG for a value
 * too long, -ENOSPC when the object's or the store's attribute room is
 * full. */
int slot_xattr_set(struct slot_store *s, slot_ino_t ino, const char *name,
		   const void *value, size_t len, unsigned flags);
/* Copy name's value to buf and return its length; cap 0 only asks the
 * length.  -ENODATA when there is no such name, -ERANGE when cap is too
 * small. */
ssize_t slot_xattr_get(struct slot_store *s, slot_ino_t ino,
		       const char *name, void *buf, size_t cap);
/* The names, each followed by a NUL, into buf; returns their bytes.  cap
 * 0 only asks the length; -ERANGE when cap is too small. */
ssize_t slot_xattr_list(struct slot_store *s, slot_ino_t ino, char *buf,
			size_t cap);
int slot_xattr_remove(struct slot_store *s, slot_ino_t ino, const char *name);

/* Read up to len bytes at off; holes read as zeros.  Returns bytes read. */
ssize_t slot_file_read(struct slot_store *s, slot_ino_t ino, uint64_t off,
		       void *buf, size_t len);
/*
 * The same bytes, not copied: fn gets them as segments of the store's own
 * buffers (zeros for holes), for a caller that sends them on (a FUSE
 * reply) and would otherwise copy them twice.  fn runs once, before this
 * returns, exactly when the read succeeded (with no segments at the end
 * of the file); the segments stay valid until it returns, and it may call
 * into the store.  Returns what fn returned, or a negative errno without
 * calling fn.
 */
typedef int (*slot_read_fn)(void *arg, const struct iovec *iov, int iovcnt);
int slot_file_read_iov(struct slot_store *s, slot_ino_t ino, uint64_t off,
		       size_t len, slot_read_fn fn, void *arg);
/*
 * Many slot_file_read_iov calls at once, their device reads sent together:
 * for a caller serving many small reads (FUSE at a deep queue), which would
 * otherwise keep the device at depth 1 per thread.  Each result is what its
 * fn returned or a negative errno, exactly as from slot_file_read_iov; an
 * I/O error fails only the reads it touched.  Returns 0, or -ENOMEM with
 * no read done.
 */
struct slot_read {
	slot_ino_t ino;
	uint64_t off;
	size_t len;
	slot_read_fn fn;
	void *arg;
	int result;
};
int slot_file_read_many(struct slot_store *s, struct slot_read *rs, size_t n);
/*
 * Write len bytes at off, extending the file as needed.  New data goes to
 * fresh slots; the index switches to them only when they are written, so a
 * crash never exposes a half-written slot.  Returns bytes written: fewer
 * than len when a failure stopped it after some landed (bytes land in file
 * order, so the count is exact), an error when none did.
 */
ssize_t slot_file_write(struct slot_store *s, slot_ino_t ino, uint64_t off,
			const void *buf, size_t len);
/*
 * Hints for a front end that serves quick requests in the thread that
 * reads them: whether slot_file_write(s, ino, off, len), or
 * slot_ns_release(s, ino), may wait on the device.  false means the call
 * copies into a write buffer or queues a write-out; it may still wait a
 * moment for a chunk lock that a write-out holds.  The answer can change
 * before the call, so a wrong false costs a wait, nothing else.
 */
bool slot_file_write_waits(struct slot_store *s, slot_ino_t ino, uint64_t off,
			   size_t len);
/* The same for slot_file_zero(s, ino, off, len, keep_size): false when
 * the range lies inside one chunk's data, short of its end, and so is
 * zeroed as a write; libslot 1.17. */
bool slot_file_zero_waits(struct slot_store *s, slot_ino_t ino, uint64_t off,
			  uint64_t len);
bool slot_ns_release_waits(struct slot_store *s, slot_ino_t ino);
/* The same for a truncation to size (slot_ns_setattr with SLOT_SET_SIZE):
 * false when it only drops whole chunks and changes the size (no chunk
 * buffered, none cut in the middle, no write running); libslot 1.12. */
bool slot_file_truncate_waits(struct slot_store *s, slot_ino_t ino,
			      uint64_t size);
/*
 * Bytes [off, off + len) of ino read as zeros afterwards (fallocate's
 * PUNCH_HOLE and ZERO_RANGE): chunks whose data lies wholly in the range
 * become holes and give their slots back; the chunks at its ends are
 * rewritten, after their buffers are written out.  A range inside one
 * chunk's data, short of its end, is zeros written as slot_file_write
 * writes them: buffered, durable with fsync.  keep_size: the size stays;
 * else a shorter file grows to off + len.  Space slot_file_allocate set
 * aside for the chunks wholly in the range is given back.  Durable, as
 * truncation, with the next checkpoint (fsync).
 */
int slot_file_zero(struct slot_store *s, slot_ino_t ino, uint64_t off,
		   uint64_t len, bool keep_size);
/*
 * fallocate(2)'s modes 0 and KEEP_SIZE: set aside the space the chunks of
 * [off, off + len) that hold no data yet will take, so that their first
 * writes cannot fail for want of it (rewrites of a chunk still take a
 * fresh slot each, as every write does).  Other writers get -ENOSPC
 * first.  keep_size: the size stays; else a shorter file grows to off +
 * len.  A truncation below a chunk, a hole punched over it or the file's
 * end gives its space back.  -ENOSPC: the free space cannot hold it
 * (nothing set aside).  Durable with the next checkpoint (fsync).
 */
int slot_file_allocate(struct slot_store *s, slot_ino_t ino, uint64_t off,
		       uint64_t len, bool keep_size);
/*
 * lseek(2)'s SEEK_DATA (hole false) and SEEK_HOLE (hole true): into *out,
 * the first offset at or after off that holds data, or that is in a hole
 * (the end of the file counts as one).  Data is tracked a 4 KiB block at
 * a time within a chunk, and chunks still buffered in memory are data.
 * -ENXIO when off is at or past the end of the file, or no data follows.
 */
int slot_file_seek(struct slot_store *s, slot_ino_t ino, uint64_t off,
		   bool hole, uint64_t *out);
/* Make the file's data, size and name durable, and every name made,
 * linked, removed or moved before the call (the journal). */
int slot_file_fsync(struct slot_store *s, slot_ino_t ino, bool datasync);
/* Make everything durable: every file's data, every name and attribute
 * (writes out what files buffer, then slot_sync). */
int slot_dir_fsync(struct slot_store *s, slot_ino_t ino);

struct slot_statfs {
	uint64_t block_size;    /* 4096 */
	uint64_t blocks, blocks_free;
	uint64_t files, files_free;
	uint32_t name_max;
};
int slot_statfs(struct slot_store *s, struct slot_statfs *out);
/*
 * Discard (TRIM) the free space of the device range [start, start + len)
 * in runs of at least minlen bytes, as FITRIM (fstrim) asks of a file
 * system: free slots and unassigned regions, never a slot the durable
 * checkpoint may still point at, nor a region or superblock header.  It
 * takes a checkpoint first when deletions wait for one, so that their
 * slots go too.  On an image file the space becomes holes the host gets
 * back.  *trimmed: bytes discarded; a region all of whose free space a
 * trim discarded is passed by until a slot in it is freed, as ext4
 * passes by groups.  -EOPNOTSUPP when the device cannot discard.  A
 * write short of room meanwhile waits for the region being discarded.
 */
int slot_trim(struct slot_store *s, uint64_t start, uint64_t len,
	      uint64_t minlen, uint64_t *trimmed);
/*
 * Online discard (ext4's -o discard), off at open: the periodic checkpoint
 * thread then trims the whole device (as slot_trim) in each period in
 * which slots were freed, so their space goes back within a period.
 * -EROFS on a read-only store, -EOPNOTSUPP when the device cannot
 * discard.  (A setter, not a slot_opts field: the struct's size is ABI.)
 */
int slot_set_discard(struct slot_store *s, bool on);

/* ------------------------------------------------------------------ */
/* Status                                                              */
/* ------------------------------------------------------------------ */

struct slot_status {
	uint64_t inflight_io_count;     /* puts from allocate to commit, plus
					   reads in progress */
	uint64_t metadata_dirty_total;  /* index changes ever made */
	uint64_t metadata_persisted;    /* ... of which a checkpoint holds */
	uint64_t metadata_seq;          /* seq of the newest checkpoint */
	uint64_t checkpoints;           /* checkpoints written this open */
	int64_t last_checkpoint_unix_ms;/* wall clock; 0 none yet */
	int64_t last_io_age_ms;         /* since the last successful I/O */
	uint64_t key_count;             /* regular files */
	uint64_t object_count;          /* all inodes */
	uint64_t slots_total, slots_free, slots_used;
	uint64_t regions_total, regions_free;
	uint64_t bytes_total, bytes_free; /* payload capacity */
	uint64_t lock_acquisitions;     /* store lock, ever */
	uint64_t puts, gets, deletes, canceled_puts;
	uint64_t checksum_errors;
	uint32_t queue_depth;
	struct slot_dev_stats io;
	bool read_only;
	bool clean_at_open;
	char engine[16];
};

int slot_status_get(struct slot_store *s, struct slot_status *st);
/*
 * Figures struct slot_status lacks, added since libslot 1.10.  Set size to
 * sizeof(struct slot_status_ext) first: a later library with more fields
 * fills only what the caller's struct holds (and sets size to that).
 */
struct slot_status_ext {
	size_t size;
	/* regions emptied so that a class short of slots could grow (the
	 * chunks in them copied to their class's other slots), and those
	 * tried that could not be emptied; since open */
	uint64_t compaction_regions, compaction_failed;
	uint64_t compaction_chunks, compaction_bytes;   /* copies made */
	/* errors found in use since open (recorded in the superblock for
	 * fsck), and whether errors=remount-ro has stopped writes */
	uint64_t fs_errors;
	bool errors_ro;
	/* the longest a checkpoint held the store lock, so that puts and
	 * writes waited (it copies the index under it): in the last
	 * checkpoint, and in any since open; nanoseconds (libslot 1.11) */
	uint64_t ckpt_lock_ns_last, ckpt_lock_ns_max;
	/* regular files whose last name went that no open file holds but
	 * something still does (a FUSE kernel until its forget, an O_PATH
	 * descriptor), and allocations waiting now for them to go; libslot
	 * 1.16 */
	uint64_t removed_held, removed_waiting;
};
int slot_status_ext_get(struct slot_store *s, struct slot_status_ext *st);
/* Its Prometheus text, to follow slot_status_prometheus's (the same
 * return). */
int slot_status_ext_prometheus(const struct slot_status_ext *e, char *buf,
			       size_t cap);
/*
 * Render status as JSON or as Prometheus text exposition.  They return the
 * length written (not counting the NUL), or -ENOSPC when cap is too small.
 */
int slot_status_json(const struct slot_status *st, char *buf, size_t cap);
int slot_status_prometheus(const struct slot_status *st, char *buf,
			   size_t cap);

/* ------------------------------------------------------------------ */
/* Check and repair (fsck.slotfs), dump (slotfs-dump)                  */
/* ------------------------------------------------------------------ */

enum slot_fsck_mode {
	SLOT_FSCK_CHECK = 0,    /* -n: report only, open read-only */
	SLOT_FSCK_REPAIR,       /* -y */
	/* -p: repair what a crash leaves (e2fsck's preen); with anything
	 * else, report all and fix none: SLOT_FSCK_UNCORRECTED.  The device
	 * is opened for writing.  libslot 1.13. */
	SLOT_FSCK_PREEN,
};

/* e2fsck's exit bits */
#define SLOT_FSCK_OK          0
#define SLOT_FSCK_FIXED       1
#define SLOT_FSCK_UNCORRECTED 4
#define SLOT_FSCK_ERROR       8
#define SLOT_FSCK_USAGE       16

struct slot_fsck_opts {
	enum slot_fsck_mode mode;
	bool force;             /* -f: check even when clean */
	bool verbose;
	/* A problem found: code (e.g. "PR_SB_PRIMARY_BAD"), message, fixed?  */
	void (*problem)(void *arg, const char *code, const char *msg,
			bool fixed);
	/* Progress of the current pass, done of total units. */
	void (*progress)(void *arg, const char *pass, uint64_t done,
			 uint64_t total);
	void *arg;
};

struct slot_fsck_result {
	int exit_code;          /* SLOT_FSCK_* bits */
	uint64_t problems, fixed;
	uint64_t files, dirs, slots_used, slots_total;
	bool was_clean_skip;    /* clean and not forced: nothing checked */
	/* 4 KiB blocks of data capacity, as statfs (df) counts them: the
	 * total is fixed by mkfs, unlike slots_total, which counts the slots
	 * of the regions a class has taken so far */
	uint64_t blocks_used, blocks_total;
};

/* Check (and repair) the file system on dev.  -EFBIG: dev is too short
 * for the file system's regions and a repair was asked (nothing is
 * written: its size must come back), or cut short of the metadata area
 * or of every region (nothing to check either);
 * -ESTALE: both checkpoints are sound but of another uuid than the
 * superblocks (theirs is damaged; nothing is written). */
int slot_fsck(struct slot_dev *dev, const struct slot_fsck_opts *o,
	      struct slot_fsck_result *r);
/* Decode every on-disk structure and print it (slotfs-dump). */
int slot_dump(struct slot_dev *dev, FILE *out, bool slots);
/* The superblock in words, as tune2fs -l lists ext4's (tune.slotfs -l):
 * -EINVAL when dev holds no slotfs, -EUCLEAN when both copies are
 * damaged. */
int slot_describe(struct slot_dev *dev, FILE *out);
/*
 * A new label (at most SLOT_LABEL_MAX bytes) in both superblocks.  Open
 * dev exclusive: a store open on it would write its own superblock back.
 * -EINVAL: no slotfs, or a label too long; -EUCLEAN: the primary
 * superblock is damaged (fsck mends it).
 */
int slot_set_label(struct slot_dev *dev, const char *label);
/* The same on an open store, in use or not (a mount answers
 * FS_IOC_SETFSLABEL with it): -EINVAL for a label too long, -EROFS. */
int slot_store_set_label(struct slot_store *s, const char *label);
/*
 * A new UUID in both superblocks, as tune2fs -U gives ext4 one (a copied
 * device must be told from its original).  Only the superblocks are
 * written: the other headers keep the UUID they carry, which the
 * superblock then records beside the new one, and slotfs before libslot
 * 1.9 refuses to open the store (-EPROTONOSUPPORT) until the UUID is set
 * back to that one.  The same rules as for a label; -EINVAL for the nil
 * UUID too.
 */
int slot_set_uuid(struct slot_dev *dev, const uint8_t uuid[16]);
/* The same on an open store, in use or not (a mount answers
 * SLOTFS_IOC_SET_UUID with it): -EINVAL, -EROFS. */
int slot_store_set_uuid(struct slot_store *s, const uint8_t uuid[16]);

/*
 * What an error found in use (a slot failing its checksum, a checkpoint
 * that cannot be written, index records dropped at open) does, as ext4's
 * errors=.  Every error is logged and recorded in the superblock (state
 * "with errors", a count, the first and last time), so that fsck.slotfs
 * checks the file system at its next run and clears the record.  With
 * SLOT_ERRORS_CONTINUE, the default, the store goes on; with
 * SLOT_ERRORS_RO it takes no more writes (-EROFS), as errors=remount-ro.
 */
enum slot_errors {
	SLOT_ERRORS_DEFAULT = 0,        /* the superblock's (continue) */
	SLOT_ERRORS_CONTINUE = 1,
	SLOT_ERRORS_RO = 2,
};
/* The behaviour the superblock keeps, which every open follows unless
 * told otherwise (tune.slotfs -e, as tune2fs -e); the same rules as
 * slot_set_label; -EINVAL for an unknown one. */
int slot_set_errors(struct slot_dev *dev, enum slot_errors e);
/* For this open only (slotfs -o errors=); SLOT_ERRORS_DEFAULT goes back
 * to the superblock's.  -EINVAL for an unknown one. */
int slot_store_set_errors(struct slot_store *s, enum slot_errors e);

#ifdef __cplusplus
}
#endif
#endif /* SLOT_H */
