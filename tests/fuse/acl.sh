#!/usr/bin/env bash
# POSIX ACLs through the mount (-o acl), each case against ext4 on a loop
# device: off by default; setfacl and getfacl give what ext4 gives, chmod
# included; default ACLs are inherited by new files and directories, the
# umask only where none applies; the kernel enforces them (opens and
# searches as nobody, by nsx --acl, errno by errno); set-group-ID drops
# when its owner outside the group sets an ACL; cp -a, tar --acls and
# rsync -A keep them; fsync before a crash keeps an inherited ACL; a store
# that has some turns them on by itself; -o noacl hides them.
. "$(dirname "$0")/lib.sh"
t_need setfacl getfacl setpriv python3 mkfs.ext4 rsync tar slotfs-dump

U=65534
as_nobody() { setpriv --reuid=$U --regid=$U --clear-groups "$@"; }

# nobody must reach both trees: a directory of our own in /tmp, as in
# perms.sh; the ext4 reference is unmounted at exit.
AW=$(mktemp -d /tmp/slotfs-acl.XXXXXX)
chmod 755 "$AW"
REF=$AW/ref
_acl_cleanup() {
	fusermount3 -u -z "$AW/mnt" 2>/dev/null
	umount "$REF" 2>/dev/null || umount -l "$REF" 2>/dev/null
	rm -rf "$AW"
}
at_exit _acl_cleanup
IMG=$AW/img
MNT=$AW/mnt
new_image "$IMG" 256M
truncate -s 256M "$AW/ext4.img"
mkfs.ext4 -q -F "$AW/ext4.img"
mkdir -p "$REF"
mount -o loop "$AW/ext4.img" "$REF"

check_here "mount without -o acl" mount_fs "$IMG" "$MNT"
off_by_default() {
	local out
	echo x >"$MNT/f"
	out=$(setfacl -m u:nobody:r "$MNT/f" 2>&1) && return 1
	case $out in *"Operation not supported"*) ;; *) echo "$out"; return 1 ;; esac
	grep -q '"acl":0' "$MNT/.slotfs/status.json"
	grep -q '^slotfs_fuse_acl 0$' "$MNT/.slotfs/metrics"
	rm "$MNT/f"
}
check "off on a store without any: setfacl says not supported" off_by_default
check_here "unmount" unmount_fs "$MNT"
check_here "mount -o acl,allow_other" mount_fs "$IMG" "$MNT" -o acl,allow_other

# The same commands in a directory of each tree.
acl_script() {
	mkdir "$1/t" && cd "$1/t" || return 1
	umask 022
	echo a >named; setfacl -m u:nobody:rw,g:users:r named
	echo b >equiv; setfacl -m u::rwx,g::r-x,o::--- equiv
	echo c >chmodded; setfacl -m u:nobody:rw chmodded; chmod 604 chmodded
	echo d >removed; setfacl -m u:nobody:rwx removed; setfacl -x u:nobody removed
	echo e >stripped; setfacl -m u:nobody:r stripped; setfacl -b stripped
	echo f >set; setfacl --set u::rw,u:nobody:r,g::r,g:users:rw,m::r,o::- set
	mkdir d
	setfacl -d -m u:nobody:rwx,g:users:rx,o::- d
	setfacl -m u:nobody:rx d
	umask 077
	echo x >d/file
	mkdir d/sub d/sub/deeper
	touch d/sub/deep
	mkfifo d/fifo
	ln -s file d/link
	python3 -c 'import os; os.close(os.open("d/m640", os.O_CREAT | os.O_WRONLY, 0o640))'
	mkdir -m 2750 d/setgid
	touch d/setgid/in
	setfacl -k d/sub
	touch d/sub/after
	mkdir e
	setfacl -d -m u::rwx,g::rx,o::rx e
	touch e/umask_ignored
	umask 022
	chmod 750 d/file
}

# Names (no symlinks), owners and modes, then each one's ACLs, as text.
acl_listing() {
	(
		cd "$1" || exit 1
		find . -mindepth 1 -printf '%M %u %g %p\n' | sort
		find . -mindepth 1 ! -type l -print | sort | xargs -d '\n' getfacl -p --
	)
}

as_on_ext4() {
	(acl_script "$MNT") || return 1
	(acl_script "$REF") || return 1
	acl_listing "$MNT/t" >"$AW/here" || return 1
	acl_listing "$REF/t" >"$AW/ext4" || return 1
	diff "$AW/here" "$AW/ext4" || return 1
	# the listing does hold what the script set up: an inherited ACL,
	# and a minimal default ACL that takes the umask's place
	grep -q '^-rw-r----- root root ./d/m640$' "$AW/here"
	grep -A4 '^# file: ./d/m640$' "$AW/here" |
		grep -q "^user:nobody:rwx.#effective:r--$"
	grep -q '^-rw-r--r-- root root ./e/umask_ignored$' "$AW/here"
}
check "setfacl, getfacl, chmod and inheritance as on ext4" as_on_ext4

enforced() {
	local t
	for t in "$MNT" "$REF"; do
		echo secret >"$t/t/secret"
		chmod 600 "$t/t/secret"
		expect_fail "nobody reads a 0600 file" as_nobody cat "$t/t/secret"
		setfacl -m u:nobody:r "$t/t/secret"
		expect_eq "nobody reads it with an ACL entry" secret \
			"$(as_nobody cat "$t/t/secret")"
		chmod g-r "$t/t/secret"     # the mask
		expect_fail "nobody reads it past the mask" as_nobody cat "$t/t/secret"
		expect_eq "nobody lists d by its ACL" "$(ls "$t/t/d")" \
			"$(as_nobody ls "$t/t/d")"
		expect_fail "nobody cannot write in d" \
			as_nobody touch "$t/t/d/by_nobody"
		expect_fail "nobody cannot list e" as_nobody ls "$t/t/e"
	done
	acl_listing "$MNT/t" >"$AW/here" || return 1
	acl_listing "$REF/t" >"$AW/ext4" || return 1
	diff "$AW/here" "$AW/ext4"
}
check "the kernel enforces them, as on ext4" enforced

# Setting an ACL drops set-group-ID when its owner is not in the group.
setgid_drop() {
	local t
	for t in "$MNT" "$REF"; do
		echo s >"$t/t/sg"
		chown $U:0 "$t/t/sg"
		chmod 2770 "$t/t/sg"
		as_nobody setfacl -m u:1000:r "$t/t/sg"
	done
	expect_eq "the mode on ext4" "-rwxrwx---" "$(stat -c %A "$REF/t/sg")"
	expect_eq "the mode here" "$(stat -c %A "$REF/t/sg")" \
		"$(stat -c %A "$MNT/t/sg")"
}
check "set-group-ID drops when a non-member sets an ACL" setgid_drop

for s in 6 7; do
	mkdir -p "$MNT/s$s" "$REF/s$s"
	check "nsx --acl: seed $s, 1500 operations match ext4" \
		python3 "$T_SRC/tests/fuse/nsx.py" --acl -n 1500 -s "$s" \
		"$MNT/s$s" "$REF/s$s"
done

tools() {
	local m
	cp -a "$REF/t" "$MNT/cp"
	mkdir "$MNT/tar" "$MNT/rs"
	tar -C "$REF/t" --acls -cf - . | tar -C "$MNT/tar" --acls -xf -
	rsync -aA "$REF/t/" "$MNT/rs/"
	acl_listing "$REF/t" >"$AW/ext4" || return 1
	for m in cp tar rs; do
		acl_listing "$MNT/$m" >"$AW/here" || return 1
		diff "$AW/ext4" "$AW/here" || { echo "($m)"; return 1; }
	done
}
check "cp -a, tar --acls and rsync -A keep them" tools

fsync_crash() {
	# nsx's trees, whole: a directory's fsync makes everything durable
	sync "$MNT"
	python3 - "$MNT/t/d/synced" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o660)
os.write(fd, b"durable")
os.fsync(fd)
os.close(fd)
EOF
	getfacl -p "$MNT/t/d/synced" >"$AW/synced.acl"
	grep -q '^user:nobody:rwx' "$AW/synced.acl"
}
check "a file inherits an ACL, fsync" fsync_crash
check_here "crash (kill -9)" kill_fs "$MNT"
check_here "mount again, without -o acl" mount_fs "$IMG" "$MNT" -o allow_other
after_crash() {
	grep -q '"acl":1' "$MNT/.slotfs/status.json"
	grep -q '^slotfs_fuse_acl 1$' "$MNT/.slotfs/metrics"
	diff "$AW/synced.acl" <(getfacl -p "$MNT/t/d/synced")
}
check "the inherited ACL survives; a store with some serves them" after_crash
for s in 6 7; do
	check "after the crash, nsx's tree $s matches ext4's" \
		python3 "$T_SRC/tests/fuse/nsx.py" --compare --acl \
		"$MNT/s$s" "$REF/s$s"
done

check_here "unmount" unmount_fs "$MNT"
check_here "mount -o noacl" mount_fs "$IMG" "$MNT" -o noacl
noacl() {
	local out
	out=$(setfacl -m u:nobody:r "$MNT/t/named" 2>&1) && return 1
	case $out in *"Operation not supported"*) ;; *) echo "$out"; return 1 ;; esac
	expect_eq "getfacl shows the mode only" "user::rw-
group::rw-
other::r--" "$(getfacl -p --omit-header "$MNT/t/named" | grep .)"
	expect_eq "no system. names listed" "" \
		"$(getfattr -m - -d "$MNT/t/named" 2>&1 | grep system.)"
	grep -q '"acl":0' "$MNT/.slotfs/status.json"
}
check "-o noacl turns them off and hides them" noacl
check_here "unmount" unmount_fs "$MNT"

refused() {
	local out rc=0
	out=$(slotfs -f -o acl,noxattr "$IMG" "$MNT" 2>&1) || rc=$?
	expect_eq "exit status" 1 "$rc"
	case $out in *"-o acl needs extended attributes"*) ;;
		*) echo "$out"; return 1 ;; esac
	! is_mounted "$MNT"
}
check "-o acl with -o noxattr is refused, saying why" refused

dumped() {
	slotfs-dump "$IMG" >"$AW/dump" || return 1
	grep -q 'name="system.posix_acl_default" acl=u::rwx,u:65534:rwx,g::r-x,g:100:r-x,m::rwx,o::---$' "$AW/dump"
	grep -q 'name="system.posix_acl_access" acl=u::rw-,u:65534:rw-,g::r--,g:100:r--,m::rw-,o::r--$' "$AW/dump"
}
check "slotfs-dump shows the ACLs as getfacl's short form" dumped
check_here "mount" mount_fs "$IMG" "$MNT"

fuse_finish
