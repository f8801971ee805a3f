#!/usr/bin/env bash
# run.sh --wake-here, --halt-poll-ns, --io-uring and --awake-us: they
# refuse bad values, the run says which values it has, the kernel
# parameters go back as they were, also when the run is stopped by a
# signal, and a run with --io-uring has slotfs take its requests through
# io_uring (and with --awake-us mounts it so).
# Usage: params.sh BUILDDIR
. "$(dirname "$0")/../lib.sh"

RUN=$(cd "$(dirname "$0")" && pwd)/run.sh
BUILD=${1:?usage: params.sh BUILDDIR}
WAKE=/sys/module/fuse/parameters/wake_here
HALT=/sys/module/haltpoll/parameters/guest_halt_poll_ns
URING=/sys/module/fuse/parameters/enable_uring

check_fails "--wake-here refuses a value other than Y or N" \
	'takes Y or N' "$RUN" --tiny --build "$BUILD" --wake-here yes
check_fails "--halt-poll-ns refuses a value that is not a number" \
	'takes a number' "$RUN" --tiny --build "$BUILD" --halt-poll-ns 10us
check_fails "--awake-us refuses a value that is not a number" \
	'takes a number' "$RUN" --tiny --build "$BUILD" --awake-us 10us
check_fails "an unknown argument prints the whole synopsis, the last option too" \
	'\[--awake-us US\]' "$RUN" --no-such-option

# the options this kernel can take, each with a value other than its own
ARGS=() SHOWN=()
if [ -e "$WAKE" ]; then
	OLD_WAKE=$(cat "$WAKE")
	case $OLD_WAKE in Y) NEW_WAKE=N ;; *) NEW_WAKE=Y ;; esac
	ARGS+=(--wake-here "$NEW_WAKE")
	SHOWN+=("fuse wake_here $NEW_WAKE,")
else
	check_fails "--wake-here on a kernel without the parameter says so" \
		"has no $WAKE" "$RUN" --tiny --build "$BUILD" --wake-here Y
fi
if [ -e "$HALT" ]; then
	OLD_HALT=$(cat "$HALT")
	NEW_HALT=$((OLD_HALT + 1000))
	ARGS+=(--halt-poll-ns "$NEW_HALT")
	SHOWN+=("guest_halt_poll_ns $NEW_HALT)")
else
	check_fails "--halt-poll-ns on a kernel without haltpoll says so" \
		"has no $HALT" "$RUN" --tiny --build "$BUILD" --halt-poll-ns 1000
fi
if [ -e "$URING" ]; then
	OLD_URING=$(cat "$URING")
	NEW_URING=Y
	ARGS+=(--io-uring)
	SHOWN+=("slotfs's FUSE requests through io_uring")
else
	check_fails "--io-uring on a kernel without FUSE over io_uring says so" \
		"has no $URING" "$RUN" --tiny --build "$BUILD" --io-uring
fi
[ "${#ARGS[@]}" -gt 0 ] || t_done
ARGS+=(--awake-us 100)
SHOWN+=("awake_us=100)")
[ "$(id -u)" -eq 0 ] || t_skip_all "needs root to set kernel parameters"

# whatever happens below, the machine keeps its settings
[ -z "${OLD_WAKE:-}" ] || at_exit "echo '$OLD_WAKE' >'$WAKE'"
[ -z "${OLD_HALT:-}" ] || at_exit "echo '$OLD_HALT' >'$HALT'"
[ -z "${OLD_URING:-}" ] || at_exit "echo '$OLD_URING' >'$URING'"

# stopped_run: start a tiny run with the other values, stop it with
# SIGTERM once its rounds have begun, and look at what it left
stopped_run() {
	local pid i s rc=0
	"$RUN" --tiny --build "$BUILD" --dir "$W" "${ARGS[@]}" >run.out 2>&1 &
	pid=$!
	for ((i = 0; i < 600; i++)); do
		grep -q 'round 1/1' run.out && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	for s in "${SHOWN[@]}"; do
		grep -qF "$s" run.out
	done
	# the run did set them
	[ -z "${NEW_WAKE:-}" ] || [ "$(cat "$WAKE")" = "$NEW_WAKE" ]
	[ -z "${NEW_HALT:-}" ] || [ "$(cat "$HALT")" = "$NEW_HALT" ]
	[ -z "${NEW_URING:-}" ] || [ "$(cat "$URING")" = "$NEW_URING" ]
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	echo "run.sh exited with $rc"
	[ "$rc" -eq 143 ]
	[ -z "${OLD_WAKE:-}" ] || [ "$(cat "$WAKE")" = "$OLD_WAKE" ]
	[ -z "${OLD_HALT:-}" ] || [ "$(cat "$HALT")" = "$OLD_HALT" ]
	[ -z "${OLD_URING:-}" ] || [ "$(cat "$URING")" = "$OLD_URING" ]
	! ls -d "$W"/slotfs-bench.* 2>/dev/null
}
cd "$W"
check "a run stopped by SIGTERM has set ${ARGS[*]} and leaves the old values" stopped_run

# a whole tiny run through the ring: run.sh checks every slotfs mount took
# it, and fails otherwise
uring_run() {
	"$RUN" --tiny --build "$BUILD" --dir "$W" --io-uring --awake-us 100 \
		>uring.out 2>&1 || { tail -n 20 uring.out; return 1; }
	grep -q "slotfs through io_uring, awake_us=100;" uring.out
	[ "$(cat "$URING")" = "$OLD_URING" ]
}
[ -z "${NEW_URING:-}" ] ||
	check "a tiny run with --io-uring and --awake-us mounts slotfs so" uring_run
t_done
