#!/usr/bin/env bash
# mkfs.slotfs: its report against a stored copy, the dry run, -C, and the
# targets it must refuse (another file system, an existing slotfs, too
# small, a slot size that is not a power of two), leaving them unchanged;
# a file system smaller than its device (FS_SIZE);
# the discard it starts with (where the work directory punches holes).
. "$(dirname "$0")/../lib.sh"
t_need mkfs.slotfs fsck.slotfs tune.slotfs resize.slotfs

EXPECTED=$(cd "$(dirname "$0")" && pwd)/expected
cd "$W"

# mask: the UUID, the version and whether the work directory's file
# system punches holes vary; everything else must not.
mask() {
	sed -E -e 's/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX/g' \
		-e 's/^(mkfs\.slotfs) [0-9][0-9.]*[^ ]*$/\1 VERSION/' \
		-e 's/^(Discarding device blocks:) (done|not supported)$/\1 DONE/'
}

report() {
	truncate -s 1G img
	mkfs.slotfs img >out 2>&1
	mask <out >mkfs-1g.out
	if [ "${SLOTFS_UPDATE_EXPECTED:-0}" = 1 ]; then
		cp mkfs-1g.out "$EXPECTED/mkfs-1g.out"
	fi
	[ -f "$EXPECTED/mkfs-1g.out" ] || { echo "no $EXPECTED/mkfs-1g.out; run with SLOTFS_UPDATE_EXPECTED=1"; return 1; }
	diff -u "$EXPECTED/mkfs-1g.out" mkfs-1g.out
}
check "mkfs.slotfs on a 1 GiB image prints the stored report (tests/cli/expected/mkfs-1g.out)" report
check_rc "fsck.slotfs -f on the fresh image exits 0" 0 fsck.slotfs -f img

# sb_hex IMAGE OFFSET LEN: superblock bytes as hex (core/FORMAT.md)
sb_hex() {
	bytes "$1" "$2" "$3" | od -An -v -tx1 | tr -d ' \n'
}

uuid_label() {
	truncate -s 256M ul
	mkfs.slotfs -L my-label -U 01234567-89ab-cdef-0123-456789abcdef ul >out 2>&1
	grep -q 'my-label' out
	grep -q 01234567-89ab-cdef-0123-456789abcdef out
	local sb
	for sb in 0 65536; do
		expect_eq "UUID in the superblock at $sb" 0123456789abcdef0123456789abcdef \
			"$(sb_hex ul $((sb + 0x20)) 16)"
		expect_eq "label in the superblock at $sb" my-label \
			"$(bytes ul $((sb + 0x30)) 64 | tr -d '\0')"
	done
	fsck.slotfs -f ul
}
check "-L and -U are written and reported" uuid_label

quiet() {
	truncate -s 256M q
	mkfs.slotfs -q q >out 2>&1
	expect_eq "output of -q" "" "$(cat out)"
}
check "-q prints nothing" quiet

dry_run() {
	truncate -s 512M dry
	local before msg
	before=$(sha dry)
	mkfs.slotfs -n dry >out 2>&1
	grep -q 'Capacity' out
	expect_eq "sha256 after -n" "$before" "$(sha dry)"
	expect_eq "size after -n" 536870912 "$(stat -c %s dry)"
	! fsck.slotfs -n dry >/dev/null 2>&1
}
check "-n prints the layout and writes nothing" dry_run

dry_run_c() {
	mkfs.slotfs -n -C 256M nofile >out 2>&1
	[ ! -e nofile ]
}
check "-n -C does not create the image" dry_run_c

create() {
	mkfs.slotfs -q -C 128M new.img
	expect_eq "size of the new image" 134217728 "$(stat -c %s new.img)"
	fsck.slotfs -f new.img
	mkfs.slotfs -q -C 1G big.img
	expect_eq "size of the 1G image" 1073741824 "$(stat -c %s big.img)"
	# sparse: the image does not take its size on disk
	expect_between "KiB on disk" 0 $((200 * 1024)) "$(du -k big.img | cut -f1)"
}
check "-C creates an image file of the given size" create

create_fails() {
	local out rc=0
	out=$(mkfs.slotfs -C 64M nodir/x.img 2>&1) || rc=$?
	expect_eq "exit status" 1 "$rc"
	echo "$out" | grep -q "cannot create nodir/x.img"
	# the failure alone: no layout printed as if it were being made
	expect_fail "a layout printed" grep -q "Creating slotfs" <<<"$out"
}
check "-C into a missing directory fails alone, no layout printed" create_fails

ext4_refused() {
	truncate -s 64M e4
	mkfs.ext4 -F -q e4 >/dev/null 2>&1
	local before rc=0
	before=$(sha e4)
	mkfs.slotfs e4 >out 2>&1 || rc=$?
	cat out
	[ "$rc" -ne 0 ] || { echo "mkfs.slotfs formatted over ext4 without -f"; return 1; }
	grep -qi ext4 out
	grep -q -- '-f' out
	expect_eq "sha256 of the ext4 image" "$before" "$(sha e4)"
}
check "an ext4 image is refused without -f, naming ext4, unchanged" ext4_refused

ext4_forced() {
	mkfs.slotfs -q -f e4
	fsck.slotfs -f e4
}
check "with -f the ext4 image is formatted; fsck exits 0" ext4_forced

slotfs_refused() {
	local before rc=0
	truncate -s 256M s
	mkfs.slotfs -q s
	before=$(sha s)
	mkfs.slotfs s >out 2>&1 || rc=$?
	cat out
	[ "$rc" -ne 0 ] || { echo "an existing slotfs was formatted again without -f"; return 1; }
	grep -qi slotfs out
	expect_eq "sha256" "$before" "$(sha s)"
	mkfs.slotfs -q -f s
	[ "$before" != "$(sha s)" ]
	fsck.slotfs -f s
}
check "an existing slotfs is refused without -f, formatted with -f" slotfs_refused

small() {
	local before rc=0
	truncate -s 1M tiny
	before=$(sha tiny)
	mkfs.slotfs tiny >out 2>&1 || rc=$?
	cat out
	[ "$rc" -ne 0 ]
	grep -qi 'too small' out
	expect_eq "sha256" "$before" "$(sha tiny)"
	truncate -s 0 empty
	expect_fail "an empty image formatted" mkfs.slotfs empty
	expect_fail "a 1 MiB image formatted with -f" mkfs.slotfs -f tiny
}
check "an image too small for the layout is refused, saying so" small

# devsize IMAGE: the file system's size, as tune.slotfs -l shows it
devsize() {
	tune.slotfs -l "$1" | sed -n 's/^Device size (bytes): *//p'
}

fs_size() {
	truncate -s 1G fz
	mkfs.slotfs -q fz 300M
	expect_eq "file system size" $((300 << 20)) "$(devsize fz)"
	fsck.slotfs -f fz
	local before msg
	before=$(sha fz)
	expect_fail "a size past the image's accepted" mkfs.slotfs -f fz 2G
	msg=$(mkfs.slotfs -f fz 2G 2>&1 || true)
	grep -q 'larger than fz' <<<"$msg"
	expect_fail "a size of 0 accepted" mkfs.slotfs -f fz 0
	expect_eq "image after the refusals" "$before" "$(sha fz)"
	resize.slotfs fz >/dev/null
	expect_eq "size after resize.slotfs" $((1 << 30)) "$(devsize fz)"
	fsck.slotfs -f fz
	# with -C: the image is made larger, the file system is FS_SIZE
	mkfs.slotfs -q -f -C 2G fz 1500M
	expect_eq "image size" $((2 << 30)) "$(stat -c %s fz)"
	expect_eq "file system size with -C" $((1500 << 20)) "$(devsize fz)"
}
check "FS_SIZE makes the file system smaller than its image; resize grows it" fs_size

slot_sizes() {
	truncate -s 256M ss
	local bad
	for bad in 3000 5K 1536K 0 abc; do
		if mkfs.slotfs -s "$bad" ss >out 2>&1; then
			echo "-s $bad was accepted"
			return 1
		fi
		cat out
	done
	# (captured first: under pipefail mkfs's own exit 1 would fail the pipe)
	local msg
	msg=$(mkfs.slotfs -s 3000 ss 2>&1 || true)
	grep -Eqi 'power of (two|2)' <<<"$msg"
	expect_eq "image after the refusals" 0 "$(tr -d '\0' <ss | wc -c)"
	mkfs.slotfs -q -s 256K ss
	expect_eq "chunk_shift in the superblock" 12 "$(sb_hex ss $((0x9c)) 1)"
	fsck.slotfs -f ss
}
check "a slot size that is not a power of two is refused; 256K works" slot_sizes

usage() {
	local rc=0
	mkfs.slotfs >out 2>&1 || rc=$?
	[ "$rc" -ne 0 ]
	grep -qi usage out
	rc=0
	mkfs.slotfs -Z img >out 2>&1 || rc=$?
	[ "$rc" -ne 0 ]
	mkfs.slotfs -V | grep -Eq '^mkfs\.slotfs [0-9]'
}
check "no device or a bad option: usage and non-zero; -V prints the version" usage

# allocated KiB of a file on its host file system
alloc_kib() { du -k "$1" | cut -f1; }
punches=yes
{ : >probe && fallocate -l 1M probe && fallocate -p -l 1M probe; } \
	2>/dev/null || punches=no
# mkfs discards the device first, as mke2fs: an allocated image gives its
# blocks back; -E nodiscard and -K keep them; an unknown -E is refused
discard() {
	local opt out rc=0
	rm -f dis
	fallocate -l 64M dis
	mkfs.slotfs dis >out
	grep -qx 'Discarding device blocks: done' out || { cat out; return 1; }
	expect_between "KiB allocated after mkfs" 0 4096 "$(alloc_kib dis)"
	fsck.slotfs -f -n dis >/dev/null
	for opt in "-E nodiscard" -K "-E discard,nodiscard"; do
		rm -f dis
		fallocate -l 64M dis
		mkfs.slotfs $opt dis >out
		expect_fail "$opt: a discard" grep -q Discarding out
		expect_ge "$opt: KiB allocated" 65536 "$(alloc_kib dis)"
	done
	rm -f dis
	truncate -s 64M dis
	out=$(mkfs.slotfs -E bogus dis 2>&1) || rc=$?
	expect_eq "-E bogus: exit status" 1 "$rc"
	case $out in *"unknown extended option 'bogus'"*) ;; *) echo "$out"; return 1 ;; esac
}
if [ "$punches" = yes ]; then
	check "the device is discarded first (-E nodiscard, -K: not)" discard
fi

check_fails "a missing image without -C is refused" 'no such file' \
	mkfs.slotfs "$W/does-not-exist"

truncate -s 1G "$W/meta.img"

# -C that cannot size the file leaves none behind (the checks come
# before the file is touched, the man page says); a file size limit
# makes the host refuse, as a file system too small for the size would
no_file_left() {
	local out rc=0
	out=$(trap '' XFSZ; ulimit -f 1024
	      mkfs.slotfs -q -C 64M "$W/huge.img" 2>&1) || rc=$?
	expect_eq "exit" 1 "$rc"
	[ ! -e "$W/huge.img" ] || { echo "huge.img left: $out"; return 1; }
}
check "mkfs -C of a size the host refuses leaves no file" no_file_left
check_fails "mkfs -U of the nil UUID is refused, as tune.slotfs -U" \
	'nil UUID' mkfs.slotfs -U 00000000-0000-0000-0000-000000000000 \
	"$W/meta.img"
# as mke2fs -U: the kinds by name
uuid_kinds() {
	local kind version u
	# the version digit: 4 random, 1 time-based
	for kind in random:4 time:1; do
		version=${kind#*:} kind=${kind%:*}
		mkfs.slotfs -q -f -U "$kind" -C 64M "$W/kind.img"
		u=$(tune.slotfs -l "$W/kind.img" | sed -n 's/^Filesystem UUID: *//p')
		[[ $u =~ ^[0-9a-f]{8}-[0-9a-f]{4}-$version[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] ||
			{ echo "-U $kind: UUID '$u'"; return 1; }
	done
	rm "$W/kind.img"
}
check "mkfs -U random and -U time make a UUID of that kind" uuid_kinds
check_fails "mkfs -C 0 is refused as a size" 'invalid size 0 for -C' \
	mkfs.slotfs -C 0 "$W/zero.img"

# -m too small to index every slot was once taken: df showed the space
# and every create met ENOSPC.  Refused now, saying what it needs.
check_fails "-m too small for the device is refused, saying the least" \
	'-m 4 MiB is too small .*at least [0-9]+ MiB' \
	mkfs.slotfs -m 4M "$W/meta.img"

t_done
