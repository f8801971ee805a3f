/* SPDX-License-Identifier: MIT */
/*
 * store.c - superblock, format, open and close, and the store-wide helpers
 * (lock, in-flight accounting, write batches, messages).
 */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <uuid/uuid.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


#include "internal.h"

/* ------------------------------------------------------------------ */
/* Helpers every part uses                                             */
/* ------------------------------------------------------------------ */

void sl_lock(struct slot_store *s)
{
	pthread_mutex_lock(&s->lock);
	atomic_fetch_add_explicit(&s->lock_count, 1, memory_order_relaxed);
}

void sl_unlock(struct slot_store *s)
{
	pthread_mutex_unlock(&s->lock);
}

int64_t sl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t sl_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sl_log(struct slot_store *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s && s->opts.log)
		s->opts.log(s->opts.log_arg, msg);
	else
		fprintf(stderr, "slotfs: %s\n", msg);
}

void sl_inflight_enter(struct slot_store *s, unsigned n)
{
	atomic_fetch_add(&s->inflight, n);
}

void sl_inflight_exit(struct slot_store *s, unsigned n, bool ok)
{
	/* stamp before the count drops, so the idle gate never sees zero
	 * in flight together with a stale timestamp */
	if (ok)
		atomic_store(&s->last_io_ns, sl_mono_ns());
	atomic_fetch_sub(&s->inflight, n);
}

void sl_txn_begin(struct slot_store *s, struct sl_txn *t)
{
	t->first_gen = s->next_gen;
	t->next = s->txns.next;
	t->prev = &s->txns;
	s->txns.next->prev = t;
	s->txns.next = t;
}

void sl_txn_end(struct slot_store *s, struct sl_txn *t)
{
	t->prev->next = t->next;
	t->next->prev = t->prev;
	t->next = t->prev = t;
}

uint64_t sl_txn_min_gen(struct slot_store *s)
{
	uint64_t g = s->next_gen;
	for (struct sl_txn *t = s->txns.next; t != &s->txns; t = t->next)
		if (t->first_gen < g)
			g = t->first_gen;
	return g;
}

void sl_dirty(struct slot_store *s)
{
	s->dirty_total++;
}

void sl_ns_dirty(struct slot_store *s)
{
	s->dirty_total++;
	s->ns_changes++;
	s->owed_all = true;
}

/* Files sync looks at one by one; more, and it walks the index. */
#define ST_OWED_MAX 4096

/* A regular file no slot header or journal slot yet names or gives its
 * attributes: only a checkpoint would. */
static bool st_owes(const struct sl_obj *o)
{
	return o && S_ISREG(o->mode) && o->nlink &&
	       !(o->flags & SL_OBJ_PENDING) &&
	       (!(o->flags & SL_OBJ_NAMED) || (o->flags & SL_OBJ_ATTR_DIRTY));
}

void sl_owed_check(struct slot_store *s, const struct sl_obj *o)
{
	/* (a file noted again at once, as a database's journal file at
	 * each commit, once) */
	if (s->owed_all || !st_owes(o) ||
	    (s->owed.n && s->owed.v[s->owed.n - 1] == o->oid))
		return;
	if (s->owed.n >= ST_OWED_MAX || sl_vec_push(&s->owed, o->oid)) {
		s->owed_all = true;
		s->owed.n = 0;
	}
}

bool sl_owed_any(struct slot_store *s)
{
	for (size_t i = 0; !s->owed_all && i < s->owed.n; i++)
		if (st_owes(sl_obj_find(&s->ix, s->owed.v[i])))
			return true;
	for (size_t b = 0; s->owed_all && b <= s->ix.obj_mask; b++)
		for (struct sl_obj *o = s->ix.obj_tab[b]; o; o = o->hnext)
			if (st_owes(o))
				return true;
	s->owed_all = false;
	s->owed.n = 0;
	return false;
}

const char *slot_strerror(int err)
{
	if (err < 0)
		err = err == INT_MIN ? INT_MAX : -err;  /* no overflow */
	switch (err) {
	case 0:
		return "success";
	case EUCLEAN:
		return "file system is damaged; run fsck.slotfs";
	case EBADMSG:
		return "checksum mismatch";
	case EPROTONOSUPPORT:
		return "unsupported slotfs version or incompatible feature";
	case EROFS:
		return "read-only file system or device";
	case ENOSPC:
		return "no space left on device";
	case ECANCELED:
		return "canceled by a delete";
	case ENOBUFS:
		return "buffer too small for the object (a get sets len to "
		       "the size it needs)";
	case ENAMETOOLONG:
		return "name or path too long (a name over 255 bytes, a path "
		       "of 4096 or more)";
	case ENOTUNIQ:
		return "more than one device holds that file system";
	case EDOM:
		return "not a label or UUID a slotfs can have";
	case EMEDIUMTYPE:
		return "another file system or a partition table is where "
		       "slotfs's superblock was (only its backup is left)";
	default: {
		/* static text, never strerror's buffer, which the next
		 * call of an unknown number reuses */
		const char *d = strerrordesc_np(err);
		return d ? d : "unknown error";
	}
	}
}

const char *slot_open_strerror(int err)
{
	switch (err == INT_MIN ? INT_MAX : err < 0 ? -err : err) {
	case EINVAL:
		return "not a slotfs file system (no slotfs superblock)";
	case EFBIG:
		return "device too small for the file system (truncated?)";
	case EBUSY:
		return "device or image is in use (already mounted?)";
	default:
		return slot_strerror(err);
	}
}

/* ------------------------------------------------------------------ */
/* Superblock                                                          */
/* ------------------------------------------------------------------ */

void sl_geo_from_sb(const struct sl_sb *sb, struct slot_geometry *geo)
{
	memset(geo, 0, sizeof(*geo));
	geo->device_size = sb->device_size;
	geo->block_size = sb->block_size;
	geo->chunk_size = 1u << sb->chunk_shift;
	geo->min_slot = 1u << sb->min_shift;
	geo->class_count = sb->class_count;
	geo->meta_offset = sb->meta_offset;
	geo->meta_size = sb->meta_size;
	geo->slot_area_offset = sb->slot_area_offset;
	geo->region_size = sb->region_size;
	geo->region_count = sb->region_count;
	uint64_t per_chunk = (sb->region_size - sb->block_size) /
			     (sb->block_size + geo->chunk_size);
	uint64_t per_small = (sb->region_size - sb->block_size) /
			     (sb->block_size + geo->min_slot);
	geo->capacity = per_chunk * geo->chunk_size * sb->region_count;
	geo->max_small_files = per_small * sb->region_count;
	geo->xattrs = sb->feature_ro_compat & SL_FEAT_RO_COMPAT_XATTR;
	for (unsigned i = 0; i < sb->class_count && i < 8; i++)
		geo->class_size[i] = 1u << sl_class_shift(sb->min_shift,
							  sb->chunk_shift, i);
	memcpy(geo->uuid, sb->uuid, 16);
	memcpy(geo->label, sb->label, SLOT_LABEL_MAX);
	geo->label[SLOT_LABEL_MAX] = 0;
}

void sl_store_sb_set(struct slot_store *s, const struct sl_sb *sb)
{
	s->sb = *sb;
	memcpy(s->hdr_uuid, sl_sb_hdr_uuid(sb), sizeof(s->hdr_uuid));
	sl_geo_from_sb(sb, &s->geo);
}

static int sb_read_at(struct slot_dev *dev, uint64_t off, struct sl_sb *sb)
{
	uint8_t *buf = sl_alloc_aligned(SL_BLOCK);
	if (!buf)
		return -ENOMEM;
	struct slot_io io = { .buf = buf, .off = off, .len = SL_BLOCK };
	int err = dev->ops->read(dev->ctx, &io, 1);
	if (!err)
		err = sl_sb_decode(buf, sb);
	free(buf);
	return err;
}

int sl_sb_read(struct slot_dev *dev, struct sl_sb *sb, bool *used_backup)
{
	*used_backup = false;
	if (dev->size < SL_SB_PRIMARY_OFF + SL_BLOCK)
		return -EINVAL;
	int err = sb_read_at(dev, SL_SB_PRIMARY_OFF, sb);
	if (!err)
		return 0;
	/* a device cut short of the backup has only the primary to go by */
	if (err == -EIO || err == -ENOMEM ||
	    dev->size < SL_SB_BACKUP_OFF + SL_BLOCK)
		return err;
	int err2 = sb_read_at(dev, SL_SB_BACKUP_OFF, sb);
	if (!err2) {
		*used_backup = true;
		/* open and close write the primary alone: the backup's clean
		 * flag may be mkfs's, whatever came after */
		sb->flags &= ~SL_SB_CLEAN;
		return sl_sb_foreign(dev, err);
	}
	/* a damaged slotfs superblock is not a foreign file system */
	if (err == -EINVAL && err2 == -EINVAL)
		return -EINVAL;
	return -EUCLEAN;
}

/* Write the primary superblock p, and the backup b (NULL: not), then
 * flush. */
static int sb_write_copies(struct slot_dev *dev, const struct sl_sb *p,
			   const struct sl_sb *b)
{
	uint8_t *buf = sl_alloc_aligned(2 * SL_BLOCK);
	if (!buf)
		return -ENOMEM;
	sl_sb_encode(p, buf);
	if (b) {
		/* RECOVER and PUNCH are an open's, in the primary alone:
		 * the backup describes the file system */
		struct sl_sb bb = *b;
		bb.feature_incompat &= ~SL_FEAT_INCOMPAT_OPEN;
		sl_sb_encode(&bb, buf + SL_BLOCK);
	}
	struct slot_io ios[2] = {
		{ .buf = buf, .off = SL_SB_PRIMARY_OFF, .len = SL_BLOCK },
		{ .buf = buf + SL_BLOCK, .off = SL_SB_BACKUP_OFF,
		  .len = SL_BLOCK },
	};
	int err = dev->ops->write(dev->ctx, ios, b ? 2 : 1);
	if (!err)
		err = dev->ops->flush(dev->ctx);
	free(buf);
	return err;
}

/* The backup superblock to write beside primary p: the backup as it is
 * (its flags are those of the last time it was written whole), or p when
 * it is unreadable or another file system's. */
static void sb_backup_of(struct slot_dev *dev, const struct sl_sb *p,
			 struct sl_sb *b)
{
	if (sb_read_at(dev, SL_SB_BACKUP_OFF, b) ||
	    memcmp(sl_sb_hdr_uuid(b), sl_sb_hdr_uuid(p), 16))
		*b = *p;
}

/*
 * Apply change to both superblocks on the device and, once they are down,
 * to the store's own (ckpt_lock held, so that no other superblock write
 * of this store interleaves).  The primary is written from the store's
 * copy (mounted: not clean); the backup keeps its own flags.
 */
static int st_sb_change(struct slot_store *s,
			void (*change)(struct sl_sb *sb, const void *arg),
			const void *arg)
{
	sl_lock(s);
	struct sl_sb p = s->sb;
	sl_unlock(s);
	struct sl_sb b;
	sb_backup_of(s->dev, &p, &b);
	change(&p, arg);
	change(&b, arg);
	p.write_time = (uint64_t)time(NULL);
	int err = sb_write_copies(s->dev, &p, &b);
	if (err)
		return err;
	sl_lock(s);
	change(&s->sb, arg);
	s->sb.write_time = p.write_time;
	sl_geo_from_sb(&s->sb, &s->geo);
	sl_unlock(s);
	return 0;
}

/* st_sb_change, taking ckpt_lock. */
static int st_sb_update(struct slot_store *s,
			void (*change)(struct sl_sb *sb, const void *arg),
			const void *arg)
{
	pthread_mutex_lock(&s->ckpt_lock);
	int err = st_sb_change(s, change, arg);
	pthread_mutex_unlock(&s->ckpt_lock);
	return err;
}

static void st_sb_ro_compat(struct sl_sb *sb, const void *arg)
{
	/* read without the lock by those who only test the bit */
	__atomic_or_fetch(&sb->feature_ro_compat, *(const uint32_t *)arg,
			  __ATOMIC_RELEASE);
}

int sl_sb_ro_compat_add(struct slot_store *s, uint32_t bit)
{
	return st_sb_change(s, st_sb_ro_compat, &bit);
}

static bool st_label_ok(const char *label)
{
	return label && strnlen(label, SLOT_LABEL_MAX + 1) <= SLOT_LABEL_MAX;
}

static void st_sb_label(struct sl_sb *sb, const void *arg)
{
	memset(sb->label, 0, sizeof(sb->label));
	memcpy(sb->label, arg, strlen(arg));
}

int slot_store_set_label(struct slot_store *s, const char *label)
{
	if (!st_label_ok(label))
		return -EINVAL;
	if (s->read_only)
		return -EROFS;
	return st_sb_update(s, st_sb_label, label);
}

/*
 * The file system's uuid changes, the headers' does not: the first change
 * keeps the old one as meta_uuid (incompat META_UUID, so that a reader
 * comparing headers with the new one cannot open it), and a change back
 * to it drops the feature again.  Both superblock copies agree on the
 * header uuid before and after, so a crash between them leaves one uuid
 * or the other, never a store whose headers match neither.
 */
static void st_sb_uuid(struct sl_sb *sb, const void *arg)
{
	if (!(sb->feature_incompat & SL_FEAT_INCOMPAT_META_UUID)) {
		memcpy(sb->meta_uuid, sb->uuid, 16);
		sb->feature_incompat |= SL_FEAT_INCOMPAT_META_UUID;
	}
	memcpy(sb->uuid, arg, 16);
	if (!memcmp(sb->uuid, sb->meta_uuid, 16)) {
		sb->feature_incompat &= ~SL_FEAT_INCOMPAT_META_UUID;
		memset(sb->meta_uuid, 0, 16);
	}
}

int slot_store_set_uuid(struct slot_store *s, const uint8_t uuid[16])
{
	if (!uuid || uuid_is_null(uuid))
		return -EINVAL;
	if (s->read_only)
		return -EROFS;
	return st_sb_update(s, st_sb_uuid, uuid);
}

/* ------------------------------------------------------------------ */
/* Errors found in use                                                 */
/* ------------------------------------------------------------------ */

void sl_fs_error(struct slot_store *s, unsigned kind)
{
	int_fast64_t now = (int_fast64_t)time(NULL), none = 0;
	atomic_store(&s->err_kind, kind);
	atomic_store(&s->err_last, now);
	atomic_compare_exchange_strong(&s->err_first, &none, now);
	atomic_fetch_add(&s->err_total, 1);
	if (!atomic_fetch_add(&s->err_new, 1) && s->opened_rw)
		sl_log(s, "error: %s; the file system is marked to be "
		       "checked (run fsck.slotfs)", sl_err_what(kind));
	if (atomic_load(&s->on_error) == SL_ERRORS_RO && s->opened_rw &&
	    !atomic_exchange(&s->errors_ro, true)) {
		__atomic_store_n(&s->read_only, true, __ATOMIC_RELEASE);
		sl_log(s, "errors=remount-ro: no more writes; unmount and "
		       "run fsck.slotfs");
	}
}

void sl_csum_error(struct slot_store *s)
{
	atomic_fetch_add(&s->csum_errors, 1);
	sl_fs_error(s, SL_ERR_CSUM);
}

struct st_errors {
	uint64_t n;
	uint64_t first, last;
	unsigned kind;
};

static void st_sb_errors(struct sl_sb *sb, const void *arg)
{
	const struct st_errors *e = arg;
	sb->flags |= SL_SB_ERRORS;
	sb->error_count = (uint32_t)SL_MIN((uint64_t)sb->error_count + e->n,
					   UINT32_MAX);
	if (!sb->first_error_time)
		sb->first_error_time = e->first;
	sb->last_error_time = e->last;
	sb->last_error = (uint16_t)e->kind;
}

int sl_fs_errors_record(struct slot_store *s)
{
	uint64_t n = atomic_exchange(&s->err_new, 0);
	if (!n || !s->opened_rw)
		return 0;
	struct st_errors e = { n, (uint64_t)atomic_load(&s->err_first),
			       (uint64_t)atomic_load(&s->err_last),
			       atomic_load(&s->err_kind) };
	int err = st_sb_change(s, st_sb_errors, &e);
	if (err)
		atomic_fetch_add(&s->err_new, n);       /* the next try */
	return err;
}

static void st_sb_on_error(struct sl_sb *sb, const void *arg)
{
	sb->errors = (uint16_t)*(const enum slot_errors *)arg;
}

static bool st_errors_ok(enum slot_errors e)
{
	return e == SLOT_ERRORS_DEFAULT || e == SLOT_ERRORS_CONTINUE ||
	       e == SLOT_ERRORS_RO;
}

int slot_store_set_errors(struct slot_store *s, enum slot_errors e)
{
	if (!st_errors_ok(e))
		return -EINVAL;
	sl_lock(s);
	atomic_store(&s->on_error, e ? (unsigned)e : s->sb.errors);
	sl_unlock(s);
	return 0;
}

int sl_sb_write(struct slot_dev *dev, const struct sl_sb *sb, bool backup)
{
	return sb_write_copies(dev, sb, backup ? sb : NULL);
}

/* Lock held.  The regions a checkpoint container can index at most: to
 * those it has, as many as the room sl_ckpt_left leaves takes. */
static uint64_t st_max_regions(struct slot_store *s)
{
	uint64_t per_small = s->geo.max_small_files / s->nregions;
	uint64_t per_region = SL_RGN_REC_SIZE + per_small * SL_CKPT_SLOT_SIZE;
	uint64_t n = s->nregions + sl_ckpt_left(s) / per_region;
	return SL_MIN(n, (uint64_t)UINT32_MAX);
}

/* Lock held.  *size in whole MiB, as mkfs makes it, and the regions the
 * slot area then holds. */
static uint64_t st_regions_for(const struct slot_store *s, uint64_t *size)
{
	const struct sl_sb *sb = &s->sb;
	*size &= ~((1ull << 20) - 1);
	return *size > sb->slot_area_offset ?
	       (*size - sb->slot_area_offset) / sb->region_size : 0;
}

/* Lock held.  Regions to grow to for size (0: all of the device), or a
 * negative errno; *limit as slot_grow's. */
static int64_t st_grow_plan(struct slot_store *s, uint64_t *size,
			    uint64_t *limit)
{
	/* the device may have grown under a mounted store */
	int err = sl_dev_size_refresh(s->dev);
	const struct sl_sb *sb = &s->sb;
	uint64_t max = st_max_regions(s);
	*limit = sb->slot_area_offset + SL_MAX(max, s->nregions) *
		 sb->region_size;
	if (err)
		return err;
	if (!*size)
		*size = s->dev->size;
	uint64_t nreg = st_regions_for(s, size);
	if (*size > s->dev->size)
		return -EFBIG;
	if (*size < sb->device_size)
		return -EINVAL;         /* smaller: slot_shrink */
	if (nreg > max)
		return -ENOSPC;
	return (int64_t)nreg;
}

struct st_geometry {
	uint32_t regions;
	uint64_t size;
};

static void st_sb_geometry(struct sl_sb *sb, const void *arg)
{
	const struct st_geometry *g = arg;
	sb->region_count = g->regions;
	sb->device_size = g->size;
}

static int st_grow(struct slot_store *s, uint64_t size, uint64_t *limit)
{
	sl_lock(s);
	int64_t nreg = st_grow_plan(s, &size, limit);
	uint32_t old = s->nregions;
	int err = nreg < 0 ? (int)nreg :
		  sl_regions_extend(s, (uint32_t)nreg);
	if (!err && (uint64_t)nreg > old)
		sl_ns_dirty(s);
	sl_unlock(s);
	if (err || (uint64_t)nreg <= old)
		return err;
	/*
	 * A checkpoint that indexes more regions than the superblock says
	 * is valid; one that indexes fewer is not.  So: a checkpoint of
	 * them all, then the superblocks, then a second checkpoint, so
	 * that both containers hold them.  A crash anywhere leaves a
	 * valid checkpoint for the superblock on the device.  Writers go
	 * on meanwhile; the new regions are theirs once the superblocks
	 * on the device hold them (al_region_free).
	 */
	err = slot_checkpoint(s, true);
	if (err >= 0) {
		/* from then on the allocator may hand out the new regions */
		struct st_geometry g = { (uint32_t)nreg, size };
		err = st_sb_update(s, st_sb_geometry, &g);
		if (!err) {
			sl_lock(s);
			sl_ns_dirty(s);
			sl_unlock(s);
		}
	}
	if (err < 0) {
		/* the superblock still says the old size, so nothing went
		 * into the new regions */
		sl_lock(s);
		s->nregions = old;
		sl_unlock(s);
		return err;
	}
	err = slot_checkpoint(s, true);
	return err < 0 ? err : 0;
}

/* One resize at a time: fn (st_grow, st_shrink), or -EBUSY. */
static int st_resize(struct slot_store *s, uint64_t size, uint64_t *out,
		     int (*fn)(struct slot_store *, uint64_t, uint64_t *))
{
	*out = 0;
	if (s->read_only)
		return -EROFS;
	sl_lock(s);
	bool busy = s->resizing;
	s->resizing = true;
	sl_unlock(s);
	if (busy)
		return -EBUSY;
	int err = fn(s, size, out);
	sl_lock(s);
	s->resizing = false;
	sl_unlock(s);
	return err;
}

int slot_grow(struct slot_store *s, uint64_t size, uint64_t *limit)
{
	return st_resize(s, size, limit, st_grow);
}

/* A checkpoint in each container, of the store as it is now. */
static int st_ckpt_both(struct slot_store *s)
{
	for (int i = 0; i < 2; i++) {
		sl_lock(s);
		sl_ns_dirty(s);
		sl_unlock(s);
		int err = slot_checkpoint(s, true);
		if (err < 0)
			return err;
	}
	return 0;
}

/* Lock held.  The regions the slots in use fill, each class in its own:
 * the fewest a shrink can leave. */
static uint32_t st_regions_needed(const struct slot_store *s)
{
	uint64_t used[SL_CLASS_MAX] = { 0 }, n = 0;
	for (uint32_t r = 0; r < s->nregions; r++)
		if (s->regions[r].cls != SL_RGN_FREE)
			used[s->regions[r].cls] += s->regions[r].nused;
	/* and the chunks fallocate promised */
	used[s->ncls - 1] += s->resv_slots;
	for (unsigned c = 0; c < s->ncls; c++)
		if (used[c] && s->cls[c].per_region)
			n += (used[c] + s->cls[c].per_region - 1) /
			     s->cls[c].per_region;
	return (uint32_t)SL_MAX(n, 1);
}

/* Move every chunk out of the regions from nreg on, and make that durable
 * in both containers; the superblock still says the old size. */
static int st_shrink_empty(struct slot_store *s, uint32_t nreg)
{
	struct sl_vec inos = { 0 };
	int err = 0;
	sl_lock(s);
	for (size_t b = 0; !err && b <= s->ix.obj_mask; b++)
		for (struct sl_obj *o = s->ix.obj_tab[b]; !err && o;
		     o = o->hnext)
			for (size_t k = 0; k < o->nchunks; k++)
				if (sl_slot_region(o->chunks[k].slot) >= nreg) {
					err = sl_vec_push(&inos, o->oid);
					break;
				}
	sl_unlock(s);
	for (size_t i = 0; !err && i < inos.n; i++)
		err = sl_file_move_chunks(s, inos.v[i], nreg);
	free(inos.v);
	/* the old slots come free once no checkpoint names them */
	if (!err)
		err = st_ckpt_both(s);
	if (!err && (err = sl_reclaim(s)) > 0)
		err = 0;
	sl_lock(s);
	for (uint32_t r = nreg; !err && r < s->nregions; r++)
		if (s->regions[r].cls != SL_RGN_FREE && s->regions[r].nused)
			err = -EBUSY;   /* a writer beside us put it back */
	sl_unlock(s);
	return err;
}

static int st_shrink(struct slot_store *s, uint64_t size, uint64_t *min)
{
	/* buffers out, and the slots freed so far free */
	int err = slot_sync(s);
	if (!err && (err = sl_reclaim(s)) > 0)
		err = 0;
	if (err)
		return err;
	sl_lock(s);
	const struct sl_sb *sb = &s->sb;
	uint32_t need = st_regions_needed(s);
	*min = sb->slot_area_offset + (uint64_t)need * sb->region_size;
	uint64_t nreg = st_regions_for(s, &size);
	if (size >= sb->device_size)
		err = size == sb->device_size ? 1 : -EINVAL;
	else if (nreg < need)
		err = -ENOSPC;
	else
		err = sl_alloc_limit(s, (uint32_t)nreg);
	sl_unlock(s);
	if (err)
		return err > 0 ? 0 : err;
	err = st_shrink_empty(s, (uint32_t)nreg);
	if (!err) {
		/* the superblocks first: a checkpoint may index more regions
		 * than they say, never fewer */
		struct st_geometry g = { (uint32_t)nreg, size };
		err = st_sb_update(s, st_sb_geometry, &g);
	}
	/* the containers may go on indexing the regions past the end: the
	 * next checkpoint, the close's at the latest, drops them */
	sl_lock(s);
	if (!err)
		sl_regions_truncate(s, (uint32_t)nreg);
	int rerr = sl_alloc_limit(s, UINT32_MAX);
	sl_unlock(s);
	return err ? err : rerr;
}

int slot_shrink(struct slot_store *s, uint64_t size, uint64_t *min)
{
	return st_resize(s, size, min, st_shrink);
}

/* st_sb_change on a device no store has open. */
static int st_dev_sb_change(struct slot_dev *dev,
			    void (*change)(struct sl_sb *sb, const void *arg),
			    const void *arg)
{
	struct sl_sb p, b;
	if (dev->size < SL_SB_BACKUP_OFF + SL_BLOCK)
		return -EINVAL;
	/* a damaged primary is fsck's to mend, from the backup: -EUCLEAN
	 * when the backup is there, as tune.slotfs -l then says */
	int err = sb_read_at(dev, SL_SB_PRIMARY_OFF, &p);
	if (err && err != -EIO && err != -ENOMEM &&
	    sb_read_at(dev, SL_SB_BACKUP_OFF, &b) == 0) {
		int foreign = sl_sb_foreign(dev, err);
		return foreign ? foreign : -EUCLEAN;
	}
	if (err)
		return err == -EINVAL ? -EINVAL : -EUCLEAN;
	sb_backup_of(dev, &p, &b);
	change(&p, arg);
	change(&b, arg);
	p.write_time = (uint64_t)time(NULL);
	return sb_write_copies(dev, &p, &b);
}

int slot_set_label(struct slot_dev *dev, const char *label)
{
	if (!st_label_ok(label))
		return -EINVAL;
	return st_dev_sb_change(dev, st_sb_label, label);
}

int slot_set_uuid(struct slot_dev *dev, const uint8_t uuid[16])
{
	if (!uuid || uuid_is_null(uuid))
		return -EINVAL;
	return st_dev_sb_change(dev, st_sb_uuid, uuid);
}

int slot_set_errors(struct slot_dev *dev, enum slot_errors e)
{
	if (!st_errors_ok(e))
		return -EINVAL;
	return st_dev_sb_change(dev, st_sb_on_error, &e);
}

/* ------------------------------------------------------------------ */
/* Format                                                              */
/* ------------------------------------------------------------------ */

void slot_format_opts_init(struct slot_format_opts *o)
{
	memset(o, 0, sizeof(*o));
}

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static uint64_t pow2_floor(uint64_t x)
{
	uint64_t p = 1;
	while (p <= x / 2)
		p *= 2;
	return p;
}

static unsigned ilog2_64(uint64_t x)
{
	unsigned n = 0;
	while (x > 1) {
		x >>= 1;
		n++;
	}
	return n;
}

#define FMT_META_FILES 1000    /* files a metadata area names at least */

static int fmt_plan_sb(uint64_t size, const struct slot_format_opts *o,
		       struct sl_sb *sb)
{
	uint32_t chunk = o->chunk_size ? o->chunk_size : 1u << 20;
	uint32_t min = o->min_slot ? o->min_slot : 4096;
	if (!is_pow2(chunk) || !is_pow2(min) || chunk < 4096 ||
	    chunk > (64u << 20) || min < 4096 || min > chunk)
		return -EINVAL;
	memset(sb, 0, sizeof(*sb));
	sb->magic = SL_MAGIC_SB;
	sb->version_major = SL_VERSION_MAJOR;
	sb->version_minor = SL_VERSION_MINOR;
	sb->block_size = SL_BLOCK;
	sb->chunk_shift = (uint8_t)ilog2_64(chunk);
	sb->min_shift = (uint8_t)ilog2_64(min);
	unsigned ncls = 1;
	while (sl_class_shift(sb->min_shift, sb->chunk_shift, ncls - 1) <
	       sb->chunk_shift)
		ncls++;
	if (ncls > SL_CLASS_MAX)
		return -EINVAL;
	sb->class_count = (uint8_t)ncls;

	size &= ~((1ull << 20) - 1); /* whole MiB */
	sb->device_size = size;
	/* a region must hold at least two chunk slots and its header */
	uint64_t min_region = pow2_floor(2 * (SL_BLOCK + (uint64_t)chunk) +
					 SL_BLOCK) * 2;
	uint64_t region = o->region_size;
	if (!region) {
		region = pow2_floor(size / 64 ? size / 64 : 1);
		region = SL_MAX(region, SL_MAX(min_region, 8ull << 20));
		region = SL_MIN(region, SL_MAX(256ull << 20, min_region));
	}
	if (region < min_region || region % SL_BLOCK)
		return -EINVAL;
	/* The index for the most small files the store can hold, twice;
	 * beyond 64 GiB a 16th is more than names need, but never less than
	 * what sl_ckpt_left sets aside for a record of every slot the
	 * regions could hold, and names beside (a quarter more).  Without
	 * that floor a device over 512 GiB took no file at all. */
	uint64_t meta = o->meta_size;
	if (!meta) {
		meta = SL_ALIGN_UP(size / 16, 1ull << 20);
		meta = SL_MAX(meta, 2ull << 20);
		meta = SL_MIN(meta, 4ull << 30);
	}
	for (int pass = 0;; pass++) {
		meta = SL_ALIGN_UP(meta, 2 * SL_BLOCK);
		if (meta < 4 * SL_BLOCK)
			return -EINVAL;
		sb->meta_offset = SL_META_OFF;
		sb->meta_size = meta;
		sb->slot_area_offset = SL_ALIGN_UP(SL_META_OFF + meta,
						   1ull << 20);
		sb->region_size = region;
		if (size < sb->slot_area_offset + 2 * region)
			return -EFBIG;
		uint64_t nreg = (size - sb->slot_area_offset) / region;
		if (nreg > UINT32_MAX)
			return -EOVERFLOW;
		sb->region_count = (uint32_t)nreg;
		/* each container indexes every slot of the regions (as
		 * sl_ckpt_left counts them) and some files with long names:
		 * short of that, no file could ever be made */
		struct slot_geometry g;
		sl_geo_from_sb(sb, &g);
		uint64_t slots = nreg * SL_RGN_REC_SIZE +
				 g.max_small_files * SL_CKPT_SLOT_SIZE;
		uint64_t need = slots + FMT_META_FILES *
				(SL_CKPT_OBJ_SIZE +
				 sl_ckpt_name_size(SLOT_NAME_MAX));
		if (meta / 2 - SL_BLOCK >= need)
			break;
		if (o->meta_size || pass)
			return -ENOBUFS;
		/* fewer regions after a larger area: need only shrinks */
		meta = SL_ALIGN_UP(2 * (SL_BLOCK + need + slots / 4),
				   1ull << 20);
	}
	if (o->label) {
		if (strlen(o->label) > SLOT_LABEL_MAX)
			return -ENAMETOOLONG;
		strncpy(sb->label, o->label, sizeof(sb->label) - 1);
	}
	if (o->uuid) {
		memcpy(sb->uuid, o->uuid, 16);
	} else {
		uuid_generate_random(sb->uuid);
	}
	sb->create_time = (uint64_t)time(NULL);
	sb->write_time = sb->create_time;
	return 0;
}

int slot_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned shift = 0;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -errno;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	default:
		return -EINVAL;
	}
	/* Accept "KiB" and "KB" too: people type what df prints. */
	if (shift && (*end == 'i' || *end == 'I'))
		end++;
	if (shift && (*end == 'b' || *end == 'B'))
		end++;
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

const char *slot_format_size(uint64_t v, char *buf, size_t cap)
{
	static const char *const unit[] = { "bytes", "KiB", "MiB", "GiB",
					    "TiB", "PiB", "EiB" };
	unsigned u = 0;
	uint64_t whole = v;

	while (whole >= 1024 && u < 6) {
		whole >>= 10;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%" PRIu64 " bytes", v);
	else if ((whole << (10 * u)) == v)
		snprintf(buf, cap, "%" PRIu64 " %s", whole, unit[u]);
	else
		snprintf(buf, cap, "%.2f %s", (double)v / (double)(1ull << (10 * u)),
			 unit[u]);
	return buf;
}

int slot_format_plan(uint64_t size, const struct slot_format_opts *o,
		     struct slot_geometry *geo)
{
	struct slot_format_opts def;
	struct sl_sb sb;
	if (!o) {
		slot_format_opts_init(&def);
		o = &def;
	}
	int err = fmt_plan_sb(size, o, &sb);
	if (err)
		return err;
	if (geo)
		sl_geo_from_sb(&sb, geo);
	return 0;
}

static int store_alloc(struct slot_dev *dev, const struct slot_opts *o,
		       struct slot_store **out);
static void store_free(struct slot_store *s);

int slot_format(struct slot_dev *dev, const struct slot_format_opts *o,
		struct slot_geometry *geo)
{
	struct slot_format_opts def;
	struct sl_sb sb;
	if (!o) {
		slot_format_opts_init(&def);
		o = &def;
	}
	int err = fmt_plan_sb(dev->size, o, &sb);
	if (err)
		return err;
	if (geo)
		sl_geo_from_sb(&sb, geo);
	if (o->dry_run)
		return 0;

	/* Zero both superblocks and both containers' headers, write the
	 * root in checkpoints 0 (container A) and 1 (B), then the
	 * superblocks: a crash before the last step leaves no slotfs
	 * superblock, neither this one nor one made before (its backup
	 * would name the old file system), so a half-made file system never
	 * mounts.  With both written, a container that does not hold is
	 * damage, never one not yet written (sl_ckpt_absent). */
	uint8_t *zero = sl_alloc_aligned(SL_BLOCK);
	if (!zero)
		return -ENOMEM;
	struct slot_io zio[4] = {
		{ .buf = zero, .off = SL_SB_PRIMARY_OFF, .len = SL_BLOCK },
		{ .buf = zero, .off = SL_SB_BACKUP_OFF, .len = SL_BLOCK },
		{ .buf = zero, .off = sb.meta_offset, .len = SL_BLOCK },
		{ .buf = zero, .off = sb.meta_offset + sb.meta_size / 2,
		  .len = SL_BLOCK },
	};
	err = dev->ops->write(dev->ctx, zio, 4);
	free(zero);
	if (err)
		return err;

	struct slot_opts so;
	slot_opts_init(&so);
	struct slot_store *s;
	err = store_alloc(dev, &so, &s);
	if (err)
		return err;
	sl_store_sb_set(s, &sb);
	err = sl_alloc_init(s);
	if (!err) {
		struct sl_obj *root = sl_obj_new(&s->ix, SLOT_ROOT_INO,
						 S_IFDIR | 0755);
		if (!root) {
			err = -ENOMEM;
		} else {
			int64_t now = sl_now_ns();
			root->nlink = 2;
			root->uid = (uint32_t)getuid();
			root->gid = (uint32_t)getgid();
			root->atime = root->mtime = root->ctime = now;
			root->dir->parent = SLOT_ROOT_INO;
			s->next_oid = SLOT_ROOT_INO + 1;
			s->next_gen = 1;
			s->ckpt_seq = UINT64_MAX;       /* the next is seq 0 */
			sl_dirty(s);
			err = sl_ckpt_write(s);
			if (!err) {
				sl_dirty(s);
				err = sl_ckpt_write(s);
			}
		}
	}
	if (!err) {
		sb.flags = SL_SB_CLEAN;
		err = sl_sb_write(dev, &sb, true);
	}
	store_free(s);
	return err;
}

int slot_probe(struct slot_dev *dev, struct slot_geometry *geo)
{
	struct sl_sb sb;
	bool backup;
	int err = sl_sb_read(dev, &sb, &backup);
	if (err == -EINVAL || err == -EMEDIUMTYPE)
		return 0;       /* none, or another's with a stale backup */
	if (err == -EUCLEAN) {
		/* damaged, but slotfs: a magic was there */
		if (geo)
			memset(geo, 0, sizeof(*geo));
		return 1;
	}
	if (err)
		return err;
	if (geo)
		sl_geo_from_sb(&sb, geo);
	return 1;
}

/* ------------------------------------------------------------------ */
/* Open and close                                                      */
/* ------------------------------------------------------------------ */

void slot_opts_init(struct slot_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->queue_depth = 32;
	o->direct_io = true;
	o->engine = SLOT_ENGINE_AUTO;
	o->meta_idle_quiet_ms = 200;
	o->checkpoint_interval_ms = 5000;
	o->periodic_checkpoint = true;
}

static int store_alloc(struct slot_dev *dev, const struct slot_opts *o,
		       struct slot_store **out)
{
	struct slot_store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dev = dev;
	s->opts = *o;
	atomic_init(&s->writes_done, 1);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->ckpt_lock, NULL);
	pthread_mutex_init(&s->jnl_lock, NULL);
	pthread_cond_init(&s->ckpt_cond, NULL);
	pthread_cond_init(&s->trim_cond, NULL);
	pthread_cond_init(&s->held_cond, NULL);
	pthread_mutex_init(&s->trim_lock, NULL);
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&s->compact_lock, &ma);
	pthread_mutexattr_destroy(&ma);
	pthread_cond_init(&s->move_cond, NULL);
	for (int i = 0; i < SL_STRIPES; i++)
		pthread_rwlock_init(&s->stripes[i], NULL);
	for (int i = 0; i < SL_CHUNK_STRIPES; i++)
		pthread_mutex_init(&s->chunk_locks[i], NULL);
	/* writers first, so a stream of reads cannot starve a flush */
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra,
		PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->reuse_lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&s->pool_lock, NULL);
	pthread_mutex_init(&s->rc_lock, NULL);
	pthread_cond_init(&s->rc_cond, NULL);
	pthread_mutex_init(&s->fq_lock, NULL);
	pthread_condattr_t ca;  /* the flushers wait for a monotonic time */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->fq_cond, &ca);
	pthread_cond_init(&s->dying_cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&s->bq_lock, NULL);
	pthread_cond_init(&s->bq_cond, NULL);
	s->txns.next = s->txns.prev = &s->txns;
	s->owed_all = true;     /* what was loaded or recovered: look once */
	atomic_store(&s->last_io_ns, sl_mono_ns());
	int err = sl_index_init(&s->ix);
	if (err) {
		free(s);
		return err;
	}
	*out = s;
	return 0;
}

static void store_free(struct slot_store *s)
{
	/* buffers a crash (slot_abandon) leaves unwritten */
	for (size_t b = 0; s->ix.obj_tab && b <= s->ix.obj_mask; b++)
		for (struct sl_obj *o = s->ix.obj_tab[b]; o; o = o->hnext)
			while (o->wb) {
				struct sl_wbuf *w = o->wb;
				o->wb = w->next;
				sl_wb_free_mem(s, w);
			}
	free(s->wb_hash);
	free(s->wb_files);
	sl_file_jnl_drop(s);
	sl_index_free(&s->ix);
	sl_jnl_free(s);
	free(s->owed.v);
	sl_alloc_free(s);
	sl_ext_free(s);
	sl_resv_free(s);
	free(s->dup_recs);
	free(s->dropped);
	for (int i = 0; i < SL_STRIPES; i++)
		pthread_rwlock_destroy(&s->stripes[i]);
	for (int i = 0; i < SL_CHUNK_STRIPES; i++)
		pthread_mutex_destroy(&s->chunk_locks[i]);
	pthread_rwlock_destroy(&s->reuse_lock);
	for (unsigned i = 0; i < SL_ARRAY_SIZE(s->rc); i++)
		sl_buf_put(s, s->rc[i].buf);
	sl_buf_pool_free(s);
	free(atomic_load(&s->zeros));
	pthread_mutex_destroy(&s->rc_lock);
	pthread_cond_destroy(&s->rc_cond);
	pthread_mutex_destroy(&s->pool_lock);
	pthread_mutex_destroy(&s->fq_lock);
	pthread_cond_destroy(&s->fq_cond);
	pthread_mutex_destroy(&s->bq_lock);
	pthread_cond_destroy(&s->bq_cond);
	pthread_cond_destroy(&s->ckpt_cond);
	pthread_cond_destroy(&s->trim_cond);
	pthread_cond_destroy(&s->held_cond);
	pthread_cond_destroy(&s->dying_cond);
	pthread_mutex_destroy(&s->trim_lock);
	pthread_mutex_destroy(&s->compact_lock);
	pthread_cond_destroy(&s->move_cond);
	pthread_mutex_destroy(&s->ckpt_lock);
	pthread_mutex_destroy(&s->jnl_lock);
	pthread_mutex_destroy(&s->lock);
	if (s->own_dev)
		slot_dev_close(s->dev);
	free(s);
}

/* A store on dev with o (NULL: defaults), nothing read yet. */
static int store_new(struct slot_dev *dev, const struct slot_opts *o,
		     struct slot_store **out)
{
	struct slot_opts def;
	if (!o) {
		slot_opts_init(&def);
		o = &def;
	}
	int err = store_alloc(dev, o, out);
	if (!err)
		(*out)->read_only = o->read_only;
	return err;
}

int sl_store_raw(struct slot_dev *dev, const struct sl_sb *sb,
		 const struct slot_opts *o, struct slot_store **out)
{
	struct slot_store *s;
	int err = store_new(dev, o, &s);
	if (err)
		return err;
	sl_store_sb_set(s, sb);
	err = sl_alloc_init(s);
	if (err) {
		store_free(s);
		return err;
	}
	*out = s;
	return 0;
}

void sl_store_raw_free(struct slot_store *s)
{
	store_free(s);
}

int slot_open_dev(struct slot_dev *dev, const struct slot_opts *o,
		  struct slot_store **out)
{
	struct slot_store *s;
	int err = store_new(dev, o, &s);
	if (err)
		return err;
	o = &s->opts;

	bool backup;
	struct sl_sb sb;
	err = sl_sb_read(dev, &sb, &backup);
	if (err)
		goto fail;
	sl_store_sb_set(s, &sb);
	if (!sl_sb_supported(&s->sb)) {
		err = -EPROTONOSUPPORT;
		goto fail;
	}
	if (s->sb.feature_ro_compat & ~SL_FEAT_RO_COMPAT_SUPP) {
		sl_log(s, "%s: unknown read-only-compatible features; "
		       "opening read-only", dev->name ? dev->name : "device");
		s->read_only = true;
	}
	if (dev->size < s->sb.device_size) {
		sl_log(s, "%s: device is %llu bytes but the file system needs "
		       "%llu (truncated, or shrunk before the file system "
		       "was?); restore its size",
		       dev->name ? dev->name : "device",
		       (unsigned long long)dev->size,
		       (unsigned long long)s->sb.device_size);
		err = -EFBIG;
		goto fail;
	}
	if (backup) {
		sl_log(s, "primary superblock damaged, using the backup");
		if (!s->read_only)
			sl_sb_write(dev, &s->sb, false);
	}
	err = sl_alloc_init(s);
	if (err)
		goto fail;
	s->loading = true;

	struct sl_ckpt_hdr hdr;
	bool fell_back = false;
	err = sl_ckpt_load(s, &hdr, &fell_back);
	if (err == -ENOENT) {
		sl_log(s, "no valid checkpoint; run fsck.slotfs to rebuild "
		       "the index from the slot headers");
		err = -EUCLEAN;
	}
	if (err)
		goto fail;
	bool clean = s->sb.flags & SL_SB_CLEAN;
	s->rec.was_clean = clean;
	s->rec.ckpt_seq = hdr.seq;
	/* a clean flag vouches for the newest checkpoint, not an older one:
	 * what was written after it is found as after a crash */
	bool scan = !clean || o->force_scan || fell_back;
	/* after a crash, a torn container is the checkpoint it cut short */
	bool damaged = clean && fell_back;
	if (damaged)
		sl_log(s, "a checkpoint container is damaged; the index comes "
		       "from seq %llu and the slot headers written since",
		       (unsigned long long)hdr.seq);
	err = sl_recover(s, &hdr, true, scan, scan || o->validate);
	if (!err)
		err = sl_alloc_rebuild(s);
	if (err)
		goto fail;
	sl_resv_settle(s);
	/* a read-only open cannot rewrite the chunks the journal's file data
	 * goes over: it holds the data in memory over them */
	if (s->read_only) {
		int64_t held = sl_file_jnl_apply(s, SL_JNL_HOLD);
		if (held < 0) {
			err = (int)held;
			goto fail;
		}
	}

	atomic_store(&s->on_error, s->sb.errors);
	if (s->sb.flags & SL_SB_ERRORS)
		sl_log(s, "warning: the file system has errors recorded (%"
		       PRIu32 "); running fsck.slotfs is recommended",
		       s->sb.error_count);
	if (!s->read_only) {
		s->opened_rw = true;
		/* till a clean close, a journal may hold records to replay,
		 * which a reader that does not know them must not skip */
		s->sb.flags &= ~SL_SB_CLEAN;
		s->sb.feature_incompat |= SL_FEAT_INCOMPAT_OPEN;
		s->sb.mount_time = (uint64_t)time(NULL);
		s->sb.write_time = s->sb.mount_time;
		s->sb.mount_count++;
		err = sl_sb_write(dev, &s->sb, false);
		if (err)
			goto fail;
		/* before the tails' rewrites, which would take the chunks the
		 * journal's writes go over */
		int64_t applied = sl_file_jnl_apply(s, SL_JNL_REWRITE);
		err = applied < 0 ? (int)applied : sl_file_cut_tails(s);
		if (err)
			goto fail;
		/* index records that did not hold: corruption, for fsck */
		if (s->rec.entries_dropped || s->load_bad_xattrs)
			sl_fs_error(s, SL_ERR_INDEX);
		if (damaged)
			sl_fs_error(s, SL_ERR_CKPT_LOST);
		/* a clean close left no journal slot past its checkpoint:
		 * the journal goes on from there; after a crash, a journal
		 * of a new id continues the checkpoint written here */
		if (!scan && hdr.jnl_id)
			sl_jnl_resume(s, &hdr);
		else
			sl_jnl_start(s);
		if (scan)
			sl_dirty(s);
		/* what recovery changed is durable before new writes */
		pthread_mutex_lock(&s->ckpt_lock);
		if (s->dirty_total != s->persisted)
			err = sl_ckpt_write(s);
		if (!err)
			err = sl_fs_errors_record(s);
		pthread_mutex_unlock(&s->ckpt_lock);
		if (err)
			goto fail;
		err = sl_flushers_start(s);
		if (err)
			goto fail;
		if (o->periodic_checkpoint) {
			err = sl_ckpt_thread_start(s);
			if (err)
				goto fail;
		}
	}
	*out = s;
	return 0;
fail:
	sl_ckpt_thread_stop(s);
	sl_flushers_stop(s);
	s->own_dev = false;
	store_free(s);
	return err;
}

int slot_open(const char *path, const struct slot_opts *o,
	      struct slot_store **out)
{
	struct slot_opts def;
	if (!o) {
		slot_opts_init(&def);
		o = &def;
	}
	struct slot_dev *dev;
	int err = slot_dev_open(path, o->engine, o->queue_depth, o->direct_io,
				o->read_only, true, &dev);
	if (err)
		return err;
	err = slot_open_dev(dev, o, out);
	if (err) {
		slot_dev_close(dev);
		return err;
	}
	(*out)->own_dev = true;
	return 0;
}

int slot_close(struct slot_store *s)
{
	int err = 0;
	if (!s)
		return 0;
	sl_batch_workers_stop(s);
	sl_ckpt_thread_stop(s);
	sl_flushers_stop(s);
	bool rw = !s->read_only;
	if (rw) {
		err = sl_file_flush_every(s, 0);
		if (err)
			sl_log(s, "close: writing buffered data: %s",
			       slot_strerror(err));
	}
	pthread_mutex_lock(&s->ckpt_lock);
	if (rw && s->dirty_total != s->persisted)
		err = sl_ckpt_write(s);
	/* Both containers hold what the store closes with, once it changed:
	 * directories and names live in checkpoints alone, so a container
	 * damaged at rest then costs nothing (the other is loaded and the
	 * slot headers scanned) where the older state would have sent the
	 * files of every newer directory to lost+found. */
	if (rw && !err && s->ckpt_seq != s->rec.ckpt_seq) {
		sl_lock(s);
		sl_ns_dirty(s);
		sl_unlock(s);
		err = sl_ckpt_write(s);
	}
	/* errors found in use, the close's own included, go into the
	 * superblock before it says clean (with errors=remount-ro the
	 * store is read-only: it stays not clean) */
	sl_fs_errors_record(s);
	pthread_mutex_unlock(&s->ckpt_lock);
	/* a buffer whose bytes only the journal holds (its write-out
	 * failed): the next open must replay it */
	sl_lock(s);
	if (rw && !err && sl_file_jnl_lsn(s))
		err = -EIO;
	sl_unlock(s);
	if (rw) {
		if (!err)
			err = sl_dev_flush(s);
		if (!err) {
			s->sb.flags |= SL_SB_CLEAN;
			s->sb.feature_incompat &= ~SL_FEAT_INCOMPAT_OPEN;
			s->sb.write_time = (uint64_t)time(NULL);
			err = sl_sb_write(s->dev, &s->sb, false);
		}
		if (err)
			sl_log(s, "close: %s; the file system is left marked "
			       "not clean", slot_strerror(err));
	}
	store_free(s);
	return err;
}

void slot_abandon(struct slot_store *s)
{
	if (!s)
		return;
	sl_batch_workers_stop(s);
	sl_ckpt_thread_stop(s);
	sl_flushers_stop(s);
	store_free(s);
}

void slot_recovery_report(const struct slot_store *s, struct slot_recovery *r)
{
	*r = s->rec;
}

void slot_geometry_get(const struct slot_store *s, struct slot_geometry *geo)
{
	*geo = s->geo;
	geo->acls = __atomic_load_n(&s->acl_seen, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* statfs and status                                                   */
/* ------------------------------------------------------------------ */

void sl_store_space(struct slot_store *s, uint64_t *total,
		    uint64_t *free_bytes, uint64_t *free_regions)
{
	uint64_t per_chunk = s->cls[s->ncls - 1].per_region;
	uint64_t chunk = 1ull << s->cls[s->ncls - 1].shift;
	uint64_t fr = 0, fb = 0, pend_whole = 0;
	/* a region at a time, not a slot: its free slots are those not in
	 * use (quarantined and pinned ones are, until released) */
	for (uint32_t r = 0; r < s->nregions; r++) {
		const struct sl_region *rg = &s->regions[r];
		if (rg->cls == SL_RGN_FREE || rg->nused == rg->npend) {
			/* one that only waits for its slots' release is
			 * whole again then, at any class: after an rm -rf
			 * of small files df shows all the space back, as
			 * the allocator finds it */
			fr++;
			if (rg->cls != SL_RGN_FREE)
				pend_whole += (uint64_t)rg->npend <<
					      s->cls[rg->cls].shift;
		} else if (r < s->alloc_limit) {
			fb += (uint64_t)(rg->nslots - rg->nused) <<
			      s->cls[rg->cls].shift;
		}
	}
	fb += fr * per_chunk * chunk;
	/* quarantined and pinned slots come back at the next flush or
	 * checkpoint (those one under way holds, when it is done): count
	 * them free, as df users expect after rm; those of regions counted
	 * whole above once */
	fb += sl_slots_bytes(s, &s->quar) + sl_slots_bytes(s, &s->pin) +
	      sl_slots_bytes(s, &s->jnl_hold) + s->held_bytes;
	fb -= SL_MIN(fb, pend_whole);
	*total = (uint64_t)s->nregions * per_chunk * chunk;
	if (fb > *total)
		fb = *total;
	/* what fallocate set aside is spoken for */
	fb -= SL_MIN(fb, s->resv_slots * chunk);
	*free_bytes = fb;
	*free_regions = fr;
}

int slot_statfs(struct slot_store *s, struct slot_statfs *out)
{
	uint64_t total, fb, fr;
	sl_lock(s);
	sl_store_space(s, &total, &fb, &fr);
	uint64_t objs = s->ix.obj_count;
	uint64_t per_small = s->cls[0].per_region;
	/* files the checkpoint has room for, at a name of 24 bytes */
	uint64_t meta_free = sl_ckpt_left(s) /
			     (SL_CKPT_OBJ_SIZE + sl_ckpt_name_size(24));
	sl_unlock(s);
	memset(out, 0, sizeof(*out));
	out->block_size = 4096;
	out->blocks = total / 4096;
	out->blocks_free = fb / 4096;
	/* every small file needs a smallest-class slot */
	uint64_t files = per_small * s->nregions;
	out->files = SL_MAX(files, objs);
	out->files_free = out->files - SL_MIN(objs, out->files);
	if (out->files_free > meta_free) {
		out->files_free = meta_free;
		out->files = objs + meta_free;
	}
	out->name_max = SLOT_NAME_MAX;
	return 0;
}

int slot_status_get(struct slot_store *s, struct slot_status *st)
{
	memset(st, 0, sizeof(*st));
	uint64_t total, fb, fr;
	/* looking does not count: callers measure the operations they run */
	st->lock_acquisitions = atomic_load(&s->lock_count);
	pthread_mutex_lock(&s->lock);
	st->metadata_dirty_total = s->dirty_total;
	st->metadata_persisted = s->persisted;
	st->metadata_seq = s->ckpt_seq;
	st->checkpoints = s->ckpt_count;
	st->last_checkpoint_unix_ms = s->last_ckpt_ms;
	st->key_count = s->ix.files;
	st->object_count = s->ix.obj_count;
	st->slots_total = s->slots_total;
	st->slots_used = s->slots_used;
	st->slots_free = s->slots_total - s->slots_used;
	st->regions_total = s->nregions;
	sl_store_space(s, &total, &fb, &fr);
	st->regions_free = fr;
	st->bytes_total = total;
	st->bytes_free = fb;
	pthread_mutex_unlock(&s->lock);
	st->inflight_io_count = atomic_load(&s->inflight);
	st->last_io_age_ms = (sl_mono_ns() - atomic_load(&s->last_io_ns)) /
			     1000000;
	st->puts = atomic_load(&s->puts);
	st->gets = atomic_load(&s->gets);
	st->deletes = atomic_load(&s->deletes);
	st->canceled_puts = atomic_load(&s->canceled);
	st->checksum_errors = atomic_load(&s->csum_errors);
	slot_dev_get_stats(s->dev, &st->io);
	st->queue_depth = st->io.queue_depth;
	st->read_only = s->read_only;
	st->clean_at_open = s->rec.was_clean;
	snprintf(st->engine, sizeof(st->engine), "%s",
		 slot_dev_engine_name(s->dev));
	return 0;
}

int slot_status_ext_get(struct slot_store *s, struct slot_status_ext *st)
{
	size_t asked = st->size;
	if (asked < sizeof(st->size))
		return -EINVAL;
	struct slot_status_ext e = { .size = SL_MIN(asked, sizeof(e)) };
	e.compaction_regions = atomic_load(&s->cp_regions);
	e.compaction_failed = atomic_load(&s->cp_failed);
	e.compaction_chunks = atomic_load(&s->cp_chunks);
	e.compaction_bytes = atomic_load(&s->cp_bytes);
	e.fs_errors = atomic_load(&s->err_total);
	e.errors_ro = atomic_load(&s->errors_ro);
	e.ckpt_lock_ns_last = atomic_load(&s->ckpt_lock_last);
	e.ckpt_lock_ns_max = atomic_load(&s->ckpt_lock_max);
	sl_lock(s);
	e.removed_held = s->dying;
	e.removed_waiting = s->dying_waiters;
	sl_unlock(s);
	/* an older caller's struct is a prefix of this one */
	memcpy(st, &e, e.size);
	return 0;
}
