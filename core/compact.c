/* SPDX-License-Identifier: MIT */
/*
 * compact.c - regions given back to the pool when a class runs short.
 *
 * A region holds slots of one class (alloc.c).  Once every region holds
 * some chunks of a small class, a large chunk finds neither a slot nor a
 * region to grow into, however many small slots are free: df would show
 * space a 1 MiB write cannot have.  So an allocation that comes up short,
 * after the flush and checkpoint that free what waits (sl_reclaim),
 * empties regions: the chunks of the least used region of a class with
 * room elsewhere are written again in that class's other slots (copies,
 * as slot_shrink makes: at recovery the newer header wins; they take no
 * lock of the file, as the thread that ran short may hold any), a
 * checkpoint moves past the old slots, and the region, empty, goes back
 * to the pool for whichever class needs it.  Crash-safe by the
 * allocator's rules: an old slot is reused only after a flush and a
 * checkpoint without it.
 */
#include <inttypes.h>
#include <sched.h>

#include "internal.h"

#define CP_FAILS 8      /* regions that would not empty, per call */
#define CP_PASSES 4     /* passes over chunks whose files were busy */

/* The chunks in region r, as (oid, index) pairs. */
static int cp_chunks_in(struct slot_store *s, uint32_t r, struct sl_vec *v)
{
	int err = 0;
	sl_lock(s);
	for (size_t b = 0; !err && b <= s->ix.obj_mask; b++)
		for (struct sl_obj *o = s->ix.obj_tab[b]; !err && o;
		     o = o->hnext)
			for (size_t k = 0; !err && k < o->nchunks; k++)
				if (sl_slot_region(o->chunks[k].slot) == r &&
				    !(err = sl_vec_push(v, o->oid)))
					err = sl_vec_push(v, o->chunks[k].idx);
	sl_unlock(s);
	return err;
}

/* Copy region r's chunks out.  One of a file with a write in flight
 * (-EBUSY: a copy waits for none, see SL_OBJ_MOVING) is tried again
 * after the others, a few times, then left in place. */
static int cp_move(struct slot_store *s, uint32_t r)
{
	struct sl_vec v = { 0 };
	int err = cp_chunks_in(s, r, &v);
	for (int pass = 0; !err && v.n && pass < CP_PASSES; pass++) {
		size_t left = 0;
		if (pass)
			sched_yield();
		for (size_t i = 0; !err && i < v.n; i += 2) {
			uint32_t copied = 0;
			int e = sl_file_move_chunk(s, v.v[i],
						   (uint32_t)v.v[i + 1], r,
						   &copied);
			if (copied) {
				atomic_fetch_add(&s->cp_chunks, 1);
				atomic_fetch_add(&s->cp_bytes, copied);
			}
			if (e == -EBUSY) {
				v.v[left++] = v.v[i];
				v.v[left++] = v.v[i + 1];
			} else if (e != -ENOENT) {
				err = e;        /* gone meanwhile: nothing */
			}
		}
		v.n = left;
	}
	free(v.v);
	return err;
}

/* The old slots are free once a flush and a checkpoint without them are
 * durable (one more when a checkpoint under way had snapshotted them). */
static int cp_release(struct slot_store *s, uint32_t r)
{
	for (int i = 0; i < 3; i++) {
		sl_lock(s);
		bool empty = !s->regions[r].nused;
		sl_unlock(s);
		int err = empty ? 0 : sl_reclaim(s);
		if (empty || err)
			return SL_MIN(err, 0);
	}
	return 0;
}

/* Empty one region for want[]: 1 when one went back to the pool, 0 when
 * the one tried would not empty (added to skip[]), -ENOSPC when no region
 * would do. */
static int cp_region(struct slot_store *s, const size_t *want, uint32_t *skip,
		     size_t *nskip)
{
	uint32_t r;
	sl_lock(s);
	int err = s->resizing ? -ENOSPC :
		  sl_drain_begin(s, want, skip, *nskip, &r);
	sl_unlock(s);
	if (err)
		return err;
	err = cp_move(s, r);
	if (!err)
		err = cp_release(s, r);
	sl_lock(s);
	int end = sl_drain_end(s);
	sl_unlock(s);
	if (err == -ENOMEM || end == -ENOMEM)
		return -ENOMEM;
	if (err || end) {
		/* an unreadable chunk, or a writer's: try another */
		if (err)
			sl_log(s, "compaction: region %" PRIu32 " not "
			       "emptied: %s", r, slot_strerror(err));
		skip[(*nskip)++] = r;
		atomic_fetch_add(&s->cp_failed, 1);
		return 0;
	}
	atomic_fetch_add(&s->cp_regions, 1);
	return 1;
}

int sl_alloc_retry(struct slot_store *s)
{
	int err = sl_reclaim(s);
	if (err < 0)
		return err;
	bool freed = !err;
	/* used up: an ENOSPC of another kind (a full checkpoint container)
	 * must not empty regions for it */
	size_t want[SL_CLASS_MAX];
	sl_alloc_short_take(s, want);
	sl_lock(s);
	s->cp_gave_up = false;  /* emptying regions is worth a try again */
	bool fits = sl_alloc_fits(s, want);
	uint32_t most = s->nregions;
	sl_unlock(s);
	/* a copy made here that runs short finds the lock its own */
	if (fits || pthread_mutex_lock(&s->compact_lock))
		return fits || freed ? 0 : -ENOSPC;
	uint32_t skip[CP_FAILS];
	size_t nskip = 0;
	for (uint32_t n = 0; !fits && nskip < CP_FAILS && n < most; n++) {
		err = cp_region(s, want, skip, &nskip);
		if (err < 0)
			break;
		sl_lock(s);
		fits = sl_alloc_fits(s, want);
		sl_unlock(s);
	}
	if (!fits) {
		/* no region would empty: larger slots, if any are free */
		sl_lock(s);
		s->cp_gave_up = true;
		fits = sl_alloc_fits(s, want);
		sl_unlock(s);
	}
	pthread_mutex_unlock(&s->compact_lock);
	/* the copies' own shortfalls, if any, are not the caller's */
	size_t stale[SL_CLASS_MAX];
	sl_alloc_short_take(s, stale);
	if (err == -ENOMEM)
		return err;
	return fits || freed ? 0 : -ENOSPC;
}
