"""DRLC event table rules (ZSE Annex D.2) tested on the engine directly;
scenarios cover the cluster on both runtimes."""
import pytest

from firmware.drlc import events as E
from runtimes import run_script

CFG = (0, 30, 0, 0x0080)     # UEG, start rand, duration rand, device class


def lce(eid, start=0, dur=30, dclass=0x80, ueg=0, crit=1, control=0):
    return {"IssuerEventID": eid, "DeviceClass": dclass, "UtilityEnrollmentGroup": ueg,
            "StartTime": start, "DurationInMinutes": dur, "CriticalityLevel": crit,
            "CoolingTemperatureOffset": 0xFF, "HeatingTemperatureOffset": 0xFF,
            "CoolingTemperatureSetPoint": -0x8000, "HeatingTemperatureSetPoint": -0x8000,
            "AverageLoadAdjustmentPercentage": -0x80, "DutyCycle": 0xFF, "EventControl": control}


def statuses(t):
    out = [(d[1].id, d[2]) for d in t.out if d[0] == "report"]
    t.out = []
    return out


def test_randomisation_bounds_over_many_seeds():
    starts, durs = set(), set()
    for seed in range(1, 2001):
        t = E.EventTable(E.Rng(seed))
        t.add(lce(1, start=10_000, control=3), 5_000, (0, 30, 60, 0x80), 0, 1)
        e = t.events[0]
        assert 0 <= e.start_rand <= 1800 and 0 <= e.dur_rand <= 3600
        assert e.eff_end == 10_000 + e.start_rand + 1800 + e.dur_rand
        starts.add(e.start_rand // 180)
        durs.add(e.dur_rand // 360)
    # the whole range is covered (bucket 10 holds only the exact maximum)
    assert set(range(10)) <= starts and set(range(10)) <= durs


def test_no_randomisation_without_event_control_bits():
    t = E.EventTable(E.Rng(5))
    t.add(lce(1, start=10_000), 5_000, (0, 60, 60, 0x80), 0, 1)
    assert (t.events[0].start_rand, t.events[0].dur_rand) == (0, 0)


def test_randomisation_same_on_micropython(tmp_path):
    cpy = run_script("cpython", "drlc_random.py")
    mpy = run_script("micropython", "drlc_random.py")
    assert cpy == mpy and cpy.startswith("out_of_bounds 0 start 0 ")


def test_table_full_rejects_new_event():
    t = E.EventTable(E.Rng(1))
    for i in range(E.EVENT_SLOTS):
        t.add(lce(i + 1, start=100_000 + i * 3600, dur=30), 1000, CFG, 0, 1)
    statuses(t)
    t.add(lce(999, start=900_000), 1000, CFG, 0, 1)
    assert statuses(t) == [(999, E.ST_REJ_LCE)]
    assert len(t.events) == E.EVENT_SLOTS


def test_different_device_classes_run_side_by_side():
    t = E.EventTable(E.Rng(1))
    cfg = (0, 0, 0, 0x0081)
    t.add(lce(1, dclass=0x01), 1000, cfg, 0, 1)
    t.add(lce(2, dclass=0x80), 1000, cfg, 0, 1)
    t.tick(1000)
    assert [e.state for e in t.events] == [E.S_RUNNING, E.S_RUNNING]
    assert (1, E.ST_SUPERSEDED) not in statuses(t)


def test_finished_event_resent_is_not_actioned_again():
    t = E.EventTable(E.Rng(1))
    t.add(lce(7, dur=1), 1000, CFG, 0, 1)
    t.tick(1000)
    t.tick(1060)
    assert statuses(t)[-1] == (7, E.ST_COMPLETED)
    t.add(lce(7, dur=1), 1061, CFG, 0, 1)
    assert statuses(t) == [] and t.events == [] and t.duplicates == 1


def test_pack_load_round_trip():
    t = E.EventTable(E.Rng(3))
    t.add(lce(1, start=5000, control=1), 1000, CFG, 0x1234, 9)
    t.add(lce(2, dur=1), 1000, CFG, 0, 1)
    t.tick(1000)
    t.tick(1060)          # 2 finished
    t.opt(True, 1100, 1)
    u = E.EventTable(E.Rng(0))
    u.load(t.pack())
    assert [e.pack() for e in u.events] == [e.pack() for e in t.events]
    assert u.done == [2]
    assert (u.events[0].src, u.events[0].src_ep) == (0x1234, 9)


def test_graceful_cancel_without_end_randomisation_waits_start_randomisation():
    t = E.EventTable(E.Rng(11))
    t.add(lce(1, start=2000, dur=60, control=1), 1000, CFG, 0, 1)
    e = t.events[0]
    assert t.cancel(1, E.CANCEL_GRACEFUL, 2500, 1000, 0x80, 0) is None
    assert e.cancel_at == 2500 + e.start_rand


@pytest.mark.parametrize("eff", [0xFFFFFFFF, 2000 + 3600])
def test_cancel_effective_time_rejections(eff):
    t = E.EventTable(E.Rng(1))
    t.add(lce(1, start=2000, dur=60), 1000, CFG, 0, 1)
    assert t.cancel(1, 0, eff, 1000, 0x80, 0) == E.ST_REJ_CANCEL_EFFECTIVE_TIME


def test_next_change_is_the_earliest_due_time():
    t = E.EventTable(E.Rng(1))
    assert t.next_change() == E.UTC_INVALID
    t.add(lce(1, start=5000, dur=10), 1000, CFG, 0, 1)
    t.add(lce(2, start=3000, dur=10, dclass=0x80), 1000, CFG, 0, 1)
    assert t.next_change() == 3000
    t.tick(3000)
    assert t.next_change() == 3600


def test_cancel_for_other_device_class_or_group_is_invalid():
    t = E.EventTable(E.Rng(1))
    t.add(lce(1, start=2000, dclass=0x01, ueg=0), 1000, (0, 0, 0, 0x81), 0, 1)
    assert t.cancel(1, 0, 0, 1000, 0x80, 0) == E.ST_REJ_INVALID_CANCEL
    assert t.cancel(1, 0, 0, 1000, 0x01, 0) is None
