/* SPDX-License-Identifier: MIT */
/*
 * test_compact.c - space freed among small chunks serves large ones: a
 * store whose regions all hold some small chunks empties regions when a
 * large chunk finds no room (core/compact.c), so what status (and df)
 * counts as free can be written, and nothing stored is lost.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <unistd.h>

#include "helpers.h"
#include "internal.h"     /* an allocation and its retry, white-box */

#define MiB (1u << 20)
#define SMALL 4096

static struct t_env env;
static void setup(void) { t_setup(&env, 64ull << 20); }
static void teardown(void) { t_teardown(&env); }
TestSuite(compact, .init = setup, .fini = teardown, .timeout = 120);

static void small_key(char *key, size_t cap, int i)
{
	snprintf(key, cap, "s/%05d", i);
}

static void big_key(char *key, size_t cap, int i)
{
	snprintf(key, cap, "b/%03d", i);
}

/* Small objects from key from on until the store is full: every region
 * holds them.  Returns the number of the first key that did not fit. */
static int fill_small_from(int from)
{
	char key[32], buf[SMALL];
	int n = from, err = 0;
	for (; !err; n++) {
		small_key(key, sizeof(key), n);
		t_fill(buf, sizeof(buf), (unsigned)n);
		err = t_put1(env.s, key, buf, sizeof(buf));
	}
	cr_assert_eq(err, -ENOSPC, "filling: %d", err);
	cr_assert_eq(t_status(env.s).regions_free, 0);
	return n - 1;
}

static int fill_small(void)
{
	return fill_small_from(0);
}

/* Delete all but every keep-th: each region keeps some. */
static void thin_small(int n, int keep)
{
	char key[32];
	for (int i = 0; i < n; i++) {
		if (i % keep == 0)
			continue;
		small_key(key, sizeof(key), i);
		const char *k = key;
		cr_assert_eq(slot_delete_many(env.s, &k, 1, NULL), 0, "%s", key);
	}
	cr_assert_eq(slot_sync(env.s), 0);
}

static void expect_small(int n, int keep)
{
	char key[32], buf[SMALL];
	for (int i = 0; i < n; i += keep) {
		small_key(key, sizeof(key), i);
		t_fill(buf, sizeof(buf), (unsigned)i);
		cr_assert_eq(t_get_cmp(env.s, key, buf, sizeof(buf)), 0, "%s",
			     key);
	}
}

static void expect_big(int m)
{
	static char buf[MiB];
	char key[32];
	for (int i = 0; i < m; i++) {
		big_key(key, sizeof(key), i);
		t_fill(buf, sizeof(buf), 5000u + (unsigned)i);
		cr_assert_eq(t_get_cmp(env.s, key, buf, sizeof(buf)), 0, "%s",
			     key);
	}
}

static void expect_fsck_clean(void)
{
	struct slot_fsck_opts fo = { .mode = SLOT_FSCK_CHECK, .force = true };
	struct slot_fsck_result fr;
	cr_assert_eq(slot_fsck(env.dev, &fo, &fr), 0);
	cr_expect_eq(fr.exit_code, SLOT_FSCK_OK, "fsck -f -n: exit %d, "
		     "%" PRIu64 " problems", fr.exit_code, fr.problems);
}

/*
 * A store filled with 4 KiB objects, three in four deleted: every region
 * is a quarter used, none is free.  1 MiB objects then fill what was
 * freed: at least the payload bytes status counted free (4 KiB slots
 * carry as much header as payload, so 1 MiB slots hold more).  Without
 * compaction not one fits.  Every object reads back, after a clean
 * reopen and fsck too.
 */
Test(compact, freed_small_slots_hold_large_objects)
{
	int n = fill_small();
	thin_small(n, 4);
	uint64_t free_bytes = t_status(env.s).bytes_free;
	cr_assert_eq(t_status(env.s).regions_free, 0);

	static char buf[MiB];
	char key[32];
	int m = 0, err = 0;
	for (; !err; m++) {
		big_key(key, sizeof(key), m);
		t_fill(buf, sizeof(buf), 5000u + (unsigned)m);
		err = t_put1(env.s, key, buf, sizeof(buf));
	}
	m--;
	cr_assert_eq(err, -ENOSPC, "1 MiB puts ended with %d", err);
	struct slot_status_ext ext = { .size = sizeof(ext) };
	cr_assert_eq(slot_status_ext_get(env.s, &ext), 0);
	cr_expect_geq(ext.compaction_regions, 1);
	cr_expect_geq(ext.compaction_chunks, ext.compaction_regions);
	cr_expect_eq(ext.compaction_bytes, SMALL * ext.compaction_chunks);
	/* a caller built against fewer fields gets just those */
	struct slot_status_ext part;
	memset(&part, 0xee, sizeof(part));
	part.size = offsetof(struct slot_status_ext, compaction_failed);
	cr_assert_eq(slot_status_ext_get(env.s, &part), 0);
	cr_expect_eq(part.compaction_regions, ext.compaction_regions);
	cr_expect_eq(part.compaction_failed, 0xeeeeeeeeeeeeeeeeull,
		     "written past the caller's size");
	cr_expect_geq((uint64_t)m * MiB, free_bytes, "%d objects of 1 MiB in "
		      "%" PRIu64 " bytes counted free", m, free_bytes);
	expect_small(n, 4);
	expect_big(m);

	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	expect_fsck_clean();
	t_reopen(&env);
	expect_small(n, 4);
	expect_big(m);
}

/* Another thread's shortfall between an allocation and its retry. */
static void *cp_short_small(void *arg)
{
	size_t need[SL_CLASS_MAX] = { 1 };      /* one small slot: fits */
	sl_alloc_short(arg, need);
	return NULL;
}

/* A retry makes room for what its own thread's allocation asked for: with
 * one record for the store, writers short of room at once took each
 * other's, and a retry holding a need that fits made no room (puts from
 * four threads met ENOSPC with 6-16% of the store free). */
Test(compact, a_retry_makes_room_for_its_own_shortfall)
{
	int n = fill_small();
	thin_small(n, 4);
	unsigned top = env.s->ncls - 1;
	uint64_t ref;
	uint32_t *nr = calloc(sl_new_regions_max(env.s, 1), sizeof(*nr));
	size_t nnew;
	cr_assert(nr);
	sl_lock(env.s);
	int err = sl_slots_alloc(env.s, &top, 1, &ref, nr, &nnew);
	sl_unlock(env.s);
	cr_assert_eq(err, -ENOSPC, "a chunk slot fits without compaction");
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, cp_short_small, env.s), 0);
	pthread_join(t, NULL);
	cr_assert_eq(sl_alloc_retry(env.s), 0);
	sl_lock(env.s);
	err = sl_slots_alloc(env.s, &top, 1, &ref, nr, &nnew);
	if (!err)
		sl_slot_free(env.s, ref);
	sl_unlock(env.s);
	free(nr);
	cr_expect_eq(err, 0, "the retry made no room for its own need");
}

/* The copies are written before the old slots are given up: a crash
 * (recovery from the last checkpoint and the slot headers) after the
 * regions were emptied and taken by large objects loses no small one. */
Test(compact, a_crash_after_compaction_keeps_every_object)
{
	int n = fill_small();
	thin_small(n, 4);
	static char buf[MiB];
	char key[32];
	int m = 0;
	for (; m < 12; m++) {
		big_key(key, sizeof(key), m);
		t_fill(buf, sizeof(buf), 5000u + (unsigned)m);
		cr_assert_eq(t_put1(env.s, key, buf, sizeof(buf)), 0, "%s",
			     key);
	}
	slot_abandon(env.s);
	env.s = NULL;
	t_reopen(&env);
	expect_small(n, 4);
	/* the big ones were never synced: each whole or absent */
	for (int i = 0; i < m; i++) {
		big_key(key, sizeof(key), i);
		t_fill(buf, sizeof(buf), 5000u + (unsigned)i);
		int r = t_get_cmp(env.s, key, buf, sizeof(buf));
		cr_assert(r == 0 || r == -ENOENT, "%s: %d", key, r);
	}
	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	expect_fsck_clean();
	t_reopen(&env);
}

/* The file face: small files, most removed, then a large file written
 * a MiB at a time (its writer holds its chunk's lock while the region is
 * emptied). */
Test(compact, a_large_file_fits_where_small_files_were)
{
	char name[32], small[SMALL];
	int n = 0;
	slot_ino_t inos[16384];
	for (;; n++) {
		cr_assert_lt(n, 16384);
		snprintf(name, sizeof(name), "f%05d", n);
		inos[n] = t_mkfile(env.s, name);
		t_fill(small, sizeof(small), (unsigned)n);
		ssize_t w = slot_file_write(env.s, inos[n], 0, small,
					    sizeof(small));
		if (w == sizeof(small))
			w = slot_file_fsync(env.s, inos[n], true);
		if (w == -ENOSPC)
			break;
		cr_assert_eq(w, 0, "%s: %zd", name, w);
	}
	for (int i = 0; i <= n; i++) {
		if (i % 5 == 0 && i < n)
			continue;
		snprintf(name, sizeof(name), "f%05d", i);
		cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, name), 0);
	}
	cr_assert_eq(slot_sync(env.s), 0);
	cr_assert_eq(t_status(env.s).regions_free, 0);

	slot_ino_t big = t_mkfile(env.s, "big");
	static char buf[MiB];
	const int want = 16;
	for (int i = 0; i < want; i++) {
		t_fill(buf, sizeof(buf), 7000u + (unsigned)i);
		cr_assert_eq(slot_file_write(env.s, big, (uint64_t)i * MiB, buf,
					     sizeof(buf)), (ssize_t)sizeof(buf),
			     "MiB %d", i);
	}
	cr_assert_eq(slot_file_fsync(env.s, big, false), 0);
	static char got[MiB];
	for (int i = 0; i < want; i++) {
		t_fill(buf, sizeof(buf), 7000u + (unsigned)i);
		cr_assert_eq(slot_file_read(env.s, big, (uint64_t)i * MiB, got,
					    sizeof(got)), (ssize_t)sizeof(got));
		cr_assert(!memcmp(buf, got, sizeof(got)), "MiB %d", i);
	}
	for (int i = 0; i < n; i += 5) {
		t_fill(small, sizeof(small), (unsigned)i);
		char back[SMALL];
		cr_assert_eq(slot_file_read(env.s, inos[i], 0, back,
					    sizeof(back)), (ssize_t)sizeof(back));
		cr_assert(!memcmp(small, back, sizeof(back)), "f%05d", i);
	}
	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	expect_fsck_clean();
	t_reopen(&env);
}

/* A store that is full for real (every slot of every class in use) has
 * nothing to empty: ENOSPC, at once, and what is there stays. */
Test(compact, a_full_store_still_refuses)
{
	int n = fill_small();
	static char buf[MiB];
	t_fill(buf, sizeof(buf), 1);
	cr_assert_eq(t_put1(env.s, "b/one", buf, sizeof(buf)), -ENOSPC);
	expect_small(n, 1);
}

/* Large puts in a thread of their own, until one had to empty a region
 * (whose copy's read the test holds, then releases). */
struct big_puts {
	atomic_bool released;
	int res;
};

static void *put_big(void *arg)
{
	struct big_puts *b = arg;
	static char buf[MiB];
	char key[32];
	t_fill(buf, sizeof(buf), 9);
	for (int i = 0; !b->res && !atomic_load(&b->released); i++) {
		big_key(key, sizeof(key), i);
		b->res = t_put1(env.s, key, buf, sizeof(buf));
	}
	return NULL;
}

/* Start them, with the first read compaction makes held: returns once
 * it is. */
static void big_puts_start(struct big_puts *b, pthread_t *t)
{
	slot_emu_hold_read(env.emu, 1);
	cr_assert_eq(pthread_create(t, NULL, put_big, b), 0);
	slot_emu_wait_held(env.emu);
}

static void big_puts_release(struct big_puts *b)
{
	atomic_store(&b->released, true);
	slot_emu_release(env.emu);
}

/* Of the keys fill_small put, delete all in the first region but key 0,
 * and seven in eight elsewhere: compaction then empties the first region
 * first, and key 0's copy is the first read it makes. */
static void leave_key0_alone(int n)
{
	struct slot_status st = t_status(env.s);
	int per = (int)(st.slots_total / st.regions_total);
	char key[32];
	for (int i = 1; i < n; i++) {
		if (i >= per && i % 8 == 0)
			continue;
		small_key(key, sizeof(key), i);
		const char *k = key;
		cr_assert_eq(slot_delete_many(env.s, &k, 1, NULL), 0, "%s", key);
	}
	cr_assert_eq(slot_sync(env.s), 0);
}

/* The store as leave_key0_alone leaves it: key 0's inode. */
static slot_ino_t key0_alone(void)
{
	leave_key0_alone(fill_small());
	struct slot_attr dir, a;
	cr_assert_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "s", &dir), 0);
	cr_assert_eq(slot_ns_lookup(env.s, dir.ino, "00000", &a), 0);
	return a.ino;
}

/*
 * Compaction copies a chunk without the chunk's lock (the thread that ran
 * short of space may hold any), so a write of the same file waits for the
 * copy to land before it looks at the chunk: else it could read the old
 * slot after the copy gave it up and it was reused.  Key 0 alone in the
 * region compaction empties; the copy's read is held; a write into key 0
 * must wait until it is released, and then keeps both: the copy's bytes
 * and its own, durable with its fsync.
 */
Test(compact, a_write_waits_for_a_copy_of_its_file)
{
	slot_ino_t ino = key0_alone();
	pthread_t tb;
	struct big_puts big = { .res = 0 };
	big_puts_start(&big, &tb);      /* held: the copy's read of key 0 */
	static const char x[100] = { [0 ... 99] = 'x' };
	struct t_bg_write w = { .s = env.s, .ino = ino, .off = 10, .buf = x,
				.len = sizeof(x), .sync = true };
	t_bg_write_start(&w);
	usleep(200 * 1000);
	bool early = atomic_load(&w.done);
	big_puts_release(&big);
	pthread_join(tb, NULL);
	pthread_join(w.t, NULL);
	cr_expect(!early, "the write did not wait for the copy");
	cr_assert_eq(big.res, 0, "the large puts: %d", big.res);
	cr_assert_eq(w.res, 0, "the write: %zd", w.res);

	char want[SMALL], got[SMALL];
	t_fill(want, sizeof(want), 0);
	memset(want + 10, 'x', 100);
	cr_assert_eq(slot_file_read(env.s, ino, 0, got, sizeof(got)),
		     (ssize_t)sizeof(got));
	cr_assert(!memcmp(got, want, sizeof(got)), "key 0 differs");
	slot_abandon(env.s);
	env.s = NULL;
	t_reopen(&env);
	small_key(got, sizeof(got), 0);
	cr_assert_eq(t_get_cmp(env.s, got, want, sizeof(want)), 0,
		     "after a crash");
}

/* Key 0 alone in the region compaction empties; cut(ino) runs while its
 * copy's read is held; after, key 0's 4 KiB read as zeros, also after a
 * clean reopen (the checkpoint). */
static void cut_during_copy(void (*cut)(slot_ino_t ino), const char *what)
{
	slot_ino_t ino = key0_alone();
	pthread_t tb;
	struct big_puts big = { .res = 0 };
	big_puts_start(&big, &tb);
	cut(ino);
	big_puts_release(&big);
	pthread_join(tb, NULL);
	cr_assert_eq(big.res, 0, "the large put: %d", big.res);
	char got[SMALL], zeros[SMALL] = { 0 };
	for (int pass = 0; pass < 2; pass++) {
		cr_assert_eq(slot_file_read(env.s, ino, 0, got, sizeof(got)),
			     (ssize_t)sizeof(got));
		cr_assert(!memcmp(got, zeros, sizeof(got)),
			  "the %s file shows its old bytes (pass %d)", what,
			  pass);
		cr_assert_eq(slot_close(env.s), 0);
		t_reopen(&env);
	}
}

static void cut_truncate(slot_ino_t ino)
{
	struct slot_attr to = { .size = 0 };
	cr_assert_eq(slot_ns_setattr(env.s, ino, &to, SLOT_SET_SIZE, NULL), 0);
	to.size = SMALL;
	cr_assert_eq(slot_ns_setattr(env.s, ino, &to, SLOT_SET_SIZE, NULL), 0);
}

static void cut_punch(slot_ino_t ino)
{
	cr_assert_eq(slot_file_zero(env.s, ino, 0, SMALL, true), 0);
}

/*
 * A truncation takes the chunk a copy is making meanwhile: the copy must
 * not land, or the file, extended again, would show the old bytes where
 * it must read zeros.
 */
Test(compact, a_copy_of_a_truncated_chunk_does_not_land)
{
	cut_during_copy(cut_truncate, "truncated");
}

/* The same for a hole punched over the chunk (fallocate PUNCH_HOLE). */
Test(compact, a_copy_of_a_punched_chunk_does_not_land)
{
	cut_during_copy(cut_punch, "punched");
}

/*
 * A put too large for the store even after compaction: it fails with
 * ENOSPC, the regions emptied for it stay in the pool (their headers on
 * the device still name their old class), and the store is sound: every
 * small object reads back, fsck finds nothing wrong, and after a crash
 * recovery keeps them all.
 */
Test(compact, regions_emptied_for_a_put_that_still_fails)
{
	int n = fill_small();
	thin_small(n, 4);
	/* the store's 7 regions hold 49 chunks; the small objects kept
	 * need one or two of them (larger than 49 is refused at once) */
	size_t len = 45u << 20;
	char *huge = malloc(len);
	cr_assert_not_null(huge);
	t_fill(huge, len, 77);
	cr_assert_eq(t_put1(env.s, "huge", huge, len), -ENOSPC);
	free(huge);
	cr_expect_gt(t_status(env.s).regions_free, 0, "nothing was emptied");
	expect_small(n, 4);
	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	expect_fsck_clean();
	t_reopen(&env);
	expect_small(n, 4);
	slot_abandon(env.s);
	env.s = NULL;
	t_reopen(&env);
	expect_small(n, 4);
	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	expect_fsck_clean();
	t_reopen(&env);
}
