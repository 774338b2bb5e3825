# APS-level message model (ZigBee PRO 05-3474 §2.2.5): what the HAN link
# carries between the radio/stack side and the ZCL engine.
#
# Link encoding (little-endian):
#   flags(1) src(2) src_ep(1) dst(2) dst_ep(1) profile(2) cluster(2) payload
#   flags b0 = received/sent with APS link-key security.
import struct

from ..compat import const
from .status import DecodeError

PROFILE_ZDO = const(0x0000)
PROFILE_HA = const(0x0104)
PROFILE_SE = const(0x0109)
PROFILE_WILDCARD = const(0xFFFF)

ADDR_COORDINATOR = const(0x0000)   # the comms hub is the coordinator / TC
_ADDR_BCAST_MIN = const(0xFFF8)     # 0xFFF8..0xFFFF are broadcast addresses

_F_SECURED = const(0x01)
HDR_LEN = const(11)
_FMT = "<BHBHBHH"


class Aps:
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
        out = bytearray(HDR_LEN + len(self.payload))
        self.encode_into(out)
        return out

    def encode_into(self, out):
        """The message written at the start of out (long enough); a
        memoryview of what was written."""
        n = HDR_LEN + len(self.payload)
        struct.pack_into(_FMT, out, 0, _F_SECURED if self.secured else 0,
                         self.src, self.src_ep, self.dst, self.dst_ep,
                         self.profile, self.cluster)
        out[HDR_LEN:n] = self.payload
        return memoryview(out)[:n]


def decode(buf):
    if len(buf) < HDR_LEN:
        raise DecodeError("aps")
    f, src, sep, dst, dep, prof, cl = struct.unpack_from(_FMT, buf, 0)
    return Aps(src, sep, dst, dep, prof, cl, bytes(buf[HDR_LEN:]), bool(f & _F_SECURED))
