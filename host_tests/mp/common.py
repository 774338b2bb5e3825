# Shared set-up for the differential scripts: the same meter on simulated
# hardware, on whichever runtime runs the script.
import gc
import sys
import time

T0 = 820454400


def hexs(b):
    return "".join("%02x" % x for x in b)


class Lcg:
    """Deterministic byte source identical on both runtimes."""

    def __init__(self, seed):
        self.s = seed

    def next(self, n=256):
        self.s = (self.s * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.s >> 8) % n


class EngineApp:
    """The services a tariff engine uses from the meter, for engine-only
    runs: logs and alerts kept in lists, and the meter's atomic-operation
    services (meter.py begin/end) with every record saved at once, as the
    meter does outside an operation. Set .store to the engine's store."""

    def __init__(self):
        self.event_log = None
        self.store = None
        self.logged = []
        self.alerts = []

    def log(self, which, code, value):
        self.logged.append((code, value))

    def alert(self, code):
        self.alerts.append(code)

    def begin(self):
        return False

    def end(self, h):
        pass

    def abort(self, h, key):
        pass

    def save_record(self, key, rec):
        self.store.save_parts(key, rec[0], rec[1], rec[2])


def make_meter(store_dir, utc=T0, config=None):
    # imported here so scripts that need no meter keep their heap (board size)
    from firmware.meter import Meter, Platform
    from firmware.platform.store import Store, FileBackend
    from firmware.platform.metrology import SimMetrology
    from firmware.platform.hw import Display
    from firmware.platform.metrology import SimClock, Relay, Button
    out = []
    clock = SimClock(utc)
    backend = FileBackend(store_dir)
    met = SimMetrology()
    m = Meter(Platform(clock, Store(backend), met, Relay(), Button(), Display(), out.append),
              config)
    m.boot()
    return m, out, clock, met, backend


def store_dir():
    return sys.argv[1] if len(sys.argv) > 1 else "mp_store"


# Timing and heap helpers for the benchmark scripts (both runtimes).
try:
    us, us_diff = time.ticks_us, time.ticks_diff
except AttributeError:                     # CPython
    def us():
        return int(time.perf_counter() * 1000000)

    def us_diff(a, b):
        return a - b


def time_ticks(m, clock, ticks=2000, alloc_ticks=1000):
    """(microseconds per one-second tick, bytes allocated per tick; None on
    CPython) of a meter already in steady state."""
    t0 = us()
    for i in range(ticks):
        clock.advance(1)
        m.tick()
    tick_us = us_diff(us(), t0) / ticks
    gc.collect()
    try:
        gc.disable()
        a0 = gc.mem_alloc()
        for i in range(alloc_ticks):
            clock.advance(1)
            m.tick()
        per_tick = (gc.mem_alloc() - a0) / alloc_ticks
        gc.enable()
    except AttributeError:
        per_tick = None
    return tick_us, per_tick


def mem():
    """Heap bytes in use after a collection, less the ROMFS image and the
    interned names that stand in for the board's flash (None on CPython)."""
    gc.collect()
    try:
        used = gc.mem_alloc()
    except AttributeError:
        return None
    try:
        import _romfs
        used -= _romfs.size + _romfs.qstr
    except ImportError:
        pass
    return used


def nested_false_frames(depth):
    """Link bytes with a false SOF every 4 octets, each false frame ending
    where the outermost does, so every rescan finds the next one complete
    (the worst case for the HAN link's resynchronisation)."""
    n = 4 * depth + 8
    data = bytearray()
    for k in range(depth):
        ln = n - 4 * k - 6
        data += b"\x7e\xa5" + bytes((ln & 0xFF, ln >> 8))
    data += bytes(n - len(data))
    return bytes(data)


def topup(m, code, source=None):
    """A keyed-in top-up through the command surface (commands.top_up), as
    (reason, value credited): 0 and the value, or the UTRN reason and 0
    (the account's last_topup)."""
    from firmware import commands as C
    if source is None:
        C.top_up(m, code)
    else:
        C.top_up(m, code, source)
    return tuple(m.account.last_topup[:2])


class TariffNoRoom(ValueError):
    """A tariff load refused for lack of heap (commands NO_ROOM)."""


def tariff_load(m, doc, at=0):
    """A tariff load through the command surface (commands.load_tariff):
    the parts activated at once; a refusal raises ValueError with the
    command's reason (TariffNoRoom for NO_ROOM)."""
    from firmware import commands as C
    r = C.load_tariff(m, doc, at)
    if r:
        raise (TariffNoRoom if r == 3 else ValueError)(C.detail)
    return C.detail


def keystore_args(ks):
    """keystore.install arguments from the JSON tools/gbcs_host.keystore_json
    gives (hex on the host, bytes here)."""
    from binascii import unhexlify as unhex
    return (unhex(ks["entity"]), unhex(ks["ka_priv"]), unhex(ks["ds_priv"]),
            [(c[0], c[1], c[2], unhex(c[3]), unhex(c[4]), unhex(c[5])) for c in ks["cells"]],
            dict((unhex(k), unhex(v)) for k, v in ks["zs"].items()))
