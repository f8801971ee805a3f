// SPDX-License-Identifier: MIT
/*
 * ring.c - FUSE over io_uring: each CPU's requests served by a thread on
 * that CPU.
 *
 * Through /dev/fuse a request is a round trip between the caller's CPU
 * and whichever CPU the daemon's reader runs on; on a virtual machine the
 * reply must wake the caller's halted CPU, which costs more than most
 * requests take to serve.  Kernels from 6.14 can instead queue a request
 * on a ring of the CPU it was made on (the fuse module's enable_uring
 * parameter).  With -o io_uring slotfs then keeps one thread per CPU,
 * pinned there, that registers ring entries (a header buffer and a
 * payload buffer each) and serves what comes in: the caller wakes it on
 * its own CPU and its reply wakes the caller there, with no CPU going
 * idle between.  It is not the default: requests that wait on the device
 * pay a hand-off to a worker and back (see sfs_ring_serve), which costs
 * 4 KiB random reads at depth 1 about a quarter on the machine it was
 * measured on.
 *
 * libfuse 3.14 knows nothing of rings, so slotfs stands between it and
 * the device (fuse_session_custom_io): the INIT reply is where slotfs
 * accepts the ring, a ring request is laid out as /dev/fuse would have
 * delivered it and handed to fuse_session_process_buf, and its reply,
 * which libfuse writes as to /dev/fuse, is copied into the entry and
 * committed.  Everything that does not come through a ring (INIT,
 * FORGET, INTERRUPT, notifications) still goes through /dev/fuse and the
 * ordinary loop.  A request that may wait on the device is handed to a
 * worker, as the /dev/fuse loop does, so it never holds up its CPU's
 * queue; the worker's reply is committed by the queue's thread.
 *
 * All that can fail (rings, buffers) is set up before the INIT reply
 * accepts the ring: once the kernel has it, it holds every request until
 * each CPU's queue has an entry registered.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs.h"

/* The kernel's ABI (linux/fuse.h 7.42), absent from older headers. */
#define SFS_FUSE_OVER_IO_URING  (1ull << 41)
#define SFS_RING_CMD_REGISTER   1u
#define SFS_RING_CMD_COMMIT     2u
#define SFS_RING_HDR_SZ         128u    /* in_out, and op_in */

struct sfs_ring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id;
	uint32_t payload_sz;
	uint32_t padding;
	uint64_t reserved;
};

struct sfs_ring_hdr {
	uint8_t in_out[SFS_RING_HDR_SZ];   /* fuse_in_header / out_header */
	uint8_t op_in[SFS_RING_HDR_SZ];    /* the opcode's fixed argument */
	struct sfs_ring_ent_in_out io;
};

struct sfs_ring_cmd {                   /* in the SQE's command area */
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

/* Room before the payload for the request's headers, so that a request
 * is contiguous without copying its payload; a page keeps the payload
 * page-aligned. */
#define SFS_RING_PRE            4096u

struct sfs_ring_queue;

struct sfs_ring_ent {
	struct sfs_ring_hdr hdr;        /* the kernel's header buffer */
	struct sfs_ring_queue *q;
	uint8_t *area;                  /* SFS_RING_PRE, then the payload */
	struct iovec iov[2];            /* what REGISTER hands the kernel */
	uint64_t unique;                /* the request it holds (0: none);
					   atomic, replies look it up */
	struct fuse_buf buf;            /* the request, for a worker */
	struct sfs_ring_ent *next;      /* on a commit or work list */
};

struct sfs_ring_queue {
	struct sfs_ring *r;
	unsigned qid;
	struct io_uring ring;
	bool ring_ok;
	int efd;                        /* a worker's reply is waiting */
	uint64_t ebuf;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	struct sfs_ring_ent *commits;   /* replied, to commit */
	unsigned live;                  /* entries the kernel has not ended */
	unsigned busy;                  /* requests without a reply; atomic */
	/* The queue's own worker, on its CPU, for a request that may wait
	 * when no other of the queue's is out (a read at depth 1): handing
	 * it there and back wakes no other CPU.  Under q->lock. */
	pthread_cond_t lone_cv;
	struct sfs_ring_ent *lone;      /* the request given to it */
	bool lone_up, lone_busy;
};

struct sfs_ring {
	struct fuse_session *se;
	struct sfs *fs;
	int fd;
	unsigned nq, depth;
	size_t payload;
	struct sfs_ring_queue *qs;
	struct sfs_ring_ent *ents;      /* nq * depth */
	void (*log)(void *arg, const char *msg);
	uint64_t init_unique;           /* the INIT request */
	bool offered;                   /* the kernel offered the ring */
	bool told;                      /* that it did not, logged */
	bool running;                   /* accepted: replies may be ours;
					   atomic */
	bool stop;                      /* atomic */

	/* workers for requests that may wait */
	pthread_mutex_t lock;
	pthread_cond_t work, gone;
	struct sfs_ring_ent *todo, **todo_tail;
	unsigned threads, idle, max_threads, max_idle;
};

static __thread struct sfs_ring_queue *sfs_ring_self;   /* queue threads */
/* the entry whose request this thread serves: most replies are its */
static __thread struct sfs_ring_ent *sfs_ring_cur;

/* The calling thread to q's CPU (best effort: a possible CPU may be
 * offline). */
static void sfs_ring_pin(struct sfs_ring_queue *q)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(q->qid, &one);
	pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
}

static void sfs_ring_prep(struct sfs_ring_queue *q, struct sfs_ring_ent *e,
			  unsigned op, unsigned qid)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
	/* the ring holds 2 * depth + 2 and at most depth + 1 go out
	 * between two submits, so there is always room.  An SQE128 is two
	 * struct io_uring_sqe; the command area runs into the second. */
	if (!sqe)
		return;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
	memset(sqe, 0, 2 * sizeof(*sqe));
#pragma GCC diagnostic pop
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = q->r->fd;
	sqe->cmd_op = op;
	sqe->addr = (uintptr_t)e->iov;
	sqe->len = 2;
	struct sfs_ring_cmd *c = (struct sfs_ring_cmd *)sqe->cmd;
	c->commit_id = e->hdr.io.commit_id;     /* 0 until a request came */
	c->qid = (uint16_t)qid;
	io_uring_sqe_set_data(sqe, e);
}

static void sfs_ring_arm_wake(struct sfs_ring_queue *q)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
	if (!sqe)
		return;
	io_uring_prep_read(sqe, q->efd, &q->ebuf, sizeof(q->ebuf), 0);
	io_uring_sqe_set_data(sqe, q);
}

/* The replies workers and this thread have copied in, committed; each
 * commit also asks for the entry's next request. */
static void sfs_ring_commit_all(struct sfs_ring_queue *q)
{
	pthread_mutex_lock(&q->lock);
	struct sfs_ring_ent *e = q->commits;
	q->commits = NULL;
	pthread_mutex_unlock(&q->lock);
	for (; e; e = e->next)
		sfs_ring_prep(q, e, SFS_RING_CMD_COMMIT, q->qid);
}

/* ------------------------------------------------------------------ */
/* Replies                                                             */
/* ------------------------------------------------------------------ */

static struct sfs_ring_ent *sfs_ring_find(struct sfs_ring *r, uint64_t unique)
{
	struct sfs_ring_ent *e = sfs_ring_cur;
	if (e && __atomic_load_n(&e->unique, __ATOMIC_ACQUIRE) == unique)
		return e;
	/* a reply from another thread: a read queued for a lead (ops.c) */
	for (size_t i = 0; i < (size_t)r->nq * r->depth; i++)
		if (__atomic_load_n(&r->ents[i].unique, __ATOMIC_ACQUIRE) ==
		    unique)
			return &r->ents[i];
	return NULL;
}

/* A reply libfuse wrote for a ring request: into the entry, then to its
 * queue's thread to commit.  Returns what writev(2) would. */
static ssize_t sfs_ring_reply(struct sfs_ring *r, struct sfs_ring_ent *e,
			      const struct iovec *iov, int count)
{
	struct fuse_out_header oh;
	size_t at = 0;

	memcpy(&oh, iov[0].iov_base, sizeof(oh));
	for (int i = 1; i < count; i++) {
		if (at + iov[i].iov_len > r->payload) {
			/* cannot happen within max_write and max_pages;
			 * an error is better than a cut reply */
			oh.error = -EIO;
			at = 0;
			break;
		}
		memmove(e->area + SFS_RING_PRE + at, iov[i].iov_base,
			iov[i].iov_len);
		at += iov[i].iov_len;
	}
	oh.len = (uint32_t)(sizeof(oh) + at);
	memcpy(e->hdr.in_out, &oh, sizeof(oh));
	e->hdr.io.payload_sz = (uint32_t)at;
	struct sfs_ring_queue *q = e->q;
	if (__atomic_exchange_n(&e->unique, 0, __ATOMIC_ACQ_REL))
		__atomic_fetch_sub(&q->busy, 1, __ATOMIC_RELAXED);

	pthread_mutex_lock(&q->lock);
	/* the thread takes the whole list: one wake-up for all that join
	 * it before it does */
	bool first = !q->commits;
	e->next = q->commits;
	q->commits = e;
	pthread_mutex_unlock(&q->lock);
	if (first && sfs_ring_self != q) {
		uint64_t one = 1;
		if (write(q->efd, &one, sizeof(one)) < 0)
			return -1;
	}
	ssize_t n = 0;
	for (int i = 0; i < count; i++)
		n += (ssize_t)iov[i].iov_len;
	return n;
}

/* ------------------------------------------------------------------ */
/* Serving                                                             */
/* ------------------------------------------------------------------ */

static void *sfs_ring_worker(void *arg);

/* Lock held. */
static void sfs_ring_spawn(struct sfs_ring *r)
{
	if (r->threads < r->max_threads &&
	    !sfs_thread_detached(sfs_ring_worker, r))
		r->threads++;
}

static void sfs_ring_hand_on(struct sfs_ring *r, struct sfs_ring_ent *e)
{
	pthread_mutex_lock(&r->lock);
	e->next = NULL;
	*r->todo_tail = e;
	r->todo_tail = &e->next;
	if (r->idle)
		pthread_cond_signal(&r->work);
	else
		sfs_ring_spawn(r);
	pthread_mutex_unlock(&r->lock);
	__atomic_fetch_add(&r->fs->loop_handed_on, 1, __ATOMIC_RELAXED);
}

/* Serve e's request on this thread; its reply finds e quickly. */
static void sfs_ring_process(struct sfs_ring *r, struct sfs_ring_ent *e)
{
	sfs_ring_cur = e;
	fuse_session_process_buf(r->se, &e->buf);
	sfs_ring_cur = NULL;
}

/* A worker leaves (r->lock not held). */
static void sfs_ring_worker_gone(struct sfs_ring *r)
{
	pthread_mutex_lock(&r->lock);
	r->threads--;
	pthread_cond_broadcast(&r->gone);
	pthread_mutex_unlock(&r->lock);
}

static void *sfs_ring_lone_main(void *arg)
{
	struct sfs_ring_queue *q = arg;
	struct sfs_ring *r = q->r;

	sfs_ring_pin(q);
	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->lone && !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE))
			pthread_cond_wait(&q->lone_cv, &q->lock);
		struct sfs_ring_ent *e = q->lone;
		if (!e)
			break;
		q->lone = NULL;
		pthread_mutex_unlock(&q->lock);
		sfs_ring_process(r, e);
		pthread_mutex_lock(&q->lock);
		q->lone_busy = false;
	}
	q->lone_up = false;
	pthread_mutex_unlock(&q->lock);
	sfs_ring_worker_gone(r);
	return NULL;
}

/* To the queue's own worker, if it is free (one stuck on a device that
 * hangs is not, and the pool takes the rest). */
static bool sfs_ring_hand_lone(struct sfs_ring_queue *q, struct sfs_ring_ent *e)
{
	struct sfs_ring *r = q->r;
	bool given = false;

	pthread_mutex_lock(&q->lock);
	if (!q->lone_busy && !q->lone_up) {
		pthread_mutex_lock(&r->lock);
		q->lone_up = !r->stop &&
			     !sfs_thread_detached(sfs_ring_lone_main, q);
		r->threads += q->lone_up;
		pthread_mutex_unlock(&r->lock);
	}
	if (!q->lone_busy && q->lone_up) {
		q->lone = e;
		q->lone_busy = given = true;
		pthread_cond_signal(&q->lone_cv);
	}
	pthread_mutex_unlock(&q->lock);
	if (given)
		__atomic_fetch_add(&r->fs->loop_handed_on, 1,
				   __ATOMIC_RELAXED);
	return given;
}

static void *sfs_ring_worker(void *arg)
{
	struct sfs_ring *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->todo && !r->stop) {
			r->idle++;
			pthread_cond_wait(&r->work, &r->lock);
			r->idle--;
		}
		struct sfs_ring_ent *e = r->todo;
		if (!e)
			break;
		r->todo = e->next;
		if (!r->todo)
			r->todo_tail = &r->todo;
		pthread_mutex_unlock(&r->lock);
		sfs_ring_process(r, e);
		pthread_mutex_lock(&r->lock);
		if (r->idle >= r->max_idle)
			break;
	}
	pthread_mutex_unlock(&r->lock);
	sfs_ring_worker_gone(r);
	return NULL;
}

/*
 * A request the kernel put in entry e: laid out as /dev/fuse delivers
 * it (its headers just before its payload), then served here or handed
 * on.
 */
static void sfs_ring_serve(struct sfs_ring_queue *q, struct sfs_ring_ent *e)
{
	struct sfs_ring *r = q->r;
	struct fuse_in_header in;

	memcpy(&in, e->hdr.in_out, sizeof(in));
	uint32_t pl = e->hdr.io.payload_sz;
	if (pl > r->payload || in.len < sizeof(in) + pl ||
	    in.len - sizeof(in) - pl > SFS_RING_HDR_SZ) {
		/* not what the ABI promises: refuse it, keep the entry */
		struct fuse_out_header oh = { .len = sizeof(oh),
			.error = -EPROTO, .unique = in.unique };
		struct iovec iov = { &oh, sizeof(oh) };
		sfs_ring_reply(r, e, &iov, 1);
		return;
	}
	size_t op = in.len - sizeof(in) - pl;
	uint8_t *req = e->area + SFS_RING_PRE - op - sizeof(in);
	memcpy(req, &in, sizeof(in));
	memcpy(req + sizeof(in), e->hdr.op_in, op);
	e->buf = (struct fuse_buf){ .mem = req, .size = in.len };
	unsigned others = __atomic_fetch_add(&q->busy, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&e->unique, in.unique, __ATOMIC_RELEASE);
	__atomic_fetch_add(&r->fs->ring_requests, 1, __ATOMIC_RELAXED);

	/* Unlike loop.c, not even a lone read is served here.  Its device
	 * may hang, and the queue's requests would wait with it: the
	 * kernel delivers them through the thread that committed their
	 * entries (io_uring task work), so no other thread can take the
	 * queue over.  And this thread would serve the reads that queue up
	 * meanwhile (ops.c, sfs_read_lead) while its own queue waits.  A
	 * lone one goes to the queue's own worker on this CPU (4 KiB reads
	 * at depth 1: 9,400-10,200 IOPS against 7,200 through the pool). */
	if (sfs_op_wait(r->fs, req, in.len) != SFS_WAIT_NONE) {
		if (others || !sfs_ring_hand_lone(q, e))
			sfs_ring_hand_on(r, e);
		return;
	}
	sfs_ring_process(r, e);
	__atomic_fetch_add(&r->fs->loop_in_place, 1, __ATOMIC_RELAXED);
}

static void *sfs_ring_queue_main(void *arg)
{
	struct sfs_ring_queue *q = arg;
	struct sfs_ring *r = q->r;

	sfs_ring_self = q;
	sfs_ring_pin(q);        /* CPU qid's requests come here */

	for (unsigned i = 0; i < r->depth; i++)
		sfs_ring_prep(q, &r->ents[q->qid * r->depth + i],
			      SFS_RING_CMD_REGISTER, q->qid);
	sfs_ring_arm_wake(q);
	while (q->live && !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		int res = io_uring_submit_and_wait(&q->ring, 1);
		if (res < 0 && res != -EINTR && res != -EAGAIN &&
		    res != -EBUSY)
			break;
		struct io_uring_cqe *cqe;
		while (!io_uring_peek_cqe(&q->ring, &cqe)) {
			void *ud = io_uring_cqe_get_data(cqe);
			res = cqe->res;
			io_uring_cqe_seen(&q->ring, cqe);
			if (ud == q) {
				sfs_ring_arm_wake(q);
				continue;
			}
			struct sfs_ring_ent *e = ud;
			if (res < 0) {  /* unmounted, aborted or refused */
				q->live--;
				continue;
			}
			sfs_ring_serve(q, e);
		}
		sfs_ring_commit_all(q);
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Set-up                                                              */
/* ------------------------------------------------------------------ */

static void sfs_ring_free(struct sfs_ring *r)
{
	for (unsigned i = 0; r->qs && i < r->nq; i++) {
		struct sfs_ring_queue *q = &r->qs[i];
		if (q->ring_ok)
			io_uring_queue_exit(&q->ring);
		q->ring_ok = false;
		if (q->efd >= 0)
			close(q->efd);
		q->efd = -1;
		pthread_mutex_destroy(&q->lock);
		pthread_cond_destroy(&q->lone_cv);
	}
	for (size_t i = 0; r->ents && i < (size_t)r->nq * r->depth; i++)
		if (r->ents[i].area)
			munmap(r->ents[i].area, SFS_RING_PRE + r->payload);
	free(r->ents);
	free(r->qs);
	r->ents = NULL;
	r->qs = NULL;
}

/*
 * The kernel keeps a queue for every possible CPU, and uses the ring only
 * once each has an entry: so as many queues as /sys says are possible
 * (which can be more than are present), not a count of CPUs online.
 */
static int sfs_ring_possible_cpus(void)
{
	char buf[256];
	int fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int err = n < 0 ? -errno : -EINVAL;
	close(fd);
	if (n <= 0)
		return err;
	buf[n] = 0;
	/* "0-3,8-11": the highest CPU, plus one */
	int last = -1;
	for (char *p = buf; *p;) {
		char *end;
		long v = strtol(p, &end, 10);
		if (end == p)
			break;
		if (v > last)
			last = (int)v;
		p = *end ? end + 1 : end;
	}
	return last < 0 || last >= 4096 ? -EINVAL : last + 1;
}

/* Everything the ring needs but the threads; 0 or a negative errno. */
static int sfs_ring_prepare(struct sfs_ring *r)
{
	int n = sfs_ring_possible_cpus();
	if (n < 0)
		return n;
	r->nq = (unsigned)n;
	size_t ne = (size_t)r->nq * r->depth;
	r->qs = calloc(r->nq, sizeof(*r->qs));
	r->ents = calloc(ne, sizeof(*r->ents));
	if (!r->qs || !r->ents) {
		free(r->qs);    /* sfs_ring_free would walk the queues */
		r->qs = NULL;
		goto nomem;
	}
	/* all of them first: sfs_ring_free undoes any */
	for (unsigned i = 0; i < r->nq; i++) {
		struct sfs_ring_queue *q = &r->qs[i];
		*q = (struct sfs_ring_queue){ .r = r, .qid = i, .efd = -1,
					      .live = r->depth };
		pthread_mutex_init(&q->lock, NULL);
		pthread_cond_init(&q->lone_cv, NULL);
	}
	for (unsigned i = 0; i < r->nq; i++) {
		struct sfs_ring_queue *q = &r->qs[i];
		q->efd = eventfd(0, EFD_CLOEXEC);
		if (q->efd < 0)
			goto err;
		int res = io_uring_queue_init(2 * r->depth + 2, &q->ring,
					      IORING_SETUP_SQE128);
		if (res < 0) {
			sfs_ring_free(r);
			return res;
		}
		q->ring_ok = true;
	}
	for (size_t i = 0; i < ne; i++) {
		struct sfs_ring_ent *e = &r->ents[i];
		e->q = &r->qs[i / r->depth];
		/* untouched pages cost nothing: most requests are small */
		e->area = mmap(NULL, SFS_RING_PRE + r->payload,
			       PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			       -1, 0);
		if (e->area == MAP_FAILED) {
			e->area = NULL;
			goto nomem;
		}
		e->iov[0] = (struct iovec){ &e->hdr, sizeof(e->hdr) };
		e->iov[1] = (struct iovec){ e->area + SFS_RING_PRE,
					    r->payload };
	}
	return 0;
nomem:
	errno = ENOMEM;
err:;
	int err = -errno;
	sfs_ring_free(r);
	return err;
}

/* The kernel holds every request until each queue has an entry: when a
 * queue cannot have its thread, a REGISTER it must refuse (a queue id
 * out of range) turns the ring off for the connection instead. */
static void sfs_ring_refuse(struct sfs_ring_queue *q)
{
	struct io_uring_cqe *cqe;

	sfs_ring_prep(q, &q->r->ents[q->qid * q->r->depth],
		      SFS_RING_CMD_REGISTER, q->r->nq);
	if (io_uring_submit(&q->ring) == 1 &&
	    !io_uring_wait_cqe(&q->ring, &cqe))
		io_uring_cqe_seen(&q->ring, cqe);
}

static void sfs_ring_start(struct sfs_ring *r)
{
	sigset_t all, old;

	/* signals that end the mount are the main thread's (loop.c) */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < r->nq; i++) {
		struct sfs_ring_queue *q = &r->qs[i];
		q->started = !pthread_create(&q->thread, NULL,
					     sfs_ring_queue_main, q);
		if (!q->started) {
			sfs_ring_refuse(q);
			__atomic_store_n(&r->running, false, __ATOMIC_RELEASE);
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* The INIT reply, on its way: accept the ring when the kernel offers it
 * and everything for it is ready. */
static void sfs_ring_accept(struct sfs_ring *r, struct iovec *iov, int count)
{
	struct fuse_init_out *out = iov[1].iov_base;
	const size_t need = offsetof(struct fuse_init_out, flags2) +
			    sizeof(out->flags2);

	if (count != 2 || iov[1].iov_len < need ||
	    !(out->flags & FUSE_INIT_EXT))
		return;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t pages = out->flags & FUSE_MAX_PAGES ?
		(out->max_pages ? out->max_pages : 1) : 32;
	r->payload = pages * page;
	if (r->payload < out->max_write)
		r->payload = out->max_write;
	if (r->payload < 8192)          /* the kernel's least read buffer */
		r->payload = 8192;
	int err = sfs_ring_prepare(r);
	if (err < 0) {
		char msg[128];
		snprintf(msg, sizeof(msg), "FUSE over io_uring: cannot set up "
			 "the rings (%s); requests go through /dev/fuse",
			 strerror(-err));
		r->log(NULL, msg);
		return;
	}
	out->flags2 |= (uint32_t)(SFS_FUSE_OVER_IO_URING >> 32);
	/* sfs_ring_start once the kernel has it */
	__atomic_store_n(&r->running, true, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------------ */
/* The session's I/O                                                   */
/* ------------------------------------------------------------------ */

static ssize_t sfs_ring_io_read(int fd, void *buf, size_t len, void *ud)
{
	struct sfs *fs = ud;
	struct sfs_ring *r = fs->ring;
	ssize_t n = read(fd, buf, len);
	sfs_init_request(fs, buf, n);
	if (!r)
		return n;
	const struct fuse_in_header *in = buf;
	const struct fuse_init_in *arg = (const void *)(in + 1);
	const size_t need = sizeof(*in) + offsetof(struct fuse_init_in,
						   flags2) + sizeof(arg->flags2);

	/* INIT is read, never spliced: nothing is negotiated yet */
	if (n >= (ssize_t)need && in->opcode == FUSE_INIT &&
	    arg->major == FUSE_KERNEL_VERSION && (arg->flags & FUSE_INIT_EXT) &&
	    (arg->flags2 & (uint32_t)(SFS_FUSE_OVER_IO_URING >> 32))) {
		r->offered = true;
		r->init_unique = in->unique;
	}
	return n;
}

static ssize_t sfs_ring_io_writev(int fd, struct iovec *iov, int count,
				  void *ud)
{
	struct sfs *fs = ud;
	struct sfs_ring *r = fs->ring;
	const struct fuse_out_header *oh = iov[0].iov_base;

	sfs_init_reply(fs, iov, count);
	if (!r)
		return writev(fd, iov, count);
	if (__atomic_load_n(&r->running, __ATOMIC_ACQUIRE) && oh->unique) {
		struct sfs_ring_ent *e = sfs_ring_find(r, oh->unique);
		if (e)
			return sfs_ring_reply(r, e, iov, count);
	}
	if (!r->offered && !r->told) {
		/* the first reply is INIT's: the kernel did not offer it */
		r->told = true;
		r->log(NULL, "FUSE over io_uring: the kernel does not offer it "
		       "(fuse module parameter enable_uring); requests go "
		       "through /dev/fuse");
	}
	bool init = r->offered && !r->running && r->qs == NULL &&
		    oh->unique == r->init_unique && !oh->error;
	if (init)
		sfs_ring_accept(r, iov, count);
	ssize_t n = writev(fd, iov, count);
	if (init && r->running) {
		if (n < 0) {
			r->running = false;
			sfs_ring_free(r);
		} else {
			sfs_ring_start(r);
		}
	}
	return n;
}

int sfs_ring_attach(struct fuse_session *se, struct sfs *fs,
		    unsigned depth, unsigned max_threads, unsigned max_idle,
		    void (*log)(void *arg, const char *msg))
{
	static const struct fuse_custom_io io = {
		.read = sfs_ring_io_read,
		.writev = sfs_ring_io_writev,
		/* no splice: slotfs turns it off (sfs_op_init), and every
		 * reply must pass through sfs_ring_io_writev */
	};
	struct sfs_ring *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	*r = (struct sfs_ring){
		.se = se, .fs = fs, .fd = fuse_session_fd(se),
		.depth = depth ? depth : 1,
		.max_threads = max_threads ? max_threads : 1,
		.max_idle = max_idle,
		.log = log,
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.work = PTHREAD_COND_INITIALIZER,
		.gone = PTHREAD_COND_INITIALIZER,
	};
	r->todo_tail = &r->todo;
	/* the same descriptor: only the I/O on it passes through here */
	int res = fuse_session_custom_io(se, &io, r->fd);
	if (res < 0) {
		free(r);
		return res;
	}
	fs->ring = r;
	return 0;
}

bool sfs_ring_running(const struct sfs *fs)
{
	return fs->ring && __atomic_load_n(&fs->ring->running,
					   __ATOMIC_ACQUIRE);
}

void sfs_ring_detach(struct sfs *fs)
{
	struct sfs_ring *r = fs->ring;
	if (!r)
		return;
	/* the queues' threads first, so that no request is handed to a new
	 * worker after the workers are counted out; replies still coming
	 * are not committed then, and the kernel ends those requests when
	 * the session closes /dev/fuse */
	pthread_mutex_lock(&r->lock);
	__atomic_store_n(&r->stop, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&r->work);
	pthread_mutex_unlock(&r->lock);
	for (unsigned i = 0; r->qs && i < r->nq; i++) {
		struct sfs_ring_queue *q = &r->qs[i];
		uint64_t one = 1;
		if (!q->started)
			continue;
		if (write(q->efd, &one, sizeof(one)) < 0)
			pthread_cancel(q->thread);
		pthread_join(q->thread, NULL);
	}
	for (unsigned i = 0; r->qs && i < r->nq; i++) {
		pthread_mutex_lock(&r->qs[i].lock);
		pthread_cond_broadcast(&r->qs[i].lone_cv);
		pthread_mutex_unlock(&r->qs[i].lock);
	}
	pthread_mutex_lock(&r->lock);
	while (r->threads)
		pthread_cond_wait(&r->gone, &r->lock);
	pthread_mutex_unlock(&r->lock);
	sfs_ring_free(r);
	/* the loop has ended, no more I/O passes the hooks; if it did, it
	 * would go to /dev/fuse */
	fs->ring = NULL;
	free(r);
}
