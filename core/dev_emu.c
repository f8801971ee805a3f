// SPDX-License-Identifier: MIT
/*
 * dev_emu.c - the emulated device: a RAM image for tests.
 *
 * One mutex guards the image and the fault knobs; that serialises data
 * movement, which is fine for tests.  A held write waits on a condvar with
 * the mutex dropped, so the rest of the store's I/O goes on around it
 * (that is what keeps a put "in flight" while a test deletes its key).
 *
 * Requests are counted one slot_io at a time: "the nth write" is the nth
 * request, whatever batches they arrive in.
 */
#include "internal.h"

struct slot_emu {
	struct sl_dev_counters c;       /* first: sl_dev_counters() */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint8_t *img;
	uint64_t size;

	uint64_t nreads, nwrites, nflushes;     /* requests seen */
	uint64_t discarded;                     /* bytes */
	uint64_t fail_read_at, fail_write_at;   /* request number, 0 off */
	int fail_read_err, fail_write_err;
	int fail_reads_err, fail_writes_err;    /* all, while non-zero */
	uint64_t hold_at;                       /* write number, 0 off */
	uint64_t hold_read_at;                  /* read number, 0 off */
	uint64_t hold_flush_at;                 /* flush number, 0 off */
	bool held;                              /* a write waits now */
	uint64_t release_gen;                   /* bumped by release */
	bool cut;

	bool logging;
	struct slot_emu_op *ops;
	size_t nops, ops_cap;
	uint8_t *data;
	size_t dlen, dcap;
	uint8_t *base;

	struct slot_dev dev;
};

/* -EINVAL for malformed segments, -EIO past the end, else 0. */
static int emu_check(const struct slot_emu *e, const struct slot_io *io)
{
	struct iovec seg[SLOT_IO_IOV_MAX];

	if (sl_io_segments(io, 0, seg) < 0)
		return -EINVAL;
	return io->off <= e->size && io->len <= e->size - io->off ? 0 : -EIO;
}

static int emu_log_write(struct slot_emu *e, const struct slot_io *io)
{
	if (e->nops == e->ops_cap) {
		size_t cap = e->ops_cap ? 2 * e->ops_cap : 256;
		struct slot_emu_op *p = realloc(e->ops, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		e->ops = p;
		e->ops_cap = cap;
	}
	if (io && e->dlen + io->len > e->dcap) {
		size_t cap = e->dcap ? e->dcap : 1 << 20;
		uint8_t *p;

		while (cap < e->dlen + io->len)
			cap *= 2;
		p = realloc(e->data, cap);
		if (!p)
			return -ENOMEM;
		e->data = p;
		e->dcap = cap;
	}
	if (!io) {
		e->ops[e->nops++] = (struct slot_emu_op){ .kind = 'F' };
		return 0;
	}
	e->ops[e->nops++] = (struct slot_emu_op){
		.kind = 'W', .off = io->off, .len = io->len,
		.data_off = (uint32_t)e->dlen,
	};
	sl_io_copy(io, e->data + e->dlen, false);
	e->dlen += io->len;
	return 0;
}

/* Lock held: block this request until slot_emu_release(). */
static void emu_hold(struct slot_emu *e)
{
	uint64_t gen = e->release_gen;

	e->held = true;
	pthread_cond_broadcast(&e->cond);
	while (e->release_gen == gen)
		pthread_cond_wait(&e->cond, &e->lock);
}

static int emu_read(void *ctx, struct slot_io *ios, size_t n)
{
	struct slot_emu *e = ctx;
	int first = 0;

	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i < n; i++) {
		struct slot_io *io = &ios[i];
		int err = 0;

		sl_dev_count_submit(&e->c, 1);
		e->nreads++;
		err = io->prep ? io->prep(io) : 0;
		if (e->hold_read_at && e->nreads == e->hold_read_at) {
			e->hold_read_at = 0;
			emu_hold(e);
		}
		if (err) {
			/* failed unsent */
		} else if (e->fail_read_at && e->nreads == e->fail_read_at) {
			err = e->fail_read_err;
			e->fail_read_at = 0;
		} else if (e->fail_reads_err) {
			err = e->fail_reads_err;
		} else {
			err = emu_check(e, io);
		}
		if (err) {
			io->res = err;
			atomic_fetch_add(&e->c.errors, 1);
			if (!first)
				first = err;
		} else {
			sl_io_copy(io, e->img + io->off, true);
			io->res = (int32_t)io->len;
			atomic_fetch_add(&e->c.bytes_read, io->len);
		}
		sl_dev_count_reap(&e->c, 1);
		if (io->done)
			io->done(io);
	}
	pthread_mutex_unlock(&e->lock);
	return first;
}

static int emu_write(void *ctx, struct slot_io *ios, size_t n)
{
	struct slot_emu *e = ctx;
	int first = 0;

	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i < n; i++) {
		struct slot_io *io = &ios[i];
		int err = 0;

		sl_dev_count_submit(&e->c, 1);
		e->nwrites++;
		err = io->prep ? io->prep(io) : 0;
		if (e->hold_at && e->nwrites == e->hold_at) {
			e->hold_at = 0;
			emu_hold(e);
		}
		if (err) {
			/* failed unsent */
		} else if (e->cut) {
			err = -EIO;
		} else if (e->fail_write_at && e->nwrites == e->fail_write_at) {
			err = e->fail_write_err;
			e->fail_write_at = 0;
		} else if (e->fail_writes_err) {
			err = e->fail_writes_err;
		} else {
			err = emu_check(e, io);
		}
		if (!err && e->logging)
			err = emu_log_write(e, io);
		if (err) {
			io->res = err;
			atomic_fetch_add(&e->c.errors, 1);
			if (!first)
				first = err;
		} else {
			sl_io_copy(io, e->img + io->off, false);
			io->res = (int32_t)io->len;
			atomic_fetch_add(&e->c.bytes_written, io->len);
		}
		sl_dev_count_reap(&e->c, 1);
		if (io->done)
			io->done(io);
	}
	pthread_mutex_unlock(&e->lock);
	return first;
}

static int emu_flush(void *ctx)
{
	struct slot_emu *e = ctx;
	int err = 0;

	pthread_mutex_lock(&e->lock);
	e->nflushes++;
	atomic_fetch_add(&e->c.flushes, 1);
	if (e->hold_flush_at && e->nflushes == e->hold_flush_at) {
		e->hold_flush_at = 0;
		emu_hold(e);
	}
	if (e->cut)
		err = -EIO;
	else if (e->logging)
		err = emu_log_write(e, NULL);
	if (err)
		atomic_fetch_add(&e->c.errors, 1);
	pthread_mutex_unlock(&e->lock);
	return err;
}

static void emu_close(void *ctx)
{
	/* slot_emu_destroy frees; a store closing its device keeps the
	 * image for the test to inspect or reopen */
}

static int emu_discard(void *ctx, uint64_t off, uint64_t len)
{
	struct slot_emu *e = ctx;
	int err = 0;

	pthread_mutex_lock(&e->lock);
	if (e->cut)
		err = -EIO;
	else if (e->logging)
		err = -EOPNOTSUPP;      /* the crash log has no discards */
	else if (off > e->size || len > e->size - off)
		err = -EINVAL;
	if (!err) {
		memset(e->img + off, 0, len);
		e->discarded += len;
	}
	pthread_mutex_unlock(&e->lock);
	return err;
}

const struct slot_dev_ops sl_emu_ops = {
	.read = emu_read,
	.write = emu_write,
	.flush = emu_flush,
	.close = emu_close,
	.discard = emu_discard,
};

int slot_emu_create(uint64_t size, struct slot_emu **out)
{
	struct slot_emu *e;

	*out = NULL;
	if (!size || size > SIZE_MAX)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->img = calloc(1, (size_t)size);
	if (!e->img) {
		free(e);
		return -ENOMEM;
	}
	e->size = size;
	e->c.queue_depth = 1;
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	e->dev.ops = &sl_emu_ops;
	e->dev.ctx = e;
	e->dev.size = size;
	e->dev.block_size = SL_BLOCK;
	e->dev.name = "emulated";
	*out = e;
	return 0;
}

void slot_emu_destroy(struct slot_emu *emu)
{
	if (!emu)
		return;
	pthread_mutex_destroy(&emu->lock);
	pthread_cond_destroy(&emu->cond);
	free(emu->img);
	free(emu->ops);
	free(emu->data);
	free(emu->base);
	free(emu);
}

struct slot_dev *slot_emu_dev(struct slot_emu *emu)
{
	return &emu->dev;
}

uint8_t *slot_emu_image(struct slot_emu *emu)
{
	return emu->img;
}

uint64_t slot_emu_size(const struct slot_emu *emu)
{
	return emu->size;
}

void slot_emu_fail_read(struct slot_emu *emu, uint64_t nth, int err)
{
	pthread_mutex_lock(&emu->lock);
	emu->fail_read_at = nth && err ? emu->nreads + nth : 0;
	emu->fail_read_err = err;
	pthread_mutex_unlock(&emu->lock);
}

void slot_emu_fail_write(struct slot_emu *emu, uint64_t nth, int err)
{
	pthread_mutex_lock(&emu->lock);
	emu->fail_write_at = nth && err ? emu->nwrites + nth : 0;
	emu->fail_write_err = err;
	pthread_mutex_unlock(&emu->lock);
}

void slot_emu_fail_reads(struct slot_emu *emu, int err)
{
	pthread_mutex_lock(&emu->lock);
	emu->fail_reads_err = err;
	pthread_mutex_unlock(&emu->lock);
}

void slot_emu_fail_writes(struct slot_emu *emu, int err)
{
	pthread_mutex_lock(&emu->lock);
	emu->fail_writes_err = err;
	pthread_mutex_unlock(&emu->lock);
}

void slot_emu_hold_write(struct slot_emu *emu, uint64_t nth)
{
	pthread_mutex_lock(&emu->lock);
	emu->hold_at = nth ? emu->nwrites + nth : 0;
	emu->held = false;
	pthread_mutex_unlock(&emu->lock);
}

void slot_emu_hold_read(struct slot_emu *emu, uint64_t nth)
{
	pthread_mutex_lock(&emu->lock);
	emu->hold_read_at = nth ? emu->nreads + nth : 0;
	emu->held = false;
	pthread_mutex_unlock(&emu->lock);
}

void slot_emu_hold_flush(struct slot_emu *emu, uint64_t nth)
{
	pthread_mutex_lock(&emu->lock);
	emu->hold_flush_at = nth ? emu->nflushes + nth : 0;
	emu->held = false;
	pthread_mutex_unlock(&emu->lock);
}

void slot_emu_wait_held(struct slot_emu *emu)
{
	pthread_mutex_lock(&emu->lock);
	while (!emu->held)
		pthread_cond_wait(&emu->cond, &emu->lock);
	pthread_mutex_unlock(&emu->lock);
}

void slot_emu_release(struct slot_emu *emu)
{
	/* holds not reached yet stay: a test may arm the next (a read)
	 * while a write is held, and let both happen in order */
	pthread_mutex_lock(&emu->lock);
	emu->held = false;
	emu->release_gen++;
	pthread_cond_broadcast(&emu->cond);
	pthread_mutex_unlock(&emu->lock);
}

void slot_emu_log_start(struct slot_emu *emu)
{
	pthread_mutex_lock(&emu->lock);
	free(emu->base);
	emu->base = malloc((size_t)emu->size);
	if (emu->base)
		memcpy(emu->base, emu->img, (size_t)emu->size);
	emu->nops = 0;
	emu->dlen = 0;
	emu->logging = true;
	pthread_mutex_unlock(&emu->lock);
}

size_t slot_emu_log(const struct slot_emu *emu, const struct slot_emu_op **ops)
{
	struct slot_emu *e = (struct slot_emu *)emu;
	size_t n;

	pthread_mutex_lock(&e->lock);
	*ops = e->ops;
	n = e->nops;
	pthread_mutex_unlock(&e->lock);
	return n;
}

const uint8_t *slot_emu_log_data(const struct slot_emu *emu)
{
	return emu->data;
}

void slot_emu_log_stop(struct slot_emu *emu)
{
	pthread_mutex_lock(&emu->lock);
	emu->logging = false;
	pthread_mutex_unlock(&emu->lock);
}

const uint8_t *slot_emu_log_base(const struct slot_emu *emu)
{
	return emu->base;
}

void slot_emu_power_cut(struct slot_emu *emu)
{
	pthread_mutex_lock(&emu->lock);
	emu->cut = true;
	pthread_mutex_unlock(&emu->lock);
}

static uint64_t emu_get(const struct slot_emu *emu, const uint64_t *field)
{
	struct slot_emu *e = (struct slot_emu *)emu;
	uint64_t v;

	pthread_mutex_lock(&e->lock);
	v = *field;
	pthread_mutex_unlock(&e->lock);
	return v;
}

uint64_t slot_emu_reads(const struct slot_emu *emu)
{
	return emu_get(emu, &emu->nreads);
}

uint64_t slot_emu_writes(const struct slot_emu *emu)
{
	return emu_get(emu, &emu->nwrites);
}

uint64_t slot_emu_flushes(const struct slot_emu *emu)
{
	return emu_get(emu, &emu->nflushes);
}

uint64_t slot_emu_discarded(const struct slot_emu *emu)
{
	return emu_get(emu, &emu->discarded);
}
