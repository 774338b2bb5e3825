"""--port: the bench over a pyserial URL. A virtual board listening on TCP
stands in for a board's UART (pyserial socket:// transport)."""
import os
import socket
import subprocess
import sys

from runtimes import ROOT
from tools.bench.runner import run_file
from tools.meterlink import runtime_cmd


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def test_bench_over_serial_url(tmp_path):
    port = free_port()
    cmd, env = runtime_cmd("micropython")
    full = dict(os.environ, **env)
    cwd = full.pop("_CWD")
    sc = os.path.join(ROOT, "scenarios", "zcl-conformance.json")
    from tools.bench.scenario import load
    from tools.bench.runner import ACTIONS
    start = load(sc, ACTIONS)["start_utc"]
    proc = subprocess.Popen(cmd + ["--listen", str(port), "--store", str(tmp_path / "store"),
                                   "--utc", str(start)], cwd=cwd, env=full)
    try:
        res = run_file(sc, "micropython", str(tmp_path / "out"), port="socket://127.0.0.1:%d" % port)
    finally:
        proc.kill()
    assert res["runtime"] == "board:socket://127.0.0.1:%d" % port
    assert res["failures"] == []
    assert res["expectations"]["passed"] >= 15
