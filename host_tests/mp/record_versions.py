# Both runtimes: owned, versioned records at boot (test_record_versions.py
# forges the stored records between the phases; each phase is a new
# process, as after a real restart). Phase "base" meters an hour and keeps a
# credit-mode balance; "boot" starts a meter on a store and prints what it
# recovered; "save" boots and saves the register record again.
import struct
import sys

from common import make_meter, store_dir

T0 = 820886400

phase = sys.argv[2]
if phase == "base":
    m, out, clock, met, be = make_meter(store_dir(), T0)
    met.load_w = 3600
    m.account.adjust(-12345)                # a credit-mode balance the records must keep
    for _ in range(3601):                   # register saves at 00:30 and 01:00
        clock.advance(1)
        m.tick()
    m.snapshots.take(0, 1)                  # an on-request snapshot (commits the registers)
    print("snapshot wh", struct.unpack_from("<I", m.snapshots.logs[0].get(1), 8)[0])
else:
    m, out, clock, met, be = make_meter(store_dir(), T0 + 3700)
    if phase == "save":
        m.save_registers()
    a = m.account
    print(phase, "wh", m.import_wh, "tou1", m.tariff.reg[0], "unreadable", m.store.unreadable,
          "alert", m.alerts.count(0x8FF0), "mode", a.mode, "mb", a.mb, "ledger", a.ledger_ok(),
          "relay", m.relay.closed, "events",
          [v for _, c, _, v in m.log_between(m.event_log, 0, 0xFFFFFFFF) if c == 3])
