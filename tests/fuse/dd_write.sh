#!/usr/bin/env bash
# dd with seek= and conv=notrunc into an existing file, at offsets inside a
# block, across block and chunk boundaries and past the end; the same dd
# runs on a reference file outside slotfs, and the two must stay equal.
. "$(dirname "$0")/lib.sh"

fuse_setup
REF=$W/ref
F=$MNT/f
rand_file "$W/base" 3145739         # 3 MiB + 11: ends inside a chunk
cp "$W/base" "$REF"
check "cp a 3 MiB + 11 file in" cp "$W/base" "$F"

# both BS SEEK COUNT [SRC]: the same dd on the reference and on slotfs.
both() {
	local bs=$1 seek=$2 count=$3 src=${4:-$W/patch}
	dd if="$src" of="$REF" bs="$bs" seek="$seek" count="$count" conv=notrunc status=none
	dd if="$src" of="$F" bs="$bs" seek="$seek" count="$count" conv=notrunc status=none
	cmp "$REF" "$F"
	expect_eq "size" "$(stat -c %s "$REF")" "$(stat -c %s "$F")"
}
rand_file "$W/patch" 3000000

check "bs=1 seek=4093: 7 bytes across a block boundary" both 1 4093 7
check "bs=1 seek=0: the first byte" both 1 0 1
check "bs=512 seek=9 count=3: unaligned 1536 bytes" both 512 9 3
check "bs=4096 seek=3 count=2: two whole blocks" both 4096 3 2
check "bs=100 seek=10485 count=2: across the 1 MiB chunk boundary" both 100 10485 2
check "bs=1M seek=1 count=1: exactly the second chunk" both 1M 1 1
check "bs=1 seek=3145738: the last byte" both 1 3145738 1
check "bs=1000 seek=3145 count=2: over the end, extends the file" both 1000 3145 2
check "bs=4096 seek=1000 count=1: past the end, leaves a hole" both 4096 1000 1
check "bs=1M seek=0 count=2: rewrite the first 2 MiB" both 1M 0 2

read_back() {
	# read pieces back with skip=, as a reader at an offset would
	local skip
	for skip in 0 1 4095 4096 1048575 1048576 3145700; do
		cmp <(bytes "$REF" "$skip" 4097) <(bytes "$F" "$skip" 4097)
	done
	cmp <(dd if="$REF" bs=4096 skip=999 status=none) \
		<(dd if="$F" bs=4096 skip=999 status=none)
}
check "reads at offsets match the reference" read_back

hole_is_zero() {
	# the hole between the old end and block 1000 reads as zeros
	local start=3147000 len=$((4096000 - 3147000))
	cmp <(head -c "$len" /dev/zero) \
		<(bytes "$F" "$start" "$len")
}
check "the hole past the old end reads as zeros" hole_is_zero

# O_DIRECT through the mount: the kernel sends these reads and writes to
# the daemon as they are, and drops pages it cached before a direct write.
direct() {
	local bs=$1 seek=$2 count=$3
	cat "$F" >/dev/null     # cache the pages the write replaces
	dd if="$W/patch" of="$REF" bs="$bs" seek="$seek" count="$count" \
		conv=notrunc status=none
	dd if="$W/patch" of="$F" bs="$bs" seek="$seek" count="$count" \
		conv=notrunc oflag=direct status=none
	cmp "$REF" "$F"
	cmp "$REF" <(dd if="$F" bs=64k iflag=direct status=none)
	expect_eq "size" "$(stat -c %s "$REF")" "$(stat -c %s "$F")"
}
check "O_DIRECT: bs=4096 seek=200 count=300, across a chunk" direct 4096 200 300
check "O_DIRECT: bs=512 seek=7 count=3, not block-aligned" direct 512 7 3
check "O_DIRECT: bs=1M seek=4 count=1, past the end" direct 1M 4 1

# Many small direct reads at once reach the store in batches (fs/ops.c):
# each must still get its own bytes.  fio writes blocks that carry their
# own offset and checksum, then reads them back at random at depth 32.
fio_blocks() {
	fio --name=blocks --filename="$MNT/blocks" --size=8M --bs=4k \
		--rw=randwrite --randseed=7 --verify=crc32c --verify_fatal=1 \
		--verify_state_save=0 --output-format=terse "$@"
}
check "fio writes 8 MiB of checksummed 4 KiB blocks" \
	fio_blocks --do_verify=0 --ioengine=psync
check_remount "remount, so the reads go to the device"
check "O_DIRECT 4 KiB random reads at depth 32 get their own blocks" \
	fio_blocks --verify_only --ioengine=io_uring --iodepth=32 --direct=1

fuse_finish
