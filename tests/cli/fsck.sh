#!/usr/bin/env bash
# fsck.slotfs: e2fsck's exit codes (0 clean, 1 fixed, 4 left uncorrected,
# 8 operational error, 16 usage), -n never writes, a repair of a damaged
# superblock (primary or backup), and a second run that finds it clean.
. "$(dirname "$0")/../lib.sh"
t_need mkfs.slotfs fsck.slotfs tune.slotfs resize.slotfs mkswap sgdisk
cd "$W"

fresh() {
	truncate -s 256M "$1"
	mkfs.slotfs -q "$1"
}

# sb_magic IMAGE OFFSET: the 8 magic bytes of a superblock, as text.
sb_magic() {
	bytes "$1" "$2" 8
}

fresh img
check_rc "fsck.slotfs on a fresh image exits 0" 0 fsck.slotfs img
check_rc "fsck.slotfs -f exits 0" 0 fsck.slotfs -f img
check_rc "fsck.slotfs -f -n exits 0" 0 fsck.slotfs -f -n img
check_rc "fsck.slotfs -f -y exits 0 (nothing to fix)" 0 fsck.slotfs -f -y img
check_rc "fsck.slotfs -f -p exits 0" 0 fsck.slotfs -f -p img
check_rc "fsck.slotfs -f -v exits 0" 0 fsck.slotfs -f -v img

n_writes_nothing() {
	local before
	before=$(sha img)
	fsck.slotfs -f -n img
	expect_eq "sha256 after -n" "$before" "$(sha img)"
}
check "fsck.slotfs -n -f leaves the image unchanged" n_writes_nothing

# As e2fsck: a whole check that may write records itself; -n does not.
records_check() {
	fresh r
	truncate -s 300M r
	resize.slotfs r >/dev/null      # opens the store: a mount counted
	tune.slotfs -l r >before
	grep -qx 'Mount count:              1' before
	grep -qx 'Last checked:             never' before
	fsck.slotfs -f -n r
	expect_eq "after -f -n" "$(cat before)" "$(tune.slotfs -l r)"
	fsck.slotfs -f -y r
	tune.slotfs -l r >after
	grep -qx 'Mount count:              0' after
	! grep -q 'Last checked:             never' after
}
check "fsck -f -y on a clean store sets the last check, the mount count to 0" records_check

# the primary superblock zeroed
fresh p
dd if=/dev/zero of=p bs=4096 count=1 conv=notrunc status=none
P_BROKEN=$(sha p)
check_rc "zeroed primary superblock: fsck -n exits 4" 4 fsck.slotfs -n p
check "fsck -n left the damaged image unchanged" test "$(sha p)" = "$P_BROKEN"
check_rc "zeroed primary superblock: fsck -n -f exits 4" 4 fsck.slotfs -n -f p
check_rc "fsck -y repairs it: exit 1" 1 fsck.slotfs -y p
check_rc "a second fsck -f -n finds it clean: exit 0" 0 fsck.slotfs -f -n p
magic_is() {
	expect_eq "magic at $2" SLOTFSB1 "$(sb_magic "$1" "$2" | tr -d '\0')"
}
check "the primary superblock is back" magic_is p 0
check "the repaired superblock equals the backup" \
	cmp <(bytes p 0 512) <(bytes p 65536 512)

# the backup superblock zeroed
fresh b
dd if=/dev/zero of=b bs=4096 count=1 seek=16 conv=notrunc status=none
check_rc "zeroed backup superblock: fsck -n -f exits 4" 4 fsck.slotfs -n -f b
check_rc "fsck -p repairs it: exit 1" 1 fsck.slotfs -p b
check_rc "a second fsck -f -n: exit 0" 0 fsck.slotfs -f -n b
check "the backup superblock is back" magic_is b 65536

# a flipped byte in the primary: the checksum catches it
fresh c
printf '\xff' | dd of=c bs=1 seek=$((0x70)) conv=notrunc status=none
check_rc "a corrupt primary superblock (bad checksum): fsck -n exits 4" 4 fsck.slotfs -n c
check_rc "fsck -y: exit 1" 1 fsck.slotfs -y c
check_rc "then fsck -f -n: exit 0" 0 fsck.slotfs -f -n c

# nothing to check
truncate -s 64M blank
blank_msg() {
	local rc=0
	fsck.slotfs -n blank >out 2>&1 || rc=$?
	cat out
	expect_eq "exit status" 8 "$rc"
	grep -Eqi 'slotfs|superblock' out
}
check "a blank image: exit 8 and a message saying why" blank_msg
check_rc "a blank image: fsck -n exits 8" 8 fsck.slotfs -n blank
mkfs.ext4 -F -q e4 64M >/dev/null 2>&1
check_rc "an ext4 image: fsck -n exits 8" 8 fsck.slotfs -n e4
check_rc "a missing file: exit 8" 8 fsck.slotfs -n "$W/missing"
check "neither was written" sh -c '[ "$(tr -d "\0" <blank | wc -c)" -eq 0 ]'

# made slotfs, then swap (mkswap writes its first page only): slotfs's
# backup superblock is left, and must not be taken for a slotfs whose
# primary was damaged, as e2fsck refuses another file system
fresh sw
mkswap -q sw 2>/dev/null || mkswap sw >/dev/null
SW=$(sha sw)
swap_refused() {
	local out rc
	for mode in -n -y -p; do
		rc=0
		out=$(fsck.slotfs $mode -f sw 2>&1) || rc=$?
		expect_eq "fsck.slotfs $mode exit" 8 "$rc"
		case $out in *"sw contains a swap file system"*) ;;
			*) echo "$out"; return 1 ;; esac
	done
	expect_eq "the swap image" "$SW" "$(sha sw)"
	rc=0
	out=$(tune.slotfs -l sw 2>&1) || rc=$?
	expect_eq "tune.slotfs -l exit" 1 "$rc"
	case $out in *"contains a swap file system"*) ;; *) echo "$out"; return 1 ;; esac
	expect_fail "tune.slotfs -L" tune.slotfs -L x sw
	expect_eq "the swap image after tune" "$SW" "$(sha sw)"
}
check "slotfs made swap: fsck and tune say so, exit 8/1, write nothing" swap_refused

# a disk repartitioned with sgdisk: it keeps sector 0's first 440 bytes
# (boot code; slotfs's magic with them) and writes its tables behind, so
# the primary fails its checksum and the backup superblock is whole.  The
# disk is the partition table's: nothing restored over it.
gpt_refused() {
	fresh gp
	sgdisk -n1:2048:+20M gp >/dev/null
	local before out rc mode
	before=$(sha gp)
	for mode in -y -p; do
		rc=0
		out=$(fsck.slotfs $mode -f gp 2>&1) || rc=$?
		expect_eq "fsck.slotfs $mode exit" 8 "$rc"
		case $out in *"gp contains a gpt partition table"*) ;;
			*) echo "$out"; return 1 ;; esac
	done
	expect_fail "tune.slotfs -L" tune.slotfs -L x gp
	expect_eq "the image" "$before" "$(sha gp)"
	sgdisk -v gp | grep -q 'No problems found'
}
check "a GPT written over slotfs by sgdisk: fsck and tune refuse, write nothing" gpt_refused
check_rc "no device: exit 16" 16 fsck.slotfs
check_rc "an unknown option: exit 16" 16 fsck.slotfs -Z img
check_rc "-n with -y: exit 16" 16 fsck.slotfs -n -y img
# A device shorter than its file system is damage, not a crash's leftover:
# -p repairs nothing and says to run fsck by hand (e2fsck -p: exit 4,
# UNEXPECTED INCONSISTENCY); before, it dropped the regions past the end.
fresh short
truncate -s 64M short
SHORT=$(sha short)
preen_stops() {
	local out rc=0
	out=$(fsck.slotfs -p short) || rc=$?
	echo "$out"
	expect_eq "exit" 4 "$rc"
	case $out in
	*"UNEXPECTED INCONSISTENCY; RUN fsck.slotfs MANUALLY"*) ;;
	*) echo "no UNEXPECTED INCONSISTENCY"; return 1 ;;
	esac
	expect_eq "sha256 after -p" "$SHORT" "$(sha short)"
}
check "a device shorter than the file system: fsck -p exits 4, writes nothing" preen_stops
# -y neither (e2fsck's PR_0_FS_SIZE_WRONG: "Abort? yes"): what lies past
# the end comes back with the size, so it stops, exit 8, saying so; -n
# checks what is there.  Before, -y dropped the regions past the end.
yes_stops() {
	local out rc=0
	out=$(fsck.slotfs -f -y short 2>&1) || rc=$?
	echo "$out"
	expect_eq "exit" 8 "$rc"
	grep -q 'PR_SB_DEVICE_SHORT: device is 67108864 bytes, file system needs 268435456 (truncated?); 24 regions lie past its end. Fix? no' <<<"$out"
	grep -q 'nothing repaired.*restore its size' <<<"$out"
	expect_eq "sha256 after -y" "$SHORT" "$(sha short)"
	rc=0
	out=$(fsck.slotfs -f -n short 2>&1) || rc=$?
	echo "$out"
	expect_eq "exit of -n" 4 "$rc"
	grep -q 'short: 0 files, 1 directories' <<<"$out"
	truncate -s 256M short
	fsck.slotfs -f -n short
}
check "a device shorter than the file system: fsck -y exits 8, writes nothing; -n checks the rest" yes_stops

# Cut short of its metadata, there is nothing to repair from: fsck says
# to restore the size (it said "damaged; run fsck.slotfs"), exit 8.
metadata_cut() {
	fresh cut
	truncate -s 2M cut
	local out rc=0
	out=$(fsck.slotfs -f -y cut 2>&1) || rc=$?
	echo "$out"
	expect_eq "exit" 8 "$rc"
	grep -q 'restore its size' <<<"$out"
	! grep -q 'run fsck' <<<"$out"
}
check "a device cut short of the metadata: exit 8, saying to restore its size" metadata_cut

# Both superblocks damaged: the layout is gone, exit 8, saying so (it
# said "damaged; run fsck.slotfs", from fsck itself).
both_sb_bad() {
	fresh bsb
	local off out rc=0 before
	for off in $((0x40)) $((65536 + 0x40)); do
		printf garbage | dd of=bsb bs=1 seek=$off conv=notrunc status=none
	done
	before=$(sha bsb)
	out=$(fsck.slotfs -f -y bsb 2>&1) || rc=$?
	echo "$out"
	expect_eq "exit" 8 "$rc"
	grep -q 'both superblocks are damaged' <<<"$out"
	! grep -q 'run fsck' <<<"$out"
	expect_eq "the image" "$before" "$(sha bsb)"
}
check "both superblocks damaged: exit 8, saying so, writing nothing" both_sb_bad

version() {
	fsck.slotfs -V | grep -Eq '^fsck\.slotfs [0-9]'
}
check "-V prints the version" version

t_done
