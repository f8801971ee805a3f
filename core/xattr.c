/* SPDX-License-Identifier: MIT */
/*
 * xattr.c - extended attributes: an object's names and values, kept in RAM
 * beside the index and written as the checkpoint's last section.
 *
 * No slot header carries them, so a change is durable when the journal
 * carries it (an XATTR record) or a checkpoint does: fsync and sync take
 * one for an object whose change the journal could not take.  An access
 * ACL sets the mode bits, which slot headers do carry: till its record is
 * durable, a header of the object does not give the mode
 * (sl_xa_mode_owed), and recovery makes the mode bits an ACL's once the
 * index is whole (sl_xa_recover_modes).  The
 * store's first xattr sets the superblock's ro_compat XATTR bit, durably
 * and before any checkpoint can hold one, so a reader that does not know
 * the section opens the store read-only instead of writing checkpoints
 * without it.
 */
#include "internal.h"

/* One entry of a struct sl_xattrs, decoded in place. */
struct xa_ent {
	const char *name;
	const uint8_t *value;
	uint32_t vlen;
	uint8_t nlen;
	size_t off, size;       /* where it starts in ents, its bytes there */
};

static bool xa_ent_at(const struct sl_xattrs *x, size_t off, struct xa_ent *e)
{
	if (!x || off >= x->len)
		return false;
	const uint8_t *p = x->ents + off;
	e->nlen = p[0];
	memcpy(&e->vlen, p + 1, sizeof(e->vlen));
	e->name = (const char *)p + SL_XA_ENT_FIXED;
	e->value = p + SL_XA_ENT_FIXED + e->nlen;
	e->off = off;
	e->size = SL_XA_ENT_FIXED + (size_t)e->nlen + e->vlen;
	return true;
}

#define XA_EACH(x, e) \
	for (bool ok_ = xa_ent_at((x), 0, &(e)); ok_; \
	     ok_ = xa_ent_at((x), (e).off + (e).size, &(e)))

static bool xa_lookup(const struct sl_xattrs *x, const char *name,
		      size_t nlen, struct xa_ent *out)
{
	struct xa_ent e;
	XA_EACH(x, e) {
		if (e.nlen == nlen && !memcmp(e.name, name, nlen)) {
			*out = e;
			return true;
		}
	}
	return false;
}

/* Bytes of names and values: what SLOT_XATTR_OBJ_MAX bounds. */
static size_t xa_bytes(const struct sl_xattrs *x)
{
	return x ? x->len - (size_t)x->count * SL_XA_ENT_FIXED : 0;
}

/* Append name = value to n, which has room for it. */
static void xa_ent_append(struct sl_xattrs *n, const char *name, size_t nlen,
			  const void *value, uint32_t vlen)
{
	uint8_t *p = n->ents + n->len;
	p[0] = (uint8_t)nlen;
	memcpy(p + 1, &vlen, sizeof(vlen));
	memcpy(p + SL_XA_ENT_FIXED, name, nlen);
	if (vlen)
		memcpy(p + SL_XA_ENT_FIXED + nlen, value, vlen);
	n->len += (uint32_t)(SL_XA_ENT_FIXED + nlen + vlen);
	n->count++;
	n->ck += (uint32_t)sl_xattr_rec_size(nlen, vlen);
}

/* A copy of x without skip (NULL: none) and with name = value appended
 * (name NULL: none); NULL when out of memory. */
static struct sl_xattrs *xa_rebuild(const struct sl_xattrs *x,
				    const struct xa_ent *skip,
				    const char *name, size_t nlen,
				    const void *value, uint32_t vlen)
{
	size_t len = (x ? x->len : 0) - (skip ? skip->size : 0) +
		     (name ? SL_XA_ENT_FIXED + nlen + vlen : 0);
	struct sl_xattrs *n = malloc(sizeof(*n) + len);
	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	n->acl_ops = x ? x->acl_ops : 0;
	n->mode_before = x ? x->mode_before : 0;
	struct xa_ent e;
	XA_EACH(x, e) {
		if (skip && e.off == skip->off)
			continue;
		xa_ent_append(n, e.name, e.nlen, e.value, e.vlen);
	}
	if (name)
		xa_ent_append(n, name, nlen, value, vlen);
	return n;
}

static int xa_name_check(const char *name, size_t *nlen)
{
	size_t n = name ? strnlen(name, SLOT_XATTR_NAME_MAX + 1) : 0;
	if (n == 0 || n > SLOT_XATTR_NAME_MAX)
		return -ERANGE;
	*nlen = n;
	return 0;
}

/* Every value an object may hold fits one journal record. */
_Static_assert(SLOT_XATTR_OBJ_MAX - 1 <= SL_JNL_XATTR_MAX,
	       "an xattr value outgrew the journal's record");

/* The change of name (to value; NULL: removed) as a journal record. */
static struct sl_jnl_rec xa_record(uint64_t oid, const char *name,
				   size_t nlen, const void *value, size_t len)
{
	return (struct sl_jnl_rec){ .type = SL_JNL_XATTR, .oid = oid,
		.flags = value ? 0 : SL_JNL_XATTR_REMOVE, .name = name,
		.name_len = (uint16_t)nlen, .target = value,
		.target_len = (uint16_t)len };
}

/* Lock held.  o's xattrs changed (r: the change as a journal record):
 * the journal makes that durable, or a checkpoint when it could not take
 * r (sl_jnl_add then marks the namespace dirty). */
static void xa_changed(struct slot_store *s, struct sl_obj *o,
		       struct sl_jnl_rec *r)
{
	o->ctime = sl_now_ns();
	r->time_ns = o->ctime;
	if (sl_jnl_add(s, r))
		o->flags |= SL_OBJ_CKPT_OWED;
	else if (sl_acl_kind(r->name, r->name_len) != SL_ACL_NOT)
		sl_xa_acl_logged(s, o);
}

/* Lock held.  Unless err says the change failed, n (NULL: none) becomes
 * o's xattrs; else n is freed.  Returns err or the install's error. */
static int xa_commit(struct slot_store *s, struct sl_obj *o,
		     struct sl_xattrs *n, struct sl_jnl_rec *r, int err)
{
	if (!err)
		err = sl_xa_set(&s->ix, o->oid, n);
	if (!err)
		xa_changed(s, o, r);
	else
		free(n);
	return err;
}

/* The superblock says the checkpoints may hold xattrs, durably, before
 * the first one goes in. */
static int xa_feature_on(struct slot_store *s)
{
	int err = 0;
	/* once set, it stays: no wait for a checkpoint that holds the lock */
	if (__atomic_load_n(&s->sb.feature_ro_compat, __ATOMIC_ACQUIRE) &
	    SL_FEAT_RO_COMPAT_XATTR)
		return 0;
	pthread_mutex_lock(&s->ckpt_lock);
	if (!(s->sb.feature_ro_compat & SL_FEAT_RO_COMPAT_XATTR)) {
		err = sl_sb_ro_compat_add(s, SL_FEAT_RO_COMPAT_XATTR);
		if (err)
			sl_log(s, "writing the superblock's xattr feature: %s",
			       slot_strerror(err));
	}
	pthread_mutex_unlock(&s->ckpt_lock);
	return err;
}

/* Lock held.  o's mode bits changed with its access ACL. */
static void xa_mode_changed(struct slot_store *s, struct sl_obj *o,
			    uint32_t mode)
{
	o->mode = (o->mode & S_IFMT) | (mode & 07777);
	sl_ns_attrs_changed(s, o);
}

static int xa_set(struct slot_store *s, slot_ino_t ino, const char *name,
		  const void *value, size_t len, unsigned flags)
{
	size_t nlen;
	int err = xa_name_check(name, &nlen);
	if (err)
		return err;
	int kind = sl_acl_kind(name, nlen), acl_n = 0;
	if (kind < 0)
		return kind;
	if (len > SLOT_XATTR_SIZE_MAX)
		return -E2BIG;
	if ((len && !value) || (flags & ~(SLOT_XATTR_CREATE | SLOT_XATTR_REPLACE)))
		return -EINVAL;
	if (kind && (acl_n = sl_acl_check(value, len)) < 0)
		return acl_n;
	if (kind && !acl_n)     /* an empty ACL is none */
		return slot_xattr_remove(s, ino, name);
	if (s->read_only)
		return -EROFS;
	err = xa_feature_on(s);
	if (err)
		return err;

	sl_lock(s);
	struct sl_obj *o = sl_ns_obj(s, ino);
	struct sl_xattrs *x = o ? sl_xa_find(&s->ix, ino) : NULL;
	struct xa_ent old;
	bool had = xa_lookup(x, name, nlen, &old);
	uint32_t mode = o ? o->mode : 0;
	/* an access ACL the mode bits say all of is kept as those bits */
	bool keep = kind != SL_ACL_ACCESS || sl_acl_mode(value, acl_n, &mode);
	if (!o)
		err = -ENOENT;
	else if (kind == SL_ACL_DEFAULT && !S_ISDIR(o->mode))
		err = -EACCES;
	else if (kind == SL_ACL_ACCESS && S_ISLNK(o->mode))
		err = -EOPNOTSUPP;
	else if (had && (flags & SLOT_XATTR_CREATE))
		err = -EEXIST;
	else if (!had && (flags & SLOT_XATTR_REPLACE))
		err = -ENODATA;
	else if (xa_bytes(x) - (had ? old.nlen + (size_t)old.vlen : 0) + nlen +
		 len > SLOT_XATTR_OBJ_MAX)
		err = -ENOSPC;
	struct sl_xattrs *n = NULL;
	if (!err && (keep || had)) {
		n = xa_rebuild(x, had ? &old : NULL, keep ? name : NULL, nlen,
			       value, (uint32_t)len);
		if (!n)
			err = -ENOMEM;
		else if (!n->count) {
			free(n);
			n = NULL;
		}
	}
	uint32_t ck = n ? n->ck : 0;
	if (!err && ck > (x ? x->ck : 0))
		err = sl_ckpt_room(s, ck - (x ? x->ck : 0));
	/* an ACL not kept is a removal */
	struct sl_jnl_rec r = xa_record(ino, name, nlen,
					!keep ? NULL : value ? value : "",
					keep ? len : 0);
	if (keep || had || err)
		err = xa_commit(s, o, n, &r, err);
	else
		o->ctime = sl_now_ns(); /* no ACL to keep: the mode says it */
	if (!err && kind == SL_ACL_ACCESS)
		xa_mode_changed(s, o, mode);
	if (!err && kind && keep)
		__atomic_store_n(&s->acl_seen, true, __ATOMIC_RELAXED);
	sl_unlock(s);
	return err;
}

int slot_xattr_set(struct slot_store *s, slot_ino_t ino, const char *name,
		   const void *value, size_t len, unsigned flags)
{
	return SL_DYING_RETRY(s, xa_set(s, ino, name, value, len, flags));
}

ssize_t slot_xattr_get(struct slot_store *s, slot_ino_t ino,
		       const char *name, void *buf, size_t cap)
{
	size_t nlen;
	int err = xa_name_check(name, &nlen);
	if (err)
		return err;
	ssize_t ret;
	struct xa_ent e;
	sl_lock(s);
	struct sl_obj *o = sl_ns_obj(s, ino);
	if (!o)
		ret = -ENOENT;
	else if (!xa_lookup(sl_xa_find(&s->ix, ino), name, nlen, &e))
		ret = -ENODATA;
	else if (cap && cap < e.vlen)
		ret = -ERANGE;
	else {
		if (cap && e.vlen)
			memcpy(buf, e.value, e.vlen);
		ret = (ssize_t)e.vlen;
	}
	sl_unlock(s);
	return ret;
}

ssize_t slot_xattr_list(struct slot_store *s, slot_ino_t ino, char *buf,
			size_t cap)
{
	ssize_t ret = 0;
	struct xa_ent e;
	sl_lock(s);
	struct sl_xattrs *x = NULL;
	if (!sl_ns_obj(s, ino))
		ret = -ENOENT;
	else
		x = sl_xa_find(&s->ix, ino);
	size_t need = 0;
	XA_EACH(x, e)
		need += (size_t)e.nlen + 1;
	if (!ret && cap && cap < need)
		ret = -ERANGE;
	if (!ret && cap) {
		char *p = buf;
		XA_EACH(x, e) {
			memcpy(p, e.name, e.nlen);
			p[e.nlen] = 0;
			p += e.nlen + 1;
		}
	}
	if (!ret)
		ret = (ssize_t)need;
	sl_unlock(s);
	return ret;
}

int slot_xattr_remove(struct slot_store *s, slot_ino_t ino, const char *name)
{
	size_t nlen;
	int err = xa_name_check(name, &nlen), kind = 0;
	if (!err && (kind = sl_acl_kind(name, nlen)) < 0)
		err = kind;
	if (err)
		return err;
	if (s->read_only)
		return -EROFS;
	struct xa_ent e;
	sl_lock(s);
	struct sl_obj *o = sl_ns_obj(s, ino);
	struct sl_xattrs *x = o ? sl_xa_find(&s->ix, ino) : NULL;
	if (!o)
		err = -ENOENT;
	else if (!xa_lookup(x, name, nlen, &e))
		err = kind ? 1 : -ENODATA;  /* no ACL to remove: done */
	struct sl_xattrs *n = NULL;
	if (err > 0) {
		sl_unlock(s);
		return 0;
	}
	if (!err && x->count > 1) {
		n = xa_rebuild(x, &e, NULL, 0, NULL, 0);
		if (!n)
			err = -ENOMEM;
	}
	struct sl_jnl_rec r = xa_record(ino, name, nlen, NULL, 0);
	err = xa_commit(s, o, n, &r, err);
	sl_unlock(s);
	return err;
}

/* Loading or replaying name = value on o: a name in the system.
 * namespace is an ACL o may have, with a value that is one (FORMAT.md,
 * "ACLs"). */
static bool xa_acl_fits(struct slot_store *s, const struct sl_obj *o,
			const char *name, size_t nlen, const void *value,
			size_t vlen)
{
	int kind = sl_acl_kind(name, nlen);
	if (!kind)
		return true;
	if (kind < 0 || sl_acl_check(value, vlen) <= 0 ||
	    (kind == SL_ACL_DEFAULT && !S_ISDIR(o->mode)) ||
	    (kind == SL_ACL_ACCESS && S_ISLNK(o->mode)))
		return false;
	s->acl_seen = true;
	return true;
}

bool sl_xattr_replay(struct slot_store *s, const struct sl_jnl_rec *r,
		     uint64_t gen)
{
	struct sl_obj *o = sl_obj_find(&s->ix, r->oid);
	if (!o)
		return true;    /* gone since */
	bool rm = r->flags & SL_JNL_XATTR_REMOVE;
	/* a writer sets the superblock's bit before its first attribute */
	if (!(s->sb.feature_ro_compat & SL_FEAT_RO_COMPAT_XATTR) ||
	    !r->name_len || sl_acl_kind(r->name, r->name_len) < 0 ||
	    (r->flags & ~SL_JNL_XATTR_REMOVE) || (rm && r->target_len) ||
	    (!rm && !xa_acl_fits(s, o, r->name, r->name_len, r->target,
				 r->target_len)))
		return false;
	struct sl_xattrs *x = sl_xa_find(&s->ix, r->oid);
	struct xa_ent old;
	bool had = xa_lookup(x, r->name, r->name_len, &old);
	if (!rm && xa_bytes(x) - (had ? old.nlen + (size_t)old.vlen : 0) +
		   r->name_len + r->target_len > SLOT_XATTR_OBJ_MAX)
		return false;
	if (had || !rm) {
		struct sl_xattrs *n = xa_rebuild(x, had ? &old : NULL,
						 rm ? NULL : r->name,
						 r->name_len, r->target,
						 r->target_len);
		if (!n)
			return false;
		if (!n->count) {
			free(n);
			n = NULL;
		}
		if (sl_xa_set(&s->ix, o->oid, n)) {
			free(n);
			return false;
		}
	}
	/* a slot header written after the journal slot has newer times */
	if (!sl_obj_written_since(o, gen + 1))
		o->ctime = r->time_ns;
	return true;
}

/* ------------------------------------------------------------------ */
/* ACLs                                                                */
/* ------------------------------------------------------------------ */

static bool xa_acl_find(const struct sl_xattrs *x, const char *name,
			struct xa_ent *e)
{
	return xa_lookup(x, name, strlen(name), e);
}

int sl_xa_acl_chmod(struct slot_store *s, struct sl_obj *o, uint32_t mode)
{
	struct sl_xattrs *x = sl_xa_find(&s->ix, o->oid);
	struct xa_ent e;
	if (!xa_acl_find(x, SLOT_XATTR_ACL_ACCESS, &e))
		return 0;
	uint32_t len = e.vlen;
	uint8_t *v = malloc(len);
	if (!v)
		return -ENOMEM;
	memcpy(v, e.value, len);
	/* loaded and set values were checked */
	sl_acl_chmod(v, (size_t)sl_acl_check(v, len), mode);
	bool same = !memcmp(v, e.value, len);        /* already in step */
	struct sl_xattrs *n = same ? NULL :
			      xa_rebuild(x, &e, e.name, e.nlen, v, len);
	int err = same ? 0 : n ? 0 : -ENOMEM;
	if (!same && n) {
		/* the record's name is not x's, which the commit frees */
		struct sl_jnl_rec r = xa_record(o->oid, SLOT_XATTR_ACL_ACCESS,
						strlen(SLOT_XATTR_ACL_ACCESS),
						v, len);
		err = xa_commit(s, o, n, &r, 0);
	}
	free(v);
	return err;
}

bool sl_xa_acl_bits(struct slot_store *s, const struct sl_obj *o,
		    uint32_t *bits)
{
	struct xa_ent e;
	if (!xa_acl_find(sl_xa_find(&s->ix, o->oid), SLOT_XATTR_ACL_ACCESS,
			 &e))
		return false;
	int n = sl_acl_check(e.value, e.vlen);
	*bits = 0;
	if (n > 0)
		sl_acl_mode(e.value, (size_t)n, bits);
	return n > 0;
}

int sl_xa_inherit(struct slot_store *s, uint64_t dir, uint32_t *mode,
		  struct sl_xattrs **out)
{
	struct xa_ent d;
	*out = NULL;
	if (S_ISLNK(*mode) ||
	    !xa_acl_find(sl_xa_find(&s->ix, dir), SLOT_XATTR_ACL_DEFAULT, &d))
		return 0;
	int n = sl_acl_check(d.value, d.vlen);
	if (n <= 0)
		return 0;
	uint8_t *acc = malloc(d.vlen);
	if (!acc)
		return -ENOMEM;
	memcpy(acc, d.value, d.vlen);
	bool keep = sl_acl_create_mask(acc, (size_t)n, mode);
	size_t alen = strlen(SLOT_XATTR_ACL_ACCESS);
	size_t len = (keep ? SL_XA_ENT_FIXED + alen + d.vlen : 0) +
		     (S_ISDIR(*mode) ? SL_XA_ENT_FIXED + d.nlen + d.vlen : 0);
	struct sl_xattrs *x = len ? malloc(sizeof(*x) + len) : NULL;
	if (len && !x) {
		free(acc);
		return -ENOMEM;
	}
	if (x) {
		memset(x, 0, sizeof(*x));
		if (keep)
			xa_ent_append(x, SLOT_XATTR_ACL_ACCESS, alen, acc,
				      d.vlen);
		if (S_ISDIR(*mode))
			xa_ent_append(x, d.name, d.nlen, d.value, d.vlen);
	}
	free(acc);
	*out = x;
	return 1;
}

void sl_xa_acl_logged(struct slot_store *s, const struct sl_obj *o)
{
	struct sl_xattrs *x = sl_xa_find(&s->ix, o->oid);
	/* none left: the mode stayed (a removal), or the ACL went into it
	 * whole, and recovery's sl_xa_recover_modes mends an old ACL */
	if (!x)
		return;
	/* the first of a run not yet durable: the mode a crash may find
	 * with no ACL (an ACL durable before wins over it at recovery) */
	if (x->acl_ops <= s->jnl_ops_done)
		x->mode_before = o->mode;
	x->acl_ops = s->jnl_ops;
}

bool sl_xa_mode_owed(struct slot_store *s, const struct sl_obj *o,
		     uint32_t *mode)
{
	if (!__atomic_load_n(&s->acl_seen, __ATOMIC_RELAXED))
		return false;
	const struct sl_xattrs *x = sl_xa_find(&s->ix, o->oid);
	if (!x || x->acl_ops <= s->jnl_ops_done)
		return false;
	*mode = x->mode_before;
	return true;
}

void sl_xa_recover_modes(struct slot_store *s)
{
	struct sl_index *ix = &s->ix;
	for (size_t b = 0; ix->xa_tab && b <= ix->xa_mask; b++)
		for (struct sl_xattrs *x = ix->xa_tab[b]; x; x = x->hnext) {
			struct sl_obj *o = sl_obj_find(ix, x->oid);
			uint32_t bits;
			if (!o || !sl_xa_acl_bits(s, o, &bits) ||
			    (o->mode & 0777) == bits)
				continue;
			o->mode = (o->mode & ~0777u) | bits;
			sl_ns_dirty(s);
		}
}

/* ------------------------------------------------------------------ */
/* The checkpoint section                                              */
/* ------------------------------------------------------------------ */

/* Lock held.  Each object whose xattrs go in, once: fn(arg, x). */
static void xa_each_wanted(struct slot_store *s,
			   bool (*wanted)(const struct sl_obj *),
			   void (*fn)(void *arg, const struct sl_xattrs *x),
			   void *arg)
{
	struct sl_index *ix = &s->ix;
	for (size_t b = 0; ix->xa_tab && b <= ix->xa_mask; b++)
		for (struct sl_xattrs *x = ix->xa_tab[b]; x; x = x->hnext) {
			struct sl_obj *o = sl_obj_find(ix, x->oid);
			if (o && wanted(o))
				fn(arg, x);
		}
}

struct xa_sum {
	uint64_t bytes, records;
	uint8_t *p;
};

static void xa_sum_one(void *arg, const struct sl_xattrs *x)
{
	struct xa_sum *sum = arg;
	sum->bytes += x->ck;
	sum->records += x->count;
}

uint64_t sl_xattr_ckpt_size(struct slot_store *s,
			    bool (*wanted)(const struct sl_obj *),
			    uint64_t *records)
{
	struct xa_sum sum = { 0 };
	xa_each_wanted(s, wanted, xa_sum_one, &sum);
	*records = sum.records;
	return sum.bytes;
}

/* Record layout: FORMAT.md, "Extended attributes". */
static void xa_encode_one(void *arg, const struct sl_xattrs *x)
{
	struct xa_sum *sum = arg;
	struct xa_ent e;
	XA_EACH(x, e) {
		struct sl_xattr_rec r = { .oid = x->oid, .value_len = e.vlen,
					  .name_len = e.nlen, .name = e.name,
					  .value = e.value };
		sum->p += sl_xattr_rec_encode(&r, sum->p);
	}
}

void sl_xattr_ckpt_encode(struct slot_store *s,
			  bool (*wanted)(const struct sl_obj *), uint8_t *p)
{
	struct xa_sum sum = { .p = p };
	xa_each_wanted(s, wanted, xa_encode_one, &sum);
}

/* A record of the section, and its place there. */
struct xa_rec {
	struct sl_xattr_rec r;
	uint64_t seq;
};

static bool xa_rec_same(const struct sl_xattr_rec *x,
			const struct sl_xattr_rec *y)
{
	return x->oid == y->oid && x->name_len == y->name_len &&
	       !memcmp(x->name, y->name, x->name_len);
}

/* By object, then name, then place: of two records of one name, the
 * first in the section comes first. */
static int xa_rec_cmp(const void *a, const void *b)
{
	const struct xa_rec *xs = a, *ys = b;
	const struct sl_xattr_rec *x = &xs->r, *y = &ys->r;
	if (x->oid != y->oid)
		return x->oid < y->oid ? -1 : 1;
	int c = memcmp(x->name, y->name, SL_MIN(x->name_len, y->name_len));
	if (!c)
		c = (int)x->name_len - (int)y->name_len;
	return c ? c : xs->seq < ys->seq ? -1 : xs->seq > ys->seq;
}

/* The records of one object, r[0, n), sorted (xa_rec_cmp): its xattrs,
 * the first record of a name kept and the object's bytes bounded, the
 * rest counted as damage.  Sorted, then built in one allocation: loading
 * costs n log n however the records lie. */
static int xa_load_object(struct slot_store *s, const struct xa_rec *rs,
			  size_t n)
{
	size_t len = 0, bytes = 0, keep = 0;
	bool *ok = calloc(n, sizeof(*ok));
	if (!ok)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct sl_xattr_rec *r = &rs[i].r;
		bool dup = i && xa_rec_same(&rs[i - 1].r, r);
		if (dup || bytes + r->name_len + r->value_len >
				   SLOT_XATTR_OBJ_MAX) {
			s->load_bad_xattrs++;
			continue;
		}
		ok[i] = true;
		keep++;
		bytes += r->name_len + (size_t)r->value_len;
		len += SL_XA_ENT_FIXED + r->name_len + (size_t)r->value_len;
	}
	struct sl_xattrs *x = keep ? malloc(sizeof(*x) + len) : NULL;
	int err = keep && !x ? -ENOMEM : 0;
	if (x) {
		memset(x, 0, sizeof(*x));
		for (size_t i = 0; i < n; i++)
			if (ok[i])
				xa_ent_append(x, rs[i].r.name, rs[i].r.name_len,
					      rs[i].r.value, rs[i].r.value_len);
		err = sl_xa_set(&s->ix, rs[0].r.oid, x);
		if (err)
			free(x);
	}
	free(ok);
	return err;
}


int sl_xattr_ckpt_parse(struct slot_store *s, const struct sl_ckpt_hdr *h,
			const uint8_t *payload)
{
	uint64_t off;
	if (sl_ckpt_xattrs(h, &off)) {
		s->load_bad_xattrs += h->xattr_count;
		return 0;
	}
	if (!h->xattr_count)
		return 0;
	/* xattr_count records of 16 bytes fit in the payload: bounded */
	struct xa_rec *r = malloc((size_t)h->xattr_count * sizeof(*r));
	if (!r)
		return -ENOMEM;
	size_t n = 0;
	const uint8_t *p = payload + off, *end = payload + h->payload_len;
	for (uint64_t i = 0; i < h->xattr_count; i++) {
		struct xa_rec x = { .seq = i };
		int64_t size = sl_xattr_rec_decode(p, (size_t)(end - p), &x.r);
		if (size < 0) {
			/* the rest cannot be found: all of it is lost */
			s->load_bad_xattrs += h->xattr_count - i;
			break;
		}
		p += size;
		const struct sl_obj *o = sl_obj_find(&s->ix, x.r.oid);
		if (!x.r.name_len || memchr(x.r.name, 0, x.r.name_len) ||
		    x.r.value_len > SLOT_XATTR_SIZE_MAX || !o ||
		    !xa_acl_fits(s, o, x.r.name, x.r.name_len, x.r.value,
				 x.r.value_len)) {
			s->load_bad_xattrs++;
			continue;
		}
		r[n++] = x;
	}
	qsort(r, n, sizeof(*r), xa_rec_cmp);
	int err = 0;
	for (size_t i = 0, j; !err && i < n; i = j) {
		for (j = i + 1; j < n && r[j].r.oid == r[i].r.oid; j++)
			;
		err = xa_load_object(s, &r[i], j - i);
	}
	free(r);
	return err;
}
