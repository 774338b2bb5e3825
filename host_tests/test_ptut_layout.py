"""Issue #15 point 2: the PTUT bit layout of top-up codes.

Later GBCS, the DCC RTDS 4.5.0 CS01a vectors and the public gbcs-parser
generator lay the PTUT high word out as 7 zero bits | truncated counter
(56-47) | value class (46-45) | value (44-32); GBCS v0.8.1 Table 14.3.2 as
lead | sub-class | value class (56-55) | value (54-42) | counter (41-32). The
meter reads the later layout first and the v0.8.1 one only as a fallback
(firmware/prepay/account.py Account._top_up)."""
import json
import os
import random

import pytest

from firmware.prepay import utrn as U
from firmware.prepay import account as AC
from runtimes import run_script
from test_prepay import App, Bench, prepay_bench, zcl, new_account
from tools import utrn as UT
from mp.common import tariff_load, topup

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RTDS = json.load(open(os.path.join(ROOT, "host_tests", "vectors", "rtds-cs01a.json")))
POUND = AC.PER_POUND


def rtds_keys():
    """The supplier tool's key dictionary for the RTDS supplier and ESME."""
    return {"supplier_id": RTDS["supplier_id"], "entity_id": RTDS["device_id"],
            "supplier_topup_priv": RTDS["supplier_topup_priv"],
            "ka_pub": RTDS["device_ka_pub"][2:]}


def cs01a(cmd):
    """(UTRN counter, UTRN) of an RTDS CS01a command: the originator counter
    of the grouping header and the octet-string(20) of the DLMS action on
    the Token Gateway (class 115, 0-0:19.40.0.255, method 1)."""
    b = bytes.fromhex(cmd["hex"])
    assert b[:7] == b"\xdd" + bytes(6)                       # MAC header
    i = b.index(b"\xdf\x09")
    assert b[i + 2] == 0x01                                  # CRA: command
    oc = int.from_bytes(b[i + 3:i + 11], "big")
    assert oc & 0xFFFFFFFF == 0                              # top-up OCs (§14.1)
    assert b[i + 12:i + 20].hex().upper() == RTDS["supplier_id"]
    j = b.index(bytes.fromhex("0073" "0000132800FF" "01" "01" "0914"))
    # DLMS access request D9, invoke id (4), no date-time, one spec, action
    assert (b[j - 8], b[j - 3], b[j - 2], b[j - 1]) == (0xD9, 0, 1, 3)
    return oc >> 32, b[j + 12:j + 32].decode()


def rtds_account():
    app = App()
    app.topup_keys = lambda: (b"\x01", b"\x02", bytes.fromhex(RTDS["supplier_id"]),
                              bytes.fromhex(RTDS["device_id"]))
    a = new_account(app)
    a.z = bytes.fromhex(RTDS["z_topup"])      # the ESME's private key is not published
    return a


# -- decoding --------------------------------------------------------------------------------
@pytest.mark.parametrize("cmd", RTDS["cs01a_commands"], ids=lambda c: c["variant"])
def test_rtds_cs01a_utrn_decodes_to_its_command_counter_and_ten_pounds(cmd):
    counter, utrn = cs01a(cmd)
    assert counter in (3, 5)
    lead, vc, value, trunc, _ = U.fields(U.parse(utrn))
    assert (lead, trunc, vc, value) == (0, counter, U.CLASS_POUNDS, 10)
    assert U.check_fields(U.parse(utrn)) == 1000
    # the v0.8.1 reading of the same code: counter 10, a value in pence
    assert U.fields(U.parse(utrn), U.V081)[3] == 10


def test_gbcs_parser_utrns_read_in_the_later_layout_and_authenticate():
    """test/utrn.test.ts of gbcs-parser: UTRNs made for the RTDS supplier and
    ESME; the later reading gives the counter and value they were made with
    and its MAC verifies with the RTDS Z (the v0.8.1 reading's does not)."""
    z = bytes.fromhex(RTDS["z_topup"])
    sup, dev = bytes.fromhex(RTDS["supplier_id"]), bytes.fromhex(RTDS["device_id"])
    for u in RTDS["parser_utrns"]:
        code = u.get("utrn") or u["pptd"] + str(U.check_digit(u["pptd"]))
        ptut = U.parse(code)
        lead, vc, value, trunc, _ = U.fields(ptut)
        assert (lead, vc, value, trunc) == (0, u["value_class"], u["value"], u["counter"])
        assert U.mac_ok(z, sup, dev, u["counter"], ptut)
        assert not U.mac_ok(z, sup, dev, U.fields(ptut, U.V081)[3], ptut)


def test_supplier_tool_makes_the_rtds_codes_byte_for_byte():
    """tools/utrn.py (OpenSSL, independent of the firmware) reproduces the
    RTDS CS01a UTRNs and gbcs-parser's from the RTDS keys: the later
    layout is its default, --v081-layout the old one."""
    k = rtds_keys()
    for cmd in RTDS["cs01a_commands"]:
        counter, utrn = cs01a(cmd)
        assert UT.make_utrn(counter, pounds=10, keys=k) == utrn
        old = UT.make_utrn(counter, pounds=10, keys=k, v081_layout=True)
        assert old != utrn and U.fields(U.parse(old), U.V081)[1:4] == (1, 10, counter)
    for u in RTDS["parser_utrns"]:
        kw = {"pounds" if u["value_class"] else "pence": u["value"]}
        code = UT.make_utrn(u["counter"], keys=k, **kw)
        if "utrn" in u:
            assert code == u["utrn"]
        else:
            assert code[:19] == u["pptd"]


def test_supplier_tool_command_line_layout_flag():
    import subprocess
    import sys
    out = []
    for extra in ([], ["--v081-layout"]):
        p = subprocess.run([sys.executable, "-m", "tools.utrn", "--pounds", "7", "--counter", "1234"]
                           + extra, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        out.append(U.parse(p.stdout.strip()))
    assert U.fields(out[0])[1:4] == (1, 7, 1234 & 0x3FF)
    assert U.fields(out[1], U.V081)[1:4] == (1, 7, 1234 & 0x3FF)


# -- the network route (CS01a) and the keypad, account level ------------------------------
def test_rtds_cs01a_is_applied_on_the_network_route_and_keyed_in():
    a = rtds_account()
    (c3, u3), (c5, u5) = [cs01a(c) for c in RTDS["cs01a_commands"]]
    assert a.top_up_ptut(U.parse(u3), c3) == 10 * POUND
    assert (a.cache.counters[0], a.cache.flags[0]) == (3, U.FLAG_NETWORK)
    with pytest.raises(U.UtrnError) as e:
        a.top_up_ptut(U.parse(u3), c3)
    assert e.value.args[0] == U.DUPLICATE
    with pytest.raises(U.UtrnError) as e:
        a.top_up_code(u3, U.FLAG_LOCAL)          # the same code keyed in: the same counter
    assert e.value.args[0] == U.DUPLICATE
    assert a.top_up_code(u5, U.FLAG_LOCAL) == 10 * POUND      # counter 5 reconstructed from 3
    assert (a.cache.counters[1], a.cache.flags[1]) == (5, U.FLAG_LOCAL)
    with pytest.raises(U.UtrnError) as e:
        a.top_up_ptut(U.parse(u5), c5 + 1)       # the command's OC is not the code's
    assert e.value.args[0] == U.NOT_AUTHENTIC
    assert a.mb == 20 * POUND and a.ledger_ok()


def test_a_new_meter_takes_a_keyed_rtds_code():
    a = rtds_account()
    _, u3 = cs01a(RTDS["cs01a_commands"][0])
    assert a.top_up_code(u3, U.FLAG_LOCAL) == 10 * POUND and a.cache.highest() == 3


def outcome(f, *args):
    try:
        return 0, f(*args)
    except U.UtrnError as e:
        return e.args[0], 0


def test_both_layouts_and_the_order_of_checks():
    a, _ = keyed_account()
    key = lambda code: outcome(a.top_up_code, code, U.FLAG_LOCAL)          # noqa: E731
    later = lambda c, **kw: UT.make_utrn(c, **kw)                          # noqa: E731
    old = lambda c, **kw: UT.make_utrn(c, v081_layout=True, **kw)          # noqa: E731
    assert key(later(1000, pounds=2)) == (0, 2 * POUND)
    assert key(later(1000, pounds=2)) == (U.DUPLICATE, 0)
    assert key(old(1001, pounds=3)) == (0, 3 * POUND)                    # the fallback
    assert key(old(1001, pounds=3)) == (U.DUPLICATE, 0)
    assert key(later(1001, pounds=1)) == (U.DUPLICATE, 0)                # one counter space
    # badly formed in the later reading (class 11), MAC-valid in v0.8.1's
    code = old(1002, pence=24)
    assert U.fields(U.parse(code))[1] == 3
    assert key(code) == (0, 24000)
    # a later code whose v0.8.1 reading is badly formed (class 11) is fine
    code = later(1003, pence=5)
    assert U.fields(U.parse(code), U.V081)[1] == 3 and key(code) == (0, 5000)
    # the same outcome in either layout for forged, over-limit and badly formed codes
    for make in (later, old):
        assert key(forge(make(1004, pounds=5))) == (U.NOT_AUTHENTIC, 0)
        assert key(make(1004, pounds=151)) == (U.OVER_MAX_CREDIT, 0)
        assert key(make(1004, pence=8, sub_class=1)) == (U.BAD_FORMAT, 0)
    assert key(old(1004, pence=24, value_class=3)) == (U.BAD_FORMAT, 0)   # 11 in both readings
    a.max_balance = 10                                                   # £5.29 + £5 > £10
    for make in (later, old):
        assert key(make(1004, pounds=5)) == (U.OVER_MAX_BALANCE, 0)
    assert a.mb == 2 * POUND + 3 * POUND + 24000 + 5000 and a.cache.n == 4 and a.ledger_ok()


def test_when_both_readings_give_the_same_counter_the_later_layout_decides():
    """The MAC input depends on the counter only (and the raw high word), so
    a code whose value bits 41-32 equal its counter bits authenticates in
    both readings: the later reading decides, also when one of its checks
    fails (a £1040 code never becomes the v0.8.1 reading's £5.21)."""
    a, _ = keyed_account()
    key = lambda code: outcome(a.top_up_code, code, U.FLAG_LOCAL)          # noqa: E731
    assert key(UT.make_utrn(1000, pence=1)) == (0, 1000)
    code = UT.make_utrn(1040, pounds=1040)                     # 1040 & 0x3FF == 16
    old_reading = U.fields(U.parse(code), U.V081)
    assert old_reading[1:4] == (0, 521, 16)                    # £5.21, counter 16 -> 1040
    assert key(code) == (U.OVER_MAX_CREDIT, 0)
    code = UT.make_utrn(1040, pence=16)
    assert U.fields(U.parse(code), U.V081)[1:4] == (0, 512, 16)
    assert key(code) == (0, 16000)                             # 16 p, not 512 p


def test_network_route_reads_both_layouts():
    a, _ = keyed_account()
    net = lambda code, c: outcome(a.top_up_ptut, U.parse(code), c)         # noqa: E731
    assert net(UT.make_utrn(1100, pounds=1), 1100) == (0, POUND)
    assert net(UT.make_utrn(1101, pounds=1, v081_layout=True), 1101) == (0, POUND)
    assert net(UT.make_utrn(1102, pounds=1), 1103) == (U.NOT_AUTHENTIC, 0)
    assert net(UT.make_utrn(1100, pounds=1), 1100) == (U.DUPLICATE, 0)
    assert [a.cache.flags[i] for i in range(a.cache.n)] == [U.FLAG_NETWORK] * 2


def test_random_codes_in_either_layout_credit_what_they_were_made_for():
    """Random counters, classes and values in both layouts, keyed in (the
    cache's highest entry up to 300 below) and on the network route: each
    credits its own value once. (Codes whose two readings give the same
    counter, 1 in 1024, are the test above.)"""
    rnd = random.Random(15)
    seen = [0, 0]
    for _ in range(120):
        counter = rnd.randrange(301, 1 << 32)
        v081 = rnd.randrange(2)
        pounds = rnd.randrange(2)
        value = rnd.randrange(151) if pounds else rnd.randrange(8192)
        code = UT.make_utrn(counter, v081_layout=bool(v081),
                            **{"pounds" if pounds else "pence": value})
        ptut = U.parse(code)
        if U.fields(ptut, U.LATER)[3] == U.fields(ptut, U.V081)[3]:
            continue
        want = (0, value * (POUND if pounds else AC.PER_PENNY))
        a, _ = keyed_account()
        a.cache.add(counter - 1 - rnd.randrange(300), U.FLAG_LOCAL)
        assert outcome(a.top_up_code, code, U.FLAG_LOCAL) == want
        assert outcome(a.top_up_code, code, U.FLAG_LOCAL) == (U.DUPLICATE, 0)
        assert a.cache.highest() == counter
        a, _ = keyed_account()
        assert outcome(a.top_up_ptut, ptut, counter) == want
        seen[v081] += 1
    assert min(seen) > 40


def keyed_account():
    """An account holding the supplier tool's test keys."""
    app = App()
    k = UT.test_keys()
    app.topup_keys = lambda: tuple(bytes.fromhex(k[n]) for n in
                                   ("ka_priv", "supplier_topup_pub", "supplier_id", "entity_id"))
    return new_account(app), app


def forge(code, i=12):
    """Digit i changed and the check digit recomputed: only the MAC can tell."""
    code = code[:i] + str((int(code[i]) + 3) % 10) + code[i + 1:19]
    return code + str(UT.check_digit(code))


# -- the meter: keypad, PPMID, alerts and logs, a cache of v0.8.1 counters -----------------
@pytest.mark.parametrize("v081", [False, True], ids=["later", "v081"])
def test_keypad_outcomes_alerts_and_logs_are_the_same_in_both_layouts(tmp_path, v081):
    b = prepay_bench(tmp_path)
    m = b.m
    make = lambda c, **kw: UT.make_utrn(c, v081_layout=v081, **kw)        # noqa: E731
    assert topup(m, make(1000, pounds=2)) == (0, 2 * POUND)
    assert topup(m, make(1000, pounds=2)) == (U.DUPLICATE, 0)
    assert topup(m, make(999, pounds=2)) == (U.DUPLICATE, 0)              # below the lowest
    assert topup(m, make(1010, pence=1)) == (0, 1000)
    assert topup(m, forge(make(1001, pounds=2))) == (U.NOT_AUTHENTIC, 0)
    assert topup(m, make(1002, pounds=151)) == (U.OVER_MAX_CREDIT, 0)
    assert topup(m, make(1002, pence=3, sub_class=2)) == (U.BAD_FORMAT, 0)
    m.account.max_balance = 3
    assert topup(m, make(1002, pounds=2)) == (U.OVER_MAX_BALANCE, 0)
    assert m.account.mb == 201000 and m.account.cache.n == 2
    assert [a for a in m.alerts if a >> 8 == 0x8F] == [0x8F51, 0x8F51, 0x8F63, 0x8F5B, 0x8F47]
    sec = m.log_between(m.security_log, 0, 1 << 32)
    assert [v >> 24 for _, code, _, v in sec if code == 0x0102] == \
        [U.DUPLICATE, U.DUPLICATE, U.NOT_AUTHENTIC]


@pytest.mark.parametrize("v081", [False, True], ids=["later", "v081"])
def test_ppmid_consumer_top_up_in_both_layouts(tmp_path, v081):
    b = prepay_bench(tmp_path)
    code = UT.make_utrn(5, pounds=4, v081_layout=v081)

    def send(c):
        r = zcl(b, "Prepayment", "ConsumerTopUp", {"OriginatingDevice": 2, "TopUpCode": c},
                src=0x5A5A)
        assert r[-1]["command"] == "ConsumerTopUpResponse"
        return r[-1]["fields"]["ResultType"], r[-1]["fields"]["TopUpValue"]
    assert send(code[:19] + "0") == (0, 4 * POUND)       # digit 20 dropped unchecked (§14.7)
    assert send(code) == (2, 0)                          # duplicate
    assert send(forge(UT.make_utrn(6, pounds=4, v081_layout=v081))) == (1, 0)
    assert b.acc.mb == 4 * POUND


def test_rtds_codes_on_the_keypad_and_from_a_ppmid(tmp_path):
    b = Bench(tmp_path, config={"entity_id": RTDS["device_id"], "supplier_id": RTDS["supplier_id"],
                                "supplier_topup_pub": "00", "ka_priv": "00"})
    tariff_load(b.m, {"tariff_id": 20, "provider_id": 1, "currency": 826, "price_scaler": -5,
                     "tou": [20000], "standing_charge": {"amount": 0, "period_s": 86400},
                     "calendar": {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7},
                                  "days": {"1": [["00:00", 1]]}}, "special_days": []})
    b.acc.z = bytes.fromhex(RTDS["z_topup"])             # the ESME's private key is not published
    (c3, u3), (c5, u5) = [cs01a(c) for c in RTDS["cs01a_commands"]]
    assert topup(b.m, u3) == (0, 10 * POUND)
    r = zcl(b, "Prepayment", "ConsumerTopUp", {"OriginatingDevice": 2, "TopUpCode": u5},
            src=0x5A5A)
    assert (r[-1]["fields"]["ResultType"], r[-1]["fields"]["TopUpValue"]) == (0, 10 * POUND)
    assert sorted(b.acc.cache.counters[:b.acc.cache.n]) == [c3, c5]
    assert topup(b.m, u3) == (U.DUPLICATE, 0)


def test_a_meter_holding_v081_counters_keeps_rejecting_their_replays(tmp_path):
    """Counters are stored as numbers, whatever layout carried them: codes
    accepted in the v0.8.1 layout before the update stay duplicates (in
    their own reading: the later reading of such a code does not
    authenticate), also after a restart and once evicted below the lowest
    entry, and later-layout codes carry on from the same counters."""
    b = prepay_bench(tmp_path)
    old = [UT.make_utrn(c, pence=1, v081_layout=True) for c in range(500, 602)]
    for code in old:
        assert topup(b.m, code) == (0, 1000)
    assert b.acc.cache.n == 100 and b.acc.cache.lowest() == 502
    b.restart()
    alerts = len(b.m.alerts)
    for code in old[:3] + old[50:52] + old[-2:]:
        assert topup(b.m, code) == (U.DUPLICATE, 0)
    assert b.m.alerts[alerts:].count(0x8F51) == 7
    sec = b.m.log_between(b.m.security_log, 0, 1 << 32)
    assert [v >> 24 for _, code, _, v in sec if code == 0x0102][-7:] == [U.DUPLICATE] * 7
    assert topup(b.m, UT.make_utrn(601, pence=1)) == (U.DUPLICATE, 0)    # same counter, new layout
    assert topup(b.m, UT.make_utrn(602, pence=1)) == (0, 1000)
    assert b.acc.mb == 103 * 1000 and b.acc.cache.highest() == 602


# -- both runtimes ---------------------------------------------------------------------------
def test_both_layouts_same_on_both_runtimes(tmp_path):
    """host_tests/mp/ptut_layout.py on MicroPython (board heap) and CPython:
    the same outcomes byte for byte, and the right ones."""
    later = lambda c, **kw: UT.make_utrn(c, **kw)                          # noqa: E731
    old = lambda c, **kw: UT.make_utrn(c, v081_layout=True, **kw)          # noqa: E731
    cases = [["L1000", "key", later(1000, pounds=2)], ["L1000r", "key", later(1000, pounds=2)],
             ["O1001", "key", old(1001, pounds=3)], ["O1001r", "key", old(1001, pounds=3)],
             ["L1001", "key", later(1001, pounds=1)], ["O24p", "key", old(1002, pence=24)],
             ["Lforged", "key", forge(later(1003, pounds=5))],
             ["Oforged", "key", forge(old(1003, pounds=5))],
             ["Lbig", "key", later(1003, pounds=151)], ["Obig", "key", old(1003, pounds=151)],
             ["Amb", "key", later(1040, pounds=1040)], ["Amb16", "key", later(1040, pence=16)],
             ["Bad", "key", old(1041, pence=24, value_class=3)],
             ["NL", "net", later(1100, pounds=1), 1100], ["NO", "net", old(1101, pounds=1), 1101],
             ["NX", "net", later(1102, pounds=1), 1103], ["NLr", "net", later(1100, pounds=1), 1100],
             ["new", True]]
    cases += [["O%d" % c, "key", old(c, pence=1)] for c in range(500, 602)]
    cases += [["Or%d" % c, "key", old(c, pence=1)] for c in (500, 550, 601)]
    cases += [["L602", "key", later(602, pence=1)], ["new", False],
              ["Nokeys", "key", later(1, pounds=1)]]
    inp = {"keys": UT.meter_config(), "cases": cases}
    (tmp_path / "in.json").write_text(json.dumps(inp))
    out = {}
    for rt in ("cpython", "micropython"):
        (tmp_path / rt).mkdir()
        out[rt] = run_script(rt, "ptut_layout.py", str(tmp_path / rt), str(tmp_path / "in.json"),
                             preload="firmware.prepay.account")
    assert out["micropython"] == out["cpython"]
    res = {}
    for line in out["cpython"].splitlines():
        w = line.split()
        if w[1] in ("key", "net"):
            res[w[0]] = (int(w[2]), int(w[3]))
    P = POUND
    want = {"L1000": (0, 2 * P), "L1000r": (U.DUPLICATE, 0), "O1001": (0, 3 * P),
            "O1001r": (U.DUPLICATE, 0), "L1001": (U.DUPLICATE, 0), "O24p": (0, 24000),
            "Lforged": (U.NOT_AUTHENTIC, 0), "Oforged": (U.NOT_AUTHENTIC, 0),
            "Lbig": (U.OVER_MAX_CREDIT, 0), "Obig": (U.OVER_MAX_CREDIT, 0),
            "Amb": (U.OVER_MAX_CREDIT, 0), "Amb16": (0, 16000), "Bad": (U.BAD_FORMAT, 0),
            "NL": (0, P), "NO": (0, P), "NX": (U.NOT_AUTHENTIC, 0), "NLr": (U.DUPLICATE, 0),
            "O500": (0, 1000), "O601": (0, 1000), "Or500": (U.DUPLICATE, 0),
            "Or550": (U.DUPLICATE, 0), "Or601": (U.DUPLICATE, 0), "L602": (0, 1000),
            "Nokeys": (U.NOT_FOR_DEVICE, 0),
            "parser1": (0, 100 * P), "rtdsSUCCESS": (0, 10 * P), "replaySUCCESS": (U.DUPLICATE, 0),
            "rtdsERROR": (0, 10 * P), "replayERROR": (U.DUPLICATE, 0), "parser4": (0, 1234000)}
    assert {k: res.get(k) for k in want} == want
    assert out["cpython"].splitlines()[-1] == "ledger %d True" % (120 * P + 1234000)
    assert "rtds SUCCESS 3 73946144332040217315 (0, 1, 10, 3)" in out["cpython"]
    assert "rtds ERROR 5 73948959061972833313 (0, 1, 10, 5)" in out["cpython"]
