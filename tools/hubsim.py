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
        """What a hub sends after a meter joins (hub-expectations §11)."""
        return [
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
