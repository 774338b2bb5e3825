"""Power-safe store: a cut at any low-level write of a change leaves the old
or the new record, never a mix; corruption falls back to the good copy."""
import os
import struct
import zlib

import pytest

from conftest import Bench
from firmware.platform.store import Store, FileBackend, PowerCut


def count_writes(root, fn):
    b = FileBackend(root)
    s = Store(b)
    fn(s)
    return b.writes


def test_save_load_and_alternation(tmp_path):
    s = Store(FileBackend(str(tmp_path)))
    assert s.load("k") is None
    s.save("k", b"one")
    s.save("k", b"two")
    s.save("k", b"three")
    assert Store(FileBackend(str(tmp_path))).load("k") == b"three"
    assert sorted(os.listdir(tmp_path)) == ["k.0", "k.1"]


@pytest.mark.parametrize("new", [b"", b"x" * 5, b"y" * 40, bytes(range(200))])
def test_cut_at_every_write_gives_old_or_new(tmp_path, new):
    old = b"old-config-" * 3
    root = str(tmp_path / "probe")
    s = Store(FileBackend(root))
    s.save("cfg", old)
    b = s.backend
    before = b.writes
    s.save("cfg", new)
    n_writes = b.writes - before
    assert n_writes >= 2
    for cut in range(1, n_writes + 1):
        root = str(tmp_path / ("c%d" % cut))
        s = Store(FileBackend(root))
        s.save("cfg", old)
        s.save("cfg", old)         # both slots in use, as in service
        s.backend.cut_after(cut)
        with pytest.raises(PowerCut):
            s.save("cfg", new)
        got = Store(FileBackend(root)).load("cfg")
        assert got == old, (cut, got)   # the torn slot never wins
    # and without a cut the new value lands
    s = Store(FileBackend(str(tmp_path / "ok")))
    s.save("cfg", old)
    s.save("cfg", new)
    assert Store(FileBackend(str(tmp_path / "ok"))).load("cfg") == new


def test_corrupt_newest_slot_falls_back(tmp_path):
    s = Store(FileBackend(str(tmp_path)))
    s.save("k", b"good")
    s.save("k", b"newer")
    p = tmp_path / "k.1"
    raw = bytearray(p.read_bytes())
    raw[-1] ^= 0x40                   # a flipped bit in flash
    p.write_bytes(bytes(raw))
    s2 = Store(FileBackend(str(tmp_path)))
    assert s2.load("k") == b"good"
    assert s2.corrupt == 1
    s2.save("k", b"repaired")         # overwrites the bad slot, keeps the good one
    assert Store(FileBackend(str(tmp_path))).load("k") == b"repaired"


def test_garbage_files_are_ignored(tmp_path):
    (tmp_path / "k.0").write_bytes(b"MR")
    (tmp_path / "k.1").write_bytes(b"\x00" * 40)
    s = Store(FileBackend(str(tmp_path)))
    assert s.load("k") is None
    s.save("k", b"v")
    assert Store(FileBackend(str(tmp_path))).load("k") == b"v"


def test_sequence_wrap(tmp_path):
    s = Store(FileBackend(str(tmp_path)))
    s._seq["k"] = (0xFFFFFFFE, 1)
    s.save("k", b"a")                  # seq 0xFFFFFFFF in slot 0
    s.save("k", b"b")                  # seq wraps to 0 in slot 1
    assert Store(FileBackend(str(tmp_path))).load("k") == b"b"


def test_configuration_change_power_cut_every_write(tmp_path):
    """A meter-level configuration change (Configure Reporting) cut at every
    store write: after restart the meter has the old or the new table."""
    probe = Bench(str(tmp_path / "probe"))
    args = {"reports": [{"attribute": "InstantaneousDemand", "min": 1, "max": 60, "change": 10}]}
    probe.glob("Metering", "ConfigureReporting", args)
    new_args = {"reports": [{"attribute": "CurrentSummationDelivered", "min": 5, "max": 50,
                             "change": 1}]}
    w0 = probe.backend.writes
    probe.glob("Metering", "ConfigureReporting", new_args)
    n = probe.backend.writes - w0
    assert n >= 2
    outcomes = set()
    for cut in range(1, n + 1):
        b = Bench(str(tmp_path / ("m%d" % cut)))
        b.glob("Metering", "ConfigureReporting", args)
        b.backend.cut_after(cut)
        with pytest.raises(PowerCut):
            b.glob("Metering", "ConfigureReporting", new_args)
        b.restart()
        got = sorted((e.aid, e.min, e.max) for e in b.meter.reporting.entries)
        assert got in ([(0x0400, 1, 60)], [(0x0000, 5, 50), (0x0400, 1, 60)]), (cut, got)
        outcomes.add(tuple(got))
    assert len(outcomes) >= 1


def test_registers_lose_at_most_the_current_half_hour(tmp_path):
    b = Bench(str(tmp_path / "m"))
    b.metrology.load_w = 3600          # 1 Wh per second
    b.tick(2 * 1800 + 100)             # two half-hour saves, then 100 s more
    assert b.meter.import_wh == 3700
    b.restart()                        # power cut: no save on the way down
    lost = 3700 - b.meter.import_wh
    assert 0 <= lost < 1800
    assert b.meter.import_wh == 3600   # the :30 save (1 s of the last period
    # counts toward the next), so never double counted and never more lost


class CountingBackend(FileBackend):
    """Records the bytes each file receives (wear accounting)."""

    def __init__(self, root):
        FileBackend.__init__(self, root)
        self.bytes = {}
        self.calls = {}

    def _note(self, name, n):
        key = name.split(".")[0]
        self.bytes[key] = self.bytes.get(key, 0) + n
        self.calls[key] = self.calls.get(key, 0) + 1

    def write_parts(self, name, parts):
        self._note(name, sum(len(p) for p in parts))
        FileBackend.write_parts(self, name, parts)

    def write_at(self, name, off, data):
        self._note(name, len(data))
        FileBackend.write_at(self, name, off, data)


def flash_day(tmp_path, load_w=500):
    b = Bench(str(tmp_path / "m"))
    b.metrology.load_w = load_w
    b.tick(86400)                      # settle: first day's files exist
    cb = CountingBackend(b.store_dir)
    b.backend = cb
    b.meter.store.backend = cb
    for ring in (b.meter.profile.hh, b.meter.profile.daily):
        ring.backend = cb
    b.tick(86400)
    return cb


def test_flash_writes_per_day_are_bounded(tmp_path):
    cb = flash_day(tmp_path)
    # registers (with the tariff registers, sparse: ~60 octets and the
    # record header for a one-rate tariff): one save per half hour; profile:
    # one 4-octet record per half hour and one 8-octet midnight read; profile
    # state once a day (constant load: the maximum demand does not move)
    assert cb.calls["registers"] == 48
    assert cb.bytes["registers"] < 48 * 100
    assert cb.calls["prof_hh"] == 48 and cb.bytes["prof_hh"] == 48 * 4
    assert cb.calls["prof_day"] == 1 and cb.bytes["prof_day"] == 8
    assert cb.calls["profile"] == 1
    assert sum(cb.bytes.values()) < 5 * 1024


# -- owned, versioned records (store.py load_rec) ---------------------------------------------
def _dec(d):
    if len(d) != 4:
        raise ValueError("length")
    return struct.unpack("<I", d)[0]


def test_load_rec_schema_version_and_migration(tmp_path):
    s = Store(FileBackend(str(tmp_path)))
    s.save("k", struct.pack("<I", 7), 5, 2)
    assert Store(FileBackend(str(tmp_path))).load_rec("k", 5, 2, _dec) == 7
    assert Store(FileBackend(str(tmp_path))).load("k") is None        # typed: not untyped
    # a record of version 1 (u16) read by an owner at version 2 through its hook
    s.save("k", struct.pack("<H", 9), 5, 1)
    s2 = Store(FileBackend(str(tmp_path)))
    mig = {1: lambda b: struct.pack("<I", struct.unpack("<H", b)[0])}
    assert s2.load_rec("k", 5, 2, _dec, mig) == 9
    # without the hook, the version-1 slot is not readable: the older slot (7) is used
    s3 = Store(FileBackend(str(tmp_path)))
    assert s3.load_rec("k", 5, 2, _dec, {}) == 7 and s3.unreadable == []


def test_load_rec_falls_back_and_the_next_save_spares_the_good_slot(tmp_path):
    s = Store(FileBackend(str(tmp_path)))
    s.save("k", struct.pack("<I", 1), 5, 1)
    s.save("k", struct.pack("<I", 2) + b"x", 5, 1)       # CRC-good, one octet too long
    s2 = Store(FileBackend(str(tmp_path)))
    assert s2.load_rec("k", 5, 1, _dec) == 1
    s2.save("k", struct.pack("<I", 3), 5, 1)             # overwrites the unreadable slot
    assert Store(FileBackend(str(tmp_path))).load_rec("k", 5, 1, _dec) == 3
    s2.backend.cut_after(1)
    with pytest.raises(PowerCut):
        s2.save("k", struct.pack("<I", 4), 5, 1)         # torn: 3 stays
    assert Store(FileBackend(str(tmp_path))).load_rec("k", 5, 1, _dec) == 3


def test_load_rec_with_no_readable_slot_lists_the_key(tmp_path):
    s = Store(FileBackend(str(tmp_path)))
    s.save("k", b"\x01\x02", 5, 1)
    s.save("k", b"\x01\x02\x03", 6, 1)                  # another owner's schema
    s2 = Store(FileBackend(str(tmp_path)))
    assert s2.load_rec("k", 5, 1, _dec) is None and s2.unreadable == ["k"]
    assert s2.load_rec("absent", 5, 1, _dec) is None and s2.unreadable == ["k"]


def test_format_1_records_read_as_version_0(tmp_path):
    payload = struct.pack("<I", 42)
    c = zlib.crc32(struct.pack("<IH", 3, 4) + payload)
    (tmp_path / "k.0").write_bytes(struct.pack("<2sBIHI", b"MR", 1, 3, 4, c) + payload)
    assert Store(FileBackend(str(tmp_path))).load("k") == payload       # untyped owners
    assert Store(FileBackend(str(tmp_path))).load_rec("k", 5, 1, _dec) == 42   # same layout
    mig = {0: lambda b: struct.pack("<I", struct.unpack("<I", b)[0] + 1)}
    assert Store(FileBackend(str(tmp_path))).load_rec("k", 5, 1, _dec, mig) == 43


def test_journal_alternates_and_a_torn_write_leaves_the_previous(tmp_path):
    s = Store(FileBackend(str(tmp_path)))
    assert s.journal_read() is None
    s.journal_write(b"first")
    s.journal_write(b"second" * 50)
    s2 = Store(FileBackend(str(tmp_path)))
    assert s2.journal_read() == b"second" * 50
    s2.backend.cut_after(1)
    with pytest.raises(PowerCut):
        s2.journal_write(b"third")          # one low-level write, torn
    s3 = Store(FileBackend(str(tmp_path)))
    assert s3.journal_read() == b"second" * 50
    s3.journal_write(b"fourth")             # goes over the torn one
    assert Store(FileBackend(str(tmp_path))).journal_read() == b"fourth"
