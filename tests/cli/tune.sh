#!/usr/bin/env bash
# tune.slotfs: -l lists the superblock (also while the image is in use);
# -L writes a new label and -U a new UUID to both superblocks, and they
# refuse an image in use, a label too long, a bad UUID, a foreign file and
# a damaged primary superblock, changing nothing.
. "$(dirname "$0")/../lib.sh"
t_need mkfs.slotfs fsck.slotfs tune.slotfs flock
cd "$W"

U=01234567-89ab-cdef-0123-456789abcdef
truncate -s 256M img
mkfs.slotfs -q -L first -U $U img

listed() {
	tune.slotfs -l img >out
	grep -qx 'Filesystem volume name:   first' out
	grep -qx "Filesystem UUID:          $U" out
	grep -qx 'Filesystem state:         clean' out
	grep -qx 'Filesystem features:      (none)' out
	grep -qx 'Superblock in use:        primary' out
	grep -qx 'Slot payload sizes:       4 KiB 16 KiB 64 KiB 256 KiB 1 MiB' out
	grep -qx 'Device size (bytes):      268435456' out
	grep -qx 'Last checked:             never' out
}
check "-l lists the superblock" listed

label_of() {	# IMAGE OFFSET: the label bytes of the superblock at OFFSET
	bytes "$1" $(($2 + 0x30)) 64 | tr -d '\0'
}

relabel() {
	tune.slotfs -L "a new label" img
	expect_eq "label, primary" "a new label" "$(label_of img 0)"
	expect_eq "label, backup" "a new label" "$(label_of img 65536)"
	tune.slotfs -l img | grep -qx 'Filesystem volume name:   a new label'
	tune.slotfs -l img | grep -qx "Filesystem UUID:          $U"
	fsck.slotfs -f -n img >/dev/null
	tune.slotfs -L "" img
	tune.slotfs -l img | grep -qx 'Filesystem volume name:   <none>'
	expect_eq "cleared, backup" "" "$(label_of img 65536)"
}
check "-L writes both superblocks; fsck finds them clean" relabel

uuid_at() {	# IMAGE OFFSET: the UUID at OFFSET, in hex
	bytes "$1" "$2" 16 | od -An -tx1 | tr -d ' \n'
}

new_uuid() {
	local V=11111111-2222-3333-4444-555555555555 out
	tune.slotfs -U $V img
	tune.slotfs -l img >out
	grep -qx "Filesystem UUID:          $V" out
	grep -qx "Header UUID:              $U" out
	grep -qx 'Filesystem features:      meta_uuid' out
	expect_eq "primary" "${V//-/}" "$(uuid_at img $((0x20)))"
	expect_eq "backup" "${V//-/}" "$(uuid_at img $((65536 + 0x20)))"
	expect_eq "header UUID, backup" "${U//-/}" \
		"$(uuid_at img $((65536 + 0xc8)))"
	fsck.slotfs -f -n img >/dev/null
	tune.slotfs -U random img
	out=$(tune.slotfs -l img)
	case $out in *"Filesystem UUID:          $V"*) return 1 ;; esac
	case $out in *"Header UUID:              $U"*) ;; *) return 1 ;; esac
	tune.slotfs -U time img
	fsck.slotfs -f -n img >/dev/null
	# the one the headers carry: back to no feature
	tune.slotfs -U $U img
	tune.slotfs -l img >out
	grep -qx "Filesystem UUID:          $U" out
	grep -qx 'Filesystem features:      (none)' out
	expect_fail "a header UUID line" grep -q 'Header UUID' out
	expect_eq "header UUID cleared" 00000000000000000000000000000000 \
		"$(uuid_at img $((0xc8)))"
}
check "-U writes both superblocks, keeps the header UUID; back to it clears the feature" new_uuid

# refused IMAGE WHY ARGS...: tune.slotfs ARGS fails saying WHY and leaves
# IMAGE as it was
refused() {
	local img=$1 why=$2 before out rc=0
	shift 2
	before=$(sha "$img")
	out=$(tune.slotfs "$@" 2>&1) || rc=$?
	expect_eq "exit status" 1 "$rc"
	case $out in *"$why"*) ;; *) echo "$out"; return 1 ;; esac
	expect_eq "the image after" "$before" "$(sha "$img")"
}

# the lock a mount holds on its image, held here
in_use() {
	local fd
	exec {fd}<img
	flock -x "$fd"
	refused img "is in use" -L busy img
	refused img "is in use" -U random img
	tune.slotfs -l img | grep -qx 'Filesystem volume name:   <none>'
	exec {fd}<&-
}
check "-L on an image in use is refused; -l still lists it" in_use
check "a label of 64 bytes is refused" \
	refused img "at most 63 bytes" -L "$(printf 'x%.0s' {1..64})" img
bad_uuids() {
	refused img "invalid UUID" -U clear img
	refused img "invalid UUID" -U 0123 img
	refused img "nil UUID" -U 00000000-0000-0000-0000-000000000000 img
}
check "-U: a bad UUID and the nil UUID are refused" bad_uuids
foreign() {
	truncate -s 64M zero
	refused zero "holds no slotfs" -l zero
	refused zero "holds no slotfs" -L x zero
}
check "a file with no slotfs is refused" foreign

# -e: what an error found in use does, as tune2fs -e; the byte at 0x0dc
errors_behavior() {
	tune.slotfs -l img | grep -qx 'Errors behavior:          Continue'
	tune.slotfs -e remount-ro img
	tune.slotfs -l img | grep -qx 'Errors behavior:          Remount read-only'
	expect_eq "errors field" 2 "$(od -An -tu2 -j $((0x0dc)) -N 2 img | tr -d ' ')"
	expect_eq "backup's" 2 \
		"$(od -An -tu2 -j $((65536 + 0x0dc)) -N 2 img | tr -d ' ')"
	fsck.slotfs -f -n img >/dev/null
	refused img "expected continue or remount-ro" -e sometimes img
	refused img "cannot panic" -e panic img
	tune.slotfs -e continue img
	tune.slotfs -l img | grep -qx 'Errors behavior:          Continue'
	local fd
	exec {fd}<img
	flock -x "$fd"
	refused img "-e changes an unmounted file system" -e remount-ro img
	exec {fd}<&-
}
check "-e sets what errors do in both superblocks; bad values refused" errors_behavior

damaged() {
	cp img dmg
	printf 'garbage' | dd of=dmg bs=1 seek=$((0x40)) conv=notrunc status=none
	refused dmg "run fsck.slotfs first" -L x dmg
	refused dmg "run fsck.slotfs first" -U random dmg
	tune.slotfs -l dmg >out
	grep -q 'Superblock in use:        backup' out
	# its magic gone too: still a damaged slotfs, not "no slotfs"
	cp img dmg2
	dd if=/dev/urandom of=dmg2 bs=16 count=1 conv=notrunc status=none
	refused dmg2 "run fsck.slotfs first" -L x dmg2
}
check "a damaged primary: -L refused, -l reads the backup" damaged

t_done
