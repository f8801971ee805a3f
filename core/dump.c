/* SPDX-License-Identifier: MIT */
/* dump.c - decode on-disk structures (being written) */
#include "internal.h"

int slot_dump(struct slot_dev *dev, FILE *out, bool slots)
{
	return -ENOSYS;
}
