/* SPDX-License-Identifier: MIT */
/*
 * kv.c - the key-value face: batched put, get and delete of whole objects.
 *
 * Lock protocol of slot_put_many, stated once, here:
 *   1. one store-lock section resolves every key, allocates every slot and
 *      opens the in-flight window for the whole batch;
 *   2. the slots are written with no lock held;
 *   3. one store-lock section commits every object (or cancels it, when a
 *      delete came while it was in flight) and closes the window.
 * Two acquisitions per batch, whatever its size.  Only a full store, which
 * must flush or checkpoint to free quarantined slots, adds more.
 */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* Tries of a put short of room, each after a retry that made room (a
 * flush, a checkpoint or an emptied region): writers side by side may
 * take what one's retry made before its next try. */
#define KV_PUT_TRIES 4

struct kv_item {
	struct sl_obj *o;
	size_t first, n;        /* its slots in the batch */
	bool created;           /* this put made the (pending) object */
};

/* Lock held.  Find or make the object a put of key writes to. */
static int kv_target(struct slot_store *s, const char *key, struct kv_item *it)
{
	struct sl_obj *dir;
	const char *name;
	size_t len;
	int err = sl_ns_resolve(s, key, true, &dir, &name, &len);
	if (err)
		return err;
	struct sl_dirent *de = sl_de_find(&s->ix, dir->oid, name, len);
	if (de) {
		struct sl_obj *o = sl_obj_find(&s->ix, de->child);
		if (!o)
			return -EIO;
		if (S_ISDIR(o->mode))
			return -EISDIR;
		if (!S_ISREG(o->mode))
			return -EINVAL;
		it->o = o;
		return 0;
	}
	err = sl_ckpt_room(s, SL_CKPT_OBJ_SIZE + sl_ckpt_name_size(len));
	if (err)
		return err;
	struct sl_obj *o = sl_obj_new(&s->ix, s->next_oid, S_IFREG | 0644);
	if (!o)
		return -ENOMEM;
	de = sl_de_add(&s->ix, dir, name, len, o->oid);
	if (!de) {
		sl_obj_remove(&s->ix, o);
		return -ENOMEM;
	}
	s->next_oid++;
	/* invisible until the put commits; a delete still finds it */
	de->flags |= SL_DE_PENDING;
	o->flags |= SL_OBJ_PENDING;
	o->nlink = 1;
	o->uid = (uint32_t)geteuid();
	o->gid = (uint32_t)getegid();
	o->atime = o->mtime = o->ctime = sl_now_ns();
	o->name = de;
	it->o = o;
	it->created = true;
	return 0;
}

/* Lock held.  Forget the object a failed put made: still pending, or
 * deleted meanwhile (the delete took its name, and the last put in
 * flight frees it). */
static void kv_drop_pending(struct slot_store *s, struct sl_obj *o)
{
	if ((o->flags & SL_OBJ_PENDING) && !o->busy) {
		if (o->name && !(o->name->flags & SL_DE_DEAD)) {
			struct sl_obj *dir = sl_obj_find(&s->ix,
							 o->name->parent);
			if (dir)
				sl_de_remove(&s->ix, dir, o->name);
		}
		o->name = NULL;
		o->nlink = 0;
	}
	sl_obj_release_if_dead(s, o);
}

/* A put batch that fails whole says so in every item's result. */
static int kv_put_fail(struct slot_put *items, size_t n, int err)
{
	for (size_t i = 0; i < n; i++)
		items[i].result = err;
	return err;
}

static bool kv_aligned(const void *p, size_t bs)
{
	return ((uintptr_t)p % bs) == 0;
}

int slot_put_many(struct slot_store *s, struct slot_put *items, size_t n)
{
	if (!n)
		return 0;
	if (s->read_only)
		return kv_put_fail(items, n, -EROFS);
	uint32_t bs = s->sb.block_size;
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	struct kv_item *it = calloc(n, sizeof(*it));
	size_t total = 0;
	if (!it)
		return kv_put_fail(items, n, -ENOMEM);
	/* what every region could hold in whole chunks: an object past it
	 * can never fit, and fails alone, before a byte of it is copied */
	uint64_t most = (uint64_t)s->sb.region_count *
			s->cls[s->ncls - 1].per_region * chunk;
	for (size_t i = 0; i < n; i++) {
		items[i].result = 0;
		if ((uint64_t)items[i].len / chunk >= UINT32_MAX)
			items[i].result = -EFBIG;
		else if (items[i].len > most)
			items[i].result = -ENOSPC;
		it[i].first = total;
		it[i].n = items[i].result ? 0 :
			  (size_t)SL_MAX(1, (items[i].len + chunk - 1) / chunk);
		total += it[i].n;
	}
	size_t nbufs = total;   /* every slot buffer, for the final free */
	struct sl_wslot *w = calloc(total ? total : 1, sizeof(*w));
	uint32_t *nr = calloc(sl_new_regions_max(s, total), sizeof(*nr));
	int err = (w && nr) ? 0 : -ENOMEM;

	/* payload buffers, before the lock: copies only where the caller's
	 * bytes cannot go to the device as they are */
	for (size_t i = 0; !err && i < n; i++) {
		for (size_t k = 0; k < it[i].n; k++) {
			struct sl_wslot *x = &w[it[i].first + k];
			uint64_t off = k * chunk;
			/* buf may be NULL for an empty object */
			const uint8_t *src = items[i].len ?
				(const uint8_t *)items[i].buf + off : NULL;
			x->idx = (uint32_t)k;
			x->len = (uint32_t)SL_MIN(chunk, items[i].len - off);
			x->flags = SL_SLOT_WHOLE;
			x->txn_chunks = (uint32_t)it[i].n;
			if (x->len >= 64 * 1024 && kv_aligned(src, bs)) {
				x->data = src;
				x->buf = sl_wslot_buf(s, bs);
			} else {
				x->buf = sl_wslot_buf(s, x->len);
				if (x->buf) {
					uint32_t pad = (uint32_t)SL_ALIGN_UP(
						x->len ? x->len : 1, bs);
					if (x->len)
						memcpy(x->buf + bs, src, x->len);
					memset(x->buf + bs + x->len, 0,
					       pad - x->len);
				}
			}
			if (!x->buf)
				err = -ENOMEM;
		}
	}

	/* lock 1 of 2: resolve, allocate, open the window */
	struct sl_txn txn;
	size_t nnew = 0;
	bool allocated = false;
	for (int attempt = 0; !err && attempt < KV_PUT_TRIES; attempt++) {
		sl_lock(s);
		for (size_t i = 0; i < n; i++) {
			if (!it[i].n)
				continue;
			int e = kv_target(s, items[i].key, &it[i]);
			if (e) {
				items[i].result = e;
				it[i].n = 0;
			}
			for (size_t k = 0; k < it[i].n; k++)
				w[it[i].first + k].o = it[i].o;
		}
		/* slots of keys that failed to resolve drop out */
		size_t m = 0;
		for (size_t i = 0; i < n; i++) {
			size_t f = m;
			for (size_t k = 0; k < it[i].n; k++) {
				struct sl_wslot tmp = w[it[i].first + k];
				w[it[i].first + k] = w[m];
				w[m++] = tmp;
			}
			it[i].first = f;
		}
		int64_t now = sl_now_ns();
		err = m ? sl_wslots_alloc(s, w, m, &txn, nr, &nnew) : 0;
		if (!err && m) {
			allocated = true;
			for (size_t i = 0; i < m; i++)
				w[i].hdr.mtime_ns = w[i].hdr.ctime_ns = now;
			for (size_t i = 0; i < n; i++)
				for (size_t k = 0; k < it[i].n; k++)
					w[it[i].first + k].hdr.obj_size =
						items[i].len;
		}
		if (err)
			for (size_t i = 0; i < n; i++)
				if (it[i].created)
					kv_drop_pending(s, it[i].o);
		total = m;
		bool moving = err == -EAGAIN;
		if (moving)
			sl_move_wait(s);
		sl_unlock(s);
		if (moving)
			attempt--;      /* a copy landed: not a try */
		else if (err != -ENOSPC || attempt == KV_PUT_TRIES - 1 ||
			 sl_alloc_retry(s))
			break;
		/* resolve again from the start */
		err = 0;
		for (size_t i = 0; i < n; i++) {
			it[i].o = NULL;
			it[i].created = false;
		}
	}
	if (err) {
		for (size_t i = 0; i < n; i++)
			if (!items[i].result)
				items[i].result = err;
		goto out;
	}

	/* no lock: region headers, then every slot in one batch */
	int werr = 0;
	if (nnew)
		werr = sl_regions_write(s, nr, nnew);
	if (!werr && total)
		sl_wslots_write(s, w, total);
	else
		for (size_t i = 0; i < total; i++)
			w[i].res = werr;

	/* lock 2 of 2: commit or cancel */
	if (allocated) {
		bool all_ok = true;
		int64_t now = sl_now_ns();
		sl_lock(s);
		for (size_t i = 0; i < n; i++) {
			if (!it[i].n)
				continue;
			struct sl_obj *o = it[i].o;
			struct sl_wslot *x = &w[it[i].first];
			int res = 0;
			for (size_t k = 0; k < it[i].n; k++)
				if (x[k].res)
					res = x[k].res;
			o->busy -= (uint32_t)it[i].n;
			if (o->flags & SL_OBJ_DELETED) {
				res = -ECANCELED;
				atomic_fetch_add(&s->canceled, 1);
			}
			if (res || o->txn > x[0].hdr.txn) {
				/* failed, canceled, or a newer put won */
				for (size_t k = 0; k < it[i].n; k++)
					sl_slot_free(s, x[k].ref);
				if (res)
					all_ok = false;
				items[i].result = res;
				if (res && it[i].created)
					kv_drop_pending(s, o); /* may free o */
				else
					sl_obj_release_if_dead(s, o);
				continue;
			}
			sl_wb_drop_all(s, o); /* the whole object is new */
			sl_obj_free_chunks(s, o);
			for (size_t k = 0; k < it[i].n; k++) {
				struct sl_chunk c = { .slot = x[k].ref,
						      .gen = x[k].hdr.gen,
						      .csum = x[k].hdr.payload_csum,
						      .idx = x[k].idx,
						      .len = x[k].len };
				if (sl_obj_set_chunk(o, &c, NULL, NULL)) {
					sl_slot_free(s, x[k].ref);
					res = -ENOMEM;
				}
			}
			o->size = items[i].len;
			o->txn = x[0].hdr.txn;
			o->mtime = o->ctime = now;
			if (o->flags & SL_OBJ_PENDING) {
				o->flags &= ~SL_OBJ_PENDING;
				if (o->name)
					o->name->flags &= ~SL_DE_PENDING;
			}
			if (sl_hdr_names(o, &x[0].hdr))
				o->flags |= SL_OBJ_NAMED;
			sl_owed_check(s, o);
			items[i].result = res;
			atomic_fetch_add(&s->puts, 1);
		}
		sl_dirty(s);
		sl_wslots_done(s, &txn, total, all_ok);
		sl_unlock(s);
	}
out:
	/* slots that dropped out were swapped past total: free them all */
	for (size_t i = 0; w && i < nbufs; i++)
		sl_buf_put(s, w[i].buf);
	free(w);
	free(nr);
	free(it);
	for (size_t i = 0; i < n; i++)
		if (items[i].result)
			return items[i].result;
	return 0;
}

struct kv_get {
	struct sl_chunk *chunks;
	uint32_t nchunks;
	uint64_t oid, size;
	struct sl_obj *dir;     /* the key: its directory and name */
	const char *name;
	size_t len;
	struct sl_dirent *de;
};

/*
 * Lock held.  Find the keys' entries and objects, a stage at a time over
 * the whole batch with the next stage's memory prefetched: random keys
 * miss the cache at every step, and this way a batch's misses overlap.
 * A key that fails gets its result here.
 */
static void kv_find_all(struct slot_store *s, struct slot_get *items,
			struct kv_get *kg, size_t n)
{
	struct sl_index *ix = &s->ix;
	for (size_t i = 0; i < n; i++) {
		items[i].len = 0;
		items[i].result = sl_ns_resolve(s, items[i].key, false,
						&kg[i].dir, &kg[i].name,
						&kg[i].len);
		if (!items[i].result)
			sl_de_prefetch(ix, kg[i].dir->oid, kg[i].name,
				       kg[i].len, false);
	}
	for (size_t i = 0; i < n; i++)
		if (!items[i].result)
			sl_de_prefetch(ix, kg[i].dir->oid, kg[i].name,
				       kg[i].len, true);
	for (size_t i = 0; i < n; i++) {
		if (items[i].result)
			continue;
		kg[i].de = sl_de_find(ix, kg[i].dir->oid, kg[i].name, kg[i].len);
		if (kg[i].de)
			sl_obj_prefetch(ix, kg[i].de->child, false);
	}
	for (size_t i = 0; i < n; i++)
		if (kg[i].de)
			sl_obj_prefetch(ix, kg[i].de->child, true);
}

/* Lock held, after kv_find_all.  What a get of key must read. */
static int kv_snapshot(struct slot_store *s, struct slot_get *g,
		       struct kv_get *kg)
{
	struct sl_dirent *de = kg->de;
	if (!de || (de->flags & SL_DE_PENDING))
		return -ENOENT;
	struct sl_obj *o = sl_obj_find(&s->ix, de->child);
	if (!o)
		return -ENOENT;
	if (S_ISDIR(o->mode))
		return -EISDIR;
	if (!S_ISREG(o->mode))
		return -EINVAL;
	g->len = o->size;
	if (g->cap < o->size)
		return -ENOBUFS;
	kg->oid = o->oid;
	kg->size = o->size;
	kg->nchunks = o->nchunks;
	kg->chunks = malloc(sizeof(*kg->chunks) * (o->nchunks ? o->nchunks : 1));
	if (!kg->chunks)
		return -ENOMEM;
	if (o->nchunks)
		memcpy(kg->chunks, o->chunks, sizeof(*kg->chunks) * o->nchunks);
	return 0;
}

/* One chunk of a get: where it goes and what it must prove. */
struct kv_chunk_read {
	struct slot_store *s;
	const struct sl_chunk *ch;
	uint64_t oid;
	uint8_t *dst;
	uint8_t *buf;           /* header block (NULL when bare: ch->csum is
				   known), and the payload if bounced */
	const uint8_t *pl;      /* where the payload lands: dst, or in buf */
	size_t blen;            /* of buf, 0 when it is not ours to free */
	bool checked, retry;
	uint64_t learned;       /* the header's checksum when ch's is unknown */
	int res;
};

/*
 * Check a chunk's header (or, bare, the index's checksum) and place its
 * bytes.  The engine's done hook, so it runs while later chunks are still
 * being read; get_many runs it after the batch for any chunk the engine
 * did not.
 */
static void kv_chunk_check(struct slot_io *io)
{
	struct kv_chunk_read *cr = io->arg;
	struct slot_store *s = cr->s;
	const struct sl_chunk *ch = cr->ch;
	struct sl_slot_hdr h;

	if (cr->checked)
		return;
	cr->checked = true;
	cr->res = io->res < 0 ? io->res : 0;
	if (cr->res)
		return;
	if (ch->csum) {         /* bare */
		/* the index's checksum may be the wrong one: the header
		 * decides (kv_chunk_reread) */
		cr->retry = sl_csum(cr->pl, ch->len) != ch->csum;
		cr->res = cr->retry ? -EIO : 0;
	} else if (sl_slot_check(s, cr->buf, cr->pl, ch, cr->oid, &h)) {
		cr->res = -EIO;
		sl_csum_error(s);
	} else if (!ch->csum) {
		cr->learned = h.payload_csum;
	}
	if (!cr->res && cr->pl != cr->dst && ch->len)
		memcpy(cr->dst, cr->pl, ch->len);
}

/* A bare read whose payload failed the index's checksum: the header
 * decides (sl_slot_reread). */
static void kv_chunk_reread(struct slot_store *s, struct kv_chunk_read *cr)
{
	cr->res = sl_slot_reread(s, cr->ch, cr->oid, cr->dst);
	if (cr->res == -EBADMSG)
		cr->res = -EIO;
}

/* Zero the bytes of an object no chunk holds (chunks sorted by idx). */
static void kv_zero_holes(void *buf, const struct kv_get *kg, uint64_t chunk)
{
	uint64_t at = 0;
	for (uint32_t c = 0; c <= kg->nchunks; c++) {
		uint64_t start = c < kg->nchunks ?
			SL_MIN((uint64_t)kg->chunks[c].idx * chunk, kg->size) :
			kg->size;
		if (start > at)
			memset((uint8_t *)buf + at, 0, start - at);
		if (c < kg->nchunks)
			at = SL_MAX(at, start + kg->chunks[c].len);
	}
}

int slot_get_many(struct slot_store *s, struct slot_get *items, size_t n)
{
	if (!n)
		return 0;
	uint32_t bs = s->sb.block_size;
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	struct kv_get *kg = calloc(n, sizeof(*kg));
	if (!kg) {
		/* whole: every item says so */
		for (size_t i = 0; i < n; i++)
			items[i].result = -ENOMEM;
		return -ENOMEM;
	}
	pthread_rwlock_rdlock(&s->reuse_lock);
	sl_lock(s);
	size_t nio = 0, nhdr = 0;
	kv_find_all(s, items, kg, n);
	for (size_t i = 0; i < n; i++) {
		if (!items[i].result)
			items[i].result = kv_snapshot(s, &items[i], &kg[i]);
		if (items[i].result)
			continue;
		nio += kg[i].nchunks;
		for (uint32_t c = 0; c < kg[i].nchunks; c++)
			nhdr += !kg[i].chunks[c].csum;
	}
	sl_unlock(s);

	/* one request per chunk: the payload, in the caller's buffer when it
	 * is aligned, else in a bounce buffer; bare when the index knows its
	 * checksum (one device read of the payload's size, as fio's), else
	 * behind its header block (a scatter of the two when direct) */
	struct slot_io *ios = calloc(nio ? nio : 1, sizeof(*ios));
	struct iovec *iov = calloc(nio ? 2 * nio : 1, sizeof(*iov));
	struct kv_chunk_read *cr = calloc(nio ? nio : 1, sizeof(*cr));
	/* header blocks of the direct reads that are not bare, one
	 * allocation for the batch (the reads fill them; a header is parsed
	 * only after a whole read) */
	uint8_t *hdrs = NULL;
	int err = (ios && iov && cr &&
		   !posix_memalign((void **)&hdrs, bs, (nhdr ? nhdr : 1) * bs)) ?
		  0 : -ENOMEM;
	size_t k = 0, kh = 0;
	for (size_t i = 0; !err && i < n; i++) {
		if (items[i].result)
			continue;
		kv_zero_holes(items[i].buf, &kg[i], chunk);
		for (uint32_t c = 0; c < kg[i].nchunks; c++, k++) {
			struct sl_chunk *ch = &kg[i].chunks[c];
			uint8_t *dst = (uint8_t *)items[i].buf + (uint64_t)ch->idx * chunk;
			bool direct = ch->len % bs == 0 && ch->len &&
				      kv_aligned(dst, bs);
			bool bare = ch->csum != 0;
			uint32_t plen = (uint32_t)SL_ALIGN_UP(ch->len ? ch->len : 1, bs);
			uint32_t hlen = bare ? 0 : bs;
			cr[k] = (struct kv_chunk_read){ .s = s, .ch = ch,
				.oid = kg[i].oid, .dst = dst,
				.blen = direct ? 0 : hlen + plen };
			if (!direct)
				cr[k].buf = sl_buf_get(s, cr[k].blen);
			else if (!bare)
				cr[k].buf = hdrs + kh++ * bs;
			if (!direct && !cr[k].buf) {
				err = -ENOMEM;
				break;
			}
			cr[k].pl = direct ? dst : cr[k].buf + hlen;
			ios[k] = (struct slot_io){
				.buf = direct && bare ? dst : cr[k].buf,
				.off = sl_slot_off(s, ch->slot) + bs - hlen,
				.len = hlen + plen,
				.done = kv_chunk_check, .arg = &cr[k] };
			if (direct && !bare) {
				iov[2 * k] = (struct iovec){ cr[k].buf, bs };
				iov[2 * k + 1] = (struct iovec){ dst, ch->len };
				ios[k].iov = &iov[2 * k];
				ios[k].iovcnt = 2;
			}
		}
	}
	if (!err && k) {
		sl_inflight_enter(s, 1);
		s->dev->ops->read(s->dev->ctx, ios, k);
		bool ok = true;
		for (size_t j = 0; j < k; j++)
			if (ios[j].res < 0)
				ok = false;
		sl_inflight_exit(s, 1, ok);
	}
	/* the engine checked most chunks as they came in; the rest now */
	k = 0;
	size_t nlearned = 0;
	for (size_t i = 0; !err && i < n; i++) {
		if (items[i].result)
			continue;
		for (uint32_t c = 0; c < kg[i].nchunks; c++, k++) {
			kv_chunk_check(&ios[k]);
			if (cr[k].retry)
				kv_chunk_reread(s, &cr[k]);
			if (!cr[k].res && cr[k].learned)
				nlearned++;
			if (cr[k].res && !items[i].result)
				items[i].result = cr[k].res;
		}
		if (!items[i].result)
			atomic_fetch_add(&s->gets, 1);
	}
	/* checksums headers gave for chunks the index did not know (a 1.0
	 * checkpoint): the next get of them is bare */
	if (nlearned) {
		sl_lock(s);
		for (size_t j = 0; j < k; j++)
			if (!cr[j].res && cr[j].learned)
				sl_chunk_set_csum(&s->ix, cr[j].oid, cr[j].ch,
						  cr[j].learned);
		sl_unlock(s);
	}
	if (err)
		for (size_t i = 0; i < n; i++)
			if (!items[i].result)
				items[i].result = err;
	pthread_rwlock_unlock(&s->reuse_lock);
	for (size_t j = 0; cr && j < nio; j++)
		if (cr[j].blen)
			sl_buf_put(s, cr[j].buf);
	free(hdrs);
	free(cr);
	free(ios);
	free(iov);
	for (size_t i = 0; i < n; i++)
		free(kg[i].chunks);
	free(kg);
	for (size_t i = 0; i < n; i++)
		if (items[i].result)
			return items[i].result;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Batches started now, waited for later                               */
/* ------------------------------------------------------------------ */

/* A started put or get batch; the public op types wrap it. */
struct sl_batch {
	int (*run)(struct slot_store *s, void *items, size_t n);
	void *items;
	size_t n;
	struct sl_batch *next;
	/* its own lock: a wait never touches the store, which may be closed
	 * by then */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int result;
};

struct slot_get_op {
	struct sl_batch b;
};

struct slot_put_op {
	struct sl_batch b;
};

static void *kv_batch_worker(void *arg)
{
	struct slot_store *s = arg;
	pthread_mutex_lock(&s->bq_lock);
	for (;;) {
		while (!s->bq_head && !s->bq_stop)
			pthread_cond_wait(&s->bq_cond, &s->bq_lock);
		struct sl_batch *b = s->bq_head;
		if (!b)
			break;  /* stopping, and nothing is left queued */
		s->bq_head = b->next;
		if (!s->bq_head)
			s->bq_tail = NULL;
		pthread_mutex_unlock(&s->bq_lock);
		int r = b->run(s, b->items, b->n);
		pthread_mutex_lock(&b->lock);
		b->result = r;
		b->done = true;
		pthread_cond_signal(&b->cond);
		pthread_mutex_unlock(&b->lock);
		pthread_mutex_lock(&s->bq_lock);
	}
	pthread_mutex_unlock(&s->bq_lock);
	return NULL;
}

/* Queues a batch of n items for a worker to run through run(). */
static int kv_batch_start(struct slot_store *s, struct sl_batch *b,
			  int (*run)(struct slot_store *, void *, size_t),
			  void *items, size_t n)
{
	*b = (struct sl_batch){ .run = run, .items = items, .n = n };
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	int err = 0;
	pthread_mutex_lock(&s->bq_lock);
	if (s->bq_stop)
		err = -ESHUTDOWN;
	/* the workers start on first use: most stores never need them */
	while (!err && s->nbatch_workers < SLOT_BATCHES_RUNNING) {
		int e = pthread_create(&s->batch_workers[s->nbatch_workers],
				       NULL, kv_batch_worker, s);
		if (e) {
			if (!s->nbatch_workers)
				err = -e;
			break;
		}
		s->nbatch_workers++;
	}
	if (!err) {
		if (s->bq_tail)
			s->bq_tail->next = b;
		else
			s->bq_head = b;
		s->bq_tail = b;
		pthread_cond_signal(&s->bq_cond);
	}
	pthread_mutex_unlock(&s->bq_lock);
	if (err) {
		pthread_mutex_destroy(&b->lock);
		pthread_cond_destroy(&b->cond);
	}
	return err;
}

/* The batch's result, once it has run; the caller frees what wraps b. */
static int kv_batch_wait(struct sl_batch *b)
{
	pthread_mutex_lock(&b->lock);
	while (!b->done)
		pthread_cond_wait(&b->cond, &b->lock);
	int r = b->result;
	pthread_mutex_unlock(&b->lock);
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->cond);
	return r;
}

static int kv_run_gets(struct slot_store *s, void *items, size_t n)
{
	return slot_get_many(s, items, n);
}

static int kv_run_puts(struct slot_store *s, void *items, size_t n)
{
	return slot_put_many(s, items, n);
}

int slot_get_many_start(struct slot_store *s, struct slot_get *items,
			size_t n, struct slot_get_op **out)
{
	struct slot_get_op *op = malloc(sizeof(*op));
	int err = op ? kv_batch_start(s, &op->b, kv_run_gets, items, n) :
		  -ENOMEM;
	if (err)
		free(op);
	else
		*out = op;
	return err;
}

int slot_get_wait(struct slot_get_op *op)
{
	int r = kv_batch_wait(&op->b);
	free(op);
	return r;
}

int slot_put_many_start(struct slot_store *s, struct slot_put *items,
			size_t n, struct slot_put_op **out)
{
	struct slot_put_op *op = malloc(sizeof(*op));
	int err = op ? kv_batch_start(s, &op->b, kv_run_puts, items, n) :
		  -ENOMEM;
	if (err)
		free(op);
	else
		*out = op;
	return err;
}

int slot_put_wait(struct slot_put_op *op)
{
	int r = kv_batch_wait(&op->b);
	free(op);
	return r;
}

void sl_batch_workers_stop(struct slot_store *s)
{
	pthread_mutex_lock(&s->bq_lock);
	s->bq_stop = true;
	pthread_cond_broadcast(&s->bq_cond);
	unsigned n = s->nbatch_workers;
	pthread_mutex_unlock(&s->bq_lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(s->batch_workers[i], NULL);
	s->nbatch_workers = 0;
}

int slot_delete_many(struct slot_store *s, const char *const *keys, size_t n,
		     int *results)
{
	if (s->read_only) {
		for (size_t i = 0; results && i < n; i++)
			results[i] = -EROFS;
		return -EROFS;
	}
	int first = 0;
	sl_lock(s);
	int64_t now = sl_now_ns();
	for (size_t i = 0; i < n; i++) {
		struct sl_obj *dir;
		const char *name;
		size_t len;
		int err = sl_ns_resolve(s, keys[i], false, &dir, &name, &len);
		struct sl_dirent *de = NULL;
		struct sl_obj *o = NULL;
		if (!err) {
			de = sl_de_find(&s->ix, dir->oid, name, len);
			o = de ? sl_obj_find(&s->ix, de->child) : NULL;
			if (!o)
				err = -ENOENT;
			else if (S_ISDIR(o->mode))
				err = -EISDIR;
		}
		if (!err) {
			/* a put in flight sees DELETED at commit and cancels
			 * (its name is gone: kv_drop_pending must not) */
			if (o->nlink <= 1)
				o->flags &= ~SL_OBJ_PENDING;
			sl_ns_unname(s, dir, de, o, now);
			atomic_fetch_add(&s->deletes, 1);
			/* the directories the key's put made go with its
			 * last key, as an object store's prefixes do */
			sl_ns_prune(s, dir, now);
		}
		if (results)
			results[i] = err;
		if (err && !first)
			first = err;
	}
	sl_unlock(s);
	return first;
}

int slot_lookup(struct slot_store *s, const char *key, uint64_t *size)
{
	struct sl_obj *dir;
	const char *name;
	size_t len;
	sl_lock(s);
	int err = sl_ns_resolve(s, key, false, &dir, &name, &len);
	if (!err) {
		struct sl_dirent *de = sl_de_find(&s->ix, dir->oid, name, len);
		struct sl_obj *o = de && !(de->flags & SL_DE_PENDING) ?
					   sl_obj_find(&s->ix, de->child) : NULL;
		if (!o)
			err = -ENOENT;
		else if (!S_ISREG(o->mode))
			err = S_ISDIR(o->mode) ? -EISDIR : -EINVAL;
		else if (size)
			*size = o->size;
	}
	sl_unlock(s);
	return err;
}

/*
 * slot_iterate walks under the lock a batch of keys at a time, and calls
 * fn for them without it: fn may call into the store, and other calls go
 * on meanwhile.  Where the walk is, is a stack of directories, each with
 * the cookie of its last entry seen (cookies stay valid across changes,
 * as readdir's do) and the length of its path.
 */
#define KV_ITER_BATCH 256              /* keys a batch */
#define KV_ITER_BYTES (64u << 10)       /* their bytes, >= a longest key */

struct kv_iter_dir {
	slot_ino_t ino;
	uint64_t cookie;
	size_t plen;
};

struct kv_iter {
	struct kv_iter_dir *dirs;
	size_t ndirs, cap;
	char path[SLOT_PATH_MAX + 1];
	char keys[KV_ITER_BYTES];       /* the batch: keys, NUL after each */
	size_t used;
	uint64_t sizes[KV_ITER_BATCH];
	size_t n;
};

static int kv_iter_push(struct kv_iter *it, slot_ino_t ino, size_t plen)
{
	if (it->ndirs == it->cap) {
		size_t cap = it->cap ? 2 * it->cap : 16;
		struct kv_iter_dir *d = realloc(it->dirs, cap * sizeof(*d));
		if (!d)
			return -ENOMEM;
		it->dirs = d;
		it->cap = cap;
	}
	it->dirs[it->ndirs++] = (struct kv_iter_dir){ .ino = ino, .plen = plen };
	return 0;
}

/* Lock held.  The next batch of keys into it; 0 with none: done. */
static int kv_iter_fill(struct slot_store *s, struct kv_iter *it)
{
	it->n = it->used = 0;
	while (it->ndirs && it->n < KV_ITER_BATCH &&
	       it->used + SLOT_PATH_MAX + 1 <= KV_ITER_BYTES) {
		struct kv_iter_dir *top = &it->dirs[it->ndirs - 1];
		struct sl_obj *dir = sl_obj_find(&s->ix, top->ino);
		struct sl_dirent *de = dir && S_ISDIR(dir->mode) && dir->nlink ?
				       sl_dir_next(dir, top->cookie) : NULL;
		if (!de) {
			it->ndirs--;
			continue;
		}
		top->cookie = de->cookie;
		struct sl_obj *o = sl_obj_find(&s->ix, de->child);
		size_t n = top->plen;
		if (!o || n + de->len + 2 > SLOT_PATH_MAX ||
		    !(S_ISREG(o->mode) || S_ISDIR(o->mode)))
			continue;
		if (n)
			it->path[n++] = '/';
		memcpy(it->path + n, de->name, de->len);
		n += de->len;
		it->path[n] = 0;
		if (S_ISDIR(o->mode)) {
			if (kv_iter_push(it, o->oid, n))
				return -ENOMEM;
			continue;
		}
		memcpy(it->keys + it->used, it->path, n + 1);
		it->used += n + 1;
		it->sizes[it->n++] = o->size;
	}
	return 0;
}

int slot_iterate(struct slot_store *s,
		 int (*fn)(void *arg, const char *key, uint64_t size),
		 void *arg)
{
	struct kv_iter *it = calloc(1, sizeof(*it));
	int r = it ? kv_iter_push(it, SLOT_ROOT_INO, 0) : -ENOMEM;
	while (!r) {
		sl_lock(s);
		r = kv_iter_fill(s, it);
		sl_unlock(s);
		if (r || !it->n)
			break;
		const char *k = it->keys;
		for (size_t i = 0; !r && i < it->n; i++, k += strlen(k) + 1)
			r = fn(arg, k, it->sizes[i]);
	}
	if (it)
		free(it->dirs);
	free(it);
	return r;
}

int slot_sync(struct slot_store *s)
{
	if (s->read_only)
		return 0;
	int err = sl_file_flush_every(s, 0);
	if (err)
		return err;
	/* names through the journal, whose flush after its write covers the
	 * chunks just written */
	bool flushed;
	bool need = sl_jnl_sync(s, &flushed) != 0;
	if (!need && !flushed && (err = sl_flush(s)))
		return err;
	/* what neither a slot header nor the journal carries needs the
	 * checkpoint */
	sl_lock(s);
	if (s->ns_changes != s->ns_persisted || sl_owed_any(s))
		need = true;
	sl_unlock(s);
	if (need) {
		err = slot_checkpoint(s, true);
		if (err > 0)
			err = 0;
	}
	return err;
}
