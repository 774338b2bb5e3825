# Logging-layer benchmark (make bench): RAM of the profile and logs, and the
# time to append one half-hour profile entry, on this runtime. One JSON line.
import json

from common import store_dir, T0, us as _us, us_diff as _diff, mem
from firmware.platform.store import Store, FileBackend
from firmware.metering.profile import Profile
from firmware.metering.ringlog import SeqLog

root = store_dir()
m0 = mem()
store = Store(FileBackend(root))
p = Profile(store)
logs = [SeqLog(store.backend, n, 100, 10) for n in ("ev.bin", "sec.bin", "pwr.bin")]
p.boot(T0, 0)
m1 = mem()
n = 200
wh = 0
t0 = _us()
for i in range(1, n + 1):
    wh += 250
    p.tick(T0 + i * 1800, wh)          # each call closes one half-hour: one 4-octet append
dt = _diff(_us(), t0)
print(json.dumps({"ram_bytes": (m1 - m0) if m0 is not None else None,
                  "append_us": dt // n}))
