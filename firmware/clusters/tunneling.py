# Tunneling cluster (0x0704) server: the ESME's end of the GBCS tunnel
# (GBCS v0.8.1 §10.2.2; ZSE 1.x Annex D.6; notes/gbcs-messages-security.md §19).
#
# Every Remote Party Message (or GBT Message) reaches the ESME as the Data of
# a client-to-server TransferData (0x02), nothing added, and leaves as a
# server-to-client TransferData (0x01). The CHF opens the tunnel after CBKE
# with RequestTunnel(protocol 6 GB-HGRP, manufacturer 0xFFFF, no flow
# control, MaximumIncomingTransferSize 1500), again 0xFFFF s after the last
# response, at its power-on and whenever it has a message but no working
# tunnel (§10.2.2.1). The meter answers success with the existing tunnel to
# a client that already holds one (its timer restarts), busy / no more
# tunnel ids when its table (2 tunnels) is full (busy while a tunnel in the
# table is mid GBT series: the CHF retries in 3 minutes, §10.2.2.1; else no
# more ids: the CHF closes its tunnels and retries), protocol / flow control
# unsupported otherwise. CloseTunnel counts only from the tunnel's owner
# (§10.2.2.1); a tunnel idle for CloseTunnelTimeout seconds closes. The
# tunnels and their owners are a record (saved when one opens or closes),
# so they survive a power cut with their ids; their idle timers restart at
# boot. TransferData to an unknown id, from another device or over 1500
# octets answers TransferDataError (0 no such tunnel, 1 wrong device, 2 data
# overflow). Messages the meter sends with no tunnel open (alerts) wait in
# a queue of 4 (the oldest dropped) until the hub opens one.
#
# Long frames: a TransferData of up to 1500 octets is carried by ZigBee APS
# fragmentation (ZigBee PRO 05-3474 §2.2.8.4.5; ZSE 1.x §5.3.8 makes it
# mandatory for Tunneling), also on the HAN link: each fragment is one APS
# frame within the link's frame budget (zcl/engine.py frame_limit) carrying
# the APS extended header (extended frame control 1 = first fragment, block
# = number of blocks; 2 = later fragment, block = its index; zcl/aps.py
# writes it in the link encoding). The receiving end reassembles into one
# region allocated once (Defrag). The HAN link delivers in order, so APS
# block acknowledgements are not modelled: a fragment out of order drops the
# message (the sender retries at its layer: GBT resend, the CHF's retry).
import gc
import struct

from ..compat import STRUCT_ERRORS
from ..platform.clock import NEVER as _NEVER   # clock.py holds the UINT32 sentinel (freezing)
from ..zcl.cluster import Cluster
from ..zcl import aps as A

_GB_HGRP = const(6)
_MAX_IN = const(1500)            # MaximumIncomingTransferSize, GBCS §10.2.2
_N_TUNNELS = const(2)
_QUEUE = const(4)
# The record (platform/store.py load_rec): schema 9, version 1: next tunnel
# id u16, count u8, then per tunnel id u16, address u16, endpoint u8, max
# incoming transfer size u16. Version 0 (earlier firmware saved it untyped,
# and format 1) has the same layout. Safe state: no tunnel (the hub's
# TransferData gets NO_SUCH_TUNNEL and it requests one, ZSE 1.2 §10.6).
_T_SCHEMA = const(9)               # = bootrec.SCHEMAS "tunnel"
_T_VERSION = const(1)
# RequestTunnelResponse TunnelStatus (ZSE D.6.2.4.1)
_ST_SUCCESS = const(0)
_ST_BUSY = const(1)
_ST_NO_IDS = const(2)
_ST_PROTOCOL = const(3)
_ST_FLOW_CONTROL = const(4)
# TransferDataStatus (ZSE D.6.2.4.3)
_TD_NO_SUCH_TUNNEL = const(0)
_TD_WRONG_DEVICE = const(1)
_TD_OVERFLOW = const(2)
_FRAG_MAX = const(1600)          # reassembled ZCL frame: a 1500-octet TransferData and headers


class Defrag:
    """APS fragment reassembly into one preallocated region (ZigBee PRO
    §2.2.8.4.5): add() gives the whole message (its payload a view of the
    region) once the last block of the series has arrived in order, None
    before; an out-of-order block, a new first block or an overflow drops
    what was held."""

    def __init__(self, buf):
        self.buf = buf
        self.n = 0            # blocks in the series (0: none under way)
        self.i = 0            # next block index expected
        self.len = 0
        self.src = -1
        self.dropped = 0

    def add(self, msg):
        ctl, blk = msg.frag >> 8, msg.frag & 0xFF
        p = msg.payload
        if ctl == 1:
            if self.n:
                self.dropped += 1
            self.n, self.i, self.len, self.src = blk, 0, 0, msg.src
        elif ctl != 2 or not self.n or msg.src != self.src or blk != self.i:
            if self.n:
                self.dropped += 1
            self.n = 0
            return None
        if self.len + len(p) > len(self.buf):
            self.dropped += 1
            self.n = 0
            return None
        self.buf[self.len:self.len + len(p)] = p
        self.len += len(p)
        self.i += 1
        if self.i < self.n:
            return None
        self.n = 0
        # a view of the region, valid until the next fragment (no copy of
        # up to 1.5 KB: the meter handles the message before the next one)
        return A.Aps(msg.src, msg.src_ep, msg.dst, msg.dst_ep, msg.profile, msg.cluster,
                     memoryview(self.buf)[:self.len], msg.secured)


def _decode(r):
    next_id, n = struct.unpack_from("<HB", r, 0)
    if n > _N_TUNNELS or len(r) != 3 + 7 * n:
        raise ValueError("tunnel")
    return next_id, [struct.unpack_from("<HHBH", r, 3 + 7 * i) for i in range(n)]


def load_record(store):
    """(next id, [(id, address, endpoint, max size)]) or None (no record, or
    none readable: the safe state). Migration hook: version 0, the untyped
    record of earlier firmware, reads as version 1 (same layout)."""
    got = store.load_rec("tunnel", _T_SCHEMA, _T_VERSION, _decode)
    if got is None and "tunnel" in store.unreadable:
        r = store.load("tunnel")
        try:
            if r is not None:
                got = _decode(r)
                store.unreadable.remove("tunnel")
        except STRUCT_ERRORS:
            pass
    return got


class Tunneling(Cluster):
    ID = 0x0704
    NAME = "Tunneling"
    SECURE = True
    ATTRS = ("0000 CloseTunnelTimeout 21 R 0xFFFF;")
    RX = (
        "00 RequestTunnel ProtocolID:30 ManufacturerCode:21 FlowControlSupport:10 "
        "MaximumIncomingTransferSize:21;"
        "01 CloseTunnel TunnelID:21;"
        "02 TransferData TunnelID:21 Data:REST;"
        "03 TransferDataError TunnelID:21 TransferDataStatus:30;"
        "04 AckTransferData TunnelID:21 NumberOfBytesLeft:21;"
        "05 ReadyData TunnelID:21 NumberOfOctetsLeft:21;"
        "06 GetSupportedTunnelProtocols ProtocolOffset:20;"
    )
    TX = (
        "00 RequestTunnelResponse TunnelID:21 TunnelStatus:30 MaximumIncomingTransferSize:21;"
        "01 TransferData TunnelID:21 Data:REST;"
        "02 TransferDataError TunnelID:21 TransferDataStatus:30;"
        "03 AckTransferData TunnelID:21 NumberOfBytesLeft:21;"
        "04 ReadyData TunnelID:21 NumberOfOctetsLeft:21;"
        "05 SupportedTunnelProtocolsResponse ProtocolListComplete:10 ProtocolCount:20 "
        "Protocols:[ManufacturerCode:21,ProtocolID:30];"
        "06 TunnelClosureNotification TunnelID:21;"
    )

    # Instance state that starts as a constant starts as the class's (an
    # instance member only once set: a smaller member table per meter, issue
    # #18); none is set by next_due/due (the tick).
    next_id = 1
    dropped = 0           # queued messages lost to a full queue
    errors = 0            # TransferDataError sent
    unsent = 0            # messages too large for the tunnel and GBT
    nomem = 0             # the reassembly region could not be had
    frag = None           # Defrag
    gbt = None            # gbcs/gbt.Gbt, made at the first GBT message
    _cur = None           # the tunnel the message being handled came through
    data = None           # the Data of the TransferData being handled

    def __init__(self, app):
        Cluster.__init__(self, app)
        # CloseTunnelTimeout, read at every next_due (held in values)
        self.values[0x0000] = self.stored(0x0000)
        # open tunnels: [id, owner address, owner endpoint, its maximum
        # incoming transfer size, monotonic second of its last activity]
        self.tunnels = []
        self.queue = []            # messages waiting for a tunnel (tunnel_send)
        # the APS reassembly region (1600 octets, Defrag), allocated once
        # when the first tunnel opens (at join, the heap still whole) or,
        # with a tunnel saved before a power cut, at the first fragment
        # after boot (not during construction: the meter's construction
        # hole is in place); GBT keeps its blocks in flash (gbcs/gbt.py)
        got = load_record(app.store)
        if got:
            self.next_id = got[0]
            for t in got[1]:
                self.tunnels.append([t[0], t[1], t[2], t[3], app.clock.mono()])

    def _region(self):
        """The APS reassembly region (None if the heap has no such block:
        long messages are then dropped, counted in nomem, and the meter
        carries on; the next need tries again)."""
        if self.frag is None:
            gc.collect()                   # once: the region from a collected heap
            try:
                self.frag = Defrag(bytearray(_FRAG_MAX))
            except MemoryError:
                self.nomem += 1
        return self.frag

    def _save(self):
        b = bytearray(3 + 7 * len(self.tunnels))
        struct.pack_into("<HB", b, 0, self.next_id, len(self.tunnels))
        for i in range(len(self.tunnels)):
            t = self.tunnels[i]
            struct.pack_into("<HHBH", b, 3 + 7 * i, t[0], t[1], t[2], t[3])
        self.app.store.save("tunnel", b, _T_SCHEMA, _T_VERSION)

    def _find(self, tid):
        for t in self.tunnels:
            if t[0] == tid:
                return t
        return None

    # -- commands --------------------------------------------------------------
    def on_RequestTunnel(self, req, f):
        src, ep = req.aps.src, req.aps.src_ep
        mono = self.app.clock.mono()
        if f["ProtocolID"] != _GB_HGRP or f["ManufacturerCode"] != 0xFFFF:
            st = _ST_PROTOCOL
        elif f["FlowControlSupport"]:
            st = _ST_FLOW_CONTROL
        else:
            st = _ST_SUCCESS
        t = None
        if st == _ST_SUCCESS:
            for x in self.tunnels:
                if x[1] == src and x[2] == ep:
                    t = x                   # the client's own tunnel again: timer restarts
            if t is None:
                if len(self.tunnels) >= _N_TUNNELS:
                    g = self.gbt
                    st = _ST_BUSY if g is not None and (g.key or g.out) else _ST_NO_IDS
                else:
                    t = [self.next_id, src, ep, 0, mono]
                    self.next_id = self.next_id % 0xFFFE + 1
                    self.tunnels.append(t)
            if t is not None:
                self._region()
                t[3] = min(f["MaximumIncomingTransferSize"], _MAX_IN)
                t[4] = mono
                self._save()
        self.reply(req, "RequestTunnelResponse",
                   (t[0] if t else 0xFFFF, st, _MAX_IN))
        if t is not None and self.queue:
            from ..gbcs import gbt
            while self.queue:              # what waited for a tunnel
                gbt.send(self, t, self.queue.pop(0))

    def on_CloseTunnel(self, req, f):
        t = self._find(f["TunnelID"])
        if t is not None and t[1] == req.aps.src and t[2] == req.aps.src_ep:
            self.tunnels.remove(t)
            self._save()
        # GBCS §10.2.2.1: from any other device it is ignored

    def on_TransferData(self, req, f):
        tid = f["TunnelID"]
        t = self._find(tid)
        st = -1
        if t is None:
            st = _TD_NO_SUCH_TUNNEL
        elif t[1] != req.aps.src or t[2] != req.aps.src_ep:
            st = _TD_WRONG_DEVICE
        elif len(f["Data"]) > _MAX_IN:
            st = _TD_OVERFLOW
        if st >= 0:
            self.errors += 1
            self.reply(req, "TransferDataError", (tid, st))
            return
        t[4] = self.app.clock.mono()
        self._cur = t
        # the Data leaves the fields (and this frame): once GBT has copied a
        # block, nothing holds its 1.2 KB while the GBCS layer works
        self.data = f.pop("Data")
        try:
            self.message()
        finally:
            self._cur = None
            self.data = None

    def on_ReadyData(self, req, f):
        pass

    # TransferDataError: the hub could not take a message of ours; GBT
    # resends what is asked for. AckTransferData: flow control is off (GBCS
    # §10.2.2). One function for the three (a function object each costs heap).
    on_TransferDataError = on_AckTransferData = on_ReadyData

    def on_GetSupportedTunnelProtocols(self, req, f):
        # one protocol: GB-HGRP, manufacturer code 0xFFFF (not used)
        # (a dict, built when asked: a constant tuple holding 0xFFFF would
        # freeze as a long int)
        p = [{"ManufacturerCode": 0xFFFF, "ProtocolID": _GB_HGRP}] if f["ProtocolOffset"] == 0 \
            else []
        self.reply(req, "SupportedTunnelProtocolsResponse", (True, len(p), p))

    # -- messages (the work is in gbcs/gbt.py, imported when first needed) -----
    def message(self):
        """The TransferData's Data (self.data) to the GBCS side (gbt.deliver)."""
        from ..gbcs import gbt
        gbt.deliver(self)

    def send_message(self, m):
        """Send a GBCS message to the tunnel it answers (or the first open
        one; Meter.tunnel_send); with none open it waits in the queue."""
        t = self._cur or (self.tunnels[0] if self.tunnels else None)
        if t is None:
            if len(self.queue) >= _QUEUE:
                self.queue.pop(0)
                self.dropped += 1
            self.queue.append(bytes(m))
            return False
        from ..gbcs import gbt
        return gbt.send(self, t, m)

    def defrag(self, msg):
        """An APS fragment from the link: the whole message when complete."""
        if self._region() is None:
            return None
        return self.frag.add(msg)

    # -- time ------------------------------------------------------------------
    def next_due(self):
        """Monotonic second something is due: a tunnel's expiry, a GBT
        series' discard (NEVER: nothing)."""
        d = _NEVER
        to = self.values[0x0000]
        for t in self.tunnels:
            if t[4] + to < d:
                d = t[4] + to
        if self.gbt is not None and self.gbt.next_due < d:
            d = self.gbt.next_due
        return d

    def due(self, mono):
        to = self.values[0x0000]
        n = len(self.tunnels)
        for t in list(self.tunnels):
            if mono >= t[4] + to:
                # CloseTunnelTimeout: closed, and the owner told (ZSE D.6.2.2, D.6.2.4.7)
                self.tunnels.remove(t)
                self.send(t[1], t[2], self.app.esi_ep, "TunnelClosureNotification", (t[0],))
        if len(self.tunnels) != n:
            self._save()
        if self.gbt is not None:
            self.gbt.due(mono)
