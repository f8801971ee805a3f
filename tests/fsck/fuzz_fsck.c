// SPDX-License-Identifier: MIT
/*
 * fuzz_fsck.c - a seeded byte-flipper for slot_fsck, run in-process on
 * the emulated device (slotfs-corrupt fuzz).
 *
 *   slotfs-corrupt fuzz [SECONDS [SEED]]
 *   slotfs-corrupt fuzz-one SEED [IMAGE_OUT]
 *
 * Three base images of 64 MiB are built once: the test tree closed
 * cleanly; the same after a put that a crash left out of the checkpoint;
 * and a file whose small writes an fsync put in the journal (WRITE
 * records, a log's appends among them, a RESV of space fallocate set
 * aside and an XATTR; the tree leaves too little room for the buffers
 * that hold them), then a crash.  Each
 * iteration copies one, damages it with 1-4 mutations chosen by the
 * iteration's seed, and then asks:
 *
 *   0. a read-only slot_open_dev, before any repair, refuses it or reads
 *      every name (errors allowed), with no sanitizer report: a
 *      read-only mount takes the image as it is (and holds the journal's
 *      WRITE records in memory), and it must write nothing;
 *   1. slot_fsck(REPAIR, force) returns, with no sanitizer report, within
 *      the watchdog's 20 s;
 *   2. unless it gave up (exit 8: nothing it can check), a second
 *      slot_fsck(CHECK, force) finds nothing: exit 0;
 *   3. slot_open_dev succeeds and every name can be read back without
 *      an error (fsck checked every chunk);
 *   4. after slot_close, slot_fsck(CHECK, force) is still clean.
 *
 * Mutations flip bytes or write edge values (0, 1, -1, 2^31...) into the
 * superblocks, the checkpoint headers and payloads, slot headers and
 * payloads, region headers, and journal slots.  Checksummed records are resealed half
 * the time, so the parsers behind the checksums see the garbage too.
 *
 * SLOT_FUZZ_SECONDS (default 30) bounds the run; SLOT_FUZZ_SEED picks the
 * first seed (default: from the clock, printed).  Every failure prints
 * its seed; "fuzz-one SEED IMG" saves that iteration's damaged image for
 * fsck.slotfs.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "corrupt.h"

#define FZ_SIZE (64ull << 20)
#define FZ_WATCHDOG 20          /* seconds one iteration may take */

static volatile uint64_t fz_seed_now;
static volatile const char *fz_stage = "start";

static void fz_alarm(int sig)
{
	char msg[160];
	int n = snprintf(msg, sizeof(msg),
			 "FAIL seed=%llu: hang (over %d s) in %s\n",
			 (unsigned long long)fz_seed_now, FZ_WATCHDOG,
			 (const char *)fz_stage);
	if (write(STDOUT_FILENO, msg, (size_t)n) < 0)
		_exit(3);
	_exit(3);
}

/* A sanitizer report or a crash: say which seed, then let it go on. */
extern void __sanitizer_set_death_callback(void (*cb)(void))
	__attribute__((weak));

static void fz_say_seed(const char *what)
{
	char msg[200];
	int n = snprintf(msg, sizeof(msg), "FAIL seed=%llu: %s in %s\n",
			 (unsigned long long)fz_seed_now, what,
			 (const char *)fz_stage);
	if (write(STDOUT_FILENO, msg, (size_t)n) < 0)
		return;
}

static void fz_death(void)
{
	fz_say_seed("sanitizer report (see stderr)");
}

static void fz_crash(int sig)
{
	fz_say_seed(strsignal(sig));
	signal(sig, SIG_DFL);
	raise(sig);
}

static void fz_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static void fz_opts(struct slot_opts *o)
{
	slot_opts_init(o);
	o->direct_io = false;
	o->periodic_checkpoint = false;
	o->log = fz_quiet;
}

/* The targets of one base image: where its records are. */
struct fz_base {
	uint8_t *img;
	uint64_t *slots;        /* slot offsets of the newest checkpoint */
	uint32_t *lens;
	size_t nslots;
	uint64_t *regions;      /* offsets of assigned regions */
	size_t nregions;
	uint64_t jnl[8];        /* offsets of journal slots */
	size_t njnl;
};

enum { FZ_CLEAN, FZ_UNCLEAN, FZ_JDATA, FZ_BASES };

/* Small writes over name's chunks, which fsync puts in the journal, and
 * where the journal slots are. */
static int fz_jnl_writes(struct slot_store *s, const char *name,
			 struct fz_base *b)
{
	struct slot_attr a;
	int err = slot_ns_lookup(s, SLOT_ROOT_INO, name, &a);
	/* space set aside past the end, an attribute, ACLs and a file
	 * that inherits one: RESV, XATTR and MAKE records beside the
	 * WRITEs */
	if (!err)
		err = slot_file_allocate(s, a.ino, a.size, 2u << 20, true);
	if (!err)       /* and half of it given back: a RESV with CUT */
		err = slot_file_zero(s, a.ino, a.size + (1u << 20), 1u << 20,
				     true);
	if (!err)
		err = slot_xattr_set(s, a.ino, "user.fuzz", "value", 5, 0);
	static char large[6000];        /* a record past a block */
	memset(large, 'L', sizeof(large));
	if (!err)
		err = slot_xattr_set(s, a.ino, "user.large", large,
				     sizeof(large), 0);
	/* u::rw-, u:7:r--, g::r--, m::r--, o::--- */
	static const uint8_t acl[] = { 2, 0, 0, 0,
		1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,  2, 0, 4, 0, 7, 0, 0, 0,
		4, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,  0x10, 0, 4, 0, 0xff, 0xff,
		0xff, 0xff,  0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
	struct slot_attr d, f;
	struct slot_ns_new nw = { .mode = S_IFREG | 0644,
				  .flags = SLOT_NS_ACL };
	if (!err)
		err = slot_xattr_set(s, a.ino, SLOT_XATTR_ACL_ACCESS, acl,
				     sizeof(acl), 0);
	if (!err)
		err = slot_ns_mkdir(s, SLOT_ROOT_INO, "acl", 0755, 0, 0, &d);
	if (!err)
		err = slot_xattr_set(s, d.ino, SLOT_XATTR_ACL_DEFAULT, acl,
				     sizeof(acl), 0);
	if (!err)
		err = slot_ns_make(s, d.ino, "inherits", &nw, &f);
	/* a log's appends, each fsynced: WRITE records with EXTEND */
	struct slot_attr lg;
	struct slot_ns_new ln = { .mode = S_IFREG | 0644 };
	if (!err)
		err = slot_ns_make(s, SLOT_ROOT_INO, "log", &ln, &lg);
	for (size_t i = 0, off = 0; !err && i < 3; i++) {
		static char part[200000];
		size_t plen = i ? 300 * i : sizeof(part);
		memset(part, 'a' + (int)i, plen);
		ssize_t n = slot_file_write(s, lg.ino, off, part, plen);
		err = n == (ssize_t)plen ? 0 : n < 0 ? (int)n : -EIO;
		off += plen;
		if (!err)
			err = slot_file_fsync(s, lg.ino, false);
	}
	static const uint64_t at[] = { 5000, (1u << 20) + 8192, 100 };
	for (size_t i = 0; !err && i < SL_ARRAY_SIZE(at); i++) {
		char piece[300];
		memset(piece, 'j' + (int)i, sizeof(piece));
		ssize_t n = slot_file_write(s, a.ino, at[i], piece, sizeof(piece));
		err = n == (ssize_t)sizeof(piece) ? 0 : n < 0 ? (int)n : -EIO;
		if (!err && i)
			err = slot_file_fsync(s, a.ino, false);
	}
	sl_lock(s);
	for (size_t i = 0; i + 1 < s->jnl_slots.n && b->njnl < 8; i += 2)
		b->jnl[b->njnl++] = sl_slot_off(s, s->jnl_slots.v[i]);
	sl_unlock(s);
	return err;
}

static int fz_build(struct fz_base *b, int kind)
{
	static const uint8_t uuid[16] = { 0x5e, 0xed, 1, 2, 3, 4, 0x45, 6,
					  0x87, 8, 9, 10, 11, 12, 13, 14 };
	struct slot_emu *emu;
	int err = slot_emu_create(FZ_SIZE, &emu);
	if (err)
		return err;
	struct slot_format_opts fo;
	slot_format_opts_init(&fo);
	fo.uuid = uuid;
	fo.label = "fuzz";
	err = slot_format(slot_emu_dev(emu), &fo, NULL);
	struct slot_opts so;
	fz_opts(&so);
	struct slot_store *s = NULL;
	if (!err)
		err = slot_open_dev(slot_emu_dev(emu), &so, &s);
	if (!err)
		err = kind == FZ_JDATA ? cr_put(s, NULL, "jdata", 3u << 20) :
					 cr_populate(s, NULL);
	if (s && !err) {
		err = slot_close(s);
		s = NULL;
	}
	if (!err && kind == FZ_JDATA) {
		err = slot_open_dev(slot_emu_dev(emu), &so, &s);
		if (!err)
			err = fz_jnl_writes(s, "jdata", b);
		if (!err && !b->njnl)
			err = -ENODATA;         /* the journal took none */
		if (s)
			slot_abandon(s);
	} else if (!err && kind == FZ_UNCLEAN) {
		err = slot_open_dev(slot_emu_dev(emu), &so, &s);
		if (!err)
			err = cr_put(s, NULL, "a/late", 9000);
		if (!err)
			err = cr_put(s, NULL, "late-big", 2200000);
		if (!err)
			err = slot_sync(s);
		if (s)
			slot_abandon(s);
	} else if (s) {
		slot_abandon(s);
	}
	if (err) {
		slot_emu_destroy(emu);
		return err;
	}
	b->img = malloc(FZ_SIZE);
	if (!b->img) {
		slot_emu_destroy(emu);
		return -ENOMEM;
	}
	memcpy(b->img, slot_emu_image(emu), FZ_SIZE);
	slot_emu_destroy(emu);

	/* where the records are, from the newest checkpoint */
	struct cr_img im = { .fd = -1, .mem = b->img, .size = FZ_SIZE };
	struct cr_ckpt m;
	if (cr_img_load_sb(&im) || cr_ckpt_load(&im, -1, &m))
		return -EUCLEAN;
	size_t n = 0;
	for (size_t i = 0; i < m.nobj; i++)
		n += m.obj[i].rec.nchunks;
	b->slots = calloc(n + 1, sizeof(*b->slots));
	b->lens = calloc(n + 1, sizeof(*b->lens));
	b->regions = calloc(m.nrg + 1, sizeof(*b->regions));
	if (!b->slots || !b->lens || !b->regions) {
		cr_ckpt_free(&m);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m.nobj; i++)
		for (uint32_t c = 0; c < m.obj[i].rec.nchunks; c++) {
			b->slots[b->nslots] = cr_slot_off(&im, &m, m.obj[i].ch[c].slot);
			b->lens[b->nslots++] = m.obj[i].ch[c].len;
		}
	for (uint32_t r = 0; r < m.nrg; r++)
		if (m.rg[r].cls != SL_RGN_FREE)
			b->regions[b->nregions++] = im.sb.slot_area_offset +
						    (uint64_t)r * im.sb.region_size;
	cr_ckpt_free(&m);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Mutations                                                           */
/* ------------------------------------------------------------------ */

static uint64_t fz_below(uint64_t *rng, uint64_t n)
{
	return n ? cr_rand(rng) % n : 0;
}

static void fz_edge(uint64_t *rng, uint8_t *p, size_t room)
{
	static const uint64_t edge[] = {
		0, 1, 2, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000, 0xffff,
		0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ull,
		0x7fffffffffffffffull, 0x8000000000000000ull, ~0ull,
	};
	uint64_t v = cr_rand(rng) & 1 ? edge[fz_below(rng, SL_ARRAY_SIZE(edge))] :
					 fz_below(rng, 64);
	if (cr_rand(rng) % 4 == 0)
		v = ~v + 1 + (cr_rand(rng) % 3);
	unsigned w = 1u << fz_below(rng, 4); /* 1, 2, 4 or 8 bytes */
	if (w > room)
		w = (unsigned)room;
	for (unsigned i = 0; i < w; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Damage n bytes of [p, p + len): flips, edge values at aligned spots. */
static void fz_damage(uint64_t *rng, uint8_t *p, size_t len)
{
	if (!len)
		return;
	unsigned k = 1 + (unsigned)fz_below(rng, 4);
	for (unsigned i = 0; i < k; i++) {
		size_t at = (size_t)fz_below(rng, len);
		switch (fz_below(rng, 3)) {
		case 0:
			p[at] ^= (uint8_t)(1u << fz_below(rng, 8));
			break;
		case 1:
			p[at] = (uint8_t)cr_rand(rng);
			break;
		default:
			at &= ~(size_t)7;
			fz_edge(rng, p + at, len - at);
			break;
		}
	}
}

static void fz_reseal(uint8_t *rec)
{
	sl_put64(rec + 0x1f8, sl_csum(rec, 0x1f8));
}

enum { MU_SB, MU_CKPT_HDR, MU_CKPT_PAYLOAD, MU_SLOT_HDR, MU_SLOT_PAYLOAD,
       MU_RGN_HDR, MU_JNL, MU_ANY_META, MU_COUNT };
static const char *const mu_name[MU_COUNT] = {
	"superblock", "ckpt-header", "ckpt-payload", "slot-header",
	"slot-payload", "region-header", "journal", "metadata",
};

static void fz_mutate(uint64_t *rng, const struct fz_base *b, uint8_t *img,
		      char *what, size_t wlen)
{
	unsigned nmu = 1 + (unsigned)(fz_below(rng, 8) == 0 ? fz_below(rng, 4) : 0);
	struct cr_img im = { .fd = -1, .mem = img, .size = FZ_SIZE };
	size_t used = 0;
	what[0] = 0;
	for (unsigned i = 0; i < nmu; i++) {
		unsigned kind = (unsigned)fz_below(rng, MU_COUNT);
		/* the payload parser is the richest target: twice as often */
		if (fz_below(rng, 4) == 0)
			kind = MU_CKPT_PAYLOAD;
		bool reseal = cr_rand(rng) & 1;
		cr_img_load_sb(&im);
		uint64_t ms = im.sb_ok ? im.sb.meta_size : (8ull << 20);
		uint64_t mo = im.sb_ok ? im.sb.meta_offset : SL_META_OFF;
		if (ms / 2 <= SL_BLOCK || mo + ms > FZ_SIZE) {
			ms = 4ull << 20;
			mo = SL_META_OFF;
		}
		switch (kind) {
		case MU_SB: {
			uint8_t *r = img + (cr_rand(rng) & 1 ? SL_SB_BACKUP_OFF :
							       SL_SB_PRIMARY_OFF);
			fz_damage(rng, r, SL_SB_SIZE - 8);
			if (reseal)
				fz_reseal(r);
			break;
		}
		case MU_CKPT_HDR: {
			uint8_t *r = img + mo + fz_below(rng, 2) * (ms / 2);
			fz_damage(rng, r, SL_CKPT_HDR_SIZE - 8);
			if (reseal)
				fz_reseal(r);
			break;
		}
		case MU_CKPT_PAYLOAD: {
			/* mostly the newest container, sealed again */
			unsigned c = (unsigned)fz_below(rng, 2);
			struct sl_ckpt_hdr h[2];
			int s0 = cr_ckpt_hdr(&im, 0, &h[0]);
			int s1 = cr_ckpt_hdr(&im, 1, &h[1]);
			if (!s0 && !s1 && fz_below(rng, 4))
				c = h[1].seq > h[0].seq;
			else if (s0 != s1)
				c = s0 ? 1 : 0;
			uint8_t *r = img + mo + c * (ms / 2);
			struct sl_ckpt_hdr hh;
			if (sl_ckpt_hdr_decode(r, &hh) ||
			    hh.payload_len > ms / 2 - SL_BLOCK) {
				fz_damage(rng, r + SL_BLOCK, 4096);
				break;
			}
			uint8_t *p = r + SL_BLOCK;
			if (fz_below(rng, 8) == 0) {
				/* a shorter or longer payload, sealed */
				hh.payload_len = fz_below(rng, hh.payload_len + 64);
			} else {
				/* past the region table, where objects are */
				size_t rt = (size_t)im.sb.region_count * SL_RGN_REC_SIZE;
				if (!im.sb_ok || rt >= hh.payload_len || fz_below(rng, 8) == 0)
					rt = 0;
				fz_damage(rng, p + rt, (size_t)hh.payload_len - rt);
			}
			if (reseal || fz_below(rng, 4)) {
				hh.payload_csum = sl_csum(p, hh.payload_len);
				sl_ckpt_hdr_encode(&hh, r);
			}
			break;
		}
		case MU_SLOT_HDR:
		case MU_SLOT_PAYLOAD: {
			if (!b->nslots)
				break;
			size_t k = (size_t)fz_below(rng, b->nslots);
			uint8_t *r = img + b->slots[k];
			if (kind == MU_SLOT_HDR) {
				fz_damage(rng, r, SL_SLOT_HDR_SIZE - 8);
			} else {
				fz_damage(rng, r + SL_BLOCK, b->lens[k]);
				/* a payload with a matching checksum is just
				 * other data: reseal the header over it */
				if (reseal) {
					struct sl_slot_hdr h;
					if (!sl_slot_hdr_decode(r, &h) &&
					    h.payload_len <= b->lens[k]) {
						h.payload_csum = sl_csum(r + SL_BLOCK,
									 h.payload_len);
						sl_slot_hdr_encode(&h, r);
					}
					break;
				}
			}
			if (reseal)
				fz_reseal(r);
			break;
		}
		case MU_JNL: {
			/* its header, or its records, sealed again (mostly):
			 * replay parses what the checksum vouches for */
			if (!b->njnl)
				break;
			uint8_t *r = img + b->jnl[fz_below(rng, b->njnl)];
			struct sl_jnl_hdr h;
			if (fz_below(rng, 3) == 0 || sl_jnl_hdr_decode(r, &h) ||
			    h.payload_len > (256u << 10)) {
				fz_damage(rng, r, SL_JNL_HDR_SIZE - 8);
				if (reseal)
					fz_reseal(r);
				break;
			}
			fz_damage(rng, r + SL_BLOCK, h.payload_len);
			if (reseal || fz_below(rng, 4)) {
				h.payload_csum = sl_csum(r + SL_BLOCK,
							 h.payload_len);
				sl_jnl_hdr_encode(&h, r);
			}
			break;
		}
		case MU_RGN_HDR: {
			if (!b->nregions)
				break;
			uint8_t *r = img + b->regions[fz_below(rng, b->nregions)];
			fz_damage(rng, r, SL_RGN_HDR_SIZE - 8);
			if (reseal)
				fz_reseal(r);
			break;
		}
		default: {
			/* anywhere before the slot area */
			uint64_t end = im.sb_ok && im.sb.slot_area_offset < FZ_SIZE ?
					       im.sb.slot_area_offset : mo + ms;
			uint64_t at = fz_below(rng, end > 4096 ? end - 4096 : 1);
			fz_damage(rng, img + at, 4096);
			break;
		}
		}
		used += (size_t)snprintf(what + used, wlen - SL_MIN(used, wlen),
					 "%s%s%s", i ? "+" : "", mu_name[kind],
					 reseal ? "(sealed)" : "");
		if (used >= wlen)
			used = wlen - 1;
	}
}

/* ------------------------------------------------------------------ */
/* One iteration                                                       */
/* ------------------------------------------------------------------ */

struct fz_msgs {
	char buf[2048];
	size_t len;
};

static void fz_problem(void *arg, const char *code, const char *msg,
		       bool fixed)
{
	struct fz_msgs *m = arg;
	if (m->len < sizeof(m->buf) - 1)
		m->len += (size_t)snprintf(m->buf + m->len, sizeof(m->buf) - m->len,
					   "#   %s: %s\n", code, msg);
	if (m->len >= sizeof(m->buf))
		m->len = sizeof(m->buf) - 1;
}

static int fz_fsck(struct slot_emu *emu, bool repair, struct slot_fsck_result *r,
		   struct fz_msgs *msgs)
{
	struct slot_fsck_opts o = { .mode = repair ? SLOT_FSCK_REPAIR :
						     SLOT_FSCK_CHECK,
				    .force = true, .problem = fz_problem,
				    .arg = msgs };
	msgs->len = 0;
	msgs->buf[0] = 0;
	return slot_fsck(slot_emu_dev(emu), &o, r);
}

struct fz_stats {
	uint64_t iters, gave_up, repaired, untouched, failed;
};

/* Property 0: NULL, or why it failed (in why). */
static const char *fz_look_read_only(struct slot_emu *emu, char *why,
				     size_t n)
{
	struct slot_opts so;
	fz_opts(&so);
	so.read_only = true;
	struct slot_dev_stats a, b;
	slot_dev_get_stats(slot_emu_dev(emu), &a);
	struct slot_store *s;
	fz_stage = "read-only open";
	if (!slot_open_dev(slot_emu_dev(emu), &so, &s)) {
		fz_stage = "read-only: reading everything";
		struct cr_walk w = { 0 };
		cr_walk_all(s, &w);
		fz_stage = "read-only: close";
		slot_close(s);
	}
	slot_dev_get_stats(slot_emu_dev(emu), &b);
	if (b.bytes_written == a.bytes_written && b.flushes == a.flushes)
		return NULL;
	snprintf(why, n, "a read-only open wrote %" PRIu64 " bytes",
		 b.bytes_written - a.bytes_written);
	return why;
}

/* 0: fine; 1: a property failed (printed with the seed). */
static int fz_one(uint64_t seed, const struct fz_base *bases, size_t nbases,
		  struct slot_emu *emu, struct fz_stats *st, const char *save)
{
	uint64_t rng = seed * 0x9e3779b97f4a7c15ull + 1;
	const struct fz_base *b = &bases[fz_below(&rng, nbases)];
	uint8_t *img = slot_emu_image(emu);
	char what[256];
	memcpy(img, b->img, FZ_SIZE);
	fz_mutate(&rng, b, img, what, sizeof(what));
	if (save) {
		FILE *f = fopen(save, "w");
		if (!f || fwrite(img, 1, FZ_SIZE, f) != FZ_SIZE || fclose(f)) {
			fprintf(stderr, "fuzz: cannot write %s\n", save);
			return 1;
		}
		printf("# seed %" PRIu64 " (%s, base %s): damaged image in %s\n",
		       seed, what, b == &bases[0] ? "clean" : "unclean", save);
	}
	fz_seed_now = seed;
	st->iters++;

	struct slot_fsck_result r1 = { 0 }, r2 = { 0 };
	struct fz_msgs m1 = { 0 }, m2 = { 0 };
	const char *fail = NULL;
	char why[256];
	alarm(FZ_WATCHDOG);
	fail = fz_look_read_only(emu, why, sizeof(why));
	if (fail)
		goto out;
	fz_stage = "fsck -y";
	int e1 = fz_fsck(emu, true, &r1, &m1);
	if (e1 < 0 || (r1.exit_code & SLOT_FSCK_ERROR)) {
		/* it gave up: that must be for a reason it can name, and
		 * open must refuse the image too */
		st->gave_up++;
		if (e1 != -EINVAL && e1 != -EUCLEAN && e1 != -EPROTONOSUPPORT) {
			snprintf(why, sizeof(why), "fsck -y failed: %s (exit %d)",
				 slot_strerror(e1), r1.exit_code);
			fail = why;
		}
		struct slot_opts so;
		fz_opts(&so);
		struct slot_store *s;
		fz_stage = "open after fsck gave up";
		if (!fail && !slot_open_dev(slot_emu_dev(emu), &so, &s)) {
			/* open accepts what fsck cannot check: read it all */
			struct cr_walk w = { 0 };
			cr_walk_all(s, &w);
			slot_close(s);
		}
		goto out;
	}
	if (r1.exit_code & SLOT_FSCK_FIXED)
		st->repaired++;
	else
		st->untouched++;

	fz_stage = "fsck -n after -y";
	int e2 = fz_fsck(emu, false, &r2, &m2);
	if (e2 < 0 || r2.exit_code != 0) {
		snprintf(why, sizeof(why), "second fsck not clean: %s, exit %d",
			 e2 ? slot_strerror(e2) : "ok", r2.exit_code);
		fail = why;
		goto out;
	}

	struct slot_opts so;
	fz_opts(&so);
	struct slot_store *s;
	fz_stage = "open after repair";
	int eo = slot_open_dev(slot_emu_dev(emu), &so, &s);
	if (eo) {
		snprintf(why, sizeof(why), "open after repair: %s",
			 slot_strerror(eo));
		fail = why;
		goto out;
	}
	fz_stage = "reading everything";
	struct cr_walk w = { 0 };
	cr_walk_all(s, &w);
	fz_stage = "close";
	int ec = slot_close(s);
	if (w.errors || ec) {
		snprintf(why, sizeof(why), "after repair: %" PRIu64
			 " reads failed, close: %s", w.errors, slot_strerror(ec));
		fail = why;
		goto out;
	}
	fz_stage = "fsck -n after open and close";
	e2 = fz_fsck(emu, false, &r2, &m2);
	if (e2 < 0 || r2.exit_code != 0) {
		snprintf(why, sizeof(why), "fsck after open+close not clean: "
			 "%s, exit %d", e2 ? slot_strerror(e2) : "ok",
			 r2.exit_code);
		fail = why;
	}
out:
	alarm(0);
	if (!fail)
		return 0;
	st->failed++;
	if (st->failed <= 20) {
		printf("FAIL seed=%" PRIu64 ": %s [%s, base %s]\n", seed, fail,
		       what, b == &bases[0] ? "clean" : "unclean");
		printf("#  first run (exit %d):\n%s", r1.exit_code, m1.buf);
		if (fail != why || strstr(fail, "fsck"))
			printf("#  second run:\n%s", m2.buf);
	}
	return 1;
}

int cr_fuzz_main(int argc, char **argv)
{
	bool one = false;
	const char *save = NULL;
	double secs = 30;
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	const char *env = getenv("SLOT_FUZZ_SECONDS");
	if (env)
		secs = atof(env);
	if ((env = getenv("SLOT_FUZZ_SEED")) && *env)
		seed = strtoull(env, NULL, 0);
	if (argc > 0 && !strcmp(argv[0], "--one")) {
		one = true;
		argv++;
		argc--;
		if (argc < 1) {
			fprintf(stderr, "fuzz-one SEED [IMAGE_OUT]\n");
			return 2;
		}
		seed = strtoull(argv[0], NULL, 0);
		save = argc > 1 ? argv[1] : NULL;
	} else {
		if (argc > 0)
			secs = atof(argv[0]);
		if (argc > 1)
			seed = strtoull(argv[1], NULL, 0);
	}
	signal(SIGALRM, fz_alarm);
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(fz_death);
	else {
		signal(SIGSEGV, fz_crash);
		signal(SIGBUS, fz_crash);
		signal(SIGABRT, fz_crash);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	struct fz_base bases[FZ_BASES] = { 0 };
	for (int i = 0; i < FZ_BASES; i++) {
		int err = fz_build(&bases[i], i);
		if (err) {
			fprintf(stderr, "fuzz: building base image %d: %s\n", i,
				slot_strerror(err));
			return 2;
		}
	}
	struct slot_emu *emu;
	if (slot_emu_create(FZ_SIZE, &emu))
		return 2;
	struct fz_stats st = { 0 };
	int rc;
	if (one) {
		rc = fz_one(seed, bases, FZ_BASES, emu, &st, save);
		printf("seed %" PRIu64 ": %s\n", seed, rc ? "FAILED" : "ok");
	} else {
		printf("# fuzzing slot_fsck for %.0f s from seed %" PRIu64 "\n",
		       secs, seed);
		struct timespec t0, t;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		uint64_t i = 0;
		do {
			fz_one(seed + i, bases, FZ_BASES, emu, &st, NULL);
			i++;
			clock_gettime(CLOCK_MONOTONIC, &t);
		} while ((double)(t.tv_sec - t0.tv_sec) +
				 (t.tv_nsec - t0.tv_nsec) / 1e9 < secs);
		printf("# %" PRIu64 " iterations (seeds %" PRIu64 "..%" PRIu64
		       "): %" PRIu64 " repaired, %" PRIu64 " found nothing, %"
		       PRIu64 " not checkable (exit 8), %" PRIu64 " failed\n",
		       st.iters, seed, seed + i - 1, st.repaired, st.untouched,
		       st.gave_up, st.failed);
		rc = st.failed ? 1 : 0;
	}
	slot_emu_destroy(emu);
	for (int i = 0; i < FZ_BASES; i++) {
		free(bases[i].img);
		free(bases[i].slots);
		free(bases[i].lens);
		free(bases[i].regions);
	}
	return rc;
}
