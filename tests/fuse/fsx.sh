#!/usr/bin/env bash
# Random file operations through the mount, each read checked against a
# copy in memory (fsx.c): writes and reads across chunk boundaries,
# truncates, size extensions, mmap and O_DIRECT, fsyncs and reopens; two
# files at once; then the files after a remount, and with the kernel's
# writeback cache.  A failure prints the seed and the operations.
. "$(dirname "$0")/lib.sh"
t_need fsx

fuse_setup

check "fsx: 3000 operations, buffered" \
	fsx -N 3000 -S 1 -s "$W/a.good" "$MNT/a"
check "fsx: 3000 operations, with O_DIRECT and mmap" \
	fsx -N 3000 -S 2 -D -M -s "$W/b.good" "$MNT/b"

two_at_once() {
	fsx -N 2000 -S 3 -D -M -s "$W/c.good" "$MNT/c" &
	local p=$!
	fsx -N 2000 -S 4 -D -M -s "$W/d.good" "$MNT/d" || { wait $p; return 1; }
	wait $p
}
check "fsx: two files at once" two_at_once
check "fsx: small chunk steps (64 KiB lengths over a 2 MiB file)" \
	fsx -N 3000 -S 5 -D -M -l 2097152 -o 65536 -s "$W/e.good" "$MNT/e"

check_remount "unmount and mount again"
for f in a b c d e; do
	check "after a remount, $f holds what fsx last wrote" \
		fsx -c "$W/$f.good" "$MNT/$f"
done

check_unmount "unmount" "$MNT"
check_here "mount with -o writeback_cache" mount_fs "$IMG" "$MNT" -o writeback_cache
check "fsx: 3000 operations, writeback cache, with O_DIRECT and mmap" \
	fsx -N 3000 -S 6 -D -M -s "$W/f.good" "$MNT/f"
# the kernel writes a file's times back after its last unlink; the
# store has dropped it by then, and that must not fail syncfs
removed_then_syncfs() {
	mkdir "$MNT/gone"
	for i in $(seq 1 50); do echo x >"$MNT/gone/$i"; done
	sync -f "$MNT"
	rm -r "$MNT/gone"
	sync -f "$MNT"
	[ ! -e "$MNT/gone" ]
}
check "writeback cache: files removed, then syncfs succeeds" removed_then_syncfs
check_remount "unmount and mount again"
check "after a remount, f holds what fsx last wrote" \
	fsx -c "$W/f.good" "$MNT/f"

fuse_finish
