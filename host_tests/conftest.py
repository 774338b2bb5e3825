import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from firmware.meter import Meter, Platform                      # noqa: E402
from firmware.platform.store import Store, FileBackend          # noqa: E402
from firmware.platform.metrology import SimMetrology            # noqa: E402
from firmware.platform.hw import Display                        # noqa: E402
from firmware.platform.metrology import SimClock, Relay, Button  # noqa: E402
from firmware.zcl import aps as A                               # noqa: E402
from tools import zcl_host as Z                                 # noqa: E402

T0 = 820454400   # 2026-01-01T00:00:00Z as ZigBee UTC
HUB = 0x0000
METER = 0x4E21


class Bench:
    """An in-process meter on simulated hardware, with helpers to talk ZCL."""

    def __init__(self, store_dir, config=None, utc=T0):
        self.store_dir = store_dir
        self.config = config
        self.clock = SimClock(utc)
        self.sent = []
        self.seq = 0x20
        self.boot()

    def boot(self):
        self.backend = FileBackend(self.store_dir)
        relay = Relay()
        self.metrology = SimMetrology(0, None, relay)   # an open contactor stops the load
        self.plat = Platform(self.clock, Store(self.backend), self.metrology, relay,
                             Button(), Display(), self.sent.append)
        self.meter = Meter(self.plat, self.config)
        self.meter.boot()

    def restart(self):
        """Power cycle: a new meter object on the same storage and RTC."""
        self.clock.up = 0
        self.boot()

    def tick(self, n=1):
        for _ in range(n):
            self.clock.advance(1)
            self.meter.tick()

    def take(self):
        out, self.sent[:] = list(self.sent), []
        return out

    def send(self, cluster, payload, secured=True, ep=1, dst=METER, src=HUB):
        self.sent[:] = []
        self.meter.on_aps(A.Aps(src, 1, dst, ep, A.PROFILE_SE, cluster, payload, secured))
        return self.take()

    def glob(self, cluster, cmd, args=None, **kw):
        cls, cid = Z.cluster_by_name(cluster)
        self.seq += 1
        hdr = {k: kw.pop(k) for k in ("ddr", "manuf") if k in kw}
        pl = Z.build_global(cls, cmd, args or {}, self.seq, False, hdr.get("ddr", False),
                            hdr.get("manuf"))
        return self.send(cid, pl, **kw)

    def cmd(self, cluster, cmd, fields=None, ddr=False, **kw):
        cls, cid = Z.cluster_by_name(cluster)
        self.seq += 1
        pl = Z.build_cluster_cmd(cls, cmd, fields or {}, self.seq, False, ddr)
        return self.send(cid, pl, **kw)


def decoded(frames):
    return [Z.decode_frame(f.cluster, f.payload, f.profile) for f in frames]


@pytest.fixture
def bench(tmp_path):
    return Bench(str(tmp_path / "store"))


@pytest.fixture
def make_bench(tmp_path):
    def make(config=None, utc=T0, name="store"):
        return Bench(str(tmp_path / name), config, utc)
    return make
