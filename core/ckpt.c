/* SPDX-License-Identifier: MIT */
/*
 * ckpt.c - the checkpoint: the whole index written to one of two mirrored
 * containers in the metadata region.
 *
 * Commit order: flush the device (every slot the snapshot points at is
 * durable), write the container with seq + 1 over the older container,
 * flush again, then call it persisted.  Open takes the newest container
 * whose checksums hold, so a torn checkpoint leaves the previous one in
 * force and no superblock write is needed.
 */
#include <malloc.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"


static bool ck_obj_wanted(const struct sl_obj *o)
{
	return o->nlink > 0 && !(o->flags & (SL_OBJ_PENDING | SL_OBJ_DELETED));
}

static size_t ck_pad8(size_t n)
{
	return SL_ALIGN_UP(n, 8);
}

static size_t ck_obj_size(const struct sl_obj *o)
{
	size_t tl = S_ISLNK(o->mode) && o->target ? strlen(o->target) : 0;
	return ck_pad8(SL_OBJ_REC_SIZE + (size_t)o->nchunks * SL_CHUNK_REC_SIZE +
		       tl);
}

struct ck_snap {
	uint8_t *buf;           /* block header + payload (sl_alloc_big) */
	size_t cap;             /* ... its size */
	size_t at;              /* bytes of it written */
	size_t len;             /* bytes to write, block multiple */
	uint64_t *csums;        /* the chunks' checksums in record order: */
	size_t ncsum, csum_cap; /* they follow the names, not known yet */
	struct sl_ckpt_hdr hdr;
	uint64_t dirty_at;
	uint64_t ns_at;
	struct sl_vec pins;
	uint64_t pins_bytes;    /* their payload bytes, in held_bytes */
	struct sl_vec jnl_slots; /* journal slots it makes needless */
	uint64_t jnl_ops_at;    /* journal records it holds */
	bool jnl_taken;         /* the snapshot got that far */
};

/* Grow *p, which holds used of its cap bytes, to hold need (lock held:
 * only when the guess made before the lock fell short). */
static int ck_grow(void **p, size_t *cap, size_t used, size_t need)
{
	size_t ncap = SL_ALIGN_UP(SL_MAX(need, *cap + *cap / 2), SL_BLOCK);
	void *n = sl_alloc_big(ncap, false);
	if (!n)
		return -ENOMEM;
	if (*p) {
		memcpy(n, *p, used);
		sl_free_big(*p, *cap);
	}
	*p = n;
	*cap = ncap;
	return 0;
}

/* Room for n more payload bytes at sn->at; -ENOSPC past a container. */
static int ck_reserve(struct slot_store *s, struct ck_snap *sn, size_t n)
{
	size_t need = sn->at + n;
	if (need - SL_BLOCK > s->sb.meta_size / 2 - SL_BLOCK)
		return -ENOSPC;
	if (need <= sn->cap)
		return 0;
	return ck_grow((void **)&sn->buf, &sn->cap, sn->at, need);
}

static int ck_reserve_csums(struct ck_snap *sn, size_t n)
{
	size_t need = (sn->ncsum + n) * sizeof(*sn->csums);
	if (need <= sn->csum_cap)
		return 0;
	return ck_grow((void **)&sn->csums, &sn->csum_cap,
		       sn->ncsum * sizeof(*sn->csums), need);
}

/* Lock held.  One object's record and chunk records at sn->at, its
 * checksums to sn->csums; marks it and its slots as in the snapshot. */
static int ck_put_obj(struct slot_store *s, struct ck_snap *sn,
		      struct sl_obj *o)
{
	size_t size = ck_obj_size(o);
	int err = ck_reserve(s, sn, size);
	if (!err)
		err = ck_reserve_csums(sn, o->nchunks);
	if (err)
		return err;
	o->flags |= SL_OBJ_NEWCKPT;
	if (o->name)
		o->flags |= SL_OBJ_SNAP_NAMED;
	/* the checkpoint carries what no header does */
	if (o->flags & (SL_OBJ_ATTR_DIRTY | SL_OBJ_CKPT_OWED | SL_OBJ_CUT))
		o->flags = (uint16_t)((o->flags & ~(SL_OBJ_ATTR_DIRTY |
						    SL_OBJ_CKPT_OWED |
						    SL_OBJ_CUT)) |
				      SL_OBJ_SNAP_DIRTY);
	uint8_t *p = sn->buf + sn->at;
	size_t tl = S_ISLNK(o->mode) && o->target ? strlen(o->target) : 0;
	struct sl_obj_rec rec = {
		.oid = o->oid, .mode = o->mode, .uid = o->uid,
		.gid = o->gid, .nlink = o->nlink,
		.rdev = sl_obj_rdev(o),
		/* not past an extension still on its way: the flush covers
		 * only what is down (chunks past it stay, for its header) */
		.size = sl_ext_size(s, o, -1, true),
		.atime_ns = o->atime, .mtime_ns = o->mtime,
		.ctime_ns = o->ctime, .txn = o->txn,
		.nchunks = o->nchunks,
		.target_len = (uint32_t)tl,
	};
	p += sl_obj_rec_encode(&rec, p);
	for (uint32_t i = 0; i < o->nchunks; i++) {
		const struct sl_chunk *c = &o->chunks[i];
		struct sl_chunk_rec cr = { .idx = c->idx, .len = c->len,
					   .slot = c->slot, .gen = c->gen };
		p += sl_chunk_rec_encode(&cr, p);
		sn->csums[sn->ncsum++] = c->csum;
		struct sl_region *rg = &s->regions[sl_slot_region(c->slot)];
		rg->state[sl_slot_index(c->slot)] |= SL_SLOT_NEWCKPT;
	}
	if (tl)
		memcpy(p, o->target, tl);
	sn->at += size;         /* the padding: sl_alloc_big zeroes */
	return 0;
}

static int ck_put_dirent(struct slot_store *s, struct ck_snap *sn,
			 const struct sl_dirent *d)
{
	size_t size = ck_pad8(SL_DIRENT_REC_FIXED + d->len);
	int err = ck_reserve(s, sn, size);
	if (err)
		return err;
	uint8_t *p = sn->buf + sn->at;
	sl_put64(p, d->parent);
	sl_put64(p + 8, d->child);
	sl_put16(p + 16, d->len);
	memcpy(p + 18, d->name, d->len);
	sn->at += size;
	return 0;
}

static void ck_commit(struct slot_store *s, struct ck_snap *sn, bool ok);

/* Lock held.  A file whose name in hand was unlinked while it kept
 * another takes d, if d is one of its: named in this checkpoint. */
static void ck_name_found(struct sl_index *ix, struct sl_dirent *d)
{
	struct sl_obj *o = d->child != SLOT_ROOT_INO ?
			   sl_obj_find(ix, d->child) : NULL;
	if (o && !o->name && o->nlink && !S_ISDIR(o->mode) &&
	    (o->flags & SL_OBJ_NEWCKPT)) {
		o->name = d;
		o->flags |= SL_OBJ_SNAP_NAMED;
	}
}

/*
 * Lock held.  Serialise the index into sn and mark what it references.
 * One pass: the buffer was sized before the lock from the last
 * checkpoint and grows here if the index grew past that (a sizing pass
 * was a sixth of the time writers waited).  The chunks' checksums
 * follow the names, so they gather aside until their offset is known.
 * The payload checksum and the block header are sl_ckpt_write's, after
 * the lock.
 */
static int ck_snapshot(struct slot_store *s, struct ck_snap *sn)
{
	struct sl_index *ix = &s->ix;
	uint64_t nobj = 0, nde = 0;
	int err;

	sn->at = SL_BLOCK;
	sn->ncsum = 0;
	err = ck_reserve(s, sn, (size_t)s->nregions * SL_RGN_REC_SIZE);
	for (uint32_t r = 0; !err && r < s->nregions; r++) {
		struct sl_rgn_rec rr = { .cls = s->regions[r].cls,
					 .assign_gen = s->regions[r].assign_gen };
		sn->at += sl_rgn_rec_encode(&rr, sn->buf + sn->at);
	}
	for (size_t b = 0; !err && b <= ix->obj_mask; b++)
		for (struct sl_obj *o = ix->obj_tab[b]; !err && o;
		     o = o->hnext)
			if (ck_obj_wanted(o)) {
				err = ck_put_obj(s, sn, o);
				nobj++;
			}
	for (size_t b = 0; !err && b <= ix->de_mask; b++)
		for (struct sl_dirent *d = ix->de_tab[b]; !err && d;
		     d = d->hnext)
			if (!(d->flags & SL_DE_PENDING)) {
				err = ck_put_dirent(s, sn, d);
				nde++;
				if (s->names_lost)
					ck_name_found(ix, d);
			}
	s->names_lost = false;
	/* last, the chunks' payload checksums (1.1), in chunk record order:
	 * a 1.0 reader stops before them; then the extended attributes
	 * (ro_compat XATTR), then the chunks fallocate set aside (1.2) */
	size_t csum_off = sn->at - SL_BLOCK;
	size_t xattr_off = csum_off + sn->ncsum * 8;
	uint64_t nxa = 0, nrv = 0;
	size_t resv_off = xattr_off, plen = xattr_off;
	if (!err) {
		resv_off += sl_xattr_ckpt_size(s, ck_obj_wanted, &nxa);
		plen = resv_off + sl_resv_ckpt_size(s, ck_obj_wanted, &nrv);
		err = ck_reserve(s, sn, plen - csum_off);
	}
	if (err) {
		if (err == -ENOSPC)
			sl_log(s, "checkpoint needs more than the %llu bytes a "
			       "container holds: the metadata region is too "
			       "small for this many files",
			       (unsigned long long)(s->sb.meta_size / 2 -
						    SL_BLOCK));
		ck_commit(s, sn, false);        /* the marks come off */
		return err;
	}
	uint8_t *payload = sn->buf + SL_BLOCK;
	sl_xattr_ckpt_encode(s, ck_obj_wanted, payload + xattr_off);
	sl_resv_ckpt_encode(s, ck_obj_wanted, payload + resv_off);

	struct sl_ckpt_hdr *h = &sn->hdr;
	memset(h, 0, sizeof(*h));
	h->magic = SL_MAGIC_CKPT;
	memcpy(h->uuid, s->hdr_uuid, 16);
	h->seq = s->ckpt_seq + 1;
	h->payload_len = plen;
	h->scan_gen = sl_txn_min_gen(s);
	h->next_gen = s->next_gen;
	h->next_oid = s->next_oid;
	h->obj_count = nobj;
	h->dirent_count = nde;
	h->region_count = s->nregions;
	h->csum_off = csum_off;
	h->csum_count = sn->ncsum;
	h->xattr_off = nxa ? xattr_off : 0;
	h->xattr_count = nxa;
	h->resv_off = nrv ? resv_off : 0;
	h->resv_count = nrv;
	h->time_ns = (uint64_t)sl_now_ns();
	/* the journal written after this continues it */
	h->jnl_id = s->jnl_id;
	h->jnl_lsn = s->jnl_lsn;

	sn->len = SL_ALIGN_UP(SL_BLOCK + plen, SL_BLOCK);
	sn->dirty_at = s->dirty_total;
	sn->ns_at = s->ns_changes;
	sn->jnl_ops_at = s->jnl_ops;
	h->jnl_data_slots = sl_jnl_snap(s, &sn->jnl_slots);
	sn->jnl_taken = true;
	sn->pins = s->pin;
	sn->pins_bytes = sl_slots_bytes(s, &sn->pins);
	s->pin_held += sn->pins.n;
	s->held_bytes += sn->pins_bytes;
	memset(&s->pin, 0, sizeof(s->pin));
	return 0;
}

/* After the lock: the checksums into place, the payload checksum and the
 * block header. */
static void ck_seal(struct ck_snap *sn)
{
	struct sl_ckpt_hdr *h = &sn->hdr;
	uint8_t *payload = sn->buf + SL_BLOCK;
	for (size_t i = 0; i < sn->ncsum; i++)
		sl_put64(payload + h->csum_off + 8 * i, sn->csums[i]);
	h->payload_csum = sl_csum(payload, h->payload_len);
	sl_ckpt_hdr_encode(h, sn->buf);
}

/* Lock held.  The checkpoint is durable (ok): move the reference marks;
 * or it failed, or its snapshot stopped part way: take them off. */
static void ck_commit(struct slot_store *s, struct ck_snap *sn, bool ok)
{
	for (uint32_t r = 0; r < s->nregions; r++) {
		struct sl_region *rg = &s->regions[r];
		for (uint32_t j = 0; rg->state && j < rg->nslots; j++) {
			uint8_t st = rg->state[j];
			if (ok)
				st = (uint8_t)((st & SL_SLOT_NEWCKPT) ?
					       (st | SL_SLOT_CKPT) :
					       (st & ~SL_SLOT_CKPT));
			rg->state[j] = (uint8_t)(st & ~SL_SLOT_NEWCKPT);
		}
	}
	struct sl_index *ix = &s->ix;
	for (size_t b = 0; b <= ix->obj_mask; b++) {
		for (struct sl_obj *o = ix->obj_tab[b]; o; o = o->hnext) {
			if (ok && (o->flags & SL_OBJ_NEWCKPT))
				o->flags |= SL_OBJ_IN_CKPT;
			if (ok && (o->flags & SL_OBJ_SNAP_NAMED))
				o->flags |= SL_OBJ_NAMED;
			if (!ok && (o->flags & SL_OBJ_SNAP_DIRTY))
				o->flags |= SL_OBJ_ATTR_DIRTY | SL_OBJ_CKPT_OWED;
			o->flags &= ~(SL_OBJ_NEWCKPT | SL_OBJ_SNAP_NAMED |
				      SL_OBJ_SNAP_DIRTY);
		}
	}
	s->pin_held -= sn->pins.n;
	s->held_bytes -= sn->pins_bytes;
	if (sn->jnl_taken)
		sl_jnl_ckpt_done(s, &sn->jnl_slots, sn->jnl_ops_at, ok);
	if (ok) {
		sl_pin_release(s, &sn->pins);
		s->persisted = sn->dirty_at;
		s->ns_persisted = sn->ns_at;
		s->ckpt_seq = sn->hdr.seq;
		s->ckpt_bytes = sn->len;
		s->ckpt_csums = sn->ncsum;
		s->ckpt_count++;
		s->last_ckpt_ms = sl_now_ns() / 1000000;
	} else {
		for (size_t i = 0; i < sn->pins.n; i++)
			sl_vec_push(&s->pin, sn->pins.v[i]);
		free(sn->pins.v);
	}
	memset(&sn->pins, 0, sizeof(sn->pins));
}

/* Status: how long writers waited on the last checkpoint, and longest. */
static void ck_lock_held(struct slot_store *s, uint64_t ns)
{
	atomic_store(&s->ckpt_lock_last, ns);
	uint64_t max = atomic_load(&s->ckpt_lock_max);
	while (ns > max &&
	       !atomic_compare_exchange_weak(&s->ckpt_lock_max, &max, ns))
		;
}

/* Regions still owing their header (sl_region.hdr_owed). */
struct ck_owed {
	uint32_t *r;
	size_t n;
};

/* Lock held. */
static int ck_owed_regions(struct slot_store *s, struct ck_owed *o)
{
	for (uint32_t r = 0; r < s->nregions; r++) {
		if (!atomic_load(&s->regions[r].hdr_owed))
			continue;
		if (!o->r) {
			o->r = malloc(s->nregions * sizeof(*o->r));
			if (!o->r)
				return -ENOMEM;
		}
		o->r[o->n++] = r;
	}
	return 0;
}

int sl_ckpt_write(struct slot_store *s)
{
	struct ck_snap sn;
	memset(&sn, 0, sizeof(sn));
	/* the buffers before the lock (faulted in: 20 ms of page faults at
	 * 300,000 files): the last checkpoint's size and more */
	sn.cap = SL_ALIGN_UP(s->ckpt_bytes + s->ckpt_bytes / 8 + 16 * SL_BLOCK,
			     SL_BLOCK);   /* it is written in whole blocks */
	sn.buf = sl_alloc_big(sn.cap, true);
	sn.csum_cap = SL_ALIGN_UP((s->ckpt_csums + s->ckpt_csums / 8 + 512) *
				  sizeof(*sn.csums), SL_BLOCK);
	sn.csums = sl_alloc_big(sn.csum_cap, true);
	struct ck_owed owed = { 0 };
	int err = sn.buf && sn.csums ? 0 : -ENOMEM;
	if (!err) {
		sl_lock(s);
		int64_t t0 = sl_mono_ns();
		err = ck_owed_regions(s, &owed);  /* first: an -ENOMEM
						     leaves no snapshot */
		if (!err)
			err = ck_snapshot(s, &sn);
		int64_t held = sl_mono_ns() - t0;
		sl_unlock(s);
		ck_lock_held(s, (uint64_t)held);
	}
	if (err) {
		free(owed.r);
		sl_free_big(sn.buf, sn.cap);
		sl_free_big(sn.csums, sn.csum_cap);
		return err;
	}
	ck_seal(&sn);

	uint64_t base = s->sb.meta_offset +
			(sn.hdr.seq % 2) * (s->sb.meta_size / 2);
	/* every region the snapshot names has its header on the device
	 * (one whose write failed, no slot written in it since) */
	if (owed.n)
		err = sl_regions_write(s, owed.r, owed.n);
	free(owed.r);
	/* every slot the snapshot names must be durable before it is */
	if (!err)
		err = sl_ext_flush(s);
	/* one batch: a torn write fails the payload csum, and the other
	 * container stays in force */
	if (!err)
		err = sl_write_span(s, base, sn.buf, sn.len);
	if (!err)
		err = sl_ext_flush(s);
	/* pins go back to use: wait out reads that may hold one */
	bool gate = !err && sn.pins.n;
	if (gate)
		pthread_rwlock_wrlock(&s->reuse_lock);
	sl_lock(s);
	int64_t t0 = sl_mono_ns();
	ck_commit(s, &sn, err == 0);
	uint64_t held = (uint64_t)(sl_mono_ns() - t0);
	sl_unlock(s);
	if (held > atomic_load(&s->ckpt_lock_last))
		ck_lock_held(s, held);
	if (gate)
		pthread_rwlock_unlock(&s->reuse_lock);
	sl_free_big(sn.buf, sn.cap);
	sl_free_big(sn.csums, sn.csum_cap);
	if (err) {
		sl_log(s, "checkpoint %llu failed: %s",
		       (unsigned long long)sn.hdr.seq, slot_strerror(err));
		/* not a sparse image's full host (nothing is damaged: the
		 * other container stays; the mount says what to do) */
		if (err != -ENOSPC && err != -ENOMEM)
			sl_fs_error(s, SL_ERR_CKPT_WRITE);
	}
	return err;
}

uint64_t sl_ckpt_left(struct slot_store *s)
{
	/* every slot counted as a chunk record with its checksum: chunks
	 * come and go with every write, which cannot ask for room */
	uint64_t need = (uint64_t)s->nregions * SL_RGN_REC_SIZE +
			s->geo.max_small_files * SL_CKPT_SLOT_SIZE +
			(uint64_t)s->ix.obj_count * SL_CKPT_OBJ_SIZE +
			s->ix.names_ck + s->ix.xa_ck;
	uint64_t room = s->sb.meta_size / 2 - SL_BLOCK;
	return need < room ? room - need : 0;
}

int sl_ckpt_room(struct slot_store *s, uint64_t more)
{
	return more <= sl_ckpt_left(s) ? 0 : -ENOSPC;
}

/* Changes not in a checkpoint yet? */
static bool ck_owed(struct slot_store *s)
{
	sl_lock(s);
	bool owed = s->dirty_total > s->persisted;
	sl_unlock(s);
	return owed;
}

int slot_checkpoint(struct slot_store *s, bool force)
{
	pthread_mutex_lock(&s->ckpt_lock);
	bool dirty = !s->read_only && ck_owed(s);
	bool idle = atomic_load(&s->inflight) == 0 &&
		    sl_mono_ns() - atomic_load(&s->last_io_ns) >=
			    (int64_t)s->opts.meta_idle_quiet_ms * 1000000;
	int ret = s->read_only ? -EROFS : 0;
	if (dirty && (force || idle)) {
		ret = sl_ckpt_write(s);
		if (!ret)
			ret = 1;
	}
	/* read-only too: errors=remount-ro stopped writes, not this */
	sl_fs_errors_record(s);
	pthread_mutex_unlock(&s->ckpt_lock);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Load                                                                */
/* ------------------------------------------------------------------ */

static int ck_read(struct slot_store *s, uint64_t off, void *buf, size_t len)
{
	return sl_dev_span(s->dev, false, off, buf, len);
}

/* Read container i's header; 0 if it is a valid one of this fs. */
int sl_ckpt_read_hdr(struct slot_store *s, unsigned i, struct sl_ckpt_hdr *h);
int sl_ckpt_read_hdr(struct slot_store *s, unsigned i, struct sl_ckpt_hdr *h)
{
	uint8_t *b = sl_alloc_aligned(SL_BLOCK);
	if (!b)
		return -ENOMEM;
	int err = ck_read(s, s->sb.meta_offset + i * (s->sb.meta_size / 2), b,
			  SL_BLOCK);
	if (!err)
		err = sl_ckpt_hdr_decode(b, h);
	free(b);
	if (!err && memcmp(h->uuid, s->hdr_uuid, 16))
		err = -ESTALE;
	if (!err && h->payload_len > s->sb.meta_size / 2 - SL_BLOCK)
		err = -EUCLEAN;
	if (!err && h->seq % 2 != i)
		err = -EUCLEAN;
	return err;
}

/* Read and check container i's payload; caller frees *out. */
int sl_ckpt_read_payload(struct slot_store *s, const struct sl_ckpt_hdr *h,
			 uint8_t **out);
int sl_ckpt_read_payload(struct slot_store *s, const struct sl_ckpt_hdr *h,
			 uint8_t **out)
{
	size_t len = SL_ALIGN_UP(h->payload_len ? h->payload_len : 1, SL_BLOCK);
	uint8_t *p = sl_alloc_aligned(len);
	if (!p)
		return -ENOMEM;
	uint64_t off = s->sb.meta_offset + (h->seq % 2) * (s->sb.meta_size / 2) +
		       SL_BLOCK;
	int err = ck_read(s, off, p, len);
	if (!err && sl_csum(p, h->payload_len) != h->payload_csum)
		err = -EBADMSG;
	if (err) {
		free(p);
		return err;
	}
	*out = p;
	return 0;
}

/* Count a chunk record of oid dropped at load (load_badrefs); the
 * records of one object come together.  Without memory it is only not
 * named. */
static void ck_dropped_add(struct slot_store *s, uint64_t oid)
{
	if (s->ndropped && s->dropped[s->ndropped - 1].oid == oid) {
		s->dropped[s->ndropped - 1].n++;
		return;
	}
	void *nd = realloc(s->dropped, (s->ndropped + 1) * sizeof(*s->dropped));
	if (!nd)
		return;
	s->dropped = nd;
	s->dropped[s->ndropped++] = (struct sl_dropped){ .oid = oid, .n = 1 };
}

/* Parse a payload into the (empty) index.  Every length is checked: the
 * payload may be anything that happens to pass its checksum. */
int sl_ckpt_parse(struct slot_store *s, const struct sl_ckpt_hdr *h,
		  const uint8_t *p)
{
	const uint8_t *payload = p, *end = p + h->payload_len;
	/* the chunk checksums, if this checkpoint has them where they fit;
	 * they only spare gets a header read, so wrong ones cost a re-read
	 * (a get checks the header then), never data */
	uint64_t csum_off, k = 0;
	uint64_t ncsum = sl_ckpt_csums(h, &csum_off);
	const uint8_t *csums = p + csum_off;
	/* more regions than the store has: fsck cut a truncated device
	 * short; chunks in the lost regions fail their slot check below */
	if (h->region_count < s->nregions)
		return -EUCLEAN;
	if ((size_t)(end - p) < (size_t)h->region_count * SL_RGN_REC_SIZE)
		return -EUCLEAN;
	for (uint32_t r = 0; r < h->region_count; r++) {
		struct sl_rgn_rec rr;
		sl_rgn_rec_decode(p, &rr);
		p += SL_RGN_REC_SIZE;
		if (rr.cls == SL_RGN_FREE || r >= s->nregions)
			continue;
		if (rr.cls >= s->ncls)
			return -EUCLEAN;
		int err = sl_region_assign(s, r, rr.cls, rr.assign_gen);
		if (err)
			return err;
	}
	for (uint64_t i = 0; i < h->obj_count; i++) {
		if ((size_t)(end - p) < SL_OBJ_REC_SIZE)
			return -EUCLEAN;
		struct sl_obj_rec rec;
		const uint8_t *start = p;
		sl_obj_rec_decode(p, &rec);
		p += SL_OBJ_REC_SIZE;
		if ((uint64_t)rec.nchunks * SL_CHUNK_REC_SIZE >
			    (uint64_t)(end - p) ||
		    rec.target_len > SLOT_PATH_MAX)
			return -EUCLEAN;
		if (rec.oid == 0 || sl_obj_find(&s->ix, rec.oid))
			return -EUCLEAN;
		uint32_t type = rec.mode & S_IFMT;
		if (type != S_IFREG && type != S_IFDIR && type != S_IFLNK &&
		    type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR &&
		    type != S_IFBLK)
			return -EUCLEAN;
		struct sl_obj *o = sl_obj_new(&s->ix, rec.oid, rec.mode);
		if (!o)
			return -ENOMEM;
		o->uid = rec.uid;
		o->gid = rec.gid;
		o->nlink = rec.nlink;
		if (S_ISCHR(o->mode) || S_ISBLK(o->mode))
			o->rdev = rec.rdev;
		o->size = rec.size;
		o->atime = rec.atime_ns;
		o->mtime = rec.mtime_ns;
		o->ctime = rec.ctime_ns;
		o->txn = rec.txn;
		o->flags |= SL_OBJ_IN_CKPT | SL_OBJ_NAMED;
		/* past the size: damage, unless a crash cut short the
		 * extension it belongs to (recovery decides) */
		uint64_t chunk_max = (s->sb.flags & SL_SB_CLEAN) ?
			(rec.size >> s->sb.chunk_shift) + 1 : UINT64_MAX;
		for (uint32_t c = 0; c < rec.nchunks; c++) {
			struct sl_chunk_rec cr;
			sl_chunk_rec_decode(p, &cr);
			p += SL_CHUNK_REC_SIZE;
			struct sl_chunk ch = { .slot = cr.slot, .gen = cr.gen,
					       .idx = cr.idx, .len = cr.len };
			if (k < ncsum)
				ch.csum = sl_get64(csums + 8 * k);
			k++;
			/* a bad or doubly claimed slot: drop the chunk, the
			 * file reads a hole there; fsck reports it */
			if (!S_ISREG(o->mode) || cr.idx >= chunk_max ||
			    !sl_slot_valid(s, cr.slot) ||
			    cr.len > (1u << s->cls[sl_slot_cls(s, cr.slot)]
						    .shift)) {
				s->rec.entries_dropped++;
				s->load_badrefs++;
				ck_dropped_add(s, o->oid);
				continue;
			}
			if (sl_slot_claim(s, cr.slot)) {
				s->rec.entries_dropped++;
				s->load_dups++;
				void *nd = realloc(s->dup_recs, (s->ndup_recs + 1) *
						   sizeof(*s->dup_recs));
				if (nd) {
					s->dup_recs = nd;
					s->dup_recs[s->ndup_recs].oid = o->oid;
					s->dup_recs[s->ndup_recs++].c = ch;
				}
				continue;
			}
			if (sl_obj_set_chunk(o, &ch, NULL, NULL))
				return -ENOMEM;
			struct sl_region *rg =
				&s->regions[sl_slot_region(cr.slot)];
			rg->state[sl_slot_index(cr.slot)] |= SL_SLOT_CKPT;
			s->rec.entries_loaded++;
		}
		if (rec.target_len) {
			if ((size_t)(end - p) < rec.target_len ||
			    !S_ISLNK(o->mode))
				return -EUCLEAN;
			o->target = malloc(rec.target_len + 1);
			if (!o->target)
				return -ENOMEM;
			memcpy(o->target, p, rec.target_len);
			o->target[rec.target_len] = 0;
			s->ix.names_ck += strlen(o->target);
		} else if (S_ISLNK(o->mode)) {
			o->target = strdup("");
			if (!o->target)
				return -ENOMEM;
		}
		size_t used = ck_pad8(SL_OBJ_REC_SIZE +
				      (size_t)rec.nchunks * SL_CHUNK_REC_SIZE +
				      rec.target_len);
		if ((size_t)(end - start) < used)
			return -EUCLEAN;
		p = start + used;
	}
	for (uint64_t i = 0; i < h->dirent_count; i++) {
		if ((size_t)(end - p) < SL_DIRENT_REC_FIXED)
			return -EUCLEAN;
		uint64_t parent = sl_get64(p), child = sl_get64(p + 8);
		uint16_t len = sl_get16(p + 16);
		size_t used = ck_pad8(SL_DIRENT_REC_FIXED + len);
		if (len == 0 || len > SLOT_NAME_MAX ||
		    (size_t)(end - p) < SL_DIRENT_REC_FIXED + (size_t)len)
			return -EUCLEAN;
		const char *name = (const char *)p + 18;
		struct sl_obj *dir = sl_obj_find(&s->ix, parent);
		struct sl_obj *obj = sl_obj_find(&s->ix, child);
		if (!dir || !S_ISDIR(dir->mode) || !obj ||
		    memchr(name, '/', len) || memchr(name, 0, len) ||
		    sl_de_find(&s->ix, parent, name, len))
			return -EUCLEAN;
		struct sl_dirent *de = sl_de_add(&s->ix, dir, name, len, child);
		if (!de)
			return -ENOMEM;
		/* the root has no name: an entry naming it is damage, kept
		 * for fsck to find, but never the root's name or '..' */
		if (child != SLOT_ROOT_INO) {
			if (!obj->name)
				obj->name = de;
			if (S_ISDIR(obj->mode))
				obj->dir->parent = parent;
		}
		p += SL_MIN(used, (size_t)(end - p));
	}
	int err = sl_xattr_ckpt_parse(s, h, payload);
	if (!err)
		err = sl_resv_ckpt_parse(s, h, payload);
	if (err)
		return err;
	struct sl_obj *root = sl_obj_find(&s->ix, SLOT_ROOT_INO);
	if (!root || !S_ISDIR(root->mode))
		return -EUCLEAN;
	root->dir->parent = SLOT_ROOT_INO;
	s->next_gen = h->next_gen;
	s->next_oid = SL_MAX(h->next_oid, (uint64_t)SLOT_ROOT_INO + 1);
	s->ckpt_seq = h->seq;
	s->ckpt_bytes = h->payload_len + SL_BLOCK;
	s->ckpt_csums = ncsum;  /* a damaged count sizes no buffer */
	return 0;
}

/* Forget a half-parsed index so the other container can be tried. */
void sl_ckpt_reset(struct slot_store *s)
{
	sl_index_free(&s->ix);
	sl_index_init(&s->ix);
	sl_alloc_free(s);
	sl_alloc_init(s);
	s->slots_total = s->slots_used = 0;
	s->rec.entries_loaded = s->rec.entries_dropped = 0;
	s->load_badrefs = s->load_dups = s->load_bad_xattrs = 0;
	sl_resv_free(s);
	s->load_bad_resv = 0;
	free(s->dup_recs);
	s->dup_recs = NULL;
	s->ndup_recs = 0;
	free(s->dropped);
	s->dropped = NULL;
	s->ndropped = 0;
}

bool sl_ckpt_absent(struct slot_store *s, unsigned i, bool have,
		    uint64_t seq)
{
	if (s->sb.version_minor >= 3)   /* mkfs wrote both */
		return false;
	if (have && !(i == 0 && seq == 1))
		return false;
	uint8_t *b = sl_alloc_aligned(SL_BLOCK);
	if (!b)
		return false;
	bool blank = ck_read(s, s->sb.meta_offset + i * (s->sb.meta_size / 2),
			     b, SL_BLOCK) == 0;
	for (unsigned k = 0; blank && k < SL_BLOCK; k++)
		blank = b[k] == 0;
	free(b);
	return blank;
}

int sl_ckpt_load(struct slot_store *s, struct sl_ckpt_hdr *out,
		 bool *fell_back)
{
	struct sl_ckpt_hdr h[2];
	int ok[2];
	for (unsigned i = 0; i < 2; i++)
		ok[i] = sl_ckpt_read_hdr(s, i, &h[i]) == 0;
	/* newest first */
	unsigned order[2] = { 0, 1 };
	if (ok[0] && ok[1] && h[1].seq > h[0].seq) {
		order[0] = 1;
		order[1] = 0;
	} else if (!ok[0]) {
		order[0] = 1;
		order[1] = 0;
	}
	int last = -ENOENT;
	for (unsigned k = 0; k < 2; k++) {
		unsigned i = order[k];
		if (!ok[i])
			continue;
		uint8_t *p;
		int err = sl_ckpt_read_payload(s, &h[i], &p);
		if (err == -EIO)
			return err;
		if (!err) {
			err = sl_ckpt_parse(s, &h[i], p);
			free(p);
			if (!err) {
				*out = h[i];
				unsigned j = 1 - i;
				*fell_back = k > 0 ||
					     (!ok[j] && !sl_ckpt_absent(s, j,
						true, h[i].seq));
				return 0;
			}
			if (err == -ENOMEM)
				return err;
			sl_ckpt_reset(s);
		}
		last = -ENOENT;
	}
	return last;
}

/* ------------------------------------------------------------------ */
/* The periodic thread                                                 */
/* ------------------------------------------------------------------ */

/*
 * The idle gate keeps checkpoints out of a busy writer's way, but not for
 * ever: under steady I/O the device is never quiet, and the namespace
 * changed since the last checkpoint (a directory made, a rename) would
 * wait for the unmount.  After this many periods with changes waiting the
 * thread writes one anyway (30 s at the default period; ext4 commits its
 * journal every 5 s, busy or not).
 */
#define CK_MAX_DEFERRED 6

/* Objects freed before the heap is trimmed (ck_trim_heap): about 1 MiB
 * of index. */
#define CK_TRIM_OBJS 4096

/* Quiet this long after I/O, the store gives its buffers back. */
#define CK_TRIM_IDLE_NS 2000000000ll

struct ck_trim {
	uint64_t removed;       /* obj_removed at the last trim */
	int64_t io_ns;          /* last_io_ns at the last idle trim */
};

/*
 * What a mass deletion freed goes back to the system: glibc keeps freed
 * heap pages for reuse, and the directories their dead entries, so a
 * daemon that had made and removed 100,000 files stayed at 35 MiB
 * resident (2 MiB at mount; 16 MiB with this, by hand).  So do a burst's
 * I/O buffers once the store is idle: the pool's arenas, the sparse
 * buffers' blocks kept for reuse, and the heap glibc keeps in each
 * thread's arena, where a minute of 4 KiB random
 * writes left the daemon at 167 MiB resident, idle.
 */
static void ck_trim_heap(struct slot_store *s, struct ck_trim *t)
{
	int64_t io = atomic_load(&s->last_io_ns);
	bool idle = io != t->io_ns && atomic_load(&s->inflight) == 0 &&
		    sl_mono_ns() - io >= CK_TRIM_IDLE_NS;
	sl_lock(s);
	bool due = idle || s->ix.obj_removed - t->removed >= CK_TRIM_OBJS;
	/* idle too: the removals after a count's trim would keep theirs */
	if (due) {
		t->removed = s->ix.obj_removed;
		sl_dirs_compact(&s->ix);
	}
	sl_unlock(s);
	if (idle) {
		t->io_ns = io;
		sl_buf_pool_shrink(s);
	}
	if (due)
		malloc_trim(0);
}

static void *ck_thread(void *arg)
{
	struct slot_store *s = arg;
	unsigned deferred = 0;  /* periods the gate said no with changes */
	struct ck_trim trimmed = { 0 };
	pthread_mutex_lock(&s->ckpt_lock);
	while (!s->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t ms = s->opts.checkpoint_interval_ms ?
				      s->opts.checkpoint_interval_ms : 5000;
		ts.tv_sec += (time_t)(ms / 1000);
		ts.tv_nsec += (long)(ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&s->ckpt_cond, &s->ckpt_lock, &ts);
		if (s->stopping)
			break;
		pthread_mutex_unlock(&s->ckpt_lock);
		/* buffers left alone for a while go out, as dirty pages do */
		sl_file_flush_every(s, 2000000000ll);
		int wrote = slot_checkpoint(s, deferred >= CK_MAX_DEFERRED);
		deferred = wrote == 0 && ck_owed(s) ? deferred + 1 : 0;
		/* files extended since the last flush: a flush lets the
		 * next header record their size (ext.c), as ext4's commit
		 * does every 5 s, busy or not */
		if (wrote == 0 && sl_ext_due(s))
			sl_flush(s);
		sl_discard_freed(s);
		ck_trim_heap(s, &trimmed);
		pthread_mutex_lock(&s->ckpt_lock);
	}
	pthread_mutex_unlock(&s->ckpt_lock);
	return NULL;
}

int sl_ckpt_thread_start(struct slot_store *s)
{
	int err = pthread_create(&s->ckpt_thread, NULL, ck_thread, s);
	if (err)
		return -err;
	s->ckpt_thread_on = true;
	return 0;
}

void sl_ckpt_thread_stop(struct slot_store *s)
{
	if (!s->ckpt_thread_on)
		return;
	pthread_mutex_lock(&s->ckpt_lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->ckpt_cond);
	pthread_mutex_unlock(&s->ckpt_lock);
	pthread_join(s->ckpt_thread, NULL);
	s->ckpt_thread_on = false;
}
