"""GBCS tariff use cases (firmware/gbcs/uc_tariff.py, cosem.py group 2):
the visible RTDS vectors of ECS01a, ECS01b, ECS05, ECS24, ECS30 and ECS26d
(README relations, results, data shapes; byte for byte where the response
is MACed and the state can be made the vector's), the state each Set or
Action leaves where a meter engineer would look (the tariff engine, the
ZSE Price cluster, the snapshot schedules, future.py and its alerts), no
partial change on the ERROR variants, and hostile values inside validly
protected commands refused with the right result and changing nothing."""
import json
import struct

import pytest

import rtds
from firmware import vboard as V
from firmware.gbcs import core, future
from firmware.platform.clock import NEVER
from tools import gbcs_host as G

UCS = ["ECS01a", "ECS01b", "ECS05", "ECS24", "ECS30", "ECS26d"]
VECTORS = rtds.commands(UCS)
pytestmark = pytest.mark.skipif(not rtds.HAVE, reason="RTDS vectors not present")


def _vec(uc, variant):
    return [v for v in VECTORS if v["use_case"] == uc and v["variant"] == variant][0]


def _fresh(m):
    m._gctr = [0, {}]            # every RTDS vector wants a fresh counter store (README)


def _send(b, v):
    _fresh(b.meter)
    return rtds.run(b, v)


def _items(v, which="command_file"):
    """The data items of a vector's DLMS request (command) or response."""
    if which == "response_file":
        return rtds.reference(v)["dlms"]["data"]
    pl = bytes.fromhex(G.parse(rtds.message(v[which]))["payload"])
    from firmware.gbcs import dlms as D
    _, specs, data = D.parse_request(pl)
    return [pl[i:j].hex().upper() for i, j in data]


def _state(m):
    s = V.state(m)
    for k in ("Alerts", "Logs"):
        s["meter"].pop(k, None)
    return json.dumps(s, sort_keys=True, default=str)


def _tariff(m):
    """What the tariff engine holds: active parts, pending parts and when."""
    return [(k, p.active, p.passive, p.at) for k, p in sorted(m.tariff.parts.items())]


# The RTDS meter's tariff as ECS24 SUCCESS reads it (its response's items 2-16)
RTDS_TARIFF = {
    "calendar": {"name": "", "seasons": [["2015-1-1", 1, "all"]],
                 "weeks": {1: [1, 1, 1, 1, 1, 2, 2]},
                 "days": {1: [["07:00", 101], ["23:00", 102]], 2: [["00:00", 1]]}},
    "special_days": [["2015-5-1", 2], ["2015-12-25", 2]],
    "tou": [0x849], "blocks": [[0x8F1, 0xDDA], [0xFA2, 0x1B39]],
    "thresholds": [[10000], [10000]], "block_period": "month",
    "price_scaler": -5, "currency": 826, "standing_charge": {"amount": 20000},
}


@pytest.mark.parametrize("v", VECTORS, ids=rtds.vid)
def test_rtds_vector(tmp_path, v):
    """Every visible vector of the group: relations, results and shapes;
    the reads byte for byte; the state each Set/Action leaves."""
    from firmware import commands as C
    b = rtds.meter(tmp_path)
    m = b.meter
    uc, var = v["use_case"], v["variant"]
    if uc == "ECS24":
        assert C.load_tariff(m, RTDS_TARIFF) == 0
    if uc == "ECS26d" and var == "SUCCESS":
        rtds.check(_vec("ECS30", "SUCCESS"), _send(b, _vec("ECS30", "SUCCESS")))
    if uc == "ECS05":
        m.tariff.counters[0] = 1234           # set-up: a block counter that has counted
    before = _state(m)
    tariff_before = _tariff(m)
    resp = _send(b, v)
    exact = uc == "ECS26d"
    r, ref = rtds.check(v, resp, exact=exact)
    if uc == "ECS24" and var == "SUCCESS":
        # the active price (item 0) is the price in force now, the RTDS
        # meter's was not one of its prices; every other item to the octet
        assert r["dlms"]["data"][1:] == ref["dlms"]["data"][1:]
        assert r["dlms"]["data"][0] == "06%08X" % m.tariff.price_now()
    if "ERROR" in var or v["message_code"] in ("0x003A", "0x003E"):
        if uc == "ECS24" or uc == "ECS26d":
            assert _state(m) == before     # reads change nothing
        else:
            # the injected fault stops the command before anything runs
            assert _state(m) == before and _tariff(m) == tariff_before
            assert not future.table(m)
        return
    if uc in ("ECS01a", "ECS01b"):
        _check_tariff_set(b, v, tariff_before)
    elif uc == "ECS05":
        assert m.tariff.counters == [0] * 8
    elif uc == "ECS30":
        s = [x for x in m.snapshots.schedules if x[0] == 0xB1]
        assert len(s) == 1 and s[0][1] == rtds.T2015 + 12 * 3600     # 1st of the month, 12:00
        assert (s[0][2] >> 20) & 3 == 2 and s[0][2] & 0xFFFFF == 1     # monthly


def _check_tariff_set(b, v, before):
    m = b.meter
    var = v["variant"]
    ecs01a = v["use_case"] == "ECS01a"
    data = _items(v)
    if var.startswith("CANCELLATION"):
        assert _tariff(m) == before and not m.tariff.pending() and not future.table(m)
        return
    if var.startswith("FUTURE"):
        at = 948013200                       # 2026-01-15 09:00:00 UTC
        assert _tariff(m)[0][1] == before[0][1]   # nothing in force changed
        kinds = ("cal", "prc", "spd", "stc", "thr") if ecs01a else ("prc", "stc")
        assert sorted(k for k, t in m.tariff.pending()) == sorted(kinds)
        assert all(t == at for k, t in m.tariff.pending()) and m.gbcs_due == at
        # at activation: the RTDS alerts, one per activation instruction
        alerts = sorted([a for a in rtds.vectors() if a.get("triggered_by") == v["command_file"]],
                        key=lambda a: a["alert_file"])
        core.set_device_counter(m, (2011 if ecs01a else 2001))
        b.alerts_sent.clear()
        b.clock.set(at - 2)
        for _ in range(4):
            b.tick()
        got = [G.parse(a, device_ds_pub=G.test_ds_pub()) for a in b.alerts_sent]
        want = sorted((G.parse(rtds.message(a["alert_file"])) for a in alerts),
                      key=lambda p: p["counter"])
        assert len(got) == len(want) == (6 if ecs01a else 2)
        for g, w in zip(got, want):
            assert g["sig_ok"] and g["message_code"] == w["message_code"] == 0x00CC
            assert (g["counter"], g["payload"]) == (w["counter"], w["payload"])
        assert not m.tariff.pending() and not future.table(m)
    # in force now: read back through ECS24, item for item what the command wrote
    _fresh(m)
    r = G.parse(rtds.run(b, _vec("ECS24", "SUCCESS")))["dlms"]
    assert all(c == 0 for _, c in r["results"])
    got = r["data"]
    if ecs01a:
        assert got[2:5] == data[0:3]                 # seasons, weeks, day profiles
        assert got[5][8:] == data[3][8:] or got[5] == data[3]    # special days
        assert got[14] == data[12]                   # currency unit
        for k in range(8):                           # thresholds, padded with 'none' to 3
            th = [x for x in _thr(data[4 + k]) if x != 0xFFFFFFFF]
            assert _thr(got[6 + k]) == th + [0xFFFFFFFF] * (3 - len(th))
        assert got[15:17] == data[13:15]             # standing charge, price matrix
    else:
        assert got[15:17] == data[0:2]
    # the engine's own view: the 80 prices in Table 7.3.7.2 order, the standing charge
    price = bytes.fromhex(data[14 if ecs01a else 1])
    assert [int.from_bytes(price[i:i + 2], "big") for i in range(len(price) - 2, 30, -8)][::-1] \
        == m.tariff.prices[:80]
    stand = bytes.fromhex(data[13 if ecs01a else 0])
    assert m.tariff.sc_amount == int.from_bytes(stand[-2:], "big") and m.tariff.scaler == -5


def _thr(h):
    b = bytes.fromhex(h)
    return [int.from_bytes(b[i + 1:i + 5], "big") for i in range(2, len(b), 5)]


def test_ecs01a_cancellation_removes_the_pending_tariff(tmp_path):
    """FUTURE_DATED then CANCELLATION: the pending parts and their alert
    entries go, the tariff in force stays (§9.2.2.5), no alert at the time."""
    b = rtds.meter(tmp_path)
    m = b.meter
    before = _tariff(m)
    rtds.check(_vec("ECS01a", "FUTURE_DATED_TOU_BLOCK_SUCCESS"),
               _send(b, _vec("ECS01a", "FUTURE_DATED_TOU_BLOCK_SUCCESS")))
    assert len(m.tariff.pending()) == 5 and len(future.table(m)) == 6
    rtds.check(_vec("ECS01a", "CANCELLATION_TOU_BLOCK_SUCCESS"),
               _send(b, _vec("ECS01a", "CANCELLATION_TOU_BLOCK_SUCCESS")))
    assert not m.tariff.pending() and not future.table(m) and m.gbcs_due == NEVER
    assert [x[:2] for x in _tariff(m)] == [x[:2] for x in before]
    b.alerts_sent.clear()
    b.clock.set(948013200 - 2)
    b.tick(4)
    assert not b.alerts_sent


def test_ecs01b_after_ecs01a_keeps_the_calendar(tmp_path):
    """ECS01b changes prices and standing charge only; the switching table
    ECS01a loaded stays, and a future ECS01b replaces a stored one (§9.2.2.3)."""
    b = rtds.meter(tmp_path)
    m = b.meter
    _send(b, _vec("ECS01a", "IMMEDIATE_BLOCK_SUCCESS"))
    cal = m.tariff.parts["cal"].active
    rtds.check(_vec("ECS01b", "IMMEDIATE_TOU_SUCCESS"),
               _send(b, _vec("ECS01b", "IMMEDIATE_TOU_SUCCESS")))
    assert m.tariff.parts["cal"].active == cal
    _send(b, _vec("ECS01b", "FUTURE_DATED_TOU_BLOCK_SUCCESS"))
    _send(b, _vec("ECS01b", "FUTURE_DATED_TOU_BLOCK_SUCCESS"))
    assert len(future.table(m)) == 2


# -- hostile values in validly protected (KRP-signed, ACB-MACed) commands ------------------
OB_PRICE = bytes.fromhex("0000131400FF")
OB_STAND = bytes.fromhex("0000131404FF")
NOW = b"\x09\x0c" + bytes(9) + b"\x80\x00\xff"


def _prices(pairs, cs=3, ps=-5):
    el = b"".join(b"\x02\x02\x09\x01" + bytes((i,)) + b"\x10" + struct.pack(">h", p)
                  for i, p in pairs)
    return (b"\x02\x03\x02\x02\x0f" + bytes((cs & 0xFF,)) + b"\x0f" + bytes((ps & 0xFF,)) +
            b"\x02\x03\x12\x00\x03\x09\x06\x01\x00\x01\x08\x00\xff\x0f\x02" +
            b"\x01" + G.enc_len(len(pairs)) + el)


def _all80(price=100):
    return [(i, price) for i in range(1, 49)] + \
        [(0xA0 + 0x10 * b + t, price) for b in range(4) for t in range(1, 9)]


STAND = (b"\x02\x03\x02\x02\x0f\x00\x0f\xfb\x02\x03\x12\x00\x00\x09\x06" + bytes(6) +
         b"\x0f\x00\x01\x01\x02\x02\x09\x00\x10\x4e\x20")


def _ecs01b(prices, at=NOW, at2=None, stand=STAND):
    return G.dlms_set(1500, [(113, OB_STAND, 6, stand), (113, OB_PRICE, 6, prices),
                             (113, OB_STAND, 7, at), (113, OB_PRICE, 7, at2 or at)])


def _cmd(b, mc, payload, critical=True):
    _fresh(b.meter)
    r = b.meter.gbcs_message(G.build_command(mc, payload, 1500, critical=critical))
    assert r is not None
    return [c for _, c in G.parse(r, device_ds_pub=G.test_ds_pub())["dlms"]["results"]]


HOSTILE = [
    ("79 of 80 indices", 0x00A2, _ecs01b(_prices(_all80()[:-1])), [0, 12, 250, 250]),
    ("an index not in Tbl 7.3.7.2", 0x00A2,
     _ecs01b(_prices(_all80()[:-1] + [(0x31, 5)])), [0, 12, 250, 250]),
    ("an index twice", 0x00A2, _ecs01b(_prices(_all80() + [(1, 5)])), [0, 12, 250, 250]),
    ("a negative price", 0x00A2, _ecs01b(_prices([(1, -5)] + _all80()[1:])), [0, 12, 250, 250]),
    ("price per unit of a scale above kWh", 0x00A2, _ecs01b(_prices(_all80(), cs=4)),
     [0, 12, 250, 250]),
    ("activation times differ (§9.2.2.2)", 0x00A2,
     _ecs01b(_prices(_all80()), at2=b"\x09\x0c\x07\xee\x01\x0f\xff\x09\x00\x00\x00\x80\x00\xff"),
     [0, 0, 0, 12]),
    ("a malformed activation time", 0x00A2,
     _ecs01b(_prices(_all80()), at=b"\x09\x0c\x07\xee\x0d\x0f\xff\x09\x00\x00\x00\x80\x00\xff"),
     [0, 0, 12, 250]),
    ("activation without its value", 0x00A2,
     G.dlms_set(1500, [(113, OB_PRICE, 7, NOW)]), [250]),
    ("a price write carried by a MAC-only command", 0x003A, _ecs01b(_prices(_all80())),
     [3, 250, 250, 250]),
    ("descending block thresholds", 0x0019,
     G.dlms_set(1500, [(21, bytes.fromhex("000010010BFF"), 2,
                        b"\x01\x02\x06\x00\x00\x27\x10\x06\x00\x00\x03\xe8")]), [12]),
    ("four block thresholds", 0x0019,
     G.dlms_set(1500, [(21, bytes.fromhex("000010010BFF"), 2,
                        b"\x01\x04" + b"".join(b"\x06" + struct.pack(">I", k) for k in (1, 2, 3, 4)))]),
     [12]),
    ("a switch point to script 150", 0x0019,
     G.dlms_set(1500, [(20, bytes.fromhex("00000D0000FF"), 9,
                        b"\x01\x01\x02\x02\x11\x01\x01\x01\x02\x03\x09\x04\x07\x00\x00\x00"
                        b"\x09\x06\x00\x00\x0a\x00\x64\xff\x12\x00\x96")]), [12]),
    ("a week naming 1 of 7 days", 0x0019,
     G.dlms_set(1500, [(20, bytes.fromhex("00000D0000FF"), 8,
                        b"\x01\x01\x02\x02\x09\x01\x01\x11\x01")]), [12]),
    ("writing the active calendar", 0x0019,
     G.dlms_set(1500, [(20, bytes.fromhex("00000D0000FF"), 3, b"\x01\x00")]), [3]),
    ("ECS05 with another script", 0x001D,
     G.dlms_action(1500, [(9, bytes.fromhex("00000A0064FF"), 1, b"\x12\x00\x05")]), [12]),
    ("billing calendar with a month", 0x0046,
     G.dlms_set(1500, [(22, bytes.fromhex("00000F0000FF"), 4,
                        b"\x01\x01\x02\x02\x09\x04\x0c\x00\x00\x00\x09\x05\xff\xff\x03\x01\xff")]),
     [12]),
    ("billing calendar at 25:00", 0x0046,
     G.dlms_set(1500, [(22, bytes.fromhex("00000F0000FF"), 4,
                        b"\x01\x01\x02\x02\x09\x04\x19\x00\x00\x00\x09\x05\xff\xff\xff\x01\xff")]),
     [12]),
    ("a truncated structure", 0x00A2,
     G.dlms_set(1500, [(113, OB_STAND, 6, b"\x02\x01\x02\x00")]), [12]),
]


@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c[0])
def test_hostile_value_refused_and_nothing_changes(tmp_path, case):
    name, mc, payload, want = case
    b = rtds.meter(tmp_path)
    m = b.meter
    m.tariff.counters[0] = 77
    before, tb, sched = _state(m), _tariff(m), list(m.snapshots.schedules)
    assert _cmd(b, mc, payload, critical="MAC-only" not in name) == want
    assert _state(m) == before and _tariff(m) == tb and m.snapshots.schedules == sched
    assert m.tariff.counters[0] == 77 and not future.table(m)


def test_valid_hand_built_ecs01b_applies(tmp_path):
    """The same builder with valid values is accepted (the hostile cases
    fail for their one fault), and the billing calendar can be removed."""
    b = rtds.meter(tmp_path)
    m = b.meter
    assert _cmd(b, 0x00A2, _ecs01b(_prices(_all80(321)))) == [0, 0, 0, 0]
    assert m.tariff.prices[:80] == [321] * 80 and m.tariff.sc_amount == 20000
    bill = b"\x01\x01\x02\x02\x09\x04\x06\x30\x00\x00\x09\x05\xff\xff\xff\xff\x03"
    assert _cmd(b, 0x0046, G.dlms_set(1500, [(22, bytes.fromhex("00000F0000FF"), 4, bill)])) == [0]
    s = [x for x in m.snapshots.schedules if x[0] == 0xB1][0]
    assert (s[2] >> 20) & 3 == 1 and s[1] % 86400 == 6 * 3600 + 48 * 60   # weekly, Wed 06:48
    assert _cmd(b, 0x0046, G.dlms_set(1500, [(22, bytes.fromhex("00000F0000FF"), 4,
                                                b"\x01\x00")])) == [0]
    assert not [x for x in m.snapshots.schedules if x[0] == 0xB1]


# -- reads beyond the visible vectors -----------------------------------------------------
def test_registers_and_twin_objects(tmp_path):
    """ECS17d/e-style reads of the TOU and block registers (value and
    scaler_unit); the twin element's registers and price matrix are absent
    on this single-element meter (object-undefined)."""
    b = rtds.meter(tmp_path)
    m = b.meter
    m.tariff.reg[4] = 1111              # set-up: TOU 5, block 2 band 3
    m.tariff.reg[48 + 8 + 2] = 2222
    items = [(3, bytes.fromhex("0100010805FF"), 2), (3, bytes.fromhex("0100010805FF"), 3),
             (3, bytes.fromhex("0102010803FF"), 2), (3, bytes.fromhex("0104010808FF"), 3),
             (3, bytes.fromhex("0114010801FF"), 2), (113, bytes.fromhex("0000130205FF"), 5),
             (3, bytes.fromhex("0102010809FF"), 2)]
    _fresh(m)
    # carried as ECS24 (0x003A): ECS17d/e's codes 0x0029/0x002A are not in core.py's table yet
    r = G.parse(m.gbcs_message(G.build_command(0x003A, G.dlms_get(1500, items), 1500)))["dlms"]
    assert [c for _, c in r["results"]] == [0, 0, 0, 0, 4, 250, 250]
    assert r["data"][:4] == ["06%08X" % 1111, "02020F00161E", "06%08X" % 2222, "02020F00161E"]


def test_mp_script_says_the_right_things(tmp_path):
    """host_tests/mp/uc_tariff.py (compared byte for byte with MicroPython's
    run by test_micropython.py): on CPython it reproduces ECS26d to the
    octet, loads the ECS01a tariff, resets the block counter, and the
    future-dated ECS01b raises its two alerts and takes effect."""
    from runtimes import run_script
    out = run_script("cpython", "uc_tariff.py", str(tmp_path))
    lines = out.splitlines()
    assert [l.split()[0] for l in lines if not l.startswith(" ")][:6] == \
        ["ecs01a-tou", "ecs24", "ecs05", "ecs30", "ecs26d", "ecs01b-future"]
    assert [l for l in lines if l.startswith("ecs26d")][0].endswith(" as-rtds")
    assert lines[1].startswith("  prices 2121 3127 0 standing 20000")
    assert lines[7].endswith("counters 0")
    assert sum(1 for l in lines if l.startswith("tick")) == 2
    assert lines[-3] == "due 4294967295" and "pending []" in lines[-1]


def test_activation_never_alone_cancels_the_pending_price(tmp_path):
    """A future ECS01b, then an ECS01b of the price matrix's activation time
    'never' alone (§9.2.2.5): it replaces the whole pending ECS01b
    (§9.2.2.3, notes §6.4), so the pending price matrix and standing charge
    both go, with their alert entries; nothing in force changes. A pending
    ECS01a part is another command's and stays."""
    b = rtds.meter(tmp_path)
    m = b.meter
    _send(b, _vec("ECS01a", "FUTURE_DATED_TOU_BLOCK_SUCCESS"))
    # ECS01a's special days stay pending under 0x0019; ECS01b's parts replace its price ones
    _send(b, _vec("ECS01b", "FUTURE_DATED_TOU_BLOCK_SUCCESS"))
    assert len(future.table(m)) == 8
    active = [x[:2] for x in _tariff(m)]
    never = b"\x09\x0c" + b"\xff" * 9 + b"\x80\x00\xff"
    assert _cmd(b, 0x00A2, G.dlms_set(1500, [(113, OB_PRICE, 7, never)])) == [0]
    assert sorted(k for k, _ in m.tariff.pending()) == ["cal", "spd", "thr"]
    assert [x[:2] for x in _tariff(m)] == active
    assert sorted(e[1] for e in future.table(m)) == [0x0019] * 6


def test_mutated_ecs01a_is_all_or_nothing(tmp_path):
    """Random octet changes inside a validly signed ECS01a (the RTDS
    immediate block tariff): every command is answered; one whose results
    are not all success changes no part of the tariff and stores nothing."""
    import random
    rnd = random.Random(20)
    b = rtds.meter(tmp_path)
    m = b.meter
    pl = bytearray.fromhex(G.parse(rtds.message(
        _vec("ECS01a", "IMMEDIATE_BLOCK_SUCCESS")["command_file"]))["payload"])
    seen = set()
    for n in range(60):
        bad = bytearray(pl)
        for _ in range(rnd.choice((1, 1, 2))):
            bad[rnd.randrange(6, len(bad))] = rnd.choice((0, 1, 0xFF, rnd.randrange(256)))
        before = _tariff(m)
        _fresh(m)
        r = m.gbcs_message(G.build_command(0x0019, bytes(bad), 2000 + n, critical=True))
        assert r is not None
        res = [c for _, c in G.parse(r, device_ds_pub=G.test_ds_pub())["dlms"]["results"]] \
            if r[0] == 0xDF and G.parse(r).get("dlms") else None
        if res is None or any(res):
            assert _tariff(m) == before and not future.table(m)
        seen.add(tuple(sorted(set(res or ()))))
    assert len(seen) > 3, seen          # failures of several kinds were met
    assert not any(1 in s for s in seen), seen     # no handler fault
