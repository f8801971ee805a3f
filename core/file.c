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
#include <sys/mman.h>
#include <sys/stat.h>

#include "internal.h"

/* ------------------------------------------------------------------ */
/* Writing slots                                                       */
/* ------------------------------------------------------------------ */

static size_t fl_pool_size(const struct slot_store *s)
{
	return s->sb.block_size + ((size_t)1 << s->sb.chunk_shift);
}

/*
 * Big I/O buffers come from arenas of huge pages where the kernel has
 * them.  A slot of 1 MiB and its header in 4 KiB pages is 257 memory
 * segments, more than a disk may take in one request (a virtio disk
 * here takes 254), so every such read or write went to the device as
 * two requests; within huge pages it is one or two segments.  Arenas
 * also spare a page fault per 4 KiB of a fresh buffer, which on a
 * virtual machine costs more than the device I/O it feeds.
 */
#define FL_ARENA_BUFS 16u

/* Under AddressSanitizer a free arena buffer and the guard block after
 * each buffer are poisoned, as freed and out-of-bounds heap memory is. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define FL_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define FL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define FL_POISON(p, n) ((void)(p), (void)(n))
#define FL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Pool lock held: a new arena, its buffers on the free stack. */
static void fl_arena_new(struct slot_store *s)
{
	/* buffers SL_BLOCK-aligned, as sl_alloc_aligned's, each one
	 * followed by a guard block */
	size_t ps = fl_pool_size(s);
	size_t stride = SL_ALIGN_UP(ps, SL_BLOCK) + SL_BLOCK;
	size_t len = sl_big_len(stride * FL_ARENA_BUFS);
	_Static_assert(SL_ARRAY_SIZE(((struct slot_store *)0)->pool) >=
		       SL_ARRAY_SIZE(((struct slot_store *)0)->arenas) *
		       FL_ARENA_BUFS, "the free stack holds every buffer");
	if (s->narenas == SL_ARRAY_SIZE(s->arenas))
		return;
	uint8_t *base = sl_alloc_big(len, false);
	if (!base)
		return;
	FL_POISON(base, len);
	s->arenas[s->narenas].base = base;
	s->arenas[s->narenas].len = len;
	s->narenas++;
	for (unsigned i = FL_ARENA_BUFS; i-- > 0;)
		s->pool[s->npool++] = base + i * stride;
}

static bool fl_arena_has(const struct slot_store *s, unsigned a,
			 const void *p)
{
	return (const uint8_t *)p >= s->arenas[a].base &&
	       (const uint8_t *)p < s->arenas[a].base + s->arenas[a].len;
}

static bool fl_in_arena(const struct slot_store *s, const void *p)
{
	for (unsigned i = 0; i < s->narenas; i++)
		if (fl_arena_has(s, i, p))
			return true;
	return false;
}

void *sl_buf_get(struct slot_store *s, size_t bytes)
{
	size_t ps = fl_pool_size(s);
	if (bytes <= 64 * 1024 || bytes > ps)
		return sl_alloc_aligned(bytes);
	void *p = NULL;
	pthread_mutex_lock(&s->pool_lock);
	if (!s->npool)
		fl_arena_new(s);
	if (s->npool) {
		p = s->pool[--s->npool];
		FL_UNPOISON(p, ps);
	}
	pthread_mutex_unlock(&s->pool_lock);
	return p ? p : sl_alloc_aligned(ps);
}

/* Any buffer sl_buf_get gave, whatever size was asked for. */
void sl_buf_put(struct slot_store *s, void *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&s->pool_lock);
	bool ours = fl_in_arena(s, p);
	if (ours) {
		FL_POISON(p, fl_pool_size(s));
		s->pool[s->npool++] = p;
	}
	pthread_mutex_unlock(&s->pool_lock);
	if (!ours)
		free(p);
}

/* A sparse buffer's block, zeros (pool_lock not held). */
static uint8_t *fl_blk_get(struct slot_store *s)
{
	size_t bs = s->sb.block_size;
	pthread_mutex_lock(&s->pool_lock);
	uint8_t *p = s->blk_free;
	if (p) {
		FL_UNPOISON(p, bs);
		memcpy(&s->blk_free, p, sizeof(void *));
		s->nblk_free--;
	} else {
		s->blk_made++;
	}
	pthread_mutex_unlock(&s->pool_lock);
	if (p)
		memset(p, 0, bs);
	return p ? p : calloc(1, bs);
}

static void fl_blk_put(struct slot_store *s, uint8_t *p)
{
	pthread_mutex_lock(&s->pool_lock);
	bool keep = s->nblk_free < SL_WBS_BYTES / s->sb.block_size;
	if (keep) {
		memcpy(p, &s->blk_free, sizeof(void *));
		FL_POISON(p, s->sb.block_size);
		s->blk_free = p;
		s->nblk_free++;
	}
	pthread_mutex_unlock(&s->pool_lock);
	if (!keep)
		free(p);
}

/* pool_lock held.  The blocks kept for reuse, freed. */
static size_t fl_blk_free_all(struct slot_store *s)
{
	size_t n = s->nblk_free;
	while (s->blk_free) {
		void *p = s->blk_free;
		FL_UNPOISON(p, s->sb.block_size);
		memcpy(&s->blk_free, p, sizeof(void *));
		free(p);
	}
	s->nblk_free = 0;
	return n * s->sb.block_size;
}

size_t sl_buf_pool_shrink(struct slot_store *s)
{
	pthread_mutex_lock(&s->pool_lock);
	size_t freed = fl_blk_free_all(s);
	for (unsigned a = s->narenas; a-- > 0;) {
		unsigned back = 0;
		for (unsigned i = 0; i < s->npool; i++)
			back += fl_arena_has(s, a, s->pool[i]);
		if (back < FL_ARENA_BUFS)
			continue;               /* a buffer is out */
		unsigned n = 0;
		for (unsigned i = 0; i < s->npool; i++)
			if (!fl_arena_has(s, a, s->pool[i]))
				s->pool[n++] = s->pool[i];
		s->npool = n;
		FL_UNPOISON(s->arenas[a].base, s->arenas[a].len);
		sl_free_big(s->arenas[a].base, s->arenas[a].len);
		freed += s->arenas[a].len;
		s->arenas[a] = s->arenas[--s->narenas];
	}
	pthread_mutex_unlock(&s->pool_lock);
	return freed;
}

/* At close, with every buffer back. */
void sl_buf_pool_free(struct slot_store *s)
{
	fl_blk_free_all(s);
	for (unsigned i = 0; i < s->narenas; i++) {
		FL_UNPOISON(s->arenas[i].base, s->arenas[i].len);
		sl_free_big(s->arenas[i].base, s->arenas[i].len);
	}
	s->narenas = 0;
	s->npool = 0;
}

static size_t fl_wslot_bytes(const struct slot_store *s, size_t len)
{
	return s->sb.block_size + SL_ALIGN_UP(len ? len : 1, s->sb.block_size);
}

uint8_t *sl_wslot_buf(struct slot_store *s, size_t len)
{
	uint8_t *b = sl_buf_get(s, fl_wslot_bytes(s, len));
	if (b)
		memset(b, 0, s->sb.block_size);
	return b;
}

void sl_slot_hdr_fill(struct slot_store *s, const struct sl_obj *o,
		      struct sl_slot_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->magic = SL_MAGIC_SLOT;
	memcpy(h->uuid, s->hdr_uuid, 16);
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

void sl_move_wait(struct slot_store *s)
{
	pthread_cond_wait(&s->move_cond, &s->lock);
}

int sl_wslots_alloc(struct slot_store *s, struct sl_wslot *w, size_t n,
		    struct sl_txn *t, uint32_t *new_regions, size_t *nnew)
{
	/* a copy compaction makes takes no chunk lock: writes of the
	 * object wait for it to land, so that none reads a slot the copy
	 * gives up, nor lands under it */
	for (size_t i = 0; i < n; i++)
		if (w[i].o->flags & SL_OBJ_MOVING)
			return -EAGAIN;
	unsigned cls_stack[64] = { 0 };
	uint64_t ref_stack[64] = { 0 };
	unsigned *cls = n <= 64 ? cls_stack : malloc(n * sizeof(*cls));
	uint64_t *refs = n <= 64 ? ref_stack : malloc(n * sizeof(*refs));
	int err = -ENOMEM;
	if (!cls || !refs)
		goto out;
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (!w[i].preset)
			cls[m++] = sl_class_for(s, w[i].len);
	*nnew = 0;
	err = m ? sl_slots_alloc(s, cls, m, refs, new_regions, nnew) : 0;
	if (err)
		goto out;
	sl_txn_begin(s, t);
	for (size_t i = 0, k = 0; i < n; i++) {
		struct sl_wslot *x = &w[i];
		struct sl_slot_hdr *h = &x->hdr;
		if (!x->preset)
			x->ref = refs[k++];
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
		/* an ACL changed with this mode: recovery must not take the
		 * mode without it, and a new object's header gives the mode
		 * it had before */
		uint32_t before;
		bool acl_owed = sl_xa_mode_owed(s, x->o, &before);
		if (acl_owed)
			h->mode = (h->mode & S_IFMT) | (before & 07777);
		if ((x->o->flags & SL_OBJ_CKPT_OWED) || acl_owed)
			h->flags |= SL_SLOT_MODE_CKPT;
		h->cls = (uint8_t)sl_slot_cls(s, x->ref);
		x->o->busy++;
		/* a file's size waits for the extensions below it to be
		 * durable (ext.c); a whole put writes every chunk itself */
		h->safe_size = h->obj_size;
		if (!(x->flags & SL_SLOT_WHOLE))
			h->safe_size = sl_ext_size(s, x->o, x->idx, false);
		if (h->safe_size == h->obj_size) {
			x->o->flags &= ~SL_OBJ_ATTR_DIRTY;
		} else {
			/* recovery may need to stop short of obj_size: an
			 * fsync must not count on it (a checkpoint does) */
			h->flags |= SL_SLOT_SIZE_LAGS;
			x->o->flags |= SL_OBJ_ATTR_DIRTY;
		}
	}
	sl_inflight_enter(s, (unsigned)n);
out:
	if (cls != cls_stack)
		free(cls);
	if (refs != ref_stack)
		free(refs);
	return err;
}

/* Just before a slot goes to the device: its checksum and header, so
 * they are computed while the slots before it are in flight. */
static int fl_wslot_prep(struct slot_io *io)
{
	struct sl_wslot *x = io->arg;
	x->hdr.payload_csum = sl_csum(x->payload, x->len);
	sl_slot_hdr_encode(&x->hdr, x->buf);
	return 0;
}

int sl_wslots_write(struct slot_store *s, struct sl_wslot *w, size_t n)
{
	uint32_t bs = s->sb.block_size;
	struct slot_io *ios = calloc(n, sizeof(*ios));
	struct iovec *iov = calloc(n * 3, sizeof(*iov));
	if (!ios || !iov) {
		free(ios);
		free(iov);
		for (size_t i = 0; i < n; i++)
			w[i].res = -ENOMEM;
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct sl_wslot *x = &w[i];
		x->payload = x->data ? x->data : x->buf + bs;
		ios[i].off = sl_slot_off(s, x->ref);
		ios[i].len = bs + (uint32_t)SL_ALIGN_UP(x->len ? x->len : 1, bs);
		ios[i].prep = fl_wslot_prep;
		ios[i].arg = x;
		if (!x->data) {
			ios[i].buf = x->buf;
			continue;
		}
		/* straight from the caller, one request: the header, the
		 * whole blocks, and the tail block copied behind the header */
		uint32_t whole = x->len / bs * bs, tail = x->len - whole;
		struct iovec *v = &iov[i * 3];
		unsigned k = 0;
		v[k++] = (struct iovec){ x->buf, bs };
		if (whole)
			v[k++] = (struct iovec){ (void *)x->data, whole };
		if (tail || !x->len) {
			memset(x->buf + bs, 0, bs);
			memcpy(x->buf + bs, x->data + whole, tail);
			v[k++] = (struct iovec){ x->buf + bs, bs };
		}
		ios[i].iov = v;
		ios[i].iovcnt = k;
	}
	int err = sl_write(s, ios, n);
	for (size_t i = 0; i < n; i++)
		w[i].res = ios[i].res < 0 ? ios[i].res : 0;
	free(ios);
	free(iov);
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

bool sl_slot_hdr_match(const struct slot_store *s,
		       const struct sl_slot_hdr *h, uint64_t oid,
		       const struct sl_chunk *c)
{
	return !memcmp(h->uuid, s->hdr_uuid, 16) && h->oid == oid &&
	       h->gen == c->gen && h->idx == c->idx &&
	       h->payload_len == c->len;
}

int sl_slot_check(const struct slot_store *s, const uint8_t *blk,
		  const void *pl, const struct sl_chunk *c, uint64_t oid,
		  struct sl_slot_hdr *h)
{
	if (sl_slot_hdr_decode(blk, h) || !sl_slot_hdr_match(s, h, oid, c) ||
	    sl_csum(pl, c->len) != h->payload_csum)
		return -EBADMSG;
	return 0;
}

int sl_slots_read_verify(struct slot_store *s, const struct sl_slot_rd *r,
			 size_t n)
{
	uint32_t bs = s->sb.block_size;
	struct slot_io *ios = calloc(n ? n : 1, sizeof(*ios));
	int err = ios ? 0 : -ENOMEM;
	for (size_t i = 0; !err && i < n; i++) {
		const struct sl_chunk *c = r[i].c;
		ios[i].buf = sl_wslot_buf(s, c->len);
		ios[i].off = sl_slot_off(s, c->slot);
		ios[i].len = bs + (uint32_t)SL_ALIGN_UP(c->len ? c->len : 1,
							bs);
		if (!ios[i].buf)
			err = -ENOMEM;
	}
	if (!err && n)
		err = s->dev->ops->read(s->dev->ctx, ios, n);
	for (size_t i = 0; !err && i < n; i++) {
		uint8_t *b = ios[i].buf;
		struct sl_slot_hdr h;
		if (ios[i].res != (int32_t)ios[i].len)
			err = ios[i].res < 0 ? ios[i].res : -EIO;
		else if ((err = sl_slot_check(s, b, b + bs, r[i].c, r[i].oid,
					      &h)))
			sl_csum_error(s);
		else
			memcpy(r[i].out, b + bs, r[i].len);
	}
	for (size_t i = 0; ios && i < n; i++)
		sl_buf_put(s, ios[i].buf);
	free(ios);
	return err;
}

int sl_slot_read_verify(struct slot_store *s, const struct sl_chunk *c,
			uint64_t oid, void *buf)
{
	struct sl_slot_rd r = { .c = c, .oid = oid, .out = buf,
				.len = c->len };
	return sl_slots_read_verify(s, &r, 1);
}

static void fl_learn_csum(struct slot_store *s, uint64_t oid,
			  const struct sl_chunk *c, uint64_t csum)
{
	sl_lock(s);
	sl_chunk_set_csum(&s->ix, oid, c, csum);
	sl_unlock(s);
}

int sl_slot_reread(struct slot_store *s, const struct sl_chunk *c,
		   uint64_t oid, void *buf)
{
	int err = sl_slot_read_verify(s, c, oid, buf);
	if (err)
		return err;
	fl_learn_csum(s, oid, c, sl_csum(buf, c->len));
	return 0;
}

/* ------------------------------------------------------------------ */
/* File face                                                           */
/* ------------------------------------------------------------------ */

static pthread_rwlock_t *fl_stripe(struct slot_store *s, slot_ino_t ino)
{
	return &s->stripes[(ino * 0x9e3779b97f4a7c15ull) >> 58];
}

static int fl_uint_cmp(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return x < y ? -1 : x > y;
}

static unsigned fl_chunk_stripe(slot_ino_t ino, uint64_t idx)
{
	uint64_t h = (ino * 0x9e3779b97f4a7c15ull) ^
		     (idx * 0xc2b2ae3d27d4eb4full);
	return (unsigned)(h >> 56);
}

/* Lock the stripes held[0, k): each once, in ascending order (held is
 * sorted and left with the distinct ones).  Returns how many. */
static size_t fl_stripes_lock(struct slot_store *s, unsigned *held, size_t k)
{
	qsort(held, k, sizeof(*held), fl_uint_cmp);
	size_t u = 0;
	for (size_t i = 0; i < k; i++)
		if (!u || held[u - 1] != held[i])
			held[u++] = held[i];
	for (size_t i = 0; i < u; i++)
		pthread_mutex_lock(&s->chunk_locks[held[i]]);
	return u;
}

/*
 * Lock the chunk stripes of chunks [first, first + n) of ino: each stripe
 * once, in ascending order, so writers never wait on each other in a
 * circle.  A write spanning more chunks than held[] can hold takes every
 * stripe.  Returns how many it holds.
 */
static size_t fl_chunks_lock(struct slot_store *s, slot_ino_t ino,
			     uint64_t first, size_t n, unsigned *held)
{
	size_t k = 0;
	if (n > SL_CHUNK_STRIPES / 8) {
		for (unsigned i = 0; i < SL_CHUNK_STRIPES; i++)
			pthread_mutex_lock(&s->chunk_locks[i]);
		return SIZE_MAX;
	}
	for (size_t i = 0; i < n; i++)
		held[k++] = fl_chunk_stripe(ino, first + i);
	return fl_stripes_lock(s, held, k);
}

/* ... of the chunks idx[0, n) of ino (n at most SL_CHUNK_STRIPES / 8). */
static size_t fl_chunk_list_lock(struct slot_store *s, slot_ino_t ino,
				 const uint32_t *idx, size_t n, unsigned *held)
{
	for (size_t i = 0; i < n; i++)
		held[i] = fl_chunk_stripe(ino, idx[i]);
	return fl_stripes_lock(s, held, n);
}

static void fl_chunks_unlock(struct slot_store *s, const unsigned *held,
			     size_t n)
{
	if (n == SIZE_MAX) {
		for (unsigned i = 0; i < SL_CHUNK_STRIPES; i++)
			pthread_mutex_unlock(&s->chunk_locks[i]);
		return;
	}
	for (size_t i = 0; i < n; i++)
		pthread_mutex_unlock(&s->chunk_locks[held[i]]);
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

/* ------------------------------------------------------------------ */
/* Write buffers: finding them, and a sparse one's blocks               */
/* ------------------------------------------------------------------ */

#define FL_WB_PER_FILE 32       /* chunks one file may hold in memory */
/* sparse buffers beyond this many blocks go to the flushers, the fullest
 * first, a few at a time; at SL_WBS_BYTES a write goes through */
#define FL_WBS_SOFT(s) (SL_WBS_BYTES / 4 * 3 / (s)->sb.block_size)
#define FL_WBS_HARD(s) (SL_WBS_BYTES / (s)->sb.block_size)
#define FL_WBS_QUEUED 4

static unsigned fl_wb_bucket(uint64_t oid, uint32_t idx)
{
	uint64_t h = (oid ^ ((uint64_t)idx << 40 | idx)) *
		     0x9e3779b97f4a7c15ull;
	return (unsigned)(h >> 40) % SL_WB_HASH;
}

/* Lock held. */
static struct sl_wbuf *fl_wb_find(const struct slot_store *s,
				  const struct sl_obj *o, uint32_t idx)
{
	if (!o->wb)
		return NULL;
	struct sl_wbuf *b = s->wb_hash[fl_wb_bucket(o->oid, idx)];
	while (b && (b->oid != o->oid || b->idx != idx))
		b = b->hnext;
	return b;
}

/* The count of buffers of a kind: sparse ones, or full ones. */
static uint32_t *fl_wb_tally(struct slot_store *s, bool sparse)
{
	return sparse ? &s->wbs_count : &s->wb_count;
}

/* Lock held.  Where block k of sparse b lies: its place in b->pg, or
 * where it would go (*found false). */
static uint32_t fl_wbs_at(const struct sl_wbuf *b, uint32_t k, bool *found)
{
	uint32_t lo = 0, hi = b->npg;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (b->pg[mid].k < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < b->npg && b->pg[lo].k == k;
	return lo;
}

/* Whether page g holds every byte of its block. */
static bool fl_wbs_whole(const struct slot_store *s, const struct sl_wpage *g)
{
	return g->lo == 0 && g->hi == s->sb.block_size;
}

/* Lock held.  Blocks that a write of [da, da + dl) would add to sparse
 * b (NULL: a fresh one); -1 when b cannot take it: it
 * writes part of a block b holds in part, apart from what b holds. */
static int64_t fl_wbs_adds(const struct slot_store *s, const struct sl_wbuf *b,
			   uint32_t da, uint32_t dl)
{
	uint32_t bs = s->sb.block_size;
	int64_t add = 0;
	for (uint32_t k = da / bs; k <= (da + dl - 1) / bs; k++) {
		uint32_t ka = k * bs;
		uint32_t lo = SL_MAX(da, ka) - ka;
		uint32_t hi = SL_MIN(da + dl, ka + bs) - ka;
		bool found = false;
		uint32_t i = b ? fl_wbs_at(b, k, &found) : 0;
		const struct sl_wpage *g = found ? &b->pg[i] : NULL;
		if (!g)
			add++;
		else if (!fl_wbs_whole(s, g) && (lo > g->hi || hi < g->lo))
			return -1;
	}
	return add;
}

/* Lock held.  Whether sparse b cannot take a write of [da, da + dl) as
 * it is (fl_wbs_adds), or only past SL_WBS_BYTES. */
static bool fl_wbs_refuses(const struct slot_store *s, const struct sl_wbuf *b,
			   uint32_t da, uint32_t dl)
{
	int64_t add = fl_wbs_adds(s, b, da, dl);
	return add < 0 || s->wbs_blocks + add > FL_WBS_HARD(s);
}

/* Lock held.  Bytes [da, da + dl) into sparse b (fl_wbs_refuses said
 * it can take them).  Returns 0 or -ENOMEM. */
static int fl_wbs_write(struct slot_store *s, struct sl_wbuf *b, uint32_t da,
			const uint8_t *src, uint32_t dl)
{
	uint32_t bs = s->sb.block_size;
	for (uint32_t k = da / bs; k <= (da + dl - 1) / bs; k++) {
		uint32_t ka = k * bs;
		uint32_t a = SL_MAX(da, ka), e = SL_MIN(da + dl, ka + bs);
		bool found;
		uint32_t i = fl_wbs_at(b, k, &found);
		if (!found) {
			if (b->npg == b->cappg) {
				uint32_t cap = b->cappg ? 2 * b->cappg : 8;
				struct sl_wpage *pg = realloc(b->pg,
							      cap * sizeof(*pg));
				if (!pg)
					return -ENOMEM;
				b->pg = pg;
				b->cappg = cap;
			}
			uint8_t *p = fl_blk_get(s);
			if (!p)
				return -ENOMEM;
			memmove(&b->pg[i + 1], &b->pg[i],
				(b->npg - i) * sizeof(*b->pg));
			/* past base a block is zeros, all of it ours */
			bool zeros = ka >= b->base;
			b->pg[i] = (struct sl_wpage){ .k = k, .p = p,
						      .lo = zeros ? 0 : a - ka,
						      .hi = zeros ? bs : e - ka };
			b->npg++;
			s->wbs_blocks++;
		}
		struct sl_wpage *g = &b->pg[i];
		memcpy(g->p + (a - ka), src + (a - da), e - a);
		g->jnl = false;         /* the journal holds older bytes */
		g->lo = SL_MIN(g->lo, a - ka);
		g->hi = SL_MAX(g->hi, e - ka);
		/* block by block: a failure leaves no block past len, where
		 * the write-out would put it past the slot's end */
		b->len = SL_MAX(b->len, e);
	}
	return 0;
}

/* A run of a piece's bytes a sparse buffer holds: at, from the piece's
 * start. */
struct fl_span {
	uint32_t at, len;
};

/* Bytes [a, e) of sparse b's chunk that b holds, into out (at their
 * places from a; the rest of out left as it is), and the runs of them
 * into sp (a run per block at
 * most; *nsp of them).  Returns whether the rest needs the device: some
 * of it lies below base, where b does not hold it all. */
static bool fl_wbs_copy(const struct slot_store *s, const struct sl_wbuf *b,
			uint32_t a, uint32_t e, uint8_t *out,
			struct fl_span *sp, uint32_t *nsp)
{
	uint32_t bs = s->sb.block_size;
	bool dev = false;
	*nsp = 0;
	for (uint32_t k = a / bs; k <= (e - 1) / bs; k++) {
		uint32_t ka = k * bs;
		bool found;
		uint32_t i = fl_wbs_at(b, k, &found);
		const struct sl_wpage *g = found ? &b->pg[i] : NULL;
		if (ka < b->base && (!g || !fl_wbs_whole(s, g)))
			dev = true;
		if (!g)
			continue;
		uint32_t x = SL_MAX(a, ka + g->lo), y = SL_MIN(e, ka + g->hi);
		if (x >= y)
			continue;
		memcpy(out + (x - a), g->p + (x - ka), y - x);
		sp[(*nsp)++] = (struct fl_span){ .at = x - a, .len = y - x };
	}
	return dev;
}

/* Lock held.  Whether writing sparse b out needs its chunk's old bytes:
 * it does not hold every byte below base. */
static bool fl_wbs_needs_old(const struct slot_store *s,
			     const struct sl_wbuf *b)
{
	uint32_t bs = s->sb.block_size;
	uint32_t whole = 0;
	for (uint32_t i = 0; i < b->npg && b->pg[i].k * bs < b->base; i++)
		whole += fl_wbs_whole(s, &b->pg[i]);
	return whole < (b->base + bs - 1) / bs;
}

/* The bytes of sparse b over pl, its chunk's payload: stable, as
 * writers need the chunk's lock, which its write-out holds. */
static void fl_wbs_apply(const struct slot_store *s, const struct sl_wbuf *b,
			 uint8_t *pl)
{
	uint32_t bs = s->sb.block_size;
	for (uint32_t i = 0; i < b->npg; i++) {
		const struct sl_wpage *g = &b->pg[i];
		memcpy(pl + (size_t)g->k * bs + g->lo, g->p + g->lo,
		       g->hi - g->lo);
	}
}

/* Whether sparse b holds blocks and the journal holds them all. */
static bool fl_wbs_all_jnl(const struct sl_wbuf *b)
{
	if (b->buf || !b->npg)
		return false;
	for (uint32_t i = 0; i < b->npg; i++)
		if (!b->pg[i].jnl)
			return false;
	return true;
}

/* Whether a close writes b out: not when the journal holds all its
 * blocks, which go with the periodic write-out or when the journal's
 * span sends them (a log appended, fsynced and closed over and over
 * rewrote its chunk at each close). */
static bool fl_wb_close_writes(const struct sl_wbuf *b)
{
	return !fl_wbs_all_jnl(b);
}

/* Lock held.  The buffers of o a close writes out. */
static unsigned fl_wb_close_count(const struct sl_obj *o)
{
	unsigned n = 0;
	for (const struct sl_wbuf *b = o->wb; b; b = b->next)
		n += fl_wb_close_writes(b);
	return n;
}

/* Whether a WRITE record of b's was logged: its chunk, rewritten
 * without its blocks, would make replay pass them by. */
static bool fl_wbs_journaled(const struct sl_wbuf *b)
{
	if (b->jlsn)
		return true;
	for (uint32_t i = 0; i < b->npg; i++)
		if (b->pg[i].jnl)
			return true;
	return false;
}

#define FL_RC_MIN (64u * 1024)  /* chunks larger than this are cached */
#define FL_READ_AHEAD 6         /* chunks fetched ahead of a streaming read
				   (the cache holds 16) */

struct fl_piece {
	struct sl_chunk c;      /* c.len == 0 && !have: a hole */
	bool have;
	uint64_t cstart;        /* bytes of the chunk wanted: [a, b) */
	uint32_t a, b;
	uint8_t *bounce;
	uint32_t boff;          /* where byte a sits in bounce */
	bool verify;
	bool bare;              /* verified by c.csum: no header read */
	bool buffered;          /* served from a write buffer already */
	int rc_slot;            /* cache entry it loads, or -1 */
	bool ok;                /* read and verified */
	size_t blen;
	/* Handed out (no buffer to copy to): nsrc bytes at src, then zeros
	 * up to b - a.  src lives in cache entry pin, in copy, or in bounce. */
	const uint8_t *src;
	uint32_t nsrc;
	int pin;                /* cache entry pinned, or -1 */
	uint8_t *copy;          /* write-buffered bytes, copied out */
	/* a sparse buffer's bytes in [a, b), in copy, as runs; ovl: they
	 * go over what the device has */
	struct fl_span *spans;
	uint32_t nspans;
	bool ovl;
};

/* Piece p is n bytes at src, then zeros to its end: copied to dst, or
 * (dst NULL) noted, to be handed out. */
static void fl_piece_out(struct fl_piece *p, uint8_t *dst,
			 const uint8_t *src, uint32_t n)
{
	if (!dst) {
		p->src = src;
		p->nsrc = n;
		return;
	}
	if (n)
		memcpy(dst, src, n);
	memset(dst + n, 0, p->b - p->a - n);
}

/* Whether a read takes piece p's chunk whole, and verifies it: it wants
 * all of the chunk, or enough of it to be a stream. */
static bool fl_whole(const struct fl_piece *p)
{
	return (p->a == 0 && SL_MIN(p->b, p->c.len) == p->c.len) ||
	       p->b - p->a >= FL_RC_MIN;
}

static bool fl_bad_has(struct slot_store *s, uint64_t oid,
		       const struct sl_chunk *c)
{
	bool bad = false;
	pthread_mutex_lock(&s->rc_lock);
	for (unsigned i = 0; i < SL_ARRAY_SIZE(s->bad) && !bad; i++)
		bad = s->bad[i].oid == oid && s->bad[i].idx == c->idx &&
		      s->bad[i].gen == c->gen && s->bad[i].gen;
	pthread_mutex_unlock(&s->rc_lock);
	return bad;
}

static void fl_bad_add(struct slot_store *s, uint64_t oid,
		       const struct sl_chunk *c)
{
	pthread_mutex_lock(&s->rc_lock);
	unsigned i = s->nbad++ % SL_ARRAY_SIZE(s->bad);
	s->bad[i].oid = oid;
	s->bad[i].idx = c->idx;
	s->bad[i].gen = c->gen;
	pthread_mutex_unlock(&s->rc_lock);
}

static bool fl_rc_match(const struct slot_store *s, unsigned i, uint64_t oid,
			const struct sl_chunk *c)
{
	return (s->rc[i].buf || s->rc[i].loading) && s->rc[i].oid == oid &&
	       s->rc[i].idx == c->idx && s->rc[i].gen == c->gen;
}

/*
 * Lock held: claim an entry for loading chunk c (none may hold it): the
 * least recently used one not being loaded, its old image in *old; -1
 * when every entry is loading.  A read claims its chunks in order and
 * waits only for later ones, and the read-ahead waits for nothing, so
 * waits cannot form a cycle.  Every claim ends in fl_rc_loaded.
 */
static int fl_rc_begin(struct slot_store *s, uint64_t oid,
		       const struct sl_chunk *c, uint8_t **old, size_t *oldlen)
{
	int v = -1;
	for (unsigned i = 0; i < SL_ARRAY_SIZE(s->rc); i++)
		if (!s->rc[i].loading && !s->rc[i].pins &&
		    (v < 0 || s->rc[i].tick < s->rc[v].tick))
			v = (int)i;
	if (v >= 0) {
		*old = s->rc[v].buf;
		*oldlen = s->rc[v].blen;
		s->rc[v].buf = NULL;
		s->rc[v].loading = true;
		s->rc[v].oid = oid;
		s->rc[v].idx = c->idx;
		s->rc[v].gen = c->gen;
		s->rc[v].len = c->len;
		s->rc[v].tick = ++s->rc_tick;
	}
	return v;
}

/*
 * Serve piece p from the chunk cache if it holds that very write: copied
 * to dst, or (dst NULL) pinned, to be handed out.  A chunk being read by
 * another thread is waited for: reading it again would cost the device
 * the same bytes twice; but not when !wait (a batch, whose own read may
 * be the one loading it).  Else, when claim, p takes an entry for the chunk
 * it is about to read whole (p->rc_slot; see fl_rc_loaded).
 */
static void fl_rc_get(struct slot_store *s, uint64_t oid, struct fl_piece *p,
		      uint8_t *dst, bool claim, bool wait)
{
	uint8_t *old = NULL;
	size_t oldlen = 0;
	pthread_mutex_lock(&s->rc_lock);
	for (unsigned i = 0; i < SL_ARRAY_SIZE(s->rc); i++) {
		if (!fl_rc_match(s, i, oid, &p->c))
			continue;
		if (!wait && s->rc[i].loading) {
			claim = false;  /* read it past the cache */
			break;
		}
		while (s->rc[i].loading && fl_rc_match(s, i, oid, &p->c))
			pthread_cond_wait(&s->rc_cond, &s->rc_lock);
		if (!fl_rc_match(s, i, oid, &p->c))
			break;  /* that read failed: this one reads it */
		uint32_t have = p->a < p->c.len ?
				SL_MIN(p->b, p->c.len) - p->a : 0;
		fl_piece_out(p, dst, s->rc[i].buf + s->sb.block_size + p->a,
			     have);
		if (!dst) {
			s->rc[i].pins++;
			p->pin = (int)i;
		}
		s->rc[i].tick = ++s->rc_tick;
		p->buffered = true;
		break;
	}
	if (!p->buffered && claim)
		p->rc_slot = fl_rc_begin(s, oid, &p->c, &old, &oldlen);
	pthread_mutex_unlock(&s->rc_lock);
	sl_buf_put(s, old);
}

/* Claim an entry for a read-ahead of chunk c: false when the cache has
 * it, loaded or loading, or has no entry to spare. */
static bool fl_rc_claim(struct slot_store *s, uint64_t oid,
			const struct sl_chunk *c, int *slot)
{
	uint8_t *old = NULL;
	size_t oldlen = 0;
	bool has = false;
	pthread_mutex_lock(&s->rc_lock);
	for (unsigned i = 0; i < SL_ARRAY_SIZE(s->rc) && !has; i++)
		has = fl_rc_match(s, i, oid, c);
	*slot = has ? -1 : fl_rc_begin(s, oid, c, &old, &oldlen);
	pthread_mutex_unlock(&s->rc_lock);
	sl_buf_put(s, old);
	return *slot >= 0;
}

/* End the loading of entry slot: it takes buf (pinned for the caller
 * when pin), or (buf NULL) is let go; waiting readers wake. */
static void fl_rc_loaded(struct slot_store *s, int slot, uint8_t *buf,
			 size_t blen, bool pin)
{
	pthread_mutex_lock(&s->rc_lock);
	s->rc[slot].loading = false;
	s->rc[slot].buf = buf;
	s->rc[slot].blen = blen;
	s->rc[slot].pins += buf && pin;
	if (!buf)
		s->rc[slot].oid = 0;
	pthread_cond_broadcast(&s->rc_cond);
	pthread_mutex_unlock(&s->rc_lock);
}

/* A chunk of zeros to hand out for holes, made on first use. */
static const uint8_t *fl_zeros(struct slot_store *s)
{
	uint8_t *z = atomic_load(&s->zeros), *none = NULL;
	if (z)
		return z;
	z = calloc(1, (size_t)1 << s->sb.chunk_shift);
	if (z && !atomic_compare_exchange_strong(&s->zeros, &none, z)) {
		free(z);
		z = none;
	}
	return z;
}

/* Hand the pieces to fn as segments: each piece's bytes, then its zeros. */
static int fl_hand_out(struct slot_store *s, const struct fl_piece *ps,
		       size_t np, slot_read_fn fn, void *arg)
{
	struct iovec *iov = calloc(2 * np, sizeof(*iov));
	const uint8_t *zeros = NULL;
	int n = 0;
	if (!iov)
		return -ENOMEM;
	for (size_t i = 0; i < np; i++) {
		const struct fl_piece *p = &ps[i];
		uint32_t nzero = p->b - p->a - p->nsrc;
		if (p->nsrc)
			iov[n++] = (struct iovec){ (void *)p->src, p->nsrc };
		if (nzero && !zeros && !(zeros = fl_zeros(s))) {
			free(iov);
			return -ENOMEM;
		}
		if (nzero)
			iov[n++] = (struct iovec){ (void *)zeros, nzero };
	}
	int ret = fn(arg, iov, n);
	free(iov);
	return ret;
}

/* Let go of what the pieces hold: pins, copies, bounce buffers. */
static void fl_pieces_free(struct slot_store *s, struct fl_piece *ps,
			   size_t np)
{
	for (size_t i = 0; i < np; i++) {
		if (ps[i].pin >= 0) {
			pthread_mutex_lock(&s->rc_lock);
			s->rc[ps[i].pin].pins--;
			pthread_mutex_unlock(&s->rc_lock);
		}
		free(ps[i].copy);
		free(ps[i].spans);
		sl_buf_put(s, ps[i].bounce);
	}
	free(ps);
}

static bool fl_queue(struct slot_store *s, slot_ino_t ino, uint32_t idx,
		     bool prefetch, bool plug);

/* Whether every stream of ino remembered has read up to chunk idx: the
 * reader read it itself, whether the cache still holds it or not. */
static bool fl_rs_passed(struct slot_store *s, slot_ino_t ino, uint32_t idx)
{
	uint64_t at = (uint64_t)idx << s->sb.chunk_shift;
	bool any = false, behind = false;
	pthread_mutex_lock(&s->rc_lock);
	for (unsigned i = 0; i < SL_ARRAY_SIZE(s->rs); i++)
		if (s->rs[i].ino == ino) {
			any = true;
			behind |= s->rs[i].end <= at;
		}
	pthread_mutex_unlock(&s->rc_lock);
	return any && !behind;
}

/*
 * Read-ahead: chunk idx of ino, read whole, verified and kept in the
 * chunk cache by a flusher thread, so a streaming reader finds the next
 * chunk in memory while this one is copied out.  A job that comes late,
 * its stream past the chunk, reads nothing (on a loaded machine, a
 * stream's jobs all late read every chunk twice).
 */
void sl_file_prefetch(struct slot_store *s, slot_ino_t ino, uint32_t idx)
{
	uint32_t bs = s->sb.block_size;
	struct sl_chunk c;
	bool have = false;
	if (fl_rs_passed(s, ino, idx))
		return;
	pthread_rwlock_rdlock(&s->reuse_lock);
	sl_lock(s);
	struct sl_obj *o = sl_obj_find(&s->ix, ino);
	if (o && S_ISREG(o->mode) && !fl_wb_find(s, o, idx)) {
		struct sl_chunk *cc = sl_obj_chunk(o, idx);
		if (cc && cc->len > FL_RC_MIN) {
			c = *cc;
			have = true;
		}
	}
	sl_unlock(s);
	int slot;
	if (have && !fl_bad_has(s, ino, &c) && fl_rc_claim(s, ino, &c, &slot)) {
		size_t blen = bs + SL_ALIGN_UP(c.len, bs);
		uint8_t *b = sl_buf_get(s, blen);
		struct slot_io io = { .buf = b, .off = sl_slot_off(s, c.slot),
				      .len = (uint32_t)blen };
		struct sl_slot_hdr h;
		int err = b ? 0 : -ENOMEM;
		if (!err) {
			sl_inflight_enter(s, 1);
			err = s->dev->ops->read(s->dev->ctx, &io, 1);
			sl_inflight_exit(s, 1, err == 0);
		}
		if (!err)
			err = sl_slot_check(s, b, b + bs, &c, ino, &h);
		fl_rc_loaded(s, slot, err ? NULL : b, blen, false);
		/* a bad chunk is found again, and reported, by the read */
		if (err)
			sl_buf_put(s, b);
	}
	pthread_rwlock_unlock(&s->reuse_lock);
}

/*
 * Read-ahead for a stream: a read of FL_RC_MIN or more of a chunk (the
 * kernel's read-ahead sends those, not always in order), or a read that
 * starts where the last read of the file ended.  A small read that only
 * happens to start a chunk is no stream: random 4 KiB reads would fetch
 * three chunks each.  Each chunk is queued once per stream.
 */
static void fl_read_ahead(struct slot_store *s, slot_ino_t ino, uint64_t off,
			  size_t len, const struct fl_piece *last,
			  uint64_t size)
{
	unsigned shift = s->sb.chunk_shift;
	uint64_t nchunks = (size + (1ull << shift) - 1) >> shift;
	uint64_t from = (uint64_t)last->c.idx + 1;
	uint64_t to = SL_MIN((uint64_t)last->c.idx + FL_READ_AHEAD,
			     nchunks - 1);
	bool stream = last->b - last->a >= FL_RC_MIN;
	bool cont = false;
	unsigned e = 0;

	pthread_mutex_lock(&s->rc_lock);
	for (unsigned i = 0; i < SL_ARRAY_SIZE(s->rs); i++) {
		if (s->rs[i].ino == ino && s->rs[i].end == off) {
			e = i;
			cont = true;
			break;
		}
		if (s->rs[i].tick < s->rs[e].tick)
			e = i;
	}
	/* Small reads are a stream once they have continued one another
	 * twice: at depth 32, random 4 KiB reads over 1 GiB land right after
	 * a remembered one a few times a second by chance, and each fetched
	 * 6 MiB ahead. */
	if (cont) {
		s->rs[e].runs++;
		stream = stream || s->rs[e].runs >= 2;
	} else {
		s->rs[e].ahead = last->c.idx;   /* a new stream, or none yet */
		s->rs[e].runs = 0;
	}
	s->rs[e].ino = ino;
	s->rs[e].end = off + len;
	s->rs[e].tick = ++s->rc_tick;
	if (stream && s->rs[e].ahead + 1 > from)
		from = s->rs[e].ahead + 1;
	if (stream && to >= from)
		s->rs[e].ahead = to;
	pthread_mutex_unlock(&s->rc_lock);

	for (uint64_t idx = from; stream && idx <= to; idx++) {
		if (fl_queue(s, ino, (uint32_t)idx, true, false))
			continue;
		/* the queue is full: the next read tries again */
		pthread_mutex_lock(&s->rc_lock);
		if (s->rs[e].ino == ino && s->rs[e].ahead == to)
			s->rs[e].ahead = idx - 1;
		pthread_mutex_unlock(&s->rc_lock);
		break;
	}
}

/* Lock held.  Piece p of a chunk with sparse buffer wb (c: its chunk):
 * the blocks wb holds, copied now (they change once the lock is let
 * go); the rest, when wb needs the device for it, read from c and
 * overlaid (fl_piece_overlay), else handed out at once. */
static int fl_piece_sparse(const struct slot_store *s, struct fl_piece *p,
			   const struct sl_wbuf *wb, const struct sl_chunk *c,
			   uint8_t *dst)
{
	uint32_t bs = s->sb.block_size, n = p->b - p->a;
	uint32_t nblk = (p->b - 1) / bs - p->a / bs + 1;
	/* zeros where wb holds nothing: past its length, a hole */
	p->copy = calloc(1, n);
	p->spans = calloc(nblk, sizeof(*p->spans));
	if (!p->copy || !p->spans)
		return -ENOMEM;
	uint32_t e = SL_MIN(p->b, SL_MAX(wb->len, p->a));
	bool dev = e > p->a && fl_wbs_copy(s, wb, p->a, e, p->copy, p->spans,
					   &p->nspans);
	if (dev && c) {
		p->c = *c;
		p->have = true;
		p->ovl = true;
		return 0;
	}
	fl_piece_out(p, dst, p->copy, n);
	p->buffered = true;
	return 0;
}

/* After the device's bytes of p are out (to dst, or noted in src): the
 * sparse buffer's blocks over them. */
static int fl_piece_overlay(struct fl_piece *p, uint8_t *dst)
{
	uint32_t n = p->b - p->a;
	uint8_t *out = dst;
	if (!out) {
		/* handed out: a copy of its own, as src may be the cache's */
		out = malloc(n);
		if (!out)
			return -ENOMEM;
		if (p->nsrc)
			memcpy(out, p->src, p->nsrc);
		memset(out + p->nsrc, 0, n - p->nsrc);
	}
	for (uint32_t i = 0; i < p->nspans; i++)
		memcpy(out + p->spans[i].at, p->copy + p->spans[i].at,
		       p->spans[i].len);
	if (!dst) {
		free(p->copy);
		p->copy = out;
		p->src = out;
		p->nsrc = n;
	}
	return 0;
}

/*
 * One read of slot_file_read (buf: the bytes are copied there) or of
 * slot_file_read_iov and slot_file_read_many (buf NULL: they are handed to
 * fn where they lie), in steps: fl_rd_begin finds the pieces and the
 * device reads they need, fl_rd_run sends those (one read's or a whole
 * batch's at once), fl_rd_end checks what came back, all under
 * reuse_lock; then fl_rd_finish hands the bytes out.
 */
struct fl_rd {
	slot_ino_t ino;
	uint64_t off;
	size_t len;             /* cut to the file's size by begin */
	uint8_t *buf;
	struct fl_piece *ps;
	size_t np;
	struct slot_io *ios;
	size_t nio;
	int err;
};

/* wait: for a chunk another read is loading into the cache; a batch must
 * not, as the load may be its own, and reads the chunk itself instead */
static void fl_rd_begin(struct slot_store *s, struct fl_rd *rd, bool wait)
{
	uint32_t bs = s->sb.block_size;
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	uint64_t off = rd->off;
	size_t len = rd->len;
	uint8_t *buf = rd->buf;
	int err = 0;
	sl_lock(s);
	struct sl_obj *o = fl_file(s, rd->ino, &err);
	/* a damaged size past the largest file reads no further */
	uint64_t size = o ? SL_MIN(o->size, sl_file_max(s)) : 0;
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
		if (!ps)
			err = -ENOMEM;
		for (size_t i = 0; ps && i < np; i++)
			ps[i].pin = ps[i].rc_slot = -1;
		for (size_t i = 0; !err && i < np; i++) {
			uint64_t ci = first + i;
			struct fl_piece *p = &ps[i];
			p->cstart = ci * chunk;
			uint64_t a = SL_MAX(off, p->cstart);
			uint64_t b = SL_MIN(off + len, p->cstart + chunk);
			p->a = (uint32_t)(a - p->cstart);
			p->b = (uint32_t)(b - p->cstart);
			struct sl_chunk *c = sl_obj_chunk(o, (uint32_t)ci);
			struct sl_wbuf *wb = fl_wb_find(s, o, (uint32_t)ci);
			if (wb && !wb->buf) {
				err = fl_piece_sparse(s, p, wb, c, buf ?
						      buf + (a - off) : NULL);
			} else if (wb) {
				/* newer than any slot: copy it now (it
				 * changes once the lock is let go); past
				 * what it holds is a hole */
				uint32_t have = p->a < wb->len ?
					SL_MIN(p->b, wb->len) - p->a : 0;
				const uint8_t *src = wb->buf + bs + p->a;
				if (!buf && have) {
					p->copy = malloc(have);
					if (!p->copy) {
						err = -ENOMEM;
						break;
					}
					src = memcpy(p->copy, src, have);
				}
				fl_piece_out(p, buf ? buf + (a - off) : NULL,
					     src, have);
				p->buffered = true;
			} else if (c) {
				p->c = *c;
				p->have = true;
			}
		}
	}
	sl_unlock(s);
	rd->len = len;
	rd->ps = ps;
	rd->np = np;
	rd->err = err;
	if (err || !len)
		return;

	/* chunks read whole a moment ago or being read; those this read
	 * reads whole are claimed, so the read-ahead does not read them too */
	for (size_t i = 0; i < np; i++) {
		struct fl_piece *p = &ps[i];
		if (p->have && !p->buffered && p->c.len > FL_RC_MIN)
			fl_rc_get(s, rd->ino, p, buf ? buf + (p->cstart + p->a -
				  off) : NULL, fl_whole(p), wait);
	}
	struct fl_piece *lastp = &ps[np - 1];
	if (lastp->have && lastp->c.len > FL_RC_MIN)
		fl_read_ahead(s, rd->ino, off, len, lastp, size);

	/* a device read for every chunk the read needs from the device */
	struct slot_io *ios = calloc(np, sizeof(*ios));
	size_t nio = 0;
	if (!ios)
		err = -ENOMEM;
	for (size_t i = 0; !err && i < np; i++) {
		struct fl_piece *p = &ps[i];
		if (!p->have || p->a >= p->c.len || p->buffered)
			continue;
		if (fl_bad_has(s, rd->ino, &p->c)) {
			err = -EIO;
			break;
		}
		uint32_t b = SL_MIN(p->b, p->c.len);
		/* Read the whole slot and verify it when the read wants all
		 * of it, when it is small, or when the read is big enough to
		 * be streaming; a small read inside a big chunk reads just
		 * its blocks (fsck verifies those). */
		p->verify = fl_whole(p) || p->c.len <= FL_RC_MIN;
		/* a small chunk whose checksum the index knows: its payload
		 * alone (big ones go to the cache, header and all) */
		p->bare = p->verify && p->c.len <= FL_RC_MIN && p->c.csum;
		uint64_t soff = sl_slot_off(s, p->c.slot);
		uint64_t from, to;
		if (p->verify) {
			p->boff = p->bare ? 0 : bs;
			from = soff + bs - p->boff;
			to = soff + bs + SL_ALIGN_UP(p->c.len ? p->c.len : 1, bs);
		} else {
			from = soff + bs + p->a / bs * bs;
			to = soff + bs + SL_ALIGN_UP((uint64_t)b, bs);
			p->boff = p->a % bs;
		}
		p->bounce = sl_buf_get(s, to - from);
		p->blen = (size_t)(to - from);
		if (!p->bounce) {
			err = -ENOMEM;
			break;
		}
		ios[nio].buf = p->bounce;
		ios[nio].off = from;
		ios[nio].len = (uint32_t)(to - from);
		nio++;
	}
	rd->ios = ios;
	rd->nio = err ? 0 : nio;
	rd->err = err;
}

/* The reader gets EIO; the log says which file, as the kernel's log
 * names the device and sector of a failed request. */
static void fl_read_failed(struct slot_store *s, slot_ino_t ino, int err)
{
	if (err != -ENOMEM)
		sl_log(s, "inode %llu: a device read failed: %s",
		       (unsigned long long)ino, slot_strerror(err));
}

/* What the device sent back, checked and put where it goes; every claim
 * ends here, or its waiters wait forever.  Each request's own res tells
 * (a batch may fail for another read's request); io_err, the batch's
 * error, stands for a request it left unsent. */
static void fl_rd_end(struct slot_store *s, struct fl_rd *rd, int io_err)
{
	uint32_t bs = s->sb.block_size;
	int err = rd->err;
	for (size_t k = 0; !err && k < rd->nio; k++)
		if (rd->ios[k].res < 0)
			err = rd->ios[k].res;
		else if (rd->ios[k].res != (int32_t)rd->ios[k].len)
			err = io_err ? io_err : -EIO;
	if (err && !rd->err)
		fl_read_failed(s, rd->ino, err);
	for (size_t i = 0; !err && i < rd->np; i++) {
		struct fl_piece *p = &rd->ps[i];
		uint8_t *dst = rd->buf ? rd->buf + (p->cstart + p->a - rd->off)
				       : NULL;
		if (p->buffered)
			continue;
		if (!p->bounce) {
			fl_piece_out(p, dst, NULL, 0);
			continue;
		}
		if (p->bare) {
			if (sl_csum(p->bounce, p->c.len) != p->c.csum)
				err = sl_slot_reread(s, &p->c, rd->ino,
						     p->bounce);
		} else if (p->verify) {
			struct sl_slot_hdr h;
			err = sl_slot_check(s, p->bounce, p->bounce + bs,
					    &p->c, rd->ino, &h);
			if (err)
				sl_csum_error(s);
			/* unknown (a 1.0 checkpoint): the next read is bare */
			if (!err && !p->c.csum && p->c.len <= FL_RC_MIN)
				fl_learn_csum(s, rd->ino, &p->c,
					      h.payload_csum);
		}
		if (err) {
			if (err != -EBADMSG) {
				fl_read_failed(s, rd->ino, err);
				break;
			}
			err = -EIO;
			fl_bad_add(s, rd->ino, &p->c);
			sl_log(s, "inode %llu chunk %u: slot header or "
			       "checksum mismatch",
			       (unsigned long long)rd->ino, p->c.idx);
			break;
		}
		fl_piece_out(p, dst, p->bounce + p->boff + (p->verify ? p->a : 0),
			     SL_MIN(p->b, p->c.len) - p->a);
		p->ok = p->verify;
	}
	/* a chunk handed out stays pinned in the cache until fn returns */
	for (size_t i = 0; i < rd->np; i++) {
		struct fl_piece *p = &rd->ps[i];
		if (p->rc_slot < 0)
			continue;
		fl_rc_loaded(s, p->rc_slot, p->ok ? p->bounce : NULL, p->blen,
			     !rd->buf);
		if (p->ok) {
			p->pin = rd->buf ? -1 : p->rc_slot;
			p->bounce = NULL; /* the cache has it now */
		}
	}
	for (size_t i = 0; !err && i < rd->np; i++) {
		struct fl_piece *p = &rd->ps[i];
		if (p->ovl)
			err = fl_piece_overlay(p, rd->buf ? rd->buf +
					       (p->cstart + p->a - rd->off) :
					       NULL);
	}
	free(rd->ios);
	rd->ios = NULL;
	rd->err = err;
}

/* After reuse_lock is let go (what is handed out is in memory now, ours
 * or pinned, and fn may call into the store): fn, then the pieces go. */
static ssize_t fl_rd_finish(struct slot_store *s, struct fl_rd *rd,
			    slot_read_fn fn, void *arg)
{
	ssize_t ret = rd->err ? rd->err : (ssize_t)rd->len;
	if (!rd->err && fn)
		ret = rd->len ? fl_hand_out(s, rd->ps, rd->np, fn, arg)
			      : fn(arg, NULL, 0);
	fl_pieces_free(s, rd->ps, rd->np);
	return ret;
}

/* The requests of rd[0..n) into one array (back: their results out). */
static void fl_rd_gather(struct fl_rd *rd, size_t n, struct slot_io *ios,
			 bool back)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < rd[i].nio; j++, k++) {
			if (back)
				rd[i].ios[j].res = ios[k].res;
			else
				ios[k] = rd[i].ios[j];
		}
}

/*
 * Reads rd[0..n) up to fl_rd_finish: every device read they need goes out
 * in one submission, so the engine sees a batch's depth where one read at
 * a time would leave it at depth 1.
 */
static void fl_rd_run(struct slot_store *s, struct fl_rd *rd, size_t n,
		      bool wait)
{
	struct slot_io *ios = NULL;
	size_t nio = 0, nwith = 0;
	int err = 0;
	pthread_rwlock_rdlock(&s->reuse_lock);
	for (size_t i = 0; i < n; i++) {
		fl_rd_begin(s, &rd[i], wait);
		if (rd[i].nio) {
			ios = rd[i].ios;
			nwith++;
		}
		nio += rd[i].nio;
	}
	/* one read's requests go as they are; a batch's are gathered */
	bool gather = nwith > 1;
	if (gather) {
		ios = calloc(nio, sizeof(*ios));
		if (ios)
			fl_rd_gather(rd, n, ios, false);
		else
			err = -ENOMEM;
	}
	if (ios) {
		sl_inflight_enter(s, 1);
		err = s->dev->ops->read(s->dev->ctx, ios, nio);
		sl_inflight_exit(s, 1, err == 0);
	}
	if (gather && ios) {
		fl_rd_gather(rd, n, ios, true);
		free(ios);
	}
	for (size_t i = 0; i < n; i++)
		fl_rd_end(s, &rd[i], err);
	pthread_rwlock_unlock(&s->reuse_lock);
}

static ssize_t fl_read(struct slot_store *s, slot_ino_t ino, uint64_t off,
		       size_t len, uint8_t *buf, slot_read_fn fn, void *arg)
{
	struct fl_rd rd = { .ino = ino, .off = off, .len = len, .buf = buf };
	fl_rd_run(s, &rd, 1, true);
	return fl_rd_finish(s, &rd, fn, arg);
}

ssize_t slot_file_read(struct slot_store *s, slot_ino_t ino, uint64_t off,
		       void *buf, size_t len)
{
	return fl_read(s, ino, off, len, buf, NULL, NULL);
}

int slot_file_read_iov(struct slot_store *s, slot_ino_t ino, uint64_t off,
		       size_t len, slot_read_fn fn, void *arg)
{
	return (int)fl_read(s, ino, off, len, NULL, fn, arg);
}

int slot_file_read_many(struct slot_store *s, struct slot_read *rs, size_t n)
{
	struct fl_rd *rd = calloc(n ? n : 1, sizeof(*rd));
	if (!rd)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		rd[i] = (struct fl_rd){ .ino = rs[i].ino, .off = rs[i].off,
					.len = rs[i].len };
	fl_rd_run(s, rd, n, false);
	for (size_t i = 0; i < n; i++)
		rs[i].result = (int)fl_rd_finish(s, &rd[i], rs[i].fn,
						 rs[i].arg);
	free(rd);
	return 0;
}

/*
 * Rewrite chunks [first, first + n) of ino.  For chunk i the new content is
 * the old payload (when keep_old and it exists), cut or zero-extended to
 * lens[i], with data overlaid at [da[i], da[i] + dl[i]).  Callers hold the
 * file's stripe and the chunks' locks.  Returns 0 or a negative errno.
 */
struct fl_change {
	uint32_t idx;
	uint32_t new_len;
	uint32_t da, dl;        /* data overlay within the chunk */
	const uint8_t *data;
	struct sl_chunk old;
	bool have_old, need_old;
	bool reserved;          /* a slot is held for it (write buffer) */
	uint64_t reserve;
	uint8_t *own_buf;       /* a write buffer that already holds the
				   slot image: written as it is */
	const struct sl_wbuf *wb;       /* the buffer going out (a sparse
					   one's blocks go over the old
					   bytes): dropped by the time of
					   the commit, nothing is kept */
	struct sl_ext *ext;     /* not a buffer's: it extends the file */
	bool move;              /* a copy: it lands only if the chunk is
				   still the one read (a truncation or a
				   hole may have taken it meanwhile) */
	bool unlocked;          /* ... made without the chunk's lock
				   (compaction): see SL_OBJ_MOVING */
};

/* One file's part of a batched rewrite. */
struct fl_job {
	slot_ino_t ino;
	struct fl_change *ch;
	size_t n;
	uint64_t new_size;
	bool set_size;
	int err;                /* out: this file's result */
	struct sl_obj *o;       /* private to fl_rewrite_many */
	uint64_t old_size;
	uint64_t safe;          /* the size a crash could show before */
	bool keep_times;        /* a copy, not a change of the file's */
};

/* Lock held.  The entries (ext.c) of J's chunks that take the file past
 * what a crash could show; a buffer's has its own.  -ENOMEM: none. */
static int fl_ext_begin(struct slot_store *s, struct fl_job *J)
{
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	for (size_t i = 0; !J->set_size && i < J->n; i++) {
		struct fl_change *c = &J->ch[i];
		if (c->wb || (uint64_t)c->idx * chunk + c->new_len <= J->safe)
			continue;
		c->ext = sl_ext_add(s, J->o, c->idx, J->safe);
		if (!c->ext)
			return -ENOMEM;
	}
	return 0;
}

/* Lock held.  ... and their writes completed, or not (the entries go). */
static void fl_ext_end(struct slot_store *s, struct fl_job *J, bool ok)
{
	for (size_t i = 0; i < J->n; i++)
		if (J->ch[i].ext) {
			sl_ext_done(s, J->ch[i].ext, ok);
			J->ch[i].ext = NULL;
		}
}

/* Lock held.  Whether o's chunk is still the one ch read. */
static bool fl_chunk_same(struct sl_obj *o, const struct fl_change *ch)
{
	const struct sl_chunk *c = sl_obj_chunk(o, ch->idx);
	return ch->have_old && c && c->slot == ch->old.slot &&
	       c->gen == ch->old.gen;
}

/* reuse_lock held.  The old payloads of the changes that keep some of
 * theirs, read in one submission (a write-out of many chunks waits for
 * the device once), checked, and put in their new slots' payloads. */
static int fl_olds_read(struct slot_store *s, struct fl_change **cx,
			struct sl_wslot *w, size_t n)
{
	uint32_t bs = s->sb.block_size;
	struct sl_slot_rd *r = calloc(n, sizeof(*r));
	size_t m = 0;
	if (!r)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++) {
		const struct fl_change *c = cx[k];
		if (c->have_old && c->need_old && c->old.len)
			r[m++] = (struct sl_slot_rd){
				.c = &c->old, .oid = w[k].o->oid,
				.out = w[k].buf + bs,
				.len = SL_MIN(c->old.len, c->new_len) };
	}
	int err = 0;
	if (m) {
		sl_inflight_enter(s, 1);
		err = sl_slots_read_verify(s, r, m);
		sl_inflight_exit(s, 1, err == 0);
	}
	free(r);
	return err == -EBADMSG ? -EIO : err;
}

/*
 * fl_rewrite for several files at once (distinct inos, each with its
 * stripe and chunk locks held, but for a compaction's copy: see
 * SL_OBJ_MOVING), so that their slots share one allocation
 * and one submission: small files closed one after another go out
 * together.  Slots are allocated for all or none; each job's err says
 * how its commit went.  Returns the first error.
 */
static int fl_rewrite_many(struct slot_store *s, struct fl_job *jb, size_t nj)
{
	uint32_t bs = s->sb.block_size;
	size_t n = 0;
	for (size_t j = 0; j < nj; j++) {
		jb[j].err = 0;
		n += jb[j].n;
	}
	struct sl_wslot *w = calloc(n, sizeof(*w));
	struct fl_change **cx = calloc(n, sizeof(*cx));
	uint32_t *nr = calloc(sl_new_regions_max(s, n), sizeof(*nr));
	bool *took = calloc(n, sizeof(*took));
	size_t nnew = 0;
	int err = 0;
	if (!w || !cx || !nr || !took) {
		free(w);
		free(cx);
		free(nr);
		free(took);
		for (size_t j = 0; j < nj; j++)
			jb[j].err = -ENOMEM;
		return -ENOMEM;
	}
	for (size_t j = 0, k = 0; j < nj; j++)
		for (size_t i = 0; i < jb[j].n; i++)
			cx[k++] = &jb[j].ch[i];
	for (size_t k = 0; k < n; k++) {
		w[k].idx = cx[k]->idx;
		w[k].len = cx[k]->new_len;
		if (cx[k]->own_buf) {
			w[k].buf = cx[k]->own_buf;
			continue;
		}
		w[k].buf = sl_wslot_buf(s, cx[k]->new_len);
		if (!w[k].buf)
			err = -ENOMEM;
		else	/* holes and the tail past new_len read as zeros */
			memset(w[k].buf + bs, 0,
			       SL_ALIGN_UP(cx[k]->new_len ? cx[k]->new_len : 1,
					   bs));
	}
	struct sl_txn txn;
	bool allocated = false;
	for (int attempt = 0; !err && attempt < 2; attempt++) {
		sl_lock(s);
		/* every file first, so that a missing one changes nothing */
		for (size_t j = 0; !err && j < nj; j++)
			jb[j].o = fl_file(s, jb[j].ino, &err);
		/* a compaction copy waits for no write of its file, and no
		 * write for it (sl_wslots_alloc) */
		for (size_t j = 0; !err && j < nj; j++) {
			if (jb[j].o->flags & SL_OBJ_MOVING)
				err = -EAGAIN;
			else if (jb[j].ch[0].unlocked && jb[j].o->busy)
				err = -EBUSY;
		}
		for (size_t j = 0, k = 0; !err && j < nj; j++) {
			struct fl_job *J = &jb[j];
			struct sl_obj *o = J->o;
			for (size_t i = 0; i < J->n; i++, k++) {
				struct sl_chunk *c = sl_obj_chunk(o, J->ch[i].idx);
				J->ch[i].have_old = c != NULL;
				if (c)
					J->ch[i].old = *c;
				w[k].o = o;
			}
			J->old_size = o->size;
			J->safe = sl_ext_size(s, o, -1, false);
			if (J->set_size)
				o->size = J->new_size;
			else if (J->new_size > o->size)
				o->size = J->new_size;
			/* a buffer going out is not a new write: its time was
			 * set when it was written, and a utimens since wins */
			if (!J->ch[0].wb && !J->keep_times)
				o->mtime = o->ctime = sl_now_ns();
		}
		bool bumped = !err;
		for (size_t j = 0; !err && j < nj; j++)
			err = fl_ext_begin(s, &jb[j]);
		if (!err) {
			/* a reservation is given up for a slot that fits,
			 * and taken back when nothing else is left */
			for (size_t k = 0; k < n; k++) {
				w[k].preset = false;
				if (cx[k]->reserved)
					sl_slot_unclaim(s, cx[k]->reserve);
				/* a first write spends what fallocate set
				 * aside (a buffer's spent it when made) */
				took[k] = sl_resv_take(s, w[k].o, cx[k]->idx);
			}
			err = sl_wslots_alloc(s, w, n, &txn, nr, &nnew);
			bool retaken = false;
			if (err == -ENOSPC) {
				for (size_t k = 0; k < n; k++) {
					if (!cx[k]->reserved ||
					    sl_slot_claim(s, cx[k]->reserve))
						continue;
					w[k].preset = true;
					w[k].ref = cx[k]->reserve;
					retaken = true;
				}
				/* the first time short they are only held
				 * again: a region emptied meanwhile
				 * (sl_alloc_retry) may give slots that fit,
				 * where a reservation (a chunk's slot) is
				 * larger than a small file's bytes */
				if (retaken && attempt)
					err = sl_wslots_alloc(s, w, n, &txn,
							      nr, &nnew);
			}
			/* spent on success; still held (retaken) on failure */
			for (size_t k = 0; k < n; k++) {
				if (!err || !w[k].preset)
					cx[k]->reserved = false;
				if (err && took[k])
					sl_resv_give_back(s, w[k].o,
							  cx[k]->idx);
				took[k] = false;
			}
			allocated = !err;
		}
		for (size_t j = 0; allocated && j < nj; j++)
			if (jb[j].ch[0].unlocked)
				jb[j].o->flags |= SL_OBJ_MOVING;
		/* backwards: the first size is the one to restore */
		for (size_t j = nj; err && bumped && j-- > 0;) {
			jb[j].o->size = jb[j].old_size;
			fl_ext_end(s, &jb[j], false);
		}
		if (err == -EAGAIN) {
			sl_move_wait(s);
			sl_unlock(s);
			err = 0;
			attempt--;      /* a copy landed: not a try */
			continue;
		}
		sl_unlock(s);
		if (err != -ENOSPC || attempt)
			break;
		/* freed slots wait for a flush or checkpoint, and a region
		 * may be emptied: make room, then try once more (and with
		 * no room made, spend the reservations held) */
		int rr = sl_alloc_retry(s);
		if (rr && rr != -ENOSPC)
			break;
		err = 0;
	}
	if (!err && nnew)
		err = sl_regions_write(s, nr, nnew);

	/* old payloads for partial overwrites, then the new data */
	pthread_rwlock_rdlock(&s->reuse_lock);
	if (!err)
		err = fl_olds_read(s, cx, w, n);
	for (size_t k = 0; !err && k < n; k++) {
		uint8_t *pl = w[k].buf + bs;
		struct fl_change *c = cx[k];
		if (c->dl && !c->own_buf)
			memcpy(pl + c->da, c->data, c->dl);
		else if (c->wb && !c->own_buf)
			fl_wbs_apply(s, c->wb, pl);
	}
	pthread_rwlock_unlock(&s->reuse_lock);
	if (!err)
		err = sl_wslots_write(s, w, n);

	if (allocated) {
		sl_lock(s);
		for (size_t j = 0, k0 = 0; j < nj; k0 += jb[j].n, j++) {
			struct fl_job *J = &jb[j];
			struct sl_obj *o = J->o;
			struct sl_wslot *wj = &w[k0];
			int e = err;
			for (size_t i = 0; i < J->n; i++) {
				if (e) {
					sl_slot_free(s, wj[i].ref);
					continue;
				}
				/* the object was put anew or died meanwhile;
				 * the slot landed with a header naming it, so
				 * as after a failure only a checkpoint
				 * outdates it */
				if (J->ch[i].wb && J->ch[i].wb->dropped) {
					sl_slot_free(s, wj[i].ref);
					sl_ns_dirty(s);
					continue;
				}
				/* the chunk copied went meanwhile (a truncation,
				 * a hole: they wait for no copy): the copy's
				 * header is newer than what the index keeps,
				 * so only a checkpoint outdates it (the
				 * file's fsync takes one) */
				if (J->ch[i].move &&
				    !fl_chunk_same(o, &J->ch[i])) {
					sl_slot_free(s, wj[i].ref);
					o->flags |= SL_OBJ_ATTR_DIRTY |
						    SL_OBJ_CKPT_OWED;
					sl_ns_dirty(s);
					continue;
				}
				struct sl_chunk nc = { .slot = wj[i].ref,
						       .gen = wj[i].hdr.gen,
						       .csum = wj[i].hdr.payload_csum,
						       .idx = wj[i].idx,
						       .len = wj[i].len };
				struct sl_chunk old;
				bool had;
				if (sl_obj_set_chunk(o, &nc, &old, &had)) {
					sl_slot_free(s, wj[i].ref);
					e = -ENOMEM;
					continue;
				}
				if (had)
					sl_slot_free(s, old.slot);
			}
			fl_ext_end(s, J, e == 0);
			if (e) {
				if (o->size == J->new_size && !J->set_size)
					o->size = J->old_size;
				/* slots of this batch that did land carry
				 * newer headers than what the index kept, and
				 * a later header write of the file does not
				 * outdate them: only a checkpoint makes the
				 * undo durable */
				o->flags |= SL_OBJ_ATTR_DIRTY | SL_OBJ_CKPT_OWED;
				sl_ns_dirty(s);
			} else if (!(J->ch[0].wb && J->ch[0].wb->dropped) &&
				   sl_hdr_names(o, &wj[0].hdr)) {
				o->flags |= SL_OBJ_NAMED;
			}
			sl_owed_check(s, o);
			o->busy -= (uint32_t)J->n;
			if (J->ch[0].unlocked) {
				o->flags &= (uint16_t)~SL_OBJ_MOVING;
				pthread_cond_broadcast(&s->move_cond);
			}
			J->err = e;
			if (e && !err)
				err = e;
		}
		sl_dirty(s);
		sl_wslots_done(s, &txn, n, err == 0);
		for (size_t j = 0; j < nj; j++)
			sl_obj_release_if_dead(s, jb[j].o);
		sl_unlock(s);
	}
	for (size_t j = 0; !allocated && j < nj; j++)
		jb[j].err = err;
	for (size_t k = 0; k < n; k++)
		if (!cx[k]->own_buf)
			sl_buf_put(s, w[k].buf);
	free(w);
	free(cx);
	free(nr);
	free(took);
	return err;
}

/* keep_times: a copy (a repair, fsync's rewrite), not a change of the
 * file's, leaves its mtime and ctime */
static int fl_rewrite(struct slot_store *s, slot_ino_t ino,
		      struct fl_change *ch, size_t n, uint64_t new_size,
		      bool set_size, bool keep_times)
{
	struct fl_job j = { .ino = ino, .ch = ch, .n = n,
			    .new_size = new_size, .set_size = set_size,
			    .keep_times = keep_times };
	return fl_rewrite_many(s, &j, 1);
}

/* ------------------------------------------------------------------ */
/* Write buffers                                                       */
/* ------------------------------------------------------------------ */

/* A buffer's memory, and the buffer. */
void sl_wb_free_mem(struct slot_store *s, struct sl_wbuf *b)
{
	sl_buf_put(s, b->buf);
	for (uint32_t i = 0; i < b->npg; i++)
		fl_blk_put(s, b->pg[i].p);
	s->wbs_blocks -= b->npg;
	free(b->pg);
	free(b);
}

/* Lock held.  Give back what b holds (its extension, its reservation,
 * its memory) and free it. */
static void fl_wb_release(struct slot_store *s, struct sl_wbuf *b)
{
	if (b->ext)
		sl_ext_drop(s, b->ext);
	if (b->reserved)
		sl_slot_unclaim(s, b->reserve);
	if (b->queued)
		s->wbs_queued--;
	sl_wb_free_mem(s, b);
}

/* Lock held.  Unhook b from o and free it, giving back its reservation;
 * one being written out is freed by the write-out (fl_wb_flush). */
static void fl_wb_free(struct slot_store *s, struct sl_obj *o,
		       struct sl_wbuf *b)
{
	struct sl_wbuf **pp = &o->wb;
	while (*pp && *pp != b)
		pp = &(*pp)->next;
	if (*pp)
		*pp = b->next;
	pp = &s->wb_hash[fl_wb_bucket(b->oid, b->idx)];
	while (*pp && *pp != b)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = b->hnext;
	(*fl_wb_tally(s, !b->buf))--;
	for (uint32_t i = 0; !o->wb && i < s->nwb_files; i++)
		if (s->wb_files[i] == o->oid) {
			s->wb_files[i] = s->wb_files[--s->nwb_files];
			break;
		}
	if (b->flushing) {
		b->dropped = true;
		return;
	}
	fl_wb_release(s, b);
}

void sl_wb_drop_all(struct slot_store *s, struct sl_obj *o)
{
	while (o->wb)
		fl_wb_free(s, o, o->wb);
}

/* Lock held.  Whether o may have one more full write buffer. */
static bool fl_wb_room(const struct slot_store *s, const struct sl_obj *o)
{
	unsigned n = 0;
	for (const struct sl_wbuf *b = o->wb; b && n < FL_WB_PER_FILE;
	     b = b->next)
		n += b->buf != NULL;
	return n < FL_WB_PER_FILE && s->wb_count < SL_WB_TOTAL;
}

/* Lock held.  Whether a write of [da, da + dl) to chunk idx of o, which
 * has no buffer, makes a sparse one: when a full one would read the
 * chunk first, or none is to be had, while sparse ones have room (and
 * space for their slots). */
static bool fl_wb_sparse(const struct slot_store *s, struct sl_obj *o,
			 uint32_t idx, uint32_t da, uint32_t dl)
{
	const struct sl_chunk *c = sl_obj_chunk(o, idx);
	if (!((c && c->len) || !fl_wb_room(s, o)) ||
	    s->wbs_count >= SL_WBS_MAX)
		return false;
	return s->wbs_blocks + fl_wbs_adds(s, NULL, da, dl) <=
	       FL_WBS_HARD(s) && !sl_alloc_tight(s);
}

/* Lock held.  Sparse buffers past FL_WBS_SOFT: hand the fullest to the
 * flushers (the writers go on; one of them at SL_WBS_BYTES writes
 * through).  Each write-out rewrites a chunk for all its blocks.  With
 * jnl (an fsync that logged WRITE records), first those whose records
 * are older than the journal's span (sl_jnl_span): a checkpoint frees
 * no journal slot from theirs on till they are out. */
static void fl_wbs_make_room(struct slot_store *s, bool jnl)
{
	/* 1 + the lsn below which a buffer's WRITE records are too old */
	size_t span = jnl ? sl_jnl_span(s) : 0;
	uint64_t old = span && s->jnl_lsn > span ? s->jnl_lsn - span + 1 : 0;
	while ((old || s->wbs_blocks > FL_WBS_SOFT(s)) &&
	       s->wbs_queued < FL_WBS_QUEUED) {
		struct sl_wbuf *v = NULL;
		for (uint32_t i = 0; i < s->nwb_files; i++) {
			struct sl_obj *o = sl_obj_find(&s->ix, s->wb_files[i]);
			for (struct sl_wbuf *b = o ? o->wb : NULL; b;
			     b = b->next) {
				if (b->buf || b->flushing || b->queued ||
				    (old && (!b->jlsn || b->jlsn >= old)))
					continue;
				if (!v || (old ? b->jlsn < v->jlsn :
					   b->npg > v->npg))
					v = b;
			}
		}
		if (!v && old) {
			old = 0;        /* none: the fullest, if need be */
			continue;
		}
		if (!v || !fl_queue(s, v->oid, v->idx, false, false))
			return;
		v->queued = true;
		s->wbs_queued++;
	}
}

/* Lock held.  Hook b, chunk b->idx's buffer, on o and in the store's
 * hash (made at the first buffer: most stores are never written). */
static int fl_wb_hook(struct slot_store *s, struct sl_obj *o,
		      struct sl_wbuf *b)
{
	if (!s->wb_hash) {
		s->wb_hash = calloc(SL_WB_HASH, sizeof(*s->wb_hash));
		s->wb_files = calloc(SL_WB_TOTAL + SL_WBS_MAX,
				     sizeof(*s->wb_files));
		if (!s->wb_hash || !s->wb_files) {
			free(s->wb_hash);
			free(s->wb_files);
			s->wb_hash = NULL;
			s->wb_files = NULL;
			return -ENOMEM;
		}
	}
	/* no more files than buffers (fl_wb_room, fl_wb_sparse and
	 * fl_jnl_hold count its place first) */
	if (!o->wb)
		s->wb_files[s->nwb_files++] = o->oid;
	b->next = o->wb;
	o->wb = b;
	unsigned h = fl_wb_bucket(b->oid, b->idx);
	b->hnext = s->wb_hash[h];
	s->wb_hash[h] = b;
	return 0;
}

/* A buffer for chunk idx, for a write of [da, da + dl): when fill (the
 * write leaves some of the chunk), a sparse one (fl_wb_sparse) or one
 * filled with the chunk's bytes on the device.  It sets aside a slot for
 * its write-out: a chunk's, or, for a sparse one or when space is tight,
 * one of the class its bytes need (a write past that class writes the
 * buffer out and makes a new one, slot_file_write).  The chunk's lock is
 * held.  Returns -ENOSPC when nothing can be reserved, -EAGAIN when
 * buffers are all taken (the caller then writes through). */
static int fl_wb_make(struct slot_store *s, slot_ino_t ino, uint32_t idx,
		      bool fill, uint32_t da, uint32_t dl)
{
	uint32_t bs = s->sb.block_size;
	uint32_t chunk = 1u << s->sb.chunk_shift;
	struct sl_wbuf *b = calloc(1, sizeof(*b));
	uint32_t *nr = calloc(sl_new_regions_max(s, 1), sizeof(*nr));
	int err = (b && nr) ? 0 : -ENOMEM;
	if (!err) {
		b->oid = ino;
		b->idx = idx;
	}
	size_t nnew = 0;
	struct sl_chunk old = { 0 };
	bool have_old = false, placed = false, sparse = false;
	for (int attempt = 0; !err && attempt < 2; attempt++) {
		sl_lock(s);
		struct sl_obj *o = fl_file(s, ino, &err);
		if (o && !placed) {
			sparse = fill && fl_wb_sparse(s, o, idx, da, dl);
			if (!sparse && !fl_wb_room(s, o))
				err = -EAGAIN;
		}
		/* the place is taken now, not when the buffer is hooked on
		 * below: the lock goes meanwhile, and another maker would
		 * find it free (SL_WB_TOTAL and SL_WBS_MAX bound wb_files) */
		if (!err && !placed) {
			(*fl_wb_tally(s, sparse))++;
			placed = true;
		}
		if (!err) {
			/* its first write spends what fallocate set aside */
			bool took = sl_resv_take(s, o, idx);
			unsigned cls = s->ncls - 1;
			struct sl_chunk *c = sl_obj_chunk(o, idx);
			/* a sparse one sets aside what its bytes need, so
			 * that many of them on a small store leave room */
			if (!took && (sparse || sl_alloc_tight(s)))
				cls = sl_class_for(s, SL_MAX(da + dl, fill && c ?
							     c->len : 0));
			err = sl_slots_alloc(s, &cls, 1, &b->reserve, nr, &nnew);
			if (err && took)
				sl_resv_give_back(s, o, idx);
		}
		if (!err) {
			b->reserved = true;
			struct sl_chunk *c = sl_obj_chunk(o, idx);
			if (c) {
				old = *c;
				have_old = true;
			}
		}
		sl_unlock(s);
		/* no compaction for a buffer's reservation of a whole
		 * chunk: short of one, the write goes through, taking
		 * the slot its bytes need (which may compact) */
		if (err != -ENOSPC || attempt || sl_reclaim(s))
			break;
		err = 0;
	}
	if (!err && !sparse) {
		b->buf = sl_wslot_buf(s, chunk);
		if (!b->buf)
			err = -ENOMEM;
		/* not zeroed: only [0, len) is ever read; a write past len
		 * zeroes the gap, and a write-out zeroes the tail block */
	}
	if (!err && nnew)
		err = sl_regions_write(s, nr, nnew);
	if (!err && !sparse && fill && have_old && old.len) {
		pthread_rwlock_rdlock(&s->reuse_lock);
		/* where the chunk is now, under reuse_lock as every reader
		 * looks: a compaction copy, which takes no chunk lock, may
		 * have moved it and freed the slot seen above */
		sl_lock(s);
		struct sl_obj *o = sl_obj_find(&s->ix, ino);
		struct sl_chunk *c = o ? sl_obj_chunk(o, idx) : NULL;
		if (c)
			old = *c;
		sl_unlock(s);
		sl_inflight_enter(s, 1);
		err = sl_slot_read_verify(s, &old, ino, b->buf + bs);
		sl_inflight_exit(s, 1, err == 0);
		pthread_rwlock_unlock(&s->reuse_lock);
		if (err == -EBADMSG)
			err = -EIO;
	}
	sl_lock(s);
	struct sl_obj *o = sl_obj_find(&s->ix, ino);
	if (!err && (!o || fl_wb_find(s, o, idx)))
		err = -EAGAIN; /* cannot happen: the chunk lock is ours */
	if (!err) {
		/* a sparse buffer's base is the chunk's length: a truncation
		 * or a hole, which would change it, writes buffers out first */
		b->len = fill && have_old ? old.len : 0;
		b->base = sparse ? b->len : 0;
		b->born = sl_mono_ns();
		err = fl_wb_hook(s, o, b);
	}
	if (!err) {
		b = NULL;
	} else {
		if (placed)
			(*fl_wb_tally(s, sparse))--;
		if (b)
			fl_wb_release(s, b);
	}
	sl_unlock(s);
	free(nr);
	return err;
}

/* A write-out of chunk idx's buffer begins: its change, or NULL when
 * there is no buffer.  The chunk lock is held. */
static struct sl_wbuf *fl_wb_begin(struct slot_store *s, slot_ino_t ino,
				   uint32_t idx, struct fl_change *ch)
{
	uint32_t bs = s->sb.block_size;
	memset(ch, 0, sizeof(*ch));
	sl_lock(s);
	struct sl_obj *o = sl_obj_find(&s->ix, ino);
	struct sl_wbuf *b = o ? fl_wb_find(s, o, idx) : NULL;
	if (b && !b->buf) {
		/* sparse: the chunk's bytes on the device, and its blocks */
		ch->idx = idx;
		ch->new_len = b->len;
		ch->need_old = fl_wbs_needs_old(s, b);
		ch->wb = b;
	} else if (b) {
		ch->idx = idx;
		ch->new_len = b->len;
		ch->da = 0;
		ch->dl = b->len;
		ch->data = b->buf + bs; /* stable: writers need our chunk lock */
		/* the block past the end goes to the device: no stale bytes */
		memset(b->buf + bs + b->len, 0,
		       SL_ALIGN_UP(b->len ? b->len : 1, bs) - b->len);
		/* written as it is: the header block is encoded in place */
		ch->own_buf = b->buf;
		ch->wb = b;
	}
	if (b) {
		if (b->queued) {
			b->queued = false;
			s->wbs_queued--;
		}
		/* The file may die (closed and unlinked) or be put anew
		 * while this runs, and drop its buffers: the buffer stays
		 * ours until we are done with it, and the reservation goes
		 * with the write-out, which gives it up for a slot that
		 * fits, so nothing gives it up twice. */
		b->flushing = true;
		ch->reserved = b->reserved;
		ch->reserve = b->reserve;
		b->reserved = false;
	}
	sl_unlock(s);
	return b;
}

/* ... and ends with the write-out's result err; returns what is left of
 * it (0 when the buffer was dropped meanwhile: nothing was due). */
static int fl_wb_end(struct slot_store *s, slot_ino_t ino, struct sl_wbuf *b,
		     const struct fl_change *ch, int err)
{
	sl_lock(s);
	b->flushing = false;
	/* still held after a failure: the buffer keeps it */
	b->reserved = ch->reserved;
	if (b->dropped) {
		fl_wb_release(s, b);
		err = 0;        /* nothing is left to write */
	} else {
		if (!err && b->ext) {
			sl_ext_done(s, b->ext, true);
			b->ext = NULL;
		}
		if (!err)
			fl_wb_free(s, sl_obj_find(&s->ix, ino), b);
	}
	sl_unlock(s);
	return err;
}

#define FL_WB_BATCH 16  /* buffers of a file one write-out takes */

/* Write out the buffers of chunks idx[0, n) of ino (n at most
 * FL_WB_BATCH, their chunk locks held) at once: one allocation, one
 * read of the old bytes they keep, one write.  Returns what is left of
 * an error. */
static int fl_wb_flush_many(struct slot_store *s, slot_ino_t ino,
			    const uint32_t *idx, size_t n)
{
	struct fl_change ch[FL_WB_BATCH];
	struct sl_wbuf *b[FL_WB_BATCH];
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if ((b[m] = fl_wb_begin(s, ino, idx[i], &ch[m])))
			m++;
	if (!m)
		return 0;
	int err = fl_rewrite(s, ino, ch, m, 0, false, false), left = 0;
	for (size_t j = 0; j < m; j++) {
		int e = fl_wb_end(s, ino, b[j], &ch[j], err);
		if (e && !left)
			left = e;
	}
	return left;
}

/* Write out chunk idx's buffer; its chunk lock is held. */
static int fl_wb_flush(struct slot_store *s, slot_ino_t ino, uint32_t idx)
{
	return fl_wb_flush_many(s, ino, &idx, 1);
}

/* Lock held.  The highest chunk number o has a buffer for; -1: none. */
static int64_t fl_wb_top(const struct sl_obj *o)
{
	int64_t top = -1;
	for (const struct sl_wbuf *w = o ? o->wb : NULL; w; w = w->next)
		top = SL_MAX(top, (int64_t)w->idx);
	return top;
}

/* Flush every buffer of ino's chunks [from, to), or all but the last
 * chunk's (hold_last), and but those the journal holds whole (skip_jnl);
 * the caller holds ino's stripe.  *wrote (if given) is set when one went
 * out. */
static int fl_wb_flush_chunks(struct slot_store *s, slot_ino_t ino,
			      uint32_t from, uint32_t to, bool hold_last,
			      bool skip_jnl, bool *wrote)
{
	int err = 0;
	for (;;) {
		uint32_t idx[FL_WB_BATCH];
		size_t n = 0;
		sl_lock(s);
		struct sl_obj *o = sl_obj_find(&s->ix, ino);
		bool any = o && o->wb;
		int64_t top = hold_last && any ? fl_wb_top(o) : -1;
		for (const struct sl_wbuf *w = any ? o->wb : NULL;
		     w && n < FL_WB_BATCH; w = w->next)
			if (w->idx != top && w->idx >= from && w->idx < to &&
			    !(skip_jnl && fl_wbs_all_jnl(w)))
				idx[n++] = w->idx;
		sl_unlock(s);
		if (!any) {
			/* a background write-out of this file that failed */
			sl_lock(s);
			o = sl_obj_find(&s->ix, ino);
			if (o && o->wb_err) {
				err = -(int)o->wb_err;
				o->wb_err = 0;
			}
			sl_unlock(s);
			return err;
		}
		if (!n)
			return 0;       /* the last is held, or none in range */
		/* in file order: the slots go to the device in that order */
		qsort(idx, n, sizeof(*idx), fl_uint_cmp);
		unsigned held[FL_WB_BATCH];
		size_t nh = fl_chunk_list_lock(s, ino, idx, n, held);
		int e = fl_wb_flush_many(s, ino, idx, n);
		fl_chunks_unlock(s, held, nh);
		if (wrote)
			*wrote = true;
		if (e) {
			/* left buffered; report, and do not spin */
			return e;
		}
	}
}

static int fl_wb_flush_file(struct slot_store *s, slot_ino_t ino,
			    bool hold_last, bool skip_jnl, bool *wrote)
{
	return fl_wb_flush_chunks(s, ino, 0, UINT32_MAX, hold_last, skip_jnl,
				  wrote);
}

/* A write-out failed and its buffer stays: fsync reports the error. */
static void fl_wb_keep_err(struct slot_store *s, slot_ino_t ino, int err)
{
	sl_lock(s);
	struct sl_obj *o = sl_obj_find(&s->ix, ino);
	if (o && !o->wb_err)
		o->wb_err = (uint8_t)(-err <= UINT8_MAX ? -err : EIO);
	sl_unlock(s);
}

/*
 * Write out chunk idx's buffer with no lock of the caller's held: a
 * background write-out (flusher, close).  Its error waits on the object
 * for the next fsync, as a disk file system keeps a writeback error.
 */
static void fl_wb_flush_background(struct slot_store *s, slot_ino_t ino,
				   uint32_t idx)
{
	pthread_rwlock_t *stripe = fl_stripe(s, ino);
	pthread_rwlock_rdlock(stripe);
	unsigned held[1];
	size_t nh = fl_chunks_lock(s, ino, idx, 1, held);
	int err = fl_wb_flush(s, ino, idx);
	fl_chunks_unlock(s, held, nh);
	pthread_rwlock_unlock(stripe);
	if (err)
		fl_wb_keep_err(s, ino, err);
}

int sl_file_flush(struct slot_store *s, slot_ino_t ino)
{
	pthread_rwlock_t *stripe = fl_stripe(s, ino);
	pthread_rwlock_rdlock(stripe);
	int err = fl_wb_flush_file(s, ino, false, false, NULL);
	pthread_rwlock_unlock(stripe);
	return err;
}

int sl_file_flush_every(struct slot_store *s, int64_t older_ns)
{
	struct sl_vec v = { 0 };
	int64_t now = sl_mono_ns();
	sl_lock(s);
	for (uint32_t i = 0; i < s->nwb_files; i++) {
		struct sl_obj *o = sl_obj_find(&s->ix, s->wb_files[i]);
		for (struct sl_wbuf *w = o ? o->wb : NULL; w; w = w->next)
			if (!older_ns || now - w->born >= older_ns) {
				sl_vec_push(&v, o->oid);
				break;
			}
	}
	sl_unlock(s);
	int err = 0;
	for (size_t i = 0; i < v.n; i++) {
		int e = sl_file_flush(s, v.v[i]);
		if (e && e != -ENOENT && !err)
			err = e;
	}
	free(v.v);
	return err;
}

/*
 * Write out the buffers of several closed files at once (fl_rewrite_many):
 * one allocation, one submission, one wait.  The first job's locks are
 * taken as usual; the others' only if free at once, as a flusher that
 * holds some stripes must not wait for more.  A job left out, or one
 * whose batch failed (all files shared its ENOSPC or I/O error), goes
 * out alone afterwards, so that each file keeps its own error.
 */
#define FL_BATCH 16

static void fl_wb_flush_batch(struct slot_store *s,
			      const struct sl_fq_job *q, size_t k)
{
	struct fl_job jb[FL_BATCH];
	struct fl_change ch[FL_BATCH];
	struct sl_wbuf *b[FL_BATCH];
	unsigned held[FL_BATCH];
	size_t of[FL_BATCH], nj = 0;
	bool locked[FL_BATCH], alone[FL_BATCH];
	for (size_t i = 0; i < k; i++) {
		pthread_rwlock_t *stripe = fl_stripe(s, q[i].ino);
		pthread_mutex_t *cl;
		held[i] = fl_chunk_stripe(q[i].ino, q[i].idx);
		cl = &s->chunk_locks[held[i]];
		alone[i] = false;
		if (!i) {
			pthread_rwlock_rdlock(stripe);
			pthread_mutex_lock(cl);
			locked[i] = true;
		} else {
			locked[i] = !pthread_rwlock_tryrdlock(stripe);
			if (locked[i] && pthread_mutex_trylock(cl)) {
				pthread_rwlock_unlock(stripe);
				locked[i] = false;
			}
		}
		if (!locked[i]) {
			alone[i] = true;
			continue;
		}
		b[i] = fl_wb_begin(s, q[i].ino, q[i].idx, &ch[i]);
		if (!b[i])
			continue;
		jb[nj] = (struct fl_job){ .ino = q[i].ino, .ch = &ch[i],
					  .n = 1 };
		of[nj++] = i;
	}
	if (nj)
		fl_rewrite_many(s, jb, nj);
	for (size_t j = 0; j < nj; j++) {
		size_t i = of[j];
		alone[i] = fl_wb_end(s, q[i].ino, b[i], &ch[i], jb[j].err) != 0;
	}
	for (size_t i = 0; i < k; i++) {
		if (!locked[i])
			continue;
		pthread_mutex_unlock(&s->chunk_locks[held[i]]);
		pthread_rwlock_unlock(fl_stripe(s, q[i].ino));
	}
	for (size_t i = 0; i < k; i++)
		if (alone[i])
			fl_wb_flush_background(s, q[i].ino, q[i].idx);
}

/*
 * A closed file's write-out waits up to FL_PLUG_NS for others to join it
 * (FL_BATCH of them go at once): creating small files, one write-out
 * per file cost a flusher's wake-up, a submission and a wait each, and
 * the CPU they took was the file system's own time.
 */
#define FL_PLUG_NS 1000000

/* fq_lock held.  Whether the next job in the queue joins q[0, k). */
static bool fl_batch_joins(const struct slot_store *s,
			   const struct sl_fq_job *q, size_t k)
{
	const struct sl_fq_job *n = &s->fq[s->fq_head];
	if (!s->fq_len || k >= FL_BATCH || !q[0].plug || !n->plug)
		return false;
	for (size_t i = 0; i < k; i++)
		if (q[i].ino == n->ino)
			return false;   /* one job per file in a batch */
	return true;
}

static void *fl_flusher(void *arg)
{
	struct slot_store *s = arg;
	pthread_mutex_lock(&s->fq_lock);
	for (;;) {
		while (!s->fq_len && !s->fq_stop)
			pthread_cond_wait(&s->fq_cond, &s->fq_lock);
		if (!s->fq_len)
			break;
		const struct sl_fq_job *h = &s->fq[s->fq_head];
		int64_t due = h->born + FL_PLUG_NS;
		if (h->plug && !s->fq_stop && s->fq_len < FL_BATCH &&
		    sl_mono_ns() < due) {
			struct timespec ts = { .tv_sec = due / 1000000000,
					       .tv_nsec = due % 1000000000 };
			pthread_cond_timedwait(&s->fq_cond, &s->fq_lock, &ts);
			continue;
		}
		struct sl_fq_job q[FL_BATCH];
		size_t k = 0;
		do {
			q[k++] = s->fq[s->fq_head];
			s->fq_head = (s->fq_head + 1) % SL_ARRAY_SIZE(s->fq);
			s->fq_len--;
		} while (fl_batch_joins(s, q, k));
		s->fq_busy += (unsigned)k;
		pthread_mutex_unlock(&s->fq_lock);
		if (q[0].prefetch)
			sl_file_prefetch(s, q[0].ino, q[0].idx);
		else if (k == 1)
			fl_wb_flush_background(s, q[0].ino, q[0].idx);
		else
			fl_wb_flush_batch(s, q, k);
		pthread_mutex_lock(&s->fq_lock);
		s->fq_busy -= (unsigned)k;
	}
	pthread_mutex_unlock(&s->fq_lock);
	return NULL;
}

int sl_flushers_start(struct slot_store *s)
{
	s->fq_stop = false;
	for (unsigned i = 0; i < SL_ARRAY_SIZE(s->flushers); i++) {
		int err = pthread_create(&s->flushers[i], NULL, fl_flusher, s);
		if (err)
			return -err;
		s->nflushers++;
	}
	return 0;
}

void sl_flushers_stop(struct slot_store *s)
{
	if (!s->nflushers)
		return;
	pthread_mutex_lock(&s->fq_lock);
	s->fq_stop = true;
	pthread_cond_broadcast(&s->fq_cond);
	pthread_mutex_unlock(&s->fq_lock);
	for (unsigned i = 0; i < s->nflushers; i++)
		pthread_join(s->flushers[i], NULL);
	s->nflushers = 0;
}

/* fq_lock held.  How many more jobs the flushers take now.  Read-ahead
 * takes only the first half, so it never crowds out a write-out. */
static unsigned fl_queue_room(const struct slot_store *s, bool prefetch)
{
	unsigned cap = SL_ARRAY_SIZE(s->fq) / (prefetch ? 2 : 1);
	return s->nflushers && !s->fq_stop && s->fq_len < cap ?
	       cap - s->fq_len : 0;
}

/* Hand a job to the flushers; false when the queue is full.  A
 * closed file's write-out (plug) wakes a flusher only to start the wait
 * for company, or when the company is complete. */
static bool fl_queue(struct slot_store *s, slot_ino_t ino, uint32_t idx,
		     bool prefetch, bool plug)
{
	bool queued = false;
	pthread_mutex_lock(&s->fq_lock);
	if (fl_queue_room(s, prefetch)) {
		unsigned t = (s->fq_head + s->fq_len) % SL_ARRAY_SIZE(s->fq);
		s->fq[t] = (struct sl_fq_job){ .ino = ino, .idx = idx,
					       .prefetch = prefetch,
					       .plug = plug,
					       .born = sl_mono_ns() };
		s->fq_len++;
		queued = true;
		if (!plug || s->fq_len == 1 || s->fq_len >= FL_BATCH)
			pthread_cond_signal(&s->fq_cond);
	}
	pthread_mutex_unlock(&s->fq_lock);
	return queued;
}

static bool fl_wb_queue(struct slot_store *s, slot_ino_t ino, uint32_t idx)
{
	return fl_queue(s, ino, idx, false, false);
}

void sl_file_flush_async(struct slot_store *s, slot_ino_t ino)
{
	struct sl_vec idx = { 0 };
	sl_lock(s);
	struct sl_obj *o = sl_obj_find(&s->ix, ino);
	for (struct sl_wbuf *b = o ? o->wb : NULL; b; b = b->next)
		if (fl_wb_close_writes(b) && sl_vec_push(&idx, b->idx))
			break;  /* the rest go at the periodic write-out */
	sl_unlock(s);
	for (size_t i = 0; i < idx.n; i++) {
		if (fl_queue(s, ino, (uint32_t)idx.v[i], false, true))
			continue;
		/* the queue is full: this caller does it (backpressure) */
		fl_wb_flush_background(s, ino, (uint32_t)idx.v[i]);
	}
	free(idx.v);
}

/* Lock held.  Zeros over [off, off + len) change neither the file's size
 * nor its chunk's length: the range lies inside one chunk's data, short
 * of its end, so they are a write's bytes (what slot_file_zero does
 * otherwise would cut the chunk or drop it). */
static bool fl_zero_inside(struct slot_store *s, struct sl_obj *o,
			   uint64_t off, size_t len)
{
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	uint32_t idx = (uint32_t)(off / chunk);
	const struct sl_chunk *c = sl_obj_chunk(o, idx);
	const struct sl_wbuf *wb = fl_wb_find(s, o, idx);
	uint32_t data = SL_MAX(c ? c->len : 0, wb ? wb->len : 0);
	return off + len <= o->size && off % chunk + len < data;
}

/*
 * What slot_file_write below does without the device: a write within one
 * chunk that lands in the chunk's buffer and leaves it short of full (a
 * full one is queued, or written by the writer when the queue is full),
 * or that makes a buffer without reading old bytes into it, and whose
 * chunk lock is free.  Making a buffer may also carve a region or reclaim
 * slots on a full device; both are rare, and not foreseen here.
 */
bool slot_file_write_waits(struct slot_store *s, slot_ino_t ino, uint64_t off,
			   size_t len)
{
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	if (s->read_only || !len || off + len < off)
		return false;   /* refused at once */
	if (off / chunk != (off + len - 1) / chunk || len >= chunk)
		return true;
	uint32_t idx = (uint32_t)(off / chunk);
	/* a write-out holds the chunk's lock while at the device */
	pthread_mutex_t *cl = &s->chunk_locks[fl_chunk_stripe(ino, idx)];
	if (pthread_mutex_trylock(cl))
		return true;
	pthread_mutex_unlock(cl);
	bool waits = true;
	int err = 0;
	struct sl_wbuf *wb;
	sl_lock(s);
	struct sl_obj *o = fl_file(s, ino, &err);
	if (!o) {
		waits = false;
	} else if ((wb = fl_wb_find(s, o, idx))) {
		uint32_t da = (uint32_t)(off % chunk);
		waits = da + len >= chunk ||
			(!wb->buf && fl_wbs_refuses(s, wb, da, (uint32_t)len));
	} else {
		const struct sl_chunk *c = sl_obj_chunk(o, idx);
		waits = ((c && c->len) || !fl_wb_room(s, o)) &&
			!fl_wb_sparse(s, o, idx, (uint32_t)(off % chunk),
				      (uint32_t)len);
	}
	sl_unlock(s);
	return waits;
}

bool slot_file_zero_waits(struct slot_store *s, slot_ino_t ino, uint64_t off,
			  uint64_t len)
{
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	if (s->read_only || !len || off + len < off)
		return false;   /* refused at once */
	if (len >= chunk || slot_file_write_waits(s, ino, off, (size_t)len))
		return true;
	int err = 0;
	sl_lock(s);
	struct sl_obj *o = fl_file(s, ino, &err);
	bool waits = o && !fl_zero_inside(s, o, off, (size_t)len);
	sl_unlock(s);
	return waits;
}

/* fl_truncate waits on the device to write the file's buffers out
 * (fl_file_quiesce) and to rewrite a chunk the new end cuts. */
bool slot_file_truncate_waits(struct slot_store *s, slot_ino_t ino,
			      uint64_t size)
{
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	if (s->read_only || size > sl_file_max(s))
		return false;   /* refused at once */
	pthread_rwlock_t *stripe = fl_stripe(s, ino);
	if (pthread_rwlock_trywrlock(stripe))
		return true;    /* a write or a write-out runs */
	pthread_rwlock_unlock(stripe);
	int err = 0;
	sl_lock(s);
	struct sl_obj *o = fl_file(s, ino, &err);
	bool waits = false;
	if (o && o->wb) {
		waits = true;
	} else if (o && size % chunk) {
		const struct sl_chunk *c = sl_obj_chunk(o, (uint32_t)(size / chunk));
		waits = c && c->len > size % chunk;
	}
	sl_unlock(s);
	return waits;
}

/* sl_file_flush_async queues a write-out per buffer; when the queue has
 * no room for them, the caller writes them itself. */
bool sl_file_flush_waits(struct slot_store *s, slot_ino_t ino)
{
	sl_lock(s);
	struct sl_obj *o = sl_obj_find(&s->ix, ino);
	unsigned n = o ? fl_wb_close_count(o) : 0;
	sl_unlock(s);
	if (!n)
		return false;
	pthread_mutex_lock(&s->fq_lock);
	bool waits = n > fl_queue_room(s, false);
	pthread_mutex_unlock(&s->fq_lock);
	return waits;
}

/* slot_file_write; zeros: the bytes are slot_file_zero's, and the write
 * is made only where fl_zero_inside holds (else -EAGAIN, nothing done). */
static ssize_t fl_write(struct slot_store *s, slot_ino_t ino, uint64_t off,
			const void *buf, size_t len, bool zeros)
{
	if (s->read_only)
		return -EROFS;
	if (!len)
		return 0;
	if (off + len < off || off + len > sl_file_max(s))
		return -EFBIG;
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	pthread_rwlock_t *stripe = fl_stripe(s, ino);
	pthread_rwlock_rdlock(stripe);
	uint64_t first = off / chunk, last = (off + len - 1) / chunk;
	size_t n = (size_t)(last - first + 1);
	struct fl_change *ch = calloc(n, sizeof(*ch));
	int err = ch ? 0 : -ENOMEM;
	unsigned held[SL_CHUNK_STRIPES / 8];
	size_t nheld = err ? 0 : fl_chunks_lock(s, ino, first, n, held);

	/*
	 * Each chunk's bytes go to that chunk's buffer (made on first use);
	 * a full buffer goes to the flushers, so the writer goes on while
	 * the device works, and the rest goes out at close (in the
	 * background), fsync, or after two idle seconds.
	 * Without a buffer to be had it writes through.
	 */
	size_t direct = 0;
	uint64_t done = off;    /* [off, done) has landed, in file order */
	for (size_t i = 0; !err && i < n; i++) {
		uint64_t cs = (first + i) * chunk;
		uint64_t a = SL_MAX(off, cs), b = SL_MIN(off + len, cs + chunk);
		uint32_t idx = (uint32_t)(first + i);
		uint32_t da = (uint32_t)(a - cs), dl = (uint32_t)(b - a);
		const uint8_t *src = (const uint8_t *)buf + (a - off);
		bool whole = da == 0 && dl == chunk;
		for (int pass = 0; pass < 2; pass++) {
			sl_lock(s);
			struct sl_obj *o = fl_file(s, ino, &err);
			struct sl_wbuf *wb = o ? fl_wb_find(s, o, idx) : NULL;
			if (zeros && o && !fl_zero_inside(s, o, off, len)) {
				sl_unlock(s);
				err = -EAGAIN;
				goto next;
			}
			if (wb && direct) {
				/* bytes land in file order, so that a failure
				 * leaves a short write: what is due before
				 * this chunk goes to the device first */
				sl_unlock(s);
				err = fl_rewrite(s, ino, ch, direct, cs, false,
						 false);
				if (err)
					goto next;
				done = cs;
				direct = 0;
				pass--;
				continue;
			}
			if (wb && ((wb->reserved &&
			    sl_class_for(s, SL_MAX(wb->len, da + dl)) >
			    sl_slot_cls(s, wb->reserve)) ||
			    (!wb->buf && fl_wbs_refuses(s, wb, da, dl)))) {
				/* the slot it set aside is too small for
				 * these bytes, or a sparse buffer cannot
				 * take them: out with it, then a buffer
				 * that fits */
				sl_unlock(s);
				err = fl_wb_flush(s, ino, idx);
				if (err)
					goto next;
				pass--;
				continue;
			}
			uint64_t safe = wb ? sl_ext_size(s, o, -1, false) : 0;
			if (wb && b > safe) {
				/* past what a crash could show: until it is
				 * durable, the size recorded stays below it */
				if (!wb->ext)
					wb->ext = sl_ext_add(s, o, idx, safe);
				else if (safe < wb->ext->floor)
					wb->ext->floor = safe;
				if (!wb->ext) {
					err = -ENOMEM;
					wb = NULL;
				}
			}
			if (wb && !wb->buf) {
				err = fl_wbs_write(s, wb, da, src, dl);
				if (err)
					wb = NULL;
				else
					fl_wbs_make_room(s, false);
			} else if (wb) {
				uint32_t bs = s->sb.block_size;
				if (da > wb->len) /* a hole inside the chunk */
					memset(wb->buf + bs + wb->len, 0,
					       da - wb->len);
				memcpy(wb->buf + bs + da, src, dl);
				wb->len = SL_MAX(wb->len, da + dl);
			}
			if (wb) {
				o->size = SL_MAX(o->size, b);
				o->mtime = o->ctime = sl_now_ns();
				sl_dirty(s);
			}
			/* a writer that has just filled the chunk to its end
			 * streams: its buffer goes out now.  A buffer full
			 * because it was filled from the device takes more
			 * small writes first, each of which would otherwise
			 * rewrite the whole slot. */
			bool full = wb && wb->len == chunk && da + dl == chunk &&
				    (wb->buf ||
				     wb->npg == chunk / s->sb.block_size);
			sl_unlock(s);
			if (err || wb) {
				if (!err)
					done = b; /* in the file now */
				/* a failed write-out keeps the buffer, and
				 * its error for fsync; this write stops */
				if (full && !fl_wb_queue(s, ino, idx) &&
				    (err = fl_wb_flush(s, ino, idx)))
					fl_wb_keep_err(s, ino, err);
				goto next;
			}
			if (pass)
				break;
			/* no buffer, or no largest slot left to hold one
			 * for it: the bytes go through to a slot that fits */
			int e = fl_wb_make(s, ino, idx, !whole, da, dl);
			if (e == -EAGAIN || e == -ENOSPC)
				break;
			if (e) {
				err = e;
				goto next;
			}
		}
		/* through: a whole chunk, or no buffer to be had */
		sl_lock(s);
		struct sl_obj *o = fl_file(s, ino, &err);
		struct sl_wbuf *stale = o ? fl_wb_find(s, o, idx) : NULL;
		if (stale && whole)
			fl_wb_free(s, o, stale); /* wholly overwritten */
		struct sl_chunk *old = o ? sl_obj_chunk(o, idx) : NULL;
		struct fl_change *c = &ch[direct++];
		*c = (struct fl_change){ .idx = idx, .da = da, .dl = dl,
					 .data = src, .new_len = da + dl };
		if (old && old->len > c->new_len && !whole)
			c->new_len = old->len;
		/* old bytes survive unless the write covers them all */
		c->need_old = old && !(da == 0 && dl >= old->len);
		sl_unlock(s);
next:;
	}
	if (!err && direct)
		err = fl_rewrite(s, ino, ch, direct, off + len, false, false);
	if (!err)
		done = off + len;
	fl_chunks_unlock(s, held, nheld);
	free(ch);
	pthread_rwlock_unlock(stripe);
	/* what landed counts, as write(2) counts a short write */
	return done > off ? (ssize_t)(done - off) : err;
}

ssize_t slot_file_write(struct slot_store *s, slot_ino_t ino, uint64_t off,
			const void *buf, size_t len)
{
	return fl_write(s, ino, off, buf, len, false);
}

/*
 * Take ino's stripe alone (no write runs), write out its buffered chunks
 * [from, to) (all of them: 0, UINT32_MAX) and take the store lock, for a
 * change that applies to what was written: truncation, a punched hole.
 * Returns the stripe, held, with the store lock and *o the file (NULL and
 * *err if ino is none); or NULL and *err, holding neither.
 */
static pthread_rwlock_t *fl_file_quiesce(struct slot_store *s,
					 slot_ino_t ino, uint32_t from,
					 uint32_t to, struct sl_obj **o,
					 int *err)
{
	pthread_rwlock_t *stripe = fl_stripe(s, ino);
	pthread_rwlock_wrlock(stripe);
	*err = fl_wb_flush_chunks(s, ino, from, to, false, false, NULL);
	if (*err == -ENOENT || *err == -EISDIR || *err == -EINVAL)
		*err = 0; /* the lookup below reports them */
	if (*err) {
		pthread_rwlock_unlock(stripe);
		return NULL;
	}
	sl_lock(s);
	*o = fl_file(s, ino, err);
	return stripe;
}

/* Lock held.  Log o's new size, a cut's: its chunks older than now past
 * it go.  The size holds only over data that is down, so the journal
 * write that takes it flushes first (a size of 0 covers none). */
static void fl_log_size(struct slot_store *s, struct sl_obj *o,
			uint64_t size)
{
	struct sl_jnl_rec r = { .type = SL_JNL_TRUNC, .oid = o->oid,
				.parent = s->next_gen, .rdev = size,
				.time_ns = o->ctime };
	sl_jnl_add(s, &r);
	s->jnl_barrier |= size > 0;
}

/* Lock held.  The end of a cut's, a hole's or an fallocate's records:
 * o's times follow (SETATTR; ATTR_DIRTY until a journal slot or header
 * carries them), and while rewrite (chunks a cut or a hole left in part,
 * fl_cut_rewrite) no journal write takes the records. */
static void fl_log_change_end(struct slot_store *s, struct sl_obj *o,
			   bool rewrite)
{
	sl_ns_attrs_changed(s, o);
	s->jnl_cutting += rewrite;
}

/* fl_rewrite of the chunks a cut or a hole left in part, which the
 * caller counted in jnl_cutting (no journal write takes its records
 * meanwhile): the records say the change was made, so if the rewrite
 * fails, what the file holds instead only a checkpoint says. */
static int fl_cut_rewrite(struct slot_store *s, slot_ino_t ino,
			  struct fl_change *ch, size_t n, uint64_t size,
			  bool set_size, bool keep_times)
{
	int err = fl_rewrite(s, ino, ch, n, size, set_size, keep_times);
	sl_lock(s);
	s->jnl_cutting--;
	if (err)
		sl_ns_dirty(s);
	sl_unlock(s);
	return err;
}

static int fl_truncate(struct slot_store *s, slot_ino_t ino, uint64_t size,
		       bool keep_times)
{
	if (s->read_only)
		return -EROFS;
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	if (size > sl_file_max(s))
		return -EFBIG;
	struct fl_change ch = { 0 };
	bool rewrite = false;
	struct sl_obj *o;
	int err;
	pthread_rwlock_t *stripe = fl_file_quiesce(s, ino, 0, UINT32_MAX, &o,
						   &err);
	if (!stripe)
		return err;
	if (o) {
		/* drop whole chunks past the end, and, unless it grows or
		 * this is a repair, the space set aside past it (ext4 frees
		 * what lies past its end, preallocated too) */
		uint32_t keep = (uint32_t)((size + chunk - 1) / chunk);
		if (!keep_times && size <= o->size)
			sl_resv_cut(s, o, keep, UINT32_MAX);
		/* their slots wait until the cut is durable, as a deleted
		 * file's do: a crash before it brings them back */
		while (o->nchunks && o->chunks[o->nchunks - 1].idx >= keep) {
			sl_slot_free_held(s, o->chunks[o->nchunks - 1].slot);
			o->nchunks--;
			o->flags |= SL_OBJ_CUT;
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
		if (!keep_times)
			o->mtime = o->ctime = sl_now_ns();
		/* the journal carries the cut, over the buffers just
		 * written out and the chunk rewritten below */
		fl_log_size(s, o, size);
		fl_log_change_end(s, o, rewrite);
	}
	sl_unlock(s);
	if (rewrite)
		err = fl_cut_rewrite(s, ino, &ch, 1, size, true, keep_times);
	pthread_rwlock_unlock(stripe);
	return err;
}

int sl_file_truncate(struct slot_store *s, slot_ino_t ino, uint64_t size)
{
	return fl_truncate(s, ino, size, false);
}

int sl_file_cut_tails(struct slot_store *s)
{
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	struct sl_vec v = { 0 };
	int err = 0;
	sl_lock(s);
	for (size_t b = 0; !err && b <= s->ix.obj_mask; b++)
		for (struct sl_obj *o = s->ix.obj_tab[b]; o; o = o->hnext) {
			const struct sl_chunk *c = o->nchunks ?
				&o->chunks[o->nchunks - 1] : NULL;
			if (S_ISREG(o->mode) && c &&
			    (uint64_t)c->idx * chunk + c->len > o->size &&
			    (err = sl_vec_push(&v, o->oid)))
				break;
		}
	sl_unlock(s);
	for (size_t i = 0; !err && i < v.n; i++) {
		sl_lock(s);
		struct sl_obj *o = sl_obj_find(&s->ix, v.v[i]);
		uint64_t size = o ? o->size : 0;
		sl_unlock(s);
		if (o)  /* a repair, not a change of the file's */
			err = fl_truncate(s, v.v[i], size, true);
	}
	free(v.v);
	return err;
}

void sl_file_jnl_settle(struct slot_store *s, const struct sl_jnl_rec *r,
			uint64_t lsn, bool ok)
{
	struct sl_obj *o = sl_obj_find(&s->ix, r->oid);
	struct sl_wbuf *b = o ? fl_wb_find(s, o, (uint32_t)r->parent2) : NULL;
	if (!b || b->buf)
		return;
	if (ok) {
		if (!b->jlsn || lsn + 1 < b->jlsn)
			b->jlsn = lsn + 1;
		/* bytes past the chunk's end now durable, on from what was:
		 * the size other headers and checkpoints record need not
		 * stay below them (ext.c), nor at all once all are */
		uint64_t base = (uint64_t)b->idx << s->sb.chunk_shift;
		struct sl_ext *e = b->ext;
		if (!e || !(r->flags & SL_JNL_EXTEND) ||
		    e->floor < base + r->rdev)
			return;
		e->floor = SL_MAX(e->floor, base + r->rdev + r->target_len);
		if (e->floor >= base + b->len) {
			sl_ext_drop(s, e);
			b->ext = NULL;
		}
		return;
	}
	/* the bytes are in no journal slot: the blocks they were of are
	 * written out with their chunk */
	s->jnl_data_lost++;
	uint32_t bs = s->sb.block_size;
	for (uint32_t k = (uint32_t)(r->rdev / bs);
	     k <= (r->rdev + r->target_len - 1) / bs; k++) {
		bool found;
		uint32_t i = fl_wbs_at(b, k, &found);
		if (found)
			b->pg[i].jnl = false;
	}
}

uint64_t sl_file_jnl_lsn(const struct slot_store *s)
{
	uint64_t min = 0;
	for (unsigned i = 0; s->wb_hash && i < SL_WB_HASH; i++)
		for (const struct sl_wbuf *b = s->wb_hash[i]; b; b = b->hnext)
			if (b->jlsn && (!min || b->jlsn < min))
				min = b->jlsn;
	return min;
}

bool sl_file_jnl_note(struct slot_store *s, const struct sl_jnl_rec *r)
{
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	if (!r->oid || !r->parent || !r->target_len || r->name_len ||
	    r->name2_len || (r->flags & ~SL_JNL_EXTEND) || r->rdev >= chunk ||
	    r->rdev + r->target_len > chunk ||
	    r->parent2 >= (sl_file_max(s) + chunk - 1) / chunk)
		return false;
	/* no memory: the open fails rather than lose what fsync kept */
	if (s->jnl_npend == s->jnl_cappend) {
		size_t cap = s->jnl_cappend ? 2 * s->jnl_cappend : 64;
		struct sl_jnl_data *p = realloc(s->jnl_pend, cap * sizeof(*p));
		if (!p) {
			s->jnl_pend_err = -ENOMEM;
			return true;
		}
		s->jnl_pend = p;
		s->jnl_cappend = cap;
	}
	uint8_t *data = malloc(r->target_len);
	if (!data) {
		s->jnl_pend_err = -ENOMEM;
		return true;
	}
	memcpy(data, r->target, r->target_len);
	s->jnl_pend[s->jnl_npend] = (struct sl_jnl_data){ .oid = r->oid,
		.gen = r->parent, .idx = (uint32_t)r->parent2,
		.off = (uint32_t)r->rdev, .len = r->target_len,
		.extend = r->flags & SL_JNL_EXTEND, .seq = s->jnl_npend,
		.data = data };
	s->jnl_npend++;
	return true;
}

static int fl_jnl_data_cmp(const void *a, const void *b)
{
	const struct sl_jnl_data *x = a, *y = b;
	if (x->oid != y->oid)
		return x->oid < y->oid ? -1 : 1;
	if (x->idx != y->idx)
		return x->idx < y->idx ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Whether WRITE record d holds over chunk c, whose data reaches *len
 * after the records of it before d: c is the chunk d was logged over (a
 * chunk written since holds its bytes, or a cut took them), and d lies
 * inside the data; an EXTEND record starts at or inside it and takes it
 * (*len) past its end. */
static bool fl_jnl_data_holds(const struct sl_jnl_data *d,
			      const struct sl_chunk *c, uint32_t *len)
{
	if (!c || c->gen != d->gen ||
	    (d->extend ? d->off > *len : d->off + d->len > *len))
		return false;
	*len = SL_MAX(*len, d->off + d->len);
	return true;
}

/* Chunk d[0].idx of d[0].oid rewritten with the bytes of d[0, n) that
 * hold over it, len bytes in all (the buffer img, a chunk's size). */
static int fl_jnl_rewrite(struct slot_store *s, const struct sl_jnl_data *d,
			  size_t n, const struct sl_chunk *c, uint32_t len,
			  uint8_t *img)
{
	int err = sl_slot_read_verify(s, c, d[0].oid, img);
	if (err)
		return err == -EBADMSG ? -EIO : err;
	memset(img + c->len, 0, len - c->len);
	uint32_t at = c->len;
	for (size_t k = 0; k < n; k++)
		if (fl_jnl_data_holds(&d[k], c, &at))
			memcpy(img + d[k].off, d[k].data, d[k].len);
	pthread_rwlock_t *stripe = fl_stripe(s, d[0].oid);
	pthread_rwlock_rdlock(stripe);
	unsigned held[1];
	size_t nh = fl_chunks_lock(s, d[0].oid, d[0].idx, 1, held);
	struct fl_change ch = { .idx = d[0].idx, .new_len = len,
				.da = 0, .dl = len, .data = img };
	err = fl_rewrite(s, d[0].oid, &ch, 1, 0, false, true);
	fl_chunks_unlock(s, held, nh);
	pthread_rwlock_unlock(stripe);
	return err;
}

/* Lock held.  For a read-only open, which rewrites no chunk: the bytes
 * of d[0, n) that hold over chunk c of o in a sparse buffer (as long as
 * they reach: fl_wbs_write takes its length past the chunk's), which
 * reads overlay as they do any buffer's.  Nothing writes it out: a
 * read-only store has no writes, no flushers, no write-out at close. */
static int fl_jnl_hold(struct slot_store *s, struct sl_obj *o,
		       const struct sl_jnl_data *d, size_t n,
		       const struct sl_chunk *c)
{
	if (s->wbs_count >= SL_WBS_MAX)
		return -ENOSPC;
	struct sl_wbuf *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	*b = (struct sl_wbuf){ .oid = o->oid, .idx = c->idx, .len = c->len,
			       .base = c->len, .born = sl_mono_ns() };
	int err = 0;
	uint32_t at = c->len;
	for (size_t k = 0; !err && k < n; k++) {
		if (!fl_jnl_data_holds(&d[k], c, &at))
			continue;
		/* a writer logs all a page holds each time, so a block's
		 * records join: one apart from the rest is no writer's */
		if (fl_wbs_adds(s, b, d[k].off, d[k].len) < 0)
			err = -EUCLEAN;
		else
			err = fl_wbs_write(s, b, d[k].off, d[k].data, d[k].len);
	}
	if (!err)
		err = fl_wb_hook(s, o, b);
	if (err) {
		sl_wb_free_mem(s, b);
		return err;
	}
	(*fl_wb_tally(s, true))++;
	return 0;
}

void sl_file_jnl_drop(struct slot_store *s)
{
	for (size_t i = 0; i < s->jnl_npend; i++)
		free(s->jnl_pend[i].data);
	free(s->jnl_pend);
	s->jnl_pend = NULL;
	s->jnl_npend = s->jnl_cappend = 0;
}

int64_t sl_file_jnl_apply(struct slot_store *s, enum sl_jnl_apply how)
{
	struct sl_jnl_data *d = s->jnl_pend;
	size_t n = s->jnl_npend;
	if (s->jnl_pend_err)
		return s->jnl_pend_err;
	if (!n)
		return 0;
	qsort(d, n, sizeof(*d), fl_jnl_data_cmp);
	bool write = how == SL_JNL_REWRITE;
	uint8_t *img = write ? sl_alloc_aligned(1ull << s->sb.chunk_shift) :
		       NULL;
	int err = write && !img ? -ENOMEM : 0;
	int64_t applies = 0, chunks = 0;
	for (size_t i = 0, j; !err && i < n; i = j) {
		for (j = i; j < n && d[j].oid == d[i].oid &&
		     d[j].idx == d[i].idx; j++)
			;
		sl_lock(s);
		struct sl_obj *o = sl_obj_find(&s->ix, d[i].oid);
		const struct sl_chunk *p = o && S_ISREG(o->mode) ?
					   sl_obj_chunk(o, d[i].idx) : NULL;
		struct sl_chunk c = p ? *p : (struct sl_chunk){ 0 };
		int64_t m = 0;
		uint32_t len = c.len;
		for (size_t k = i; p && k < j; k++)
			m += fl_jnl_data_holds(&d[k], &c, &len);
		/* bytes past the end the file had: its size grows to hold
		 * them (a truncation since would have written the chunk out,
		 * and the records would not hold) */
		uint64_t end = ((uint64_t)c.idx << s->sb.chunk_shift) + len;
		if (m && how != SL_JNL_COUNT && end > o->size)
			o->size = end;
		if (m && how == SL_JNL_HOLD)
			err = fl_jnl_hold(s, o, &d[i], j - i, &c);
		sl_unlock(s);
		if (m && write)
			err = fl_jnl_rewrite(s, &d[i], j - i, &c, len, img);
		applies += m;
		chunks += m > 0;
	}
	if (!err && applies && write)
		sl_log(s, "applied %lld journaled writes to %lld chunks",
		       (long long)applies, (long long)chunks);
	if (!err && applies && how == SL_JNL_HOLD)
		sl_log(s, "read-only: holding %lld journaled writes to %lld "
		       "chunks in memory (a read-write open or fsck.slotfs "
		       "writes them into the chunks)",
		       (long long)applies, (long long)chunks);
	if (err == -ENOSPC || err == -EUCLEAN) {
		sl_log(s, "the journal holds file data written since the "
		       "last checkpoint that a read-only open cannot hold "
		       "(%s): open it read-write once, or run fsck.slotfs",
		       err == -ENOSPC ? "over too many chunks" :
		       "records that do not join");
		err = -EROFS;
	}
	free(img);
	/* kept for a read-only look (fsck -n) that may ask again */
	if (how != SL_JNL_COUNT || err)
		sl_file_jnl_drop(s);
	return err ? err : applies;
}

/*
 * Write chunk idx of ino again as it is, a copy (the file's times stay),
 * if want(o, c, arg) still says so once the chunk is locked; the caller
 * holds ino's stripe.  1 when it wrote, 0 when not, or an errno.
 * Compaction's copies (!locked) take no lock: a thread that ran short of
 * space may hold any, so SL_OBJ_MOVING orders them among the writes of
 * the file instead (-EBUSY: one was in flight).
 */
static int fl_copy_chunk(struct slot_store *s, slot_ino_t ino, uint32_t idx,
			 bool (*want)(const struct slot_store *s,
				      struct sl_obj *o,
				      const struct sl_chunk *c, uint64_t arg),
			 uint64_t arg, bool locked, uint32_t *copied)
{
	unsigned held[1];
	size_t nh = locked ? fl_chunks_lock(s, ino, idx, 1, held) : 0;
	struct fl_change ch = { .idx = idx, .need_old = true, .move = true,
				.unlocked = !locked };
	bool go = false;
	int err = 0;
	for (int pass = 0; !err && pass < 2; pass++) {
		sl_lock(s);
		struct sl_obj *o = sl_obj_find(&s->ix, ino);
		const struct sl_chunk *c = o ? sl_obj_chunk(o, idx) : NULL;
		go = c && want(s, o, c, arg);
		if (go)
			ch.new_len = c->len;
		/* a copy without a buffer's blocks would make replay pass
		 * its WRITE records by: the buffer goes out instead (which
		 * moves the chunk too), or, for a copy that takes no
		 * lock, later */
		const struct sl_wbuf *b = go ? fl_wb_find(s, o, idx) : NULL;
		bool out = b && fl_wbs_journaled(b);
		sl_unlock(s);
		if (!out)
			break;
		go = false;
		err = locked ? fl_wb_flush(s, ino, idx) : -EBUSY;
	}
	if (!err && go)
		err = fl_rewrite(s, ino, &ch, 1, 0, false, true);
	fl_chunks_unlock(s, held, nh);
	if (copied)
		*copied = go && !err ? ch.new_len : 0;
	return err ? err : go;
}

/* Its slot lies in region arg or above (a writer may have moved it). */
static bool fl_copy_above(const struct slot_store *s, struct sl_obj *o,
			  const struct sl_chunk *c, uint64_t arg)
{
	(void)s;
	(void)o;
	return sl_slot_region(c->slot) >= arg;
}

int sl_file_move_chunks(struct slot_store *s, slot_ino_t ino, uint32_t from)
{
	struct sl_vec idx = { 0 };
	int err = 0;
	sl_lock(s);
	struct sl_obj *o = sl_obj_find(&s->ix, ino);
	for (size_t k = 0; o && !err && k < o->nchunks; k++)
		if (sl_slot_region(o->chunks[k].slot) >= from)
			err = sl_vec_push(&idx, o->chunks[k].idx);
	sl_unlock(s);
	pthread_rwlock_t *stripe = fl_stripe(s, ino);
	for (size_t i = 0; !err && i < idx.n; i++) {
		pthread_rwlock_rdlock(stripe);
		int r = fl_copy_chunk(s, ino, (uint32_t)idx.v[i], fl_copy_above,
				      from, true, NULL);
		pthread_rwlock_unlock(stripe);
		err = r < 0 ? r : 0;
	}
	free(idx.v);
	return err;
}

/* Its slot lies in region arg. */
static bool fl_copy_in(const struct slot_store *s, struct sl_obj *o,
		       const struct sl_chunk *c, uint64_t arg)
{
	(void)s;
	(void)o;
	return sl_slot_region(c->slot) == arg;
}

int sl_file_move_chunk(struct slot_store *s, slot_ino_t ino, uint32_t idx,
		       uint32_t r, uint32_t *copied)
{
	int err = fl_copy_chunk(s, ino, idx, fl_copy_in, r, false, copied);
	return err < 0 ? err : 0;
}

/* The first chunk that starts at or after byte pos. */
static uint32_t fl_chunk_above(const struct slot_store *s, uint64_t pos)
{
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	return (uint32_t)SL_MIN((pos + chunk - 1) / chunk, (uint64_t)UINT32_MAX);
}

/* fallocate's range checked, then ino quiesced (fl_file_quiesce): its
 * stripe, or NULL and *err.  Only the range's chunks are written out
 * unless the size grows: that is logged as a cut's size, which holds
 * over the file's data down (fl_log_size). */
static pthread_rwlock_t *fl_range_quiesce(struct slot_store *s,
					  slot_ino_t ino, uint64_t off,
					  uint64_t len, bool keep_size,
					  struct sl_obj **o, int *err)
{
	*err = s->read_only ? -EROFS :
	       !len ? -EINVAL :
	       off + len < off || off + len > sl_file_max(s) ? -EFBIG : 0;
	if (*err)
		return NULL;
	pthread_rwlock_t *stripe = fl_file_quiesce(
		s, ino, (uint32_t)(off >> s->sb.chunk_shift),
		fl_chunk_above(s, off + len), o, err);
	if (stripe && *o && !keep_size && off + len > (*o)->size) {
		sl_unlock(s);
		pthread_rwlock_unlock(stripe);
		stripe = fl_file_quiesce(s, ino, 0, UINT32_MAX, o, err);
	}
	return stripe;
}

int slot_file_allocate(struct slot_store *s, slot_ino_t ino, uint64_t off,
		       uint64_t len, bool keep_size)
{
	struct sl_obj *o;
	int err;
	pthread_rwlock_t *stripe = fl_range_quiesce(s, ino, off, len,
						    keep_size, &o, &err);
	if (!stripe)
		return err;
	uint32_t lo = (uint32_t)(off >> s->sb.chunk_shift);
	uint32_t hi = fl_chunk_above(s, off + len);
	for (int attempt = 0; o && attempt < 2; attempt++) {
		err = sl_resv_add(s, o, lo, hi);
		if (err != -ENOSPC || attempt)
			break;
		/* freed slots wait for a flush: make room, try again */
		sl_unlock(s);
		err = sl_alloc_retry(s);
		sl_lock(s);
		o = err ? NULL : fl_file(s, ino, &err);
	}
	/* every fallocate moves the times, as ext4's (file_modified); the
	 * journal takes them and a size it set, as a hole's */
	if (o && !err) {
		bool grows = !keep_size && off + len > o->size;
		if (grows)
			o->size = off + len;
		o->mtime = o->ctime = sl_now_ns();
		if (grows)
			fl_log_size(s, o, o->size);
		fl_log_change_end(s, o, false);
	}
	sl_unlock(s);
	pthread_rwlock_unlock(stripe);
	return err;
}

int slot_file_zero(struct slot_store *s, slot_ino_t ino, uint64_t off,
		   uint64_t len, bool keep_size)
{
	const uint64_t chunk = 1ull << s->sb.chunk_shift;
	const uint8_t *zeros = fl_zeros(s);
	if (!zeros)
		return -ENOMEM;
	/* a hole inside one chunk's data, as a guest's 4 KiB discards
	 * are: buffered as a write, where the cut below writes out the
	 * chunk's buffer and rewrites the chunk (1.6 ms a punch when it
	 * wrote out the whole file's) */
	if (len && len < chunk) {
		ssize_t w = fl_write(s, ino, off, zeros, (size_t)len, true);
		if (w != -EAGAIN)
			return w < 0 ? (int)w : 0;
	}
	struct fl_change ch[2];
	size_t nch = 0;
	struct sl_obj *o;
	int err;
	pthread_rwlock_t *stripe = fl_range_quiesce(s, ino, off, len,
						    keep_size, &o, &err);
	if (!stripe)
		return err;
	uint64_t end = o ? SL_MIN(off + len, o->size) : 0;
	uint32_t lo = UINT32_MAX, hi = 0;       /* the chunks dropped */
	/* every chunk with data in [off, end): all of its data in the range,
	 * it goes (a hole, its slot freed); only some, it is rewritten with
	 * zeros there, or cut short where the range takes its tail.  Chunks
	 * between the first and the last are wholly inside: at most two are
	 * rewritten. */
	for (uint64_t pos = off; o && pos < end;) {
		struct sl_chunk *c = sl_obj_chunk_from(o, (uint32_t)(pos / chunk));
		uint64_t cs = c ? (uint64_t)c->idx * chunk : end;
		if (cs >= end)
			break;
		uint64_t a = SL_MAX(off, cs), b = SL_MIN(end, cs + c->len);
		pos = cs + chunk;
		if (a >= b)
			continue;       /* the range lies past its data */
		if (a == cs && b == cs + c->len) {
			/* its slot waits until the hole is durable, as a
			 * cut's: a crash before it brings the chunk back */
			sl_slot_free_held(s, c->slot);
			lo = SL_MIN(lo, c->idx);
			hi = c->idx + 1;
			sl_obj_drop_chunk(o, c->idx);
			continue;
		}
		bool tail = b == cs + c->len;
		ch[nch++] = (struct fl_change){
			.idx = c->idx, .need_old = true,
			.new_len = tail ? (uint32_t)(a - cs) : c->len,
			.da = (uint32_t)(a - cs),
			.dl = tail ? 0 : (uint32_t)(b - a), .data = zeros };
	}
	if (o) {
		/* the chunks wholly in the range */
		sl_resv_cut(s, o, fl_chunk_above(s, off),
			    (uint32_t)SL_MIN((off + len) / chunk,
					     (uint64_t)UINT32_MAX));
		bool grows = !keep_size && off + len > o->size;
		if (grows)
			o->size = off + len;
		o->mtime = o->ctime = sl_now_ns();
		/* the journal carries the hole: o's chunks [lo, hi) older
		 * than it are gone (those between lie wholly inside the
		 * range: dropped, or holes already), wherever recovery finds
		 * them; a size it set, as a cut's */
		if (hi) {
			o->flags |= SL_OBJ_CUT;
			struct sl_jnl_rec r = { .type = SL_JNL_PUNCH,
						.oid = o->oid,
						.parent = s->next_gen,
						.parent2 = hi, .rdev = lo,
						.time_ns = o->ctime };
			sl_jnl_add(s, &r);
		}
		if (grows)
			fl_log_size(s, o, o->size);
		fl_log_change_end(s, o, nch > 0);
	}
	sl_unlock(s);
	if (nch)
		err = fl_cut_rewrite(s, ino, ch, nch, 0, false, false);
	pthread_rwlock_unlock(stripe);
	return err;
}

/* Lock held.  Whether o's data needs a checkpoint to be durable: changes
 * no header carries, or chunks a truncation dropped that a hole below the
 * size leaves to come back from their old headers. */
static bool fl_data_needs_ckpt(struct slot_store *s, const struct sl_obj *o,
			       unsigned ignore)
{
	if (o->flags & (SL_OBJ_ATTR_DIRTY | SL_OBJ_CKPT_OWED) & ~ignore)
		return true;
	if (o->flags & SL_OBJ_RESV_OWED)        /* only a checkpoint has it */
		return true;
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	return (o->flags & SL_OBJ_CUT) &&
	       o->nchunks < (o->size + chunk - 1) / chunk;
}

/* Lock held.  Does recovery need a checkpoint to find o under its name?
 * (ignore: flags a header about to be written will settle) */
static bool fl_needs_ckpt(struct slot_store *s, struct sl_obj *o,
			  unsigned ignore)
{
	if (!(o->flags & SL_OBJ_NAMED) || fl_data_needs_ckpt(s, o, ignore))
		return true;
	struct sl_obj *d = o->name ? sl_obj_find(&s->ix, o->name->parent) : NULL;
	for (unsigned depth = 0; d && depth < 4096; depth++) {
		/* a directory is durable in the checkpoint or the journal */
		if (!(d->flags & (SL_OBJ_IN_CKPT | SL_OBJ_NAMED)))
			return true;
		if (d->oid == SLOT_ROOT_INO)
			return false;
		d = sl_obj_find(&s->ix, d->dir->parent);
	}
	return true;
}

/* Lock held.  Bytes of chunk idx that hold data, from its start, in whole
 * blocks: what its slot (c, when it is idx's) or its buffer w holds,
 * whichever is more (a buffer starts with what the slot held). */
uint64_t sl_file_data_len(const struct sl_wbuf *w, const struct sl_chunk *c,
			  uint64_t idx)
{
	uint32_t len = c && c->idx == idx ? c->len : 0;
	if (w && w->len > len)
		len = w->len;
	return SL_ALIGN_UP((uint64_t)len, SL_BLOCK);
}

int slot_file_seek(struct slot_store *s, slot_ino_t ino, uint64_t off,
		   bool hole, uint64_t *out)
{
	const uint64_t chunk = (uint64_t)1 << s->sb.chunk_shift;
	int err = 0;

	sl_lock(s);
	struct sl_obj *o = fl_file(s, ino, &err);
	if (o && off >= o->size)
		err = -ENXIO;
	if (err)
		goto out;
	/* off < size < 2^32 chunks: chunk numbers fit in 32 bits */
	uint64_t idx = off / chunk;
	const struct sl_chunk *c = sl_obj_chunk_from(o, (uint32_t)idx);
	const struct sl_chunk *last = o->nchunks ? &o->chunks[o->nchunks - 1] :
						   NULL;
	/* chunk by chunk from off, c kept at the first slot at or after
	 * idx (the array is sorted): a dense file costs no search a chunk */
	for (uint64_t pos = off; pos < o->size; idx++, pos = idx * chunk) {
		if (c && c->idx < idx)
			c = c < last ? c + 1 : NULL;
		if (!hole && (!c || c->idx > idx) &&
		    !fl_wb_find(s, o, (uint32_t)idx)) {
			/* a chunk with nothing: on to the next that has */
			uint64_t next = c ? c->idx : UINT64_MAX;
			for (const struct sl_wbuf *w = o->wb; w; w = w->next)
				if (w->idx > idx && w->idx < next)
					next = w->idx;
			if (next == UINT64_MAX || next * chunk >= o->size)
				break;          /* no data after off */
			idx = next;
			pos = idx * chunk;
		}
		uint64_t end = idx * chunk +
			       sl_file_data_len(fl_wb_find(s, o, (uint32_t)idx),
						c, idx);
		if (hole && pos >= end) {
			*out = pos;
			goto out;
		}
		if (!hole && pos < end) {
			*out = pos;
			goto out;
		}
		if (hole && end < (idx + 1) * chunk) {
			*out = SL_MIN(end, o->size);
			goto out;
		}
	}
	if (hole)
		*out = o->size;
	else
		err = -ENXIO;
out:
	sl_unlock(s);
	return err;
}

/* The header still lags, and no buffer of the chunk came meanwhile (a
 * writer's fsync is its own). */
static bool fl_copy_lagging(const struct slot_store *s, struct sl_obj *o,
			    const struct sl_chunk *c, uint64_t arg)
{
	(void)arg;
	return (o->flags & SL_OBJ_ATTR_DIRTY) && !fl_wb_find(s, o, c->idx);
}

/*
 * ino's buffers are out and flushed, but its newest header lags
 * (ATTR_DIRTY): its size (SIZE_LAGS, ext.c) or its mode, owner or times
 * (chmod, chown, utimes, a truncation).  Write its last chunk again, so
 * that a header records them, when that costs less than the checkpoint
 * which would otherwise.  Returns 1 when it wrote.
 */

static int fl_fsync_tail(struct slot_store *s, slot_ino_t ino)
{
	pthread_rwlock_t *stripe = fl_stripe(s, ino);
	pthread_rwlock_rdlock(stripe);
	sl_lock(s);
	struct sl_obj *o = sl_obj_find(&s->ix, ino);
	const struct sl_chunk *c = o && S_ISREG(o->mode) &&
				   (o->flags & SL_OBJ_ATTR_DIRTY) && o->nchunks ?
				   &o->chunks[o->nchunks - 1] : NULL;
	uint32_t idx = c ? c->idx : 0;
	/* not when a checkpoint is due anyway, nor bigger than the last */
	bool go = c && c->len < s->ckpt_bytes &&
		  !fl_needs_ckpt(s, o, SL_OBJ_ATTR_DIRTY);
	sl_unlock(s);
	int r = go ? fl_copy_chunk(s, ino, idx, fl_copy_lagging, 0, true,
				   NULL) : 0;
	pthread_rwlock_unlock(stripe);
	return r;
}

/* A sparse buffer's bytes not yet in the journal that an fsync puts
 * there, at most, instead of rewriting its chunk (1 MiB read and written
 * for a few blocks); the chunk goes out later with all of its blocks.
 * And an eighth of the chunk: a small chunk costs less to rewrite now
 * than to log and rewrite later. */
#define FL_JNL_BUF_MAX (64u << 10)
#define FL_JNL_BUF_PART 8

/* The end of the bytes of page g (of sparse b) that a WRITE record
 * carries: past the chunk's old end a page is a whole block, whose zeros
 * past b->len are no one's data, and a record would take the file's
 * size over them. */
static uint32_t fl_wpage_end(const struct slot_store *s,
			     const struct sl_wbuf *b, const struct sl_wpage *g)
{
	uint32_t ka = g->k * s->sb.block_size;
	return SL_MIN(g->hi, b->len > ka ? b->len - ka : 0);
}

/* Lock held.  Bytes of b's blocks not yet in the journal (and in *nrec
 * the records they take), or -1 when they cannot go there: b is not
 * sparse, is going out, has no chunk under it, or takes its chunk past
 * its end other than as one run from it (each EXTEND record must start
 * inside what the records before it left). */
static int64_t fl_wbs_unjournaled(const struct slot_store *s,
				  struct sl_obj *o,
				  const struct sl_wbuf *b, size_t *nrec)
{
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	uint32_t bs = s->sb.block_size;
	const struct sl_chunk *c = sl_obj_chunk(o, b->idx);
	if (b->buf || b->flushing || b->dropped || !c || c->len != b->base ||
	    (uint64_t)b->idx * chunk + c->len > o->size)
		return -1;
	int64_t n = 0;
	uint32_t reach = c->len;        /* pages are in block order */
	*nrec = 0;
	for (uint32_t i = 0; i < b->npg; i++) {
		const struct sl_wpage *g = &b->pg[i];
		uint32_t lo = g->k * bs + g->lo, hi = g->k * bs +
			      fl_wpage_end(s, b, g);
		if (hi > c->len) {
			if (lo > reach)
				return -1;
			reach = SL_MAX(reach, hi);
		}
		if (!g->jnl) {
			n += hi - lo;
			*nrec += (hi - lo + SL_JNL_DATA_MAX - 1) /
				 SL_JNL_DATA_MAX;
		}
	}
	return n;
}

/* Lock held.  WRITE records of sparse b's blocks not yet in the journal,
 * over its chunk c (EXTEND where they go past its end).  -EAGAIN: one
 * did not go (the rest then stay out). */
static int fl_wbs_log(struct slot_store *s, struct sl_wbuf *b,
		      const struct sl_chunk *c)
{
	uint32_t bs = s->sb.block_size;
	for (uint32_t i = 0; i < b->npg; i++) {
		struct sl_wpage *g = &b->pg[i];
		uint32_t hi = fl_wpage_end(s, b, g);
		for (uint32_t a = g->lo; !g->jnl && a < hi;) {
			uint32_t n = SL_MIN(hi - a, SL_JNL_DATA_MAX);
			uint32_t at = g->k * bs + a;
			struct sl_jnl_rec r = { .type = SL_JNL_WRITE,
				.flags = at + n > c->len ? SL_JNL_EXTEND : 0,
				.oid = b->oid, .parent = c->gen,
				.parent2 = b->idx, .rdev = at,
				.target_len = (uint16_t)n,
				.target = (const char *)g->p + a };
			int err = sl_jnl_add(s, &r);
			if (err)
				return err;
			a += n;
			g->jnl = a == hi;
		}
	}
	return 0;
}

/*
 * fsync of ino: the blocks of its sparse buffers that the journal can
 * take go there (WRITE records, then a SETATTR for its times), where
 * the buffers stay till they go out as usual.  A buffer the journal
 * then holds whole is not written out by the fsync.  Returns whether
 * any went; *lost: jnl_data_lost before them.
 */
static bool fl_wb_journal(struct slot_store *s, slot_ino_t ino,
			  uint64_t *lost)
{
	bool any = false;
	sl_lock(s);
	*lost = s->jnl_data_lost;
	struct sl_obj *o = sl_obj_find(&s->ix, ino);
	size_t room = o && o->wb && S_ISREG(o->mode) && sl_jnl_usable(s) ?
		      sl_jnl_room(s) : 0;
	for (struct sl_wbuf *b = room ? o->wb : NULL; b; b = b->next) {
		size_t nrec;
		int64_t n = fl_wbs_unjournaled(s, o, b, &nrec);
		size_t need = (size_t)n + nrec * (SL_JNL_REC_FIXED + 8);
		if (n <= 0 || n > FL_JNL_BUF_MAX || need > room ||
		    (uint64_t)n * FL_JNL_BUF_PART > b->base)
			continue;
		if (fl_wbs_log(s, b, sl_obj_chunk(o, b->idx)))
			break;
		room -= need;
		any = true;
		/* an EXTEND record takes the size over other chunks that
		 * extended the file: their data must be down before it */
		if (b->len > b->base &&
		    sl_ext_size(s, o, b->idx, false) < o->size)
			s->jnl_barrier = true;
	}
	if (any) {
		struct sl_jnl_rec r = { .type = SL_JNL_SETATTR, .oid = ino };
		sl_jnl_add(s, &r);
	}
	sl_unlock(s);
	return any;
}

/*
 * fsync's data: ino's buffers out and the device flushed.  While chunks
 * that extended the file are not known durable its headers' size lags
 * (ext.c), so the last chunk's buffer goes out after a flush that covers
 * the others: its header then records the whole size, and no checkpoint
 * is needed for it.  The blocks of sparse buffers go into the journal
 * instead where they can (fl_wb_journal).
 */
static int fl_fsync_data(struct slot_store *s, slot_ino_t ino, int *jnl)
{
	pthread_rwlock_t *stripe = fl_stripe(s, ino);
	pthread_rwlock_rdlock(stripe);
	uint64_t lost;
	bool logged = fl_wb_journal(s, ino, &lost);
	int err = fl_wb_flush_file(s, ino, true, true, NULL);
	bool lags = false;
	if (!err) {
		sl_lock(s);
		struct sl_obj *o = sl_obj_find(&s->ix, ino);
		int64_t top = fl_wb_top(o);
		lags = top >= 0 && sl_ext_size(s, o, top, false) < o->size;
		sl_unlock(s);
	}
	if (!err && lags)
		err = sl_flush(s);
	if (!err)
		err = fl_wb_flush_file(s, ino, false, true, NULL);
	pthread_rwlock_unlock(stripe);
	/* the names and attributes changed so far go with it, as ext4's
	 * journal commit takes every change before the fsync (a file
	 * unlinked and made again under its name does not come back beside
	 * the new one); the journal's flush, when it writes, covers the
	 * chunks above, and its attributes spare the tail's rewrite */
	bool flushed = false;
	*jnl = err ? -EAGAIN : sl_jnl_sync(s, &flushed);
	/* blocks logged whose records did not go (a write that failed
	 * unmarks them), or all of them when the journal did not write:
	 * their buffers go out.  So do those whose records another fsync
	 * logged, when any record went nowhere since: this one skipped
	 * them above, and the page's mark may be a newer record's. */
	sl_lock(s);
	bool unsure = s->jnl_data_lost != lost;
	sl_unlock(s);
	if (!err && (logged || *jnl || unsure)) {
		bool wrote = false;
		pthread_rwlock_rdlock(stripe);
		err = fl_wb_flush_file(s, ino, false, *jnl == 0 && !unsure,
				       &wrote);
		pthread_rwlock_unlock(stripe);
		flushed &= !wrote;      /* after the journal's flush */
	}
	/* buffers the journal held for long go out, and a checkpoint then
	 * frees the slots it kept for them (whether this fsync logged or
	 * not: one that could not, the journal full, waits for them) */
	sl_lock(s);
	if (logged || s->jnl_slots.n)
		fl_wbs_make_room(s, true);
	bool crowded = s->jnl_slots.n && sl_jnl_crowded(s);
	sl_unlock(s);
	if (!err && crowded && slot_checkpoint(s, true) < 0)
		sl_log(s, "a checkpoint to free journal slots failed");
	if (!err && !flushed)
		err = sl_flush(s);
	/* a rewrite that failed (a bad old chunk, say) leaves its file
	 * owing the checkpoint, which fsync then takes */
	if (!err && fl_fsync_tail(s, ino) == 1)
		err = sl_flush(s);
	return err;
}

/* Whether fsync of ino needs a checkpoint besides its data (*found:
 * ino exists). */
static bool fl_fsync_needs_ckpt(struct slot_store *s, slot_ino_t ino,
				bool datasync, bool *found)
{
	sl_lock(s);
	struct sl_obj *o = sl_obj_find(&s->ix, ino);
	/* what is neither a file nor a directory has its name and
	 * attributes in the journal or a checkpoint only */
	bool need = o && !S_ISDIR(o->mode) &&
		    (S_ISREG(o->mode) ? fl_needs_ckpt(s, o, 0) :
		     !(o->flags & SL_OBJ_NAMED) ||
		     s->ns_changes != s->ns_persisted);
	/* fdatasync: the size, and holes punched, are part of the data */
	if (o && datasync && S_ISREG(o->mode) && (o->flags & SL_OBJ_NAMED) &&
	    !fl_data_needs_ckpt(s, o, 0))
		need = false;
	*found = o != NULL;
	sl_unlock(s);
	return need;
}

int slot_file_fsync(struct slot_store *s, slot_ino_t ino, bool datasync)
{
	if (s->read_only)
		return 0;
	int jnl;
	int err = fl_fsync_data(s, ino, &jnl);
	if (err)
		return err;
	bool found, need = fl_fsync_needs_ckpt(s, ino, datasync, &found);
	if (!found)
		return -ENOENT;
	/* names changed before it that the journal could not take: the
	 * checkpoint takes them (attributes of other files wait) */
	if (jnl && !need) {
		sl_lock(s);
		/* (none left, but not durable: a checkpoint under way took
		 * them, and the one asked for waits for it) */
		need = s->jnl_nnames ||
		       (!s->jnl_nrec && s->jnl_ops_done < s->jnl_ops);
		sl_unlock(s);
	}
	if (need) {
		err = slot_checkpoint(s, true);
		if (err > 0)
			err = 0;
	}
	return err;
}

/*
 * The file system's sync(1): sync(1) and syncfs(2) never reach a FUSE
 * daemon, fsync of a directory (`sync DIR`) does, so it makes everything
 * durable, as syncfs does on ext4: slot_sync.
 */
int slot_dir_fsync(struct slot_store *s, slot_ino_t ino)
{
	(void)ino;
	return slot_sync(s);
}
