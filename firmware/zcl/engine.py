# ZCL engine: endpoints, frame dispatch, Default Response rules, sending.
#
# ZCL = ZCL rev 6 (07-5123); ZSE = ZigBee Smart Energy 1.x (07-5356).
from .aps import Aps
from .frame import Header, encode_header, encode_fields
from .status import ZclError, DecodeError
from . import foundation
from ..platform.store import PowerCut

_CMD_DEFAULT_RSP = const(0x0B)
_EP_BROADCAST = const(0xFF)
# Local copies of other modules' constants fold into the bytecode (an
# imported name is a global and a name in flash): the profiles (aps.py),
# the frame control bits (frame.py, ZCL rev 6 §2.4.1.1) and the statuses
# (status.py, ZCL rev 6 Table 2-12).
_PROFILE_HA = const(0x0104)
_PROFILE_SE = const(0x0109)
_PROFILE_WILDCARD = const(0xFFFF)
_FT_CLUSTER = const(1)
_FC_TO_CLIENT = const(0x08)
_FC_NO_DEFAULT_RSP = const(0x10)
_SUCCESS = const(0x00)
_FAILURE = const(0x01)
_MALFORMED_COMMAND = const(0x80)
_UNSUP_MANUF_CLUSTER_COMMAND = const(0x83)
_UNSUP_MANUF_GENERAL_COMMAND = const(0x84)
_UNSUPPORTED_CLUSTER = const(0xC3)

# The largest ZCL frame (APS payload) one 802.15.4 frame carries, so that
# no ZCL response of this engine needs APS fragmentation. Octets of a 127-octet
# PSDU (IEEE 802.15.4-2006 aMaxPHYPacketSize):
#   MAC header 9 (frame control 2, sequence 1, PAN id 2 with PAN id
#     compression, short destination 2, short source 2) + FCS 2      127 - 11 = 116
#   NWK header 8 (frame control 2, destination 2, source 2, radius 1,
#     sequence 1; ZigBee PRO 05-3474 §3.3.1: no IEEE addresses, no
#     multicast control)                                             116 -  8 = 108
#   NWK security (§4.5.1, §4.3.1): auxiliary header 14 (security control
#     1, frame counter 4, source IEEE address 8, key sequence 1) + MIC 4
#                                                                    108 - 18 =  90
#   APS header 8 (§2.2.5.1: frame control 1, destination endpoint 1,
#     cluster 2, profile 2, source endpoint 1, APS counter 1; no extended
#     header, i.e. not fragmented)                                    90 -  8 =  82
#   APS security with a link key, which ZSE 1.x §5.4 requires of every
#     Smart Energy cluster (§4.4.1.1, §4.5.1): auxiliary header 5
#     (security control 1, frame counter 4; we assume no extended nonce,
#     the receiver takes the source IEEE address from the NWK auxiliary
#     header) + MIC 4                                                 82 -  9 =  73
#   source route subframe (§3.3.1.9, a concentrating hub source-routes
#     through relays): relay count 1, relay index 1, 2 per relay.
# With the default 2 relays a secured frame carries 73 - 6 = 67 ZCL octets,
# an unsecured one (Basic/Identify from a device not yet keyed) 82 - 6 = 76.
# APS fragmentation (ZigBee PRO §2.2.8.4.5): ZSE 1.x (stack profile, §5.3
# "Fragmentation") makes it mandatory only for payloads the application
# cannot split: Tunneling Transfer Data (Annex D.6) and Key Establishment
# with a crypto-suite-2 certificate (Initiate Key Establishment 2 + 1 + 1 +
# 74 = 78 octets, Annex C), neither of them this module's (the stack runs
# key establishment; Tunneling TransferData is APS-fragmented both ways by
# clusters/tunneling.py and gbcs/gbt.py send, each fragment within
# frame_limit). Every SE response here that can outgrow a frame has its own
# CommandIndex / TotalNumberOfCommands, or for Get Profile
# MaxNumberOfPeriodsDelivered (ZSE D.3.2.3.1.1), so this engine never
# fragments: a receiver without fragmentation support (optional in ZigBee
# PRO) still gets every ZCL response; only the tunnel needs it, as ZSE
# §5.3.8 requires of a Tunneling client anyway.
_ZCL_MAX_UNSECURED = const(82)
_ZCL_MAX_SECURED = const(73)
_RELAYS_DEFAULT = const(2)
_RELAYS_MAX = const(4)     # the longest fixed-layout command (62 octets) still fits
TX_PAYLOAD = const(3)     # payload offset of a frame we originate (no manufacturer code)


def frame_limit(secured, relays):
    """ZCL octets in one unfragmented frame on a link with this many
    source-route relays (the arithmetic above)."""
    n = _ZCL_MAX_SECURED if secured else _ZCL_MAX_UNSECURED
    return n - 2 - 2 * relays if relays else n


def runs(sizes, room):
    """Consecutive runs [(first, end)] of items with these octet sizes, each
    run as long as fits in room octets (at least one item per run; at least
    one run, empty if there are no items): the pieces of a response split
    by CommandIndex / TotalNumberOfCommands."""
    out = []
    i = 0
    n = len(sizes)
    while True:
        j, used = i, 0
        while j < n and (j == i or used + sizes[j] <= room):
            used += sizes[j]
            j += 1
        out.append((i, j))
        if j >= n:
            return out
        i = j


class Request:
    """One received frame being handled (explicit context, no globals)."""

    def __init__(self):
        self.aps = None
        self.hdr = Header()
        self.ep = 0
        self.responded = False


class Engine:
    def __init__(self, app):
        self.app = app
        self.endpoints = {}          # ep -> {(cluster_id, is_server): Cluster}
        self.device_ids = {}         # ep -> ZSE device id
        self.require_aps_security = True
        self.seq = 0
        self.req = Request()
        self.dropped_unsecured = 0
        self.malformed = 0
        self.handler_errors = 0
        self.oversize = 0            # frames not sent: longer than the link carries
        cfg = getattr(app, "cfg", None) or {}
        self.set_link(cfg.get("source_route_relays", _RELAYS_DEFAULT))

    def set_link(self, relays):
        """Size every frame to the link: self.tx is a view of the transmit
        buffer exactly as long as the frame being built may be (secured, or
        unsecured when answering an unsecured request), so every encoder
        stops at the limit by running out of buffer."""
        if not isinstance(relays, int) or not 0 <= relays <= _RELAYS_MAX:
            raise ValueError("source_route_relays: 0..%d" % _RELAYS_MAX)
        mv = memoryview(bytearray(_ZCL_MAX_UNSECURED))
        self._tx_sec = mv[:frame_limit(True, relays)]
        self._tx_open = mv[:frame_limit(False, relays)]
        self.tx = self._tx_sec

    def limit(self, secured):
        """ZCL octets one frame carries on this link, APS-secured or not."""
        return len(self._tx_sec if secured else self._tx_open)

    def originate(self):
        """The transmit view for a frame the meter originates (always APS
        secured, ZSE §5.4.6)."""
        self.tx = self._tx_sec
        return self.tx

    def room(self):
        """Payload octets after a 3-octet header in the frame being built."""
        return len(self.tx) - TX_PAYLOAD

    def add(self, ep, cluster, device_id=None):
        self.endpoints.setdefault(ep, {})[(cluster.ID, cluster.SERVER)] = cluster
        if device_id is not None:
            self.device_ids[ep] = device_id
        return cluster

    def find(self, ep, cluster_id, server=True):
        t = self.endpoints.get(ep)
        return t.get((cluster_id, server)) if t else None

    def clusters(self):
        for ep in sorted(self.endpoints):
            t = self.endpoints[ep]
            for key in sorted(t):
                yield ep, t[key]

    def next_seq(self):
        self.seq = (self.seq + 1) & 0xFF
        return self.seq

    # -- receive --------------------------------------------------------------
    def receive(self, msg):
        """Handle one APS frame addressed to us. Never raises on bad input."""
        p = msg.profile
        if p != _PROFILE_SE and p != _PROFILE_HA and p != _PROFILE_WILDCARD:
            return
        if msg.dst_ep == _EP_BROADCAST:
            # ZigBee PRO §2.2.4.1.1.3: endpoint 0xFF reaches every endpoint
            # (the Digi gateway's identify does this, hub-expectations N7).
            for ep in sorted(self.endpoints):
                self._receive_ep(msg, ep)
        elif msg.dst_ep in self.endpoints:
            self._receive_ep(msg, msg.dst_ep)

    def _receive_ep(self, msg, ep):
        table = self.endpoints[ep]
        req = self.req
        req.aps = msg
        req.ep = ep
        req.responded = False
        # a response goes out as the request came in (reply()): size it so
        self.tx = self._tx_sec if msg.secured else self._tx_open
        hdr = req.hdr
        buf = msg.payload
        try:
            off = hdr.decode(buf)
        except DecodeError:
            # No sequence number to answer with: drop (ZCL §2.5.12.2 needs one).
            self.malformed += 1
            return
        cl = table.get((msg.cluster, not hdr.to_client))
        if cl is None and msg.dst_ep == _EP_BROADCAST:
            return          # endpoints without the cluster stay silent
        if cl is not None and cl.SECURE and not msg.secured and self.require_aps_security:
            # ZSE §5.4.6: SE clusters accept only APS link-key secured frames;
            # anything else is dropped silently (notes/zse-clusters §7).
            self.dropped_unsecured += 1
            return
        status = _SUCCESS
        try:
            if cl is None:
                status = _UNSUPPORTED_CLUSTER
            elif hdr.manuf is not None:
                # We implement no manufacturer extensions.
                status = (_UNSUP_MANUF_CLUSTER_COMMAND if hdr.cluster_specific
                          else _UNSUP_MANUF_GENERAL_COMMAND)
            elif hdr.cluster_specific:
                r = cl.dispatch(req, buf, off, len(buf))
                if r is not None:
                    status = r
            else:
                status = foundation.handle(self, cl, req, buf, off, len(buf))
        except DecodeError:
            self.malformed += 1
            status = _MALFORMED_COMMAND
        except ZclError as e:
            status = e.status
        except PowerCut:
            raise                   # the supply died mid-write: nothing runs on
        except Exception:           # (MemoryError is one on MicroPython too)
            # A defect in a handler, or the heap running out under one, must
            # not stop the meter (bad input never crashes it; a restart would
            # lose the energy since the last register save): the requester
            # gets FAILURE (ZCL rev 6 Table 2-12) and the count shows in the
            # meter state (HandlerErrors), where tests look for it.
            self.handler_errors += 1
            status = _FAILURE
        if status is None:          # handled, and no response of any kind due
            return
        try:
            self._default_response(req, status)
        except PowerCut:
            raise
        except Exception:           # e.g. no heap left for the answer
            self.handler_errors += 1

    def _default_response(self, req, status):
        # ZCL rev 6 §2.5.12.2: only for a unicast command that is not itself a
        # Default Response, when nothing else answered, and either the
        # disable-default-response bit is clear or the command failed.
        hdr = req.hdr
        if req.responded or req.aps.broadcast:
            return
        if not hdr.cluster_specific and hdr.cmd == _CMD_DEFAULT_RSP:
            return
        if status == _SUCCESS and hdr.no_default_rsp:
            return
        tx = self.tx
        off = self.response_header(req, 0)
        tx[off] = hdr.cmd
        tx[off + 1] = status
        self.reply(req, req.aps.cluster, off + 2)

    # -- send -----------------------------------------------------------------
    def response_header(self, req, frame_type, cmd=_CMD_DEFAULT_RSP):
        """Header answering req: same seq and manufacturer, other direction.
        The request counts as answered only once reply() sends it: a payload
        found malformed while the response is being built still gets its
        Default Response."""
        hdr = req.hdr
        fc = frame_type | _FC_NO_DEFAULT_RSP
        if not hdr.to_client:
            fc |= _FC_TO_CLIENT
        return encode_header(self.tx, 0, fc, hdr.seq, cmd, hdr.manuf)

    def reply(self, req, cluster_id, n):
        """Send self.tx[:n] as the response to req. A frame longer than the
        link carries is never sent: the request fails (Default Response)."""
        if n > self.limit(req.aps.secured):
            self.oversize += 1
            raise ZclError(_FAILURE)
        req.responded = True
        self.emit(req.aps.src, req.aps.src_ep, req.ep, cluster_id, n, req.aps.secured)

    def reply_cluster_cmd(self, cl, req, cmd, schema, fields):
        off = self.response_header(req, _FT_CLUSTER, cmd)
        off = encode_fields(schema, fields, self.tx, off)
        self.reply(req, cl.ID, off)

    def send_cluster_cmd(self, cl, dst, dst_ep, src_ep, cmd, schema, fields,
                         no_default_rsp=True):
        fc = _FT_CLUSTER | (_FC_TO_CLIENT if cl.SERVER else 0)
        if no_default_rsp:
            fc |= _FC_NO_DEFAULT_RSP
        seq = self.next_seq()
        off = encode_header(self.originate(), 0, fc, seq, cmd)
        off = encode_fields(schema, fields, self.tx, off)
        self.emit(dst, dst_ep, src_ep, cl.ID, off, True)
        return seq

    def send_global(self, cl, dst, dst_ep, src_ep, cmd, n_payload):
        """Send a profile-wide command whose payload the caller already wrote
        at self.tx[TX_PAYLOAD:TX_PAYLOAD + n_payload]."""
        fc = _FC_NO_DEFAULT_RSP | (_FC_TO_CLIENT if cl.SERVER else 0)
        seq = self.next_seq()
        encode_header(self.tx, 0, fc, seq, cmd)
        self.emit(dst, dst_ep, src_ep, cl.ID, TX_PAYLOAD + n_payload, True)
        return seq

    def emit(self, dst, dst_ep, src_ep, cluster, n, secured):
        if n > self.limit(secured):
            self.oversize += 1       # never on air: the link cannot carry it whole
            return
        self.app.send_aps(Aps(self.app.nwk_addr, src_ep, dst, dst_ep,
                                _PROFILE_SE, cluster, bytes(self.tx[:n]), secured))


# The names above that only the host's tests and tools read: public there,
# folded private constants on a board, no global each in this module's dict
# on its heap (issue #18).
if __import__("sys").implementation.name != "micropython":
    RELAYS_DEFAULT = _RELAYS_DEFAULT
    RELAYS_MAX = _RELAYS_MAX
