"""Metering formatting (ZSE D.3.2.2.4): wire values and display text against
an independent reference written here with fractions, for every formatting
byte, plus the formatting bugs reported against public Zigbee metering code
(notes/anchors.md §7)."""
from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

from firmware.metering import format as F
from firmware.zcl import types as T
from runtimes import run_script


def reference(raw, m, d, fmt):
    """What a conforming IHD shows: raw x M / D, truncated to the declared
    decimals, integer part in the declared width (zero-padded unless bit 7)."""
    m, d = m or 1, d or 1
    right, left, suppress = fmt & 7, (fmt >> 3) & 15, bool(fmt & 0x80)
    value = Fraction(abs(raw) * m, d)
    units = int(value * 10 ** right)                   # truncation
    ip, fp = divmod(units, 10 ** right)
    if left:
        ip %= 10 ** left
    s = str(ip) if (suppress or not left) else str(ip).zfill(left)
    if right:
        s += "." + str(fp).zfill(right)
    return ("-" + s) if raw < 0 and (ip or fp) else s


@given(st.integers(0, 2 ** 48 - 1), st.integers(0, 2 ** 24 - 1), st.integers(0, 2 ** 24 - 1),
       st.integers(0, 255))
@settings(max_examples=3000)
def test_render_matches_reference(raw, m, d, fmt):
    assert F.render(raw, m, d, fmt) == reference(raw, m, d, fmt)


@pytest.mark.parametrize("fmt", range(256))
def test_every_formatting_byte(fmt):
    for raw in (0, 7, 999, 1000, 12345678, 2 ** 48 - 1):
        for m, d in ((1, 1000), (1, 1), (10, 1), (3, 7), (0, 0)):
            assert F.render(raw, m, d, fmt) == reference(raw, m, d, fmt)


@given(st.integers(-(2 ** 23), 2 ** 23 - 1), st.integers(1, 1000), st.integers(1, 100000),
       st.integers(0, 255))
def test_demand_including_negative(raw, m, d, fmt):
    assert F.render(raw, m, d, fmt) == reference(raw, m, d, fmt)


@given(st.integers(0, 10 ** 10), st.integers(1, 10), st.integers(1, 10 ** 6))
def test_wire_value_is_the_truncated_internal_value(wh, m, d):
    raw = F.to_wire(wh, m, d)
    # raw x M / D kWh never exceeds the energy, and is less than one wire unit below it
    assert Fraction(raw * m, d) <= Fraction(wh, 1000) < Fraction((raw + 1) * m, d)


@given(st.integers(0, 10 ** 12))
def test_default_display_is_exact_kwh(wh):
    raw = F.to_wire(wh, F.DEFAULT_MULTIPLIER, F.DEFAULT_DIVISOR)
    assert raw == wh
    shown = F.render(raw, F.DEFAULT_MULTIPLIER, F.DEFAULT_DIVISOR, F.DEFAULT_SUMMATION_FMT)
    assert shown == "%d.%03d" % ((wh // 1000) % 10 ** 7, wh % 1000)


def test_reported_bug_cases():
    # formatting 0x33 ignored (zha-device-handlers 2781): 6 left, 3 right, zeros shown
    assert F.render(12345678, 1, 1000, 0x33) == "012345.678"
    assert F.render(12345678, 1, 1000, 0x33 | 0x80) == "12345.678"
    # divisor read as 512 (herdsman-converters 3066): uint24 1000 is E8 03 00
    buf = bytearray(3)
    T.encode(T.UINT24, 1000, buf, 0)
    assert bytes(buf) == b"\xe8\x03\x00" and T.decode(T.UINT24, buf, 0)[0] == 1000
    # demand ignoring multiplier/divisor (zha-device-handlers 1889): 1500 W -> 1.500 kW
    assert F.render(F.to_wire(1500, 1, 1000), 1, 1000, F.DEFAULT_DEMAND_FMT) == "1.500"
    assert F.render(F.to_wire(1500, 1, 100), 1, 100, 0x2A) == "00001.50"
    # a register wider than its declared digits rolls over like the display
    assert F.render(123456789012, 1, 1000, 0x33) == "456789.012"


def test_changing_formatting_keeps_wire_and_display_consistent(bench):
    bench.metrology.load_w = 3600
    bench.tick(3600)                                   # 3600 Wh
    met = bench.meter.metering
    assert met.read(0x0000) == 3600 and met.display_summation() == "3.600"
    met.values[0x0302] = 100                           # 10 Wh resolution
    met.values[0x0303] = 0x32                          # 6 left, 2 right, zeros shown
    assert met.read(0x0000) == 360
    assert met.display_summation() == "000003.60"
    assert met.display_summation() == F.render(met.read(0x0000), 1, 100, 0x32)


def test_formatting_same_on_micropython():
    cpy = run_script("cpython", "format_vectors.py")
    mpy = run_script("micropython", "format_vectors.py")
    assert cpy == mpy and len(cpy.splitlines()) > 1000
