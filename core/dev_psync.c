// SPDX-License-Identifier: MIT
/*
 * dev_psync.c - the pread/pwrite engine, for kernels without io_uring.
 * Each caller's thread does its own I/O; nothing is serialised.
 */
#include <unistd.h>

#include "internal.h"

struct ps_ctx {
	struct sl_dev_counters c;       /* first: sl_dev_counters() */
	int fd;
	struct slot_dev dev;
	char name[];
};

static int ps_run(struct ps_ctx *p, struct slot_io *ios, size_t n, bool write)
{
	int first = 0;

	for (size_t i = 0; i < n; i++) {
		ios[i].res = ios[i].prep ? ios[i].prep(&ios[i]) : 0;
		if (!ios[i].res)
			ios[i].res = sl_dev_io_sync(p->fd, &p->c, &ios[i], 0,
						    write);
		if (ios[i].done)
			ios[i].done(&ios[i]);
		if (ios[i].res < 0) {
			atomic_fetch_add_explicit(&p->c.errors, 1,
						  memory_order_relaxed);
			if (!first)
				first = ios[i].res;
		}
	}
	return first;
}

static int ps_read(void *ctx, struct slot_io *ios, size_t n)
{
	return ps_run(ctx, ios, n, false);
}

static int ps_write(void *ctx, struct slot_io *ios, size_t n)
{
	return ps_run(ctx, ios, n, true);
}

static int ps_flush(void *ctx)
{
	struct ps_ctx *p = ctx;

	atomic_fetch_add_explicit(&p->c.flushes, 1, memory_order_relaxed);
	if (fdatasync(p->fd) < 0) {
		atomic_fetch_add_explicit(&p->c.errors, 1,
					  memory_order_relaxed);
		return -errno;
	}
	return 0;
}

static void ps_close(void *ctx)
{
	struct ps_ctx *p = ctx;

	close(p->fd);
	free(p);
}

static int ps_discard(void *ctx, uint64_t off, uint64_t len)
{
	return sl_fd_discard(((struct ps_ctx *)ctx)->fd, off, len);
}

int sl_psync_fd(void *ctx)
{
	return ((struct ps_ctx *)ctx)->fd;
}

const struct slot_dev_ops sl_psync_ops = {
	.read = ps_read,
	.write = ps_write,
	.flush = ps_flush,
	.close = ps_close,
	.discard = ps_discard,
};

int sl_psync_create(int fd, unsigned queue_depth, uint64_t size,
		    uint32_t block_size, const char *name,
		    struct slot_dev **out)
{
	size_t nl = strlen(name);
	struct ps_ctx *p = calloc(1, sizeof(*p) + nl + 1);

	if (!p)
		return -ENOMEM;
	p->fd = fd;
	/* no queue, but report the configured bound all the same */
	p->c.queue_depth = queue_depth;
	memcpy(p->name, name, nl + 1);
	p->dev.ops = &sl_psync_ops;
	p->dev.ctx = p;
	p->dev.size = size;
	p->dev.block_size = block_size;
	p->dev.name = p->name;
	*out = &p->dev;
	return 0;
}
