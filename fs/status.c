/* SPDX-License-Identifier: MIT */
/*
 * status.c - the virtual, read-only /.slotfs/ directory.
 *
 * /.slotfs/status.json and /.slotfs/metrics are rendered from
 * slot_status_get() when opened, so a reader sees one consistent snapshot
 * however it splits its reads.  The directory answers lookup but is left
 * out of the root's listing, so copies and archives of the mount never
 * carry it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

#define SFS_STATUS_JSON_NAME    "status.json"
#define SFS_STATUS_METRICS_NAME "metrics"
#define SFS_RENDER_MIN          (16u << 10)
#define SFS_RENDER_MAX          (16u << 20)

struct sfs_render {
	size_t len;
	char buf[];
};

/* Text appended at buf[at] (cap in all): the new length, or -ENOSPC. */
__attribute__((format(printf, 4, 5)))
static int sfs_append(char *buf, size_t at, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(buf + at, cap - at, fmt, ap);
	va_end(ap);
	return k < 0 || (size_t)k >= cap - at ? -ENOSPC : (int)(at + k);
}

/* A counter of the front end's, read as it is now. */
static uint64_t sfs_count(const uint64_t *n)
{
	return __atomic_load_n(n, __ATOMIC_RELAXED);
}

/*
 * The store's figures struct slot_status lacks (slot_status_ext_get):
 * compaction, errors found in use, how long checkpoints held the store
 * lock, and removed files still held.  In the JSON, "compaction",
 * "errors", "checkpoint_lock_us" and "removed" inside the object.
 */
static int sfs_status_json_ext(const struct slot_status_ext *e, char *buf,
			       size_t n, size_t cap)
{
	if (!n || buf[n - 1] != '}')
		return -EINVAL;
	int at = sfs_append(buf, n - 1, cap, ",\"compaction\":{\"regions\":"
			    "%" PRIu64 ",\"failed\":%" PRIu64,
			    e->compaction_regions, e->compaction_failed);
	if (at < 0)
		return at;
	at = sfs_append(buf, (size_t)at, cap, ",\"chunks\":%" PRIu64
			",\"bytes\":%" PRIu64 "}", e->compaction_chunks,
			e->compaction_bytes);
	if (at < 0)
		return at;
	at = sfs_append(buf, (size_t)at, cap, ",\"errors\":{\"found\":%"
			PRIu64 ",\"read_only\":%" PRIu64 "}", e->fs_errors,
			(uint64_t)e->errors_ro);
	if (at < 0)
		return at;
	at = sfs_append(buf, (size_t)at, cap, ",\"checkpoint_lock_us\":"
			"{\"last\":%" PRIu64 ",\"max\":%" PRIu64 "}",
			e->ckpt_lock_ns_last / 1000,
			e->ckpt_lock_ns_max / 1000);
	if (at < 0)
		return at;
	return sfs_append(buf, (size_t)at, cap, ",\"removed\":{\"held\":%"
			  PRIu64 ",\"waiting\":%" PRIu64 "}}",
			  e->removed_held, e->removed_waiting);
}

/* How the reading thread found requests (loop.c), and its polling
 * window now, in us: both renderings take them from here. */
struct sfs_found {
	uint64_t waiting, polling, asleep, window_us;
};

static struct sfs_found sfs_found_now(struct sfs *fs)
{
	return (struct sfs_found){
		.waiting = sfs_count(&fs->loop_found_waiting),
		.polling = sfs_count(&fs->loop_found_polling),
		.asleep = sfs_count(&fs->loop_found_asleep),
		.window_us = (uint64_t)__atomic_load_n(&fs->loop_window_ns,
						       __ATOMIC_RELAXED) / 1000,
	};
}

/*
 * The front end's own figures, after the store's: how the polling loop
 * served requests (both 0 under libfuse's loop, -o poll_us=0), and
 * whether requests come through io_uring (ring.c) and how many did.  In
 * the JSON they go inside the object, as "fuse".
 */
static int sfs_status_json_loop(struct sfs *fs, char *buf, size_t n,
				size_t cap)
{
	if (!n || buf[n - 1] != '}')
		return -EINVAL;
	int at = sfs_append(buf, n - 1, cap, ",\"fuse\":{\"served_in_place\":"
			    "%" PRIu64 ",\"handed_on\":%" PRIu64,
			    __atomic_load_n(&fs->loop_in_place,
					    __ATOMIC_RELAXED),
			    __atomic_load_n(&fs->loop_handed_on,
					    __ATOMIC_RELAXED));
	if (at < 0)
		return at;
	struct sfs_found f = sfs_found_now(fs);
	at = sfs_append(buf, (size_t)at, cap, ",\"found_waiting\":%" PRIu64
			",\"found_polling\":%" PRIu64 ",\"found_asleep\":%"
			PRIu64 ",\"poll_window_us\":%" PRIu64,
			f.waiting, f.polling, f.asleep, f.window_us);
	if (at < 0)
		return at;
	at = sfs_append(buf, (size_t)at, cap, ",\"io_uring\":%" PRIu64
			",\"io_uring_requests\":%" PRIu64,
			(uint64_t)sfs_ring_running(fs),
			__atomic_load_n(&fs->ring_requests, __ATOMIC_RELAXED));
	if (at < 0)
		return at;
	at = sfs_append(buf, (size_t)at, cap, ",\"xattr\":%" PRIu64
			",\"acl\":%" PRIu64, (uint64_t)fs->xattr,
			(uint64_t)fs->acl);
	if (at < 0)
		return at;
	return sfs_append(buf, (size_t)at, cap, ",\"getxattr_requests\":%"
			  PRIu64 ",\"killpriv_v2\":%" PRIu64 "}}",
			  __atomic_load_n(&fs->getxattr_requests,
					  __ATOMIC_RELAXED),
			  (uint64_t)fs->killpriv_v2);
}

static int sfs_status_prom_loop(struct sfs *fs, char *buf, size_t n,
				size_t cap)
{
	struct sfs_found f = sfs_found_now(fs);
	int at = sfs_append(buf, n, cap,
			  "# HELP slotfs_fuse_requests_total FUSE requests, "
			  "by whether the reading thread served them itself "
			  "or handed them on.\n"
			  "# TYPE slotfs_fuse_requests_total counter\n"
			  "slotfs_fuse_requests_total{served=\"in_place\"} "
			  "%" PRIu64 "\n"
			  "slotfs_fuse_requests_total{served=\"handed_on\"} "
			  "%" PRIu64 "\n",
			  __atomic_load_n(&fs->loop_in_place, __ATOMIC_RELAXED),
			  __atomic_load_n(&fs->loop_handed_on,
					  __ATOMIC_RELAXED));
	if (at < 0)
		return at;
	at = sfs_append(buf, (size_t)at, cap,
			  "# HELP slotfs_fuse_requests_found_total FUSE "
			  "requests, by how the reading thread found them: "
			  "waiting, while it polled, or after it slept.\n"
			  "# TYPE slotfs_fuse_requests_found_total counter\n"
			  "slotfs_fuse_requests_found_total{found=\"waiting\"}"
			  " %" PRIu64 "\n"
			  "slotfs_fuse_requests_found_total{found=\"polling\"}"
			  " %" PRIu64 "\n"
			  "slotfs_fuse_requests_found_total{found=\"asleep\"}"
			  " %" PRIu64 "\n"
			  "# HELP slotfs_fuse_poll_window_seconds How long the "
			  "reading thread now polls before it sleeps.\n"
			  "# TYPE slotfs_fuse_poll_window_seconds gauge\n"
			  "slotfs_fuse_poll_window_seconds %" PRIu64 "e-6\n",
			  f.waiting, f.polling, f.asleep, f.window_us);
	if (at < 0)
		return at;
	at = sfs_append(buf, (size_t)at, cap,
			  "# HELP slotfs_fuse_io_uring Whether the mount takes "
			  "FUSE requests through io_uring.\n"
			  "# TYPE slotfs_fuse_io_uring gauge\n"
			  "slotfs_fuse_io_uring %" PRIu64 "\n"
			  "# HELP slotfs_fuse_io_uring_requests_total FUSE "
			  "requests that came through io_uring.\n"
			  "# TYPE slotfs_fuse_io_uring_requests_total counter\n"
			  "slotfs_fuse_io_uring_requests_total %" PRIu64 "\n",
			  (uint64_t)sfs_ring_running(fs),
			  __atomic_load_n(&fs->ring_requests,
					  __ATOMIC_RELAXED));
	if (at < 0)
		return at;
	at = sfs_append(buf, (size_t)at, cap,
			  "# HELP slotfs_fuse_xattr Whether the mount serves "
			  "extended attributes.\n"
			  "# TYPE slotfs_fuse_xattr gauge\n"
			  "slotfs_fuse_xattr %" PRIu64 "\n"
			  "# HELP slotfs_fuse_acl Whether the mount serves "
			  "and enforces POSIX ACLs.\n"
			  "# TYPE slotfs_fuse_acl gauge\n"
			  "slotfs_fuse_acl %" PRIu64 "\n",
			  (uint64_t)fs->xattr, (uint64_t)fs->acl);
	if (at < 0)
		return at;
	return sfs_append(buf, (size_t)at, cap,
			  "# HELP slotfs_fuse_getxattr_requests_total GETXATTR "
			  "requests answered (the kernel's security.capability "
			  "checks among them).\n"
			  "# TYPE slotfs_fuse_getxattr_requests_total counter\n"
			  "slotfs_fuse_getxattr_requests_total %" PRIu64 "\n"
			  "# HELP slotfs_fuse_killpriv_v2 Whether the kernel "
			  "left killing set-id bits at a write to slotfs.\n"
			  "# TYPE slotfs_fuse_killpriv_v2 gauge\n"
			  "slotfs_fuse_killpriv_v2 %" PRIu64 "\n",
			  __atomic_load_n(&fs->getxattr_requests,
					  __ATOMIC_RELAXED),
			  (uint64_t)fs->killpriv_v2);
}

static int sfs_status_render(struct sfs *fs, fuse_ino_t ino,
			     struct sfs_render **out)
{
	struct slot_status st;
	struct slot_status_ext ext = { .size = sizeof(ext) };
	size_t cap;
	int err;

	memset(&st, 0, sizeof(st));
	err = slot_status_get(fs->store, &st);
	if (!err)
		err = slot_status_ext_get(fs->store, &ext);
	if (err < 0)
		return err;
	/* The renderers say -ENOSPC when short: grow and try again. */
	for (cap = SFS_RENDER_MIN; cap <= SFS_RENDER_MAX; cap *= 4) {
		struct sfs_render *r = malloc(sizeof(*r) + cap);
		int n;

		if (!r)
			return -ENOMEM;
		if (ino == SFS_INO_JSON) {
			/* a file of text ends with a newline; the
			 * library's JSON is a value, without one */
			n = slot_status_json(&st, r->buf, cap - 1);
			if (n > 0)
				n = sfs_status_json_ext(&ext, r->buf, (size_t)n,
							cap - 1);
			if (n > 0)
				n = sfs_status_json_loop(fs, r->buf, (size_t)n,
							 cap - 1);
			if (n >= 0)
				r->buf[n++] = '\n';
		} else {
			n = slot_status_prometheus(&st, r->buf, cap);
			int m = n < 0 ? n :
				slot_status_ext_prometheus(&ext, r->buf + n,
							   cap - (size_t)n);
			n = m < 0 ? m : n + m;
			if (n >= 0)
				n = sfs_status_prom_loop(fs, r->buf, (size_t)n,
							 cap);
		}
		if (n >= 0) {
			r->len = (size_t)n < cap ? (size_t)n : cap;
			*out = r;
			return 0;
		}
		free(r);
		if (n != -ENOSPC)
			return n;
	}
	return -EFBIG;
}

int sfs_status_stat(struct sfs *fs, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = 0;
	st->st_gid = 0;
	st->st_blksize = 4096;
	st->st_atim = st->st_mtim = st->st_ctim = fs->mount_time;
	if (ino == SFS_INO_STATUS) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return 0;
	}
	if (ino != SFS_INO_JSON && ino != SFS_INO_METRICS)
		return -ENOENT;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	/* A size helps readers that trust st_size; reads are direct anyway. */
	struct sfs_render *r;
	if (sfs_status_render(fs, ino, &r) == 0) {
		st->st_size = r->len;
		free(r);
	}
	clock_gettime(CLOCK_REALTIME, &st->st_mtim);
	st->st_ctim = st->st_mtim;
	return 0;
}

static fuse_ino_t sfs_status_child(const char *name)
{
	if (!strcmp(name, SFS_STATUS_JSON_NAME))
		return SFS_INO_JSON;
	if (!strcmp(name, SFS_STATUS_METRICS_NAME))
		return SFS_INO_METRICS;
	return 0;
}

int sfs_status_lookup(struct sfs *fs, fuse_ino_t parent, const char *name,
		      struct fuse_entry_param *e)
{
	fuse_ino_t ino;
	int err;

	if (sfs_is_status_name(parent, name))
		ino = SFS_INO_STATUS;
	else if (parent == SFS_INO_STATUS)
		ino = sfs_status_child(name);
	else
		return -ENOTDIR;
	if (!ino)
		return -ENOENT;
	memset(e, 0, sizeof(*e));
	err = sfs_status_stat(fs, ino, &e->attr);
	if (err < 0)
		return err;
	e->ino = ino;
	e->generation = 1;
	/* Names never change; attributes (the size) do, every time. */
	e->entry_timeout = fs->entry_timeout;
	e->attr_timeout = 0;
	return 0;
}

void sfs_status_open(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi)
{
	struct sfs *fs = fuse_req_userdata(req);
	struct sfs_render *r;
	int err;

	if (ino == SFS_INO_STATUS) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		/* root passes the mode check; refuse writers here. */
		fuse_reply_err(req, EACCES);
		return;
	}
	err = sfs_status_render(fs, ino, &r);
	if (err < 0) {
		fuse_reply_err(req, sfs_errno(err));
		return;
	}
	fi->fh = (uintptr_t)r;
	fi->direct_io = 1;      /* size changes from one open to the next */
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi) == -ENOENT)
		free(r);        /* interrupted: no release will come */
}

void sfs_status_read(fuse_req_t req, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct sfs_render *r = (struct sfs_render *)(uintptr_t)fi->fh;

	if (!r || off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((uint64_t)off >= r->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > r->len - off)
		size = r->len - off;
	/*
	 * Reply from a private copy: the kernel can finish this read, let
	 * the reader close and deliver the release (which frees r) on
	 * another thread while our writev() is still returning.  Harmless
	 * in itself, but sanitizers check the iovec after the call.
	 */
	char *copy = malloc(size ? size : 1);
	if (!copy) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(copy, r->buf + off, size);
	fuse_reply_buf(req, copy, size);
	free(copy);
}

void sfs_status_release(fuse_req_t req, struct fuse_file_info *fi)
{
	free((void *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

void sfs_status_readdir(fuse_req_t req, size_t size, off_t off, bool plus)
{
	static const struct {
		const char *name;
		fuse_ino_t ino;
	} ents[] = {
		{ ".", SFS_INO_STATUS },
		{ "..", SLOT_ROOT_INO },
		{ SFS_STATUS_JSON_NAME, SFS_INO_JSON },
		{ SFS_STATUS_METRICS_NAME, SFS_INO_METRICS },
	};
	struct sfs *fs = fuse_req_userdata(req);
	char *buf;
	size_t used = 0;

	buf = calloc(1, size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = off < 0 ? 0 : (size_t)off;
	     i < sizeof(ents) / sizeof(ents[0]); i++) {
		struct fuse_entry_param e;
		size_t n;

		memset(&e, 0, sizeof(e));
		if (i < 2) {
			e.attr.st_ino = ents[i].ino;
			e.attr.st_mode = S_IFDIR;
		} else {
			sfs_status_lookup(fs, SFS_INO_STATUS, ents[i].name, &e);
		}
		if (plus)
			n = fuse_add_direntry_plus(req, buf + used,
						   size - used, ents[i].name,
						   &e, i + 1);
		else
			n = fuse_add_direntry(req, buf + used, size - used,
					      ents[i].name, &e.attr, i + 1);
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}
