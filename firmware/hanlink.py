# HAN link: framed byte stream between the Zigbee side and the application
# (UART/USB-CDC to the radio co-processor on boards, TCP loopback on the host).
#
#   SOF 7E A5 | length u16 LE (type + payload) | type u8 | payload | CRC-16
#   CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over length, type, payload,
#   sent little-endian.
# A frame longer than MAX_LEN or with a bad CRC is dropped and the parser
# rescans the bytes after its SOF, so garbage on the line costs at most the
# frames it overlaps.
import struct

from .compat import const

SOF0 = const(0x7E)
SOF1 = const(0xA5)
MAX_LEN = const(600)

T_APS = const(0x01)        # an APS frame (zcl/aps.py encoding), both ways
T_CTRL = const(0x10)       # bench control request (JSON), host -> meter
T_CTRL_RSP = const(0x11)   # bench control response (JSON), meter -> host
T_EVENT = const(0x12)      # meter event (JSON): time marks, alerts
T_CTRL_MORE = const(0x13)  # a non-final chunk of a long control response
CHUNK = const(512)         # control responses are split into chunks this size

# Nibble table for CRC-16/CCITT: 16 entries instead of 256 (flash vs speed).
_CRC_NIB = (0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50A5, 0x60C6, 0x70E7,
            0x8108, 0x9129, 0xA14A, 0xB16B, 0xC18C, 0xD1AD, 0xE1CE, 0xF1EF)


def crc16(data, crc=0xFFFF):
    t = _CRC_NIB
    for b in data:
        crc = ((crc << 4) & 0xFFFF) ^ t[(crc >> 12) ^ (b >> 4)]
        crc = ((crc << 4) & 0xFFFF) ^ t[(crc >> 12) ^ (b & 0x0F)]
    return crc


def encode(ftype, payload):
    n = len(payload) + 1
    if n > MAX_LEN:
        raise ValueError("frame")
    out = bytearray(n + 6)
    out[0] = SOF0
    out[1] = SOF1
    struct.pack_into("<HB", out, 2, n, ftype)
    out[5:5 + n - 1] = payload
    struct.pack_into("<H", out, 4 + n, crc16(memoryview(out)[2:4 + n]))
    return out


class Deframer:
    """Incremental parser; on_frame(type, payload_memoryview) per good frame.
    The memoryview is only valid during the call."""

    def __init__(self, on_frame):
        self.on_frame = on_frame
        self.buf = bytearray(MAX_LEN + 4)
        self.n = 0
        self.state = 0        # 0 hunt SOF0, 1 hunt SOF1, 2 in frame
        self.need = 0
        self.bad = 0
        self.frames = 0

    def feed(self, data):
        # Iterative: a false start hands back the bytes after its SOF, which
        # are rescanned here, not by recursion (crafted nested false frames
        # would otherwise exhaust a board's stack).
        while data:
            replay = None
            for i in range(len(data)):
                replay = self._byte(data[i])
                if replay is not None:
                    data = replay + bytes(data[i + 1:])
                    break
            if replay is None:
                return

    def _byte(self, b):
        """Consume one byte; returns bytes to rescan after a false start."""
        st = self.state
        if st == 0:
            if b == SOF0:
                self.state = 1
            return None
        if st == 1:
            if b == SOF1:
                self.state = 2
                self.n = 0
                self.need = 2
            elif b != SOF0:
                self.state = 0
            return None
        buf = self.buf
        buf[self.n] = b
        self.n += 1
        if self.n == 2:
            ln = buf[0] | (buf[1] << 8)
            if ln == 0 or ln > MAX_LEN:
                return self._resync()
            self.need = ln + 4
        if self.n < self.need:
            return None
        end = self.need - 2
        crc = buf[end] | (buf[end + 1] << 8)
        mv = memoryview(buf)
        if crc16(mv[0:end]) != crc:
            return self._resync()
        self.state = 0
        self.frames += 1
        self.on_frame(buf[2], mv[3:end])
        return None

    def _resync(self):
        # Drop the false SOF; what followed it is scanned again.
        self.bad += 1
        rest = bytes(self.buf[:self.n])
        self.state = 0
        self.n = 0
        return rest
