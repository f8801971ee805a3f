#!/usr/bin/env bash
# Files larger than one slot (10 MiB and more), byte for byte, and four
# processes writing different 20 MiB files at once.
. "$(dirname "$0")/lib.sh"

fuse_setup 256M
MiB=1048576

rand_file "$W/ten" $((10 * MiB))
big() {
	cp "$W/ten" "$MNT/ten"
	expect_eq "size" $((10 * MiB)) "$(stat -c %s "$MNT/ten")"
	cmp "$W/ten" "$MNT/ten"
	expect_eq "sha256" "$(sha "$W/ten")" "$(sha "$MNT/ten")"
}
check "a 10 MiB random file is byte-identical" big

big_ranges() {
	# reads that start and end inside different chunks
	python3 - "$W/ten" "$MNT/ten" <<'PY'
import os, sys
ref = open(sys.argv[1], "rb").read()
fd = os.open(sys.argv[2], os.O_RDONLY)
for off in (0, 1048575, 1048576, 3000001, len(ref) - 5000):
    for n in (1, 4096, 1048577):
        got = os.pread(fd, n, off)
        if got != ref[off:off + n]:
            sys.exit("pread of %d bytes at %d differs (got %d bytes)" % (n, off, len(got)))
os.close(fd)
PY
}
check "pread at offsets across chunk boundaries" big_ranges

odd_size() {
	rand_file "$W/odd" $((3 * MiB + 12345))
	dd if="$W/odd" of="$MNT/odd" bs=65536 status=none
	cmp "$W/odd" "$MNT/odd"
	head -c $((1 * MiB + 12345)) "$W/odd" >"$W/odd2"
	dd if="$W/odd2" of="$MNT/odd2" bs=3000 status=none
	cmp "$W/odd2" "$MNT/odd2"
}
check "3 MiB + 12345 in 64 KiB writes, 1 MiB + 12345 in 3000-byte writes" odd_size

for i in 1 2 3 4; do rand_file "$W/p$i" $((20 * MiB)); done
parallel() {
	local pids=() i
	for i in 1 2 3 4; do
		dd if="$W/p$i" of="$MNT/p$i" bs=128k status=none &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	for i in 1 2 3 4; do
		expect_eq "sha256 of p$i" "$(sha "$W/p$i")" "$(sha "$MNT/p$i")"
	done
}
check "4 processes write different 20 MiB files at once" parallel

parallel_read() {
	local pids=() i
	for i in 1 2 3 4; do
		cmp "$W/p$i" "$MNT/p$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
}
check "4 processes read them back at once" parallel_read

overwrite() {
	# replacing a big file with a smaller one leaves no trace of the old
	cp "$W/p1" "$MNT/ten"
	cmp "$W/p1" "$MNT/ten"
	cp "$W/odd" "$MNT/ten"
	cmp "$W/odd" "$MNT/ten"
}
check "cp over an existing big file" overwrite

check_remount "unmount and mount again"
after() {
	local i
	for i in 1 2 3 4; do cmp "$W/p$i" "$MNT/p$i"; done
	cmp "$W/odd" "$MNT/ten"
	cmp "$W/odd2" "$MNT/odd2"
}
check "after a remount every big file is byte-identical" after

fuse_finish
