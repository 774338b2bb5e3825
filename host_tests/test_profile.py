"""Profile data and logs (issue 6): capacity, wrap-around, capture rules,
power cuts, clock steps and Get Profile, each against a computation written
here independently of firmware/metering/profile.py."""
import struct

import pytest

from conftest import Bench, decoded, T0
from firmware.metering import profile as PR
from firmware.platform import clock as CK
from firmware.metering.ringlog import SeqLog, SlotRing
from firmware.platform.store import FileBackend, PowerCut, Store
from runtimes import run_script

HH = 1800


def load_at(minute):
    """Deterministic household-ish load in W for minute n."""
    x = (minute * 2654435761) & 0xFFFFFFFF
    return 150 + (x % 2400) + (3000 if (minute // 30) % 48 in (34, 35, 36) else 0)


def run_profile(tmp_path, days, step=60):
    """Drive the profile engine for `days` with a load changing each minute;
    returns the engine, the expected Wh per half-hour and per-midnight reads."""
    store = Store(FileBackend(str(tmp_path / "p")))
    p = PR.Profile(store)
    t = T0
    ws = 0
    p.boot(t, 0)
    expect_hh = {}
    midnight = {T0 // 86400: 0}
    minute = 0
    while t < T0 + days * 86400:
        w = load_at(minute)
        i = t // HH
        expect_hh[i] = expect_hh.get(i, 0) + w * step     # Ws into the interval it happens in
        ws += w * step
        t += step
        minute += 1
        p.tick(t, ws // 3600)
        if t % 86400 == 0:
            midnight[t // 86400] = ws // 3600
    return p, expect_hh, midnight, ws


def expected_wh(expect_hh, i):
    """Wh of interval i as a register-differencing meter records it."""
    before = sum(v for k, v in expect_hh.items() if k < i)
    return (before + expect_hh[i]) // 3600 - before // 3600


def test_fourteen_months_capacity_wrap_and_reads(tmp_path):
    days = 426                                         # 14 months
    p, exp, midnight, ws = run_profile(tmp_path, days)
    # a cumulative sum once, for the register-differenced expectations
    keys = sorted(exp)
    cum, total = {}, 0
    for k in keys:
        cum[k] = total
        total += exp[k]
    last = keys[-1]
    assert p.last_idx == last
    kept = [k for k in keys if k > p.idx - PR.PROFILE_SLOTS]
    assert len(kept) == PR.PROFILE_SLOTS - 1           # 400 days minus the running one
    bad = 0
    for k in kept:
        want = (cum[k] + exp[k]) // 3600 - cum[k] // 3600
        got = p.interval(k)
        if k == keys[0]:
            assert got[1] == 0             # booted on its boundary: seen whole
        if got is None or got[0] != want:
            bad += 1
    assert bad == 0
    # older than the ring holds: gone (the slot now belongs to a newer lap)
    assert all(p.interval(k) is None for k in keys[:len(keys) - len(kept) - 1])
    # midnight reads of the last two years' capacity
    for d, wh in midnight.items():
        if d == T0 // 86400:
            assert p.daily_read(d) is None             # booted then: no midnight seen
        elif d > p.day - PR.DAILY_SLOTS:
            assert p.daily_read(d) == wh
    # previous day consumption = difference of the last two midnight reads
    assert p.prev_day == midnight[p.day] - midnight[p.day - 1]
    # query: newest first, 24 intervals ending at the last closed one
    end, got = p.intervals_before(0, 24, 0)
    assert end == last and [i for i, _ in got] == list(range(last, last - 24, -1))


def test_month_and_week_rollover(tmp_path):
    p, exp, midnight, ws = run_profile(tmp_path, 70, step=300)
    y, m, d = CK.civil(p.day)
    first_of_month = p.day - (d - 1)
    assert p.month_start == midnight[first_of_month]
    monday = p.day - CK.weekday(p.day)
    assert p.week_start == midnight[monday]
    assert p.prev_week == midnight[monday] - midnight[monday - 7]


def test_power_cut_during_append_loses_only_that_entry(tmp_path):
    store = Store(FileBackend(str(tmp_path / "p")))
    p = PR.Profile(store)
    p.boot(T0, 0)
    for k in range(1, 5):
        p.tick(T0 + k * HH, k * 100)
    store.backend.cut_after(1)
    with pytest.raises(PowerCut):
        p.tick(T0 + 5 * HH, 500)
    p2 = PR.Profile(Store(FileBackend(str(tmp_path / "p"))))
    p2.boot(T0 + 6 * HH, 600)
    i0 = T0 // HH
    assert [p2.interval(i0 + k) for k in range(4)] == [(100, 0)] * 4
    assert p2.interval(i0 + 4) is None                 # the torn one reads as missing


def test_clock_steps_are_flagged_not_duplicated(tmp_path):
    store = Store(FileBackend(str(tmp_path / "p")))
    p = PR.Profile(store)
    p.boot(T0, 0)
    i0 = T0 // HH
    p.tick(T0 + HH, 100)                               # interval i0 closed
    p.tick(T0 + HH + 600, 150)
    p.clock_changed(T0 + HH + 600, 150)                # forward 2 h
    p.tick(T0 + 3 * HH + 900, 160)
    assert p.interval(i0 + 1) == (60, PR.F_CLOCK)      # 150 + 10 in the stepped interval
    assert p.interval(i0 + 2) is None                  # skipped: missing, not invented
    p.tick(T0 + 4 * HH, 200)
    assert p.interval(i0 + 3) == (40, 0)
    p.clock_changed(T0 + 4 * HH + 10, 201)             # back 1 h, into written intervals
    p.tick(T0 + 2 * HH + 20, 205)
    p.tick(T0 + 3 * HH, 230)
    assert p.interval(i0 + 4)[1] & PR.F_CLOCK
    merged = p.interval(i0 + 2)
    assert merged == (25, 0)                           # i0 + 2 had no record: written
    p.tick(T0 + 4 * HH, 260)
    got = p.interval(i0 + 3)
    assert got[0] == 40 + 30 and got[1] & PR.F_MERGED  # written again: added, flagged


def test_slot_ring_rejects_stale_laps(tmp_path):
    r = SlotRing(FileBackend(str(tmp_path)), "r.bin", 10, 3)
    r.put(5, b"abc")
    assert r.get(5) == b"abc" and r.get(15) is None and r.get(6) is None


def test_seq_log_wraps_and_survives_restart(tmp_path):
    b = FileBackend(str(tmp_path))
    log = SeqLog(b, "l.bin", 100, 10)
    for i in range(250):
        log.append(struct.pack("<HII", 1, i, i))
    log2 = SeqLog(FileBackend(str(tmp_path)), "l.bin", 100, 10)
    assert log2.seq == 250
    newest = log2.newest(200)
    assert len(newest) == 100 and newest[0][0] == 250 and newest[-1][0] == 151
    assert log2.get(150) is None


# -- through the meter (ZCL) ----------------------------------------------------------------
def gp(bench, channel=0, end=0, n=24):
    r = decoded(bench.cmd("Metering", "GetProfile",
                          {"IntervalChannel": channel, "EndTime": end, "NumberOfPeriods": n}))
    assert len(r) == 1 and r[0]["command"] == "GetProfileResponse"
    return r[0]["fields"]


def test_get_profile_against_independent_sums(bench):
    loads = [(600, 1000), (1800, 2500), (3600, 300)]   # (seconds, W) repeated
    per_interval = {}
    t = T0
    for _ in range(8):
        for secs, w in loads:
            for _ in range(secs):
                bench.metrology.load_w = w
                per_interval[t // HH] = per_interval.get(t // HH, 0) + w
                bench.tick()
                t += 1
    maxp = bench.meter.metering.read(0x0500)     # MaxNumberOfPeriodsDelivered: one frame's worth
    f = gp(bench, n=maxp)
    assert f["Status"] == 0 and f["ProfileIntervalPeriod"] == 2
    last = bench.clock.now() // HH - 1
    assert f["EndTime"] == (last + 1) * HH
    want = []
    cum = {}
    total = 0
    for k in sorted(per_interval):
        cum[k] = total
        total += per_interval[k]
    for i in range(last, last - f["NumberOfPeriodsDelivered"], -1):
        want.append((cum[i] + per_interval[i]) // 3600 - cum[i] // 3600)
    assert [x["Value"] for x in f["Intervals"]] == want
    assert f["NumberOfPeriodsDelivered"] == maxp
    # an older window: the block ending at or before that time
    f2 = gp(bench, end=(last - 5) * HH + 100, n=3)
    assert [x["Value"] for x in f2["Intervals"]] == want[6:9]


def test_get_profile_statuses(bench):
    assert gp(bench)["Status"] == 5                    # nothing recorded yet
    bench.metrology.load_w = 1000
    bench.tick(3 * HH)
    assert gp(bench, channel=1)["Status"] == 2         # received: import-only meter
    assert gp(bench, channel=7)["Status"] == 1         # undefined channel
    assert gp(bench, end=bench.clock.now() + 3600)["Status"] == 3
    f = gp(bench, n=30)
    maxp = bench.meter.metering.read(0x0500)           # what one secured frame carries
    assert maxp == (bench.meter.zcl.limit(True) - 3 - 7) // 3
    assert f["Status"] == 4 and f["NumberOfPeriodsDelivered"] == maxp
    vals = [x["Value"] for x in f["Intervals"]]
    assert vals[:2] == [500, 500] and vals[2] == 500   # first interval: whole (boot at :00)
    assert vals[3:] == [0xFFFFFF] * (maxp - 3)         # before the meter existed: invalid


def test_day_consumption_attributes(bench):
    bench.metrology.load_w = 3600
    bench.tick(86400 + 3600 + 900)
    r = decoded(bench.glob("Metering", "ReadAttributes", {"attributes": [
        "CurrentDayConsumptionDelivered", "PreviousDayConsumptionDelivered",
        "CurrentMaxDemandDelivered", "DFTSummation", "CurrentPartialProfileIntervalValueDelivered"]}))
    vals = {x["attribute"]: x.get("value") for x in r[0]["fields"]["records"]}
    assert vals == {"CurrentDayConsumptionDelivered": 4500,
                    "PreviousDayConsumptionDelivered": 86400,
                    "CurrentMaxDemandDelivered": 3600,
                    "DFTSummation": 86400,
                    "CurrentPartialProfileIntervalValueDelivered": 900}


def test_fast_poll_limits(bench):
    r = decoded(bench.cmd("Metering", "RequestFastPollMode",
                          {"FastPollUpdatePeriod": 1, "Duration": 60}))[0]["fields"]
    assert r == {"AppliedUpdatePeriod": 5, "FastPollModeEndTime": T0 + 15 * 60}


def test_snapshots(bench):
    bench.metrology.load_w = 3600
    bench.tick(100)
    r = decoded(bench.cmd("Metering", "TakeSnapshot", {"SnapshotCause": 0x0001}))[0]
    assert r["command"] == "TakeSnapshotResponse"
    assert r["fields"] == {"SnapshotID": 1, "SnapshotConfirmation": 0}
    bench.tick(100)
    bench.cmd("Metering", "TakeSnapshot", {"SnapshotCause": 0x0008})
    r = decoded(bench.cmd("Metering", "GetSnapshot", {
        "EarliestStartTime": 0, "LatestEndTime": 0xFFFFFFFE, "SnapshotOffset": 1,
        "SnapshotCause": 0xFFFFFFFF}))[0]
    f = r["fields"]
    assert (r["command"], f["SnapshotID"], f["TotalSnapshotsFound"], f["SnapshotCause"]) == \
        ("PublishSnapshot", 1, 2, 1)
    payload = bytes.fromhex(f["SnapshotPayload"][4:])
    assert int.from_bytes(payload[:6], "little") == 100          # Wh at the snapshot
    r = decoded(bench.cmd("Metering", "GetSnapshot", {
        "EarliestStartTime": 0, "LatestEndTime": 0xFFFFFFFE, "SnapshotOffset": 0,
        "SnapshotCause": 0x0002}))[0]
    assert r["fields"]["status"] == "NOT_FOUND"      # (schedules: test_snapshots.py)


def test_logs_power_security_event(bench):
    assert bench.meter.power_log.seq == 1
    bench.restart()
    assert bench.meter.power_log.seq == 2
    for _ in range(5):                                   # unsecured SE frames: logged, rate limited
        bench.glob("Metering", "ReadAttributes", {"attributes": ["Divisor"]}, secured=False)
    assert bench.meter.security_log.seq == 1
    bench.tick(61)
    bench.glob("Metering", "ReadAttributes", {"attributes": ["Divisor"]}, secured=False)
    assert bench.meter.security_log.seq == 2
    code, t, v = struct.unpack("<HII", bench.meter.security_log.get(2))
    assert code == 0x0101 and v == (0x0000 << 16) | 0x0702


def test_reset_load_limit_counter(bench):
    bench.meter.metering.values[0x0606] = 3
    r = decoded(bench.cmd("Metering", "ResetLoadLimitCounter", {"ProviderID": 1, "IssuerEventID": 2}))
    assert r[0]["fields"]["status"] == "SUCCESS" and bench.meter.metering.stored(0x0606) == 0


def test_profile_same_on_micropython(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "m").mkdir()
    cpy = run_script("cpython", "profile_run.py", str(tmp_path / "c"))
    mpy = run_script("micropython", "profile_run.py", str(tmp_path / "m"))
    assert cpy == mpy and "missing 0" in cpy


def test_logs_read_by_time_range(bench):
    for k in range(5):
        bench.meter.alert(0x8F00 + k)
        bench.tick(100)
    got = bench.meter.log_between(bench.meter.event_log, T0 + 100, T0 + 300)
    assert [(c, t, v) for _, c, t, v in got] == [
        (1, T0 + 100, 0x8F01), (1, T0 + 200, 0x8F02), (1, T0 + 300, 0x8F03)]


def test_boot_mid_interval_is_partial(tmp_path):
    p = PR.Profile(Store(FileBackend(str(tmp_path / "p"))))
    p.boot(T0 + 600, 0)
    p.tick(T0 + HH, 50)
    assert p.interval(T0 // HH) == (50, PR.F_PARTIAL)
