// SPDX-License-Identifier: MIT
/*
 * awake.c - keeps the CPUs from going idle for a moment after each
 * request (-o awake_us).
 *
 * A FUSE round trip ends with the reply waking its caller, who sleeps on
 * its own CPU.  When that CPU has gone idle the wake-up waits for it to
 * come out of its idle state, and on a virtual machine whose idle CPUs
 * halt without polling first (guest_halt_poll_ns 0, as shared hosts set
 * it) that is a trip through the host: most of a round trip here (README,
 * "Where the time goes").  So for awake_us after each request one thread
 * on each CPU spins at the lowest priority (SCHED_IDLE): it runs only
 * where nothing else would, any thread woken there takes the CPU from it
 * at once, and the CPU never halts meanwhile.  This is the kernel's halt
 * polling, done from user space for as long as requests come.  Past the
 * window the threads sleep on a futex; the next request wakes them.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"

struct sfs_awake {
	sem_t placed;           /* posted by each keeper once it is placed */
	int64_t window_ns;
	int64_t last_ns;        /* when the last request came */
	uint32_t gen;           /* futex word: bumped to wake sleepers */
	unsigned asleep;        /* keepers asleep on gen, or about to be */
	bool stop;
	unsigned nthreads;
	pthread_t *threads;
};

struct aw_arg {
	struct sfs_awake *aw;
	int cpu;
};

static int64_t aw_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* A hint to the CPU that this is a spin: on x86 it leaves the core's
 * resources to a hyperthread sibling meanwhile. */
static inline void aw_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#else
	__asm__ volatile("" ::: "memory");
#endif
}

static bool aw_window(struct sfs_awake *aw)
{
	return aw_now() - __atomic_load_n(&aw->last_ns, __ATOMIC_SEQ_CST) <
	       aw->window_ns;
}

static void *aw_keeper(void *arg)
{
	struct aw_arg a = *(struct aw_arg *)arg;
	struct sfs_awake *aw = a.aw;
	cpu_set_t set;
	struct sched_param p = { 0 };

	free(arg);
	CPU_ZERO(&set);
	CPU_SET(a.cpu, &set);
	/* a keeper that cannot keep its CPU alone, or only at normal
	 * priority, would take time from real work: none then */
	bool placed = !pthread_setaffinity_np(pthread_self(), sizeof(set),
					      &set) &&
		      !pthread_setschedparam(pthread_self(), SCHED_IDLE, &p);
	sem_post(&aw->placed);
	if (!placed)
		return NULL;
	while (!__atomic_load_n(&aw->stop, __ATOMIC_RELAXED)) {
		if (aw_window(aw)) {
			for (int i = 0; i < 64; i++)
				aw_relax();
			continue;
		}
		/* asleep first, then the last look: a request between them
		 * sees a sleeper and bumps gen (sfs_awake_poke) */
		uint32_t g = __atomic_load_n(&aw->gen, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&aw->asleep, 1, __ATOMIC_SEQ_CST);
		if (!aw_window(aw) && !__atomic_load_n(&aw->stop,
						       __ATOMIC_SEQ_CST))
			syscall(SYS_futex, &aw->gen, FUTEX_WAIT_PRIVATE, g,
				NULL, NULL, 0);
		__atomic_sub_fetch(&aw->asleep, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

static void aw_wake(struct sfs_awake *aw)
{
	__atomic_add_fetch(&aw->gen, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &aw->gen, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL,
		0);
}

void sfs_awake_poke(struct sfs_awake *aw)
{
	if (!aw)
		return;
	__atomic_store_n(&aw->last_ns, aw_now(), __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&aw->asleep, __ATOMIC_SEQ_CST))
		aw_wake(aw);
}

int sfs_awake_start(unsigned window_us, struct sfs_awake **out)
{
	cpu_set_t mine;
	*out = NULL;
	if (!window_us)
		return 0;
	if (sched_getaffinity(0, sizeof(mine), &mine))
		return -errno;
	struct sfs_awake *aw = calloc(1, sizeof(*aw));
	unsigned n = (unsigned)CPU_COUNT(&mine);
	if (!aw || !(aw->threads = calloc(n, sizeof(*aw->threads)))) {
		free(aw);
		return -ENOMEM;
	}
	aw->window_ns = (int64_t)window_us * 1000;
	sem_init(&aw->placed, 0, 0);
	/* the signals that end the daemon go to the threads that wait for
	 * them, not to a keeper */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int cpu = 0; cpu < CPU_SETSIZE && aw->nthreads < n; cpu++) {
		struct aw_arg *a = malloc(sizeof(*a));
		if (!CPU_ISSET(cpu, &mine) || !a) {
			free(a);
			continue;
		}
		*a = (struct aw_arg){ aw, cpu };
		if (pthread_create(&aw->threads[aw->nthreads], NULL, aw_keeper,
				   a))
			free(a);
		else
			aw->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* every keeper on its CPU at its priority before the first request,
	 * so none ever spins at a normal priority */
	for (unsigned i = 0; i < aw->nthreads; i++)
		while (sem_wait(&aw->placed) && errno == EINTR)
			;
	*out = aw;
	return 0;
}

void sfs_awake_stop(struct sfs_awake *aw)
{
	if (!aw)
		return;
	__atomic_store_n(&aw->stop, true, __ATOMIC_SEQ_CST);
	aw_wake(aw);
	for (unsigned i = 0; i < aw->nthreads; i++)
		pthread_join(aw->threads[i], NULL);
	sem_destroy(&aw->placed);
	free(aw->threads);
	free(aw);
}
