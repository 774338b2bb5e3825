"""Power cuts at every low-level write (store records, ring-log records and
the journal) of every meter operation that writes more than one thing: after
the restart the operation happened whole, with every record it must leave,
exactly once -- or not at all (then it happens again, whole, at boot or the
next tick where it is due). Records are never ahead of the registers the
meter restarts with. (Issue #16 defect 5; meter.py "Atomic operations".)"""
import struct

import pytest

import conftest
from firmware.clusters.prepayment import SNAP_DEBT_PAYMENT, SNAP_MODE
from firmware.metering import snapshots as SN
from firmware.platform.store import PowerCut
from firmware.prepay import account as AC
from firmware.commands import config as CFG
from firmware.tariff.engine import EV_TARIFF_ACTIVATED
from firmware.platform.clock import days_from_civil
from tools import utrn as UT
from tools import zcl_host as Z
from mp.common import tariff_load, topup

DAY = 86400
T0 = 820886400                      # 2026-01-05 00:00:00 UTC, a Monday
JAN31_2330 = days_from_civil(2026, 1, 31) * DAY + 23 * 3600 + 1800
FLAT = {"tariff_id": 20, "provider_id": 1, "currency": 826, "price_scaler": -5, "tou": [20000],
        "standing_charge": {"amount": 86400, "period_s": 86400},
        "calendar": {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7},
                     "days": {"1": [["00:00", 1]]}}, "special_days": []}
E7 = dict(FLAT, tariff_id=7, tou=[30000, 10000],
          calendar={"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7},
                    "days": {"1": [["00:00", 2], ["07:00", 1]]}})
EV_ALERT = 0x0001


class Bench(conftest.Bench):
    def __init__(self, path, utc=T0):
        cfg = UT.meter_config()
        cfg["han_devices"] = {"0x5A5A": "ppmid"}
        conftest.Bench.__init__(self, str(path), cfg, utc)

    @property
    def m(self):
        return self.meter


def events(m, code):
    return [v for _, c, _, v in m.log_between(m.event_log, 0, 0xFFFFFFFF) if c == code]


def alerts(m, code):
    return events(m, EV_ALERT).count(code)


def seqs(m):
    return dict(m.state()["meter"]["Logs"], pp_snaps=m.prepayment.snaps.seq)


def snap_wh(rec):
    _, _, lo, hi, _ = struct.unpack_from("<IIIHQ", rec, 0)
    return lo | hi << 32


def every_cut(tmp_path, name, make, op, settle, check):
    """make(path) -> a bench just before the operation; op(bench) runs it;
    after the cut and a restart, settle(bench) lets what is due happen and
    check(bench, before) asserts the records and returns whether the
    operation is recorded as done. Cuts at every write of the operation and
    checks the uncut run too."""
    probe = make(tmp_path / "probe")
    before = seqs(probe.m)
    w0 = probe.backend.writes
    op(probe)
    n = probe.backend.writes - w0
    assert n >= 2, (name, n)
    settle(probe)
    assert check(probe, before) is True
    outcomes = set()
    for cut in range(1, n + 1):
        b = make(tmp_path / ("c%d" % cut))
        before = seqs(b.m)
        b.backend.cut_after(cut)
        with pytest.raises(PowerCut):
            op(b)
        b.backend.cut_after(0)
        b.restart()
        settle(b)
        outcomes.add(check(b, before))
        # a second boot changes nothing but the power log: the replay is idempotent
        again = dict(seqs(b.m), power=0)
        b.restart()
        assert dict(seqs(b.m), power=0) == again, (name, cut)
    print("cut points: %-26s %d" % (name, n))      # (pytest -s: the figures for the report)
    return outcomes


# -- top-up with a payment-debt share --------------------------------------------------------
def prepaid(path, utc=T0):
    b = Bench(path, utc)
    tariff_load(b.m, FLAT)
    CFG.apply(b.m, {"mode": "prepayment", "params": {"ec_limit": 300000, "ec_threshold": 100000,
                                                     "low_credit_threshold": 100000},
                    "debts": [{"debt": 3, "amount": 1000000}], "payment_debt_pct": 2500})
    assert topup(b.m, UT.make_utrn(1000, pounds=5))[0] == 0
    b.tick(5)
    return b


CODE = UT.make_utrn(1001, pounds=10)


def test_top_up_with_a_debt_share(tmp_path):
    def check(b, before):
        m, a = b.m, b.m.account
        s = seqs(m)
        assert a.ledger_ok()
        done = a.credited == 1500000
        assert done or a.credited == 500000
        k = 1 if done else 0
        assert (a.cache.n, s["topups"], s["debts"], s["pp_snaps"]) == \
            (1 + k, before["topups"] + k, before["debts"] + k, before["pp_snaps"] + k)
        assert alerts(m, AC.AL_CREDIT_ADDED_LOCALLY) == 1 + k
        if done:
            top = m.prepayment.topups.get(s["topups"])
            assert struct.unpack_from("<IiB", top, 0)[1] == 1000000
            assert bytes(top[9:29]) == CODE.encode()
            t, amount, typ, left = struct.unpack("<IIBI", m.prepayment.debts.get(s["debts"]))
            assert (amount, typ, left) == (250000, 2, 1000000 - 125000 - 250000)
            assert struct.unpack_from("<II", m.prepayment.snaps.get(s["pp_snaps"]), 0)[1] == \
                SNAP_DEBT_PAYMENT
        return done

    out = every_cut(tmp_path, "top-up with a debt share", prepaid,
                    lambda b: topup(b.m, CODE), lambda b: b.tick(1), check)
    assert out == {True, False}      # the commit point lies inside the operation


# -- tariff activation (future-dated, at a tick) ---------------------------------------------
def tariff_pending(path):
    b = prepaid(path)
    b.metrology.load_w = 3600
    tariff_load(b.m, E7, T0 + 900)
    b.tick(900 - 5)                       # the next tick meters 900..901: the activation
    return b


def test_tariff_activation(tmp_path):
    def check(b, before):
        m = b.m
        s = seqs(m)
        assert m.tariff.tariff_id == 7       # activated, now or by the catch-up at boot
        assert s["billing_change"] == before["billing_change"] + 1
        act = events(m, EV_TARIFF_ACTIVATED)
        assert len(act) == 2                 # the first load's, then E7's: once
        assert alerts(m, 0x8F66) == bin(act[1]).count("1")    # one per part (§9.2.2.6)
        rec = m.snapshots.logs[2].get(s["billing_change"])
        assert struct.unpack_from("<I", rec, 4)[0] & SN.CAUSE_TARIFF_INFO
        assert snap_wh(rec) <= m.import_wh   # never ahead of the registers
        return True

    every_cut(tmp_path, "tariff activation", tariff_pending, lambda b: b.tick(1),
              lambda b: b.tick(1), check)


def test_immediate_tariff_load(tmp_path):
    def check(b, before):
        m = b.m
        s = seqs(m)
        done = m.tariff.tariff_id == 7
        k = 1 if done else 0
        assert s["billing_change"] == before["billing_change"] + k
        assert len(events(m, EV_TARIFF_ACTIVATED)) == 1 + k   # the first load's, then E7's
        return done

    out = every_cut(tmp_path, "immediate tariff load", prepaid, lambda b: tariff_load(b.m, E7),
                    lambda b: b.tick(1), check)
    assert out == {True, False}


# -- end of a billing period ----------------------------------------------------------------
def before_month_end(path):
    b = prepaid(path, JAN31_2330 - 100)
    b.metrology.load_w = 3600
    b.tick(100 + 1800 - 1 - 5)             # 23:59:55; the next ticks save at midnight
    return b


def test_billing_period_end(tmp_path):
    def check(b, before):
        m = b.m
        s = seqs(m)
        assert s["billing_period"] == before["billing_period"] + 1     # once, never twice
        rec = m.snapshots.logs[1].get(s["billing_period"])
        assert struct.unpack_from("<I", rec, 4)[0] == SN.CAUSE_END_OF_BILLING
        assert snap_wh(rec) <= m.import_wh
        bill, _ = m.snapshots.bill_of((1 << 28) | s["billing_period"], rec)
        assert bill >= 0
        assert m.snapshots.bill_pid == SN.billing_period(JAN31_2330 + 1800)
        assert m.snapshots.bill_to_date() >= 0
        return True

    every_cut(tmp_path, "billing period end", before_month_end, lambda b: b.tick(6),
              lambda b: b.tick(1), check)


# -- a scheduled snapshot ----------------------------------------------------------------
def scheduled(path):
    b = Bench(path)
    b.metrology.load_w = 3600
    raw = struct.pack("<BIHBBI", 1, T0 + 1800, 1, 0, 0, SN.CAUSE_GENERAL)   # daily from 00:30
    b.cmd("Metering", "ScheduleSnapshot", {"IssuerEventID": 5, "CommandIndex": 0,
                                           "TotalNumberOfCommands": 1, "Schedules": raw})
    b.tick(1800 - 5 - 1)
    return b


def test_scheduled_snapshot(tmp_path):
    def check(b, before):
        m = b.m
        s = seqs(m)
        assert s["snapshots"] == before["snapshots"] + 1
        rec = m.snapshots.logs[0].get(s["snapshots"])
        assert snap_wh(rec) <= m.import_wh
        assert m.snapshots.schedules[0][5] == T0 + 1800 + DAY
        return True

    every_cut(tmp_path, "scheduled snapshot", scheduled, lambda b: b.tick(6), lambda b: b.tick(1),
              check)


# -- payment mode change ----------------------------------------------------------------
def credit_meter(path):
    b = Bench(path)
    tariff_load(b.m, FLAT)
    b.tick(5)
    return b


def test_payment_mode_change(tmp_path):
    def op(b):
        CFG.apply(b.m, {"mode": "prepayment", "params": {"low_credit_threshold": 100000},
                        "debts": [{"debt": 1, "amount": 5000, "rate": 86400,
                                   "period_s": 86400}]})

    def check(b, before):
        m = b.m
        s = seqs(m)
        done = m.account.mode == AC.PREPAY
        k = 1 if done else 0
        assert (s["pp_snaps"], s["billing_change"]) == \
            (before["pp_snaps"] + k, before["billing_change"] + k)
        # the mode and the rest of the document: all or nothing
        assert (m.account.p[AC.P_LOW_CREDIT] == 100000) == done
        assert (m.account.debt[0] + m.account.collected[0] == 5000) == done
        if done:
            assert struct.unpack_from("<II", m.prepayment.snaps.get(s["pp_snaps"]), 0)[1] == \
                SNAP_MODE
            rec = m.snapshots.logs[2].get(s["billing_change"])
            assert struct.unpack_from("<I", rec, 4)[0] == SN.CAUSE_MODE
        return done

    out = every_cut(tmp_path, "payment mode change", credit_meter, op, lambda b: b.tick(1), check)
    assert out == {True, False}


# -- DRLC: an event starts ----------------------------------------------------------------
def drlc_scheduled(path):
    b = Bench(path)
    b.m.drlc.values[0x0001] = 0            # no start randomisation: the start is at 600 s
    cls, cid = Z.cluster_by_name("DRLC")
    b.send(cid, Z.build_cluster_cmd(cls, "LoadControlEvent", {
        "IssuerEventID": 1001, "DeviceClass": 0x0080, "UtilityEnrollmentGroup": 0,
        "StartTime": T0 + 600, "DurationInMinutes": 30, "CriticalityLevel": 1,
        "CoolingTemperatureOffset": 0xFF, "HeatingTemperatureOffset": 0xFF,
        "CoolingTemperatureSetPoint": -0x8000, "HeatingTemperatureSetPoint": -0x8000,
        "AverageLoadAdjustmentPercentage": -0x80, "DutyCycle": 0xFF, "EventControl": 0},
        0x30, to_client=True))
    b.tick(600 - 5 - 1)
    b.sent[:] = []
    return b


def test_drlc_start_is_reported_once(tmp_path):
    def statuses(b):
        out = []
        for f in conftest.decoded(b.sent):
            if f.get("command") == "ReportEventStatus":
                out.append(f["fields"]["EventStatus"])
        return out

    def check(b, before):
        assert statuses(b).count(0x02) == 1           # started: once, after the table is saved
        assert b.m.aux.closed == [False] * len(b.m.aux.closed)
        return True

    every_cut(tmp_path, "DRLC event start", drlc_scheduled, lambda b: b.tick(6),
              lambda b: b.tick(1), check)



@pytest.mark.parametrize("cancel_all", [False, True])
def test_drlc_cancel_ahead_survives_a_power_cut(tmp_path, cancel_all):
    """An accepted cancel that takes effect later (ZSE D.2.2.3.2 Effective
    Time in the future, or a graceful Cancel All) is state: a cut before its
    time must not let the event run on to its end after restore (found by
    make fuzz: the table was saved only when a report went out)."""
    b = drlc_scheduled(str(tmp_path / "s"))
    b.tick(6 + 60)                                   # the event runs: aux switches open
    assert b.m.aux.closed == [False] * len(b.m.aux.closed)
    cls, cid = Z.cluster_by_name("DRLC")
    now = b.clock.now()
    if cancel_all:
        b.m.drlc.table.events[0].start_rand = 300    # graceful: waits the drawn randomisation
        b.send(cid, Z.build_cluster_cmd(cls, "CancelAllLoadControlEvents",
                                        {"CancelControl": 0x01}, 0x31, to_client=True))
    else:
        b.send(cid, Z.build_cluster_cmd(cls, "CancelLoadControlEvent", {
            "IssuerEventID": 1001, "DeviceClass": 0x0080, "UtilityEnrollmentGroup": 0,
            "CancelControl": 0, "EffectiveTime": now + 300}, 0x31, to_client=True))
    b.tick(10)
    b.restart()                                      # the mains goes off and comes back
    assert b.m.drlc.table.events[0].cancel_at == now + 300
    b.tick(300)
    assert b.m.aux.closed == [True] * len(b.m.aux.closed)     # restored at the cancel, not at 30 min
    assert not b.m.drlc.table.events or b.m.drlc.table.events[0].cancel_at <= b.clock.now()
