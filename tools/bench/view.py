"""What the bench shows a person: the meter's state in units and names, a
log of what happened, and a closing summary. One model (`Story`) feeds the
plain-text view (pipes, CI, tests: one block per refresh) and the Rich view
on a terminal (tools/bench/live.py).

Units: money is the account's 10^-5 GBP shown in pounds, prices in pence
per kWh, energy in kWh, power in W, times as the meter's local (GB civil)
clock: GMT, or BST from 01:00 UTC on the last Sunday of March to 01:00 UTC
on the last Sunday of October.
"""
import calendar
import time

from tools.bench.scenario import ZB_EPOCH_UNIX

# Alert codes the meter raises (GBCS Table 16.2 later numbering, the codes
# in firmware/; v0.8.1 used 0x00xx for the 0x81xx ones and 0x80xx for 0x8Fxx)
ALERTS = {
    0x810D: "Low Credit",
    0x810E: "Credit Added Locally",
    0x8119: "Emergency Credit Has Become Available",
    0x81AB: "Emergency Credit Activated",
    0x81AA: "Emergency Credit Exhausted",
    0x81A7: "Debt Fully Recovered (time debt 1)",
    0x81A8: "Debt Fully Recovered (time debt 2)",
    0x81A9: "Debt Fully Recovered (payment debt)",
    0x8168: "Supply Armed after Emergency Credit Activated",
    0x8F01: "Load Limit Threshold Exceeded",
    0x8F0C: "Clock Not Adjusted (outside tolerance)",
    0x8F0F: "Supply Disabled: credit exhausted",
    0x8F32: "Supply Armed",
    0x8F33: "Supply Disabled: load limit",
    0x8F34: "Supply Restored after Load Limit",
    0x8F47: "UTRN rejected: exceeds Maximum Meter Balance",
    0x8F51: "UTRN rejected: already used (duplicate)",
    0x8F5B: "UTRN rejected: exceeds Maximum Credit Threshold",
    0x8F63: "UTRN rejected: not authentic",
    0x8F64: "UTRN rejected: not for this device",
    0x8F66: "Future-dated command executed",
    0x8F67: "Future-dated command failed",
    0x8F83: "Supply disablement suspended (non-disablement period)",
    0x8FF0: "Record unreadable, safe state booted",
}
# Top-up outcomes (firmware/prepay/utrn.py; ZSE Prepayment ResultType, GBCS §14)
TOPUP_RESULT = {0: "accepted", 1: "rejected: malformed (length, range or check digit)",
                2: "rejected: duplicate (already used)", 3: "rejected: not authentic (MAC)",
                4: "rejected: over Maximum Credit Threshold",
                5: "rejected: over Maximum Meter Balance", 6: "rejected: not for this meter"}
TOPUP_SOURCE = {0: "ESI", 1: "meter keypad", 2: "PPMID", 3: "IHD"}
# GBCS Table 9.1.2 Time Status, and why the meter is in it (§9.1.2-9.1.3)
TIME_REASON = {
    "invalid": "no valid time from the comms hub yet (GBCS 9.1.2)",
    "unreliable": "time from the comms hub (GBCS 9.1.2: only a Supplier Set Clock "
                  "makes it Reliable)",
    "reliable": "set by a Supplier Set Clock (GBCS 9.1.4)",
}
UI_COMMANDS = {2: "Activate Emergency Credit", 5: "Add Credit", 14: "Enable Supply"}


# -- units -----------------------------------------------------------------------
def money(units):
    """Account units (10^-5 GBP) in pounds, to the penny (towards zero)."""
    if units is None:
        return "-"
    sign = "-" if units < 0 else ""
    p = abs(units) // 1000
    return "%s£%d.%02d" % (sign, p // 100, p % 100)


def price(units):
    """A price per kWh in 10^-5 GBP, in pence per kWh."""
    if units is None:
        return "-"
    return "%d.%02d p/kWh" % (units // 1000, units % 1000 // 10)


def kwh(wh):
    return "-" if wh is None else "%d.%03d kWh" % (wh // 1000, wh % 1000)


def watts(w):
    return "-" if w is None else "%d W" % w


def _last_sunday(year, month):
    """Day of month of the last Sunday (month 3 or 10, 31 days)."""
    return 31 - (calendar.weekday(year, month, 31) + 1) % 7


def local(utc):
    """(struct_time of GB civil time, "GMT" | "BST") for ZigBee UTC seconds."""
    unix = utc + ZB_EPOCH_UNIX
    y = time.gmtime(unix).tm_year
    start = calendar.timegm((y, 3, _last_sunday(y, 3), 1, 0, 0))
    end = calendar.timegm((y, 10, _last_sunday(y, 10), 1, 0, 0))
    if start <= unix < end:
        return time.gmtime(unix + 3600), "BST"
    return time.gmtime(unix), "GMT"


def clock(utc, date=False):
    if utc is None:
        return "-"
    t, zone = local(utc)
    return time.strftime("%a %d %b %Y %H:%M:%S " if date else "%H:%M:%S", t) + \
        (zone if date else "")


def alert(code):
    return "0x%04X %s" % (code, ALERTS.get(code, "(unnamed)"))


def register_label(reg, labels):
    """A register's name with the tariff's label: TOU1 -> "Day (TOU1)"."""
    labels = labels or {}
    if reg and reg.startswith("TOU") and reg[3:] in labels:
        return "%s (%s)" % (labels[reg[3:]], reg)
    if reg and reg.startswith("B") and "T" in reg:
        b, t = reg[1:].split("T")
        if t in labels:
            return "%s block %s (%s)" % (labels[t], b, reg)
    return reg or "-"


def duration(s):
    d, s = divmod(int(s), 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return ("%dd " % d if d else "") + "%02d:%02d:%02d" % (h, m, s)


# -- the story: what happened, in order ------------------------------------------------
class Story:
    """Collects the event log from a runner as it runs: step actions and
    their outcomes, power events, DRLC status reports the hub received (ZSE
    Report Event Status), and from the timeline samples the alerts (GBCS
    names) and changes of supply, emergency credit and time status."""

    def __init__(self, keep=200):
        self.log = []             # (t, text)
        self.keep = keep
        self._events = 0
        self._drlc = 0
        self._samples = 0
        self._prev = None
        self.dropped = 0          # entries dropped off the front (keep)

    def add(self, t, text):
        self.log.append((t, text))
        if len(self.log) > self.keep:
            self.dropped += len(self.log) - self.keep
            del self.log[:-self.keep]

    def update(self, runner, rec=None):
        for ev in runner.events[self._events:]:
            if ev["event"] == "power_on":
                self.add(ev["t"], "mains on: meter boots")
            elif ev.get("during") != "step":       # a cut step says so itself
                self.add(ev["t"], "mains off (%s)%s" % (
                    ev.get("during", ""), ": " + ev["error"] if "error" in ev else ""))
        self._events = len(runner.events)
        reps = runner.hub.drlc_reports
        for r in reps[self._drlc:]:
            self.add(r["t"], "DRLC event %d: %s (ZSE Report Event Status)" % (r["id"], r["status"]))
        self._drlc = len(reps)
        if rec is not None and "action" in rec:
            tl = runner.timeline or []
            line = describe_step(rec, tl[-1] if tl else None)
            if line:
                self.add(rec["t"], line)
        tl = runner.timeline or []
        for s in tl[self._samples:]:
            self._sample(s)
        self._samples = len(tl)

    def _sample(self, s):
        p = self._prev or {}
        if not s.get("alive"):
            return
        t = s["t"]
        for code in s.get("new_alerts") or []:
            if self._prev is not None:
                self.add(t, "alert " + alert(code))
        if p.get("alive"):
            if s.get("supply") != p.get("supply"):
                self.add(t, "supply %s%s" % (s["supply"], " (%s)" % s["supply_cause"]
                                             if s.get("supply_cause") else ""))
            if s.get("time_status") != p.get("time_status"):
                self.add(t, "time status %s" % (s["time_status"] or "-").capitalize())
            if s.get("aux_closed") != p.get("aux_closed") and s.get("aux_closed"):
                self.add(t, "auxiliary switches: %s" % ", ".join(
                    "%d %s" % (i + 1, "closed" if c else "OPEN (load shed)")
                    for i, c in enumerate(s["aux_closed"])))
            if s.get("friendly") != p.get("friendly"):
                self.add(t, "non-disablement (friendly) period %s" % (
                    "begins" if s["friendly"] else "ends"))
        self._prev = s


def describe_step(rec, after=None):
    """One line for a step's action and what came of it (after: the
    timeline sample taken after it)."""
    (name, v), = rec["action"].items()
    res = rec.get("result") or {}
    src = "you" if str(rec.get("note", "")).startswith("user:") else "scenario"
    if name == "topup":
        via = res.get("via", "meter keypad")
        amount = (" £%d" % v["pounds"]) if "pounds" in v else \
            (" %dp" % v["pence"]) if "pence" in v else ""
        out = "top-up%s via %s (%s)" % (amount, via if via != "meter" else "meter keypad", src)
        lt = res.get("last_topup") or (after or {}).get("last_topup")
        if lt:
            out += ": " + topup_outcome(lt)
        return out
    if name == "ui":
        code = int(v["code"])
        ok = res.get("ok")
        return "UI command %d %s (%s): %s" % (code, UI_COMMANDS.get(code, ""), src,
                                            "actioned" if ok else "not actioned")
    if name == "button":
        return "button pressed x%s (%s)" % (v, src)
    if name == "load":
        return "load: household %s, aux %s (%s)" % (
            watts(res.get("load_w")), " / ".join(watts(w) for w in res.get("aux_w", [])), src)
    if name == "power":
        return "mains %s (%s)" % (v if isinstance(v, str) else "fault armed", src)
    if name == "drlc_event":
        return "hub sends DRLC Load Control Event %s, %s min (%s)" % (
            v.get("IssuerEventID"), v.get("DurationInMinutes", 30), src)
    if name == "tariff":
        return "tariff loaded (%s)" % src
    if name == "prepay":
        return "supplier configures prepayment (%s)" % src
    if name == "hub" and v.get("adopt"):
        return "hub adopts the meter: reads Basic, configures reporting"
    return None


def topup_outcome(lt):
    """LastTopUp [result, value, source, time] as words."""
    res, value, source = lt[0], lt[1], lt[2]
    if res == 0:
        return "%s credited from %s" % (money(value), TOPUP_SOURCE.get(source, source))
    return TOPUP_RESULT.get(res, "rejected (%s)" % res)


# -- the view ---------------------------------------------------------------------------
def rows(runner, story=None, since=None):
    """The view as (label, text) rows, from the runner's last sample."""
    tl = runner.timeline or []
    s = tl[-1] if tl else {}
    info = None
    if runner.tariff_doc:
        info = {"name": runner.tariff_doc.get("name"), "labels": runner.tariff_doc.get("labels")}
    return view_rows(s, runner.now, runner.alive, runner.hub, info,
                     runner.last_state or {}, story, runner.load_w, runner.aux_w, since=since)


def view_rows(s, now, alive, hub, tariff, state, story=None, load_w=0, aux_w=(0, 0), nlog=8,
              since=None):
    """since: log entries from this story index on (else the last nlog)."""
    out = []
    head = "%s   meter %s" % (clock(s.get("clock") or now, date=True),
                              "ON" if alive else "OFF (mains cut)")
    out.append(("time", head))
    if not alive or not s.get("alive"):
        out.append(("display", "(dark)"))
    else:
        out.append(("display", state.get("display", "-")))
        aux = s.get("aux_closed") or []
        out.append(("demand", "%s now (household %s; %s)" % (
            watts(s.get("demand_w")), watts(load_w), ", ".join(
                "aux %d %s %s" % (i + 1, watts(w), "on" if i < len(aux) and aux[i] else "SHED/open")
                for i, w in enumerate(aux_w)))))
        labels = (tariff or {}).get("labels")
        regs = s.get("registers") or {}
        out.append(("tariff", "%s: %s at %s; registers %s" % (
            (tariff or {}).get("name") or "tariff", register_label(s.get("register"), labels),
            price(s.get("price")), ", ".join("%s %s" % (register_label(k, labels), kwh(v))
                                            for k, v in sorted(regs.items())) or "-")))
        out.append(("charges", "energy %s + standing charge %s = %s" % (
            money(s.get("energy_cost")), money(s.get("standing_cost")),
            money((s.get("energy_cost") or 0) + (s.get("standing_cost") or 0)))))
        out.append(("account", account_text(s)))
        out.append(("supply", "%s%s%s" % (s.get("supply") or "-",
                                          " (cause: %s)" % s["supply_cause"]
                                          if s.get("supply_cause") else "",
                                          "; relay %s" % ("closed" if s.get("relay_closed")
                                                          else "open"))))
        ts = s.get("time_status") or "-"
        out.append(("time status", "%s: %s" % (ts.capitalize(), TIME_REASON.get(ts, ""))))
        dr = s.get("drlc") or []
        out.append(("DRLC", ", ".join("event %d %s %s-%s" % (
            e[0], e[1], clock(e[2]), clock(e[3])) if len(e) > 3 else "event %d %s" % tuple(e[:2])
            for e in dr) or "no events"))
    if hub is not None:
        rep = hub.reports.get("Metering", {})
        out.append(("hub", "%d reports received (summation %s, demand %s); %d time reads" % (
            hub.report_count, kwh(rep.get("CurrentSummationDelivered")),
            watts(rep.get("InstantaneousDemand")), hub.time_requests)))
    if story is not None:
        log = story.log[-nlog:] if since is None else \
            story.log[max(0, since - story.dropped):]
        for t, text in log:
            out.append(("log", "%s  %s" % (clock(t), text)))
    return out


def account_text(s):
    if s.get("mode") != "prepayment":
        return "credit mode; balance %s" % money(s.get("credit"))
    out = "prepayment; credit %s" % money(s.get("credit"))
    if s.get("ec_in_use"):
        out += "; emergency credit %s left" % money(s.get("ec"))
    elif s.get("ec_available"):
        out += "; emergency credit available (ec)"
    if s.get("debt"):
        out += "; accumulated debt %s" % money(s.get("debt"))
    if s.get("friendly"):
        out += "; friendly (non-disablement) period"
    lt = s.get("last_topup")
    if lt:
        out += "; last top-up %s" % topup_outcome(lt)
    return out


def plain(rows_):
    """Rows as one plain-text block (ends with a blank line)."""
    return "".join("%-12s %s\n" % r for r in rows_) + "\n"


def summary(res, story=None):
    """The closing summary of a run's result, as lines."""
    e = res["expectations"]
    t = res["timing"]
    nframes = sum(len(s["frames"]) for s in res["steps"]) + len(res["boot_frames"])
    cuts = sum(1 for ev in res["events"] if ev["event"] == "power_cut")
    lines = ["%s on %s: %s simulated (%d s) in %.1f s wall (%s simulated s per wall s)" % (
        res["scenario"] or "session", res["runtime"], duration(t["sim_s"]), t["sim_s"],
        t["wall_s"], "%.0f" % t["sim_s_per_wall_s"] if t["sim_s_per_wall_s"] else "-"),
        "  %d steps, %d frames on the HAN, %d power cut%s; expectations %d passed, %d failed" % (
        len(res["steps"]), nframes, cuts, "" if cuts == 1 else "s", e["passed"], e["failed"])]
    st = res.get("state") or {}
    m = st.get("meter", {})
    tf = m.get("Tariff") or {}
    pp = m.get("Prepay") or {}
    labels = ((res.get("timeline") or {}).get("tariff") or {}).get("labels")
    if m:
        lines.append("  energy %s (%s); charged energy %s + standing %s" % (
            kwh(_get(st, "Metering", "CurrentSummationDelivered")),
            ", ".join("%s %s" % (register_label(k, labels), kwh(v))
                      for k, v in sorted((tf.get("Registers") or {}).items())) or "-",
            money(tf.get("EnergyCost")), money(tf.get("StandingCost"))))
        if pp:
            lines.append("  %s mode: credited %s, charged %s, balance %s; supply %s; "
                         "time status %s" % (
                             pp.get("Mode"), money(pp.get("Credited")), money(pp.get("Charged")),
                             money(pp.get("MeterBalance")), pp.get("Supply"),
                             (m.get("TimeStatus") or "-").capitalize()))
        lines.append("  display: %s" % st.get("display", "-"))
    drlc = {}
    for r in res["hub"]["drlc_reports"]:
        drlc.setdefault(r["id"], []).append(r["status"])
    if drlc:
        lines.append("  DRLC: " + "; ".join("event %d %s" % (k, " > ".join(v))
                                            for k, v in sorted(drlc.items())))
    if story is not None:
        n = sum(1 for _, x in story.log if x.startswith("alert "))
        lines.append("  %d events logged, %d of them alerts" % (len(story.log), n))
    for f in res["failures"]:
        lines.append("  FAIL " + f)
    return lines


def _get(d, *path):
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d
