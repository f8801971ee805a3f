#!/usr/bin/env bash
# Install into a temporary prefix and use slotfs from there only, the way
# a packager's user would: mkfs -t slotfs, an fstab line mounted with
# mount -a -T, writes, umount, fsck -t slotfs; and every man page renders.
# Needs root and /dev/fuse.  Usage: install.sh BUILD_DIR
. "$(dirname "$0")/../lib.sh"

BUILD=$(cd "${1:?usage: install.sh BUILD_DIR}" && pwd)
PREFIX=$W/prefix
MNT=$W/mnt
at_exit 'mountpoint -q "$MNT" 2>/dev/null && { umount "$MNT" || umount -l "$MNT"; }'

check "meson install into a temporary prefix" \
	sh -c 'DESTDIR= meson install -C "$1" --no-rebuild --quiet \
		--destdir "$2" >/dev/null' sh "$BUILD" "$W/dest"
# meson installs under DESTDIR/PREFIX; gather it in one place
inst=$(meson introspect "$BUILD" --buildoptions |
	python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
ln -s "$W/dest$inst" "$PREFIX"
for p in sbin/slotfs sbin/mount.slotfs sbin/umount.fuse.slotfs sbin/mkfs.slotfs sbin/fsck.slotfs sbin/fsck.fuse.slotfs sbin/slotfs-dump sbin/tune.slotfs sbin/resize.slotfs \
	 include/slot.h lib/udev/slotfs_id lib/udev/rules.d/59-slotfs.rules; do
	check "installed $p" test -e "$PREFIX/$p"
done
check "libslot and its pkg-config file are installed" sh -c \
	'ls "$1"/lib*/*/libslot.so* "$1"/lib*/libslot.so* 2>/dev/null | grep -q . &&
	 ls "$1"/lib*/*/pkgconfig/libslot.pc "$1"/lib*/pkgconfig/libslot.pc 2>/dev/null | grep -q .' \
	sh "$PREFIX"

# from the prefix only: its sbin first in PATH, its libraries found
export PATH="$PREFIX/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
export LD_LIBRARY_PATH=$(dirname "$(ls "$PREFIX"/lib*/*/libslot.so 2>/dev/null ||
				     ls "$PREFIX"/lib*/libslot.so)")
check "libslot.pc, the shared library and slotfs --version name the header's version" sh -c '
	v=$(sed -n "s/^#define SLOT_VERSION_MAJOR \([0-9]*\)$/\1/p" "$1/include/slot.h").$(
	    sed -n "s/^#define SLOT_VERSION_MINOR \([0-9]*\)$/\1/p" "$1/include/slot.h")
	pc=$(ls "$1"/lib*/*/pkgconfig/libslot.pc "$1"/lib*/pkgconfig/libslot.pc 2>/dev/null | head -1)
	grep -qx "Version: $v.0" "$pc" &&
	ls "$1"/lib*/*/libslot.so."$v".0 "$1"/lib*/libslot.so."$v".0 2>/dev/null | grep -q . &&
	"$1/sbin/slotfs" --version | grep -q "(libslot $v,"' sh "$PREFIX"
check "a program builds against the installed header and libslot.pc" sh -c '
	pc=$(dirname "$(ls "$1"/lib*/*/pkgconfig/libslot.pc "$1"/lib*/pkgconfig/libslot.pc 2>/dev/null | head -1)")
	sed "s|^prefix=.*|prefix=$1|" "$pc/libslot.pc" > "$2/libslot.pc"
	PKG_CONFIG_PATH=$2 cc -o "$2/kv" "$3" $(PKG_CONFIG_PATH=$2 pkg-config --cflags --libs libslot)' \
	sh "$PREFIX" "$W" "$(dirname "$0")/../../core/examples/kv_roundtrip.c"

IMG=$W/store.img
mkdir -p "$MNT"
# mount(8) runs mount.fuse3 with a fixed PATH (/usr/sbin:/usr/bin:/sbin:
# /bin), which a temporary prefix is not on: for the length of the test a
# link in /usr/sbin points at the prefix's slotfs (a package puts the
# program there itself).  An installed slotfs is left alone.
if [ ! -e /usr/sbin/slotfs ]; then
	ln -s "$PREFIX/sbin/slotfs" /usr/sbin/slotfs
	at_exit 'rm -f /usr/sbin/slotfs'
fi
check "mkfs -t slotfs formats a new image" mkfs -t slotfs -q -C 256M "$IMG"
check "the fstab line mounts with mount -a" sh -c '
	echo "$1 $2 fuse.slotfs defaults,nofail 0 0" > "$3/fstab"
	mount -a -T "$3/fstab" && mountpoint -q "$2"' sh "$IMG" "$MNT" "$W"
check "write through the mount" sh -c 'seq 1 100000 > "$1/numbers" &&
	mkdir "$1/d" && cp "$1/numbers" "$1/d/copy" && cmp "$1/numbers" "$1/d/copy"' \
	sh "$MNT"
check "umount unmounts it" sh -c 'umount "$1" && ! mountpoint -q "$1"' sh "$MNT"
check "fsck -t slotfs finds it clean" fsck -t slotfs -f -n "$IMG"
check "mount -t fuse.slotfs mounts it again, data intact" sh -c '
	mount -t fuse.slotfs "$1" "$2" && seq 1 100000 | cmp - "$2/d/copy" &&
	umount "$2"' sh "$IMG" "$MNT"
# mount(8) looks for its helpers in /sbin: a link there to the prefix's
# mount.slotfs for the length of the test, as for slotfs
if [ ! -e /usr/sbin/mount.slotfs ]; then
	ln -s "$PREFIX/sbin/mount.slotfs" /usr/sbin/mount.slotfs
	at_exit 'rm -f /usr/sbin/mount.slotfs'
fi
check "mount -t slotfs and an fstab line of type slotfs mount it" sh -c '
	mount -t slotfs -o nofail "$1" "$2" &&
	grep -q " $2 fuse.slotfs " /proc/mounts &&
	seq 1 100000 | cmp - "$2/d/copy" && umount "$2" &&
	echo "$1 $2 slotfs defaults,nofail 0 0" > "$3/fstab.slotfs" &&
	mount -a -T "$3/fstab.slotfs" && mountpoint -q "$2" && umount "$2"' \
	sh "$IMG" "$MNT" "$W"

# umount(8) runs umount.fuse.slotfs, which waits for slotfs to write its
# last checkpoint and let go of the store.  The image lies on an ext4
# frozen for the unmount: slotfs cannot finish until it is thawed, and
# umount must not return before.
if [ ! -e /usr/sbin/umount.fuse.slotfs ]; then
	ln -s "$PREFIX/sbin/umount.fuse.slotfs" /usr/sbin/umount.fuse.slotfs
	at_exit 'rm -f /usr/sbin/umount.fuse.slotfs'
fi
FROZEN=$W/frozen
at_exit 'if mountpoint -q "$FROZEN"; then fsfreeze -u "$FROZEN" 2>/dev/null;
	mountpoint -q "$MNT" && umount "$MNT"; umount "$FROZEN"; fi'
umount_waits() {
	local pid
	truncate -s 300M "$W/ext4.img"
	mkfs.ext4 -q -F "$W/ext4.img"
	mkdir -p "$FROZEN"
	mount -o loop "$W/ext4.img" "$FROZEN"
	mkfs.slotfs -q -C 256M "$FROZEN/s.img"
	mount -t fuse.slotfs "$FROZEN/s.img" "$MNT"
	seq 1 100000 >"$MNT/numbers"
	fsfreeze -f "$FROZEN"
	umount "$MNT" &
	pid=$!
	sleep 2
	if ! kill -0 "$pid" 2>/dev/null; then
		fsfreeze -u "$FROZEN"
		echo "umount returned before slotfs could write"
		return 1
	fi
	fsfreeze -u "$FROZEN"
	wait "$pid"
	flock -n -x "$FROZEN/s.img" true
	fsck.slotfs -n "$FROZEN/s.img" | grep -q ": clean,"
	umount "$FROZEN"
}
check "umount waits for slotfs to finish writing the store" umount_waits

check "the installed udev rule runs the installed slotfs_id" grep -qxF \
	"IMPORT{program}=\"$inst/lib/udev/slotfs_id \$devnode\"" \
	"$PREFIX/lib/udev/rules.d/59-slotfs.rules"
check "the installed slotfs_id names the store for udev" sh -c '
	"$1/lib/udev/slotfs_id" "$2" | grep -qx ID_FS_TYPE=slotfs' \
	sh "$PREFIX" "$IMG"

# by label, as an fstab line names a device where no udev runs (mount(8)
# resolves LABEL= and UUID= with libblkid, which does not know slotfs, or
# through the /dev/disk/by-label links udev makes with 59-slotfs.rules;
# the legacy "fuse" type hands the whole source to slotfs, which finds
# the device itself)
if LOOP=$(losetup -f --show "$IMG"); then
	at_exit 'losetup -d "$LOOP"'
	check "fsck -A checks a fuse.slotfs fstab line with a pass number" sh -c '
		echo "$1 $2 fuse.slotfs defaults 0 2" > "$3/fstab.pass" &&
		FSTAB_FILE=$3/fstab.pass fsck -A -V > "$3/fsck-A.out" 2>&1 &&
		grep -q "fsck.fuse.slotfs $1" "$3/fsck-A.out" &&
		grep -q "^$1: clean" "$3/fsck-A.out" ||
		{ cat "$3/fsck-A.out"; exit 1; }' sh "$LOOP" "$MNT" "$W"
	check "an fstab line slotfs#LABEL= mounts the device that holds it" sh -c '
		tune.slotfs -L "inst-$$" "$1" >/dev/null &&
		echo "slotfs#LABEL=inst-$$ $2 fuse defaults,nofail 0 0" > "$3/fstab" &&
		mount -a -T "$3/fstab" && mountpoint -q "$2" &&
		grep -q "^$4 $2 fuse.slotfs " /proc/mounts &&
		seq 1 100000 | cmp - "$2/d/copy" && umount "$2"' \
		sh "$IMG" "$MNT" "$W" "$LOOP"
else
	t_not_ok "losetup for the fstab label line" /dev/null
fi

for page in "$PREFIX"/share/man/man*/*; do
	n=$(basename "$page")
	check "man page $n renders without warnings" sh -c '
		out=$(MANWIDTH=80 man --warnings -l "$1" 2>&1 >/dev/null)
		[ -z "$out" ] || { echo "$out"; exit 1; }' sh "$page"
done
t_done
