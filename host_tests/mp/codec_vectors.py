# Differential: the ZCL type codec and the link framing on fixed and
# pseudo-random input.
from common import hexs, Lcg
from firmware.zcl import types as T
from firmware.zcl.status import DecodeError
from firmware.zcl.frame import encode_fields
from firmware import hanlink as L

# a Report Event Status schema shape: named and positional fields, an
# optional trailing field, a repeated group
SCHEMAS = (
    ((("Id", T.UINT32), ("St", T.ENUM8), ("Sig", 0x100)),
     {"Id": 0xDEADBEEF, "St": 3, "Sig": b"\x01\x02"}, (0xDEADBEEF, 3, b"\x01\x02")),
    ((("Start", T.UTC), ("N", T.UINT8), ("Id?", T.UINT32)), {"Start": 1, "N": 2}, (1, 2)),
    ((("Start", T.UTC), ("N", T.UINT8), ("Id?", T.UINT32)), {"Start": 1, "N": 2, "Id": 3}, (1, 2, 3)),
    ((("G", (("a", T.UINT8), ("b", T.INT16))),), {"G": [{"a": 1, "b": -2}]}, ([(1, -2)],)),
)

VALUES = ((T.UINT8, 7), (T.UINT24, 0xABCDEF), (T.UINT48, 123456789012), (T.INT24, -5),
          (T.INT64, -(1 << 62)), (T.CHARSTR, b"ESME"), (T.LOCTSTR, b"\x00\x01"),
          (T.UTC, 820454400), (T.DATE, (126, 1, 5, 1)), (T.EUI64, 0x0022A3000000E5E1),
          (T.ARRAY, (T.UINT16, [1, 2, 3])), (T.STRUCT, [(T.UINT8, 1), (T.BOOL, 1)]))


def main():
    buf = bytearray(64)
    for t, v in VALUES:
        n = T.encode(t, v, buf, 0)
        back, off = T.decode(t, buf, 0, n)
        print("%02x" % t, hexs(buf[:n]), back == v, off == n)
    rng = Lcg(1)
    errs = 0
    oks = 0
    for i in range(2000):
        t = rng.next()
        data = bytes(rng.next() for _ in range(rng.next(12)))
        try:
            v, off = T.decode(t, data, 0)
            oks += 1
        except DecodeError:
            errs += 1
    print("random decode ok", oks, "errors", errs)
    for schema, named, pos in SCHEMAS:
        a, b = bytearray(16), bytearray(16)
        n = encode_fields(schema, named, a, 0)
        m = encode_fields(schema, pos, b, 0)
        print("fields", hexs(a[:n]), hexs(b[:m]), a[:n] == b[:m])
    got = []
    d = L.Deframer(lambda t, p: got.append(hexs(p)))
    stream = b""
    for i in range(50):
        stream += bytes(rng.next() for _ in range(rng.next(9)))
        stream += L.encode(L.T_APS, bytes(rng.next() for _ in range(rng.next(40))))
    d.feed(stream)
    print("frames", len(got), "bad", d.bad, "crc", "%04x" % L.crc16(stream))


main()
