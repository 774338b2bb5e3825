"""Issue #16 defect 4: the clock never reaches the 0xFFFFFFFF sentinel.

Hub and supplier times outside the plausible window (platform/clock.py) are
refused, the RTC at power-on is checked against the last saved time, and
every comparison with NEVER / UTC_INVALID treats the sentinel as no time
(so a clock somehow past it does not fire every pending activation)."""
import struct

import pytest

from conftest import Bench, T0
from firmware.clusters import time_client as TC
from firmware.drlc import events as E
from firmware.metering import snapshots as SN
from firmware.platform import clock as CK
from firmware.prepay import account as AC
from firmware.tariff import engine as TE
from firmware.meter import EV_CLOCK_SET, EV_ALERT
from runtimes import run_script
from test_time import answer
from test_drlc import lce, statuses
from mp.common import tariff_load

PAST_SENTINEL = 0x100000005
FLAT = {"tariff_id": 20, "provider_id": 1, "currency": 826, "price_scaler": -5, "tou": [20000],
        "standing_charge": {"amount": 86400, "period_s": 86400},     # one unit a second
        "calendar": {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7},
                     "days": {"1": [["00:00", 1]]}}, "special_days": []}


def time_requests(bench):
    return [f for f in bench.sent if f.cluster == 0x000A]


def events(meter, code):
    return [struct.unpack("<HII", r)[2] for _, r in meter.event_log.newest(100)
            if struct.unpack_from("<H", r)[0] == code]


def test_window_constants_are_the_documented_days():
    from firmware.platform.clock import days_from_civil
    assert CK.UTC_MIN == days_from_civil(2020, 1, 1) * 86400
    assert CK.UTC_MAX == days_from_civil(2100, 1, 1) * 86400
    assert CK.plausible(T0) and CK.plausible(CK.UTC_MIN) and CK.plausible(CK.UTC_MAX - 1)
    for t in (0, CK.UTC_MIN - 1, CK.UTC_MAX, 0xFFFFFFFE, 0xFFFFFFFF, PAST_SENTINEL, -1):
        assert not CK.plausible(t)


@pytest.mark.parametrize("hub", [0xFFFFFFFE, 0, 1000, CK.UTC_MIN - 1, CK.UTC_MAX])
def test_an_implausible_first_hub_time_is_refused_and_retried(bench, hub):
    bench.tick()
    answer(bench, hub)
    assert bench.clock.now() == T0 + 1
    assert bench.meter.time.status == TC.INVALID
    assert events(bench.meter, EV_CLOCK_SET) == []
    bench.tick(TC.RETRY_PERIOD - 1)
    assert time_requests(bench) == []
    bench.tick()
    assert time_requests(bench)                      # retried after 30 min (GBCS §9.1.3)
    answer(bench, T0 + 90000)                        # the first plausible time is taken
    assert bench.clock.now() == T0 + 90000
    assert bench.meter.time.status == TC.UNRELIABLE


def test_while_invalid_implausible_answers_are_retried_every_30_min(bench):
    times = []
    for s in range(1, 8 * TC.RETRY_PERIOD + 2):
        bench.tick()
        if time_requests(bench):
            times.append(s)
            answer(bench, 0xFFFFFFFE)
        bench.take()
    R = TC.RETRY_PERIOD
    assert times == [1 + k * R for k in range(9)]    # no fall-back to the daily cycle
    assert bench.clock.now() == T0 + 8 * R + 1 and bench.meter.time.status == TC.INVALID


def test_an_implausible_hub_time_when_reliable_is_no_step_and_no_alert(bench):
    bench.tick()
    answer(bench, T0 + 1)
    bench.meter.time.status = TC.RELIABLE
    bench.tick(TC.SYNC_PERIOD)
    now = bench.clock.now()
    answer(bench, 0xFFFFFFFE)
    assert bench.clock.now() == now
    assert bench.meter.time.status == TC.RELIABLE     # a failed attempt, not a > 10 s step
    assert TC.ALERT_CLOCK_DRIFT not in bench.meter.alerts
    assert bench.meter.time.failures == 1


@pytest.mark.parametrize("before", [TC.RELIABLE, TC.UNRELIABLE, TC.INVALID])
def test_supplier_set_clock_refuses_an_implausible_time(bench, before):
    tc = bench.meter.time
    tc.status = before
    assert not tc.supplier_set_clock(0xFFFFFFFE, 0, 0xFFFFFFFF)
    assert bench.clock.now() == T0
    # GBCS §9.1.4.2 step 2: no valid CH time makes Reliable Unreliable, else no change
    assert tc.status == (TC.UNRELIABLE if before == TC.RELIABLE else before)
    assert tc.supplier_set_clock(T0 + 50, T0 + 40, T0 + 60)
    assert tc.status == TC.RELIABLE and bench.clock.now() == T0 + 50


def test_meter_set_clock_refuses_the_sentinel(bench):
    n = bench.meter.event_log.seq
    assert bench.meter.set_clock(0xFFFFFFFF) is False
    assert bench.meter.set_clock(CK.UTC_MIN - 1) is False
    assert bench.clock.now() == T0 and bench.meter.event_log.seq == n
    assert bench.meter.set_clock(T0 + 7) is True
    assert bench.clock.now() == T0 + 7


def test_never_pending_parameters_do_not_activate_past_the_sentinel(bench):
    acc = bench.meter.account
    acc.stage(AC.P_EC_LIMIT, 123, T0 + 100, T0)
    before = list(acc.p)
    acc.tick(T0 + 100)
    assert acc.p[AC.P_EC_LIMIT] == 123 and bench.meter.alerts == [AC.AL_FUTURE_OK]
    acc.tick(PAST_SENTINEL)                    # every other parameter is pending NEVER
    acc.tick(PAST_SENTINEL + 1)
    assert acc.p == before[:AC.P_EC_LIMIT] + [123] + before[AC.P_EC_LIMIT + 1:]
    assert bench.meter.alerts == [AC.AL_FUTURE_OK]
    assert acc.mode == AC.CREDIT


def test_a_tariff_part_at_never_does_not_activate_past_the_sentinel(bench):
    tf = bench.meter.tariff
    p = tf.parts["stc"]
    p.passive, p.at = p.active, TE.NEVER       # as a record from before the guard could hold
    tf._activate_due(PAST_SENTINEL)
    assert p.passive is not None and bench.meter.alerts == []


def test_a_schedule_due_never_takes_no_snapshot_past_the_sentinel(bench):
    sn = bench.meter.snapshots
    sn.schedules.append([1, T0, 0, 0, 1, SN.NEVER])
    sn._due()
    sn.tick(PAST_SENTINEL)
    assert sn.logs[0].seq == 0 and len(sn.schedules) == 1


def test_a_drlc_event_without_cancel_is_not_cancelled_past_the_sentinel():
    t = E.EventTable(E.Rng(1))
    t.add(lce(7, start=T0 + 100, dur=30), T0, (0, 30, 0, 0x80), 0, 1)
    statuses(t)
    t.tick(PAST_SENTINEL)
    assert E.ST_CANCELLED not in [st for _, st in statuses(t)]


# -- the RTC at power-on ------------------------------------------------------------------
def powered_off(tmp_path, status=TC.UNRELIABLE):
    """A meter with a flat tariff (standing charge one unit a second), its
    registers saved at T0 + 10; the caller sets the RTC and restarts."""
    b = Bench(str(tmp_path / "s"))
    tariff_load(b.meter, FLAT)
    b.meter.time._set_status(status)
    b.tick(10)
    b.meter.save_registers()
    return b, b.meter.account.standing, T0 + 10


def test_a_normal_outage_is_caught_up(tmp_path):
    b, sc, last_on = powered_off(tmp_path)
    b.clock.utc = last_on + 3600
    b.restart()
    assert b.clock.now() == last_on + 3600
    assert b.meter.account.standing == sc + 3600
    assert b.meter.time.status == TC.UNRELIABLE
    assert events(b.meter, EV_CLOCK_SET) == []


def test_an_outage_of_a_year_and_a_day_is_still_caught_up(tmp_path):
    b, sc, last_on = powered_off(tmp_path)
    b.clock.utc = last_on + CK.MAX_OUTAGE
    b.restart()
    assert b.meter.account.standing == sc + CK.MAX_OUTAGE
    assert b.meter.time.status == TC.UNRELIABLE


@pytest.mark.parametrize("rtc", [PAST_SENTINEL, 0xFFFFFFFF, 0, T0 + 10 + CK.MAX_OUTAGE + 1,
                                 T0 + 50 * 365 * 86400])
def test_an_rtc_that_lost_its_time_resumes_from_the_last_save(tmp_path, rtc):
    b, sc, last_on = powered_off(tmp_path)
    b.clock.utc = rtc
    b.restart()                                        # CPython used to die here (struct.error)
    assert b.clock.now() == last_on
    assert b.meter.account.standing == sc              # nothing caught up
    assert b.meter.time.status == TC.INVALID           # GBCS §9.1.3: power-on of the clock
    assert events(b.meter, EV_CLOCK_SET) == [rtc & 0xFFFFFFFF]
    b.tick(60)
    b.meter.save_registers()                           # 32-bit records work again
    assert b.meter.account.standing == sc + 60
    answer(b, T0 + 100000)                             # Invalid takes the first valid time
    assert b.clock.now() == T0 + 100000 and b.meter.time.status == TC.UNRELIABLE


def test_an_rtc_behind_the_last_save_catches_nothing_up(tmp_path):
    b, sc, last_on = powered_off(tmp_path)
    b.clock.utc = last_on - 3600
    b.restart()
    assert b.clock.now() == last_on - 3600
    assert b.meter.account.standing == sc
    assert b.meter.time.status == TC.UNRELIABLE


def test_the_rtc_check_table():
    last = T0
    assert CK.rtc_check(T0 + 5, last) == (5, -1)
    assert CK.rtc_check(T0 - 5, last) == (0, -1)
    assert CK.rtc_check(T0, 0) == (0, -1)                           # no record: new meter
    assert CK.rtc_check(0, 0) == (0, CK.UTC_MIN)
    assert CK.rtc_check(PAST_SENTINEL, last) == (0, last)
    assert CK.rtc_check(T0 + CK.MAX_OUTAGE + 1, last) == (0, last)
    assert CK.rtc_check(T0 + CK.MAX_OUTAGE + 1, 1000) == (0, -1)    # nothing better to go to
    assert CK.rtc_check(1030, 1000) == (0, CK.UTC_MIN)              # below the window


def test_clock_guard_same_on_micropython(tmp_path):
    """The hub, supplier and power-on checks on both runtimes (mp/clock_guard.py,
    one process per power cycle)."""
    outs = {}
    for rt in ("cpython", "micropython"):
        (tmp_path / rt).mkdir()
        outs[rt] = "".join(run_script(rt, "clock_guard.py", str(tmp_path / rt), stage,
                                      preload="firmware.meter")
                           for stage in "abc")
    assert outs["micropython"] == outs["cpython"]
    got = dict(line.split(" ", 1) for line in outs["cpython"].strip().splitlines())
    assert got["hub_fffffffe"] == "%d invalid" % (T0 + 1)
    assert got["supplier_fffffffe"] == "False %d unreliable" % (T0 + 1)
    assert got["set_clock_ffffffff"] == "False"
    assert got["past_sentinel_tick"] == "alerts 0 mode 1"
    last_on, sc = int(got["last_on"]), int(got["standing_a"])
    assert last_on == T0 + 10
    assert got["rtc_past_sentinel"] == "%d invalid standing %d logged %d" % (
        last_on, sc, PAST_SENTINEL & 0xFFFFFFFF)           # resumed, nothing caught up
    sc_b, t_b = map(int, got["standing_b"].split())
    assert t_b == T0 + 100000
    assert got["rtc_normal"] == "standing %d unreliable" % (sc_b + 3600)
