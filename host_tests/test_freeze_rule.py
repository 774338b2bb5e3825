"""Issue #18: no integer constant of the frozen firmware becomes a long int
when a board freezes it.

Freezing (upstream tools/mpy-tool.py) emits an integer constant object as a
small int only within -0x2000..0x1FFF, the smallest small int of any target;
outside it the constant is a static long int, and arithmetic on a long int
allocates its result. The unix-port tests load .mpy files, where the same
constant is an ordinary small int, so they cannot see it. This test reads
what mpy-cross produces for the boards (tools/mpy_build, -O3, the frozen
set) with tools/mpyinfo and applies the rule:

- a constant that is a small int on a 32-bit board when loaded from a .mpy
  (|v| < 2**30) but a long int when frozen: none at all (make it a list or
  a bytes/array table, a const() folded into the bytecode, or an int
  computed at import);
- a constant beyond a 32-bit board's small ints (2**30 and over, such as
  the UINT32 sentinel 0xFFFFFFFF): a long int on every 32-bit build, frozen
  or not; only those listed in WIDE (module: values), each used in
  comparisons or off the per-second and per-frame paths as noted.
"""
import os
import subprocess

import pytest

from tools import mpy_build, mpyinfo

# Values at or beyond a 32-bit board's small-int range (|v| >= 2**30) that
# the frozen firmware may hold, per module, and where they are used. Arithmetic
# with one of them allocates on a 32-bit board; comparisons (==, <, min, max)
# and struct packing do not.
WIDE = {
    # "any" in Get Calendar / Get Special Days requests (compared)
    "firmware/clusters/calendar.py": {0xFFFFFFFF},
    # the bill clamped to UINT32 when read (min)
    "firmware/clusters/metering.py": {0xFFFFFFFF},
    # INT32 bounds (clamping with min/max) and UINT32 sentinels (compared) of
    # Prepayment attributes and commands
    "firmware/clusters/prepayment.py": {0x7FFFFFFF, -0x80000000, 0xFFFFFFFE, 0xFFFFFFFF},
    # "not used" UINT32 fields of Price commands (compared, packed)
    "firmware/clusters/price.py": {0xFFFFFFFF},
    # CPython's ticks and the pure crc32 of a port without binascii.crc32:
    # neither is compiled into a board's path (binascii.crc32 and time.ticks_*
    # exist there)
    "firmware/compat.py": {0x40000000, 0xFFFFFFFF, 0xEDB88320},
    # bounds of bench control requests (per request, bench only)
    "firmware/control.py": {0xFFFFFFFE, 0xFFFFFFFF},
    # the DRLC xorshift (per event), UTC_INVALID (compared)
    "firmware/drlc/events.py": {0xFFFFFFFF},
    # the default identity's EUI-64 (at construction); the event log value
    # packed as UINT32 (per log entry)
    "firmware/meter.py": {0x0022A3000000E5E1, 0xFFFFFFFF},
    # register split into UINT32 + UINT16 (half-hourly profile record)
    "firmware/metering/profile.py": {0xFFFFFFFF},
    # ring index (per append)
    "firmware/metering/ringlog.py": {0xFFFFFFFF},
    # NEVER and UINT32 splits (per snapshot)
    "firmware/metering/snapshots.py": {0xFFFFFFFF},
    # NEVER and the UINT32/INT32/UINT64 bounds a command's arguments are
    # checked against (compared, once per command)
    "firmware/commands/__init__.py": {0xFFFFFFFF},
    # OTA: the "none" FileOffset / DownloadedFileVersion / UpgradeServerID
    # (read), the wildcard version and "wait" upgrade time (compared, per command)
    "firmware/clusters/ota_client.py": {0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF},
    "firmware/ota/client.py": {0xFFFFFFFF},
    "firmware/commands/supplier.py": {0xFFFFFFFF, 0x7FFFFFFF, 0xFFFFFFFFFFFFFFFF},
    "firmware/commands/config.py": {-0x80000000, 0x7FFFFFFF},
    # GBCS: the low 32 bits of a 64-bit originator counter when packed
    # (per message, not per second)
    "firmware/gbcs/core.py": {0xFFFFFFFF},
    # the newest end of a log read's date range (compared, per entry read)
    "firmware/gbcs/uc_read.py": {0xFFFFFFFF},
    # ECS01a/b: 'never' activation and the unused block threshold (compared,
    # packed), the INT32 bound of a price or standing charge (compared); per command
    "firmware/gbcs/uc_tariff.py": {0xFFFFFFFF, 0x7FFFFFFF},
    # UTC_INVALID and UTC_MAX of the clock guard (compared)
    "firmware/platform/clock.py": {0xFFFFFFFF, 3155760000},
    # sequence numbers and CRCs of record writes (per save)
    "firmware/platform/store.py": {0xFFFFFFFF, 0x80000000},
    # PPTD offset and range, PTUT field (per top-up)
    "firmware/prepay/utrn.py": {7394156990786306048, 1 << 61, 0xFFFFFFFF},
    # UINT32 bounds of loaded prices and thresholds (compared, at load)
    "firmware/tariff/matrix.py": {0xFFFFFFFF},
}
SMALL32 = 1 << 30           # a 32-bit board's small ints: -2**30 .. 2**30 - 1


def scan(out_dir, arch="armv7emsp", rels=None):
    """{module: [(where, value)]} of the constants that freeze as long ints."""
    found = {}
    for rel in rels or [r for r in mpy_build.sources() if r not in mpy_build.HOST_ONLY]:
        with open(os.path.join(out_dir, rel[:-3] + ".mpy"), "rb") as f:
            info = mpyinfo.read(f.read())
        assert info["small_int_bits"] == 31, (rel, info["small_int_bits"])
        bad = mpyinfo.long_ints(info["objs"])
        if bad:
            found[rel] = bad
    return found


def offenders(found):
    """What the rule refuses: every freeze-only long int, and every wide one
    not listed for its module."""
    out = []
    for rel, items in sorted(found.items()):
        for where, v in items:
            if -SMALL32 <= v < SMALL32 or v not in WIDE.get(rel, ()):
                out.append("%s %s = %d" % (rel, where, v))
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("mpy"))
    mpy_build.build("armv7emsp", out)
    return out


def test_no_frozen_long_int_constants(built):
    found = scan(built)
    bad = offenders(found)
    assert not bad, "constants that freeze as long ints:\n  " + "\n  ".join(bad)
    # the allowance stays exact: a value no longer there leaves the list
    held = {(rel, v) for rel, items in found.items() for _, v in items}
    stale = sorted((rel, v) for rel, vs in WIDE.items() for v in vs if (rel, v) not in held)
    assert not stale, stale
    assert all(abs(v) >= SMALL32 or v == -SMALL32 for vs in WIDE.values() for v in vs)


BAD_MODULE = """
from micropython import const
_SMALL = const(86400)                   # folded into the bytecode: a small int
PERIODS = (1800, 86400, 604800)         # a constant tuple: 86400 and 604800 freeze long
CODES = ((0x8F51, 1), (0x1FFF, -0x2000), (-0x2001, True))
LIST = [86400, 0x8F51]                  # built by bytecode: small ints
TEXT = "86400"
def f(x):
    return x % _SMALL + x * 0x20000     # literals in bytecode: small ints
def g(x):
    return x & 0xFFFFFFFF               # beyond a 32-bit small int: a long-int object
"""


def test_rule_catches_a_bad_module(tmp_path):
    """The reader and the rule on a module written to break it: exactly the
    constant-tuple elements outside -0x2000..0x1FFF and the wide literal."""
    src = tmp_path / "bad.py"
    src.write_text(BAD_MODULE)
    dst = tmp_path / "bad.mpy"
    subprocess.run([mpy_build.mpy_cross(), "-march=armv7emsp", "-O3", "-s", "bad.py",
                    "-o", str(dst), str(src)], check=True)
    info = mpyinfo.read(dst.read_bytes())
    values = sorted(v for _, v in mpyinfo.long_ints(info["objs"]))
    assert values == sorted([86400, 604800, 0x8F51, -0x2001, 0xFFFFFFFF])
    assert offenders({"firmware/bad.py": mpyinfo.long_ints(info["objs"])})
    # the wide literal is refused too unless it is listed for its module
    found = {"firmware/platform/clock.py": [("obj0", 0xFFFFFFFF)],
             "firmware/bad.py": [("obj1[1]", 86400)]}
    assert offenders(found) == ["firmware/bad.py obj1[1] = 86400"]
    # a freeze-only value can never be allowed through WIDE
    found = {"firmware/platform/clock.py": [("obj0[0]", 86400)]}
    assert offenders(found) == ["firmware/platform/clock.py obj0[0] = 86400"]


def test_reader_refuses_what_is_not_an_mpy(tmp_path):
    for data in (b"", b"X\x06\x00\x1f", b"M\x05\x00\x1f\x00\x00", b"M\x06\x00\x1f\x02"):
        with pytest.raises(mpyinfo.MpyError):
            mpyinfo.read(data)
