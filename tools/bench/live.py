"""Live terminal view: what the meter displays and what the hub receives.
Redraws in place on a terminal; prints a line every simulated 15 min when
the output is a file or a pipe."""
import sys
import time

from tools.bench.scenario import iso


class LiveView:
    """pace: simulated seconds per wall second (None: as fast as it goes)."""

    def __init__(self, every=900, out=None, pace=None):
        self.out = out or sys.stdout
        self.tty = self.out.isatty()
        self.every = every
        self.pace = pace
        self.next = None
        self.lines = 0
        self.t0 = None

    def __call__(self, runner):
        if self.pace:
            if self.t0 is None:
                self.t0 = (time.time(), runner.now)
            wait = self.t0[0] + (runner.now - self.t0[1]) / self.pace - time.time()
            if wait > 0:
                time.sleep(wait)
        if self.next is not None and runner.now < self.next:
            return
        self.next = runner.now - runner.now % self.every + self.every
        st = runner.state() or {}
        hub = runner.hub
        rows = [
            "%s  meter %s" % (iso(runner.now), "ON " if runner.alive else "OFF"),
            "  display | %s" % st.get("display", "(dark)"),
            "  hub     | reports %d  summation %s Wh  demand %s W  time reads %d" % (
                hub.report_count, hub.reports.get("Metering", {}).get("CurrentSummationDelivered", "-"),
                hub.reports.get("Metering", {}).get("InstantaneousDemand", "-"), hub.time_requests),
            "  tariff  | %s" % _tariff(st),
            "  prepay  | %s" % _prepay(st),
            "  drlc    | aux switches %s  events %s  last %s" % (
                _aux(st), _events(st), (hub.drlc_reports[-1:] or ["-"])[0]),
            "  last rx | %s" % _last_out(runner),
        ]
        if self.tty:
            if self.lines:
                self.out.write("\x1b[%dA" % self.lines)
            for r in rows:
                self.out.write("\x1b[2K" + r + "\n")
            self.lines = len(rows)
        else:
            self.out.write(" ".join(r.strip() for r in rows) + "\n")
        self.out.flush()

    def finish(self):
        self.out.write("\n")


def _last_out(runner):
    for f in reversed(runner.frames):
        if f["dir"] == "out":
            return "%s %s %s" % (f.get("cluster"), f.get("command"),
                                 _short(f.get("fields", "")))
    return "-"


def _short(fields):
    s = str(fields)
    return s if len(s) < 90 else s[:87] + "..."


def _tariff(st):
    tf = st.get("meter", {}).get("Tariff")
    if not tf:
        return "-"
    regs = " ".join("%s=%d" % kv for kv in sorted(tf["Registers"].items()))
    return "rate %s (tier %d) price %d  registers Wh: %s  cost %d + standing %d" % (
        tf["Register"], tf["Tier"], tf["Price"], regs or "-", tf["EnergyCost"], tf["StandingCost"])


def _money(units):
    """Account units (10^-5 of the currency) as pounds and pence."""
    sign = "-" if units < 0 else ""
    p = abs(units) // 1000
    return "%s£%d.%02d" % (sign, p // 100, p % 100)


def _prepay(st):
    pp = st.get("meter", {}).get("Prepay")
    if not pp:
        return "-"
    if pp["Mode"] != "prepayment":
        return "credit mode  balance %s" % _money(pp["MeterBalance"])
    out = "credit %s" % _money(pp["MeterBalance"])
    if pp["ECInUse"]:
        out += "  EC %s in use" % _money(pp["EmergencyCredit"])
    elif pp["ECAvailable"]:
        out += "  EC available"
    if pp["AccumulatedDebt"]:
        out += "  acc. debt %s" % _money(pp["AccumulatedDebt"])
    out += "  supply %s%s" % (pp["Supply"].upper(), " (%s)" % pp["SupplyCause"]
                              if pp["SupplyCause"] else "")
    if pp["Friendly"]:
        out += "  FRIENDLY PERIOD"
    lt = pp.get("LastTopUp")
    if lt:
        out += "  last top-up %s" % (_money(lt[1]) if lt[0] == 0 else
                                     "REJECTED (%s)" % _REJECT.get(lt[0], lt[0]))
    return out


_REJECT = {1: "malformed", 2: "duplicate", 3: "not authentic", 4: "over max credit",
           5: "over max balance", 6: "not for this meter"}


def _aux(st):
    closed = st.get("meter", {}).get("AuxSwitchesClosed", [])
    return "".join("on " if c else "OFF" for c in closed) or "-"


def _events(st):
    ev = st.get("meter", {}).get("DrlcEvents", [])
    return ",".join("%d:%s" % (e["id"], e["state"]) for e in ev) or "-"
