# MicroPython only: the HAN link's CRC allocates nothing (issue #18). An
# 83-octet frame (76 payload octets) is checked and its CRC computed into the
# frame in place under micropython.heap_lock(); a Deframer receiving whole
# frames allocates only the payload view it hands to on_frame (counted with
# the collector off), and a frame encoded into a reused buffer only the
# view encode_into returns.
import gc
import sys
import struct

from firmware import hanlink as L

try:
    import micropython
    micropython.heap_lock
except (ImportError, AttributeError):
    print("SKIP")
    sys.exit(0)

payload = bytes((i * 37 + 11) & 0xFF for i in range(76))
frame = L.encode(L.T_APS, payload)
assert len(frame) == 83
want = frame[81] | (frame[82] << 8)
buf = bytearray(83)
buf[:] = frame
got = [0, 0]


def locked(n):
    """n CRC checks of the frame and n CRC encodes into buf, heap locked:
    True if nothing allocated."""
    ok = False
    err = None
    micropython.heap_lock()
    try:
        for i in range(n):
            if L.crc16(frame, 0xFFFF, 2, 81) != want:     # as Deframer checks it
                raise ValueError("crc")
            struct.pack_into("<H", buf, 81, L.crc16(buf, 0xFFFF, 2, 81))  # as encode_into
        ok = True
    except MemoryError as e:
        err = e
    micropython.heap_unlock()
    if err is not None:
        sys.print_exception(err)
    return ok


print("heap_lock crc 83-octet frame", "ok" if locked(100) else "ALLOCATED",
      "same", buf == frame)


def on_frame(t, p):
    got[0] += 1
    got[1] = len(p)


d = L.Deframer(on_frame)
out = bytearray(L.MAX_LEN + 7)
n = 50
d.feed(frame)                 # warm-up
gc.collect()
gc.disable()
a0 = gc.mem_alloc()
for i in range(n):
    d.feed(frame)
a1 = gc.mem_alloc()
for i in range(n):
    L.encode_into(out, L.T_APS, payload)
a2 = gc.mem_alloc()
gc.enable()
# one payload view per frame received; encode_into: its returned view
view = 2 * 16 if sys.maxsize > 2 ** 32 else 16    # a memoryview object: 2 GC blocks on 64-bit
print("deframe frames", got[0] - 1, "len", got[1], "bytes per frame", (a1 - a0) // n,
      "view", view)
print("encode_into bytes per frame", (a2 - a1) // n, "same", bytes(out[:83]) == bytes(frame))
