#!/usr/bin/env bash
# Permissions on a mount of one user.  Without allow_other the kernel lets
# only the mounting user in and leaves permission checks to slotfs
# (fs/perm.c), so every refusal below is the daemon's.  The store is
# filled as root first, so that some files belong to others; then the user
# "nobody" mounts it and works in it (root itself may not enter his mount).
. "$(dirname "$0")/lib.sh"

U=65534
as_user() { setpriv --reuid=$U --regid=$U --clear-groups "$@"; }
t_need setpriv python3 setfattr getfattr

# The user must reach the image and the mount point, and the work
# directory may lie below one he cannot enter (root's home): both go to
# a directory of their own in /tmp, which is unmounted and removed at exit.
UW=$(mktemp -d /tmp/slotfs-perms.XXXXXX)
chmod 755 "$UW"
at_exit 'fusermount3 -u -z "$UW/mnt" 2>/dev/null; rm -rf "$UW"'
IMG=$UW/img
MNT=$UW/mnt

new_image "$IMG"
seed_as_root() {
	mkdir -m 1777 "$MNT/sticky"
	echo root >"$MNT/sticky/rootfile"
	chmod 0666 "$MNT/sticky/rootfile"
	echo secret >"$MNT/private"
	chmod 0640 "$MNT/private"
	echo group >"$MNT/groupfile"
	chown 0:$U "$MNT/groupfile"
	chmod 0060 "$MNT/groupfile"
	echo other >"$MNT/otherfile"
	chmod 0604 "$MNT/otherfile"
	mkdir -m 0777 "$MNT/pub"
	echo x >"$MNT/pub/suw"
	chmod 6777 "$MNT/pub/suw"
	for f in sut sut2 sut3; do
		echo x >"$MNT/pub/$f"
		chmod 6777 "$MNT/pub/$f"
	done
	echo x >"$MNT/pub/g0"
	chown $U:0 "$MNT/pub/g0"
	# set-group-ID without group execute, of a group nobody is not in
	for f in sgw sgt; do
		echo x >"$MNT/pub/$f"
		chmod 2767 "$MNT/pub/$f"
	done
	echo x >"$MNT/pub/r644"
	chmod 0644 "$MNT/pub/r644"
	echo x >"$MNT/pub/r666"
	chmod 0666 "$MNT/pub/r666"
	cp "$(type -P true)" "$MNT/pub/xonly"
	chmod 0701 "$MNT/pub/xonly"
	cp "$(type -P true)" "$MNT/pub/ronly"
	chmod 0704 "$MNT/pub/ronly"
	setfattr -n user.s -v secret "$MNT/private"
	setfattr -n user.s -v other "$MNT/otherfile"
	setfattr -n trusted.t -v root "$MNT/otherfile"
}
check_here "mount as root" mount_fs "$IMG" "$MNT" -o xattr
check "files of root in the store" seed_as_root
# root may do anything but execute what has no execute bit; access(2)
# comes to the daemon (perm.c) on this mount
root_access() {
	python3 -c "import os, sys; sys.exit(os.access('$MNT/private', os.X_OK))"
	python3 -c "import os, sys; sys.exit(not os.access('$MNT/private', os.R_OK | os.W_OK))"
}
check "root: access() grants r and w, x only with an execute bit" root_access
# chown(f, -1, -1) is a change of owner: it drops set-user-ID, and
# set-group-ID with group execute (root keeps one without), as on ext4
root_chown_same() {
	local f=$MNT/pub/cs
	echo x >"$f"
	chmod 4755 "$f"
	python3 -c "import os; os.chown('$f', -1, -1)"
	expect_eq "4755 after chown(-1, -1)" 755 "$(stat -c %a "$f")"
	chmod 6766 "$f"
	python3 -c "import os; os.chown('$f', -1, -1)"
	expect_eq "6766 after chown(-1, -1)" 2766 "$(stat -c %a "$f")"
}
check "root: chown(f, -1, -1) drops set-id bits as a chown does" root_chown_same
check_unmount "unmount as root" "$MNT"

chown $U "$IMG" "$MNT"
# A user opens /dev/fuse himself (udev makes it 0666 on an ordinary
# system; a container may not); the mode is put back at exit.  The
# /dev/fuse and io_uring runs of this test may overlap: one at a time
# from here (else the first to finish puts the mode back under the
# other, whose mount as nobody then fails, and the last one leaves 0666).
exec 9>"${TMPDIR:-/tmp}/slotfs-test-perms.lock"
flock -w 120 9 || echo "# waited 120 s for the other perms run; going on" >&2
FUSE_MODE=$(stat -c %a /dev/fuse)
at_exit 'chmod "$FUSE_MODE" /dev/fuse'
chmod 0666 /dev/fuse
T_MOUNT_AS=(setpriv --reuid=$U --regid=$U --clear-groups)
check_here "mount as nobody, without allow_other" mount_fs "$IMG" "$MNT"
T_MOUNT_AS=()

# sh -c SCRIPT as the user; $M is the mount point inside it
u() { as_user env M="$MNT" sh -c "$1"; }

# refused SCRIPT: it must fail, saying EACCES or EPERM
refused() {
	local out
	if out=$(u "$1" 2>&1); then
		echo "allowed, but should not be: $1"
		return 1
	fi
	if ! grep -Eq 'Permission denied|not permitted' <<<"$out"; then
		echo "failed for another reason: $1: $out"
		return 1
	fi
}

# The kernel caches a name once looked up, and the daemon checks search
# permission at lookup; dropping the cached names makes the next walk ask.
forget_names() { sync; echo 2 >/proc/sys/vm/drop_caches; }

own_file() {
	u 'echo data >$M/pub/f && chmod 0 $M/pub/f'
	refused 'cat $M/pub/f'
	u 'chmod 0444 $M/pub/f'
	expect_eq "read with r--" data "$(u 'cat $M/pub/f')"
	refused 'echo more >>$M/pub/f'
	refused 'python3 -c "import os; os.truncate(\"$M/pub/f\", 0)"'
	refused 'python3 -c "import os; os.open(\"$M/pub/f\", os.O_RDONLY | os.O_TRUNC)"'
	expect_eq "intact after the refused writes" data "$(u 'cat $M/pub/f')"
	u 'test ! -w $M/pub/f'    # access(2)
	u 'test -r $M/pub/f'
	u 'test ! -x $M/pub/f'
	u 'chmod 0644 $M/pub/f'
	u 'python3 -c "import os; os.truncate(\"$M/pub/f\", 2)"'
	expect_eq "truncate(2) with w" da "$(u 'cat $M/pub/f')"
}
check "a file's mode binds its owner: read, write, truncate, access()" own_file

dir_write() {
	u 'mkdir $M/pub/d && touch $M/pub/d/a && chmod 0555 $M/pub/d'
	refused 'touch $M/pub/d/b'
	refused 'mkdir $M/pub/d/sub'
	refused 'ln -s x $M/pub/d/sym'
	refused 'ln $M/pub/f $M/pub/d/hard'
	refused 'rm -f $M/pub/d/a'
	refused 'mv $M/pub/d/a $M/pub/moved'
	refused 'mv $M/pub/f $M/pub/d/in'
	u 'test -e $M/pub/d/a && test ! -e $M/pub/d/b && test ! -e $M/pub/moved'
	u 'chmod 0755 $M/pub/d && rm $M/pub/d/a'
	# a directory that moves to another parent rewrites its "..": it
	# needs write permission itself, even with both parents writable
	u 'mkdir $M/pub/ro $M/pub/to && chmod 0555 $M/pub/ro'
	refused 'mv $M/pub/ro $M/pub/to/ro'
	u 'mv $M/pub/ro $M/pub/ro2 && test -d $M/pub/ro2'   # same parent: fine
}
check "a directory without w: no create, mkdir, link, unlink, rename" dir_write

dir_search_read() {
	u 'mkdir $M/pub/x && echo in >$M/pub/x/a && chmod 0666 $M/pub/x'
	forget_names
	refused 'cat $M/pub/x/a'
	refused 'stat $M/pub/x/a'
	expect_eq "r without x: the names" a "$(u 'ls $M/pub/x')"
	# and no more: a listing must not leave the kernel names to walk
	refused 'stat $M/pub/x/a'
	u 'chmod 0333 $M/pub/x'
	refused 'ls $M/pub/x'
	forget_names
	expect_eq "x without r: by name" in "$(u 'cat $M/pub/x/a')"
}
check "a directory without x hides its files; without r, its names" dir_search_read

# The kernel keeps names for entry_timeout (a day): a chmod that takes
# search permission away must drop those it cached in the directory.
dir_search_now() {
	u 'mkdir $M/pub/y && echo in >$M/pub/y/a && mkdir $M/pub/y/sub'
	expect_eq "walked before" in "$(u 'cat $M/pub/y/a')"
	u 'stat $M/pub/y/sub >/dev/null && chmod 0666 $M/pub/y'
	refused 'cat $M/pub/y/a'
	refused 'stat $M/pub/y/sub'
	u 'chmod 0777 $M/pub/y'
	expect_eq "x again" in "$(u 'cat $M/pub/y/a')"
}
check "a directory made unsearchable hides its cached names at once" dir_search_now

others() {
	refused 'cat $M/private'
	expect_eq "group bits" group "$(u 'cat $M/groupfile')"
	expect_eq "other bits" other "$(u 'cat $M/otherfile')"
	refused 'echo x >>$M/otherfile'
	refused 'chmod 0777 $M/otherfile'
	refused 'chown '$U' $M/otherfile'
	refused 'chgrp '$U' $M/otherfile'
	refused 'touch -d 2001-01-01 $M/sticky/rootfile'
	u 'touch $M/sticky/rootfile'            # "now" needs only w
	refused 'rm -f $M/sticky/rootfile'
	refused 'mv $M/sticky/rootfile $M/sticky/mine'
	u 'echo mine >$M/sticky/mine && rm $M/sticky/mine'
	expect_eq "root's file intact" root "$(u 'cat $M/sticky/rootfile')"
	expect_eq "its mode" 666 "$(u 'stat -c %a $M/sticky/rootfile')"
}
check "files of others: group and other bits, chmod, chown, utimes, sticky" others

# execve opens for execute, not read: --x runs, r-- does not
exec_bits() {
	u '$M/pub/xonly'
	refused 'cat $M/pub/xonly'
	refused '$M/pub/ronly'
	u 'cat $M/pub/ronly >/dev/null'
}
check "execute permission decides execve, read permission cat" exec_bits

own_attrs() {
	u 'touch -d 2001-01-01 $M/pub/f'
	expect_eq "explicit time by the owner" 2001 "$(u 'date -r $M/pub/f +%Y')"
	u 'chmod 2755 $M/pub/f'
	expect_eq "own group: set-gid kept" 2755 "$(u 'stat -c %a $M/pub/f')"
	refused 'chgrp 0 $M/pub/f'
	u 'chmod 2755 $M/pub/g0'
	expect_eq "another group: set-gid dropped" 755 "$(u 'stat -c %a $M/pub/g0')"
}
check "the owner sets times and modes, not a foreign group" own_attrs

# The kernel drops set-id bits before a write by sending a mode change,
# which the daemon must let any writer make.
others_write() {
	u 'echo more >>$M/pub/suw'
	expect_eq "set-id bits gone" 777 "$(u 'stat -c %a $M/pub/suw')"
	expect_eq "the write landed" "x more" "$(u 'cat $M/pub/suw' | tr '\n' ' ' | sed 's/ $//')"
}
check "a write to another's set-id file drops the bits and lands" others_write

# The daemon kills set-id bits itself (FUSE_HANDLE_KILLPRIV_V2): the
# kernel sends a truncation or a write with a kill flag, not a mode
# change first; so a truncation, O_TRUNC and fallocate by another user
# must drop them too
others_truncate() {
	u 'cat $M/.slotfs/status.json' | grep -q '"killpriv_v2":1'
	u 'truncate -s 1 $M/pub/sut'
	expect_eq "truncate: set-id bits gone" 777 "$(u 'stat -c %a $M/pub/sut')"
	u ': >$M/pub/sut2'
	expect_eq "O_TRUNC: set-id bits gone" 777 "$(u 'stat -c %a $M/pub/sut2')"
	u 'fallocate -l 8192 $M/pub/sut3'
	expect_eq "fallocate: set-id bits gone" 777 "$(u 'stat -c %a $M/pub/sut3')"
}
check "a truncation of another's set-id file drops the bits" others_truncate

# set-group-ID without group execute goes too when the writer is outside
# the file's group (the kernel's rule; ext4 does so)
others_sgid() {
	u 'echo y >>$M/pub/sgw'
	expect_eq "write: set-gid gone" 767 "$(u 'stat -c %a $M/pub/sgw')"
	u 'truncate -s 1 $M/pub/sgt'
	expect_eq "truncate: set-gid gone" 767 "$(u 'stat -c %a $M/pub/sgt')"
}
check "a write by someone outside the group drops set-gid without g+x" others_sgid

# a mode change is the owner's, even one that changes nothing or only
# drops set-id bits; utimensat with one time "now" and the other
# omitted (touch -a) is an explicit change, the owner's too
others_attrs() {
	refused 'chmod 0644 $M/pub/r644'
	refused 'chmod 0766 $M/pub/sgt'
	refused 'touch -a $M/pub/r666'
	refused 'touch -m $M/pub/r666'
	u 'touch $M/pub/r666'                   # both "now": w is enough
}
check "chmod of another's file, and touch -a/-m of it, are refused" others_attrs

# fs.protected_hardlinks (on in Debian): no link to another's file one
# may not read and write
others_link() {
	[ "$(cat /proc/sys/fs/protected_hardlinks)" = 1 ] ||
		{ echo "# fs.protected_hardlinks is off here"; return 1; }
	refused 'ln $M/pub/r644 $M/pub/l644'
	u 'ln $M/pub/r666 $M/pub/l666 && rm $M/pub/l666'
}
check "protected hard links: another's r-- file is refused, rw- linked" others_link

# user. attributes need read or write permission on the file, which the
# daemon checks; trusted. ones are root's, and not even listed to others
# (the mount serves attributes by itself: the store has some)
xattrs() {
	refused 'getfattr -n user.s $M/private'
	expect_eq "other-readable" other \
		"$(u 'getfattr --only-values -n user.s $M/otherfile')"
	refused 'setfattr -n user.t -v x $M/otherfile'
	refused 'setfattr -x user.s $M/otherfile'
	expect_eq "names listed to nobody" user.s \
		"$(u 'getfattr -m - --absolute-names $M/otherfile' | grep -v '^#' | grep .)"
	refused 'setfattr -n trusted.x -v 1 $M/pub/f'
	u 'setfattr -n user.mine -v y $M/pub/f && chmod 0444 $M/pub/f'
	refused 'setfattr -n user.more -v y $M/pub/f'
	expect_eq "read back" y "$(u 'getfattr --only-values -n user.mine $M/pub/f')"
	# a sticky directory's user. attributes are its owner's to write,
	# whatever its mode lets others do (the kernel's xattr_permission,
	# which leaves that one to us here)
	refused 'setfattr -n user.t -v x $M/sticky'
	u 'mkdir -m 1777 $M/pub/mine && setfattr -n user.t -v x $M/pub/mine'
}
check "extended attributes: file permissions for user., trusted. hidden, sticky directories" xattrs

check_unmount "unmount as nobody" "$MNT"
check_rc "fsck.slotfs -f exits 0" 0 fsck.slotfs -f "$IMG"

# The same calls, as nobody in a supplementary group, where the daemon
# decides and where the kernel does (allow_other: default_permissions),
# on two copies of a store of 378 files and directories of three owners,
# three groups and 21 modes: the answers must be the same
# (tests/fuse/permdiff.py says what it calls).  The script goes where
# nobody can read it, and so does the python he runs.
cp "$(dirname "$0")/permdiff.py" "$UW/permdiff.py"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
at_exit 'fusermount3 -u -z "$UW/mnt2" 2>/dev/null; fusermount3 -u -z "$UW/mnt3" 2>/dev/null'
new_image "$UW/img2"
check_here "mount a second store as root" mount_fs "$UW/img2" "$UW/mnt2" -o xattr
check "seed it with every owner, group and mode" "$PY" "$UW/permdiff.py" seed "$UW/mnt2"
check_unmount "unmount the seeded store" "$UW/mnt2"
cp --sparse=always "$UW/img2" "$UW/img3"
chown $U "$UW/img2" "$UW/mnt2"
T_MOUNT_AS=(setpriv --reuid=$U --regid=$U --clear-groups)
check_here "mount one copy as nobody" mount_fs "$UW/img2" "$UW/mnt2" -o xattr
T_MOUNT_AS=()
check_here "mount the other as root, allow_other" mount_fs "$UW/img3" "$UW/mnt3" \
	-o allow_other,xattr
same_answers() {
	local m
	for m in mnt2 mnt3; do
		setpriv --reuid=$U --regid=$U --groups=4321 \
			"$PY" "$UW/permdiff.py" probe "$UW/$m" >"$UW/$m.txt"
	done
	expect_eq "names probed" 378 "$(wc -l <"$UW/mnt2.txt")"
	diff "$UW/mnt3.txt" "$UW/mnt2.txt"
}
check "the daemon answers as the kernel does, call by call" same_answers
check_unmount "unmount the copy of nobody" "$UW/mnt2"
check_unmount "unmount the copy of root" "$UW/mnt3"
t_done
