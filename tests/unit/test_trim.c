/* SPDX-License-Identifier: MIT */
/* test_trim.c - slot_trim (fstrim): free space goes back to the device,
 * and nothing a file or the durable checkpoint holds goes with it. */
#include <errno.h>
#include <sys/stat.h>

#include "helpers.h"
#include "internal.h"     /* sl_trim_free, white-box */

static struct t_env env;
static void setup(void) { t_setup(&env, 128ull << 20); }
static void teardown(void) { t_teardown(&env); }
TestSuite(trim, .init = setup, .fini = teardown, .timeout = 60);

/* File name with len bytes of seed's pattern. */
static slot_ino_t put_file(const char *name, size_t len, unsigned seed)
{
	struct slot_attr a;
	cr_assert_eq(slot_ns_mknod(env.s, SLOT_ROOT_INO, name, S_IFREG | 0644,
				   0, 0, 0, &a), 0);
	uint8_t *b = malloc(len);
	cr_assert_not_null(b);
	t_fill(b, len, seed);
	cr_assert_eq(slot_file_write(env.s, a.ino, 0, b, len), (ssize_t)len);
	cr_assert_eq(slot_file_fsync(env.s, a.ino, false), 0);
	free(b);
	return a.ino;
}

static void expect_file(const char *name, size_t len, unsigned seed)
{
	struct slot_attr a;
	cr_assert_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, name, &a), 0,
		     "%s is gone", name);
	cr_assert_eq(a.size, len, "%s: size %llu", name,
		     (unsigned long long)a.size);
	uint8_t *want = malloc(len), *got = malloc(len);
	cr_assert(want && got);
	t_fill(want, len, seed);
	cr_expect_eq(slot_file_read(env.s, a.ino, 0, got, len), (ssize_t)len);
	cr_expect(memcmp(want, got, len) == 0, "%s: bytes differ", name);
	free(want);
	free(got);
}

static const size_t sizes[] = { 4096, 10000, 70000, 1u << 20, 3000000 };
#define NFILES (sizeof(sizes) / sizeof(sizes[0]))

static void put_all(void)
{
	char name[16];
	for (size_t i = 0; i < NFILES; i++) {
		snprintf(name, sizeof(name), "f%zu", i);
		put_file(name, sizes[i], (unsigned)i + 1);
	}
}

static void expect_all(void)
{
	char name[16];
	for (size_t i = 0; i < NFILES; i++) {
		snprintf(name, sizeof(name), "f%zu", i);
		expect_file(name, sizes[i], (unsigned)i + 1);
	}
}

Test(trim, free_space_goes_and_files_stay)
{
	put_all();
	/* whole regions of 1 MiB slots with none free */
	put_file("full", 16u << 20, 42);
	put_file("gone", 2000000, 99);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "gone"), 0);
	cr_assert_eq(slot_sync(env.s), 0);
	uint64_t trimmed;
	cr_assert_eq(slot_trim(env.s, 0, UINT64_MAX, 0, &trimmed), 0);
	cr_expect_gt(trimmed, 80ull << 20, "only %llu bytes trimmed",
		     (unsigned long long)trimmed);
	cr_expect_eq(slot_emu_discarded(env.emu), trimmed);
	expect_all();
	expect_file("full", 16u << 20, 42);
	/* the space is whole: it takes a file again, and all survive */
	put_file("again", 2000000, 7);
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	expect_all();
	expect_file("again", 2000000, 7);
	struct slot_fsck_opts o = { .mode = SLOT_FSCK_CHECK, .force = true };
	struct slot_fsck_result r;
	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	cr_assert_eq(slot_fsck(env.dev, &o, &r), 0);
	cr_expect_eq(r.exit_code, SLOT_FSCK_OK, "fsck exit %d after a trim",
		     r.exit_code);
	t_reopen(&env);
}

/*
 * A file deleted after the last checkpoint: the checkpoint a crash falls
 * back to still has it, so its slots are not free to discard.  The free
 * space alone, without slot_trim's checkpoint first: nothing of it goes.
 */
Test(trim, spares_what_the_durable_checkpoint_has)
{
	put_all();
	cr_assert_eq(slot_sync(env.s), 0);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "f3"), 0);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "f1"), 0);
	uint64_t trimmed;
	cr_assert_eq(sl_trim_free(env.s, 0, UINT64_MAX, 0, &trimmed), 0);
	cr_expect_gt(trimmed, 0);
	slot_abandon(env.s);
	t_reopen(&env);
	expect_all();   /* the deletions were not durable: all come back */
}

/* slot_trim makes such deletions durable first, and their space goes
 * too. */
/* A crash: f4, removed, stays gone, and the files beside it whole. */
static void expect_f4_gone_after_crash(void)
{
	slot_abandon(env.s);
	t_reopen(&env);
	struct slot_attr a;
	cr_expect_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "f4", &a), -ENOENT);
	expect_file("f0", sizes[0], 1);
	expect_file("f3", sizes[3], 4);
}

Test(trim, takes_what_deletions_freed)
{
	put_all();
	cr_assert_eq(slot_sync(env.s), 0);
	uint64_t before;
	cr_assert_eq(sl_trim_free(env.s, 0, UINT64_MAX, 0, &before), 0);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "f4"), 0);
	uint64_t trimmed;
	cr_assert_eq(slot_trim(env.s, 0, UINT64_MAX, 0, &trimmed), 0);
	cr_expect_gt(before, 0);
	cr_expect_geq(trimmed, sizes[4], "%llu bytes trimmed",
		      (unsigned long long)trimmed);
	expect_f4_gone_after_crash();
}

/* A checkpoint that cannot be written (an image whose own file system is
 * full) keeps a removed file's slots: slot_trim gives back what is free
 * all the same, which may make the room the checkpoint needs, and says
 * that it failed; it had said nothing, and fstrim "trimmed".  Once the
 * device writes again, the next takes the file's space. */
Test(trim, says_when_what_deletions_freed_stays)
{
	put_all();
	cr_assert_eq(slot_sync(env.s), 0);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "f4"), 0);
	uint64_t trimmed;
	slot_emu_fail_writes(env.emu, -ENOSPC);
	cr_expect_eq(slot_trim(env.s, 0, UINT64_MAX, 0, &trimmed), -ENOSPC);
	slot_emu_fail_writes(env.emu, 0);
	cr_expect_gt(trimmed, 0, "nothing free went back");
	uint64_t first = trimmed;
	cr_assert_eq(slot_trim(env.s, 0, UINT64_MAX, 0, &trimmed), 0);
	cr_expect_geq(trimmed, sizes[4], "%llu bytes trimmed after %llu",
		      (unsigned long long)trimmed, (unsigned long long)first);
	expect_f4_gone_after_crash();
}

/* Slots a flush under way took from quarantine are free once it is
 * done: slot_trim waits for it, and discards them too (it found nothing
 * to reclaim, and fstrim through a loop device once gave nothing back). */
Test(trim, takes_what_a_flush_under_way_frees)
{
	put_all();
	cr_assert_eq(slot_sync(env.s), 0);
	uint64_t trimmed;
	cr_assert_eq(slot_trim(env.s, 0, UINT64_MAX, 0, &trimmed), 0);
	put_file("g", 10u << 20, 9);    /* named by its headers: no pin */
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "g"), 0);
	struct t_held_flush h;
	t_flush_hold(&h, &env);         /* g's slots are the flush's */
	cr_assert_eq(slot_trim(env.s, 0, UINT64_MAX, 0, &trimmed), 0);
	cr_expect_eq(t_flush_join(&h), 0);
	/* g's bytes are nowhere on the device: each chunk's start was
	 * discarded (spare regions alone would make up the count) */
	size_t len = 10u << 20, left = 0;
	uint8_t *g = malloc(len);
	t_fill(g, len, 9);
	const uint8_t *img = slot_emu_image(env.emu);
	for (uint64_t off = 0; off + 8192 <= slot_emu_size(env.emu); off += 4096)
		for (size_t k = 0; k < len; k += 1u << 20)
			if (!memcmp(img + off, g + k, 64))
				left++;
	free(g);
	cr_expect_eq(left, 0, "%zu of g's chunks were not discarded", left);
	expect_all();
}

Test(trim, a_range_and_a_minimum)
{
	put_all();
	cr_assert_eq(slot_sync(env.s), 0);
	struct slot_geometry g;
	slot_geometry_get(env.s, &g);
	uint64_t trimmed, all;
	uint64_t last = g.slot_area_offset +
			(uint64_t)(g.region_count - 1) * g.region_size;
	/* a quarter of the last region, from its middle: no more */
	cr_assert_eq(slot_trim(env.s, last + g.region_size / 2,
			       g.region_size / 4, 0, &trimmed), 0);
	cr_expect_gt(trimmed, 0);
	cr_expect_leq(trimmed, g.region_size / 4);
	/* the whole of it */
	cr_assert_eq(slot_trim(env.s, last, g.region_size, 0, &trimmed), 0);
	cr_expect_gt(trimmed, 0);
	cr_expect_leq(trimmed, g.region_size);
	cr_assert_eq(slot_trim(env.s, 0, g.slot_area_offset, 0, &trimmed), 0);
	cr_expect_eq(trimmed, 0, "trimmed before the slot area");
	cr_assert_eq(slot_trim(env.s, 0, UINT64_MAX, g.region_size, &trimmed),
		     0);
	cr_expect_eq(trimmed, 0, "a run longer than a region");
	cr_assert_eq(slot_trim(env.s, 0, UINT64_MAX, 0, &all), 0);
	cr_expect_gt(all, 0);
	expect_all();
}

/* A second trim passes by what the first discarded, until something is
 * freed there. */
Test(trim, a_second_trim_skips_what_is_trimmed)
{
	put_all();
	cr_assert_eq(slot_sync(env.s), 0);
	uint64_t first, again;
	cr_assert_eq(slot_trim(env.s, 0, UINT64_MAX, 0, &first), 0);
	cr_expect_gt(first, 0);
	cr_assert_eq(slot_trim(env.s, 0, UINT64_MAX, 0, &again), 0);
	cr_expect_eq(again, 0, "trimmed %llu bytes again",
		     (unsigned long long)again);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "f3"), 0);
	cr_assert_eq(slot_trim(env.s, 0, UINT64_MAX, 0, &again), 0);
	cr_expect_geq(again, sizes[3], "the freed file's space was passed by");
	uint64_t discarded = slot_emu_discarded(env.emu);
	cr_expect_eq(discarded, first + again);
	expect_file("f0", sizes[0], 1);
	expect_file("f4", sizes[4], 5);
}

Test(trim, read_only_store_refuses)
{
	put_all();
	cr_assert_eq(slot_close(env.s), 0);
	env.opts.read_only = true;
	t_reopen(&env);
	uint64_t trimmed = 1;
	cr_expect_eq(slot_trim(env.s, 0, UINT64_MAX, 0, &trimmed), -EROFS);
	cr_expect_eq(trimmed, 0);
	cr_expect_eq(slot_emu_discarded(env.emu), 0);
}
