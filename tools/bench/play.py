"""The interactive virtual board: `python -m tools.bench play [SCENARIO]`.

The meter runs (MicroPython unix port by default) against the hub
simulator; the scenario's steps (default tools/bench/play-board.json: Economy
7, prepayment with £1 of credit) run as their time comes, and you act on
the meter between them with the commands below. Every command is a bench
scenario action (tools/bench/runner.py ACTIONS), so it does exactly what the
same step in a scenario does, and lands in result.json with its frames.

On a terminal the day runs at --pace simulated seconds per wall second
(pause / go) under a Rich live panel; with --script FILE, or input from a
pipe, commands are read one per line, time moves only on `step`, and the
plain-text view is printed after every command (what the tests use).
"""
import os
import queue
import sys
import threading
import time

from tools.bench import scenario as SC
from tools.bench import view as V
from tools.bench.live import LiveView
from tools.bench.runner import ACTIONS, Runner

BOARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "play-board.json")

HELP = """commands (durations: 90, 90s, 15m, 2h, 1d):
  topup CODE [ppmid]   key in a 20-digit UTRN on the meter (UI Add Credit), or send it
                       from the in-home PPMID (ZSE Prepayment ConsumerTopUp);
                       codes: python -m tools.utrn --pounds 10 --counter 1000
  button               press the consumer button (arms -> enables the supply)
  ec                   take emergency credit (GBCS UI command 0x0002)
  load W               household load in watts
  aux N W              appliance of W watts behind auxiliary switch N (1 or 2)
  cut | restore        cut / restore the mains
  drlc [START] [MIN] [CRIT]   the hub sends a DRLC Load Control Event: START
                       now or +15m or HH:MM (UTC), MIN minutes (30), criticality (5)
  step DUR             advance simulated time (paused or running)
  pause | go [PACE]    stop / start the clock (PACE simulated s per wall s)
  show                 the view now
  help | quit"""


def parse_duration(s):
    mult = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    s = s.strip().lower()
    if s and s[-1] in mult:
        n, k = s[:-1], mult[s[-1]]
    else:
        n, k = s, 1
    v = int(float(n) * k)
    if v < 0:
        raise ValueError("negative duration")
    return v


class Play:
    def __init__(self, scenario, runtime, out, view, port=None):
        sc = SC.load(scenario, ACTIONS)
        self.runner = Runner(sc, runtime, out, port, view, sample_every=300)
        self.view = view
        self.pending = list(sc["steps"])       # scenario steps not yet run
        self.running = False
        self.pace = 60
        self.done = False
        self.drlc_id = 5000

    # -- time ---------------------------------------------------------------------
    def advance(self, target):
        """Run scenario steps that fall before target, then advance to it."""
        r = self.runner
        while self.pending and self.pending[0]["_t"] <= target:
            r.do_step(self.pending.pop(0))
        r.advance_to(max(target, r.now))

    # -- commands -----------------------------------------------------------------
    def act(self, name, value, line):
        """A scenario action now, recorded as a step of the session."""
        r = self.runner
        st = {"_t": r.now, "_action": name, name: value, "note": "user: " + line}
        return r.do_step(st)

    def execute(self, line):
        """One command line; returns the answer text."""
        words = line.split()
        if not words or words[0].startswith("#"):
            return None
        cmd, args = words[0].lower(), words[1:]
        fn = getattr(self, "cmd_" + cmd, None)
        if fn is None:
            return "unknown command %r (help lists them)" % cmd
        try:
            return fn(args, line)
        except (ValueError, IndexError) as e:
            return "%s: %s (help lists the commands)" % (cmd, e or "bad arguments")

    def _after(self, rec):
        tl = self.runner.timeline
        return V.describe_step(rec, tl[-1] if tl else None) or "done"

    def cmd_topup(self, args, line):
        code = args[0].replace("-", "")
        via = args[1].lower() if len(args) > 1 else "meter"
        if via not in ("meter", "ppmid"):
            raise ValueError("via meter or ppmid")
        rec = self.act("topup", {"utrn": code, "via": via}, line)
        if not self.runner.alive:
            return "the meter is off (mains cut): nothing happened"
        return self._after(rec)

    def cmd_button(self, args, line):
        # the meter reads its button in the next one-second tick: show that second
        ans = self._after(self.act("button", int(args[0]) if args else 1, line))
        self.advance(self.runner.now + 1)
        return ans

    def cmd_ec(self, args, line):
        return self._after(self.act("ui", {"code": 2}, line))

    def cmd_load(self, args, line):
        return self._after(self.act("load", {"w": int(args[0])}, line))

    def cmd_aux(self, args, line):
        n, w = int(args[0]), int(args[1])
        aux = list(self.runner.aux_w)
        if not 1 <= n <= len(aux):
            raise ValueError("aux switch 1..%d" % len(aux))
        aux[n - 1] = w
        return self._after(self.act("load", {"aux_w": aux}, line))

    def cmd_cut(self, args, line):
        return self._after(self.act("power", "cut", line))

    def cmd_restore(self, args, line):
        return self._after(self.act("power", "restore", line))

    def cmd_drlc(self, args, line):
        r = self.runner
        start = args[0] if args else "now"
        if start == "now":
            at = r.now
        elif start.startswith("+"):
            at = r.now + parse_duration(start[1:])
        else:
            hh, mm = start.split(":")[:2]
            at = r.now - r.now % 86400 + int(hh) * 3600 + int(mm) * 60
            if at < r.now:
                at += 86400
        minutes = int(args[1]) if len(args) > 1 else 30
        crit = int(args[2]) if len(args) > 2 else 5
        self.drlc_id += 1
        v = {"IssuerEventID": self.drlc_id, "DurationInMinutes": minutes,
             "CriticalityLevel": crit}
        if at > r.now:
            v["StartAt"] = SC.iso(at)
        rec = self.act("drlc_event", v, line)
        return self._after(rec) + "; starts %s" % V.clock(at)

    def cmd_step(self, args, line):
        self.advance(self.runner.now + parse_duration(args[0]))
        return "now %s" % V.clock(self.runner.now, date=True)

    def cmd_pause(self, args, line):
        self.running = False
        return "paused at %s" % V.clock(self.runner.now, date=True)

    def cmd_go(self, args, line):
        if args:
            self.pace = max(1, int(args[0]))
        self.running = True
        if self.view is not None:
            self.view.reset_pace()
        return "running at %d simulated s per wall s" % self.pace

    def cmd_show(self, args, line):
        return ""

    def cmd_help(self, args, line):
        return HELP

    def cmd_quit(self, args, line):
        self.done = True
        return "quit"

    cmd_exit = cmd_quit

    # -- sessions -------------------------------------------------------------------
    def start(self):
        r = self.runner
        r.start()
        self.advance(r.now)            # the steps at time 0

    def finish(self):
        if self.view is not None:
            self.view.finish()
        res = self.runner.finish()
        return res

    def fresh(self):
        """A timeline sample of now, unless the last one is of now."""
        r = self.runner
        last = r.timeline[-1] if r.timeline else {}
        if last.get("t") != r.now or last.get("alive") != r.alive:
            r.sample()

    def show(self):
        self.fresh()
        self.view.show(self.runner)

    def scripted(self, lines, say):
        """Commands one per line; the view after each (plain text)."""
        for line in lines:
            line = line.rstrip("\n")
            ans = self.execute(line)
            if ans is None:
                continue
            say("> " + line)
            if ans:
                say(ans)
            if self.view is not None:
                self.show()
            if self.done:
                break

    def interactive(self, say, tick=0.25):
        """A terminal: commands arrive on a reader thread while the day runs."""
        q = queue.Queue()

        def reader():
            for line in sys.stdin:
                q.put(line)
            q.put(None)
        threading.Thread(target=reader, daemon=True).start()
        self.running = True
        self._status()
        while not self.done:
            t0 = time.time()
            if self.running:
                self.advance(self.runner.now + int(self.pace * tick) or 1)
                self.show()
            try:
                while True:
                    line = q.get(timeout=max(0.0, tick - (time.time() - t0))
                                 if self.running else 0.5)
                    if line is None:
                        self.done = True
                        break
                    ans = self.execute(line)
                    if ans:
                        say("> %s\n%s" % (line.strip(), ans))
                    self._status()
                    self.show()
                    if self.done:
                        break
            except queue.Empty:
                pass

    def _status(self):
        if self.view is not None:
            self.view.status = ("running, %d simulated s per wall s" % self.pace
                                if self.running else "paused") + \
                "  -  type a command and Enter (help, quit)"


def main(args):
    script = None
    if args.script:
        script = open(args.script)
    elif not sys.stdin.isatty():
        script = sys.stdin
    view = LiveView(rich=None if script is None else False, auto=False)
    p = Play(args.scenario or BOARD, args.runtime, args.out, view, args.port)
    say = view.message
    if script is None:
        say(HELP)
        say("Codes for this meter: python -m tools.utrn --pounds 10 --counter 1000 in another "
            "terminal. The day runs at %d simulated s per wall s (pause, go, step)."
            % (args.pace or p.pace))
    p.start()
    if args.pace:
        p.pace = args.pace
    try:
        if script is not None:
            p.show()
            p.scripted(script, say)
        else:
            p.interactive(say)
    finally:
        res = p.finish()
    for line in V.summary(res, view.story):
        print(line)
    if args.plot:
        from tools import plot
        png, html = plot.write(res, args.out)
        print("  plot of the session: %s (and %s)" % (png, html))
    print("  wrote %s/result.json and %s/capture.pcap" % (args.out, args.out))
    return 0
