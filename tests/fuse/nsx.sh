#!/usr/bin/env bash
# Random namespace operations (nsx.py) on the mount and on a reference
# tree on the host's file system, outcome by outcome and errno by errno:
# creates, appends, truncates, mkdir, rmdir, unlink, renames of files and
# directories over names that may exist, hard links, symlinks, chmod, and
# descriptors kept open while their file is unlinked or renamed; then, on
# a mount with -o xattr, the same with user. extended attributes set,
# read, listed and removed among them.  The trees are compared whole
# every 200 operations, at the end, and again after a remount.
. "$(dirname "$0")/lib.sh"
t_need python3

fuse_setup
REF=$W/ref

for s in 1 2 3; do
	mkdir -p "$MNT/s$s" "$REF/s$s"
	check "nsx: seed $s, 2000 operations match the reference" \
		python3 "$T_SRC/tests/fuse/nsx.py" -n 2000 -s "$s" "$MNT/s$s" "$REF/s$s"
done
check_remount "unmount and mount again"
check "after a remount, the trees match" \
	python3 "$T_SRC/tests/fuse/nsx.py" --compare "$MNT" "$REF"

remount_xattr() {
	unmount_fs "$MNT" && mount_fs "$IMG" "$MNT" -o xattr
}
check_here "unmount and mount with -o xattr" remount_xattr
for s in 4 5; do
	mkdir -p "$MNT/s$s" "$REF/s$s"
	check "nsx --xattr: seed $s, 2000 operations match the reference" \
		python3 "$T_SRC/tests/fuse/nsx.py" --xattr -n 2000 -s "$s" \
		"$MNT/s$s" "$REF/s$s"
done
check_remount "unmount and mount again (attributes on by themselves)"
check "after a remount, the trees and their attributes match" \
	python3 "$T_SRC/tests/fuse/nsx.py" --compare --xattr "$MNT" "$REF"

fuse_finish
