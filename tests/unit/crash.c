/* SPDX-License-Identifier: MIT */
/*
 * crash.c - the power-loss harness of crash.h.
 *
 * The model.  Every object a workload touches (a key of the key-value
 * face, a file or directory of the file face) has a history of events:
 * the state after each put, write, truncate, rename or unlink, and the
 * span of device requests [op_start, op_end) the call issued.  Barriers
 * are the calls that make state durable: slot_sync, a forced checkpoint
 * and slot_dir_fsync for everything, slot_file_fsync for one file (its
 * data, size and name).  A barrier counts for crash point k when all its
 * requests were issued before the crash: op_end <= k.
 *
 * For crash point k and object X, let b be the newest barrier that counts
 * and covers X.  X may then be in the state it had at b, or in the state
 * after any later event that had begun before the crash (op_start < k, or
 * <= k for an event that issued no request): nothing else.  A put that a
 * delete canceled adds its version to that list without changing the
 * state, since its slots may be complete on the disk.
 *
 * The checks, after each crash image:
 *   - open (recovery) succeeds; a refusal is reported and counted as a
 *     violation, since the durable state is then out of reach;
 *   - fsck -y ends with exit 0 or 1 and fsck -n then with 0 (on a copy of
 *     the image; skipped, with one line, while slot_fsck is -ENOSYS);
 *   - a key reads back as exactly one allowed version or is absent only
 *     when that is allowed (a synced key thus byte-identical): never a
 *     mix of versions, never a read error;
 *   - a file reads without error, has a size it had in an allowed state
 *     (or one between two, where a write was cut short), and each chunk
 *     below it holds that chunk of an allowed state that covers it whole
 *     (so no zeros stand for bytes written and lost);
 *   - a file or directory found has a mode and an extended attribute
 *     "user.v" (value or absence) of an allowed state, and its mode and
 *     both ACLs are those of one allowed state, together;
 *   - a file or directory has at most one name outside /lost+found, and
 *     that name (or its absence) is one an allowed state gives it: a
 *     durable name is present, a rename shows the old name or the new;
 *   - no regular file outside /lost+found is unknown to the model;
 *   - a file grown past its size reads zeros there: no bytes of an
 *     extension the crash cut off come back (last, as it writes);
 *   - every slot the index references is valid and SL_SLOT_USED, and no
 *     slot is referenced twice (read from the store's internals).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "crash.h"
#include "internal.h"

/* Small geometry: 64 KiB chunks and 1 MiB regions, so a few hundred KiB
 * make multi-chunk objects and several regions of every class. */
#define CR_DEV_SIZE (16ull << 20)
#define CR_CHUNK (64u << 10)
#define CR_REGION (1ull << 20)
#define CR_NAME 64
#define CR_MAX_REPORTS 25

enum { CM_KV, CM_FILE, CM_DIR };

struct cm_state {
	bool exists;
	cw_obj parent;          /* file and directory: its name */
	char name[CR_NAME];
	uint32_t mode;          /* file and directory: permission bits */
	char xattr[16];         /* ... and "user.v", "" when absent */
	uint8_t acl[2][72];     /* ... and the access and default ACLs */
	uint8_t acl_len[2];     /* (0: none) */
	uint8_t *data;          /* owned; key or file bytes */
	size_t len;
};

struct cm_ev {
	uint64_t seq, op_start, op_end;
	bool changes;           /* false: only adds an allowed state */
	struct cm_state st;
};

struct cm_obj {
	int kind;
	char key[SLOT_PATH_MAX];        /* CM_KV */
	slot_ino_t ino;                 /* CM_FILE, CM_DIR */
	struct cm_state cur;
	struct cm_ev *ev;
	size_t nev, cap;
};

struct cm_bar {
	uint64_t seq, op_end;
	int64_t obj;            /* -1: every object */
};

struct cw {
	struct slot_emu *emu;
	struct slot_store *s;
	struct cm_obj *obj;
	size_t nobj, objcap;
	struct cm_bar *bar;
	size_t nbar, barcap;
	uint64_t seq;
	uint32_t seed;          /* next version's fill seed */
	bool logging;
};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static void cr_fill(uint8_t *p, size_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 0x9e3779b9u;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)(x >> 7);
	}
}

static void *cr_xalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);
	cr_assert(p, "out of memory");
	return p;
}

static uint64_t cr_rng(uint64_t *st)
{
	/* splitmix64: a seeded stream, the same on every run */
	uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double cr_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *cr_env(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && *v ? v : def;
}

/* ------------------------------------------------------------------ */
/* Recording                                                           */
/* ------------------------------------------------------------------ */

static uint64_t cw_now(struct cw *w)
{
	const struct slot_emu_op *ops;
	return w->logging ? slot_emu_log(w->emu, &ops) : 0;
}

static void cm_state_copy(struct cm_state *dst, const struct cm_state *src)
{
	*dst = *src;
	dst->data = cr_xalloc(src->len);
	if (src->len)
		memcpy(dst->data, src->data, src->len);
}

static cw_obj cw_new_obj(struct cw *w, int kind)
{
	if (w->nobj == w->objcap) {
		w->objcap = w->objcap ? 2 * w->objcap : 16;
		w->obj = realloc(w->obj, w->objcap * sizeof(*w->obj));
		cr_assert(w->obj);
	}
	struct cm_obj *o = &w->obj[w->nobj];
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	return (cw_obj)w->nobj++;
}

/* Record an event of o: its state is now st (changes) or st may also be
 * found after a crash (!changes). */
static void cw_event(struct cw *w, cw_obj id, uint64_t op_start,
		     uint64_t op_end, bool changes, const struct cm_state *st)
{
	struct cm_obj *o = &w->obj[id];
	if (o->nev == o->cap) {
		o->cap = o->cap ? 2 * o->cap : 8;
		o->ev = realloc(o->ev, o->cap * sizeof(*o->ev));
		cr_assert(o->ev);
	}
	struct cm_ev *e = &o->ev[o->nev++];
	e->seq = ++w->seq;
	e->op_start = op_start;
	e->op_end = op_end;
	e->changes = changes;
	cm_state_copy(&e->st, st);
	if (changes) {
		/* st may be o->cur itself, with o->cur.data */
		struct cm_state old = o->cur;
		cm_state_copy(&o->cur, st);
		free(old.data);
	}
}

/* The object's mode and ACLs as the store has them now, into its state
 * and the event just recorded (an operation's effect on them, which the
 * model does not compute itself). */
static void cw_acl_refresh(struct cw *w, cw_obj id)
{
	static const char *const names[2] = { SLOT_XATTR_ACL_ACCESS,
					      SLOT_XATTR_ACL_DEFAULT };
	struct cm_obj *o = &w->obj[id];
	struct slot_attr a;
	cr_assert_eq(slot_ns_getattr(w->s, o->ino, &a), 0);
	o->cur.mode = a.mode & 07777;
	for (int k = 0; k < 2; k++) {
		ssize_t n = slot_xattr_get(w->s, o->ino, names[k], o->cur.acl[k],
					   sizeof(o->cur.acl[k]));
		cr_assert(n >= 0 || n == -ENODATA, "workload: ACL: %zd", n);
		o->cur.acl_len[k] = (uint8_t)(n > 0 ? n : 0);
	}
	struct cm_state *e = &o->ev[o->nev - 1].st;
	e->mode = o->cur.mode;
	memcpy(e->acl, o->cur.acl, sizeof(e->acl));
	memcpy(e->acl_len, o->cur.acl_len, sizeof(e->acl_len));
}

static void cw_barrier(struct cw *w, int64_t obj)
{
	if (w->nbar == w->barcap) {
		w->barcap = w->barcap ? 2 * w->barcap : 16;
		w->bar = realloc(w->bar, w->barcap * sizeof(*w->bar));
		cr_assert(w->bar);
	}
	w->bar[w->nbar++] = (struct cm_bar){ .seq = ++w->seq,
					     .op_end = cw_now(w), .obj = obj };
}

static cw_obj cw_kv(struct cw *w, const char *key)
{
	for (size_t i = 0; i < w->nobj; i++)
		if (w->obj[i].kind == CM_KV && !strcmp(w->obj[i].key, key))
			return (cw_obj)i;
	cw_obj id = cw_new_obj(w, CM_KV);
	snprintf(w->obj[id].key, sizeof(w->obj[id].key), "%s", key);
	return id;
}

/* The file or directory named name in dir now, or -1. */
static int64_t cw_named(struct cw *w, cw_obj dir, const char *name)
{
	for (size_t i = 0; i < w->nobj; i++) {
		const struct cm_obj *o = &w->obj[i];
		if (o->kind != CM_KV && o->cur.exists && o->cur.parent == dir &&
		    !strcmp(o->cur.name, name))
			return (int64_t)i;
	}
	return -1;
}

/* New contents for n keys: the put items and the model's expected states. */
static void cw_make_puts(struct cw *w, const char *const *keys,
			 const size_t *lens, size_t n, struct slot_put **pp,
			 struct cm_state **stp)
{
	struct slot_put *p = cr_xalloc(n * sizeof(*p));
	struct cm_state *st = cr_xalloc(n * sizeof(*st));
	for (size_t i = 0; i < n; i++) {
		st[i].exists = true;
		st[i].len = lens[i];
		st[i].data = cr_xalloc(lens[i]);
		cr_fill(st[i].data, lens[i], w->seed++);
		p[i] = (struct slot_put){ .key = keys[i], .buf = st[i].data,
					  .len = lens[i] };
	}
	*pp = p;
	*stp = st;
}

void cw_put(struct cw *w, const char *const *keys, const size_t *lens,
	    size_t n)
{
	struct slot_put *p;
	struct cm_state *st;
	cw_make_puts(w, keys, lens, n, &p, &st);
	uint64_t a = cw_now(w);
	int r = slot_put_many(w->s, p, n);
	uint64_t b = cw_now(w);
	cr_assert_eq(r, 0, "workload: put of %zu keys: %s", n, slot_strerror(r));
	for (size_t i = 0; i < n; i++) {
		cw_event(w, cw_kv(w, keys[i]), a, b, true, &st[i]);
		free(st[i].data);
	}
	free(st);
	free(p);
}

void cw_put1(struct cw *w, const char *key, size_t len)
{
	cw_put(w, &key, &len, 1);
}

void cw_del(struct cw *w, const char *const *keys, size_t n)
{
	int *res = cr_xalloc(n * sizeof(*res));
	uint64_t a = cw_now(w);
	int r = slot_delete_many(w->s, keys, n, res);
	uint64_t b = cw_now(w);
	cr_assert_eq(r, 0, "workload: delete: %s", slot_strerror(r));
	for (size_t i = 0; i < n; i++) {
		struct cm_state st = { .exists = false };
		cw_event(w, cw_kv(w, keys[i]), a, b, true, &st);
	}
	free(res);
}

struct cw_inflight {
	struct slot_store *s;
	struct slot_put *p;
	size_t n;
	int r;
};

static void *cw_inflight_put(void *arg)
{
	struct cw_inflight *f = arg;
	f->r = slot_put_many(f->s, f->p, f->n);
	return NULL;
}

void cw_put_delete_inflight(struct cw *w, const char *const *keys,
			    const size_t *lens, size_t n)
{
	struct slot_put *p;
	struct cm_state *st;
	cw_make_puts(w, keys, lens, n, &p, &st);
	struct cw_inflight f = { .s = w->s, .p = p, .n = n };
	pthread_t t;
	uint64_t a = cw_now(w);
	slot_emu_hold_write(w->emu, 1);
	cr_assert_eq(pthread_create(&t, NULL, cw_inflight_put, &f), 0);
	slot_emu_wait_held(w->emu);
	/* the held write is logged once released: the delete comes first */
	uint64_t mid = cw_now(w);
	int dres = 0;
	int r = slot_delete_many(w->s, keys, 1, &dres);
	slot_emu_release(w->emu);
	pthread_join(t, NULL);
	uint64_t b = cw_now(w);
	cr_assert_eq(r, 0, "workload: delete in flight: %s", slot_strerror(r));
	cr_assert_eq(p[0].result, -ECANCELED,
		     "workload: the put the delete overtook reports %d",
		     p[0].result);
	for (size_t i = 1; i < n; i++)
		cr_assert_eq(p[i].result, 0, "workload: put %s: %s", keys[i],
			     slot_strerror(p[i].result));
	/* the canceled version's slots may be whole on the disk */
	cw_event(w, cw_kv(w, keys[0]), a, b, false, &st[0]);
	struct cm_state gone = { .exists = false };
	cw_event(w, cw_kv(w, keys[0]), mid, mid, true, &gone);
	for (size_t i = 1; i < n; i++)
		cw_event(w, cw_kv(w, keys[i]), a, b, true, &st[i]);
	for (size_t i = 0; i < n; i++)
		free(st[i].data);
	free(st);
	free(p);
}

void cw_sync(struct cw *w)
{
	int r = slot_sync(w->s);
	cr_assert_eq(r, 0, "workload: sync: %s", slot_strerror(r));
	cw_barrier(w, -1);
}

void cw_ckpt(struct cw *w)
{
	int r = slot_checkpoint(w->s, true);
	cr_assert_geq(r, 0, "workload: checkpoint: %s", slot_strerror(r));
	cw_barrier(w, -1);
}

uint64_t cw_bytes_free(struct cw *w)
{
	struct slot_status st;
	cr_assert_eq(slot_status_get(w->s, &st), 0);
	return st.bytes_free;
}

void cw_shrink(struct cw *w, uint64_t size)
{
	uint64_t min;
	int r = slot_shrink(w->s, size, &min);
	cr_assert_eq(r, 0, "workload: shrink: %s (min %llu)", slot_strerror(r),
		     (unsigned long long)min);
	cw_barrier(w, -1);
}

void cw_grow(struct cw *w)
{
	uint64_t limit;
	int r = slot_grow(w->s, 0, &limit);
	cr_assert_eq(r, 0, "workload: grow: %s", slot_strerror(r));
	cw_barrier(w, -1);
}

/* Make name in dir with mode (its type included), inheriting dir's
 * default ACL when acl says so. */
static cw_obj cw_make(struct cw *w, cw_obj dir, const char *name,
		      uint32_t mode, bool acl)
{
	struct slot_attr a;
	struct slot_ns_new nw = { .mode = mode,
				  .flags = acl ? SLOT_NS_ACL : 0 };
	uint64_t t0 = cw_now(w);
	int r = slot_ns_make(w->s, w->obj[dir].ino, name, &nw, &a);
	uint64_t t1 = cw_now(w);
	cr_assert_eq(r, 0, "workload: make %s: %s", name, slot_strerror(r));
	cw_obj id = cw_new_obj(w, S_ISDIR(mode) ? CM_DIR : CM_FILE);
	w->obj[id].ino = a.ino;
	struct cm_state st = { .exists = true, .parent = dir,
			       .mode = mode & 07777 };
	snprintf(st.name, sizeof(st.name), "%s", name);
	cw_event(w, id, t0, t1, true, &st);
	if (acl)
		cw_acl_refresh(w, id);
	return id;
}

cw_obj cw_mkdir(struct cw *w, cw_obj dir, const char *name)
{
	return cw_make(w, dir, name, S_IFDIR | 0755, false);
}

cw_obj cw_create(struct cw *w, cw_obj dir, const char *name)
{
	return cw_make(w, dir, name, S_IFREG | 0644, false);
}

cw_obj cw_make_acl(struct cw *w, cw_obj dir, const char *name, uint32_t mode)
{
	return cw_make(w, dir, name, mode, true);
}

void cw_write(struct cw *w, cw_obj f, uint64_t off, size_t len)
{
	struct cm_obj *o = &w->obj[f];
	struct cm_state st = o->cur;
	size_t nlen = SL_MAX(st.len, (size_t)(off + len));
	st.data = cr_xalloc(nlen);
	memcpy(st.data, o->cur.data, o->cur.len);
	cr_fill(st.data + off, len, w->seed++);
	st.len = nlen;
	uint64_t a = cw_now(w);
	ssize_t r = slot_file_write(w->s, o->ino, off, st.data + off, len);
	uint64_t b = cw_now(w);
	cr_assert_eq(r, (ssize_t)len, "workload: write: %zd", r);
	cw_event(w, f, a, b, true, &st);
	free(st.data);
}

/* slot_ns_setattr(in, mask) on f, whose state is then st. */
static void cw_setattr(struct cw *w, cw_obj f, const struct slot_attr *in,
		       unsigned mask, const struct cm_state *st)
{
	uint64_t a = cw_now(w);
	int r = slot_ns_setattr(w->s, w->obj[f].ino, in, mask, NULL);
	uint64_t b = cw_now(w);
	cr_assert_eq(r, 0, "workload: setattr 0x%x: %s", mask,
		     slot_strerror(r));
	cw_event(w, f, a, b, true, st);
}

void cw_truncate(struct cw *w, cw_obj f, uint64_t size)
{
	struct cm_obj *o = &w->obj[f];
	struct cm_state st = o->cur;
	st.data = cr_xalloc(size);
	memcpy(st.data, o->cur.data, SL_MIN(o->cur.len, (size_t)size));
	st.len = size;
	cw_setattr(w, f, &(struct slot_attr){ .size = size }, SLOT_SET_SIZE,
		   &st);
	free(st.data);
}

typedef int cw_range_fn(struct slot_store *, slot_ino_t, uint64_t, uint64_t,
			bool);

/* One of fallocate's calls, fn, on [off, off + len) of f: the model's
 * state grows with zeros to its end unless keep_size, and (zero) reads
 * zeros over it. */
static void cw_range(struct cw *w, cw_obj f, const char *what,
		     cw_range_fn *fn, bool zero, uint64_t off, uint64_t len,
		     bool keep_size)
{
	struct cm_obj *o = &w->obj[f];
	struct cm_state st = o->cur;
	size_t nlen = keep_size ? st.len : SL_MAX(st.len, (size_t)(off + len));
	st.data = cr_xalloc(nlen);
	memcpy(st.data, o->cur.data, o->cur.len);
	if (nlen > o->cur.len)
		memset(st.data + o->cur.len, 0, nlen - o->cur.len);
	if (zero && off < nlen)
		memset(st.data + off, 0, SL_MIN(off + len, (uint64_t)nlen) - off);
	st.len = nlen;
	uint64_t a = cw_now(w);
	int r = fn(w->s, o->ino, off, len, keep_size);
	uint64_t b = cw_now(w);
	cr_assert_eq(r, 0, "workload: %s: %s", what, slot_strerror(r));
	cw_event(w, f, a, b, true, &st);
	free(st.data);
}

void cw_zero(struct cw *w, cw_obj f, uint64_t off, uint64_t len,
	     bool keep_size)
{
	cw_range(w, f, "zero", slot_file_zero, true, off, len, keep_size);
}

void cw_allocate(struct cw *w, cw_obj f, uint64_t off, uint64_t len,
		 bool keep_size)
{
	cw_range(w, f, "allocate", slot_file_allocate, false, off, len,
		 keep_size);
}

void cw_chmod(struct cw *w, cw_obj f, uint32_t mode)
{
	struct cm_state st = w->obj[f].cur;
	st.mode = mode;
	cw_setattr(w, f, &(struct slot_attr){ .mode = mode }, SLOT_SET_MODE,
		   &st);
	cw_acl_refresh(w, f);   /* chmod rewrites an access ACL */
}

void cw_setacl(struct cw *w, cw_obj f, bool dflt, const void *value,
	       size_t len)
{
	struct cm_obj *o = &w->obj[f];
	uint64_t a = cw_now(w);
	int r = slot_xattr_set(w->s, o->ino, dflt ? SLOT_XATTR_ACL_DEFAULT :
			       SLOT_XATTR_ACL_ACCESS, value, len, 0);
	uint64_t b = cw_now(w);
	cr_assert_eq(r, 0, "workload: ACL: %s", slot_strerror(r));
	struct cm_state st = o->cur;
	cw_event(w, f, a, b, true, &st);
	cw_acl_refresh(w, f);
}

void cw_setxattr(struct cw *w, cw_obj f, const char *value)
{
	struct cm_obj *o = &w->obj[f];
	struct cm_state st = o->cur;
	snprintf(st.xattr, sizeof(st.xattr), "%s", value ? value : "");
	uint64_t a = cw_now(w);
	int r = value ? slot_xattr_set(w->s, o->ino, "user.v", value,
				       strlen(value), 0) :
			slot_xattr_remove(w->s, o->ino, "user.v");
	uint64_t b = cw_now(w);
	cr_assert_eq(r, 0, "workload: xattr: %s", slot_strerror(r));
	cw_event(w, f, a, b, true, &st);
}

void cw_fsync(struct cw *w, cw_obj f)
{
	int r = slot_file_fsync(w->s, w->obj[f].ino, false);
	cr_assert_eq(r, 0, "workload: fsync: %s", slot_strerror(r));
	cw_barrier(w, f);
}

void cw_dir_fsync(struct cw *w, cw_obj d)
{
	int r = slot_dir_fsync(w->s, w->obj[d].ino);
	cr_assert_eq(r, 0, "workload: dir fsync: %s", slot_strerror(r));
	cw_barrier(w, -1);
}

void cw_rename(struct cw *w, cw_obj from, const char *name, cw_obj to,
	       const char *newname)
{
	int64_t x = cw_named(w, from, name), t = cw_named(w, to, newname);
	cr_assert_geq(x, 0, "workload: rename of unknown %s", name);
	uint64_t a = cw_now(w);
	int r = slot_ns_rename(w->s, w->obj[from].ino, name, w->obj[to].ino,
			       newname, 0);
	uint64_t b = cw_now(w);
	cr_assert_eq(r, 0, "workload: rename: %s", slot_strerror(r));
	if (t >= 0) {
		struct cm_state st = w->obj[t].cur;
		st.exists = false;
		cw_event(w, (cw_obj)t, a, b, true, &st);
	}
	struct cm_state st = w->obj[x].cur;
	st.parent = to;
	snprintf(st.name, sizeof(st.name), "%s", newname);
	cw_event(w, (cw_obj)x, a, b, true, &st);
}

void cw_unlink(struct cw *w, cw_obj dir, const char *name)
{
	int64_t x = cw_named(w, dir, name);
	cr_assert_geq(x, 0, "workload: unlink of unknown %s", name);
	uint64_t a = cw_now(w);
	int r = slot_ns_unlink(w->s, w->obj[dir].ino, name);
	uint64_t b = cw_now(w);
	cr_assert_eq(r, 0, "workload: unlink: %s", slot_strerror(r));
	struct cm_state st = w->obj[x].cur;
	st.exists = false;
	cw_event(w, (cw_obj)x, a, b, true, &st);
}

/* ------------------------------------------------------------------ */
/* Crash images                                                        */
/* ------------------------------------------------------------------ */

enum {
	CV_ALL,         /* every write since the last flush, in order */
	CV_DROP,        /* a random subset of them */
	CV_SHUFFLE,     /* all of them, in a random order */
	CV_TORN512,     /* all; the last one only its first m sectors */
	CV_TORN4K,
	CV_N
};
static const char *const cv_name[CV_N] = { "all", "drop", "shuffle",
					   "torn512", "torn4k" };

struct cr_log {
	const struct slot_emu_op *ops;
	size_t nops;
	const uint8_t *data, *base;
};

static void cr_apply(const struct cr_log *L, uint8_t *img, size_t i,
		     uint32_t len)
{
	const struct slot_emu_op *op = &L->ops[i];
	memcpy(img + op->off, L->data + op->data_off, len);
}

/* Writes in [first, k): the device's volatile cache at the crash. */
static size_t cr_tail(const struct cr_log *L, size_t k, size_t *first)
{
	size_t f = 0;
	for (size_t i = 0; i < k; i++)
		if (L->ops[i].kind == 'F')
			f = i + 1;
	*first = f;
	return k - f;
}

static void cr_build(const struct cr_log *L, size_t k, int v, uint64_t seed,
		     uint8_t *img, uint64_t size, char *what, size_t wlen)
{
	memcpy(img, L->base, size);
	size_t f, n = cr_tail(L, k, &f);
	for (size_t i = 0; i < f; i++)
		if (L->ops[i].kind == 'W')
			cr_apply(L, img, i, L->ops[i].len);
	uint64_t rs = seed;
	snprintf(what, wlen, "%s", cv_name[v]);
	switch (v) {
	case CV_ALL:
		for (size_t i = f; i < k; i++)
			cr_apply(L, img, i, L->ops[i].len);
		break;
	case CV_DROP: {
		/* one always goes, so the image differs from "all" */
		size_t dropped = 0, must = f + (size_t)(cr_rng(&rs) % n);
		for (size_t i = f; i < k; i++) {
			if (i != must && (cr_rng(&rs) & 1))
				cr_apply(L, img, i, L->ops[i].len);
			else
				dropped++;
		}
		snprintf(what, wlen, "drop(%zu of %zu)", dropped, n);
		break;
	}
	case CV_SHUFFLE: {
		size_t *ord = cr_xalloc(n * sizeof(*ord));
		for (size_t i = 0; i < n; i++)
			ord[i] = f + i;
		for (size_t i = n; i > 1; i--) {
			size_t j = (size_t)(cr_rng(&rs) % i);
			size_t t = ord[i - 1];
			ord[i - 1] = ord[j];
			ord[j] = t;
		}
		for (size_t i = 0; i < n; i++)
			cr_apply(L, img, ord[i], L->ops[ord[i]].len);
		free(ord);
		break;
	}
	case CV_TORN512:
	case CV_TORN4K: {
		uint32_t g = v == CV_TORN512 ? 512 : 4096;
		for (size_t i = f; i + 1 < k; i++)
			cr_apply(L, img, i, L->ops[i].len);
		uint32_t len = L->ops[k - 1].len;
		uint32_t nsec = (len + g - 1) / g;
		uint32_t m = nsec > 1 ? (uint32_t)(cr_rng(&rs) % nsec) : 0;
		cr_apply(L, img, k - 1, SL_MIN(len, m * g));
		snprintf(what, wlen, "%s(%u of %u)", cv_name[v], m, nsec);
		break;
	}
	}
}

/* Which variants crash point k can tell apart from "all". */
static bool cr_variant_useful(const struct cr_log *L, size_t k, int v)
{
	size_t f, n = cr_tail(L, k, &f);
	switch (v) {
	case CV_ALL:
		return true;
	case CV_DROP:
		return n >= 1;
	case CV_SHUFFLE:
		return n >= 2;
	case CV_TORN512:
		return n >= 1 && L->ops[k - 1].len > 512;
	case CV_TORN4K:
		return n >= 1 && L->ops[k - 1].len > 4096;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* Checking one image                                                  */
/* ------------------------------------------------------------------ */

struct cr_ctx {
	const struct crash_workload *wl;
	struct cw *w;
	struct crash_result *r;
	size_t k;
	const char *what;
	uint64_t seed;
	uint64_t image_violations;
	char lastlog[256];
};

static void cr_violation(struct cr_ctx *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void cr_violation(struct cr_ctx *x, const char *fmt, ...)
{
	x->r->violations++;
	x->image_violations++;
	if (x->r->violations > CR_MAX_REPORTS || x->wl->quiet)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "crash: VIOLATION workload=%s k=%zu variant=%s "
		"seed=%" PRIu64 ": %s\n", x->wl->name, x->k, x->what, x->seed,
		msg);
	if (x->r->violations == CR_MAX_REPORTS && !x->wl->quiet)
		fprintf(stderr, "crash: (further violations counted only)\n");
}

static void cr_log_sink(void *arg, const char *msg)
{
	struct cr_ctx *x = arg;
	snprintf(x->lastlog, sizeof(x->lastlog), "%s", msg);
}

/* The states object id may be in after crash point k. */
static size_t cr_allowed(const struct cw *w, cw_obj id, size_t k,
			 const struct cm_state **out)
{
	const struct cm_obj *o = &w->obj[id];
	uint64_t bseq = 0;
	for (size_t i = 0; i < w->nbar; i++) {
		const struct cm_bar *b = &w->bar[i];
		if ((b->obj < 0 || b->obj == (int64_t)id) && b->op_end <= k &&
		    b->seq > bseq)
			bseq = b->seq;
	}
	static const struct cm_state none = { .exists = false };
	size_t n = 0;
	out[n] = &none;
	for (size_t i = 0; i < o->nev; i++)
		if (o->ev[i].seq < bseq && o->ev[i].changes)
			out[n] = &o->ev[i].st;
	n++;
	for (size_t i = 0; i < o->nev; i++) {
		const struct cm_ev *e = &o->ev[i];
		if (e->seq < bseq)
			continue;
		if (e->op_start < k || (e->op_start == e->op_end &&
					e->op_start <= k))
			out[n++] = &e->st;
	}
	return n;
}

static void cr_describe(char *buf, size_t cap, const struct cw *w,
			const struct cm_state *const *al, size_t n)
{
	size_t u = 0;
	buf[0] = 0;
	for (size_t i = 0; i < n && u + 80 < cap; i++) {
		const struct cm_state *s = al[i];
		const char *sep = i ? ", " : "";
		if (!s->exists && !s->len)
			u += (size_t)snprintf(buf + u, cap - u, "%sabsent", sep);
		else if (!s->name[0])
			u += (size_t)snprintf(buf + u, cap - u, "%slen=%zu",
					      sep, s->len);
		else
			u += (size_t)snprintf(buf + u, cap - u,
					      "%s%s%" PRIu64 "/%s len=%zu", sep,
					      s->exists ? "" : "unlinked:",
					      w->obj[s->parent].ino, s->name,
					      s->len);
	}
}

struct cr_ent {
	slot_ino_t parent, ino;
	uint32_t mode;
	char name[SLOT_NAME_MAX + 1];
	char path[512];
};

struct cr_walk {
	struct cr_ent *e;
	size_t n, cap;
	const char *dirpath;
	slot_ino_t dir;
};

/* Under /lost+found, at any depth (recovery puts what its header cannot
 * name there: as #N, or by name in #D, D its lost directory). */
static bool cr_in_lf(const struct cr_ent *e)
{
	return !strncmp(e->path, "lost+found/", 11);
}

/* The directories recovery makes, /lost+found and its #D: made with the
 * next free numbers, which may be ones a crashed workload handed out and
 * lost. */
static bool cr_recovery_dir(const struct cr_ent *e, slot_ino_t lf)
{
	return lf && (e->ino == lf || (e->parent == lf && S_ISDIR(e->mode) &&
				       e->name[0] == '#'));
}

static int cr_walk_fn(void *arg, const char *name, const struct slot_attr *a,
		      uint64_t next)
{
	struct cr_walk *wk = arg;
	if (wk->n == wk->cap) {
		wk->cap = wk->cap ? 2 * wk->cap : 64;
		wk->e = realloc(wk->e, wk->cap * sizeof(*wk->e));
		if (!wk->e)
			return 1;
	}
	struct cr_ent *e = &wk->e[wk->n++];
	e->parent = wk->dir;
	e->ino = a->ino;
	e->mode = a->mode;
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->path, sizeof(e->path), "%s%s%s", wk->dirpath,
		 *wk->dirpath ? "/" : "", name);
	return 0;
}

/* Every name in the tree, breadth first (the readdir callback may not
 * call the store, so directories are listed one after the other). */
static void cr_walk(struct slot_store *s, struct cr_walk *wk)
{
	memset(wk, 0, sizeof(*wk));
	wk->dirpath = "";
	wk->dir = SLOT_ROOT_INO;
	slot_ns_readdir(s, SLOT_ROOT_INO, 0, cr_walk_fn, wk);
	for (size_t i = 0; i < wk->n && wk->e; i++) {
		if (!S_ISDIR(wk->e[i].mode))
			continue;
		char path[512];
		snprintf(path, sizeof(path), "%s", wk->e[i].path);
		wk->dirpath = path;
		wk->dir = wk->e[i].ino;
		slot_ns_readdir(s, wk->e[i].ino, 0, cr_walk_fn, wk);
	}
}

static void cr_check_kv(struct cr_ctx *x, struct slot_store *s, cw_obj id,
			const struct cm_state **al, size_t nal)
{
	const struct cm_obj *o = &x->w->obj[id];
	size_t cap = 1;
	for (size_t i = 0; i < nal; i++)
		cap = SL_MAX(cap, al[i]->len + 1);
	uint8_t *buf = cr_xalloc(cap);
	struct slot_get g = { .key = o->key, .buf = buf, .cap = cap };
	int r = slot_get_many(s, &g, 1);
	bool ok = false;
	for (size_t i = 0; i < nal && !ok; i++) {
		if (r == -ENOENT)
			ok = !al[i]->exists;
		else if (r == 0)
			ok = al[i]->exists && al[i]->len == g.len &&
			     !memcmp(al[i]->data, buf, g.len);
	}
	if (!ok) {
		char d[512];
		cr_describe(d, sizeof(d), x->w, al, nal);
		if (r == 0)
			cr_violation(x, "key %s: %zu bytes that are no "
				     "version put (allowed: %s)", o->key,
				     g.len, d);
		else
			cr_violation(x, "key %s: get: %s (allowed: %s)", o->key,
				     slot_strerror(r), d);
	}
	free(buf);
}

/* Does chunk i of got (size bytes) equal chunk i of st, zero-extended? */
static bool cr_chunk_eq(const uint8_t *got, uint64_t size, uint64_t i,
			const struct cm_state *st)
{
	uint64_t a = i * CR_CHUNK, b = SL_MIN(size, a + CR_CHUNK);
	if (st->len < b)
		return false;
	for (uint64_t p = a; p < b; p++) {
		uint8_t want = p < st->len ? st->data[p] : 0;
		if (got[p] != want)
			return false;
	}
	return true;
}

/* The mode and "user.v" of an object found: each that of an allowed
 * state. */
static void cr_check_attrs(struct cr_ctx *x, struct slot_store *s,
			   const struct cm_obj *o,
			   const struct cm_state **al, size_t nal)
{
	struct slot_attr a;
	char v[16] = "";
	if (slot_ns_getattr(s, o->ino, &a))
		return;         /* the callers say what is missing */
	ssize_t n = slot_xattr_get(s, o->ino, "user.v", v, sizeof(v) - 1);
	if (n < 0 && n != -ENODATA) {
		cr_violation(x, "ino %" PRIu64 ": getxattr: %s", o->ino,
			     slot_strerror((int)n));
		return;
	}
	v[n > 0 ? n : 0] = 0;
	uint8_t acl[2][72];
	size_t acl_len[2];
	for (int k = 0; k < 2; k++) {
		ssize_t m = slot_xattr_get(s, o->ino, k ? SLOT_XATTR_ACL_DEFAULT :
					   SLOT_XATTR_ACL_ACCESS, acl[k],
					   sizeof(acl[k]));
		acl_len[k] = m > 0 ? (size_t)m : 0;
	}
	bool mode_ok = false, xattr_ok = false, acl_ok = false;
	for (size_t i = 0; i < nal; i++) {
		if (!al[i]->exists)
			continue;
		bool mode = al[i]->mode == (a.mode & 07777);
		mode_ok |= mode;
		xattr_ok |= !strcmp(al[i]->xattr, v);
		bool same = mode;
		for (int k = 0; k < 2; k++)
			same &= al[i]->acl_len[k] == acl_len[k] &&
				!memcmp(al[i]->acl[k], acl[k], acl_len[k]);
		acl_ok |= same;
	}
	if (mode_ok && !acl_ok)
		cr_violation(x, "ino %" PRIu64 " has mode %o with ACLs of %zu "
			     "and %zu bytes: no one state had them together",
			     o->ino, a.mode & 07777, acl_len[0], acl_len[1]);
	if (!mode_ok)
		cr_violation(x, "ino %" PRIu64 " has mode %o, never one it had",
			     o->ino, a.mode & 07777);
	if (!xattr_ok)
		cr_violation(x, "ino %" PRIu64 " has user.v \"%s\", never one "
			     "it had", o->ino, v);
}

static void cr_check_named(struct cr_ctx *x, struct slot_store *s, cw_obj id,
			   const struct cm_state **al, size_t nal,
			   const struct cr_walk *wk, slot_ino_t lf)
{
	const struct cw *w = x->w;
	const struct cm_obj *o = &w->obj[id];
	const struct cr_ent *found = NULL;
	size_t names = 0;
	bool in_lf = false;
	for (size_t i = 0; i < wk->n; i++) {
		const struct cr_ent *e = &wk->e[i];
		if (e->ino != o->ino || cr_recovery_dir(e, lf))
			continue;
		if (cr_in_lf(e)) {
			in_lf = true;
			continue;
		}
		names++;
		found = e;
	}
	char d[512];
	cr_describe(d, sizeof(d), w, al, nal);
	const char *kind = o->kind == CM_DIR ? "directory" : "file";
	if (names > 1) {
		cr_violation(x, "%s ino %" PRIu64 " has %zu names (allowed: %s)",
			     kind, o->ino, names, d);
		return;
	}
	bool name_ok = false;
	for (size_t i = 0; i < nal && !name_ok; i++) {
		const struct cm_state *st = al[i];
		if (!found)
			name_ok = !st->exists;
		else
			name_ok = st->exists &&
				  w->obj[st->parent].ino == found->parent &&
				  !strcmp(st->name, found->name);
	}
	if (!name_ok)
		cr_violation(x, "%s ino %" PRIu64 " is %s%s (allowed: %s)", kind,
			     o->ino, found ? "named " : "not named",
			     found ? found->path : "", d);
	if (found)
		cr_check_attrs(x, s, o, al, nal);
	/* the content of a file no name reaches is not checked: it is
	 * gone, or its inode number went to another object */
	if (o->kind != CM_FILE || (!found && !in_lf))
		return;

	struct slot_attr a;
	int r = slot_ns_getattr(s, o->ino, &a);
	if (r) {
		bool may_vanish = false;
		for (size_t i = 0; i < nal; i++)
			may_vanish |= !al[i]->exists;
		if (!may_vanish)
			cr_violation(x, "file ino %" PRIu64 " is gone: %s "
				     "(allowed: %s)", o->ino, slot_strerror(r),
				     d);
		return;
	}
	if (!S_ISREG(a.mode)) {
		cr_violation(x, "file ino %" PRIu64 " has mode 0%o", o->ino,
			     a.mode);
		return;
	}
	/* a write is not atomic (as on ext4, part of it may be down): a
	 * size between two allowed ones passes here, and the chunks below
	 * it must then each be wholly an allowed state's */
	bool size_ok = false, below = false, above = false;
	for (size_t i = 0; i < nal; i++) {
		size_ok |= al[i]->len == a.size;
		below |= al[i]->exists && al[i]->len < a.size;
		above |= al[i]->len > a.size;
	}
	size_ok |= below && above;
	if (!size_ok) {
		cr_violation(x, "file ino %" PRIu64 " has size %" PRIu64
			     ", never one it had (allowed: %s)", o->ino, a.size,
			     d);
		return;
	}
	uint8_t *buf = cr_xalloc(a.size);
	ssize_t got = a.size ? slot_file_read(s, o->ino, 0, buf, a.size) : 0;
	if (got != (ssize_t)a.size) {
		cr_violation(x, "file ino %" PRIu64 ": read of %" PRIu64
			     " bytes gave %zd (%s)", o->ino, a.size, got,
			     got < 0 ? slot_strerror((int)got) : "short");
		free(buf);
		return;
	}
	for (uint64_t c = 0; c * CR_CHUNK < a.size; c++) {
		bool ok = false;
		for (size_t i = 0; i < nal && !ok; i++)
			ok = cr_chunk_eq(buf, a.size, c, al[i]);
		if (!ok) {
			cr_violation(x, "file ino %" PRIu64 " chunk %" PRIu64
				     " holds bytes of no state it had "
				     "(size %" PRIu64 "; allowed: %s)", o->ino,
				     c, a.size, d);
			break;
		}
	}
	free(buf);
}

static int cr_ref_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The index points only at used slots, each at most once. */
static void cr_check_slots(struct cr_ctx *x, struct slot_store *s)
{
	struct sl_index *ix = &s->ix;
	size_t n = 0, cap = 64;
	uint64_t *refs = cr_xalloc(cap * sizeof(*refs));
	for (size_t b = 0; b <= ix->obj_mask; b++) {
		for (struct sl_obj *o = ix->obj_tab[b]; o; o = o->hnext) {
			for (uint32_t i = 0; i < o->nchunks; i++) {
				uint64_t ref = o->chunks[i].slot;
				if (!sl_slot_valid(s, ref)) {
					cr_violation(x, "oid %" PRIu64 " chunk "
						     "%u: slot %u:%u is not a "
						     "slot", o->oid,
						     o->chunks[i].idx,
						     sl_slot_region(ref),
						     sl_slot_index(ref));
					continue;
				}
				uint8_t st = s->regions[sl_slot_region(ref)]
						     .state[sl_slot_index(ref)];
				if ((st & SL_SLOT_STATE) != SL_SLOT_USED)
					cr_violation(x, "oid %" PRIu64 " chunk "
						     "%u: slot %u:%u is not in "
						     "use (state %u)", o->oid,
						     o->chunks[i].idx,
						     sl_slot_region(ref),
						     sl_slot_index(ref),
						     st & SL_SLOT_STATE);
				if (n == cap) {
					cap *= 2;
					refs = realloc(refs, cap * sizeof(*refs));
					cr_assert(refs);
				}
				refs[n++] = ref;
			}
		}
	}
	qsort(refs, n, sizeof(*refs), cr_ref_cmp);
	for (size_t i = 1; i < n; i++)
		if (refs[i] == refs[i - 1])
			cr_violation(x, "slot %u:%u is owned twice",
				     sl_slot_region(refs[i]),
				     sl_slot_index(refs[i]));
	free(refs);
}

static void cr_fsck_problem(void *arg, const char *code, const char *msg,
			    bool fixed)
{
	(void)arg;
	(void)code;
	(void)msg;
	(void)fixed;
}

/*
 * fsck -y then fsck -n on dev.  Returns false when slot_fsck is not
 * there yet (-ENOSYS): the property switches on by itself when it lands.
 */
static bool cr_fsck(struct cr_ctx *x, struct slot_dev *dev)
{
	struct slot_fsck_opts o = { .mode = SLOT_FSCK_REPAIR, .force = true,
				    .problem = cr_fsck_problem };
	struct slot_fsck_result res;
	int r = slot_fsck(dev, &o, &res);
	if (r == -ENOSYS)
		return false;
	if (r < 0 || (res.exit_code & ~SLOT_FSCK_FIXED)) {
		cr_violation(x, "fsck -y: %s, exit %d", r < 0 ?
			     slot_strerror(r) : "done", res.exit_code);
		return true;
	}
	o.mode = SLOT_FSCK_CHECK;
	r = slot_fsck(dev, &o, &res);
	if (r < 0 || res.exit_code != SLOT_FSCK_OK)
		cr_violation(x, "second fsck -n: %s, exit %d (want 0)",
			     r < 0 ? slot_strerror(r) : "done", res.exit_code);
	return true;
}

static void cr_dump_image(struct cr_ctx *x, struct slot_emu *img_emu,
			  const uint8_t *img, uint64_t size)
{
	const char *dir = getenv("SLOT_CRASH_DUMP");
	if (!dir || !*dir)
		return;
	/* "drop(3 of 7)" -> "drop_3_of_7_": no shell quoting needed */
	char what[64];
	snprintf(what, sizeof(what), "%s", x->what);
	for (char *c = what; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')))
			*c = '_';
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s-k%zu-%s.img", dir, x->wl->name,
		 x->k, what);
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(img, 1, size, f);
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/%s-k%zu-%s.dump", dir, x->wl->name,
		 x->k, what);
	f = fopen(path, "w");
	if (f) {
		slot_dump(slot_emu_dev(img_emu), f, true);
		fclose(f);
	}
}

/* Each file grown to the end of its last chunk reads zeros past its old
 * size: no bytes of an extension a crash cut off come back.  Last: it
 * changes the store. */
static void cr_check_growth(struct cr_ctx *x, struct slot_store *s,
			    const struct cr_walk *wk)
{
	for (size_t i = 0; i < wk->n; i++) {
		const struct cr_ent *e = &wk->e[i];
		struct slot_attr a;
		if (!S_ISREG(e->mode) || slot_ns_getattr(s, e->ino, &a))
			continue;
		uint64_t end = (a.size / CR_CHUNK + 1) * CR_CHUNK;
		struct slot_attr in = { .size = end };
		int r = slot_ns_setattr(s, e->ino, &in, SLOT_SET_SIZE, NULL);
		if (r) {
			cr_violation(x, "file ino %" PRIu64 ": growing to %"
				     PRIu64 ": %s", e->ino, end,
				     slot_strerror(r));
			continue;
		}
		size_t n = (size_t)(end - a.size);
		uint8_t *buf = cr_xalloc(n);
		ssize_t got = slot_file_read(s, e->ino, a.size, buf, n);
		size_t nz = 0;
		while (got == (ssize_t)n && nz < n && !buf[nz])
			nz++;
		if (got != (ssize_t)n || nz < n)
			cr_violation(x, "file ino %" PRIu64 " grown from %" PRIu64
				     " shows bytes past its old size at %"
				     PRIu64 " (read %zd)", e->ino, a.size,
				     a.size + nz, got);
		free(buf);
	}
}

static void cr_check_image(struct cr_ctx *x, struct slot_emu *ce,
			   struct slot_emu *fe, bool *fsck_on)
{
	struct cw *w = x->w;
	uint64_t size = slot_emu_size(ce);
	x->r->images++;
	x->image_violations = 0;

	/* fsck sees the image as the crash left it, so on a copy */
	if (*fsck_on) {
		memcpy(slot_emu_image(fe), slot_emu_image(ce), size);
		*fsck_on = cr_fsck(x, slot_emu_dev(fe));
	}
	uint8_t *orig = NULL;
	if (getenv("SLOT_CRASH_DUMP")) {
		orig = cr_xalloc(size);
		memcpy(orig, slot_emu_image(ce), size);
	}

	struct slot_opts so;
	slot_opts_init(&so);
	so.periodic_checkpoint = false;
	so.log = cr_log_sink;
	so.log_arg = x;
	x->lastlog[0] = 0;
	struct slot_store *s;
	int r = slot_open_dev(slot_emu_dev(ce), &so, &s);
	if (r) {
		x->r->refused++;
		bool clear = r == -EUCLEAN || r == -EINVAL ||
			     r == -EPROTONOSUPPORT;
		cr_violation(x, "open refused the image: %s%s (last message: "
			     "%s)", slot_strerror(r), clear ? "" :
			     " (not a documented open error)", x->lastlog);
		goto out;
	}
	x->r->recovered++;

	struct cr_walk wk;
	cr_walk(s, &wk);
	slot_ino_t lf = 0;
	for (size_t i = 0; i < wk.n; i++)
		if (wk.e[i].parent == SLOT_ROOT_INO &&
		    !strcmp(wk.e[i].name, "lost+found"))
			lf = wk.e[i].ino;

	const struct cm_state **al =
		cr_xalloc((w->seq + 2) * sizeof(*al));
	for (cw_obj id = 1; id < w->nobj; id++) {
		size_t nal = cr_allowed(w, id, x->k, al);
		if (w->obj[id].kind == CM_KV)
			cr_check_kv(x, s, id, al, nal);
		else
			cr_check_named(x, s, id, al, nal, &wk, lf);
	}
	free(al);

	/* no file the workload never made, outside /lost+found */
	for (size_t i = 0; i < wk.n; i++) {
		const struct cr_ent *e = &wk.e[i];
		if (!S_ISREG(e->mode) || cr_in_lf(e))
			continue;
		bool known = false;
		for (size_t j = 1; j < w->nobj && !known; j++) {
			const struct cm_obj *o = &w->obj[j];
			known = o->kind == CM_KV ? !strcmp(o->key, e->path) :
						   o->ino == e->ino;
		}
		if (!known)
			cr_violation(x, "unknown file %s (ino %" PRIu64 ")",
				     e->path, e->ino);
	}
	cr_check_slots(x, s);
	cr_check_growth(x, s, &wk);
	free(wk.e);
	r = slot_close(s);
	if (r)
		cr_violation(x, "close after recovery: %s", slot_strerror(r));
out:
	if (x->image_violations && orig) {
		struct slot_emu *de;
		if (!slot_emu_create(size, &de)) {
			memcpy(slot_emu_image(de), orig, size);
			cr_dump_image(x, de, orig, size);
			slot_emu_destroy(de);
		}
	}
	free(orig);
}

/* ------------------------------------------------------------------ */
/* Running                                                             */
/* ------------------------------------------------------------------ */

static void cw_free(struct cw *w)
{
	for (size_t i = 0; i < w->nobj; i++) {
		for (size_t j = 0; j < w->obj[i].nev; j++)
			free(w->obj[i].ev[j].st.data);
		free(w->obj[i].ev);
		free(w->obj[i].cur.data);
	}
	free(w->obj);
	free(w->bar);
}

/* The device log and the model, to read a violation against. */
static void cr_print_log(const struct cw *w, const struct cr_log *L)
{
	for (size_t i = 0; i < L->nops; i++)
		fprintf(stderr, "crash: op %zu %c off=%" PRIu64 " len=%u\n", i,
			L->ops[i].kind, L->ops[i].off, L->ops[i].len);
	for (size_t i = 0; i < w->nbar; i++)
		fprintf(stderr, "crash: barrier seq=%" PRIu64 " op_end=%" PRIu64
			" obj=%" PRId64 "\n", w->bar[i].seq, w->bar[i].op_end,
			w->bar[i].obj);
	for (size_t i = 0; i < w->nobj; i++) {
		const struct cm_obj *o = &w->obj[i];
		for (size_t j = 0; j < o->nev; j++) {
			const struct cm_ev *e = &o->ev[j];
			fprintf(stderr, "crash: obj %zu %s%s ino=%" PRIu64
				" seq=%" PRIu64 " ops=[%" PRIu64 ",%" PRIu64
				")%s exists=%d name=%s len=%zu\n", i,
				o->kind == CM_KV ? "key " : o->kind == CM_DIR ?
				"dir" : "file", o->key, o->ino, e->seq,
				e->op_start, e->op_end, e->changes ? "" :
				" (may appear)", e->st.exists, e->st.name,
				e->st.len);
		}
	}
}

void crash_run(const struct crash_workload *wl, struct crash_result *res)
{
	memset(res, 0, sizeof(*res));
	const char *mode = cr_env("SLOT_CRASH_MODE", "linear");
	bool exhaustive = !strcmp(mode, "exhaustive");
	bool sample = !strcmp(mode, "sample");
	cr_assert(exhaustive || sample || !strcmp(mode, "linear"),
		  "SLOT_CRASH_MODE=%s: want linear, sample or exhaustive", mode);
	uint64_t seed = strtoull(cr_env("SLOT_CRASH_SEED", "1"), NULL, 0);
	double budget = strtod(cr_env("SLOT_CRASH_BUDGET",
				      exhaustive ? "0" : "120"), NULL);
	const char *only = getenv("SLOT_CRASH_POINT");
	bool verbose = getenv("SLOT_CRASH_VERBOSE") != NULL;

	/* the workload, on a store of its own */
	struct cw w;
	memset(&w, 0, sizeof(w));
	w.seed = 1000;
	cr_assert_eq(slot_emu_create(CR_DEV_SIZE, &w.emu), 0);
	struct slot_format_opts fo;
	slot_format_opts_init(&fo);
	fo.chunk_size = CR_CHUNK;
	fo.region_size = CR_REGION;
	if (wl->format_size) {
		/* made on a device that size, then moved to the start of
		 * the larger one, as after growing a partition */
		struct slot_emu *small;
		cr_assert_eq(slot_emu_create(wl->format_size, &small), 0);
		cr_assert_eq(slot_format(slot_emu_dev(small), &fo, NULL), 0);
		memcpy(slot_emu_image(w.emu), slot_emu_image(small),
		       wl->format_size);
		slot_emu_destroy(small);
	} else {
		cr_assert_eq(slot_format(slot_emu_dev(w.emu), &fo, NULL), 0);
	}
	struct slot_opts so;
	slot_opts_init(&so);
	so.periodic_checkpoint = false;
	cr_assert_eq(slot_open_dev(slot_emu_dev(w.emu), &so, &w.s), 0);
	cw_obj root = cw_new_obj(&w, CM_DIR);
	w.obj[root].ino = SLOT_ROOT_INO;
	w.obj[root].cur.exists = true;
	if (wl->setup) {
		wl->setup(&w);
		cr_assert_eq(slot_checkpoint(w.s, true) >= 0, 1);
		cr_assert_eq(slot_sync(w.s), 0);
	}
	cw_barrier(&w, -1);     /* the log starts from a durable image */
	slot_emu_log_start(w.emu);
	w.logging = true;
	wl->run(&w);
	w.logging = false;
	slot_emu_log_stop(w.emu);
	uint64_t journal = atomic_load(&w.s->jnl_writes);
	slot_abandon(w.s);
	w.s = NULL;

	struct cr_log L;
	L.nops = slot_emu_log(w.emu, &L.ops);
	L.data = slot_emu_log_data(w.emu);
	L.base = slot_emu_log_base(w.emu);
	cr_assert(L.base, "no base image");
	res->nops = L.nops;

	if (getenv("SLOT_CRASH_OPS"))
		cr_print_log(&w, &L);

	/* which crash points */
	size_t npts = L.nops + 1;
	size_t *pts = cr_xalloc(npts * sizeof(*pts));
	size_t np = 0;
	uint64_t rs = seed ^ 0x5eed;
	if (only) {
		pts[np++] = SL_MIN((size_t)strtoull(only, NULL, 0), L.nops);
	} else if (sample) {
		size_t want = (size_t)strtoull(cr_env("SLOT_CRASH_POINTS", "64"),
					       NULL, 0);
		for (size_t i = 0; i < npts; i++)
			pts[i] = i;
		for (size_t i = 0; i < npts && i < want; i++) {
			size_t j = i + (size_t)(cr_rng(&rs) % (npts - i));
			size_t t = pts[i];
			pts[i] = pts[j];
			pts[j] = t;
		}
		np = SL_MIN(want, npts);
	} else {
		for (size_t i = 0; i < npts; i++)
			pts[np++] = i;
	}

	struct slot_emu *ce, *fe;
	cr_assert_eq(slot_emu_create(CR_DEV_SIZE, &ce), 0);
	cr_assert_eq(slot_emu_create(CR_DEV_SIZE, &fe), 0);
	bool fsck_on = true;
	unsigned reps = exhaustive ? 8 : 1;
	double t0 = cr_mono();
	struct cr_ctx x = { .wl = wl, .w = &w, .r = res };
	char what[64];
	for (size_t pi = 0; pi < np; pi++) {
		if (budget > 0 && cr_mono() - t0 > budget) {
			res->skipped = np - pi;
			break;
		}
		size_t k = pts[pi];
		res->points++;
		for (int v = 0; v < CV_N; v++) {
			if (!cr_variant_useful(&L, k, v))
				continue;
			/* one tear size per point, alternating, unless
			 * exhaustive: both sizes are still covered */
			if (!exhaustive && v == CV_TORN512 + (int)(k % 2) &&
			    cr_variant_useful(&L, k, CV_TORN4K))
				continue;
			for (unsigned rep = 0; rep < (v == CV_ALL ? 1 : reps);
			     rep++) {
				uint64_t is = seed * 1000003u + k * 131u +
					      (uint64_t)v * 17u + rep;
				cr_build(&L, k, v, is, slot_emu_image(ce),
					 CR_DEV_SIZE, what, sizeof(what));
				if (wl->sabotage)
					wl->sabotage(slot_emu_image(ce),
						     CR_DEV_SIZE);
				x.k = k;
				x.what = what;
				x.seed = is;
				uint64_t before = res->violations;
				cr_check_image(&x, ce, fe, &fsck_on);
				if (verbose)
					fprintf(stderr, "crash: %s k=%zu %s: "
						"%" PRIu64 " violations\n",
						wl->name, k, what,
						res->violations - before);
			}
		}
	}
	res->fsck_skipped = !fsck_on;
	if (!fsck_on)
		fprintf(stderr, "crash: workload=%s: slot_fsck returned "
			"-ENOSYS; the fsck property is skipped\n", wl->name);
	if (res->skipped)
		fprintf(stderr, "crash: workload=%s: time budget of %.0f s "
			"spent; %" PRIu64 " crash points not tried "
			"(SLOT_CRASH_BUDGET=0 lifts it)\n", wl->name, budget,
			res->skipped);
	fprintf(stderr, "crash: workload=%s points=%" PRIu64 " images=%"
		PRIu64 " recovered=%" PRIu64 " refused=%" PRIu64
		" violations=%" PRIu64 " ops=%" PRIu64 " journal=%" PRIu64
		" mode=%s seed=%" PRIu64 " (%.1f s)\n", wl->name, res->points,
		res->images, res->recovered, res->refused, res->violations,
		res->nops, journal, mode, seed, cr_mono() - t0);
	free(pts);
	slot_emu_destroy(ce);
	slot_emu_destroy(fe);
	slot_emu_destroy(w.emu);
	cw_free(&w);
}
