"""The reproducers of the robustness issue (scenarios/repro/, copied from
the defect reports): each must pass on both runtimes. The powercut-* files
check themselves (they cut the mains at the store write that showed the
defect and state the records that must exist after restore)."""
import glob
import os

import pytest

from runtimes import ROOT
from tools.bench.runner import run_file

REPROS = sorted(glob.glob(os.path.join(ROOT, "scenarios", "repro", "*.json")))


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
@pytest.mark.parametrize("path", REPROS, ids=lambda p: os.path.basename(p)[:-5])
def test_reproducer_passes(path, runtime, tmp_path):
    res = run_file(path, runtime, str(tmp_path))
    assert res["failures"] == [], (res["failures"], res["events"])
    assert res["expectations"]["passed"] > 0
