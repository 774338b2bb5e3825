# Differential: the link's inter-octet timeout (hanlink.IDLE_MS) with the
# clock passed in, on both runtimes: a header announcing more octets than
# ever come, nested ones, a lone SOF, and a frame whose halves arrive apart
# but within the timeout.
from common import hexs
from firmware import hanlink as L

got = []
d = L.Deframer(lambda t, p: got.append("%02x:%s" % (t, hexs(p))))
good = L.encode(L.T_APS, b"ok")
ctrl = L.encode(L.T_CTRL, b'{"op": "sync"}')
t = 1000

# 600 octets announced, then a good frame, then silence
d.feed(b"\x7e\xa5\x58\x02" + good, t)
print("stalled", len(got), d.pending(), d.expire(t + L.IDLE_MS - 1), len(got))
print("expired", d.expire(t + L.IDLE_MS), got, d.pending(), d.bad, d.timeouts)

# nested false headers, then two frames and a lone SOF0: all found at once
t = 2000
d.feed(b"\x7e\xa5\x58\x02" * 40 + good + ctrl + b"\x7e", t)
print("nested", d.expire(t + L.IDLE_MS), got[1:], d.pending(), d.bad, d.timeouts)

# the expire() of an idle parser does nothing
print("idle", d.expire(t + 10 * L.IDLE_MS), d.timeouts)

# a frame split by a pause just under the timeout survives
t = 3000
d.feed(good[:3], t)
print("split", d.expire(t + L.IDLE_MS - 1), d.pending())
d.feed(good[3:], t + L.IDLE_MS - 1)
print("joined", len(got), d.pending(), d.expire(t + 100 * L.IDLE_MS))

# the timeout counts from the last octet of the partial frame, not the first
t = 4000
d.feed(good[:2], t)
d.feed(good[2:5], t + 40)
print("late", d.expire(t + L.IDLE_MS), d.expire(t + 40 + L.IDLE_MS), len(got))

# a short header cut off after its length, then a frame after the pause
t = 5000
d.feed(b"\x7e\xa5\x05", t)
d.expire(t + L.IDLE_MS)
d.feed(good, t + L.IDLE_MS + 1)
print("after", len(got), got[-1], d.pending(), d.bad, d.timeouts)
