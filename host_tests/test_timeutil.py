"""The meter's one home of date rules (firmware/platform/clock.py) against
CPython's datetime: civil dates both ways, weekdays, month arithmetic,
block and billing periods, the plausible window; and the firmware's import
graph has no package cycle."""
import ast
import calendar
import datetime
import glob
import os

import pytest

from firmware.platform import clock as CK
from runtimes import ROOT

EPOCH = datetime.date(2000, 1, 1)
DAY = 86400


def day_of(date):
    return (date - EPOCH).days


def test_civil_both_ways_and_weekday_over_five_centuries():
    # every day from 1800 to 2299: leap years, centuries (1900, 2100, 2200
    # not leap; 2000 leap), every month end
    d = datetime.date(1800, 1, 1)
    n = day_of(d)
    end = datetime.date(2300, 1, 1)
    one = datetime.timedelta(days=1)
    while d < end:
        assert CK.civil(n) == (d.year, d.month, d.day), d
        assert CK.days_from_civil(d.year, d.month, d.day) == n, d
        assert CK.weekday(n) == d.weekday(), d
        d += one
        n += 1


def test_leap_rules():
    f = CK.days_from_civil
    assert f(2000, 3, 1) - f(2000, 2, 28) == 2            # 2000 is leap (400)
    assert f(2100, 3, 1) - f(2100, 2, 28) == 1            # 2100 is not (100)
    assert f(2024, 3, 1) - f(2024, 2, 28) == 2
    assert f(2025, 3, 1) - f(2025, 2, 28) == 1
    assert CK.civil(f(2100, 2, 28) + 1) == (2100, 3, 1)
    assert CK.civil(0) == (2000, 1, 1) and CK.weekday(0) == 5      # a Saturday


def ref_add_months(t, k):
    dt = datetime.datetime(2000, 1, 1) + datetime.timedelta(seconds=t)
    m = dt.month - 1 + k
    y, m = dt.year + m // 12, m % 12 + 1
    d = min(dt.day, calendar.monthrange(y, m)[1])
    return int((dt.replace(year=y, month=m, day=d) - datetime.datetime(2000, 1, 1))
               .total_seconds())


def test_add_months_clamps_to_month_ends():
    base = CK.days_from_civil(2019, 1, 1)
    for day in range(base, base + 4 * 366, 3):
        for k in (-25, -13, -12, -1, 0, 1, 2, 11, 12, 13, 49):
            t = day * DAY + 37 * 60 + 11
            assert CK.add_months(t, k) == ref_add_months(t, k), (CK.civil(day), k)
    jan31 = CK.days_from_civil(2024, 1, 31) * DAY
    assert CK.add_months(jan31, 1) == CK.days_from_civil(2024, 2, 29) * DAY     # leap
    assert CK.add_months(jan31, 13) == CK.days_from_civil(2025, 2, 28) * DAY


@pytest.mark.parametrize("bp", [1, 2, CK.BP_MONTH])      # day, week, month (ZSE codes)
def test_periods_against_datetime(bp):
    prev = None
    t = CK.UTC_MIN - 3 * DAY
    while t < CK.UTC_MIN + 800 * DAY:
        s, e = CK.period_bounds(bp, t)
        assert s <= t < e and s % DAY == 0 and e % DAY == 0
        sd = EPOCH + datetime.timedelta(days=s // DAY)
        ed = EPOCH + datetime.timedelta(days=e // DAY)
        if bp == 1:
            assert e - s == DAY
        elif bp == 2:
            assert sd.weekday() == 0 and e - s == 7 * DAY
        else:
            assert sd.day == 1 and ed.day == 1 and (ed.month - sd.month) % 12 == 1
        pid = CK.period_id(bp, t)
        # the id is constant inside the bounds and steps by one at them
        assert CK.period_id(bp, s) == pid == CK.period_id(bp, e - 1)
        assert CK.period_id(bp, e) == pid + 1
        if prev is not None:
            assert pid >= prev
        prev = pid
        t += 7 * 3600 + 13
    assert CK.period_bounds(CK.BP_NONE, t) == (0, 0) and CK.period_id(CK.BP_NONE, t) == 0


def test_billing_period_is_year_month_and_month_period_one_less():
    for y, m in ((2020, 1), (2026, 12), (2099, 12)):
        t = CK.days_from_civil(y, m, 15) * DAY + 5
        assert CK.billing_period(t) == y * 12 + m
        assert CK.period_id(CK.BP_MONTH, t) == y * 12 + m - 1


def test_plausible_window_edges():
    ts = lambda *a: int((datetime.datetime(*a) - datetime.datetime(2000, 1, 1)).total_seconds())
    assert CK.UTC_MIN == ts(2020, 1, 1) and CK.UTC_MAX == ts(2100, 1, 1)
    assert not CK.plausible(CK.UTC_MIN - 1) and CK.plausible(CK.UTC_MIN)
    assert CK.plausible(CK.UTC_MAX - 1) and not CK.plausible(CK.UTC_MAX)
    assert not CK.plausible(CK.NEVER) and CK.NEVER == CK.UTC_INVALID == 0xFFFFFFFF
    # periods at the window's last second stay far below the sentinel
    assert CK.period_bounds(CK.BP_MONTH, CK.UTC_MAX - 1)[1] == CK.UTC_MAX < CK.NEVER
    assert CK.add_months(CK.UTC_MAX - 1, 12) < CK.NEVER


# -- the import graph ------------------------------------------------------------------
def _node(mod):
    """firmware.tariff.engine -> firmware.tariff; top-level modules stand
    for themselves (firmware.meter)."""
    parts = mod.split(".")
    return ".".join(parts[:2])


def import_graph():
    """{package or top-level module: {what it imports}} over firmware/,
    imports inside functions included."""
    fw = os.path.join(ROOT, "firmware")
    graph = {}
    for path in glob.glob(os.path.join(fw, "**", "*.py"), recursive=True):
        rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
        pkg = rel[:-len(".__init__")] if rel.endswith(".__init__") else rel.rsplit(".", 1)[0]
        src = _node(rel)
        with open(path) as f:
            tree = ast.parse(f.read())
        for n in ast.walk(tree):
            targets = []
            if isinstance(n, ast.ImportFrom) and n.level:
                base = pkg.split(".")
                base = base[:len(base) - (n.level - 1)]
                mod = ".".join(base + ([n.module] if n.module else []))
                targets = [mod + "." + a.name for a in n.names] if not n.module else [mod]
            elif isinstance(n, ast.Import):
                targets = [a.name for a in n.names]
            for t in targets:
                if t.startswith("firmware.") and _node(t) != src:
                    graph.setdefault(src, set()).add(_node(t))
    return graph


def cycles(graph):
    out = []
    state = {}

    def visit(n, path):
        state[n] = 1
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                out.append(path[path.index(m):] + [m])
            elif m not in state:
                visit(m, path + [m])
        state[n] = 2
    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    return out


def test_no_package_import_cycle():
    g = import_graph()
    assert "firmware.platform" in g["firmware.tariff"]       # the walk sees the imports
    assert cycles(g) == []


def test_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
