#!/usr/bin/env bash
# FUSE over io_uring (fs/ring.c): where the kernel offers it, a mount takes
# it, requests made on every CPU are served through it, data of every size
# goes both ways intact, a mount without -o io_uring stays on /dev/fuse,
# and one whose rings cannot be set up says so and serves without them.  Runs with SLOTFS_TEST_FUSE_VIA=uring (the test "fuse-uring"):
# tests/fuse/lib.sh mounts with -o io_uring, and skips it all where the
# kernel does not offer the ring.
. "$(dirname "$0")/lib.sh"

# fuse KEY [MNT]: a number from the "fuse" object of MNT's status.json
fuse() {
	python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["fuse"][sys.argv[2]])' \
		"${2:-$MNT}/.slotfs/status.json" "$1"
}

new_image "$IMG"
check_here "a mount with -o io_uring takes the ring the kernel offers" \
	mount_fs "$IMG" "$MNT"
took_it() {
	expect_eq "io_uring" 1 "$(fuse io_uring)"
	[ "$(fuse io_uring_requests)" -gt 0 ]
}
check "status.json says so, and counts the requests that came that way" took_it

# Each CPU has its own queue; a queue nobody served would hang its callers.
every_cpu() {
	local c n before after
	n=$(nproc --all)
	for ((c = 0; c < n; c++)); do
		before=$(fuse io_uring_requests)
		timeout 30 taskset -c "$c" bash -c '
			mkdir -p "$1/cpu$2"
			for i in $(seq 50); do echo "$2 $i" >"$1/cpu$2/f$i"; done
			for i in $(seq 50); do
				[ "$(cat "$1/cpu$2/f$i")" = "$2 $i" ] || exit 1
			done' _ "$MNT" "$c"
		after=$(fuse io_uring_requests)
		# at least a create, a write and a release for each file
		[ $((after - before)) -ge 150 ] ||
			{ echo "CPU $c: $((after - before)) requests by ring"; return 1; }
	done
}
check "requests made on each CPU are served through the ring" every_cpu

# Payloads up to max_write (1 MiB) both ways, and read replies of every
# size, compared with the source after a remount (cold cache).
rand_file "$W/src" 9437000
big_io() {
	cp "$W/src" "$MNT/big"
	dd if="$W/src" of="$MNT/direct" bs=1M oflag=direct status=none
	dd if="$W/src" of="$MNT/small" bs=4096 status=none
	cmp "$W/src" "$MNT/big"
}
check "files of 9 MB written by cp, dd bs=1M direct and dd bs=4096" big_io
check_remount "unmount and mount again"
read_back() {
	local bs
	for bs in 512 4096 65536 1M 4M; do
		cmp "$W/src" <(dd if="$MNT/big" bs=$bs status=none)
		cmp "$W/src" <(dd if="$MNT/direct" bs=$bs iflag=direct status=none)
	done
	cmp "$W/src" "$MNT/small"
	expect_eq "io_uring after the remount" 1 "$(fuse io_uring)"
}
check "they read back the same, cold, at every block size, direct too" read_back

# Many callers at once on both CPUs: more requests than a queue has
# entries; each bounded in time, as a lost request never returns.
many_at_once() {
	local i
	for i in $(seq 16); do
		timeout -k 5 60 bash -c '
			dd if="$1/big" of=/dev/null bs=4096 iflag=direct \
				status=none &&
			cp "$2/src" "$1/copy$3" && cmp "$2/src" "$1/copy$3"
		' _ "$MNT" "$W" "$i" &
	done
	for i in $(seq 16); do
		wait -n || return 1
	done
	rm -f "$MNT"/copy*
}
check "16 readers and writers at once" many_at_once

# Four exercisers at once, two with O_DIRECT and mmap: bursts of requests
# on both CPUs, served in place, by the queue's own worker and by the
# pool, their replies committed in batches.  A request lost on the way
# (a commit left out) never gets its reply, so each must finish in time.
four_fsx() {
	local k p=()
	for k in 1 2 3 4; do
		# shellcheck disable=SC2046
		timeout -k 5 60 fsx -N 8000 -S $((40 + k)) \
			$([ $k -le 2 ] || echo -D -M) "$MNT/fsx$k" \
			>"$W/fsx$k.log" 2>&1 &
		p+=($!)
	done
	for k in 0 1 2 3; do
		wait "${p[k]}" || { tail -n 5 "$W"/fsx*.log; return 1; }
	done
	rm -f "$MNT"/fsx*
}
check "4 fsx at once, 2 with O_DIRECT and mmap: all matched, none hung" four_fsx

# Without -o io_uring (io_uring=0 here, as lib.sh adds -o io_uring) the
# mount stays on /dev/fuse though the kernel offers the ring.
IMG2=$W/img2
MNT2=$W/mnt2
new_image "$IMG2"
check_here "a mount with -o io_uring=0" mount_fs "$IMG2" "$MNT2" -o io_uring=0
refused() {
	echo data >"$MNT2/f"
	expect_eq "content" data "$(cat "$MNT2/f")"
	expect_eq "io_uring" 0 "$(fuse io_uring "$MNT2")"
	expect_eq "io_uring_requests" 0 "$(fuse io_uring_requests "$MNT2")"
	[ "$(fuse served_in_place "$MNT2")" -gt 0 ]
}
check "takes its requests through /dev/fuse" refused
check_unmount "it unmounts cleanly" "$MNT2"

# The rings need descriptors (an eventfd and an io_uring a CPU): a daemon
# with none to spare says why it does without and serves through
# /dev/fuse.  The fewest descriptors a mount without the ring works with
# are found first, so that the check does not depend on the machine.
IMG3=$W/img3
MNT3=$W/mnt3
new_image "$IMG3"
works() {
	echo "$1" >"$MNT3/f" && [ "$(cat "$MNT3/f")" = "$1" ]
}
fewest_fds() {
	local n
	for ((n = 4; n <= 64; n++)); do
		T_MOUNT_AS=(prlimit "--nofile=$n")
		if mount_fs "$IMG3" "$MNT3" -o io_uring=0 >/dev/null &&
			works plain; then
			FEWEST=$n
			unmount_fs "$MNT3"
			return
		fi
		! is_mounted "$MNT3" || unmount_fs "$MNT3" >/dev/null 2>&1 ||
			true
	done
	return 1
}
check_here "a mount without the ring works with some number of descriptors" \
	fewest_fds
no_fds() {
	T_MOUNT_AS=(prlimit "--nofile=$FEWEST")
	mount_fs "$IMG3" "$MNT3" -o io_uring || return 1
	T_MOUNT_AS=()
	works ring-less
	expect_eq "io_uring" 0 "$(fuse io_uring "$MNT3")"
	grep -q "FUSE over io_uring: cannot set up the rings" \
		"${T_LOG_OF[$MNT3]}"
}
check_here "with no descriptor to spare, -o io_uring says why and goes through /dev/fuse" \
	no_fds
T_MOUNT_AS=()
check_unmount "it unmounts cleanly" "$MNT3"

fuse_finish
