#!/bin/sh
# SPDX-License-Identifier: MIT
# Run the Python binding's tests against a meson build directory.
#
#   python/run_tests.sh BUILD_DIR [extra unittest arguments]
#
# Sets SLOTFS_LIB=BUILD_DIR/core/libslot.so and runs
# "python3 -m unittest discover -s python/tests -v".  The interpreter is
# $PYTHON if set, else the first of python3 and /usr/bin/python3 that can
# import numpy (so the numpy tests run), else python3.
# SLOTFS_TEST_QUICK=1 skips the 1 GiB round trip.
#
# Output is unittest's: one "name ... ok|FAIL|ERROR|skipped 'why'" line per
# test on stderr, then "Ran N tests in Ts" and "OK", "OK (skipped=S)" or
# "FAILED (failures=F, errors=E, skipped=S)".  The exit status is 0 when
# every test passed (skips allowed), 1 on any failure or error, 2 on a
# usage error (no build directory or no libslot.so in it).
set -eu

if [ $# -lt 1 ]; then
	echo "usage: $0 BUILD_DIR [unittest args...]" >&2
	exit 2
fi
build=$1
shift
lib=$(cd "$build" 2>/dev/null && pwd)/core/libslot.so || true
if [ ! -f "$lib" ]; then
	echo "$0: no core/libslot.so under '$build' (build it with ninja first)" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${PYTHON:-}" ]; then
	PYTHON=python3
	for py in python3 /usr/bin/python3; do
		if command -v "$py" >/dev/null 2>&1 &&
		   "$py" -c 'import numpy' >/dev/null 2>&1; then
			PYTHON=$py
			break
		fi
	done
fi

echo "# python: $(command -v "$PYTHON") ($("$PYTHON" -c 'import sys; print(sys.version.split()[0])'))"
echo "# SLOTFS_LIB=$lib"
cd "$here/.."
export PYTHONDONTWRITEBYTECODE=1   # leave no __pycache__ in the tree
SLOTFS_LIB=$lib exec "$PYTHON" -m unittest discover -s python/tests -t python/tests -v "$@"
