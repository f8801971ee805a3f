#!/usr/bin/env python3
# commits.py DIR MODE N: N SQLite transactions of one 200-byte row each,
# journal_mode MODE and synchronous=FULL (each commit fsyncs), in a fresh
# database in DIR; prints "commits MODE ops=<commits/s>", the median
# commit's rate.  What a database or an editor's save costs a file system:
# fsyncs of files, truncations and names made and removed.
import os
import sqlite3
import statistics
import sys
import time

d, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
db = os.path.join(d, "commits.sqlite")
c = sqlite3.connect(db, isolation_level=None)
c.execute("PRAGMA journal_mode=%s" % mode)
c.execute("PRAGMA synchronous=FULL")
c.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)")
row = os.urandom(200)
took = []
for i in range(n):
    t0 = time.perf_counter()
    c.execute("BEGIN")
    c.execute("INSERT INTO t VALUES(?, ?)", (i, row))
    c.execute("COMMIT")
    took.append(time.perf_counter() - t0)
c.close()
for suffix in ("", "-journal", "-wal", "-shm"):
    if os.path.exists(db + suffix):
        os.unlink(db + suffix)
print("commits %s ops=%.0f" % (mode, 1 / statistics.median(took)))
