"""python -m tools.bench run SCENARIO.json --runtime cpython|micropython --out DIR [--port URL] [--live]"""
import argparse
import sys

from tools.bench.runner import run_file
from tools.bench.live import LiveView


def cmd_run(args):
    live = LiveView(pace=args.pace) if args.live else None
    res = run_file(args.scenario, args.runtime, args.out, args.port, live)
    if live:
        live.finish()
    e = res["expectations"]
    print("%s on %s: %d steps, %d frames, %d events; expectations %d passed, %d failed; "
          "%s simulated s in %.1f s (%.0f sim-s/s)" % (
              res["scenario"], res["runtime"], len(res["steps"]),
              sum(len(s["frames"]) for s in res["steps"]) + len(res["boot_frames"]),
              len(res["events"]), e["passed"], e["failed"], res["timing"]["sim_s"],
              res["timing"]["wall_s"], res["timing"]["sim_s_per_wall_s"] or 0))
    for f in res["failures"]:
        print("  FAIL", f)
    if res["state"]:
        print("  display:", res["state"].get("display"))
    print("  wrote %s/result.json and %s/capture.pcap" % (args.out, args.out))
    return 1 if e["failed"] else 0


COMMANDS = {"run": cmd_run}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.bench")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a scenario")
    r.add_argument("scenario")
    r.add_argument("--runtime", choices=("cpython", "micropython"), default="micropython")
    r.add_argument("--out", default="out/bench")
    r.add_argument("--port", help="pyserial URL of a board running the bench firmware")
    r.add_argument("--live", action="store_true", help="terminal view while running")
    r.add_argument("--pace", type=int, default=None,
                   help="with --live: simulated seconds per wall second")
    args = p.parse_args(argv)
    return COMMANDS[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
