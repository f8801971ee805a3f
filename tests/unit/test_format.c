/* SPDX-License-Identifier: MIT */
/* test_format.c - format, superblocks and refusing bad images on open. */
#include <errno.h>

#include "format.h"
#include "helpers.h"
#include "internal.h"     /* what sl_ckpt_left sets aside */

static struct slot_emu *emu;
static void setup(void) { cr_assert_eq(slot_emu_create(64ull << 20, &emu), 0); }
static void teardown(void) { slot_emu_destroy(emu); }
TestSuite(format, .init = setup, .fini = teardown, .timeout = 30);

static int try_open(void)
{
	struct slot_opts o;
	slot_opts_init(&o);
	o.periodic_checkpoint = false;
	struct slot_store *s = NULL;
	int err = slot_open_dev(slot_emu_dev(emu), &o, &s);
	if (!err)
		slot_close(s);
	return err;
}

Test(format, blank_device_is_not_slotfs)
{
	cr_expect_eq(try_open(), -EINVAL);
	struct slot_geometry g;
	cr_expect_eq(slot_probe(slot_emu_dev(emu), &g), 0);
}

Test(format, foreign_filesystem_refused)
{
	/* an ext4 superblock magic at 1024 + 0x38 */
	uint8_t *img = slot_emu_image(emu);
	img[1024 + 0x38] = 0x53;
	img[1024 + 0x39] = 0xef;
	cr_expect_eq(try_open(), -EINVAL);
}

Test(format, fresh_format_opens_and_probes)
{
	struct slot_format_opts fo;
	slot_format_opts_init(&fo);
	fo.label = "test";
	struct slot_geometry g;
	cr_assert_eq(slot_format(slot_emu_dev(emu), &fo, &g), 0);
	cr_expect_eq(g.chunk_size, 1u << 20);
	cr_expect_eq(g.min_slot, 4096);
	cr_expect_eq(g.class_count, 5);
	cr_expect_gt(g.region_count, 1);
	struct slot_geometry p;
	cr_expect_eq(slot_probe(slot_emu_dev(emu), &p), 1);
	cr_expect_str_eq(p.label, "test");
	cr_expect_eq(memcmp(p.uuid, g.uuid, 16), 0);
	cr_expect_eq(try_open(), 0);
}

Test(format, too_small_and_bad_sizes)
{
	struct slot_geometry g;
	cr_expect_eq(slot_format_plan(4ull << 20, NULL, &g), -EFBIG);
	struct slot_format_opts fo;
	slot_format_opts_init(&fo);
	fo.chunk_size = 3 << 20;
	cr_expect_eq(slot_format_plan(1ull << 30, &fo, &g), -EINVAL);
	fo.chunk_size = 0;
	fo.min_slot = 1024;
	cr_expect_eq(slot_format_plan(1ull << 30, &fo, &g), -EINVAL);
}

/* Every default layout leaves room in a checkpoint container for a
 * record of every slot its regions could hold (sl_ckpt_left sets that
 * aside) and files beside: the 4 GiB cap on the metadata area once left
 * devices over 512 GiB none, so that they took no file at all.  A -m
 * too small for that is refused. */
Test(format, every_size_has_room_to_name_files)
{
	static const uint64_t gib = 1ull << 30;
	const uint64_t sizes[] = { 19ull << 20, gib, 100 * gib, 600 * gib,
				   10240 * gib, 200000 * gib };
	for (size_t i = 0; i < SL_ARRAY_SIZE(sizes); i++) {
		struct slot_geometry g;
		cr_assert_eq(slot_format_plan(sizes[i], NULL, &g), 0,
			     "%llu GiB", (unsigned long long)(sizes[i] / gib));
		uint64_t set_aside = g.region_count * SL_RGN_REC_SIZE +
				     g.max_small_files * SL_CKPT_SLOT_SIZE;
		uint64_t room = g.meta_size / 2 - SL_BLOCK;
		cr_expect_gt(room, set_aside + 1000 * 512,
			     "%llu MiB: container %llu, slots need %llu",
			     (unsigned long long)(sizes[i] >> 20),
			     (unsigned long long)room,
			     (unsigned long long)set_aside);
	}
	struct slot_format_opts fo;
	slot_format_opts_init(&fo);
	fo.meta_size = 4ull << 20;
	struct slot_geometry g;
	cr_expect_eq(slot_format_plan(gib, &fo, &g), -ENOBUFS);
	fo.meta_size = 16ull << 20;
	cr_expect_eq(slot_format_plan(gib, &fo, &g), 0);
}

/* A 1 GiB store holds 100,000 files of 4 KiB. */
Test(format, gib_holds_100k_small_files)
{
	struct slot_geometry g;
	cr_assert_eq(slot_format_plan(1ull << 30, NULL, &g), 0);
	cr_expect_geq(g.max_small_files, 100000, "only %llu",
		      (unsigned long long)g.max_small_files);
}

Test(format, primary_superblock_lost_uses_backup)
{
	cr_assert_eq(slot_format(slot_emu_dev(emu), NULL, NULL), 0);
	memset(slot_emu_image(emu), 0, 4096);
	cr_expect_eq(try_open(), 0);
	/* open repaired the primary */
	cr_expect_eq(memcmp(slot_emu_image(emu), "SLOTFSB1", 8), 0);
}

Test(format, both_superblocks_damaged)
{
	cr_assert_eq(slot_format(slot_emu_dev(emu), NULL, NULL), 0);
	uint8_t *img = slot_emu_image(emu);
	img[0x40] ^= 1;
	img[(64 << 10) + 0x40] ^= 1;
	cr_expect_eq(try_open(), -EUCLEAN);
}

static void count_problem(void *arg, const char *code, const char *msg,
			  bool fixed)
{
	(void)code;
	(void)msg;
	(void)fixed;
	(*(int *)arg)++;
}

/* An unknown incompat bit is a newer slotfs's: open refuses it, and so
 * does fsck; in the primary alone (a newer open's, as RECOVER), fsck
 * refuses without first calling the backup, which lacks it, a copy to
 * rewrite. */
Test(format, unknown_incompat_feature_refused)
{
	cr_assert_eq(slot_format(slot_emu_dev(emu), NULL, NULL), 0);
	uint8_t *img = slot_emu_image(emu);
	struct sl_sb sb;
	cr_assert_eq(sl_sb_decode(img, &sb), 0);
	sb.feature_incompat |= 1u << 31;
	sl_sb_encode(&sb, img);
	int problems = 0;
	struct slot_fsck_opts o = { .mode = SLOT_FSCK_CHECK, .force = true,
				    .problem = count_problem,
				    .arg = &problems };
	struct slot_fsck_result r;
	cr_expect_eq(slot_fsck(slot_emu_dev(emu), &o, &r), -EPROTONOSUPPORT);
	cr_expect_eq(problems, 0, "%d problems reported before refusing",
		     problems);
	cr_expect_eq(try_open(), -EPROTONOSUPPORT);
	sl_sb_encode(&sb, img + SL_SB_BACKUP_OFF);
	cr_expect_eq(try_open(), -EPROTONOSUPPORT);
	/* a newer major version likewise */
	sb.feature_incompat = 0;
	sb.version_major = 2;
	sl_sb_encode(&sb, img);
	sl_sb_encode(&sb, img + SL_SB_BACKUP_OFF);
	cr_expect_eq(try_open(), -EPROTONOSUPPORT);
}

Test(format, both_checkpoints_lost)
{
	cr_assert_eq(slot_format(slot_emu_dev(emu), NULL, NULL), 0);
	uint8_t *img = slot_emu_image(emu);
	struct slot_geometry g;
	cr_assert_eq(slot_probe(slot_emu_dev(emu), &g), 1);
	memset(img + g.meta_offset, 0, 4096);
	memset(img + g.meta_offset + g.meta_size / 2, 0, 4096);
	cr_expect_eq(try_open(), -EUCLEAN);
}

/* mkfs cut short after its first writes, over an older slotfs: what is
 * left is no file system, not the old one by its backup superblock (the
 * old backup named it, and fsck "restored" it, deleted files and all). */
Test(format, a_format_cut_short_leaves_no_file_system)
{
	cr_assert_eq(slot_format(slot_emu_dev(emu), NULL, NULL), 0);
	cr_assert_eq(slot_probe(slot_emu_dev(emu), NULL), 1);
	slot_emu_fail_write(emu, 5, -EIO);      /* past the zeroing (4 blocks) */
	cr_assert_neq(slot_format(slot_emu_dev(emu), NULL, NULL), 0);
	slot_emu_fail_write(emu, 0, 0);
	cr_expect_eq(slot_probe(slot_emu_dev(emu), NULL), 0,
		     "the old file system shows through");
	cr_expect_eq(try_open(), -EINVAL);
}

Test(format, truncated_image_refused)
{
	cr_assert_eq(slot_format(slot_emu_dev(emu), NULL, NULL), 0);
	struct slot_dev small = *slot_emu_dev(emu);
	small.size = 32ull << 20;
	struct slot_opts o;
	slot_opts_init(&o);
	o.periodic_checkpoint = false;
	struct slot_store *s;
	cr_expect_eq(slot_open_dev(&small, &o, &s), -EFBIG);
	/* cut short of its backup superblock too: still slotfs, cut short */
	small.size = 8192;
	cr_expect_eq(slot_open_dev(&small, &o, &s), -EFBIG);
	cr_expect_eq(slot_probe(&small, NULL), 1);
}

/* fsck's block count is statfs's (what df shows), and its total stays
 * what mkfs made while classes take regions; its slot total does not. */
static struct slot_fsck_result fsck_now(void)
{
	struct slot_fsck_opts o = { .mode = SLOT_FSCK_CHECK, .force = true };
	struct slot_fsck_result r;
	cr_assert_eq(slot_fsck(slot_emu_dev(emu), &o, &r), 0);
	cr_assert_eq(r.exit_code, SLOT_FSCK_OK);
	return r;
}

Test(format, fsck_counts_blocks_as_statfs_does)
{
	cr_assert_eq(slot_format(slot_emu_dev(emu), NULL, NULL), 0);
	struct slot_fsck_result before = fsck_now();
	struct slot_opts o;
	slot_opts_init(&o);
	o.periodic_checkpoint = false;
	struct slot_store *s;
	cr_assert_eq(slot_open_dev(slot_emu_dev(emu), &o, &s), 0);
	static char buf[1 << 20];
	cr_assert_eq(t_put1(s, "big", buf, sizeof(buf)), 0);
	cr_assert_eq(t_put1(s, "small", buf, 4096), 0);
	cr_assert_eq(t_put1(s, "mid", buf, 100000), 0);
	struct slot_statfs st;
	cr_assert_eq(slot_statfs(s, &st), 0);
	cr_assert_eq(slot_close(s), 0);
	struct slot_fsck_result after = fsck_now();

	cr_expect_eq(after.files, 3);
	cr_expect_eq(after.slots_used, before.slots_used + 3);
	cr_expect_gt(after.slots_total, before.slots_total,
		     "classes took regions");
	cr_expect_eq(after.blocks_total, before.blocks_total);
	cr_expect_eq(after.blocks_total, st.blocks);
	cr_expect_eq(after.blocks_used, st.blocks - st.blocks_free);
	cr_expect_geq(after.blocks_used, before.blocks_used + 256 + 1 + 25);
}

/* A label set on an open store is in both superblocks at once, and the
 * store's own superblock, written back at close, keeps it. */
Test(format, label_set_on_an_open_store_is_kept)
{
	cr_assert_eq(slot_format(slot_emu_dev(emu), NULL, NULL), 0);
	struct slot_opts o;
	slot_opts_init(&o);
	o.periodic_checkpoint = false;
	struct slot_store *s;
	cr_assert_eq(slot_open_dev(slot_emu_dev(emu), &o, &s), 0);
	char longer[SLOT_LABEL_MAX + 2];
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = 0;
	cr_expect_eq(slot_store_set_label(s, longer), -EINVAL);
	cr_assert_eq(slot_store_set_label(s, "kv-cache"), 0);
	struct slot_geometry g;
	slot_geometry_get(s, &g);
	cr_expect_str_eq(g.label, "kv-cache");
	/* on the device while open: the backup alone, too */
	uint8_t *img = slot_emu_image(emu);
	memset(img, 0, 4096);   /* the primary */
	cr_expect_eq(slot_probe(slot_emu_dev(emu), &g), 1);
	cr_expect_str_eq(g.label, "kv-cache", "the backup says \"%s\"",
			 g.label);
	cr_assert_eq(slot_close(s), 0);
	cr_expect_eq(slot_probe(slot_emu_dev(emu), &g), 1);
	cr_expect_str_eq(g.label, "kv-cache", "after close: \"%s\"", g.label);
}

static struct slot_store *open_store(void)
{
	struct slot_opts o;
	slot_opts_init(&o);
	o.periodic_checkpoint = false;
	struct slot_store *s;
	cr_assert_eq(slot_open_dev(slot_emu_dev(emu), &o, &s), 0);
	return s;
}

static void expect_uuid(const uint8_t *want, const char *when)
{
	struct slot_geometry g;
	cr_assert_eq(slot_probe(slot_emu_dev(emu), &g), 1);
	cr_expect_eq(memcmp(g.uuid, want, 16), 0, "%s: another UUID", when);
}

/* A new UUID writes the superblocks alone: what was checkpointed, and
 * what recovery must find after a crash (written after the change, and
 * before it), still opens under the new one; fsck finds nothing wrong;
 * the UUID mkfs gave takes the store back to no feature. */
Test(format, uuid_change_keeps_every_object)
{
	static char buf[3 << 20];
	static const uint8_t nil[16], u1[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 },
				      u2[16] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };
	struct slot_geometry g0;
	cr_assert_eq(slot_format(slot_emu_dev(emu), NULL, &g0), 0);
	struct slot_store *s = open_store();
	t_fill(buf, sizeof(buf), 1);
	cr_assert_eq(t_put1(s, "before", buf, sizeof(buf)), 0);
	cr_assert_eq(slot_close(s), 0);

	cr_expect_eq(slot_set_uuid(slot_emu_dev(emu), nil), -EINVAL);
	cr_assert_eq(slot_set_uuid(slot_emu_dev(emu), u1), 0);
	expect_uuid(u1, "offline");
	s = open_store();
	cr_expect_eq(t_get_cmp(s, "before", buf, sizeof(buf)), 0);
	/* written under the new UUID, found by the recovery scan alone */
	cr_assert_eq(t_put1(s, "crashed", buf + 1, 5000), 0);
	slot_abandon(s);
	s = open_store();
	cr_expect_eq(t_get_cmp(s, "crashed", buf + 1, 5000), 0);
	/* changed while open, the crash before any checkpoint */
	cr_expect_eq(slot_store_set_uuid(s, nil), -EINVAL);
	cr_assert_eq(slot_store_set_uuid(s, u2), 0);
	expect_uuid(u2, "online");
	cr_assert_eq(t_put1(s, "online", buf + 2, 70000), 0);
	slot_abandon(s);
	expect_uuid(u2, "after the crash");
	s = open_store();
	cr_expect_eq(t_get_cmp(s, "before", buf, sizeof(buf)), 0);
	cr_expect_eq(t_get_cmp(s, "crashed", buf + 1, 5000), 0);
	cr_expect_eq(t_get_cmp(s, "online", buf + 2, 70000), 0);
	cr_assert_eq(slot_close(s), 0);
	struct slot_fsck_result r = fsck_now();
	cr_expect_eq(r.files, 3);

	/* the header UUID is the one mkfs gave; going back drops the
	 * feature an older slotfs refuses */
	struct sl_sb sb;
	cr_assert_eq(sl_sb_decode(slot_emu_image(emu), &sb), 0);
	cr_expect(sb.feature_incompat & SL_FEAT_INCOMPAT_META_UUID);
	cr_expect_eq(memcmp(sb.meta_uuid, g0.uuid, 16), 0);
	cr_assert_eq(slot_set_uuid(slot_emu_dev(emu), g0.uuid), 0);
	cr_assert_eq(sl_sb_decode(slot_emu_image(emu), &sb), 0);
	cr_expect_eq(sb.feature_incompat, 0);
	cr_expect_eq(memcmp(sb.meta_uuid, nil, 16), 0);
	cr_assert_eq(sl_sb_decode(slot_emu_image(emu) + SL_SB_BACKUP_OFF,
				  &sb), 0);
	cr_expect_eq(sb.feature_incompat, 0, "the backup too");
	s = open_store();
	cr_expect_eq(t_get_cmp(s, "online", buf + 2, 70000), 0);
	cr_assert_eq(slot_close(s), 0);
}
