/* SPDX-License-Identifier: MIT */
/*
 * alloc.c - the slot allocator.
 *
 * The slot area is cut into regions of one size.  A region takes a slot
 * class when a class runs out of free slots, and goes back to the pool
 * when it empties, so the mix of classes follows the data.
 *
 * Two rules keep a crash from losing data, and both live here:
 *   - a freed slot waits in quarantine until a device flush that began
 *     after the free has completed: until then the newer copy of its data
 *     may still be only in the drive's volatile cache;
 *   - a freed slot that the durable checkpoint points at stays pinned until
 *     a newer checkpoint is durable, so recovery can always fall back to it.
 * All functions but sl_regions_write, sl_flush and sl_reclaim want the
 * store lock held.
 */
#include <stdio.h>

#include "internal.h"

int sl_vec_push(struct sl_vec *v, uint64_t x)
{
	if (v->n == v->cap) {
		size_t ncap = v->cap ? v->cap * 2 : 64;
		void *p = realloc(v->v, ncap * sizeof(*v->v));
		if (!p)
			return -ENOMEM;
		v->v = p;
		v->cap = ncap;
	}
	v->v[v->n++] = x;
	return 0;
}

int sl_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int sl_alloc_init(struct slot_store *s)
{
	const struct sl_sb *sb = &s->sb;
	s->ncls = sb->class_count;
	for (unsigned i = 0; i < s->ncls; i++) {
		struct sl_class *c = &s->cls[i];
		c->shift = sl_class_shift(sb->min_shift, sb->chunk_shift, i);
		c->stride = sb->block_size + (1ull << c->shift);
		c->per_region = (uint32_t)((sb->region_size - sb->block_size) /
					   c->stride);
	}
	s->alloc_limit = UINT32_MAX;
	s->nregions = sb->region_count;
	s->regions = calloc(s->nregions ? s->nregions : 1,
			    sizeof(*s->regions));
	if (!s->regions)
		return -ENOMEM;
	for (uint32_t r = 0; r < s->nregions; r++)
		s->regions[r].cls = SL_RGN_FREE;
	return 0;
}

/*
 * Lock held.  Room for n regions, the new ones unassigned (slot_grow).
 * Readers of a slot's place hold no lock (sl_slot_off), so the old table
 * stays until close: a reader that still has it reads a region assigned
 * before the copy (a slot reference is had under the lock, and the new
 * table is published under it), whose class the copy shares.
 */
int sl_regions_extend(struct slot_store *s, uint32_t n)
{
	if (n <= s->nregions)
		return 0;
	struct sl_region *nr = calloc(n, sizeof(*nr));
	if (!nr || sl_vec_push(&s->regions_old, (uintptr_t)s->regions)) {
		free(nr);
		return -ENOMEM;
	}
	memcpy(nr, s->regions, s->nregions * sizeof(*nr));
	for (uint32_t r = s->nregions; r < n; r++)
		nr[r].cls = SL_RGN_FREE;
	__atomic_store_n(&s->regions, nr, __ATOMIC_RELEASE);
	s->nregions = n;
	return 0;
}

/* Lock held.  Only regions below n take slots from now on (UINT32_MAX:
 * all); the free slots above leave their classes' stacks. */
int sl_alloc_limit(struct slot_store *s, uint32_t n)
{
	s->alloc_limit = n;
	return sl_alloc_rebuild(s);
}

/* Lock held.  Drop the regions from n on (empty: slot_shrink). */
void sl_regions_truncate(struct slot_store *s, uint32_t n)
{
	for (uint32_t r = n; r < s->nregions; r++) {
		free(s->regions[r].state);
		s->regions[r] = (struct sl_region){ .cls = SL_RGN_FREE };
	}
	s->nregions = SL_MIN(s->nregions, n);
}

void sl_alloc_free(struct slot_store *s)
{
	for (uint32_t r = 0; r < s->nregions; r++)
		free(s->regions[r].state);
	free(s->regions);
	s->regions = NULL;
	for (size_t i = 0; i < s->regions_old.n; i++)
		free((void *)(uintptr_t)s->regions_old.v[i]);
	free(s->regions_old.v);
	s->regions_old = (struct sl_vec){ 0 };
	for (unsigned i = 0; i < s->ncls; i++) {
		free(s->cls[i].free);
		s->cls[i].free = NULL;
		s->cls[i].nfree = s->cls[i].cap = 0;
	}
	free(s->quar.v);
	free(s->pin.v);
	memset(&s->quar, 0, sizeof(s->quar));
	memset(&s->pin, 0, sizeof(s->pin));
}

unsigned sl_class_for(const struct slot_store *s, uint64_t len)
{
	for (unsigned i = 0; i < s->ncls; i++)
		if (len <= (1ull << s->cls[i].shift))
			return i;
	return s->ncls - 1;
}

uint64_t sl_region_off(const struct slot_store *s, uint32_t r)
{
	return s->sb.slot_area_offset + (uint64_t)r * s->sb.region_size;
}

bool sl_slot_valid(const struct slot_store *s, uint64_t ref)
{
	uint32_t r = sl_slot_region(ref), j = sl_slot_index(ref);
	if (r >= s->nregions || s->regions[r].cls == SL_RGN_FREE)
		return false;
	return j < s->regions[r].nslots;
}

/* The region table for readers without the lock (sl_regions_extend). */
static const struct sl_region *al_regions(const struct slot_store *s)
{
	return __atomic_load_n(&s->regions, __ATOMIC_ACQUIRE);
}

unsigned sl_slot_cls(const struct slot_store *s, uint64_t ref)
{
	return al_regions(s)[sl_slot_region(ref)].cls;
}

uint64_t sl_slot_off(const struct slot_store *s, uint64_t ref)
{
	uint32_t r = sl_slot_region(ref);
	const struct sl_class *c = &s->cls[al_regions(s)[r].cls];
	return sl_region_off(s, r) + s->sb.block_size +
	       (uint64_t)sl_slot_index(ref) * c->stride;
}

static int al_push_free(struct sl_class *c, uint64_t ref)
{
	if (c->nfree == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 256;
		void *p = realloc(c->free, ncap * sizeof(*c->free));
		if (!p)
			return -ENOMEM;
		c->free = p;
		c->cap = ncap;
	}
	c->free[c->nfree++] = ref;
	return 0;
}

int sl_region_assign(struct slot_store *s, uint32_t r, unsigned cls,
		     uint64_t assign_gen)
{
	if (r >= s->nregions || cls >= s->ncls)
		return -EUCLEAN;
	struct sl_region *rg = &s->regions[r];
	if (rg->cls != SL_RGN_FREE)
		return rg->cls == cls ? 0 : -EUCLEAN;
	struct sl_class *c = &s->cls[cls];
	rg->state = calloc(c->per_region ? c->per_region : 1, 1);
	if (!rg->state)
		return -ENOMEM;
	rg->cls = (uint8_t)cls;
	rg->trimmed = false;
	rg->nslots = c->per_region;
	rg->nused = 0;
	rg->npend = 0;
	rg->assign_gen = assign_gen;
	/* a loaded one is on the device */
	atomic_store(&rg->hdr_owed, s->loading ? 0 : assign_gen);
	s->slots_total += c->per_region;
	if (s->loading)
		return 0;
	/* pushed high to low so the lowest index is taken first */
	for (uint32_t j = c->per_region; j-- > 0;)
		if (al_push_free(c, sl_slot_ref(r, j)))
			return -ENOMEM;
	return 0;
}

/* Region r's free slots off its class's free stack. */
static void al_free_drop(struct slot_store *s, uint32_t r)
{
	struct sl_class *c = &s->cls[s->regions[r].cls];
	size_t j = 0;
	for (size_t i = 0; i < c->nfree; i++)
		if (sl_slot_region(c->free[i]) != r)
			c->free[j++] = c->free[i];
	c->nfree = j;
}

void sl_region_unassign(struct slot_store *s, uint32_t r)
{
	struct sl_region *rg = &s->regions[r];
	al_free_drop(s, r);
	s->slots_total -= rg->nslots;
	free(rg->state);
	rg->state = NULL;
	rg->cls = SL_RGN_FREE;
	rg->trimmed = false;
	atomic_store(&rg->hdr_owed, 0);
	s->freed_gen++;
	rg->nslots = 0;
}

/* Spare regions a growing class takes (see sl_slots_alloc): at most
 * AL_SPARE_REGIONS, while its free slots are fewer than
 * AL_SPARE_BATCHES more allocations of the size that made it grow. */
#define AL_SPARE_REGIONS 8u
#define AL_SPARE_BATCHES 8u

size_t sl_new_regions_max(const struct slot_store *s, size_t n)
{
	/* a class short of slots takes a region per slot at most, and
	 * its spares, and each slot may come from a region still owing
	 * its header; never more than the table holds, however it grows */
	return 2 * n + (size_t)s->ncls * AL_SPARE_REGIONS;
}

/* The regions that may take new slots: those the superblock on the
 * device describes (slot_grow adds regions before it says so), and below
 * the limit slot_shrink sets while it empties the last ones. */
static uint32_t al_limit(const struct slot_store *s)
{
	return SL_MIN(SL_MIN(s->nregions, s->sb.region_count), s->alloc_limit);
}

/* Unassigned, not being discarded, and where slots may be taken. */
static bool al_region_free(const struct slot_store *s, uint32_t r)
{
	return r < al_limit(s) && s->regions[r].cls == SL_RGN_FREE &&
	       !(s->trimming && s->trim_region == r);
}

static bool al_free_region(const struct slot_store *s, uint32_t *out)
{
	for (uint32_t r = 0; r < al_limit(s); r++) {
		if (al_region_free(s, r)) {
			*out = r;
			return true;
		}
	}
	return false;
}

/* Region r is being emptied (compact.c): its freed slots stay off its
 * class's free stack, and sl_drain_end gives it back. */
static bool al_draining(const struct slot_store *s, uint32_t r)
{
	return s->draining && s->drain_region == r;
}

/* Whether an empty region of class c can go to another class while c
 * still needs need[c] slots: its slots are all free, and c keeps enough. */
static bool al_region_movable(const struct slot_store *s, uint32_t r,
			      const size_t *need)
{
	const struct sl_region *rg = &s->regions[r];
	return rg->cls != SL_RGN_FREE && rg->nused == 0 && !al_draining(s, r) &&
	       s->cls[rg->cls].nfree >= rg->nslots + need[rg->cls];
}

/* Find a region for class cls: a free one, else an empty one of another
 * class. */
static int al_take_region(struct slot_store *s, unsigned cls,
			  const size_t *need, uint32_t *out)
{
	if (al_free_region(s, out))
		return 0;
	for (uint32_t r = 0; r < al_limit(s); r++) {
		struct sl_region *rg = &s->regions[r];
		if (rg->cls != cls && al_region_movable(s, r, need)) {
			sl_region_unassign(s, r);
			*out = r;
			return 0;
		}
	}
	return -ENOSPC;
}

/* Whether need[c] more slots of each class c can be had: free slots, then
 * regions unassigned or empty and not needed by their own class. */
static bool al_fits(const struct slot_store *s, const size_t *need)
{
	uint32_t regions_needed = 0;
	for (unsigned c = 0; c < s->ncls; c++) {
		if (need[c] > s->cls[c].nfree) {
			uint64_t short_by = need[c] - s->cls[c].nfree;
			uint32_t per = s->cls[c].per_region;
			if (!per)
				return false;
			regions_needed += (uint32_t)((short_by + per - 1) / per);
		}
	}
	if (!regions_needed)
		return true;
	/* an empty region of a class being allocated moves only while its
	 * class keeps the slots it needs */
	uint32_t avail = 0;
	size_t keep[SL_CLASS_MAX];
	for (unsigned c = 0; c < s->ncls; c++)
		keep[c] = need[c];
	for (uint32_t r = 0; r < al_limit(s) && avail < regions_needed; r++) {
		const struct sl_region *rg = &s->regions[r];
		if (al_region_free(s, r)) {
			avail++;
		} else if (al_region_movable(s, r, keep)) {
			/* count its slots as gone from its class */
			keep[rg->cls] += rg->nslots;
			avail++;
		}
	}
	return avail >= regions_needed;
}

static bool al_drain_pick(const struct slot_store *s, const size_t *need,
			  const uint32_t *skip, size_t nskip, uint32_t *out);

/*
 * When need[] does not fit (the caller has found so), let a class short
 * of slots borrow the free slots of larger classes (a chunk may live in
 * any slot that holds it): its shortfall moves up one class at a time,
 * smallest class first.
 * Only a store with no region left to grow into gets here, so wasting a
 * bigger slot beats refusing a write while free space remains; but not
 * while a region could be emptied for need[] (compact.c): a 2-byte file
 * in a 1 MiB slot spends the free slots that emptying a region would
 * have turned into a thousand 4 KiB ones.
 */
static bool al_fits_borrowing(const struct slot_store *s, size_t *need)
{
	uint32_t r;
	if (!s->cp_gave_up && al_drain_pick(s, need, NULL, 0, &r))
		return false;
	for (unsigned c = 0; c + 1 < s->ncls; c++) {
		if (need[c] <= s->cls[c].nfree)
			continue;       /* nothing moved: fits no better */
		need[c + 1] += need[c] - s->cls[c].nfree;
		need[c] = s->cls[c].nfree;
		if (al_fits(s, need))
			return true;
	}
	return false;
}

bool sl_alloc_tight(const struct slot_store *s)
{
	uint32_t r;     /* the count first: the search walks regions */
	return s->cls[s->ncls - 1].nfree < 2 * SL_WB_TOTAL &&
	       !al_free_region(s, &r);
}

bool sl_alloc_fits(const struct slot_store *s, const size_t *need)
{
	size_t n[SL_CLASS_MAX];
	memcpy(n, need, sizeof(n));
	return al_fits(s, n) || al_fits_borrowing(s, n);
}

/* The last shortfall of this thread's allocations: the retry that follows
 * on the same thread (sl_alloc_retry) makes room for it.  One store-wide
 * record let concurrent writers take or overwrite each other's, and a
 * retry that found it empty made no room (ENOSPC with 6-16% free). */
static __thread struct {
	const struct slot_store *s;
	size_t want[SL_CLASS_MAX];
} al_short;

void sl_alloc_short(struct slot_store *s, const size_t *need)
{
	al_short.s = s;
	memcpy(al_short.want, need, sizeof(al_short.want));
}

void sl_alloc_short_take(const struct slot_store *s, size_t *want)
{
	if (al_short.s == s)
		memcpy(want, al_short.want, sizeof(al_short.want));
	else
		memset(want, 0, sizeof(al_short.want));
	memset(&al_short, 0, sizeof(al_short));
}

/* The slots n items of classes cls[] need, per class, with the chunks
 * fallocate promised (resv.c): they count as chunk slots wanted too,
 * never handed out by sl_slots_alloc. */
static void al_need(const struct slot_store *s, const unsigned *cls,
		    size_t n, size_t *need)
{
	memset(need, 0, SL_CLASS_MAX * sizeof(*need));
	for (size_t i = 0; i < n; i++)
		need[cls[i]]++;
	need[s->ncls - 1] += s->resv_slots;
}

/* r into the regions whose headers an allocation writes, once. */
static void al_owed_add(uint32_t *rs, size_t *n, uint32_t r)
{
	for (size_t i = 0; i < *n; i++)
		if (rs[i] == r)
			return;
	rs[(*n)++] = r;
}

int sl_slots_alloc(struct slot_store *s, const unsigned *cls, size_t n,
		   uint64_t *refs, uint32_t *new_regions, size_t *nnew)
{
	size_t need[SL_CLASS_MAX];
	unsigned *moved = NULL;
	int err = 0;
	unsigned top = s->ncls - 1;
	*nnew = 0;
again:
	/* check it all fits before changing anything: all or nothing, the
	 * promised chunks still fitting after */
	al_need(s, cls, n, need);
	bool fits = al_fits(s, need);
	/* borrowing leaves in need[] the plan it found */
	if (!fits && !al_fits_borrowing(s, need)) {
		/* what a discard holds comes back when it is done */
		if (s->trimming) {
			pthread_cond_wait(&s->trim_cond, &s->lock);
			goto again;
		}
		al_need(s, cls, n, need);       /* what was asked, for
						   compaction */
		sl_alloc_short(s, need);
		return -ENOSPC;
	}
	need[top] -= s->resv_slots;     /* borrowing only adds to it */
	if (!fits) {
		/* each item takes the smallest class at or above its own
		 * that still has room in the plan */
		size_t left[SL_CLASS_MAX];
		memcpy(left, need, sizeof(left));
		moved = malloc(n * sizeof(*moved));
		if (!moved)
			return -ENOMEM;
		for (unsigned c = 0; c < s->ncls; c++) {
			for (size_t i = 0; i < n; i++) {
				if (cls[i] != c)
					continue;
				unsigned k = c;
				while (k < s->ncls && !left[k])
					k++;
				if (k == s->ncls) {
					err = -ENOSPC; /* cannot happen: the
							  plan holds them */
					goto out;
				}
				left[k]--;
				moved[i] = k;
			}
		}
		cls = moved;
	}
	for (unsigned c = 0; c < s->ncls; c++) {
		size_t grew = *nnew;
		while (need[c] > s->cls[c].nfree) {
			uint32_t r;
			err = al_take_region(s, c, need, &r);
			if (err)
				goto out; /* cannot happen: counted above */
			err = sl_region_assign(s, r, c, s->next_gen++);
			if (err)
				goto out;
			new_regions[(*nnew)++] = r;
		}
		if (*nnew == grew)
			continue;
		/*
		 * Each new region costs a header write and a device flush
		 * (sl_regions_write), so a class that had to grow takes a few
		 * spare unused regions in the same flush: a stream of puts
		 * then pays it once per several regions.  Spares stay empty,
		 * and an empty region goes to whichever class needs it.
		 */
		for (unsigned k = 0; k < AL_SPARE_REGIONS &&
		     s->cls[c].nfree < need[c] * (1 + AL_SPARE_BATCHES); k++) {
			uint32_t r;
			if (!al_free_region(s, &r) ||
			    sl_region_assign(s, r, c, s->next_gen++))
				break;
			new_regions[(*nnew)++] = r;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct sl_class *c = &s->cls[cls[i]];
		uint64_t ref = c->free[--c->nfree];
		struct sl_region *rg = &s->regions[sl_slot_region(ref)];
		uint8_t *st = &rg->state[sl_slot_index(ref)];
		*st = (uint8_t)((*st & ~SL_SLOT_STATE) | SL_SLOT_USED);
		rg->nused++;
		s->slots_used++;
		refs[i] = ref;
		/* a header that failed, or that another writer is still
		 * writing: this writer writes it too before its slot */
		if (atomic_load(&rg->hdr_owed))
			al_owed_add(new_regions, nnew, sl_slot_region(ref));
	}
out:
	free(moved);
	return err;
}

static void al_make_free(struct slot_store *s, uint64_t ref)
{
	struct sl_region *rg = &s->regions[sl_slot_region(ref)];
	uint8_t *st = &rg->state[sl_slot_index(ref)];
	*st = (uint8_t)(*st & ~SL_SLOT_STATE);
	rg->nused--;
	rg->trimmed = false;
	s->freed_gen++;
	if (sl_slot_region(ref) < s->alloc_limit &&
	    !al_draining(s, sl_slot_region(ref)))
		al_push_free(&s->cls[rg->cls], ref);
}

/* Free ref: a pin while a checkpoint names it; else, held (a deleted
 * object's, sl_slot_free_held), a pin too until the deletion is durable;
 * else quarantined until the next flush. */
static void al_slot_free(struct slot_store *s, uint64_t ref, bool held)
{
	if (!sl_slot_valid(s, ref))
		return;
	struct sl_region *rg = &s->regions[sl_slot_region(ref)];
	uint8_t *st = &rg->state[sl_slot_index(ref)];
	if ((*st & SL_SLOT_STATE) != SL_SLOT_USED)
		return;
	s->slots_used--;
	bool ckpt = *st & (SL_SLOT_CKPT | SL_SLOT_NEWCKPT);
	struct sl_vec *to = ckpt ? &s->pin : held && !s->loading ?
			    &s->jnl_hold : &s->quar;
	*st = (uint8_t)((*st & ~SL_SLOT_STATE) |
			(to == &s->quar ? SL_SLOT_QUAR : SL_SLOT_PIN));
	rg->npend++;
	sl_vec_push(to, ref);   /* on failure: leaked until remount */
}

void sl_slot_free(struct slot_store *s, uint64_t ref)
{
	al_slot_free(s, ref, false);
}

void sl_slot_free_held(struct slot_store *s, uint64_t ref)
{
	al_slot_free(s, ref, true);
}

/* A free slot, already off its class's free stack, becomes used. */
static void al_mark_used(struct slot_store *s, struct sl_region *rg,
			 uint64_t ref)
{
	uint8_t *st = &rg->state[sl_slot_index(ref)];
	*st = (uint8_t)((*st & ~SL_SLOT_STATE) | SL_SLOT_USED);
	rg->nused++;
	s->slots_used++;
}

int sl_slot_claim(struct slot_store *s, uint64_t ref)
{
	if (!sl_slot_valid(s, ref))
		return -EUCLEAN;
	struct sl_region *rg = &s->regions[sl_slot_region(ref)];
	uint8_t *st = &rg->state[sl_slot_index(ref)];
	if ((*st & SL_SLOT_STATE) != SL_SLOT_FREE)
		return -EUCLEAN;
	/* off the free stack; while loading there are none yet */
	struct sl_class *c = &s->cls[rg->cls];
	for (size_t i = c->nfree; !s->loading && i-- > 0;) {
		if (c->free[i] == ref) {
			c->free[i] = c->free[--c->nfree];
			break;
		}
	}
	al_mark_used(s, rg, ref);
	return 0;
}

void sl_slot_unclaim(struct slot_store *s, uint64_t ref)
{
	struct sl_region *rg = &s->regions[sl_slot_region(ref)];
	uint8_t *st = &rg->state[sl_slot_index(ref)];
	if ((*st & SL_SLOT_STATE) != SL_SLOT_USED)
		return;
	*st = 0;
	s->slots_used--;
	if (s->loading) {
		rg->nused--;
		return;
	}
	al_make_free(s, ref);
}

int sl_alloc_rebuild(struct slot_store *s)
{
	for (unsigned c = 0; c < s->ncls; c++)
		s->cls[c].nfree = 0;
	for (uint32_t r = SL_MIN(s->nregions, s->alloc_limit); r-- > 0;) {
		struct sl_region *rg = &s->regions[r];
		if (rg->cls == SL_RGN_FREE)
			continue;
		struct sl_class *c = &s->cls[rg->cls];
		for (uint32_t j = rg->nslots; j-- > 0;)
			if ((rg->state[j] & SL_SLOT_STATE) == SL_SLOT_FREE &&
			    al_push_free(c, sl_slot_ref(r, j)))
				return -ENOMEM;
	}
	s->loading = false;
	return 0;
}

uint64_t sl_slots_bytes(const struct slot_store *s, const struct sl_vec *v)
{
	uint64_t b = 0;
	for (size_t i = 0; i < v->n; i++)
		b += 1ull << s->cls[sl_slot_cls(s, v->v[i])].shift;
	return b;
}

void sl_quar_take(struct slot_store *s, struct sl_vec *out)
{
	*out = s->quar;
	memset(&s->quar, 0, sizeof(s->quar));
}

void sl_quar_release(struct slot_store *s, struct sl_vec *taken)
{
	for (size_t i = 0; i < taken->n; i++) {
		uint64_t ref = taken->v[i];
		struct sl_region *rg = &s->regions[sl_slot_region(ref)];
		if ((rg->state[sl_slot_index(ref)] & SL_SLOT_STATE) ==
		    SL_SLOT_QUAR) {
			rg->npend--;
			al_make_free(s, ref);
		}
	}
	free(taken->v);
	memset(taken, 0, sizeof(*taken));
}

void sl_pin_release(struct slot_store *s, struct sl_vec *taken)
{
	for (size_t i = 0; i < taken->n; i++) {
		uint64_t ref = taken->v[i];
		struct sl_region *rg = &s->regions[sl_slot_region(ref)];
		uint8_t *st = &rg->state[sl_slot_index(ref)];
		if ((*st & SL_SLOT_STATE) == SL_SLOT_PIN &&
		    !(*st & SL_SLOT_NEWCKPT)) {
			*st = (uint8_t)(*st & ~SL_SLOT_CKPT);
			rg->npend--;
			al_make_free(s, ref);
		} else if ((*st & SL_SLOT_STATE) == SL_SLOT_PIN) {
			sl_vec_push(&s->pin, ref); /* still referenced */
		}
	}
	free(taken->v);
	memset(taken, 0, sizeof(*taken));
}

bool sl_alloc_reclaimable(const struct slot_store *s)
{
	return s->quar.n > 0 || s->pin.n > 0 || s->jnl_hold.n > 0 ||
	       s->jnl_slots.n > 0;
}

int sl_regions_write(struct slot_store *s, const uint32_t *rs, size_t n)
{
	if (!n)
		return 0;
	uint32_t bs = s->sb.block_size;
	uint8_t *buf = sl_alloc_aligned((size_t)bs * n);
	struct slot_io *ios = calloc(n, sizeof(*ios));
	uint64_t *gens = calloc(n, sizeof(*gens));
	int err = -ENOMEM;
	if (!buf || !ios || !gens)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct sl_rgn_hdr h = { 0 };
		h.magic = SL_MAGIC_RGN;
		memcpy(h.uuid, s->hdr_uuid, 16);
		h.region = rs[i];
		h.cls = s->regions[rs[i]].cls;
		h.assign_gen = gens[i] = s->regions[rs[i]].assign_gen;
		sl_rgn_hdr_encode(&h, buf + (size_t)bs * i);
		ios[i].buf = buf + (size_t)bs * i;
		ios[i].off = sl_region_off(s, rs[i]);
		ios[i].len = bs;
	}
	err = sl_write(s, ios, n);
	/* the scan needs the class before any slot in it can matter */
	if (!err)
		err = sl_dev_flush(s);
	/* owed no more, unless reassigned meanwhile (a new header owed) */
	for (size_t i = 0; !err && i < n; i++)
		atomic_compare_exchange_strong(&s->regions[rs[i]].hdr_owed,
					       &gens[i], 0);
out:
	free(buf);
	free(ios);
	free(gens);
	return err;
}

uint64_t sl_held_begin(struct slot_store *s, const struct sl_vec *v)
{
	uint64_t bytes = sl_slots_bytes(s, v);
	s->quar_held += v->n;
	s->held_bytes += bytes;
	return bytes;
}

void sl_held_end(struct slot_store *s, const struct sl_vec *v, uint64_t bytes)
{
	s->quar_held -= v->n;
	s->held_bytes -= bytes;
	if (v->n)
		pthread_cond_broadcast(&s->held_cond);
}

int sl_flush(struct slot_store *s)
{
	struct sl_vec taken;
	sl_lock(s);
	sl_quar_take(s, &taken);
	uint64_t bytes = sl_held_begin(s, &taken);
	sl_unlock(s);
	int err = sl_ext_flush(s);
	/* wait out reads that may still hold a quarantined slot */
	bool gate = !err && taken.n;
	if (gate)
		pthread_rwlock_wrlock(&s->reuse_lock);
	sl_lock(s);
	sl_held_end(s, &taken, bytes);
	if (err) {
		/* not flushed: they stay in quarantine */
		for (size_t i = 0; i < taken.n; i++)
			sl_vec_push(&s->quar, taken.v[i]);
		free(taken.v);
	} else {
		sl_quar_release(s, &taken);
	}
	sl_unlock(s);
	if (gate)
		pthread_rwlock_unlock(&s->reuse_lock);
	return err;
}

int sl_reclaim(struct slot_store *s)
{
	/* a file just removed whose forget is on its way (FUSE): ext4 has
	 * freed its blocks by the time unlink(2) returns */
	bool went = sl_dying_wait(s);
	sl_lock(s);
	bool quar = s->quar.n > 0, held = s->quar_held > 0;
	/* a checkpoint under way frees its pins; the one forced below
	 * waits for it, and frees the journal's slots too */
	bool pin = s->pin.n > 0 || s->pin_held > 0 || s->jnl_hold.n > 0 ||
		   s->jnl_slots.n > 0;
	sl_unlock(s);
	if (!quar && !pin && !held)
		return went ? 0 : 1;
	int err = sl_flush(s);
	if (err)
		return err;
	if (pin) {
		err = slot_checkpoint(s, true);
		if (err < 0)
			return err;
	}
	/* another thread's flush took what was in quarantine: free when it
	 * is done (a few of them, should more start meanwhile) */
	sl_lock(s);
	for (int i = 0; held && s->quar_held && i < 8; i++)
		pthread_cond_wait(&s->held_cond, &s->lock);
	sl_unlock(s);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Emptying a region (compact.c moves its chunks)                      */
/* ------------------------------------------------------------------ */

/*
 * The region to empty so that need[] fits better: of a class need[] does
 * not lack, in use, neither trimmed nor beyond the allocation limit, whose
 * class has room in its other regions for the slots it uses while still
 * meeting need[]; of those the one with the fewest in use (the least to
 * copy).  Regions listed in skip[] are passed by.
 */
static bool al_drain_pick(const struct slot_store *s, const size_t *need,
			  const uint32_t *skip, size_t nskip, uint32_t *out)
{
	uint32_t best = UINT32_MAX;
	for (uint32_t r = 0; r < al_limit(s); r++) {
		const struct sl_region *rg = &s->regions[r];
		if (rg->cls == SL_RGN_FREE || !rg->nused ||
		    (s->trimming && s->trim_region == r))
			continue;
		const struct sl_class *c = &s->cls[rg->cls];
		uint32_t here = rg->nslots - rg->nused;  /* on the stack */
		if (c->nfree < here || need[rg->cls] > c->nfree ||
		    c->nfree - here < (uint64_t)rg->nused + need[rg->cls])
			continue;
		bool skipped = false;
		for (size_t i = 0; i < nskip && !skipped; i++)
			skipped = skip[i] == r;
		if (!skipped && (best == UINT32_MAX ||
				 rg->nused < s->regions[best].nused))
			best = r;
	}
	*out = best;
	return best != UINT32_MAX;
}

int sl_drain_begin(struct slot_store *s, const size_t *need,
		   const uint32_t *skip, size_t nskip, uint32_t *out)
{
	uint32_t r;
	if (s->draining || !al_drain_pick(s, need, skip, nskip, &r))
		return -ENOSPC;
	al_free_drop(s, r);
	s->draining = true;
	s->drain_region = r;
	*out = r;
	return 0;
}

int sl_drain_end(struct slot_store *s)
{
	uint32_t r = s->drain_region;
	struct sl_region *rg = &s->regions[r];
	s->draining = false;
	if (!rg->nused) {
		sl_region_unassign(s, r);
		return 0;
	}
	/* not empty: its free slots go back to use */
	struct sl_class *c = &s->cls[rg->cls];
	for (uint32_t j = rg->nslots; j-- > 0;)
		if ((rg->state[j] & SL_SLOT_STATE) == SL_SLOT_FREE &&
		    al_push_free(c, sl_slot_ref(r, j)))
			return -ENOMEM; /* left off the stack: unused until
					   the next open */
	return -EBUSY;
}

/* ------------------------------------------------------------------ */
/* Discard (fstrim)                                                    */
/* ------------------------------------------------------------------ */

/* Lock held.  Region r's free slots claimed in one pass over their
 * class's free stack (sl_slot_claim searches it for each), so that no
 * write is given one while it is discarded. */
static void al_trim_take(struct slot_store *s, uint32_t r, struct sl_vec *v)
{
	struct sl_region *rg = &s->regions[r];
	struct sl_class *c = &s->cls[rg->cls];
	size_t j = 0;
	for (size_t i = 0; i < c->nfree; i++) {
		uint64_t ref = c->free[i];
		if (sl_slot_region(ref) != r || sl_vec_push(v, ref))
			c->free[j++] = ref;
		else
			al_mark_used(s, rg, ref);
	}
	c->nfree = j;
}

struct al_trim {
	uint64_t start, end, minlen;    /* what was asked */
	uint64_t trimmed;
};

/* Discard [a, b) clipped to the range asked, in whole blocks, if at
 * least minlen remains. */
static int al_trim_range(struct slot_store *s, struct al_trim *t, uint64_t a,
			 uint64_t b)
{
	uint64_t bs = s->sb.block_size;
	a = SL_ALIGN_UP(SL_MAX(a, t->start), bs);
	b = SL_MIN(b, t->end) / bs * bs;
	if (b <= a || b - a < t->minlen)
		return 0;
	int err = sl_discard(s, a, b - a);
	if (!err)
		t->trimmed += b - a;
	return err;
}

/* Discard the free space of region r: all but its header when it is
 * unassigned, else each run of adjacent free slots. */
static int al_trim_region(struct slot_store *s, struct al_trim *t, uint32_t r)
{
	uint64_t roff = sl_region_off(s, r), bs = s->sb.block_size;
	struct sl_vec v = { 0 };
	sl_lock(s);
	struct sl_region *rg = &s->regions[r];
	if (rg->trimmed) {
		sl_unlock(s);
		return 0;
	}
	bool whole = rg->cls == SL_RGN_FREE;
	uint64_t stride = whole ? 0 : s->cls[rg->cls].stride;
	if (!whole)
		al_trim_take(s, r, &v);
	s->trimming = true;
	s->trim_region = r;
	sl_unlock(s);

	int err = 0;
	if (whole) {
		err = al_trim_range(s, t, roff + bs, roff + s->sb.region_size);
	} else {
		if (v.n)
			qsort(v.v, v.n, sizeof(*v.v), sl_u64_cmp);
		for (size_t i = 0, k; !err && i < v.n; i = k) {
			for (k = i + 1; k < v.n && sl_slot_index(v.v[k]) ==
			     sl_slot_index(v.v[k - 1]) + 1; k++)
				;
			uint64_t a = roff + bs + sl_slot_index(v.v[i]) * stride;
			err = al_trim_range(s, t, a, a + (k - i) * stride);
		}
	}

	sl_lock(s);
	for (size_t i = 0; i < v.n; i++)
		sl_slot_unclaim(s, v.v[i]);
	/* all of it went: the next trim can pass it by until a slot in it
	 * is freed (the unclaims above made it look so) */
	s->regions[r].trimmed = !err && t->start <= roff &&
				t->end >= roff + s->sb.region_size &&
				t->minlen <= bs;
	s->trimming = false;
	pthread_cond_broadcast(&s->trim_cond);
	sl_unlock(s);
	free(v.v);
	return err;
}

int sl_trim_free(struct slot_store *s, uint64_t start, uint64_t len,
		 uint64_t minlen, uint64_t *trimmed)
{
	struct al_trim t = { .start = start, .minlen = minlen,
			     .end = len > UINT64_MAX - start ? UINT64_MAX :
			     start + len };
	int err = 0;
	*trimmed = 0;
	if (!s->dev->ops->discard)
		return -EOPNOTSUPP;
	/* one region at a time, so writes wait for little of the space */
	pthread_mutex_lock(&s->trim_lock);
	for (uint32_t r = 0; !err && r < s->nregions; r++) {
		uint64_t roff = sl_region_off(s, r);
		if (roff < t.end && roff + s->sb.region_size > t.start)
			err = al_trim_region(s, &t, r);
	}
	pthread_mutex_unlock(&s->trim_lock);
	*trimmed = t.trimmed;
	return err;
}

void sl_discard_freed(struct slot_store *s)
{
	sl_lock(s);
	bool due = atomic_load(&s->discard) &&
		   s->freed_gen != s->discard_seen;
	s->discard_seen = s->freed_gen;
	sl_unlock(s);
	uint64_t n;
	int err = due ? slot_trim(s, 0, UINT64_MAX, 0, &n) : 0;
	if (err == -EOPNOTSUPP) {
		sl_log(s, "online discard: the device cannot discard; off");
		atomic_store(&s->discard, false);
	} else if (err) {
		sl_log(s, "online discard: %s", slot_strerror(err));
	}
}

int slot_set_discard(struct slot_store *s, bool on)
{
	if (s->read_only)
		return -EROFS;
	if (on && !s->dev->ops->discard)
		return -EOPNOTSUPP;
	atomic_store(&s->discard, on);
	return 0;
}

int slot_trim(struct slot_store *s, uint64_t start, uint64_t len,
	      uint64_t minlen, uint64_t *trimmed)
{
	*trimmed = 0;
	if (s->read_only)
		return -EROFS;
	/* slots freed since the last checkpoint, or the last flush, are
	 * not free yet: a checkpoint and a flush make them so.  Should
	 * those fail (an image whose own file system is full), what is
	 * free goes back all the same, which may give them the room they
	 * need, and fstrim says so after: it said "trimmed", and the
	 * files removed kept their space */
	int reclaimed = sl_reclaim(s);
	int err = sl_trim_free(s, start, len, minlen, trimmed);
	return err ? err : SL_MIN(reclaimed, 0);
}
