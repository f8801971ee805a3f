/* SPDX-License-Identifier: MIT */
/*
 * dump.c - decode every on-disk structure of core/FORMAT.md and print it
 * (slotfs-dump).
 *
 * It reads through dev->ops->read and decodes with format.h only: no store
 * is opened, so it works on an image that open refuses, and on one that is
 * mounted.  Nothing read is trusted: every length and count is checked
 * against the bytes actually there before it is used, as ck_parse in
 * ckpt.c does, because the point of a dump is to look at damaged images.
 *
 * Output is one record per line, "kind key=value ...", so it greps and
 * diffs well:
 *   sb primary off=0 csum=OK valid=yes version=1.0 ...
 *   ckpt A off=1048576 csum=OK valid=yes seq=4 ... payload=OK current=yes
 *   rtab r=0 cls=0 payload=4096 assign_gen=3
 *   obj oid=12 mode=0100644 type=reg nlink=1 ... nchunks=1
 *   chunk oid=12 idx=0 slot=3:17 gen=40 len=4096
 *   symlink oid=13 target="a/b"
 *   dirent parent=1 child=12 name="k2"
 *   region r=3 off=... csum=OK cls=0 assign_gen=3 ckpt_cls=0 ...
 *   slot 3:17 oid=12 gen=40 txn=40 idx=0/1 len=4096 flags=WHOLE ...
 * Strings are quoted, with '"', '\\' and bytes outside printable ASCII
 * written as \xNN.
 */
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include <time.h>

#include <uuid/uuid.h>

#include "internal.h"

#define DM_BATCH 256u           /* header reads per request batch */

struct dm {
	struct slot_dev *dev;
	FILE *out;
	struct sl_sb sb;
	uint32_t bs;
	/* the region table the dump believes: from the newest valid
	 * checkpoint, overridden by valid region headers (as recovery does) */
	uint8_t *ckpt_cls;
	uint64_t *ckpt_gen;
	bool have_rtab;
};

/* Read len bytes at off in requests of at most 1 MiB.  Refuses reads
 * past the device end itself: engines differ in how they report them. */
static int dm_read(struct dm *d, uint64_t off, void *buf, size_t len)
{
	if (off > d->dev->size || len > d->dev->size - off)
		return -EIO;
	return sl_dev_span(d->dev, false, off, buf, len);
}

static void dm_str(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void dm_uuid(FILE *f, const uint8_t *u)
{
	char s[37];
	uuid_unparse_lower(u, s);
	fputs(s, f);
}

/* What a decoder's return says about the checksum. */
static const char *dm_csum_status(int res)
{
	switch (res) {
	case 0:
	case -EUCLEAN:          /* checksum held, a field did not */
		return "OK";
	case -EBADMSG:
		return "BAD";
	default:
		return "absent";
	}
}

static bool dm_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static const char *dm_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "reg";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "sock";
	case S_IFCHR: return "chr";
	case S_IFBLK: return "blk";
	default: return "unknown";
	}
}

static uint32_t dm_class_payload(const struct sl_sb *sb, unsigned cls)
{
	return 1u << sl_class_shift(sb->min_shift, sb->chunk_shift, cls);
}

/* ------------------------------------------------------------------ */
/* Superblocks                                                         */
/* ------------------------------------------------------------------ */

struct dm_bit {
	uint32_t bit;
	const char *name;
};

/* Print the names of the bits of v that t names, each after *sep (then
 * next); returns the bits it has no name for. */
static uint32_t dm_bit_names(FILE *f, uint32_t v, const struct dm_bit *t,
			     size_t n, const char **sep, const char *next)
{
	for (size_t i = 0; i < n; i++)
		if (v & t[i].bit) {
			fprintf(f, "%s%s", *sep, t[i].name);
			*sep = next;
			v &= ~t[i].bit;
		}
	return v;
}

static void dm_sb_flags(FILE *f, uint32_t flags)
{
	static const struct dm_bit names[] = {
		{ SL_SB_CLEAN, "CLEAN" }, { SL_SB_ERRORS, "ERRORS" },
	};
	fputs(" flags=", f);
	if (!flags) {
		fputs("none", f);
		return;
	}
	const char *sep = "";
	uint32_t rest = dm_bit_names(f, flags, names, SL_ARRAY_SIZE(names),
				     &sep, "|");
	if (rest)
		fprintf(f, "%s0x%" PRIx32, sep, rest);
}

/* Print one superblock; 0 when it is valid (and *sb holds it). */
static int dm_sb_one(struct dm *d, const char *which, uint64_t off,
		     struct sl_sb *sb)
{
	FILE *f = d->out;
	uint8_t *b = sl_alloc_aligned(SL_BLOCK);
	if (!b)
		return -ENOMEM;
	int res = dm_read(d, off, b, SL_BLOCK);
	if (res) {
		fprintf(f, "sb %s off=%" PRIu64 " read-error=%d\n", which, off,
			res);
		free(b);
		return res;
	}
	res = sl_sb_decode(b, sb);
	bool zero = dm_zero(b, SL_SB_SIZE);
	free(b);
	fprintf(f, "sb %s off=%" PRIu64 " csum=%s", which, off,
		dm_csum_status(res));
	if (res != 0 && res != -EUCLEAN) {
		fprintf(f, " valid=no%s\n", res == -EINVAL && !zero ?
			" reason=no-magic" : "");
		return res;
	}
	fprintf(f, " valid=%s", res ? "no" : "yes");
	fprintf(f, " version=%u.%u block_size=%" PRIu32
		" feature_compat=0x%" PRIx32 " feature_ro_compat=0x%" PRIx32
		" feature_incompat=0x%" PRIx32,
		sb->version_major, sb->version_minor, sb->block_size,
		sb->feature_compat, sb->feature_ro_compat,
		sb->feature_incompat);
	dm_sb_flags(f, sb->flags);
	fputs(" uuid=", f);
	dm_uuid(f, sb->uuid);
	fputs(" meta_uuid=", f);
	dm_uuid(f, sb->meta_uuid);
	fputs(" label=", f);
	dm_str(f, sb->label, strnlen(sb->label, sizeof(sb->label)));
	fprintf(f, " device_size=%" PRIu64 " meta_offset=%" PRIu64
		" meta_size=%" PRIu64 " slot_area_offset=%" PRIu64
		" region_size=%" PRIu64 " region_count=%" PRIu32
		" chunk_shift=%u min_shift=%u class_count=%u pad0=%u"
		" create_time=%" PRIu64 " mount_time=%" PRIu64
		" write_time=%" PRIu64 " mount_count=%" PRIu32 " pad1=%" PRIu32
		" fsck_time=%" PRIu64 " error_count=%" PRIu32 " errors=%u"
		" last_error=%u first_error_time=%" PRIu64
		" last_error_time=%" PRIu64 " reserved=%s checksum=0x%016"
		PRIx64 "\n",
		sb->device_size, sb->meta_offset, sb->meta_size,
		sb->slot_area_offset, sb->region_size, sb->region_count,
		sb->chunk_shift, sb->min_shift, sb->class_count, sb->pad0,
		sb->create_time, sb->mount_time, sb->write_time,
		sb->mount_count, sb->pad1, sb->fsck_time, sb->error_count,
		sb->errors, sb->last_error, sb->first_error_time,
		sb->last_error_time,
		dm_zero(sb->reserved, sizeof(sb->reserved)) ? "zero" : "nonzero",
		sb->checksum);
	if (!res) {
		fputs("classes", f);
		for (unsigned c = 0; c < sb->class_count; c++)
			fprintf(f, " %u=%" PRIu32, c, dm_class_payload(sb, c));
		fputc('\n', f);
	}
	return res;
}

static int dm_sbs(struct dm *d)
{
	struct sl_sb p, b;
	if (d->dev->size < SL_SB_BACKUP_OFF + SL_BLOCK) {
		fprintf(d->out, "device size=%" PRIu64 " too-small\n",
			d->dev->size);
		return -EINVAL;
	}
	int rp = dm_sb_one(d, "primary", SL_SB_PRIMARY_OFF, &p);
	int rb = dm_sb_one(d, "backup", SL_SB_BACKUP_OFF, &b);
	if (rp == -ENOMEM || rb == -ENOMEM)
		return -ENOMEM;
	if (!rp) {
		d->sb = p;
		if (!rb && memcmp(&p, &b, sizeof(p)))
			fprintf(d->out, "sb note=primary-and-backup-differ\n");
	} else if (!rb) {
		d->sb = b;
	}
	fprintf(d->out, "sb using=%s\n",
		!rp ? "primary" : !rb ? "backup" : "none");
	if (rp && rb) {
		if (rp == -EIO && rb == -EIO)
			return -EIO;
		/* both lack the magic: not slotfs; else damaged slotfs */
		return rp == -EINVAL && rb == -EINVAL ? -EINVAL : -EUCLEAN;
	}
	if (d->sb.device_size > d->dev->size)
		fprintf(d->out, "device size=%" PRIu64 " note=smaller-than-"
			"device_size\n", d->dev->size);
	d->bs = d->sb.block_size;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Checkpoint containers                                               */
/* ------------------------------------------------------------------ */

struct dm_ckpt {
	int hres;               /* header decode (0 valid) */
	bool valid;             /* header, uuid, seq parity, length, payload */
	struct sl_ckpt_hdr h;
	uint8_t *payload;       /* read when the header passed */
	const char *why;        /* first reason it is not valid */
	int pres;               /* payload: 0 OK, -EBADMSG, -EIO */
};

static void dm_ckpt_read(struct dm *d, unsigned i, struct dm_ckpt *c)
{
	uint64_t half = d->sb.meta_size / 2;
	uint64_t off = d->sb.meta_offset + i * half;
	memset(c, 0, sizeof(*c));
	c->pres = 1;            /* not looked at */
	uint8_t *b = sl_alloc_aligned(SL_BLOCK);
	if (!b) {
		c->hres = -ENOMEM;
		c->why = "no-memory";
		return;
	}
	c->hres = dm_read(d, off, b, SL_BLOCK);
	if (!c->hres)
		c->hres = sl_ckpt_hdr_decode(b, &c->h);
	free(b);
	if (c->hres == -EIO) {
		c->why = "read-error";
		return;
	}
	if (c->hres && c->hres != -EUCLEAN) {
		c->why = c->hres == -EBADMSG ? "header-checksum" : "no-magic";
		return;
	}
	if (c->hres == -EUCLEAN)
		c->why = "payload_len-range";
	else if (memcmp(c->h.uuid, sl_sb_hdr_uuid(&d->sb), 16))
		c->why = "uuid-mismatch";
	else if (c->h.seq % 2 != i)
		c->why = "seq-parity";
	else if (c->h.payload_len > half - SL_BLOCK)
		c->why = "payload_len-range";
	if (c->why)
		return;
	size_t len = SL_ALIGN_UP(c->h.payload_len ? c->h.payload_len : 1,
				 SL_BLOCK);
	c->payload = sl_alloc_aligned(len);
	if (!c->payload) {
		c->why = "no-memory";
		return;
	}
	c->pres = dm_read(d, off + SL_BLOCK, c->payload, len);
	if (!c->pres && sl_csum(c->payload, c->h.payload_len) !=
				c->h.payload_csum)
		c->pres = -EBADMSG;
	if (c->pres) {
		c->why = c->pres == -EBADMSG ? "payload-checksum" : "read-error";
		free(c->payload);
		c->payload = NULL;
		return;
	}
	c->valid = true;
}

static void dm_ckpt_hdr_print(struct dm *d, unsigned i,
			      const struct dm_ckpt *c, bool current)
{
	FILE *f = d->out;
	uint64_t off = d->sb.meta_offset + i * (d->sb.meta_size / 2);
	fprintf(f, "ckpt %c off=%" PRIu64 " csum=%s valid=%s", 'A' + i, off,
		c->hres == -EIO ? "unread" : dm_csum_status(c->hres),
		c->valid ? "yes" : "no");
	if (c->why)
		fprintf(f, " reason=%s", c->why);
	if (c->hres == 0 || c->hres == -EUCLEAN) {
		fprintf(f, " seq=%" PRIu64 " uuid=", c->h.seq);
		dm_uuid(f, c->h.uuid);
		fprintf(f, " payload_len=%" PRIu64 " payload_csum=0x%016" PRIx64
			" payload=%s scan_gen=%" PRIu64 " next_gen=%" PRIu64
			" next_oid=%" PRIu64 " obj_count=%" PRIu64
			" dirent_count=%" PRIu64 " region_count=%" PRIu32
			" pad=%" PRIu32 " time_ns=%" PRIu64 " csum_off=%" PRIu64
			" csum_count=%" PRIu64 " xattr_off=%" PRIu64
			" xattr_count=%" PRIu64 " resv_off=%" PRIu64
			" resv_count=%" PRIu64 " jnl_id=0x%016" PRIx64
			" jnl_lsn=%" PRIu64 " jnl_data_slots=%" PRIu64
			" reserved=%s"
			" checksum=0x%016" PRIx64,
			c->h.payload_len, c->h.payload_csum,
			c->pres == 0 ? "OK" : c->pres == -EBADMSG ? "BAD" :
			c->pres == 1 ? "unchecked" : "unread",
			c->h.scan_gen, c->h.next_gen, c->h.next_oid,
			c->h.obj_count, c->h.dirent_count, c->h.region_count,
			c->h.pad, c->h.time_ns, c->h.csum_off, c->h.csum_count,
			c->h.xattr_off, c->h.xattr_count, c->h.resv_off,
			c->h.resv_count, c->h.jnl_id, c->h.jnl_lsn,
			c->h.jnl_data_slots,
			dm_zero(c->h.reserved, sizeof(c->h.reserved)) ?
				"zero" : "nonzero",
			c->h.checksum);
	}
	fprintf(f, " current=%s\n", current ? "yes" : "no");
}

/*
 * Print the payload of a valid container.  The checks mirror ck_parse: a
 * payload whose checksum holds may still say anything.  Returns 0 or the
 * -EUCLEAN at which parsing stopped (after a "ckpt-error" line).
 */
/* An ACL value in getfacl's short form (u::rwx,u:1000:r-x,...), or
 * acl=invalid. */
static void dm_acl(FILE *f, const uint8_t *v, size_t len)
{
	static const struct { uint16_t tag; const char *name; } tags[] = {
		{ SL_ACL_TAG_USER_OBJ, "u:" }, { SL_ACL_TAG_USER, "u:" },
		{ SL_ACL_TAG_GROUP_OBJ, "g:" }, { SL_ACL_TAG_GROUP, "g:" },
		{ SL_ACL_TAG_MASK, "m:" }, { SL_ACL_TAG_OTHER, "o:" },
	};
	int n = sl_acl_check(v, len);
	fputs(n < 0 ? " acl=invalid" : " acl=", f);
	for (int i = 0; i < n; i++) {
		const uint8_t *e = v + SL_ACL_HDR + SL_ACL_ENT * (size_t)i;
		uint16_t tag = sl_get16(e), perm = sl_get16(e + 2);
		for (size_t t = 0; t < SL_ARRAY_SIZE(tags); t++)
			if (tags[t].tag == tag)
				fprintf(f, "%s%s", i ? "," : "", tags[t].name);
		if (tag == SL_ACL_TAG_USER || tag == SL_ACL_TAG_GROUP)
			fprintf(f, "%" PRIu32, sl_get32(e + 4));
		fprintf(f, ":%c%c%c", perm & 4 ? 'r' : '-', perm & 2 ? 'w' : '-',
			perm & 1 ? 'x' : '-');
	}
}

static int dm_ckpt_payload(struct dm *d, const struct dm_ckpt *c)
{
	FILE *f = d->out;
	const struct sl_ckpt_hdr *h = &c->h;
	const uint8_t *base = c->payload, *p = base;
	const uint8_t *end = base + h->payload_len;
	uint64_t csum_off, kcsum = 0;
	uint64_t ncsum = sl_ckpt_csums(h, &csum_off);
	const uint8_t *csums = base + csum_off;
	uint32_t nreg = d->sb.region_count;
	uint64_t files = 0, dirs = 0, links = 0, other = 0, chunks = 0;
	uint64_t bytes = 0, dents = 0;
	const char *why = NULL;

	if (h->region_count != nreg) {
		why = "region_count-differs-from-superblock";
		goto bad;
	}
	if ((size_t)(end - p) < (size_t)nreg * SL_RGN_REC_SIZE) {
		why = "region-table-truncated";
		goto bad;
	}
	for (uint32_t r = 0; r < nreg; r++) {
		struct sl_rgn_rec rr;
		sl_rgn_rec_decode(p, &rr);
		p += SL_RGN_REC_SIZE;
		d->ckpt_cls[r] = rr.cls;
		d->ckpt_gen[r] = rr.assign_gen;
		if (rr.cls == SL_RGN_FREE) {
			fprintf(f, "rtab r=%" PRIu32 " cls=free assign_gen=%"
				PRIu64 "\n", r, rr.assign_gen);
			continue;
		}
		fprintf(f, "rtab r=%" PRIu32 " cls=%u", r, rr.cls);
		if (rr.cls < d->sb.class_count)
			fprintf(f, " payload=%" PRIu32,
				dm_class_payload(&d->sb, rr.cls));
		else
			fputs(" bad-class", f);
		fprintf(f, " assign_gen=%" PRIu64 "\n", rr.assign_gen);
	}
	d->have_rtab = true;

	for (uint64_t i = 0; i < h->obj_count; i++) {
		size_t at = (size_t)(p - base);
		if ((size_t)(end - p) < SL_OBJ_REC_SIZE) {
			why = "object-truncated";
			goto bad;
		}
		struct sl_obj_rec rec;
		const uint8_t *start = p;
		sl_obj_rec_decode(p, &rec);
		p += SL_OBJ_REC_SIZE;
		fprintf(f, "obj oid=%" PRIu64 " mode=0%" PRIo32 " type=%s"
			" nlink=%" PRIu32 " uid=%" PRIu32 " gid=%" PRIu32
			" rdev=%" PRIu64 " size=%" PRIu64 " atime_ns=%" PRId64
			" mtime_ns=%" PRId64 " ctime_ns=%" PRId64 " txn=%" PRIu64
			" nchunks=%" PRIu32 " target_len=%" PRIu32 "\n",
			rec.oid, rec.mode, dm_type(rec.mode), rec.nlink,
			rec.uid, rec.gid, rec.rdev, rec.size, rec.atime_ns,
			rec.mtime_ns, rec.ctime_ns, rec.txn, rec.nchunks,
			rec.target_len);
		if ((uint64_t)rec.nchunks * SL_CHUNK_REC_SIZE >
			    (uint64_t)(end - p)) {
			why = "chunks-truncated";
			goto bad_at;
		}
		if (rec.target_len > SLOT_PATH_MAX) {
			why = "target_len-range";
			goto bad_at;
		}
		switch (rec.mode & S_IFMT) {
		case S_IFREG: files++; break;
		case S_IFDIR: dirs++; break;
		case S_IFLNK: links++; break;
		default: other++; break;
		}
		bytes += rec.size;
		for (uint32_t k = 0; k < rec.nchunks; k++) {
			struct sl_chunk_rec cr;
			sl_chunk_rec_decode(p, &cr);
			p += SL_CHUNK_REC_SIZE;
			fprintf(f, "chunk oid=%" PRIu64 " idx=%" PRIu32
				" slot=%" PRIu32 ":%" PRIu32 " gen=%" PRIu64
				" len=%" PRIu32, rec.oid, cr.idx,
				sl_slot_region(cr.slot),
				sl_slot_index(cr.slot), cr.gen, cr.len);
			if (kcsum < ncsum)
				fprintf(f, " csum=0x%016" PRIx64 "\n",
					sl_get64(csums + 8 * kcsum));
			else
				fprintf(f, " csum=unknown\n");
			kcsum++;
			chunks++;
		}
		if (rec.target_len) {
			if ((size_t)(end - p) < rec.target_len) {
				why = "target-truncated";
				goto bad_at;
			}
			fprintf(f, "symlink oid=%" PRIu64 " target=", rec.oid);
			dm_str(f, (const char *)p, rec.target_len);
			fputc('\n', f);
		}
		size_t used = SL_ALIGN_UP(SL_OBJ_REC_SIZE +
					  (size_t)rec.nchunks *
						  SL_CHUNK_REC_SIZE +
					  rec.target_len, 8);
		if ((size_t)(end - start) < used) {
			why = "object-padding-truncated";
			goto bad_at;
		}
		p = start + used;
		continue;
bad_at:
		fprintf(f, "ckpt-error at=%zu object=%" PRIu64 " reason=%s\n",
			at, i, why);
		return -EUCLEAN;
	}

	for (uint64_t i = 0; i < h->dirent_count; i++) {
		size_t at = (size_t)(p - base);
		if ((size_t)(end - p) < SL_DIRENT_REC_FIXED) {
			why = "dirent-truncated";
			goto bad;
		}
		uint64_t parent = sl_get64(p), child = sl_get64(p + 8);
		uint16_t len = sl_get16(p + 16);
		size_t used = SL_ALIGN_UP(SL_DIRENT_REC_FIXED + (size_t)len, 8);
		if (len == 0 || len > SLOT_NAME_MAX ||
		    (size_t)(end - p) < SL_DIRENT_REC_FIXED + (size_t)len) {
			fprintf(f, "ckpt-error at=%zu dirent=%" PRIu64
				" reason=%s\n", at, i,
				len == 0 || len > SLOT_NAME_MAX ?
					"name_len-range" : "name-truncated");
			return -EUCLEAN;
		}
		fprintf(f, "dirent parent=%" PRIu64 " child=%" PRIu64 " name=",
			parent, child);
		dm_str(f, (const char *)p + SL_DIRENT_REC_FIXED, len);
		fputc('\n', f);
		dents++;
		p += SL_MIN(used, (size_t)(end - p));
	}
	uint64_t xa_off;
	if (sl_ckpt_xattrs(h, &xa_off)) {
		fprintf(f, "ckpt-error xattrs=%" PRIu64 " reason=%s\n",
			h->xattr_count, "xattr-section-outside-payload");
		return -EUCLEAN;
	}
	const uint8_t *xp = base + xa_off;
	for (uint64_t i = 0; i < h->xattr_count; i++) {
		struct sl_xattr_rec r;
		int64_t used = sl_xattr_rec_decode(xp, (size_t)(end - xp), &r);
		if (used < 0) {
			fprintf(f, "ckpt-error at=%zu xattr=%" PRIu64
				" reason=xattr-truncated\n",
				(size_t)(xp - base), i);
			return -EUCLEAN;
		}
		fprintf(f, "xattr oid=%" PRIu64 " value_len=%" PRIu32 " name=",
			r.oid, r.value_len);
		dm_str(f, r.name, r.name_len);
		if (sl_acl_kind(r.name, r.name_len) > 0)
			dm_acl(f, r.value, r.value_len);
		fputc('\n', f);
		xp += used;
	}
	uint64_t rv_off;
	if (sl_ckpt_resv(h, &rv_off)) {
		fprintf(f, "ckpt-error resv=%" PRIu64 " reason=%s\n",
			h->resv_count, "resv-section-outside-payload");
		return -EUCLEAN;
	}
	for (uint64_t i = 0; i < h->resv_count; i++) {
		const uint8_t *rp = base + rv_off + i * SL_RESV_REC_SIZE;
		fprintf(f, "resv oid=%" PRIu64 " chunks=%" PRIu32 "-%" PRIu32
			"\n", sl_get64(rp), sl_get32(rp + 8), sl_get32(rp + 12));
	}
	fprintf(f, "ckpt-summary seq=%" PRIu64 " objects=%" PRIu64
		" files=%" PRIu64 " dirs=%" PRIu64 " symlinks=%" PRIu64
		" other=%" PRIu64 " chunks=%" PRIu64 " bytes=%" PRIu64
		" dirents=%" PRIu64 " trailing=%zu\n", h->seq,
		files + dirs + links + other, files, dirs, links, other, chunks,
		bytes, dents, (size_t)(end - p));
	return 0;
bad:
	fprintf(f, "ckpt-error at=%zu reason=%s\n", (size_t)(p - base), why);
	return -EUCLEAN;
}

static int dm_ckpts(struct dm *d)
{
	struct dm_ckpt c[2];
	for (unsigned i = 0; i < 2; i++)
		dm_ckpt_read(d, i, &c[i]);
	int cur = -1;
	for (unsigned i = 0; i < 2; i++)
		if (c[i].valid && (cur < 0 || c[i].h.seq > c[cur].h.seq))
			cur = (int)i;
	for (unsigned i = 0; i < 2; i++)
		dm_ckpt_hdr_print(d, i, &c[i], cur == (int)i);
	int err = 0;
	if (cur < 0)
		fprintf(d->out, "ckpt current=none\n");
	else
		dm_ckpt_payload(d, &c[cur]);
	for (unsigned i = 0; i < 2; i++) {
		if (c[i].hres == -ENOMEM)
			err = -ENOMEM;
		free(c[i].payload);
	}
	return err;
}

/* ------------------------------------------------------------------ */
/* Regions and slots                                                   */
/* ------------------------------------------------------------------ */

struct dm_slot_count {
	uint64_t total, valid, empty, stale, foreign, garbage, damaged, unread;
	uint64_t journal;
};

static void dm_slot_print(struct dm *d, uint32_t r, uint32_t j,
			  const struct sl_slot_hdr *h)
{
	FILE *f = d->out;
	fprintf(f, "slot %" PRIu32 ":%" PRIu32 " oid=%" PRIu64 " gen=%" PRIu64
		" txn=%" PRIu64 " idx=%" PRIu32 "/%" PRIu32 " len=%" PRIu32
		" flags=", r, j, h->oid, h->gen, h->txn, h->idx, h->txn_chunks,
		h->payload_len);
	static const char *const names[] = { "WHOLE", "MODE_CKPT",
					     "SIZE_LAGS" };
	uint32_t left = h->flags;
	if (!left)
		fputs("none", f);
	for (unsigned b = 0; b < SL_ARRAY_SIZE(names); b++)
		if (left & (1u << b)) {
			left &= ~(1u << b);
			fprintf(f, "%s%s", names[b], left ? "|" : "");
		}
	if (left)
		fprintf(f, "0x%" PRIx32, left);
	fprintf(f, " csum=0x%016" PRIx64 " size=%" PRIu64, h->payload_csum,
		h->obj_size);
	if (h->flags & SL_SLOT_SIZE_LAGS)
		fprintf(f, " safe=%" PRIu64, h->safe_size);
	fprintf(f, " mode=0%" PRIo32 " uid=%" PRIu32 " gid=%" PRIu32
		" cls=%u mtime_ns=%" PRId64 " ctime_ns=%" PRId64 " name=",
		h->mode, h->uid, h->gid, h->cls, h->mtime_ns, h->ctime_ns);
	dm_str(f, h->name, h->name_len);
	fprintf(f, " parent=%" PRIu64 "\n", h->parent);
}

/* Read and classify the slot headers of region r (class cls). */
static int dm_region_slots(struct dm *d, uint32_t r, unsigned cls,
			   uint64_t assign_gen, struct dm_slot_count *tot)
{
	uint64_t stride = (uint64_t)d->bs + dm_class_payload(&d->sb, cls);
	uint64_t roff = d->sb.slot_area_offset + (uint64_t)r * d->sb.region_size;
	uint32_t nslots = (uint32_t)((d->sb.region_size - d->bs) / stride);
	struct dm_slot_count cnt = { 0 };
	uint8_t *buf = sl_alloc_aligned((size_t)DM_BATCH * d->bs);
	struct slot_io *ios = calloc(DM_BATCH, sizeof(*ios));
	int err = 0;
	if (!buf || !ios) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t base = 0; base < nslots; base += DM_BATCH) {
		uint32_t n = SL_MIN(DM_BATCH, nslots - base), m = 0;
		for (uint32_t i = 0; i < n; i++) {
			uint64_t off = roff + d->bs + (uint64_t)(base + i) * stride;
			if (off > d->dev->size || d->bs > d->dev->size - off)
				break;  /* past a truncated device's end */
			ios[i] = (struct slot_io){ .buf = buf + (size_t)i * d->bs,
						   .off = off, .len = d->bs };
			m++;
		}
		if (m)
			d->dev->ops->read(d->dev->ctx, ios, m);
		for (uint32_t i = 0; i < n; i++) {
			uint32_t j = base + i;
			cnt.total++;
			if (i >= m || ios[i].res < 0) {
				cnt.unread++;
				fprintf(d->out, "slot %" PRIu32 ":%" PRIu32
					" read-error\n", r, j);
				continue;
			}
			const uint8_t *b = buf + (size_t)i * d->bs;
			struct sl_slot_hdr h;
			int res = sl_slot_hdr_decode(b, &h);
			const char *why = NULL;
			struct sl_jnl_hdr jh;
			if (res == -EINVAL && !sl_jnl_hdr_decode(b, &jh) &&
			    !memcmp(jh.uuid, sl_sb_hdr_uuid(&d->sb), 16) &&
			    jh.gen >= assign_gen) {
				/* a journal slot: in use, or free and not
				 * replayed (FORMAT.md, "Journal") */
				cnt.journal++;
				fprintf(d->out, "slot %" PRIu32 ":%" PRIu32
					" journal gen=%" PRIu64 " jid=0x%016"
					PRIx64 " lsn=%" PRIu64 " records=%" PRIu32
					" payload_len=%" PRIu32 "\n", r, j, jh.gen,
					jh.jid, jh.lsn, jh.rec_count,
					jh.payload_len);
				continue;
			}
			if (res == -EINVAL) {
				/* no magic: never written, or payload bytes
				 * of an earlier class layout; neither is
				 * damage, so they are only counted */
				if (dm_zero(b, SL_SLOT_HDR_SIZE))
					cnt.empty++;
				else
					cnt.garbage++;
				continue;
			}
			if (res == -EBADMSG)
				why = "checksum";
			else if (res == -EUCLEAN)
				why = "range";
			if (why) {
				cnt.damaged++;
				fprintf(d->out, "slot %" PRIu32 ":%" PRIu32
					" damaged reason=%s\n", r, j, why);
				continue;
			}
			if (memcmp(h.uuid, sl_sb_hdr_uuid(&d->sb), 16)) {
				cnt.foreign++;
				continue;
			}
			if (h.gen < assign_gen) {
				cnt.stale++;
				continue;
			}
			cnt.valid++;
			dm_slot_print(d, r, j, &h);
		}
	}
	fprintf(d->out, "slots r=%" PRIu32 " total=%" PRIu64 " valid=%" PRIu64
		" empty=%" PRIu64 " stale=%" PRIu64 " foreign=%" PRIu64
		" garbage=%" PRIu64 " damaged=%" PRIu64 " unread=%" PRIu64
		" journal=%" PRIu64 "\n",
		r, cnt.total, cnt.valid, cnt.empty, cnt.stale, cnt.foreign,
		cnt.garbage, cnt.damaged, cnt.unread, cnt.journal);
	tot->total += cnt.total;
	tot->valid += cnt.valid;
	tot->empty += cnt.empty;
	tot->stale += cnt.stale;
	tot->foreign += cnt.foreign;
	tot->garbage += cnt.garbage;
	tot->damaged += cnt.damaged;
	tot->unread += cnt.unread;
	tot->journal += cnt.journal;
out:
	free(buf);
	free(ios);
	return err;
}

static int dm_regions(struct dm *d, bool slots)
{
	FILE *f = d->out;
	uint32_t nreg = d->sb.region_count;
	uint8_t *buf = sl_alloc_aligned((size_t)DM_BATCH * d->bs);
	struct slot_io *ios = calloc(DM_BATCH, sizeof(*ios));
	struct dm_slot_count tot = { 0 };
	int err = 0;
	if (!buf || !ios) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t base = 0; !err && base < nreg; base += DM_BATCH) {
		uint32_t n = SL_MIN(DM_BATCH, nreg - base), m = 0;
		for (uint32_t i = 0; i < n; i++) {
			uint64_t off = d->sb.slot_area_offset +
				       (uint64_t)(base + i) * d->sb.region_size;
			if (off > d->dev->size || d->bs > d->dev->size - off)
				break;
			ios[i] = (struct slot_io){ .buf = buf + (size_t)i * d->bs,
						   .off = off, .len = d->bs };
			m++;
		}
		if (m)
			d->dev->ops->read(d->dev->ctx, ios, m);
		/* slots are read region by region after the batch's
		 * headers are printed, so buf is not reused under them */
		uint8_t cls[DM_BATCH];
		uint64_t gen[DM_BATCH];
		for (uint32_t i = 0; i < n; i++) {
			uint32_t r = base + i;
			uint64_t off = d->sb.slot_area_offset +
				       (uint64_t)r * d->sb.region_size;
			uint8_t ccls = d->have_rtab ? d->ckpt_cls[r] :
						      SL_RGN_FREE;
			cls[i] = ccls;
			gen[i] = d->have_rtab ? d->ckpt_gen[r] : 0;
			fprintf(f, "region r=%" PRIu32 " off=%" PRIu64, r, off);
			if (i >= m || ios[i].res < 0) {
				fputs(" read-error", f);
			} else {
				const uint8_t *b = buf + (size_t)i * d->bs;
				struct sl_rgn_hdr h;
				int res = sl_rgn_hdr_decode(b, &h);
				bool zero = dm_zero(b, SL_RGN_HDR_SIZE);
				fprintf(f, " csum=%s", res == -EINVAL && zero ?
					"absent" : dm_csum_status(res));
				if (res == -EINVAL && !zero)
					fputs(" reason=no-magic", f);
				if (res == 0 || res == -EUCLEAN) {
					bool uuid_ok = !memcmp(h.uuid,
						sl_sb_hdr_uuid(&d->sb), 16);
					bool ours = uuid_ok && h.region == r;
					bool good = !res && ours &&
						    (h.cls == SL_RGN_FREE ||
						     h.cls < d->sb.class_count);
					fprintf(f, " valid=%s", good ? "yes" :
						"no");
					if (h.cls == SL_RGN_FREE)
						fputs(" cls=free", f);
					else
						fprintf(f, " cls=%u", h.cls);
					fprintf(f, " region=%" PRIu32
						" uuid=%s assign_gen=%" PRIu64
						" checksum=0x%016" PRIx64,
						h.region,
						uuid_ok ? "ok" : "mismatch",
						h.assign_gen,
						h.checksum);
					/* a valid header newer than the
					 * table is what recovery follows */
					if (good && h.cls != SL_RGN_FREE &&
					    (ccls == SL_RGN_FREE ||
					     h.assign_gen >= gen[i])) {
						cls[i] = h.cls;
						gen[i] = h.assign_gen;
					}
				}
			}
			if (d->have_rtab) {
				if (d->ckpt_cls[r] == SL_RGN_FREE)
					fputs(" ckpt_cls=free", f);
				else
					fprintf(f, " ckpt_cls=%u",
						d->ckpt_cls[r]);
				fprintf(f, " ckpt_assign_gen=%" PRIu64,
					d->ckpt_gen[r]);
			}
			fputc('\n', f);
		}
		for (uint32_t i = 0; slots && !err && i < n; i++)
			if (cls[i] != SL_RGN_FREE && cls[i] < d->sb.class_count)
				err = dm_region_slots(d, base + i, cls[i],
						      gen[i], &tot);
	}
	if (slots && !err)
		fprintf(f, "slots total=%" PRIu64 " valid=%" PRIu64
			" empty=%" PRIu64 " stale=%" PRIu64 " foreign=%" PRIu64
			" garbage=%" PRIu64 " damaged=%" PRIu64
			" unread=%" PRIu64 " journal=%" PRIu64 "\n",
			tot.total, tot.valid, tot.empty, tot.stale,
			tot.foreign, tot.garbage, tot.damaged, tot.unread,
			tot.journal);
out:
	free(buf);
	free(ios);
	return err;
}

/* ------------------------------------------------------------------ */
/* The superblock in words (tune.slotfs -l)                            */
/* ------------------------------------------------------------------ */

static void ds_time(FILE *f, const char *what, uint64_t t, const char *none)
{
	char buf[64];
	time_t tt = (time_t)t;
	struct tm tm;
	if (!t || !localtime_r(&tt, &tm) ||
	    !strftime(buf, sizeof(buf), "%a %b %e %H:%M:%S %Y", &tm))
		snprintf(buf, sizeof(buf), "%s", none);
	fprintf(f, "%-26s%s\n", what, buf);
}

int slot_describe(struct slot_dev *dev, FILE *out)
{
	struct sl_sb sb;
	bool backup;
	int err = sl_sb_read(dev, &sb, &backup);
	if (err)
		return err;
	char label[sizeof(sb.label) + 1] = { 0 }, sz[32];
	memcpy(label, sb.label, strnlen(sb.label, sizeof(sb.label)));
	fprintf(out, "%-26s%u.%u\n", "slotfs format version:",
		sb.version_major, sb.version_minor);
	fprintf(out, "%-26s%s\n", "Filesystem volume name:",
		label[0] ? label : "<none>");
	fprintf(out, "%-26s", "Filesystem UUID:");
	dm_uuid(out, sb.uuid);
	if (sb.feature_incompat & SL_FEAT_INCOMPAT_META_UUID) {
		fprintf(out, "\n%-26s", "Header UUID:");
		dm_uuid(out, sb.meta_uuid);
	}
	fprintf(out, "\n%-26s", "Filesystem features:");
	static const struct dm_bit ro_names[] = {
		{ SL_FEAT_RO_COMPAT_XATTR, "xattr" },
	}, in_names[] = {
		{ SL_FEAT_INCOMPAT_META_UUID, "meta_uuid" },
		{ SL_FEAT_INCOMPAT_RECOVER, "needs_recovery" },
		{ SL_FEAT_INCOMPAT_PUNCH, "journal_punch" },
		{ SL_FEAT_INCOMPAT_DATA, "journal_data" },
		{ SL_FEAT_INCOMPAT_RESV, "journal_resv" },
		{ SL_FEAT_INCOMPAT_JNL_XATTR, "journal_xattr" },
		{ SL_FEAT_INCOMPAT_JNL_ACL, "journal_acl" },
		{ SL_FEAT_INCOMPAT_RESV_CUT, "journal_resv_cut" },
		{ SL_FEAT_INCOMPAT_XATTR_LARGE, "journal_xattr_large" },
		{ SL_FEAT_INCOMPAT_DATA_EXTEND, "journal_data_extend" },
	};
	const char *sep = "";
	uint32_t ro = dm_bit_names(out, sb.feature_ro_compat, ro_names,
				   SL_ARRAY_SIZE(ro_names), &sep, " ");
	uint32_t in = dm_bit_names(out, sb.feature_incompat, in_names,
				   SL_ARRAY_SIZE(in_names), &sep, " ");
	if (!*sep && !ro && !sb.feature_compat && !in)
		fputs("(none)", out);
	if (sb.feature_compat || ro || in)
		fprintf(out, "%scompat=0x%" PRIx32 " ro_compat=0x%" PRIx32
			" incompat=0x%" PRIx32, sep, sb.feature_compat, ro,
			in);
	fprintf(out, "\n%-26s%s%s\n", "Filesystem state:",
		sb.flags & SL_SB_CLEAN ? "clean" : "not clean",
		sb.flags & SL_SB_ERRORS ? " with errors" : "");
	fprintf(out, "%-26s%s\n", "Errors behavior:",
		sb.errors == SL_ERRORS_RO ? "Remount read-only" : "Continue");
	fprintf(out, "%-26s%s\n", "Superblock in use:", backup ?
		"backup (the primary is damaged: run fsck.slotfs)" : "primary");
	fprintf(out, "%-26s%" PRIu64 "\n", "Device size (bytes):",
		sb.device_size);
	fprintf(out, "%-26s%" PRIu32 "\n", "Block size:", sb.block_size);
	fprintf(out, "%-26s", "Slot payload sizes:");
	for (unsigned c = 0; c < sb.class_count; c++) {
		slot_format_size(dm_class_payload(&sb, c), sz, sizeof(sz));
		fprintf(out, "%s%s", c ? " " : "", sz);
	}
	slot_format_size(sb.region_size, sz, sizeof(sz));
	fprintf(out, "\n%-26s%" PRIu32 " of %s each\n", "Regions:",
		sb.region_count, sz);
	slot_format_size(sb.meta_size, sz, sizeof(sz));
	fprintf(out, "%-26s%s (two checkpoint containers)\n",
		"Metadata size:", sz);
	ds_time(out, "Filesystem created:", sb.create_time, "unknown");
	ds_time(out, "Last mount time:", sb.mount_time, "n/a");
	ds_time(out, "Last write time:", sb.write_time, "n/a");
	fprintf(out, "%-26s%" PRIu32 "\n", "Mount count:", sb.mount_count);
	ds_time(out, "Last checked:", sb.fsck_time, "never");
	if (sb.error_count || (sb.flags & SL_SB_ERRORS)) {
		fprintf(out, "%-26s%" PRIu32 "\n", "FS Error count:",
			sb.error_count);
		ds_time(out, "First error time:", sb.first_error_time, "n/a");
		ds_time(out, "Last error time:", sb.last_error_time, "n/a");
		fprintf(out, "%-26s%s\n", "Last error:",
			sl_err_what(sb.last_error));
	}
	return 0;
}

int slot_dump(struct slot_dev *dev, FILE *out, bool slots)
{
	struct dm d = { .dev = dev, .out = out };
	int err = dm_sbs(&d);
	if (err)
		return err;
	d.ckpt_cls = malloc(d.sb.region_count);
	d.ckpt_gen = calloc(d.sb.region_count, sizeof(*d.ckpt_gen));
	if (!d.ckpt_cls || !d.ckpt_gen) {
		err = -ENOMEM;
		goto out;
	}
	memset(d.ckpt_cls, SL_RGN_FREE, d.sb.region_count);
	err = dm_ckpts(&d);
	if (!err)
		err = dm_regions(&d, slots);
out:
	free(d.ckpt_cls);
	free(d.ckpt_gen);
	return err;
}
