#!/usr/bin/env bash
# Mounts that must be refused, each with a clear message and no change to
# the image: a second mount of a mounted image, an ext4 image, a blank
# image, swap made over a slotfs, a missing image; a loop device of a
# mounted image, and a disk while one of its partitions is mounted.
. "$(dirname "$0")/lib.sh"

fuse_setup
echo data >"$MNT/f"
mkdir -p "$W/mnt2" "$W/mnt3"

second() {
	local rc=0
	timeout 30 slotfs "$IMG" "$W/mnt2" >"$W/second.out" 2>&1 || rc=$?
	cat "$W/second.out"
	[ "$rc" -ne 0 ] || { echo "the second mount succeeded"; return 1; }
	[ "$rc" -ne 124 ] || { echo "the second mount hung"; return 1; }
	! is_mounted "$W/mnt2" || { echo "mnt2 is mounted"; return 1; }
	grep -Eqi 'in use|busy|already|locked|mounted' "$W/second.out" ||
		{ echo "no clear reason given"; return 1; }
}
check "a second mount of a mounted image is refused, saying it is in use" second

second_fg() {
	local rc=0
	timeout 30 slotfs -f "$IMG" "$W/mnt2" >"$W/second.out" 2>&1 || rc=$?
	cat "$W/second.out"
	[ "$rc" -ne 0 ]
	[ "$rc" -ne 124 ]
	expect_fail "the second mount is mounted" is_mounted "$W/mnt2"
	grep -Eqi 'in use|busy|already|locked|mounted' "$W/second.out"
}
check "the same with slotfs -f" second_fg

# The image under a second name, a loop device attached to it: no tool
# may take it while the image is mounted, nor the image while the loop
# device is (e2fsprogs refuse a file whose loop device is in use).
LOOP=
_refuse_loop_cleanup() {
	[ -z "$LOOP" ] || { fusermount3 -u -z "$W/mnt2" 2>/dev/null
			    losetup -d "$LOOP" 2>/dev/null; }
}
at_exit _refuse_loop_cleanup
# refused CMD...: exits non-zero within 30 s, saying the device is in use
refused() {
	local out rc=0
	out=$(timeout 30 "$@" 2>&1) || rc=$?
	echo "$out"
	[ "$rc" -ne 0 ] || { echo "$1 went ahead"; return 1; }
	[ "$rc" -ne 124 ] || { echo "$1 hung"; return 1; }
	grep -Eqi 'in use' <<<"$out" || { echo "no clear reason given"; return 1; }
}
if command -v losetup >/dev/null && LOOP=$(losetup -f --show "$IMG"); then
	via_loop() {
		refused fsck.slotfs -f -y "$LOOP"
		refused mkfs.slotfs -f -q "$LOOP"
		refused slotfs -f "$LOOP" "$W/mnt2"
		expect_fail "the loop device is mounted" is_mounted "$W/mnt2"
	}
	check "the mounted image through a loop device: fsck -y, mkfs, a mount are refused" via_loop
else
	t_not_ok "losetup of the image" /dev/null
fi

first_fine() {
	expect_eq "content through the first mount" data "$(cat "$MNT/f")"
	echo more >>"$MNT/f"
}
check "the first mount still works" first_fine
check_unmount "unmount the first mount" "$MNT"
check_rc "fsck.slotfs -f exits 0" 0 fsck.slotfs -f "$IMG"
if [ -n "$LOOP" ] && check_here "mount the loop device" mount_fs "$LOOP" "$W/mnt2"; then
	via_image() {
		refused fsck.slotfs -f -y "$IMG"
		refused resize.slotfs "$IMG" 100M
		refused slotfs -f "$IMG" "$W/mnt3"
		expect_fail "the image is mounted" is_mounted "$W/mnt3"
		expect_eq "content through the loop device" "$(printf 'data\nmore')" \
			"$(cat "$W/mnt2/f")"
	}
	check "the image mounted through its loop device: fsck -y, resize, a mount are refused" via_image
	check_unmount "unmount the loop device" "$W/mnt2"
	losetup -d "$LOOP" && LOOP=
	check_rc "fsck.slotfs -f exits 0" 0 fsck.slotfs -f "$IMG"
fi

# A partitioned disk (a loop device over a GPT image, partitions added
# with partx where the kernel reads no GPT): while a partition is
# mounted, even mkfs -n of the whole disk is refused, as mke2fs -n; once
# free, mkfs -f of the disk has the kernel drop the partitions it wiped
# (else the old one still opens, inside the new file system).
DISK=
_refuse_disk_cleanup() {
	[ -z "$DISK" ] || { fusermount3 -u -z "$W/mnt3" 2>/dev/null
			    losetup -d "$DISK" 2>/dev/null; }
}
at_exit _refuse_disk_cleanup
parts_of() { grep -c " ${1#/dev/}p[0-9]*\$" /proc/partitions || true; }
truncate -s 300M "$W/disk.img"
if sgdisk -n1:2048:+100M -n2:0:+100M "$W/disk.img" >/dev/null &&
   DISK=$(losetup -f --show -P "$W/disk.img"); then
	partx -a "$DISK" 2>/dev/null || true
	if check_here "mkfs and mount the disk's first partition" \
		sh -c "mkfs.slotfs -q ${DISK}p1 && mkfs.slotfs -q ${DISK}p2" &&
	   check_here "mount it" mount_fs "${DISK}p1" "$W/mnt3"; then
		check "mkfs -n of the whole disk is refused while p1 is mounted" \
			refused mkfs.slotfs -f -n "$DISK"
		check_unmount "unmount the partition" "$W/mnt3"
	fi
	whole_disk() {
		expect_eq "partitions before" 2 "$(parts_of "$DISK")"
		mkfs.slotfs -f -K -q "$DISK"
		expect_eq "partitions after mkfs -f of the disk" 0 "$(parts_of "$DISK")"
		fsck.slotfs -f "$DISK"
	}
	check "mkfs -f of a partitioned disk: the kernel drops its partitions" whole_disk
	losetup -d "$DISK" && DISK=
else
	t_not_ok "a partitioned loop device" /dev/null
fi

mkfs.ext4 -F -q "$W/ext4.img" 64M >/dev/null
EXT4_SUM=$(sha "$W/ext4.img")
ext4() {
	local rc=0
	timeout 30 slotfs "$W/ext4.img" "$W/mnt3" >"$W/ext4.out" 2>&1 || rc=$?
	cat "$W/ext4.out"
	[ "$rc" -ne 0 ] || { echo "an ext4 image was mounted"; return 1; }
	[ "$rc" -ne 124 ] || { echo "slotfs hung"; return 1; }
	expect_fail "the ext4 image is mounted" is_mounted "$W/mnt3"
	grep -Eqi 'not (a )?slotfs|no slotfs|ext4|superblock|magic|signature' "$W/ext4.out" ||
		{ echo "no clear reason given"; return 1; }
	expect_eq "sha256 of the ext4 image" "$EXT4_SUM" "$(sha "$W/ext4.img")"
}
check "an ext4 image is refused with a clear message and left unchanged" ext4

blank() {
	truncate -s 64M "$W/blank.img"
	local rc=0
	timeout 30 slotfs "$W/blank.img" "$W/mnt3" >"$W/blank.out" 2>&1 || rc=$?
	cat "$W/blank.out"
	[ "$rc" -ne 0 ]
	[ "$rc" -ne 124 ]
	expect_fail "the blank image is mounted" is_mounted "$W/mnt3"
	grep -Eqi 'not (a )?slotfs|no slotfs|superblock|magic|mkfs' "$W/blank.out"
	expect_eq "bytes in the blank image" 0 "$(tr -d '\0' <"$W/blank.img" | wc -c)"
}
check "a blank image is refused and left blank" blank

# slotfs, then swap over it: slotfs's backup superblock is left, and the
# mount must not take it and rewrite the primary over the swap header
swapped() {
	local rc=0 sum
	truncate -s 64M "$W/swap.img"
	mkfs.slotfs -q "$W/swap.img"
	mkswap "$W/swap.img" >/dev/null 2>&1
	sum=$(sha "$W/swap.img")
	timeout 30 slotfs "$W/swap.img" "$W/mnt3" >"$W/swap.out" 2>&1 || rc=$?
	cat "$W/swap.out"
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]
	expect_fail "the swap image is mounted" is_mounted "$W/mnt3"
	grep -q 'contains a swap file system' "$W/swap.out"
	expect_eq "sha256 of the swap image" "$sum" "$(sha "$W/swap.img")"
}
check "slotfs made swap: refused, saying so, left unchanged" swapped

check_fails "a missing image is refused" 'no such file' \
	timeout 30 slotfs "$W/none.img" "$W/mnt3"
check_fails "a missing mount point is refused" 'no such file|not found|mount ?point' \
	timeout 30 slotfs "$IMG" "$W/no/such/dir"
check "nothing is left mounted" sh -c "! grep -q ' $W/' /proc/self/mountinfo"

check_here "the image still mounts" mount_fs "$IMG" "$MNT"
check "with its data" test "$(cat "$MNT/f")" = "$(printf 'data\nmore')"

fuse_finish
