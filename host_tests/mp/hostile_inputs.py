# Differential: hostile input (issue #16 defects 1, 8, 9) on the board-sized
# heap and stack. CPython and MicroPython must print the same bytes.
from common import make_meter, store_dir, hexs, T0
from firmware.zcl import aps as A
from firmware.zcl import types as T
from firmware.zcl.status import DecodeError, ZclError
from firmware.platform.store import PowerCut


def nested(kind, depth, inner=b"\x20\x05"):
    """depth collections of one element each around a uint8 (type byte
    first, as in a Write Attributes record)."""
    body = inner
    for _ in range(depth):
        if kind == "s":                       # structure: count, then typed elements
            body = b"\x4c\x01\x00" + body
        else:                                 # array/set/bag: element type, count
            t = {"a": 0x48, "e": 0x50, "b": 0x51}[kind]
            body = bytes([t, body[0], 0x01, 0x00]) + body[1:]
    return body


def decode_all(data):
    try:
        v, off = T.decode(data[0], data, 1)
        return "ok %d" % off
    except DecodeError as e:
        return "DecodeError %s" % e.args[0]


def codec():
    for kind in "aseb":
        for depth in (1, 2, T.MAX_NEST, T.MAX_NEST + 1, 190):
            print("nest", kind, depth, decode_all(nested(kind, depth)))
    # mixed: array of structs of sets ..., alternating
    body = b"\x20\x05"
    for i in range(T.MAX_NEST + 1):
        body = (bytes([0x48, body[0], 0x01, 0x00]) + body[1:]) if i & 1 else \
            b"\x4c\x01\x00" + body
        print("mixed", i + 1, decode_all(body))


def show(m, out, cluster, payload, secured=True, src=0):
    m.on_aps(A.Aps(src, 1, 0x4E21, 1, A.PROFILE_SE, cluster, payload, secured))
    r = " ".join(hexs(o.payload) for o in out)
    del out[:]
    return r


class Boom:
    def __init__(self, exc):
        self.exc = exc

    def __call__(self, req, fields):
        raise self.exc


def meter():
    m, out, clock, met, _ = make_meter(store_dir())
    del out[:]
    # defect 1: a nested Write Attributes to Basic, unsecured (579 octets)
    for kind in "as":
        rec = b"\x10\x00" + nested(kind, 190)
        print("write nested", kind, len(rec) + 3, show(m, out, 0x0000, b"\x00\x33\x02" + rec, False))
    ok = nested("a", 2)
    print("write nested ok-depth", show(m, out, 0x0000, b"\x00\x34\x02\x10\x00" + ok, False))
    # defect 9: Read Attributes of ClusterRevision 14 times (frame edge)
    r = show(m, out, 0x0000, b"\x00\x35\x00" + b"\xfd\xff" * 14, False)
    print("read edge", len(r) // 2, r)
    # defect 8: the invalid character string written to LocationDescription
    print("write invalid string", show(m, out, 0x0000, bytes.fromhex("003602100042ff"), False))
    print("location", m.zcl.find(1, 0x0000).stored(0x0010))
    # handlers that raise anything at all: FAILURE, counted; a power cut passes
    ident = m.zcl.find(1, 0x0003)
    for exc in (MemoryError(), RuntimeError("maximum recursion depth exceeded"),
                ZeroDivisionError(), NotImplementedError(), OSError(5), KeyError(1)):
        ident.on_Identify = Boom(exc)
        print("raise", type(exc).__name__, show(m, out, 0x0003, b"\x01\x40\x00\x0a\x00"))
    ident.on_Identify = Boom(PowerCut())
    try:
        show(m, out, 0x0003, b"\x01\x41\x00\x0a\x00")
        print("power cut swallowed")
    except PowerCut:
        print("power cut passes")
    del out[:]
    del ident.on_Identify
    print("identify again", show(m, out, 0x0003, b"\x01\x42\x00\x01\x00"))
    met.load_w = 3600
    for _ in range(60):
        clock.advance(1)
        m.tick()
    del out[:]
    print("alive", m.import_wh, "handler_errors", m.zcl.handler_errors,
          "malformed", m.zcl.malformed)


codec()
meter()
