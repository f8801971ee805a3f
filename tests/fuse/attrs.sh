#!/usr/bin/env bash
# chmod, chown and touch -d, checked with stat; nanosecond timestamps; the
# times that writes and renames move; all of it kept across a remount;
# lsattr and chattr, which find no inode flags.
. "$(dirname "$0")/lib.sh"

fuse_setup
echo data >"$MNT/f"
mkdir "$MNT/d"

modes() {
	local m
	for m in 640 600 755 4755 2750 1777 0; do
		chmod "$m" "$MNT/f"
		expect_eq "mode after chmod $m" "$m" "$(stat -c %a "$MNT/f")"
	done
	chmod 1777 "$MNT/d"
	expect_eq "dir mode" 1777 "$(stat -c %a "$MNT/d")"
	expect_eq "dir type" directory "$(stat -c %F "$MNT/d")"
	chmod 644 "$MNT/f"
	expect_eq "file type" "regular file" "$(stat -c %F "$MNT/f")"
}
check "chmod sets permission, setuid, setgid and sticky bits" modes

owners() {
	chown 1234:5678 "$MNT/f"
	expect_eq "owner" 1234:5678 "$(stat -c %u:%g "$MNT/f")"
	chown 4321 "$MNT/d"
	expect_eq "dir owner" 4321:0 "$(stat -c %u:%g "$MNT/d")"
	chgrp 99 "$MNT/f"
	expect_eq "group" 1234:99 "$(stat -c %u:%g "$MNT/f")"
	chown 0:0 "$MNT/f"
	expect_eq "owner back" 0:0 "$(stat -c %u:%g "$MNT/f")"
}
check "chown and chgrp" owners

new_file_owner() {
	touch "$MNT/mine"
	expect_eq "owner of a new file" "$(id -u):$(id -g)" "$(stat -c %u:%g "$MNT/mine")"
	umask 027
	touch "$MNT/masked"
	mkdir "$MNT/maskeddir"
	expect_eq "mode of a new file under umask 027" 640 "$(stat -c %a "$MNT/masked")"
	expect_eq "mode of a new dir under umask 027" 750 "$(stat -c %a "$MNT/maskeddir")"
}
check "new files belong to the caller and honour the umask" new_file_owner

touch_d() {
	touch -d '2001-02-03 04:05:06.123456789' "$MNT/f"
	expect_eq "mtime" "2001-02-03 04:05:06.123456789 +0000" "$(stat -c %y "$MNT/f")"
	expect_eq "atime" "2001-02-03 04:05:06.123456789 +0000" "$(stat -c %x "$MNT/f")"
	touch -a -d '1999-12-31 23:59:59.000000001' "$MNT/f"
	expect_eq "atime alone" "1999-12-31 23:59:59.000000001 +0000" "$(stat -c %x "$MNT/f")"
	expect_eq "mtime kept" "2001-02-03 04:05:06.123456789 +0000" "$(stat -c %y "$MNT/f")"
	touch -m -d '2030-01-01 00:00:00.5' "$MNT/d"
	expect_eq "dir mtime" "2030-01-01 00:00:00.500000000 +0000" "$(stat -c %y "$MNT/d")"
	touch -d '@0' "$MNT/mine"
	expect_eq "epoch" 0 "$(stat -c %Y "$MNT/mine")"
}
check "touch -d sets atime and mtime to the nanosecond" touch_d

# Times are s64 ns on disk (1677-09-21 to 2262-04-11): one before the
# epoch keeps its fraction, one past the end is the end (the kernel
# clamps ext4's times alike), never a time wrapped around.
far_times() {
	touch -d '1969-12-31 23:59:59.25' "$MNT/early"
	expect_eq "before the epoch" "-1 1969-12-31 23:59:59.250000000 +0000" \
		"$(stat -c '%Y %y' "$MNT/early")"
	touch -d '1900-01-01 00:00:00.000000001' "$MNT/old"
	expect_eq "1900" "1900-01-01 00:00:00.000000001 +0000" "$(stat -c %y "$MNT/old")"
	touch -d '2400-01-01' "$MNT/late"
	expect_eq "past 2262" "2262-04-11 23:47:16.854775807 +0000" "$(stat -c %y "$MNT/late")"
	touch -d '1600-01-01' "$MNT/older"
	expect_eq "before 1677" "1677-09-21 00:12:43.145224192 +0000" "$(stat -c %y "$MNT/older")"
}
check "times before the epoch and past 2262 (clamped, not wrapped)" far_times

ctime_moves() {
	local c1 c2
	c1=$(stat -c %.9Z "$MNT/f")
	sleep 0.05
	chmod 600 "$MNT/f"
	c2=$(stat -c %.9Z "$MNT/f")
	[ "$c2" != "$c1" ] || { echo "ctime did not move on chmod: $c1"; return 1; }
	expect_eq "ctime is about now" 1 "$(awk -v c="$c2" -v n="$(date +%s.%N)" \
		'BEGIN { print (n - c < 30 && c - n < 1) }')"
	# chown to the same owner and group (-1, -1) moves it too, as on
	# ext4: the kernel sends a SETATTR with nothing in it
	sleep 0.05
	python3 -c 'import os, sys; os.chown(sys.argv[1], -1, -1)' "$MNT/f"
	c1=$(stat -c %.9Z "$MNT/f")
	[ "$c1" != "$c2" ] || { echo "ctime did not move on chown -1 -1"; return 1; }
}
check "chmod and chown -1 -1 move ctime to now" ctime_moves

mtime_on_write() {
	local before after
	touch -d '2001-01-01' "$MNT/f" "$MNT/d"
	echo more >>"$MNT/f"
	after=$(stat -c %Y "$MNT/f")
	expect_ge "mtime after a write" "$(($(date +%s) - 30))" "$after"
	before=$(stat -c %Y "$MNT/d")
	expect_eq "dir mtime before" 978307200 "$before"
	touch "$MNT/d/new"
	expect_ge "dir mtime after a create in it" "$(($(date +%s) - 30))" "$(stat -c %Y "$MNT/d")"
}
check "a write moves the file's mtime; a create moves the directory's" mtime_on_write

truncate_mtime() {
	touch -d '2001-01-01' "$MNT/f"
	truncate -s 1 "$MNT/f"
	expect_ge "mtime after truncate" "$(($(date +%s) - 30))" "$(stat -c %Y "$MNT/f")"
}
check "truncate moves mtime" truncate_mtime

chmod 640 "$MNT/f"
chown 1234:5678 "$MNT/f"
touch -d '2001-02-03 04:05:06.123456789' "$MNT/f"
check_remount "unmount and mount again"
kept() {
	expect_eq "mode" 640 "$(stat -c %a "$MNT/f")"
	expect_eq "owner" 1234:5678 "$(stat -c %u:%g "$MNT/f")"
	expect_eq "mtime" "2001-02-03 04:05:06.123456789 +0000" "$(stat -c %y "$MNT/f")"
	expect_eq "mtime before the epoch" "1969-12-31 23:59:59.250000000 +0000" \
		"$(stat -c %y "$MNT/early")"
	expect_eq "mtime clamped" "2262-04-11 23:47:16.854775807 +0000" \
		"$(stat -c %y "$MNT/late")"
	expect_eq "dir mode" 1777 "$(stat -c %a "$MNT/d")"
	expect_eq "dir owner" 4321:0 "$(stat -c %u:%g "$MNT/d")"
}
check "mode, owner and mtime persist across a remount" kept

# lsattr and chattr: no inode flags are kept; lsattr shows none, chattr
# of none is no change, and setting one is refused as not supported
if command -v lsattr >/dev/null && command -v chattr >/dev/null; then
	inode_flags() {
		expect_eq "lsattr of a file" "---------------------- $MNT/f" \
			"$(lsattr "$MNT/f")"
		expect_eq "lsattr -d of a directory" \
			"---------------------- $MNT/d" "$(lsattr -d "$MNT/d")"
		chattr -i "$MNT/f"
		local out
		out=$(chattr +i "$MNT/f" 2>&1) && return 1
		case $out in
		*"Operation not supported"*) ;;
		*) echo "chattr +i said: $out"; return 1 ;;
		esac
		echo more >>"$MNT/f"        # still writable: nothing was set
	}
	check "lsattr shows no flags; chattr +i is refused, -i is no change" \
		inode_flags
fi

fuse_finish
