// SPDX-License-Identifier: MIT
/*
 * fsck.slotfs - check and repair a slotfs file system.
 *
 * Options and exit codes follow e2fsck(8) so fsck(8) and boot scripts can
 * drive it the same way.  The checking itself is slot_fsck(); this program
 * only opens the device, reports problems and draws progress.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "slot.h"

#define PROG "fsck.slotfs"

#define FSCK_BAR_WIDTH 40
#define FSCK_REDRAW_NS (100 * 1000 * 1000)  /* ~10 redraws a second */

struct fsck_ui {
	const char *path;
	enum slot_fsck_mode mode;
	bool preen;             /* -p/-a: terse, no pass headings */
	bool bar;               /* redraw a bar on stderr */
	int progress_fd;        /* -C FD > 0: e2fsck's machine lines; else -1 */
	bool bar_drawn;         /* a bar line is on screen, not ended */
	char pass[128];         /* current pass name */
	int pass_no;
	uint64_t last_ns;
	int last_pct;
	int last_fd_pct;        /* -C FD: one line per percent at most */
	bool in_use;            /* -n on a mounted store */
	uint64_t real;          /* problems not explained by its being in use */
};

static void fsck_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " [-n | -y | -p | -a] [-f] [-v] [-C [FD]] [-V] "
		"DEVICE_OR_IMAGE\n"
		"\n"
		"  -n      check only: open read-only and answer no\n"
		"  -y      repair every problem found\n"
		"  -p, -a  repair automatically (preen)\n"
		"  -f      check even if the file system is clean\n"
		"  -v      verbose\n"
		"  -C [FD] progress: a bar on a terminal, or e2fsck's progress\n"
		"          lines on file descriptor FD\n"
		"  -V      print the version and exit\n"
		"Without -n, -y or -p the file system is only checked.\n");
}

static uint64_t fsck_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Take the bar off the screen so a message can use the line. */
static void fsck_bar_clear(struct fsck_ui *ui)
{
	if (!ui->bar_drawn)
		return;
	fprintf(stderr, "\r%*s\r", (int)strlen(ui->pass) + FSCK_BAR_WIDTH + 10,
		"");
	fflush(stderr);
	ui->bar_drawn = false;
	ui->last_pct = -1;
}

static void fsck_bar_draw(struct fsck_ui *ui, int pct)
{
	char bar[FSCK_BAR_WIDTH + 1];
	int fill = pct * FSCK_BAR_WIDTH / 100;

	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(FSCK_BAR_WIDTH - fill));
	bar[FSCK_BAR_WIDTH] = '\0';
	fprintf(stderr, "\r%s [%s] %3d%%", ui->pass, bar, pct);
	fflush(stderr);
	ui->bar_drawn = true;
	ui->last_pct = pct;
}

/* End the bar of the pass that just finished with its line kept. */
static void fsck_bar_end(struct fsck_ui *ui)
{
	if (!ui->bar_drawn)
		return;
	if (ui->last_pct != 100)
		fsck_bar_draw(ui, 100);
	fputc('\n', stderr);
	ui->bar_drawn = false;
}

static void fsck_on_progress(void *arg, const char *pass, uint64_t done,
			     uint64_t total)
{
	struct fsck_ui *ui = arg;
	bool new_pass = strcmp(pass, ui->pass) != 0;
	int pct = total ? (int)(done >= total ? 100 : done * 100 / total) : 100;
	uint64_t now;

	if (new_pass) {
		if (ui->bar)
			fsck_bar_end(ui);
		snprintf(ui->pass, sizeof ui->pass, "%s", pass);
		ui->pass_no++;
		ui->last_ns = 0;
		ui->last_pct = -1;
		ui->last_fd_pct = -1;
		/* Without a bar, name each pass as e2fsck does. */
		if (!ui->bar && !ui->preen) {
			printf("%s\n", pass);
			fflush(stdout);
		}
	}
	if (ui->progress_fd > 0 && pct != ui->last_fd_pct) {
		ui->last_fd_pct = pct;
		dprintf(ui->progress_fd, "%d %" PRIu64 " %" PRIu64 " %s\n",
			ui->pass_no, done, total, ui->path);
	}
	if (!ui->bar)
		return;
	now = fsck_now_ns();
	if (pct == ui->last_pct ||
	    (pct != 100 && now - ui->last_ns < FSCK_REDRAW_NS))
		return;
	ui->last_ns = now;
	fsck_bar_draw(ui, pct);
}

/* What a store in use shows: it is marked not clean, what was written
 * since its last checkpoint lies past it, and the names of what was made
 * since are in the mount's memory only (as e2fsck -n on a mounted ext4
 * leaves its journal aside). */
static bool fsck_in_use_shows(const char *code)
{
	return !strcmp(code, "PR_SB_NOT_CLEAN") ||
	       !strcmp(code, "PR_SLOT_NEWER") ||
	       !strcmp(code, "PR_JNL_REPLAY") ||
	       !strcmp(code, "PR_JNL_DATA") ||
	       !strcmp(code, "PR_OBJ_LOST_FOUND");
}

static void fsck_on_problem(void *arg, const char *code, const char *msg,
			    bool fixed)
{
	struct fsck_ui *ui = arg;
	size_t n = strlen(msg);

	fsck_bar_clear(ui);
	/* Messages may or may not end in a full stop; print exactly one. */
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '.'))
		n--;
	if (ui->in_use && fsck_in_use_shows(code)) {
		/* what it found, not the repair it would make */
		const char *fix = strstr(msg, "; ");
		if (fix && fix < msg + n)
			n = (size_t)(fix - msg);
		printf("%s: %.*s (expected while in use).\n", code, (int)n,
		       msg);
		fflush(stdout);
		return;
	}
	ui->real++;
	if (ui->preen)
		printf("%s: %s: %.*s. %s\n", ui->path, code, (int)n, msg,
		       fixed ? "FIXED." : "NOT FIXED.");
	else
		printf("%s: %.*s. Fix? %s\n", code, (int)n, msg,
		       fixed ? "yes" : "no");
	fflush(stdout);
}

/* "-C" takes an optional separate number, as e2fsck's does. */
static bool fsck_is_number(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static int fsck_open(const char *path, bool ro, bool exclusive,
		     struct slot_dev **dev)
{
	int r = slot_dev_open(path, SLOT_ENGINE_AUTO, 64, true, ro, exclusive,
			      dev);
	/* O_DIRECT is refused by some file systems (tmpfs): go buffered. */
	if (r < 0 && r != -EBUSY && r != -ENOENT && r != -EACCES &&
	    r != -EROFS && r != -EPERM)
		r = slot_dev_open(path, SLOT_ENGINE_AUTO, 64, false, ro,
				  exclusive, dev);
	return r;
}

#define FSCK_CANCELED 32        /* e2fsck's: canceled by user request */

/* Ctrl-C, as e2fsck: said, and exit 32.  A repair writes its checkpoint
 * and then the superblock at its end; stopped between them, the file
 * system is left not clean, and the next check finds it so. */
static void fsck_cancel(int sig)
{
	static const char msg[] = "\n" PROG ": canceled by user request\n";
	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to do: exiting */
	}
	_exit(FSCK_CANCELED);
}

int main(int argc, char **argv)
{
	struct fsck_ui ui = { .progress_fd = -1, .last_pct = -1 };
	struct slot_fsck_opts o = { 0 };
	struct slot_fsck_result res = { 0 };
	struct slot_dev *dev = NULL;
	bool opt_n = false, opt_y = false, opt_p = false, opt_C = false;
	int c, r, code;

	while ((c = getopt(argc, argv, "nypafvC::Vh")) != -1) {
		switch (c) {
		case 'n': opt_n = true; break;
		case 'y': opt_y = true; break;
		case 'p':
		case 'a': opt_p = true; break;
		case 'f': o.force = true; break;
		case 'v': o.verbose = true; break;
		case 'C':
			opt_C = true;
			/* "-C 3 dev": the number is ours when a path follows. */
			if (!optarg && optind < argc - 1 &&
			    fsck_is_number(argv[optind]))
				optarg = argv[optind++];
			if (optarg) {
				if (!fsck_is_number(optarg)) {
					fprintf(stderr, PROG ": invalid file "
						"descriptor '%s' for -C\n",
						optarg);
					return SLOT_FSCK_USAGE;
				}
				ui.progress_fd = atoi(optarg);
			}
			break;
		case 'V':
			printf(PROG " %s\n", SLOTFS_VERSION);
			return SLOT_FSCK_OK;
		case 'h':
			fsck_usage(stdout);
			return SLOT_FSCK_OK;
		default:
			fsck_usage(stderr);
			return SLOT_FSCK_USAGE;
		}
	}
	if (optind != argc - 1) {
		fsck_usage(stderr);
		return SLOT_FSCK_USAGE;
	}
	if (opt_n + opt_y + opt_p > 1) {
		fprintf(stderr, PROG ": only one of the options -p/-a, -n or -y "
			"may be given\n");
		return SLOT_FSCK_USAGE;
	}
	char path[PATH_MAX];
	if (sfs_client_device(PROG, argv[optind], path, sizeof(path)) < 0)
		return SLOT_FSCK_ERROR;
	ui.path = path;
	ui.preen = opt_p;
	ui.mode = opt_y ? SLOT_FSCK_REPAIR : opt_p ? SLOT_FSCK_PREEN :
		  SLOT_FSCK_CHECK;
	/* Never draw \r lines into a log: only on a terminal. */
	ui.bar = isatty(STDERR_FILENO) && ui.progress_fd <= 0 &&
		 (opt_C || !opt_p);

	if (!ui.preen)
		fprintf(stderr, PROG " %s\n", SLOTFS_VERSION);
	if (!opt_n && !opt_y && !opt_p)
		printf("(no -y/-p: checking only)\n");

	bool ro = ui.mode == SLOT_FSCK_CHECK;
	r = fsck_open(ui.path, ro, true, &dev);
	if (r == -EBUSY && ro) {
		/* as e2fsck -n on a mounted file system: go on, warned */
		ui.in_use = true;
		fprintf(stderr, "Warning: %s is in use (mounted?): checking it "
			"read-only, as it is on the device; what is being "
			"written meanwhile may show as errors\n", ui.path);
		r = fsck_open(ui.path, ro, false, &dev);
	}
	if (r == -EBUSY) {
		fprintf(stderr, PROG ": %s is in use (mounted?); unmount it "
			"before repairing (-n checks it as it is)\n", ui.path);
		return SLOT_FSCK_ERROR;
	} else if (r < 0) {
		fprintf(stderr, PROG ": cannot open %s: %s\n", ui.path,
			slot_open_strerror(r));
		return SLOT_FSCK_ERROR;
	}

	struct sigaction sa = { .sa_handler = fsck_cancel };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	o.mode = ui.mode;
	o.problem = fsck_on_problem;
	o.progress = fsck_on_progress;
	o.arg = &ui;
	r = slot_fsck(dev, &o, &res);
	if (ui.bar)
		fsck_bar_end(&ui);
	slot_dev_close(dev);

	code = res.exit_code;
	if (ui.in_use && !ui.real)
		code &= ~SLOT_FSCK_UNCORRECTED;
	if (r < 0) {
		if (r == -EINVAL)
			fprintf(stderr, PROG ": %s: no slotfs file system "
				"found (no slotfs superblock)\n", ui.path);
		else if (r == -EMEDIUMTYPE)
			sfs_client_foreign(PROG, ui.path);
		else if (r == -EFBIG)
			fprintf(stderr, PROG ": %s: the device is shorter than "
				"the file system (truncated?): nothing "
				"repaired, as a repair would drop what lies past "
				"its end; restore its size (an image: truncate "
				"-s to the size the file system needs; what is "
				"missing then reads as zeros, and fsck repairs "
				"around it)\n", ui.path);
		else if (r == -ESTALE)
			fprintf(stderr, PROG ": %s: both checkpoints are sound "
				"but carry another UUID than the superblocks: "
				"the superblocks' UUID is damaged; nothing "
				"repaired (a rebuild would find no file)\n",
				ui.path);
		else if (r == -EUCLEAN)
			fprintf(stderr, PROG ": %s: both superblocks are "
				"damaged: the file system's layout is in them, "
				"so there is nothing to check or repair from\n",
				ui.path);
		else
			fprintf(stderr, PROG ": %s: check stopped: %s\n",
				ui.path, slot_strerror(r));
		return code | SLOT_FSCK_ERROR;
	}

	if (res.was_clean_skip) {
		printf("%s: clean, %" PRIu64 " files, %" PRIu64 "/%" PRIu64
		       " blocks\n", ui.path, res.files, res.blocks_used,
		       res.blocks_total);
		return code;
	}
	/* as e2fsck -p: what only a person should decide stops it */
	if (ui.preen && (code & SLOT_FSCK_UNCORRECTED)) {
		printf("\n%s: UNEXPECTED INCONSISTENCY; RUN fsck.slotfs "
		       "MANUALLY.\n\t(i.e., without -a or -p options)\n",
		       ui.path);
		return code;
	}
	if (code & SLOT_FSCK_FIXED)
		printf("\n%s: ***** FILE SYSTEM WAS MODIFIED *****\n", ui.path);
	if (code & SLOT_FSCK_UNCORRECTED)
		printf("\n%s: ********** WARNING: Filesystem still has errors "
		       "**********\n\n", ui.path);
	if (o.verbose)
		printf("%s: %" PRIu64 " problems, %" PRIu64 " fixed\n", ui.path,
		       res.problems, res.fixed);
	printf("%s: %" PRIu64 " files, %" PRIu64 " directories, %" PRIu64
	       " slots, %" PRIu64 "/%" PRIu64 " blocks\n", ui.path, res.files,
	       res.dirs, res.slots_used, res.blocks_used, res.blocks_total);
	return code;
}
