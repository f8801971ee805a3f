#!/usr/bin/env bash
# truncate -s down and up, each step done on a reference file too: the
# kept bytes stay, the extended part reads as zeros (never old data).
. "$(dirname "$0")/lib.sh"

fuse_setup
REF=$W/ref
F=$MNT/f
rand_file "$W/base" 3145733
cp "$W/base" "$REF"
check "cp a 3 MiB + 5 file in" cp "$W/base" "$F"

# trunc SIZE: truncate both, compare size and bytes.
trunc() {
	truncate -s "$1" "$REF"
	truncate -s "$1" "$F"
	expect_eq "size" "$(stat -c %s "$REF")" "$(stat -c %s "$F")"
	cmp "$REF" "$F"
}
check "truncate -s 2097152 (down to a chunk boundary)" trunc 2097152
check "truncate -s 1048577 (down into the second chunk)" trunc 1048577
check "truncate -s 5000 (down inside a block)" trunc 5000
check "truncate -s 3M (up: zeros after byte 5000)" trunc 3M
check "truncate -s 100 (down again)" trunc 100
check "truncate -s 8192 (up: the old bytes 100..4999 must not come back)" trunc 8192

zeros_after() {
	# independent of the reference: bytes 100.. are zero, 0..99 the original
	cmp <(head -c 100 "$W/base") <(head -c 100 "$F")
	cmp <(head -c 8092 /dev/zero) <(bytes "$F" 100 100000)
}
check "bytes after the cut are zeros" zeros_after

check "truncate -s 0" trunc 0
check "truncate -s 4097 from empty" trunc 4097
write_after_trunc() {
	printf 'xyz' | dd of="$REF" bs=1 seek=2 conv=notrunc status=none
	printf 'xyz' | dd of="$F" bs=1 seek=2 conv=notrunc status=none
	cmp "$REF" "$F"
	trunc 1048576
	trunc 314572800
	cmp <(head -c 10 "$REF") <(head -c 10 "$F")
	dd if="$W/base" of="$REF" bs=4096 seek=100 count=10 conv=notrunc status=none
	dd if="$W/base" of="$F" bs=4096 seek=100 count=10 conv=notrunc status=none
	cmp "$REF" "$F"
}
check "writes between truncates; a sparse 300 MiB file (more than the image)" write_after_trunc
check "truncate -s 0 of the sparse file" trunc 0

ftruncate_open() {
	# shrink and grow through an open descriptor (ftruncate)
	cp "$W/base" "$MNT/g"
	python3 - "$MNT/g" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.ftruncate(fd, 4096 + 7)
os.ftruncate(fd, 65536)
os.pwrite(fd, b"end", 65533)
os.close(fd)
PY
	head -c 4103 "$W/base" >"$W/g"
	truncate -s 65533 "$W/g"
	printf end >>"$W/g"
	cmp "$W/g" "$MNT/g"
}
check "ftruncate down and up through an open file" ftruncate_open

truncate_new() {
	truncate -s 12345 "$MNT/new"
	expect_eq "size" 12345 "$(stat -c %s "$MNT/new")"
	cmp <(head -c 12345 /dev/zero) "$MNT/new"
}
check "truncate -s on a new name makes a zero-filled file" truncate_new

# seek_map FILE: lseek SEEK_DATA and SEEK_HOLE from offsets around the
# data seek_holes writes, one line each ("ENXIO" where there is none,
# as before the start: ext4's answer to a negative offset)
seek_map() {
	python3 - "$1" <<'PY'
import errno, os, sys
M = 1 << 20
fd = os.open(sys.argv[1], os.O_RDONLY)
for off in (-1, 0, 3*M, 3*M + 9000, 4*M, 5*M + 5, 6*M + 4095, 6*M + 4096,
            10*M - 1, 10*M):
    r = []
    for whence in (os.SEEK_DATA, os.SEEK_HOLE):
        try:
            r.append(str(os.lseek(fd, off, whence)))
        except OSError as e:
            r.append(errno.errorcode[e.errno])
    print(off, *r)
PY
}

seek_holes() {
	local M=1048576 want
	truncate -s 10M "$MNT/holes"
	# chunk 3: 5000 bytes at +100 (data: its first two blocks); chunk 5
	# whole; chunk 6: one block
	head -c 5000 /dev/urandom | dd of="$MNT/holes" bs=1 seek=$((3 * M + 100)) conv=notrunc status=none
	head -c $M /dev/urandom | dd of="$MNT/holes" bs=1M seek=5 conv=notrunc status=none
	printf 0123456789 | dd of="$MNT/holes" bs=1 seek=$((6 * M)) conv=notrunc status=none
	want="-1 ENXIO ENXIO
0 3145728 0
3145728 3145728 3153920
3154728 5242880 3154728
4194304 5242880 4194304
5242885 5242885 6295552
6295551 6295551 6295552
6295552 ENXIO 6295552
10485759 ENXIO 10485759
10485760 ENXIO ENXIO"
	# while the bytes are buffered in the daemon, then once written
	expect_eq "SEEK_DATA and SEEK_HOLE, buffered" "$want" "$(seek_map "$MNT/holes")"
	sync "$MNT/holes"
	expect_eq "SEEK_DATA and SEEK_HOLE, written" "$want" "$(seek_map "$MNT/holes")"
	# cp finds the data by them; the copy is the same bytes
	cp "$MNT/holes" "$W/holes.copy"
	cmp "$MNT/holes" "$W/holes.copy"
	rm "$MNT/holes"
}
check "lseek SEEK_DATA and SEEK_HOLE find the data and the holes" seek_holes

fuse_finish
