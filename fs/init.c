// SPDX-License-Identifier: MIT
/*
 * init.c - what slotfs asks for at INIT that libfuse 3.14 cannot ask:
 * FUSE_HANDLE_KILLPRIV_V2.  With it the kernel leaves the killing of
 * set-id bits on write to the daemon (which does it, ops.c) and marks
 * the super block SB_NOSEC, so an inode found without security xattrs is
 * not asked for security.capability again before each write(2): on a
 * mount that serves xattrs that is one round trip a write saved.  On
 * every mount a chown(2) no longer refreshes the attributes first (a
 * GETATTR for each file tar extracts).  The kernel still removes a file
 * capability at a write, through removexattr, as before.
 *
 * The request and the reply pass through the session's custom I/O: the
 * ring's (ring.c), or, without the ring, the pass-through below.
 */
#include <linux/fuse.h>
#include <stddef.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs.h"

void sfs_init_request(struct sfs *fs, const void *buf, ssize_t n)
{
	const struct fuse_in_header *in = buf;
	const struct fuse_init_in *arg = (const void *)(in + 1);
	if (fs->init_seen || n < (ssize_t)(sizeof(*in) +
					   offsetof(struct fuse_init_in, flags) +
					   sizeof(arg->flags)) ||
	    in->opcode != FUSE_INIT)
		return;
	/* INIT is the first request, alone: no other thread is here */
	fs->init_seen = true;
	fs->init_unique = in->unique;
	fs->init_flags = arg->flags;
}

void sfs_init_reply(struct sfs *fs, struct iovec *iov, int count)
{
	const struct fuse_out_header *oh = iov[0].iov_base;
	struct fuse_init_out *out;
	if (!fs->init_seen || fs->init_done || oh->unique != fs->init_unique)
		return;
	fs->init_done = true;
	if (oh->error || count < 2 ||
	    iov[1].iov_len < offsetof(struct fuse_init_out, flags) +
			     sizeof(out->flags) ||
	    !(fs->init_flags & FUSE_HANDLE_KILLPRIV_V2)) {
		fs->killpriv_v2 = false;
		return;
	}
	out = iov[1].iov_base;
	if (fs->killpriv_v2)
		out->flags |= FUSE_HANDLE_KILLPRIV_V2;
}

static ssize_t sfs_io_read(int fd, void *buf, size_t len, void *ud)
{
	ssize_t n = read(fd, buf, len);
	sfs_init_request(ud, buf, n);
	return n;
}

static ssize_t sfs_io_writev(int fd, struct iovec *iov, int count, void *ud)
{
	sfs_init_reply(ud, iov, count);
	return writev(fd, iov, count);
}

int sfs_init_attach(struct fuse_session *se, struct sfs *fs)
{
	static const struct fuse_custom_io io = {
		.read = sfs_io_read,
		.writev = sfs_io_writev,
	};
	return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}
