/* SPDX-License-Identifier: MIT */
/* test_grow.c - slot_grow (resize.slotfs): a file system moved to a
 * larger device takes the rest of it, while in use too; what it held
 * stays; a failure on the way leaves it whole, old size or new. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>

#include "helpers.h"
#include "internal.h"

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

static void expect_fsck_clean(void)
{
	struct slot_fsck_opts o = { .mode = SLOT_FSCK_CHECK, .force = true };
	struct slot_fsck_result r;
	cr_assert_eq(slot_fsck(slot_emu_dev(large), &o, &r), 0);
	cr_expect_eq(r.exit_code, SLOT_FSCK_OK, "fsck exit %d", r.exit_code);
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
	expect_fsck_clean();
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
 * The nth write of resize fails, for every n it makes until it gets
 * through (at most max): the store then opens at the old size or the
 * new, with its files (check).  It must have made more than min writes.
 */
static void fail_each_write(int (*resize)(struct slot_store *),
			    void (*check)(struct slot_store *), uint64_t min,
			    uint64_t max)
{
	uint8_t *copy = malloc(LARGE);
	cr_assert_not_null(copy);
	memcpy(copy, slot_emu_image(large), LARGE);
	bool done = false;
	uint64_t n;
	for (n = 1; !done && n < max; n++) {
		memcpy(slot_emu_image(large), copy, LARGE);
		struct slot_store *s = open_large();
		slot_emu_fail_write(large, n, -EIO);   /* n from now */
		done = resize(s) == 0;
		slot_abandon(s);        /* and no write after the failure */
		slot_emu_fail_write(large, 0, 0);
		s = open_large();
		struct slot_geometry g;
		slot_geometry_get(s, &g);
		cr_expect(g.device_size == SMALL || g.device_size == LARGE,
			  "write %llu: size %llu", (unsigned long long)n,
			  (unsigned long long)g.device_size);
		check(s);
		slot_abandon(s);
	}
	cr_expect(done, "the resize never got past a failed write");
	cr_expect_gt(n, min, "the resize made too few writes to test");
	free(copy);
}

static int grow_all(struct slot_store *s)
{
	uint64_t limit;
	return slot_grow(s, 0, &limit);
}

Test(grow, a_failed_write_leaves_it_whole)
{
	fail_each_write(grow_all, expect_files, 3, 40);
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

struct grow_run {
	struct slot_store *s;
	int err;
};

static void *grow_thread(void *arg)
{
	struct grow_run *g = arg;
	uint64_t limit;
	g->err = slot_grow(g->s, 0, &limit);
	return NULL;
}

/* Writes a grow makes before its primary superblock's (at offset 0), on
 * a throwaway run from the image as it is. */
static uint64_t writes_before_superblock(void)
{
	uint8_t *copy = malloc(LARGE);
	cr_assert_not_null(copy);
	memcpy(copy, slot_emu_image(large), LARGE);
	struct slot_store *s = open_large();
	slot_emu_log_start(large);
	uint64_t limit, n = 0;
	cr_assert_eq(slot_grow(s, 0, &limit), 0);
	const struct slot_emu_op *ops;
	size_t nops = slot_emu_log(large, &ops);
	for (size_t i = 0; i < nops; i++) {
		if (ops[i].kind != 'W')
			continue;
		n++;
		if (ops[i].off == 0)
			break;
	}
	slot_emu_log_stop(large);
	slot_abandon(s);
	memcpy(slot_emu_image(large), copy, LARGE);
	free(copy);
	return n;
}

struct put_run {
	struct slot_store *s;
	const char *key;
	int err;
	bool done;
};

static void *put_thread(void *arg)
{
	struct put_run *p = arg;
	static uint8_t b[1 << 20];
	struct slot_put it = { .key = p->key, .buf = b, .len = sizeof(b) };
	p->err = slot_put_many(p->s, &it, 1);
	if (!p->err)
		p->err = it.result;
	__atomic_store_n(&p->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Wait up to ms for p to finish. */
static bool put_finished(struct put_run *p, int ms)
{
	for (int i = 0; i < ms && !__atomic_load_n(&p->done, __ATOMIC_ACQUIRE);
	     i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	return __atomic_load_n(&p->done, __ATOMIC_ACQUIRE);
}

/*
 * A store in use grows; until its superblocks on the device hold the new
 * regions, no write may go into them (a crash would leave that write
 * where recovery never looks).  The grow is held at its superblock
 * write; a put into the full store then finds no room, at once.
 */
Test(grow, the_new_regions_wait_for_the_superblock)
{
	struct slot_store *s = open_large();
	cr_assert_gt(fill(s), 0);
	cr_assert_eq(slot_close(s), 0);
	uint64_t nth = writes_before_superblock();
	cr_assert_gt(nth, 1, "no superblock write found");

	s = open_large();
	slot_emu_hold_write(large, nth);
	struct grow_run g = { .s = s };
	pthread_t gt, pt;
	cr_assert_eq(pthread_create(&gt, NULL, grow_thread, &g), 0);
	slot_emu_wait_held(large);
	struct put_run p = { .s = s, .key = "during" };
	cr_assert_eq(pthread_create(&pt, NULL, put_thread, &p), 0);
	bool quick = put_finished(&p, 2000);
	int during = p.err;
	slot_emu_release(large);
	pthread_join(pt, NULL);
	pthread_join(gt, NULL);
	cr_expect(quick, "a put waited on the device: it took a new region "
		  "before the superblock held it");
	cr_expect_eq(during, -ENOSPC, "put during the grow: %d", p.err);
	cr_assert_eq(g.err, 0);

	/* once grown, the new regions are there to use */
	struct put_run after = { .s = s, .key = "after" };
	put_thread(&after);
	cr_expect_eq(after.err, 0, "put after the grow: %d", after.err);
	cr_assert_eq(slot_close(s), 0);
	s = open_large();
	expect_files(s);
	cr_assert_eq(slot_close(s), 0);
}

#define WRITERS 2
#define WRITER_FILES 48         /* 1 MiB each: more than SMALL in all */

struct writer {
	struct slot_store *s;
	int id, files;
	int err;
};

static void writer_fill(uint8_t *b, int id, int i)
{
	t_fill(b, 1 << 20, (unsigned)(id * 1000 + i));
}

/* Files of 1 MiB, each fsync'd; a full store is waited out (the grow
 * comes) for up to 10 s. */
static void *writer_thread(void *arg)
{
	struct writer *w = arg;
	uint8_t *b = malloc(1 << 20);
	int waited = 0;
	for (int i = 0; b && !w->err && i < WRITER_FILES;) {
		char name[32];
		struct slot_attr a;
		snprintf(name, sizeof(name), "w%d-%d", w->id, i);
		writer_fill(b, w->id, i);
		int err = slot_ns_lookup(w->s, SLOT_ROOT_INO, name, &a);
		if (err == -ENOENT)
			err = slot_ns_mknod(w->s, SLOT_ROOT_INO, name,
					    S_IFREG | 0644, 0, 0, 0, &a);
		if (!err) {
			ssize_t n = slot_file_write(w->s, a.ino, 0, b, 1 << 20);
			err = n < 0 ? (int)n : slot_file_fsync(w->s, a.ino,
								false);
		}
		if (err == -ENOSPC && waited++ < 10000) {
			nanosleep(&(struct timespec){ .tv_nsec = 1000000 },
				  NULL);
			continue;
		}
		w->err = err;
		w->files = ++i;
	}
	free(b);
	return NULL;
}

/* Join the writers; each wrote all its files. */
static void writers_end(struct writer *w, pthread_t *t)
{
	for (int i = 0; i < WRITERS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < WRITERS; i++)
		cr_expect_eq(w[i].err, 0, "writer %d: %d after %d files", i,
			     w[i].err, w[i].files);
}

/* The grow runs while writers fill the store past its old size: every
 * write lands, and the store reopens with all of it, fsck clean. */
Test(grow, grows_while_writers_go_on)
{
	struct slot_store *s = open_large();
	struct writer w[WRITERS];
	pthread_t t[WRITERS];
	for (int i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){ .s = s, .id = i };
		cr_assert_eq(pthread_create(&t[i], NULL, writer_thread, &w[i]),
			     0);
	}
	uint64_t limit;
	int err = slot_grow(s, 0, &limit);
	writers_end(w, t);
	cr_assert_eq(err, 0);
	cr_assert_eq(slot_close(s), 0);

	s = open_large();
	expect_files(s);
	uint8_t *want = malloc(1 << 20), *got = malloc(1 << 20);
	cr_assert(want && got);
	for (int id = 0; id < WRITERS; id++) {
		for (int i = 0; i < WRITER_FILES; i++) {
			char name[32];
			struct slot_attr a;
			snprintf(name, sizeof(name), "w%d-%d", id, i);
			cr_assert_eq(slot_ns_lookup(s, SLOT_ROOT_INO, name, &a),
				     0, "%s is gone", name);
			writer_fill(want, id, i);
			cr_expect_eq(slot_file_read(s, a.ino, 0, got, 1 << 20),
				     1 << 20);
			cr_expect(memcmp(want, got, 1 << 20) == 0,
				  "%s differs", name);
		}
	}
	free(want);
	free(got);
	cr_assert_eq(slot_close(s), 0);
	expect_fsck_clean();
}

struct reader {
	struct slot_store *s;
	atomic_bool *stop;
	long reads;
	int bad;
};

/* The six files of setup, read and compared over and over. */
static void *reader_thread(void *arg)
{
	struct reader *r = arg;
	uint8_t want[6][4096], got[4096];
	for (int i = 0; i < 6; i++)
		t_fill(want[i], sizeof(want[i]), (unsigned)i);
	while (!atomic_load(r->stop) && !r->bad) {
		for (int i = 0; i < 6 && !r->bad; i++) {
			char name[8];
			struct slot_attr a;
			snprintf(name, sizeof(name), "f%d", i);
			if (slot_ns_lookup(r->s, SLOT_ROOT_INO, name, &a) ||
			    slot_file_read(r->s, a.ino, 0, got,
					   sizeof(got)) != sizeof(got) ||
			    memcmp(got, want[i], sizeof(got)))
				r->bad = i + 1;
			r->reads++;
		}
	}
	return NULL;
}

/*
 * Many grows of one region each while readers and writers go on: each
 * grow replaces the region table that they read without the lock, and
 * an old table must outlive them (AddressSanitizer sees one freed
 * early).  Every read and write holds, and the store reopens whole.
 */
Test(grow, many_grows_beside_readers_and_writers)
{
	struct slot_store *s = open_large();
	struct slot_geometry g;
	slot_geometry_get(s, &g);
	atomic_bool stop = false;
	struct reader r[2];
	struct writer w[WRITERS];
	pthread_t rt[2], wt[WRITERS];
	for (int i = 0; i < 2; i++) {
		r[i] = (struct reader){ .s = s, .stop = &stop };
		cr_assert_eq(pthread_create(&rt[i], NULL, reader_thread, &r[i]),
			     0);
	}
	for (int i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){ .s = s, .id = i };
		cr_assert_eq(pthread_create(&wt[i], NULL, writer_thread, &w[i]),
			     0);
	}
	uint64_t size = g.slot_area_offset +
			(uint64_t)g.region_count * g.region_size, limit;
	int grows = 0, err = 0;
	while (!err && size + g.region_size <= LARGE) {
		/* as a reader between loading the table and indexing it:
		 * the table it holds is still there after the grow */
		const struct sl_region *held =
			__atomic_load_n(&s->regions, __ATOMIC_ACQUIRE);
		size += g.region_size;
		err = slot_grow(s, size, &limit);
		grows++;
		(void)*(volatile const uint8_t *)&held[0].cls;
	}
	writers_end(w, wt);
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(rt[i], NULL);
	cr_assert_eq(err, 0, "grow %d to %" PRIu64 ": %d", grows, size, err);
	cr_expect_geq(grows, 16, "only %d grows", grows);
	for (int i = 0; i < 2; i++) {
		cr_expect_eq(r[i].bad, 0, "reader %d: f%d read wrong", i,
			     r[i].bad - 1);
		cr_expect_gt(r[i].reads, 0);
	}
	cr_assert_eq(slot_close(s), 0);
	s = open_large();
	expect_files(s);
	cr_assert_eq(slot_close(s), 0);
	expect_fsck_clean();
}

/* A grown store with files through all of it, three in four removed:
 * the chunks left lie in the regions past SMALL too. */
static void spread(struct slot_store *s, int n)
{
	static uint8_t b[200000];
	for (int i = 0; i < n; i++) {
		char name[16];
		struct slot_attr a;
		snprintf(name, sizeof(name), "s%d", i);
		cr_assert_eq(slot_ns_mknod(s, SLOT_ROOT_INO, name,
					   S_IFREG | 0644, 0, 0, 0, &a), 0);
		t_fill(b, sizeof(b), (unsigned)(100 + i));
		ssize_t w = slot_file_write(s, a.ino, 0, b, sizeof(b));
		cr_assert_eq(w, (ssize_t)sizeof(b), "file %d: %zd", i, w);
	}
	cr_assert_eq(slot_sync(s), 0);
	for (int i = 0; i < n; i++) {
		if (i % 4 == 3)
			continue;       /* every fourth stays */
		char name[16];
		snprintf(name, sizeof(name), "s%d", i);
		cr_assert_eq(slot_ns_unlink(s, SLOT_ROOT_INO, name), 0);
	}
}

static void expect_spread(struct slot_store *s, int n)
{
	static uint8_t want[200000], got[200000];
	for (int i = 3; i < n; i += 4) {
		char name[16];
		struct slot_attr a;
		snprintf(name, sizeof(name), "s%d", i);
		cr_assert_eq(slot_ns_lookup(s, SLOT_ROOT_INO, name, &a), 0,
			     "%s is gone", name);
		t_fill(want, sizeof(want), (unsigned)(100 + i));
		cr_expect_eq(slot_file_read(s, a.ino, 0, got, sizeof(got)),
			     (ssize_t)sizeof(got));
		cr_expect(memcmp(want, got, sizeof(got)) == 0, "%s differs",
			  name);
	}
}

/* Chunks whose slots lie at byte off of the device or past it. */
static size_t chunks_from(struct slot_store *s, uint64_t off)
{
	size_t n = 0;
	sl_lock(s);
	for (size_t b = 0; b <= s->ix.obj_mask; b++)
		for (struct sl_obj *o = s->ix.obj_tab[b]; o; o = o->hnext)
			for (size_t k = 0; k < o->nchunks; k++)
				n += sl_slot_off(s, o->chunks[k].slot) >= off;
	sl_unlock(s);
	return n;
}

/* Shrinking moves what lies past the new end below it: the files stay,
 * their times too, and the store opens at the new size, fsck clean.
 * Below what the files need it refuses, saying how much they need. */
Test(grow, shrink_moves_the_chunks_and_keeps_the_files)
{
	struct slot_store *s = open_large();
	uint64_t limit, min;
	cr_assert_eq(slot_grow(s, 0, &limit), 0);
	spread(s, 400);         /* 100 MiB of slots, a quarter kept */
	struct slot_attr before;
	cr_assert_eq(slot_ns_lookup(s, SLOT_ROOT_INO, "s399", &before), 0);
	cr_assert_gt(chunks_from(s, SMALL), 0, "nothing to move");
	cr_expect_eq(slot_shrink(s, SMALL / 4, &min), -ENOSPC);
	cr_expect_gt(min, SMALL / 4);
	cr_expect_lt(min, SMALL, "the files need %llu bytes",
		     (unsigned long long)min);
	cr_expect_eq(slot_shrink(s, LARGE + (1 << 20), &min), -EINVAL);
	cr_assert_eq(slot_shrink(s, SMALL, &min), 0);
	struct slot_geometry g;
	slot_geometry_get(s, &g);
	cr_expect_eq(g.device_size, SMALL);
	cr_expect_eq(chunks_from(s, SMALL), 0);
	expect_files(s);
	expect_spread(s, 400);
	struct slot_attr after;
	cr_assert_eq(slot_ns_lookup(s, SLOT_ROOT_INO, "s399", &after), 0);
	cr_expect(after.mtime.tv_sec == before.mtime.tv_sec &&
		  after.mtime.tv_nsec == before.mtime.tv_nsec &&
		  after.ctime.tv_nsec == before.ctime.tv_nsec,
		  "a move changed the times");
	cr_assert_eq(slot_close(s), 0);
	/* nothing lies past SMALL: the same image cut there opens */
	memset(slot_emu_image(large) + SMALL, 0xa5, LARGE - SMALL);
	s = open_large();
	slot_geometry_get(s, &g);
	cr_expect_eq(g.device_size, SMALL);
	expect_files(s);
	expect_spread(s, 400);
	cr_assert_eq(slot_close(s), 0);
	expect_fsck_clean();
}

static int shrink_small(struct slot_store *s)
{
	uint64_t min;
	return slot_shrink(s, SMALL, &min);
}

static void expect_all(struct slot_store *s)
{
	expect_files(s);
	expect_spread(s, 400);
}

/* The same for a shrink, whose moves come first. */
Test(grow, a_failed_write_leaves_a_shrink_whole)
{
	struct slot_store *s = open_large();
	uint64_t limit;
	cr_assert_eq(slot_grow(s, 0, &limit), 0);
	spread(s, 400);
	cr_assert_eq(slot_close(s), 0);
	fail_each_write(shrink_small, expect_all, 10, 400);
}
