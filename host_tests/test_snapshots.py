"""Scheduled snapshots, the Billing Data Log (billing period end, tariff and
payment-mode changes), bill to date, and Publish Snapshot segmentation."""
import struct

from conftest import Bench, decoded, T0
from firmware.metering import snapshots as SN
from firmware.commands import config as CFG
from runtimes import tshark_problems, tshark_fields

from firmware.platform.clock import days_from_civil, add_months
from mp.common import tariff_load, topup

DAY = 86400
JAN31 = days_from_civil(2026, 1, 31) * DAY      # (conftest's T0 is 2025-12-31 00:00 UTC)
JAN31_23 = JAN31 + 23 * 3600
FEB1 = JAN31 + DAY
FLAT = {"tariff_id": 20, "provider_id": 1, "currency": 826, "price_scaler": -5, "tou": [20000],
        "standing_charge": {"amount": 86400, "period_s": 86400},
        "calendar": {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7},
                     "days": {"1": [["00:00", 1]]}}, "special_days": []}


def schedule(b, *entries, event=5):
    raw = b"".join(struct.pack("<BIHBBI", sid, start, sch & 0xFFFF, sch >> 16, pt, cause)
                   for sid, start, sch, pt, cause in entries)
    r = decoded(b.cmd("Metering", "ScheduleSnapshot", {"IssuerEventID": event, "CommandIndex": 0,
                                                       "TotalNumberOfCommands": 1,
                                                       "Schedules": raw}))[0]
    assert r["command"] == "ScheduleSnapshotResponse"
    return [c["Confirmation"] for c in r["fields"]["Confirmations"]]


def get(b, offset=0, cause=0xFFFFFFFF):
    return decoded(b.cmd("Metering", "GetSnapshot", {"EarliestStartTime": 0,
                                                     "LatestEndTime": 0xFFFFFFFE,
                                                     "SnapshotOffset": offset,
                                                     "SnapshotCause": cause}))


def payload_of(frames):
    assert [f["fields"]["CommandIndex"] for f in frames] == list(range(len(frames)))
    assert {f["fields"]["TotalNumberOfCommands"] for f in frames} == {len(frames)}
    return b"".join(bytes.fromhex(f["fields"]["SnapshotPayload"][4:]) for f in frames)


def u48(b, off):
    lo, hi = struct.unpack_from("<IH", b, off)
    return lo | hi << 32


def test_a_daily_schedule_fires_each_day_and_survives_a_restart(tmp_path):
    b = Bench(str(tmp_path / "s"))
    b.metrology.load_w = 3600
    assert schedule(b, (1, T0 + 3600, 1 << 0 | 0 << 20, 0, SN.CAUSE_GENERAL)) == [0]
    b.tick(3599)
    assert b.meter.snapshots.logs[0].seq == 0
    b.tick(1)
    assert b.meter.snapshots.logs[0].seq == 1
    b.restart()                                    # persisted with its next due time
    b.metrology.load_w = 3600
    b.tick(DAY)
    found = b.meter.snapshots.find(0, 0xFFFFFFFE, SN.CAUSE_SCHEDULED)
    assert [t for t, _ in found] == [T0 + 3600 + DAY, T0 + 3600]
    f = get(b, 0, SN.CAUSE_SCHEDULED)[0]["fields"]
    assert f["SnapshotCause"] == SN.CAUSE_GENERAL | SN.CAUSE_SCHEDULED
    payload = payload_of(get(b, 0, SN.CAUSE_SCHEDULED))
    assert u48(payload, 0) == DAY + 3600           # Wh at the snapshot (1 Wh a second)
    assert b.meter.snapshots.logs[0].seq == 2      # none taken twice across the restart


def test_schedule_confirmations_and_cancellation(tmp_path):
    b = Bench(str(tmp_path / "s"))
    week, month = 1 << 20, 2 << 20
    assert schedule(b, (1, T0 + 10, 1 | week, 0, 1), (2, T0 + 10, 1 | month, 0, 1),
                    (3, T0 + 10, 1, 1, 1),           # payload type 1: not supported
                    (4, T0 + 10, 1 | 1 << 22, 0, 1),  # wild card: not available
                    (5, T0 + 10, 0, 0, 1), (6, T0 + 10, 2, 0, 1),
                    (7, T0 + 10, 3, 0, 1)) == [0, 0, 1, 3, 0, 0, 5]
    assert schedule(b, (5, 0xFFFFFFFF, 0, 0, 0)) == [0]                   # cancel id 5
    assert sorted(s[0] for s in b.meter.snapshots.schedules) == [1, 2, 6]
    b.tick(10)
    assert b.meter.snapshots.logs[0].seq == 3     # ids 1, 2 and 6 due at T0 + 10
    r = decoded(b.cmd("Metering", "ScheduleSnapshot", {"IssuerEventID": 1, "CommandIndex": 0,
                                                       "TotalNumberOfCommands": 1,
                                                       "Schedules": bytes(12)}))[0]
    assert r["fields"]["status"] == "MALFORMED_COMMAND"


def test_next_due_for_days_weeks_months():
    s = SN.Snapshots.__new__(SN.Snapshots)
    jan31 = JAN31 + 10 * 3600
    month = [0, jan31, 1 | 2 << 20, 0, 0, 0]
    assert s._next(month, jan31) == jan31
    assert s._next(month, jan31 + 1) == days_from_civil(2026, 2, 28) * DAY + 36000   # clamped
    assert s._next(month, FEB1 + 28 * DAY) == days_from_civil(2026, 3, 31) * DAY + 36000
    two_weeks = [0, T0, 2 | 1 << 20, 0, 0, 0]
    assert s._next(two_weeks, T0 + 1) == T0 + 14 * DAY
    once = [0, T0, 0, 0, 0, 0]
    assert s._next(once, T0) == T0 and s._next(once, T0 + 1) == SN.NEVER
    assert add_months(JAN31, 13) == days_from_civil(2027, 2, 28) * DAY
    assert add_months(JAN31, -1) == days_from_civil(2025, 12, 31) * DAY


def test_clock_steps_forward_take_one_missed_snapshot_backward_resume(tmp_path):
    b = Bench(str(tmp_path / "s"))
    schedule(b, (1, T0 + 100, 1, 0, 1))           # daily from T0 + 100
    b.tick(200)
    b.meter.set_clock(b.clock.now() + 10 * DAY)
    b.tick(1)
    assert b.meter.snapshots.logs[0].seq == 2     # the one before, one for the skipped days
    nd = b.meter.snapshots.next_due
    assert nd > b.clock.now() and (nd - (T0 + 100)) % DAY == 0
    b.meter.set_clock(b.clock.now() - 3 * DAY)    # back: the schedule goes on from the new time
    nd = b.meter.snapshots.next_due
    assert b.clock.now() < nd <= b.clock.now() + DAY and (nd - (T0 + 100)) % DAY == 0


def test_billing_period_end_records_registers_and_resets_bill_to_date(tmp_path):
    b = Bench(str(tmp_path / "s"), utc=JAN31_23)
    tariff_load(b.meter, FLAT)
    b.metrology.load_w = 3600                      # 20 units a second + 1 standing
    b.tick(3600)                                   # to 1 Feb 00:00:00
    logs = b.meter.snapshots.logs
    assert logs[1].seq == 1
    t, cause, lo, hi, cost = struct.unpack_from(SN._HEAD, logs[1].get(1), 0)
    assert (t, cause, lo | hi << 32, cost) == (FEB1, SN.CAUSE_END_OF_BILLING, 3600, 3600 * 21)
    rec = logs[1].get(1)
    assert struct.unpack_from("<I", rec, 22)[0] == 3600             # TOU1 register
    b.tick(100)
    v = b.meter.metering.read
    assert v(0x0A00) == 2100 and v(0x0A04) == 0x50                 # 100 s x 21; trailing digit 5
    assert v(0x0A02) == 2100 * 28 * DAY // 100                     # projected over February
    frames = get(b, 0, SN.CAUSE_END_OF_BILLING)
    payload = payload_of(frames)
    bill, bill_t = struct.unpack_from("<II", payload, 6)
    assert (bill, bill_t) == (3600 * 21, FEB1)                      # January's bill
    assert frames[0]["fields"]["SnapshotID"] == 0x10000001


def test_a_backward_clock_step_across_the_month_does_not_end_it_twice(tmp_path):
    b = Bench(str(tmp_path / "s"), utc=JAN31_23)
    b.tick(3601)
    assert b.meter.snapshots.logs[1].seq == 1
    b.meter.set_clock(b.clock.now() - 2 * 3600)   # back into January
    b.tick(2 * 3600 + 10)                         # and forward across 1 Feb again
    assert b.meter.snapshots.logs[1].seq == 1


def test_a_period_end_missed_while_off_is_recorded_at_boot(tmp_path):
    b = Bench(str(tmp_path / "s"), utc=JAN31_23)
    b.tick(10)
    b.clock.advance(2 * 3600)                      # mains off across midnight
    b.restart()
    assert b.meter.snapshots.logs[1].seq == 1
    b.restart()                                    # and only once
    assert b.meter.snapshots.logs[1].seq == 1


def test_tariff_and_mode_changes_record_registers_and_balances(tmp_path):
    from tools import utrn as UT
    cfg = UT.meter_config()
    b = Bench(str(tmp_path / "s"), config=cfg)
    tariff_load(b.meter, FLAT)
    CFG.apply(b.meter, {"mode": "prepayment"})
    topup(b.meter, UT.make_utrn(1, pounds=3))
    b.metrology.load_w = 3600
    b.tick(100)
    CFG.apply(b.meter, {"mode": "credit"})
    logs = b.meter.snapshots.logs
    causes = [struct.unpack_from("<I", logs[2].get(i), 4)[0] for i in range(1, logs[2].seq + 1)]
    assert causes == [SN.CAUSE_CALENDAR | SN.CAUSE_TARIFF_INFO | SN.CAUSE_PRICE_MATRIX,
                      SN.CAUSE_MODE, SN.CAUSE_MODE]
    bal = struct.unpack_from("<6i", logs[2].get(3), SN.BAL_OFF)
    assert bal[1] == 300000 - 100 * 21                               # meter balance at the change


def test_a_many_tier_snapshot_is_segmented_and_dissects(tmp_path):
    d = dict(FLAT)
    d["calendar"] = {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7},
                     "days": {"1": [["%02d:%02d" % (i // 2, 30 * (i % 2)), i + 1]
                                    for i in range(48)]}}
    d["tou"] = [10000 + i for i in range(48)]
    b = Bench(str(tmp_path / "s"))
    tariff_load(b.meter, d)
    b.metrology.load_w = 7200
    b.tick(DAY)
    assert schedule(b, (9, T0 + DAY + 5, 0, 0, 1)) == [0]
    b.tick(10)
    frames = b.cmd("Metering", "GetSnapshot", {"EarliestStartTime": 0, "LatestEndTime": 0xFFFFFFFE,
                                               "SnapshotOffset": 0, "SnapshotCause": 1})
    # one secured frame each (zcl/engine.py): 48 octets of payload after
    # the header and 16 octets of fixed fields on the default link
    piece = b.meter.zcl.limit(True) - 3 - 16
    assert len(frames) == -(-(24 + 6 * 48) // piece) == 7
    assert all(len(f.payload) <= b.meter.zcl.limit(True) for f in frames)
    payload = payload_of(decoded(frames))
    assert payload[23] == 48 and len(payload) == 24 + 6 * 48
    # 2 Wh/s x 1800 s in each half-hour tier, and 5 s more in the first
    assert [u48(payload, 24 + 6 * i) for i in range(48)] == [3610] + [3600] * 47
    pcap = str(tmp_path / "snap.pcap")
    from tools.pcap import PcapWriter
    w = PcapWriter(pcap)
    for f in frames:
        w.write_aps(T0, f)
    w.close()
    n, problems = tshark_problems(pcap)
    assert n == len(frames) and problems == []
    rows = tshark_fields(pcap, "zbee_zcl_se.met.publish_snapshot.command_index",
                         "zbee_zcl_se.met.publish_snapshot.total_commands",
                         display_filter="zbee_zcl_se.met.publish_snapshot.command_index")
    assert rows == [[str(i), str(n)] for i in range(n)]


def test_all_flash_logs_fit_the_log_budget(tmp_path):
    """Every ring file the meter keeps, at capacity, within the 200 KB that
    DEVELOPERS.md allows for logs (of the 256 KB littlefs)."""
    from firmware.metering.ringlog import SeqLog, SlotRing
    b = Bench(str(tmp_path / "s"))
    m = b.meter
    total = 0
    seen = []
    for obj in [m, m.profile, m.snapshots, m.prepayment] + list(m.snapshots.logs):
        for v in list(vars(obj).values()) + ([obj] if isinstance(obj, SeqLog) else []):
            if isinstance(v, (SeqLog, SlotRing)) and v not in seen:
                seen.append(v)
                total += v.slots * v.size
    assert len(seen) == 12 and total <= 200 * 1024, total      # ~115 KB (the 12th: the daily register reads, ECS21a)
