"""python -m tools.bench run SCENARIO.json --runtime cpython|micropython --out DIR [--port URL]
[--live [--pace N]] [--plot]; python -m tools.bench play [SCENARIO] [--script FILE]"""
import argparse
import sys

from tools.bench.runner import run_file
from tools.bench.live import LiveView
from tools.bench import view as V


def cmd_run(args):
    from tools.bench import scenario as SC
    from tools.bench.runner import ACTIONS
    from tools.bench.live import ProgressBar
    sc = SC.load(args.scenario, ACTIONS)       # a bad scenario fails before anything starts
    live = LiveView(pace=args.pace) if args.live else None
    sample = "auto" if (args.live or args.plot) else None
    if live is None and sys.stdout.isatty():
        live = ProgressBar(sc)
    if args.live and not args.pace and live.tty:
        print("(no --pace: the run goes as fast as it can; --pace 3600 shows an hour a second)")
    if args.runtime == "micropython" and not args.port:
        print("starting the meter on the MicroPython unix port (the firmware image is rebuilt "
              "first when firmware/ changed: about 15 s)", flush=True)
    try:
        res = run_file(args.scenario, args.runtime, args.out, args.port, live, sample)
    finally:
        if live:
            live.finish()
    if not isinstance(live, LiveView):
        live = None
    for line in V.summary(res, live.story if live else None):
        print(line)
    _plot(args, res)
    print("  wrote %s/result.json and %s/capture.pcap" % (args.out, args.out))
    return 1 if res["expectations"]["failed"] else 0


def _plot(args, res):
    if args.plot:
        from tools import plot
        png, html = plot.write(res, args.out)
        print("  plot of the run: %s (and %s)" % (png, html))


def cmd_play(args):
    from tools.bench import play
    return play.main(args)


COMMANDS = {"run": cmd_run, "play": cmd_play}


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
    r.add_argument("--plot", action="store_true",
                   help="sample the meter's state and write plot.png / plot.html (tools/plot.py)")
    q = sub.add_parser("play", help="the interactive virtual board (tools/bench/play.py)")
    q.add_argument("scenario", nargs="?", help="steps to run as their time comes "
                   "(default tools/bench/play-board.json)")
    q.add_argument("--runtime", choices=("cpython", "micropython"), default="micropython")
    q.add_argument("--out", default="out/play")
    q.add_argument("--port", help="pyserial URL of a board running the bench firmware")
    q.add_argument("--script", help="commands from this file, one per line (else the terminal, "
                   "or stdin when piped)")
    q.add_argument("--pace", type=int, default=None, help="simulated seconds per wall second")
    q.add_argument("--plot", action="store_true", help="write plot.png / plot.html at the end")
    args = p.parse_args(argv)
    return COMMANDS[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
