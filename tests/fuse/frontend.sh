#!/usr/bin/env bash
# The FUSE front end itself: the virtual /.slotfs/ directory, refusals of a
# busy or foreign image, start-up modes (daemonized, mount -t fuse.slotfs,
# -o ro), signals and the unclean-unmount message, special files, set-id
# rules, fallocate, statfs, renameat2 flags and large directories; the
# request loop's options (max_background, awake_us).
#
# Uses tests/fuse/lib.sh; run as root: bash tests/fuse/frontend.sh
. "$(dirname "$0")/lib.sh"

fuse_setup

# ---- /.slotfs/ --------------------------------------------------------------

status_files() {
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert "key_count" in d, d' \
		"$MNT/.slotfs/status.json"
	grep -q '^slotfs_' "$MNT/.slotfs/metrics"
	expect_eq "dir type" directory "$(stat -c %F "$MNT/.slotfs")"
	expect_eq "dir mode" 555 "$(stat -c %a "$MNT/.slotfs")"
	expect_eq "listing" "metrics status.json" "$(ls "$MNT/.slotfs" | xargs)"
}
check "/.slotfs/status.json is JSON, metrics is Prometheus text" status_files

status_live() {
	local before after
	before=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key_count"])' "$MNT/.slotfs/status.json")
	echo x >"$MNT/counted"
	after=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key_count"])' "$MNT/.slotfs/status.json")
	expect_eq "key_count after a new file" $((before + 1)) "$after"
	rm "$MNT/counted"
}
check "status is rendered live at open" status_live

hidden() {
	expect_eq "ls -A of the root" "" "$(ls -A "$MNT")"
	expect_eq "find" "$MNT" "$(find "$MNT")"
	mkdir "$MNT/d"
	expect_eq "ls -A with one dir" d "$(ls -A "$MNT")"
	rmdir "$MNT/d"
}
check "the root listing does not show .slotfs" hidden

check_fails "writing status.json is refused" 'denied|permitted|read-only' \
	sh -c "echo x >'$MNT/.slotfs/status.json'"
check_fails "creating in /.slotfs is refused" 'denied|permitted|read-only' \
	touch "$MNT/.slotfs/new"
check_fails "mkdir in /.slotfs is refused" 'denied|permitted|read-only' \
	mkdir "$MNT/.slotfs/new"
check_fails "rm of status.json is refused" 'denied|permitted|read-only' \
	rm -f "$MNT/.slotfs/metrics"
check_fails "rmdir /.slotfs is refused" 'denied|permitted|read-only|busy' \
	rmdir "$MNT/.slotfs"
check_fails "mv /.slotfs is refused" 'denied|permitted|read-only' \
	mv "$MNT/.slotfs" "$MNT/elsewhere"
check_fails "chmod of /.slotfs is refused" 'denied|permitted|read-only' \
	chmod 777 "$MNT/.slotfs"
check_fails "mkdir /.slotfs is refused" 'exists' mkdir "$MNT/.slotfs"
echo x >"$MNT/plain"
check_fails "mv onto /.slotfs is refused" 'denied|permitted|read-only|directory' \
	mv -T "$MNT/plain" "$MNT/.slotfs"
check_fails "ln onto /.slotfs is refused" 'exists' ln -T "$MNT/plain" "$MNT/.slotfs"
check ".slotfs is an ordinary name below the root" \
	sh -c "mkdir '$MNT/sub' && echo y >'$MNT/sub/.slotfs' && [ \"\$(cat '$MNT/sub/.slotfs')\" = y ] && ls -A '$MNT/sub' | grep -qx .slotfs && rm -r '$MNT/sub'"
rm -f "$MNT/plain"

# ---- refusals at start ------------------------------------------------------

second_mount() {
	local out rc=0
	mkdir -p "$W/mnt2"
	out=$(slotfs -f "$IMG" "$W/mnt2" 2>&1) || rc=$?
	expect_eq "exit status" 1 "$rc"
	echo "$out" | grep -q "is already in use (mounted?)"
	! is_mounted "$W/mnt2"
}
check "a second mount of the same image is refused" second_mount

foreign_image() {
	local out rc=0
	truncate -s 64M "$W/blank"
	mkdir -p "$W/mnt3"
	out=$(slotfs "$W/blank" "$W/mnt3" 2>&1) || rc=$?
	expect_eq "exit status" 1 "$rc"
	echo "$out" | grep -q "^slotfs: $W/blank: "
	expect_fail "blank image mounted" is_mounted "$W/mnt3"
	rc=0
	out=$(slotfs "$W/nonexistent" "$W/mnt3" 2>&1) || rc=$?
	expect_eq "exit status for a missing image" 1 "$rc"
	! is_mounted "$W/mnt3"
}
check "a blank or missing image is refused, nothing mounted" foreign_image

bad_args() {
	local rc=0
	slotfs -f "$IMG" 2>/dev/null || rc=$?
	expect_eq "one positional argument" 1 "$rc"
	rc=0
	slotfs -f -o no_such_option "$W/blank" "$W/mnt3" 2>/dev/null || rc=$?
	expect_eq "unknown option" 1 "$rc"
	expect_fail "mounted despite an unknown option" is_mounted "$W/mnt3"
	slotfs --version | grep '^slotfs '
	slotfs --help | grep queue_depth >/dev/null
}
check "usage errors exit 1; --help and --version exit 0" bad_args

# ---- special files, set-id rules ---------------------------------------------

special() {
	mkfifo "$MNT/fifo"
	mknod "$MNT/chr" c 1 3
	mknod "$MNT/blk" b 7 0
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$MNT/sock"
	expect_eq "fifo" "fifo" "$(stat -c %F "$MNT/fifo")"
	expect_eq "chr" "character special file 1:3" "$(stat -c '%F %Hr:%Lr' "$MNT/chr")"
	expect_eq "blk" "block special file 7:0" "$(stat -c '%F %Hr:%Lr' "$MNT/blk")"
	expect_eq "sock" "socket" "$(stat -c %F "$MNT/sock")"
	# a FIFO on slotfs carries data between processes
	(echo through >"$MNT/fifo") &
	expect_eq "fifo data" through "$(cat "$MNT/fifo")"
	wait
	rm "$MNT/fifo" "$MNT/chr" "$MNT/blk" "$MNT/sock"
}
check "mkfifo, mknod c and b, a socket" special

setgid_dir() {
	mkdir "$MNT/sg"
	chgrp 4242 "$MNT/sg"
	chmod 2775 "$MNT/sg"
	touch "$MNT/sg/f"
	mkdir "$MNT/sg/sub"
	expect_eq "gid of a file under a setgid dir" 4242 "$(stat -c %g "$MNT/sg/f")"
	expect_eq "gid of a dir under a setgid dir" 4242 "$(stat -c %g "$MNT/sg/sub")"
	[ -g "$MNT/sg/sub" ] || { echo "the new dir is not set-gid"; return 1; }
	[ ! -g "$MNT/sg/f" ] || { echo "the new file is set-gid"; return 1; }
}
check "a set-gid directory passes its group and the bit on" setgid_dir

chown_kills_setid() {
	echo x >"$MNT/su"
	chmod 6755 "$MNT/su"
	chown 1000:1000 "$MNT/su"
	expect_eq "mode after chown" 755 "$(stat -c %a "$MNT/su")"
	chmod 2745 "$MNT/su"
	chown 1001 "$MNT/su"
	expect_eq "setgid without group exec stays" 2745 "$(stat -c %a "$MNT/su")"
	# not only regular files: every kind but a directory (pjdfstest's
	# chown/00.t)
	mkfifo "$MNT/sufifo"
	mknod "$MNT/suchr" c 1 3
	chmod 6755 "$MNT/sufifo" "$MNT/suchr"
	chown 1000:1000 "$MNT/sufifo" "$MNT/suchr"
	expect_eq "FIFO's mode after chown" 755 "$(stat -c %a "$MNT/sufifo")"
	expect_eq "device's mode after chown" 755 "$(stat -c %a "$MNT/suchr")"
	mkdir "$MNT/sudir"
	chmod 6755 "$MNT/sudir"
	chown 1000:1000 "$MNT/sudir"
	expect_eq "a directory keeps them" 6755 "$(stat -c %a "$MNT/sudir")"
	rm -r "$MNT/su" "$MNT/sufifo" "$MNT/suchr" "$MNT/sudir"
}
check "chown clears set-uid and set-gid (with group exec)" chown_kills_setid

fallocate_cases() {
	: >"$MNT/fa"
	fallocate -l 100000 "$MNT/fa"
	expect_eq "size after fallocate" 100000 "$(stat -c %s "$MNT/fa")"
	cmp <(head -c 100000 /dev/zero) "$MNT/fa"
	fallocate -l 10 "$MNT/fa"
	expect_eq "fallocate does not shrink" 100000 "$(stat -c %s "$MNT/fa")"
	# keep-size (rsync --preallocate) reserves nothing either: the size
	# stays
	fallocate -n -l 200000 "$MNT/fa"
	expect_eq "size unchanged" 100000 "$(stat -c %s "$MNT/fa")"
	expect_fail "fallocate collapse-range" \
		fallocate -c -o 0 -l 1048576 "$MNT/fa"
	# more than the store holds: ENOSPC, as on ext4, and no new size.
	# df counts a region of small slots at their class's payload; one
	# that empties (fa's own slot moving to a chunk's) holds a few MiB
	# more, so the ask goes well past df's figure
	local ask err
	ask=$(($(stat -f -c '%a * %S' "$MNT") + 16 * 1048576))
	err=$(fallocate -l "$ask" "$MNT/fa" 2>&1) || :
	err+=$(fallocate -n -l "$ask" "$MNT/fa" 2>&1) || :
	case $err in
	*"No space left on device"*"No space left on device"*) ;;
	*) echo "fallocate beyond the free space: '$err'"; return 1 ;;
	esac
	expect_eq "size unchanged by a refused fallocate" 100000 \
		"$(stat -c %s "$MNT/fa")"
	rm "$MNT/fa"
}
check "fallocate extends, keep-size keeps the size; collapse-range and more than the free space are refused" fallocate_cases
# PUNCH_HOLE and ZERO_RANGE, and fallocate --dig-holes, which finds the
# zeros and punches them: the bytes read as zeros, whole chunks give their
# blocks back and read as holes
holes_case() {
	local M=1048576 before after
	head -c $((3 * M)) /dev/urandom >"$W/h"
	cp "$W/h" "$MNT/h"
	sync "$MNT/h"
	before=$(stat -c %b "$MNT/h")
	fallocate -p -o $M -l $M "$MNT/h"
	fallocate -p -o $((2 * M + 100)) -l 50 "$MNT/h"
	fallocate -z -o 10 -l 20 "$MNT/h"
	python3 - "$W/h" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
M = 1 << 20
b[M:2 * M] = bytes(M)
b[2 * M + 100:2 * M + 150] = bytes(50)
b[10:30] = bytes(20)
open(sys.argv[1], "wb").write(b)
EOF
	cmp "$W/h" "$MNT/h"
	expect_eq "PUNCH_HOLE keeps the size" $((3 * M)) "$(stat -c %s "$MNT/h")"
	after=$(stat -c %b "$MNT/h")
	expect_ge "blocks given back" $((before - after)) 2048
	expect_eq "SEEK_DATA from the hole" $((2 * M)) "$(python3 -c "
import os; fd = os.open('$MNT/h', os.O_RDONLY)
print(os.lseek(fd, $M, os.SEEK_DATA))")"
	fallocate -z -o $((3 * M - 10)) -l 4096 "$MNT/h"
	expect_eq "ZERO_RANGE past the end grows the file" $((3 * M + 4086)) \
		"$(stat -c %s "$MNT/h")"
	{ head -c $M /dev/urandom; head -c $M /dev/zero
	  head -c $M /dev/urandom; } >"$W/dig"
	cp "$W/dig" "$MNT/dig"
	fallocate -d "$MNT/dig"
	cmp "$W/dig" "$MNT/dig"
	expect_ge "blocks given back by --dig-holes" \
		$((6144 - $(stat -c %b "$MNT/dig"))) 2048
	rm "$MNT/h" "$MNT/dig"
}
check "fallocate punches holes, zeroes ranges and digs holes" holes_case

statfs_case() {
	expect_eq "namemax" 255 "$(stat -f -c %l "$MNT")"
	expect_eq "block size" 4096 "$(stat -f -c %S "$MNT")"
	expect_ge "blocks" 1000 "$(stat -f -c %b "$MNT")"
	expect_eq "type" "fuse.slotfs" "$(findmnt -n -o FSTYPE "$MNT")"
	expect_eq "source" "$(readlink -f "$IMG")" "$(findmnt -n -o SOURCE "$MNT")"
}
check "statfs: name max 255, 4 KiB blocks; fstype and source" statfs_case

exchange() {
	printf one >"$MNT/e1"
	mkdir "$MNT/e2"
	expect_eq "exchange" 0 "$(renameat2 "$MNT/e1" "$MNT/e2" 2)"
	test -d "$MNT/e1"
	expect_eq "the file, now e2" one "$(cat "$MNT/e2")"
	expect_eq "exchange with a missing name" ENOENT \
		"$(renameat2 "$MNT/e1" "$MNT/nope" 2)"
	rmdir "$MNT/e1"
	rm "$MNT/e2"
}
check "renameat2 RENAME_EXCHANGE swaps a file and a directory" exchange

big_dir() {
	mkdir "$MNT/big"
	(cd "$MNT/big" && seq -f 'file-with-a-longish-name-%06g' 1 3000 | xargs touch)
	expect_eq "ls count" 3000 "$(ls "$MNT/big" | wc -l)"
	expect_eq "ls -f count" 3002 "$(ls -f "$MNT/big" | wc -l)"
	# telldir/seekdir: positions stay valid while entries go
	python3 - "$MNT/big" <<'PY'
import os, sys
d = sys.argv[1]
names = sorted(os.listdir(d))
assert len(names) == 3000 and len(set(names)) == 3000
for n in names[::2]:
    os.unlink(os.path.join(d, n))
left = sorted(os.listdir(d))
assert left == names[1::2], (len(left),)
PY
	rm -r "$MNT/big"
}
check "a directory of 3000 entries lists fully; unlink while listing" big_dir

# Names not found are cached for a day (negative_timeout): each way a
# name comes to be must replace what the kernel remembers of it.
name_appears() {
	local n
	mkdir "$MNT/neg"
	echo a >"$MNT/neg/src"
	for n in f d s h m r; do
		[ ! -e "$MNT/neg/$n" ] || { echo "$n exists already"; return 1; }
	done
	echo f >"$MNT/neg/f"
	mkdir "$MNT/neg/d"
	ln -s src "$MNT/neg/s"
	ln "$MNT/neg/src" "$MNT/neg/h"
	mkfifo "$MNT/neg/m"
	echo r >"$MNT/neg/tmp" && mv "$MNT/neg/tmp" "$MNT/neg/r"
	for n in f d s h m r; do
		[ -e "$MNT/neg/$n" ] || { echo "$n is still missing"; return 1; }
	done
	[ ! -e "$MNT/neg/tmp" ] || { echo "tmp is still there"; return 1; }
	expect_eq "the renamed file" r "$(cat "$MNT/neg/r")"
}
check "a name looked up missing is found once made, linked or renamed there" \
	name_appears

rm_during_readdir() {
	mkdir "$MNT/rd"
	(cd "$MNT/rd" && seq 1 1500 | xargs touch)
	# rm -r deletes while it reads the directory
	rm -r "$MNT/rd"
	[ ! -e "$MNT/rd" ]
}
check "rm -r of a directory of 1500 files" rm_during_readdir

check_unmount "clean unmount" "$MNT"

# ---- start-up modes -----------------------------------------------------------
# Mounts happen in this shell (not inside a check, which is a subshell), so
# the daemon's pid is known here and the exit trap can always unmount.

mount_fs "$IMG" "$MNT" -o ro
readonly_checks() {
	expect_fail "touch on a read-only mount" touch "$MNT/new"
	expect_fail "mkdir on a read-only mount" mkdir "$MNT/newdir"
	findmnt -n -o OPTIONS "$MNT" | grep -q '^ro'
	grep -q '"read_only":true' "$MNT/.slotfs/status.json"
	ls "$MNT" >/dev/null
}
check "-o ro mounts read-only and refuses writes" readonly_checks
check_unmount "unmount the read-only mount" "$MNT"

# A write-protected device (a read-only loop device here) mounts
# read-only, saying so, as mount(8) and ntfs-3g do; -o rw refuses it.
RO_LOOP=
_ro_loop_cleanup() {
	# before the mounts' cleanup (registered first, run last): a device
	# still mounted is only marked to go once it is let go
	[ -z "$RO_LOOP" ] || losetup -d "$RO_LOOP" 2>/dev/null
}
at_exit _ro_loop_cleanup
if command -v losetup >/dev/null && RO_LOOP=$(losetup -r -f --show "$IMG"); then
	check_here "a write-protected device mounts without -o ro" \
		mount_fs "$RO_LOOP" "$MNT"
	write_protected() {
		grep -q "is write-protected; mounting read-only" "$T_DAEMON_LOG"
		findmnt -n -o OPTIONS "$MNT" | grep -q '^ro'
		grep -q '"read_only":true' "$MNT/.slotfs/status.json"
		expect_fail "touch on the write-protected device" touch "$MNT/new"
		ls "$MNT" >/dev/null
	}
	check "it says so, and is read-only" write_protected
	check_unmount "unmount the write-protected device" "$MNT"
	rw_refused() {
		local out rc=0
		mkdir -p "$W/mnt3"
		out=$(timeout 30 slotfs -f -o rw "$RO_LOOP" "$W/mnt3" 2>&1) || rc=$?
		expect_eq "exit status" 1 "$rc"
		echo "$out" | grep -q "read-only file system or device"
		expect_fail "mounted despite -o rw" is_mounted "$W/mnt3"
	}
	check "-o rw on a write-protected device is refused" rw_refused
	losetup -d "$RO_LOOP"
	RO_LOOP=
	# set read-only while mounted (blockdev --setro): writes fail with
	# EROFS (the device's EPERM read as a permission problem), and go
	# on once it is writable again
	if RO_LOOP=$(losetup -f --show "$IMG") &&
	   check_here "mount a loop device read-write" mount_fs "$RO_LOOP" "$MNT"; then
		set_ro_under() {
			echo before >"$MNT/setro"
			sync "$MNT/setro"
			blockdev --setro "$RO_LOOP"
			local out
			out=$(python3 -c "
import os
fd = os.open('$MNT/setro2', os.O_WRONLY | os.O_CREAT)
os.write(fd, b'x' * 5000)
os.fsync(fd)" 2>&1) && { blockdev --setrw "$RO_LOOP"; echo "fsync succeeded"; return 1; }
			blockdev --setrw "$RO_LOOP"
			echo "$out"
			grep -q 'Read-only file system' <<<"$out"
			echo after >"$MNT/setro3"
			sync "$MNT/setro3"
			expect_eq "the file synced before" before "$(cat "$MNT/setro")"
		}
		check "a device set read-only under the mount: EROFS, then writable again" set_ro_under
		check_unmount "unmount the loop device" "$MNT"
	fi
	[ -z "$RO_LOOP" ] || losetup -d "$RO_LOOP"
	RO_LOOP=
	check_rc "fsck.slotfs -f after the device went read-only and back" 0 \
		fsck.slotfs -f "$IMG"
else
	echo "# no loop device: the write-protected case is not run"
fi

check "plain slotfs daemonizes, returns 0 once mounted" \
	mount_daemonized "$IMG" "$MNT" -o queue_depth=8,direct_io=0
check "write through the daemon" sh -c "echo daemon >'$MNT/dmn'"
check_unmount "unmount the daemon; it closes the image" "$MNT"
mount_fs "$IMG" "$MNT"
after_daemon() {
	expect_eq "content after remount" daemon "$(cat "$MNT/dmn")"
	! grep -q "not cleanly" "$T_DAEMON_LOG"
}
check "the daemon's data is there; the image was clean" after_daemon
check_unmount "unmount" "$MNT"

mount_t() {
	# mount(8) runs helpers with a sanitized PATH, so slotfs must be
	# installed where the system looks; skip when it is not.
	if ! env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	    sh -c 'command -v slotfs' >/dev/null; then
		echo "slotfs is not installed in a system path: skipped"
		return 0
	fi
	mount -t fuse.slotfs "$IMG" "$MNT" -o rw,nofail,dev,suid,noatime
	is_mounted "$MNT"
	expect_eq "content" daemon "$(cat "$MNT/dmn")"
	umount "$MNT"
	wait_image_free "$IMG"
}
check "mount -t fuse.slotfs with fstab-style options" mount_t

mount_fs "$IMG" "$MNT"
echo term >"$MNT/t"
pid=${T_PID_OF[$MNT]}
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
unset "T_PID_OF[$MNT]"
check "SIGTERM: slotfs exits 0" expect_eq "exit status" 0 "$rc"
check "SIGTERM: the mount is gone" sh -c "! awk -v m='$MNT' '\$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo"
is_mounted "$MNT" && fusermount3 -u "$MNT"
mount_fs "$IMG" "$MNT"
after_term() {
	expect_fail "the image was not clean" grep -q "not cleanly" "$T_DAEMON_LOG"
	expect_eq "content after SIGTERM" term "$(cat "$MNT/t")"
}
check "after SIGTERM the image is clean and the data is there" after_term

echo crash >"$MNT/c"
sync "$MNT/c"
kill_fs "$MNT"
mount_fs "$IMG" "$MNT"
unclean() {
	grep -q "was not cleanly unmounted; recovered [0-9]* objects ([0-9]* slots scanned)" "$T_DAEMON_LOG"
	expect_eq "fsynced file after a crash" crash "$(cat "$MNT/c")"
}
check "after kill -9 the next mount reports the recovery" unclean
check_unmount "unmount after recovery" "$MNT"

# Another user must reach the mount point, and the work directory may lie
# below one he cannot enter (root's home): a directory of its own in /tmp.
PUB=$(mktemp -d /tmp/slotfs-frontend.XXXXXX)
chmod 755 "$PUB"
at_exit 'fusermount3 -u -z "$PUB/mnt" 2>/dev/null; rm -rf "$PUB"'
PMNT=$PUB/mnt
# slotfs notes root's mounts in libmount's utab (for umount.fuse.slotfs);
# a daemon killed cannot drop its entry, and the next mount drops such
# stale ones.  Here one as a killed daemon leaves it, for a directory
# that is no mount point (another test's mount may drop it first).
mkdir -p "$W/ghost"
check "a stale utab entry, as a killed daemon leaves it" \
	mount --fake -i --no-canonicalize -o uhelper=slotfs -t fuse.slotfs \
	"$IMG" "$W/ghost"
mount_fs "$IMG" "$PMNT" -o allow_other
utab_gone() { ! grep -q " TARGET=$1 .*uhelper=slotfs" /run/mount/utab; }
utab_pruned() {
	poll 20 utab_gone "$W/ghost" ||
		{ echo "the stale entry for $W/ghost stayed"; return 1; }
}
check "the next mount drops it" utab_pruned
setid_write() {
	chmod 0777 "$PMNT"
	echo x >"$PMNT/suw"
	chmod 6777 "$PMNT/suw"
	setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "echo more >>'$PMNT/suw'"
	expect_eq "mode after a write by another user" 777 "$(stat -c %a "$PMNT/suw")"
	setpriv --reuid=65534 --regid=65534 --clear-groups touch "$PMNT/nobody"
	expect_eq "owner of a file made by nobody" 65534:65534 "$(stat -c %u:%g "$PMNT/nobody")"
}
check "a write by a non-root user clears set-id bits" setid_write

# -o max_background reaches the kernel: the FUSE control file system shows
# what each connection holds (a connection is named by the mount's st_dev);
# the kernel's own 12 would hold a depth-32 random read to 12 in flight
# (mounted if it is not, as systemd mounts it at boot, and left mounted:
# the other request loop's run of this script reads it at the same time)
fusectl=/sys/fs/fuse/connections
mountpoint -q "$fusectl" || mount -t fusectl none "$fusectl" || true
bg_of() {
	cat "$fusectl/$(stat -c %d "$1")/max_background"
}
check "max_background is 64 by default" expect_eq "max_background" 64 "$(bg_of "$PMNT")"
check_unmount "unmount" "$PMNT"
mount_fs "$IMG" "$MNT" -o max_background=20
check "-o max_background=20 reaches the kernel" expect_eq "max_background" 20 "$(bg_of "$MNT")"
check_unmount "unmount" "$MNT"

# -o awake_us: a thread on each CPU, pinned there at SCHED_IDLE, spins
# while requests come and sleeps once they stop (the polling loop does
# it; the ring's requests do not pass there, so io_uring=0 in both runs)
mount_fs "$IMG" "$MNT" -o awake_us=2000,io_uring=0,attr_timeout=0,entry_timeout=0
# keepers PID: "CPUS STATE TICKS" of each SCHED_IDLE thread of PID
keepers() {
	local t f
	for t in /proc/"$1"/task/*; do
		# the fields after "(comm) ", from field 3 (the state): the
		# policy is field 41, utime and stime 14 and 15
		f=($(sed 's/.*) //' "$t/stat" 2>/dev/null)) || continue
		[ "${f[38]:-}" = 5 ] || continue
		echo "$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "$t/status") ${f[0]} $((f[11] + f[12]))"
	done
}
ticks() { keepers "$1" | awk '{ s += $3 } END { print s + 0 }'; }
# states PID N: the keepers' states, sampled N times 50 ms apart, in one
# word (R: spinning, or waiting for a CPU to; S: asleep)
states() {
	local i
	for ((i = 0; i < $2; i++)); do
		keepers "$1" | awk '{ printf "%s", $2 }'
		sleep 0.05
	done
}
DPID=${T_PID_OF[$MNT]}
placed() {
	local want got
	# a request answered: the loop, and its keepers, have started
	cat "$MNT/.slotfs/status.json" >/dev/null
	want=$(seq 0 $(($(nproc) - 1)) | xargs)
	got=$(keepers "$DPID" | awk '{ print $1 }' | sort -n | xargs)
	expect_eq "the CPUs of the SCHED_IDLE threads" "$want" "$got"
}
check "-o awake_us: one SCHED_IDLE thread pinned on each CPU" placed
echo x >"$MNT/awake"
# spinning is seen in the threads' state, asleep in their CPU time: on a
# loaded machine an idle-priority thread may get no CPU at all, so it may
# neither spin much nor reach its futex, but it shows runnable meanwhile
spins() {
	local pid seen
	python3 -c 'import os, sys, time
end = time.time() + 2
while time.time() < end:
    os.stat(sys.argv[1])' "$MNT/awake" &
	pid=$!
	# over most of the 2 s, however late a loaded machine starts it
	seen=$(states "$DPID" 30)
	wait "$pid"
	case $seen in *R*) ;; *) echo "states while stats came: $seen"; return 1 ;; esac
}
check "-o awake_us: they spin while requests come" spins
sleeps() {
	local before after
	sleep 0.2
	before=$(ticks "$DPID")
	sleep 1
	after=$(ticks "$DPID")
	expect_ge "clock ticks the keepers left unspent in an idle second" \
		$((after - 2)) "$before"
}
check "-o awake_us: they sleep once requests stop" sleeps
check_unmount "unmount" "$MNT"

# The kernel keeps a directory's listing till the directory changes (each
# change goes through it): a listing of an unchanged one sends no
# READDIRPLUS (-d prints each request).  The open still comes: when it
# moves atime (relatime: the last one a day old), the kernel's copy goes.
mount_fs "$IMG" "$MNT" -d
listings() { grep -c "opcode: READDIR" "${T_LOG_OF[$MNT]}" || true; }
listing_cached() {
	mkdir "$MNT/listed"
	touch "$MNT/listed/a" "$MNT/listed/b"
	local n0 n1 n2 n3
	n0=$(listings)
	expect_eq "a listing" "a b" "$(ls "$MNT/listed" | xargs)"
	n1=$(listings)
	expect_ge "requests of the first listing" 1 $((n1 - n0))
	ls "$MNT/listed" >/dev/null
	ls -l "$MNT/listed" >/dev/null
	n2=$(listings)
	expect_eq "requests of two listings more" 0 $((n2 - n1))
	touch "$MNT/listed/c"
	expect_eq "the listing after a create" "a b c" "$(ls "$MNT/listed" | xargs)"
	rm "$MNT/listed/a"
	expect_eq "the listing after an unlink" "b c" "$(ls "$MNT/listed" | xargs)"
	mv "$MNT/listed/b" "$MNT/listed/d"
	expect_eq "the listing after a rename" "c d" "$(ls "$MNT/listed" | xargs)"
	n3=$(listings)
	touch -a -d '2 days ago' "$MNT/listed"
	local before now
	before=$(stat -c %X "$MNT/listed")
	ls "$MNT/listed" >/dev/null
	now=$(date +%s)
	expect_ge "atime after a listing (a day old before: $before)" \
		$((now - 5)) "$(stat -c %X "$MNT/listed")"
	expect_ge "requests of that listing" 1 $(($(listings) - n3))
}
check "a directory's listing stays in the kernel till it changes" listing_cached
check_unmount "unmount" "$MNT"

# Where the kernel checks permissions and directories keep no atime, the
# first OPENDIR gets ENOSYS and the kernel sends no more, nor RELEASEDIR;
# it still refuses a directory the caller may not read.
mount_fs "$IMG" "$MNT" -d -o allow_other,noatime
requests() { grep -c "opcode: $1 " "${T_LOG_OF[$MNT]}" || true; }
no_opendir() {
	mkdir -p "$MNT/open" "$MNT/shut"
	touch "$MNT/open/a" "$MNT/shut/s"
	chmod 700 "$MNT/shut"
	expect_eq "a listing" "a" "$(ls "$MNT/open" | xargs)"
	touch "$MNT/open/b"
	expect_eq "the listing after a create" "a b" "$(ls "$MNT/open" | xargs)"
	expect_eq "the listing of /.slotfs" "metrics status.json" \
		"$(ls "$MNT/.slotfs" | xargs)"
	ls -R "$MNT" >/dev/null
	expect_eq "OPENDIR requests" 1 "$(requests OPENDIR)"
	expect_eq "RELEASEDIR requests" 0 "$(requests RELEASEDIR)"
	expect_fail "nobody lists a directory of mode 700" \
		setpriv --reuid=65534 --regid=65534 --clear-groups ls "$MNT/shut"
}
check "allow_other,noatime: no OPENDIR after the first" no_opendir

fuse_finish
