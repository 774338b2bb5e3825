"""The C crypto core as a MicroPython native module (lib/esmecrypto/natmod)
in the pinned unix port: the crypto vectors and the top-up scenarios through
it. NEEDS A BUILT MODULE: CI cannot build it (MicroPython's native-module
linker, tools/mpy_ld.py, is in no registry package), so these tests skip
unless build/natmod/esmecrypto.mpy (or the file named by the environment
variable ESMECRYPTO_MPY) is an x64 native module, built as lib/README.md says:

    make -C lib/esmecrypto/natmod MPY_DIR=/path/to/micropython ARCH=x64
    mkdir -p build/natmod && cp lib/esmecrypto/natmod/build/x64/esmecrypto.mpy build/natmod/
"""
import json
import os
import shutil
import subprocess

import pytest

from runtimes import ROOT, MP_DIR, micropython_exe, micropython_args
from tools import cavp

MPY = os.environ.get("ESMECRYPTO_MPY") or os.path.join(ROOT, "build", "natmod", "esmecrypto.mpy")
_X64 = 2                  # native architecture number of x64 in the .mpy header


def _usable():
    if not os.path.exists(MPY):
        return "no native module at %s (see this file's docstring)" % MPY
    with open(MPY, "rb") as f:
        head = f.read(4)
    if len(head) < 4 or head[0] != ord("M") or head[1] != 6 or (head[2] >> 2) & 0x0F != _X64:
        return "%s is not an x64 native module of .mpy version 6" % MPY
    return None


pytestmark = pytest.mark.skipif(_usable() is not None, reason=str(_usable()))


@pytest.fixture(scope="module")
def natdir(tmp_path_factory):
    """A directory holding only esmecrypto.mpy, for MICROPYPATH."""
    d = tmp_path_factory.mktemp("natmod")
    shutil.copy(MPY, str(d / "esmecrypto.mpy"))
    return str(d)


def run_mp(natdir, script, *args, preload=None):
    cmd = micropython_args(micropython_exe(), preload) + [script] + list(args)
    env = dict(os.environ, MICROPYPATH=".frozen:" + MP_DIR + ":" + natdir)
    p = subprocess.run(cmd, cwd=MP_DIR, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_native_module_passes_the_vectors(natdir, tmp_path):
    """Every CAVP GCM encrypt case (both directions), the failing decrypts,
    SigVer, SigGen, the KAS ECC Z vectors and the GBCS §18.4 values, through
    firmware.crypto with the native module underneath."""
    hx = bytes.hex
    gcm = list(cavp.gcm("encrypt"))
    gfail = [x for x in cavp.gcm("decrypt") if not x[-1]]
    data = {
        "gcm": [[hx(k), hx(iv), hx(a), hx(p), hx(c), hx(t)] for k, iv, a, p, c, t, _ in gcm],
        "gcm_fail": [[hx(k), hx(iv), hx(a), hx(c), hx(t)] for k, iv, a, p, c, t, _ in gfail],
        "sigver": [[hx(q), hx(d), hx(s), v] for q, d, s, v in cavp.ecdsa_sigver()],
        "siggen": [[hx(a), hx(b), hx(c), hx(d), hx(e)] for a, b, c, d, e in cavp.ecdsa_siggen()],
        "ecdh": [[hx(a), hx(b), hx(c), v] for a, b, c, v in cavp.ecdh()],
        "gbcs": json.load(open(os.path.join(ROOT, "host_tests", "vectors", "gbcs-18.4.json"))),
    }
    # the board heap holds a slice of the vectors at a time: one run per slice
    parts = 1 + len(json.dumps(data)) // 12000
    ok = 0
    for i in range(parts):
        part = {k: (v if k == "gbcs" else v[i::parts]) for k, v in data.items()}
        path = tmp_path / ("v%d.json" % i)
        path.write_text(json.dumps(part))
        n = (2 * len(part["gcm"]) + len(part["gcm_fail"]) + len(part["sigver"]) +
             2 * len(part["siggen"]) + len(part["ecdh"]) + 5)
        assert run_mp(natdir, "crypto_vectors.py", str(path)) == "native ok %d fail 0\n" % n
        ok += n
    assert ok == (2 * len(gcm) + len(gfail) + len(data["sigver"]) + 2 * len(data["siggen"]) +
                  len(data["ecdh"]) + 5 * parts)


# scenarios that top up with UTRNs (their MACs: gmac through firmware.crypto)
TOPUP = ["prepay-day.json", "prepay-modes.json"]


@pytest.mark.parametrize("name", TOPUP)
def test_topup_scenarios_through_the_native_module(name, natdir, tmp_path, monkeypatch):
    from tools import meterlink
    from tools.bench.runner import run_file, comparable
    base = meterlink.runtime_cmd

    def with_natmod(runtime):
        cmd, env = base(runtime)
        if runtime == "micropython":
            env = dict(env, MICROPYPATH=env["MICROPYPATH"] + ":" + natdir)
        return cmd, env
    # the virtual board's own command and path pick the native module up
    cmd, env = with_natmod("micropython")
    probe = tmp_path / "probe.py"
    probe.write_text("import firmware.crypto as C\nprint(C.NATIVE)\n")
    cmd = cmd[:cmd.index("-m")] + [str(probe)]
    p = subprocess.run(cmd, cwd=env["_CWD"], env=dict(os.environ, MICROPYPATH=env["MICROPYPATH"]),
                       capture_output=True, text=True, timeout=120)
    assert p.stdout == "True\n", p.stdout + p.stderr
    path = os.path.join(ROOT, "scenarios", name)
    cpy = run_file(path, "cpython", str(tmp_path / "c"))
    monkeypatch.setattr(meterlink, "runtime_cmd", with_natmod)
    mpy = run_file(path, "micropython", str(tmp_path / "m"))
    assert cpy["failures"] == [] and mpy["failures"] == [], (cpy["failures"], mpy["failures"])
    assert comparable(cpy) == comparable(mpy)


def test_module_header_is_what_the_port_loads():
    """The module's .mpy header: version 6, x64, the sub-version the port
    reports (sys.implementation._mpy)."""
    out = subprocess.run([micropython_exe(), "-c", "import sys; print(sys.implementation._mpy)"],
                         capture_output=True, text=True, check=True).stdout
    sys_mpy = int(out)
    with open(MPY, "rb") as f:
        head = f.read(4)
    assert head[1] == sys_mpy & 0xFF and head[2] & 3 == (sys_mpy >> 8) & 3
