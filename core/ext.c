/* SPDX-License-Identifier: MIT */
/*
 * ext.c - extensions of files not yet durable, and the sizes that may be
 * recorded meanwhile.
 *
 * A write that takes a file past the size a crash would show leaves, until
 * a device flush covers it, a chunk whose new bytes may never reach the
 * disk.  A slot header or checkpoint that recorded the new size then would
 * bring the size back after a crash with zeros where those bytes were.  So
 * each such chunk keeps an entry here: the size the file could show before
 * the write (its floor).  A header keeps the file's size and adds its
 * safe_size: the size capped at the floors of the other chunks still at
 * risk (its own chunk travels with it), SIZE_LAGS when lower; recovery
 * goes past safe_size only as far as the chunks it finds reach.  A
 * checkpoint, which flushes before it is written, records the size capped
 * at the floors of chunks still buffered or in flight.  A floor is always
 * a size the file had: as ext4's i_disksize, the size a crash can show
 * lags the data until the data is down (FORMAT.md, "Sizes that lag").
 * Bytes past a chunk's end that a journal write holds are down with it
 * (sl_file_jnl_settle raises their buffer's floor, or drops its entry).
 *
 * Durability is counted in device flushes: a chunk whose write completed
 * while flush n was the last begun is durable once a flush numbered above
 * n has completed (it was issued after the write).  The store's writes are
 * counted too, so that a flush with nothing written since the last one
 * costs no device flush (an fsync of a file already down, a second sync).
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

#define EXT_PENDING UINT64_MAX  /* buffered or in flight */
#define EXT_TAB_MIN 256         /* buckets; doubled as entries come */

static size_t ext_bucket(const struct slot_store *s, uint64_t oid)
{
	return (size_t)(oid * 0x9e3779b97f4a7c15ull >> 20) & s->ext_mask;
}

static int ext_grow(struct slot_store *s)
{
	size_t n = s->ext_tab ? (s->ext_mask + 1) * 2 : EXT_TAB_MIN;
	struct sl_ext **t = calloc(n, sizeof(*t));
	if (!t)
		return -ENOMEM;
	size_t old = s->ext_tab ? s->ext_mask + 1 : 0;
	s->ext_mask = n - 1;
	for (size_t b = 0; b < old; b++)
		for (struct sl_ext *e = s->ext_tab[b], *nx; e; e = nx) {
			nx = e->next;
			size_t h = ext_bucket(s, e->oid);
			e->next = t[h];
			t[h] = e;
		}
	free(s->ext_tab);
	s->ext_tab = t;
	return 0;
}

struct sl_ext *sl_ext_add(struct slot_store *s, struct sl_obj *o,
			  uint32_t idx, uint64_t floor)
{
	if ((!s->ext_tab || s->ext_count > s->ext_mask) && ext_grow(s) &&
	    !s->ext_tab)
		return NULL;
	struct sl_ext *e = malloc(sizeof(*e));
	if (!e)
		return NULL;
	*e = (struct sl_ext){ .oid = o->oid, .floor = floor,
			      .epoch = EXT_PENDING, .idx = idx };
	size_t h = ext_bucket(s, o->oid);
	e->next = s->ext_tab[h];
	s->ext_tab[h] = e;
	s->ext_count++;
	o->flags |= SL_OBJ_EXT;
	return e;
}

/* Out of the table (the written list is the caller's). */
static void ext_unlink(struct slot_store *s, struct sl_ext *e)
{
	struct sl_ext **pp = &s->ext_tab[ext_bucket(s, e->oid)];
	while (*pp && *pp != e)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = e->next;
		s->ext_count--;
	}
}

void sl_ext_drop(struct slot_store *s, struct sl_ext *e)
{
	/* callers drop pending entries; a written one is rare enough to
	 * look for */
	if (e->epoch != EXT_PENDING) {
		struct sl_ext **pp = &s->ext_written;
		while (*pp && *pp != e)
			pp = &(*pp)->wnext;
		if (*pp && !(*pp = e->wnext))
			s->ext_written_end = pp;
	}
	ext_unlink(s, e);
	free(e);
}

void sl_ext_done(struct slot_store *s, struct sl_ext *e, bool ok)
{
	if (!ok) {
		sl_ext_drop(s, e);
		return;
	}
	/* a flush begun from now on covers it; flush_begun never falls,
	 * so the list stays in order of epoch */
	e->epoch = s->flush_begun;
	e->wnext = NULL;
	if (!s->ext_written)
		s->ext_written_end = &s->ext_written;
	*s->ext_written_end = e;
	s->ext_written_end = &e->wnext;
}

uint64_t sl_ext_size(struct slot_store *s, struct sl_obj *o, int64_t own,
		     bool pending_only)
{
	if (!(o->flags & SL_OBJ_EXT) || !s->ext_tab)
		return o->size;
	uint64_t size = o->size;
	bool any = false;
	for (struct sl_ext *e = s->ext_tab[ext_bucket(s, o->oid)]; e;
	     e = e->next) {
		if (e->oid != o->oid)
			continue;
		any = true;
		if ((int64_t)e->idx == own ||
		    (pending_only && e->epoch != EXT_PENDING))
			continue;
		if (e->floor < size)
			size = e->floor;
	}
	if (!any)
		o->flags &= ~SL_OBJ_EXT;
	return size;
}

/*
 * A failed device write or flush goes to the log, as the kernel logs a
 * failed request's device and sector: the caller may see only the errno
 * (a background write-out's writer at its next fsync, if ever), and an
 * image whose own file system filled says so nowhere else.  One message
 * a second at most, with a count of those held back, so a device gone
 * bad does not flood the log.  len 0: a flush.
 */
static void ext_log_failure(struct slot_store *s, uint64_t off, uint64_t len,
			    int err)
{
	int64_t now = sl_mono_ns();
	int_fast64_t last = atomic_load(&s->wfail_logged_ns);
	if ((last && now - last < 1000000000) ||
	    !atomic_compare_exchange_strong(&s->wfail_logged_ns, &last, now)) {
		atomic_fetch_add(&s->wfail_held, 1);
		return;
	}
	uint64_t held = atomic_exchange(&s->wfail_held, 0);
	char more[64] = "";
	if (held)
		snprintf(more, sizeof(more), " (and %llu more since the last "
			 "message)", (unsigned long long)held);
	if (len)
		sl_log(s, "a device write of %llu bytes at byte %llu failed: "
		       "%s%s", (unsigned long long)len,
		       (unsigned long long)off, slot_strerror(err), more);
	else
		sl_log(s, "a device flush failed: %s%s", slot_strerror(err),
		       more);
}

int sl_write(struct slot_store *s, struct slot_io *ios, size_t n)
{
	int err = s->dev->ops->write(s->dev->ctx, ios, n);
	/* failed too: part of it may have landed */
	atomic_fetch_add(&s->writes_done, 1);
	if (err && n) {
		/* the first request that failed, else the batch's first */
		size_t k = 0;
		while (k < n && ios[k].res == (int32_t)ios[k].len)
			k++;
		k = k < n ? k : 0;
		ext_log_failure(s, ios[k].off, ios[k].len, err);
	}
	return err;
}

int sl_write_span(struct slot_store *s, uint64_t off, void *buf, size_t len)
{
	int err = sl_dev_span(s->dev, true, off, buf, len);
	atomic_fetch_add(&s->writes_done, 1);
	if (err)
		ext_log_failure(s, off, len, err);
	return err;
}

int sl_dev_flush(struct slot_store *s)
{
	int err = s->dev->ops->flush(s->dev->ctx);
	if (err)
		ext_log_failure(s, 0, 0, err);
	return err;
}

int sl_discard(struct slot_store *s, uint64_t off, uint64_t len)
{
	int err = s->dev->ops->discard(s->dev->ctx, off, len);
	atomic_fetch_add(&s->writes_done, 1);
	return err;
}

int sl_ext_flush(struct slot_store *s)
{
	sl_lock(s);
	uint64_t n = ++s->flush_begun;
	/* every write completed so far completed before a flush that has
	 * completed began: it is down, and so is all that waits on n */
	uint64_t w = atomic_load(&s->writes_done);
	bool idle = w == s->writes_flushed;
	sl_unlock(s);
	if (!idle) {
		int err = sl_dev_flush(s);
		if (err)
			return err;
	}
	sl_lock(s);
	if (w > s->writes_flushed)
		s->writes_flushed = w;
	if (n > s->flush_done)
		s->flush_done = n;
	struct sl_ext *e;
	while ((e = s->ext_written) && e->epoch < s->flush_done) {
		s->ext_written = e->wnext;
		ext_unlink(s, e);
		free(e);
	}
	/* a burst's table goes with it, not to be walked at close */
	if (!s->ext_count && s->ext_mask > EXT_TAB_MIN - 1) {
		free(s->ext_tab);
		s->ext_tab = NULL;
		s->ext_mask = 0;
	}
	sl_unlock(s);
	return 0;
}

bool sl_ext_due(struct slot_store *s)
{
	/* only a written chunk waits on a flush: a buffered one would
	 * still be at risk after it */
	sl_lock(s);
	bool due = s->ext_written != NULL;
	sl_unlock(s);
	return due;
}

void sl_ext_free(struct slot_store *s)
{
	for (size_t b = 0; s->ext_tab && b <= s->ext_mask; b++)
		for (struct sl_ext *e = s->ext_tab[b], *nx; e; e = nx) {
			nx = e->next;
			free(e);
		}
	free(s->ext_tab);
	s->ext_tab = NULL;
	s->ext_mask = 0;
	s->ext_count = 0;
	s->ext_written = NULL;
}
