"""make bench: performance figures, printed. Targets live here, never in
timed tests (DEVELOPERS.md)."""
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "host_tests"))

from runtimes import ROOT, run_script          # noqa: E402
from tools import mpy_build                    # noqa: E402
from tools.bench.runner import run_file        # noqa: E402

RUNTIMES = ("cpython", "micropython")


# -- figures ------------------------------------------------------------------------
# Every section adds figures with fig(key, label, unit, runtime, value); a
# section runs --repeat times (deterministic ones once) and the table shows
# the min and the median of the runs, "-" where a runtime has no figure.
FIGS = {}          # key -> {"label", "unit", "order", runtime: [values]}
NOTES = []         # (section, [lines]) printed under the table


# every figure's key and unit (fig() keeps the sections to it), so the
# README's figures can be checked against them without a bench run
UNITS = {
    "core.frames_per_s": "frames/s", "core.tick_us": "us", "core.heap_after_boot": "B",
    "core.meter_objects": "B", "core.alloc_per_tick": "B",
    "tariff.tick_us": "us", "tariff.alloc_per_tick": "B", "tariff.full_heap": "B",
    "tariff.full_record": "B",
    "scenario.sim_s_per_wall_s": "sim-s/s", "scenario.wall_s": "s",
    "prepay.native": "-", "prepay.first_ms": "ms", "prepay.validate_ms": "ms",
    "prepay.meter_ms": "ms", "prepay.state_heap": "B", "prepay.stored_now": "B",
    "prepay.stored_full": "B",
    "logs.append_us": "us", "logs.ram": "B", "logs.flash_per_day": "B",
    "ota.download_s": "s", "ota.verify_s": "s", "ota.flash_bytes": "B", "ota.ram": "B",
    "gbcs.ecs04b_ms": "ms", "gbcs.ecs04b_native_ms": "ms", "gbcs.gbt_heap": "B",
    "gbcs.gbt_flash": "B",
    "dlms.device_ms": "ms", "dlms.account_ms": "ms", "dlms.tariff_ms": "ms",
    "dlms.supply_ms": "ms", "dlms.read_ms": "ms", "dlms.protected_ms": "ms", "dlms.frozen": "B",
}
for _a in mpy_build.ARCHS:
    UNITS["mpy.%s.frozen" % _a] = "B"
    UNITS["mpy.%s.share" % _a] = "%"
for _k in ("boot", "topup", "tariff1", "tariff2", "tariff3"):
    UNITS["heap.%s.free" % _k] = "B"
    UNITS["heap.%s.largest" % _k] = "B"
for _k in ("boot_alloc", "boot_largest", "day_alloc", "day_largest"):
    UNITS["heap.budget.%s" % _k] = "B"

# The README's Benchmarks rows (by the start of their first cell) and the
# figures they come from; None: not a make bench figure (why).
README_ROWS = (
    ("ZCL frames decoded", ["core.frames_per_s"]),
    ("one-second tick", ["core.tick_us"]),
    ("bytes allocated per steady-state tick", ["core.alloc_per_tick"]),
    ("heap after boot excl. image", ["core.heap_after_boot", "core.meter_objects"]),
    ("virtual board free heap", ["heap.boot.free", "heap.boot.largest", "heap.topup.free",
                                 "heap.topup.largest", "heap.tariff1.free",
                                 "heap.tariff1.largest"]),
    ("tariff tick", ["tariff.tick_us"]),
    ("heap of a full-capacity tariff", ["tariff.full_heap", "tariff.full_record"]),
    ("simulated seconds per wall second", ["scenario.sim_s_per_wall_s"]),
    ("keyed-in top-up, first after boot", ["prepay.first_ms"]),
    ("keyed-in top-up: validate", ["prepay.validate_ms", "prepay.meter_ms"]),
    ("prepayment state", ["prepay.state_heap"]),
    ("account part of the register record", ["prepay.stored_now", "prepay.stored_full"]),
    ("frozen bytecode", ["mpy.%s.frozen" % a for a in mpy_build.ARCHS]),
    ("profile append", ["logs.append_us"]),
    ("RAM of the logging layer", ["logs.ram"]),
    ("flash bytes written per day", ["logs.flash_per_day"]),
    ("`make fuzz`", None),         # make fuzz's own report (out/fuzz/report.json)
    ("GBCS critical command", ["gbcs.ecs04b_ms", "gbcs.ecs04b_native_ms"]),
    ("GBT maximal series", ["gbcs.gbt_heap", "gbcs.gbt_flash"]),
    ("GBCS use case, command to protected response", ["dlms.device_ms", "dlms.account_ms",
                                                      "dlms.tariff_ms", "dlms.supply_ms",
                                                      "dlms.read_ms", "dlms.protected_ms"]),
    ("bytecode of the DLMS/COSEM", ["dlms.frozen"]),
)


def readme_rows(text):
    """(first cell, other cells) of the README's Benchmarks table."""
    sec = text.split("## Benchmarks", 1)[1]
    out = []
    for line in sec.splitlines()[1:]:
        if line.startswith("## ") or (out and not line.startswith("|")):
            break
        if line.startswith("|") and not line.startswith("|---") and \
                not line.startswith("| figure"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out.append((cells[0], cells[1:]))
    return out


def readme_check(bench_json, readme=None):
    """Each README Benchmarks row beside the figures of one bench run."""
    with open(readme or os.path.join(ROOT, "README.md")) as f:
        rows = readme_rows(f.read())
    with open(bench_json) as f:
        b = json.load(f)
    print(summary(b["machine"], b["repeats"]))
    for first, cells in rows:
        keys = next((k for p, k in README_ROWS if first.startswith(p)), "unmapped")
        print("README  %s: %s" % (first, " | ".join(cells)))
        if keys is None:
            print("  bench  (not a make bench figure)")
            continue
        if keys == "unmapped":
            print("  bench  NO FIGURE MAPPED (tools/benchmarks.README_ROWS)")
            continue
        for k in keys:
            f = b["figures"].get(k)
            cell = "-" if f is None else " | ".join(
                "%s %s" % (rt, "-" if not f[rt] else _cell(f[rt]["runs"])) for rt in RUNTIMES)
            print("  bench  %s (%s): %s" % (k, UNITS[k], cell))


def fig(key, label, unit, runtime, value):
    assert UNITS[key] == unit, (key, unit)
    f = FIGS.setdefault(key, {"label": label, "unit": unit, "order": len(FIGS)})
    if value is not None:
        f.setdefault(runtime, []).append(value)


def note(section, *lines):
    if not any(s == section for s, _ in NOTES):
        NOTES.append((section, list(lines)))


def _median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0


def _num(x):
    if x is None:
        return "-"
    if isinstance(x, float) and not x.is_integer():
        return "%.3g" % x if abs(x) < 100 else "{:,.0f}".format(x)
    return "{:,}".format(int(x))


def _cell(vals):
    if not vals:
        return "-"
    lo, med = min(vals), _median(vals)
    return _num(lo) if len(vals) == 1 or lo == med else "%s / %s" % (_num(lo), _num(med))


def machine():
    la = os.getloadavg() if hasattr(os, "getloadavg") else (None,) * 3
    return {"load_avg": [round(x, 2) for x in la] if la[0] is not None else None,
            "cpus": os.cpu_count()}


def summary(m, repeats):
    la = " / ".join("%.2f" % x for x in m["load_avg"]) if m.get("load_avg") else "-"
    if m.get("load_avg_end"):
        la += " at start, %s at end" % " / ".join("%.2f" % x for x in m["load_avg_end"])
    return ("machine: load average %s (1 / 5 / 15 min) on %d CPUs; %d repeat%s; cells: min / "
            "median of the runs (one value: all equal or one run), - none" % (
                la, m["cpus"] or 0, repeats, "" if repeats == 1 else "s"))


def table(repeats, m):
    rows = sorted(FIGS.items(), key=lambda kv: kv[1]["order"])
    w = max(len(f["label"]) for _, f in rows)
    head = "%-*s  %-8s %22s %22s" % (w, "figure", "unit", "CPython", "MicroPython")
    print(summary(m, repeats))
    print(head)
    print("-" * len(head))
    for key, f in rows:
        print("%-*s  %-8s %22s %22s" % (w, f["label"], f["unit"], _cell(f.get("cpython")),
                                        _cell(f.get("micropython"))))
    for section, lines in NOTES:
        print()
        print("%s:" % section)
        for line in lines:
            print("  " + line)


def as_json(repeats, m):
    out = {"machine": m, "repeats": repeats, "figures": {}}
    for key, f in FIGS.items():
        d = {"label": f["label"], "unit": f["unit"]}
        for rt in RUNTIMES:
            v = f.get(rt)
            d[rt] = {"min": min(v), "median": _median(v), "max": max(v), "runs": v} if v else None
        out["figures"][key] = d
    return out


# -- sections -------------------------------------------------------------------------
def core():
    """ZCL engine and meter core (host_tests/mp/bench_core.py)"""
    for rt in RUNTIMES:
        with tempfile.TemporaryDirectory() as d:
            r = json.loads(run_script(rt, "bench_core.py", d, preload="firmware.meter")
                           .strip().splitlines()[-1])
        fig("core.frames_per_s", "ZCL frames decoded + dispatched + answered", "frames/s", rt,
            r["frames_per_s"])
        fig("core.tick_us", "one-second tick", "us", rt, r["tick_us"])
        fig("core.heap_after_boot", "heap after boot (unix port, excl. image)", "B", rt,
            r["heap_after_boot"])
        fig("core.meter_objects", "heap of the meter objects only", "B", rt, r["meter_objects"])
        fig("core.alloc_per_tick", "bytes allocated per steady-state tick", "B", rt,
            r["alloc_per_tick"])
    note("core", "frames/s: Read Attributes / Identify frames decoded, dispatched and answered.",
         "heap after boot: gc.mem_alloc() after boot on the unix port, less the ROMFS image that",
         "stands in for flash; it still holds the imported code's names, function and class",
         "objects (64-bit), much of which frozen firmware keeps in flash instead;",
         "meter objects: the part the meter itself allocates (budget 64 KiB = 65,536 B).")


def tariff():
    """Tariff engine (host_tests/mp/bench_tariff.py: TOU with blocks, 2 Wh/s)"""
    for rt in RUNTIMES:
        r = {}
        for arg in ("ticks", "full"):
            with tempfile.TemporaryDirectory() as d:
                r.update(json.loads(run_script(rt, "bench_tariff.py", d, arg,
                                               preload="firmware.meter")
                                    .strip().splitlines()[-1]))
        fig("tariff.tick_us", "tariff tick, TOU with blocks at 2 Wh/s", "us", rt, r["tick_us"])
        fig("tariff.alloc_per_tick", "tariff: bytes allocated per tick", "B", rt,
            r["alloc_per_tick"])
        fig("tariff.full_heap", "heap of a full-capacity tariff", "B", rt, r["full_tariff_heap"])
        fig("tariff.full_record", "stored record of a full-capacity tariff", "B", rt,
            r["stored_record"])
    note("tariff", "full tariff: 48 TOU + 32 block prices, 4 seasons, 4 weeks, 16 day profiles",
         "x 48 switch points, 50 special days, 8 x 3 thresholds, 48 labels (heap after loading",
         "it, less before; MicroPython only).")


def scenario_speed():
    """Scenario runner (scenarios/demo-day.json: one simulated day)"""
    for rt in RUNTIMES:
        with tempfile.TemporaryDirectory() as d:
            res = run_file(os.path.join(ROOT, "scenarios", "demo-day.json"), rt, d)
        t = res["timing"]
        fig("scenario.sim_s_per_wall_s", "simulated seconds per wall second (demo day)",
            "sim-s/s", rt, t["sim_s_per_wall_s"])
        fig("scenario.wall_s", "demo day (86,400 simulated s), wall time", "s", rt, t["wall_s"])


def prepay():
    """Prepayment top-up (host_tests/mp/bench_prepay.py: keyed-in UTRNs)"""
    from tools import utrn as UT
    inp = {"config": UT.meter_config(),
           "codes": [UT.make_utrn(100 + i, pence=100 + i) for i in range(21)]}
    for rt in RUNTIMES:
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "in.json"), "w") as f:
                json.dump(inp, f)
            os.mkdir(os.path.join(d, "s"))
            r = json.loads(run_script(rt, "bench_prepay.py", os.path.join(d, "s"),
                                      os.path.join(d, "in.json"),
                                      preload="firmware.meter").strip().splitlines()[-1])
        fig("prepay.native", "top-up: native crypto module in use (1 yes, 0 no)", "-", rt,
            1 if r["native"] else 0)
        fig("prepay.first_ms", "keyed-in top-up, first after boot (incl. the one ECDH)", "ms",
            rt, r["first_ms"])
        fig("prepay.validate_ms", "keyed-in top-up: validate + credit", "ms", rt,
            r["validate_ms"])
        fig("prepay.meter_ms", "keyed-in top-up: whole meter path with the save", "ms", rt,
            r["meter_ms"])
        fig("prepay.state_heap", "prepayment state, full UTRN cache + friendly calendar", "B",
            rt, r["state_heap"])
        fig("prepay.stored_now", "account part of the register record: credit meter", "B", rt,
            r["stored_now"])
        fig("prepay.stored_full", "account part of the register record: full cache", "B", rt,
            r["stored_full"])
    note("prepay", "first: the first top-up after boot, which also computes the static ECDH secret",
         "(device KA key x supplier top-up key) once; validate: parse, check digit, limits,",
         "counter reconstruction, cache, KDF + GMAC, credit; meter: the whole keyed-in path",
         "with the one atomic record save (credit + cache + registers), logs and alerts.",
         "state heap: an account with a full 100-entry UTRN cache and a full friendly",
         "calendar (MicroPython).")


def mpy_sizes():
    """Frozen bytecode (mpy-cross), per board architecture"""
    with tempfile.TemporaryDirectory() as d:
        for arch in mpy_build.ARCHS:
            sizes = mpy_build.build(arch, os.path.join(d, arch))
            frozen = sum(n for r, n in sizes.items() if r in mpy_build.frozen_set())
            fig("mpy.%s.frozen" % arch, "frozen bytecode at -O3, %s (%d modules)" % (
                arch, len(sizes)), "B", "micropython", frozen)
            fig("mpy.%s.share" % arch, "frozen bytecode share of the %d KiB budget, %s" % (
                mpy_build.FLASH_BUDGET // 1024, arch), "%", "micropython",
                round(100.0 * frozen / mpy_build.FLASH_BUDGET, 1))
    note("mpy", "budget %d KiB = %s B (KiB = 1,024 B throughout)" % (
        mpy_build.FLASH_BUDGET // 1024, "{:,}".format(mpy_build.FLASH_BUDGET)))


def logs():
    """Profile data and logs"""
    for rt in RUNTIMES:
        with tempfile.TemporaryDirectory() as d:
            r = json.loads(run_script(rt, "bench_logs.py", d).strip().splitlines()[-1])
        fig("logs.append_us", "profile append per half-hour entry", "us", rt, r["append_us"])
        fig("logs.ram", "RAM of the logging layer", "B", rt, r["ram_bytes"])
    import test_store                    # the wear accounting used by the tests
    with tempfile.TemporaryDirectory() as d:
        import pathlib
        cb = test_store.flash_day(pathlib.Path(d))
    fig("logs.flash_per_day", "flash bytes written per day (500 W steady load)", "B",
        "cpython", sum(cb.bytes.values()))
    note("logs", "flash per day: %s" % ", ".join("%s %d B" % kv for kv in sorted(cb.bytes.items())),
         "(every record is small; littlefs writes them copy-on-write in whole blocks)")


def heap():
    """Heap of the virtual board (MicroPython unix port, board heap).

    Free heap and its largest free block after boot, after a keyed-in top-up
    and after a three-rate tariff load (issue #16: a top-up followed by a
    tariff load used to exhaust the largest block)."""
    from tools import utrn as UT
    from tools.bench.runner import meter_config
    from tools.hubsim import Hub
    from tools.meterlink import MeterLink, MeterDied
    with open(os.path.join(ROOT, "tariffs", "three-rate.json")) as f:
        three = json.load(f)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        link = MeterLink("micropython", os.path.join(d, "store"), 820886400,
                         meter_config({"topup_keys": "test"}))
        link.start()
        name = "boot"
        try:
            rows.append(("boot", "after boot", link.ctrl("mem")))
            link.ctrl("ui", code=5, arg=UT.make_utrn(1000, pounds=20))
            rows.append(("topup", "after a top-up", link.ctrl("mem")))
            for i in range(3):
                name = "tariff%d" % (i + 1)
                rsp = link.ctrl("tariff", **Hub(0x4E21).tariff_request(three, "immediate"))
                r = dict(link.ctrl("mem"))
                if "activated" not in rsp:
                    r = {"free": None, "largest": None}
                    note("heap", "three-rate tariff load %d refused" % (i + 1))
                rows.append((name, "after top-up + three-rate tariff load x%d" % (i + 1), r))
        except MeterDied as e:
            note("heap", "meter died at %s: %s" % (name, str(e).splitlines()[-1]))
        finally:
            link.kill()
    for key, label, r in rows:
        fig("heap.%s.free" % key, "virtual board free heap %s" % label, "B", "micropython",
            r["free"])
        fig("heap.%s.largest" % key, "virtual board largest free block %s" % label, "B",
            "micropython", r["largest"])
    # issue #18's budgets (host_tests/mp/heap_budget.py, guarded by test_heap.py)
    with tempfile.TemporaryDirectory() as d:
        r = dict(line.split(" ", 1) for line in
                 run_script("micropython", "heap_budget.py", d, preload="firmware.meter").splitlines())
    for key, label in (("boot_alloc", "meter's own heap after boot"),
                       ("boot_largest", "largest free block after boot"),
                       ("day_alloc", "meter's own heap after a full tariff and a day"),
                       ("day_largest", "largest free block after a full tariff and a day")):
        fig("heap.budget." + key, "issue #18: " + label, "B", "micropython", int(r[key]))
    note("heap", "free: gc.mem_free() after a collection on the unix port with the 164 KiB board",
         "heap (the ROMFS image and the qstr pool are extra, as flash on a board); largest: the",
         "biggest bytearray that can be had. issue #18: host_tests/mp/heap_budget.py (64-bit;",
         "a 32-bit board's meter objects are about 0.58 of it, test_heap.py states the budgets).")


def ota():
    """OTA download (host_tests/mp/bench_ota.py: a 200 KB signed image, default block size)"""
    from tools import otaimage as OI
    with tempfile.TemporaryDirectory() as d:
        img = os.path.join(d, "img.ota")
        files = [("appmain.py", b"VERSION = 2\n"),
                 ("lib/filler.bin", bytes((i * 7) & 0xFF for i in range(200 * 1024 - 200)))]
        with open(img, "wb") as f:
            f.write(OI.build(OI.archive(files), 2))
        for rt in RUNTIMES:
            s = os.path.join(d, "s-" + rt)
            os.mkdir(s)
            r = json.loads(run_script(rt, "bench_ota.py", s, img, OI.supplier_key()[1].hex(),
                                      preload="firmware.meter").strip().splitlines()[-1])
            if not r["ok"]:
                raise RuntimeError("OTA download failed on " + rt)
            fig("ota.download_s", "OTA: 200 KB image downloaded and verified (%d blocks of %d B)"
                % (r["blocks"], r["block"]), "s", rt, r["total_ms"] / 1000)
            fig("ota.verify_s", "OTA: of which the verification (SHA-256 + ECDSA)", "s", rt,
                r["verify_ms"] / 1000)
            fig("ota.flash_bytes", "OTA: flash bytes written for it (image + records)", "B", rt,
                r["flash_bytes"])
            if r["ram"] is not None:
                fig("ota.ram", "OTA: live heap during the download, above the booted meter", "B",
                    rt, r["ram"])
    note("ota", "lockstep link (no air time: at 250 kbit/s and ~20 ms a round trip through a",
         "hub, 200 KB in 50-octet blocks is about 4100 round trips, 80 s or more on air);",
         "the image goes straight from each frame to flash at its offset, the download",
         "record is saved every 1 KB (firmware/ota/README.md).")


def gbcs():
    """GBCS layer (host_tests/mp/bench_gbcs.py: RTDS ECS04b through the tunnel; a maximal GBT series)"""
    import shutil
    import subprocess
    from runtimes import MP_DIR, micropython_args, micropython_exe
    from tools import gbcs_host as G
    rtds = "/work/shared/vectors/rtds/"
    with open(rtds + "index.json") as f:
        v = [x for x in json.load(f)["vectors"] if x["use_case"] == "ECS04b" and
             x.get("command_file") and x["variant"] == "SUCCESS"][0]
    with open(rtds + "messages/" + v["command_file"]) as f:
        cmd = f.read().strip()
    inp = {"config": {"firmware_version": "0123ABCD"}, "utc": 473385600, "repeats": 3,
           "ecs04b": cmd,
           "keystore": G.keystore_json()}
    nat = os.environ.get("ESMECRYPTO_MPY") or os.path.join(ROOT, "build", "natmod",
                                                           "esmecrypto.mpy")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "in.json")
        with open(path, "w") as f:
            json.dump(inp, f)
        runs = [(rt, None) for rt in RUNTIMES]
        if os.path.exists(nat):
            nd = os.path.join(d, "natmod")
            os.mkdir(nd)
            shutil.copy(nat, os.path.join(nd, "esmecrypto.mpy"))
            runs.append(("micropython", nd))
        for rt, nd in runs:
            s = os.path.join(d, "s-%s-%d" % (rt, nd is not None))
            os.mkdir(s)
            if nd is None:
                o = run_script(rt, "bench_gbcs.py", s, path, preload="firmware.meter")
            else:
                c = micropython_args(micropython_exe(), "firmware.meter") + ["bench_gbcs.py", s,
                                                                            path]
                p = subprocess.run(c, cwd=MP_DIR, capture_output=True, text=True, timeout=600,
                                   env=dict(os.environ, MICROPYPATH=".frozen:" + MP_DIR + ":" + nd))
                if p.returncode:
                    raise RuntimeError("bench_gbcs.py with the native module:\n" + p.stderr)
                o = p.stdout
            r = json.loads(o.strip().splitlines()[-1])
            if r["series"] != 4596 or not r["frames_out"]:
                raise RuntimeError("bench_gbcs.py: the GBT series did not go through on " + rt)
            if nd is not None and not r["native"]:
                raise RuntimeError("the native module at %s was not picked up" % nat)
            key = "gbcs.ecs04b_native_ms" if nd is not None else "gbcs.ecs04b_ms"
            fig(key, "ECS04b (signed): last TransferData to signed response, %s crypto" % (
                "native" if nd is not None else "pure-Python"), "ms", rt, _median(r["ecs04b_ms"]))
            if nd is None:
                fig("gbcs.gbt_heap", "GBT: heap at the hand-over of a maximal series (4 blocks)",
                    "B", rt, r["gbt_heap"])
                fig("gbcs.gbt_flash", "GBT: flash octets written for that series (+ 2-block answer)",
                    "B", rt, r["gbt_flash"])
        if len(runs) == 2:
            fig("gbcs.ecs04b_native_ms", "ECS04b (signed): last TransferData to signed response, "
                "native crypto", "ms", "micropython", None)
    note("gbcs", "ECS04b: RTDS 1.5 ECS04b SUCCESS command (ACB MAC, supplier signature, signed",
         "response: one ECDSA verify + one sign), median of 3 in a run; native: the x64",
         "natmod build/natmod/esmecrypto.mpy (- when not built). GBT heap: above the meter",
         "with a tunnel open, after a collection, when the 4596-octet message is handed over.")


# one RTDS command per use-case group (firmware/gbcs/cosem.py): use case, variant
DLMS_VECTORS = (("device", "ECS26e", "SUCCESS"), ("account", "ECS07", "SUCCESS"),
                ("tariff", "ECS01a", "IMMEDIATE_TOU_SUCCESS"), ("supply", "ECS27", "SUCCESS"),
                ("read", "ECS35a", "SUCCESS"), ("protected", "ECS19", "SUCCESS"))
DLMS_MODULES = ("dlms", "cosem", "dispatch", "asn1", "uc_device", "uc_account", "uc_tariff",
                "uc_supply", "uc_read")


def dlms():
    """GBCS use cases (host_tests/mp/bench_dlms.py: one RTDS command per group)"""
    from tools import gbcs_host as G
    rtds = "/work/shared/vectors/rtds/"
    with open(rtds + "index.json") as f:
        vs = [x for x in json.load(f)["vectors"] if x.get("command_file")]
    lines = []
    for g, uc, var in DLMS_VECTORS:
        v = [x for x in vs if x["use_case"] == uc and x["variant"] == var][0]
        with open(rtds + "messages/" + v["command_file"]) as f:
            lines.append("%s %s_%s %s\n" % (g, uc, var, f.read().strip()))
    inp = {"config": {"firmware_version": "0123ABCD"}, "utc": 473385600, "repeats": 3,
           "keystore": G.keystore_json()}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "in.json")
        with open(path, "w") as f:
            json.dump(inp, f)
        vp = os.path.join(d, "vectors.txt")
        with open(vp, "w") as f:
            f.write("".join(lines))
        for rt in RUNTIMES:
            s = os.path.join(d, "s-" + rt)
            os.mkdir(s)
            r = json.loads(run_script(rt, "bench_dlms.py", s, path, vp,
                                      preload="firmware.meter").strip().splitlines()[-1])
            for g, _, _ in DLMS_VECTORS:
                name, t, resp = r[g]
                res = G.parse(bytes.fromhex(resp), device_ds_pub=G.test_ds_pub())["dlms"]
                if any(c for _, c in res["results"]):       # time a real execution only
                    raise RuntimeError("%s on %s: results %s" % (name, rt, res["results"]))
                fig("dlms.%s_ms" % g, "GBCS %s: %s command to response" % (g, name), "ms", rt,
                    _median(t))
        sizes = mpy_build.build(mpy_build.ARCHS[0], os.path.join(d, "mpy"))
    n = sum(b for r, b in sizes.items() if r.startswith("firmware/gbcs/") and
            r.split("/")[-1][:-3] in DLMS_MODULES)
    fig("dlms.frozen", "bytecode of the DLMS/COSEM and ASN.1 layer (%d modules)" %
        len(DLMS_MODULES), "B", "micropython", n)
    note("dlms", "per group: RTDS %s; pure-Python crypto, median of 3, the" % ", ".join(
        "%s %s" % (u, v) for _, u, v in DLMS_VECTORS),
        "whole Meter.gbcs_message (checks, execution, protected response; the group's",
        "module imported and dropped each time, as on a board: cosem.module/drop).")


# name -> (function, deterministic: run once)
SECTIONS = {"core": (core, False), "tariff": (tariff, False), "scenario": (scenario_speed, False),
            "prepay": (prepay, False), "mpy": (mpy_sizes, True), "logs": (logs, False),
            "heap": (heap, True), "ota": (ota, False), "gbcs": (gbcs, False),
            "dlms": (dlms, False)}


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="python -m tools.benchmarks",
                                 description="make bench: performance figures as one table")
    ap.add_argument("sections", nargs="*", help="some of: %s (default all)" % ", ".join(SECTIONS))
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each timed section (default 3; sizes run once)")
    ap.add_argument("--json", help="write the figures (min / median / max / runs, units) here")
    ap.add_argument("--readme-check", metavar="BENCH_JSON",
                    help="print the README's Benchmarks rows beside this run's figures")
    a = ap.parse_args(argv)
    if a.readme_check:
        readme_check(a.readme_check)
        return
    names = a.sections or list(SECTIONS)
    for n in names:
        if n not in SECTIONS:
            ap.error("unknown section %r" % n)
    m0 = machine()
    print(summary(m0, a.repeat))
    for n in names:
        fn, once = SECTIONS[n]
        runs = 1 if once else a.repeat
        t0 = time.time()
        for i in range(runs):
            print("  %s (%s) run %d of %d ..." % (n, (fn.__doc__ or "").strip().splitlines()[0],
                                                  i + 1, runs), flush=True)
            fn()
        print("  %s took %.0f s" % (n, time.time() - t0), flush=True)
    m1 = machine()
    m = {"load_avg": m0["load_avg"], "load_avg_end": m1["load_avg"], "cpus": m0["cpus"]}
    print()
    table(a.repeat, m)
    if a.json:
        d = os.path.dirname(os.path.abspath(a.json))
        os.makedirs(d, exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(as_json(a.repeat, m), f, indent=1, sort_keys=True)
        print("\nwrote %s" % a.json)


if __name__ == "__main__":
    main(sys.argv[1:])
