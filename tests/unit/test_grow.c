/* SPDX-License-Identifier: MIT */
/* test_grow.c - slot_grow (resize.slotfs): a file system moved to a
 * larger device takes the rest of it; what it held stays; a failure on
 * the way leaves it whole, old size or new. */
#include <errno.h>
#include <sys/stat.h>

#include "helpers.h"

#define SMALL (64ull << 20)
#define LARGE (192ull << 20)

static struct t_env env;
static struct slot_emu *large;

/* A store of SMALL bytes with some files, copied to the start of a
 * device of LARGE bytes: as after growing a partition or an image. */
static void setup(void)
{
	t_setup(&env, SMALL);
	uint8_t b[70000];
	for (int i = 0; i < 6; i++) {
		char name[8];
		struct slot_attr a;
		snprintf(name, sizeof(name), "f%d", i);
		cr_assert_eq(slot_ns_mknod(env.s, SLOT_ROOT_INO, name,
					   S_IFREG | 0644, 0, 0, 0, &a), 0);
		t_fill(b, sizeof(b), (unsigned)i);
		cr_assert_eq(slot_file_write(env.s, a.ino, 0, b, sizeof(b)),
			     (ssize_t)sizeof(b));
	}
	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	cr_assert_eq(slot_emu_create(LARGE, &large), 0);
	memcpy(slot_emu_image(large), slot_emu_image(env.emu), SMALL);
}

static void teardown(void)
{
	t_teardown(&env);
	slot_emu_destroy(large);
}
TestSuite(grow, .init = setup, .fini = teardown, .timeout = 60);

static struct slot_store *open_large(void)
{
	struct slot_store *s;
	cr_assert_eq(slot_open_dev(slot_emu_dev(large), &env.opts, &s), 0);
	return s;
}

static void expect_files(struct slot_store *s)
{
	uint8_t want[70000], got[70000];
	for (int i = 0; i < 6; i++) {
		char name[8];
		struct slot_attr a;
		snprintf(name, sizeof(name), "f%d", i);
		cr_assert_eq(slot_ns_lookup(s, SLOT_ROOT_INO, name, &a), 0,
			     "%s is gone", name);
		t_fill(want, sizeof(want), (unsigned)i);
		cr_expect_eq(slot_file_read(s, a.ino, 0, got, sizeof(got)),
			     (ssize_t)sizeof(got));
		cr_expect(memcmp(want, got, sizeof(got)) == 0, "%s differs",
			  name);
	}
}

/* Bytes of 1 MiB files that fit before ENOSPC. */
static uint64_t fill(struct slot_store *s)
{
	static uint8_t b[1 << 20];
	uint64_t n = 0;
	for (int i = 0;; i++) {
		char name[16];
		struct slot_attr a;
		snprintf(name, sizeof(name), "fill%d", i);
		if (slot_ns_mknod(s, SLOT_ROOT_INO, name, S_IFREG | 0644, 0, 0,
				  0, &a))
			break;
		if (slot_file_write(s, a.ino, 0, b, sizeof(b)) !=
		    (ssize_t)sizeof(b) || slot_file_fsync(s, a.ino, false))
			break;
		n += sizeof(b);
	}
	return n;
}

Test(grow, takes_the_device_and_keeps_the_files)
{
	struct slot_store *s = open_large();
	struct slot_geometry before, after;
	slot_geometry_get(s, &before);
	cr_expect_eq(before.device_size, SMALL);
	uint64_t limit;
	cr_assert_eq(slot_grow(s, 0, &limit), 0);
	slot_geometry_get(s, &after);
	cr_expect_eq(after.device_size, LARGE);
	cr_expect_gt(after.region_count, before.region_count);
	cr_expect_geq(limit, LARGE);
	expect_files(s);
	/* the new regions hold data: more than the small store could */
	uint64_t n = fill(s);
	cr_expect_gt(n, SMALL, "only %llu bytes fit after growing",
		     (unsigned long long)n);
	cr_assert_eq(slot_close(s), 0);
	s = open_large();
	slot_geometry_get(s, &after);
	cr_expect_eq(after.device_size, LARGE);
	expect_files(s);
	cr_assert_eq(slot_close(s), 0);
	struct slot_fsck_opts o = { .mode = SLOT_FSCK_CHECK, .force = true };
	struct slot_fsck_result r;
	cr_assert_eq(slot_fsck(slot_emu_dev(large), &o, &r), 0);
	cr_expect_eq(r.exit_code, SLOT_FSCK_OK, "fsck exit %d", r.exit_code);
}

Test(grow, refuses_what_it_cannot)
{
	struct slot_store *s = open_large();
	uint64_t limit;
	cr_expect_eq(slot_grow(s, LARGE + (1ull << 30), &limit), -EFBIG);
	cr_expect_eq(slot_grow(s, SMALL / 2, &limit), -EINVAL);
	/* to the size it has: nothing to do */
	cr_expect_eq(slot_grow(s, SMALL, &limit), 0);
	struct slot_geometry g;
	slot_geometry_get(s, &g);
	cr_expect_eq(g.device_size, SMALL);
	cr_assert_eq(slot_close(s), 0);
}

/*
 * The nth write of the grow fails, for every n it makes: the store then
 * opens, with its files, at the old size or the new, never neither.
 */
Test(grow, a_failed_write_leaves_it_whole)
{
	uint8_t *copy = malloc(LARGE);
	cr_assert_not_null(copy);
	memcpy(copy, slot_emu_image(large), LARGE);
	bool grew = false;
	uint64_t n;
	for (n = 1; !grew && n < 40; n++) {
		memcpy(slot_emu_image(large), copy, LARGE);
		struct slot_store *s = open_large();
		uint64_t limit;
		slot_emu_fail_write(large, n, -EIO);   /* n from now */
		int err = slot_grow(s, 0, &limit);
		grew = err == 0;
		slot_abandon(s);        /* and no write after the failure */
		slot_emu_fail_write(large, 0, 0);
		s = open_large();
		struct slot_geometry g;
		slot_geometry_get(s, &g);
		cr_expect(g.device_size == SMALL || g.device_size == LARGE,
			  "write %llu: size %llu", (unsigned long long)n,
			  (unsigned long long)g.device_size);
		expect_files(s);
		slot_abandon(s);
	}
	cr_expect(grew, "the grow never got past a failed write");
	cr_expect_gt(n, 3, "the grow made too few writes to test");
	free(copy);
}

/* Both checkpoint containers index the new regions when it returns:
 * either one lost, the store opens from the other at the new size. */
Test(grow, both_containers_hold_the_new_size)
{
	struct slot_store *s = open_large();
	uint64_t limit;
	cr_assert_eq(slot_grow(s, 0, &limit), 0);
	struct slot_geometry g;
	slot_geometry_get(s, &g);
	slot_abandon(s);        /* no checkpoint at close */
	uint8_t *copy = malloc(LARGE);
	cr_assert_not_null(copy);
	memcpy(copy, slot_emu_image(large), LARGE);
	for (int i = 0; i < 2; i++) {
		memcpy(slot_emu_image(large), copy, LARGE);
		memset(slot_emu_image(large) + g.meta_offset +
		       (uint64_t)i * (g.meta_size / 2), 0, 4096);
		s = open_large();
		struct slot_geometry now;
		slot_geometry_get(s, &now);
		cr_expect_eq(now.device_size, LARGE, "container %d lost", i);
		expect_files(s);
		slot_abandon(s);
	}
	free(copy);
}
