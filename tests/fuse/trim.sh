#!/usr/bin/env bash
# fstrim on the mount: the space of removed files goes back to the image
# (holes its host file system gets back) and, on a loop device, to the
# device; nothing stored changes, also with writes going on meanwhile;
# the range and the minimum fstrim gives are kept; only root may trim;
# -o discard does it by itself; fsck finds the store clean after.
. "$(dirname "$0")/lib.sh"
t_need fstrim losetup python3

MiB=1048576
new_image "$IMG" 512M
check_here "mount -o allow_other" mount_fs "$IMG" "$MNT" -o allow_other

# allocated bytes of the image on its host file system
alloc() { echo $(($(stat -c %b "$IMG") * $(stat -c %B "$IMG"))); }

# bytes the mount reports free
avail() { echo $(($(stat -f -c '%a * %S' "$MNT"))); }

# wait_freed BEFORE: until the mount reports 90 MiB more free than BEFORE
# (a removed file's slots come free when the kernel forgets its inode,
# which it may tell the daemon after rm returned), at most 5 s
wait_freed() {
	local i
	for ((i = 0; i < 50; i++)); do
		(($(avail) - $1 >= 90 * MiB)) && return 0
		sleep 0.1
	done
	return 0
}

# fstrim_bytes ARGS...: what fstrim -v says it trimmed
fstrim_bytes() {
	fstrim -v "$@" | sed -nE 's/.*\(([0-9]+) bytes\) trimmed.*/\1/p'
}

{ : >"$W/probe" && fallocate -l 1M "$W/probe" &&
	fallocate -p -l 1M "$W/probe"; } 2>/dev/null ||
	t_skip_all "the work directory's file system punches no holes"
rand_file "$W/big" $((100 * MiB))

gives_back() {
	cp "$W/big" "$MNT/big"
	mkdir "$MNT/small"
	local i
	for ((i = 0; i < 200; i++)); do
		head -c $((i * 97 + 1)) "$W/big" >"$MNT/small/$i"
	done
	sync "$MNT/big"
	local full freed n
	full=$(alloc)
	expect_ge "allocated with 100 MiB written" $((100 * MiB)) "$full"
	local before
	before=$(avail)
	rm "$MNT/big"
	wait_freed "$before"
	n=$(fstrim_bytes "$MNT")
	expect_ge "bytes fstrim reports" $((100 * MiB)) "$n"
	freed=$((full - $(alloc)))
	expect_ge "bytes the image gave back" $((90 * MiB)) "$freed"
	for ((i = 0; i < 200; i++)); do
		cmp <(head -c $((i * 97 + 1)) "$W/big") "$MNT/small/$i"
	done
}
check "rm, fstrim: the image gives the space back, the rest is intact" gives_back

# fresh free space each time (a trimmed region is passed by until a slot
# in it is freed): a bound fstrim takes no more than it may, a plain one
# after it finds the rest
free_100m() {
	cp "$W/big" "$MNT/r" && sync "$MNT/r" || return 1
	local before
	before=$(avail)
	rm "$MNT/r" && wait_freed "$before"
}
range() {
	free_100m
	expect_eq "a minimum longer than any free run" 0 \
		"$(fstrim_bytes -m 4G "$MNT")"
	expect_ge "the space that minimum left" $((90 * MiB)) \
		"$(fstrim_bytes "$MNT")"
	free_100m
	expect_between "bytes trimmed in the first 64 MiB" 0 $((64 * MiB)) \
		"$(fstrim_bytes -o 0 -l $((64 * MiB)) "$MNT")"
	expect_ge "the space that range left" $((30 * MiB)) \
		"$(fstrim_bytes "$MNT")"
}
check "fstrim's offset, length and minimum are kept" range

# FITRIM as nobody: _IOWR('X', 121, struct fstrim_range)
not_root() { ioctl_refused_to_nobody "$MNT" 0xC0185879 24; }
check "fstrim by another user than root is refused" not_root

# writers rewrite and append while fstrim runs again and again
busy() {
	local i pids=()
	for ((i = 0; i < 3; i++)); do
		(
			for ((k = 0; k < 30; k++)); do
				head -c $(((k + 1) * 70000)) "$W/big" >"$MNT/w$i.tmp"
				mv "$MNT/w$i.tmp" "$MNT/w$i"
			done
		) &
		pids+=($!)
	done
	for ((i = 0; i < 10; i++)); do
		fstrim "$MNT"
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	for ((i = 0; i < 3; i++)); do
		cmp <(head -c $((30 * 70000)) "$W/big") "$MNT/w$i"
	done
	for ((i = 0; i < 200; i += 7)); do
		cmp <(head -c $((i * 97 + 1)) "$W/big") "$MNT/small/$i"
	done
}
check "fstrim while files are written and renamed: nothing changes" busy

check_unmount "unmount" "$MNT"
check_rc "fsck.slotfs -f after the trims" 0 fsck.slotfs -f "$IMG"

# -o discard: the space of removed files goes back within a few
# checkpoint periods, with no fstrim
check_here "mount -o discard" mount_fs "$IMG" "$MNT" -o discard,checkpoint_interval_ms=300
online() {
	cp "$W/big" "$MNT/od"
	sync "$MNT/od"
	local full i freed=0
	full=$(alloc)
	rm "$MNT/od"
	for ((i = 0; i < 100 && freed < 90 * MiB; i++)); do
		sleep 0.1
		freed=$((full - $(alloc)))
	done
	expect_ge "bytes the image gave back without fstrim" $((90 * MiB)) \
		"$freed"
	cmp <(head -c $((30 * 70000)) "$W/big") "$MNT/w1"
}
check "-o discard: rm gives the space back by itself" online
check_unmount "unmount" "$MNT"
check_rc "fsck.slotfs -f after -o discard" 0 fsck.slotfs -f "$IMG"

# A loop device: the discards go to the block device (BLKDISCARD).
LOOP=
_trim_loop_cleanup() {
	[ -n "$LOOP" ] || return 0
	fusermount3 -u -z "$MNT" 2>/dev/null
	losetup -d "$LOOP" 2>/dev/null
}
at_exit _trim_loop_cleanup
loop_dev() {
	LOOP=$(losetup -f --show "$IMG") || return 1
	mount_fs "$LOOP" "$MNT" || return 1
}
if check_here "the image on a loop device, mounted" loop_dev; then
	on_loop() {
		cp "$W/big" "$MNT/big2"
		sync "$MNT/big2"
		local full
		full=$(alloc)
		rm "$MNT/big2"
		expect_ge "bytes fstrim reports" $((100 * MiB)) \
			"$(fstrim_bytes "$MNT")"
		expect_ge "bytes the image gave back" $((90 * MiB)) \
			$((full - $(alloc)))
		cmp <(head -c $((30 * 70000)) "$W/big") "$MNT/w1"
	}
	check "fstrim on a loop device discards through it" on_loop
	check_unmount "unmount the loop device" "$MNT"
	check "fsck.slotfs -f on the loop device" fsck.slotfs -f "$LOOP"
fi

t_done
