// SPDX-License-Identifier: MIT
/*
 * fsx.c - random operations on one file, each checked against a copy kept
 * in memory, in the manner of the file system exerciser of xfstests.
 *
 * Writes, reads, truncates, size extensions, holes punched and ranges
 * zeroed (fallocate PUNCH_HOLE, ZERO_RANGE), ranges copied elsewhere in
 * the file (copy_file_range), reads and writes through
 * mmap and with O_DIRECT, fsyncs, reopens and SEEK_DATA / SEEK_HOLE, at
 * offsets drawn to land on and across chunk boundaries.  Every read is compared byte for byte and
 * the size after every operation.  On a mismatch it prints the operations
 * that led there and the first bytes that differ, and exits 1; the same
 * seed replays the same operations.
 *
 *   fsx [-N ops] [-S seed] [-l maxsize] [-o maxlen] [-D] [-M] [-s SAVE] FILE
 *   fsx -c SAVE FILE
 *
 *   -N ops      operations to run (1000)
 *   -S seed     seed of the operations and of the bytes written (1)
 *   -l maxsize  the file never grows past this (8 MiB)
 *   -o maxlen   most bytes one read or write moves (256 KiB; one in ten
 *               may move up to 4 times that)
 *   -C chunk    the boundary offsets are drawn around (1 MiB)
 *   -D          mix in O_DIRECT reads and writes (4 KiB aligned)
 *   -M          mix in reads and writes through a shared mapping
 *   -s SAVE     at the end, write the expected contents to SAVE
 *   -c SAVE     only compare FILE with SAVE (after a remount)
 *
 * FILE is created, or emptied first.  Exit: 0 all matched, 1 a mismatch
 * or a failed call, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FSX_ALIGN 4096u
#define FSX_LOG 20u     /* operations kept for the report */

enum fsx_op {
	OP_WRITE, OP_READ, OP_TRUNCATE, OP_EXTEND, OP_MAPREAD, OP_MAPWRITE,
	OP_DREAD, OP_DWRITE, OP_FSYNC, OP_REOPEN, OP_SEEK, OP_PUNCH, OP_ZERO,
	OP_COPY, OP_NOPS
};

static const char *const fsx_op_name[OP_NOPS] = {
	"write", "read", "truncate", "fallocate", "mapread", "mapwrite",
	"dread", "dwrite", "fsync", "reopen", "seek", "punch", "zero",
	"copy",
};

struct fsx_rec {
	unsigned long n;
	enum fsx_op op;
	uint64_t off, len, size_before;
	uint64_t to;            /* copy: where the range went */
};

struct fsx {
	const char *path;
	int fd, dfd;            /* buffered; O_DIRECT (-1 without -D) */
	uint8_t *good;          /* what the file must hold, zeros past size */
	uint8_t *tmp;           /* reads land here, FSX_ALIGN-aligned */
	uint64_t size, maxsize, maxlen, chunk;
	uint64_t rng, seed;
	bool direct, mapped;
	unsigned long n;        /* operations done */
	struct fsx_rec log[FSX_LOG];
};

static uint64_t fsx_rand(uint64_t *x)
{
	/* xorshift64*: enough for drawing offsets and filling buffers */
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545F4914F6CDD1Dull;
}

static uint64_t fsx_below(struct fsx *f, uint64_t n)
{
	return n ? fsx_rand(&f->rng) % n : 0;
}

static void fsx_report(const struct fsx *f)
{
	unsigned long first = f->n >= FSX_LOG ? f->n - FSX_LOG + 1 : 1;

	fprintf(stderr, "fsx: %s: seed %" PRIu64 "; the last operations:\n",
		f->path, f->seed);
	for (unsigned long i = first; i <= f->n; i++) {
		const struct fsx_rec *r = &f->log[i % FSX_LOG];

		fprintf(stderr, "  %6lu %-9s off 0x%" PRIx64 " len 0x%" PRIx64
			" (size was 0x%" PRIx64 ")", r->n,
			fsx_op_name[r->op], r->off, r->len, r->size_before);
		if (r->op == OP_COPY)
			fprintf(stderr, " to 0x%" PRIx64, r->to);
		fputc('\n', stderr);
	}
}

/* The operations that led here first, the failure last: a test log
 * shows the tail of what failed. */
static void fsx_fail(const struct fsx *f, const char *what)
{
	fsx_report(f);
	fprintf(stderr, "fsx: %s: operation %lu: %s\n", f->path, f->n, what);
	exit(1);
}

static void fsx_fail_errno(const struct fsx *f, const char *call)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "%s: %s", call, strerror(errno));
	fsx_fail(f, msg);
}

/* Compare n bytes read at off with what the file must hold there. */
static void fsx_compare(const struct fsx *f, const uint8_t *got,
			uint64_t off, uint64_t n)
{
	const uint8_t *want = f->good + off;
	char msg[256];
	uint64_t i;
	int m;

	if (!memcmp(got, want, n))
		return;
	for (i = 0; got[i] == want[i]; i++)
		;
	m = snprintf(msg, sizeof(msg), "%s of 0x%" PRIx64 " bytes at 0x%"
		     PRIx64 " differs from byte 0x%" PRIx64 "\n  want",
		     fsx_op_name[f->log[f->n % FSX_LOG].op], n, off, off + i);
	for (uint64_t k = i; k < i + 16 && k < n; k++)
		m += snprintf(msg + m, sizeof(msg) - (size_t)m, " %02x", want[k]);
	m += snprintf(msg + m, sizeof(msg) - (size_t)m, "\n  got ");
	for (uint64_t k = i; k < i + 16 && k < n; k++)
		m += snprintf(msg + m, sizeof(msg) - (size_t)m, " %02x", got[k]);
	fsx_fail(f, msg);
}

static void fsx_open(struct fsx *f, int extra)
{
	f->fd = open(f->path, O_RDWR | O_CREAT | extra, 0644);
	if (f->fd < 0)
		fsx_fail_errno(f, "open");
	f->dfd = -1;
	if (f->direct) {
		f->dfd = open(f->path, O_RDWR | O_DIRECT);
		if (f->dfd < 0)
			fsx_fail_errno(f, "open O_DIRECT");
	}
}

static void fsx_close(struct fsx *f)
{
	if (close(f->fd) < 0)
		fsx_fail_errno(f, "close");
	if (f->dfd >= 0 && close(f->dfd) < 0)
		fsx_fail_errno(f, "close O_DIRECT");
}

/* A new size: zeros past it in the copy, so a later extension reads
 * zeros there, as it must. */
static void fsx_resize(struct fsx *f, uint64_t size)
{
	if (size < f->size)
		memset(f->good + size, 0, f->size - size);
	f->size = size;
}

/* Fill buf with the bytes operation n writes. */
static void fsx_fill(const struct fsx *f, uint8_t *buf, uint64_t len)
{
	uint64_t x = (f->rng ^ (f->n * 0x9E3779B97F4A7C15ull)) | 1;
	uint64_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t v = fsx_rand(&x);

		memcpy(buf + i, &v, 8);
	}
	for (; i < len; i++)
		buf[i] = (uint8_t)fsx_rand(&x);
}

/* An offset that often lands on or near a chunk boundary or at the end
 * of the file, where the interesting cases live. */
static uint64_t fsx_offset(struct fsx *f, uint64_t limit)
{
	uint64_t off;

	switch (fsx_below(f, 4)) {
	case 0: {
		uint64_t b = fsx_below(f, f->maxsize / f->chunk + 1) * f->chunk;

		off = b + fsx_below(f, 2 * FSX_ALIGN + 1) - FSX_ALIGN;
		if (off > b + FSX_ALIGN)   /* wrapped below zero */
			off = b;
		break;
	}
	case 1:
		off = f->size + fsx_below(f, 2 * FSX_ALIGN) - FSX_ALIGN;
		if (off > f->size + FSX_ALIGN)
			off = 0;
		break;
	default:
		off = fsx_below(f, limit);
	}
	return off < limit ? off : limit ? limit - 1 : 0;
}

static uint64_t fsx_length(struct fsx *f)
{
	uint64_t max = fsx_below(f, 10) ? f->maxlen : 4 * f->maxlen;

	return 1 + fsx_below(f, max);
}

static void fsx_write(struct fsx *f, int fd, uint64_t off, uint64_t len)
{
	fsx_fill(f, f->tmp, len);
	ssize_t n = pwrite(fd, f->tmp, len, (off_t)off);
	if (n < 0)
		fsx_fail_errno(f, "pwrite");
	if ((uint64_t)n != len)
		fsx_fail(f, "short write");
	memcpy(f->good + off, f->tmp, len);
	if (off + len > f->size)
		f->size = off + len;
}

static void fsx_read(struct fsx *f, int fd, uint64_t off, uint64_t len)
{
	uint64_t want = off < f->size ? f->size - off : 0;
	ssize_t n = pread(fd, f->tmp, len, (off_t)off);

	if (want > len)
		want = len;
	if (n < 0)
		fsx_fail_errno(f, "pread");
	if ((uint64_t)n != want) {
		char msg[96];

		snprintf(msg, sizeof(msg), "read returned %zd, not %" PRIu64,
			 n, want);
		fsx_fail(f, msg);
	}
	fsx_compare(f, f->tmp, off, want);
}

/* A shared mapping of [off, off + len), which must lie inside the file. */
static void fsx_map(struct fsx *f, uint64_t off, uint64_t len, bool write)
{
	uint64_t pg = off & ~((uint64_t)FSX_ALIGN - 1);
	size_t mlen = (size_t)(off + len - pg);
	int prot = PROT_READ | (write ? PROT_WRITE : 0);
	uint8_t *p = mmap(NULL, mlen, prot, MAP_SHARED, f->fd, (off_t)pg);

	if (p == MAP_FAILED)
		fsx_fail_errno(f, "mmap");
	if (write) {
		fsx_fill(f, f->tmp, len);
		memcpy(p + (off - pg), f->tmp, len);
		memcpy(f->good + off, f->tmp, len);
		/* msync half the time; munmap alone must not lose it */
		if (fsx_below(f, 2) && msync(p, mlen, MS_SYNC) < 0)
			fsx_fail_errno(f, "msync");
	} else {
		fsx_compare(f, p + (off - pg), off, len);
	}
	if (munmap(p, mlen) < 0)
		fsx_fail_errno(f, "munmap");
}

static void fsx_check_size(struct fsx *f)
{
	struct stat st;

	if (fstat(f->fd, &st) < 0)
		fsx_fail_errno(f, "fstat");
	if ((uint64_t)st.st_size != f->size) {
		char msg[96];

		snprintf(msg, sizeof(msg), "size is %jd, not %" PRIu64,
			 (intmax_t)st.st_size, f->size);
		fsx_fail(f, msg);
	}
}

/* Bytes [a, b) of the file must all be zero (a hole, or zeros written). */
static void fsx_zeros(const struct fsx *f, uint64_t a, uint64_t b,
		      const char *what)
{
	for (uint64_t i = a; i < b; i++)
		if (f->good[i]) {
			char msg[160];
			snprintf(msg, sizeof(msg), "%s skipped data: byte "
				 "0x%" PRIx64 " is 0x%02x", what, i, f->good[i]);
			fsx_fail(f, msg);
		}
}

/*
 * SEEK_DATA and SEEK_HOLE from off may be coarse (data may be zeros) but
 * never wrong: no data before what SEEK_DATA finds, none where SEEK_HOLE
 * lands (up to the next block), ENXIO at or past the end.
 */
static void fsx_seek(struct fsx *f, uint64_t off)
{
	off_t d = lseek(f->fd, (off_t)off, SEEK_DATA);
	off_t h = lseek(f->fd, (off_t)off, SEEK_HOLE);
	if (off >= f->size) {
		if (d >= 0 || h >= 0)
			fsx_fail(f, "lseek past the end did not fail");
		return;
	}
	if (h < 0 || (d < 0 && errno != ENXIO))
		fsx_fail_errno(f, "lseek");
	if ((d >= 0 && ((uint64_t)d < off || (uint64_t)d >= f->size)) ||
	    (uint64_t)h < off || (uint64_t)h > f->size)
		fsx_fail(f, "lseek answered outside the file");
	fsx_zeros(f, off, d < 0 ? f->size : (uint64_t)d, "SEEK_DATA");
	uint64_t hb = ((uint64_t)h / FSX_ALIGN + 1) * FSX_ALIGN;
	fsx_zeros(f, (uint64_t)h, hb < f->size ? hb : f->size, "SEEK_HOLE");
}

/* copy_file_range from [off, off + len) to a place drawn apart from it
 * (the kernel refuses overlapping ranges of one file); the copy stops at
 * the file's end, as a read does. */
static void fsx_copy(struct fsx *f, uint64_t off, uint64_t len,
		     struct fsx_rec *r)
{
	uint64_t to = fsx_offset(f, f->maxsize);
	if (len > f->maxsize - to)
		len = f->maxsize - to;
	if (to < off + len && off < to + len)
		len = 0;        /* they overlap: nothing this time */
	r->to = to;
	r->len = len;
	loff_t in = (loff_t)off, out = (loff_t)to;
	ssize_t n = len ? copy_file_range(f->fd, &in, f->fd, &out, len, 0) : 0;
	if (n < 0)
		fsx_fail_errno(f, "copy_file_range");
	uint64_t want = off < f->size ? f->size - off : 0;
	if (want > len)
		want = len;
	if ((uint64_t)n != want) {
		char msg[128];
		snprintf(msg, sizeof(msg), "copy_file_range copied 0x%zx "
			 "bytes, not 0x%" PRIx64, n, want);
		fsx_fail(f, msg);
	}
	if (!n)
		return;
	if (to > f->size)
		memset(f->good + f->size, 0, to - f->size);
	memmove(f->good + to, f->good + off, (size_t)n);
	if (to + (uint64_t)n > f->size)
		f->size = to + (uint64_t)n;
}

static enum fsx_op fsx_pick(struct fsx *f)
{
	for (;;) {
		/* weights: mostly writes and reads */
		uint64_t r = fsx_below(f, 100);
		enum fsx_op op = r < 30 ? OP_WRITE : r < 49 ? OP_READ :
				 r < 52 ? OP_COPY :
				 r < 54 ? OP_PUNCH : r < 56 ? OP_ZERO :
				 r < 60 ? OP_SEEK :
				 r < 66 ? OP_TRUNCATE : r < 69 ? OP_EXTEND :
				 r < 76 ? OP_MAPREAD : r < 83 ? OP_MAPWRITE :
				 r < 89 ? OP_DREAD : r < 95 ? OP_DWRITE :
				 r < 98 ? OP_FSYNC : OP_REOPEN;

		if ((op == OP_MAPREAD || op == OP_MAPWRITE) && !f->mapped)
			continue;
		if ((op == OP_DREAD || op == OP_DWRITE) && !f->direct)
			continue;
		return op;
	}
}

static void fsx_step(struct fsx *f)
{
	enum fsx_op op = fsx_pick(f);
	uint64_t off = 0, len = 0;
	struct fsx_rec *r = &f->log[++f->n % FSX_LOG];

	switch (op) {
	case OP_WRITE:
	case OP_MAPWRITE:
		off = fsx_offset(f, f->maxsize);
		len = fsx_length(f);
		if (len > f->maxsize - off)
			len = f->maxsize - off;
		break;
	case OP_READ:
	case OP_MAPREAD:
	case OP_SEEK:
	case OP_COPY:
		off = fsx_offset(f, f->size + FSX_ALIGN);
		len = fsx_length(f);
		break;
	case OP_TRUNCATE:
	case OP_EXTEND:
	case OP_PUNCH:
	case OP_ZERO:
		off = fsx_offset(f, f->maxsize + 1);
		len = fsx_below(f, 2 * f->chunk) + 1;
		break;
	case OP_DREAD:
	case OP_DWRITE:
		off = fsx_offset(f, f->maxsize) & ~((uint64_t)FSX_ALIGN - 1);
		len = (fsx_length(f) + FSX_ALIGN - 1) &
		      ~((uint64_t)FSX_ALIGN - 1);
		if (len > f->maxsize - off)
			len = f->maxsize - off;
		break;
	default:
		break;
	}
	*r = (struct fsx_rec){ f->n, op, off, len, f->size };

	switch (op) {
	case OP_WRITE:
		fsx_write(f, f->fd, off, len);
		break;
	case OP_DWRITE:
		fsx_write(f, f->dfd, off, len);
		break;
	case OP_READ:
		fsx_read(f, f->fd, off, len);
		break;
	case OP_DREAD:
		fsx_read(f, f->dfd, off, len);
		break;
	case OP_TRUNCATE:
		r->len = 0;
		if (ftruncate(f->fd, (off_t)off) < 0)
			fsx_fail_errno(f, "ftruncate");
		fsx_resize(f, off);
		break;
	case OP_EXTEND:
		if (len > f->maxsize - off)
			len = r->len = f->maxsize - off;
		if (!len)
			break;
		if (fallocate(f->fd, 0, (off_t)off, (off_t)len) < 0)
			fsx_fail_errno(f, "fallocate");
		if (off + len > f->size)
			f->size = off + len;
		break;
	case OP_PUNCH:
	case OP_ZERO: {
		/* PUNCH_HOLE keeps the size; ZERO_RANGE does half the time */
		int mode = op == OP_PUNCH ?
			   FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE :
			   FALLOC_FL_ZERO_RANGE |
			   (fsx_below(f, 2) ? FALLOC_FL_KEEP_SIZE : 0);
		if (len > f->maxsize - off)
			len = r->len = f->maxsize - off;
		if (!len)
			break;
		if (fallocate(f->fd, mode, (off_t)off, (off_t)len) < 0)
			fsx_fail_errno(f, fsx_op_name[op]);
		if (off < f->size)
			memset(f->good + off, 0,
			       (off + len < f->size ? off + len : f->size) - off);
		if (!(mode & FALLOC_FL_KEEP_SIZE) && off + len > f->size)
			f->size = off + len;
		break;
	}
	case OP_MAPWRITE:
		/* a mapping cannot grow the file: extend it first */
		if (!len)
			break;
		if (off + len > f->size) {
			if (ftruncate(f->fd, (off_t)(off + len)) < 0)
				fsx_fail_errno(f, "ftruncate");
			fsx_resize(f, off + len);
		}
		fsx_map(f, off, len, true);
		break;
	case OP_MAPREAD:
		if (off >= f->size)
			break;
		if (len > f->size - off)
			len = r->len = f->size - off;
		fsx_map(f, off, len, false);
		break;
	case OP_FSYNC:
		if ((fsx_below(f, 2) ? fsync(f->fd) : fdatasync(f->fd)) < 0)
			fsx_fail_errno(f, "fsync");
		break;
	case OP_REOPEN:
		fsx_close(f);
		fsx_open(f, 0);
		break;
	case OP_SEEK:
		fsx_seek(f, off);
		break;
	case OP_COPY:
		fsx_copy(f, off, len, r);
		break;
	default:
		break;
	}
	fsx_check_size(f);
}

static int fsx_save(const struct fsx *f, const char *save)
{
	FILE *out = fopen(save, "wb");

	if (!out || fwrite(f->good, 1, f->size, out) != f->size ||
	    fclose(out) != 0) {
		fprintf(stderr, "fsx: %s: %s\n", save, strerror(errno));
		return 1;
	}
	return 0;
}

/* -c: FILE against SAVE, whole, after whatever happened in between. */
static int fsx_check_saved(struct fsx *f, const char *save)
{
	struct stat st;
	int fd = open(save, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "fsx: %s: %s\n", save, strerror(errno));
		return 1;
	}
	f->size = (uint64_t)st.st_size;
	f->good = malloc(f->size + 1);
	f->tmp = aligned_alloc(FSX_ALIGN, (f->size + FSX_ALIGN) /
			       FSX_ALIGN * FSX_ALIGN);
	if (!f->good || !f->tmp) {
		fprintf(stderr, "fsx: out of memory\n");
		return 1;
	}
	if (pread(fd, f->good, f->size, 0) != (ssize_t)f->size) {
		fprintf(stderr, "fsx: %s: short read\n", save);
		return 1;
	}
	close(fd);
	f->fd = open(f->path, O_RDONLY);
	if (f->fd < 0)
		fsx_fail_errno(f, "open");
	f->log[0] = (struct fsx_rec){ 0, OP_READ, 0, f->size + 1, f->size };
	fsx_read(f, f->fd, 0, f->size + 1);
	fsx_check_size(f);
	close(f->fd);
	free(f->good);
	free(f->tmp);
	return 0;
}

static void fsx_usage(void)
{
	fprintf(stderr, "usage: fsx [-N ops] [-S seed] [-l maxsize] "
		"[-o maxlen] [-C chunk] [-D] [-M] [-s SAVE] FILE\n"
		"       fsx -c SAVE FILE\n");
	exit(2);
}

static uint64_t fsx_num(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	if (end == s || *end || !v)
		fsx_usage();
	return v;
}

int main(int argc, char **argv)
{
	struct fsx f = {
		.maxsize = 8u << 20, .maxlen = 256u << 10, .chunk = 1u << 20,
		.rng = 1,
	};
	unsigned long ops = 1000;
	const char *save = NULL, *saved = NULL;
	int c;

	while ((c = getopt(argc, argv, "N:S:l:o:C:DMs:c:")) != -1) {
		switch (c) {
		case 'N': ops = (unsigned long)fsx_num(optarg); break;
		case 'S': f.rng = fsx_num(optarg); break;
		case 'l': f.maxsize = fsx_num(optarg); break;
		case 'o': f.maxlen = fsx_num(optarg); break;
		case 'C': f.chunk = fsx_num(optarg); break;
		case 'D': f.direct = true; break;
		case 'M': f.mapped = true; break;
		case 's': save = optarg; break;
		case 'c': saved = optarg; break;
		default: fsx_usage();
		}
	}
	if (optind != argc - 1)
		fsx_usage();
	f.path = argv[optind];
	if (saved)
		return fsx_check_saved(&f, saved);

	uint64_t seed = f.seed = f.rng;
	/* the tmp buffer takes the longest move, rounded up for O_DIRECT */
	size_t tmplen = (4 * f.maxlen + 2 * FSX_ALIGN) / FSX_ALIGN * FSX_ALIGN;

	f.good = calloc(1, f.maxsize);
	f.tmp = aligned_alloc(FSX_ALIGN, tmplen);
	if (!f.good || !f.tmp) {
		fprintf(stderr, "fsx: out of memory\n");
		return 1;
	}
	f.rng = seed * 0x9E3779B97F4A7C15ull | 1;
	fsx_open(&f, O_TRUNC);
	for (unsigned long i = 0; i < ops; i++)
		fsx_step(&f);
	/* and the whole file, once more, after a reopen */
	fsx_close(&f);
	fsx_open(&f, 0);
	f.log[++f.n % FSX_LOG] = (struct fsx_rec){ f.n, OP_READ, 0, f.size,
						  f.size };
	for (uint64_t off = 0; off < f.size; off += f.maxlen)
		fsx_read(&f, f.fd, off, f.maxlen);
	fsx_close(&f);
	printf("fsx: %s: %lu operations, seed %" PRIu64 ", final size %"
	       PRIu64 ": all matched\n", f.path, ops, seed, f.size);
	c = save ? fsx_save(&f, save) : 0;
	free(f.good);
	free(f.tmp);
	return c;
}
