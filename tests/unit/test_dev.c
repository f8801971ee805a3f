// SPDX-License-Identifier: MIT
/*
 * test_dev.c - the device contract every engine keeps (slot.h, struct
 * slot_io): plain and vectored requests, the prep hook before a request is
 * sent, the done hook after, and bad requests failed alone.  Each test runs
 * on io_uring and psync over an image file with O_DIRECT, and on the
 * emulated device.  White-box tests count how the io_uring engine sends a
 * batch to the kernel, and what it keeps in flight.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slot.h"
#include "internal.h"     /* the engine's counters, white-box */

#define BLK 4096u
#define DEV_SIZE (8u << 20)

struct td {
	struct slot_dev *dev;
	struct slot_emu *emu;
	char path[64];
};

/* kind 0: io_uring, 1: psync (both a file, O_DIRECT, queue depth 8, so a
 * batch of more than 8 refills the queue), 2: emulated. */
static void td_open(struct td *t, int kind)
{
	memset(t, 0, sizeof(*t));
	if (kind == 2) {
		cr_assert_eq(slot_emu_create(DEV_SIZE, &t->emu), 0);
		t->dev = slot_emu_dev(t->emu);
		return;
	}
	strcpy(t->path, "/tmp/slotfs-test-dev.XXXXXX");
	int fd = mkstemp(t->path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, DEV_SIZE), 0);
	close(fd);
	enum slot_engine en = kind == 0 ? SLOT_ENGINE_URING : SLOT_ENGINE_PSYNC;
	int err = slot_dev_open(t->path, en, 8, true, false, false, &t->dev);
	if (err == -EINVAL) /* a file system without O_DIRECT */
		err = slot_dev_open(t->path, en, 8, false, false, false, &t->dev);
	cr_assert_eq(err, 0);
}

static void td_close(struct td *t)
{
	if (t->emu)
		slot_emu_destroy(t->emu);
	else
		slot_dev_close(t->dev);
	if (t->path[0])
		unlink(t->path);
}

static void *td_buf(size_t len, int byte)
{
	void *p = NULL;

	cr_assert_eq(posix_memalign(&p, BLK, len), 0);
	memset(p, byte, len);
	return p;
}

/* What the hooks saw of one request. */
struct td_hook {
	unsigned preps, dones;
	int32_t res_at_done;
	int prep_ret;
	uint8_t fill;           /* prep writes this into the first segment */
};

static int td_prep(struct slot_io *io)
{
	struct td_hook *h = io->arg;

	h->preps++;
	if (h->prep_ret)
		return h->prep_ret;
	/* the first segment's bytes exist only once prep has run */
	memset(io->iov ? io->iov[0].iov_base : io->buf, h->fill,
	       io->iov ? io->iov[0].iov_len : BLK);
	return 0;
}

static void td_done(struct slot_io *io)
{
	struct td_hook *h = io->arg;

	h->dones++;
	h->res_at_done = io->res;
}

#define NREQ 40u        /* more than the queue depth of 8 */

/* Write NREQ slots of header block + 3 blocks, each as one request of
 * three segments whose header block prep fills; read them back as a
 * scatter of two; check every byte and every hook. */
static void td_vectored(int kind)
{
	struct td t;
	struct td_hook hw[NREQ] = { 0 }, hr[NREQ] = { 0 };
	struct slot_io w[NREQ], r[NREQ];
	struct iovec wv[NREQ][3], rv[NREQ][2];
	uint8_t *hdr = td_buf(NREQ * BLK, 0);
	uint8_t *mid = td_buf(NREQ * 2 * BLK, 0);
	uint8_t *tail = td_buf(NREQ * BLK, 0);
	uint8_t *rh = td_buf(NREQ * BLK, 0xee);
	uint8_t *rp = td_buf(NREQ * 3 * BLK, 0xee);

	td_open(&t, kind);
	for (unsigned i = 0; i < NREQ; i++) {
		memset(mid + i * 2 * BLK, 0x40 + i, 2 * BLK);
		memset(tail + i * BLK, 0x80 + i, BLK);
		hw[i].fill = (uint8_t)(1 + i);
		wv[i][0] = (struct iovec){ hdr + i * BLK, BLK };
		wv[i][1] = (struct iovec){ mid + i * 2 * BLK, 2 * BLK };
		wv[i][2] = (struct iovec){ tail + i * BLK, BLK };
		/* every other slot, so no two requests touch */
		w[i] = (struct slot_io){ .off = (uint64_t)i * 8 * BLK,
			.len = 4 * BLK, .iov = wv[i], .iovcnt = 3,
			.prep = td_prep, .done = td_done, .arg = &hw[i] };
		rv[i][0] = (struct iovec){ rh + i * BLK, BLK };
		rv[i][1] = (struct iovec){ rp + i * 3 * BLK, 3 * BLK };
		r[i] = (struct slot_io){ .off = w[i].off, .len = 4 * BLK,
			.iov = rv[i], .iovcnt = 2, .done = td_done,
			.arg = &hr[i] };
	}
	cr_assert_eq(t.dev->ops->write(t.dev->ctx, w, NREQ), 0);
	cr_assert_eq(t.dev->ops->read(t.dev->ctx, r, NREQ), 0);
	for (unsigned i = 0; i < NREQ; i++) {
		cr_expect_eq(w[i].res, 4 * BLK);
		cr_expect_eq(r[i].res, 4 * BLK);
		cr_expect_eq(hw[i].preps, 1, "request %u: prep ran %u times",
			     i, hw[i].preps);
		cr_expect_leq(hw[i].dones, 1);
		cr_expect_leq(hr[i].dones, 1);
		if (hw[i].dones)
			cr_expect_eq(hw[i].res_at_done, 4 * BLK);
		if (hr[i].dones)
			cr_expect_eq(hr[i].res_at_done, 4 * BLK);
		for (unsigned b = 0; b < BLK; b++)
			if (rh[i * BLK + b] != 1 + i) {
				cr_expect_fail("request %u: header byte %u is %u",
					       i, b, rh[i * BLK + b]);
				break;
			}
		cr_expect_eq(memcmp(rp + i * 3 * BLK, mid + i * 2 * BLK,
				    2 * BLK), 0, "request %u: middle", i);
		cr_expect_eq(memcmp(rp + i * 3 * BLK + 2 * BLK, tail + i * BLK,
				    BLK), 0, "request %u: tail", i);
	}
	/* core's own engines run the done hook for every request */
	for (unsigned i = 0; i < NREQ; i++)
		cr_expect_eq(hw[i].dones + hr[i].dones, 2, "request %u", i);
	td_close(&t);
	free(hdr);
	free(mid);
	free(tail);
	free(rh);
	free(rp);
}

Test(dev, vectored_io_and_hooks_uring) { td_vectored(0); }
Test(dev, vectored_io_and_hooks_psync) { td_vectored(1); }
Test(dev, vectored_io_and_hooks_emu) { td_vectored(2); }

/* A request whose segments do not add up, and one whose prep fails, fail
 * alone and move nothing; the rest of the batch goes on. */
static void td_bad_requests(int kind)
{
	struct td t;
	struct td_hook h[3] = { { .fill = 0x11 }, { .prep_ret = -EIO },
				{ .fill = 0x33 } };
	uint8_t *a = td_buf(3 * BLK, 0), *back = td_buf(3 * BLK, 0xee);
	struct iovec bad[2] = { { a, BLK }, { a + BLK, BLK } };
	struct slot_io w[4] = {
		{ .buf = a, .off = 0, .len = BLK, .prep = td_prep, .arg = &h[0] },
		{ .buf = a + BLK, .off = BLK, .len = BLK, .prep = td_prep,
		  .arg = &h[1] },
		/* segments of 2 blocks for a 3-block request */
		{ .off = 4 * BLK, .len = 3 * BLK, .iov = bad, .iovcnt = 2 },
		{ .buf = a + 2 * BLK, .off = 2 * BLK, .len = BLK,
		  .prep = td_prep, .arg = &h[2] },
	};
	struct slot_io r = { .buf = back, .off = 0, .len = 3 * BLK };

	td_open(&t, kind);
	cr_expect_lt(t.dev->ops->write(t.dev->ctx, w, 4), 0);
	cr_expect_eq(w[0].res, BLK);
	cr_expect_eq(w[1].res, -EIO);
	cr_expect_eq(w[2].res, -EINVAL);
	cr_expect_eq(w[3].res, BLK);
	cr_assert_eq(t.dev->ops->read(t.dev->ctx, &r, 1), 0);
	cr_expect_eq(back[0], 0x11);
	cr_expect_eq(back[BLK], 0, "a request whose prep failed was written");
	cr_expect_eq(back[2 * BLK], 0x33);
	td_close(&t);
	free(a);
	free(back);
}

Test(dev, bad_requests_fail_alone_uring) { td_bad_requests(0); }
Test(dev, bad_requests_fail_alone_psync) { td_bad_requests(1); }
Test(dev, bad_requests_fail_alone_emu) { td_bad_requests(2); }

/*
 * The io_uring engine sends reads to the kernel four at a time while it
 * fills its queue, so the device starts on the first while the rest are
 * prepared; writes without a prep hook go at once (dev_uring.c,
 * UR_SUBMIT_GROUP).  Queue depth 8: 8 reads are two sends, 8 writes one.
 */
Test(dev, uring_sends_reads_four_at_a_time)
{
	struct td t;
	uint8_t *a = td_buf(8 * BLK, 0x5a), *back = td_buf(8 * BLK, 0);
	struct slot_io w[8], r[8];

	td_open(&t, 0);
	struct sl_dev_counters *c = sl_dev_counters(t.dev);
	for (unsigned i = 0; i < 8; i++) {
		w[i] = (struct slot_io){ .buf = a + i * BLK, .off = i * BLK,
					 .len = BLK };
		r[i] = (struct slot_io){ .buf = back + i * BLK, .off = i * BLK,
					 .len = BLK };
	}
	uint64_t calls = c->submit_calls;
	cr_assert_eq(t.dev->ops->write(t.dev->ctx, w, 8), 0);
	cr_expect_eq(c->submit_calls - calls, 1, "writes: %llu sends",
		     (unsigned long long)(c->submit_calls - calls));
	calls = c->submit_calls;
	cr_assert_eq(t.dev->ops->read(t.dev->ctx, r, 8), 0);
	cr_expect_eq(c->submit_calls - calls, 2, "reads: %llu sends",
		     (unsigned long long)(c->submit_calls - calls));
	cr_expect(!memcmp(a, back, 8 * BLK));
	td_close(&t);
	free(a);
	free(back);
}

/*
 * The queue depth bounds what the whole device has in flight, not what
 * each batch has (dev_uring.c's credits).  Batch A (16 reads, queue depth
 * 8) stops in the prep hook of its sixth read with four sent; batch B (8
 * reads) runs from another thread meanwhile.  Bounded per batch, B sent
 * all 8 beside A's 4; bounded per device, B waits for A's credits.  A
 * waits for B to finish or 200 ms, whichever is first, so neither bound
 * hangs.
 */
struct td_pair {
	struct td *t;
	struct slot_io *b;
	atomic_bool a_held, b_done;
	unsigned a_inflight;    /* A's requests in flight while it held */
};

static int td_hold(struct slot_io *io)
{
	struct td_pair *p = io->arg;
	struct sl_dev_counters *c = sl_dev_counters(p->t->dev);

	p->a_inflight = atomic_load(&c->sq_depth);
	atomic_store(&p->a_held, true);
	for (int i = 0; i < 200 && !atomic_load(&p->b_done); i++)
		usleep(1000);
	return 0;
}

static void *td_run_b(void *arg)
{
	struct td_pair *p = arg;

	while (!atomic_load(&p->a_held))
		usleep(100);
	intptr_t r = p->t->dev->ops->read(p->t->dev->ctx, p->b, 8);
	atomic_store(&p->b_done, true);
	return (void *)r;
}

Test(dev, uring_depth_bounds_the_device_not_each_batch)
{
	struct td t;
	uint8_t *a = td_buf(24 * BLK, 0), *back = td_buf(24 * BLK, 0);
	struct slot_io w[24], r[24];
	struct td_pair p = { .t = &t, .b = r + 16 };
	pthread_t th;
	void *bres;

	td_open(&t, 0);
	for (unsigned i = 0; i < 24; i++) {
		memset(a + i * BLK, 0x20 + i, BLK);
		w[i] = (struct slot_io){ .buf = a + i * BLK, .off = i * BLK,
					 .len = BLK };
		r[i] = (struct slot_io){ .buf = back + i * BLK, .off = i * BLK,
					 .len = BLK };
	}
	r[5].prep = td_hold;
	r[5].arg = &p;
	cr_assert_eq(t.dev->ops->write(t.dev->ctx, w, 24), 0);
	struct sl_dev_counters *c = sl_dev_counters(t.dev);
	atomic_store(&c->sq_depth_max, 0);
	cr_assert_eq(pthread_create(&th, NULL, td_run_b, &p), 0);
	cr_expect_eq(t.dev->ops->read(t.dev->ctx, r, 16), 0);
	pthread_join(th, &bres);
	cr_expect_eq((intptr_t)bres, 0);
	/* the premise: A had requests out while B ran (reads go four at a
	 * time, see above) */
	cr_expect_gt(p.a_inflight, 0);
	cr_expect_leq(c->sq_depth_max, 8, "%u in flight at once, depth 8",
		      (unsigned)c->sq_depth_max);
	cr_expect(!memcmp(a, back, 24 * BLK));
	td_close(&t);
	free(a);
	free(back);
}
