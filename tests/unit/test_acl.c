/* SPDX-License-Identifier: MIT */
/* test_acl.c - POSIX ACLs: the checks, the mode kept in step, chmod,
 * inheritance at create and again at recovery, loading. */
#include <errno.h>
#include <sys/stat.h>

#include "helpers.h"
#include "internal.h"     /* object marks and load counts, white-box */

static struct t_env env;
static void setup(void) { t_setup(&env, 128ull << 20); }
static void teardown(void) { t_teardown(&env); }
TestSuite(acl, .init = setup, .fini = teardown, .timeout = 60);

enum { UO = 1, U = 2, GO = 4, G = 8, M = 0x10, O = 0x20 };
#define NOID 0xffffffffu

struct ent { uint16_t tag, perm; uint32_t id; };

/* An ACL in the Linux xattr form, in a static buffer. */
static size_t acl_make(const struct ent *e, size_t n, uint8_t *buf)
{
	sl_put32(buf, 2);
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = buf + 4 + 8 * i;
		sl_put16(p, e[i].tag);
		sl_put16(p + 2, e[i].perm);
		sl_put32(p + 4, e[i].id);
	}
	return 4 + 8 * n;
}

#define ACL(buf, ...) acl_make((const struct ent[]){ __VA_ARGS__ }, \
	sizeof((const struct ent[]){ __VA_ARGS__ }) / sizeof(struct ent), buf)

static slot_ino_t mkobj(slot_ino_t dir, const char *name, uint32_t mode)
{
	struct slot_attr a;
	struct slot_ns_new nw = { .mode = mode,
				  .target = S_ISLNK(mode) ? "t" : NULL };
	cr_assert_eq(slot_ns_make(env.s, dir, name, &nw, &a), 0, "%s", name);
	return a.ino;
}

static uint32_t mode_of(slot_ino_t ino)
{
	struct slot_attr a;
	cr_assert_eq(slot_ns_getattr(env.s, ino, &a), 0);
	return a.mode & 07777;
}

/* ino's ACL of that name is exactly want[0, len) */
static void expect_acl(slot_ino_t ino, const char *name, const uint8_t *want,
		       size_t len)
{
	uint8_t got[512];
	ssize_t n = slot_xattr_get(env.s, ino, name, got, sizeof(got));
	cr_expect_eq(n, (ssize_t)len, "%s: %zd bytes, want %zu", name, n, len);
	if (n == (ssize_t)len)
		cr_expect(memcmp(got, want, len) == 0, "%s differs", name);
}

static int set_acl(slot_ino_t ino, const char *name, const uint8_t *v,
		   size_t len)
{
	return slot_xattr_set(env.s, ino, name, v, len, 0);
}

/* Directory "d" with the default ACL dflt[0, n). */
static slot_ino_t mkdir_default(const uint8_t *dflt, size_t n)
{
	slot_ino_t d = mkobj(SLOT_ROOT_INO, "d", S_IFDIR | 0755);
	cr_assert_eq(set_acl(d, SLOT_XATTR_ACL_DEFAULT, dflt, n), 0);
	return d;
}

static uint64_t checkpoints(void)
{
	struct slot_status st;
	cr_assert_eq(slot_status_get(env.s, &st), 0);
	return st.checkpoints;
}

/* ino's data and slot headers to the device, but no checkpoint: as a
 * release writes them out before a crash. */
static void flush_past_the_checkpoint(slot_ino_t ino)
{
	uint64_t before = checkpoints();
	cr_assert_eq(sl_file_flush(env.s, ino), 0);
	cr_assert_eq(sl_flush(env.s), 0);
	cr_assert_eq(checkpoints(), before, "the flush took a checkpoint");
}

/* A byte written at off goes out in a slot header of ino, no
 * checkpoint nor journal slot after it, then a crash. */
static void header_then_crash(slot_ino_t ino, uint64_t off)
{
	cr_assert_eq(slot_file_write(env.s, ino, off, "w", 1), 1);
	flush_past_the_checkpoint(ino);
	slot_abandon(env.s);
	t_reopen(&env);
}

/* After a crash, ino's mode and access ACL are one of the two states
 * given (ACL length 0: none), together. */
static void expect_state(slot_ino_t ino, uint32_t mode1, const uint8_t *acl1,
			 size_t len1, uint32_t mode2, const uint8_t *acl2,
			 size_t len2)
{
	uint8_t got[512];
	ssize_t n = slot_xattr_get(env.s, ino, SLOT_XATTR_ACL_ACCESS, got,
				   sizeof(got));
	size_t len = n > 0 ? (size_t)n : 0;
	uint32_t mode = mode_of(ino);
	bool one = mode == mode1 && len == len1 &&
		   (!len || !memcmp(got, acl1, len));
	bool two = mode == mode2 && len == len2 &&
		   (!len || !memcmp(got, acl2, len));
	cr_expect(one || two, "mode %o with an ACL of %zu bytes: a state "
		  "the file never had", mode, len);
}

/* What the kernel's posix_acl_valid refuses, the store refuses too. */
Test(acl, values_are_checked)
{
	slot_ino_t f = mkobj(SLOT_ROOT_INO, "f", S_IFREG | 0644);
	uint8_t b[256];
	size_t n;
	const char *A = SLOT_XATTR_ACL_ACCESS;

	n = ACL(b, { UO, 6, NOID }, { GO, 4, NOID }, { O, 4, NOID });
	cr_expect_eq(set_acl(f, A, b, n), 0, "a minimal ACL");
	sl_put32(b, 1);
	cr_expect_eq(set_acl(f, A, b, n), -EINVAL, "version 1");
	sl_put32(b, 2);
	cr_expect_eq(set_acl(f, A, b, n - 1), -EINVAL, "a cut entry");
	cr_expect_eq(set_acl(f, A, b, 3), -EINVAL, "a cut header");
	n = ACL(b, { UO, 8, NOID }, { GO, 4, NOID }, { O, 4, NOID });
	cr_expect_eq(set_acl(f, A, b, n), -EINVAL, "a permission past rwx");
	n = ACL(b, { GO, 4, NOID }, { UO, 6, NOID }, { O, 4, NOID });
	cr_expect_eq(set_acl(f, A, b, n), -EINVAL, "out of order");
	n = ACL(b, { UO, 6, NOID }, { U, 6, 7 }, { GO, 4, NOID }, { O, 4, NOID });
	cr_expect_eq(set_acl(f, A, b, n), -EINVAL, "a named user, no mask");
	n = ACL(b, { UO, 6, NOID }, { UO, 6, NOID }, { GO, 4, NOID },
		{ O, 4, NOID });
	cr_expect_eq(set_acl(f, A, b, n), -EINVAL, "two owners");
	n = ACL(b, { UO, 6, NOID }, { GO, 4, NOID });
	cr_expect_eq(set_acl(f, A, b, n), -EINVAL, "no others");
	n = ACL(b, { UO, 6, NOID }, { GO, 4, NOID }, { O, 4, NOID },
		{ M, 4, NOID });
	cr_expect_eq(set_acl(f, A, b, n), -EINVAL, "the mask after others");
	n = ACL(b, { UO, 6, NOID }, { 0x40, 4, 1 }, { GO, 4, NOID },
		{ O, 4, NOID });
	cr_expect_eq(set_acl(f, A, b, n), -EINVAL, "an unknown tag");
	n = ACL(b, { UO, 6, NOID }, { U, 6, 7 }, { GO, 4, NOID },
		{ G, 2, 9 }, { M, 6, NOID }, { O, 4, NOID });
	cr_expect_eq(set_acl(f, A, b, n), 0, "named entries with a mask");
	/* no other system. name means anything */
	cr_expect_eq(slot_xattr_set(env.s, f, "system.foo", "x", 1, 0),
		     -EOPNOTSUPP);
	cr_expect_eq(slot_xattr_remove(env.s, f, "system.foo"), -EOPNOTSUPP);
}

Test(acl, an_access_acl_sets_the_mode_bits)
{
	slot_ino_t f = mkobj(SLOT_ROOT_INO, "f", S_IFREG | 04644);
	uint8_t b[256];
	size_t n = ACL(b, { UO, 6, NOID }, { U, 7, 1000 }, { GO, 4, NOID },
		       { M, 7, NOID }, { O, 0, NOID });
	cr_assert_eq(set_acl(f, SLOT_XATTR_ACL_ACCESS, b, n), 0);
	/* the group bits are the mask's; set-user-ID stays */
	cr_expect_eq(mode_of(f), 04670, "mode %o", mode_of(f));
	expect_acl(f, SLOT_XATTR_ACL_ACCESS, b, n);
	cr_expect_eq(slot_xattr_list(env.s, f, NULL, 0),
		     (ssize_t)sizeof(SLOT_XATTR_ACL_ACCESS));
	struct slot_geometry geo;
	slot_geometry_get(env.s, &geo);
	cr_expect(geo.acls);
}

/* An ACL the mode bits can say whole is kept as those bits only, as
 * ext4 does: setting one drops an extended ACL. */
Test(acl, an_acl_the_mode_says_is_not_kept)
{
	slot_ino_t f = mkobj(SLOT_ROOT_INO, "f", S_IFREG | 0644);
	uint8_t b[256];
	size_t n = ACL(b, { UO, 7, NOID }, { GO, 5, NOID }, { O, 0, NOID });
	cr_assert_eq(set_acl(f, SLOT_XATTR_ACL_ACCESS, b, n), 0);
	cr_expect_eq(mode_of(f), 0750, "mode %o", mode_of(f));
	cr_expect_eq(slot_xattr_get(env.s, f, SLOT_XATTR_ACL_ACCESS, NULL, 0),
		     -ENODATA);
	cr_expect_eq(env.s->ix.xa_count, 0);
	struct slot_geometry geo;
	slot_geometry_get(env.s, &geo);
	cr_expect(!geo.acls, "no ACL was kept");

	n = ACL(b, { UO, 6, NOID }, { U, 4, 5 }, { GO, 4, NOID },
		{ M, 4, NOID }, { O, 4, NOID });
	cr_assert_eq(set_acl(f, SLOT_XATTR_ACL_ACCESS, b, n), 0);
	cr_assert_eq(slot_xattr_set(env.s, f, "user.keep", "k", 1, 0), 0);
	n = ACL(b, { UO, 6, NOID }, { GO, 0, NOID }, { O, 0, NOID });
	cr_assert_eq(set_acl(f, SLOT_XATTR_ACL_ACCESS, b, n), 0);
	cr_expect_eq(mode_of(f), 0600);
	cr_expect_eq(slot_xattr_get(env.s, f, SLOT_XATTR_ACL_ACCESS, NULL, 0),
		     -ENODATA, "the extended ACL stayed");
	cr_expect_eq(slot_xattr_get(env.s, f, "user.keep", NULL, 0), 1,
		     "another attribute went with it");
	/* an empty value removes, and removing none is no error */
	n = ACL(b, { UO, 6, NOID }, { U, 4, 5 }, { GO, 4, NOID },
		{ M, 4, NOID }, { O, 4, NOID });
	cr_assert_eq(set_acl(f, SLOT_XATTR_ACL_ACCESS, b, n), 0);
	cr_assert_eq(set_acl(f, SLOT_XATTR_ACL_ACCESS, b, 4), 0);
	cr_expect_eq(slot_xattr_get(env.s, f, SLOT_XATTR_ACL_ACCESS, NULL, 0),
		     -ENODATA);
	cr_expect_eq(set_acl(f, SLOT_XATTR_ACL_ACCESS, b, 4), 0);
}

/* chmod takes the owner, mask and others of the ACL with it. */
Test(acl, chmod_rewrites_the_acl)
{
	slot_ino_t f = mkobj(SLOT_ROOT_INO, "f", S_IFREG | 0644);
	uint8_t b[256], want[256];
	size_t n = ACL(b, { UO, 6, NOID }, { U, 7, 1000 }, { GO, 5, NOID },
		       { G, 1, 50 }, { M, 7, NOID }, { O, 4, NOID });
	cr_assert_eq(set_acl(f, SLOT_XATTR_ACL_ACCESS, b, n), 0);
	struct slot_attr in = { .mode = 0741 }, out;
	cr_assert_eq(slot_ns_setattr(env.s, f, &in, SLOT_SET_MODE, &out), 0);
	cr_expect_eq(out.mode & 07777, 0741);
	size_t w = ACL(want, { UO, 7, NOID }, { U, 7, 1000 }, { GO, 5, NOID },
		       { G, 1, 50 }, { M, 4, NOID }, { O, 1, NOID });
	expect_acl(f, SLOT_XATTR_ACL_ACCESS, want, w);
	/* a change that is not of the mode leaves it */
	in.uid = 3;
	cr_assert_eq(slot_ns_setattr(env.s, f, &in, SLOT_SET_UID, NULL), 0);
	expect_acl(f, SLOT_XATTR_ACL_ACCESS, want, w);
	/* and it holds across a remount */
	cr_assert_eq(slot_close(env.s), 0);
	t_reopen(&env);
	expect_acl(f, SLOT_XATTR_ACL_ACCESS, want, w);
	cr_expect_eq(mode_of(f), 0741);
	cr_expect_eq(env.s->load_bad_xattrs, 0);
	struct slot_geometry geo;
	slot_geometry_get(env.s, &geo);
	cr_expect(geo.acls, "a loaded ACL is not seen");
}

Test(acl, what_may_hold_which)
{
	slot_ino_t f = mkobj(SLOT_ROOT_INO, "f", S_IFREG | 0644);
	slot_ino_t d = mkobj(SLOT_ROOT_INO, "d", S_IFDIR | 0755);
	slot_ino_t l = mkobj(SLOT_ROOT_INO, "l", S_IFLNK);
	uint8_t b[256];
	size_t n = ACL(b, { UO, 7, NOID }, { U, 5, 1 }, { GO, 5, NOID },
		       { M, 5, NOID }, { O, 5, NOID });
	cr_expect_eq(set_acl(f, SLOT_XATTR_ACL_DEFAULT, b, n), -EACCES);
	cr_expect_eq(set_acl(l, SLOT_XATTR_ACL_DEFAULT, b, n), -EACCES);
	cr_expect_eq(set_acl(l, SLOT_XATTR_ACL_ACCESS, b, n), -EOPNOTSUPP);
	cr_expect_eq(set_acl(d, SLOT_XATTR_ACL_DEFAULT, b, n), 0);
	cr_expect_eq(mode_of(d), 0755, "a default ACL moved the mode");
	expect_acl(d, SLOT_XATTR_ACL_DEFAULT, b, n);
	cr_assert_eq(set_acl(d, SLOT_XATTR_ACL_DEFAULT, b, 4), 0);
	cr_expect_eq(slot_xattr_get(env.s, d, SLOT_XATTR_ACL_DEFAULT, NULL, 0),
		     -ENODATA, "an empty default ACL did not remove it");
}

/* POSIX.1e inheritance: the default ACL masked by the create mode, the
 * umask ignored; a directory keeps the default too; a symlink takes
 * nothing; without a default ACL, or without the flag, the umask. */
Test(acl, a_new_object_inherits_the_default_acl)
{
	uint8_t dflt[256], want[256];
	size_t n = ACL(dflt, { UO, 7, NOID }, { U, 7, 1000 }, { GO, 5, NOID },
		       { M, 7, NOID }, { O, 5, NOID });
	slot_ino_t d = mkdir_default(dflt, n);
	struct slot_ns_new nw = { .mode = S_IFREG | 0666, .umask = 077,
				  .flags = SLOT_NS_ACL };
	struct slot_attr a;
	cr_assert_eq(slot_ns_make(env.s, d, "f", &nw, &a), 0);
	cr_expect_eq(a.mode & 07777, 0664, "file mode %o", a.mode & 07777);
	size_t w = ACL(want, { UO, 6, NOID }, { U, 7, 1000 }, { GO, 5, NOID },
		       { M, 6, NOID }, { O, 4, NOID });
	expect_acl(a.ino, SLOT_XATTR_ACL_ACCESS, want, w);
	cr_expect_eq(slot_xattr_get(env.s, a.ino, SLOT_XATTR_ACL_DEFAULT, NULL,
				    0), -ENODATA);

	nw.mode = S_IFDIR | 0777;
	cr_assert_eq(slot_ns_make(env.s, d, "sub", &nw, &a), 0);
	cr_expect_eq(a.mode & 07777, 0775, "dir mode %o", a.mode & 07777);
	w = ACL(want, { UO, 7, NOID }, { U, 7, 1000 }, { GO, 5, NOID },
		{ M, 7, NOID }, { O, 5, NOID });
	expect_acl(a.ino, SLOT_XATTR_ACL_ACCESS, want, w);
	expect_acl(a.ino, SLOT_XATTR_ACL_DEFAULT, dflt, n);
	/* and its children inherit in turn */
	slot_ino_t sub = a.ino;
	nw.mode = S_IFIFO | 0600;
	cr_assert_eq(slot_ns_make(env.s, sub, "fifo", &nw, &a), 0);
	cr_expect_eq(a.mode & 07777, 0600);
	w = ACL(want, { UO, 6, NOID }, { U, 7, 1000 }, { GO, 5, NOID },
		{ M, 0, NOID }, { O, 0, NOID });
	expect_acl(a.ino, SLOT_XATTR_ACL_ACCESS, want, w);

	struct slot_ns_new ln = { .mode = S_IFLNK, .target = "f",
				  .umask = 077, .flags = SLOT_NS_ACL };
	cr_assert_eq(slot_ns_make(env.s, d, "l", &ln, &a), 0);
	cr_expect_eq(a.mode & 07777, 0777);
	cr_expect_eq(slot_xattr_list(env.s, a.ino, NULL, 0), 0);

	/* no flag: the umask, no ACL */
	nw = (struct slot_ns_new){ .mode = S_IFREG | 0666, .umask = 027 };
	cr_assert_eq(slot_ns_make(env.s, d, "plain", &nw, &a), 0);
	cr_expect_eq(a.mode & 07777, 0640);
	cr_expect_eq(slot_xattr_list(env.s, a.ino, NULL, 0), 0);
	/* no default ACL: the umask */
	nw.flags = SLOT_NS_ACL;
	cr_assert_eq(slot_ns_make(env.s, SLOT_ROOT_INO, "top", &nw, &a), 0);
	cr_expect_eq(a.mode & 07777, 0640);
	/* a default ACL the mode can say: the bits masked, no access ACL,
	 * still no umask */
	n = ACL(dflt, { UO, 7, NOID }, { GO, 5, NOID }, { O, 5, NOID });
	cr_assert_eq(set_acl(d, SLOT_XATTR_ACL_DEFAULT, dflt, n), 0);
	nw.umask = 077;
	cr_assert_eq(slot_ns_make(env.s, d, "g", &nw, &a), 0);
	cr_expect_eq(a.mode & 07777, 0644, "mode %o", a.mode & 07777);
	cr_expect_eq(slot_xattr_list(env.s, a.ino, NULL, 0), 0);
}

Test(acl, make_checks_its_arguments)
{
	struct slot_ns_new nw = { .mode = S_IFLNK };
	cr_expect_eq(slot_ns_make(env.s, SLOT_ROOT_INO, "l", &nw, NULL),
		     -EINVAL, "a symlink without a target");
	nw = (struct slot_ns_new){ .mode = S_IFREG, .target = "t" };
	cr_expect_eq(slot_ns_make(env.s, SLOT_ROOT_INO, "f", &nw, NULL),
		     -EINVAL, "a target for a file");
	nw = (struct slot_ns_new){ .mode = 0170000 };
	cr_expect_eq(slot_ns_make(env.s, SLOT_ROOT_INO, "x", &nw, NULL),
		     -EINVAL, "an unknown type");
	nw = (struct slot_ns_new){ .mode = 0644 };
	struct slot_attr a;
	cr_assert_eq(slot_ns_make(env.s, SLOT_ROOT_INO, "plain", &nw, &a), 0);
	cr_expect_eq(a.mode, S_IFREG | 0644, "no type is a file");
	cr_expect_eq(slot_ns_mknod(env.s, SLOT_ROOT_INO, "d", S_IFDIR | 0755,
				   0, 0, 0, NULL), -EINVAL);
}

/*
 * The journal carries what ACLs change, as ext4's does: fsync takes no
 * checkpoint for them (which writes the whole index).  An ACL set where
 * there was none, one changed, one a chmod rewrote, one set whole into
 * the mode (which removes it), a default ACL, and a file and a directory
 * made under it, the directory with no slot to bring it back: after a
 * crash, each is as it was, with its mode.
 */
Test(acl, the_journal_carries_them)
{
	uint8_t dflt[256], b[256], want[256];
	size_t nd = ACL(dflt, { UO, 7, NOID }, { GO, 5, NOID }, { G, 7, 44 },
			{ M, 7, NOID }, { O, 0, NOID });
	slot_ino_t plain = mkobj(SLOT_ROOT_INO, "plain", S_IFREG | 0640);
	slot_ino_t chm = mkobj(SLOT_ROOT_INO, "chmod", S_IFREG | 0644);
	slot_ino_t whole = mkobj(SLOT_ROOT_INO, "whole", S_IFREG | 0644);
	size_t nb = ACL(b, { UO, 6, NOID }, { U, 6, 9 }, { GO, 4, NOID },
			{ M, 6, NOID }, { O, 0, NOID });
	cr_assert_eq(set_acl(chm, SLOT_XATTR_ACL_ACCESS, b, nb), 0);
	cr_assert_eq(set_acl(whole, SLOT_XATTR_ACL_ACCESS, b, nb), 0);
	slot_ino_t d = mkobj(SLOT_ROOT_INO, "d", S_IFDIR | 0755);
	cr_assert_eq(slot_sync(env.s), 0);
	uint64_t before = checkpoints();

	cr_assert_eq(set_acl(plain, SLOT_XATTR_ACL_ACCESS, b, nb), 0);
	struct slot_attr in = { .mode = 0604 };
	cr_assert_eq(slot_ns_setattr(env.s, chm, &in, SLOT_SET_MODE, NULL), 0);
	size_t n = ACL(want, { UO, 6, NOID }, { GO, 0, NOID }, { O, 0, NOID });
	cr_assert_eq(set_acl(whole, SLOT_XATTR_ACL_ACCESS, want, n), 0);
	cr_assert_eq(set_acl(d, SLOT_XATTR_ACL_DEFAULT, dflt, nd), 0);
	struct slot_ns_new nw = { .mode = S_IFREG | 0640,
				  .flags = SLOT_NS_ACL };
	struct slot_attr f, sub;
	cr_assert_eq(slot_ns_make(env.s, d, "f", &nw, &f), 0);
	cr_assert_eq(slot_file_write(env.s, f.ino, 0, "x", 1), 1);
	nw.mode = S_IFDIR | 0750;
	cr_assert_eq(slot_ns_make(env.s, d, "sub", &nw, &sub), 0);
	cr_assert_eq(slot_file_fsync(env.s, f.ino, false), 0);
	cr_assert_eq(slot_sync(env.s), 0);
	cr_expect_eq(checkpoints(), before, "a sync took a checkpoint");

	slot_abandon(env.s);
	t_reopen(&env);
	expect_acl(plain, SLOT_XATTR_ACL_ACCESS, b, nb);
	cr_expect_eq(mode_of(plain), 0660);
	n = ACL(want, { UO, 6, NOID }, { U, 6, 9 }, { GO, 4, NOID },
		{ M, 0, NOID }, { O, 4, NOID });
	expect_acl(chm, SLOT_XATTR_ACL_ACCESS, want, n);
	cr_expect_eq(mode_of(chm), 0604);
	cr_expect_eq(slot_xattr_get(env.s, whole, SLOT_XATTR_ACL_ACCESS, NULL,
				    0), -ENODATA, "the ACL set whole stayed");
	cr_expect_eq(mode_of(whole), 0600);
	expect_acl(d, SLOT_XATTR_ACL_DEFAULT, dflt, nd);
	n = ACL(want, { UO, 6, NOID }, { GO, 5, NOID }, { G, 7, 44 },
		{ M, 4, NOID }, { O, 0, NOID });
	expect_acl(f.ino, SLOT_XATTR_ACL_ACCESS, want, n);
	cr_expect_eq(mode_of(f.ino), 0640);
	struct slot_attr a;
	cr_assert_eq(slot_ns_lookup(env.s, d, "sub", &a), 0, "sub is lost");
	n = ACL(want, { UO, 7, NOID }, { GO, 5, NOID }, { G, 7, 44 },
		{ M, 5, NOID }, { O, 0, NOID });
	expect_acl(sub.ino, SLOT_XATTR_ACL_ACCESS, want, n);
	expect_acl(sub.ino, SLOT_XATTR_ACL_DEFAULT, dflt, nd);
	cr_expect_eq(mode_of(sub.ino), 0750);
}

/*
 * A file made under a default ACL whose data reached the device, in slot
 * headers, before any checkpoint held the file: recovery names it from
 * its header and gives it the ACL inheritance gave, not just the mode
 * bits (whose group bits are the mask's, wider than the owning group's
 * entry).
 */
Test(acl, recovery_inherits_again)
{
	uint8_t dflt[256], want[256];
	size_t n = ACL(dflt, { UO, 7, NOID }, { U, 7, 1000 }, { GO, 0, NOID },
		       { M, 7, NOID }, { O, 0, NOID });
	slot_ino_t d = mkdir_default(dflt, n);
	cr_assert_eq(slot_sync(env.s), 0);
	struct slot_ns_new nw = { .mode = S_IFREG | 0660,
				  .flags = SLOT_NS_ACL };
	struct slot_attr a;
	cr_assert_eq(slot_ns_make(env.s, d, "f", &nw, &a), 0);
	cr_expect_eq(a.mode & 0777, 0660);
	cr_assert_eq(slot_file_write(env.s, a.ino, 0, "data", 4), 4);
	flush_past_the_checkpoint(a.ino);
	slot_abandon(env.s);
	t_reopen(&env);
	struct slot_attr r;
	cr_assert_eq(slot_ns_lookup(env.s, d, "f", &r), 0, "not recovered");
	cr_expect_eq(r.mode & 07777, 0660);
	size_t w = ACL(want, { UO, 6, NOID }, { U, 7, 1000 }, { GO, 0, NOID },
		       { M, 6, NOID }, { O, 0, NOID });
	expect_acl(r.ino, SLOT_XATTR_ACL_ACCESS, want, w);
}

/*
 * A mode that went with an ACL change, carried by a slot header written
 * before any journal slot or checkpoint held the ACL: recovery must not
 * bring back the one without the other.  Here an ACL set on a file that had none widens
 * its group bits to the mask's; the mode without the ACL would give the
 * owning group what only the named user was given.
 */
Test(acl, recovery_keeps_mode_and_acl_together)
{
	slot_ino_t f = mkobj(SLOT_ROOT_INO, "f", S_IFREG | 0640);
	cr_assert_eq(slot_file_write(env.s, f, 0, "x", 1), 1);
	cr_assert_eq(slot_file_fsync(env.s, f, false), 0);
	cr_assert_eq(slot_sync(env.s), 0);
	uint8_t b[256];
	size_t n = ACL(b, { UO, 6, NOID }, { U, 6, 9 }, { GO, 4, NOID },
		       { M, 6, NOID }, { O, 0, NOID });
	cr_assert_eq(set_acl(f, SLOT_XATTR_ACL_ACCESS, b, n), 0);
	cr_assert_eq(mode_of(f), 0660);
	header_then_crash(f, 1);
	expect_state(f, 0640, NULL, 0, 0660, b, n);

	/* and a chmod of a file whose ACL a checkpoint holds */
	cr_assert_eq(set_acl(f, SLOT_XATTR_ACL_ACCESS, b, n), 0);
	cr_assert_eq(slot_sync(env.s), 0);
	struct slot_attr in = { .mode = 0604 };
	cr_assert_eq(slot_ns_setattr(env.s, f, &in, SLOT_SET_MODE, NULL), 0);
	uint8_t c[256];
	size_t m = ACL(c, { UO, 6, NOID }, { U, 6, 9 }, { GO, 4, NOID },
		       { M, 0, NOID }, { O, 4, NOID });
	expect_acl(f, SLOT_XATTR_ACL_ACCESS, c, m);
	header_then_crash(f, 2);
	expect_state(f, 0660, b, n, 0604, c, m);

	/* and an ACL the mode says whole, set over one a checkpoint holds:
	 * it goes, so nothing marks the header that carries its mode */
	cr_assert_eq(set_acl(f, SLOT_XATTR_ACL_ACCESS, b, n), 0);
	cr_assert_eq(slot_sync(env.s), 0);
	m = ACL(c, { UO, 6, NOID }, { GO, 0, NOID }, { O, 0, NOID });
	cr_assert_eq(set_acl(f, SLOT_XATTR_ACL_ACCESS, c, m), 0);
	cr_assert_eq(mode_of(f), 0600);
	header_then_crash(f, 3);
	expect_state(f, 0660, b, n, 0600, NULL, 0);
}

/*
 * The same for a file the journal made whose first slot header went out
 * after an ACL changed its mode: the header is the only one recovery
 * finds, but the journal has the mode, from its MAKE or (the second
 * file, chmod'ed) its SETATTR, which the header is newer than.
 */
Test(acl, a_new_file_keeps_mode_and_acl_together)
{
	slot_ino_t g = mkobj(SLOT_ROOT_INO, "g", S_IFREG | 0640);
	cr_assert_eq(slot_sync(env.s), 0);
	uint64_t before = checkpoints();
	slot_ino_t f[2] = { mkobj(SLOT_ROOT_INO, "f0", S_IFREG | 0640),
			    mkobj(SLOT_ROOT_INO, "f1", S_IFREG | 0644) };
	struct slot_attr in = { .mode = 0640 };
	cr_assert_eq(slot_ns_setattr(env.s, f[1], &in, SLOT_SET_MODE, NULL), 0);
	/* the journal slot holds their MAKEs and the SETATTR too; neither
	 * has a slot yet */
	cr_assert_eq(slot_file_fsync(env.s, g, false), 0);
	cr_assert_eq(checkpoints(), before, "the fsync took a checkpoint");
	uint8_t b[256];
	size_t n = ACL(b, { UO, 6, NOID }, { U, 6, 9 }, { GO, 4, NOID },
		       { M, 6, NOID }, { O, 0, NOID });
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(set_acl(f[i], SLOT_XATTR_ACL_ACCESS, b, n), 0);
		cr_assert_eq(slot_file_write(env.s, f[i], 0, "x", 1), 1);
		flush_past_the_checkpoint(f[i]);
	}
	slot_abandon(env.s);
	t_reopen(&env);
	for (int i = 0; i < 2; i++)
		expect_state(f[i], 0640, NULL, 0, 0660, b, n);
}

/*
 * A file no journal record names yet (made after the last journal write)
 * whose ACL changed its mode before its first write-out: the slot header
 * is all recovery finds of it, with no record of the mode before.  The
 * header gives the mode from before the ACL, which the crash lost.
 */
Test(acl, a_file_the_journal_never_named_keeps_mode_and_acl_together)
{
	/* a checkpoint, which the journal's records go on from */
	mkobj(SLOT_ROOT_INO, "g", S_IFREG | 0640);
	cr_assert_eq(slot_sync(env.s), 0);
	uint64_t before = checkpoints();
	slot_ino_t f = mkobj(SLOT_ROOT_INO, "f", S_IFREG | 0640);
	uint8_t b[256];
	size_t n = ACL(b, { UO, 6, NOID }, { U, 6, 9 }, { GO, 4, NOID },
		       { M, 6, NOID }, { O, 0, NOID });
	cr_assert_eq(set_acl(f, SLOT_XATTR_ACL_ACCESS, b, n), 0);
	cr_assert_eq(mode_of(f), 0660);
	/* a second change before any is durable: the mode before is the
	 * first's */
	uint8_t b2[256];
	size_t n2 = ACL(b2, { UO, 6, NOID }, { U, 7, 9 }, { GO, 4, NOID },
			{ M, 7, NOID }, { O, 0, NOID });
	cr_assert_eq(set_acl(f, SLOT_XATTR_ACL_ACCESS, b2, n2), 0);
	cr_assert_eq(mode_of(f), 0670);
	cr_assert_eq(slot_file_write(env.s, f, 0, "x", 1), 1);
	flush_past_the_checkpoint(f);
	cr_assert_eq(checkpoints(), before, "a checkpoint was taken");
	slot_abandon(env.s);
	t_reopen(&env);
	expect_state(f, 0640, NULL, 0, 0670, b2, n2);
}
