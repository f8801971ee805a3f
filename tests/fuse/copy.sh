#!/usr/bin/env bash
# copy_file_range(2), which cp uses: the daemon copies slot to slot (one
# FUSE request per 64 MiB, not a read and a write per 128 KiB), and the
# bytes are those of a read and a write: whole files, ranges at odd
# offsets into and past the end of another file, within one file, from
# a hole, past the input's end; the status files still copy (the kernel
# does it); all of it kept over a remount.
. "$(dirname "$0")/lib.sh"

fuse_setup 512M
MiB=1048576

whole() {
	rand_file "$W/a" $((5 * MiB + 123))
	cp "$W/a" "$MNT/a"
	cp "$MNT/a" "$MNT/b"
	cmp "$W/a" "$MNT/b"
}
check "cp of a 5 MiB file within the mount" whole

# requests MNT: FUSE requests the mount has served so far
requests() {
	python3 - "$MNT/.slotfs/status.json" <<'EOF'
import json, sys
f = json.load(open(sys.argv[1]))["fuse"]
print(f["served_in_place"] + f["handed_on"] + f["io_uring_requests"])
EOF
}
in_daemon() {
	local before after
	rand_file "$W/big" $((64 * MiB))
	cp "$W/big" "$MNT/big"
	before=$(requests)
	python3 - "$MNT/big" "$MNT/big2" <<'EOF'
import os, sys
i = os.open(sys.argv[1], os.O_RDONLY)
o = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
n = os.copy_file_range(i, o, 64 << 20)
assert n == 64 << 20, n
EOF
	after=$(requests)
	# a kernel copy would be 512 reads and 512 writes at least
	expect_between "FUSE requests for a 64 MiB copy" 1 40 $((after - before))
	cmp "$W/big" "$MNT/big2"
}
check "a 64 MiB copy_file_range is one request, not a read and a write per piece" in_daemon

ranges() {
	python3 - "$MNT" "$W" <<'EOF'
import os, sys
d, w = sys.argv[1], sys.argv[2]
MiB = 1 << 20

def mk(name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def content(name):
    with open(os.path.join(d, name), "rb") as f:
        return f.read()

def copy(src, dst, n, off_in, off_out):
    i = os.open(os.path.join(d, src), os.O_RDONLY)
    o = os.open(os.path.join(d, dst), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        return os.copy_file_range(i, o, n, off_in, off_out)
    finally:
        os.close(i)
        os.close(o)

def model(old, new, at):
    if len(old) < at:
        old = old + bytes(at - len(old))
    return old[:at] + new + old[at + len(new):]

src = os.urandom(3 * MiB + 777)
mk("src", src)
dst = os.urandom(2 * MiB + 5)
mk("dst", dst)
# into the middle and past the end of another file, odd offsets
n = copy("src", "dst", 2 * MiB + 3, 100001, 7)
assert n == 2 * MiB + 3, n
dst = model(dst, src[100001:100001 + n], 7)
assert content("dst") == dst, "into dst"
# past the destination's end: a gap reads as zeros
n = copy("src", "dst", 5000, 4096, len(dst) + 70000)
assert n == 5000, n
dst = model(dst, src[4096:9096], len(dst) + 70000)
assert content("dst") == dst, "past dst's end"
# more than the input holds: up to its end; at its end: 0
n = copy("src", "dst", 10 * MiB, len(src) - 1000, 0)
assert n == 1000, n
dst = model(dst, src[-1000:], 0)
assert content("dst") == dst, "short copy"
assert copy("src", "dst", 100, len(src), 0) == 0
assert copy("src", "dst", 100, len(src) + 5, 0) == 0
# within one file, ranges apart
n = copy("src", "src", MiB, 0, 2 * MiB + 3)
assert n == MiB, n
src = model(src, src[:MiB], 2 * MiB + 3)
assert content("src") == src, "within one file"
# from a file with a hole
with open(os.path.join(d, "sparse"), "wb") as f:
    f.write(b"x" * 10)
    f.seek(3 * MiB)
    f.write(b"y" * 10)
sp = content("sparse")
n = copy("sparse", "fromhole", len(sp), 0, 0)
assert n == len(sp), n
assert content("fromhole") == sp, "from a hole"
for name, data in (("src", src), ("dst", dst), ("fromhole", sp)):
    with open(os.path.join(w, name + ".want"), "wb") as f:
        f.write(data)
EOF
}
check "ranges: odd offsets, past the end, short at the input's end, one file, a hole" \
	ranges

status_copy() {
	cp "$MNT/.slotfs/status.json" "$MNT/status.copy"
	python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$MNT/status.copy"
}
check "the status file copies in (the kernel copies it)" status_copy

check_remount "unmount and mount again"
kept() {
	cmp "$W/a" "$MNT/b"
	cmp "$W/big" "$MNT/big2"
	local f
	for f in src dst fromhole; do cmp "$W/$f.want" "$MNT/$f"; done
}
check "every copy is kept" kept

fuse_finish
