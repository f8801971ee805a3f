/* SPDX-License-Identifier: MIT */
/* test_kv.c - the key-value face: batches, the lock protocol, limits. */
#include <errno.h>
#include <limits.h>
#include <sys/mman.h>
#include <inttypes.h>

#include "helpers.h"
#include "internal.h"     /* the sync walk's generation, white-box */

static struct t_env env;
static void setup(void) { t_setup(&env, 256ull << 20); }
static void teardown(void) { t_teardown(&env); }
TestSuite(kv, .init = setup, .fini = teardown, .timeout = 60);

Test(kv, put_get_roundtrip_sizes)
{
	static const size_t sizes[] = { 0, 1, 4095, 4096, 4097, 65536,
					1 << 20, (1 << 20) + 1, 3 << 20 };
	size_t n = sizeof(sizes) / sizeof(sizes[0]);
	struct slot_put p[16];
	char keys[16][32];
	void *bufs[16];
	for (size_t i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		bufs[i] = malloc(sizes[i] + 1);
		t_fill(bufs[i], sizes[i], (unsigned)i + 1);
		p[i] = (struct slot_put){ .key = keys[i], .buf = bufs[i],
					  .len = sizes[i] };
	}
	cr_assert_eq(slot_put_many(env.s, p, n), 0);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(t_get_cmp(env.s, keys[i], bufs[i], sizes[i]), 0);
	/* and again after a clean close */
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	for (size_t i = 0; i < n; i++) {
		cr_expect_eq(t_get_cmp(env.s, keys[i], bufs[i], sizes[i]), 0);
		free(bufs[i]);
	}
}

/* The review's lock protocol: 2 acquisitions per batch, whatever its size.
 * Taking the lock per key would make this 2n. */
Test(kv, put_many_takes_lock_twice_per_batch)
{
	static const size_t counts[] = { 1, 8, 64 };
	char keys[64][48];
	static char data[64][5000];
	for (size_t c = 0; c < 3; c++) {
		struct slot_put p[64];
		for (size_t i = 0; i < counts[c]; i++) {
			snprintf(keys[i], sizeof(keys[i]), "b%zu-%zu", c, i);
			p[i] = (struct slot_put){ .key = keys[i], .buf = data[i],
						  .len = sizeof(data[i]) };
		}
		uint64_t before = t_status(env.s).lock_acquisitions;
		cr_assert_eq(slot_put_many(env.s, p, counts[c]), 0);
		uint64_t after = t_status(env.s).lock_acquisitions;
		cr_expect_eq(after - before, 2,
			     "batch of %zu took the lock %llu times",
			     counts[c], (unsigned long long)(after - before));
	}
}

Test(kv, overwrite_replaces_whole_object)
{
	char a[200000], b[5000];
	t_fill(a, sizeof(a), 1);
	t_fill(b, sizeof(b), 2);
	cr_assert_eq(t_put1(env.s, "x", a, sizeof(a)), 0);
	uint64_t used = t_status(env.s).slots_used;
	cr_assert_eq(t_put1(env.s, "x", b, sizeof(b)), 0);
	cr_expect_eq(t_get_cmp(env.s, "x", b, sizeof(b)), 0);
	cr_expect_eq(t_status(env.s).slots_used, used, "old slots not freed");
	cr_expect_eq(t_status(env.s).key_count, 1);
}

Test(kv, delete_and_missing)
{
	char a[100] = "hello";
	cr_assert_eq(t_put1(env.s, "dir/sub/key", a, sizeof(a)), 0);
	uint64_t size = 0;
	cr_expect_eq(slot_lookup(env.s, "dir/sub/key", &size), 0);
	cr_expect_eq(size, sizeof(a));
	const char *keys[] = { "dir/sub/key", "nope" };
	int res[2];
	cr_expect_eq(slot_delete_many(env.s, keys, 2, res), -ENOENT);
	cr_expect_eq(res[0], 0);
	cr_expect_eq(res[1], -ENOENT);
	cr_expect_eq(slot_lookup(env.s, "dir/sub/key", NULL), -ENOENT);
	char out[8];
	struct slot_get g = { .key = "dir/sub/key", .buf = out, .cap = 8 };
	cr_expect_eq(slot_get_many(env.s, &g, 1), -ENOENT);
}

Test(kv, get_small_buffer_says_size)
{
	char a[9000];
	t_fill(a, sizeof(a), 3);
	cr_assert_eq(t_put1(env.s, "k", a, sizeof(a)), 0);
	char out[100];
	struct slot_get g = { .key = "k", .buf = out, .cap = sizeof(out) };
	cr_expect_eq(slot_get_many(env.s, &g, 1), -ENOBUFS);
	cr_expect_eq(g.len, sizeof(a));
}

Test(kv, bad_keys)
{
	char name[300];
	memset(name, 'n', sizeof(name));
	name[256] = 0;
	cr_expect_eq(t_put1(env.s, name, "x", 1), -ENAMETOOLONG);
	name[255] = 0;
	cr_expect_eq(t_put1(env.s, name, "x", 1), 0);
	cr_expect_eq(t_put1(env.s, "", "x", 1), -EINVAL);
	cr_expect_eq(t_put1(env.s, "a/../b", "x", 1), -EINVAL);
	cr_assert_eq(t_put1(env.s, "file", "x", 1), 0);
	/* a trailing slash names a directory: not the key without it */
	cr_expect_eq(t_put1(env.s, "file/", "y", 1), -EINVAL);
	cr_expect_eq(t_put1(env.s, "d//f", "z", 1), 0);   /* as d/f */
	char out[4];
	struct slot_get g = { .key = "file/", .buf = out, .cap = sizeof(out) };
	cr_expect_eq(slot_get_many(env.s, &g, 1), -EINVAL);
	g.key = "d/f";
	cr_expect_eq(slot_get_many(env.s, &g, 1), 0);
	cr_expect_eq(g.len, 1);
	cr_expect_eq(out[0], 'z');
	uint64_t size;
	cr_expect_eq(slot_lookup(env.s, "d/", &size), -EINVAL);
	cr_expect_eq(t_put1(env.s, "file/under", "x", 1), -ENOTDIR);
	/* a bad key's message is about the key, not a missing superblock,
	 * which is what -EINVAL means from an open */
	cr_expect_str_eq(slot_strerror(-EINVAL), strerror(EINVAL));
	cr_expect(strstr(slot_open_strerror(-EINVAL), "not a slotfs"),
		  "open's EINVAL: %s", slot_open_strerror(-EINVAL));
	cr_expect_str_eq(slot_strerror(-EFBIG), strerror(EFBIG));
	cr_expect(strstr(slot_open_strerror(-EFBIG), "too small"));
	cr_expect(strstr(slot_strerror(-ENAMETOOLONG), "path"),
		  "a key over 4096 bytes is ENAMETOOLONG too: %s",
		  slot_strerror(-ENAMETOOLONG));
	cr_expect_str_eq(slot_open_strerror(-ENOSPC), slot_strerror(-ENOSPC));
	cr_expect(strstr(slot_strerror(-ENOBUFS), "len"), "a get's -ENOBUFS");
	/* static text: strerror's buffer for an unknown number was freed
	 * by the next such call; and no overflow negating INT_MIN */
	const char *a = slot_strerror(-4000);
	cr_expect_str_eq(slot_strerror(-4001), "unknown error");
	cr_expect_str_eq(a, "unknown error");
	cr_expect_str_eq(slot_strerror(INT_MIN), "unknown error");
	cr_expect_str_eq(slot_open_strerror(INT_MIN), "unknown error");
	/* an empty object needs no buffer */
	struct slot_put e = { .key = "empty", .buf = NULL, .len = 0 };
	cr_expect_eq(slot_put_many(env.s, &e, 1), 0);
	cr_expect_eq(slot_lookup(env.s, "empty", &size), 0);
	cr_expect_eq(size, 0);
}

static int collect_key(void *arg, const char *key, uint64_t size)
{
	strcat(arg, key);
	strcat(arg, ",");
	return size == 1 ? 0 : -1;
}

Test(kv, iterate_lists_every_key)
{
	const char *keys[] = { "a", "d/b", "d/e/c" };
	for (int i = 0; i < 3; i++)
		cr_assert_eq(t_put1(env.s, keys[i], "v", 1), 0);
	char seen[256] = "";
	cr_expect_eq(slot_iterate(env.s, collect_key, seen), 0);
	cr_expect(strstr(seen, "a,") && strstr(seen, "d/b,") &&
		  strstr(seen, "d/e/c,"), "iterate saw %s", seen);
}

/* fn of slot_iterate that reads each key back, and deletes "d/b". */
static int read_each_key(void *arg, const char *key, uint64_t size)
{
	struct slot_store *s = arg;
	char v[8];
	struct slot_get g = { .key = key, .buf = v, .cap = sizeof(v) };
	int err = slot_get_many(s, &g, 1);
	if (!err && (g.len != size || v[0] != 'v'))
		err = -EIO;
	if (!err && !strcmp(key, "d/b"))
		err = slot_delete_many(s, &key, 1, NULL);
	return err;
}

/* The walk holds no lock over its callback, which may call into the
 * store (it deadlocked there, and stalled every other call meanwhile);
 * a change the callback makes does not upset the walk. */
Test(kv, iterate_callback_may_call_the_store, .timeout = 20)
{
	char key[32];
	for (int i = 0; i < 700; i++) {         /* several batches */
		snprintf(key, sizeof(key), "d/e/k%d", i);
		cr_assert_eq(t_put1(env.s, key, "v", 1), 0);
	}
	cr_assert_eq(t_put1(env.s, "d/b", "v", 1), 0);
	cr_expect_eq(slot_iterate(env.s, read_each_key, env.s), 0);
	uint64_t size;
	cr_expect_eq(slot_lookup(env.s, "d/b", &size), -ENOENT);
	cr_expect_eq(t_status(env.s).key_count, 700);
}

/* An object larger than the whole store fails alone, and at once: its
 * bytes were copied first (a 2 GiB put took 2 GiB of memory to say
 * ENOSPC), and its batch failed with it. */
Test(kv, an_object_larger_than_the_store_fails_alone)
{
	size_t big = 300u << 20;                /* the store is 256 MiB */
	char *map = mmap(NULL, big + 4096, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	cr_assert_neq(map, MAP_FAILED);
	memset(map, 0xab, big + 4096);  /* zero chunks would take no slot */
	struct slot_put p[2] = {
		{ .key = "small", .buf = "v", .len = 1 },
		{ .key = "huge", .buf = map + 1, .len = big },  /* unaligned:
								   copied */
	};
	cr_expect_eq(slot_put_many(env.s, p, 2), -ENOSPC);
	cr_expect_eq(p[0].result, 0);
	cr_expect_eq(p[1].result, -ENOSPC);
	cr_expect_eq(t_get_cmp(env.s, "small", "v", 1), 0);
	munmap(map, big + 4096);
}

/*
 * Freed slots wait in quarantine for a flush; a flush under way has taken
 * them from it.  An allocation short of room meanwhile found nothing to
 * reclaim and said ENOSPC with the space about to be free (three writers
 * of one store met it every few seconds).  It waits for that flush now.
 */
Test(kv, space_a_flush_under_way_frees_is_waited_for, .timeout = 60)
{
	size_t big = 150u << 20;                /* of 256 MiB */
	char *a_buf = malloc(big), *b_buf = malloc(big);
	t_fill(a_buf, big, 5);
	t_fill(b_buf, big, 6);
	cr_assert_eq(t_put1(env.s, "a", a_buf, big), 0);
	const char *a = "a";
	cr_assert_eq(slot_delete_many(env.s, &a, 1, NULL), 0);
	struct t_held_flush h;
	t_flush_hold(&h, &env);         /* a's slots are the flush's */
	/* and df counts them free meanwhile, as it counts quarantine */
	struct slot_statfs st;
	cr_assert_eq(slot_statfs(env.s, &st), 0);
	cr_expect_geq(st.blocks_free * st.block_size, big, "%llu blocks free",
		      (unsigned long long)st.blocks_free);
	cr_expect_eq(t_put1(env.s, "b", b_buf, big), 0);
	cr_expect_eq(t_flush_join(&h), 0);
	cr_expect_eq(t_get_cmp(env.s, "b", b_buf, big), 0);
	free(a_buf);
	free(b_buf);
}

/* Fill the store: -ENOSPC, and every object stored before is intact. */
Test(kv, full_store_keeps_what_it_has, .timeout = 120)
{
	static char buf[1 << 20];
	int stored = 0, err = 0;
	char key[32];
	for (int i = 0; i < 10000; i++) {
		t_fill(buf, sizeof(buf), (unsigned)i);
		snprintf(key, sizeof(key), "fill%d", i);
		err = t_put1(env.s, key, buf, sizeof(buf));
		if (err)
			break;
		stored++;
	}
	cr_assert_eq(err, -ENOSPC, "filling ended with %d", err);
	cr_assert_gt(stored, 100);
	cr_expect_eq(slot_lookup(env.s, key, NULL), -ENOENT,
		     "failed put left a key behind");
	for (int i = 0; i < stored; i++) {
		t_fill(buf, sizeof(buf), (unsigned)i);
		snprintf(key, sizeof(key), "fill%d", i);
		cr_expect_eq(t_get_cmp(env.s, key, buf, sizeof(buf)), 0);
	}
	/* deleting makes room again */
	const char *k0 = "fill0";
	cr_assert_eq(slot_delete_many(env.s, &k0, 1, NULL), 0);
	cr_expect_eq(t_put1(env.s, "again", buf, sizeof(buf)), 0);
}

/* 1000 objects of 1 MiB in batches of 50, byte-identical after reopen. */
Test(kv, thousand_mib_objects, .timeout = 240)
{
	t_teardown(&env);
	t_setup(&env, 1200ull << 20);
	static char bufs[50][1 << 20];
	char keys[50][32];
	for (int b = 0; b < 20; b++) {
		struct slot_put p[50];
		for (int i = 0; i < 50; i++) {
			snprintf(keys[i], sizeof(keys[i]), "chunk/%d", b * 50 + i);
			t_fill(bufs[i], sizeof(bufs[i]), (unsigned)(b * 50 + i));
			p[i] = (struct slot_put){ .key = keys[i], .buf = bufs[i],
						  .len = sizeof(bufs[i]) };
		}
		cr_assert_eq(slot_put_many(env.s, p, 50), 0, "batch %d", b);
	}
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	static char out[1 << 20];
	for (int k = 0; k < 1000; k++) {
		snprintf(keys[0], sizeof(keys[0]), "chunk/%d", k);
		t_fill(bufs[0], sizeof(bufs[0]), (unsigned)k);
		struct slot_get g = { .key = keys[0], .buf = out, .cap = sizeof(out) };
		cr_assert_eq(slot_get_many(env.s, &g, 1), 0, "key %d", k);
		cr_assert(memcmp(out, bufs[0], sizeof(out)) == 0, "key %d differs", k);
	}
	cr_expect_eq(t_status(env.s).key_count, 1000);
}

/*
 * A class that has to grow takes spare regions with it, so a stream of
 * puts pays a region's flush once per several regions; the spares stay
 * empty, and a class that runs short later takes them: every region the
 * big objects do not use ends up full of small ones.
 */
Test(kv, spare_regions_go_to_the_class_that_needs_them, .timeout = 120)
{
	struct slot_geometry g;
	struct slot_status a, b;
	char small[4096], key[32];

	slot_geometry_get(env.s, &g);
	uint64_t per_big = (g.region_size - g.block_size) /
			   (g.block_size + g.chunk_size);
	uint64_t per_small = (g.region_size - g.block_size) /
			     (g.block_size + g.min_slot);
	/* one object that fills a region of chunks exactly */
	size_t blen = per_big * g.chunk_size;
	char *big = malloc(blen);
	cr_assert_not_null(big);
	t_fill(big, blen, 7);
	slot_status_get(env.s, &a);
	cr_assert_eq(t_put1(env.s, "big", big, blen), 0);
	slot_status_get(env.s, &b);
	cr_expect_gt(b.slots_total - a.slots_total, per_big,
		     "a growing class took no spare region (%" PRIu64
		     " slots added, %" PRIu64 " a region)",
		     b.slots_total - a.slots_total, per_big);

	uint64_t stored = 0;
	int err = 0;
	while (!err) {
		snprintf(key, sizeof(key), "s%07" PRIu64, stored);
		t_fill(small, sizeof(small), (unsigned)stored);
		err = t_put1(env.s, key, small, sizeof(small));
		if (!err)
			stored++;
	}
	cr_assert_eq(err, -ENOSPC);
	cr_expect_eq(stored, (g.region_count - 1) * per_small,
		     "%" PRIu64 " small objects in %u regions of %" PRIu64,
		     stored, g.region_count - 1, per_small);
	cr_expect_eq(t_get_cmp(env.s, "big", big, blen), 0);
	t_fill(small, sizeof(small), 0);
	cr_expect_eq(t_get_cmp(env.s, "s0000000", small, sizeof(small)), 0);
	free(big);
}

/*
 * When no region is unassigned, a batch that needs a new region for one
 * class takes an empty spare of another class, even one the same batch
 * allocates from, as long as that class keeps the slots it needs.
 */
Test(kv, spare_region_moves_within_a_mixed_batch)
{
	t_teardown(&env);
	t_setup(&env, 64ull << 20);   /* 7 regions of 8 MiB */
	struct slot_geometry g;
	slot_geometry_get(env.s, &g);
	uint64_t per_big = (g.region_size - g.block_size) /
			   (g.block_size + g.chunk_size);
	size_t blen = per_big * g.chunk_size;
	char *big = malloc(blen), small[4096], one[1 << 20];
	cr_assert_not_null(big);
	t_fill(big, blen, 3);
	t_fill(small, sizeof(small), 4);
	t_fill(one, sizeof(one), 5);
	/* one region of chunks, full, and every other region a spare */
	cr_assert_eq(t_put1(env.s, "big", big, blen), 0);
	struct slot_status st;
	slot_status_get(env.s, &st);
	cr_assert_eq(st.slots_total, g.region_count * per_big,
		     "the big class did not take every region as a spare");

	struct slot_put p[2] = {
		{ .key = "small", .buf = small, .len = sizeof(small) },
		{ .key = "one", .buf = one, .len = sizeof(one) },
	};
	cr_expect_eq(slot_put_many(env.s, p, 2), 0);
	cr_expect_eq(t_get_cmp(env.s, "small", small, sizeof(small)), 0);
	cr_expect_eq(t_get_cmp(env.s, "one", one, sizeof(one)), 0);
	cr_expect_eq(t_get_cmp(env.s, "big", big, blen), 0);
	free(big);
}

/* Files noted as maybe owing a checkpoint; *all: the index must be
 * walked for them. */
static size_t kv_owed(bool *all)
{
	sl_lock(env.s);
	size_t n = env.s->owed.n;
	*all = env.s->owed_all;
	sl_unlock(env.s);
	return n;
}

/*
 * slot_sync looks for files only a checkpoint can name among those noted
 * as they changed, and walks the whole index (O(objects)) only when they
 * are not known: puts whose slot headers carry their names and attributes
 * owe nothing, so a put-then-sync loop does not walk; nor does a delete,
 * which the journal carries; a change only a checkpoint carries owes, and
 * sync checkpoints it.
 */
Test(kv, sync_walks_only_when_something_may_be_owed)
{
	char key[32];
	bool all;
	for (int i = 0; i < 64; i++) {
		snprintf(key, sizeof(key), "d/k%d", i);
		cr_assert_eq(t_put1(env.s, key, key, strlen(key)), 0);
	}
	cr_assert_eq(slot_sync(env.s), 0);      /* made "d": a checkpoint */
	cr_assert_eq(slot_sync(env.s), 0);
	cr_expect_eq(kv_owed(&all), 0);
	cr_expect(!all, "a walk that found nothing owed is remembered");
	uint64_t ckpts = t_status(env.s).checkpoints;
	for (int i = 0; i < 128; i++) {         /* overwrites, new keys */
		snprintf(key, sizeof(key), "d/k%d", i);
		cr_assert_eq(t_put1(env.s, key, "new", 3), 0);
		cr_assert_eq(slot_sync(env.s), 0);
	}
	cr_expect_eq(kv_owed(&all), 0, "named puts owe nothing");
	cr_expect(!all);
	cr_expect_eq(t_status(env.s).checkpoints, ckpts);

	const char *gone[] = { "d/k0" };
	cr_assert_eq(slot_delete_many(env.s, gone, 1, NULL), 0);
	kv_owed(&all);
	cr_expect(!all, "a delete, in the journal, owes nothing");
	cr_assert_eq(slot_sync(env.s), 0);
	cr_expect_eq(t_status(env.s).checkpoints, ckpts);
	/* a change only a checkpoint carries */
	cr_assert_eq(t_unjournaled_change(env.s, SLOT_ROOT_INO), 0);
	kv_owed(&all);
	cr_expect(all, "an extended attribute owes the checkpoint");
	cr_assert_eq(slot_sync(env.s), 0);
	cr_expect_gt(t_status(env.s).checkpoints, ckpts);
	slot_abandon(env.s);
	t_reopen(&env);
	uint64_t size;
	cr_expect_eq(slot_lookup(env.s, "d/k0", &size), -ENOENT);
	cr_expect_eq(slot_lookup(env.s, "d/k127", &size), 0);
}

/* Put n keys "g/<i>" of sizes that vary (a block, odd, over a chunk). */
static size_t kv_size(int i)
{
	static const size_t sz[] = { 4096, 100000, (1u << 20) + 5, 1 };
	return sz[i % 4];
}

/* n puts of "g/<first + i>" (keys stay in keys[]): kv_size bytes each,
 * filled as kv_gets_check expects, buffers allocated */
static struct slot_put *kv_puts(int first, int n, char (*keys)[32])
{
	struct slot_put *p = calloc((size_t)n, sizeof(*p));
	cr_assert_not_null(p);
	for (int i = 0; i < n; i++) {
		snprintf(keys[i], 32, "g/%d", first + i);
		char *b = malloc(kv_size(first + i));
		cr_assert_not_null(b);
		t_fill(b, kv_size(first + i), (unsigned)(first + i) + 100);
		p[i] = (struct slot_put){ .key = keys[i], .buf = b,
					  .len = kv_size(first + i) };
	}
	return p;
}

static void kv_puts_free(struct slot_put *p, int n)
{
	for (int i = 0; i < n; i++)
		free((void *)p[i].buf);
	free(p);
}

static void kv_put_sized(int n)
{
	char (*keys)[32] = calloc((size_t)n, sizeof(*keys));
	cr_assert_not_null(keys);
	struct slot_put *p = kv_puts(0, n, keys);
	cr_assert_eq(slot_put_many(env.s, p, (size_t)n), 0);
	kv_puts_free(p, n);
	free(keys);
}

/* n gets of "g/<first + i>" (keys stay in keys[]), buffers allocated */
static struct slot_get *kv_gets(int first, int n, char (*keys)[32])
{
	struct slot_get *g = calloc((size_t)n, sizeof(*g));
	cr_assert_not_null(g);
	for (int i = 0; i < n; i++) {
		snprintf(keys[i], 32, "g/%d", first + i);
		g[i].key = keys[i];
		g[i].cap = (1u << 20) + 5;
		g[i].buf = malloc(g[i].cap);
		cr_assert_not_null(g[i].buf);
	}
	return g;
}

/* Check and free the gets; item skip (or -1) must be missing. */
static void kv_gets_check(struct slot_get *g, int first, int n, int skip)
{
	char *want = malloc((1u << 20) + 5);
	cr_assert_not_null(want);
	for (int i = 0; i < n; i++) {
		if (i == skip) {
			cr_expect_eq(g[i].result, -ENOENT, "%s", g[i].key);
			free(g[i].buf);
			continue;
		}
		t_fill(want, kv_size(first + i), (unsigned)(first + i) + 100);
		cr_expect_eq(g[i].result, 0, "%s", g[i].key);
		cr_expect_eq(g[i].len, kv_size(first + i), "%s", g[i].key);
		cr_expect(!memcmp(g[i].buf, want, kv_size(first + i)), "%s",
			  g[i].key);
		free(g[i].buf);
	}
	free(g);
	free(want);
}

/*
 * slot_get_many_start returns while its batch is still at the device,
 * batches started meanwhile queue up, and each wait hands back its
 * batch's result: all bytes right, or the missing key's -ENOENT.
 */
Test(kv, get_many_start_returns_while_the_batch_reads)
{
	kv_put_sized(24);
	char ka[8][32], kb[8][32], kc[8][32];
	struct slot_get *a = kv_gets(0, 8, ka), *b = kv_gets(8, 8, kb);
	struct slot_get *c = kv_gets(16, 8, kc);
	snprintf(kc[3], 32, "g/missing");
	struct slot_get_op *oa, *ob, *oc;

	slot_emu_hold_read(env.emu, 1);
	cr_assert_eq(slot_get_many_start(env.s, a, 8, &oa), 0);
	slot_emu_wait_held(env.emu);    /* a's first read waits at the device */
	cr_assert_eq(slot_get_many_start(env.s, b, 8, &ob), 0);
	cr_assert_eq(slot_get_many_start(env.s, c, 8, &oc), 0);
	slot_emu_release(env.emu);
	cr_expect_eq(slot_get_wait(oc), -ENOENT);
	cr_expect_eq(c[3].result, -ENOENT);
	cr_expect_eq(slot_get_wait(ob), 0);
	cr_expect_eq(slot_get_wait(oa), 0);
	kv_gets_check(a, 0, 8, -1);
	kv_gets_check(b, 8, 8, -1);
	kv_gets_check(c, 16, 8, 3);
}

/* slot_close lets a started batch finish; its wait, after the close,
 * still returns the batch's result. */
Test(kv, close_finishes_started_gets)
{
	kv_put_sized(8);
	char k[8][32];
	struct slot_get *g = kv_gets(0, 8, k);
	struct slot_get_op *op;
	cr_assert_eq(slot_get_many_start(env.s, g, 8, &op), 0);
	cr_assert_eq(slot_close(env.s), 0);
	cr_expect_eq(slot_get_wait(op), 0);
	kv_gets_check(g, 0, 8, -1);
	t_reopen(&env);
}

/* Free the puts (item skip, or -1, failed) and check that the store
 * holds what they put, and nothing for item skip. */
static void kv_puts_check(struct slot_put *p, int first, int n, int skip)
{
	char (*keys)[32] = calloc((size_t)n, sizeof(*keys));
	cr_assert_not_null(keys);
	for (int i = 0; i < n; i++)
		if (i != skip)
			cr_expect_eq(p[i].result, 0, "%s", p[i].key);
	kv_puts_free(p, n);
	struct slot_get *g = kv_gets(first, n, keys);
	cr_expect_eq(slot_get_many(env.s, g, (size_t)n),
		     skip < 0 ? 0 : -ENOENT);
	kv_gets_check(g, first, n, skip);
	free(keys);
}

/*
 * slot_put_many_start returns while its batch is still at the device
 * (nothing of it is visible yet), batches started meanwhile queue up,
 * each wait hands back its batch's result (all stored, or the bad key's
 * error), and a started batch keeps the lock protocol: 2 acquisitions.
 */
Test(kv, put_many_start_returns_while_the_batch_writes)
{
	char ka[8][32], kb[8][32], kc[8][32];
	struct slot_put *a = kv_puts(0, 8, ka), *b = kv_puts(8, 8, kb);
	struct slot_put *c = kv_puts(16, 8, kc);
	kc[5][0] = '\0';                        /* no name: refused */
	struct slot_put_op *oa, *ob, *oc;
	uint64_t size, locks = t_status(env.s).lock_acquisitions;

	slot_emu_hold_write(env.emu, 1);
	cr_assert_eq(slot_put_many_start(env.s, a, 8, &oa), 0);
	slot_emu_wait_held(env.emu);    /* a's first write waits at the device */
	cr_expect_eq(t_status(env.s).lock_acquisitions - locks, 1);
	cr_assert_eq(slot_put_many_start(env.s, b, 8, &ob), 0);
	cr_assert_eq(slot_put_many_start(env.s, c, 8, &oc), 0);
	cr_expect_eq(slot_lookup(env.s, "g/0", &size), -ENOENT);
	slot_emu_release(env.emu);
	cr_expect_eq(slot_put_wait(oc), -EINVAL);
	cr_expect_eq(c[5].result, -EINVAL);
	cr_expect_eq(slot_put_wait(ob), 0);
	cr_expect_eq(slot_put_wait(oa), 0);
	cr_expect_eq(t_status(env.s).lock_acquisitions - locks, 7); /* + lookup */
	kv_puts_check(a, 0, 8, -1);
	kv_puts_check(b, 8, 8, -1);
	kv_puts_check(c, 16, 8, 5);     /* g/21 was never put */
}

/* A read-only store refuses a delete of each key, as it does each put:
 * every result says so (they were left as they were). */
Test(kv, read_only_store_refuses_each_delete)
{
	cr_assert_eq(t_put1(env.s, "k", "v", 1), 0);
	cr_assert_eq(slot_close(env.s), 0);
	env.opts.read_only = true;
	t_reopen(&env);
	const char *keys[2] = { "k", "absent" };
	int res[2] = { 1, 1 };
	cr_expect_eq(slot_delete_many(env.s, keys, 2, res), -EROFS);
	cr_expect_eq(res[0], -EROFS);
	cr_expect_eq(res[1], -EROFS);
	cr_expect_eq(t_get_cmp(env.s, "k", "v", 1), 0);
}

/* A delete of a key whose started put is at the device cancels that put,
 * as it would a put_many running in another thread. */
Test(kv, delete_cancels_a_started_put)
{
	char k[4][32];
	struct slot_put *p = kv_puts(0, 4, k);
	struct slot_put_op *op;
	const char *gone = "g/2";
	int res;

	slot_emu_hold_write(env.emu, 1);
	cr_assert_eq(slot_put_many_start(env.s, p, 4, &op), 0);
	slot_emu_wait_held(env.emu);
	cr_assert_eq(slot_delete_many(env.s, &gone, 1, &res), 0);
	slot_emu_release(env.emu);
	cr_expect_eq(slot_put_wait(op), -ECANCELED);
	cr_expect_eq(p[2].result, -ECANCELED);
	uint64_t size;
	cr_expect_eq(slot_lookup(env.s, gone, &size), -ENOENT);
	kv_puts_check(p, 0, 4, 2);
	/* and the object the put made for it is gone too: it stayed, counted
	 * as a key and in the checkpoint's room, until ENOSPC */
	cr_expect_eq(t_status(env.s).key_count, 3);
}

/* slot_close lets a started put finish and commits it; its wait, after
 * the close, still returns the batch's result, and the objects are there
 * when the store is opened again. */
Test(kv, close_finishes_started_puts)
{
	char k[8][32];
	struct slot_put *p = kv_puts(0, 8, k);
	struct slot_put_op *op;
	cr_assert_eq(slot_put_many_start(env.s, p, 8, &op), 0);
	cr_assert_eq(slot_close(env.s), 0);
	cr_expect_eq(slot_put_wait(op), 0);
	t_reopen(&env);
	kv_puts_check(p, 0, 8, -1);
}

/*
 * Random batches of puts, gets and deletes over a few keys (some in
 * directories), checked against a model: every get, every key after each
 * clean reopen, and after a crash, where a key put or deleted since the
 * last slot_sync comes back as its synced value or as one written since,
 * whole, and a key left alone as it was.
 */
#define MK_KEYS 24
#define MK_SINCE 8      /* values a key may have had since the sync */

struct mk_key {
	char name[16];
	unsigned seed;          /* 0: absent */
	size_t len;
	unsigned nsince;        /* values since the last sync, the synced first */
	unsigned since_seed[MK_SINCE];
	size_t since_len[MK_SINCE];
	bool overflow;          /* more than MK_SINCE: not checked after a crash */
};

static size_t mk_len(uint32_t *x)
{
	static const size_t lens[] = { 0, 1, 4095, 4096, 5000, 70000,
				       1 << 20, (1 << 20) + 1, 5 << 19 };
	*x = *x * 1103515245u + 12345u;
	return lens[(*x >> 16) % (sizeof(lens) / sizeof(lens[0]))];
}

static void mk_note(struct mk_key *k, unsigned seed, size_t len)
{
	k->seed = seed;
	k->len = len;
	if (k->nsince < MK_SINCE) {
		k->since_seed[k->nsince] = seed;
		k->since_len[k->nsince++] = len;
	} else {
		k->overflow = true;
	}
}

static void mk_synced(struct mk_key *keys)
{
	for (unsigned i = 0; i < MK_KEYS; i++) {
		keys[i].nsince = 1;
		keys[i].since_seed[0] = keys[i].seed;
		keys[i].since_len[0] = keys[i].len;
		keys[i].overflow = false;
	}
}

/* Whether the store's object under k is (seed, len); seed 0: absent. */
static bool mk_holds(unsigned seed, size_t len, const uint8_t *got,
		     size_t glen, int res, uint8_t *want)
{
	if (!seed)
		return res == -ENOENT;
	if (res || glen != len)
		return false;
	t_fill(want, len, seed);
	return !memcmp(got, want, len);
}

static void mk_check_all(struct mk_key *keys, bool crashed, uint8_t *got,
			 uint8_t *want, size_t cap)
{
	for (unsigned i = 0; i < MK_KEYS; i++) {
		struct mk_key *k = &keys[i];
		struct slot_get g = { .key = k->name, .buf = got, .cap = cap };
		int r = slot_get_many(env.s, &g, 1);
		if (r && r != -ENOENT)
			cr_assert_fail("%s: get failed: %d", k->name, r);
		r = g.result;
		bool ok = mk_holds(k->seed, k->len, got, g.len, r, want);
		for (unsigned j = 0; crashed && !ok && j < k->nsince; j++)
			ok = mk_holds(k->since_seed[j], k->since_len[j], got,
				      g.len, r, want);
		cr_assert(ok || (crashed && k->overflow),
			  "%s: %s: result %d, %zu bytes; want %zu bytes of "
			  "seed %u", k->name, crashed ? "after a crash" :
			  "after a reopen", r, g.len, k->len, k->seed);
		if (crashed) {  /* the store now holds what it holds */
			k->seed = 0;
			k->len = 0;
			for (unsigned j = 0; !r && j < k->nsince; j++)
				if (mk_holds(k->since_seed[j],
					     k->since_len[j], got, g.len, r,
					     want)) {
					k->seed = k->since_seed[j];
					k->len = k->since_len[j];
				}
		}
	}
	mk_synced(keys);
}

/* Each region's count of freed slots waiting for release (what df counts
 * a region whole by) matches the states of its slots. */
static void kv_check_npend(const struct slot_store *s, unsigned round)
{
	for (uint32_t r = 0; r < s->nregions; r++) {
		const struct sl_region *rg = &s->regions[r];
		uint32_t pend = 0;
		for (uint32_t j = 0; rg->cls != SL_RGN_FREE && j < rg->nslots;
		     j++) {
			unsigned st = rg->state[j] & SL_SLOT_STATE;
			pend += st == SL_SLOT_QUAR || st == SL_SLOT_PIN;
		}
		cr_assert_eq(rg->cls == SL_RGN_FREE ? 0 : rg->npend, pend,
			     "round %u: region %u counts %u pending, holds %u",
			     round, r, rg->npend, pend);
	}
}

Test(kv, random_batches_match_a_model, .timeout = 120)
{
	static struct mk_key keys[MK_KEYS];
	size_t cap = (5u << 19) + 1;
	uint8_t *got = malloc(cap), *want = malloc(cap);
	uint8_t *vals[MK_KEYS];
	uint32_t x = 12345;
	cr_assert(got && want);
	memset(keys, 0, sizeof(keys));
	for (unsigned i = 0; i < MK_KEYS; i++) {
		if (i % 3)
			snprintf(keys[i].name, sizeof(keys[i].name), "k%u", i);
		else
			snprintf(keys[i].name, sizeof(keys[i].name), "d%u/k%u",
				 i % 4, i);
		vals[i] = malloc(cap);
		cr_assert(vals[i]);
	}
	mk_synced(keys);
	unsigned next_seed = 1;

	for (unsigned round = 0; round < 300; round++) {
		x = x * 1103515245u + 12345u;
		unsigned op = (x >> 16) % 100;
		/* a batch of distinct keys, in random order */
		unsigned pick[MK_KEYS], n = 1 + (x >> 8) % 8;
		for (unsigned i = 0; i < MK_KEYS; i++)
			pick[i] = i;
		for (unsigned i = 0; i < n; i++) {
			x = x * 1103515245u + 12345u;
			unsigned j = i + (x >> 16) % (MK_KEYS - i);
			unsigned t = pick[i];
			pick[i] = pick[j];
			pick[j] = t;
		}
		if (op < 45) {
			struct slot_put p[8];
			for (unsigned i = 0; i < n; i++) {
				struct mk_key *k = &keys[pick[i]];
				size_t len = mk_len(&x);
				unsigned seed = next_seed++;
				t_fill(vals[pick[i]], len, seed);
				p[i] = (struct slot_put){ .key = k->name,
					.buf = vals[pick[i]], .len = len };
				mk_note(k, seed, len);
			}
			cr_assert_eq(slot_put_many(env.s, p, n), 0,
				     "round %u", round);
		} else if (op < 75) {
			struct slot_get g[8];
			uint8_t *bufs[8];
			for (unsigned i = 0; i < n; i++) {
				bufs[i] = malloc(cap);
				g[i] = (struct slot_get){ .key = keys[pick[i]].name,
					.buf = bufs[i], .cap = cap };
			}
			int r = slot_get_many(env.s, g, n);
			cr_assert(r == 0 || r == -ENOENT, "round %u: %d", round, r);
			for (unsigned i = 0; i < n; i++) {
				struct mk_key *k = &keys[pick[i]];
				cr_assert(mk_holds(k->seed, k->len, bufs[i],
						   g[i].len, g[i].result, want),
					  "round %u: %s: result %d, %zu bytes; "
					  "want %zu", round, k->name,
					  g[i].result, g[i].len, k->len);
				free(bufs[i]);
			}
		} else if (op < 90) {
			const char *names[8];
			int res[8];
			for (unsigned i = 0; i < n; i++)
				names[i] = keys[pick[i]].name;
			slot_delete_many(env.s, names, n, res);
			for (unsigned i = 0; i < n; i++) {
				struct mk_key *k = &keys[pick[i]];
				cr_assert_eq(res[i], k->seed ? 0 : -ENOENT,
					     "round %u: delete %s", round,
					     k->name);
				mk_note(k, 0, 0);
			}
		} else if (op < 94) {
			cr_assert_eq(slot_sync(env.s), 0);
			mk_synced(keys);
		} else if (op < 97) {
			cr_assert_eq(slot_close(env.s), 0);
			t_reopen(&env);
			mk_check_all(keys, false, got, want, cap);
		} else {
			slot_abandon(env.s);
			t_reopen(&env);
			mk_check_all(keys, true, got, want, cap);
		}
		kv_check_npend(env.s, round);
	}
	for (unsigned i = 0; i < MK_KEYS; i++)
		free(vals[i]);
	free(got);
	free(want);
}

/*
 * A store full of 1 MiB objects, then some deleted (every step-th, at
 * most max of them): 4 KiB objects are put until the store is full, and
 * all of them, and the 1 MiB objects left, read back after a reopen;
 * fsck finds nothing wrong.  Returns how many small ones were stored and
 * sets *freed.
 */
static int kv_small_after_big(int step, int max, int *freed)
{
	static char one[1 << 20];
	char key[32], small[4096];
	int stored = 0, err = 0;
	while (!err) {
		snprintf(key, sizeof(key), "big%05d", stored);
		t_fill(one, sizeof(one), (unsigned)stored);
		err = t_put1(env.s, key, one, sizeof(one));
		if (!err)
			stored++;
	}
	cr_assert_eq(err, -ENOSPC);
	*freed = 0;
	for (int i = 0; i < stored && *freed < max; i += step, ++*freed) {
		snprintf(key, sizeof(key), "big%05d", i);
		const char *k = key;
		cr_assert_eq(slot_delete_many(env.s, &k, 1, NULL), 0);
	}
	struct slot_status st;
	slot_status_get(env.s, &st);
	cr_assert_eq(st.regions_free, 0, "a region stayed unassigned");

	int small_stored = 0;
	for (err = 0; !err; small_stored++) {
		snprintf(key, sizeof(key), "small%05d", small_stored);
		t_fill(small, sizeof(small), 1000u + (unsigned)small_stored);
		err = t_put1(env.s, key, small, sizeof(small));
	}
	small_stored--;
	cr_assert_eq(err, -ENOSPC);
	cr_assert_eq(slot_sync(env.s), 0);
	slot_close(env.s);
	env.s = NULL;
	t_reopen(&env);
	for (int i = 0; i < small_stored; i++) {
		snprintf(key, sizeof(key), "small%05d", i);
		t_fill(small, sizeof(small), 1000u + (unsigned)i);
		cr_expect_eq(t_get_cmp(env.s, key, small, sizeof(small)), 0,
			     "%s", key);
	}
	for (int i = 0; i < stored; i++) {
		bool gone = i % step == 0 && i / step < *freed;
		snprintf(key, sizeof(key), "big%05d", i);
		t_fill(one, sizeof(one), (unsigned)i);
		if (!gone)
			cr_expect_eq(t_get_cmp(env.s, key, one, sizeof(one)),
				     0, "%s", key);
	}
	slot_close(env.s);
	env.s = NULL;
	struct slot_fsck_opts fo = { .mode = SLOT_FSCK_CHECK, .force = true };
	struct slot_fsck_result fr;
	cr_assert_eq(slot_fsck(env.dev, &fo, &fr), 0);
	cr_expect_eq(fr.exit_code, SLOT_FSCK_OK, "fsck -f -n: exit %d, "
		     "%" PRIu64 " problems", fr.exit_code, fr.problems);
	t_reopen(&env);
	return small_stored;
}

/*
 * Three 1 MiB objects deleted: every region keeps more in use than the
 * free slots elsewhere could take, so none can be emptied, and a small
 * object with no slot of its class and no region to grow into takes a
 * larger free slot, as ext4 would still store a small file while df
 * shows space.  They read back, and survive a reopen.
 */
Test(kv, small_object_takes_a_larger_slot_when_its_class_cannot_grow,
     .timeout = 120)
{
	int freed;
	int small = kv_small_after_big(5, 3, &freed);
	cr_expect_eq(small, freed, "%d small objects stored in the %d freed "
		     "slots", small, freed);
}

/*
 * Every fourth deleted: a region's objects fit in the free slots of the
 * others, so the first small object that finds no slot of its class
 * empties one (compact.c) rather than spend a 1 MiB slot on 4 KiB, and
 * a region's worth of small objects fits where borrowing stored one per
 * freed slot.
 */
Test(kv, small_objects_empty_a_region_before_they_borrow_larger_slots,
     .timeout = 120)
{
	int freed;
	int small = kv_small_after_big(4, INT32_MAX, &freed);
	cr_assert_gt(freed, 8);
	cr_expect_gt(small, 4 * freed, "%d small objects stored beside %d "
		     "freed 1 MiB slots: borrowed, not compacted", small,
		     freed);
}

/* A 4 KiB get reads its payload alone, one block as fio's 4 KiB read, the
 * index proving it by the payload checksum it keeps; a clean close and
 * open bring the checksums back from the checkpoint.  Reading the header
 * too, each get would read two blocks. */
Test(kv, small_get_reads_only_its_payload)
{
	char buf[4096];
	t_fill(buf, sizeof(buf), 5);
	cr_assert_eq(t_put1(env.s, "a", buf, sizeof(buf)), 0);
	for (int round = 0; round < 2; round++) {
		uint64_t before = t_status(env.s).io.bytes_read;
		cr_expect_eq(t_get_cmp(env.s, "a", buf, sizeof(buf)), 0);
		cr_expect_eq(t_status(env.s).io.bytes_read - before, 4096,
			     "round %d read %llu bytes", round,
			     (unsigned long long)(t_status(env.s).io.bytes_read - before));
		cr_assert_eq(slot_close(env.s), 0);
		t_reopen(&env);
	}
}

static struct sl_chunk *kv_test_chunk(const char *key)
{
	struct slot_store *s = env.s;
	struct sl_dirent *de = sl_de_find(&s->ix, SLOT_ROOT_INO, key, strlen(key));
	cr_assert_not_null(de);
	struct sl_obj *o = sl_obj_find(&s->ix, de->child);
	cr_assert(o && o->nchunks == 1);
	return &o->chunks[0];
}

/* The index's checksum only remembers the header's.  When it is wrong
 * (a damaged checkpoint), the get reads the header to settle it: the
 * data comes back, no checksum error is counted, and the index learns
 * the right checksum.  Trusting the index alone would fail with EIO. */
Test(kv, wrong_index_checksum_costs_a_reread_not_the_data)
{
	char buf[4096];
	t_fill(buf, sizeof(buf), 6);
	cr_assert_eq(t_put1(env.s, "a", buf, sizeof(buf)), 0);
	struct sl_chunk *c = kv_test_chunk("a");
	uint64_t good = c->csum;
	cr_assert_neq(good, 0);
	c->csum ^= 0x5a5a;
	uint64_t before = t_status(env.s).io.bytes_read;
	cr_expect_eq(t_get_cmp(env.s, "a", buf, sizeof(buf)), 0);
	cr_expect_eq(t_status(env.s).io.bytes_read - before, 4096 + 8192);
	cr_expect_eq(t_status(env.s).checksum_errors, 0);
	cr_expect_eq(kv_test_chunk("a")->csum, good);
	/* and the file face the same */
	c = kv_test_chunk("a");
	c->csum ^= 0x5a5a;
	char out[4096];
	struct sl_dirent *de = sl_de_find(&env.s->ix, SLOT_ROOT_INO, "a", 1);
	cr_expect_eq(slot_file_read(env.s, de->child, 0, out, sizeof(out)),
		     (ssize_t)sizeof(out));
	cr_expect(memcmp(out, buf, sizeof(out)) == 0);
	cr_expect_eq(kv_test_chunk("a")->csum, good);
	cr_expect_eq(t_status(env.s).checksum_errors, 0);
}

/* Key "a": 4 KiB of pattern seed, durable; its directory entry. */
static struct sl_dirent *kv_test_synced_a(char *buf, int seed)
{
	t_fill(buf, 4096, seed);
	cr_assert_eq(t_put1(env.s, "a", buf, 4096), 0);
	cr_assert_eq(slot_sync(env.s), 0);
	return sl_de_find(&env.s->ix, SLOT_ROOT_INO, "a", 1);
}

/*
 * A device read error while the header decides (the re-read after the
 * index's checksum missed) is an I/O error: the get fails with EIO, but
 * no checksum error is counted or recorded for fsck, and the next get,
 * with the device well again, reads the data.  The same for the file
 * face.
 */
Test(kv, device_error_on_the_reread_is_not_a_checksum_error)
{
	char buf[4096], out[4096];
	struct sl_dirent *de = kv_test_synced_a(buf, 16);
	for (int face = 0; face < 2; face++) {
		kv_test_chunk("a")->csum ^= 0x5a5a;
		slot_emu_fail_read(env.emu, 2, -EIO);   /* the re-read */
		uint64_t errs = t_status(env.s).io.errors;
		int r = face ? (int)slot_file_read(env.s, de->child, 0, out,
						   sizeof(out))
			     : t_get_cmp(env.s, "a", buf, sizeof(buf));
		cr_expect_eq(r, -EIO, "face %d: %d", face, r);
		cr_expect_gt(t_status(env.s).io.errors, errs, "face %d", face);
		cr_expect_eq(t_status(env.s).checksum_errors, 0, "face %d",
			     face);
		struct slot_status_ext e = { .size = sizeof(e) };
		slot_status_ext_get(env.s, &e);
		cr_expect_eq(e.fs_errors, 0, "face %d: recorded for fsck", face);
		slot_emu_fail_read(env.emu, 0, 0);
		cr_expect_eq(t_get_cmp(env.s, "a", buf, sizeof(buf)), 0);
	}
}


/* A key's directories go with its last key, up to the first that still
 * holds something: an engine's keys "seq/N/layerK/chunkM" left every
 * directory behind, and the index grew by their count without end. */
Test(kv, a_deleted_key_takes_its_empty_directories)
{
	char buf[100] = "x";
	cr_assert_eq(t_put1(env.s, "a/b/c/k1", buf, sizeof(buf)), 0);
	cr_assert_eq(t_put1(env.s, "a/b/c/k2", buf, sizeof(buf)), 0);
	cr_assert_eq(t_put1(env.s, "a/d", buf, sizeof(buf)), 0);
	uint64_t objs = t_status(env.s).object_count;
	const char *k1 = "a/b/c/k1", *k2 = "a/b/c/k2", *d = "a/d";
	struct slot_attr a;
	cr_assert_eq(slot_delete_many(env.s, &k1, 1, NULL), 0);
	cr_expect_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "a", &a), 0);
	cr_expect_eq(t_status(env.s).object_count, objs - 1, "c went early");
	cr_assert_eq(slot_delete_many(env.s, &k2, 1, NULL), 0);
	cr_expect_eq(t_status(env.s).object_count, objs - 4,
		     "k2, c and b should have gone");
	cr_assert_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "a", &a), 0,
		     "a, which holds d, went");
	cr_expect_eq(a.nlink, 2, "a's link count after b went");
	cr_assert_eq(slot_delete_many(env.s, &d, 1, NULL), 0);
	cr_expect_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "a", &a), -ENOENT);
	cr_expect_eq(t_status(env.s).object_count, objs - 6);
	cr_expect_eq(t_put1(env.s, "a/b/c/k1", buf, sizeof(buf)), 0,
		     "made again");
	t_fsck_clean(&env);
}

/* A device read that fails under a file read, the first or the re-read
 * of a chunk whose checksum did not match, is in the log by its inode:
 * the reader only sees EIO. */
Test(kv, device_error_under_a_file_read_is_logged)
{
	char buf[4096], out[4096];
	struct sl_dirent *de = kv_test_synced_a(buf, 17);
	char want[64];
	snprintf(want, sizeof(want), "inode %llu: a device read failed",
		 (unsigned long long)de->child);
	struct t_log logged = { "" };
	env.s->opts.log = t_log_keep;
	env.s->opts.log_arg = &logged;
	for (int reread = 0; reread < 2; reread++) {
		logged.text[0] = 0;
		if (reread)
			kv_test_chunk("a")->csum ^= 0x5a5a;
		slot_emu_fail_read(env.emu, reread ? 2 : 1, -EIO);
		cr_expect_eq(slot_file_read(env.s, de->child, 0, out,
					    sizeof(out)), -EIO);
		cr_expect(strstr(logged.text, want), "reread %d: logged "
			  "\"%s\"", reread, logged.text);
		slot_emu_fail_read(env.emu, 0, 0);
	}
	env.s->opts.log = NULL;
	cr_expect_eq(slot_file_read(env.s, de->child, 0, out, sizeof(out)),
		     (ssize_t)sizeof(out));
	cr_expect(!memcmp(out, buf, sizeof(out)));
}

/* Occurrences of needle in hay. */
static int kv_test_count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* A device write that fails is in the log, at its byte: a put's caller
 * sees the errno, a background write-out's writer perhaps never.  A burst
 * of failures is one message a second, and the next tells how many were
 * held back. */
Test(kv, failed_device_writes_are_logged_once_a_second)
{
	char buf[4096] = "x";
	struct t_log logged = { "" };
	env.s->opts.log = t_log_keep;
	env.s->opts.log_arg = &logged;
	slot_emu_fail_writes(env.emu, -EIO);
	for (int i = 0; i < 20; i++)
		cr_expect_eq(t_put1(env.s, "k", buf, sizeof(buf)), -EIO);
	slot_emu_fail_writes(env.emu, 0);
	char want[128];
	cr_expect_eq(kv_test_count(logged.text, "a device write of "), 1,
		     "logged:\n%s", logged.text);
	snprintf(want, sizeof(want), " failed: %s\n", slot_strerror(-EIO));
	cr_expect_eq(kv_test_count(logged.text, want), 1, "logged:\n%s",
		     logged.text);

	/* a second on, the next failure counts the 19 or more held back */
	atomic_fetch_sub(&env.s->wfail_logged_ns, 1000000000);
	logged.text[0] = 0;
	slot_emu_fail_write(env.emu, 1, -EIO);
	cr_expect_eq(t_put1(env.s, "k", buf, sizeof(buf)), -EIO);
	unsigned long long held = 0;
	const char *more = strstr(logged.text, "(and ");
	cr_expect(more && sscanf(more, "(and %llu more since the last "
				 "message)", &held) == 1 && held >= 19,
		  "logged:\n%s", logged.text);
	env.s->opts.log = NULL;
	cr_expect_eq(t_put1(env.s, "k", buf, sizeof(buf)), 0);
}

/* A checkpoint written without the checksum section (format 1.0) loads
 * with every checksum unknown: the first get reads the header, as before,
 * and the index learns the checksum from it, so the next get is bare;
 * the same for a file read. */
/* Close the store and take the checksum section out of its current
 * checkpoint, as format 1.0 wrote it (the payload stays; 1.0 readers
 * never look past the directory entries). */
static void kv_test_close_as_1_0(void)
{
	uint64_t meta = env.s->sb.meta_offset, half = env.s->sb.meta_size / 2;
	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	uint8_t *img = slot_emu_image(env.emu);
	struct sl_ckpt_hdr h[2];
	bool ok[2];
	for (int i = 0; i < 2; i++)
		ok[i] = !sl_ckpt_hdr_decode(img + meta + i * half, &h[i]);
	cr_assert(ok[0] || ok[1]);
	int cur = ok[0] && ok[1] ? h[1].seq > h[0].seq : ok[1];
	cr_assert_gt(h[cur].csum_count, 0);
	h[cur].csum_count = h[cur].csum_off = 0;
	sl_ckpt_hdr_encode(&h[cur], img + meta + cur * half);
}

/* Key "a": 4 KiB of pattern seed, put, and the store reopened from a
 * checkpoint as format 1.0 wrote it. */
static void kv_test_a_as_1_0(char *buf, int seed)
{
	t_fill(buf, 4096, seed);
	cr_assert_eq(t_put1(env.s, "a", buf, 4096), 0);
	kv_test_close_as_1_0();
	t_reopen(&env);
}

Test(kv, checkpoint_without_checksums_reads_headers)
{
	char buf[4096];
	kv_test_a_as_1_0(buf, 7);
	cr_expect_eq(kv_test_chunk("a")->csum, 0);
	for (int i = 0; i < 2; i++) {
		uint64_t before = t_status(env.s).io.bytes_read;
		cr_expect_eq(t_get_cmp(env.s, "a", buf, sizeof(buf)), 0);
		cr_expect_eq(t_status(env.s).io.bytes_read - before,
			     i ? 4096 : 8192, "get %d", i);
	}
	/* the file face, from unknown again */
	uint64_t good = kv_test_chunk("a")->csum;
	kv_test_chunk("a")->csum = 0;
	struct sl_dirent *de = sl_de_find(&env.s->ix, SLOT_ROOT_INO, "a", 1);
	char out[4096];
	for (int i = 0; i < 2; i++) {
		uint64_t before = t_status(env.s).io.bytes_read;
		cr_expect_eq(slot_file_read(env.s, de->child, 0, out, sizeof(out)),
			     (ssize_t)sizeof(out));
		cr_expect_eq(t_status(env.s).io.bytes_read - before,
			     i ? 4096 : 8192, "file read %d", i);
	}
	cr_expect_eq(kv_test_chunk("a")->csum, good);
}

/* With the checksum unknown to the index (format 1.0), a get reads the
 * header with the payload and checks both: a damaged payload is EIO and
 * a checksum error, counted and recorded for fsck. */
Test(kv, damaged_slot_with_its_checksum_unknown_is_a_checksum_error)
{
	char buf[4096];
	kv_test_a_as_1_0(buf, 17);
	cr_assert_eq(kv_test_chunk("a")->csum, 0);
	uint64_t off = sl_slot_off(env.s, kv_test_chunk("a")->slot) +
		       env.s->sb.block_size;
	slot_emu_image(env.emu)[off + 100] ^= 0x40;
	cr_expect_eq(t_get_cmp(env.s, "a", buf, sizeof(buf)), -EIO);
	cr_expect_eq(t_status(env.s).checksum_errors, 1);
	struct slot_status_ext e = { .size = sizeof(e) };
	slot_status_ext_get(env.s, &e);
	cr_expect_eq(e.fs_errors, 1);
}

/* An open that checks the checkpoint against the slot headers (after a
 * crash, or asked to) takes each chunk's checksum from its header: a
 * checkpoint without them (1.0) then reads bare from the first get. */
Test(kv, validating_open_takes_checksums_from_headers)
{
	char buf[4096];
	t_fill(buf, sizeof(buf), 8);
	cr_assert_eq(t_put1(env.s, "a", buf, sizeof(buf)), 0);
	uint64_t good = kv_test_chunk("a")->csum;
	kv_test_close_as_1_0();
	env.opts.validate = true;
	t_reopen(&env);
	cr_expect_eq(kv_test_chunk("a")->csum, good);
	uint64_t before = t_status(env.s).io.bytes_read;
	cr_expect_eq(t_get_cmp(env.s, "a", buf, sizeof(buf)), 0);
	cr_expect_eq(t_status(env.s).io.bytes_read - before, 4096);
}

/*
 * A store filled with objects of long names would need a checkpoint
 * larger than its container: puts get ENOSPC first, and what they stored
 * can still be checkpointed, closed cleanly and found again.
 */
Test(kv, long_names_fill_the_checkpoint_not_past_it)
{
	char key[SLOT_NAME_MAX + 1];
	int err = 0, n;
	for (n = 0; n < 100000 && !err; n++) {
		snprintf(key, sizeof(key), "%0255d", n);
		err = t_put1(env.s, key, "x", 1);
	}
	cr_assert_eq(err, -ENOSPC, "put %d: %d", n, err);
	n--;                    /* stored */
	cr_expect_lt(env.s->slots_used, env.s->slots_total,
		     "the slots ran out first: the names were not the limit");
	/* the last bytes with short keys; then not even a directory fits */
	err = 0;
	for (int i = 0; i < 100 && !err; i++) {
		char k[16];
		snprintf(k, sizeof(k), "s%d", i);
		err = t_put1(env.s, k, "x", 1);
	}
	cr_assert_eq(err, -ENOSPC, "short puts: %d", err);
	cr_expect_eq(t_put1(env.s, "dd/k", "x", 1), -ENOSPC);
	cr_expect_eq(slot_lookup(env.s, "dd/k", &(uint64_t){ 0 }), -ENOENT);
	sl_lock(env.s);
	cr_expect_eq(sl_ckpt_room(env.s, 0), 0, "the estimate passed the room");
	sl_unlock(env.s);
	cr_assert_eq(slot_checkpoint(env.s, true), 1);
	cr_assert_eq(slot_close(env.s), 0, "close could not checkpoint");
	t_reopen(&env);
	struct slot_recovery r;
	slot_recovery_report(env.s, &r);
	cr_expect(r.was_clean);
	uint64_t size;
	for (int i = 0; i < n; i += 97) {
		snprintf(key, sizeof(key), "%0255d", i);
		cr_expect_eq(slot_lookup(env.s, key, &size), 0, "%d", i);
	}
	/* a delete makes room again */
	snprintf(key, sizeof(key), "%0255d", 0);
	const char *del[] = { key };
	cr_assert_eq(slot_delete_many(env.s, del, 1, NULL), 0);
	snprintf(key, sizeof(key), "%0255d", n);
	cr_expect_eq(t_put1(env.s, key, "y", 1), 0);
}
