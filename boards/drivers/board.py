# A board's meter: the drivers built from the board's pin map (its pins.py),
# the frozen link loop (firmware/control.py, unchanged) and a watchdog.
#
#   boot.py:  from drivers import board; board.boot(pins)   safe mode? store on littlefs?
#   main.py:  from drivers import board; board.start(pins)  the meter, for ever
#
# Safe mode: the consumer button held for pins.SAFE_HOLD_MS while boot.py
# runs (press it right after reset), or a store that is not on littlefs:
# the meter, its watchdog and its drivers are not started, the REPL stays
# free for mpremote (docs/bench-guide.md). Relays keep their positions
# (latching), so the supply is as the meter left it.
#
# The board's housekeeping runs in the HAN link's idle hook (HanUart.wait
# calls it every few ms while the link is quiet, outside the meter's tick):
# feed the watchdog, sample the button, redraw the display once a second.
import gc
import json
import machine

from .rtcclock import RtcClock
from .hanuart import HanUart
from .button import Button, held
from .relay import LatchingRelay, LevelSwitches

SAFE = None                  # set by boot(): True = do not start the meter


def _pin(name, mode, pull=None):
    return machine.Pin(name, mode, pull) if pull is not None else machine.Pin(name, mode)


def _kw(pins, **names):
    """Pin keyword arguments for a bus whose pins the board routes (esp32's
    GPIO matrix: tx=, sck=...): those pins.py gives; none on stm32."""
    kw = {}
    for k, attr in names.items():
        v = getattr(pins, attr, None)
        if v is not None:
            kw[k] = machine.Pin(v)
    return kw


def boot(pins, vfs=None):
    """boot.py: decide safe mode. True = safe mode (the meter stays off)."""
    global SAFE
    b = _pin(pins.BUTTON, machine.Pin.IN, machine.Pin.PULL_UP)
    SAFE = held(b, pins.SAFE_HOLD_MS, pins.BUTTON_ACTIVE)
    why = "button held"
    if not SAFE and vfs is not None:
        from .flashfs import kind
        k = kind(vfs, pins.STORE)
        if k != "VfsLfs2":
            SAFE = True
            why = "store %s is on %s, not littlefs" % (pins.STORE, k)
    if SAFE:
        print("ESME safe mode (%s): meter not started" % why)
        if getattr(pins, "LED", None) is not None:
            _pin(pins.LED, machine.Pin.OUT).value(1)
    return SAFE


def metrology(pins):
    """The STPM3x on its bus; the pulse input when the IC does not answer
    at start (or none is fitted)."""
    from .stpm3x import Stpm3x, SpiBus, UartBus
    m = None
    if getattr(pins, "STPM_SPI", None) is not None:
        spi = machine.SPI(pins.STPM_SPI, baudrate=pins.STPM_BAUD, polarity=1, phase=1,
                          **_kw(pins, sck="STPM_SCK", mosi="STPM_MOSI", miso="STPM_MISO"))
        bus = SpiBus(spi, _pin(pins.STPM_CS, machine.Pin.OUT))
    elif getattr(pins, "STPM_UART", None) is not None:
        bus = UartBus(machine.UART(pins.STPM_UART, pins.STPM_BAUD, timeout=20,
                                   **_kw(pins, tx="STPM_TX", rx="STPM_RX")))
    else:
        bus = None
    if bus is not None:
        en = _pin(pins.STPM_EN, machine.Pin.OUT) if pins.STPM_EN is not None else None
        m = Stpm3x(bus, pins.STPM_P_FULL_W, en, pins.STPM_CONFIG)
        if m.start():
            return m
        print("STPM3x not answering: pulse input")
    if pins.PULSE is not None:
        from .pulse import PulseMetrology
        p = _pin(pins.PULSE, machine.Pin.IN, machine.Pin.PULL_UP)
        return PulseMetrology(p, pins.PULSE_IMP_KWH, trigger=machine.Pin.IRQ_FALLING)
    return m                 # an IC that may come back: its misses are counted


class Housekeeping:
    """The idle hook: watchdog, button, display."""

    def __init__(self, clock, button, display, wdt):
        self.clock = clock
        self.button = button
        self.display = display
        self.wdt = wdt
        self.meter = None
        self._shown = -1

    def __call__(self):
        if self.wdt is not None:
            self.wdt.feed()
        self.button.poll()
        m = self.clock.up            # last monotonic second counted (no read of the timer)
        # the meter is set once built; the hook runs only after its boot
        if m != self._shown and self.meter is not None and self.display is not None:
            self._shown = m
            self.display.show(self.meter.display_text())


def build(pins, config=None):
    """Every driver and the meter, wired; returns (control, housekeeping).
    The application is imported here, after start()'s OTA boot selector."""
    from firmware.control import Control
    from firmware.meter import Meter, Platform
    from firmware.platform.store import Store, FileBackend
    clock = RtcClock(machine.RTC())
    button = Button(_pin(pins.BUTTON, machine.Pin.IN, machine.Pin.PULL_UP), pins.BUTTON_ACTIVE)
    display = None
    if getattr(pins, "I2C", None) is not None:
        from .ssd1306 import Ssd1306
        display = Ssd1306(machine.I2C(pins.I2C, freq=400000,
                                      **_kw(pins, scl="I2C_SCL", sda="I2C_SDA")), pins.DISPLAY_H)
    else:
        from firmware.platform.hw import Display
        display = Display()
    relay = LatchingRelay(_pin(pins.RELAY_ON, machine.Pin.OUT),
                          _pin(pins.RELAY_OFF, machine.Pin.OUT) if pins.RELAY_OFF is not None
                          else None,
                          _pin(pins.RELAY_PULSE, machine.Pin.OUT) if pins.RELAY_OFF is None
                          else None)
    aux = LevelSwitches([_pin(p, machine.Pin.OUT) for p in pins.AUX])
    met = metrology(pins)
    hk = Housekeeping(clock, button, display if hasattr(display, "show") else None, None)
    # rxbuf: a whole frame (hanlink.MAX_LEN 606 octets) waits in the driver
    # while the loop ticks the meter or redraws the display (~25 ms for a
    # 1 KB I2C frame: ~290 octets at 115200 baud)
    io = HanUart(machine.UART(pins.HAN_UART, pins.HAN_BAUD, timeout=0, rxbuf=1024,
                              **_kw(pins, tx="HAN_TX", rx="HAN_RX")), hk)
    ctl = Control(io, clock)
    ctl.meter = Meter(Platform(clock, Store(FileBackend(pins.STORE)), met, relay, button,
                               display, ctl.send_aps, aux), config)
    hk.meter = ctl.meter
    return ctl, hk


def config(path):
    """The meter's configuration (serial, keys, addresses: meter.default_config()
    keys) from a JSON file on the board, or None."""
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        return None


def start(pins):
    """main.py: the meter, until reset (nothing in safe mode)."""
    if SAFE or SAFE is None and boot(pins):
        return None
    # A/B activation (firmware/ota/README.md): the selected application
    # bundle first on the module path, before the application is imported;
    # one that fails to build resets the board and the next boot rolls it back
    import os
    app = None
    try:
        os.stat(pins.STORE + "/bootsel.0")     # a selector (store.py: its first save's slot)
    except OSError:
        pass
    else:
        from firmware.ota import client
        app = client.use(pins.STORE)
        client = None
    try:
        ctl, hk = build(pins, config(pins.CONFIG))
    except Exception as e:
        if app is None:
            raise
        print("ESME: application from %s failed: %r" % (app, e))
        machine.reset()
    gc.collect()
    hk.wdt = machine.WDT(timeout=pins.WDT_MS)    # from here on the loop must keep going
    ctl.run()
    return ctl
