/* SPDX-License-Identifier: MIT */
/*
 * kv_roundtrip - libslot from an application's side: format an image file,
 * put 1000 objects of 1 MiB in batches, close, reopen, get them back and
 * compare.  Builds against the installed library alone:
 *
 *   cc kv_roundtrip.c $(pkg-config --cflags --libs libslot) -o kv_roundtrip
 *   ./kv_roundtrip /var/tmp/kv.img
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <slot.h>

#define NOBJ 1000
#define BATCH 32
#define OBJ (1u << 20)

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = (uint64_t)seed * 0x9e3779b97f4a7c15ull + i;
		memcpy(p + i, &v, 8);
	}
}

static int die(const char *what, int err)
{
	fprintf(stderr, "kv_roundtrip: %s: %s\n", what, slot_strerror(err));
	return 1;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "kv.img";
	int fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0 || ftruncate(fd, 1200ll << 20)) {
		perror(path);
		return 1;
	}
	close(fd);

	struct slot_dev *dev;
	int err = slot_dev_open(path, SLOT_ENGINE_AUTO, 32, true, false, true,
				&dev);
	if (err)
		return die("open device", err);
	err = slot_format(dev, NULL, NULL);
	slot_dev_close(dev);
	if (err)
		return die("format", err);

	/* page-aligned buffers go to the device without a copy */
	unsigned char *bufs = aligned_alloc(4096, (size_t)BATCH * OBJ);
	unsigned char *want = aligned_alloc(4096, OBJ);
	char keys[BATCH][32];
	struct slot_store *s;
	if (!bufs || !want)
		return die("memory", -ENOMEM);
	if ((err = slot_open(path, NULL, &s)))
		return die("open", err);
	for (int b = 0; b < NOBJ; b += BATCH) {
		struct slot_put p[BATCH];
		int n = NOBJ - b < BATCH ? NOBJ - b : BATCH;
		for (int i = 0; i < n; i++) {
			snprintf(keys[i], sizeof(keys[i]), "kv/%04d", b + i);
			fill(bufs + (size_t)i * OBJ, OBJ, (unsigned)(b + i));
			p[i] = (struct slot_put){ .key = keys[i],
				.buf = bufs + (size_t)i * OBJ, .len = OBJ };
		}
		if ((err = slot_put_many(s, p, (size_t)n)))
			return die("put_many", err);
	}
	if ((err = slot_close(s)))
		return die("close", err);

	if ((err = slot_open(path, NULL, &s)))
		return die("reopen", err);
	int bad = 0;
	for (int b = 0; b < NOBJ; b += BATCH) {
		struct slot_get g[BATCH];
		int n = NOBJ - b < BATCH ? NOBJ - b : BATCH;
		for (int i = 0; i < n; i++) {
			snprintf(keys[i], sizeof(keys[i]), "kv/%04d", b + i);
			g[i] = (struct slot_get){ .key = keys[i],
				.buf = bufs + (size_t)i * OBJ, .cap = OBJ };
		}
		if ((err = slot_get_many(s, g, (size_t)n)))
			return die("get_many", err);
		for (int i = 0; i < n; i++) {
			fill(want, OBJ, (unsigned)(b + i));
			if (g[i].len != OBJ ||
			    memcmp(bufs + (size_t)i * OBJ, want, OBJ)) {
				fprintf(stderr, "kv_roundtrip: %s differs\n",
					keys[i]);
				bad++;
			}
		}
	}
	struct slot_status st;
	slot_status_get(s, &st);
	printf("kv_roundtrip: %d objects of 1 MiB, %d differ; %llu keys, "
	       "engine %s\n", NOBJ, bad, (unsigned long long)st.key_count,
	       st.engine);
	slot_close(s);
	free(bufs);
	free(want);
	return bad ? 1 : 0;
}
