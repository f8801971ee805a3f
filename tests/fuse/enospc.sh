#!/usr/bin/env bash
# A full device: on a 64 MiB image dd runs until "No space left on device";
# the files written before are intact; a small file still fits in free
# small slots; removing a file frees its space; and the file system is
# still whole after a remount.  A store full of names gets ENOSPC before
# its checkpoint outgrows the metadata region.
. "$(dirname "$0")/lib.sh"

fuse_setup 64M
MiB=1048576

avail() {
	df -B1 --output=avail "$MNT" | tail -n 1 | tr -d ' '
}

mkdir "$MNT/keep"
for i in 1 2 3; do rand_file "$W/k$i" $((i * MiB + 7)); done
echo small >"$W/k4"
for i in 1 2 3 4; do cp "$W/k$i" "$MNT/keep/k$i"; done
sync "$MNT/keep/k1"
AVAIL0=$(avail)

check_fails "dd until full: No space left on device" 'No space left on device' \
	dd if=/dev/urandom of="$MNT/fill" bs=1M count=200 status=none

full() {
	local n
	n=$(stat -c %s "$MNT/fill")
	expect_between "bytes of fill that were written" $((20 * MiB)) $((64 * MiB)) "$n"
	expect_between "avail when full (bytes)" 0 $((16 * MiB)) "$(avail)"
}
check "the fill file holds what fit; df shows the device nearly full" full

intact() {
	local i
	for i in 1 2 3 4; do
		expect_eq "sha256 of k$i" "$(sha "$W/k$i")" "$(sha "$MNT/keep/k$i")"
	done
	expect_eq "files" "k1 k2 k3 k4" "$(ls "$MNT/keep" | xargs)"
}
check "files written before the device filled are intact" intact

fill_readable() {
	# what dd wrote before the error reads back without I/O errors
	cat "$MNT/fill" >/dev/null
}
check "the partly written file reads back without errors" fill_readable

check_fails "a second writer also gets ENOSPC" 'No space left on device' \
	dd if=/dev/urandom of="$MNT/more" bs=1M count=10 status=none

# k4 took a region of small slots, most of them still free: a small new
# file fits there, full as the device is for 1 MiB chunks
rand_file "$W/small" 3000
small_fits() {
	cp "$W/small" "$MNT/keep/small" && cmp "$W/small" "$MNT/keep/small"
}
check "a small file still fits in the free small slots" small_fits

frees() {
	rm -f "$MNT/fill" "$MNT/more"
	local i a
	for ((i = 0; i < 50; i++)); do
		a=$(avail)
		[ "$a" -ge $((AVAIL0 - 4096)) ] && break
		sleep 0.1
	done
	# as before the fill, less the small file's one 4 KiB slot
	expect_eq "avail after rm (as before the fill)" $((AVAIL0 - 4096)) "$a"
}
check "removing the fill file frees all its space" frees

rand_file "$W/after" $((8 * MiB))
write_after() {
	cp "$W/after" "$MNT/after"
	cmp "$W/after" "$MNT/after"
}
check "an 8 MiB file fits again after the rm" write_after

check_remount "unmount and mount again"
kept() {
	local i
	for i in 1 2 3 4; do cmp "$W/k$i" "$MNT/keep/k$i"; done
	cmp "$W/small" "$MNT/keep/small"
	cmp "$W/after" "$MNT/after"
	[ ! -e "$MNT/fill" ]
}
check "after a remount the kept files are intact and fill is gone" kept

# A file that fills the store, removed, and the next one written at once:
# the kernel forgets the removed inode a moment after rm returns, and the
# write's allocation waits for that rather than say ENOSPC (ext4 has the
# blocks back when unlink returns).
rm_then_write() {
	# more than half the room: each file needs the space of the last
	local i n=$(($(avail) * 3 / 4 / MiB))
	dd if=/dev/zero of="$MNT/f0" bs=1M count="$n" conv=fsync status=none
	for ((i = 1; i <= 5; i++)); do
		rm "$MNT/f$((i - 1))"
		dd if=/dev/zero of="$MNT/f$i" bs=1M count="$n" conv=fsync \
			status=none || { echo "round $i: the write after rm failed"; return 1; }
	done
	# an O_PATH descriptor keeps the kernel from forgetting f5 (slotfs
	# sees no open) until status.json shows the write waiting for it
	python3 - "$MNT" "$W/held" <<'PY' &
import json, os, sys, time
mnt, flag = sys.argv[1], sys.argv[2]
fd = os.open(mnt + "/f5", os.O_PATH)
open(flag, "w").close()
saw = None
for _ in range(1000):
    with open(mnt + "/.slotfs/status.json") as f:
        r = json.load(f)["removed"]
    if r["waiting"]:
        saw = r
        break
    time.sleep(0.01)
os.close(fd)
sys.exit(0 if saw and saw["held"] == 1 else "no write waited for the held file")
PY
	local holder=$!
	for ((i = 0; i < 100; i++)); do [ -e "$W/held" ] && break; sleep 0.05; done
	rm "$MNT/f5"
	dd if=/dev/zero of="$MNT/f6" bs=1M count="$n" conv=fsync status=none ||
		{ wait "$holder"; echo "the write while the removed file was held failed"; return 1; }
	wait "$holder"
	rm "$MNT/f6"
}
check "a file as large as the room, written right after rm of another" rm_then_write

# Small files everywhere, three in four removed: every region still holds
# some, none is free.  What df shows free is still there for a large
# file (slotfs empties regions of small slots for it), and the small
# files kept are intact, after a remount too.
CI=$W/compact.img
CM=$W/mnt6
new_image "$CI" 64M
check_here "mount a 64 MiB store" mount_fs "$CI" "$CM"
small_kept() {
	python3 - "$CM" "$@" <<'EOF'
import errno, os, sys
d, what = sys.argv[1], sys.argv[2]
def body(n):
    return n.to_bytes(4, "little") * 1024
if what == "fill":
    n = 0
    try:
        while True:
            with open(os.path.join(d, "s%05d" % n), "wb") as f:
                f.write(body(n))
            n += 1
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
    os.unlink(os.path.join(d, "s%05d" % n))
    for i in range(n):
        if i % 4:
            os.unlink(os.path.join(d, "s%05d" % i))
    print(n)
else:
    names = sorted(x for x in os.listdir(d) if x.startswith("s"))
    n = int(what)
    want = ["s%05d" % i for i in range(0, n, 4)]
    assert names == want, (len(names), len(want))
    for x in names:
        with open(os.path.join(d, x), "rb") as f:
            assert f.read() == body(int(x[1:])), x
EOF
}
large_after_small() {
	local n avail size
	n=$(small_kept fill)
	echo "$n" >"$W/compact.n"
	expect_between "4 KiB files that filled 64 MiB" 5000 20000 "$n"
	avail=$(df -B1 --output=avail "$CM" | tail -n 1 | tr -d ' ')
	expect_between "df avail with three in four removed (bytes)" \
		$((16 * MiB)) $((48 * MiB)) "$avail"
	if dd if=/dev/zero of="$CM/large" bs=1M count=100 status=none \
		2>"$W/dd.err"; then
		echo "100 MiB fit in 64 MiB"
		return 1
	fi
	grep -q "No space left on device" "$W/dd.err"
	size=$(stat -c %s "$CM/large")
	expect_between "bytes of the large file: at least what df showed" \
		"$avail" $((64 * MiB)) "$size"
	small_kept "$n"
	# and the status view says what compaction did
	python3 - "$CM/.slotfs/status.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))["compaction"]
assert c["regions"] >= 1 and c["chunks"] >= c["regions"], c
assert c["bytes"] == 4096 * c["chunks"], c
EOF
	grep -Eq '^slotfs_compaction_regions_total\{result="emptied"\} [1-9]' \
		"$CM/.slotfs/metrics"
}
check "a large file gets the space small files left" large_after_small
check_unmount "unmount" "$CM"
check_rc "fsck.slotfs -f finds it clean" 0 fsck.slotfs -f "$CI"
check_here "mount it again" mount_fs "$CI" "$CM"
check "the small files kept are intact" small_kept "$(cat "$W/compact.n")"
check_unmount "unmount" "$CM"

# The other way round: 1 MiB files fill the store, every other is
# removed, then a small file.  Its class has no region, and the free
# slots are 1 MiB ones: a region is emptied for it (its files' chunks
# moved into the others' free slots) before a 1 MiB slot is spent on
# two bytes, which left room for 25 small files where df showed 25 MiB.
BI=$W/big_small.img
BM=$W/big_small
new_image "$BI" 64M
check_here "mount a 64 MiB store for 1 MiB files" mount_fs "$BI" "$BM"
small_after_large() {
	local i n=0
	for i in $(seq 1 49); do
		head -c $MiB /dev/zero >"$BM/b$i"
	done
	for i in $(seq 1 2 49); do
		rm "$BM/b$i"
	done
	sync "$BM"
	echo x >"$BM/t1"
	sync "$BM"
	python3 - "$BM/.slotfs/status.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))["compaction"]
assert c["regions"] >= 1, c
EOF
	for i in $(seq 2 2000); do
		echo "$i" >"$BM/t$i" 2>/dev/null || break
		n=$i
	done
	expect_ge "small files beside 24 MiB of 1 MiB ones" 2000 "$n"
	for i in $(seq 2 2 48); do
		cmp "$BM/b$i" <(head -c $MiB /dev/zero)
	done
}
check "small files after large ones: a region is emptied for them" small_after_large
check_unmount "unmount" "$BM"
check_rc "fsck.slotfs -f finds it clean" 0 fsck.slotfs -f "$BI"

# A sparse image whose own file system fills: its writes fail with ENOSPC,
# and the daemon's log says which write failed and why; a mount that
# cannot write its checkpoint says why and what to do,
# -o ro still shows the files, and once space is freed it mounts again.
if command -v mkfs.ext4 >/dev/null; then
	HOST=$W/host
	SP=$HOST/sp.img
	M4=$W/mnt4
	_host_cleanup() {
		# before the mounts' cleanup (registered first, run last),
		# which unmounts a slotfs still on M4: lazily, then
		umount "$HOST" 2>/dev/null || umount -l "$HOST"
	}
	at_exit _host_cleanup
	truncate -s 48M "$W/host.img"
	mkfs.ext4 -q -F "$W/host.img"
	mkdir -p "$HOST" "$M4"
	mount -o loop "$W/host.img" "$HOST"
	fallocate -l 8M "$HOST/spare"
	mkfs.slotfs -q -C 256M "$SP"
	host_fills() {
		mount_fs "$SP" "$M4" || return 1
		local out i
		# names enough that a checkpoint of them outgrows the blocks
		# mkfs gave each container: the mount's own checkpoint
		# (after recovery) then needs the host to grow the image
		for ((i = 0; i < 1000; i++)); do echo $i >"$M4/f$i"; done
		sync "$M4"
		if out=$(dd if=/dev/urandom of="$M4/big" bs=1M count=100 \
			conv=fsync 2>&1); then
			echo "100 MiB fit on a 48 MiB file system"
			return 1
		fi
		echo "$out" | grep -q "No space left on device"
		# its close fails too (no room for the checkpoint): exit 1
		fusermount3 -u "$M4"
		wait "${T_PID_OF[$M4]}" || true
		unset "T_PID_OF[$M4]"
		local log=${T_LOG_OF[$M4]} says
		says='a device write of [0-9]+ bytes at byte [0-9]+ failed: '
		says+='no space left on device'
		grep -Eq "$says" "$log" || {
			echo "the daemon's log does not say so:"
			cat "$log"
			return 1
		}
	}
	check "a sparse image on a full file system: writes get ENOSPC, logged" \
		host_fills
	says_why() {
		local out rc=0
		out=$(slotfs "$SP" "$M4" 2>&1) || rc=$?
		expect_eq "exit status" 1 "$rc"
		echo "$out" | grep -q "cannot grow on a full file system"
		expect_fail "mounted on a full file system" is_mounted "$M4"
		slotfs -o ro "$SP" "$M4"
		[ -s "$M4/big" ]
		fusermount3 -u "$M4"
		wait_image_free "$SP"
	}
	check "its mount says why and what to do; -o ro shows the files" says_why
	space_again() {
		rm "$HOST/spare"
		slotfs "$SP" "$M4"
		[ -s "$M4/big" ]
		fusermount3 -u "$M4"
		wait_image_free "$SP"
		fsck.slotfs -f -n "$SP"
	}
	check "with space freed it mounts again and is clean after" space_again
fi

# A store full of names: its checkpoint must still fit, so creates get
# ENOSPC before the metadata region overflows, and the store unmounts
# clean.  Empty files take no slot: only the names fill it.
NI=$W/names.img
NM=$W/mnt5
new_image "$NI" 24M
check_here "mount a 24 MiB store" mount_fs "$NI" "$NM"
names_fill() {
	local n
	n=$(python3 - "$NM" <<'EOF'
import errno, os, sys
n = 0
try:
    while n < 100000:
        open(os.path.join(sys.argv[1], "%0255d" % n), "w").close()
        n += 1
except OSError as e:
    assert e.errno == errno.ENOSPC, e
else:
    raise AssertionError("100000 names of 255 bytes fit")
print(n)
EOF
	)
	echo "$n" >"$W/names.n"
	expect_between "files of 255-byte names" 1000 100000 "$n"
	expect_between "df -i: files free" 0 2 \
		"$(df --output=iavail "$NM" | tail -n 1 | tr -d ' ')" || return 1
	rm "$NM/$(printf %0255d 7)"
	# the removed file's room comes back once the kernel forgets its
	# node (a FORGET, which may come after the next request)
	local i
	for i in $(seq 1 50); do
		touch "$NM/$(printf %0255d -1)" 2>/dev/null && return 0
		sleep 0.1
	done
	touch "$NM/$(printf %0255d -1)"
}
check "a store full of names: ENOSPC; an rm makes room" names_fill
check_unmount "it unmounts clean (its checkpoint fits)" "$NM"
check_rc "and fsck.slotfs -f finds it clean" 0 fsck.slotfs -f "$NI"
check_here "mount it again" mount_fs "$NI" "$NM"
names_kept() {
	expect_eq "names" "$(cat "$W/names.n")" "$(ls "$NM" | wc -l)"
}
check "every name is there" names_kept
check_unmount "unmount" "$NM"

fuse_finish
