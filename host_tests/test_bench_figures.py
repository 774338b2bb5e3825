"""make bench's report (tools/benchmarks.py): one table with units, load
average, repeats and min / median, "-" for empty cells, a JSON of the run,
and the README's Benchmarks rows mapped onto the bench's figure keys and
units (values are the machine's, not checked)."""
import json
import os
import re
import subprocess
import sys

from runtimes import ROOT
from tools import benchmarks as B

_UNIT = {"µs": "us", "ms": "ms", "B": "B", "s": "s"}


def test_readme_rows_map_onto_bench_figures():
    with open(os.path.join(ROOT, "README.md")) as f:
        rows = B.readme_rows(f.read())
    assert len(rows) >= 10
    for first, cells in rows:
        keys = [k for p, k in B.README_ROWS if first.startswith(p)]
        assert keys, "README Benchmarks row without a bench figure: %r" % first
        if keys[0] is None:
            continue
        for k in keys[0]:
            assert k in B.UNITS, k
        # a unit in the row's name is the unit of its figures
        m = re.search(r"\((µs|ms|B|s)\)", first)
        if m:
            assert {B.UNITS[k] for k in keys[0]} == {_UNIT[m.group(1)]}, first


def test_bench_report_table_and_json(tmp_path):
    out = tmp_path / "bench.json"
    p = subprocess.run([sys.executable, "-m", "tools.benchmarks", "heap", "--repeat", "2",
                        "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    text = p.stdout
    assert re.search(r"machine: load average \d+\.\d\d / \d+\.\d\d / \d+\.\d\d at start", text)
    assert "2 repeats; cells: min / median" in text
    assert "None" not in text
    line = [l for l in text.splitlines() if l.startswith("virtual board free heap after boot")][0]
    label, unit, cpy, mpy = re.split(r"\s{2,}", line.strip())
    assert unit == "B" and cpy == "-" and re.fullmatch(r"\d{1,3}(,\d{3})+", mpy)
    b = json.load(open(out))
    assert b["repeats"] == 2 and len(b["machine"]["load_avg"]) == 3
    for key, f in b["figures"].items():
        assert f["unit"] == B.UNITS[key]
        assert f["cpython"] is None
        v = f["micropython"]
        assert v is None or v["min"] <= v["median"] <= v["max"]
    # the README check reads the same JSON
    p = subprocess.run([sys.executable, "-m", "tools.benchmarks", "--readme-check", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "NO FIGURE MAPPED" not in p.stdout
    assert "heap.boot.free (B): cpython - | micropython " in p.stdout
