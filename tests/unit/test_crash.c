/* SPDX-License-Identifier: MIT */
/*
 * test_crash.c - power loss at every device request of small workloads
 * (issue 5).  crash.h describes the harness and its modes; crash.c the
 * properties each crash image is checked for.  The unit test run uses
 * linear mode: every crash point of every workload, each variant once.
 * The long run:
 *   env SLOT_CRASH_MODE=exhaustive build/tests/unit/test_crash --jobs=1
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "crash.h"

/* No Criterion timeout: meson gives each workload 300 s, and the
 * exhaustive mode, run by hand, takes what it takes. */
TestSuite(crash);

static void run_clean(const struct crash_workload *wl)
{
	struct crash_result r;
	crash_run(wl, &r);
	cr_expect_gt(r.images, 0, "no crash image was tried");
	cr_expect_eq(r.refused, 0, "%llu images refused at open",
		     (unsigned long long)r.refused);
	cr_expect_eq(r.violations, 0, "%llu violations: see the lines above",
		     (unsigned long long)r.violations);
}

/* ------------------------------------------------------------------ */
/* Key-value face                                                      */
/* ------------------------------------------------------------------ */

/* Sizes around the class (4, 16, 64 KiB) and chunk (64 KiB) edges. */
static const size_t sizes[] = { 0, 1, 100, 4096, 5000, 16384, 20000, 65536,
				70000, 150000, 3000, 9000, 131072, 40000 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static void put_batch(struct cw *w, const char *fmt, int from, int n,
		      int size_shift)
{
	char names[32][32];
	const char *keys[32];
	size_t lens[32];
	for (int i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), fmt, from + i);
		keys[i] = names[i];
		lens[i] = sizes[(size_t)(from + i + size_shift) % NSIZES];
	}
	cw_put(w, keys, lens, (size_t)n);
}

static void wl_puts(struct cw *w)
{
	put_batch(w, "p/k%d", 0, 12, 0);
	cw_sync(w);
	put_batch(w, "q%d", 0, 10, 3);
	put_batch(w, "p/k%d", 12, 6, 5);
	cw_sync(w);
	put_batch(w, "r/s/t%d", 0, 8, 7);       /* new dirs: the journal's */
	cw_sync(w);
	put_batch(w, "u/v%d", 0, 4, 2);         /* unsynced, new dirs */
	put_batch(w, "q%d", 10, 4, 1);
}

Test(crash, puts)
{
	static const struct crash_workload wl = { .name = "puts",
						  .run = wl_puts };
	run_clean(&wl);
}

static void setup_keys(struct cw *w)
{
	put_batch(w, "k%d", 0, 10, 0);
}

static void wl_overwrite(struct cw *w)
{
	put_batch(w, "k%d", 0, 5, 4);           /* new sizes for 5 keys */
	cw_sync(w);
	put_batch(w, "k%d", 3, 3, 9);           /* grow and shrink */
	cw_put1(w, "k8", 150000);               /* twice, unsynced between */
	cw_put1(w, "k8", 3000);
	cw_ckpt(w);
	cw_put1(w, "k1", 70000);
	cw_put1(w, "k9", 0);
	cw_sync(w);
	put_batch(w, "k%d", 0, 10, 2);          /* all, unsynced */
	cw_put1(w, "k0", 131072);
}

Test(crash, overwrite)
{
	static const struct crash_workload wl = { .name = "overwrite",
						  .setup = setup_keys,
						  .run = wl_overwrite };
	run_clean(&wl);
}

static void wl_delete(struct cw *w)
{
	/* k0 existed: its delete cancels the put in flight */
	const char *a[] = { "k0", "n1", "n2" };
	const size_t al[] = { 20000, 5000, 70000 };
	cw_put_delete_inflight(w, a, al, 3);
	const char *d1[] = { "k1", "k2" };
	cw_del(w, d1, 2);
	cw_sync(w);
	cw_put1(w, "k1", 9000);                 /* a deleted key comes back */
	/* a new key deleted while its first put is in flight */
	const char *b[] = { "n5", "k4" };
	const size_t bl[] = { 150000, 100 };
	cw_put_delete_inflight(w, b, bl, 2);
	const char *d2[] = { "k5" };
	cw_del(w, d2, 1);
	cw_put1(w, "k6", 4096);
	cw_sync(w);
	const char *d3[] = { "k7", "n1" };
	cw_del(w, d3, 2);                       /* unsynced deletes */
	const char *c[] = { "k8", "k9" };
	const size_t cl[] = { 65536, 1 };
	cw_put_delete_inflight(w, c, cl, 2);
	cw_put1(w, "k3", 40000);
}

Test(crash, delete_with_puts_in_flight)
{
	static const struct crash_workload wl = { .name = "delete",
						  .setup = setup_keys,
						  .run = wl_delete };
	run_clean(&wl);
}

/* Checkpoints between writes: both containers are rewritten, slots are
 * pinned and released, regions fill and empty. */
static void wl_checkpoints(struct cw *w)
{
	put_batch(w, "c%d", 0, 6, 0);
	cw_ckpt(w);
	put_batch(w, "c%d", 3, 6, 4);
	cw_ckpt(w);
	const char *d[] = { "c0", "c4" };
	cw_del(w, d, 2);
	put_batch(w, "c%d", 10, 2, 6);
	cw_ckpt(w);
	put_batch(w, "c%d", 1, 8, 8);
	cw_put1(w, "c2", 5000);
	cw_ckpt(w);
	put_batch(w, "c%d", 20, 4, 2);
	cw_ckpt(w);
	put_batch(w, "c%d", 5, 4, 11);          /* unsynced */
}

Test(crash, checkpoints_between_writes)
{
	static const struct crash_workload wl = { .name = "checkpoints",
						  .setup = setup_keys,
						  .run = wl_checkpoints };
	run_clean(&wl);
}

/* ------------------------------------------------------------------ */
/* File face                                                           */
/* ------------------------------------------------------------------ */

static cw_obj big, tfile;

static void setup_big(struct cw *w)
{
	big = cw_create(w, CW_ROOT, "big");
	cw_write(w, big, 0, 300000);            /* 5 chunks of 64 KiB */
	cw_fsync(w, big);
}

static void wl_partial(struct cw *w)
{
	cw_write(w, big, 1000, 100);            /* inside chunk 0 */
	cw_write(w, big, 60000, 70000);         /* chunks 0 and 1 at once */
	cw_fsync(w, big);
	cw_write(w, big, 299000, 5000);         /* extends chunk 4 */
	cw_write(w, big, 200000, 10);
	cw_fsync(w, big);
	cw_write(w, big, 65535, 1);             /* last byte of chunk 0 */
	cw_write(w, big, 131000, 200);          /* across chunks 1 and 2 */
	cw_write(w, big, 400000, 3000);         /* past the end: a hole */
}

Test(crash, partial_writes)
{
	static const struct crash_workload wl = { .name = "partial",
						  .setup = setup_big,
						  .run = wl_partial };
	run_clean(&wl);
}

/* Small writes over chunks on the device gather in sparse buffers (the
 * blocks written alone, or the parts of them): a write-out puts a
 * chunk's old bytes and its blocks together, and a crash shows each
 * chunk old or new, never zeros where old bytes were.  big's chunk 4
 * holds 37,856 bytes. */
static void wl_sparse(struct cw *w)
{
	cw_write(w, big, 4096, 4096);
	cw_write(w, big, 65536 + 8192, 8192);   /* chunk 1, two blocks */
	cw_write(w, big, 40960, 4096);          /* chunk 0 again */
	cw_fsync(w, big);
	cw_write(w, big, 262144 + 36864, 4096); /* a block across its end */
	cw_write(w, big, 262144 + 45056 + 10, 100);     /* part of one past */
	cw_write(w, big, 131072, 4096);
	cw_write(w, big, 131072 + 100, 50);     /* in a block it holds */
	cw_write(w, big, 65536 + 30000, 10);    /* part of a block */
	cw_write(w, big, 65536 + 30100, 10);    /* apart: it goes out */
	cw_fsync(w, big);
	cw_write(w, big, 196608 + 4096, 4096);  /* unsynced */
	cw_write(w, big, 12288, 4096);
}

Test(crash, sparse)
{
	static const struct crash_workload wl = { .name = "sparse",
						  .setup = setup_big,
						  .run = wl_sparse };
	run_clean(&wl);
}

/* fsync puts small writes over chunks on the device in the journal
 * (WRITE records) and keeps their buffers; a checkpoint keeps the
 * journal slots they need; the open after a crash rewrites the chunks
 * with them.  A chunk rewritten since (written out, cut, overwritten
 * whole) holds its own bytes: replay passes the records by. */
static void wl_jdata(struct cw *w)
{
	cw_write(w, big, 4096 + 100, 300);
	cw_write(w, big, 65536 + 8192, 4096);   /* chunk 1, a whole block */
	cw_fsync(w, big);
	cw_ckpt(w);     /* keeps the slot (a checkpoint writes out no
			   buffer: the model takes it for a sync) */
	cw_write(w, big, 4096 + 200, 300);      /* that block again */
	cw_write(w, big, 262144 + 1000, 50);    /* chunk 4, below its end */
	cw_fsync(w, big);
	cw_write(w, big, 65536 + 8192 + 10, 10);
	cw_truncate(w, big, 200000);            /* cuts chunk 3, drops 4 */
	cw_fsync(w, big);
	cw_write(w, big, 131072 + 500, 100);    /* chunk 2 */
	cw_fsync(w, big);
	cw_ckpt(w);
	cw_write(w, big, 131072, 65536);        /* chunk 2 whole */
	cw_write(w, big, 65536 + 30000, 20);
	cw_fsync(w, big);
	cw_write(w, big, 4096 + 4000, 200);     /* unsynced, across blocks */
}

Test(crash, jdata)
{
	static const struct crash_workload wl = { .name = "jdata",
						  .setup = setup_big,
						  .run = wl_jdata };
	run_clean(&wl);
}

/* fsync puts appends past a chunk's end in the journal (EXTEND WRITE
 * records, format 1.12), which carry the file's size with them: a crash
 * brings both back, over a checkpoint that recorded the size before them
 * too; a cut since (which rewrites the chunk) leaves them nothing to do,
 * and an append after a hole goes out as before. */
static cw_obj gfile;

static void setup_log(struct cw *w)
{
	tfile = cw_create(w, CW_ROOT, "log");
	cw_write(w, tfile, 0, 40000);           /* chunk 0 of 64 KiB, part */
	cw_write(w, tfile, 65536, 56000);       /* chunk 1 */
	cw_fsync(w, tfile);
	gfile = cw_create(w, CW_ROOT, "gap");
	cw_write(w, gfile, 0, 60000);
	cw_fsync(w, gfile);
}

static void wl_jappend(struct cw *w)
{
	/* a chunk past a hole, then an append below it: the append's record
	 * takes the size over the new chunk's floor only once that is down */
	cw_write(w, gfile, 200000, 10);
	cw_write(w, gfile, 60000, 100);
	cw_fsync(w, gfile);
	cw_write(w, tfile, 121536, 100);        /* appends to chunk 1 */
	cw_fsync(w, tfile);
	cw_write(w, tfile, 121636, 3000);       /* across a block */
	cw_fsync(w, tfile);
	cw_ckpt(w);     /* keeps the slots; its size is theirs or below */
	cw_write(w, tfile, 124636, 1000);
	cw_write(w, tfile, 1000, 10);           /* over chunk 0 too */
	cw_fsync(w, tfile);
	cw_truncate(w, tfile, 121600);          /* inside the journaled bytes */
	cw_truncate(w, tfile, 126000);          /* extends: zeros */
	cw_fsync(w, tfile);
	cw_write(w, tfile, 126000, 2000);       /* after a hole */
	cw_fsync(w, tfile);
	cw_write(w, tfile, 128000, 500);
	cw_fsync(w, tfile);
	cw_write(w, tfile, 128500, 500);        /* unsynced */
}

Test(crash, jappend)
{
	static const struct crash_workload wl = { .name = "jappend",
						  .setup = setup_log,
						  .run = wl_jappend };
	run_clean(&wl);
}

static void setup_trunc(struct cw *w)
{
	tfile = cw_create(w, CW_ROOT, "t");
	cw_write(w, tfile, 0, 200000);
	cw_fsync(w, tfile);
}

static void wl_truncate(struct cw *w)
{
	cw_truncate(w, tfile, 150000);          /* cuts chunk 2: rewritten */
	cw_fsync(w, tfile);
	cw_truncate(w, tfile, 131072);          /* on a chunk edge */
	cw_write(w, tfile, 140000, 1000);       /* grows again over a hole */
	cw_fsync(w, tfile);
	cw_truncate(w, tfile, 10);
	cw_truncate(w, tfile, 0);
	cw_write(w, tfile, 0, 3000);
	cw_fsync(w, tfile);
	cw_truncate(w, tfile, 100000);          /* extends: sparse */
	cw_write(w, tfile, 50, 50);
	cw_truncate(w, tfile, 20);              /* unsynced */
}

Test(crash, truncate)
{
	static const struct crash_workload wl = { .name = "truncate",
						  .setup = setup_trunc,
						  .run = wl_truncate };
	run_clean(&wl);
}

/* A truncation on a chunk edge drops chunks with no header of its own;
 * the write past the end that follows leaves them a hole below the size,
 * where recovery would bring the old chunks back: fsync must say they
 * went (a checkpoint). */
static void wl_truncate_hole(struct cw *w)
{
	cw_truncate(w, big, 65536);
	cw_write(w, big, 200000, 1000);
	cw_fsync(w, big);
	cw_truncate(w, big, 0);
	cw_write(w, big, 0, 140000);            /* dense again: no hole */
	cw_fsync(w, big);
}

Test(crash, truncate_hole)
{
	static const struct crash_workload wl = { .name = "truncate_hole",
						  .setup = setup_big,
						  .run = wl_truncate_hole };
	run_clean(&wl);
}

/* Extensions over several chunks, buffered and written out in any order:
 * a size is recorded only as far as the data under it is durable, so a
 * crash shows no zeros where written bytes were lost.  The truncation
 * past the end writes big's buffers out one by one (each header's size
 * lags the others); g's fsync flushes the device without being a barrier
 * for big; the small write's header then records big's whole size, and
 * recovery must not have dropped the chunks the lagging headers left
 * past theirs. */
static void wl_extend(struct cw *w)
{
	cw_obj g = cw_create(w, CW_ROOT, "g");
	cw_write(w, big, 300000, 200000);       /* chunks 4 to 7 */
	cw_write(w, big, 500000, 5000);
	cw_truncate(w, big, 600000);
	cw_write(w, g, 0, 100);
	cw_fsync(w, g);
	cw_write(w, big, 10, 10);               /* inside the old size */
	cw_fsync(w, big);
	cw_write(w, big, 700000, 1000);         /* a hole, then data */
	cw_write(w, big, 701000, 140000);
	cw_write(w, g, 100, 100);
	cw_fsync(w, g);
	cw_write(w, big, 20, 10);
	/* every buffer out with a lagging size, then fsync: the last chunk
	 * (1000 bytes) is written again, cheaper than a checkpoint */
	cw_write(w, big, 841000, 208576);
	cw_truncate(w, big, 1049576);
	cw_fsync(w, big);
}

Test(crash, extend)
{
	static const struct crash_workload wl = { .name = "extend",
						  .setup = setup_big,
						  .run = wl_extend };
	run_clean(&wl);
}

/* A store of 8 MiB on a device of 16, all but about 1 MiB taken. */
static void setup_grow(struct cw *w)
{
	uint64_t fill = cw_bytes_free(w) - (1u << 20);
	for (int i = 0; fill >= (128u << 10); i++) {
		char name[16];
		snprintf(name, sizeof(name), "full%d", i);
		size_t len = fill < (1u << 20) ? (size_t)fill : 1u << 20;
		cw_obj f = cw_create(w, CW_ROOT, name);
		cw_write(w, f, 0, len);
		cw_fsync(w, f);
		fill -= len;
	}
}

/* The store grows while in use: a file written before, the grow, then
 * files that only the new regions can hold (more than the 1 MiB left).
 * A crash anywhere leaves the old size or the new, and what was made
 * durable on either side of it.  (Nothing is left buffered over the
 * grow: its checkpoints, like cw_ckpt's, do not write buffers out, while
 * the model counts it a barrier for every file.) */
static void wl_grow(struct cw *w)
{
	cw_obj a = cw_create(w, CW_ROOT, "a");
	cw_write(w, a, 0, 300000);
	cw_fsync(w, a);
	cw_grow(w);
	cw_obj b = cw_create(w, CW_ROOT, "b");
	cw_write(w, b, 0, 1600000);
	cw_fsync(w, b);
	cw_obj c = cw_create(w, CW_ROOT, "c");
	cw_write(w, c, 0, 700000);
	cw_write(w, a, 100, 1000);
	cw_fsync(w, c);
	cw_fsync(w, a);
}

Test(crash, grow)
{
	static const struct crash_workload wl = { .name = "grow",
						  .setup = setup_grow,
						  .run = wl_grow,
						  .format_size = 8u << 20 };
	run_clean(&wl);
}

/* Files through the whole 16 MiB store, two in three removed: what is
 * left lies past 8 MiB too. */
static cw_obj kept[12];

static void setup_shrink(struct cw *w)
{
	for (int i = 0; i < 36; i++) {
		char name[16];
		snprintf(name, sizeof(name), "s%d", i);
		cw_obj f = cw_create(w, CW_ROOT, name);
		cw_write(w, f, 0, 200000);
		cw_fsync(w, f);
		if (i % 3 == 2)
			kept[i / 3] = f;
	}
	for (int i = 0; i < 36; i++) {
		char name[16];
		snprintf(name, sizeof(name), "s%d", i);
		if (i % 3 != 2)
			cw_unlink(w, CW_ROOT, name);
	}
}

/* The store shrinks to 8 MiB: its chunks past that are written again
 * below it, then the superblocks say so.  A crash anywhere leaves the
 * old size or the new, and every file as it was; a file written after
 * works as anywhere. */
static void wl_shrink(struct cw *w)
{
	cw_shrink(w, 8u << 20);
	cw_obj a = cw_create(w, CW_ROOT, "after");
	cw_write(w, a, 0, 150000);
	cw_write(w, kept[11], 100, 1000);
	cw_fsync(w, a);
	cw_fsync(w, kept[11]);
}

Test(crash, shrink)
{
	static const struct crash_workload wl = { .name = "shrink",
						  .setup = setup_shrink,
						  .run = wl_shrink };
	run_clean(&wl);
}

/* Every region full of 4 KiB objects, all but one in sixty deleted:
 * each region keeps one or two, and none is free. */
static void setup_compact(struct cw *w)
{
	char names[16][32];
	const char *keys[16];
	size_t lens[16];
	int n = 0;
	while (cw_bytes_free(w) >= 4096) {
		size_t k = 0;
		for (; k < 16 && cw_bytes_free(w) >= 4096 * (k + 1); k++) {
			snprintf(names[k], sizeof(names[k]), "c%d", n++);
			keys[k] = names[k];
			lens[k] = 4096;
		}
		cw_put(w, keys, lens, k);
	}
	for (int i = 0; i < n; i++) {
		if (i % 60 == 7)
			continue;
		snprintf(names[0], sizeof(names[0]), "c%d", i);
		keys[0] = names[0];
		cw_del(w, keys, 1);
	}
}

/* Large objects that only emptied regions can hold: the small objects
 * in them are copied elsewhere, a checkpoint passes the old slots, and
 * the regions take the large class.  A crash anywhere loses no small
 * object, and the large ones are as last synced. */
static void wl_compact(struct cw *w)
{
	cw_put1(w, "big", 640000);
	cw_sync(w);
	cw_put1(w, "big2", 1500000);
	cw_put1(w, "c7", 5000);
	cw_sync(w);
}

Test(crash, compact)
{
	static const struct crash_workload wl = { .name = "compact",
						  .setup = setup_compact,
						  .run = wl_compact };
	run_clean(&wl);
}

/* Space set aside (fallocate), spent by writes, given back by a
 * truncation and a hole, set aside past the end: every image opens, its
 * promises fit (recovery drops those chunks now hold), fsck finds it
 * clean, and the data is what was made durable. */
static void wl_prealloc(struct cw *w)
{
	cw_obj p = cw_create(w, CW_ROOT, "p");
	cw_write(w, p, 0, 1000);
	cw_fsync(w, p);
	cw_allocate(w, p, 0, 600000, false);    /* the size grows too */
	cw_fsync(w, p);
	cw_write(w, p, 70000, 140000);          /* spends chunks 1 to 3 */
	cw_allocate(w, p, 600000, 200000, true);        /* past the end */
	cw_fsync(w, p);
	cw_truncate(w, p, 300000);              /* gives chunks 5 on back */
	cw_zero(w, p, 131072, 65536, true);     /* a hole over chunk 2 */
	cw_fsync(w, p);
	cw_write(w, p, 250000, 100000);         /* spends 4; 5 has none */
}

Test(crash, prealloc)
{
	static const struct crash_workload wl = { .name = "prealloc",
						  .setup = NULL,
						  .run = wl_prealloc };
	run_clean(&wl);
}

static cw_obj d1, d2, fa, fb, fc;

static void setup_rename(struct cw *w)
{
	d1 = cw_mkdir(w, CW_ROOT, "d1");
	d2 = cw_mkdir(w, CW_ROOT, "d2");
	fa = cw_create(w, d1, "a");
	cw_write(w, fa, 0, 10000);
	fb = cw_create(w, d1, "b");
	cw_write(w, fb, 0, 5000);
	fc = cw_create(w, CW_ROOT, "c");
	cw_write(w, fc, 0, 70000);
}

static void wl_rename(struct cw *w)
{
	cw_rename(w, d1, "a", d1, "a2");
	cw_write(w, fa, 10000, 500);
	cw_fsync(w, fa);                        /* the new name is durable */
	cw_rename(w, d1, "b", d2, "b");         /* across directories */
	cw_rename(w, CW_ROOT, "c", d1, "a2");   /* replaces a2 */
	cw_dir_fsync(w, d1);
	cw_unlink(w, d2, "b");
	cw_obj e = cw_create(w, d2, "e");
	cw_write(w, e, 0, 20000);
	cw_rename(w, d2, "e", d1, "e");         /* unsynced */
	cw_rename(w, d1, "a2", CW_ROOT, "c");   /* back, unsynced */
}

Test(crash, rename)
{
	static const struct crash_workload wl = { .name = "rename",
						  .setup = setup_rename,
						  .run = wl_rename };
	run_clean(&wl);
}

/* What fs/ does for a small session: mkdir, create, write, fsync, the
 * write-temp-then-rename save, append, unlink. */
static void wl_fs(struct cw *w)
{
	cw_obj home = cw_mkdir(w, CW_ROOT, "home");
	cw_obj u = cw_mkdir(w, home, "u");
	cw_obj notes = cw_create(w, u, "notes");
	cw_write(w, notes, 0, 3000);
	cw_fsync(w, notes);
	cw_obj tmp = cw_create(w, u, ".notes.tmp");
	cw_write(w, tmp, 0, 70000);
	cw_fsync(w, tmp);
	cw_rename(w, u, ".notes.tmp", u, "notes");
	cw_dir_fsync(w, u);
	cw_obj var = cw_mkdir(w, CW_ROOT, "var");
	cw_obj log = cw_create(w, var, "log");
	for (int i = 0; i < 3; i++)
		cw_write(w, log, (uint64_t)i * 100, 100);
	cw_fsync(w, log);
	cw_write(w, log, 300, 5000);
	cw_obj scratch = cw_mkdir(w, CW_ROOT, "scratch");
	cw_obj x = cw_create(w, scratch, "x");
	cw_write(w, x, 0, 8000);
	cw_unlink(w, u, "notes");
	cw_rename(w, scratch, "x", var, "x");
	(void)x;
}

Test(crash, fs_sequence)
{
	static const struct crash_workload wl = { .name = "fs", .run = wl_fs };
	run_clean(&wl);
}

/* fsync of a directory is the file system's sync(1): the data files
 * hold in their buffers, never fsync'd, is durable after it too. */
static void wl_dir_fsync(struct cw *w)
{
	cw_obj d = cw_mkdir(w, CW_ROOT, "d");
	cw_obj a = cw_create(w, d, "a");
	cw_write(w, a, 0, 3000);
	cw_obj b = cw_create(w, CW_ROOT, "b");
	cw_write(w, b, 0, 70000);               /* a whole chunk, and a part */
	cw_obj c = cw_create(w, d, "c");
	cw_write(w, c, 0, 100);
	cw_fsync(w, c);
	cw_write(w, c, 100, 5000);              /* after its own fsync */
	cw_dir_fsync(w, d);
	cw_write(w, a, 3000, 100);
	cw_write(w, b, 0, 5000);
	cw_dir_fsync(w, CW_ROOT);
	cw_write(w, c, 0, 200);
}

Test(crash, dir_fsync)
{
	static const struct crash_workload wl = { .name = "dir_fsync",
						  .run = wl_dir_fsync };
	run_clean(&wl);
}

/* The journal: every directory fsync after the setup's checkpoint writes
 * the names changed since, one slot each, on top of which recovery
 * replays them; files made and never written, a directory tree made and
 * moved, a deletion whose slots the next writes would take. */
static cw_obj jd, jf;

static void setup_journal(struct cw *w)
{
	jd = cw_mkdir(w, CW_ROOT, "d");
	jf = cw_create(w, jd, "old");
	cw_write(w, jf, 0, 70000);
}

static void wl_journal(struct cw *w)
{
	cw_obj t = cw_mkdir(w, CW_ROOT, "t");
	cw_obj u = cw_mkdir(w, t, "u");
	cw_create(w, u, "empty");               /* no data: the journal alone */
	cw_obj f = cw_create(w, u, "f");
	cw_write(w, f, 0, 20000);
	cw_fsync(w, f);
	cw_dir_fsync(w, t);
	cw_rename(w, CW_ROOT, "t", jd, "t2");   /* a tree moved */
	cw_rename(w, u, "empty", CW_ROOT, "e");
	cw_unlink(w, jd, "old");                /* from the checkpoint */
	cw_dir_fsync(w, jd);
	/* a file the journal made durable, deleted without a sync: the
	 * writes after it must not take its slots */
	cw_unlink(w, u, "f");
	cw_obj g = cw_create(w, CW_ROOT, "g");
	cw_write(w, g, 0, 20000);
	cw_fsync(w, g);
	cw_obj h = cw_create(w, CW_ROOT, "h");
	cw_write(w, h, 0, 20000);
	cw_fsync(w, h);
	cw_rename(w, CW_ROOT, "h", u, "f");     /* the same name, unsynced */
	cw_dir_fsync(w, u);
	cw_unlink(w, CW_ROOT, "e");
}

Test(crash, journal)
{
	static const struct crash_workload wl = { .name = "journal",
						  .setup = setup_journal,
						  .run = wl_journal };
	run_clean(&wl);
}

/* A sync of more records than a journal slot holds (64 KiB here) writes
 * several, of consecutive lsns, and flushes once: a crash among them
 * replays a prefix of the records (the file's name at some moment before
 * the sync), never a slot past a gap; "last" is in the last slot. */
static void wl_journal_slots(struct cw *w)
{
	char a[61], b[61];
	memset(a, 'a', 60);
	memset(b, 'b', 60);
	a[60] = b[60] = '\0';
	cw_obj d = cw_mkdir(w, CW_ROOT, "d");
	cw_obj f = cw_create(w, d, a);
	cw_write(w, f, 0, 3000);
	cw_fsync(w, f);
	for (int i = 0; i < 801; i++)   /* 192 bytes a record: 3 slots */
		cw_rename(w, d, i % 2 ? b : a, d, i % 2 ? a : b);
	cw_create(w, d, "last");
	cw_dir_fsync(w, d);
	cw_write(w, f, 0, 3000);        /* crash points with "last" durable */
	cw_fsync(w, f);
	cw_unlink(w, d, "last");
	cw_rename(w, d, b, CW_ROOT, a);
	cw_dir_fsync(w, CW_ROOT);
}

Test(crash, journal_slots)
{
	static const struct crash_workload wl = { .name = "journal_slots",
						  .run = wl_journal_slots };
	run_clean(&wl);
}

/* Modes and extended attributes, which no slot header or only some carry:
 * set before a write, after it, before and after an fsync, on files and
 * a directory, changed again without a sync. */
static void wl_attrs(struct cw *w)
{
	cw_obj d = cw_mkdir(w, CW_ROOT, "d");
	cw_obj a = cw_create(w, d, "a");
	cw_setxattr(w, a, "one");
	cw_write(w, a, 0, 3000);
	cw_chmod(w, a, 0600);
	cw_fsync(w, a);
	cw_obj b = cw_create(w, CW_ROOT, "b");
	cw_write(w, b, 0, 70000);
	cw_fsync(w, b);
	cw_chmod(w, b, 0640);
	cw_setxattr(w, b, "two");
	cw_fsync(w, b);
	cw_obj c = cw_create(w, d, "c");
	cw_write(w, c, 0, 100);
	cw_fsync(w, c);
	cw_chmod(w, c, 0600);           /* alone: only a checkpoint has it */
	cw_fsync(w, c);
	cw_setxattr(w, d, "dir");
	cw_dir_fsync(w, d);
	cw_setxattr(w, a, "three");
	cw_write(w, a, 3000, 100);
	cw_fsync(w, a);
	cw_setxattr(w, b, NULL);
	cw_chmod(w, b, 0444);
	cw_setxattr(w, d, "dir2");
	cw_write(w, b, 0, 5000);
}

/* Holes punched through whole chunks and parts of them (64 KiB chunks
 * here), synced and not, and a range zeroed past the end. */
static void wl_punch(struct cw *w)
{
	cw_obj f = cw_create(w, CW_ROOT, "f");
	cw_write(w, f, 0, 300000);
	cw_fsync(w, f);
	cw_zero(w, f, 50000, 150000, true);     /* a tail, two whole, a head */
	cw_fsync(w, f);
	cw_zero(w, f, 250000, 30000, true);     /* inside one chunk */
	cw_write(w, f, 70000, 1000);            /* into the hole */
	cw_fsync(w, f);
	/* chunk 2 anew, durable by its header alone, then dropped: only a
	 * checkpoint, here slot_sync's, keeps it from coming back */
	cw_write(w, f, 131072, 65536);
	cw_fsync(w, f);
	cw_zero(w, f, 100000, 100000, true);
	cw_sync(w);
	cw_zero(w, f, 0, 65536, true);          /* chunk 0 whole, unsynced */
	cw_zero(w, f, 290000, 50000, false);    /* past the end: it grows */
	cw_write(w, f, 400000, 100);
}

Test(crash, punch)
{
	static const struct crash_workload wl = { .name = "punch",
						  .run = wl_punch };
	run_clean(&wl);
}

Test(crash, attrs)
{
	static const struct crash_workload wl = { .name = "attrs",
						  .run = wl_attrs };
	run_clean(&wl);
}

/* An ACL in the xattr form: version 2, then (tag, perm) pairs, each
 * named entry's id following its pair; 0 ends the list. */
static size_t acl_bytes(uint8_t *buf, const unsigned *e)
{
	size_t n = 4;
	memcpy(buf, "\2\0\0\0", 4);
	for (; *e; e += 2) {
		unsigned tag = e[0], id = 0xffffffffu;
		if (tag == 2 || tag == 8)
			id = *++e;
		uint8_t *p = buf + n;
		p[0] = (uint8_t)tag;
		p[1] = 0;
		p[2] = (uint8_t)e[1];
		p[3] = 0;
		for (int i = 0; i < 4; i++)
			p[4 + i] = (uint8_t)(id >> (8 * i));
		n += 8;
	}
	return n;
}

/* POSIX ACLs, which the journal carries while slot headers carry the
 * mode they set: a default ACL inherited by files synced and not, an
 * access ACL set on a file that had none and on one that had one, a
 * chmod between, an ACL the mode says whole (which removes it), a
 * directory inheriting both, and chunks whose headers go out before
 * the journal holds the ACL that set their mode (of a file it holds,
 * and of one it never named). */
static void wl_acl(struct cw *w)
{
	static const unsigned dflt[] = { 1, 7, 2, 1000, 7, 4, 0, 0x10, 7,
					 0x20, 0, 0 };
	static const unsigned wide[] = { 1, 6, 2, 9, 6, 4, 4, 0x10, 6,
					 0x20, 0, 0 };
	static const unsigned equiv[] = { 1, 6, 4, 4, 0x20, 4, 0 };
	uint8_t b[72];
	cw_obj d = cw_mkdir(w, CW_ROOT, "d");
	cw_setacl(w, d, true, b, acl_bytes(b, dflt));
	cw_dir_fsync(w, d);
	cw_obj a = cw_make_acl(w, d, "a", S_IFREG | 0660);
	cw_write(w, a, 0, 3000);
	cw_fsync(w, a);
	cw_obj u = cw_make_acl(w, d, "unsynced", S_IFREG | 0640);
	cw_write(w, u, 0, 70000);
	cw_obj c = cw_create(w, CW_ROOT, "c");
	cw_write(w, c, 0, 100);
	cw_fsync(w, c);
	cw_setacl(w, c, false, b, acl_bytes(b, wide)); /* widens its mode */
	cw_write(w, c, 100, 100);
	cw_setacl(w, a, false, b, acl_bytes(b, wide));
	cw_write(w, a, 3000, 100);
	cw_chmod(w, a, 0600);
	cw_fsync(w, a);
	cw_make_acl(w, d, "sub", S_IFDIR | 0777);
	cw_fsync(w, u);         /* the data: a directory's fsync takes none */
	cw_fsync(w, c);
	cw_dir_fsync(w, d);
	cw_chmod(w, u, 0604);
	cw_write(w, u, 0, 5000);
	cw_setacl(w, a, false, b, acl_bytes(b, equiv));
	cw_write(w, a, 0, 10);
	cw_obj e = cw_create(w, CW_ROOT, "e");
	cw_write(w, e, 0, 100);
	cw_sync(w);             /* nothing buffered for the checkpoint */
	cw_ckpt(w);             /* which holds e: no header gives its mode */
	cw_setacl(w, e, false, b, acl_bytes(b, wide));
	cw_write(w, e, 0, 140000);      /* two whole chunks go out */
	cw_fsync(w, e);
	cw_chmod(w, e, 0604);
	cw_write(w, e, 0, 140000);      /* newer than the journal's ACL */
	cw_fsync(w, e);
	/* a file no journal slot names yet, whose ACL set its mode before
	 * its first chunks went out */
	cw_obj g = cw_create(w, CW_ROOT, "g");
	cw_setacl(w, g, false, b, acl_bytes(b, wide));
	cw_write(w, g, 0, 140000);
	cw_fsync(w, g);
}

Test(crash, acl)
{
	static const struct crash_workload wl = { .name = "acl",
						  .run = wl_acl };
	run_clean(&wl);
}

/* ------------------------------------------------------------------ */
/* The harness checks itself                                           */
/* ------------------------------------------------------------------ */

static void wl_small(struct cw *w)
{
	put_batch(w, "s%d", 0, 3, 3);
	cw_sync(w);
	cw_put1(w, "s0", 20000);
}

/* Zero the slot area: synced data is gone, which must be seen. */
static void wipe_slots(uint8_t *img, uint64_t size)
{
	memset(img + (3ull << 20), 0, size - (3ull << 20));
}

Test(crash, harness_sees_lost_data)
{
	static const struct crash_workload wl = { .name = "selftest-wipe",
						  .setup = setup_keys,
						  .run = wl_small,
						  .sabotage = wipe_slots,
						  .quiet = true };
	struct crash_result r;
	crash_run(&wl, &r);
	cr_expect_eq(r.recovered, r.images);
	cr_expect_geq(r.violations, r.images,
		      "a wiped slot area passed the checks");
}

/* Flip a byte in every slot payload: a read must not pass it as data. */
static void flip_payloads(uint8_t *img, uint64_t size)
{
	for (uint64_t off = 3ull << 20; off + 8192 <= size; off += 4096)
		if (!memcmp(img + off, "SLOTHDR1", 8))
			img[off + 4096] ^= 0x5a;
}

Test(crash, harness_sees_garbage)
{
	static const struct crash_workload wl = { .name = "selftest-flip",
						  .setup = setup_keys,
						  .run = wl_small,
						  .sabotage = flip_payloads,
						  .quiet = true };
	struct crash_result r;
	crash_run(&wl, &r);
	cr_expect_geq(r.violations, r.images,
		      "flipped payloads passed the checks");
}
