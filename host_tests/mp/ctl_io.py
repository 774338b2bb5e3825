# control_loop.py's body: firmware/control.py over an in-memory byte
# transport, as a board's main.py would run it, with the host end in the
# same process. (A module of its own: an imported module's source text does
# not stay in the unix port's board-sized heap while it runs, a script's
# does; the host end shares that heap with the meter.)
import gc
import json

from firmware import hanlink as L
from firmware.control import Control, OPS, SIM_OPS
from firmware import vboard   # the bench-only ops (advance, load, state, ...) join OPS
from firmware.meter import Meter, Platform
from firmware.platform.store import Store, FileBackend
from firmware.platform.metrology import SimMetrology
from firmware.platform.hw import Display, AuxSwitches
from firmware.platform.metrology import SimClock, Relay, Button

try:
    from time import sleep_ms
except ImportError:                       # CPython
    from time import sleep

    def sleep_ms(ms):
        sleep(ms / 1000)

T0 = 820886400


class MemIO:
    """The transport: what the host sent, handed out in reads of at most
    `piece` octets; what the meter writes goes straight to the host end."""

    def __init__(self):
        self.rx = []                      # frames not yet read whole
        self.pos = 0
        self.piece = 512
        self.waits = 0

    def write(self, b):
        HOST.d.feed(b)

    def read(self):
        if not self.rx:
            return b""
        f, i = self.rx[0], self.pos
        d = memoryview(f)[i:i + self.piece]      # no copy: the heap is the board's
        self.pos = i + len(d)
        if self.pos == len(f):
            self.rx.pop(0)
            self.pos = 0
        return d

    def wait(self, ms):
        self.waits += 1
        if self.rx:
            return True
        sleep_ms(ms + 5)                  # the line stays quiet that long
        return False


class Sim:
    """control.py's simulated hardware: plain attributes."""

    def __init__(self, met, backend):
        self.metrology, self.backend = met, backend


def board(path, with_sim):
    io = MemIO()
    clock = SimClock(T0)
    backend = FileBackend(path)
    aux, relay = AuxSwitches(), Relay()
    met = SimMetrology(0, aux, relay)
    ctl = Control(io, clock, Sim(met, backend) if with_sim else None)
    gc.collect()       # as the virtual board starts: the meter then sizes its construction hole
    ctl.meter = Meter(Platform(clock, Store(backend), met, relay, Button(), Display(),
                               ctl.send_aps, aux), {"drlc_seed": 7})
    ctl.meter.boot()
    ctl._ticked = clock.mono()      # as Control.run() starts
    host_side(io)                   # the boot frames
    return ctl, io, clock, met


class Host:
    """The host end: control responses, each with the number of chunks it
    came in. One in a single chunk is parsed; a longer one (the state) is
    too big to hold whole beside the meter in a board-sized heap, so it is
    kept as (octets, its first 12 and last 2)."""

    def __init__(self):
        self.d = L.Deframer(self.frame)
        self.n = 0
        self.size = 0
        self.head = b""
        self.rsps = []

    def frame(self, t, p):
        if t not in (L.T_CTRL_MORE, L.T_CTRL_RSP):
            return
        if not self.n:
            self.head = bytes(p[:12])
        self.n += 1
        self.size += len(p)
        if t == L.T_CTRL_RSP:
            r = json.loads(bytes(p)) if self.n == 1 else (self.size, self.head, bytes(p[-2:]))
            self.rsps.append((r, self.n))
            self.n = self.size = 0


HOST = Host()


def host_side(io):
    """The control responses the meter wrote since the last call, each with
    its chunk count."""
    r = HOST.rsps
    HOST.rsps = []
    return r


def request(ctl, io, data, piece=512):
    """Send a request (in CHUNK pieces if long), run the loop until the
    transport is drained, return what came back."""
    io.piece = piece
    i = 0
    while len(data) - i > L.CHUNK:
        io.rx.append(L.encode(L.T_CTRL_MORE, data[i:i + L.CHUNK]))
        i += L.CHUNK
    io.rx.append(L.encode(L.T_CTRL, data[i:]))
    while io.rx:
        ctl.serve_once()
    return host_side(io)


def ask(ctl, io, **kw):
    return request(ctl, io, json.dumps(kw).encode())[-1][0]


def show(name, rsp):
    if isinstance(rsp, dict):
        rsp = sorted((k, rsp[k]) for k in rsp)
    print(name, rsp)


def heap_locked(fn):
    """fn() under micropython.heap_lock(): "ok" if it allocated nothing,
    "ALLOCATED" if it tried; "n/a" on CPython (no heap lock)."""
    try:
        import micropython
        micropython.heap_lock
    except (ImportError, AttributeError):
        fn()
        return "n/a"
    ok = False                # bound before the lock: storing a new name allocates
    micropython.heap_lock()
    try:
        fn()
        ok = True
    except MemoryError:
        pass
    micropython.heap_unlock()
    return "ok" if ok else "ALLOCATED"


# -- the two phases ---------------------------------------------------------------

def virtual(path):
    print("ops", sorted(OPS), "sim", sorted(SIM_OPS))
    ctl, io, clock, met = board(path + "/v", True)
    show("sync", ask(ctl, io, op="sync"))
    show("load", ask(ctl, io, op="load", w=3600, aux_w=[1000, 0]))
    show("button", ask(ctl, io, op="button"))
    done = 0
    while done < 20:                              # an advance stops after a second with frames
        done += ask(ctl, io, op="advance", s=20 - done)["done"]
    show("advanced", [done, clock.now() - T0])
    show("drlc_opt", ask(ctl, io, op="drlc_opt", out=True, event=None))

    # a long request: a tariff document in CHUNK pieces, read 7 octets at a time
    with open("../../tariffs/tou-blocks.json") as f:
        data = json.dumps({"op": "tariff", "doc": json.load(f), "at": 0}).encode()
    n = len(data) // L.CHUNK + 1
    r = request(ctl, io, data, piece=7)[0][0]
    data = None
    print("long request", n, "pieces", "activated", sorted(r["activated"]), "pending",
          r["pending"])
    st, n = request(ctl, io, b'{"op": "state"}')[0]
    m = ctl.meter
    print("state in", n > 1, "chunks", st[0] > L.CHUNK, st[1], st[2], "ImportWh", m.import_wh,
          "presses", m.button_presses, "aux", m.aux.closed, "tariff", m.tariff.tariff_id)

    # malformed requests: answered, the meter serves on, nothing changed
    for bad in (b"{not json", b"[1, 2]", b'{"op": "format-flash"}', b'{"op": "advance", "s": -1}',
                b'{"op": "load", "w": 100, "aux_w": ["a"]}', b'{"op": "tariff", "doc": 5, "at": 0}',
                None):
        if bad is None:      # longer than a request may be: 18 pieces of 512 octets,
            piece = L.encode(L.T_CTRL_MORE, b"x" * L.CHUNK)
            for i in range(17):          # sent one by one
                io.rx.append(piece)
                while io.rx:
                    ctl.serve_once()
            bad = piece = b"x"
        show("bad", request(ctl, io, bad)[0][0])
    show("after bad", [ask(ctl, io, op="sync")["now"] - T0, m.import_wh])

    # a frame cut off after its header: the idle line expires it, the next
    # request is answered
    waits = io.waits
    io.rx.append(b"\x7e\xa5\x58\x02{}")
    ctl.serve_once()
    print("partial pending", ctl.deframer.pending())
    ctl.serve_once()                              # nothing comes for IDLE_MS
    print("expired", not ctl.deframer.pending(), ctl.deframer.timeouts, io.waits - waits)
    show("after partial", ask(ctl, io, op="sync"))


def board_(path):
    ctl, io, clock, met = board(path + "/b", False)
    for op in ("advance", "load", "cut_after_writes"):
        show("board " + op, ask(ctl, io, op=op, s=5, w=5, n=1))
    show("board sync", ask(ctl, io, op="sync"))
    met.load_w = 7200                             # the metrology driver measures 2 Wh a second
    clock.advance(30)                             # the RTC moves on its own
    ctl.serve_once()                              # nothing on the line: the meter ticks
    print("board ticked", clock.mono(), ctl._ticked, "ImportWh", ctl.meter.import_wh)
    # a minute later, the line idle: one pass of the loop ticks the meter 60
    # times and allocates nothing (the time request went out at boot)
    clock.advance(60)
    res = heap_locked(ctl.serve_once)
    print("board idle", clock.mono(), ctl._ticked, "ImportWh", ctl.meter.import_wh)
    print("heap_lock", res)
    show("board ui", ask(ctl, io, op="ui", code=0xFFFF))
