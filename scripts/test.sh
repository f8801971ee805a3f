#!/usr/bin/env bash
# Build slotfs with AddressSanitizer and UBSan and run every test: the
# Criterion unit tests (tests/unit), the mkfs/fsck tests (tests/cli) and the
# FUSE integration tests (tests/fuse), all through `meson test`.
#
# The last line printed is "N passed, N failed", where N counts every test
# case: each Criterion test, each TAP line of a shell test.  The exit status
# is 1 when anything failed.  Per-test output goes to build-test/testlog/.
#
#   SLOTFS_TEST_BUILD   build directory (default build-test)
#   SLOTFS_TEST_JOBS    tests run at once (default 2)
#   extra arguments go to `meson test`, e.g. ./scripts/test.sh --suite cli
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${SLOTFS_TEST_BUILD:-build-test}
JOBS=${SLOTFS_TEST_JOBS:-2}

./scripts/deps.sh

build_failed() {
	echo "test.sh: the build failed; no test ran" >&2
	echo "0 passed, 1 failed"
	exit 1
}

setup=(-Db_sanitize=address,undefined -Db_lundef=false -Dtests=enabled)
if [ -f "$BUILD/build.ninja" ]; then
	meson setup --reconfigure "$BUILD" "${setup[@]}" >/dev/null || build_failed
else
	meson setup "$BUILD" "${setup[@]}" || build_failed
fi
ninja -C "$BUILD" || build_failed

# UBSan aborts on the first report; LeakSanitizer runs at every exit.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1
export TZ=UTC LC_ALL=C.UTF-8

# The FUSE tests run a second time through io_uring (fs/ring.c, tests
# fuse-uring-*), which the kernel offers only with the fuse module's
# enable_uring.  Set it for the run where it exists and put it back after;
# a FUSE daemon that does not ask for the ring sees no difference.
URING_PARAM=/sys/module/fuse/parameters/enable_uring
uring_was=
if [ -w "$URING_PARAM" ] && uring_was=$(cat "$URING_PARAM") &&
	[ "$uring_was" != Y ] && echo Y >"$URING_PARAM"; then
	trap 'echo "$uring_was" >"$URING_PARAM"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
fi

rm -rf "$BUILD/testlog" "$BUILD/meson-logs/testlog.json"
mkdir -p "$BUILD/testlog"
rc=0
meson test -C "$BUILD" --no-rebuild --num-processes "$JOBS" "$@" </dev/null || rc=$?
[ -z "$uring_was" ] || echo "$uring_was" >"$URING_PARAM" 2>/dev/null || true
# meson exits 125 or so when it could not run anything at all
if [ ! -f "$BUILD/meson-logs/testlog.json" ]; then
	echo "test.sh: meson test wrote no log (exit $rc)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

exec python3 - "$BUILD" <<'PY'
"""Count test cases in meson's testlog.json; write one log per test."""
import json, os, re, sys

build = sys.argv[1]
logdir = os.path.join(build, "testlog")
ansi = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
synth = re.compile(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| "
                   r"Failing: (\d+) \| Crashing: (\d+)")
tap_ok = re.compile(r"^ok\b(?!.*#\s*(SKIP|TODO))", re.M | re.I)
tap_not_ok = re.compile(r"^not ok\b(?!.*#\s*(SKIP|TODO))", re.M | re.I)
tap_skip = re.compile(r"^(not )?ok\b.*#\s*SKIP", re.M | re.I)
unit_ran = re.compile(r"^Ran (\d+) tests? in ", re.M)
unit_tail = re.compile(r"^(?:OK|FAILED)(?: \((.*)\))?$", re.M)
unit_counts = re.compile(r"(\w+)=(\d+)")

passed = failed = skipped = 0
bad = []
with open(os.path.join(build, "meson-logs", "testlog.json")) as f:
    for line in f:
        t = json.loads(line)
        name = t["name"]
        out = ansi.sub("", (t.get("stdout") or "") + (t.get("stderr") or ""))
        log = os.path.join(logdir, re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".log")
        with open(log, "w") as lf:
            lf.write("# %s: %s, exit %s, %.1fs\n# %s\n" % (
                name, t.get("result"), t.get("returncode"),
                t.get("duration", 0), " ".join(t.get("command") or [])))
            lf.write(out)
        result = t.get("result")
        if result == "SKIP":
            skipped += 1
            continue
        ok = result in ("OK", "EXPECTEDFAIL")
        s = synth.findall(out)
        if s:
            # Criterion counts a test that leaked as passing: count each
            # LeakSanitizer report as a failed case.
            tested, passing = int(s[-1][0]), int(s[-1][1])
            leaks = out.count("ERROR: LeakSanitizer")
            p = max(passing - leaks, 0)
            fl = tested - p
        elif unit_ran.search(out):
            # Python's unittest: "Ran N tests", then OK or FAILED (...)
            total = int(unit_ran.findall(out)[-1])
            counts = dict((k, int(v)) for k, v in unit_counts.findall(
                (unit_tail.findall(out) or [""])[-1]))
            sk = counts.get("skipped", 0)
            fl = counts.get("failures", 0) + counts.get("errors", 0)
            p = total - fl - sk
            skipped += sk
        elif tap_ok.search(out) or tap_not_ok.search(out):
            p = len(tap_ok.findall(out))
            fl = len(tap_not_ok.findall(out))
            skipped += len(tap_skip.findall(out))
        else:
            p, fl = (1, 0) if ok else (0, 1)
        if not ok and fl == 0:
            fl = 1      # crashed, timed out or exited non-zero after passing
        passed += p
        failed += fl
        if fl:
            bad.append((name, result, log))

for name, result, log in bad:
    with open(log) as lf:
        lines = lf.read().splitlines()
    print("\n==== %s: %s (last 40 lines of %s)" % (name, result, log))
    print("\n".join(lines[-40:]))
if bad:
    print("\nfailed: " + ", ".join(n for n, _, _ in bad))
if skipped:
    print("%d skipped" % skipped)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY
