/* SPDX-License-Identifier: MIT */
/*
 * corrupt.h - what slotfs-corrupt.c and fuzz_fsck.c share: the test tree
 * (populate), a reader that walks and reads everything, a small PRNG and
 * raw access to the checkpoint of an image held in memory.
 */
#ifndef SLOTFS_CORRUPT_H
#define SLOTFS_CORRUPT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "internal.h"

/* xorshift64*: every byte of the test data and every fuzz choice. */
static inline uint64_t cr_rand(uint64_t *st)
{
	uint64_t x = *st ? *st : 0x9e3779b97f4a7c15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*st = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Fill buf with the bytes of key's content (a function of key only). */
void cr_fill(const char *key, uint8_t *buf, size_t len);

/*
 * Build the test tree on an open store and close nothing.  When mf is not
 * NULL, write the manifest (see slotfs-corrupt.c) to it.  Returns 0 or a
 * negative errno, with a message on stderr.
 */
int cr_populate(struct slot_store *s, FILE *mf);
/* Put key (len bytes of cr_fill) and append its manifest line. */
int cr_put(struct slot_store *s, FILE *mf, const char *key, size_t len);

/*
 * Walk the namespace from the root and read every file, symlink and
 * directory through the public API.  Counts what it saw; returns the
 * number of reads that failed with something other than -ENOENT.
 */
struct cr_walk {
	uint64_t files, dirs, links, bytes, errors;
	bool verbose;           /* print "path size" lines */
	FILE *out;
};
int cr_walk_all(struct slot_store *s, struct cr_walk *w);

/*
 * Raw access to an image: a file (fd >= 0) or bytes in memory (mem).
 */
struct cr_img {
	int fd;
	uint8_t *mem;
	uint64_t size;
	struct sl_sb sb;        /* primary if valid, else backup */
	bool sb_ok;
};
int cr_img_read(struct cr_img *im, uint64_t off, void *buf, size_t len);
int cr_img_write(struct cr_img *im, uint64_t off, const void *buf,
		 size_t len);
/* Decode a superblock (primary, else backup) into im->sb. */
int cr_img_load_sb(struct cr_img *im);

/* A decoded checkpoint that can be changed and written back, resealed. */
struct cr_obj {
	struct sl_obj_rec rec;
	struct sl_chunk_rec *ch;
	uint64_t *csum;         /* ch's payload checksums (0: none kept) */
	char *target;
};
struct cr_de {
	uint64_t parent, child;
	uint16_t len;
	char name[SLOT_NAME_MAX + 1];
};
struct cr_ckpt {
	unsigned cont;          /* container index: seq % 2 */
	struct sl_ckpt_hdr hdr;
	struct sl_rgn_rec *rg;
	uint32_t nrg;
	struct cr_obj *obj;
	size_t nobj;
	struct cr_de *de;
	size_t nde, cap_de;
	uint8_t *xa;            /* the xattr records, as they were */
	size_t xa_len;
	uint64_t nxa;
	uint8_t *rv;            /* the reservation records, as they were */
	size_t rv_len;
	uint64_t nrv;
};
/* Container i's header, checked as open checks it, payload included. */
int cr_ckpt_hdr(struct cr_img *im, unsigned i, struct sl_ckpt_hdr *h);
/* The newest valid container (which < 0) or container which. */
int cr_ckpt_load(struct cr_img *im, int which, struct cr_ckpt *m);
int cr_ckpt_store(struct cr_img *im, struct cr_ckpt *m);
void cr_ckpt_free(struct cr_ckpt *m);
uint64_t cr_slot_off(const struct cr_img *im, const struct cr_ckpt *m,
		     uint64_t ref);
uint64_t cr_ckpt_off(const struct cr_img *im, unsigned i);

/* The fuzz mode (fuzz_fsck.c). */
int cr_fuzz_main(int argc, char **argv);

#endif
