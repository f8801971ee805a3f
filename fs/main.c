/* SPDX-License-Identifier: MIT */
/*
 * main.c - slotfs: mount a slotfs image or device with FUSE.
 *
 *   slotfs [-f] [-d] [-o OPTIONS] IMAGE_OR_DEVICE MOUNTPOINT
 *
 * Options may come before or after the positional arguments, which is how
 * mount.fuse3 calls us for "mount -t fuse.slotfs".
 *
 * The store is opened before mounting so a bad or busy image is refused
 * with a message and nothing is mounted.  Because the store runs threads
 * (checkpointing, I/O completion) that would not survive fork(), the
 * daemon forks before it opens the store, and the parent waits for the
 * child to report that the mount is up; errors reach the terminal either
 * way.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "client.h"
#include "fs.h"

#if defined(__has_include)
#if __has_include("config.h")
#include "config.h"
#endif
#endif
#ifndef SLOTFS_VERSION
#define SLOTFS_VERSION "unknown"
#endif

struct sfs_cfg {
	char *image;
	char *mountpoint;
	int foreground;
	int debug;
	int singlethread;
	int help;
	int version;
	int read_only;
	int rw_asked;           /* -o rw: no read-only fallback */
	unsigned queue_depth;
	unsigned meta_idle_quiet_ms;
	unsigned checkpoint_interval_ms;
	int direct_io;
	int validate;
	int discard;
	unsigned max_threads;
	unsigned max_idle_threads;
	unsigned poll_us;
	unsigned awake_us;
	int clone_fd;
	int uring;
	unsigned uring_depth;
	int writeback_cache;
	int xattr;              /* -1: if the store has some */
	int acl;                /* -1: if the store has some */
	int read_ahead_kb;
	unsigned max_background;
	double attr_timeout;
	double entry_timeout;
	double negative_timeout;
	int shared;             /* allow_other, allow_root or
				   default_permissions given */
	char *errors;           /* errors=: continue, remount-ro */
	int atime;              /* enum sfs_atime */
	int nodiratime;
};

enum {
	SFS_KEY_HELP,
	SFS_KEY_VERSION,
	SFS_KEY_FOREGROUND,
	SFS_KEY_DEBUG,
	SFS_KEY_SINGLE,
	SFS_KEY_RO,
	SFS_KEY_RW,
	SFS_KEY_DROP,
	SFS_KEY_SHARED,
};

#define SFS_OPT(t, f, v) { t, offsetof(struct sfs_cfg, f), v }

static const struct fuse_opt sfs_opt_spec[] = {
	SFS_OPT("queue_depth=%u", queue_depth, 0),
	SFS_OPT("meta_idle_quiet_ms=%u", meta_idle_quiet_ms, 0),
	SFS_OPT("checkpoint_interval_ms=%u", checkpoint_interval_ms, 0),
	SFS_OPT("direct_io=%d", direct_io, 0),
	SFS_OPT("direct_io", direct_io, 1),
	SFS_OPT("nodirect_io", direct_io, 0),
	SFS_OPT("validate", validate, 1),
	SFS_OPT("discard", discard, 1),
	SFS_OPT("nodiscard", discard, 0),
	SFS_OPT("max_threads=%u", max_threads, 0),
	SFS_OPT("max_idle_threads=%u", max_idle_threads, 0),
	SFS_OPT("poll_us=%u", poll_us, 0),
	SFS_OPT("awake_us=%u", awake_us, 0),
	SFS_OPT("clone_fd", clone_fd, 1),
	SFS_OPT("io_uring", uring, 1),
	SFS_OPT("io_uring=%d", uring, 0),
	SFS_OPT("io_uring_depth=%u", uring_depth, 0),
	SFS_OPT("writeback_cache", writeback_cache, 1),
	SFS_OPT("writeback_cache=%d", writeback_cache, 0),
	SFS_OPT("xattr", xattr, 1),
	SFS_OPT("noxattr", xattr, 0),
	SFS_OPT("user_xattr", xattr, 1),
	SFS_OPT("nouser_xattr", xattr, 0),
	SFS_OPT("acl", acl, 1),
	SFS_OPT("noacl", acl, 0),
	SFS_OPT("read_ahead_kb=%d", read_ahead_kb, 0),
	SFS_OPT("max_background=%u", max_background, 0),
	SFS_OPT("attr_timeout=%lf", attr_timeout, 0),
	SFS_OPT("entry_timeout=%lf", entry_timeout, 0),
	SFS_OPT("negative_timeout=%lf", negative_timeout, 0),
	SFS_OPT("errors=%s", errors, 0),
	/* noatime and atime go on to FUSE too: the mount shows them */
	SFS_OPT("noatime", atime, SFS_ATIME_OFF),
	FUSE_OPT_KEY("noatime", FUSE_OPT_KEY_KEEP),
	SFS_OPT("atime", atime, SFS_ATIME_RELATIVE),
	FUSE_OPT_KEY("atime", FUSE_OPT_KEY_KEEP),
	SFS_OPT("relatime", atime, SFS_ATIME_RELATIVE),
	SFS_OPT("strictatime", atime, SFS_ATIME_STRICT),
	SFS_OPT("nodiratime", nodiratime, 1),
	SFS_OPT("diratime", nodiratime, 0),
	FUSE_OPT_KEY("-h", SFS_KEY_HELP),
	FUSE_OPT_KEY("--help", SFS_KEY_HELP),
	FUSE_OPT_KEY("-V", SFS_KEY_VERSION),
	FUSE_OPT_KEY("--version", SFS_KEY_VERSION),
	FUSE_OPT_KEY("-f", SFS_KEY_FOREGROUND),
	FUSE_OPT_KEY("-d", SFS_KEY_DEBUG),
	FUSE_OPT_KEY("debug", SFS_KEY_DEBUG),
	FUSE_OPT_KEY("-s", SFS_KEY_SINGLE),
	FUSE_OPT_KEY("ro", SFS_KEY_RO),
	FUSE_OPT_KEY("rw", SFS_KEY_RW),
	FUSE_OPT_KEY("allow_other", SFS_KEY_SHARED),
	FUSE_OPT_KEY("allow_root", SFS_KEY_SHARED),
	FUSE_OPT_KEY("default_permissions", SFS_KEY_SHARED),
	/* fstab and mount(8) words that mean nothing to FUSE. */
	FUSE_OPT_KEY("nofail", SFS_KEY_DROP),
	FUSE_OPT_KEY("_netdev", SFS_KEY_DROP),
	FUSE_OPT_KEY("auto", SFS_KEY_DROP),
	FUSE_OPT_KEY("noauto", SFS_KEY_DROP),
	FUSE_OPT_KEY("user", SFS_KEY_DROP),
	FUSE_OPT_KEY("nouser", SFS_KEY_DROP),
	FUSE_OPT_KEY("users", SFS_KEY_DROP),
	FUSE_OPT_KEY("owner", SFS_KEY_DROP),
	FUSE_OPT_KEY("group", SFS_KEY_DROP),
	FUSE_OPT_KEY("defaults", SFS_KEY_DROP),
	FUSE_OPT_KEY("lazytime", SFS_KEY_DROP),
	FUSE_OPT_KEY("nolazytime", SFS_KEY_DROP),
	FUSE_OPT_KEY("loop", SFS_KEY_DROP),
	FUSE_OPT_END
};

static void sfs_usage(const char *prog)
{
	printf("usage: %s [-f] [-d] [-o OPTIONS] IMAGE_OR_DEVICE MOUNTPOINT\n"
	       "\n"
	       "Mount a slotfs file system (made by mkfs.slotfs).\n"
	       "\n"
	       "    -h, --help             print this help and exit\n"
	       "    -V, --version          print the version and exit\n"
	       "    -f                     stay in the foreground\n"
	       "    -d, -o debug           print FUSE requests (implies -f)\n"
	       "    -s                     serve requests on one thread\n"
	       "\n"
	       "slotfs options:\n"
	       "    -o ro                  open the store and mount read-only\n"
	       "                           (a write-protected device: anyway)\n"
	       "    -o rw                  read-write or fail\n"
	       "    -o relatime            a read moves atime when it is not\n"
	       "                           after mtime or ctime, or is a day\n"
	       "                           old (the default); -o strictatime:\n"
	       "                           every read; -o noatime: none;\n"
	       "                           -o nodiratime: none of a directory\n"
	       "    -o allow_other         let other users in (see fuse.conf)\n"
	       "    -o queue_depth=N       I/O ring depth per engine (32)\n"
	       "    -o direct_io=0|1       O_DIRECT on the device (1)\n"
	       "    -o meta_idle_quiet_ms=N    quiet time before a checkpoint (200)\n"
	       "    -o checkpoint_interval_ms=N  periodic checkpoint period (5000)\n"
	       "    -o errors=continue|remount-ro  on an error found in use\n"
	       "                           (always logged and recorded for\n"
	       "                           fsck.slotfs): go on, or take no more\n"
	       "                           writes (the superblock's; continue)\n"
	       "    -o validate            check checkpoint entries against slot\n"
	       "                           headers even after a clean unmount\n"
	       "    -o discard             give freed space back to the device\n"
	       "                           every checkpoint period, as fstrim\n"
	       "    -o max_threads=N       most FUSE worker threads (64)\n"
	       "    -o max_idle_threads=N  idle FUSE worker threads kept (16)\n"
	       "    -o poll_us=N           after a request, poll for the next one\n"
	       "                           up to this long before sleeping (the\n"
	       "                           window adapts from 20); 0 sleeps at\n"
	       "                           once, in libfuse's loop (50)\n"
	       "    -o awake_us=N          after a request, keep every CPU from\n"
	       "                           going idle this long, spinning at the\n"
	       "                           lowest priority, so replies wake their\n"
	       "                           callers sooner (0: off; 200 is the\n"
	       "                           kernel's halt polling; see slotfs(8))\n"
	       "    -o clone_fd            one /dev/fuse descriptor per thread\n"
	       "                           (with poll_us=0)\n"
	       "    -o io_uring            take requests through io_uring where\n"
	       "                           the kernel offers it (fuse module\n"
	       "                           enable_uring=Y), each CPU's on that\n"
	       "                           CPU: faster name operations, slower\n"
	       "                           random reads; see slotfs(8) (off)\n"
	       "    -o io_uring_depth=N    requests in flight per CPU then (32)\n"
	       "    -o writeback_cache     let the kernel cache writes; faster small\n"
	       "                           writes, but ENOSPC and I/O errors show\n"
	       "                           only at fsync/close (off)\n"
	       "    -o xattr, -o noxattr   serve extended attributes (user.,\n"
	       "                           trusted., security.) or not; each\n"
	       "                           file's first write then costs the\n"
	       "                           kernel a lookup of security.capability\n"
	       "                           (on when the store has any, else off)\n"
	       "    -o acl, -o noacl       POSIX ACLs (setfacl, getfacl), which\n"
	       "                           the kernel then enforces; implies\n"
	       "                           -o xattr (on when the store has any,\n"
	       "                           else off)\n"
	       "    -o read_ahead_kb=N     the mount's read-ahead; 0 leaves the\n"
	       "                           kernel's 128 KiB (4096)\n"
	       "    -o max_background=N    requests the kernel keeps in flight in\n"
	       "                           the background: direct I/O from\n"
	       "                           io_uring or aio, read-ahead (64)\n"
	       "    -o attr_timeout=S      attribute cache time, seconds (86400)\n"
	       "    -o entry_timeout=S     name cache time, seconds (86400)\n"
	       "    -o negative_timeout=S  cache time of a name not found,\n"
	       "                           seconds (86400)\n"
	       "\n"
	       "Status is readable in MOUNTPOINT/.slotfs/status.json and\n"
	       "MOUNTPOINT/.slotfs/metrics.\n"
	       "\n"
	       "FUSE options:\n", prog);
	fflush(stdout);
	fuse_lowlevel_help();
}

static int sfs_opt_proc(void *data, const char *arg, int key,
			struct fuse_args *outargs)
{
	struct sfs_cfg *c = data;

	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (!c->image) {
			c->image = strdup(arg);
			return c->image ? 0 : -1;
		}
		if (!c->mountpoint) {
			c->mountpoint = strdup(arg);
			return c->mountpoint ? 0 : -1;
		}
		fprintf(stderr, "slotfs: unexpected argument '%s'\n", arg);
		return -1;
	case FUSE_OPT_KEY_OPT:
		/* systemd and fstab annotations */
		if (!strncmp(arg, "x-", 2) || !strncmp(arg, "comment=", 8))
			return 0;
		return 1;       /* to fuse_session_new, which judges it */
	case SFS_KEY_HELP:
		c->help = 1;
		return 0;
	case SFS_KEY_VERSION:
		c->version = 1;
		return 0;
	case SFS_KEY_FOREGROUND:
		c->foreground = 1;
		return 0;
	case SFS_KEY_DEBUG:
		c->debug = 1;
		c->foreground = 1;
		return 1;       /* FUSE prints requests too */
	case SFS_KEY_SINGLE:
		c->singlethread = 1;
		return 0;
	case SFS_KEY_RO:
		c->read_only = 1;
		return 1;       /* and the kernel mounts read-only */
	case SFS_KEY_RW:
		c->read_only = 0;
		c->rw_asked = 1;
		return 1;
	case SFS_KEY_DROP:
		return 0;
	case SFS_KEY_SHARED:
		c->shared = 1;
		return 1;       /* to FUSE as well */
	}
	return 1;
}

/* fsname=... with the option separators in the path escaped. */
static int sfs_add_fsname(struct fuse_args *args, const char *image)
{
	char abs[PATH_MAX];
	const char *src = realpath(image, abs) ? abs : image;
	size_t n = strlen(src);
	char *opt = malloc(strlen("-ofsname=") + 2 * n + 1), *p;
	int err;

	if (!opt)
		return -1;
	p = stpcpy(opt, "-ofsname=");
	for (size_t i = 0; i < n; i++) {
		if (src[i] == ',' || src[i] == '\\')
			*p++ = '\\';
		*p++ = src[i];
	}
	*p = '\0';
	err = fuse_opt_add_arg(args, opt);
	free(opt);
	return err;
}

static int sfs_log_to_syslog;

static void sfs_log(void *arg, const char *msg)
{
	int n = (int)strlen(msg);

	while (n > 0 && msg[n - 1] == '\n')
		n--;
	if (__atomic_load_n(&sfs_log_to_syslog, __ATOMIC_RELAXED))
		syslog(LOG_NOTICE, "%.*s", n, msg);
	else
		fprintf(stderr, "slotfs: %.*s\n", n, msg);
}

/*
 * Fork; the parent waits for the child's word that the mount is up and
 * exits with it.  Returns the pipe's write end in the child.
 */
static int sfs_fork(void)
{
	int fds[2];
	pid_t pid;
	char st;

	if (pipe(fds) < 0) {
		perror("slotfs: pipe");
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		perror("slotfs: fork");
		exit(1);
	}
	if (pid > 0) {
		close(fds[1]);
		/* EOF without a byte: the child failed and said why. */
		if (read(fds[0], &st, 1) != 1)
			_exit(1);
		_exit(st);
	}
	close(fds[0]);
	if (setsid() < 0) {
		perror("slotfs: setsid");
		exit(1);
	}
	return fds[1];
}

/* Detach from the terminal now that the mount is up. */
static void sfs_detach(int fd)
{
	int nul = open("/dev/null", O_RDWR);
	char ok = 0;

	if (chdir("/") < 0) {
		/* "/" always exists; nothing useful to do otherwise */
	}
	openlog("slotfs", LOG_PID, LOG_DAEMON);
	__atomic_store_n(&sfs_log_to_syslog, 1, __ATOMIC_RELAXED);
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		if (nul > 2)
			close(nul);
	}
	if (write(fd, &ok, 1) != 1) {
		/* the parent is gone; keep serving */
	}
	close(fd);
}

/* A write-protected image or device: a read-only loop device or disk,
 * an immutable or unwritable file. */
static bool sfs_write_protected(int err)
{
	return err == -EROFS || err == -EACCES || err == -EPERM;
}

/*
 * Opens and maybe recovers the store, saying what went wrong.  A
 * write-protected device or image is opened read-only instead, with a
 * warning, as mount(8) and ntfs-3g do (c->read_only is then set), unless
 * -o rw asked for writing.
 */
static int sfs_open_store(struct sfs_cfg *c, struct slot_store **out)
{
	struct slot_recovery rec;
	struct slot_opts o;
	int err, errors = SLOT_ERRORS_DEFAULT;

	if (c->errors && sfs_client_errors("slotfs", c->errors, &errors))
		return -EINVAL;
	slot_opts_init(&o);
	if (c->queue_depth)
		o.queue_depth = c->queue_depth;
	if (c->direct_io >= 0)
		o.direct_io = c->direct_io != 0;
	if (c->meta_idle_quiet_ms)
		o.meta_idle_quiet_ms = c->meta_idle_quiet_ms;
	if (c->checkpoint_interval_ms)
		o.checkpoint_interval_ms = c->checkpoint_interval_ms;
	o.read_only = c->read_only;
	o.validate = c->validate;
	o.log = sfs_log;
	o.log_arg = NULL;

	err = slot_open(c->image, &o, out);
	if (sfs_write_protected(err) && !c->read_only && !c->rw_asked) {
		fprintf(stderr, "slotfs: %s is write-protected; mounting "
			"read-only\n", c->image);
		c->read_only = 1;
		o.read_only = true;
		err = slot_open(c->image, &o, out);
	}
	if (err == -EBUSY) {
		fprintf(stderr, "slotfs: %s is already in use (mounted?)\n",
			c->image);
		return err;
	}
	if (err == -EMEDIUMTYPE) {
		sfs_client_foreign("slotfs", c->image);
		return err;
	}
	if (err < 0) {
		fprintf(stderr, "slotfs: %s: %s\n", c->image,
			slot_open_strerror(err));
		/* the store is not full (it would open): its device is */
		if (err == -ENOSPC)
			fprintf(stderr, "slotfs: writing %s failed: a sparse "
				"image cannot grow on a full file system; free "
				"space there, or mount with -o ro\n",
				c->image);
		return err;
	}
	slot_store_set_errors(*out, (enum slot_errors)errors);
	if (c->discard && !c->read_only &&
	    (err = slot_set_discard(*out, true)))
		fprintf(stderr, "slotfs: -o discard: %s; mounting without\n",
			slot_strerror(err));
	err = 0;
	memset(&rec, 0, sizeof(rec));
	slot_recovery_report(*out, &rec);
	if (!rec.was_clean)
		fprintf(stderr, "slotfs: %s was not cleanly unmounted; "
			"recovered %llu objects (%llu slots scanned)\n",
			c->image, (unsigned long long)rec.objects_recovered,
			(unsigned long long)rec.slots_scanned);
	return 0;
}

static int sfs_loop(struct fuse_session *se, struct sfs *fs,
		    const struct sfs_cfg *c)
{
	struct fuse_loop_config *lc;
	int ret;

	if (c->awake_us && (c->singlethread || !c->poll_us))
		fprintf(stderr, "slotfs: -o awake_us is not used with -s or "
			"poll_us=0\n");
	if (c->singlethread)
		return fuse_session_loop(se);
	if (c->poll_us)
		return sfs_loop_polling(se, fs, c->poll_us, c->awake_us,
					c->max_threads, c->max_idle_threads);
	lc = fuse_loop_cfg_create();
	if (!lc)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(lc, c->clone_fd);
	fuse_loop_cfg_set_idle_threads(lc, c->max_idle_threads);
	fuse_loop_cfg_set_max_threads(lc, c->max_threads);
	ret = fuse_session_loop_mt(se, lc);
	fuse_loop_cfg_destroy(lc);
	return ret;
}

/*
 * umount(8) finds a FUSE mount's type by statfs(2), "fuse", and then runs
 * no helper of ours.  An entry in libmount's utab makes it read the mount
 * table instead, where the type is fuse.slotfs, and run
 * umount.fuse.slotfs, which waits for this daemon to write its last
 * checkpoint: the kernel waits for no FUSE daemon at an unmount.
 * mount(8) itself makes and drops the entry (root's only), as libfuse
 * has it update mtab.  The entry is made without waiting, since mount(8)
 * may stat the mount point, which this daemon answers once its loop
 * runs; a pid to wait for, or -1.
 */
static pid_t sfs_utab_spawn(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid = -1;

	if (posix_spawn_file_actions_init(&fa))
		return -1;
	if (!posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY,
					      0) &&
	    !posix_spawn_file_actions_adddup2(&fa, 1, 2) &&
	    posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ))
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

static void sfs_utab_wait(pid_t pid)
{
	while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Whether path is a mount point now (mountinfo's field 5), and the
 * device number of the last mount there into dev (may be NULL). */
static bool sfs_mount_at(const char *path, char dev[64])
{
	FILE *mi = fopen("/proc/self/mountinfo", "re");
	char line[4096], d[64], point[PATH_MAX];
	bool at = false;
	while (mi && fgets(line, sizeof(line), mi)) {
		if (sscanf(line, "%*s %*s %63s %*s %4095s", d, point) != 2 ||
		    strcmp(point, path))
			continue;
		at = true;
		if (dev)
			snprintf(dev, 64, "%s", d);
	}
	if (mi)
		fclose(mi);
	return at;
}

/*
 * A daemon killed (kill -9) leaves its entry behind.  Each mount drops
 * up to 64 entries of ours whose mount points are no mount points any
 * more, in one umount --fake, without waiting; not mnt's, which this
 * daemon would be asked to stat before its loop runs.  Names that need
 * escapes are left.  A pid to wait for, or -1.
 */
static pid_t sfs_utab_prune(const char *mnt)
{
	enum { MAX = 64 };
	FILE *f = fopen("/run/mount/utab", "re");
	char line[2 * PATH_MAX], *stale[MAX + 6];
	int n = 5;
	pid_t pid = -1;

	stale[0] = "umount", stale[1] = "--fake", stale[2] = "-i";
	stale[3] = "--no-canonicalize", stale[4] = "--";
	while (f && n < MAX + 5 && fgets(line, sizeof(line), f)) {
		char *t = strstr(line, " TARGET="), *end;
		if (!t || !strstr(line, " OPTS=uhelper=slotfs\n"))
			continue;
		t += strlen(" TARGET=");
		end = strchr(t, ' ');
		if (!end || memchr(t, '\\', (size_t)(end - t)))
			continue;
		*end = '\0';
		if (!strcmp(t, mnt) || sfs_mount_at(t, NULL))
			continue;
		if (!(stale[n] = strdup(t)))
			break;
		n++;
	}
	if (f)
		fclose(f);
	stale[n] = NULL;
	if (n > 5)
		pid = sfs_utab_spawn(stale);
	for (int i = 5; i < n; i++)
		free(stale[i]);
	return pid;
}

/*
 * The kernel caps a FUSE mount's read-ahead at its default of 128 KiB,
 * whatever init asked for, so a streaming read goes to the daemon 128 KiB
 * at a time.  Raise it for this mount's bdi, found through mountinfo (a
 * stat of the mount point would call back into this very daemon before
 * its loop runs).  Best effort: without root it stays as it is.
 */
static void sfs_set_read_ahead(const char *mnt, int kb)
{
	if (kb <= 0)
		return;
	char devno[64];
	if (!sfs_mount_at(mnt, devno))
		return;
	char path[128];
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", devno);
	FILE *f = fopen(path, "w");
	if (f) {
		fprintf(f, "%d\n", kb);
		fclose(f);
	}
}

static struct fuse_session *sfs_session_new(struct fuse_args *args,
					    struct sfs *fs)
{
	struct fuse_session *se = fuse_session_new(args, &sfs_ll_ops,
						   sizeof(sfs_ll_ops), fs);
	if (!se)        /* libfuse has said which option it did not like */
		fprintf(stderr, "slotfs: cannot start the FUSE session\n");
	return se;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct sfs_cfg cfg = {
		.direct_io = -1,
		.max_threads = 64,
		.max_idle_threads = 16,
		.poll_us = 50,
		.uring_depth = 32,
		/* slotfs is its store's only writer, and the kernel learns
		 * of every change through it (a change of its own it tells,
		 * ops.c, inval.c): names, attributes and names not found
		 * (a create drops those) stay true as long as on a local
		 * file system */
		.attr_timeout = 86400.0,
		.entry_timeout = 86400.0,
		.negative_timeout = 86400.0,
		.read_ahead_kb = 4096,
		.max_background = 64,
		.xattr = -1,
		.acl = -1,
	};
	struct fuse_session *se = NULL;
	struct fuse_args ro_args = FUSE_ARGS_INIT(0, NULL);
	struct sfs fs = { .rq_lock = PTHREAD_MUTEX_INITIALIZER };
	char mnt[PATH_MAX];
	struct stat st;
	int notify_fd = -1, ret = 1, err;

	if (fuse_opt_parse(&args, &cfg, sfs_opt_spec, sfs_opt_proc) < 0) {
		fprintf(stderr, "slotfs: bad arguments; try '%s --help'\n",
			argv[0]);
		return 1;
	}
	if (cfg.help) {
		sfs_usage(argv[0]);
		ret = 0;
		goto out_args;
	}
	if (cfg.version) {
		printf("slotfs %s (libslot %d.%d, libfuse %s)\n",
		       SLOTFS_VERSION, SLOT_VERSION_MAJOR, SLOT_VERSION_MINOR,
		       fuse_pkgversion());
		ret = 0;
		goto out_args;
	}
	if (!cfg.image || !cfg.mountpoint) {
		fprintf(stderr, "usage: %s [-f] [-d] [-o OPTIONS] "
			"IMAGE_OR_DEVICE MOUNTPOINT\n", argv[0]);
		goto out_args;
	}
	/* LABEL= and UUID= name a device (fstab: "slotfs#LABEL=store") */
	if (sfs_client_device("slotfs", cfg.image, mnt, sizeof(mnt)) < 0)
		goto out_args;
	if (strcmp(mnt, cfg.image)) {
		free(cfg.image);
		if (!(cfg.image = strdup(mnt))) {
			fprintf(stderr, "slotfs: out of memory\n");
			goto out_args;
		}
	}
	if (cfg.max_idle_threads > cfg.max_threads)
		cfg.max_threads = cfg.max_idle_threads;
	if (cfg.attr_timeout < 0 || cfg.entry_timeout < 0 ||
	    cfg.negative_timeout < 0) {
		fprintf(stderr, "slotfs: timeouts must not be negative\n");
		goto out_args;
	}
	/* Refuse a bad mount point before the store is opened (and maybe
	   recovered) for nothing. */
	if (!realpath(cfg.mountpoint, mnt) || stat(mnt, &st) < 0) {
		fprintf(stderr, "slotfs: %s: %s\n", cfg.mountpoint,
			strerror(errno));
		goto out_args;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "slotfs: %s: %s\n", cfg.mountpoint,
			strerror(ENOTDIR));
		goto out_args;
	}

	/*
	 * Who checks permissions: with other users let in, the kernel, from
	 * the modes we report; with only the mounting user, the daemon
	 * (perm.c), which spares a GETATTR of the directory after each
	 * create or unlink.  With writeback_cache the kernel sends times
	 * it set itself as explicit ones, which perm.c cannot tell apart.
	 */
	fs.check_perms = !cfg.shared && !cfg.writeback_cache;
	fs.kernel_perms = !fs.check_perms;
	if ((!fs.check_perms &&
	     fuse_opt_add_arg(&args, "-odefault_permissions") < 0) ||
	    fuse_opt_add_arg(&args, "-osubtype=slotfs") < 0 ||
	    sfs_add_fsname(&args, cfg.image) < 0) {
		fprintf(stderr, "slotfs: out of memory\n");
		goto out_args;
	}

	fs.rq_tail = &fs.rq_head;
	fs.read_only = cfg.read_only;
	fs.debug = cfg.debug;
	fs.writeback_cache = cfg.writeback_cache != 0;
	fs.atime = cfg.atime;
	fs.nodiratime = cfg.nodiratime != 0;
	fs.max_background = cfg.max_background;
	fs.attr_timeout = cfg.attr_timeout;
	fs.entry_timeout = cfg.entry_timeout;
	fs.negative_timeout = cfg.negative_timeout;
	clock_gettime(CLOCK_REALTIME, &fs.mount_time);

	/* First, so a bad FUSE option is refused before the store is opened
	   (and maybe recovered); fs.store is filled in below, before any
	   request can come.  It takes the mount options out of args: a copy
	   makes a read-only session if the store must fall back to one. */
	for (int i = 0; i <= args.argc; i++)
		if (fuse_opt_add_arg(&ro_args, i < args.argc ? args.argv[i] :
				     "-oro") < 0) {
			fprintf(stderr, "slotfs: out of memory\n");
			goto out_args;
		}
	se = sfs_session_new(&args, &fs);
	if (!se)
		goto out_args;

	if (!cfg.foreground)
		notify_fd = sfs_fork();

	if (sfs_open_store(&cfg, &fs.store) < 0)
		goto out_session;
	struct stat dst;
	if (!stat(cfg.image, &dst) && S_ISBLK(dst.st_mode))
		fs.blk_dev = dst.st_rdev;
	if (cfg.read_only && !fs.read_only) {
		/* fell back to read-only: the session holds the mount
		 * options, so a new one mounts read-only */
		fs.read_only = true;
		fuse_session_destroy(se);
		se = sfs_session_new(&ro_args, &fs);
		if (!se) {
			slot_close(fs.store);
			goto out_args;
		}
	}
	/* off unless asked or the store has some: ops.c says why */
	struct slot_geometry geo;
	slot_geometry_get(fs.store, &geo);
	if (cfg.acl < 0)
		cfg.acl = geo.acls && cfg.xattr != 0;
	if (cfg.acl && !cfg.xattr) {
		fprintf(stderr, "slotfs: -o acl needs extended attributes; "
			"drop -o noxattr\n");
		goto out_store;
	}
	if (cfg.xattr < 0)
		cfg.xattr = geo.xattrs || cfg.acl;
	fs.xattr = cfg.xattr;
	fs.xattr_feature = geo.xattrs;
	/* the daemon kills set-id bits itself (init.c): with xattrs served
	 * the kernel then stops asking for security.capability at every
	 * write, and on any mount a chown, as tar makes for every file, no
	 * longer costs a GETATTR first; with writeback_cache the kernel
	 * writes pages we could not kill set-id bits for */
	fs.killpriv_v2 = !fs.writeback_cache && !fs.read_only;
	/* with ACLs the kernel checks permissions: perm.c knows modes only */
	fs.acl = cfg.acl;
	if (fs.acl)
		fs.check_perms = false;
	if (fuse_set_signal_handlers(se) < 0) {
		fprintf(stderr, "slotfs: cannot set signal handlers\n");
		goto out_store;
	}
	if (fuse_session_mount(se, mnt) < 0) {
		fprintf(stderr, "slotfs: cannot mount %s on %s\n",
			cfg.image, mnt);
		goto out_signals;
	}
	sfs_set_read_ahead(mnt, cfg.read_ahead_kb);
	char src[PATH_MAX];
	pid_t utab = -1, pruned = -1;
	if (geteuid() == 0 && realpath(cfg.image, src)) {
		char *argv[] = { "mount", "--fake", "-i", "--no-canonicalize",
				 "-o", "uhelper=slotfs", "-t", "fuse.slotfs",
				 src, mnt, NULL };
		pruned = sfs_utab_prune(mnt);
		utab = sfs_utab_spawn(argv);
	}
	/* -s serves one request at a time, which the ring's threads would
	 * not; without the ring all goes through /dev/fuse as before */
	if (cfg.uring && cfg.singlethread)
		fprintf(stderr, "slotfs: -o io_uring is not used with -s\n");
	else if (cfg.uring &&
		 (err = sfs_ring_attach(se, &fs, cfg.uring_depth,
					cfg.max_threads, cfg.max_idle_threads,
					sfs_log)) < 0)
		fprintf(stderr, "slotfs: FUSE over io_uring not used: %s\n",
			strerror(-err));
	fs.se = se;
	/* the INIT exchange passes through the ring's I/O, or this */
	if (fs.killpriv_v2 && !fs.ring && (err = sfs_init_attach(se, &fs)) < 0) {
		fprintf(stderr, "slotfs: cannot watch INIT: %s\n",
			strerror(-err));
		fs.killpriv_v2 = false;
	}
	if (notify_fd >= 0) {
		sfs_detach(notify_fd);
		notify_fd = -1;
	}

	/* names cached past a change of search permission (inval.c): only
	 * the mounting user enters, and root's walks are never refused */
	if (fs.check_perms && getuid() != 0 &&
	    (err = sfs_inval_start(&fs)) < 0) {
		fprintf(stderr, "slotfs: cannot start a thread: %s\n",
			strerror(-err));
		goto out_unmount;
	}

	err = sfs_loop(se, &fs, &cfg);
	ret = err < 0 ? 1 : 0;
	if (err < 0)
		fprintf(stderr, "slotfs: serving requests: %s\n",
			strerror(-err));
	/* stop first: the unmount ends what a drop may wait for */
	sfs_inval_stop_begin(&fs);
out_unmount:
	fuse_session_unmount(se);
	/* before the store is let go, which ends umount.fuse.slotfs's wait:
	 * a mount made after that may have an entry of its own */
	if (utab > 0) {
		char *argv[] = { "umount", "--fake", "-i", "--no-canonicalize",
				 mnt, NULL };
		sfs_utab_wait(utab);
		sfs_utab_wait(sfs_utab_spawn(argv));
	}
	sfs_utab_wait(pruned);
	sfs_inval_stop_end(&fs);
	sfs_ring_detach(&fs);
out_signals:
	fuse_remove_signal_handlers(se);
out_store:
	/* Checkpoint and set the clean flag, on unmount and on signals. */
	err = slot_close(fs.store);
	fs.store = NULL;
	if (err < 0) {
		char msg[PATH_MAX + 128];

		snprintf(msg, sizeof(msg), "%s: close: %s", cfg.image,
			 slot_strerror(err));
		sfs_log(NULL, msg);
		ret = 1;
	}
out_session:
	fuse_session_destroy(se);
out_args:
	fuse_opt_free_args(&args);
	fuse_opt_free_args(&ro_args);
	free(cfg.image);
	free(cfg.mountpoint);
	free(cfg.errors);
	return ret;
}
