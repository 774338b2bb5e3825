# Virtual board: the meter core on simulated hardware, linked over TCP
# loopback to the host (comms-hub simulator / bench runner).
#
#   micropython -X heapsize=164K -m firmware.vboard --port P --store DIR
#   python -m firmware.vboard --port P --store DIR          (same code)
#
# Lockstep protocol: the host sends APS frames and control requests; every
# control request gets exactly one control response, after all the APS
# frames it caused. Time moves only on an "advance" request, so runs are
# deterministic and a simulated day takes seconds. An advance stops early
# after a second in which the meter sent something, so the hub can answer
# within the same simulated second; the response says how far it got.
#
# A malformed control request (not JSON, not an object, an unknown op, an
# argument missing, of the wrong type or out of range) is answered
# {"error": "bad control request..."} before anything changes, and the board
# keeps serving; the link drops a frame left incomplete for hanlink.IDLE_MS.
import gc
import json
import select
import socket
import sys

from . import hanlink as L
from .compat import const, ticks_ms
from .zcl import aps as A
from .zcl.status import DecodeError
from .platform.clock import SimClock
from .platform.store import Store, FileBackend, PowerCut
from .platform.metrology import SimMetrology
from .platform.hw import Relay, Button, Display, AuxSwitches
from .meter import Meter, Platform, TariffNoRoom


_REQ_MAX = 8192      # longest control request (a tariff document)
_APS_MAX = const(128)      # an APS header and the longest ZCL frame the meter sends (engine.py)
_RX_MAX = const(128)       # octets taken from the socket at a time
_BAD = "bad control request"
_W_MAX = 1000000     # load per circuit (W): far above a 100 A single-phase supply
_ADVANCE_MAX = 100000000   # seconds per advance (over 3 years)
_WRITES_MAX = 1000000
_UTC_MAX = 0xFFFFFFFE      # ZigBee UTCTime; 0xFFFFFFFF is its invalid value
_DOC_ARG = {"tariff": "doc", "prepay": "doc"}    # ops whose argument is a JSON object


class BadRequest(ValueError):
    """A control request's argument is missing, mistyped or out of range."""


def _num(v, key, lo, hi):
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise BadRequest(key)
    return v


def _int(req, key, lo, hi):
    return _num(req.get(key), key, lo, hi)


class VirtualBoard:
    def __init__(self, sock, store_dir, utc, config):
        self.sock = sock
        self.clock = SimClock(utc)
        self.backend = FileBackend(store_dir)
        aux = AuxSwitches()
        relay = Relay()
        self.metrology = SimMetrology(0, aux, relay)
        self.display = Display()
        self.sent = 0
        self._mark = -1
        self.deframer = L.Deframer(self._on_frame)
        self._more = []            # the pieces of a long request; None once refused
        self._more_len = 0
        self._chunk = bytearray(L.CHUNK)     # one response chunk, reused
        self._frame = bytearray(L.CHUNK + 7)  # its link frame, reused
        self._aps = bytearray(_APS_MAX)       # an outgoing APS message and its frame, reused
        self._aps_frame = bytearray(_APS_MAX + 7)
        self.no_heap = 0                      # inputs dropped for want of heap
        plat = Platform(self.clock, Store(self.backend), self.metrology, relay,
                        Button(), self.display, self._send_aps, aux)
        self.meter = Meter(plat, config)

    # -- link ------------------------------------------------------------------
    def _write(self, frame):
        mv = memoryview(frame)
        while len(mv):
            n = self.sock.send(mv)
            mv = mv[n:]

    def _send_aps(self, msg):
        m = self.clock.mono()
        if m != self._mark:       # time mark before the first frame of a second
            self._mark = m
            self._event({"t": self.clock.now(), "m": m})
        if A.HDR_LEN + len(msg.payload) <= _APS_MAX:   # every frame the meter sends: no allocation
            self._write(L.encode_into(self._aps_frame, L.T_APS, msg.encode_into(self._aps)))
        else:
            self._write(L.encode(L.T_APS, msg.encode()))
        self.sent += 1

    def _event(self, obj):
        self._write(L.encode(L.T_EVENT, json.dumps(obj).encode()))

    def _on_frame(self, ftype, payload):
        if ftype == L.T_APS:
            try:
                msg = A.decode(payload)
            except DecodeError:
                return                     # shorter than an APS header: dropped
            self.meter.on_aps(msg)
        elif ftype == L.T_CTRL_MORE:             # a long request arrives in pieces
            # kept as pieces (small blocks, no growing copy) until it ends;
            # one too long, or with no heap for it, is refused when it ends
            if self._more is not None:
                self._more_len += len(payload)
                try:
                    if self._more_len > _REQ_MAX:
                        raise MemoryError
                    self._more.append(bytes(payload))
                except MemoryError:
                    self._more = None
        elif ftype == L.T_CTRL:
            more = self._more
            self._more, self._more_len = [], 0
            try:
                if more is None:
                    raise ValueError("long")
                more.append(bytes(payload))
                data = more[0] if len(more) == 1 else b"".join(more)
                more = None
                req = json.loads(data)
                data = None
                op = _OPS[req["op"]]
            except Exception as e:   # not JSON / not an object / no such op; CPython's
                # json also raises RecursionError on deep nesting, MicroPython MemoryError
                more = data = req = None
                why = "" if e.args != ("long",) and not isinstance(e, MemoryError) else \
                    ": too long or no heap for it"
                self._respond(('{"error": "%s%s"}' % (_BAD, why),))
                return
            try:
                k = _DOC_ARG.get(req["op"])
                if k is not None and not isinstance(req.get(k), dict):
                    raise BadRequest(k)
                rsp = op(self, req)
            except BadRequest as e:        # refused before the op changed anything
                rsp = {"error": "%s: %s.%s" % (_BAD, req["op"], e.args[0])}
            except MemoryError:            # the board answers and keeps serving
                gc.collect()
                self.no_heap += 1
                rsp = {"error": "no heap for it: " + req["op"]}
            if rsp is not None:            # None: the op streamed its own response
                self._respond((json.dumps(rsp),))

    def _respond(self, parts):
        """Send a control response made of text parts in link-sized chunks,
        so no whole response needs to exist in RAM at once."""
        buf = self._chunk
        n = 0
        for part in parts:
            b = part.encode()
            i = 0
            while i < len(b):
                if n == L.CHUNK:
                    self._write(L.encode_into(self._frame, L.T_CTRL_MORE, buf))
                    n = 0
                k = min(L.CHUNK - n, len(b) - i)
                buf[n:n + k] = b[i:i + k]
                n += k
                i += k
        self._write(L.encode_into(self._frame, L.T_CTRL_RSP, memoryview(buf)[:n]))

    # -- control operations ----------------------------------------------------
    def op_hello(self, req):
        import gc
        gc.collect()
        return {"runtime": sys.implementation.name, "now": self.clock.now()}

    def op_advance(self, req):
        n = _int(req, "s", 0, _ADVANCE_MAX)
        i = 0
        while i < n:
            self.clock.advance(1)
            before = self.sent
            self.meter.tick()
            i += 1
            if self.sent != before:
                break
        return {"done": i, "now": self.clock.now(), "m": self.clock.mono()}

    def op_mem(self, req):
        """Heap after a collection (MicroPython; None on CPython): free bytes
        and the largest free block, for benches and memory tests."""
        import gc
        gc.collect()
        try:
            free = gc.mem_free()
        except AttributeError:
            return {"free": None, "largest": None}
        lo, hi = 0, free          # largest block: the biggest bytearray that can be had
        while lo < hi:
            mid = (lo + hi + 1) // 2
            try:
                bytearray(mid)            # allocated and dropped at once
                lo = mid
            except MemoryError:
                hi = mid - 1
        return {"free": free, "largest": lo}

    def op_sync(self, req):
        return {"now": self.clock.now(), "m": self.clock.mono()}

    def op_load(self, req):
        w = _int(req, "w", 0, _W_MAX)
        aux = req.get("aux_w")
        if aux is not None:
            if not isinstance(aux, list):
                raise BadRequest("aux_w")
            for x in aux:
                _num(x, "aux_w", 0, _W_MAX)
        self.metrology.load_w = w
        if aux is not None:
            for i in range(min(len(aux), len(self.metrology.aux_w))):
                self.metrology.aux_w[i] = aux[i]
        return {"ok": True}

    def op_button(self, req):
        self.meter.button.press()
        return {"ok": True}

    def op_set_clock(self, req):
        now = self.clock.now()
        t = now + _int(req, "offset", -now, _UTC_MAX - now)
        self.meter.time.supplier_set_clock(t, t, t)
        return {"now": self.clock.now(), "m": self.clock.mono()}

    def op_drlc_opt(self, req):
        out = req.get("out")
        # true / false (or 1 / 0); MicroPython's bool is no int subclass
        if not (out is True or out is False or (isinstance(out, int) and out in (0, 1))):
            raise BadRequest("out")
        out = bool(out)
        eid = req.get("event")
        if eid is not None:
            eid = _int(req, "event", 0, 0xFFFFFFFF)
        self.meter.drlc.opt(out, eid)
        return {"ok": True}

    def op_tariff(self, req):
        # a load the heap cannot hold is refused with the old tariff intact
        # (Meter.load_tariff); MemoryError here too, should it come from
        # outside the load itself, so the meter answers and carries on
        try:
            done = self.meter.load_tariff(req["doc"], req["at"])
        except (MemoryError, TariffNoRoom):
            import gc
            gc.collect()
            return {"error": "tariff refused: out of memory", "refused": self.meter.tariff_refused}
        except (ValueError, KeyError, TypeError, IndexError) as e:
            return {"error": "tariff rejected: %s" % (e.args[0] if e.args else type(e).__name__)}
        return {"activated": done, "pending": [[k, at] for k, at in self.meter.tariff.pending()]}

    def op_prepay(self, req):
        from .prepay import config
        try:
            return config.apply(self.meter, req["doc"])
        except (ValueError, KeyError, TypeError, IndexError) as e:
            return {"error": "prepay rejected: %s" % (e.args[0] if e.args else type(e).__name__)}

    def op_ui(self, req):
        code = _int(req, "code", 0, 0xFFFF)
        arg = req.get("arg")             # the digits keyed with the command
        if arg is None:
            arg = ""
        elif not isinstance(arg, str):
            raise BadRequest("arg")
        return {"ok": self.meter.ui(code, arg), "last_topup": self.meter.account.last_topup}

    def op_state(self, req):
        import gc
        gc.collect()
        self._respond(self._state_parts())

    def _state_parts(self):
        yield '{"display": ' + json.dumps(self.meter.display_text())
        group = None
        for g, name, value in self.meter.state_items():
            if g != group:
                yield (", " if group is None else "}, ") + json.dumps(g) + ": {"
                group = g
            else:
                yield ", "
            yield json.dumps(name) + ": "
            for p in _json_parts(value):
                yield p
        yield "}}"

    def op_cut_after_writes(self, req):
        self.backend.cut_after(_int(req, "n", 1, _WRITES_MAX))
        return {"ok": True}

    # -- main loop -------------------------------------------------------------
    def run(self):
        self.meter.boot()
        d = self.deframer
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        while True:
            # Inside a frame, wait at most IDLE_MS for its next octets; when
            # none came, the line is idle and the partial frame is dropped.
            if d.pending() and not poller.poll(L.IDLE_MS):
                d.expire(ticks_ms())
                continue
            # recv, not readinto (a stream readinto blocks until buf is full),
            # in small pieces so a fragmented heap can still take input
            data = self.sock.recv(_RX_MAX)
            if not data:
                return
            try:
                d.feed(data, ticks_ms())
            except MemoryError:
                # what could not be had is dropped (a control request gets its
                # error, an APS frame is lost as on air); the board keeps serving
                gc.collect()
                self.no_heap += 1


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


_OPS = {
    "hello": VirtualBoard.op_hello,
    "advance": VirtualBoard.op_advance,
    "sync": VirtualBoard.op_sync,
    "mem": VirtualBoard.op_mem,
    "load": VirtualBoard.op_load,
    "button": VirtualBoard.op_button,
    "state": VirtualBoard.op_state,
    "drlc_opt": VirtualBoard.op_drlc_opt,
    "set_clock": VirtualBoard.op_set_clock,
    "tariff": VirtualBoard.op_tariff,
    "prepay": VirtualBoard.op_prepay,
    "ui": VirtualBoard.op_ui,
    "cut_after_writes": VirtualBoard.op_cut_after_writes,
}


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
