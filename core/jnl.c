/* SPDX-License-Identifier: MIT */
/*
 * jnl.c - the journal of namespace changes, and of small writes' bytes.
 *
 * A name made, linked, removed or moved, a mode, owner or time set, a
 * file cut to a size or a hole punched in it, changes the index alone,
 * and a checkpoint writes the index whole: fsync of a directory, and
 * sync, cost time in proportion to the files in the store.  So each such
 * change is also logged here as it is made (sl_jnl_add, store lock
 * held), and an fsync or sync writes the records
 * logged since the last journal write into slots with a journal
 * header (one, unless they fill it), then flushes: time in proportion
 * to the changes.  Recovery
 * replays them, in order, on the checkpoint they continue
 * (sl_jnl_replay); a checkpoint's snapshot holds every change logged
 * before it, and frees the journal slots once it is durable.
 *
 * An fsync also logs here the blocks of small writes over chunks on the
 * device (WRITE records, file.c's fl_wb_journal), whose buffers stay:
 * one flush instead of a 1 MiB rewrite of each chunk.  A checkpoint
 * does not hold those bytes till the buffers are written out, so it
 * keeps the journal slots from the first such a buffer needs
 * (jnl_data_slots), and replay reads the WRITE records of those.
 *
 * The journal continues one checkpoint, which records its id and next
 * lsn: a read-write open after a clean close goes on with those of the
 * checkpoint it loaded, any other takes a random id.  It is used only
 * once a checkpoint of its id is durable, and only while every namespace
 * change since that checkpoint was logged (ns_changes == ns_persisted):
 * a record it could not keep (no memory, more since its last write than
 * one write takes) makes it wait for one.
 * FORMAT.md, "Journal", is the format.
 */
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Journal slots in use before a sync takes a checkpoint instead, which
 * frees them: 1024 of the smallest class hold 8 MiB at the defaults. */
#define JN_SLOTS_MAX 1024

/* The record bytes one journal slot holds. */
static size_t jn_max(const struct slot_store *s)
{
	return SL_MIN((size_t)256 << 10,
		      (size_t)1 << s->cls[s->ncls - 1].shift);
}

/* Lock held.  The records are taken: the next start a new first slot. */
static void jn_restart(struct slot_store *s)
{
	s->jnl_len = 0;
	s->jnl_nrec = s->jnl_nnames = 0;
	s->jnl_pieces = 0;
	s->jnl_cnt[0] = 0;
}

/* Lock held.  May the journal carry what changed since the checkpoint? */
static bool jn_usable(const struct slot_store *s)
{
	return s->jnl_id && s->jnl_ckpt_id == s->jnl_id &&
	       s->ns_changes == s->ns_persisted && !s->read_only;
}

/* Whether a record makes, moves or removes a name (not a SETATTR, a
 * TRUNC nor a PUNCH, which change what an object holds). */
static bool jn_is_name(const struct sl_jnl_rec *r)
{
	return r->type >= SL_JNL_MAKE && r->type <= SL_JNL_RENAME;
}

/* Lock held.  r into jnl_buf: 0, or -EAGAIN when it cannot go (no
 * journal, no memory, more than one journal write holds). */
static int jn_append(struct slot_store *s, const struct sl_jnl_rec *r)
{
	size_t size = sl_jnl_rec_size(r);
	/* a record that would take its journal slot past jn_max opens
	 * the next */
	size_t max = jn_max(s);
	bool next = s->jnl_len + size - s->jnl_cut[s->jnl_pieces] > max;
	if (!s->jnl_id || size > max ||
	    (next && s->jnl_pieces + 1 >= SL_JNL_SYNC_SLOTS))
		return -EAGAIN;
	if (s->jnl_len + size > s->jnl_cap) {
		size_t cap = SL_MAX(SL_MAX(s->jnl_cap * 2, (size_t)4096),
				    s->jnl_len + size);
		uint8_t *p = realloc(s->jnl_buf, cap);
		if (!p)
			return -EAGAIN;
		s->jnl_buf = p;
		s->jnl_cap = cap;
	}
	if (next) {
		s->jnl_cut[++s->jnl_pieces] = s->jnl_len;
		s->jnl_cnt[s->jnl_pieces] = 0;
	}
	s->jnl_cnt[s->jnl_pieces]++;
	s->jnl_len += sl_jnl_rec_encode(r, s->jnl_buf + s->jnl_len);
	s->jnl_nrec++;
	s->jnl_nnames += jn_is_name(r);
	s->jnl_ops++;
	return 0;
}

int sl_jnl_add(struct slot_store *s, const struct sl_jnl_rec *r)
{
	sl_dirty(s);
	int err = jn_append(s, r);
	/* a change lost to the journal waits for a checkpoint; lost data
	 * goes out in its chunk */
	if (err && r->type != SL_JNL_WRITE)
		sl_ns_dirty(s);
	return err;
}

/* Journal slots in use (jnl_slots holds pairs). */
static size_t jn_slots_used(const struct slot_store *s)
{
	return s->jnl_slots.n / 2;
}

size_t sl_jnl_span(const struct slot_store *s)
{
	uint64_t area = (uint64_t)s->sb.region_count * s->sb.region_size;
	/* slots of the largest class, should the others be all taken */
	uint64_t slot = 1ull << s->cls[s->ncls - 1].shift;
	return SL_MAX(SL_MIN((size_t)JN_SLOTS_MAX / 2,
			     (size_t)(area / 16 / slot)), (size_t)4);
}

bool sl_jnl_usable(const struct slot_store *s)
{
	/* a quarter of JN_SLOTS_MAX stays for the names' records */
	return jn_usable(s) && jn_slots_used(s) < 2 * sl_jnl_span(s) &&
	       jn_slots_used(s) < JN_SLOTS_MAX / 4 * 3;
}

/* Lock held.  1 + the lsn of the first journal slot a checkpoint now
 * would keep: the first a buffer or a journal write under way holds
 * WRITE records in (0: none). */
static uint64_t jn_keep(const struct slot_store *s)
{
	uint64_t keep = sl_file_jnl_lsn(s);
	if (s->jnl_sync_data && (!keep || s->jnl_sync_data < keep))
		keep = s->jnl_sync_data;
	return keep;
}

/* Whether a checkpoint keeps journal slot lsn, below keep (jn_keep). */
static bool jn_kept(uint64_t keep, uint64_t lsn)
{
	return keep && lsn + 1 >= keep;
}

bool sl_jnl_crowded(const struct slot_store *s)
{
	size_t span = sl_jnl_span(s);
	if (jn_slots_used(s) < span / 2 * 3)
		return false;
	/* and a checkpoint would free half a span of them */
	uint64_t keep = jn_keep(s);
	size_t freed = 0;
	for (size_t i = 0; i + 1 < s->jnl_slots.n; i += 2)
		freed += !jn_kept(keep, s->jnl_slots.v[i + 1]);
	return freed >= span / 2;
}

size_t sl_jnl_room(const struct slot_store *s)
{
	size_t all = SL_JNL_SYNC_SLOTS * jn_max(s);
	/* a slot may end short of its bound by a record's size */
	size_t slack = SL_JNL_SYNC_SLOTS * (SL_JNL_REC_FIXED + SL_JNL_DATA_MAX);
	return s->jnl_len + slack < all ? all - s->jnl_len - slack : 0;
}

/* The record at *at of the len bytes at p, into r, and *at past it;
 * false at the end, or at a record that does not hold. */
static bool jn_next(const uint8_t *p, size_t len, size_t *at,
		    struct sl_jnl_rec *r)
{
	int64_t n = *at < len ? sl_jnl_rec_decode(p + *at, len - *at, r) : -1;
	if (n <= 0)
		return false;
	*at += (size_t)n;
	return true;
}

/* The objects whose names a record gives: its oid (for an UNLINK, the
 * names left to it), and for an exchange the other one (in rdev); none
 * for what changes an object's contents. */
static size_t jn_named(const struct sl_jnl_rec *r, uint64_t oid[2])
{
	if (!jn_is_name(r))
		return 0;
	oid[0] = r->oid;
	oid[1] = r->rdev;
	return r->type == SL_JNL_RENAME && (r->flags & SL_JNL_EXCHANGE) ? 2 : 1;
}

/* Lock held.  Whether o's size and chunks are still as the cut r left
 * them: no chunk written since (none of a gen from its cut on), none
 * buffered. */
static bool jn_cut_is_last(const struct sl_obj *o, const struct sl_jnl_rec *r)
{
	return S_ISREG(o->mode) && o->size == r->rdev && !o->wb &&
	       !sl_obj_written_since(o, r->parent);
}

/* What a journal write took off objects, to give back should it fail:
 * the files whose attributes (ATTR_DIRTY) or cut chunks (CUT) it
 * carries. */
struct jn_cleared {
	struct sl_vec attrs, cuts;
};

/* Lock held.  The journal slot carries o's attributes: its ATTR_DIRTY
 * goes (into c, to come back should the write fail), unless only a
 * checkpoint has some change of it (CKPT_OWED). */
static void jn_attrs_taken(struct jn_cleared *c, struct sl_obj *o)
{
	if ((o->flags & SL_OBJ_ATTR_DIRTY) && !(o->flags & SL_OBJ_CKPT_OWED) &&
	    !sl_vec_push(&c->attrs, o->oid))
		o->flags &= (uint16_t)~SL_OBJ_ATTR_DIRTY;
}

/*
 * Lock held, at a take of the records at p.  The objects they name are
 * marked (JNL_NAMING; a rename before the write is durable clears it).
 * Each SETATTR record gets its object's mode, owner and times as they
 * are now (mode 0: the object is gone), and a regular file's ATTR_DIRTY,
 * unless its size lags too (ext.c), goes: the journal slot carries them,
 * so neither an fsync's rewrite of the last chunk nor a checkpoint is
 * owed for them.  A TRUNC's or a PUNCH's file loses its CUT: replay drops
 * the chunks the cut or the hole left behind.
 */
static bool jn_take(struct slot_store *s, uint8_t *p, size_t len,
		    struct jn_cleared *cleared)
{
	struct sl_jnl_rec r;
	bool data = false;
	for (size_t at = 0, here = 0; jn_next(p, len, &at, &r); here = at) {
		data |= r.type == SL_JNL_WRITE;
		uint64_t oid[2];
		for (size_t k = jn_named(&r, oid); k-- > 0;) {
			struct sl_obj *o = sl_obj_find(&s->ix, oid[k]);
			if (o)
				o->flags |= SL_OBJ_JNL_NAMING;
		}
		if (r.type == SL_JNL_TRUNC || r.type == SL_JNL_PUNCH) {
			struct sl_obj *o = sl_obj_find(&s->ix, r.oid);
			if (o && (o->flags & SL_OBJ_CUT) &&
			    !sl_vec_push(&cleared->cuts, o->oid))
				o->flags &= (uint16_t)~SL_OBJ_CUT;
			/* nothing written since the cut: its size is the
			 * record's, over data its write's barrier puts down */
			if (o && r.type == SL_JNL_TRUNC && jn_cut_is_last(o, &r))
				jn_attrs_taken(cleared, o);
		}
		if (r.type != SL_JNL_SETATTR)
			continue;
		struct sl_obj *o = sl_obj_find(&s->ix, r.oid);
		r.mode = o ? o->mode : 0;
		if (o) {
			r.uid = o->uid;
			r.gid = o->gid;
			r.parent = (uint64_t)o->mtime;
			r.parent2 = (uint64_t)o->atime;
			r.time_ns = o->ctime;
		}
		sl_jnl_rec_encode(&r, p + here);
		if (o && S_ISREG(o->mode) &&
		    sl_ext_size(s, o, -1, false) >= o->size)
			jn_attrs_taken(cleared, o);
	}
	return data;
}

/* Lock held.  The objects of oids get flag back (a write failed). */
static void jn_mark_again(struct slot_store *s, const struct sl_vec *oids,
			  uint16_t flag)
{
	for (size_t i = 0; i < oids->n; i++) {
		struct sl_obj *o = sl_obj_find(&s->ix, oids->v[i]);
		if (o)
			o->flags |= flag;
	}
}

/* Lock held: the write of the records jn_take took, into slots of lsn
 * lsn0 on (slot i from byte cut[i]), is over.  ok: the
 * objects still marked are named (a made one by the journal for good,
 * JNL_MADE); else the marks go and the attributes are owed again.  A
 * WRITE record's buffer learns how it went. */
static void jn_settle(struct slot_store *s, const uint8_t *p, size_t len,
		      const size_t *cut, uint64_t lsn0, bool ok,
		      const struct jn_cleared *cleared)
{
	struct sl_jnl_rec r;
	size_t piece = 0;
	for (size_t at = 0, here = 0; jn_next(p, len, &at, &r); here = at) {
		while (here >= cut[piece + 1])
			piece++;
		if (r.type == SL_JNL_WRITE)
			sl_file_jnl_settle(s, &r, lsn0 + piece, ok);
		uint64_t oid[2];
		for (size_t k = jn_named(&r, oid); k-- > 0;) {
			struct sl_obj *o = sl_obj_find(&s->ix, oid[k]);
			if (!o)
				continue;
			if (ok && r.type == SL_JNL_MAKE)
				o->flags |= SL_OBJ_JNL_MADE;
			if (ok && (o->flags & SL_OBJ_JNL_NAMING))
				o->flags |= SL_OBJ_NAMED;
			o->flags &= ~SL_OBJ_JNL_NAMING;
		}
	}
	if (!ok) {
		jn_mark_again(s, &cleared->attrs, SL_OBJ_ATTR_DIRTY);
		jn_mark_again(s, &cleared->cuts, SL_OBJ_CUT);
	}
}

/* Lock held.  Of the records not yet written, keep the WRITE records
 * alone (writes: a checkpoint took the others, but does not hold their
 * bytes), or all but them (a journal write that could not be made: the
 * fsyncs that logged them write their buffers out instead). */
static void jn_filter(struct slot_store *s, bool writes)
{
	uint8_t *p = s->jnl_buf;
	size_t len = s->jnl_len;
	s->jnl_buf = NULL;
	s->jnl_cap = 0;
	jn_restart(s);
	struct sl_jnl_rec r;
	for (size_t at = 0; jn_next(p, len, &at, &r);) {
		bool write = r.type == SL_JNL_WRITE;
		if (write == writes && !jn_append(s, &r))
			continue;
		if (write)      /* its blocks are in no journal slot */
			sl_file_jnl_settle(s, &r, 0, false);
		else if (!writes)       /* lost: a checkpoint takes it */
			sl_ns_dirty(s);
	}
	free(p);
}

/* Journal slot ref, of lsn, onto v (pairs).  One whose ref is lost
 * stays in use till the next open: freed, it could be reused under the
 * records it holds. */
static void jn_pair_push(struct sl_vec *v, uint64_t ref, uint64_t lsn)
{
	if (!sl_vec_push(v, ref) && sl_vec_push(v, lsn))
		v->n--;
}

/* Lock held.  Journal slot ref, of lsn, is in use till a checkpoint
 * frees it. */
static void jn_slot_keep(struct slot_store *s, uint64_t ref, uint64_t lsn)
{
	jn_pair_push(&s->jnl_slots, ref, lsn);
}

/*
 * Writes the records logged since the last journal write, in as many
 * journal slots as they fill (SL_JNL_SYNC_SLOTS at most), of consecutive
 * lsns, then flushes once.  A crash before the flush leaves some of them
 * down: replay takes the slots up to the first missing one, a prefix of
 * the records in the order their changes were made, which is the store
 * as it was at some moment before the sync returned.
 */
int sl_jnl_sync(struct slot_store *s, bool *flushed)
{
	*flushed = false;
	pthread_mutex_lock(&s->jnl_lock);
	sl_lock(s);
	/* nothing left to write: a write before this one took the records,
	 * or a checkpoint under way did (then only it makes them durable) */
	int ret = 0;
	if (!s->jnl_nrec)
		ret = s->jnl_ops_done < s->jnl_ops ? -EAGAIN : 0;
	else if (!jn_usable(s) ||
		 jn_slots_used(s) + s->jnl_pieces >= JN_SLOTS_MAX ||
		 s->jnl_cutting)
		ret = -EAGAIN;
	bool write = !ret && s->jnl_nrec;
	/* slot i: the bytes [cut[i], cut[i + 1]) */
	size_t np = write ? s->jnl_pieces + 1 : 0;
	size_t cut[SL_JNL_SYNC_SLOTS + 1];
	memcpy(cut, s->jnl_cut, np * sizeof(*cut));
	cut[np] = s->jnl_len;
	/* the regions the slots may assign */
	uint32_t *newr = write ?
			 malloc(sizeof(*newr) * sl_new_regions_max(s, np)) :
			 NULL;
	if (!newr) {
		/* WRITE records not written are of no use: their fsyncs
		 * write their buffers out */
		jn_filter(s, false);
		sl_unlock(s);
		pthread_mutex_unlock(&s->jnl_lock);
		return write ? -EAGAIN : ret;
	}
	uint32_t bs = s->sb.block_size;
	size_t nnew = 0, io_total = 0;
	unsigned cls[SL_JNL_SYNC_SLOTS];
	uint64_t ref[SL_JNL_SYNC_SLOTS];
	for (size_t i = 0; i < np; i++) {
		cls[i] = sl_class_for(s, cut[i + 1] - cut[i]);
		io_total += bs + SL_ALIGN_UP(cut[i + 1] - cut[i], bs);
	}
	/* no slot of the classes that fit (regions all taken by chunks'
	 * class, say): the largest, which the chunks free */
	int aerr = sl_slots_alloc(s, cls, np, ref, newr, &nnew);
	if (aerr == -ENOSPC && cls[0] != s->ncls - 1) {
		for (size_t i = 0; i < np; i++)
			cls[i] = s->ncls - 1;
		aerr = sl_slots_alloc(s, cls, np, ref, newr, &nnew);
	}
	if (aerr) {
		jn_filter(s, false);
		sl_unlock(s);
		pthread_mutex_unlock(&s->jnl_lock);
		free(newr);
		return -EAGAIN; /* no room: a checkpoint needs none */
	}
	uint8_t *rec = s->jnl_buf;
	size_t len = s->jnl_len;
	struct sl_jnl_hdr h[SL_JNL_SYNC_SLOTS];
	for (size_t i = 0; i < np; i++) {
		h[i] = (struct sl_jnl_hdr){ .magic = SL_MAGIC_JNL,
			.gen = s->next_gen++, .jid = s->jnl_id,
			.lsn = s->jnl_lsn++,
			.payload_len = (uint32_t)(cut[i + 1] - cut[i]),
			.rec_count = s->jnl_cnt[i] };
		memcpy(h[i].uuid, s->hdr_uuid, 16);
	}
	uint64_t ops_at = s->jnl_ops;
	/* the slots of deletions it makes durable: free after it, and
	 * counted as a flush's are, so that an allocation or slot_trim
	 * short of them waits for it (held_cond) */
	struct sl_vec hold = s->jnl_hold;
	memset(&s->jnl_hold, 0, sizeof(s->jnl_hold));
	uint64_t hold_bytes = sl_held_begin(s, &hold);
	s->jnl_buf = NULL;
	s->jnl_cap = 0;
	jn_restart(s);
	struct jn_cleared cleared = { 0 };
	uint64_t lsn0 = np ? h[0].lsn : 0;
	/* a checkpoint meanwhile keeps these slots for their WRITEs */
	if (jn_take(s, rec, len, &cleared))
		s->jnl_sync_data = lsn0 + 1;
	bool barrier = s->jnl_barrier;
	s->jnl_barrier = false;
	sl_unlock(s);

	/* the slots go to the device together */
	uint8_t *io = sl_alloc_aligned(io_total);
	struct slot_io ios[SL_JNL_SYNC_SLOTS];
	int err = io ? 0 : -ENOMEM;
	for (size_t i = 0, at = 0; !err && i < np; i++) {
		size_t plen = h[i].payload_len;
		size_t io_len = bs + SL_ALIGN_UP(plen, bs);
		uint8_t *p = io + at;
		memcpy(p + bs, rec + cut[i], plen);
		memset(p + bs + plen, 0, io_len - bs - plen);
		h[i].payload_csum = sl_csum(p + bs, plen);
		sl_jnl_hdr_encode(&h[i], p);
		ios[i] = (struct slot_io){ .buf = p, .len = (uint32_t)io_len,
					   .off = sl_slot_off(s, ref[i]) };
		at += io_len;
	}
	/* what a TRUNC's size covers must be down before the record */
	if (!err && barrier)
		err = sl_flush(s);
	if (!err && nnew)
		err = sl_regions_write(s, newr, nnew);
	if (!err)
		err = sl_write(s, ios, np);
	/* the flush covers the data written before the call, too */
	if (!err)
		err = sl_flush(s);

	/* wait out reads that may still hold a slot of a deleted object */
	bool gate = !err && hold.n;
	if (gate)
		pthread_rwlock_wrlock(&s->reuse_lock);
	sl_lock(s);
	sl_held_end(s, &hold, hold_bytes);
	jn_settle(s, rec, len, cut, lsn0, !err, &cleared);
	s->jnl_sync_data = 0;
	if (!err) {
		for (size_t i = 0; i < np; i++)
			jn_slot_keep(s, ref[i], h[i].lsn);
		if (ops_at > s->jnl_ops_done)
			s->jnl_ops_done = ops_at;
		sl_pin_release(s, &hold);
		atomic_fetch_add(&s->jnl_writes, np);
	} else {
		/* those records are gone: a checkpoint, before the journal
		 * is used again (its lsns are spent, so the slots are no
		 * record of it) */
		sl_ns_dirty(s);
		for (size_t i = 0; i < np; i++)
			sl_slot_free(s, ref[i]);
		for (size_t i = 0; i < hold.n; i++)
			sl_vec_push(&s->jnl_hold, hold.v[i]);
		free(hold.v);
	}
	free(cleared.attrs.v);
	free(cleared.cuts.v);
	sl_unlock(s);
	if (gate)
		pthread_rwlock_unlock(&s->reuse_lock);
	pthread_mutex_unlock(&s->jnl_lock);
	if (err)
		sl_log(s, "journal write failed: %s; a checkpoint instead",
		       slot_strerror(err));
	free(io);
	free(rec);
	free(newr);
	*flushed = !err;
	return err ? -EAGAIN : 0;
}

uint64_t sl_jnl_snap(struct slot_store *s, struct sl_vec *slots)
{
	/* the slots from the first a buffer or a write under way keeps
	 * stay: their WRITE records are all that holds those bytes */
	uint64_t keep = jn_keep(s);
	struct sl_vec all = s->jnl_slots;
	memset(&s->jnl_slots, 0, sizeof(s->jnl_slots));
	memset(slots, 0, sizeof(*slots));
	for (size_t i = 0; i + 1 < all.n; i += 2)
		jn_pair_push(jn_kept(keep, all.v[i + 1]) ? &s->jnl_slots : slots,
			     all.v[i], all.v[i + 1]);
	free(all.v);
	jn_filter(s, true);
	/* the checkpoint makes the deletions durable: their slots are
	 * pins from now on */
	for (size_t i = 0; i < s->jnl_hold.n; i++)
		sl_vec_push(&s->pin, s->jnl_hold.v[i]);
	free(s->jnl_hold.v);
	memset(&s->jnl_hold, 0, sizeof(s->jnl_hold));
	return keep ? s->jnl_lsn - (keep - 1) : 0;
}

void sl_jnl_ckpt_done(struct slot_store *s, struct sl_vec *slots,
		      uint64_t ops_at, bool ok)
{
	if (ok) {
		/* no durable state names them now, nor does a reader read
		 * them: free at once, not after another flush */
		for (size_t i = 0; i + 1 < slots->n; i += 2)
			sl_slot_unclaim(s, slots->v[i]);
		s->jnl_ckpt_id = s->jnl_id;
		if (ops_at > s->jnl_ops_done)
			s->jnl_ops_done = ops_at;
	} else {
		for (size_t i = 0; i + 1 < slots->n; i += 2)
			jn_slot_keep(s, slots->v[i], slots->v[i + 1]);
		/* the records the snapshot took are in no journal slot */
		sl_ns_dirty(s);
	}
	free(slots->v);
	memset(slots, 0, sizeof(*slots));
}

void sl_jnl_start(struct slot_store *s)
{
	uint64_t id = 0;
	while (!id) {
		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
			id = (uint64_t)sl_now_ns() ^ ((uint64_t)getpid() << 32);
	}
	s->jnl_id = id;
	/* the slots replay read are of the journal before: the next
	 * checkpoint frees them */
	for (size_t i = 1; i < s->jnl_slots.n; i += 2)
		s->jnl_slots.v[i] = 0;
}

void sl_jnl_resume(struct slot_store *s, const struct sl_ckpt_hdr *hdr)
{
	s->jnl_id = s->jnl_ckpt_id = hdr->jnl_id;
	s->jnl_lsn = hdr->jnl_lsn;
}

void sl_jnl_free(struct slot_store *s)
{
	free(s->jnl_buf);
	free(s->jnl_slots.v);
	free(s->jnl_hold.v);
	s->jnl_buf = NULL;
	memset(&s->jnl_slots, 0, sizeof(s->jnl_slots));
	memset(&s->jnl_hold, 0, sizeof(s->jnl_hold));
}

/* ------------------------------------------------------------------ */
/* Replay                                                              */
/* ------------------------------------------------------------------ */

static int jn_lsn_cmp(const void *a, const void *b)
{
	const struct sl_jnl_found *x = a, *y = b;
	if (x->h.lsn != y->h.lsn)
		return x->h.lsn < y->h.lsn ? -1 : 1;
	return x->h.gen < y->h.gen ? -1 : x->h.gen > y->h.gen;
}

int sl_jnl_replay(struct slot_store *s, const struct sl_ckpt_hdr *hdr,
		  struct sl_jnl_found *j, size_t n)
{
	if (!hdr || !hdr->jnl_id || !n)
		return 0;
	qsort(j, n, sizeof(*j), jn_lsn_cmp);
	uint32_t bs = s->sb.block_size;
	/* the slots before jnl_lsn that it kept: their WRITE records only
	 * (their other changes are the checkpoint's) */
	uint64_t want = hdr->jnl_lsn - SL_MIN(hdr->jnl_data_slots,
					      hdr->jnl_lsn);
	int done = 0;
	uint64_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		const struct sl_jnl_hdr *h = &j[i].h;
		if (h->jid != hdr->jnl_id || h->lsn < want)
			continue;
		if (h->lsn != want)
			break;          /* a gap: what follows cannot apply */
		size_t plen = SL_ALIGN_UP(h->payload_len ? h->payload_len : 1, bs);
		uint8_t *p = sl_alloc_aligned(plen);
		if (!p)
			return -ENOMEM;
		int err = sl_dev_span(s->dev, false, sl_slot_off(s, j[i].ref) + bs,
				      p, plen);
		if (err || sl_csum(p, h->payload_len) != h->payload_csum) {
			free(p);
			break;          /* torn, or unreadable: the end */
		}
		struct sl_jnl_rec r;
		uint32_t got = 0;
		bool old = h->lsn < hdr->jnl_lsn;
		for (size_t at = 0; jn_next(p, h->payload_len, &at, &r); got++)
			if ((!old || r.type == SL_JNL_WRITE) &&
			    !sl_ns_replay(s, &r, h->gen))
				bad++;
		bad += h->rec_count > got ? h->rec_count - got : 0;
		free(p);
		/* in use till the checkpoint after the open: a write before
		 * it must not land on the records (lsn 0 once a journal of
		 * another id starts) */
		if (!sl_slot_claim(s, j[i].ref))
			jn_slot_keep(s, j[i].ref, h->lsn);
		want++;
		done++;
	}
	if (done) {
		sl_log(s, "replayed %d journal slot%s written after checkpoint "
		       "%llu%s", done, done == 1 ? "" : "s",
		       (unsigned long long)hdr->seq,
		       bad ? " (some records did not fit the index)" : "");
		sl_ns_dirty(s);
	}
	s->jnl_replayed += (uint64_t)done;
	return done;
}
