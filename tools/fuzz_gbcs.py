"""The GBCS message layer fuzz, in process (issue #17):

    python -m tools.fuzz_gbcs --inputs 100000 --seed 1 --runtime cpython --jobs 2 --out DIR

Inputs (random.Random(seed), reproducible): every visible RTDS ESME command
(tools.fuzz.rtds_commands), either mutated on the wire as it is (bit flips,
octet extremes, truncation, extension, splices, BER length octets:
tools.fuzz._gbcs_bytes), or with a mutated payload re-protected with the
RTDS test keys (tools.gbcs_host.build_command: the ACB's MAC, the
originator's signature when critical, a fresh counter), so that the DLMS /
ASN.1 layer behind the §6.2.4 checks is reached. Messages go straight to
Meter.gbcs_message (tools/fuzz_gbcs_run.py, on CPython or the MicroPython
unix port with the board heap), with no link, tunnel or GBT in between
(tools.fuzz --gbcs covers those): about ten times faster per input.

The inputs are cut into chunks (--chunk); each chunk runs on a fresh meter
booted on a store provisioned with the RTDS keystore, --jobs chunks at a
time (processes). Every input gets one outcome (see fuzz_gbcs_run.py):
ignored / answered-* / rejected-<Security Log code> / silent-cs02b, or a
finding: unexplained, state-change, alert-missing, inconsistent-*, crash-*.
--native on CPython uses the C crypto core (build/libesmecrypto.so through
lib/esmecrypto/host), on MicroPython the native module (build/natmod).

Output: DIR/report.json and DIR/summary.txt; exits 1 on any finding.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FINDINGS = ("unexplained", "state-change", "alert-missing")


def gen_inputs(rng, cmds, n, oc0):
    """n input records (fuzz_gbcs_run.py: length, kind, message; kind
    wire+<mutations> or auth+<mutations>); oc0: the
    first counter of the re-protected commands (above RTDS's)."""
    from tools import gbcs_host as GH
    from tools.fuzz import _gbcs_bytes
    others = [x[0] for x in cmds]
    pls = [bytes.fromhex(x[1]["payload"]) for x in cmds[:8]]
    oc = oc0
    out = []
    for _ in range(n):
        b, f = rng.choice(cmds)
        kinds = []
        if rng.random() < 0.5:
            for _ in range(rng.choice((1, 1, 2, 3))):
                b, k = _gbcs_bytes(rng, b, others)
                kinds.append(k)
            kind = "wire"
        else:
            pl = bytes.fromhex(f["payload"])
            if rng.random() < 0.9:
                for _ in range(rng.choice((1, 1, 2))):
                    pl, k = _gbcs_bytes(rng, pl, pls)
                    kinds.append(k)
            else:
                kinds.append("asis")
            oc += 1 + rng.randrange(3)
            c = oc
            if f["message_code"] == 7:              # CS01a: low 32 bits zero (§4.3.1.2)
                c = (c & 0xFFFFFFFF) << 32
            srp = (f["srp_id"], f["srp_counter"]) if f["srp_id"] else None
            b = GH.build_command(f["message_code"], pl[:3000], c, originator=f["originator"],
                                 critical=bool(f["signature"]), srp=srp)
            kind = "auth"
        k = ("%s+%s" % (kind, "+".join(sorted(set(kinds))))).encode()
        out.append(bytes((len(b) >> 8, len(b) & 0xFF, len(k))) + k + b)
    return out, oc


def _worker(runtime, native, store, inputs, out_json):
    script = os.path.join(ROOT, "tools", "fuzz_gbcs_run.py")
    if runtime == "cpython":
        path = ROOT + (os.pathsep + os.path.join(ROOT, "lib", "esmecrypto", "host") if native
                       else "")
        return subprocess.Popen([sys.executable, script, store, inputs, out_json],
                                cwd=ROOT, env=dict(os.environ, PYTHONPATH=path),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    from tools.meterlink import micropython_exe
    from tools.mpy_build import micropython_args
    mpath = ".frozen"
    if native:
        nat = os.path.join(os.path.dirname(out_json), "natmod")
        os.makedirs(nat, exist_ok=True)
        shutil.copy(os.path.join(ROOT, "build", "natmod", "esmecrypto.mpy"), nat)
        mpath += ":" + nat
    cmd = micropython_args(micropython_exe(), "firmware.meter") + [script, store, inputs,
                                                                     out_json]
    return subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, MICROPYPATH=mpath),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def run(n_inputs, seed, runtime, out, jobs=1, chunk=5000, native=False, progress=None):
    """The campaign; returns the report (dict)."""
    from tools.fuzz import rtds_commands
    from tools.bench.runner import provision_gbcs
    if native:
        need = (os.path.join(ROOT, "build", "libesmecrypto.so") if runtime == "cpython" else
                os.path.join(ROOT, "build", "natmod", "esmecrypto.mpy"))
        if not os.path.exists(need):
            raise SystemExit("--native: %s not built (lib/esmecrypto/README.md)" % need)
    cmds = rtds_commands()
    if not cmds:
        raise SystemExit("RTDS vectors missing (GBCS_RTDS_DIR)")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    rng = random.Random(seed)
    oc = 1 << 40
    t0 = time.time()
    running = []
    results = []
    k = 0
    left = n_inputs

    def reap(block):
        for pr in list(running):
            if block or pr[0].poll() is not None:
                log = pr[0].communicate()[0]
                pr[0].wait()
                try:
                    with open(pr[1]) as f:
                        r = json.load(f)
                except (OSError, ValueError):
                    r = {"inputs": 0, "counts": {}, "finds": [], "died": log[-2000:]}
                r["chunk"] = pr[2]
                results.append(r)
                running.remove(pr)
                if progress:
                    progress(sum(x["inputs"] for x in results), time.time() - t0)
                if not block:
                    return

    while left > 0:
        n = min(chunk, left)
        left -= n
        d = os.path.join(out, "chunk%03d" % k)
        os.makedirs(os.path.join(d, "store"))
        provision_gbcs(os.path.join(d, "store"), "rtds")
        lines, oc = gen_inputs(rng, cmds, n, oc)
        with open(os.path.join(d, "inputs.bin"), "wb") as f:
            f.writelines(lines)
        while len(running) >= jobs:
            time.sleep(0.05)
            reap(False)
        running.append((_worker(runtime, native, os.path.join(d, "store"),
                                os.path.join(d, "inputs.bin"), os.path.join(d, "out.json")),
                        os.path.join(d, "out.json"), k))
        k += 1
    while running:
        reap(True)
    results.sort(key=lambda r: r["chunk"])
    rep = {"inputs": sum(r["inputs"] for r in results), "seed": seed, "runtime": runtime,
           "native": native, "jobs": jobs, "chunk": chunk, "wall_seconds": round(time.time() - t0, 1),
           "worker_seconds": round(sum(r.get("seconds", 0) for r in results), 1),
           "outcomes": {}, "by_kind": {}, "findings": [], "died": []}
    for r in results:
        for key, v in r["counts"].items():
            kind, outcome = key.split(" ")
            rep["outcomes"][outcome] = rep["outcomes"].get(outcome, 0) + v
            top = kind.split("+")[0]
            d = rep["by_kind"].setdefault(top, {})
            d[outcome] = d.get(outcome, 0) + v
        for fd in r["finds"]:
            rep["findings"].append({"chunk": r["chunk"], "input": fd[0], "kind": fd[1],
                                    "outcome": fd[2], "hex": fd[3]})
        if "died" in r:
            rep["died"].append({"chunk": r["chunk"], "log": r["died"]})
    bad = sum(v for o, v in rep["outcomes"].items()
              if o in FINDINGS or o.startswith("crash") or o.startswith("inconsistent"))
    rep["bad"] = bad + len(rep["died"]) + (rep["inputs"] != n_inputs)
    rep["native_in_meters"] = sorted(set(r.get("native") for r in results), key=str)
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(rep, f, indent=1, sort_keys=True)
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(summary(rep))
    return rep


def summary(rep):
    lines = ["GBCS fuzz: %d inputs (seed %d) on %s%s, %d jobs: %.0f s wall, %.0f s in the meters"
             % (rep["inputs"], rep["seed"], rep["runtime"], " (native crypto)" if rep["native"]
                else "", rep["jobs"], rep["wall_seconds"], rep["worker_seconds"])]
    outs = sorted(rep["outcomes"])
    lines.append("%-18s %s" % ("outcome", " ".join("%8s" % k for k in sorted(rep["by_kind"])) +
                               "    total"))
    for o in outs:
        lines.append("%-18s %s %8d" % (o, " ".join("%8d" % rep["by_kind"][k].get(o, 0)
                                                  for k in sorted(rep["by_kind"])),
                                       rep["outcomes"][o]))
    lines.append("findings (crash, unexplained, state change, missing alert): %d; worker deaths: %d;"
                 " native crypto in the meters: %s" % (rep["bad"], len(rep["died"]),
                                                       rep["native_in_meters"]))
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--inputs", type=int, default=100000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--runtime", choices=("cpython", "micropython"), default="cpython")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--chunk", type=int, default=5000)
    p.add_argument("--native", action="store_true", help="the C crypto core")
    p.add_argument("--out", default="out/fuzz-gbcs-core")
    a = p.parse_args(argv)

    def prog(n, t):
        print("%7d inputs  %6.0f s" % (n, t), flush=True)

    rep = run(a.inputs, a.seed, a.runtime, a.out, a.jobs, a.chunk, a.native, prog)
    sys.stdout.write(summary(rep))
    return 1 if rep["bad"] else 0


if __name__ == "__main__":
    sys.exit(main())
