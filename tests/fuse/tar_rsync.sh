#!/usr/bin/env bash
# Archive tools: tar c | tar x into slotfs and back out, and rsync -a in
# and out, each compared with diff -r and checksums.
. "$(dirname "$0")/lib.sh"

fuse_setup
make_tree "$W/src"
ln -s a/b/c/hello.txt "$W/src/link"
ln "$W/src/a/f4096" "$W/src/x/hardlink"
touch -d '2005-06-07 08:09:10' "$W/src/a/f4095"

tar_in() {
	mkdir "$MNT/tar"
	tar -C "$W/src" -cf - . | tar -C "$MNT/tar" -xf -
	diff -r "$W/src" "$MNT/tar"
	same_tree "$W/src" "$MNT/tar"
}
check "tar c | tar x into the mount; diff -r clean" tar_in

tar_meta() {
	expect_eq "symlink" a/b/c/hello.txt "$(readlink "$MNT/tar/link")"
	expect_eq "hard link kept" "$(stat -c %i "$MNT/tar/a/f4096")" \
		"$(stat -c %i "$MNT/tar/x/hardlink")"
	expect_eq "mtime kept" "$(stat -c %Y "$W/src/a/f4095")" "$(stat -c %Y "$MNT/tar/a/f4095")"
}
check "tar kept the symlink, the hard link and the mtime" tar_meta

tar_out() {
	mkdir "$W/tarout"
	tar -C "$MNT/tar" -cf - . | tar -C "$W/tarout" -xf -
	diff -r "$W/src" "$W/tarout"
	same_tree "$W/src" "$W/tarout"
}
check "tar c of the mount | tar x outside; identical to the source" tar_out

tar_file() {
	tar -C "$W/src" -cf "$MNT/archive.tar" .
	tar -tf "$MNT/archive.tar" >/dev/null
	mkdir "$W/fromfile"
	tar -C "$W/fromfile" -xf "$MNT/archive.tar"
	diff -r "$W/src" "$W/fromfile"
}
check "a tar archive written to and read from the mount" tar_file

tar_sparse_fresh() {
	# files just written, still in the daemon's buffers: their blocks
	# must count, or tar -S takes them for holes and archives zeros
	rand_file "$W/fresh" 5000
	rand_file "$W/fresh2" 1500000
	cp "$W/fresh" "$W/fresh2" "$MNT/"
	expect_ge "blocks of a 5000-byte file just written" 10 \
		"$(stat -c %b "$MNT/fresh")"
	tar -C "$MNT" -S -cf "$W/sparse.tar" fresh fresh2
	mkdir "$W/sparse"
	tar -C "$W/sparse" -xf "$W/sparse.tar"
	same_bytes "$W/fresh" "$W/sparse/fresh"
	same_bytes "$W/fresh2" "$W/sparse/fresh2"
	# and a real hole stays one
	truncate -s 64M "$MNT/holey"
	echo end >>"$MNT/holey"
	tar -C "$MNT" -S -cf "$W/holey.tar" holey
	tar -C "$W/sparse" -xf "$W/holey.tar"
	cmp "$MNT/holey" "$W/sparse/holey"
	rm "$MNT/fresh" "$MNT/fresh2" "$MNT/holey"
}
check "tar -S of files just written keeps their bytes (blocks counted)" tar_sparse_fresh

rsync_in() {
	rsync -a "$W/src/" "$MNT/rs/"
	diff -r "$W/src" "$MNT/rs"
	same_tree "$W/src" "$MNT/rs"
}
check "rsync -a into the mount; diff -r clean" rsync_in

rsync_again() {
	# a second run finds nothing to do: sizes, times, modes all kept
	local out
	out=$(rsync -ai --dry-run "$W/src/" "$MNT/rs/")
	expect_eq "rsync -ai itemized changes" "" "$out"
}
check "a second rsync -a has nothing to transfer" rsync_again

rsync_prealloc() {
	# --preallocate asks fallocate(FALLOC_FL_KEEP_SIZE) of every file
	local out
	out=$(rsync -a --preallocate "$W/src/" "$MNT/pre/" 2>&1)
	expect_eq "rsync --preallocate messages" "" "$out"
	diff -r "$W/src" "$MNT/pre"
	rm -r "$MNT/pre"
}
check "rsync -a --preallocate: no complaint, the same files" rsync_prealloc

rsync_update() {
	rand_file "$W/src/a/f4095" 4095
	echo new >"$W/src/newfile"
	rm "$W/src/one"
	rsync -a --delete "$W/src/" "$MNT/rs/"
	diff -r "$W/src" "$MNT/rs"
	same_tree "$W/src" "$MNT/rs"
}
check "rsync -a --delete of a changed source" rsync_update

rsync_out() {
	rsync -a "$MNT/rs/" "$W/rsout/"
	diff -r "$W/src" "$W/rsout"
	same_tree "$W/src" "$W/rsout"
	expect_eq "rsync -ai back again" "" "$(rsync -ai --dry-run "$MNT/rs/" "$W/rsout/")"
}
check "rsync -a out of the mount; identical" rsync_out

fuse_finish
