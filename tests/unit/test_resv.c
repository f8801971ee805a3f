/* SPDX-License-Identifier: MIT */
/* test_resv.c - slot_file_allocate (fallocate's modes 0 and KEEP_SIZE):
 * the space set aside holds against other writers, a first write spends
 * it, truncation, punched holes and the file's end give it back, and a
 * checkpoint keeps it. */
#include <errno.h>
#include <sys/stat.h>

#include "helpers.h"
#include "internal.h"

#define MiB (1ull << 20)

static struct t_env env;
static void setup(void) { t_setup(&env, 128 * MiB); }
static void teardown(void) { t_teardown(&env); }
TestSuite(resv, .init = setup, .fini = teardown, .timeout = 60);

static uint64_t promised(void)
{
	sl_lock(env.s);
	uint64_t n = env.s->resv_slots;
	sl_unlock(env.s);
	return n;
}

static int truncate_to(slot_ino_t f, uint64_t size)
{
	struct slot_attr in = { .size = size }, out;
	return slot_ns_setattr(env.s, f, &in, SLOT_SET_SIZE, &out);
}

static uint64_t blocks(slot_ino_t f)
{
	struct slot_attr a;
	cr_assert_eq(slot_ns_getattr(env.s, f, &a), 0);
	return a.blocks;
}

/* 1 MiB chunks of file f from chunk first on, until one fails: how many
 * went in, and the error in *err. */
static int write_chunks(slot_ino_t f, int first, int most, int *err)
{
	static uint8_t b[MiB];
	int n = 0;
	*err = 0;
	for (; n < most; n++) {
		t_fill(b, sizeof(b), (unsigned)(first + n));
		ssize_t w = slot_file_write(env.s, f, (uint64_t)(first + n) * MiB,
					    b, sizeof(b));
		if (w < 0) {
			*err = (int)w;
			break;
		}
		if (n % 8 == 7 && (*err = slot_file_fsync(env.s, f, true)))
			break;
	}
	if (!*err)
		*err = slot_file_fsync(env.s, f, true);
	return n;
}

/*
 * 40 MiB set aside for one file; another file then fills the store and
 * meets ENOSPC with those 40 MiB still free; the first file's 40 chunks
 * all go in after that.  Without the promise the other file takes them.
 */
Test(resv, the_space_holds_against_another_writer)
{
	slot_ino_t pre = t_mkfile(env.s, "pre"), other = t_mkfile(env.s, "other");
	cr_assert_eq(slot_file_allocate(env.s, pre, 0, 40 * MiB, false), 0);
	cr_expect_eq(promised(), 40);
	struct slot_attr a;
	cr_assert_eq(slot_ns_getattr(env.s, pre, &a), 0);
	cr_expect_eq(a.size, 40 * MiB, "mode 0 sets the size");
	cr_expect_eq(a.blocks, 40 * MiB / 512, "blocks: %llu",
		     (unsigned long long)a.blocks);
	int err, n = write_chunks(other, 0, 1000, &err);
	cr_expect_eq(err, -ENOSPC, "the other writer ended with %d", err);
	cr_expect_gt(n, 10, "the other writer wrote only %d MiB", n);
	n = write_chunks(pre, 0, 40, &err);
	cr_expect_eq(err, 0, "a promised chunk failed: %d after %d", err, n);
	cr_expect_eq(n, 40);
	cr_expect_eq(promised(), 0);
	cr_expect_eq(blocks(pre), 40 * MiB / 512, "written: %llu",
		     (unsigned long long)blocks(pre));
	/* more than the free space: refused, nothing set aside */
	slot_ino_t late = t_mkfile(env.s, "late");
	cr_expect_eq(slot_file_allocate(env.s, late, 0, 64 * MiB, true),
		     -ENOSPC);
	cr_expect_eq(promised(), 0);
	cr_expect_eq(blocks(late), 0);
}

/* What is spent and what is given back, chunk by chunk. */
Test(resv, writes_truncation_holes_and_unlink_give_it_back)
{
	slot_ino_t f = t_mkfile(env.s, "f");
	uint8_t b[4096];
	t_fill(b, sizeof(b), 1);
	/* chunk 0 holds data: only 1..9 are set aside */
	cr_assert_eq(slot_file_write(env.s, f, 0, b, sizeof(b)), 4096);
	cr_assert_eq(slot_file_allocate(env.s, f, 0, 10 * MiB, true), 0);
	cr_expect_eq(promised(), 9);
	struct slot_attr a;
	cr_assert_eq(slot_ns_getattr(env.s, f, &a), 0);
	cr_expect_eq(a.size, 4096, "KEEP_SIZE keeps the size");
	/* again over the same range: nothing more */
	cr_assert_eq(slot_file_allocate(env.s, f, 0, 10 * MiB, true), 0);
	cr_expect_eq(promised(), 9);
	/* a small write into chunk 3 spends its promise */
	cr_assert_eq(slot_file_write(env.s, f, 3 * MiB + 7, b, 100), 100);
	cr_expect_eq(promised(), 8);
	/* a hole over chunks 5 and 6 (and part of 4, 7) gives two back */
	cr_assert_eq(slot_file_zero(env.s, f, 4 * MiB + 1, 3 * MiB, true), 0);
	cr_expect_eq(promised(), 6, "after the hole: %llu",
		     (unsigned long long)promised());
	/* growing by truncate gives nothing back */
	cr_assert_eq(truncate_to(f, 20 * MiB), 0);
	cr_expect_eq(promised(), 6);
	/* a truncation to 8.5 MiB keeps chunk 8, gives 9 back */
	cr_assert_eq(truncate_to(f, 8 * MiB + MiB / 2), 0);
	cr_expect_eq(promised(), 5);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "f"), 0);
	cr_expect_eq(promised(), 0, "the end of the file kept %llu",
		     (unsigned long long)promised());
}

/* A checkpoint keeps the promise; recovery spends those of chunks
 * written after it. */
Test(resv, a_checkpoint_keeps_it_and_recovery_spends_it)
{
	/* a file the checkpoint has, with data: fsync could settle its
	 * size with a header, but only a checkpoint keeps the promise */
	slot_ino_t f = t_mkfile(env.s, "f");
	uint8_t b[4096];
	t_fill(b, sizeof(b), 3);
	cr_assert_eq(slot_file_write(env.s, f, 0, b, sizeof(b)), 4096);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_geq(slot_checkpoint(env.s, true), 0);
	cr_assert_eq(slot_file_allocate(env.s, f, MiB, 6 * MiB, false), 0);
	cr_expect_eq(promised(), 6);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	slot_abandon(env.s);    /* a crash: what fsync made durable */
	t_reopen(&env);
	cr_expect_eq(promised(), 6, "after the crash: %llu",
		     (unsigned long long)promised());
	cr_expect_eq(blocks(f), 6 * MiB / 512 + 4096 / 512);
	/* two chunks written and made durable, then a crash: recovery
	 * finds them past the checkpoint and their promises go */
	int err;
	cr_expect_eq(write_chunks(f, 2, 2, &err), 2);
	cr_assert_eq(err, 0);
	slot_abandon(env.s);
	t_reopen(&env);
	cr_expect_eq(promised(), 4, "after recovery: %llu",
		     (unsigned long long)promised());
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	cr_expect_eq(promised(), 4);
	struct slot_fsck_opts o = { .mode = SLOT_FSCK_CHECK, .force = true };
	struct slot_fsck_result r;
	slot_close(env.s);
	env.s = NULL;
	cr_assert_eq(slot_fsck(env.dev, &o, &r), 0);
	cr_expect_eq(r.exit_code, SLOT_FSCK_OK);
}

/* fsync makes a fallocate durable through the journal (a RESV record; the
 * size it set and the times a TRUNC's and a SETATTR's), not a checkpoint,
 * which on a store of many files costs milliseconds; the journal write
 * takes another file's fallocate too. */
Test(resv, the_journal_keeps_it_at_fsync)
{
	slot_ino_t f = t_mkfile(env.s, "f"), g = t_mkfile(env.s, "g");
	cr_assert_geq(slot_checkpoint(env.s, true), 0);
	uint64_t ck = env.s->ckpt_count;
	uint64_t jw = atomic_load(&env.s->jnl_writes);
	cr_assert_eq(slot_file_allocate(env.s, f, 0, 3 * MiB, false), 0);
	cr_assert_eq(slot_file_allocate(env.s, g, 2 * MiB, 2 * MiB, true), 0);
	struct slot_attr fa, ga;
	cr_assert_eq(slot_ns_getattr(env.s, f, &fa), 0);
	cr_assert_eq(slot_ns_getattr(env.s, g, &ga), 0);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_expect_eq(env.s->ckpt_count, ck, "fsync took a checkpoint");
	cr_expect_gt(atomic_load(&env.s->jnl_writes), jw, "no journal write");
	slot_abandon(env.s);
	t_reopen(&env);
	cr_expect_eq(promised(), 5, "after a crash: %llu",
		     (unsigned long long)promised());
	struct slot_attr got;
	cr_assert_eq(slot_ns_getattr(env.s, f, &got), 0);
	cr_expect_eq(got.size, 3 * MiB);
	cr_expect(got.mtime.tv_sec == fa.mtime.tv_sec &&
		  got.mtime.tv_nsec == fa.mtime.tv_nsec, "f's mtime");
	cr_assert_eq(slot_ns_getattr(env.s, g, &got), 0);
	cr_expect_eq(got.size, 0);
	cr_expect(got.mtime.tv_sec == ga.mtime.tv_sec &&
		  got.mtime.tv_nsec == ga.mtime.tv_nsec, "g's mtime");
	cr_expect_eq(blocks(g), 2 * MiB / 512);
}

/* What a truncation or a hole gives back is journaled too (a RESV record
 * with CUT): fsync takes no checkpoint for it, and a crash after it does
 * not bring the promise back.  A range set aside again after a cut comes
 * back, in the records' order. */
Test(resv, the_journal_gives_it_back_at_fsync)
{
	slot_ino_t f = t_mkfile(env.s, "f"), g = t_mkfile(env.s, "g");
	cr_assert_eq(slot_file_allocate(env.s, f, 0, 8 * MiB, false), 0);
	cr_assert_eq(slot_file_allocate(env.s, g, 0, 8 * MiB, true), 0);
	cr_assert_eq(slot_sync(env.s), 0);
	cr_assert_eq(promised(), 16);
	uint64_t ck = env.s->ckpt_count;
	/* f: cut to 2.5 MiB keeps chunks 0..2; g: a hole over 4..5 */
	cr_assert_eq(truncate_to(f, 2 * MiB + MiB / 2), 0);
	cr_assert_eq(slot_file_zero(env.s, g, 4 * MiB, 2 * MiB, true), 0);
	/* and chunk 5 set aside again */
	cr_assert_eq(slot_file_allocate(env.s, g, 5 * MiB, MiB, true), 0);
	cr_assert_eq(promised(), 3 + 7);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_expect_eq(env.s->ckpt_count, ck, "fsync took a checkpoint");
	slot_abandon(env.s);
	t_reopen(&env);
	cr_expect_eq(promised(), 10, "after a crash: %llu",
		     (unsigned long long)promised());
	cr_expect_eq(blocks(f), 3 * MiB / 512);
	cr_expect_eq(blocks(g), 7 * MiB / 512);
}
