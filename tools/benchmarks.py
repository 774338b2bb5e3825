"""make bench: performance figures, printed. Targets live here, never in
timed tests (DEVELOPERS.md)."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "host_tests"))

from runtimes import ROOT, run_script          # noqa: E402
from tools import mpy_build                    # noqa: E402
from tools.bench.runner import run_file        # noqa: E402

RUNTIMES = ("cpython", "micropython")


def core():
    print("== ZCL engine and meter core (host_tests/mp/bench_core.py)")
    print("%-12s %14s %10s %13s %16s %14s" % ("runtime", "frames/s", "tick us", "heap boot B",
                                              "meter objects B", "alloc/tick B"))
    for rt in RUNTIMES:
        with tempfile.TemporaryDirectory() as d:
            r = json.loads(run_script(rt, "bench_core.py", d, preload="firmware.meter")
                           .strip().splitlines()[-1])
        print("%-12s %14s %10s %13s %16s %14s" % (
            rt, r["frames_per_s"], r["tick_us"], r["heap_after_boot"], r["meter_objects"],
            r["alloc_per_tick"]))
    print("  frames/s: Read Attributes / Identify frames decoded, dispatched and answered.")
    print("  heap boot: gc.mem_alloc() after boot on the unix port, less the ROMFS image that")
    print("  stands in for flash; it still holds the imported code's names, function and class")
    print("  objects (64-bit), much of which frozen firmware keeps in flash instead;")
    print("  meter objects: the part the meter itself allocates (budget 64 KB).")


def scenario_speed():
    print("== Tariff engine (host_tests/mp/bench_tariff.py: TOU with blocks, 2 Wh/s)")
    print("%-12s %10s %14s %18s %16s" % ("runtime", "tick us", "B/tick", "full tariff heap B",
                                         "full record B"))
    for rt in RUNTIMES:
        r = {}
        for arg in ("ticks", "full"):
            with tempfile.TemporaryDirectory() as d:
                r.update(json.loads(run_script(rt, "bench_tariff.py", d, arg,
                                               preload="firmware.meter")
                                    .strip().splitlines()[-1]))
        print("%-12s %10s %14s %18s %16s" % (rt, r["tick_us"], r["alloc_per_tick"],
                                             r["full_tariff_heap"], r["stored_record"]))
    print("  full tariff: 48 TOU + 32 block prices, 4 seasons, 4 weeks, 16 day profiles x 48")
    print("  switch points, 50 special days, 8 x 3 thresholds, 48 labels (heap after loading")
    print("  it, less before; MicroPython only).")
    print()
    print("== Scenario runner (scenarios/demo-day.json: one simulated day)")
    for rt in RUNTIMES:
        with tempfile.TemporaryDirectory() as d:
            res = run_file(os.path.join(ROOT, "scenarios", "demo-day.json"), rt, d)
        t = res["timing"]
        print("%-12s %8d simulated s in %6.2f s wall = %8.0f simulated s per wall s" % (
            rt, t["sim_s"], t["wall_s"], t["sim_s_per_wall_s"]))


def prepay():
    from tools import utrn as UT
    print("== Prepayment top-up (host_tests/mp/bench_prepay.py: keyed-in UTRNs)")
    inp = {"config": UT.meter_config(),
           "codes": [UT.make_utrn(100 + i, pence=100 + i) for i in range(21)]}
    print("%-12s %7s %10s %12s %10s %14s %14s" % ("runtime", "native", "first ms", "validate ms",
                                                "meter ms", "state heap B", "stored B"))
    for rt in RUNTIMES:
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "in.json"), "w") as f:
                json.dump(inp, f)
            os.mkdir(os.path.join(d, "s"))
            r = json.loads(run_script(rt, "bench_prepay.py", os.path.join(d, "s"),
                                      os.path.join(d, "in.json"),
                                      preload="firmware.meter").strip().splitlines()[-1])
        print("%-12s %7s %10s %12s %10s %14s %14s" % (
            rt, r["native"], r["first_ms"], r["validate_ms"], r["meter_ms"], r["state_heap"],
            "%d / %d" % (r["stored_now"], r["stored_full"])))
    print("  first: the first top-up after boot, which also computes the static ECDH secret")
    print("  (device KA key x supplier top-up key) once; validate: parse, check digit, limits,")
    print("  counter reconstruction, cache, KDF + GMAC, credit; meter: the whole keyed-in path")
    print("  with the one atomic record save (credit + cache + registers), logs and alerts.")
    print("  state heap: an account with a full 100-entry UTRN cache and a full friendly")
    print("  calendar (MicroPython); stored: the account's part of the register record now /")
    print("  with a full cache.")


def mpy_sizes():
    print("== Frozen bytecode (mpy-cross %s)" % " / ".join(mpy_build.ARCHS))
    with tempfile.TemporaryDirectory() as d:
        for arch in mpy_build.ARCHS:
            sizes = mpy_build.build(arch, os.path.join(d, arch))
            frozen = sum(n for r, n in sizes.items() if r not in mpy_build.HOST_ONLY)
            print("%-10s %3d modules, %6d bytes frozen set (%.1f%% of %d KB)" % (
                arch, len(sizes), frozen, 100.0 * frozen / mpy_build.FLASH_BUDGET,
                mpy_build.FLASH_BUDGET // 1024))


def logs():
    print("== Profile data and logs")
    for rt in RUNTIMES:
        with tempfile.TemporaryDirectory() as d:
            r = json.loads(run_script(rt, "bench_logs.py", d).strip().splitlines()[-1])
        print("%-12s append per half-hour entry %6d us   logging-layer RAM %s bytes" % (
            rt, r["append_us"], r["ram_bytes"] if r["ram_bytes"] is not None else "n/a"))
    import test_store                    # the wear accounting used by the tests
    with tempfile.TemporaryDirectory() as d:
        import pathlib
        cb = test_store.flash_day(pathlib.Path(d))
    print("flash bytes written per day (500 W steady load): %d  (%s)" % (
        sum(cb.bytes.values()), ", ".join("%s %d" % kv for kv in sorted(cb.bytes.items()))))
    print("(every record is small; littlefs writes them copy-on-write in whole blocks)")


def heap():
    """Free heap and its largest free block on the virtual board (the
    MicroPython unix port, board heap) after boot, after a keyed-in top-up
    and after a three-rate tariff load (issue #16: a top-up followed by a
    tariff load used to exhaust the largest block)."""
    from tools import utrn as UT
    from tools.bench.runner import meter_config
    from tools.hubsim import Hub
    from tools.meterlink import MeterLink, MeterDied
    print("== Heap of the virtual board (MicroPython unix port, 164 KB board heap)")
    print("%-34s %10s %16s" % ("after", "free B", "largest block B"))
    with open(os.path.join(ROOT, "tariffs", "three-rate.json")) as f:
        three = json.load(f)
    with tempfile.TemporaryDirectory() as d:
        link = MeterLink("micropython", os.path.join(d, "store"), 820886400,
                         meter_config({"topup_keys": "test"}))
        link.start()
        rows = []
        try:
            rows.append(("boot", link.ctrl("mem")))
            link.ctrl("ui", code=5, arg=UT.make_utrn(1000, pounds=20))
            rows.append(("top-up", link.ctrl("mem")))
            for i in range(3):
                name = "top-up + three-rate tariff load%s" % (" x%d" % (i + 1) if i else "")
                rsp = link.ctrl("tariff", **Hub(0x4E21).tariff_request(three, "immediate"))
                rows.append((name, dict(link.ctrl("mem"), ok="activated" in rsp)))
        except MeterDied as e:
            rows.append((name, {"free": "-", "largest": "-", "died": str(e).splitlines()[-1]}))
        finally:
            link.kill()
    for name, r in rows:
        note = "" if r.get("ok", True) else "  (load refused)"
        print("%-34s %10s %16s%s" % (name, r["free"], r["largest"],
                                      "  meter died: " + r["died"] if "died" in r else note))
    print("  free: gc.mem_free() after a collection (the ROMFS image and the qstr pool are")
    print("  extra, as flash on a board); largest: the biggest bytearray that can be had.")


SECTIONS = {"core": core, "scenario": scenario_speed, "prepay": prepay, "mpy": mpy_sizes,
            "logs": logs, "heap": heap}


def main(argv):
    for name in (argv or list(SECTIONS)):
        SECTIONS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
