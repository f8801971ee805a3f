#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tree.py - the tree of the benchmark's tree rows (tests/bench/run.sh).

  tree.py make TARBALL N   write a tar of N files, as a source tree or a
                           backup holds them: 10 top directories, 100 files
                           a directory below them, sizes from empty to
                           48 KiB, several modes and owners, fixed times,
                           a symbolic link in each directory.  Prints the
                           tree's digest.
  tree.py digest DIR       the digest of the tree extracted in DIR: every
                           entry's relative path, type, mode, owner, group,
                           size, mtime and bytes (or link target).

The two digests agree when the extraction kept everything tar stores.
"""
import hashlib
import io
import os
import random
import stat
import sys
import tarfile

SIZES = (0, 200, 1500, 4096, 6000, 12000, 30000, 49152)
MODES = (0o644, 0o600, 0o755, 0o640, 0o444)
OWNERS = ((0, 0), (1000, 1000), (1001, 100))
DIR_MODES = (0o755, 0o750, 0o700)
MTIME = 1700000000


def line(path, kind, mode, uid, gid, size, mtime, body):
    return "%s %s %o %d %d %d %d %s\n" % (path, kind, mode, uid, gid, size,
                                          mtime, body)


def make(tarball, n):
    lines = []

    def add(tf, info, data=None):
        tf.addfile(info, io.BytesIO(data) if data is not None else None)
        mode, mtime = info.mode, info.mtime
        if info.isdir():
            kind, size, body = "d", 0, "-"
        elif info.issym():
            # a link's mode is always 777; its time is not compared
            kind, size, body = "l", 0, info.linkname
            mode, mtime = 0o777, 0
        else:
            kind, size = "f", len(data)
            body = hashlib.sha256(data).hexdigest()
        lines.append(line(info.name, kind, mode, info.uid, info.gid,
                          size, mtime, body))

    def entry(name, kind, mode, owner):
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.uid, info.gid = owner
        info.mtime = MTIME
        return info

    # in tree order, so that tar sets a directory's time after its last
    # entry went in
    with tarfile.open(tarball, "w", format=tarfile.GNU_FORMAT) as tf:
        ndirs = (n + 99) // 100
        for t in range(min(10, ndirs)):
            top = "t%d" % t
            add(tf, entry(top, tarfile.DIRTYPE, 0o755, (0, 0)))
            for d in range(t, ndirs, 10):
                sub = "%s/d%03d" % (top, d)
                add(tf, entry(sub, tarfile.DIRTYPE, DIR_MODES[d % 3],
                              OWNERS[d % 3]))
                rng = random.Random(d)
                last = min(n, d * 100 + 100)
                for i in range(d * 100, last):
                    data = rng.randbytes(SIZES[i % len(SIZES)])
                    info = entry("%s/f%05d.dat" % (sub, i), tarfile.REGTYPE,
                                 MODES[i % len(MODES)], OWNERS[i % 3])
                    info.size = len(data)
                    add(tf, info, data)
                link = entry("%s/latest" % sub, tarfile.SYMTYPE, 0o777,
                             (0, 0))
                link.linkname = "f%05d.dat" % (last - 1)
                add(tf, link)
    return digest_of(lines)


def digest_of(lines):
    return hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()


def digest(root):
    lines = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                kind, size, body = "d", 0, "-"
            elif stat.S_ISLNK(st.st_mode):
                kind, size, body = "l", 0, os.readlink(path)
            else:
                kind, size = "f", st.st_size
                with open(path, "rb") as f:
                    body = hashlib.sha256(f.read()).hexdigest()
            mtime = 0 if kind == "l" else int(st.st_mtime)
            lines.append(line(rel, kind, mode, st.st_uid, st.st_gid, size,
                              mtime, body))
    return digest_of(lines)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "make":
        print(make(sys.argv[2], int(sys.argv[3])))
    elif len(sys.argv) == 3 and sys.argv[1] == "digest":
        print(digest(sys.argv[2]))
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
