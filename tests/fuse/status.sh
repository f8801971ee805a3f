#!/usr/bin/env bash
# The status view /.slotfs/: status.json parses and counts what is stored,
# metrics is Prometheus text, the directory opens by name but is never
# listed or copied, and nothing in it can be written.
. "$(dirname "$0")/lib.sh"

fuse_setup
mkdir "$MNT/dir"
echo one >"$MNT/a"
echo two >"$MNT/dir/b"
rand_file "$MNT/c" 3000000

# jget KEY: a top-level number from status.json (nested objects searched).
jget() {
	python3 - "$MNT/.slotfs/status.json" "$1" <<'PY'
import json, sys
def find(o, k):
    if isinstance(o, dict):
        if k in o:
            return o[k]
        for v in o.values():
            r = find(v, k)
            if r is not None:
                return r
    return None
v = find(json.load(open(sys.argv[1])), sys.argv[2])
if v is None:
    sys.exit("no key " + sys.argv[2])
print(v)
PY
}

json_ok() {
	python3 -m json.tool "$MNT/.slotfs/status.json" >/dev/null
	cat "$MNT/.slotfs/status.json" | python3 -m json.tool >/dev/null
}
check "/.slotfs/status.json opens by name and parses as JSON" json_ok

# text files end with a newline: cat leaves the prompt on a line of its own
ends_in_newline() {
	local f
	for f in status.json metrics; do
		expect_eq "last byte of $f" 0a \
			"$(tail -c 1 "$MNT/.slotfs/$f" | od -An -tx1 | tr -d ' ')"
	done
}
check "status.json and metrics end with a newline" ends_in_newline

# lseek: all data up to its size, no hole before it (cp and tar use them)
status_seek() {
	python3 - "$MNT/.slotfs/status.json" <<'PY'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
assert size > 0, size
assert os.lseek(fd, 5, os.SEEK_DATA) == 5
# rendered afresh each time: its counters may have gained a digit
hole = os.lseek(fd, 5, os.SEEK_HOLE)
assert abs(hole - size) < 100, (hole, size)
try:
    os.lseek(fd, size + 10000, os.SEEK_DATA)
    sys.exit("SEEK_DATA at the end did not fail")
except OSError as e:
    assert e.errno == errno.ENXIO, e
PY
}
check "status.json: SEEK_DATA and SEEK_HOLE see data up to its size" status_seek

json_keys() {
	local k
	for k in inflight_io_count metadata_dirty_total metadata_persisted key_count; do
		jget "$k" >/dev/null
	done
	expect_eq "key_count (regular files)" 3 "$(jget key_count)"
	expect_eq "inflight_io_count when idle" 0 "$(jget inflight_io_count)"
}
check "status.json has inflight_io_count, metadata_* and key_count = 3" json_keys

json_fresh() {
	echo four >"$MNT/d4"
	expect_eq "key_count after one more file" 4 "$(jget key_count)"
	rm "$MNT/d4" "$MNT/a"
	expect_eq "key_count after two rm" 2 "$(jget key_count)"
}
check "status.json is read afresh each time (not cached)" json_fresh

metrics() {
	local n
	n=$(grep -c '^slotfs_' "$MNT/.slotfs/metrics")
	expect_ge "slotfs_ lines" 5 "$n"
	# every line is a comment or "name{labels} value"
	local re='^(#.*|slotfs_[a-zA-Z0-9_]+(\{[^}]*\})? ([-+]?[0-9.eE+-]+|[-+]?Inf|NaN))$'
	if grep -Ev "$re" "$MNT/.slotfs/metrics" | grep -q .; then
		echo "lines that are not Prometheus text:"
		grep -Ev "$re" "$MNT/.slotfs/metrics" | head
		return 1
	fi
	grep -q '^# TYPE slotfs_' "$MNT/.slotfs/metrics"
}
check "/.slotfs/metrics is Prometheus text with slotfs_ lines" metrics

# a checkpoint (fsync of a directory after a change) says how long it
# held the store lock, in both views
ckpt_lock() {
	touch "$MNT/dir/ck"
	python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$MNT/dir"
	python3 - "$MNT/.slotfs/status.json" <<'PY2'
import json, sys
c = json.load(open(sys.argv[1]))["checkpoint_lock_us"]
assert c["max"] >= c["last"] >= 0, c
PY2
	awk '$1 == "slotfs_checkpoint_lock_seconds" { v = $2 } END { exit !(v > 0) }' \
		"$MNT/.slotfs/metrics"
	rm "$MNT/dir/ck"
}
check "a checkpoint's store lock hold shows in status.json and metrics" ckpt_lock

# a removed file that something still holds (an O_PATH descriptor: no
# open to slotfs) counts in both views until the kernel forgets it
removed_held() {
	echo gone >"$MNT/dir/gone"
	python3 - "$MNT" <<'PY2'
import json, os, sys, time
mnt = sys.argv[1]
def removed():
    with open(mnt + "/.slotfs/status.json") as f:
        r = json.load(f)["removed"]
    assert r["waiting"] == 0, r
    return r["held"]
def held():
    # the metric read between two alike (a forget may come meanwhile)
    a = removed()
    with open(mnt + "/.slotfs/metrics") as f:
        m = [l.split()[1] for l in f if l.startswith("slotfs_removed_held ")]
    b = removed()
    assert a != b or m == [str(a)], (m, a)
    return b
fd = os.open(mnt + "/dir/gone", os.O_PATH)
os.unlink(mnt + "/dir/gone")
assert held() == 1, "held while the descriptor is open"
os.close(fd)
for _ in range(500):
    if held() == 0:
        break
    time.sleep(0.01)
assert held() == 0, "still held after the close"
PY2
}
check "a removed file still held shows in status.json and metrics" removed_held

hidden() {
	expect_eq "ls -a of the root" ". .. c dir" "$(ls -a "$MNT" | xargs)"
	expect_eq "find .slotfs" "" "$(find "$MNT" -name .slotfs)"
	[ -d "$MNT/.slotfs" ]
	[ -f "$MNT/.slotfs/status.json" ]
}
check "ls -a and find do not list .slotfs; it opens by name" hidden

copies() {
	cp -a "$MNT" "$W/copy"
	[ ! -e "$W/copy/.slotfs" ]
	rsync -a "$MNT/" "$W/rcopy/"
	[ ! -e "$W/rcopy/.slotfs" ]
	expect_eq "tar listing" "./ ./c ./dir/ ./dir/b" "$(tar -C "$MNT" -cf - . | tar -tf - | sort | xargs)"
}
check "cp -a, rsync -a and tar of the mount leave .slotfs out" copies

check_fails "writing to status.json fails" 'read-only|permission|not permitted' \
	sh -c "echo x > '$MNT/.slotfs/status.json'"
check_fails "appending to metrics fails" 'read-only|permission|not permitted' \
	sh -c "echo x >> '$MNT/.slotfs/metrics'"
check_fails "creating a file in .slotfs fails" 'read-only|permission|not permitted' \
	touch "$MNT/.slotfs/new"
check_fails "rm of status.json fails" 'read-only|permission|not permitted' \
	rm -f "$MNT/.slotfs/status.json"
check_fails "mkdir .slotfs fails: it exists" 'exists' mkdir "$MNT/.slotfs"
check "status.json is still there and parses" json_ok

# The polling loop serves what needs no device on its reading thread and
# counts it: creating small files (LOOKUP, CREATE, WRITE, RELEASE each)
# must not hand each WRITE and close to another thread, as it once did
# (two thread wake-ups a file).
in_place() {
	local h0 p0 h1 p1
	h0=$(jget handed_on) p0=$(jget served_in_place)
	mkdir "$MNT/small"
	for i in $(seq 1 200); do
		head -c 4096 /dev/urandom >"$MNT/small/f$i"
	done
	h1=$(jget handed_on) p1=$(jget served_in_place)
	echo "200 files: $((p1 - p0)) requests in place, $((h1 - h0)) handed on"
	expect_ge "requests served in place" 600 $((p1 - p0))
	[ $((h1 - h0)) -lt 50 ] || { echo "too many handed on"; return 1; }
	grep -q '^slotfs_fuse_requests_total{served="in_place"} [0-9]' \
		"$MNT/.slotfs/metrics"
}
check "small files are created on the reading thread" in_place

# ... and counts how it found each request (waiting, while polling, after
# sleeping): 200 cold stats are at least 200 LOOKUPs found.  Its polling
# window stays between the shortest (20 us) and poll_us (50 by default).
found() {	# requests the reading thread found; through the ring, those
	if [ "$(jget io_uring)" = 1 ]; then
		jget io_uring_requests
	else
		echo $(( $(jget found_waiting) + $(jget found_polling) + $(jget found_asleep) ))
	fi
}
poll_figures() {
	local f0 f1 w
	f0=$(found)
	sync
	echo 2 >/proc/sys/vm/drop_caches
	for i in $(seq 1 200); do
		stat "$MNT/small/f$i" >/dev/null
	done
	f1=$(found)
	w=$(jget poll_window_us)
	echo "200 cold stats: $((f1 - f0)) requests found; window $w us"
	expect_ge "requests found" 200 $((f1 - f0))
	[ "$w" -ge 20 ] && [ "$w" -le 50 ] || { echo "window $w us"; return 1; }
	grep -q '^slotfs_fuse_poll_window_seconds [0-9][0-9]*e-6$' \
		"$MNT/.slotfs/metrics"
	grep -q '^slotfs_fuse_requests_found_total{found="asleep"} [0-9]' \
		"$MNT/.slotfs/metrics"
}
check "the polling loop counts how it found requests; its window" poll_figures

# chmod, chown and utimens (cp -a, tar and rsync set them on every file)
# need no device either; a truncation may
setattr_in_place() {
	local h0 h1
	h0=$(jget handed_on)
	for i in $(seq 1 200); do
		chmod 600 "$MNT/small/f$i"
		touch -d @100000 "$MNT/small/f$i"
	done
	chown -R 1:1 "$MNT/small"
	h1=$(jget handed_on)
	echo "600 attribute changes: $((h1 - h0)) handed on"
	[ $((h1 - h0)) -lt 60 ] || { echo "too many handed on"; return 1; }
	[ "$(stat -c %a.%u.%g.%Y "$MNT/small/f7")" = 600.1.1.100000 ]
}
check "chmod, chown and touch are served on the reading thread" setattr_in_place

# a truncation that drops whole chunks of a file with nothing buffered
# is memory too (truncate -s 0, and the shell's > as an O_TRUNC open);
# one that cuts a chunk, or finds bytes buffered, writes and is handed on
truncate_in_place() {
	local h0 h1 h2 h3
	h0=$(jget handed_on)
	for i in $(seq 2 100); do
		truncate -s 0 "$MNT/small/f$i"
	done
	for i in $(seq 101 200); do
		: >"$MNT/small/f$i"
	done
	h1=$(jget handed_on)
	echo "199 truncations to 0: $((h1 - h0)) handed on"
	[ $((h1 - h0)) -lt 20 ] || { echo "too many handed on"; return 1; }
	expect_eq "sizes after truncate -s 0 and >" "0 0" \
		"$(stat -c %s "$MNT/small/f2" "$MNT/small/f200" | xargs)"
	# twenty of each, as reading status.json may hand on a request itself
	for i in $(seq 1 20); do
		head -c 5000 /dev/urandom >"$MNT/small/cut$i"
	done
	sync "$MNT"/small/cut*
	h1=$(jget handed_on)
	for i in $(seq 1 20); do
		truncate -s 1 "$MNT/small/cut$i"
	done
	h2=$(jget handed_on)
	echo "20 truncations cutting a chunk: $((h2 - h1)) handed on"
	expect_ge "cutting truncations handed on" 20 $((h2 - h1))
	python3 - "$MNT/small" <<'PY'
import os, sys
for i in range(1, 21):
    fd = os.open("%s/buf%d" % (sys.argv[1], i), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"x" * 3000)       # buffered: the file has no chunk yet
    os.ftruncate(fd, 0)
    os.close(fd)
PY
	h3=$(jget handed_on)
	echo "20 truncations of buffered bytes: $((h3 - h2)) handed on"
	expect_ge "truncations of buffered bytes handed on" 20 $((h3 - h2))
	expect_eq "sizes after the cut and the buffered truncation" "1 0" \
		"$(stat -c %s "$MNT/small/cut7" "$MNT/small/buf7" | xargs)"
	echo again >"$MNT/small/f4"
	expect_eq "a truncated file written again" again "$(cat "$MNT/small/f4")"
}
check "truncations that only drop chunks are served on the reading thread" truncate_in_place

# every readdir is a readdirplus: rm -r of a large directory, on a fresh
# mount, takes an UNLINK a name and no LOOKUP (the kernel's adaptive
# choice used readdirplus for the first page only: 8,565 requests here,
# forgets included, against 5,627)
check "3000 files in one directory" sh -c 'mkdir "$1/many" && cd "$1/many" && seq 1 3000 | xargs touch' sh "$MNT"
check_remount "remount"
rm_requests() {
	local n0 n1
	n0=$(( $(jget handed_on) + $(jget served_in_place) ))
	rm -r "$MNT/many"
	n1=$(( $(jget handed_on) + $(jget served_in_place) ))
	echo "rm -r of 3000 files: $((n1 - n0)) requests"
	[ $((n1 - n0)) -lt 7000 ] || { echo "too many requests"; return 1; }
}
check "rm -r of 3000 files on a fresh mount takes no LOOKUP a name (readdirplus)" rm_requests

fuse_finish
