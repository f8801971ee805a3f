// SPDX-License-Identifier: MIT
/*
 * dev.c - open an image file or block device and pick an I/O engine;
 * the counters every engine shares.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

#define DEV_QD_DEFAULT 32u
#define DEV_QD_MAX     4096u

void *sl_alloc_aligned(size_t n)
{
	void *p = NULL;

	if (!n)
		n = SL_BLOCK;
	if (posix_memalign(&p, SL_BLOCK, n))
		return NULL;
	memset(p, 0, n);
	return p;
}

void *sl_alloc_big(size_t n, bool fault_in)
{
	if (n < SL_HUGE)
		return sl_alloc_aligned(n);
	size_t len = sl_big_len(n);
	uint8_t *m = mmap(NULL, len + SL_HUGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	/* trim to huge-page boundaries at both ends */
	uint8_t *base = (uint8_t *)SL_ALIGN_UP((uintptr_t)m, SL_HUGE);
	size_t head = (size_t)(base - m);
	if (head)
		munmap(m, head);
	munmap(base + len, SL_HUGE - head);
	/* a hint: without huge pages it works in 4 KiB pages */
	madvise(base, len, MADV_HUGEPAGE);
	/* a kernel before 5.14 says EINVAL: first touches fault it in */
#ifdef MADV_POPULATE_WRITE
	if (fault_in)
		madvise(base, len, MADV_POPULATE_WRITE);
#else
	(void)fault_in;
#endif
	return base;
}

void sl_free_big(void *p, size_t n)
{
	if (n < SL_HUGE)
		free(p);
	else if (p)
		munmap(p, sl_big_len(n));
}

/* Raise *max to v unless another thread already raised it further. */
static void count_hwm(atomic_uint *max, unsigned v)
{
	unsigned cur = atomic_load_explicit(max, memory_order_relaxed);

	while (v > cur &&
	       !atomic_compare_exchange_weak_explicit(max, &cur, v,
						      memory_order_relaxed,
						      memory_order_relaxed))
		;
}

void sl_dev_count_submit(struct sl_dev_counters *c, unsigned n)
{
	unsigned d;

	if (!n)
		return;
	atomic_fetch_add_explicit(&c->submitted, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->submit_calls, 1, memory_order_relaxed);
	d = atomic_fetch_add_explicit(&c->sq_depth, n,
				      memory_order_relaxed) + n;
	count_hwm(&c->sq_depth_max, d);
}

void sl_dev_count_reap(struct sl_dev_counters *c, unsigned n)
{
	if (!n)
		return;
	atomic_fetch_add_explicit(&c->completed, n, memory_order_relaxed);
	atomic_fetch_sub_explicit(&c->sq_depth, n, memory_order_relaxed);
	count_hwm(&c->cq_depth_max, n);
}

int sl_io_segments(const struct slot_io *io, uint32_t done, struct iovec *out)
{
	uint64_t total = 0;
	int k = 0;

	if (io->len > INT32_MAX || done > io->len)
		return -EINVAL;
	if (!io->iov) {
		out[0].iov_base = (char *)io->buf + done;
		out[0].iov_len = io->len - done;
		return 1;
	}
	if (!io->iovcnt || io->iovcnt > SLOT_IO_IOV_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < io->iovcnt; i++) {
		size_t l = io->iov[i].iov_len;

		total += l;
		if (done >= l) {
			done -= (uint32_t)l;
			continue;
		}
		out[k].iov_base = (char *)io->iov[i].iov_base + done;
		out[k++].iov_len = l - done;
		done = 0;
	}
	return total == io->len ? k : -EINVAL;
}

void sl_io_copy(const struct slot_io *io, uint8_t *mem, bool to_io)
{
	struct iovec seg[SLOT_IO_IOV_MAX];
	int n = sl_io_segments(io, 0, seg);

	for (int i = 0; i < n; i++) {
		if (to_io)
			memcpy(seg[i].iov_base, mem, seg[i].iov_len);
		else
			memcpy(mem, seg[i].iov_base, seg[i].iov_len);
		mem += seg[i].iov_len;
	}
}

int sl_dev_write_errno(int err)
{
	/* a block device set read-only under a mount (blockdev --setro)
	 * refuses writes with EPERM, which reads as a permission problem */
	return err == -EPERM || err == -EACCES ? -EROFS : err;
}

int sl_dev_io_sync(int fd, struct sl_dev_counters *c, struct slot_io *io,
		   uint32_t done, bool write)
{
	while (done < io->len) {
		struct iovec seg[SLOT_IO_IOV_MAX];
		int nseg = sl_io_segments(io, done, seg);
		off_t off = (off_t)(io->off + done);
		ssize_t r;

		if (nseg < 0)
			return nseg;
		sl_dev_count_submit(c, 1);
		r = write ? pwritev(fd, seg, nseg, off) : preadv(fd, seg, nseg, off);
		sl_dev_count_reap(c, 1);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return write ? sl_dev_write_errno(-errno) : -errno;
		}
		if (r == 0)
			return -EIO;    /* end of the device */
		done += (uint32_t)r;
		atomic_fetch_add_explicit(write ? &c->bytes_written
					  : &c->bytes_read,
					  (uint64_t)r, memory_order_relaxed);
	}
	return (int)done;
}

struct sl_dev_counters *sl_dev_counters(struct slot_dev *dev)
{
	/* every engine's ctx starts with its counters */
	return dev->ctx;
}

const char *slot_dev_engine_name(const struct slot_dev *dev)
{
	if (dev->ops == &sl_uring_ops)
		return "io_uring";
	if (dev->ops == &sl_psync_ops)
		return "psync";
	if (dev->ops == &sl_emu_ops)
		return "emulated";
	return "custom";
}

void slot_dev_get_stats(const struct slot_dev *dev, struct slot_dev_stats *st)
{
	const struct sl_dev_counters *c = dev->ctx;

	memset(st, 0, sizeof(*st));
	/* a caller-made device may not carry our counters */
	if (dev->ops != &sl_uring_ops && dev->ops != &sl_psync_ops &&
	    dev->ops != &sl_emu_ops)
		return;
	st->submitted = atomic_load(&c->submitted);
	st->completed = atomic_load(&c->completed);
	st->errors = atomic_load(&c->errors);
	st->flushes = atomic_load(&c->flushes);
	st->bytes_read = atomic_load(&c->bytes_read);
	st->bytes_written = atomic_load(&c->bytes_written);
	st->sq_depth = atomic_load(&c->sq_depth);
	st->sq_depth_max = atomic_load(&c->sq_depth_max);
	st->cq_depth_max = atomic_load(&c->cq_depth_max);
	st->queue_depth = c->queue_depth;
}

/* Size and logical block size of an open fd (file or block device). */
static int dev_geometry(int fd, const struct stat *st, uint64_t *size,
			uint32_t *bs)
{
	*bs = SL_BLOCK;
	if (S_ISBLK(st->st_mode)) {
		uint64_t sz;
		int lbs;

		if (ioctl(fd, BLKGETSIZE64, &sz) < 0)
			return -errno;
		*size = sz;
		if (ioctl(fd, BLKSSZGET, &lbs) == 0 && lbs > 0 &&
		    (unsigned)lbs > *bs)
			*bs = (uint32_t)lbs;
		return 0;
	}
	if (S_ISDIR(st->st_mode))
		return -EISDIR;
	if (!S_ISREG(st->st_mode))
		return -ENODEV;
	*size = (uint64_t)st->st_size;
	return 0;
}

int sl_dev_size_refresh(struct slot_dev *dev)
{
	int fd = dev->ops == &sl_uring_ops ? sl_uring_fd(dev->ctx) :
		 dev->ops == &sl_psync_ops ? sl_psync_fd(dev->ctx) : -1;
	struct stat st;
	uint64_t size = 0;      /* set when dev_geometry returns 0 */
	uint32_t bs;
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	int err = dev_geometry(fd, &st, &size, &bs);
	if (!err)
		dev->size = size;
	return err;
}

/*
 * An image attached to a loop device is one store under two names, and an
 * exclusive open of either must see the other's holder, as e2fsprogs
 * refuse a file whose loop device is in use.  Each open takes its own
 * name's lock first (the image's flock, the loop device's O_EXCL), then
 * tests the other name's: of two racing opens, one test at least fails.
 */

/* fd is a loop device: whether something holds the lock of its backing
 * file (0, -EBUSY). */
static int dev_loop_backing_busy(int fd, const struct stat *st)
{
	struct loop_info64 li;
	if (ioctl(fd, LOOP_GET_STATUS64, &li) < 0)
		return 0;               /* not a loop device, or detached */
	char sys[96], file[PATH_MAX];
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/loop/backing_file",
		 major(st->st_rdev), minor(st->st_rdev));
	int sfd = open(sys, O_RDONLY | O_CLOEXEC);
	if (sfd < 0)
		return 0;
	ssize_t n = read(sfd, file, sizeof(file) - 1);
	close(sfd);
	if (n <= 0)
		return 0;
	file[n] = '\0';
	file[strcspn(file, "\n")] = '\0';
	int bfd = open(file, O_RDONLY | O_CLOEXEC);
	if (bfd < 0)
		return 0;               /* deleted, or out of reach */
	struct stat bst;
	int err = 0;
	/* the file the path names now must be the one attached */
	if (!fstat(bfd, &bst) && bst.st_dev == li.lo_device &&
	    bst.st_ino == li.lo_inode &&
	    flock(bfd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		err = -EBUSY;
	close(bfd);                     /* and with it a lock taken */
	return err;
}

/* st is an image file: whether a loop device attached to it is held
 * exclusively, by a slotfs or a kernel mount (0, -EBUSY). */
static int dev_image_loop_busy(const struct stat *st)
{
	DIR *d = opendir("/sys/block");
	if (!d)
		return 0;
	int err = 0;
	struct dirent *e;
	while (!err && (e = readdir(d))) {
		if (strncmp(e->d_name, "loop", 4))
			continue;
		char dev[64];
		snprintf(dev, sizeof(dev), "/dev/%.32s", e->d_name);
		int lfd = open(dev, O_RDONLY | O_CLOEXEC);
		if (lfd < 0)
			continue;
		struct loop_info64 li;
		bool ours = !ioctl(lfd, LOOP_GET_STATUS64, &li) &&
			    li.lo_device == st->st_dev &&
			    li.lo_inode == st->st_ino;
		close(lfd);
		if (!ours)
			continue;
		lfd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC);
		if (lfd < 0 && errno == EBUSY)
			err = -EBUSY;
		else if (lfd >= 0)
			close(lfd);
	}
	closedir(d);
	return err;
}

/* The exclusive lock of an open device or image, fd: 0 or -EBUSY. */
static int dev_lock(int fd, const struct stat *st)
{
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	return S_ISBLK(st->st_mode) ? dev_loop_backing_busy(fd, st) :
	       S_ISREG(st->st_mode) ? dev_image_loop_busy(st) : 0;
}

int slot_dev_open(const char *path, enum slot_engine engine,
		  unsigned queue_depth, bool direct, bool read_only,
		  bool exclusive, struct slot_dev **out)
{
	struct stat st;
	uint64_t size = 0;
	uint32_t bs;
	int flags, fd, err;

	*out = NULL;
	if (stat(path, &st) < 0)
		return -errno;
	if (!queue_depth)
		queue_depth = DEV_QD_DEFAULT;
	if (queue_depth > DEV_QD_MAX)
		queue_depth = DEV_QD_MAX;

	flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	/* O_EXCL on a block device: no mounted fs or other O_EXCL holder */
	if (exclusive && S_ISBLK(st.st_mode))
		flags |= O_EXCL;
	fd = open(path, flags | (direct ? O_DIRECT : 0));
	if (fd < 0 && direct && errno == EINVAL) {
		/* the file system does not do O_DIRECT (older tmpfs): the
		 * page cache it is, flush still makes it durable */
		direct = false;
		fd = open(path, flags);
	}
	if (fd < 0)
		return -errno;

	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto fail;
	}
	err = dev_geometry(fd, &st, &size, &bs);
	if (err)
		goto fail;
	if (S_ISBLK(st.st_mode) && !read_only) {
		int ro = 0;

		if (ioctl(fd, BLKROGET, &ro) == 0 && ro) {
			err = -EROFS;
			goto fail;
		}
	}
	if (exclusive) {
		/* A killed owner's io_uring can hold the file for a moment
		 * after its death (the ring is torn down asynchronously), and
		 * an unmounted daemon may still be closing, so a busy lock
		 * gets a short grace period before -EBUSY. */
		int tries = 0;
		while ((err = dev_lock(fd, &st)) == -EBUSY && ++tries <= 40)
			usleep(50 * 1000);
		if (err)
			goto fail;
	}

	switch (engine) {
	case SLOT_ENGINE_URING:
		err = sl_uring_create(fd, queue_depth, size, bs, path, out);
		break;
	case SLOT_ENGINE_PSYNC:
		err = sl_psync_create(fd, queue_depth, size, bs, path, out);
		break;
	case SLOT_ENGINE_AUTO:
		err = sl_uring_create(fd, queue_depth, size, bs, path, out);
		if (err && err != -ENOMEM) {
			fprintf(stderr, "slotfs: io_uring unavailable (%s), "
				"using pread/pwrite\n", strerror(-err));
			err = sl_psync_create(fd, queue_depth, size, bs, path,
					      out);
		}
		break;
	default:
		err = -EINVAL;
		break;
	}
	if (err)
		goto fail;
	return 0;
fail:
	close(fd);
	return err;
}

void slot_dev_close(struct slot_dev *dev)
{
	if (dev && dev->ops->close)
		dev->ops->close(dev->ctx);
}

int sl_fd_discard(int fd, uint64_t off, uint64_t len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		uint64_t range[2] = { off, len };
		if (ioctl(fd, BLKDISCARD, range) < 0)
			return errno == ENOTTY ? -EOPNOTSUPP : -errno;
		return 0;
	}
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) < 0)
		return errno == ENOSYS ? -EOPNOTSUPP : -errno;
	return 0;
}

int sl_dev_span(struct slot_dev *dev, bool write, uint64_t off, void *buf,
		size_t len)
{
	/* requests of at most 1 MiB, all in one batch */
	const size_t max = 1u << 20;
	size_t n = (len + max - 1) / max;
	if (!n)
		return 0;
	struct slot_io *ios = calloc(n, sizeof(*ios));
	if (!ios)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t o = i * max;
		ios[i].buf = (uint8_t *)buf + o;
		ios[i].off = off + o;
		ios[i].len = (uint32_t)(len - o < max ? len - o : max);
	}
	int err = write ? dev->ops->write(dev->ctx, ios, n) :
			  dev->ops->read(dev->ctx, ios, n);
	free(ios);
	return err;
}
