#!/usr/bin/env bash
# The tools on a mounted store, as on a mounted ext4.  resize.slotfs
# (resize2fs): a full store takes the rest of its grown image, df shows
# it, and writes go on into it, also while a grow runs; what it held
# stays, over a remount, fsck clean; a size past the image, or below the
# store while mounted, is refused, and so is anyone but root.  tune.slotfs
# -L (e2label): the label changes under the mount, the mount's
# FS_IOC_GETFSLABEL says it to anyone, only root may set it, and the
# unmount keeps it; tune.slotfs -U likewise for the UUID, and a file
# written after it is kept.  Then, unmounted, resize.slotfs shrinks it,
# and the files stay.
. "$(dirname "$0")/lib.sh"
t_need resize.slotfs tune.slotfs python3

MiB=1048576
new_image "$IMG" 64M
check_here "mount" mount_fs "$IMG" "$MNT" -o allow_other
df_size() { df -B1 --output=size "$MNT" | tail -n 1 | tr -d ' '; }
rand_file "$W/big" $((100 * MiB))

full() {
	expect_fail "dd of 100 MiB" dd if="$W/big" of="$MNT/fill" bs=1M conv=fsync status=none
	local n
	n=$(stat -c %s "$MNT/fill")
	expect_between "bytes a 64 MiB store took" $((30 * MiB)) $((64 * MiB)) "$n"
	cmp -n "$n" "$W/big" "$MNT/fill"
}
check "a 64 MiB store fills up (ENOSPC)" full

grow_all() {
	local before
	before=$(df_size)
	truncate -s 256M "$IMG"
	resize.slotfs "$IMG" >"$W/out"
	grep -q "is mounted on $MNT; resizing it on-line" "$W/out" &&
		grep -q "grown from 64 MiB to 256 MiB" "$W/out" ||
		{ cat "$W/out"; return 1; }
	expect_ge "df size after the grow" $((before + 150 * MiB)) "$(df_size)"
	cp "$W/big" "$MNT/after"
	sync "$MNT/after"
	cmp "$W/big" "$MNT/after"
}
check "the full store grows on-line; a 100 MiB file goes in" grow_all

# writers go on while the store grows again (into room they have: the
# grow may finish after them)
busy() {
	local i pids=()
	rm "$MNT/fill"
	truncate -s 512M "$IMG"
	for ((i = 0; i < 3; i++)); do
		(for ((k = 0; k < 4; k++)); do
			head -c $(((k + 1) * 4 * MiB)) "$W/big" >"$MNT/w$i"
		done) &
		pids+=($!)
	done
	resize.slotfs "$IMG" 384M >"$W/out" || { cat "$W/out"; return 1; }
	for i in "${pids[@]}"; do
		wait "$i"
	done
	grep -q "to 384 MiB" "$W/out" || { cat "$W/out"; return 1; }
	for ((i = 0; i < 3; i++)); do
		cmp <(head -c $((16 * MiB)) "$W/big") "$MNT/w$i"
	done
}
check "a grow while three files are written: all of them land" busy

# refused WHY ARGS...: resize.slotfs ARGS fails saying WHY; df stays
refused() {
	local why=$1 before out rc=0
	shift
	before=$(df_size)
	out=$(resize.slotfs "$@" 2>&1) || rc=$?
	expect_eq "exit status" 1 "$rc"
	case $out in *"$why"*) ;; *) echo "$out"; return 1 ;; esac
	expect_eq "df size after" "$before" "$(df_size)"
}
check "a size past the image is refused" \
	refused "the device is smaller than the 1073741824 bytes asked" "$IMG" 1G
check "a size below the store is refused while mounted" \
	refused "it shrinks only unmounted" "$IMG" 128M

# SLOTFS_IOC_GROW as nobody (the mount lets others in: -o allow_other):
# _IOWR('S', 1, struct slotfs_grow)
not_root() { ioctl_refused_to_nobody "$MNT" 0xC0285301 40; }
check "a grow by another user than root is refused" not_root

label_of() { tune.slotfs -l "$IMG" | sed -n 's/^Filesystem volume name: *//p'; }
# the label as the mount says it, asked by nobody: FS_IOC_GETFSLABEL is
# _IOR(0x94, 49, char[256])
mount_label() { ioctl_as_nobody "$MNT" 0x81009431 256; }
relabel() {
	tune.slotfs -L kv-cache "$IMG"
	expect_eq "label in the superblock" kv-cache "$(label_of)"
	expect_eq "label the mount says" kv-cache "$(mount_label)"
	expect_fail "a label of 64 bytes" tune.slotfs -L \
		"$(head -c 64 /dev/zero | tr '\0' x)" "$IMG"
	expect_eq "label after a refusal" kv-cache "$(label_of)"
}
check "tune.slotfs -L on the mounted store; the mount says the new label" relabel
# FS_IOC_SETFSLABEL as nobody: _IOW(0x94, 50, char[256])
not_root_label() { ioctl_refused_to_nobody "$MNT" 0x41009432 256; }
check "a new label by another user than root is refused" not_root_label

V=11111111-2222-3333-4444-555555555555
uuid_of() { tune.slotfs -l "$IMG" | sed -n 's/^Filesystem UUID: *//p'; }
new_uuid() {
	tune.slotfs -U $V "$IMG"
	expect_eq "UUID in the superblock" $V "$(uuid_of)"
	# written under the UUID the headers keep
	head -c $((5 * MiB)) "$W/big" >"$MNT/since_uuid"
	sync "$MNT/since_uuid"
}
check "tune.slotfs -U on the mounted store; writes go on" new_uuid
# SLOTFS_IOC_SET_UUID as nobody: _IOW('S', 2, struct slotfs_uuid)
not_root_uuid() { ioctl_refused_to_nobody "$MNT" 0x40105302 16; }
check "a new UUID by another user than root is refused" not_root_uuid

check_unmount "unmount" "$MNT"
check "the unmount keeps the label" expect_eq "label" kv-cache "$(label_of)"
check "the unmount keeps the UUID" expect_eq "UUID" $V "$(uuid_of)"
check_rc "fsck.slotfs -f after the grows" 0 fsck.slotfs -f "$IMG"
# kept MIB: the superblock says MIB MiB, and the files are all there
kept() {
	expect_eq "size in the superblock" $(($1 * MiB)) \
		"$(tune.slotfs -l "$IMG" | sed -n 's/^Device size (bytes): *//p')"
	cmp "$W/big" "$MNT/after"
	for ((i = 0; i < 3; i++)); do
		cmp <(head -c $((16 * MiB)) "$W/big") "$MNT/w$i"
	done
	cmp <(head -c $((5 * MiB)) "$W/big") "$MNT/since_uuid"
}
check_here "mount again" mount_fs "$IMG" "$MNT"
check "the grown size and every file are kept over a remount" kept 384
check_unmount "unmount" "$MNT"

# unmounted, it shrinks: the chunks past the new end move below it
shrink() {
	resize.slotfs "$IMG" 240M >"$W/out"
	grep -q 'shrunk from 384 MiB to 240 MiB' "$W/out" ||
		{ cat "$W/out"; return 1; }
	truncate -s 240M "$IMG"
	fsck.slotfs -f -n "$IMG" >/dev/null
}
check "unmounted, it shrinks to 240 MiB; the image is cut there" shrink
check_here "mount the shrunk store" mount_fs "$IMG" "$MNT"
check "every file is kept over the shrink" kept 240
check_unmount "unmount" "$MNT"

# on a block device, a new label or UUID set through the mount is told to
# udev (a "change" uevent), so that /dev/disk/by-label and by-uuid follow
# as they do after tune.slotfs on an unmounted device, whose close udev
# sees; without udev here, the kernel's event itself is what is checked
if command -v losetup >/dev/null && LOOP=$(losetup -f --show "$IMG"); then
	LMNT=$W/mnt-loop
	at_exit "fusermount3 -u -z '$LMNT' 2>/dev/null; losetup -d '$LOOP'"
	check_here "mount the loop device" mount_fs "$LOOP" "$LMNT"
	# tune_announced ARGS...: tune.slotfs ARGS on the mounted loop
	# device, and the kernel announces a change of it.  The listener's
	# output goes to a new file each time: the shell truncates it in the
	# child, so a file left by the last call could say "ready" before
	# this listener is (the second call once missed its event so)
	tune_announced() {
		local pid t0
		rm -f "$W/uevent"
		python3 "$T_SRC/tests/fuse/uevent.py" "${LOOP##*/}" 60 >"$W/uevent" &
		pid=$!
		until grep -q ready "$W/uevent" 2>/dev/null; do
			kill -0 "$pid" 2>/dev/null || return 1
			sleep 0.05
		done
		t0=$SECONDS
		tune.slotfs "$@" "$LOOP"
		echo "# tune.slotfs took $((SECONDS - t0)) s"
		wait "$pid" || { echo "no change uevent of $LOOP after $((SECONDS - t0)) s"; return 1; }
	}
	check "tune.slotfs -L on a mounted block device: udev is told" \
		tune_announced -L by-uevent
	check "tune.slotfs -U on a mounted block device: udev is told" \
		tune_announced -U 22222222-3333-4444-5555-666666666666
	check_unmount "unmount the loop device" "$LMNT"
	check "both stay" sh -c "tune.slotfs -l '$LOOP' | grep -q 'by-uevent' &&
		tune.slotfs -l '$LOOP' | grep -q 22222222-3333"
else
	t_not_ok "losetup for the mounted block device" /dev/null
fi
t_done
