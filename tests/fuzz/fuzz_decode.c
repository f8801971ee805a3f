// SPDX-License-Identifier: MIT
/*
 * fuzz_decode.c - feed arbitrary bytes to every on-disk decoder.
 *
 * With -DSLOT_FUZZ_LIBFUZZER this is a libFuzzer target:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DSLOT_FUZZ_LIBFUZZER \
 *     -D_GNU_SOURCE -Icore tests/fuzz/fuzz_decode.c core/format.c \
 *     core/acl.c -lxxhash
 * Without it, main() runs the decoders over seeded random buffers and
 * bit-flipped valid ones:
 *   fuzz_decode [iterations [seed]]
 *
 * Input: one steering byte, then the block (zero-padded to 4096 bytes).
 * The steering byte takes the target past the gates a random input never
 * passes: bit 3 forces the magic of record (ctl >> 1) & 3 (sb, ckpt, rgn,
 * slot), then bit 0 re-seals the checksum.
 *
 * Besides "no crash, no UB", it checks one property: whatever a decoder
 * accepts, encode then decode gives back unchanged; and of an ACL value
 * (the block's start, at each length an ACL can have), that what the
 * check accepts stays valid through chmod and inheritance, which give
 * the mode bits asked for.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

#define BLK 4096u

static void die(const char *what)
{
	fprintf(stderr, "fuzz_decode: %s\n", what);
	abort();
}

static void check_rc(int rc)
{
	if (rc != 0 && rc != -EINVAL && rc != -EBADMSG && rc != -EUCLEAN)
		die("decoder returned an unexpected error");
}

/* Compare two decoded records, ignoring fields encode does not carry. */
#define SAME_WITHOUT(a, b, ...) do {					\
	__typeof__(a) x_ = (a), y_ = (b);				\
	__VA_ARGS__;							\
	if (memcmp(&x_, &y_, sizeof(x_)))				\
		die("round trip changed " #a);				\
} while (0)

static void roundtrip(const uint8_t *buf)
{
	static uint8_t out[BLK];

	{
		struct sl_sb a, b;
		int rc = sl_sb_decode(buf, &a);

		check_rc(rc);
		if (!rc) {
			sl_sb_encode(&a, out);
			if (sl_sb_decode(out, &b))
				die("sb re-decode failed");
			SAME_WITHOUT(a, b,
				memset(x_.reserved, 0, sizeof(x_.reserved));
				memset(y_.reserved, 0, sizeof(y_.reserved));
				x_.pad0 = y_.pad0 = 0; x_.pad1 = y_.pad1 = 0;
				x_.checksum = y_.checksum = 0);
		}
	}
	{
		struct sl_ckpt_hdr a, b;
		int rc = sl_ckpt_hdr_decode(buf, &a);

		check_rc(rc);
		if (!rc) {
			sl_ckpt_hdr_encode(&a, out);
			if (sl_ckpt_hdr_decode(out, &b))
				die("ckpt re-decode failed");
			SAME_WITHOUT(a, b,
				memset(x_.reserved, 0, sizeof(x_.reserved));
				memset(y_.reserved, 0, sizeof(y_.reserved));
				x_.pad = y_.pad = 0;
				x_.checksum = y_.checksum = 0);
			/* the checksum section lies inside the payload */
			uint64_t off, n = sl_ckpt_csums(&a, &off);
			if (n && (off % 8 || off > a.payload_len ||
				  n > (a.payload_len - off) / 8))
				die("ckpt checksum section outside the payload");
			/* so do the reservations, when they are taken */
			if (!sl_ckpt_resv(&a, &off) && a.resv_count &&
			    (off % 8 || off > a.payload_len ||
			     a.resv_count > (a.payload_len - off) /
					    SL_RESV_REC_SIZE))
				die("ckpt reservations outside the payload");
		}
	}
	{
		struct sl_rgn_hdr a, b;
		int rc = sl_rgn_hdr_decode(buf, &a);

		check_rc(rc);
		if (!rc) {
			sl_rgn_hdr_encode(&a, out);
			if (sl_rgn_hdr_decode(out, &b))
				die("rgn re-decode failed");
			SAME_WITHOUT(a, b,
				memset(x_.reserved, 0, sizeof(x_.reserved));
				memset(y_.reserved, 0, sizeof(y_.reserved));
				memset(x_.pad, 0, sizeof(x_.pad));
				memset(y_.pad, 0, sizeof(y_.pad));
				x_.checksum = y_.checksum = 0);
		}
	}
	{
		struct sl_slot_hdr a, b;
		int rc = sl_slot_hdr_decode(buf, &a);

		check_rc(rc);
		if (!rc) {
			if (strlen(a.name) > a.name_len)
				die("slot name not terminated at name_len");
			sl_slot_hdr_encode(&a, out);
			if (sl_slot_hdr_decode(out, &b))
				die("slot re-decode failed");
			SAME_WITHOUT(a, b,
				memset(x_.reserved1, 0, sizeof(x_.reserved1));
				memset(y_.reserved1, 0, sizeof(y_.reserved1));
				x_.pad = y_.pad = 0;
				x_.checksum = y_.checksum = 0);
		}
	}

	{
		struct sl_jnl_hdr a, b;
		int rc = sl_jnl_hdr_decode(buf, &a);

		check_rc(rc);
		if (!rc) {
			if (!a.jid || a.payload_len > 1u << 26)
				die("jnl header fields out of range");
			sl_jnl_hdr_encode(&a, out);
			if (sl_jnl_hdr_decode(out, &b))
				die("jnl re-decode failed");
			SAME_WITHOUT(a, b,
				memset(x_.reserved, 0, sizeof(x_.reserved));
				memset(y_.reserved, 0, sizeof(y_.reserved));
				x_.checksum = y_.checksum = 0);
		}
	}
	/* a journal record at every 64th byte, with what follows it in the
	 * block: accepted only when it fits, and it re-encodes as read */
	for (size_t off = 0; off < BLK; off += 64) {
		struct sl_jnl_rec x, y;
		int64_t size = sl_jnl_rec_decode(buf + off, BLK - off, &x);

		if (size < 0)
			continue;
		if ((size_t)size > BLK - off || size % 8 ||
		    (size_t)size < SL_JNL_REC_FIXED + (size_t)x.name_len +
				   x.name2_len + x.target_len ||
		    x.name_len > 255 || x.name2_len > 255 ||
		    x.target_len >= 4096)
			die("jnl record size");
		static uint8_t jout[BLK];
		if (sl_jnl_rec_encode(&x, jout) != (size_t)size ||
		    sl_jnl_rec_decode(jout, (size_t)size, &y) != size ||
		    x.type != y.type || x.flags != y.flags || x.oid != y.oid ||
		    x.parent != y.parent || x.parent2 != y.parent2 ||
		    x.time_ns != y.time_ns || x.mode != y.mode ||
		    x.uid != y.uid || x.gid != y.gid || x.rdev != y.rdev ||
		    x.name_len != y.name_len || x.name2_len != y.name2_len ||
		    x.target_len != y.target_len ||
		    memcmp(x.name, y.name, x.name_len) ||
		    memcmp(x.name2, y.name2, x.name2_len) ||
		    memcmp(x.target, y.target, x.target_len))
			die("jnl record round trip");
	}

	/* payload records at every 8-byte position of the header bytes */
	for (size_t off = 0; off + SL_OBJ_REC_SIZE <= 0x200; off += 8) {
		struct sl_rgn_rec r, r2;
		struct sl_obj_rec o, o2;
		struct sl_chunk_rec c, c2;

		sl_rgn_rec_decode(buf + off, &r);
		sl_obj_rec_decode(buf + off, &o);
		sl_chunk_rec_decode(buf + off, &c);
		if (sl_rgn_rec_encode(&r, out) != SL_RGN_REC_SIZE ||
		    sl_obj_rec_encode(&o, out + 64) != SL_OBJ_REC_SIZE ||
		    sl_chunk_rec_encode(&c, out + 256) != SL_CHUNK_REC_SIZE)
			die("record size");
		sl_rgn_rec_decode(out, &r2);
		sl_obj_rec_decode(out + 64, &o2);
		sl_chunk_rec_decode(out + 256, &c2);
		if (r.cls != r2.cls || r.assign_gen != r2.assign_gen ||
		    memcmp(&o, &o2, sizeof(o)) || memcmp(&c, &c2, sizeof(c)))
			die("payload record round trip");
	}
	/* an xattr record at every 64th byte, with what follows it in the
	 * block: accepted only when it fits, and it re-encodes as read */
	for (size_t off = 0; off < BLK; off += 64) {
		struct sl_xattr_rec x, y;
		int64_t size = sl_xattr_rec_decode(buf + off, BLK - off, &x);

		if (size < 0)
			continue;
		if ((size_t)size > BLK - off || size % 8 ||
		    (size_t)size < SL_XATTR_REC_FIXED + x.name_len + x.value_len)
			die("xattr record size");
		static uint8_t xout[BLK];
		if (sl_xattr_rec_encode(&x, xout) != (size_t)size ||
		    sl_xattr_rec_decode(xout, (size_t)size, &y) != size ||
		    x.oid != y.oid || x.name_len != y.name_len ||
		    x.value_len != y.value_len ||
		    memcmp(x.name, y.name, x.name_len) ||
		    memcmp(x.value, y.value, x.value_len))
			die("xattr record round trip");
	}
}

/* ACLs: the block's first 4 + 8n bytes, n up to 40. */
static void acl_props(const uint8_t *buf)
{
	static uint8_t v[4 + 8 * 40];

	for (size_t n = 0; n <= 40; n++) {
		size_t len = 4 + 8 * n;
		int k = sl_acl_check(buf, len);

		if (k < 0) {
			if (k != -EINVAL)
				die("acl check returned an unexpected error");
			continue;
		}
		if ((size_t)k != n)
			die("acl entry count");
		uint32_t mode = buf[len - 1] & 0777, got = 0;

		memcpy(v, buf, len);
		sl_acl_chmod(v, n, mode);
		if (n && (sl_acl_check(v, len) != k ||
			  (sl_acl_mode(v, n, &got), got != mode)))
			die("acl chmod");
		memcpy(v, buf, len);
		got = mode;
		sl_acl_create_mask(v, n, &got);
		uint32_t back = 0;
		if (n && (sl_acl_check(v, len) != k || (got & ~mode) ||
			  (sl_acl_mode(v, n, &back), back != got)))
			die("acl inheritance");
	}
}

static const uint64_t magics[8] = {
	SL_MAGIC_SB, SL_MAGIC_CKPT, SL_MAGIC_RGN, SL_MAGIC_SLOT,
	SL_MAGIC_JNL, SL_MAGIC_SLOT, SL_MAGIC_JNL, SL_MAGIC_CKPT,
};

/*
 * One input: a steering byte, then the block (zero-padded).  The steering
 * byte comes first so a fuzzer finds it at once.
 */
static void run(const uint8_t *data, size_t size)
{
	static uint8_t buf[BLK];
	uint8_t ctl;
	size_t n;

	if (!size)
		return;
	ctl = data[0];
	n = size - 1 < BLK ? size - 1 : BLK;
	memset(buf, 0, BLK);
	memcpy(buf, data + 1, n);
	if (ctl & 8)
		sl_put64(buf, magics[((ctl >> 1) & 3) | ((ctl >> 2) & 4)]);
	if (ctl & 1)
		sl_put64(buf + 0x1f8, sl_csum(buf, 0x1f8));
	roundtrip(buf);
	acl_props(buf);
}

#ifdef SLOT_FUZZ_LIBFUZZER

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size);
	return 0;
}

#else

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64: seeded, portable, good enough to spray bits */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A valid record of kind k (0 sb, 1 ckpt, 2 rgn, 3 slot, 4 ACL, 5 journal
 * header, 6 journal records), fields
 * random within what decode accepts, so flips land near the edges. */
static void make_valid(unsigned k, uint8_t *buf)
{
	memset(buf, 0, BLK);
	switch (k) {
	case 0: {
		struct sl_sb sb = { 0 };

		sb.version_major = 1;
		sb.block_size = 512u << (rnd() % 8);
		sb.chunk_shift = (uint8_t)(12 + rnd() % 15);
		sb.min_shift = (uint8_t)(rnd() % (sb.chunk_shift + 1u));
		sb.class_count = (uint8_t)(1 + rnd() % SL_CLASS_MAX);
		sb.meta_offset = SL_META_OFF;
		sb.meta_size = 2ull * SL_BLOCK * 65536 * (1 + rnd() % 4);
		sb.slot_area_offset = sb.meta_offset + sb.meta_size;
		sb.region_size = 2ull * 65536 + (1ull << 27);
		sb.region_count = (uint32_t)(1 + rnd() % 1000);
		sb.device_size = sb.slot_area_offset +
				 sb.region_size * sb.region_count + rnd() % 4096;
		sb.flags = (uint32_t)rnd() & 3;
		for (int i = 0; i < 16; i++) {
			sb.uuid[i] = (uint8_t)rnd();
			sb.meta_uuid[i] = (uint8_t)rnd();
		}
		if (rnd() % 2)
			sb.feature_incompat = SL_FEAT_INCOMPAT_META_UUID;
		sb.error_count = (uint32_t)rnd();
		sb.errors = (uint16_t)rnd();
		sb.last_error = (uint16_t)rnd();
		sb.first_error_time = rnd();
		sb.last_error_time = rnd();
		memcpy(sb.label, "fuzz-label", 11);
		sl_sb_encode(&sb, buf);
		break;
	}
	case 1: {
		struct sl_ckpt_hdr h = {
			.seq = rnd(), .payload_len = rnd() % (1ull << 40),
			.scan_gen = rnd(), .next_gen = rnd(),
			.next_oid = rnd(), .obj_count = rnd(),
			.region_count = (uint32_t)rnd(),
		};
		/* near the payload's end, where the bounds bite */
		h.csum_off = h.payload_len - rnd() % 64 + rnd() % 64;
		h.csum_count = rnd() % 4 ? rnd() % 16 : rnd();

		sl_ckpt_hdr_encode(&h, buf);
		break;
	}
	case 2: {
		struct sl_rgn_hdr h = {
			.region = (uint32_t)rnd(),
			.cls = (uint8_t)(rnd() % SL_CLASS_MAX),
			.assign_gen = rnd(),
		};

		sl_rgn_hdr_encode(&h, buf);
		break;
	}
	case 4: {
		/* owner, named users, group, named groups, mask, others */
		static const uint16_t tags[] = { 1, 2, 4, 8, 0x10, 0x20 };
		size_t n = 0;

		sl_put32(buf, 2);
		for (size_t t = 0; t < 6; t++) {
			unsigned reps = tags[t] == 2 || tags[t] == 8 ?
					(unsigned)(rnd() % 4) : 1;

			for (unsigned r = 0; r < reps && n < 40; r++, n++) {
				uint8_t *e = buf + 4 + 8 * n;

				sl_put16(e, tags[t]);
				sl_put16(e + 2, (uint16_t)(rnd() % 8));
				sl_put32(e + 4, (uint32_t)rnd());
			}
		}
		break;
	}
	case 5: {
		struct sl_jnl_hdr h = {
			.gen = rnd(), .jid = rnd() | 1, .lsn = rnd(),
			.payload_len = (uint32_t)(rnd() % ((1u << 26) + 1)),
			.rec_count = (uint32_t)rnd(), .payload_csum = rnd(),
		};

		sl_jnl_hdr_encode(&h, buf);
		break;
	}
	case 6: {
		/* records back to back from the block's start */
		char names[3][300];
		size_t at = 0;

		for (;;) {
			struct sl_jnl_rec r = {
				.type = (uint8_t)(1 + rnd() % 4),
				.flags = (uint8_t)(rnd() % 2),
				.name_len = (uint16_t)(1 + rnd() % 255),
				.name2_len = (uint16_t)(rnd() % 2 ? rnd() % 256 : 0),
				.target_len = (uint16_t)(rnd() % 4 ? 0 : rnd() % 300),
				.oid = rnd(), .parent = rnd(), .parent2 = rnd(),
				.time_ns = (int64_t)rnd(), .mode = (uint32_t)rnd(),
				.uid = (uint32_t)rnd(), .gid = (uint32_t)rnd(),
				.rdev = rnd(),
			};
			for (int k = 0; k < 3; k++)
				for (int i = 0; i < 300; i++)
					names[k][i] = (char)rnd();
			r.name = names[0];
			r.name2 = names[1];
			r.target = names[2];
			if (at + sl_jnl_rec_size(&r) > BLK)
				break;
			at += sl_jnl_rec_encode(&r, buf + at);
		}
		break;
	}
	default: {
		struct sl_slot_hdr h = {
			.oid = rnd(), .gen = rnd(), .txn = rnd(),
			.idx = (uint32_t)rnd(), .txn_chunks = (uint32_t)rnd(),
			.payload_len = (uint32_t)(rnd() % ((1u << 26) + 1)),
			.flags = (uint32_t)rnd() & 1,
			.mtime_ns = (int64_t)rnd(), .ctime_ns = (int64_t)rnd(),
			.name_len = (uint16_t)(rnd() % 256),
		};

		for (unsigned i = 0; i < h.name_len; i++)
			h.name[i] = (char)(1 + rnd() % 255);
		sl_slot_hdr_encode(&h, buf);
		break;
	}
	}
}

int main(int argc, char **argv)
{
	static uint8_t in[1 + BLK];
	uint8_t *blk = in + 1;
	unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 0) : 100000;
	unsigned long seed = argc > 2 ? strtoul(argv[2], NULL, 0) : 1;

	rng_state = seed;
	for (unsigned long it = 0; it < iters; it++) {
		size_t size = 1 + BLK;

		in[0] = 0;
		switch (it % 4) {
		case 0:         /* pure noise, sometimes short */
			for (size_t i = 0; i < BLK; i++)
				blk[i] = (uint8_t)rnd();
			size = 1 + rnd() % (BLK + 1);
			break;
		case 1:         /* noise with a forced magic and a good csum */
			for (size_t i = 0; i < BLK; i++)
				blk[i] = (uint8_t)rnd();
			in[0] = (uint8_t)(9 | (rnd() % 4) << 1);
			break;
		default: {      /* a valid record, a few bits flipped, and
				   half the time re-sealed to reach the
				   field checks */
			unsigned flips = (unsigned)(1 + rnd() % 4);

			unsigned k = (unsigned)(rnd() % 7);

			make_valid(k, blk);
			for (unsigned f = 0; f < flips; f++) {
				size_t bit = rnd() % ((k == 4 ? 0x40 :
						       k == 6 ? BLK : 0x200) * 8);

				blk[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			}
			if (it % 4 == 3)
				in[0] = 1;
			break;
		}
		}
		run(in, size);
	}
	/* the valid records themselves must decode */
	for (unsigned k = 0; k < 4; k++) {
		struct sl_sb sb;
		struct sl_ckpt_hdr ch;
		struct sl_rgn_hdr rh;
		struct sl_slot_hdr sh;
		int rc;

		make_valid(k, blk);
		rc = k == 0 ? sl_sb_decode(blk, &sb)
		   : k == 1 ? sl_ckpt_hdr_decode(blk, &ch)
		   : k == 2 ? sl_rgn_hdr_decode(blk, &rh)
		   : sl_slot_hdr_decode(blk, &sh);
		if (rc)
			die("a valid record did not decode");
	}
	{
		struct sl_jnl_hdr jh;
		struct sl_jnl_rec jr;

		make_valid(5, blk);
		if (sl_jnl_hdr_decode(blk, &jh))
			die("a valid journal header did not decode");
		make_valid(6, blk);
		if (sl_jnl_rec_decode(blk, BLK, &jr) <= 0)
			die("a valid journal record did not decode");
	}
	printf("fuzz_decode: %lu inputs, seed %lu: ok\n", iters, seed);
	return 0;
}

#endif
