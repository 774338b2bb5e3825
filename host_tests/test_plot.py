"""tools/plot.py on every scenario's result: the image and the page are
written, the lines drawn carry the result's values, and sampling the
timeline does not change what a scenario checks. CPython runs (the plot is
host-side; test_scenarios.py compares the runtimes)."""
import glob
import math
import os

import pytest

from runtimes import ROOT
from tools import plot as P
from tools.bench import scenario as SC
from tools.bench import timeline as TL
from tools.bench.runner import ACTIONS, run_file

SCENARIOS = sorted(glob.glob(os.path.join(ROOT, "scenarios", "*.json")))


def _same(drawn, values, scale=1.0):
    drawn = list(drawn)
    assert len(drawn) == len(values)
    for d, v in zip(drawn, values):
        if v is None:
            assert math.isnan(d)
        else:
            assert d == pytest.approx(v * scale, rel=1e-12, abs=1e-12)


def _line(ax, label):
    for ln in ax.get_lines():
        if ln.get_label() == label:
            return ln
    raise AssertionError("no line %r in %s" % (label, [x.get_label() for x in ax.get_lines()]))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: os.path.basename(p)[:-5])
def test_plot_of_each_scenario(path, tmp_path):
    # about 48 samples (half-hourly on a day) keep the test quick
    every = TL.auto_interval(SC.load(path, ACTIONS), 48)
    res = run_file(path, "cpython", str(tmp_path), sample_every=every)
    # the samples are taken between the meter's ticks: the scenario still passes
    assert res["failures"] == [] and res["expectations"]["failed"] == 0
    samples = res["timeline"]["samples"]
    assert samples[0]["t"] == P.parse_time(res["start"]) and len(samples) > 10
    fig, s = P.figure(res)
    axes = fig.axes
    on = [x for x in samples if x["alive"]]
    # what is drawn is the timeline, sample for sample
    assert s["t"] == [x["t"] for x in samples]
    _same(_line(axes[0], "demand (W)").get_ydata(), [x.get("demand_w") if x["alive"] else None
                                                     for x in samples])
    _same(_line(axes[3], "credit (£)").get_ydata(), [x.get("credit") if x["alive"] else None
                                                     for x in samples], 1e-5)
    _same(_line(axes[2], "price now (p/kWh)").get_ydata(),
          [x.get("price") if x["alive"] else None for x in samples], 1e-3)
    for name, v in s["registers"].items():
        assert v == [(x.get("registers") or {}).get(name, 0) if x["alive"] else None
                     for x in samples]
    # the last sample is the meter's final state (an independent read of it)
    st = res["state"]["meter"]
    if on and samples[-1]["alive"] and res["state"]:
        assert s["credit"][-1] == st["Prepay"]["MeterBalance"]
        assert {k: v[-1] for k, v in s["registers"].items() if v[-1]} == st["Tariff"]["Registers"]
        assert s["demand_w"][-1] == res["state"]["Metering"]["InstantaneousDemand"]
    # DRLC marks: every Report Event Status the hub received
    assert s["drlc"] == [(r["t"], r["id"], r["status"]) for r in res["hub"]["drlc_reports"]]
    import matplotlib.pyplot as plt
    plt.close(fig)
    png, page = P.write(res, str(tmp_path))
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(page) as f:
        text = f.read()
    assert "plot.png" in text and res["scenario"] in text
    for r in res["hub"]["drlc_reports"]:
        assert "DRLC event %d: %s" % (r["id"], r["status"]) in text


def test_plot_without_timeline_uses_the_reports(tmp_path):
    res = run_file(os.path.join(ROOT, "scenarios", "demo-day.json"), "cpython", str(tmp_path))
    assert "timeline" not in res             # a plain run is as before
    fig, s = P.figure(res)
    assert s["source"] == "reports"
    rep = res["hub"]["reports"]["Metering"]
    assert s["demand_w"][-1] == rep["InstantaneousDemand"]
    assert s["summation_wh"][-1] == rep["CurrentSummationDelivered"]
    _same(fig.axes[0].get_lines()[0].get_ydata(), s["demand_w"])
    png, page = P.write(res, str(tmp_path))
    assert os.path.getsize(png) > 1000 and os.path.exists(page)


def test_command_line(tmp_path):
    import json
    import subprocess
    import sys
    res = run_file(os.path.join(ROOT, "scenarios", "time-sync.json"), "cpython", str(tmp_path),
                   sample_every=3600)
    assert res["timeline"]["every_s"] == 3600
    out = tmp_path / "plots"
    out.mkdir()
    p = subprocess.run([sys.executable, "-m", "tools.plot", str(tmp_path / "result.json"),
                        "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    assert (out / "plot.png").exists() and (out / "plot.html").exists()
    assert json.load(open(tmp_path / "result.json"))["timeline"]["samples"]
