#!/usr/bin/env bash
# Install the Debian 12 (bookworm) packages that slotfs needs to build, run
# and test.  apt-get update runs only when a package is missing, so a second
# run is quick and needs no network.  Called by scripts/demo.sh and
# scripts/test.sh; safe to run on its own.
set -euo pipefail

PACKAGES=(
	build-essential meson ninja-build pkg-config
	libfuse3-dev fuse3 liburing-dev libcriterion-dev libxxhash-dev
	libblkid-dev uuid-dev
	e2fsprogs rsync fio python3 python3-numpy attr acl gdisk
	clang libclang-rt-14-dev
	man-db util-linux kmod
)

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	[ "${status:0:2}" = ii ] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	as_root=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null ||
			{ echo "deps.sh: run as root to install: ${missing[*]}" >&2; exit 1; }
		as_root=(sudo)
	fi
	echo "deps.sh: installing ${missing[*]}"
	"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
	"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends "${missing[@]}"
fi

# FUSE needs /dev/fuse; load the module when the kernel has it unloaded.
if [ ! -e /dev/fuse ]; then
	if [ "$(id -u)" -eq 0 ]; then
		modprobe fuse || true
	fi
	[ -e /dev/fuse ] ||
		echo "deps.sh: warning: /dev/fuse is missing; mounting will fail" >&2
fi
exit 0
