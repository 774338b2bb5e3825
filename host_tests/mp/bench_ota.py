# make bench (tools/benchmarks.py ota): one OTA download of the image file
# argv[2] (200 KB) from tools/otaserver.py at the default block size, on
# either runtime: wall time of the download (the link in between is the
# lockstep one of the tests: no air time), then of the verification (SHA-256
# read back + ECDSA), flash octets written (image and records), and the live
# heap during the download (MicroPython: after a collection every 256 blocks,
# above the booted meter's). Prints one JSON line.
import gc
import json
import sys

sys.path.append("../..")
from common import make_meter, us, us_diff   # noqa: E402
from tools import otaserver as OS            # noqa: E402

store, path, pub = sys.argv[1], sys.argv[2], sys.argv[3]
m, out, clock, met, be = make_meter(store, config={"supplier_ds_pub": pub})
written = [0, 0]
w_at, w_parts = be.write_at, be.write_parts


def write_at(name, off, data):
    written[0] += len(data)
    written[1] += 1
    w_at(name, off, data)


def write_parts(name, parts):
    for p in parts:
        written[0] += len(p)
    written[1] += 1
    w_parts(name, parts)


be.write_at = write_at
be.write_parts = write_parts
srv = OS.OtaServer(path)
srv.offsets = None                           # 4000 of them would not fit the board's heap
del out[:]
gc.collect()
try:
    base = gc.mem_alloc()
except AttributeError:
    base = None
peak = 0
t0 = us()
m.on_aps(srv.notify(m.nwk_addr))
# the download without the final block: its response triggers verification
while out:
    msgs = out[:]
    del out[:]
    for msg in msgs:
        if msg.cluster != 0x19:
            continue
        if msg.payload[2] == 0x03 and srv.requests % 256 == 255 and base is not None:
            gc.collect()
            peak = max(peak, gc.mem_alloc() - base)
        for r in srv.handle(clock.now(), msg):
            m.on_aps(r)
t1 = us()
ok = m.ota.read(6) == 6
from firmware.ota import client as O         # noqa: E402
gc.collect()
t2 = us()
ok = ok and O.verify(m.ota) == 1             # the check alone, again
t3 = us()
print(json.dumps({"ok": ok, "size": srv.size, "blocks": srv.requests,
                  "block": -(-srv.bytes_sent // max(1, srv.requests)),
                  "total_ms": us_diff(t1, t0) // 1000,
                  "verify_ms": us_diff(t3, t2) // 1000, "flash_bytes": written[0],
                  "flash_writes": written[1], "ram": peak if base is not None else None}))
