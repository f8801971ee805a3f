/* SPDX-License-Identifier: MIT */
/* fsck.c - check and repair (being written) */
#include "internal.h"

int slot_fsck(struct slot_dev *dev, const struct slot_fsck_opts *o,
	      struct slot_fsck_result *r)
{
	memset(r, 0, sizeof(*r));
	r->exit_code = SLOT_FSCK_ERROR;
	return -ENOSYS;
}
