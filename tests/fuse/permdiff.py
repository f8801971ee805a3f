#!/usr/bin/env python3
"""The same calls on two stores, to compare who decides permissions.

  permdiff.py seed DIR    as root: files and directories of three owners,
                          three groups and 21 modes (sticky and set-id too)
  permdiff.py probe DIR   as a user: for each, access(2), opens, a
                          truncation, attributes, times, a chown, links;
                          in a directory, its listing, creates, renames,
                          removals, a chdir: one line of results a name

Two stores seeded alike, one mounted where the daemon checks (a mount of
the user's own) and one where the kernel does (allow_other), must print
the same lines.
"""
import errno
import itertools
import os
import sys

OWNERS = (65534, 0, 1234)
GROUPS = (65534, 4321, 777)
MODES = (0o000, 0o400, 0o200, 0o100, 0o040, 0o020, 0o010, 0o004, 0o002,
         0o001, 0o755, 0o700, 0o070, 0o007, 0o644, 0o1777, 0o2775, 0o4755,
         0o6755, 0o1770, 0o3777)


def seed(top):
    t = os.path.join(top, "t")
    os.mkdir(t)
    os.chmod(t, 0o777)
    for o, g, m in itertools.product(OWNERS, GROUPS, MODES):
        for kind in "fd":
            p = "%s/%s_%d_%d_%o" % (t, kind, o, g, m)
            if kind == "f":
                with open(p, "w") as f:
                    f.write("data\n")
            else:
                os.mkdir(p)
                with open(p + "/inner", "w") as f:
                    f.write("x\n")
                os.mkdir(p + "/sub")
                os.chown(p + "/inner", 1234, 777)
                os.chown(p + "/sub", o, g)
            os.chown(p, o, g)
            os.chmod(p, m)


def result(f, *a):
    try:
        f(*a)
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def touch_open(p, flags):
    os.close(os.open(p, flags, 0o644))


def chdir_back(p):
    os.chdir(p)
    os.chdir("/")


def probe(top):
    t = os.path.join(top, "t")
    for name in sorted(os.listdir(t)):
        p = os.path.join(t, name)
        r = ["%s/%s/%s" % (result(os.access, p, os.R_OK),
                           os.access(p, os.W_OK), os.access(p, os.X_OK))]
        if name.startswith("f"):
            steps = [(touch_open, p, os.O_RDONLY),
                     (touch_open, p, os.O_WRONLY),
                     (os.truncate, p, 3),
                     (os.setxattr, p, "user.a", b"1"),
                     (os.getxattr, p, "user.a"),
                     (os.utime, p, None),
                     (os.utime, p, (1, 2)),
                     (os.chown, p, -1, 4321),
                     (os.chmod, p, os.lstat(p).st_mode & 0o7777),
                     (os.link, p, p + ".ln"),
                     (os.unlink, p + ".ln")]
        else:
            steps = [(os.listdir, p),
                     (os.stat, p + "/inner"),
                     (touch_open, p + "/inner", os.O_RDONLY),
                     (touch_open, p + "/new", os.O_CREAT | os.O_WRONLY),
                     (os.mkdir, p + "/nd"),
                     (os.rename, p + "/inner", p + "/inner2"),
                     (os.rename, p + "/inner2", p + "/inner"),
                     (os.unlink, p + "/new"),
                     (os.rmdir, p + "/nd"),
                     (os.symlink, "x", p + "/sl"),
                     (os.unlink, p + "/sl"),
                     (os.rmdir, p + "/sub"),
                     (os.mkdir, p + "/sub"),
                     (chdir_back, p),
                     (os.utime, p, None),
                     (os.setxattr, p, "user.a", b"1"),
                     (os.chown, p, -1, 4321)]
        r += [result(s[0], *s[1:]) for s in steps]
        st = os.lstat(p)
        r.append("%o:%d:%d" % (st.st_mode, st.st_uid, st.st_gid))
        print(name, " ".join(r))


if __name__ == "__main__":
    {"seed": seed, "probe": probe}[sys.argv[1]](sys.argv[2])
