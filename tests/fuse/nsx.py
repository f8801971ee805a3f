#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""nsx.py - random namespace operations on two trees, compared.

Every operation (create, write, append, truncate, mkdir, rmdir, unlink,
rename of files and directories over names that may exist, hard links,
symlinks, chmod, and reads and writes through descriptors whose file was
unlinked or renamed; with --xattr also setxattr, getxattr, listxattr and
removexattr of user. names; with --acl also POSIX ACLs set, read and
removed as raw values, creates under random umasks and modes, chown, and
opens and searches as the user nobody) runs on the tree under test and on a
reference tree on another file system; both must succeed, or both fail
with the same errno.  Every so often, and at the end, the trees are
compared whole: names, types, modes, sizes, bytes, link counts, symlink
targets, which names share an inode, (--xattr) the user. attributes, and
(--acl) the owners and both ACLs.  --acl wants root, and a reference file
system with ACLs (ext4).

    nsx.py [-n OPS] [-s SEED] [--xattr] [--acl] TEST_DIR REF_DIR
    nsx.py --compare [--xattr] [--acl] TEST_DIR REF_DIR  (after a remount)

Exit 0 when everything matched, 1 at the first difference (the operations
that led there are printed; the seed replays them).
"""
import argparse
import errno
import hashlib
import os
import random
import stat
import struct
import sys

NAMES = ["a", "b", "c", "dir", "d2", "long" + "x" * 60, "sp ace", "ünï"]
XNAMES = ["user.a", "user.b", "user.mime_type", "user." + "x" * 60]
ACL_ACCESS, ACL_DEFAULT = "system.posix_acl_access", "system.posix_acl_default"
NOBODY = 65534      # the user, and the group, the access checks run as
ACL_UIDS, ACL_GIDS = [NOBODY, 1000, 1001], [NOBODY, 100, 1000]


def acl_value(r):
    """A random ACL in the xattr form; now and then one the kernel must
    refuse (out of order, or named entries without a mask)."""
    undef = 0xFFFFFFFF
    users = sorted(r.sample(ACL_UIDS, r.randrange(3)))
    groups = sorted(r.sample(ACL_GIDS, r.randrange(3)))
    ents = [(1, r.randrange(8), undef)]
    ents += [(2, r.randrange(8), u) for u in users]
    ents.append((4, r.randrange(8), undef))
    ents += [(8, r.randrange(8), g) for g in groups]
    if users or groups or r.random() < 0.3:
        ents.append((0x10, r.randrange(8), undef))
    ents.append((0x20, r.randrange(8), undef))
    if r.random() < 0.1:
        i = r.randrange(len(ents))
        ents.insert(r.randrange(len(ents)), ents.pop(i))
    if r.random() < 0.05 and (users or groups):
        ents = [e for e in ents if e[0] != 0x10]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e)
                                           for e in ents)


def acls(p):
    """p's access and default ACLs, raw (None where it has none)."""
    out = []
    for name in (ACL_ACCESS, ACL_DEFAULT):
        try:
            out.append(os.getxattr(p, name, follow_symlinks=False).hex())
        except OSError as e:
            if e.errno != errno.ENODATA:
                raise
            out.append(None)
    return out


def as_nobody(path, how):
    """Open path for reading or writing, or search it, as nobody (no
    supplementary groups): 0, or the errno."""
    pid = os.fork()
    if pid == 0:
        code = 255
        try:
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            if how == "x":
                code = 0 if os.access(path, os.X_OK) else 1
            else:
                fd = os.open(path, (os.O_RDONLY if how == "r" else
                                    os.O_WRONLY) | os.O_NONBLOCK)
                os.close(fd)
                code = 0
        except OSError as e:
            code = min(e.errno, 200)
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


class Mismatch(Exception):
    pass


def outcome(fn, *args):
    """fn's result, or the errno it raised."""
    try:
        r = fn(*args)
        return ("ok", r)
    except OSError as e:
        return ("errno", errno.errorcode.get(e.errno, e.errno))


def user_xattrs(p):
    """The user. attributes of p itself, sorted, with their values."""
    return sorted((n, os.getxattr(p, n, follow_symlinks=False))
                  for n in os.listxattr(p, follow_symlinks=False)
                  if n.startswith("user."))


def tree(root, xattrs=False, acl=False):
    """Everything comparable about the tree under root."""
    out, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if rel == ".slotfs" or rel.startswith("lost+found"):
                continue
            st = os.lstat(p)
            e = {"type": stat.S_IFMT(st.st_mode),
                 "mode": stat.S_IMODE(st.st_mode), "nlink": st.st_nlink}
            if stat.S_ISDIR(st.st_mode):
                e.pop("nlink")  # a directory's count is its own business
            if stat.S_ISREG(st.st_mode):
                e["size"] = st.st_size
                with open(p, "rb") as f:
                    e["sha"] = hashlib.sha256(f.read()).hexdigest()[:16]
                inodes.setdefault(st.st_ino, []).append(rel)
            if stat.S_ISLNK(st.st_mode):
                e["target"] = os.readlink(p)
            elif xattrs:
                e["xattrs"] = user_xattrs(p)
            if acl:
                e["owner"] = (st.st_uid, st.st_gid)
                if not stat.S_ISLNK(st.st_mode):
                    e["acl"] = acls(p)
            out[rel] = e
    links = sorted(sorted(v) for v in inodes.values() if len(v) > 1)
    return out, links


def compare_trees(test, ref, xattrs=False, acl=False):
    t, tl = tree(test, xattrs, acl)
    r, rl = tree(ref, xattrs, acl)
    for k in sorted(set(t) | set(r)):
        if t.get(k) != r.get(k):
            raise Mismatch("%r: %s here, %s in the reference"
                           % (k, t.get(k), r.get(k)))
    if tl != rl:
        raise Mismatch("names sharing an inode: %s here, %s in the "
                       "reference" % (tl, rl))
    return len(t)


class Runner:
    def __init__(self, test, ref, seed, xattrs=False, acl=False):
        self.roots = (test, ref)
        self.xattrs = xattrs
        self.acl = acl
        self.rng = random.Random(seed)
        self.log = []
        self.fds = []       # (test fd, ref fd, what) kept open across ops
        self.ok = 0         # operations that succeeded on both

    def existing(self):
        """The names in the reference tree now, directories marked."""
        names = []
        ref = self.roots[1]
        for dirpath, dirnames, filenames in os.walk(ref):
            rel = os.path.relpath(dirpath, ref)
            for n in dirnames:
                names.append((os.path.normpath(os.path.join(rel, n)), True))
            for n in filenames:
                names.append((os.path.normpath(os.path.join(rel, n)), False))
        return names

    def path(self):
        """A name that exists, one inside an existing directory, or one
        made up (which may have no parent)."""
        r = self.rng
        names = self.existing() if r.random() < 0.7 else []
        if names:
            p, isdir = r.choice(names)
            if isdir and r.random() < 0.5:
                p = p + "/" + r.choice(NAMES)
            return p
        depth = r.choice([1, 1, 2, 2, 3])
        return "/".join(r.choice(NAMES) for _ in range(depth))

    def data(self):
        n = self.rng.choice([0, 1, 100, 4096, 5000, 70000, 1 << 20,
                             (1 << 20) + 3])
        return self.rng.randbytes(n)

    def both(self, what, fn):
        """fn(root) on both trees; the outcomes must agree."""
        self.log.append(what)
        return self.agree(what, [outcome(fn, root) for root in self.roots])

    def agree(self, what, got):
        """The outcome of what on both trees, which must be the same."""
        if got[0] != got[1]:
            raise Mismatch("%s: %s here, %s in the reference"
                           % (what, got[0], got[1]))
        self.ok += got[0][0] == "ok"
        return got[0]

    def both_setxattr(self, what, a, name, v, fl):
        """setxattr on both trees, as both() does, with one difference
        forgiven: ext4 keeps a file's attributes in one block and has,
        once in many runs and far from full, refused one that fits with
        ENOSPC.  That is the reference's limit: the attribute goes back
        to what it was here, and the trees agree again."""
        p, q = (os.path.join(root, a) for root in self.roots)
        old = outcome(lambda: os.getxattr(p, name, follow_symlinks=False))
        self.log.append(what)
        got = [outcome(lambda t: os.setxattr(t, name, v, fl,
                                             follow_symlinks=False), t)
               for t in (p, q)]
        if got[0][0] == "ok" and got[1] == ("errno", "ENOSPC"):
            undo = outcome(lambda: os.setxattr(
                p, name, old[1], follow_symlinks=False)
                if old[0] == "ok" else
                os.removexattr(p, name, follow_symlinks=False))
            if undo[0] == "ok":
                self.log.append("  ENOSPC on the reference: undone here")
                got[0] = got[1]
        return self.agree(what, got)

    def both_fd(self, what, fn):
        """fn(fd) on each open descriptor pair's two sides."""
        self.log.append(what)
        got = [outcome(fn, fd) for fd in self.fds[-1][:2]]
        if got[0] != got[1]:
            raise Mismatch("%s: %s here, %s in the reference"
                           % (what, got[0], got[1]))

    def step(self):
        r = self.rng
        op = r.randrange(135 if self.acl else 115 if self.xattrs else 100)
        a, b = self.path(), self.path()
        j = os.path.join
        mode = 0o644
        if self.acl:
            os.umask(r.choice([0o022, 0o077, 0o002, 0o000, 0o027]))
            mode = r.choice([0o644, 0o666, 0o600, 0o755, 0o640, 0o2775])
        if op >= 115:
            self.acl_op(a)
        elif op >= 100:
            self.xattr_op(a)
        elif op < 18:
            d = self.data()
            excl = r.random() < 0.5

            def create(root):
                fl = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                fd = os.open(j(root, a), fl | (os.O_EXCL if excl else 0),
                             mode)
                try:
                    os.write(fd, d)
                finally:
                    os.close(fd)
            self.both("create %s (%d bytes%s)" % (a, len(d),
                      ", O_EXCL" if excl else ""), create)
        elif op < 26:
            d = self.data()[:70000]

            def append(root):
                with open(j(root, a), "ab") as f:
                    f.write(d)
            self.both("append %d bytes to %s" % (len(d), a), append)
        elif op < 31:
            n = r.choice([0, 1, 4095, 4097, 1 << 20, (1 << 20) + 1, 3 << 20])
            self.both("truncate %s to %d" % (a, n),
                      lambda root: os.truncate(j(root, a), n))
        elif op < 43:
            dm = mode | 0o111 if self.acl else 0o777
            self.both("mkdir %s %o" % (a, dm),
                      lambda root: os.mkdir(j(root, a), dm))
        elif op < 50:
            self.both("rmdir " + a, lambda root: os.rmdir(j(root, a)))
        elif op < 58:
            self.both("unlink " + a, lambda root: os.unlink(j(root, a)))
        elif op < 74:
            self.both("rename %s %s" % (a, b),
                      lambda root: os.rename(j(root, a), j(root, b)))
        elif op < 79:
            self.both("link %s %s" % (a, b),
                      lambda root: os.link(j(root, a), j(root, b)))
        elif op < 83:
            # an absolute target that nothing can create through: one
            # that could would let a create write outside both trees
            t = r.choice(["a", "../b", "/dev/null/nowhere", "x" * 300])
            self.both("symlink %s -> %s" % (b, t[:20]),
                      lambda root: os.symlink(t, j(root, b)))
        elif op < 86:
            m = r.choice([0o600, 0o755, 0o1777, 0o4755, 0o000])
            self.both("chmod %o %s" % (m, a),
                      lambda root: os.chmod(j(root, a), m))
        elif op < 93:
            self.open_op(a, b)
        else:
            self.fd_op()

    def xattr_op(self, a):
        """An extended attribute of a (itself, if a symlink)."""
        r = self.rng
        name = r.choice(XNAMES)
        k = r.randrange(5)
        if k < 2:
            v = r.randbytes(r.choice([0, 1, 50, 300]))
            fl = r.choice([0, 0, os.XATTR_CREATE, os.XATTR_REPLACE])
            self.both_setxattr("setxattr %s %s (%d bytes, flags %d)"
                               % (a, name, len(v), fl), a, name, v, fl)
        elif k == 2:
            self.both("removexattr %s %s" % (a, name),
                      lambda root: os.removexattr(os.path.join(root, a), name,
                                                  follow_symlinks=False))
        elif k == 3:
            self.both("getxattr %s %s" % (a, name),
                      lambda root: os.getxattr(os.path.join(root, a), name,
                                               follow_symlinks=False))
        else:
            self.both("listxattr " + a, lambda root: sorted(
                n for n in os.listxattr(os.path.join(root, a),
                                        follow_symlinks=False)
                if n.startswith("user.")))

    def acl_op(self, a):
        """An ACL of a (its target, if a symlink), an owner, or an
        access check that the ACLs decide."""
        r = self.rng
        j = os.path.join
        k = r.randrange(10)
        name = ACL_DEFAULT if k in (2, 3) else ACL_ACCESS
        if k < 4:
            v = acl_value(r)
            self.both("set %s of %s (%s)" % (name, a, v.hex()),
                      lambda root: os.setxattr(j(root, a), name, v))
        elif k == 4:
            name = r.choice([ACL_ACCESS, ACL_DEFAULT])
            self.both("remove %s of %s" % (name, a),
                      lambda root: os.removexattr(j(root, a), name))
        elif k == 5:
            name = r.choice([ACL_ACCESS, ACL_DEFAULT])
            self.both("get %s of %s" % (name, a),
                      lambda root: os.getxattr(j(root, a), name).hex())
        elif k == 6:
            u, g = r.choice([(NOBODY, NOBODY), (0, 0), (NOBODY, 0),
                             (1000, 100)])
            self.both("chown %d:%d %s" % (u, g, a), lambda root: os.chown(
                j(root, a), u, g, follow_symlinks=False))
        else:
            how = "rwx"[k - 7]
            self.both("as nobody, %s %s" % (how, a),
                      lambda root: as_nobody(j(root, a), how))

    def open_op(self, a, b):
        """Open a, then unlink or rename it away while it is open."""
        j = os.path.join
        self.log.append("open " + a)
        got = [outcome(os.open, j(root, a), os.O_RDWR) for root in self.roots]
        fds = [g[1] for g in got if g[0] == "ok"]
        if got[0][0] != got[1][0] or (fds and len(fds) < 2):
            for fd in fds:
                os.close(fd)
            raise Mismatch("open %s: %s here, %s in the reference"
                           % (a, got[0], got[1]))
        if not fds:
            return
        self.fds.append((fds[0], fds[1], a))
        if self.rng.random() < 0.5:
            self.both("unlink %s (open)" % a,
                      lambda root: os.unlink(j(root, a)))
        else:
            self.both("rename %s %s (open)" % (a, b),
                      lambda root: os.rename(j(root, a), j(root, b)))

    def fd_op(self):
        if not self.fds:
            return
        r = self.rng
        what = self.fds[-1][2]
        k = r.randrange(4)
        if k == 0:
            d = self.data()[:200000]
            off = r.choice([0, 10, 4096, 1 << 20])
            self.both_fd("pwrite %d bytes at %d to open %s" % (
                len(d), off, what), lambda fd: os.pwrite(fd, d, off))
        elif k == 1:
            self.both_fd("read open " + what, lambda fd: hashlib.sha256(
                os.pread(fd, 4 << 20, 0)).hexdigest())
        elif k == 2:
            self.both_fd("fstat open " + what, lambda fd: (
                os.fstat(fd).st_size, os.fstat(fd).st_nlink))
        else:
            self.log.append("close open " + what)
            for fd in self.fds.pop()[:2]:
                os.close(fd)

    def close_all(self):
        while self.fds:
            for fd in self.fds.pop()[:2]:
                os.close(fd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("-s", type=int, default=1)
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--xattr", action="store_true")
    ap.add_argument("--acl", action="store_true")
    ap.add_argument("test")
    ap.add_argument("ref")
    o = ap.parse_args()
    if o.compare:
        try:
            n = compare_trees(o.test, o.ref, o.xattr, o.acl)
        except Mismatch as e:
            print("nsx: after the remount: %s" % e, file=sys.stderr)
            return 1
        print("nsx: %d names match the reference" % n)
        return 0
    run = Runner(o.test, o.ref, o.s, o.xattr, o.acl)
    try:
        for i in range(o.n):
            run.step()
            if i % 200 == 199:
                run.log.append("(trees compared)")
                compare_trees(o.test, o.ref, o.xattr, o.acl)
        run.close_all()
        run.log.append("(trees compared, descriptors closed)")
        n = compare_trees(o.test, o.ref, o.xattr, o.acl)
    except Mismatch as e:
        for line in run.log[-25:]:
            print("  " + line, file=sys.stderr)
        print("nsx: seed %d, operation %d: %s" % (o.s, len(run.log), e),
              file=sys.stderr)
        return 1
    print("nsx: seed %d: %d operations (%d succeeded), %d names, all matched"
          % (o.s, o.n, run.ok, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
