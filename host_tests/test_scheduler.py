"""The meter's due table (firmware/meter.py Meter.tick): the tick runs only
what is due, in slot order (ties too), re-arms each slot from its engine,
follows a clock set by the hub either way, and next_wakeup() names the
second at which the tick next has something to do."""
import struct

from conftest import Bench, T0
from mp.common import tariff_load
from firmware import meter as MT
from firmware.metering.profile import HALF_HOUR
from firmware.platform.clock import DAY
from tools import zcl_host as Z
from test_time import answer
from runtimes import run_script

FLAT = {"tariff_id": 20, "provider_id": 1, "currency": 826, "price_scaler": -5, "tou": [20000],
        "standing_charge": {"amount": 86400, "period_s": 86400},
        "calendar": {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7},
                     "days": {"1": [["00:00", 1]]}}, "special_days": []}


def traced(b):
    """Record the due actions the tick runs, in order: [(utc, slot)] (the
    metering of each second, slot _S_ACCOUNT, runs every second: left out)."""
    ran = []
    slot = b.meter._slot

    def spy(s, now, mono, wh):
        if wh >= 0 and s != MT._S_ACCOUNT:
            ran.append((now, s))
        return slot(s, now, mono, wh)
    b.meter._slot = spy
    return ran


def due(b, s):
    """Slot s's due time as its engine tells it now (the table's entry)."""
    return b.meter._slot(s, b.clock.now(), b.clock.mono(), -1)


def settled(tmp_path, utc):
    """A meter booted at utc - 2 whose hub answered its time request with
    its own time: the next request is a day away (monotonic)."""
    b = Bench(str(tmp_path / "s"), utc=utc - 2)
    b.tick()
    answer(b, b.clock.now())
    b.tick()
    assert b.meter.time.next_sync == 1 + 86400
    return b


def test_idle_meter_wakes_for_the_half_hour_save(tmp_path):
    b = settled(tmp_path, T0 + 60)
    m = b.meter
    assert m.next_wakeup() == T0 + HALF_HOUR
    # nothing runs before it; at it, the register save and the profile
    ran = traced(b)
    b.tick(HALF_HOUR - 60 - 1)
    assert ran == []
    saves = b.backend.writes
    b.tick()
    assert ran == [(T0 + HALF_HOUR, MT._S_REG), (T0 + HALF_HOUR, MT._S_PROFILE)]
    assert b.backend.writes > saves
    # re-armed: the next half hour
    assert due(b, MT._S_REG) == due(b, MT._S_PROFILE) == T0 + 2 * HALF_HOUR
    assert m.next_wakeup() == T0 + 2 * HALF_HOUR


def test_midnight_ties_run_in_slot_order(tmp_path):
    b = settled(tmp_path, T0 + DAY - 100)
    ran = traced(b)
    b.tick(99)
    assert ran == []
    b.tick()                        # midnight: the day, the register save, the profile
    assert ran == [(T0 + DAY, MT._S_DAY), (T0 + DAY, MT._S_REG), (T0 + DAY, MT._S_PROFILE)]
    assert b.meter.profile.day == (T0 + DAY) // DAY
    assert b.meter.next_wakeup() == T0 + DAY + 1
    del ran[:]
    b.tick()                        # the second after: the tariff's midnight boundary
    assert ran == [(T0 + DAY + 1, MT._S_TARIFF)]
    assert b.meter.next_wakeup() == T0 + DAY + HALF_HOUR


def test_future_tariff_wakes_at_its_activation(tmp_path):
    b = settled(tmp_path, T0 + 60)
    m = b.meter
    tariff_load(m, FLAT, T0 + 600)
    assert m.next_wakeup() == T0 + 60       # a load: the tariff looks again at once
    ran = traced(b)
    b.tick()
    assert ran == [(T0 + 61, MT._S_TARIFF)]
    # the tick meters [now - 1, now): the activation at 600 is the tick of 601
    assert m.next_wakeup() == T0 + 601
    del ran[:]
    b.tick(600 - 61)
    assert ran == [] and m.tariff.tariff_id != 20 and m.tariff.pending()
    b.tick()
    assert m.tariff.tariff_id == 20 and not m.tariff.pending()
    # the activation saves the registers at the end of its tick (issue #15.3)
    assert ran == [(T0 + 601, MT._S_TARIFF), (T0 + 601, MT._S_REG)]
    assert m.next_wakeup() == T0 + HALF_HOUR


def test_drlc_event_and_snapshot_schedule_wake_the_meter(tmp_path):
    b = settled(tmp_path, T0 + 60)
    m = b.meter
    m.drlc.values[0x0001] = 0               # no start randomisation
    cls, cid = Z.cluster_by_name("DRLC")
    b.send(cid, Z.build_cluster_cmd(cls, "LoadControlEvent", {
        "IssuerEventID": 7, "DeviceClass": 0x0080, "UtilityEnrollmentGroup": 0,
        "StartTime": T0 + 900, "DurationInMinutes": 1, "CriticalityLevel": 1,
        "CoolingTemperatureOffset": 0xFF, "HeatingTemperatureOffset": 0xFF,
        "CoolingTemperatureSetPoint": -0x8000, "HeatingTemperatureSetPoint": -0x8000,
        "AverageLoadAdjustmentPercentage": -0x80, "DutyCycle": 0xFF, "EventControl": 0},
        0x30, to_client=True))
    assert m.next_wakeup() == T0 + 900
    raw = struct.pack("<BIHBBI", 1, T0 + 700, 0, 0, 0, 1)
    b.cmd("Metering", "ScheduleSnapshot", {"IssuerEventID": 5, "CommandIndex": 0,
                                           "TotalNumberOfCommands": 1, "Schedules": raw})
    assert m.next_wakeup() == T0 + 700
    ran = traced(b)
    b.tick(700 - 60)
    assert ran == [(T0 + 700, MT._S_SNAP)]
    assert m.next_wakeup() == T0 + 900
    b.tick(200)
    assert ran[-1] == (T0 + 900, MT._S_DRLC) and not any(m.aux.closed)     # shedding
    assert m.next_wakeup() == T0 + 960                                   # its end
    b.tick(60)
    assert ran[-1] == (T0 + 960, MT._S_DRLC) and all(m.aux.closed)


def test_clock_set_forward_and_back(tmp_path):
    b = Bench(str(tmp_path / "s"), utc=T0 + 60)
    b.tick()                        # the time request goes out; no answer: retry in 30 min
    m = b.meter
    retry = m.time.next_sync        # monotonic: a clock set does not move it
    assert retry == b.clock.mono() + 1800
    # forward: the tariff looks its selector up again and the running
    # interval closes under its own index, both at the next tick
    assert m.set_clock(T0 + 5000)
    assert m.next_wakeup() == T0 + 5000            # due at once: never before now
    ran = traced(b)
    b.tick()
    assert ran == [(T0 + 5001, MT._S_TARIFF), (T0 + 5001, MT._S_PROFILE)]
    assert m.next_wakeup() == T0 + 5400             # the half hour of the new time
    # back into the day before: the day change is due at once
    back = T0 - 3 * 3600
    assert m.set_clock(back)
    assert m.next_wakeup() == back
    del ran[:]
    b.tick()
    assert [s for _, s in ran] == [MT._S_TARIFF, MT._S_DAY, MT._S_PROFILE]
    assert due(b, MT._S_DAY) == T0 and m.profile.day == back // DAY
    # the time retry (monotonic) now comes before the half hour: its UTC
    assert m.time.next_sync == retry
    assert m.next_wakeup() == b.clock.now() + retry - b.clock.mono() < back + HALF_HOUR
    del ran[:]
    b.tick(retry - b.clock.mono())
    assert ran == [(back + 1 + retry - 3, MT._S_TIME)]


def test_inputs_and_identify(tmp_path):
    b = settled(tmp_path, T0 + 60)
    m = b.meter
    ran = traced(b)
    b.tick(100)
    assert ran == []
    m.identify.values[0x0000] = 3           # Identify: due every second while it counts
    assert m.next_wakeup() == b.clock.now()
    b.tick(4)
    assert [s for _, s in ran] == [MT._S_IDENTIFY] * 3 and not m.identify.identifying
    del ran[:]
    m.button.press()                        # the button: due at the next tick
    b.tick()
    assert [s for _, s in ran] == [MT._S_BUTTON] and m.button_presses == 1
    assert m.next_wakeup() == T0 + HALF_HOUR


def test_due_table_same_on_both_runtimes(tmp_path):
    """mp/sched_wakeup.py: a board sleeping until next_wakeup() misses no
    due action, the same on CPython and on the MicroPython unix port."""
    (tmp_path / "c").mkdir()
    (tmp_path / "m").mkdir()
    cpy = run_script("cpython", "sched_wakeup.py", str(tmp_path / "c"))
    mpy = run_script("micropython", "sched_wakeup.py", str(tmp_path / "m"),
                     preload="firmware.meter")
    assert mpy == cpy
    lines = cpy.splitlines()
    assert "EARLY" not in cpy and lines[-1].startswith("early 0 ")
    # the tariff activation is the tick of 601, the DRLC event's start and end
    # are at 900 and 960, each announced the second before as the wakeup
    assert "t 601 slots 0,%d announced 601 " % MT._S_REG in lines
    assert "t 900 slots %d announced 900 " % MT._S_DRLC in lines
    assert "t 960 slots %d announced 960 " % MT._S_DRLC in lines
    # midnight after the forward step: the day, the register save, the profile
    assert "t 86400 slots %d,%d,%d announced 86400 " % (MT._S_DAY, MT._S_REG,
                                                         MT._S_PROFILE) in lines
