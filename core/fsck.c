/* SPDX-License-Identifier: MIT */
/*
 * fsck.c - check and repair, in passes, with e2fsck's conventions.
 *
 *   Pass 0  superblocks: primary against backup, device size
 *   Pass 1  checkpoint containers; rebuild from a full scan if both lost
 *   Pass 2  every index entry against its slot: header and payload
 *   Pass 3  slots written after the checkpoint (an unclean close)
 *   Pass 4  objects: missing chunks, chunks past the end
 *   Pass 5  directory tree: reachability, loops, link counts
 *   Pass 6  region headers
 * Then, when repairing, a fresh checkpoint and the clean flag.
 *
 * Each problem fsck can find has a code and a message in fk_problems[],
 * as e2fsck's problem table does.
 */
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"

enum fk_code {
	PR_SB_PRIMARY_BAD,
	PR_SB_BACKUP_BAD,
	PR_SB_MISMATCH,
	PR_SB_DEVICE_SHORT,
	PR_SB_NOT_CLEAN,
	PR_SB_ERRORS,
	PR_CKPT_BAD,
	PR_CKPT_BOTH_LOST,
	PR_INDEX_BAD_REF,
	PR_INDEX_DUP_SLOT,
	PR_INDEX_CSUM,
	PR_SLOT_HDR_BAD,
	PR_SLOT_PAYLOAD_BAD,
	PR_SLOT_NEWER,
	PR_JNL_REPLAY,
	PR_JNL_DATA,
	PR_OBJ_LOST_FOUND,
	PR_OBJ_MISSING_CHUNK,
	PR_OBJ_CHUNKS_DROPPED,
	PR_OBJ_CHUNK_PAST_EOF,
	PR_OBJ_SIZE_BAD,
	PR_DIR_UNREACHABLE,
	PR_DIR_LOOP,
	PR_DIR_PARENT,
	PR_NLINK,
	PR_RGN_HDR_BAD,
	PR_XATTR_BAD,
	PR_SB_FEATURE_XATTR,
	PR_ACL_MODE,
	PR_RESV_BAD,
	PR_RESV_SPACE,
	PR_COUNT
};

/*
 * preen: what -p may fix without asking, as e2fsck's PR_PREEN_OK: what a
 * crash leaves (slots newer than the checkpoint, files whose directory
 * was made after it, link counts, a torn checkpoint container) and what
 * loses nothing; the rest means damage, for a person to look at.
 */
static const struct fk_problem {
	const char *code;
	const char *what;       /* printf format for the details */
	bool preen;
} fk_problems[PR_COUNT] = {
	[PR_SB_PRIMARY_BAD] = { "PR_SB_PRIMARY_BAD",
		"primary superblock damaged; restore from backup" },
	[PR_SB_BACKUP_BAD] = { "PR_SB_BACKUP_BAD",
		"backup superblock damaged; rewrite from primary", true },
	[PR_SB_MISMATCH] = { "PR_SB_MISMATCH",
		"backup superblock differs from primary (%s); rewrite", true },
	[PR_SB_DEVICE_SHORT] = { "PR_SB_DEVICE_SHORT",
		"device is %llu bytes, file system needs %llu (truncated?); "
		"%u regions lie past its end" },
	[PR_SB_NOT_CLEAN] = { "PR_SB_NOT_CLEAN",
		"file system was not cleanly unmounted", true },
	[PR_SB_ERRORS] = { "PR_SB_ERRORS",
		"file system has %u errors recorded in use (the last: %s); "
		"check it all, then clear the record", true },
	[PR_CKPT_BAD] = { "PR_CKPT_BAD",
		"checkpoint container %c damaged (%s); write a new checkpoint", true },
	[PR_CKPT_BOTH_LOST] = { "PR_CKPT_BOTH_LOST",
		"both checkpoint containers lost; rebuild the index from a "
		"full slot-header scan" },
	[PR_INDEX_BAD_REF] = { "PR_INDEX_BAD_REF",
		"%llu index entries point outside the slot area; clear them" },
	[PR_INDEX_DUP_SLOT] = { "PR_INDEX_DUP_SLOT",
		"%llu index entries claim a slot another entry owns; clear them" },
	[PR_INDEX_CSUM] = { "PR_INDEX_CSUM",
		"%llu index entries remember a payload checksum their slot "
		"headers do not have; take the headers'", true },
	[PR_SLOT_HDR_BAD] = { "PR_SLOT_HDR_BAD",
		"inode %llu chunk %u: slot %u:%u header %s; clear the chunk" },
	[PR_SLOT_PAYLOAD_BAD] = { "PR_SLOT_PAYLOAD_BAD",
		"inode %llu chunk %u: slot %u:%u payload checksum mismatch; "
		"clear the chunk" },
	[PR_SLOT_NEWER] = { "PR_SLOT_NEWER",
		"%llu slots of %llu objects written after the last checkpoint; "
		"recover them", true },
	[PR_JNL_REPLAY] = { "PR_JNL_REPLAY",
		"%llu journal slots hold changes made after the last "
		"checkpoint; replay them", true },
	[PR_JNL_DATA] = { "PR_JNL_DATA",
		"%llu journaled writes of file data after the last "
		"checkpoint; apply them", true },
	[PR_OBJ_LOST_FOUND] = { "PR_OBJ_LOST_FOUND",
		"%llu recovered objects have no usable name; connect them to "
		"/lost+found", true },
	[PR_OBJ_MISSING_CHUNK] = { "PR_OBJ_MISSING_CHUNK",
		"inode %llu (%s) lost %llu chunks of a whole object, the "
		"first at %u; it reads zeros there" },
	[PR_OBJ_CHUNKS_DROPPED] = { "PR_OBJ_CHUNKS_DROPPED",
		"inode %llu (%s) lost %u chunks whose index entries did not "
		"hold; it reads zeros there" },
	[PR_OBJ_CHUNK_PAST_EOF] = { "PR_OBJ_CHUNK_PAST_EOF",
		"inode %llu chunk %u lies past the end of the file; clear it", true },
	[PR_OBJ_SIZE_BAD] = { "PR_OBJ_SIZE_BAD",
		"inode %llu size %llu is past the largest file; set it to "
		"the end of its data, %llu" },
	[PR_DIR_UNREACHABLE] = { "PR_DIR_UNREACHABLE",
		"inode %llu is not reachable from the root; connect it to "
		"/lost+found" },
	[PR_DIR_LOOP] = { "PR_DIR_LOOP",
		"directory %llu is its own ancestor; connect it to /lost+found" },
	[PR_DIR_PARENT] = { "PR_DIR_PARENT",
		"directory %llu has a second name in directory %llu ('%s'); "
		"remove it" },
	[PR_NLINK] = { "PR_NLINK",
		"inode %llu link count is %u, should be %u; fix", true },
	[PR_RGN_HDR_BAD] = { "PR_RGN_HDR_BAD",
		"region %u header missing or wrong; rewrite" },
	[PR_XATTR_BAD] = { "PR_XATTR_BAD",
		"%llu extended attribute records are damaged or name no "
		"file; clear them" },
	[PR_SB_FEATURE_XATTR] = { "PR_SB_FEATURE_XATTR",
		"files have extended attributes but the superblock lacks "
		"the xattr feature; set it", true },
	[PR_ACL_MODE] = { "PR_ACL_MODE",
		"inode %llu mode %03o disagrees with its ACL (%03o); set it "
		"from the ACL", true },
	[PR_RESV_BAD] = { "PR_RESV_BAD",
		"%llu records of space set aside by fallocate are damaged "
		"or name no file; clear them" },
	[PR_RESV_SPACE] = { "PR_RESV_SPACE",
		"%llu files have more space set aside than the free space "
		"holds; drop it", true },
};

struct fk {
	struct slot_dev *dev;
	const struct slot_fsck_opts *o;
	struct slot_fsck_result *r;
	struct slot_store *s;
	bool repair;
	bool modified;          /* something on disk must change */
	bool was_clean;         /* the superblock's clean flag */
	/* -p: repairs are made in memory and written only if every problem
	 * is one it may fix (!unexpected); what it found is said at the end,
	 * fixed or not */
	bool preen, unexpected;
	struct fk_said {
		enum fk_code c;
		char msg[512];
	} *said;
	size_t nsaid;
};

static bool fk_preen_ok(const struct fk *f, enum fk_code c)
{
	/* a torn container is a crash's; one of a clean unmount, damage */
	if (c == PR_CKPT_BAD)
		return !f->was_clean;
	return fk_problems[c].preen;
}

static void fk_report(struct fk *f, enum fk_code c, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, c);
	vsnprintf(msg, sizeof(msg), fk_problems[c].what, ap);
	va_end(ap);
	f->r->problems++;
	if (!fk_preen_ok(f, c))
		f->unexpected = true;
	if (f->repair) {
		f->r->fixed++;
		f->modified = true;
	}
	if (f->preen) {
		struct fk_said *n = realloc(f->said,
					    (f->nsaid + 1) * sizeof(*n));
		if (n) {
			f->said = n;
			n[f->nsaid].c = c;
			memcpy(n[f->nsaid++].msg, msg, sizeof(msg));
		}
	} else if (f->o->problem) {
		f->o->problem(f->o->arg, fk_problems[c].code, msg, f->repair);
	}
}

/* Whether the repairs go to the device: not a check's, nor a preen's
 * that found what it may not fix. */
static bool fk_writes(const struct fk *f)
{
	return f->repair && !(f->preen && f->unexpected);
}

/* -p, at its end: what it found, fixed when it wrote. */
static void fk_said(struct fk *f, bool fixed)
{
	for (size_t i = 0; f->o->problem && i < f->nsaid; i++)
		f->o->problem(f->o->arg, fk_problems[f->said[i].c].code,
			      f->said[i].msg, fixed);
	free(f->said);
	f->said = NULL;
	f->nsaid = 0;
}

static void fk_progress(void *arg, const char *pass, uint64_t done,
			uint64_t total)
{
	struct fk *f = arg;
	if (f->o->progress)
		f->o->progress(f->o->arg, pass, done, total);
}

/* ------------------------------------------------------------------ */
/* Pass 0: superblocks                                                 */
/* ------------------------------------------------------------------ */

static int fk_read_sb(struct slot_dev *dev, uint64_t off, struct sl_sb *sb)
{
	uint8_t *b = sl_alloc_aligned(SL_BLOCK);
	if (!b)
		return -ENOMEM;
	struct slot_io io = { .buf = b, .off = off, .len = SL_BLOCK };
	/* no superblock fits past the end: none is there (an empty file) */
	int err = dev->size >= off + SL_BLOCK ? dev->ops->read(dev->ctx, &io, 1)
					       : -EINVAL;
	if (!err)
		err = sl_sb_decode(b, sb);
	free(b);
	return err;
}

static const char *fk_sb_diff(const struct sl_sb *a, const struct sl_sb *b)
{
	if (memcmp(a->uuid, b->uuid, 16) ||
	    memcmp(sl_sb_hdr_uuid(a), sl_sb_hdr_uuid(b), 16))
		return "uuid";
	if (a->device_size != b->device_size || a->region_count != b->region_count ||
	    a->region_size != b->region_size || a->meta_size != b->meta_size ||
	    a->slot_area_offset != b->slot_area_offset ||
	    a->chunk_shift != b->chunk_shift || a->min_shift != b->min_shift)
		return "geometry";
	if (strncmp(a->label, b->label, sizeof(a->label)))
		return "label";
	/* tune.slotfs -e cut short between the copies */
	if (a->errors != b->errors)
		return "errors behaviour";
	if (a->feature_compat != b->feature_compat ||
	    a->feature_ro_compat != b->feature_ro_compat ||
	    ((a->feature_incompat ^ b->feature_incompat) &
	     ~SL_FEAT_INCOMPAT_OPEN))
		return "features";
	return NULL;
}

/* How many checkpoint containers carry this superblock's header uuid. */
static int fk_sb_votes(struct slot_dev *dev, const struct sl_sb *sb)
{
	int votes = 0;
	uint8_t *b = sl_alloc_aligned(SL_BLOCK);
	for (unsigned i = 0; b && i < 2; i++) {
		uint64_t off = sb->meta_offset + i * (sb->meta_size / 2);
		struct sl_ckpt_hdr h;
		if (off + SL_BLOCK > dev->size ||
		    sl_dev_span(dev, false, off, b, SL_BLOCK) ||
		    sl_ckpt_hdr_decode(b, &h))
			continue;
		votes += !memcmp(h.uuid, sl_sb_hdr_uuid(sb), 16);
	}
	free(b);
	return votes;
}

static int fk_pass_sb(struct fk *f, struct sl_sb *sb, bool *sb_write,
		      bool *backup_write)
{
	struct sl_sb p, b;
	int ep = fk_read_sb(f->dev, SL_SB_PRIMARY_OFF, &p);
	int eb = fk_read_sb(f->dev, SL_SB_BACKUP_OFF, &b);
	if (ep == -EIO && eb == -EIO)
		return -EIO;
	if (ep && eb)
		return (ep == -EINVAL && eb == -EINVAL) ? -EINVAL : -EUCLEAN;
	/* never "restored" over another file system's */
	int foreign = ep ? sl_sb_foreign(f->dev, ep) : 0;
	if (foreign)
		return foreign;
	bool take_backup = ep != 0;
	if (!ep) {
		*sb = p;
		const char *d = eb ? NULL : fk_sb_diff(&p, &b);
		bool newer = !sl_sb_supported(&p);
		int vp = d ? fk_sb_votes(f->dev, &p) : 0;
		int vb = d ? fk_sb_votes(f->dev, &b) : 0;
		/* a newer slotfs's: nothing here is ours to judge (its open
		 * sets bits in the primary alone) */
		if (newer && vb <= vp)
			return -EPROTONOSUPPORT;
		if (eb) {
			fk_report(f, PR_SB_BACKUP_BAD);
			*backup_write = true;
		} else {
			/* the checkpoints side with the backup, or only the
			 * backup's file system fits the device: the primary
			 * is the damaged one, checksum or not */
			if (d && (vb > vp ||
				  (vb == vp && b.device_size <= f->dev->size &&
				   p.device_size > f->dev->size)))
				take_backup = true;
			else if (d) {
				fk_report(f, PR_SB_MISMATCH, d);
				*backup_write = true;
			}
		}
	}
	if (take_backup) {
		fk_report(f, PR_SB_PRIMARY_BAD);
		*sb = b;
		/* the backup's clean flag may be mkfs's (FORMAT.md) */
		sb->flags &= ~SL_SB_CLEAN;
		*sb_write = true;
	}
	if (!sl_sb_supported(sb))
		return -EPROTONOSUPPORT;
	if (f->dev->size < sb->device_size) {
		uint64_t room = f->dev->size > sb->slot_area_offset ?
					f->dev->size - sb->slot_area_offset : 0;
		uint32_t keep = (uint32_t)SL_MIN(room / sb->region_size,
						 (uint64_t)sb->region_count);
		if (f->dev->size < sb->slot_area_offset || keep == 0)
			return -EFBIG;  /* nothing left to check from */
		/* as e2fsck (PR_0_FS_SIZE_WRONG): the size coming back
		 * brings back the regions past the end, so a repair stops
		 * before writing; a check goes on over what is there, and
		 * a preen stops at its end, as for any damage.  With no
		 * region past it, only the recorded size is wrong */
		bool stop = f->repair && !f->preen && keep < sb->region_count;
		if (stop)
			f->repair = false;      /* said as not fixed */
		fk_report(f, PR_SB_DEVICE_SHORT,
			  (unsigned long long)f->dev->size,
			  (unsigned long long)sb->device_size,
			  sb->region_count - keep);
		if (stop)
			return -EFBIG;
		sb->region_count = keep;
		sb->device_size = sb->slot_area_offset +
				  (uint64_t)keep * sb->region_size;
		*sb_write = *backup_write = true;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Pass 1: checkpoints                                                 */
/* ------------------------------------------------------------------ */

static int fk_pass_ckpt(struct fk *f, struct sl_ckpt_hdr *out, bool *have,
			bool *fell_back)
{
	struct slot_store *s = f->s;
	struct sl_ckpt_hdr h[2];
	int st[2];
	for (unsigned i = 0; i < 2; i++) {
		st[i] = sl_ckpt_read_hdr(s, i, &h[i]);
		if (st[i] == -EIO)
			return -EIO;
	}
	/* both sound, of one other uuid: the superblock's uuid is what is
	 * damaged, and a rebuild from slot headers (which carry the other
	 * too) would find nothing: stop, writing nothing */
	if (st[0] == -ESTALE && st[1] == -ESTALE &&
	    !memcmp(h[0].uuid, h[1].uuid, 16))
		return -ESTALE;
	/* try newest first; payload and parse must both hold */
	int order[2] = { 0, 1 };
	if ((!st[0] && !st[1] && h[1].seq > h[0].seq) || st[0]) {
		order[0] = 1;
		order[1] = 0;
	}
	*have = false;
	int loaded = -1;
	for (int k = 0; k < 2; k++) {
		unsigned i = (unsigned)order[k];
		if (st[i])
			continue;
		uint8_t *p;
		int err = sl_ckpt_read_payload(s, &h[i], &p);
		if (err == -EIO)
			return err;
		if (err) {
			st[i] = err;
			continue;
		}
		if (loaded < 0) {
			err = sl_ckpt_parse(s, &h[i], p);
			if (err == -ENOMEM) {
				free(p);
				return err;
			}
			if (err) {
				sl_ckpt_reset(s);
				st[i] = -EUCLEAN;
			} else {
				loaded = (int)i;
				*out = h[i];
				*have = true;
			}
		}
		free(p);
	}
	*fell_back = false;
	for (unsigned i = 0; i < 2; i++) {
		if (!st[i])
			continue;
		if (sl_ckpt_absent(s, i, *have, *have ? out->seq : 0))
			continue;
		if (*have)
			*fell_back = true;
		/* a torn newer container next to an intact older one is a
		 * crash mid-checkpoint; still worth a fresh checkpoint */
		fk_report(f, PR_CKPT_BAD, i ? 'B' : 'A',
			  st[i] == -EBADMSG ? "checksum" :
			  st[i] == -EINVAL ? "no header" :
			  st[i] == -ESTALE ? "another uuid" : "inconsistent");
		/* but a torn write leaves old bytes or new, not a header
		 * gone whole (zeroed, or another file system's): damage */
		if (st[i] == -EINVAL || st[i] == -ESTALE)
			f->unexpected = true;
	}
	if (!*have)
		fk_report(f, PR_CKPT_BOTH_LOST);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Pass 2: index entries against their slots                           */
/* ------------------------------------------------------------------ */

struct fk_entry {
	uint64_t oid, off;
	struct sl_chunk c;
};

static int fk_entry_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct fk_entry *)a)->off;
	uint64_t y = ((const struct fk_entry *)b)->off;
	return x < y ? -1 : x > y;
}

/* Check one entry's slot image; NULL when good (*csum: the header's
 * payload checksum), else why not. */
static const char *fk_entry_check(struct slot_store *s,
				  const struct fk_entry *e, const uint8_t *buf,
				  int res, bool *bad_payload, uint64_t *csum)
{
	struct sl_slot_hdr h;
	*bad_payload = false;
	if (res < 0)
		return "unreadable";
	if (sl_slot_hdr_decode(buf, &h))
		return "corrupt";
	if (memcmp(h.uuid, s->hdr_uuid, 16) || h.oid != e->oid)
		return "belongs to another object";
	if (h.gen != e->c.gen || h.idx != e->c.idx || h.payload_len != e->c.len)
		return "is of another write";
	*bad_payload = sl_csum(buf + s->sb.block_size, e->c.len) != h.payload_csum;
	*csum = h.payload_csum;
	return NULL;
}

static const char *fk_name_of(const struct sl_obj *o)
{
	return o->name ? o->name->name : "?";
}

/* Every entry against its slot, header and payload, read in device
 * order in batches at the engine's queue depth. */
static int fk_pass_entries(struct fk *f)
{
	struct slot_store *s = f->s;
	struct sl_index *ix = &s->ix;
	uint32_t bs = s->sb.block_size;
	if (s->load_badrefs)
		fk_report(f, PR_INDEX_BAD_REF, (unsigned long long)s->load_badrefs);
	/* by inode; a whole object's loss is PR_OBJ_MISSING_CHUNK's */
	for (size_t i = 0; i < s->ndropped; i++) {
		struct sl_obj *o = sl_obj_find(ix, s->dropped[i].oid);
		if (o && !o->txn)
			fk_report(f, PR_OBJ_CHUNKS_DROPPED,
				  (unsigned long long)o->oid, fk_name_of(o),
				  s->dropped[i].n);
	}
	if (s->load_dups)
		fk_report(f, PR_INDEX_DUP_SLOT, (unsigned long long)s->load_dups);
	if (s->load_bad_xattrs)
		fk_report(f, PR_XATTR_BAD,
			  (unsigned long long)s->load_bad_xattrs);
	if (s->load_bad_resv)
		fk_report(f, PR_RESV_BAD,
			  (unsigned long long)s->load_bad_resv);
	size_t total = 0, n = 0;
	for (size_t b = 0; b <= ix->obj_mask; b++)
		for (struct sl_obj *o = ix->obj_tab[b]; o; o = o->hnext)
			total += o->nchunks;
	struct fk_entry *ent = malloc((total ? total : 1) * sizeof(*ent));
	if (!ent)
		return -ENOMEM;
	for (size_t b = 0; b <= ix->obj_mask; b++)
		for (struct sl_obj *o = ix->obj_tab[b]; o; o = o->hnext)
			for (uint32_t i = 0; i < o->nchunks; i++)
				ent[n++] = (struct fk_entry){ o->oid,
					sl_slot_off(s, o->chunks[i].slot), o->chunks[i] };
	qsort(ent, n, sizeof(*ent), fk_entry_cmp);

	uint64_t csum_fixed = 0;
	const size_t budget = 32u << 20; /* bytes in flight per batch */
	struct slot_io *ios = calloc(256, sizeof(*ios));
	int err = ios ? 0 : -ENOMEM;
	for (size_t i = 0; !err && i < n;) {
		size_t k = 0, bytes = 0;
		while (i + k < n && k < 256) {
			uint32_t len = bs + (uint32_t)SL_ALIGN_UP(
				ent[i + k].c.len ? ent[i + k].c.len : 1, bs);
			if (k && bytes + len > budget)
				break;
			ios[k] = (struct slot_io){ .buf = sl_buf_get(s, len),
						   .off = ent[i + k].off, .len = len };
			if (!ios[k].buf) {
				err = -ENOMEM;
				break;
			}
			bytes += len;
			k++;
		}
		if (!err)
			f->dev->ops->read(f->dev->ctx, ios, k);
		for (size_t j = 0; j < k; j++) {
			const struct fk_entry *e = &ent[i + j];
			bool bad_payload;
			uint64_t csum = 0;
			const char *why = err ? NULL :
				fk_entry_check(s, e, ios[j].buf, ios[j].res,
					       &bad_payload, &csum);
			sl_buf_put(s, ios[j].buf);
			if (!err && !why && !bad_payload && e->c.csum != csum) {
				/* unknown (0) is no damage: a 1.0 checkpoint
				 * has none; a wrong one costs gets a re-read */
				if (e->c.csum)
					csum_fixed++;
				sl_chunk_set_csum(&s->ix, e->oid, &e->c, csum);
			}
			if (err || (!why && !bad_payload))
				continue;
			if (why)
				fk_report(f, PR_SLOT_HDR_BAD,
					  (unsigned long long)e->oid, e->c.idx,
					  sl_slot_region(e->c.slot),
					  sl_slot_index(e->c.slot), why);
			else
				fk_report(f, PR_SLOT_PAYLOAD_BAD,
					  (unsigned long long)e->oid, e->c.idx,
					  sl_slot_region(e->c.slot),
					  sl_slot_index(e->c.slot));
			/* the chunk reads as a hole from now on */
			struct sl_obj *o = sl_obj_find(&s->ix, e->oid);
			if (o) {
				sl_obj_drop_chunk(o, e->c.idx);
				if (o->txn) {
					o->flags |= SL_OBJ_ATTR_DIRTY;
					sl_owed_check(s, o);
				}
			}
			sl_slot_unclaim(s, e->c.slot);
		}
		i += k;
		fk_progress(f, "Pass 2: checking slots", i, n);
	}
	if (!err && csum_fixed)
		fk_report(f, PR_INDEX_CSUM, (unsigned long long)csum_fixed);
	free(ios);
	free(ent);
	return err;
}

/*
 * Two records claimed one slot; the first loaded kept it.  If pass 2
 * took it from that one (its header names another object), give it to a
 * dropped record the header does name, as e2fsck gives a doubly claimed
 * block to its rightful owner.
 */
static int fk_dup_reclaim(struct fk *f)
{
	struct slot_store *s = f->s;
	uint32_t bs = s->sb.block_size;
	for (size_t i = 0; i < s->ndup_recs; i++) {
		const struct sl_dup *d = &s->dup_recs[i];
		struct sl_obj *o = sl_obj_find(&s->ix, d->oid);
		const struct sl_region *rg = &s->regions[sl_slot_region(d->c.slot)];
		if (!o || sl_obj_chunk(o, d->c.idx) ||
		    (rg->state[sl_slot_index(d->c.slot)] & SL_SLOT_STATE) !=
			    SL_SLOT_FREE)
			continue;
		size_t len = bs + SL_ALIGN_UP(d->c.len ? d->c.len : 1, bs);
		uint8_t *b = sl_buf_get(s, len);
		if (!b)
			return -ENOMEM;
		struct slot_io io = { .buf = b, .off = sl_slot_off(s, d->c.slot),
				      .len = (uint32_t)len };
		struct fk_entry e = { .oid = d->oid, .off = io.off, .c = d->c };
		bool bad_payload = true;
		uint64_t csum;
		int res = f->dev->ops->read(f->dev->ctx, &io, 1);
		const char *why = fk_entry_check(s, &e, b, res, &bad_payload,
						 &csum);
		sl_buf_put(s, b);
		if (why || bad_payload || sl_slot_claim(s, d->c.slot))
			continue;
		e.c.csum = csum;
		if (sl_obj_set_chunk(o, &e.c, NULL, NULL))
			return -ENOMEM;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Pass 4: objects                                                     */
/* ------------------------------------------------------------------ */


static void fk_pass_objects(struct fk *f)
{
	struct slot_store *s = f->s;
	struct sl_index *ix = &s->ix;
	uint64_t chunk = 1ull << s->sb.chunk_shift;
	for (size_t b = 0; b <= ix->obj_mask; b++) {
		for (struct sl_obj *o = ix->obj_tab[b]; o; o = o->hnext) {
			/* the mode holds an access ACL's owner, mask and
			 * others; the ACL says more, so it wins */
			uint32_t bits;
			if (sl_xa_acl_bits(s, o, &bits) &&
			    (o->mode & 0777) != bits) {
				fk_report(f, PR_ACL_MODE,
					  (unsigned long long)o->oid,
					  o->mode & 0777, bits);
				o->mode = (o->mode & ~0777u) | bits;
				sl_ns_dirty(s);
			}
			if (!S_ISREG(o->mode))
				continue;
			if (o->size > sl_file_max(s)) {
				const struct sl_chunk *c = o->nchunks ?
					&o->chunks[o->nchunks - 1] : NULL;
				uint64_t end = c ? (uint64_t)c->idx * chunk +
							   c->len : 0;
				fk_report(f, PR_OBJ_SIZE_BAD,
					  (unsigned long long)o->oid,
					  (unsigned long long)o->size,
					  (unsigned long long)end);
				o->size = end;
				sl_ns_dirty(s);
			}
			/* nothing may lie past the end */
			while (o->nchunks) {
				struct sl_chunk *c = &o->chunks[o->nchunks - 1];
				uint64_t start = (uint64_t)c->idx * chunk;
				if (start < o->size || (o->size == 0 && c->idx == 0 &&
							c->len == 0))
					break;
				fk_report(f, PR_OBJ_CHUNK_PAST_EOF,
					  (unsigned long long)o->oid, c->idx);
				sl_slot_unclaim(s, c->slot);
				o->nchunks--;
			}
			/* a whole-object put wrote every chunk: a gap is loss
			 * (a file written piecemeal may be sparse).  Counted
			 * from the chunks it has, so a garbage size of 2^60
			 * costs one line, not 2^40. */
			if (!o->txn)
				continue;
			uint64_t want = (o->size + chunk - 1) / chunk, have = 0;
			uint32_t first_gap = 0;
			bool gap_found = false;
			for (uint32_t i = 0; i < o->nchunks; i++) {
				if (o->chunks[i].idx >= want)
					break;
				if (!gap_found && o->chunks[i].idx != i) {
					first_gap = i;
					gap_found = true;
				}
				have++;
			}
			if (have == want)
				continue;
			if (!gap_found)
				first_gap = (uint32_t)have;
			fk_report(f, PR_OBJ_MISSING_CHUNK,
				  (unsigned long long)o->oid, fk_name_of(o),
				  (unsigned long long)(want - have), first_gap);
			if (f->repair)
				o->txn = 0; /* a sparse file now: reported once */
		}
	}
}

/* ------------------------------------------------------------------ */
/* Pass 5: the directory tree                                          */
/* ------------------------------------------------------------------ */

struct fk_count {
	uint64_t oid;
	uint32_t links, subdirs;
	bool reached;
	struct sl_dirent *via;  /* the entry it was first reached by */
};

static int fk_cnt_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct fk_count *)a)->oid;
	uint64_t y = ((const struct fk_count *)b)->oid;
	return x < y ? -1 : x > y;
}

static struct fk_count *fk_cnt(struct fk_count *c, size_t n, uint64_t oid)
{
	struct fk_count key = { .oid = oid };
	return bsearch(&key, c, n, sizeof(*c), fk_cnt_cmp);
}

/* Mark everything reachable from dir (iteratively: deep trees). */
static int fk_reach(struct slot_store *s, struct fk_count *c, size_t n)
{
	struct sl_vec stack = { 0 };
	if (sl_vec_push(&stack, SLOT_ROOT_INO))
		return -ENOMEM;
	fk_cnt(c, n, SLOT_ROOT_INO)->reached = true;
	while (stack.n) {
		uint64_t d = stack.v[--stack.n];
		struct sl_obj *dir = sl_obj_find(&s->ix, d);
		uint64_t cookie = 0;
		struct sl_dirent *de;
		while ((de = sl_dir_next(dir, cookie))) {
			cookie = de->cookie;
			struct fk_count *k = fk_cnt(c, n, de->child);
			struct sl_obj *o = sl_obj_find(&s->ix, de->child);
			if (!k || !o || k->reached)
				continue;
			k->reached = true;
			k->via = de;
			if (S_ISDIR(o->mode) && sl_vec_push(&stack, o->oid)) {
				free(stack.v);
				return -ENOMEM;
			}
		}
	}
	free(stack.v);
	return 0;
}

static int fk_connect(struct fk *f, struct sl_obj *o)
{
	struct slot_store *s = f->s;
	struct sl_obj *lf = sl_lost_found(s);
	if (!lf)
		return -ENOMEM;
	char nm[32];
	int len = snprintf(nm, sizeof(nm), "#%llu", (unsigned long long)o->oid);
	/* drop the names it has: they hang in an unreachable place */
	if (o->name && !(o->name->flags & SL_DE_DEAD)) {
		struct sl_obj *p = sl_obj_find(&s->ix, o->name->parent);
		if (p && S_ISDIR(p->mode))
			sl_de_remove(&s->ix, p, o->name);
	}
	struct sl_dirent *de = sl_de_add(&s->ix, lf, nm, (size_t)len, o->oid);
	if (!de)
		return -ENOMEM;
	o->name = de;
	if (S_ISDIR(o->mode))
		o->dir->parent = lf->oid;
	sl_ns_dirty(s);
	return 0;
}

static int fk_pass_tree(struct fk *f)
{
	struct slot_store *s = f->s;
	struct sl_index *ix = &s->ix;
	int err = 0;
	for (int round = 0; round < 2; round++) {
		size_t n = ix->obj_count, k = 0;
		struct fk_count *c = calloc(n ? n : 1, sizeof(*c));
		if (!c)
			return -ENOMEM;
		for (size_t b = 0; b <= ix->obj_mask; b++)
			for (struct sl_obj *o = ix->obj_tab[b]; o; o = o->hnext)
				c[k++].oid = o->oid;
		qsort(c, n, sizeof(*c), fk_cnt_cmp);
		err = fk_reach(s, c, n);
		if (err) {
			free(c);
			return err;
		}
		/* unreachable things go to /lost+found; then count again */
		bool moved = false;
		for (size_t i = 0; i < n && round == 0; i++) {
			if (c[i].reached)
				continue;
			struct sl_obj *o = sl_obj_find(&s->ix, c[i].oid);
			/* only the top of an unreachable subtree moves, and
			 * takes the rest along; a cycle has no top, so each
			 * directory on it breaks out */
			bool loop = false, top = false;
			struct sl_obj *q = o;
			for (unsigned depth = 0; depth < 65536; depth++) {
				struct sl_obj *p = q->name &&
					!(q->name->flags & SL_DE_DEAD) ?
					sl_obj_find(&s->ix, q->name->parent) : NULL;
				if (!p || !S_ISDIR(p->mode)) {
					top = q == o;
					break;
				}
				if (p == o) {
					loop = top = true;
					break;
				}
				q = p;
			}
			if (!top)
				continue;
			fk_report(f, loop ? PR_DIR_LOOP : PR_DIR_UNREACHABLE,
				  (unsigned long long)o->oid);
			if (f->repair) {
				err = fk_connect(f, o);
				moved = true;
			}
		}
		if (moved) {
			free(c);
			continue;
		}
		/* the name a directory keeps may not lie inside itself (an
		 * entry naming an ancestor, or itself): then the entry it
		 * was reached by is its name, and the other goes below */
		for (size_t i = 0; i < n; i++) {
			struct sl_obj *o = sl_obj_find(&s->ix, c[i].oid);
			if (!S_ISDIR(o->mode) || !c[i].via || !o->name ||
			    (o->name->flags & SL_DE_DEAD))
				continue;
			struct sl_dirent *d = o->name;
			for (unsigned depth = 0; d && depth < 65536; depth++) {
				if (d->parent == o->oid) {
					o->name = c[i].via;
					break;
				}
				struct sl_obj *p = sl_obj_find(&s->ix, d->parent);
				d = p && p->name && !(p->name->flags &
						      SL_DE_DEAD) ? p->name : NULL;
			}
		}
		/* a directory has one name; '..' is that name's parent.
		 * The root has none (the loader gives it none): every
		 * entry naming it is a second. */
		struct sl_vec extra = { 0 };
		for (size_t b = 0; b <= ix->de_mask; b++) {
			for (struct sl_dirent *d = ix->de_tab[b]; d; d = d->hnext) {
				struct sl_obj *o = sl_obj_find(&s->ix, d->child);
				if (!o || !S_ISDIR(o->mode))
					continue;
				bool root = o->oid == SLOT_ROOT_INO;
				if (!root && (!o->name ||
					      (o->name->flags & SL_DE_DEAD)))
					o->name = d;
				else if ((root || o->name != d) &&
					 sl_vec_push(&extra, (uint64_t)(uintptr_t)d))
					err = -ENOMEM;
			}
		}
		for (size_t i = 0; !err && i < extra.n; i++) {
			struct sl_dirent *d = (struct sl_dirent *)(uintptr_t)extra.v[i];
			fk_report(f, PR_DIR_PARENT, (unsigned long long)d->child,
				  (unsigned long long)d->parent, d->name);
			struct sl_obj *p = sl_obj_find(&s->ix, d->parent);
			if (f->repair && p && S_ISDIR(p->mode)) {
				sl_de_remove(&s->ix, p, d);
				sl_ns_dirty(s);
			}
		}
		free(extra.v);
		/* link counts from the names that exist */
		for (size_t b = 0; b <= ix->de_mask; b++) {
			for (struct sl_dirent *d = ix->de_tab[b]; d; d = d->hnext) {
				struct fk_count *ch = fk_cnt(c, n, d->child);
				struct sl_obj *o = sl_obj_find(&s->ix, d->child);
				if (!ch || !o)
					continue;
				if (S_ISDIR(o->mode)) {
					struct fk_count *pc = fk_cnt(c, n, d->parent);
					if (pc)
						pc->subdirs++;
					/* derived, not stored: no problem */
					if (o->name == d)
						o->dir->parent = d->parent;
				}
				ch->links++;
			}
		}
		for (size_t i = 0; i < n; i++) {
			struct sl_obj *o = sl_obj_find(&s->ix, c[i].oid);
			uint32_t want = S_ISDIR(o->mode) ? 2 + c[i].subdirs :
							   c[i].links;
			if (o->nlink != want) {
				fk_report(f, PR_NLINK, (unsigned long long)o->oid,
					  o->nlink, want);
				o->nlink = want;
				sl_ns_dirty(s);
			}
			if (S_ISDIR(o->mode))
				f->r->dirs++;
			else if (S_ISREG(o->mode))
				f->r->files++;
		}
		free(c);
		break;
	}
	return err;
}

/* ------------------------------------------------------------------ */
/* Pass 6: region headers                                              */
/* ------------------------------------------------------------------ */

static int fk_pass_regions(struct fk *f)
{
	struct slot_store *s = f->s;
	struct sl_rgn_hdr *h = calloc(s->nregions ? s->nregions : 1, sizeof(*h));
	bool *valid = calloc(s->nregions ? s->nregions : 1, sizeof(*valid));
	uint32_t *bad = calloc(s->nregions ? s->nregions : 1, sizeof(*bad));
	size_t nbad = 0;
	int err = (h && valid && bad) ? 0 : -ENOMEM;
	if (!err)
		err = sl_scan_region_hdrs(s, h, valid);
	for (uint32_t r = 0; !err && r < s->nregions; r++) {
		const struct sl_region *rg = &s->regions[r];
		if (rg->cls == SL_RGN_FREE)
			continue;
		if (valid[r] && h[r].cls == rg->cls &&
		    h[r].assign_gen == rg->assign_gen)
			continue;
		fk_report(f, PR_RGN_HDR_BAD, r);
		bad[nbad++] = r;
	}
	if (!err && nbad && fk_writes(f))
		err = sl_regions_write(s, bad, nbad);
	free(h);
	free(valid);
	free(bad);
	return err;
}

/* ------------------------------------------------------------------ */

/* A whole check that may write ends as e2fsck's: the time recorded, the
 * mount count (mounts since the last check) back to 0. */
static int fk_sb_checked(struct slot_dev *dev, struct sl_sb *sb)
{
	sb->fsck_time = (uint64_t)time(NULL);
	sb->write_time = sb->fsck_time;
	sb->mount_count = 0;
	return sl_sb_write(dev, sb, true);
}

/*
 * -p repairs in memory as -y does, and writes them only when every
 * problem found is one a crash leaves; with anything else it writes
 * nothing, says all it found unfixed and exits 4, as e2fsck -p stops at
 * an UNEXPECTED INCONSISTENCY.  One pass either way.
 */
int slot_fsck(struct slot_dev *dev, const struct slot_fsck_opts *o,
	      struct slot_fsck_result *r)
{
	memset(r, 0, sizeof(*r));
	struct fk f = { .dev = dev, .o = o, .r = r,
			.repair = o->mode != SLOT_FSCK_CHECK,
			.preen = o->mode == SLOT_FSCK_PREEN };
	struct sl_sb sb;
	bool sb_write = false, backup_write = false;
	int err = fk_pass_sb(&f, &sb, &sb_write, &backup_write);
	if (err) {
		fk_said(&f, false);
		r->exit_code = SLOT_FSCK_ERROR;
		return err;
	}
	bool clean = sb.flags & SL_SB_CLEAN;
	f.was_clean = clean;
	/* as e2fsck: a file system with errors recorded is checked whole */
	if (sb.flags & SL_SB_ERRORS)
		fk_report(&f, PR_SB_ERRORS, sb.error_count,
			  sl_err_what(sb.last_error));
	if (clean && !o->force && !r->problems) {
		r->was_clean_skip = true;
	}

	struct slot_opts so;
	slot_opts_init(&so);
	so.read_only = !f.repair;
	so.periodic_checkpoint = false;
	err = sl_store_raw(dev, &sb, &so, &f.s);
	if (err) {
		fk_said(&f, false);
		r->exit_code = SLOT_FSCK_ERROR;
		return err;
	}
	struct slot_store *s = f.s;
	s->progress = fk_progress;
	s->progress_arg = &f;
	s->loading = true;      /* claims are O(1) until the rebuild */

	struct sl_ckpt_hdr hdr;
	bool have = false, fell_back = false;
	err = fk_pass_ckpt(&f, &hdr, &have, &fell_back);
	if (err)
		goto out;
	/* a reader that does not know xattrs would write them away */
	if (s->ix.xa_count && !(sb.feature_ro_compat & SL_FEAT_RO_COMPAT_XATTR)) {
		fk_report(&f, PR_SB_FEATURE_XATTR);
		sb.feature_ro_compat |= SL_FEAT_RO_COMPAT_XATTR;
		sb_write = true;
	}
	if (r->was_clean_skip && have && !r->problems) {
		/* clean and not forced: count, do not check */
		struct sl_index *ix = &s->ix;
		for (size_t b = 0; b <= ix->obj_mask; b++)
			for (struct sl_obj *ob = ix->obj_tab[b]; ob; ob = ob->hnext) {
				if (S_ISDIR(ob->mode))
					r->dirs++;
				else if (S_ISREG(ob->mode))
					r->files++;
			}
		goto done;
	}
	r->was_clean_skip = false;
	if (!clean)
		fk_report(&f, PR_SB_NOT_CLEAN);

	if (have) {
		err = fk_pass_entries(&f);
		if (!err)
			err = fk_dup_reclaim(&f);
		if (err)
			goto out;
	} else {
		/* nothing to start from: a root, and whatever the slots say */
		sl_ckpt_reset(s);
		struct sl_obj *root = sl_obj_new(&s->ix, SLOT_ROOT_INO,
						 S_IFDIR | 0755);
		if (!root) {
			err = -ENOMEM;
			goto out;
		}
		root->nlink = 2;
		root->dir->parent = SLOT_ROOT_INO;
		root->atime = root->mtime = root->ctime = sl_now_ns();
		s->next_oid = SLOT_ROOT_INO + 1;
		s->next_gen = 1;
		memset(&hdr, 0, sizeof(hdr));
	}
	/* pass 3: newer slots; with no checkpoint, every slot */
	/* the other container may have been newer: what it held is in
	 * the slots written since the one loaded */
	if (!clean || !have || fell_back) {
		err = sl_recover_scan(s, have ? &hdr : NULL);
		if (err)
			goto out;
		if (s->rec.slots_recovered)
			fk_report(&f, PR_SLOT_NEWER,
				  (unsigned long long)s->rec.slots_recovered,
				  (unsigned long long)s->rec.objects_recovered);
		if (s->jnl_replayed)
			fk_report(&f, PR_JNL_REPLAY,
				  (unsigned long long)s->jnl_replayed);
		int64_t data = sl_file_jnl_apply(s, SL_JNL_COUNT);
		if (data > 0)
			fk_report(&f, PR_JNL_DATA, (unsigned long long)data);
		if (s->rec.lost_found)
			fk_report(&f, PR_OBJ_LOST_FOUND,
				  (unsigned long long)s->rec.lost_found);
	}
	fk_pass_objects(&f);
	err = fk_pass_tree(&f);
	if (!err)
		err = fk_pass_regions(&f);
	if (err)
		goto out;

done:
	if (s->loading) {
		err = sl_alloc_rebuild(s);
		if (err)
			goto out;
	}
	/* the journal's file data into the chunks, before the checkpoint
	 * that ends the journal */
	if (fk_writes(&f)) {
		int64_t applied = sl_file_jnl_apply(s, SL_JNL_REWRITE);
		if (applied < 0) {
			err = (int)applied;
			goto out;
		}
	}
	uint64_t unkept = sl_resv_settle(s);
	if (unkept)
		fk_report(&f, PR_RESV_SPACE, (unsigned long long)unkept);
	if (fk_writes(&f) && (f.modified || sb_write || backup_write ||
			      !clean)) {
		/* a fresh checkpoint of what survived, then the clean flag */
		sl_dirty(s);
		s->ckpt_seq = have ? hdr.seq : 0;
		if (!have) {
			/* keep generations past anything on disk */
			for (uint32_t i = 0; i < s->nregions; i++)
				s->next_gen = SL_MAX(s->next_gen,
						     s->regions[i].assign_gen + 1);
		}
		err = sl_ckpt_write(s);
		/* rebuilt from nothing: overwrite the other, unreadable,
		 * container as well, or the next run reports it again */
		if (!err && !have)
			err = sl_ckpt_write(s);
		if (!err) {
			sb.flags = SL_SB_CLEAN;
			sb.feature_incompat &= ~SL_FEAT_INCOMPAT_OPEN;
			sb.error_count = 0;
			sb.last_error = 0;
			sb.first_error_time = sb.last_error_time = 0;
			err = fk_sb_checked(dev, &sb);
		}
		if (err)
			goto out;
	} else if (fk_writes(&f) && !r->was_clean_skip) {
		/* as e2fsck: a whole check that may write is recorded */
		err = fk_sb_checked(dev, &sb);
		if (err)
			goto out;
	}
	/* after the checkpoint, which frees the journal slots replayed */
	r->slots_total = s->slots_total;
	r->slots_used = s->slots_used;
	uint64_t total, free_bytes, free_regions;
	sl_store_space(s, &total, &free_bytes, &free_regions);
	r->blocks_total = total / 4096;
	r->blocks_used = (total - free_bytes) / 4096;
	if (!fk_writes(&f))
		r->fixed = 0;
	fk_said(&f, fk_writes(&f));
	if (r->problems && !fk_writes(&f))
		r->exit_code = SLOT_FSCK_UNCORRECTED;
	else if (r->fixed)
		r->exit_code = SLOT_FSCK_FIXED;
	else
		r->exit_code = SLOT_FSCK_OK;
	sl_store_raw_free(s);
	return 0;
out:
	fk_said(&f, false);
	r->exit_code = SLOT_FSCK_ERROR | (r->problems && !fk_writes(&f) ?
					  SLOT_FSCK_UNCORRECTED : 0);
	sl_store_raw_free(s);
	return err;
}
