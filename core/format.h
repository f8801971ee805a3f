/* SPDX-License-Identifier: MIT */
/*
 * format.h - slotfs on-disk records.  core/FORMAT.md is the specification;
 * this header mirrors it.  All values are little-endian.  No native struct
 * goes to disk: each record has an encode/decode pair over a byte buffer,
 * and decode checks everything it can before it trusts a field.
 */
#ifndef SLOT_FORMAT_H
#define SLOT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_BLOCK 4096u                 /* header and alignment unit */

/* Device layout (byte offsets) */
#define SL_SB_PRIMARY_OFF   0ull
#define SL_SB_BACKUP_OFF    (64ull << 10)
#define SL_META_OFF         (1ull << 20)

#define SL_VERSION_MAJOR 1
#define SL_VERSION_MINOR 12

/* magics are ASCII strings stored as they read: "SLOTFSB1" at byte 0 */
#define SL_MAGIC_SB   0x31425346544f4c53ull /* "SLOTFSB1" */
#define SL_MAGIC_CKPT 0x31504b43544f4c53ull /* "SLOTCKP1" */
#define SL_MAGIC_RGN  0x314e4752544f4c53ull /* "SLOTRGN1" */
#define SL_MAGIC_SLOT 0x31524448544f4c53ull /* "SLOTHDR1" */
#define SL_MAGIC_JNL  0x314c4e4a544f4c53ull /* "SLOTJNL1" */

/* feature masks; unknown incompat refuses open, unknown ro_compat forces ro */
#define SL_FEAT_COMPAT_SUPP     0u
#define SL_FEAT_RO_COMPAT_XATTR (1u << 0) /* checkpoints may hold xattrs:
					     a writer that drops them must
					     not write one */
#define SL_FEAT_RO_COMPAT_SUPP  SL_FEAT_RO_COMPAT_XATTR
#define SL_FEAT_INCOMPAT_META_UUID (1u << 0) /* headers carry meta_uuid:
						the uuid was changed */
#define SL_FEAT_INCOMPAT_RECOVER (1u << 1) /* the primary's, while open
					      read-write or after a crash:
					      a journal may need replay */
#define SL_FEAT_INCOMPAT_PUNCH (1u << 2) /* with RECOVER: the journal may
					    hold PUNCH records */
#define SL_FEAT_INCOMPAT_DATA (1u << 3) /* with RECOVER: the journal may
					   hold WRITE records, and keep
					   slots older than a checkpoint */
#define SL_FEAT_INCOMPAT_RESV (1u << 4) /* with RECOVER: the journal may
					   hold RESV records */
#define SL_FEAT_INCOMPAT_JNL_XATTR (1u << 5) /* with RECOVER: the journal
						may hold XATTR records */
#define SL_FEAT_INCOMPAT_JNL_ACL (1u << 6) /* with RECOVER: the journal may
					      hold ACLs (XATTR records, and
					      MAKE records that inherit) */
#define SL_FEAT_INCOMPAT_RESV_CUT (1u << 7) /* with RECOVER: the journal
					       may hold RESV records that
					       give a range back */
#define SL_FEAT_INCOMPAT_XATTR_LARGE (1u << 8) /* with RECOVER: the journal
						  may hold XATTR records of
						  values over 4 KiB */
#define SL_FEAT_INCOMPAT_DATA_EXTEND (1u << 9) /* with RECOVER: the journal
						  may hold WRITE records
						  past their chunk's end */
/* the bits a read-write open sets in the primary, and a clean close
 * clears: never in the backup */
#define SL_FEAT_INCOMPAT_OPEN   (SL_FEAT_INCOMPAT_RECOVER | \
				 SL_FEAT_INCOMPAT_PUNCH | \
				 SL_FEAT_INCOMPAT_DATA | \
				 SL_FEAT_INCOMPAT_RESV | \
				 SL_FEAT_INCOMPAT_JNL_XATTR | \
				 SL_FEAT_INCOMPAT_JNL_ACL | \
				 SL_FEAT_INCOMPAT_RESV_CUT | \
				 SL_FEAT_INCOMPAT_XATTR_LARGE | \
				 SL_FEAT_INCOMPAT_DATA_EXTEND)
#define SL_FEAT_INCOMPAT_SUPP   (SL_FEAT_INCOMPAT_META_UUID | \
				 SL_FEAT_INCOMPAT_OPEN)

/* superblock flags */
#define SL_SB_CLEAN   (1u << 0)   /* closed cleanly: the checkpoint is whole */
#define SL_SB_ERRORS  (1u << 1)   /* errors seen; fsck should run */

/* superblock errors: what an error found in use does (ext4's s_errors) */
#define SL_ERRORS_CONTINUE 1
#define SL_ERRORS_RO       2      /* the store takes no more writes */
/* ... and the kind of the last one (last_error) */
#define SL_ERR_CSUM        1      /* a slot's checksum did not match */
#define SL_ERR_CKPT_WRITE  2      /* a checkpoint could not be written */
#define SL_ERR_INDEX       3      /* index records dropped at open */
#define SL_ERR_CKPT_LOST   4      /* a damaged checkpoint container found
				     at open */
const char *sl_err_what(unsigned kind);

#define SL_CLASS_MAX 8

/*
 * Superblock: 512 significant bytes in a 4096-byte block, primary at
 * offset 0, backup at 64 KiB.  Checksum: XXH3-64 of bytes [0, 0x1f8).
 */
struct sl_sb {
	/*000*/ uint64_t magic;
	/*008*/ uint16_t version_major;
	/*00a*/ uint16_t version_minor;
	/*00c*/ uint32_t block_size;
	/*010*/ uint32_t feature_compat;
	/*014*/ uint32_t feature_ro_compat;
	/*018*/ uint32_t feature_incompat;
	/*01c*/ uint32_t flags;
	/*020*/ uint8_t uuid[16];
	/*030*/ char label[64];
	/*070*/ uint64_t device_size;
	/*078*/ uint64_t meta_offset;
	/*080*/ uint64_t meta_size;           /* both containers */
	/*088*/ uint64_t slot_area_offset;
	/*090*/ uint64_t region_size;
	/*098*/ uint32_t region_count;
	/*09c*/ uint8_t chunk_shift;          /* log2 largest slot payload */
	/*09d*/ uint8_t min_shift;            /* log2 smallest slot payload */
	/*09e*/ uint8_t class_count;          /* classes: min_shift + 2*i ... */
	/*09f*/ uint8_t pad0;
	/*0a0*/ uint64_t create_time;         /* unix seconds */
	/*0a8*/ uint64_t mount_time;
	/*0b0*/ uint64_t write_time;
	/*0b8*/ uint32_t mount_count;
	/*0bc*/ uint32_t pad1;
	/*0c0*/ uint64_t fsck_time;
	/*0c8*/ uint8_t meta_uuid[16];       /* with META_UUID; else 0 */
	/*0d8*/ uint32_t error_count;         /* since the last fsck */
	/*0dc*/ uint16_t errors;              /* SL_ERRORS_*; 0: continue */
	/*0de*/ uint16_t last_error;          /* SL_ERR_* */
	/*0e0*/ uint64_t first_error_time;    /* unix seconds; 0 none */
	/*0e8*/ uint64_t last_error_time;
	/*0f0*/ uint8_t reserved[0x1f8 - 0xf0];
	/*1f8*/ uint64_t checksum;
};

/* Whether this slotfs may open it: its major version, incompat bits it
 * knows (a newer minor version only adds what an older reader may
 * ignore, "Versions and features"). */
static inline bool sl_sb_supported(const struct sl_sb *sb)
{
	return sb->version_major == SL_VERSION_MAJOR &&
	       !(sb->feature_incompat & ~SL_FEAT_INCOMPAT_SUPP);
}

/* The uuid every other header carries: mkfs's, kept when the file
 * system's own changes (tune.slotfs -U), so nothing else is rewritten. */
static inline const uint8_t *sl_sb_hdr_uuid(const struct sl_sb *sb)
{
	return sb->feature_incompat & SL_FEAT_INCOMPAT_META_UUID ?
		       sb->meta_uuid : sb->uuid;
}
#define SL_SB_CSUM_OFF 0x1f8u
#define SL_SB_SIZE     0x200u

/*
 * Checkpoint container header: first 512 bytes of a container's first
 * block.  The payload follows at container offset 4096.  Checksum of the
 * header: XXH3-64 of [0, 0x1f8); of the payload: XXH3-64 of its bytes.
 */
struct sl_ckpt_hdr {
	/*000*/ uint64_t magic;
	/*008*/ uint8_t uuid[16];
	/*018*/ uint64_t seq;                 /* container = seq % 2 */
	/*020*/ uint64_t payload_len;
	/*028*/ uint64_t payload_csum;
	/*030*/ uint64_t scan_gen;            /* slots with gen >= this may be
						 newer than this checkpoint */
	/*038*/ uint64_t next_gen;
	/*040*/ uint64_t next_oid;
	/*048*/ uint64_t obj_count;
	/*050*/ uint64_t dirent_count;
	/*058*/ uint32_t region_count;
	/*05c*/ uint32_t pad;
	/*060*/ uint64_t time_ns;             /* wall clock at snapshot */
	/*068*/ uint64_t csum_off;            /* payload offset of the chunk
						 checksums (1.1) */
	/*070*/ uint64_t csum_count;          /* checksums there; 0: none */
	/*078*/ uint64_t xattr_off;           /* payload offset of the
						 extended attributes */
	/*080*/ uint64_t xattr_count;         /* records there; 0: none */
	/*088*/ uint64_t resv_off;            /* payload offset of the chunks
						 set aside (1.2) */
	/*090*/ uint64_t resv_count;          /* records there; 0: none */
	/*098*/ uint64_t jnl_id;              /* the journal that continues
						 it (1.4); 0: none */
	/*0a0*/ uint64_t jnl_lsn;             /* its first record's lsn */
	/*0a8*/ uint64_t jnl_data_slots;      /* (1.7) the journal slots
						 just below jnl_lsn whose
						 WRITE records still apply */
	/*0b0*/ uint8_t reserved[0x1f8 - 0xb0];
	/*1f8*/ uint64_t checksum;
};
#define SL_CKPT_HDR_SIZE 0x200u

/*
 * Checkpoint payload, in order:
 *   region table: region_count x { u8 class (0xff unassigned), u8[7] pad,
 *                 u64 assign_gen }                                 16 bytes
 *   objects:      obj_count x sl_obj_rec, each followed by
 *                 nchunks x sl_chunk_rec and then target_len bytes
 *                 (symlink target), padded to 8
 *   dirents:      dirent_count x { u64 parent, u64 child, u16 name_len,
 *                 name bytes }, padded to 8
 *   checksums:    csum_count x u64 (1.1), at csum_off
 *   xattrs:       xattr_count x { u64 oid, u32 value_len, u8 name_len,
 *                 u8[3] pad, name, value }, padded to 8, at xattr_off
 *                 (ro_compat XATTR)
 *   reservations: resv_count x { u64 oid, u32 lo, u32 hi }, at resv_off
 *                 (1.2): chunks [lo, hi) of oid set aside by fallocate
 */
#define SL_RESV_REC_SIZE 16u
struct sl_rgn_rec {
	/*00*/ uint8_t cls;
	/*01*/ uint8_t pad[7];
	/*08*/ uint64_t assign_gen;
};
#define SL_RGN_REC_SIZE 16u
#define SL_RGN_FREE 0xffu

struct sl_obj_rec {
	/*00*/ uint64_t oid;
	/*08*/ uint32_t mode;
	/*0c*/ uint32_t uid;
	/*10*/ uint32_t gid;
	/*14*/ uint32_t nlink;
	/*18*/ uint64_t rdev;
	/*20*/ uint64_t size;
	/*28*/ int64_t atime_ns;
	/*30*/ int64_t mtime_ns;
	/*38*/ int64_t ctime_ns;
	/*40*/ uint64_t txn;                  /* newest whole-object txn */
	/*48*/ uint32_t nchunks;
	/*4c*/ uint32_t target_len;           /* symlink target bytes */
};
#define SL_OBJ_REC_SIZE 0x50u

struct sl_chunk_rec {
	/*00*/ uint32_t idx;                  /* chunk number in the object */
	/*04*/ uint32_t len;                  /* payload bytes */
	/*08*/ uint64_t slot;                 /* region << 32 | index */
	/*10*/ uint64_t gen;
};
#define SL_CHUNK_REC_SIZE 0x18u

#define SL_DIRENT_REC_FIXED 18u           /* parent, child, name_len */
#define SL_XATTR_REC_FIXED 16u            /* oid, value_len, name_len, pad */
/* An extended attribute record, its name and value pointing into the
 * payload it was decoded from (or to be encoded from). */
struct sl_xattr_rec {
	uint64_t oid;
	uint32_t value_len;
	uint8_t name_len;
	const char *name;
	const uint8_t *value;
};

/*
 * Region header: first 512 bytes of the first block of each region.  The
 * region's slots follow, each block_size + class bytes long.
 */
struct sl_rgn_hdr {
	/*000*/ uint64_t magic;
	/*008*/ uint8_t uuid[16];
	/*018*/ uint32_t region;
	/*01c*/ uint8_t cls;                  /* class index */
	/*01d*/ uint8_t pad[3];
	/*020*/ uint64_t assign_gen;          /* slots older than this are stale */
	/*028*/ uint8_t reserved[0x1f8 - 0x28];
	/*1f8*/ uint64_t checksum;
};
#define SL_RGN_HDR_SIZE 0x200u

/*
 * Slot header: first 512 bytes of a slot's first block; the payload starts
 * at the next block.  It repeats enough of the object (name, parent, size,
 * attributes) for recovery to rebuild an entry written after the last
 * checkpoint, and for fsck to name orphans.
 */
#define SL_SLOT_WHOLE  (1u << 0)   /* txn replaces every chunk of the object */
#define SL_SLOT_MODE_CKPT (1u << 1) /* the mode goes with changes only a
				       checkpoint carries (an ACL) */
#define SL_SLOT_SIZE_LAGS (1u << 2) /* chunks that took the object past
				       safe_size were not known durable when
				       this was written (ext.c) */
struct sl_slot_hdr {
	/*000*/ uint64_t magic;
	/*008*/ uint8_t uuid[16];
	/*018*/ uint64_t oid;
	/*020*/ uint64_t gen;                 /* store-wide write sequence */
	/*028*/ uint64_t txn;                 /* gen of the write batch's first
						 slot for this object */
	/*030*/ uint32_t idx;                 /* position in the object */
	/*034*/ uint32_t txn_chunks;          /* slots this txn wrote for it */
	/*038*/ uint32_t payload_len;
	/*03c*/ uint32_t flags;
	/*040*/ uint64_t payload_csum;        /* XXH3-64 of the payload */
	/*048*/ uint64_t obj_size;            /* object size after this write */
	/*050*/ uint64_t parent;              /* key hint: parent directory... */
	/*058*/ uint32_t mode;
	/*05c*/ uint32_t uid;
	/*060*/ uint32_t gid;
	/*064*/ uint16_t name_len;            /* ...and the name in it */
	/*066*/ uint8_t cls;
	/*067*/ uint8_t pad;
	/*068*/ int64_t mtime_ns;
	/*070*/ int64_t ctime_ns;
	/*078*/ uint64_t safe_size;    /* SIZE_LAGS: what is surely down */
	/*080*/ char name[256];
	/*180*/ uint8_t reserved1[0x1f8 - 0x180];
	/*1f8*/ uint64_t checksum;
};
#define SL_SLOT_HDR_SIZE 0x200u

/*
 * Journal slot (1.4): a slot whose first block holds this header instead
 * of a slot header, and whose payload holds namespace records written
 * since the checkpoint whose jnl_id it carries (FORMAT.md, "Journal").
 */
struct sl_jnl_hdr {
	/*000*/ uint64_t magic;
	/*008*/ uint8_t uuid[16];
	/*018*/ uint64_t gen;                 /* store-wide write sequence */
	/*020*/ uint64_t jid;                 /* journal id, never 0 */
	/*028*/ uint64_t lsn;                 /* +1 per journal slot */
	/*030*/ uint32_t payload_len;
	/*034*/ uint32_t rec_count;
	/*038*/ uint64_t payload_csum;
	/*040*/ uint8_t reserved[0x1f8 - 0x40];
	/*1f8*/ uint64_t checksum;
};
#define SL_JNL_HDR_SIZE 0x200u

/* Journal records, in the order their changes were made. */
enum {
	SL_JNL_MAKE = 1,        /* oid made, named name in parent */
	SL_JNL_LINK = 2,        /* oid given name in parent */
	SL_JNL_UNLINK = 3,      /* name in parent, which named oid, removed */
	SL_JNL_RENAME = 4,      /* name in parent (oid) now name2 in parent2 */
	SL_JNL_SETATTR = 5,     /* oid's mode, owner and times (mtime in
				   parent, atime in parent2, ctime time_ns) */
	SL_JNL_TRUNC = 6,       /* oid cut to size rdev: its chunks of gen
				   below parent (the cut) past it are gone */
	SL_JNL_PUNCH = 7,       /* a hole in oid: its chunks [rdev, parent2)
				   of gen below parent are gone */
	SL_JNL_WRITE = 8,       /* target_len bytes at rdev in chunk parent2
				   of oid, over the chunk of gen parent */
	SL_JNL_RESV = 9,        /* chunks [rdev, parent2) of oid set aside
				   (fallocate) */
	SL_JNL_XATTR = 10,      /* oid's extended attribute name set to
				   target (flags REMOVE: removed); ctime
				   time_ns */
};
#define SL_JNL_DATA_MAX 4096u   /* WRITE: bytes a record carries, at most */
#define SL_JNL_XATTR_MAX 65535u /* XATTR: a value's bytes, at most (1.11;
				   4096 before), all an object may hold */
#define SL_JNL_EXCHANGE 1u      /* RENAME: the two names swapped */
#define SL_JNL_XATTR_REMOVE 1u  /* XATTR: the attribute was removed */
#define SL_JNL_INHERIT 1u       /* MAKE: the object inherited its parent's
				   default ACL */
#define SL_JNL_RESV_CUT 1u      /* RESV: the range is no longer set aside */
#define SL_JNL_EXTEND 1u        /* WRITE: the bytes may go past the chunk's
				   end, which grows, and the file's size
				   with it (1.12) */
struct sl_jnl_rec {
	/*00*/ uint8_t type;
	/*01*/ uint8_t flags;
	/*02*/ uint16_t name_len;
	/*04*/ uint16_t name2_len;
	/*06*/ uint16_t target_len;           /* MAKE of a symlink */
	/*08*/ uint64_t oid;
	/*10*/ uint64_t parent;
	/*18*/ uint64_t parent2;
	/*20*/ int64_t time_ns;               /* the change's ctime */
	/*28*/ uint32_t mode;                 /* MAKE: type and bits */
	/*2c*/ uint32_t uid;
	/*30*/ uint32_t gid;
	/*34*/ uint32_t pad;
	/*38*/ uint64_t rdev;
	/*40*/ /* name, name2, target; padded to 8 */
	const char *name, *name2, *target;
};
#define SL_JNL_REC_FIXED 0x40u

/* Checksum used everywhere: XXH3-64, seed 0. */
uint64_t sl_csum(const void *p, size_t n);

/*
 * encode writes the record into buf (its size bytes, the rest of the
 * block is the caller's) and fills the checksum; decode reads it back and
 * returns 0, -EINVAL for a wrong magic, -EBADMSG for a checksum mismatch,
 * -EUCLEAN for a field out of range.
 */
void sl_sb_encode(const struct sl_sb *sb, uint8_t *buf);
int sl_sb_decode(const uint8_t *buf, struct sl_sb *sb);
void sl_ckpt_hdr_encode(const struct sl_ckpt_hdr *h, uint8_t *buf);
int sl_ckpt_hdr_decode(const uint8_t *buf, struct sl_ckpt_hdr *h);
void sl_rgn_hdr_encode(const struct sl_rgn_hdr *h, uint8_t *buf);
int sl_rgn_hdr_decode(const uint8_t *buf, struct sl_rgn_hdr *h);
void sl_slot_hdr_encode(const struct sl_slot_hdr *h, uint8_t *buf);
int sl_slot_hdr_decode(const uint8_t *buf, struct sl_slot_hdr *h);

/* Fixed-size payload records: encode returns bytes written. */
size_t sl_rgn_rec_encode(const struct sl_rgn_rec *r, uint8_t *buf);
void sl_rgn_rec_decode(const uint8_t *buf, struct sl_rgn_rec *r);
size_t sl_obj_rec_encode(const struct sl_obj_rec *r, uint8_t *buf);
void sl_obj_rec_decode(const uint8_t *buf, struct sl_obj_rec *r);
size_t sl_chunk_rec_encode(const struct sl_chunk_rec *r, uint8_t *buf);
void sl_chunk_rec_decode(const uint8_t *buf, struct sl_chunk_rec *r);
/* How many chunk checksums (1.1) a checkpoint's payload holds, at payload
 * offset *off: 0 when it has none or they do not fit in the payload (then
 * every checksum is unknown). */
uint64_t sl_ckpt_csums(const struct sl_ckpt_hdr *h, uint64_t *off);
/* Where a checkpoint's extended attribute records start: 0 and *off set
 * when xattr_off is a multiple of 8 within the payload, -EUCLEAN when
 * records are claimed that cannot be there. */
int sl_ckpt_xattrs(const struct sl_ckpt_hdr *h, uint64_t *off);
/* ... and of its reservation records, the same way. */
int sl_ckpt_resv(const struct sl_ckpt_hdr *h, uint64_t *off);
/* Bytes a record takes, padding included. */
size_t sl_xattr_rec_size(size_t name_len, size_t value_len);
/* encode writes the record (zero-padded) and returns its bytes; decode
 * reads one from the left bytes at buf and returns its bytes, or
 * -EUCLEAN when it runs past them.  Its fields are not judged here. */
size_t sl_xattr_rec_encode(const struct sl_xattr_rec *r, uint8_t *buf);
int64_t sl_xattr_rec_decode(const uint8_t *buf, size_t left,
			    struct sl_xattr_rec *r);

void sl_jnl_hdr_encode(const struct sl_jnl_hdr *h, uint8_t *buf);
int sl_jnl_hdr_decode(const uint8_t *buf, struct sl_jnl_hdr *h);
/* Bytes a journal record takes, padding included. */
size_t sl_jnl_rec_size(const struct sl_jnl_rec *r);
/* As the xattr records: encode returns its bytes; decode one from the
 * left bytes at buf, its bytes or -EUCLEAN when it runs past them or a
 * length is out of range (names <= 255, target < 4096). */
size_t sl_jnl_rec_encode(const struct sl_jnl_rec *r, uint8_t *buf);
int64_t sl_jnl_rec_decode(const uint8_t *buf, size_t left,
			  struct sl_jnl_rec *r);

/* An ACL value (FORMAT.md, "ACLs"): a version, then entries of tag, perm
 * and id. */
#define SL_ACL_VERSION  2
#define SL_ACL_HDR      4
#define SL_ACL_ENT      8
enum {
	SL_ACL_TAG_USER_OBJ  = 0x01,
	SL_ACL_TAG_USER      = 0x02,
	SL_ACL_TAG_GROUP_OBJ = 0x04,
	SL_ACL_TAG_GROUP     = 0x08,
	SL_ACL_TAG_MASK      = 0x10,
	SL_ACL_TAG_OTHER     = 0x20,
};
/* acl.c: POSIX ACLs, the values of the records named SLOT_XATTR_ACL_*
 * (FORMAT.md, "ACLs").  n is the entry count sl_acl_check returned. */
enum { SL_ACL_NOT, SL_ACL_ACCESS, SL_ACL_DEFAULT };
/* Which ACL a name is, or -EOPNOTSUPP for another system. name. */
int sl_acl_kind(const char *name, size_t nlen);
/* The entries of a valid ACL value, or -EINVAL. */
int sl_acl_check(const void *value, size_t len);
/* The mode's permission bits from an access ACL; true when the ACL says
 * more than they can, and must be kept. */
bool sl_acl_mode(const void *value, size_t n, uint32_t *mode);
/* The ACL as chmod to mode leaves it. */
void sl_acl_chmod(void *value, size_t n, uint32_t mode);
/* A default ACL made a new object's access ACL, masked by its create
 * mode; mode takes the result.  True when it must be kept. */
bool sl_acl_create_mask(void *value, size_t n, uint32_t *mode);

/* Little-endian helpers */
static inline void sl_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void sl_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void sl_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t sl_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t sl_get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}
static inline uint64_t sl_get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Slot references: region in the high half, index in the low half. */
static inline uint64_t sl_slot_ref(uint32_t region, uint32_t index)
{
	return ((uint64_t)region << 32) | index;
}
static inline uint32_t sl_slot_region(uint64_t ref) { return (uint32_t)(ref >> 32); }
static inline uint32_t sl_slot_index(uint64_t ref) { return (uint32_t)ref; }

/* Class i has payload 1 << (min_shift + 2*i), capped at chunk_shift. */
static inline uint32_t sl_class_shift(uint8_t min_shift, uint8_t chunk_shift,
				      unsigned cls)
{
	unsigned s = min_shift + 2u * cls;
	return s > chunk_shift ? chunk_shift : s;
}

#endif /* SLOT_FORMAT_H */
