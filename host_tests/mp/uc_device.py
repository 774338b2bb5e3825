# Both runtimes: GBCS group 0 use cases (firmware/gbcs/uc_device.py) through
# Meter.gbcs_message with the RTDS keys (keys.json: the trust-anchor cells
# and the Z values; the meter's own test DS key as tools/gbcs_host's), on a
# meter at 2015-01-01 with the RTDS Get state primed through the command
# surface. Printed: each vector's response (hex), the configuration items
# and maximum demand state it leaves, the GNCA alert before and after the
# alert behaviours turn it off. No RTDS files: one line saying so.
import binascii
import gc
import hashlib
import json
import sys

from common import make_meter

RTDS = "/work/shared/vectors/rtds/"
T2015 = 473385600
CELLS = ((2, 0, 0, "90b3d51f30010000-ds"), (2, 4, 0, "90b3d51f30010000-ka"),
         (2, 4, 1, "90b3d51f30010000-pp-ka"), (3, 0, 0, "90b3d51f30020000-ds"),
         (3, 4, 0, "90b3d51f30020000-ka"), (4, 4, 0, "90b3d51f30000002-ka"),
         (5, 0, 0, "90b3d51f30000004-ds"), (1, 0, 0, "90b3d51f30000001-ds"))
DEVICE = "00DB1234567890A0"
VECTORS = ("6.2.2_ECS26c/ECS26c_6.2.2_SUCCESS", "6.20.1_ECS39a/ECS39a_6.20.1_SINGLE_SUCCESS",
           "3.4_ECS16/ECS16_3.4_SUCCESS", "6.18.1_ECS37/ECS37_6.18.1_SUCCESS",
           "6.18.2_ECS57/ECS57_6.18.2_SOME_OPTIONALS_SUCCESS", "6.12_ECS34/ECS34_6.12_SUCCESS",
           "6.22_ECS25a/ECS25a_6.22_SUCCESS")


def unhex(s):
    return binascii.unhexlify(s)


def hexs(b):
    return binascii.hexlify(b).decode()


def read(name):
    with open(RTDS + "messages/" + name) as f:
        return unhex(f.read().strip())


try:
    f = open(RTDS + "keystore/keys.json")
except OSError:
    print("no RTDS vectors")
    sys.exit(0)
keys = json.load(f)
f.close()
m, out, clock, met, backend = make_meter(sys.argv[1], utc=T2015,
                                         config={"firmware_version": "0123ABCD",
                                                 "entity_id": DEVICE})
clock.set(T2015)
sent = []
m.tunnel_send = sent.append
from firmware.gbcs import keystore as K  # noqa: E402
from firmware.gbcs import core  # noqa: E402
from firmware.gbcs import uc_device as U  # noqa: E402
from firmware.commands import supplier as S  # noqa: E402

cells = []
for role, usage, cu, name in CELLS:
    e = keys["keys"][name]
    cells.append((role, usage, cu, unhex(e["entity_id"]), unhex(e["public_key"])[1:],
                  unhex(e["subject_key_identifier"])))
zs = {}
for name, e in keys["Z_with_" + DEVICE].items():
    zs[unhex(e["remote_party"]) + bytes((1 if "-pp-" in name else 0,))] = unhex(e["Z"])
K.install(m, unhex(DEVICE), bytes(32), hashlib.sha256(b"OpenESME GBCS test device DS key").digest(),
          cells, zs)
del keys, cells, zs
# the RTDS state of ECS26c's Gets
S.set_dev_values(m, 0, b"\x12\x00\xc8", 2, b"\x12\x07\xd0", 1, b"\x12\x03\xe8")
m.profile.max_demand_w = 4775
m.profile.md_p_w = 12122
core.set_device_counter(m, 1999)
a = U.nc_alert(m, 0x810E)
print("gnca", hexs(a) if a else "none")
for name in VECTORS:
    gc.collect()
    m._gctr[1].clear()                    # every RTDS vector starts from fresh counters
    r = m.gbcs_message(read(name + "_COMMAND_GBCS.HEX"))
    print(name.split("/")[1], hexs(r) if r is not None else "none")
d = S.dev_values(m)
for k in sorted(d):
    print("  item", k, hexs(d[k]))
p = m.profile
print("  md", p.max_demand_w, p.md_p_w, p.md_p_reset_t, p.md_ws, p.md_we)
a = U.nc_alert(m, 0x810E)
print("gnca after ECS25a", hexs(a) if a else "none", len(sent))
