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
# Use cases whose visible vectors need what this single-element,
# single-phase meter does not have: they answer as for an absent object
# (rtds.check_absent) -- result code(s) expected at the first such object.
ABSENT = {
    "ECS23b": (4,),      # phases 2 and 3 (1-0:52.x, 1-0:72.x): polyphase only
    "ECS23": (4,),       # 1-0:32.24.0 average RMS voltage profile: no voltage measurement
    "ECS29a": (4,),      # the same profile's capture period
}
# ECS21a TWIN_SUCCESS is the SINGLE command but for its counter: it is
# answered with this meter's single-element entries; the check sees the
# reference's results and (encrypted) data shape, the twin plaintext is not
# reproduced (test_uc_read.py test_ecs21a_twin_command_...).
ABSENT_VARIANTS = {("ECS39a", "TWIN_SUCCESS"): (12,)}   # a twin meter's 26-octet MPxN pair


def _absent(v, resp):
    """The result codes an absent object answers with, when v needs one and
    the meter's results differ from the reference's (an ERROR vector's
    fault before the absent object makes them equal); else None."""
    codes = ABSENT_VARIANTS.get((v["use_case"], v["variant"])) or ABSENT.get(v["use_case"])
    if codes and resp is not None and (
            G.parse(resp)["dlms"]["results"] != rtds.reference(v)["dlms"]["results"]):
        return codes
    return None


@pytest.mark.parametrize("v", VECS, ids=rtds.vid)
def test_rtds_command(tmp_path, v):
    """The command is authenticated and answered with the reference's
    relations, results and data shapes (byte for byte where the vector is
    MACed, the response carries no state-dependent data, and the meter's
    state matches)."""
    b = rtds.meter(tmp_path)
    rtds.prepare(b, v)
    resp = rtds.run(b, v)
    codes = _absent(v, resp)
    if codes:
        rtds.check_absent(v, resp, codes)
        return
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
    ks = G.keystore_json()
    sub = _subset()
    lines = ["%s %s %d %d %s\n" % ((rtds.vid(v), rtds.state_token(v)) +
                                    (rtds.failing_instruction(v) or (-1, 0)) +
                                    (rtds.message(v["command_file"]).hex(),)) for v in sub]
    inp = {"config": rtds.CFG, "utc": rtds.T2015, "keystore": ks}
    (tmp_path / "in.json").write_text(json.dumps(inp))
    out = {"cpython": "", "micropython": ""}
    # a process per 8 vectors: a board runs one use case at a time, not
    # every group's modules at once in one heap
    for c in range(0, len(lines), 8):
        vp = tmp_path / ("vectors%d.txt" % c)
        vp.write_text("".join(lines[c:c + 8]))
        for rt in out:
            d = tmp_path / ("%s%d" % (rt, c))
            d.mkdir()
            out[rt] += run_script(rt, "rtds_vectors.py", str(d), str(tmp_path / "in.json"),
                                  str(vp), preload="firmware.meter")
    assert out["micropython"] == out["cpython"]
    got = dict(l.split()[:2] for l in out["cpython"].splitlines() if not l.startswith(" "))
    assert len(got) == len(sub)
    for v in sub:                      # and each one as the CPython test checks it
        r = bytes.fromhex(got[rtds.vid(v)])
        if _absent(v, r):
            rtds.check_absent(v, r, _absent(v, r))
        else:
            rtds.check(v, r)
