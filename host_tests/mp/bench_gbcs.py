# make bench (tools/benchmarks.py gbcs), on either runtime. argv[2]: JSON
# with the config, the RTDS keystore (tools/gbcs_host.rtds_keystore), the
# RTDS ECS04b command (critical: KRP signature checked, response signed) and
# the repeat count. Prints one JSON line:
#   ecs04b_ms: wall time from handing the meter the command's last
#     TransferData APS frame to the signed response being queued on the
#     link (each repeat with the Execution Counters cleared: the same command
#     again); native: firmware.crypto runs on the native module;
#   gbt_heap (MicroPython): heap in use, above the meter with a tunnel open,
#     at the hand-over of a maximal GBT series (4 blocks, 4596 octets, the
#     message read back from flash) to a stand-in GBCS layer answering 1402
#     octets (a 2-block series back);
#   gbt_flash: octets written to flash for that series (blocks in, the
#     outgoing series and its record); series: the length handed over
#     (4596), frames_out: the APS frames of the answer sent.
import gc
import json
import sys

from common import make_meter, us, us_diff
from firmware.zcl import aps as A
from firmware.gbcs.gbt import fragments
from firmware.gbcs import gbt as G

with open(sys.argv[2]) as f:
    inp = json.load(f)
m, out, clock, met, be = make_meter(sys.argv[1], config=inp["config"])
clock.set(inp["utc"])
import firmware.crypto as C  # noqa: E402
from firmware.gbcs import keystore as K  # noqa: E402
from firmware.gbcs import core  # noqa: E402

ks = inp["keystore"]
unhex = bytes.fromhex
from common import keystore_args  # noqa: E402
K.install(m, *keystore_args(ks))
cmd = unhex(inp["ecs04b"])
reps = inp["repeats"]
del inp, ks
seq = [0x10]
written = [0]
w_at, w_parts = be.write_at, be.write_parts


def write_at(name, off, data):
    written[0] += len(data)
    w_at(name, off, data)


def write_parts(name, parts):
    for p in parts:
        written[0] += len(p)
    w_parts(name, parts)


be.write_at = write_at
be.write_parts = write_parts


def frames(c, payload):
    """The APS frames of a Tunneling client-to-server command."""
    seq[0] = (seq[0] + 1) & 0xFF
    pl = bytes([0x11, seq[0], c]) + payload
    a = A.Aps(0, 1, 0x4E21, 1, A.PROFILE_SE, 0x0704, pl, True)
    lim = m.zcl.limit(True)
    return [a] if len(pl) <= lim else list(fragments(a, lim))


for f in frames(0, b"\x06\xff\xff\x00\xdc\x05"):     # RequestTunnel: GB-HGRP, 1500
    m.on_aps(f)
tid = out[-1].payload[3:5]
del out[:]
times = []
for _ in range(reps):
    core.counters(m)[1].clear()
    fr = frames(2, tid + cmd)
    for f in fr[:-1]:
        m.on_aps(f)
    gc.collect()
    t0 = us()
    m.on_aps(fr[-1])
    t1 = us()
    assert out, "no response"
    times.append(us_diff(t1, t0) / 1000)
    del out[:]


SUP = b"\x90\xb3\xd5\x1f\x30\x01\x00\x00"
DEV = b"\x00\xdb\x12\x34\x56\x78\x90\xa0"


def msg(n, a, b, cra=1, orig=SUP, recip=DEV):
    """Octets a..b of a deterministic GBCS message of n octets (header, filler)."""
    h = bytearray(36)
    h[0] = 0xDF
    h[1] = 9
    h[2] = cra
    h[10] = 9
    h[11] = 8
    h[12:20] = orig
    h[20] = 8
    h[21:29] = recip
    h[30] = 2
    h[31] = 1
    k = n - 37
    h[33] = 0x82
    h[34] = k >> 8
    h[35] = k & 0xFF
    out_ = bytearray(b - a)
    for j in range(a, b):
        out_[j - a] = h[j] if j < 36 else 0 if j == n - 1 else (j * 7) & 0xFF
    return out_


N = 4 * 1149
peak = [0, 0]
RSP = bytes(msg(1402, 0, 1402, 2, DEV, SUP))


def answer(buf):
    peak[1] = len(buf)
    gc.collect()
    try:
        peak[0] = gc.mem_free()
    except AttributeError:
        pass
    return RSP


m.gbcs_message = answer
gc.collect()
try:
    free0 = gc.mem_free()
except AttributeError:
    free0 = None
hdr = G.grouping_fields(msg(N, 0, 40))
written[0] = 0
for i in range(1, 5):
    blk = G.build(hdr, 6 | (0x80 if i == 4 else 0), i, 0, msg(N, (i - 1) * 1149, i * 1149))
    for f in frames(2, tid + blk):
        m.on_aps(f)
    blk = None
flash = written[0]
print(json.dumps({"native": bool(C.NATIVE), "ecs04b_ms": times,
                  "gbt_heap": (free0 - peak[0]) if free0 is not None and peak[0] else None,
                  "gbt_flash": flash, "series": peak[1], "frames_out": len(out)}))
