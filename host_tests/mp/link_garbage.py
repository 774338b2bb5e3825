# Crafted link input (nested false frames) on the board-sized heap and stack:
# the meter's link parser must survive and still find the good frame after it.
from firmware import hanlink as L

depth = 140
n = 4 * depth + 8
data = bytearray()
for k in range(depth):
    ln = n - 4 * k - 6
    data += b"\x7e\xa5" + bytes((ln & 0xFF, ln >> 8))
data += bytes(n - len(data))
got = []
d = L.Deframer(lambda t, p: got.append(bytes(p)))
d.feed(bytes(data))
d.feed(L.encode(L.T_APS, b"ok"))
print("frames", len(got), "bad", d.bad)
