/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what the parts of core/ share.  Nothing outside core/ and
 * the tests includes this.
 */
#ifndef SLOT_INTERNAL_H
#define SLOT_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format.h"
#include "slot.h"

#define SL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define SL_ALIGN_UP(x, a) (((x) + (a) - 1) / (a) * (a))

/* ------------------------------------------------------------------ */
/* Devices (dev.c and the engines)                                     */
/* ------------------------------------------------------------------ */

/* Counters every engine keeps; dev.c owns the accounting. */
struct sl_dev_counters {
	atomic_uint_fast64_t submitted, completed, errors, flushes;
	atomic_uint_fast64_t submit_calls;      /* sends of >= 1 request */
	atomic_uint_fast64_t bytes_read, bytes_written;
	atomic_uint sq_depth, sq_depth_max, cq_depth_max;
	unsigned queue_depth;
};
/* Account n submissions / completions; keeps the high-water marks. */
void sl_dev_count_submit(struct sl_dev_counters *c, unsigned n);
void sl_dev_count_reap(struct sl_dev_counters *c, unsigned n);
/* The counters of a device made by one of core's engines. */
struct sl_dev_counters *sl_dev_counters(struct slot_dev *dev);

/*
 * The segments of io's bytes from byte done on, into out (room for
 * SLOT_IO_IOV_MAX); returns how many, or -EINVAL for a request whose
 * segments are malformed or do not add up to len.  A plain request is one.
 */
int sl_io_segments(const struct slot_io *io, uint32_t done, struct iovec *out);
/* Copy between io's bytes and len bytes at mem (a valid request). */
void sl_io_copy(const struct slot_io *io, uint8_t *mem, bool to_io);
/* A write's error as slotfs reports it: a device set read-only, -EROFS. */
int sl_dev_write_errno(int err);
/* Finish io from byte done on with preadv/pwritev, retrying short and
   interrupted transfers; returns the bytes (len) or a negative errno. */
int sl_dev_io_sync(int fd, struct sl_dev_counters *c, struct slot_io *io,
		   uint32_t done, bool write);

/* Discard [off, off + len) of the open file or block device fd: a hole
 * punched in a file, BLKDISCARD on a device.  -EOPNOTSUPP where neither
 * works. */
int sl_fd_discard(int fd, uint64_t off, uint64_t len);
/* Read or write len bytes at off as one batch of requests of <= 1 MiB. */
int sl_dev_span(struct slot_dev *dev, bool write, uint64_t off, void *buf,
		size_t len);

/* Allocate n bytes aligned to SL_BLOCK (zeroed); free with free(). */
void *sl_alloc_aligned(size_t n);
/* n bytes, zeroed, SL_BLOCK-aligned; from SL_HUGE on in huge pages where
 * the kernel has them (a 2 MiB page is one fault, not 512), sl_big_len(n)
 * bytes of them, faulted in now if asked (a buffer filled under a lock).
 * Free with sl_free_big(p, n). */
#define SL_HUGE ((size_t)2 << 20)
static inline size_t sl_big_len(size_t n)
{
	return SL_ALIGN_UP(n ? n : 1, SL_HUGE);
}
void *sl_alloc_big(size_t n, bool fault_in);
void sl_free_big(void *p, size_t n);

/*
 * Engines (dev_uring.c, dev_psync.c): build a device on an open fd; it
 * owns fd from then on (close op closes it).  name is copied.  dev.c picks
 * the engine; slot_dev_engine_name() tells them apart by ops.
 */
int sl_uring_create(int fd, unsigned queue_depth, uint64_t size,
		    uint32_t block_size, const char *name,
		    struct slot_dev **out);
int sl_psync_create(int fd, unsigned queue_depth, uint64_t size,
		    uint32_t block_size, const char *name,
		    struct slot_dev **out);
extern const struct slot_dev_ops sl_uring_ops, sl_psync_ops, sl_emu_ops;
/* The fd an engine's device owns. */
int sl_uring_fd(void *ctx);
int sl_psync_fd(void *ctx);
/* Read again the size of a device core opened (an image or a block device
 * grown while in use); another device keeps the size it came with. */
int sl_dev_size_refresh(struct slot_dev *dev);

/* ------------------------------------------------------------------ */
/* Index: objects, directories, names (index.c)                        */
/* ------------------------------------------------------------------ */

struct sl_chunk {
	uint64_t slot;          /* region << 32 | index */
	uint64_t gen;
	uint64_t csum;          /* payload_csum of its slot header; 0: not
				   known (a get then reads the header) */
	uint32_t idx;           /* chunk number in the object */
	uint32_t len;           /* payload bytes in the slot */
};

#define SL_DE_DEAD    (1u << 0)   /* removed; waits for compaction */
#define SL_DE_PENDING (1u << 1)   /* a put not yet committed: invisible */

struct sl_dirent {
	struct sl_dirent *hnext;
	uint64_t parent, child;
	uint64_t cookie;        /* readdir position, grows per directory */
	uint32_t hash;
	uint16_t len;
	uint8_t flags;
	char name[];            /* NUL-terminated */
};

struct sl_dir {
	struct sl_dirent **ents;  /* in cookie order, dead ones included */
	uint32_t n, cap, live;
	bool gone_listed;       /* in sl_index.gone_dirs (in live's padding) */
	uint64_t next_cookie;
	uint64_t parent;        /* oid of "..": the directory that names it */
};

#define SL_OBJ_DELETED   (1u << 0)  /* unlinked or replaced: free when idle */
#define SL_OBJ_NAMED     (1u << 1)  /* a slot header carries its current name */
#define SL_OBJ_IN_CKPT   (1u << 2)  /* the durable checkpoint has it */
#define SL_OBJ_PENDING   (1u << 3)  /* created by a put still in flight */
#define SL_OBJ_ATTR_DIRTY (1u << 4) /* attributes (or the size, when the
				       newest header's lagged: ext.c) newer
				       than any slot header */
#define SL_OBJ_NEWCKPT   (1u << 5)  /* in the checkpoint being written */
#define SL_OBJ_SNAP_NAMED (1u << 6) /* its name is in the checkpoint being
				       written (a rename clears it) */
#define SL_OBJ_CKPT_OWED (1u << 7)  /* changes no slot header carries, so
				       only a checkpoint makes them durable:
				       xattrs, punched holes (a write after
				       them does not clear it) */
#define SL_OBJ_SNAP_DIRTY (1u << 8) /* the checkpoint being written took
				       its ATTR_DIRTY, CKPT_OWED or CUT away:
				       they come back (CUT as CKPT_OWED) if
				       it fails */
#define SL_OBJ_EXT       (1u << 10) /* may have entries in ext.c's table */
#define SL_OBJ_RESV      (1u << 11) /* has chunks set aside (resv.c) */
#define SL_OBJ_RESV_OWED (1u << 12) /* ... changed since the checkpoint */
#define SL_OBJ_MOVING    (1u << 13) /* compaction copies a chunk of it
				       without the chunk's lock: writes of
				       it wait (sl_wslots_alloc) */
#define SL_OBJ_JNL_NAMING (1u << 14) /* its name is in the journal slot
				       being written (a rename clears it) */
#define SL_OBJ_JNL_MADE  (1u << 15) /* a durable journal slot made it:
				       recovery names it from the journal,
				       not from its slot headers */
#define SL_OBJ_CUT       (1u << 9)  /* a truncation dropped chunks, which
				       recovery drops only past a later
				       header's size: a hole left below the
				       size needs a checkpoint (file.c) */
/*
 * SL_OBJ_NAMED says recovery will find the object under its current name:
 * the durable checkpoint has that name, or (for an object the checkpoint
 * lacks) its newest slot header does.  Recovery renames only objects the
 * checkpoint lacks, so a header never makes a checkpointed object NAMED.
 */
#define SL_OBJ_UNNAME (SL_OBJ_NAMED | SL_OBJ_SNAP_NAMED | SL_OBJ_JNL_NAMING)

/*
 * A chunk being written piecemeal, kept in memory until it fills or the
 * file is flushed, synced or closed: small appends then cost one slot
 * write per chunk, not one per append.  A slot of the largest class is
 * reserved when the buffer is made, so a full device answers the write
 * that found it full, never a later close.
 */
/* A block of a sparse write buffer: block k of the chunk, at p, whose
 * bytes [lo, hi) were written (the rest are the device's, or zeros). */
struct sl_wpage {
	uint32_t k;
	uint32_t lo, hi;
	uint8_t *p;
	bool jnl;               /* its bytes as they are went into a WRITE
				   record (jnl.c); a write clears it */
};

struct sl_wbuf {
	struct sl_wbuf *next;
	struct sl_wbuf *hnext;  /* in wb_hash */
	uint64_t oid;
	uint32_t idx;           /* chunk number */
	uint32_t len;           /* bytes of the chunk it holds, from 0 */
	uint8_t *buf;           /* header block, then chunk_size bytes;
				   NULL: a sparse buffer */
	/* A sparse buffer holds only the blocks written, sorted by k; the
	 * chunk's first base bytes under the others (and under a block's
	 * bytes not written) are on the device (the chunk the index
	 * holds), and past base are zeros.  It needs no read when made,
	 * and memory in proportion to what was written, so small writes
	 * scattered over a big file gather in many chunks, each rewritten
	 * once for all of its writes. */
	struct sl_wpage *pg;
	uint32_t npg, cappg;
	uint32_t base;
	bool queued;            /* handed to the flushers to make room */
	uint64_t reserve;       /* the reserved slot */
	bool reserved;
	/* a write-out has it (buf in use, reservation its own); dropped
	 * meanwhile: unhooked, freed by the write-out, which installs
	 * nothing */
	bool flushing, dropped;
	int64_t born;           /* mono ns: the periodic flush ages it */
	struct sl_ext *ext;     /* it takes the file past its safe size */
	/* 1 + the lsn of the first journal slot with a WRITE record of it
	 * (0: none): till it is written out, a checkpoint keeps that slot
	 * and the ones after it (jnl_data_slots) */
	uint64_t jlsn;
};

/* A chunk that took its file past the size a crash would show, until a
 * device flush covers it (ext.c). */
#define SL_RESV_BUCKETS 256u    /* files with chunks set aside: few */
/* Journal slots one sync writes at most (jnl.c; 4 MiB of records at
 * the defaults: 20,000 deletions or more); records past them wait for a
 * checkpoint. */
#define SL_JNL_SYNC_SLOTS 16u
#define SL_WB_TOTAL 48u         /* write buffers of a store (pool-sized) */
#define SL_WBS_MAX 1024u        /* sparse write buffers of a store */
#define SL_WBS_BYTES (32u << 20)        /* the blocks they hold, at most */
#define SL_WB_HASH 2048u        /* buckets of wb_hash */
struct sl_resv;

struct sl_ext {
	struct sl_ext *next;
	struct sl_ext *wnext;   /* in ext_written, once written */
	uint64_t oid;
	uint64_t floor;         /* the size the file could show before it */
	uint64_t epoch;         /* flush_begun when written; ~0: not yet */
	uint32_t idx;
};

/* 152 bytes, malloc's 160-byte size: a file of one chunk and its name cost
 * about 256 bytes in all (README, "Limits"); mind the size when adding. */
struct sl_obj {
	struct sl_obj *hnext;
	uint64_t oid;
	uint32_t mode, uid, gid, nlink;
	uint64_t size;
	int64_t atime, mtime, ctime;    /* ns since the epoch */
	uint64_t txn;                   /* newest committed whole txn */
	struct sl_chunk *chunks;        /* sorted by idx: &one, or an array
					   (index.c sizes it) */
	uint32_t nchunks;
	uint16_t flags;
	uint8_t wb_err;                 /* a background write-out failed
					   (its errno): the next fsync says
					   so */
	uint8_t opens;                  /* of holds, the open files
					   (slot_ns_open); saturated: open
					   till unmount */
	uint32_t holds;                 /* open files and the kernel's
					   references (slot_ns_hold) */
	uint32_t busy;                  /* puts and writes in flight */
	union {
		struct sl_dir *dir;     /* S_ISDIR */
		char *target;           /* S_ISLNK */
		uint64_t rdev;          /* S_ISCHR, S_ISBLK (sl_obj_rdev) */
	};
	struct sl_dirent *name;         /* one live name of it, or NULL */
	struct sl_wbuf *wb;             /* buffered chunks (file.c) */
	struct sl_chunk one;            /* the chunks of most files: one */
};
_Static_assert(sizeof(struct sl_obj) <= 152, "sl_obj outgrew its malloc size");

/* One object's extended attributes, kept beside the index (few objects
 * have any, and sl_obj has no room to spare).  ents holds count entries
 * back to back: u8 name_len, u32 value_len (host order), name, value. */
struct sl_xattrs {
	struct sl_xattrs *hnext;
	uint64_t oid;
	uint64_t acl_ops;               /* jnl_ops after its last ACL record:
					   till jnl_ops_done reaches it, a
					   slot header must not give the mode
					   (sl_xa_mode_owed) */
	uint32_t mode_before;           /* the mode before the first of
					   those records: what a slot header
					   gives meanwhile */
	uint32_t len;                   /* bytes of ents */
	uint32_t count;
	uint32_t ck;                    /* bytes of its checkpoint records */
	uint8_t ents[];
};
#define SL_XA_ENT_FIXED 5u              /* name_len, value_len */

struct sl_index {
	struct sl_obj **obj_tab;
	size_t obj_mask, obj_count;
	uint64_t obj_removed;           /* objects freed since the open */
	struct sl_dirent **de_tab;
	size_t de_mask, de_count;
	uint64_t files;                 /* regular files with a name */
	struct sl_xattrs **xa_tab;      /* NULL until an object has one */
	size_t xa_mask, xa_count;
	uint64_t xa_ck;                 /* bytes of all their records */
	uint64_t names_ck;              /* checkpoint bytes of the names and
					   symlink targets (sl_ckpt_room) */
	/* directories that have lost entries since sl_dirs_compact: it
	 * visits only those (oids; a directory removed meanwhile is not
	 * found), or every one when the list could not grow */
	uint64_t *gone_dirs;
	size_t gone_n, gone_cap;
	bool gone_all;
};

int sl_index_init(struct sl_index *ix);
void sl_index_free(struct sl_index *ix);
struct sl_obj *sl_obj_find(struct sl_index *ix, uint64_t oid);
/* New object with no chunks; S_ISDIR modes get a struct sl_dir. */
struct sl_obj *sl_obj_new(struct sl_index *ix, uint64_t oid, uint32_t mode);
void sl_obj_remove(struct sl_index *ix, struct sl_obj *o); /* and free */
/*
 * Prefetch what a lookup will touch first: its bucket, or (deep, once the
 * bucket is in) the bucket's first record.  A batch of lookups issues
 * these for all its keys before it looks any up, so their cache misses
 * overlap instead of following one another.
 */
void sl_de_prefetch(struct sl_index *ix, uint64_t parent, const char *name,
		    size_t len, bool deep);
void sl_obj_prefetch(struct sl_index *ix, uint64_t oid, bool deep);
struct sl_dirent *sl_de_find(struct sl_index *ix, uint64_t parent,
			     const char *name, size_t len);
struct sl_dirent *sl_de_add(struct sl_index *ix, struct sl_obj *dir,
			    const char *name, size_t len, uint64_t child);
void sl_de_remove(struct sl_index *ix, struct sl_obj *dir,
		  struct sl_dirent *de);
/* First live entry with cookie > after, or NULL. */
struct sl_dirent *sl_dir_next(struct sl_obj *dir, uint64_t after);
/* Lock held.  Every directory that lost entries since the last call frees
 * its dead entries if they are half of it or more, and its array shrinks
 * to fit (after a mass deletion). */
void sl_dirs_compact(struct sl_index *ix);
/* The xattrs of oid, or NULL. */
struct sl_xattrs *sl_xa_find(struct sl_index *ix, uint64_t oid);
/* Install x for x->oid, freeing what it replaces; x NULL: drop oid's. */
int sl_xa_set(struct sl_index *ix, uint64_t oid, struct sl_xattrs *x);
/* Set or replace chunk c (kept sorted); returns the old one in *old. */
int sl_obj_set_chunk(struct sl_obj *o, const struct sl_chunk *c,
		     struct sl_chunk *old, bool *had_old);
struct sl_chunk *sl_obj_chunk(struct sl_obj *o, uint32_t idx);
/* The first chunk at or after idx, or NULL. */
struct sl_chunk *sl_obj_chunk_from(struct sl_obj *o, uint32_t idx);
void sl_obj_drop_chunk(struct sl_obj *o, uint32_t idx);
/* Whether a chunk of o was written at gen or later (a slot header newer
 * than a journal record of that gen says more). */
bool sl_obj_written_since(const struct sl_obj *o, uint64_t gen);
/* Object oid's chunk c, if it is still that write (slot and gen), takes
 * csum, its header's payload checksum. */
void sl_chunk_set_csum(struct sl_index *ix, uint64_t oid,
		       const struct sl_chunk *c, uint64_t csum);
/* The device number of a device node, 0 for anything else. */
static inline uint64_t sl_obj_rdev(const struct sl_obj *o)
{
	return S_ISCHR(o->mode) || S_ISBLK(o->mode) ? o->rdev : 0;
}

/* ------------------------------------------------------------------ */
/* The store                                                           */
/* ------------------------------------------------------------------ */

/* Slot states (alloc.c). */
enum {
	SL_SLOT_FREE = 0,
	SL_SLOT_USED,          /* allocated: in flight or in the index */
	SL_SLOT_QUAR,          /* freed; reusable after the next flush */
	SL_SLOT_PIN,           /* freed; the durable checkpoint points at it */
};
#define SL_SLOT_STATE   0x0fu
#define SL_SLOT_CKPT    0x10u   /* the durable checkpoint references it */
#define SL_SLOT_NEWCKPT 0x20u   /* the checkpoint being written does */

struct sl_region {
	uint8_t cls;            /* SL_RGN_FREE when unassigned */
	bool trimmed;           /* its free space is discarded: none freed
				   since (fstrim skips it, as ext4 does) */
	/* the assign_gen whose header is not yet known on the device (0:
	 * none): written before any slot of it is, and before a checkpoint
	 * names it; atomic, so the writer that wrote it clears it without
	 * the lock (a put_many takes that twice) */
	_Atomic uint64_t hdr_owed;
	uint8_t *state;         /* per slot */
	uint32_t nslots, nused;
	uint32_t npend;         /* of nused, freed but not yet reusable
				   (quarantined or pinned) */
	uint64_t assign_gen;
};

struct sl_class {
	uint32_t shift;         /* payload = 1 << shift */
	uint64_t stride;        /* block + payload */
	uint32_t per_region;
	uint64_t *free;         /* stack of free slot refs */
	size_t nfree, cap;
};

struct sl_vec {
	uint64_t *v;
	size_t n, cap;
};
int sl_vec_push(struct sl_vec *v, uint64_t x);
/* qsort and bsearch order of uint64_t, as an sl_vec holds */
int sl_u64_cmp(const void *a, const void *b);

/*
 * A write batch from allocate to commit.  Its slots carry generations from
 * first_gen on; a checkpoint taken meanwhile does not hold them, so its
 * scan_gen must not pass the oldest batch still open.
 */
struct sl_txn {
	struct sl_txn *prev, *next;
	uint64_t first_gen;
};

#define SL_STRIPES 64
#define SL_CHUNK_STRIPES 256

struct slot_store {
	struct slot_dev *dev;
	bool own_dev;
	struct slot_opts opts;
	struct sl_sb sb;
	/* sl_sb_hdr_uuid(&sb), copied once: what every header this store
	 * writes or checks carries; a uuid change never moves it */
	uint8_t hdr_uuid[16];
	struct slot_geometry geo;
	struct slot_recovery rec;

	/* The store lock: the index and the allocator.  Never held across
	 * I/O.  Take it only through sl_lock(), which counts. */
	pthread_mutex_t lock;
	atomic_uint_fast64_t lock_count;

	/* Per-file locks, striped by oid: writes share them, truncation
	 * takes them alone, so a write never lands past a cut it raced. */
	pthread_rwlock_t stripes[SL_STRIPES];
	/* Per-chunk locks, striped by (oid, chunk): held across one chunk's
	 * read-modify-write, so writers of different chunks of one file go
	 * in parallel and writers of the same chunk take turns. */
	pthread_mutex_t chunk_locks[SL_CHUNK_STRIPES];
	/* Readers hold this shared from their index snapshot to the end of
	 * their I/O; a flush takes it alone before quarantined slots return
	 * to use, so no read ever sees a slot reused under it. */
	pthread_rwlock_t reuse_lock;

	/* allocator */
	struct sl_region *regions;
	uint32_t nregions;
	struct sl_vec regions_old;      /* tables slot_grow replaced */
	bool resizing;                  /* a slot_grow or shrink is under way */
	uint32_t alloc_limit;           /* regions from here on take no slot */
	struct sl_class cls[SL_CLASS_MAX];
	unsigned ncls;
	struct sl_vec quar;     /* freed since the last flush began */
	struct sl_vec pin;      /* freed, but the durable checkpoint has them */
	/* of those, taken by a flush (a checkpoint) under way, to be freed
	 * when it is done: an allocation short of room waits for them
	 * (sl_reclaim) rather than say ENOSPC; held_cond says when */
	size_t quar_held, pin_held;
	uint64_t held_bytes;    /* their payload bytes, free to df */
	pthread_cond_t held_cond;
	/* regular files whose last name went, that no one has open, but
	 * that something still holds: the kernel until its forget, which
	 * comes a moment after the unlink's reply.  An allocation short of
	 * room waits a while for them (sl_dying_wait); dying_cond (on
	 * CLOCK_MONOTONIC) says when one goes.  A wait that saw none go
	 * sets dying_floor to the count it found (an O_PATH descriptor may
	 * hold one for good): waits pass by till more than that are dying,
	 * and then wait for those; it comes down as they go.  dying_waits:
	 * waits made */
	size_t dying, dying_waiters, dying_floor;
	uint64_t dying_waits;
	pthread_cond_t dying_cond;
	uint64_t slots_total, slots_used;
	bool loading;           /* open or fsck: claims touch states only;
				   sl_alloc_rebuild() makes the free stacks */
	/* slot_trim holds a region's free space (trim_region's, when it
	 * is unassigned): an allocation short of room waits on trim_cond */
	bool trimming;
	uint32_t trim_region;
	pthread_cond_t trim_cond;
	pthread_mutex_t trim_lock;      /* one slot_trim at a time */
	/* compact.c empties drain_region: its freed slots stay off the free
	 * stack */
	bool draining;
	uint32_t drain_region;
	/* the last compaction could not make its want[] fit: borrow larger
	 * slots (alloc.c) without waiting for another, till the next */
	bool cp_gave_up;
	/* what compaction did since open (slot_status_ext) */
	atomic_uint_fast64_t cp_regions, cp_failed, cp_chunks, cp_bytes;
	pthread_mutex_t compact_lock;   /* one compaction at a time; error
					   checking: a copy it makes that
					   runs short finds it held */
	pthread_cond_t move_cond;       /* an SL_OBJ_MOVING copy landed */

	/* index */
	struct sl_index ix;
	uint64_t next_gen, next_oid;
	struct sl_txn txns;     /* open write batches, a ring with a head */

	/* in-flight accounting: sl_inflight_enter/exit only */
	atomic_uint_fast64_t inflight;
	atomic_int_fast64_t last_io_ns;

	/* checkpoint */
	pthread_mutex_t ckpt_lock;      /* one checkpoint at a time */
	uint64_t dirty_total, persisted;
	uint64_t ckpt_seq;
	uint64_t ckpt_bytes;            /* the last one's size, written */
	uint64_t ckpt_csums;            /* ... and its chunk checksums */
	uint64_t ckpt_count;
	int64_t last_ckpt_ms;
	/* longest store lock hold of the last checkpoint, of any (status) */
	atomic_uint_fast64_t ckpt_lock_last, ckpt_lock_max;
	/* changes slot headers cannot replay (directories, links, symlinks,
	 * renames, removals): sync checkpoints while any is not persisted */
	uint64_t ns_changes, ns_persisted;
	/* regular files whose name or attributes only a checkpoint may
	 * make durable (see slot_sync): their oids (sl_owed_check), or
	 * owed_all when they are too many or unknown (at open, after a
	 * change that takes a checkpoint anyway), which walks the index */
	struct sl_vec owed;
	bool owed_all;
	/* a file unlinked by the name in its o->name kept another, which
	 * the next checkpoint's walk of the names gives it (ns_unname) */
	bool names_lost;
	/* the journal (jnl.c): its id (0: none, read-only), the next lsn,
	 * the records not yet written, how many changes were logged and
	 * how many of them are durable; the journal slots a
	 * checkpoint has not yet replaced; the slots of deleted objects,
	 * free once their deletion is durable; the durable checkpoint's
	 * journal id.  jnl_lock: one journal write at a time.  A TRUNC
	 * record's size holds over data written before it: the write that
	 * takes one flushes before its slot (jnl_barrier), and none takes
	 * it while its chunk cut short is rewritten (jnl_cutting). */
	uint64_t jnl_id, jnl_lsn;
	uint32_t jnl_cutting;
	bool jnl_barrier;
	uint8_t *jnl_buf;
	size_t jnl_len, jnl_cap;
	uint32_t jnl_nrec, jnl_nnames;  /* records; of them, names' */
	/* the journal slots the records fill (jnl.c): slot i's records
	 * begin at jnl_cut[i] in jnl_buf, jnl_cnt[i] of them; the last is
	 * slot jnl_pieces */
	size_t jnl_cut[SL_JNL_SYNC_SLOTS];
	uint32_t jnl_cnt[SL_JNL_SYNC_SLOTS];
	uint32_t jnl_pieces;
	uint64_t jnl_ops, jnl_ops_done;
	/* jnl_slots: pairs (ref, lsn); lsn 0: another journal's, freed by
	 * the next checkpoint */
	struct sl_vec jnl_slots, jnl_hold;
	/* 1 + the first lsn of a journal write under way that holds
	 * WRITE records (0: none): a checkpoint keeps it */
	uint64_t jnl_sync_data;
	/* WRITE records logged that went into no journal slot (their
	 * pages unmarked): an fsync that counted on records logged before
	 * it writes its buffers out when this moved meanwhile */
	uint64_t jnl_data_lost;
	/* recovery: the WRITE records replayed, applied once the index is
	 * whole (sl_file_jnl_apply) */
	struct sl_jnl_data *jnl_pend;
	size_t jnl_npend, jnl_cappend;
	int jnl_pend_err;               /* one could not be kept */
	uint64_t jnl_ckpt_id;
	pthread_mutex_t jnl_lock;
	atomic_uint_fast64_t jnl_writes;        /* journal slots written */
	pthread_t ckpt_thread;
	bool ckpt_thread_on, stopping;
	pthread_cond_t ckpt_cond;

	uint64_t load_badrefs, load_dups;  /* chunk records dropped at load */
	uint64_t load_bad_xattrs;       /* xattr records dropped at load */
	uint64_t jnl_replayed;          /* journal slots recovery replayed */
	/* recovery: the objects (sorted oids) a slot header with MODE_CKPT
	 * gave no mode, or a doubtful one (sl_recover_mode_owed) */
	struct sl_vec rec_mode_owed;
	bool acl_seen;                  /* an ACL was loaded or set (atomic) */
	/* the records dropped for a slot another record claimed first:
	 * fsck gives the slot to whichever its header names */
	struct sl_dup { uint64_t oid; struct sl_chunk c; } *dup_recs;
	size_t ndup_recs;
	/* the objects that load_badrefs took chunks of, and how many: fsck
	 * names them (e2fsck names each inode whose blocks it clears) */
	struct sl_dropped { uint64_t oid; uint32_t n; } *dropped;
	size_t ndropped;

	/* slots freed (alloc.c), and as of the last online discard */
	uint64_t freed_gen, discard_seen;
	atomic_bool discard;            /* slot_set_discard */
	/* extensions not yet durable (ext.c): a table by file, and those
	 * written, oldest first, which a flush retires from the head;
	 * device flushes begun and the newest completed, which date them */
	struct sl_ext **ext_tab;
	size_t ext_mask, ext_count;
	struct sl_ext *ext_written, **ext_written_end;
	uint64_t flush_begun, flush_done;
	/* writes and discards completed (sl_write), and how many of them
	 * the newest completed flush covers: a flush with none since has
	 * nothing to do (from 1 at open: an earlier open's writes) */
	atomic_uint_fast64_t writes_done;
	uint64_t writes_flushed;
	/* ext_log_failure's limit: when it last logged, and how many
	 * failures it has held back since */
	atomic_int_fast64_t wfail_logged_ns;
	atomic_uint_fast64_t wfail_held;
	/* chunks fallocate set aside (resv.c): by file, and in all */
	struct sl_resv *resv_tab[SL_RESV_BUCKETS];
	uint64_t resv_slots;
	uint64_t load_bad_resv;         /* records a checkpoint load dropped */

	/* write buffers (file.c), and the threads that write full ones out
	 * while the writer goes on: a bounded queue, as a device's
	 * submission queue is; when it is full the writer does it itself */
	uint32_t wb_count;
	uint32_t wbs_count;             /* sparse ones */
	uint32_t wbs_blocks;            /* blocks they hold */
	uint32_t wbs_queued;            /* of them, with the flushers */
	/* the buffers by file and chunk (SL_WB_HASH buckets), and the
	 * files that hold any (at most one per buffer: SL_WB_TOTAL +
	 * SL_WBS_MAX), so that the periodic write-out and slot_sync need
	 * not walk the index; made at the first buffer, as a store that is
	 * only read needs neither */
	struct sl_wbuf **wb_hash;
	uint64_t *wb_files;
	uint32_t nwb_files;
	pthread_mutex_t fq_lock;
	pthread_cond_t fq_cond;
	struct sl_fq_job {
		uint64_t ino;
		uint32_t idx;
		bool prefetch;  /* read-ahead, not a write-out */
		bool plug;      /* a closed file's: may wait for company */
		int64_t born;   /* sl_mono_ns() when queued */
	} fq[64];
	unsigned fq_head, fq_len, fq_busy;
	bool fq_stop;
	pthread_t flushers[4];
	unsigned nflushers;

	/* slot_get_many_start, slot_put_many_start: batches (struct
	 * sl_batch) waiting for a worker, kv.c */
	pthread_mutex_t bq_lock;
	pthread_cond_t bq_cond;
	struct sl_batch *bq_head, *bq_tail;
	bool bq_stop;
	pthread_t batch_workers[SLOT_BATCHES_RUNNING];
	unsigned nbatch_workers;    /* started on first use */

	/* Big I/O buffers (a slot of the largest class), carved from
	 * arenas of huge pages and kept for reuse until the store is idle
	 * (sl_buf_pool_shrink) or closed; past the arenas, malloc'd and
	 * freed.  See sl_buf_get. */
	pthread_mutex_t pool_lock;
	struct { uint8_t *base; size_t len; } arenas[4];
	unsigned narenas;
	void *pool[64];                 /* free arena buffers */
	unsigned npool;
	/* Sparse buffers' blocks given back, for the next (a list through
	 * their first bytes; at most SL_WBS_BYTES): a block made by one
	 * thread is freed by another, and glibc's arena per thread kept
	 * each thread's share.  blk_made: blocks ever malloc'd. */
	void *blk_free;
	uint32_t nblk_free;
	uint64_t blk_made;

	/* Large chunks read whole and verified, kept for the reads that
	 * follow: a stream of 128 KiB reads checks each chunk's checksum
	 * once and reads it from the device once. */
	pthread_mutex_t rc_lock;
	pthread_cond_t rc_cond;         /* a loading entry finished */
	struct {
		uint64_t oid, gen, tick;
		uint32_t idx, len;
		uint8_t *buf;   /* slot image: payload at block_size */
		size_t blen;
		bool loading;   /* read ahead, in flight: readers wait */
		unsigned pins;  /* readers handing buf out: not evicted */
	} rc[16];
	uint64_t rc_tick;
	/* the latest reads into large chunks, under rc_lock: where each
	 * ended, to tell a stream from random reads, how many reads in a
	 * row it has continued, and the last chunk fetched ahead of it */
	struct { uint64_t ino, end, tick, ahead; unsigned runs; } rs[16];
	_Atomic(uint8_t *) zeros;       /* a chunk of zeros, for holes */
	/* chunks that failed verification: a later small read of one (the
	 * kernel retries a failed readahead page by page) fails too */
	struct { uint64_t oid, gen; uint32_t idx; } bad[16];
	unsigned nbad;

	/* progress of long scans (fsck) */
	void (*progress)(void *arg, const char *pass, uint64_t done,
			 uint64_t total);
	void *progress_arg;

	/* counters */
	atomic_uint_fast64_t puts, gets, deletes, canceled, csum_errors;
	bool read_only;
	bool opened_rw;         /* the superblock was written at open */

	/* errors found in use (sl_fs_error), not yet in the superblock;
	 * on_error: SL_ERRORS_*, errors_ro: read-only because of one */
	atomic_uint_fast64_t err_new, err_total;
	atomic_int_fast64_t err_first, err_last;        /* unix seconds */
	atomic_uint err_kind;
	atomic_uint on_error;
	atomic_bool errors_ro;
};

void sl_lock(struct slot_store *s);
void sl_unlock(struct slot_store *s);
int64_t sl_now_ns(void);          /* CLOCK_REALTIME */
int64_t sl_mono_ns(void);         /* CLOCK_MONOTONIC */
/* The largest file: chunk numbers are 32 bits, the last unused (FORMAT.md). */
static inline uint64_t sl_file_max(const struct slot_store *s)
{
	return (uint64_t)UINT32_MAX << s->sb.chunk_shift;
}
void sl_log(struct slot_store *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * In-flight accounting, the one place its rule lives: enter when a put
 * allocates or a read starts; exit when it commits or ends.  last_io_ts is
 * stamped only when the I/O succeeded, on every path (reads included), so a
 * failing device cannot hold the idle gate shut.
 */
void sl_inflight_enter(struct slot_store *s, unsigned n);
void sl_inflight_exit(struct slot_store *s, unsigned n, bool ok);

/* Open and close a write batch (lock held); first_gen is next_gen now. */
void sl_txn_begin(struct slot_store *s, struct sl_txn *t);
void sl_txn_end(struct slot_store *s, struct sl_txn *t);
uint64_t sl_txn_min_gen(struct slot_store *s);

/* alloc.c: call with the store lock held */
int sl_alloc_init(struct slot_store *s);
void sl_alloc_free(struct slot_store *s);
unsigned sl_class_for(const struct slot_store *s, uint64_t len);
/* Allocate n slots of the given classes; all or nothing. */
int sl_slots_alloc(struct slot_store *s, const unsigned *cls, size_t n,
		   uint64_t *refs, uint32_t *new_regions, size_t *nnew);
/* Room new_regions needs for an allocation of n slots. */
size_t sl_new_regions_max(const struct slot_store *s, size_t n);
void sl_slot_free(struct slot_store *s, uint64_t ref);
/* A slot of a deleted object: it is reused only once the deletion is
 * durable (a journal slot or a checkpoint has it), so that a crash that
 * brings the object back brings its data too.  Loading: sl_slot_free. */
void sl_slot_free_held(struct slot_store *s, uint64_t ref);
/* Lock held.  Payload bytes of the slots in v. */
uint64_t sl_slots_bytes(const struct slot_store *s, const struct sl_vec *v);
/* Mark a slot used (loading the index); -EUCLEAN if already used. */
int sl_slot_claim(struct slot_store *s, uint64_t ref);
/* Undo a claim made while loading, or free a slot nothing durable names
 * and no reader reads (a journal slot a checkpoint replaced): the slot
 * is free at once. */
void sl_slot_unclaim(struct slot_store *s, uint64_t ref);
/* Loading is over: build every class's free stack from the slot states. */
int sl_alloc_rebuild(struct slot_store *s);
/* Assign region r to class cls (loading or recovery). */
int sl_region_assign(struct slot_store *s, uint32_t r, unsigned cls,
		     uint64_t assign_gen);
/* Give an empty region back to the pool: its slots leave the free stack. */
void sl_region_unassign(struct slot_store *s, uint32_t r);
uint64_t sl_slot_off(const struct slot_store *s, uint64_t ref);
unsigned sl_slot_cls(const struct slot_store *s, uint64_t ref);
bool sl_slot_valid(const struct slot_store *s, uint64_t ref);
uint64_t sl_region_off(const struct slot_store *s, uint32_t r);
int sl_regions_extend(struct slot_store *s, uint32_t n);
int sl_alloc_limit(struct slot_store *s, uint32_t n);
void sl_regions_truncate(struct slot_store *s, uint32_t n);
/* Take the quarantine list (before a flush) and free it (after). */
void sl_quar_take(struct slot_store *s, struct sl_vec *out);
void sl_quar_release(struct slot_store *s, struct sl_vec *taken);
/* What kept the pins taken is durable (the checkpoint that moved on, or
 * the journal slot that holds their deletions): they are free, but for
 * those a checkpoint under way names, which stay pins. */
void sl_pin_release(struct slot_store *s, struct sl_vec *taken);
/* Can a flush or a checkpoint give back space? */
bool sl_alloc_reclaimable(const struct slot_store *s);
/* Lock held.  Short of space: no region free, and too few free slots of
 * the largest class for every write buffer to hold one and a compaction
 * still find room; a buffer then sets aside only the slot its bytes need
 * (file.c). */
bool sl_alloc_tight(const struct slot_store *s);
/* Write headers of newly assigned regions and flush (no lock held). */
int sl_regions_write(struct slot_store *s, const uint32_t *r, size_t n);
/* Flush the device and release the slots quarantined before it. */
int sl_flush(struct slot_store *s);
/* Lock held.  Slots v, taken to be freed once a flush (or a journal
 * write) is done, count as free meanwhile, and an allocation short of
 * room waits for them (held_cond): begin returns their bytes, end takes
 * them off again. */
uint64_t sl_held_begin(struct slot_store *s, const struct sl_vec *v);
void sl_held_end(struct slot_store *s, const struct sl_vec *v, uint64_t bytes);
/* store.c: an error found in use (SL_ERR_*): logged, counted, and with
 * errors=remount-ro the store takes no more writes.  Any lock may be
 * held; sl_fs_errors_record (ckpt_lock held) puts it in the superblock. */
void sl_fs_error(struct slot_store *s, unsigned kind);
int sl_fs_errors_record(struct slot_store *s);
/* A slot failed its checksum or header check: sl_fs_error, counted. */
void sl_csum_error(struct slot_store *s);

/* Make room: wait for dying files (sl_dying_wait), flush, and if that is
 * not enough, checkpoint. No lock held.  1: nothing to reclaim; a
 * negative errno is the flush's or the checkpoint's (ENOSPC too, from
 * an image whose own file system is full). */
int sl_reclaim(struct slot_store *s);
/* ns.c.  No lock held.  Wait up to SL_DYING_WAIT_MS for the dying files
 * (slot_store.dying) to go; whether any went. */
#define SL_DYING_WAIT_MS 200
bool sl_dying_wait(struct slot_store *s);
/* Run call (no lock held), and once more if it found the store full and
 * dying files went meanwhile: a name or an attribute short of checkpoint
 * room gets the room a removed file's records held. */
#define SL_DYING_RETRY(s, call)                                            \
	__extension__({                                                    \
		int err_ = (call);                                         \
		if (err_ == -ENOSPC && sl_dying_wait(s))                   \
			err_ = (call);                                     \
		err_;                                                      \
	})
/* need[] (sl_slots_alloc's) did not fit: remember it for compaction, for
 * this thread's retry.  _take: what this thread's last one asked of s (0s
 * when none), and forget it. */
void sl_alloc_short(struct slot_store *s, const size_t *need);
void sl_alloc_short_take(const struct slot_store *s, size_t *want);
/* Choose a region to empty for need[] (none of skip[]) and take its free
 * slots out of use; -ENOSPC when none would do.  Then sl_drain_end: 0
 * when it emptied (it is unassigned), else -EBUSY (its free slots back). */
int sl_drain_begin(struct slot_store *s, const size_t *need,
		   const uint32_t *skip, size_t nskip, uint32_t *out);
int sl_drain_end(struct slot_store *s);

/* compact.c: after an allocation's -ENOSPC (no lock held): reclaim what
 * a flush or checkpoint frees, then empty regions of other classes until
 * what it wanted fits.  0: try again. */
int sl_alloc_retry(struct slot_store *s);
/* slot_trim without sl_reclaim first: the space free now. */
int sl_trim_free(struct slot_store *s, uint64_t start, uint64_t len,
		 uint64_t minlen, uint64_t *trimmed);

/* Lock held.  Whether h, just written, names o for recovery: recovery
 * names from slot headers only what neither the checkpoint nor the
 * journal names, by its newest header (so h must carry o's name now). */
static inline bool sl_hdr_names(const struct sl_obj *o,
				const struct sl_slot_hdr *h)
{
	return !(o->flags & (SL_OBJ_IN_CKPT | SL_OBJ_JNL_MADE)) && o->name &&
	       h->parent == o->name->parent && h->name_len == o->name->len &&
	       !memcmp(h->name, o->name->name, o->name->len);
}

/* Slot I/O: build a header for a chunk of o (lock held, snapshot). */
void sl_slot_hdr_fill(struct slot_store *s, const struct sl_obj *o,
		      struct sl_slot_hdr *h);
/*
 * Whether h is the header chunk c of object oid was written with: this
 * store's, this object's, this write's.  The payload checksum is the
 * header's to give; an index's c->csum only remembers it.
 */
bool sl_slot_hdr_match(const struct slot_store *s,
		       const struct sl_slot_hdr *h, uint64_t oid,
		       const struct sl_chunk *c);
/* Whether a slot's header (blk) and payload (pl) are chunk c of oid, as
 * the index expects: 0, or -EBADMSG (the caller counts it).  *h: the
 * header. */
int sl_slot_check(const struct slot_store *s, const uint8_t *blk,
		  const void *pl, const struct sl_chunk *c, uint64_t oid,
		  struct sl_slot_hdr *h);
/* A slot sl_slots_read_verify reads: chunk c of oid, whose first len
 * payload bytes go to out. */
struct sl_slot_rd {
	const struct sl_chunk *c;
	uint64_t oid;
	void *out;
	uint32_t len;
};
/*
 * Read slots' headers and payloads, in one submission, and check them
 * against what the index expects (oid, gen, idx, len, checksums).
 * -EBADMSG when one fails the check, counted as a checksum error here
 * (callers answer their own callers -EIO); a device error as the device
 * said it, not counted: the slot may be sound.  The first error wins.
 */
int sl_slots_read_verify(struct slot_store *s, const struct sl_slot_rd *r,
			 size_t n);
/* ... of one chunk c: buf gets its c->len payload bytes. */
int sl_slot_read_verify(struct slot_store *s, const struct sl_chunk *c,
			uint64_t oid, void *buf);
/*
 * After a bare read (the payload alone) failed c->csum: the index only
 * remembers the header's checksum, and a damaged checkpoint can make that
 * memory wrong, so read header and payload and let the header decide
 * (-EBADMSG when it says no, as sl_slot_read_verify).  On success buf holds
 * the payload and the index remembers the header's checksum.  reuse_lock
 * held, store lock not.
 */
int sl_slot_reread(struct slot_store *s, const struct sl_chunk *c,
		   uint64_t oid, void *buf);

/*
 * One slot being written (kv.c, file.c).  The caller fills o, idx, len,
 * flags, txn_chunks and the payload at buf + block_size; sl_wslots_alloc
 * (lock held) picks the slot and snapshots the header; sl_wslots_write
 * (no lock) checksums, encodes and writes them all in one batch.
 */
struct sl_wslot {
	struct sl_obj *o;
	uint32_t idx, len, flags, txn_chunks;
	uint64_t ref;
	uint8_t *buf;           /* aligned: header block, then payload */
	const uint8_t *data;    /* payload written straight from here when
				   block-aligned; NULL: it is in buf */
	bool preset;            /* ref is already held (a reservation) */
	const uint8_t *payload; /* data, or the payload in buf */
	struct sl_slot_hdr hdr;
	int res;
};
/* Allocate n slots, all or nothing; opens txn t and the in-flight window.
 * -EAGAIN, nothing done, while compaction copies a chunk of one of their
 * objects: sl_move_wait, then look the objects up again. */
int sl_wslots_alloc(struct slot_store *s, struct sl_wslot *w, size_t n,
		    struct sl_txn *t, uint32_t *new_regions, size_t *nnew);
int sl_wslots_write(struct slot_store *s, struct sl_wslot *w, size_t n);
/* Lock held: wait until a copy in flight lands. */
void sl_move_wait(struct slot_store *s);
/* Lock held: end the window opened by sl_wslots_alloc; ok says whether
 * every slot was written. */
void sl_wslots_done(struct slot_store *s, struct sl_txn *t, size_t n, bool ok);
/* A buffer for a slot of len payload bytes: header block zeroed, payload
 * not (callers fill or zero it).  Give it back with sl_buf_put. */
uint8_t *sl_wslot_buf(struct slot_store *s, size_t len);
/* Aligned I/O buffers of any size, pooled when big; not zeroed. */
void *sl_buf_get(struct slot_store *s, size_t bytes);
void sl_buf_put(struct slot_store *s, void *p);
void sl_buf_pool_free(struct slot_store *s);
/* The arenas whose buffers are all back, and the sparse buffers' blocks
 * kept for reuse, go back to the system; how many bytes. */
size_t sl_buf_pool_shrink(struct slot_store *s);

/* resv.c.  Lock held.  add: set aside the chunks of [lo, hi) o does not
 * hold (-ENOSPC when the space cannot be promised); take: spend idx's
 * promise, if it has one (only a chunk not yet written has one: call it
 * at any write of idx); give_back: undo a take whose
 * slot could not be had; cut: drop those of [lo, hi); count: what o has
 * set aside. */
int sl_resv_add(struct slot_store *s, struct sl_obj *o, uint32_t lo,
		uint32_t hi);
bool sl_resv_take(struct slot_store *s, struct sl_obj *o, uint32_t idx);
void sl_resv_give_back(struct slot_store *s, struct sl_obj *o, uint32_t idx);
void sl_resv_cut(struct slot_store *s, struct sl_obj *o, uint32_t lo,
		 uint32_t hi);
uint64_t sl_resv_count(const struct slot_store *s, const struct sl_obj *o);
void sl_resv_free(struct slot_store *s);
/* The checkpoint section: its size (records of the objects wanted), the
 * records at p, and the load (objects loaded; damaged records dropped and
 * counted in load_bad_resv).  settle, once recovery is done: drop what
 * chunks now hold and, a file at a time, what the free space cannot keep
 * (how many files lost theirs). */
uint64_t sl_resv_ckpt_size(struct slot_store *s,
			   bool (*wanted)(const struct sl_obj *),
			   uint64_t *records);
void sl_resv_ckpt_encode(struct slot_store *s,
			 bool (*wanted)(const struct sl_obj *), uint8_t *p);
int sl_resv_ckpt_parse(struct slot_store *s, const struct sl_ckpt_hdr *h,
		       const uint8_t *payload);
/* Recovery: a RESV record's range (false: it does not fit the index, or
 * there was no memory for it). */
bool sl_resv_replay(struct slot_store *s, const struct sl_jnl_rec *r);
/* recover.c.  Recovery: whether a slot header of oid did not give its
 * mode for an ACL change no journal slot held (MODE_CKPT), so the
 * journal's mode counts over the header's. */
bool sl_recover_mode_owed(const struct slot_store *s, uint64_t oid);
/* xattr.c.  Recovery: an XATTR record, from the journal slot of gen gen
 * (false: it does not fit the index, or there was no memory for it). */
bool sl_xattr_replay(struct slot_store *s, const struct sl_jnl_rec *r,
		     uint64_t gen);
uint64_t sl_resv_settle(struct slot_store *s);
/* alloc.c: whether need[c] more slots of each class c could be had. */
bool sl_alloc_fits(const struct slot_store *s, const size_t *need);

/* ext.c.  Lock held, but for sl_ext_flush and sl_ext_free.  add: a
 * pending entry for chunk idx of o (NULL: no memory); done: its write
 * completed (ok) or failed (the entry goes); size: o's size capped at the
 * floors of entries of chunks other than own (-1: none), only the pending
 * ones if pending_only; flush: flush the device, and forget the entries
 * it made durable. */
struct sl_ext *sl_ext_add(struct slot_store *s, struct sl_obj *o,
			  uint32_t idx, uint64_t floor);
void sl_ext_done(struct slot_store *s, struct sl_ext *e, bool ok);
void sl_ext_drop(struct slot_store *s, struct sl_ext *e);
uint64_t sl_ext_size(struct slot_store *s, struct sl_obj *o, int64_t own,
		     bool pending_only);
int sl_ext_flush(struct slot_store *s);
/* The store's writes to its device, counted for sl_ext_flush: a batch
 * (ops->write's result), len bytes at off (sl_dev_span's), a discard. */
int sl_write(struct slot_store *s, struct slot_io *ios, size_t n);
int sl_write_span(struct slot_store *s, uint64_t off, void *buf, size_t len);
int sl_discard(struct slot_store *s, uint64_t off, uint64_t len);
/* The device's cache flush (ops->flush); a failure is logged as a failed
 * write is. */
int sl_dev_flush(struct slot_store *s);
/* alloc.c: -o discard's period: slot_trim when slots were freed since the
 * last (no lock held). */
void sl_discard_freed(struct slot_store *s);
/* Whether a written extension waits for a flush (no lock held). */
bool sl_ext_due(struct slot_store *s);
void sl_ext_free(struct slot_store *s);

/* file.c: write buffers.  Lock held for drop. */
void sl_wb_drop_all(struct slot_store *s, struct sl_obj *o);
void sl_wb_free_mem(struct slot_store *s, struct sl_wbuf *b);
uint64_t sl_file_data_len(const struct sl_wbuf *w, const struct sl_chunk *c,
			  uint64_t idx);
/* Rewrite shorter every file whose last chunk holds bytes past its size
 * (recovery brought back a size from before an extension that landed):
 * they would show if the file grew.  At open, before writes. */
int sl_file_cut_tails(struct slot_store *s);
/* A WRITE record replayed (jnl.c): bytes over a chunk, kept in
 * jnl_pend till the index is whole. */
struct sl_jnl_data {
	uint64_t oid, gen;
	uint32_t idx, off, len;
	bool extend;            /* SL_JNL_EXTEND: may go past the chunk */
	uint64_t seq;           /* replay order */
	uint8_t *data;
};
/* Recovery, lock held: keep WRITE record r; false: it does not hold. */
bool sl_file_jnl_note(struct slot_store *s, const struct sl_jnl_rec *r);
/* The WRITE records replayed that apply: their bytes over the chunks
 * they name, when those are still of the gen they name, ... */
enum sl_jnl_apply {
	SL_JNL_COUNT,           /* counted (fsck -n; kept to count again) */
	SL_JNL_REWRITE,         /* rewritten into the chunks (a read-write
				   open, fsck) */
	SL_JNL_HOLD,            /* held in buffers that reads overlay (a
				   read-only open) */
};
/* ... Returns how many apply, or a negative errno (-EROFS: a read-only
 * open cannot hold them). */
int64_t sl_file_jnl_apply(struct slot_store *s, enum sl_jnl_apply how);
/* The WRITE records replayed, forgotten (applied, or the store goes). */
void sl_file_jnl_drop(struct slot_store *s);
/* Lock held.  A journal write of WRITE record r, in journal slot lsn, is
 * over: ok, its buffer keeps the slot (jlsn); else its bytes are no
 * longer in the journal. */
void sl_file_jnl_settle(struct slot_store *s, const struct sl_jnl_rec *r,
			uint64_t lsn, bool ok);
/* Lock held.  1 + the first lsn a buffer keeps (jlsn); 0: none. */
uint64_t sl_file_jnl_lsn(const struct slot_store *s);
/* Write again elsewhere, as a copy (times kept), every chunk of ino whose
 * slot lies in region from or above (slot_shrink). */
int sl_file_move_chunks(struct slot_store *s, slot_ino_t ino, uint32_t from);
/* ... chunk idx of ino if its slot lies in region r, taking no lock of
 * the file (the thread that ran short of space may hold any: see
 * SL_OBJ_MOVING); -EBUSY while a write of ino is in flight.  *copied:
 * the payload bytes it wrote (0: none). */
int sl_file_move_chunk(struct slot_store *s, slot_ino_t ino, uint32_t idx,
		       uint32_t r, uint32_t *copied);
/* Write out ino's buffered chunks (no locks held). */
int sl_file_flush(struct slot_store *s, slot_ino_t ino);
/* A flusher's read-ahead job: chunk idx of ino into the chunk cache. */
void sl_file_prefetch(struct slot_store *s, slot_ino_t ino, uint32_t idx);
/* Start writing them out in the background (close(2) needs no more), but
 * those whose blocks the journal holds all. */
void sl_file_flush_async(struct slot_store *s, slot_ino_t ino);
/* Whether sl_file_flush_async(s, ino) would write out itself. */
bool sl_file_flush_waits(struct slot_store *s, slot_ino_t ino);
/* ... of every file; older_ns > 0 only buffers at least that old. */
int sl_file_flush_every(struct slot_store *s, int64_t older_ns);
int sl_flushers_start(struct slot_store *s);
/* Wait for queued write-outs and stop the threads. */
void sl_flushers_stop(struct slot_store *s);

/* ns.c */
int sl_ns_check_name(const char *name, size_t *len);
/* Lock held.  Object ino, unless a put still in flight is making it. */
struct sl_obj *sl_ns_obj(struct slot_store *s, slot_ino_t ino);
/* Whether name[0, len) is "." or "..". */
bool sl_ns_is_dot(const char *name, size_t len);
/* Walk a key to its parent directory and final name; make parents if
 * create.  Lock held. */
int sl_ns_resolve(struct slot_store *s, const char *key, bool create,
		  struct sl_obj **parent, const char **name, size_t *len);
void sl_attr_fill(const struct slot_store *s, const struct sl_obj *o,
		  struct slot_attr *a);
/* Drop an object whose last link went, once nothing holds it. */
void sl_obj_release_if_dead(struct slot_store *s, struct sl_obj *o);
void sl_obj_free_chunks(struct slot_store *s, struct sl_obj *o);
struct sl_obj *sl_ns_mkdir_locked(struct slot_store *s, struct sl_obj *parent,
				  const char *name, size_t len, uint32_t mode,
				  uint32_t uid, uint32_t gid);
struct sl_obj *sl_lost_found(struct slot_store *s);
/* Lock held.  o's mode, owner or times changed: the journal carries
 * them (a SETATTR, filled as they are when it is written), and so does a
 * regular file's next slot header; till one does, fsync owes them. */
void sl_ns_attrs_changed(struct slot_store *s, struct sl_obj *o);
/* Lock held.  Drop the name de of o in dir (journaled); o goes when
 * nothing holds it. */
void sl_ns_unname(struct slot_store *s, struct sl_obj *dir,
		  struct sl_dirent *de, struct sl_obj *o, int64_t now);
/* Lock held.  Remove dir, and each directory above it, while it is empty
 * (no entry, not even a put's pending one), up to the root. */
void sl_ns_prune(struct slot_store *s, struct sl_obj *dir, int64_t now);
void sl_dirty(struct slot_store *s);
/* kv.c: let queued and running started batches finish, and stop their
 * workers. */
void sl_batch_workers_stop(struct slot_store *s);
/* Lock held.  Data capacity in bytes (every region, assigned or not, at
 * the largest class) and what of it is free, as statfs reports them. */
void sl_store_space(struct slot_store *s, uint64_t *total,
		    uint64_t *free_bytes, uint64_t *free_regions);
/* A change only a checkpoint makes durable (implies sl_dirty). */
void sl_ns_dirty(struct slot_store *s);
/* Lock held.  o was just written, or its attributes changed: if no slot
 * header now carries its name and attributes, sync must look at it. */
void sl_owed_check(struct slot_store *s, const struct sl_obj *o);
/* Lock held.  Whether a file owes a checkpoint for its name or attributes:
 * of those sl_owed_check noted, or (owed_all) of the whole index,
 * O(objects).  None: the note is clear. */
bool sl_owed_any(struct slot_store *s);

/* xattr.c: ACLs on objects.  Lock held. */
/* Before a chmod of o to mode: its access ACL, if any, made to match. */
int sl_xa_acl_chmod(struct slot_store *s, struct sl_obj *o, uint32_t mode);
/* Whether o has an access ACL; *bits: the permission bits it gives. */
bool sl_xa_acl_bits(struct slot_store *s, const struct sl_obj *o,
		    uint32_t *bits);
/* What a new object of *mode in dir inherits from dir's default ACL:
 * 1 with *out its xattrs (NULL: none to keep) and *mode masked, 0 when
 * dir has none, or a negative errno. */
int sl_xa_inherit(struct slot_store *s, uint64_t dir, uint32_t *mode,
		  struct sl_xattrs **out);
/* An ACL record of o was just logged, before any change of its mode
 * with it: till it is durable, its slot headers do not give the mode
 * (sl_xa_mode_owed). */
void sl_xa_acl_logged(struct slot_store *s, const struct sl_obj *o);
/* Whether a slot header of o may not give its mode: an ACL change that
 * set it is durable in no journal slot nor checkpoint yet.  Then *mode
 * is the mode before that change, which the header gives instead: a
 * crash that loses the ACL finds the mode it had without it. */
bool sl_xa_mode_owed(struct slot_store *s, const struct sl_obj *o,
		     uint32_t *mode);
/* Recovery, once the index is whole: each access ACL's permission bits
 * become its object's mode bits (the ACL wins, as fsck's PR_ACL_MODE). */
void sl_xa_recover_modes(struct slot_store *s);

/* xattr.c: the checkpoint's xattr section.  Lock held for both. */
/* Bytes and records of the xattrs of objects ck_wanted(o) says go in. */
uint64_t sl_xattr_ckpt_size(struct slot_store *s,
			    bool (*wanted)(const struct sl_obj *),
			    uint64_t *records);
/* Write those records at p. */
void sl_xattr_ckpt_encode(struct slot_store *s,
			  bool (*wanted)(const struct sl_obj *), uint8_t *p);
/* Load the section into the index (objects loaded); damaged records are
 * dropped and counted in load_bad_xattrs. */
int sl_xattr_ckpt_parse(struct slot_store *s, const struct sl_ckpt_hdr *h,
			const uint8_t *payload);

/* ckpt.c */
/* Load the newest checkpoint that holds.  *fell_back: a container that is
 * not blank (sl_ckpt_absent) did not hold, so the one loaded may be older
 * than the newest written (a crash cut that one short, or it is damaged):
 * the slot headers must say what is newer. */
int sl_ckpt_load(struct slot_store *s, struct sl_ckpt_hdr *hdr,
		 bool *fell_back);
/* Container i did not hold, and that is no damage: it is all zeros and
 * was never written.  Only in a file system older than format 1.3, whose
 * mkfs wrote seq 1 into B alone: so only A, and only while the newest
 * loaded, if any, is seq 1 (a zeroed A looks the same there). */
bool sl_ckpt_absent(struct slot_store *s, unsigned i, bool have,
		    uint64_t seq);
int sl_ckpt_write(struct slot_store *s);
/* Container i's header, checked: -EINVAL no header, -EBADMSG its
 * checksum, -ESTALE a sound one of another uuid (*h filled), -EUCLEAN
 * fields out of range. */
int sl_ckpt_read_hdr(struct slot_store *s, unsigned i, struct sl_ckpt_hdr *h);
int sl_ckpt_read_payload(struct slot_store *s, const struct sl_ckpt_hdr *h,
			 uint8_t **out);
int sl_ckpt_parse(struct slot_store *s, const struct sl_ckpt_hdr *h,
		  const uint8_t *p);
/*
 * Lock held.  0 if a checkpoint of the index, with more bytes of records
 * added, still fits in a container; else -ENOSPC.  What creates an object,
 * a name, a symlink target or an extended attribute asks first, so that a
 * store full of names gets ENOSPC where it can still be checkpointed.
 */
int sl_ckpt_room(struct slot_store *s, uint64_t more);
/* Lock held.  The bytes of records a checkpoint still has room for. */
uint64_t sl_ckpt_left(struct slot_store *s);
/* Checkpoint bytes a name of len bytes takes. */
static inline uint64_t sl_ckpt_name_size(size_t len)
{
	return SL_ALIGN_UP(SL_DIRENT_REC_FIXED + (uint64_t)len, 8);
}
/* ... and a new object, with no chunks and no target (padding included). */
#define SL_CKPT_OBJ_SIZE (SL_OBJ_REC_SIZE + 8)
/* What a checkpoint sets aside for each slot a region could hold: a
 * chunk record and its checksum. */
#define SL_CKPT_SLOT_SIZE (SL_CHUNK_REC_SIZE + 8)
/* Empty the index and allocator, to load again. */
void sl_ckpt_reset(struct slot_store *s);
int sl_ckpt_thread_start(struct slot_store *s);
void sl_ckpt_thread_stop(struct slot_store *s);

/* jnl.c, the journal of namespace changes and small writes' bytes
 * (FORMAT.md, "Journal") */
/* Lock held.  Log a change just made to the index; what cannot be logged
 * (no journal, no memory, too many) falls back on sl_ns_dirty, but for
 * a WRITE record, whose caller writes its buffer out instead: -EAGAIN. */
int sl_jnl_add(struct slot_store *s, const struct sl_jnl_rec *r);
/* Lock held.  Whether the journal can carry changes now: file data only
 * while the slots it keeps are fewer than twice its span. */
bool sl_jnl_usable(const struct slot_store *s);
/* The journal slots WRITE records may keep: a buffer they hold longer
 * goes out (so that a checkpoint frees them), at most a sixteenth of the
 * slot area.  Crowded: half as many again are in use, and a checkpoint
 * would free half a span of them. */
size_t sl_jnl_span(const struct slot_store *s);
bool sl_jnl_crowded(const struct slot_store *s);
/* The room left for records in the next journal write. */
size_t sl_jnl_room(const struct slot_store *s);
/* No lock held.  Make every change logged so far durable through the
 * journal: 0 (*flushed: a journal slot was written, and the device
 * flushed after it), or -EAGAIN when only a checkpoint can (the journal
 * is not in use yet, a change it does not carry waits, or its write
 * failed). */
int sl_jnl_sync(struct slot_store *s, bool *flushed);
/* Lock held: a checkpoint's snapshot takes the records (it holds their
 * changes; WRITE records, whose data it does not hold, stay for the next
 * journal write) and the journal slots so far (freed when it is durable,
 * or given back with failed), but those from the first with a WRITE
 * record a buffer still holds on: it returns how many (jnl_data_slots). */
uint64_t sl_jnl_snap(struct slot_store *s, struct sl_vec *slots);
void sl_jnl_ckpt_done(struct slot_store *s, struct sl_vec *slots,
		      uint64_t ops_at, bool ok);
/* A read-write open: a journal of a new id, which continues the next
 * checkpoint; or (resume) the journal of the checkpoint a clean close
 * wrote, which no journal slot follows yet. */
void sl_jnl_start(struct slot_store *s);
void sl_jnl_resume(struct slot_store *s, const struct sl_ckpt_hdr *hdr);
void sl_jnl_free(struct slot_store *s);
/* Recovery: replay the journal slots found (their headers in j, refs in
 * ref) that continue the checkpoint hdr, in lsn order, stopping at a
 * gap.  Returns how many it replayed, or a negative errno. */
struct sl_jnl_found {
	uint64_t ref;
	struct sl_jnl_hdr h;
};
int sl_jnl_replay(struct slot_store *s, const struct sl_ckpt_hdr *hdr,
		  struct sl_jnl_found *j, size_t n);
/* ns.c: one record's change, made again (recovery), from the journal
 * slot of that gen; false when it does not fit the index (a damaged or
 * foreign record), changing nothing. */
bool sl_ns_replay(struct slot_store *s, const struct sl_jnl_rec *r,
		  uint64_t gen);

/* recover.c */
int sl_recover(struct slot_store *s, const struct sl_ckpt_hdr *hdr,
	       bool have_ckpt, bool scan, bool validate);
/* Scan for slots at or past hdr's scan_gen and apply them, then the
 * journal that continues hdr (NULL: no checkpoint, every slot). */
int sl_recover_scan(struct slot_store *s, const struct sl_ckpt_hdr *hdr);
/* Read every region header; valid[r] says whether r's header is ours. */
int sl_scan_region_hdrs(struct slot_store *s, struct sl_rgn_hdr *h,
			bool *valid);
/*
 * Read the header block of every slot of the assigned regions for which
 * want(ref) is true (NULL: all), in batches at full queue depth; fn sees
 * each slot's decode result (0 or -errno) and header.
 */
int sl_scan_slot_hdrs(struct slot_store *s,
		      bool (*want)(struct slot_store *, uint64_t),
		      void (*fn)(void *arg, uint64_t ref, int res,
				 const struct sl_slot_hdr *h,
				 const uint8_t *blk),
		      void *arg, const char *pass);

/* store.c */
/* A store on dev with this superblock, allocator ready, index empty. */
int sl_store_raw(struct slot_dev *dev, const struct sl_sb *sb,
		 const struct slot_opts *o, struct slot_store **out);
void sl_store_raw_free(struct slot_store *s);
int sl_sb_read(struct slot_dev *dev, struct sl_sb *sb, bool *used_backup);
int sl_sb_write(struct slot_dev *dev, const struct sl_sb *sb, bool backup);
/* Set a ro_compat feature in both superblocks, durably (ckpt_lock held). */
int sl_sb_ro_compat_add(struct slot_store *s, uint32_t bit);
void sl_geo_from_sb(const struct sl_sb *sb, struct slot_geometry *geo);
/* Whether a valid backup superblock may stand in for the primary, which
 * failed with primary_err: -EMEDIUMTYPE when the primary has no slotfs
 * magic (-EINVAL) and another file system or a partition table is on dev
 * (slot_dev_foreign), else 0. */
int sl_sb_foreign(struct slot_dev *dev, int primary_err);
/* s->sb = *sb, with what follows from it (hdr_uuid, geo). */
void sl_store_sb_set(struct slot_store *s, const struct sl_sb *sb);

#endif /* SLOT_INTERNAL_H */
