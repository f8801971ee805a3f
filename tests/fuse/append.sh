#!/usr/bin/env bash
# Appends: echo >>, dd oflag=append conv=notrunc, and appends that cross
# block and chunk boundaries; each compared with the same on a reference.
. "$(dirname "$0")/lib.sh"

fuse_setup
REF=$W/ref
F=$MNT/log

echo_appends() {
	local i
	for i in 1 2 3; do
		echo "line $i" >>"$REF"
		echo "line $i" >>"$F"
	done
	cmp "$REF" "$F"
	expect_eq "content" "$(printf 'line 1\nline 2\nline 3')" "$(cat "$F")"
}
check "echo >> three times" echo_appends

rand_file "$W/chunk" 1048577
dd_append() {
	local bs=$1 count=$2
	dd if="$W/chunk" of="$REF" bs="$bs" count="$count" oflag=append conv=notrunc status=none
	dd if="$W/chunk" of="$F" bs="$bs" count="$count" oflag=append conv=notrunc status=none
	cmp "$REF" "$F"
}
check "dd oflag=append conv=notrunc, 4000 bytes" dd_append 4000 1
check "dd oflag=append conv=notrunc, 1 byte" dd_append 1 1
check "dd oflag=append conv=notrunc, 1 MiB + 1 in one write" dd_append 1048577 1
check "dd oflag=append conv=notrunc, 256 writes of 4096" dd_append 4096 256
check "dd oflag=append conv=notrunc, 7 writes of 100" dd_append 100 7

append_open_twice() {
	# two writers with O_APPEND on the same file, interleaved
	exec 7>>"$F" 8>>"$F"
	local i
	for i in $(seq 1 50); do
		echo "a$i" >&7
		echo "b$i" >&8
		echo "a$i" >>"$REF"
		echo "b$i" >>"$REF"
	done
	exec 7>&- 8>&-
	cmp "$REF" "$F"
}
check "two O_APPEND descriptors interleave" append_open_twice

append_new_file() {
	echo first >>"$MNT/new"
	echo second >>"$MNT/new"
	expect_eq "content" "$(printf 'first\nsecond')" "$(cat "$MNT/new")"
	expect_eq "size" 13 "$(stat -c %s "$MNT/new")"
}
check ">> creates a file that did not exist" append_new_file

size_check() {
	expect_eq "size" "$(stat -c %s "$REF")" "$(stat -c %s "$F")"
}
check "the size matches the reference" size_check

fuse_finish
