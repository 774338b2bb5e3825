# Differential: a fixed list of frames and random frames through the meter
# core; every output byte is printed. CPython and MicroPython must agree.
from common import make_meter, store_dir, hexs, Lcg, T0
from firmware.zcl import aps as A
from firmware.compat import crc32

FRAMES = (
    (0x0000, "0001000000040005000700"),          # read Basic
    (0x0702, "0002000000000303030004"),           # read Metering
    (0x0702, "0003060000042a05003c00640000"),     # configure reporting demand
    (0x0702, "000408000004000000"),             # read reporting config
    (0x0000, "000502100042044c6f6674"),             # write LocationDescription
    (0x0000, "00060300002099"),                   # write undivided read-only
    (0x0702, "00070c000010"),                       # discover attributes
    (0x0702, "00081500030a"),                       # discover attributes extended
    (0x0003, "0109000a00"),                         # identify 10 s
    (0x0003, "010a01"),                             # identify query
    (0x0003, "000b110010"),                         # discover commands received
    (0x0003, "000c130010"),                         # discover commands generated
    (0x0000, "0434120d000000"),                   # manufacturer specific
    (0x0b04, "000e000000"),                         # unsupported cluster
    (0x0000, "000f40"),                             # unsupported general command
    (0x0000, "0010000000ff"),                       # malformed (odd)
    (0x0000, "02"),                                 # too short for a header
    (0x000a, "181101000000e2112233440100001809"),   # time response, unsolicited
)


def main():
    m, out, clock, met, _ = make_meter(store_dir())
    for cluster, h in FRAMES:
        m.on_aps(A.Aps(0, 1, 0x4E21, 1, A.PROFILE_SE, cluster, bytes.fromhex(h), True))
        print("in %04x %s ->" % (cluster, h), " ".join(hexs(o.payload) for o in out))
        del out[:]
    met.load_w = 2345
    for i in range(120):
        clock.advance(1)
        m.tick()
    print("tick", m.import_wh, m._ws, " ".join(hexs(o.payload) for o in out))
    del out[:]
    rng = Lcg(7)
    crc = 0
    n_out = 0
    for i in range(300):
        n = rng.next(24)
        p = bytes(rng.next() for _ in range(n))
        cl = (0x0000, 0x0003, 0x0702, 0x000A)[rng.next(4)]
        m.on_aps(A.Aps(0, 1, 0x4E21, 1, A.PROFILE_SE, cl, p, rng.next(2) == 1))
        for o in out:                      # fold outputs as they come (board heap)
            crc = crc32(o.payload, crc)
            n_out += 1
        del out[:]
    print("random", n_out, "%08x" % (crc & 0xFFFFFFFF))
    print("malformed", m.zcl.malformed, "dropped", m.zcl.dropped_unsecured)


main()
