"""pcap writer: HAN traffic as IEEE 802.15.4 (no FCS, LINKTYPE 230) carrying
ZigBee NWK + APS + ZCL, unsecured, so Wireshark dissects the Smart Energy
clusters directly. The meter's link-key secured frames are written as a
sniffer holding the keys would show them (plaintext); the capture says which
frames were secured in the pcap comment-free way: APS counter only.

Layouts: IEEE 802.15.4-2006 §7.2.1 (MAC), ZigBee PRO 05-3474 §3.3.1 (NWK)
and §2.2.5.1 (APS).
"""
import struct

LINKTYPE_IEEE802_15_4_NOFCS = 230
PAN_ID = 0x1A62
ZB_EPOCH_UNIX = 946684800     # 2000-01-01T00:00:00Z as a Unix time


class PcapWriter:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535,
                                 LINKTYPE_IEEE802_15_4_NOFCS))
        self.mac_seq = 0
        self.nwk_seq = 0
        self.aps_ctr = 0
        self.count = 0
        self._last_t = None
        self._usec = 0

    def write_aps(self, utc, msg):
        """One APS frame (firmware.zcl.aps.Aps) at simulated UTC time."""
        bcast = msg.dst >= 0xFFF8
        # MAC: data frame, PAN id compression, short dst and src addressing,
        # ack request on unicast.
        fc = 0x0001 | 0x0040 | (2 << 10) | (2 << 14) | (0 if bcast else 0x0020)
        mac = struct.pack("<HBHHH", fc, self.mac_seq & 0xFF, PAN_ID,
                          0xFFFF if bcast else msg.dst, msg.src)
        # NWK: data frame, protocol version 2, no security.
        nwk = struct.pack("<HHHBB", 0x0008, msg.dst, msg.src, 30, self.nwk_seq & 0xFF)
        # APS: data frame, unicast or broadcast delivery, no APS security.
        aps_fc = 0x08 if bcast else 0x00
        aps = struct.pack("<BBHHBB", aps_fc, msg.dst_ep, msg.cluster, msg.profile,
                          msg.src_ep, self.aps_ctr & 0xFF)
        self.mac_seq += 1
        self.nwk_seq += 1
        self.aps_ctr += 1
        pkt = mac + nwk + aps + bytes(msg.payload)
        # Frames within one simulated second get microsecond offsets so that
        # their order survives in tools that sort by time.
        if utc == self._last_t:
            self._usec += 1000
        else:
            self._last_t = utc
            self._usec = 0
        self.f.write(struct.pack("<IIII", utc + ZB_EPOCH_UNIX, self._usec, len(pkt), len(pkt)))
        self.f.write(pkt)
        self.count += 1

    def close(self):
        self.f.close()
