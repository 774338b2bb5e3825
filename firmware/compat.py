# The one place where the two runtimes differ (style-anchors §5.5).
# Core modules import const and the tick helpers from here, nothing else
# runtime-specific.
try:
    from micropython import const  # noqa: F401
except ImportError:  # CPython
    def const(x):
        return x

try:
    from time import ticks_ms, ticks_diff  # noqa: F401
except ImportError:  # CPython
    import time as _t

    def ticks_ms():
        return int(_t.monotonic() * 1000) & 0x3FFFFFFF

    def ticks_diff(a, b):
        d = (a - b) & 0x3FFFFFFF
        return d - 0x40000000 if d & 0x20000000 else d

try:
    from binascii import crc32  # noqa: F401
except ImportError:  # a port built without MICROPY_PY_BINASCII_CRC32
    def crc32(data, crc=0):
        crc ^= 0xFFFFFFFF
        for b in data:
            crc ^= b
            for _ in range(8):
                crc = (crc >> 1) ^ (0xEDB88320 & -(crc & 1))
        return crc ^ 0xFFFFFFFF

# What struct.pack_into / unpack_from raise on a short buffer or an
# out-of-range value: ValueError on MicroPython, struct.error on CPython
# (not a ValueError subclass there). Codec code catches this tuple.
import struct as _struct
STRUCT_ERRORS = (ValueError, IndexError, _struct.error) \
    if hasattr(_struct, "error") else (ValueError, IndexError)

IS_MICROPYTHON = False
try:
    import sys as _sys
    IS_MICROPYTHON = _sys.implementation.name == "micropython"
except AttributeError:
    pass


def pack_heap(step):
    """Collect the heap (MicroPython) and from now on whenever step more
    bytes have been allocated (gc.threshold; -1: never, the port's default
    behaviour); returns the setting it replaces. Between collections
    MicroPython's first-fit allocator hands out ever higher blocks, the
    garbage below them being not yet free, so the long-lived objects of a
    phase that allocates much (the meter's construction and boot, a tariff
    load) end up scattered over the whole free heap among the holes their
    temporaries leave: on a Cortex-M3 the largest free block after boot was
    27.7 KB of 106 KB free. Collecting every few KB keeps them in the lowest
    holes instead and the rest of the heap in one piece (issue #18).
    CPython: nothing to do, returns -1."""
    import gc
    th = getattr(gc, "threshold", None)
    if th is None:
        return -1
    gc.collect()
    old = th()
    th(step)
    return old


def collect():
    """gc.collect() on MicroPython, nothing on CPython: a point where the
    meter's first-fit allocator should start again from the lowest hole
    (compat.pack_heap), at a cost CPython need not pay."""
    if IS_MICROPYTHON:
        import gc
        gc.collect()
