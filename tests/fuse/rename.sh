#!/usr/bin/env bash
# mv of files and directories: within a directory, across directories,
# replacing an existing file, a directory onto an empty directory, and the
# refusals rename(2) gives.
. "$(dirname "$0")/lib.sh"

fuse_setup
rand_file "$W/a" 1048580
rand_file "$W/b" 5000

mv_same_dir() {
	cp "$W/a" "$MNT/a"
	mv "$MNT/a" "$MNT/a2"
	[ ! -e "$MNT/a" ]
	cmp "$W/a" "$MNT/a2"
	expect_eq "listing" a2 "$(ls -A "$MNT")"
}
check "mv a file within a directory" mv_same_dir

mv_across() {
	mkdir -p "$MNT/d1/d2"
	mv "$MNT/a2" "$MNT/d1/d2/a3"
	[ ! -e "$MNT/a2" ]
	cmp "$W/a" "$MNT/d1/d2/a3"
	mv "$MNT/d1/d2/a3" "$MNT/a"
	cmp "$W/a" "$MNT/a"
}
check "mv a file across directories and back" mv_across

mv_replace() {
	cp "$W/b" "$MNT/b"
	local ino
	ino=$(stat -c %i "$MNT/a")
	mv -f "$MNT/a" "$MNT/b"
	[ ! -e "$MNT/a" ]
	cmp "$W/a" "$MNT/b"
	expect_eq "inode of the replaced name" "$ino" "$(stat -c %i "$MNT/b")"
	expect_eq "size" 1048580 "$(stat -c %s "$MNT/b")"
	expect_eq "entries" "b d1" "$(ls "$MNT" | xargs)"
}
check "mv a file onto an existing file replaces it" mv_replace

mv_replace_open() {
	# the replaced file stays readable through a descriptor opened before
	cp "$W/b" "$MNT/old"
	cp "$W/a" "$MNT/new"
	exec 7<"$MNT/old"
	mv -f "$MNT/new" "$MNT/old"
	cmp "$W/b" /dev/fd/7
	exec 7<&-
	cmp "$W/a" "$MNT/old"
	rm "$MNT/old"
}
check "a replaced file stays readable while open" mv_replace_open

mv_dir() {
	mkdir -p "$MNT/src/sub/deeper"
	cp "$W/a" "$MNT/src/sub/deeper/f"
	cp "$W/b" "$MNT/src/g"
	mv "$MNT/src" "$MNT/d1/moved"
	[ ! -e "$MNT/src" ]
	cmp "$W/a" "$MNT/d1/moved/sub/deeper/f"
	cmp "$W/b" "$MNT/d1/moved/g"
	expect_eq "find" "$(printf '%s\n' d1/moved d1/moved/g d1/moved/sub d1/moved/sub/deeper d1/moved/sub/deeper/f)" \
		"$(cd "$MNT" && find d1/moved | sort)"
}
check "mv a directory with contents into another directory" mv_dir

mv_dir_onto_empty() {
	mkdir "$MNT/empty"
	mv -T "$MNT/d1/moved" "$MNT/empty"
	[ ! -e "$MNT/d1/moved" ]
	cmp "$W/a" "$MNT/empty/sub/deeper/f"
	cmp "$W/b" "$MNT/empty/g"
	expect_eq "entries of d1" d2 "$(ls -A "$MNT/d1")"
}
check "mv -T a directory onto an empty directory replaces it" mv_dir_onto_empty

mkdir -p "$MNT/full/x" "$MNT/other"
check_fails "mv -T a directory onto a non-empty one: Directory not empty" \
	'not empty' mv -T "$MNT/other" "$MNT/full"
check_fails "mv -T a file onto a directory fails" \
	'directory' mv -T "$MNT/b" "$MNT/other"
check_fails "mv a directory into itself fails" \
	'itself|invalid' mv "$MNT/full" "$MNT/full/x/y"

still_there() {
	[ -d "$MNT/full/x" ]
	[ -d "$MNT/other" ]
	cmp "$W/a" "$MNT/b"
}
check "failed renames changed nothing" still_there

mv_rename_dir_parent_links() {
	# the moved directory's .. follows it; link counts are ext4's
	mkdir -p "$MNT/p1/c" "$MNT/p2"
	expect_eq "p1 links" 3 "$(stat -c %h "$MNT/p1")"
	mv "$MNT/p1/c" "$MNT/p2/c"
	expect_eq "p1 links" 2 "$(stat -c %h "$MNT/p1")"
	expect_eq "p2 links" 3 "$(stat -c %h "$MNT/p2")"
	expect_eq ".. of the moved dir" "$(stat -c %i "$MNT/p2")" \
		"$(stat -c %i "$MNT/p2/c/..")"
}
check "mv of a directory updates parent link counts and .." mv_rename_dir_parent_links

rename_noreplace() {
	printf one >"$MNT/x1"
	printf two >"$MNT/x2"
	expect_eq "RENAME_NOREPLACE onto x2" EEXIST \
		"$(renameat2 "$MNT/x1" "$MNT/x2" 1)"
	expect_eq "x1" one "$(cat "$MNT/x1")"
	expect_eq "x2" two "$(cat "$MNT/x2")"
}
check "rename with RENAME_NOREPLACE onto an existing name: EEXIST" rename_noreplace

fuse_finish
