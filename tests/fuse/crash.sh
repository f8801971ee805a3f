#!/usr/bin/env bash
# Crash: files are written and fsync'd (sync FILE, os.fsync), the daemon is
# killed with SIGKILL, the dead mount detached (fusermount3 -u -z), and the
# image mounted again: every fsync'd file is intact.  Then a kill in the
# middle of writing: the mount still comes back, the file written holds
# a prefix of its bytes, and fsck finds it whole.  Then sync DIR (an
# fsync of a directory) makes durable a file still open and never
# fsync'd; names changed and synced through the journal survive; last,
# small writes an fsync put in the journal survive too.
. "$(dirname "$0")/lib.sh"

fuse_setup
MiB=1048576
rand_file "$W/a" $((2 * MiB + 3))
rand_file "$W/b" 4000
rand_file "$W/c" $((5 * MiB))
rand_file "$W/v1" $((1 * MiB))

write_synced() {
	mkdir -p "$MNT/d/e"
	cp "$W/a" "$MNT/a"
	sync "$MNT/a"
	cp "$W/b" "$MNT/d/e/b"
	sync "$MNT/d/e/b"
	python3 - "$W/c" "$MNT/d/c" <<'PY'
import os, sys
data = open(sys.argv[1], "rb").read()
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for i in range(0, len(data), 131072):
    os.write(fd, data[i:i + 131072])
os.fsync(fd)
os.close(fd)
PY
	# a file fsync'd, then changed in place and fsync'd again
	cp "$W/v1" "$MNT/v"
	sync "$MNT/v"
	printf 'second version' | dd of="$MNT/v" bs=1 seek=1000 conv=notrunc status=none
	printf 'second version' | dd of="$W/v1" bs=1 seek=1000 conv=notrunc status=none
	sync "$MNT/v"
	# this one is never synced: it may or may not survive
	echo unsynced >"$MNT/unsynced"
}
check "write and fsync files (sync FILE, os.fsync)" write_synced

check_here "kill -9 the daemon; fusermount3 -u -z detaches the mount" kill_fs "$MNT"
check_here "mount the image again after the crash" mount_fs "$IMG" "$MNT"

synced_intact() {
	cmp "$W/a" "$MNT/a"
	cmp "$W/b" "$MNT/d/e/b"
	cmp "$W/c" "$MNT/d/c"
	cmp "$W/v1" "$MNT/v"
	[ -d "$MNT/d/e" ]
}
check "every fsync'd file is intact, with the in-place change" synced_intact

unsynced_sane() {
	# absent, or present with nothing but what was written
	if [ -e "$MNT/unsynced" ]; then
		local c
		c=$(cat "$MNT/unsynced")
		[ -z "$c" ] || expect_eq "content of the unsynced file" unsynced "$c"
	fi
}
check "the unsynced file is absent or right" unsynced_sane

status_after() {
	python3 -m json.tool "$MNT/.slotfs/status.json" >/dev/null
}
check "status.json reads after recovery" status_after

write_more() {
	cp "$W/c" "$MNT/after-crash"
	cmp "$W/c" "$MNT/after-crash"
	sync "$MNT/after-crash"
}
check "new writes work after the recovery" write_more

# a crash in the middle of a stream of writes
rand_file "$W/stream" $((30 * MiB))
dd if="$W/stream" of="$MNT/stream" bs=64k status=none &
DD=$!
sleep 0.5
check_here "kill -9 the daemon while dd writes" kill_fs "$MNT"
wait "$DD" 2>/dev/null || true
check_here "mount again after the second crash" mount_fs "$IMG" "$MNT"
still() {
	cmp "$W/a" "$MNT/a"
	cmp "$W/c" "$MNT/d/c"
	cmp "$W/c" "$MNT/after-crash"
	if [ -e "$MNT/stream" ]; then
		local n
		n=$(stat -c %s "$MNT/stream")
		expect_between "size of the interrupted file" 0 $((30 * MiB)) "$n"
		# what came back is what dd wrote, up to the size: no zeros
		# stand for the chunks the kill lost in the daemon's memory
		cmp -n "$n" "$W/stream" "$MNT/stream"
	fi
}
check "after the second crash the synced files are intact; the interrupted file is a prefix of what was written" still

# sync(1) and syncfs(2) never reach a FUSE daemon; fsync of a directory
# (sync DIR) does, and is the file system's sync: the bytes of a file
# still open, in the daemon's buffers and never fsync'd, are durable
# after it.  The daemon is killed before the file is closed.
rand_file "$W/held" 100000
rand_file "$W/closed" 30000
sync_dir_then_kill() {
	cp "$W/closed" "$MNT/closed"
	python3 - "$W/held" "$MNT/held" "$MNT" "${T_PID_OF[$MNT]}" <<'PY'
import os, signal, sys
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, open(sys.argv[1], "rb").read())
d = os.open(sys.argv[3], os.O_RDONLY | os.O_DIRECTORY)
os.fsync(d)
os.kill(int(sys.argv[4]), signal.SIGKILL)
PY
}
check "write a file and keep it open, sync the mount point, kill -9 the daemon" sync_dir_then_kill
check_here "detach the dead mount" kill_fs "$MNT"
check_here "mount again after the third crash" mount_fs "$IMG" "$MNT"
held_intact() {
	cmp "$W/held" "$MNT/held"
	cmp "$W/closed" "$MNT/closed"
}
check "the open file and the closed one are intact: sync DIR made them durable" held_intact

# Names: a tree made, moved and linked, a file renamed over another, one
# removed, two files cut (inside a chunk, and to 0), then sync DIR, which
# writes them into the journal (a mount's first sync takes a checkpoint:
# the one above).  After the kill every name and size is as it was at
# the sync.
names_then_kill() {
	sync "$MNT"
	head -c 2500000 /dev/urandom >"$W/cut"
	cp "$W/cut" "$MNT/cut"
	cp "$W/cut" "$MNT/cut0"
	sync "$MNT/cut" "$MNT/cut0"
	truncate -s 1234567 "$MNT/cut"
	: >"$MNT/cut0"
	mkdir -p "$MNT/n/x/y"
	echo keep >"$MNT/n/x/y/f"
	ln -s ../x/y/f "$MNT/n/x/link"
	ln "$MNT/n/x/y/f" "$MNT/n/hard"
	mv "$MNT/n/x" "$MNT/n/moved"
	mv "$MNT/closed" "$MNT/n/closed2"
	mv -f "$MNT/n/closed2" "$MNT/held"
	rm "$MNT/d/e/b"
	mkfifo "$MNT/n/fifo"
	sync "$MNT/n"
	kill -9 "${T_PID_OF[$MNT]}"
}
check "make, move, link and remove names, sync DIR, kill -9 the daemon" names_then_kill
check_here "detach the dead mount" kill_fs "$MNT"
check_here "mount again after the fourth crash" mount_fs "$IMG" "$MNT"
names_intact() {
	[ -d "$MNT/n/moved/y" ] && [ ! -e "$MNT/n/x" ]
	expect_eq "the file in the moved tree" keep "$(cat "$MNT/n/moved/y/f")"
	expect_eq "the symlink" ../x/y/f "$(readlink "$MNT/n/moved/link")"
	expect_eq "the hard link's count" 2 "$(stat -c %h "$MNT/n/hard")"
	cmp "$W/closed" "$MNT/held"
	[ ! -e "$MNT/closed" ] && [ ! -e "$MNT/n/closed2" ] && [ ! -e "$MNT/d/e/b" ]
	[ -p "$MNT/n/fifo" ]
	[ ! -e "$MNT/lost+found" ] || [ -z "$(ls -A "$MNT/lost+found")" ]
	expect_eq "the file cut inside a chunk" 1234567 "$(stat -c %s "$MNT/cut")"
	cmp -n 1234567 "$W/cut" "$MNT/cut"
	expect_eq "the file cut to 0" 0 "$(stat -c %s "$MNT/cut0")"
}
check "every name and cut is as the sync left it" names_intact

# Small writes over a file on the device, fsync'd every 8 with the file
# kept open: the journal holds their blocks (WRITE records), the daemon
# their buffers, which the kill loses.  fsck -n sees them; a read-only
# mount holds them in memory, showing the file whole and writing nothing;
# a mount writes them into their chunks.
rand_file "$W/j" $((4 * MiB))
journal_then_kill() {
	cp "$W/j" "$MNT/j"
	sync "$MNT/j"
	python3 - "$W/j" "$MNT/j" "${T_PID_OF[$MNT]}" <<'PY'
import os, random, signal, sys
ref = bytearray(open(sys.argv[1], "rb").read())
fd = os.open(sys.argv[2], os.O_RDWR)
rnd = random.Random(5)
for i in range(256):
    n = rnd.randrange(1, 4097)
    off = rnd.randrange(len(ref) - n)
    b = rnd.randbytes(n)
    os.pwrite(fd, b, off)
    ref[off:off + n] = b
    if i % 8 == 7:
        os.fsync(fd)
open(sys.argv[1], "wb").write(ref)
os.kill(int(sys.argv[3]), signal.SIGKILL)
PY
}
check "small writes to a file kept open, fsync'd every 8, kill -9 the daemon" journal_then_kill
check_here "detach the dead mount" kill_fs "$MNT"
journal_seen() {
	local rc=0
	fsck.slotfs -n -f "$IMG" >"$W/jfsck.out" 2>&1 || rc=$?
	expect_eq "fsck -n's exit" 4 "$rc"
	grep -q PR_JNL_DATA "$W/jfsck.out"
}
check "fsck -n finds the journaled writes to apply (PR_JNL_DATA)" journal_seen
ro_holds() {
	local before rc=0
	before=$(md5sum <"$IMG")
	mount_fs "$IMG" "$W/ro" -o ro
	# unmounted whatever it shows, for the mounts after it
	cmp "$W/j" "$W/ro/j" || rc=1
	grep -q "holding .* journaled writes" "${T_LOG_OF[$W/ro]}" || rc=1
	unmount_fs "$W/ro"
	expect_eq "the image after a read-only mount" "$before" "$(md5sum <"$IMG")"
	return $rc
}
check "a read-only mount shows every fsync'd write, and writes nothing" ro_holds
check_here "mount again after the fifth crash" mount_fs "$IMG" "$MNT"
journal_applied() {
	cmp "$W/j" "$MNT/j"
	grep -q "journaled writes" "${T_LOG_OF[$MNT]}"
}
check "every fsync'd write is in the file, from the journal" journal_applied

fuse_finish
