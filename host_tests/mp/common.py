# Shared set-up for the differential scripts: the same meter on simulated
# hardware, on whichever runtime runs the script.
import sys

from firmware.meter import Meter, Platform
from firmware.platform.clock import SimClock
from firmware.platform.store import Store, FileBackend
from firmware.platform.metrology import SimMetrology
from firmware.platform.hw import Relay, Button, Display

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


def make_meter(store_dir, utc=T0, config=None):
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
