// SPDX-License-Identifier: MIT
/*
 * loop.c - the request loop that polls /dev/fuse for a moment before it
 * sleeps.
 *
 * A FUSE request is a round trip between two sleeping threads: the
 * caller's and a daemon thread blocked in read(2).  On a virtual machine
 * waking a thread on an idle CPU costs more than most requests take to
 * serve, and a caller that walks a tree (ls -l, rm -r, tar) sends its
 * next request a few microseconds after the last reply.  So one thread,
 * the reader, serves the requests that need no device itself, without
 * waking anyone, and after each keeps reading with a non-blocking read
 * for a window of up to poll_us (sfs_loop_adapt) before it blocks in
 * poll(2).  A request that may wait on
 * the device (a write, fsync, a truncation, a close that starts a
 * write-out; a read when others wait behind it) first hands the reader's
 * place to an idle thread, or a new one, so that a slow request never
 * holds up the others, as in libfuse's own multi-threaded loop.  After
 * such a request it does not poll: the caller's next request is as far
 * off as the device was.  A request served in place that has not ended
 * after a second (a read from a hung device) is left to its thread, and
 * another takes over the reading (sfs_loop_watch).
 *
 * One thread reads at a time, so no two threads spin, and idle threads
 * wait on a condition variable, not on the device.  The CPU cost is at
 * most the window of spinning per request; an idle mount spins never.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"

#define SFS_POLL_MIN_US 20      /* the shortest window sfs_loop_adapt keeps */

struct sfs_loop {
	struct fuse_session *se;
	struct sfs *fs;
	struct sfs_awake *awake;        /* NULL: no -o awake_us */
	/* how long the reader polls now, between poll_min_ns and poll_max_ns
	 * (sfs_loop_adapt); only the reader touches it */
	int64_t poll_ns, poll_min_ns, poll_max_ns;
	unsigned max_threads, max_idle;
	int wake_fd;            /* written when the loop must stop */
	sem_t finished;         /* posted by the thread that saw the end */

	pthread_mutex_t lock;
	pthread_cond_t turn;    /* an idle thread may become the reader */
	pthread_cond_t gone;    /* a thread exited */
	bool reading;           /* some thread is the reader */
	bool stop;
	/* when the request the reader serves in place began (0: none);
	 * whoever clears it first, the reader or the watch, decides
	 * whether the reader is still the reader */
	int64_t serving_since;
	unsigned threads, idle;
	int err;
};

static int64_t sfs_loop_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/*
 * A request came waited ns after the reader began to poll, too late for
 * the window, so a thread had to be woken.  Had the longest window caught
 * it, the window doubles; if not, it halves: KVM's rule for halt polling.
 * A caller whose next request is 20-40 us off (a stat of each name after
 * the caches were dropped, tar between files) is then caught, while one
 * farther off costs no more spinning than the shortest window.
 */
static void sfs_loop_adapt(struct sfs_loop *lp, int64_t waited)
{
	if (waited <= lp->poll_max_ns)
		lp->poll_ns = lp->poll_ns * 2 < lp->poll_max_ns ?
			      lp->poll_ns * 2 : lp->poll_max_ns;
	else
		lp->poll_ns = lp->poll_ns / 2 > lp->poll_min_ns ?
			      lp->poll_ns / 2 : lp->poll_min_ns;
	__atomic_store_n(&lp->fs->loop_window_ns, lp->poll_ns,
			 __ATOMIC_RELAXED);
}

/* status.json's "found_*": how the request just read was found */
static void sfs_loop_found(struct sfs_loop *lp, bool looked, bool slept)
{
	uint64_t *n = slept ? &lp->fs->loop_found_asleep :
		      looked ? &lp->fs->loop_found_polling :
		      &lp->fs->loop_found_waiting;
	__atomic_fetch_add(n, 1, __ATOMIC_RELAXED);
}

/*
 * The next request into buf: > 0, or 0 at the end, or a negative errno.
 * It polls only after a quick request (spin): after one that waited on
 * the device, the caller's next request is as far off as the device was.
 */
static int sfs_loop_receive(struct sfs_loop *lp, struct fuse_buf *buf,
			    bool spin)
{
	int fd = fuse_session_fd(lp->se);
	int64_t since = sfs_loop_now(), poll_ns = spin ? lp->poll_ns : 0;
	bool looked = false, slept = false;
	for (;;) {
		int res = fuse_session_receive_buf(lp->se, buf);
		if (res == -EINTR)      /* an interrupted request: go on */
			continue;
		if (res > 0) {
			sfs_awake_poke(lp->awake);
			sfs_loop_found(lp, looked, slept);
		}
		if (res != -EAGAIN)
			return res;
		looked = true;
		if (fuse_session_exited(lp->se) ||
		    __atomic_load_n(&lp->stop, __ATOMIC_RELAXED))
			return 0;
		if (sfs_loop_now() - since < poll_ns) {
			/* a thread we woke may want this CPU */
			sched_yield();
			continue;
		}
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
				       { .fd = lp->wake_fd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return -errno;
		if (p[1].revents)
			return 0;
		slept = true;
		int64_t now = sfs_loop_now();
		if (spin && p[0].revents)
			sfs_loop_adapt(lp, now - since);
		spin = false;
		since = now;
		poll_ns = lp->poll_ns;  /* a request comes: others may follow */
	}
}

/* Whether more requests wait to be read. */
static bool sfs_loop_pending(struct sfs_loop *lp)
{
	struct pollfd p = { .fd = fuse_session_fd(lp->se), .events = POLLIN };
	return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

#define SFS_LOOP_STUCK_NS 1000000000        /* 1 s in one request */

static void *sfs_loop_worker(void *arg);
static void sfs_loop_spawn(struct sfs_loop *lp);

/* Lock held.  The reader gives up its place to an idle thread or a new
 * one, before it serves something that may wait, or when it is stuck. */
static void sfs_loop_hand_on(struct sfs_loop *lp)
{
	lp->reading = false;
	if (lp->idle)
		pthread_cond_signal(&lp->turn);
	else
		sfs_loop_spawn(lp);
}

/*
 * Called by main about once a second.  A request served in place waits
 * at most for the device reads of its bytes; on a device that hangs,
 * that is forever, and nothing else would be read.  So a reader stuck
 * in one for over a second is replaced: another thread reads, and the
 * stuck one, when it returns, finds its mark cleared and steps down.
 */
static void sfs_loop_watch(struct sfs_loop *lp)
{
	int64_t since = __atomic_load_n(&lp->serving_since, __ATOMIC_RELAXED);
	if (!since || sfs_loop_now() - since < SFS_LOOP_STUCK_NS)
		return;
	pthread_mutex_lock(&lp->lock);
	if (lp->reading && !lp->stop &&
	    __atomic_compare_exchange_n(&lp->serving_since, &since, 0, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		sfs_loop_hand_on(lp);
	pthread_mutex_unlock(&lp->lock);
}

/* Lock held.  The loop ends: wake everyone, and main. */
static void sfs_loop_end(struct sfs_loop *lp, int err)
{
	if (!lp->stop && err < 0)
		lp->err = err;
	__atomic_store_n(&lp->stop, true, __ATOMIC_RELAXED); /* polled */
	pthread_cond_broadcast(&lp->turn);
	sem_post(&lp->finished);
}

int sfs_thread_detached(void *(*fn)(void *), void *arg)
{
	pthread_attr_t at;
	pthread_t t;
	int err = pthread_attr_init(&at);

	if (err)
		return -err;
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&t, &at, fn, arg);
	pthread_attr_destroy(&at);
	return -err;
}

/* Lock held.  A new thread, which starts out wanting to read. */
static void sfs_loop_spawn(struct sfs_loop *lp)
{
	if (lp->threads < lp->max_threads &&
	    !sfs_thread_detached(sfs_loop_worker, lp))
		lp->threads++;
}

static void *sfs_loop_worker(void *arg)
{
	struct sfs_loop *lp = arg;
	struct fuse_buf buf = { .mem = NULL };

	pthread_mutex_lock(&lp->lock);
	for (;;) {
		while (lp->reading && !lp->stop) {
			lp->idle++;
			pthread_cond_wait(&lp->turn, &lp->lock);
			lp->idle--;
		}
		if (lp->stop)
			break;
		lp->reading = true;
		pthread_mutex_unlock(&lp->lock);

		int res;
		bool deposed = false;
		enum sfs_wait wait = SFS_WAIT_LONG;
		for (;;) {
			res = sfs_loop_receive(lp, &buf, wait == SFS_WAIT_NONE);
			if (res <= 0)
				break;
			wait = (buf.flags & FUSE_BUF_IS_FD) ? SFS_WAIT_LONG :
				sfs_op_wait(lp->fs, buf.mem, (size_t)res);
			/* a read that nothing waits behind is served here too:
			 * waking a thread for it costs a good part of a read */
			if (wait == SFS_WAIT_LONG ||
			    (wait == SFS_WAIT_READ && sfs_loop_pending(lp)))
				break;
			int64_t mark = sfs_loop_now();
			__atomic_store_n(&lp->serving_since, mark,
					 __ATOMIC_RELEASE);
			fuse_session_process_buf(lp->se, &buf);
			__atomic_fetch_add(&lp->fs->loop_in_place, 1,
					   __ATOMIC_RELAXED);
			/* stuck on the device, it was replaced meanwhile */
			deposed = !__atomic_compare_exchange_n(
				&lp->serving_since, &mark, 0, false,
				__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
			if (deposed)
				break;
		}

		pthread_mutex_lock(&lp->lock);
		if (deposed)
			goto served;
		if (res <= 0) {
			lp->reading = false;
			sfs_loop_end(lp, res);
			break;
		}
		/* this one may wait: someone else reads meanwhile */
		sfs_loop_hand_on(lp);
		pthread_mutex_unlock(&lp->lock);
		__atomic_fetch_add(&lp->fs->loop_handed_on, 1,
				   __ATOMIC_RELAXED);

		fuse_session_process_buf(lp->se, &buf);

		pthread_mutex_lock(&lp->lock);
served:
		/* enough threads wait already, and one of them reads */
		if (lp->reading && lp->idle >= lp->max_idle)
			break;
	}
	lp->threads--;
	pthread_cond_broadcast(&lp->gone);
	pthread_mutex_unlock(&lp->lock);
	free(buf.mem);
	return NULL;
}

int sfs_loop_polling(struct fuse_session *se, struct sfs *fs, unsigned poll_us,
		     unsigned awake_us, unsigned max_threads,
		     unsigned max_idle)
{
	unsigned poll_min_us = poll_us < SFS_POLL_MIN_US ? poll_us :
			       SFS_POLL_MIN_US;
	struct sfs_loop lp = {
		.se = se,
		.fs = fs,
		.poll_ns = (int64_t)poll_min_us * 1000,
		.poll_min_ns = (int64_t)poll_min_us * 1000,
		.poll_max_ns = (int64_t)poll_us * 1000,
		.max_threads = max_threads ? max_threads : 1,
		.max_idle = max_idle,
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.turn = PTHREAD_COND_INITIALIZER,
		.gone = PTHREAD_COND_INITIALIZER,
	};
	int fd = fuse_session_fd(se);
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	__atomic_store_n(&fs->loop_window_ns, lp.poll_ns, __ATOMIC_RELAXED);
	lp.wake_fd = eventfd(0, EFD_CLOEXEC);
	if (lp.wake_fd < 0)
		return -errno;
	int err = sfs_awake_start(awake_us, &lp.awake);
	if (err) {
		close(lp.wake_fd);
		return err;
	}
	sem_init(&lp.finished, 0, 0);

	/* the signals that end the loop (fuse_set_signal_handlers) go to
	 * this thread, whose wait they interrupt, not to a worker */
	sigset_t ends, old;
	sigemptyset(&ends);
	sigaddset(&ends, SIGHUP);
	sigaddset(&ends, SIGINT);
	sigaddset(&ends, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &ends, &old);
	pthread_mutex_lock(&lp.lock);
	sfs_loop_spawn(&lp);
	bool started = lp.threads > 0;
	pthread_mutex_unlock(&lp.lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	/* a signal between the check and the wait is caught by the timeout */
	while (started && !fuse_session_exited(se) &&
	       !__atomic_load_n(&lp.stop, __ATOMIC_RELAXED)) {
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec++;
		sem_timedwait(&lp.finished, &t);
		sfs_loop_watch(&lp);
	}

	pthread_mutex_lock(&lp.lock);
	sfs_loop_end(&lp, 0);
	uint64_t one = 1;
	if (write(lp.wake_fd, &one, sizeof(one)) < 0)
		lp.err = lp.err ? lp.err : -errno;
	while (lp.threads)
		pthread_cond_wait(&lp.gone, &lp.lock);
	pthread_mutex_unlock(&lp.lock);
	sfs_awake_stop(lp.awake);
	close(lp.wake_fd);
	sem_destroy(&lp.finished);
	if (fcntl(fd, F_SETFL, fl) < 0 && !lp.err)
		lp.err = -errno;
	return started ? lp.err : -EAGAIN;
}
