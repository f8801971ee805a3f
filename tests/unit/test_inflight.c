/* SPDX-License-Identifier: MIT */
/*
 * test_inflight.c - the review's invariants: in-flight accounting, the
 * last-I/O stamp, delete cancelling a put, the idle-gated checkpoint and
 * the flush before a checkpoint.
 */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "helpers.h"

static struct t_env env;
static void setup(void) { t_setup(&env, 128ull << 20); }
static void teardown(void) { t_teardown(&env); }
TestSuite(inflight, .init = setup, .fini = teardown, .timeout = 60);

struct bg_put {
	pthread_t th;
	struct slot_put p[4];
	size_t n;
	int ret;
	char data[4][20000];
};

static void *bg_put_run(void *arg)
{
	struct bg_put *b = arg;
	b->ret = slot_put_many(env.s, b->p, b->n);
	return NULL;
}

/* Start a put of keys whose first device write blocks until released. */
static void bg_put_start(struct bg_put *b, const char **keys, size_t n)
{
	memset(b, 0, sizeof(*b));
	b->n = n;
	for (size_t i = 0; i < n; i++) {
		t_fill(b->data[i], sizeof(b->data[i]), (unsigned)i + 7);
		b->p[i] = (struct slot_put){ .key = keys[i], .buf = b->data[i],
					     .len = sizeof(b->data[i]) };
	}
	slot_emu_hold_write(env.emu, 1);
	cr_assert_eq(pthread_create(&b->th, NULL, bg_put_run, b), 0);
	slot_emu_wait_held(env.emu);
}

static void bg_put_finish(struct bg_put *b)
{
	slot_emu_release(env.emu);
	pthread_join(b->th, NULL);
}

static void prime(void)
{
	/* a committed object of the same size: its class has a region */
	char d[20000];
	t_fill(d, sizeof(d), 99);
	cr_assert_eq(t_put1(env.s, "prime", d, sizeof(d)), 0);
}

Test(inflight, count_covers_allocate_to_commit)
{
	prime();
	const char *keys[] = { "a", "b", "c" };
	struct bg_put b;
	cr_expect_eq(t_status(env.s).inflight_io_count, 0);
	bg_put_start(&b, keys, 3);
	/* between allocate and commit: the whole batch is in flight */
	cr_expect_eq(t_status(env.s).inflight_io_count, 3);
	cr_expect_eq(slot_lookup(env.s, "a", NULL), -ENOENT,
		     "a put is visible before it commits");
	bg_put_finish(&b);
	cr_expect_eq(b.ret, 0);
	cr_expect_eq(t_status(env.s).inflight_io_count, 0);
	cr_expect_eq(slot_lookup(env.s, "a", NULL), 0);
}

/* last_io_ts moves only when I/O succeeds: reads (get and file read) and
 * writes alike (review F1, F2, F3). */
Test(inflight, last_io_stamped_only_on_success)
{
	char d[8192];
	t_fill(d, sizeof(d), 1);
	cr_assert_eq(t_put1(env.s, "k", d, sizeof(d)), 0);
	struct slot_attr a;
	cr_assert_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "k", &a), 0);
	usleep(150 * 1000);

	slot_emu_fail_reads(env.emu, -EIO);
	cr_expect_eq(t_get_cmp(env.s, "k", d, sizeof(d)), -EIO);
	char out[100];
	cr_expect_eq(slot_file_read(env.s, a.ino, 0, out, sizeof(out)), -EIO);
	slot_emu_fail_reads(env.emu, 0);
	cr_expect_geq(t_status(env.s).last_io_age_ms, 140,
		      "a failed read stamped last_io_ts");

	slot_emu_fail_writes(env.emu, -EIO);
	cr_expect_eq(t_put1(env.s, "k2", d, sizeof(d)), -EIO);
	slot_emu_fail_writes(env.emu, 0);
	cr_expect_geq(t_status(env.s).last_io_age_ms, 140,
		      "a failed write stamped last_io_ts");
	cr_expect_eq(t_status(env.s).inflight_io_count, 0,
		     "a failed put left the in-flight count up");
	cr_expect_eq(slot_lookup(env.s, "k2", NULL), -ENOENT);

	cr_expect_eq(t_get_cmp(env.s, "k", d, sizeof(d)), 0);
	cr_expect_lt(t_status(env.s).last_io_age_ms, 100,
		     "a good read did not stamp last_io_ts");
	usleep(150 * 1000);
	cr_expect_eq(slot_file_read(env.s, a.ino, 0, out, sizeof(out)), 100);
	cr_expect_lt(t_status(env.s).last_io_age_ms, 100);
	usleep(150 * 1000);
	cr_expect_eq(t_put1(env.s, "k3", d, sizeof(d)), 0);
	cr_expect_lt(t_status(env.s).last_io_age_ms, 100,
		     "a good write did not stamp last_io_ts");
}

Test(inflight, delete_cancels_inflight_put)
{
	prime();
	uint64_t free_before = t_status(env.s).slots_free;
	const char *keys[] = { "victim" };
	struct bg_put b;
	bg_put_start(&b, keys, 1);
	cr_expect_eq(t_status(env.s).slots_free, free_before - 1);
	int res = 1;
	cr_expect_eq(slot_delete_many(env.s, keys, 1, &res), 0);
	cr_expect_eq(res, 0);
	bg_put_finish(&b);
	cr_expect_eq(b.p[0].result, -ECANCELED);
	cr_expect_eq(b.ret, -ECANCELED);
	cr_expect_eq(slot_lookup(env.s, "victim", NULL), -ENOENT,
		     "a canceled put resurrected its key");
	cr_expect_eq(t_status(env.s).slots_free, free_before,
		     "the canceled put's slot was not freed");
	cr_expect_eq(t_status(env.s).canceled_puts, 1);
	/* and it stays gone across a clean close */
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	cr_expect_eq(slot_lookup(env.s, "victim", NULL), -ENOENT);
}

Test(inflight, delete_cancels_overwrite_of_existing_key)
{
	prime();
	const char *keys[] = { "prime" };
	struct bg_put b;
	bg_put_start(&b, keys, 1);
	cr_expect_eq(slot_delete_many(env.s, keys, 1, NULL), 0);
	bg_put_finish(&b);
	cr_expect_eq(b.ret, -ECANCELED);
	cr_expect_eq(slot_lookup(env.s, "prime", NULL), -ENOENT);
}

/* Review F4: make the store dirty first, so the gate is what says no. */
Test(inflight, checkpoint_idle_gate)
{
	prime();
	struct slot_status st = t_status(env.s);
	cr_assert_gt(st.metadata_dirty_total, st.metadata_persisted,
		     "precondition: the store must be dirty");
	const char *keys[] = { "held" };
	struct bg_put b;
	bg_put_start(&b, keys, 1);
	usleep((env.opts.meta_idle_quiet_ms + 50) * 1000);
	uint64_t writes = slot_emu_writes(env.emu);
	uint64_t seq = t_status(env.s).metadata_seq;
	cr_expect_eq(slot_checkpoint(env.s, false), 0,
		     "checkpoint ran with a put in flight");
	cr_expect_eq(t_status(env.s).metadata_seq, seq);
	cr_expect_eq(slot_emu_writes(env.emu), writes);
	bg_put_finish(&b);
	cr_assert_eq(b.ret, 0);

	/* nothing in flight, but the quiet period has not passed */
	st = t_status(env.s);
	cr_assert_gt(st.metadata_dirty_total, st.metadata_persisted);
	cr_expect_eq(slot_checkpoint(env.s, false), 0,
		     "checkpoint ran inside the quiet period");
	usleep((env.opts.meta_idle_quiet_ms + 50) * 1000);
	cr_expect_eq(slot_checkpoint(env.s, false), 1,
		     "gate stayed shut after the quiet period");
	st = t_status(env.s);
	cr_expect_eq(st.metadata_persisted, st.metadata_dirty_total);
	cr_expect_eq(st.metadata_seq, seq + 1);

	/* clean: nothing is written, forced or not */
	writes = slot_emu_writes(env.emu);
	cr_expect_eq(slot_checkpoint(env.s, false), 0);
	cr_expect_eq(slot_checkpoint(env.s, true), 0);
	cr_expect_eq(slot_emu_writes(env.emu), writes);
}

/* The periodic thread: the gate defers a checkpoint, but not for ever.
 * The quiet period outlasts the test, so the gate never opens; the store
 * is dirty, so only the bound on deferring can write one. */
Test(inflight, periodic_checkpoint_deferred_at_most_six_periods)
{
	slot_close(env.s);
	env.opts.periodic_checkpoint = true;
	env.opts.checkpoint_interval_ms = 20;
	env.opts.meta_idle_quiet_ms = 600000;
	t_reopen(&env);
	prime();
	struct slot_status st = t_status(env.s);
	cr_assert_gt(st.metadata_dirty_total, st.metadata_persisted,
		     "precondition: the store must be dirty");
	uint64_t seq = st.metadata_seq;
	/* six periods are 120 ms: nothing before, whatever the scheduler */
	usleep(50 * 1000);
	cr_expect_eq(t_status(env.s).metadata_seq, seq,
		     "the gate let a checkpoint through");
	for (int i = 0; i < 200 && t_status(env.s).metadata_seq == seq; i++)
		usleep(10 * 1000);
	st = t_status(env.s);
	cr_expect_gt(st.metadata_seq, seq,
		     "no checkpoint in 2 s of a gate that never opens");
	cr_expect_eq(st.metadata_persisted, st.metadata_dirty_total);
}

Test(inflight, forced_checkpoint_bypasses_gate)
{
	prime();
	const char *keys[] = { "held" };
	struct bg_put b;
	bg_put_start(&b, keys, 1);
	uint64_t seq = t_status(env.s).metadata_seq;
	cr_expect_eq(slot_checkpoint(env.s, true), 1);
	cr_expect_eq(t_status(env.s).metadata_seq, seq + 1);
	bg_put_finish(&b);
	cr_expect_eq(b.ret, 0);
}

/* Data, flush, checkpoint container, flush: in that order. */
Test(inflight, flush_before_and_after_checkpoint)
{
	struct slot_geometry g;
	slot_geometry_get(env.s, &g);
	slot_emu_log_start(env.emu);
	prime();
	cr_assert_eq(slot_checkpoint(env.s, true), 1);
	slot_emu_log_stop(env.emu);
	const struct slot_emu_op *ops;
	size_t n = slot_emu_log(env.emu, &ops);
	long last_data = -1, first_meta = -1, last_meta = -1;
	for (size_t i = 0; i < n; i++) {
		if (ops[i].kind != 'W')
			continue;
		bool meta = ops[i].off >= g.meta_offset &&
			    ops[i].off < g.meta_offset + g.meta_size;
		if (meta) {
			if (first_meta < 0)
				first_meta = (long)i;
			last_meta = (long)i;
		} else if (ops[i].off >= g.slot_area_offset) {
			last_data = (long)i;
		}
	}
	cr_assert_geq(last_data, 0);
	cr_assert_gt(first_meta, last_data);
	bool flush_between = false, flush_after = false;
	for (long i = last_data + 1; i < first_meta; i++)
		flush_between |= ops[i].kind == 'F';
	for (long i = last_meta + 1; i < (long)n; i++)
		flush_after |= ops[i].kind == 'F';
	cr_expect(flush_between, "no flush between data and checkpoint");
	cr_expect(flush_after, "no flush after the checkpoint container");
}

/* Status says how long the last checkpoint held the store lock (puts and
 * writes wait that long), and the longest since open. */
Test(inflight, status_counts_the_checkpoint_lock_hold)
{
	prime();
	cr_assert_eq(slot_checkpoint(env.s, true), 1);
	struct slot_status_ext e = { .size = sizeof(e) };
	cr_assert_eq(slot_status_ext_get(env.s, &e), 0);
	cr_expect_gt(e.ckpt_lock_ns_last, 0);
	cr_expect_lt(e.ckpt_lock_ns_last, 10ull * 1000 * 1000 * 1000);
	cr_expect_geq(e.ckpt_lock_ns_max, e.ckpt_lock_ns_last);
	char txt[4096];
	cr_assert_gt(slot_status_ext_prometheus(&e, txt, sizeof(txt)), 0);
	cr_expect(strstr(txt, "\nslotfs_checkpoint_lock_seconds ") &&
		  strstr(txt, "\nslotfs_checkpoint_lock_max_seconds "), "%s",
		  txt);
}
