#!/usr/bin/env bash
# resize.slotfs: grows a file system into the rest of its image, to all
# of it or to a size; says there is nothing to do when there is not;
# shrinks it to a size given; and refuses a size past the device, one
# below what the files need, an image in use, a file with no slotfs, and
# a growth its metadata area cannot index, leaving the size as it was.
. "$(dirname "$0")/../lib.sh"
t_need mkfs.slotfs fsck.slotfs tune.slotfs resize.slotfs flock slotfs fusermount3 mountpoint
cd "$W"
MiB=1048576

size_of() {	# IMAGE: the file system's size, from its superblock
	tune.slotfs -l "$1" | sed -n 's/^Device size (bytes): *//p'
}

truncate -s 256M img
mkfs.slotfs -q img

grow_all() {
	truncate -s 512M img
	resize.slotfs img >out
	grep -q 'grown from 256 MiB to 512 MiB' out || { cat out; return 1; }
	expect_eq "size in the superblock" $((512 * MiB)) "$(size_of img)"
	fsck.slotfs -f -n img >/dev/null
	local before
	before=$(sha img)
	resize.slotfs img | grep -q 'nothing to do'
	# nothing to do is nothing written: no mount counted, no time stamped
	expect_eq "sha256 after nothing to do" "$before" "$(sha img)"
}
check "grown to the whole image; fsck clean; again: nothing to do" grow_all
check_fails "a size of 0 is refused (resize2fs: invalid new size)" \
	'bad size: 0' resize.slotfs img 0

grow_to() {
	truncate -s 1G img
	resize.slotfs img 768M >out
	grep -q 'to 768 MiB' out || { cat out; return 1; }
	expect_eq "size in the superblock" $((768 * MiB)) "$(size_of img)"
	fsck.slotfs -f -n img >/dev/null
}
check "grown to a size given" grow_to

# refused WHY ARGS...: resize.slotfs ARGS fails saying WHY; the size stays
refused() {
	local why=$1 before out rc=0
	shift
	before=$(size_of img)
	out=$(resize.slotfs "$@" 2>&1) || rc=$?
	expect_eq "exit status" 1 "$rc"
	case $out in *"$why"*) ;; *) echo "$out"; return 1 ;; esac
	expect_eq "size after" "$before" "$(size_of img)"
}
check "a size past the device is refused" \
	refused "the device is smaller than the 2147483648 bytes asked" img 2G
shrink_to() {
	resize.slotfs img 300M >out
	grep -q 'shrunk from 768 MiB to 300 MiB' out || { cat out; return 1; }
	expect_eq "size in the superblock" $((300 * MiB)) "$(size_of img)"
	fsck.slotfs -f -n img >/dev/null
}
check "an unmounted file system shrinks to a size given" shrink_to
check "a size below what the files need is refused" \
	refused "its files need at least" img 1M
in_use() {
	local fd
	exec {fd}<img
	flock -x "$fd"
	refused "is in use" img
}
check "an image in use is refused" in_use
check "a file with no slotfs is refused" sh -c \
	'truncate -s 64M zero && ! resize.slotfs zero 2>err && grep -q "not a slotfs" err'

limit() {
	truncate -s 256M small
	mkfs.slotfs -q -m 3M small
	truncate -s 8G small
	local out rc=0
	out=$(resize.slotfs small 2>&1) || rc=$?
	expect_eq "exit status" 1 "$rc"
	case $out in *"metadata area indexes at most"*) ;; *) echo "$out"; return 1 ;; esac
	expect_eq "size after" $((256 * MiB)) "$(size_of small)"
	fsck.slotfs -f -n small >/dev/null
}
check "a growth the metadata area cannot index is refused" limit

# Left unclean (a daemon killed after a synced write), a store resized to
# the size it has is recovered, not passed by as "nothing to do" (the
# shrink killed after its superblock write left one so, and fsck -n
# still found it unclean after).
unclean_same_size() {
	truncate -s 128M uc
	mkfs.slotfs -q uc
	mkdir -p ucm
	slotfs -f uc ucm 2>/dev/null &
	local pid=$! i
	for ((i = 0; i < 100; i++)); do mountpoint -q ucm && break; sleep 0.1; done
	mountpoint -q ucm || { echo "not mounted"; return 1; }
	echo kept >ucm/f
	sync ucm/f
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	fusermount3 -u -z ucm
	tune.slotfs -l uc | grep -q 'not clean' || { echo "left clean"; return 1; }
	resize.slotfs uc >out
	tune.slotfs -l uc | grep -Eq 'state: +clean$' ||
		{ cat out; tune.slotfs -l uc | grep state; return 1; }
	fsck.slotfs -f uc >/dev/null
}
check "an unclean store at its size is recovered, not passed by" unclean_same_size

t_done
