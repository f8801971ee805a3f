/* SPDX-License-Identifier: MIT */
/*
 * recover.c - open-time recovery.
 *
 * 1. Validate: every slot the checkpoint names must still carry the header
 *    the index expects (magic, fs uuid, oid, generation, position, length,
 *    header checksum); entries that fail are dropped.
 * 2. Scan (after an unclean close): read the header of every slot nobody
 *    claims and collect those written at or after the checkpoint's
 *    scan_gen.  Their payloads are read and checked, so a torn slot never
 *    counts.
 * 3. Apply the complete write batches (txns) oldest first: a whole-object
 *    txn replaces the object, a file txn replaces one chunk.  New objects
 *    get the name their header carries, or a place in /lost+found.
 */
#include <stdio.h>
#include <sys/stat.h>

#include "internal.h"

#define RC_BATCH 1024u   /* header reads per submission */

int sl_scan_region_hdrs(struct slot_store *s, struct sl_rgn_hdr *h,
			bool *valid)
{
	uint32_t bs = s->sb.block_size;
	for (uint32_t base = 0; base < s->nregions; base += RC_BATCH) {
		uint32_t n = SL_MIN(RC_BATCH, s->nregions - base);
		uint8_t *buf = sl_alloc_aligned((size_t)n * bs);
		struct slot_io *ios = calloc(n, sizeof(*ios));
		if (!buf || !ios) {
			free(buf);
			free(ios);
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < n; i++) {
			ios[i].buf = buf + (size_t)i * bs;
			ios[i].off = sl_region_off(s, base + i);
			ios[i].len = bs;
		}
		s->dev->ops->read(s->dev->ctx, ios, n);
		for (uint32_t i = 0; i < n; i++) {
			uint32_t r = base + i;
			valid[r] = ios[i].res >= 0 &&
				   sl_rgn_hdr_decode(buf + (size_t)i * bs, &h[r]) == 0 &&
				   !memcmp(h[r].uuid, s->hdr_uuid, 16) &&
				   h[r].region == r && h[r].cls < s->ncls;
		}
		free(buf);
		free(ios);
	}
	return 0;
}

int sl_scan_slot_hdrs(struct slot_store *s,
		      bool (*want)(struct slot_store *, uint64_t),
		      void (*fn)(void *arg, uint64_t ref, int res,
				 const struct sl_slot_hdr *h,
				 const uint8_t *blk),
		      void *arg, const char *pass)
{
	uint32_t bs = s->sb.block_size;
	uint64_t total = 0, done = 0;
	for (uint32_t r = 0; r < s->nregions; r++)
		total += s->regions[r].cls == SL_RGN_FREE ? 0 : s->regions[r].nslots;
	/* not zeroed: every block is read before it is decoded */
	void *bufv = NULL;
	size_t batch = (size_t)SL_MIN((uint64_t)RC_BATCH, total ? total : 1);
	if (posix_memalign(&bufv, SL_BLOCK, batch * bs))
		bufv = NULL;
	uint8_t *buf = bufv;
	struct slot_io *ios = calloc(RC_BATCH, sizeof(*ios));
	uint64_t *refs = calloc(RC_BATCH, sizeof(*refs));
	int err = 0;
	if (!buf || !ios || !refs) {
		err = -ENOMEM;
		goto out;
	}
	size_t n = 0;
	for (uint32_t r = 0; r <= s->nregions; r++) {
		const struct sl_region *rg = r < s->nregions ? &s->regions[r] : NULL;
		uint32_t ns = rg && rg->cls != SL_RGN_FREE ? rg->nslots : 0;
		for (uint32_t j = 0; j <= ns; j++) {
			bool last = r == s->nregions && j == ns;
			if (j < ns) {
				uint64_t ref = sl_slot_ref(r, j);
				done++;
				if (want && !want(s, ref))
					continue;
				refs[n] = ref;
				ios[n] = (struct slot_io){ .buf = buf + (size_t)n * bs,
					.off = sl_slot_off(s, ref), .len = bs };
				n++;
			}
			if (n == batch || (last && n)) {
				sl_inflight_enter(s, 1);
				int rerr = s->dev->ops->read(s->dev->ctx, ios, n);
				sl_inflight_exit(s, 1, rerr == 0);
				for (size_t i = 0; i < n; i++) {
					struct sl_slot_hdr h;
					int res = ios[i].res < 0 ? ios[i].res :
						  sl_slot_hdr_decode(ios[i].buf, &h);
					fn(arg, refs[i], res, &h, ios[i].buf);
				}
				n = 0;
				if (s->progress)
					s->progress(s->progress_arg, pass, done,
						    total);
			}
		}
	}
out:
	free(buf);
	free(ios);
	free(refs);
	return err;
}

/* ------------------------------------------------------------------ */
/* Validation                                                          */
/* ------------------------------------------------------------------ */

struct rc_owner {
	uint64_t oid;
	struct sl_chunk c;
};

static int rc_owner_cmp(const void *a, const void *b)
{
	const struct rc_owner *x = a, *y = b;
	return x->c.slot < y->c.slot ? -1 : x->c.slot > y->c.slot;
}

struct rc_validate {
	struct rc_owner *own;
	size_t n;
	struct slot_store *s;
	uint64_t dropped;
};

static bool rc_is_used(struct slot_store *s, uint64_t ref)
{
	const struct sl_region *rg = &s->regions[sl_slot_region(ref)];
	return (rg->state[sl_slot_index(ref)] & SL_SLOT_STATE) == SL_SLOT_USED;
}

static bool rc_is_free(struct slot_store *s, uint64_t ref)
{
	return !rc_is_used(s, ref);
}

static void rc_validate_one(void *arg, uint64_t ref, int res,
			    const struct sl_slot_hdr *h, const uint8_t *blk)
{
	struct rc_validate *v = arg;
	struct rc_owner key = { .c.slot = ref };
	struct rc_owner *o = bsearch(&key, v->own, v->n, sizeof(*v->own),
				     rc_owner_cmp);
	if (!o)
		return;
	if (res == 0 && sl_slot_hdr_match(v->s, h, o->oid, &o->c)) {
		/* the header's checksum, for gets that read no header */
		if (o->c.csum != h->payload_csum)
			sl_chunk_set_csum(&v->s->ix, o->oid, &o->c,
					  h->payload_csum);
		return;
	}
	struct sl_obj *obj = sl_obj_find(&v->s->ix, o->oid);
	if (obj)
		sl_obj_drop_chunk(obj, o->c.idx);
	sl_slot_unclaim(v->s, ref);
	v->dropped++;
}

static int rc_validate(struct slot_store *s)
{
	struct rc_validate v = { .s = s };
	size_t cap = 0;
	struct sl_index *ix = &s->ix;
	for (size_t b = 0; b <= ix->obj_mask; b++)
		for (struct sl_obj *o = ix->obj_tab[b]; o; o = o->hnext)
			cap += o->nchunks;
	v.own = malloc((cap ? cap : 1) * sizeof(*v.own));
	if (!v.own)
		return -ENOMEM;
	for (size_t b = 0; b <= ix->obj_mask; b++)
		for (struct sl_obj *o = ix->obj_tab[b]; o; o = o->hnext)
			for (uint32_t i = 0; i < o->nchunks; i++)
				v.own[v.n++] = (struct rc_owner){ o->oid, o->chunks[i] };
	qsort(v.own, v.n, sizeof(*v.own), rc_owner_cmp);
	int err = sl_scan_slot_hdrs(s, rc_is_used, rc_validate_one, &v,
				    "validating slot headers");
	free(v.own);
	s->rec.entries_dropped += v.dropped;
	if (v.dropped)
		sl_log(s, "dropped %llu index entries whose slot headers do "
		       "not match", (unsigned long long)v.dropped);
	if (v.dropped)
		sl_ns_dirty(s);
	return err;
}

/* ------------------------------------------------------------------ */
/* Scan and apply                                                      */
/* ------------------------------------------------------------------ */

struct rc_cand {
	uint64_t ref;
	struct sl_slot_hdr h;
};

struct rc_scan {
	struct slot_store *s;
	uint64_t scan_gen;
	struct rc_cand *c;
	size_t n, cap;
	struct sl_jnl_found *j;         /* journal slots */
	size_t nj, jcap;
	uint64_t max_gen, max_oid;
	uint64_t seen;
};

/* A journal slot of this store, not stale: kept for sl_jnl_replay. */
static void rc_scan_jnl(struct rc_scan *sc, uint64_t ref, const uint8_t *blk)
{
	struct slot_store *s = sc->s;
	struct sl_jnl_hdr h;
	const struct sl_region *rg = &s->regions[sl_slot_region(ref)];
	if (sl_jnl_hdr_decode(blk, &h) || memcmp(h.uuid, s->hdr_uuid, 16) ||
	    h.gen < rg->assign_gen ||
	    h.payload_len > (1u << s->cls[rg->cls].shift))
		return;
	if (h.gen + 1 > s->next_gen)
		s->next_gen = h.gen + 1;
	if (sc->nj == sc->jcap) {
		size_t ncap = sc->jcap ? sc->jcap * 2 : 16;
		void *p = realloc(sc->j, ncap * sizeof(*sc->j));
		if (!p)
			return; /* the replay stops at the gap it leaves */
		sc->j = p;
		sc->jcap = ncap;
	}
	sc->j[sc->nj++] = (struct sl_jnl_found){ .ref = ref, .h = h };
}

static void rc_scan_one(void *arg, uint64_t ref, int res,
			const struct sl_slot_hdr *h, const uint8_t *blk)
{
	struct rc_scan *sc = arg;
	struct slot_store *s = sc->s;
	sc->seen++;
	if (res == -EINVAL)
		rc_scan_jnl(sc, ref, blk);
	if (res || memcmp(h->uuid, s->hdr_uuid, 16))
		return;
	const struct sl_region *rg = &s->regions[sl_slot_region(ref)];
	if (h->gen < sc->scan_gen || h->gen < rg->assign_gen ||
	    h->cls != rg->cls || h->oid <= SLOT_ROOT_INO ||
	    h->payload_len > (1u << s->cls[rg->cls].shift) ||
	    !S_ISREG(h->mode))
		return;
	if (sc->n == sc->cap) {
		size_t ncap = sc->cap ? sc->cap * 2 : 256;
		void *p = realloc(sc->c, ncap * sizeof(*sc->c));
		if (!p)
			return; /* that slot is not recovered: logged below */
		sc->c = p;
		sc->cap = ncap;
	}
	sc->c[sc->n].ref = ref;
	sc->c[sc->n].h = *h;
	sc->n++;
}

static int rc_cand_cmp(const void *a, const void *b)
{
	const struct sl_slot_hdr *x = &((const struct rc_cand *)a)->h;
	const struct sl_slot_hdr *y = &((const struct rc_cand *)b)->h;
	if (x->oid != y->oid)
		return x->oid < y->oid ? -1 : 1;
	if (x->txn != y->txn)
		return x->txn < y->txn ? -1 : 1;
	if (x->idx != y->idx)
		return x->idx < y->idx ? -1 : 1;
	return x->gen < y->gen ? -1 : x->gen > y->gen;
}

/* Read each candidate's payload and drop those whose checksum fails:
 * a torn write leaves a good header over a bad payload. */
static void rc_check_payloads(struct slot_store *s, struct rc_scan *sc)
{
	uint32_t bs = s->sb.block_size;
	size_t keep = 0;
	for (size_t i = 0; i < sc->n; i++) {
		struct rc_cand *c = &sc->c[i];
		uint32_t plen = (uint32_t)SL_ALIGN_UP(c->h.payload_len ? c->h.payload_len : 1, bs);
		uint8_t *b = sl_alloc_aligned(plen);
		bool ok = false;
		if (b) {
			struct slot_io io = { .buf = b,
				.off = sl_slot_off(s, c->ref) + bs, .len = plen };
			ok = s->dev->ops->read(s->dev->ctx, &io, 1) == 0 &&
			     sl_csum(b, c->h.payload_len) == c->h.payload_csum;
			free(b);
		}
		if (ok)
			sc->c[keep++] = *c;
	}
	sc->n = keep;
}

/* The newest transaction applied to an object, while its oid's are. */
struct rc_last {
	uint64_t oid;
	bool lags;              /* SIZE_LAGS: safe is its safe_size */
	uint64_t safe;
};

/* Lock not needed: open is single-threaded.  Apply one complete txn. */
static int rc_apply(struct slot_store *s, struct rc_cand *c, size_t n,
		    struct sl_vec *named, struct rc_last *last)
{
	const struct sl_slot_hdr *h = &c[n - 1].h;
	struct sl_obj *o = sl_obj_find(&s->ix, h->oid);
	if (o && !S_ISREG(o->mode))
		return 0; /* an oid reused by a directory: not ours */
	bool fresh = !o;        /* the checkpoint lacks it */
	if (!o) {
		o = sl_obj_new(&s->ix, h->oid, S_IFREG | (h->mode & 07777));
		if (!o)
			return -ENOMEM;
		o->nlink = 0;   /* named below */
		o->atime = h->mtime_ns;
		if (sl_vec_push(named, h->oid))
			return -ENOMEM;
	}
	if (h->flags & SL_SLOT_WHOLE) {
		if (h->txn < o->txn)
			return 0;
		sl_obj_free_chunks(s, o);
		o->txn = h->txn;
	}
	for (size_t i = 0; i < n; i++) {
		struct sl_chunk nc = { .slot = c[i].ref, .gen = c[i].h.gen,
				       .csum = c[i].h.payload_csum,
				       .idx = c[i].h.idx,
				       .len = c[i].h.payload_len };
		struct sl_chunk *old = sl_obj_chunk(o, nc.idx);
		if (old && old->gen > nc.gen)
			continue;
		if (sl_slot_claim(s, nc.slot))
			continue;
		struct sl_chunk prev;
		bool had;
		if (sl_obj_set_chunk(o, &nc, &prev, &had))
			return -ENOMEM;
		if (had)
			sl_slot_free(s, prev.slot);
		s->rec.slots_recovered++;
	}
	o->size = h->obj_size;
	/* a mode that went with an ACL change the checkpoint lacks would
	 * come back without it: the checkpoint's mode and ACL stay, together
	 * (a new object inherits again, rc_inherit; one the journal made
	 * takes its mode from the journal) */
	if (fresh || !(h->flags & SL_SLOT_MODE_CKPT))
		o->mode = S_IFREG | (h->mode & 07777);
	struct sl_vec *owed = &s->rec_mode_owed;
	if ((h->flags & SL_SLOT_MODE_CKPT) &&
	    (!owed->n || owed->v[owed->n - 1] != h->oid) &&
	    sl_vec_push(owed, h->oid))
		return -ENOMEM;
	o->uid = h->uid;
	o->gid = h->gid;
	o->mtime = h->mtime_ns;
	o->ctime = h->ctime_ns;
	o->flags |= SL_OBJ_NAMED;
	*last = (struct rc_last){ .oid = h->oid,
				  .lags = (h->flags & SL_SLOT_SIZE_LAGS) &&
					  h->safe_size < h->obj_size,
				  .safe = h->safe_size };
	/* chunks past the size are from before a truncation */
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	while (o->nchunks &&
	       (uint64_t)o->chunks[o->nchunks - 1].idx * chunk >= o->size &&
	       !(o->size == 0 && o->chunks[o->nchunks - 1].idx == 0)) {
		sl_slot_free(s, o->chunks[o->nchunks - 1].slot);
		o->nchunks--;
	}
	return 0;
}

/*
 * An object's transactions are applied: when the newest said its size
 * lags (SIZE_LAGS), the size is safe_size and as much past it as the
 * chunks recovered cover without a gap, up to obj_size: a chunk the
 * crash lost ends it, so no zeros stand for written bytes.  An image
 * unmounted cleanly had everything down: obj_size holds.
 */
static void rc_settle(struct slot_store *s, struct rc_last *last)
{
	struct sl_obj *o = last->lags && !(s->sb.flags & SL_SB_CLEAN) ?
			   sl_obj_find(&s->ix, last->oid) : NULL;
	uint64_t pos = last->safe;
	*last = (struct rc_last){ 0 };
	if (!o || !S_ISREG(o->mode))
		return;
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	/* chunk numbers fit 32 bits; a larger size is damage fsck mends */
	while (pos < o->size && pos / chunk <= UINT32_MAX) {
		const struct sl_chunk *c = sl_obj_chunk(o, (uint32_t)(pos / chunk));
		uint64_t end = pos / chunk * chunk + (c ? c->len : 0);
		if (end <= pos)
			break;  /* a gap: a hole, or bytes the crash lost */
		pos = end;
	}
	if (pos < o->size)
		o->size = pos;
}

/*
 * After every transaction and the journal: drop the chunks past each
 * file's size: from an extension the crash cut short (rc_settle), or
 * kept by a checkpoint whose size lagged.
 */
static void rc_trim(struct slot_store *s)
{
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	for (size_t b = 0; b <= s->ix.obj_mask; b++)
		for (struct sl_obj *o = s->ix.obj_tab[b]; o; o = o->hnext) {
			if (!S_ISREG(o->mode))
				continue;
			while (o->nchunks) {
				struct sl_chunk *c = &o->chunks[o->nchunks - 1];
				if ((uint64_t)c->idx * chunk < o->size ||
				    (o->size == 0 && c->idx == 0 && !c->len))
					break;
				sl_slot_free(s, c->slot);
				o->nchunks--;
			}
		}
}

/* Whether a header's name can be a directory entry. */
static bool rc_name_ok(const struct sl_slot_hdr *h)
{
	return h->name_len && h->name_len <= SLOT_NAME_MAX &&
	       !memchr(h->name, '/', h->name_len) &&
	       !memchr(h->name, 0, h->name_len) &&
	       !sl_ns_is_dot(h->name, h->name_len);
}

/*
 * A place in /lost+found for a recovered object that its header cannot
 * name.  When its directory is what is missing (made after the
 * checkpoint, and a directory has no slot to recover it from), it keeps
 * its name in /lost+found/#<that directory's number>, so the files of one
 * directory stay together by name, as e2fsck keeps a lost directory's
 * contents; else it is /lost+found/#<its own number>.  NULL: no memory.
 */
static struct sl_dirent *rc_orphan(struct slot_store *s,
				   const struct sl_slot_hdr *h, uint64_t oid)
{
	struct sl_obj *lf = sl_lost_found(s);
	char nm[32];
	int len;
	if (!lf)
		return NULL;
	if (h && rc_name_ok(h) && !sl_obj_find(&s->ix, h->parent)) {
		len = snprintf(nm, sizeof(nm), "#%llu",
			       (unsigned long long)h->parent);
		struct sl_dirent *dd = sl_de_find(&s->ix, lf->oid, nm,
						  (size_t)len);
		struct sl_obj *d = dd ? sl_obj_find(&s->ix, dd->child) :
			sl_ns_mkdir_locked(s, lf, nm, (size_t)len, 0700, 0, 0);
		struct sl_dirent *de = NULL;
		if (d && S_ISDIR(d->mode) &&
		    !sl_de_find(&s->ix, d->oid, h->name, h->name_len))
			de = sl_de_add(&s->ix, d, h->name, h->name_len, oid);
		if (de)
			return de;
	}
	len = snprintf(nm, sizeof(nm), "#%llu", (unsigned long long)oid);
	return sl_de_add(&s->ix, lf, nm, (size_t)len, oid);
}

/*
 * A file made after the checkpoint in a directory with a default ACL had
 * it inherited; the checkpoint that would have carried the result was
 * not written, so inherit it again from the create mode the header kept.
 */
static int rc_inherit(struct slot_store *s, const struct sl_obj *dir,
		      struct sl_obj *o)
{
	uint32_t mode = o->mode;
	struct sl_xattrs *x;
	int err = sl_xa_inherit(s, dir->oid, &mode, &x);
	if (err <= 0)
		return err;
	if (x && (err = sl_xa_set(&s->ix, o->oid, x))) {
		free(x);
		return err;
	}
	o->mode = mode;
	return 0;
}

bool sl_recover_mode_owed(const struct slot_store *s, uint64_t oid)
{
	/* rc_apply pushes in the candidates' oid order */
	return s->rec_mode_owed.n &&
	       bsearch(&oid, s->rec_mode_owed.v, s->rec_mode_owed.n,
		       sizeof(uint64_t), sl_u64_cmp);
}

/* Give recovered new objects their names, or a place in /lost+found. */
static int rc_name(struct slot_store *s, const struct rc_scan *sc,
		   const struct sl_vec *named)
{
	for (size_t i = 0; i < named->n; i++) {
		uint64_t oid = named->v[i];
		struct sl_obj *o = sl_obj_find(&s->ix, oid);
		if (!o || o->nlink)
			continue;
		/* the newest header of this oid names it */
		const struct sl_slot_hdr *best = NULL;
		for (size_t k = 0; k < sc->n; k++)
			if (sc->c[k].h.oid == oid &&
			    (!best || sc->c[k].h.gen > best->gen))
				best = &sc->c[k].h;
		struct sl_obj *dir = best && rc_name_ok(best) ?
			sl_obj_find(&s->ix, best->parent) : NULL;
		struct sl_dirent *de = NULL;
		if (dir && S_ISDIR(dir->mode) &&
		    !sl_de_find(&s->ix, dir->oid, best->name, best->name_len))
			de = sl_de_add(&s->ix, dir, best->name, best->name_len, oid);
		if (de && rc_inherit(s, dir, o))
			return -ENOMEM;
		if (!de) {
			de = rc_orphan(s, best, oid);
			if (!de)
				return -ENOMEM;
			s->rec.lost_found++;
			o->flags &= ~SL_OBJ_NAMED;
		}
		o->name = de;
		o->nlink = 1;
	}
	return 0;
}

int sl_recover_scan(struct slot_store *s, const struct sl_ckpt_hdr *hdr)
{
	uint64_t scan_gen = hdr ? hdr->scan_gen : 0;
	/* regions assigned after the checkpoint say so in their headers */
	struct sl_rgn_hdr *rh = calloc(s->nregions ? s->nregions : 1, sizeof(*rh));
	bool *valid = calloc(s->nregions ? s->nregions : 1, sizeof(*valid));
	int err = (rh && valid) ? 0 : -ENOMEM;
	if (!err)
		err = sl_scan_region_hdrs(s, rh, valid);
	for (uint32_t r = 0; !err && r < s->nregions; r++) {
		struct sl_region *rg = &s->regions[r];
		if (!valid[r])
			continue;
		if (rg->cls == SL_RGN_FREE ||
		    (rg->nused == 0 && rh[r].assign_gen > rg->assign_gen &&
		     rh[r].cls != rg->cls)) {
			/* emptied and reassigned after the checkpoint */
			if (rg->cls != SL_RGN_FREE)
				sl_region_unassign(s, r);
			if (rh[r].assign_gen >= scan_gen || scan_gen == 0) {
				err = sl_region_assign(s, r, rh[r].cls,
						       rh[r].assign_gen);
				sl_dirty(s);
			}
		}
	}
	free(rh);
	free(valid);
	if (err)
		return err;

	struct rc_scan sc = { .s = s, .scan_gen = scan_gen };
	err = sl_scan_slot_hdrs(s, rc_is_free, rc_scan_one, &sc,
				"scanning slot headers");
	s->rec.slots_scanned = sc.seen;
	if (!err)
		rc_check_payloads(s, &sc);
	if (!err && sc.n)
		qsort(sc.c, sc.n, sizeof(*sc.c), rc_cand_cmp);
	struct sl_vec named = { 0 };
	struct rc_last last = { 0 };
	uint64_t counted = 0;   /* the object last counted as recovered */
	for (size_t i = 0; !err && i < sc.n;) {
		size_t j = i;
		while (j < sc.n && sc.c[j].h.oid == sc.c[i].h.oid &&
		       sc.c[j].h.txn == sc.c[i].h.txn)
			j++;
		/* complete: every position the txn wrote, exactly once */
		size_t distinct = 0;
		for (size_t k = i; k < j; k++)
			if (k == i || sc.c[k].h.idx != sc.c[k - 1].h.idx)
				distinct++;
		uint64_t before = s->rec.slots_recovered;
		if (distinct == sc.c[i].h.txn_chunks && distinct == j - i)
			err = rc_apply(s, &sc.c[i], j - i, &named, &last);
		/* objects with a slot recovered, new or in the checkpoint */
		if (s->rec.slots_recovered > before && counted != sc.c[i].h.oid) {
			counted = sc.c[i].h.oid;
			s->rec.objects_recovered++;
		}
		if (j == sc.n || sc.c[j].h.oid != sc.c[i].h.oid)
			rc_settle(s, &last);
		for (size_t k = i; k < j; k++) {
			if (sc.c[k].h.gen + 1 > s->next_gen)
				s->next_gen = sc.c[k].h.gen + 1;
			if (sc.c[k].h.oid + 1 > s->next_oid)
				s->next_oid = sc.c[k].h.oid + 1;
		}
		i = j;
	}
	/* the names the journal made durable, on what the checkpoint and
	 * the slots say, then the chunks past each size go (a cut's size
	 * may be past what rc_settle saw: its data was down before it);
	 * then the headers name what is still nameless */
	if (!err) {
		int r = sl_jnl_replay(s, hdr, sc.j, sc.nj);
		err = r < 0 ? r : 0;
	}
	if (!err)
		rc_trim(s);
	if (!err)
		err = rc_name(s, &sc, &named);
	if (!err)
		sl_xa_recover_modes(s);
	free(s->rec_mode_owed.v);
	memset(&s->rec_mode_owed, 0, sizeof(s->rec_mode_owed));
	if (!err && s->rec.slots_recovered)
		sl_ns_dirty(s);
	for (uint32_t r = 0; r < s->nregions; r++)
		if (s->regions[r].assign_gen + 1 > s->next_gen)
			s->next_gen = s->regions[r].assign_gen + 1;
	free(named.v);
	free(sc.c);
	free(sc.j);
	return err;
}

int sl_recover(struct slot_store *s, const struct sl_ckpt_hdr *hdr,
	       bool have_ckpt, bool scan, bool validate)
{
	int err = 0;
	if (have_ckpt && validate)
		err = rc_validate(s);
	if (!err && scan) {
		s->rec.scanned = true;
		err = sl_recover_scan(s, have_ckpt ? hdr : NULL);
		/* the orphans' directory may be lost+found.N (sl_lost_found
		 * finds the one they went to) */
		struct sl_obj *lf = !err && s->rec.lost_found ?
				    sl_lost_found(s) : NULL;
		if (!err && (s->rec.slots_recovered || s->rec.lost_found))
			sl_log(s, "recovered %llu slots of %llu objects written "
			       "after checkpoint %llu (%llu in /%s)",
			       (unsigned long long)s->rec.slots_recovered,
			       (unsigned long long)s->rec.objects_recovered,
			       (unsigned long long)(have_ckpt ? hdr->seq : 0),
			       (unsigned long long)s->rec.lost_found,
			       lf && lf->name ? lf->name->name : "lost+found");
	}
	return err;
}
