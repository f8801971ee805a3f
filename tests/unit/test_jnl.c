/* SPDX-License-Identifier: MIT */
/*
 * test_jnl.c - the journal of namespace changes: a sync writes the
 * changes, not the index; a crash replays them on the checkpoint they
 * continue, and only those.
 */
#include <errno.h>

#include "helpers.h"
#include "internal.h"     /* counters, journal slots, sl_flush */

static struct t_env env;
static void setup(void) { t_setup(&env, 64ull << 20); }
static void teardown(void) { t_teardown(&env); }
TestSuite(jnl, .init = setup, .fini = teardown, .timeout = 60);

static slot_ino_t mk(slot_ino_t dir, const char *name, uint32_t mode)
{
	struct slot_attr a;
	struct slot_ns_new nw = { .mode = mode };
	cr_assert_eq(slot_ns_make(env.s, dir, name, &nw, &a), 0, "%s", name);
	return a.ino;
}

static int look(slot_ino_t dir, const char *name, struct slot_attr *a)
{
	struct slot_attr tmp;
	return slot_ns_lookup(env.s, dir, name, a ? a : &tmp);
}

/* The store's first checkpoint of this open: the journal continues it. */
static void first_ckpt(void)
{
	sl_lock(env.s);
	sl_dirty(env.s);
	sl_unlock(env.s);
	cr_assert_eq(slot_checkpoint(env.s, true), 1);
	cr_assert_eq(env.s->jnl_ckpt_id, env.s->jnl_id);
}

/* Crash (slot_abandon writes nothing more), and open again. */
static void crash(void)
{
	slot_abandon(env.s);
	env.s = NULL;
	int err = slot_open_dev(env.dev, &env.opts, &env.s);
	cr_assert_eq(err, 0, "open after the crash: %s", slot_strerror(err));
}

Test(jnl, dir_fsync_writes_the_changes_not_the_index)
{
	slot_ino_t d = mk(SLOT_ROOT_INO, "d", S_IFDIR | 0755);
	slot_ino_t gone = t_mkfile(env.s, "gone");
	first_ckpt();
	uint64_t ckpts = env.s->ckpt_count;

	slot_ino_t a = t_mkfile(env.s, "a");
	slot_ino_t sub = mk(d, "sub", S_IFDIR | 0700);
	struct slot_attr la;
	cr_assert_eq(slot_ns_symlink(env.s, sub, "l", "../a", 0, 0, &la), 0);
	mk(sub, "fifo", S_IFIFO | 0600);
	cr_assert_eq(slot_ns_link(env.s, a, d, "a2", NULL), 0);
	cr_assert_eq(slot_ns_rename(env.s, SLOT_ROOT_INO, "a", SLOT_ROOT_INO,
				    "b", 0), 0);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "gone"), 0);
	cr_assert_eq(slot_dir_fsync(env.s, SLOT_ROOT_INO), 0);
	cr_expect_eq(env.s->ckpt_count, ckpts, "the sync took a checkpoint");
	cr_expect_eq(atomic_load(&env.s->jnl_writes), 1);

	crash();
	struct slot_attr at;
	cr_expect_eq(look(SLOT_ROOT_INO, "a", NULL), -ENOENT);
	cr_assert_eq(look(SLOT_ROOT_INO, "b", &at), 0);
	cr_expect_eq(at.ino, a);
	cr_expect_eq(at.nlink, 2);
	cr_expect_eq(look(d, "a2", &at), 0);
	cr_expect_eq(at.ino, a);
	cr_expect_eq(look(SLOT_ROOT_INO, "gone", NULL), -ENOENT);
	cr_expect_eq(look(d, "sub", &at), 0);
	cr_expect_eq(at.ino, sub);
	cr_expect_eq(at.mode, S_IFDIR | 0700);
	cr_expect_eq(look(sub, "fifo", &at), 0);
	cr_expect_eq(at.mode, S_IFIFO | 0600);
	char tgt[16] = { 0 };
	cr_expect_eq(slot_ns_readlink(env.s, la.ino, tgt, sizeof(tgt)), 4);
	cr_expect_str_eq(tgt, "../a");
	(void)gone;
	t_fsck_clean(&env);
}

/* A replaced name, an exchange and a directory moved, in one slot. */
Test(jnl, renames_replay_in_order)
{
	slot_ino_t d1 = mk(SLOT_ROOT_INO, "d1", S_IFDIR | 0755);
	slot_ino_t d2 = mk(SLOT_ROOT_INO, "d2", S_IFDIR | 0755);
	slot_ino_t x = t_mkfile(env.s, "x");
	slot_ino_t y = t_mkfile(env.s, "y");
	first_ckpt();
	slot_ino_t z = t_mkfile(env.s, "z");
	cr_assert_eq(slot_ns_rename(env.s, SLOT_ROOT_INO, "z", SLOT_ROOT_INO,
				    "x", 0), 0);        /* replaces x */
	cr_assert_eq(slot_ns_rename(env.s, SLOT_ROOT_INO, "x", SLOT_ROOT_INO,
				    "y", SLOT_RENAME_EXCHANGE), 0);
	cr_assert_eq(slot_ns_rename(env.s, SLOT_ROOT_INO, "d2", d1, "in", 0), 0);
	cr_assert_eq(slot_ns_rename(env.s, SLOT_ROOT_INO, "y", d1, "z", 0), 0);
	cr_assert_eq(slot_sync(env.s), 0);
	crash();
	struct slot_attr at;
	cr_expect_eq(look(SLOT_ROOT_INO, "x", &at), 0);
	cr_expect_eq(at.ino, y);
	cr_expect_eq(look(d1, "z", &at), 0);
	cr_expect_eq(at.ino, z);
	cr_expect_eq(look(SLOT_ROOT_INO, "y", NULL), -ENOENT);
	cr_expect_eq(look(SLOT_ROOT_INO, "d2", NULL), -ENOENT);
	cr_expect_eq(look(d1, "in", &at), 0);
	cr_expect_eq(at.ino, d2);
	cr_expect_eq(slot_ns_getattr(env.s, x, &at), -ENOENT, "x was replaced");
	cr_expect_eq(slot_ns_getattr(env.s, d1, &at), 0);
	cr_expect_eq(at.nlink, 3);
	t_fsck_clean(&env);
}

/* A file whose name the journal made durable, written and synced, then
 * deleted without a sync: its slots are not reused before the deletion
 * is durable, so the crash brings it back whole, not empty. */
Test(jnl, a_deleted_file_keeps_its_slots_until_the_deletion_is_durable)
{
	first_ckpt();
	char *buf = malloc(16384), *got = malloc(16384);
	t_fill(buf, 16384, 7);
	slot_ino_t f = t_mkfile(env.s, "f");
	cr_assert_eq(slot_file_write(env.s, f, 0, buf, 16384), 16384);
	cr_assert_eq(slot_dir_fsync(env.s, SLOT_ROOT_INO), 0);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "f"), 0);
	cr_assert_eq(sl_flush(env.s), 0);
	/* the next writes of that size: the freed slot first */
	for (int i = 0; i < 4; i++) {
		char nm[8];
		snprintf(nm, sizeof(nm), "g%d", i);
		slot_ino_t g = t_mkfile(env.s, nm);
		t_fill(got, 16384, 100 + (unsigned)i);
		cr_assert_eq(slot_file_write(env.s, g, 0, got, 16384), 16384);
		cr_assert_eq(slot_file_fsync(env.s, g, false), 0);
	}
	crash();
	struct slot_attr at;
	if (look(SLOT_ROOT_INO, "f", &at) == 0) {
		cr_expect_eq(at.size, 16384, "f came back %llu bytes long",
			     (unsigned long long)at.size);
		cr_expect_eq(slot_file_read(env.s, at.ino, 0, got, 16384), 16384);
		cr_expect(memcmp(got, buf, 16384) == 0, "f's bytes differ");
	}
	free(buf);
	free(got);
	t_fsck_clean(&env);
}

/* The journal of another open does not continue this one's checkpoint,
 * whatever its lsn. */
Test(jnl, a_journal_of_another_open_is_not_replayed)
{
	first_ckpt();
	t_mkfile(env.s, "x");
	cr_assert_eq(slot_sync(env.s), 0);
	cr_assert_eq(atomic_load(&env.s->jnl_writes), 1);
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "x"), 0);
	first_ckpt();           /* lsn 0 again, under a new id */
	crash();
	cr_expect_eq(look(SLOT_ROOT_INO, "x", NULL), -ENOENT);
	t_fsck_clean(&env);
}

/* A journal slot lost: those after it are not replayed either. */
Test(jnl, replay_stops_at_a_gap)
{
	first_ckpt();
	t_mkfile(env.s, "one");
	cr_assert_eq(slot_sync(env.s), 0);
	t_mkfile(env.s, "two");
	cr_assert_eq(slot_sync(env.s), 0);
	cr_assert_eq(env.s->jnl_slots.n, 2);
	uint64_t first = env.s->jnl_slots.v[0];
	uint64_t off = sl_slot_off(env.s, first);
	slot_abandon(env.s);
	memset(slot_emu_image(env.emu) + off, 0, SL_BLOCK);
	t_reopen(&env);
	cr_expect_eq(look(SLOT_ROOT_INO, "one", NULL), -ENOENT);
	cr_expect_eq(look(SLOT_ROOT_INO, "two", NULL), -ENOENT);
	t_fsck_clean(&env);
}

/* What the journal does not carry still takes a checkpoint. */
Test(jnl, an_attribute_change_still_takes_a_checkpoint)
{
	slot_ino_t d = mk(SLOT_ROOT_INO, "d", S_IFDIR | 0755);
	first_ckpt();
	uint64_t ckpts = env.s->ckpt_count;
	struct slot_attr in = { .mode = 0700 };
	cr_assert_eq(slot_ns_setattr(env.s, d, &in, SLOT_SET_MODE, NULL), 0);
	cr_assert_eq(slot_dir_fsync(env.s, SLOT_ROOT_INO), 0);
	cr_expect_eq(env.s->ckpt_count, ckpts + 1);
	crash();
	struct slot_attr at;
	cr_assert_eq(slot_ns_getattr(env.s, d, &at), 0);
	cr_expect_eq(at.mode, S_IFDIR | 0700);
}

/* A key put after the checkpoint has its name in its slot headers alone;
 * unlinked through the file face and synced, it stays gone. */
Test(jnl, a_put_key_unlinked_stays_gone)
{
	first_ckpt();
	char buf[3000];
	t_fill(buf, sizeof(buf), 3);
	cr_assert_eq(t_put1(env.s, "k", buf, sizeof(buf)), 0);
	cr_assert_eq(t_put1(env.s, "j", buf, sizeof(buf)), 0);
	cr_assert_eq(slot_sync(env.s), 0);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "k"), 0);
	cr_assert_eq(slot_ns_rename(env.s, SLOT_ROOT_INO, "j", SLOT_ROOT_INO,
				    "j2", 0), 0);
	cr_assert_eq(slot_sync(env.s), 0);
	crash();
	cr_expect_eq(look(SLOT_ROOT_INO, "k", NULL), -ENOENT);
	cr_expect_eq(look(SLOT_ROOT_INO, "j", NULL), -ENOENT);
	cr_expect_eq(t_get_cmp(env.s, "j2", buf, sizeof(buf)), 0);
	t_fsck_clean(&env);
}

/* fsync of a file takes the names changed before it: a file synced,
 * unlinked, and made and synced again under its name does not come back
 * beside the new one (in /lost+found). */
Test(jnl, an_fsync_takes_the_unlink_before_it)
{
	first_ckpt();
	char a[5000], b[7000];
	t_fill(a, sizeof(a), 1);
	t_fill(b, sizeof(b), 2);
	slot_ino_t f = t_mkfile(env.s, "journal");
	cr_assert_eq(slot_file_write(env.s, f, 0, a, sizeof(a)), (ssize_t)sizeof(a));
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "journal"), 0);
	slot_ino_t g = t_mkfile(env.s, "journal");
	cr_assert_eq(slot_file_write(env.s, g, 0, b, sizeof(b)), (ssize_t)sizeof(b));
	cr_assert_eq(slot_file_fsync(env.s, g, false), 0);
	crash();
	struct slot_attr at;
	cr_assert_eq(look(SLOT_ROOT_INO, "journal", &at), 0);
	cr_expect_eq(at.ino, g);
	cr_expect_eq(at.size, sizeof(b));
	cr_expect_eq(look(SLOT_ROOT_INO, "lost+found", NULL), -ENOENT,
		     "the unlinked file came back");
	t_fsck_clean(&env);
}

/* Journal slots are freed by the checkpoint that holds their changes; a
 * long run of syncs with no checkpoint between takes one itself, so the
 * slots in use stay bounded. */
Test(jnl, journal_slots_in_use_stay_bounded)
{
	first_ckpt();
	uint64_t ckpts = env.s->ckpt_count;
	for (int i = 0; i < 1100; i++) {
		char nm[16];
		snprintf(nm, sizeof(nm), "f%d", i);
		t_mkfile(env.s, nm);
		cr_assert_eq(slot_sync(env.s), 0);
		cr_assert_leq(env.s->jnl_slots.n, 1024);
	}
	cr_expect_eq(env.s->ckpt_count, ckpts + 1);
	cr_expect_eq(atomic_load(&env.s->jnl_writes), 1099);
	crash();
	struct slot_attr at;
	cr_expect_eq(look(SLOT_ROOT_INO, "f0", &at), 0);
	cr_expect_eq(look(SLOT_ROOT_INO, "f1099", &at), 0);
}

/* A file the journal made takes its name from the journal: renamed while
 * the journal waits for a checkpoint, its slot headers' new name does not
 * make the rename durable, so its fsync takes the checkpoint. */
Test(jnl, a_journaled_file_renamed_while_the_journal_waits)
{
	first_ckpt();
	slot_ino_t f = t_mkfile(env.s, "f");
	cr_assert_eq(slot_sync(env.s), 0);
	cr_assert_eq(atomic_load(&env.s->jnl_writes), 1);
	/* a change the journal does not carry: it waits for a checkpoint */
	cr_assert_eq(slot_xattr_set(env.s, SLOT_ROOT_INO, "user.x", "1", 1, 0), 0);
	cr_assert_eq(slot_ns_rename(env.s, SLOT_ROOT_INO, "f", SLOT_ROOT_INO,
				    "g", 0), 0);
	char buf[6000];
	t_fill(buf, sizeof(buf), 4);
	cr_assert_eq(slot_file_write(env.s, f, 0, buf, sizeof(buf)),
		     (ssize_t)sizeof(buf));
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	crash();
	struct slot_attr at;
	cr_expect_eq(look(SLOT_ROOT_INO, "g", &at), 0, "the fsync'd name is gone");
	cr_expect_eq(look(SLOT_ROOT_INO, "f", NULL), -ENOENT);
	t_fsck_clean(&env);
}
