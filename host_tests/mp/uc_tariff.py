# Both runtimes: the GBCS tariff use cases (firmware/gbcs/uc_tariff.py)
# through Meter.gbcs_message with the RTDS keystore (the Z values of
# keys.json as the test hook, a fixed test DS key: signed responses and
# alerts use the deterministic nonce, so they are the same on both
# runtimes): ECS01a immediate TOU, ECS24 reading it back, ECS05, ECS30 and
# ECS26d, a future-dated ECS01b and its two alerts at activation. Printed:
# each response (hex), what the tariff engine holds, the alerts.
import binascii
import gc
import hashlib
import json
import sys

from common import make_meter

RTDS = "/work/shared/vectors/rtds/"
DEVICE = "00DB1234567890A0"
# (role, usage (0 DS, 4 KA), cell usage, key name): tools/gbcs_host.py RTDS_CELLS
CELLS = ((2, 0, 0, "90b3d51f30010000-ds"), (2, 4, 0, "90b3d51f30010000-ka"),
         (2, 4, 1, "90b3d51f30010000-pp-ka"), (3, 0, 0, "90b3d51f30020000-ds"),
         (3, 4, 0, "90b3d51f30020000-ka"), (4, 4, 0, "90b3d51f30000002-ka"),
         (5, 0, 0, "90b3d51f30000004-ds"), (1, 0, 0, "90b3d51f30000001-ds"))
T2015 = 473385600
MSGS = (("ecs01a-tou", "1.1.1_ECS01a/ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS"),
        ("ecs24", "4.11.1_ECS24/ECS24_4.11.1_SUCCESS"),
        ("ecs05", "1.7_ECS05/ECS05_1.7_SUCCESS"),
        ("ecs30", "6.8_ECS30/ECS30_6.8_SUCCESS"),
        ("ecs26d", "6.2.3_ECS26d/ECS26d_6.2.3_SUCCESS"),
        ("ecs01b-future", "1.2.1_ECS01b/ECS01b_1.2.1_FUTURE_DATED_TOU_BLOCK_SUCCESS"))


def unhex(s):
    return binascii.unhexlify(s)


def hexs(b):
    return binascii.hexlify(b).decode()


def exists(p):
    try:
        open(p).close()
        return True
    except OSError:
        return False


if not exists(RTDS + "index.json"):
    print("no rtds vectors")
    sys.exit(0)
m, out, clock, met, backend = make_meter(sys.argv[1], config={"firmware_version": "0123ABCD"})
clock.set(T2015)
sent = []
m.tunnel_send = sent.append
from firmware.gbcs import keystore as K
from firmware.gbcs import core

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
K.install(m, unhex(DEVICE), bytes(32), hashlib.sha256(b"OpenESME GBCS test device DS key").digest(),
          cells, zs)
del cells, zs
core.set_device_counter(m, 2001)


def tariff(m):
    t = m.tariff
    print("  prices", t.prices[0], t.prices[1], t.prices[48], "standing", t.sc_amount,
          "scaler", t.scaler, "currency", t.currency, "counters", t.counters[0])
    print("  pending", sorted(t.pending()), "seasons", t.calendar.seasons,
          "names", [t.calendar.season_name(i) for i in range(len(t.calendar.seasons))])


def same_as(path, r):
    """r equals the RTDS file's message (read in pieces: the board's heap)."""
    if r is None:
        return False
    i = 0
    with open(path) as fh:
        while True:
            h = fh.read(128).strip()
            if not h:
                break
            if unhex(h) != r[i:i + len(h) // 2]:
                return False
            i += len(h) // 2
    return i == len(r)


for name, f in MSGS:
    gc.collect()
    m._gctr = [0, {}]                  # a fresh counter store per RTDS vector (README)
    if name == "ecs05":
        m.tariff.counters[0] = 500     # set-up: a block counter that has counted
    with open(RTDS + "messages/" + f + "_COMMAND_GBCS.HEX") as fh:
        cmd = unhex(fh.read().strip())
    r = m.gbcs_message(cmd)
    del cmd
    gc.collect()
    same = same_as(RTDS + "messages/" + f + "_RESPONSE_GBCS.HEX", r)
    sys.stdout.write(name + " ")
    if r is None:
        sys.stdout.write("none")
    for i in range(0, len(r or b""), 64):     # in pieces: the heap is the board's
        sys.stdout.write(hexs(r[i:i + 64]))
    print(" as-rtds" if same else "")
    r = None
    tariff(m)
sch = [s for s in m.snapshots.schedules if s[0] == 0xB1]
print("billing calendar", sch)
due = m.gbcs_due
print("due", due)
clock.set(due - 2)
for i in range(4):
    n = len(sent)
    clock.advance(1)
    m.tick()
    for a in sent[n:]:
        print("tick", i, "alert", hexs(a))
print("due", m.gbcs_due)
tariff(m)
