#!/usr/bin/env bash
# mkfifo and mknod: the types and device numbers stat shows; a FIFO passes
# data; they survive a remount.
. "$(dirname "$0")/lib.sh"

fuse_setup

fifo() {
	mkfifo -m 0640 "$MNT/fifo"
	expect_eq "type" fifo "$(stat -c %F "$MNT/fifo")"
	expect_eq "mode" 640 "$(stat -c %a "$MNT/fifo")"
	[ -p "$MNT/fifo" ]
}
check "mkfifo makes a fifo" fifo

fifo_data() {
	( echo through >"$MNT/fifo" ) &
	expect_eq "read from the fifo" through "$(timeout 10 cat "$MNT/fifo")"
	wait
}
check "a fifo passes data between processes" fifo_data

chardev() {
	mknod "$MNT/null" c 1 3
	expect_eq "type" "character special file" "$(stat -c %F "$MNT/null")"
	expect_eq "major,minor (hex)" 1,3 "$(stat -c %t,%T "$MNT/null")"
	[ -c "$MNT/null" ]
}
check "mknod c 1 3 makes a character device 1,3" chardev

blockdev() {
	mknod "$MNT/blk" b 7 200
	expect_eq "type" "block special file" "$(stat -c %F "$MNT/blk")"
	expect_eq "major,minor (hex)" 7,c8 "$(stat -c %t,%T "$MNT/blk")"
	mknod "$MNT/big" c 259 70000
	expect_eq "large numbers (dec)" 259,70000 "$(stat -c '%Hr,%Lr' "$MNT/big")"
}
check "mknod b 7 200 and large device numbers" blockdev

sock() {
	python3 -c 'import socket,sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$MNT/sock"
	expect_eq "type" socket "$(stat -c %F "$MNT/sock")"
}
check "a unix socket can be bound in the mount" sock

listing() {
	expect_eq "ls -l types" "b c c p s" \
		"$(ls -l "$MNT" | tail -n +2 | cut -c1 | sort | xargs)"
	expect_eq "find -type p" "$MNT/fifo" "$(find "$MNT" -type p)"
}
check "ls and find show the types" listing

check_remount "unmount and mount again"
kept() {
	expect_eq "fifo" fifo "$(stat -c %F "$MNT/fifo")"
	expect_eq "char" "character special file 1,3" "$(stat -c '%F %t,%T' "$MNT/null")"
	expect_eq "block" "block special file 7,c8" "$(stat -c '%F %t,%T' "$MNT/blk")"
	expect_eq "socket" socket "$(stat -c %F "$MNT/sock")"
}
check "the special files persist across a remount" kept

rm_special() {
	rm "$MNT/fifo" "$MNT/null" "$MNT/blk" "$MNT/big" "$MNT/sock"
	expect_eq "left" "" "$(ls -A "$MNT")"
}
check "rm removes them" rm_special

fuse_finish
