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
	/* the next writes of that size, written out but not synced (an
	 * fsync would journal the unlink): the freed slot first */
	for (int i = 0; i < 4; i++) {
		char nm[8];
		snprintf(nm, sizeof(nm), "g%d", i);
		slot_ino_t g = t_mkfile(env.s, nm);
		t_fill(got, 16384, 100 + (unsigned)i);
		cr_assert_eq(slot_file_write(env.s, g, 0, got, 16384), 16384);
		cr_assert_eq(sl_file_flush(env.s, g), 0);
	}
	cr_assert_eq(sl_flush(env.s), 0);
	crash();
	/* its unlink was not durable: it comes back, whole */
	struct slot_attr at;
	cr_assert_eq(look(SLOT_ROOT_INO, "f", &at), 0);
	cr_expect_eq(at.size, 16384, "f came back %llu bytes long",
		     (unsigned long long)at.size);
	cr_expect_eq(slot_file_read(env.s, at.ino, 0, got, 16384), 16384);
	cr_expect(memcmp(got, buf, 16384) == 0, "f's bytes differ");
	free(buf);
	free(got);
	t_fsck_clean(&env);
}

/* The journal of another open does not continue this one's checkpoint,
 * whatever its lsn: after a crash the journal takes a new id. */
Test(jnl, a_journal_of_another_open_is_not_replayed)
{
	first_ckpt();
	t_mkfile(env.s, "x");
	cr_assert_eq(slot_sync(env.s), 0);
	cr_assert_eq(atomic_load(&env.s->jnl_writes), 1);
	uint64_t id = env.s->jnl_id;
	crash();
	cr_assert_neq(env.s->jnl_id, id);
	cr_assert_eq(env.s->jnl_ckpt_id, env.s->jnl_id, "no checkpoint at open");
	cr_assert_eq(look(SLOT_ROOT_INO, "x", NULL), 0);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "x"), 0);
	first_ckpt();           /* lsn 0 again, under the new id */
	crash();
	cr_expect_eq(look(SLOT_ROOT_INO, "x", NULL), -ENOENT);
	t_fsck_clean(&env);
}

/* After a clean close the journal goes on where the checkpoint left it:
 * the first sync of the next mount writes a journal slot, and a crash
 * then replays it. */
Test(jnl, a_clean_close_leaves_the_journal_ready)
{
	first_ckpt();
	t_mkfile(env.s, "x");
	cr_assert_eq(slot_sync(env.s), 0);
	uint64_t id = env.s->jnl_id;
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	cr_expect_eq(env.s->jnl_id, id);
	uint64_t ckpts = env.s->ckpt_count;
	t_mkfile(env.s, "y");
	cr_assert_eq(slot_ns_rename(env.s, SLOT_ROOT_INO, "x", SLOT_ROOT_INO,
				    "z", 0), 0);
	cr_assert_eq(slot_sync(env.s), 0);
	cr_expect_eq(env.s->ckpt_count, ckpts, "the sync took a checkpoint");
	cr_expect_eq(atomic_load(&env.s->jnl_writes), 1);
	crash();
	cr_expect_eq(look(SLOT_ROOT_INO, "y", NULL), 0);
	cr_expect_eq(look(SLOT_ROOT_INO, "z", NULL), 0);
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
	cr_assert_eq(env.s->jnl_slots.n, 2 * 2);   /* (ref, lsn) pairs */
	uint64_t first = env.s->jnl_slots.v[0];
	uint64_t off = sl_slot_off(env.s, first);
	slot_abandon(env.s);
	memset(slot_emu_image(env.emu) + off, 0, SL_BLOCK);
	t_reopen(&env);
	cr_expect_eq(look(SLOT_ROOT_INO, "one", NULL), -ENOENT);
	cr_expect_eq(look(SLOT_ROOT_INO, "two", NULL), -ENOENT);
	t_fsck_clean(&env);
}

/* Modes, owners and times go in the journal too: a directory's, and an
 * empty file's, which no slot header could carry; a file's with data
 * spares the rewrite of its last chunk. */
Test(jnl, attributes_go_in_the_journal)
{
	slot_ino_t d = mk(SLOT_ROOT_INO, "d", S_IFDIR | 0755);
	slot_ino_t e = t_mkfile(env.s, "empty");
	slot_ino_t f = t_mkfile(env.s, "f");
	char buf[3000];
	t_fill(buf, sizeof(buf), 5);
	cr_assert_eq(slot_file_write(env.s, f, 0, buf, sizeof(buf)),
		     (ssize_t)sizeof(buf));
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	first_ckpt();
	uint64_t ckpts = env.s->ckpt_count;
	struct slot_attr in = { .mode = 0700, .uid = 7, .gid = 8,
				.mtime = { .tv_sec = 1000000000, .tv_nsec = 5 } };
	cr_assert_eq(slot_ns_setattr(env.s, d, &in, SLOT_SET_MODE, NULL), 0);
	cr_assert_eq(slot_ns_setattr(env.s, e, &in, SLOT_SET_UID | SLOT_SET_GID |
				     SLOT_SET_MTIME, NULL), 0);
	in.mode = 0600;
	cr_assert_eq(slot_ns_setattr(env.s, f, &in, SLOT_SET_MODE, NULL), 0);
	uint64_t writes = slot_emu_writes(env.emu);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_expect_eq(slot_emu_writes(env.emu), writes + 1,
		     "one journal slot, no chunk rewritten");
	cr_assert_eq(slot_dir_fsync(env.s, SLOT_ROOT_INO), 0);
	cr_expect_eq(env.s->ckpt_count, ckpts, "a sync took a checkpoint");
	crash();
	struct slot_attr at;
	cr_assert_eq(slot_ns_getattr(env.s, d, &at), 0);
	cr_expect_eq(at.mode, S_IFDIR | 0700);
	cr_assert_eq(slot_ns_getattr(env.s, e, &at), 0);
	cr_expect_eq(at.uid, 7);
	cr_expect_eq(at.gid, 8);
	cr_expect_eq(at.mtime.tv_sec, 1000000000);
	cr_expect_eq(at.mtime.tv_nsec, 5);
	cr_assert_eq(slot_ns_getattr(env.s, f, &at), 0);
	cr_expect_eq(at.mode, S_IFREG | 0600);
	cr_expect_eq(at.size, sizeof(buf));
	t_fsck_clean(&env);
}

/* What the journal could not take (more records than one journal write
 * holds) still takes a checkpoint. */
Test(jnl, a_change_the_journal_could_not_take_takes_a_checkpoint)
{
	slot_ino_t d = mk(SLOT_ROOT_INO, "d", S_IFDIR | 0755);
	first_ckpt();
	uint64_t ckpts = env.s->ckpt_count;
	cr_assert_eq(t_unjournaled_change(env.s, d), 0);
	cr_assert_eq(slot_dir_fsync(env.s, SLOT_ROOT_INO), 0);
	cr_expect_eq(env.s->ckpt_count, ckpts + 1);
	crash();
	cr_expect_eq(slot_xattr_get(env.s, d, "user.unjournaled", NULL, 0),
		     T_UNJOURNALED_LEN);
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

/*
 * The key-value face's names go in the journal too: the directories a put
 * makes for its key, a deleted key and the directories it empties.  Syncs
 * take no checkpoint, and a crash brings back the names as synced: one
 * deleted from the checkpoint, one put and deleted after it, one put in a
 * new directory and kept, and a directory emptied and one still holding a
 * key.
 */
Test(jnl, key_names_go_in_the_journal)
{
	char a[3000], b[5000];
	t_fill(a, sizeof(a), 1);
	t_fill(b, sizeof(b), 2);
	cr_assert_eq(t_put1(env.s, "old/k", a, sizeof(a)), 0);
	cr_assert_eq(t_put1(env.s, "kept", a, sizeof(a)), 0);
	first_ckpt();
	uint64_t ckpts = env.s->ckpt_count;

	cr_assert_eq(t_put1(env.s, "new/sub/k", b, sizeof(b)), 0);
	cr_assert_eq(t_put1(env.s, "new/gone/k", b, sizeof(b)), 0);
	cr_assert_eq(t_put1(env.s, "brief", b, sizeof(b)), 0);
	cr_assert_eq(slot_sync(env.s), 0);
	cr_expect_eq(env.s->ckpt_count, ckpts, "a put's new directory "
		     "took a checkpoint");
	const char *del[] = { "old/k", "new/gone/k", "brief" };
	cr_assert_eq(slot_delete_many(env.s, del, 3, NULL), 0);
	cr_assert_eq(slot_sync(env.s), 0);
	cr_expect_eq(env.s->ckpt_count, ckpts, "a delete took a checkpoint");

	crash();
	cr_expect_eq(env.s->ckpt_count, 1, "the open's own checkpoint only");
	cr_expect_eq(t_get_cmp(env.s, "kept", a, sizeof(a)), 0);
	cr_expect_eq(t_get_cmp(env.s, "new/sub/k", b, sizeof(b)), 0);
	for (size_t i = 0; i < 3; i++)
		cr_expect_eq(slot_lookup(env.s, del[i], NULL), -ENOENT,
			     "%s came back", del[i]);
	cr_expect_eq(look(SLOT_ROOT_INO, "old", NULL), -ENOENT,
		     "an emptied directory came back");
	struct slot_attr at;
	cr_assert_eq(look(SLOT_ROOT_INO, "new", &at), 0);
	cr_expect_eq(look(at.ino, "gone", NULL), -ENOENT,
		     "an emptied directory came back");
	cr_expect_eq(at.nlink, 3, "new's link count");
	cr_expect_eq(look(SLOT_ROOT_INO, "lost+found", NULL), -ENOENT);
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
		cr_assert_leq(env.s->jnl_slots.n / 2, 1024);
	}
	cr_expect_eq(env.s->ckpt_count, ckpts + 1);
	cr_expect_eq(atomic_load(&env.s->jnl_writes), 1099);
	crash();
	struct slot_attr at;
	cr_expect_eq(look(SLOT_ROOT_INO, "f0", &at), 0);
	cr_expect_eq(look(SLOT_ROOT_INO, "f1099", &at), 0);
}

/* Makes files first..last-1 with 200-byte names (264-byte records). */
static void long_names(int first, int last)
{
	for (int i = first; i < last; i++) {
		char nm[201];
		snprintf(nm, sizeof(nm), "%0200d", i);
		t_mkfile(env.s, nm);
	}
}

/* A sync of more records than one journal slot holds (256 KiB) writes
 * them in several, not a checkpoint; past JN_SYNC_SLOTS it takes one. */
Test(jnl, a_sync_of_many_changes_fills_several_slots)
{
	first_ckpt();
	uint64_t ckpts = env.s->ckpt_count;
	long_names(0, 2500);
	cr_assert_eq(slot_sync(env.s), 0);
	cr_expect_eq(env.s->ckpt_count, ckpts, "the sync took a checkpoint");
	cr_expect_eq(atomic_load(&env.s->jnl_writes), 3);
	crash();
	struct slot_attr at;
	for (int i = 0; i < 2500; i++) {
		char nm[201];
		snprintf(nm, sizeof(nm), "%0200d", i);
		cr_assert_eq(look(SLOT_ROOT_INO, nm, &at), 0, "file %d", i);
	}
	t_fsck_clean(&env);
	/* SETATTR records of 64 bytes: 4 MiB of them fill sixteen */
	ckpts = env.s->ckpt_count;
	struct slot_attr in = { 0 };
	for (int i = 0; i < 16 * 4096 + 1; i++) {
		in.mode = (uint32_t)(i % 2 ? 0600 : 0644);
		cr_assert_eq(slot_ns_setattr(env.s, at.ino, &in, SLOT_SET_MODE,
					     NULL), 0);
	}
	cr_assert_eq(slot_sync(env.s), 0);
	cr_expect_eq(env.s->ckpt_count, ckpts + 1, "sixteen slots' worth "
		     "took no checkpoint");
	t_fsck_clean(&env);
}

/* Cut (or extend) f to size. */
static int cut(slot_ino_t f, uint64_t size)
{
	struct slot_attr in = { .size = size };
	return slot_ns_setattr(env.s, f, &in, SLOT_SET_SIZE, NULL);
}

/* A file of n bytes of seed, synced. */
static slot_ino_t cut_file(const char *name, size_t n, unsigned seed)
{
	char *b = malloc(n);
	cr_assert(b);
	t_fill(b, n, seed);
	slot_ino_t f = t_mkfile(env.s, name);
	cr_assert_eq(slot_file_write(env.s, f, 0, b, n), (ssize_t)n);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	free(b);
	return f;
}

/* A file of n bytes of seed on the device in its slot headers alone, its
 * name in the journal's buffer: an fsync of a file of more than a chunk
 * on a store this small takes a checkpoint (the tail's rewrite would cost
 * more), which would hold it. */
static slot_ino_t header_file(const char *name, size_t n, unsigned seed)
{
	uint64_t ckpts = env.s->ckpt_count;
	char *b = malloc(n);
	cr_assert(b);
	t_fill(b, n, seed);
	slot_ino_t f = t_mkfile(env.s, name);
	cr_assert_eq(slot_file_write(env.s, f, 0, b, n), (ssize_t)n);
	cr_assert_eq(sl_file_flush(env.s, f), 0);
	cr_assert_eq(sl_flush(env.s), 0);
	cr_assert_eq(env.s->ckpt_count, ckpts);
	free(b);
	return f;
}

/* Whether f's bytes [off, off + n) are those of seed from 0 (zeros: seed
 * 0). */
static bool cut_bytes_are(slot_ino_t f, uint64_t off, size_t n,
			  unsigned seed, size_t seed_len)
{
	char *want = calloc(1, seed_len), *got = malloc(n);
	cr_assert(want && got);
	if (seed)
		t_fill(want, seed_len, seed);
	bool same = slot_file_read(env.s, f, off, got, n) == (ssize_t)n &&
		    (seed ? memcmp(got, want + off, n) == 0 :
			    memcmp(got, want, n) == 0);
	free(want);
	free(got);
	return same;
}

/* A truncation goes in the journal: its fsync takes no checkpoint, and a
 * crash brings back the cut, with the chunks it dropped gone, whether the
 * checkpoint (a, c) or slot headers (b) had them.  b is cut inside a
 * chunk (rewritten shorter: growing it again shows zeros); c gets a hole
 * below its new size, where the old chunks must not come back. */
Test(jnl, a_cut_goes_in_the_journal)
{
	const size_t chunk = (size_t)1 << env.s->sb.chunk_shift;
	slot_ino_t a = cut_file("a", 3 * chunk, 1);
	slot_ino_t c = cut_file("c", 2 * chunk + 10, 3);
	first_ckpt();
	slot_ino_t b = header_file("b", 3 * chunk, 2);
	uint64_t ckpts = env.s->ckpt_count, writes = env.s->jnl_writes;

	cr_assert_eq(cut(a, 0), 0);
	cr_assert_eq(slot_file_fsync(env.s, a, false), 0);
	cr_assert_eq(cut(b, chunk + 100), 0);
	cr_assert_eq(slot_file_fsync(env.s, b, true), 0);
	cr_assert_eq(cut(c, 0), 0);
	cr_assert_eq(slot_file_write(env.s, c, 2 * chunk + 5, "z", 1), 1);
	cr_assert_eq(slot_file_fsync(env.s, c, false), 0);
	cr_expect_eq(env.s->ckpt_count, ckpts, "a cut's fsync checkpointed");
	cr_expect_eq(atomic_load(&env.s->jnl_writes), writes + 3);

	crash();
	struct slot_attr at;
	cr_assert_eq(slot_ns_getattr(env.s, a, &at), 0);
	cr_expect_eq(at.size, 0, "a is %llu bytes", (unsigned long long)at.size);
	cr_assert_eq(slot_ns_getattr(env.s, b, &at), 0);
	cr_expect_eq(at.size, chunk + 100, "b is %llu bytes",
		     (unsigned long long)at.size);
	cr_expect(cut_bytes_are(b, 0, chunk + 100, 2, 3 * chunk));
	cr_assert_eq(cut(b, 3 * chunk), 0);
	cr_expect(cut_bytes_are(b, chunk + 100, 2 * chunk - 100, 0, 3 * chunk),
		  "bytes cut from b came back");
	cr_assert_eq(slot_ns_getattr(env.s, c, &at), 0);
	cr_expect_eq(at.size, 2 * chunk + 6, "c is %llu bytes",
		     (unsigned long long)at.size);
	cr_expect(cut_bytes_are(c, 0, 2 * chunk + 5, 0, 2 * chunk + 5),
		  "an old chunk of c came back in its hole");
	char z = 0;
	cr_expect_eq(slot_file_read(env.s, c, 2 * chunk + 5, &z, 1), 1);
	cr_expect_eq(z, 'z');
	t_fsck_clean(&env);
}

/* Files g0..g3 of a chunk each, written and flushed: they take the free
 * slots a file let go of (not yet durably). */
static void write_others(void)
{
	const size_t chunk = (size_t)1 << env.s->sb.chunk_shift;
	char *buf = malloc(chunk);
	cr_assert(buf);
	for (int i = 0; i < 4; i++) {
		char nm[8];
		snprintf(nm, sizeof(nm), "g%d", i);
		slot_ino_t g = t_mkfile(env.s, nm);
		t_fill(buf, chunk, 100 + (unsigned)i);
		cr_assert_eq(slot_file_write(env.s, g, 0, buf, chunk),
			     (ssize_t)chunk);
		cr_assert_eq(sl_file_flush(env.s, g), 0);
	}
	cr_assert_eq(sl_flush(env.s), 0);
	free(buf);
}

/* A file cut and not synced keeps the chunks it dropped until the cut is
 * durable: writes after it do not take their slots, so a crash brings it
 * back whole (its slot headers name them), not with another file's
 * bytes or zeros. */
Test(jnl, a_cut_file_keeps_its_slots_until_the_cut_is_durable)
{
	const size_t chunk = (size_t)1 << env.s->sb.chunk_shift;
	first_ckpt();
	slot_ino_t f = cut_file("f", 2 * chunk, 5);
	cr_assert_eq(cut(f, 0), 0);
	cr_assert_eq(sl_flush(env.s), 0);
	write_others();
	crash();
	struct slot_attr at;
	cr_assert_eq(slot_ns_getattr(env.s, f, &at), 0);
	cr_expect_eq(at.size, 2 * chunk, "f came back %llu bytes long",
		     (unsigned long long)at.size);
	cr_expect(cut_bytes_are(f, 0, 2 * chunk, 5, 2 * chunk),
		  "f's bytes differ");
	t_fsck_clean(&env);
}

/* A punched hole goes in the journal: its fsync takes no checkpoint, and
 * a crash brings back the hole, with the chunks it dropped gone, whether
 * the checkpoint (a) or slot headers (b) had them, the parts around it
 * as they were, and a range zeroed past the end with its size, with a
 * chunk rewritten (c) or none (d). */
Test(jnl, a_hole_goes_in_the_journal)
{
	const size_t chunk = (size_t)1 << env.s->sb.chunk_shift;
	slot_ino_t a = cut_file("a", 3 * chunk, 1);
	first_ckpt();
	slot_ino_t b = header_file("b", 4 * chunk, 2);
	slot_ino_t c = header_file("c", chunk + 10, 3);
	slot_ino_t d = header_file("d", chunk, 4);
	uint64_t ckpts = env.s->ckpt_count;

	/* a: chunk 1 whole; b: the tail of chunk 0, chunks 1 and 2, the
	 * head of chunk 3; c: zeros from inside chunk 0 to past the end */
	cr_assert_eq(slot_file_zero(env.s, a, chunk, chunk, true), 0);
	cr_assert_eq(slot_file_fsync(env.s, a, false), 0);
	cr_assert_eq(slot_file_zero(env.s, b, 100, 3 * chunk, true), 0);
	cr_assert_eq(slot_file_fsync(env.s, b, true), 0);
	cr_assert_eq(slot_file_zero(env.s, c, 5, 2 * chunk, false), 0);
	cr_assert_eq(slot_file_fsync(env.s, c, false), 0);
	cr_assert_eq(slot_file_zero(env.s, d, chunk + 50, 100, false), 0);
	cr_assert_eq(slot_file_fsync(env.s, d, false), 0);
	cr_expect_eq(env.s->ckpt_count, ckpts, "a hole's fsync checkpointed");

	crash();
	struct slot_attr at;
	cr_assert_eq(slot_ns_getattr(env.s, a, &at), 0);
	cr_expect_eq(at.size, 3 * chunk);
	cr_expect(cut_bytes_are(a, 0, chunk, 1, 3 * chunk));
	cr_expect(cut_bytes_are(a, chunk, chunk, 0, chunk),
		  "a's punched chunk came back");
	cr_expect(cut_bytes_are(a, 2 * chunk, chunk, 1, 3 * chunk));
	cr_assert_eq(slot_ns_getattr(env.s, b, &at), 0);
	cr_expect_eq(at.size, 4 * chunk);
	cr_expect(cut_bytes_are(b, 0, 100, 2, 4 * chunk));
	cr_expect(cut_bytes_are(b, 100, 3 * chunk, 0, 3 * chunk),
		  "bytes punched from b came back");
	cr_expect(cut_bytes_are(b, 3 * chunk + 100, chunk - 100, 2, 4 * chunk));
	cr_assert_eq(slot_ns_getattr(env.s, c, &at), 0);
	cr_expect_eq(at.size, 2 * chunk + 5, "c is %llu bytes",
		     (unsigned long long)at.size);
	cr_expect(cut_bytes_are(c, 0, 5, 3, chunk + 10));
	cr_expect(cut_bytes_are(c, 5, 2 * chunk, 0, 2 * chunk),
		  "bytes zeroed in c came back");
	cr_assert_eq(slot_ns_getattr(env.s, d, &at), 0);
	cr_expect_eq(at.size, chunk + 150, "d is %llu bytes",
		     (unsigned long long)at.size);
	t_fsck_clean(&env);
}

/* A file with a hole not synced keeps the chunks it dropped until the
 * hole is durable: writes after it do not take their slots, so a crash
 * brings it back whole (its slot headers name them), not with another
 * file's bytes. */
Test(jnl, a_punched_file_keeps_its_slots_until_the_hole_is_durable)
{
	const size_t chunk = (size_t)1 << env.s->sb.chunk_shift;
	first_ckpt();
	slot_ino_t f = header_file("f", 3 * chunk, 5);
	uint64_t ckpts = env.s->ckpt_count;
	cr_assert_eq(slot_file_zero(env.s, f, 0, 2 * chunk, true), 0);
	cr_assert_eq(sl_flush(env.s), 0);
	write_others();
	cr_assert_eq(env.s->ckpt_count, ckpts);
	crash();
	cr_expect(cut_bytes_are(f, 0, 3 * chunk, 5, 3 * chunk),
		  "f's bytes differ");
	t_fsck_clean(&env);
}

static void *cut_run(void *arg)
{
	slot_ino_t f = *(slot_ino_t *)arg;
	return (void *)(intptr_t)cut(f, ((uint64_t)1 << env.s->sb.chunk_shift) +
					 100);
}

/* A cut inside a chunk rewrites it after its TRUNC is logged: a journal
 * write meanwhile would make the record durable before the chunk it
 * counts on, so none is taken (the caller checkpoints) until the
 * rewrite is done; then the journal carries the cut. */
Test(jnl, no_journal_write_while_a_cut_chunk_is_rewritten)
{
	const size_t chunk = (size_t)1 << env.s->sb.chunk_shift;
	slot_ino_t f = cut_file("f", 2 * chunk, 9);
	first_ckpt();
	t_mkfile(env.s, "g");           /* a record besides the cut's */
	slot_emu_hold_write(env.emu, 1);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, cut_run, &f), 0);
	slot_emu_wait_held(env.emu);    /* the rewrite is at the device */
	bool flushed;
	cr_expect_eq(sl_jnl_sync(env.s, &flushed), -EAGAIN);
	cr_expect(!flushed);
	slot_emu_release(env.emu);
	void *ret;
	pthread_join(th, &ret);
	cr_assert_eq((intptr_t)ret, 0);
	uint64_t writes = atomic_load(&env.s->jnl_writes);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_expect_eq(atomic_load(&env.s->jnl_writes), writes + 1);
	crash();
	struct slot_attr at;
	cr_assert_eq(slot_ns_getattr(env.s, f, &at), 0);
	cr_expect_eq(at.size, chunk + 100);
	cr_expect(cut_bytes_are(f, 0, chunk + 100, 9, 2 * chunk));
	cr_expect_eq(look(SLOT_ROOT_INO, "g", NULL), 0);
	t_fsck_clean(&env);
}

/* A sparse file written out by a sync has headers whose size lags (each
 * chunk's write may be lost without the others, ext.c): nothing but a
 * checkpoint records its size over the hole, and sync finds the file
 * among those noted as they changed, without a walk of the index. */
Test(jnl, a_sync_finds_a_file_whose_size_lags)
{
	const size_t chunk = (size_t)1 << env.s->sb.chunk_shift;
	first_ckpt();
	cr_assert_eq(slot_sync(env.s), 0);      /* the open's walk is done */
	slot_ino_t f = t_mkfile(env.s, "sparse");
	cr_assert_eq(slot_file_write(env.s, f, 0, "a", 1), 1);
	cr_assert_eq(slot_file_write(env.s, f, 3 * chunk, "b", 1), 1);
	uint64_t ckpts = env.s->ckpt_count;
	cr_assert_eq(slot_sync(env.s), 0);
	cr_expect_eq(env.s->ckpt_count, ckpts + 1, "the lagging size took "
		     "no checkpoint");
	crash();
	struct slot_attr at;
	cr_assert_eq(slot_ns_getattr(env.s, f, &at), 0);
	cr_expect_eq(at.size, 3 * chunk + 1, "the file came back %llu bytes "
		     "long", (unsigned long long)at.size);
	t_fsck_clean(&env);
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

/* ------------------------------------------------------------------ */
/* Random names: after each sync, a crash brings back exactly the tree  */
/* the sync saw.                                                        */
/* ------------------------------------------------------------------ */

struct rt_list {
	char *text;
	size_t len, cap;
	slot_ino_t dirs[256];
	char paths[256][128];
	size_t ndirs;
};

static void rt_add(struct rt_list *l, const char *line)
{
	size_t n = strlen(line);
	if (l->len + n + 1 > l->cap) {
		l->cap = (l->len + n + 1) * 2;
		l->text = realloc(l->text, l->cap);
		cr_assert(l->text);
	}
	memcpy(l->text + l->len, line, n + 1);
	l->len += n;
}

struct rt_ctx {
	struct slot_attr a[64];
	char names[64][32];
	size_t n;
};

static int rt_entry(void *arg, const char *name, const struct slot_attr *a,
		    uint64_t next)
{
	struct rt_ctx *c = arg;
	(void)next;
	cr_assert_lt(c->n, 64);
	c->a[c->n] = *a;
	snprintf(c->names[c->n++], 32, "%s", name);
	return 0;
}

/* A hash of a regular file's bytes (FNV-1a). */
static uint32_t rt_bytes(const struct slot_attr *a)
{
	static char buf[8192];
	cr_assert_leq(a->size, sizeof(buf));
	cr_assert_eq(slot_file_read(env.s, a->ino, 0, buf, a->size),
		     (ssize_t)a->size);
	uint32_t h = 2166136261u;
	for (uint64_t i = 0; i < a->size; i++)
		h = (h ^ (uint8_t)buf[i]) * 16777619u;
	return h;
}

/* The tree under dir, a line per name; the directories found (for the
 * next ops) in l->dirs. */
static void rt_walk(struct rt_list *l, slot_ino_t dir, const char *path)
{
	struct rt_ctx c = { .n = 0 };
	if (l->ndirs < 256) {
		l->dirs[l->ndirs] = dir;
		snprintf(l->paths[l->ndirs++], 128, "%s", path);
	}
	cr_assert_eq(slot_ns_readdir(env.s, dir, 0, rt_entry, &c), 0);
	for (size_t i = 0; i < c.n; i++) {
		const struct slot_attr *a = &c.a[i];
		char line[512], tgt[64] = "", sub[160];
		if (S_ISLNK(a->mode))
			slot_ns_readlink(env.s, a->ino, tgt, sizeof(tgt));
		snprintf(line, sizeof(line), "%s/%s %o uid=%u ino=%llu "
			 "nlink=%u size=%llu bytes=%08x %s\n", path,
			 c.names[i], a->mode, a->uid,
			 (unsigned long long)a->ino, a->nlink,
			 S_ISREG(a->mode) ? (unsigned long long)a->size : 0ull,
			 S_ISREG(a->mode) ? rt_bytes(a) : 0u, tgt);
		rt_add(l, line);
		snprintf(sub, sizeof(sub), "%s/%s", path, c.names[i]);
		if (S_ISDIR(a->mode))
			rt_walk(l, a->ino, sub);
	}
}

static int rt_line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of l in sorted order (readdir's order is no durable
 * property: a reload lists in another). */
static void rt_sort(struct rt_list *l)
{
	if (!l->text)
		return;
	char *lines[4096];
	size_t n = 0;
	for (char *save = NULL, *t = strtok_r(l->text, "\n", &save);
	     t && n < 4096; t = strtok_r(NULL, "\n", &save))
		lines[n++] = t;
	qsort(lines, n, sizeof(*lines), rt_line_cmp);
	char *out = malloc(l->len + 2);
	cr_assert(out);
	size_t at = 0;
	for (size_t i = 0; i < n; i++)
		at += (size_t)sprintf(out + at, "%s\n", lines[i]);
	out[at] = 0;
	free(l->text);
	l->text = out;
}

static uint32_t rt_rng(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* One random change among a few names in a few directories (errors are
 * part of the game: a name taken, a directory not empty). */
static void rt_op(uint32_t *x, const struct rt_list *l)
{
	static const char *nm[] = { "a", "b", "c", "d" };
	slot_ino_t d = l->dirs[rt_rng(x) % l->ndirs];
	slot_ino_t d2 = l->dirs[rt_rng(x) % l->ndirs];
	const char *n = nm[rt_rng(x) % 4], *n2 = nm[rt_rng(x) % 4];
	struct slot_attr a;
	struct slot_ns_new nw = { .mode = S_IFREG | 0644 };
	char buf[2000];
	switch (rt_rng(x) % 12) {
	case 11:        /* a cut, inside the data or past it (sparse) */
		if (slot_ns_lookup(env.s, d, n, &a) == 0 && S_ISREG(a.mode))
			cut(a.ino, rt_rng(x) % 4000);
		break;
	case 10:
		if (slot_ns_lookup(env.s, d, n, &a) == 0 && !S_ISLNK(a.mode)) {
			struct slot_attr in = { .mode = rt_rng(x) & 0777,
						.uid = rt_rng(x) % 3 };
			slot_ns_setattr(env.s, a.ino, &in, SLOT_SET_MODE |
					(rt_rng(x) % 2 ? SLOT_SET_UID : 0), NULL);
		}
		break;
	case 0:
		nw.mode = S_IFDIR | 0755;
		slot_ns_make(env.s, d, n, &nw, NULL);
		break;
	case 1:
		if (slot_ns_make(env.s, d, n, &nw, &a) == 0 && rt_rng(x) % 2) {
			t_fill(buf, sizeof(buf), rt_rng(x));
			slot_file_write(env.s, a.ino, 0, buf, 1 + rt_rng(x) % 2000);
		}
		break;
	case 2:
		slot_ns_symlink(env.s, d, n, n2, 0, 0, NULL);
		break;
	case 3:
		if (slot_ns_lookup(env.s, d, n, &a) == 0)
			slot_ns_link(env.s, a.ino, d2, n2, NULL);
		break;
	case 4:
		slot_ns_unlink(env.s, d, n);
		break;
	case 5:
		slot_ns_rmdir(env.s, d, n);
		break;
	case 6:
	case 7:
		slot_ns_rename(env.s, d, n, d2, n2, 0);
		break;
	case 8:
		slot_ns_rename(env.s, d, n, d2, n2, SLOT_RENAME_EXCHANGE);
		break;
	default:
		if (slot_ns_lookup(env.s, d, n, &a) == 0 && S_ISREG(a.mode)) {
			t_fill(buf, sizeof(buf), rt_rng(x));
			slot_file_write(env.s, a.ino, rt_rng(x) % 3000, buf,
					1 + rt_rng(x) % 2000);
			if (rt_rng(x) % 2)
				slot_file_fsync(env.s, a.ino, false);
		}
		break;
	}
}

Test(jnl, random_names_come_back_as_synced, .timeout = 120)
{
	uint64_t journaled = 0, ckpts = 0;
	for (uint32_t seed = 1; seed <= 40; seed++) {
		uint32_t x = seed * 2654435761u;
		for (int round = 0; round < 4; round++) {
			uint64_t ck = env.s->ckpt_count;
			uint64_t before = atomic_load(&env.s->jnl_writes);
			for (int k = 0; k < 30; k++) {
				struct rt_list l = { 0 };
				rt_walk(&l, SLOT_ROOT_INO, "");
				rt_op(&x, &l);
				free(l.text);
			}
			cr_assert_eq(slot_sync(env.s), 0);
			journaled += atomic_load(&env.s->jnl_writes) - before;
			ckpts += env.s->ckpt_count - ck;
			struct rt_list want = { 0 }, got = { 0 };
			rt_walk(&want, SLOT_ROOT_INO, "");
			crash();
			rt_walk(&got, SLOT_ROOT_INO, "");
			rt_sort(&want);
			rt_sort(&got);
			const char *g = got.text ? got.text : "";
			const char *w = want.text ? want.text : "";
			if (strcmp(g, w))
				fprintf(stderr, "synced:\n%s\nafter the crash:\n%s",
					w, g);
			cr_assert_str_eq(g, w, "seed %u round %d", seed, round);
			free(want.text);
			free(got.text);
		}
		/* a fresh store for the next seed */
		t_teardown(&env);
		t_setup(&env, 64ull << 20);
	}
	/* a fresh store's first sync or fsync takes the checkpoint its
	 * journal continues (an open after a crash writes one itself);
	 * every other sync and fsync is the journal's, cuts and names
	 * unlinked from linked files included */
	cr_expect_eq(ckpts, 40, "%llu checkpoints", (unsigned long long)ckpts);
	cr_expect_geq(journaled, 40 * 3, "the journal wrote %llu slots",
		     (unsigned long long)journaled);
}
