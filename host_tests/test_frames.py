"""Frame sizes (issue #15 point 4, #16 defect 7): everything the meter sends
fits one unfragmented 802.15.4 frame on its link (APS-secured, with the
source-route margin the hub configures, firmware/zcl/engine.py), responses
longer than that are segmented as ZSE defines, and the hub simulator fails
a scenario on any frame over the limit."""
import json
import struct

import pytest

import conftest
from conftest import Bench, decoded, T0
from runtimes import run_script
from firmware.meter import Meter
from firmware.zcl import aps as A
from firmware.zcl import status as S
from firmware.zcl.engine import frame_limit, runs, RELAYS_DEFAULT, RELAYS_MAX
from firmware.zcl.status import ZclError
from tools.hubsim import Hub
from tools.bench.runner import run_file
from mp.common import tariff_load

PPMID = 0x5A5A


def test_octet_budget():
    """ZigBee PRO over 802.15.4: 127 octets less MAC (9 + FCS 2), NWK header
    (8), NWK security (14 + MIC 4) and APS header (8) leave the unsecured
    ZCL frame; APS link-key security takes 5 + MIC 4 more; a source route
    2 + 2 per relay."""
    unsecured = 127 - (9 + 2) - 8 - (14 + 4) - 8
    secured = unsecured - (5 + 4)
    for relays in range(RELAYS_MAX + 1):
        margin = 2 + 2 * relays if relays else 0
        assert frame_limit(False, relays) == unsecured - margin
        assert frame_limit(True, relays) == secured - margin
    assert frame_limit(True, RELAYS_DEFAULT) < 70          # the old 82 never went on air


def test_runs_split_greedily_and_never_lose_an_item():
    sizes = [29, 29, 29, 13, 40, 7]
    for room in (29, 40, 60, 64, 200):
        parts = runs(sizes, room)
        assert parts[0][0] == 0 and parts[-1][1] == len(sizes)
        for (a, b), (c, _) in zip(parts, parts[1:]):
            assert b == c and b > a                                   # contiguous, non-empty
            assert sum(sizes[a:b + 1]) > room                         # the next item did not fit
        # an item larger than room goes alone (and fails at send, never cut)
        assert all(sum(sizes[a:b]) <= room or b - a == 1 for a, b in parts)
    assert runs([], 60) == [(0, 0)]


@pytest.mark.parametrize("bad", [RELAYS_MAX + 1, -1, "2", None])
def test_meter_refuses_a_link_it_cannot_size(tmp_path, bad):
    with pytest.raises(ValueError):
        Bench(str(tmp_path), {"source_route_relays": bad})


def parse(out):
    res = {}
    for line in out.splitlines():
        w = line.split()
        if len(w) > 2 and w[1] == "limit":
            lens = json.loads(line[line.index("lens") + 5:line.index(" fit")])
            res[w[0]] = {"limit": int(w[2]), "frames": int(w[4]), "lens": lens,
                         "fit": w[-3] == "True"}
        elif w and w[0] in ("relays", "max-periods", "oversize"):
            res[w[0]] = w[1:]
    return res


@pytest.mark.parametrize("relays", [0, 2, 4])
def test_every_segmented_response_fits_on_both_runtimes(tmp_path, relays):
    """host_tests/mp/frame_limits.py on MicroPython (board heap) and CPython:
    the same frames; each within the link's limit, and no more pieces than
    the layouts need."""
    out = {}
    for rt in ("cpython", "micropython"):
        (tmp_path / rt).mkdir()
        out[rt] = run_script(rt, "frame_limits.py", str(tmp_path / rt), str(relays),
                             preload="firmware.meter")
    assert out["micropython"] == out["cpython"]
    r = parse(out["cpython"])
    sec, opn = frame_limit(True, relays), frame_limit(False, relays)
    assert r["relays"] == [str(relays), "secured", str(sec), "unsecured", str(opn)]
    assert r["oversize"] == ["0", "handler-errors", "0"]
    for k, v in r.items():
        if isinstance(v, dict):
            assert v["fit"] and all(n <= v["limit"] for n in v["lens"]), (k, v)
    room = sec - 3                                   # after the ZCL header

    def pieces(n_items, head, size):
        per = (room - head) // size
        return -(-n_items // per)

    # Read Attributes of 24 TOU registers (10 octets a record): as many as fit
    assert r["read-tou"]["lens"] == [3 + 10 * (room // 10)]
    # an unsecured request is answered within the larger unsecured limit
    assert r["read-basic-unsecured"]["limit"] == opn
    assert r["read-basic-unsecured"]["lens"][0] >= r["read-basic-secured"]["lens"][0]
    assert r["price-matrix"]["frames"] == pieces(24, 19, 5)
    assert r["day-profile"]["frames"] == pieces(24, 17, 3)
    assert r["topup-log"]["frames"] == pieces(10, 2, 29)
    assert r["debt-log"]["frames"] == pieces(10, 2, 13)
    assert r["get-snapshot"]["frames"] == pieces(24 + 6 * 24, 16, 1)
    # Get Profile: MaxNumberOfPeriodsDelivered is what one response carries
    maxp = min(24, (room - 7) // 3)
    assert r["max-periods"] == [str(maxp)]
    assert r["get-profile"]["lens"] == [3 + 7 + 3 * maxp]
    # 12 reported registers (9 octets a record) in as few frames as fit
    assert r["reports"]["frames"] == -(-12 // (room // 9))


def log_bench(tmp_path, relays=RELAYS_DEFAULT, n=10):
    b = Bench(str(tmp_path), {"source_route_relays": relays, "han_devices": {"0x5A5A": "ppmid"}})
    pp = b.meter.prepayment
    for i in range(n):
        code = ("%020d" % (74302120000000000000 + i)).encode()
        pp.topups.append(struct.pack("<IiB", T0 + i, 100000 * (i + 1), 0) + code)
        pp.debts.append(struct.pack("<IIBI", T0 + i, 1000 * (i + 1), 2, 50000 - i))
    return b


@pytest.mark.parametrize("relays", [0, 2, 4])
def test_top_up_and_debt_logs_are_segmented_by_command_index(tmp_path, relays):
    """ZCL8 §10.8: Publish Top Up Log / Publish Debt Log carry CommandIndex of
    TotalNumberOfCommands; the pieces joined are the whole log, newest first."""
    b = log_bench(tmp_path, relays)
    lim = b.meter.zcl.limit(True)
    f = b.cmd("Prepayment", "GetTopUpLog", {"LatestEndTime": 0xFFFFFFFE, "NumberOfRecords": 10},
              src=PPMID)
    d = decoded(f)
    assert all(len(x.payload) <= lim for x in f) and len(f) > 1
    assert [x["fields"]["CommandIndex"] for x in d] == list(range(len(d)))
    assert {x["fields"]["TotalNumberOfCommands"] for x in d} == {len(d)}
    got = [(t["TopUpTime"], t["TopUpAmount"]) for x in d for t in x["fields"]["TopUps"]]
    assert got == [(T0 + i, 100000 * (i + 1)) for i in range(9, -1, -1)]
    assert b.meter.zcl.handler_errors == 0
    f = b.cmd("Prepayment", "GetDebtRepaymentLog", {"LatestEndTime": 0xFFFFFFFE,
                                                    "NumberOfDebts": 0, "DebtType": 0xFF},
              src=PPMID)
    d = decoded(f)
    assert all(len(x.payload) <= lim for x in f) and len(f) > 1
    assert [x["fields"]["CommandIndex"] for x in d] == list(range(len(d)))
    assert {x["fields"]["TotalNumberOfCommands"] for x in d} == {len(d)}
    got = [(t["CollectionTime"], t["AmountCollected"], t["OutstandingDebt"])
           for x in d for t in x["fields"]["Debts"]]
    assert got == [(T0 + i, 1000 * (i + 1), 50000 - i) for i in range(9, -1, -1)]
    # a log that fits one frame is one command, index 0 of 1
    d = decoded(b.cmd("Prepayment", "GetTopUpLog",
                      {"LatestEndTime": 0xFFFFFFFE, "NumberOfRecords": 2}, src=PPMID))
    assert [(x["fields"]["CommandIndex"], x["fields"]["TotalNumberOfCommands"]) for x in d] == \
        [(0, 1)]


def test_read_attributes_from_the_hub_fits_the_secured_frame(tmp_path):
    b = Bench(str(tmp_path))
    names = ["CurrentTier%dSummationDelivered" % i for i in range(1, 25)]
    f = b.glob("Metering", "ReadAttributes", {"attributes": names})
    assert len(f) == 1 and f[0].secured
    lim = frame_limit(True, RELAYS_DEFAULT)
    recs = decoded(f)[0]["fields"]["records"]
    assert len(f[0].payload) <= lim < len(f[0].payload) + 10   # and not one record fewer
    assert [r["attribute"] for r in recs] == names[:len(recs)]


def test_block_thresholds_and_special_days_fit(tmp_path):
    with open(conftest.ROOT + "/tariffs/tou-blocks.json") as fh:
        doc = json.load(fh)
    # eight time bands of four blocks: 8 x 19 octets of thresholds
    doc["blocks"] = [[20000 + 100 * t + b for b in range(4)] for t in range(8)]
    doc["thresholds"] = [[1000 * (t + 1), 2000 * (t + 1), 3000 * (t + 1)] for t in range(8)]
    doc["labels"] = {}
    doc["calendar"]["days"] = {"1": [["%02d:00" % (3 * t), 101 + t] for t in range(8)],
                               "2": [["00:00", 102]]}
    doc["special_days"] = [["2026-%02d-%02d" % (1 + i // 28, 1 + i % 28), 1] for i in range(40)]
    b = Bench(str(tmp_path), {"source_route_relays": RELAYS_MAX})
    tariff_load(b.meter, doc)
    lim = b.meter.zcl.limit(True)
    f = b.cmd("Price", "GetBlockThresholds", {"IssuerTariffID": doc["tariff_id"]})
    d = decoded(f)
    assert len(f) > 1 and all(len(x.payload) <= lim for x in f)
    assert [x["fields"]["CommandIndex"] for x in d] == list(range(len(d)))
    want = b"".join(bytes([(t + 1) << 4 | len(th)]) + b"".join(v.to_bytes(6, "little") for v in th)
                    for t, th in enumerate(b.meter.tariff.thresholds) if th)
    assert b"".join(x.payload[3 + 19:] for x in f) == want     # after header and fixed fields
    f = b.cmd("Calendar", "GetSpecialDays", {"StartTime": 0, "NumberOfEvents": 0,
                                             "CalendarType": 0xFF, "ProviderID": 0xFFFFFFFF,
                                             "IssuerCalendarID": 0xFFFFFFFF})
    d = decoded(f)
    assert len(f) > 1 and all(len(x.payload) <= lim for x in f)
    assert sum(len(x["fields"]["SpecialDays"]) for x in d) == 40


def test_a_frame_over_the_limit_is_never_sent(tmp_path):
    """The engine's last line: a response longer than the link carries fails
    with a Default Response; an originated one is dropped and counted."""
    b = Bench(str(tmp_path))
    eng = b.meter.zcl
    pp = b.meter.prepayment
    code = b"7" * 20
    big = [{"TopUpCode": code, "TopUpAmount": 1, "TopUpTime": T0}] * 2
    req = eng.req
    req.aps = A.Aps(PPMID, 1, 0x4E21, 1, A.PROFILE_SE, pp.ID, b"\x01\x01\x08", True)
    req.hdr.decode(req.aps.payload)
    req.responded = False
    eng.tx = eng._tx_sec
    b.sent[:] = []
    pp.reply(req, "PublishTopUpLog", {"CommandIndex": 0, "TotalNumberOfCommands": 1,
                                      "TopUps": big})            # 63 octets: fits
    assert len(b.take()) == 1 and eng.oversize == 0
    with pytest.raises((ZclError, ValueError)):
        pp.reply(req, "PublishTopUpLog", {"CommandIndex": 0, "TotalNumberOfCommands": 1,
                                          "TopUps": big * 2})    # 121 octets: no room
    assert b.take() == []
    # the unsecured view is longer than the secured limit: caught at send
    eng.tx = eng._tx_open
    n = eng.response_header(req, 1, 0x05)
    eng.tx[n:n + 70] = bytes(70)
    with pytest.raises(ZclError) as e:
        eng.reply(req, pp.ID, n + 70)
    assert e.value.status == S.FAILURE and eng.oversize == 1 and b.take() == []
    eng.emit(0, 1, 1, pp.ID, n + 70, True)
    assert eng.oversize == 2 and b.take() == []


def test_hub_checks_every_frame_against_the_link():
    hub = Hub(relays=2)
    msg = lambda n, sec: A.Aps(0x4E21, 1, 0, 1, A.PROFILE_SE, 0x0702, bytes(n), sec)
    assert hub.check_size(msg(67, True)) is None and hub.check_size(msg(76, False)) is None
    assert "68 ZCL octets over the 67" in hub.check_size(msg(68, True))
    assert "77 ZCL octets over the 76" in hub.check_size(msg(77, False))
    assert len(hub.oversize) == 2


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_a_scenario_fails_on_a_frame_its_link_cannot_carry(tmp_path, runtime):
    """A meter sized for a direct link (0 relays, 73 octets) behind a hub
    whose route has 4 relays (63 octets): its full Read Attributes response
    is rejected and the scenario fails."""
    sc = {"name": "link-mismatch", "start": "2026-01-05T00:00:00Z",
          "config": {"source_route_relays": 0}, "hub": {"relays": 4},
          "steps": [{"at": 1, "read": {"cluster": "Metering", "attributes":
                                       ["CurrentTier%dSummationDelivered" % i
                                        for i in range(1, 13)]},
                     "expect": {"response": {"command": "ReadAttributesResponse"}}}]}
    p = tmp_path / "sc.json"
    p.write_text(json.dumps(sc))
    res = run_file(str(p), runtime, str(tmp_path / "out"))
    assert res["expectations"]["failed"] == 0
    assert res["hub"]["oversize"] and "over the 63" in res["hub"]["oversize"][0]
    assert any("73 ZCL octets over the 63" in f for f in res["failures"])


# Longest value the meter ever puts in a variable field of a command that is
# not segmented: labels are cut to ZSE's sizes (tariff/matrix.py, price.py,
# calendar.py), the DRLC signature is the 42-octet "none" value.
STRING_MAX = {"RateLabel": 12, "TariffLabel": 24, "CalendarName": 12}
REST_MAX = {"Signature": 42}
# repeated groups bounded elsewhere: Get Profile by MaxNumberOfPeriodsDelivered
# (test above), Schedule Snapshot confirmations by the number of schedules
BOUNDED = {"GetProfileResponse", "ScheduleSnapshotResponse",
           "SupportedTunnelProtocolsResponse"}      # one protocol, GB-HGRP (tunneling.py)
# the one command the meter sends APS-fragmented (ZSE §5.3.8, firmware/gbcs/GBT.md):
# the Tunneling TransferData, up to 1500 octets of GBCS message
APS_FRAGMENTED = {("Tunneling", "TransferData")}


def test_fixed_layout_commands_fit_the_longest_supported_route(tmp_path):
    """Commands without CommandIndex segmentation must fit one secured frame
    even with RELAYS_MAX relays (the reason for that maximum)."""
    from firmware.zcl import types as T
    from firmware.zcl.frame import REST
    from firmware.zcl.cluster import cmd_rows
    b = Bench(str(tmp_path))
    lim = frame_limit(True, RELAYS_MAX)
    seen = longest = 0
    for _, cl in b.meter.zcl.clusters():
        for cid, name, schema in cmd_rows(cl.TX):
            names = [f[0].rstrip("?") for f in schema]
            if ("CommandIndex" in names or name in BOUNDED
                    or (cl.NAME, name) in APS_FRAGMENTED):
                continue
            n = 3
            for fname, t in schema:
                fname = fname.rstrip("?")
                assert not isinstance(t, tuple), (cl.NAME, name, fname)
                if t == REST:
                    n += REST_MAX[fname]
                    continue
                kind, size = T.info(t)
                n += size if size else 1 + STRING_MAX[fname]
            assert n <= lim, (cl.NAME, name, n)
            longest = max(longest, n)
            seen += 1
    assert seen > 10
    assert longest > frame_limit(True, RELAYS_MAX + 1)      # one relay more would not do
