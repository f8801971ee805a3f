#!/usr/bin/env bash
# cp -r of a tree into slotfs and back out: the same names and bytes; find
# counts what it should; rm -r removes it all.
. "$(dirname "$0")/lib.sh"

fuse_setup
make_tree "$W/src"

check "cp -r a tree in" cp -r "$W/src" "$MNT/t"
check "the tree in the mount has the same names, sizes and sha256" \
	same_tree "$W/src" "$MNT/t"
check "cp -r the tree back out" cp -r "$MNT/t" "$W/out"
check "the copy out is identical to the source" same_tree "$W/src" "$W/out"

count_types() {
	expect_eq "files" "$(find "$W/src" -type f | wc -l)" \
		"$(find "$MNT/t" -type f | wc -l)"
	expect_eq "directories" "$(find "$W/src" -type d | wc -l)" \
		"$(find "$MNT/t" -type d | wc -l)"
	expect_eq "files in the mount" 10 "$(find "$MNT" -type f | wc -l)"
	expect_eq "empty files" 1 "$(find "$MNT" -type f -empty | wc -l)"
	expect_eq "files of 4096 bytes" 1 "$(find "$MNT" -type f -size 4096c | wc -l)"
	expect_eq "directories in the mount" 9 "$(find "$MNT" -type d | wc -l)"
}
check "find counts files and directories" count_types

second_copy() {
	cp -r "$W/src" "$MNT/t2"
	same_tree "$W/src" "$MNT/t2"
	same_tree "$W/src" "$MNT/t"
}
check "a second copy beside the first; both intact" second_copy

remove_tree() {
	rm -r "$MNT/t"
	[ ! -e "$MNT/t" ]
	expect_eq "entries left at the root" t2 "$(ls -A "$MNT")"
	rm -r "$MNT/t2"
	expect_eq "entries left at the root" "" "$(ls -A "$MNT")"
	expect_eq "find after rm -r" "$MNT" "$(find "$MNT")"
}
check "rm -r removes the trees" remove_tree

reuse_names() {
	cp -r "$W/src" "$MNT/t"
	same_tree "$W/src" "$MNT/t"
}
check "the same names can be used again after rm -r" reuse_names

fuse_finish
