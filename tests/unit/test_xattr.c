/* SPDX-License-Identifier: MIT */
/* test_xattr.c - extended attributes: semantics, limits, durability. */
#include <errno.h>
#include <sys/stat.h>

#include "helpers.h"
#include "internal.h"     /* the side table and the superblock, white-box */

static struct t_env env;
static void setup(void) { t_setup(&env, 128ull << 20); }
static void teardown(void) { t_teardown(&env); }
TestSuite(xattr, .init = setup, .fini = teardown, .timeout = 60);

/* name's value, NUL-terminated in a static buffer, or NULL and *err */
static const char *getx(slot_ino_t ino, const char *name, ssize_t *err)
{
	static char buf[SLOT_XATTR_SIZE_MAX + 1];
	ssize_t n = slot_xattr_get(env.s, ino, name, buf, sizeof(buf) - 1);
	*err = n < 0 ? n : 0;
	if (n < 0)
		return NULL;
	buf[n] = 0;
	return buf;
}

static void expect_value(slot_ino_t ino, const char *name, const char *want)
{
	ssize_t err;
	const char *v = getx(ino, name, &err);
	cr_expect_not_null(v, "%s: %zd", name, err);
	if (v)
		cr_expect_str_eq(v, want, "%s", name);
}

static size_t list_names(slot_ino_t ino, char *buf, size_t cap)
{
	ssize_t n = slot_xattr_list(env.s, ino, buf, cap);
	cr_assert_geq(n, 0, "list: %zd", n);
	return (size_t)n;
}

Test(xattr, set_get_list_remove)
{
	slot_ino_t f = t_mkfile(env.s, "f");
	char buf[256];
	cr_expect_eq(slot_xattr_list(env.s, f, buf, sizeof(buf)), 0);
	cr_expect_eq(slot_xattr_get(env.s, f, "user.a", buf, sizeof(buf)),
		     -ENODATA);
	cr_assert_eq(slot_xattr_set(env.s, f, "user.a", "one", 3, 0), 0);
	cr_assert_eq(slot_xattr_set(env.s, f, "user.b", "", 0, 0), 0);
	cr_assert_eq(slot_xattr_set(env.s, f, "security.c", "three", 5, 0), 0);
	expect_value(f, "user.a", "one");
	expect_value(f, "user.b", "");
	/* cap 0 asks the size; a buffer too small is ERANGE */
	cr_expect_eq(slot_xattr_get(env.s, f, "security.c", NULL, 0), 5);
	cr_expect_eq(slot_xattr_get(env.s, f, "security.c", buf, 4), -ERANGE);
	/* replace keeps the others */
	cr_assert_eq(slot_xattr_set(env.s, f, "user.a", "uno!", 4, 0), 0);
	expect_value(f, "user.a", "uno!");
	expect_value(f, "security.c", "three");
	static const char names[] = "user.b\0security.c\0user.a";
	cr_expect_eq(slot_xattr_list(env.s, f, NULL, 0), (ssize_t)sizeof(names));
	cr_expect_eq(slot_xattr_list(env.s, f, buf, 10), -ERANGE);
	cr_assert_eq(list_names(f, buf, sizeof(buf)), sizeof(names));
	cr_expect(memcmp(buf, names, sizeof(names)) == 0, "names: %.*s",
		  (int)sizeof(names), buf);
	cr_assert_eq(slot_xattr_remove(env.s, f, "user.b"), 0);
	cr_expect_eq(slot_xattr_remove(env.s, f, "user.b"), -ENODATA);
	cr_expect_eq(slot_xattr_get(env.s, f, "user.b", buf, sizeof(buf)),
		     -ENODATA);
	cr_assert_eq(slot_xattr_remove(env.s, f, "user.a"), 0);
	cr_assert_eq(slot_xattr_remove(env.s, f, "security.c"), 0);
	cr_expect_eq(slot_xattr_list(env.s, f, buf, sizeof(buf)), 0);
	cr_expect_eq(env.s->ix.xa_count, 0, "the last removal left an entry");
	cr_expect_eq(env.s->ix.xa_ck, 0);
}

Test(xattr, create_and_replace_flags)
{
	slot_ino_t f = t_mkfile(env.s, "f");
	cr_expect_eq(slot_xattr_set(env.s, f, "user.x", "1", 1,
				    SLOT_XATTR_REPLACE), -ENODATA);
	cr_assert_eq(slot_xattr_set(env.s, f, "user.x", "1", 1,
				    SLOT_XATTR_CREATE), 0);
	cr_expect_eq(slot_xattr_set(env.s, f, "user.x", "2", 1,
				    SLOT_XATTR_CREATE), -EEXIST);
	cr_assert_eq(slot_xattr_set(env.s, f, "user.x", "3", 1,
				    SLOT_XATTR_REPLACE), 0);
	expect_value(f, "user.x", "3");
}

Test(xattr, names_and_sizes_at_their_limits)
{
	slot_ino_t f = t_mkfile(env.s, "f");
	char name[SLOT_XATTR_NAME_MAX + 2];
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	cr_expect_eq(slot_xattr_set(env.s, f, name, "v", 1, 0), -ERANGE);
	cr_expect_eq(slot_xattr_set(env.s, f, "", "v", 1, 0), -ERANGE);
	name[SLOT_XATTR_NAME_MAX] = 0;
	cr_expect_eq(slot_xattr_set(env.s, f, name, "v", 1, 0), 0);
	cr_expect_eq(slot_xattr_remove(env.s, f, name), 0);

	static char big[SLOT_XATTR_SIZE_MAX + 1];
	t_fill(big, sizeof(big), 3);
	cr_expect_eq(slot_xattr_set(env.s, f, "user.big", big, sizeof(big), 0),
		     -E2BIG);
	/* one object's names and values: SLOT_XATTR_OBJ_MAX bytes */
	size_t v = SLOT_XATTR_OBJ_MAX - strlen("user.big");
	cr_expect_eq(slot_xattr_set(env.s, f, "user.big", big, v + 1, 0),
		     -ENOSPC);
	cr_assert_eq(slot_xattr_set(env.s, f, "user.big", big, v, 0), 0);
	cr_expect_eq(slot_xattr_set(env.s, f, "user.c", "", 0, 0), -ENOSPC);
	char *out = malloc(v);
	cr_assert_eq(slot_xattr_get(env.s, f, "user.big", out, v), (ssize_t)v);
	cr_expect(memcmp(out, big, v) == 0);
	free(out);
	/* replacing it by a smaller value is always possible */
	cr_expect_eq(slot_xattr_set(env.s, f, "user.big", "s", 1, 0), 0);
	cr_expect_eq(slot_xattr_set(env.s, f, "user.c", "", 0, 0), 0);
}

/* All xattrs live in the checkpoint: when it would not fit in its
 * container the store says ENOSPC, and nothing set before is lost. */
Test(xattr, the_store_room_is_bounded)
{
	static char big[60000];
	t_fill(big, sizeof(big), 5);
	int err = 0, n;
	char name[32];
	for (n = 0; n < 1000 && !err; n++) {
		snprintf(name, sizeof(name), "f%d", n);
		err = slot_xattr_set(env.s, t_mkfile(env.s, name), "user.v", big,
				     sizeof(big), 0);
	}
	cr_assert_eq(err, -ENOSPC, "the %dth set: %d", n, err);
	cr_expect_gt(n, 10);
	/* a small one still fits, and a checkpoint with all of them */
	cr_expect_eq(slot_xattr_set(env.s, SLOT_ROOT_INO, "user.s", "s", 1, 0),
		     0);
	cr_expect_eq(slot_checkpoint(env.s, true), 1);
	/* and they come back */
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	cr_expect_eq(env.s->ix.xa_count, (size_t)n, "objects with xattrs");
	struct slot_attr a;
	cr_assert_eq(slot_ns_lookup(env.s, SLOT_ROOT_INO, "f0", &a), 0);
	char *out = malloc(sizeof(big));
	cr_expect_eq(slot_xattr_get(env.s, a.ino, "user.v", out, sizeof(big)),
		     (ssize_t)sizeof(big));
	cr_expect(memcmp(out, big, sizeof(big)) == 0);
	free(out);
}

/* Many small ones on two objects, set alternately so their records
 * interleave in the checkpoint: all come back, each with its value. */
Test(xattr, many_on_one_object_load_back)
{
	slot_ino_t f = t_mkfile(env.s, "f"), g = t_mkfile(env.s, "g");
	char name[32], val[32];
	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "user.k%d", i);
		snprintf(val, sizeof(val), "v%d", i * 7);
		cr_assert_eq(slot_xattr_set(env.s, i % 3 ? f : g, name, val,
					    strlen(val), 0), 0, "%s", name);
	}
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	cr_expect_eq(env.s->load_bad_xattrs, 0);
	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "user.k%d", i);
		snprintf(val, sizeof(val), "v%d", i * 7);
		expect_value(i % 3 ? f : g, name, val);
	}
	ssize_t nf = slot_xattr_list(env.s, f, NULL, 0);
	ssize_t ng = slot_xattr_list(env.s, g, NULL, 0);
	cr_expect_gt(nf, 0);
	cr_expect_gt(ng, 0);
	struct sl_xattrs *xf = sl_xa_find(&env.s->ix, f);
	struct sl_xattrs *xg = sl_xa_find(&env.s->ix, g);
	cr_assert(xf && xg);
	cr_expect_eq(xf->count + xg->count, 2000);
}

Test(xattr, any_object_type_and_not_inherited_by_a_new_file)
{
	struct slot_attr d, l;
	cr_assert_eq(slot_ns_mkdir(env.s, SLOT_ROOT_INO, "d", 0755, 0, 0, &d), 0);
	cr_assert_eq(slot_ns_symlink(env.s, SLOT_ROOT_INO, "l", "d", 0, 0, &l), 0);
	cr_assert_eq(slot_xattr_set(env.s, d.ino, "user.dir", "D", 1, 0), 0);
	cr_assert_eq(slot_xattr_set(env.s, l.ino, "trusted.l", "L", 1, 0), 0);
	slot_ino_t f = t_mkfile(env.s, "f");
	cr_assert_eq(slot_xattr_set(env.s, f, "user.f", "F", 1, 0), 0);
	cr_expect_eq(slot_xattr_get(env.s, 999999, "user.f", NULL, 0), -ENOENT);
	cr_expect_eq(slot_xattr_set(env.s, 999999, "user.f", "F", 1, 0),
		     -ENOENT);
	/* unlinking frees them; rename over a file drops the target's */
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "f"), 0);
	cr_expect_null(sl_xa_find(&env.s->ix, f));
	slot_ino_t g = t_mkfile(env.s, "g"), h = t_mkfile(env.s, "h");
	cr_assert_eq(slot_xattr_set(env.s, h, "user.h", "H", 1, 0), 0);
	cr_assert_eq(slot_ns_rename(env.s, SLOT_ROOT_INO, "g", SLOT_ROOT_INO,
				    "h", 0), 0);
	cr_expect_null(sl_xa_find(&env.s->ix, h));
	cr_expect_eq(slot_xattr_list(env.s, g, NULL, 0), 0);
	cr_expect_eq(env.s->ix.xa_count, 2);
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	expect_value(d.ino, "user.dir", "D");
	expect_value(l.ino, "trusted.l", "L");
	cr_expect_eq(env.s->ix.xa_count, 2);
}

/* An unlinked file still open keeps its xattrs, as its data. */
Test(xattr, an_open_unlinked_file_keeps_them)
{
	slot_ino_t f = t_mkfile(env.s, "f");
	cr_assert_eq(slot_xattr_set(env.s, f, "user.a", "A", 1, 0), 0);
	cr_assert_eq(slot_ns_hold(env.s, f), 0);
	cr_assert_eq(slot_ns_unlink(env.s, SLOT_ROOT_INO, "f"), 0);
	expect_value(f, "user.a", "A");
	cr_expect_eq(slot_xattr_set(env.s, f, "user.b", "B", 1, 0), 0);
	cr_assert_eq(slot_ns_release(env.s, f), 0);
	cr_expect_null(sl_xa_find(&env.s->ix, f));
}

Test(xattr, the_first_one_sets_the_superblock_feature)
{
	struct sl_sb sb;
	bool backup;
	cr_assert_eq(sl_sb_read(env.dev, &sb, &backup), 0);
	cr_expect_eq(sb.feature_ro_compat & SL_FEAT_RO_COMPAT_XATTR, 0,
		     "a fresh store says it has xattrs");
	slot_ino_t f = t_mkfile(env.s, "f");
	cr_assert_eq(slot_xattr_set(env.s, f, "user.a", "A", 1, 0), 0);
	cr_assert_eq(sl_sb_read(env.dev, &sb, &backup), 0);
	cr_expect_neq(sb.feature_ro_compat & SL_FEAT_RO_COMPAT_XATTR, 0,
		      "the first xattr did not set the feature");
	/* and it survives the close's superblock write */
	cr_assert_eq(slot_close(env.s), 0);
	env.s = NULL;
	cr_assert_eq(sl_sb_read(env.dev, &sb, &backup), 0);
	cr_expect_neq(sb.feature_ro_compat & SL_FEAT_RO_COMPAT_XATTR, 0);
	cr_expect(!backup);
	t_reopen(&env);
	cr_expect(!env.s->read_only);
}

/* The superblock write fails: nothing is set. */
Test(xattr, a_failed_feature_write_sets_nothing)
{
	slot_ino_t f = t_mkfile(env.s, "f");
	slot_emu_fail_writes(env.emu, -EIO);
	cr_expect_eq(slot_xattr_set(env.s, f, "user.a", "A", 1, 0), -EIO);
	slot_emu_fail_writes(env.emu, 0);
	cr_expect_eq(slot_xattr_get(env.s, f, "user.a", NULL, 0), -ENODATA);
	cr_expect_eq(slot_xattr_set(env.s, f, "user.a", "A", 1, 0), 0);
}

/* No slot header carries xattrs: fsync of their file makes them durable
 * (the journal, or a checkpoint), even after a data write made the
 * file's attributes clean. */
Test(xattr, fsync_makes_them_durable)
{
	slot_ino_t f = t_mkfile(env.s, "f");
	cr_assert_eq(slot_file_write(env.s, f, 0, "data", 4), 4);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_eq(slot_xattr_set(env.s, f, "user.a", "A", 1, 0), 0);
	cr_assert_eq(slot_file_write(env.s, f, 4, "more", 4), 4);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	slot_ino_t g = t_mkfile(env.s, "g");
	cr_assert_eq(slot_file_fsync(env.s, g, false), 0);
	cr_assert_eq(slot_xattr_set(env.s, g, "user.g", "G", 1, 0), 0);
	cr_assert_eq(slot_file_fsync(env.s, g, false), 0);
	slot_abandon(env.s);
	t_reopen(&env);
	expect_value(f, "user.a", "A");
	expect_value(g, "user.g", "G");
	/* a removal too */
	cr_assert_eq(slot_xattr_remove(env.s, f, "user.a"), 0);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	slot_abandon(env.s);
	t_reopen(&env);
	cr_expect_eq(slot_xattr_get(env.s, f, "user.a", NULL, 0), -ENODATA);
}

/*
 * fsync puts a changed attribute (set or removed, of any size an object
 * may hold) in the journal, not a checkpoint, which on a store of many
 * files costs milliseconds.  A crash keeps them all, and the ctime.
 */
Test(xattr, fsync_puts_them_in_the_journal)
{
	static char big[SLOT_XATTR_OBJ_MAX];
	memset(big, 'b', sizeof(big));
	/* the largest value one object holds: all its room but the name */
	size_t most = SLOT_XATTR_OBJ_MAX - strlen("user.big");
	slot_ino_t f = t_mkfile(env.s, "f"), g = t_mkfile(env.s, "g");
	struct slot_attr da;
	cr_assert_eq(slot_ns_mkdir(env.s, SLOT_ROOT_INO, "d", 0755, 0, 0, &da),
		     0);
	slot_ino_t d = da.ino;
	cr_assert_eq(slot_xattr_set(env.s, f, "user.gone", "G", 1, 0), 0);
	cr_assert_geq(slot_checkpoint(env.s, true), 0);
	uint64_t ck = env.s->ckpt_count;
	cr_assert_eq(slot_xattr_set(env.s, f, "user.a", "A", 1, 0), 0);
	cr_assert_eq(slot_xattr_set(env.s, f, "user.max", big, 4096, 0), 0);
	cr_assert_eq(slot_xattr_set(env.s, f, "user.empty", "", 0, 0), 0);
	cr_assert_eq(slot_xattr_remove(env.s, f, "user.gone"), 0);
	cr_assert_eq(slot_xattr_set(env.s, d, "user.dir", "D", 1, 0), 0);
	cr_assert_eq(slot_xattr_set(env.s, g, "user.big", big, most, 0), 0);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_expect_eq(env.s->ckpt_count, ck, "fsync took a checkpoint");
	slot_abandon(env.s);
	t_reopen(&env);
	expect_value(f, "user.a", "A");
	cr_expect_eq(slot_xattr_get(env.s, f, "user.max", NULL, 0), 4096);
	cr_expect_eq(slot_xattr_get(env.s, f, "user.empty", NULL, 0), 0);
	static char val[SLOT_XATTR_OBJ_MAX];
	cr_expect_eq(slot_xattr_get(env.s, g, "user.big", val, sizeof(val)),
		     (ssize_t)most);
	cr_expect(!memcmp(val, big, most), "the largest value differs");
	cr_expect_eq(slot_xattr_get(env.s, f, "user.gone", NULL, 0), -ENODATA);
	expect_value(d, "user.dir", "D");
	/* in the journal after a crash's checkpoint too, with the ctime */
	ck = env.s->ckpt_count;
	cr_assert_eq(slot_xattr_set(env.s, f, "user.a", "again", 5, 0), 0);
	struct slot_attr st, got;
	cr_assert_eq(slot_ns_getattr(env.s, f, &st), 0);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_expect_eq(env.s->ckpt_count, ck, "fsync took a checkpoint");
	slot_abandon(env.s);
	t_reopen(&env);
	expect_value(f, "user.a", "again");
	cr_assert_eq(slot_ns_getattr(env.s, f, &got), 0);
	cr_expect(got.ctime.tv_sec == st.ctime.tv_sec &&
		  got.ctime.tv_nsec == st.ctime.tv_nsec, "ctime after a crash");
}

/* A checkpoint that fails leaves the change owed: the next fsync writes
 * it. */
Test(xattr, a_failed_checkpoint_leaves_them_owed)
{
	slot_ino_t f = t_mkfile(env.s, "f");
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_eq(slot_xattr_set(env.s, f, "user.a", "A", 1, 0), 0);
	slot_emu_fail_writes(env.emu, -EIO);
	cr_expect_eq(slot_file_fsync(env.s, f, false), -EIO);
	slot_emu_fail_writes(env.emu, 0);
	/* the failed checkpoint had taken f's mark: it must be back, or
	 * this fsync sees nothing to do */
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	slot_abandon(env.s);
	t_reopen(&env);
	expect_value(f, "user.a", "A");
}

/* Without fsync or sync, the change waits for a checkpoint; a crash
 * before it leaves the previous state, whole. */
Test(xattr, a_crash_before_the_checkpoint_keeps_the_old_state)
{
	slot_ino_t f = t_mkfile(env.s, "f");
	cr_assert_eq(slot_xattr_set(env.s, f, "user.a", "old", 3, 0), 0);
	cr_assert_eq(slot_sync(env.s), 0);
	cr_assert_eq(slot_xattr_set(env.s, f, "user.a", "new", 3, 0), 0);
	cr_assert_eq(slot_xattr_set(env.s, f, "user.b", "B", 1, 0), 0);
	slot_abandon(env.s);
	t_reopen(&env);
	expect_value(f, "user.a", "old");
	cr_expect_eq(slot_xattr_get(env.s, f, "user.b", NULL, 0), -ENODATA);
}

Test(xattr, read_only_store_refuses_changes)
{
	slot_ino_t f = t_mkfile(env.s, "f");
	cr_assert_eq(slot_xattr_set(env.s, f, "user.a", "A", 1, 0), 0);
	cr_assert_eq(slot_close(env.s), 0);
	env.opts.read_only = true;
	t_reopen(&env);
	expect_value(f, "user.a", "A");
	cr_expect_eq(slot_xattr_set(env.s, f, "user.b", "B", 1, 0), -EROFS);
	cr_expect_eq(slot_xattr_remove(env.s, f, "user.a"), -EROFS);
}
