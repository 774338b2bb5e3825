# Both runtimes: the GBCS read use cases (firmware/gbcs/uc_read.py) through
# Meter.gbcs_message, with the RTDS keystore (cells and the Z values of
# vectors/rtds/keystore/keys.json) and RTDS commands read from the vector
# files: event and power logs by date range (ECS35a, ECS35e), the registers
# (ECS17a), the encrypted prepayment registers and daily consumption log
# (ECS19, ECS66) and the larger encrypted Billing Data Log and half-hour
# profile (ECS20b, ECS22b; AES-GCM on the meter's crypto core), the Event Log clear
# (ECS15a) and the same read after it, then the Daily Read Log (ECS21a,
# SINGLE and TWIN commands) over three days of known registers. Printed: each response (hex) and the
# newest security log entry; test_micropython.py compares the runtimes.
import binascii
import gc
import hashlib
import json
import struct

from common import make_meter, store_dir

RTDS = "/work/shared/vectors/rtds/"
T2015 = 473385600
DEVICE = "00DB1234567890A0"
CELLS = ((2, 0, 0, "90b3d51f30010000-ds"), (2, 4, 0, "90b3d51f30010000-ka"),
         (3, 0, 0, "90b3d51f30020000-ds"), (3, 4, 0, "90b3d51f30020000-ka"),
         (4, 4, 0, "90b3d51f30000002-ka"))
RUN = (("4.2_ECS17a/ECS17a_4.2_SUCCESS", False), ("6.13_ECS35a/ECS35a_6.13_SUCCESS", False),
       ("6.13_ECS35e/ECS35e_6.13_SUCCESS", False), ("4.3_ECS19/ECS19_4.3_SUCCESS", False),
       ("4.17_ECS66/ECS66_4.17_SUCCESS", False),
       ("4.4.2_ECS20b/ECS20b_4.4.2_SINGLE_SUCCESS", False),
       ("4.8.1_ECS22b/ECS22b_4.8.1_SINGLE_SUCCESS", False), ("3.3_ECS15a/ECS15a_3.3_SUCCESS", False),
       ("6.13_ECS35a/ECS35a_6.13_SUCCESS", True))


def unhex(s):
    return binascii.unhexlify(s)


def hexs(b):
    return binascii.hexlify(b).decode()


def message(name):
    with open(RTDS + "messages/" + name + "_GBCS.HEX") as f:
        return unhex(f.read().strip())


try:
    open(RTDS + "index.json").close()
    have = True
except OSError:
    have = False
if not have:
    print("no RTDS vectors")
else:
    m, out, clock, met, backend = make_meter(store_dir(), utc=T2015 - 2 * 86400)
    from firmware.gbcs import keystore as K
    with open(RTDS + "keystore/keys.json") as f:
        keys = json.load(f)
    cells = []
    for role, usage, cu, name in CELLS:
        e = keys["keys"][name]
        cells.append((role, usage, cu, unhex(e["entity_id"]), unhex(e["public_key"])[1:],
                      unhex(e["subject_key_identifier"])))
    zs = {}
    for name, e in keys["Z_with_" + DEVICE].items():
        zs[unhex(e["remote_party"]) + bytes((1 if "-pp-" in name else 0,))] = unhex(e["Z"])
    del keys
    K.install(m, unhex(DEVICE), bytes(32), hashlib.sha256(b"uc_read").digest(), cells, zs)
    # the meter's state: log entries in the vectors' range, a day of reads,
    # balances, the register
    for i in range(6):
        t = T2015 - 80000 + 7000 * i
        m.event_log.append(struct.pack("<HII", (0x8F01, 0x8154, 0x0001)[i % 3], t,
                                       (0, 0x009B, 0x8F35)[i % 3]))
        m.power_log.append(struct.pack("<HII", 0x8002 + i, t, i))
    pr = m.profile
    pr.day = T2015 // 86400
    pr.idx = T2015 // 1800
    # the ECS66 range: 2014-12-01 09:00 .. 12-05 11:05
    from firmware.platform.clock import days_from_civil
    d = days_from_civil(2014, 12, 1)
    for i in range(6):
        pr.daily.put(d + i, struct.pack("<IHB", 5000 + 37 * i * i, 0, 0))
    a = m.account
    a.mb, a.ad, a.debt[2] = 250000, 1234, 5678
    m.import_wh = 987654
    # Billing Data Log change entries in the ECS20b range (2014-10-02 .. 2015-03-01)
    for i in range(3):
        m.tariff.reg[i * 7] = 1000 + i
        m.snapshots.logs[2].append(m.snapshots.record(T2015 - 86400 * (40 - 15 * i), 0x4000, True))
    # the half hours of 2014-12-31 (ECS22b)
    for i in range(T2015 // 1800 - 49, T2015 // 1800):
        pr.hh.put(i, bytes((i % 251, i % 3, 0)))
    pr.last_idx = T2015 // 1800 - 1
    clock.set(T2015)
    for name, fresh in RUN:
        gc.collect()
        if fresh:
            m._gctr[1].clear()
        sec = m.security_log.seq
        r = m.gbcs_message(message(name + "_COMMAND"))
        print(name.split("/")[1], hexs(r) if r is not None else "none")
        print("  as RTDS", r == message(name + "_RESPONSE"))
        if m.security_log.seq != sec:
            e = m.log_between(m.security_log, 0, 0xFFFFFFFF)[-1]
            print("  security", "%04x" % e[1], e[2], "%04x" % e[3])
    # ECS21a: the Daily Read Log of 2014-03-09 .. 03-11 (the RTDS range),
    # written by the profile's own midnight writer with known registers;
    # the TWIN command (the SINGLE one but for its counter) gets the same
    # single-element entries
    d = days_from_civil(2014, 3, 9)
    for k in range(3):
        for i in range(80):
            m.tariff.reg[i] = 1000 * (k + 1) + 7 * i
        pr._day_regs(d + k, 500000 + 1000 * k)
    pr.day = d + 2
    for name in ("4.6.1_ECS21a/ECS21a_4.6.1_SINGLE_SUCCESS",
                 "4.6.1_ECS21a/ECS21a_4.6.1_TWIN_SUCCESS"):
        gc.collect()
        r = m.gbcs_message(message(name + "_COMMAND"))
        print(name.split("/")[1], hexs(r) if r is not None else "none")
        print("  as RTDS", r == message(name + "_RESPONSE"))
