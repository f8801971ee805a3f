#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/fsck/run.sh BUILD_DIR [CASE...] - the fsck corruption corpus, then
# the fsck fuzzer, as TAP.
#
# Each case tests/fsck/cases/f_NAME/ holds
#   script    bash, sourced here: populates the fresh image and breaks one
#             thing (with the helpers below), and may set
#               RC0=4     exit of fsck -n -f on the damaged image
#               RC1=1     exit of fsck -y -f (1 fixed; 4 with a reason)
#               VERIFY=(-z big ...)  what may differ (slotfs-corrupt verify)
#               FSCK_TIMEOUT=300  seconds each fsck run may take
#               TODO="why"  a known fsck bug: the case says what fsck
#                         should do, and its failing TAP lines carry
#                         "# TODO" (they do not fail the run)
#   expect.1  stdout of fsck.slotfs -y -f test.img
#   expect.2  stdout of fsck.slotfs -n -f test.img after that: exit 0
# For every case: mkfs a fresh 128 MiB image, run the script, then
#   1. fsck -n -f exits RC0 and does not change a byte of the image;
#   2. fsck -y -f prints expect.1 and exits RC1;
#   3. fsck -n -f prints expect.2 and exits 0, with no PR_ line;
#   4. slotfs-corrupt verify: every name of the manifest reads back as it
#      was written, but for what VERIFY lets differ; the whole tree reads.
# Last, "slotfs-corrupt fuzz" runs for SLOT_FUZZ_SECONDS (default 30; 0
# skips it) from SLOT_FUZZ_SEED (default 1; "random" takes the clock).
#
# SLOTFS_FSCK_UPDATE=1 writes expect.1 and expect.2 from what fsck prints
# (review them: the corpus is only as right as its expected output).
# SLOTFS_KEEP=1 keeps the work directory.
set -uo pipefail
export LC_ALL=C TZ=UTC

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
	echo "usage: $0 BUILD_DIR [CASE...]" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
shift
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MKFS=$BUILD/mkfs/mkfs.slotfs
FSCK=$BUILD/fsck/fsck.slotfs
CORRUPT=$BUILD/tests/fsck/slotfs-corrupt

base=${SLOTFS_TEST_TMP:-${TMPDIR:-/tmp}}
mkdir -p "$base"
WORK=$(mktemp -d "$base/fsck-corpus.XXXXXX")
cleanup() {
	if [ "${SLOTFS_KEEP:-0}" = 1 ]; then
		echo "# work directory kept: $WORK"
	else
		rm -rf --one-file-system "$WORK"
	fi
}
trap cleanup EXIT

# Not built by meson yet (tests/meson.build does not include tests/fsck):
# build the tool against the build's libslot.a, with its sanitizers.
if [ ! -x "$CORRUPT" ]; then
	CORRUPT=$WORK/slotfs-corrupt
	san=()
	syms=$(nm "$BUILD/core/libslot.a" 2>/dev/null)
	[[ $syms == *__asan_* ]] && san+=(-fsanitize=address)
	[[ $syms == *__ubsan_* ]] && san+=(-fsanitize=undefined)
	unset syms
	# shellcheck disable=SC2046
	if ! ${CC:-cc} -std=gnu11 -g -O1 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
		"${san[@]}" -I"$BUILD" -I"$HERE/../../core" \
		"$HERE/slotfs-corrupt.c" "$HERE/fuzz_fsck.c" \
		"$BUILD/core/libslot.a" $(pkg-config --libs liburing libxxhash uuid) \
		-lpthread -o "$CORRUPT" >"$WORK/cc.log" 2>&1; then
		echo "not ok 1 - building slotfs-corrupt"
		head -n 30 "$WORK/cc.log" | sed 's/^/# /'
		echo "1..1"
		exit 1
	fi
fi
for p in "$MKFS" "$FSCK" "$CORRUPT"; do
	if [ ! -x "$p" ]; then
		echo "# missing $p"
		echo "1..0 # SKIP programs not built"
		exit 1
	fi
done
# sanitizer reports end the program with an error, and say where
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

N=0
FAILED=0
TODO=
# A passing test of a TODO case is a plain "ok": meson counts "ok # TODO"
# as an unexpected pass, which fails the run.
ok() {
	N=$((N + 1))
	echo "ok $N - $1"
}
not_ok() {
	N=$((N + 1))
	[ -n "$TODO" ] || FAILED=$((FAILED + 1))
	echo "not ok $N - $1${TODO:+ # TODO $TODO}"
	shift
	local f
	for f in "$@"; do
		[ -s "$f" ] && sed -n "1,60p" "$f" | sed "s/^/# /"
	done
	return 0
}

# --- helpers for the case scripts (cwd is the case's work directory) ---
IMG=test.img
MF=manifest
populate() { "$CORRUPT" populate "$IMG" "$MF"; }
corrupt() { local cmd=$1; shift; "$CORRUPT" "$cmd" "$IMG" "$@"; }
unclean() { "$CORRUPT" unclean "$IMG" "$MF" "$@"; }
orphan() { "$CORRUPT" orphan "$IMG" "$MF" "$@"; }

# fsck_run OUT RC_FILE ARGS...: stdout to OUT, stderr to OUT.err
fsck_run() {
	local out=$1 rcf=$2
	shift 2
	timeout -k 5 "$FSCK_TIMEOUT" "$FSCK" "$@" 2>"$out.err" |
		head -c 1000000 >"$out"
	local rc=${PIPESTATUS[0]}
	[ "$rc" -ne 124 ] || echo "fsck.slotfs $*: timed out after ${FSCK_TIMEOUT}s" >>"$out.err"
	echo "$rc" >"$rcf"
}

# no sanitizer report in FILE
san_clean() {
	! grep -Eq 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$1"
}

run_case() {
	local dir=$1 name
	name=$(basename "$dir")
	local w=$WORK/$name
	mkdir -p "$w"
	(
		cd "$w" || exit 1
		truncate -s 128M "$IMG" && "$MKFS" -q "$IMG" >mkfs.log 2>&1 ||
			{ echo "mkfs failed" >setup.log; exit 1; }
		RC0=4 RC1=1 VERIFY=() TODO= FSCK_TIMEOUT=300
		set -e
		# shellcheck source=/dev/null
		. "$dir/script" >setup.log 2>&1
		set +e
		printf '%s\n' "$RC0" >rc0.want
		printf '%s\n' "$RC1" >rc1.want
		if [ ${#VERIFY[@]} -gt 0 ]; then
			printf '%s\n' "${VERIFY[@]}"
		fi >verify.args
		printf '%s' "$TODO" >todo
		printf '%s' "$FSCK_TIMEOUT" >timeout
	)
	if [ $? -ne 0 ]; then
		not_ok "$name: set-up (script) failed" "$w/setup.log" "$w/mkfs.log"
		return
	fi
	cd "$w" || return
	TODO=$(cat todo)
	FSCK_TIMEOUT=$(cat timeout)
	local rc0 rc1 rc
	rc0=$(cat rc0.want)
	rc1=$(cat rc1.want)
	local -a verify=()
	mapfile -t verify <verify.args

	# 1. -n reports and writes nothing
	local before after
	before=$(sha256sum <"$IMG")
	fsck_run out.0 rc.0 -n -f "$IMG"
	after=$(sha256sum <"$IMG")
	rc=$(cat rc.0)
	if [ "$rc" = "$rc0" ] && [ "$before" = "$after" ] && san_clean out.0.err; then
		ok "$name: fsck -n exits $rc0 and writes nothing"
	else
		echo "exit $rc (want $rc0); image $([ "$before" = "$after" ] && echo unchanged || echo CHANGED)" >diag.0
		not_ok "$name: fsck -n exits $rc0 and writes nothing" diag.0 out.0 out.0.err
	fi

	# 2. -y repairs, with the expected words
	fsck_run out.1 rc.1 -y -f "$IMG"
	rc=$(cat rc.1)
	if [ "${SLOTFS_FSCK_UPDATE:-0}" = 1 ]; then
		cp out.1 "$dir/expect.1"
	fi
	if [ "$rc" = "$rc1" ] && diff -u "$dir/expect.1" out.1 >diff.1 2>&1 &&
		san_clean out.1.err; then
		ok "$name: fsck -y -f output and exit $rc1"
	else
		echo "exit $rc (want $rc1)" >diag.1
		not_ok "$name: fsck -y -f output and exit $rc1" diag.1 diff.1 out.1.err
	fi

	# 3. then the file system is clean
	fsck_run out.2 rc.2 -n -f "$IMG"
	rc=$(cat rc.2)
	if [ "${SLOTFS_FSCK_UPDATE:-0}" = 1 ]; then
		cp out.2 "$dir/expect.2"
	fi
	if [ "$rc" = 0 ] && ! grep -q 'PR_' out.2 &&
		diff -u "$dir/expect.2" out.2 >diff.2 2>&1 && san_clean out.2.err; then
		ok "$name: second fsck -n -f is clean (exit 0)"
	else
		echo "exit $rc (want 0)" >diag.2
		not_ok "$name: second fsck -n -f is clean (exit 0)" diag.2 diff.2 out.2 out.2.err
	fi

	# 4. what survived
	if "$CORRUPT" verify "$IMG" "$MF" "${verify[@]}" >verify.out 2>&1; then
		ok "$name: surviving data reads back${verify[*]:+ (${verify[*]})}"
	else
		not_ok "$name: surviving data reads back${verify[*]:+ (${verify[*]})}" verify.out
	fi
	TODO=
	cd "$WORK" || return
}

cases=()
if [ $# -gt 0 ]; then
	for c in "$@"; do
		cases+=("$HERE/cases/$c")
	done
else
	for c in "$HERE"/cases/f_*/; do
		cases+=("${c%/}")
	done
fi
for c in "${cases[@]}"; do
	if [ ! -f "$c/script" ]; then
		not_ok "$(basename "$c"): no such case"
		continue
	fi
	run_case "$c"
done

# The same seeds every run (SLOT_FUZZ_SEED=random: from the clock).
secs=${SLOT_FUZZ_SECONDS:-30}
seed=${SLOT_FUZZ_SEED:-1}
[ "$seed" != random ] || seed=
if [ $# -eq 0 ] && [ "$secs" != 0 ]; then
	SLOT_FUZZ_SECONDS=$secs SLOT_FUZZ_SEED=$seed "$CORRUPT" fuzz \
		>"$WORK/fuzz.out" 2>"$WORK/fuzz.err"
	rc=$?
	grep '^#' "$WORK/fuzz.out"
	if [ $rc -eq 0 ] && san_clean "$WORK/fuzz.err"; then
		ok "fuzz: slot_fsck on randomly damaged images for ${secs}s"
	else
		grep -v -E '^# (fuzzing|[0-9]+ iterations)' "$WORK/fuzz.out" |
			head -60 >"$WORK/fuzz.fail"
		grep -E -m1 -A40 'ERROR: [A-Za-z]+Sanitizer|runtime error:' \
			"$WORK/fuzz.err" >>"$WORK/fuzz.fail"
		[ -s "$WORK/fuzz.fail" ] || tail -n 20 "$WORK/fuzz.err" >"$WORK/fuzz.fail"
		not_ok "fuzz: slot_fsck on randomly damaged images for ${secs}s (exit $rc)" \
			"$WORK/fuzz.fail"
	fi
fi

echo "1..$N"
[ "$FAILED" -eq 0 ]
