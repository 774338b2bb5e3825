"""Tariff engine: registers, blocks, calendar, activation, money.

The expected values are computed here independently of the engine: with
Python's datetime for dates and a direct reading of the tariff documents."""
import datetime
import json
import os

import pytest
from hypothesis import given, settings, strategies as st

from firmware.tariff import calendar as C
from firmware.tariff import matrix as M
from firmware.tariff.engine import TariffEngine, NEVER, IMMEDIATE, ALERT_FUTURE_OK
from firmware.tariff.account import RunningCost
from firmware.tariff.loader import parts_from_doc
from firmware.platform.store import Store, FileBackend
from mp.common import EngineApp as App     # the engine's meter services (also on MicroPython)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCH = datetime.datetime(2000, 1, 1)
TARIFFS = ("flat", "economy7", "three-rate", "two-block", "tou-blocks")


def doc(name):
    with open(os.path.join(ROOT, "tariffs", name + ".json")) as f:
        return json.load(f)


def zt(y, mo, d, h=0, mi=0, s=0):
    return int((datetime.datetime(y, mo, d, h, mi, s) - EPOCH).total_seconds())


def engine(tmp_path, name=None, at=IMMEDIATE, now=0):
    app = App()
    os.makedirs(str(tmp_path), exist_ok=True)
    e = TariffEngine(app, Store(FileBackend(str(tmp_path / "s"))), RunningCost())
    app.store = e.store
    if name:
        e.stage(parts_from_doc(doc(name)), at, now)
    return e, app


# -- an independent model of the tariff documents --------------------------------------
def ref_selector(d, t):
    """Selector in force at ZigBee second t, from the document with datetime."""
    cal = d["calendar"]
    when = EPOCH + datetime.timedelta(seconds=t)
    day = when.date()

    def day_id(date):
        for e in d.get("special_days", []):
            y, m, dd = e[0].split("-")
            if (y == "*" or int(y) == date.year) and (m == "*" or int(m) == date.month) and \
                    (dd == "*" or int(dd) == date.day):
                return e[1]
        starts = []
        for start, week in cal["seasons"]:
            y, m, dd = start.split("-")
            for yr in (date.year, date.year - 1):
                if y != "*" and int(y) != yr:
                    continue
                s = datetime.date(yr, int(m), int(dd))
                if s <= date:
                    starts.append((s, week))
        week = max(starts)[1] if starts else cal["seasons"][0][1]
        return cal["weeks"][str(week)][date.weekday()]

    def points(date):
        out = []
        for hm, sel in cal["days"][str(day_id(date))]:
            f = [int(x) for x in hm.split(":")] + [0]
            out.append((f[0] * 3600 + f[1] * 60 + f[2], sel))
        return sorted(out)

    sod = when.hour * 3600 + when.minute * 60 + when.second
    cur = None
    for s, sel in points(day):
        if s <= sod:
            cur = sel
    if cur is None:
        cur = points(day - datetime.timedelta(days=1))[-1][1]
    return cur


def ref_run(d, t0, steps, step_s, wh_at):
    """Registers, counters and exact cost (price units x 1000) for a run."""
    regs = {}
    counters = [0] * 8
    cost = 0
    th = d.get("thresholds", [])
    bp = d.get("block_period", "month")
    period = None
    for i in range(steps):
        t = t0 + i * step_s                    # the step meters [t, t + step_s)
        when = EPOCH + datetime.timedelta(seconds=t)
        pid = {"day": when.date(), "week": when.date() - datetime.timedelta(days=when.weekday()),
               "month": (when.year, when.month), "none": 0}[bp]
        if pid != period:
            counters = [0] * 8
            period = pid
        wh = wh_at(i)
        sel = ref_selector(d, t + step_s - 1)
        if sel <= 48:
            key = "TOU%d" % sel
            regs[key] = regs.get(key, 0) + wh
            cost += wh * (d.get("tou", []) + [0] * 48)[sel - 1]
        else:
            band = sel - 100
            lim = th[band - 1] if band <= len(th) else []
            prices = d["blocks"][band - 1]
            for _ in range(wh):                # one Wh at a time: the slow, obvious way
                b = sum(1 for x in lim if counters[band - 1] >= x)
                key = "B%dT%d" % (b + 1, band)
                regs[key] = regs.get(key, 0) + 1
                cost += prices[b]
                counters[band - 1] += 1
    return regs, counters, cost


def engine_regs(e):
    from firmware.vboard import register_name
    return {register_name(i): v for i, v in enumerate(e.reg) if v}


# -- tests ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", TARIFFS)
def test_a_simulated_year_matches_an_independent_computation(tmp_path, name):
    """Ten-minute steps through 2028 (a leap year) with a load that varies
    step to step; every example tariff switches on ten-minute boundaries."""
    d = doc(name)
    t0 = zt(2028, 1, 1)
    e, _ = engine(tmp_path, name, IMMEDIATE, t0)
    step = 600
    steps = 366 * 144

    def wh_at(i):
        return (i * 7919) % 23 * 10 + (40 if (i // 6) % 24 in (7, 8, 18, 19) else 0)

    for i in range(steps):
        t = t0 + i * step
        e.catch_up(step - 1, t + step - 1)      # standing charge for the other seconds
        e.tick(t + step, wh_at(i))
    regs, counters, cost = ref_run(d, t0, steps, step, wh_at)
    assert engine_regs(e) == regs
    assert e.counters == counters
    assert e.account.energy * 1000 + e._cost == cost
    sc = d["standing_charge"]
    assert e.account.standing * sc["period_s"] + e._sc == sc["amount"] * steps * step
    assert e.account.standing == sc["amount"] * 366


def test_switch_point_boundary_and_block_split(tmp_path):
    e, _ = engine(tmp_path, "economy7", IMMEDIATE, zt(2026, 3, 2))
    t = zt(2026, 3, 2, 7, 29, 59)
    e.tick(t + 1, 5)                            # the second 07:29:59: night
    e.tick(t + 2, 3)                            # the second 07:30:00: day
    assert engine_regs(e) == {"TOU2": 5, "TOU1": 3}
    d = dict(doc("two-block"), thresholds=[[1005]])
    e2, _ = engine(tmp_path / "b")
    e2.stage(parts_from_doc(d), IMMEDIATE, zt(2026, 3, 2))
    t = zt(2026, 3, 2, 12)
    e2.tick(t, 1000)
    e2.tick(t + 1, 10)                          # crosses 1005: 5 Wh in block 1, 5 in block 2
    assert engine_regs(e2) == {"B1T1": 1005, "B2T1": 5}
    assert e2.account.energy * 1000 + e2._cost == 1005 * 18000 + 5 * 31000


def test_block_counters_reset_at_period_end_and_not_again_after_a_backward_step(tmp_path):
    e, _ = engine(tmp_path, "tou-blocks", IMMEDIATE, zt(2026, 3, 2))
    e.tick(zt(2026, 3, 2, 12), 6000)
    assert e.counters[0] == 6000 and e.current_block(1) == 2
    e.tick(zt(2026, 3, 3, 0, 0, 1), 1)          # the day's block period has ended
    assert e.counters == [0, 1, 0, 0, 0, 0, 0, 0]
    e.clock_changed()
    e.tick(zt(2026, 3, 2, 23, 0, 1), 1)         # clock set back into yesterday
    assert e.counters == [0, 2, 0, 0, 0, 0, 0, 0]


def test_future_activation_is_exact_and_raises_one_alert_per_part(tmp_path):
    t0 = zt(2026, 6, 1)
    e, app = engine(tmp_path, "flat", IMMEDIATE, t0)
    at = zt(2026, 6, 1, 12)
    assert e.stage(parts_from_doc(doc("economy7")), at, t0) == []
    assert [k for k, _ in e.pending()] == ["cal", "spd", "prc", "stc"]
    e.tick(at, 1)                               # the second 11:59:59: still flat
    assert e.prices[0] == 24500 and app.alerts == []
    e.tick(at + 1, 1)                           # the second 12:00:00: Economy 7
    assert e.prices[0] == 29500 and e.pending() == []
    assert app.alerts == [ALERT_FUTURE_OK] * 4
    # immediate and past activations: no alert (GBCS §9.2.2.6)
    e.stage(parts_from_doc(doc("flat")), at - 5, at + 10)
    assert app.alerts == [ALERT_FUTURE_OK] * 4 and e.prices[0] == 24500


def test_never_cancels_a_pending_part(tmp_path):
    e, app = engine(tmp_path, "flat", IMMEDIATE, 0)
    e.stage(parts_from_doc(doc("economy7")), 5000, 0)
    e.stage(parts_from_doc({"tou": [1], "calendar": doc("flat")["calendar"]}), NEVER, 0)
    assert [k for k, _ in e.pending()] == ["spd", "stc"]


def test_activation_survives_restart_and_catches_up(tmp_path):
    e, app = engine(tmp_path, "flat", IMMEDIATE, 0)
    e.stage(parts_from_doc(doc("economy7")), 5000, 0)
    e2, app2 = engine(tmp_path)                 # power cut, restart: same store
    e2.load()
    assert [k for k, _ in e2.pending()] == ["cal", "spd", "prc", "stc"]
    e2.tick(9000, 0)
    assert e2.prices[0] == 29500 and app2.alerts == [ALERT_FUTURE_OK] * 4
    e3, _ = engine(tmp_path)
    e3.load()
    assert e3.pending() == [] and e3.prices[0] == 29500 and e3.parts["prc"].since == 5000


def test_a_power_cut_during_a_tariff_write_leaves_old_or_new(tmp_path):
    from firmware.platform.store import PowerCut
    for n in range(1, 400):
        e, _ = engine(tmp_path / str(n), "flat", IMMEDIATE, 0)
        e.store.backend.cut_after(n)
        try:
            e.stage(parts_from_doc(doc("three-rate")), IMMEDIATE, 10)
            finished = True
        except PowerCut:
            finished = False
        e2, _ = engine(tmp_path / str(n))
        e2.load()
        assert e2.prices[:4] in ([24500, 0, 0, 0], [12000, 24000, 38000, 21000])
        assert (e2.calendar.name == b"3-rate") == (e2.prices[0] == 12000)
        if finished:
            break
    assert finished


def test_price_matrix_write_must_hold_exactly_the_80_indices():
    full = [(i, 1) for i in range(1, 49)] + \
        [(0xA0 + 0x10 * b + t, 2) for b in range(4) for t in range(1, 9)]
    assert len(M.prices_from_pairs(full)) == 84
    with pytest.raises(M.MatrixError):
        M.prices_from_pairs(full[:-1])                      # one missing
    with pytest.raises(M.MatrixError):
        M.prices_from_pairs(full + [(0x31, 5)])             # not in Table 7.3.7.2
    with pytest.raises(M.MatrixError):
        M.prices_from_pairs(full[:-1] + [(0xE1, 5)])        # block 5
    with pytest.raises(M.MatrixError):
        M.prices_from_pairs(full[:-1] + [full[0]])          # duplicate
    sec = M.prices_from_pairs(full, [(1, 7), (2, 7), (3, 7), (4, 7)])
    assert sec[80:] == [7, 7, 7, 7]
    with pytest.raises(M.MatrixError):
        M.prices_from_pairs(full, [(1, 7), (5, 7)])


@pytest.mark.parametrize("bad", [
    {"calendar": {"seasons": [["*-01-01", 2]], "weeks": {"1": [1] * 7}, "days": {"1": [["00:00", 1]]}}},
    {"calendar": {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 6}, "days": {"1": [["00:00", 1]]}}},
    {"calendar": {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7}, "days": {"1": [["00:00", 49]]}}},
    {"calendar": {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7}, "days": {"1": [["24:00", 1]]}}},
    {"calendar": {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7}, "days": {"1": []}}},
    {"calendar": {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7},
                  "days": {str(i): [["00:00", 1]] for i in range(1, 18)}}},
    {"thresholds": [[5, 5]]}, {"thresholds": [[1, 2, 3, 4]]}, {"block_period": "year"},
    {"tou": [1] * 49}, {"special_days": [["*-01-01", 1]] * 51}, {},
])
def test_invalid_documents_are_rejected_whole(bad):
    with pytest.raises(ValueError):
        parts_from_doc(bad)


def test_capacities_at_the_limits(tmp_path):
    days = {str(i): [["%02d:%02d" % divmod(j * 30, 60), 1 + (j + i) % 48] for j in range(48)]
            for i in range(1, 17)}
    d = {"calendar": {"seasons": [["*-01-01", 1], ["*-04-01", 2], ["*-07-01", 3], ["*-10-01", 4]],
                      "weeks": {str(w): [((w + k) % 16) + 1 for k in range(7)] for w in range(1, 5)},
                      "days": days},
         "special_days": [["*-%02d-%02d" % (1 + k % 12, 1 + k % 28), 1 + k % 16] for k in range(50)],
         "tou": list(range(1000, 1048)), "blocks": [[1, 2, 3, 4]] * 8,
         "thresholds": [[10, 20, 30]] * 8}
    e, _ = engine(tmp_path)
    e.stage(parts_from_doc(d), IMMEDIATE, 0)
    e.tick(zt(2026, 5, 5, 10, 15), 1)
    assert e.sel == ref_selector(d, zt(2026, 5, 5, 10, 15) - 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 40)), min_size=1, max_size=60),
       st.sampled_from(TARIFFS))
def test_invariants_registers_sum_to_total_and_cost_is_exact(tmp_path_factory, steps, name):
    """Whatever the increments and gaps: the registers sum to the energy fed
    in and the money is exactly sum(Wh x price in force) (no rounding)."""
    d = doc(name)
    t = zt(2026, 12, 24, 20)
    e, _ = engine(tmp_path_factory.mktemp("p"), name, IMMEDIATE, t)
    total = 0
    exact = 0
    for gap, wh in steps:
        t += gap
        sel = ref_selector(d, t - 1)
        if sel <= 48:
            exact += wh * d["tou"][sel - 1]
        else:
            band = sel - 100
            lim = d["thresholds"][band - 1] if band <= len(d["thresholds"]) else []
            c = e.counters[band - 1] if not _resets(e, d, t) else 0
            for _ in range(wh):
                b = sum(1 for x in lim if c >= x)
                exact += d["blocks"][band - 1][b]
                c += 1
        e.tick(t, wh)
        total += wh
    assert sum(e.reg) == total
    assert e.account.energy * 1000 + e._cost == exact
    assert 0 <= e._cost < 1000


def _resets(e, d, t):
    """Whether the engine starts a new block period at second t - 1."""
    from firmware.platform.clock import period_id
    from firmware.tariff.loader import BP_NAMES
    return period_id(BP_NAMES.index(d.get("block_period", "month")), t - 1) > e.period_id


def test_the_default_tariff_puts_everything_in_register_one(tmp_path):
    e, _ = engine(tmp_path)
    e.tick(100, 7)
    assert engine_regs(e) == {"TOU1": 7} and e.account.total() == 0
