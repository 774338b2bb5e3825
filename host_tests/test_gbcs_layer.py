"""GBCS message and security layer (firmware/gbcs): the RTDS 4.5.0 ESME
commands through Meter.gbcs_message, the §6.2.4 failure cases, counters
across power cuts, the v0.8.1 §18.4 worked examples, a short fuzz."""
import json
import os
import random

import pytest

from conftest import Bench
from tools import gbcs_host as G
from firmware.gbcs import keystore as K
from firmware.gbcs import core
from firmware import vboard as V

RTDS = "/work/shared/vectors/rtds/"
V184 = "/work/shared/vectors/gbcs-18.4.json"
T2015 = 473385600          # 2015-01-01 00:00:00 UTC, the RTDS responses' date-time
pytestmark = pytest.mark.skipif(not os.path.exists(RTDS + "index.json"),
                                reason="RTDS vectors not available")


def _vectors():
    with open(RTDS + "index.json") as f:
        return json.load(f)["vectors"]


def _hex(name):
    with open(RTDS + "messages/" + name) as f:
        return bytes.fromhex(f.read().strip())


COMMANDS = [v for v in _vectors() if v.get("command_file")] if os.path.exists(RTDS) else []
DLMS = [v for v in COMMANDS if "ASN.1" not in v["payload_kind"]]
TOPUP_CFG = {"firmware_version": "0123ABCD", "entity_id": G.DEVICE,
             "supplier_id": G.SUPPLIER, "ka_priv": "01" * 32, "supplier_topup_pub": "02" * 64}


def _meter(tmp_path, utc=T2015, ks=None, cfg=TOPUP_CFG):
    b = Bench(str(tmp_path), config=cfg, utc=utc)
    b.clock.set(utc)            # boot moves an implausible (pre-2020) RTC; RTDS dates are 2015
    b.alerts_sent = []
    b.meter.tunnel_send = b.alerts_sent.append
    K.install(b.meter, *(ks or G.rtds_keystore()))
    return b


def _fresh_counters(m):
    m._gctr = [0, {}]


def _snapshot(m):
    s = V.state(m)
    for k in ("Alerts", "Logs"):      # what a rejected command records
        s["meter"].pop(k, None)
    return json.dumps(s, sort_keys=True, default=str)


@pytest.fixture
def bench(tmp_path):
    return _meter(tmp_path)


def test_every_rtds_message_parses_on_the_meter():
    """Every visible command, response and alert: the meter's parser takes
    it, and the fields agree with the host's."""
    n = 0
    for v in _vectors():
        for k in ("command_file", "response_file", "alert_file"):
            if v.get(k):
                b = _hex(v[k])
                p = core.parse(b)
                f = G.parse(b)
                assert p[6] == f["message_code"] and p[15] == f["cra"]
                assert b[p[2]:p[2] + 8].hex().upper() == f["originator"]
                assert b[p[9]:p[9] + p[10]].hex().upper() == f["payload"]
                n += 1
    assert n == 396


def _relations(cmd, resp, v):
    c = G.parse(cmd)
    r = G.parse(resp, device_ds_pub=G.test_ds_pub())
    assert r["cra"] == 2 and r["counter"] == c["counter"]
    assert (r["originator"], r["recipient"]) == (c["recipient"], c["originator"])
    assert r["message_code"] == c["message_code"]
    assert (r["srp_id"], r["srp_counter"]) == (c["srp_id"], c["srp_counter"])
    if v["critical"]:
        assert r["kind"] == "signed" and r["sig_ok"] is True and not r["mac"]
    else:
        assert r["kind"] == "mac" and r["mac_ok"] is True
    assert bool(r["date_time"]) == bool(v.get("response_date_time"))
    req = bytes.fromhex(c["payload"])
    assert r["dlms"]["invoke"] == int.from_bytes(req[1:5], "big")
    return r


# uc_device.py's use cases (ECS70, 26e, 81, 26c, 38, 39a, 40, 14, 10, 50, 16, 34, 26f,
# 25a, 25b, 25r1, 18b, 37, 57, 23, 26b, 29a, 29e; 23b)
_DEVICE_UCS = (0x0062, 0x003F, 0x0068, 0x003D, 0x004B, 0x004C, 0x004E, 0x0023, 0x0021, 0x0058,
               0x0025, 0x0047, 0x0040, 0x00AC, 0x00B0, 0x00EE, 0x002C, 0x004A, 0x005A, 0x0039,
               0x003C, 0x0045, 0x00D3, 0x00BC)   # ECS23b: phase 1 answers, 1-0:52.x undefined
# uc_read.py's (test_uc_read.py)
_READ_UCS = (0x0024, 0x0026, 0x0027, 0x002D, 0x002E, 0x002F, 0x0033, 0x0035, 0x0036, 0x0037,
             0x0048, 0x0049, 0x0060, 0x00B9)
# the use cases the meter executes (the rest: object-undefined, nothing changed)
# uc_account.py's (test_uc_account.py): ECS02, 03, 04a, 04b, 07, 08, 09, 82, 26a, CS01a
_ACCOUNT_UCS = (0x0007, 0x001A, 0x001B, 0x001C, 0x00B3, 0x001E, 0x001F, 0x0020, 0x0069, 0x003B)
# uc_supply.py's (test_uc_supply.py): ECS27, 28a, 28b, 42, 43, 44, 45, 46a, 47, 61a, 62
_SUPPLY_UCS = (0x0042, 0x0043, 0x0044, 0x004F, 0x0050, 0x0051, 0x0052, 0x0053, 0x0055, 0x00BB,
               0x005F)
# uc_tariff.py's (test_uc_tariff.py): ECS01a, 01b, 05, 24, 30, 26d
_TARIFF_UCS = (0x0019, 0x00A2, 0x001D, 0x003A, 0x0046, 0x003E)
SHIPPED = (0x0059, 0x0022) + _DEVICE_UCS + _TARIFF_UCS + _READ_UCS + _ACCOUNT_UCS + _SUPPLY_UCS


@pytest.mark.parametrize("v", DLMS, ids=lambda v: v["command_file"].split("/")[1][:-9])
def test_rtds_dlms_command_authenticated_and_answered(tmp_path, v):
    """Each visible DLMS command passes every check and gets a protected
    response with the RTDS relations (README 'What the same structure
    means'); the RTDS response's own result kinds; a use case not shipped
    changes nothing and answers object-undefined, then other-reason."""
    b = _meter(tmp_path)
    m = b.meter
    cmd = _hex(v["command_file"])
    before = _snapshot(m)
    sec = m.security_log.seq
    resp = m.gbcs_message(cmd)
    cleared = v["use_case"] == "ECS15a"        # its clear is itself logged (0x8F52, uc_read.py)
    assert resp is not None and m.security_log.seq == sec + cleared and not b.alerts_sent
    if cleared:
        assert m.log_between(m.security_log, 0, 0xFFFFFFFF)[-1][1] == 0x8F52
    r = _relations(cmd, resp, v)
    ref = G.parse(_hex(v["response_file"]))["dlms"]
    assert [k for k, _ in r["dlms"]["results"]] == [k for k, _ in ref["results"]]
    if int(v["message_code"], 16) not in SHIPPED:
        res = [c for _, c in r["dlms"]["results"]]
        assert res == [4] + [250] * (len(res) - 1)
        assert _snapshot(m) == before


def test_ecs52_success_response_byte_for_byte(bench):
    v = [v for v in COMMANDS if v["variant"] == "SUCCESS" and v["use_case"] == "ECS52"][0]
    assert bench.meter.gbcs_message(_hex(v["command_file"])) == _hex(v["response_file"])


# The ASN.1 use cases (CS02a-f, CS03A1, CS04AC, CS06) are run and tested in
# test_asn1_use_cases.py.


def test_cs02f_error_response_byte_for_byte(tmp_path):
    """RTDS 6.24.1 CS02fMAC ERROR: the role the meter cannot give details
    for (5) gets statusCode other (127); the whole MACed response matches.
    (The meter reports the cells it holds, so this one holds no
    transitionalCoS cell, as the RTDS meter evidently did not.)"""
    b = _meter(tmp_path, ks=G.rtds_keystore(cells=[c for c in G.RTDS_CELLS if c[0] != 5]))
    v = [v for v in COMMANDS if v["use_case"] == "CS02fMAC" and v["variant"] == "ERROR"][0]
    assert b.meter.gbcs_message(_hex(v["command_file"])) == _hex(v["response_file"])


# -- failures (§6.2.4.2): no response, no state change, security log, alert ------------
def _expect_failure(bench, msg, code):
    m = bench.meter
    before = _snapshot(m)
    ctr = dict(core.counters(m)[1])
    sec = m.security_log.seq
    n = len(bench.alerts_sent)
    assert m.gbcs_message(msg) is None
    assert _snapshot(m) == before and core.counters(m)[1] == ctr
    assert m.security_log.seq == sec + 1
    last = m.log_between(m.security_log, 0, 2 ** 32)[-1]
    assert last[0] == sec + 1 and last[1] == code
    assert len(bench.alerts_sent) == n + 1
    a = G.parse(bench.alerts_sent[-1], device_ds_pub=G.test_ds_pub())
    assert a["cra"] == 3 and a["message_code"] == 0x1000 and a["sig_ok"] is True
    assert a["recipient"] == G.SUPPLIER and a["originator"] == G.DEVICE
    pl = bytes.fromhex(a["payload"])
    assert pl[:2] == b"\x0f\x20" and pl[5:9] == b"\x00\x02\x02\x12"
    assert int.from_bytes(pl[9:11], "big") == code
    assert m.alerts[-1] == code
    return a


def _ecs52(counter=1000, **kw):
    return G.build_command(0x0059, G.ecs52_payload(counter), counter, **kw)


def test_forged_mac(bench):
    msg = bytearray(_ecs52())
    msg[-1] ^= 1
    _expect_failure(bench, bytes(msg), 0x8F3D)


def test_forged_signature(bench):
    """A critical command MACed by the ACB over a signature the supplier's
    key does not verify (signed with the network operator's key)."""
    no = bytes.fromhex(G.load_keys()["keys"]["90b3d51f30020000-ds"]["private_key"])
    msg = G.build_command(0x00B3, G.ecs04b_payload(1000), 1000, critical=True, signer=no)
    _expect_failure(bench, msg, 0x8F3D)


def test_signer_in_the_wrong_cell(tmp_path):
    """The supplier's DS cell holding the network operator's key: the RTDS
    supplier-signed commands fail; a NO-originated code the NO may not send
    fails its authority check."""
    cells = list(G.RTDS_CELLS)
    cells[0] = (2, 0, 0, "90b3d51f30020000-ds")
    ks = G.rtds_keystore(cells=cells)
    ks[3][0] = (2, 0, 0, bytes.fromhex(G.SUPPLIER)) + ks[3][0][4:]
    b = _meter(tmp_path, ks=ks)
    v = [v for v in COMMANDS if v["use_case"] == "ECS04b" and v["variant"] == "SUCCESS"][0]
    _expect_failure(b, _hex(v["command_file"]), 0x8F3D)
    msg = G.build_command(0x0059, G.ecs52_payload(5), 5, originator=G.NETWORK_OPERATOR)
    _expect_failure(b, msg, 0x8F30)


def test_wrong_recipient(bench):
    _expect_failure(bench, _ecs52(target="00DB1234567890A1"), 0x8F1E)


def test_unknown_originator(bench):
    _expect_failure(bench, _ecs52(originator="90B3D51F300100FF"), 0x8F30)


def test_replayed_and_stale_counters(bench):
    m = bench.meter
    assert m.gbcs_message(_ecs52(1005)) is not None
    _expect_failure(bench, _ecs52(1005), 0x8F3D)      # replayed
    _expect_failure(bench, _ecs52(1004), 0x8F3D)      # stale
    assert m.gbcs_message(_ecs52(1006)) is not None
    # the counter is per (role, message code): another code is not stale
    assert m.gbcs_message(G.build_command(0x003A, G.ecs52_payload(7), 7)) is not None


def test_counters_survive_a_power_cut(bench):
    assert bench.meter.gbcs_message(_ecs52(2000)) is not None
    a1 = G.parse(_expect_failure(bench, _ecs52(1), 0x8F3D) and bench.alerts_sent[-1])["counter"]
    bench.restart()
    bench.alerts_sent = []
    bench.meter.tunnel_send = bench.alerts_sent.append
    _expect_failure(bench, _ecs52(2000), 0x8F3D)
    assert G.parse(bench.alerts_sent[-1])["counter"] > a1
    assert bench.meter.gbcs_message(_ecs52(2001)) is not None


def test_truncated_messages(bench):
    msg = _ecs52(3000)
    for n in (0, 1, 7, 8, 20, 40, len(msg) - 13, len(msg) - 1):
        _expect_failure(bench, msg[:n] if n else b"\xdd", 0x8F1E)
    _expect_failure(bench, msg + b"\x00", 0x8F1E)


def test_non_critical_code_with_a_signature_refused(bench):
    sup = bytes.fromhex(G.load_keys()["keys"]["90b3d51f30010000-ds"]["private_key"])
    msg = G.build_command(0x0059, G.ecs52_payload(9), 9, critical=True, signer=sup)
    _expect_failure(bench, msg, 0x8F1E)


def test_alert_counter_monotonic_from_provisioning(bench):
    core.set_device_counter(bench.meter, 1999)
    _expect_failure(bench, _ecs52(target="00DB1234567890A1"), 0x8F1E)
    assert G.parse(bench.alerts_sent[-1])["counter"] == 2000


def test_alert_matches_the_rtds_generic_critical_alert(bench):
    """Device counter 1999, clock 2015-01-01: the 0x8F30 alert is the RTDS
    GCA-DLMS 8F30 alert but for the 64-octet signature (our test key)."""
    core.set_device_counter(bench.meter, 1999)
    a = _expect_failure(bench, _ecs52(originator="90B3D51F300100FF"), 0x8F30)
    ref = _hex("NA_GCA-DLMS/GCA-DLMS_NA_8F30_ALERT_GBCS.HEX")
    got = bench.alerts_sent[-1]
    assert len(got) == len(ref) and got[:-64] == ref[:-64]
    assert a["counter"] == 2000


def test_short_fuzz_no_crash_no_state_change(bench):
    """Mutated RTDS commands: never an exception; a rejected one changes
    nothing but the security log."""
    m = bench.meter
    rnd = random.Random(17)
    seeds = [_hex(v["command_file"]) for v in DLMS[::6]]
    before = _snapshot(m)
    for i in range(300):
        b = bytearray(rnd.choice(seeds))
        for _ in range(rnd.randint(1, 4)):
            op = rnd.randrange(3)
            k = rnd.randrange(len(b))
            if op == 0:
                b[k] = rnd.randrange(256)
            elif op == 1:
                del b[k:k + rnd.randint(1, 8)]
            else:
                b[k:k] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 4)))
        if not b:
            continue
        _fresh_counters(m)
        assert m.gbcs_message(bytes(b)) is None
        assert _snapshot(m) == before


def test_keystore_record_round_trip(bench):
    m = bench.meter
    ks = K.get(m)
    del m._gks
    assert K.get(m)[:5] == ks[:5]
    bench.restart()
    assert K.get(bench.meter)[:5] == ks[:5]


def test_lengths_both_forms():
    assert core.enc_len(0x7F) == b"\x7f" and core.enc_len(0xA9) == b"\x81\xa9"
    assert core.enc_len(0xA9, True) == b"\x82\x00\xa9" and core.enc_len(0x123) == b"\x82\x01\x23"
    assert core.dec_len(b"\x81\xa9", 0) == (0xA9, 2) and core.dec_len(b"\x82\x00\xa9", 0) == (0xA9, 3)
    with pytest.raises(core.GbcsError):
        core.dec_len(b"\x84\x00\x00\x00\x01", 0)


# -- both runtimes ---------------------------------------------------------------------------
def test_same_on_both_runtimes(tmp_path):
    """host_tests/mp/gbcs_layer.py on MicroPython (board heap) and CPython:
    the same responses, log entries and alerts byte for byte, and the right
    ones (ECS52 as RTDS, failures alerted)."""
    from runtimes import run_script
    # no transitionalCoS cell: the RTDS CS02f ERROR meter could not report role 5
    ks = G.keystore_json(G.rtds_keystore(cells=[c for c in G.RTDS_CELLS if c[0] != 5]))
    ecs52 = [v for v in COMMANDS if v["use_case"] == "ECS52" and v["variant"] == "SUCCESS"][0]
    crit = [v for v in COMMANDS if v["use_case"] == "ECS05"][0]
    nosup = [v for v in COMMANDS if v["use_case"] == "ECS26a"][0]
    c52 = _hex(ecs52["command_file"])
    bad = bytearray(c52)
    bad[-3] ^= 0x40
    msgs = [["ecs52", c52.hex(), True], ["ecs52-replay", c52.hex(), False],
            ["ecs52-badmac", bytes(bad).hex(), True],
            ["ecs05", _hex(crit["command_file"]).hex(), True],
            ["ecs26a", _hex(nosup["command_file"]).hex(), True],
            ["wrong-target", _ecs52(target="00DB1234567890A1").hex(), True],
            ["truncated", c52[:30].hex(), True],
            ["cs02f-error", _hex(_vec("CS02fMAC", "ERROR")["command_file"]).hex(), True],
            ["cs06", _hex(_vec("CS06", "IMMEDIATE_SUCCESS")["command_file"]).hex(), True],
            ["ecs02-future", _hex(_vec("ECS02", "FUTURE_DATED_TWIN_SUCCESS")["command_file"]).hex(),
             True]]
    inp = {"config": {"firmware_version": "0123ABCD"}, "utc": T2015, "keystore": ks,
           "device_counter": 1999, "messages": msgs}
    (tmp_path / "in.json").write_text(json.dumps(inp))
    out = {}
    for rt in ("cpython", "micropython"):
        (tmp_path / rt).mkdir()
        out[rt] = run_script(rt, "gbcs_layer.py", str(tmp_path / rt), str(tmp_path / "in.json"),
                             preload="firmware.meter")
    assert out["micropython"] == out["cpython"]
    lines = out["cpython"].splitlines()
    assert lines[0] == "ecs52 " + _hex(ecs52["response_file"]).hex()
    assert lines[2] == "ecs52-replay none" and lines[3].split()[2] == "8f3d"
    names = [l.split()[0] for l in lines if not l.startswith(" ")]
    assert names[:len(msgs)] == [m[0] for m in msgs]
    assert sum(1 for l in lines if l.startswith("  alert")) == 4
    resp = dict(l.split()[:2] for l in lines if l.split()[0] in ("cs02f-error", "cs06"))
    assert resp["cs02f-error"] == _hex(_vec("CS02fMAC", "ERROR")["response_file"]).hex()
    # CS06 with no image held: ExecutionOutcome {noImageHeld (1), version} (§11.5)
    assert G.parse(bytes.fromhex(resp["cs06"]))["payload"] == "300902010104040123ABCD"
    alert = [l.split()[3] for l in lines if l.startswith("tick")]
    ref = _hex(ECS02_ALERT)
    got, want = G.parse(bytes.fromhex(alert[0])), G.parse(ref)     # counters differ: 4 alerts before
    assert len(alert) == 1 and got["message_code"] == want["message_code"] == 0x00CC
    assert got["payload"][10:] == want["payload"][10:]
    assert lines[-1] == "due 4294967295 mode 1"


# -- GBCS v0.8.1 §18.4 worked examples (v0.8.1 forms: 82 lengths, AAD 11, signed data
# without tags and lengths) -------------------------------------------------------------------
def _v184():
    with open(V184) as f:
        return json.load(f)


def _v184_meter(tmp_path):
    d = _v184()
    e = d["entities"]
    pub = lambda h: bytes.fromhex(h)[1:]                              # noqa: E731
    sup = bytes.fromhex(e["SupplierA"]["entity_id"])
    acb = bytes.fromhex(e["ACB"]["entity_id"])
    cells = [(2, 0, 0, sup, pub(e["SupplierA"]["ds_pub"]), b"S" * 8),
             (2, 4, 0, sup, pub(e["SupplierA"]["ka_pub"]), b"K" * 8),
             (4, 4, 0, acb, pub(e["ACB"]["ka_pub"]), b"A" * 8)]
    dev = e["DeviceA"]
    ks = (bytes.fromhex(dev["entity_id"]), bytes.fromhex(dev["ka_priv"]),
          bytes.fromhex(dev["ds_priv"]), cells, {})
    return _meter(tmp_path, utc=T2015, ks=ks), d


def test_v184_z_by_ecdh(tmp_path):
    """No test hook: Z from the device's KA private key and the cells."""
    b, d = _v184_meter(tmp_path)
    ks = K.get(b.meter)
    e = d["entities"]
    assert K.z(ks, bytes.fromhex(e["ACB"]["entity_id"])).hex().upper() == d["Z"]["ACB,DeviceA"]
    assert K.z(ks, bytes.fromhex(e["SupplierA"]["entity_id"])).hex().upper() == \
        d["Z"]["SupplierA,DeviceA"]


@pytest.mark.parametrize("name", ["V1_ECS04b_command", "V3_ECS12_command"])
def test_v184_commands_authenticated(tmp_path, name):
    """The v0.8.1 commands pass the MAC (AAD 11 only) and, V1, the
    signature over the v0.8.1 signed data; a response goes back in the
    same forms (v0.8.1 AAD / signed data)."""
    b, d = _v184_meter(tmp_path)
    m = b.meter
    r = m.gbcs_message(bytes.fromhex(d["messages"][name]["hex"]))
    assert r is not None and m.security_log.seq == 0 and not b.alerts_sent
    assert core.parse(r)[15] == 2


# -- the shipped use cases end to end ----------------------------------------------------------
def _vec(uc, variant="SUCCESS"):
    return [v for v in COMMANDS if v["use_case"] == uc and v["variant"] == variant][0]


def test_cs01a_top_up_byte_for_byte_and_not_twice(bench):
    """RTDS CS01a SUCCESS: £10 credited, the response as RTDS to the octet
    (MACed, date-time 2015-01-01); the same command again is authentic but
    its UTRN is in the counter cache: other-reason, no credit."""
    m = bench.meter
    v = _vec("CS01a")
    mb = m.account.mb
    assert m.gbcs_message(_hex(v["command_file"])) == _hex(v["response_file"])
    from firmware.prepay.account import PER_PENNY
    assert m.account.mb - mb == 1000 * PER_PENNY
    credited = m.account.mb
    r = G.parse(m.gbcs_message(_hex(v["command_file"])))
    assert r["mac_ok"] and r["dlms"]["results"] == [(3, 250)]
    assert m.account.mb == credited and m.security_log.seq >= 1   # the cache's rejection


def test_ecs04b_resets_the_balance(bench):
    """After a CS01a top-up, RTDS ECS04b (critical): the balance is 0, the
    signed response is RTDS's but for the signature (our test key), and the
    signature verifies with the meter's public key."""
    m = bench.meter
    m.gbcs_message(_hex(_vec("CS01a")["command_file"]))
    assert m.account.mb > 0
    v = _vec("ECS04b")
    r = m.gbcs_message(_hex(v["command_file"]))
    ref = _hex(v["response_file"])
    assert m.account.mb == 0
    assert len(r) == len(ref) and r[:-64] == ref[:-64]
    assert G.parse(r, device_ds_pub=G.test_ds_pub())["sig_ok"] is True


def test_ecs12_change_of_tenancy_byte_for_byte_and_persisted(bench):
    from firmware.commands import supplier as S
    v = _vec("ECS12")
    assert bench.meter.gbcs_message(_hex(v["command_file"])) == _hex(v["response_file"])
    t = S.tenancy_date(bench.meter)       # 2014-03-27 15:45:32 (07DE031BFF0F2D20 00 8000 FF)
    assert t == 449250332
    bench.restart()
    assert S.tenancy_date(bench.meter) == t


def test_v184_responses_byte_for_byte(tmp_path):
    """§18.4 V1 -> V2 (ECS04b, signed with Device A's key and the
    deterministic nonce, v0.8.1 signed data) and V3 -> V4 (ECS12, MACed with
    the v0.8.1 AAD), to the octet."""
    b, d = _v184_meter(tmp_path)
    msgs = d["messages"]
    v2 = b.meter.gbcs_message(bytes.fromhex(msgs["V1_ECS04b_command"]["hex"]))
    assert v2.hex().upper() == msgs["V2_ECS04b_response"]["signed_part_hex"] + "40" + \
        msgs["V2_ECS04b_response"]["device_signature"]
    v4 = b.meter.gbcs_message(bytes.fromhex(msgs["V3_ECS12_command"]["hex"]))
    assert v4.hex().upper() == msgs["V4_ECS12_response"]["hex"]


def test_ecs04b_and_its_counter_survive_a_cut_at_every_write(tmp_path):
    """The Execution Counter and the balance reset commit together: after a
    power cut at any write and a restart, both happened or neither did."""
    from firmware.platform.store import PowerCut
    v = _vec("ECS04b")
    cmd = _hex(v["command_file"])

    def make(path):
        b = _meter(path)
        b.meter.gbcs_message(_hex(_vec("CS01a")["command_file"]))
        return b
    probe = make(tmp_path / "probe")
    w0 = probe.backend.writes
    probe.meter.gbcs_message(cmd)
    n = probe.backend.writes - w0
    assert n >= 2
    seen = set()
    for cut in range(1, n + 1):
        b = make(tmp_path / ("c%d" % cut))
        mb = b.meter.account.mb
        b.backend.cut_after(cut)
        with pytest.raises(PowerCut):
            b.meter.gbcs_message(cmd)
        b.backend.cut_after(0)
        b.restart()
        m = b.meter
        done = core.counters(m)[1].get((2 << 16) | 0xB3, 0) == 1000
        assert m.account.mb == (0 if done else mb), cut
        seen.add(done)
        # and the command's fate after the restart: accepted again only if it did not happen
        m.tunnel_send = [].append
        assert (m.gbcs_message(cmd) is None) == done, cut


# -- future-dated commands (§9.2.2; ECS02) -----------------------------------------------------
ECS02_ALERT = "1.6_ECS02/ECS02_1.6_8F66_FUTURE_DATED_TWIN_SUCCESS_ALERT_PAYMENT_MODE_GBCS.HEX"


def _prepay_meter(tmp_path):
    from firmware.commands import supplier as S
    from firmware.prepay import account as AC
    b = _meter(tmp_path)
    assert S.set_payment_mode(b.meter, AC.PREPAY, False, False, 0) == 0
    assert b.meter.account.mode == AC.PREPAY
    return b


def test_ecs02_future_dated_survives_a_restart_and_alerts(tmp_path):
    """RTDS ECS02 FUTURE_DATED (2030-01-15 09:00): stored (response as
    RTDS but for the signature), still prepayment after a restart, credit
    at its time, and the 8F66 alert is RTDS's but for the signature."""
    from firmware.prepay import account as AC
    b = _prepay_meter(tmp_path)
    v = _vec("ECS02", "FUTURE_DATED_TWIN_SUCCESS")
    r = b.meter.gbcs_message(_hex(v["command_file"]))
    ref = _hex(v["response_file"])
    assert r[:-64] == ref[:-64] and len(r) == len(ref)
    at = b.meter.gbcs_due
    assert at == 948013200 and b.meter.account.mode == AC.PREPAY
    b.restart()
    m = b.meter
    b.alerts_sent = []
    m.tunnel_send = b.alerts_sent.append
    assert m.gbcs_due == at
    core.set_device_counter(m, 2001)
    b.clock.set(at - 2)
    b.tick(1)
    assert m.account.mode == AC.PREPAY and not b.alerts_sent
    b.tick(2)
    assert m.account.mode == AC.CREDIT and m.gbcs_due == 0xFFFFFFFF
    ref = _hex(ECS02_ALERT)
    assert len(b.alerts_sent) == 1
    assert b.alerts_sent[0][:-64] == ref[:-64] and len(b.alerts_sent[0]) == len(ref)
    assert G.parse(b.alerts_sent[0], device_ds_pub=G.test_ds_pub())["sig_ok"] is True
    b.tick(5)
    assert len(b.alerts_sent) == 1


def test_ecs02_cancellation_and_immediate(tmp_path):
    from firmware.prepay import account as AC
    b = _prepay_meter(tmp_path)
    m = b.meter
    m.gbcs_message(_hex(_vec("ECS02", "FUTURE_DATED_TWIN_SUCCESS")["command_file"]))
    at = m.gbcs_due
    _fresh_counters(m)           # the RTDS cancellation carries a lower counter
    r = m.gbcs_message(_hex(_vec("ECS02", "CANCELLATION_TWIN_SUCCESS")["command_file"]))
    assert G.parse(r)["dlms"]["results"] == [(2, 0)] * 3
    assert m.gbcs_due == 0xFFFFFFFF and m.account.pend_at[AC.P_ACCOUNT] == 0xFFFFFFFF
    b.clock.set(at - 1)
    b.tick(3)
    assert m.account.mode == AC.PREPAY and not b.alerts_sent
    _fresh_counters(m)
    m.gbcs_message(_hex(_vec("ECS02", "IMMEDIATE_SINGLE_SUCCESS")["command_file"]))
    assert m.account.mode == AC.CREDIT and m.gbcs_due == 0xFFFFFFFF


def test_future_dated_change_undone_elsewhere_alerts_8f67(tmp_path):
    """The stored change is cancelled by another route (the ZSE Prepayment
    cluster, the bench): at its time the alert says it failed (0x8F67)."""
    from firmware.commands import supplier as S
    from firmware.prepay import account as AC
    b = _prepay_meter(tmp_path)
    m = b.meter
    m.gbcs_message(_hex(_vec("ECS02", "FUTURE_DATED_TWIN_SUCCESS")["command_file"]))
    at = m.gbcs_due
    assert S.set_payment_mode(m, AC.CREDIT, False, False, 0xFFFFFFFF) == 0
    b.clock.set(at - 1)
    b.tick(2)
    assert m.account.mode == AC.PREPAY
    pl = bytes.fromhex(G.parse(b.alerts_sent[-1])["payload"])
    assert pl[9:11] == b"\x8f\x67"


def test_counter_save_without_heap_leaves_no_open_operation(bench):
    """A MemoryError while the Execution Counters are saved (a fragmented
    heap; found by fuzz --gbcs on MicroPython): the command is not run, the
    atomic operation is closed (later saves still commit), and a retry with
    the heap back is answered."""
    m = bench.meter
    v = [v for v in COMMANDS if v["use_case"] == "ECS52" and v["variant"] == "SUCCESS"][0]
    real = core.save_counters

    def no_heap(mm):
        raise MemoryError()
    core.save_counters = no_heap
    try:
        with pytest.raises(MemoryError):
            m.gbcs_message(_hex(v["command_file"]))
    finally:
        core.save_counters = real
    assert m._tx[0] is False                 # no operation left open
    _fresh_counters(m)
    assert m.gbcs_message(_hex(v["command_file"])) == _hex(v["response_file"])
