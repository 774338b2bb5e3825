"""Host-side ZCL helpers: name lookups, frame building and decoding for the
bench runner, hub simulator and captures. The cluster tables are the
firmware's own (one source of truth); the hub-only Time server table lives
in tools/hubsim.py.
"""
import struct

from firmware.zcl import types as T
from firmware.zcl import foundation as _F
from firmware.zcl import status as S
from firmware.zcl.frame import (Header, encode_header, decode_fields, encode_fields,  # noqa: F401
                                FT_CLUSTER, FC_TO_CLIENT, FC_NO_DEFAULT_RSP)
from firmware.zcl.cluster import A_DYN, attr_rows, cmd_rows
from firmware.meter import CLUSTERS as _REG
from firmware.clusters.time_client import TimeClient

def all_attrs(cls):
    """Every attribute definition of a cluster class: its ATTRS rows, then
    each numbered family of its RANGES expanded (host side; the meter looks
    them up one at a time through zcl/cluster.AttrTable)."""
    yield from attr_rows(cls.ATTRS)
    for first, n, step, name, t, acc in cls.RANGES:
        for i in range(n):
            yield (first + i * step, name % (i + 1), t, acc | A_DYN, None)


# The firmware's one cluster registry (firmware/meter.py CLUSTERS): rows of
# (cluster class, endpoint, device id or None) in the order the meter
# registers them.
REGISTRY = [tuple(_REG[i:i + 3]) for i in range(0, len(_REG), 3)]

# Cluster tables by id: the side the meter implements, from the registry,
# except Time: the meter is its client and frames are decoded with the
# hub's Time server table (hubsim.TimeServer registers it). A table's RX/TX
# are that side's received and generated commands, so which one a frame
# uses depends on its direction and on the side (see command_table).
CLUSTERS = {}


def register(cls):
    CLUSTERS[cls.ID] = cls
    return cls


for _c, _ep, _dev in REGISTRY:
    if _c is not TimeClient:
        register(_c)

# Names of the profile-wide commands (ZCL rev 6 Table 2-3) and of the ZCL
# status codes (Table 2-12), host side only (not frozen into the meter).
GLOBAL_NAMES = {
    0x00: "ReadAttributes", 0x01: "ReadAttributesResponse",
    0x02: "WriteAttributes", 0x03: "WriteAttributesUndivided",
    0x04: "WriteAttributesResponse", 0x05: "WriteAttributesNoResponse",
    0x06: "ConfigureReporting", 0x07: "ConfigureReportingResponse",
    0x08: "ReadReportingConfiguration", 0x09: "ReadReportingConfigurationResponse",
    0x0A: "ReportAttributes", 0x0B: "DefaultResponse",
    0x0C: "DiscoverAttributes", 0x0D: "DiscoverAttributesResponse",
    0x11: "DiscoverCommandsReceived", 0x12: "DiscoverCommandsReceivedResponse",
    0x13: "DiscoverCommandsGenerated", 0x14: "DiscoverCommandsGeneratedResponse",
    0x15: "DiscoverAttributesExtended", 0x16: "DiscoverAttributesExtendedResponse",
}
# The profile-wide command ids by name (Table 2-3), for the host tools and
# tests; the firmware keeps them as private constants (zcl/foundation.py).
READ_ATTR, READ_ATTR_RSP, WRITE_ATTR, WRITE_ATTR_UNDIVIDED = 0x00, 0x01, 0x02, 0x03
WRITE_ATTR_RSP, WRITE_ATTR_NO_RSP, CONFIG_REPORT, CONFIG_REPORT_RSP = 0x04, 0x05, 0x06, 0x07
READ_REPORT_CFG, READ_REPORT_CFG_RSP, REPORT_ATTR, DEFAULT_RSP = 0x08, 0x09, 0x0A, 0x0B
DISCOVER_ATTR, DISCOVER_ATTR_RSP = 0x0C, 0x0D
DISCOVER_CMD_RX, DISCOVER_CMD_RX_RSP, DISCOVER_CMD_TX, DISCOVER_CMD_TX_RSP = 0x11, 0x12, 0x13, 0x14
DISCOVER_ATTR_EXT, DISCOVER_ATTR_EXT_RSP = 0x15, 0x16
assert _F.READ_ATTR == READ_ATTR


def decode_attr_records(buf, off, end):
    """Records of a Read Attributes Response: [(aid, status, type, value)]."""
    return _F.decode_attr_records(buf, off, end)


def decode_report_records(buf, off, end):
    """Records of a Report Attributes command, as decode_attr_records."""
    return _F.decode_attr_records(buf, off, end, True)


STATUS_NAMES = {
    0x00: "SUCCESS", 0x01: "FAILURE", 0x7E: "NOT_AUTHORIZED",
    0x7F: "RESERVED_FIELD_NOT_ZERO", 0x80: "MALFORMED_COMMAND",
    0x81: "UNSUP_CLUSTER_COMMAND", 0x82: "UNSUP_GENERAL_COMMAND",
    0x83: "UNSUP_MANUF_CLUSTER_COMMAND", 0x84: "UNSUP_MANUF_GENERAL_COMMAND",
    0x85: "INVALID_FIELD", 0x86: "UNSUPPORTED_ATTRIBUTE", 0x87: "INVALID_VALUE",
    0x88: "READ_ONLY", 0x89: "INSUFFICIENT_SPACE", 0x8A: "DUPLICATE_EXISTS",
    0x8B: "NOT_FOUND", 0x8C: "UNREPORTABLE_ATTRIBUTE", 0x8D: "INVALID_DATA_TYPE",
    0x8E: "INVALID_SELECTOR", 0x8F: "WRITE_ONLY",
    0x90: "INCONSISTENT_STARTUP_STATE", 0x91: "DEFINED_OUT_OF_BAND",
    0x92: "INCONSISTENT", 0x93: "ACTION_DENIED", 0x94: "TIMEOUT", 0x95: "ABORT",
    0x96: "INVALID_IMAGE", 0x97: "WAIT_FOR_DATA", 0x98: "NO_IMAGE_AVAILABLE",
    0x99: "REQUIRE_MORE_IMAGE", 0x9A: "NOTIFICATION_PENDING",
    0xC0: "HARDWARE_FAILURE", 0xC1: "SOFTWARE_FAILURE",
    0xC2: "CALIBRATION_ERROR", 0xC3: "UNSUPPORTED_CLUSTER",
}
GLOBAL_IDS = {v: k for k, v in GLOBAL_NAMES.items()}
STATUS_IDS = {v: k for k, v in STATUS_NAMES.items()}


def cluster_by_name(name):
    if isinstance(name, int):
        return CLUSTERS.get(name), name
    if name.startswith("0x"):
        cid = int(name, 16)
        return CLUSTERS.get(cid), cid
    for cls in CLUSTERS.values():
        if cls.NAME == name:
            return cls, cls.ID
    raise KeyError("unknown cluster " + name)


def attr_by_name(cls, name):
    if isinstance(name, int):
        return name, _attr_def(cls, name)
    if name.startswith("0x"):
        aid = int(name, 16)
        return aid, _attr_def(cls, aid)
    for a in all_attrs(cls):
        if a[1] == name:
            return a[0], a
    if name == "ClusterRevision":
        return 0xFFFD, (0xFFFD, "ClusterRevision", T.UINT16, 1, 1)
    raise KeyError("unknown attribute %s.%s" % (cls.NAME, name))


def _attr_def(cls, aid):
    if cls is None:
        return None
    for a in all_attrs(cls):
        if a[0] == aid:
            return a
    return None


def attr_name(cls, aid):
    a = _attr_def(cls, aid)
    if a:
        return a[1]
    if aid == 0xFFFD:
        return "ClusterRevision"
    return "0x%04X" % aid


# -- building -------------------------------------------------------------------

def build_global(cls, cmd, args, seq, to_client=False, ddr=False, manuf=None):
    """Payload of a profile-wide command from friendly arguments."""
    cid = cmd if isinstance(cmd, int) else GLOBAL_IDS[cmd]
    buf = bytearray(512)
    fc = (FC_TO_CLIENT if to_client else 0) | (FC_NO_DEFAULT_RSP if ddr else 0)
    off = encode_header(buf, 0, fc, seq, cid, manuf)
    if cid == READ_ATTR:
        for name in args.get("attributes", []):
            aid, _ = attr_by_name(cls, name)
            struct.pack_into("<H", buf, off, aid)
            off += 2
    elif cid in (WRITE_ATTR, WRITE_ATTR_UNDIVIDED, WRITE_ATTR_NO_RSP):
        for name, val in args.get("attributes", {}).items():
            aid, a = attr_by_name(cls, name)
            t = _type_arg(args, name, a)
            struct.pack_into("<HB", buf, off, aid, t)
            off = T.encode(t, _value_arg(val), buf, off + 3)
    elif cid == CONFIG_REPORT:
        for r in args.get("reports", []):
            aid, a = attr_by_name(cls, r["attribute"])
            t = r.get("type", a[2] if a else T.UINT8)
            struct.pack_into("<BHBHH", buf, off, 0, aid, t, r.get("min", 0), r.get("max", 0))
            off += 8
            if T.is_analog(t):
                off = T.encode(t, r.get("change", 0), buf, off)
    elif cid == READ_REPORT_CFG:
        for name in args.get("attributes", []):
            aid, _ = attr_by_name(cls, name)
            struct.pack_into("<BH", buf, off, 0, aid)
            off += 3
    elif cid in (DISCOVER_ATTR, DISCOVER_ATTR_EXT):
        struct.pack_into("<HB", buf, off, args.get("start", 0), args.get("max", 16))
        off += 3
    elif cid in (DISCOVER_CMD_RX, DISCOVER_CMD_TX):
        struct.pack_into("<BB", buf, off, args.get("start", 0), args.get("max", 16))
        off += 2
    elif cid == READ_ATTR_RSP:
        for aid, t, v in args["records"]:
            if t is None:
                struct.pack_into("<HB", buf, off, aid, S.UNSUPPORTED_ATTRIBUTE)
                off += 3
            else:
                struct.pack_into("<HBB", buf, off, aid, S.SUCCESS, t)
                off = T.encode(t, v, buf, off + 4)
    else:
        raise KeyError("cannot build global command %r" % cmd)
    return bytes(buf[:off])


def _type_arg(args, name, a):
    types_ = args.get("types", {})
    if name in types_:
        return types_[name]
    if a is None:
        raise KeyError("type needed for attribute " + str(name))
    return a[2]


def _value_arg(v):
    if isinstance(v, str):
        return bytes.fromhex(v[4:]) if v.startswith("hex:") else v.encode()
    if isinstance(v, list):
        return tuple(v)
    return v


def command_table(cls, to_client):
    """Commands travelling in this direction: to a server they are the
    server's RX; to a client they are the client's RX."""
    if cls is None:
        return ()
    if cls.SERVER:
        return tuple(cmd_rows(cls.TX if to_client else cls.RX))
    return tuple(cmd_rows(cls.RX if to_client else cls.TX))


def build_cluster_cmd(cls, cmd, fields, seq, to_client=False, ddr=False, manuf=None):
    table = command_table(cls, to_client)
    for c in table:
        if c[1] == cmd or c[0] == cmd:
            break
    else:
        raise KeyError("unknown command %s.%s" % (cls.NAME, cmd))
    buf = bytearray(512)
    fc = FT_CLUSTER | (FC_TO_CLIENT if to_client else 0) | (FC_NO_DEFAULT_RSP if ddr else 0)
    off = encode_header(buf, 0, fc, seq, c[0], manuf)
    off = encode_fields(c[2], {k: _value_arg(v) for k, v in fields.items()}, buf, off)
    return bytes(buf[:off])


# -- decoding -------------------------------------------------------------------

def jsonable(v):
    if isinstance(v, (bytes, bytearray)):
        try:
            s = bytes(v).decode("ascii")
            if s.isprintable():
                return s
        except UnicodeDecodeError:
            pass
        return "hex:" + bytes(v).hex()
    if isinstance(v, tuple):
        return [jsonable(x) for x in v]
    if isinstance(v, list):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    return v


def decode_frame(cluster_id, payload, profile=0x0109):
    """Describe one ZCL frame: cluster, command, fields (never raises: a
    frame that does not decode gets "error": "malformed: <reason>" and the
    fields decoded before it failed are left out)."""
    cls = CLUSTERS.get(cluster_id)
    out = {"cluster": cls.NAME if cls else "0x%04X" % cluster_id}
    if profile == 0:
        out["cluster"] = "ZDO"
        out["command"] = {0x0013: "Device_annce"}.get(cluster_id, "0x%04X" % cluster_id)
        return out
    h = Header()
    try:
        off = h.decode(payload)
    except Exception:               # DecodeError (too short), anything else
        out["command"] = "malformed"
        return out
    out["seq"] = h.seq
    out["direction"] = "to_client" if h.to_client else "to_server"
    if h.manuf is not None:
        out["manufacturer"] = h.manuf
    try:
        if h.cluster_specific:
            table = command_table(cls, h.to_client)
            for c in table:
                if c[0] == h.cmd:
                    out["command"] = c[1]
                    f, _ = decode_fields(c[2], payload, off, len(payload))
                    out["fields"] = jsonable(f)
                    break
            else:
                out["command"] = "0x%02X" % h.cmd
        else:
            out["command"] = GLOBAL_NAMES.get(h.cmd, "0x%02X" % h.cmd)
            out["fields"] = _decode_global(cls, h.cmd, payload, off)
    except Exception as e:          # struct.error, DecodeError, RecursionError...
        # A capture or a bench run must survive any frame (the ones under
        # test are malformed on purpose): describe what failed instead.
        out["error"] = "malformed: %s" % (str(e) or type(e).__name__)
    return out


def _decode_global(cls, cmd, buf, off):
    end = len(buf)
    if cmd == READ_ATTR:
        return {"attributes": [attr_name(cls, struct.unpack_from("<H", buf, o)[0])
                               for o in range(off, end - 1, 2)]}
    if cmd == READ_REPORT_CFG:
        return {"attributes": [attr_name(cls, struct.unpack_from("<H", buf, o + 1)[0])
                               for o in range(off, end - 2, 3)]}
    if cmd in (DISCOVER_ATTR, DISCOVER_ATTR_EXT):
        s, mx = struct.unpack_from("<HB", buf, off)
        return {"start": s, "max": mx}
    if cmd in (DISCOVER_CMD_RX, DISCOVER_CMD_TX):
        return {"start": buf[off], "max": buf[off + 1]}
    if cmd in (READ_ATTR_RSP, REPORT_ATTR):
        dec = decode_attr_records if cmd == READ_ATTR_RSP else decode_report_records
        recs = dec(buf, off, end)
        return {"records": [{"attribute": attr_name(cls, aid), "status": STATUS_NAMES.get(st, st),
                             "value": jsonable(v)} if st == 0 else
                            {"attribute": attr_name(cls, aid), "status": STATUS_NAMES.get(st, st)}
                            for aid, st, t, v in recs]}
    if cmd == DEFAULT_RSP:
        return {"command": buf[off], "status": STATUS_NAMES.get(buf[off + 1], buf[off + 1])}
    if cmd in (WRITE_ATTR_RSP, CONFIG_REPORT_RSP):
        if end - off == 1:
            return {"status": STATUS_NAMES.get(buf[off], buf[off])}
        step = 3 if cmd == WRITE_ATTR_RSP else 4
        recs = []
        for o in range(off, end - step + 1, step):
            aid = struct.unpack_from("<H", buf, o + step - 2)[0]
            recs.append({"status": STATUS_NAMES.get(buf[o], buf[o]), "attribute": attr_name(cls, aid)})
        return {"records": recs}
    if cmd in (WRITE_ATTR, WRITE_ATTR_UNDIVIDED, WRITE_ATTR_NO_RSP):
        recs = {}
        while off < end:
            aid, t = struct.unpack_from("<HB", buf, off)
            v, off = T.decode(t, buf, off + 3, end)
            recs[attr_name(cls, aid)] = jsonable(v)
        return {"attributes": recs}
    if cmd == CONFIG_REPORT:
        recs = []
        while off < end:
            d, aid, t, mn, mx = struct.unpack_from("<BHBHH", buf, off)
            off += 8
            r = {"attribute": attr_name(cls, aid), "min": mn, "max": mx}
            if T.is_analog(t):
                r["change"], off = T.decode(t, buf, off, end)
            recs.append(r)
        return {"reports": recs}
    if cmd == READ_REPORT_CFG_RSP:
        recs = []
        while off < end:
            st, d, aid = struct.unpack_from("<BBH", buf, off)
            off += 4
            r = {"status": STATUS_NAMES.get(st, st), "attribute": attr_name(cls, aid)}
            if st == 0 and d == 0:
                t, mn, mx = struct.unpack_from("<BHH", buf, off)
                off += 5
                r.update(min=mn, max=mx)
                if T.is_analog(t):
                    r["change"], off = T.decode(t, buf, off, end)
            recs.append(r)
        return {"records": recs}
    if cmd in (DISCOVER_ATTR_RSP, DISCOVER_ATTR_EXT_RSP):
        step = 4 if cmd == DISCOVER_ATTR_EXT_RSP else 3
        return {"complete": buf[off],
                "attributes": [attr_name(cls, struct.unpack_from("<H", buf, o)[0])
                               for o in range(off + 1, end - step + 1, step)]}
    if cmd in (DISCOVER_CMD_RX_RSP, DISCOVER_CMD_TX_RSP):
        return {"complete": buf[off], "commands": list(buf[off + 1:end])}
    return {"hex": bytes(buf[off:end]).hex()}
