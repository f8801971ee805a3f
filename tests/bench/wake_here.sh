#!/usr/bin/env bash
# run.sh --wake-here: it refuses a bad value, says which value a run has,
# and gives the kernel's fuse wake_here back as it found it, also when the
# run is stopped by a signal.  Usage: wake_here.sh BUILDDIR
. "$(dirname "$0")/../lib.sh"

RUN=$(cd "$(dirname "$0")" && pwd)/run.sh
BUILD=${1:?usage: wake_here.sh BUILDDIR}
PARAM=/sys/module/fuse/parameters/wake_here

check_fails "--wake-here refuses a value other than Y or N" \
	'takes Y or N' "$RUN" --tiny --build "$BUILD" --wake-here yes

if [ ! -e "$PARAM" ]; then
	check_fails "--wake-here on a kernel without the parameter says so" \
		'no wake_here parameter' "$RUN" --tiny --build "$BUILD" --wake-here Y
	t_done
fi
[ "$(id -u)" -eq 0 ] || t_skip_all "needs root to set $PARAM"

OLD=$(cat "$PARAM")
case $OLD in Y) NEW=N ;; *) NEW=Y ;; esac
# whatever happens below, the machine keeps its setting
at_exit "echo '$OLD' >'$PARAM'"

# stopped_run: start a tiny run with the other value, stop it with SIGTERM
# once its rounds have begun, and look at what it left
stopped_run() {
	local pid i rc=0
	"$RUN" --tiny --build "$BUILD" --dir "$W" --wake-here "$NEW" >run.out 2>&1 &
	pid=$!
	for ((i = 0; i < 600; i++)); do
		grep -q 'round 1/1' run.out && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	grep -q "fuse wake_here $NEW)" run.out
	[ "$(cat "$PARAM")" = "$NEW" ]      # the run did set it
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	echo "run.sh exited with $rc"
	[ "$rc" -eq 143 ]
	[ "$(cat "$PARAM")" = "$OLD" ]
	! ls -d "$W"/slotfs-bench.* 2>/dev/null
}
cd "$W"
check "a run stopped by SIGTERM sets wake_here $NEW while it runs and leaves $OLD behind" stopped_run
t_done
