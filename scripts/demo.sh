#!/usr/bin/env bash
# Build slotfs, make an image file, format it and mount it: the main job on
# a fresh machine.  Run as root (or with sudo) from anywhere in the tree.
#
#   SLOTFS_IMAGE  image file (default ./slotfs.img, in the source tree)
#   SLOTFS_MNT    mount point (default /mnt/slotfs)
#   SLOTFS_SIZE   size of a new image (default 1G)
#
# An existing slotfs image is mounted as it is, never formatted again;
# delete it to start afresh.  Unmount with: fusermount3 -u "$SLOTFS_MNT"
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${SLOTFS_IMAGE:-./slotfs.img}
MNT=${SLOTFS_MNT:-/mnt/slotfs}
SIZE=${SLOTFS_SIZE:-1G}
BUILD=build

./scripts/deps.sh

if [ -f "$BUILD/build.ninja" ]; then
	ninja -C "$BUILD"
else
	meson setup "$BUILD" --buildtype=release -Dtests=disabled
	ninja -C "$BUILD"
fi
SLOTFS=$BUILD/fs/slotfs
MKFS=$BUILD/mkfs/mkfs.slotfs
FSCK=$BUILD/fsck/fsck.slotfs

if mountpoint -q "$MNT"; then
	echo "demo.sh: $MNT is already mounted; nothing to do.  Unmount it with:"
	echo "    fusermount3 -u $MNT"
	exit 0
fi

if [ -e "$IMAGE" ]; then
	echo "== using the existing image $IMAGE (delete it to format a new one)"
	"$FSCK" -p "$IMAGE" || [ $? -le 1 ] ||
		{ echo "demo.sh: $IMAGE needs repair: $FSCK -y $IMAGE" >&2; exit 1; }
else
	echo "== creating a $SIZE image $IMAGE"
	"$MKFS" -C "$SIZE" -L demo "$IMAGE"
fi

mkdir -p "$MNT"
echo "== mounting $IMAGE at $MNT"
"$SLOTFS" "$IMAGE" "$MNT"

echo "== a first file"
echo "hello from slotfs" > "$MNT/hello.txt"
ls -l "$MNT"
df -h "$MNT"
echo "== status ($MNT/.slotfs/status.json)"
python3 -m json.tool "$MNT/.slotfs/status.json" | head -n 24

cat <<EOT

slotfs is mounted at $MNT (image $IMAGE).  Use it with ordinary tools:
    cp -r /usr/share/doc $MNT/ && df -h $MNT
Unmount it with:
    fusermount3 -u $MNT
and check it afterwards with:
    $FSCK -f $IMAGE
EOT
