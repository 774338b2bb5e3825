"""Issue #16 defect 6: no state change behind a failure answer.

Configure Reporting decodes every record before the table changes (a
malformed command is not carried out; an invalid record gets its own status
while the others apply) and saves the table once. Schedule Snapshot works out
every confirmation before any schedule changes, refuses a command whose
confirmations do not fit one response, and saves once."""
import struct

from conftest import decoded, T0
from firmware.metering import snapshots as SN
from test_snapshots import schedule

DEMAND = 0x0400          # InstantaneousDemand, int24
INT24 = 0x2A


def rec(aid=DEMAND, mn=10, mx=300, change=100, d=0, t=INT24):
    r = struct.pack("<BHBHH", d, aid, t, mn, mx)
    return r + change.to_bytes(3, "little") if t == INT24 else r


def configure(bench, *records):
    bench.seq += 1
    frames = bench.send(0x0702, bytes([0x00, bench.seq & 0xFF, 0x06]) + b"".join(records))
    return decoded(frames)[0]


def reports(bench, seconds):
    n = 0
    for _ in range(seconds):
        bench.tick()
        n += sum(1 for d in decoded(bench.take()) if d["command"] == "ReportAttributes")
    return n


def test_a_reserved_direction_after_a_valid_record_changes_nothing(bench):
    w = bench.backend.writes
    r = configure(bench, rec(), struct.pack("<BHBHH", 2, 0x0000, 0x21, 10, 300))
    assert r["command"] == "DefaultResponse"
    assert r["fields"] == {"command": 0x06, "status": "MALFORMED_COMMAND"}
    assert bench.meter.reporting.entries == [] and bench.backend.writes == w
    bench.metrology.load_w = 1000
    assert reports(bench, 400) == 0


def test_a_truncated_record_changes_nothing(bench):
    for cut in range(1, 10):
        r = configure(bench, rec(), rec(mn=20)[:cut])
        assert r["fields"]["status"] == "MALFORMED_COMMAND", cut
        assert bench.meter.reporting.entries == []


def test_a_malformed_command_keeps_the_configuration_in_force(bench):
    assert configure(bench, rec())["fields"] == {"status": "SUCCESS"}
    configure(bench, rec(mn=20, mx=30), rec(aid=0x0000, t=0x25)[:4])
    (e,) = bench.meter.reporting.entries
    assert (e.min, e.max) == (10, 300)
    bench.restart()
    (e,) = bench.meter.reporting.entries
    assert (e.min, e.max) == (10, 300)


def test_invalid_records_get_their_status_and_the_valid_ones_apply(bench):
    r = configure(bench, rec(aid=0x7777), rec(), struct.pack("<BHH", 1, 0x0000, 60),
                  rec(mn=60, mx=10, aid=DEMAND))
    assert r["command"] == "ConfigureReportingResponse"
    assert r["fields"]["records"] == [
        {"status": "UNSUPPORTED_ATTRIBUTE", "attribute": "0x7777"},
        {"status": "UNSUPPORTED_ATTRIBUTE", "attribute": "CurrentSummationDelivered"},
        {"status": "INVALID_VALUE", "attribute": "InstantaneousDemand"}]
    (e,) = bench.meter.reporting.entries
    assert (e.aid, e.min, e.max, e.change) == (DEMAND, 10, 300, 100)


def saves(bench):
    """Count the meter's store saves by key from now on."""
    st = bench.meter.store
    got = []
    real = st.save_parts          # Store.save and the meter's record commits both end here

    def save_parts(key, parts, *a):
        got.append(key)
        return real(key, parts, *a)
    st.save_parts = save_parts
    return got


def test_a_configure_reporting_command_is_one_store_write(bench):
    got = saves(bench)
    r = configure(bench, rec(), rec(aid=0x0000, t=0x25, mn=5, mx=60)[:8] + bytes(6),
                  rec(aid=DEMAND, mn=1, mx=2))
    assert r["fields"] == {"status": "SUCCESS"}
    assert got == ["reporting"]
    assert len(bench.meter.reporting.entries) == 2


# -- Schedule Snapshot ----------------------------------------------------------------------
DAILY = 1


def daily(sid, start=T0 + 1800, pt=0):
    return (sid, start, DAILY, pt, SN.CAUSE_GENERAL)


def response_room(bench):
    return (len(bench.meter.zcl.tx) - 7) // 2


def test_a_command_too_big_to_confirm_is_refused_whole(bench):
    room = response_room(bench)
    # one secured frame on the default link (engine.py): fewer than 40 confirmations
    assert room == (bench.meter.zcl.limit(True) - 7) // 2 < 40
    w = bench.backend.writes
    assert schedule(bench, *[daily(i + 1) for i in range(40)]) == [SN.SS_NO_SPACE] * room
    assert bench.meter.snapshots.schedules == [] and bench.backend.writes == w
    assert bench.meter.zcl.handler_errors == 0
    bench.tick(1900)
    assert bench.meter.snapshots.logs[0].seq == 0


def test_a_command_that_fits_is_confirmed_record_by_record(bench):
    room = response_room(bench)
    got = schedule(bench, *[daily(i + 1) for i in range(room)])
    assert got == [SN.SS_ACCEPTED] * SN.MAX_SCHEDULES + [SN.SS_NO_SPACE] * (room - 4)
    assert sorted(s[0] for s in bench.meter.snapshots.schedules) == [1, 2, 3, 4]


def test_a_refused_command_leaves_existing_schedules(bench):
    assert schedule(bench, daily(1)) == [SN.SS_ACCEPTED]
    cancel = (1, SN.NEVER, 0, 0, 0)
    schedule(bench, cancel, *[daily(i + 2) for i in range(39)])
    assert [s[0] for s in bench.meter.snapshots.schedules] == [1]


def test_a_refused_replacement_keeps_the_schedule_it_would_replace(bench):
    assert schedule(bench, daily(1)) == [SN.SS_ACCEPTED]
    assert schedule(bench, daily(1, pt=1), (1, T0 + 60, 1 << 22, 0, 1)) == [
        SN.SS_TYPE_NOT_SUPPORTED, SN.SS_NOT_AVAILABLE]
    (s,) = bench.meter.snapshots.schedules
    assert s[:5] == list(daily(1))
    bench.restart()
    assert [s[:5] for s in bench.meter.snapshots.schedules] == [list(daily(1))]


def test_replacing_a_schedule_needs_no_free_slot(bench):
    assert schedule(bench, *[daily(i + 1) for i in range(4)]) == [SN.SS_ACCEPTED] * 4
    assert schedule(bench, daily(3, start=T0 + 60), daily(5)) == [SN.SS_ACCEPTED,
                                                                  SN.SS_NO_SPACE]
    assert {s[0]: s[1] for s in bench.meter.snapshots.schedules}[3] == T0 + 60


def test_a_schedule_snapshot_command_is_one_store_write(bench):
    got = saves(bench)
    assert schedule(bench, *[daily(i + 1) for i in range(4)]) == [SN.SS_ACCEPTED] * 4
    assert got == ["snapsched"]
    bench.restart()
    assert sorted(s[0] for s in bench.meter.snapshots.schedules) == [1, 2, 3, 4]
