/* SPDX-License-Identifier: MIT */
/* helpers.h - a formatted store on the emulated device, for unit tests. */
#ifndef SLOT_TEST_HELPERS_H
#define SLOT_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slot.h"

struct t_env {
	struct slot_emu *emu;
	struct slot_dev *dev;
	struct slot_store *s;
	struct slot_opts opts;
};

/* Format an emulated device of size bytes and open it, with no periodic
 * checkpoint thread: a test decides when checkpoints happen. */
static inline void t_setup(struct t_env *e, uint64_t size)
{
	memset(e, 0, sizeof(*e));
	cr_assert_eq(slot_emu_create(size, &e->emu), 0);
	e->dev = slot_emu_dev(e->emu);
	cr_assert_eq(slot_format(e->dev, NULL, NULL), 0);
	slot_opts_init(&e->opts);
	e->opts.periodic_checkpoint = false;
	e->opts.meta_idle_quiet_ms = 50;
	cr_assert_eq(slot_open_dev(e->dev, &e->opts, &e->s), 0);
}

/*
 * A slot_sync whose device flush the emulated device holds, in a thread
 * of its own, with what it took from quarantine (freed slots) in hand;
 * the flush goes on half a second later.  t_flush_join waits for both
 * and returns the sync's result.
 */
struct t_held_flush {
	pthread_t syncer, releaser;
	struct t_env *e;
};

static inline void *t_held_sync(void *arg)
{
	return (void *)(intptr_t)slot_sync(arg);
}

static inline void *t_held_release(void *arg)
{
	usleep(500 * 1000);
	slot_emu_release(arg);
	return NULL;
}

static inline void t_flush_hold(struct t_held_flush *h, struct t_env *e)
{
	h->e = e;
	slot_emu_hold_flush(e->emu, 1);
	cr_assert_eq(pthread_create(&h->syncer, NULL, t_held_sync, e->s), 0);
	slot_emu_wait_held(e->emu);
	cr_assert_eq(pthread_create(&h->releaser, NULL, t_held_release,
				    e->emu), 0);
}

static inline int t_flush_join(struct t_held_flush *h)
{
	void *ret;
	pthread_join(h->releaser, NULL);
	pthread_join(h->syncer, &ret);
	return (int)(intptr_t)ret;
}

/* slot_file_write of len bytes at off in a thread of its own, then, with
 * sync, slot_file_fsync (res: the write's return, or the fsync's once
 * the write was whole); done once it is over.  Join with w->t. */
struct t_bg_write {
	struct slot_store *s;
	slot_ino_t ino;
	uint64_t off;
	const void *buf;
	size_t len;
	bool sync;
	ssize_t res;
	atomic_bool done;
	pthread_t t;
};

static inline void *t_bg_write_run(void *arg)
{
	struct t_bg_write *w = arg;
	w->res = slot_file_write(w->s, w->ino, w->off, w->buf, w->len);
	if (w->sync && w->res == (ssize_t)w->len)
		w->res = slot_file_fsync(w->s, w->ino, true);
	atomic_store(&w->done, true);
	return NULL;
}

static inline void t_bg_write_start(struct t_bg_write *w)
{
	cr_assert_eq(pthread_create(&w->t, NULL, t_bg_write_run, w), 0);
}

static inline void t_reopen(struct t_env *e)
{
	cr_assert_eq(slot_open_dev(e->dev, &e->opts, &e->s), 0);
}

/* The store's log lines, kept for a test to look at: set opts.log to
 * t_log_keep and opts.log_arg to a struct t_log. */
struct t_log {
	char text[2048];
};

static inline void t_log_keep(void *arg, const char *msg)
{
	struct t_log *l = arg;
	size_t n = strlen(l->text);
	snprintf(l->text + n, sizeof(l->text) - n, "%s\n", msg);
}

/* A change of ino that only a checkpoint carries: more records than one
 * journal write takes (SL_JNL_SYNC_SLOTS slots of them), the extended
 * attribute "user.unjournaled" set again and again, at last to
 * T_UNJOURNALED_LEN bytes of 'w'. */
#define T_UNJOURNALED_LEN 60000
static inline int t_unjournaled_change(struct slot_store *s, slot_ino_t ino)
{
	static char v[T_UNJOURNALED_LEN];
	int err = 0;
	for (int i = 0; !err && i < 80; i++) {
		memset(v, i == 79 ? 'w' : 'a' + i % 20, sizeof(v));
		err = slot_xattr_set(s, ino, "user.unjournaled", v, sizeof(v),
				     0);
	}
	return err;
}

static inline void t_teardown(struct t_env *e)
{
	if (e->s)
		slot_close(e->s);
	e->s = NULL;
	slot_emu_destroy(e->emu);
}

/* Close the store, check it (forced): clean; open it again. */
static inline void t_fsck_clean(struct t_env *e)
{
	struct slot_fsck_opts fo = { .mode = SLOT_FSCK_CHECK, .force = true };
	struct slot_fsck_result fr;
	cr_assert_eq(slot_close(e->s), 0);
	e->s = NULL;
	cr_assert_eq(slot_fsck(e->dev, &fo, &fr), 0);
	cr_expect_eq(fr.exit_code, SLOT_FSCK_OK, "%llu problems",
		     (unsigned long long)fr.problems);
	t_reopen(e);
}

/* A regular file name in the root, owned by root: its inode. */
static inline slot_ino_t t_mkfile(struct slot_store *s, const char *name)
{
	struct slot_attr a;
	cr_assert_eq(slot_ns_mknod(s, SLOT_ROOT_INO, name, S_IFREG | 0644, 0,
				   0, 0, &a), 0, "%s", name);
	return a.ino;
}

static inline void t_fill(void *buf, size_t len, unsigned seed)
{
	unsigned char *p = buf;
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
}

static inline int t_put1(struct slot_store *s, const char *key,
			 const void *buf, size_t len)
{
	struct slot_put p = { .key = key, .buf = buf, .len = len };
	return slot_put_many(s, &p, 1);
}

/* Get key and compare with buf/len; returns the get's result. */
static inline int t_get_cmp(struct slot_store *s, const char *key,
			    const void *buf, size_t len)
{
	size_t cap = len ? len : 1;
	void *out = malloc(cap);
	struct slot_get g = { .key = key, .buf = out, .cap = cap };
	int r = slot_get_many(s, &g, 1);
	if (!r) {
		cr_expect_eq(g.len, len, "%s: len %zu, want %zu", key, g.len, len);
		cr_expect(g.len != len || memcmp(out, buf, len) == 0,
			  "%s: bytes differ", key);
	}
	free(out);
	return r;
}

static inline struct slot_status t_status(struct slot_store *s)
{
	struct slot_status st;
	slot_status_get(s, &st);
	return st;
}

#endif
