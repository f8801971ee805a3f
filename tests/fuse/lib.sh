# SPDX-License-Identifier: MIT
# tests/fuse/lib.sh - mount helpers for the FUSE integration tests.
#
# Each test makes its own image in a fresh work directory, mounts it for
# real with slotfs, and always unmounts at exit, even when a case fails or
# the script is killed.  The daemon runs in the foreground (slotfs -f) in
# the background of the script, so the script knows its pid, its log and
# its exit status; mount_daemonized tests the ordinary daemonizing start.
#
#   fuse_setup [SIZE]     new image of SIZE (default 256M), formatted, mounted
#   new_image IMG [SIZE]  truncate and mkfs.slotfs -q
#   mount_fs IMG MNT [OPT...]       slotfs -f OPT... IMG MNT &, wait for it
#                         (run through "${T_MOUNT_AS[@]}" when that is set)
#   mount_daemonized IMG MNT [OPT...]
#   unmount_fs MNT        fusermount3 -u, wait for the daemon; fails if the
#                         daemon exited non-zero or a sanitizer spoke
#   kill_fs MNT           kill -9 the daemon, detach the dead mount
#   check_here NAME CMD...   a case whose CMD runs in this shell (for the
#                         helpers above, which track the daemons they start)
#   check_unmount NAME MNT, check_remount NAME   the same, for unmount_fs
#                         and for an unmount and mount of $IMG at $MNT
#   fuse_finish           check_unmount, fsck.slotfs -f, t_done
#
# Mount helpers must not run inside check (a subshell): use check_here.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

[ "$(id -u)" -eq 0 ] || t_skip_all "FUSE tests run as root"
[ -e /dev/fuse ] || t_skip_all "no /dev/fuse"
t_need slotfs mkfs.slotfs fsck.slotfs fusermount3

# SLOTFS_TEST_FUSE_VIA=uring mounts with -o io_uring, which needs the
# kernel to offer FUSE over io_uring (the fuse module's enable_uring,
# which scripts/test.sh sets for its run), and checks that every mount
# took it.  Otherwise requests go through /dev/fuse.
T_VIA=${SLOTFS_TEST_FUSE_VIA:-dev}
T_VIA_OPTS=()
if [ "$T_VIA" = uring ]; then
	[ "$(cat /sys/module/fuse/parameters/enable_uring 2>/dev/null)" = Y ] ||
		t_skip_all "the kernel does not offer FUSE over io_uring (fuse enable_uring)"
	T_VIA_OPTS=(-o io_uring)
fi

IMG=$W/img
MNT=$W/mnt
T_MOUNT_AS=()
declare -A T_PID_OF=() T_LOG_OF=() T_IMG_OF=()
T_NLOG=0

is_mounted() {
	awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo
}

# store_objects MNT: the store's count of inodes (status.json).
store_objects() {
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["object_count"])' \
		"$1/.slotfs/status.json"
}

# poll TRIES CMD [ARG...]: CMD every 0.1 s until it succeeds, TRIES times
# at most; its status the last time.
poll() {
	local tries=$1 i
	shift
	for ((i = 1; i < tries; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

_objects_at_most() { [ "$(store_objects "$1")" -le "$2" ]; }

# forgotten MNT COUNT: wait (5 s at most) until the store holds COUNT
# inodes or fewer.  An unlinked file's slots are freed once the kernel
# forgets its inode, which it tells slotfs a moment after the unlink.
forgotten() {
	poll 50 _objects_at_most "$@" ||
		{ echo "the store still holds $(store_objects "$1") inodes, not $2"; return 1; }
}

_fuse_cleanup() {
	local m p i
	# every mount below the work directory, whoever made it
	for m in $(awk -v w="$W/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo); do
		echo "# cleanup: unmounting $m"
		fusermount3 -u "$m" 2>/dev/null ||
			fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m"
	done
	for p in "${T_PID_OF[@]}"; do
		for ((i = 0; i < 100; i++)); do
			_alive "$p" || break
			sleep 0.1
		done
		if _alive "$p"; then
			echo "# cleanup: killing slotfs $p"
			kill -9 "$p" 2>/dev/null
		fi
	done
	# a daemonized slotfs: wait until it has let go of its image
	for p in "${T_IMG_OF[@]}"; do
		wait_image_free "$p" >/dev/null
	done
}
at_exit _fuse_cleanup

# Is pid running (and not a zombie)?
_alive() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# Does any process hold the file open?  (A daemonized slotfs does.)
image_in_use() {
	local real
	real=$(readlink -f "$1")
	[ -n "$(find /proc/[0-9]*/fd -maxdepth 1 -lname "$real" -print -quit 2>/dev/null)" ]
}

wait_image_free() {
	local i
	for ((i = 0; i < 600; i++)); do
		image_in_use "$1" || return 0
		sleep 0.1
	done
	echo "$1 is still open 60 s after unmount"
	return 1
}

new_image() {
	local img=$1 size=${2:-256M}
	rm -f "$img"
	truncate -s "$size" "$img"
	mkfs.slotfs -q "$img"
}

_wait_mounted() {
	local mnt=$1 pid=${2:-} i
	for ((i = 0; i < 300; i++)); do
		is_mounted "$mnt" && return 0
		if [ -n "$pid" ] && ! _alive "$pid"; then
			return 1
		fi
		sleep 0.1
	done
	return 1
}

# mount_fs IMG MNT [OPT...]: slotfs -f in the background; the log is
# T_LOG_OF[MNT] (and T_DAEMON_LOG, which failed cases print).
mount_fs() {
	local img=$1 mnt=$2 pid log
	shift 2
	mkdir -p "$mnt"
	T_NLOG=$((T_NLOG + 1))
	log=$W/slotfs.$T_NLOG.log
	"${T_MOUNT_AS[@]}" slotfs -f "${T_VIA_OPTS[@]}" "$@" "$img" "$mnt" \
		>"$log" 2>&1 </dev/null &
	pid=$!
	T_PID_OF[$mnt]=$pid
	T_LOG_OF[$mnt]=$log
	T_IMG_OF[$mnt]=$img
	T_DAEMON_LOG=$log
	if ! _wait_mounted "$mnt" "$pid"; then
		echo "# slotfs -f $* $img $mnt did not mount; its log:"
		sed 's/^/#   /' "$log"
		return 1
	fi
	_via_check "$mnt" "$@"
}

# _via_check MNT OPT...: under SLOTFS_TEST_FUSE_VIA=uring, that the mount
# took the ring (unless OPT refused it, or another user's mount hides its
# status from us).
_via_check() {
	local mnt=$1 st
	shift
	[ "$T_VIA" = uring ] && [ ${#T_MOUNT_AS[@]} -eq 0 ] || return 0
	case " $* " in *io_uring=0*) return 0 ;; esac
	st=$(cat "$mnt/.slotfs/status.json" 2>&1) || true
	case $st in *'"io_uring":1'*) return 0 ;; esac
	echo "# $mnt does not take FUSE over io_uring: $st"
	return 1
}

# mount_daemonized IMG MNT [OPT...]: plain `slotfs IMG MNT`, which must
# return 0 once the file system is mounted.
mount_daemonized() {
	local img=$1 mnt=$2
	shift 2
	mkdir -p "$mnt"
	T_IMG_OF[$mnt]=$img
	slotfs "${T_VIA_OPTS[@]}" "$@" "$img" "$mnt" </dev/null || return 1
	is_mounted "$mnt" || { echo "slotfs returned 0 but $mnt is not mounted"; return 1; }
	_via_check "$mnt" "$@"
}

# unmount_fs MNT: clean unmount; waits until the daemon has exited (so the
# image is closed and marked clean).  Prints why it failed.
unmount_fs() {
	local mnt=$1 pid=${T_PID_OF[$1]:-} log=${T_LOG_OF[$1]:-} i rc
	local out
	for ((i = 0; i < 20; i++)); do
		out=$(fusermount3 -u "$mnt" 2>&1) && break
		sleep 0.5
	done
	if is_mounted "$mnt"; then
		echo "fusermount3 -u $mnt failed: $out"
		return 1
	fi
	if [ -z "$pid" ]; then
		wait_image_free "${T_IMG_OF[$mnt]:-$IMG}"
		return
	fi
	for ((i = 0; i < 600; i++)); do
		_alive "$pid" || break
		sleep 0.1
	done
	if _alive "$pid"; then
		echo "slotfs ($pid) still running 60 s after unmount"
		return 1
	fi
	rc=0
	wait "$pid" || rc=$?
	unset "T_PID_OF[$mnt]"
	if grep -Eq 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$log"; then
		echo "slotfs exited with status $rc; sanitizer report in its log:"
		grep -E -m1 -A25 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$log"
		T_SAN_SHOWN=$log
		return 1
	fi
	if [ "$rc" -ne 0 ]; then
		echo "slotfs exited with status $rc after unmount; its log:"
		tail -n 40 "$log"
		return 1
	fi
}

# kill_fs MNT: kill -9 the daemon, as a crash would, then detach the dead
# mount (fusermount3 -u -z).
kill_fs() {
	local mnt=$1 pid=${T_PID_OF[$1]:-}
	[ -n "$pid" ] || { echo "no slotfs -f daemon on $mnt"; return 1; }
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	unset "T_PID_OF[$mnt]"
	fusermount3 -u -z "$mnt" 2>/dev/null || umount -l "$mnt"
	! is_mounted "$mnt"
}

# check_here NAME CMD [ARG...]: as check, but CMD runs in this shell, not
# a subshell: for the mount helpers, which record the daemon they start.
# CMD must return non-zero itself on failure (errexit is off inside it).
check_here() {
	local name=$1 rc=0
	shift
	"$@" >"$T_OUT" 2>&1 </dev/null || rc=$?
	t_exit "$name" "$rc" "$@"
}

# ioctl_as_nobody MNT REQUEST SIZE: the ioctl REQUEST (a number) with
# SIZE zero bytes, sent as nobody on a descriptor root opened on MNT
# (nobody cannot reach the work directory).  Prints what came back, up
# to its first NUL; or "errno N", and fails.
ioctl_as_nobody() {
	python3 - "$@" <<'PY'
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
os.setgroups([])
os.setresgid(65534, 65534, 65534)
os.setresuid(65534, 65534, 65534)
try:
    out = fcntl.ioctl(fd, int(sys.argv[2], 0), bytes(int(sys.argv[3])))
except OSError as e:
    sys.exit(print("errno %d" % e.errno) or 1)
print(out.split(b"\0", 1)[0].decode(errors="replace"))
PY
}

# ioctl_refused_to_nobody MNT REQUEST SIZE: that ioctl fails with EPERM.
ioctl_refused_to_nobody() {
	local out
	if out=$(ioctl_as_nobody "$@"); then
		echo "nobody was let through"
		return 1
	fi
	expect_eq "ioctl as nobody" "errno 1" "$out"
}

check_unmount() {
	check_here "$1" unmount_fs "$2"
}

fuse_setup() {
	new_image "$IMG" "${1:-256M}"
	mount_fs "$IMG" "$MNT"
}

fuse_finish() {
	if is_mounted "$MNT"; then
		check_unmount "clean unmount, slotfs exits 0" "$MNT"
	fi
	check_rc "fsck.slotfs -f exits 0 after unmount" 0 fsck.slotfs -f "$IMG"
	t_done
}

# ---- trees ------------------------------------------------------------------

# make_tree DIR: nested directories, an empty one, and files of sizes
# around the block and chunk sizes, with random bytes.
make_tree() {
	local d=$1
	mkdir -p "$d/a/b/c" "$d/empty" "$d/x/y" "$d/sp ace"
	: >"$d/zero"
	rand_file "$d/one" 1
	rand_file "$d/a/f4095" 4095
	rand_file "$d/a/f4096" 4096
	rand_file "$d/a/b/f100k" 102400
	rand_file "$d/a/b/c/f1m1" 1048577
	rand_file "$d/x/f5m" 5242880
	rand_file "$d/x/y/f4097" 4097
	rand_file "$d/sp ace/na me" 12345
	echo hello >"$d/a/b/c/hello.txt"
}

# tree_manifest DIR: every entry with its type, every file with its size
# and sha256, sorted.
tree_manifest() {
	(
		cd "$1"
		find . -mindepth 1 \( -type f -printf 'f %P %s\n' \) -o \
			\( ! -type f -printf '%y %P\n' \) | sort
		find . -type f -print0 | sort -z | xargs -0 -r sha256sum
	)
}

# same_tree A B: the same names, types, sizes and bytes.
same_tree() {
	diff <(tree_manifest "$1") <(tree_manifest "$2")
}

remount_fs() {
	unmount_fs "$MNT" && mount_fs "$IMG" "$MNT"
}

# check_remount NAME: clean unmount of $MNT and mount $IMG again, as a case.
check_remount() {
	check_here "$1" remount_fs
}
