# Stand-ins for MicroPython's machine module (and framebuf where the runtime
# has none) for the board-driver tests on both runtimes: install() puts
# this module in sys.modules as "machine" before the drivers are imported.
# Peripherals are plain objects the test drives: a pin's level, a UART's
# receive queue (loopback, or a peer answering what is written), I2C and SPI
# transfers, the RTC's tuple, the watchdog's feeds. Time is FakeTime (ms),
# patched into the driver modules as their ticks_ms / sleep_ms.
import sys


def install():
    sys.modules["machine"] = sys.modules[__name__]
    try:
        import framebuf          # noqa: F401  (MicroPython has it)
    except ImportError:
        sys.modules["framebuf"] = _FrameBufModule()


class FakeTime:
    """Milliseconds that move only when told (sleep_ms moves them too),
    wrapping at 2^30 as MicroPython's ticks_ms."""

    def __init__(self, ms=0):
        self.ms = ms
        self.on_sleep = None       # called on every sleep (a test's scripted world)

    def ticks_ms(self):
        return self.ms & 0x3FFFFFFF

    def sleep_ms(self, n):
        self.ms += n
        if self.on_sleep is not None:
            self.on_sleep(self.ms)

    def patch(self, *mods):
        for m in mods:
            if hasattr(m, "ticks_ms"):
                m.ticks_ms = self.ticks_ms
            if hasattr(m, "sleep_ms"):
                m.sleep_ms = self.sleep_ms


class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    IRQ_FALLING = 2
    IRQ_RISING = 1
    level = {}                     # id -> level (shared by every Pin of that id)
    log = {}                       # id -> levels written, in order
    irqs = {}                      # id -> handler

    def __init__(self, id, mode=-1, pull=-1):
        self.id = id
        if id not in Pin.level:
            Pin.level[id] = 1 if pull == Pin.PULL_UP else 0

    def value(self, v=None):
        if v is None:
            return Pin.level[self.id]
        Pin.level[self.id] = v
        Pin.log.setdefault(self.id, []).append(v)

    def irq(self, handler=None, trigger=None):
        Pin.irqs[self.id] = handler

    @staticmethod
    def fire(id):
        Pin.irqs[id](Pin(id))

    @staticmethod
    def reset():
        Pin.level = {}
        Pin.log = {}
        Pin.irqs = {}


class UART:
    ports = {}

    def __init__(self, id, baudrate=9600, timeout=0, **kw):
        self.id = id
        self.rx = bytearray()
        self.peer = None           # peer(uart, data): answers what is written; None: loopback
        self.sent = bytearray()    # what was written (None: not kept)
        UART.ports[id] = self

    def any(self):
        return len(self.rx)

    def readinto(self, buf, n=None):
        n = len(buf) if n is None else min(n, len(buf))
        k = min(n, len(self.rx))
        if not k:
            return None            # the timeout ran out with nothing
        buf[:k] = self.rx[:k]
        self.rx = self.rx[k:]
        return k

    def write(self, b):
        b = bytes(b)
        if self.sent is not None:
            self.sent.extend(b)
        if self.peer is not None:
            self.peer(self, b)
        else:
            self.rx.extend(b)
        return len(b)


class SPI:
    default_peer = None            # the peer of SPI buses made from now on

    def __init__(self, id, baudrate=1000000, polarity=0, phase=0, **kw):
        self.peer = SPI.default_peer   # peer(tx) -> the octets clocked in; None: MISO low
        SPI.last = self

    def write_readinto(self, tx, rx):
        out = self.peer(bytes(tx)) if self.peer is not None else bytes(len(rx))
        for i in range(len(rx)):
            rx[i] = out[i]


class I2C:
    def __init__(self, id, freq=400000, **kw):
        self.writes = []
        I2C.last = self

    def writeto(self, addr, buf):
        """Kept as (address, first octet, length): a display frame is 1 KB."""
        self.writes.append((addr, buf[0], len(buf)))
        return 1


class RTC:
    now = (2026, 12, 2, 3, 5, 0, 0, 0)
    sets = 0

    def datetime(self, t=None):
        if t is None:
            return RTC.now
        RTC.now = tuple(t)
        RTC.sets += 1


class WDT:
    feeds = 0
    timeout = None

    def __init__(self, id=0, timeout=5000):
        WDT.timeout = timeout

    def feed(self):
        WDT.feeds += 1


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


class _FrameBuf:
    def __init__(self, buf, w, h, fmt):
        self.buf = buf
        self.drawn = []

    def fill(self, c):
        self.drawn = []

    def text(self, s, x, y, c=1):
        self.drawn.append(s)


class _FrameBufModule:
    MONO_VLSB = 0
    FrameBuffer = _FrameBuf
