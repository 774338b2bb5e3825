"""Issue #15.3: charges that run per second while the mains is off (the
standing charge, time debts) across an outage that spans the activation of a
future-dated tariff or prepayment parameter. The seconds before the
activation instant are charged under the old value, those from it under the
new (GBCS v0.8.1 §9.2.2.7, Table 9.2.2.6), whether the instant falls before the cut,
inside the outage or after the restore. Expected money is computed here from
the rates and durations alone."""
import os

import pytest

from firmware.prepay import account as AC
from firmware.commands import config as CFG
from firmware.tariff.engine import ALERT_FUTURE_OK
from mp.common import tariff_load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAY = 86400
S = 820932600                  # 2026-01-05 12:50:00 UTC: the meter starts, tariff A in force
SAVE = S + 600                 # 13:00:00, the register save before the cut
CUT = S + 1200                 # 13:10:00 mains off
RESTORE = S + 2400             # 13:30:00 mains back
END = RESTORE + 300            # 13:35:00
OLD_SC = 48000                 # 10^-5 GBP per day: 48p and 55.12p
NEW_SC = 55120


def tariff(tariff_id, standing, per=DAY):
    return {"tariff_id": tariff_id, "provider_id": 1, "currency": 826, "price_scaler": -5,
            "tou": [20000], "standing_charge": {"amount": standing, "period_s": per},
            "calendar": {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7},
                         "days": {"1": [["00:00", 1]]}}, "special_days": []}


def outage(b, check_pending=None):
    """Run the meter from its start to the cut, keep the mains off until the
    restore (the RTC runs on), restart it, and check that anything pending
    activates at the first tick after boot."""
    b.tick(CUT - b.clock.now())
    b.alerts_before_cut = list(b.meter.alerts)      # the alert list is RAM only
    b.clock.advance(RESTORE - CUT)
    b.restart()
    pending = check_pending(b) if check_pending else 0
    b.tick(1)
    return pending


def tariff_pending(b):
    return len(b.meter.tariff.pending())


@pytest.mark.parametrize("at", [
    S + 1643,                  # 13:17:23, inside the outage (the case)
    CUT + 1,                   # the first second of the outage
    RESTORE - 1,               # the last second of the outage
    RESTORE,                   # the restore instant itself
    SAVE - 1,                  # before the last save: active when it was written
    S + 900,                   # 13:05, after the last save, before the cut
    RESTORE + 120,             # after the restore
], ids=["inside", "outage-start", "outage-end", "at-restore", "before-save", "before-cut",
        "after-restore"])
def test_standing_charge_splits_at_the_activation_instant(make_bench, at):
    b = make_bench(utc=S)
    m = b.meter
    tariff_load(m, tariff(1, OLD_SC))
    tariff_load(m, tariff(2, NEW_SC), at)
    parts = len(m.tariff.pending())
    assert parts >= 2
    waiting = outage(b, tariff_pending)
    m = b.meter                             # the meter after the restart
    if CUT < at <= RESTORE:
        # due while the mains was off: still pending at boot, activated (and
        # alerted once per part) by the first tick, as before the fix
        assert waiting == parts
        assert m.tariff.pending() == [] and m.tariff.tariff_id == 2
    b.tick(END - b.clock.now())
    assert m.tariff.pending() == [] and m.tariff.tariff_id == 2
    assert (b.alerts_before_cut + m.alerts).count(ALERT_FUTURE_OK) == parts
    # [S, at) at the old standing charge, [at, END) at the new: same period,
    # so the residue carries exactly and the total is exact
    exact = OLD_SC * (at - S) + NEW_SC * (END - at)
    acc = m.account
    assert acc.standing * DAY + m.tariff._sc == exact
    assert acc.standing == exact // DAY
    assert acc.mb == -(acc.standing + acc.energy) and acc.ledger_ok()


def test_standing_charge_of_another_period_and_price_scaler(make_bench):
    """The new part charges per hour in 10^-6 units, from 13:17:23 inside the
    outage: each side is charged in its own period and scaler."""
    at = S + 1643
    b = make_bench(utc=S)
    m = b.meter
    tariff_load(m, tariff(1, OLD_SC))
    new = tariff(2, 23000, per=3600)
    new["price_scaler"] = -6
    new["tou"] = [200000]
    tariff_load(m, new, at)
    outage(b)
    m = b.meter
    b.tick(END - b.clock.now())
    # old: floor(48000 x (at - S) / 86400) units of 10^-5; then the residue
    # (x 10^-5 per day-second) carries into the hourly counter as it does at a
    # live activation
    old_units, residue = divmod(OLD_SC * (at - S), DAY)
    new_units, _ = divmod(residue + 23000 * (END - at), 3600)
    acc = m.account
    assert acc.standing == old_units + new_units
    # account money in 10^-5: the 10^-6 units convert with the remainder carried
    assert -acc.mb * 10 + acc._conv == old_units * 10 + new_units
    assert acc.ledger_ok()


def test_time_debt_over_an_outage_with_a_future_payment_mode(make_bench):
    """A credit meter with a time debt (7 units a second) is switched to
    prepayment at 13:17:23 while the mains is off: the debt is collected from
    that instant, not from the first tick after the restore."""
    at = S + 1643
    b = make_bench(utc=S)
    m = b.meter
    CFG.apply(m, {"adjust": 10000000,
                  "debts": [{"debt": 1, "amount": 10000000, "rate": 7 * DAY, "period_s": DAY}]})
    CFG.apply(m, {"mode": "prepayment", "at": at})
    assert m.account.mode == AC.CREDIT
    outage(b)
    m = b.meter
    assert m.account.mode == AC.PREPAY and AC.AL_FUTURE_OK in m.alerts
    b.tick(END - b.clock.now())
    a = m.account
    assert a.collected[0] == 7 * (END - at)
    assert a.debt[0] == 10000000 - 7 * (END - at) and a.ledger_ok()


def test_time_debt_over_an_outage_with_a_future_debt_cap(make_bench):
    """Prepayment, time debt 7 units a second, no cap; a daily cap of 3000
    takes effect at 13:17:23 inside the outage: uncapped before, capped from
    there (the cap period is the day, so after restore nothing more)."""
    at = S + 1643
    b = make_bench(utc=S)
    m = b.meter
    CFG.apply(m, {"mode": "prepayment", "adjust": 10000000,
                  "debts": [{"debt": 1, "amount": 10000000, "rate": 7 * DAY, "period_s": DAY}]})
    CFG.apply(m, {"params": {"debt_cap": 3000, "debt_cap_period": DAY}, "at": at})
    outage(b)
    m = b.meter
    b.tick(END - b.clock.now())
    a = m.account
    assert a.p[AC.P_CAP] == 3000
    assert a.collected[0] == 7 * (at - S) + min(3000, 7 * (END - at))
    assert a.ledger_ok()


def test_scenario_figures_follow_from_the_rates_and_durations():
    """scenarios/outage-activation.json (run on both runtimes, a real process
    restart, by test_scenarios.py) states its standing cost and debt figures
    as numbers: they are the ones the two tariff files' standing charges and
    the scenario's own times give."""
    import json
    with open(os.path.join(ROOT, "scenarios", "outage-activation.json")) as f:
        sc = json.load(f)
    steps = sc["steps"]
    tariffs = [st["tariff"] for st in steps if "tariff" in st]
    rates = []
    for t in tariffs:
        with open(os.path.join(ROOT, t["file"])) as f:
            rates.append(json.load(f)["standing_charge"])
    assert [r["period_s"] for r in rates] == [DAY, DAY]
    old, new = rates[0]["amount"], rates[1]["amount"]

    def clock(hms):
        return sum(int(x) * k for x, k in zip(hms.split(":"), (3600, 60, 1)))
    t0 = clock(sc["start"][11:19])
    at = clock(tariffs[1]["activate"])
    debt = [st["prepay"] for st in steps if "prepay" in st]
    assert debt[1]["at"] == tariffs[1]["activate"]          # mode and tariff at one instant
    per_s = debt[0]["debts"][0]["rate"] // debt[0]["debts"][0]["period_s"]
    checks = 0
    t = None
    for st in steps:
        if "at" in st and isinstance(st["at"], str):
            t = clock(st["at"])
        elif "after" in st:
            t += st["after"]
        want = st.get("expect", {}).get("state", {})
        if "meter.Tariff.StandingCost" in want:
            assert want["meter.Tariff.StandingCost"] == (old * (at - t0) + new * (t - at)) // DAY
            assert want["meter.Prepay.Collected"][0] == per_s * (t - at)
            checks += 1
    assert checks == 2
