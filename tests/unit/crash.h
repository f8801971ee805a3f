/* SPDX-License-Identifier: MIT */
/*
 * crash.h - a power-loss harness on the emulated device (issue 5).
 *
 * A workload runs on an emulated device that logs every write and flush;
 * as it runs, the cw_* calls below do the operation and record in a model
 * what was acknowledged and when a sync or fsync completed (as an index
 * into the device log).  crash_run() then builds, for each crash point k,
 * the image a drive with a volatile write cache may hold after power is
 * lost with k requests issued: everything before the last flush, and the
 * writes after it all applied, some dropped, applied out of order, or the
 * last one torn at 512 B or 4 KiB.  Each image is opened (recovery) and
 * checked against the model; see crash.c for the properties.
 *
 * Modes, from the environment:
 *   SLOT_CRASH_MODE=linear      every crash point, each variant once
 *                               (the default, run by the unit tests)
 *   SLOT_CRASH_MODE=sample      SLOT_CRASH_POINTS (64) seeded random points
 *   SLOT_CRASH_MODE=exhaustive  every point, many seeds per variant, no
 *                               time budget:
 *       env SLOT_CRASH_MODE=exhaustive build/tests/unit/test_crash --jobs=1
 *   SLOT_CRASH_SEED=n           seed of the random variants (default 1)
 *   SLOT_CRASH_BUDGET=s         seconds per workload before it stops early
 *                               (linear and sample: 120; 0 = none);
 *                               points it cuts off are reported
 *   SLOT_CRASH_POINT=k          only crash point k (to replay a violation)
 *   SLOT_CRASH_DUMP=dir         write each violating image there
 *   SLOT_CRASH_VERBOSE=1        a line per image
 *   SLOT_CRASH_OPS=1            print the device log and the model first
 */
#ifndef SLOT_TEST_CRASH_H
#define SLOT_TEST_CRASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slot.h"

struct cw;                      /* a workload being run and recorded */
typedef uint32_t cw_obj;        /* an object of the model */
#define CW_ROOT 0u              /* the root directory */

/* Key-value face.  Each put writes a fresh version of the key's bytes. */
void cw_put(struct cw *w, const char *const *keys, const size_t *lens,
	    size_t n);
void cw_put1(struct cw *w, const char *key, size_t len);
void cw_del(struct cw *w, const char *const *keys, size_t n);
/* Put keys[0..n) in one batch, and delete keys[0] while the batch is in
 * flight (its first write held): that put must report -ECANCELED. */
void cw_put_delete_inflight(struct cw *w, const char *const *keys,
			    const size_t *lens, size_t n);
void cw_sync(struct cw *w);
/* A barrier, but a checkpoint does not write files' buffered chunks out:
 * fsync those first (cw_dir_fsync does). */
void cw_ckpt(struct cw *w);
/* slot_shrink to size bytes: a barrier, as it syncs first. */
void cw_shrink(struct cw *w, uint64_t size);
/* Payload bytes the store has free (slot_status). */
uint64_t cw_bytes_free(struct cw *w);
/* slot_grow to all of the device (see crash_workload.format_size): a
 * barrier as cw_ckpt is, since it writes checkpoints. */
void cw_grow(struct cw *w);

/* File face, as fs/ drives it. */
cw_obj cw_mkdir(struct cw *w, cw_obj dir, const char *name);
cw_obj cw_create(struct cw *w, cw_obj dir, const char *name);
void cw_write(struct cw *w, cw_obj f, uint64_t off, size_t len);
void cw_truncate(struct cw *w, cw_obj f, uint64_t size);
void cw_fsync(struct cw *w, cw_obj f);
/* A barrier for every object: slot_dir_fsync writes the chunks files
 * buffer, then a checkpoint. */
void cw_dir_fsync(struct cw *w, cw_obj d);
void cw_rename(struct cw *w, cw_obj from, const char *name, cw_obj to,
	       const char *newname);
void cw_unlink(struct cw *w, cw_obj dir, const char *name);
void cw_chmod(struct cw *w, cw_obj f, uint32_t mode);
/* slot_file_allocate: space set aside, the size grown (!keep_size). */
void cw_allocate(struct cw *w, cw_obj f, uint64_t off, uint64_t len,
		 bool keep_size);
/* slot_file_zero: a hole punched (keep_size) or a range zeroed. */
void cw_zero(struct cw *w, cw_obj f, uint64_t off, uint64_t len,
	     bool keep_size);
/* Set "user.v" to value, or remove it (NULL). */
void cw_setxattr(struct cw *w, cw_obj f, const char *value);
/* POSIX ACLs: make name with mode (type included), inheriting dir's
 * default ACL; set f's access or default ACL (value in the xattr form;
 * the mode and ACLs that result are read back into the model). */
cw_obj cw_make_acl(struct cw *w, cw_obj dir, const char *name, uint32_t mode);
void cw_setacl(struct cw *w, cw_obj f, bool dflt, const void *value,
	       size_t len);

struct crash_workload {
	const char *name;
	/* Runs before logging starts and is made durable: the crash images
	 * all start from it.  May be NULL. */
	void (*setup)(struct cw *w);
	void (*run)(struct cw *w);
	/* Change every crash image before it is opened (harness self-test:
	 * the checks must then find violations).  Usually NULL. */
	void (*sabotage)(uint8_t *img, uint64_t size);
	bool quiet;             /* count violations without printing them */
	/* A file system of this many bytes at the start of the device, to
	 * grow into the rest (cw_grow); 0: all of it. */
	uint64_t format_size;
};

struct crash_result {
	uint64_t nops;          /* device requests the workload logged */
	uint64_t points;        /* crash points tried */
	uint64_t images;        /* crash images built and opened */
	uint64_t recovered;     /* ... that open accepted */
	uint64_t refused;       /* ... that open refused (a violation too) */
	uint64_t violations;
	uint64_t skipped;       /* crash points the time budget cut off */
	bool fsck_skipped;      /* slot_fsck is not there yet */
};

/* Run wl, then every crash image the mode asks for; prints a summary line
 * "crash: workload=... points=N images=M recovered=R refused=F
 * violations=V".  Returns when done; r says how it went. */
void crash_run(const struct crash_workload *wl, struct crash_result *r);

#endif
