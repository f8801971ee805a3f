/* SPDX-License-Identifier: MIT */
/*
 * index.c - the in-memory index: objects by oid, names by (parent, name).
 *
 * Two chained hash tables with intrusive links keep the cost near 16 bytes
 * a record beyond the record itself, which is what keeps the index under
 * its budget of 256 bytes a file plus the name.  Callers hold the store
 * lock.
 */
#include <sys/stat.h>

#include "internal.h"

static uint64_t ix_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static uint32_t ix_name_hash(uint64_t parent, const char *name, size_t len)
{
	/* FNV-1a over the name, mixed with the parent */
	uint64_t h = 0xcbf29ce484222325ull ^ ix_mix(parent);
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 0x100000001b3ull;
	}
	return (uint32_t)(h ^ (h >> 32));
}

int sl_index_init(struct sl_index *ix)
{
	memset(ix, 0, sizeof(*ix));
	ix->obj_mask = 1023;
	ix->de_mask = 1023;
	ix->obj_tab = calloc(ix->obj_mask + 1, sizeof(*ix->obj_tab));
	ix->de_tab = calloc(ix->de_mask + 1, sizeof(*ix->de_tab));
	if (!ix->obj_tab || !ix->de_tab) {
		free(ix->obj_tab);
		free(ix->de_tab);
		return -ENOMEM;
	}
	return 0;
}

static void ix_obj_destroy(struct sl_obj *o)
{
	if (S_ISDIR(o->mode) && o->dir) {
		/* live dirents belong to the name table; dead ones only to
		 * this array, which is all that still points at them */
		for (uint32_t i = 0; i < o->dir->n; i++)
			if (o->dir->ents[i]->flags & SL_DE_DEAD)
				free(o->dir->ents[i]);
		free(o->dir->ents);
		free(o->dir);
	} else if (S_ISLNK(o->mode)) {
		free(o->target);
	}
	if (o->chunks != &o->one)
		free(o->chunks);
	free(o);
}

void sl_index_free(struct sl_index *ix)
{
	if (ix->obj_tab) {
		for (size_t i = 0; i <= ix->obj_mask; i++) {
			struct sl_obj *o = ix->obj_tab[i], *n;
			for (; o; o = n) {
				n = o->hnext;
				ix_obj_destroy(o);
			}
		}
	}
	if (ix->de_tab) {
		for (size_t i = 0; i <= ix->de_mask; i++) {
			struct sl_dirent *d = ix->de_tab[i], *n;
			for (; d; d = n) {
				n = d->hnext;
				free(d);
			}
		}
	}
	for (size_t i = 0; ix->xa_tab && i <= ix->xa_mask; i++) {
		struct sl_xattrs *x = ix->xa_tab[i], *n;
		for (; x; x = n) {
			n = x->hnext;
			free(x);
		}
	}
	free(ix->obj_tab);
	free(ix->de_tab);
	free(ix->xa_tab);
	free(ix->gone_dirs);
	memset(ix, 0, sizeof(*ix));
}

static void ix_obj_grow(struct sl_index *ix)
{
	size_t nmask = ix->obj_mask * 2 + 1;
	struct sl_obj **nt = calloc(nmask + 1, sizeof(*nt));
	if (!nt)
		return; /* keep the old table: longer chains, still correct */
	for (size_t i = 0; i <= ix->obj_mask; i++) {
		struct sl_obj *o = ix->obj_tab[i], *n;
		for (; o; o = n) {
			n = o->hnext;
			size_t b = ix_mix(o->oid) & nmask;
			o->hnext = nt[b];
			nt[b] = o;
		}
	}
	free(ix->obj_tab);
	ix->obj_tab = nt;
	ix->obj_mask = nmask;
}

static void ix_de_grow(struct sl_index *ix)
{
	size_t nmask = ix->de_mask * 2 + 1;
	struct sl_dirent **nt = calloc(nmask + 1, sizeof(*nt));
	if (!nt)
		return;
	for (size_t i = 0; i <= ix->de_mask; i++) {
		struct sl_dirent *d = ix->de_tab[i], *n;
		for (; d; d = n) {
			n = d->hnext;
			size_t b = d->hash & nmask;
			d->hnext = nt[b];
			nt[b] = d;
		}
	}
	free(ix->de_tab);
	ix->de_tab = nt;
	ix->de_mask = nmask;
}

struct sl_obj *sl_obj_find(struct sl_index *ix, uint64_t oid)
{
	struct sl_obj *o = ix->obj_tab[ix_mix(oid) & ix->obj_mask];
	while (o && o->oid != oid)
		o = o->hnext;
	return o;
}

struct sl_obj *sl_obj_new(struct sl_index *ix, uint64_t oid, uint32_t mode)
{
	struct sl_obj *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->oid = oid;
	o->mode = mode;
	if (S_ISDIR(mode)) {
		o->dir = calloc(1, sizeof(*o->dir));
		if (!o->dir) {
			free(o);
			return NULL;
		}
		o->dir->next_cookie = 1;
	}
	if (S_ISREG(mode))
		ix->files++;
	if (ix->obj_count + 1 > ix->obj_mask)
		ix_obj_grow(ix);
	size_t b = ix_mix(oid) & ix->obj_mask;
	o->hnext = ix->obj_tab[b];
	ix->obj_tab[b] = o;
	ix->obj_count++;
	return o;
}

void sl_obj_remove(struct sl_index *ix, struct sl_obj *o)
{
	struct sl_obj **pp = &ix->obj_tab[ix_mix(o->oid) & ix->obj_mask];
	while (*pp && *pp != o)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = o->hnext;
		ix->obj_count--;
		ix->obj_removed++;
		if (S_ISREG(o->mode))
			ix->files--;
	}
	if (ix->xa_count)
		sl_xa_set(ix, o->oid, NULL);
	if (S_ISLNK(o->mode) && o->target)
		ix->names_ck -= strlen(o->target);
	ix_obj_destroy(o);
}

struct sl_xattrs *sl_xa_find(struct sl_index *ix, uint64_t oid)
{
	if (!ix->xa_tab)
		return NULL;
	struct sl_xattrs *x = ix->xa_tab[ix_mix(oid) & ix->xa_mask];
	while (x && x->oid != oid)
		x = x->hnext;
	return x;
}

static int ix_xa_grow(struct sl_index *ix)
{
	size_t nmask = ix->xa_tab ? ix->xa_mask * 2 + 1 : 63;
	struct sl_xattrs **nt = calloc(nmask + 1, sizeof(*nt));
	if (!nt)
		return ix->xa_tab ? 0 : -ENOMEM;  /* longer chains will do */
	for (size_t i = 0; ix->xa_tab && i <= ix->xa_mask; i++) {
		struct sl_xattrs *x = ix->xa_tab[i], *n;
		for (; x; x = n) {
			n = x->hnext;
			size_t b = ix_mix(x->oid) & nmask;
			x->hnext = nt[b];
			nt[b] = x;
		}
	}
	free(ix->xa_tab);
	ix->xa_tab = nt;
	ix->xa_mask = nmask;
	return 0;
}

int sl_xa_set(struct sl_index *ix, uint64_t oid, struct sl_xattrs *x)
{
	if (x && (!ix->xa_tab || ix->xa_count + 1 > ix->xa_mask)) {
		int err = ix_xa_grow(ix);
		if (err)
			return err;
	}
	struct sl_xattrs **pp = NULL;
	if (ix->xa_tab) {
		pp = &ix->xa_tab[ix_mix(oid) & ix->xa_mask];
		while (*pp && (*pp)->oid != oid)
			pp = &(*pp)->hnext;
	}
	if (pp && *pp) {
		struct sl_xattrs *old = *pp;
		*pp = old->hnext;
		ix->xa_count--;
		ix->xa_ck -= old->ck;
		free(old);
	}
	if (x) {
		x->oid = oid;
		x->hnext = *pp;
		*pp = x;
		ix->xa_count++;
		ix->xa_ck += x->ck;
	}
	return 0;
}

void sl_de_prefetch(struct sl_index *ix, uint64_t parent, const char *name,
		    size_t len, bool deep)
{
	struct sl_dirent **b =
		&ix->de_tab[ix_name_hash(parent, name, len) & ix->de_mask];
	if (!deep)
		__builtin_prefetch(b);
	else if (*b)
		__builtin_prefetch(*b);
}

void sl_obj_prefetch(struct sl_index *ix, uint64_t oid, bool deep)
{
	struct sl_obj **b = &ix->obj_tab[ix_mix(oid) & ix->obj_mask];
	if (!deep)
		__builtin_prefetch(b);
	else if (*b)
		__builtin_prefetch(*b);
}

struct sl_dirent *sl_de_find(struct sl_index *ix, uint64_t parent,
			     const char *name, size_t len)
{
	uint32_t h = ix_name_hash(parent, name, len);
	struct sl_dirent *d = ix->de_tab[h & ix->de_mask];
	for (; d; d = d->hnext) {
		if (d->hash == h && d->parent == parent && d->len == len &&
		    !(d->flags & SL_DE_DEAD) && memcmp(d->name, name, len) == 0)
			return d;
	}
	return NULL;
}

/* Free dir's dead entries when they are half its array or more (the
 * live keep their cookies and order: a listing in progress goes on). */
static void ix_dir_compact(struct sl_dir *dir)
{
	if (!dir->n || dir->live * 2 >= dir->n)
		return;
	uint32_t j = 0;
	for (uint32_t i = 0; i < dir->n; i++) {
		struct sl_dirent *e = dir->ents[i];
		if (e->flags & SL_DE_DEAD)
			free(e);
		else
			dir->ents[j++] = e;
	}
	dir->n = j;
}

static int ix_dir_append(struct sl_dir *dir, struct sl_dirent *de)
{
	if (dir->n == dir->cap) {
		ix_dir_compact(dir);
		if (dir->n == dir->cap) {
			uint32_t ncap = dir->cap ? dir->cap * 2 : 8;
			void *p = realloc(dir->ents, ncap * sizeof(*dir->ents));
			if (!p)
				return -ENOMEM;
			dir->ents = p;
			dir->cap = ncap;
		}
	}
	de->cookie = dir->next_cookie++;
	dir->ents[dir->n++] = de;
	dir->live++;
	return 0;
}

struct sl_dirent *sl_de_add(struct sl_index *ix, struct sl_obj *dir,
			    const char *name, size_t len, uint64_t child)
{
	struct sl_dirent *de = malloc(sizeof(*de) + len + 1);
	if (!de)
		return NULL;
	memset(de, 0, sizeof(*de));
	de->parent = dir->oid;
	de->child = child;
	de->len = (uint16_t)len;
	memcpy(de->name, name, len);
	de->name[len] = 0;
	de->hash = ix_name_hash(dir->oid, name, len);
	if (ix_dir_append(dir->dir, de)) {
		free(de);
		return NULL;
	}
	if (ix->de_count + 1 > ix->de_mask)
		ix_de_grow(ix);
	size_t b = de->hash & ix->de_mask;
	de->hnext = ix->de_tab[b];
	ix->de_tab[b] = de;
	ix->de_count++;
	ix->names_ck += sl_ckpt_name_size(len);
	return de;
}

/* Note that dir has a dead entry, for sl_dirs_compact; out of memory,
 * that visits every directory. */
static void ix_dir_gone_list(struct sl_index *ix, struct sl_obj *dir)
{
	if (dir->dir->gone_listed || ix->gone_all)
		return;
	if (ix->gone_n == ix->gone_cap) {
		size_t cap = ix->gone_cap ? ix->gone_cap * 2 : 16;
		void *p = realloc(ix->gone_dirs, cap * sizeof(*ix->gone_dirs));
		if (!p) {
			ix->gone_all = true;
			return;
		}
		ix->gone_dirs = p;
		ix->gone_cap = cap;
	}
	ix->gone_dirs[ix->gone_n++] = dir->oid;
	dir->dir->gone_listed = true;
}

static void ix_dir_shrink(struct sl_dir *d)
{
	ix_dir_compact(d);
	/* and the array, down to twice what it holds */
	uint32_t cap = d->n < 4 ? 8 : d->n * 2;
	void *p = cap < d->cap / 2 ?
		  realloc(d->ents, cap * sizeof(*d->ents)) : NULL;
	if (p) {
		d->ents = p;
		d->cap = cap;
	}
	d->gone_listed = false;
}

void sl_dirs_compact(struct sl_index *ix)
{
	if (ix->gone_all) {
		for (size_t b = 0; b <= ix->obj_mask; b++)
			for (struct sl_obj *o = ix->obj_tab[b]; o; o = o->hnext)
				if (S_ISDIR(o->mode) && o->dir)
					ix_dir_shrink(o->dir);
	} else {
		for (size_t i = 0; i < ix->gone_n; i++) {
			struct sl_obj *o = sl_obj_find(ix, ix->gone_dirs[i]);
			if (o && S_ISDIR(o->mode) && o->dir)
				ix_dir_shrink(o->dir);
		}
	}
	ix->gone_all = false;
	ix->gone_n = 0;
	/* and the list, after a deletion over many directories */
	if (ix->gone_cap > 1024) {
		free(ix->gone_dirs);
		ix->gone_dirs = NULL;
		ix->gone_cap = 0;
	}
}

/*
 * Unhash and mark dead.  The directory array keeps the dead entry until it
 * compacts, so readdir cookies stay ordered and a listing in progress does
 * not skip or repeat live entries.
 */
void sl_de_remove(struct sl_index *ix, struct sl_obj *dir,
		  struct sl_dirent *de)
{
	struct sl_dirent **pp = &ix->de_tab[de->hash & ix->de_mask];
	while (*pp && *pp != de)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = de->hnext;
		ix->de_count--;
		ix->names_ck -= sl_ckpt_name_size(de->len);
	}
	de->hnext = NULL;
	de->flags |= SL_DE_DEAD;
	dir->dir->live--;
	ix_dir_gone_list(ix, dir);
}

struct sl_dirent *sl_dir_next(struct sl_obj *dir, uint64_t after)
{
	struct sl_dir *d = dir->dir;
	uint32_t lo = 0, hi = d->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (d->ents[mid]->cookie <= after)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < d->n; lo++) {
		struct sl_dirent *e = d->ents[lo];
		if (!(e->flags & (SL_DE_DEAD | SL_DE_PENDING)))
			return e;
	}
	return NULL;
}

static uint32_t ix_chunk_pos(const struct sl_obj *o, uint32_t idx)
{
	uint32_t lo = 0, hi = o->nchunks;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (o->chunks[mid].idx < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct sl_chunk *sl_obj_chunk(struct sl_obj *o, uint32_t idx)
{
	struct sl_chunk *c = sl_obj_chunk_from(o, idx);
	return c && c->idx == idx ? c : NULL;
}

struct sl_chunk *sl_obj_chunk_from(struct sl_obj *o, uint32_t idx)
{
	uint32_t p = ix_chunk_pos(o, idx);
	return p < o->nchunks ? &o->chunks[p] : NULL;
}

/*
 * Room for one more chunk.  No capacity is stored (it would cost sl_obj
 * its malloc size): the first chunk lives in o->one, later ones in an array
 * of at least 2 whose size is never below the power of two at or above
 * nchunks, so it is full only when nchunks is a power of two.
 */
static int ix_chunks_room(struct sl_obj *o)
{
	uint32_t n = o->nchunks;
	if (!o->chunks)
		o->chunks = &o->one;
	if (o->chunks == &o->one ? n == 0 : n < 2 || (n & (n - 1)))
		return 0;
	if (n >= UINT32_MAX / 2)
		return -EFBIG;
	size_t bytes = (size_t)SL_MAX(n, 1u) * 2 * sizeof(*o->chunks);
	struct sl_chunk *a = o->chunks == &o->one ? malloc(bytes) :
			     realloc(o->chunks, bytes);
	if (!a)
		return -ENOMEM;
	if (o->chunks == &o->one && n)
		memcpy(a, &o->one, sizeof(o->one));
	o->chunks = a;
	return 0;
}

int sl_obj_set_chunk(struct sl_obj *o, const struct sl_chunk *c,
		     struct sl_chunk *old, bool *had_old)
{
	uint32_t p = ix_chunk_pos(o, c->idx);
	if (p < o->nchunks && o->chunks[p].idx == c->idx) {
		if (old)
			*old = o->chunks[p];
		if (had_old)
			*had_old = true;
		o->chunks[p] = *c;
		return 0;
	}
	if (had_old)
		*had_old = false;
	int err = ix_chunks_room(o);
	if (err)
		return err;
	memmove(&o->chunks[p + 1], &o->chunks[p],
		(o->nchunks - p) * sizeof(*o->chunks));
	o->chunks[p] = *c;
	o->nchunks++;
	return 0;
}

void sl_chunk_set_csum(struct sl_index *ix, uint64_t oid,
		       const struct sl_chunk *c, uint64_t csum)
{
	struct sl_obj *o = sl_obj_find(ix, oid);
	struct sl_chunk *ic = o ? sl_obj_chunk(o, c->idx) : NULL;
	if (ic && ic->slot == c->slot && ic->gen == c->gen)
		ic->csum = csum;
}

bool sl_obj_written_since(const struct sl_obj *o, uint64_t gen)
{
	for (uint32_t i = 0; i < o->nchunks; i++)
		if (o->chunks[i].gen >= gen)
			return true;
	return false;
}

void sl_obj_drop_chunk(struct sl_obj *o, uint32_t idx)
{
	uint32_t p = ix_chunk_pos(o, idx);
	if (p < o->nchunks && o->chunks[p].idx == idx) {
		memmove(&o->chunks[p], &o->chunks[p + 1],
			(o->nchunks - p - 1) * sizeof(*o->chunks));
		o->nchunks--;
	}
}
