#!/usr/bin/env bash
# slotfs_id names a slotfs for udev (59-slotfs.rules), so that
# /dev/disk/by-label and by-uuid link it and mount(8), fsck(8) and fstab
# find it by LABEL= and UUID=: the ID_FS_* lines of blkid -o udev, a label
# encoded exactly as blkid encodes ext4's, the new UUID after tune.slotfs
# -U, the backup's names when the primary is damaged, nothing for a
# device with no slotfs; on a loop device as on an image (root).
. "$(dirname "$0")/../lib.sh"
t_need mkfs.slotfs tune.slotfs slotfs_id
cd "$W"

U=0badcafe-1234-4abc-8def-0123456789ab
LABEL='kv cache/1é'
truncate -s 64M img
mkfs.slotfs -q -L "$LABEL" -U $U img

# expect_id FILE: slotfs_id FILE prints exactly what follows on stdin
expect_id() {
	local want got
	want=$(cat)
	got=$(slotfs_id "$1")
	[ "$got" = "$want" ] || { printf 'got:\n%s\nwant:\n%s\n' "$got" "$want"; return 1; }
}

named() {
	expect_id img <<-EOF
	ID_FS_UUID=$U
	ID_FS_UUID_ENC=$U
	ID_FS_LABEL=kv_cache/1é
	ID_FS_LABEL_ENC=kv\\x20cache\\x2f1é
	ID_FS_TYPE=slotfs
	ID_FS_USAGE=filesystem
	EOF
}
check "the UUID, the label (made safe and encoded), the type" named

# the encoding is libblkid's own: the label lines match blkid's for an
# ext4 with the same label
as_blkid() {
	command -v mkfs.ext4 >/dev/null && command -v blkid >/dev/null ||
		{ echo "# no mkfs.ext4 or blkid"; return 1; }
	truncate -s 64M ext4
	mkfs.ext4 -q -F -L "$LABEL" ext4
	expect_eq "ID_FS_LABEL lines" \
		"$(blkid -p -o udev ext4 | grep '^ID_FS_LABEL')" \
		"$(slotfs_id img | grep '^ID_FS_LABEL')"
}
check "the label lines are blkid's for the same label on ext4" as_blkid

renamed() {
	local V=11111111-2222-3333-4444-555555555555
	tune.slotfs -U $V -L "" img
	expect_id img <<-EOF
	ID_FS_UUID=$V
	ID_FS_UUID_ENC=$V
	ID_FS_LABEL=
	ID_FS_LABEL_ENC=
	ID_FS_TYPE=slotfs
	ID_FS_USAGE=filesystem
	EOF
	tune.slotfs -U $U -L "$LABEL" img
}
check "after tune.slotfs -U and -L \"\": the new UUID, an empty label" renamed

none() {
	truncate -s 64M zero
	[ -z "$(slotfs_id zero)" ] || return 1
	slotfs_id zero
	local rc=0
	slotfs_id missing 2>err || rc=$?
	expect_eq "exit for a file that is not there" 1 "$rc"
	grep -q "cannot open missing" err
}
check "no slotfs: nothing, exit 0; no file: an error" none

# slotfs, then swap over it: the backup superblock left is not named
# (blkid names the swap; a stale slotfs label would link it by-label)
swapped() {
	command -v mkswap >/dev/null || { echo "# no mkswap"; return 1; }
	cp img sw
	mkswap sw >/dev/null 2>&1
	[ -z "$(slotfs_id sw)" ] || { slotfs_id sw; return 1; }
}
check "made swap over it: nothing named" swapped

# repartitioned with sgdisk, which keeps slotfs's magic in sector 0's
# boot code and writes a GPT behind it: the disk is the table's
partitioned() {
	command -v sgdisk >/dev/null || { echo "# no sgdisk"; return 1; }
	cp img gp
	sgdisk -n1:2048:+20M gp >/dev/null
	[ -z "$(slotfs_id gp)" ] || { slotfs_id gp; return 1; }
}
check "a GPT written over it by sgdisk: nothing named" partitioned

damaged() {
	cp img dmg
	printf 'garbage' | dd of=dmg bs=1 seek=$((0x40)) conv=notrunc status=none
	slotfs_id dmg | grep -qx "ID_FS_UUID=$U"
	printf 'garbage' | dd of=dmg bs=1 seek=$((65536 + 0x40)) conv=notrunc status=none
	expect_id dmg <<-EOF
	ID_FS_TYPE=slotfs
	ID_FS_USAGE=filesystem
	EOF
}
check "a damaged primary: the backup's names; both damaged: the type alone" damaged

if [ "$(id -u)" -eq 0 ] && command -v losetup >/dev/null; then
	LOOP=$(losetup -f --show img) || { echo "# losetup failed"; exit 1; }
	at_exit 'losetup -d "$LOOP"'
	on_loop() {
		slotfs_id "$LOOP" | grep -qx ID_FS_TYPE=slotfs
		expect_eq "on $LOOP" "$(slotfs_id img)" "$(slotfs_id "$LOOP")"
	}
	check "a loop device is named as its image" on_loop
fi

t_done
