"""The comms hub's OTA Upgrade server (ZCL rev 6 ch. 11; GBCS v0.8.1 §11.4:
the CH is the HAN's one OTA server and holds one ESME image) for the hub
simulator, the bench and the tests.

It serves one OTA file (tools/otaimage.py) with a configurable block size,
response delay, MinimumBlockPeriod and Upgrade End Response time, and
injects faults by the ordinal of the Image Block Request (0 first):
  drop     no response                 dup      the response twice
  corrupt  one data octet flipped      badoff   the block with a wrong offset
  stale    the previous block first    short    one octet fewer than announced
  wait     WAIT_FOR_DATA (retry in wait_s)      abort    ABORT
It offers its image to any Query Next Image Request (a hub that checks
nothing: the client must). Only struct and firmware.zcl.aps: the
MicroPython test scripts use it as well (host_tests/mp/ota_download.py).
"""
import struct

from firmware.zcl.aps import Aps, PROFILE_SE

CLUSTER = 0x0019
_FC = 0x19        # cluster specific, server to client, disable default response


class OtaServer:
    def __init__(self, image, block=64, delay=0, min_period=0, upgrade_time=0xFFFFFFFF,
                 addr=0x0000, ep=1):
        # the OTA file: bytes, or a path read a block at a time (an image
        # larger than a MicroPython heap)
        self.image = image
        self.f = None
        if isinstance(image, str):
            self.f = open(image, "rb")
            self.f.seek(0, 2)
            self.size = self.f.tell()
            self.f.seek(0)
            head = self.f.read(18)
        else:
            self.size = len(image)
            head = image
        self.manuf, self.itype, self.version = struct.unpack_from("<HHI", head, 10)
        self.block = block
        self.delay = delay            # s before each response reaches the meter
        self.min_period = min_period  # MinimumBlockPeriod (ms) sent in WAIT_FOR_DATA
        self.upgrade_time = upgrade_time
        self.wait_s = 3
        self.addr = addr
        self.ep = ep
        self.faults = {}              # block request ordinal -> fault name
        self.queue = []               # [(due, Aps)]
        self.seq = 0x80
        self.requests = 0             # Image Block Requests seen
        self.queries = 0
        self.bytes_sent = 0
        self.offsets = []             # offsets asked for, in order (None: not kept)
        self.high = 0                 # the highest offset asked for
        self.end_status = None        # the client's Upgrade End Request status
        self.ends = []
        self._prev = None

    def _seq(self):
        self.seq = (self.seq + 1) & 0xFF
        return self.seq

    def _frame(self, dst, dst_ep, cmd, payload, seq=None):
        p = bytes([_FC, self._seq() if seq is None else seq, cmd]) + payload
        return Aps(self.addr, self.ep, dst, dst_ep, PROFILE_SE, CLUSTER, p, True)

    def notify(self, dst, dst_ep=1, jitter=100, payload_type=0):
        """Image Notify (cmd 0x00) to the meter."""
        p = bytes([payload_type, jitter])
        if payload_type >= 1:
            p += struct.pack("<H", self.manuf)
        if payload_type >= 2:
            p += struct.pack("<H", self.itype)
        if payload_type >= 3:
            p += struct.pack("<I", self.version)
        return self._frame(dst, dst_ep, 0x00, p)

    def progress(self, width=30):
        """A text progress bar of the highest offset served."""
        done = self.high
        n = self.size
        k = width * done // n if n else 0
        return "[%s%s] %3d%% %d/%d" % ("#" * k, "-" * (width - k), 100 * done // n, done, n)

    def _put(self, now, out, msg):
        if self.delay:
            self.queue.append((now + self.delay, msg))
        else:
            out.append(msg)

    def due(self, now):
        """Delayed responses whose time has come."""
        out = [m for t, m in self.queue if t <= now]
        self.queue = [(t, m) for t, m in self.queue if t > now]
        return out

    def handle(self, now, msg):
        """Responses to one frame from the meter (a list; delayed ones later
        through due())."""
        out = []
        if msg.cluster != CLUSTER or len(msg.payload) < 3 or msg.payload[0] & 0x0B != 0x01:
            return out
        p = msg.payload
        seq, cmd = p[1], p[2]
        d = p[3:]
        src, sep = msg.src, msg.src_ep
        if cmd == 0x01:                                   # Query Next Image Request
            self.queries += 1
            self._put(now, out, self._frame(src, sep, 0x02, struct.pack(
                "<BHHII", 0, self.manuf, self.itype, self.version, self.size), seq))
        elif cmd == 0x03:                                 # Image Block Request
            fc, m, t, v, off, mx = struct.unpack_from("<BHHIIB", d, 0)
            k = self.requests
            self.requests += 1
            if self.offsets is not None:
                self.offsets.append(off)
            self.high = max(self.high, off)
            fault = self.faults.get(k)
            if fault == "drop":
                return out
            if fault == "abort":
                self._put(now, out, self._frame(src, sep, 0x05, b"\x95", seq))
                return out
            if fault == "wait":
                self._put(now, out, self._frame(src, sep, 0x05, struct.pack(
                    "<BIIH", 0x97, now, now + self.wait_s, self.min_period), seq))
                return out
            n = max(0, min(mx, self.block, self.size - off))
            if self.f is not None:
                self.f.seek(off)
                data = bytearray(self.f.read(n))
            else:
                data = bytearray(self.image[off:off + n])
            aoff = off
            if fault == "corrupt" and n:
                data[n // 2] ^= 0x5A
            elif fault == "badoff":
                aoff = off + 1
            elif fault == "short" and n > 1:
                data = data[:-1]
            if fault == "stale" and self._prev is not None:
                self._put(now, out, self._prev)
            f = self._frame(src, sep, 0x05, struct.pack("<BHHIIB", 0, m, t, v, aoff, n) +
                            bytes(data), seq)
            self.bytes_sent += len(data)
            self._put(now, out, f)
            if fault == "dup":
                self._put(now, out, f)
            self._prev = f
        elif cmd == 0x06:                                 # Upgrade End Request
            st, m, t, v = struct.unpack_from("<BHHI", d, 0)
            self.end_status = st
            self.ends.append(st)
            if st == 0x00:
                self._put(now, out, self._frame(src, sep, 0x07, struct.pack(
                    "<HHIII", m, t, v, now, self.upgrade_time), seq))
        return out


def pump(m, out, srv, now, limit=1000000):
    """Carry frames between a meter (its send list out) and the server until
    both are quiet for this second: the meter's OTA frames to the server,
    the server's answers (and delayed ones now due) to the meter. Other
    frames the meter sent are kept in order in the returned list."""
    other = []
    for r in srv.due(now):
        m.on_aps(r)
    while out and limit:
        msgs = out[:]
        del out[:]
        for msg in msgs:
            limit -= 1
            if getattr(msg, "cluster", None) == CLUSTER:
                for r in srv.handle(now, msg):
                    m.on_aps(r)
            else:
                other.append(msg)
    return other
