# SPDX-License-Identifier: MIT
# tests/lib.sh - helpers shared by the shell tests (tests/cli, tests/fuse).
#
# A test script sources this file, then runs its cases with check (or
# check_fails), and ends with t_done.  Each case prints one TAP line,
# "ok N - name" or "not ok N - name" followed by "# " lines that show what
# went wrong; the plan "1..N" comes last.  A script that stops early (a
# setup command failed, a signal, the time limit) reports that as one more
# "not ok" case and exits non-zero.  scripts/test.sh counts the TAP lines.
#
# Environment:
#   SLOTFS_BUILD     build directory whose programs (fs/, mkfs/, fsck/, tune/, resize/, dump/) to use
#                    (default: what PATH has, else build-test/, else build/)
#   SLOTFS_TEST_TMP  where work directories go (default $TMPDIR or /tmp)
#   SLOTFS_KEEP=1    keep the work directory
#   SLOTFS_TEST_LOGDIR  where to save the daemons' logs of a failed script

set -eEuo pipefail
export LC_ALL=C.UTF-8 TZ=UTC

T_NAME=$(basename "$0" .sh)
T_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T_N=0
T_FAILED=0
T_DONE=0
T_CLEANUPS=()

# Put the slotfs programs of build directory $1 in PATH.
_t_path() {
	local d
	for d in fs mkfs fsck tune resize dump udev tests; do
		PATH=$1/$d:$PATH
	done
}
if [ -n "${SLOTFS_BUILD:-}" ]; then
	_t_path "$SLOTFS_BUILD"
elif ! command -v mkfs.slotfs >/dev/null 2>&1; then
	for _b in "$T_SRC/build-test" "$T_SRC/build"; do
		if [ -x "$_b/mkfs/mkfs.slotfs" ]; then
			_t_path "$_b"
			break
		fi
	done
fi
export PATH

_t_base=${SLOTFS_TEST_TMP:-${TMPDIR:-/tmp}}
mkdir -p "$_t_base"
W=$(mktemp -d "$_t_base/$T_NAME.XXXXXX")
T_OUT=$W/.check.out
# TAP goes to the script's stdout even from inside a redirected function
exec {T_TAP}>&1

# at_exit CMD...: run CMD when the script ends, last registered first.
at_exit() {
	T_CLEANUPS+=("$*")
}

_t_exit() {
	local rc=$? i
	set +e
	trap - ERR
	exec 1>&"$T_TAP" 2>&1
	for ((i = ${#T_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${T_CLEANUPS[i]}"
	done
	if [ "$T_DONE" -eq 0 ]; then
		T_N=$((T_N + 1))
		echo "not ok $T_N - $T_NAME stopped early (exit $rc)"
		[ -n "${T_LAST_ERR:-}" ] && echo "# last failed command: $T_LAST_ERR"
		[ "$rc" -ne 0 ] || rc=1
	fi
	echo "1..$T_N"
	if [ "$rc" -ne 0 ] || [ "$T_FAILED" -ne 0 ]; then
		_t_save_logs
	fi
	if [ "${SLOTFS_KEEP:-0}" = 1 ]; then
		echo "# work directory kept: $W"
	else
		rm -rf --one-file-system "$W"
	fi
	exit "$rc"
}
trap _t_exit EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'T_LAST_ERR="line $LINENO: $BASH_COMMAND"' ERR

# Keep the programs' logs ($W/*.log) of a failed script.
_t_save_logs() {
	local dir=${SLOTFS_TEST_LOGDIR:-} f
	[ -n "$dir" ] || return 0
	for f in "$W"/*.log; do
		[ -f "$f" ] || continue
		mkdir -p "$dir"
		cp "$f" "$dir/$T_NAME.$(basename "$f")"
		echo "# saved $dir/$T_NAME.$(basename "$f")"
	done
}

# t_skip_all REASON: nothing here can run on this machine.
t_skip_all() {
	T_DONE=1
	echo "1..0 # SKIP $*"
	trap - EXIT
	rm -rf "$W"
	exit 77
}

t_need() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null 2>&1 ||
			{ echo "# $p not found in PATH ($PATH)"; exit 1; }
	done
}

t_ok() {
	T_N=$((T_N + 1))
	echo "ok $T_N - $1"
}

# t_not_ok NAME [FILE]: a failed case; FILE's last lines become diagnostics.
t_not_ok() {
	T_N=$((T_N + 1))
	T_FAILED=$((T_FAILED + 1))
	echo "not ok $T_N - $1"
	if [ -n "${2:-}" ] && [ -s "$2" ]; then
		tail -n 30 "$2" | cut -c1-300 | LC_ALL=C tr -c '[:print:]\t\n' '?' |
			sed 's/^/# /'
	fi
	if [ -n "${T_DAEMON_LOG:-}" ] && [ -s "$T_DAEMON_LOG" ]; then
		if [ "${T_SAN_SHOWN:-}" = "$T_DAEMON_LOG" ]; then
			echo "# (the daemon's sanitizer report is above)"
		elif grep -Eq 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$T_DAEMON_LOG"; then
			T_SAN_SHOWN=$T_DAEMON_LOG
			echo "# --- sanitizer report in the daemon log ($T_DAEMON_LOG):"
			grep -E -m1 -A30 'ERROR: [A-Za-z]+Sanitizer|runtime error:' \
				"$T_DAEMON_LOG" | sed 's/^/# /'
		else
			echo "# --- daemon log ($T_DAEMON_LOG), last lines:"
			tail -n 15 "$T_DAEMON_LOG" | sed 's/^/# /'
		fi
	fi
}

# t_exit NAME RC CMD [ARG...]: the case NAME, ok when CMD's exit status
# RC is 0; otherwise T_OUT (its output) tells why.
t_exit() {
	local name=$1 rc=$2
	shift 2
	T_LAST_ERR=
	if [ "$rc" -eq 0 ]; then
		t_ok "$name"
	else
		echo "exit $rc: $*" >>"$T_OUT"
		t_not_ok "$name" "$T_OUT"
	fi
}

# check NAME CMD [ARG...]: one case, ok when CMD exits 0.  CMD runs in a
# subshell with errexit on, so a check function fails at its first failing
# command, and the diagnostics name that command.
check() {
	local name=$1 rc
	shift
	set +e
	(
		set -eE
		trap 'echo "failed (exit $?): $BASH_COMMAND" >&2' ERR
		"$@"
	) >"$T_OUT" 2>&1 </dev/null
	rc=$?
	set -e
	t_exit "$name" "$rc" "$@"
}

# check_fails NAME REGEX CMD [ARG...]: ok when CMD fails and its output
# (stdout and stderr) matches the extended REGEX, case-insensitively.
check_fails() {
	local name=$1 re=$2 rc
	shift 2
	set +e
	("$@") >"$T_OUT" 2>&1 </dev/null
	rc=$?
	set -e
	T_LAST_ERR=
	if [ "$rc" -eq 0 ]; then
		echo "expected a failure, but it succeeded: $*" >>"$T_OUT"
		t_not_ok "$name" "$T_OUT"
	elif ! grep -Eqi -- "$re" "$T_OUT"; then
		echo "failed (exit $rc) but the message does not match /$re/: $*" >>"$T_OUT"
		t_not_ok "$name" "$T_OUT"
	else
		t_ok "$name"
	fi
}

# check_rc NAME WANT CMD [ARG...]: ok when CMD exits with status WANT.
check_rc() {
	local name=$1 want=$2 rc
	shift 2
	set +e
	("$@") >"$T_OUT" 2>&1 </dev/null
	rc=$?
	set -e
	T_LAST_ERR=
	if [ "$rc" -eq "$want" ]; then
		t_ok "$name"
	else
		echo "exit $rc, expected $want: $*" >>"$T_OUT"
		t_not_ok "$name" "$T_OUT"
	fi
}

t_done() {
	T_DONE=1
	[ "$T_FAILED" -eq 0 ]
	exit $?
}

# ---- assertions for use inside check functions ----------------------------

# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
	if [ "$2" != "$3" ]; then
		echo "$1: expected '$2', got '$3'"
		return 1
	fi
}

# expect_fail WHAT CMD [ARG...]: CMD must fail; its output is dropped.
# A bare `! CMD` is no check: set -e ignores it unless it ends the function.
expect_fail() {
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then
		echo "$what: expected to fail: $*"
		return 1
	fi
}

# expect_ge WHAT MIN ACTUAL (integers)
# is_int S: S is a decimal integer (a test with [ -lt ] on anything else
# errs, and an if takes that for false: no check).
is_int() {
	case $1 in ''|-|*[!0-9-]*|?*-*) return 1 ;; esac
}

expect_ge() {
	if ! is_int "$3" || [ "$3" -lt "$2" ]; then
		echo "$1: expected at least $2, got '$3'"
		return 1
	fi
}

# renameat2 FROM TO FLAGS: rename(2) with flags (1 RENAME_NOREPLACE,
# 2 RENAME_EXCHANGE), which mv cannot ask for; prints 0 or the errno's name.
renameat2() {
	python3 - "$@" <<'PY'
import ctypes, errno, sys
libc = ctypes.CDLL(None, use_errno=True)
r = libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(),
                   int(sys.argv[3]))
print(0 if r == 0 else errno.errorcode[ctypes.get_errno()])
PY
}

# same_bytes A B: byte-identical files.
same_bytes() {
	cmp -- "$1" "$2"
}

sha() {
	sha256sum <"$1" | cut -d' ' -f1
}

# rand_file PATH BYTES: BYTES random bytes.
rand_file() {
	head -c "$2" /dev/urandom >"$1"
}

# expect_between WHAT MIN MAX ACTUAL (integers, inclusive)
expect_between() {
	if ! is_int "$4" || [ "$4" -lt "$2" ] || [ "$4" -gt "$3" ]; then
		echo "$1: expected $2..$3, got '$4'"
		return 1
	fi
}

# bytes FILE OFF LEN: LEN bytes of FILE from byte OFF (fewer at the end).
bytes() {
	dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" bs=65536 status=none
}
