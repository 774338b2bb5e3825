"""Live terminal view of a bench run (tools/bench/view.py has the content).

On a terminal it is a Rich live panel redrawn in place; piped or in CI it
prints one plain-text block per refresh (every `every` simulated seconds,
and after each step with an action when `steps` is set). The closing
summary stays on screen. The runner calls it after every advance and step;
it needs the runner's timeline (Runner(sample_every=...)).
"""
import sys
import time

from tools.bench import view as V


class LiveView:
    """pace: simulated seconds per wall second (None: as fast as it goes).
    every: simulated seconds between refreshes (default: 15 min on a
    terminal, an hour when piped)."""

    def __init__(self, every=None, out=None, pace=None, rich=None, steps=False, auto=True):
        self.out = out or sys.stdout
        self.tty = self.out.isatty() if rich is None else rich
        self.every = every or (900 if self.tty else 3600)
        self.pace = pace
        self.steps = steps
        self.auto = auto          # False: only show() draws (tools/bench/play.py)
        self.story = V.Story()
        self.next = None
        self.t0 = None
        self.live = None
        self.console = None
        self.shown = 0            # story entries already printed (piped)
        self.status = ""          # one line under the panel (play: paused / running)
        if self.tty:
            from rich.console import Console
            from rich.live import Live
            self.console = Console(file=self.out)
            self.live = Live(console=self.console, auto_refresh=False, transient=False,
                             redirect_stdout=False, redirect_stderr=False)
            self.live.start()

    def reset_pace(self):
        self.t0 = None

    def __call__(self, runner, rec=None):
        self.story.update(runner, rec)
        if self.pace:
            if self.t0 is None:
                self.t0 = (time.time(), runner.now)
            wait = self.t0[0] + (runner.now - self.t0[1]) / self.pace - time.time()
            if wait > 0:
                time.sleep(wait)
        if not self.auto:
            return
        due = self.next is None or runner.now >= self.next
        if rec is not None and self.steps and "action" in rec:
            due = True
        if not due and not self.tty:
            return
        if due:
            self.next = runner.now - runner.now % self.every + self.every
        self.show(runner)

    def show(self, runner):
        self.story.update(runner)
        if self.live is not None:
            rows = V.rows(runner, self.story)
            self.live.update(_rich(rows, self.status), refresh=True)
        else:
            # piped: each block lists the events since the block before
            rows = V.rows(runner, self.story, since=self.shown)
            self.shown = len(self.story.log) + self.story.dropped
            self.out.write(V.plain(rows))
            self.out.flush()

    def message(self, text):
        """A line of its own (command echo, answers)."""
        if self.live is not None:
            self.live.console.print(text, markup=False, highlight=False)
        else:
            self.out.write(text + "\n")
            self.out.flush()

    def finish(self, res=None):
        """Stop redrawing; the last panel and the summary stay on screen."""
        if self.live is not None:
            self.live.stop()
            self.live = None
        if res is not None:
            for line in V.summary(res, self.story):
                self.out.write(line + "\n")
        self.out.flush()


_STYLE = {"display": "bold cyan", "account": "green", "supply": "bold", "log": "dim",
          "time status": "yellow", "DRLC": "magenta"}


def _rich(rows, status=""):
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text
    t = Table.grid(padding=(0, 1))
    t.add_column(style="bold", no_wrap=True)
    t.add_column()
    head = rows[0][1]
    last = None
    for label, text in rows[1:]:
        style = _STYLE.get(label, "")
        if label == "supply" and not text.startswith("Enabled"):
            style = "bold red"
        if label == "account" and "credit -" in text:
            style = "red"
        t.add_row("" if label == last == "log" else label, Text(text, style=style))
        last = label
    return Panel(t, title=head, subtitle=status or None, expand=True)


class ProgressBar:
    """A Rich progress bar over the scenario's simulated time (a plain run
    on a terminal): the runner calls it after every advance and step."""

    def __init__(self, sc, out=None):
        from rich.progress import (Progress, BarColumn, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)
        steps = sc.get("steps") or []
        self.start = sc["start_utc"]
        last = steps[-1] if steps else None
        self.end = (last["_t"] + (int(last["advance"]) if last and last.get("_action") ==
                                  "advance" else 0)) if last else self.start
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 TextColumn("{task.fields[now]}"), TimeElapsedColumn(),
                                 TimeRemainingColumn(), transient=True)
        self.task = self.progress.add_task(sc.get("name") or "scenario",
                                           total=max(1, self.end - self.start), now="")
        self.progress.start()

    def __call__(self, runner, rec=None):
        self.progress.update(self.task, completed=runner.now - self.start,
                             now=V.clock(runner.now, date=True))

    def finish(self):
        self.progress.stop()
