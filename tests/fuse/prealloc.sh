#!/usr/bin/env bash
# fallocate(1) sets space aside, as on ext4: another file fills the store
# and meets "No space left on device" while the preallocated file still
# takes every byte of its range; the blocks count and df show the space
# as used; a remount keeps it; truncation and rm give it back.
. "$(dirname "$0")/lib.sh"

fuse_setup 128M
MiB=1048576

avail() {
	df -B1 --output=avail "$MNT" | tail -n 1 | tr -d ' '
}

A0=$(avail)
set_aside() {
	fallocate -l 40M "$MNT/pre"
	expect_eq "size" $((40 * MiB)) "$(stat -c %s "$MNT/pre")"
	expect_eq "512-byte blocks" $((40 * MiB / 512)) "$(stat -c %b "$MNT/pre")"
	expect_between "avail after (bytes)" $((A0 - 41 * MiB)) \
		$((A0 - 39 * MiB)) "$(avail)"
	touch "$MNT/keep"
	fallocate -n -l 10M "$MNT/keep"
	expect_eq "size with --keep-size" 0 "$(stat -c %s "$MNT/keep")"
	expect_eq "its blocks" $((10 * MiB / 512)) "$(stat -c %b "$MNT/keep")"
}
check "fallocate sets 40 MiB aside, fallocate -n 10 MiB more" set_aside

# every fallocate moves mtime and ctime, inside the size and with
# --keep-size too, as ext4's does (it calls file_modified)
times_move() {
	touch -d '2001-01-01' "$MNT/pre" "$MNT/keep"
	local c_pre c_keep f
	c_pre=$(stat -c %z "$MNT/pre") c_keep=$(stat -c %z "$MNT/keep")
	fallocate -o 0 -l 4096 "$MNT/pre"
	fallocate -n -o 0 -l 4096 "$MNT/keep"
	for f in pre keep; do
		[ "$(stat -c %Y "$MNT/$f")" -gt 978307200 ] ||
			{ echo "$f: mtime kept"; return 1; }
	done
	[ "$(stat -c %z "$MNT/pre")" != "$c_pre" ] || { echo "pre: ctime kept"; return 1; }
	[ "$(stat -c %z "$MNT/keep")" != "$c_keep" ] || { echo "keep: ctime kept"; return 1; }
}
check "fallocate moves mtime and ctime" times_move

check_fails "another file fills the rest: No space left on device" \
	'No space left on device' \
	dd if=/dev/urandom of="$MNT/other" bs=1M count=200 status=none

promised() {
	rand_file "$W/pre" $((40 * MiB))
	dd if="$W/pre" of="$MNT/pre" bs=1M conv=notrunc,fsync status=none
	cmp "$W/pre" "$MNT/pre"
	rand_file "$W/keep" $((10 * MiB))
	dd if="$W/keep" of="$MNT/keep" bs=1M conv=notrunc,fsync status=none
	cmp "$W/keep" "$MNT/keep"
}
check "the preallocated files take every byte of their ranges" promised

# the space is there as soon as rm returns: the kernel forgets the
# inodes a moment later, and an allocation short of room waits for that
check "rm the others" rm "$MNT/other" "$MNT/keep"
past_end() {
	fallocate -n -o $((40 * MiB)) -l 20M "$MNT/pre"
	expect_eq "blocks" $((60 * MiB / 512)) "$(stat -c %b "$MNT/pre")"
}
check "fallocate -n sets 20 MiB aside past the end" past_end
check_remount "remount"
kept() {
	expect_eq "blocks after a remount" $((60 * MiB / 512)) \
		"$(stat -c %b "$MNT/pre")"
	cmp "$W/pre" "$MNT/pre"
}
check "the space set aside survives the remount" kept

given_back() {
	local before
	before=$(avail)
	truncate -s $((40 * MiB)) "$MNT/pre"
	expect_eq "blocks after truncate" $((40 * MiB / 512)) \
		"$(stat -c %b "$MNT/pre")"
	expect_between "avail after truncate (bytes)" $((before + 19 * MiB)) \
		$((before + 21 * MiB)) "$(avail)"
}
check "truncating to the size gives what lies past it back" given_back

fuse_finish
