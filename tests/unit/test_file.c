/* SPDX-License-Identifier: MIT */
/* test_file.c - the file face: namespace and data semantics. */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <inttypes.h>

#include "helpers.h"
#include "internal.h"     /* the I/O buffer pool, white-box */

static struct t_env env;
static void setup(void) { t_setup(&env, 128ull << 20); }
static void teardown(void) { t_teardown(&env); }
TestSuite(file, .init = setup, .fini = teardown, .timeout = 60);

static slot_ino_t mkfile(slot_ino_t dir, const char *name)
{
	struct slot_attr a;
	cr_assert_eq(slot_ns_mknod(env.s, dir, name, S_IFREG | 0644, 0, 1000,
				   1000, &a), 0);
	return a.ino;
}

Test(file, write_anywhere_holes_and_append)
{
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "f");
	static char ref[5 << 20];
	static char out[5 << 20];
	memset(ref, 0, sizeof(ref));
	/* scattered writes, some across chunk boundaries */
	struct { uint64_t off; size_t len; } w[] = {
		{ 0, 100 }, { 4000, 200 }, { (1 << 20) - 10, 30 },
		{ 3 << 20, 4096 }, { 50, 10 }, { (2 << 20) + 7, 1 << 20 },
	};
	for (unsigned i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		char *b = malloc(w[i].len);
		t_fill(b, w[i].len, i + 1);
		memcpy(ref + w[i].off, b, w[i].len);
		cr_assert_eq(slot_file_write(env.s, f, w[i].off, b, w[i].len),
			     (ssize_t)w[i].len);
		free(b);
	}
	uint64_t size = (3 << 20) + 4096; /* the furthest end written */
	struct slot_attr a;
	cr_assert_eq(slot_ns_getattr(env.s, f, &a), 0);
	cr_expect_eq(a.size, size);
	cr_expect_eq(slot_file_read(env.s, f, 0, out, sizeof(out)), (ssize_t)size);
	cr_expect(memcmp(out, ref, size) == 0);
	/* append */
	cr_assert_eq(slot_file_write(env.s, f, size, "tail", 4), 4);
	memcpy(ref + size, "tail", 4);
	cr_expect_eq(slot_file_read(env.s, f, size - 2, out, 100), 6);
	cr_expect(memcmp(out, ref + size - 2, 6) == 0);
	/* survives a clean close */
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	cr_expect_eq(slot_file_read(env.s, f, 0, out, sizeof(out)), (ssize_t)size + 4);
	cr_expect(memcmp(out, ref, size + 4) == 0);
	/* the key face reads the same bytes, holes as zeros, into a buffer
	 * full of garbage: block-aligned (straight into it) and not */
	char *al = NULL;
	cr_assert_eq(posix_memalign((void **)&al, 4096, sizeof(out) + 1), 0);
	for (int shift = 0; shift < 2; shift++) {
		memset(al, 0xaa, sizeof(out) + 1);
		struct slot_get g = { .key = "f", .buf = al + shift,
				      .cap = sizeof(out) };
		cr_assert_eq(slot_get_many(env.s, &g, 1), 0);
		cr_expect_eq(g.len, size + 4);
		cr_expect(memcmp(al + shift, ref, size + 4) == 0,
			  "get_many, buffer offset %d", shift);
	}
	free(al);
}

Test(file, truncate_down_then_up_reads_zeros)
{
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "t");
	char b[10000];
	t_fill(b, sizeof(b), 5);
	cr_assert_eq(slot_file_write(env.s, f, 0, b, sizeof(b)), 10000);
	struct slot_attr in = { .size = 100 }, a;
	cr_assert_eq(slot_ns_setattr(env.s, f, &in, SLOT_SET_SIZE, &a), 0);
	cr_expect_eq(a.size, 100);
	in.size = 5000;
	cr_assert_eq(slot_ns_setattr(env.s, f, &in, SLOT_SET_SIZE, &a), 0);
	char out[5000];
	cr_assert_eq(slot_file_read(env.s, f, 0, out, sizeof(out)), 5000);
	cr_expect(memcmp(out, b, 100) == 0);
	for (int i = 100; i < 5000; i++)
		cr_assert_eq(out[i], 0, "byte %d not zero", i);
}

static uint64_t seek(slot_ino_t f, uint64_t off, bool hole)
{
	uint64_t out = UINT64_MAX;
	int err = slot_file_seek(env.s, f, off, hole, &out);
	return err ? (uint64_t)err : out;
}

Test(file, seek_data_and_hole_buffered_and_written)
{
	const uint64_t M = 1 << 20;
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "holes");
	static char b[1 << 20];
	t_fill(b, sizeof(b), 9);
	struct slot_attr in = { .size = 10 * M }, a;
	cr_assert_eq(slot_ns_setattr(env.s, f, &in, SLOT_SET_SIZE, &a), 0);
	cr_assert_eq(slot_file_write(env.s, f, 3 * M + 100, b, 5000), 5000);
	cr_assert_eq(slot_file_write(env.s, f, 5 * M, b, M), (ssize_t)M);
	for (int pass = 0; pass < 2; pass++) {
		/* pass 0: bytes still buffered; pass 1: written out */
		cr_expect_eq(seek(f, 0, false), 3 * M, "pass %d", pass);
		cr_expect_eq(seek(f, 0, true), 0);
		cr_expect_eq(seek(f, 3 * M + 5, true), 3 * M + 8192,
			     "pass %d", pass);
		cr_expect_eq(seek(f, 3 * M + 8192, false), 5 * M);
		cr_expect_eq(seek(f, 5 * M + 1, false), 5 * M + 1);
		cr_expect_eq(seek(f, 5 * M + 1, true), 6 * M);
		cr_expect_eq(seek(f, 6 * M, false), (uint64_t)-ENXIO);
		cr_expect_eq(seek(f, 10 * M - 1, true), 10 * M - 1);
		cr_expect_eq(seek(f, 10 * M, true), (uint64_t)-ENXIO);
		cr_assert_eq(slot_ns_getattr(env.s, f, &a), 0);
		cr_expect_eq(a.blocks, (8192 + M) / 512, "pass %d", pass);
		cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	}
	/* cut inside the full chunk: no data past the end */
	in.size = 5 * M + 10;
	cr_assert_eq(slot_ns_setattr(env.s, f, &in, SLOT_SET_SIZE, &a), 0);
	cr_expect_eq(seek(f, 5 * M, true), 5 * M + 10);
	cr_expect_eq(seek(f, 5 * M + 10, false), (uint64_t)-ENXIO);
	cr_expect_eq(seek(SLOT_ROOT_INO, 0, false), (uint64_t)-EISDIR);
	/* a buffered chunk after written ones */
	cr_assert_eq(slot_file_write(env.s, f, 8 * M, b, 10), 10);
	cr_expect_eq(seek(f, 5 * M + 10, false), 5 * M + 10); /* its block */
	cr_expect_eq(seek(f, 5 * M + 4096, false), 8 * M);
	cr_expect_eq(seek(f, 8 * M, true), 8 * M + 10);
}

/* Random writes, truncates and syncs against a model: chunk i holds data
 * in [0, len[i]) of itself, in whole blocks, below the size. */
Test(file, seek_matches_a_model)
{
	const uint64_t M = 1 << 20, N = 12;
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "model");
	uint64_t len[12] = { 0 }, size = 0;
	static char b[300000];
	t_fill(b, sizeof(b), 4);
	srandom(77);
	for (int op = 0; op < 300; op++) {
		int what = (int)(random() % 10);
		if (what < 6) {
			uint64_t off = (uint64_t)random() % (N * M - sizeof(b));
			size_t n = 1 + (size_t)random() % sizeof(b);
			cr_assert_eq(slot_file_write(env.s, f, off, b, n),
				     (ssize_t)n);
			for (uint64_t i = off / M; i * M < off + n; i++)
				len[i] = SL_MAX(len[i],
						SL_MIN(off + n, (i + 1) * M) - i * M);
			size = SL_MAX(size, off + n);
		} else if (what < 8) {
			struct slot_attr in = { .size = (uint64_t)random() %
							(N * M) }, a;
			cr_assert_eq(slot_ns_setattr(env.s, f, &in,
						     SLOT_SET_SIZE, &a), 0);
			for (uint64_t i = 0; i < N; i++)
				if (i * M >= in.size)
					len[i] = 0;
				else if (in.size < (i + 1) * M)
					len[i] = SL_MIN(len[i], in.size - i * M);
			size = in.size;
		} else {
			cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
		}
		for (int k = 0; k < 20 && size; k++) {
			uint64_t off = (uint64_t)random() % size;
			uint64_t want_d = (uint64_t)-ENXIO, want_h = size;
			for (uint64_t p = off / 4096 * 4096; p < size; p += 4096) {
				uint64_t i = p / M;
				bool data = p - i * M <
					    SL_ALIGN_UP(len[i], (uint64_t)4096);
				if (data && want_d == (uint64_t)-ENXIO)
					want_d = SL_MAX(p, off);
				if (!data && want_h == size)
					want_h = SL_MAX(p, off);
			}
			cr_assert_eq(seek(f, off, false), want_d,
				     "op %d: SEEK_DATA from %" PRIu64, op, off);
			cr_assert_eq(seek(f, off, true), SL_MIN(want_h, size),
				     "op %d: SEEK_HOLE from %" PRIu64, op, off);
		}
	}
}

/* Punching: a chunk wholly in the range becomes a hole, the ends are cut
 * or zeroed; buffered bytes are punched too; ZERO_RANGE past the end grows
 * the file. */
Test(file, zero_punches_holes_and_zeroes_ranges)
{
	const uint64_t M = 1 << 20;
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "p");
	size_t n = 3 * M + M / 2;
	uint8_t *b = malloc(n), *out = malloc(n), *want = malloc(n);
	t_fill(b, n, 11);
	cr_assert_eq(slot_file_write(env.s, f, 0, b, n), (ssize_t)n);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	struct slot_attr a0, a1;
	cr_assert_eq(slot_ns_getattr(env.s, f, &a0), 0);
	/* the tail of chunk 0, all of chunk 1, the head of chunk 2 */
	cr_assert_eq(slot_file_zero(env.s, f, M / 2, 2 * M + M / 4, true), 0);
	memcpy(want, b, n);
	memset(want + M / 2, 0, 2 * M + M / 4);
	cr_assert_eq(slot_file_read(env.s, f, 0, out, n), (ssize_t)n);
	cr_expect(memcmp(out, want, n) == 0, "punched bytes differ");
	cr_assert_eq(slot_ns_getattr(env.s, f, &a1), 0);
	cr_expect_eq(a1.size, n, "PUNCH_HOLE keeps the size");
	cr_expect_lt(a1.blocks, a0.blocks - M / 512, "blocks %" PRIu64
		     " after, %" PRIu64 " before", a1.blocks, a0.blocks);
	cr_expect_eq(seek(f, M / 2, false), 2 * M, "SEEK_DATA past the hole");
	cr_expect_eq(seek(f, 0, true), M / 2, "SEEK_HOLE at the cut");
	/* bytes still in a write buffer */
	cr_assert_eq(slot_file_write(env.s, f, 3 * M, "abcdefgh", 8), 8);
	cr_assert_eq(slot_file_zero(env.s, f, 3 * M + 2, 4, true), 0);
	memcpy(want + 3 * M, "ab\0\0\0\0gh", 8);
	/* a range in a hole, and one past the end, keeping the size */
	cr_assert_eq(slot_file_zero(env.s, f, M + 5, 100, true), 0);
	cr_assert_eq(slot_file_zero(env.s, f, n + 100, 100, true), 0);
	cr_assert_eq(slot_file_read(env.s, f, 0, out, n), (ssize_t)n);
	cr_expect(memcmp(out, want, n) == 0, "bytes differ after the rest");
	cr_assert_eq(slot_ns_getattr(env.s, f, &a1), 0);
	cr_expect_eq(a1.size, n);
	/* ZERO_RANGE without KEEP_SIZE grows the file, with zeros */
	cr_assert_eq(slot_file_zero(env.s, f, n - 10, 5000, false), 0);
	cr_assert_eq(slot_ns_getattr(env.s, f, &a1), 0);
	cr_expect_eq(a1.size, n - 10 + 5000);
	cr_expect_eq(slot_file_zero(env.s, f, 0, 0, true), -EINVAL);
	/* durable with fdatasync */
	cr_assert_eq(slot_file_fsync(env.s, f, true), 0);
	slot_abandon(env.s);
	t_reopen(&env);
	memset(want + n - 10, 0, 10);
	cr_assert_eq(slot_file_read(env.s, f, 0, out, n), (ssize_t)n);
	cr_expect(memcmp(out, want, n) == 0, "bytes differ after a crash");
	free(b);
	free(out);
	free(want);
}

static unsigned t_buffers(slot_ino_t ino)
{
	unsigned n = 0;
	sl_lock(env.s);
	struct sl_obj *o = sl_obj_find(&env.s->ix, ino);
	for (const struct sl_wbuf *w = o ? o->wb : NULL; w; w = w->next)
		n++;
	sl_unlock(env.s);
	return n;
}

/* A hole punched inside a chunk's data is a write of zeros: buffered as
 * a write, with the file's other buffers left as they are.  One that
 * cuts a chunk writes out only the chunks it covers first. */
Test(file, a_hole_inside_a_chunk_is_buffered_as_a_write)
{
	const uint64_t chunk = 1ull << env.s->sb.chunk_shift;
	static char ref[6 << 20], out[6 << 20];
	cr_assert_geq(sizeof(ref), 5 * chunk + 4096);
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "f");
	t_fill(ref, 4 * chunk, 7);
	cr_assert_eq(slot_file_write(env.s, f, 0, ref, 4 * chunk),
		     (ssize_t)(4 * chunk));
	/* the write-outs it queued done: none takes a buffer made below */
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	for (unsigned i = 0; i < 4; i++) {
		memset(ref + i * chunk + 50, 'a' + i, 100);
		cr_assert_eq(slot_file_write(env.s, f, i * chunk + 50,
					     ref + i * chunk + 50, 100), 100);
	}
	cr_assert_eq(t_buffers(f), 4);

	cr_expect(!slot_file_zero_waits(env.s, f, chunk + 8192, 4096));
	cr_assert_eq(slot_file_zero(env.s, f, chunk + 8192, 4096, true), 0);
	memset(ref + chunk + 8192, 0, 4096);
	cr_expect_eq(t_buffers(f), 4, "the hole wrote %u buffers out",
		     4 - t_buffers(f));
	/* to the data's end, or past one chunk: a cut */
	cr_expect(slot_file_zero_waits(env.s, f, 4 * chunk - 4096, 4096));
	cr_expect(slot_file_zero_waits(env.s, f, 2 * chunk - 4096, 8192));
	cr_assert_eq(slot_file_zero(env.s, f, 2 * chunk - 4096, 8192, true),
		     0);
	memset(ref + 2 * chunk - 4096, 0, 8192);
	cr_expect_eq(t_buffers(f), 2, "chunks 0 and 3 stay buffered: %u",
		     t_buffers(f));
	uint64_t hole;
	cr_assert_eq(slot_file_seek(env.s, f, chunk, true, &hole), 0);
	cr_expect_eq(hole, 2 * chunk - 4096, "the cut's hole at %" PRIu64,
		     hole);
	/* space set aside writes out the chunks it covers; all, when the
	 * size it sets would cover the others */
	cr_assert_eq(slot_file_allocate(env.s, f, 4096, 4096, true), 0);
	cr_expect_eq(t_buffers(f), 1, "chunk 3 stays buffered: %u",
		     t_buffers(f));
	cr_assert_eq(slot_file_allocate(env.s, f, 5 * chunk, 4096, false), 0);
	cr_expect_eq(t_buffers(f), 0, "the size grew over a buffer");
	memset(ref + 4 * chunk, 0, chunk + 4096);

	for (int round = 0; round < 2; round++) {
		cr_assert_eq(slot_file_read(env.s, f, 0, out, 5 * chunk + 4096),
			     (ssize_t)(5 * chunk + 4096));
		cr_expect(memcmp(out, ref, 5 * chunk + 4096) == 0, "round %d",
			  round);
		cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
		cr_assert_eq(slot_close(env.s), 0);
		t_reopen(&env);
	}
}

/* Random writes, punches, zeroed ranges and truncations against a copy
 * in memory; after an fsync, a crash changes nothing. */
Test(file, zero_matches_a_model)
{
	const size_t MAX = 6u << 20;
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "zm");
	uint8_t *model = calloc(1, MAX + (1 << 20)), *out = malloc(MAX + (1 << 20));
	static uint8_t b[300000];
	size_t size = 0;
	srandom(99);
	for (int op = 0; op < 400; op++) {
		int what = (int)(random() % 10);
		uint64_t off = (uint64_t)random() % MAX;
		size_t n = 1 + (size_t)random() % sizeof(b);
		if (off + n > MAX)
			n = MAX - off;
		if (what < 4) {
			t_fill(b, n, (unsigned)op);
			cr_assert_eq(slot_file_write(env.s, f, off, b, n),
				     (ssize_t)n);
			memcpy(model + off, b, n);
			size = SL_MAX(size, off + n);
		} else if (what < 8) {
			if (random() % 3 == 0)
				n = (size_t)random() % (3u << 20) + 1;
			if (off + n > MAX)
				n = MAX - off;
			bool keep = what < 7;
			cr_assert_eq(slot_file_zero(env.s, f, off, n, keep), 0,
				     "op %d", op);
			if (off < size)
				memset(model + off, 0, SL_MIN(off + n, size) - off);
			if (!keep)
				size = SL_MAX(size, off + n);
		} else if (what < 9) {
			size_t ns = (size_t)random() % MAX;
			struct slot_attr in = { .size = ns };
			cr_assert_eq(slot_ns_setattr(env.s, f, &in,
						     SLOT_SET_SIZE, NULL), 0);
			if (ns < size)
				memset(model + ns, 0, size - ns);
			size = ns;
		} else {
			cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
		}
		struct slot_attr a;
		cr_assert_eq(slot_ns_getattr(env.s, f, &a), 0);
		cr_assert_eq(a.size, size, "op %d: size", op);
		if (op % 20 == 19 || op == 399) {
			cr_assert_eq(slot_file_read(env.s, f, 0, out, size),
				     (ssize_t)size);
			cr_assert(memcmp(out, model, size) == 0,
				  "op %d: bytes differ", op);
		}
	}
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	slot_abandon(env.s);
	t_reopen(&env);
	cr_assert_eq(slot_file_read(env.s, f, 0, out, size), (ssize_t)size);
	cr_expect(memcmp(out, model, size) == 0, "bytes differ after a crash");
	free(model);
	free(out);
}

Test(file, names_links_and_rename)
{
	struct slot_attr a, d;
	cr_assert_eq(slot_ns_mkdir(env.s, SLOT_ROOT_INO, "d", 0755, 0, 0, &d), 0);
	slot_ino_t f = mkfile(d.ino, "a");
	cr_assert_eq(slot_file_write(env.s, f, 0, "data", 4), 4);
	cr_expect_eq(slot_ns_mknod(env.s, d.ino, "a", S_IFREG | 0644, 0, 0, 0, &a),
		     -EEXIST);
	char longname[300];
	memset(longname, 'x', 256);
	longname[256] = 0;
	cr_expect_eq(slot_ns_mknod(env.s, d.ino, longname, S_IFREG, 0, 0, 0, &a),
		     -ENAMETOOLONG);
	/* hard link */
	cr_assert_eq(slot_ns_link(env.s, f, SLOT_ROOT_INO, "b", &a), 0);
	cr_expect_eq(a.nlink, 2);
	/* rename replaces */
	slot_ino_t g = mkfile(SLOT_ROOT_INO, "c");
	cr_assert_eq(slot_ns_rename(env.s, SLOT_ROOT_INO, "b", SLOT_ROOT_INO, "c", 0), 0);
	cr_expect_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "c", &a), 0);
	cr_expect_eq(a.ino, f);
	cr_expect_eq(slot_ns_getattr(env.s, g, &a), -ENOENT);
	cr_expect_eq(slot_ns_rename(env.s, SLOT_ROOT_INO, "c", d.ino, "a",
				    SLOT_RENAME_NOREPLACE), -EEXIST);
	/* a directory cannot go under itself; rmdir of non-empty fails */
	cr_expect_eq(slot_ns_rename(env.s, SLOT_ROOT_INO, "d", d.ino, "x", 0), -EINVAL);
	cr_expect_eq(slot_ns_rmdir(env.s, SLOT_ROOT_INO, "d"), -ENOTEMPTY);
	cr_expect_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "d"), -EISDIR);
	/* directory rename keeps its content */
	cr_assert_eq(slot_ns_rename(env.s, SLOT_ROOT_INO, "d", SLOT_ROOT_INO, "e", 0), 0);
	cr_expect_eq(slot_ns_lookup(env.s, d.ino, "a", &a), 0);
	cr_expect_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "d", &a), -ENOENT);
	/* exchange */
	cr_assert_eq(slot_ns_rename(env.s, SLOT_ROOT_INO, "e", SLOT_ROOT_INO, "c",
				    SLOT_RENAME_EXCHANGE), 0);
	cr_expect_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "c", &a), 0);
	cr_expect(S_ISDIR(a.mode));
	/* everything survives a clean close */
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	cr_expect_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "c", &a), 0);
	cr_expect(S_ISDIR(a.mode));
	cr_expect_eq(a.nlink, 2);
	cr_expect_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "e", &a), 0);
	cr_expect_eq(a.ino, f);
	cr_expect_eq(a.nlink, 2);
	char out[8];
	cr_expect_eq(slot_file_read(env.s, f, 0, out, 8), 4);
}

Test(file, unlinked_open_file_keeps_data)
{
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "u");
	cr_assert_eq(slot_file_write(env.s, f, 0, "keep", 4), 4);
	/* in a slot, not a buffer: the count below is then exact */
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_eq(slot_ns_hold(env.s, f), 0);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "u"), 0);
	char out[4];
	cr_expect_eq(slot_file_read(env.s, f, 0, out, 4), 4);
	cr_expect(memcmp(out, "keep", 4) == 0);
	uint64_t used = t_status(env.s).slots_used;
	cr_assert_eq(slot_ns_release(env.s, f), 0);
	cr_expect_eq(t_status(env.s).slots_used, used - 1);
	cr_expect_eq(slot_ns_getattr(env.s, f, &(struct slot_attr){0}), -ENOENT);
}

static int t_count_entry(void *arg, const char *name,
			 const struct slot_attr *a, uint64_t next)
{
	(void)name, (void)a, (void)next;
	(*(int *)arg)++;
	return 0;
}

/* The kernel's references (slot_ns_hold once each, slot_ns_forget of
 * several at once) keep a node whose last name went, file or directory,
 * until the last is forgotten: then its slots come back. */
Test(file, forgotten_references_free_a_removed_node)
{
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "u");
	cr_assert_eq(slot_file_write(env.s, f, 0, "keep", 4), 4);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(slot_ns_hold(env.s, f), 0);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "u"), 0);
	uint64_t used = t_status(env.s).slots_used;
	struct slot_attr a;
	cr_assert_eq(slot_ns_forget(env.s, f, 2), 0);
	cr_expect_eq(slot_ns_getattr(env.s, f, &a), 0, "one reference left");
	cr_expect_eq(a.nlink, 0);
	cr_expect_eq(a.size, 4);
	cr_expect_eq(t_status(env.s).slots_used, used);
	cr_assert_eq(slot_ns_forget(env.s, f, 5), 0);   /* more than held */
	cr_expect_eq(slot_ns_getattr(env.s, f, &a), -ENOENT);
	cr_expect_eq(t_status(env.s).slots_used, used - 1);
	cr_expect_eq(slot_ns_forget(env.s, f, 1), -ENOENT, "gone");

	/* a removed directory still referenced lists empty, as ext4's */
	struct slot_attr d;
	cr_assert_eq(slot_ns_mkdir(env.s, SLOT_ROOT_INO, "d", 0755, 0, 0, &d),
		     0);
	cr_assert_eq(slot_ns_hold(env.s, d.ino), 0);
	cr_assert_eq(slot_ns_rmdir(env.s, SLOT_ROOT_INO, "d"), 0);
	int n = 0;
	cr_expect_eq(slot_ns_readdir(env.s, d.ino, 0, t_count_entry, &n), 0);
	cr_expect_eq(n, 0);
	cr_assert_eq(slot_ns_forget(env.s, d.ino, 1), 0);
	cr_expect_eq(slot_ns_readdir(env.s, d.ino, 0, t_count_entry, &n),
		     -ENOENT);
}

/* The kernel forgets a removed file a moment after the unlink's reply:
 * here once an allocation waits for it (or 5 s went by, too late). */
struct t_forget {
	pthread_t t;
	slot_ino_t ino;
};

static void *t_forget_run(void *arg)
{
	struct t_forget *f = arg;
	for (int i = 0; i < 5000; i++) {
		sl_lock(env.s);
		bool waits = env.s->dying_waiters > 0;
		sl_unlock(env.s);
		if (waits)
			break;
		usleep(1000);
	}
	slot_ns_forget(env.s, f->ino, 1);
	return NULL;
}

static size_t t_dying(void)
{
	sl_lock(env.s);
	size_t n = env.s->dying;
	sl_unlock(env.s);
	return n;
}

/* A full store: a write that needs the room of a file just removed waits
 * for the kernel to forget it, as ext4 has its blocks back when unlink(2)
 * returns; a removed file still open keeps its data, and counts as
 * nothing to wait for. */
Test(file, a_full_store_waits_for_a_removed_file_to_be_forgotten,
     .timeout = 120)
{
	static char one[1 << 20], out[1 << 20];
	char name[32];
	slot_ino_t big[4];
	ssize_t r = 0;
	for (int i = 0; r >= 0; i++) {
		snprintf(name, sizeof(name), "big%d", i);
		slot_ino_t f = mkfile(SLOT_ROOT_INO, name);
		if (i < 4)
			big[i] = f;
		t_fill(one, sizeof(one), (unsigned)i);
		r = slot_file_write(env.s, f, 0, one, sizeof(one));
		if (r >= 0)
			cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	}
	cr_assert_eq(r, -ENOSPC);

	/* removed, not open: the kernel's forget comes later */
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "after");
	cr_assert_eq(slot_ns_hold(env.s, big[0]), 0);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "big0"), 0);
	cr_expect_eq(t_dying(), 1);
	struct t_forget fg = { .ino = big[0] };
	cr_assert_eq(pthread_create(&fg.t, NULL, t_forget_run, &fg), 0);
	t_fill(one, sizeof(one), 99);
	r = slot_file_write(env.s, f, 0, one, sizeof(one));
	pthread_join(fg.t, NULL);
	cr_expect_eq(r, (ssize_t)sizeof(one), "write after the removal: %zd",
		     r);
	cr_expect_eq(slot_file_fsync(env.s, f, false), 0);
	cr_expect_eq(t_dying(), 0);

	/* open, then removed: its data stays, and nothing waits for it */
	f = mkfile(SLOT_ROOT_INO, "after2");
	cr_assert_eq(slot_ns_open(env.s, big[1]), 0);
	cr_assert_eq(slot_ns_hold(env.s, big[1]), 0);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "big1"), 0);
	cr_expect_eq(t_dying(), 0, "an open file counts as dying");
	cr_expect_eq(slot_file_write(env.s, f, 0, one, sizeof(one)), -ENOSPC);
	t_fill(one, sizeof(one), 1);
	cr_expect_eq(slot_file_read(env.s, big[1], 0, out, sizeof(out)),
		     (ssize_t)sizeof(out));
	cr_expect(memcmp(out, one, sizeof(out)) == 0);
	cr_assert_eq(slot_ns_release(env.s, big[1]), 0);
	cr_expect_eq(t_dying(), 1, "closed, the file waits for its forget");
	cr_assert_eq(slot_ns_open(env.s, big[1]), 0);  /* /proc/PID/fd/N */
	cr_expect_eq(t_dying(), 0, "open again");
	cr_assert_eq(slot_ns_unhold(env.s, big[1]), 0);
	cr_expect_eq(t_dying(), 1);
	cr_assert_eq(slot_ns_forget(env.s, big[1], 1), 0);
	cr_expect_eq(t_dying(), 0);
	cr_expect_eq(slot_file_write(env.s, f, 0, one, sizeof(one)),
		     (ssize_t)sizeof(one));

	/* held for good (an O_PATH descriptor): one write waits for it in
	 * vain, the next ones do not, till another file is removed */
	f = mkfile(SLOT_ROOT_INO, "after3");
	cr_assert_eq(slot_ns_hold(env.s, big[2]), 0);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "big2"), 0);
	uint64_t waits = env.s->dying_waits;
	cr_expect_eq(slot_file_write(env.s, f, 0, one, sizeof(one)), -ENOSPC);
	cr_expect_eq(env.s->dying_waits, waits + 1);
	cr_expect_eq(slot_file_write(env.s, f, 0, one, sizeof(one)), -ENOSPC);
	cr_expect_eq(env.s->dying_waits, waits + 1, "waited again in vain");
	cr_assert_eq(slot_ns_hold(env.s, big[3]), 0);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "big3"), 0);
	fg.ino = big[3];
	cr_assert_eq(pthread_create(&fg.t, NULL, t_forget_run, &fg), 0);
	r = slot_file_write(env.s, f, 0, one, sizeof(one));
	pthread_join(fg.t, NULL);
	cr_expect_eq(r, (ssize_t)sizeof(one), "write after another removal: "
		     "%zd", r);
	cr_expect_eq(t_dying(), 1, "the file held for good");
	cr_assert_eq(slot_ns_forget(env.s, big[2], 1), 0);
	cr_expect_eq(t_dying(), 0);
}

/* Create files f0, f1, ... till the checkpoint has no room for another. */
static void t_names_fill(void)
{
	char name[32];
	int err = 0, n;
	for (n = 0; n < 1000000 && !err; n++) {
		snprintf(name, sizeof(name), "f%d", n);
		err = slot_ns_mknod(env.s, SLOT_ROOT_INO, name, S_IFREG | 0644,
				    0, 0, 0, NULL);
	}
	cr_assert_eq(err, -ENOSPC, "create %d: %d", n, err);
}

static uint64_t t_ckpt_left(void)
{
	sl_lock(env.s);
	uint64_t left = sl_ckpt_left(env.s);
	sl_unlock(env.s);
	return left;
}

/* Leave the checkpoint keep bytes of room: a symlink's target takes the
 * rest but what its record and name take. */
static void t_ckpt_leave(const char *link, uint64_t keep)
{
	uint64_t left = t_ckpt_left();
	uint64_t fixed = SL_CKPT_OBJ_SIZE + sl_ckpt_name_size(strlen(link));
	cr_assert_gt(left, fixed + keep);
	size_t tl = left - fixed - keep;
	char *t = malloc(tl + 1);
	memset(t, 't', tl);
	t[tl] = 0;
	cr_assert_eq(slot_ns_symlink(env.s, SLOT_ROOT_INO, link, t, 0, 0,
				     NULL), 0);
	free(t);
	cr_assert_eq(t_ckpt_left(), keep);
}

/* Remove name as the kernel sees it removed: still held till its forget,
 * which t_forget_run sends once someone waits.  Join fg->t after. */
static void t_remove_held(const char *name, struct t_forget *fg)
{
	struct slot_attr a;
	cr_assert_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, name, &a), 0);
	cr_assert_eq(slot_ns_hold(env.s, a.ino), 0);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, name), 0);
	fg->ino = a.ino;
	cr_assert_eq(pthread_create(&fg->t, NULL, t_forget_run, fg), 0);
}

/* So does a create in a store whose checkpoint has no room for one more
 * name: the removed file's record goes with it. */
Test(file, a_create_waits_for_a_removed_file_to_be_forgotten)
{
	t_names_fill();
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "f2"), 0);
	struct t_forget fg;
	t_remove_held("f1", &fg);
	/* a create then needs f1's record too */
	uint64_t name1 = sl_ckpt_name_size(1);
	t_ckpt_leave("s", name1);
	int err = slot_ns_mknod(env.s, SLOT_ROOT_INO, "z", S_IFREG | 0644, 0,
				0, 0, NULL);
	pthread_join(fg.t, NULL);
	cr_expect_eq(err, 0, "create after the removal: %d", err);
}

/* And so do a link, a rename to a longer name and an extended attribute,
 * which need room for a name or an attribute but no record. */
Test(file, names_and_attributes_wait_for_a_removed_file_to_be_forgotten)
{
	t_names_fill();
	struct slot_attr f0;
	cr_assert_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "f0", &f0), 0);
	for (int op = 0; op < 3; op++) {
		char plain[16], gone[16], link[2] = { (char)('a' + op), 0 };
		snprintf(plain, sizeof(plain), "f%d", 10 + 2 * op);
		snprintf(gone, sizeof(gone), "f%d", 11 + 2 * op);
		cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, plain), 0);
		struct t_forget fg;
		t_remove_held(gone, &fg);
		t_ckpt_leave(link, 0);
		int err;
		const char *what;
		if (op == 0) {
			what = "link";
			err = slot_ns_link(env.s, f0.ino, SLOT_ROOT_INO, "l",
					   NULL);
		} else if (op == 1) {
			what = "rename";
			err = slot_ns_rename(env.s, SLOT_ROOT_INO, "f1",
					     SLOT_ROOT_INO, "f1-a-longer-name",
					     0);
		} else {
			what = "setxattr";
			err = slot_xattr_set(env.s, f0.ino, "user.k", "v", 1,
					     0);
		}
		pthread_join(fg.t, NULL);
		cr_expect_eq(err, 0, "%s after the removal: %d", what, err);
	}
}

/*
 * Write buffers are SL_WB_TOTAL at most, and so is the table of files
 * that hold them.  A buffer's maker checked for room, let the lock go to
 * read the chunk's old bytes, and took its place after: two makers at the
 * last place both took it, past the table's end (UBSan: index 48 out of
 * bounds; ASan then found the heap overwritten, under six writers).
 */
/* Sparse write buffers all taken (full), or back as they were: a store
 * with none made meanwhile. */
static void t_sparse_full(bool full)
{
	sl_lock(env.s);
	cr_assert_eq(env.s->wbs_count, full ? 0u : SL_WBS_MAX);
	env.s->wbs_count = full ? SL_WBS_MAX : 0;
	sl_unlock(env.s);
}

Test(file, write_buffers_never_pass_their_bound)
{
	slot_ino_t a = mkfile(SLOT_ROOT_INO, "a"), b = mkfile(SLOT_ROOT_INO, "b");
	slot_ino_t c = mkfile(SLOT_ROOT_INO, "c");
	/* c's first chunk on the device, nothing buffered */
	cr_assert_eq(slot_file_write(env.s, c, 0, "old", 3), 3);
	cr_assert_eq(slot_file_fsync(env.s, c, false), 0);
	/* one place left: 47 chunks buffered over a and b */
	uint64_t chunk = 1ull << env.s->sb.chunk_shift;
	for (unsigned i = 0; i < SL_WB_TOTAL - 1; i++)
		cr_assert_eq(slot_file_write(env.s, i % 2 ? b : a,
					     (i / 2) * chunk, "x", 1), 1);
	sl_lock(env.s);
	unsigned held = env.s->wb_count;
	sl_unlock(env.s);
	cr_assert_eq(held, SL_WB_TOTAL - 1, "%u buffers", held);
	/* c's maker reads the old bytes, held at the device (a full
	 * buffer's: no sparse one is to be had) */
	t_sparse_full(true);
	slot_emu_hold_read(env.emu, 1);
	struct t_bg_write w = { .s = env.s, .ino = c, .off = 100, .buf = "w",
				.len = 1 };
	t_bg_write_start(&w);
	slot_emu_wait_held(env.emu);
	/* meanwhile another file's new chunk finds no place left */
	cr_assert_eq(slot_file_write(env.s, a, 40 * chunk, "y", 1), 1);
	slot_emu_release(env.emu);
	pthread_join(w.t, NULL);
	t_sparse_full(false);
	cr_expect_eq(w.res, 1);
	sl_lock(env.s);
	unsigned count = env.s->wb_count, files = env.s->nwb_files;
	sl_unlock(env.s);
	cr_expect_leq(count, SL_WB_TOTAL);
	cr_expect_leq(files, SL_WB_TOTAL);
	char got[4] = "";
	cr_assert_eq(slot_file_read(env.s, c, 0, got, 3), 3);
	cr_expect_eq(memcmp(got, "old", 3), 0);
}

/* Whether f keeps a write buffer that nothing is writing out, and the
 * flushers have no job queued or running. */
static bool t_buffered_idle(slot_ino_t f)
{
	struct slot_store *s = env.s;
	sl_lock(s);
	struct sl_obj *o = sl_obj_find(&s->ix, f);
	bool buffered = o && o->wb && !o->wb->flushing;
	sl_unlock(s);
	pthread_mutex_lock(&s->fq_lock);
	bool idle = !s->fq_len && !s->fq_busy;
	pthread_mutex_unlock(&s->fq_lock);
	return buffered && idle;
}

/*
 * slot_ns_unhold only drops the hold: a handle that wrote nothing has
 * nothing to write out, and the FUSE front end serves such a close on
 * its reading thread because it touches no device.  slot_ns_release
 * starts the write-out of what the file buffered.
 */
Test(file, unhold_writes_nothing_release_writes_out)
{
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "held");
	cr_assert_eq(slot_file_write(env.s, f, 0, "data", 4), 4);
	cr_assert(t_buffered_idle(f), "the write is buffered");
	cr_assert_eq(slot_ns_hold(env.s, f), 0);
	cr_assert_eq(slot_ns_unhold(env.s, f), 0);
	cr_expect(t_buffered_idle(f), "unhold started a write-out");
	cr_assert_eq(slot_ns_hold(env.s, f), 0);
	cr_assert_eq(slot_ns_release(env.s, f), 0);
	bool gone = false;
	for (int i = 0; i < 500 && !gone; i++) {
		sl_lock(env.s);
		gone = !sl_obj_find(&env.s->ix, f)->wb;
		sl_unlock(env.s);
		if (!gone)
			usleep(10000);
	}
	cr_expect(gone, "release did not write the buffer out");
	char out[4];
	cr_expect_eq(slot_file_read(env.s, f, 0, out, 4), 4);
	cr_expect(!memcmp(out, "data", 4));
}

/*
 * A size past the largest file is damage (fsck sets it back), but until
 * then reads must stay inside the caller's buffer: near 2^64 the end of
 * the last chunk wrapped around, and a read of the last MiB wrote past
 * the buffer.  Reads stop at the largest file.
 */
Test(file, damaged_huge_size_reads_stop_at_the_largest_file)
{
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "huge");
	cr_assert_eq(slot_file_write(env.s, f, 0, "head", 4), 4);
	uint64_t max = sl_file_max(env.s);
	sl_lock(env.s);
	sl_obj_find(&env.s->ix, f)->size = UINT64_MAX - 32;
	sl_unlock(env.s);
	char *buf = malloc(1u << 20);
	cr_assert(buf);
	cr_expect_eq(slot_file_read(env.s, f, UINT64_MAX - 32 - (1u << 20),
				    buf, 1u << 20), 0);
	memset(buf, 1, 1u << 20);
	cr_expect_eq(slot_file_read(env.s, f, max - 100, buf, 1u << 20), 100);
	cr_expect_eq(buf[0], 0);
	cr_expect_eq(buf[99], 0);
	cr_expect_eq(buf[100], 1, "read past what it returned");
	cr_expect_eq(slot_file_read(env.s, f, 0, buf, 4), 4);
	cr_expect(!memcmp(buf, "head", 4));
	cr_expect_eq(slot_file_write(env.s, f, max - 1, "ab", 2), -EFBIG);
	cr_expect_eq(slot_file_write(env.s, f, max - 2, "ab", 2), 2);
	free(buf);
}

struct rd { char names[64][16]; int n; uint64_t stop_after; };
static int rd_fn(void *arg, const char *name, const struct slot_attr *a,
		 uint64_t next)
{
	struct rd *r = arg;
	snprintf(r->names[r->n++], 16, "%s", name);
	return r->n == (int)r->stop_after;
}

Test(file, readdir_resumes_by_cookie)
{
	char nm[16];
	for (int i = 0; i < 20; i++) {
		snprintf(nm, sizeof(nm), "n%02d", i);
		mkfile(SLOT_ROOT_INO, nm);
	}
	/* read 5, remove one already read and one not yet, then resume */
	struct rd r = { .stop_after = 5 };
	cr_assert_eq(slot_ns_readdir(env.s, SLOT_ROOT_INO, 0, rd_fn, &r), 0);
	cr_assert_eq(r.n, 5);
	/* the cookie after the 5th entry */
	struct rd all = { .stop_after = 100 };
	cr_assert_eq(slot_ns_readdir(env.s, SLOT_ROOT_INO, 0, rd_fn, &all), 0);
	cr_assert_eq(all.n, 20);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "n01"), 0);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "n10"), 0);
	struct rd rest = { .stop_after = 100 };
	cr_assert_eq(slot_ns_readdir(env.s, SLOT_ROOT_INO, 5, rd_fn, &rest), 0);
	cr_expect_eq(rest.n, 14, "resumed listing has %d", rest.n);
	for (int i = 0; i < rest.n; i++)
		cr_expect(strcmp(rest.names[i], "n10") && strcmp(rest.names[i], "n01"));
}

/* A synced new file comes back with its name after a crash; one never
 * written or synced may not, but nothing else breaks. */
Test(file, fsync_makes_data_and_name_durable)
{
	struct slot_attr d;
	cr_assert_eq(slot_ns_mkdir(env.s, SLOT_ROOT_INO, "dir", 0755, 0, 0, &d), 0);
	slot_ino_t f = mkfile(d.ino, "synced");
	char b[70000];
	t_fill(b, sizeof(b), 9);
	cr_assert_eq(slot_file_write(env.s, f, 0, b, sizeof(b)), (ssize_t)sizeof(b));
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	slot_ino_t g = mkfile(SLOT_ROOT_INO, "second");
	cr_assert_eq(slot_file_write(env.s, g, 0, "x", 1), 1);
	cr_assert_eq(slot_file_fsync(env.s, g, false), 0);
	slot_abandon(env.s);
	t_reopen(&env);
	struct slot_attr a;
	cr_assert_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "dir", &a), 0);
	cr_assert_eq(slot_ns_lookup(env.s, a.ino, "synced", &a), 0);
	cr_expect_eq(a.size, sizeof(b));
	char out[70000];
	cr_expect_eq(slot_file_read(env.s, a.ino, 0, out, sizeof(out)), (ssize_t)sizeof(b));
	cr_expect(memcmp(out, b, sizeof(b)) == 0);
	cr_expect_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "second", &a), 0);
}

/* While the journal waits for a checkpoint (test_jnl.c has the journal's
 * cuts), saving a file over itself (truncate to 0, write it all, fsync)
 * costs no checkpoint: the new header's size drops the old chunks (a file
 * of one chunk; a longer one's headers lag its size until a flush,
 * ext.c).  A truncation that leaves a hole below the size does: nothing
 * else says the chunks there went. */
/* A file "f" of len bytes of b, durable in a checkpoint. */
static slot_ino_t durable_file(const char *b, size_t len)
{
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "f");
	cr_assert_eq(slot_file_write(env.s, f, 0, b, len), (ssize_t)len);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_geq(slot_checkpoint(env.s, true), 0);
	return f;
}

/* A change the journal does not carry (an extended attribute of the
 * root): until a checkpoint, fsync makes attributes durable in a slot
 * header or a checkpoint, as before the journal (test_jnl.c has it). */
static void journal_waits(void)
{
	cr_assert_eq(t_unjournaled_change(env.s, SLOT_ROOT_INO), 0);
}

Test(file, fsync_after_truncate_checkpoints_only_for_a_hole)
{
	static char b[3 << 20];
	memset(b, 'a', sizeof(b));
	slot_ino_t f = durable_file(b, sizeof(b));
	journal_waits();        /* else the journal carries the cut */
	struct slot_status st;
	cr_assert_eq(slot_status_get(env.s, &st), 0);
	uint64_t before = st.checkpoints;
	struct slot_attr in = { .size = 0 };
	cr_assert_eq(slot_ns_setattr(env.s, f, &in, SLOT_SET_SIZE, NULL), 0);
	memset(b, 'b', sizeof(b));
	cr_assert_eq(slot_file_write(env.s, f, 0, b, 1 << 20), 1 << 20);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_eq(slot_status_get(env.s, &st), 0);
	cr_expect_eq(st.checkpoints, before, "a dense rewrite checkpointed");

	in.size = 1 << 20;
	cr_assert_eq(slot_ns_setattr(env.s, f, &in, SLOT_SET_SIZE, NULL), 0);
	cr_assert_eq(slot_file_write(env.s, f, (3 << 20) - 1, "c", 1), 1);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_eq(slot_status_get(env.s, &st), 0);
	cr_expect_eq(st.checkpoints, before + 1, "a hole's fsync took no "
		     "checkpoint");
	slot_abandon(env.s);
	t_reopen(&env);
	static char out[3 << 20];
	cr_assert_eq(slot_file_read(env.s, f, 0, out, sizeof(out)), (ssize_t)sizeof(out));
	cr_expect_eq(out[0], 'b');
	cr_expect_eq(out[(1 << 20) + 5], 0, "an old chunk came back in the hole");
	cr_expect_eq(out[(2 << 20) + 5], 0, "an old chunk came back in the hole");
	cr_expect_eq(out[(3 << 20) - 1], 'c');
}

/* A file extended over several chunks has headers whose size lags until
 * a flush (FORMAT.md, "Sizes that lag"); fsync still records the whole
 * size without a checkpoint: the last buffered chunk goes out after a
 * flush that covers the others, or, with nothing buffered, the last
 * chunk is written again (cheaper than a checkpoint of this index). */
static uint64_t checkpoints(void)
{
	struct slot_status st;
	cr_assert_eq(slot_status_get(env.s, &st), 0);
	return st.checkpoints;
}

static uint64_t bytes_written(void)
{
	struct slot_status st;
	cr_assert_eq(slot_status_get(env.s, &st), 0);
	return st.io.bytes_written;
}

Test(file, fsync_of_an_extension_records_its_size_without_a_checkpoint)
{
	static char b[(2 << 20) + 1000];
	t_fill(b, sizeof(b), 3);
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "f"), g = mkfile(SLOT_ROOT_INO, "g");
	cr_assert_geq(slot_checkpoint(env.s, true), 0);
	uint64_t before = checkpoints();
	/* nothing buffered: every chunk went out with a lagging size, and
	 * fsync writes the last again */
	cr_assert_eq(slot_file_write(env.s, g, 0, b, sizeof(b)), (ssize_t)sizeof(b));
	cr_assert_eq(sl_file_flush(env.s, g), 0);
	sl_lock(env.s);
	bool lags = sl_obj_find(&env.s->ix, g)->flags & SL_OBJ_ATTR_DIRTY;
	sl_unlock(env.s);
	cr_assert(lags, "the written-out extension's last header did not lag");
	cr_assert_eq(slot_file_fsync(env.s, g, false), 0);
	cr_expect_eq(checkpoints(), before, "a written-out extension's fsync "
		     "checkpointed");
	/* the last chunk still buffered at the fsync: it goes out last,
	 * with the whole size, and nothing is written twice (the slots'
	 * regions are assigned by now: 3 headers and the payloads) */
	uint64_t w0 = bytes_written();
	cr_assert_eq(slot_file_write(env.s, f, 0, b, sizeof(b)), (ssize_t)sizeof(b));
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_expect_eq(checkpoints(), before, "a buffered extension's fsync "
		     "checkpointed");
	cr_expect_leq(bytes_written() - w0, (2u << 20) + 4 * 4096,
		      "the fsync wrote a chunk twice");
	slot_abandon(env.s);
	t_reopen(&env);
	static char out[sizeof(b)];
	slot_ino_t fs[2] = { f, g };
	for (int i = 0; i < 2; i++) {
		struct slot_attr a;
		cr_assert_eq(slot_ns_getattr(env.s, fs[i], &a), 0);
		cr_expect_eq(a.size, sizeof(b), "file %d came back with %llu "
			     "bytes", i, (unsigned long long)a.size);
		memset(out, 0, sizeof(out));
		cr_expect_eq(slot_file_read(env.s, fs[i], 0, out, sizeof(out)),
			     (ssize_t)sizeof(out));
		cr_expect(memcmp(out, b, sizeof(b)) == 0, "file %d differs", i);
	}
}

/* chmod, chown and utimes reach no slot header: fsync must make them
 * durable even for a file whose data already is.  Here the file's last
 * chunk (one byte) is written again, which costs less than a checkpoint
 * of the index; a last chunk larger than the index takes the checkpoint
 * (the next test). */
Test(file, fsync_makes_attribute_changes_durable)
{
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "f");
	cr_assert_eq(slot_file_write(env.s, f, 0, "x", 1), 1);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_geq(slot_checkpoint(env.s, true), 0);
	journal_waits();
	struct slot_attr in = { .mode = 0600, .uid = 7, .gid = 8 };
	in.mtime.tv_sec = 1000000000;
	cr_assert_eq(slot_ns_setattr(env.s, f, &in, SLOT_SET_MODE | SLOT_SET_UID |
				     SLOT_SET_GID | SLOT_SET_MTIME, NULL), 0);
	struct slot_status st;
	cr_assert_eq(slot_status_get(env.s, &st), 0);
	uint64_t before = st.checkpoints;
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_eq(slot_status_get(env.s, &st), 0);
	cr_expect_eq(st.checkpoints, before, "fsync wrote a checkpoint for a "
		     "one-byte file");
	/* a header holds them now: another fsync has nothing to do,
	 * whatever else waits for a checkpoint */
	struct slot_attr oa = { .mode = 0640 };
	cr_assert_eq(slot_ns_setattr(env.s, SLOT_ROOT_INO, &oa, SLOT_SET_MODE,
				     NULL), 0);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_eq(slot_status_get(env.s, &st), 0);
	cr_expect_eq(st.checkpoints, before, "a clean file's fsync "
		     "checkpointed");
	slot_abandon(env.s);
	t_reopen(&env);
	struct slot_attr a;
	cr_assert_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "f", &a), 0);
	cr_expect_eq(a.mode & 07777, 0600, "mode %o", a.mode & 07777);
	cr_expect_eq(a.uid, 7);
	cr_expect_eq(a.gid, 8);
	cr_expect_eq(a.mtime.tv_sec, 1000000000);
}

static int64_t ts_ns(struct timespec t)
{
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Sets f's atime, mtime and ctime to now less the seconds given. */
static void times_ago(slot_ino_t f, int64_t atime, int64_t mtime,
		      int64_t ctime)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct slot_attr in = { 0 };
	in.atime = (struct timespec){ .tv_sec = now.tv_sec - atime };
	in.mtime = (struct timespec){ .tv_sec = now.tv_sec - mtime };
	in.ctime = (struct timespec){ .tv_sec = now.tv_sec - ctime };
	cr_assert_eq(slot_ns_setattr(env.s, f, &in, SLOT_SET_ATIME |
				     SLOT_SET_MTIME | SLOT_SET_CTIME, NULL), 0);
}

/* Did a read of f move its atime?  Its mtime and ctime must not move. */
static bool read_moves_atime(slot_ino_t f, unsigned rule)
{
	struct slot_attr a, b;
	cr_assert_eq(slot_ns_getattr(env.s, f, &a), 0);
	usleep(1000);   /* now differs from any time set before */
	int moved = slot_ns_accessed(env.s, f, rule);
	cr_assert_geq(moved, 0);
	cr_assert_eq(slot_ns_getattr(env.s, f, &b), 0);
	cr_expect_eq(ts_ns(b.mtime), ts_ns(a.mtime), "a read moved mtime");
	cr_expect_eq(ts_ns(b.ctime), ts_ns(a.ctime), "a read moved ctime");
	cr_expect_eq(moved, ts_ns(b.atime) != ts_ns(a.atime), "said %d", moved);
	return moved;
}

/* atime as relatime moves it (mount(8)): when it is not after the mtime
 * or the ctime, or is a day old; strictatime always.  The change is lazy,
 * but a clean close keeps it. */
Test(file, reads_move_atime_by_the_rule)
{
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "f");
	times_ago(f, 3600, 60, 60);
	cr_expect(read_moves_atime(f, SLOT_ATIME_RELATIVE),
		  "atime before mtime stayed");
	cr_expect(!read_moves_atime(f, SLOT_ATIME_RELATIVE),
		  "a recent atime after mtime and ctime moved");
	times_ago(f, 3600, 7200, 30);
	cr_expect(read_moves_atime(f, SLOT_ATIME_RELATIVE),
		  "atime before ctime stayed");
	times_ago(f, 2 * 86400, 3 * 86400, 3 * 86400);
	cr_expect(read_moves_atime(f, SLOT_ATIME_RELATIVE),
		  "a two-day-old atime stayed");
	times_ago(f, 3600, 7200, 7200);
	cr_expect(read_moves_atime(f, SLOT_ATIME_STRICT),
		  "strictatime left atime");
	cr_expect_eq(slot_ns_accessed(env.s, 999999, SLOT_ATIME_STRICT),
		     -ENOENT);

	/* on a store with nothing else owed, no sync waits for it and the
	 * close's checkpoint carries it */
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	uint64_t before = checkpoints();
	cr_expect(read_moves_atime(f, SLOT_ATIME_STRICT));
	cr_assert_eq(slot_sync(env.s), 0);
	cr_expect_eq(checkpoints(), before, "a sync checkpointed for atime");
	struct slot_attr a, b;
	cr_assert_eq(slot_ns_getattr(env.s, f, &a), 0);
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	cr_assert_eq(slot_ns_getattr(env.s, f, &b), 0);
	cr_expect_eq(ts_ns(b.atime), ts_ns(a.atime), "atime lost at a clean "
		     "close");
}

/* Times are s64 ns (FORMAT.md): one before the epoch comes back with its
 * fraction, one outside 1677-2262 as the nearest end, never wrapped; and
 * a tv_nsec outside a second is refused, as utimensat(2) refuses it. */
Test(file, times_before_the_epoch_and_past_the_range)
{
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "f");
	struct slot_attr in = { 0 }, a;
	in.mtime = (struct timespec){ .tv_sec = -1, .tv_nsec = 250000000 };
	in.atime = (struct timespec){ .tv_sec = 13569465600 }; /* 2400 */
	in.ctime = (struct timespec){ .tv_sec = -11676096000 }; /* 1600 */
	cr_assert_eq(slot_ns_setattr(env.s, f, &in, SLOT_SET_MTIME |
				     SLOT_SET_ATIME | SLOT_SET_CTIME, &a), 0);
	cr_expect(a.mtime.tv_sec == -1 && a.mtime.tv_nsec == 250000000,
		  "mtime %lld.%09ld", (long long)a.mtime.tv_sec,
		  a.mtime.tv_nsec);
	cr_expect(a.atime.tv_sec == INT64_MAX / 1000000000 &&
		  a.atime.tv_nsec == INT64_MAX % 1000000000,
		  "atime %lld.%09ld", (long long)a.atime.tv_sec,
		  a.atime.tv_nsec);
	cr_expect(a.ctime.tv_sec == INT64_MIN / 1000000000 - 1 &&
		  a.ctime.tv_nsec == 1000000000 + INT64_MIN % 1000000000,
		  "ctime %lld.%09ld", (long long)a.ctime.tv_sec,
		  a.ctime.tv_nsec);
	/* and so after a checkpoint and a reopen */
	cr_assert_eq(slot_checkpoint(env.s, true), 1);
	slot_abandon(env.s);
	t_reopen(&env);
	cr_assert_eq(slot_ns_getattr(env.s, f, &a), 0);
	cr_expect(a.mtime.tv_sec == -1 && a.mtime.tv_nsec == 250000000,
		  "mtime %lld.%09ld after a reopen",
		  (long long)a.mtime.tv_sec, a.mtime.tv_nsec);

	in.mtime = (struct timespec){ .tv_sec = 5, .tv_nsec = 1000000000 };
	cr_expect_eq(slot_ns_setattr(env.s, f, &in, SLOT_SET_MTIME, NULL),
		     -EINVAL);
	in.mtime.tv_nsec = -1;
	cr_expect_eq(slot_ns_setattr(env.s, f, &in, SLOT_SET_MTIME, NULL),
		     -EINVAL);
	cr_assert_eq(slot_ns_getattr(env.s, f, &a), 0);
	cr_expect_eq(a.mtime.tv_sec, -1, "a refused time was kept");
}

/* After a crash, f has mode (its permission bits). */
static void expect_mode_after_crash(slot_ino_t f, uint32_t mode)
{
	slot_abandon(env.s);
	t_reopen(&env);
	struct slot_attr a;
	cr_assert_eq(slot_ns_getattr(env.s, f, &a), 0);
	cr_expect_eq(a.mode & 07777, mode, "mode %o", a.mode & 07777);
}

/* ... and a file whose last chunk outweighs the index gets the checkpoint,
 * with the same result after a crash. */
Test(file, fsync_after_chmod_checkpoints_when_that_is_cheaper)
{
	static char b[1 << 20];
	memset(b, 'q', sizeof(b));
	slot_ino_t f = durable_file(b, sizeof(b));
	journal_waits();
	struct slot_attr in = { .mode = 0604 };
	cr_assert_eq(slot_ns_setattr(env.s, f, &in, SLOT_SET_MODE, NULL), 0);
	uint64_t before = checkpoints();
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_expect_eq(checkpoints(), before + 1, "1 MiB rewritten rather than "
		     "a checkpoint of three objects");
	expect_mode_after_crash(f, 0604);
}

/* ... and when the last chunk cannot be read back to be written again, the
 * checkpoint does it: fsync still succeeds and the mode is durable. */
Test(file, fsync_after_chmod_of_a_damaged_last_chunk_checkpoints)
{
	char b[3000];
	memset(b, 'd', sizeof(b));
	slot_ino_t f = durable_file(b, sizeof(b));
	sl_lock(env.s);
	uint64_t ref = sl_obj_find(&env.s->ix, f)->chunks[0].slot;
	uint64_t off = sl_slot_off(env.s, ref) + env.s->sb.block_size;
	sl_unlock(env.s);
	slot_emu_image(env.emu)[off + 10] ^= 0x40;
	journal_waits();
	struct slot_attr in = { .mode = 0611 };
	cr_assert_eq(slot_ns_setattr(env.s, f, &in, SLOT_SET_MODE, NULL), 0);
	uint64_t before = checkpoints();
	cr_expect_eq(slot_file_fsync(env.s, f, false), 0);
	cr_expect_eq(checkpoints(), before + 1, "no checkpoint took the mode");
	expect_mode_after_crash(f, 0611);
}

/* Names, links, symlink targets and renames to longer names stop with
 * ENOSPC where the checkpoint would outgrow its container. */
Test(file, names_fill_the_checkpoint_not_past_it)
{
	char name[SLOT_NAME_MAX + 1], target[200];
	int err = 0, n;
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "short");
	/* symlinks count their targets */
	memset(target, 't', sizeof(target) - 1);
	target[sizeof(target) - 1] = 0;
	for (n = 0; n < 100000 && !err; n++) {
		snprintf(name, sizeof(name), "l%d", n);
		err = slot_ns_symlink(env.s, SLOT_ROOT_INO, name, target, 0, 0,
				      NULL);
	}
	cr_assert_eq(err, -ENOSPC, "symlink %d: %d", n, err);
	sl_lock(env.s);
	cr_expect_eq(sl_ckpt_room(env.s, 0), 0, "the estimate passed the room");
	sl_unlock(env.s);
	err = 0;
	for (n = 0; n < 100000 && !err; n++) {
		snprintf(name, sizeof(name), "%0255d", n);
		err = slot_ns_mknod(env.s, SLOT_ROOT_INO, name, S_IFREG | 0644,
				    0, 0, 0, NULL);
	}
	cr_assert_eq(err, -ENOSPC, "create %d: %d", n, err);
	/* the last bytes, with short names: then none of these fits */
	err = 0;
	for (int i = 0; i < 100 && !err; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		err = slot_ns_mknod(env.s, SLOT_ROOT_INO, name, S_IFREG | 0644,
				    0, 0, 0, NULL);
	}
	cr_assert_eq(err, -ENOSPC, "short creates: %d", err);
	struct slot_statfs sf;
	cr_assert_eq(slot_statfs(env.s, &sf), 0);
	cr_expect_eq(sf.files_free, 0, "df -i: %llu files free",
		     (unsigned long long)sf.files_free);
	cr_expect_gt(sf.blocks_free, 0);
	cr_expect_eq(slot_ns_symlink(env.s, SLOT_ROOT_INO, "l", target, 0, 0,
				     NULL), -ENOSPC);
	snprintf(name, sizeof(name), "%0255d", -1);
	cr_expect_eq(slot_ns_link(env.s, f, SLOT_ROOT_INO, name, NULL),
		     -ENOSPC);
	cr_expect_eq(slot_ns_mkdir(env.s, SLOT_ROOT_INO, "d", 0755, 0, 0,
				   NULL), -ENOSPC);
	cr_expect_eq(slot_ns_rename(env.s, SLOT_ROOT_INO, "short",
				    SLOT_ROOT_INO, name, 0), -ENOSPC);
	sl_lock(env.s);
	cr_expect_eq(sl_ckpt_room(env.s, 0), 0, "the estimate passed the room");
	sl_unlock(env.s);
	/* room for a symlink's name is not room for its target */
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "l5"), 0);
	uint64_t left = 0;
	sl_lock(env.s);
	for (uint64_t step = 1u << 20; step; step >>= 1)
		if (!sl_ckpt_room(env.s, left + step))
			left += step;
	sl_unlock(env.s);
	cr_assert_gt(left, SL_CKPT_OBJ_SIZE + sl_ckpt_name_size(1) + 100);
	char *t = malloc(left);
	memset(t, 'u', left - 100);
	t[left - 100] = 0;
	cr_expect_eq(slot_ns_symlink(env.s, SLOT_ROOT_INO, "m", t, 0, 0, NULL),
		     -ENOSPC);
	free(t);
	uint64_t counted = env.s->ix.names_ck;
	cr_assert_eq(slot_checkpoint(env.s, true), 1);
	cr_assert_eq(slot_close(env.s), 0, "close could not checkpoint");
	t_reopen(&env);
	cr_expect_eq(env.s->ix.names_ck, counted, "a reopened store counts "
		     "its names and targets otherwise");
	/* an unlinked symlink gives its name and target back */
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "l0"), 0);
	cr_expect_eq(counted - env.s->ix.names_ck,
		     sl_ckpt_name_size(2) + strlen(target));
	/* and makes room for a directory */
	cr_expect_eq(slot_ns_mkdir(env.s, SLOT_ROOT_INO, "d", 0755, 0, 0,
				   NULL), 0);
}

Test(file, statfs_tracks_use)
{
	struct slot_statfs a, b;
	cr_assert_eq(slot_statfs(env.s, &a), 0);
	cr_expect_eq(a.name_max, 255);
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "big");
	static char buf[8 << 20];
	cr_assert_eq(slot_file_write(env.s, f, 0, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	/* written out: nothing left in buffers or in flight */
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_eq(slot_statfs(env.s, &b), 0);
	cr_expect_eq(a.blocks, b.blocks);
	cr_expect_leq(b.blocks_free + (8 << 20) / 4096, a.blocks_free);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "big"), 0);
	cr_assert_eq(slot_statfs(env.s, &b), 0);
	cr_expect_eq(b.blocks_free, a.blocks_free);
}

/* Piecemeal writes are buffered, but a full device still answers the
 * write that found it full, and what was stored before stays intact. */
Test(file, enospc_reported_by_write_not_close, .timeout = 120)
{
	static char piece[64 * 1024];
	char name[32];
	int files = 0;
	ssize_t r = 0;
	for (int i = 0; i < 10000 && r >= 0; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		slot_ino_t f = mkfile(SLOT_ROOT_INO, name);
		for (uint64_t off = 0; off < (3u << 20); off += sizeof(piece)) {
			t_fill(piece, sizeof(piece), (unsigned)(i * 100 + off / sizeof(piece)));
			r = slot_file_write(env.s, f, off, piece, sizeof(piece));
			if (r < 0)
				break;
		}
		if (r < 0)
			break;
		cr_assert_eq(slot_file_fsync(env.s, f, false), 0,
			     "fsync failed after every write succeeded");
		files++;
	}
	cr_assert_eq(r, -ENOSPC);
	cr_assert_gt(files, 5);
	/* every completed file reads back whole */
	static char out[64 * 1024];
	for (int i = 0; i < files; i++) {
		struct slot_attr a;
		snprintf(name, sizeof(name), "f%d", i);
		cr_assert_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, name, &a), 0);
		for (uint64_t off = 0; off < (3u << 20); off += sizeof(out)) {
			t_fill(piece, sizeof(piece), (unsigned)(i * 100 + off / sizeof(piece)));
			cr_assert_eq(slot_file_read(env.s, a.ino, off, out, sizeof(out)),
				     (ssize_t)sizeof(out));
			cr_assert(memcmp(out, piece, sizeof(out)) == 0,
				  "%s differs at %llu", name, (unsigned long long)off);
		}
	}
}

/* Small appends cost about one slot write per chunk, not one per append. */
Test(file, small_appends_do_not_rewrite_chunks)
{
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "appends");
	char piece[4096];
	uint64_t before = t_status(env.s).io.bytes_written;
	for (int i = 0; i < 512; i++) {
		t_fill(piece, sizeof(piece), (unsigned)i);
		cr_assert_eq(slot_file_write(env.s, f, (uint64_t)i * 4096, piece, 4096), 4096);
	}
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	uint64_t written = t_status(env.s).io.bytes_written - before;
	/* 2 MiB of data: allow headers and a checkpoint, not 512 rewrites */
	cr_expect_lt(written, 8u << 20, "%llu bytes written for 2 MiB",
		     (unsigned long long)written);
	char out[4096];
	for (int i = 0; i < 512; i += 37) {
		t_fill(piece, sizeof(piece), (unsigned)i);
		cr_assert_eq(slot_file_read(env.s, f, (uint64_t)i * 4096, out, 4096), 4096);
		cr_assert(memcmp(out, piece, 4096) == 0);
	}
}

/*
 * A stream of 128 KiB reads, as the kernel's read-ahead sends them, reads
 * each chunk from the device once: the read-ahead and the reads never
 * fetch the same chunk twice, and the bytes come back right.
 */
enum { PIECE = 128 << 10 };

/* A file of size bytes of pattern seed, made durable, and the store
 * closed: nothing of it is cached when the caller reopens. */
static slot_ino_t mkstream(const char *name, size_t size, unsigned seed,
			   char **ref)
{
	*ref = malloc(size);
	cr_assert_not_null(*ref);
	t_fill(*ref, size, seed);
	slot_ino_t f = mkfile(SLOT_ROOT_INO, name);
	cr_assert_eq(slot_file_write(env.s, f, 0, *ref, size), (ssize_t)size);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_eq(slot_close(env.s), 0);
	return f;
}

/*
 * Small writes at random into chunks already on the device (a database
 * file, fio randwrite) cost about one slot write per chunk, not one per
 * write: a buffer filled from the device is full, but not streamed.
 */
Test(file, small_random_rewrites_do_not_rewrite_chunks)
{
	enum { NCHUNK = 4, NWRITE = 256 };
	char *ref;
	size_t size = NCHUNK << 20;
	slot_ino_t f = mkstream("rewrites", size, 19, &ref);
	t_reopen(&env);
	char piece[4096];
	uint64_t before = t_status(env.s).io.bytes_written;
	uint32_t x = 12345;
	for (int i = 0; i < NWRITE; i++) {
		x = x * 1103515245u + 12345u;
		uint64_t off = (uint64_t)(x >> 8) % (size / 4096) * 4096;
		t_fill(piece, sizeof(piece), 1000u + (unsigned)i);
		cr_assert_eq(slot_file_write(env.s, f, off, piece, 4096), 4096);
		memcpy(ref + off, piece, 4096);
	}
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	uint64_t written = t_status(env.s).io.bytes_written - before;
	/* 4 chunks: allow headers and a checkpoint, not 256 rewrites */
	cr_expect_lt(written, 8u << 20, "%llu bytes written for %d writes of "
		     "4 KiB", (unsigned long long)written, NWRITE);
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	char *out = malloc(size);
	cr_assert_not_null(out);
	cr_assert_eq(slot_file_read(env.s, f, 0, out, size), (ssize_t)size);
	cr_expect(!memcmp(out, ref, size));
	free(out);
	free(ref);
}

Test(file, streaming_read_reads_each_chunk_once)
{
	enum { NCHUNK = 24 };
	size_t size = (size_t)NCHUNK << 20;
	char *ref, *out = malloc(PIECE);
	cr_assert_not_null(out);
	slot_ino_t f = mkstream("stream", size, 11, &ref);
	t_reopen(&env);

	struct slot_dev_stats a, b;
	slot_dev_get_stats(env.dev, &a);
	for (size_t off = 0; off < size; off += PIECE) {
		cr_assert_eq(slot_file_read(env.s, f, off, out, PIECE), PIECE);
		cr_assert(memcmp(out, ref + off, PIECE) == 0, "bytes at %zu",
			  off);
	}
	slot_dev_get_stats(env.dev, &b);
	uint64_t slot = (1u << 20) + 4096;      /* a chunk and its header */
	/* one chunk of slack: a fresh-clone CI run on a loaded machine once
	 * read one chunk twice; reading each twice, the fault this test is
	 * for, is 24 over */
	cr_expect_leq(b.bytes_read - a.bytes_read, (NCHUNK + 1) * slot,
		      "%" PRIu64 " bytes read for %d chunks of %" PRIu64,
		      b.bytes_read - a.bytes_read, NCHUNK, slot);
	/* a read-ahead job that comes after its stream passed the chunk
	 * (its flusher thread late, on a loaded machine: a unit run once
	 * read 44 chunks here) reads nothing; the cache let chunk 0 go */
	usleep(100 * 1000);     /* the jobs queued are done */
	slot_dev_get_stats(env.dev, &a);
	for (uint32_t idx = 0; idx < 4; idx++)
		sl_file_prefetch(env.s, f, idx);
	slot_dev_get_stats(env.dev, &b);
	cr_expect_eq(b.bytes_read, a.bytes_read,
		     "%" PRIu64 " bytes read by late read-ahead jobs",
		     b.bytes_read - a.bytes_read);
	free(ref);
	free(out);
}

/* Device bytes and requests spent from the reopened store until it is
 * closed (its read-ahead finished: close drains the flushers). */
static struct slot_dev_stats t_spent_until_close(const struct slot_dev_stats *a)
{
	struct slot_dev_stats b;
	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	slot_dev_get_stats(env.dev, &b);
	b.bytes_read -= a->bytes_read;
	b.submitted -= a->submitted;
	return b;
}

/* Wait until the flusher threads have nothing queued or running. */
static void wait_flushers_idle(struct slot_store *s)
{
	for (;;) {
		pthread_mutex_lock(&s->fq_lock);
		bool idle = !s->fq_len && !s->fq_busy;
		pthread_mutex_unlock(&s->fq_lock);
		if (idle)
			return;
		usleep(1000);
	}
}

/*
 * Make a 12 MiB file, reopen the store (nothing cached), read 4 KiB at
 * each of offs[0..n), check the bytes, and return the bytes the device
 * read until the store closed (read-ahead included).
 */
static uint64_t t_bytes_for_4k_reads(const char *name, unsigned seed,
				     const size_t *offs, size_t n)
{
	char *ref, out[4096];
	slot_ino_t f = mkstream(name, 12u << 20, seed, &ref);
	t_reopen(&env);
	struct slot_dev_stats a;
	slot_dev_get_stats(env.dev, &a);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(slot_file_read(env.s, f, offs[i], out, sizeof(out)),
			     (ssize_t)sizeof(out));
		cr_assert(memcmp(out, ref + offs[i], sizeof(out)) == 0,
			  "bytes at %zu", offs[i]);
	}
	struct slot_dev_stats b = t_spent_until_close(&a);
	t_reopen(&env);
	free(ref);
	return b.bytes_read;
}

/*
 * A small read that happens to start a chunk is not a stream: random 4 KiB
 * reads fetch 4 KiB each, not the three chunks after theirs as well.
 */
Test(file, random_small_reads_at_chunk_starts_read_no_ahead)
{
	static const size_t offs[] = { 1u << 20, 5u << 20, 9u << 20, 3u << 20 };
	uint64_t bytes = t_bytes_for_4k_reads("random", 13, offs, 4);
	cr_expect_leq(bytes, 4 * 4096,
		      "%" PRIu64 " bytes read for 4 reads of 4 KiB", bytes);
}

/*
 * A random small read that happens to start where another ended is not a
 * stream yet (at depth 32 over 1 GiB that happens a few times a second):
 * two such reads fetch 8 KiB, not the chunks after theirs as well.
 */
Test(file, one_small_read_after_another_is_not_yet_a_stream)
{
	static const size_t offs[] = { (5u << 20) + 40960,
				       (5u << 20) + 40960 + 4096 };
	uint64_t bytes = t_bytes_for_4k_reads("pair", 15, offs, 2);
	cr_expect_leq(bytes, 2 * 4096,
		      "%" PRIu64 " bytes read for 2 reads of 4 KiB", bytes);
}

/*
 * Small reads that go on where the last one ended are a stream, wherever
 * it starts: past its first chunk, whole chunks are fetched ahead and the
 * reads find them in memory (dd iflag=direct bs=4k skip=N).
 */
Test(file, small_sequential_reads_mid_file_read_ahead)
{
	enum { NCHUNK = 8, FIRST = 2, READ = 4 };
	char *ref, out[4096];
	slot_ino_t f = mkstream("seq4k", (size_t)NCHUNK << 20, 14, &ref);
	t_reopen(&env);
	struct slot_dev_stats a;
	slot_dev_get_stats(env.dev, &a);
	size_t from = ((size_t)FIRST << 20) + 8192;
	size_t to = (size_t)(FIRST + READ) << 20;
	for (size_t off = from; off < to; off += sizeof(out)) {
		cr_assert_eq(slot_file_read(env.s, f, off, out, sizeof(out)),
			     (ssize_t)sizeof(out));
		cr_assert(memcmp(out, ref + off, sizeof(out)) == 0,
			  "bytes at %zu", off);
		/* the third read made it a stream: let the read-ahead land,
		 * or on a loaded machine the reads overtake it */
		if (off == from + 2 * sizeof(out))
			wait_flushers_idle(env.s);
	}
	struct slot_dev_stats b = t_spent_until_close(&a);
	/* the first chunk read 4 KiB at a time (254 requests); the three
	 * after it one request each, plus the chunks fetched past the end */
	size_t reads = (to - from) / sizeof(out);
	cr_expect_lt(b.submitted, 254 + reads / 4,
		     "%" PRIu64 " requests for %zu reads of 4 KiB",
		     b.submitted, reads);
	t_reopen(&env);
	free(ref);
}

/* Kilobytes of huge pages backing the mapping that holds p, from smaps. */
static long t_huge_kb(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	cr_assert_not_null(f);
	char line[512];
	bool in = false;
	long kb = -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/*
 * A buffer for a slot of the largest class (1 MiB and its header) lies in
 * huge pages where the kernel has them, crossing at most one huge-page
 * boundary: in 4 KiB pages it is 257 memory segments, more than a virtio
 * disk takes in one request, and each slot read became two requests.
 */
Test(file, big_buffers_lie_in_huge_pages)
{
	FILE *thp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char mode[128] = "";
	if (thp) {
		if (!fgets(mode, sizeof(mode), thp))
			mode[0] = 0;
		fclose(thp);
	}
	size_t ps = env.s->sb.block_size + ((size_t)1 << env.s->sb.chunk_shift);
	enum { N = 80 };        /* more than the arenas hold: the rest are
				   malloc'd, and each goes back its way */
	void *b[N];
	long huge = 0;
	for (int i = 0; i < N; i++) {
		b[i] = sl_buf_get(env.s, ps);
		cr_assert_not_null(b[i]);
		cr_assert_eq((uintptr_t)b[i] % 4096, 0, "O_DIRECT alignment");
		uintptr_t first = (uintptr_t)b[i] >> 21;
		uintptr_t last = ((uintptr_t)b[i] + ps - 1) >> 21;
		cr_expect_leq(last - first, 1, "buffer %d crosses %lu huge pages",
			      i, (unsigned long)(last - first + 1));
		memset(b[i], i, ps);
	}
	for (int i = 0; i < N; i++) {
		long kb = t_huge_kb(b[i]);
		if (kb > huge)
			huge = kb;
	}
	for (int i = 0; i < N; i++)
		sl_buf_put(env.s, b[i]);
	/* all of them again: the arenas' buffers come back for reuse */
	for (int i = 0; i < N; i++) {
		b[i] = sl_buf_get(env.s, ps);
		cr_assert_not_null(b[i]);
		memset(b[i], ~i, ps);
	}
	for (int i = 0; i < N; i++)
		sl_buf_put(env.s, b[i]);
	if (!strstr(mode, "[never]"))
		cr_expect_gt(huge, 0, "no huge pages under the buffers (THP: %s)",
			     mode);
}

/* A chunk that fails its checksum fails every read of it, whether the
 * read-ahead or a read found it first; no reader waits forever on it. */
Test(file, streaming_read_of_a_bad_chunk_fails_and_goes_on)
{
	size_t size = 6u << 20;
	char *ref, *out = malloc(PIECE);
	cr_assert_not_null(out);
	slot_ino_t f = mkstream("bad", size, 12, &ref);
	/* flip a payload byte of chunk 2 */
	uint8_t *img = slot_emu_image(env.emu);
	uint64_t isz = slot_emu_size(env.emu);
	int hit = 0;
	for (uint64_t off = 0; off + 8192 <= isz; off += 4096) {
		uint32_t idx;
		memcpy(&idx, img + off + 0x30, 4);
		if (!memcmp(img + off, "SLOTHDR1", 8) &&
		    !memcmp(img + off + 0x80, "bad", 4) && idx == 2) {
			img[off + 4096 + 70000] ^= 1;
			hit++;
		}
	}
	cr_assert_eq(hit, 1);
	t_reopen(&env);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t off = 0; off < size; off += PIECE) {
			ssize_t r = slot_file_read(env.s, f, off, out, PIECE);
			if (off >> 20 == 2) {
				cr_expect_eq(r, -EIO, "pass %d, offset %zu", pass, off);
				continue;
			}
			cr_expect_eq(r, PIECE, "pass %d, offset %zu", pass, off);
			cr_expect(r != PIECE || !memcmp(out, ref + off, PIECE));
		}
	}
	free(ref);
	free(out);
}

/* slot_file_read_iov's segments, joined into buf. */
struct t_join {
	char *buf;
	size_t cap, len;
	int calls;
	const char *ref;        /* checked against after an eviction run */
	slot_ino_t evict;       /* file read whole inside fn, or 0 */
	size_t evict_size;
};

static int t_join(void *arg, const struct iovec *iov, int n)
{
	struct t_join *j = arg;
	j->calls++;
	if (j->evict) {
		/* every read claims cache entries: without pins, the ones
		 * handed out here are evicted and their buffers reused */
		char *tmp = malloc(1u << 20);
		cr_assert_not_null(tmp);
		for (size_t off = 1u << 20; off < j->evict_size; off += 1u << 20)
			cr_assert_eq(slot_file_read(env.s, j->evict, off, tmp,
						    1u << 20), 1 << 20);
		free(tmp);
	}
	for (int i = 0; i < n; i++) {
		cr_assert_leq(j->len + iov[i].iov_len, j->cap);
		memcpy(j->buf + j->len, iov[i].iov_base, iov[i].iov_len);
		j->len += iov[i].iov_len;
	}
	return 7;       /* handed back as it is */
}

/*
 * What slot_file_read_iov hands out, joined, is what slot_file_read
 * copies: chunks from the device and from the cache, write-buffered
 * bytes, zeros for holes and chunk tails; fn runs exactly once when the
 * read succeeds, never when it fails.
 */
Test(file, read_iov_hands_out_what_read_copies)
{
	size_t size = (8u << 20) + 5010;
	char *ref, *a = malloc(size + 4096), *b = malloc(size + 4096);
	cr_assert(a && b);
	slot_ino_t f = mkstream("iov", 5u << 20, 13, &ref);
	t_reopen(&env);
	ref = realloc(ref, size);
	cr_assert_not_null(ref);
	memset(ref + (5u << 20), 0, size - (5u << 20));
	/* chunk 7: small, on the device; chunk 8: small, buffered; chunk
	 * 2: a few bytes written over, buffered with the rest of it */
	char w[5000];
	t_fill(w, sizeof(w), 14);
	cr_assert_eq(slot_file_write(env.s, f, (7u << 20) + 100, w, 3000), 3000);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_eq(slot_file_write(env.s, f, (8u << 20) + 10, w, 5000), 5000);
	cr_assert_eq(slot_file_write(env.s, f, (2u << 20) + 5, w, 10), 10);
	memcpy(ref + (7u << 20) + 100, w, 3000);
	memcpy(ref + (8u << 20) + 10, w, 5000);
	memcpy(ref + (2u << 20) + 5, w, 10);

	struct { uint64_t off; size_t len; } r[] = {
		{ 0, size }, { (1u << 20) - 100, 300 }, { 2u << 20, 1u << 20 },
		{ (3u << 20) + 4096, 128u << 10 }, { (5u << 20) - 10, 3u << 20 },
		{ size - 5, 100 }, { size, 10 }, { size + 100, 10 },
	};
	for (int pass = 0; pass < 2; pass++)
		for (unsigned i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
			size_t want = r[i].off >= size ? 0 :
				      size - r[i].off < r[i].len ?
				      size - r[i].off : r[i].len;
			struct t_join j = { .buf = a, .cap = size };
			cr_assert_eq(slot_file_read_iov(env.s, f, r[i].off,
							r[i].len, t_join, &j), 7);
			cr_expect_eq(j.calls, 1);
			cr_expect_eq(j.len, want, "pass %d, read %u: %zu bytes",
				     pass, i, j.len);
			cr_assert_eq(slot_file_read(env.s, f, r[i].off, b,
						    r[i].len), (ssize_t)want);
			cr_expect(!memcmp(a, b, want) &&
				  !memcmp(a, ref + r[i].off, want),
				  "pass %d, read %u", pass, i);
		}
	struct t_join j = { .buf = a, .cap = size };
	cr_expect_eq(slot_file_read_iov(env.s, 9999, 0, 10, t_join, &j),
		     -ENOENT);
	cr_expect_eq(j.calls, 0);
	free(ref);
	free(a);
	free(b);
}

/* The sparse write buffers' counts, under the lock. */
static void t_sparse(uint32_t *bufs, uint32_t *blocks)
{
	sl_lock(env.s);
	*bufs = env.s->wbs_count;
	*blocks = env.s->wbs_blocks;
	sl_unlock(env.s);
}

/* f's bytes are ref's: read whole, in ranges across chunk and block
 * bounds, and handed out (slot_file_read_iov, no copy of its own). */
static void t_expect_file(slot_ino_t f, const char *ref, size_t size,
			  const char *when)
{
	char *out = malloc(size + 4096);
	cr_assert_not_null(out);
	cr_assert_eq(slot_file_read(env.s, f, 0, out, size + 4096),
		     (ssize_t)size, "%s: size", when);
	cr_expect(!memcmp(out, ref, size), "%s: a whole read", when);
	uint32_t x = 777;
	for (int i = 0; i < 64; i++) {
		x = x * 1103515245u + 12345u;
		uint64_t off = (x >> 4) % size;
		size_t len = SL_MIN((size_t)(x % 300000) + 1, size - off);
		cr_assert_eq(slot_file_read(env.s, f, off, out, len),
			     (ssize_t)len);
		cr_expect(!memcmp(out, ref + off, len), "%s: %zu bytes at %llu",
			  when, len, (unsigned long long)off);
	}
	struct t_join j = { .buf = out, .cap = size + 4096 };
	cr_assert_eq(slot_file_read_iov(env.s, f, 0, size, t_join, &j), 7);
	cr_expect(j.len == size && !memcmp(out, ref, size),
		  "%s: handed out", when);
	free(out);
}

/* A fresh store of bytes in place of the suite's. */
static void t_store_of(uint64_t bytes)
{
	t_teardown(&env);
	t_setup(&env, bytes);
}

/* len bytes of src at off of f, and of ref. */
static void t_write_ref(slot_ino_t f, char *ref, uint64_t off,
			const void *src, size_t len)
{
	cr_assert_eq(slot_file_write(env.s, f, off, src, len), (ssize_t)len);
	memcpy(ref + off, src, len);
}

/* A crash, and f's bytes are ref's after it. */
static void t_crash_expect(slot_ino_t f, const char *ref, size_t size,
			   const char *when)
{
	slot_abandon(env.s);
	t_reopen(&env);
	t_expect_file(f, ref, size, when);
}

/*
 * Small writes over chunks on the device gather in sparse buffers: the
 * blocks written, or the part of a block written, with no device read.
 * Reads put those bytes over the chunk's bytes on the device; a write
 * past the chunk's old end needs nothing read either; a write to a part
 * of a block apart from the part held sends the buffer out first.
 * fsync writes each chunk once, and it all survives a crash.
 */
Test(file, small_writes_gather_in_sparse_buffers)
{
	enum { NCHUNK = 6, NWRITE = 300 };
	size_t chunk = 1u << 20, old = NCHUNK * chunk + 5000;
	size_t size = NCHUNK * chunk + 8192 + 150;
	char *ref;
	slot_ino_t f = mkstream("sparse", old, 31, &ref);
	t_reopen(&env);
	ref = realloc(ref, size);
	cr_assert_not_null(ref);
	memset(ref + old, 0, size - old);
	bool wrote[NCHUNK * 256] = { false };
	char piece[4096];
	struct slot_dev_stats a, b;
	slot_dev_get_stats(env.dev, &a);
	uint32_t x = 4242;
	for (int i = 0; i < NWRITE; i++) {
		x = x * 1103515245u + 12345u;
		uint32_t k = (x >> 8) % (NCHUNK * 256);
		t_fill(piece, sizeof(piece), 2000u + (unsigned)i);
		cr_assert_eq(slot_file_write(env.s, f, (uint64_t)k * 4096,
					     piece, 4096), 4096);
		memcpy(ref + (size_t)k * 4096, piece, 4096);
		wrote[k] = true;
	}
	/* the last chunk holds 5000 bytes: a whole block across its end,
	 * and part of one past it */
	uint64_t tail = NCHUNK * chunk;
	t_fill(piece, sizeof(piece), 3000);
	cr_assert_eq(slot_file_write(env.s, f, tail + 4096, piece, 4096), 4096);
	memcpy(ref + tail + 4096, piece, 4096);
	cr_assert_eq(slot_file_write(env.s, f, tail + 8192 + 50, piece, 100),
		     100);
	memcpy(ref + tail + 8192 + 50, piece, 100);
	/* part of its first block: every block below its end is held now,
	 * one of them in part, so its write-out still reads the old bytes */
	cr_assert_eq(slot_file_write(env.s, f, tail + 100, piece + 7, 20), 20);
	memcpy(ref + tail + 100, piece + 7, 20);
	slot_dev_get_stats(env.dev, &b);
	cr_expect_eq(b.bytes_read - a.bytes_read, 0, "the writes read %" PRIu64
		     " bytes", b.bytes_read - a.bytes_read);
	uint32_t bufs, blocks;
	t_sparse(&bufs, &blocks);
	cr_expect_eq(bufs, NCHUNK + 1, "%u sparse buffers", bufs);
	t_expect_file(f, ref, size, "buffered");
	char blk[4096];
	cr_assert_eq(slot_file_read(env.s, f, tail, blk, 4096), 4096);
	cr_expect(!memcmp(blk, ref + tail, 4096), "a block held in part");

	/* parts of a block below the old end that no buffer holds: kept
	 * as they are, the rest of the block still the device's */
	uint32_t k = 0;
	while (k < 256 && wrote[2 * 256 + k])
		k++;
	cr_assert_lt(k, 256);
	uint64_t at = 2 * chunk + (uint64_t)k * 4096;
	slot_dev_get_stats(env.dev, &a);
	cr_assert_eq(slot_file_write(env.s, f, at + 7, "partial", 7), 7);
	cr_assert_eq(slot_file_write(env.s, f, at + 14, "ly", 2), 2);
	memcpy(ref + at + 7, "partially", 9);
	slot_dev_get_stats(env.dev, &b);
	cr_expect_eq(b.bytes_read - a.bytes_read, 0, "parts of a block read "
		     "%" PRIu64 " bytes", b.bytes_read - a.bytes_read);
	t_sparse(&bufs, &blocks);
	cr_expect_eq(bufs, NCHUNK + 1, "%u sparse buffers", bufs);
	t_expect_file(f, ref, size, "parts of a block");
	/* a part apart from those: the buffer goes out first */
	cr_assert_eq(slot_file_write(env.s, f, at + 100, "apart", 5), 5);
	memcpy(ref + at + 100, "apart", 5);
	t_expect_file(f, ref, size, "a part apart");

	uint64_t before = t_status(env.s).io.bytes_written;
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	uint64_t written = t_status(env.s).io.bytes_written - before;
	cr_expect_lt(written, (NCHUNK + 3) * (chunk + 4096), "%llu bytes "
		     "written by fsync", (unsigned long long)written);
	/* all out but the last one made, whose 5 bytes the journal took
	 * (fsync_puts_small_writes_in_the_journal) */
	t_sparse(&bufs, &blocks);
	cr_expect(bufs == 1 && blocks == 1, "%u sparse buffers of %u blocks "
		  "after fsync", bufs, blocks);
	t_expect_file(f, ref, size, "written out");
	slot_abandon(env.s);
	t_reopen(&env);
	t_expect_file(f, ref, size, "after a crash");
	free(ref);
}

/*
 * fsync puts the blocks of a few small writes over chunks on the device
 * in the journal (WRITE records), not a rewrite of each chunk (1 MiB
 * read and written for a few bytes); the buffers stay and go out later.
 * A checkpoint meanwhile keeps the journal slots they need; a crash
 * brings the bytes back, and the open puts them in their chunks.
 */
Test(file, fsync_puts_small_writes_in_the_journal)
{
	enum { NCHUNK = 4, NWRITE = 8, ROUNDS = 4 };
	size_t chunk = 1u << 20, size = NCHUNK * chunk;
	char *ref;
	slot_ino_t f = mkstream("jdata", size, 51, &ref);
	t_reopen(&env);
	char piece[4096];
	uint32_t x = 5150, bufs, blocks;
	for (int round = 0; round < ROUNDS; round++) {
		for (int i = 0; i < NWRITE; i++) {
			x = x * 1103515245u + 12345u;
			size_t len = (x >> 3) % 4096 + 1;
			uint64_t off = (x >> 9) % (size - len);
			t_fill(piece, sizeof(piece), 100u * (unsigned)round +
						     (unsigned)i);
			t_write_ref(f, ref, off, piece, len);
		}
		uint64_t before = t_status(env.s).io.bytes_written;
		uint64_t jw = atomic_load(&env.s->jnl_writes);
		cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
		uint64_t written = t_status(env.s).io.bytes_written - before;
		cr_expect_lt(written, chunk / 2, "round %d: fsync wrote %llu "
			     "bytes", round, (unsigned long long)written);
		cr_expect_gt(atomic_load(&env.s->jnl_writes), jw,
			     "round %d: no journal slot", round);
		/* a checkpoint does not hold the buffers' bytes */
		if (round % 2)
			cr_assert_geq(slot_checkpoint(env.s, true), 0);
	}
	t_sparse(&bufs, &blocks);
	cr_expect_gt(bufs, 0, "the buffers went out");
	t_expect_file(f, ref, size, "journaled");
	struct slot_attr st, got;
	cr_assert_eq(slot_ns_getattr(env.s, f, &st), 0);
	t_crash_expect(f, ref, size, "after a crash");
	cr_assert_eq(slot_ns_getattr(env.s, f, &got), 0);
	cr_expect(got.mtime.tv_sec == st.mtime.tv_sec &&
		  got.mtime.tv_nsec == st.mtime.tv_nsec, "mtime after a crash");
	/* in the chunks now: a crash right after the open loses nothing */
	t_crash_expect(f, ref, size, "after a second crash");
	free(ref);
}

/* A crash; then f reads as ref (size bytes) on a read-only open, which
 * writes nothing to the device, and on a read-write open after it. */
static void t_crash_ro_rw(slot_ino_t f, const char *ref, size_t size)
{
	slot_abandon(env.s);
	size_t isz = (size_t)slot_emu_size(env.emu);
	uint8_t *img = malloc(isz);
	cr_assert_not_null(img);
	memcpy(img, slot_emu_image(env.emu), isz);
	env.opts.read_only = true;
	t_reopen(&env);
	t_expect_file(f, ref, size, "read-only, after a crash");
	cr_expect_eq(slot_close(env.s), 0);
	cr_expect(memcmp(img, slot_emu_image(env.emu), isz) == 0,
		  "the read-only open wrote to the device");
	free(img);
	env.opts.read_only = false;
	t_reopen(&env);
	t_expect_file(f, ref, size, "read-write, after the read-only open");
}

/*
 * A read-only open after a crash cannot write the journal's WRITE records
 * into their chunks: it holds their bytes in buffers, so the file reads
 * as the fsyncs left it, and writes nothing to the device.  A read-write
 * open then writes them into the chunks.
 */
Test(file, read_only_open_holds_journaled_writes)
{
	size_t chunk = 1u << 20, size = 3 * chunk;
	char *ref;
	slot_ino_t f = mkstream("jro", size, 61, &ref);
	t_reopen(&env);
	uint64_t jw = atomic_load(&env.s->jnl_writes);
	char piece[4096];
	uint32_t x = 6161;
	for (int i = 0; i < 16; i++) {
		x = x * 1103515245u + 12345u;
		size_t len = (x >> 3) % 4096 + 1;
		/* half of them over the first block: a page's records grow */
		uint64_t off = i % 2 ? (x >> 9) % (size - len) : (x >> 9) % 64;
		if (i % 2 == 0)
			len = SL_MIN(len, 4096 - off);
		t_fill(piece, sizeof(piece), (unsigned)i);
		t_write_ref(f, ref, off, piece, len);
		if (i % 4 == 3)
			cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	}
	cr_assert_geq(atomic_load(&env.s->jnl_writes), jw + 4,
		      "the fsyncs did not go to the journal");
	t_crash_ro_rw(f, ref, size);
	free(ref);
}

/*
 * fsync of appends to a file, a log's or a database's write-ahead log,
 * puts them in the journal too (WRITE records with EXTEND, format 1.12),
 * with the size they give the file: not a rewrite of the chunk, a few
 * KiB written for each; nor does the close after each.  A crash brings bytes and size back, over a
 * checkpoint that kept the slots; a read-only open holds them, writing
 * nothing; a read-write open then puts them in the chunk.
 */
Test(file, fsync_puts_appends_in_the_journal)
{
	enum { ROUNDS = 24 };
	size_t chunk = 1u << 20, old = chunk / 2 + 1000, size = old;
	char *ref = malloc(chunk);
	cr_assert_not_null(ref);
	t_fill(ref, chunk, 71);
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "wal");
	cr_assert_eq(slot_file_write(env.s, f, 0, ref, old), (ssize_t)old);
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	char piece[4096];
	uint32_t x = 7171;
	int rewrites = 0;
	for (int round = 0; round < ROUNDS; round++) {
		x = x * 1103515245u + 12345u;
		size_t len = round % 3 ? (x >> 3) % 4096 + 1 : 4096;
		t_fill(piece, sizeof(piece), (unsigned)round);
		uint64_t before = t_status(env.s).io.bytes_written;
		cr_assert_eq(slot_ns_hold(env.s, f), 0);        /* open */
		t_write_ref(f, ref, size, piece, len);
		size += len;
		cr_assert_eq(slot_file_fsync(env.s, f, true), 0);
		/* and close, which leaves what the journal holds */
		cr_assert_eq(slot_ns_release(env.s, f), 0);
		wait_flushers_idle(env.s);
		/* the journal keeps slots for a buffer so long (its span,
		 * 7 here in a store of 128 MiB): then it goes out */
		rewrites += t_status(env.s).io.bytes_written - before >= old;
		if (round == ROUNDS / 2)
			cr_assert_geq(slot_checkpoint(env.s, true), 0);
	}
	cr_expect_leq(rewrites, ROUNDS / 4, "%d fsyncs of %d rewrote the "
		      "chunk", rewrites, ROUNDS);
	/* the last appends' size is theirs alone: no checkpoint has it
	 * (from a clean open, whose journal keeps no slot for a buffer) */
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	uint64_t ck = t_status(env.s).checkpoints;
	for (int i = 0; i < 2; i++) {
		t_fill(piece, sizeof(piece), 100u + (unsigned)i);
		t_write_ref(f, ref, size, piece, 1000);
		size += 1000;
		cr_assert_eq(slot_file_fsync(env.s, f, true), 0);
	}
	cr_expect_eq(t_status(env.s).checkpoints, ck, "a checkpoint came");
	t_expect_file(f, ref, size, "journaled");

	t_crash_ro_rw(f, ref, size);
	/* in the chunk now: a crash right after the open loses nothing */
	t_crash_expect(f, ref, size, "after a second crash");
	free(ref);
}

/*
 * The journal slots kept for WRITE records stay within twice the span
 * (sl_jnl_span): fsyncs past it send the buffers the journal has held
 * longest out, and take a checkpoint that frees the slots; the journal
 * goes on taking the writes.
 */
Test(file, journal_slots_kept_for_data_stay_bounded)
{
	/* a span of about 30 slots: room for the flushers to lag */
	enum { ROUNDS = 200 };
	t_store_of(512ull << 20);
	size_t size = 6u << 20;
	char *ref;
	slot_ino_t f = mkstream("jspan", size, 81, &ref);
	t_reopen(&env);
	size_t span = sl_jnl_span(env.s), most = 0;
	uint64_t jw = atomic_load(&env.s->jnl_writes);
	uint64_t ck = env.s->ckpt_count;
	uint32_t x = 1234;
	char piece[512];
	for (int round = 0; round < ROUNDS; round++) {
		for (int i = 0; i < 4; i++) {
			x = x * 1103515245u + 12345u;
			uint64_t off = (x >> 6) % (size - sizeof(piece));
			t_fill(piece, sizeof(piece), (unsigned)(round * 4 + i));
			t_write_ref(f, ref, off, piece, sizeof(piece));
		}
		cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
		sl_lock(env.s);
		most = SL_MAX(most, env.s->jnl_slots.n / 2);
		sl_unlock(env.s);
	}
	uint64_t journaled = atomic_load(&env.s->jnl_writes) - jw;
	cr_expect_leq(most, 2 * span, "%zu journal slots in use (span %zu)",
		      most, span);
	cr_expect_geq(journaled, ROUNDS * 3 / 4, "%llu of %d fsyncs wrote "
		      "the journal", (unsigned long long)journaled, ROUNDS);
	cr_expect_gt(env.s->ckpt_count, ck, "no checkpoint freed the slots");
	t_crash_expect(f, ref, size, "after a crash");
	free(ref);
}

/*
 * An fsync whose journal write fails writes the buffers it logged out
 * instead: their bytes are durable all the same.
 */
Test(file, fsync_writes_buffers_out_when_the_journal_fails)
{
	size_t size = 2u << 20;
	char *ref;
	slot_ino_t f = mkstream("jfail", size, 71, &ref);
	t_reopen(&env);
	t_write_ref(f, ref, 3000, "first", 5);
	t_write_ref(f, ref, (1u << 20) + 70000, "second", 6);
	uint64_t jw = atomic_load(&env.s->jnl_writes);
	slot_emu_fail_write(env.emu, 1, -EIO);  /* the journal slot */
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_expect_eq(atomic_load(&env.s->jnl_writes), jw, "the journal wrote");
	uint32_t bufs, blocks;
	t_sparse(&bufs, &blocks);
	cr_expect_eq(bufs, 0, "%u buffers left after a failed journal", bufs);
	t_crash_expect(f, ref, size, "after a crash");
	free(ref);
}

/* slot_file_fsync in a thread of its own. */
struct t_bg_fsync {
	slot_ino_t ino;
	int res;
	atomic_bool done;
	pthread_t t;
};

static void *t_bg_fsync_run(void *arg)
{
	struct t_bg_fsync *y = arg;
	y->res = slot_file_fsync(env.s, y->ino, false);
	atomic_store(&y->done, true);
	return NULL;
}

/*
 * An fsync that finds a block logged by another fsync still on its way
 * counts on that record; when its journal write fails, the fsync does not
 * return before the block is on the device some other way (the other
 * fsync's write-out of the buffer, held here till the test gives up
 * waiting).  A crash the moment it returns keeps the block.  Whether
 * the first fsync's write-out or the second's return comes first depends
 * on the threads (the second may wait on a lock the write-out holds,
 * then return after it): some rounds.
 */
Test(file, fsync_waits_for_blocks_another_fsync_failed_to_journal)
{
	enum { ROUNDS = 4 };
	size_t size = 2u << 20;
	char *ref;
	slot_ino_t f = mkstream("jlost", size, 91, &ref);
	t_reopen(&env);
	size_t isz = (size_t)slot_emu_size(env.emu);
	uint8_t *img = malloc(isz);
	cr_assert_not_null(img);
	for (int round = 0; round < ROUNDS; round++) {
		char piece[16];
		t_fill(piece, sizeof(piece), 500u + (unsigned)round);
		t_write_ref(f, ref, 5000 + 100 * (uint64_t)round, piece,
			    sizeof(piece));
		/* C's fsync logs it; its journal write waits, then fails */
		slot_emu_hold_write(env.emu, 1);
		slot_emu_fail_write(env.emu, 1, -EIO);
		struct t_bg_fsync c = { .ino = f }, a = { .ino = f };
		cr_assert_eq(pthread_create(&c.t, NULL, t_bg_fsync_run, &c), 0);
		slot_emu_wait_held(env.emu);
		/* A's finds nothing left to log, and waits for the journal */
		cr_assert_eq(pthread_create(&a.t, NULL, t_bg_fsync_run, &a), 0);
		usleep(100 * 1000);
		/* then C's write-out of the buffer, which reads the chunk:
		 * held */
		slot_emu_hold_read(env.emu, 1);
		slot_emu_release(env.emu);
		for (int i = 0; i < 30 && !atomic_load(&a.done); i++)
			usleep(10 * 1000);
		/* the device as A's return left it */
		bool returned = atomic_load(&a.done);
		if (returned)
			memcpy(img, slot_emu_image(env.emu), isz);
		slot_emu_hold_read(env.emu, 0);
		slot_emu_release(env.emu);
		pthread_join(a.t, NULL);
		pthread_join(c.t, NULL);
		cr_expect_eq(c.res, 0, "C's fsync (its buffer went out instead)");
		cr_expect_eq(a.res, 0, "A's fsync");
		if (!returned)
			continue;
		slot_abandon(env.s);
		memcpy(slot_emu_image(env.emu), img, isz);
		t_reopen(&env);
		t_expect_file(f, ref, size, "after a crash as A's fsync returned");
	}
	t_crash_expect(f, ref, size, "after a crash once both returned");
	free(img);
	free(ref);
}

/*
 * A chunk the journal's WRITE records go over is not copied from under
 * their buffer (compaction, a shrink): the copy, of a newer gen, would
 * make replay pass them by, and lose them at a crash.  A copy that
 * takes no lock leaves it for later; one that does writes the buffer
 * out first.
 */
Test(file, copies_leave_journaled_chunks_to_their_buffer)
{
	size_t size = 2u << 20;
	char *ref;
	slot_ino_t f = mkstream("jcopy", size, 61, &ref);
	t_reopen(&env);
	t_write_ref(f, ref, 1000, "journaled", 9);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	uint32_t bufs, blocks;
	t_sparse(&bufs, &blocks);
	cr_assert_eq(bufs, 1, "the journal did not take the write");
	sl_lock(env.s);
	struct sl_chunk c0 = *sl_obj_chunk(sl_obj_find(&env.s->ix, f), 0);
	sl_unlock(env.s);
	uint32_t copied = 1;
	cr_expect_eq(sl_file_move_chunk(env.s, f, 0, sl_slot_region(c0.slot),
					&copied), -EBUSY);
	cr_expect_eq(copied, 0);
	cr_expect_eq(sl_file_move_chunks(env.s, f, 0), 0);
	t_sparse(&bufs, &blocks);
	cr_expect_eq(bufs, 0, "the buffer stayed under a copy");
	t_crash_expect(f, ref, size, "after a crash");
	free(ref);
}

/*
 * Sparse buffers hold SL_WBS_BYTES at most: past three quarters of it
 * the fullest go to the flushers, each a chunk's rewrite for all of its
 * blocks, so that small writes over more than that neither go through
 * one by one, each a chunk's rewrite, nor wait for the device.
 */
Test(file, sparse_buffers_keep_their_bound)
{
	/* more blocks than the bound, and room for a slot set aside for
	 * each chunk */
	enum { NCHUNK = 48 };
	t_store_of(512ull << 20);
	uint32_t bs = env.s->sb.block_size;
	uint32_t hard = SL_WBS_BYTES / bs, nwrite = 2 * hard;
	size_t size = (size_t)NCHUNK << 20;
	char *ref;
	slot_ino_t f = mkstream("bound", size, 41, &ref);
	t_reopen(&env);
	char piece[4096];
	uint64_t w0 = slot_emu_writes(env.emu);
	uint32_t x = 99, most = 0, bufs, blocks;
	for (uint32_t i = 0; i < nwrite; i++) {
		x = x * 1103515245u + 12345u;
		uint64_t off = (uint64_t)((x >> 8) % (size / 4096)) * 4096;
		t_fill(piece, sizeof(piece), i);
		cr_assert_eq(slot_file_write(env.s, f, off, piece, 4096), 4096);
		memcpy(ref + off, piece, 4096);
		t_sparse(&bufs, &blocks);
		most = SL_MAX(most, blocks);
	}
	uint64_t writes = slot_emu_writes(env.emu) - w0;
	/* the flushers keep them under it: at it, a writer would write
	 * out its own chunk, however few blocks it held */
	cr_expect_lt(most, hard, "%u blocks held", most);
	/* a write through is a device write each: the flushers' write-outs
	 * take hundreds of blocks each */
	cr_expect_lt(writes, nwrite / 20, "%llu device writes for %u small "
		     "writes", (unsigned long long)writes, nwrite);
	t_expect_file(f, ref, size, "buffered");
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	t_expect_file(f, ref, size, "after a clean close");
	free(ref);
}

/*
 * A chunk handed out stays put while fn runs, however many other reads
 * go through the chunk cache meanwhile: fresh from the device (pinned as
 * the cache takes it) and served from the cache (pinned there).
 */
Test(file, read_iov_segments_stay_while_fn_reads_on)
{
	size_t size = 24u << 20;
	char *ref, *a = malloc(1u << 20);
	cr_assert_not_null(a);
	slot_ino_t f = mkstream("pin", size, 15, &ref);
	t_reopen(&env);
	for (int cached = 0; cached < 2; cached++) {
		if (cached)
			cr_assert_eq(slot_file_read(env.s, f, 0, a, 1u << 20),
				     1 << 20);
		struct t_join j = { .buf = a, .cap = 1u << 20, .evict = f,
				    .evict_size = size };
		memset(a, 0, 1u << 20);
		cr_assert_eq(slot_file_read_iov(env.s, f, 0, 1u << 20, t_join,
						&j), 7);
		cr_expect_eq(j.len, 1u << 20);
		cr_expect(!memcmp(a, ref, 1u << 20), "chunk 0, %s",
			  cached ? "from the cache" : "from the device");
	}
	free(ref);
	free(a);
}

/* A device over the emulator that counts read calls and their requests. */
struct t_counting {
	struct slot_dev dev;
	struct slot_dev *under;
	unsigned calls;
	size_t most;            /* most requests in one call */
};

static int t_counting_read(void *ctx, struct slot_io *ios, size_t n)
{
	struct t_counting *c = ctx;
	c->calls++;
	c->most = n > c->most ? n : c->most;
	return c->under->ops->read(c->under->ctx, ios, n);
}

static int t_counting_write(void *ctx, struct slot_io *ios, size_t n)
{
	struct t_counting *c = ctx;
	return c->under->ops->write(c->under->ctx, ios, n);
}

static int t_counting_flush(void *ctx)
{
	struct t_counting *c = ctx;
	return c->under->ops->flush(c->under->ctx);
}

static void t_counting_close(void *ctx) { (void)ctx; }

static const struct slot_dev_ops t_counting_ops = {
	.read = t_counting_read, .write = t_counting_write,
	.flush = t_counting_flush, .close = t_counting_close,
};

/* Reopen env's store over a counting device. */
static void t_reopen_counting(struct t_counting *c)
{
	*c = (struct t_counting){ .dev = *env.dev, .under = env.dev };
	c->dev.ops = &t_counting_ops;
	c->dev.ctx = c;
	cr_assert_eq(slot_open_dev(&c->dev, &env.opts, &env.s), 0);
}

/*
 * slot_file_read_many hands each read what slot_file_read_iov would: from
 * the device, the cache and the write buffers, zeros past a chunk's end,
 * nothing at or past the end of the file, an error for a missing file.
 * Two reads of the same whole chunk in one batch both get it: the second
 * must not wait for a cache load the batch itself has yet to send.
 */
Test(file, read_many_hands_out_what_read_copies)
{
	size_t size = 5u << 20;
	char *ref;
	slot_ino_t f = mkstream("many", size, 16, &ref);
	t_reopen(&env);
	char w[3000];
	t_fill(w, sizeof(w), 17);
	cr_assert_eq(slot_file_write(env.s, f, (3u << 20) + 50, w, 3000), 3000);
	memcpy(ref + (3u << 20) + 50, w, 3000);
	slot_ino_t g = mkfile(SLOT_ROOT_INO, "tiny");
	cr_assert_eq(slot_file_write(env.s, g, 0, w, 100), 100);
	struct { slot_ino_t ino; uint64_t off; size_t len; } r[] = {
		{ f, 2u << 20, 1u << 20 }, { f, 2u << 20, 1u << 20 },
		{ f, (1u << 20) + 8192, 4096 }, { f, 4096 * 7 + 5, 5000 },
		{ f, (3u << 20) + 4096 * 3, 8192 }, { f, (4u << 20) - 10, 20 },
		{ f, size - 100, 4096 }, { f, size, 4096 }, { g, 0, 4096 },
		{ 9999, 0, 10 },
	};
	enum { N = sizeof(r) / sizeof(r[0]) };
	struct t_join j[N];
	struct slot_read rs[N];
	char *bufs = malloc((size_t)N << 20), *b = malloc(1u << 20);
	cr_assert(bufs && b);
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < N; i++) {
			j[i] = (struct t_join){ .buf = bufs + ((size_t)i << 20),
						.cap = 1u << 20 };
			rs[i] = (struct slot_read){ .ino = r[i].ino,
				.off = r[i].off, .len = r[i].len, .fn = t_join,
				.arg = &j[i], .result = 12345 };
		}
		cr_assert_eq(slot_file_read_many(env.s, rs, N), 0);
		for (unsigned i = 0; i < N; i++) {
			ssize_t want = slot_file_read(env.s, r[i].ino, r[i].off,
						      b, r[i].len);
			if (r[i].ino == 9999) {
				cr_expect_eq(rs[i].result, -ENOENT);
				cr_expect_eq(j[i].calls, 0);
				continue;
			}
			cr_assert_geq(want, 0);
			cr_expect_eq(rs[i].result, 7, "pass %d, read %u", pass, i);
			cr_expect_eq(j[i].calls, 1, "pass %d, read %u", pass, i);
			cr_expect_eq(j[i].len, (size_t)want, "pass %d, read %u: "
				     "%zu bytes, not %zd", pass, i, j[i].len, want);
			cr_expect(!memcmp(j[i].buf, b, (size_t)want),
				  "pass %d, read %u", pass, i);
			if (r[i].ino == f)
				cr_expect(!memcmp(j[i].buf, ref + r[i].off,
						  (size_t)want),
					  "pass %d, read %u", pass, i);
		}
	}
	free(bufs);
	free(b);
	free(ref);
}

/*
 * The reads of a batch go to the device in one call, and a request the
 * device fails fails only the read it belongs to.
 */
Test(file, read_many_sends_one_batch_and_fails_only_the_failed_read)
{
	char *ref;
	slot_ino_t f = mkstream("batch", 8u << 20, 18, &ref);
	static struct t_counting c;     /* the store uses it until teardown */
	t_reopen_counting(&c);
	enum { N = 6 };
	static const uint64_t offs[N] = {
		(5u << 20) + 8192, (1u << 20) + 40960, 12288,
		(7u << 20) + 4096, (3u << 20) + 20480, (6u << 20) + 65536,
	};
	char out[N][4096];
	struct t_join j[N];
	struct slot_read rs[N];
	for (int pass = 0; pass < 2; pass++) {
		/* the second pass fails the device's third request */
		if (pass)
			slot_emu_fail_read(env.emu, 3, -EIO);
		c.calls = 0;
		c.most = 0;
		for (unsigned i = 0; i < N; i++) {
			j[i] = (struct t_join){ .buf = out[i], .cap = 4096 };
			rs[i] = (struct slot_read){ .ino = f, .off = offs[i],
				.len = 4096, .fn = t_join, .arg = &j[i] };
		}
		cr_assert_eq(slot_file_read_many(env.s, rs, N), 0);
		cr_expect_eq(c.calls, 1, "%u device reads", c.calls);
		cr_expect_eq(c.most, N, "%zu requests in one read", c.most);
		for (unsigned i = 0; i < N; i++) {
			if (pass && i == 2) {
				cr_expect_eq(rs[i].result, -EIO);
				cr_expect_eq(j[i].calls, 0);
				continue;
			}
			cr_expect_eq(rs[i].result, 7, "pass %d, read %u: %d",
				     pass, i, rs[i].result);
			cr_expect(j[i].len == 4096 &&
				  !memcmp(out[i], ref + offs[i], 4096),
				  "pass %d, read %u", pass, i);
		}
	}
	free(ref);
}

/*
 * A rewrite of two chunks that the device failed half of is undone in
 * memory, but the half that landed carries a newer slot header than the
 * checkpoint: the file now owes the checkpoint its state, so sync (whose
 * walk finds it) or fsync of the file must write one, or a crash replays
 * the half.  Writing another header of the file would not do.
 */
static void half_failed_rewrite(bool fsync)
{
	size_t chunk = 1u << 20;
	char *old = malloc(2 * chunk), *new = malloc(2 * chunk);
	char *out = malloc(2 * chunk);
	cr_assert(old && new && out);
	t_fill(old, 2 * chunk, 18);
	t_fill(new, 2 * chunk, 19);
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "half");
	uint64_t at = 40 * (uint64_t)chunk;
	cr_assert_eq(slot_file_write(env.s, f, at, old, 2 * chunk),
		     (ssize_t)(2 * chunk));
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_eq(slot_sync(env.s), 0);      /* nothing owed now */

	/* a few bytes in each of 32 chunks: the file's buffers are all
	 * taken, so the next write goes to the device as one batch */
	for (uint64_t i = 0; i < 32; i++)
		cr_assert_eq(slot_file_write(env.s, f, i * chunk, "x", 1), 1);
	slot_emu_fail_write(env.emu, 2, -EIO);
	cr_assert_eq(slot_file_write(env.s, f, at, new, 2 * chunk), -EIO);
	cr_assert_eq(slot_file_read(env.s, f, at, out, 2 * chunk),
		     (ssize_t)(2 * chunk));
	cr_assert(!memcmp(out, old, 2 * chunk), "undone in memory");
	if (fsync)
		cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	else
		cr_assert_eq(slot_sync(env.s), 0);

	slot_abandon(env.s);
	t_reopen(&env);
	cr_assert_eq(slot_file_read(env.s, f, at, out, 2 * chunk),
		     (ssize_t)(2 * chunk));
	cr_expect(!memcmp(out, old, chunk), "chunk 40 replayed");
	cr_expect(!memcmp(out + chunk, old + chunk, chunk), "chunk 41 replayed");
	free(old);
	free(new);
	free(out);
}

Test(file, sync_after_a_half_failed_rewrite_keeps_it_undone)
{
	half_failed_rewrite(false);
}

Test(file, fsync_after_a_half_failed_rewrite_keeps_it_undone)
{
	half_failed_rewrite(true);
}

/*
 * A write whose bytes partly landed reports how many, as write(2) does,
 * instead of an error that hides a change: here the first half chunk
 * goes to chunk 31's buffer and the whole chunk after it, with no full
 * buffer left for the file (a sparse one takes no whole chunk), to the
 * device, which fails.  The bytes land in file order, so the count says
 * exactly what the file holds.
 */
Test(file, failed_write_after_buffered_bytes_is_short)
{
	size_t chunk = 1u << 20, len = chunk + chunk / 2;
	char *data = malloc(len), *out = malloc(len);
	cr_assert(data && out);
	t_fill(data, len, 23);
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "short");
	/* a byte in each of 32 chunks: the file's buffers are all taken */
	for (uint64_t i = 0; i < 32; i++)
		cr_assert_eq(slot_file_write(env.s, f, i * chunk, "x", 1), 1);
	uint64_t at = 31 * (uint64_t)chunk + chunk / 2;
	slot_emu_fail_writes(env.emu, -EIO);
	cr_expect_eq(slot_file_write(env.s, f, at, data, len),
		     (ssize_t)(chunk / 2));
	slot_emu_fail_writes(env.emu, 0);
	struct slot_attr a;
	cr_assert_eq(slot_ns_getattr(env.s, f, &a), 0);
	cr_expect_eq(a.size, 32 * (uint64_t)chunk, "size %llu",
		     (unsigned long long)a.size);
	cr_assert_eq(slot_file_read(env.s, f, at, out, len),
		     (ssize_t)(chunk / 2));
	cr_expect(!memcmp(out, data, chunk / 2));
	/* the rest, again, now that the device works */
	cr_expect_eq(slot_file_write(env.s, f, at + chunk / 2,
				     data + chunk / 2, chunk), (ssize_t)chunk);
	cr_assert_eq(slot_file_read(env.s, f, at, out, len), (ssize_t)len);
	cr_expect(!memcmp(out, data, len));
	free(data);
	free(out);
}

/*
 * A file closed and unlinked while the write-out of its buffer is at the
 * device dies when that write-out ends.  The buffer's reserved slot was
 * given up by the write-out, and may be another file's chunk by then: the
 * dying buffer must not give it up a second time.  (Found by nsx through
 * the mount: a chunk of an open, unlinked file read back as EIO after its
 * slot was taken by a new file.)
 */
Test(file, write_out_that_outlives_its_file_frees_no_other_slot)
{
	size_t chunk = 1u << 20;
	char small[4096];
	char *b1 = malloc(chunk), *b2 = malloc(chunk), *out = malloc(chunk);
	cr_assert(b1 && b2 && out);
	t_fill(small, sizeof(small), 31);
	t_fill(b1, chunk, 32);
	t_fill(b2, chunk, 33);

	slot_ino_t a = mkfile(SLOT_ROOT_INO, "a");
	cr_assert_eq(slot_ns_hold(env.s, a), 0);
	cr_assert_eq(slot_file_write(env.s, a, 0, small, sizeof(small)), 4096);
	/* close: the write-out starts, and stops at the device */
	slot_emu_hold_write(env.emu, 1);
	cr_assert_eq(slot_ns_release(env.s, a), 0);
	slot_emu_wait_held(env.emu);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "a"), 0);

	/* meanwhile b's chunk goes to the slot a's buffer had reserved */
	slot_ino_t b = mkfile(SLOT_ROOT_INO, "b");
	cr_assert_eq(slot_file_write(env.s, b, 0, b1, chunk), (ssize_t)chunk);
	cr_assert_eq(sl_file_flush(env.s, b), 0);
	slot_emu_release(env.emu);
	wait_flushers_idle(env.s);

	/* c's chunk must find a slot of its own */
	slot_ino_t c = mkfile(SLOT_ROOT_INO, "c");
	cr_assert_eq(slot_file_write(env.s, c, 0, b2, chunk), (ssize_t)chunk);
	cr_assert_eq(sl_file_flush(env.s, c), 0);
	cr_expect_eq(slot_file_read(env.s, b, 0, out, chunk), (ssize_t)chunk);
	cr_expect(!memcmp(out, b1, chunk), "b's chunk was overwritten");
	cr_expect_eq(slot_file_read(env.s, c, 0, out, chunk), (ssize_t)chunk);
	cr_expect(!memcmp(out, b2, chunk), "c's chunk");
	free(b1);
	free(b2);
	free(out);
}

/*
 * A put of the whole object while the write-out of one of its file
 * buffers is at the device: the put is newer, so it stays, and the
 * buffer's bytes stay whole until the write-out is done with them.
 */
Test(file, put_during_a_write_out_wins_and_spares_its_buffer)
{
	size_t chunk = 1u << 20;
	char small[4096];
	char *p1 = malloc(chunk), *out = malloc(chunk);
	cr_assert(p1 && out);
	t_fill(small, sizeof(small), 34);
	t_fill(p1, chunk, 35);

	slot_ino_t f = mkfile(SLOT_ROOT_INO, "k");
	cr_assert_eq(slot_file_write(env.s, f, 0, small, sizeof(small)), 4096);
	slot_emu_hold_write(env.emu, 1);
	sl_file_flush_async(env.s, f);
	slot_emu_wait_held(env.emu);
	struct slot_put p = { .key = "k", .buf = p1, .len = chunk };
	cr_assert_eq(slot_put_many(env.s, &p, 1), 0);
	cr_assert_eq(p.result, 0);
	slot_emu_release(env.emu);
	wait_flushers_idle(env.s);

	struct slot_get g = { .key = "k", .buf = out, .cap = chunk };
	cr_assert_eq(slot_get_many(env.s, &g, 1), 0);
	cr_expect_eq(g.len, chunk);
	cr_expect(!memcmp(out, p1, chunk), "the put was undone by an older "
		  "write-out");
	free(p1);
	free(out);
}

/*
 * A store filled with big files, with small free slots left: new small
 * files, written piecemeal, still fit (a write buffer holds a slot of the
 * largest class while it is written, and none is left; the writes go
 * through to slots that fit instead), and what was there stays intact.
 */
Test(file, small_files_fit_in_a_store_full_of_big_ones, .timeout = 120)
{
	char name[32], piece[4096], out[4096];
	for (int i = 0; i < 64; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		slot_ino_t f = mkfile(SLOT_ROOT_INO, name);
		t_fill(piece, sizeof(piece), (unsigned)i);
		cr_assert_eq(slot_file_write(env.s, f, 0, piece, 4096), 4096);
		cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	}
	static char one[1 << 20];
	ssize_t r = 0;
	for (int big = 0; r >= 0; big++) {
		snprintf(name, sizeof(name), "big%d", big);
		slot_ino_t f = mkfile(SLOT_ROOT_INO, name);
		t_fill(one, sizeof(one), 500u + (unsigned)big);
		r = slot_file_write(env.s, f, 0, one, sizeof(one));
	}
	cr_assert_eq(r, -ENOSPC);
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, name), 0);
	}
	/* each: two appends of 2 KiB, then a rewrite inside; each write
	 * takes a new slot while the old one still holds the chunk, so the
	 * last freed slot is the spare */
	for (int i = 0; i < 7; i++) {
		snprintf(name, sizeof(name), "new%d", i);
		slot_ino_t f = mkfile(SLOT_ROOT_INO, name);
		t_fill(out, sizeof(out), 77u + (unsigned)i);
		cr_assert_eq(slot_file_write(env.s, f, 0, out, 2048), 2048,
			     "%s", name);
		cr_assert_eq(slot_file_write(env.s, f, 2048, out + 2048, 2048),
			     2048, "%s", name);
		cr_assert_eq(slot_file_write(env.s, f, 100, out + 100, 50), 50,
			     "%s", name);
		cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	}
	slot_close(env.s);
	env.s = NULL;
	t_reopen(&env);
	struct slot_attr a;
	static char back[4096];
	for (int i = 0; i < 7; i++) {
		snprintf(name, sizeof(name), "new%d", i);
		cr_assert_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, name, &a), 0);
		t_fill(out, sizeof(out), 77u + (unsigned)i);
		cr_assert_eq(slot_file_read(env.s, a.ino, 0, back, 4096), 4096);
		cr_assert(memcmp(back, out, 4096) == 0, "%s", name);
	}
	for (int i = 8; i < 64; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		cr_assert_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, name, &a), 0);
		t_fill(piece, sizeof(piece), (unsigned)i);
		cr_assert_eq(slot_file_read(env.s, a.ino, 0, back, 4096), 4096);
		cr_assert(memcmp(back, piece, 4096) == 0, "%s", name);
	}
}

/* ------------------------------------------------------------------ */
/* Closed small files go out together                                 */

#define T_CLOSED 8

/* Make T_CLOSED files of 4 KiB (fill seed base + i), each written and
 * closed (slot_ns_release) one after another, as cp of a tree does. */
static void t_close_small_files(slot_ino_t *ino, unsigned base)
{
	char name[16], buf[4096];
	for (unsigned i = 0; i < T_CLOSED; i++) {
		snprintf(name, sizeof(name), "c%u.%u", base, i);
		ino[i] = mkfile(SLOT_ROOT_INO, name);
		t_fill(buf, sizeof(buf), base + i);
		cr_assert_eq(slot_ns_hold(env.s, ino[i]), 0);
		cr_assert_eq(slot_file_write(env.s, ino[i], 0, buf, sizeof(buf)),
			     (ssize_t)sizeof(buf));
		cr_assert_eq(slot_ns_release(env.s, ino[i]), 0);
	}
}

/* A round of the same first: the writes then find regions of the slot
 * sizes they need carved, and the device sees only the write-outs. */
static void t_warm_regions(void)
{
	slot_ino_t ino[T_CLOSED];
	t_close_small_files(ino, 1);
	wait_flushers_idle(env.s);
}

static unsigned t_files_flushing(const slot_ino_t *ino)
{
	unsigned n = 0;
	sl_lock(env.s);
	for (unsigned i = 0; i < T_CLOSED; i++) {
		struct sl_obj *o = sl_obj_find(&env.s->ix, ino[i]);
		n += o && o->wb && o->wb->flushing;
	}
	sl_unlock(env.s);
	return n;
}

static void t_expect_files(const slot_ino_t *ino, unsigned base)
{
	char want[4096], got[4096];
	for (unsigned i = 0; i < T_CLOSED; i++) {
		t_fill(want, sizeof(want), base + i);
		cr_expect_eq(slot_file_read(env.s, ino[i], 0, got, sizeof(got)),
			     (ssize_t)sizeof(got), "file %u", i);
		cr_expect(!memcmp(want, got, sizeof(got)), "file %u", i);
	}
}

/*
 * One write-out per closed file cost a flusher's wake-up, a submission
 * and a wait each.  Files closed together go out in one batch: with the
 * device held at the first write, more files are in flight at once than
 * there are flushers (all 8 as a rule); one at a time, no more than the
 * flushers (4) could be.
 */
Test(file, closed_small_files_go_out_together)
{
	slot_ino_t ino[T_CLOSED];
	t_warm_regions();
	slot_emu_hold_write(env.emu, 1);
	t_close_small_files(ino, 600);
	slot_emu_wait_held(env.emu);
	/* a slow machine may split them into more batches, each waiting
	 * for company a moment: give those time to reach the device */
	unsigned n = 0;
	for (int i = 0; i < 400 && (n = t_files_flushing(ino)) < T_CLOSED; i++)
		usleep(5000);
	cr_expect_gt(n, SL_ARRAY_SIZE(env.s->flushers),
		     "closed files in flight together: %u", n);
	slot_emu_release(env.emu);
	wait_flushers_idle(env.s);
	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	t_reopen(&env);
	t_expect_files(ino, 600);
}

/* A batch the device fails in part goes out again file by file: one bad
 * write must not leave the batch's good files with an error to report.
 * (At most one file may keep it: on a slow machine the failed write can
 * be a lone write-out, which keeps its error for fsync as before.) */
Test(file, batch_with_a_failed_write_goes_out_file_by_file)
{
	slot_ino_t ino[T_CLOSED];
	unsigned bad = 0;
	t_warm_regions();
	slot_emu_fail_write(env.emu, 2, -EIO);
	t_close_small_files(ino, 700);
	wait_flushers_idle(env.s);
	for (unsigned i = 0; i < T_CLOSED; i++) {
		sl_lock(env.s);
		struct sl_obj *o = sl_obj_find(&env.s->ix, ino[i]);
		bool left = o->wb != NULL, err = o->wb_err != 0;
		sl_unlock(env.s);
		if (left || err)
			cr_log_info("file %u: buffer %s, error %s", i,
				    left ? "left" : "written",
				    err ? "kept" : "none");
		bad += left || err;
	}
	cr_expect_leq(bad, 1, "%u files kept an error or their buffer", bad);
	t_expect_files(ino, 700);
}

/* ... and a device that fails them all fails each file's fsync; the
 * bytes stay readable from the buffers. */
Test(file, failed_batch_reports_to_each_file)
{
	slot_ino_t ino[T_CLOSED];
	t_warm_regions();
	slot_emu_fail_writes(env.emu, -EIO);
	t_close_small_files(ino, 800);
	wait_flushers_idle(env.s);
	for (unsigned i = 0; i < T_CLOSED; i++)
		cr_expect_eq(slot_file_fsync(env.s, ino[i], true), -EIO,
			     "file %u", i);
	t_expect_files(ino, 800);
}

/*
 * A close that only queues its write-out is served in place by the front
 * end; when the flushers' queue is full it writes out itself, so it
 * waits.  The queue is filled with write-outs of one file while no
 * flusher takes them (nflushers set by hand; none runs), then the
 * flushers start and clear it.
 */
Test(file, release_waits_when_the_flush_queue_is_full)
{
	slot_ino_t a = mkfile(SLOT_ROOT_INO, "a"), b = mkfile(SLOT_ROOT_INO, "b");
	char data[4096];
	t_fill(data, sizeof(data), 7);
	cr_assert_eq(slot_ns_hold(env.s, a), 0);
	cr_assert_eq(slot_ns_hold(env.s, b), 0);
	cr_assert_eq(slot_file_write(env.s, a, 0, data, 4096), 4096);
	cr_assert_eq(slot_file_write(env.s, b, 0, data, 4096), 4096);
	sl_flushers_stop(env.s);
	env.s->nflushers = 1;           /* flushers "run" but take nothing */
	env.s->fq_stop = false;
	size_t cap = SL_ARRAY_SIZE(env.s->fq);
	for (size_t i = 0; i < cap - 1; i++)
		sl_file_flush_async(env.s, a);
	cr_expect(!slot_ns_release_waits(env.s, b), "one place left");
	sl_file_flush_async(env.s, a);
	cr_expect_eq(env.s->fq_len, cap);
	cr_expect(slot_ns_release_waits(env.s, b), "the queue is full");
	env.s->nflushers = 0;
	cr_assert_eq(sl_flushers_start(env.s), 0);
	cr_assert_eq(slot_ns_release(env.s, a), 0);
	cr_assert_eq(slot_ns_release(env.s, b), 0);
	cr_assert_eq(slot_sync(env.s), 0);
	char got[4096];
	cr_expect_eq(slot_file_read(env.s, b, 0, got, sizeof(got)), 4096);
	cr_expect(!memcmp(got, data, sizeof(got)));
	cr_expect_eq(slot_file_read(env.s, a, 0, got, sizeof(got)), 4096);
	cr_expect(!memcmp(got, data, sizeof(got)));
}

Test(file, write_and_release_say_when_they_wait)
{
	size_t chunk = 1u << env.s->sb.chunk_shift;
	char *buf = calloc(1, chunk);
	cr_assert(buf);
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "w");
	cr_expect(!slot_file_write_waits(env.s, f, 0, 4096), "a new file");
	cr_expect(slot_file_write_waits(env.s, f, 0, chunk), "a whole chunk");
	cr_expect(slot_file_write_waits(env.s, f, chunk - 10, 20),
		  "across chunks");
	cr_assert_eq(slot_ns_hold(env.s, f), 0);
	cr_assert_eq(slot_file_write(env.s, f, 0, buf, 4096), 4096);
	cr_expect(!slot_file_write_waits(env.s, f, 4096, 4096),
		  "into its buffer");
	cr_expect(slot_file_write_waits(env.s, f, 4096, chunk - 4096),
		  "filling the buffer");
	cr_expect(!slot_ns_release_waits(env.s, f), "a close that queues");
	sl_flushers_stop(env.s);
	cr_expect(slot_ns_release_waits(env.s, f),
		  "no flushers: the close writes out itself");
	cr_assert_eq(sl_flushers_start(env.s), 0);
	cr_assert_eq(slot_file_fsync(env.s, f, true), 0);
	cr_expect(!slot_file_write_waits(env.s, f, 100, 10),
		  "over bytes on the device: a sparse buffer");
	t_sparse_full(true);
	cr_expect(slot_file_write_waits(env.s, f, 100, 10),
		  "over bytes on the device, no sparse buffer to be had");
	t_sparse_full(false);
	cr_expect(!slot_ns_release_waits(env.s, f), "nothing to write out");
	cr_assert_eq(slot_ns_release(env.s, f), 0);
	cr_expect(!slot_file_write_waits(env.s, 999999, 0, 10), "no file");
	free(buf);
}

/* A truncation that only drops whole chunks is memory; one that must
 * write the file's buffers out or rewrite the chunk it cuts waits. */
Test(file, truncate_says_when_it_waits)
{
	size_t chunk = 1u << env.s->sb.chunk_shift;
	char *buf = calloc(1, chunk);
	cr_assert(buf);
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "t");
	cr_assert_eq(slot_ns_hold(env.s, f), 0);
	cr_assert_eq(slot_file_write(env.s, f, 0, buf, 4096), 4096);
	cr_expect(slot_file_truncate_waits(env.s, f, 0), "a chunk buffered");
	cr_assert_eq(slot_file_write(env.s, f, chunk, buf, chunk),
		     (ssize_t)chunk);
	cr_assert_eq(slot_file_fsync(env.s, f, true), 0);
	/* the whole chunk's write-out was queued too: a flusher may still
	 * hold the file's stripe, finding nothing left to write */
	wait_flushers_idle(env.s);
	cr_expect(!slot_file_truncate_waits(env.s, f, 0), "to nothing");
	cr_expect(!slot_file_truncate_waits(env.s, f, chunk),
		  "the last chunk dropped whole");
	cr_expect(!slot_file_truncate_waits(env.s, f, 4096),
		  "at the end of the first chunk's bytes");
	cr_expect(!slot_file_truncate_waits(env.s, f, 3 * chunk), "growing");
	cr_expect(slot_file_truncate_waits(env.s, f, 100), "cutting a chunk");
	cr_expect(slot_file_truncate_waits(env.s, f, chunk + 10),
		  "cutting the last chunk");
	cr_expect(!slot_file_truncate_waits(env.s, 999999, 0), "no file");
	struct slot_attr in = { .size = chunk }, out;
	cr_assert_eq(slot_ns_setattr(env.s, f, &in, SLOT_SET_SIZE, &out), 0);
	cr_expect_eq(out.size, chunk);
	cr_expect(!slot_file_truncate_waits(env.s, f, 0), "after it");
	cr_assert_eq(slot_ns_release(env.s, f), 0);
	free(buf);
}

/* A file of 3 bytes, durable, and the store reopened with the periodic
 * thread at period_ms and the idle gate at quiet_ms. */
static slot_ino_t durable_3_bytes_then_periodic(unsigned period_ms,
						 unsigned quiet_ms)
{
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "f");
	cr_assert_eq(slot_file_write(env.s, f, 0, "abc", 3), 3);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_geq(slot_checkpoint(env.s, true), 0);
	slot_close(env.s);
	env.opts.periodic_checkpoint = true;
	env.opts.checkpoint_interval_ms = period_ms;
	env.opts.meta_idle_quiet_ms = quiet_ms;
	t_reopen(&env);
	return f;
}

/*
 * The periodic thread flushes the device so that extensions written out
 * can have their sizes recorded; an extension still buffered gains
 * nothing from a flush, so it costs none.
 */
Test(file, the_periodic_flush_waits_for_a_written_extension)
{
	slot_ino_t f = durable_3_bytes_then_periodic(20, 50);
	usleep(100 * 1000);     /* the open's own work settles */
	uint64_t ck = checkpoints();
	cr_assert_eq(slot_file_write(env.s, f, 3, "defg", 4), 4);
	/* the change is checkpointed (the gate opens after 50 ms quiet) */
	for (int i = 0; i < 100 && checkpoints() == ck; i++)
		usleep(10 * 1000);
	cr_assert_gt(checkpoints(), ck, "the size change was not checkpointed");
	usleep(40 * 1000);
	uint64_t flushes = slot_emu_flushes(env.emu);
	usleep(500 * 1000);     /* 25 periods, the buffer still held */
	cr_expect_eq(slot_emu_flushes(env.emu), flushes,
		     "flushed for an extension still buffered");
}

/*
 * An extension written out but not yet flushed: the periodic thread
 * flushes for it in its next period, though no checkpoint is written
 * (the idle gate never opens here; the deferral bound forces one only
 * after six periods of 100 ms).
 */
Test(file, the_periodic_flush_covers_a_written_extension)
{
	slot_ino_t f = durable_3_bytes_then_periodic(100, 600000);
	cr_assert_eq(slot_file_write(env.s, f, 3, "defg", 4), 4);
	cr_assert_eq(sl_file_flush(env.s, f), 0);     /* written, unflushed */
	uint64_t flushes = slot_emu_flushes(env.emu), ck = checkpoints();
	for (int i = 0; i < 1000 && slot_emu_flushes(env.emu) == flushes; i++)
		usleep(1000);
	uint64_t ck_then = checkpoints();
	cr_expect_gt(slot_emu_flushes(env.emu), flushes,
		     "no flush in 1 s for a written extension");
	cr_expect_eq(ck_then, ck, "the flush was a checkpoint's, not the "
		     "periodic one's");
	sl_lock(env.s);
	size_t left = env.s->ext_count;
	sl_unlock(env.s);
	cr_expect_eq(left, 0, "the flush left %zu extensions waiting", left);
}

/*
 * A flush with nothing written since the last one costs no device flush:
 * fsync of a file already down, a second sync, a directory's fsync with
 * no change.  Any write since costs one again, and its data is down.
 */
Test(file, a_flush_with_nothing_written_since_costs_none)
{
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "f");
	cr_assert_eq(slot_file_write(env.s, f, 0, "abc", 3), 3);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	uint64_t flushes = slot_emu_flushes(env.emu);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_eq(slot_file_fsync(env.s, f, true), 0);
	cr_assert_eq(slot_dir_fsync(env.s, SLOT_ROOT_INO), 0);
	cr_assert_eq(slot_sync(env.s), 0);
	cr_assert_eq(sl_flush(env.s), 0);
	cr_expect_eq(slot_emu_flushes(env.emu), flushes,
		     "%" PRIu64 " device flushes with nothing written",
		     slot_emu_flushes(env.emu) - flushes);

	cr_assert_eq(slot_file_write(env.s, f, 3, "d", 1), 1);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_expect_gt(slot_emu_flushes(env.emu), flushes,
		     "a write's fsync did not flush");
	slot_abandon(env.s);
	t_reopen(&env);
	struct slot_attr a;
	cr_assert_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "f", &a), 0);
	char out[8] = { 0 };
	cr_expect_eq(slot_file_read(env.s, a.ino, 0, out, sizeof(out)), 4);
	cr_expect_str_eq(out, "abcd");
}

static void ext_counts(size_t *count, size_t *written, bool *table)
{
	sl_lock(env.s);
	*count = env.s->ext_count;
	*written = 0;
	for (struct sl_ext *e = env.s->ext_written; e; e = e->wnext)
		(*written)++;
	*table = env.s->ext_tab != NULL;
	sl_unlock(env.s);
}

/*
 * A flush retires the extensions written before it began, from the list
 * of written ones, and leaves those still buffered; once none is left, a
 * burst's grown table goes, so that later flushes and the close do not
 * walk it.
 */
Test(file, a_flush_retires_the_written_extensions)
{
	enum { N = 600 };
	for (int i = 0; i < N; i++) {
		char name[16];
		snprintf(name, sizeof(name), "f%d", i);
		slot_ino_t f = mkfile(SLOT_ROOT_INO, name);
		cr_assert_eq(slot_file_write(env.s, f, 0, name, 10), 10);
		cr_assert_eq(sl_file_flush(env.s, f), 0);
	}
	slot_ino_t held = mkfile(SLOT_ROOT_INO, "held");
	cr_assert_eq(slot_file_write(env.s, held, 0, "abc", 3), 3);
	size_t count, written;
	bool table;
	ext_counts(&count, &written, &table);
	cr_assert_eq(count, N + 1);
	cr_assert_eq(written, N);
	cr_assert(sl_ext_due(env.s));

	cr_assert_eq(sl_ext_flush(env.s), 0);
	ext_counts(&count, &written, &table);
	cr_expect_eq(count, 1, "%zu extensions left, not the buffered one",
		     count);
	cr_expect_eq(written, 0);
	cr_expect_not(sl_ext_due(env.s), "due with only a buffered one");
	struct slot_attr a;
	cr_assert_eq(slot_ns_getattr(env.s, held, &a), 0);
	cr_expect_eq(a.size, 3);

	cr_assert_eq(sl_file_flush(env.s, held), 0);
	cr_expect(sl_ext_due(env.s));
	cr_assert_eq(sl_ext_flush(env.s), 0);
	ext_counts(&count, &written, &table);
	cr_expect_eq(count, 0);
	cr_expect_not(table, "the burst's table was kept");
	/* and a new extension after that finds a table */
	cr_assert_eq(slot_file_write(env.s, held, 3, "defg", 4), 4);
	cr_assert_eq(sl_file_flush(env.s, held), 0);
	ext_counts(&count, &written, &table);
	cr_expect_eq(count, 1);
	cr_expect_eq(written, 1);
}

struct rd_list {
	char names[16][16];
	uint64_t cookie;
	int n, stop;
};

static int rd_take(void *arg, const char *name, const struct slot_attr *a,
		   uint64_t cookie)
{
	struct rd_list *l = arg;
	(void)a;
	if (l->n < 16)
		snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
	l->n++;
	l->cookie = cookie;
	return l->n == l->stop;
}

/*
 * After a mass deletion the periodic thread gives the memory back: a
 * directory frees its dead entries and its array shrinks (the heap is
 * trimmed too, which a test cannot see).  A listing begun before goes on
 * from its cookie, skipping and repeating nothing.  files past
 * CK_TRIM_OBJS: the count of removals calls for it (and idleness for
 * what was removed after); fewer: the store's going idle does.
 */
static void t_mass_deletion(int files)
{
	durable_3_bytes_then_periodic(20, 50);
	struct slot_attr da;
	cr_assert_eq(slot_ns_mkdir(env.s, SLOT_ROOT_INO, "d", 0755, 0, 0, &da),
		     0);
	char nm[32];
	for (int i = 0; i < files; i++) {
		snprintf(nm, sizeof(nm), "f%d", i);
		mkfile(da.ino, nm);
	}
	struct rd_list l = { .stop = 3 };
	cr_assert_eq(slot_ns_readdir(env.s, da.ino, 0, rd_take, &l), 0);
	cr_assert_eq(l.n, 3);
	/* f0..f9 and every thousandth stay */
	char rest[16][16];
	uint32_t live = 10, nrest = 0;
	for (int i = 3; i < 10; i++)
		snprintf(rest[nrest++], sizeof(rest[0]), "f%d", i);
	for (int i = 10; i < files; i++) {
		snprintf(nm, sizeof(nm), "f%d", i);
		if (i % 1000)
			cr_assert_eq(slot_ns_unlink(env.s, da.ino, nm), 0);
		else {
			live++;
			snprintf(rest[nrest++], sizeof(rest[0]), "f%d", i);
		}
	}
	/* idleness is 2 s without I/O; a loaded machine takes longer */
	struct sl_dir *dir = NULL;
	uint32_t n = 0, cap = 0;
	for (int i = 0; i < 1500; i++) {
		sl_lock(env.s);
		dir = sl_obj_find(&env.s->ix, da.ino)->dir;
		n = dir->n;
		cap = dir->cap;
		sl_unlock(env.s);
		if (n == live)
			break;
		usleep(10 * 1000);
	}
	cr_expect_eq(n, live, "the directory keeps %u entries for %u names", n,
		     live);
	cr_expect_leq(cap, 2 * live, "its array holds %u", cap);
	struct rd_list r = { .stop = 100 };
	cr_assert_eq(slot_ns_readdir(env.s, da.ino, l.cookie, rd_take, &r), 0);
	cr_assert_eq(r.n, (int)nrest, "the listing went on with %d names",
		     r.n);
	for (uint32_t i = 0; i < nrest; i++)
		cr_expect_str_eq(r.names[i], rest[i]);
}

Test(file, a_mass_deletion_gives_the_directory_back)
{
	t_mass_deletion(5000);
}

Test(file, an_idle_store_gives_a_directory_back_what_a_deletion_left)
{
	t_mass_deletion(500);
}

static unsigned arenas(void)
{
	pthread_mutex_lock(&env.s->pool_lock);
	unsigned n = env.s->narenas;
	pthread_mutex_unlock(&env.s->pool_lock);
	return n;
}

/*
 * The pool's arenas of big buffers go back when every buffer of one is
 * back, not while one is out; then a write makes a new one.
 */
Test(file, the_buffer_pool_gives_back_arenas_with_no_buffer_out)
{
	static char mib[1 << 20];
	slot_ino_t f = mkfile(SLOT_ROOT_INO, "f");
	t_fill(mib, sizeof(mib), 7);
	cr_assert_eq(slot_file_write(env.s, f, 0, mib, sizeof(mib)),
		     (ssize_t)sizeof(mib));
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_gt(arenas(), 0, "a 1 MiB write took no arena buffer");
	void *out = sl_buf_get(env.s, sizeof(mib));
	cr_expect_eq(sl_buf_pool_shrink(env.s), 0,
		     "an arena went with a buffer out");
	cr_expect_gt(arenas(), 0);
	sl_buf_put(env.s, out);
	cr_expect_gt(sl_buf_pool_shrink(env.s), 0);
	cr_expect_eq(arenas(), 0);
	cr_expect_eq(env.s->npool, 0, "the free stack keeps freed buffers");
	t_fill(mib, sizeof(mib), 8);
	cr_assert_eq(slot_file_write(env.s, f, 0, mib, sizeof(mib)),
		     (ssize_t)sizeof(mib));
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_expect_gt(arenas(), 0);
	static char back[1 << 20];
	cr_assert_eq(slot_file_read(env.s, f, 0, back, sizeof(back)),
		     (ssize_t)sizeof(back));
	cr_expect_eq(memcmp(back, mib, sizeof(mib)), 0);
}

/* The sparse buffers' blocks kept for reuse, and blocks ever made. */
static void t_blocks(uint32_t *kept, uint64_t *made)
{
	pthread_mutex_lock(&env.s->pool_lock);
	*kept = env.s->nblk_free;
	*made = env.s->blk_made;
	pthread_mutex_unlock(&env.s->pool_lock);
}

/*
 * A sparse buffer's blocks, written out, wait for the next ones (any
 * thread's: glibc would keep each in the arena of the thread that made
 * it), and go back with the pool's arenas.
 */
Test(file, sparse_buffers_reuse_their_blocks)
{
	enum { NCHUNK = 4, NWRITE = 64 };
	char *ref;
	slot_ino_t f = mkstream("blocks", NCHUNK << 20, 23, &ref);
	free(ref);
	t_reopen(&env);
	char piece[4096];
	uint32_t kept, bufs, blocks;
	uint64_t before, after, made[3];
	for (int round = 0; round < 3; round++) {
		if (round == 2) {
			cr_expect_gt(sl_buf_pool_shrink(env.s), 0);
			t_blocks(&kept, &before);
			cr_expect_eq(kept, 0, "the shrink kept %u blocks", kept);
		}
		t_blocks(&kept, &before);
		for (int i = 0; i < NWRITE; i++) {
			t_fill(piece, sizeof(piece), (unsigned)(round * 100 + i));
			uint64_t at = (uint64_t)(i % NCHUNK) << 20 |
				      (uint64_t)(i / NCHUNK * 2 + round) << 12;
			cr_assert_eq(slot_file_write(env.s, f, at, piece, 4096),
				     4096);
		}
		t_blocks(&kept, &after);
		made[round] = after - before;
		t_sparse(&bufs, &blocks);
		cr_assert_eq(blocks, NWRITE, "round %d: %u blocks buffered",
			     round, blocks);
		cr_assert_eq(slot_sync(env.s), 0);      /* all written out */
		t_blocks(&kept, &after);
		t_sparse(&bufs, &blocks);
		cr_expect_eq(blocks, 0, "round %d: %u blocks held", round,
			     blocks);
		cr_expect_eq(kept, NWRITE, "round %d: %u blocks kept", round,
			     kept);
	}
	cr_expect_eq(made[0], NWRITE);
	cr_expect_eq(made[1], 0, "the second round made %" PRIu64 " blocks",
		     made[1]);
	cr_expect_eq(made[2], NWRITE, "after the shrink");
}

/* The periodic thread gives them back once the store is idle (2 s). */
Test(file, an_idle_store_gives_its_buffers_back, .timeout = 30)
{
	static char mib[1 << 20];
	slot_ino_t f = durable_3_bytes_then_periodic(100, 50);
	t_fill(mib, sizeof(mib), 9);
	cr_assert_eq(slot_file_write(env.s, f, 0, mib, sizeof(mib)),
		     (ssize_t)sizeof(mib));
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_gt(arenas(), 0);
	for (int i = 0; i < 100 && arenas(); i++)
		usleep(50 * 1000);
	cr_expect_eq(arenas(), 0, "idle 5 s, the store kept %u arenas",
		     arenas());
}
