"""Issue #16 defect 2: a tariff load must never kill the meter for lack of
heap. Loads the heap cannot hold are refused with nothing changed (RAM and
flash), the meter keeps metering, and normal use (top-ups, then the example
tariffs again and again) loads every tariff on the board-sized MicroPython
heap, identically to CPython."""
import glob
import json
import os

import pytest

from runtimes import ROOT, run_script
from firmware.tariff import engine as E
from firmware.tariff.engine import TariffEngine, IMMEDIATE
from firmware.tariff.account import RunningCost
from firmware.tariff.loader import parts_from_doc
from firmware.platform.store import Store, FileBackend
from tools.bench.runner import run_file, comparable
from mp.common import EngineApp as App     # the engine's meter services, every record saved at once
from mp.common import tariff_load, TariffNoRoom

TARIFFS = sorted(glob.glob(os.path.join(ROOT, "tariffs", "*.json")))


def doc(name):
    with open(os.path.join(ROOT, "tariffs", name + ".json")) as f:
        return json.load(f)


def newest(store, key):
    """The newest record on flash as stored (schema-typed records are not
    returned by the untyped Store.load)."""
    c = store._candidates(key)
    return bytes(c[0][4]) if c else None


def held(e):
    """What the engine has in force and pending, and its record on flash."""
    return ([(k, e.parts[k].active, e.parts[k].passive, e.parts[k].at, e.parts[k].since)
             for k in E.KINDS], e.tariff_id, list(e.prices), e.calendar.blob, e.sc_amount,
            e.block_period, list(e._th), newest(e.store, E.STORE_KEY))


class TornBackend(FileBackend):
    """Runs out of memory part way through the n-th file write."""

    def __init__(self, root):
        FileBackend.__init__(self, root)
        self.fail_at = None

    def write_parts(self, name, parts):
        if self.fail_at is not None:
            self.fail_at -= 1
            if self.fail_at == 0:
                with open(self._path(name), "wb") as f:
                    f.write(bytes(parts[0])[:5])      # header half written
                raise MemoryError("injected")
        FileBackend.write_parts(self, name, parts)


# decoding happens only for parts that take effect now; the write for every load
@pytest.mark.parametrize("where,at", [("derive", "immediate"), ("save", "immediate"),
                                      ("save", "future"), ("save", "never"),
                                      ("loader", "immediate")])
def test_stage_all_or_nothing_on_memory_error(tmp_path, monkeypatch, where, at):
    be = TornBackend(str(tmp_path / "s"))
    app = App()
    e = TariffEngine(app, Store(be), RunningCost())
    app.store = e.store
    e.stage(parts_from_doc(doc("economy7")), IMMEDIATE, 100)
    e.stage(parts_from_doc(doc("flat")), 10 ** 6, 100)          # a pending part too
    before = held(e)
    logged = list(app.logged)
    when = {"immediate": IMMEDIATE, "future": 5000, "never": E.NEVER}[at]
    new = parts_from_doc(doc("tou-blocks"))
    if where == "derive":
        def no_room(*a):
            raise MemoryError("injected")
        monkeypatch.setattr(E, "_derive", no_room)
    elif where == "save":
        be.fail_at = 1
    else:
        def no_room(d):
            raise MemoryError("injected")
        monkeypatch.setattr("firmware.tariff.loader.parts_from_doc", no_room)
    with pytest.raises(MemoryError):
        if where == "loader":
            from firmware.tariff import loader
            e.stage(loader.parts_from_doc(doc("tou-blocks")), when, 200)
        else:
            e.stage(new, when, 200)
    assert held(e) == before
    assert app.logged == logged
    monkeypatch.undo()
    # the store is consistent: a fresh engine reads the old record back
    app2 = App()
    e2 = TariffEngine(app2, Store(FileBackend(str(tmp_path / "s"))), RunningCost())
    app2.store = e2.store
    e2.load()
    assert held(e2)[:7] == before[:7]
    # and the next load goes through
    assert e.stage(new, IMMEDIATE, 300) == ["cal", "spd", "prc", "thr", "stc"]
    assert e.tariff_id == doc("tou-blocks")["tariff_id"]


def test_meter_refuses_a_load_it_cannot_hold(bench, monkeypatch):
    m = bench.meter
    tariff_load(m, doc("economy7"))
    bench.tick(10)
    before = held(m.tariff)

    def no_room(d):
        raise MemoryError("injected")
    monkeypatch.setattr("firmware.tariff.loader.parts_from_doc", no_room)
    with pytest.raises(TariffNoRoom) as ei:
        tariff_load(m, doc("three-rate"))
    assert isinstance(ei.value, ValueError) and ei.value.args == ("out of memory",)
    assert m.tariff_refused == 1
    assert held(m.tariff) == before
    bench.tick(10)                                   # and it carries on metering
    monkeypatch.undo()
    tariff_load(m, doc("three-rate"))
    assert m.tariff.tariff_id == doc("three-rate")["tariff_id"]


def test_refused_load_on_a_full_micropython_heap(tmp_path):
    """host_tests/mp/heap_tariff.py: on MicroPython the heap is really
    filled; both runtimes print the same (CPython meets an injected
    MemoryError)."""
    out = {}
    for rt in ("cpython", "micropython"):
        (tmp_path / rt).mkdir()
        out[rt] = "".join(run_script(rt, "heap_tariff.py", str(tmp_path / rt),
                                     os.path.join(ROOT, "tariffs"), phase,
                                     preload="firmware.meter") for phase in ("1", "2"))
    lines = [l.split(" ", 1) for l in out["cpython"].splitlines()]
    d = dict(lines)
    assert d["full"] == "refused: out of memory"
    # refused: the flat tariff and its record unchanged, metering went on
    before, refused = d["before"].split(), d["refused"].split()
    # (id, name, prices, selector, standing charge ... registers, Wh, costs,
    # record length and sum, loads refused)
    assert before[:9] == refused[:9] and before[-3:-1] == refused[-3:-1]
    assert int(refused[-6]) == 2 * int(before[-6]) == 200 and refused[-1] == "1"
    assert d["again"] == "['cal', 'spd', 'prc', 'stc']"
    assert d["loaded"].startswith("303 b'3-rate'") and d["reboot"][:-2] == d["loaded"][:-2]
    assert out["micropython"] == out["cpython"]


def loop_scenario(rounds):
    """Top-ups, then every example tariff, round after round, at 3600 W."""
    steps = [{"at": 0, "load": 3600}]
    t = 5
    for r in range(rounds):
        steps.append({"at": t, "topup": {"pence": 500 + r, "counter": 1000 + r}})
        t += 7
        for path in TARIFFS:
            steps.append({"at": t, "tariff": {"file": path, "activate": "immediate"}})
            t += 7
    steps.append({"at": t + 10, "read": {"cluster": "Metering",
                                         "attributes": ["CurrentSummationDelivered"]},
                  "expect": {"alive": True, "state": {"meter.ImportWh": t + 10}}})
    return {"name": "heap-tariff-loop", "start": "2026-01-05T00:00:00Z",
            "config": {"topup_keys": "test"}, "steps": steps}


def test_tariffs_after_topups_again_and_again(tmp_path):
    """Normal use on the board-sized heap: a top-up, then the five example
    tariffs, eight times over. Every top-up is credited, every tariff loads
    (none refused), the meter never restarts and its registers hold every Wh
    once, on MicroPython exactly as on CPython."""
    rounds = 8
    path = tmp_path / "loop.json"
    path.write_text(json.dumps(loop_scenario(rounds)))
    res = {}
    for rt in ("cpython", "micropython"):
        r = run_file(str(path), rt, str(tmp_path / rt))
        assert r["failures"] == [], (rt, r["failures"], r["events"])
        assert [ev["event"] for ev in r["events"]] == ["power_on"], (rt, r["events"])
        results = [s["result"] for s in r["steps"]]
        loads = [x for s, x in zip(r["steps"], results) if "tariff" in s["action"]]
        assert len(loads) == rounds * len(TARIFFS)
        assert all("activated" in x and x["activated"] for x in loads), (rt, loads)
        topups = [x for s, x in zip(r["steps"], results) if "topup" in s["action"]]
        assert [x["last_topup"][:2] for x in topups] == \
            [[0, (500 + i) * 1000] for i in range(rounds)], (rt, topups)
        st = r["state"]["meter"]
        assert sum(st["Tariff"]["Registers"].values()) == st["ImportWh"] == \
            r["steps"][-1]["t"] - r["steps"][0]["t"]
        assert st["Prepay"]["LedgerOK"] is True
        assert st["Prepay"]["Credited"] == sum((500 + i) * 1000 for i in range(rounds))
        res[rt] = r
    assert comparable(res["cpython"]) == comparable(res["micropython"])


def test_activation_waits_for_heap_instead_of_killing_the_tick(tmp_path, monkeypatch):
    """A future-dated tariff falls due while the heap cannot hold its
    views: the tick goes on under the old tariff and the activation takes
    effect the first second it can (here the fourth)."""
    app = App()
    e = TariffEngine(app, Store(FileBackend(str(tmp_path / "s"))), RunningCost())
    app.store = e.store
    e.stage(parts_from_doc(doc("flat")), IMMEDIATE, 0)
    at = 3600                                 # 01:00: economy 7's day rate (TOU 2)
    e.stage(parts_from_doc(doc("economy7")), at, 10)
    real = E._derive
    fails = [3]

    def scarce(*a):
        if fails[0]:
            fails[0] -= 1
            raise MemoryError("injected")
        return real(*a)
    monkeypatch.setattr(E, "_derive", scarce)
    for now in range(11, at + 11):            # seconds [10, at + 10): 1 Wh each
        e.tick(now, 1)
        if now <= at + 3:                    # seconds at, at + 1, at + 2 fail
            assert e.tariff_id == doc("flat")["tariff_id"], now
    assert fails == [0]
    assert e.tariff_id == doc("economy7")["tariff_id"] and e.pending() == []
    assert e.parts["prc"].since == at + 3
    # every Wh counted once: flat (TOU 1) for the seconds 10 .. at + 2, then
    # economy 7's day rate (TOU 2) for at + 3 .. at + 9
    assert e.reg[0] == at + 3 - 10 and e.reg[1] == 7 and sum(e.reg) == at
    assert app.logged[-1] == (E.EV_TARIFF_ACTIVATED, 0b10111)


def test_control_request_refused_and_meter_serves_on(tmp_path, monkeypatch):
    """The bench/control route (vboard op_tariff): a load without heap is
    answered with a clear refusal, and the meter answers the next requests
    and keeps metering under the old tariff."""
    from firmware import vboard as V
    from firmware.vboard import VirtualBoard

    class Sock:
        def send(self, b):
            return len(b)
    b = VirtualBoard(Sock(), str(tmp_path / "s"), 820886400, None)
    b.meter.boot()
    assert "activated" in b.op_tariff({"doc": doc("economy7"), "at": 0})
    V.op_load(b, {"w": 3600})

    def no_room(d):
        raise MemoryError("injected")
    monkeypatch.setattr("firmware.tariff.loader.parts_from_doc", no_room)
    rsp = b.op_tariff({"doc": doc("three-rate"), "at": 0})
    assert rsp == {"error": "tariff refused: out of memory", "refused": 1}
    done = 0
    while done < 10:                  # an advance stops after a second the meter sent in
        done += V.op_advance(b, {"s": 10 - done})["done"]
    assert b.meter.tariff.tariff_id == doc("economy7")["tariff_id"]
    assert b.meter.import_wh == 10 and sum(b.meter.tariff.reg) == 10
    monkeypatch.undo()
    assert b.op_tariff({"doc": doc("three-rate"), "at": 0})["activated"]
    assert b.meter.tariff.tariff_id == doc("three-rate")["tariff_id"]


def test_virtual_board_heap_after_boot(tmp_path):
    """The virtual board (MicroPython unix port, 164 KB board heap) keeps
    working room after boot: the cluster tables are packed text, not heap
    tuples (zcl/cluster.py Attrs, Cmds). Before that it had about 29 KB
    free after boot, and a top-up then a three-rate tariff left too little
    contiguous heap for the next loads."""
    from tools import utrn as UT
    from tools.bench.runner import meter_config
    from tools.hubsim import Hub
    from tools.meterlink import MeterLink
    link = MeterLink("micropython", str(tmp_path / "store"), 820886400,
                     meter_config({"topup_keys": "test"}))
    link.start()
    try:
        boot = link.ctrl("mem")
        link.ctrl("ui", code=5, arg=UT.make_utrn(1000, pounds=20))
        loads = [link.ctrl("tariff", **Hub(0x4E21).tariff_request(doc("three-rate"), "immediate"))
                 for _ in range(3)]
        after = link.ctrl("mem")
    finally:
        link.kill()
    assert boot["free"] >= 40 * 1024, boot
    assert all(r.get("activated") for r in loads), loads
    assert after["free"] >= 32 * 1024, after
    # Issue #18: what a top-up and a tariff load keep (Z, the store's
    # sequence entries) is placed after a collection (prepay/account.py,
    # Meter._commit), not amid the ECDH's and the load's garbage: the free
    # heap stays in one large block (measured 47,360 B; 32,512 B when they
    # landed in the middle of it, 42,944 B before the heap32 changes)
    assert after["largest"] >= 40 * 1024, after


def test_link_crc_allocates_nothing():
    """Issue #18: the HAN link checks and computes the CRC of an 83-octet
    frame in place under heap_lock (host_tests/mp/heap_link.py); receiving a
    frame allocates only the payload view handed to on_frame, and encoding
    into a reused buffer only the view encode_into returns (a CRC over a
    slice of the frame used to cost a view more on each side)."""
    out = run_script("micropython", "heap_link.py")
    lines = [l.split() for l in out.splitlines()]
    assert lines[0] == "heap_lock crc 83-octet frame ok same True".split(), out
    d, e = lines[1], lines[2]
    assert d[:5] == ["deframe", "frames", "50", "len", "76"], out
    view = int(d[-1])
    assert int(d[8]) < 2 * view, out          # one view per frame, nothing per octet
    assert e[-2:] == ["same", "True"] and int(e[4]) <= 2 * view, out
    assert run_script("cpython", "heap_link.py").strip() == "SKIP"


# Issue #18's budgets, guarded on the unix port (64-bit, the imports' code
# objects in the same 164 KB heap: host_tests/mp/heap_budget.py). Measured
# when the guard was set (before the heap was packed and the tables
# trimmed in brackets): the meter's own heap after boot 19,456 B (21,088),
# the largest free block after boot 60,064 B (8,672) and after a
# full-capacity tariff load and a simulated day 32,672 B (2,976). On a
# 32-bit board (qemu Cortex-M3, the firmware frozen, every module imported)
# the meter's objects take about 0.58 of the 64-bit figure (11.2 KB; 48,512
# B in use after boot, budget 48 KB) and the largest free block after the
# same load and day is 90.6 KB (budget 24 KB): the unix port's is smaller
# because its heap also holds the code, so these limits are tighter than
# the board's.
# Then the GBCS Tunneling server (issue #17) and the OTA Upgrade client
# (issue #21) joined the endpoint: 21,152 B here, and on the same 32-bit
# build 49,664 B in use after boot (the Tunneling and OtaClient modules
# 1,760 B, their instances 928 B), 512 B over the 48 KB budget, which issue
# #18 kept open.
# Then the clusters shed heap (values holding written attributes only, a
# cluster its own attribute table, 4-octet index rows, constant-start state
# as class attributes): 17,984 B here, and on the 32-bit build 48,096 B in
# use after boot (52,336 B with the GBCS layer and the OTA client module
# imported too), 1,056 B inside the 48 KB budget; the largest free block
# after boot 65,024 B here, after the tariff and the day 38,016 B here
# and 89,008 B there. 32-bit savings were about half the unix port's, so
# the boot limit below (5 % over the measured figure, about 450 B of the
# board's 1,056 B headroom) guards the budget itself again.
# Then heap32 (everything a board freezes imported, gbcs/ and ota/ too):
# the imports shed globals, wrappers and classes (no metadata __version__,
# the tables' text itself as ATTRS/RX/TX, no const binding, host-only names
# and the simulator's classes out of the frozen set), which the unix port's
# meter-objects figure does not see (17,792 B here); on the 32-bit build
# see firmware/README.md. A collection before a record save keeps what an
# operation leaves in the lowest holes: the largest block after the tariff
# and the day 51,552 B here (38,016 B before). Limits: 5 % over the boot
# figure, the largest blocks at the old limits' share of the measured.
BUDGET_BOOT_ALLOC = 18688            # measured 17,792 B
BUDGET_BOOT_LARGEST = 52 * 1024      # measured 69,984 B
BUDGET_DAY_LARGEST = 32 * 1024       # measured 51,552 B


def test_heap_budgets_on_the_unix_port(tmp_path):
    out = run_script("micropython", "heap_budget.py", str(tmp_path), preload="firmware.meter")
    d = dict(line.split(" ", 1) for line in out.splitlines())
    assert d["staged"] == "['cal', 'spd', 'prc', 'thr', 'stc']", out
    assert d["wh"] == "36000 36000", out                  # the day was metered, every Wh once
    assert int(d["boot_alloc"]) <= BUDGET_BOOT_ALLOC, out
    assert int(d["boot_largest"]) >= BUDGET_BOOT_LARGEST, out
    assert int(d["day_largest"]) >= BUDGET_DAY_LARGEST, out
    assert run_script("cpython", "heap_budget.py", str(tmp_path)).strip() == "SKIP"
