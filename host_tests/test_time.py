"""Time client and GBCS Time Status (GBCS §9.1.2-9.1.3)."""
from conftest import decoded, T0
from firmware.clusters import time_client as TC
from firmware.zcl import types as T
from tools import zcl_host as Z
from tools.hubsim import TimeServer


def answer(bench, utc):
    """Answer the meter's outstanding Time read as the hub would."""
    reqs = [f for f in bench.take() if f.cluster == 0x000A]
    assert reqs, "no time request"
    seq = reqs[-1].payload[1]
    pl = Z.build_global(TimeServer, "ReadAttributesResponse",
                        {"records": [(0, T.UTC, utc), (1, T.MAP8, 0x09)]}, seq, True, True)
    return bench.send(0x000A, pl)


def test_request_is_read_of_time_and_status(bench):
    bench.tick()
    f = [d for d in decoded(bench.take()) if d["cluster"] == "Time"][0]
    assert f["command"] == "ReadAttributes"
    assert f["fields"]["attributes"] == ["Time", "TimeStatus"]


def test_first_valid_time_sets_clock_unreliable(bench):
    assert bench.meter.time.status == TC.INVALID
    bench.tick()
    answer(bench, T0 + 5000)
    assert bench.clock.now() == T0 + 5000
    assert bench.meter.time.status == TC.UNRELIABLE


def test_drift_over_10s_marks_unreliable_without_adjusting(bench):
    bench.tick()
    answer(bench, T0 + 1)
    bench.meter.time.status = TC.RELIABLE       # as after a Supplier Set Clock
    bench.tick(TC.SYNC_PERIOD)
    now = bench.clock.now()
    answer(bench, now + 11)
    assert bench.clock.now() == now
    assert bench.meter.time.status == TC.UNRELIABLE
    assert bench.meter.alerts == [TC.ALERT_CLOCK_DRIFT]


def test_small_drift_is_corrected(bench):
    bench.tick()
    answer(bench, T0 + 1)
    bench.tick(TC.SYNC_PERIOD)
    now = bench.clock.now()
    answer(bench, now + 10)
    assert bench.clock.now() == now + 10
    assert bench.meter.alerts == []


def test_invalid_hub_time_retries_every_30_min_then_unreliable(bench):
    bench.meter.time.status = TC.RELIABLE
    bench.tick()
    answer(bench, 0xFFFFFFFF)
    times = []
    for s in range(1, 4 * TC.RETRY_PERIOD + 2):
        bench.tick()
        if any(f.cluster == 0x000A for f in bench.sent):
            times.append(s)
        bench.take()                 # unanswered from now on
    assert times[:3] == [TC.RETRY_PERIOD, 2 * TC.RETRY_PERIOD, 3 * TC.RETRY_PERIOD]
    assert bench.meter.time.status == TC.UNRELIABLE


def test_unsolicited_time_response_ignored(bench):
    pl = Z.build_global(TimeServer, "ReadAttributesResponse",
                        {"records": [(0, T.UTC, T0 + 999)]}, 7, True, True)
    bench.send(0x000A, pl)
    assert bench.clock.now() == T0
    assert bench.meter.time.status == TC.INVALID


def test_supplier_set_clock_window(bench):
    tc = bench.meter.time
    assert tc.supplier_set_clock(T0 + 50, T0 + 40, T0 + 60)
    assert tc.status == TC.RELIABLE and bench.clock.now() == T0 + 50
    assert not tc.supplier_set_clock(T0 + 100, T0 + 40, T0 + 60)
    assert tc.status == TC.UNRELIABLE


def test_time_status_persists(bench):
    bench.tick()
    answer(bench, T0 + 100)
    bench.restart()
    assert bench.meter.time.status == TC.UNRELIABLE


def test_unanswered_requests_retry_every_30_min_then_daily(bench):
    bench.meter.time.status = TC.RELIABLE
    times = []
    for s in range(1, 2 * TC.SYNC_PERIOD):
        bench.tick()
        if any(f.cluster == 0x000A for f in bench.sent):
            times.append(s)
        bench.take()                     # the hub never answers
    # initial request, three retries 30 min apart, then the daily cycle
    R, D = TC.RETRY_PERIOD, TC.SYNC_PERIOD
    assert times[:5] == [1, 1 + R, 1 + 2 * R, 1 + 3 * R, 1 + 4 * R + D]   # 24 h after giving up
    assert bench.meter.time.status == TC.UNRELIABLE
