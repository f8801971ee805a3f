#!/usr/bin/env bash
# Symbolic links (ln -s, readlink) and hard links (ln, link counts); a node
# the kernel still knows after its last name went (O_PATH, a removed cwd).
. "$(dirname "$0")/lib.sh"

fuse_setup
rand_file "$W/data" 70000

symlinks() {
	cp "$W/data" "$MNT/target"
	ln -s target "$MNT/rel"
	ln -s "$MNT/target" "$MNT/abs"
	ln -s no/such/file "$MNT/dangling"
	expect_eq "readlink rel" target "$(readlink "$MNT/rel")"
	expect_eq "readlink abs" "$MNT/target" "$(readlink "$MNT/abs")"
	expect_eq "readlink dangling" no/such/file "$(readlink "$MNT/dangling")"
	expect_eq "type" "symbolic link" "$(stat -c %F "$MNT/rel")"
	expect_eq "lstat size" 6 "$(stat -c %s "$MNT/rel")"
	cmp "$W/data" "$MNT/rel"
	cmp "$W/data" "$MNT/abs"
	[ ! -e "$MNT/dangling" ] && [ -L "$MNT/dangling" ]
}
check "ln -s relative, absolute and dangling; readlink; read through" symlinks

long_target() {
	local t
	t=$(printf 'p%.0s/' $(seq 1 1000))
	ln -s "$t" "$MNT/long"
	expect_eq "readlink of a 2000-byte target" "$t" "$(readlink "$MNT/long")"
}
check "a symlink with a 2000-byte target" long_target

symlink_dir() {
	mkdir -p "$MNT/real/sub"
	echo inside >"$MNT/real/sub/f"
	ln -s real "$MNT/lnk"
	expect_eq "through a dir link" inside "$(cat "$MNT/lnk/sub/f")"
	expect_eq "readlink -f" "$MNT/real/sub/f" "$(readlink -f "$MNT/lnk/sub/f")"
	rm "$MNT/lnk"
	[ -d "$MNT/real/sub" ]
}
check "a symlink to a directory; rm of the link keeps the directory" symlink_dir

hardlinks() {
	ln "$MNT/target" "$MNT/hard"
	expect_eq "links of target" 2 "$(stat -c %h "$MNT/target")"
	expect_eq "links of hard" 2 "$(stat -c %h "$MNT/hard")"
	expect_eq "inode" "$(stat -c %i "$MNT/target")" "$(stat -c %i "$MNT/hard")"
	mkdir "$MNT/hd"
	ln "$MNT/hard" "$MNT/hd/third"
	expect_eq "links after a third name" 3 "$(stat -c %h "$MNT/target")"
	cmp "$W/data" "$MNT/hd/third"
}
check "ln: two more names, link count 3, one inode" hardlinks

hardlink_shared() {
	printf 'changed' | dd of="$MNT/hard" bs=1 seek=100 conv=notrunc status=none
	printf 'changed' | dd of="$W/data" bs=1 seek=100 conv=notrunc status=none
	cmp "$W/data" "$MNT/target"
	cmp "$W/data" "$MNT/hd/third"
	chmod 0604 "$MNT/target"
	expect_eq "mode through the other name" 604 "$(stat -c %a "$MNT/hard")"
}
check "a write or chmod through one name shows through the others" hardlink_shared

hardlink_unlink() {
	rm "$MNT/target"
	expect_eq "links after rm" 2 "$(stat -c %h "$MNT/hard")"
	rm "$MNT/hd/third"
	expect_eq "links after a second rm" 1 "$(stat -c %h "$MNT/hard")"
	cmp "$W/data" "$MNT/hard"
	[ ! -e "$MNT/rel" ] && [ -L "$MNT/rel" ]
}
check "rm of names drops the link count; the data stays" hardlink_unlink

check_fails "ln of a directory is refused" 'not allowed|directory' \
	ln "$MNT/real" "$MNT/real2"

dir_links() {
	mkdir -p "$MNT/top/s1" "$MNT/top/s2" "$MNT/top/s3"
	expect_eq "links of a dir with 3 subdirs" 5 "$(stat -c %h "$MNT/top")"
	expect_eq "links of an empty dir" 2 "$(stat -c %h "$MNT/top/s1")"
	rmdir "$MNT/top/s3"
	expect_eq "links after rmdir" 4 "$(stat -c %h "$MNT/top")"
	touch "$MNT/top/file"
	expect_eq "links after a file" 4 "$(stat -c %h "$MNT/top")"
}
check "directory link counts are 2 + subdirectories, as on ext4" dir_links

# a node the kernel still knows answers after its last name went, as on
# ext4; and once the kernel forgets it, its space comes back
removed_but_known() {
	echo hello >"$MNT/opath"
	python3 - "$MNT/opath" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_PATH)
os.unlink(sys.argv[1])
st = os.fstat(fd)                   # no open file holds it: a lookup does
assert (st.st_nlink, st.st_size) == (0, 6), (st.st_nlink, st.st_size)
PY
	# the same for a node the kernel knows from a listing (readdirplus):
	# caches dropped, so its only reference is the listing's
	echo hello >"$MNT/listed"
	sync "$MNT"
	echo 2 >/proc/sys/vm/drop_caches
	ls -l "$MNT" >/dev/null
	python3 - "$MNT/listed" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_PATH)  # the listed entry: no lookup
os.unlink(sys.argv[1])
st = os.fstat(fd)
assert (st.st_nlink, st.st_size) == (0, 6), (st.st_nlink, st.st_size)
PY
	mkdir "$MNT/cwd"
	(cd "$MNT/cwd" && rmdir ../cwd &&
		expect_eq "links of a removed working directory" 0 "$(stat -c %h .)" &&
		expect_eq "ls -A of it" "" "$(ls -A)")
}
check "fstat of an O_PATH descriptor and ls in a removed directory work" removed_but_known

space_comes_back() {
	local before i
	before=$(stat -f -c %d "$MNT")
	mkdir "$MNT/many"
	for i in $(seq 1 100); do echo "$i" >"$MNT/many/$i"; done
	ls -l "$MNT/many" >/dev/null   # readdirplus: a reference each
	rm -r "$MNT/many"
	# at least as many: the kernel may forget an earlier check's
	# removed nodes meanwhile, which frees theirs too
	for i in $(seq 1 50); do
		[ "$(stat -f -c %d "$MNT")" -ge "$before" ] && return 0
		sleep 0.1
	done
	echo "free inodes $(stat -f -c %d "$MNT"), $before before"
	return 1
}
check "removed files' inodes come back once the kernel forgets them" space_comes_back

check_remount "unmount and mount again"
after_remount() {
	expect_eq "readlink" target "$(readlink "$MNT/rel")"
	expect_eq "links" 1 "$(stat -c %h "$MNT/hard")"
	expect_eq "links of top" 4 "$(stat -c %h "$MNT/top")"
	cmp "$W/data" "$MNT/hard"
	ln "$MNT/hard" "$MNT/again"
	expect_eq "links" 2 "$(stat -c %h "$MNT/hard")"
}
check "links and counts persist across a remount" after_remount

fuse_finish
