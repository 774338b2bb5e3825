# ZCL engine: endpoints, frame dispatch, Default Response rules, sending.
#
# ZCL = ZCL rev 6 (07-5123); ZSE = ZigBee Smart Energy 1.x (07-5356).
from ..compat import const
from . import aps as A
from . import status as S
from .frame import (Header, encode_header, encode_fields, FT_CLUSTER,
                    FC_TO_CLIENT, FC_NO_DEFAULT_RSP)
from .status import ZclError, DecodeError
from . import foundation
from ..platform.store import PowerCut

CMD_DEFAULT_RSP = const(0x0B)
EP_BROADCAST = const(0xFF)

# Largest ZCL frame we send: an unfragmented APS payload with APS security
# on a 127-octet 802.15.4 frame leaves about 82 octets (ZigBee PRO budget).
ZCL_MAX = const(82)
TX_PAYLOAD = const(3)     # payload offset of a frame we originate (no manufacturer code)


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
        self.tx = bytearray(ZCL_MAX)
        self.req = Request()
        self.dropped_unsecured = 0
        self.malformed = 0
        self.handler_errors = 0

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
        if msg.profile not in (A.PROFILE_SE, A.PROFILE_HA, A.PROFILE_WILDCARD):
            return
        if msg.dst_ep == EP_BROADCAST:
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
        hdr = req.hdr
        buf = msg.payload
        try:
            off = hdr.decode(buf)
        except DecodeError:
            # No sequence number to answer with: drop (ZCL §2.5.12.2 needs one).
            self.malformed += 1
            return
        cl = table.get((msg.cluster, not hdr.to_client))
        if cl is None and msg.dst_ep == EP_BROADCAST:
            return          # endpoints without the cluster stay silent
        if cl is not None and cl.SECURE and not msg.secured and self.require_aps_security:
            # ZSE §5.4.6: SE clusters accept only APS link-key secured frames;
            # anything else is dropped silently (notes/zse-clusters §7).
            self.dropped_unsecured += 1
            return
        status = S.SUCCESS
        try:
            if cl is None:
                status = S.UNSUPPORTED_CLUSTER
            elif hdr.manuf is not None:
                # We implement no manufacturer extensions.
                status = (S.UNSUP_MANUF_CLUSTER_COMMAND if hdr.cluster_specific
                          else S.UNSUP_MANUF_GENERAL_COMMAND)
            elif hdr.cluster_specific:
                r = cl.dispatch(req, buf, off, len(buf))
                if r is not None:
                    status = r
            else:
                status = foundation.handle(self, cl, req, buf, off, len(buf))
        except DecodeError:
            self.malformed += 1
            status = S.MALFORMED_COMMAND
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
            status = S.FAILURE
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
        if not hdr.cluster_specific and hdr.cmd == CMD_DEFAULT_RSP:
            return
        if status == S.SUCCESS and hdr.no_default_rsp:
            return
        tx = self.tx
        off = self.response_header(req, 0)
        tx[off] = hdr.cmd
        tx[off + 1] = status
        self.reply(req, req.aps.cluster, off + 2)

    # -- send -----------------------------------------------------------------
    def response_header(self, req, frame_type, cmd=CMD_DEFAULT_RSP):
        """Header answering req: same seq and manufacturer, other direction.
        The request counts as answered only once reply() sends it: a payload
        found malformed while the response is being built still gets its
        Default Response."""
        hdr = req.hdr
        fc = frame_type | FC_NO_DEFAULT_RSP
        if not hdr.to_client:
            fc |= FC_TO_CLIENT
        return encode_header(self.tx, 0, fc, hdr.seq, cmd, hdr.manuf)

    def reply(self, req, cluster_id, n):
        """Send self.tx[:n] as the response to req."""
        req.responded = True
        self.emit(req.aps.src, req.aps.src_ep, req.ep, cluster_id, n, req.aps.secured)

    def reply_cluster_cmd(self, cl, req, cmd, schema, fields):
        off = self.response_header(req, FT_CLUSTER, cmd)
        off = encode_fields(schema, fields, self.tx, off)
        self.reply(req, cl.ID, off)

    def send_cluster_cmd(self, cl, dst, dst_ep, src_ep, cmd, schema, fields,
                         no_default_rsp=True):
        fc = FT_CLUSTER | (FC_TO_CLIENT if cl.SERVER else 0)
        if no_default_rsp:
            fc |= FC_NO_DEFAULT_RSP
        seq = self.next_seq()
        off = encode_header(self.tx, 0, fc, seq, cmd)
        off = encode_fields(schema, fields, self.tx, off)
        self.emit(dst, dst_ep, src_ep, cl.ID, off, True)
        return seq

    def send_global(self, cl, dst, dst_ep, src_ep, cmd, n_payload):
        """Send a profile-wide command whose payload the caller already wrote
        at self.tx[TX_PAYLOAD:TX_PAYLOAD + n_payload]."""
        fc = FC_NO_DEFAULT_RSP | (FC_TO_CLIENT if cl.SERVER else 0)
        seq = self.next_seq()
        encode_header(self.tx, 0, fc, seq, cmd)
        self.emit(dst, dst_ep, src_ep, cl.ID, TX_PAYLOAD + n_payload, True)
        return seq

    def emit(self, dst, dst_ep, src_ep, cluster, n, secured):
        self.app.send_aps(A.Aps(self.app.nwk_addr, src_ep, dst, dst_ep,
                                A.PROFILE_SE, cluster, bytes(self.tx[:n]), secured))
