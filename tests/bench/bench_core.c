/* SPDX-License-Identifier: MIT */
/*
 * bench_core.c - benchmark of libslot alone, without FUSE, and the store
 * builder for the mount and fsck timings of tests/bench/run.sh.
 *
 *   bench_core run IMAGE [-t MIB] [-n SMALL] [-r SECONDS] [-q QD] [-b BATCH] [-H] [-1]
 *       Format IMAGE, then time slot_put_many of 1 MiB objects (-t MiB in
 *       all, BATCH objects per call, slot_sync at the end; then as many
 *       under other keys, two calls in flight with slot_put_many_start),
 *       slot_get_many of the first ones (one call at a time, then two in
 *       flight with slot_get_many_start), and slot_get_many of 4 KiB
 *       objects (SMALL of them are put first) picked at random, BATCH per
 *       call, for SECONDS (one call at a time, then two in flight).
 *       -H: the objects' buffers lie in huge pages (see libslot(3)).
 *       -1: one call at a time only, no two-in-flight runs.
 *   bench_core populate IMAGE -n FILES [-s SIZE]
 *       Format IMAGE and put FILES objects of SIZE bytes (default 4096)
 *       under d000/f0000000 ... (1000 per directory); close cleanly.
 *   bench_core fill IMAGE [-p PERCENT]
 *       Format IMAGE and fill it: 1 MiB objects up to PERCENT (default 50)
 *       of the payload capacity, then 4 KiB objects until the store is
 *       full; close cleanly.
 *   bench_core memory IMAGE
 *       Open IMAGE and print the heap its index takes per key
 *       (mallinfo2 after the open less before, over the keys).
 *   bench_core ckpt IMAGE [-r SECONDS]
 *       Open IMAGE (a populated store) with no periodic checkpoint and
 *       time one thread's puts of 4 KiB objects, one per call, for
 *       SECONDS with no checkpoint, then as long again while checkpoints
 *       are forced every half second: what a writer waits while a
 *       checkpoint copies the index (and the lock hold the store counts).
 *   bench_core hdrlog IMAGE OUT
 *       Write a fio (version 2) I/O log that reads every region header and
 *       every slot header of the assigned regions, in device order: what
 *       a recovery scan or a full check has to read at least.
 *
 * Every result is one line "core KEY=VALUE ...", for run.sh to parse.  All
 * buffers are page-aligned so the engine can use them for direct I/O as
 * they are.  The exit status is non-zero when any call failed or a read
 * returned other bytes than were written.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "slot.h"

#define MIB (1024u * 1024u)
#define SMALL 4096u

static const char *prog = "bench_core";

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, slot_strerror(err));
	exit(1);
}

static bool huge;       /* -H */

static void *xalloc(size_t n)
{
	size_t a = huge && n >= MIB ? (size_t)2 * MIB : 4096;
	void *p = aligned_alloc(a, (n + a - 1) / a * a);

	/* a 2 MiB-aligned buffer advised so is backed by huge pages where
	 * the kernel has them: 1 MiB then goes as one device request */
	if (p && a > 4096)
		madvise(p, (n + a - 1) / a * a, MADV_HUGEPAGE);
	if (!p) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(1);
	}
	return p;
}

/*
 * Requests the disk under an image completed, for the figure of device
 * requests per MiB: a 1 MiB buffer in 4 KiB pages that are not
 * physically contiguous can be more segments than a disk takes in one
 * request (virtio's 254 here), and then it is two.
 */
struct dev_reqs {
	char stat[64];          /* /sys/dev/block/M:m/stat, "" if none */
	uint64_t rd, wr;
};

static bool dev_reqs_read(const struct dev_reqs *q, uint64_t *rd, uint64_t *wr)
{
	FILE *f = q->stat[0] ? fopen(q->stat, "r") : NULL;
	unsigned long long v[5];
	bool ok = f && fscanf(f, "%llu %llu %llu %llu %llu", &v[0], &v[1],
			      &v[2], &v[3], &v[4]) == 5;

	if (f)
		fclose(f);
	*rd = ok ? v[0] : 0;
	*wr = ok ? v[4] : 0;
	return ok;
}

static void dev_reqs_start(struct dev_reqs *q, const char *path)
{
	struct stat st;

	q->stat[0] = 0;
	if (!stat(path, &st))
		snprintf(q->stat, sizeof(q->stat), "/sys/dev/block/%u:%u/stat",
			 major(st.st_dev), minor(st.st_dev));
	if (!dev_reqs_read(q, &q->rd, &q->wr))
		q->stat[0] = 0;
}

/* " reqs_per_mib=X" for the requests since dev_reqs_start, or "". */
static const char *dev_reqs_per_mib(const struct dev_reqs *q, bool write,
				    size_t mib)
{
	static char out[48];
	uint64_t rd, wr;

	out[0] = 0;
	if (dev_reqs_read(q, &rd, &wr) && mib)
		snprintf(out, sizeof(out), " reqs_per_mib=%.2f",
			 (double)(write ? wr - q->wr : rd - q->rd) /
			 (double)mib);
	return out;
}

/* xorshift64*: a repeatable stream for data and for random picks */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Fill a buffer with random bytes once; stamp() then names each object. */
static void randomize(void *buf, size_t len)
{
	uint64_t *w = buf;

	for (size_t i = 0; i < len / 8; i++)
		w[i] = rnd();
}

/*
 * Mark buf as object id: its first and last words.  Enough to see a wrong
 * object or a torn read; the store checks the rest with its checksums.
 * Cheap, so it does not count in the timings.
 */
static void stamp(void *buf, size_t len, uint64_t id)
{
	uint64_t *w = buf;

	w[0] = id;
	w[len / 8 - 1] = ~id * 0x9e3779b97f4a7c15ull;
}

static bool stamped(const void *buf, size_t len, uint64_t id)
{
	const uint64_t *w = buf;

	return w[0] == id && w[len / 8 - 1] == ~id * 0x9e3779b97f4a7c15ull;
}

static void format_image(const char *path, unsigned qd)
{
	struct slot_format_opts fo;
	struct slot_dev *dev;
	int err;

	err = slot_dev_open(path, SLOT_ENGINE_AUTO, qd, true, false, true, &dev);
	if (err < 0)
		die(path, err);
	slot_format_opts_init(&fo);
	fo.label = "bench";
	err = slot_format(dev, &fo, NULL);
	if (err < 0)
		die("slot_format", err);
	slot_dev_close(dev);
}

static struct slot_store *open_store_opts(const char *path, unsigned qd,
					  bool periodic)
{
	struct slot_store *s;
	struct slot_opts o;
	int err;

	slot_opts_init(&o);
	o.queue_depth = qd;
	o.direct_io = true;
	o.periodic_checkpoint = periodic;
	err = slot_open(path, &o, &s);
	if (err < 0)
		die(path, err);
	return s;
}

static struct slot_store *open_store(const char *path, unsigned qd)
{
	return open_store_opts(path, qd, true);
}

static void close_store(struct slot_store *s)
{
	int err = slot_close(s);

	if (err < 0)
		die("slot_close", err);
}

static void print_status(const char *tag, struct slot_store *s)
{
	struct slot_status st;

	slot_status_get(s, &st);
	printf("core %s files=%" PRIu64 " slots_total=%" PRIu64
	       " slots_used=%" PRIu64 " regions=%" PRIu64
	       " regions_free=%" PRIu64 " bytes_total=%" PRIu64
	       " bytes_free=%" PRIu64 " engine=%s queue_depth=%u\n", tag,
	       st.key_count, st.slots_total, st.slots_used, st.regions_total,
	       st.regions_free, st.bytes_total, st.bytes_free, st.engine,
	       st.queue_depth);
}

/* ------------------------------------------------------------------ */
/* run                                                                 */
/* ------------------------------------------------------------------ */

struct run_cfg {
	uint64_t total_mib;
	uint64_t nsmall;
	double runtime;
	unsigned qd;
	unsigned batch;
	bool one_call;          /* -1: skip the two-in-flight runs */
};

/* A stream of gets: objects of size bytes named by key(), count of them,
 * read in order (n gets) or at random (for runtime seconds). */
struct get_work {
	size_t size, count;
	bool random;
	size_t n;
	double runtime;
	void (*key)(char *buf, size_t len, size_t id);
};

static void key_big(char *buf, size_t len, size_t id)
{
	snprintf(buf, len, "big/%07zu", id);
}

static void key_big2(char *buf, size_t len, size_t id)
{
	snprintf(buf, len, "big2/%07zu", id);
}

static void key_small(char *buf, size_t len, size_t id)
{
	snprintf(buf, len, "small/%03zu/%07zu", id / 1000, id);
}

/*
 * The gets of w into buf (2 * batch objects), two batches in flight
 * (slot_get_many_start): while one drains at its end the other keeps the
 * device busy.  Sets *done and *secs; returns how many came back wrong.
 */
static uint64_t get_two_in_flight(struct slot_store *s, const struct get_work *w,
				  uint8_t *buf, size_t batch, uint64_t *done,
				  double *secs)
{
	struct slot_get *g = calloc(2 * batch, sizeof(*g));
	char (*keys)[48] = calloc(2 * batch, sizeof(*keys));
	size_t *id = calloc(2 * batch, sizeof(*id));
	struct slot_get_op *op[2] = { NULL, NULL };
	size_t cnt[2] = { 0, 0 };
	uint64_t bad = 0;
	size_t i = 0;
	bool more = true;
	int err;

	if (!g || !keys || !id)
		die("get_two_in_flight", -ENOMEM);
	double t0 = now();
	for (size_t h = 0; more || op[0] || op[1]; h ^= 1) {
		struct slot_get *gh = g + h * batch;

		if (op[h]) {
			err = slot_get_wait(op[h]);
			op[h] = NULL;
			if (err < 0)
				die("slot_get_wait", err);
			for (size_t k = 0; k < cnt[h]; k++)
				if (gh[k].len != w->size ||
				    !stamped(gh[k].buf, w->size, id[h * batch + k]))
					bad++;
		}
		more = w->random ? now() - t0 < w->runtime : i < w->n;
		if (!more)
			continue;
		cnt[h] = w->random || w->n - i >= batch ? batch : w->n - i;
		for (size_t k = 0; k < cnt[h]; k++) {
			size_t j = h * batch + k;
			id[j] = w->random ? (size_t)(rnd() % w->count) : i + k;
			w->key(keys[j], sizeof(keys[0]), id[j]);
			gh[k] = (struct slot_get){ .key = keys[j],
				.buf = buf + j * w->size, .cap = w->size };
		}
		err = slot_get_many_start(s, gh, cnt[h], &op[h]);
		if (err < 0)
			die("slot_get_many_start", err);
		i += cnt[h];
	}
	*secs = now() - t0;
	*done = i;
	free(id);
	free(keys);
	free(g);
	return bad;
}

/*
 * Put n objects of 1 MiB under big2/ from buf (2 * batch of them), batch
 * per call, two batches in flight (slot_put_many_start), then slot_sync:
 * while one drains at its end the other keeps the device busy.  Returns
 * the seconds taken.
 */
static double put_two_in_flight(struct slot_store *s, uint8_t *buf, size_t n,
				size_t batch)
{
	struct slot_put *p = calloc(2 * batch, sizeof(*p));
	char (*keys)[48] = calloc(2 * batch, sizeof(*keys));
	struct slot_put_op *op[2] = { NULL, NULL };
	size_t i = 0;
	int err;

	if (!p || !keys)
		die("put_two_in_flight", -ENOMEM);
	double t0 = now();
	for (size_t h = 0; i < n || op[0] || op[1]; h ^= 1) {
		struct slot_put *ph = p + h * batch;

		if (op[h]) {
			err = slot_put_wait(op[h]);
			op[h] = NULL;
			if (err < 0)
				die("slot_put_wait", err);
		}
		if (i >= n)
			continue;
		size_t cnt = n - i < batch ? n - i : batch;
		for (size_t k = 0; k < cnt; k++) {
			size_t j = h * batch + k;
			key_big2(keys[j], sizeof(keys[0]), i + k);
			stamp(buf + j * (size_t)MIB, MIB, i + k);
			ph[k] = (struct slot_put){ .key = keys[j],
				.buf = buf + j * (size_t)MIB, .len = MIB };
		}
		err = slot_put_many_start(s, ph, cnt, &op[h]);
		if (err < 0)
			die("slot_put_many_start", err);
		i += cnt;
	}
	err = slot_sync(s);
	if (err < 0)
		die("slot_sync", err);
	double t = now() - t0;
	free(keys);
	free(p);
	return t;
}

static int cmd_run(const char *path, const struct run_cfg *c)
{
	size_t nbig = c->total_mib, batch = c->batch;
	struct slot_put *puts = calloc(batch, sizeof(*puts));
	struct slot_get *gets = calloc(batch, sizeof(*gets));
	char (*keys)[48] = calloc(batch, sizeof(*keys));
	/* every buffer up front, as fio allocates its own: where pages land
	 * decides how many device requests a 1 MiB object takes (see
	 * dev_reqs), and a process that has run for a while has its free
	 * memory in smaller pieces.  Touched before any clock starts; two
	 * batches' worth for the two-in-flight runs. */
	size_t nbuf = (c->one_call ? 1 : 2) * batch;
	uint8_t *big = xalloc(nbuf * (size_t)MIB);
	uint8_t *sbuf = xalloc(nbuf * (size_t)SMALL);
	randomize(big, nbuf * (size_t)MIB);
	randomize(sbuf, nbuf * (size_t)SMALL);
	uint64_t locks = 0, calls = 0, bad = 0;
	struct slot_status a, b;
	struct slot_store *s;
	double t0, t;
	int err;

	if (!puts || !gets || !keys) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 1;
	}
	format_image(path, c->qd);
	s = open_store(path, c->qd);

	/* put_many of 1 MiB objects */
	struct dev_reqs q;
	dev_reqs_start(&q, path);
	t0 = now();
	for (size_t i = 0; i < nbig; i += batch) {
		size_t n = nbig - i < batch ? nbig - i : batch;

		for (size_t k = 0; k < n; k++) {
			key_big(keys[k], sizeof(keys[k]), i + k);
			stamp(big + k * (size_t)MIB, MIB, i + k);
			puts[k] = (struct slot_put){ .key = keys[k],
				.buf = big + k * (size_t)MIB, .len = MIB };
		}
		slot_status_get(s, &a);
		err = slot_put_many(s, puts, n);
		slot_status_get(s, &b);
		if (err < 0)
			die("slot_put_many (1 MiB)", err);
		locks += b.lock_acquisitions - a.lock_acquisitions;
		calls++;
	}
	err = slot_sync(s);
	if (err < 0)
		die("slot_sync", err);
	t = now() - t0;
	printf("core put_many_1m MBps=%.1f secs=%.3f objects=%zu batch=%zu%s\n",
	       (double)nbig * MIB / 1e6 / t, t, nbig, batch,
	       dev_reqs_per_mib(&q, true, nbig));
	printf("core lock_per_batch=%.2f batches=%" PRIu64 "\n",
	       calls ? (double)locks / (double)calls : 0.0, calls);
	if (!c->one_call) {
		dev_reqs_start(&q, path);
		t = put_two_in_flight(s, big, nbig, batch);
		printf("core put_many_1m_2inflight MBps=%.1f secs=%.3f "
		       "objects=%zu batch=%zu%s\n",
		       (double)nbig * MIB / 1e6 / t, t, nbig, batch,
		       dev_reqs_per_mib(&q, true, nbig));
	}

	/* get_many of the same objects, in order */
	dev_reqs_start(&q, path);
	t0 = now();
	for (size_t i = 0; i < nbig; i += batch) {
		size_t n = nbig - i < batch ? nbig - i : batch;

		for (size_t k = 0; k < n; k++) {
			key_big(keys[k], sizeof(keys[k]), i + k);
			gets[k] = (struct slot_get){ .key = keys[k],
				.buf = big + k * (size_t)MIB, .cap = MIB };
		}
		err = slot_get_many(s, gets, n);
		if (err < 0)
			die("slot_get_many (1 MiB)", err);
		for (size_t k = 0; k < n; k++)
			if (gets[k].len != MIB ||
			    !stamped(big + k * (size_t)MIB, MIB, i + k))
				bad++;
	}
	t = now() - t0;
	printf("core get_many_1m MBps=%.1f secs=%.3f objects=%zu batch=%zu%s\n",
	       (double)nbig * MIB / 1e6 / t, t, nbig, batch,
	       dev_reqs_per_mib(&q, false, nbig));
	struct get_work wbig = { .size = MIB, .count = nbig, .n = nbig,
				 .key = key_big };
	uint64_t got;
	if (!c->one_call) {
		dev_reqs_start(&q, path);
		bad += get_two_in_flight(s, &wbig, big, batch, &got, &t);
		printf("core get_many_1m_2inflight MBps=%.1f secs=%.3f "
		       "objects=%zu batch=%zu%s\n",
		       (double)got * MIB / 1e6 / t, t, nbig, batch,
		       dev_reqs_per_mib(&q, false, got));
	}

	/* 4 KiB objects: put them, then get them at random */
	size_t ns = c->nsmall;
	t0 = now();
	for (size_t i = 0; i < ns; i += batch) {
		size_t n = ns - i < batch ? ns - i : batch;

		for (size_t k = 0; k < n; k++) {
			key_small(keys[k], sizeof(keys[k]), i + k);
			stamp(sbuf + k * SMALL, SMALL, i + k);
			puts[k] = (struct slot_put){ .key = keys[k],
				.buf = sbuf + k * SMALL, .len = SMALL };
		}
		err = slot_put_many(s, puts, n);
		if (err < 0)
			die("slot_put_many (4 KiB)", err);
	}
	err = slot_sync(s);
	if (err < 0)
		die("slot_sync", err);
	t = now() - t0;
	printf("core put_many_4k ops=%.0f secs=%.3f objects=%zu batch=%zu\n",
	       (double)ns / t, t, ns, batch);

	uint64_t done = 0;
	size_t id[batch];
	t0 = now();
	do {
		for (size_t k = 0; k < batch; k++) {
			id[k] = (size_t)(rnd() % ns);
			key_small(keys[k], sizeof(keys[k]), id[k]);
			gets[k] = (struct slot_get){ .key = keys[k],
				.buf = sbuf + k * SMALL, .cap = SMALL };
		}
		err = slot_get_many(s, gets, batch);
		if (err < 0)
			die("slot_get_many (4 KiB)", err);
		for (size_t k = 0; k < batch; k++)
			if (gets[k].len != SMALL ||
			    !stamped(sbuf + k * SMALL, SMALL, id[k]))
				bad++;
		done += batch;
		t = now() - t0;
	} while (t < c->runtime);
	printf("core get_many_4k_rand IOPS=%.0f secs=%.3f gets=%" PRIu64
	       " batch=%zu\n", (double)done / t, t, done, batch);
	struct get_work wsmall = { .size = SMALL, .count = ns, .random = true,
				   .runtime = c->runtime, .key = key_small };
	if (!c->one_call) {
		bad += get_two_in_flight(s, &wsmall, sbuf, batch, &got, &t);
		printf("core get_many_4k_rand_2inflight IOPS=%.0f secs=%.3f "
		       "gets=%" PRIu64 " batch=%zu\n", (double)got / t, t,
		       got, batch);
	}
	print_status("status", s);
	close_store(s);
	free(sbuf);
	free(big);
	free(puts);
	free(gets);
	free(keys);
	if (bad) {
		fprintf(stderr, "%s: %" PRIu64 " objects read back wrong\n",
			prog, bad);
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* populate, fill                                                      */
/* ------------------------------------------------------------------ */

/*
 * Put objects of len bytes named by fmt(i) for i in [first, first + count)
 * (count 0: until the store is full).  Returns how many were stored.
 */
static uint64_t put_range(struct slot_store *s, const char *prefix,
			  uint64_t first, uint64_t count, size_t len,
			  unsigned batch, bool *full)
{
	struct slot_put *puts = calloc(batch, sizeof(*puts));
	char (*keys)[48] = calloc(batch, sizeof(*keys));
	uint8_t *buf = xalloc((size_t)batch * len);
	uint64_t stored = 0;

	randomize(buf, (size_t)batch * len);

	if (!puts || !keys) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(1);
	}
	*full = false;
	for (uint64_t i = first; !count || i < first + count; i += batch) {
		size_t n = batch;

		if (count && first + count - i < n)
			n = first + count - i;
		for (size_t k = 0; k < n; k++) {
			snprintf(keys[k], sizeof(keys[k]), "%s%03" PRIu64
				 "/f%07" PRIu64, prefix, (i + k) / 1000, i + k);
			stamp(buf + k * len, len, i + k);
			puts[k] = (struct slot_put){ .key = keys[k],
				.buf = buf + k * len, .len = len };
		}
		int err = slot_put_many(s, puts, n);
		for (size_t k = 0; k < n; k++)
			stored += puts[k].result == 0;
		if (err == -ENOSPC) {
			*full = true;
			break;
		}
		if (err < 0)
			die("slot_put_many", err);
	}
	free(buf);
	free(puts);
	free(keys);
	return stored;
}

/*
 * Open a store and print what its index costs a file: heap bytes in use
 * (glibc's count, malloc's own overhead included) after the open less
 * before, over the keys.  Buffers the open makes whatever the store
 * holds count too, so this is an upper bound.
 */
static int cmd_memory(const char *path, unsigned qd)
{
	struct mallinfo2 a = mallinfo2();
	struct slot_store *s = open_store(path, qd);
	struct mallinfo2 b = mallinfo2();
	struct slot_status st;

	slot_status_get(s, &st);
	size_t used = (b.uordblks + b.hblkhd) - (a.uordblks + a.hblkhd);
	/* a sanitizer's allocator is not glibc's: mallinfo2 sees nothing */
	if (!used)
		printf("core memory unknown: the heap is not glibc's\n");
	else
			printf("core index_bytes_per_file=%.1f files=%" PRIu64
		       " heap_bytes=%zu\n", st.key_count ?
		       (double)used / (double)st.key_count : 0.0,
		       st.key_count, used);
	close_store(s);
	return 0;
}

static int cmd_populate(const char *path, uint64_t files, size_t len,
			unsigned qd, unsigned batch)
{
	struct slot_store *s;
	bool full;
	double t0 = now();

	format_image(path, qd);
	s = open_store(path, qd);
	uint64_t n = put_range(s, "d", 0, files, len, batch, &full);
	int err = slot_sync(s);
	if (err < 0)
		die("slot_sync", err);
	print_status("populated", s);
	close_store(s);
	printf("core populate files=%" PRIu64 " size=%zu secs=%.3f\n", n, len,
	       now() - t0);
	if (n != files) {
		fprintf(stderr, "%s: only %" PRIu64 " of %" PRIu64
			" files fit\n", prog, n, files);
		return 1;
	}
	return 0;
}

static int cmd_fill(const char *path, unsigned percent, unsigned qd,
		    unsigned batch)
{
	struct slot_store *s;
	struct slot_status st;
	bool full;
	double t0 = now();

	format_image(path, qd);
	s = open_store(path, qd);
	slot_status_get(s, &st);
	uint64_t nbig = st.bytes_total / 100 * percent / MIB;
	uint64_t big = put_range(s, "big", 0, nbig, MIB, batch, &full);
	/* the rest in 4 KiB files, until a put finds no room */
	uint64_t small = put_range(s, "d", 0, 0, SMALL, 256, &full);
	int err = slot_sync(s);
	if (err < 0)
		die("slot_sync", err);
	print_status("filled", s);
	close_store(s);
	printf("core fill big=%" PRIu64 " small=%" PRIu64 " secs=%.3f\n", big,
	       small, now() - t0);
	return 0;
}

/* ------------------------------------------------------------------ */
/* ckpt                                                                */
/* ------------------------------------------------------------------ */

struct ckpt_writer {
	struct slot_store *s;
	atomic_bool stop;
	double *lat;            /* seconds a put took, each */
	size_t n, cap;
	int err;
};

/* Puts of one 4 KiB object at a time over 1,024 keys, until stopped. */
static void *ckpt_writer_run(void *arg)
{
	struct ckpt_writer *w = arg;
	uint8_t *buf = xalloc(SMALL);
	char key[32];

	randomize(buf, SMALL);
	for (size_t i = 0; !atomic_load(&w->stop); i++) {
		snprintf(key, sizeof(key), "ckpt-writer/%04zu", i % 1024);
		struct slot_put p = { .key = key, .buf = buf, .len = SMALL };
		double t0 = now();
		int err = slot_put_many(w->s, &p, 1);
		if (err < 0 || p.result < 0) {
			w->err = err < 0 ? err : p.result;
			break;
		}
		if (w->n == w->cap) {
			w->cap = w->cap ? 2 * w->cap : 65536;
			w->lat = realloc(w->lat, w->cap * sizeof(*w->lat));
			if (!w->lat) {
				w->err = -ENOMEM;
				break;
			}
		}
		w->lat[w->n++] = now() - t0;
	}
	free(buf);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The q-quantile of v[0..n) (sorts v). */
static double quantile(double *v, size_t n, double q)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return v[(size_t)(q * (double)(n - 1))];
}

/*
 * The writer alone for runtime seconds, then beside forced checkpoints
 * every half second for as long.  Prints the puts' median and longest in
 * each phase, the checkpoints' median time, and the store lock hold
 * status counted (median of the checkpoints' longest holds).
 */
static int cmd_ckpt(const char *path, unsigned qd, double runtime)
{
	struct slot_store *s = open_store_opts(path, qd, false);
	struct slot_status st;
	double base_p50, base_max, p50, max;
	size_t ncp = 0;
	double cp_secs[64], cp_lock[64];

	slot_status_get(s, &st);
	for (int phase = 0; phase < 2; phase++) {
		struct ckpt_writer w = { .s = s };
		pthread_t t;
		double end = now() + runtime;

		if (pthread_create(&t, NULL, ckpt_writer_run, &w))
			die("pthread_create", -EAGAIN);
		while (now() < end) {
			usleep(500 * 1000);
			if (!phase || ncp == 64 || w.err)
				continue;
			double t0 = now();
			int err = slot_checkpoint(s, true);
			if (err < 0)
				die("slot_checkpoint", err);
			struct slot_status_ext e = { .size = sizeof(e) };
			slot_status_ext_get(s, &e);
			cp_secs[ncp] = now() - t0;
			cp_lock[ncp++] = (double)e.ckpt_lock_ns_last / 1e9;
		}
		atomic_store(&w.stop, true);
		pthread_join(t, NULL);
		if (w.err)
			die("slot_put_many", w.err);
		double *p = phase ? &p50 : &base_p50, *m = phase ? &max : &base_max;
		*m = quantile(w.lat, w.n, 1.0);
		*p = quantile(w.lat, w.n, 0.5);
		free(w.lat);
	}
	struct slot_status_ext e = { .size = sizeof(e) };
	slot_status_ext_get(s, &e);
	printf("core ckpt files=%" PRIu64 " checkpoints=%zu ckpt_ms=%.2f "
	       "lock_ms=%.2f lock_max_ms=%.2f put_p50_us=%.1f put_max_ms=%.2f "
	       "base_put_p50_us=%.1f base_put_max_ms=%.2f\n", st.key_count,
	       ncp, 1e3 * quantile(cp_secs, ncp, 0.5),
	       1e3 * quantile(cp_lock, ncp, 0.5),
	       (double)e.ckpt_lock_ns_max / 1e6, 1e6 * p50, 1e3 * max,
	       1e6 * base_p50, 1e3 * base_max);
	close_store(s);
	return ncp ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* hdrlog                                                              */
/* ------------------------------------------------------------------ */

/*
 * The region headers are read straight from the image, as FORMAT.md lays
 * them out (magic at 0, class at 0x1c), to learn which regions are in use
 * and by which class; the store's public API does not say.
 */
static int cmd_hdrlog(const char *path, const char *out)
{
	struct slot_geometry g;
	struct slot_dev *dev;
	int err = slot_dev_open(path, SLOT_ENGINE_PSYNC, 1, false, true, false,
				&dev);

	if (err < 0)
		die(path, err);
	err = slot_probe(dev, &g);
	if (err <= 0)
		die("slot_probe", err ? err : -EINVAL);
	slot_dev_close(dev);

	int fd = open(path, O_RDONLY);
	FILE *f = fopen(out, "w");
	if (fd < 0 || !f) {
		perror(fd < 0 ? path : out);
		return 1;
	}
	uint8_t *blk = xalloc(g.block_size);
	uint64_t nhdr = 0, nassigned = 0;
	char real[4096];
	if (!realpath(path, real)) {
		perror(path);
		return 1;
	}
	fprintf(f, "fio version 2 iolog\n%s add\n%s open\n", real, real);
	for (uint32_t r = 0; r < g.region_count; r++) {
		uint64_t roff = g.slot_area_offset + (uint64_t)r * g.region_size;

		fprintf(f, "%s read %" PRIu64 " %u\n", real, roff,
			g.block_size);
		nhdr++;
		if (pread(fd, blk, g.block_size, (off_t)roff) !=
		    (ssize_t)g.block_size) {
			perror("pread");
			return 1;
		}
		if (memcmp(blk, "SLOTRGN1", 8) || blk[0x1c] >= g.class_count)
			continue;
		nassigned++;
		unsigned cls = blk[0x1c];
		unsigned shift = __builtin_ctz(g.min_slot) + 2 * cls;
		uint64_t payload = 1ull << shift;
		if (payload > g.chunk_size)
			payload = g.chunk_size;
		uint64_t stride = g.block_size + payload;
		uint64_t nslots = (g.region_size - g.block_size) / stride;
		for (uint64_t j = 0; j < nslots; j++) {
			fprintf(f, "%s read %" PRIu64 " %u\n", real,
				roff + g.block_size + j * stride, g.block_size);
			nhdr++;
		}
	}
	fprintf(f, "%s close\n", real);
	if (fclose(f) != 0) {
		perror(out);
		return 1;
	}
	close(fd);
	free(blk);
	printf("core hdrlog headers=%" PRIu64 " regions=%u assigned=%" PRIu64
	       "\n", nhdr, g.region_count, nassigned);
	return 0;
}

/* ------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr,
		"usage: %s run IMAGE [-t MIB] [-n SMALL] [-r SECONDS] [-q QD] [-b BATCH] [-H] [-1]\n"
		"       %s populate IMAGE -n FILES [-s SIZE] [-q QD] [-b BATCH]\n"
		"       %s fill IMAGE [-p PERCENT] [-q QD] [-b BATCH]\n"
		"       %s memory IMAGE\n"
		"       %s ckpt IMAGE [-r SECONDS]\n"
		"       %s hdrlog IMAGE OUT\n", prog, prog, prog, prog, prog, prog);
	exit(2);
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s || *end)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	struct run_cfg c = { .total_mib = 1024, .nsmall = 65536,
			     .runtime = 10, .qd = 32, .batch = 0 };
	uint64_t files = 0, size = SMALL, percent = 50;
	int opt;

	if (argc < 3)
		usage();
	const char *cmd = argv[1], *image = argv[2];
	if (!strcmp(cmd, "hdrlog")) {
		if (argc != 4)
			usage();
		return cmd_hdrlog(image, argv[3]);
	}
	optind = 3;
	while ((opt = getopt(argc, argv, "t:n:r:q:b:s:p:H1")) != -1) {
		switch (opt) {
		case 't': c.total_mib = num(optarg); break;
		case 'n': c.nsmall = files = num(optarg); break;
		case 'r': c.runtime = strtod(optarg, NULL); break;
		case 'q': c.qd = (unsigned)num(optarg); break;
		case 'b': c.batch = (unsigned)num(optarg); break;
		case 's': size = num(optarg); break;
		case 'p': percent = num(optarg); break;
		case 'H': huge = true; break;
		case '1': c.one_call = true; break;
		default: usage();
		}
	}
	if (optind != argc || !c.qd || percent > 100)
		usage();
	/* one batch fills the engine's queue */
	if (!c.batch)
		c.batch = c.qd;
	if (!strcmp(cmd, "run")) {
		if (!c.total_mib || !c.nsmall)
			usage();
		return cmd_run(image, &c);
	}
	if (!strcmp(cmd, "populate")) {
		if (!files || !size)
			usage();
		return cmd_populate(image, files, (size_t)size, c.qd, c.batch);
	}
	if (!strcmp(cmd, "memory"))
		return cmd_memory(image, c.qd);
	if (!strcmp(cmd, "ckpt"))
		return cmd_ckpt(image, c.qd, c.runtime > 0 ? c.runtime : 1);
	if (!strcmp(cmd, "fill"))
		return cmd_fill(image, (unsigned)percent, c.qd, c.batch);
	usage();
	return 2;
}
