# The meter's control path: the HAN link loop and the lockstep control
# protocol of the bench (tools/meterlink.py, tools/bench), frozen with the
# application so a board's main.py is its drivers plus Control.run(); the
# virtual board (firmware/vboard.py, host only) is the unix port's drivers.
#
# Drivers Control is written against:
#   io     a byte transport: read() -> the octets waiting (bytes-like, at
#          least one; blocks until some come), b"" once the link has closed;
#          write(buf) all of buf; wait(ms) -> True when input is waiting (or
#          the link closed), False after ms without (ms < 0: no limit).
#   clock  the meter's clock (platform/clock.py: now(), mono()).
#   meter  firmware.meter.Meter, built with Control.send_aps as its
#          Platform send; set as ctl.meter before run().
#   sim    simulated hardware, a virtual board's only (None on a board):
#          an object with .metrology (platform/metrology.SimMetrology: load_w,
#          aux_w) and .backend (platform/store.FileBackend: cut_after(n)),
#          and then the clock is a SimClock (advance(s)). Plain attributes,
#          not hook methods: on the unix port every function costs heap.
#          Without it the ops in SIM_OPS are answered {"error": "not on
#          this board: OP"} and the loop ticks the meter once per second of
#          the clock's own monotonic count. The bench-only ops (BENCH_OPS:
#          SIM_OPS and the state inspection) are host code, firmware/vboard.py,
#          which adds them to OPS; without it they get that answer too.
#
# Lockstep protocol (virtual board): the host sends APS frames and control
# requests; every control request gets exactly one control response, after
# all the APS frames it caused. Time moves only on an "advance" request, so
# runs are deterministic and a simulated day takes seconds. An advance stops
# early after a second in which the meter sent something, so the hub can
# answer within the same simulated second; the response says how far it got.
#
# A malformed control request (not JSON, not an object, an unknown op, an
# argument missing, of the wrong type or out of range) is answered
# {"error": "bad control request..."} before anything changes, and the meter
# keeps serving. The link drops a frame left incomplete for hanlink.IDLE_MS
# (the loop calls Deframer.expire when the transport has been idle that long).
import gc
import json

from . import hanlink as L
from .compat import ticks_ms, IS_MICROPYTHON
from .zcl import aps as A
from .zcl.status import DecodeError
from . import commands as C

# other modules' constants, folded here (host_tests/test_const_copies.py keeps them equal)
_CHUNK = const(512)           # = hanlink.CHUNK
_HDR_LEN = const(11)          # = zcl.aps.HDR_LEN
_IDLE_MS = const(50)          # = hanlink.IDLE_MS
_T_APS = const(0x01)          # = hanlink.T_APS
_T_CTRL = const(0x10)         # = hanlink.T_CTRL
_T_CTRL_MORE = const(0x13)    # = hanlink.T_CTRL_MORE
_T_CTRL_RSP = const(0x11)     # = hanlink.T_CTRL_RSP
_T_EVENT = const(0x12)        # = hanlink.T_EVENT

_REQ_MAX = const(8192)     # longest control request (a tariff document)
_APS_MAX = const(128)      # an APS header and the longest ZCL frame the meter sends (engine.py)
# Ops only simulated hardware can carry out (the bench's time, load and
# fault injection); a board answers them "not on this board".
SIM_OPS = ("advance", "load", "cut_after_writes")
# The bench-only ops: SIM_OPS and the state inspection. Their code is host
# only (firmware/vboard.py, which adds them to OPS), so a board's flash does
# not carry it; where they are not in OPS they are answered "not on this
# board" too.
BENCH_OPS = SIM_OPS + ("state",)


class BadRequest(ValueError):
    """A control request's argument is missing, mistyped or out of range."""


def _num(v, key, lo, hi):
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise BadRequest(key)
    return v


def _int(req, key, lo, hi):
    return _num(req.get(key), key, lo, hi)


class Control:
    def __init__(self, io, clock, sim=None):
        self.io = io
        self.clock = clock
        self.sim = sim
        self.meter = None
        self.sent = 0              # APS frames sent (an advance stops after a second with any)
        self._mark = -1
        self._ticked = 0           # monotonic second the meter last ticked at (no sim)
        self.deframer = L.Deframer(self._on_frame)
        self._more = []            # the pieces of a long request; None once refused
        self._more_len = 0
        self._chunk = bytearray(_CHUNK)     # one response chunk, reused
        self._frame = bytearray(_CHUNK + 7)  # its link frame, reused
        self._aps = bytearray(_APS_MAX)       # an outgoing APS message and its frame, reused
        self._aps_frame = bytearray(_APS_MAX + 7)
        self.no_heap = 0                      # inputs dropped or refused for want of heap

    # -- link ------------------------------------------------------------------
    def send_aps(self, msg):
        """Platform.send: an APS frame from the meter onto the link."""
        m = self.clock.mono()
        if m != self._mark:       # time mark before the first frame of a second
            self._mark = m
            self.io.write(L.encode(_T_EVENT, json.dumps({"t": self.clock.now(), "m": m})
                                  .encode()))
        if _HDR_LEN + len(msg.payload) <= _APS_MAX:   # every frame the meter sends: no allocation
            self.io.write(L.encode_into(self._aps_frame, _T_APS, msg.encode_into(self._aps)))
        else:
            self.io.write(L.encode(_T_APS, msg.encode()))
        self.sent += 1

    def run(self):
        """Boot the meter and serve the link until the transport closes."""
        self.meter.boot()
        self._ticked = self.clock.mono()
        while self.serve_once():
            pass

    def serve_once(self):
        """One pass of the link loop: wait for input, feed it to the
        deframer (frames are handled as they complete). Inside a frame the
        wait is at most IDLE_MS; when nothing came the line is idle and the
        partial frame is dropped. Without simulated hardware the meter also
        ticks here for every second the clock has moved, so the wait is
        never unbounded. False once the link has closed."""
        d = self.deframer
        io = self.io
        if self.sim is None:
            # a board's real time: one meter tick per second of the clock's
            # monotonic count since the last (allocates nothing)
            m = self.clock.mono()
            while self._ticked < m:
                self._ticked += 1
                self.meter.tick()
            if not io.wait(_IDLE_MS):
                d.expire(ticks_ms())
                return True
        elif d.pending() and not io.wait(_IDLE_MS):
            d.expire(ticks_ms())
            return True
        data = io.read()
        if not data:
            return False
        try:
            d.feed(data, ticks_ms())
        except MemoryError:
            # what could not be had is dropped (a control request gets its
            # error, an APS frame is lost as on air); the meter keeps serving
            gc.collect()
            self.no_heap += 1
        return True

    def _on_frame(self, ftype, payload):
        if ftype == _T_APS:
            try:
                msg = A.decode(payload)
            except DecodeError:
                return                     # shorter than an APS header: dropped
            self.meter.on_aps(msg)
        elif ftype == _T_CTRL_MORE:             # a long request arrives in pieces
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
        elif ftype == _T_CTRL:
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
                name = req["op"]
                op = OPS.get(name)
                if op is None and name not in BENCH_OPS:
                    raise KeyError(name)
            except Exception as e:   # not JSON / not an object / no such op; CPython's
                # json also raises RecursionError on deep nesting, MicroPython MemoryError
                more = data = req = None
                why = "" if e.args != ("long",) and not isinstance(e, MemoryError) else \
                    ": too long or no heap for it"
                self._respond(('{"error": "bad control request%s"}' % why,))
                return
            if op is None or (self.sim is None and name in SIM_OPS):
                self._respond(('{"error": "not on this board: %s"}' % name,))
                return
            try:
                # the ops whose argument is a JSON object
                if name in ("tariff", "prepay") and not isinstance(req.get("doc"), dict):
                    raise BadRequest("doc")
                rsp = op(self, req)
            except BadRequest as e:        # refused before the op changed anything
                rsp = {"error": "bad control request: %s.%s" % (name, e.args[0])}
            except MemoryError:            # the meter answers and keeps serving
                gc.collect()
                self.no_heap += 1
                rsp = {"error": "no heap for it: " + name}
            if rsp is not None:            # None: the op streamed its own response
                self._respond((json.dumps(rsp),))

    def _respond(self, parts):
        """Send a control response made of text parts in link-sized chunks,
        so no whole response needs to exist in RAM at once."""
        buf = self._chunk
        w = self.io.write
        n = 0
        for part in parts:
            b = part.encode()
            i = 0
            while i < len(b):
                if n == _CHUNK:
                    w(L.encode_into(self._frame, _T_CTRL_MORE, buf))
                    n = 0
                k = min(_CHUNK - n, len(b) - i)
                buf[n:n + k] = b[i:i + k]
                n += k
                i += k
        w(L.encode_into(self._frame, _T_CTRL_RSP, memoryview(buf)[:n]))

    # -- control operations ----------------------------------------------------
    def op_hello(self, req):
        gc.collect()
        return {"runtime": "micropython" if IS_MICROPYTHON else "cpython",
                "now": self.clock.now()}

    def op_mem(self, req):
        """Heap after a collection (MicroPython; None on CPython): free bytes
        and the largest free block, for benches and memory tests."""
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

    def op_button(self, req):
        self.meter.button.press()
        return {"ok": True}

    def op_set_clock(self, req):
        now = self.clock.now()
        # ZigBee UTCTime: at most 0xFFFFFFFE (0xFFFFFFFF is its invalid value)
        t = now + _int(req, "offset", -now, 0xFFFFFFFE - now)
        from .commands import supplier as CS     # on first use
        CS.set_clock(self.meter, t)
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
        from .commands import supplier as CS     # on first use
        CS.drlc_opt(self.meter, out, eid)
        return {"ok": True}

    def op_tariff(self, req):
        # a load the heap cannot hold is refused with the old tariff intact
        # (commands.load_tariff, NO_ROOM); MemoryError here too, should it come from
        # outside the load itself, so the meter answers and carries on
        try:
            r = C.load_tariff(self.meter, req["doc"], req.get("at"))
        except MemoryError:
            r = 3
        if r == 3:                         # commands NO_ROOM
            gc.collect()
            return {"error": "tariff refused: out of memory", "refused": self.meter.tariff_refused}
        if r:
            return {"error": "tariff rejected: %s" % C.detail}
        return {"activated": C.detail,
                "pending": [[k, at] for k, at in self.meter.tariff.pending()]}

    def op_prepay(self, req):
        from .commands import config
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
        return {"ok": C.ui(self.meter, code, arg) == 0, "last_topup": self.meter.account.last_topup}


# The control ops by name (tools/bench/runner.py and tools/meterlink.py send
# them; host_tests/test_control.py keeps the two sides in step). The
# virtual board adds BENCH_OPS (firmware/vboard.py).
OPS = {
    "hello": Control.op_hello,
    "sync": Control.op_sync,
    "mem": Control.op_mem,
    "button": Control.op_button,
    "drlc_opt": Control.op_drlc_opt,
    "set_clock": Control.op_set_clock,
    "tariff": Control.op_tariff,
    "prepay": Control.op_prepay,
    "ui": Control.op_ui,
}
