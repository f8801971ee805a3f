// SPDX-License-Identifier: MIT
/*
 * inval.c - tells the kernel to forget the names in a directory whose
 * search permission changed.
 *
 * When the daemon checks permissions itself (perm.c), it checks search
 * permission on a directory at the LOOKUP of a name in it; the kernel
 * then walks a cached name without asking, for entry_timeout.  slotfs is
 * the only writer of its store, so names may be cached for long, as on a
 * local file system; a chmod that takes an execute bit from a directory
 * (or a chown of it) must then drop the names cached in it, so that the
 * next walk asks.
 *
 * The kernel takes the directory's lock to drop a name, and a chmod holds
 * it until its reply: the names are dropped after the reply, on a thread
 * of their own, since a serving thread that waited there could wait for
 * a request it was to serve.  So a walk in the few microseconds after
 * the chmod returns may still pass (against entry_timeout before).
 */
#include <errno.h>
#include <stdlib.h>

#include "fs.h"

/* Names listed at a time: the listing holds the store's lock. */
#define INVAL_BATCH 256u

struct inval_job {
	fuse_ino_t dir;
	struct inval_job *next;
};

struct sfs_inval {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct inval_job *head, **tail;
	bool stop;
	pthread_t thread;
};

struct inval_names {
	char *buf;              /* NUL-terminated names, back to back */
	size_t len, cap;
	unsigned n;
	uint64_t next;          /* cookie after the last name taken */
};

static int inval_name_take(void *arg, const char *name,
			   const struct slot_attr *attr, uint64_t next)
{
	struct inval_names *nm = arg;
	size_t len = strlen(name) + 1;

	(void)attr;
	if (nm->n >= INVAL_BATCH)
		return 1;
	if (nm->len + len > nm->cap) {
		size_t cap = nm->cap ? nm->cap * 2 : 4096;
		char *p;

		while (cap < nm->len + len)
			cap *= 2;
		p = realloc(nm->buf, cap);
		if (!p)
			return 1;       /* the names so far; the rest next time */
		nm->buf = p;
		nm->cap = cap;
	}
	memcpy(nm->buf + nm->len, name, len);
	nm->len += len;
	nm->n++;
	nm->next = next;
	return 0;
}

/* Drop every cached name in dir, a batch at a time; stops early when the
 * directory is gone or the daemon is stopping. */
static void inval_dir(struct sfs *fs, fuse_ino_t dir)
{
	struct inval_names nm = { 0 };
	uint64_t cookie = 0;

	for (;;) {
		nm.len = 0;
		nm.n = 0;
		if (slot_ns_readdir(fs->store, dir, cookie, inval_name_take,
				    &nm) < 0 || !nm.n)
			break;
		for (size_t off = 0; off < nm.len;) {
			size_t len = strlen(nm.buf + off);

			if (__atomic_load_n(&fs->inval->stop, __ATOMIC_RELAXED))
				goto out;
			/* -ENOENT: the kernel had no such name cached */
			fuse_lowlevel_notify_inval_entry(fs->se, dir,
							 nm.buf + off, len);
			off += len + 1;
		}
		cookie = nm.next;
	}
out:
	free(nm.buf);
}

static void *inval_main(void *arg)
{
	struct sfs *fs = arg;
	struct sfs_inval *iv = fs->inval;

	pthread_mutex_lock(&iv->lock);
	for (;;) {
		while (!iv->head && !iv->stop)
			pthread_cond_wait(&iv->cond, &iv->lock);
		if (iv->stop)
			break;
		struct inval_job *j = iv->head;

		iv->head = j->next;
		if (!iv->head)
			iv->tail = &iv->head;
		pthread_mutex_unlock(&iv->lock);
		inval_dir(fs, j->dir);
		free(j);
		pthread_mutex_lock(&iv->lock);
	}
	pthread_mutex_unlock(&iv->lock);
	return NULL;
}

int sfs_inval_start(struct sfs *fs)
{
	struct sfs_inval *iv = calloc(1, sizeof(*iv));
	int err;

	if (!iv)
		return -ENOMEM;
	pthread_mutex_init(&iv->lock, NULL);
	pthread_cond_init(&iv->cond, NULL);
	iv->tail = &iv->head;
	fs->inval = iv;
	err = pthread_create(&iv->thread, NULL, inval_main, fs);
	if (err) {
		fs->inval = NULL;
		pthread_cond_destroy(&iv->cond);
		pthread_mutex_destroy(&iv->lock);
		free(iv);
		return -err;
	}
	return 0;
}

int sfs_inval_dir(struct sfs *fs, fuse_ino_t dir)
{
	struct sfs_inval *iv = fs->inval;
	struct inval_job *j;

	if (!iv)
		return -ENOTCONN;
	pthread_mutex_lock(&iv->lock);
	/* queued and not yet begun: that walk will do (chmods in a row) */
	for (j = iv->head; j; j = j->next)
		if (j->dir == dir) {
			pthread_mutex_unlock(&iv->lock);
			return 0;
		}
	j = calloc(1, sizeof(*j));
	if (j) {
		j->dir = dir;
		*iv->tail = j;
		iv->tail = &j->next;
		pthread_cond_signal(&iv->cond);
	}
	pthread_mutex_unlock(&iv->lock);
	return j ? 0 : -ENOMEM;
}

void sfs_inval_stop_begin(struct sfs *fs)
{
	struct sfs_inval *iv = fs->inval;

	if (!iv)
		return;
	pthread_mutex_lock(&iv->lock);
	__atomic_store_n(&iv->stop, true, __ATOMIC_RELAXED);
	pthread_cond_signal(&iv->cond);
	pthread_mutex_unlock(&iv->lock);
}

void sfs_inval_stop_end(struct sfs *fs)
{
	struct sfs_inval *iv = fs->inval;

	if (!iv)
		return;
	pthread_join(iv->thread, NULL);
	while (iv->head) {
		struct inval_job *j = iv->head;

		iv->head = j->next;
		free(j);
	}
	pthread_cond_destroy(&iv->cond);
	pthread_mutex_destroy(&iv->lock);
	free(iv);
	fs->inval = NULL;
}
