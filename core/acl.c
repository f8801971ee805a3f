/* SPDX-License-Identifier: MIT */
/*
 * acl.c - POSIX.1e access and default ACLs, as Linux passes them in the
 * xattrs system.posix_acl_access and system.posix_acl_default: a le32
 * version (2), then entries of le16 tag, le16 perm, le32 id (FORMAT.md,
 * "ACLs").  The store keeps them as those xattrs; this file knows what
 * they mean for the mode bits, which the store keeps in step (xattr.c,
 * ns.c), as ext4 does.
 */
#include <errno.h>
#include <string.h>

#include "format.h"
#include "slot.h"

int sl_acl_kind(const char *name, size_t nlen)
{
	static const char sys[] = "system.";
	if (nlen < sizeof(sys) - 1 || memcmp(name, sys, sizeof(sys) - 1))
		return SL_ACL_NOT;
	if (nlen == strlen(SLOT_XATTR_ACL_ACCESS) &&
	    !memcmp(name, SLOT_XATTR_ACL_ACCESS, nlen))
		return SL_ACL_ACCESS;
	if (nlen == strlen(SLOT_XATTR_ACL_DEFAULT) &&
	    !memcmp(name, SLOT_XATTR_ACL_DEFAULT, nlen))
		return SL_ACL_DEFAULT;
	return -EOPNOTSUPP;     /* no other system. name means anything here */
}

/*
 * The order the kernel requires (posix_acl_valid): the owner, named users,
 * the owning group, named groups, the mask (needed when there are named
 * entries), others; permissions in rwx only.
 */
int sl_acl_check(const void *value, size_t len)
{
	const uint8_t *p = value;
	if (len < SL_ACL_HDR || len > SLOT_XATTR_SIZE_MAX ||
	    (len - SL_ACL_HDR) % SL_ACL_ENT ||
	    sl_get32(p) != SL_ACL_VERSION)
		return -EINVAL;
	size_t n = (len - SL_ACL_HDR) / SL_ACL_ENT;
	int state = SL_ACL_TAG_USER_OBJ;
	bool named = false;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = p + SL_ACL_HDR + i * SL_ACL_ENT;
		uint16_t tag = sl_get16(e);
		if (sl_get16(e + 2) & ~7u)
			return -EINVAL;
		switch (tag) {
		case SL_ACL_TAG_USER_OBJ:
			if (state != SL_ACL_TAG_USER_OBJ)
				return -EINVAL;
			state = SL_ACL_TAG_USER;
			break;
		case SL_ACL_TAG_USER:
		case SL_ACL_TAG_GROUP:
			if (state != tag)       /* in their own part */
				return -EINVAL;
			named = true;
			break;
		case SL_ACL_TAG_GROUP_OBJ:
			if (state != SL_ACL_TAG_USER)
				return -EINVAL;
			state = SL_ACL_TAG_GROUP;
			break;
		case SL_ACL_TAG_MASK:
			if (state != SL_ACL_TAG_GROUP)
				return -EINVAL;
			state = SL_ACL_TAG_OTHER;
			break;
		case SL_ACL_TAG_OTHER:
			if (state != SL_ACL_TAG_OTHER &&
			    (state != SL_ACL_TAG_GROUP || named))
				return -EINVAL;
			state = 0;
			break;
		default:
			return -EINVAL;
		}
	}
	return n && state ? -EINVAL : (int)n;
}

/* The entries an ACL's mode bits come from and go to. */
struct acl_objs {
	uint8_t *user, *group, *mask, *other;
	bool named;
};

static void acl_objs(uint8_t *v, size_t n, struct acl_objs *o)
{
	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < n; i++) {
		uint8_t *e = v + SL_ACL_HDR + i * SL_ACL_ENT;
		switch (sl_get16(e)) {
		case SL_ACL_TAG_USER_OBJ:  o->user = e; break;
		case SL_ACL_TAG_GROUP_OBJ: o->group = e; break;
		case SL_ACL_TAG_MASK:      o->mask = e; break;
		case SL_ACL_TAG_OTHER:     o->other = e; break;
		default:            o->named = true; break;
		}
	}
}

static uint32_t acl_perm(const uint8_t *e)
{
	return sl_get16(e + 2) & 7u;
}

/* The mode's rwx bits from an ACL's entries; true when it says more
 * than they can (named entries or a mask).  An empty ACL (no entries,
 * which a valid one with any has) says nothing. */
static bool acl_objs_mode(const struct acl_objs *o, uint32_t *mode)
{
	if (!o->user)
		return false;
	*mode = (*mode & ~0777u) | acl_perm(o->user) << 6 |
		acl_perm(o->mask ? o->mask : o->group) << 3 |
		acl_perm(o->other);
	return o->named || o->mask;
}

bool sl_acl_mode(const void *value, size_t n, uint32_t *mode)
{
	struct acl_objs o;
	acl_objs((uint8_t *)value, n, &o);
	return acl_objs_mode(&o, mode);
}

/* chmod: the owner, the mask (the owning group without one) and others
 * take the new bits; named entries keep theirs (posix_acl_chmod). */
void sl_acl_chmod(void *value, size_t n, uint32_t mode)
{
	struct acl_objs o;
	acl_objs(value, n, &o);
	if (!o.user)
		return;
	sl_put16(o.user + 2, (mode >> 6) & 7);
	sl_put16((o.mask ? o.mask : o.group) + 2, (mode >> 3) & 7);
	sl_put16(o.other + 2, mode & 7);
}

/* A new object's access ACL from its directory's default: each of those
 * entries masked by the create mode, and the mode from the result
 * (posix_acl_create_masq). */
bool sl_acl_create_mask(void *value, size_t n, uint32_t *mode)
{
	struct acl_objs o;
	acl_objs(value, n, &o);
	if (!o.user)
		return false;
	sl_put16(o.user + 2, acl_perm(o.user) & ((*mode >> 6) & 7));
	uint8_t *g = o.mask ? o.mask : o.group;
	sl_put16(g + 2, acl_perm(g) & ((*mode >> 3) & 7));
	sl_put16(o.other + 2, acl_perm(o.other) & (*mode & 7));
	return acl_objs_mode(&o, mode);
}
