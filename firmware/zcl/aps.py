# APS-level message model (ZigBee PRO 05-3474 §2.2.5): what the HAN link
# carries between the radio/stack side and the ZCL engine.
#
# Link encoding (little-endian):
#   flags(1) src(2) src_ep(1) dst(2) dst_ep(1) profile(2) cluster(2) payload
#   flags b0 = received/sent with APS link-key security.
#   flags b1 = an APS fragment: the APS extended header follows the 11
#   octets (ZigBee PRO §2.2.5.1.8): extended frame control (1 first
#   fragment, 2 a later one), block number (first: the number of blocks;
#   later: the block's index); Aps.frag = control << 8 | block, 0 for an
#   unfragmented frame (clusters/tunneling.py: only Tunneling fragments).
import struct

from .status import DecodeError

PROFILE_ZDO = const(0x0000)
_PROFILE_HA = const(0x0104)
PROFILE_SE = const(0x0109)
_PROFILE_WILDCARD = const(0xFFFF)

_ADDR_COORDINATOR = const(0x0000)   # the comms hub is the coordinator / TC
_ADDR_BCAST_MIN = const(0xFFF8)     # 0xFFF8..0xFFFF are broadcast addresses

_F_SECURED = const(0x01)
_F_FRAG = const(0x02)
HDR_LEN = const(11)
_FMT = "<BHBHBHH"


class Aps:
    frag = 0

    def __init__(self, src, src_ep, dst, dst_ep, profile, cluster, payload,
                 secured=True):
        self.src = src
        self.src_ep = src_ep
        self.dst = dst
        self.dst_ep = dst_ep
        self.profile = profile
        self.cluster = cluster
        self.payload = payload
        self.secured = secured

    @property
    def broadcast(self):
        return self.dst >= _ADDR_BCAST_MIN

    def encode(self):
        out = bytearray(HDR_LEN + (2 if self.frag else 0) + len(self.payload))
        self.encode_into(out)
        return out

    def encode_into(self, out):
        """The message written at the start of out (long enough); a
        memoryview of what was written."""
        o = HDR_LEN
        fr = self.frag
        struct.pack_into(_FMT, out, 0,
                         (_F_SECURED if self.secured else 0) | (_F_FRAG if fr else 0),
                         self.src, self.src_ep, self.dst, self.dst_ep, self.profile, self.cluster)
        if fr:
            out[o] = fr >> 8
            out[o + 1] = fr & 0xFF
            o += 2
        n = o + len(self.payload)
        out[o:n] = self.payload
        return memoryview(out)[:n]


def decode(buf):
    if len(buf) < HDR_LEN:
        raise DecodeError("aps")
    f, src, sep, dst, dep, prof, cl = struct.unpack_from(_FMT, buf, 0)
    o = HDR_LEN + (2 if f & _F_FRAG else 0)
    if len(buf) < o:
        raise DecodeError("aps")
    m = Aps(src, sep, dst, dep, prof, cl, bytes(buf[o:]), bool(f & _F_SECURED))
    if o > HDR_LEN:
        m.frag = buf[HDR_LEN] << 8 | buf[HDR_LEN + 1]
    return m


# The names above that only the host's tests and tools read: public there,
# folded private constants on a board, no global each in this module's dict
# on its heap (issue #18).
if __import__("sys").implementation.name != "micropython":
    PROFILE_HA = _PROFILE_HA
    PROFILE_WILDCARD = _PROFILE_WILDCARD
    ADDR_COORDINATOR = _ADDR_COORDINATOR
