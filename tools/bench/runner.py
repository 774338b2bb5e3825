"""Bench runner: executes a scenario against a meter, records every frame,
checks expectations, writes result.json and capture.pcap.

Step actions are a table (ACTIONS) of handlers; other issues add their own
(top-ups, GBCS messages, tariffs) by adding entries.
"""
import json
import os
import shutil
import time

from firmware.zcl import aps as A
from tools import zcl_host as Z
from tools.hubsim import Hub
from firmware.zcl.engine import RELAYS_DEFAULT, frame_limit
from firmware.gbcs.gbt import fragments
from tools.meterlink import MeterLink, MeterDied
from tools.pcap import PcapWriter
from tools.bench import scenario as SC
from tools.bench import expect as EX
from tools.bench import timeline as TL

HUB_KEYS = ("time_offset", "time_valid", "answer_time")


def meter_config(cfg):
    """A scenario's meter configuration; "topup_keys": "test" stands for the
    test key set of tools/utrn.py (GBCS §18.4 entities); "gbcs_keys" is the
    bench's (provision_gbcs), not the meter's; "supplier_ds_pub": "test" the
    RTDS supplier DS key (OTA image signatures)."""
    if cfg and "gbcs_keys" in cfg:
        cfg = {k: v for k, v in cfg.items() if k != "gbcs_keys"}
    if cfg and cfg.get("supplier_ds_pub") == "test":       # OTA: the RTDS supplier DS key
        from tools import otaimage as OI
        cfg = dict(cfg, supplier_ds_pub=OI.supplier_key()[1].hex())
    if not cfg or cfg.get("topup_keys") != "test":
        return cfg
    from tools import utrn as UT
    out = {k: v for k, v in cfg.items() if k != "topup_keys"}
    out.update(UT.meter_config())
    return out


class _Provisioner:
    """What keystore.install needs of a meter, on the meter's store
    directory before it first starts: the manufacturer's provisioning."""

    def __init__(self, store):
        self.store = store

    def begin(self):
        return False

    def end(self, h):
        pass

    def save_record(self, key, rec):
        self.store.save_parts(key, rec[0], rec[1], rec[2])


def provision_gbcs(store_dir, which):
    """"gbcs_keys": "rtds" in a scenario's config: the GBCS keystore of the
    RTDS ESME (its trust-anchor cells, the keys.json Z values as the test
    hook, the test DS key; tools/gbcs_host.rtds_keystore) written into the
    store before the meter's first power-on, as a factory would."""
    if which != "rtds":
        raise ValueError("gbcs_keys: only \"rtds\"")
    from tools import gbcs_host as GH
    from firmware.gbcs import keystore as K
    from firmware.platform.store import Store, FileBackend
    K.install(_Provisioner(Store(FileBackend(store_dir))), *GH.rtds_keystore())


class Runner:
    def __init__(self, sc, runtime, out_dir, port=None, live=None, sample_every=None):
        self.sc = sc
        self.runtime = runtime
        self.port = port
        self.out = out_dir
        self.live = live                  # callback(runner, step_record=None): the terminal view
        os.makedirs(out_dir, exist_ok=True)
        self.store_dir = os.path.join(out_dir, "store")
        shutil.rmtree(self.store_dir, ignore_errors=True)
        self.now = sc["start_utc"]
        cfg = sc.get("config", {})
        self.hub = Hub(cfg.get("nwk_addr", 0x4E21),
                       relays=cfg.get("source_route_relays", RELAYS_DEFAULT))
        for k, v in sc.get("hub", {}).items():
            setattr(self.hub, k, v)
        self.pcap = PcapWriter(os.path.join(out_dir, "capture.pcap"))
        self.link = None
        self.pending = []                 # meter frames the hub has not seen yet
        self.frames = []                  # frames of the current step
        self.events = []
        self.checks = {"passed": 0, "failed": 0}
        self.failures = []
        self.last_state = None
        self.sim_seconds = 0
        self.load_w = 0
        self.aux_w = [0, 0]
        self.rtc_offset = 0
        # a sample of the meter's state every sample_every simulated seconds
        # and after every step's action (tools/bench/timeline.py), written to
        # result.json as "timeline" for the live view and tools/plot.py;
        # "auto": about 288 samples over the scenario (5 min on a day)
        if sample_every == "auto":
            sample_every = TL.auto_interval(sc)
        self.sample_every = sample_every
        self.timeline = [] if sample_every else None
        self.tariff_doc = None            # the last tariff document loaded (names, labels)

    # -- meter process ------------------------------------------------------------
    def _record(self, direction, utc, msg):
        if msg.frag:
            # an APS fragment (Tunneling, clusters/tunneling.py): the radio
            # carries it (its size is checked), the capture and the frame
            # list get the reassembled message, as Wireshark would show it
            # after APS reassembly (the hub's own fragments are recorded
            # whole by _to_meter)
            if direction == "out":
                why = self.hub.check_size(msg)
                if why:
                    self.failures.append("t=%d: %s" % (utc, why))
                whole = self.hub.defrag.add(msg)
                if whole is not None:
                    whole.payload = bytes(whole.payload)      # the region is reused
                    self._record_whole(direction, utc, whole)
            return
        why = self.hub.check_size(msg) if direction == "out" else None
        self._record_whole(direction, utc, msg, why)

    def _record_whole(self, direction, utc, msg, why=None):
        self.pcap.write_aps(utc, msg)
        d = {"dir": direction, "t": utc, "src": msg.src, "dst": msg.dst,
             "src_ep": msg.src_ep, "dst_ep": msg.dst_ep, "profile": msg.profile,
             "cluster_id": msg.cluster, "secured": msg.secured, "hex": msg.payload.hex()}
        d.update(Z.decode_frame(msg.cluster, msg.payload, msg.profile))
        self.frames.append(d)
        if direction == "out":
            # a frame the radio could not send whole fails the scenario
            if why:
                d["oversize"] = True
                self.failures.append("t=%d: %s" % (utc, why))
            self.pending.append(msg)

    def power_on(self):
        if self.port:
            from tools.meterlink import SerialLink
            self.link = SerialLink(self.port, self.now, on_frame=self._record)
        else:
            keys = (self.sc.get("config") or {}).get("gbcs_keys")
            if keys and not os.path.exists(self.store_dir):
                provision_gbcs(self.store_dir, keys)
            self.link = MeterLink(self.runtime, self.store_dir, self.now,
                                  meter_config(self.sc.get("config")), on_frame=self._record)
        # The RTC is battery-backed: it kept running, with any offset the hub
        # or supplier gave it, while the mains was off.
        self.link.start(self.now, self.now + self.rtc_offset)
        self.events.append({"t": self.now, "event": "power_on"})
        if self.load_w or any(self.aux_w):
            self._ctrl("load", w=self.load_w, aux_w=self.aux_w)
        self._pump()

    @property
    def alive(self):
        return self.link is not None and self.link.alive

    def _died(self, where, why=""):
        self.now = max(self.now, self.link.now)
        ev = {"t": self.now, "event": "power_cut", "during": where}
        last = [l for l in why.splitlines() if l.strip()][-1:]
        if last and "PowerCut" not in last[0]:
            ev["error"] = last[0]          # the meter crashed: say how
        self.events.append(ev)
        self._off()

    def _off(self):
        self.rtc_offset = self.link.meter_clock - self.link.now
        self.link.kill()
        self.link = None

    def _ctrl(self, op, **kw):
        """A control request; a meter dying under it is a power cut."""
        try:
            return self.link.ctrl(op, **kw)
        except MeterDied as e:
            self._died(op, str(e))
            return None

    def _pump(self):
        """Let the hub answer what the meter sent, until both are quiet."""
        while self.pending and self.alive:
            msgs, self.pending = self.pending, []
            for m in msgs:
                for rsp in self.hub.handle(self.link.now, m):
                    self._to_meter(rsp)
            if self._ctrl("sync") is None:
                return

    def advance_to(self, target):
        while self.now < target:
            # with a timeline, advances stop at each sample time (the meter
            # ticks the same seconds either way)
            stop = target
            if self.sample_every:
                nxt = self.now - self.now % self.sample_every + self.sample_every
                stop = min(target, nxt)
            if not self.alive:
                self.sim_seconds += stop - self.now
                self.now = stop
            else:
                rsp = self._ctrl("advance", s=stop - self.now)
                if rsp is None:
                    continue          # died mid-advance; the rest passes powered off
                self.sim_seconds += self.link.now - self.now
                self.now = self.link.now
                self._pump()
            if self.sample_every and self.now % self.sample_every == 0:
                self.sample()
            if self.live:
                self.live(self)

    def sample(self):
        """One timeline sample of the meter's state now (tools/bench/timeline.py)."""
        if self.timeline is not None:
            TL.sample(self)

    def _to_meter(self, msg):
        """One APS message onto the link; longer than a frame carries (a
        Tunneling TransferData): recorded whole, sent as APS fragments."""
        lim = frame_limit(msg.secured, self.hub.relays)
        if len(msg.payload) <= lim:
            self.link.send_aps(msg)
            return
        self._record_whole("in", self.link.now, msg)
        for f in fragments(msg, lim):
            self.link.send_aps(f)

    def send(self, msg):
        if not self.alive:
            self.frames.append({"dir": "lost", "t": self.now, "hex": msg.payload.hex(),
                                "note": "meter powered off"})
            return
        self._to_meter(msg)
        if self._ctrl("sync") is not None:
            self._pump()

    # -- actions ----------------------------------------------------------------
    def act_load(self, v, step):
        """Watts of base load, or {"w": base, "aux_w": [W per aux switch]}."""
        if isinstance(v, dict):
            self.load_w = v.get("w", self.load_w)
            self.aux_w = v.get("aux_w", self.aux_w)
        else:
            self.load_w = v
        if self.alive:
            self._ctrl("load", w=self.load_w, aux_w=self.aux_w)
        return {"load_w": self.load_w, "aux_w": self.aux_w}

    def act_zcl(self, v, step):
        cls, cid = Z.cluster_by_name(v["cluster"])
        cmd = v["command"]
        seq = v.get("seq", self.hub.next_seq())
        # towards the meter: to its server side, or to its client side (DRLC)
        to_client = v.get("direction", "to_client" if cls and not cls.SERVER
                          else "to_server") == "to_client"
        ddr = v.get("disable_default_response", False)
        manuf = v.get("manufacturer")
        if cmd in Z.GLOBAL_IDS:
            pl = Z.build_global(cls, cmd, v, seq, to_client, ddr, manuf)
        else:
            pl = Z.build_cluster_cmd(cls, cmd, v.get("fields", {}), seq, to_client, ddr, manuf)
        src = v.get("src")
        if isinstance(src, str):
            src = int(src, 0)
        self.send(self.hub.to_meter(cid, pl, v.get("secured", True), v.get("ep"), src))
        return {"seq": seq}

    def act_raw(self, v, step):
        if "link_hex" in v:        # bytes straight onto the link (garbage, resync)
            if self.alive:
                self.link.send_raw(bytes.fromhex(v["link_hex"]))
                if self._ctrl("sync") is not None:
                    self._pump()
            return {"link_bytes": len(v["link_hex"]) // 2}
        _, cid = Z.cluster_by_name(v["cluster"])
        msg = A.Aps(A.ADDR_COORDINATOR, v.get("src_ep", 1), self.hub.meter_addr, v.get("ep", 1),
                    v.get("profile", A.PROFILE_SE), cid, bytes.fromhex(v["hex"]),
                    v.get("secured", True))
        self.send(msg)
        return {"bytes": len(v["hex"]) // 2}

    def act_read(self, v, step):
        start = len(self.frames)
        self.send(self.hub.read_attributes(v["cluster"], v["attributes"]))
        values = {}
        for f in self.frames[start:]:
            if f["dir"] == "out" and f.get("command") == "ReadAttributesResponse":
                for r in f["fields"]["records"]:
                    values[r["attribute"]] = r.get("value", r["status"])
        return {"values": values}

    def act_button(self, v, step):
        for _ in range(int(v)):
            if self.alive:
                self._ctrl("button")
        if self.alive:
            self._pump()
        return {"presses": int(v)}

    def act_power(self, v, step):
        if self.port:
            # A board's supply is switched by a bench relay, which this runner
            # does not drive yet; closing the port would not cut its power.
            raise SC.ScenarioError("power steps are not supported with --port")
        if v == "cut":
            if self.alive:
                self._ctrl("sync")          # learn the meter clock before it goes dark
                self._off()
                self.events.append({"t": self.now, "event": "power_cut", "during": "step"})
        elif v == "restore":
            if not self.alive:
                self.power_on()
        elif isinstance(v, dict) and "cut_after_writes" in v:
            if self.alive:
                self._ctrl("cut_after_writes", n=v["cut_after_writes"])
        else:
            raise SC.ScenarioError("power: cut | restore | {cut_after_writes: N}")
        return {"alive": self.alive}

    def act_advance(self, v, step):
        self.advance_to(step["_t"] + int(v))
        return {"now": self.now}

    def act_hub(self, v, step):
        out = {}
        for k in HUB_KEYS:
            if k in v:
                setattr(self.hub, k, v[k])
                out[k] = v[k]
        if v.get("adopt"):
            for msg in self.hub.adoption():
                self.send(msg)
            out["adopted"] = True
        return out

    def _hub_times(self, v):
        """StartAt / EffectiveAt in scenario time -> StartTime / EffectiveTime
        on the hub's clock."""
        v = dict(v)
        for k in ("StartAt", "EffectiveAt"):
            if k in v:
                t = SC.resolve(v.pop(k), self.sc["start_utc"]) + self.hub.time_offset
                v[k.replace("At", "Time")] = t
        return v

    def act_drlc_event(self, v, step):
        v = self._hub_times(v)
        self.send(self.hub.drlc_event(self.now + self.hub.time_offset, v))
        return {"IssuerEventID": v["IssuerEventID"], "StartTime": v.get("StartTime", 0)}

    def act_drlc_cancel(self, v, step):
        v = self._hub_times(v)
        self.send(self.hub.drlc_cancel(self.now, v))
        return {"IssuerEventID": v["IssuerEventID"]}

    def act_drlc_cancel_all(self, v, step):
        self.send(self.hub.drlc_cancel_all(self.now, v if isinstance(v, dict) else {}))
        return {}

    def act_set_clock(self, v, step):
        """Step the meter clock by v["offset"] seconds as a Supplier Set Clock
        (GBCS ECS70, §9.1.4) would: a bench hook until the GBCS route lands."""
        if self.alive:
            self._ctrl("set_clock", offset=int(v["offset"]))
            self._pump()
        return {"offset": int(v["offset"])}

    def act_drlc_opt(self, v, step):
        """The consumer opts out of (or back into) one event or all."""
        if self.alive:
            self._ctrl("drlc_opt", out=v.get("out", True), event=v.get("event"))
            self._pump()
        return {"out": v.get("out", True), "event": v.get("event")}

    def act_tariff(self, v, step):
        """Load a tariff (tariffs/README.md) through the hub simulator:
        {"file": path | "doc": {...}, "activate": "immediate" | "never" |
        scenario time}. The result says which parts took effect at once."""
        doc = v.get("doc")
        if doc is None:
            path = v["file"]
            if not os.path.isabs(path) and not os.path.exists(path):
                path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
                    os.path.abspath(__file__)))), path)
            with open(path) as f:
                doc = json.load(f)
        self.tariff_doc = doc
        act = v.get("activate", "immediate")
        if act not in ("immediate", "never"):
            act = SC.resolve(act, self.sc["start_utc"]) + self.hub.time_offset
        if not self.alive:
            return {"error": "meter powered off"}
        rsp = self._ctrl("tariff", **self.hub.tariff_request(doc, act))
        self._pump()
        return rsp

    def act_prepay(self, v, step):
        """Supplier configuration of the account (firmware/commands/config.py):
        stands in for the GBCS use cases until the WAN route lands. "at"
        may be scenario time."""
        v = dict(v)
        if isinstance(v.get("at"), str):
            v["at"] = SC.resolve(v["at"], self.sc["start_utc"]) + self.hub.time_offset
        if not self.alive:
            return {"error": "meter powered off"}
        rsp = self._ctrl("prepay", doc=v)
        self._pump()
        return rsp

    def act_ui(self, v, step):
        """A consumer UI command on the meter (GBCS Tbl 16.4 code)."""
        if not self.alive:
            return {"error": "meter powered off"}
        rsp = self._ctrl("ui", code=int(v["code"]), arg=v.get("arg"))
        self._pump()
        return rsp

    def act_topup(self, v, step):
        """Top up with a UTRN made by the supplier tool (tools/utrn.py):
        {"pounds" | "pence": n, "counter": c, "via": "meter" | "ppmid",
        "ppmid": address, "legacy_aad": bool, "typo": digit position (the
        check digit then fails), "forge": digit position (changed and the
        check digit recomputed, so only the MAC can catch it)} or
        {"utrn": "20 digits"}. Keyed on the meter (UI Add Credit) or sent
        as a ZSE Consumer Top Up from a PPMID."""
        from tools import utrn as UT
        code = v.get("utrn")
        if code is None:
            code = UT.make_utrn(v["counter"], v.get("pence"), v.get("pounds"),
                                legacy=v.get("legacy_aad", False))
        for k in ("typo", "forge"):
            if k in v:
                i = int(v[k])
                code = code[:i] + str((int(code[i]) + 1) % 10) + code[i + 1:]
                if k == "forge":
                    code = code[:19] + str(UT.check_digit(code[:19]))
        if v.get("via", "meter") == "ppmid":
            src = v.get("ppmid", "0x5A5A")
            self.act_zcl({"cluster": "Prepayment", "command": "ConsumerTopUp", "src": src,
                          "fields": {"OriginatingDevice": 2, "TopUpCode": code}}, step)
            return {"utrn": code, "via": "ppmid"}
        res = self.act_ui({"code": 5, "arg": code}, step) or {"error": "meter died"}
        res["utrn"] = code
        return res

    def act_tunnel(self, v, step):
        """The hub's tunnel client: "open" (RequestTunnel GB-HGRP), "close",
        or {"request": {field overrides}}, {"close": tunnel id},
        {"transfer": hex, "tunnel_id": id} (raw TransferData data)."""
        h = self.hub
        if v == "open":
            v = {"request": {}}
        elif v == "close":
            v = {"close": None}
        if "request" in v:
            r = v["request"]
            self.send(h.request_tunnel(r.get("ProtocolID", 6), r.get("ManufacturerCode", 0xFFFF),
                                       r.get("FlowControlSupport", False),
                                       r.get("MaximumIncomingTransferSize", 1500)))
        elif "close" in v:
            self.send(h.close_tunnel(v["close"]))
        else:
            self.send(h.transfer(bytes.fromhex(v["transfer"]), v.get("tunnel_id")))
        return {"tunnel_id": h.tunnel["id"], "status": h.tunnel["status"],
                "errors": list(h.tunnel["errors"])}

    def act_gbcs(self, v, step):
        """A GBCS command through the tunnel (opened first if none is):
        {"hex": message} or {"rtds": file name under the RTDS messages
        folder (GBCS_RTDS_DIR, default /work/shared/vectors/rtds/messages)}
        or {"build": {...}} (signed with test keys by tools.gbcs_host);
        "skip": GBT block numbers left out of the first sending (the meter
        must ask for them). The result: the message sent, its GBT blocks,
        the meter's response (hex) and its fields decoded by
        tools.gbcs_host when that module is present."""
        h = self.hub
        if "hex" in v:
            msg = bytes.fromhex(v["hex"])
        elif "rtds" in v:
            msg = bytes.fromhex(open(_rtds_path(v["rtds"])).read().strip())
        else:
            msg = _build_gbcs(v["build"])
        if h.tunnel["id"] is None:   # the CHF opens one when it has a message (§10.2.2.1)
            self.send(h.request_tunnel())
        n0 = len(h.tunnel["received"])
        h.gbt_skip = list(v.get("skip", []))
        for m in h.gbcs(msg):
            self.send(m)
        got = h.tunnel["received"][n0:]
        res = {"octets": len(msg), "blocks": (len(msg) + 1148) // 1149 if len(msg) > 1200 else 0,
               "meter_resends": list(h.tunnel["meter_resends"]),
               "response": got[-1] if got else None}
        if got:
            try:
                from tools import gbcs_host as GH
            except ImportError:
                GH = None
            if GH is not None:
                try:
                    # a signed response checked with the meter's test DS key
                    # (the one provision_gbcs installs)
                    d = GH.parse(bytes.fromhex(got[-1]), device_ds_pub=GH.test_ds_pub())
                    # as result.json will hold it (tuples become lists)
                    res["decoded"] = json.loads(json.dumps(d, default=str))
                except Exception as e:         # a response the parser refuses is a finding
                    res["decode_error"] = str(e)
        self.last_gbcs = res
        return res

    # -- expectations -------------------------------------------------------------
    def state(self):
        if self.alive:
            st = self._ctrl("state")
            # a board answers "not on this board: state" (control.BENCH_OPS)
            if st is not None and "error" not in st:
                # true scenario time, and how far the meter's clock is from it
                st["bench"] = {"now": self.now,
                               "clock_offset": st["meter"]["clock"] - self.now}
                self.last_state = st
        return self.last_state

    def check(self, idx, exp):
        return EX.check(self, idx, exp)

    # -- main -------------------------------------------------------------------
    def start(self):
        """Power on; steps then run through do_step (run(), tools/bench/play.py)."""
        self.wall0 = time.time()
        self.power_on()
        self.steps_out = []
        self.boot_frames, self.frames = self.frames, []
        if self.timeline is not None:
            self.sample()

    def do_step(self, st):
        """Advance to a step's time, act, check; its record is kept for result.json."""
        i = len(self.steps_out)
        self.advance_to(st["_t"])
        t = self.now
        res = None
        if st["_action"]:
            res = ACTIONS[st["_action"]](self, st[st["_action"]], st)
        rec = {"index": i, "t": t, "time": SC.iso(t)}
        if st["_action"]:
            rec["action"] = {st["_action"]: st[st["_action"]]}
            rec["result"] = res
        if "note" in st:
            rec["note"] = st["note"]
        if "expect" in st:
            rec["expect"] = self.check(i, st["expect"])
        rec["frames"] = self.frames
        self.frames = []
        self.steps_out.append(rec)
        if st["_action"] and self.timeline is not None:
            self.sample()
        if self.live:
            self.live(self, rec)
        return rec

    def finish(self):
        """Power off and write result.json; returns the result."""
        if self.timeline is not None and self.timeline[-1]["t"] != self.now:
            self.sample()                 # the timeline ends where the run does
        final = self.state()
        if self.alive:
            self.link.kill()
        self.pcap.close()
        wall = time.time() - self.wall0
        result = {
            "scenario": self.sc.get("name", ""),
            "start": SC.iso(self.sc["start_utc"]),
            "boot_frames": self.boot_frames,
            "steps": self.steps_out,
            "events": self.events,
            "hub": {"reports": self.hub.reports, "report_count": self.hub.report_count,
                    "time_requests": self.hub.time_requests,
                    "drlc_reports": self.hub.drlc_reports,
                    "scheduled_requests": self.hub.scheduled_requests,
                    "relays": self.hub.relays, "oversize": self.hub.oversize},
            "expectations": self.checks,
            "failures": self.failures,
            "state": final,
            "runtime": self.runtime if not self.port else "board:" + self.port,
            "timing": {"wall_s": round(wall, 3), "sim_s": self.sim_seconds,
                       "sim_s_per_wall_s": round(self.sim_seconds / wall, 1) if wall else None},
        }
        if self.timeline is not None:
            result["timeline"] = {"every_s": self.sample_every, "tariff": TL.tariff_info(
                self.tariff_doc), "samples": self.timeline}
        with open(os.path.join(self.out, "result.json"), "w") as f:
            json.dump(result, f, indent=1, sort_keys=True)
        return result

    def run(self):
        self.start()
        for st in self.sc["steps"]:
            self.do_step(st)
        return self.finish()


def act_ota(self, v, step):
    """The hub's OTA server takes an image and notifies the meter:
    {"bundle": {name: text}, "filler": octets of a generated file, "version": N,
    "block": octets, "faults": {n: kind}, optional "manuf", "image_type",
    "hw": [lo, hi]} (tools/otaserver.py)."""
    from tools import otaimage as OI, otaserver as OS
    files = [(k, t.encode()) for k, t in sorted(v.get("bundle", {"appmain.py": ""}).items())]
    if v.get("filler"):
        files.append(("lib/filler.bin", bytes(i * 7 & 0xFF for i in range(v["filler"]))))
    img = OI.build(OI.archive(files), v.get("version", 2), v.get("manuf", 0x1234),
                   v.get("image_type", 0), tuple(v.get("hw", (1, 1))))
    srv = self.hub.ota = OS.OtaServer(img, block=v.get("block", 64))
    srv.faults = {int(k): f for k, f in v.get("faults", {}).items()}
    self.send(srv.notify(self.hub.meter_addr, self.hub.meter_ep))
    return {"image_size": len(img), "progress": srv.progress(), "requests": srv.requests,
            "ends": list(srv.ends)}


ACTIONS = {
    "ota": act_ota,
    "load": Runner.act_load,
    "zcl": Runner.act_zcl,
    "raw": Runner.act_raw,
    "read": Runner.act_read,
    "button": Runner.act_button,
    "power": Runner.act_power,
    "advance": Runner.act_advance,
    "hub": Runner.act_hub,
    "drlc_event": Runner.act_drlc_event,
    "drlc_cancel": Runner.act_drlc_cancel,
    "drlc_cancel_all": Runner.act_drlc_cancel_all,
    "drlc_opt": Runner.act_drlc_opt,
    "set_clock": Runner.act_set_clock,
    "tariff": Runner.act_tariff,
    "prepay": Runner.act_prepay,
    "ui": Runner.act_ui,
    "topup": Runner.act_topup,
    "tunnel": Runner.act_tunnel,
    "gbcs": Runner.act_gbcs,
}


def _build_gbcs(b):
    """A command made and MACed (signed when critical) with the test keys by
    tools/gbcs_host.py: {"message_code": n, "counter": n, "payload": hex |
    "use_case": "cs01a" | "ecs52" | "ecs04b" | "ecs12", "args": [...],
    "critical": bool, "originator": entity hex, "date_time": hex}."""
    from tools import gbcs_host as GH          # the GBCS layer's host module
    mc = b["message_code"]
    mc = int(mc, 0) if isinstance(mc, str) else mc
    ctr = b["counter"]
    if "payload" in b:
        payload = bytes.fromhex(b["payload"])
    else:
        payload = getattr(GH, b["use_case"].lower() + "_payload")(ctr, *b.get("args", []))
    kw = {"critical": b.get("critical", False)}
    if "originator" in b:
        kw["originator"] = b["originator"]
    if "date_time" in b:
        kw["date_time"] = bytes.fromhex(b["date_time"])
    return GH.build_command(mc, payload, ctr, **kw)


def _rtds_path(name):
    """An RTDS message file by name (searched in its use-case folders)."""
    root = os.environ.get("GBCS_RTDS_DIR", "/work/shared/vectors/rtds/messages")
    if os.path.isfile(os.path.join(root, name)):
        return os.path.join(root, name)
    for d in sorted(os.listdir(root)):
        p = os.path.join(root, d, name)
        if os.path.isfile(p):
            return p
    raise ValueError("no RTDS message %s under %s" % (name, root))

VOLATILE_KEYS = ("timing", "runtime")


def comparable(result):
    """result.json without the fields that may differ between runtimes."""
    return {k: v for k, v in result.items() if k not in VOLATILE_KEYS}


def run_file(path, runtime, out_dir, port=None, live=None, sample_every=None):
    sc = SC.load(path, ACTIONS)
    return Runner(sc, runtime, out_dir, port, live, sample_every).run()
