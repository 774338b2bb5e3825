# Differential: metering formatting on both runtimes.
from firmware.metering import format as F

for fmt in range(256):
    for raw, m, d in ((0, 1, 1000), (12345678, 1, 1000), (-1500, 1, 1000),
                      (2 ** 48 - 1, 3, 7), (987654, 10, 1)):
        print(fmt, raw, m, d, F.render(raw, m, d, fmt))
for wh in (0, 1, 999, 1000, 123456789, 5 * 10 ** 9):
    for m, d in ((1, 1000), (1, 100), (2, 3000), (1, 1)):
        print("wire", wh, m, d, F.to_wire(wh, m, d))
