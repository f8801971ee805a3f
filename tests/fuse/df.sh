#!/usr/bin/env bash
# df: size, used and available are sane, move by about 50 MiB when 50 MiB
# is written, and come back when it is removed.
. "$(dirname "$0")/lib.sh"

fuse_setup 256M
MiB=1048576

# df_field FIELD: bytes (size, used or avail) as df reports them.
df_field() {
	df -B1 --output="$1" "$MNT" | tail -n 1 | tr -d ' '
}

read -r SIZE0 USED0 AVAIL0 < <(df -B1 --output=size,used,avail "$MNT" | tail -n 1)

fresh() {
	expect_eq "file system type" fuse.slotfs "$(findmnt -n -o FSTYPE "$MNT")"
	# the image is 256 MiB: the file system holds most of it, not more
	expect_between "size" $((200 * MiB)) $((256 * MiB)) "$SIZE0"
	expect_ge "avail on an empty file system" $((200 * MiB)) "$AVAIL0"
	expect_between "used + avail" 0 "$SIZE0" $((USED0 + AVAIL0))
	expect_between "used when empty" 0 $((20 * MiB)) "$USED0"
	stat -f -c '%l' "$MNT" | grep -qx 255
}
check "df of a fresh 256 MiB image: size, used, avail, name max 255" fresh

rand_file "$W/big" $((50 * MiB))
write50() {
	cp "$W/big" "$MNT/big"
	sync "$MNT/big"
	local used avail size
	read -r size used avail < <(df -B1 --output=size,used,avail "$MNT" | tail -n 1)
	expect_eq "size stays" "$SIZE0" "$size"
	expect_between "bytes used grew by" $((50 * MiB)) $((55 * MiB)) $((used - USED0))
	expect_between "bytes avail fell by" $((50 * MiB)) $((55 * MiB)) $((AVAIL0 - avail))
}
check "writing 50 MiB moves used and avail by 50 MiB" write50

du_size() {
	expect_ge "du -B1 of the 50 MiB file" $((50 * MiB)) "$(du -B1 "$MNT/big" | cut -f1)"
	expect_eq "du --apparent-size" $((50 * MiB)) "$(du -b "$MNT/big" | cut -f1)"
}
check "du counts the 50 MiB file" du_size

free50() {
	rm "$MNT/big"
	local i avail
	# space comes back once the kernel has forgotten the inode
	for ((i = 0; i < 50; i++)); do
		avail=$(df_field avail)
		[ "$avail" -ge "$AVAIL0" ] && break
		sleep 0.1
	done
	expect_eq "avail after rm" "$AVAIL0" "$avail"
	expect_eq "used after rm" "$USED0" "$(df_field used)"
}
check "rm of the file gives the 50 MiB back" free50

# Small files fill regions of a small slot class; their slots, freed, wait
# for the deletion to be durable before reuse.  df counts such a region
# whole again at once, as the allocator does when it needs the room.
free_small() {
	local objs0
	objs0=$(store_objects "$MNT")
	python3 -c '
import os, sys
os.mkdir(sys.argv[1])
for i in range(3000):
    with open("%s/%d" % (sys.argv[1], i), "wb") as f:
        f.write(os.urandom(4096))' "$MNT/small"
	expect_ge "avail fell by at least 12 MiB" $((12 * MiB)) \
		$((AVAIL0 - $(df_field avail)))
	rm -r "$MNT/small"
	forgotten "$MNT" "$objs0"
	expect_eq "avail after rm -r, at once" "$AVAIL0" "$(df_field avail)"
	expect_eq "used after rm -r, at once" "$USED0" "$(df_field used)"
}
check "rm -r of 3,000 small files gives their space back at once" free_small

inodes() {
	local files0 files1 ifree0 ifree1
	read -r files0 ifree0 < <(df --output=itotal,iavail "$MNT" | tail -n 1)
	mkdir "$MNT/many"
	for i in $(seq 1 100); do : >"$MNT/many/$i"; done
	read -r files1 ifree1 < <(df --output=itotal,iavail "$MNT" | tail -n 1)
	expect_ge "inodes" 1000 "$files0"
	expect_eq "free inodes after 101 new" $((ifree0 - 101)) "$ifree1"
}
check "df -i counts the new inodes" inodes

# resize.slotfs: the image grown to 512 MiB, the file system after it;
# df sees the new size, the files are there, and 300 MiB more fit
if command -v resize.slotfs >/dev/null; then
	cp "$W/big" "$MNT/kept"
	check_unmount "unmount to grow" "$MNT"
	grown() {
		truncate -s 512M "$IMG"
		resize.slotfs "$IMG" | grep -q 'grown from 256 MiB to 512 MiB'
	}
	check "resize.slotfs grows the file system into the grown image" grown
	check_here "mount the grown store" mount_fs "$IMG" "$MNT"
	after_grow() {
		expect_ge "size after growing" $((SIZE0 + 200 * MiB)) \
			"$(df_field size)"
		cmp "$W/big" "$MNT/kept"
		expect_eq "files kept" 100 "$(ls "$MNT/many" | wc -l)"
		dd if=/dev/zero of="$MNT/more" bs=1M count=300 conv=fsync \
			status=none
	}
	check "df shows the new size; the files stay; 300 MiB more fit" after_grow
fi

# A device over 512 GiB (a sparse 1 TiB image here) takes files: with
# the metadata area capped at 4 GiB its checkpoints had no room left
# beside a record of every slot, and the first create met ENOSPC.
BIG=$W/big1t.img
check "mkfs of a 1 TiB image" new_image "$BIG" 1T
check_here "mount the 1 TiB image" mount_fs "$BIG" "$W/m1t"
terabyte() {
	local i
	for i in $(seq 1 100); do
		echo "$i" >"$W/m1t/f$i"
	done
	expect_eq "f100" 100 "$(cat "$W/m1t/f100")"
	expect_ge "inodes free" 1000000 "$(df --output=iavail "$W/m1t" | tail -n 1)"
}
check "100 files on a 1 TiB file system" terabyte
check_unmount "unmount the 1 TiB image" "$W/m1t"
rm -f "$BIG"

fuse_finish
