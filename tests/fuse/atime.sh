#!/usr/bin/env bash
# atime as ext4 moves it: relatime by default (a read moves it when it is
# not after mtime or ctime, or is a day old), strictatime, noatime,
# nodiratime, O_NOATIME and read-only mounts; reads served from the
# kernel's cache and reads on a handle already open both count; ctime
# never moves for it; a clean unmount keeps it.
. "$(dirname "$0")/lib.sh"

OLD='2001-01-01 00:00:00.000000000 +0000'

# atime_old PATH: atime to 2001, mtime and ctime left (ctime moves now)
atime_old() {
	touch -a -d '2001-01-01' "$1"
}

# is_now PATH: its atime is within 30 s of now
is_now() {
	local a n
	a=$(stat -c %X "$1")
	n=$(date +%s)
	[ $((n - a)) -lt 30 ] && [ $((a - n)) -le 1 ] ||
		{ echo "atime of $1 is $(stat -c %x "$1"), not now"; return 1; }
}

# Reads an open handle's first 4 KiB with O_DIRECT after setting atime
# back: the read itself (no open) reaches the daemon.
read_open_handle() {
	python3 - "$1" <<'EOF'
import mmap, os, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDONLY | os.O_DIRECT)
os.utime(p, (978307200, os.stat(p).st_mtime))
buf = mmap.mmap(-1, 4096)
os.preadv(fd, [buf], 0)
os.close(fd)
EOF
}

fuse_setup
echo data >"$MNT/f"
mkdir "$MNT/d"
touch "$MNT/d/x"

relatime() {
	local m c
	atime_old "$MNT/f"
	m=$(stat -c %y "$MNT/f")
	c=$(stat -c %z "$MNT/f")
	cat "$MNT/f" >/dev/null
	is_now "$MNT/f" || return 1
	expect_eq "mtime after a read" "$m" "$(stat -c %y "$MNT/f")"
	expect_eq "ctime after a read" "$c" "$(stat -c %z "$MNT/f")"
}
check "a read moves an atime older than mtime and ctime, and no other time" \
	relatime

relatime_recent() {
	local a
	a=$(stat -c %x "$MNT/f")
	sleep 0.05
	cat "$MNT/f" >/dev/null
	expect_eq "atime after a second read" "$a" "$(stat -c %x "$MNT/f")"
}
check "a recent atime after mtime and ctime stays (relatime)" relatime_recent

read_after_write() {
	sleep 0.05
	echo more >>"$MNT/f"
	cat "$MNT/f" >/dev/null     # from the kernel's cache
	local a m
	a=$(stat -c %.9X "$MNT/f")
	m=$(stat -c %.9Y "$MNT/f")
	expect_eq "atime after mtime" 1 "$(awk -v a="$a" -v m="$m" \
		'BEGIN { print (a > m) }')"
}
check "a read after a write moves atime (mail readers' new-mail test)" \
	read_after_write

handle_read() {
	rand_file "$MNT/big" 65536
	read_open_handle "$MNT/big"
	is_now "$MNT/big"
}
check "a read on a handle opened before moves atime" handle_read

noatime_flag() {
	atime_old "$MNT/f"
	python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NOATIME)
os.read(fd, 100)' "$MNT/f"
	expect_eq "atime after an O_NOATIME read" "$OLD" "$(stat -c %x "$MNT/f")"
}
check "O_NOATIME reads leave atime" noatime_flag

dir_read() {
	atime_old "$MNT/d"
	ls "$MNT/d" >/dev/null
	is_now "$MNT/d"
}
check "listing a directory moves its atime" dir_read

empty_read() {
	: >"$MNT/empty"
	atime_old "$MNT/empty"
	stat "$MNT/empty" >/dev/null        # its attributes cached
	cat "$MNT/empty"
	is_now "$MNT/empty"
}
check "reading an empty file (no read reaches slotfs) moves its atime" \
	empty_read

atime_old "$MNT/f"
cat "$MNT/f" >/dev/null
A_KEPT=$(stat -c %x "$MNT/f")
check_remount "unmount and mount again"
kept() {
	expect_eq "atime after a remount" "$A_KEPT" "$(stat -c %x "$MNT/f")"
}
check "a clean unmount keeps atime" kept

remount_with() {
	unmount_fs "$MNT" && mount_fs "$IMG" "$MNT" "$@"
}

check_here "mount -o noatime" remount_with -o noatime
noatime() {
	grep -q " $MNT fuse.slotfs [^ ]*noatime" /proc/mounts ||
		{ echo "no noatime in /proc/mounts"; return 1; }
	atime_old "$MNT/f"
	atime_old "$MNT/d"
	cat "$MNT/f" >/dev/null
	ls "$MNT/d" >/dev/null
	expect_eq "file atime" "$OLD" "$(stat -c %x "$MNT/f")"
	expect_eq "dir atime" "$OLD" "$(stat -c %x "$MNT/d")"
}
check "-o noatime: reads leave atime" noatime

check_here "mount -o nodiratime" remount_with -o nodiratime
nodiratime() {
	atime_old "$MNT/f"
	atime_old "$MNT/d"
	cat "$MNT/f" >/dev/null
	ls "$MNT/d" >/dev/null
	is_now "$MNT/f" || return 1
	expect_eq "dir atime" "$OLD" "$(stat -c %x "$MNT/d")"
}
check "-o nodiratime: a file's atime moves, a directory's stays" nodiratime

check_here "mount -o strictatime" remount_with -o strictatime
strictatime() {
	cat "$MNT/f" >/dev/null
	local a
	a=$(stat -c %.9X "$MNT/f")
	sleep 0.05
	cat "$MNT/f" >/dev/null
	local b
	b=$(stat -c %.9X "$MNT/f")
	[ "$a" != "$b" ] || { echo "atime stayed at $a"; return 1; }
}
check "-o strictatime: every read moves atime" strictatime

atime_old "$MNT/f"
check_here "mount -o ro" remount_with -o ro
read_only() {
	cat "$MNT/f" >/dev/null
	expect_eq "atime on a read-only mount" "$OLD" "$(stat -c %x "$MNT/f")"
}
check "a read-only mount reads and leaves atime" read_only

fuse_finish
