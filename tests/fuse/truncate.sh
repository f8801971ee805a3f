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

fuse_finish
