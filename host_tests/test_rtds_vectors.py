"""The DCC RTDS 4.5.0 ESME vectors (../shared/vectors/rtds, index.json) as
one parametrised test: every visible DLMS command/response pair on a fresh
meter in the state the vectors imply (host_tests/rtds.py), and the same
for a representative subset on MicroPython, byte for byte equal to
CPython."""
import json

import pytest

import rtds
from tools import gbcs_host as G

pytestmark = pytest.mark.skipif(not rtds.HAVE, reason="RTDS vectors not available")
VECS = rtds.commands()


@pytest.mark.parametrize("v", VECS, ids=rtds.vid)
def test_rtds_command(tmp_path, v):
    """The command is authenticated and answered with the reference's
    relations, results and data shapes (byte for byte where the vector is
    MACed, the response carries no state-dependent data, and the meter's
    state matches)."""
    b = rtds.meter(tmp_path)
    resp = rtds.run(b, v)
    r, ref = rtds.check(v, resp)
    if v["expected_response_kind"] == "mac" and all(d == "00" for d in ref["dlms"]["data"]):
        assert resp == rtds.message(v["response_file"])


def _subset():
    """One vector per use case (its first SUCCESS variant, else the first)."""
    out = {}
    for v in VECS:
        u = v["use_case"]
        if u not in out or ("SUCCESS" in v["variant"] and "SUCCESS" not in out[u]["variant"]):
            out[u] = v
    return list(out.values())


def test_same_on_both_runtimes(tmp_path):
    """One vector per use case on MicroPython and CPython: the same
    responses and alerts, byte for byte."""
    from runtimes import run_script
    e, ka, ds, cells, zs = G.rtds_keystore()
    ks = {"entity": e.hex(), "ka_priv": ka.hex(), "ds_priv": ds.hex(),
          "cells": [[c[0], c[1], c[2], c[3].hex(), c[4].hex(), c[5].hex()] for c in cells],
          "zs": dict((k.hex(), v.hex()) for k, v in zs.items())}
    sub = _subset()
    lines = ["%s %d %d %s\n" % ((rtds.vid(v),) + (rtds.failing_instruction(v) or (-1, 0)) +
                                 (rtds.message(v["command_file"]).hex(),)) for v in sub]
    (tmp_path / "vectors.txt").write_text("".join(lines))
    inp = {"config": rtds.CFG, "utc": rtds.T2015, "keystore": ks}
    (tmp_path / "in.json").write_text(json.dumps(inp))
    out = {}
    for rt in ("cpython", "micropython"):
        (tmp_path / rt).mkdir()
        out[rt] = run_script(rt, "rtds_vectors.py", str(tmp_path / rt), str(tmp_path / "in.json"),
                             str(tmp_path / "vectors.txt"), preload="firmware.meter")
    assert out["micropython"] == out["cpython"]
    got = dict(l.split()[:2] for l in out["cpython"].splitlines() if not l.startswith(" "))
    assert len(got) == len(sub)
    for v in sub:                      # and each one as the CPython test checks it
        rtds.check(v, bytes.fromhex(got[rtds.vid(v)]))
