#!/usr/bin/env bash
# Long names and deep paths: a 255-byte name works, 256 bytes gets
# ENAMETOOLONG; mkdir -p of a path near PATH_MAX (19 names of 200 bytes)
# works and the file at its bottom reads back, also after a remount.
. "$(dirname "$0")/lib.sh"

fuse_setup

N255=$(printf 'n%.0s' $(seq 1 255))
N256=${N255}x
N200=$(printf 'd%.0s' $(seq 1 199))

name255() {
	touch "$MNT/$N255"
	echo data >"$MNT/$N255"
	expect_eq "content" data "$(cat "$MNT/$N255")"
	expect_eq "listing" "$N255" "$(ls "$MNT")"
	mkdir "$MNT/d$N255" 2>/dev/null && { echo "mkdir of a 256-byte name worked"; return 1; }
	mkdir "$MNT/${N255:1}d"
	[ -d "$MNT/${N255:1}d" ]
}
check "a 255-byte name works (touch, write, ls, mkdir)" name255

check_fails "touch of a 256-byte name: File name too long" \
	'File name too long' touch "$MNT/$N256"
check_fails "mkdir of a 256-byte name: File name too long" \
	'File name too long' mkdir "$MNT/$N256"
check_fails "mv to a 256-byte name: File name too long" \
	'File name too long' mv "$MNT/$N255" "$MNT/$N256"
check_fails "ln -s to a 256-byte name: File name too long" \
	'File name too long' ln -s target "$MNT/$N256"
check "nothing of 256 bytes was made" test "$(ls "$MNT" | awk 'length > 255' | wc -l)" -eq 0

# 19 components of 1 + 199 bytes, with slashes: 3819 bytes below the mount
DEEP=
for i in $(seq -w 1 19); do DEEP+="/${i: -1}$N200"; done
DEEP=${DEEP#/}

deep_mkdir() {
	expect_ge "path length" 3800 "${#DEEP}"
	mkdir -p "$MNT/$DEEP"
	[ -d "$MNT/$DEEP" ]
	echo bottom >"$MNT/$DEEP/f"
	expect_eq "content" bottom "$(cat "$MNT/$DEEP/f")"
}
check "mkdir -p of a 3819-byte path, a file at the bottom" deep_mkdir

deep_find() {
	expect_eq "directories" 19 "$(find "$MNT/${DEEP%%/*}" -type d | wc -l)"
	expect_eq "the file" "$MNT/$DEEP/f" "$(find "$MNT/${DEEP%%/*}" -type f)"
}
check "find walks the deep path" deep_find

check_remount "unmount and mount again"
after_remount() {
	expect_eq "content after remount" bottom "$(cat "$MNT/$DEEP/f")"
	expect_eq "255-byte name after remount" data "$(cat "$MNT/$N255")"
}
check "after a remount the deep file and the long name are there" after_remount

deep_rm() {
	rm -r "$MNT/${DEEP%%/*}"
	[ ! -e "$MNT/${DEEP%%/*}" ]
}
check "rm -r of the deep path" deep_rm

fuse_finish
