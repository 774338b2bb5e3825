# HAN link: framed byte stream between the Zigbee side and the application
# (UART/USB-CDC to the radio co-processor on boards, TCP loopback on the host).
#
#   SOF 7E A5 | length u16 LE (type + payload) | type u8 | payload | CRC-16
#   CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over length, type, payload,
#   sent little-endian.
# A frame longer than MAX_LEN or with a bad CRC is dropped and the parser
# rescans the bytes after its SOF, so garbage on the line costs at most the
# frames it overlaps.
#
# Inter-octet timeout: a header announcing up to MAX_LEN octets with too few
# after it would otherwise swallow every later frame until that many octets
# had arrived (issue #16, defect 3). A sender writes a frame back to back, so
# once the line has been idle for IDLE_MS in the middle of a frame, that frame
# is dead: the transport calls expire() and the parser drops it and rescans
# the octets after its SOF, so a good frame that followed the false header is
# still found. IDLE_MS: a whole MAX_LEN frame takes 606 x 86.8 us = 53 ms at
# 115200 baud 8N1 and its octets come well under 1 ms apart from a UART, a
# USB-CDC bridge (1 ms frames) or TCP loopback (one send per frame); 50 ms is
# far above that jitter and far below any requester's retry time (seconds).
# Only the transport knows the line is idle (nothing waiting in its receive
# buffer), so feed() never times anything out itself: a main loop that was
# busy (a flash write, an ECDH) and then reads a frame's late half from the
# buffer must not take its own delay for a gap on the line.
import struct

from .compat import ticks_ms, ticks_diff

SOF0 = const(0x7E)
_SOF1 = const(0xA5)
MAX_LEN = const(600)

T_APS = const(0x01)        # an APS frame (zcl/aps.py encoding), both ways
T_CTRL = const(0x10)       # bench control request (JSON), host -> meter
T_CTRL_RSP = const(0x11)   # bench control response (JSON), meter -> host
T_EVENT = const(0x12)      # meter event (JSON): time marks, alerts
T_CTRL_MORE = const(0x13)  # a non-final chunk of a long control response
CHUNK = const(512)         # control responses are split into chunks this size
IDLE_MS = const(50)        # inter-octet timeout inside a frame (see above)

# CRC-16/CCITT-FALSE (poly 0x1021) a nibble at a time without a table: for a
# nibble v the table entry v x 0x1021 over GF(2) is (v << 12) ^ (v << 5) ^ v
# (degree < 16, nothing to reduce). No constant table: a frozen tuple of
# values >= 0x2000 would hold long ints whose arithmetic allocates on a board.
# Over data[lo:hi] (hi < 0: to the end) read in place: a slice or memoryview
# of the frame would allocate, so the check and the encoder allocate nothing.
def crc16(data, crc=0xFFFF, lo=0, hi=-1):
    if hi < 0:
        hi = len(data)
    for i in range(lo, hi):
        b = data[i]
        v = (crc >> 12) ^ (b >> 4)
        crc = ((crc << 4) & 0xFFFF) ^ (v << 12) ^ (v << 5) ^ v
        v = (crc >> 12) ^ (b & 0x0F)
        crc = ((crc << 4) & 0xFFFF) ^ (v << 12) ^ (v << 5) ^ v
    return crc


def encode(ftype, payload):
    out = bytearray(len(payload) + 7)     # exactly one frame
    encode_into(out, ftype, payload)
    return out


def encode_into(out, ftype, payload):
    """The frame of payload written into out (a preallocated buffer of at
    least len(payload) + 7 octets); a memoryview of it (nothing else is
    allocated, so a full heap can still answer)."""
    n = len(payload) + 1
    if n > MAX_LEN or n + 6 > len(out):
        raise ValueError("frame")
    out[0] = SOF0
    out[1] = _SOF1
    struct.pack_into("<HB", out, 2, n, ftype)
    out[5:5 + n - 1] = payload
    struct.pack_into("<H", out, 4 + n, crc16(out, 0xFFFF, 2, 4 + n))
    return memoryview(out)[:n + 6]


class Deframer:
    """Incremental parser; on_frame(type, payload_memoryview) per good frame.
    The memoryview is only valid during the call."""

    def __init__(self, on_frame):
        self.on_frame = on_frame
        self.buf = bytearray(MAX_LEN + 4)
        self._mv = memoryview(self.buf)   # a good frame costs only its payload's view
        self.n = 0
        self.state = 0        # 0 hunt SOF0, 1 hunt _SOF1, 2 in frame
        self.need = 0
        self.bad = 0
        self.frames = 0
        self.timeouts = 0
        self.last = 0         # ticks_ms when the octets of a partial frame last came

    def pending(self):
        """True while a frame has begun and not ended: the transport should
        then wait at most IDLE_MS for more octets and call expire()."""
        return self.state != 0

    def feed(self, data, now=None):
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
                break
        if self.state:
            self.last = ticks_ms() if now is None else now

    def expire(self, now=None):
        """The transport saw no octet arrive for a while. If the partial frame
        has had none for IDLE_MS, drop it and rescan what followed its SOF;
        a frame starting in those octets cannot be complete either (the line
        is idle), so it goes too, until only whole frames were delivered.
        Returns True if anything was dropped."""
        if not self.state:
            return False
        if now is None:
            now = ticks_ms()
        if ticks_diff(now, self.last) < IDLE_MS:
            return False
        self.timeouts += 1
        while self.state:
            if self.state == 1:           # a lone SOF0: nothing to rescan
                self.state = 0
                break
            self.feed(self._resync(), now)
        return True

    def _byte(self, b):
        """Consume one byte; returns bytes to rescan after a false start."""
        st = self.state
        if st == 0:
            if b == SOF0:
                self.state = 1
            return None
        if st == 1:
            if b == _SOF1:
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
        if crc16(buf, 0xFFFF, 0, end) != crc:
            return self._resync()
        self.state = 0
        self.frames += 1
        self.on_frame(buf[2], self._mv[3:end])
        return None

    def _resync(self):
        # Drop the false SOF; what followed it is scanned again.
        self.bad += 1
        rest = bytes(self.buf[:self.n])
        self.state = 0
        self.n = 0
        return rest


# The names above that only the host's tests and tools read: public there,
# folded private constants on a board, no global each in this module's dict
# on its heap (issue #18).
if __import__("sys").implementation.name != "micropython":
    SOF1 = _SOF1
