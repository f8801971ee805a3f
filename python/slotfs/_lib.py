# SPDX-License-Identifier: MIT
"""Low-level ctypes declarations for libslot (core/slot.h).

This module finds and loads ``libslot.so``, mirrors the C structures of the
public header as :class:`ctypes.Structure` subclasses and declares the
argument and return types of every function the :mod:`slotfs` package calls.
Nothing here is meant to be used directly; see :mod:`slotfs` instead.

The structures must match ``core/slot.h`` field for field: ctypes lays them
out with the platform C ABI, so the same order and types give the same
offsets and padding.  The test suite checks the layout of
``struct slot_status`` by filling every field from Python with a distinct
value and having the C library render it as JSON.
"""

import ctypes
import ctypes.util
import glob
import os

__all__ = ["load", "lib", "LibraryNotFound"]

# Constants from slot.h.
SLOT_NAME_MAX = 255
SLOT_PATH_MAX = 4096
SLOT_LABEL_MAX = 63
SLOT_ROOT_INO = 1

SLOT_ENGINE_AUTO = 0
SLOT_ENGINE_URING = 1
SLOT_ENGINE_PSYNC = 2

c_bool = ctypes.c_bool
c_char_p = ctypes.c_char_p
c_int = ctypes.c_int
c_size_t = ctypes.c_size_t
c_uint = ctypes.c_uint
c_uint8 = ctypes.c_uint8
c_uint32 = ctypes.c_uint32
c_int64 = ctypes.c_int64
c_uint64 = ctypes.c_uint64
c_void_p = ctypes.c_void_p
# enum slot_engine: every value fits an int, and GCC gives it int's size.
c_enum = ctypes.c_int


class LibraryNotFound(OSError):
    """libslot.so could not be found or loaded."""


# ---------------------------------------------------------------------------
# Structures (same order, same types as core/slot.h)
# ---------------------------------------------------------------------------

class SlotDevStats(ctypes.Structure):
    """struct slot_dev_stats: engine counters."""
    _fields_ = [
        ("submitted", c_uint64),
        ("completed", c_uint64),
        ("errors", c_uint64),
        ("flushes", c_uint64),
        ("bytes_read", c_uint64),
        ("bytes_written", c_uint64),
        ("sq_depth", c_uint32),
        ("sq_depth_max", c_uint32),
        ("cq_depth_max", c_uint32),
        ("queue_depth", c_uint32),
    ]


class SlotGeometry(ctypes.Structure):
    """struct slot_geometry: the layout of a formatted device."""
    _fields_ = [
        ("device_size", c_uint64),
        ("block_size", c_uint32),
        ("chunk_size", c_uint32),
        ("min_slot", c_uint32),
        ("class_count", c_uint32),
        ("meta_offset", c_uint64),
        ("meta_size", c_uint64),
        ("slot_area_offset", c_uint64),
        ("region_size", c_uint64),
        ("region_count", c_uint32),
        ("capacity", c_uint64),
        ("max_small_files", c_uint64),
        ("uuid", c_uint8 * 16),
        ("label", ctypes.c_char * (SLOT_LABEL_MAX + 1)),
        ("class_size", c_uint32 * 8),
        ("xattrs", ctypes.c_bool),
        ("acls", ctypes.c_bool),
    ]


class SlotFormatOpts(ctypes.Structure):
    """struct slot_format_opts."""
    _fields_ = [
        ("chunk_size", c_uint32),
        ("min_slot", c_uint32),
        ("meta_size", c_uint64),
        ("region_size", c_uint64),
        ("label", c_char_p),
        ("uuid", ctypes.POINTER(c_uint8)),
        ("dry_run", c_bool),
    ]


LOG_FN = ctypes.CFUNCTYPE(None, c_void_p, c_char_p)


class SlotOpts(ctypes.Structure):
    """struct slot_opts: options of slot_open()."""
    _fields_ = [
        ("queue_depth", c_uint),
        ("direct_io", c_bool),
        ("engine", c_enum),
        ("meta_idle_quiet_ms", c_uint),
        ("checkpoint_interval_ms", c_uint),
        ("periodic_checkpoint", c_bool),
        ("read_only", c_bool),
        ("validate", c_bool),
        ("force_scan", c_bool),
        ("log", LOG_FN),
        ("log_arg", c_void_p),
    ]


class SlotRecovery(ctypes.Structure):
    """struct slot_recovery: what the last open found and did."""
    _fields_ = [
        ("was_clean", c_bool),
        ("scanned", c_bool),
        ("ckpt_seq", c_uint64),
        ("entries_loaded", c_uint64),
        ("entries_dropped", c_uint64),
        ("slots_scanned", c_uint64),
        ("slots_recovered", c_uint64),
        ("objects_recovered", c_uint64),
        ("lost_found", c_uint64),
    ]


class SlotPut(ctypes.Structure):
    """struct slot_put: one item of slot_put_many()."""
    _fields_ = [
        ("key", c_char_p),
        ("buf", c_void_p),
        ("len", c_size_t),
        ("result", c_int),
    ]


class SlotGet(ctypes.Structure):
    """struct slot_get: one item of slot_get_many()."""
    _fields_ = [
        ("key", c_char_p),
        ("buf", c_void_p),
        ("cap", c_size_t),
        ("len", c_size_t),
        ("result", c_int),
    ]


class SlotStatus(ctypes.Structure):
    """struct slot_status: a snapshot of the store's state and counters."""
    _fields_ = [
        ("inflight_io_count", c_uint64),
        ("metadata_dirty_total", c_uint64),
        ("metadata_persisted", c_uint64),
        ("metadata_seq", c_uint64),
        ("checkpoints", c_uint64),
        ("last_checkpoint_unix_ms", c_int64),
        ("last_io_age_ms", c_int64),
        ("key_count", c_uint64),
        ("object_count", c_uint64),
        ("slots_total", c_uint64),
        ("slots_free", c_uint64),
        ("slots_used", c_uint64),
        ("regions_total", c_uint64),
        ("regions_free", c_uint64),
        ("bytes_total", c_uint64),
        ("bytes_free", c_uint64),
        ("lock_acquisitions", c_uint64),
        ("puts", c_uint64),
        ("gets", c_uint64),
        ("deletes", c_uint64),
        ("canceled_puts", c_uint64),
        ("checksum_errors", c_uint64),
        ("queue_depth", c_uint32),
        ("io", SlotDevStats),
        ("read_only", c_bool),
        ("clean_at_open", c_bool),
        ("engine", ctypes.c_char * 16),
    ]


class SlotStatusExt(ctypes.Structure):
    """struct slot_status_ext: figures slot_status lacks (set size)."""
    _fields_ = [
        ("size", c_size_t),
        ("compaction_regions", c_uint64),
        ("compaction_failed", c_uint64),
        ("compaction_chunks", c_uint64),
        ("compaction_bytes", c_uint64),
        ("fs_errors", c_uint64),
        ("errors_ro", c_bool),
        ("ckpt_lock_ns_last", c_uint64),
        ("ckpt_lock_ns_max", c_uint64),
        ("removed_held", c_uint64),
        ("removed_waiting", c_uint64),
    ]


# int (*fn)(void *arg, const char *key, uint64_t size)
ITERATE_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_char_p, c_uint64)


def padded(cls, slack=1024):
    """A zeroed instance of a structure the library fills or initialises,
    with ``slack`` spare bytes behind it: a newer libslot whose structure
    grew at the end then writes into the slack, not over Python's heap.
    (The tests compare every mirrored structure with core/slot.h.)"""
    buf = ctypes.create_string_buffer(ctypes.sizeof(cls) + slack)
    return cls.from_buffer(buf)     # keeps buf alive


def struct_to_dict(st):
    """Convert a ctypes structure to a dict (nested structures as dicts,
    char arrays as str, byte arrays as bytes)."""
    out = {}
    for name, typ in st._fields_:
        v = getattr(st, name)
        if isinstance(v, ctypes.Structure):
            v = struct_to_dict(v)
        elif isinstance(v, bytes):          # char[N] reads as bytes
            v = v.decode("utf-8", "replace")
        elif isinstance(v, ctypes.Array):
            v = bytes(v) if v._type_ is c_uint8 else list(v)
        out[name] = v
    return out


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

def _candidates():
    """Paths or names to try, in order: $SLOTFS_LIB, the system's
    ``find_library('slot')``, then build trees next to the source tree."""
    env = os.environ.get("SLOTFS_LIB")
    if env:
        yield env
        return          # an explicit choice is not second-guessed
    name = ctypes.util.find_library("slot")
    if name:
        yield name
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(here, "..", ".."))
    for pattern in ("build*/core/libslot.so", "builddir*/core/libslot.so",
                    "_build*/core/libslot.so"):
        for p in sorted(glob.glob(os.path.join(root, pattern))):
            yield p


def _declare(lib):
    """Set argtypes and restype of every function the package calls."""
    P = ctypes.POINTER
    decl = {
        "slot_strerror": (c_char_p, [c_int]),
        "slot_open_strerror": (c_char_p, [c_int]),
        "slot_opts_init": (None, [P(SlotOpts)]),
        "slot_open": (c_int, [c_char_p, P(SlotOpts), P(c_void_p)]),
        "slot_close": (c_int, [c_void_p]),
        "slot_dev_open": (c_int, [c_char_p, c_enum, c_uint, c_bool, c_bool,
                                  c_bool, P(c_void_p)]),
        "slot_dev_close": (None, [c_void_p]),
        "slot_format_opts_init": (None, [P(SlotFormatOpts)]),
        "slot_format_plan": (c_int, [c_uint64, P(SlotFormatOpts),
                                     P(SlotGeometry)]),
        "slot_format": (c_int, [c_void_p, P(SlotFormatOpts),
                                P(SlotGeometry)]),
        "slot_probe": (c_int, [c_void_p, P(SlotGeometry)]),
        "slot_find_device": (c_int, [c_char_p, c_char_p, c_size_t]),
        "slot_recovery_report": (None, [c_void_p, P(SlotRecovery)]),
        "slot_geometry_get": (None, [c_void_p, P(SlotGeometry)]),
        "slot_put_many": (c_int, [c_void_p, P(SlotPut), c_size_t]),
        "slot_get_many": (c_int, [c_void_p, P(SlotGet), c_size_t]),
        "slot_put_many_start": (c_int, [c_void_p, P(SlotPut), c_size_t,
                                        P(c_void_p)]),
        "slot_put_wait": (c_int, [c_void_p]),
        "slot_get_many_start": (c_int, [c_void_p, P(SlotGet), c_size_t,
                                        P(c_void_p)]),
        "slot_get_wait": (c_int, [c_void_p]),
        "slot_delete_many": (c_int, [c_void_p, P(c_char_p), c_size_t,
                                     P(c_int)]),
        "slot_lookup": (c_int, [c_void_p, c_char_p, P(c_uint64)]),
        "slot_iterate": (c_int, [c_void_p, ITERATE_FN, c_void_p]),
        "slot_sync": (c_int, [c_void_p]),
        "slot_checkpoint": (c_int, [c_void_p, c_bool]),
        "slot_trim": (c_int, [c_void_p, c_uint64, c_uint64, c_uint64,
                              P(c_uint64)]),
        "slot_set_discard": (c_int, [c_void_p, c_bool]),
        "slot_grow": (c_int, [c_void_p, c_uint64, P(c_uint64)]),
        "slot_shrink": (c_int, [c_void_p, c_uint64, P(c_uint64)]),
        "slot_store_set_label": (c_int, [c_void_p, c_char_p]),
        "slot_store_set_uuid": (c_int, [c_void_p, c_char_p]),
        "slot_store_set_errors": (c_int, [c_void_p, c_int]),
        "slot_status_get": (c_int, [c_void_p, P(SlotStatus)]),
        "slot_status_ext_get": (c_int, [c_void_p, P(SlotStatusExt)]),
        "slot_status_ext_prometheus": (c_int, [P(SlotStatusExt),
                                               ctypes.c_char_p, c_size_t]),
        "slot_status_json": (c_int, [P(SlotStatus), ctypes.c_char_p,
                                     c_size_t]),
        "slot_status_prometheus": (c_int, [P(SlotStatus), ctypes.c_char_p,
                                           c_size_t]),
    }
    for fname, (res, args) in decl.items():
        fn = getattr(lib, fname)
        fn.restype = res
        fn.argtypes = args
    return lib


_lib = None


def load():
    """Load libslot once and return the :class:`ctypes.CDLL`.

    Raises :class:`LibraryNotFound` listing every place that was tried.
    ``ctypes.CDLL`` releases the GIL around each call, so store calls from
    several Python threads run in parallel in the library.
    """
    global _lib
    if _lib is not None:
        return _lib
    tried = []
    for cand in _candidates():
        try:
            lib = ctypes.CDLL(cand)
        except OSError as e:
            tried.append("%s (%s)" % (cand, e))
            continue
        if not hasattr(lib, "slot_put_many"):
            tried.append("%s (no slot_put_many: not libslot)" % cand)
            continue
        _lib = _declare(lib)
        return _lib
    raise LibraryNotFound(
        "libslot.so not found; set SLOTFS_LIB to its path (tried: %s)"
        % (", ".join(tried) if tried else "nothing"))


def lib():
    """The loaded library (loading it on first use)."""
    return load()
