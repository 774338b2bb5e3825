# Differential: every response that can outgrow a frame, on links of 0, 2
# and 4 source-route relays (firmware/zcl/engine.py). For each request the
# script prints the length of every frame sent, whether it is within the
# link's limit, and a CRC of the frames; CPython and MicroPython must agree,
# and host_tests/test_frames.py reads the numbers back. Run once per link:
# frame_limits.py STORE_DIR RELAYS.
import os
import struct
import sys

from common import make_meter, store_dir, T0
from firmware.zcl import aps as A
from firmware.compat import crc32
from common import tariff_load

METER = 0x4E21
PPMID = 0x5A5A
_hdr_seq = [0]


def frame(cluster, cmd, payload, cluster_specific=True):
    _hdr_seq[0] = (_hdr_seq[0] + 1) & 0xFF
    return bytes([0x01 if cluster_specific else 0x00, _hdr_seq[0], cmd]) + payload


def show(tag, m, out, secured=True):
    lim = m.zcl.limit(secured)
    crc = 0
    lens = []
    for o in out:
        crc = crc32(o.payload, crc)
        lens.append(len(o.payload))
    print(tag, "limit", lim, "frames", len(out), "lens", lens,
          "fit", all(n <= lim for n in lens), "crc %08x" % (crc & 0xFFFFFFFF))
    del out[:]


def ask(m, out, tag, cluster, payload, secured=True, src=0):
    m.on_aps(A.Aps(src, 1, METER, 1, A.PROFILE_SE, cluster, payload, secured))
    show(tag, m, out, secured)


def tariff_doc():
    n = 24
    return {"name": "24 rates", "tariff_id": 2424, "provider_id": 1, "currency": 826,
            "price_scaler": -5, "tou": [10000 + i for i in range(n)],
            "labels": dict((str(i), "Rate no. %d" % i) for i in range(1, 13)),
            "standing_charge": {"amount": 0, "period_s": 86400},
            "calendar": {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7},
                         "days": {"1": [["%02d:00" % i, i + 1] for i in range(n)]}},
            "special_days": []}


def run(relays, root):
    try:
        os.mkdir(root)
    except OSError:
        pass
    m, out, clock, met, _ = make_meter(root, config={"source_route_relays": relays,
                                                      "han_devices": {"0x5A5A": "ppmid"}})
    z = m.zcl
    print("relays", relays, "secured", z.limit(True), "unsecured", z.limit(False))
    tariff_load(m, tariff_doc())
    met.load_w = 3600
    for i in range(3 * 3600):
        clock.advance(1)
        m.tick()
    del out[:]
    # Read Attributes: 24 TOU registers (10 octets a record) and Basic strings
    ids = b"".join(struct.pack("<H", 0x0100 + 2 * i) for i in range(24))
    ask(m, out, "read-tou", 0x0702, frame(0x0702, 0x00, ids, False))
    basic = b"".join(struct.pack("<H", a) for a in (0x0004, 0x0005, 0x0006, 0x4000) * 4)
    ask(m, out, "read-basic-secured", 0x0000, frame(0x0000, 0x00, basic, False))
    ask(m, out, "read-basic-unsecured", 0x0000, frame(0x0000, 0x00, basic, False), False)
    # Price: matrix and labels of tariff 2424
    ask(m, out, "price-matrix", 0x0700, frame(0x0700, 0x07, struct.pack("<I", 2424)))
    ask(m, out, "tier-labels", 0x0700, frame(0x0700, 0x0A, struct.pack("<I", 2424)))
    # Calendar: the day profile (24 switch points), any provider / calendar
    ask(m, out, "day-profile", 0x0707,
        frame(0x0707, 0x01, struct.pack("<IIBB", 0xFFFFFFFF, 0xFFFFFFFF, 1, 0)))
    # Metering: Get Profile of 40 periods, a 24-tier snapshot
    ask(m, out, "get-profile", 0x0702,
        frame(0x0702, 0x00, struct.pack("<BIB", 0, clock.now(), 40)))
    print("max-periods", m.metering.read(0x0500))
    ask(m, out, "take-snapshot", 0x0702, frame(0x0702, 0x05, struct.pack("<I", 1)))
    ask(m, out, "get-snapshot", 0x0702,
        frame(0x0702, 0x06, struct.pack("<IIBI", 0, 0xFFFFFFFE, 0, 0xFFFFFFFF)))
    # Prepayment logs, filled as the meter fills them (10 records each)
    for i in range(10):
        code = ("%020d" % (74302120000000000000 + i)).encode()
        m.prepayment.topups.append(struct.pack("<IiB", T0 + i, 100000 * (i + 1), 0) + code)
        m.prepayment.debts.append(struct.pack("<IIBI", T0 + i, 1000 * (i + 1), 2, 50000 - i))
    ask(m, out, "topup-log", 0x0705, frame(0x0705, 0x08, struct.pack("<IB", 0xFFFFFFFE, 10)),
        src=PPMID)
    ask(m, out, "debt-log", 0x0705, frame(0x0705, 0x0A, struct.pack("<IBB", 0xFFFFFFFE, 0, 0xFF)),
        src=PPMID)
    # Report Attributes: 24 TOU registers reported at once (9 octets a record)
    cfg = b"".join(struct.pack("<BHBHHB", 0, 0x0100 + 2 * i, 0x25, 1, 60, 0) + b"\x00" * 5
                   for i in range(12))
    ask(m, out, "configure-reporting", 0x0702, frame(0x0702, 0x06, cfg, False))
    clock.advance(1)
    m.tick()
    # only the Report Attributes frames (the Time client's retry of an
    # unanswered time request may fall in the same second)
    out[:] = [o for o in out if o.cluster == 0x0702]
    show("reports", m, out)
    print("oversize", z.oversize, "handler-errors", z.handler_errors)


def main():
    # one link per process (argv[2]: relays), the board heap holding one meter
    relays = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    run(relays, store_dir() + "/r%d" % relays)


main()
