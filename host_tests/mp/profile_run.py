# Differential: 35 days of profile capture on both runtimes (a shorter run
# than the 14-month CPython test), printing checksums of what was stored.
from common import store_dir, T0
from firmware.compat import crc32
from firmware.metering import profile as PR
from firmware.platform.store import Store, FileBackend

p = PR.Profile(Store(FileBackend(store_dir() + "/p")))
p.boot(T0, 0)
ws = 0
t = T0
minute = 0
while t < T0 + 35 * 86400:
    x = (minute * 2654435761) & 0xFFFFFFFF
    ws += (150 + x % 2400) * 60
    t += 60
    minute += 1
    p.tick(t, ws // 3600)
crc = 0
missing = 0
for i in range(T0 // 1800, p.last_idx + 1):
    v = p.interval(i)
    if v is None:
        missing += 1
    else:
        crc = crc32(bytes((v[0] & 0xFF, v[0] >> 8, v[1])), crc)
print("intervals", p.last_idx - T0 // 1800 + 1, "missing", missing, "crc %08x" % (crc & 0xFFFFFFFF))
print("days", p.day - T0 // 86400, "prev_day", p.prev_day, "prev_week", p.prev_week,
      "prev_month", p.prev_month, "max_demand", p.max_demand_w, p.max_demand_t)
