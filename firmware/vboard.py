# Virtual board: the MicroPython unix port's drivers for the meter (host
# only, not frozen): the HAN link as a TCP socket to the host (comms-hub
# simulator / bench runner), a simulated clock, store, metrology, relays and
# display. The control path itself (the link loop and the lockstep control
# protocol) is the frozen firmware/control.py, as on a board.
#
# Also the bench-only control ops, which a board's flash does not carry
# (control.BENCH_OPS; a board answers them "not on this board"): the
# simulated hardware's (advance, load, cut_after_writes: control.SIM_OPS)
# and the state op with the meter's inspection chain (state(m),
# state_items(m)). Importing this module adds them to control.OPS.
#
#   micropython -X heapsize=164K -m firmware.vboard --port P --store DIR
#   python -m firmware.vboard --port P --store DIR          (same code)
import gc
import json
import select
import socket
import sys
from .compat import const
from .control import Control, OPS, BadRequest, _int, _num
from .clusters.time_client import NAMES as TIME_STATUS_NAMES
from .prepay import account as AC
from .prepay.supply import NAMES as SUPPLY_NAMES, CAUSES as SUPPLY_CAUSES
from .platform.store import Store, FileBackend, PowerCut
from .platform.metrology import SimMetrology, SimClock, Relay, Button
from .platform.hw import Display, AuxSwitches
from .meter import Meter, Platform


# -- the bench-only control ops (control.BENCH_OPS) ------------------------------------
_W_MAX = const(1000000)          # load per circuit (W): far above a 100 A single-phase supply
_ADVANCE_MAX = const(100000000)  # seconds per advance (over 3 years)
_WRITES_MAX = const(1000000)


def op_advance(ctl, req):
    n = _int(req, "s", 0, _ADVANCE_MAX)
    i = 0
    while i < n:
        ctl.clock.advance(1)         # a SimClock: the virtual board's
        before = ctl.sent
        ctl.meter.tick()
        i += 1
        if ctl.sent != before:
            break
    return {"done": i, "now": ctl.clock.now(), "m": ctl.clock.mono()}


def op_load(ctl, req):
    w = _int(req, "w", 0, _W_MAX)
    aux = req.get("aux_w")
    if aux is not None:
        if not isinstance(aux, list):
            raise BadRequest("aux_w")
        for x in aux:
            _num(x, "aux_w", 0, _W_MAX)
    met = ctl.sim.metrology
    met.load_w = w
    if aux is not None:
        for i in range(min(len(aux), len(met.aux_w))):
            met.aux_w[i] = aux[i]
    return {"ok": True}


def op_cut_after_writes(ctl, req):
    ctl.sim.backend.cut_after(_int(req, "n", 1, _WRITES_MAX))
    return {"ok": True}


def op_state(ctl, req):
    gc.collect()
    ctl._respond(_state_parts(ctl.meter))


def _state_parts(m):
    yield '{"display": ' + json.dumps(m.display_text())
    group = None
    for g, name, value in state_items(m):
        if g != group:
            yield (", " if group is None else "}, ") + json.dumps(g) + ": {"
            group = g
        else:
            yield ", "
        yield json.dumps(name) + ": "
        for p in _json_parts(value):
            yield p
    yield "}}"


def _json_parts(v):
    """JSON text of v in pieces: dicts and lists entry by entry."""
    if isinstance(v, dict):
        sep = "{"
        for k in v:
            yield sep + json.dumps(k) + ": "
            for p in _json_parts(v[k]):
                yield p
            sep = ", "
        yield "{}" if sep == "{" else "}"
    elif isinstance(v, list) and len(v) > 8:
        sep = "["
        for x in v:
            yield sep
            for p in _json_parts(x):
                yield p
            sep = ", "
        yield "]"
    else:
        yield json.dumps(v)


OPS["advance"] = op_advance
OPS["load"] = op_load
OPS["state"] = op_state
OPS["cut_after_writes"] = op_cut_after_writes


# -- the meter's state, for the bench and tests (the inspection chain) ----------------
def state(m):
    """The meter's state as {group: {name: value}} (tests; the bench streams it)."""
    out = {}
    for group, name, value in state_items(m):
        out.setdefault(group, {})[name] = value
    return out


def state_items(m):
    """(group, name, value) one at a time -- clusters' attributes, then the
    meter's own registers -- so a caller can stream the state in small
    pieces (the 164 KB unix-port heap also holds the bytecode)."""
    for ep, cl in m.zcl.clusters():
        for aid in cl.adefs:
            if aid < 0xFFF0:
                yield cl.NAME, cl.adefs[aid][1], _jsonable(cl.read(aid))
    for k in _METER_STATE:
        yield "meter", k, _meter_value(m, k)


def _meter_value(m, k):
    """One entry of the meter's own state, built when asked for (the
    whole dict at once does not fit the unix port's heap)."""
    if k == "clock":
        return m.clock.now()
    if k == "TimeStatus":
        return TIME_STATUS_NAMES[m.time.status]
    if k == "Alerts":
        return list(m.alerts)
    if k == "Reports":
        return len(m.reporting.entries)
    if k == "DroppedUnsecured":
        return m.zcl.dropped_unsecured
    if k == "Malformed":
        return m.zcl.malformed
    if k == "HandlerErrors":
        return m.zcl.handler_errors
    if k == "StoreCorrupt":
        return m.store.corrupt
    if k == "RecordsUnreadable":
        return list(m.store.unreadable)
    if k == "RelayClosed":
        return m.relay.closed
    if k == "AuxSwitchesClosed":
        return list(m.aux.closed)
    if k == "DrlcEvents":
        return [{"id": e.id, "state": ("scheduled", "running")[e.state],
                 "start": e.eff_start, "end": e.eff_end, "opted_out":
                 bool(e.flags & 1)} for e in m.drlc.table.events]
    if k == "DrlcReports":
        return m.drlc.reports
    if k == "Tariff":
        return _tariff_state(m)
    if k == "Prepay":
        return _prepay_state(m)
    if k == "ProfileLastInterval":
        return m.profile.last_idx
    if k == "MaxDemandW":
        return m.profile.max_demand_w
    if k == "Logs":
        return {"event": m.event_log.seq, "security": m.security_log.seq,
                "power": m.power_log.seq, "snapshots": m.snapshots.logs[0].seq,
                "billing_period": m.snapshots.logs[1].seq,
                "billing_change": m.snapshots.logs[2].seq,
                "topups": m.prepayment.topups.seq, "debts": m.prepayment.debts.seq}
    return getattr(m, _METER_ATTRS[k])


def _tariff_state(m):
    tf = m.tariff
    regs = {}
    for i in range(len(tf.reg)):
        if tf.reg[i]:
            regs[register_name(i)] = tf.reg[i]
    return {"Selector": tf.sel, "Tier": tf.tier_now(), "Price": tf.price_now(),
            "Register": register_name(tf.register_slot()), "Registers": regs,
            "BlockCounters": list(tf.counters), "EnergyCost": m.account.energy,
            "StandingCost": m.account.standing,
            "Pending": [[k, at] for k, at in tf.pending()]}


def _prepay_state(m):
    a = m.account
    s = m.supply
    lt = a.last_topup
    return {"Mode": "prepayment" if a.mode == AC.PREPAY else "credit",
            "SDE": a.sde, "SDD": a.sdd, "MeterBalance": a.mb,
            "EmergencyCredit": a.ecb, "ECInUse": a.ec_in_use,
            "ECAvailable": a.ec_available(), "AccumulatedDebt": a.ad,
            "Combined": a.combined(), "Debts": list(a.debt), "Collected": list(a.collected),
            "Credited": a.credited, "Charged": a.charged, "LedgerOK": a.ledger_ok(),
            "Params": dict(zip(AC.PARAM_NAMES[:AC.P_ACCOUNT], a.p[:AC.P_ACCOUNT])),
            "Friendly": a.is_friendly(m.clock.now()),
            "Pending": [[k, at] for k, at in a.pending()],
            "UtrnCache": a.cache.n, "UtrnHighest": a.cache.highest(),
            "LastTopUp": list(lt) if lt else None,
            "Supply": SUPPLY_NAMES[s.state], "SupplyCause": SUPPLY_CAUSES[s.cause]}


_METER_ATTRS = {"ImportWh": "import_wh", "ImportWsResidual": "_ws", "PowerW": "power_w",
                "ButtonPresses": "button_presses"}
_METER_STATE = ("clock", "TimeStatus", "ImportWh", "ImportWsResidual", "PowerW", "RelayClosed",
                "ButtonPresses", "Alerts", "Reports", "DroppedUnsecured", "Malformed",
                "HandlerErrors", "StoreCorrupt", "RecordsUnreadable", "AuxSwitchesClosed",
                "DrlcEvents", "DrlcReports",
                "Tariff", "Prepay", "ProfileLastInterval", "MaxDemandW", "Logs")


def register_name(slot):
    """OBIS-style short name of a register slot (GBCS Table 7.3.7.2)."""
    if slot < 48:
        return "TOU%d" % (slot + 1)
    if slot < 80:
        b, t = divmod(slot - 48, 8)
        return "B%dT%d" % (b + 1, t + 1)
    return "SEC%d" % (slot - 79)


def _jsonable(v):
    if isinstance(v, (bytes, bytearray)):
        try:
            return bytes(v).decode()
        except UnicodeError:
            return "hex:" + "".join("%02x" % b for b in v)
    if isinstance(v, tuple):
        return list(v)
    return v


class VirtualBoard(Control):
    """The meter on simulated hardware: control.py's byte transport (io:
    the TCP socket) and its simulated hardware (sim: .metrology, .backend,
    the SimClock), in one object (one class less in the unix port's heap)."""

    def __init__(self, sock, store_dir, utc, config):
        Control.__init__(self, self, SimClock(utc), self)
        self.sock = sock
        self._poller = None
        self.backend = FileBackend(store_dir)
        aux = AuxSwitches()
        relay = Relay()
        self.metrology = SimMetrology(0, aux, relay)
        self.display = Display()
        plat = Platform(self.clock, Store(self.backend), self.metrology, relay,
                        Button(), self.display, self.send_aps, aux)
        self.meter = Meter(plat, config)

    # -- the link: a connected TCP socket (control.py's io) -----------------------
    def write(self, frame):
        mv = memoryview(frame)
        while len(mv):
            n = self.sock.send(mv)
            mv = mv[n:]

    def read(self):
        # recv, not readinto (a stream readinto blocks until buf is full),
        # in small pieces so a fragmented heap can still take input
        return self.sock.recv(128)

    def wait(self, ms):
        if self._poller is None:
            self._poller = select.poll()
            self._poller.register(self.sock, select.POLLIN)
        return bool(self._poller.poll(ms))


def _args(argv):
    out = {"host": "127.0.0.1", "port": 0, "store": "store", "utc": 0, "config": None,
           "listen": None}
    i = 0
    while i < len(argv):
        k = argv[i][2:]
        out[k] = argv[i + 1]
        i += 2
    return out


def main(argv):
    a = _args(argv)
    cfg = None
    if a["config"]:
        with open(a["config"]) as f:
            cfg = json.load(f)
    if a["listen"]:
        # Serve one host connection (the bench's --port socket:// transport,
        # standing in for a board's UART in tests).
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(socket.getaddrinfo(a["host"], int(a["listen"]))[0][-1])
        srv.listen(1)
        s = srv.accept()[0]
        srv.close()
    else:
        s = socket.socket()
        s.connect(socket.getaddrinfo(a["host"], int(a["port"]))[0][-1])
    try:    # lockstep round trips: no Nagle delay (IPPROTO_TCP 6, TCP_NODELAY 1)
        s.setsockopt(6, 1, 1)
    except (OSError, AttributeError):
        pass
    board = VirtualBoard(s, a["store"], int(a["utc"]), cfg)
    try:
        board.run()
    except PowerCut:
        # The supply died mid-write: stop dead, as the MCU would.
        s.close()
        sys.exit(3)
    s.close()


if __name__ == "__main__":
    main(sys.argv[1:])
