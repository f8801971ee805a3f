#!/usr/bin/env bash
# Persistence: a tree written, unmounted cleanly (slotfs daemonized, as a
# user starts it), mounted again: the same bytes, an empty directory kept,
# and the image is clean for fsck.
. "$(dirname "$0")/lib.sh"

new_image "$IMG"
make_tree "$W/src"
mkdir -p "$W/src/empty2/nested-empty"
ln -s a/f4096 "$W/src/sym"

check_here "slotfs IMAGE MNT (daemonized) mounts and returns 0" mount_daemonized "$IMG" "$MNT"
fill() {
	cp -a "$W/src" "$MNT/t"
	same_tree "$W/src" "$MNT/t"
}
check "write a tree with empty directories" fill
check_unmount "fusermount3 -u; the daemon exits and closes the image" "$MNT"
check_rc "fsck.slotfs -n -f after the clean unmount exits 0" 0 fsck.slotfs -n -f "$IMG"

check_here "mount again (daemonized)" mount_daemonized "$IMG" "$MNT"
check "the tree is byte for byte the same after the remount" same_tree "$W/src" "$MNT/t"
empty_dirs() {
	[ -d "$MNT/t/empty" ]
	expect_eq "entries of the empty dir" "" "$(ls -A "$MNT/t/empty")"
	[ -d "$MNT/t/empty2/nested-empty" ]
	expect_eq "readlink" a/f4096 "$(readlink "$MNT/t/sym")"
}
check "empty directories and the symlink persist" empty_dirs

change() {
	rm -r "$MNT/t/x"
	rm -r "$W/src/x"
	echo changed >"$MNT/t/a/b/c/hello.txt"
	echo changed >"$W/src/a/b/c/hello.txt"
	mv "$MNT/t/a/f4095" "$MNT/t/renamed"
	mv "$W/src/a/f4095" "$W/src/renamed"
	same_tree "$W/src" "$MNT/t"
}
check "change the tree: rm -r, overwrite, mv" change
check_unmount "unmount again" "$MNT"

# the third mount in the foreground, so fuse_finish checks its exit status
check_here "mount a third time (slotfs -f)" mount_fs "$IMG" "$MNT"
check "the changes persist" same_tree "$W/src" "$MNT/t"

fuse_finish
