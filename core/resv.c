/* SPDX-License-Identifier: MIT */
/*
 * resv.c - space fallocate(2) sets aside for chunks not yet written.
 *
 * Every write takes a fresh slot, so space cannot be handed out ahead as
 * ext4 hands out unwritten extents.  It is promised instead: a file keeps
 * the chunk numbers set aside for it (ranges, beside the index: few files
 * have any), the store counts them (resv_slots), and the allocator keeps
 * that many chunk slots within reach of them alone (alloc.c).  The first
 * write of such a chunk spends its promise; a truncation below it, a
 * punched hole over it or the file's end gives it back.  Checkpoints keep
 * the ranges (FORMAT.md, "Reservations"), and the journal each range set
 * aside or given back since (a RESV record, with CUT for the latter): a
 * change since the last of those is lost by a crash, as an unsynced
 * fallocate or truncate on ext4.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct sl_resv {
	struct sl_resv *next;
	uint64_t oid;
	size_t n, cap;
	struct rv_range { uint32_t lo, hi; } *r;    /* sorted, apart */
};

static size_t rv_bucket(uint64_t oid)
{
	return (size_t)(oid * 0x9e3779b97f4a7c15ull >> 56) &
	       (SL_RESV_BUCKETS - 1);
}

static struct sl_resv *rv_find(const struct slot_store *s, uint64_t oid)
{
	struct sl_resv *v = s->resv_tab[rv_bucket(oid)];
	while (v && v->oid != oid)
		v = v->next;
	return v;
}

static void rv_unlink(struct slot_store *s, struct sl_resv *v)
{
	struct sl_resv **pp = &s->resv_tab[rv_bucket(v->oid)];
	while (*pp != v)
		pp = &(*pp)->next;
	*pp = v->next;
	free(v->r);
	free(v);
}

/* o's ranges, made (empty) when it has none; NULL: no memory. */
static struct sl_resv *rv_get(struct slot_store *s, struct sl_obj *o)
{
	struct sl_resv *v = rv_find(s, o->oid);
	if (v || !(v = calloc(1, sizeof(*v))))
		return v;
	v->oid = o->oid;
	v->next = s->resv_tab[rv_bucket(o->oid)];
	s->resv_tab[rv_bucket(o->oid)] = v;
	o->flags |= SL_OBJ_RESV;
	return v;
}

/* v, o's, goes when it holds nothing. */
static void rv_drop_empty(struct slot_store *s, struct sl_obj *o,
			  struct sl_resv *v)
{
	if (v->n)
		return;
	rv_unlink(s, v);
	o->flags &= ~SL_OBJ_RESV;
}

/* Indices of [lo, hi) that v does not hold. */
static uint64_t rv_missing(const struct sl_resv *v, uint32_t lo, uint32_t hi)
{
	uint64_t n = hi - lo;
	for (size_t i = 0; v && i < v->n; i++) {
		uint32_t a = SL_MAX(lo, v->r[i].lo), b = SL_MIN(hi, v->r[i].hi);
		if (a < b)
			n -= b - a;
	}
	return n;
}

/* Room for one more range in v. */
static int rv_room(struct sl_resv *v)
{
	if (v->n < v->cap)
		return 0;
	size_t cap = v->cap ? v->cap * 2 : 4;
	void *p = realloc(v->r, cap * sizeof(*v->r));
	if (!p)
		return -ENOMEM;
	v->r = p;
	v->cap = cap;
	return 0;
}

static uint64_t rv_total(const struct sl_resv *v)
{
	uint64_t n = 0;
	for (size_t i = 0; v && i < v->n; i++)
		n += v->r[i].hi - v->r[i].lo;
	return n;
}

/* Add [lo, hi) to v, merging what touches it. */
static int rv_insert(struct sl_resv *v, uint32_t lo, uint32_t hi)
{
	size_t i = 0;
	while (i < v->n && v->r[i].hi < lo)
		i++;
	size_t j = i;
	while (j < v->n && v->r[j].lo <= hi) {
		lo = SL_MIN(lo, v->r[j].lo);
		hi = SL_MAX(hi, v->r[j].hi);
		j++;
	}
	if (i == j) {           /* nothing merged: one more range */
		if (rv_room(v))
			return -ENOMEM;
		memmove(&v->r[i + 1], &v->r[i], (v->n - i) * sizeof(*v->r));
		v->n++;
		j = i + 1;
	}
	v->r[i] = (struct rv_range){ lo, hi };
	memmove(&v->r[i + 1], &v->r[j], (v->n - j) * sizeof(*v->r));
	v->n -= j - i - 1;
	return 0;
}

/* Take [lo, hi) out of v; what it held there, and past hi too when a
 * range could not be split for want of memory. */
static uint64_t rv_remove(struct sl_resv *v, uint32_t lo, uint32_t hi)
{
	uint64_t gone = 0;
	for (size_t i = 0; i < v->n;) {
		struct rv_range *r = &v->r[i];
		uint32_t a = SL_MAX(lo, r->lo), b = SL_MIN(hi, r->hi);
		if (a >= b) {
			i++;
			continue;
		}
		gone += b - a;
		if (a > r->lo && b < r->hi && !rv_room(v)) {
			r = &v->r[i];   /* moved by the realloc */
			memmove(&v->r[i + 2], &v->r[i + 1],
				(v->n - i - 1) * sizeof(*v->r));
			v->n++;
			v->r[i + 1] = (struct rv_range){ b, r->hi };
			r->hi = a;
			i += 2;
		} else if (a > r->lo) {
			gone += r->hi - b;
			r->hi = a;
			i++;
		} else if (b < r->hi) {
			r->lo = b;
			i++;
		} else {
			memmove(r, r + 1, (v->n - i - 1) * sizeof(*v->r));
			v->n--;
		}
	}
	return gone;
}

/* Whether n more chunk slots than are promised can be had; when not and
 * tell is set (a caller that will retry), compaction is told the need. */
static bool rv_fits(struct slot_store *s, uint64_t n, bool tell)
{
	size_t need[SL_CLASS_MAX] = { 0 };
	need[s->ncls - 1] = (size_t)(s->resv_slots + n);
	if (sl_alloc_fits(s, need))
		return true;
	if (tell)
		sl_alloc_short(s, need);
	return false;
}

/* Call fn(v, a, b) on each gap of [lo, hi) between o's chunks; stop at a
 * non-zero return. */
static int rv_gaps(struct sl_obj *o, uint32_t lo, uint32_t hi,
		   int (*fn)(struct sl_resv *, uint32_t, uint32_t, void *),
		   struct sl_resv *v, void *arg)
{
	const struct sl_chunk *c = sl_obj_chunk_from(o, lo);
	const struct sl_chunk *end = o->chunks + o->nchunks;
	uint32_t at = lo;
	for (;; c++) {
		uint32_t stop = c && c < end && c->idx < hi ? c->idx : hi;
		int r = at < stop ? fn(v, at, stop, arg) : 0;
		if (r || stop == hi)
			return r;
		at = c->idx + 1;
	}
}

static int rv_gap_count(struct sl_resv *v, uint32_t a, uint32_t b, void *arg)
{
	*(uint64_t *)arg += rv_missing(v, a, b);
	return 0;
}

static int rv_gap_insert(struct sl_resv *v, uint32_t a, uint32_t b,
			 void *arg)
{
	(void)arg;
	return rv_insert(v, a, b);
}

/* [lo, hi) into o's ranges as a checkpoint or the journal has them:
 * counted and trimmed to what chunks hold by sl_resv_settle. */
static int rv_load(struct slot_store *s, struct sl_obj *o, uint32_t lo,
		   uint32_t hi)
{
	struct sl_resv *v = rv_get(s, o);
	return v ? rv_insert(v, lo, hi) : -ENOMEM;
}

/* The set of o's ranges, or NULL. */
static struct sl_resv *rv_of(const struct slot_store *s,
			     const struct sl_obj *o)
{
	return (o->flags & SL_OBJ_RESV) ? rv_find(s, o->oid) : NULL;
}

/* Lock held.  [lo, hi) of o set aside (flags 0) or given back (CUT):
 * the journal takes it; else only a checkpoint has it. */
static void rv_log(struct slot_store *s, struct sl_obj *o, uint32_t lo,
		   uint32_t hi, uint8_t flags)
{
	struct sl_jnl_rec r = { .type = SL_JNL_RESV, .flags = flags,
				.oid = o->oid, .rdev = lo, .parent2 = hi };
	if (sl_jnl_add(s, &r))
		o->flags |= SL_OBJ_RESV_OWED;
}

int sl_resv_add(struct slot_store *s, struct sl_obj *o, uint32_t lo,
		uint32_t hi)
{
	struct sl_resv *v = rv_find(s, o->oid);
	uint64_t add = 0;
	rv_gaps(o, lo, hi, rv_gap_count, v, &add);
	if (!add)
		return 0;
	if (!rv_fits(s, add, true))
		return -ENOSPC;
	if (!(v = rv_get(s, o)))
		return -ENOMEM;
	uint64_t before = rv_total(v);
	/* on -ENOMEM what went in stays, and is counted */
	int err = rv_gaps(o, lo, hi, rv_gap_insert, v, NULL);
	s->resv_slots += rv_total(v) - before;
	rv_drop_empty(s, o, v);
	rv_log(s, o, lo, hi, 0);        /* replay trims what chunks hold */
	return err;
}

/* o's chunks [lo, hi) are no longer set aside: how many were. */
static uint64_t rv_cut(struct slot_store *s, struct sl_obj *o, uint32_t lo,
		       uint32_t hi)
{
	struct sl_resv *v = rv_of(s, o);
	if (!v)
		return 0;
	uint64_t gone = rv_remove(v, lo, hi);
	/* while a checkpoint loads, nothing is counted yet (settle) */
	s->resv_slots -= SL_MIN(gone, s->resv_slots);
	rv_drop_empty(s, o, v);
	return gone;
}

bool sl_resv_replay(struct slot_store *s, const struct sl_jnl_rec *r)
{
	struct sl_obj *o = sl_obj_find(&s->ix, r->oid);
	if (!o)
		return true;    /* unlinked since */
	if (!S_ISREG(o->mode) || r->rdev >= r->parent2 ||
	    r->parent2 > UINT32_MAX || (r->flags & ~SL_JNL_RESV_CUT))
		return false;
	uint32_t lo = (uint32_t)r->rdev, hi = (uint32_t)r->parent2;
	if (r->flags & SL_JNL_RESV_CUT) {
		rv_cut(s, o, lo, hi);
		return true;
	}
	return rv_load(s, o, lo, hi) == 0;
}

bool sl_resv_take(struct slot_store *s, struct sl_obj *o, uint32_t idx)
{
	struct sl_resv *v = rv_of(s, o);
	if (!v || rv_missing(v, idx, idx + 1))
		return false;
	/* no checkpoint owed: recovery drops a promise its chunk holds */
	s->resv_slots -= rv_remove(v, idx, idx + 1);
	rv_drop_empty(s, o, v);
	return true;
}

void sl_resv_give_back(struct slot_store *s, struct sl_obj *o, uint32_t idx)
{
	/* it was counted when taken, and the slot it got is free again */
	struct sl_resv *v = rv_get(s, o);
	if (v && !rv_insert(v, idx, idx + 1))
		s->resv_slots++;
	if (v)
		rv_drop_empty(s, o, v);
}

void sl_resv_cut(struct slot_store *s, struct sl_obj *o, uint32_t lo,
		 uint32_t hi)
{
	/* a dead file's go with it: recovery keeps none of an object
	 * without a name */
	if (rv_cut(s, o, lo, hi) && o->nlink)
		rv_log(s, o, lo, hi, SL_JNL_RESV_CUT);
}

uint64_t sl_resv_count(const struct slot_store *s, const struct sl_obj *o)
{
	struct sl_resv *v = rv_of(s, o);
	return v ? rv_total(v) : 0;
}

void sl_resv_free(struct slot_store *s)
{
	for (size_t b = 0; b < SL_RESV_BUCKETS; b++)
		while (s->resv_tab[b])
			rv_unlink(s, s->resv_tab[b]);
	s->resv_slots = 0;
}

uint64_t sl_resv_ckpt_size(struct slot_store *s,
			   bool (*wanted)(const struct sl_obj *),
			   uint64_t *records)
{
	uint64_t n = 0;
	for (size_t b = 0; b < SL_RESV_BUCKETS; b++)
		for (struct sl_resv *v = s->resv_tab[b]; v; v = v->next) {
			struct sl_obj *o = sl_obj_find(&s->ix, v->oid);
			if (o && wanted(o))
				n += v->n;
		}
	*records = n;
	return n * SL_RESV_REC_SIZE;
}

void sl_resv_ckpt_encode(struct slot_store *s,
			 bool (*wanted)(const struct sl_obj *), uint8_t *p)
{
	for (size_t b = 0; b < SL_RESV_BUCKETS; b++)
		for (struct sl_resv *v = s->resv_tab[b]; v; v = v->next) {
			struct sl_obj *o = sl_obj_find(&s->ix, v->oid);
			if (!o || !wanted(o))
				continue;
			/* a failed checkpoint owes it again (ckpt.c) */
			if (o->flags & SL_OBJ_RESV_OWED)
				o->flags = (uint16_t)((o->flags &
						       ~SL_OBJ_RESV_OWED) |
						      SL_OBJ_SNAP_DIRTY);
			for (size_t i = 0; i < v->n; i++) {
				sl_put64(p, v->oid);
				sl_put32(p + 8, v->r[i].lo);
				sl_put32(p + 12, v->r[i].hi);
				p += SL_RESV_REC_SIZE;
			}
		}
}

int sl_resv_ckpt_parse(struct slot_store *s, const struct sl_ckpt_hdr *h,
		       const uint8_t *payload)
{
	uint64_t off;
	if (sl_ckpt_resv(h, &off)) {
		s->load_bad_resv += h->resv_count;
		return 0;
	}
	uint64_t most = (uint64_t)UINT32_MAX + 1;
	for (uint64_t i = 0; i < h->resv_count; i++) {
		const uint8_t *p = payload + off + i * SL_RESV_REC_SIZE;
		uint64_t oid = sl_get64(p);
		uint32_t lo = sl_get32(p + 8), hi = sl_get32(p + 12);
		struct sl_obj *o = sl_obj_find(&s->ix, oid);
		if (!o || !S_ISREG(o->mode) || lo >= hi || hi >= most) {
			s->load_bad_resv++;
			continue;
		}
		if (rv_load(s, o, lo, hi))
			return -ENOMEM;
	}
	return 0;
}

uint64_t sl_resv_settle(struct slot_store *s)
{
	uint64_t dropped = 0;
	s->resv_slots = 0;
	for (size_t b = 0; b < SL_RESV_BUCKETS; b++) {
		for (struct sl_resv *v = s->resv_tab[b], *nx; v; v = nx) {
			nx = v->next;
			struct sl_obj *o = sl_obj_find(&s->ix, v->oid);
			if (!o || !S_ISREG(o->mode) || !o->nlink) {
				if (o)
					o->flags &= ~SL_OBJ_RESV;
				rv_unlink(s, v);
				continue;
			}
			/* recovery may have found chunks written since */
			for (uint32_t i = 0; i < o->nchunks && v->n; i++)
				rv_remove(v, o->chunks[i].idx,
					  o->chunks[i].idx + 1);
			if (!v->n) {
				rv_drop_empty(s, o, v);
				continue;
			}
			uint64_t n = rv_total(v);
			/* what the space cannot keep goes, a file at a time */
			if (!rv_fits(s, n, false)) {
				sl_log(s, "inode %llu: the free space no longer "
				       "holds the %llu chunks fallocate set "
				       "aside; they are not promised any more",
				       (unsigned long long)o->oid,
				       (unsigned long long)n);
				o->flags &= ~SL_OBJ_RESV;
				rv_unlink(s, v);
				dropped++;
				continue;
			}
			s->resv_slots += n;
		}
	}
	return dropped;
}
