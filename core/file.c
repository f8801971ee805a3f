/* SPDX-License-Identifier: MIT */
/*
 * file.c - slot I/O shared by both faces, and the file face: read, write
 * at any offset, truncate, fsync.
 *
 * A file is cut into chunks of chunk_size bytes; chunk i lives in one slot
 * of the smallest class that holds the bytes written to it.  A write never
 * touches a slot in place: the chunk goes to a fresh slot, and the index
 * switches to it only after the write completed, so a crash leaves either
 * the old chunk or the new one.
 */
#include <stdio.h>
#include <sys/stat.h>

#include "internal.h"

/* ------------------------------------------------------------------ */
/* Writing slots                                                       */
/* ------------------------------------------------------------------ */

uint8_t *sl_wslot_buf(const struct slot_store *s, size_t len)
{
	return sl_alloc_aligned(s->sb.block_size +
				SL_ALIGN_UP(len ? len : 1, s->sb.block_size));
}

void sl_slot_hdr_fill(struct slot_store *s, const struct sl_obj *o,
		      struct sl_slot_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->magic = SL_MAGIC_SLOT;
	memcpy(h->uuid, s->sb.uuid, 16);
	h->oid = o->oid;
	h->obj_size = o->size;
	h->mode = o->mode;
	h->uid = o->uid;
	h->gid = o->gid;
	h->mtime_ns = o->mtime;
	h->ctime_ns = o->ctime;
	if (o->name) {
		h->parent = o->name->parent;
		h->name_len = o->name->len;
		memcpy(h->name, o->name->name, o->name->len);
	}
}

int sl_wslots_alloc(struct slot_store *s, struct sl_wslot *w, size_t n,
		    struct sl_txn *t, uint32_t *new_regions, size_t *nnew)
{
	unsigned cls_stack[64] = { 0 };
	uint64_t ref_stack[64] = { 0 };
	unsigned *cls = n <= 64 ? cls_stack : malloc(n * sizeof(*cls));
	uint64_t *refs = n <= 64 ? ref_stack : malloc(n * sizeof(*refs));
	int err = -ENOMEM;
	if (!cls || !refs)
		goto out;
	for (size_t i = 0; i < n; i++)
		cls[i] = sl_class_for(s, w[i].len);
	err = sl_slots_alloc(s, cls, n, refs, new_regions, nnew);
	if (err)
		goto out;
	sl_txn_begin(s, t);
	for (size_t i = 0; i < n; i++) {
		struct sl_wslot *x = &w[i];
		struct sl_slot_hdr *h = &x->hdr;
		x->ref = refs[i];
		sl_slot_hdr_fill(s, x->o, h);
		h->gen = s->next_gen++;
		/* the slots of one whole-object put share the first's txn */
		if ((x->flags & SL_SLOT_WHOLE) && x->idx && i &&
		    w[i - 1].o == x->o)
			h->txn = w[i - 1].hdr.txn;
		else
			h->txn = h->gen;
		h->idx = x->idx;
		h->txn_chunks = x->txn_chunks ? x->txn_chunks : 1;
		h->payload_len = x->len;
		h->flags = x->flags;
		h->cls = (uint8_t)cls[i];
		x->o->busy++;
		x->o->flags &= ~SL_OBJ_ATTR_DIRTY;
	}
	sl_inflight_enter(s, (unsigned)n);
out:
	if (cls != cls_stack)
		free(cls);
	if (refs != ref_stack)
		free(refs);
	return err;
}

int sl_wslots_write(struct slot_store *s, struct sl_wslot *w, size_t n)
{
	uint32_t bs = s->sb.block_size;
	struct slot_io *ios = calloc(n * 3, sizeof(*ios));
	size_t *first = calloc(n + 1, sizeof(*first));
	if (!ios || !first) {
		free(ios);
		free(first);
		for (size_t i = 0; i < n; i++)
			w[i].res = -ENOMEM;
		return -ENOMEM;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		struct sl_wslot *x = &w[i];
		uint64_t off = sl_slot_off(s, x->ref);
		const uint8_t *pl = x->data ? x->data : x->buf + bs;
		x->hdr.payload_csum = sl_csum(pl, x->len);
		sl_slot_hdr_encode(&x->hdr, x->buf);
		first[i] = k;
		if (!x->data) {
			ios[k++] = (struct slot_io){ .buf = x->buf, .off = off,
				.len = bs + (uint32_t)SL_ALIGN_UP(x->len ? x->len : 1, bs) };
			continue;
		}
		/* straight from the caller: header, whole blocks, and the
		 * tail block copied behind the header */
		uint32_t whole = x->len / bs * bs, tail = x->len - whole;
		ios[k++] = (struct slot_io){ .buf = x->buf, .off = off, .len = bs };
		if (whole)
			ios[k++] = (struct slot_io){ .buf = (void *)x->data,
				.off = off + bs, .len = whole };
		if (tail || !x->len) {
			memset(x->buf + bs, 0, bs);
			memcpy(x->buf + bs, x->data + whole, tail);
			ios[k++] = (struct slot_io){ .buf = x->buf + bs,
				.off = off + bs + whole, .len = bs };
		}
	}
	first[n] = k;
	int err = s->dev->ops->write(s->dev->ctx, ios, k);
	for (size_t i = 0; i < n; i++) {
		w[i].res = 0;
		for (size_t j = first[i]; j < first[i + 1]; j++)
			if (ios[j].res < 0)
				w[i].res = ios[j].res;
	}
	free(ios);
	free(first);
	return err;
}

void sl_wslots_done(struct slot_store *s, struct sl_txn *t, size_t n, bool ok)
{
	sl_txn_end(s, t);
	sl_inflight_exit(s, (unsigned)n, ok);
}

/* ------------------------------------------------------------------ */
/* Reading slots                                                       */
/* ------------------------------------------------------------------ */

static int fl_check_hdr(struct slot_store *s, const uint8_t *blk,
			const struct sl_chunk *c, uint64_t oid,
			struct sl_slot_hdr *h)
{
	int err = sl_slot_hdr_decode(blk, h);
	if (err)
		return -EIO;
	if (memcmp(h->uuid, s->sb.uuid, 16) || h->oid != oid ||
	    h->gen != c->gen || h->idx != c->idx || h->payload_len != c->len)
		return -EIO;
	return 0;
}

int sl_slot_read_verify(struct slot_store *s, uint64_t ref,
			const struct sl_chunk *c, uint64_t oid, void *buf)
{
	uint32_t bs = s->sb.block_size;
	uint8_t *b = sl_wslot_buf(s, c->len);
	if (!b)
		return -ENOMEM;
	struct slot_io io = { .buf = b, .off = sl_slot_off(s, ref),
			      .len = bs + (uint32_t)SL_ALIGN_UP(c->len ? c->len : 1,
								 bs) };
	int err = s->dev->ops->read(s->dev->ctx, &io, 1);
	struct sl_slot_hdr h;
	if (!err)
		err = fl_check_hdr(s, b, c, oid, &h);
	if (!err && sl_csum(b + bs, c->len) != h.payload_csum)
		err = -EIO;
	if (!err)
		memcpy(buf, b + bs, c->len);
	free(b);
	return err;
}

/* ------------------------------------------------------------------ */
/* File face                                                           */
/* ------------------------------------------------------------------ */

static pthread_rwlock_t *fl_stripe(struct slot_store *s, slot_ino_t ino)
{
	return &s->stripes[(ino * 0x9e3779b97f4a7c15ull) >> 58];
}

/* Lock held. */
static struct sl_obj *fl_file(struct slot_store *s, slot_ino_t ino, int *err)
{
	struct sl_obj *o = sl_obj_find(&s->ix, ino);
	if (!o || (o->flags & SL_OBJ_PENDING)) {
		*err = -ENOENT;
		return NULL;
	}
	if (S_ISDIR(o->mode)) {
		*err = -EISDIR;
		return NULL;
	}
	if (!S_ISREG(o->mode)) {
		*err = -EINVAL;
		return NULL;
	}
	return o;
}

struct fl_piece {
	struct sl_chunk c;      /* c.len == 0 && !have: a hole */
	bool have;
	uint64_t cstart;        /* bytes of the chunk wanted: [a, b) */
	uint32_t a, b;
	uint8_t *bounce;
	uint32_t boff;          /* where byte a sits in bounce */
	bool verify;
};

ssize_t slot_file_read(struct slot_store *s, slot_ino_t ino, uint64_t off,
		       void *buf, size_t len)
{
	uint32_t bs = s->sb.block_size;
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	int err = 0;
	pthread_rwlock_t *stripe = fl_stripe(s, ino);
	pthread_rwlock_rdlock(stripe);
	sl_lock(s);
	struct sl_obj *o = fl_file(s, ino, &err);
	uint64_t size = o ? o->size : 0;
	if (o && off < size) {
		len = (size_t)SL_MIN((uint64_t)len, size - off);
	} else {
		len = 0;
	}
	size_t np = 0;
	struct fl_piece *ps = NULL;
	if (o && len) {
		uint64_t first = off / chunk, last = (off + len - 1) / chunk;
		np = (size_t)(last - first + 1);
		ps = calloc(np, sizeof(*ps));
		if (!ps) {
			err = -ENOMEM;
		} else {
			for (size_t i = 0; i < np; i++) {
				uint64_t ci = first + i;
				struct fl_piece *p = &ps[i];
				p->cstart = ci * chunk;
				uint64_t a = SL_MAX(off, p->cstart);
				uint64_t b = SL_MIN(off + len, p->cstart + chunk);
				p->a = (uint32_t)(a - p->cstart);
				p->b = (uint32_t)(b - p->cstart);
				struct sl_chunk *c = sl_obj_chunk(o, (uint32_t)ci);
				if (c) {
					p->c = *c;
					p->have = true;
				}
			}
		}
	}
	sl_unlock(s);
	if (err || !len) {
		pthread_rwlock_unlock(stripe);
		free(ps);
		return err ? err : 0;
	}

	/* one batch for every chunk the read touches */
	struct slot_io *ios = calloc(np, sizeof(*ios));
	size_t nio = 0;
	if (!ios)
		err = -ENOMEM;
	for (size_t i = 0; !err && i < np; i++) {
		struct fl_piece *p = &ps[i];
		if (!p->have || p->a >= p->c.len)
			continue;
		uint32_t b = SL_MIN(p->b, p->c.len);
		/* the whole payload: read the header too and verify */
		p->verify = p->a == 0 && b == p->c.len;
		uint64_t soff = sl_slot_off(s, p->c.slot);
		uint64_t from, to;
		if (p->verify) {
			from = soff;
			to = soff + bs + SL_ALIGN_UP(p->c.len ? p->c.len : 1, bs);
			p->boff = bs;
		} else {
			from = soff + bs + p->a / bs * bs;
			to = soff + bs + SL_ALIGN_UP((uint64_t)b, bs);
			p->boff = p->a % bs;
		}
		p->bounce = sl_alloc_aligned(to - from);
		if (!p->bounce) {
			err = -ENOMEM;
			break;
		}
		ios[nio].buf = p->bounce;
		ios[nio].off = from;
		ios[nio].len = (uint32_t)(to - from);
		nio++;
	}
	if (!err && nio) {
		sl_inflight_enter(s, 1);
		err = s->dev->ops->read(s->dev->ctx, ios, nio);
		sl_inflight_exit(s, 1, err == 0);
	}
	for (size_t i = 0; !err && i < np; i++) {
		struct fl_piece *p = &ps[i];
		uint8_t *dst = (uint8_t *)buf + (p->cstart + p->a - off);
		uint32_t want = p->b - p->a;
		if (!p->bounce) {
			memset(dst, 0, want);
			continue;
		}
		if (p->verify) {
			struct sl_slot_hdr h;
			err = fl_check_hdr(s, p->bounce, &p->c, ino, &h);
			if (!err && sl_csum(p->bounce + bs, p->c.len) !=
					    h.payload_csum)
				err = -EIO;
			if (err) {
				atomic_fetch_add(&s->csum_errors, 1);
				sl_log(s, "inode %llu chunk %u: slot header or "
				       "checksum mismatch",
				       (unsigned long long)ino, p->c.idx);
				break;
			}
		}
		uint32_t have = SL_MIN(p->b, p->c.len) - p->a;
		memcpy(dst, p->bounce + p->boff, have);
		memset(dst + have, 0, want - have);
	}
	for (size_t i = 0; i < np; i++)
		free(ps[i].bounce);
	free(ps);
	free(ios);
	pthread_rwlock_unlock(stripe);
	return err ? err : (ssize_t)len;
}

/*
 * Rewrite chunks [first, first + n) of ino.  For chunk i the new content is
 * the old payload (when keep_old and it exists), cut or zero-extended to
 * lens[i], with data overlaid at [da[i], da[i] + dl[i]).  Callers hold the
 * stripe lock for writing.  Returns 0 or a negative errno.
 */
struct fl_change {
	uint32_t idx;
	uint32_t new_len;
	uint32_t da, dl;        /* data overlay within the chunk */
	const uint8_t *data;
	struct sl_chunk old;
	bool have_old, need_old;
};

static int fl_rewrite(struct slot_store *s, slot_ino_t ino,
		      struct fl_change *ch, size_t n, uint64_t new_size,
		      bool set_size)
{
	uint32_t bs = s->sb.block_size;
	struct sl_wslot *w = calloc(n, sizeof(*w));
	uint32_t *nr = calloc(s->nregions ? s->nregions : 1, sizeof(*nr));
	size_t nnew = 0;
	int err = 0;
	if (!w || !nr) {
		free(w);
		free(nr);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		w[i].idx = ch[i].idx;
		w[i].len = ch[i].new_len;
		w[i].buf = sl_wslot_buf(s, ch[i].new_len);
		if (!w[i].buf)
			err = -ENOMEM;
	}
	struct sl_txn txn;
	uint64_t old_size = 0;
	bool allocated = false;
	for (int attempt = 0; !err && attempt < 2; attempt++) {
		sl_lock(s);
		struct sl_obj *o = fl_file(s, ino, &err);
		if (o) {
			for (size_t i = 0; i < n; i++) {
				struct sl_chunk *c = sl_obj_chunk(o, ch[i].idx);
				ch[i].have_old = c != NULL;
				if (c)
					ch[i].old = *c;
				w[i].o = o;
			}
			old_size = o->size;
			if (set_size)
				o->size = new_size;
			else if (new_size > o->size)
				o->size = new_size;
			int64_t now = sl_now_ns();
			o->mtime = o->ctime = now;
			err = sl_wslots_alloc(s, w, n, &txn, nr, &nnew);
			if (err)
				o->size = old_size;
			else
				allocated = true;
		}
		sl_unlock(s);
		if (err != -ENOSPC || attempt)
			break;
		/* freed slots wait for a flush or checkpoint: make them
		 * free, then try once more */
		if (sl_reclaim(s))
			break;
		err = 0;
	}
	if (!err && nnew)
		err = sl_regions_write(s, nr, nnew);

	/* old payloads for partial overwrites, then the new data */
	for (size_t i = 0; !err && i < n; i++) {
		uint8_t *pl = w[i].buf + bs;
		struct fl_change *c = &ch[i];
		if (c->have_old && c->need_old && c->old.len) {
			uint8_t *old = sl_wslot_buf(s, c->old.len);
			if (!old) {
				err = -ENOMEM;
				break;
			}
			sl_inflight_enter(s, 1);
			err = sl_slot_read_verify(s, c->old.slot, &c->old, ino,
						  old);
			sl_inflight_exit(s, 1, err == 0);
			if (!err)
				memcpy(pl, old, SL_MIN(c->old.len, c->new_len));
			else
				atomic_fetch_add(&s->csum_errors, 1);
			free(old);
		}
		if (c->dl)
			memcpy(pl + c->da, c->data, c->dl);
	}
	if (!err)
		err = sl_wslots_write(s, w, n);

	if (allocated) {
		sl_lock(s);
		struct sl_obj *o = w[0].o;
		for (size_t i = 0; i < n; i++) {
			if (err) {
				sl_slot_free(s, w[i].ref);
				continue;
			}
			struct sl_chunk nc = { .slot = w[i].ref,
					       .gen = w[i].hdr.gen,
					       .idx = w[i].idx,
					       .len = w[i].len };
			struct sl_chunk old;
			bool had;
			if (sl_obj_set_chunk(o, &nc, &old, &had)) {
				sl_slot_free(s, w[i].ref);
				err = -ENOMEM;
				continue;
			}
			if (had)
				sl_slot_free(s, old.slot);
		}
		if (err) {
			if (o->size == new_size && !set_size)
				o->size = old_size;
			o->flags |= SL_OBJ_ATTR_DIRTY;
		} else if (o->name && w[0].hdr.parent == o->name->parent &&
			   w[0].hdr.name_len == o->name->len &&
			   !memcmp(w[0].hdr.name, o->name->name,
				   o->name->len)) {
			o->flags |= SL_OBJ_NAMED;
		}
		o->busy -= (uint32_t)n;
		sl_dirty(s);
		sl_wslots_done(s, &txn, n, err == 0);
		sl_obj_release_if_dead(s, o);
		sl_unlock(s);
	}
	for (size_t i = 0; i < n; i++)
		free(w[i].buf);
	free(w);
	free(nr);
	return err;
}

ssize_t slot_file_write(struct slot_store *s, slot_ino_t ino, uint64_t off,
			const void *buf, size_t len)
{
	if (s->read_only)
		return -EROFS;
	if (!len)
		return 0;
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	if (off + len < off || (off + len - 1) / chunk >= UINT32_MAX)
		return -EFBIG;
	pthread_rwlock_t *stripe = fl_stripe(s, ino);
	pthread_rwlock_wrlock(stripe);
	uint64_t first = off / chunk, last = (off + len - 1) / chunk;
	size_t n = (size_t)(last - first + 1);
	struct fl_change *ch = calloc(n, sizeof(*ch));
	int err = ch ? 0 : -ENOMEM;
	/* what each chunk holds now decides its new length (lock held) */
	if (!err) {
		sl_lock(s);
		struct sl_obj *o = fl_file(s, ino, &err);
		for (size_t i = 0; o && i < n; i++) {
			uint64_t cs = (first + i) * chunk;
			uint64_t a = SL_MAX(off, cs), b = SL_MIN(off + len, cs + chunk);
			struct fl_change *c = &ch[i];
			struct sl_chunk *old = sl_obj_chunk(o, (uint32_t)(first + i));
			c->idx = (uint32_t)(first + i);
			c->da = (uint32_t)(a - cs);
			c->dl = (uint32_t)(b - a);
			c->data = (const uint8_t *)buf + (a - off);
			c->new_len = c->da + c->dl;
			if (old && old->len > c->new_len)
				c->new_len = old->len;
			/* old bytes survive unless the write covers them all */
			c->need_old = old && !(c->da == 0 && c->dl >= old->len);
		}
		sl_unlock(s);
	}
	if (!err)
		err = fl_rewrite(s, ino, ch, n, off + len, false);
	free(ch);
	pthread_rwlock_unlock(stripe);
	return err ? err : (ssize_t)len;
}

int sl_file_truncate(struct slot_store *s, slot_ino_t ino, uint64_t size)
{
	if (s->read_only)
		return -EROFS;
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	if (size / chunk >= UINT32_MAX)
		return -EFBIG;
	pthread_rwlock_t *stripe = fl_stripe(s, ino);
	pthread_rwlock_wrlock(stripe);
	int err = 0;
	struct fl_change ch = { 0 };
	bool rewrite = false;
	sl_lock(s);
	struct sl_obj *o = fl_file(s, ino, &err);
	if (o) {
		/* drop whole chunks past the end */
		uint32_t keep = (uint32_t)((size + chunk - 1) / chunk);
		while (o->nchunks && o->chunks[o->nchunks - 1].idx >= keep) {
			sl_slot_free(s, o->chunks[o->nchunks - 1].slot);
			o->nchunks--;
		}
		/* a chunk cut in the middle is rewritten shorter, so bytes
		 * past the new end read as zeros if the file grows again */
		uint32_t in = (uint32_t)(size % chunk);
		struct sl_chunk *c = in ? sl_obj_chunk(o, (uint32_t)(size / chunk))
					: NULL;
		if (c && c->len > in) {
			ch.idx = c->idx;
			ch.new_len = in;
			ch.need_old = true;
			rewrite = true;
		}
		if (!rewrite)
			o->size = size;
		o->mtime = o->ctime = sl_now_ns();
		o->flags |= SL_OBJ_ATTR_DIRTY;
		sl_ns_dirty(s);
	}
	sl_unlock(s);
	if (!err && rewrite)
		err = fl_rewrite(s, ino, &ch, 1, size, true);
	pthread_rwlock_unlock(stripe);
	return err;
}

/* Lock held.  Does recovery need a checkpoint to find o under its name? */
static bool fl_needs_ckpt(struct slot_store *s, struct sl_obj *o)
{
	if (!(o->flags & SL_OBJ_NAMED) || (o->flags & SL_OBJ_ATTR_DIRTY))
		return true;
	struct sl_obj *d = o->name ? sl_obj_find(&s->ix, o->name->parent) : NULL;
	for (unsigned depth = 0; d && depth < 4096; depth++) {
		if (!(d->flags & SL_OBJ_IN_CKPT))
			return true;
		if (d->oid == SLOT_ROOT_INO)
			return false;
		d = sl_obj_find(&s->ix, d->dir->parent);
	}
	return true;
}

int slot_file_fsync(struct slot_store *s, slot_ino_t ino, bool datasync)
{
	if (s->read_only)
		return 0;
	int err = sl_flush(s);
	if (err)
		return err;
	sl_lock(s);
	struct sl_obj *o = sl_obj_find(&s->ix, ino);
	bool need = o && !S_ISDIR(o->mode) &&
		    (!S_ISREG(o->mode) || fl_needs_ckpt(s, o));
	if (o && datasync && S_ISREG(o->mode) && (o->flags & SL_OBJ_NAMED) &&
	    !(o->flags & SL_OBJ_ATTR_DIRTY))
		need = false;
	sl_unlock(s);
	if (!o)
		return -ENOENT;
	if (need) {
		err = slot_checkpoint(s, true);
		if (err > 0)
			err = 0;
	}
	return err;
}

int slot_dir_fsync(struct slot_store *s, slot_ino_t ino)
{
	if (s->read_only)
		return 0;
	int err = slot_checkpoint(s, true);
	if (err > 0)
		err = 0;
	if (!err)
		err = sl_flush(s);
	(void)ino;
	return err;
}
