# SPDX-License-Identifier: MIT
"""Tests of the slotfs Python binding (python/slotfs).

Run from the source tree with the shared library of a build::

    SLOTFS_LIB=build/core/libslot.so \
        python3 -m unittest discover -s python/tests -v

or use python/run_tests.sh BUILD_DIR.  Images are sparse files in a
temporary directory (honours TMPDIR).  The numpy tests are skipped when
numpy is missing; SLOTFS_TEST_QUICK=1 skips the 1 GiB round trip.
"""

import array
import ctypes
import errno
import json
import mmap
import os
import re
import sys
import tempfile
import threading
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HEADER = os.path.join(ROOT, "core", "slot.h")
sys.path.insert(0, os.path.dirname(HERE))      # python/, for "slotfs"

import slotfs                                   # noqa: E402
from slotfs import _lib as L                    # noqa: E402

try:
    import numpy as np
except ImportError:                             # pragma: no cover
    np = None

NUMPY_MISSING = ("numpy is not installed for %s (Debian: apt install "
                 "python3-numpy)" % sys.executable)
MiB = 1 << 20


def header_structs(path=HEADER):
    """{struct name: [(field, C type, array length or None)]} of every
    struct defined in a C header (enough of C for core/slot.h)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    out = {}
    for m in re.finditer(r"struct\s+(\w+)\s*\{(.*?)\}\s*;", text, re.S):
        fields = []
        for decl in m.group(2).split(";"):
            decl = " ".join(decl.split())
            if not decl:
                continue
            fp = re.match(r".*\(\s*\*\s*(\w+)\s*\)\s*\(.*\)$", decl)
            if fp:
                fields.append((fp.group(1), "fn", None))
                continue
            parts = decl.split(",")
            d = re.match(r"^(.*[\s*])(\w+)\s*(?:\[([^\]]*)\])?$", parts[0])
            base = d.group(1).replace("*", "").strip()
            stars = d.group(1).count("*")
            fields.append((d.group(2), base + " " + "*" * stars,
                           d.group(3)))
            for more in parts[1:]:
                d = re.match(r"^(\**)\s*(\w+)\s*(?:\[([^\]]*)\])?$",
                             more.strip())
                fields.append((d.group(2), base + " " + d.group(1),
                               d.group(3)))
        out[m.group(1)] = [(n, t.strip(), a) for n, t, a in fields]
    return out


C_TYPES = {
    "uint64_t": ctypes.c_uint64, "int64_t": ctypes.c_int64,
    "uint32_t": ctypes.c_uint32, "int32_t": ctypes.c_int32,
    "uint8_t": ctypes.c_uint8, "bool": ctypes.c_bool, "char": ctypes.c_char,
    "unsigned": ctypes.c_uint, "int": ctypes.c_int, "size_t": ctypes.c_size_t,
    "enum slot_engine": ctypes.c_int,
    "char *": ctypes.c_char_p, "const char *": ctypes.c_char_p,
    "void *": ctypes.c_void_p, "const void *": ctypes.c_void_p,
    "const uint8_t *": ctypes.POINTER(ctypes.c_uint8),
    "struct slot_dev_stats": L.SlotDevStats,
}


class TestHeader(unittest.TestCase):
    """The ctypes mirrors match core/slot.h field for field, so a change
    to the header that the binding has not followed fails here (instead of
    corrupting memory at run time)."""

    MIRRORS = {
        "slot_dev_stats": L.SlotDevStats, "slot_geometry": L.SlotGeometry,
        "slot_format_opts": L.SlotFormatOpts, "slot_opts": L.SlotOpts,
        "slot_recovery": L.SlotRecovery, "slot_put": L.SlotPut,
        "slot_get": L.SlotGet, "slot_status": L.SlotStatus,
        "slot_status_ext": L.SlotStatusExt,
    }

    @unittest.skipUnless(os.path.exists(HEADER), "no core/slot.h here")
    def test_structs_match_header(self):
        structs = header_structs()
        consts = {"SLOT_LABEL_MAX": L.SLOT_LABEL_MAX,
                  "SLOT_NAME_MAX": L.SLOT_NAME_MAX}
        for cname, cls in self.MIRRORS.items():
            want = structs[cname]
            self.assertEqual([n for n, _ in cls._fields_],
                             [n for n, _, _ in want],
                             "struct %s: fields differ from core/slot.h"
                             % cname)
            for (name, typ), (_, ctype, alen) in zip(cls._fields_, want):
                where = "struct %s.%s (%s)" % (cname, name, ctype)
                if ctype == "fn":
                    self.assertTrue(issubclass(typ, ctypes._CFuncPtr), where)
                    continue
                if alen is not None:
                    n = eval(alen, {"__builtins__": {}}, consts)
                    self.assertTrue(issubclass(typ, ctypes.Array), where)
                    self.assertEqual(typ._length_, n, where)
                    typ = typ._type_
                self.assertIs(typ, C_TYPES[ctype], where)

    def test_header_parser(self):
        h = os.path.join(self.tmp, "t.h")
        with open(h, "w") as f:
            f.write("struct a { uint64_t x, *y; /* c */ char n[4 + 1];\n"
                    "  void (*fn)(void *p,\n int q); unsigned u; };\n")
        self.assertEqual(header_structs(h)["a"], [
            ("x", "uint64_t", None), ("y", "uint64_t *", None),
            ("n", "char", "4 + 1"), ("fn", "fn", None),
            ("u", "unsigned", None)])

    def setUp(self):
        self._td = tempfile.TemporaryDirectory()
        self.tmp = self._td.name

    def tearDown(self):
        self._td.cleanup()


class StoreCase(unittest.TestCase):
    """A fresh 256 MiB image per test, opened as self.store."""

    image_size = 256 * MiB
    open_kwargs = {}

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="slotfs-py-")
        self.path = os.path.join(self.tmp.name, "image")
        self.geo = slotfs.format(self.path, self.image_size, label="pytest")
        self.store = slotfs.Store(self.path, **self.open_kwargs)

    def tearDown(self):
        self.store.close()
        self.tmp.cleanup()

    def reopen(self, **kw):
        self.store.close()
        self.store = slotfs.Store(self.path, **kw)
        return self.store


class TestRoundTrip(StoreCase):

    def test_bytes_bytearray_memoryview(self):
        data = os.urandom(300000)
        values = {
            "b/bytes": data,
            "b/bytearray": bytearray(data[:70000]),
            "b/memoryview": memoryview(bytearray(data))[5:200005],
            "b/ro-memoryview": memoryview(data)[1:4097],
            "b/array": array.array("I", range(1000)),
            "b/empty": b"",
        }
        res = self.store.put_many(list(values), list(values.values()))
        self.assertEqual(res, [0] * len(values))
        got = self.store.get_many(list(values))
        for (k, v), g in zip(values.items(), got):
            self.assertIsInstance(g, bytearray)
            self.assertEqual(bytes(g), bytes(memoryview(v).cast("B")), k)
        self.assertEqual(self.store.get("b/bytes"), data)
        self.assertEqual(self.store.size("b/array"), 4000)

    def test_multi_chunk_object(self):
        data = os.urandom(3 * MiB + 12345)      # 4 slots of a 1 MiB chunk
        self.store.put("big", data)
        self.assertEqual(self.store.get("big"), data)
        self.assertEqual(self.store.size("big"), len(data))

    def test_replace(self):
        self.store.put("k", b"first version")
        self.store.put("k", b"2nd")
        self.assertEqual(self.store.get("k"), b"2nd")
        self.assertEqual(self.store.keys(), ["k"])

    def test_get_into_buffers(self):
        a, b = os.urandom(5000), os.urandom(128 * 1024)
        self.store.put_many(["a", "b"], [a, b])
        ba = bytearray(8192)
        al = slotfs.aligned_buffer(128 * 1024)
        self.assertEqual(ctypes.addressof(
            (ctypes.c_char * len(al)).from_buffer(al)) % 4096, 0)
        sizes = self.store.get_many(["a", "b"], [ba, al])
        self.assertEqual(sizes, [5000, 128 * 1024])
        self.assertEqual(bytes(ba[:5000]), a)
        self.assertEqual(bytes(al), b)
        mv = memoryview(bytearray(6000))[100:5100]
        self.assertEqual(self.store.load_many_into(["a"], [mv]), [5000])
        self.assertEqual(bytes(mv), a)
        self.assertEqual(self.store.get("a", bytearray(5000)), 5000)

    def test_buffer_too_small(self):
        self.store.put_many(["a", "b"], [b"x" * 100, b"y" * 10])
        with self.assertRaises(slotfs.SlotError) as cm:
            self.store.get_many(["b", "a"], [bytearray(10), bytearray(99)])
        self.assertEqual(cm.exception.errno, errno.ENOBUFS)
        self.assertEqual(cm.exception.filename, "a")
        self.assertIn("100 bytes", cm.exception.strerror)
        self.assertEqual(cm.exception.results, [10, -errno.ENOBUFS])

    def test_missing(self):
        self.store.put("here", b"1")
        with self.assertRaises(slotfs.SlotError) as cm:
            self.store.get_many(["here", "gone"])
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        self.assertEqual(cm.exception.results, [1, -errno.ENOENT])
        self.assertEqual(self.store.get_many(["gone", "here"],
                                             missing_ok=True),
                         [None, b"1"])
        buf = [bytearray(1), bytearray(1)]
        with self.assertRaises(slotfs.SlotError) as cm:
            self.store.get_many(["here", "gone"], buf)
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        self.assertEqual(cm.exception.results, [1, -errno.ENOENT])
        self.assertEqual(self.store.get_many(["here", "gone"], buf,
                                             missing_ok=True), [1, None])

    def test_buffer_checks(self):
        self.store.put("k", b"abc")
        with self.assertRaises(TypeError):
            self.store.get("k", b"read-only bytes")
        with self.assertRaises(TypeError):
            self.store.put("k", memoryview(bytearray(10))[::2])
        with self.assertRaises(TypeError):
            self.store.put("k", 12)
        with self.assertRaises(ValueError):
            self.store.put("nul\0key", b"")
        with self.assertRaises(ValueError):
            self.store.put_many(["a", "b"], [b""])

    def test_bytes_key_and_unicode(self):
        self.store.put(b"raw/key", b"1")
        self.store.put("ключ/值", b"2")
        self.assertEqual(sorted(self.store.keys()),
                         ["raw/key", "ключ/值"])
        self.assertEqual(self.store.get("raw/key"), b"1")


class TestNamespace(StoreCase):

    def test_delete_contains(self):
        self.store.put_many(["d/1", "d/2", "d/3"], [b"1", b"2", b"3"])
        self.assertTrue(self.store.contains("d/1"))
        self.assertIn("d/2", self.store)
        self.assertFalse(self.store.contains("d"))      # a directory
        self.assertFalse(self.store.contains("nope"))
        self.assertEqual(self.store.delete_many(["d/1", "nope", "d/3"]),
                         [0, -errno.ENOENT, 0])
        self.assertFalse(self.store.contains("d/1"))
        self.assertEqual(self.store.keys(), ["d/2"])
        self.assertTrue(self.store.delete("d/2"))
        self.assertFalse(self.store.delete("d/2", missing_ok=True))
        with self.assertRaises(slotfs.SlotError) as cm:
            self.store.delete("d/2")
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        self.assertEqual(self.store.delete_many([]), [])

    def test_keys_sizes(self):
        keys = ["m/layer%d/blk%d" % (l, b) for l in range(3) for b in range(4)]
        self.store.put_many(keys, [b"x" * i for i in range(len(keys))])
        self.assertEqual(sorted(self.store.keys()), sorted(keys))
        self.assertEqual(self.store.sizes(),
                         {k: i for i, k in enumerate(keys)})

    def test_errors(self):
        long_name = "n" * (slotfs.NAME_MAX + 1)
        with self.assertRaises(slotfs.SlotError) as cm:
            self.store.put(long_name, b"x")
        e = cm.exception
        self.assertIsInstance(e, OSError)
        self.assertEqual(e.errno, errno.ENAMETOOLONG)
        self.assertEqual(e.strerror, slotfs.strerror(errno.ENAMETOOLONG))
        self.assertEqual(e.filename, long_name)
        self.store.put("n" * slotfs.NAME_MAX, b"ok")     # the limit itself
        self.assertEqual(self.store.put_many(["ok", long_name], [b"", b""]),
                         [0, -errno.ENAMETOOLONG])
        with self.assertRaises(slotfs.SlotError) as cm:
            self.store.get(long_name)
        self.assertEqual(cm.exception.errno, errno.ENAMETOOLONG)
        for fn in (self.store.get, self.store.size):
            with self.assertRaises(slotfs.SlotError) as cm:
                fn("missing")
            self.assertEqual(cm.exception.errno, errno.ENOENT)
        with self.assertRaises(slotfs.SlotError) as cm:
            self.store.put("", b"x")
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        self.assertEqual(cm.exception.strerror, os.strerror(errno.EINVAL))
        self.store.put("file", b"x")
        with self.assertRaises(slotfs.SlotError) as cm:
            self.store.put("file/child", b"x")
        self.assertEqual(cm.exception.errno, errno.ENOTDIR)

    def test_closed(self):
        self.store.close()
        self.store.close()                      # a no-op
        self.assertTrue(self.store.closed)
        with self.assertRaises(ValueError):
            self.store.get("x")


class TestStatus(StoreCase):

    # no periodic thread: checkpoint counts move only when the test says
    open_kwargs = {"periodic_checkpoint": False}

    def test_status_dict(self):
        self.store.put_many(["s/a", "s/b"], [b"a" * 5000, b"b" * 70000])
        self.store.get("s/a")
        self.store.delete("s/b")
        st = self.store.status()
        names = [n for n, _ in L.SlotStatus._fields_]
        self.assertEqual(list(st), names)
        self.assertEqual(list(st["io"]),
                         [n for n, _ in L.SlotDevStats._fields_])
        self.assertEqual(st["key_count"], 1)
        self.assertEqual(st["puts"], 2)
        self.assertEqual(st["gets"], 1)
        self.assertEqual(st["deletes"], 1)
        self.assertEqual(st["inflight_io_count"], 0)
        self.assertEqual(st["checksum_errors"], 0)
        self.assertEqual(st["queue_depth"], 32)
        self.assertEqual(st["io"]["queue_depth"], 32)
        self.assertGreater(st["io"]["bytes_written"], 75000)
        self.assertGreater(st["io"]["bytes_read"], 5000)
        self.assertEqual(st["io"]["errors"], 0)
        self.assertEqual(st["io"]["submitted"], st["io"]["completed"])
        self.assertLessEqual(st["bytes_free"], st["bytes_total"])
        self.assertEqual(st["slots_free"] + st["slots_used"],
                         st["slots_total"])
        self.assertIs(st["read_only"], False)
        self.assertIs(st["clean_at_open"], True)
        self.assertIn(st["engine"], ("io_uring", "psync"))
        self.assertEqual(self.store.geometry()["label"], "pytest")
        self.assertEqual(self.store.geometry()["uuid"], self.geo["uuid"])
        self.assertTrue(self.store.recovery()["was_clean"])

    def test_json_equals_ctypes(self):
        self.store.put_many(["j/%d" % i for i in range(20)],
                            [os.urandom(i * 1000) for i in range(20)])
        self.store.get_many(["j/%d" % i for i in range(20)])
        # one snapshot, decoded both ways
        snap = self.store._status_struct()
        from_c = json.loads(slotfs._render(L.load().slot_status_json, snap))
        self.assertEqual(from_c, L.struct_to_dict(snap))
        # two snapshots through the public API: only the age may move
        a = self.store.status()
        b = json.loads(self.store.status_json())
        a.pop("last_io_age_ms")
        b.pop("last_io_age_ms")
        self.assertEqual(a, b)

    def test_layout_every_field(self):
        # offsetof-like check: a distinct value in every field of a
        # Python-made struct slot_status must come back out of the C
        # renderer under the right name.
        st = L.SlotStatus()
        want = {}

        def fill(struct, out, base):
            for i, (name, typ) in enumerate(struct._fields_):
                n = base + i
                if issubclass(typ, ctypes.Structure):
                    out[name] = {}
                    fill(getattr(struct, name), out[name], base + 100)
                    continue
                if typ is ctypes.c_uint64:
                    v = (n << 40) | (0xA5 << 8) | n     # high and low bytes
                elif typ is ctypes.c_int64:
                    v = -((n << 36) + n)
                elif typ is ctypes.c_uint32:
                    v = 0x80000000 | (n << 16) | n
                elif typ is ctypes.c_bool:
                    v = name == "clean_at_open"         # False, then True
                else:                                   # char[16]
                    v = "engine-%d" % n
                    setattr(struct, name, v.encode())
                    out[name] = v
                    continue
                setattr(struct, name, v)
                out[name] = v

        fill(st, want, 1)
        self.assertEqual(L.struct_to_dict(st), want)
        got = json.loads(slotfs._render(L.load().slot_status_json, st))
        self.assertEqual(got, want)

    def test_metrics_text(self):
        self.store.put("m", b"x" * 10000)
        text = self.store.metrics()
        self.assertTrue(text.endswith("\n"))
        self.assertIn("# TYPE slotfs_puts_total counter\n"
                      "slotfs_puts_total 1\n", text)
        self.assertIn("slotfs_keys 1\n", text)

    def test_status_ext(self):
        self.store.put("x", b"x" * 10000)
        self.store.checkpoint(force=True)
        ext = self.store.status_ext()
        self.assertEqual(set(ext), {n for n, _ in L.SlotStatusExt._fields_}
                         - {"size"})
        self.assertGreater(ext["ckpt_lock_ns_last"], 0)
        self.assertGreaterEqual(ext["ckpt_lock_ns_max"],
                                ext["ckpt_lock_ns_last"])
        self.assertEqual(ext["fs_errors"], 0)
        self.assertIs(ext["errors_ro"], False)

    def test_checkpoint_sync(self):
        self.store.put("c", b"data")
        self.store.sync()                       # may checkpoint, may not
        self.store.checkpoint(force=True)
        st = self.store.status()
        self.assertEqual(st["metadata_persisted"], st["metadata_dirty_total"])
        n = st["checkpoints"]
        self.store.put("c2", b"more")
        self.assertTrue(self.store.checkpoint(force=True))
        self.assertEqual(self.store.status()["checkpoints"], n + 1)
        self.assertGreater(self.store.status()["last_checkpoint_unix_ms"], 0)
        self.assertFalse(self.store.checkpoint(force=True))   # nothing dirty


    def test_trim(self):
        keep = {"t/k%d" % i: os.urandom(70000 + i) for i in range(5)}
        self.store.put_many(list(keep), list(keep.values()))
        self.store.put("t/gone", os.urandom(3 << 20))
        self.store.sync()
        self.store.delete("t/gone")
        self.assertGreaterEqual(self.store.trim(), 3 << 20)
        self.assertEqual(self.store.trim(), 0)      # nothing new to discard
        self.assertEqual(self.store.get_many(list(keep)), list(keep.values()))
        self.reopen()
        self.assertEqual(self.store.get_many(list(keep)), list(keep.values()))
        self.assertFalse(self.store.contains("t/gone"))

    def test_set_discard(self):
        s = self.reopen(checkpoint_interval_ms=100)
        s.put("d/keep", b"k" * 5000)
        s.put("d/gone", os.urandom(8 << 20))
        s.sync()
        full = os.stat(self.path).st_blocks * 512
        s.set_discard(True)
        s.delete("d/gone")
        freed = 0
        for _ in range(100):
            time.sleep(0.05)
            freed = full - os.stat(self.path).st_blocks * 512
            if freed >= 8 << 20:
                break
        self.assertGreaterEqual(freed, 8 << 20, "no space came back")
        self.assertEqual(s.get("d/keep"), b"k" * 5000)
        s.set_discard(False)

    def test_set_label(self):
        self.store.set_label("kv-cache")
        self.assertEqual(self.store.geometry()["label"], "kv-cache")
        with self.assertRaises(slotfs.SlotError) as cm:
            self.store.set_label("x" * 64)
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        self.reopen()
        self.assertEqual(self.store.geometry()["label"], "kv-cache")

    def test_set_uuid(self):
        self.store.put("u/before", b"b" * 70000)
        new = "11111111-2222-3333-4444-555555555555"
        self.store.set_uuid(new)
        self.store.put("u/after", b"a" * 5000)
        self.assertEqual(self.store.geometry()["uuid"], new)
        with self.assertRaises(slotfs.SlotError) as cm:
            self.store.set_uuid("00000000-0000-0000-0000-000000000000")
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        self.reopen()
        self.assertEqual(self.store.geometry()["uuid"], new)
        self.assertEqual(self.store.get("u/before"), b"b" * 70000)
        self.assertEqual(self.store.get("u/after"), b"a" * 5000)

    def test_errors_remount_ro(self):
        self.store.put("ea", b"e" * 5000)
        self.store.put("eb", b"f" * 5000)
        self.store.sync()
        with self.assertRaises(ValueError):
            self.store.set_errors("panic")
        self.store.set_errors("remount-ro")
        # one payload byte of ea flipped on the device
        with open(self.path, "r+b") as f:
            img = mmap.mmap(f.fileno(), 0)
            at = -1
            while True:
                at = img.find(b"SLOTHDR1", at + 1)
                self.assertGreaterEqual(at, 0, "ea's slot header")
                if at % 4096 == 0 and img[at + 0x80:at + 0x83] == b"ea\0":
                    break
            img[at + 4096 + 100] ^= 1
            img.close()
        with self.assertRaises(slotfs.SlotError) as cm:
            self.store.get("ea")
        self.assertEqual(cm.exception.errno, errno.EIO)
        with self.assertRaises(slotfs.SlotError) as cm:
            self.store.put("ec", b"g")
        self.assertEqual(cm.exception.errno, errno.EROFS)
        self.assertEqual(self.store.get("eb"), b"f" * 5000)

    def test_grow_while_open_and_shrink(self):
        s = self.reopen(checkpoint_interval_ms=100)
        s.put("g/before", b"b" * 70000)
        os.truncate(self.path, 512 * MiB)
        self.assertEqual(s.grow(), 512 * MiB)
        # more than the 256 MiB it had: the new regions take it
        big = os.urandom(1 << 20)
        for i in range(300):
            s.put("g/%d" % i, big)
        with self.assertRaises(slotfs.SlotError) as cm:
            s.grow(256 * MiB)       # no shrinking
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        self.assertGreaterEqual(cm.exception.limit, 512 * MiB)
        self.reopen()
        self.assertEqual(self.store.geometry()["device_size"], 512 * MiB)
        self.assertEqual(self.store.get("g/before"), b"b" * 70000)
        self.assertEqual(self.store.get("g/299"), big)
        # and back: the chunks past 300 MiB move below it
        for i in range(0, 300, 2):
            self.store.delete("g/%d" % i)
        with self.assertRaises(slotfs.SlotError) as cm:
            self.store.shrink(64 * MiB)
        self.assertEqual(cm.exception.errno, errno.ENOSPC)
        self.assertGreater(cm.exception.min, 150 * MiB)
        self.assertEqual(self.store.shrink(300 * MiB), 300 * MiB)
        self.reopen()
        self.assertEqual(self.store.geometry()["device_size"], 300 * MiB)
        self.assertEqual(self.store.get("g/before"), b"b" * 70000)
        self.assertEqual(self.store.get("g/299"), big)


class TestLifecycle(StoreCase):

    def test_reopen_keeps_data(self):
        data = {"p/%d" % i: os.urandom(i * 997 + 1) for i in range(30)}
        self.store.put_many(list(data), list(data.values()))
        self.reopen()
        self.assertTrue(self.store.status()["clean_at_open"])
        self.assertEqual(self.store.get_many(list(data)), list(data.values()))

    def test_bad_numbers_refused(self):
        self.store.close()
        for kw in ({"queue_depth": -1}, {"meta_idle_quiet_ms": -5},
                   {"checkpoint_interval_ms": 1 << 32},
                   {"queue_depth": 1.5}, {"queue_depth": True}):
            with self.assertRaises(ValueError) as cm:
                slotfs.Store(self.path, **kw)
            self.assertIn(next(iter(kw)), str(cm.exception))
        self.reopen(queue_depth=0)      # 0: the default
        self.assertEqual(self.store.status()["io"]["queue_depth"], 32)

    def test_read_only(self):
        self.store.put("r", b"ro")
        self.reopen(read_only=True, periodic_checkpoint=False)
        self.assertTrue(self.store.status()["read_only"])
        self.assertEqual(self.store.get("r"), b"ro")
        with self.assertRaises(slotfs.SlotError) as cm:
            self.store.put_many(["r"], [b"x"])
        self.assertEqual(cm.exception.errno, errno.EROFS)
        with self.assertRaises(slotfs.SlotError) as cm:
            self.store.delete_many(["r"])
        self.assertEqual(cm.exception.errno, errno.EROFS)

    def test_busy_and_foreign(self):
        with self.assertRaises(slotfs.SlotError) as cm:
            slotfs.Store(self.path)
        self.assertEqual(cm.exception.errno, errno.EBUSY)
        with self.assertRaises(slotfs.SlotError) as cm:
            slotfs.format(self.path)
        self.assertEqual(cm.exception.errno, errno.EBUSY)
        blank = os.path.join(self.tmp.name, "blank")
        with open(blank, "wb") as f:
            f.truncate(64 * MiB)
        self.assertIsNone(slotfs.probe(blank))
        with self.assertRaises(slotfs.SlotError) as cm:
            slotfs.Store(blank)
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        self.assertIn("not a slotfs", cm.exception.strerror)
        with self.assertRaises(slotfs.SlotError) as cm:
            slotfs.Store(os.path.join(self.tmp.name, "absent"))
        self.assertEqual(cm.exception.errno, errno.ENOENT)

    def test_find_device(self):
        # a path is a path; a name no block device holds, or none can
        # have, is refused before anything is opened
        self.assertEqual(slotfs.find_device(self.path), self.path)
        for spec, err in (("LABEL=slotfs-py-%d-none" % os.getpid(),
                           errno.ENODEV),
                          ("UUID=not-a-uuid", errno.EDOM),
                          ("LABEL=", errno.EDOM)):
            with self.assertRaises(slotfs.SlotError) as cm:
                slotfs.find_device(spec)
            self.assertEqual(cm.exception.errno, err, spec)
            with self.assertRaises(slotfs.SlotError) as cm:
                slotfs.Store(spec)
            self.assertEqual(cm.exception.errno, err, spec)

    def test_format_options(self):
        p = os.path.join(self.tmp.name, "small")
        with self.assertRaises(slotfs.SlotError) as cm:
            slotfs.format(p, 64 * MiB, label="x" * (slotfs.LABEL_MAX + 1))
        self.assertEqual(cm.exception.errno, errno.ENAMETOOLONG)
        self.assertIn("label", cm.exception.strerror)
        with self.assertRaises(slotfs.SlotError) as cm:
            slotfs.format(p, 2 * MiB)
        self.assertEqual(cm.exception.errno, errno.EFBIG)
        self.assertIn("slotfs layout", cm.exception.strerror)
        # a layout's EINVAL is a bad size, not "no slotfs superblock"
        with self.assertRaises(slotfs.SlotError) as cm:
            slotfs.plan(64 * MiB, chunk_size=3000)
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        self.assertIn("slot size", cm.exception.strerror)
        geo = slotfs.format(p, 64 * MiB, chunk_size=256 * 1024,
                            min_slot=8192, label="L")
        self.assertEqual(os.path.getsize(p), 64 * MiB)
        self.assertEqual((geo["chunk_size"], geo["min_slot"], geo["label"]),
                         (256 * 1024, 8192, "L"))
        self.assertEqual(slotfs.probe(p)["uuid"], geo["uuid"])
        cs = geo["class_size"]
        self.assertEqual(len(cs), geo["class_count"])
        self.assertEqual((cs[0], cs[-1]), (8192, 256 * 1024))
        self.assertEqual(cs, sorted(cs))
        plan = slotfs.plan(64 * MiB, chunk_size=256 * 1024, min_slot=8192)
        self.assertEqual(plan["region_count"], geo["region_count"])
        with slotfs.Store(p, log=lambda msg: None) as s:
            s.put("x", b"y" * 300000)
            self.assertEqual(s.get("x"), b"y" * 300000)
            self.assertFalse(s.closed)
        self.assertTrue(s.closed)

    def test_threads(self):
        errors = []

        def worker(t):
            try:
                for i in range(20):
                    keys = ["t%d/%d/%d" % (t, i, j) for j in range(8)]
                    vals = [bytes([t, i, j]) * 3000 for j in range(8)]
                    self.assertEqual(self.store.put_many(keys, vals), [0] * 8)
                    self.assertEqual(self.store.get_many(keys), vals)
                    self.store.status()
            except Exception as e:              # pragma: no cover
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(t,))
                   for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(self.store.status()["key_count"], 4 * 20 * 8)


class TestStarted(StoreCase):
    """put_many_start / get_many_start: batches run by the library's
    workers while the caller goes on, finished by Batch.wait()."""

    def test_put_and_get_started(self):
        ka = ["s/a%d" % i for i in range(8)]
        kb = ["s/b%d" % i for i in range(8)]
        va = [os.urandom(4096 + i) for i in range(8)]
        vb = [bytearray(os.urandom(200000)) for _ in range(8)]
        ba = self.store.put_many_start(ka, va)
        bb = self.store.put_many_start(kb, vb)
        self.assertEqual(bb.wait(), [0] * 8)
        self.assertEqual(ba.wait(), [0] * 8)
        self.assertEqual(ba.wait(), [0] * 8)    # the same, again
        self.assertEqual(self.store.get_many(ka + kb), va + vb)
        bufs = [bytearray(200000) for _ in kb]
        g = self.store.get_many_start(kb, bufs)
        self.assertEqual(g.wait(), [200000] * 8)
        self.assertEqual(bufs, vb)

    def test_started_errors(self):
        b = self.store.put_many_start(["ok", ""], [b"1", b"2"])
        self.assertEqual(b.wait(), [0, -errno.EINVAL])
        g = self.store.get_many_start(["ok", "gone"],
                                      [bytearray(1), bytearray(1)])
        with self.assertRaises(slotfs.SlotError) as cm:
            g.wait()
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        self.assertEqual(cm.exception.results, [1, -errno.ENOENT])
        with self.assertRaises(slotfs.SlotError):
            g.wait()                            # raises again, the same
        # afresh: the traceback does not grow with each wait (a poller
        # of a failed batch leaked)
        depths = []
        for _ in range(3):
            try:
                g.wait()
            except slotfs.SlotError as e:
                depths.append(len(traceback.extract_tb(e.__traceback__)))
        self.assertEqual(len(set(depths)), 1, depths)
        g = self.store.get_many_start(["ok", "gone"],
                                      [bytearray(1), bytearray(1)],
                                      missing_ok=True)
        self.assertEqual(g.wait(), [1, None])
        with self.assertRaises(ValueError):
            self.store.put_many_start(["a", "b"], [b"1"])
        with self.assertRaises(ValueError):
            self.store.get_many_start(["a"], [])

    def test_second_close_waits_for_the_first(self):
        # a call in progress holds the first close; the second returns
        # only once the store is closed, so the image opens again at once
        release = threading.Event()

        def user():
            with self.store._use():
                release.wait(5)

        u = threading.Thread(target=user)
        u.start()
        time.sleep(0.1)
        first = threading.Thread(target=self.store.close)
        first.start()
        time.sleep(0.1)
        threading.Timer(0.3, release.set).start()
        self.store.close()
        self.assertFalse(first.is_alive() and self.store._closing)
        again = slotfs.Store(self.path)
        again.close()
        first.join()
        u.join()

    def test_waits_from_two_threads(self):
        for round_ in range(20):
            b = self.store.put_many_start(["w/%d" % round_], [b"x" * 5000])
            got = []
            ts = [threading.Thread(target=lambda: got.append(b.wait()))
                  for _ in range(2)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            self.assertEqual(got, [[0], [0]])

    def test_buffers_belong_to_the_batch_until_wait(self):
        self.store.put("k", b"abcd")
        buf = bytearray(4)
        g = self.store.get_many_start(["k"], [buf])
        with self.assertRaises(BufferError):
            buf.extend(b"x")                    # pinned: may not move
        self.assertEqual(g.wait(), [4])
        buf.extend(b"x")
        self.assertEqual(buf, b"abcdx")
        val = bytearray(b"value")
        p = self.store.put_many_start(["v"], [val])
        with self.assertRaises(BufferError):
            val.extend(b"!")
        self.assertEqual(p.wait(), [0])
        val.extend(b"!")

    def test_close_finishes_started_batches(self):
        keys = ["c/%d" % i for i in range(16)]
        vals = [os.urandom(70000) for _ in keys]
        p = self.store.put_many_start(keys, vals)
        dropped = self.store.put_many_start(["c/dropped"], [b"d"])
        del dropped                             # waited for when collected
        self.store.close()
        self.assertEqual(p.wait(), [0] * 16)
        self.reopen()
        self.assertEqual(self.store.get_many(keys), vals)
        self.assertEqual(self.store.get("c/dropped"), b"d")


@unittest.skipIf(np is None, NUMPY_MISSING)
class TestNumpy(StoreCase):

    def test_shapes_and_dtypes(self):
        a = np.arange(64 * 1024, dtype=np.float32).reshape(256, 256)
        ro = np.arange(1000, dtype=np.int64)
        ro.flags.writeable = False
        self.assertEqual(self.store.put_many(["f32", "ro"], [a, ro]), [0, 0])
        out = np.empty_like(a)
        self.assertEqual(self.store.get("f32", out), a.nbytes)
        self.assertTrue(np.array_equal(a, out))
        out2 = np.zeros(1000, dtype=np.int64)
        self.store.get("ro", out2)
        self.assertTrue(np.array_equal(ro, out2))
        with self.assertRaises(TypeError):
            self.store.put("nc", a[:, ::2])             # not contiguous
        with self.assertRaises(TypeError):
            self.store.get("f32", np.empty((256, 256), np.float32, order="F"))
        with self.assertRaises(TypeError):
            self.store.get("ro", ro)                    # read-only target
        # Python objects are no bytes: loading over them would corrupt them
        objs = np.array([object(), "x"], dtype=object)
        with self.assertRaises(TypeError):
            self.store.put("obj", objs)
        with self.assertRaises(TypeError):
            self.store.get("f32", objs)

    def test_aligned_numpy_buffer(self):
        buf = np.frombuffer(slotfs.aligned_buffer(MiB), dtype=np.uint8)
        self.assertEqual(buf.ctypes.data % 4096, 0)
        self.assertTrue(buf.flags.writeable)
        src = np.random.default_rng(7).integers(0, 256, MiB, dtype=np.uint8)
        self.store.put("al", src)
        self.store.get("al", buf)
        self.assertTrue(np.array_equal(src, buf))


@unittest.skipIf(np is None, NUMPY_MISSING)
@unittest.skipIf(os.environ.get("SLOTFS_TEST_QUICK"),
                 "SLOTFS_TEST_QUICK is set: 1 GiB round trip skipped")
class TestNumpyGiB(unittest.TestCase):
    """1 GiB as 1024 numpy arrays of 1 MiB (uint8), put in batches of 64
    and loaded into preallocated numpy buffers, byte for byte.

    The arrays live in 4096-aligned memory (aligned_buffer), so with
    O_DIRECT the library writes and reads them in place: no copy anywhere
    between numpy and the device.  A few load targets per batch are plain
    np.empty arrays, to cover the library's bounce-buffer path too.
    """

    COUNT, SIZE, BATCH, PLAIN = 1024, MiB, 64, 8

    @classmethod
    def setUpClass(cls):
        # 2 MiB of random bytes; array i is a 1 MiB window of it at an
        # offset that depends on i, stamped with i in its first 8 bytes:
        # every array differs, and none has to be kept.
        cls.pool = np.frombuffer(np.random.default_rng(2024).bytes(2 * MiB),
                                 dtype=np.uint8)

    def fill(self, i, out):
        """Write array i into out."""
        off = (i * 4099) % MiB
        out[:] = self.pool[off:off + self.SIZE]
        out[:8] = np.frombuffer(i.to_bytes(8, "little"), dtype=np.uint8)

    def same(self, i, arr):
        """Is arr byte-identical to array i?"""
        want = np.empty(self.SIZE, dtype=np.uint8)
        self.fill(i, want)
        return np.array_equal(want, arr)

    @staticmethod
    def key(i):
        return "kv/layer%d/blk%04d" % (i % 4, i)

    def aligned_arrays(self, n):
        return [np.frombuffer(slotfs.aligned_buffer(self.SIZE), dtype=np.uint8)
                for _ in range(n)]

    def test_gib_roundtrip(self):
        with tempfile.TemporaryDirectory(prefix="slotfs-py-gib-") as d:
            path = os.path.join(d, "image")
            geo = slotfs.format(path, 1280 * MiB)         # sparse 1.25 GiB
            self.assertGreaterEqual(geo["capacity"], self.COUNT * self.SIZE)
            src = self.aligned_arrays(self.BATCH)
            with slotfs.Store(path) as st:
                for start in range(0, self.COUNT, self.BATCH):
                    idx = range(start, start + self.BATCH)
                    for i, a in zip(idx, src):
                        self.fill(i, a)
                    res = st.put_many([self.key(i) for i in idx], src)
                    self.assertEqual(res, [0] * self.BATCH,
                                     "batch at %d" % start)
                status = st.status()
                self.assertEqual(status["key_count"], self.COUNT)
                self.assertEqual(status["puts"], self.COUNT)
                self.assertGreaterEqual(status["io"]["bytes_written"],
                                        self.COUNT * self.SIZE)
                del src

                # preallocated targets, reused for every batch
                bufs = self.aligned_arrays(self.BATCH - self.PLAIN)
                bufs += [np.empty(self.SIZE, dtype=np.uint8)
                         for _ in range(self.PLAIN)]
                for start in range(0, self.COUNT, self.BATCH):
                    idx = range(start, start + self.BATCH)
                    for b in bufs:
                        b.fill(0xEE)
                    sizes = st.get_many([self.key(i) for i in idx], bufs)
                    self.assertEqual(sizes, [self.SIZE] * self.BATCH)
                    for i, b in zip(idx, bufs):
                        if not self.same(i, b):
                            self.fail("array %d differs after get" % i)
                status = st.status()
                self.assertEqual(status["gets"], self.COUNT)
                self.assertEqual(status["checksum_errors"], 0)
                self.assertGreaterEqual(status["io"]["bytes_read"],
                                        self.COUNT * self.SIZE)

            # after a clean close, a sample from the reopened store
            with slotfs.Store(path) as st:
                self.assertEqual(st.status()["key_count"], self.COUNT)
                out = np.empty(self.SIZE, dtype=np.uint8)
                for i in range(0, self.COUNT, 67):
                    st.get(self.key(i), out)
                    self.assertTrue(self.same(i, out), "array %d" % i)


if __name__ == "__main__":
    unittest.main()
