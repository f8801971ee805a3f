#!/usr/bin/env python3
# uevent.py NAME [SECONDS]: print "ready", then wait for the kernel's
# "change" uevent of the block device NAME (loop0, ...); exit 0 when it
# comes, 1 when it does not within SECONDS (default 10).  Other tests
# running meanwhile attach and detach loop devices, whose events may fill
# the socket's buffer: a large one, and an overrun (ENOBUFS) passed over.
import errno
import socket
import sys
import time

NETLINK_KOBJECT_UEVENT = 15
name = sys.argv[1].encode()
limit = time.monotonic() + float(sys.argv[2] if len(sys.argv) > 2 else 10)
s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_KOBJECT_UEVENT)
try:
    s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)    # SO_RCVBUFFORCE, root
except OSError:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind((0, 1))          # group 1: the kernel's own events
print("ready", flush=True)
while True:
    left = limit - time.monotonic()
    if left <= 0:
        sys.exit(1)
    s.settimeout(left)
    try:
        msg = s.recv(65536)
    except socket.timeout:
        sys.exit(1)
    except OSError as e:
        if e.errno == errno.ENOBUFS:
            continue
        raise
    head = msg.split(b"\0", 1)[0]
    if head.startswith(b"change@") and head.endswith(b"/" + name):
        print(head.decode(), flush=True)
        sys.exit(0)
