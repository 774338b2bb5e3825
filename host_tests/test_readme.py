"""The example scenario and DRLC steps of the bench README
(tools/bench/README.md, linked from README.md) run as written."""
import json
import os
import re

from runtimes import ROOT
from tools.bench.runner import Runner, ACTIONS
from tools.bench import scenario as SC


def test_readme_example_scenario(tmp_path):
    with open(os.path.join(ROOT, "tools", "bench", "README.md")) as f:
        text = f.read()
    block = re.search(r"```json\n(.*?)```", text, re.S).group(1)
    sc = SC.validate(json.loads(block), ACTIONS)
    res = Runner(sc, "cpython", str(tmp_path)).run()
    assert res["failures"] == []
    assert res["expectations"]["passed"] >= 8
    used = {s["_action"] for s in sc["steps"]} - {None}
    core = {"load", "zcl", "raw", "read", "button", "power", "advance", "hub"}
    assert used == core, "the example shows every core step type"


def test_readme_drlc_steps(tmp_path):
    with open(os.path.join(ROOT, "tools", "bench", "README.md")) as f:
        text = f.read()
    block = re.search(r"```drlc-steps\n(.*?)```", text, re.S).group(1)
    steps = json.loads("[" + block.strip().rstrip(",") + "]")
    sc = SC.validate({"start": "2026-01-05T00:00:00Z", "steps": steps}, ACTIONS)
    res = Runner(sc, "cpython", str(tmp_path)).run()
    assert res["failures"] == [] and res["expectations"]["passed"] == 1
