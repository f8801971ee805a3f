// SPDX-License-Identifier: MIT
/*
 * mkfs.slotfs - make a slotfs file system on a block device or image file.
 *
 * A thin front end over slot.h: it parses options, refuses targets that
 * hold data (another file system, a mounted or busy device), prints the
 * layout slot_format_plan() chose and lets slot_format() write it.  It
 * knows nothing of the on-disk format itself.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>

#if HAVE_BLKID
#include <blkid/blkid.h>
#endif
#include <uuid/uuid.h>

#include "client.h"
#include "slot.h"

#define PROG "mkfs.slotfs"

#define MKFS_SLOT_MIN (4u << 10)
#define MKFS_SLOT_MAX (64u << 20)

struct mkfs_args {
	uint64_t chunk_size;    /* -s */
	uint64_t min_slot;      /* -b */
	uint64_t meta_size;     /* -m */
	uint64_t image_size;    /* -C; 0: leave the file as it is */
	uint64_t fs_size;       /* FS_SIZE; 0: the whole device */
	const char *label;      /* -L */
	uint8_t uuid[16];       /* -U, or random */
	bool force, dry_run, quiet;
	bool keep;              /* -E nodiscard, -K: no discard first */
	const char *path;
};

static void mkfs_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " [-s SLOT_SIZE] [-b MIN_SLOT] [-m META_SIZE] [-L LABEL]\n"
		"                   [-U UUID] [-C IMAGE_SIZE] [-E OPTS] [-K] [-f] [-n] [-q] [-V]\n"
		"                   DEVICE_OR_IMAGE [FS_SIZE]\n"
		"\n"
		"  -s SIZE   largest slot payload, the chunk size (default 1M)\n"
		"  -b SIZE   smallest slot payload (default 4K)\n"
		"  -m SIZE   metadata region size (default: chosen from the device size)\n"
		"  -L LABEL  volume label (at most %d bytes)\n"
		"  -U UUID   file system UUID, random or time (default: random)\n"
		"  -C SIZE   create the image file, or extend it to SIZE (never shrinks)\n"
		"  -E OPTS   extended options, comma-separated: discard (the\n"
		"            default: the device's blocks are discarded first, holes\n"
		"            punched in an image) or nodiscard\n"
		"  -K        keep the device's blocks: -E nodiscard\n"
		"  -f        format even if the target holds a file system\n"
		"  -n        dry run: print the layout, write nothing\n"
		"  -q        quiet\n"
		"  -V        print the version and exit\n"
		"FS_SIZE     the file system's size, if smaller than the device\n"
		"            (resize.slotfs grows it into the rest later)\n"
		"SIZE takes a K, M, G or T suffix (powers of 1024).\n",
		SLOT_LABEL_MAX);
}

/* "1.00 GiB": the device size line, as mke2fs-like tools print it. */
static const char *mkfs_human2(uint64_t v, char *buf, size_t cap)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB",
					    "PiB", "EiB" };
	double d = (double)v / 1024;
	unsigned u = 0;

	if (v < 1024) {
		snprintf(buf, cap, "%" PRIu64 " bytes", v);
		return buf;
	}
	while (d >= 1024 && u < 5) {
		d /= 1024;
		u++;
	}
	snprintf(buf, cap, "%.2f %s", d, unit[u]);
	return buf;
}

static bool mkfs_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/*
 * Payload size of class i.  slot.h gives only min_slot, chunk_size and the
 * class count; classes grow by 4x from min_slot and the last is capped at
 * chunk_size (README "Slots").
 */
static uint64_t mkfs_class_size(const struct slot_geometry *g, unsigned i)
{
	uint64_t v = g->min_slot;

	for (unsigned k = 0; k < i && v < g->chunk_size; k++)
		v <<= 2;
	return v > g->chunk_size ? g->chunk_size : v;
}

static void mkfs_print_geometry(const struct mkfs_args *a,
				const struct slot_geometry *g)
{
	char b1[32], b2[32], uuid[37];

	printf("Creating slotfs on %s: %s (%" PRIu64 " bytes)\n", a->path,
	       mkfs_human2(g->device_size, b1, sizeof b1), g->device_size);
	printf("Label:              %s\n", g->label[0] ? g->label : "(none)");
	uuid_unparse_lower(g->uuid, uuid);
	printf("UUID:               %s\n", uuid);
	printf("Block size:         %" PRIu32 "\n", g->block_size);
	printf("Slot sizes:         ");
	for (unsigned i = 0; i < g->class_count; i++)
		printf("%s%s", i ? ", " : "",
		       slot_format_size(mkfs_class_size(g, i), b1, sizeof b1));
	printf("\n");
	printf("Regions:            %" PRIu32 " of %s\n", g->region_count,
	       slot_format_size(g->region_size, b1, sizeof b1));
	/* meta_size counts both containers; one checkpoint fits each. */
	printf("Metadata region:    2 x %s checkpoints\n",
	       slot_format_size(g->meta_size / 2, b1, sizeof b1));
	printf("Capacity:           %s  (up to %" PRIu64 " files of %s)\n",
	       slot_format_size(g->capacity, b1, sizeof b1), g->max_small_files,
	       slot_format_size(g->min_slot, b2, sizeof b2));
}

/* -E: mke2fs's extended options that apply here. */
static int mkfs_parse_extended(char *opts, struct mkfs_args *a)
{
	char *save = NULL;
	for (char *o = strtok_r(opts, ",", &save); o;
	     o = strtok_r(NULL, ",", &save)) {
		if (!strcmp(o, "discard")) {
			a->keep = false;
		} else if (!strcmp(o, "nodiscard")) {
			a->keep = true;
		} else {
			fprintf(stderr, PROG ": unknown extended option '%s' "
				"(known: discard, nodiscard)\n", o);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Discard the whole device first, as mke2fs does: an SSD or a thin volume
 * learns that none of its blocks hold data, an image file gets its space
 * back.  A GiB at a time, with the progress on a terminal, since a large
 * slow device can take a while.  A device that cannot is formatted all
 * the same.
 */
static void mkfs_discard(const struct mkfs_args *a, struct slot_dev *dev)
{
	const uint64_t step = 1ull << 30;
	bool tty = !a->quiet && isatty(STDOUT_FILENO);
	if (!a->quiet) {
		printf("Discarding device blocks: ");
		fflush(stdout);
	}
	int r = dev->ops->discard ? 0 : -EOPNOTSUPP;
	for (uint64_t off = 0; !r && off < dev->size; off += step) {
		uint64_t end = dev->size - off > step ? off + step : dev->size;
		r = dev->ops->discard(dev->ctx, off, end - off);
		if (tty && !r) {
			printf("%3u%%\b\b\b\b", (unsigned)(end * 100 / dev->size));
			fflush(stdout);
		}
	}
	if (a->quiet)
		return;
	if (!r)
		printf("done\n");
	else if (r == -EOPNOTSUPP)
		printf("not supported\n");
	else
		printf("failed (%s)\n", slot_strerror(r));
}

static int mkfs_parse_args(int argc, char **argv, struct mkfs_args *a)
{
	int c, r;
	bool have_uuid = false;

	while ((c = getopt(argc, argv, "s:b:m:L:U:C:E:KfnqVh")) != -1) {
		uint64_t *dst = NULL;

		switch (c) {
		case 's': dst = &a->chunk_size; break;
		case 'b': dst = &a->min_slot; break;
		case 'm': dst = &a->meta_size; break;
		case 'C': dst = &a->image_size; break;
		case 'L':
			if (strlen(optarg) > SLOT_LABEL_MAX) {
				fprintf(stderr, PROG ": label '%s' is too long: "
					"at most %d bytes\n", optarg,
					SLOT_LABEL_MAX);
				return -EINVAL;
			}
			a->label = optarg;
			break;
		case 'U':
			if (sfs_client_uuid(PROG, optarg, a->uuid))
				return -EINVAL;
			have_uuid = true;
			break;
		case 'E':
			if (mkfs_parse_extended(optarg, a) < 0)
				return -EINVAL;
			break;
		case 'K': a->keep = true; break;
		case 'f': a->force = true; break;
		case 'n': a->dry_run = true; break;
		case 'q': a->quiet = true; break;
		case 'V':
			printf(PROG " %s\n", SLOTFS_VERSION);
			exit(0);
		case 'h':
			mkfs_usage(stdout);
			exit(0);
		default:
			mkfs_usage(stderr);
			return -EINVAL;
		}
		if (dst) {
			r = slot_parse_size(optarg, dst);
			if (r < 0) {
				fprintf(stderr, PROG ": invalid size '%s' for "
					"-%c\n", optarg, c);
				return r;
			}
			/* 0 means "default" inside; given, it is no size */
			if ((c == 's' || c == 'b') && *dst == 0) {
				fprintf(stderr, PROG ": invalid slot size 0: "
					"must be a power of two from 4K to "
					"64M\n");
				return -EINVAL;
			}
			if ((c == 'C' || c == 'm') && *dst == 0) {
				fprintf(stderr, PROG ": invalid size 0 for "
					"-%c\n", c);
				return -EINVAL;
			}
		}
	}
	if (optind != argc - 1 && optind != argc - 2) {
		mkfs_usage(stderr);
		return -EINVAL;
	}
	a->path = argv[optind];
	if (optind == argc - 2) {
		const char *fs = argv[optind + 1];
		if (slot_parse_size(fs, &a->fs_size) < 0 || !a->fs_size) {
			fprintf(stderr, PROG ": invalid file system size '%s'\n",
				fs);
			return -EINVAL;
		}
	}

	if (a->chunk_size && (!mkfs_pow2(a->chunk_size) ||
			      a->chunk_size < MKFS_SLOT_MIN ||
			      a->chunk_size > MKFS_SLOT_MAX)) {
		fprintf(stderr, PROG ": invalid slot size %" PRIu64 ": must be "
			"a power of two from 4K to 64M\n", a->chunk_size);
		return -EINVAL;
	}
	if (a->min_slot && (!mkfs_pow2(a->min_slot) ||
			    a->min_slot < MKFS_SLOT_MIN ||
			    a->min_slot > MKFS_SLOT_MAX)) {
		fprintf(stderr, PROG ": invalid minimum slot size %" PRIu64
			": must be a power of two from 4K to 64M\n",
			a->min_slot);
		return -EINVAL;
	}
	uint64_t chunk = a->chunk_size ? a->chunk_size : (1u << 20);
	uint64_t min = a->min_slot ? a->min_slot : MKFS_SLOT_MIN;
	if (min > chunk) {
		fprintf(stderr, PROG ": minimum slot size %" PRIu64 " is larger "
			"than the slot size %" PRIu64 "\n", min, chunk);
		return -EINVAL;
	}
	/* made here, not by the library, so that the UUID printed is
	 * the one slot_format writes (plan and format would each draw) */
	if (!have_uuid)
		uuid_generate_random(a->uuid);
	return 0;
}

static void mkfs_say(bool say, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A message on stderr, unless say is false. */
static void mkfs_say(bool say, const char *fmt, ...)
{
	va_list ap;

	if (!say)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* Is the block device st mounted (by the kernel)?  Fills where. */
static bool mkfs_blk_mounted(const struct stat *st, char *where, size_t cap)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char src[PATH_MAX], dir[PATH_MAX];
	bool found = false;

	if (!f)
		return false;
	/* Fields are octal-escaped, but device paths rarely need it. */
	while (fscanf(f, "%4095s %4095s %*[^\n]", src, dir) == 2) {
		struct stat sst;

		if (src[0] != '/' || stat(src, &sst) < 0)
			continue;
		if (S_ISBLK(sst.st_mode) && sst.st_rdev == st->st_rdev) {
			snprintf(where, cap, "%s", dir);
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

/*
 * Look for another file system or a partition table with libblkid.
 * Returns 1 (and prints what) if found, 0 if none, < 0 on error.
 */
static int mkfs_probe_foreign(const char *path, bool say)
{
	struct slot_foreign f;
	char what[192];
	int found = slot_dev_foreign(path, &f);

	if (found != 1)
		return found;
	sfs_client_foreign_words(&f, what, sizeof(what));
	mkfs_say(say, "%s contains %s\n", path, what);
	return 1;
}

/*
 * Erase every signature libblkid knows on the device (as wipefs -a does),
 * so a reformatted disk no longer shows up as its old file system.
 */
static int mkfs_wipe_foreign(const char *path)
{
#if HAVE_BLKID
	int fd = open(path, O_RDWR | O_CLOEXEC);
	blkid_probe pr;
	int r = 0;

	if (fd < 0)
		return -errno;
	pr = blkid_new_probe();
	if (!pr || blkid_probe_set_device(pr, fd, 0, 0) < 0) {
		r = -ENOMEM;
		goto out;
	}
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_MAGIC);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
	while (blkid_do_probe(pr) == 0) {
		if (blkid_do_wipe(pr, 0) < 0) {
			r = errno ? -errno : -EIO;
			goto out;
		}
	}
	if (fsync(fd) < 0)
		r = -errno;
out:
	if (pr)
		blkid_free_probe(pr);
	close(fd);
	return r;
#else
	(void)path;
	return 0;
#endif
}

/* Does dev already hold slotfs?  Same contract as mkfs_probe_foreign. */
static int mkfs_probe_slotfs(const char *path, struct slot_dev *dev,
			     bool say)
{
	struct slot_geometry g;
	char uuid[37];
	int r = slot_probe(dev, &g);

	if (r <= 0)
		return r;
	/* A damaged superblock still says slotfs, with no geometry. */
	if (!g.block_size) {
		mkfs_say(say, "%s contains a damaged slotfs file system\n",
			path);
		return 1;
	}
	uuid_unparse_lower(g.uuid, uuid);
	if (g.label[0])
		mkfs_say(say, "%s contains a slotfs file system labelled "
			"'%s' (UUID %s)\n", path, g.label, uuid);
	else
		mkfs_say(say, "%s contains a slotfs file system (UUID %s)\n",
			path, uuid);
	return 1;
}

/* Create or grow the image file to size bytes; never shrink it.  A file
 * it created and could not size is removed again. */
static int mkfs_extend_image(const char *path, uint64_t size, bool exists)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	struct stat st;
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if ((uint64_t)st.st_size < size && ftruncate(fd, (off_t)size) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (r && !exists)
		unlink(path);
	return r;
}

/* Does slot_format_plan accept a layout where v bytes are the device's
 * size (meta false) or, size bytes being it, the metadata area's? */
static bool mkfs_plans(uint64_t v, uint64_t size,
		       const struct slot_format_opts *fo, bool meta)
{
	struct slot_format_opts o = *fo;
	struct slot_geometry g;

	if (meta)
		o.meta_size = v;
	return slot_format_plan(meta ? size : v, &o, &g) == 0;
}

/*
 * The least whole MiB in (lo, hi] that mkfs_plans accepts (0 if not even
 * hi), found by asking slot_format_plan: the layout rules stay in the
 * library.
 */
static uint64_t mkfs_least(uint64_t lo, uint64_t hi, uint64_t size,
			   const struct slot_format_opts *fo, bool meta)
{
	const uint64_t step = 1ull << 20;

	lo = lo / step + 1;
	hi /= step;
	if (lo > hi || !mkfs_plans(hi * step, size, fo, meta))
		return 0;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (mkfs_plans(mid * step, size, fo, meta))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo * step;
}

/* The smallest device size these options lay out; 0 if none to 16 TiB. */
static uint64_t mkfs_min_size(uint64_t size, const struct slot_format_opts *fo)
{
	return mkfs_least(size, 16ull << 40, 0, fo, false);
}

/* The smallest metadata area (-m) with which size has a layout; 0: none
 * (the default's area has room, when size has a layout at all). */
static uint64_t mkfs_min_meta(uint64_t size, const struct slot_format_opts *fo)
{
	struct slot_format_opts d = *fo;
	struct slot_geometry g;

	d.meta_size = 0;
	if (slot_format_plan(size, &d, &g) < 0)
		return 0;
	return mkfs_least(fo->meta_size, g.meta_size, size, fo, true);
}

/* Whether nothing holds the block device at path: an exclusive open,
 * tried and let go (a dry run keeps no claim, but says what the real run
 * would meet).  0, or -EBUSY. */
static int mkfs_blk_free(const char *path)
{
	int fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC);
	if (fd < 0)
		return errno == EBUSY ? -EBUSY : 0;
	close(fd);
	return 0;
}

static int mkfs_open(const struct mkfs_args *a, struct slot_dev **dev)
{
	/* A dry run needs no write access and must not block a user. */
	int r = slot_dev_open(a->path, SLOT_ENGINE_AUTO, 32, false, a->dry_run,
			      !a->dry_run, dev);
	struct stat st;

	if (!r && a->dry_run && stat(a->path, &st) == 0 &&
	    S_ISBLK(st.st_mode) && (r = mkfs_blk_free(a->path)) < 0) {
		slot_dev_close(*dev);
		*dev = NULL;
	}
	if (r == -EBUSY)
		fprintf(stderr, PROG ": %s is in use (mounted, a partition of "
			"it in use, or opened by another slotfs program)\n",
			a->path);
	else if (r < 0)
		fprintf(stderr, PROG ": cannot open %s: %s\n", a->path,
			slot_open_strerror(r));
	return r;
}

/*
 * A partition table wiped: the kernel drops the partitions it knew once
 * asked to read the table again, as wipefs -a asks; else a stale one
 * still opens, inside the new file system.  Asked through an exclusive
 * open (the kernel wants nothing else to hold the disk); a partition, not
 * a disk, answers EINVAL, which says nothing.
 */
static void mkfs_reread_parts(const char *path)
{
	int fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC);
	if (fd < 0)
		return;
	if (ioctl(fd, BLKRRPART) < 0 && errno != EINVAL)
		fprintf(stderr, PROG ": warning: the kernel did not read %s's "
			"partition table again (%s); partitions it knew may "
			"still show until it does (partx -d, or a reboot)\n",
			path, strerror(errno));
	close(fd);
}

static int mkfs_run(struct mkfs_args *a)
{
	struct slot_dev *dev = NULL;
	struct slot_format_opts fo;
	struct slot_geometry geo;
	struct stat st;
	bool exists;
	uint64_t size = 0;
	int foreign = 0;
	char where[PATH_MAX], b1[32], b2[32];
	int r;

	exists = stat(a->path, &st) == 0;
	if (!exists && (errno != ENOENT || !a->image_size)) {
		int err = errno;

		fprintf(stderr, PROG ": %s: %s\n", a->path, strerror(err));
		if (err == ENOENT)
			fprintf(stderr, "(use -C SIZE to create an image "
				"file)\n");
		return -err;
	}
	if (exists && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		fprintf(stderr, PROG ": %s is neither a block device nor a "
			"regular file\n", a->path);
		return -EINVAL;
	}
	if (exists && S_ISBLK(st.st_mode)) {
		if (a->image_size) {
			fprintf(stderr, PROG ": -C applies to image files; %s "
				"is a block device\n", a->path);
			return -EINVAL;
		}
		if (mkfs_blk_mounted(&st, where, sizeof where)) {
			fprintf(stderr, PROG ": %s is mounted on %s; will not "
				"make a file system here!\n", a->path, where);
			return -EBUSY;
		}
	}

	/* Check what is there before -C touches the file. */
	if (exists) {
		r = mkfs_open(a, &dev);
		if (r < 0)
			return r;
		/* With -f what we overwrite is only news; -q drops it. */
		bool say = !(a->force && a->quiet);
		foreign = mkfs_probe_foreign(a->path, say);
		int mine = mkfs_probe_slotfs(a->path, dev, say);
		if (foreign < 0)
			fprintf(stderr, PROG ": warning: cannot probe %s for "
				"other file systems: %s\n", a->path,
				strerror(-foreign));
		if (mine < 0) {
			fprintf(stderr, PROG ": cannot read %s: %s\n", a->path,
				slot_open_strerror(mine));
			r = mine;
			goto out;
		}
		if ((foreign > 0 || mine > 0) && !a->force) {
			fprintf(stderr, PROG ": will not overwrite it; use -f "
				"to format anyway\n");
			r = -EEXIST;
			goto out;
		}
		size = dev->size;
	}
	/* -C grows the file only once the plan for the new size is good. */
	if (a->image_size > size)
		size = a->image_size;
	if (a->fs_size > size) {
		fprintf(stderr, PROG ": the file system size %s is larger than "
			"%s (%s)%s\n", slot_format_size(a->fs_size, b1, sizeof b1),
			a->path, slot_format_size(size, b2, sizeof b2),
			exists && S_ISBLK(st.st_mode) ? "" :
			"; -C SIZE makes the image larger");
		r = -EFBIG;
		goto out;
	}
	if (a->fs_size)
		size = a->fs_size;

	slot_format_opts_init(&fo);
	fo.chunk_size = (uint32_t)a->chunk_size;
	fo.min_slot = (uint32_t)a->min_slot;
	fo.meta_size = a->meta_size;
	fo.label = a->label;
	fo.uuid = a->uuid;
	fo.dry_run = a->dry_run;

	r = slot_format_plan(size, &fo, &geo);
	if (r == -ENOSPC || r == -EFBIG) {
		uint64_t need = mkfs_min_size(size, &fo);

		if (need)
			fprintf(stderr, PROG ": %s is too small: %" PRIu64
				" bytes; slotfs needs at least %" PRIu64
				" bytes (%s) with these options\n", a->path,
				size, need, slot_format_size(need, b1, sizeof b1));
		else
			fprintf(stderr, PROG ": %s is too small: %" PRIu64
				" bytes (%s)\n", a->path, size,
				slot_open_strerror(r));
		goto out;
	} else if (r == -ENOBUFS) {
		uint64_t need = mkfs_min_meta(size, &fo);

		fprintf(stderr, PROG ": -m %s is too small for %s: the metadata "
			"area holds two checkpoints, each indexing every slot "
			"of the device; it needs %s%s\n",
			slot_format_size(a->meta_size, b1, sizeof b1), a->path,
			need ? "at least " : "more than the device",
			need ? slot_format_size(need, b2, sizeof b2) : "");
		goto out;
	} else if (r < 0) {
		fprintf(stderr, PROG ": cannot lay out slotfs on %s (%" PRIu64
			" bytes): %s\n", a->path, size,
			r == -EOVERFLOW ? "too large (at most 2^32 regions)" :
			r == -EINVAL ? "the slot, chunk or metadata sizes are "
			"out of range" : slot_strerror(r));
		goto out;
	}

	if (a->dry_run) {
		if (!a->quiet) {
			printf(PROG " %s\n", SLOTFS_VERSION);
			mkfs_print_geometry(a, &geo);
			printf("Dry run (-n): nothing written\n");
		}
		r = 0;
		goto out;
	}

	/* before the plan is printed: an image that cannot be made (no such
	 * directory, a full file system) is reported alone */
	/* only -C makes the file larger (FS_SIZE past it was refused) */
	if (!dev || dev->size < a->image_size) {
		/* Reopen after growing: the device size is read at open. */
		if (dev) {
			slot_dev_close(dev);
			dev = NULL;
		}
		r = mkfs_extend_image(a->path, a->image_size, exists);
		if (r < 0) {
			fprintf(stderr, PROG ": cannot %s %s to %" PRIu64
				" bytes: %s\n", exists ? "extend" : "create",
				a->path, a->image_size, strerror(-r));
			return r;
		}
		r = mkfs_open(a, &dev);
		if (r < 0)
			return r;
	}
	/* the file system and its discard end at size (FS_SIZE) */
	dev->size = size;
	if (!a->quiet) {
		printf(PROG " %s\n", SLOTFS_VERSION);
		mkfs_print_geometry(a, &geo);
	}
	if (!a->keep)
		mkfs_discard(a, dev);
	/* Old signatures elsewhere on the device would still show in blkid. */
	if (foreign > 0) {
		r = mkfs_wipe_foreign(a->path);
		if (r < 0) {
			fprintf(stderr, PROG ": cannot erase the old signatures "
				"on %s: %s\n", a->path, strerror(-r));
			goto out;
		}
	}

	if (!a->quiet) {
		printf("Writing superblocks and checkpoint: ");
		fflush(stdout);
	}
	r = slot_format(dev, &fo, &geo);
	if (r < 0) {
		if (!a->quiet)
			printf("failed\n");
		fprintf(stderr, PROG ": formatting %s failed: %s\n", a->path,
			slot_strerror(r));
		goto out;
	}
	if (!a->quiet)
		printf("done\n");
	slot_dev_close(dev);
	dev = NULL;
	if (foreign > 0 && S_ISBLK(st.st_mode))
		mkfs_reread_parts(a->path);
out:
	if (dev)
		slot_dev_close(dev);
	return r;
}

int main(int argc, char **argv)
{
	struct mkfs_args a = { 0 };

	if (mkfs_parse_args(argc, argv, &a) < 0)
		return 1;
	return mkfs_run(&a) < 0 ? 1 : 0;
}
