// SPDX-License-Identifier: MIT
/*
 * format.c - encode and decode the on-disk records of core/format.h.
 *
 * Decoders read only the record's own bytes, trust nothing before the
 * magic and the checksum are good, and never shift or index with a field
 * they have not range-checked: they are fuzzed (tests/fuzz/fuzz_decode.c).
 */
#include <errno.h>
#include <string.h>

#include <xxhash.h>

#include "format.h"

uint64_t sl_csum(const void *p, size_t n)
{
	return (uint64_t)XXH3_64bits(p, n);
}

/* Checksum of a 512-byte header, stored at 0x1f8. */
static void hdr_seal(uint8_t *buf)
{
	sl_put64(buf + 0x1f8, sl_csum(buf, 0x1f8));
}

/* Magic, then checksum: the two checks every header decode starts with. */
static int hdr_check(const uint8_t *buf, uint64_t magic)
{
	if (sl_get64(buf) != magic)
		return -EINVAL;
	if (sl_get64(buf + 0x1f8) != sl_csum(buf, 0x1f8))
		return -EBADMSG;
	return 0;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* ------------------------------------------------------------------ */
/* Superblock                                                          */
/* ------------------------------------------------------------------ */

void sl_sb_encode(const struct sl_sb *sb, uint8_t *buf)
{
	memset(buf, 0, SL_SB_SIZE);
	sl_put64(buf + 0x000, SL_MAGIC_SB);
	sl_put16(buf + 0x008, sb->version_major);
	sl_put16(buf + 0x00a, sb->version_minor);
	sl_put32(buf + 0x00c, sb->block_size);
	sl_put32(buf + 0x010, sb->feature_compat);
	sl_put32(buf + 0x014, sb->feature_ro_compat);
	sl_put32(buf + 0x018, sb->feature_incompat);
	sl_put32(buf + 0x01c, sb->flags);
	memcpy(buf + 0x020, sb->uuid, 16);
	/* label: at most 63 bytes, NUL-padded to 64 (buf is zeroed) */
	memcpy(buf + 0x030, sb->label, strnlen(sb->label, 63));
	sl_put64(buf + 0x070, sb->device_size);
	sl_put64(buf + 0x078, sb->meta_offset);
	sl_put64(buf + 0x080, sb->meta_size);
	sl_put64(buf + 0x088, sb->slot_area_offset);
	sl_put64(buf + 0x090, sb->region_size);
	sl_put32(buf + 0x098, sb->region_count);
	buf[0x09c] = sb->chunk_shift;
	buf[0x09d] = sb->min_shift;
	buf[0x09e] = sb->class_count;
	sl_put64(buf + 0x0a0, sb->create_time);
	sl_put64(buf + 0x0a8, sb->mount_time);
	sl_put64(buf + 0x0b0, sb->write_time);
	sl_put32(buf + 0x0b8, sb->mount_count);
	sl_put64(buf + 0x0c0, sb->fsck_time);
	memcpy(buf + 0x0c8, sb->meta_uuid, 16);
	sl_put32(buf + 0x0d8, sb->error_count);
	sl_put16(buf + 0x0dc, sb->errors);
	sl_put16(buf + 0x0de, sb->last_error);
	sl_put64(buf + 0x0e0, sb->first_error_time);
	sl_put64(buf + 0x0e8, sb->last_error_time);
	hdr_seal(buf);
}

const char *sl_err_what(unsigned kind)
{
	switch (kind) {
	case SL_ERR_CSUM:
		return "a slot failed its checksum";
	case SL_ERR_CKPT_WRITE:
		return "a checkpoint could not be written";
	case SL_ERR_INDEX:
		return "index records were dropped at open";
	case SL_ERR_CKPT_LOST:
		return "a checkpoint container was found damaged at open";
	default:
		return "an error";
	}
}

/* Layout sanity: everything a later computation divides or indexes by. */
static int sb_check(const struct sl_sb *sb)
{
	uint64_t bs = sb->block_size, end, big;

	if (!is_pow2(bs) || bs < 512 || bs > 65536)
		return -EUCLEAN;
	if (sb->chunk_shift < 12 || sb->chunk_shift > 26)
		return -EUCLEAN;
	if (sb->min_shift > sb->chunk_shift)
		return -EUCLEAN;
	if (sb->class_count < 1 || sb->class_count > SL_CLASS_MAX)
		return -EUCLEAN;
	if (!memchr(sb->label, 0, sizeof(sb->label)))
		return -EUCLEAN;

	/* metadata: two equal block-aligned containers after the backup sb */
	if (sb->meta_offset < SL_SB_BACKUP_OFF + SL_BLOCK ||
	    sb->meta_offset % bs)
		return -EUCLEAN;
	if (sb->meta_size < 4ull * SL_BLOCK || sb->meta_size % (2 * bs))
		return -EUCLEAN;
	if (sb->meta_size > UINT64_MAX - sb->meta_offset ||
	    sb->meta_offset + sb->meta_size > sb->slot_area_offset)
		return -EUCLEAN;

	/* regions: block multiples that hold at least one largest slot */
	if (sb->slot_area_offset % bs || sb->region_size % bs)
		return -EUCLEAN;
	big = 1ull << sl_class_shift(sb->min_shift, sb->chunk_shift,
				     sb->class_count - 1u);
	if (sb->region_size < 2 * bs + big)
		return -EUCLEAN;
	if (sb->region_count < 1)
		return -EUCLEAN;
	/* region_size < 2^64 / 2^32 or the product overflows */
	if (sb->region_size > UINT64_MAX / sb->region_count)
		return -EUCLEAN;
	end = sb->region_size * sb->region_count;
	if (end > UINT64_MAX - sb->slot_area_offset ||
	    sb->slot_area_offset + end > sb->device_size)
		return -EUCLEAN;
	return 0;
}

int sl_sb_decode(const uint8_t *buf, struct sl_sb *sb)
{
	int err = hdr_check(buf, SL_MAGIC_SB);

	if (err)
		return err;
	memset(sb, 0, sizeof(*sb));
	sb->magic = sl_get64(buf + 0x000);
	sb->version_major = sl_get16(buf + 0x008);
	sb->version_minor = sl_get16(buf + 0x00a);
	sb->block_size = sl_get32(buf + 0x00c);
	sb->feature_compat = sl_get32(buf + 0x010);
	sb->feature_ro_compat = sl_get32(buf + 0x014);
	sb->feature_incompat = sl_get32(buf + 0x018);
	sb->flags = sl_get32(buf + 0x01c);
	memcpy(sb->uuid, buf + 0x020, 16);
	/* label: up to the first NUL; what follows it is not carried */
	memcpy(sb->label, buf + 0x030,
	       strnlen((const char *)buf + 0x030, sizeof(sb->label)));
	sb->device_size = sl_get64(buf + 0x070);
	sb->meta_offset = sl_get64(buf + 0x078);
	sb->meta_size = sl_get64(buf + 0x080);
	sb->slot_area_offset = sl_get64(buf + 0x088);
	sb->region_size = sl_get64(buf + 0x090);
	sb->region_count = sl_get32(buf + 0x098);
	sb->chunk_shift = buf[0x09c];
	sb->min_shift = buf[0x09d];
	sb->class_count = buf[0x09e];
	sb->pad0 = buf[0x09f];
	sb->create_time = sl_get64(buf + 0x0a0);
	sb->mount_time = sl_get64(buf + 0x0a8);
	sb->write_time = sl_get64(buf + 0x0b0);
	sb->mount_count = sl_get32(buf + 0x0b8);
	sb->pad1 = sl_get32(buf + 0x0bc);
	sb->fsck_time = sl_get64(buf + 0x0c0);
	memcpy(sb->meta_uuid, buf + 0x0c8, 16);
	sb->error_count = sl_get32(buf + 0x0d8);
	sb->errors = sl_get16(buf + 0x0dc);
	sb->last_error = sl_get16(buf + 0x0de);
	sb->first_error_time = sl_get64(buf + 0x0e0);
	sb->last_error_time = sl_get64(buf + 0x0e8);
	memcpy(sb->reserved, buf + 0x0f0, sizeof(sb->reserved));
	sb->checksum = sl_get64(buf + 0x1f8);
	return sb_check(sb);
}

/* ------------------------------------------------------------------ */
/* Checkpoint container header                                         */
/* ------------------------------------------------------------------ */

void sl_ckpt_hdr_encode(const struct sl_ckpt_hdr *h, uint8_t *buf)
{
	memset(buf, 0, SL_CKPT_HDR_SIZE);
	sl_put64(buf + 0x000, SL_MAGIC_CKPT);
	memcpy(buf + 0x008, h->uuid, 16);
	sl_put64(buf + 0x018, h->seq);
	sl_put64(buf + 0x020, h->payload_len);
	sl_put64(buf + 0x028, h->payload_csum);
	sl_put64(buf + 0x030, h->scan_gen);
	sl_put64(buf + 0x038, h->next_gen);
	sl_put64(buf + 0x040, h->next_oid);
	sl_put64(buf + 0x048, h->obj_count);
	sl_put64(buf + 0x050, h->dirent_count);
	sl_put32(buf + 0x058, h->region_count);
	sl_put64(buf + 0x060, h->time_ns);
	sl_put64(buf + 0x068, h->csum_off);
	sl_put64(buf + 0x070, h->csum_count);
	sl_put64(buf + 0x078, h->xattr_off);
	sl_put64(buf + 0x080, h->xattr_count);
	sl_put64(buf + 0x088, h->resv_off);
	sl_put64(buf + 0x090, h->resv_count);
	sl_put64(buf + 0x098, h->jnl_id);
	sl_put64(buf + 0x0a0, h->jnl_lsn);
	sl_put64(buf + 0x0a8, h->jnl_data_slots);
	hdr_seal(buf);
}

int sl_ckpt_hdr_decode(const uint8_t *buf, struct sl_ckpt_hdr *h)
{
	int err = hdr_check(buf, SL_MAGIC_CKPT);

	if (err)
		return err;
	memset(h, 0, sizeof(*h));
	h->magic = sl_get64(buf + 0x000);
	memcpy(h->uuid, buf + 0x008, 16);
	h->seq = sl_get64(buf + 0x018);
	h->payload_len = sl_get64(buf + 0x020);
	h->payload_csum = sl_get64(buf + 0x028);
	h->scan_gen = sl_get64(buf + 0x030);
	h->next_gen = sl_get64(buf + 0x038);
	h->next_oid = sl_get64(buf + 0x040);
	h->obj_count = sl_get64(buf + 0x048);
	h->dirent_count = sl_get64(buf + 0x050);
	h->region_count = sl_get32(buf + 0x058);
	h->pad = sl_get32(buf + 0x05c);
	h->time_ns = sl_get64(buf + 0x060);
	h->csum_off = sl_get64(buf + 0x068);
	h->csum_count = sl_get64(buf + 0x070);
	h->xattr_off = sl_get64(buf + 0x078);
	h->xattr_count = sl_get64(buf + 0x080);
	h->resv_off = sl_get64(buf + 0x088);
	h->resv_count = sl_get64(buf + 0x090);
	h->jnl_id = sl_get64(buf + 0x098);
	h->jnl_lsn = sl_get64(buf + 0x0a0);
	h->jnl_data_slots = sl_get64(buf + 0x0a8);
	memcpy(h->reserved, buf + 0x0b0, sizeof(h->reserved));
	h->checksum = sl_get64(buf + 0x1f8);
	/* the loader checks it against the container size; this keeps
	 * later offset arithmetic far from overflow */
	if (h->payload_len >= 1ull << 40)
		return -EUCLEAN;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Region header                                                       */
/* ------------------------------------------------------------------ */

void sl_rgn_hdr_encode(const struct sl_rgn_hdr *h, uint8_t *buf)
{
	memset(buf, 0, SL_RGN_HDR_SIZE);
	sl_put64(buf + 0x000, SL_MAGIC_RGN);
	memcpy(buf + 0x008, h->uuid, 16);
	sl_put32(buf + 0x018, h->region);
	buf[0x01c] = h->cls;
	sl_put64(buf + 0x020, h->assign_gen);
	hdr_seal(buf);
}

int sl_rgn_hdr_decode(const uint8_t *buf, struct sl_rgn_hdr *h)
{
	int err = hdr_check(buf, SL_MAGIC_RGN);

	if (err)
		return err;
	memset(h, 0, sizeof(*h));
	h->magic = sl_get64(buf + 0x000);
	memcpy(h->uuid, buf + 0x008, 16);
	h->region = sl_get32(buf + 0x018);
	h->cls = buf[0x01c];
	memcpy(h->pad, buf + 0x01d, sizeof(h->pad));
	h->assign_gen = sl_get64(buf + 0x020);
	memcpy(h->reserved, buf + 0x028, sizeof(h->reserved));
	h->checksum = sl_get64(buf + 0x1f8);
	/* callers index class tables with it (0xff: written unassigned) */
	if (h->cls >= SL_CLASS_MAX && h->cls != SL_RGN_FREE)
		return -EUCLEAN;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Slot header                                                         */
/* ------------------------------------------------------------------ */

void sl_slot_hdr_encode(const struct sl_slot_hdr *h, uint8_t *buf)
{
	size_t nl = h->name_len > 255 ? 255 : h->name_len;

	memset(buf, 0, SL_SLOT_HDR_SIZE);
	sl_put64(buf + 0x000, SL_MAGIC_SLOT);
	memcpy(buf + 0x008, h->uuid, 16);
	sl_put64(buf + 0x018, h->oid);
	sl_put64(buf + 0x020, h->gen);
	sl_put64(buf + 0x028, h->txn);
	sl_put32(buf + 0x030, h->idx);
	sl_put32(buf + 0x034, h->txn_chunks);
	sl_put32(buf + 0x038, h->payload_len);
	sl_put32(buf + 0x03c, h->flags);
	sl_put64(buf + 0x040, h->payload_csum);
	sl_put64(buf + 0x048, h->obj_size);
	sl_put64(buf + 0x050, h->parent);
	sl_put32(buf + 0x058, h->mode);
	sl_put32(buf + 0x05c, h->uid);
	sl_put32(buf + 0x060, h->gid);
	sl_put16(buf + 0x064, (uint16_t)nl);
	buf[0x066] = h->cls;
	sl_put64(buf + 0x068, (uint64_t)h->mtime_ns);
	sl_put64(buf + 0x070, (uint64_t)h->ctime_ns);
	sl_put64(buf + 0x078, h->safe_size);
	/* name bytes only; the rest of the 256-byte field stays zero */
	memcpy(buf + 0x080, h->name, nl);
	hdr_seal(buf);
}

int sl_slot_hdr_decode(const uint8_t *buf, struct sl_slot_hdr *h)
{
	int err = hdr_check(buf, SL_MAGIC_SLOT);

	if (err)
		return err;
	memset(h, 0, sizeof(*h));
	h->magic = sl_get64(buf + 0x000);
	memcpy(h->uuid, buf + 0x008, 16);
	h->oid = sl_get64(buf + 0x018);
	h->gen = sl_get64(buf + 0x020);
	h->txn = sl_get64(buf + 0x028);
	h->idx = sl_get32(buf + 0x030);
	h->txn_chunks = sl_get32(buf + 0x034);
	h->payload_len = sl_get32(buf + 0x038);
	h->flags = sl_get32(buf + 0x03c);
	h->payload_csum = sl_get64(buf + 0x040);
	h->obj_size = sl_get64(buf + 0x048);
	h->parent = sl_get64(buf + 0x050);
	h->mode = sl_get32(buf + 0x058);
	h->uid = sl_get32(buf + 0x05c);
	h->gid = sl_get32(buf + 0x060);
	h->name_len = sl_get16(buf + 0x064);
	h->cls = buf[0x066];
	h->pad = buf[0x067];
	h->mtime_ns = (int64_t)sl_get64(buf + 0x068);
	h->ctime_ns = (int64_t)sl_get64(buf + 0x070);
	h->safe_size = sl_get64(buf + 0x078);
	memcpy(h->reserved1, buf + 0x180, sizeof(h->reserved1));
	h->checksum = sl_get64(buf + 0x1f8);
	if (h->name_len > 255 || h->payload_len > 1u << 26)
		return -EUCLEAN;
	/* name is NUL-terminated for the caller whatever the disk says */
	memcpy(h->name, buf + 0x080, h->name_len);
	h->name[h->name_len] = '\0';
	return 0;
}

/* ------------------------------------------------------------------ */
/* Checkpoint payload records                                          */
/* ------------------------------------------------------------------ */

size_t sl_rgn_rec_encode(const struct sl_rgn_rec *r, uint8_t *buf)
{
	memset(buf, 0, SL_RGN_REC_SIZE);
	buf[0x00] = r->cls;
	sl_put64(buf + 0x08, r->assign_gen);
	return SL_RGN_REC_SIZE;
}

void sl_rgn_rec_decode(const uint8_t *buf, struct sl_rgn_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->cls = buf[0x00];
	memcpy(r->pad, buf + 0x01, sizeof(r->pad));
	r->assign_gen = sl_get64(buf + 0x08);
}

size_t sl_obj_rec_encode(const struct sl_obj_rec *r, uint8_t *buf)
{
	sl_put64(buf + 0x00, r->oid);
	sl_put32(buf + 0x08, r->mode);
	sl_put32(buf + 0x0c, r->uid);
	sl_put32(buf + 0x10, r->gid);
	sl_put32(buf + 0x14, r->nlink);
	sl_put64(buf + 0x18, r->rdev);
	sl_put64(buf + 0x20, r->size);
	sl_put64(buf + 0x28, (uint64_t)r->atime_ns);
	sl_put64(buf + 0x30, (uint64_t)r->mtime_ns);
	sl_put64(buf + 0x38, (uint64_t)r->ctime_ns);
	sl_put64(buf + 0x40, r->txn);
	sl_put32(buf + 0x48, r->nchunks);
	sl_put32(buf + 0x4c, r->target_len);
	return SL_OBJ_REC_SIZE;
}

void sl_obj_rec_decode(const uint8_t *buf, struct sl_obj_rec *r)
{
	r->oid = sl_get64(buf + 0x00);
	r->mode = sl_get32(buf + 0x08);
	r->uid = sl_get32(buf + 0x0c);
	r->gid = sl_get32(buf + 0x10);
	r->nlink = sl_get32(buf + 0x14);
	r->rdev = sl_get64(buf + 0x18);
	r->size = sl_get64(buf + 0x20);
	r->atime_ns = (int64_t)sl_get64(buf + 0x28);
	r->mtime_ns = (int64_t)sl_get64(buf + 0x30);
	r->ctime_ns = (int64_t)sl_get64(buf + 0x38);
	r->txn = sl_get64(buf + 0x40);
	r->nchunks = sl_get32(buf + 0x48);
	r->target_len = sl_get32(buf + 0x4c);
}

size_t sl_chunk_rec_encode(const struct sl_chunk_rec *r, uint8_t *buf)
{
	sl_put32(buf + 0x00, r->idx);
	sl_put32(buf + 0x04, r->len);
	sl_put64(buf + 0x08, r->slot);
	sl_put64(buf + 0x10, r->gen);
	return SL_CHUNK_REC_SIZE;
}

uint64_t sl_ckpt_csums(const struct sl_ckpt_hdr *h, uint64_t *off)
{
	*off = 0;
	if (!h->csum_count || h->csum_off % 8 || h->csum_off > h->payload_len ||
	    h->csum_count > (h->payload_len - h->csum_off) / 8)
		return 0;
	*off = h->csum_off;
	return h->csum_count;
}

int sl_ckpt_xattrs(const struct sl_ckpt_hdr *h, uint64_t *off)
{
	*off = 0;
	if (!h->xattr_count)
		return 0;
	if (h->xattr_off % 8 || h->xattr_off > h->payload_len ||
	    h->xattr_count > (h->payload_len - h->xattr_off) /
				     SL_XATTR_REC_FIXED)
		return -EUCLEAN;
	*off = h->xattr_off;
	return 0;
}

int sl_ckpt_resv(const struct sl_ckpt_hdr *h, uint64_t *off)
{
	*off = 0;
	if (!h->resv_count)
		return 0;
	if (h->resv_off % 8 || h->resv_off > h->payload_len ||
	    h->resv_count > (h->payload_len - h->resv_off) / SL_RESV_REC_SIZE)
		return -EUCLEAN;
	*off = h->resv_off;
	return 0;
}

size_t sl_xattr_rec_size(size_t name_len, size_t value_len)
{
	return (SL_XATTR_REC_FIXED + name_len + value_len + 7) & ~(size_t)7;
}

size_t sl_xattr_rec_encode(const struct sl_xattr_rec *r, uint8_t *buf)
{
	size_t size = sl_xattr_rec_size(r->name_len, r->value_len);
	memset(buf, 0, size);
	sl_put64(buf + 0x00, r->oid);
	sl_put32(buf + 0x08, r->value_len);
	buf[0x0c] = r->name_len;
	memcpy(buf + SL_XATTR_REC_FIXED, r->name, r->name_len);
	if (r->value_len)
		memcpy(buf + SL_XATTR_REC_FIXED + r->name_len, r->value,
		       r->value_len);
	return size;
}

int64_t sl_xattr_rec_decode(const uint8_t *buf, size_t left,
			    struct sl_xattr_rec *r)
{
	if (left < SL_XATTR_REC_FIXED)
		return -EUCLEAN;
	r->oid = sl_get64(buf + 0x00);
	r->value_len = sl_get32(buf + 0x08);
	r->name_len = buf[0x0c];
	r->name = (const char *)buf + SL_XATTR_REC_FIXED;
	r->value = buf + SL_XATTR_REC_FIXED + r->name_len;
	size_t size = sl_xattr_rec_size(r->name_len, r->value_len);
	return size <= left ? (int64_t)size : -EUCLEAN;
}

void sl_chunk_rec_decode(const uint8_t *buf, struct sl_chunk_rec *r)
{
	r->idx = sl_get32(buf + 0x00);
	r->len = sl_get32(buf + 0x04);
	r->slot = sl_get64(buf + 0x08);
	r->gen = sl_get64(buf + 0x10);
}

/* ------------------------------------------------------------------ */
/* Journal (1.4)                                                       */
/* ------------------------------------------------------------------ */

void sl_jnl_hdr_encode(const struct sl_jnl_hdr *h, uint8_t *buf)
{
	memset(buf, 0, SL_JNL_HDR_SIZE);
	sl_put64(buf + 0x000, SL_MAGIC_JNL);
	memcpy(buf + 0x008, h->uuid, 16);
	sl_put64(buf + 0x018, h->gen);
	sl_put64(buf + 0x020, h->jid);
	sl_put64(buf + 0x028, h->lsn);
	sl_put32(buf + 0x030, h->payload_len);
	sl_put32(buf + 0x034, h->rec_count);
	sl_put64(buf + 0x038, h->payload_csum);
	hdr_seal(buf);
}

int sl_jnl_hdr_decode(const uint8_t *buf, struct sl_jnl_hdr *h)
{
	int err = hdr_check(buf, SL_MAGIC_JNL);

	if (err)
		return err;
	memset(h, 0, sizeof(*h));
	h->magic = sl_get64(buf + 0x000);
	memcpy(h->uuid, buf + 0x008, 16);
	h->gen = sl_get64(buf + 0x018);
	h->jid = sl_get64(buf + 0x020);
	h->lsn = sl_get64(buf + 0x028);
	h->payload_len = sl_get32(buf + 0x030);
	h->rec_count = sl_get32(buf + 0x034);
	h->payload_csum = sl_get64(buf + 0x038);
	memcpy(h->reserved, buf + 0x040, sizeof(h->reserved));
	h->checksum = sl_get64(buf + 0x1f8);
	if (!h->jid || h->payload_len > 1u << 26)
		return -EUCLEAN;
	return 0;
}

size_t sl_jnl_rec_size(const struct sl_jnl_rec *r)
{
	return ((size_t)SL_JNL_REC_FIXED + r->name_len + r->name2_len +
		r->target_len + 7) & ~(size_t)7;
}

size_t sl_jnl_rec_encode(const struct sl_jnl_rec *r, uint8_t *buf)
{
	size_t size = sl_jnl_rec_size(r);
	memset(buf, 0, size);
	buf[0x00] = r->type;
	buf[0x01] = r->flags;
	sl_put16(buf + 0x02, r->name_len);
	sl_put16(buf + 0x04, r->name2_len);
	sl_put16(buf + 0x06, r->target_len);
	sl_put64(buf + 0x08, r->oid);
	sl_put64(buf + 0x10, r->parent);
	sl_put64(buf + 0x18, r->parent2);
	sl_put64(buf + 0x20, (uint64_t)r->time_ns);
	sl_put32(buf + 0x28, r->mode);
	sl_put32(buf + 0x2c, r->uid);
	sl_put32(buf + 0x30, r->gid);
	sl_put64(buf + 0x38, r->rdev);
	uint8_t *p = buf + SL_JNL_REC_FIXED;
	if (r->name_len)
		memcpy(p, r->name, r->name_len);
	p += r->name_len;
	if (r->name2_len)
		memcpy(p, r->name2, r->name2_len);
	p += r->name2_len;
	if (r->target_len)
		memcpy(p, r->target, r->target_len);
	return size;
}

int64_t sl_jnl_rec_decode(const uint8_t *buf, size_t left,
			  struct sl_jnl_rec *r)
{
	if (left < SL_JNL_REC_FIXED)
		return -EUCLEAN;
	memset(r, 0, sizeof(*r));
	r->type = buf[0x00];
	r->flags = buf[0x01];
	r->name_len = sl_get16(buf + 0x02);
	r->name2_len = sl_get16(buf + 0x04);
	r->target_len = sl_get16(buf + 0x06);
	r->oid = sl_get64(buf + 0x08);
	r->parent = sl_get64(buf + 0x10);
	r->parent2 = sl_get64(buf + 0x18);
	r->time_ns = (int64_t)sl_get64(buf + 0x20);
	r->mode = sl_get32(buf + 0x28);
	r->uid = sl_get32(buf + 0x2c);
	r->gid = sl_get32(buf + 0x30);
	r->pad = sl_get32(buf + 0x34);
	r->rdev = sl_get64(buf + 0x38);
	/* a symlink's target, a WRITE's bytes or an XATTR's value */
	uint32_t tmax = r->type == SL_JNL_WRITE ? SL_JNL_DATA_MAX :
			r->type == SL_JNL_XATTR ? SL_JNL_XATTR_MAX : 4095;
	if (r->name_len > 255 || r->name2_len > 255 || r->target_len > tmax)
		return -EUCLEAN;
	size_t size = sl_jnl_rec_size(r);
	if (size > left)
		return -EUCLEAN;
	r->name = (const char *)buf + SL_JNL_REC_FIXED;
	r->name2 = r->name + r->name_len;
	r->target = r->name2 + r->name2_len;
	return (int64_t)size;
}
