# Crafted link input (nested false frames) on the board-sized heap and stack:
# the meter's link parser must survive and still find the good frame after it.
from common import nested_false_frames
from firmware import hanlink as L

got = []
d = L.Deframer(lambda t, p: got.append(bytes(p)))
d.feed(nested_false_frames(140))
d.feed(L.encode(L.T_APS, b"ok"))
print("frames", len(got), "bad", d.bad)
