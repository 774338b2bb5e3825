"""`make fuzz`: a bounded, seeded campaign against the virtual board over the
HAN link (issue #16).

    python -m tools.fuzz --inputs 100000 --seed 1 --runtime micropython --out out/fuzz

Inputs come in four groups, mixed at random (random.Random(seed), so a run
is reproducible on the same firmware):

  a  random link bytes: garbage, SOF-laden garbage, bad CRCs, bad lengths,
     odd frame types, nested false starts, truncated frames;
  b  mutated frames: every frame the scenarios send (built from
     scenarios/*.json with the bench's own builders) mutated at the APS,
     ZCL-header and payload level (bit flips, truncation, extension, length
     fields, splices), framed with a good CRC;
  c  extreme and nested field values for every command the meter receives
     (the RX tables of its clusters, round robin) and the profile-wide
     commands on every cluster: integer extremes, invalid and truncated
     strings, UTC 0 / 0xFFFFFFFE / 0xFFFFFFFF, deep arrays and structs,
     secured and unsecured, from the hub, a PPMID and strangers;
     Among group b, tunnel/GBT inputs (one in ten): a TransferData on
     the tunnel the hub opened at adoption carrying a GBT Message with
     mutated routing and GBT headers (block numbers 0 / over the series
     limit / 0xFFFF, block-control, data lengths, truncation, series of
     up to 12 blocks), APS-fragmented as the link carries it, with the
     fragments themselves sometimes mutated (extended header, order,
     dropped or repeated fragments);
     With --gbcs (`make fuzz-gbcs`), nine in ten of group b, and most inputs, are
     GBCS messages (gen_gbcs) on the meter provisioned with the RTDS keystore
     (tools/bench/runner.provision_gbcs): every visible RTDS ESME command,
     either mutated as it is (bit flips, octet extremes, truncation,
     extension, BER length octets, counter, recipient, message code,
     splices: they fail the §6.2.4 checks -> security log and alert), or
     with a mutated payload re-MACed and re-signed with the test keys and a
     fresh counter (they pass the checks and reach the DLMS / ASN.1
     decoders and the use cases), as one TransferData or a GBT series,
     APS-fragmented;
  d  clock extremes: hub Time answers (0, 0xFFFFFFFE, invalid, backward and
     forward steps, wrong types) to the meter's own requests, supplier clock
     sets to the ends of UTCTime, and time running across them.

Each input is followed by a `sync` control request on the same write
(lockstep: its answer comes after every frame the input caused). What is
watched:

  death   the meter process exits or closes the link: the input and the
          meter's last words are recorded, the meter restarts on its store
          (as after a power cut) and the campaign goes on;
  stall   the sync is not answered within --t1 seconds, and a second one
          sent after a quiet gap of --gap seconds (longer than the link's
          inter-octet timeout, so a half frame may be dropped) is not
          answered within --t2 either; a probe answered only after the gap
          counts as "recovered", not as a stall. Every --probe-every inputs a
          Read Attributes of Basic must be answered too (the ZCL path);
  handler errors  the meter's HandlerErrors counter (engine catch-all);
  heap    free heap and largest free block (`mem` op) every --mem-every inputs;
  state change on rejected input: the clock stands still for groups a-c,
          so a rejected input (an error status, all records failed, or
          silence where a Default Response was due) must leave the meter's
          state as it was, apart from the diagnostic counters and logs
          (IGNORED). Two views:
          - the store: after every input the host reads the meter's store
            directory (each record's newest payload; event and security
            logs left out), so a persistent change is pinned on the exact
            input that made it;
          - the meter's state (`state` op, ~50 ms on the unix port, so not
            after every input): inputs come in seeded chunks of --chunk,
            those that cannot change state when accepted (queries, link
            garbage, anything dropped) first, as runs compared every
            --check-every inputs; a run that changed the state is located
            by replaying the segment on a second meter one input at a
            time. Inputs that may change state when accepted are compared
            before/after within a budget (--state-budget states per input);
            an accepted one ends the comparison of the run before it.
          A store change with no change in the state view is listed apart
          (a save deferred from an earlier command, or a change the view
          does not show); a record merely written for the first time is
          not counted.

Group d moves time, so only its must-reject hub answers are checked (clock
and state unchanged apart from the time status); afterwards the clock is set
back near the campaign's era so later inputs are not all judged on a
wrapped clock. Every meter process starts on an empty store with the hub's
adoption, a tariff and, every other time, prepayment with a top-up (every
third leaves the boot time request to group d), and lives --segment inputs.

Findings keep their input (hex) and, for a meter started on an empty store,
the whole trace in OUT/traces/: `--replay FILE` plays it on a fresh meter
that prints the traceback of any exception the engine catches.

Output: OUT/report.json and OUT/summary.txt (counts per group and outcome).
"""
import argparse
import binascii
import glob
import json
import os
import random
import shutil
import socket
import struct
import sys
import time

from firmware import hanlink as L
from firmware.zcl import aps as A
from firmware.zcl import types as T
from firmware.zcl import status as S
from firmware.zcl.frame import REST, FT_CLUSTER, FC_TO_CLIENT, FC_NO_DEFAULT_RSP, FC_MANUF
from firmware.zcl.cluster import A_W, cmd_rows
from firmware.clusters.basic import Basic
from firmware.clusters.identify import Identify
from firmware.clusters.metering import Metering
from firmware.clusters.time_client import TimeClient
from firmware.clusters.drlc_client import DrlcClient
from firmware.clusters.price import Price
from firmware.clusters.calendar import CalendarServer
from firmware.clusters.prepayment import Prepayment
from firmware.clusters.tunneling import Tunneling
from firmware.clusters.ota_client import OtaClient
from firmware.gbcs import gbt as GBT
from firmware.platform.store import Store, FileBackend
from tools import zcl_host as Z
from tools.hubsim import Hub
from tools.meterlink import MeterLink

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T0 = 820800000                 # 2026-01-05T00:00:00Z, ZigBee UTC
METER = 0x4E21
HUB = 0x0000
PPMID = 0x5A5A
IHD = 0x7777
UTC_MAX = 0xFFFFFFFF
RESTORE_SPAN = 10 * 366 * 86400     # group d brings the clock back within this of T0
CLUSTERS = (Basic, Identify, Metering, TimeClient, DrlcClient, Price, CalendarServer, Prepayment,
            Tunneling, OtaClient)     # OTA: the client's received commands (to the client side)
BY_ID = {c.ID: c for c in CLUSTERS}
GROUPS = ("a", "b", "c", "d")
WEIGHTS = (300, 350, 345, 5)      # share of the inputs per group
WEIGHTS_GBCS = (50, 900, 45, 5)    # --gbcs: group b, mostly GBCS messages
# Meter state entries that legitimately record a rejection (counters, logs,
# alerts, the last top-up outcome, DRLC reports sent) or are derived text.
IGNORED = ("display", "meter.Malformed", "meter.DroppedUnsecured", "meter.HandlerErrors",
           "meter.Alerts", "meter.Logs.event", "meter.Logs.security", "meter.Prepay.LastTopUp",
           "meter.DrlcReports")
# Commands that change nothing when accepted (queries): no state is taken
# around them, they are checked in runs. Everything else is "mutating".
QUERIES = {
    (Identify.ID, 0x01), (Price.ID, 0x00), (Price.ID, 0x01), (Price.ID, 0x03),
    (Price.ID, 0x06), (Price.ID, 0x07), (Price.ID, 0x08), (Price.ID, 0x0A), (Price.ID, 0x0B),
    (Metering.ID, 0x00), (Metering.ID, 0x06), (Prepayment.ID, 0x07), (Prepayment.ID, 0x08),
    (Prepayment.ID, 0x0A), (CalendarServer.ID, 0), (CalendarServer.ID, 1),
    (CalendarServer.ID, 2), (CalendarServer.ID, 3), (CalendarServer.ID, 4),
    (Tunneling.ID, 0x06),
}
GLOBAL_QUERIES = (Z.READ_ATTR, Z.READ_REPORT_CFG, Z.DISCOVER_ATTR, Z.DISCOVER_ATTR_EXT,
                  Z.DISCOVER_CMD_RX, Z.DISCOVER_CMD_TX, Z.DEFAULT_RSP)


# ---------------------------------------------------------------------------
# The link: MeterLink's process handling, with timeouts and death detection.

class Died(Exception):
    pass


class FastDeframer:
    """Host-side parser of what the meter sends (same framing as
    firmware/hanlink.py, resync included), on whole buffers: the byte-wise
    firmware parser would make the host the bottleneck of the campaign."""

    def __init__(self, on_frame):
        self.on_frame = on_frame
        self.buf = b""

    def feed(self, data):
        buf = self.buf + bytes(data)
        while True:
            i = buf.find(b"\x7e\xa5")
            if i < 0:
                buf = buf[-1:] if buf[-1:] == b"\x7e" else b""
                break
            if len(buf) < i + 4:
                buf = buf[i:]
                break
            ln = buf[i + 2] | (buf[i + 3] << 8)
            if ln == 0 or ln > L.MAX_LEN:
                buf = buf[i + 2:]
                continue
            end = i + 4 + ln + 2
            if len(buf) < end:
                buf = buf[i:]
                break
            if binascii.crc_hqx(buf[i + 2:end - 2], 0xFFFF) != buf[end - 2] | (buf[end - 1] << 8):
                buf = buf[i + 2:]
                continue
            self.on_frame(buf[i + 4], buf[i + 5:end - 2])
            buf = buf[end:]
        self.buf = buf


class FuzzLink(MeterLink):
    def __init__(self, runtime, store_dir, utc, config):
        MeterLink.__init__(self, runtime, store_dir, utc, config)
        self._def = FastDeframer(self._frame)
        self.out = []            # APS frames (raw) the meter sent since the last clear
        self.rsps = []           # control responses, in order
        self.last_words = ""

    def _frame(self, ftype, payload):
        if ftype == L.T_APS:
            self.out.append(bytes(payload))
        elif ftype == L.T_EVENT:
            try:
                ev = json.loads(bytes(payload))
            except ValueError:
                return
            self._time(ev)
        elif ftype == L.T_CTRL_MORE:
            self._more += bytes(payload)
        elif ftype == L.T_CTRL_RSP:
            data, self._more = self._more + bytes(payload), b""
            try:
                rsp = json.loads(data)
            except ValueError:
                rsp = {"error": "unreadable response"}
            if isinstance(rsp, dict):
                self._time(rsp)
            self.rsps.append(rsp)

    def wait_response(self):
        """MeterLink.start's hello: the next control response."""
        if not self.wait(lambda: bool(self.rsps), 60):
            raise Died("no answer to hello")
        return self.rsps.pop(0)

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            raise Died(self.words())

    def pump(self, until):
        """Read what the meter sends until `until` (wall time). False when
        nothing more came in time; Died when the meter is gone."""
        left = until - time.time()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except OSError:
            data = b""
        if not data:
            raise Died(self.words())
        self._def.feed(data)
        return True

    def wait(self, cond, timeout):
        end = time.time() + timeout
        while not cond():
            if not self.pump(end):
                if self.proc is not None and self.proc.poll() is not None:
                    raise Died(self.words())
                return cond()
        return True

    def words(self):
        if not self.last_words:
            self.last_words = self.stderr()
        return self.last_words

    def request(self, op, key, timeout, **kw):
        """A control request answered by a response holding `key` (stray
        sync answers before it are dropped; None: any response); None if
        none came in time."""
        kw["op"] = op
        data = json.dumps(kw, separators=(",", ":")).encode()
        out = b""
        while len(data) > L.CHUNK:
            out += L.encode(L.T_CTRL_MORE, data[:L.CHUNK])
            data = data[L.CHUNK:]
        self.send(out + L.encode(L.T_CTRL, data))

        def got():
            while key and self.rsps and not (isinstance(self.rsps[0], dict) and
                                             key in self.rsps[0]):
                self.rsps.pop(0)
            return bool(self.rsps)
        if not self.wait(got, timeout):
            return None
        return self.rsps.pop(0)


SYNC = bytes(L.encode(L.T_CTRL, b'{"op":"sync"}'))
CTRL_KEYS = {"sync": "now", "advance": "done", "load": "ok", "ui": "ok", "set_clock": "now",
             "hello": "runtime",
             "state": "display", "mem": "free"}


# ---------------------------------------------------------------------------
# Frame building

def aps(cluster, payload, src=HUB, secured=True, dst=METER, dst_ep=1, profile=A.PROFILE_SE,
        src_ep=1):
    return A.Aps(src, src_ep, dst, dst_ep, profile, cluster, bytes(payload), secured)


def link_frame(msg):
    return bytes(L.encode(L.T_APS, msg.encode()))


def header(fc, seq, cmd, manuf=None):
    if manuf is not None:
        return bytes([fc | FC_MANUF, manuf & 0xFF, manuf >> 8, seq & 0xFF, cmd])
    return bytes([fc, seq & 0xFF, cmd])


def to_meter_fc(cls, cluster_specific):
    """Frame control of a command travelling to the meter's side of cls."""
    fc = FT_CLUSTER if cluster_specific else 0
    if not cls.SERVER:
        fc |= FC_TO_CLIENT
    return fc


def scenario_seeds():
    """The frames the scenarios send to the meter, built with the bench's
    own builders (no meter needed): each (cluster, aps)."""
    hub = Hub(METER)
    seeds = []
    files = sorted(glob.glob(os.path.join(ROOT, "scenarios", "*.json")))
    for path in files:
        with open(path) as f:
            sc = json.load(f)
        for st in sc.get("steps", []):
            try:
                seeds.extend(_step_frames(hub, st))
            except (KeyError, ValueError, TypeError, AttributeError, IndexError):
                continue
    seeds.extend(hub.adoption())
    for t in (T0, 0, UTC_MAX):
        seeds.append(time_answer(0x40, [(0, T.UTC, t), (1, T.MAP8, 0x09)]))
    out, seen = [], set()
    for m in seeds:
        k = (m.src, m.dst_ep, m.profile, m.cluster, m.secured, m.payload, m.frag)
        if k not in seen and len(m.payload) < 560:
            seen.add(k)
            out.append(m)
    return out


def _step_frames(hub, st):
    if "zcl" in st:
        v = st["zcl"]
        cls, cid = Z.cluster_by_name(v["cluster"])
        to_client = v.get("direction", "to_client" if cls and not cls.SERVER
                          else "to_server") == "to_client"
        if v["command"] in Z.GLOBAL_IDS:
            pl = Z.build_global(cls, v["command"], v, hub.next_seq(), to_client,
                                v.get("disable_default_response", False), v.get("manufacturer"))
        else:
            pl = Z.build_cluster_cmd(cls, v["command"], v.get("fields", {}), hub.next_seq(),
                                     to_client, v.get("disable_default_response", False),
                                     v.get("manufacturer"))
        src = v.get("src")
        if isinstance(src, str):
            src = int(src, 0)
        return [hub.to_meter(cid, pl, v.get("secured", True), v.get("ep"), src)]
    if "read" in st:
        return [hub.read_attributes(st["read"]["cluster"], st["read"]["attributes"])]
    if "raw" in st and "hex" in st["raw"]:
        v = st["raw"]
        _, cid = Z.cluster_by_name(v["cluster"])
        return [aps(cid, bytes.fromhex(v["hex"]), secured=v.get("secured", True),
                    dst_ep=v.get("ep", 1), profile=v.get("profile", A.PROFILE_SE))]
    for k, fn in (("drlc_event", hub.drlc_event), ("drlc_cancel", hub.drlc_cancel)):
        if k in st:
            v = {a: b for a, b in st[k].items() if not a.endswith("At")}
            return [fn(T0, v)]
    if "drlc_cancel_all" in st:
        v = st["drlc_cancel_all"]
        return [hub.drlc_cancel_all(T0, v if isinstance(v, dict) else {})]
    if isinstance(st.get("hub"), dict) and st["hub"].get("adopt"):
        return hub.adoption()
    if st.get("tunnel") == "open":
        return [hub.request_tunnel()]
    if "gbcs" in st and "hex" in st["gbcs"]:
        # the GBT blocks as the link carries them: APS fragments, each a seed
        hub.tunnel["id"] = 1
        out = []
        for m in hub.gbcs(bytes.fromhex(st["gbcs"]["hex"])):
            out.extend(GBT.fragments(m, 67))
        return out
    return []


def time_answer(seq, records, trunc=None):
    """The hub's Read Attributes Response to the meter's Time request."""
    buf = bytearray(header(FC_TO_CLIENT | FC_NO_DEFAULT_RSP, seq, Z.READ_ATTR_RSP))
    for aid, t, v in records:
        if t is None:
            buf += struct.pack("<HB", aid, S.UNSUPPORTED_ATTRIBUTE)
        else:
            buf += struct.pack("<HBB", aid, 0, t)
            b = bytearray(16)
            try:
                n = T.encode(t, v, b, 0)
            except (ValueError, TypeError):
                b, n = bytearray(struct.pack("<I", v & UTC_MAX)), 4
            buf += b[:n]
    if trunc is not None:
        buf = buf[:trunc]
    return aps(TimeClient.ID, buf)


# ---------------------------------------------------------------------------
# Value generators (group c)

def _int_extremes(rng, n, signed):
    if signed:
        lo, hi = -(1 << (8 * n - 1)), (1 << (8 * n - 1)) - 1
        return rng.choice((lo, hi, 0, -1, 1, lo + 1, hi - 1, rng.randint(lo, hi)))
    hi = (1 << (8 * n)) - 1
    return rng.choice((0, 1, hi, hi - 1, hi >> 1, (hi >> 1) + 1, rng.randint(0, hi)))


def raw_value(rng, t, depth=0):
    """Bytes of an extreme value of type t, sometimes deliberately invalid
    (0xFF string lengths, truncated strings, unknown element types)."""
    ti = T.info(t)
    if ti is None:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 6)))
    kind, n = ti
    if t == T.UTC:
        v = rng.choice((0, 1, 0x7FFFFFFF, 0xFFFFFFFE, UTC_MAX, T0, T0 - 1, T0 + 86400 * 366,
                        rng.randint(0, UTC_MAX)))
        return struct.pack("<I", v)
    if kind in (T.K_UNSIGNED, T.K_SIGNED):
        v = _int_extremes(rng, n, kind == T.K_SIGNED)
        b = bytearray(n)
        for i in range(n):
            b[i] = (v >> (8 * i)) & 0xFF
        return bytes(b)
    if kind == T.K_STRING:
        w = 2 if t >= T.LOCTSTR else 1
        inv = 0xFFFF if w == 2 else 0xFF
        r = rng.random()
        if r < 0.2:
            body, ln = b"", inv                           # invalid string
        elif r < 0.35:
            body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 8)))
            ln = inv - 1 if rng.random() < 0.5 else len(body) + rng.randint(1, 30)   # truncated
        elif r < 0.5:
            body = bytes([0x80, 0xFF, 0xC3, 0x28, 0x00])[:rng.randint(1, 5)]     # not UTF-8
            ln = len(body)
        elif r < 0.6:
            body = b"0" * rng.choice((20, 21, 40, 100))
            ln = len(body)
        else:
            body = bytes(rng.randrange(32, 127) for _ in range(rng.randint(0, 24)))
            ln = len(body)
        return struct.pack("<B" if w == 1 else "<H", ln) + body
    if kind == T.K_BYTES:
        return bytes(rng.randrange(256) for _ in range(rng.choice((16, 16, 15, 3))))
    if kind == T.K_TUPLE4:
        return bytes(rng.choice((0, 0xFF, rng.randrange(256))) for _ in range(4))
    if kind == T.K_COLLECTION:
        return collection(rng, depth)
    return struct_value(rng, depth)


def collection(rng, depth, deep=None):
    """Array/set/bag: counts 0, 0xFFFF (invalid), more than present, nested."""
    if deep:
        return nested(deep, rng.choice((T.ARRAY, T.SET, T.BAG, T.STRUCT)))
    r = rng.random()
    if r < 0.15:
        return bytes([rng.choice((T.UINT8, T.ARRAY, 0xFF)), 0xFF, 0xFF])
    if r < 0.3:
        return bytes([T.UINT16, 0xFE, 0xFF]) + bytes(rng.randint(0, 6))
    et = rng.choice((T.UINT8, T.UINT32, T.CHARSTR, T.UTC, T.INT16, T.BOOL, 0xFF, T.ARRAY,
                     T.STRUCT))
    cnt = rng.randint(0, 5)
    body = b""
    for _ in range(cnt):
        if et in (T.ARRAY, T.STRUCT) and depth > 3:
            break
        body += raw_value(rng, et, depth + 1)
    return bytes([et]) + struct.pack("<H", cnt) + body


def struct_value(rng, depth):
    cnt = rng.choice((0, 1, 2, 3, 0xFFFF, 0xFFFE))
    body = b""
    for _ in range(min(cnt, 4)):
        et = rng.choice((T.UINT8, T.CHARSTR, T.UTC, T.ARRAY, T.STRUCT, 0xFE))
        if et in (T.ARRAY, T.STRUCT) and depth > 3:
            et = T.UINT8
        body += bytes([et]) + raw_value(rng, et, depth + 1)
    return struct.pack("<H", cnt) + body


def nested(depth, kind=T.ARRAY):
    """A value nested `depth` levels deep (array of array ... or struct of
    struct ...), closed by a uint8."""
    if kind == T.STRUCT:
        return b"\x01\x00" + b"\x4c\x01\x00" * (depth - 1) + b"\x20\x00"
    return bytes([kind, 1, 0]) * (depth - 1) + b"\x20\x01\x00\x00"


class CommandCatalogue:
    """Every (cluster, command) the meter receives: the RX tables of its
    clusters (to the server side, or to the client side for DRLC) and the
    profile-wide commands on each cluster."""

    GLOBALS = (Z.READ_ATTR, Z.WRITE_ATTR, Z.WRITE_ATTR_UNDIVIDED, Z.WRITE_ATTR_NO_RSP,
               Z.CONFIG_REPORT, Z.READ_REPORT_CFG, Z.REPORT_ATTR, Z.DEFAULT_RSP,
               Z.DISCOVER_ATTR, Z.DISCOVER_ATTR_EXT, Z.DISCOVER_CMD_RX, Z.DISCOVER_CMD_TX,
               Z.READ_ATTR_RSP)

    def __init__(self, rng):
        self.items = []
        for cls in CLUSTERS:
            for c in cmd_rows(cls.RX):
                self.items.append((cls, True, c))
            for g in self.GLOBALS:
                self.items.append((cls, False, g))
        rng.shuffle(self.items)
        self.i = 0
        self.hits = {}

    def next(self):
        it = self.items[self.i % len(self.items)]
        self.i += 1
        return it

    @staticmethod
    def name(it):
        cls, specific, c = it
        return "%s.%s" % (cls.NAME, c[1] if specific else Z.GLOBAL_NAMES.get(c, "0x%02X" % c))


def schema_payload(rng, schema):
    body = b""
    for name, t in schema:
        if name.endswith("?") and rng.random() < 0.3:
            break
        if t == REST:
            body += bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 5, 7, 24, 80, 200))))
        elif isinstance(t, tuple):
            for _ in range(rng.choice((0, 1, 3, 40))):
                for _, t2 in t:
                    body += raw_value(rng, t2)
        else:
            body += raw_value(rng, t)
    r = rng.random()
    if r < 0.15 and body:
        body = body[:rng.randrange(len(body))]               # truncated
    elif r < 0.25:
        body += bytes(rng.randrange(256) for _ in range(rng.randint(1, 12)))    # trailing junk
    return body


def global_payload(rng, cls, cmd, deep=None):
    attrs = list(Z.all_attrs(cls))[:400] + [(0xFFFD, "ClusterRevision", T.UINT16, 1, 1)]
    def pick():
        return rng.choice(attrs)
    body = b""
    if cmd == Z.READ_ATTR:
        n = rng.choice((0, 1, 3, 40, 120))
        for _ in range(n):
            aid = pick()[0] if rng.random() < 0.7 else rng.randrange(65536)
            body += struct.pack("<H", aid)
        if rng.random() < 0.2:
            body += b"\x01"                                  # odd length
    elif cmd in (Z.WRITE_ATTR, Z.WRITE_ATTR_UNDIVIDED, Z.WRITE_ATTR_NO_RSP, Z.REPORT_ATTR):
        for _ in range(rng.choice((1, 1, 2, 4))):
            a = pick()
            w = [x for x in attrs if x[3] & A_W]
            if w and rng.random() < 0.5:
                a = rng.choice(w)
            t = a[2] if rng.random() < 0.7 else rng.choice(
                (T.ARRAY, T.STRUCT, T.CHARSTR, T.OCTSTR, T.UINT64, T.BOOL, T.LCHARSTR, 0xFF, 0x00))
            if deep:
                t = rng.choice((T.ARRAY, T.STRUCT))
                body += struct.pack("<HB", a[0], t) + nested(deep, t)
            else:
                body += struct.pack("<HB", a[0], t) + raw_value(rng, t)
    elif cmd == Z.CONFIG_REPORT:
        for _ in range(rng.choice((1, 2, 3, 17))):
            a = pick()
            t = a[2] if rng.random() < 0.7 else rng.choice((T.ARRAY, T.CHARSTR, T.UINT48, 0xFF))
            d = 0 if rng.random() < 0.85 else rng.choice((1, 2, 0xFF))
            mn = rng.choice((0, 1, 0xFFFF, 30, rng.randrange(65536)))
            mx = rng.choice((0, 1, 0xFFFF, 0xFFFE, rng.randrange(65536)))
            if d == 1:
                body += struct.pack("<BHH", d, a[0], rng.choice((0, 0xFFFF, 60)))
                continue
            body += struct.pack("<BHBHH", d, a[0], t, mn, mx)
            if T.is_analog(t):
                body += raw_value(rng, t)
    elif cmd == Z.READ_REPORT_CFG:
        for _ in range(rng.choice((0, 1, 3, 30))):
            body += struct.pack("<BH", rng.choice((0, 0, 1, 0xFF)), pick()[0])
    elif cmd in (Z.DISCOVER_ATTR, Z.DISCOVER_ATTR_EXT):
        body = struct.pack("<HB", rng.choice((0, 0xFFFF, 0x0100, rng.randrange(65536))),
                           rng.choice((0, 1, 0xFF, 16)))
    elif cmd in (Z.DISCOVER_CMD_RX, Z.DISCOVER_CMD_TX):
        body = bytes([rng.choice((0, 0xFF, 5)), rng.choice((0, 1, 0xFF))])
    elif cmd == Z.DEFAULT_RSP:
        body = bytes([rng.randrange(256), rng.randrange(256)])
    elif cmd == Z.READ_ATTR_RSP:
        for _ in range(rng.choice((1, 2, 5))):
            a = pick()
            st = rng.choice((0, 0, 0x86, 0xFF))
            body += struct.pack("<HB", a[0], st)
            if st == 0:
                t = a[2] if rng.random() < 0.6 else rng.choice((T.UTC, T.ARRAY, T.CHARSTR, 0xFF))
                body += bytes([t]) + raw_value(rng, t)
    r = rng.random()
    if r < 0.1 and body:
        body = body[:rng.randrange(len(body))]
    elif r < 0.15:
        body += bytes(rng.randrange(256) for _ in range(rng.randint(1, 5)))
    return body


# ---------------------------------------------------------------------------
# Input generation

class Input:
    __slots__ = ("group", "kind", "data", "mutating", "ddr_or_bcast", "label", "ctrl", "clock",
                 "records")

    def __init__(self, group, kind, data=b"", label=""):
        self.group = group
        self.kind = kind
        self.data = data            # link bytes
        self.label = label
        self.ctrl = None            # group d: (op, kwargs) control action before the input
        self.clock = None           # group d: expectations on the clock
        self.records = None         # records of a Write Attributes / Configure Reporting


def analyse(inp):
    """What the meter will see in inp.data (the firmware's own deframer and
    APS decoder): whether any frame could change state if accepted, and
    whether silence could be an accepted command's (no default response
    due: bit set, broadcast)."""
    mutating = False
    silent_ok = False
    frames = []
    L.Deframer(lambda t, p: frames.append((t, bytes(p)))).feed(inp.data)
    for t, p in frames:
        if t in (L.T_CTRL, L.T_CTRL_MORE):
            mutating = True
            continue
        if t != L.T_APS or len(p) < A.HDR_LEN:
            continue
        m = A.decode(p)
        if m.profile not in (A.PROFILE_SE, A.PROFILE_HA, A.PROFILE_WILDCARD):
            continue
        if m.frag and m.frag >> 8 != 1:
            continue                  # a later APS fragment: no ZCL header of its own
        if m.dst_ep not in (1, 0xFF) or len(m.payload) < 3:
            continue
        pl = m.payload
        fc = pl[0]
        if fc & 3 > 1:
            continue
        off = 3 if fc & FC_MANUF else 1
        if len(pl) < off + 2:
            continue
        if fc & FC_MANUF:
            continue                  # no manufacturer extensions: rejected
        cmd = pl[off + 1]
        if fc & FC_NO_DEFAULT_RSP or m.broadcast or m.dst_ep == 0xFF:
            silent_ok = True
        if cmd == Z.WRITE_ATTR_NO_RSP and fc & 3 == 0:
            silent_ok = True          # ZCL §2.5.6: never answered
        if fc & 3 == 0 and cmd in (Z.WRITE_ATTR, Z.WRITE_ATTR_UNDIVIDED, Z.CONFIG_REPORT):
            inp.records = (cmd, count_records(cmd, pl, off + 2))
        if fc & 3 == FT_CLUSTER:
            if (m.cluster, cmd) not in QUERIES:
                mutating = True
        elif cmd not in GLOBAL_QUERIES:
            if cmd != Z.READ_ATTR_RSP or m.cluster == TimeClient.ID:
                mutating = True
    inp.mutating = mutating
    inp.ddr_or_bcast = silent_ok
    return inp


def count_records(cmd, buf, off):
    """Records in a Write Attributes / Configure Reporting payload, None if
    it does not decode (the meter must then answer MALFORMED_COMMAND)."""
    end = len(buf)
    n = 0
    try:
        while off < end:
            if cmd == Z.CONFIG_REPORT:
                d = buf[off]
                off += 3
                if d:
                    off += 2
                else:
                    t = buf[off]
                    off += 5
                    if T.is_analog(t):
                        _, off = T.decode(t, buf, off, end)
            else:
                t = buf[off + 2]
                _, off = T.decode(t, buf, off + 3, end)
            n += 1
        if off > end:
            return None
    except (IndexError, ValueError, RecursionError, S.DecodeError):
        return None
    return n


def rtds_commands():
    """[(message, fields)] of every visible RTDS ESME command (GBCS_RTDS_DIR,
    default /work/shared/vectors/rtds); [] when the vectors are absent."""
    from tools import gbcs_host as GH
    root = os.environ.get("GBCS_RTDS_DIR", "/work/shared/vectors/rtds/messages")
    out = []
    for d in sorted(glob.glob(os.path.join(root, "*"))):
        for f in sorted(glob.glob(os.path.join(d, "*_COMMAND_GBCS.HEX"))):
            if "PRECOMMAND" in f:
                continue
            with open(f) as fh:
                b = bytes.fromhex(fh.read().strip())
            out.append((b, GH.parse(b)))
    return out


def _gbcs_bytes(rng, b, others):
    """One mutation of a GBCS message (or its payload), as the wire has it."""
    b = bytearray(b)
    r = rng.random()
    if not b:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))), "empty"
    if r < 0.3:
        i = rng.randrange(min(len(b), 80)) if rng.random() < 0.6 else rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
        return bytes(b), "bitflip"
    if r < 0.45:
        b[rng.randrange(len(b))] = rng.choice((0, 0xFF, 0x7F, 0x80, 0x81, 0x82, 0x83, 0x84))
        return bytes(b), "octet"
    if r < 0.6:
        return bytes(b[:rng.randrange(len(b))]), "truncate"
    if r < 0.7:
        return bytes(b) + bytes(rng.randrange(256) for _ in range(rng.randint(1, 300))), "extend"
    if r < 0.85:
        o = rng.choice(others)
        i, j = rng.randrange(len(b)), rng.randrange(len(o))
        return bytes(b[:i]) + bytes(o[j:j + rng.randint(1, 200)]), "splice"
    # a length-looking octet (BER: < 0x80 or 81-83) set to another length
    cand = [i for i in range(len(b)) if b[i] in (0x81, 0x82, 0x83) or b[i] < 0x40]
    i = rng.choice(cand) if cand else rng.randrange(len(b))
    b[i] = rng.choice((0, 1, 0x7F, 0x80, 0x81, 0x82, 0x83, 0xFF, rng.randrange(256)))
    return bytes(b), "length"


class Generator:
    def __init__(self, rng, gbcs=False):
        self.rng = rng
        self.seeds = scenario_seeds()
        self.cat = CommandCatalogue(rng)
        self.seq = 0
        self.gbcs = rtds_commands() if gbcs else []
        self.gbcs_oc = 1 << 40          # re-signed commands: counters above RTDS's

    def next_seq(self):
        self.seq = (self.seq + 1) & 0xFF
        return self.seq

    def make(self, group):
        return analyse(getattr(self, "gen_" + group)())

    # -- a: link bytes ---------------------------------------------------------
    def gen_a(self):
        rng = self.rng
        r = rng.random()
        if r < 0.3:
            n = rng.randint(1, 64)
            return Input("a", "random", bytes(rng.randrange(256) for _ in range(n)))
        if r < 0.5:
            n = rng.randint(2, 48)
            b = bytearray(rng.randrange(256) for _ in range(n))
            for i in range(n):
                if rng.random() < 0.25:
                    b[i] = rng.choice((L.SOF0, L.SOF1))
            # a SOF pair followed by a length that would outlast the input
            # swallows the probe: keep those for the truncated kind below
            return Input("a", "sof_garbage", _no_long_tail(bytes(b)))
        if r < 0.62:
            f = bytearray(link_frame(rng.choice(self.seeds)))
            i = rng.randrange(2, len(f))
            f[i] ^= 1 << rng.randrange(8)
            if rng.random() < 0.5:
                f = f[:i] + f[i:]
            return Input("a", "bad_crc", _no_long_tail(bytes(f)))
        if r < 0.70:
            ln = rng.choice((0, 601, 602, 0x7FFF, 0xFFFF, rng.randint(601, 0xFFFF)))
            return Input("a", "bad_length", bytes([L.SOF0, L.SOF1]) + struct.pack("<H", ln) +
                         bytes(rng.randrange(256) for _ in range(rng.randint(0, 8))))
        if r < 0.80:
            t = rng.choice([x for x in range(256) if x not in (L.T_CTRL, L.T_APS)])
            pl = bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
            return Input("a", "frame_type_%s" % ("more" if t == L.T_CTRL_MORE else "other"),
                         bytes(L.encode(t, pl)))
        if r < 0.86:
            return Input("a", "short_aps", bytes(L.encode(L.T_APS, bytes(
                rng.randrange(256) for _ in range(rng.randint(0, A.HDR_LEN - 1))))))
        if r < 0.92:
            k = rng.randint(1, 40)
            return Input("a", "nested_sof", (bytes([L.SOF0, L.SOF1]) * k) +
                         link_frame(rng.choice(self.seeds)))
        if r < 0.9997:
            g = bytes(rng.randrange(256) for _ in range(rng.randint(0, 20)))
            f = link_frame(rng.choice(self.seeds))
            return Input("a", "frame_in_garbage", _no_long_tail(g) + f + _no_long_tail(g[::-1]))
        # the header of a long frame and nothing after it (link stall defect)
        ln = rng.randint(64, 600)
        return Input("a", "truncated_header", bytes([L.SOF0, L.SOF1]) + struct.pack("<H", ln) +
                     bytes(rng.randrange(256) for _ in range(rng.randint(0, 8))))

    # -- b: mutated scenario frames --------------------------------------------
    def gen_b(self):
        rng = self.rng
        if self.gbcs and rng.random() < 0.9:
            return self.gen_gbcs()
        if rng.random() < 0.1:
            return self.gen_gbt()
        m0 = rng.choice(self.seeds)
        m = A.Aps(m0.src, m0.src_ep, m0.dst, m0.dst_ep, m0.profile, m0.cluster, m0.payload,
                  m0.secured)
        m.frag = m0.frag
        ops = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            op = rng.choice(MUTATORS)
            ops.append(op.__name__[4:])
            op(rng, m, self)
        m.payload = bytes(m.payload[:560])
        return Input("b", "+".join(ops), link_frame(m))

    def gen_gbt(self):
        """A mutated GBT Message in a TransferData on tunnel 1, APS-fragmented
        (the fragments possibly mutated too): one input of several frames."""
        rng = self.rng
        n = rng.choice((1, 2, 4, 5, 12))
        size = rng.randint((n - 1) * 1149 + 1, n * 1149) if n > 1 else rng.randint(40, 1200)
        hdr = bytes([1]) + bytes(7) + bytes([rng.randrange(4)]) + bytes.fromhex(
            "90B3D51F3001000000DB1234567890A00100")
        bn = rng.randint(1, n)
        bc = rng.choice((6, 0x86 if bn == n else 6, 0x46, 0xBF, 0, rng.randrange(256)))
        data = bytes(rng.randrange(256) for _ in range(min(1149, size - (bn - 1) * 1149)))
        kinds = []
        r = rng.random()
        if r < 0.15:
            bn = rng.choice((0, GBT.MAX_IN_BLOCKS + 1, 0xFFFF))
            kinds.append("block_number")
        msg = bytearray(GBT.build(hdr, bc, bn, rng.choice((0, 1, 0xFFFF)), data))
        if 0.15 <= r < 0.25:
            msg = msg[:rng.randrange(len(msg))]
            kinds.append("truncated")
        elif 0.25 <= r < 0.4:
            i = rng.randrange(min(len(msg), 60))
            msg[i] ^= 1 << rng.randrange(8)
            kinds.append("header_bit")
        elif 0.4 <= r < 0.5:
            msg += bytes(rng.randrange(256) for _ in range(rng.randint(1, 400)))
            kinds.append("extended")
        elif 0.5 <= r < 0.55:
            msg = bytes(rng.choice((0x00, 0x01, 0x10, 0x1FF, 0x5DD))) + bytes(
                rng.randrange(256) for _ in range(rng.randint(1, 200)))
            kinds.append("no_gbt")
        tid = 1 if rng.random() < 0.9 else rng.randrange(65536)
        pl = header(FC_NO_DEFAULT_RSP if rng.random() < 0.5 else 0, self.next_seq(), 0x02) + \
            struct.pack("<H", tid) + bytes(msg)
        frs = list(GBT.fragments(aps(Tunneling.ID, pl), 67))
        if len(frs) > 1 and rng.random() < 0.25:
            k = rng.random()
            i = rng.randrange(len(frs))
            if k < 0.3:
                del frs[i]
                kinds.append("frag_lost")
            elif k < 0.5:
                frs.insert(i, frs[i])
                kinds.append("frag_repeated")
            elif k < 0.7:
                frs[i].frag = rng.choice((0x100, 0x1FF, 0x200 | rng.randrange(256), 0x300,
                                          rng.randrange(65536)))
                kinds.append("frag_header")
            else:
                j = rng.randrange(len(frs))
                frs[i], frs[j] = frs[j], frs[i]
                kinds.append("frag_order")
        data = b"".join(link_frame(f) for f in frs)
        return Input("b", "gbt" + ("+" + "+".join(kinds) if kinds else ""), data)

    def gen_gbcs(self):
        """A GBCS command (gbcs mode): an RTDS command mutated on the wire, or
        its payload mutated and the command re-protected (MAC, signature when
        critical) with a fresh counter; through tunnel 1, GBT over 1200 octets."""
        from tools import gbcs_host as GH
        from tools.hubsim import Hub
        rng = self.rng
        b, f = rng.choice(self.gbcs)
        others = [x[0] for x in self.gbcs]
        kinds = []
        r = rng.random()
        if r < 0.5:
            for _ in range(rng.choice((1, 1, 2, 3))):
                b, k = _gbcs_bytes(rng, b, others)
                kinds.append(k)
            kind = "gbcs_wire"
        else:
            pl = bytes.fromhex(f["payload"])
            if r < 0.95:
                for _ in range(rng.choice((1, 1, 2))):
                    pl, k = _gbcs_bytes(rng, pl, [bytes.fromhex(x[1]["payload"])
                                                  for x in self.gbcs[:8]])
                    kinds.append(k)
            self.gbcs_oc += 1 + rng.randrange(3)
            oc = self.gbcs_oc
            if f["message_code"] == 7:              # CS01a: low 32 bits zero (§4.3.1.2)
                oc = (oc & 0xFFFFFFFF) << 32
            srp = (f["srp_id"], f["srp_counter"]) if f["srp_id"] else None
            try:
                b = GH.build_command(f["message_code"], pl[:3000], oc,
                                     originator=f["originator"], critical=bool(f["signature"]),
                                     srp=srp)
            except Exception:                      # a key the host lacks: the message as is
                kinds.append("unsigned")
            kind = "gbcs_auth"
        h = Hub(METER)
        h.tunnel["id"] = 1
        try:
            msgs = h.gbcs(b)
        except ValueError:           # over 1200 octets with no grouping header: one TransferData
            msgs = [h.transfer(b)]
            kinds.append("no_gbt")
        data = b"".join(link_frame(fr) for m in msgs for fr in GBT.fragments(m, 67))
        return Input("b", kind + ("+" + "+".join(kinds) if kinds else ""), data)

    # -- c: extreme field values per command -----------------------------------
    def gen_c(self):
        rng = self.rng
        it = self.cat.next()
        cls, specific, c = it
        name = CommandCatalogue.name(it)
        self.cat.hits[name] = self.cat.hits.get(name, 0) + 1
        deep = None
        if rng.random() < 0.002:
            deep = rng.choice((16, 40, 100, 180))
        fc = to_meter_fc(cls, specific)
        if rng.random() < 0.1:
            fc |= FC_NO_DEFAULT_RSP
        if specific:
            body = schema_payload(rng, c[2])
            if deep:
                body += nested(deep, rng.choice((T.ARRAY, T.STRUCT)))
            pl = header(fc, self.next_seq(), c[0]) + body
        else:
            pl = header(fc, self.next_seq(), c) + global_payload(rng, cls, c, deep)
        src = rng.choice((HUB,) * 8 + (PPMID, IHD, rng.randrange(65536)))
        secured = rng.random() < 0.8
        kind = name + (" deep%d" % deep if deep else "") + ("" if secured else " unsecured")
        return Input("c", kind, link_frame(aps(cls.ID, pl[:560], src=src, secured=secured)),
                     name)

    # -- d: clock extremes -----------------------------------------------------
    def gen_d(self):
        rng = self.rng
        inp = Input("d", "")
        r = rng.random()
        if r < 0.55:
            v = rng.choice((0, 1, 0x7FFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, UTC_MAX, None, None, None))
            recs = [(0, T.UTC, v), (1, T.MAP8, rng.choice((0x09, 0x00, 0xFF, 0x01)))]
            trunc = None
            r2 = rng.random()
            if r2 < 0.1:
                recs = [(0, rng.choice((T.UINT32, T.UINT8, T.CHARSTR, T.ARRAY)), v)]
            elif r2 < 0.2:
                recs = [(0, None, None), (1, T.MAP8, 0x09)]
            elif r2 < 0.3:
                trunc = rng.randint(3, 10)
            inp.kind = "hub_time"
            inp.clock = {"value": v, "step": rng.choice((-86400 * 365, -3600, -11, -1, 0, 1, 10,
                                                         11, 3600, 86400 * 366)),
                         "recs": recs, "trunc": trunc}
        elif r < 0.9:
            target = rng.choice((0, 1, 0x7FFFFFFF, 0xFFFFFFFE - rng.randint(0, 3),
                                 0xFFFFFFF0, T0, rng.randint(0, UTC_MAX - 1)))
            inp.kind = "set_clock"
            inp.clock = {"target": target, "then": rng.choice((1, 2, 5, 30))}
        else:
            inp.kind = "step_back"
            inp.clock = {"back": rng.choice((1, 10, 11, 1800, 86400, 31536000)),
                         "then": rng.choice((1, 5, 60))}
        return inp


def _no_long_tail(b):
    """Garbage that does not leave the link parser inside a frame it would
    complete only with more than a probe's worth of octets: such a frame
    swallows the probe until the link's inter-octet timeout, which is the
    deliberate (and rare) truncated_header kind. The SOF of that frame is
    broken until the firmware's parser ends outside a long frame."""
    b = bytearray(b)
    for _ in range(64):
        d = L.Deframer(lambda t, p: None)
        d.feed(bytes(b))
        if d.state != 2 or d.need - d.n <= len(SYNC) - 4:
            break
        # the pending frame's SOF: the last 7E A5 before its n octets
        i = len(b) - d.n - 2
        while i >= 0 and not (b[i] == L.SOF0 and b[i + 1] == L.SOF1):
            i -= 1
        if i < 0:
            break
        b[i + 1] = 0x00
    return bytes(b)


# -- mutators (group b): each changes an Aps in place ----------------------------

def mut_bitflip(rng, m, g):
    p = bytearray(m.payload)
    for _ in range(rng.randint(1, 4)):
        if p:
            p[rng.randrange(len(p))] ^= 1 << rng.randrange(8)
    m.payload = bytes(p)


def mut_byte(rng, m, g):
    p = bytearray(m.payload)
    if p:
        p[rng.randrange(len(p))] = rng.choice((0, 0xFF, 0x7F, 0x80, 0xFE, 0x01, 0x48, 0x4C))
    m.payload = bytes(p)


def mut_truncate(rng, m, g):
    m.payload = m.payload[:rng.randrange(len(m.payload) + 1)]


def mut_extend(rng, m, g):
    if rng.random() < 0.5 or len(m.payload) < 4:
        m.payload += bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
    else:
        i = rng.randrange(3, len(m.payload))
        m.payload += m.payload[i:] * rng.randint(1, 6)


def mut_insert_delete(rng, m, g):
    p = bytearray(m.payload)
    i = rng.randrange(len(p) + 1)
    if rng.random() < 0.5 and i < len(p):
        del p[i:i + rng.randint(1, 4)]
    else:
        p[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
    m.payload = bytes(p)


def mut_length(rng, m, g):
    """A byte after the ZCL header that may be a length or count field."""
    p = bytearray(m.payload)
    if len(p) > 3:
        i = rng.randrange(3, len(p))
        p[i] = rng.choice((0x00, 0xFF, 0xFE, 0x01, (p[i] + 1) & 0xFF, (p[i] - 1) & 0xFF,
                           len(p) & 0xFF))
    m.payload = bytes(p)


def mut_zcl_header(rng, m, g):
    p = bytearray(m.payload or b"\x00")
    r = rng.random()
    if r < 0.3:
        p[0] ^= rng.choice((FC_TO_CLIENT, FC_NO_DEFAULT_RSP, FC_MANUF, 0x01, 0x02, 0xE0))
    elif r < 0.6 and len(p) > 2:
        p[2 if not p[0] & FC_MANUF else 4 if len(p) > 4 else 2] = rng.randrange(256)   # command
    else:
        p[0] = rng.randrange(256)
    m.payload = bytes(p)


def mut_aps(rng, m, g):
    r = rng.randrange(7)
    if r == 0:
        m.secured = not m.secured
    elif r == 1:
        m.dst_ep = rng.choice((0, 2, 0xFF, 0xF2, rng.randrange(256)))
    elif r == 2:
        m.profile = rng.choice((A.PROFILE_HA, A.PROFILE_ZDO, A.PROFILE_WILDCARD,
                                rng.randrange(65536)))
    elif r == 3:
        m.cluster = rng.choice([c.ID for c in CLUSTERS] + [0x0001, 0x0019, rng.randrange(65536)])
    elif r == 4:
        m.src = rng.choice((PPMID, IHD, 0xFFFF, rng.randrange(65536)))
    elif r == 5:
        m.dst = rng.choice((0xFFFF, 0xFFFD, 0xFFFC, 0x0001))
    else:
        m.src_ep = rng.randrange(256)


def mut_splice(rng, m, g):
    o = rng.choice(g.seeds).payload
    i = rng.randrange(len(m.payload) + 1)
    j = rng.randrange(len(o) + 1)
    m.payload = m.payload[:i] + o[j:]


MUTATORS = (mut_bitflip, mut_bitflip, mut_byte, mut_truncate, mut_extend, mut_insert_delete,
            mut_length, mut_length, mut_zcl_header, mut_aps, mut_splice)


# ---------------------------------------------------------------------------
# Response classification

def verdict(inp, frames):
    """accepted | rejected | silent (nothing sent back where silence can be
    an accepted command's) | rejected-silent (dropped)."""
    rejected = accepted = failure = 0
    for raw in frames:
        if len(raw) < A.HDR_LEN:
            continue
        m = A.decode(raw)
        pl = m.payload
        if m.profile != A.PROFILE_SE or len(pl) < 3:
            accepted += 1
            continue
        if getattr(m, "frag", 0) and m.frag >> 8 != 1:
            continue                   # a later APS fragment (a long TransferData): no ZCL header
        fc = pl[0]
        off = 3 if fc & FC_MANUF else 1
        if len(pl) < off + 2:
            accepted += 1
            continue
        cmd = pl[off + 1]
        body = pl[off + 2:]
        if fc & 3 == 0 and cmd == Z.DEFAULT_RSP and len(body) >= 2:
            if body[1] == S.SUCCESS:
                accepted += 1
            else:
                rejected += 1
                failure += body[1] == S.FAILURE
        elif fc & 3 == 0 and cmd in (Z.WRITE_ATTR_RSP, Z.CONFIG_REPORT_RSP):
            # only failed records are listed (ZCL §2.5.5, §2.5.8): rejected
            # when every record of the request failed (or any, undivided)
            step = 3 if cmd == Z.WRITE_ATTR_RSP else 4
            failed = 0 if len(body) == 1 and body[0] == S.SUCCESS else len(body) // step
            rc, n = inp.records or (None, None)
            if failed and (rc == Z.WRITE_ATTR_UNDIVIDED or (n is not None and failed >= n)):
                rejected += 1
            else:
                accepted += 1
        elif fc & 3 == FT_CLUSTER and m.cluster == Prepayment.ID and cmd == 0x03 and body:
            if body[0]:
                rejected += 1
            else:
                accepted += 1
        elif fc & 3 == FT_CLUSTER and m.cluster == Tunneling.ID and (
                cmd == 0x02 or (cmd == 0x00 and len(body) > 2)):
            # TransferDataError, or a RequestTunnelResponse's status
            if cmd == 0x02 or body[2]:
                rejected += 1
            else:
                accepted += 1
        elif fc & 3 == FT_CLUSTER and m.cluster == DrlcClient.ID and cmd == 0x00 and len(body) > 4:
            if body[4] >= 0xF8:
                rejected += 1
            else:
                accepted += 1
        else:
            accepted += 1
    if accepted:
        v = "accepted"
    elif rejected:
        v = "rejected"
    elif inp.ddr_or_bcast:
        v = "silent"
    else:
        v = "dropped"
    return v, failure


LOG_FILES = ("log_event.bin", "log_sec.bin")    # rejections are logged there, by design


def store_digest(path):
    """The meter's persistent state as the host reads its store directory:
    each record's newest good payload (firmware/platform/store.py, the
    alternating slots and sequence numbers left out) and the ring files,
    without the event and security logs."""
    st = Store(FileBackend(path))
    out = {}
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return out
    for n in names:
        if n in LOG_FILES:
            continue
        if n[-2:] in (".0", ".1"):
            k = n[:-2]
            if k in out:
                continue
            # the newest good slot whatever its schema (Store.load returns
            # untyped records only; owned records are read by their owners)
            c = st._candidates(k)
            if c:
                out[k] = bytes(c[0][4])
                continue
        try:
            with open(os.path.join(path, n), "rb") as f:
                out[n] = f.read()
        except OSError:
            pass
    return out


def _hexd(d):
    return {k: [v.hex() if isinstance(v, bytes) else v for v in ab] for k, ab in d.items()}


def flatten(d, prefix="", out=None):
    if out is None:
        out = {}
    if isinstance(d, dict):
        for k, v in d.items():
            flatten(v, prefix + k + ".", out)
    else:
        out[prefix[:-1]] = d
    return out


def guarded(state):
    """The state entries a rejected input must leave alone (IGNORED out)."""
    st = dict(state)
    for path in IGNORED:
        d = st
        keys = path.split(".")
        for k in keys[:-1]:
            if not isinstance(d.get(k), dict):
                d = None
                break
            d[k] = dict(d[k])
            d = d[k]
        if d is not None:
            d.pop(keys[-1], None)
    return flatten(st)


def diff(a, b):
    keys = sorted(set(a) | set(b))
    return {k: [a.get(k), b.get(k)] for k in keys if a.get(k) != b.get(k)}


# ---------------------------------------------------------------------------
# The campaign

def meter_config():
    from tools import utrn as UT
    cfg = {"han_devices": {"0x%04X" % PPMID: "ppmid", "0x%04X" % IHD: "ihd"}}
    cfg.update(UT.meter_config())
    return cfg


class Campaign:
    def __init__(self, args):
        self.a = args
        self.rng = random.Random(args.seed)
        self.gen = Generator(random.Random(self.rng.getrandbits(64)),
                             getattr(args, "gbcs", False))
        self.tariffs = sorted(glob.glob(os.path.join(ROOT, "tariffs", "*.json")))
        self.out = args.out
        os.makedirs(self.out, exist_ok=True)
        self.cfg = meter_config()
        self.link = None
        self.seg = None
        self.segments = 0
        self.n = 0
        self.t_start = time.time()
        self.groups = {g: {"inputs": 0, "outcomes": {}} for g in GROUPS}
        self.deaths = []
        self.stalls = []
        self.recovered = 0
        self.state_changes = []
        self.unattributed = []
        self.handler_errors = 0
        self.handler_inputs = []
        self.invariants = []
        self.clock_notes = []
        self.heap = {"samples": 0, "min_free": None, "min_largest": None, "last": None}
        self.checked = 0          # rejected inputs whose state was compared
        self.unchecked = 0
        self.probes = 0
        self.replays = 0
        self.states = 0
        self.saved = 0
        self.saved_h = 0
        self.created = []
        self.deferred = []
        self.phase = ""
        self.store_checked = 0
        self.digest = {}
        self.baseline = None
        self.hub_pending = False

    # -- meter lifecycle --------------------------------------------------------
    def _store(self, k):
        return os.path.join(self.out, "store%d" % k)

    def start_segment(self, fresh):
        """A meter process. fresh: new store and setup (tariff, adoption,
        prepayment); else restart on the store of the one that died."""
        self.segments += 1
        k = self.segments
        utc = rtc = T0
        old = self.seg
        if not fresh and old is not None:
            utc, rtc = old["now"], old["clock"]
            store = old["store"]
        else:
            store = self._store(k)
            shutil.rmtree(store, ignore_errors=True)
            if old is not None and old["store"] != store:
                shutil.rmtree(old["store"], ignore_errors=True)
        if fresh and getattr(self.a, "gbcs", False):
            # the RTDS keystore, as a factory writes it before the first power-on
            from tools.bench.runner import provision_gbcs
            os.makedirs(store, exist_ok=True)
            provision_gbcs(store, "rtds")
        snap = store + ".start"
        shutil.rmtree(snap, ignore_errors=True)
        if os.path.isdir(store):
            shutil.copytree(store, snap)
        self.seg = {"store": store, "snap": snap, "utc": utc, "rtc": rtc, "trace": [],
                    "now": utc, "clock": rtc, "hc": 0, "fresh": fresh}
        self.link = FuzzLink(self.a.runtime, store, utc, self.cfg)
        self.link.start(utc, rtc)
        self.hub_pending = False
        if fresh:
            self._setup(k)
        else:
            self.act(("ctrl", "load", {"w": 500}))
            self._settle()
        self.baseline = self.take_state()
        self.digest = store_digest(store)
        self.run = []
        self.sample_heap()

    def _setup(self, k):
        """Adoption as the hub does it, a tariff, on every other segment
        prepayment with a top-up: the money state the campaign guards."""
        if k % 3:
            self._settle()                               # the boot time request, answered
        else:                                            # a slow hub: group d answers it
            self.link.out = []
            self.act(("ctrl", "advance", {"s": 1}))
            self._answer_others()
        hub = Hub(METER)
        hub.tunnel_at_join = True          # the GBCS tunnel: GBT inputs reach the meter's GBT
        for m in hub.adoption():
            self.act(("send", link_frame(m)))
        with open(self.tariffs[k % len(self.tariffs)]) as f:
            doc = json.load(f)
        self.act(("ctrl", "tariff", Hub(METER).tariff_request(doc, "immediate")))
        if k % 2:
            from tools import utrn as UT
            self.act(("ctrl", "prepay", {"doc": {"mode": "prepayment",
                                                 "params": {"ec_limit": 300000}}}))
            self.act(("ctrl", "ui", {"code": 5, "arg": UT.make_utrn(1000 + k, pounds=20)}))
        self.act(("ctrl", "load", {"w": 500}))

    def _settle(self):
        """Advance one second; answer the meter's Time request (valid hub
        time) if it sent one."""
        self.link.out = []
        self.act(("ctrl", "advance", {"s": 1}))
        self._answer_time(self.seg["now"])

    def _answer_time(self, value):
        for raw in self.link.out:
            m = A.decode(raw)
            if m.cluster == TimeClient.ID and len(m.payload) >= 3 and m.payload[2] == Z.READ_ATTR:
                msg = time_answer(m.payload[1], [(0, T.UTC, value), (1, T.MAP8, 0x09)])
                self.link.out = []
                self.act(("send", link_frame(msg)))
                return True
        return False

    def act(self, action, link=None, record=True):
        """One recorded action on the link (replayable): ("send", bytes) with
        its sync, or ("ctrl", op, kw). Returns the outcome of the exchange."""
        link = link or self.link
        if record and link is self.link:
            self.seg["trace"].append(action)
        if action[0] == "send":
            return self.exchange(action[1], link)
        _, op, kw = action
        rsp = link.request(op, CTRL_KEYS.get(op), self.a.t2 * 4, **kw)
        if link is self.link:
            self.seg["now"] = link.now
            self.seg["clock"] = link.meter_clock
        return rsp

    def exchange(self, data, link):
        """Send data and a sync on one write: "ok", or "recovered" (answered
        only after a quiet gap), or "stall"; Died propagates."""
        before = len(link.rsps)
        link.send(data + SYNC)
        if link.wait(lambda: len(link.rsps) > before, self.a.t1):
            del link.rsps[before:before + 1]
            out = "ok"
        else:
            time.sleep(self.a.gap)
            link.send(SYNC)
            if not link.wait(lambda: len(link.rsps) > before, self.a.t2):
                return "stall"
            # a late first answer may still come: drain with a distinct request
            if link.request("hello", "runtime", self.a.t2) is None:
                return "stall"
            link.rsps = []
            out = "recovered"
        if link is self.link:
            self.seg["now"] = link.now
            self.seg["clock"] = link.meter_clock
        return out

    def take_state(self, link=None):
        link = link or self.link
        self.states += 1
        self.phase = "state"
        st = link.request("state", "display", max(self.a.t2, 5) * 4)
        if st is None:
            raise Stalled("state request unanswered")
        return st

    def sample_heap(self):
        self.phase = "mem"
        m = self.link.request("mem", "free", self.a.t2 * 4)
        if m is None:
            raise Stalled("mem request unanswered")
        h = self.heap
        h["samples"] += 1
        h["last"] = m
        if m.get("free") is not None:
            h["min_free"] = m["free"] if h["min_free"] is None else min(h["min_free"], m["free"])
            h["min_largest"] = (m["largest"] if h["min_largest"] is None
                                else min(h["min_largest"], m["largest"]))

    # -- bookkeeping -------------------------------------------------------------
    def count(self, inp, outcome):
        g = self.groups[inp.group]
        g["outcomes"][outcome] = g["outcomes"].get(outcome, 0) + 1

    def record(self, inp, idx, **kw):
        d = {"input": idx, "group": inp.group, "kind": inp.kind, "hex": inp.data.hex()}
        if inp.clock is not None:
            d["clock"] = {k: v for k, v in inp.clock.items() if k != "recs"}
        d.update(kw)
        return d

    def _handler_count(self, st, run_inputs):
        hc = st.get("meter", {}).get("HandlerErrors", 0) or 0
        if hc > self.seg["hc"]:
            self.handler_errors += hc - self.seg["hc"]
            tr = None
            if self.saved_h < self.a.keep_traces // 2:
                self.saved_h += 1
                self.saved -= 1             # handler traces have their own allowance
                tr = self.save_trace(self.n)
            for r in run_inputs:
                idx, inp, fail = r[0], r[1], r[-1]
                if fail and len(self.handler_inputs) < 100:
                    self.handler_inputs.append(self.record(inp, idx, trace=tr))
        self.seg["hc"] = hc
        p = st.get("meter", {}).get("Prepay", {})
        if p and p.get("LedgerOK") is False and len(self.invariants) < 50:
            self.invariants.append({"input": self.n, "what": "Prepay.LedgerOK false"})

    def checkpoint(self):
        """Compare the state with the baseline over the run since it (inputs
        that should all have left the state alone)."""
        st = self.take_state()
        self._handler_count(st, self.run)
        if self.baseline is None:
            self.unchecked += sum(1 for r in self.run if r[2] in ("rejected", "dropped"))
        elif self.run:
            d = diff(guarded(self.baseline), guarded(st))
            if d:
                self.locate(d)
            self.checked += sum(1 for r in self.run if r[2] in ("rejected", "dropped"))
        self.baseline = st
        self.run = []

    def locate(self, d):
        """A run changed the state: replay the segment on a second meter up
        to the run, then the run one input at a time."""
        run = list(self.run)
        found = []
        self.replays += 1
        if self.seg["fresh"] and len(self.seg["trace"]) < 20000:
            try:
                found = self._replay(run)
            except (Died, Stalled, OSError) as e:
                found = None
                d["_replay"] = str(e)[-200:]
        for idx, inp, v, diff_ in (found or []):
            self.state_changes.append(self.record(inp, idx, verdict=v, diff=_short(diff_)))
        if not found:
            self.unattributed.append({"inputs": [r[0] for r in run], "diff": _short(d),
                                      "hex": [r[1].data.hex() for r in run[:20]]})

    def _replay(self, run):
        seg = self.seg
        store = seg["store"] + ".replay"
        shutil.rmtree(store, ignore_errors=True)
        if os.path.isdir(seg["snap"]):
            shutil.copytree(seg["snap"], store)
        link = FuzzLink(self.a.runtime, store, seg["utc"], self.cfg)
        link.start(seg["utc"], seg["rtc"])
        try:
            trace = seg["trace"]
            first = run[0][3]                 # trace position of the run's first input
            for action in trace[:first]:
                self.act(action, link, record=False)
            prev = guarded(self.take_state(link))
            if prev != guarded(self.baseline):
                return None                   # not deterministic: leave it unattributed
            found = []
            for idx, inp, v, pos, _ in run:
                self.act(trace[pos], link, record=False)
                cur = guarded(self.take_state(link))
                dd = diff(prev, cur)
                if dd:
                    found.append((idx, inp, v, dd))
                prev = cur
            return found
        finally:
            link.kill()
            shutil.rmtree(store, ignore_errors=True)

    def save_trace(self, idx):
        """Everything sent to this meter since it started on an empty store,
        up to input idx (the last action): `python -m tools.fuzz --replay
        FILE` plays it again. None for a meter restarted on a used store."""
        if not self.seg["fresh"] or self.saved >= self.a.keep_traces:
            return None
        self.saved += 1
        d = os.path.join(self.out, "traces")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "input%d.json" % idx)
        acts = [["send", a[1].hex()] if a[0] == "send" else ["ctrl", a[1], a[2]]
                for a in self.seg["trace"]]
        with open(path, "w") as f:
            json.dump({"utc": self.seg["utc"], "rtc": self.seg["rtc"], "config": self.cfg,
                       "gbcs": bool(getattr(self.a, "gbcs", False)), "actions": acts}, f)
        return os.path.relpath(path, self.out)

    # -- one input --------------------------------------------------------------
    def step(self, inp):
        self.n += 1
        idx = self.n
        g = self.groups[inp.group]
        g["inputs"] += 1
        try:
            if inp.group == "d":
                self.clock_input(inp, idx)
            else:
                self.link_input(inp, idx)
            if self.a.probe_every and idx % self.a.probe_every == 0:
                self.probe()
            if self.a.mem_every and idx % self.a.mem_every == 0:
                self.sample_heap()
        except Died as e:
            self.count(inp, "death")
            if inp.group != "d" and self.seg["trace"][-1:] == [("send", inp.data)]:
                self.save_trace(idx)
            if len(self.deaths) < self.a.keep:
                self.deaths.append(self.record(inp, idx, error=_last_line(str(e)),
                                               during=self.phase, where=_where(str(e))))
            else:
                self.deaths.append({"input": idx, "group": inp.group, "kind": inp.kind,
                                    "error": _last_line(str(e)), "during": self.phase})
            self.restart()
        except Stalled as e:
            self.count(inp, "stall")
            self.stalls.append(self.record(inp, idx, during=str(e)))
            self.restart()

    def link_input(self, inp, idx):
        rej = ("rejected", "dropped")
        if not inp.mutating and self.baseline is None:
            self.baseline = self.take_state()
            self._handler_count(self.baseline, [])
        sampled = inp.mutating and self.states < self.a.state_budget * max(self.n, 1000)
        if sampled:
            if self.run:
                self.checkpoint()
            if self.baseline is None:
                self.baseline = self.take_state()
                self._handler_count(self.baseline, [])
        self.link.out = []
        pos = len(self.seg["trace"])
        self.phase = "input"
        outcome = self.act(("send", inp.data))
        if outcome == "stall":
            raise Stalled("input")
        if outcome == "recovered":
            self.recovered += 1
            self.count(inp, "recovered")
        v, fail = verdict(inp, self.link.out)
        self.count(inp, v)
        if fail:
            self.count(inp, "failure_status")
        rejected = v in rej
        # persistent state: exact, after every input
        dig = store_digest(self.seg["store"])
        sd = None
        if dig != self.digest:
            if rejected:
                sd = diff(self.digest, dig)
            self.digest = dig
        if rejected:
            self.store_checked += 1
        entry = (idx, inp, v, pos, fail)
        fd = None
        if sampled:
            st = self.take_state()
            self._handler_count(st, [entry])
            if rejected:
                self.checked += 1
                fd = diff(guarded(self.baseline), guarded(st))
            self.baseline = st
        if sd and not sampled and self.baseline is not None:
            # the store moved on a rejection: did the meter's state (RAM) move
            # too, over the run of rejections and queries since the baseline?
            st = self.take_state()
            self._handler_count(st, self.run + [entry])
            fd = diff(guarded(self.baseline), guarded(st))
            if not fd:
                self.checked += 1 + sum(1 for r in self.run if r[2] in rej)
            else:
                self.unchecked += sum(1 for r in self.run if r[2] in rej)
            self.run = []
            self.baseline = st
            sampled = True
        if sd and all(a is None for a, _ in sd.values()) and not fd:
            # a record written for the first time (the DRLC table on its
            # first event, say): no state it had is changed, but a flash
            # write on a rejection is worth knowing
            self.created.append(self.record(inp, idx, verdict=v, diff=_short(_hexd(sd))))
        elif sd and sampled and not fd:
            # the stored state moved while the meter's state view did not:
            # either the store caught up with what RAM already held (an
            # earlier accepted command was not saved when actioned: the
            # DRLC cancel) or a change the view does not show (reporting
            # configurations). Counted with the state changes, listed apart.
            self.deferred.append(self.record(inp, idx, verdict=v, diff=_short(_hexd(sd)),
                                             trace=self.save_trace(idx)))
        elif sd or fd:
            d = dict(_hexd(sd or {}))
            d.update(fd or {})
            self.state_changes.append(self.record(inp, idx, verdict=v, store=bool(sd),
                                                  diff=_short(d), trace=self.save_trace(idx)))
        if sampled:
            return
        if inp.mutating and not rejected:
            # accepted: the state moved legitimately, the run cannot be compared
            self.unchecked += sum(1 for r in self.run if r[2] in rej)
            self.run = []
            self.baseline = None
        elif self.baseline is None:
            self.unchecked += rejected
        else:
            self.run.append(entry)
            if len(self.run) >= self.a.check_every:
                self.checkpoint()

    def probe(self):
        """A Read Attributes of Basic must be answered (the ZCL path works)."""
        self.probes += 1
        self.phase = "probe"
        hub = Hub(METER)
        self.link.out = []
        if self.act(("send", link_frame(hub.read_attributes("Basic", ["ZCLVersion"])))) == "stall":
            raise Stalled("probe")
        if not self.link.out:
            raise Stalled("probe unanswered (ZCL)")

    def clock_input(self, inp, idx):
        """Group d. The run before it is checked first (time moves here)."""
        if self.run:
            self.checkpoint()
        link = self.link
        c = inp.clock
        self.phase = "clock"
        self.act(("ctrl", "sync", {}))
        own = link.meter_clock
        if inp.kind == "hub_time" and not self.hub_pending:
            # no request out (the meter asks at boot, then daily or every
            # 30 min after a failure): the same extreme as a supplier clock set
            v = c["value"]
            if v is None or v == UTC_MAX:
                v = max(0, min(UTC_MAX - 1, own + c["step"]))
            inp.kind = "set_clock"
            inp.clock = c = {"target": v, "then": 2, "from": "hub_time"}
        if inp.kind == "hub_time":
            before = self.take_state()
            own = before["meter"]["clock"]
            v = c["value"]
            if v is None:
                v = max(0, min(UTC_MAX - 1, own + c["step"]))
                c["value"] = v
            recs = [(a, t, v if a == 0 and t is not None else x) for a, t, x in c["recs"]]
            if any(a == 0 and t == T.UTC for a, t, _ in recs):
                recs = [(a, t, v) if a == 0 else (a, t, x) for a, t, x in recs]
            msg = time_answer(0x40 + (idx & 0x3F), recs, c["trunc"])
            inp.data = link_frame(msg)
            link.out = []
            if self.act(("send", inp.data)) == "stall":
                raise Stalled("time answer")
            self.hub_pending = False
            after = self.take_state()
            self._handler_count(after, [inp_entry(idx, inp)])
            status = before["meter"]["TimeStatus"]
            taken_ok = (c["trunc"] is None and any(a == 0 and t == T.UTC for a, t, _ in recs)
                        and v != UTC_MAX and (status == "invalid" or abs(v - own) <= 10))
            if not taken_ok:
                # must be rejected: nothing but the time status and alerts may change
                self.count(inp, "rejected")
                d = diff(guarded(before), guarded(after))
                d.pop("meter.TimeStatus", None)
                d.pop("Time.TimeStatus", None)
                self.checked += 1
                if d:
                    self.state_changes.append(self.record(inp, idx, verdict="rejected",
                                                          diff=_short(d)))
            else:
                self.count(inp, "accepted")
                if after["meter"]["clock"] != v:
                    self.clock_notes.append(self.record(inp, idx, note="hub time not taken",
                                                        clock=after["meter"]["clock"]))
            self.act(("ctrl", "advance", {"s": 2}))
            self._answer_others()
        elif inp.kind == "set_clock":
            inp.data = json.dumps({"set_clock": c["target"]}).encode()
            if self.act(("ctrl", "set_clock", {"offset": c["target"] - own})) is None:
                raise Stalled("set_clock")
            self.count(inp, "accepted")
            left = c["then"]
            while left > 0:
                rsp = self.act(("ctrl", "advance", {"s": left}))
                if rsp is None:
                    raise Stalled("advance")
                left -= max(1, rsp.get("done", 1))
                self._answer_others()
        else:
            inp.data = json.dumps({"set_clock": own - c["back"]}).encode()
            if self.act(("ctrl", "set_clock", {"offset": -min(c["back"], own)})) is None:
                raise Stalled("set_clock")
            self.count(inp, "accepted")
            self.act(("ctrl", "advance", {"s": c["then"]}))
            self._answer_others()
        # Back to the campaign's era once the extreme has been lived through
        # (a supplier clock set): what a wrapped or year-2000 clock breaks
        # is recorded against the clock input, not smeared over every later
        # input that happens to encode the time.
        self.act(("ctrl", "sync", {}))
        if not T0 - RESTORE_SPAN <= link.meter_clock <= T0 + RESTORE_SPAN:
            self.act(("ctrl", "set_clock", {"offset": T0 + idx - link.meter_clock}))
            self._answer_others()
        self.baseline = self.take_state()
        self._handler_count(self.baseline, [inp_entry(idx, inp)])
        self.digest = store_digest(self.seg["store"])
        self.run = []

    def _answer_others(self):
        """Time requests seen while time runs: left pending for a hub_time
        input (the hub is slow), nothing else needs an answer."""
        if any(_is_time_req(r) for r in self.link.out):
            self.hub_pending = True
        self.link.out = []

    def restart(self):
        """After a death or stall: the meter restarts on its store, as after
        a power cut; if it cannot, on a fresh store."""
        if self.link is not None:
            self.link.kill()
        self.unchecked += sum(1 for r in self.run if r[2] in ("rejected", "dropped"))
        self.run = []
        try:
            self.start_segment(fresh=False)
        except (Died, Stalled, OSError) as e:
            self.deaths.append({"input": self.n, "group": "restart", "kind": "boot",
                                "error": _last_line(str(e))})
            if self.link is not None:
                self.link.kill()
            self.start_segment(fresh=True)

    # -- main -------------------------------------------------------------------
    def go(self):
        total = self.a.inputs
        seg_len = self.a.segment
        self.start_segment(fresh=True)
        since = 0
        while self.n < total:
            if since >= seg_len:
                self._end_segment()
                self.start_segment(fresh=True)
                since = 0
            # a chunk in a seeded order: the queries and the inputs that
            # cannot change state when accepted first (checked as one run),
            # then the rest, then the clock group (time moves)
            w = WEIGHTS_GBCS if getattr(self.a, "gbcs", False) else WEIGHTS
            chunk = [self.gen.make(self.rng.choices(GROUPS, w)[0])
                     for _ in range(min(self.a.chunk, total - self.n))]
            order = ([i for i in chunk if i.group != "d" and not i.mutating] +
                     [i for i in chunk if i.group != "d" and i.mutating] +
                     [i for i in chunk if i.group == "d"])
            for k, inp in enumerate(order):
                self.step(inp)
                since += 1
                if (k + 1 < len(order) and not inp.mutating and order[k + 1].mutating
                        and self.run and self.baseline is not None):
                    try:
                        self.checkpoint()
                    except (Died, Stalled, OSError) as e:
                        # the meter died answering the state request: a death
                        # like any other (pinned on the last input), then on
                        self.deaths.append({"input": self.n, "group": "state", "kind": "checkpoint",
                                            "error": _last_line(str(e))})
                        self.restart()
                if self.a.progress and self.n % self.a.progress == 0:
                    print("%d inputs, %.0f s, deaths %d stalls %d changes %d" % (
                        self.n, time.time() - self.t_start, len(self.deaths), len(self.stalls),
                        len(self.state_changes) + len(self.unattributed)), flush=True)
        self._end_segment()
        return self.report()

    def _end_segment(self):
        try:
            if self.run:
                self.checkpoint()
            self.sample_heap()
        except (Died, Stalled):
            pass
        self.link.kill()
        for p in (self.seg["snap"],):
            shutil.rmtree(p, ignore_errors=True)

    def report(self):
        wall = time.time() - self.t_start
        deaths = len(self.deaths)
        rep = {
            "seed": self.a.seed, "runtime": self.a.runtime, "inputs": self.n,
            "gbcs": bool(getattr(self.a, "gbcs", False)),
            "wall_s": round(wall, 1), "inputs_per_s": round(self.n / wall, 1) if wall else None,
            "groups": self.groups,
            "deaths": deaths, "death_inputs": self.deaths,
            "stalls": len(self.stalls), "stall_inputs": self.stalls,
            "link_recovered": self.recovered,
            "handler_errors": self.handler_errors, "handler_error_inputs": self.handler_inputs,
            "state_changes_on_rejected": (len(self.state_changes) + len(self.unattributed) +
                                          len(self.deferred)),
            "state_change_inputs": self.state_changes[:self.a.keep],
            "state_change_runs_unattributed": self.unattributed[:self.a.keep],
            "records_created_on_rejected": len(self.created),
            "deferred_writes": len(self.deferred),
            "deferred_write_inputs": self.deferred[:self.a.keep],
            "records_created_on_rejected_inputs": self.created[:self.a.keep],
            "rejected_inputs_checked": {"store": self.store_checked, "full_state": self.checked,
                                        "full_state_unchecked": self.unchecked},
            "states_taken": self.states,
            "invariant_violations": self.invariants,
            "clock_notes": self.clock_notes[:self.a.keep],
            "heap": self.heap,
            "segments": self.segments, "probes": self.probes, "replays": self.replays,
            "commands_covered": dict(sorted(self.gen.cat.hits.items())),
            "commands_total": len(self.gen.cat.items),
            "seeds": len(self.gen.seeds),
            "timeouts": {"t1": self.a.t1, "gap": self.a.gap, "t2": self.a.t2},
        }
        with open(os.path.join(self.out, "report.json"), "w") as f:
            json.dump(rep, f, indent=1, sort_keys=True)
        text = summary(rep)
        with open(os.path.join(self.out, "summary.txt"), "w") as f:
            f.write(text)
        return rep


class Stalled(Exception):
    pass


def inp_entry(idx, inp):
    return (idx, inp, None, None, True)


def _is_time_req(raw):
    if len(raw) < A.HDR_LEN + 3:
        return False
    m = A.decode(raw)
    return m.cluster == TimeClient.ID and m.payload[2] == Z.READ_ATTR


def _where(s):
    """The innermost firmware frames of a traceback the meter printed."""
    return [x.strip() for x in s.splitlines() if x.strip().startswith("File ")][-4:]


def _last_line(s):
    lines = [x for x in s.splitlines() if x.strip()]
    return lines[-1][:300] if lines else "process exited"


def _short(d, n=12):
    out = {}
    for k in list(d)[:n]:
        a, b = d[k]
        out[k] = [_clip(a), _clip(b)]
    if len(d) > n:
        out["..."] = len(d) - n
    return out


def _clip(v):
    s = json.dumps(v)
    return v if len(s) <= 120 else s[:117] + "..."


def summary(rep):
    lines = ["fuzz: seed %s, %s, %d inputs in %.0f s (%.0f/s), %d meter processes" % (
        rep["seed"], rep["runtime"], rep["inputs"], rep["wall_s"], rep["inputs_per_s"] or 0,
        rep["segments"])]
    outs = sorted({k for g in rep["groups"].values() for k in g["outcomes"]})
    lines.append("group  inputs  " + "  ".join(outs))
    for g, v in rep["groups"].items():
        lines.append("%-5s  %6d  " % (g, v["inputs"]) + "  ".join(
            "%*d" % (len(o), v["outcomes"].get(o, 0)) for o in outs))
    h = rep["heap"]
    lines += [
        "deaths %d, stalls %d (recovered after a quiet gap %d), handler errors %d" % (
            rep["deaths"], rep["stalls"], rep["link_recovered"], rep["handler_errors"]),
        "state changes on rejected input %d (rejected inputs checked: store %d, full state %d,"
        " full state unchecked %d)" % (
            rep["state_changes_on_rejected"], rep["rejected_inputs_checked"]["store"],
            rep["rejected_inputs_checked"]["full_state"],
            rep["rejected_inputs_checked"]["full_state_unchecked"]),
        "  of which the store moved but not the meter's state view: %d; records first written"
        " on a rejected input (not counted): %d" % (rep["deferred_writes"],
                                                    rep["records_created_on_rejected"]),
        "heap: min free %s, min largest block %s (%d samples)" % (
            h["min_free"], h["min_largest"], h["samples"]),
        "commands covered %d of %d, scenario seeds %d, invariant violations %d" % (
            len(rep["commands_covered"]), rep["commands_total"], rep["seeds"],
            len(rep["invariant_violations"])),
    ]
    kinds = {}
    for d in rep["death_inputs"]:
        kinds[(d["group"], d["kind"].split(" ")[0], d.get("error", ""))] = kinds.get(
            (d["group"], d["kind"].split(" ")[0], d.get("error", "")), 0) + 1
    for (g, k, e), n in sorted(kinds.items(), key=lambda x: -x[1])[:10]:
        lines.append("  death x%d  %s %s: %s" % (n, g, k, e))
    for s in rep["stall_inputs"][:5]:
        lines.append("  stall  %s %s %s" % (s["group"], s["kind"], s["hex"][:40]))
    for s in rep["state_change_inputs"][:5]:
        lines.append("  change %s %s: %s" % (s["group"], s["kind"], ", ".join(s["diff"])[:100]))
    return "\n".join(lines) + "\n"


_DEBUG_VBOARD = """
import sys, traceback, runpy
from firmware.zcl import cluster, foundation
def wrap(fn):
    def w(*a):
        try:
            return fn(*a)
        except (ValueError, TypeError, IndexError, KeyError, AttributeError,
                ZeroDivisionError, OverflowError):
            traceback.print_exc()
            sys.stdout.flush()
            raise
    return w
cluster.Cluster.dispatch = wrap(cluster.Cluster.dispatch)
foundation.handle = wrap(foundation.handle)
sys.argv[0] = "vboard"
runpy.run_module("firmware.vboard", run_name="__main__")
"""


_DEBUG_VBOARD_MP = """
import sys
from firmware.zcl import cluster, foundation
def wrap(fn):
    def w(*a):
        try:
            return fn(*a)
        except (ValueError, TypeError, IndexError, KeyError, AttributeError,
                ZeroDivisionError, OverflowError) as e:
            sys.print_exception(e)
            raise
    return w
cluster.Cluster.dispatch = wrap(cluster.Cluster.dispatch)
foundation.handle = wrap(foundation.handle)
from firmware.zcl import engine
_rcc = engine.Engine.reply_cluster_cmd
def rcc(self, cl, req, cmd, schema, fields):
    try:
        return _rcc(self, cl, req, cmd, schema, fields)
    except ValueError:
        print("fields not encodable:", fields)
        raise
engine.Engine.reply_cluster_cmd = rcc
from firmware import vboard
vboard.main(sys.argv[1:])
"""


def replay(path, runtime, out):
    """Play a saved trace on a fresh meter: every action but the last, then
    the last one with its answers, the state and store differences and the
    meter's fate printed (to study a finding and cut it down)."""
    with open(path) as f:
        tr = json.load(f)
    # the meter prints the traceback of every exception the engine's
    # catch-all turns into FAILURE (it counts them as HandlerErrors)
    import tools.meterlink as ML
    os.makedirs(out, exist_ok=True)
    if runtime == "cpython":
        ML.runtime_cmd = lambda rt: ([sys.executable, "-c", _DEBUG_VBOARD], {})
    else:
        wrapper = os.path.abspath(os.path.join(out, "debug_vboard.py"))
        with open(wrapper, "w") as f:
            f.write(_DEBUG_VBOARD_MP)
        base, env = ML.runtime_cmd(runtime)
        ML.runtime_cmd = lambda rt: (base[:-2] + [wrapper], env)
    store = os.path.join(out, "replay-store")
    shutil.rmtree(store, ignore_errors=True)
    os.makedirs(out, exist_ok=True)
    if tr.get("gbcs"):
        from tools.bench.runner import provision_gbcs
        os.makedirs(store)
        provision_gbcs(store, "rtds")
    link = FuzzLink(runtime, store, tr["utc"], tr["config"])
    link.start(tr["utc"], tr["rtc"])
    args = argparse.Namespace(t1=1.0, gap=0.3, t2=5.0)
    c = Campaign.__new__(Campaign)
    c.a, c.link, c.seg, c.states = args, None, None, 0
    acts = [("send", bytes.fromhex(a[1])) if a[0] == "send" else ("ctrl", a[1], a[2])
            for a in tr["actions"]]
    try:
        for a in acts[:-1]:
            c.act(a, link, record=False)
        before, dig0 = c.take_state(link), store_digest(store)
        link.out = []
        outcome = c.act(acts[-1], link, record=False)
        print("outcome:", outcome)
        for raw in link.out:
            m = A.decode(raw)
            print("answer:", json.dumps(Z.decode_frame(m.cluster, m.payload, m.profile)))
        after = c.take_state(link)
        print("state diff:", json.dumps(diff(guarded(before), guarded(after))))
        print("store diff:", json.dumps(_hexd(diff(dig0, store_digest(store)))))
        print("HandlerErrors:", after["meter"]["HandlerErrors"])
    except Died as e:
        print("meter died:", str(e)[-2000:])
    finally:
        text = ""
        if link.proc is not None:
            link.proc.kill()
            link.proc.wait()
            text = link.proc.stdout.read().decode(errors="replace")
        link.kill()
        if "Traceback" in text:
            print("meter printed:\n" + text[-3000:])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--inputs", type=int, default=100000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--runtime", default="micropython", choices=("micropython", "cpython"))
    p.add_argument("--out", default="out/fuzz")
    p.add_argument("--segment", type=int, default=5000, help="inputs per fresh meter")
    p.add_argument("--chunk", type=int, default=128, help="inputs reordered as one chunk")
    p.add_argument("--check-every", type=int, default=64, help="inputs per state check")
    p.add_argument("--state-budget", type=float, default=0.04,
                   help="meter states taken after accepted commands, per input")
    p.add_argument("--probe-every", type=int, default=250)
    p.add_argument("--mem-every", type=int, default=1000)
    p.add_argument("--t1", type=float, default=0.25, help="first probe timeout (s)")
    p.add_argument("--gap", type=float, default=0.3, help="quiet gap before the second probe (s)")
    p.add_argument("--t2", type=float, default=2.0, help="second probe timeout (s)")
    p.add_argument("--keep", type=int, default=200, help="inputs kept per finding list")
    p.add_argument("--progress", type=int, default=0, help="print progress every N inputs")
    p.add_argument("--keep-traces", type=int, default=40, help="finding traces saved")
    p.add_argument("--replay", help="play a saved trace (OUT/traces/*.json) and exit")
    p.add_argument("--gbcs", action="store_true",
                   help="GBCS-focused: the meter gets the RTDS keystore, most inputs are "
                        "mutated or re-signed RTDS commands through the tunnel")
    a = p.parse_args(argv)
    if a.replay:
        replay(a.replay, a.runtime, a.out)
        return None
    rep = Campaign(a).go()
    sys.stdout.write(summary(rep))
    return rep


if __name__ == "__main__":
    r = main()
    bad = r is not None and (r["deaths"] or r["stalls"] or r["state_changes_on_rejected"])
    sys.exit(1 if bad else 0)
