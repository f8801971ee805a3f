#!/usr/bin/env bash
# Damage on the device, found and repaired: a flipped byte in a file's
# slot reads as EIO (never as wrong data) and fsck reports it; with both
# checkpoint containers zeroed, fsck -y rebuilds the index from a full
# slot-header scan and every file's bytes come back.
. "$(dirname "$0")/lib.sh"

fuse_setup
MiB=1048576
mkdir -p "$MNT/d/e"
for i in 1 2 3; do rand_file "$W/f$i" $((i * MiB + 100)); done
rand_file "$W/small" 3000
cp "$W/f1" "$MNT/f1"
cp "$W/f2" "$MNT/d/f2"
cp "$W/f3" "$MNT/d/e/f3"
cp "$W/small" "$MNT/d/small"

# live_fsck RC TEXT: fsck -n of the mounted image, warned that it is in
# use, exits RC and says TEXT (e2fsck -n checks a mounted ext4 so too)
live_fsck() {
	local out rc=0
	out=$(fsck.slotfs -n "$IMG" 2>&1) || rc=$?
	expect_eq "fsck -n exit status" "$1" "$rc" || { echo "$out"; return 1; }
	case $out in *"is in use (mounted?): checking it read-only"*) ;;
	*) echo "no warning: $out"; return 1 ;; esac
	case $out in *"$2"*) ;; *) echo "no '$2': $out"; return 1 ;; esac
}
check "fsck.slotfs -n of the mounted image: what is in flight is expected, exit 0" \
	live_fsck 0 "(expected while in use)"
# (the mount writes meanwhile: the image cannot be compared)
live_repair_refused() {
	local out rc=0
	out=$(fsck.slotfs -y "$IMG" 2>&1) || rc=$?
	expect_eq "fsck -y exit status" 8 "$rc"
	case $out in *"unmount it before repairing"*) ;;
	*) echo "$out"; return 1 ;; esac
}
check "fsck.slotfs -y of the mounted image is refused" live_repair_refused
check_unmount "write four files, unmount cleanly" "$MNT"
cp "$IMG" "$W/pristine"

# offsets_of IMAGE FILE: every place FILE's first 4096 bytes lie in IMAGE
# (a rewrite can leave stale copies in free slots; the live one is among).
offsets_of() {
	python3 - "$1" "$2" <<'PY'
import mmap, sys
needle = open(sys.argv[2], "rb").read(4096)
with open(sys.argv[1], "rb") as f:
    img = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    i = img.find(needle)
    if i < 0:
        sys.exit("not found")
    while i >= 0:
        print(i)
        i = img.find(needle, i + 1)
PY
}

flip() {
	local off offs b
	offs=$(offsets_of "$IMG" "$W/f2")
	for off in $offs; do
		# flip one byte 1000 bytes into the payload
		b=$(bytes "$IMG" $((off + 1000)) 1 | od -An -tu1 | tr -d ' ')
		printf "\\x$(printf %02x $((b ^ 0xff)))" |
			dd of="$IMG" bs=1 seek=$((off + 1000)) conv=notrunc status=none
	done
	cmp -s "$IMG" "$W/pristine" && { echo "nothing changed"; return 1; }
	true
}
check "find f2's bytes in the image and flip one" flip
check_rc "fsck.slotfs -n -f finds the bad checksum: exit 4" 4 fsck.slotfs -n -f "$IMG"
check_here "mount the damaged image" mount_fs "$IMG" "$MNT"
check "fsck.slotfs -n of it mounted still finds the bad checksum: exit 4" \
	live_fsck 4 PR_SLOT_PAYLOAD_BAD
check_fails "reading the damaged file fails with an I/O error" 'Input/output error' \
	sh -c 'cat "$1" >/dev/null' sh "$MNT/d/f2"
others() {
	cmp "$W/f1" "$MNT/f1"
	cmp "$W/f3" "$MNT/d/e/f3"
	cmp "$W/small" "$MNT/d/small"
}
check "the other files read back intact" others
check_unmount "unmount" "$MNT"

# the checksum error was recorded in the superblock, as ext4 records
# errors: tune.slotfs -l says so, and fsck checks the file system although
# it was unmounted cleanly
recorded() {
	local out
	out=$(tune.slotfs -l "$IMG")
	grep -q "^Filesystem state: *clean with errors" <<<"$out" || { echo "$out"; return 1; }
	grep -q "^FS Error count: *[1-9]" <<<"$out"
	grep -q "^Last error: *a slot failed its checksum" <<<"$out"
}
check "the error is in the superblock (tune.slotfs -l)" recorded
forced() {
	local out rc=0
	out=$(fsck.slotfs -n "$IMG" 2>&1) || rc=$?
	expect_eq "fsck -n exit status" 4 "$rc"
	grep -q PR_SB_ERRORS <<<"$out" || { echo "$out"; return 1; }
	grep -q PR_SLOT_PAYLOAD_BAD <<<"$out"
}
check "fsck.slotfs -n (not -f) checks it whole: exit 4" forced

# errors=remount-ro: the first error stops all writes
check_here "mount it with -o errors=remount-ro" mount_fs "$IMG" "$MNT" -o errors=remount-ro
check "a write before any error works" sh -c 'echo x >"$1/before"' sh "$MNT"
check_fails "reading the damaged file: an I/O error" 'Input/output error' \
	sh -c 'cat "$1" >/dev/null' sh "$MNT/d/f2"
check_fails "then writes are refused" 'Read-only file system' \
	sh -c 'echo x >"$1/after"' sh "$MNT"
said() {
	python3 - "$MNT/.slotfs/status.json" <<'EOF'
import json, sys
e = json.load(open(sys.argv[1]))["errors"]
assert e["found"] >= 1 and e["read_only"] == 1, e
EOF
	grep -Eq '^slotfs_errors_read_only 1$' "$MNT/.slotfs/metrics"
}
check "the status view says so (errors found, read-only)" said
check "reads go on" cmp "$W/f1" "$MNT/f1"
check_unmount "unmount" "$MNT"
check_fails "-o errors=panic is refused, saying why" 'cannot panic' \
	slotfs -o errors=panic "$IMG" "$MNT"
check_rc "fsck.slotfs -y repairs it and clears the record: exit 1" 1 \
	fsck.slotfs -y "$IMG"
cleared() {
	local out
	out=$(tune.slotfs -l "$IMG")
	grep -q "^Filesystem state: *clean$" <<<"$out" || { echo "$out"; return 1; }
	! grep -q "^FS Error count" <<<"$out"
	fsck.slotfs -n "$IMG"
}
check "then tune.slotfs -l shows no errors and fsck -n exits 0" cleared

# both checkpoints lost
cp "$W/pristine" "$IMG"
zero_ckpts() {
	local meta_off meta_size
	meta_off=$(bytes "$IMG" $((0x78)) 8 | od -An -tu8 | tr -d ' ')
	meta_size=$(bytes "$IMG" $((0x80)) 8 | od -An -tu8 | tr -d ' ')
	expect_between "metadata offset" 4096 $((64 * MiB)) "$meta_off"
	expect_between "metadata size" 8192 $((1024 * MiB)) "$meta_size"
	dd if=/dev/zero of="$IMG" bs=4096 seek=$((meta_off / 4096)) \
		count=$((meta_size / 4096)) conv=notrunc status=none
}
check "zero both checkpoint containers" zero_ckpts
check_rc "fsck.slotfs -n -f: exit 4" 4 fsck.slotfs -n -f "$IMG"
check_rc "fsck.slotfs -y rebuilds the index from the slot headers: exit 1" 1 \
	fsck.slotfs -y "$IMG"
check_rc "a second fsck.slotfs -f -n finds it clean: exit 0" 0 fsck.slotfs -f -n "$IMG"
check_here "the rebuilt image mounts" mount_fs "$IMG" "$MNT"

rebuilt() {
	# every file's bytes are somewhere in the mount (by name, or in lost+found)
	local have f
	have=$(find "$MNT" -type f -exec sha256sum {} + | cut -d' ' -f1 | sort)
	for f in f1 f2 f3 small; do
		grep -qx "$(sha "$W/$f")" <<<"$have" || { echo "$f's bytes are gone"; return 1; }
	done
}
check "after the rebuild every file's bytes are in the mount" rebuilt

fuse_finish
