# SPDX-License-Identifier: MIT
"""slotfs: a Python binding for libslot, the slotfs slot store.

The binding uses only the standard library (:mod:`ctypes`).  It is meant for
inference engines that keep KV-cache blocks in a slotfs image or device
(an LMCache-style L2 backend): objects are put and loaded in batches, and
object bytes go between the library and the caller's buffers without any
copy in Python.

Quick start::

    import slotfs

    slotfs.format("/tmp/cache.img", 8 << 30)          # sparse 8 GiB image
    with slotfs.Store("/tmp/cache.img") as st:
        st.put_many(["layer0/blk1", "layer0/blk2"], [b"...", bytearray(...)])
        bufs = [bytearray(st.size(k)) for k in ("layer0/blk1",)]
        st.get_many(["layer0/blk1"], bufs)            # loads into bufs

Buffers
    Values to store may be any C-contiguous object with the buffer protocol:
    ``bytes``, ``bytearray``, ``memoryview``, ``array.array``, numpy arrays,
    ``mmap``.  Their memory is handed to the library as it is.  Buffers to
    load into must be writable and C-contiguous.  With ``direct_io=True``
    (O_DIRECT) the library moves data straight between the device and the
    caller's memory when that memory is 4096-byte aligned (and, for puts,
    the object is at least 64 KiB); otherwise it goes through an aligned
    bounce buffer inside the library.  :func:`aligned_buffer` makes such
    memory; wrap it with ``numpy.frombuffer`` for an aligned array.

Errors
    Functions raise :class:`SlotError` (an :class:`OSError`) carrying the
    positive errno and the library's message (``slot_strerror``).  Batched
    calls return per-item results where a partial outcome is useful.

Threads
    A :class:`Store` may be used from many threads at once; ctypes drops the
    GIL during every library call.  :meth:`Store.close` waits for calls in
    progress to finish.  :meth:`Store.put_many_start` and
    :meth:`Store.get_many_start` run a batch on the library's own workers
    while the caller goes on; :meth:`Batch.wait` finishes it.
"""

import contextlib
import ctypes
import errno as _errno
import os
import stat as _stat
import threading
import uuid as _uuid

from . import _lib as _L
from ._lib import LibraryNotFound  # noqa: F401  (re-exported)

__all__ = [
    "SlotError", "LibraryNotFound", "Store", "Batch", "format", "plan",
    "probe", "find_device",
    "aligned_buffer", "strerror", "NAME_MAX", "PATH_MAX", "LABEL_MAX",
]

__version__ = "1.5.0"

NAME_MAX = _L.SLOT_NAME_MAX     #: bytes in one path component of a key
PATH_MAX = _L.SLOT_PATH_MAX     #: bytes in a key (a key must be shorter)
LABEL_MAX = _L.SLOT_LABEL_MAX   #: bytes in a volume label

_ENGINES = {
    "auto": _L.SLOT_ENGINE_AUTO,
    "uring": _L.SLOT_ENGINE_URING,
    "io_uring": _L.SLOT_ENGINE_URING,
    "psync": _L.SLOT_ENGINE_PSYNC,
}


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

def strerror(err, opening=False):
    """The library's message for an errno (positive or negative); with
    ``opening``, for one from opening, probing or formatting a device
    (where EINVAL means no slotfs is there)."""
    lib = _L.load()
    fn = lib.slot_open_strerror if opening else lib.slot_strerror
    msg = fn(int(err))
    return msg.decode("utf-8", "replace") if msg else os.strerror(abs(err))


class SlotError(OSError):
    """An error a libslot function returned.

    ``errno`` is the positive errno, ``strerror`` the library's message and
    ``filename`` the key or path concerned (or None).  Batched loads set
    ``results`` to the per-item outcome when they raise (a size for items
    that loaded, ``-errno`` for items that failed, None for missing items
    with ``missing_ok``).
    """

    def __init__(self, err, message=None, key=None, opening=False):
        err = abs(int(err))
        if message is None:
            message = strerror(err, opening)
        if key is None:
            super().__init__(err, message)
        else:
            super().__init__(err, message, key)
        self.results = None


def _check(rc, key=None, opening=False):
    """Raise SlotError for a negative return code; return rc otherwise.
    ``opening``: rc came from opening, probing or formatting a device."""
    if rc < 0:
        raise SlotError(rc, key=key, opening=opening)
    return rc


# ---------------------------------------------------------------------------
# Keys and buffers
# ---------------------------------------------------------------------------

def _key(k):
    """Encode a key (str or bytes-like) to the NUL-free bytes C wants."""
    if isinstance(k, str):
        b = k.encode("utf-8", "surrogateescape")
    elif isinstance(k, bytes):
        b = k
    elif isinstance(k, (bytearray, memoryview)):
        b = bytes(k)
    else:
        raise TypeError("key must be str or bytes, not %s" % type(k).__name__)
    if b"\0" in b:
        raise ValueError("key contains a NUL byte: %r" % (k,))
    return b


def _key_str(b):
    """Decode a key the library reports."""
    return b.decode("utf-8", "surrogateescape")


class _PyBuffer(ctypes.Structure):
    """Py_buffer, to borrow the memory of read-only exporters."""
    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.c_void_p),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p),
        ("internal", ctypes.c_void_p),
    ]


try:
    _get_buffer = ctypes.pythonapi.PyObject_GetBuffer
    _get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer),
                            ctypes.c_int]
    _get_buffer.restype = ctypes.c_int
    _release_buffer = ctypes.pythonapi.PyBuffer_Release
    _release_buffer.argtypes = [ctypes.POINTER(_PyBuffer)]
    _release_buffer.restype = None
except (AttributeError, OSError):       # not CPython: copy instead
    _get_buffer = _release_buffer = None

_PyBUF_SIMPLE = 0


class _Pin:
    """The address and size of a buffer's memory, kept valid (and the
    buffer kept from resizing) until :meth:`release`."""

    __slots__ = ("addr", "nbytes", "_hold", "_view")

    def __init__(self, addr, nbytes, hold=None, view=None):
        self.addr = addr
        self.nbytes = nbytes
        self._hold = hold
        self._view = view

    def release(self):
        if self._view is not None:
            _release_buffer(ctypes.byref(self._view))
            self._view = None
        self._hold = None


def _describe(obj):
    """nbytes, readonly of a C-contiguous buffer; TypeError otherwise."""
    try:
        m = memoryview(obj)
    except TypeError:
        raise TypeError("a bytes-like object is required, not %s"
                        % type(obj).__name__) from None
    with m:
        if not m.c_contiguous:
            raise TypeError("buffer must be C-contiguous")
        # Python object pointers (a numpy object array) are no bytes to
        # store, and loading over them would corrupt the objects
        if "O" in m.format:
            raise TypeError("buffer holds Python objects (format %r)"
                            % m.format)
        return m.nbytes, m.readonly


def _pin_writable(obj):
    """Pin a writable buffer: the library writes straight into it."""
    n, ro = _describe(obj)
    if ro:
        raise TypeError("buffer to load into is read-only (%s)"
                        % type(obj).__name__)
    if n == 0:
        return _Pin(None, 0)
    arr = (ctypes.c_char * n).from_buffer(obj)
    return _Pin(ctypes.addressof(arr), n, arr)


def _pin_readable(obj):
    """Pin a buffer the library only reads, without copying it."""
    if type(obj) is bytes:
        cp = ctypes.c_char_p(obj)       # points into the bytes object
        return _Pin(ctypes.cast(cp, ctypes.c_void_p).value, len(obj), cp)
    n, ro = _describe(obj)
    if n == 0:
        return _Pin(None, 0)
    if not ro:
        arr = (ctypes.c_char * n).from_buffer(obj)
        return _Pin(ctypes.addressof(arr), n, arr)
    if _get_buffer is not None:
        view = _PyBuffer()
        _get_buffer(obj, ctypes.byref(view), _PyBUF_SIMPLE)
        return _Pin(view.buf, view.len, obj, view)
    copy = bytes(memoryview(obj))       # last resort, no Python C API
    cp = ctypes.c_char_p(copy)
    return _Pin(ctypes.cast(cp, ctypes.c_void_p).value, n, (cp, copy))


def aligned_buffer(size, alignment=4096):
    """A writable, zero-filled memoryview of ``size`` bytes whose address is
    a multiple of ``alignment`` (a power of two).

    With O_DIRECT the library reads and writes such memory in place,
    skipping its bounce buffer.  ``numpy.frombuffer(aligned_buffer(n),
    dtype=numpy.uint8)`` gives an aligned, writable numpy array.
    """
    if alignment <= 0 or alignment & (alignment - 1):
        raise ValueError("alignment must be a power of two")
    if size < 0:
        raise ValueError("size must not be negative")
    raw = bytearray(size + alignment)
    addr = ctypes.addressof((ctypes.c_char * len(raw)).from_buffer(raw))
    off = (-addr) % alignment
    return memoryview(raw)[off:off + size]


# ---------------------------------------------------------------------------
# Format
# ---------------------------------------------------------------------------

def _geometry_dict(geo):
    """struct slot_geometry as a dict: uuid as its text form, label as
    str, class_size as the payload sizes of the class_count classes."""
    d = _L.struct_to_dict(geo)
    d["uuid"] = str(_uuid.UUID(bytes=bytes(geo.uuid)))
    d["label"] = geo.label.decode("utf-8", "replace")
    d["class_size"] = d["class_size"][:geo.class_count]
    return d


def _format_opts(chunk_size, min_slot, meta_size, region_size, label,
                 dry_run=False):
    lib = _L.load()
    fo = _L.padded(_L.SlotFormatOpts)
    lib.slot_format_opts_init(ctypes.byref(fo))
    fo.chunk_size = chunk_size
    fo.min_slot = min_slot
    fo.meta_size = meta_size
    fo.region_size = region_size
    if label is not None:
        fo.label = label.encode("utf-8") if isinstance(label, str) else label
    fo.dry_run = dry_run
    return fo


_FORMAT_ERRORS = {
    _errno.EINVAL: "invalid layout: a slot size not a power of two, or "
                   "out of range",
    _errno.EFBIG: "device too small for a slotfs layout",
    _errno.ENAMETOOLONG: "label too long (at most %d bytes)" % LABEL_MAX,
    _errno.ENOBUFS: "metadata area too small to index every slot",
    _errno.EOVERFLOW: "device too large (more than 2^32 regions)",
}


def _check_format(rc, key=None):
    """_check for slot_format_plan and slot_format, whose errors mean
    what the layout asked (opening's meanings do not apply)."""
    if rc < 0:
        raise SlotError(rc, _FORMAT_ERRORS.get(-rc), key=key)
    return rc


def plan(size, *, chunk_size=0, min_slot=0, meta_size=0, region_size=0):
    """The layout ``format`` would make on ``size`` bytes (rounded down to
    whole MiB), as a dict (the fields of struct slot_geometry), without
    touching any device.  EFBIG: too small; EINVAL: a bad slot size."""
    fo = _format_opts(chunk_size, min_slot, meta_size, region_size, None)
    geo = _L.padded(_L.SlotGeometry)
    _check_format(_L.load().slot_format_plan(size, ctypes.byref(fo),
                                             ctypes.byref(geo)))
    return _geometry_dict(geo)


def format(path, size=None, *, chunk_size=0, min_slot=0, label=None,
           meta_size=0, region_size=0, direct_io=True, engine="auto"):
    """Make a fresh slotfs file system on ``path`` and return its layout.

    ``path`` is an image file or a block device.  When ``size`` is given,
    the image file is created if need be and truncated to ``size`` bytes
    (sparse); for a block device ``size`` must be None.  ``chunk_size`` and
    ``min_slot`` (powers of two, 0 for the defaults of 1 MiB and 4 KiB),
    ``meta_size``, ``region_size`` and ``label`` (at most 63 bytes) are
    those of mkfs.slotfs.  The device is opened exclusively, so formatting a
    store that is open fails with EBUSY.  Everything on it is lost.
    """
    lib = _L.load()
    bpath = os.fsencode(path)
    if size is not None:
        try:
            st = os.stat(bpath)
        except FileNotFoundError:
            st = None
        if st is not None and not _stat.S_ISREG(st.st_mode):
            raise ValueError("size applies to image files only: %r" % path)
        fd = os.open(bpath, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)
    fo = _format_opts(chunk_size, min_slot, meta_size, region_size, label)
    dev = ctypes.c_void_p()
    _check(lib.slot_dev_open(bpath, _ENGINES[engine], 0, direct_io, False,
                             True, ctypes.byref(dev)), key=path,
           opening=True)
    geo = _L.padded(_L.SlotGeometry)
    try:
        _check_format(lib.slot_format(dev, ctypes.byref(fo),
                                      ctypes.byref(geo)), key=path)
    finally:
        lib.slot_dev_close(dev)
    return _geometry_dict(geo)


def find_device(spec):
    """The block device that holds the slotfs ``spec`` names, ``LABEL=x``
    or ``UUID=...`` as fstab names it (``slot_find_device``); any other
    spec is a path, given back as it is.  SlotError: ENODEV when no device
    holds it, ENOTUNIQ when several do, EDOM for a name none can have."""
    lib = _L.load()
    buf = ctypes.create_string_buffer(4096)
    _check(lib.slot_find_device(os.fsencode(spec), buf, len(buf)), key=spec)
    return os.fsdecode(buf.value)


def probe(path):
    """The layout of the slotfs file system on ``path`` as a dict, or None
    when ``path`` holds no slotfs superblock.  A slotfs superblock too
    damaged to decode gives a layout of zeros (``block_size`` 0)."""
    lib = _L.load()
    dev = ctypes.c_void_p()
    _check(lib.slot_dev_open(os.fsencode(find_device(path)),
                             _L.SLOT_ENGINE_AUTO, 0, False, True, False,
                             ctypes.byref(dev)),
           key=path, opening=True)
    geo = _L.padded(_L.SlotGeometry)
    try:
        rc = _check(lib.slot_probe(dev, ctypes.byref(geo)), key=path,
                    opening=True)
    finally:
        lib.slot_dev_close(dev)
    return _geometry_dict(geo) if rc == 1 else None


# ---------------------------------------------------------------------------
# Store
# ---------------------------------------------------------------------------

def _render(fn, st):
    """Call slot_status_json/_prometheus with a buffer that grows until
    the text fits."""
    cap = 4096
    while True:
        buf = ctypes.create_string_buffer(cap)
        rc = fn(ctypes.byref(st), buf, cap)
        if rc == -_errno.ENOSPC and cap < (1 << 24):
            cap *= 4
            continue
        _check(rc)
        return buf.raw[:rc].decode("utf-8", "replace")


class Batch:
    """A batch left running by :meth:`Store.put_many_start` or
    :meth:`Store.get_many_start`.  The keys and buffers belong to it until
    :meth:`wait`, which returns what the blocking call would have (and
    raises as it would); later calls return the same.  A batch dropped
    without a wait is waited for when it is collected."""

    def __init__(self, wait_fn, op, items, pins, finish):
        self._wait_fn = wait_fn
        self._op = op
        self._items = items
        self._pins = pins
        self._finish = finish
        self._done = None
        self._lock = threading.Lock()   # one wait frees the op

    def wait(self):
        with self._lock:
            if self._op is not None:
                op, self._op = self._op, None
                rc = self._wait_fn(op)
                for p in self._pins:
                    p.release()
                self._pins = []
                try:
                    self._done = (self._finish(rc, self._items), None)
                except SlotError as e:
                    self._done = (None, e)
            res, err = self._done
        if err is not None:
            # afresh: each raise of one exception lengthens its traceback
            raise err.with_traceback(None)
        return res

    def __del__(self):
        if getattr(self, "_op", None) is not None:
            try:
                self.wait()
            except SlotError:
                pass


class Store:
    """An open slot store (``slot_open``).

    Keyword arguments set the fields of struct slot_opts; ``engine`` is one
    of "auto", "uring" or "psync"; ``log`` is a callable taking one str,
    given the library's messages (recovery, warnings) instead of stderr.

    A store is a context manager; leaving the ``with`` block closes it,
    which writes a checkpoint and marks the file system clean.
    """

    def __init__(self, path, *, queue_depth=32, direct_io=True,
                 meta_idle_quiet_ms=200, checkpoint_interval_ms=5000,
                 periodic_checkpoint=True, read_only=False, engine="auto",
                 validate=False, force_scan=False, log=None):
        self._h = None
        self._cv = threading.Condition()
        self._users = 0
        self._closing = False
        self._log_cb = None
        self.path = path
        lib = self._lib = _L.load()
        if engine not in _ENGINES:
            raise ValueError("engine must be one of %s"
                             % ", ".join(sorted(_ENGINES)))
        for name, v in (("queue_depth", queue_depth),
                        ("meta_idle_quiet_ms", meta_idle_quiet_ms),
                        ("checkpoint_interval_ms", checkpoint_interval_ms)):
            # ctypes would wrap -1 to 4294967295 and say nothing
            if (not isinstance(v, int) or isinstance(v, bool)
                    or not 0 <= v <= 0xFFFFFFFF):
                raise ValueError("%s must be an integer from 0 to "
                                 "4294967295, not %r" % (name, v))
        o = _L.padded(_L.SlotOpts)
        lib.slot_opts_init(ctypes.byref(o))
        o.queue_depth = queue_depth
        o.direct_io = direct_io
        o.engine = _ENGINES[engine]
        o.meta_idle_quiet_ms = meta_idle_quiet_ms
        o.checkpoint_interval_ms = checkpoint_interval_ms
        o.periodic_checkpoint = periodic_checkpoint
        o.read_only = read_only
        o.validate = validate
        o.force_scan = force_scan
        if log is not None:
            def _log(_arg, msg):
                try:
                    log(msg.decode("utf-8", "replace") if msg else "")
                except Exception:       # never unwind into C
                    pass
            self._log_cb = _L.LOG_FN(_log)  # kept alive until close
            o.log = self._log_cb
        h = ctypes.c_void_p()
        dev = os.fsencode(find_device(path))
        _check(lib.slot_open(dev, ctypes.byref(o), ctypes.byref(h)),
               key=path, opening=True)
        self._h = h.value

    # -- lifetime ---------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self._h is None else "open"
        return "<slotfs.Store %r %s>" % (self.path, state)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    @property
    def closed(self):
        """True once :meth:`close` has run."""
        return self._h is None

    @contextlib.contextmanager
    def _use(self):
        """Hold the store open for the duration of one library call."""
        with self._cv:
            if self._h is None:
                raise ValueError("I/O operation on a closed slotfs store")
            self._users += 1
            h = self._h
        try:
            yield h
        finally:
            with self._cv:
                self._users -= 1
                if not self._users:
                    self._cv.notify_all()

    def close(self):
        """Checkpoint, flush, mark clean and free the store (slot_close).
        Waits for calls running in other threads.  Closing twice is a
        no-op."""
        with self._cv:
            h = self._h
            if h is None:
                # another thread's close may still be at work: done
                # means closed
                self._cv.wait_for(lambda: not self._closing)
                return
            self._h = None
            self._closing = True
            self._cv.wait_for(lambda: self._users == 0)
        try:
            rc = self._lib.slot_close(h)
        finally:
            with self._cv:
                self._closing = False
                self._cv.notify_all()
        self._log_cb = None
        _check(rc, key=self.path)

    # -- put --------------------------------------------------------------

    @staticmethod
    def _items(item_type, kb, bufs, pin, size_field):
        """Items over encoded keys and buffers pinned with pin (each
        buffer's size goes in size_field); returns (items, pins)."""
        n = len(kb)
        items = (item_type * n)()
        pins = []
        try:
            for i in range(n):
                p = pin(bufs[i])
                pins.append(p)
                items[i].key = kb[i]
                items[i].buf = p.addr
                setattr(items[i], size_field, p.nbytes)
        except BaseException:
            for p in pins:
                p.release()
            raise
        return items, pins

    def _batch(self, call, item_type, kb, bufs, pin, size_field):
        """One batched call over encoded keys and pinned buffers; returns
        (rc, items)."""
        items, pins = self._items(item_type, kb, bufs, pin, size_field)
        try:
            with self._use() as h:
                rc = call(h, items, len(kb))
        finally:
            for p in pins:
                p.release()
        return rc, items

    def _start(self, start, wait, item_type, kb, bufs, pin, size_field,
               finish):
        """Start a batch on the library's workers; returns a Batch."""
        items, pins = self._items(item_type, kb, bufs, pin, size_field)
        op = ctypes.c_void_p()
        try:
            with self._use() as h:
                rc = start(h, items, len(kb), ctypes.byref(op))
            _check(rc)
        except BaseException:
            for p in pins:
                p.release()
            raise
        return Batch(wait, op, items, pins, finish)

    @staticmethod
    def _put_results(rc, items):
        """put_many's outcome: per-item results, or SlotError when the call
        as a whole failed."""
        results = [items[i].result for i in range(len(items))]
        if rc in (-_errno.ENOMEM, -_errno.EROFS) and \
                all(r == rc for r in results):
            raise SlotError(rc)
        return results

    def put_many(self, keys, values):
        """Store many whole objects in one batch (slot_put_many).

        ``values`` are bytes-like objects, used in place.  Returns a list of
        per-item results: 0, or a negative errno (``-errno.ENOSPC``,
        ``-errno.ENAMETOOLONG``, ``-errno.ECANCELED`` when a concurrent
        delete won, ...).  Raises :class:`SlotError` only when the call as a
        whole failed (ENOMEM, or EROFS on a read-only store).
        """
        keys = list(keys)
        values = list(values)
        if len(keys) != len(values):
            raise ValueError("put_many: %d keys but %d values"
                             % (len(keys), len(values)))
        if not keys:
            return []
        rc, items = self._batch(self._lib.slot_put_many, _L.SlotPut,
                                [_key(k) for k in keys], values,
                                _pin_readable, "len")
        return self._put_results(rc, items)

    def put_many_start(self, keys, values):
        """put_many, started on the library's workers (slot_put_many_start):
        returns a :class:`Batch` at once, whose ``wait()`` returns the
        per-item results.  The values must not change until then.  Up to
        four started batches run side by side, so starting the next one
        before waiting for the last keeps the device busy; two running
        puts of one key are as puts from two threads."""
        keys = list(keys)
        values = list(values)
        if len(keys) != len(values):
            raise ValueError("put_many_start: %d keys but %d values"
                             % (len(keys), len(values)))
        return self._start(self._lib.slot_put_many_start,
                           self._lib.slot_put_wait, _L.SlotPut,
                           [_key(k) for k in keys], values, _pin_readable,
                           "len", self._put_results)

    def put(self, key, value):
        """Store one object; raises :class:`SlotError` on failure."""
        r = self.put_many([key], [value])[0]
        if r:
            raise SlotError(r, key=key)

    # -- get --------------------------------------------------------------

    def _get_raw(self, kb, bufs):
        """One slot_get_many over encoded keys and writable buffers;
        returns [(result, len)]."""
        rc, items = self._batch(self._lib.slot_get_many, _L.SlotGet, kb,
                                bufs, _pin_writable, "cap")
        return self._get_results(rc, items)

    @staticmethod
    def _get_results(rc, items):
        """get_many's outcome: [(result, len)] per item, or SlotError when
        the call as a whole failed."""
        out = [(items[i].result, items[i].len) for i in range(len(items))]
        if rc == -_errno.ENOMEM and all(r == rc for r, _ in out):
            raise SlotError(rc)
        return out

    @staticmethod
    def _raise_first(keys, res, missing_ok):
        """Raise SlotError for the first failed item, if any.  res holds
        (result, len) pairs; the exception's ``results`` lists them all."""
        failed = None
        summary = []
        for i, (r, ln) in enumerate(res):
            if r == 0:
                summary.append(ln)
            elif r == -_errno.ENOENT and missing_ok:
                summary.append(None)
            else:
                summary.append(r)
                if failed is None:
                    failed = i
        if failed is None:
            return summary
        r, ln = res[failed]
        msg = strerror(r)
        if r == -_errno.ENOBUFS:
            msg = "buffer too small: object is %d bytes" % ln
        e = SlotError(r, msg, key=keys[failed])
        e.results = summary
        raise e

    @staticmethod
    def _raise_loaded(keys, out, bad):
        """Raise SlotError for the first of bad, (index, -errno) pairs of
        a load without buffers; ``results`` as with buffers: a size,
        -errno, or None."""
        codes = dict(bad)
        i, r = bad[0]
        e = SlotError(r, key=keys[i])
        e.results = [codes.get(j, None if b is None else len(b))
                     for j, b in enumerate(out)]
        raise e

    def get_many(self, keys, buffers=None, *, missing_ok=False):
        """Load many whole objects in one batch (slot_get_many), verifying
        checksums.

        With ``buffers`` (writable, C-contiguous bytes-like objects: a
        bytearray, a writable memoryview, a numpy array, ...), each object is
        read straight into its buffer, which must be at least as large as the
        object; returns the list of object sizes.  Without, returns a list of
        new bytearrays holding the objects.

        A missing key raises :class:`SlotError` (ENOENT) unless
        ``missing_ok``, which puts None in its place.  Other item errors
        (ENOBUFS: buffer too small; EIO: checksum mismatch; ...) raise; the
        exception's ``results`` attribute lists every item's outcome.
        """
        keys = list(keys)
        kb = [_key(k) for k in keys]
        if buffers is not None:
            buffers = list(buffers)
            if len(buffers) != len(keys):
                raise ValueError("get_many: %d keys but %d buffers"
                                 % (len(keys), len(buffers)))
            if not keys:
                return []
            return self._raise_first(keys, self._get_raw(kb, buffers),
                                     missing_ok)

        # No buffers: size each object, allocate, load; an object that grew
        # in between is loaded again into a larger buffer.
        out = [None] * len(keys)
        todo = []
        bad = []
        for i, k in enumerate(kb):
            sz = ctypes.c_uint64()
            with self._use() as h:
                rc = self._lib.slot_lookup(h, k, ctypes.byref(sz))
            if rc == -_errno.ENOENT and missing_ok:
                continue
            if rc < 0:
                bad.append((i, rc))
                continue
            out[i] = bytearray(sz.value)
            todo.append(i)
        if bad:
            self._raise_loaded(keys, out, bad)
        for _ in range(8):
            if not todo:
                break
            res = self._get_raw([kb[i] for i in todo], [out[i] for i in todo])
            again = []
            bad = []
            for i, (r, ln) in zip(todo, res):
                if r == -_errno.ENOBUFS:
                    out[i] = bytearray(ln)      # grew since the lookup
                    again.append(i)
                elif r:
                    bad.append((i, r))
                elif ln != len(out[i]):
                    del out[i][ln:]             # shrank since the lookup
            for i, r in bad:
                if r == -_errno.ENOENT and missing_ok:
                    out[i] = None
            bad = [(i, r) for i, r in bad if out[i] is not None]
            if bad:
                self._raise_loaded(keys, out, bad)
            todo = again
        if todo:
            raise SlotError(_errno.EAGAIN, "objects kept growing while "
                            "being loaded", key=keys[todo[0]])
        return out

    def get_many_start(self, keys, buffers, *, missing_ok=False):
        """get_many into ``buffers``, started on the library's workers
        (slot_get_many_start): returns a :class:`Batch` at once, whose
        ``wait()`` returns the object sizes or raises as get_many would.
        The buffers belong to the batch until then (a model computing on
        one layer's blocks while the next ones load)."""
        keys = list(keys)
        buffers = list(buffers)
        if len(buffers) != len(keys):
            raise ValueError("get_many_start: %d keys but %d buffers"
                             % (len(keys), len(buffers)))

        def finish(rc, items):
            return self._raise_first(keys, self._get_results(rc, items),
                                     missing_ok)

        return self._start(self._lib.slot_get_many_start,
                           self._lib.slot_get_wait, _L.SlotGet,
                           [_key(k) for k in keys], buffers, _pin_writable,
                           "cap", finish)

    def load_many_into(self, keys, buffers, *, missing_ok=False):
        """LMCache-style name for ``get_many(keys, buffers)``: load objects
        into preallocated buffers; returns their sizes."""
        return self.get_many(keys, buffers, missing_ok=missing_ok)

    def get(self, key, buffer=None):
        """Load one object: into ``buffer`` (returns its size) or into a new
        bytearray (returned).  A missing key raises SlotError(ENOENT)."""
        if buffer is not None:
            return self.get_many([key], [buffer])[0]
        return self.get_many([key])[0]

    # -- delete, lookup, iterate -----------------------------------------

    def delete_many(self, keys):
        """Delete many keys (slot_delete_many).  Returns per-key results:
        0 or a negative errno (``-errno.ENOENT`` for a missing key).  A put
        of the same key still in flight is canceled.  Raises SlotError
        (EROFS) on a read-only store."""
        keys = list(keys)
        n = len(keys)
        if not n:
            return []
        kb = [_key(k) for k in keys]
        arr = (ctypes.c_char_p * n)(*kb)
        res = (ctypes.c_int * n)()
        with self._use() as h:
            rc = self._lib.slot_delete_many(h, arr, n, res)
        if rc == -_errno.EROFS:
            raise SlotError(rc)
        return list(res)

    def delete(self, key, *, missing_ok=False):
        """Delete one key; a missing key raises SlotError(ENOENT) unless
        ``missing_ok``.  Returns True when a key was deleted."""
        r = self.delete_many([key])[0]
        if r == -_errno.ENOENT and missing_ok:
            return False
        if r:
            raise SlotError(r, key=key)
        return True

    def size(self, key):
        """Size in bytes of the object under ``key`` (slot_lookup)."""
        sz = ctypes.c_uint64()
        with self._use() as h:
            _check(self._lib.slot_lookup(h, _key(key), ctypes.byref(sz)),
                   key=key)
        return sz.value

    def contains(self, key):
        """True when an object is stored under ``key``."""
        with self._use() as h:
            return self._lib.slot_lookup(h, _key(key), None) == 0

    __contains__ = contains

    def _walk(self):
        """[(key bytes, size)] of every object, via slot_iterate.  The
        callback only collects: it must not call back into the store,
        whose lock the walk holds."""
        found = []

        def collect(_arg, key, size):
            found.append((key, size))
            return 0

        cb = _L.ITERATE_FN(collect)
        with self._use() as h:
            _check(self._lib.slot_iterate(h, cb, None))
        return found

    def keys(self):
        """Every key in the store, as a list of str (depth-first order)."""
        return [_key_str(k) for k, _ in self._walk()]

    def sizes(self):
        """Every key with its object size, as a dict."""
        return {_key_str(k): s for k, s in self._walk()}

    # -- durability -------------------------------------------------------

    def sync(self):
        """Make everything written so far durable (slot_sync)."""
        with self._use() as h:
            _check(self._lib.slot_sync(h))

    def checkpoint(self, force=False):
        """Write the index to the metadata region (slot_checkpoint).
        Returns True when a checkpoint was written, False when none was
        needed or (without ``force``) the store was not idle."""
        with self._use() as h:
            return _check(self._lib.slot_checkpoint(h, bool(force))) == 1

    def trim(self, start=0, length=None, minlen=0):
        """Discard the free space of the device range [start, start +
        length) in runs of at least minlen bytes (slot_trim, as fstrim):
        on an NVMe drive the blocks go back to it, on an image file they
        become holes.  Returns the bytes discarded."""
        trimmed = ctypes.c_uint64(0)
        if length is None:
            length = 2**64 - 1
        with self._use() as h:
            _check(self._lib.slot_trim(h, start, length, minlen,
                                       ctypes.byref(trimmed)))
        return trimmed.value

    def set_discard(self, on=True):
        """Online discard (slot_set_discard, ext4's -o discard): the
        periodic checkpoint thread trims the space freed in each of its
        periods, with no trim() call."""
        with self._use() as h:
            _check(self._lib.slot_set_discard(h, bool(on)))

    def _resize(self, fn, size, bound):
        """Call slot_grow or slot_shrink; on a refusal the SlotError
        carries the bound it set, named bound."""
        out = ctypes.c_uint64(0)
        with self._use() as h:
            rc = fn(h, size, ctypes.byref(out))
        if rc < 0:
            err = SlotError(rc)
            setattr(err, bound, out.value)
            raise err
        return self.geometry()["device_size"]

    def grow(self, size=0):
        """Grow the file system to size bytes of its device, 0 for all of
        it as it is now (slot_grow, resize.slotfs); the store stays in use.
        Returns the file system's size after.  A refusal raises SlotError
        with ``limit`` set to the most the metadata area can index."""
        return self._resize(self._lib.slot_grow, size, "limit")

    def shrink(self, size):
        """Shrink the file system to size bytes (slot_shrink, resize.slotfs
        on an unmounted store): the chunks past the new end move below
        it.  Returns the size after.  A refusal raises SlotError with
        ``min`` set to the least size the files need."""
        return self._resize(self._lib.slot_shrink, size, "min")

    def set_label(self, label):
        """A new volume label (slot_store_set_label, e2label), in both
        superblocks at once; at most 63 bytes of UTF-8."""
        with self._use() as h:
            _check(self._lib.slot_store_set_label(h, label.encode()))

    def set_uuid(self, value):
        """A new UUID (slot_store_set_uuid, tune2fs -U), a uuid.UUID or
        its text form, in both superblocks at once; the other headers
        keep theirs.  The nil UUID raises SlotError (EINVAL)."""
        u = value if isinstance(value, _uuid.UUID) else _uuid.UUID(value)
        with self._use() as h:
            _check(self._lib.slot_store_set_uuid(h, u.bytes))

    _ERRORS = {None: 0, "continue": 1, "remount-ro": 2}

    def set_errors(self, behavior):
        """What an error found in use (a slot failing its checksum, a
        checkpoint that cannot be written) does for this open, as ext4's
        errors= (slot_store_set_errors, slotfs -o errors=): "continue",
        "remount-ro" (no more writes: SlotError EROFS), or None for the
        superblock's (tune.slotfs -e).  Either way the error is recorded
        in the superblock, for fsck.slotfs."""
        if behavior not in self._ERRORS:
            raise ValueError("errors: continue, remount-ro or None, not "
                             "%r" % (behavior,))
        with self._use() as h:
            _check(self._lib.slot_store_set_errors(h, self._ERRORS[behavior]))

    # -- status -----------------------------------------------------------

    def _status_struct(self):
        st = _L.padded(_L.SlotStatus)
        with self._use() as h:
            _check(self._lib.slot_status_get(h, ctypes.byref(st)))
        return st

    def status(self):
        """struct slot_status as a dict, with the engine counters nested
        under "io" and the engine name as str; the keys are those of
        :meth:`status_json`."""
        return _L.struct_to_dict(self._status_struct())

    def status_json(self):
        """The status as JSON text, rendered by the library."""
        return _render(self._lib.slot_status_json, self._status_struct())

    def _status_ext_struct(self):
        ext = _L.SlotStatusExt()
        ext.size = ctypes.sizeof(ext)
        with self._use() as h:
            _check(self._lib.slot_status_ext_get(h, ctypes.byref(ext)))
        return ext

    def status_ext(self):
        """struct slot_status_ext as a dict: what struct slot_status
        lacks (compaction, errors found in use, how long checkpoints held
        the store lock, removed files still held), as far as this binding and the library both
        know it (a field the library does not fill reads 0)."""
        d = _L.struct_to_dict(self._status_ext_struct())
        del d["size"]
        return d

    def metrics(self):
        """The status in Prometheus text exposition format (0.0.4): the
        store's, then compaction's and the errors found in use."""
        return (_render(self._lib.slot_status_prometheus,
                        self._status_struct()) +
                _render(self._lib.slot_status_ext_prometheus,
                        self._status_ext_struct()))

    def geometry(self):
        """The layout of the open file system (struct slot_geometry)."""
        geo = _L.padded(_L.SlotGeometry)
        with self._use() as h:
            self._lib.slot_geometry_get(h, ctypes.byref(geo))
        return _geometry_dict(geo)

    def recovery(self):
        """What the open found and did (struct slot_recovery)."""
        r = _L.padded(_L.SlotRecovery)
        with self._use() as h:
            self._lib.slot_recovery_report(h, ctypes.byref(r))
        return _L.struct_to_dict(r)
