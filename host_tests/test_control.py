"""The frozen control path (firmware/control.py), its mirror on the host
(tools/bench/runner.py ACTIONS, tools/meterlink.py, tools/benchmarks.py,
tools/fuzz.py), the one cluster registry (firmware/meter.py CLUSTERS)
and the frozen set of the board manifests."""
import glob
import inspect
import json
import os
import re

import pytest

from runtimes import ROOT, run_script
from firmware import control as C
from firmware import vboard  # noqa: F401  adds the bench-only ops to C.OPS
from firmware import meter as M
from tools import mpy_build
from tools import zcl_host as Z
from tools.bench import runner as R
from tools.meterlink import MeterLink

# -- the control loop over an in-memory transport, both runtimes ------------------------------


def test_control_loop_same_on_both_runtimes(tmp_path):
    out = {}
    for rt in ("cpython", "micropython"):
        (tmp_path / rt).mkdir()
        out[rt] = "".join(run_script(rt, "control_loop.py", str(tmp_path / rt), phase,
                                     preload="firmware.control")
                          for phase in ("virtual", "board"))
    # the idle board loop under heap_lock (MicroPython only; CPython has none)
    assert "heap_lock n/a\n" in out["cpython"] and "heap_lock ok\n" in out["micropython"]
    cpy = out["cpython"].replace("heap_lock n/a\n", "")
    assert out["micropython"].replace("heap_lock ok\n", "") == cpy
    lines = cpy.splitlines()
    get = {l.split()[0]: l for l in lines}
    # op dispatch: every op answered as itself
    assert "ok', True" in get["load"] and "ok', True" in get["button"]
    assert get["advanced"] == "advanced [20, 20]"
    # a long request in pieces (odd-sized reads) loads the tariff it carries
    with open(os.path.join(ROOT, "tariffs", "tou-blocks.json")) as f:
        doc = json.load(f)
    n = len(json.dumps({"op": "tariff", "doc": doc, "at": 0}, separators=(",", ":")))
    assert n > 512
    words = get["long"].split()
    assert int(words[2]) >= 2 and "'prc'" in get["long"] and get["long"].endswith("pending []")
    # the state response came in several chunks, whole; the meter metered
    # (3600 W + 1000 W behind an aux switch for 20 s) and took the press
    st = get["state"].split()
    assert st[2:4] == ["True", "chunks"] and st[4] == "True"
    assert st[st.index("ImportWh") + 1] == str((3600 + 1000) * 20 // 3600)
    assert st[st.index("presses") + 1] == "1"
    assert st[st.index("tariff") + 1] == str(doc["tariff_id"])
    # malformed requests answered with an error, nothing changed
    bads = [l for l in lines if l.startswith("bad ")]
    assert len(bads) == 7 and all("'error', 'bad control request" in l for l in bads)
    assert "too long" in bads[-1]
    assert "after bad [20, %s]" % st[st.index("ImportWh") + 1] in lines
    # a header without its frame is dropped once the line was idle IDLE_MS
    assert get["partial"] == "partial pending True" and get["expired"] == "expired True 1 1"
    # a board without simulated hardware: those ops are refused by name
    for op in C.SIM_OPS:
        assert "board %s [('error', 'not on this board: %s')]" % (op, op) in lines
    assert "'now', 820886400" in [l for l in lines if l.startswith("board sync")][0]
    # ... and ticks once per second of its own clock: 30 s at 7200 W
    tick = [l for l in lines if l.startswith("board ticked")][0].split()
    assert tick[2:4] == ["30", "30"] and tick[5] == str(7200 * 30 // 3600)
    idle = [l for l in lines if l.startswith("board idle")][0].split()
    assert idle[2:4] == ["90", "90"] and idle[5] == str(7200 * 90 // 3600)


# -- the host's control requests and the firmware's ops ---------------------------------------

_OP = re.compile(r"""(?:ctrl|request)\(\s*["'](\w+)["']""")


def _host_ops():
    """Control ops the host tools send, by name, from their source."""
    ops = set()
    for path in glob.glob(os.path.join(ROOT, "tools", "**", "*.py"), recursive=True):
        with open(path) as f:
            ops |= set(_OP.findall(f.read()))
    from tools import fuzz
    return ops | set(fuzz.CTRL_KEYS)


def test_every_op_the_host_sends_is_a_firmware_op_and_back():
    host = _host_ops()
    assert host - set(C.OPS) == set()
    # every firmware op is used by a host tool (no dead op on the boards' flash)
    assert set(C.OPS) - host == set()
    assert set(C.SIM_OPS) <= set(C.OPS)


_SELF_CALL = re.compile(r"self\.(\w+)\(")
_LINK_CALL = re.compile(r"self\.link\.(\w+)\(")


def _ops_of(fn, seen):
    """Control ops a runner method sends, following the runner's own
    methods and the meter link's that it calls."""
    src = inspect.getsource(fn)
    ops = set(_OP.findall(src))
    for pat, cls in ((_SELF_CALL, R.Runner), (_LINK_CALL, MeterLink)):
        for name in pat.findall(src):
            f = getattr(cls, name, None)
            if inspect.isfunction(f) and (cls, name) not in seen:
                seen.add((cls, name))
                ops |= _ops_of(f, seen)
    return ops


# What each bench step needs of the meter's control protocol ("sync": the
# hub answers what the meter sent; "hello": a power-on; the ZCL actions go
# as APS frames, not control ops). An action that moves time, load or the
# supply needs a simulated-hardware op (control.SIM_OPS): with --port a
# board answers those "not on this board".
ACTION_OPS = {
    "load": {"load"},
    "zcl": {"sync"},
    "raw": {"sync"},
    "read": {"sync"},
    "button": {"button", "sync"},
    "power": {"sync", "cut_after_writes", "hello", "load"},
    "advance": {"advance", "sync"},
    "hub": {"sync"},
    "drlc_event": {"sync"},
    "drlc_cancel": {"sync"},
    "drlc_cancel_all": {"sync"},
    "drlc_opt": {"drlc_opt", "sync"},
    "set_clock": {"set_clock", "sync"},
    "tariff": {"tariff", "sync"},
    "prepay": {"prepay", "sync"},
    "ui": {"ui", "sync"},
    "topup": {"ui", "sync"},
    "tunnel": {"sync"},
    "gbcs": {"sync"},
    "ota": {"sync"},
}


def test_bench_actions_mirror_the_control_ops():
    assert set(ACTION_OPS) == set(R.ACTIONS)
    for name, fn in R.ACTIONS.items():
        assert _ops_of(fn, set()) == ACTION_OPS[name], name
    # the runner around the steps: power-on, time, the final state
    around = _ops_of(R.Runner.run, set())
    assert {"hello", "advance", "sync", "state"} <= around
    used = around.union(*ACTION_OPS.values())
    assert used <= set(C.OPS)
    # the rest are for benches and tests (tools/benchmarks.py, tools/fuzz.py)
    assert set(C.OPS) - used == {"mem"}


def test_a_board_refuses_the_simulated_hardware_ops_on_cpython():
    """The same refusal without the unix port: a Control with no sim."""
    from firmware import hanlink as L

    class IO:
        def __init__(self, data):
            self.data, self.out = data, bytearray()

        def read(self):
            d, self.data = self.data, b""
            return d

        def write(self, b):
            self.out += b

        def wait(self, ms):
            return True               # input waiting, or the link closed

    class Clock:
        def now(self):
            return 820886400

        def mono(self):
            return 0

    for op in C.SIM_OPS:
        io = IO(L.encode(L.T_CTRL, json.dumps({"op": op, "s": 1, "w": 1, "n": 1}).encode()))
        ctl = C.Control(io, Clock())
        ctl.meter = object()          # never reached: refused before the op runs
        assert ctl.serve_once()
        got = []
        L.Deframer(lambda t, p: got.append((t, bytes(p)))).feed(bytes(io.out))
        assert got == [(L.T_CTRL_RSP, b'{"error": "not on this board: %s"}' % op.encode())]
        assert not ctl.serve_once()   # the link closed: the loop ends


def test_a_board_without_the_host_code_refuses_the_bench_ops(monkeypatch):
    """The bench-only ops (control.BENCH_OPS) are host code (firmware/vboard.py
    adds them to OPS): the frozen control module carries none of them, and a
    board's loop answers each "not on this board" (simulated hardware or
    not), while an op nobody knows is still a bad request."""
    from firmware import hanlink as L
    board_ops = {k: v for k, v in C.OPS.items() if k not in C.BENCH_OPS}
    assert set(C.OPS) - set(board_ops) == set(C.BENCH_OPS)       # vboard adds exactly those
    assert not any(hasattr(C.Control, "op_" + op) for op in C.BENCH_OPS)
    monkeypatch.setattr(C, "OPS", board_ops)

    class IO:
        def __init__(self, data):
            self.data, self.out = data, bytearray()

        def read(self):
            d, self.data = self.data, b""
            return d

        def write(self, b):
            self.out += b

        def wait(self, ms):
            return True

    class Clock:
        def now(self):
            return 820886400

        def mono(self):
            return 0

    for op in C.BENCH_OPS + ("no-such-op",):
        for sim in (None, object()):
            io = IO(L.encode(L.T_CTRL, json.dumps({"op": op, "s": 1, "w": 1, "n": 1}).encode()))
            ctl = C.Control(io, Clock(), sim)
            ctl.meter = object()      # never reached: refused before any op runs
            assert ctl.serve_once()
            got = []
            L.Deframer(lambda t, p: got.append((t, bytes(p)))).feed(bytes(io.out))
            want = b'{"error": "bad control request"}' if op == "no-such-op" else \
                b'{"error": "not on this board: %s"}' % op.encode()
            assert got == [(L.T_CTRL_RSP, want)], (op, sim)


# -- one cluster registry -----------------------------------------------------------------------

def test_meter_registers_the_registry_in_its_order(tmp_path):
    from firmware.meter import Meter, Platform
    from firmware.platform.store import Store, FileBackend
    from firmware.platform.metrology import SimMetrology
    from firmware.platform.hw import Display
    from firmware.platform.metrology import SimClock, Relay, Button
    m = Meter(Platform(SimClock(820886400), Store(FileBackend(str(tmp_path))), SimMetrology(),
                       Relay(), Button(), Display(), lambda msg: None))
    got = [(type(cl), ep) for ep, t in m.zcl.endpoints.items() for cl in t.values()]
    assert got == [(cls, ep) for cls, ep, _ in Z.REGISTRY]
    assert got == [(M.CLUSTERS[i], M.CLUSTERS[i + 1]) for i in range(0, len(M.CLUSTERS), 3)]
    assert m.zcl.device_ids == {ep: dev for _, ep, dev in Z.REGISTRY if dev is not None}
    assert m.zcl.device_ids == {1: 0x0500}               # GBCS §7.4: the ESI endpoint
    for attr, cls in (("basic", "Basic"), ("identify", "Identify"), ("metering", "Metering"),
                      ("time", "TimeClient"), ("drlc", "DrlcClient"),
                      ("prepayment", "Prepayment"), ("price", "Price"),
                      ("calendar", "CalendarServer")):
        assert type(getattr(m, attr)).__name__ == cls
    with pytest.raises(ValueError):
        M._register(m.zcl, object())


def test_host_tables_come_from_the_registry():
    from firmware.clusters.time_client import TimeClient
    import tools.hubsim                                   # noqa: F401 (registers the Time server)
    assert len(Z.REGISTRY) == len(M.CLUSTERS) // 3 == 10     # with Tunneling (GBCS §10.2.2) and OTA
    want = {cls.ID for cls, _, _ in Z.REGISTRY}
    assert set(Z.CLUSTERS) == want
    for cls, _, _ in Z.REGISTRY:
        if cls is not TimeClient:                         # the hub's side decodes Time
            assert Z.CLUSTERS[cls.ID] is cls


# -- the frozen set -----------------------------------------------------------------------------

def test_board_manifest_freezes_all_but_the_host_only_modules():
    """boards/manifest.py run with stand-ins for MicroPython's manifest
    functions (tools/manifestfile.py: package() with a file list takes those
    files, relative to the package, under base_path)."""
    got = {}

    def package(path, files=None, base_path=".", opt=None):
        got["files"] = [os.path.normpath(os.path.join(base_path, path, f)) for f in files]
        got["opt"] = opt

    here = os.getcwd()
    os.chdir(os.path.join(ROOT, "boards"))       # manifestfile runs a manifest from its folder
    try:
        with open("manifest.py") as f:
            exec(f.read(), {"package": package, "metadata": lambda **kw: got.update(meta=kw)})
        frozen = sorted(os.path.relpath(os.path.abspath(p), ROOT).replace(os.sep, "/")
                        for p in got["files"])
    finally:
        os.chdir(here)
    want = sorted(mpy_build.frozen_set())
    assert frozen == want
    assert "firmware/vboard.py" not in frozen and "firmware/control.py" in frozen
    # a metadata version would append a __version__ global to every frozen
    # module (manifestfile.tagged_py_file): heap on the board (issue #18)
    assert "version" not in got["meta"]


def test_the_runner_reads_no_state_from_a_board(tmp_path):
    """Over --port a board answers the state op "not on this board"
    (control.BENCH_OPS): the runner keeps the state it last had (none)
    instead of failing on the error."""
    class Link:
        alive = True

        def ctrl(self, op, **kw):
            return {"error": "not on this board: " + op}

    r = R.Runner({"start_utc": 820886400}, "micropython", str(tmp_path))
    r.link = Link()
    assert r.state() is None and r.last_state is None
