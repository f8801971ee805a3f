#!/usr/bin/env bash
# Extended attributes through the mount: off on a store that has none
# unless -o xattr; setfattr and getfattr on files, directories and
# symlinks; the namespaces and limits; fsync before a crash; cp -a,
# rsync -X and tar --xattrs keep them; the kernel drops a file
# capability at a write; kept across remounts, where they turn the
# option on by themselves.
. "$(dirname "$0")/lib.sh"
t_need setfattr getfattr python3 rsync tar

fuse_setup
echo data >"$MNT/f"

off_by_default() {
	local out
	expect_fail "setfattr on a fresh store" setfattr -n user.a -v 1 "$MNT/f"
	out=$(setfattr -n user.a -v 1 "$MNT/f" 2>&1) || true
	case $out in *"Operation not supported"*) ;; *) echo "$out"; return 1 ;; esac
	grep -q '"xattr":0' "$MNT/.slotfs/status.json"
	grep -q '^slotfs_fuse_xattr 0$' "$MNT/.slotfs/metrics"
}
check "off on a store without any: setfattr says not supported" off_by_default

check_here "unmount" unmount_fs "$MNT"
check_here "mount -o xattr" mount_fs "$IMG" "$MNT" -o xattr

set_get() {
	grep -q '"xattr":1' "$MNT/.slotfs/status.json"
	mkdir "$MNT/d"
	ln -s f "$MNT/l"
	setfattr -n user.mime_type -v text/plain "$MNT/f"
	setfattr -n user.bin -v 0x00ff0102 "$MNT/f"
	setfattr -n user.empty "$MNT/f"
	setfattr -n trusted.t -v T "$MNT/f"
	setfattr -n security.s -v S "$MNT/d"
	setfattr -h -n trusted.link -v L "$MNT/l"
	expect_eq "a value" text/plain \
		"$(getfattr --only-values -n user.mime_type "$MNT/f")"
	expect_eq "a binary value" user.bin=0x00ff0102 \
		"$(getfattr -e hex -n user.bin "$MNT/f" 2>/dev/null | grep =)"
	expect_eq "an empty value" "" \
		"$(getfattr --only-values -n user.empty "$MNT/f")"
	expect_eq "the names of f" "trusted.t user.bin user.empty user.mime_type" \
		"$(getfattr -m - --absolute-names "$MNT/f" | grep -v '^#' |
		   grep . | sort | tr '\n' ' ' | sed 's/ $//')"
	expect_eq "a directory's" S "$(getfattr --only-values -n security.s "$MNT/d")"
	expect_eq "the symlink's own" L \
		"$(getfattr -h --only-values -n trusted.link "$MNT/l")"
	expect_fail "the symlink's target has none of it" \
		getfattr -n trusted.link "$MNT/l"
	setfattr -n user.mime_type -v text/x-c "$MNT/f"
	expect_eq "replaced" text/x-c \
		"$(getfattr --only-values -n user.mime_type "$MNT/f")"
	setfattr -x user.empty "$MNT/f"
	expect_fail "removed" getfattr -n user.empty "$MNT/f"
	local out
	out=$(getfattr -n user.empty "$MNT/f" 2>&1) || true
	case $out in *"No such attribute"*) ;; *) echo "$out"; return 1 ;; esac
	expect_fail "remove again" setfattr -x user.empty "$MNT/f"
}
check "setfattr and getfattr on a file, a directory and a symlink" set_get

# XATTR_CREATE and XATTR_REPLACE, and the errors of the namespaces and
# sizes, as ext4 gives them
semantics() {
	python3 - "$MNT/f" <<'EOF'
import errno, os, struct, sys
f = sys.argv[1]
def fails(code, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        assert e.errno == code, (fn.__name__, args[1:2], errno.errorcode[e.errno])
        return
    raise AssertionError("%s %r did not fail" % (fn.__name__, args[1:2]))
os.setxattr(f, "user.c", b"1", os.XATTR_CREATE)
fails(errno.EEXIST, os.setxattr, f, "user.c", b"2", os.XATTR_CREATE)
fails(errno.ENODATA, os.setxattr, f, "user.nope", b"2", os.XATTR_REPLACE)
os.setxattr(f, "user.c", b"3", os.XATTR_REPLACE)
assert os.getxattr(f, "user.c") == b"3"
# other namespaces are not served; POSIX ACLs are not
fails(errno.EOPNOTSUPP, os.setxattr, f, "foo.bar", b"1")
# a namespace with no name in it: EINVAL, as ext4's VFS says
fails(errno.EINVAL, os.setxattr, f, "user.", b"1")
fails(errno.EINVAL, os.getxattr, f, "trusted.")
assert "user." not in os.listxattr(f)
acl = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", t, p, 0xffffffff)
                                      for t, p in ((1, 6), (4, 4), (0x20, 4)))
fails(errno.EOPNOTSUPP, os.setxattr, f, "system.posix_acl_access", acl)
# a name of 255 bytes; 256 is too long
os.setxattr(f, "user." + "n" * 250, b"x")
fails(errno.ERANGE, os.setxattr, f, "user." + "n" * 251, b"x")
os.removexattr(f, "user." + "n" * 250)
# 64 KiB of names and values a file, as one value or many
os.setxattr(f, "user.big", os.urandom(60000))
fails(errno.ENOSPC, os.setxattr, f, "user.big2", b"x" * 10000)
os.setxattr(f, "user.big", b"small")
os.setxattr(f, "user.big2", b"x" * 10000)
os.removexattr(f, "user.big2")
os.removexattr(f, "user.big")
# a buffer too small
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(2)
assert libc.getxattr(f.encode(), b"user.mime_type", buf, 2) == -1
assert ctypes.get_errno() == errno.ERANGE, errno.errorcode[ctypes.get_errno()]
EOF
}
check "XATTR_CREATE, XATTR_REPLACE, namespaces, name and size limits" semantics

status_files() {
	expect_eq "attributes of status.json" "" \
		"$(getfattr -d -m - --absolute-names "$MNT/.slotfs/status.json" 2>&1)"
	expect_fail "setfattr on status.json" \
		setfattr -n user.x -v 1 "$MNT/.slotfs/status.json"
}
check "the status files have none and take none" status_files

# a file capability goes at the first write, as on ext4 (the kernel asks
# for security.capability before a write and removes it)
capability() {
	echo x >"$MNT/capfile"
	python3 - "$MNT/capfile" <<'EOF'
import os, struct, sys
# VFS_CAP_REVISION_2, no effective bit: CAP_NET_RAW (13) permitted
os.setxattr(sys.argv[1], "security.capability",
            struct.pack("<IIIII", 0x02000000, 1 << 13, 0, 0, 0))
EOF
	getfattr -n security.capability "$MNT/capfile" >/dev/null
	echo more >>"$MNT/capfile"
	expect_fail "security.capability after a write" \
		getfattr -n security.capability "$MNT/capfile"
}
check "a write drops the file capability" capability

# KILLPRIV_V2 (fs/init.c): the kernel asks for security.capability once
# for a file, not before every write; a capability set later is still
# dropped at the next write, and so are set-id bits
getxattrs() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fuse"]["getxattr_requests"])' \
		"$MNT/.slotfs/status.json"
}
once_a_file() {
	grep -q '"killpriv_v2":1' "$MNT/.slotfs/status.json"
	grep -q '^slotfs_fuse_killpriv_v2 1$' "$MNT/.slotfs/metrics"
	echo x >"$MNT/many_writes"
	local n0 n1
	n0=$(getxattrs)
	python3 - "$MNT/many_writes" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
for i in range(100):
    os.write(fd, b"y" * 4096)
os.close(fd)
EOF
	n1=$(getxattrs)
	expect_between "GETXATTRs for 100 writes" 0 2 $((n1 - n0))
	python3 - "$MNT/many_writes" <<'EOF'
import os, struct, sys
os.setxattr(sys.argv[1], "security.capability",
            struct.pack("<IIIII", 0x02000000, 1 << 13, 0, 0, 0))
EOF
	echo more >>"$MNT/many_writes"
	expect_fail "security.capability set later, after a write" \
		getfattr -n security.capability "$MNT/many_writes"
}
check "a file is asked for its capability once, not at every write" once_a_file

tools() {
	mkdir -p "$MNT/src/sub"
	echo one >"$MNT/src/one"
	echo two >"$MNT/src/sub/two"
	setfattr -n user.tag -v first "$MNT/src/one"
	setfattr -n user.tag -v deep "$MNT/src/sub/two"
	setfattr -n user.dir -v yes "$MNT/src/sub"
	cp -a "$MNT/src" "$MNT/cp"
	rsync -aX "$MNT/src/" "$MNT/rs/"
	tar --xattrs --xattrs-include='user.*' -C "$MNT/src" -cf "$W/x.tar" .
	mkdir "$MNT/tar"
	tar --xattrs --xattrs-include='user.*' -C "$MNT/tar" -xf "$W/x.tar"
	local d
	for d in cp rs tar; do
		expect_eq "$d: a file's" first \
			"$(getfattr --only-values -n user.tag "$MNT/$d/one")"
		expect_eq "$d: a deeper file's" deep \
			"$(getfattr --only-values -n user.tag "$MNT/$d/sub/two")"
		expect_eq "$d: a directory's" yes \
			"$(getfattr --only-values -n user.dir "$MNT/$d/sub")"
	done
}
check "cp -a, rsync -X and tar --xattrs keep them" tools

# setting and removing them needs no device (once the superblock has the
# feature): served on the reading thread, not handed on
in_place() {
	local h0 h1
	handed() {
		python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["fuse"]["handed_on"])' \
			"$MNT/.slotfs/status.json"
	}
	mkdir "$MNT/many"
	for i in $(seq 1 100); do : >"$MNT/many/f$i"; done
	h0=$(handed)
	for i in $(seq 1 100); do
		setfattr -n user.n -v "$i" "$MNT/many/f$i"
		setfattr -x user.n "$MNT/many/f$i"
	done
	h1=$(handed)
	echo "200 xattr changes: $((h1 - h0)) handed on"
	[ $((h1 - h0)) -lt 40 ] || { echo "too many handed on"; return 1; }
	rm -r "$MNT/many"
}
check "setfattr and setfattr -x are served on the reading thread" in_place

# fsync of the file makes a change durable: a crash right after keeps it
fsync_crash() {
	python3 - "$MNT/f" <<'EOF'
import os, sys
os.setxattr(sys.argv[1], "user.synced", b"yes")
fd = os.open(sys.argv[1], os.O_RDONLY)
os.fsync(fd)
os.close(fd)
EOF
}
check "setxattr, fsync" fsync_crash
check_here "crash (kill -9)" kill_fs "$MNT"
check_here "mount again, without -o xattr" mount_fs "$IMG" "$MNT"
after_crash() {
	expect_eq "after the crash" yes \
		"$(getfattr --only-values -n user.synced "$MNT/f")"
	grep -q '"xattr":1' "$MNT/.slotfs/status.json"
}
check "the fsynced value survives; a store with some serves them" after_crash

check_remount "unmount and mount again"
kept() {
	expect_eq "user" text/x-c "$(getfattr --only-values -n user.mime_type "$MNT/f")"
	expect_eq "trusted" T "$(getfattr --only-values -n trusted.t "$MNT/f")"
	expect_eq "security" S "$(getfattr --only-values -n security.s "$MNT/d")"
	expect_eq "symlink" L "$(getfattr -h --only-values -n trusted.link "$MNT/l")"
	expect_eq "cp" first "$(getfattr --only-values -n user.tag "$MNT/cp/one")"
}
check "all of them persist across a remount" kept

check_here "unmount" unmount_fs "$MNT"
check_here "mount -o noxattr" mount_fs "$IMG" "$MNT" -o noxattr
noxattr() {
	expect_fail "getfattr with -o noxattr" \
		getfattr -n user.mime_type "$MNT/f"
	grep -q '"xattr":0' "$MNT/.slotfs/status.json"
}
check "-o noxattr turns them off" noxattr
check_here "unmount" unmount_fs "$MNT"
check_here "mount" mount_fs "$IMG" "$MNT"
gone_with_file() {
	rm -rf "$MNT/cp" "$MNT/rs" "$MNT/tar"
	mv "$MNT/src/one" "$MNT/src/sub/two"
	expect_fail "the replaced file's value" \
		getfattr -n user.tag -e text --only-values "$MNT/src/one"
	expect_eq "the moved file keeps its own" first \
		"$(getfattr --only-values -n user.tag "$MNT/src/sub/two")"
}
check "removed and replaced files take theirs with them" gone_with_file
fuse_finish
