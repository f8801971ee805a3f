// SPDX-License-Identifier: MIT
/*
 * status.c - render struct slot_status as JSON or as Prometheus text
 * exposition (version 0.0.4).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

/* An append-only buffer that remembers it overflowed. */
struct sbuf {
	char *p;
	size_t cap, len;
	bool over;
};

__attribute__((format(printf, 2, 3)))
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	size_t room = b->len < b->cap ? b->cap - b->len : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->over = true;
		return;
	}
	b->len += (size_t)n;
	if (b->len >= b->cap)
		b->over = true;
}

static int sb_finish(struct sbuf *b)
{
	if (b->cap)
		b->p[b->over ? b->cap - 1 : b->len] = '\0';
	if (b->over || b->len > INT32_MAX)
		return -ENOSPC;
	return (int)b->len;
}

/* The engine name as a C string, whatever the array holds. */
static size_t engine_len(const struct slot_status *st)
{
	return strnlen(st->engine, sizeof(st->engine));
}

static void json_u64(struct sbuf *b, const char *k, uint64_t v)
{
	sb_printf(b, "\"%s\":%" PRIu64 ",", k, v);
}

static void json_i64(struct sbuf *b, const char *k, int64_t v)
{
	sb_printf(b, "\"%s\":%" PRId64 ",", k, v);
}

int slot_status_json(const struct slot_status *st, char *buf, size_t cap)
{
	struct sbuf b = { .p = buf, .cap = cap };
	const struct slot_dev_stats *io = &st->io;
	size_t elen = engine_len(st);

	sb_printf(&b, "{");
	json_u64(&b, "inflight_io_count", st->inflight_io_count);
	json_u64(&b, "metadata_dirty_total", st->metadata_dirty_total);
	json_u64(&b, "metadata_persisted", st->metadata_persisted);
	json_u64(&b, "metadata_seq", st->metadata_seq);
	json_u64(&b, "checkpoints", st->checkpoints);
	json_i64(&b, "last_checkpoint_unix_ms", st->last_checkpoint_unix_ms);
	json_i64(&b, "last_io_age_ms", st->last_io_age_ms);
	json_u64(&b, "key_count", st->key_count);
	json_u64(&b, "object_count", st->object_count);
	json_u64(&b, "slots_total", st->slots_total);
	json_u64(&b, "slots_free", st->slots_free);
	json_u64(&b, "slots_used", st->slots_used);
	json_u64(&b, "regions_total", st->regions_total);
	json_u64(&b, "regions_free", st->regions_free);
	json_u64(&b, "bytes_total", st->bytes_total);
	json_u64(&b, "bytes_free", st->bytes_free);
	json_u64(&b, "lock_acquisitions", st->lock_acquisitions);
	json_u64(&b, "puts", st->puts);
	json_u64(&b, "gets", st->gets);
	json_u64(&b, "deletes", st->deletes);
	json_u64(&b, "canceled_puts", st->canceled_puts);
	json_u64(&b, "checksum_errors", st->checksum_errors);
	json_u64(&b, "queue_depth", st->queue_depth);
	sb_printf(&b, "\"io\":{");
	json_u64(&b, "submitted", io->submitted);
	json_u64(&b, "completed", io->completed);
	json_u64(&b, "errors", io->errors);
	json_u64(&b, "flushes", io->flushes);
	json_u64(&b, "bytes_read", io->bytes_read);
	json_u64(&b, "bytes_written", io->bytes_written);
	json_u64(&b, "sq_depth", io->sq_depth);
	json_u64(&b, "sq_depth_max", io->sq_depth_max);
	json_u64(&b, "cq_depth_max", io->cq_depth_max);
	sb_printf(&b, "\"queue_depth\":%" PRIu32 "},", io->queue_depth);
	sb_printf(&b, "\"read_only\":%s,", st->read_only ? "true" : "false");
	sb_printf(&b, "\"clean_at_open\":%s,",
		  st->clean_at_open ? "true" : "false");
	sb_printf(&b, "\"engine\":\"");
	for (size_t i = 0; i < elen; i++) {
		unsigned char c = (unsigned char)st->engine[i];

		if (c == '"' || c == '\\')
			sb_printf(&b, "\\%c", c);
		else if (c < 0x20)
			sb_printf(&b, "\\u%04x", c);
		else
			sb_printf(&b, "%c", c);
	}
	sb_printf(&b, "\"}");
	return sb_finish(&b);
}

/* One metric: HELP, TYPE, sample. */
static void prom_u64(struct sbuf *b, const char *name, const char *type,
		     const char *help, uint64_t v)
{
	sb_printf(b, "# HELP slotfs_%s %s\n# TYPE slotfs_%s %s\n"
		  "slotfs_%s %" PRIu64 "\n", name, help, name, type, name, v);
}

static void prom_f(struct sbuf *b, const char *name, const char *help,
		   double v)
{
	sb_printf(b, "# HELP slotfs_%s %s\n# TYPE slotfs_%s gauge\n"
		  "slotfs_%s %.6f\n", name, help, name, name, v);
}

#define GAUGE(n, h, v)   prom_u64(&b, n, "gauge", h, v)
#define COUNTER(n, h, v) prom_u64(&b, n, "counter", h, v)

int slot_status_prometheus(const struct slot_status *st, char *buf,
			   size_t cap)
{
	struct sbuf b = { .p = buf, .cap = cap };
	const struct slot_dev_stats *io = &st->io;
	size_t elen = engine_len(st);

	GAUGE("inflight_io", "Puts between allocate and commit plus reads in progress.",
	      st->inflight_io_count);
	COUNTER("metadata_dirty_total", "Index changes made.",
		st->metadata_dirty_total);
	COUNTER("metadata_persisted_total", "Index changes a checkpoint holds.",
		st->metadata_persisted);
	GAUGE("metadata_seq", "Sequence number of the newest checkpoint.",
	      st->metadata_seq);
	COUNTER("checkpoints_total", "Checkpoints written since open.",
		st->checkpoints);
	prom_f(&b, "last_checkpoint_timestamp_seconds",
	       "Unix time of the last checkpoint (0: none yet).",
	       (double)st->last_checkpoint_unix_ms / 1000.0);
	prom_f(&b, "last_io_age_seconds",
	       "Seconds since the last successful I/O.",
	       (double)st->last_io_age_ms / 1000.0);
	GAUGE("keys", "Regular files.", st->key_count);
	GAUGE("objects", "Inodes of every kind.", st->object_count);
	GAUGE("slots", "Slots in assigned regions.", st->slots_total);
	GAUGE("slots_free", "Free slots in assigned regions.", st->slots_free);
	GAUGE("slots_used", "Slots holding data or in flight.", st->slots_used);
	GAUGE("regions", "Regions on the device.", st->regions_total);
	GAUGE("regions_free",
	      "Regions with no slot in use once freed ones are released.",
	      st->regions_free);
	GAUGE("capacity_bytes", "Payload capacity.", st->bytes_total);
	GAUGE("free_bytes", "Free payload capacity.", st->bytes_free);
	COUNTER("lock_acquisitions_total", "Store lock acquisitions.",
		st->lock_acquisitions);
	COUNTER("puts_total", "Objects put.", st->puts);
	COUNTER("gets_total", "Objects read.", st->gets);
	COUNTER("deletes_total", "Keys deleted.", st->deletes);
	COUNTER("canceled_puts_total", "Puts canceled by a delete.",
		st->canceled_puts);
	COUNTER("checksum_errors_total", "Payload or header checksum mismatches.",
		st->checksum_errors);
	GAUGE("queue_depth", "Configured I/O queue depth per ring.",
	      st->queue_depth);
	COUNTER("io_submitted_total", "I/O requests handed to the device.",
		io->submitted);
	COUNTER("io_completed_total", "I/O requests the device finished.",
		io->completed);
	COUNTER("io_errors_total", "I/O requests that failed.", io->errors);
	COUNTER("io_flushes_total", "Device flushes.", io->flushes);
	COUNTER("io_read_bytes_total", "Bytes read from the device.",
		io->bytes_read);
	COUNTER("io_written_bytes_total", "Bytes written to the device.",
		io->bytes_written);
	GAUGE("sq_depth", "I/O requests submitted and not yet reaped.",
	      io->sq_depth);
	GAUGE("sq_depth_max", "High-water mark of sq_depth.",
	      io->sq_depth_max);
	GAUGE("cq_depth_max", "Most completions reaped at once.",
	      io->cq_depth_max);
	GAUGE("read_only", "1 when the store is open read-only.",
	      st->read_only);
	GAUGE("clean_at_open", "1 when the store was clean when opened.",
	      st->clean_at_open);

	sb_printf(&b, "# HELP slotfs_info Static facts about the store.\n"
		  "# TYPE slotfs_info gauge\nslotfs_info{engine=\"");
	for (size_t i = 0; i < elen; i++) {
		unsigned char c = (unsigned char)st->engine[i];

		if (c == '"' || c == '\\')
			sb_printf(&b, "\\%c", c);
		else if (c == '\n')
			sb_printf(&b, "\\n");
		else
			sb_printf(&b, "%c", c);
	}
	sb_printf(&b, "\"} 1\n");
	return sb_finish(&b);
}

int slot_status_ext_prometheus(const struct slot_status_ext *e, char *buf,
			       size_t cap)
{
	struct sbuf b = { .p = buf, .cap = cap };
	sb_printf(&b, "# HELP slotfs_compaction_regions_total Regions emptied "
		  "for a class short of slots, or tried and left.\n"
		  "# TYPE slotfs_compaction_regions_total counter\n"
		  "slotfs_compaction_regions_total{result=\"emptied\"} %"
		  PRIu64 "\n"
		  "slotfs_compaction_regions_total{result=\"left\"} %" PRIu64
		  "\n", e->compaction_regions, e->compaction_failed);
	COUNTER("compaction_chunks_total", "Chunks compaction copied.",
		e->compaction_chunks);
	COUNTER("compaction_bytes_total", "Payload bytes compaction copied.",
		e->compaction_bytes);
	COUNTER("errors_total", "Errors found in use (recorded in the "
		"superblock for fsck.slotfs).", e->fs_errors);
	GAUGE("errors_read_only", "1 when errors=remount-ro has stopped "
	      "writes.", e->errors_ro);
	prom_f(&b, "checkpoint_lock_seconds",
	       "Longest the last checkpoint held the store lock (writes "
	       "waited).", (double)e->ckpt_lock_ns_last / 1e9);
	prom_f(&b, "checkpoint_lock_max_seconds",
	       "Longest any checkpoint since open held the store lock.",
	       (double)e->ckpt_lock_ns_max / 1e9);
	GAUGE("removed_held", "Removed files no open file holds, still "
	      "held (the kernel's forget to come).", e->removed_held);
	GAUGE("removed_waiting", "Allocations short of room waiting for "
	      "those to go.", e->removed_waiting);
	return sb_finish(&b);
}
