#!/usr/bin/env bash
# LABEL= and UUID= name a device, as in fstab and e2fsprogs: the tools
# find the block device that holds the slotfs (here a loop device), say
# so when none does, refuse a value that cannot be one, and refuse to
# pick when two devices hold the same file system, until the copy gets a
# UUID of its own (tune.slotfs -U).  Needs root (losetup).
. "$(dirname "$0")/../lib.sh"
t_need mkfs.slotfs fsck.slotfs tune.slotfs resize.slotfs slotfs-dump losetup
cd "$W"

U=0badcafe-1234-4abc-8def-0123456789ab
LABEL="find-$$"         # no other device here has it
truncate -s 64M img
mkfs.slotfs -q -L "$LABEL" -U $U img
# attached here, not in a check's subshell, so that the exit detaches them
LOOPS=()
at_exit 'for l in "${LOOPS[@]}"; do losetup -d "$l"; done'
attach() {	# [IMAGE]
	local l
	l=$(losetup -f --show "${1:-img}") || { echo "# losetup failed"; exit 1; }
	LOOPS+=("$l")
}
attach
LOOP=${LOOPS[0]}

found() {
	fsck.slotfs -n "LABEL=$LABEL" >out 2>&1
	grep -q "^$LOOP: clean" out
	tune.slotfs -l "UUID=${U^^}" | grep -qx "Filesystem volume name:   $LABEL"
	tune.slotfs -l "UUID=\"$U\"" | grep -qx "Filesystem UUID:          $U"
	slotfs-dump "LABEL='$LABEL'" | grep -q "label=\"$LABEL\""
	resize.slotfs "LABEL=$LABEL" 2>&1 | grep -q "^$LOOP is already"
}
check "fsck, tune, dump and resize find it by label and by UUID" found

# refused SPEC TEXT: each tool exits non-zero and says TEXT
refused() {
	local out tool
	for tool in "fsck.slotfs -n" "tune.slotfs -l" slotfs-dump resize.slotfs; do
		out=$($tool "$1" 2>&1) && { echo "$tool $1 succeeded"; return 1; }
		case $out in *"$1: $2"*) ;; *) echo "$tool: $out"; return 1 ;; esac
	done
}
check "a label no device has: no such device" \
	refused "LABEL=$LABEL-not" "No such device"
check "a UUID that is none" refused "UUID=0badcafe" "not a label or UUID"
check "an empty label" refused "LABEL=" "not a label or UUID"

attach
two() {
	refused "LABEL=$LABEL" "more than one device holds that file system"
	out=$(tune.slotfs -L other "UUID=$U" 2>&1) && return 1
	case $out in *"more than one device"*) ;; *) echo "$out"; return 1 ;; esac
	tune.slotfs -l img | grep -qx "Filesystem volume name:   $LABEL"
}
check "two devices with the same file system: refused, nothing changed" two

# a copy of the device, as dd makes one, told apart by a new UUID (as
# tune2fs -U does for ext4): the original is found by its own again
losetup -d "${LOOPS[1]}"
unset 'LOOPS[1]'
cp img copy
attach copy
COPY=${LOOPS[-1]}
copied() {
	refused "UUID=$U" "more than one device holds that file system"
	tune.slotfs -U random "$COPY"
	tune.slotfs -l "UUID=$U" | grep -qx "Filesystem UUID:          $U"
	fsck.slotfs -n "UUID=$U" >out 2>&1
	grep -q "^$LOOP: clean" out
	local v
	v=$(tune.slotfs -l "$COPY" | sed -n 's/^Filesystem UUID: *//p')
	fsck.slotfs -n "UUID=$v" >out 2>&1
	grep -q "^$COPY: clean" out
	# the label still names both
	refused "LABEL=$LABEL" "more than one device holds that file system"
}
check "a copy given a new UUID: each found by its own" copied

t_done
