/* SPDX-License-Identifier: MIT */
/*
 * bench_files.c - the small-file workloads of tests/bench/run.sh, timed
 * from inside one process so that the numbers are the file system's, not
 * those of starting thousands of programs.
 *
 *   bench_files create DIR N SIZE   make DIR, write N files of SIZE bytes
 *                                   (f0000000 ...), then syncfs() and
 *                                   fsync() DIR and its parent
 *   bench_files stat DIR N          stat() every file; check the size
 *   bench_files read DIR N SIZE     read every file whole; check its bytes
 *   bench_files delete DIR N        unlink every file, rmdir DIR, syncfs()
 *                                   and fsync() the parent
 *   bench_files restat FILE N       fstat() one open file N times: on a
 *                                   mount with attr_timeout=0 each is one
 *                                   FUSE round trip (GETATTR)
 *
 * Each prints one line "files OP ops=PER_SECOND secs=SECONDS n=N" and
 * exits non-zero on the first failed call or wrong byte.  Dropping caches
 * between the steps is the caller's job.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *what, const char *path)
{
	fprintf(stderr, "bench_files: %s %s: %s\n", what, path,
		strerror(errno));
	exit(1);
}

/* The bytes of file i: its number, then a pattern that depends on it. */
static void fill(unsigned char *buf, size_t len, unsigned long i)
{
	uint32_t x = (uint32_t)i * 2654435761u + 1;

	for (size_t k = 0; k < len; k++) {
		x = x * 1103515245u + 12345u;
		buf[k] = (unsigned char)(x >> 16);
	}
	if (len >= sizeof(i))
		memcpy(buf, &i, sizeof(i));
}

static void name(char *out, size_t cap, const char *dir, unsigned long i)
{
	snprintf(out, cap, "%s/f%07lu", dir, i);
}

static void report(const char *op, unsigned long n, double t)
{
	printf("files %s ops=%.0f secs=%.3f n=%lu\n", op, (double)n / t, t, n);
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	if (fd < 0)
		fail("open", dir);
	if (fsync(fd) < 0)
		fail("fsync", dir);
	close(fd);
}

/*
 * Make everything written under dir durable: syncfs() for the data, then
 * fsync() of dir and of its parent for the names, as POSIX asks.  The
 * fsyncs matter on FUSE: the kernel sends no syncfs request to a daemon
 * on /dev/fuse, while fsync of a directory reaches it.
 */
static void sync_tree(const char *dir, bool gone)
{
	char parent[4096];
	int fd;

	snprintf(parent, sizeof(parent), "%s", dir);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	else
		snprintf(parent, sizeof(parent), "%s", slash ? "/" : ".");
	fd = open(parent, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		fail("open", parent);
	if (syncfs(fd) < 0)
		fail("syncfs", parent);
	close(fd);
	if (!gone)
		fsync_dir(dir);
	fsync_dir(parent);
}

int main(int argc, char **argv)
{
	char path[4096];
	unsigned long n;
	size_t size = 0;
	unsigned char *want = NULL, *got = NULL;
	double t0;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: bench_files create|stat|read|delete|restat "
			"DIR|FILE N [SIZE]\n");
		return 2;
	}
	const char *op = argv[1], *dir = argv[2];
	n = strtoul(argv[3], NULL, 10);
	if (argc == 5)
		size = strtoul(argv[4], NULL, 10);
	if ((!strcmp(op, "create") || !strcmp(op, "read")) && !size) {
		fprintf(stderr, "bench_files: %s needs SIZE\n", op);
		return 2;
	}
	if (size) {
		want = malloc(size);
		got = malloc(size + 1);
		if (!want || !got) {
			fprintf(stderr, "bench_files: out of memory\n");
			return 1;
		}
	}

	if (!strcmp(op, "create")) {
		t0 = now();
		if (mkdir(dir, 0755) < 0)
			fail("mkdir", dir);
		for (unsigned long i = 0; i < n; i++) {
			name(path, sizeof(path), dir, i);
			fill(want, size, i);
			int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
			if (fd < 0)
				fail("create", path);
			if (write(fd, want, size) != (ssize_t)size)
				fail("write", path);
			if (close(fd) < 0)
				fail("close", path);
		}
		sync_tree(dir, false);
		report("create", n, now() - t0);
	} else if (!strcmp(op, "stat")) {
		struct stat st;

		t0 = now();
		for (unsigned long i = 0; i < n; i++) {
			name(path, sizeof(path), dir, i);
			if (stat(path, &st) < 0)
				fail("stat", path);
			if (size && (size_t)st.st_size != size) {
				fprintf(stderr, "bench_files: %s has %lld "
					"bytes, not %zu\n", path,
					(long long)st.st_size, size);
				return 1;
			}
		}
		report("stat", n, now() - t0);
	} else if (!strcmp(op, "read")) {
		unsigned long bad = 0;

		t0 = now();
		for (unsigned long i = 0; i < n; i++) {
			name(path, sizeof(path), dir, i);
			int fd = open(path, O_RDONLY);
			if (fd < 0)
				fail("open", path);
			/* one byte more than expected, to see a longer file */
			ssize_t r = read(fd, got, size + 1);
			if (r < 0)
				fail("read", path);
			close(fd);
			fill(want, size, i);
			if ((size_t)r != size || memcmp(want, got, size))
				bad++;
		}
		report("read", n, now() - t0);
		if (bad) {
			fprintf(stderr, "bench_files: %lu files read back "
				"wrong\n", bad);
			return 1;
		}
	} else if (!strcmp(op, "restat")) {
		struct stat st;
		int fd = open(dir, O_RDONLY);

		if (fd < 0)
			fail("open", dir);
		t0 = now();
		for (unsigned long i = 0; i < n; i++)
			if (fstat(fd, &st) < 0)
				fail("fstat", dir);
		report("restat", n, now() - t0);
		close(fd);
	} else if (!strcmp(op, "delete")) {
		t0 = now();
		for (unsigned long i = 0; i < n; i++) {
			name(path, sizeof(path), dir, i);
			if (unlink(path) < 0)
				fail("unlink", path);
		}
		if (rmdir(dir) < 0)
			fail("rmdir", dir);
		sync_tree(dir, true);
		report("delete", n, now() - t0);
	} else {
		fprintf(stderr, "bench_files: unknown operation %s\n", op);
		return 2;
	}
	free(want);
	free(got);
	return 0;
}
