#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/bench/run.sh - the slotfs benchmark (issue 6).  See README.md.
#
#   sudo tests/bench/run.sh [--tiny] [--rounds N] [--size SIZE] [--dir DIR]
#                           [--build BUILDDIR] [--keep] [--wake-here Y|N]
#                           [--halt-poll-ns NS] [--io-uring] [--awake-us US]
#
# One run, on backing images of the same size in the same directory (so on
# the same disk), repeats these rounds interleaved, A B C D, A B C D, ...:
#   A raw:    fio (io_uring, direct) on a raw image file
#   B ext4:   mkfs.ext4 on a loop device with direct I/O over an image
#   C slotfs: mkfs.slotfs on an image, mounted with the FUSE daemon
#             (B and C: dd, fio, small files, a tree extracted with tar,
#             walked with du and removed with rm -rf)
#   D core:   libslot alone (tests/bench/bench_core), no FUSE
# then prints a table of medians [min-max] with the ratios slotfs/ext4 and
# slotfs/raw, and times mounting a store of 100,000 files (after a clean
# unmount and after a kill -9) and fsck.slotfs -f of a full image, each
# beside the time fio takes to read the slot headers that open or check
# has to read.
#
# --wake-here sets the kernel's fuse module parameter wake_here, and
# --halt-poll-ns the guest's haltpoll guest_halt_poll_ns, for the run (on
# kernels that have them), and the old values go back at exit; the table
# says which values the run had.  See README.md, "Where the time goes".
# --io-uring sets the fuse module's enable_uring and mounts slotfs with
# -o io_uring, so that its FUSE requests come through io_uring (checked
# at every mount).  --awake-us mounts slotfs with -o awake_us=US, which
# keeps the CPUs from halting for US after each request (fs/awake.c).
#
# Exit status: 0 when every step ran (timings are never judged), 1 when a
# step failed (a mount, a data check, a tool), 2 on bad arguments, 77 in
# --tiny mode when the machine cannot run it (not root, no /dev/fuse, no
# fio): meson counts 77 as skipped.
set -Eeuo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
TINY=0 ROUNDS= SIZE= DIR=/var/tmp BUILD= KEEP=0 WAKE_HERE= HALT_POLL= IO_URING=
AWAKE_US=
WAKE_PARAM=/sys/module/fuse/parameters/wake_here
URING_PARAM=/sys/module/fuse/parameters/enable_uring
HALT_PARAM=/sys/module/haltpoll/parameters/guest_halt_poll_ns
SAVED_PARAMS=()         # PATH=VALUE of the kernel parameters set for the run

# the synopsis at the top of this file, up to its closing "#" line
usage() {
	sed -n '5,/^#$/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--tiny) TINY=1 ;;
	--rounds) ROUNDS=${2:?}; shift ;;
	--size) SIZE=${2:?}; shift ;;
	--dir) DIR=${2:?}; shift ;;
	--build) BUILD=${2:?}; shift ;;
	--keep) KEEP=1 ;;
	--wake-here) WAKE_HERE=${2:?}; shift ;;
	--halt-poll-ns) HALT_POLL=${2:?}; shift ;;
	--io-uring) IO_URING=Y ;;
	--awake-us) AWAKE_US=${2:?}; shift ;;
	-h|--help) usage ;;
	*) echo "run.sh: unknown argument $1" >&2; usage ;;
	esac
	shift
done

if [ "$TINY" = 1 ]; then
	: "${ROUNDS:=1}" "${SIZE:=256M}"
	DD_MIB=64 NFILES=200 RUNTIME=1 CORE_MIB=64 CORE_SMALL=512 RESTAT=2000
	NCOMMITS=20
	MOUNT_FILES=1000 FSCK_SIZE=$SIZE CRASH_FILES=20 CKPT_SECS=1 NTREE=250
else
	: "${ROUNDS:=3}" "${SIZE:=4G}"
	DD_MIB=1024 NFILES=10000 RUNTIME=10 CORE_MIB=1024 CORE_SMALL=65536 RESTAT=50000
	NCOMMITS=300
	MOUNT_FILES=100000 FSCK_SIZE=4G CRASH_FILES=100 CKPT_SECS=3 NTREE=10000
fi
case $ROUNDS in ''|*[!0-9]*|0) echo "run.sh: --rounds needs a number >= 1" >&2; exit 2 ;; esac
case $WAKE_HERE in ''|Y|N) ;; *) echo "run.sh: --wake-here takes Y or N" >&2; exit 2 ;; esac
case $HALT_POLL in *[!0-9]*) echo "run.sh: --halt-poll-ns takes a number" >&2; exit 2 ;; esac
case $AWAKE_US in *[!0-9]*) echo "run.sh: --awake-us takes a number" >&2; exit 2 ;; esac
# param_need OPTION VALUE PATH: an option given must find its parameter
param_need() {
	if [ -n "$2" ] && [ ! -w "$3" ]; then
		echo "run.sh: $1: this kernel has no $3" >&2
		exit 2
	fi
}
param_need --wake-here "$WAKE_HERE" "$WAKE_PARAM"
param_need --halt-poll-ns "$HALT_POLL" "$HALT_PARAM"
param_need --io-uring "$IO_URING" "$URING_PARAM"

skip_or_fail() {
	echo "run.sh: $*" >&2
	[ "$TINY" = 1 ] && exit 77
	exit 1
}
[ "$(id -u)" -eq 0 ] || skip_or_fail "needs root (loop devices, mounts, drop_caches)"
[ -e /dev/fuse ] || skip_or_fail "no /dev/fuse"
for t in fio python3 losetup mkfs.ext4 fusermount3 mountpoint dd tar; do
	command -v "$t" >/dev/null || skip_or_fail "needs $t"
done

# ---------------------------------------------------------------- build
if [ -z "$BUILD" ]; then
	BUILD=$SRC/build-bench
	echo "== building in $BUILD (release)"
	if [ ! -f "$BUILD/build.ninja" ]; then
		meson setup "$BUILD" "$SRC" -Dbuildtype=release >/dev/null
	fi
	ninja -C "$BUILD" >/dev/null
fi
BUILD=$(cd "$BUILD" && pwd)
SLOTFS=$BUILD/fs/slotfs
MKFS=$BUILD/mkfs/mkfs.slotfs
FSCK=$BUILD/fsck/fsck.slotfs
BCORE=$BUILD/tests/bench/bench_core
BFILES=$BUILD/tests/bench/bench_files
for p in "$SLOTFS" "$MKFS" "$FSCK" "$BCORE" "$BFILES"; do
	[ -x "$p" ] || { echo "run.sh: $p is missing; build first" >&2; exit 1; }
done

# ---------------------------------------------------------------- setup
mkdir -p "$DIR"
W=$(mktemp -d "$DIR/slotfs-bench.XXXXXX")
RES=$W/results          # lines: round workload target value
LOG=$W/log              # what the tools said
: >"$RES"
: >"$LOG"
LOOPS=()
DAEMONS=()
FAILED=0
# the tree rows' source: a tar of NTREE files with their owners, modes
# and times, and the digest of what extracting it must give (tree.py)
TREE_TAR=$W/tree.tar
TREE_DIGEST=$(python3 "$HERE/tree.py" make "$TREE_TAR" "$NTREE")

on_exit() {
	local rc=$? m p i
	set +e
	trap - ERR
	# every mount below the work directory, newest first
	for m in $(awk -v w="$W/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | tac); do
		fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null ||
			umount -l "$m" 2>/dev/null
	done
	for p in "${DAEMONS[@]}"; do
		for ((i = 0; i < 100; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
	done
	for p in "${LOOPS[@]}"; do
		losetup -d "$p" 2>/dev/null
	done
	for ((i = ${#SAVED_PARAMS[@]} - 1; i >= 0; i--)); do
		p=${SAVED_PARAMS[i]}
		echo "${p#*=}" >"${p%%=*}"
	done
	if [ "$rc" -ne 0 ] && [ -s "$LOG" ]; then
		echo "run.sh: failed (exit $rc); last lines of the log:" >&2
		tail -n 30 "$LOG" >&2
	fi
	if [ "$KEEP" = 1 ]; then
		echo "work directory kept: $W" >&2
	else
		rm -rf --one-file-system "$W"
	fi
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'echo "run.sh: step failed: line $LINENO: $BASH_COMMAND" >&2' ERR

# param_set PATH VALUE: a kernel parameter for the run; on_exit restores it
param_set() {
	SAVED_PARAMS+=("$1=$(cat "$1")")
	echo "$2" >"$1"
}
# where a FUSE reply wakes its caller, and how long an idle virtual CPU
# polls before it halts, on kernels that let them be chosen
[ -z "$WAKE_HERE" ] || param_set "$WAKE_PARAM" "$WAKE_HERE"
[ -z "$HALT_POLL" ] || param_set "$HALT_PARAM" "$HALT_POLL"
WAKE_NOW=$(cat "$WAKE_PARAM" 2>/dev/null || echo "(none)")
HALT_NOW=$(cat "$HALT_PARAM" 2>/dev/null || echo "(none)")
# which way slotfs's FUSE requests come (fs/ring.c)
SLOTFS_OPTS=() VIA=/dev/fuse
if [ -n "$IO_URING" ]; then
	param_set "$URING_PARAM" Y
	SLOTFS_OPTS=(-o io_uring) VIA=io_uring
fi
if [ -n "$AWAKE_US" ]; then
	SLOTFS_OPTS+=(-o "awake_us=$AWAKE_US") VIA="$VIA, awake_us=$AWAKE_US"
fi

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print('%.6f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }
# rate N T0 T1: N over the seconds from T0 to T1
rate() { python3 -c "import sys; print('%.0f' % (float(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2]))))" "$1" "$2" "$3"; }
ratio() { python3 -c "import sys; print('%.3f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# record ROUND WORKLOAD TARGET VALUE
record() {
	echo "$*" >>"$RES"
	printf '  %-14s %-8s %s\n' "$2" "$3" "$4"
}

# new_image PATH SIZE: a fresh image, so every round starts alike.  Its
# blocks are allocated, as a disk's are: a write into a hole of a sparse
# image allocates in the host file system, which io_uring does on a worker
# thread (10,000 small-file creates ran about 10% slower on sparse images)
new_image() {
	rm -f "$1"
	fallocate -l "$2" "$1" 2>/dev/null || truncate -s "$2" "$1"
}

# fio_run JSON_OUT FIO_ARGS...: io_uring and O_DIRECT always
fio_run() {
	local out=$1
	shift
	fio --output-format=json --output="$out" --ioengine=io_uring \
		--direct=1 "$@" >>"$LOG" 2>&1 || {
		echo "fio $* failed" >>"$LOG"
		return 1
	}
}

# fio_get JSON rw FIELD: FIELD is bw (MB/s), iops, or secs (io time)
fio_get() {
	python3 - "$@" <<'PY'
import json, sys
path, rw, field = sys.argv[1:4]
with open(path) as f:
    text = f.read()
# fio may print notes before the JSON
j = json.loads(text[text.index("{"):])
r = j["jobs"][0][rw]
if field == "bw":
    print("%.1f" % (r["bw_bytes"] / 1e6))
elif field == "iops":
    print("%.0f" % r["iops"])
else:
    print("%.6f" % (r["io_bytes"] / r["bw_bytes"]))
PY
}

# core_get FILE NAME KEY: the value of KEY= on the line "core NAME ..."
core_get() {
	awk -v n="$2" -v k="$3=" '$1 == "core" && $2 == n {
		for (i = 3; i <= NF; i++) if (index($i, k) == 1) print substr($i, length(k) + 1) }' "$1"
}
core_get1() {
	awk -v k="$2=" '$1 == "core" { for (i = 2; i <= NF; i++)
		if (index($i, k) == 1) print substr($i, length(k) + 1) }' "$1"
}
files_get() {
	awk -v n="$2" '$1 == "files" && $2 == n { sub("ops=", "", $3); print $3 }' "$1"
}

is_mounted() {
	awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo
}

# wait_mounted MNT PID: until the mount point answers, or the daemon died
wait_mounted() {
	local i
	for ((i = 0; i < 1200; i++)); do
		mountpoint -q "$1" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# holder IMAGE: pid of the process that holds IMAGE open (a daemonized
# slotfs), empty if none.  One python3 rather than a readlink per fd.
holder() {
	python3 - "$1" <<'PY'
import os, sys
real = os.path.realpath(sys.argv[1])
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        fds = os.listdir("/proc/%s/fd" % pid)
    except OSError:
        continue
    for fd in fds:
        try:
            if os.readlink("/proc/%s/fd/%s" % (pid, fd)) == real:
                print(pid)
                sys.exit(0)
        except OSError:
            pass
PY
}

wait_gone() {
	local i
	for ((i = 0; i < 1200; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	echo "process $1 still running 60 s after unmount" >>"$LOG"
	return 1
}

# unmount_fuse MNT PID: clean unmount, then wait for the daemon to exit
unmount_fuse() {
	local i
	for ((i = 0; i < 20; i++)); do
		fusermount3 -u "$1" 2>>"$LOG" && break
		sleep 0.5
	done
	! is_mounted "$1" || { echo "cannot unmount $1" >>"$LOG"; return 1; }
	wait_gone "$2"
}

# ---------------------------------------------------------------- rounds
# rand_writes FILE TARGET ROUND: 4 KiB random writes over FILE, one at a
# time, ending with an fsync, and with an fsync after every 32 (as a
# database's pages): in place on ext4 and the raw image, a rewrite of
# the 1 MiB chunk on slotfs
rand_writes() {
	local f=$1 tgt=$2 r=$3 fs
	for fs in 0 32; do
		fio_run "$W/fio.json" --name=rw --filename="$f" --rw=randwrite \
			--bs=4k --iodepth=1 --size=${DD_MIB}M --runtime="$RUNTIME" \
			--time_based --fsync=$fs --end_fsync=1
		record "$r" rand4kw_fsync$fs "$tgt" "$(fio_get "$W/fio.json" write iops)"
	done
}

# file_workloads MNT TARGET ROUND: the same file workloads on ext4 and slotfs
file_workloads() {
	local mnt=$1 tgt=$2 r=$3 t0 t1 secs size
	drop_caches
	t0=$(now)
	dd if=/dev/zero of="$mnt/big" bs=1M count="$DD_MIB" conv=fsync status=none
	t1=$(now)
	secs=$(elapsed "$t0" "$t1")
	record "$r" seq_write "$tgt" "$(python3 -c "print('%.1f' % ($DD_MIB * 1048576 / 1e6 / $secs))")"
	size=$(stat -c %s "$mnt/big")
	[ "$size" -eq $((DD_MIB * 1048576)) ] || { echo "$mnt/big has $size bytes" >>"$LOG"; return 1; }

	drop_caches
	t0=$(now)
	dd if="$mnt/big" of=/dev/null bs=1M status=none
	t1=$(now)
	secs=$(elapsed "$t0" "$t1")
	record "$r" seq_read "$tgt" "$(python3 -c "print('%.1f' % ($DD_MIB * 1048576 / 1e6 / $secs))")"

	for qd in 1 32; do
		drop_caches
		fio_run "$W/fio.json" --name=rr --filename="$mnt/big" --rw=randread \
			--bs=4k --iodepth=$qd --size=${DD_MIB}M --runtime="$RUNTIME" \
			--time_based
		record "$r" rand4k_qd$qd "$tgt" "$(fio_get "$W/fio.json" read iops)"
	done
	rand_writes "$mnt/big" "$tgt" "$r"

	# cp copies a whole file with copy_file_range(2); sync FILE fsyncs
	drop_caches
	t0=$(now)
	cp "$mnt/big" "$mnt/copy"
	sync "$mnt/copy"
	t1=$(now)
	secs=$(elapsed "$t0" "$t1")
	record "$r" copy "$tgt" "$(python3 -c "print('%.1f' % ($DD_MIB * 1048576 / 1e6 / $secs))")"
	size=$(stat -c %s "$mnt/copy")
	[ "$size" -eq $((DD_MIB * 1048576)) ] || { echo "$mnt/copy has $size bytes" >>"$LOG"; return 1; }
	rm -f "$mnt/copy"

	drop_caches
	"$BFILES" create "$mnt/small" "$NFILES" 4096 >"$W/files.out"
	record "$r" create "$tgt" "$(files_get "$W/files.out" create)"
	drop_caches
	"$BFILES" stat "$mnt/small" "$NFILES" 4096 >"$W/files.out"
	record "$r" stat "$tgt" "$(files_get "$W/files.out" stat)"
	drop_caches
	"$BFILES" read "$mnt/small" "$NFILES" 4096 >"$W/files.out"
	record "$r" read "$tgt" "$(files_get "$W/files.out" read)"
	# a database beside those files: each commit fsyncs (and, by mode,
	# makes and removes or truncates its journal file)
	for mode in DELETE TRUNCATE WAL; do
		python3 "$HERE/commits.py" "$mnt" "$mode" "$NCOMMITS" >"$W/commits.out"
		record "$r" "commit_${mode,,}" "$tgt" \
			"$(awk '$1 == "commits" { sub("ops=", "", $3); print $3 }' "$W/commits.out")"
	done
	"$BFILES" delete "$mnt/small" "$NFILES" >"$W/files.out"
	record "$r" delete "$tgt" "$(files_get "$W/files.out" delete)"
	tree_workloads "$mnt" "$tgt" "$r"
	rm -f "$mnt/big"
	sync
}

# tree_workloads MNT TARGET ROUND: a tree as tar, cp -a and rsync make it
# (each file's owner, mode and times set after its bytes), walked by du
# and removed by rm -rf, each cold; what was extracted must be the tree
# tar holds, bytes, owners, modes and times
tree_workloads() {
	local mnt=$1 tgt=$2 r=$3 t0 t1 got
	drop_caches
	cat "$TREE_TAR" >/dev/null      # the source in memory, for both
	t0=$(now)
	mkdir "$mnt/tree"
	tar -x --numeric-owner -f "$TREE_TAR" -C "$mnt/tree"
	# syncfs for ext4; fsync of the directories for slotfs, which
	# syncfs does not reach (every file's data and every name)
	sync -f "$mnt/tree"
	sync "$mnt/tree" "$mnt"
	t1=$(now)
	record "$r" tree_tar "$tgt" "$(rate "$NTREE" "$t0" "$t1")"
	drop_caches
	t0=$(now)
	du -s "$mnt/tree" >/dev/null
	t1=$(now)
	record "$r" tree_du "$tgt" "$(rate "$NTREE" "$t0" "$t1")"
	got=$(python3 "$HERE/tree.py" digest "$mnt/tree")
	[ "$got" = "$TREE_DIGEST" ] ||
		{ echo "the tree extracted on $tgt differs from the tar's" | tee -a "$LOG" >&2; return 1; }
	drop_caches
	t0=$(now)
	rm -rf "$mnt/tree"
	sync -f "$mnt"
	sync "$mnt"
	t1=$(now)
	record "$r" tree_rm "$tgt" "$(rate "$NTREE" "$t0" "$t1")"
}

round_raw() {
	local r=$1 img=$W/raw.img
	# the write again, ending with an fsync: what core put_many +
	# slot_sync does (and dd conv=fsync on the file systems)
	new_image "$img" "$SIZE"
	fio_run "$W/fio.json" --name=sws --filename="$img" --rw=write --bs=1M \
		--iodepth=32 --size=${DD_MIB}M --end_fsync=1
	record "$r" seq_write_sync raw "$(fio_get "$W/fio.json" write bw)"
	new_image "$img" "$SIZE"
	fio_run "$W/fio.json" --name=sw --filename="$img" --rw=write --bs=1M \
		--iodepth=32 --size=${DD_MIB}M
	record "$r" seq_write raw "$(fio_get "$W/fio.json" write bw)"
	drop_caches
	fio_run "$W/fio.json" --name=sr --filename="$img" --rw=read --bs=1M \
		--iodepth=32 --size=${DD_MIB}M
	record "$r" seq_read raw "$(fio_get "$W/fio.json" read bw)"
	for qd in 1 32; do
		drop_caches
		fio_run "$W/fio.json" --name=rr --filename="$img" --rw=randread \
			--bs=4k --iodepth=$qd --size=${DD_MIB}M --runtime="$RUNTIME" \
			--time_based
		record "$r" rand4k_qd$qd raw "$(fio_get "$W/fio.json" read iops)"
	done
	rand_writes "$img" raw "$r"
	rm -f "$img"
}

round_ext4() {
	local r=$1 img=$W/ext4.img mnt=$W/mnt-ext4 loop
	new_image "$img" "$SIZE"
	loop=$(losetup --direct-io=on -f --show "$img")
	LOOPS+=("$loop")
	# initialise inode tables and journal now, not in the background
	# during the measurements
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0,nodiscard \
		"$loop" >>"$LOG" 2>&1
	mkdir -p "$mnt"
	mount -t ext4 "$loop" "$mnt"
	file_workloads "$mnt" ext4 "$r"
	umount "$mnt"
	losetup -d "$loop"
	LOOPS=("${LOOPS[@]/$loop/}")
	rm -f "$img"
}

# slotfs_up IMAGE MNT [OPTION...]: a foreground daemon, mounted; its pid
# in SLOTFS_PID
slotfs_up() {
	local img=$1 mnt=$2
	shift 2
	"$SLOTFS" -f "${SLOTFS_OPTS[@]}" "$@" "$img" "$mnt" >>"$LOG" 2>&1 </dev/null &
	SLOTFS_PID=$!
	DAEMONS+=("$SLOTFS_PID")
	wait_mounted "$mnt" "$SLOTFS_PID" || { echo "slotfs did not mount $img" >>"$LOG"; return 1; }
	via_check "$mnt"
}

# via_check MNT: with --io-uring, the mount must have taken the ring
via_check() {
	[ -z "$IO_URING" ] || grep -q '"io_uring":1' "$1/.slotfs/status.json" ||
		{ echo "slotfs on $1 does not take FUSE requests through io_uring" | tee -a "$LOG" >&2; return 1; }
}

# slotfs_down MNT PID: unmount; the daemon must exit with status 0
slotfs_down() {
	unmount_fuse "$1" "$2"
	wait "$2" || { echo "slotfs exited with status $?" >>"$LOG"; return 1; }
}

round_slotfs() {
	local r=$1 img=$W/slotfs.img mnt=$W/mnt-slotfs hwm
	new_image "$img" "$SIZE"
	# the image keeps its allocated blocks, as ext4's does (nodiscard)
	"$MKFS" -q -f -E nodiscard "$img" >>"$LOG" 2>&1
	mkdir -p "$mnt"
	slotfs_up "$img" "$mnt" || return 1
	file_workloads "$mnt" slotfs "$r"
	hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$SLOTFS_PID/status")
	record "$r" daemon_rss_mib slotfs "$(python3 -c "print('%.1f' % ($hwm / 1024))")"
	slotfs_down "$mnt" "$SLOTFS_PID" || return 1
	fuse_round_trip "$r" "$img" "$mnt"
	rm -f "$img"
}

# fuse_round_trip ROUND IMAGE MNT: the time of one FUSE request on this
# machine, the floor under every small-file workload: with attr_timeout=0
# every fstat() of an open file is one GETATTR sent to the daemon and answered
fuse_round_trip() {
	local r=$1 img=$2 mnt=$3 ops
	slotfs_up "$img" "$mnt" -o attr_timeout=0 || return 1
	: >"$mnt/one"
	ops=$("$BFILES" restat "$mnt/one" "$RESTAT" | awk '{ sub("ops=", "", $3); print $3 }')
	record "$r" fuse_rtt_us slotfs "$(python3 -c "print('%.1f' % (1e6 / $ops))")"
	slotfs_down "$mnt" "$SLOTFS_PID"
}

round_core() {
	local r=$1 img=$W/core.img out=$W/core.out q v
	new_image "$img" "$SIZE"
	drop_caches
	"$BCORE" run "$img" -t "$CORE_MIB" -n "$CORE_SMALL" -r "$RUNTIME" \
		-b 32 >"$out" 2>>"$LOG"
	cat "$out" >>"$LOG"
	record "$r" core_put_1m slotfs "$(core_get "$out" put_many_1m MBps)"
	record "$r" core_put_1m_2f slotfs "$(core_get "$out" put_many_1m_2inflight MBps)"
	record "$r" core_get_1m slotfs "$(core_get "$out" get_many_1m MBps)"
	record "$r" core_get_1m_2f slotfs "$(core_get "$out" get_many_1m_2inflight MBps)"
	record "$r" core_get_4k slotfs "$(core_get "$out" get_many_4k_rand IOPS)"
	record "$r" core_get_4k_2f slotfs "$(core_get "$out" get_many_4k_rand_2inflight IOPS)"
	record "$r" lock_per_batch slotfs "$(core_get1 "$out" lock_per_batch)"
	# only where the image's disk has a /sys/dev/block stat (not tmpfs)
	for q in put get; do
		v=$(core_get "$out" ${q}_many_1m reqs_per_mib)
		[ -z "$v" ] || record "$r" core_${q}_1m_reqs slotfs "$v"
	done
	# again, 128 a call: the engine keeps its 32 in flight and drains
	# once a call, not once per 32 objects
	new_image "$img" "$SIZE"
	drop_caches
	"$BCORE" run "$img" -t "$CORE_MIB" -n "$CORE_SMALL" -r "$RUNTIME" \
		-b 128 -1 >"$out" 2>>"$LOG"
	cat "$out" >>"$LOG"
	record "$r" core_put_1m_b128 slotfs "$(core_get "$out" put_many_1m MBps)"
	record "$r" core_get_1m_b128 slotfs "$(core_get "$out" get_many_1m MBps)"
	record "$r" core_get_4k_b128 slotfs "$(core_get "$out" get_many_4k_rand IOPS)"
	# 32 a call again, the caller's buffers in huge pages (-H)
	new_image "$img" "$SIZE"
	drop_caches
	"$BCORE" run "$img" -t "$CORE_MIB" -n 1 -r 1 -b 32 -H -1 >"$out" 2>>"$LOG"
	cat "$out" >>"$LOG"
	record "$r" core_put_1m_huge slotfs "$(core_get "$out" put_many_1m MBps)"
	record "$r" core_get_1m_huge slotfs "$(core_get "$out" get_many_1m MBps)"
	rm -f "$img"
}

echo "== slotfs benchmark: $ROUNDS round(s), images of $SIZE in $W"
echo "   (fio $(fio --version), kernel $(uname -r), $(nproc) CPUs, fuse wake_here $WAKE_NOW," \
	"slotfs's FUSE requests through $VIA)"
# an idle CPU that halts at once makes every FUSE reply wake it through
# the host (README.md, "Where the time goes")
echo "   (cpuidle $(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo -)," \
	"guest_halt_poll_ns $HALT_NOW)"
for ((r = 1; r <= ROUNDS; r++)); do
	echo "-- [${SECONDS}s] round $r/$ROUNDS: raw"
	round_raw "$r"
	echo "-- [${SECONDS}s] round $r/$ROUNDS: ext4"
	round_ext4 "$r"
	echo "-- [${SECONDS}s] round $r/$ROUNDS: slotfs"
	round_slotfs "$r"
	echo "-- [${SECONDS}s] round $r/$ROUNDS: core"
	round_core "$r"
done

# ---------------------------------------------------------------- mount
# hdr_fio IMAGE ROUND TAG: time fio to read the headers bench_core lists
hdr_fio() {
	local img=$1 r=$2 tag=$3 out
	out=$("$BCORE" hdrlog "$img" "$W/hdr.iolog")
	echo "$out" >>"$LOG"
	record "$r" "${tag}_headers" - "$(echo "$out" | core_get1 /dev/stdin headers)"
	drop_caches
	fio_run "$W/fio.json" --name=hdr --read_iolog="$W/hdr.iolog" \
		--replay_no_stall=1 --iodepth=32
	record "$r" "${tag}_fio_s" - "$(fio_get "$W/fio.json" read secs)"
}

echo "-- [${SECONDS}s] mount time: a store of $MOUNT_FILES files of 4 KiB"
img=$W/mount.img mnt=$W/mnt-mount
new_image "$img" "$SIZE"
"$BCORE" populate "$img" -n "$MOUNT_FILES" >>"$LOG" 2>&1
# what the index of those files takes in memory (names of 8 bytes)
"$BCORE" memory "$img" >"$W/memory.txt" 2>>"$LOG"
cat "$W/memory.txt" >>"$LOG"
v=$(core_get1 "$W/memory.txt" index_bytes_per_file)
[ -z "$v" ] || record 1 index_bytes - "$v"
mkdir -p "$mnt"
# timed_mount ROUND TAG: drop caches, time the daemon (it forks once the
# mount is up) until the mount point answers; its pid in MOUNT_PID
timed_mount() {
	local t0 t1
	drop_caches
	t0=$(now)
	"$SLOTFS" "${SLOTFS_OPTS[@]}" "$img" "$mnt" >>"$LOG" 2>&1 </dev/null
	until mountpoint -q "$mnt"; do sleep 0.001; done
	t1=$(now)
	via_check "$mnt" || exit 1
	record "$1" "$2" - "$(elapsed "$t0" "$t1")"
	MOUNT_PID=$(holder "$img")
	[ -n "$MOUNT_PID" ] || { echo "no slotfs daemon holds $img" >>"$LOG"; exit 1; }
	DAEMONS+=("$MOUNT_PID")
}

for ((r = 1; r <= ROUNDS; r++)); do
	# after a clean unmount (populate closed the store cleanly)
	timed_mount "$r" mount_clean_s
	pid=$MOUNT_PID
	hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status")
	record "$r" mount_rss_mib - "$(python3 -c "print('%.1f' % ($hwm / 1024))")"
	# write something, then crash
	"$BFILES" create "$mnt/crash$r" "$CRASH_FILES" 4096 >>"$LOG"
	kill -9 "$pid"
	wait_gone "$pid"
	fusermount3 -u "$mnt" 2>>"$LOG" || fusermount3 -u -z "$mnt"
	if [ "$r" -eq 1 ]; then
		hdr_fio "$img" "$r" mount
	fi
	timed_mount "$r" mount_crash_s
	pid=$MOUNT_PID
	# what was synced before the crash must be there
	"$BFILES" read "$mnt/crash$r" "$CRASH_FILES" 4096 >>"$LOG"
	unmount_fuse "$mnt" "$pid"
done
# what a writer waits while a checkpoint copies the index of those files
# (core: one thread's puts, checkpoints forced every half second)
echo "-- [${SECONDS}s] checkpoint stall: the same store"
if "$BCORE" ckpt "$img" -r "$CKPT_SECS" >"$W/ckpt.txt" 2>>"$LOG"; then
	cat "$W/ckpt.txt" >>"$LOG"
	for k in lock_ms ckpt_ms put_max_ms base_put_max_ms; do
		record 1 "ckpt_$k" - "$(core_get1 "$W/ckpt.txt" "$k")"
	done
else
	echo "bench_core ckpt failed (see $LOG)" >&2
	FAILED=1
fi
rm -f "$img"

# ---------------------------------------------------------------- fsck
echo "-- [${SECONDS}s] fsck time: a full image of $FSCK_SIZE"
img=$W/fsck.img
new_image "$img" "$FSCK_SIZE"
"$BCORE" fill "$img" >>"$LOG" 2>&1
hdr_fio "$img" 1 fsck
for ((r = 1; r <= ROUNDS; r++)); do
	drop_caches
	t0=$(now)
	rc=0
	"$FSCK" -f -n "$img" >>"$LOG" 2>&1 || rc=$?
	t1=$(now)
	if [ "$rc" -ne 0 ]; then
		echo "fsck.slotfs -f -n exited with $rc on a clean full image" | tee -a "$LOG" >&2
		FAILED=1
	fi
	record "$r" fsck_s - "$(elapsed "$t0" "$t1")"
	if [ "$r" -gt 1 ]; then
		hdr_fio "$img" "$r" fsck
	fi
done
rm -f "$img"

# ---------------------------------------------------------------- table
echo
python3 - "$RES" "$ROUNDS" "$SIZE" "$DD_MIB" "$NFILES" "$MOUNT_FILES" "$FSCK_SIZE" "$WAKE_NOW" "$HALT_NOW" "$VIA" "$NTREE" <<'PY'
import statistics, sys
from collections import defaultdict

res, rounds, size, dd_mib, nfiles, mount_files, fsck_size, wake, halt, via, ntree = sys.argv[1:12]
vals = defaultdict(list)
for line in open(res):
    r, w, t, v = line.split()
    vals[(w, t)].append(float(v))

def stats(w, t):
    v = vals.get((w, t))
    if not v:
        return None
    return statistics.median(v), min(v), max(v)

def fmt(x):
    if x >= 1000:
        return "%.0f" % x
    if x >= 10:
        return "%.1f" % x
    if x >= 0.1:
        return "%.2f" % x
    return "%.4f" % x

def cell(s):
    if s is None:
        return "-"
    m, lo, hi = s
    if rounds == "1":
        return fmt(m)
    return "%s [%s-%s]" % (fmt(m), fmt(lo), fmt(hi))

def rat(a, b):
    if a is None or b is None or b[0] == 0:
        return "-"
    return "%.2f" % (a[0] / b[0])

rows = [
    ("seq write 1 MiB (raw: fio qd32; fs: dd %s MiB conv=fsync)" % dd_mib,
     "MB/s", "seq_write", "seq_write", "seq_write"),
    ("seq read 1 MiB (raw: fio qd32; fs: dd, cold)", "MB/s",
     "seq_read", "seq_read", "seq_read"),
    ("rand read 4 KiB qd1 (fio)", "IOPS", "rand4k_qd1", "rand4k_qd1", "rand4k_qd1"),
    ("rand read 4 KiB qd32 (fio)", "IOPS", "rand4k_qd32", "rand4k_qd32", "rand4k_qd32"),
    ("rand write 4 KiB qd1, fsync at the end (fio)", "IOPS", "rand4kw_fsync0", "rand4kw_fsync0", "rand4kw_fsync0"),
    ("rand write 4 KiB qd1, fsync every 32 (fio)", "IOPS", "rand4kw_fsync32", "rand4kw_fsync32", "rand4kw_fsync32"),
    ("copy it whole (cp: copy_file_range) + fsync, cold", "MB/s", None, "copy", "copy"),
    ("create %s x 4 KiB + sync" % nfiles, "files/s", None, "create", "create"),
    ("stat all, cold", "files/s", None, "stat", "stat"),
    ("read all, cold", "files/s", None, "read", "read"),
    ("SQLite commit beside them, DELETE journal, synchronous=FULL", "commits/s", None, "commit_delete", "commit_delete"),
    ("SQLite commit, TRUNCATE journal", "commits/s", None, "commit_truncate", "commit_truncate"),
    ("SQLite commit, WAL", "commits/s", None, "commit_wal", "commit_wal"),
    ("delete all + sync", "files/s", None, "delete", "delete"),
    ("tree of %s files: tar -x (owners, modes, times) + sync" % ntree, "files/s", None, "tree_tar", "tree_tar"),
    ("tree: du -s, cold", "files/s", None, "tree_du", "tree_du"),
    ("tree: rm -rf, cold, + sync", "files/s", None, "tree_rm", "tree_rm"),
    ("core put_many 1 MiB, 32/call, + slot_sync (raw: fio write + fsync)", "MB/s", "seq_write_sync", None, "core_put_1m"),
    ("core put_many 1 MiB, 32/call, 2 calls in flight, + slot_sync (raw: same)", "MB/s", "seq_write_sync", None, "core_put_1m_2f"),
    ("core put_many 1 MiB, 128/call, + slot_sync (raw: same)", "MB/s", "seq_write_sync", None, "core_put_1m_b128"),
    ("core put_many 1 MiB, 32/call, + slot_sync, buffers in huge pages", "MB/s", "seq_write_sync", None, "core_put_1m_huge"),
    ("core get_many 1 MiB, 32/call (raw: fio seq read)", "MB/s", "seq_read", None, "core_get_1m"),
    ("core get_many 1 MiB, 32/call, 2 calls in flight (raw: same)", "MB/s", "seq_read", None, "core_get_1m_2f"),
    ("core get_many 1 MiB, 128/call (raw: same)", "MB/s", "seq_read", None, "core_get_1m_b128"),
    ("core get_many 1 MiB, 32/call, buffers in huge pages", "MB/s", "seq_read", None, "core_get_1m_huge"),
    ("core get_many 4 KiB random, 32/call (raw: fio qd32)", "IOPS", "rand4k_qd32", None, "core_get_4k"),
    ("core get_many 4 KiB random, 32/call, 2 calls in flight (raw: same)", "IOPS", "rand4k_qd32", None, "core_get_4k_2f"),
    ("core get_many 4 KiB random, 128/call (raw: same)", "IOPS", "rand4k_qd32", None, "core_get_4k_b128"),
]
table = [("workload", "unit", "raw fio", "ext4", "slotfs", "slotfs/ext4", "slotfs/raw")]
for name, unit, rw, ew, sw in rows:
    rs = stats(rw, "raw") if rw else None
    es = stats(ew, "ext4") if ew else None
    ss = stats(sw, "slotfs")
    table.append((name, unit, cell(rs), cell(es), cell(ss), rat(ss, es), rat(ss, rs)))
widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
print("slotfs benchmark: %s round(s), images of %s, fuse wake_here %s, "
      "guest_halt_poll_ns %s, slotfs through %s; median [min-max]; higher "
      "is better, ratios of medians" % (rounds, size, wake, halt, via))
for i, row in enumerate(table):
    print(" | ".join(c.ljust(widths[k]) if k < 2 else c.rjust(widths[k])
                     for k, c in enumerate(row)).rstrip())
    if i == 0:
        print("-+-".join("-" * w for w in widths))
print()
print("slotfs daemon peak RSS (VmHWM), file workloads: %s MiB" % cell(stats("daemon_rss_mib", "slotfs")))
print("store lock acquisitions per put_many batch:      %s" % cell(stats("lock_per_batch", "slotfs")))
# a 1 MiB buffer of 4 KiB pages scattered in memory can be more segments
# than the disk takes in one request; then it goes as two
if stats("core_get_1m_reqs", "slotfs"):
    print("device requests per MiB, core 1 MiB 32/call from 4 KiB pages: put %s, get %s"
          % (cell(stats("core_put_1m_reqs", "slotfs")), cell(stats("core_get_1m_reqs", "slotfs"))))
rtt = stats("fuse_rtt_us", "slotfs")
if rtt:
    # FUSE requests each file workload costs (seen with slotfs -d)
    # (the daemon checks permissions, so no GETATTR of the directory
    # follows each create and unlink: fs/perm.c)
    need = [("create", 4, "LOOKUP, CREATE, WRITE, RELEASE"),
            ("stat", 1, "LOOKUP"),
            ("read", 4, "LOOKUP, OPEN, READ, RELEASE"),
            ("delete", 1, "UNLINK; LOOKUP too if the name is older than entry_timeout")]
    print("one FUSE round trip (fstat, attr_timeout=0):      %s us" % cell(rtt))
    print("  so, at one round trip per request, at most (files/s):")
    for w, k, what in need:
        print("    %-6s %2d requests (%s): %.0f" % (w, k, what, 1e6 / (k * rtt[0])))
print()

def secs(w):
    return cell(stats(w, "-"))

hm = stats("mount_headers", "-")
hf = stats("fsck_headers", "-")
print("mount, store of %s files: clean %s s, after kill -9 (recovery scan) %s s;"
      % (mount_files, secs("mount_clean_s"), secs("mount_crash_s")))
print("  fio (io_uring, direct, qd32) reading the %s slot and region headers the scan reads: %s s"
      % (int(hm[0]) if hm else "?", secs("mount_fio_s")))
print("  (a clean mount reads the checkpoint, no slot header); daemon peak RSS after mount %s MiB"
      % secs("mount_rss_mib"))
print("checkpoint of that store (core; forced every 0.5 s beside one thread's 4 KiB puts, median of its checkpoints):")
print("  store lock held %s ms (writers wait), whole checkpoint %s ms; longest put %s ms, %s ms with no checkpoint"
      % (secs("ckpt_lock_ms"), secs("ckpt_ckpt_ms"), secs("ckpt_put_max_ms"), secs("ckpt_base_put_max_ms")))
print("index memory of those files (heap after open less before, over the files; 8-byte names): %s bytes a file"
      % secs("index_bytes"))
print("fsck.slotfs -f -n, full %s image: %s s;" % (fsck_size, secs("fsck_s")))
print("  fio (io_uring, direct, qd32) reading its %s slot and region headers: %s s"
      % (int(hf[0]) if hf else "?", secs("fsck_fio_s")))
PY

if [ "$FAILED" -ne 0 ]; then
	echo "run.sh: a step failed (see above)" >&2
	exit 1
fi
exit 0
