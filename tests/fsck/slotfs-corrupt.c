// SPDX-License-Identifier: MIT
/*
 * slotfs-corrupt - build a test tree on a slotfs image, damage one thing
 * in it precisely, and check afterwards what survived.  The corruption
 * corpus (tests/fsck/cases/f_*) drives it; see tests/fsck/README.md.
 *
 *   slotfs-corrupt populate IMG MANIFEST
 *   slotfs-corrupt verify IMG MANIFEST [-m|-z|-t|-l|-x KEY]...
 *   slotfs-corrupt ls IMG
 *   slotfs-corrupt <damage> IMG ARGS...     (see usage())
 *   slotfs-corrupt fuzz [SECONDS [SEED]]    (fuzz_fsck.c)
 *
 * The manifest has one line per name in the test tree:
 *   D PATH OID
 *   L PATH OID TARGET
 *   F PATH OID SIZE XXH3 NCHUNKS XXH3-OF-CHUNK-0 ...
 *   X PATH NAME VALUE        (an extended attribute of PATH)
 * (XXH3-64 in hex, the checksum slotfs itself uses.)
 *
 * Damage is made with raw reads and writes of the image and the format.h
 * encoders: a checkpoint is decoded into a struct cr_ckpt, changed, and
 * written back into its own container with both checksums resealed, so
 * fsck sees a "valid-looking" index that is wrong.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corrupt.h"

#define CHUNK_MAX (1u << 26)

static const char *prog = "slotfs-corrupt";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void *xmalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

/* ------------------------------------------------------------------ */
/* Test data                                                           */
/* ------------------------------------------------------------------ */

void cr_fill(const char *key, uint8_t *buf, size_t len)
{
	uint64_t st = sl_csum(key, strlen(key)) | 1;
	size_t i = 0;
	for (; i + 8 <= len; i += 8)
		sl_put64(buf + i, cr_rand(&st));
	if (i < len) {
		uint8_t t[8];
		sl_put64(t, cr_rand(&st));
		memcpy(buf + i, t, len - i);
	}
}

/* Walk key to its inode through the public API. */
static int key_attr(struct slot_store *s, const char *key,
		    struct slot_attr *a)
{
	char *dup = strdup(key), *save = NULL;
	if (!dup)
		return -ENOMEM;
	slot_ino_t ino = SLOT_ROOT_INO;
	int err = slot_ns_getattr(s, ino, a);
	for (char *t = strtok_r(dup, "/", &save); !err && t;
	     t = strtok_r(NULL, "/", &save)) {
		err = slot_ns_lookup(s, ino, t, a);
		ino = a->ino;
	}
	free(dup);
	return err;
}

static void mf_file(FILE *mf, const char *path, uint64_t oid,
		    const uint8_t *buf, size_t len, uint32_t chunk)
{
	if (!mf)
		return;
	size_t n = (len + chunk - 1) / chunk;
	fprintf(mf, "F %s %" PRIu64 " %zu %016" PRIx64 " %zu", path, oid, len,
		sl_csum(buf, len), n);
	for (size_t k = 0; k < n; k++)
		fprintf(mf, " %016" PRIx64,
			sl_csum(buf + k * chunk, SL_MIN(chunk, len - k * chunk)));
	fputc('\n', mf);
}

static uint32_t store_chunk(struct slot_store *s)
{
	struct slot_geometry g;
	slot_geometry_get(s, &g);
	return g.chunk_size;
}

int cr_put(struct slot_store *s, FILE *mf, const char *key, size_t len)
{
	uint8_t *buf = xmalloc(len);
	cr_fill(key, buf, len);
	struct slot_put p = { .key = key, .buf = buf, .len = len };
	int err = slot_put_many(s, &p, 1);
	struct slot_attr a;
	if (!err)
		err = key_attr(s, key, &a);
	if (!err)
		mf_file(mf, key, a.ino, buf, len, store_chunk(s));
	else
		fprintf(stderr, "%s: put %s: %s\n", prog, key, slot_strerror(err));
	free(buf);
	return err;
}

static int mf_dir(struct slot_store *s, FILE *mf, const char *path)
{
	struct slot_attr a;
	int err = key_attr(s, path, &a);
	if (!err && mf)
		fprintf(mf, "D %s %" PRIu64 "\n", path, a.ino);
	return err;
}

/* Give path the xattr name = value (no spaces) and note it. */
static int mf_xattr(struct slot_store *s, FILE *mf, const char *path,
		    const char *name, const char *value)
{
	struct slot_attr a;
	int err = key_attr(s, path, &a);
	if (!err)
		err = slot_xattr_set(s, a.ino, name, value, strlen(value), 0);
	if (!err && mf)
		fprintf(mf, "X %s %s %s\n", path, name, value);
	return err;
}

int cr_populate(struct slot_store *s, FILE *mf)
{
	static const struct { const char *key; size_t len; } batch1[] = {
		{ "a/empty", 0 },
		{ "a/tiny", 100 },
		{ "a/small", 5000 },
		{ "a/small2", 6000 },
		{ "b/c/medium", 300000 },
		{ "b/two", 1572864 },
		{ "big", 3u << 20 },
	};
	size_t n = SL_ARRAY_SIZE(batch1);
	struct slot_put p[SL_ARRAY_SIZE(batch1)];
	uint8_t *bufs[SL_ARRAY_SIZE(batch1)];
	uint32_t chunk = store_chunk(s);
	int err;

	/* batch 1: whole objects through put_many, then a checkpoint, so
	 * the older container holds a smaller tree than the newer one */
	for (size_t i = 0; i < n; i++) {
		bufs[i] = xmalloc(batch1[i].len);
		cr_fill(batch1[i].key, bufs[i], batch1[i].len);
		p[i] = (struct slot_put){ .key = batch1[i].key, .buf = bufs[i],
					  .len = batch1[i].len };
	}
	err = slot_put_many(s, p, n);
	for (size_t i = 0; i < n; i++) {
		struct slot_attr a;
		if (!err)
			err = key_attr(s, batch1[i].key, &a);
		if (!err)
			mf_file(mf, batch1[i].key, a.ino, bufs[i], batch1[i].len,
				chunk);
		free(bufs[i]);
	}
	if (err) {
		fprintf(stderr, "%s: put_many: %s\n", prog, slot_strerror(err));
		return err;
	}
	if ((err = mf_dir(s, mf, "a")) || (err = mf_dir(s, mf, "b")) ||
	    (err = mf_dir(s, mf, "b/c")))
		return err;
	/* extended attributes, in both checkpoints */
	if ((err = mf_xattr(s, mf, "a/small", "user.mime_type", "text/plain")) ||
	    (err = mf_xattr(s, mf, "a/small", "security.label", "s0")) ||
	    (err = mf_xattr(s, mf, "b/c", "trusted.dir", "c")))
		return err;
	err = slot_checkpoint(s, true);
	if (err < 0)
		return err;

	/* the file face: a directory, a sparse two-chunk file written in
	 * pieces, a hard link to it, a symlink, a nested directory */
	struct slot_attr docs, note, sub, a;
	err = slot_ns_mkdir(s, SLOT_ROOT_INO, "docs", 0755, 0, 0, &docs);
	if (!err)
		err = slot_ns_mknod(s, docs.ino, "note.txt", S_IFREG | 0644, 0,
				    0, 0, &note);
	if (err)
		return err;
	size_t nlen = (size_t)chunk + 5100;
	uint8_t *nb = xmalloc(nlen), *fill = xmalloc(nlen);
	cr_fill("docs/note.txt", fill, nlen);
	memcpy(nb, fill, 10000);
	memcpy(nb + chunk + 100, fill + chunk + 100, 5000);
	free(fill);
	if (slot_file_write(s, note.ino, 0, nb, 10000) != 10000 ||
	    slot_file_write(s, note.ino, chunk + 100, nb + chunk + 100, 5000) !=
		    5000) {
		free(nb);
		fprintf(stderr, "%s: slot_file_write failed\n", prog);
		return -EIO;
	}
	mf_file(mf, "docs/note.txt", note.ino, nb, nlen, chunk);
	err = slot_ns_link(s, note.ino, SLOT_ROOT_INO, "note-link", &a);
	if (!err)
		mf_file(mf, "note-link", note.ino, nb, nlen, chunk);
	free(nb);
	if (!err)
		err = slot_file_fsync(s, note.ino, false);
	/* two chunks past its end set aside (fallocate -n): a reservation
	 * section in the newer checkpoint */
	if (!err)
		err = slot_file_allocate(s, note.ino, 0, 4ull * chunk, true);
	if (!err)
		err = slot_ns_symlink(s, SLOT_ROOT_INO, "sym", "docs/note.txt",
				      0, 0, &a);
	if (!err && mf)
		fprintf(mf, "L sym %" PRIu64 " docs/note.txt\n", a.ino);
	if (!err)
		err = mf_xattr(s, mf, "sym", "user.link", "yes");
	if (!err)
		err = slot_ns_mkdir(s, docs.ino, "sub", 0755, 0, 0, &sub);
	if (!err)
		err = mf_dir(s, mf, "docs");
	if (!err)
		err = mf_dir(s, mf, "docs/sub");
	if (!err)
		err = cr_put(s, mf, "docs/sub/deep", 70000);
	/* batch 2: one more put after all that */
	if (!err)
		err = cr_put(s, mf, "c2", 12345);
	if (err)
		fprintf(stderr, "%s: populate: %s\n", prog, slot_strerror(err));
	return err;
}

/* ------------------------------------------------------------------ */
/* Reading everything                                                  */
/* ------------------------------------------------------------------ */

struct walk_ent {
	char name[SLOT_NAME_MAX + 1];
	struct slot_attr a;
};
struct walk_list {
	struct walk_ent *e;
	size_t n, cap;
};

static int walk_collect(void *arg, const char *name,
			const struct slot_attr *attr, uint64_t next)
{
	struct walk_list *l = arg;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		void *p = realloc(l->e, ncap * sizeof(*l->e));
		if (!p)
			return -ENOMEM;
		l->e = p;
		l->cap = ncap;
	}
	snprintf(l->e[l->n].name, sizeof(l->e[l->n].name), "%s", name);
	l->e[l->n].a = *attr;
	l->n++;
	return 0;
}

static void walk_dir(struct slot_store *s, struct cr_walk *w, slot_ino_t dir,
		     const char *path, unsigned depth)
{
	struct walk_list l = { 0 };
	w->dirs++;
	if (depth > 256) {
		w->errors++;
		if (w->out)
			fprintf(w->out, "%s: too deep\n", path);
		return;
	}
	int err = slot_ns_readdir(s, dir, 0, walk_collect, &l);
	if (err < 0) {
		w->errors++;
		if (w->out)
			fprintf(w->out, "%s: readdir: %s\n", path,
				slot_strerror(err));
	}
	uint8_t *buf = NULL;
	for (size_t i = 0; i < l.n; i++) {
		const struct walk_ent *e = &l.e[i];
		char *sub;
		if (asprintf(&sub, "%s%s%s", path, *path ? "/" : "", e->name) < 0)
			break;
		if (S_ISDIR(e->a.mode)) {
			walk_dir(s, w, e->a.ino, sub, depth + 1);
		} else if (S_ISLNK(e->a.mode)) {
			char t[SLOT_PATH_MAX + 1];
			int r = slot_ns_readlink(s, e->a.ino, t, sizeof(t));
			w->links++;
			if (r < 0) {
				w->errors++;
				if (w->out)
					fprintf(w->out, "%s: readlink: %s\n",
						sub, slot_strerror(r));
			} else if (w->verbose && w->out) {
				fprintf(w->out, "%s -> %s\n", sub, t);
			}
		} else if (S_ISREG(e->a.mode)) {
			w->files++;
			if (!buf)
				buf = xmalloc(1u << 20);
			/* the first 8 MiB and the last chunk: a damaged size
			 * may claim petabytes of holes */
			uint64_t off = 0, tail = e->a.size > (1u << 20) ?
					e->a.size - (1u << 20) : 0;
			while (off < e->a.size) {
				if (off >= (8u << 20) && off < tail)
					off = tail;
				size_t want = (size_t)SL_MIN(e->a.size - off,
							     1u << 20);
				ssize_t r = slot_file_read(s, e->a.ino, off, buf,
							   want);
				if (r <= 0) {
					w->errors++;
					if (w->out)
						fprintf(w->out, "%s: read at %"
							PRIu64 ": %s\n", sub, off,
							r ? slot_strerror((int)r) :
							    "short");
					break;
				}
				off += (uint64_t)r;
				w->bytes += (uint64_t)r;
			}
			if (w->verbose && w->out)
				fprintf(w->out, "%s %" PRIu64 " nlink=%u\n", sub,
					e->a.size, e->a.nlink);
		}
		free(sub);
	}
	free(buf);
	free(l.e);
}

int cr_walk_all(struct slot_store *s, struct cr_walk *w)
{
	walk_dir(s, w, SLOT_ROOT_INO, "", 0);
	return (int)SL_MIN(w->errors, (uint64_t)INT32_MAX);
}

/* ------------------------------------------------------------------ */
/* Raw image access                                                    */
/* ------------------------------------------------------------------ */

int cr_img_read(struct cr_img *im, uint64_t off, void *buf, size_t len)
{
	if (off > im->size || len > im->size - off)
		return -EIO;
	if (im->mem) {
		memcpy(buf, im->mem + off, len);
		return 0;
	}
	for (size_t done = 0; done < len;) {
		ssize_t r = pread(im->fd, (uint8_t *)buf + done, len - done,
				  (off_t)(off + done));
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		done += (size_t)r;
	}
	return 0;
}

int cr_img_write(struct cr_img *im, uint64_t off, const void *buf, size_t len)
{
	if (off > im->size || len > im->size - off)
		return -EIO;
	if (im->mem) {
		memcpy(im->mem + off, buf, len);
		return 0;
	}
	for (size_t done = 0; done < len;) {
		ssize_t r = pwrite(im->fd, (const uint8_t *)buf + done,
				   len - done, (off_t)(off + done));
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		done += (size_t)r;
	}
	return 0;
}

int cr_img_load_sb(struct cr_img *im)
{
	uint8_t b[SL_SB_SIZE];
	im->sb_ok = false;
	int err = cr_img_read(im, SL_SB_PRIMARY_OFF, b, sizeof(b));
	if (!err)
		err = sl_sb_decode(b, &im->sb);
	if (err) {
		err = cr_img_read(im, SL_SB_BACKUP_OFF, b, sizeof(b));
		if (!err)
			err = sl_sb_decode(b, &im->sb);
	}
	im->sb_ok = err == 0;
	return err;
}

uint64_t cr_ckpt_off(const struct cr_img *im, unsigned i)
{
	return im->sb.meta_offset + i * (im->sb.meta_size / 2);
}

int cr_ckpt_hdr(struct cr_img *im, unsigned i, struct sl_ckpt_hdr *h)
{
	uint8_t b[SL_CKPT_HDR_SIZE];
	int err = cr_img_read(im, cr_ckpt_off(im, i), b, sizeof(b));
	if (!err)
		err = sl_ckpt_hdr_decode(b, h);
	if (!err && (memcmp(h->uuid, sl_sb_hdr_uuid(&im->sb), 16) ||
		     h->seq % 2 != i ||
		     h->payload_len > im->sb.meta_size / 2 - SL_BLOCK))
		err = -EUCLEAN;
	if (err)
		return err;
	uint8_t *p = xmalloc(h->payload_len);
	err = cr_img_read(im, cr_ckpt_off(im, i) + SL_BLOCK, p, h->payload_len);
	if (!err && sl_csum(p, h->payload_len) != h->payload_csum)
		err = -EBADMSG;
	free(p);
	return err;
}

void cr_ckpt_free(struct cr_ckpt *m)
{
	for (size_t i = 0; i < m->nobj; i++) {
		free(m->obj[i].ch);
		free(m->obj[i].csum);
		free(m->obj[i].target);
	}
	free(m->obj);
	free(m->de);
	free(m->rg);
	free(m->xa);
	free(m->rv);
	memset(m, 0, sizeof(*m));
}

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static int ckpt_parse(struct cr_ckpt *m, const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len;
	/* the chunk checksums, taken as the loader takes them */
	uint64_t csum_off, k = 0;
	uint64_t ncsum = sl_ckpt_csums(&m->hdr, &csum_off);
	const uint8_t *csums = p + csum_off;
	m->nrg = m->hdr.region_count;
	if ((uint64_t)m->nrg * SL_RGN_REC_SIZE > len)
		return -EUCLEAN;
	m->rg = xmalloc((size_t)m->nrg * sizeof(*m->rg));
	for (uint32_t r = 0; r < m->nrg; r++, p += SL_RGN_REC_SIZE)
		sl_rgn_rec_decode(p, &m->rg[r]);
	if (m->hdr.obj_count > len / SL_OBJ_REC_SIZE ||
	    m->hdr.dirent_count > len / SL_DIRENT_REC_FIXED)
		return -EUCLEAN;
	m->obj = xmalloc((size_t)m->hdr.obj_count * sizeof(*m->obj));
	for (uint64_t i = 0; i < m->hdr.obj_count; i++) {
		struct cr_obj *o = &m->obj[m->nobj];
		const uint8_t *start = p;
		if ((size_t)(end - p) < SL_OBJ_REC_SIZE)
			return -EUCLEAN;
		sl_obj_rec_decode(p, &o->rec);
		p += SL_OBJ_REC_SIZE;
		if ((uint64_t)o->rec.nchunks * SL_CHUNK_REC_SIZE +
			    o->rec.target_len > (uint64_t)(end - p))
			return -EUCLEAN;
		m->nobj++;
		o->ch = xmalloc((size_t)o->rec.nchunks * sizeof(*o->ch));
		o->csum = xmalloc((size_t)o->rec.nchunks * sizeof(*o->csum));
		for (uint32_t c = 0; c < o->rec.nchunks; c++, p += SL_CHUNK_REC_SIZE) {
			sl_chunk_rec_decode(p, &o->ch[c]);
			o->csum[c] = k < ncsum ? sl_get64(csums + 8 * k) : 0;
			k++;
		}
		o->target = xmalloc(o->rec.target_len + 1);
		memcpy(o->target, p, o->rec.target_len);
		p = start + pad8(SL_OBJ_REC_SIZE +
				 (size_t)o->rec.nchunks * SL_CHUNK_REC_SIZE +
				 o->rec.target_len);
		if (p > end)
			return -EUCLEAN;
	}
	m->cap_de = (size_t)m->hdr.dirent_count + 8;
	m->de = xmalloc(m->cap_de * sizeof(*m->de));
	for (uint64_t i = 0; i < m->hdr.dirent_count; i++) {
		struct cr_de *d = &m->de[m->nde];
		if ((size_t)(end - p) < SL_DIRENT_REC_FIXED)
			return -EUCLEAN;
		d->parent = sl_get64(p);
		d->child = sl_get64(p + 8);
		d->len = sl_get16(p + 16);
		if (d->len > SLOT_NAME_MAX ||
		    (size_t)(end - p) < SL_DIRENT_REC_FIXED + (size_t)d->len)
			return -EUCLEAN;
		memcpy(d->name, p + 18, d->len);
		d->name[d->len] = 0;
		m->nde++;
		p += SL_MIN(pad8(SL_DIRENT_REC_FIXED + d->len), (size_t)(end - p));
	}
	/* the reservations (last) and the extended attributes (before
	 * them) are carried over as they are */
	uint64_t rv_off = len, xa_off;
	if (m->hdr.resv_count && !sl_ckpt_resv(&m->hdr, &rv_off)) {
		m->nrv = m->hdr.resv_count;
		m->rv_len = (size_t)m->nrv * SL_RESV_REC_SIZE;
		m->rv = xmalloc(m->rv_len);
		memcpy(m->rv, end - len + rv_off, m->rv_len);
	}
	if (m->hdr.xattr_count && !sl_ckpt_xattrs(&m->hdr, &xa_off) &&
	    xa_off <= rv_off) {
		m->xa_len = (size_t)(rv_off - xa_off);
		m->xa = xmalloc(m->xa_len ? m->xa_len : 1);
		memcpy(m->xa, end - len + xa_off, m->xa_len);
		m->nxa = m->hdr.xattr_count;
	}
	return 0;
}

int cr_ckpt_load(struct cr_img *im, int which, struct cr_ckpt *m)
{
	struct sl_ckpt_hdr h[2];
	int st[2];
	memset(m, 0, sizeof(*m));
	for (unsigned i = 0; i < 2; i++)
		st[i] = cr_ckpt_hdr(im, i, &h[i]);
	int pick = which;
	if (pick < 0) {
		if (!st[0] && !st[1])
			pick = h[1].seq > h[0].seq;
		else if (!st[0] || !st[1])
			pick = st[0] ? 1 : 0;
		else
			return -ENOENT;
	} else if (st[pick]) {
		return st[pick];
	}
	m->cont = (unsigned)pick;
	m->hdr = h[pick];
	uint8_t *p = xmalloc(m->hdr.payload_len);
	int err = cr_img_read(im, cr_ckpt_off(im, m->cont) + SL_BLOCK, p,
			      m->hdr.payload_len);
	if (!err)
		err = ckpt_parse(m, p, m->hdr.payload_len);
	free(p);
	if (err)
		cr_ckpt_free(m);
	return err;
}

int cr_ckpt_store(struct cr_img *im, struct cr_ckpt *m)
{
	size_t len = (size_t)m->nrg * SL_RGN_REC_SIZE;
	for (size_t i = 0; i < m->nobj; i++)
		len += pad8(SL_OBJ_REC_SIZE +
			    (size_t)m->obj[i].rec.nchunks * SL_CHUNK_REC_SIZE +
			    m->obj[i].rec.target_len);
	for (size_t i = 0; i < m->nde; i++)
		len += pad8(SL_DIRENT_REC_FIXED + m->de[i].len);
	size_t csum_off = len;
	uint64_t nck = 0;
	for (size_t i = 0; i < m->nobj; i++)
		nck += m->obj[i].rec.nchunks;
	len += (size_t)nck * 8;
	size_t xa_off = len;
	len += m->xa_len;
	size_t rv_off = len;
	len += m->rv_len;
	if (len > im->sb.meta_size / 2 - SL_BLOCK)
		return -ENOSPC;
	uint8_t *buf = xmalloc(SL_BLOCK + len);
	uint8_t *p = buf + SL_BLOCK;
	uint8_t *csums = buf + SL_BLOCK + csum_off;
	for (uint32_t r = 0; r < m->nrg; r++)
		p += sl_rgn_rec_encode(&m->rg[r], p);
	for (size_t i = 0; i < m->nobj; i++) {
		struct cr_obj *o = &m->obj[i];
		uint8_t *start = p;
		p += sl_obj_rec_encode(&o->rec, p);
		for (uint32_t c = 0; c < o->rec.nchunks; c++) {
			p += sl_chunk_rec_encode(&o->ch[c], p);
			sl_put64(csums, o->csum[c]);
			csums += 8;
		}
		memcpy(p, o->target, o->rec.target_len);
		p = start + pad8(SL_OBJ_REC_SIZE +
				 (size_t)o->rec.nchunks * SL_CHUNK_REC_SIZE +
				 o->rec.target_len);
	}
	for (size_t i = 0; i < m->nde; i++) {
		struct cr_de *d = &m->de[i];
		sl_put64(p, d->parent);
		sl_put64(p + 8, d->child);
		sl_put16(p + 16, d->len);
		memcpy(p + 18, d->name, d->len);
		p += pad8(SL_DIRENT_REC_FIXED + d->len);
	}
	if (m->xa_len)
		memcpy(buf + SL_BLOCK + xa_off, m->xa, m->xa_len);
	if (m->rv_len)
		memcpy(buf + SL_BLOCK + rv_off, m->rv, m->rv_len);
	m->hdr.payload_len = len;
	m->hdr.payload_csum = sl_csum(buf + SL_BLOCK, len);
	m->hdr.obj_count = m->nobj;
	m->hdr.dirent_count = m->nde;
	m->hdr.region_count = m->nrg;
	m->hdr.csum_off = csum_off;
	m->hdr.csum_count = nck;
	m->hdr.xattr_off = m->nxa ? xa_off : 0;
	m->hdr.xattr_count = m->nxa;
	m->hdr.resv_off = m->nrv ? rv_off : 0;
	m->hdr.resv_count = m->nrv;
	sl_ckpt_hdr_encode(&m->hdr, buf);
	int err = cr_img_write(im, cr_ckpt_off(im, m->cont), buf, SL_BLOCK + len);
	free(buf);
	return err;
}

uint64_t cr_slot_off(const struct cr_img *im, const struct cr_ckpt *m,
		     uint64_t ref)
{
	uint32_t r = sl_slot_region(ref);
	unsigned cls = r < m->nrg ? m->rg[r].cls : 0;
	uint64_t stride = im->sb.block_size +
		(1ull << sl_class_shift(im->sb.min_shift, im->sb.chunk_shift, cls));
	return im->sb.slot_area_offset + (uint64_t)r * im->sb.region_size +
	       im->sb.block_size + (uint64_t)sl_slot_index(ref) * stride;
}

/* ------------------------------------------------------------------ */
/* Damage                                                              */
/* ------------------------------------------------------------------ */

static void img_open(const char *path, struct cr_img *im)
{
	memset(im, 0, sizeof(*im));
	im->fd = open(path, O_RDWR);
	if (im->fd < 0)
		die("%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(im->fd, &st))
		die("%s: %s", path, strerror(errno));
	im->size = (uint64_t)st.st_size;
	if (cr_img_load_sb(im))
		die("%s: no valid superblock", path);
}

static void img_close(struct cr_img *im)
{
	if (fsync(im->fd) || close(im->fd))
		die("closing the image: %s", strerror(errno));
}

static void ck_load(struct cr_img *im, struct cr_ckpt *m)
{
	int err = cr_ckpt_load(im, -1, m);
	if (err)
		die("no valid checkpoint (%s)", slot_strerror(err));
}

static void ck_store(struct cr_img *im, struct cr_ckpt *m)
{
	int err = cr_ckpt_store(im, m);
	if (err)
		die("writing the checkpoint: %s", slot_strerror(err));
}

static struct cr_obj *ck_obj(struct cr_ckpt *m, uint64_t oid)
{
	for (size_t i = 0; i < m->nobj; i++)
		if (m->obj[i].rec.oid == oid)
			return &m->obj[i];
	return NULL;
}

static struct cr_de *ck_de(struct cr_ckpt *m, uint64_t parent, const char *name)
{
	for (size_t i = 0; i < m->nde; i++)
		if (m->de[i].parent == parent && !strcmp(m->de[i].name, name))
			return &m->de[i];
	return NULL;
}

/* The dirent that names path (its last component); dies if none. */
static struct cr_de *ck_path_de(struct cr_ckpt *m, const char *path)
{
	char *dup = strdup(path), *save = NULL;
	uint64_t dir = SLOT_ROOT_INO;
	struct cr_de *d = NULL;
	for (char *t = strtok_r(dup, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		d = ck_de(m, dir, t);
		if (!d)
			die("%s: no such name in the checkpoint", path);
		dir = d->child;
	}
	free(dup);
	if (!d)
		die("%s: empty path", path);
	return d;
}

/* The object path names; "/" is the root.  Dies if none. */
static struct cr_obj *ck_path(struct cr_ckpt *m, const char *path)
{
	uint64_t oid = strcmp(path, "/") ? ck_path_de(m, path)->child :
					   SLOT_ROOT_INO;
	struct cr_obj *o = ck_obj(m, oid);
	if (!o)
		die("%s: dirent names no object", path);
	return o;
}

static struct cr_de *ck_add_de(struct cr_ckpt *m, uint64_t parent,
			       uint64_t child, const char *name)
{
	if (m->nde == m->cap_de) {
		m->cap_de = m->cap_de * 2 + 8;
		m->de = realloc(m->de, m->cap_de * sizeof(*m->de));
		if (!m->de)
			die("out of memory");
	}
	struct cr_de *d = &m->de[m->nde++];
	memset(d, 0, sizeof(*d));
	d->parent = parent;
	d->child = child;
	d->len = (uint16_t)strlen(name);
	memcpy(d->name, name, d->len);
	return d;
}

static void ck_del_de(struct cr_ckpt *m, struct cr_de *d)
{
	size_t i = (size_t)(d - m->de);
	memmove(&m->de[i], &m->de[i + 1], (m->nde - i - 1) * sizeof(*d));
	m->nde--;
}

static struct sl_chunk_rec *ck_chunk(struct cr_obj *o, uint32_t idx)
{
	for (uint32_t c = 0; c < o->rec.nchunks; c++)
		if (o->ch[c].idx == idx)
			return &o->ch[c];
	die("inode %" PRIu64 " has no chunk %u", o->rec.oid, idx);
}

static uint32_t arg_u32(const char *s)
{
	char *e;
	unsigned long v = strtoul(s, &e, 0);
	if (*e || v > UINT32_MAX)
		die("not a number: %s", s);
	return (uint32_t)v;
}

static uint64_t arg_u64(const char *s)
{
	char *e;
	unsigned long long v = strtoull(s, &e, 0);
	if (*e)
		die("not a number: %s", s);
	return v;
}

/* Read or write the header block of a slot; reseal recomputes the csum. */
static void slot_hdr_rw(struct cr_img *im, uint64_t off, uint8_t *b, bool wr)
{
	int err = wr ? cr_img_write(im, off, b, SL_SLOT_HDR_SIZE)
		     : cr_img_read(im, off, b, SL_SLOT_HDR_SIZE);
	if (err)
		die("slot header at %" PRIu64 ": %s", off, slot_strerror(err));
}

static int cmd_flip_slot_hdr(struct cr_img *im, char **av, int ac)
{
	if (ac < 1)
		die("flip-slot-hdr IMG KEY [CHUNK]");
	struct cr_ckpt m;
	ck_load(im, &m);
	struct sl_chunk_rec *c = ck_chunk(ck_path(&m, av[0]),
					  ac > 1 ? arg_u32(av[1]) : 0);
	uint64_t off = cr_slot_off(im, &m, c->slot);
	uint8_t b[SL_SLOT_HDR_SIZE];
	slot_hdr_rw(im, off, b, false);
	b[0x30] ^= 0x01; /* idx: the header checksum no longer matches */
	slot_hdr_rw(im, off, b, true);
	printf("flipped a byte of slot %u:%u (offset %" PRIu64 ")\n",
	       sl_slot_region(c->slot), sl_slot_index(c->slot), off + 0x30);
	cr_ckpt_free(&m);
	return 0;
}

static int cmd_tear_payload(struct cr_img *im, char **av, int ac)
{
	if (ac < 1)
		die("tear-payload IMG KEY [CHUNK]");
	struct cr_ckpt m;
	ck_load(im, &m);
	struct sl_chunk_rec *c = ck_chunk(ck_path(&m, av[0]),
					  ac > 1 ? arg_u32(av[1]) : 0);
	if (c->len < 2)
		die("%s: chunk too small to tear", av[0]);
	/* a torn write: the second half of the payload is old bytes */
	uint64_t off = cr_slot_off(im, &m, c->slot) + im->sb.block_size +
		       c->len / 2;
	size_t n = SL_MIN((size_t)(c->len - c->len / 2), (size_t)4096);
	uint8_t *junk = xmalloc(n);
	memset(junk, 0xa5, n);
	if (cr_img_write(im, off, junk, n))
		die("write failed");
	free(junk);
	printf("tore %zu payload bytes of slot %u:%u\n", n,
	       sl_slot_region(c->slot), sl_slot_index(c->slot));
	cr_ckpt_free(&m);
	return 0;
}

static int cmd_zero_sb(struct cr_img *im, char **av, int ac)
{
	if (ac < 1 || (strcmp(av[0], "primary") && strcmp(av[0], "backup")))
		die("zero-sb IMG primary|backup");
	uint8_t z[SL_BLOCK] = { 0 };
	if (cr_img_write(im, strcmp(av[0], "primary") ? SL_SB_BACKUP_OFF :
						       SL_SB_PRIMARY_OFF, z, sizeof(z)))
		die("write failed");
	return 0;
}

static void sb_write(struct cr_img *im, const struct sl_sb *sb, uint64_t off)
{
	uint8_t b[SL_SB_SIZE];
	sl_sb_encode(sb, b);
	if (cr_img_write(im, off, b, sizeof(b)))
		die("write failed");
}

static int cmd_sb_mismatch(struct cr_img *im, char **av, int ac)
{
	struct sl_sb sb = im->sb;
	snprintf(sb.label, sizeof(sb.label), "%s", ac > 0 ? av[0] : "mismatch");
	sb_write(im, &sb, SL_SB_BACKUP_OFF);
	return 0;
}

/* sb-grown IMG: the primary claims twice the regions, past the device's
 * end, resealed (as a grow whose device never grew, or damage) */
static int cmd_sb_grown(struct cr_img *im, char **av, int ac)
{
	(void)av;
	(void)ac;
	struct sl_sb sb = im->sb;
	sb.device_size += (uint64_t)sb.region_count * sb.region_size;
	sb.region_count *= 2;
	sb_write(im, &sb, SL_SB_PRIMARY_OFF);
	return 0;
}

static int cmd_sb_unclean(struct cr_img *im, char **av, int ac)
{
	struct sl_sb sb = im->sb;
	sb.flags &= ~SL_SB_CLEAN;
	sb_write(im, &sb, SL_SB_PRIMARY_OFF);
	sb_write(im, &sb, SL_SB_BACKUP_OFF);
	return 0;
}

/* sb-errors IMG: both superblocks record errors found in use, as a
 * mount does after a checksum error */
static int cmd_sb_errors(struct cr_img *im, char **av, int ac)
{
	(void)av;
	(void)ac;
	struct sl_sb sb = im->sb;
	sb.flags |= SL_SB_ERRORS;
	sb.error_count = 3;
	sb.last_error = SL_ERR_CSUM;
	sb.first_error_time = 1700000000;
	sb.last_error_time = 1700000100;
	sb_write(im, &sb, SL_SB_PRIMARY_OFF);
	sb_write(im, &sb, SL_SB_BACKUP_OFF);
	return 0;
}

/* sb-no-xattr IMG: both superblocks lose the ro_compat XATTR bit */
static int cmd_sb_no_xattr(struct cr_img *im, char **av, int ac)
{
	(void)av;
	(void)ac;
	struct sl_sb sb = im->sb;
	sb.feature_ro_compat &= ~SL_FEAT_RO_COMPAT_XATTR;
	sb_write(im, &sb, SL_SB_PRIMARY_OFF);
	sb_write(im, &sb, SL_SB_BACKUP_OFF);
	return 0;
}

static int newest_cont(struct cr_img *im)
{
	struct sl_ckpt_hdr h[2];
	int st0 = cr_ckpt_hdr(im, 0, &h[0]), st1 = cr_ckpt_hdr(im, 1, &h[1]);
	if (st0 && st1)
		die("no valid checkpoint");
	if (st0 || st1)
		return st0 ? 1 : 0;
	return h[1].seq > h[0].seq;
}

/* zero-ckpt IMG both|newest|older; flip-ckpt IMG newest|older */
static int cmd_ckpt_damage(struct cr_img *im, char **av, int ac, bool flip)
{
	if (ac < 1)
		die("%s-ckpt IMG both|newest|older", flip ? "flip" : "zero");
	int first, last;
	if (!strcmp(av[0], "both")) {
		first = 0;
		last = 1;
	} else if (!strcmp(av[0], "newest") || !strcmp(av[0], "older")) {
		first = last = newest_cont(im) ^ !strcmp(av[0], "older");
	} else {
		die("which container: both, newest or older");
	}
	for (int i = first; i <= last; i++) {
		uint64_t off = cr_ckpt_off(im, (unsigned)i);
		if (flip) {
			uint8_t b;
			off += 0x40; /* next_oid */
			if (cr_img_read(im, off, &b, 1))
				die("read failed");
			b ^= 0x10;
			if (cr_img_write(im, off, &b, 1))
				die("write failed");
		} else {
			uint8_t z[SL_BLOCK] = { 0 };
			if (cr_img_write(im, off, z, sizeof(z)))
				die("write failed");
		}
		printf("%s container %c\n", flip ? "flipped" : "zeroed",
		       i ? 'B' : 'A');
	}
	return 0;
}

static int cmd_dup_slot(struct cr_img *im, char **av, int ac)
{
	if (ac < 2)
		die("dup-slot IMG KEY1 KEY2");
	struct cr_ckpt m;
	ck_load(im, &m);
	struct sl_chunk_rec *a = ck_chunk(ck_path(&m, av[0]), 0);
	struct sl_chunk_rec *b = ck_chunk(ck_path(&m, av[1]), 0);
	b->slot = a->slot;
	ck_store(im, &m);
	cr_ckpt_free(&m);
	return 0;
}

static int cmd_bad_ref(struct cr_img *im, char **av, int ac)
{
	if (ac < 1)
		die("bad-ref IMG KEY [CHUNK]");
	struct cr_ckpt m;
	ck_load(im, &m);
	struct sl_chunk_rec *c = ck_chunk(ck_path(&m, av[0]),
					  ac > 1 ? arg_u32(av[1]) : 0);
	c->slot = sl_slot_ref(im->sb.region_count + 5, 0);
	ck_store(im, &m);
	cr_ckpt_free(&m);
	return 0;
}

static int cmd_unreachable(struct cr_img *im, char **av, int ac)
{
	if (ac < 1)
		die("unreachable IMG PATH");
	struct cr_ckpt m;
	ck_load(im, &m);
	struct cr_de *d = ck_path_de(&m, av[0]);
	struct cr_obj *o = ck_obj(&m, d->child);
	/* a directory losing its only name: its parent has one subdir less,
	 * so only the reachability is wrong */
	if (o && S_ISDIR(o->rec.mode)) {
		struct cr_obj *p = ck_obj(&m, d->parent);
		if (p)
			p->rec.nlink--;
	}
	ck_del_de(&m, d);
	ck_store(im, &m);
	cr_ckpt_free(&m);
	return 0;
}

/* dir-loop IMG DIR SUB: SUB is below DIR; DIR's name moves into SUB. */
static int cmd_dir_loop(struct cr_img *im, char **av, int ac)
{
	if (ac < 2)
		die("dir-loop IMG DIR SUBDIR");
	struct cr_ckpt m;
	ck_load(im, &m);
	struct cr_de *d = ck_path_de(&m, av[0]);
	uint64_t dir = d->child, oldp = d->parent;
	char name[SLOT_NAME_MAX + 1];
	snprintf(name, sizeof(name), "%s", d->name);
	struct cr_obj *sub = ck_path(&m, av[1]);
	struct cr_obj *p = ck_obj(&m, oldp);
	if (!S_ISDIR(sub->rec.mode) || !p)
		die("%s is not a directory", av[1]);
	ck_del_de(&m, d);
	p->rec.nlink--;
	ck_add_de(&m, sub->rec.oid, dir, name);
	sub->rec.nlink++;
	ck_store(im, &m);
	cr_ckpt_free(&m);
	return 0;
}

/* dir-link IMG DIR NEWPARENT NAME [first]: a second name for a directory. */
static int cmd_dir_link(struct cr_img *im, char **av, int ac)
{
	if (ac < 3)
		die("dir-link IMG DIR NEWPARENT NAME [first]");
	struct cr_ckpt m;
	ck_load(im, &m);
	struct cr_obj *d = ck_path(&m, av[0]);
	struct cr_obj *np = ck_path(&m, av[1]);
	if (!S_ISDIR(d->rec.mode) || !S_ISDIR(np->rec.mode))
		die("both must be directories");
	ck_add_de(&m, np->rec.oid, d->rec.oid, av[2]);
	if (ac > 3 && !strcmp(av[3], "first")) {
		/* the loader takes a directory's first entry as its name */
		struct cr_de last = m.de[m.nde - 1];
		memmove(&m.de[1], &m.de[0], (m.nde - 1) * sizeof(*m.de));
		m.de[0] = last;
	}
	np->rec.nlink++;
	ck_store(im, &m);
	cr_ckpt_free(&m);
	return 0;
}

static int cmd_nlink(struct cr_img *im, char **av, int ac)
{
	if (ac < 2)
		die("nlink IMG PATH N");
	struct cr_ckpt m;
	ck_load(im, &m);
	ck_path(&m, av[0])->rec.nlink = arg_u32(av[1]);
	ck_store(im, &m);
	cr_ckpt_free(&m);
	return 0;
}

static int cmd_set_size(struct cr_img *im, char **av, int ac)
{
	if (ac < 2)
		die("chunk-past-eof IMG KEY SIZE");
	struct cr_ckpt m;
	ck_load(im, &m);
	ck_path(&m, av[0])->rec.size = arg_u64(av[1]);
	ck_store(im, &m);
	cr_ckpt_free(&m);
	return 0;
}

/* bad-mode IMG PATH: an object type no reader knows (mode 0), resealed */
static int cmd_bad_mode(struct cr_img *im, char **av, int ac)
{
	if (ac < 1)
		die("bad-mode IMG PATH");
	struct cr_ckpt m;
	ck_load(im, &m);
	ck_path(&m, av[0])->rec.mode = 0;
	ck_store(im, &m);
	cr_ckpt_free(&m);
	return 0;
}

static int cmd_chunk_csum(struct cr_img *im, char **av, int ac)
{
	if (ac < 2)
		die("chunk-csum IMG KEY IDX");
	struct cr_ckpt m;
	ck_load(im, &m);
	struct cr_obj *o = ck_path(&m, av[0]);
	struct sl_chunk_rec *c = ck_chunk(o, arg_u32(av[1]));
	o->csum[c - o->ch] ^= 0x5a5a;
	ck_store(im, &m);
	cr_ckpt_free(&m);
	return 0;
}

static int cmd_missing_chunk(struct cr_img *im, char **av, int ac)
{
	if (ac < 2)
		die("missing-chunk IMG KEY IDX");
	struct cr_ckpt m;
	ck_load(im, &m);
	struct cr_obj *o = ck_path(&m, av[0]);
	struct sl_chunk_rec *c = ck_chunk(o, arg_u32(av[1]));
	size_t i = (size_t)(c - o->ch);
	memmove(c, c + 1, (o->rec.nchunks - i - 1) * sizeof(*c));
	memmove(&o->csum[i], &o->csum[i + 1],
		(o->rec.nchunks - i - 1) * sizeof(*o->csum));
	o->rec.nchunks--;
	ck_store(im, &m);
	cr_ckpt_free(&m);
	return 0;
}

/* Append n records to the checkpoint's xattr section. */
static void ck_xa_append(struct cr_ckpt *m, const struct sl_xattr_rec *r,
			 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t rec = sl_xattr_rec_size(r[i].name_len, r[i].value_len);
		m->xa = realloc(m->xa, m->xa_len + rec);
		if (!m->xa)
			die("out of memory");
		m->xa_len += sl_xattr_rec_encode(&r[i], m->xa + m->xa_len);
		m->nxa++;
	}
}

/* xattr-bad IMG: three more xattr records in the newest checkpoint: one
 * for an object it does not hold, one with a NUL in its name, and a second
 * value for a name the first record already gives its object */
static int cmd_xattr_bad(struct cr_img *im, char **av, int ac)
{
	(void)av;
	(void)ac;
	struct cr_ckpt m;
	ck_load(im, &m);
	uint64_t oid = 1;
	for (size_t i = 0; i < m.nobj; i++)
		oid = SL_MAX(oid, m.obj[i].rec.oid + 1);
	struct sl_xattr_rec first;
	if (sl_xattr_rec_decode(m.xa, m.xa_len, &first) < 0)
		die("xattr-bad: the checkpoint has no xattr to repeat");
	char dup[256];
	memcpy(dup, first.name, first.name_len);
	struct sl_xattr_rec bad[] = {
		{ .oid = oid, .name = "user.orphan", .name_len = 11 },
		{ .oid = SLOT_ROOT_INO, .name = "user.n\0l", .name_len = 8 },
		{ .oid = first.oid, .name = dup, .name_len = first.name_len },
	};
	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		bad[i].value = (const uint8_t *)"v";
		bad[i].value_len = 1;
	}
	ck_xa_append(&m, bad, SL_ARRAY_SIZE(bad));
	ck_store(im, &m);
	cr_ckpt_free(&m);
	return 0;
}

/* An access ACL in the xattr form: owner rwx, user 1000 r-x, group r-x,
 * the mask given, others r-x. */
#define CR_ACL_LEN (4 + 5 * 8)
static void cr_acl(uint8_t *v, uint16_t mask)
{
	static const struct { uint16_t tag, perm; uint32_t id; } e[] = {
		{ 0x01, 7, 0xffffffffu }, { 0x02, 5, 1000 },
		{ 0x04, 5, 0xffffffffu }, { 0x10, 0, 0xffffffffu },
		{ 0x20, 5, 0xffffffffu },
	};
	sl_put32(v, 2);
	for (size_t i = 0; i < SL_ARRAY_SIZE(e); i++) {
		uint8_t *p = v + 4 + 8 * i;
		sl_put16(p, e[i].tag);
		sl_put16(p + 2, e[i].tag == 0x10 ? mask : e[i].perm);
		sl_put32(p + 4, e[i].id);
	}
}

/* acl-bad IMG: four ACL records in the newest checkpoint: the root's
 * access ACL, valid (it stays), a default ACL of a regular file, an
 * access ACL of version 1, and a system. name that is no ACL */
static int cmd_acl_bad(struct cr_img *im, char **av, int ac)
{
	(void)av;
	(void)ac;
	struct cr_ckpt m;
	ck_load(im, &m);
	uint64_t file = 0;
	for (size_t i = 0; i < m.nobj && !file; i++)
		if (S_ISREG(m.obj[i].rec.mode))
			file = m.obj[i].rec.oid;
	if (!file)
		die("acl-bad: the checkpoint has no regular file");
	uint8_t good[CR_ACL_LEN], v1[CR_ACL_LEN];
	cr_acl(good, 5);        /* mode 0755's: the root's, kept */
	memcpy(v1, good, sizeof(good));
	v1[0] = 1;
	const char *acc = SLOT_XATTR_ACL_ACCESS, *dfl = SLOT_XATTR_ACL_DEFAULT;
	struct sl_xattr_rec recs[] = {
		{ .oid = SLOT_ROOT_INO, .name = acc, .name_len = strlen(acc),
		  .value = good, .value_len = sizeof(good) },
		{ .oid = file, .name = dfl, .name_len = strlen(dfl),
		  .value = good, .value_len = sizeof(good) },
		{ .oid = file, .name = acc, .name_len = strlen(acc),
		  .value = v1, .value_len = sizeof(v1) },
		{ .oid = SLOT_ROOT_INO, .name = "system.foo", .name_len = 10,
		  .value = (const uint8_t *)"v", .value_len = 1 },
	};
	ck_xa_append(&m, recs, SL_ARRAY_SIZE(recs));
	ck_store(im, &m);
	cr_ckpt_free(&m);
	return 0;
}

/* resv-bad IMG: four more reservation records in the newest checkpoint,
 * resealed: one for an object it does not hold, one for a directory, one
 * with an empty range, and one for a file, larger than the store */
static int cmd_resv_bad(struct cr_img *im, char **av, int ac)
{
	(void)av;
	(void)ac;
	struct cr_ckpt m;
	ck_load(im, &m);
	if (!m.nrv)
		die("resv-bad: the checkpoint has no reservation");
	uint64_t oid = 1;
	for (size_t i = 0; i < m.nobj; i++)
		oid = SL_MAX(oid, m.obj[i].rec.oid + 1);
	uint64_t file = 0;
	for (size_t i = 0; i < m.nobj && !file; i++)
		if (S_ISREG(m.obj[i].rec.mode))
			file = m.obj[i].rec.oid;
	const struct { uint64_t oid; uint32_t lo, hi; } bad[] = {
		{ oid, 0, 4 }, { SLOT_ROOT_INO, 0, 1 }, { file, 3, 3 },
		/* well formed, but more than the store could ever hold */
		{ file, 1000, 1u << 30 },
	};
	m.rv = realloc(m.rv, m.rv_len + sizeof(bad) / sizeof(bad[0]) *
				 SL_RESV_REC_SIZE);
	if (!m.rv)
		die("out of memory");
	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		uint8_t *p = m.rv + m.rv_len;
		sl_put64(p, bad[i].oid);
		sl_put32(p + 8, bad[i].lo);
		sl_put32(p + 12, bad[i].hi);
		m.rv_len += SL_RESV_REC_SIZE;
		m.nrv++;
	}
	ck_store(im, &m);
	cr_ckpt_free(&m);
	return 0;
}

/* acl-mode IMG: the root gets an access ACL (resealed) whose mask, rwx,
 * its mode (0755) disagrees with */
static int cmd_acl_mode(struct cr_img *im, char **av, int ac)
{
	(void)av;
	(void)ac;
	struct cr_ckpt m;
	ck_load(im, &m);
	uint8_t acl[CR_ACL_LEN];
	cr_acl(acl, 7);
	const char *acc = SLOT_XATTR_ACL_ACCESS;
	struct sl_xattr_rec r = { .oid = SLOT_ROOT_INO, .name = acc,
				  .name_len = strlen(acc), .value = acl,
				  .value_len = sizeof(acl) };
	ck_xa_append(&m, &r, 1);
	ck_store(im, &m);
	cr_ckpt_free(&m);
	return 0;
}

static int cmd_rgn_hdr(struct cr_img *im, char **av, int ac)
{
	if (ac < 1)
		die("rgn-hdr IMG KEY (zero the header of the region of KEY's "
		    "first chunk)");
	struct cr_ckpt m;
	ck_load(im, &m);
	uint32_t r = sl_slot_region(ck_chunk(ck_path(&m, av[0]), 0)->slot);
	uint8_t z[SL_BLOCK] = { 0 };
	if (cr_img_write(im, im->sb.slot_area_offset +
				     (uint64_t)r * im->sb.region_size, z, sizeof(z)))
		die("write failed");
	printf("zeroed the header of region %u\n", r);
	cr_ckpt_free(&m);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Through the public API                                              */
/* ------------------------------------------------------------------ */

static struct slot_store *api_open(const char *path, bool ro)
{
	struct slot_opts o;
	slot_opts_init(&o);
	o.direct_io = false;
	o.periodic_checkpoint = false;
	o.read_only = ro;
	struct slot_store *s;
	int err = slot_open(path, &o, &s);
	if (err)
		die("open %s: %s", path, slot_strerror(err));
	return s;
}

static FILE *mf_open(const char *path, const char *mode)
{
	FILE *f = fopen(path, mode);
	if (!f)
		die("%s: %s", path, strerror(errno));
	return f;
}

static int cmd_populate(char **av, int ac)
{
	if (ac < 2)
		die("populate IMG MANIFEST");
	struct slot_store *s = api_open(av[0], false);
	FILE *mf = mf_open(av[1], "w");
	int err = cr_populate(s, mf);
	if (fclose(mf))
		err = -EIO;
	int cerr = slot_close(s);
	if (err || cerr)
		die("populate failed: %s", slot_strerror(err ? err : cerr));
	return 0;
}

/* unclean IMG MANIFEST KEY SIZE: a put made durable by sync, then a crash */
static int cmd_unclean(char **av, int ac, bool orphan)
{
	if (ac < 4)
		die("%s IMG MANIFEST KEY SIZE", orphan ? "orphan" : "unclean");
	struct slot_store *s = api_open(av[0], false);
	FILE *mf = mf_open(av[1], "a");
	int err = cr_put(s, mf, av[2], arg_u64(av[3]));
	struct slot_attr a;
	if (!err)
		err = key_attr(s, av[2], &a);
	if (!err)
		err = slot_sync(s);
	fclose(mf);
	slot_abandon(s);
	if (err)
		die("%s: %s", av[2], slot_strerror(err));
	if (!orphan)
		return 0;
	/* the name hint of every slot of it now points at no directory,
	 * so recovery cannot name it: /lost+found */
	struct cr_img im;
	img_open(av[0], &im);
	uint32_t bs = im.sb.block_size;
	unsigned hits = 0;
	for (uint32_t r = 0; r < im.sb.region_count; r++) {
		uint64_t roff = im.sb.slot_area_offset +
				(uint64_t)r * im.sb.region_size;
		uint8_t b[SL_SLOT_HDR_SIZE];
		struct sl_rgn_hdr rh;
		if (cr_img_read(&im, roff, b, sizeof(b)) ||
		    sl_rgn_hdr_decode(b, &rh))
			continue;
		uint64_t stride = bs + (1ull << sl_class_shift(im.sb.min_shift,
						im.sb.chunk_shift, rh.cls));
		uint64_t n = (im.sb.region_size - bs) / stride;
		for (uint64_t j = 0; j < n; j++) {
			uint64_t off = roff + bs + j * stride;
			struct sl_slot_hdr h;
			slot_hdr_rw(&im, off, b, false);
			if (sl_slot_hdr_decode(b, &h) || h.oid != a.ino)
				continue;
			h.parent = 0x7fffffff0000ull;
			sl_slot_hdr_encode(&h, b);
			slot_hdr_rw(&im, off, b, true);
			hits++;
		}
	}
	img_close(&im);
	if (!hits)
		die("no slot of inode %" PRIu64 " found", a.ino);
	printf("re-pointed %u slot headers of inode %" PRIu64 "\n", hits, a.ino);
	return 0;
}

/* The directory of key and its last name (in buf). */
static int key_parent(struct slot_store *s, const char *key, char *buf,
		      size_t cap, slot_ino_t *dir, const char **name)
{
	snprintf(buf, cap, "%s", key);
	char *slash = strrchr(buf, '/');
	struct slot_attr a = { .ino = SLOT_ROOT_INO };
	int err = 0;
	if (slash) {
		*slash = 0;
		err = key_attr(s, buf, &a);
	}
	*dir = a.ino;
	*name = slash ? slash + 1 : buf;
	return err;
}

/* A change of the root's ctime, and a checkpoint that holds it: 0 or a
 * negative errno. */
static int cr_checkpoint_now(struct slot_store *s)
{
	struct slot_attr a;
	int err = slot_ns_getattr(s, SLOT_ROOT_INO, &a);
	if (!err)
		err = slot_ns_setattr(s, SLOT_ROOT_INO, &a, SLOT_SET_MODE, NULL);
	if (!err) {
		int r = slot_checkpoint(s, true);
		err = r < 0 ? r : 0;
	}
	return err;
}

/* renamed IMG OLD NEW: a checkpoint, then OLD renamed NEW and synced
 * (the journal carries the rename), then a crash */
static int cmd_renamed(char **av, int ac)
{
	if (ac < 3)
		die("renamed IMG OLD NEW");
	struct slot_store *s = api_open(av[0], false);
	/* the first checkpoint of the open: the journal's */
	int err = cr_checkpoint_now(s);
	char ob[SLOT_PATH_MAX + 1], nb[SLOT_PATH_MAX + 1];
	const char *on, *nn;
	slot_ino_t od, nd;
	if (!err)
		err = key_parent(s, av[1], ob, sizeof(ob), &od, &on);
	if (!err)
		err = key_parent(s, av[2], nb, sizeof(nb), &nd, &nn);
	if (!err)
		err = slot_ns_rename(s, od, on, nd, nn, 0);
	if (!err)
		err = slot_sync(s);
	slot_abandon(s);
	if (err)
		die("renamed: %s", slot_strerror(err));
	return 0;
}

/* jxattr IMG MANIFEST DIR FILE: a checkpoint, then records the journal
 * took in later formats: DIR gets a user xattr (noted in MANIFEST), one of
 * 6,000 bytes, and an access and a default ACL that leave its mode; FILE
 * gets 8 MiB set aside past its end, the upper half of it then given back
 * by a hole (RESV, RESV with CUT).  FILE's fsync writes the journal; then a crash. */
static int cmd_jxattr(char **av, int ac)
{
	if (ac < 4)
		die("jxattr IMG MANIFEST DIR FILE");
	struct slot_store *s = api_open(av[0], false);
	struct slot_attr d = { 0 }, f = { 0 };
	/* the first checkpoint of the open: the journal's */
	int err = cr_checkpoint_now(s);
	FILE *mf = mf_open(av[1], "a");
	if (!err)
		err = mf_xattr(s, mf, av[2], "user.journaled", "yes");
	fclose(mf);
	if (!err)
		err = key_attr(s, av[2], &d);
	static uint8_t big[6000];
	memset(big, 'b', sizeof(big));
	if (!err)
		err = slot_xattr_set(s, d.ino, "user.big", big, sizeof(big), 0);
	uint8_t acl[CR_ACL_LEN];
	cr_acl(acl, 5);         /* mode 0755's mask: the mode stays */
	if (!err)
		err = slot_xattr_set(s, d.ino, SLOT_XATTR_ACL_ACCESS, acl,
				     sizeof(acl), 0);
	if (!err)
		err = slot_xattr_set(s, d.ino, SLOT_XATTR_ACL_DEFAULT, acl,
				     sizeof(acl), 0);
	if (!err)
		err = key_attr(s, av[3], &f);
	uint64_t off = SL_ALIGN_UP(f.size, 1ull << 20) + (4ull << 20);
	/* 8 MiB set aside, the upper half given back: 4 MiB stay */
	if (!err)
		err = slot_file_allocate(s, f.ino, off, 8ull << 20, true);
	if (!err)
		err = slot_file_zero(s, f.ino, off + (4ull << 20), 4ull << 20,
				     true);
	uint64_t before = 0;
	struct slot_status st;
	if (!err && !(err = slot_status_get(s, &st)))
		before = st.checkpoints;
	if (!err)
		err = slot_file_fsync(s, f.ino, false);
	if (!err && !(err = slot_status_get(s, &st)) &&
	    st.checkpoints != before)
		die("jxattr: the fsync took a checkpoint, not the journal");
	slot_abandon(s);
	if (err)
		die("jxattr: %s", slot_strerror(err));
	return 0;
}

/* recheckpoint IMG: open, change the root's ctime, checkpoint, close: the
 * older container then holds the whole tree too */
static int cmd_recheckpoint(char **av, int ac)
{
	if (ac < 1)
		die("recheckpoint IMG");
	struct slot_store *s = api_open(av[0], false);
	int err = cr_checkpoint_now(s);
	int cerr = slot_close(s);
	if (err || cerr)
		die("recheckpoint: %s", slot_strerror(err ? err : cerr));
	return 0;
}

static int cmd_ls(char **av, int ac)
{
	if (ac < 1)
		die("ls IMG");
	struct slot_store *s = api_open(av[0], true);
	struct cr_walk w = { .verbose = true, .out = stdout };
	int bad = cr_walk_all(s, &w);
	printf("%" PRIu64 " files, %" PRIu64 " dirs, %" PRIu64 " symlinks, %"
	       PRIu64 " bytes, %" PRIu64 " errors\n", w.files, w.dirs, w.links,
	       w.bytes, w.errors);
	slot_close(s);
	return bad ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* verify                                                              */
/* ------------------------------------------------------------------ */

enum vmode { V_SAME, V_MISSING, V_ZEROED, V_TRUNC, V_LOSTFOUND, V_ANY,
	     V_RENAMED };

struct vexp {
	char *key;
	const char *to;         /* V_RENAMED: where it is now */
	enum vmode mode;
	bool used;
};

static enum vmode vmode_of(struct vexp *x, size_t n, const char *key,
			   const char **to)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(x[i].key, key)) {
			x[i].used = true;
			*to = x[i].to;
			return x[i].mode;
		}
	*to = key;
	return V_SAME;
}

static int read_key(struct slot_store *s, const char *key, uint8_t **buf,
		    size_t *len)
{
	uint64_t size;
	int err = slot_lookup(s, key, &size);
	if (err)
		return err;
	if (size > (1ull << 31))
		return -EFBIG;  /* a damaged size: not worth reading */
	struct slot_get g = { .key = key, .buf = xmalloc(size), .cap = size };
	err = slot_get_many(s, &g, 1);
	if (!err)
		err = g.result;
	if (err) {
		free(g.buf);
		return err;
	}
	*buf = g.buf;
	*len = g.len;
	return 0;
}

/* One F line against the store; returns a message or NULL when it holds. */
/* key's base name in one of /lost+found's #N directories, with size
 * bytes that hash to hash: its path goes to at. */
static int find_lost(struct slot_store *s, const char *key, uint64_t size,
		     uint64_t hash, char *at, size_t atlen, uint8_t **buf,
		     size_t *len)
{
	const char *base = strrchr(key, '/');
	struct walk_list l = { 0 };
	struct slot_attr lf;
	int err = key_attr(s, "lost+found", &lf);
	base = base ? base + 1 : key;
	if (!err)
		err = slot_ns_readdir(s, lf.ino, 0, walk_collect, &l);
	err = err ? err : -ENOENT;
	for (size_t i = 0; i < l.n && err; i++) {
		if (l.e[i].name[0] != '#' || !S_ISDIR(l.e[i].a.mode))
			continue;
		snprintf(at, atlen, "lost+found/%s/%.255s", l.e[i].name, base);
		if (read_key(s, at, buf, len))
			continue;
		if (*len == size && sl_csum(*buf, *len) == hash)
			err = 0;
		else
			free(*buf);
	}
	free(l.e);
	return err;
}

static const char *verify_file(struct slot_store *s, char *line, enum vmode vm,
			       const char *to, uint32_t chunk, char *why,
			       size_t whylen)
{
	char key[SLOT_PATH_MAX + 1];
	uint64_t oid, size, hash;
	size_t nch;
	int pos;
	if (sscanf(line, "F %4096s %" SCNu64 " %" SCNu64 " %" SCNx64 " %zu%n",
		   key, &oid, &size, &hash, &nch, &pos) != 5)
		return "bad manifest line";
	uint64_t *ch = xmalloc(nch * sizeof(*ch));
	char *p = line + pos;
	for (size_t k = 0; k < nch; k++) {
		int q;
		if (sscanf(p, " %" SCNx64 "%n", &ch[k], &q) != 1) {
			free(ch);
			return "bad manifest line";
		}
		p += q;
	}
	uint8_t *buf = NULL;
	size_t len = 0;
	char lf[SLOT_PATH_MAX + 1];
	snprintf(lf, sizeof(lf), "lost+found/#%" PRIu64, oid);
	const char *at = vm == V_LOSTFOUND ? lf : vm == V_RENAMED ? to : key;
	int err = read_key(s, at, &buf, &len);
	/* a file whose directory was lost keeps its name in that
	 * directory's /lost+found/#N: the one whose bytes are the file's */
	if (vm == V_LOSTFOUND && err == -ENOENT)
		err = find_lost(s, key, size, hash, lf, sizeof(lf), &buf, &len);
	const char *bad = NULL;
	if (vm == V_MISSING) {
		if (err != -ENOENT)
			bad = err ? "read failed, expected ENOENT" :
				    "present, expected missing";
	} else if (vm == V_ANY) {
		if (err && err != -ENOENT && err != -EIO && err != -EFBIG)
			bad = "read failed";
	} else if (err) {
		snprintf(why, whylen, "%.200s: %s", at, slot_strerror(err));
		bad = why;
	} else if ((vm == V_LOSTFOUND || vm == V_RENAMED) &&
		   !slot_lookup(s, key, &(uint64_t){ 0 })) {
		bad = "still present under its old name";
	} else if (vm == V_SAME || vm == V_LOSTFOUND || vm == V_RENAMED) {
		if (len != size || sl_csum(buf, len) != hash)
			bad = "contents differ";
	} else {
		/* V_ZEROED: same size, each chunk intact or all zeros, at
		 * least one zeroed; V_TRUNC: cut at a chunk boundary */
		size_t zeroed = 0;
		if (vm == V_ZEROED ? len != size : (len > size || len % chunk))
			bad = vm == V_ZEROED ? "size changed" :
					       "not cut at a chunk boundary";
		for (size_t k = 0; !bad && k * chunk < len; k++) {
			size_t n = SL_MIN((size_t)chunk, len - k * chunk);
			const uint8_t *c = buf + k * chunk;
			if (sl_csum(c, n) == ch[k])
				continue;
			bool zero = c[0] == 0 && !memcmp(c, c + 1, n - 1);
			if (vm == V_ZEROED && zero) {
				zeroed++;
				continue;
			}
			snprintf(why, whylen, "chunk %zu differs", k);
			bad = why;
		}
		if (!bad && vm == V_ZEROED && !zeroed)
			bad = "no chunk reads as zeros";
		if (!bad && vm == V_TRUNC && len == size)
			bad = "not truncated";
	}
	free(buf);
	free(ch);
	return bad;
}

/* The manifest at path without KEY's F line, and with the one for its
 * bytes now (len at buf) at the end. */
static void mf_refile(const char *path, const char *key, uint64_t oid,
		      const uint8_t *buf, size_t len, uint32_t chunk)
{
	FILE *in = mf_open(path, "r");
	char *line = NULL, *all = NULL;
	size_t cap = 0, size = 0;
	FILE *keep = open_memstream(&all, &size);
	if (!keep)
		die("mf_refile: %s", strerror(errno));
	size_t klen = strlen(key);
	while (getline(&line, &cap, in) > 0)
		if (strncmp(line, "F ", 2) || strncmp(line + 2, key, klen) ||
		    line[2 + klen] != ' ')
			fputs(line, keep);
	fclose(keep);
	fclose(in);
	free(line);
	FILE *out = mf_open(path, "w");
	fwrite(all, 1, size, out);
	mf_file(out, key, oid, buf, len, chunk);
	fclose(out);
	free(all);
}

/* jwritten IMG MANIFEST KEY: small writes over KEY's chunks, which fsync
 * puts in the journal (WRITE records) while their buffers stay, then a
 * crash; KEY's manifest line says its bytes now.  jappended: appends
 * past KEY's end instead, each fsynced (WRITE records with EXTEND, which
 * carry the size). */
static int cmd_jwritten(char **av, int ac, bool append)
{
	const char *cmd = append ? "jappended" : "jwritten";
	if (ac < 3)
		die("%s IMG MANIFEST KEY", cmd);
	struct slot_store *s = api_open(av[0], false);
	struct slot_attr a;
	uint8_t *buf = NULL;
	size_t len = 0;
	int err = key_attr(s, av[2], &a);
	if (!err)
		err = read_key(s, av[2], &buf, &len);
	static const uint64_t at[] = { 5000, (1u << 20) + 8192, 100 };
	static const size_t grow[] = { 300, 5000, 1 };
	size_t n = append ? SL_ARRAY_SIZE(grow) : SL_ARRAY_SIZE(at);
	size_t more = 0;
	for (size_t i = 0; append && i < n; i++)
		more += grow[i];
	if (!err && append && !(buf = realloc(buf, len + more)))
		die("%s: out of memory", cmd);
	for (size_t i = 0; !err && i < n; i++) {
		char piece[5000];
		uint64_t off = append ? len : at[i];
		size_t plen = append ? grow[i] : 300;
		if (!append && off + plen > len)
			continue;
		memset(piece, 'j' + (int)i, plen);
		ssize_t w = slot_file_write(s, a.ino, off, piece, plen);
		err = w == (ssize_t)plen ? 0 : w < 0 ? (int)w : -EIO;
		if (!err)
			memcpy(buf + off, piece, plen);
		if (!err && append) {
			len += plen;
			err = slot_file_fsync(s, a.ino, false);
		}
	}
	if (!err && !append)
		err = slot_file_fsync(s, a.ino, false);
	sl_lock(s);
	bool kept = s->wbs_count > 0;   /* the journal holds their bytes */
	sl_unlock(s);
	uint32_t chunk = store_chunk(s);
	slot_abandon(s);
	if (err)
		die("%s: %s", cmd, slot_strerror(err));
	if (!kept)
		die("%s: the journal took none of the writes", cmd);
	mf_refile(av[1], av[2], a.ino, buf, len, chunk);
	free(buf);
	return 0;
}

static int cmd_verify(char **av, int ac)
{
	if (ac < 2)
		die("verify IMG MANIFEST [-m|-z|-t|-l|-x KEY]...");
	struct vexp *x = xmalloc((size_t)ac * sizeof(*x));
	size_t nx = 0;
	for (int i = 2; i < ac; i++) {
		static const char flags[] = "mztlxr";
		const char *f = av[i][0] == '-' && av[i][1] && !av[i][2] ?
					strchr(flags, av[i][1]) : NULL;
		if (!f || i + 1 >= ac)
			die("verify: bad option %s", av[i]);
		static const enum vmode modes[] = { V_MISSING, V_ZEROED, V_TRUNC,
						    V_LOSTFOUND, V_ANY, V_RENAMED };
		x[nx].mode = modes[f - flags];
		x[nx].key = av[++i];
		x[nx].to = x[nx].key;
		if (x[nx].mode == V_RENAMED) {
			char *eq = strchr(x[nx].key, '=');
			if (!eq)
				die("verify: -r OLD=NEW");
			*eq = 0;
			x[nx].to = eq + 1;
		}
		nx++;
	}
	struct slot_store *s = api_open(av[0], true);
	uint32_t chunk = store_chunk(s);
	FILE *mf = mf_open(av[1], "r");
	char *line = NULL;
	size_t cap = 0;
	unsigned n = 0, failed = 0;
	while (getline(&line, &cap, mf) > 0) {
		line[strcspn(line, "\n")] = 0;
		char kind, key[SLOT_PATH_MAX + 1], target[SLOT_PATH_MAX + 1];
		if (sscanf(line, "%c %4096s", &kind, key) != 2)
			continue;
		const char *to;
		enum vmode vm = vmode_of(x, nx, key, &to);
		const char *bad = NULL;
		char why[256];
		struct slot_attr a;
		int err;
		n++;
		switch (kind) {
		case 'F':
			bad = verify_file(s, line, vm, to, chunk, why, sizeof(why));
			break;
		case 'D':
			err = key_attr(s, to, &a);
			if (vm == V_MISSING ? err != -ENOENT :
			    vm != V_ANY && (err || !S_ISDIR(a.mode)))
				bad = err ? slot_strerror(err) : "not a directory";
			break;
		case 'L':
			if (sscanf(line, "L %*s %*u %4096s", target) != 1)
				die("bad manifest line: %s", line);
			err = key_attr(s, to, &a);
			if (!err) {
				char t[SLOT_PATH_MAX + 1];
				int r = slot_ns_readlink(s, a.ino, t, sizeof(t));
				err = r < 0 ? r : strcmp(t, target) ? -EBADMSG : 0;
			}
			if (vm == V_MISSING ? err != -ENOENT : vm != V_ANY && err)
				bad = err == -EBADMSG ? "target differs" :
							slot_strerror(err);
			break;
		case 'X': {
			/* the object's own attributes: where its name is
			 * known and it is not expected gone */
			char name[SLOT_XATTR_NAME_MAX + 1], val[256], got[256];
			if (sscanf(line, "X %*s %255s %255s", name, val) != 2)
				die("bad manifest line: %s", line);
			if (vm == V_MISSING || vm == V_LOSTFOUND || vm == V_ANY)
				break;
			ssize_t r = key_attr(s, to, &a);
			if (!r)
				r = slot_xattr_get(s, a.ino, name, got,
						   sizeof(got) - 1);
			if (r >= 0)
				got[r] = 0;
			if (r < 0)
				bad = slot_strerror((int)r);
			else if (strcmp(got, val))
				bad = "extended attribute differs";
			break;
		}
		default:
			die("bad manifest line: %s", line);
		}
		if (bad) {
			failed++;
			printf("FAIL %s: %s\n", key, bad);
		}
	}
	free(line);
	fclose(mf);
	/* every expectation must name a key of the manifest */
	for (size_t i = 0; i < nx; i++)
		if (!x[i].used) {
			failed++;
			printf("FAIL %s: not in the manifest\n", x[i].key);
		}
	/* and everything must read back without an error */
	struct cr_walk w = { .out = stdout };
	cr_walk_all(s, &w);
	if (w.errors) {
		failed++;
		printf("FAIL: %" PRIu64 " reads failed in a walk of the tree\n",
		       w.errors);
	}
	struct slot_attr lf;
	if (!key_attr(s, "lost+found", &lf)) {
		struct walk_list l = { 0 };
		slot_ns_readdir(s, lf.ino, 0, walk_collect, &l);
		for (size_t i = 0; i < l.n; i++)
			printf("lost+found/%s %" PRIu64 "\n", l.e[i].name,
			       l.e[i].a.size);
		free(l.e);
	}
	printf("%u names checked, %u failed; %" PRIu64 " files, %" PRIu64
	       " dirs in the tree\n", n, failed, w.files, w.dirs);
	slot_close(s);
	free(x);
	return failed ? 1 : 0;
}

/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
"Usage: slotfs-corrupt COMMAND IMG ARGS...\n"
"  populate IMG MANIFEST        build the test tree, write its manifest\n"
"  verify IMG MANIFEST [-m|-z|-t|-l|-x KEY]...\n"
"                               check every name of the manifest: same\n"
"                               bytes, or -m missing, -z some chunks read\n"
"                               zeros, -t cut at a chunk boundary, -l in\n"
"                               lost+found as #OID or by name in a #N\n"
"                               there, -x anything readable,\n"
"                               -r OLD=NEW moved, with the same bytes\n"
"  ls IMG                       list and read everything\n"
"  unclean IMG MANIFEST KEY SIZE  put KEY, sync, crash (no close)\n"
"  orphan IMG MANIFEST KEY SIZE   the same, then point its slot headers'\n"
"                               parent at no directory\n"
"  flip-slot-hdr IMG KEY [CHUNK]  flip a byte of a slot header\n"
"  tear-payload IMG KEY [CHUNK]   overwrite part of a slot payload\n"
"  zero-sb IMG primary|backup\n"
"  sb-mismatch IMG [LABEL]      backup with another label, resealed\n"
"  sb-grown IMG                 primary with twice the regions, past the end\n"
"  sb-unclean IMG               clear the CLEAN flag, resealed\n"
"  sb-errors IMG                record errors found in use\n"
"  zero-ckpt IMG both|newest|older\n"
"  flip-ckpt IMG both|newest|older  flip a header byte (checksum fails)\n"
"  dup-slot IMG KEY1 KEY2       KEY2's chunk 0 points at KEY1's slot\n"
"  bad-ref IMG KEY [CHUNK]      a chunk record outside the slot area\n"
"  unreachable IMG PATH         remove the dirent, keep the object\n"
"  dir-loop IMG DIR SUBDIR      move DIR's name into SUBDIR (a cycle)\n"
"  dir-link IMG DIR PARENT NAME [first]  a second name for a directory\n"
"                               (/ is the root); first: stored before the\n"
"                               others, so the loader takes it as the name\n"
"  nlink IMG PATH N             a wrong link count\n"
"  chunk-past-eof IMG KEY SIZE  shrink the recorded size below a chunk\n"
"  missing-chunk IMG KEY IDX    drop a chunk record\n"
"  chunk-csum IMG KEY IDX       change a chunk's payload checksum in the index\n"
"  bad-mode IMG PATH            give PATH's object mode 0 (no such type)\n"
"  recheckpoint IMG             open, touch the root, checkpoint, close\n"
"  renamed IMG OLD NEW          checkpoint, rename OLD to NEW, sync, crash\n"
"  jwritten IMG MANIFEST KEY     small writes over KEY, fsync (journal), crash\n"
"  jappended IMG MANIFEST KEY    appends to KEY, each fsynced (journal), crash\n"
"  jxattr IMG MANIFEST DIR FILE  xattrs, ACLs, space set aside and given\n"
"                               back, fsync (journal), crash\n"
"  rgn-hdr IMG KEY              zero the header of KEY's region\n"
"  xattr-bad IMG                three damaged xattr records, resealed\n"
"  acl-bad IMG                  three bad ACL records and a good one, resealed\n"
"  acl-mode IMG                 the root's ACL disagrees with its mode, resealed\n"
"  resv-bad IMG                 reservation records for no file, a directory,\n"
"                               nothing, and more than the store holds\n"
"  sb-no-xattr IMG              clear the xattr feature bit, resealed\n"
"  fuzz [SECONDS [SEED]]        fuzz slot_fsck in-process (fuzz_fsck.c)\n"
"  fuzz-one SEED [IMAGE_OUT]    one iteration; save its damaged image\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	char **av = argv + 2;
	int ac = argc - 2;
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "fuzz"))
		return cr_fuzz_main(ac, av);
	if (!strcmp(cmd, "fuzz-one")) {
		av[-1] = (char *)"--one";
		return cr_fuzz_main(ac + 1, av - 1);
	}
	if (!strcmp(cmd, "populate"))
		return cmd_populate(av, ac);
	if (!strcmp(cmd, "verify"))
		return cmd_verify(av, ac);
	if (!strcmp(cmd, "ls"))
		return cmd_ls(av, ac);
	if (!strcmp(cmd, "recheckpoint"))
		return cmd_recheckpoint(av, ac);
	if (!strcmp(cmd, "unclean"))
		return cmd_unclean(av, ac, false);
	if (!strcmp(cmd, "renamed"))
		return cmd_renamed(av, ac);
	if (!strcmp(cmd, "jwritten"))
		return cmd_jwritten(av, ac, false);
	if (!strcmp(cmd, "jappended"))
		return cmd_jwritten(av, ac, true);
	if (!strcmp(cmd, "jxattr"))
		return cmd_jxattr(av, ac);
	if (!strcmp(cmd, "orphan"))
		return cmd_unclean(av, ac, true);

	static const struct {
		const char *name;
		int (*fn)(struct cr_img *, char **, int);
	} raw[] = {
		{ "flip-slot-hdr", cmd_flip_slot_hdr },
		{ "tear-payload", cmd_tear_payload },
		{ "zero-sb", cmd_zero_sb },
		{ "sb-mismatch", cmd_sb_mismatch },
		{ "sb-grown", cmd_sb_grown },
		{ "sb-unclean", cmd_sb_unclean },
		{ "sb-errors", cmd_sb_errors },
		{ "dup-slot", cmd_dup_slot },
		{ "bad-ref", cmd_bad_ref },
		{ "unreachable", cmd_unreachable },
		{ "dir-loop", cmd_dir_loop },
		{ "dir-link", cmd_dir_link },
		{ "nlink", cmd_nlink },
		{ "chunk-past-eof", cmd_set_size },
		{ "missing-chunk", cmd_missing_chunk },
		{ "chunk-csum", cmd_chunk_csum },
		{ "bad-mode", cmd_bad_mode },
		{ "rgn-hdr", cmd_rgn_hdr },
		{ "xattr-bad", cmd_xattr_bad },
		{ "acl-bad", cmd_acl_bad },
		{ "acl-mode", cmd_acl_mode },
		{ "resv-bad", cmd_resv_bad },
		{ "sb-no-xattr", cmd_sb_no_xattr },
	};
	if (ac < 1) {
		usage(stderr);
		return 2;
	}
	struct cr_img im;
	int rc = -1;
	if (!strcmp(cmd, "zero-ckpt") || !strcmp(cmd, "flip-ckpt")) {
		img_open(av[0], &im);
		rc = cmd_ckpt_damage(&im, av + 1, ac - 1, cmd[0] == 'f');
	} else {
		for (size_t i = 0; i < SL_ARRAY_SIZE(raw); i++) {
			if (strcmp(cmd, raw[i].name))
				continue;
			img_open(av[0], &im);
			rc = raw[i].fn(&im, av + 1, ac - 1);
			break;
		}
	}
	if (rc < 0) {
		fprintf(stderr, "%s: unknown command %s\n", prog, cmd);
		usage(stderr);
		return 2;
	}
	img_close(&im);
	return rc;
}
