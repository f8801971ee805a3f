/* SPDX-License-Identifier: MIT */
/*
 * test_recovery.c - open after a crash: slot-header validation, the scan
 * for slots newer than the checkpoint, torn writes, and a real SIGKILL.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "internal.h"     /* sl_file_flush: a write-out without a checkpoint */

static struct t_env env;
static void setup(void) { t_setup(&env, 128ull << 20); }
static void teardown(void) { t_teardown(&env); }
TestSuite(recovery, .init = setup, .fini = teardown, .timeout = 60);

static void put_n(const char *prefix, int n, size_t len, unsigned seed)
{
	char *buf = malloc(len);
	char key[64];
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%s%d", prefix, i);
		t_fill(buf, len, seed + (unsigned)i);
		cr_assert_eq(t_put1(env.s, key, buf, len), 0);
	}
	free(buf);
}

static void check_n(const char *prefix, int n, size_t len, unsigned seed)
{
	char *buf = malloc(len);
	char key[64];
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%s%d", prefix, i);
		t_fill(buf, len, seed + (unsigned)i);
		cr_expect_eq(t_get_cmp(env.s, key, buf, len), 0, "%s", key);
	}
	free(buf);
}

/* Synced puts after the last checkpoint come back through the scan:
 * without it they would be lost, as LMCache loses them. */
Test(recovery, synced_puts_after_checkpoint_survive_crash)
{
	put_n("old", 5, 10000, 1);
	cr_assert_eq(slot_checkpoint(env.s, true), 1);
	uint64_t seq = t_status(env.s).metadata_seq;
	put_n("new", 20, 300000, 100);
	put_n("old", 2, 2000000, 500); /* overwrite two, multi-chunk */
	cr_assert_eq(slot_sync(env.s), 0);
	cr_expect_eq(t_status(env.s).metadata_seq, seq,
		     "sync checkpointed: the scan would not be tested");
	slot_abandon(env.s);
	t_reopen(&env);
	struct slot_recovery r;
	slot_recovery_report(env.s, &r);
	cr_expect(!r.was_clean);
	cr_expect(r.scanned);
	cr_expect_geq(r.slots_recovered, 20);
	check_n("new", 20, 300000, 100);
	check_n("old", 2, 2000000, 500);
	char buf[10000];
	t_fill(buf, sizeof(buf), 1 + 2);
	cr_expect_eq(t_get_cmp(env.s, "old2", buf, sizeof(buf)), 0);
	/* a second crash right away finds the same */
	slot_abandon(env.s);
	t_reopen(&env);
	check_n("new", 20, 300000, 100);
}

/* fsck's problem codes, kept for a test to look at (arg: a t_log). */
static void rc_problem_keep(void *arg, const char *code, const char *msg,
			    bool fixed)
{
	(void)msg;
	(void)fixed;
	t_log_keep(arg, code);
}

/* fsck (forced) in mode, its problem codes kept in said. */
static struct slot_fsck_result rc_fsck_said(enum slot_fsck_mode mode,
					    struct t_log *said)
{
	struct slot_fsck_opts fo = { .mode = mode, .force = true,
				     .problem = rc_problem_keep, .arg = said };
	struct slot_fsck_result fr;
	cr_assert_eq(slot_fsck(env.dev, &fo, &fr), 0);
	return fr;
}

/* The same crash with the primary superblock lost: the backup is taken,
 * whose clean flag is mkfs's (open and close write the primary alone),
 * and the slots written after the checkpoint must still be scanned, by
 * fsck and by open. */
Test(recovery, synced_puts_survive_a_crash_that_lost_the_primary)
{
	put_n("old", 3, 10000, 1);
	cr_assert_eq(slot_checkpoint(env.s, true), 1);
	uint64_t seq = t_status(env.s).metadata_seq;
	put_n("new", 10, 300000, 100);
	cr_assert_eq(slot_sync(env.s), 0);
	cr_assert_eq(t_status(env.s).metadata_seq, seq,
		     "sync checkpointed: the scan would not be tested");
	slot_abandon(env.s);
	env.s = NULL;
	memset(slot_emu_image(env.emu), 0, SL_BLOCK);
	struct t_log said = { "" };
	rc_fsck_said(SLOT_FSCK_CHECK, &said);
	cr_expect(strstr(said.text, "PR_SLOT_NEWER"), "fsck said: %s",
		  said.text);
	t_reopen(&env);
	struct slot_recovery r;
	slot_recovery_report(env.s, &r);
	cr_expect(!r.was_clean);
	cr_expect(r.scanned);
	check_n("new", 10, 300000, 100);
	check_n("old", 3, 10000, 1);
}

/* A file (written piecemeal, so it may be sparse) that loses chunks at
 * load, its index entries past a cut device: fsck names it, as e2fsck
 * names each inode whose blocks it clears (it gave a count alone, and
 * the file read zeros there without a word). */
Test(recovery, a_file_that_lost_chunks_is_named)
{
	static char buf[3 << 20];
	t_fill(buf, sizeof(buf), 5);
	put_n("small", 3, 5000, 1);     /* small slots take the first regions */
	slot_ino_t ino = t_mkfile(env.s, "piecemeal");
	cr_assert_eq(slot_file_write(env.s, ino, 0, buf, sizeof(buf)),
		     (ssize_t)sizeof(buf));
	cr_assert_eq(slot_file_fsync(env.s, ino, false), 0);
	sl_lock(env.s);
	struct sl_obj *o = sl_obj_find(&env.s->ix, ino);
	uint32_t r = sl_slot_region(o->chunks[0].slot);
	sl_unlock(env.s);
	struct slot_geometry g;
	slot_geometry_get(env.s, &g);
	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	struct slot_dev cut = *env.dev;
	cut.size = g.slot_area_offset + (uint64_t)r * g.region_size;
	cr_assert_gt(r, 0, "the file's chunks are in the first region");
	struct t_log said = { "" };
	struct slot_fsck_opts fo = { .mode = SLOT_FSCK_CHECK, .force = true,
				     .problem = rc_problem_keep, .arg = &said };
	struct slot_fsck_result fr;
	cr_assert_eq(slot_fsck(&cut, &fo, &fr), 0);
	cr_expect(strstr(said.text, "PR_OBJ_CHUNKS_DROPPED"), "fsck said: %s",
		  said.text);
}

/* mkfs writes both containers (format 1.3), so a zeroed one is damage
 * even while the other is still mkfs's seq 1: before, a store whose only
 * checkpoint since mkfs was zeroed opened as new, every file it named
 * gone to lost+found and fsck -p calling it a crash. */
Test(recovery, a_zeroed_first_checkpoint_is_damage)
{
	struct slot_geometry g;
	slot_geometry_get(env.s, &g);
	put_n("k", 3, 5000, 1);
	cr_assert_eq(slot_checkpoint(env.s, true), 1);
	cr_assert_eq(t_status(env.s).metadata_seq, 2, "not the first checkpoint");
	slot_abandon(env.s);
	env.s = NULL;
	memset(slot_emu_image(env.emu) + g.meta_offset, 0, SL_BLOCK);
	struct t_log said = { "" };
	cr_expect_eq(rc_fsck_said(SLOT_FSCK_PREEN, &said).exit_code,
		     SLOT_FSCK_UNCORRECTED, "fsck -p went on");
	cr_expect(strstr(said.text, "PR_CKPT_BAD"), "fsck -p said: %s",
		  said.text);
	t_reopen(&env);
	struct slot_recovery r;
	slot_recovery_report(env.s, &r);
	cr_expect(r.scanned);
	check_n("k", 3, 5000, 1);
}

/* A checkpoint entry whose slot header no longer matches is dropped at
 * open, and the other entries stay. */
Test(recovery, bad_slot_header_entry_dropped)
{
	put_n("k", 4, 5000, 7);
	cr_assert_eq(slot_close(env.s), 0);
	/* find k2's slot: the only header whose name is "k2" */
	uint8_t *img = slot_emu_image(env.emu);
	uint64_t size = slot_emu_size(env.emu);
	int hit = 0;
	for (uint64_t off = 0; off + 4096 <= size; off += 4096) {
		if (!memcmp(img + off, "SLOTHDR1", 8) &&
		    !memcmp(img + off + 0x80, "k2", 3)) {
			img[off + 0x20] ^= 0xff; /* the generation */
			hit++;
		}
	}
	cr_assert_eq(hit, 1);
	env.opts.validate = true;
	t_reopen(&env);
	struct slot_recovery r;
	slot_recovery_report(env.s, &r);
	cr_expect_eq(r.entries_dropped, 1);
	char out[5000];
	struct slot_get g = { .key = "k2", .buf = out, .cap = sizeof(out) };
	int res = slot_get_many(env.s, &g, 1);
	cr_expect(res == 0 || res == -EIO, "got %d", res);
	/* the dropped chunk reads as a hole, never as another's bytes */
	if (res == 0) {
		char zero[5000] = { 0 };
		cr_expect(memcmp(out, zero, sizeof(out)) == 0);
	}
	check_n("k", 2, 5000, 7);
	char buf[5000];
	t_fill(buf, sizeof(buf), 7 + 3);
	cr_expect_eq(t_get_cmp(env.s, "k3", buf, sizeof(buf)), 0);
}

/* A flipped payload byte is caught by its checksum on read. */
Test(recovery, payload_checksum_caught_on_read)
{
	put_n("p", 1, 5000, 3);
	uint8_t *img = slot_emu_image(env.emu);
	uint64_t size = slot_emu_size(env.emu);
	for (uint64_t off = 0; off + 8192 <= size; off += 4096)
		if (!memcmp(img + off, "SLOTHDR1", 8) &&
		    !memcmp(img + off + 0x80, "p0", 3))
			img[off + 4096 + 100] ^= 1;
	char buf[5000];
	t_fill(buf, sizeof(buf), 3);
	cr_expect_eq(t_get_cmp(env.s, "p0", buf, sizeof(buf)), -EIO);
	cr_expect_eq(t_status(env.s).checksum_errors, 1);
}

/* The superblock as the device holds it. */
static struct sl_sb sb_now(void)
{
	struct sl_sb sb;
	cr_assert_eq(sl_sb_decode(slot_emu_image(env.emu), &sb), 0);
	return sb;
}

/* Flip a byte of key's payload on the device (a 5000-byte object). */
static void damage_payload(const char *key)
{
	uint8_t *img = slot_emu_image(env.emu);
	uint64_t size = slot_emu_size(env.emu);
	int hit = 0;
	for (uint64_t off = 0; off + 8192 <= size; off += 4096)
		if (!memcmp(img + off, "SLOTHDR1", 8) &&
		    !memcmp(img + off + 0x80, key, strlen(key) + 1)) {
			img[off + 4096 + 100] ^= 1;
			hit++;
		}
	cr_assert_eq(hit, 1, "%s: %d slots", key, hit);
}

static struct slot_fsck_result fsck_run(enum slot_fsck_mode mode)
{
	struct slot_fsck_opts fo = { .mode = mode };
	struct slot_fsck_result fr;
	cr_assert_eq(slot_fsck(env.dev, &fo, &fr), 0);
	return fr;
}

/*
 * A checksum error found in use is recorded in the superblock, as ext4
 * records errors (state "with errors", a count, the first and last time,
 * what it was): fsck then checks the file system even though it was
 * unmounted cleanly (-n: exit 4), and a repair clears the record.
 */
Test(recovery, an_error_found_in_use_is_recorded_for_fsck)
{
	put_n("p", 2, 5000, 3);
	cr_assert_eq(slot_sync(env.s), 0);
	cr_assert_eq(sb_now().flags & SL_SB_ERRORS, 0);
	damage_payload("p0");
	char buf[5000];
	t_fill(buf, sizeof(buf), 3);
	cr_assert_eq(t_get_cmp(env.s, "p0", buf, sizeof(buf)), -EIO);
	/* the next checkpoint records it, as ext4 commits its superblock */
	put_n("q", 1, 100, 9);
	cr_assert_eq(slot_checkpoint(env.s, true), 1);
	struct sl_sb sb = sb_now();
	cr_expect(sb.flags & SL_SB_ERRORS);
	cr_expect_eq(sb.error_count, 1);
	cr_expect_eq(sb.last_error, SL_ERR_CSUM);
	cr_expect_neq(sb.first_error_time, 0);
	cr_expect_geq(sb.last_error_time, sb.first_error_time);
	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	sb = sb_now();
	cr_expect(sb.flags & SL_SB_CLEAN, "a clean close");
	cr_expect(sb.flags & SL_SB_ERRORS, "still with errors");

	/* -n, not forced: checked anyway, and the record is a problem */
	struct slot_fsck_result fr = fsck_run(SLOT_FSCK_CHECK);
	cr_expect(!fr.was_clean_skip, "fsck skipped a file system with errors");
	cr_expect_eq(fr.exit_code, SLOT_FSCK_UNCORRECTED);
	cr_expect(sb_now().flags & SL_SB_ERRORS, "-n cleared the record");
	fr = fsck_run(SLOT_FSCK_REPAIR);
	cr_expect_eq(fr.exit_code, SLOT_FSCK_FIXED);
	sb = sb_now();
	cr_expect_eq(sb.flags & SL_SB_ERRORS, 0, "the repair left the record");
	cr_expect_eq(sb.error_count, 0);
	cr_expect_eq(sb.last_error_time, 0);
	fr = fsck_run(SLOT_FSCK_CHECK);
	cr_expect_eq(fr.exit_code, SLOT_FSCK_OK);
	cr_expect(fr.was_clean_skip, "clean now: skipped");
	t_reopen(&env);
	t_fill(buf, sizeof(buf), 4);
	cr_expect_eq(t_get_cmp(env.s, "p1", buf, sizeof(buf)), 0);
}

/* A checkpoint that fails at close (the device refused its write) is an
 * error too: the close records it, and does not call the file system
 * clean. */
Test(recovery, a_checkpoint_failing_at_close_is_recorded)
{
	put_n("p", 2, 5000, 3);
	slot_emu_fail_write(env.emu, 1, -EIO);  /* the checkpoint's write */
	cr_assert_neq(slot_close(env.s), 0);
	env.s = NULL;
	struct sl_sb sb = sb_now();
	cr_expect(sb.flags & SL_SB_ERRORS, "not recorded");
	cr_expect_eq(sb.last_error, SL_ERR_CKPT_WRITE);
	cr_expect_eq(sb.flags & SL_SB_CLEAN, 0);
	t_reopen(&env);
	check_n("p", 2, 5000, 3);       /* recovery found them */
}

/*
 * A put whose region headers could not be written (a sparse image's host
 * out of space, say) fails; the regions it was given stay assigned.  A
 * slot written there later must find its region's header on the device,
 * or recovery, which takes a region's class from it, never reads it.
 */
static void put_fails_assigning_regions(void)
{
	put_n("a", 1, 3000, 1);         /* the 4 KiB class has its region */
	slot_emu_fail_writes(env.emu, -ENOSPC);
	char *buf = malloc(100000);
	t_fill(buf, 100000, 7);
	cr_assert_eq(t_put1(env.s, "x", buf, 100000), -ENOSPC);
	free(buf);
	slot_emu_fail_writes(env.emu, 0);
}

Test(recovery, a_region_whose_header_failed_gets_it_before_its_slots)
{
	put_fails_assigning_regions();
	uint64_t seq = t_status(env.s).metadata_seq;
	put_n("b", 3, 100000, 10);      /* into the same class's regions */
	cr_assert_eq(slot_sync(env.s), 0);
	cr_assert_eq(t_status(env.s).metadata_seq, seq,
		     "a checkpoint: the scan would not be tested");
	slot_abandon(env.s);
	t_reopen(&env);
	check_n("b", 3, 100000, 10);
	check_n("a", 1, 3000, 1);
}

Test(recovery, a_checkpoint_names_no_region_without_its_header)
{
	put_fails_assigning_regions();
	put_n("c", 1, 3000, 20);        /* something to checkpoint */
	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	struct slot_fsck_opts fo = { .mode = SLOT_FSCK_CHECK, .force = true };
	struct slot_fsck_result fr;
	cr_assert_eq(slot_fsck(env.dev, &fo, &fr), 0);
	cr_expect_eq(fr.exit_code, SLOT_FSCK_OK, "%llu problems",
		     (unsigned long long)fr.problems);
	t_reopen(&env);
	check_n("c", 1, 3000, 20);
}

/* Bytes of checkpoint container i, at off within it, set to v. */
static void damage_container(unsigned i, uint64_t off, uint8_t v)
{
	struct sl_sb sb = sb_now();
	uint8_t *img = slot_emu_image(env.emu);
	memset(img + sb.meta_offset + i * (sb.meta_size / 2) + off, v, 16);
}

/* The container holding the newest checkpoint. */
static unsigned newest_container(void)
{
	struct sl_sb sb = sb_now();
	const uint8_t *img = slot_emu_image(env.emu);
	struct sl_ckpt_hdr h[2];
	int ok[2];
	for (unsigned i = 0; i < 2; i++)
		ok[i] = sl_ckpt_hdr_decode(img + sb.meta_offset +
					   i * (sb.meta_size / 2), &h[i]) == 0;
	cr_assert(ok[0] || ok[1]);
	return !ok[0] || (ok[1] && h[1].seq > h[0].seq);
}

/* Files put in a directory made this session, then a clean close.  With
 * the newest checkpoint's container damaged, the open must not take the
 * clean flag's word for the other one (once mkfs's empty seq 1): it
 * scans the slot headers written since, as after a crash, and records
 * the damage for fsck.  The close wrote its checkpoint into both
 * containers, so the other one knows the directory: every file keeps
 * its name, none goes to lost+found. */
static void expect_found_after_damage(uint64_t off, uint8_t v)
{
	put_n("d/p", 20, 5000, 7);
	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	struct sl_sb sb = sb_now();
	cr_assert(sb.flags & SL_SB_CLEAN);
	damage_container(newest_container(), off, v);
	t_reopen(&env);
	struct slot_recovery r;
	slot_recovery_report(env.s, &r);
	cr_expect(r.scanned, "the open trusted the clean flag");
	cr_expect_eq(r.lost_found, 0, "names lost with the checkpoint");
	check_n("d/p", 20, 5000, 7);
	sb = sb_now();
	cr_expect(sb.flags & SL_SB_ERRORS, "the damage was not recorded");
	cr_expect_eq(sb.last_error, SL_ERR_CKPT_LOST);
	/* a change now, a clean close, and the files are still there */
	cr_assert_eq(t_put1(env.s, "after", "x", 1), 0);
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	check_n("d/p", 20, 5000, 7);
}

Test(recovery, a_damaged_newest_checkpoint_header_is_not_taken_for_empty)
{
	expect_found_after_damage(0, 0xa5);
}

Test(recovery, a_damaged_newest_checkpoint_payload_is_not_taken_for_empty)
{
	expect_found_after_damage(SL_BLOCK + 64, 0x5a);
}

/* A checkpoint header whose chunk-checksum count is past its payload
 * (resealed, so it passes its checksum) loads without those checksums;
 * the count once sized the next checkpoint's buffer: ENOMEM at every
 * checkpoint after (found by the fsck fuzzer, seed 343). */
Test(recovery, a_checksum_count_past_the_payload_sizes_nothing)
{
	put_n("p", 5, 5000, 3);
	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	struct sl_sb sb = sb_now();
	uint8_t *hdr = slot_emu_image(env.emu) + sb.meta_offset +
		       newest_container() * (sb.meta_size / 2);
	struct sl_ckpt_hdr h;
	cr_assert_eq(sl_ckpt_hdr_decode(hdr, &h), 0);
	h.csum_count = 1ull << 49;
	sl_ckpt_hdr_encode(&h, hdr);
	t_reopen(&env);
	check_n("p", 5, 5000, 3);
	put_n("q", 2, 5000, 4);
	cr_expect_eq(slot_checkpoint(env.s, true), 1);
	cr_expect_eq(slot_sync(env.s), 0);
}

/* fsck -p repairs what a crash leaves, as e2fsck -p does ... */
Test(recovery, preen_repairs_what_a_crash_leaves)
{
	put_n("p", 5, 5000, 9);
	cr_assert_eq(slot_sync(env.s), 0);
	slot_abandon(env.s);
	env.s = NULL;
	struct slot_fsck_result fr = fsck_run(SLOT_FSCK_PREEN);
	cr_expect_eq(fr.exit_code, SLOT_FSCK_FIXED);
	fr = fsck_run(SLOT_FSCK_CHECK);
	cr_expect_eq(fr.exit_code, SLOT_FSCK_OK);
	t_reopen(&env);
	check_n("p", 5, 5000, 9);
}

/* ... and stops at damage: a clean file system's newest checkpoint
 * container damaged is reported, nothing written, exit 4. */
Test(recovery, preen_stops_at_a_damaged_checkpoint)
{
	put_n("p", 5, 5000, 9);
	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	damage_container(newest_container(), 0, 0xa5);
	size_t size = slot_emu_size(env.emu);
	uint8_t *before = malloc(size);
	memcpy(before, slot_emu_image(env.emu), size);
	struct slot_fsck_result fr = fsck_run(SLOT_FSCK_PREEN);
	cr_expect_eq(fr.exit_code, SLOT_FSCK_UNCORRECTED);
	cr_expect_eq(fr.fixed, 0);
	cr_expect(memcmp(before, slot_emu_image(env.emu), size) == 0,
		  "fsck -p wrote to a damaged file system");
	free(before);
	fr = fsck_run(SLOT_FSCK_REPAIR);
	cr_expect_eq(fr.exit_code, SLOT_FSCK_FIXED);
	t_reopen(&env);
	check_n("p", 5, 5000, 9);       /* -y found them in the slots */
}

/* ... but container A blank beside B's seq 1, as mkfs left it before
 * format 1.3, is no damage: nothing was written there yet. */
Test(recovery, a_blank_container_after_an_older_mkfs_is_no_damage)
{
	struct slot_geometry g;
	slot_geometry_get(env.s, &g);
	slot_abandon(env.s);            /* as mkfs left it, but for ... */
	env.s = NULL;
	uint8_t *img = slot_emu_image(env.emu);
	struct sl_sb sb = sb_now();
	sb.version_minor = 2;           /* ... the older mkfs's */
	sb.flags |= SL_SB_CLEAN;
	sl_sb_encode(&sb, img);
	sl_sb_encode(&sb, img + SL_SB_BACKUP_OFF);
	memset(img + g.meta_offset, 0, SL_BLOCK);
	t_reopen(&env);
	struct slot_recovery r;
	slot_recovery_report(env.s, &r);
	cr_expect(!r.scanned, "a fresh file system was scanned");
	cr_expect_eq(r.ckpt_seq, 1);
	cr_expect_eq(sb_now().flags & SL_SB_ERRORS, 0);
}

/* With errors=remount-ro (here, or the superblock's from tune.slotfs -e)
 * the first error stops all writes: -EROFS, reads go on, and the record
 * is in the superblock, which is left not clean. */
Test(recovery, errors_remount_ro_takes_no_more_writes)
{
	put_n("p", 2, 5000, 3);
	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	cr_assert_eq(slot_set_errors(env.dev, SLOT_ERRORS_RO), 0);
	cr_expect_eq(sb_now().errors, SL_ERRORS_RO);
	cr_assert_eq(slot_set_errors(env.dev, (enum slot_errors)7), -EINVAL);
	t_reopen(&env);
	put_n("q", 1, 100, 9);          /* writes go on until an error */
	damage_payload("p0");
	char buf[5000];
	t_fill(buf, sizeof(buf), 3);
	cr_assert_eq(t_get_cmp(env.s, "p0", buf, sizeof(buf)), -EIO);
	cr_expect_eq(t_put1(env.s, "q1", buf, 100), -EROFS);
	cr_expect(t_status(env.s).read_only);
	t_fill(buf, sizeof(buf), 4);
	cr_expect_eq(t_get_cmp(env.s, "p1", buf, sizeof(buf)), 0);
	slot_close(env.s);
	env.s = NULL;
	struct sl_sb sb = sb_now();
	cr_expect(sb.flags & SL_SB_ERRORS);
	cr_expect_eq(sb.flags & SL_SB_CLEAN, 0);

	/* the mount's choice wins over the superblock's */
	cr_assert_eq(fsck_run(SLOT_FSCK_REPAIR).exit_code, SLOT_FSCK_FIXED);
	t_reopen(&env);
	cr_assert_eq(slot_store_set_errors(env.s, SLOT_ERRORS_CONTINUE), 0);
	put_n("r", 1, 5000, 11);
	damage_payload("r0");
	t_fill(buf, sizeof(buf), 11);
	cr_assert_eq(t_get_cmp(env.s, "r0", buf, sizeof(buf)), -EIO);
	cr_expect_eq(t_put1(env.s, "r1", buf, 100), 0, "continue: writes go on");
}

/* Power cut in the middle of a multi-chunk put: the object is the old
 * version or absent, never a mix (payload checksums, whole txns). */
Test(recovery, torn_put_is_old_or_absent)
{
	put_n("t", 1, 3 << 20, 1);
	cr_assert_eq(slot_sync(env.s), 0);
	for (int cut = 1; cut <= 6; cut++) {
		slot_emu_fail_write(env.emu, (uint64_t)cut, -EIO);
		char *buf = malloc(3 << 20);
		t_fill(buf, 3 << 20, 1000 + (unsigned)cut);
		int r = t_put1(env.s, "t0", buf, 3 << 20);
		free(buf);
		slot_emu_fail_write(env.emu, 0, 0);
		(void)r;
		slot_abandon(env.s);
		t_reopen(&env);
		char *old = malloc(3 << 20);
		char *out = malloc(3 << 20);
		struct slot_get g = { .key = "t0", .buf = out, .cap = 3 << 20 };
		cr_assert_eq(slot_get_many(env.s, &g, 1), 0, "cut %d", cut);
		t_fill(old, 3 << 20, 1);
		bool is_old = g.len == (3u << 20) && !memcmp(out, old, 3 << 20);
		t_fill(old, 3 << 20, 1000 + (unsigned)cut);
		bool is_new = g.len == (3u << 20) && !memcmp(out, old, 3 << 20);
		cr_expect(is_old || is_new, "cut %d: a mix of versions", cut);
		free(old);
		free(out);
		/* the next round overwrites from whatever won */
		buf = malloc(3 << 20);
		t_fill(buf, 3 << 20, 1);
		cr_assert_eq(t_put1(env.s, "t0", buf, 3 << 20), 0);
		cr_assert_eq(slot_sync(env.s), 0);
		free(buf);
	}
}

/* A real process killed with SIGKILL after slot_sync: every synced key is
 * there after reopen, through the real engine on an image file. */
Test(recovery, sigkill_after_sync, .timeout = 120)
{
	char path[] = "/tmp/slot-kill-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 256ll << 20), 0);
	close(fd);
	struct slot_dev *dev;
	cr_assert_eq(slot_dev_open(path, SLOT_ENGINE_AUTO, 32, true, false,
				   true, &dev), 0);
	cr_assert_eq(slot_format(dev, NULL, NULL), 0);
	slot_dev_close(dev);

	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct slot_store *s;
		if (slot_open(path, NULL, &s))
			_exit(2);
		char key[32];
		static char buf[200000];
		for (int i = 0; i < 64; i++) {
			snprintf(key, sizeof(key), "sk%d", i);
			t_fill(buf, sizeof(buf), (unsigned)i);
			if (t_put1(s, key, buf, sizeof(buf)))
				_exit(3);
		}
		if (slot_sync(s))
			_exit(4);
		if (write(pfd[1], "k", 1) != 1)
			_exit(5);
		/* keep writing unsynced data until killed */
		for (int i = 0;; i++) {
			snprintf(key, sizeof(key), "junk%d", i % 50);
			t_put1(s, key, buf, sizeof(buf));
		}
	}
	close(pfd[1]);
	char c;
	if (read(pfd[0], &c, 1) != 1) {
		int st;
		waitpid(pid, &st, 0);
		cr_assert_fail("child failed before sync: exit %d",
			       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	usleep(50 * 1000);
	kill(pid, SIGKILL);
	int st;
	waitpid(pid, &st, 0);
	close(pfd[0]);

	struct slot_store *s;
	int err = slot_open(path, NULL, &s);
	cr_assert_eq(err, 0, "reopen after SIGKILL: %s", slot_strerror(err));
	struct slot_recovery r;
	slot_recovery_report(s, &r);
	cr_expect(!r.was_clean);
	char key[32];
	static char want[200000];
	for (int i = 0; i < 64; i++) {
		snprintf(key, sizeof(key), "sk%d", i);
		t_fill(want, sizeof(want), (unsigned)i);
		cr_expect_eq(t_get_cmp(s, key, want, sizeof(want)), 0, "%s", key);
	}
	cr_expect_eq(slot_close(s), 0);
	unlink(path);
}

/* Files PREFIX0 .. PREFIX<n-1> in dir hold len bytes of t_fill(seed + i). */
static void expect_files(slot_ino_t dir, const char *prefix, unsigned n,
			 size_t len, unsigned seed)
{
	char *want = malloc(len), *got = malloc(len), name[64];
	for (unsigned i = 0; i < n; i++) {
		struct slot_attr a;
		snprintf(name, sizeof(name), "%s%u", prefix, i);
		cr_assert_eq(slot_ns_lookup(env.s, dir, name, &a), 0, "%s", name);
		t_fill(want, len, seed + i);
		cr_expect_eq(slot_file_read(env.s, a.ino, 0, got, len),
			     (ssize_t)len, "%s", name);
		cr_expect(!memcmp(want, got, len), "%s", name);
	}
	free(want);
	free(got);
}

/*
 * Files written into a directory made after the last checkpoint, then a
 * crash: the directory has no slot, so the scan cannot bring it back, but
 * the files' headers still name it and them.  They come back together,
 * by name, in /lost+found/#<the directory's number> (as e2fsck keeps a
 * lost directory's contents), not each as a bare number.
 */
Test(recovery, files_of_a_lost_directory_keep_their_names)
{
	struct slot_attr d, a, lf, g;
	char buf[5000], name[32];
	cr_assert_geq(slot_checkpoint(env.s, true), 0);
	uint64_t seq = t_status(env.s).metadata_seq;
	cr_assert_eq(slot_ns_mkdir(env.s, SLOT_ROOT_INO, "d", 0755, 0, 0, &d), 0);
	for (unsigned i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		cr_assert_eq(slot_ns_mknod(env.s, d.ino, name, S_IFREG | 0644, 0,
					   0, 0, &a), 0);
		t_fill(buf, sizeof(buf), 40 + i);
		cr_assert_eq(slot_file_write(env.s, a.ino, 0, buf, sizeof(buf)),
			     (ssize_t)sizeof(buf));
		cr_assert_eq(sl_file_flush(env.s, a.ino), 0);
	}
	cr_assert_eq(t_status(env.s).metadata_seq, seq,
		     "a checkpoint named the directory: nothing to test");
	slot_abandon(env.s);
	t_reopen(&env);
	cr_assert_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "lost+found", &lf), 0);
	snprintf(name, sizeof(name), "#%llu", (unsigned long long)d.ino);
	cr_assert_eq(slot_ns_lookup(env.s, lf.ino, name, &g), 0,
		     "no %s in /lost+found", name);
	expect_files(g.ino, "f", 3, sizeof(buf), 40);
}

/* slot_ns_readdir: the first name not "." or "..", into arg. */
static int first_name(void *arg, const char *name, const struct slot_attr *a,
		      uint64_t next)
{
	(void)a;
	(void)next;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	snprintf(arg, 64, "%s", name);
	return 1;
}

/* A key named lost+found is the user's: a crash that leaves a file
 * without its directory puts it in /lost+found.1 instead (the open once
 * failed with -ENOMEM, and fsck stopped the same way). */
Test(recovery, a_file_named_lost_found_is_kept_and_orphans_go_beside_it)
{
	struct slot_attr lf, lf1, g;
	char buf[3000];
	put_n("lost+found", 1, 3000, 70);       /* key "lost+found0" */
	t_fill(buf, sizeof(buf), 71);
	cr_assert_eq(t_put1(env.s, "lost+found", buf, sizeof(buf)), 0);
	cr_assert_geq(slot_checkpoint(env.s, true), 0);
	uint64_t seq = t_status(env.s).metadata_seq;
	/* a directory made after it; no sync (it would checkpoint the
	 * directory), and the emulated device keeps what was written */
	put_n("layer7/chunk", 2, 3000, 80);
	cr_assert_eq(t_status(env.s).metadata_seq, seq,
		     "a checkpoint named the directory: nothing to test");
	slot_abandon(env.s);
	env.s = NULL;
	struct t_log logged = { "" };
	env.opts.log = t_log_keep;
	env.opts.log_arg = &logged;
	t_reopen(&env);
	env.opts.log = NULL;
	cr_expect(strstr(logged.text, "(2 in /lost+found.1)"), "logged: %s",
		  logged.text);
	cr_assert_eq(t_get_cmp(env.s, "lost+found", buf, sizeof(buf)), 0);
	cr_assert_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "lost+found", &lf), 0);
	cr_assert(S_ISREG(lf.mode));
	cr_assert_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "lost+found.1", &lf1), 0);
	cr_assert(S_ISDIR(lf1.mode));
	struct slot_recovery r;
	slot_recovery_report(env.s, &r);
	cr_expect_eq(r.lost_found, 2);
	/* both chunks, by name, in the lost directory's #N there */
	char first[64] = "";
	cr_assert_eq(slot_ns_readdir(env.s, lf1.ino, 0, first_name, first), 0);
	cr_assert_eq(slot_ns_lookup(env.s, lf1.ino, first, &g), 0, "%s", first);
	expect_files(g.ino, "chunk", 2, sizeof(buf), 80);
	t_fsck_clean(&env);
}

/* Recovery can bring back a size from before an extension whose bytes
 * landed (a size lags its data, FORMAT.md "Sizes that lag"): the chunk
 * then holds bytes past the size.  The next writable open rewrites it
 * shorter, keeping the file's times, so the file grown again reads zeros
 * there. */
Test(recovery, bytes_past_a_recovered_size_never_show)
{
	char b[8192];
	t_fill(b, sizeof(b), 7);
	struct slot_attr a;
	cr_assert_eq(slot_ns_mknod(env.s, SLOT_ROOT_INO, "f", S_IFREG | 0644,
				   0, 0, 0, &a), 0);
	cr_assert_eq(slot_file_write(env.s, a.ino, 0, b, sizeof(b)), (ssize_t)sizeof(b));
	cr_assert_eq(slot_file_fsync(env.s, a.ino, false), 0);
	/* what recovery leaves after such a crash */
	sl_lock(env.s);
	struct sl_obj *o = sl_obj_find(&env.s->ix, a.ino);
	o->size = 100;
	int64_t mtime = o->mtime;
	sl_ns_dirty(env.s);
	sl_unlock(env.s);
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	cr_assert_eq(slot_ns_getattr(env.s, a.ino, &a), 0);
	cr_expect_eq(a.size, 100);
	cr_expect_eq(a.mtime.tv_sec * 1000000000ll + a.mtime.tv_nsec, mtime,
		     "the repair changed the file's mtime");
	struct slot_attr in = { .size = sizeof(b) };
	cr_assert_eq(slot_ns_setattr(env.s, a.ino, &in, SLOT_SET_SIZE, NULL), 0);
	char out[8192];
	cr_assert_eq(slot_file_read(env.s, a.ino, 0, out, sizeof(out)), (ssize_t)sizeof(out));
	cr_expect(memcmp(out, b, 100) == 0);
	size_t nz = 100;
	while (nz < sizeof(out) && !out[nz])
		nz++;
	cr_expect_eq(nz, sizeof(out), "byte %zu past the old size shows", nz);
}

/* Whether any object or slot still carries a mark of a checkpoint being
 * written (none is, between checkpoints). */
static bool snapshot_marks_left(void)
{
	struct slot_store *s = env.s;
	for (size_t b = 0; b <= s->ix.obj_mask; b++)
		for (struct sl_obj *o = s->ix.obj_tab[b]; o; o = o->hnext)
			if (o->flags & (SL_OBJ_NEWCKPT | SL_OBJ_SNAP_NAMED |
					SL_OBJ_SNAP_DIRTY))
				return true;
	for (uint32_t r = 0; r < s->nregions; r++)
		for (uint32_t j = 0; s->regions[r].state &&
				     j < s->regions[r].nslots; j++)
			if (s->regions[r].state[j] & SL_SLOT_NEWCKPT)
				return true;
	return false;
}

/*
 * A checkpoint that finds its container too small (the index grew past
 * it between the room checks) stops part way with -ENOSPC and takes off
 * the marks it had made: objects and slots it had counted in, and the
 * attributes it had taken as carried, are owed again, so that the next
 * checkpoint with room holds everything, a chmod with no write after it
 * included.
 */
Test(recovery, checkpoint_past_its_container_leaves_no_marks)
{
	put_n("a", 50, 5000, 1);
	slot_ino_t ino = t_mkfile(env.s, "attrs");
	cr_assert_eq(slot_checkpoint(env.s, true), 1);
	put_n("b", 50, 5000, 100);
	struct slot_attr a = { .mode = S_IFREG | 0600 }, out;
	cr_assert_eq(slot_ns_setattr(env.s, ino, &a, SLOT_SET_MODE, &out), 0);
	uint64_t seq = t_status(env.s).metadata_seq;
	uint64_t meta = env.s->sb.meta_size;
	env.s->sb.meta_size = 2 * (SL_BLOCK + 2048);
	cr_expect_eq(slot_checkpoint(env.s, true), -ENOSPC);
	env.s->sb.meta_size = meta;
	cr_expect_eq(t_status(env.s).metadata_seq, seq);
	cr_expect(!snapshot_marks_left(), "the failed snapshot left marks");
	struct sl_obj *o = sl_obj_find(&env.s->ix, ino);
	cr_assert_not_null(o);
	cr_expect(o->flags & SL_OBJ_ATTR_DIRTY, "the chmod is not owed");
	cr_expect_eq(slot_checkpoint(env.s, true), 1);
	cr_expect(!snapshot_marks_left());
	slot_abandon(env.s);
	t_reopen(&env);
	check_n("a", 50, 5000, 1);
	check_n("b", 50, 5000, 100);
	cr_assert_eq(slot_ns_getattr(env.s, ino, &out), 0);
	cr_expect_eq(out.mode, S_IFREG | 0600);
}

/* Both superblocks resealed with another uuid: every other header still
 * carries the old one, so a rebuild from the slot headers finds nothing.
 * fsck -y emptied the store; it stops now, writing nothing. */
Test(recovery, a_superblock_uuid_no_header_shares_stops_fsck)
{
	put_n("k", 3, 5000, 1);
	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	uint8_t *img = slot_emu_image(env.emu);
	struct sl_sb sb = sb_now();
	sb.uuid[0] ^= 0xff;
	sl_sb_encode(&sb, img);
	sl_sb_encode(&sb, img + SL_SB_BACKUP_OFF);
	size_t size = env.dev->size;
	uint8_t *before = malloc(size);
	cr_assert(before);
	memcpy(before, img, size);
	struct slot_fsck_opts fo = { .mode = SLOT_FSCK_REPAIR, .force = true };
	struct slot_fsck_result fr;
	cr_expect_eq(slot_fsck(env.dev, &fo, &fr), -ESTALE);
	cr_expect(memcmp(before, img, size) == 0, "fsck -y wrote");
	free(before);
	sb.uuid[0] ^= 0xff;             /* put back: the store is whole */
	sl_sb_encode(&sb, img);
	sl_sb_encode(&sb, img + SL_SB_BACKUP_OFF);
	t_reopen(&env);
	check_n("k", 3, 5000, 1);
}

/* tune.slotfs -e cut short between the two superblock copies: fsck finds
 * them different and writes the backup again (it compared uuid, geometry
 * and label only, so the backup kept the old behaviour for good). */
Test(recovery, superblocks_differing_in_errors_are_mended)
{
	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	for (int feat = 0; feat < 2; feat++) {
		struct sl_sb sb = sb_now();
		if (feat)       /* a feature set in one copy alone, the same */
			sb.feature_ro_compat |= SL_FEAT_RO_COMPAT_XATTR;
		else
			sb.errors = SL_ERRORS_RO;
		sl_sb_encode(&sb, slot_emu_image(env.emu)); /* the primary */
		struct t_log said = { "" };
		cr_expect_eq(rc_fsck_said(SLOT_FSCK_REPAIR, &said).exit_code,
			     SLOT_FSCK_FIXED, "feature %d", feat);
		cr_expect(strstr(said.text, "PR_SB_MISMATCH"),
			  "feature %d: fsck said: %s", feat, said.text);
		struct sl_sb b;
		cr_assert_eq(sl_sb_decode(slot_emu_image(env.emu) +
					  SL_SB_BACKUP_OFF, &b), 0);
		cr_expect_eq(b.errors, sb.errors);
		cr_expect_eq(b.feature_ro_compat, sb.feature_ro_compat);
	}
	t_reopen(&env);
}
