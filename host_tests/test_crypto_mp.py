"""The pure-Python crypto fallback on the MicroPython unix port (board
heap), on a CAVP subset and the GBCS §18.4 vectors: same results as CPython."""
import json
import os

from runtimes import ROOT, run_script
from tools import cavp


def test_fallback_vectors_on_micropython(tmp_path):
    hx = bytes.hex
    gcm = [x for x in cavp.gcm("encrypt")][::150]
    gfail = [x for x in cavp.gcm("decrypt") if not x[-1]][::200]
    data = {
        "gcm": [[hx(k), hx(iv), hx(a), hx(p), hx(c), hx(t)] for k, iv, a, p, c, t, _ in gcm],
        "gcm_fail": [[hx(k), hx(iv), hx(a), hx(c), hx(t)] for k, iv, a, p, c, t, _ in gfail],
        "sigver": [[hx(q), hx(d), hx(s), v] for q, d, s, v in cavp.ecdsa_sigver()],
        "siggen": [[hx(a), hx(b), hx(c), hx(d), hx(e)] for a, b, c, d, e in list(cavp.ecdsa_siggen())[:5]],
        "ecdh": [[hx(a), hx(b), hx(c), v] for a, b, c, v in list(cavp.ecdh())[:10]],
        "gbcs": json.load(open(os.path.join(ROOT, "host_tests", "vectors", "gbcs-18.4.json"))),
    }
    path = tmp_path / "v.json"
    path.write_text(json.dumps(data))
    n = 2 * len(data["gcm"]) + len(data["gcm_fail"]) + 15 + 10 + 10 + 5
    mpy = run_script("micropython", "crypto_vectors.py", str(path))
    cpy = run_script("cpython", "crypto_vectors.py", str(path))
    assert mpy == cpy == "pure ok %d fail 0\n" % n
