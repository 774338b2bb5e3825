"""Deployment (docs/deploy.md): a board's bundle (tools/mpy_build.build_bundle),
copied with mpremote onto the virtual board with a REPL on loopback
(tools/vrepl.py) only where it changed, then a scenario on the deployed
meter, against the same scenario on the normal virtual board."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from runtimes import ROOT
from tools import deploy as D
from tools import mpy_build as MB
from tools.bench.runner import ACTIONS, comparable, meter_config, provision_gbcs, run_file
from tools.bench.scenario import load

SCENARIO = os.path.join(ROOT, "scenarios", "zcl-conformance.json")
GBCS_SCENARIO = os.path.join(ROOT, "scenarios", "gbcs-use-cases.json")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def flash_hashes(flash):
    out = {}
    for d, _, names in os.walk(flash):
        for n in names:
            p = os.path.join(d, n)
            out[os.path.relpath(p, flash).replace(os.sep, "/")] = MB.sha256_file(p)
    return out


# -- the bundle -----------------------------------------------------------------
def test_virtual_bundle_holds_the_firmware_its_drivers_and_main(tmp_path):
    info = MB.build_bundle("VIRTUAL", str(tmp_path / "b"))
    files = info["files"]
    want = {r[:-3] + ".mpy" for r in MB.sources() if r not in MB.FS_ONLY} | {"main.py"}
    # the GBCS use-case modules in gbcs_uc/, as on a board (firmware/gbcs/cosem.py module)
    want |= {MB.FS_DIR + "/" + r.split("/")[-1][:-3] + ".mpy" for r in MB.FS_ONLY}
    assert set(files) == want                   # vboard.mpy included: its drivers
    assert (info["board"], info["arch"], info["opt"]) == ("VIRTUAL", "x64", MB.OPT)
    assert info["native"]["included"] is False and "x64" in info["native"]["why_not"]
    for rel, f in files.items():
        p = str(tmp_path / "b" / rel)
        assert MB.sha256_file(p) == f["sha256"] and os.path.getsize(p) == f["size"]
    with open(str(tmp_path / "b" / "main.py")) as f:     # main.py stays source
        assert f.read() == open(os.path.join(ROOT, MB.VBOARD_MAIN)).read()
    with open(str(tmp_path / "b" / "firmware" / "meter.mpy"), "rb") as f:
        assert MB.mpy_arch(f.read(4)) == 0       # bytecode only
    # built again: the same bytes (deploy copies nothing that did not change)
    again = MB.build_bundle("x64", str(tmp_path / "c"))
    assert again["files"] == files


def test_board_bundle_is_the_frozen_set_plus_boards_files(tmp_path, monkeypatch):
    """boards/drivers/*.py go to drivers/ compiled, boards/BOARD/*.py to the
    root compiled except main.py and boot.py, never manifest.py; host-only
    modules stay out."""
    root = tmp_path / "root"
    (root / "boards" / "drivers").mkdir(parents=True)
    (root / "boards" / "NUCLEO_WB55").mkdir()
    os.symlink(os.path.join(ROOT, "firmware"), str(root / "firmware"))
    for rel in ("boards/drivers/stpm3x.py", "boards/NUCLEO_WB55/pins.py",
                "boards/NUCLEO_WB55/main.py", "boards/NUCLEO_WB55/boot.py",
                "boards/NUCLEO_WB55/manifest.py"):
        (root / rel).write_text("X = 1\n")
    monkeypatch.setattr(MB, "ROOT", str(root))
    info = MB.build_bundle("armv7emsp", str(tmp_path / "b"))
    files = set(info["files"])
    frozen = {r[:-3] + ".mpy" for r in MB.frozen_set()}
    # the GBCS use-case modules go to gbcs_uc/ (not frozen on a board)
    uc = {MB.FS_DIR + "/" + r.split("/")[-1][:-3] + ".mpy" for r in MB.FS_ONLY}
    pure = {r[:-3] + ".mpy" for r in MB.PURE_CRYPTO}
    # no native crypto module in this bundle: the pure-Python core goes with it
    assert files == frozen | uc | pure | {"drivers/stpm3x.mpy", "pins.mpy", "main.py", "boot.py"}
    assert "firmware/vboard.mpy" not in files
    assert (tmp_path / "b" / "main.py").read_text() == "X = 1\n"
    assert info["board"] == "NUCLEO_WB55"


def test_native_module_is_taken_only_for_its_arch(tmp_path):
    nat = tmp_path / "esmecrypto.mpy"
    nat.write_bytes(bytes((0x4D, 6, (MB.MPY_ARCH["armv7emsp"] << 2) | 3, 0x1F)) + b"\0" * 60)
    info = MB.build_bundle("NUCLEO_WB55", str(tmp_path / "b"), natmod=str(nat))
    assert info["native"]["included"] is True and info["files"]["esmecrypto.mpy"]["size"] == 64
    assert not any(r[:-3] + ".mpy" in info["files"] for r in MB.PURE_CRYPTO)   # native: no fallback
    with pytest.raises(ValueError, match="not x64"):
        MB.build_bundle("VIRTUAL", str(tmp_path / "c"), natmod=str(nat))
    nat.write_bytes(b"not an mpy")
    with pytest.raises(ValueError, match="not a v6"):
        MB.build_bundle("NUCLEO_WB55", str(tmp_path / "d"), natmod=str(nat))
    with pytest.raises(ValueError, match="unknown board"):
        MB.build_bundle("PYBV11", str(tmp_path / "e"))


# -- the virtual board ------------------------------------------------------------
@pytest.fixture
def vboard(tmp_path):
    port = free_port()
    flash = str(tmp_path / "flash")
    proc = D.start_vboard(port, flash, str(tmp_path / "vboard.log"))
    yield "socket://127.0.0.1:%d" % port, flash, proc
    proc.kill()
    proc.wait()


def test_friendly_repl_answers_on_the_socket(vboard):
    url, flash, _ = vboard
    s = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=10)
    s.sendall(b"\x02")                 # Ctrl-B: the banner
    s.sendall(b"6*7\r")
    s.sendall(b"import os\rprint(os.getcwd())\r")
    data = b""
    deadline = time.time() + 10
    while flash.encode() not in data and time.time() < deadline:
        data += s.recv(4096)
    s.close()
    assert b"OpenESME virtual board" in data and b"42\r\n" in data
    assert flash.encode() in data          # runs from its flash directory


def link_listens(port, within=15):
    """The deployed main.py serves the meter's link (a connection that
    closes at once is a power-on that ends at once)."""
    deadline = time.time() + within
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def test_deploy_copies_what_changed_and_the_deployed_meter_runs_a_scenario(vboard, tmp_path):
    url, flash, proc = vboard
    bundle = str(tmp_path / "bundle")
    info = MB.build_bundle("VIRTUAL", bundle)
    sc = load(SCENARIO, ACTIONS)
    link = free_port()
    cfg = {"link": link, "utc": sc["start_utc"], "store": "probe",
           "config": meter_config(sc.get("config"))}
    D.put_file(url, "vboard.json", json.dumps(cfg).encode())
    logs = []
    t0 = time.time()
    first = D.deploy(url, bundle, log=logs.append)
    t_first = time.time() - t0
    assert sorted(first["copied"]) == sorted(info["files"]) and first["unchanged"] == []
    on_board = flash_hashes(flash)
    for rel, f in info["files"].items():
        assert on_board[rel] == f["sha256"], rel
    assert on_board[MB.MANIFEST] == MB.sha256_file(os.path.join(bundle, MB.MANIFEST))
    assert not [r for r in on_board if r.endswith(".tmp")]
    assert link_listens(link)              # the soft reset ran main.py: the meter is up

    # deploying again interrupts the running meter (Ctrl-C) and copies nothing
    t0 = time.time()
    second = D.deploy(url, bundle, log=logs.append)
    t_second = time.time() - t0
    assert second["copied"] == [] and second["removed"] == []
    assert sorted(second["unchanged"]) == sorted(info["files"])
    assert link_listens(link)

    # one file changed, one no longer in the bundle
    changed = str(tmp_path / "changed")
    shutil.copytree(bundle, changed)
    with open(os.path.join(changed, "main.py"), "a") as f:
        f.write("# changed\n")
    (tmp_path / "changed" / "extra.txt").write_text("x")
    MB.write_manifest(changed, {k: v for k, v in info.items() if k != "files"})
    third = D.deploy(url, changed, log=logs.append)
    assert sorted(third["copied"]) == ["extra.txt", "main.py"]
    assert flash_hashes(flash)["main.py"] == MB.sha256_file(os.path.join(changed, "main.py"))
    fourth = D.deploy(url, bundle, log=logs.append)
    assert fourth["copied"] == ["main.py"] and fourth["removed"] == ["extra.txt"]
    assert not os.path.exists(os.path.join(flash, "extra.txt"))
    print("deploy: %.1f s first (%d files), %.1f s unchanged" % (
        t_first, len(info["files"]), t_second))

    # the deployed meter: its link port and clock from /vboard.json, a fresh store
    cfg["store"] = "store"
    D.put_file(url, "vboard.json", json.dumps(cfg).encode(), reset=True)
    assert proc.poll() is None
    deployed = run_file(SCENARIO, "micropython", str(tmp_path / "deployed"),
                        port="socket://127.0.0.1:%d" % link)
    assert deployed["runtime"] == "board:socket://127.0.0.1:%d" % link
    assert deployed["failures"] == [] and deployed["expectations"]["failed"] == 0
    assert os.listdir(os.path.join(flash, "store"))        # its records on its flash
    normal = run_file(SCENARIO, "micropython", str(tmp_path / "normal"))
    assert comparable(deployed) == comparable(normal)

    # GBCS use cases on the deployed meter: their modules are not in
    # firmware/ but in gbcs_uc/, as on a board whose image freezes the rest
    # (firmware/gbcs/cosem.py module): each command imports its group's
    # module from there and drops it after its response
    assert not os.path.exists(os.path.join(flash, "firmware", "gbcs", "uc_tariff.mpy"))
    sc = load(GBCS_SCENARIO, ACTIONS)
    cfg.update(utc=sc["start_utc"], store="store-gbcs", config=meter_config(sc.get("config")))
    provision_gbcs(os.path.join(flash, "store-gbcs"), "rtds")     # as a factory would
    D.put_file(url, "vboard.json", json.dumps(cfg).encode(), reset=True)
    g = run_file(GBCS_SCENARIO, "micropython", str(tmp_path / "gbcs"),
                 port="socket://127.0.0.1:%d" % link)
    assert g["failures"] == [] and g["expectations"]["failed"] == 0
    assert g["expectations"]["passed"] == run_file(
        GBCS_SCENARIO, "micropython", str(tmp_path / "gbcs-normal"))["expectations"]["passed"]


def test_wrong_arch_and_tampered_bundles_are_refused(vboard, tmp_path):
    url, flash, _ = vboard
    wb55 = str(tmp_path / "wb55")
    MB.build_bundle("NUCLEO_WB55", wb55)
    with pytest.raises(D.DeployError, match="bundle is for armv7emsp"):
        D.deploy(url, wb55, log=lambda s: None)
    vb = str(tmp_path / "vb")
    MB.build_bundle("VIRTUAL", vb)
    with open(os.path.join(vb, "main.py"), "a") as f:
        f.write("# edited after the build\n")
    with pytest.raises(D.DeployError, match="main.py differs"):
        D.deploy(url, vb, log=lambda s: None)
    assert not os.path.exists(os.path.join(flash, "main.py"))   # nothing copied


def test_a_port_that_does_not_answer_is_a_clear_error_not_a_hang(tmp_path):
    # nothing listening
    port = free_port()
    t0 = time.time()
    with pytest.raises(D.DeployError, match="cannot open"):
        D.deploy("socket://127.0.0.1:%d" % port, log=lambda s: None)
    # listening, but silent (not a MicroPython REPL)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    try:
        with pytest.raises(D.DeployError, match="did not answer as a MicroPython REPL within 2 s"):
            D.deploy("socket://127.0.0.1:%d" % srv.getsockname()[1], timeout=2,
                     log=lambda s: None)
    finally:
        srv.close()
    assert time.time() - t0 < 10
    p = subprocess.run([sys.executable, "-m", "tools.deploy", "deploy", "--port",
                        "socket://127.0.0.1:%d" % port], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode != 0 and "deploy: cannot open socket://" in p.stderr


def test_a_board_with_the_application_frozen_gets_only_its_own_files(vboard, tmp_path,
                                                                    monkeypatch):
    """On an image built with the project's manifest, firmware/ on the
    filesystem would shadow the frozen modules: it is not deployed, and a
    previous deployment's copy is removed with its directories; the GBCS
    use-case modules (gbcs_uc/, not frozen) stay."""
    url, flash, _ = vboard
    bundle = str(tmp_path / "b")
    info = MB.build_bundle("VIRTUAL", bundle)
    D.deploy(url, bundle, reset=False, log=lambda s: None)
    assert os.path.isdir(os.path.join(flash, "firmware", "zcl"))
    monkeypatch.setattr(D.Board, "frozen_app", lambda self: True)
    res = D.deploy(url, bundle, reset=False, log=lambda s: None)
    assert res["frozen_app"] and res["copied"] == []
    assert sorted(res["removed"]) == sorted(k for k in info["files"] if k.startswith("firmware/"))
    assert not os.path.exists(os.path.join(flash, "firmware"))
    on_board = json.load(open(os.path.join(flash, MB.MANIFEST)))
    uc = {MB.FS_DIR + "/" + r.split("/")[-1][:-3] + ".mpy" for r in MB.FS_ONLY}
    assert on_board["frozen_app"] and set(on_board["files"]) == {"main.py"} | uc
    assert all(os.path.exists(os.path.join(flash, u)) for u in uc)
    again = D.deploy(url, bundle, reset=False, log=lambda s: None)
    assert again["copied"] == [] and again["removed"] == []
