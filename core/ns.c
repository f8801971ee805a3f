/* SPDX-License-Identifier: MIT */
/*
 * ns.c - the namespace: directories, names, links and attributes.
 *
 * Names map to object ids, so rename and link change the index only and
 * never move data.  Every function here takes the store lock once and does
 * no I/O, except truncation through setattr (file.c).
 */
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

int sl_ns_check_name(const char *name, size_t *len)
{
	size_t n = strnlen(name, SLOT_NAME_MAX + 1);
	if (n == 0)
		return -ENOENT;
	if (n > SLOT_NAME_MAX)
		return -ENAMETOOLONG;
	if (memchr(name, '/', n))
		return -EINVAL;
	*len = n;
	return 0;
}

bool sl_ns_is_dot(const char *name, size_t len)
{
	return (len == 1 && name[0] == '.') ||
	       (len == 2 && name[0] == '.' && name[1] == '.');
}

#define NS_PER_S 1000000000

/* A time kept as s64 ns since the epoch (FORMAT.md): 1677-09-21 to
 * 2262-04-11.  Beyond those it is the nearest end, as the kernel clamps a
 * time to what ext4's inodes hold, instead of wrapping around. */
static int64_t ns_time_of(const struct timespec *ts)
{
	int64_t v;
	if (__builtin_mul_overflow((int64_t)ts->tv_sec, (int64_t)NS_PER_S,
				   &v) ||
	    __builtin_add_overflow(v, (int64_t)ts->tv_nsec, &v))
		return ts->tv_sec < 0 ? INT64_MIN : INT64_MAX;
	return v;
}

/* ... and back: before the epoch too, tv_nsec within [0, 1 s). */
static struct timespec ns_time_ts(int64_t ns)
{
	int64_t sec = ns / NS_PER_S, nsec = ns % NS_PER_S;
	if (nsec < 0) {
		sec--;
		nsec += NS_PER_S;
	}
	return (struct timespec){ .tv_sec = (time_t)sec, .tv_nsec = nsec };
}

static bool ns_time_valid(const struct timespec *ts)
{
	return ts->tv_nsec >= 0 && ts->tv_nsec < NS_PER_S;
}

/*
 * 512-byte units a file holds: its chunks' slots, and the chunks still
 * gathered in memory (as ext4 counts its delayed allocations).  A file
 * with data and no blocks is taken for all holes: GNU tar --sparse then
 * archives it as zeros.  Lock held.
 */
static uint64_t ns_blocks(const struct sl_obj *co)
{
	struct sl_obj *o = (struct sl_obj *)co;   /* only looked at */
	uint64_t bytes = 0;

	for (uint32_t i = 0; i < o->nchunks; i++)
		bytes += SL_ALIGN_UP((uint64_t)o->chunks[i].len, SL_BLOCK);
	/* what a buffer holds beyond its slot: a walk of the buffers, not
	 * of every chunk of a big file */
	for (const struct sl_wbuf *w = o->wb; w; w = w->next) {
		const struct sl_chunk *c = sl_obj_chunk(o, w->idx);
		bytes += sl_file_data_len(w, c, w->idx) -
			 (c ? SL_ALIGN_UP((uint64_t)c->len, SL_BLOCK) : 0);
	}
	return bytes / 512;
}

void sl_attr_fill(const struct slot_store *s, const struct sl_obj *o,
		  struct slot_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = o->oid;
	a->mode = o->mode;
	a->nlink = o->nlink;
	a->uid = o->uid;
	a->gid = o->gid;
	a->rdev = sl_obj_rdev(o);
	a->size = S_ISLNK(o->mode) && o->target ? strlen(o->target) : o->size;
	/* and what fallocate set aside, as ext4 counts unwritten extents */
	a->blocks = ns_blocks(o) +
		    (sl_resv_count(s, o) << s->sb.chunk_shift) / 512;
	a->atime = ns_time_ts(o->atime);
	a->mtime = ns_time_ts(o->mtime);
	a->ctime = ns_time_ts(o->ctime);
}

static void ns_free_chunks(struct slot_store *s, struct sl_obj *o,
			   void (*slot_free)(struct slot_store *, uint64_t))
{
	for (uint32_t i = 0; i < o->nchunks; i++)
		slot_free(s, o->chunks[i].slot);
	o->nchunks = 0;
	sl_resv_cut(s, o, 0, UINT32_MAX);
}

void sl_obj_free_chunks(struct slot_store *s, struct sl_obj *o)
{
	ns_free_chunks(s, o, sl_slot_free);
}

/* Counted in slot_store.dying: a regular file with no name left that no
 * one has open (a saturated count never comes down: open till unmount). */
static bool ns_dying(const struct sl_obj *o)
{
	return S_ISREG(o->mode) && (o->flags & SL_OBJ_DELETED) && !o->opens;
}

/* Lock held.  A file stops dying. */
static void ns_dying_sub(struct slot_store *s)
{
	s->dying--;
	s->dying_floor = SL_MIN(s->dying_floor, s->dying);
	pthread_cond_broadcast(&s->dying_cond);
}

/* Lock held.  o's last name went. */
static void ns_mark_deleted(struct slot_store *s, struct sl_obj *o)
{
	if (o->flags & SL_OBJ_DELETED)
		return;
	o->flags |= SL_OBJ_DELETED;
	if (ns_dying(o))
		s->dying++;
}

bool sl_dying_wait(struct slot_store *s)
{
	int64_t due = sl_mono_ns() + SL_DYING_WAIT_MS * 1000000ll;
	struct timespec ts = { .tv_sec = due / 1000000000,
			       .tv_nsec = due % 1000000000 };
	sl_lock(s);
	size_t before = s->dying;
	if (before <= s->dying_floor) {
		sl_unlock(s);
		return false;
	}
	s->dying_waits++;
	s->dying_waiters++;
	while (s->dying > s->dying_floor &&
	       pthread_cond_timedwait(&s->dying_cond, &s->lock, &ts) !=
		       ETIMEDOUT)
		;
	s->dying_waiters--;
	bool went = s->dying < before;
	if (!went)
		s->dying_floor = before;
	sl_unlock(s);
	return went;
}

void sl_obj_release_if_dead(struct slot_store *s, struct sl_obj *o)
{
	if (o->nlink || o->holds || o->busy)
		return;
	if (ns_dying(o))
		ns_dying_sub(s);
	sl_wb_drop_all(s, o);
	/* until the deletion is durable, a crash brings o back: with its
	 * data, so its slots wait */
	ns_free_chunks(s, o, sl_slot_free_held);
	sl_obj_remove(&s->ix, o);
}

static struct sl_obj *ns_dir(struct slot_store *s, slot_ino_t ino, int *err)
{
	struct sl_obj *d = sl_obj_find(&s->ix, ino);
	if (!d || (d->nlink == 0 && ino != SLOT_ROOT_INO) ||
	    (d->flags & SL_OBJ_PENDING)) {
		*err = -ENOENT;
		return NULL;
	}
	if (!S_ISDIR(d->mode)) {
		*err = -ENOTDIR;
		return NULL;
	}
	return d;
}

struct sl_obj *sl_ns_obj(struct slot_store *s, slot_ino_t ino)
{
	struct sl_obj *o = sl_obj_find(&s->ix, ino);
	if (o && (o->flags & SL_OBJ_PENDING))
		return NULL;
	return o;
}

static void ns_touch(struct sl_obj *o, int64_t now)
{
	o->mtime = o->ctime = now;
}

/* Lock held.  Make object oid named name in parent, at time now. */
static struct sl_obj *ns_create(struct slot_store *s, struct sl_obj *parent,
				const char *name, size_t len, uint32_t mode,
				uint32_t uid, uint32_t gid, uint64_t oid,
				int64_t now, int *err)
{
	struct sl_obj *o = sl_obj_new(&s->ix, oid, mode);
	if (!o) {
		*err = -ENOMEM;
		return NULL;
	}
	struct sl_dirent *de = sl_de_add(&s->ix, parent, name, len, o->oid);
	if (!de) {
		sl_obj_remove(&s->ix, o);
		*err = -ENOMEM;
		return NULL;
	}
	if (oid >= s->next_oid)
		s->next_oid = oid + 1;
	o->uid = uid;
	o->gid = gid;
	o->nlink = 1;
	o->atime = o->mtime = o->ctime = now;
	o->name = de;
	if (S_ISDIR(mode)) {
		o->nlink = 2;
		o->dir->parent = parent->oid;
		parent->nlink++;
	}
	ns_touch(parent, now);
	return o;
}

/* Lock held.  A journal record of a change to name in parent. */
static struct sl_jnl_rec ns_rec(unsigned type, uint64_t oid, uint64_t parent,
				const char *name, size_t len, int64_t now)
{
	return (struct sl_jnl_rec){ .type = (uint8_t)type, .oid = oid,
				    .parent = parent, .name = name,
				    .name_len = (uint16_t)len, .time_ns = now };
}

/* Lock held.  Log o, just made as name in parent. */
static void ns_log_make(struct slot_store *s, const struct sl_obj *o,
			uint64_t parent, const char *name, size_t len,
			bool inherit)
{
	struct sl_jnl_rec r = ns_rec(SL_JNL_MAKE, o->oid, parent, name, len,
				     o->ctime);
	r.flags = inherit ? SL_JNL_INHERIT : 0;
	r.mode = o->mode;
	r.uid = o->uid;
	r.gid = o->gid;
	r.rdev = sl_obj_rdev(o);
	if (S_ISLNK(o->mode)) {
		r.target = o->target;
		r.target_len = (uint16_t)strlen(o->target);
	}
	if (!sl_jnl_add(s, &r) && inherit)
		sl_xa_acl_logged(s, o);
}

struct sl_obj *sl_ns_mkdir_locked(struct slot_store *s, struct sl_obj *parent,
				  const char *name, size_t len, uint32_t mode,
				  uint32_t uid, uint32_t gid)
{
	int err;
	struct sl_obj *o = ns_create(s, parent, name, len, S_IFDIR | (mode & 07777),
				     uid, gid, s->next_oid, sl_now_ns(), &err);
	if (o)
		ns_log_make(s, o, parent->oid, name, len, false);
	return o;
}

/* /lost+found, made as needed.  The name is the user's too (a file, or a
 * key, may take it): then /lost+found.1, .2, and so on, the first that
 * is a directory or free.  NULL: no memory, or no room to name one. */
struct sl_obj *sl_lost_found(struct slot_store *s)
{
	struct sl_obj *root = sl_obj_find(&s->ix, SLOT_ROOT_INO);
	char nm[32] = "lost+found";
	size_t len = 10;
	for (unsigned n = 1; root && n <= 1000; n++) {
		struct sl_dirent *de = sl_de_find(&s->ix, SLOT_ROOT_INO, nm, len);
		if (!de)
			return sl_ns_mkdir_locked(s, root, nm, len, 0700, 0, 0);
		struct sl_obj *o = sl_obj_find(&s->ix, de->child);
		if (o && S_ISDIR(o->mode))
			return o;
		len = (size_t)snprintf(nm, sizeof(nm), "lost+found.%u", n);
	}
	return NULL;
}

int sl_ns_resolve(struct slot_store *s, const char *key, bool create,
		  struct sl_obj **parent, const char **name, size_t *len)
{
	if (strnlen(key, SLOT_PATH_MAX) >= SLOT_PATH_MAX)
		return -ENAMETOOLONG;
	struct sl_obj *dir = sl_obj_find(&s->ix, SLOT_ROOT_INO);
	const char *p = key;
	for (;;) {
		while (*p == '/')
			p++;
		const char *e = strchrnul(p, '/');
		size_t n = (size_t)(e - p);
		if (n == 0)
			return -EINVAL; /* empty key */
		if (n > SLOT_NAME_MAX)
			return -ENAMETOOLONG;
		if (sl_ns_is_dot(p, n))
			return -EINVAL;
		const char *q = e;
		while (*q == '/')
			q++;
		if (*q == 0) {
			if (*e)         /* "a/": names a directory, not a key */
				return -EINVAL;
			*parent = dir;
			*name = p;
			*len = n;
			return 0;
		}
		struct sl_dirent *de = sl_de_find(&s->ix, dir->oid, p, n);
		struct sl_obj *next = NULL;
		if (de && !(de->flags & SL_DE_PENDING))
			next = sl_obj_find(&s->ix, de->child);
		if (!next) {
			if (!create || de)
				return -ENOENT;
			int err = sl_ckpt_room(s, SL_CKPT_OBJ_SIZE +
					       sl_ckpt_name_size(n));
			if (err)
				return err;
			next = sl_ns_mkdir_locked(s, dir, p, n, 0755,
						  (uint32_t)geteuid(),
						  (uint32_t)getegid());
			if (!next)
				return -ENOMEM;
		} else if (!S_ISDIR(next->mode)) {
			return -ENOTDIR;
		}
		dir = next;
		p = e;
	}
}

/* ------------------------------------------------------------------ */
/* Public namespace operations                                         */
/* ------------------------------------------------------------------ */

int slot_ns_lookup(struct slot_store *s, slot_ino_t parent, const char *name,
		   struct slot_attr *out)
{
	size_t len;
	int err = sl_ns_check_name(name, &len);
	if (err)
		return err;
	sl_lock(s);
	struct sl_obj *d = ns_dir(s, parent, &err);
	struct sl_obj *o = NULL;
	if (d) {
		if (len == 1 && name[0] == '.') {
			o = d;
		} else if (len == 2 && name[0] == '.' && name[1] == '.') {
			o = sl_obj_find(&s->ix, d->dir->parent);
		} else {
			struct sl_dirent *de = sl_de_find(&s->ix, parent, name, len);
			if (de && !(de->flags & SL_DE_PENDING))
				o = sl_obj_find(&s->ix, de->child);
		}
		err = o ? 0 : -ENOENT;
		if (o && out)
			sl_attr_fill(s, o, out);
	}
	sl_unlock(s);
	return err;
}

int slot_ns_getattr(struct slot_store *s, slot_ino_t ino,
		    struct slot_attr *out)
{
	sl_lock(s);
	struct sl_obj *o = sl_ns_obj(s, ino);
	if (o)
		sl_attr_fill(s, o, out);
	sl_unlock(s);
	return o ? 0 : -ENOENT;
}

/* relatime's "a day old" (mount(8)) */
#define NS_ATIME_DAY_NS (24LL * 3600 * 1000000000)

int slot_ns_accessed(struct slot_store *s, slot_ino_t ino, unsigned rule)
{
	if (s->read_only)
		return 0;
	int ret = -ENOENT;
	sl_lock(s);
	struct sl_obj *o = sl_ns_obj(s, ino);
	if (o) {
		int64_t now = sl_now_ns();
		bool due = rule == SLOT_ATIME_STRICT || o->atime <= o->mtime ||
			   o->atime <= o->ctime ||
			   o->atime <= now - NS_ATIME_DAY_NS;
		ret = due && o->atime != now;
		if (ret) {
			o->atime = now;
			sl_dirty(s);
		}
	}
	sl_unlock(s);
	return ret;
}

int sl_file_truncate(struct slot_store *s, slot_ino_t ino, uint64_t size);

int slot_ns_setattr(struct slot_store *s, slot_ino_t ino,
		    const struct slot_attr *in, unsigned mask,
		    struct slot_attr *out)
{
	if (s->read_only)
		return -EROFS;
	if (((mask & SLOT_SET_ATIME) && !ns_time_valid(&in->atime)) ||
	    ((mask & SLOT_SET_MTIME) && !ns_time_valid(&in->mtime)) ||
	    ((mask & SLOT_SET_CTIME) && !ns_time_valid(&in->ctime)))
		return -EINVAL;         /* as utimensat(2) */
	if (mask & SLOT_SET_SIZE) {
		int err = sl_file_truncate(s, ino, in->size);
		if (err)
			return err;
	}
	sl_lock(s);
	struct sl_obj *o = sl_ns_obj(s, ino);
	if (!o) {
		sl_unlock(s);
		return -ENOENT;
	}
	int err = 0;
	if (mask & SLOT_SET_MODE)
		err = sl_xa_acl_chmod(s, o, in->mode);
	if (err) {
		sl_unlock(s);
		return err;
	}
	int64_t now = sl_now_ns();
	if (mask & SLOT_SET_MODE)
		o->mode = (o->mode & S_IFMT) | (in->mode & 07777);
	if (mask & SLOT_SET_UID)
		o->uid = in->uid;
	if (mask & SLOT_SET_GID)
		o->gid = in->gid;
	if (mask & SLOT_SET_ATIME_NOW)
		o->atime = now;
	else if (mask & SLOT_SET_ATIME)
		o->atime = ns_time_of(&in->atime);
	if (mask & SLOT_SET_MTIME_NOW)
		o->mtime = now;
	else if (mask & SLOT_SET_MTIME)
		o->mtime = ns_time_of(&in->mtime);
	if (mask & SLOT_SET_CTIME)
		o->ctime = ns_time_of(&in->ctime);
	else if (mask)
		o->ctime = now;
	/* (truncation marked the object itself) */
	if (mask & ~SLOT_SET_SIZE)
		sl_ns_attrs_changed(s, o);
	sl_dirty(s);
	if (out)
		sl_attr_fill(s, o, out);
	sl_unlock(s);
	return 0;
}

/* The type and bits a new object gets: -EINVAL for an unknown type or
 * a target given to anything but a symlink (and only to it). */
static int ns_new_mode(const struct slot_ns_new *nw, uint32_t *mode)
{
	uint32_t m = nw->mode, type = m & S_IFMT;
	if (!type)
		type = S_IFREG;
	if (type != S_IFREG && type != S_IFDIR && type != S_IFLNK &&
	    type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR &&
	    type != S_IFBLK)
		return -EINVAL;
	if ((type == S_IFLNK) != (nw->target != NULL))
		return -EINVAL;
	*mode = type | (type == S_IFLNK ? 0777 : m & 07777);
	return 0;
}

static int ns_make(struct slot_store *s, slot_ino_t parent, const char *name,
		   const struct slot_ns_new *nw, struct slot_attr *out)
{
	size_t len;
	uint32_t mode;
	int err = sl_ns_check_name(name, &len);
	if (err)
		return err;
	if (sl_ns_is_dot(name, len))
		return -EEXIST;
	if ((err = ns_new_mode(nw, &mode)))
		return err;
	if (s->read_only)
		return -EROFS;
	char *t = NULL;
	if (nw->target) {
		size_t tl = strnlen(nw->target, SLOT_PATH_MAX);
		if (tl >= SLOT_PATH_MAX)
			return -ENAMETOOLONG;
		t = strdup(nw->target);
		if (!t)
			return -ENOMEM;
	}
	sl_lock(s);
	struct sl_obj *d = ns_dir(s, parent, &err);
	struct sl_obj *o = NULL;
	struct sl_xattrs *xa = NULL;
	int inherit = 0;
	if (d && sl_de_find(&s->ix, parent, name, len))
		err = -EEXIST;
	else if (d && (nw->flags & SLOT_NS_ACL))
		err = inherit = sl_xa_inherit(s, parent, &mode, &xa);
	if (d && err >= 0) {
		/* a default ACL takes the umask's place (POSIX.1e) */
		if (!inherit && !S_ISLNK(mode))
			mode &= ~(nw->umask & 0777);
		err = sl_ckpt_room(s, SL_CKPT_OBJ_SIZE + sl_ckpt_name_size(len) +
				   (t ? strlen(t) : 0) + (xa ? xa->ck : 0));
		/* the xattrs go in under the oid ns_create is about to give */
		if (!err && xa)
			err = sl_xa_set(&s->ix, s->next_oid, xa);
		if (err) {
			free(xa);
			xa = NULL;
		} else if (!(o = ns_create(s, d, name, len, mode, nw->uid,
					   nw->gid, s->next_oid, sl_now_ns(),
					   &err)) && xa) {
			sl_xa_set(&s->ix, s->next_oid, NULL);   /* frees xa */
			xa = NULL;
		}
	}
	if (o) {
		if (S_ISCHR(mode) || S_ISBLK(mode))
			o->rdev = nw->rdev;
		if (t) {
			s->ix.names_ck += strlen(t);
			o->target = t;
			t = NULL;
		}
		/* the journal carries the new name (a regular file's rides
		 * in its first slot header too), and its replay inherits
		 * the ACL again from the directory as it then is */
		ns_log_make(s, o, parent, name, len, xa != NULL);
		if (out)
			sl_attr_fill(s, o, out);
	}
	sl_unlock(s);
	free(t);
	return o ? 0 : err;
}

int slot_ns_mknod(struct slot_store *s, slot_ino_t parent, const char *name,
		  uint32_t mode, uint64_t rdev, uint32_t uid, uint32_t gid,
		  struct slot_attr *out)
{
	uint32_t type = mode & S_IFMT;
	if (type == S_IFDIR || type == S_IFLNK)
		return -EINVAL;
	struct slot_ns_new nw = { .mode = mode, .rdev = rdev, .uid = uid,
				  .gid = gid };
	return slot_ns_make(s, parent, name, &nw, out);
}

int slot_ns_mkdir(struct slot_store *s, slot_ino_t parent, const char *name,
		  uint32_t mode, uint32_t uid, uint32_t gid,
		  struct slot_attr *out)
{
	struct slot_ns_new nw = { .mode = S_IFDIR | (mode & 07777),
				  .uid = uid, .gid = gid };
	return slot_ns_make(s, parent, name, &nw, out);
}

int slot_ns_symlink(struct slot_store *s, slot_ino_t parent, const char *name,
		    const char *target, uint32_t uid, uint32_t gid,
		    struct slot_attr *out)
{
	struct slot_ns_new nw = { .mode = S_IFLNK, .target = target,
				  .uid = uid, .gid = gid };
	return slot_ns_make(s, parent, name, &nw, out);
}

int slot_ns_make(struct slot_store *s, slot_ino_t parent, const char *name,
		 const struct slot_ns_new *nw, struct slot_attr *out)
{
	return SL_DYING_RETRY(s, ns_make(s, parent, name, nw, out));
}

int slot_ns_readlink(struct slot_store *s, slot_ino_t ino, char *buf,
		     size_t cap)
{
	int ret;
	sl_lock(s);
	struct sl_obj *o = sl_ns_obj(s, ino);
	if (!o)
		ret = -ENOENT;
	else if (!S_ISLNK(o->mode))
		ret = -EINVAL;
	else {
		size_t n = strlen(o->target);
		if (n + 1 > cap) {
			ret = -ENAMETOOLONG;
		} else {
			memcpy(buf, o->target, n + 1);
			ret = (int)n;
		}
	}
	sl_unlock(s);
	return ret;
}

static int ns_link(struct slot_store *s, slot_ino_t ino, slot_ino_t newparent,
		   const char *newname, struct slot_attr *out)
{
	size_t len;
	int err = sl_ns_check_name(newname, &len);
	if (err)
		return err;
	if (sl_ns_is_dot(newname, len))
		return -EEXIST;
	if (s->read_only)
		return -EROFS;
	sl_lock(s);
	struct sl_obj *d = ns_dir(s, newparent, &err);
	struct sl_obj *o = sl_ns_obj(s, ino);
	if (d) {
		if (!o || o->nlink == 0)
			err = -ENOENT;
		else if (S_ISDIR(o->mode))
			err = -EPERM;
		else if (o->nlink >= 65000)
			err = -EMLINK;
		else if (sl_de_find(&s->ix, newparent, newname, len))
			err = -EEXIST;
		else if ((err = sl_ckpt_room(s, sl_ckpt_name_size(len))))
			;       /* no room in the checkpoint for the name */
		else if (!sl_de_add(&s->ix, d, newname, len, o->oid))
			err = -ENOMEM;
		else {
			int64_t now = sl_now_ns();
			o->nlink++;
			o->ctime = now;
			ns_touch(d, now);
			struct sl_jnl_rec r = ns_rec(SL_JNL_LINK, o->oid,
						     newparent, newname, len,
						     now);
			sl_jnl_add(s, &r);
			if (out)
				sl_attr_fill(s, o, out);
		}
	}
	sl_unlock(s);
	return err;
}

int slot_ns_link(struct slot_store *s, slot_ino_t ino, slot_ino_t newparent,
		 const char *newname, struct slot_attr *out)
{
	return SL_DYING_RETRY(s, ns_link(s, ino, newparent, newname, out));
}

void sl_ns_attrs_changed(struct slot_store *s, struct sl_obj *o)
{
	o->flags |= SL_OBJ_ATTR_DIRTY;
	sl_owed_check(s, o);
	struct sl_jnl_rec r = { .type = SL_JNL_SETATTR, .oid = o->oid };
	sl_jnl_add(s, &r);
}

void sl_ns_unname(struct slot_store *s, struct sl_obj *dir,
		  struct sl_dirent *de, struct sl_obj *o, int64_t now)
{
	struct sl_jnl_rec r = ns_rec(SL_JNL_UNLINK, o->oid, dir->oid, de->name,
				     de->len, now);
	sl_jnl_add(s, &r);      /* before de, which holds the name, goes */
	sl_de_remove(&s->ix, dir, de);
	if (o->name == de) {
		o->name = NULL;
		o->flags &= ~SL_OBJ_UNNAME;
		/* another link lives on, unknown here (no map from an object
		 * to its names): the next checkpoint's walk of the names
		 * finds it */
		if (!S_ISDIR(o->mode) && o->nlink > 1)
			s->names_lost = true;
	}
	if (S_ISDIR(o->mode)) {
		o->nlink = 0;
		dir->nlink--;
	} else if (o->nlink) {
		o->nlink--;
	}
	o->ctime = now;
	ns_touch(dir, now);
	if (o->nlink == 0)
		ns_mark_deleted(s, o);
	sl_obj_release_if_dead(s, o);
}

void sl_ns_prune(struct slot_store *s, struct sl_obj *dir, int64_t now)
{
	while (dir && dir->oid != SLOT_ROOT_INO && S_ISDIR(dir->mode) &&
	       !dir->dir->live && dir->name &&
	       !(dir->name->flags & SL_DE_DEAD)) {
		struct sl_obj *up = sl_obj_find(&s->ix, dir->dir->parent);
		if (!up || up->oid != dir->name->parent)
			return;
		sl_ns_unname(s, up, dir->name, dir, now);
		dir = up;
	}
}

static int ns_remove(struct slot_store *s, slot_ino_t parent, const char *name,
		     bool want_dir)
{
	size_t len;
	int err = sl_ns_check_name(name, &len);
	if (err)
		return err;
	if (sl_ns_is_dot(name, len))
		return want_dir ? -EINVAL : -EISDIR;
	if (s->read_only)
		return -EROFS;
	sl_lock(s);
	struct sl_obj *d = ns_dir(s, parent, &err);
	if (d) {
		struct sl_dirent *de = sl_de_find(&s->ix, parent, name, len);
		struct sl_obj *o = de && !(de->flags & SL_DE_PENDING) ?
					   sl_obj_find(&s->ix, de->child) : NULL;
		if (!o)
			err = -ENOENT;
		else if (want_dir && !S_ISDIR(o->mode))
			err = -ENOTDIR;
		else if (!want_dir && S_ISDIR(o->mode))
			err = -EISDIR;
		else if (want_dir && o->dir->live)
			err = -ENOTEMPTY;
		else
			sl_ns_unname(s, d, de, o, sl_now_ns());
	}
	sl_unlock(s);
	return err;
}

int slot_ns_unlink(struct slot_store *s, slot_ino_t parent, const char *name)
{
	return ns_remove(s, parent, name, false);
}

int slot_ns_rmdir(struct slot_store *s, slot_ino_t parent, const char *name)
{
	return ns_remove(s, parent, name, true);
}

/* Lock held.  Is dir a or any directory above it the object anc? */
static bool ns_is_under(struct slot_store *s, struct sl_obj *dir, uint64_t anc)
{
	for (unsigned depth = 0; depth < 65536; depth++) {
		if (dir->oid == anc)
			return true;
		if (dir->oid == SLOT_ROOT_INO)
			return false;
		dir = sl_obj_find(&s->ix, dir->dir->parent);
		if (!dir)
			return false;
	}
	return true; /* a loop: refuse */
}

/* Lock held.  Point de at a new child (rename onto, exchange). */
static void ns_move_dir_parent(struct sl_obj *o, struct sl_obj *from,
			       struct sl_obj *to)
{
	if (!S_ISDIR(o->mode) || from == to)
		return;
	from->nlink--;
	to->nlink++;
	o->dir->parent = to->oid;
}

/*
 * Lock held.  Rename name in parent to newname in newparent, at time now.
 * want and want2, when not 0, are the objects a journal record says the
 * two names held (recovery): anything else is -ESTALE, nothing changed.
 */
static int ns_rename_locked(struct slot_store *s, slot_ino_t parent,
			    const char *name, size_t len, slot_ino_t newparent,
			    const char *newname, size_t nlen, unsigned flags,
			    int64_t now, uint64_t want, uint64_t want2)
{
	int err;
	struct sl_obj *sd = ns_dir(s, parent, &err), *dd = NULL;
	if (sd)
		dd = ns_dir(s, newparent, &err);
	if (!dd)
		return err;
	struct sl_dirent *sde = sl_de_find(&s->ix, parent, name, len);
	struct sl_obj *so = sde && !(sde->flags & SL_DE_PENDING) ?
				    sl_obj_find(&s->ix, sde->child) : NULL;
	if (!so)
		return -ENOENT;
	struct sl_dirent *dde = sl_de_find(&s->ix, newparent, newname, nlen);
	struct sl_obj *dobj = dde && !(dde->flags & SL_DE_PENDING) ?
				      sl_obj_find(&s->ix, dde->child) : NULL;
	if (dde && !dobj)
		return -EBUSY; /* a put is creating that name */
	if ((want && so->oid != want) ||
	    (want2 && (!dobj || dobj->oid != want2)))
		return -ESTALE;
	/* a directory cannot move under itself */
	if (S_ISDIR(so->mode) && ns_is_under(s, dd, so->oid))
		return -EINVAL;
	struct sl_jnl_rec r = ns_rec(SL_JNL_RENAME, so->oid, parent, name, len,
				     now);
	r.parent2 = newparent;
	r.name2 = newname;
	r.name2_len = (uint16_t)nlen;
	if (flags & SLOT_RENAME_EXCHANGE) {
		if (!dobj)
			return -ENOENT;
		if (S_ISDIR(dobj->mode) && ns_is_under(s, sd, dobj->oid))
			return -EINVAL;
		r.flags = SL_JNL_EXCHANGE;
		r.rdev = dobj->oid;
		sl_jnl_add(s, &r);
		sde->child = dobj->oid;
		dde->child = so->oid;
		ns_move_dir_parent(so, sd, dd);
		ns_move_dir_parent(dobj, dd, sd);
		if (so->name == sde)
			so->name = dde;
		if (dobj->name == dde)
			dobj->name = sde;
		so->flags &= ~SL_OBJ_UNNAME;
		dobj->flags &= ~SL_OBJ_UNNAME;
		so->ctime = dobj->ctime = now;
		ns_touch(sd, now);
		ns_touch(dd, now);
		return 0;
	}
	if (dobj) {
		if (flags & SLOT_RENAME_NOREPLACE)
			return -EEXIST;
		if (dobj == so)
			return 0; /* two names of one file: nothing to do */
		if (S_ISDIR(so->mode) && !S_ISDIR(dobj->mode))
			return -ENOTDIR;
		if (!S_ISDIR(so->mode) && S_ISDIR(dobj->mode))
			return -EISDIR;
		if (S_ISDIR(dobj->mode) && dobj->dir->live)
			return -ENOTEMPTY;
	}
	/* a longer name must fit in the checkpoint too (not in recovery,
	 * which replays what fitted) */
	if (!want && nlen > len &&
	    (err = sl_ckpt_room(s, sl_ckpt_name_size(nlen) -
				   sl_ckpt_name_size(len))))
		return err;
	/* Everything is checked: from here nothing fails but allocation,
	 * which we do first so the switch itself cannot half-happen. */
	struct sl_dirent *nde = sl_de_add(&s->ix, dd, newname, nlen, so->oid);
	if (!nde)
		return -ENOMEM;
	/* the replaced name goes first (its own record), then the move */
	if (dobj)       /* nde was added while dde still lived: unhash dde */
		sl_ns_unname(s, dd, dde, dobj, now);
	sl_jnl_add(s, &r);
	sl_de_remove(&s->ix, sd, sde);
	if (so->name == sde || !so->name)
		so->name = nde;
	so->flags &= ~SL_OBJ_UNNAME;
	ns_move_dir_parent(so, sd, dd);
	so->ctime = now;
	ns_touch(sd, now);
	ns_touch(dd, now);
	return 0;
}

static int ns_rename(struct slot_store *s, slot_ino_t parent,
		     const char *name, size_t len, slot_ino_t newparent,
		     const char *newname, size_t nlen, unsigned flags)
{
	sl_lock(s);
	int err = ns_rename_locked(s, parent, name, len, newparent, newname,
				   nlen, flags, sl_now_ns(), 0, 0);
	sl_unlock(s);
	return err;
}

int slot_ns_rename(struct slot_store *s, slot_ino_t parent, const char *name,
		   slot_ino_t newparent, const char *newname, unsigned flags)
{
	size_t len, nlen;
	int err = sl_ns_check_name(name, &len);
	if (!err)
		err = sl_ns_check_name(newname, &nlen);
	if (err)
		return err;
	if (sl_ns_is_dot(name, len) || sl_ns_is_dot(newname, nlen))
		return -EINVAL;
	if ((flags & SLOT_RENAME_NOREPLACE) && (flags & SLOT_RENAME_EXCHANGE))
		return -EINVAL;
	if (flags & ~(SLOT_RENAME_NOREPLACE | SLOT_RENAME_EXCHANGE))
		return -EINVAL;
	if (s->read_only)
		return -EROFS;
	return SL_DYING_RETRY(s, ns_rename(s, parent, name, len, newparent,
					   newname, nlen, flags));
}

int slot_ns_readdir(struct slot_store *s, slot_ino_t dir, uint64_t cookie,
		    int (*fn)(void *arg, const char *name,
			      const struct slot_attr *attr, uint64_t next),
		    void *arg)
{
	int err;
	sl_lock(s);
	struct sl_obj *d = ns_dir(s, dir, &err);
	struct sl_obj *gone = d ? NULL : sl_ns_obj(s, dir);
	/* a removed directory still held (a working directory) is empty */
	if (gone && S_ISDIR(gone->mode) && !gone->nlink)
		err = 0;
	if (d) {
		err = 0;
		struct sl_dirent *de;
		while ((de = sl_dir_next(d, cookie))) {
			struct sl_obj *o = sl_obj_find(&s->ix, de->child);
			cookie = de->cookie;
			if (!o)
				continue;
			struct slot_attr a;
			sl_attr_fill(s, o, &a);
			/* fn must not call back into the store: lock held */
			if (fn(arg, de->name, &a, cookie))
				break;
		}
	}
	sl_unlock(s);
	return err;
}

static int ns_hold(struct slot_store *s, slot_ino_t ino, bool open)
{
	sl_lock(s);
	struct sl_obj *o = sl_ns_obj(s, ino);
	if (o && o->holds < UINT32_MAX) /* saturated: kept till unmount */
		o->holds++;
	if (o && open && o->opens < UINT8_MAX) {
		if (ns_dying(o))
			ns_dying_sub(s);        /* reopened (/proc/PID/fd) */
		o->opens++;
	}
	sl_unlock(s);
	return o ? 0 : -ENOENT;
}

int slot_ns_hold(struct slot_store *s, slot_ino_t ino)
{
	return ns_hold(s, ino, false);
}

int slot_ns_open(struct slot_store *s, slot_ino_t ino)
{
	return ns_hold(s, ino, true);
}

/* Drop n holds, and an open file's when open. */
static int ns_unhold(struct slot_store *s, slot_ino_t ino, uint64_t n,
		     bool open)
{
	sl_lock(s);
	struct sl_obj *o = sl_obj_find(&s->ix, ino);
	if (o && open && o->opens && o->opens < UINT8_MAX) {
		o->opens--;
		if (ns_dying(o))
			s->dying++;
	}
	if (o && o->holds) {
		o->holds -= n < o->holds ? (uint32_t)n : o->holds;
		sl_obj_release_if_dead(s, o);
	}
	sl_unlock(s);
	return o ? 0 : -ENOENT;
}

int slot_ns_release(struct slot_store *s, slot_ino_t ino)
{
	/* a close starts writing out what the file buffered, as dirty
	 * pages start on a disk file system (but what the journal holds);
	 * fsync is what waits */
	if (!s->read_only)
		sl_file_flush_async(s, ino);
	return ns_unhold(s, ino, 1, true);
}

bool slot_ns_release_waits(struct slot_store *s, slot_ino_t ino)
{
	return !s->read_only && sl_file_flush_waits(s, ino);
}

int slot_ns_forget(struct slot_store *s, slot_ino_t ino, uint64_t n)
{
	return ns_unhold(s, ino, n, false);
}

int slot_ns_unhold(struct slot_store *s, slot_ino_t ino)
{
	return ns_unhold(s, ino, 1, true);
}

/* ------------------------------------------------------------------ */
/* Journal replay (recovery)                                           */
/* ------------------------------------------------------------------ */

/* Whether a record's name can be a directory entry. */
static bool ns_rec_name_ok(const char *name, size_t len)
{
	return len && len <= SLOT_NAME_MAX && !memchr(name, '/', len) &&
	       !memchr(name, 0, len) && !sl_ns_is_dot(name, len);
}

/* A file the slot headers brought back that no name holds yet: its name
 * was not journaled (a key-value put's rides in its headers alone), and
 * the headers would give it one after the journal is replayed. */
static struct sl_obj *ns_replay_unnamed(struct slot_store *s, uint64_t oid)
{
	struct sl_obj *o = sl_obj_find(&s->ix, oid);
	return o && S_ISREG(o->mode) && !o->nlink ? o : NULL;
}

/* The unnamed file o takes name in d, if free. */
static bool ns_replay_name(struct slot_store *s, struct sl_obj *d,
			   const char *name, size_t len, struct sl_obj *o,
			   int64_t now)
{
	struct sl_dirent *de = sl_de_find(&s->ix, d->oid, name, len) ? NULL :
			       sl_de_add(&s->ix, d, name, len, o->oid);
	if (!de)
		return false;
	o->name = de;
	o->nlink = 1;
	o->flags |= SL_OBJ_NAMED;
	ns_touch(d, now);
	return true;
}

/*
 * The object a MAKE made.  One that inherited its directory's default ACL
 * inherits it again, from the directory as the records before left it
 * and from the record's mode, which the first inheritance masked: masking
 * again changes nothing, so it gets the ACL it got (sl_xa_recover_modes
 * gives the mode the ACL's bits after any later change).
 */
static bool ns_replay_make(struct slot_store *s, const struct sl_jnl_rec *r)
{
	bool lnk = S_ISLNK(r->mode);
	struct slot_ns_new nw = { .mode = r->mode, .target = lnk ? "" : NULL };
	uint32_t mode;
	if (r->oid <= SLOT_ROOT_INO || !ns_rec_name_ok(r->name, r->name_len) ||
	    !(r->mode & S_IFMT) || ns_new_mode(&nw, &mode) ||
	    (lnk && (!r->target_len || memchr(r->target, 0, r->target_len))) ||
	    (r->flags & ~SL_JNL_INHERIT))
		return false;
	int err;
	struct sl_obj *d = ns_dir(s, r->parent, &err);
	if (!d || sl_de_find(&s->ix, r->parent, r->name, r->name_len))
		return false;
	struct sl_xattrs *xa = NULL;
	if ((r->flags & SL_JNL_INHERIT) &&
	    sl_xa_inherit(s, d->oid, &mode, &xa) < 0)
		return false;
	/* a regular file's slots may have brought it back unnamed */
	struct sl_obj *o = sl_obj_find(&s->ix, r->oid);
	if (o) {
		bool ok = S_ISREG(mode) && ns_replay_unnamed(s, r->oid) &&
			  ns_replay_name(s, d, r->name, r->name_len, o,
					 r->time_ns) &&
			  (!xa || !sl_xa_set(&s->ix, o->oid, xa));
		if (!ok || !xa)
			free(xa);
		/* its first header's mode went with an ACL change */
		if (ok && sl_recover_mode_owed(s, o->oid))
			o->mode = S_IFREG | (mode & 07777);
		return ok;
	}
	char *t = NULL;
	if ((lnk && !(t = strndup(r->target, r->target_len))) ||
	    (xa && sl_xa_set(&s->ix, r->oid, xa))) {
		free(t);
		free(xa);
		return false;
	}
	o = ns_create(s, d, r->name, r->name_len, mode, r->uid, r->gid,
		      r->oid, r->time_ns, &err);
	if (!o) {
		if (xa)
			sl_xa_set(&s->ix, r->oid, NULL);        /* frees xa */
		free(t);
		return false;
	}
	if (S_ISCHR(r->mode) || S_ISBLK(r->mode))
		o->rdev = r->rdev;
	if (t) {
		s->ix.names_ck += strlen(t);
		o->target = t;
	}
	return true;
}

static bool ns_replay_link(struct slot_store *s, const struct sl_jnl_rec *r)
{
	int err;
	struct sl_obj *d = ns_dir(s, r->parent, &err);
	struct sl_obj *o = sl_obj_find(&s->ix, r->oid);
	if (!d || !o || S_ISDIR(o->mode) || !o->nlink ||
	    !ns_rec_name_ok(r->name, r->name_len) ||
	    sl_de_find(&s->ix, r->parent, r->name, r->name_len) ||
	    !sl_de_add(&s->ix, d, r->name, r->name_len, o->oid))
		return false;
	o->nlink++;
	o->ctime = r->time_ns;
	ns_touch(d, r->time_ns);
	return true;
}

static bool ns_replay_unlink(struct slot_store *s, const struct sl_jnl_rec *r)
{
	int err;
	struct sl_obj *d = ns_dir(s, r->parent, &err);
	struct sl_dirent *de = d && ns_rec_name_ok(r->name, r->name_len) ?
		sl_de_find(&s->ix, r->parent, r->name, r->name_len) : NULL;
	struct sl_obj *o = de && de->child == r->oid ?
		sl_obj_find(&s->ix, r->oid) : NULL;
	if (!o && (o = ns_replay_unnamed(s, r->oid))) {
		ns_mark_deleted(s, o);
		sl_obj_release_if_dead(s, o);
		return true;
	}
	/* a key deleted while its first put was in flight, whose slots
	 * never landed: gone, as the record says */
	if (!o && d && !de && !sl_obj_find(&s->ix, r->oid))
		return true;
	if (!o || (S_ISDIR(o->mode) && o->dir->live))
		return false;
	sl_ns_unname(s, d, de, o, r->time_ns);
	return true;
}

/* A RENAME of a file still unnamed (above): it takes the new name. */
static bool ns_replay_rename_unnamed(struct slot_store *s,
				     const struct sl_jnl_rec *r)
{
	int err;
	struct sl_obj *o = ns_replay_unnamed(s, r->oid);
	struct sl_obj *d = o ? ns_dir(s, r->parent2, &err) : NULL;
	return d && !(r->flags & SL_JNL_EXCHANGE) &&
	       ns_replay_name(s, d, r->name2, r->name2_len, o, r->time_ns);
}

/* An object's attributes as they were when journal slot gen was written,
 * unless a slot header written after it has newer ones (a chunk of gen
 * above it). */
static bool ns_replay_setattr(struct slot_store *s, const struct sl_jnl_rec *r,
			      uint64_t gen)
{
	if (!(r->mode & S_IFMT))
		return true;    /* the object was gone when it was written */
	struct sl_obj *o = sl_obj_find(&s->ix, r->oid);
	if (!o || (o->mode & S_IFMT) != (r->mode & S_IFMT))
		return false;
	/* a newer header with MODE_CKPT gave the rest, but no mode */
	bool newer = sl_obj_written_since(o, gen + 1);
	if (!newer || sl_recover_mode_owed(s, o->oid))
		o->mode = (o->mode & S_IFMT) | (r->mode & 07777);
	if (newer)
		return true;
	o->uid = r->uid;
	o->gid = r->gid;
	o->mtime = (int64_t)r->parent;
	o->atime = (int64_t)r->parent2;
	o->ctime = r->time_ns;
	return true;
}

/* Drop o's chunks [lo, hi) older than gen (a cut's or a hole's). */
static void ns_replay_drop(struct slot_store *s, struct sl_obj *o,
			   uint64_t lo, uint64_t hi, uint64_t gen)
{
	for (uint32_t i = o->nchunks; i-- > 0;) {
		struct sl_chunk c = o->chunks[i];
		if (c.idx >= lo && c.idx < hi && c.gen < gen) {
			sl_obj_drop_chunk(o, c.idx);
			sl_slot_free(s, c.slot);
		}
	}
}

/*
 * A file cut to r->rdev bytes: its chunks past the new end that are older
 * than the cut (a gen below r->parent) are gone, whichever of the
 * checkpoint or a slot header brought them back.  A chunk written since
 * has a header whose size is newer than the cut's, so the size is the
 * cut's only when none is.
 */
static bool ns_replay_trunc(struct slot_store *s, const struct sl_jnl_rec *r)
{
	struct sl_obj *o = sl_obj_find(&s->ix, r->oid);
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	if (!o)
		return true;    /* an open file unlinked before its cut */
	if (!S_ISREG(o->mode) || r->rdev > sl_file_max(s))
		return false;
	if (!sl_obj_written_since(o, r->parent))
		o->size = r->rdev;
	ns_replay_drop(s, o, (r->rdev + chunk - 1) / chunk, UINT64_MAX,
		       r->parent);
	return true;
}

static bool ns_replay_punch(struct slot_store *s, const struct sl_jnl_rec *r)
{
	struct sl_obj *o = sl_obj_find(&s->ix, r->oid);
	if (!o)
		return true;    /* unlinked before the hole was made */
	if (!S_ISREG(o->mode) || r->rdev >= r->parent2)
		return false;
	ns_replay_drop(s, o, r->rdev, r->parent2, r->parent);
	return true;
}

bool sl_ns_replay(struct slot_store *s, const struct sl_jnl_rec *r,
		  uint64_t gen)
{
	switch (r->type) {
	case SL_JNL_SETATTR:
		return ns_replay_setattr(s, r, gen);
	case SL_JNL_TRUNC:
		return ns_replay_trunc(s, r);
	case SL_JNL_PUNCH:
		return ns_replay_punch(s, r);
	case SL_JNL_WRITE:
		return sl_file_jnl_note(s, r);
	case SL_JNL_RESV:
		return sl_resv_replay(s, r);
	case SL_JNL_XATTR:
		return sl_xattr_replay(s, r, gen);
	case SL_JNL_MAKE:
		return ns_replay_make(s, r);
	case SL_JNL_LINK:
		return ns_replay_link(s, r);
	case SL_JNL_UNLINK:
		return ns_replay_unlink(s, r);
	case SL_JNL_RENAME:
		if (!ns_rec_name_ok(r->name, r->name_len) ||
		    !ns_rec_name_ok(r->name2, r->name2_len) ||
		    (r->flags & ~SL_JNL_EXCHANGE) || !r->oid)
			return false;
		return ns_rename_locked(s, r->parent, r->name, r->name_len,
					r->parent2, r->name2, r->name2_len,
					(r->flags & SL_JNL_EXCHANGE) ?
					SLOT_RENAME_EXCHANGE : 0, r->time_ns,
					r->oid, (r->flags & SL_JNL_EXCHANGE) ?
					(r->rdev ? r->rdev : UINT64_MAX) : 0) == 0 ||
		       ns_replay_rename_unnamed(s, r);
	}
	return false;
}
