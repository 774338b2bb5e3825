"""Table invariants over every cluster the firmware declares (style-anchors
§3.6): ids in range, names present and unique, types known, defaults
encodable, schemas complete."""
import pytest

from firmware.zcl import types as T
from firmware.zcl.frame import REST
from tools import zcl_host as Z
from firmware.zcl.cluster import attr_rows, cmd_rows, n_rows

# the firmware's own clusters (the registry), whatever the host has registered besides
CLUSTERS = [c for c, ep, dev in Z.REGISTRY]


@pytest.mark.parametrize("cls", CLUSTERS, ids=lambda c: c.NAME)
def test_cluster_table(cls):
    assert 0 <= cls.ID <= 0xFFFF and cls.NAME.isidentifier()
    ids = [a[0] for a in attr_rows(cls.ATTRS)]
    names = [a[1] for a in attr_rows(cls.ATTRS)]
    assert len(set(ids)) == len(ids) and len(set(names)) == len(names)
    for aid, name, t, access, default in attr_rows(cls.ATTRS):
        assert 0 <= aid < 0xFFF0, name
        assert T.info(t) is not None, name
        assert access & 0x01, name + " must be readable"
        assert T.check(t, default), name
    for table in (cls.RX, cls.TX):
        cids = [c[0] for c in cmd_rows(table)]
        assert len(set(cids)) == len(cids)
        for cid, name, schema in cmd_rows(table):
            assert 0 <= cid <= 0xFF and name.isidentifier()
            assert isinstance(schema, tuple)
            seen_optional = False
            for fname, ft in schema:
                opt = fname.endswith("?")
                assert not (seen_optional and not opt), "optional fields must trail"
                seen_optional = seen_optional or opt
                assert ft == REST or isinstance(ft, tuple) or T.info(ft) is not None


def test_handlers_exist_for_every_received_command(tmp_path):
    from conftest import Bench
    b = Bench(str(tmp_path / "s"))
    for ep, cl in b.meter.zcl.clusters():
        for cid, name, _ in cmd_rows(cl.RX):
            assert callable(getattr(cl, "on_" + name, None)), (cl.NAME, name)


# Wireshark's dissector per cluster: its command value tables are an independent
# record of the ZSE 1.x / ZCL numbering (issue #15.1: Supply Status Response was
# sent as Metering 0x07, which ZSE numbers Get Sampled Data Response; it is 0x0C).
WIRESHARK_ABBREV = {0x0000: "zbee_zcl_general.basic", 0x0003: "zbee_zcl_general.identify",
                    0x0700: "zbee_zcl_se.price", 0x0701: "zbee_zcl_se.drlc",
                    0x0702: "zbee_zcl_se.met", 0x0705: "zbee_zcl_se.pp",
                    0x0707: "zbee_zcl_se.calendar", 0x0704: "zbee_zcl_se.tun",
                    0x0019: "zbee_zcl_general.ota",
                    0x000A: "zbee_zcl_general.time"}   # no cluster commands (ZCL 3.12)


def test_command_ids_match_wireshark_tables():
    """Every received and generated command of every cluster the meter serves
    or uses has the id under which Wireshark's ZCL/SE dissector names it the
    same (server-received = srv_rx, server-generated = srv_tx; a client's
    tables are the other way round)."""
    import shutil
    import subprocess
    exe = shutil.which("tshark")
    assert exe, "tshark missing: make setup installs it (Debian package tshark)"
    p = subprocess.run([exe, "-G", "values"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    names = {}
    for line in p.stdout.splitlines():
        f = line.split("\t")
        if len(f) == 4 and f[0] == "V" and ".cmd.srv_" in f[1]:
            names[(f[1], int(f[2], 0))] = f[3]

    def norm(s):
        return "".join(c for c in s.lower() if c.isalnum())
    # the meter's clusters, and the hub's Time server once tools.hubsim is imported
    assert set(WIRESHARK_ABBREV) - set(Z.CLUSTERS) <= {0x000A} <= set(WIRESHARK_ABBREV)
    assert set(Z.CLUSTERS) <= set(WIRESHARK_ABBREV)
    bad, checked = [], 0
    for cid, cls in Z.CLUSTERS.items():
        ab = WIRESHARK_ABBREV[cid] + ".cmd.%s.id"
        rx, tx = ("srv_rx", "srv_tx") if cls.SERVER else ("srv_tx", "srv_rx")
        for table, side in ((cls.RX, rx), (cls.TX, tx)):
            for c in cmd_rows(table):
                ws = names.get((ab % side, c[0]))
                checked += 1
                if ws is None or norm(ws) != norm(c[1]):
                    bad.append((cls.NAME, side, "0x%02X" % c[0], c[1], ws))
    assert bad == [] and checked >= 60


# The tables are packed text (zcl/cluster.py Attrs and Cmds syntax: one string
# per table instead of a heap tuple per row on the unix port, and no object
# wrapping it). The engine's views
# of them must be exactly what the rows they stand for give.
@pytest.mark.parametrize("cls", CLUSTERS, ids=lambda c: c.NAME)
def test_packed_tables_read_as_their_rows(cls):
    from firmware.zcl.cluster import AttrTable, _find
    rev = (0xFFFD, "ClusterRevision", T.UINT16, 0x01, cls.REVISION)
    rows = tuple(attr_rows(cls.ATTRS))
    assert n_rows(cls.ATTRS) == len(rows)
    packed = AttrTable(cls.ATTRS, cls.RANGES, rev)
    plain = AttrTable(rows, cls.RANGES, rev)          # the tuple form (e.g. the hub's Time)
    assert list(packed) == list(plain) == sorted(set(plain))
    for aid in range(0x10000):
        a = plain.get(aid)
        assert packed.get(aid) == a, hex(aid)
        assert packed.ta(aid) == plain.ta(aid) == (-1 if a is None else a[2] << 8 | a[3])
    for table in (cls.RX, cls.TX):
        cmds = tuple(cmd_rows(table))
        assert n_rows(table) == len(cmds)
        for c in cmds:
            assert _find(table, 0, c[0]) == c and _find(table, 1, c[1]) == c
            assert _find(table, 1, c[1][:-1]) is None and _find(table, 1, c[1] + "s") is None
        assert all(_find(table, 0, i) is None for i in set(range(256)) - {c[0] for c in cmds})
    if cls.ATTRS:
        assert isinstance(cls.ATTRS, str)
    assert all(isinstance(t, str) for t in (cls.RX, cls.TX) if t)


def test_packed_text_syntax():
    from firmware.zcl.cluster import _find, A_R, A_W, A_P, A_NV, A_DYN
    a = (" 0102 Aa UINT16 RWPND 0x1F;0001 Bb OCTSTR R 'x-y'; 0FFF Cc UTC RD -;"
         "\n 0003 Dd INT8 R 12 ;")
    assert list(attr_rows(a)) == [(0x0102, "Aa", T.UINT16, A_R | A_W | A_P | A_NV | A_DYN, 0x1F),
                       (0x0001, "Bb", T.OCTSTR, A_R, b"x-y"),
                       (0x0FFF, "Cc", T.UTC, A_R | A_DYN, None),
                       (0x0003, "Dd", T.INT8, A_R, 12)] and n_rows(a) == 4
    c = ("0A Get  Id:UINT32 Opt?:MAP8;\n  0B Put Items:[K:UINT8,V:OCTSTR]"
         "\n    Rest:REST; 0C Nothing;")
    assert list(cmd_rows(c)) == [(0x0A, "Get", (("Id", T.UINT32), ("Opt?", T.MAP8))),
                       (0x0B, "Put", (("Items", (("K", T.UINT8), ("V", T.OCTSTR))),
                                      ("Rest", REST))),
                       (0x0C, "Nothing", ())] and n_rows(c) == 3
    assert _find(c, 1, "Put")[0] == 0x0B and _find(c, 0, 0x0C)[1] == "Nothing"
    assert _find(c, 1, "Ge") is None and _find(c, 1, "Nothin") is None and _find(c, 0, 0x0D) is None
    assert list(attr_rows("")) == list(cmd_rows(" ")) == [] and n_rows("") == 0



def test_packed_type_codes():
    """A type written as the two hex digits of its ZCL data type id (as the
    firmware's tables are, zcl/cluster.py) decodes to the same tuples as
    its zcl.types name; the firmware's tables use only the codes."""
    import re
    assert list(attr_rows("0102 Aa 21 RWPND 0x1F;0001 Bb 41 R 'x-y';0FFF Cc E2 RD -;")) == \
        list(attr_rows("0102 Aa UINT16 RWPND 0x1F;0001 Bb OCTSTR R 'x-y';0FFF Cc UTC RD -;"))
    assert list(cmd_rows("0A Get Id:23 Opt?:18; 0B Put Items:[K:20,V:41] Rest:REST;")) == \
        list(cmd_rows("0A Get Id:UINT32 Opt?:MAP8; 0B Put Items:[K:UINT8,V:OCTSTR] Rest:REST;"))
    assert all(len(n) != 2 for n in dir(T) if n.isupper())       # no name reads as a code
    for cls in CLUSTERS:
        for tab in (cls.ATTRS, cls.RX, cls.TX):
            if isinstance(tab, str):
                spec = tab
                assert not re.search(r":[A-Z]{3,}|^\s*[0-9A-F]{4} \S+ [A-Z]{3,}", spec.replace(
                    ":REST", "").replace(";", "\n"), re.M), cls.NAME

def test_packed_defaults_follow_their_constants():
    """Defaults that are named elsewhere are written as numbers in the
    packed text: they must still be those constants."""
    from firmware.clusters import metering as MC, price as PC
    from firmware.metering import format as F, profile as PR
    from tools.zcl_host import all_attrs

    def dflt(cls, name):
        return [a[4] for a in all_attrs(cls) if a[1] == name][0]
    M = MC.Metering
    assert dflt(M, "ProfileIntervalPeriod") == PR.PERIOD_30MIN
    assert dflt(M, "UnitOfMeasure") == F.UNIT_KWH == dflt(PC.Price, "UnitOfMeasure") == PC.UNIT_KWH
    assert dflt(M, "Multiplier") == F.DEFAULT_MULTIPLIER
    assert dflt(M, "Divisor") == F.DEFAULT_DIVISOR
    assert dflt(M, "SummationFormatting") == F.DEFAULT_SUMMATION_FMT
    assert dflt(M, "DemandFormatting") == dflt(M, "HistoricalConsumptionFormatting") == \
        F.DEFAULT_DEMAND_FMT
    assert dflt(M, "MaxNumberOfPeriodsDelivered") == MC._MAX_PERIODS
