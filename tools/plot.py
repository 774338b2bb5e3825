"""Plots of a bench run: `python -m tools.plot DIR/result.json [--out DIR]`
writes DIR/plot.png and DIR/plot.html (the image with a table of the
events) of a simulated day or month.

Panels on one time axis (the meter's local GB time): demand (the meter's
InstantaneousDemand, W); the tariff registers (kWh, by TOU rate / block,
named from the tariff's labels); the price now (p/kWh); credit, emergency
credit and accumulated debt (GBP) with the supply state; DRLC events (ZSE
Report Event Status) and alerts (GBCS names) as marks.

The data is the run's timeline (result.json "timeline": written by
`tools.bench run --plot` / `--live` and `tools.bench play`). A result
without one (a plain `run`) still plots demand and summation from the
attribute reports the hub received. `series()` returns exactly what is
drawn, so tests compare it with the result.
"""
import argparse
import html
import json
import os
import sys

from tools.bench import view as V
from tools.bench.scenario import parse_time

SUPPLY_LEVEL = {"Disabled": 0, "Armed": 1, "Enabled": 2}


def series(res):
    """The plotted series: {"t": [ZigBee UTC], "demand_w": [...], "registers":
    {name: [Wh]}, "price": [10^-5 GBP/kWh], "credit" / "ec" / "debt": [10^-5
    GBP], "supply": [0 Disabled, 1 Armed, 2 Enabled], "drlc": [(t, id,
    status)], "alerts": [(t, code)], "power": [(t, event)], "source":
    "timeline" | "reports"}; None where the meter was off."""
    tl = (res.get("timeline") or {}).get("samples")
    out = {"drlc": [(r["t"], r["id"], r["status"]) for r in res["hub"]["drlc_reports"]],
           "power": [(e["t"], e["event"]) for e in res["events"]],
           "labels": ((res.get("timeline") or {}).get("tariff") or {}).get("labels") or {}}
    if tl:
        out["source"] = "timeline"
        out["t"] = [s["t"] for s in tl]
        on = [s.get("alive") for s in tl]

        def col(key):
            return [s.get(key) if a else None for s, a in zip(tl, on)]
        out["demand_w"] = col("demand_w")
        out["summation_wh"] = col("summation_wh")
        names = sorted({k for s in tl for k in (s.get("registers") or {})})
        out["registers"] = {n: [(s.get("registers") or {}).get(n, 0) if a else None
                                for s, a in zip(tl, on)] for n in names}
        out["price"] = col("price")
        out["credit"] = col("credit")
        out["ec"] = col("ec")
        out["debt"] = col("debt")
        out["supply"] = [SUPPLY_LEVEL.get(s.get("supply")) if a else None
                         for s, a in zip(tl, on)]
        out["alerts"] = [(s["t"], c) for s in tl[1:] for c in s.get("new_alerts") or []]
        return out
    # no timeline: what the hub was told (Metering attribute reports)
    out["source"] = "reports"
    pts = {"InstantaneousDemand": [], "CurrentSummationDelivered": []}
    frames = list(res["boot_frames"]) + [f for s in res["steps"] for f in s["frames"]]
    for f in frames:
        if f.get("dir") == "out" and f.get("command") == "ReportAttributes" and \
                f.get("cluster") == "Metering":
            for r in f["fields"]["records"]:
                if r.get("attribute") in pts:
                    pts[r["attribute"]].append((f["t"], r["value"]))
    ts = sorted({t for v in pts.values() for t, _ in v})
    last = {}
    out["t"] = ts
    by_t = {k: dict(v) for k, v in pts.items()}
    for k in pts:
        col = []
        for t in ts:
            if t in by_t[k]:
                last[k] = by_t[k][t]
            col.append(last.get(k))
        out[{"InstantaneousDemand": "demand_w",
             "CurrentSummationDelivered": "summation_wh"}[k]] = col
    out["alerts"] = []
    return out


def _hours(res, ts):
    start = parse_time(res["start"])
    return [(t - start) / 3600.0 for t in ts]


def _nan(v, scale=1.0):
    return [float("nan") if x is None else x * scale for x in v]


def figure(res):
    """(matplotlib Figure, series) of a result."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    s = series(res)
    x = _hours(res, s["t"])
    full = s["source"] == "timeline"
    n = 4 if full else 2
    fig, axes = plt.subplots(n, 1, figsize=(12, 2.6 * n + 0.6), sharex=True, squeeze=False)
    axes = [a[0] for a in axes]
    title = "%s on %s, from %s" % (res.get("scenario") or "session", res.get("runtime"),
                                   V.clock(parse_time(res["start"]), date=True))
    fig.suptitle(title)
    ax = axes[0]
    ax.step(x, _nan(s["demand_w"]), where="post", color="tab:blue", label="demand (W)")
    ax.set_ylabel("demand (W)")
    ax.legend(loc="upper left", fontsize="small")
    ax = axes[1]
    if full and s["registers"]:
        for name, v in s["registers"].items():
            ax.plot(x, _nan(v, 0.001), label=V.register_label(name, s["labels"]))
        ax.set_ylabel("registers (kWh)")
    else:
        ax.plot(x, _nan(s["summation_wh"], 0.001), label="summation delivered")
        ax.set_ylabel("energy (kWh)")
    ax.legend(loc="upper left", fontsize="small")
    if full:
        ax = axes[2]
        ax.step(x, _nan(s["price"], 0.001), where="post", color="tab:purple",
                label="price now (p/kWh)")
        ax.set_ylabel("price (p/kWh)")
        ax.legend(loc="upper left", fontsize="small")
        ax = axes[3]
        ax.plot(x, _nan(s["credit"], 1e-5), color="tab:green", label="credit (£)")
        ax.plot(x, _nan(s["ec"], 1e-5), color="tab:orange", label="emergency credit (£)")
        ax.plot(x, _nan(s["debt"], 1e-5), color="tab:red", label="accumulated debt (£)")
        ax.set_ylabel("GBP")
        sup = ax.twinx()
        sup.step(x, _nan(s["supply"]), where="post", color="grey", alpha=0.6,
                 linestyle="--", label="supply")
        sup.set_yticks([0, 1, 2])
        sup.set_yticklabels(["Disabled", "Armed", "Enabled"])
        sup.set_ylim(-0.3, 2.3)
        ax.legend(loc="upper left", fontsize="small")
        sup.legend(loc="upper right", fontsize="small")
    start = parse_time(res["start"])
    for t, eid, status in s["drlc"]:
        for a in axes:
            a.axvline((t - start) / 3600.0, color="magenta", alpha=0.4, linewidth=1)
        axes[0].annotate("DRLC %d %s" % (eid, status), ((t - start) / 3600.0, 1.0),
                         xycoords=("data", "axes fraction"), rotation=90, fontsize=6,
                         va="top", color="magenta")
    for t, code in s["alerts"]:
        axes[-1].annotate("%04X" % code, ((t - start) / 3600.0, 0.02),
                          xycoords=("data", "axes fraction"), rotation=90, fontsize=6,
                          color="darkred")
        axes[-1].axvline((t - start) / 3600.0, color="darkred", alpha=0.15, linewidth=1)
    for t, ev in s["power"]:
        if ev == "power_cut":
            for a in axes:
                a.axvline((t - start) / 3600.0, color="black", linestyle=":", linewidth=1)
    axes[-1].set_xlabel("hours from %s (scenario start)" % V.clock(start, date=True))
    for a in axes:
        a.grid(alpha=0.3)
    fig.tight_layout()
    return fig, s


def write(res, out_dir):
    """plot.png and plot.html of a result in out_dir; returns their paths."""
    fig, s = figure(res)
    png = os.path.join(out_dir, "plot.png")
    fig.savefig(png, dpi=100)
    import matplotlib.pyplot as plt
    plt.close(fig)
    page = os.path.join(out_dir, "plot.html")
    start = parse_time(res["start"])
    rows = sorted([(t, "DRLC event %d: %s (ZSE Report Event Status)" % (i, st))
                   for t, i, st in s["drlc"]] +
                  [(t, "alert " + V.alert(c)) for t, c in s["alerts"]] +
                  [(t, ev.replace("_", " ")) for t, ev in s["power"]])
    with open(page, "w") as f:
        f.write("<!doctype html><meta charset='utf-8'><title>%s</title>\n" % html.escape(
            res.get("scenario") or "bench run"))
        f.write("<h1>%s</h1>\n<p>%s; %s simulated; data: %s</p>\n" % (
            html.escape(res.get("scenario") or "session"), html.escape(res.get("runtime", "")),
            V.duration(res["timing"]["sim_s"]), s["source"]))
        f.write("<img src='plot.png' alt='plot of the run' style='max-width:100%'>\n")
        f.write("<h2>Events</h2>\n<table><tr><th>time</th><th>+h</th><th>event</th></tr>\n")
        for t, text in rows:
            f.write("<tr><td>%s</td><td>%.2f</td><td>%s</td></tr>\n" % (
                V.clock(t, date=True), (t - start) / 3600.0, html.escape(text)))
        f.write("</table>\n")
        for line in V.summary(res):
            f.write("<pre>%s</pre>\n" % html.escape(line))
    return png, page


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.plot", description=__doc__.splitlines()[0])
    ap.add_argument("result", help="result.json of a bench run")
    ap.add_argument("--out", help="directory for plot.png / plot.html (default: the result's)")
    a = ap.parse_args(argv)
    with open(a.result) as f:
        res = json.load(f)
    png, page = write(res, a.out or os.path.dirname(os.path.abspath(a.result)))
    print("wrote %s and %s" % (png, page))
    return 0


if __name__ == "__main__":
    sys.exit(main())
