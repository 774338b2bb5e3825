# Both runtimes: records across an A/B rollback (firmware/ota/client.py
# select). argv: store dir, input JSON (host_tests/test_ota.py: config,
# tariff, UTRNs from the supplier tool), phase; one phase a process, as
# across restarts:
#   before -- a prepayment meter with a tariff, a top-up, some energy: its state;
#   trial  -- a bundle activated (the selector as activate()'s commit point
#             writes it); its first boot (select: the records backed up);
#             then, as the new bundle would, every record saved twice at a
#             newer version (the old application cannot decode it) and a new
#             record; it never confirms; the next boot (select) rolls back;
#   after  -- the old application boots: the same state as before.
import sys
import struct
import hashlib

from common import make_meter, hexs, tariff_load, topup
from firmware.platform.store import Store, FileBackend
from firmware.ota import client as O

store, phase = sys.argv[1], sys.argv[3]
import json
with open(sys.argv[2]) as f:
    inp = json.load(f)


def show(tag, m):
    a = m.account
    print(tag, "wh", m.import_wh, "credit", a.mb, a.credited, a.charged, "ledger", a.ledger_ok(),
          "cache", a.cache.n, a.cache.highest(), "tariff", m.tariff.tariff_id,
          hexs(hashlib.sha256(bytes(m.tariff.pack_state())).digest())[:16],
          "unreadable", sorted(m.store.unreadable), "supply", m.supply.state)


def records():
    import os
    return sorted(n for n in os.listdir(store) if n[-2:] in (".0", ".1"))


if phase == "before":
    from firmware.commands import config as CFG
    m, out, clock, met, be = make_meter(store, 820886400, inp["config"])
    tariff_load(m, inp["tariff"])
    CFG.apply(m, {"mode": "prepayment", "params": {"ec_limit": 300000}})
    print("topup", topup(m, inp["codes"][0]))
    met.load_w = 3000
    for _ in range(1800):
        clock.advance(1)
        m.tick()
    m.save_registers()
    show("state", m)
elif phase == "trial":
    st = Store(FileBackend(store))
    O._save(st, [0, 0xFF, 1, 0, 2, 1, 0])          # activated app_a, on trial
    print("first boot", O.select(st)[len(store):], "backed up", len(O._recs(store + "/recbak")))
    be = st.backend
    n = 0
    for key in sorted(set(r[:-2] for r in records())):
        if key in ("bootsel", "ota"):
            continue
        best = None
        for i in (0, 1):
            raw = be.read(key + (".0", ".1")[i])
            if raw and len(raw) >= 15 and raw[:2] == b"MR":
                seq, ln = struct.unpack_from("<IH", raw, 3)
                if best is None or seq > best[0]:
                    best = (seq, raw[15:15 + ln], raw[13], raw[14])
        if best:
            for _ in (0, 1):                       # both slots: no older copy to fall back on
                st.save(key, best[1], best[2], best[3] + 1)
            n += 1
    st.save("newrec", b"new bundle", 0, 0)
    print("migrated", n, "records; next boot", O.select(Store(FileBackend(store))),
          "selector", O._load(Store(FileBackend(store))))
    print("left", [r for r in records() if r[:7] == "newrec."])
else:
    m, out, clock, met, be = make_meter(store, 820886400 + 1800, inp["config"])   # no outage: no catch-up
    show("state", m)
    print("again", topup(m, inp["codes"][0]))      # the UTRN cache remembers it
