"""Owned, versioned records (issue #14 point 2, #16 defect 9): the register
record in its newest slot replaced by a CRC-good record of an older layout
(format 1: migrated), of a foreign layout (another schema; and the format-1
record of another layout that used to boot MicroPython with energy 0 and
crash CPython), truncated, extended, of an unknown newer version, and
CRC-good garbage -- the meter boots from the older slot; with both slots
unreadable it boots its safe state (energy from the newest snapshot record,
alert 0x8FF0 and an event-log entry, the key listed as unreadable, the
account in credit mode) and the next save makes the record readable again.
Every case runs on both runtimes (host_tests/mp/record_versions.py), which
must print the same; the values are checked here."""
import os
import shutil
import struct
import zlib

import pytest

from runtimes import run_script

SLOT_HDR = "<2sBIHIBB"


def rec2(seq, payload, schema, ver):
    c = zlib.crc32(struct.pack("<IHBB", seq, len(payload), schema, ver) + payload)
    return struct.pack(SLOT_HDR, b"MR", 2, seq, len(payload), c, schema, ver) + payload


def rec1(seq, payload):
    """The format-1 store record, before schemas."""
    c = zlib.crc32(struct.pack("<IH", seq, len(payload)) + payload)
    return struct.pack("<2sBIHI", b"MR", 1, seq, len(payload), c) + payload


def slots(d):
    """[(seq, slot, schema, version, payload)] of the register record, newest first."""
    out = []
    for i in (0, 1):
        raw = open(os.path.join(d, "registers.%d" % i), "rb").read()
        magic, fmt, seq, ln, crc, schema, ver = struct.unpack_from(SLOT_HDR, raw, 0)
        assert (magic, fmt, len(raw)) == (b"MR", 2, 15 + ln)
        out.append((seq, i, schema, ver, raw[15:]))
    return sorted(out, reverse=True)


FOREIGN = struct.pack("<iB", 1, 0)          # a snapshot-schedule record's layout (schema 3)
CASES = {
    "intact": lambda s, sch, v, b: None,
    "older-layout": lambda s, sch, v, b: rec1(s, b),
    "foreign": lambda s, sch, v, b: rec2(s, FOREIGN, 3, 1),
    "foreign-format1": lambda s, sch, v, b: rec1(s, FOREIGN),
    "truncated": lambda s, sch, v, b: rec2(s, b[:-3], sch, v),
    "extended": lambda s, sch, v, b: rec2(s, b + b"\x00\x07", sch, v),
    "newer-version": lambda s, sch, v, b: rec2(s, b, sch, v + 1),
    "garbage": lambda s, sch, v, b: rec2(s, bytes((i * 37 + 11) & 0xFF for i in range(len(b))),
                                         sch, v),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    out = {}
    for rt in ("cpython", "micropython"):
        root = tmp_path_factory.mktemp(rt)
        base = str(root / "base")
        os.mkdir(base)
        lines = {"base": run_script(rt, "record_versions.py", base, "base",
                                    preload="firmware.meter")}
        (nseq, nslot, sch, ver, body), (oseq, oslot, _, _, obody) = slots(base)
        lines["slots"] = (struct.unpack_from("<Q", body)[0], struct.unpack_from("<Q", obody)[0],
                          sch, ver)
        for name, forge in CASES.items():
            d = str(root / name)
            shutil.copytree(base, d)
            data = forge(nseq, sch, ver, body)
            if data is not None:
                open(os.path.join(d, "registers.%d" % nslot), "wb").write(data)
            lines[name] = run_script(rt, "record_versions.py", d, "boot",
                                     preload="firmware.meter")
        d = str(root / "both-bad")
        shutil.copytree(base, d)
        open(os.path.join(d, "registers.%d" % nslot), "wb").write(rec2(nseq, body[:-3], sch, ver))
        open(os.path.join(d, "registers.%d" % oslot), "wb").write(rec2(oseq, FOREIGN, 3, 1))
        lines["both-bad"] = run_script(rt, "record_versions.py", d, "boot",
                                       preload="firmware.meter")
        lines["saved"] = run_script(rt, "record_versions.py", d, "save",
                                    preload="firmware.meter")
        lines["rewritten"] = run_script(rt, "record_versions.py", d, "boot",
                                        preload="firmware.meter")
        out[rt] = lines
    return out


def fields(line):
    w = line.split()
    return {"wh": int(w[2]), "tou1": int(w[4]), "unreadable": w[6], "alert": int(w[8]),
            "mb": int(w[12]), "ledger": w[14], "events": " ".join(w[18:])}


def test_both_runtimes_give_the_same_outcome(outcomes):
    assert outcomes["cpython"] == outcomes["micropython"]


def test_the_base_store(outcomes):
    o = outcomes["cpython"]
    assert o["base"] == "snapshot wh 3601\n"
    assert o["slots"] == (3601, 3600, 1, 1)     # newest slot: 3601 Wh, the older 3600 Wh


@pytest.mark.parametrize("case", ["intact", "older-layout"])
def test_readable_records_load(outcomes, case):
    f = fields(outcomes["cpython"][case])
    assert (f["wh"], f["tou1"], f["mb"], f["unreadable"], f["alert"]) == (3601, 3601, -12345,
                                                                         "[]", 0)


@pytest.mark.parametrize("case", ["foreign", "foreign-format1", "truncated", "extended",
                                  "newer-version", "garbage"])
def test_an_unreadable_newest_slot_falls_back_to_the_older(outcomes, case):
    f = fields(outcomes["cpython"][case])
    assert (f["wh"], f["tou1"], f["mb"], f["unreadable"], f["alert"], f["ledger"]) == \
        (3600, 3600, -12345, "[]", 0, "True")


def test_no_readable_slot_boots_safe_and_says_so(outcomes):
    f = fields(outcomes["cpython"]["both-bad"])
    # energy never silently zero: from the newest snapshot record (3601 Wh)
    assert (f["wh"], f["tou1"]) == (3601, 3601)
    assert f["unreadable"] == "['registers']" and f["alert"] == 1 and f["events"] == "[1]"
    assert f["mb"] == 0 and f["ledger"] == "True"      # the account: credit mode, no balance
    # still unreadable at the next boot, until the meter saves the record again
    assert fields(outcomes["cpython"]["saved"])["events"] == "[1, 1]"
    r = fields(outcomes["cpython"]["rewritten"])
    assert (r["unreadable"], r["alert"], r["wh"], r["events"]) == ("[]", 0, 3601, "[1, 1]")


# -- the tunnel record (clusters/tunneling.py: schema 9, version 1) -------------------------
TUNNEL_REC = struct.pack("<HBHHBH", 8, 1, 7, 0x1234, 1, 1500)   # next id 8, tunnel 7 of 0x1234


def _tunnel_bench(tmp_path, forge_new=None, forge_old=None):
    """A meter whose tunnel record's two slots are forged (None: absent), booted."""
    from conftest import Bench
    d = str(tmp_path)
    b = Bench(d)
    for slot, data in ((0, forge_old), (1, forge_new)):
        p = os.path.join(d, "tunnel.%d" % slot)
        if data is not None:
            open(p, "wb").write(data)
        elif os.path.exists(p):
            os.remove(p)
    b.restart()
    return b


def _tunnels(b):
    t = b.meter.tunneling
    return t.next_id, [x[:4] for x in t.tunnels], list(b.meter.store.unreadable)


def test_tunnel_record_saved_with_its_schema(tmp_path):
    from firmware.clusters import tunneling as TN
    b = _tunnel_bench(tmp_path)
    t = b.meter.tunneling
    t.tunnels.append([3, 0x2222, 1, 1500, 0])
    t.next_id = 4
    t._save()
    raw = [open(os.path.join(str(tmp_path), f), "rb").read()
           for f in os.listdir(str(tmp_path)) if f.startswith("tunnel.")]
    hdr = struct.unpack_from(SLOT_HDR, raw[0], 0)
    assert len(raw) == 1 and (hdr[5], hdr[6]) == (9, 1)
    assert ("tunnel", 9) in __import__("firmware.bootrec", fromlist=["x"]).SCHEMAS
    assert TN.load_record(b.meter.store) == (4, [(3, 0x2222, 1, 1500)])
    b.restart()
    assert _tunnels(b) == (4, [[3, 0x2222, 1, 1500]], [])


@pytest.mark.parametrize("old", ["untyped", "format1", "v1"])
def test_tunnel_record_older_forms_migrate(tmp_path, old):
    """Version 0 (the untyped record of earlier firmware, format 1) reads as
    version 1: the tunnel survives the firmware update."""
    data = {"untyped": rec2(5, TUNNEL_REC, 0, 0), "format1": rec1(5, TUNNEL_REC),
            "v1": rec2(5, TUNNEL_REC, 9, 1)}[old]
    b = _tunnel_bench(tmp_path, forge_new=data)
    assert _tunnels(b) == (8, [[7, 0x1234, 1, 1500]], [])
    assert b.meter.alerts.count(0x8FF0) == 0


@pytest.mark.parametrize("case", ["foreign", "newer-version", "truncated", "garbage"])
def test_tunnel_record_bad_newest_slot_falls_back(tmp_path, case):
    bad = {"foreign": rec2(6, FOREIGN, 3, 1), "newer-version": rec2(6, TUNNEL_REC, 9, 2),
           "truncated": rec2(6, TUNNEL_REC[:-3], 9, 1),
           "garbage": rec2(6, b"\x01\x00\x05garbage", 9, 1)}[case]
    older = struct.pack("<HBHHBH", 6, 1, 5, 0x4321, 1, 1500)
    b = _tunnel_bench(tmp_path, forge_new=bad, forge_old=rec2(5, older, 9, 1))
    assert _tunnels(b) == (6, [[5, 0x4321, 1, 1500]], [])


def test_tunnel_record_unreadable_boots_safe_and_says_so(tmp_path):
    """No readable slot: no tunnel (the hub requests one), the key listed,
    alert 0x8FF0 and an event-log entry with the schema id 9 (bootrec.finish);
    the next save makes the record readable again."""
    b = _tunnel_bench(tmp_path, forge_new=rec2(6, b"\x01\x00\x05garbage", 0, 0),
                      forge_old=rec2(5, TUNNEL_REC, 9, 7))
    m = b.meter
    assert _tunnels(b)[1:] == ([], ["tunnel"])
    assert m.alerts.count(0x8FF0) == 1
    assert [v for _, c, _, v in m.log_between(m.event_log, 0, 0xFFFFFFFF) if c == 3] == [9]
    m.tunneling.tunnels.append([1, 0x1111, 1, 1500, 0])
    m.tunneling._save()
    b.restart()
    assert _tunnels(b)[1:] == ([[1, 0x1111, 1, 1500]], [])


def test_every_record_owner_has_its_own_schema_id():
    """A schema id names one record layout (store.py load_rec refuses a
    record of another layout as foreign): no two owners may share one."""
    import re
    from runtimes import ROOT
    seen = {}
    for d, _, names in os.walk(os.path.join(ROOT, "firmware")):
        for n in names:
            if n.endswith(".py"):
                p = os.path.join(d, n)
                for m in re.finditer(r"^(_?[A-Z_]*SCHEMA) = const\((\d+)\)", open(p).read(), re.M):
                    seen.setdefault(int(m.group(2)), set()).add(
                        "%s:%s" % (os.path.relpath(p, ROOT), m.group(1)))
    # meter.py keeps a private copy of bootrec.REG_SCHEMA (test_const_copies)
    shared = {k: v for k, v in seen.items() if len(v) > 1
              and v != {"firmware/bootrec.py:REG_SCHEMA", "firmware/meter.py:_REG_SCHEMA"}}
    assert not shared, shared
    assert 0 not in seen                       # 0: records without an owner's schema
