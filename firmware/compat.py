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

IS_MICROPYTHON = False
try:
    import sys as _sys
    IS_MICROPYTHON = _sys.implementation.name == "micropython"
except AttributeError:
    pass
