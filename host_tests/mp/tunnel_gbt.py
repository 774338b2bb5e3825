# Differential: the Tunneling server and GBT through the meter on both
# runtimes (clusters/tunneling.py, gbcs/gbt.py): RequestTunnel, a 3986-octet
# command as a GBT series over APS fragments with a block held back (Request
# Block Resend), a stand-in GBCS layer answering 1402 octets (two GBT
# blocks), a resend request, a power cut in the middle of a series, an
# oversized series refused. With "heap" as the second argument (MicroPython)
# it prints the heap figures instead of comparing them.
import gc
import sys
import binascii

from common import make_meter, store_dir
from firmware.zcl import aps as A
from firmware.gbcs.gbt import fragments
from firmware.gbcs import gbt as G

DEV = b"\x00\xdb\x12\x34\x56\x78\x90\xa0"
SUP = b"\x90\xb3\xd5\x1f\x30\x01\x00\x00"
HEAP = len(sys.argv) > 2 and sys.argv[2] == "heap"


def msg(n, oc, orig, recip, cra, a=0, b=-1):
    """Octets a..b of a deterministic GBCS message of n octets (Grouping
    Header, then a filler payload), built into one bytearray."""
    if b < 0:
        b = n
    m = bytearray(b - a)
    h = bytearray(36)
    h[0] = 0xDF
    h[1] = 9
    h[2] = cra
    h[10] = oc
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
    for j in range(a, b):
        m[j - a] = h[j] if j < 36 else 0 if j == n - 1 else ((j - 36) * 7 + oc) & 0xFF
    return m


def block(n, oc, i):
    """GBT block i of the command msg(n, oc, SUP, DEV, 1), made when sent
    (the script holds no whole command: the board's heap is the meter's)."""
    nb = (n + 1148) // 1149
    hdr = G.grouping_fields(msg(n, oc, SUP, DEV, 1, 0, 40))
    return G.build(hdr, 6 | (0x80 if i == nb else 0), i, 0,
                   msg(n, oc, SUP, DEV, 1, (i - 1) * 1149, min(n, i * 1149)))


class Rig:
    def __init__(self, root):
        self.root = root
        self.seq = 0x10
        self.calls = []
        self.boot()

    def boot(self):
        self.m = None               # a power cut: the old meter's RAM is gone
        gc.collect()
        self.m, self.out, self.clock, _, self.be = make_meter(self.root)
        self.m.gbcs_message = self.answer
        del self.out[:]

    def answer(self, buf):
        self.calls.append(len(buf))
        if HEAP:      # the peak: the whole series handed over, its frames in flight
            gc.collect()
            self.peak = gc.mem_free()
        return RSP

    def send(self, cmd, payload):
        self.seq = (self.seq + 1) & 0xFF
        pl = bytes([0x11, self.seq, cmd]) + payload
        a = A.Aps(0, 1, 0x4E21, 1, A.PROFILE_SE, 0x0704, pl, True)
        lim = self.m.zcl.limit(True)
        if len(pl) <= lim:
            self.m.on_aps(a)
        else:
            for f in fragments(a, lim):
                self.m.on_aps(f)
        return self.take()

    def transfer(self, data):
        return self.send(2, b"\x01\x00" + data)

    def take(self):
        r = []
        for f in self.out:
            r.append("%s%d:%08x" % ("f%04x/" % f.frag if f.frag else "", len(f.payload),
                                    binascii.crc32(f.payload) & 0xFFFFFFFF))
        del self.out[:]
        return " ".join(r)


RSP = msg(1402, 7, DEV, SUP, 2)


def main():
    r = Rig(store_dir())
    print("request", r.send(0, b"\x06\xff\xff\x00\xdc\x05"))
    print("protocols", r.send(6, b"\x00"))
    gc.collect()
    free0 = gc.mem_free() if HEAP else 0
    print("block1", r.transfer(block(3986, 1, 1)))
    print("block3", r.transfer(block(3986, 1, 3)))
    print("block4", r.transfer(block(3986, 1, 4)))
    print("calls", r.calls)
    if HEAP:    # the tick with a tunnel open and a series waiting for a resend: no allocation
        import micropython
        for _ in range(60):       # warm-up: the boot's time request, the first tariff change
            r.clock.advance(1)
            r.m.tick()
        del r.out[:]
        gc.collect()
        micropython.heap_lock()
        try:
            for _ in range(120):
                r.clock.advance(1)
                r.m.tick()
            print("heap_lock ticks with a tunnel and a pending series ok")
        finally:
            micropython.heap_unlock()
    print("block2", r.transfer(block(3986, 1, 2)))
    if HEAP:
        gc.collect()
        print("heap in use at the hand-over of a maximal series", free0 - r.peak)
        print("heap kept after a series and its response", free0 - gc.mem_free())
    print("calls", r.calls)
    hdr = bytes(RSP[2:11]) + SUP + DEV + b"\x01\x00"
    print("resend2", r.transfer(bytes(G.build(hdr, 1, 1, 1, b""))))
    # power cut mid-series: blocks 1-2 before, 3-4 after; 1-2 asked for again
    r.calls = []
    r.transfer(block(3986, 1, 1))
    r.transfer(block(3986, 1, 2))
    r.boot()
    print("after cut", r.transfer(block(3986, 1, 3)), "|", r.transfer(block(3986, 1, 4)))
    r.transfer(block(3986, 1, 1))
    print("complete", r.transfer(block(3986, 1, 2)) != "", r.calls)
    print("resend1 after cut", r.transfer(bytes(G.build(hdr, 1, 2, 0, b""))))
    print("ack", r.transfer(bytes(G.build(hdr, 63, 3, 2, b""))), r.m.tunneling.gbt.out)
    # oversized: 12 blocks announced by their numbers; none over 4 is stored
    gc.collect()
    free0 = gc.mem_free() if HEAP else 0
    res = []
    for i in range(1, 13):
        r.transfer(block(1149 * 12, 3, i))
        res.append(r.m.tunneling.gbt.have)
    if HEAP:
        gc.collect()
        print("heap kept after an oversized series", free0 - gc.mem_free())
    print("oversized", res, r.m.tunneling.gbt.refused, r.calls)
    print("errors", r.m.zcl.handler_errors, r.m.tunneling.frag.dropped)


if __name__ == "__main__" or True:
    main()
