// SPDX-License-Identifier: MIT
/*
 * client.c - the tools' side of a mounted store (client.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "client.h"
#include "slot.h"

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void client_unescape(char *p)
{
	char *q = p;
	for (; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' &&
		    p[2] >= '0' && p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
			*q++ = (char)((p[1] - '0') << 6 | (p[2] - '0') << 3 |
				      (p[3] - '0'));
			p += 3;
		} else {
			*q++ = *p;
		}
	}
	*q = 0;
}

/* The same image file (inode) or block device (device number). */
static bool client_same_file(const struct stat *a, const char *path)
{
	struct stat b;
	if (stat(path, &b) < 0)
		return false;
	if (S_ISBLK(a->st_mode))
		return S_ISBLK(b.st_mode) && a->st_rdev == b.st_rdev;
	return a->st_dev == b.st_dev && a->st_ino == b.st_ino;
}

static int client_find(const char *path, char *mnt, size_t len)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t cap = 0;
	int err = -ENOENT;
	while (err && getline(&line, &cap, f) > 0) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS... - TYPE SOURCE ...;
		 * the daemon names its image or device as the source */
		char *dash = strstr(line, " - ");
		char point[4096], type[64], source[4096];
		if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 ||
		    sscanf(dash, " - %63s %4095s", type, source) != 2 ||
		    strcmp(type, "fuse.slotfs"))
			continue;
		client_unescape(point);
		client_unescape(source);
		if (client_same_file(&st, source) && strlen(point) < len) {
			strcpy(mnt, point);
			err = 0;
		}
	}
	free(line);
	fclose(f);
	return err;
}

int sfs_client_mount(const char *prog, const char *path, char *mnt,
		     size_t len)
{
	int r = client_find(path, mnt, len);
	if (r == -ENOENT)
		fprintf(stderr, "%s: %s is in use, and not by a slotfs mount; "
			"close it first\n", prog, path);
	else if (r)
		fprintf(stderr, "%s: %s: %s\n", prog, path, slot_strerror(r));
	return r;
}

int sfs_client_ioctl(const char *mnt, unsigned long request, void *arg)
{
	int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = ioctl(fd, request, arg) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int sfs_client_device(const char *prog, const char *spec, char *path,
		      size_t cap)
{
	int r = slot_find_device(spec, path, cap);
	if (r < 0)
		fprintf(stderr, "%s: %s: %s\n", prog, spec, slot_strerror(r));
	return r;
}

void sfs_client_foreign_words(const struct slot_foreign *f, char *buf,
			       size_t cap)
{
	if (f->conflict)
		snprintf(buf, cap, "several conflicting signatures");
	else if (f->type[0] && f->label[0])
		snprintf(buf, cap, "a %s file system labelled '%s'", f->type,
			 f->label);
	else if (f->type[0])
		snprintf(buf, cap, "a %s file system", f->type);
	else
		snprintf(buf, cap, "a %s partition table", f->pttype);
}

void sfs_client_foreign(const char *prog, const char *path)
{
	struct slot_foreign f;
	char what[192] = "another file system";
	if (slot_dev_foreign(path, &f) == 1)
		sfs_client_foreign_words(&f, what, sizeof(what));
	fprintf(stderr, "%s: %s contains %s; of slotfs only a backup "
		"superblock is left there, which is not used\n", prog, path,
		what);
}

int sfs_client_errors(const char *prog, const char *name, int *out)
{
	if (!strcmp(name, "continue")) {
		*out = SLOT_ERRORS_CONTINUE;
	} else if (!strcmp(name, "remount-ro")) {
		*out = SLOT_ERRORS_RO;
	} else {
		fprintf(stderr, "%s: errors=%s: expected continue or "
			"remount-ro%s\n", prog, name, !strcmp(name, "panic") ?
			" (a FUSE file system cannot panic the kernel)" : "");
		return -EINVAL;
	}
	return 0;
}

int sfs_client_uuid(const char *prog, const char *arg, unsigned char uuid[16])
{
	if (!strcmp(arg, "random"))
		uuid_generate_random(uuid);
	else if (!strcmp(arg, "time"))
		uuid_generate_time(uuid);
	else if (uuid_parse(arg, uuid)) {
		fprintf(stderr, "%s: invalid UUID '%s' (expected random, time "
			"or xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)\n", prog, arg);
		return -EINVAL;
	}
	if (uuid_is_null(uuid)) {
		fprintf(stderr, "%s: the nil UUID names no file system\n",
			prog);
		return -EINVAL;
	}
	return 0;
}
