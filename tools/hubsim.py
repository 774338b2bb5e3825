"""Comms-hub simulator (CPython): the ESI / trust centre side of the HAN as
the meter sees it. It owns the HAN's Time server (GBCS §9.1.3: the CH is the
time master), answers the meter's time reads, and builds the requests a hub
sends when it adopts a meter (notes/hub-expectations-digi.md: read Basic,
configure reporting on summation and demand).
"""
from firmware.zcl import aps as A
from firmware.zcl import types as T
from firmware.zcl.cluster import Cluster, A_R
from firmware.zcl.frame import Header
from firmware.zcl.status import DecodeError
from firmware.zcl.engine import frame_limit, RELAYS_DEFAULT
from tools import zcl_host as Z
from firmware.clusters.drlc_client import DrlcClient
from firmware.clusters.tunneling import Tunneling, Defrag
from firmware.gbcs import gbt as G

DRLC_STATUS = {
    0x01: "received", 0x02: "started", 0x03: "completed", 0x04: "opt_out", 0x05: "opt_in",
    0x06: "cancelled", 0x07: "superseded", 0x08: "partial_opt_out", 0x09: "partial_opt_in",
    0x0A: "completed_no_participation", 0xF8: "rejected_invalid_cancel",
    0xF9: "rejected_cancel_effective_time", 0xFB: "rejected_expired",
    0xFD: "rejected_cancel_undefined", 0xFE: "rejected",
}
# Load Control Event fields a scenario may leave out: the ZSE "not used" values
LCE_DEFAULTS = {
    "DeviceClass": 0x0080, "UtilityEnrollmentGroup": 0, "StartTime": 0,
    "DurationInMinutes": 30, "CriticalityLevel": 1, "CoolingTemperatureOffset": 0xFF,
    "HeatingTemperatureOffset": 0xFF, "CoolingTemperatureSetPoint": -0x8000,
    "HeatingTemperatureSetPoint": -0x8000, "AverageLoadAdjustmentPercentage": -0x80,
    "DutyCycle": 0xFF, "EventControl": 0,
}

HUB_ADDR = 0x0000
HUB_EP = 1
# CH TimeStatus: Master=1, Synchronized=0, MasterZoneDst=0, Superseding=1
# (GBCS §9.1.3: Master and Superseding set, MasterZoneDst clear).
CH_TIME_STATUS = 0x09
UTC_INVALID = 0xFFFFFFFF


@Z.register
class TimeServer(Cluster):
    """The hub's Time server table (ZCL rev 6 §3.12)."""
    ID = 0x000A
    NAME = "Time"
    ATTRS = (
        (0x0000, "Time", T.UTC, A_R, 0),
        (0x0001, "TimeStatus", T.MAP8, A_R, CH_TIME_STATUS),
    )


class Hub:
    def __init__(self, meter_addr=0x4E21, meter_ep=1, relays=RELAYS_DEFAULT):
        self.meter_addr = meter_addr
        self.meter_ep = meter_ep
        # The route to the meter (source-route relays, the meter's config
        # key source_route_relays) and so the largest ZCL frame the HAN
        # carries unfragmented (firmware/zcl/engine.py has the arithmetic).
        self.relays = relays
        self.oversize = []            # frames from the meter a real radio could not send
        self.seq = 0x40
        self.time_offset = 0          # hub clock minus true time (drift tests)
        self.time_valid = True        # False: the CH cannot maintain time
        self.answer_time = True       # False: time reads go unanswered
        self.reports = {}             # cluster name -> {attribute: last reported value}
        self.report_count = 0
        self.time_requests = 0
        self.announced = 0
        self.drlc_events = {}         # issuer event id -> (fields, time sent)
        self.drlc_reports = []        # [{"t", "id", "status"}] as the meter reported
        self.scheduled_requests = 0
        self.tunnel_at_join = False   # True: adoption() opens the GBCS tunnel too
        self.defrag = Defrag(bytearray(4096))    # APS fragments from the meter (Tunneling)
        # the tunnel client (GBCS §10.2.2.1, the CHF's side): the tunnel id,
        # the GBCS messages the meter sent through it (hex), TransferDataError
        # statuses, GBT acks / resend requests from the meter, the blocks
        # of a response series being reassembled and the hub's own command
        # series (for resends); gbt_skip: block numbers the hub leaves out of
        # its next series' first sending (a resend test)
        self.tunnel = {"id": None, "status": None, "received": [], "responses": 0,
                       "errors": [],
                       "meter_acks": 0, "meter_resends": [], "hub_acks": 0,
                       "hub_resends": 0, "closed_by_meter": 0}
        self.gbt_skip = []
        self._gbt_in = {}             # block number -> data of the meter's series
        self._gbt_out = None          # (routing header fields, [blocks]) of the hub's series
        self._gbt_rbn = 0
        self.ota = None               # tools/otaserver.OtaServer while one serves an image

    def next_seq(self):
        self.seq = (self.seq + 1) & 0xFF
        return self.seq

    def to_meter(self, cluster_id, payload, secured=True, ep=None, src=None):
        """A frame for the meter from the hub, or from another HAN device
        (src: its short address, e.g. a PPMID in the meter's device log)."""
        return A.Aps(HUB_ADDR if src is None else src, HUB_EP, self.meter_addr,
                     ep or self.meter_ep, A.PROFILE_SE, cluster_id, payload, secured)

    # -- what the hub sends on its own ---------------------------------------------
    def read_attributes(self, cluster, attributes):
        cls, cid = Z.cluster_by_name(cluster)
        return self.to_meter(cid, Z.build_global(cls, "ReadAttributes",
                                                 {"attributes": attributes}, self.next_seq(),
                                                 to_client=not cls.SERVER))

    def configure_reporting(self, cluster, reports):
        cls, cid = Z.cluster_by_name(cluster)
        return self.to_meter(cid, Z.build_global(cls, "ConfigureReporting",
                                                 {"reports": reports}, self.next_seq()))

    # -- DRLC server side (the ESI schedules events) --------------------------------
    def _drlc(self, cmd, fields):
        return self.to_meter(DrlcClient.ID, Z.build_cluster_cmd(
            DrlcClient, cmd, fields, self.next_seq(), to_client=True))

    def drlc_event(self, now, fields):
        f = dict(LCE_DEFAULTS)
        f.update(fields)
        self.drlc_events[f["IssuerEventID"]] = (f, now)
        return self._drlc("LoadControlEvent", f)

    def drlc_cancel(self, now, fields):
        f = {"DeviceClass": LCE_DEFAULTS["DeviceClass"], "UtilityEnrollmentGroup": 0,
             "CancelControl": 0, "EffectiveTime": 0}
        f.update(fields)
        self.drlc_events.pop(f["IssuerEventID"], None)
        return self._drlc("CancelLoadControlEvent", f)

    def drlc_cancel_all(self, now, fields):
        self.drlc_events.clear()
        return self._drlc("CancelAllLoadControlEvents", {"CancelControl": 0, **fields})

    def _drlc_from_meter(self, now, h, msg, off):
        c = Z.command_table(DrlcClient, False)
        name = [x for x in c if x[0] == h.cmd]
        if not name:
            return []
        f, _ = Z.decode_fields(name[0][2], msg.payload, off, len(msg.payload))
        if name[0][1] == "ReportEventStatus":
            self.drlc_reports.append({"t": now, "id": f["IssuerEventID"],
                                      "status": DRLC_STATUS.get(f["EventStatus"], f["EventStatus"])})
            return []
        # Get Scheduled Events: re-send what has not ended (ZSE D.2.2.4.2)
        self.scheduled_requests += 1
        out = []
        for eid in sorted(self.drlc_events):
            f, sent = self.drlc_events[eid]
            start = f["StartTime"] or sent
            if start + f["DurationInMinutes"] * 60 > now:
                out.append(self._drlc("LoadControlEvent", f))
        return out

    def tariff_request(self, doc, activate):
        """The control request that loads a tariff document into the meter.
        It stands in for GBCS ECS01 (set tariff), which arrives later over
        the tunnel and lands in the same engine.stage()."""
        at = {"immediate": 0, "never": 0xFFFFFFFF}.get(activate, activate)
        doc = {k: v for k, v in doc.items() if k != "note"}
        return {"doc": doc, "at": int(at)}

    def adoption(self):
        """What a hub sends after a meter joins (hub-expectations §11;
        with tunnel_at_join the RequestTunnel the CHF sends after CBKE,
        GBCS §10.2.2.1)."""
        return ([self.request_tunnel()] if self.tunnel_at_join else []) + [
            self.read_attributes("Basic", ["ZCLVersion", "ManufacturerName", "ModelIdentifier",
                                           "PowerSource"]),
            self.read_attributes("Metering", ["UnitOfMeasure", "Multiplier", "Divisor",
                                              "SummationFormatting", "DemandFormatting",
                                              "MeteringDeviceType"]),
            self.configure_reporting("Metering", [
                {"attribute": "CurrentSummationDelivered", "min": 30, "max": 900, "change": 1},
                {"attribute": "InstantaneousDemand", "min": 10, "max": 300, "change": 50},
            ]),
        ]

    # -- tunnel client (GBCS §10.2.2.1, notes §19) ----------------------------------------
    def _tun(self, cmd, fields):
        return self.to_meter(Tunneling.ID, Z.build_cluster_cmd(Tunneling, cmd, fields,
                                                              self.next_seq()))

    def request_tunnel(self, protocol=6, manuf=0xFFFF, flow=False, max_in=1500):
        return self._tun("RequestTunnel", {"ProtocolID": protocol, "ManufacturerCode": manuf,
                                           "FlowControlSupport": flow,
                                           "MaximumIncomingTransferSize": max_in})

    def close_tunnel(self, tid=None):
        return self._tun("CloseTunnel", {"TunnelID": self.tunnel["id"] if tid is None else tid})

    def transfer(self, data, tid=None):
        """One TransferData with data (a GBCS or GBT message)."""
        return self._tun("TransferData", {"TunnelID": self.tunnel["id"] if tid is None else tid,
                                          "Data": bytes(data)})

    def gbcs(self, msg):
        """The frames carrying a GBCS command to the meter: one TransferData up
        to 1200 octets, else a GBT series (§7.2.11, window 6: the first six
        blocks now, the rest as the meter acknowledges), less the blocks in
        gbt_skip (sent when the meter asks for them)."""
        if len(msg) <= 1200:
            return [self.transfer(msg)]
        hdr = G.grouping_fields(msg)
        blocks = [msg[i:i + 1149] for i in range(0, len(msg), 1149)]
        self._gbt_out = (hdr, blocks)
        out = []
        for n in range(1, min(len(blocks), 6) + 1):
            if n in self.gbt_skip:
                continue
            out.append(self._gbt_block(n))
        self.gbt_skip = []
        return out

    def _gbt_block(self, n):
        hdr, blocks = self._gbt_out
        last = n == len(blocks)
        bc = 6 | (0x80 if last else 0) | (0 if last or n % 6 == 0 else 0x40)
        # to the Device: originator = the GBT Third Party, recipient = the Device
        return self.transfer(G.build(hdr, bc, n, self._gbt_rbn, blocks[n - 1]))

    def _tunnel_from_meter(self, now, h, msg, off):
        c = [x for x in Z.command_table(Tunneling, True) if x[0] == h.cmd]
        if not c:
            return []
        f, _ = Z.decode_fields(c[0][2], msg.payload, off, len(msg.payload))
        name = c[0][1]
        t = self.tunnel
        if name == "RequestTunnelResponse":
            t["status"] = f["TunnelStatus"]
            if f["TunnelStatus"] == 0:
                t["id"] = f["TunnelID"]
        elif name == "TransferDataError":
            t["errors"].append(f["TransferDataStatus"])
        elif name == "TunnelClosureNotification":
            t["closed_by_meter"] += 1
            t["id"] = None
        elif name == "TransferData":
            return self._gbcs_from_meter(f["Data"])
        return []

    def _gbcs_from_meter(self, d):
        t = self.tunnel
        if not (len(d) > 1 and d[0] == 0xDD and d[1] == 0x09):
            t["received"].append(d.hex())
            t["responses"] += 1
            return []
        try:
            bc, bn, ack, o, n = G.parse(d)
        except ValueError:
            t["received"].append(d.hex())
            return []
        if n == 0:                       # the meter's Ack / Request Block Resend for our series
            self._gbt_rbn = max(self._gbt_rbn, bn)
            if self._gbt_out is None:
                return []
            win = bc & 0x3F
            if win == 1 and ack < len(self._gbt_out[1]):
                t["meter_resends"].append(ack + 1)
            else:
                t["meter_acks"] += 1
            return [self._gbt_block(k) for k in
                    range(ack + 1, min(ack + max(win, 1), len(self._gbt_out[1])) + 1)]
        # a block of the meter's response series (window 63)
        self._gbt_in[bn] = bytes(d[o:o + n])
        hdr = bytes(d[2:11]) + bytes(d[21:29]) + bytes(d[12:20]) + bytes(d[31:33])
        if bc & 0x80:
            self._gbt_last = bn
        last = getattr(self, "_gbt_last", 0)
        out = []
        if last and all(k in self._gbt_in for k in range(1, last + 1)):
            t["received"].append(b"".join(self._gbt_in[k] for k in range(1, last + 1)).hex())
            t["responses"] += 1
            self._gbt_in = {}
            self._gbt_last = 0
            t["hub_acks"] += 1           # the Ack of the last block ends the meter's series
            out.append(self.transfer(G.build(hdr, 63, 1, last, b"")))
        elif last:
            for k in range(1, last):
                if k not in self._gbt_in:
                    t["hub_resends"] += 1
                    out.append(self.transfer(G.build(hdr, 1, 1, k - 1, b"")))
        elif bn % 63 == 0:
            t["hub_acks"] += 1
            out.append(self.transfer(G.build(hdr, 63, 1, bn, b"")))
        return out

    # -- what the hub does with the meter's frames ---------------------------------------
    def check_size(self, msg):
        """None if the frame fits one unfragmented 802.15.4 frame on this
        link (APS secured or not, as sent), else why not (and counted)."""
        lim = frame_limit(msg.secured, self.relays)
        if len(msg.payload) <= lim:
            return None
        why = "%s frame to 0x%04X cluster 0x%04X: %d ZCL octets over the %d a frame carries" % (
            "secured" if msg.secured else "unsecured", msg.dst, msg.cluster, len(msg.payload), lim)
        self.oversize.append(why)
        return why

    def handle(self, now, msg):
        """React to one frame from the meter; returns the frames to send back."""
        if msg.profile == A.PROFILE_ZDO:
            if msg.cluster == 0x0013:
                self.announced += 1
            return []
        h = Header()
        try:
            off = h.decode(msg.payload)
        except DecodeError:
            return []
        if msg.cluster == 0x0019 and self.ota is not None:
            return self.ota.handle(now, msg)        # the OTA server (tools/otaserver.py)
        if h.cluster_specific:
            if msg.cluster == DrlcClient.ID and not h.to_client:
                return self._drlc_from_meter(now, h, msg, off)
            if msg.cluster == Tunneling.ID and h.to_client:
                return self._tunnel_from_meter(now, h, msg, off)
            return []
        if msg.cluster == TimeServer.ID and h.cmd == Z.READ_ATTR and not h.to_client:
            self.time_requests += 1
            if not self.answer_time:
                return []
            t = (now + self.time_offset) if self.time_valid else UTC_INVALID
            recs = []
            for o in range(off, len(msg.payload) - 1, 2):
                aid = msg.payload[o] | (msg.payload[o + 1] << 8)
                if aid == 0x0000:
                    recs.append((aid, T.UTC, t))
                elif aid == 0x0001:
                    recs.append((aid, T.MAP8, CH_TIME_STATUS))
                else:
                    recs.append((aid, None, None))
            pl = Z.build_global(TimeServer, Z.READ_ATTR_RSP, {"records": recs}, h.seq,
                                to_client=True, ddr=True)
            return [A.Aps(HUB_ADDR, msg.dst_ep, msg.src, msg.src_ep, A.PROFILE_SE,
                          TimeServer.ID, pl, True)]
        if h.cmd == Z.REPORT_ATTR:
            cls = Z.CLUSTERS.get(msg.cluster)
            into = self.reports.setdefault(cls.NAME if cls else "0x%04X" % msg.cluster, {})
            for aid, _, _, v in Z.decode_report_records(msg.payload, off, len(msg.payload)):
                into[Z.attr_name(cls, aid)] = Z.jsonable(v)
            self.report_count += 1
        return []
