#!/usr/bin/env bash
# loop: a request that waits on the device does not hold up the others.
#
# The image lives on an ext4 file system that is then frozen (fsfreeze),
# so every device write of slotfs blocks until it is thawed.  A dd that
# ends in fsync then waits inside the daemon; meanwhile creates, mkdir,
# rename, unlink, stat and readdir, which need no device, must all be
# answered.  Both request loops are checked: the polling one (default)
# and libfuse's (poll_us=0).
#
# Reads are not stopped by a freeze, and the polling loop serves a lone
# read on its reading thread.  So a second store's image lives in an
# outer slotfs mount whose daemon is then stopped (SIGSTOP): a read of
# the inner store hangs at its device, and the inner daemon must still
# answer lookups (it hands the reading on after a second).
. "$(dirname "$0")/lib.sh"

t_need mkfs.ext4 fsfreeze timeout
EXT=$W/ext
FROZEN=0
thaw() {
	if [ "$FROZEN" = 1 ]; then
		fsfreeze -u "$EXT" && FROZEN=0
	fi
}
# last registered runs first: thaw, so that slotfs can unmount, then let
# go of the ext4 mount that holds its image
_loop_cleanup() {
	thaw
	[ -z "${OUTER_PID:-}" ] || kill -CONT "$OUTER_PID" 2>/dev/null
	[ -z "${INNER:-}" ] || ! is_mounted "$INNER" ||
		fusermount3 -u "$INNER" || fusermount3 -u -z "$INNER"
	_fuse_cleanup
	umount "$EXT" 2>/dev/null
}
at_exit _loop_cleanup

truncate -s 160M "$W/ext.img"
mkfs.ext4 -q -F "$W/ext.img"
mkdir -p "$EXT"
mount -o loop "$W/ext.img" "$EXT"
IMG=$EXT/img
new_image "$IMG" 128M

# bounded OP...: OP must finish; a hung one is killed (a request the
# daemon never answers yields only to SIGKILL)
bounded() {
	timeout -k 2 10 "$@" || {
		echo "did not finish (exit $?): $*"
		return 1
	}
}

# quick_ops DIR: name operations, none of which needs the device
quick_ops() {
	local d=$1 i
	bounded mkdir "$d" || return 1
	for ((i = 0; i < 20; i++)); do
		bounded touch "$d/f$i" || return 1
	done
	bounded mv "$d/f0" "$d/moved" || return 1
	bounded rm "$d/f1" || return 1
	bounded ln -s moved "$d/link" || return 1
	expect_eq "names in $d" 20 "$(bounded ls "$d" | wc -l)" || return 1
	bounded stat "$d/f19" "$d/moved" >/dev/null || return 1
	bounded df "$MNT" >/dev/null
}

for opts in "" "-o poll_us=0"; do
	what=${opts:-default loop}
	# shellcheck disable=SC2086
	check_here "mount ($what)" mount_fs "$IMG" "$MNT" $opts
	rand_file "$W/data" $((8 << 20))

	stalled() {
		fsfreeze -f "$EXT"
		FROZEN=1
		dd if="$W/data" of="$MNT/big" bs=1M conv=fsync status=none &
		DD=$!
		# time for dd to fill the write buffers and reach its fsync;
		# a hung request instead is what quick_ops finds
		sleep 2
		quick_ops "$MNT/d" || return 1
		# what made this test mean anything: the write still waits
		if ! kill -0 "$DD" 2>/dev/null; then
			echo "dd finished while the device was frozen"
			return 1
		fi
		thaw
		wait "$DD"
	}
	check_here "name operations go on while an fsync waits ($what)" stalled
	thaw
	wait "$DD" || true
	check "the stalled write lands whole ($what)" same_bytes "$W/data" "$MNT/big"
	rm -rf "$MNT/d" "$MNT/big"
	check_unmount "unmount ($what)" "$MNT"
done

check_rc "fsck.slotfs -f exits 0" 0 fsck.slotfs -f "$IMG"

OUTER=$W/outer
INNER=$W/inner
new_image "$W/outer.img" 192M
check_here "mount the outer store" mount_fs "$W/outer.img" "$OUTER"
new_image "$OUTER/inner.img" 96M
check_here "mount the inner store, its image in the outer" \
	mount_fs "$OUTER/inner.img" "$INNER"
rand_file "$W/data" $((4 << 20))
fill_inner() {
	cp "$W/data" "$INNER/file"
	mkdir "$INNER/d"
	touch "$INNER/d/x" "$INNER/d/y"
}
check "write to the inner store" fill_inner
# a fresh mount: nothing of it in any cache, so reads go to the device
check_unmount "unmount the inner store" "$INNER"
check_here "mount the inner store again" mount_fs "$OUTER/inner.img" "$INNER"

stuck_read() {
	OUTER_PID=${T_PID_OF[$OUTER]}
	kill -STOP "$OUTER_PID"
	timeout -k 2 60 cat "$INNER/file" >"$W/got" &
	CAT=$!
	sleep 1
	bounded stat "$INNER/d/x" >/dev/null || return 1
	expect_eq "names in d" 2 "$(bounded ls "$INNER/d" | wc -l)" || return 1
	# what made this test mean anything: the read still waits
	if ! kill -0 "$CAT" 2>/dev/null; then
		echo "the read finished while the outer daemon was stopped"
		return 1
	fi
}
check_here "lookups go on while a read waits on a hung device" stuck_read
kill -CONT "$OUTER_PID"
cat_done() { wait "$CAT"; }
check_here "the stuck read completes once the device answers" cat_done
check "and reads the file whole" same_bytes "$W/data" "$W/got"
check_unmount "unmount the inner store" "$INNER"
check_rc "fsck.slotfs -f of the inner image exits 0" 0 \
	fsck.slotfs -f "$OUTER/inner.img"
check_unmount "unmount the outer store" "$OUTER"
check_rc "fsck.slotfs -f of the outer image exits 0" 0 \
	fsck.slotfs -f "$W/outer.img"
t_done
