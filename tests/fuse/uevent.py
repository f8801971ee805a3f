#!/usr/bin/env python3
# uevent.py NAME [SECONDS]: print "ready", then wait for the kernel's
# "change" uevent of the block device NAME (loop0, ...); exit 0 when it
# comes, 1 when it does not within SECONDS (default 10).
import socket
import sys
import time

NETLINK_KOBJECT_UEVENT = 15
name = sys.argv[1].encode()
limit = time.monotonic() + float(sys.argv[2] if len(sys.argv) > 2 else 10)
s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_KOBJECT_UEVENT)
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
    head = msg.split(b"\0", 1)[0]
    if head.startswith(b"change@") and head.endswith(b"/" + name):
        print(head.decode(), flush=True)
        sys.exit(0)
