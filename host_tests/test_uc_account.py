"""GBCS use cases of the account objects (firmware/gbcs/uc_account.py,
cosem.py group 1): ECS02, ECS03, ECS04a, ECS04b, ECS07, ECS08, ECS09,
ECS26a, ECS82, CS01a against the RTDS vectors (host_tests/rtds.py), the
state each change leaves where a meter engineer looks (the account engine,
the ZSE Prepayment cluster), all-or-nothing on the ERROR variants, the
future-dated alerts, and hostile values inside validly protected commands."""
import json

import pytest

import rtds
from tools import gbcs_host as G
from firmware.commands import supplier as S
from firmware.gbcs import core, future
from firmware.prepay import account as AC
from firmware import vboard as V

UCS = ["ECS02", "ECS03", "ECS04a", "ECS04b", "ECS07", "ECS08", "ECS09", "ECS26a", "ECS82",
       "CS01a"]
VECTORS = rtds.commands(UCS)
NEVER = 0xFFFFFFFF
AT_2030 = 948013200            # 2030-01-15 09:00:00 UTC, the RTDS future-dated commands' time
pytestmark = pytest.mark.skipif(not rtds.HAVE, reason="RTDS vectors not here")


def _vec(uc, variant):
    return [v for v in VECTORS if v["use_case"] == uc and v["variant"] == variant][0]


def _rtds_state(m):
    """The account as the RTDS ECS26a / ECS82 responses show it (prepayment
    with SDE and SDD, debts, thresholds, special days), set through the
    command surface."""
    assert S.set_payment_mode(m, AC.PREPAY, True, True, 0) == 0
    assert S.set_debt(m, 0, 0, 5000, 86400) == 0
    assert S.set_debt(m, 1, 0, 6000, 86400) == 0
    assert S.set_debt_share(m, 5000) == 0
    assert S.set_credit_limits(m, 50, 100) == 0
    assert S.set_params(m, 0, AC.P_DISABLE, -500000, AC.P_LOW_CREDIT, 500000, AC.P_CAP, 10000,
                        AC.P_CAP_PERIOD, 604800, AC.P_EC_LIMIT, 2500000,
                        AC.P_EC_THRESHOLD, 100000) == 0
    days = [(0xFFFF, 12, 25), (0xFFFF, 12, 26), (2015, 4, 5), (2015, 4, 3)]
    assert S.set_params(m, 0, AC.P_FRIENDLY, AC.friendly_blob([], days)) == 0


def _prepared(b, v):
    """Meter state a vector implies (README: payload values come from the
    RTDS meter's state)."""
    m = b.meter
    uc = v["use_case"]
    if uc == "ECS26a":
        _rtds_state(m)
    elif uc == "ECS82":
        assert S.adjust_balance(m, 250000) == 0
    elif uc in ("ECS02", "ECS09"):
        assert S.set_payment_mode(m, AC.PREPAY, False, False, 0) == 0
    elif uc == "ECS04b":
        assert S.adjust_balance(m, 123456) == 0


def _account(m):
    return (bytes(m.account.pack()), list(future.table(m)), m.gbcs_due)


def _exact(v):
    """Byte-exact where the meter's state matches the vector's: MACed
    responses (the ECS26a calendar holds seasons the engine does not keep:
    its SUCCESS variants are compared by shape)."""
    return v["expected_response_kind"] == "mac" and not (v["use_case"] == "ECS26a" and
                                                         "SUCCESS" in v["variant"])


# what each successful Set/Action leaves in the engine (and the ZSE Prepayment cluster)
def _after_ecs02_immediate(m):
    assert m.account.mode == AC.CREDIT


def _after_future(m, param):
    assert m.account.pend_at[param] == AT_2030 and m.gbcs_due == AT_2030


def _after_cancel(m, param):
    assert m.account.pend_at[param] == NEVER and m.gbcs_due == NEVER


def _after_ecs03_immediate(m):
    a = m.account
    assert (a.mode, a.sde, a.sdd) == (AC.PREPAY, True, True) and a.p[AC.P_DISABLE] == 0x087E85
    # the ZSE side: the Prepayment cluster's payment control configuration says prepayment
    assert V.state(m)["Prepayment"]["PaymentControlConfiguration"] == 0x0097


def _after_ecs07(m):
    a = m.account
    assert a.debt == [30000, 15000, 50000] and a.rate[:2] == [30000, 150000]
    assert a.period[:2] == [86400, 86400] and a.pay_pct == 1000


def _after_ecs08_immediate(m):
    a = m.account
    assert a.p[AC.P_EC_LIMIT] == 300000 and a.p[AC.P_EC_THRESHOLD] == 100000
    assert a.p[AC.P_LOW_CREDIT] == 200000 and a.p[AC.P_CAP] == 30
    assert a.p[AC.P_CAP_PERIOD] == 604800 and (a.max_credit, a.max_balance) == (10, 50)
    # weekends friendly 00:00-09:30 and from 22:00, weekdays 00:00-07:30 and from 20:00
    fp = a._fp
    per = sorted((fp[k], fp[k + 1], fp[k + 2]) for k in range(0, len(fp), 3))
    assert per == [(0x1F, 0, 450), (0x1F, 1200, 1440), (0x60, 0, 570), (0x60, 1320, 1440)]
    assert len(a._fd) == 5
    assert a.is_friendly(AT_2030 - 9 * 3600 + 7 * 3600)          # Tue 2030-01-15 07:00
    assert not a.is_friendly(AT_2030)                            # 09:00


AFTER = {
    ("ECS02", "IMMEDIATE_SINGLE_SUCCESS"): _after_ecs02_immediate,
    ("ECS02", "FUTURE_DATED_TWIN_SUCCESS"): lambda m: _after_future(m, AC.P_ACCOUNT),
    ("ECS02", "CANCELLATION_TWIN_SUCCESS"): lambda m: _after_cancel(m, AC.P_ACCOUNT),
    ("ECS03", "IMMEDIATE_SINGLE_SUCCESS"): _after_ecs03_immediate,
    ("ECS03", "FUTURE_DATED_TWIN_SUCCESS"): lambda m: (_after_future(m, AC.P_ACCOUNT),
                                                       _after_future(m, AC.P_DISABLE)),
    ("ECS03", "CANCELLATION_TWIN_SUCCESS"): lambda m: _after_cancel(m, AC.P_DISABLE),
    ("ECS04a", "SUCCESS"): lambda m: m.account.mb == 1200000 or pytest.fail("balance"),
    ("ECS04b", "SUCCESS"): lambda m: m.account.mb == 0 or pytest.fail("balance"),
    ("ECS07", "SUCCESS"): _after_ecs07,
    ("ECS08", "IMMEDIATE_SUCCESS"): _after_ecs08_immediate,
    ("ECS08", "FUTURE_DATED_SUCCESS"): lambda m: (_after_future(m, AC.P_EC_LIMIT),
                                                  _after_future(m, AC.P_FRIENDLY),
                                                  len(future.table(m)) == 9 or pytest.fail()),
    ("ECS08", "CANCELLATION_SUCCESS"): lambda m: _after_cancel(m, AC.P_CAP),
    ("ECS09", "SUCCESS"): lambda m: (m.account.ec_in_use and  # ZSE CreditStatus: EC in use
                                     V.state(m)["Prepayment"]["CreditStatus"] & 0x20) or
    pytest.fail("EC not in use"),
    ("CS01a", "SUCCESS"): lambda m: m.account.mb == 10 * AC.PER_POUND or pytest.fail(),
}


@pytest.mark.parametrize("v", VECTORS, ids=rtds.vid)
def test_rtds_vector(tmp_path, v):
    b = rtds.meter(tmp_path)
    m = b.meter
    _prepared(b, v)
    before = _account(m)
    resp = rtds.run(b, v)
    rtds.check(v, resp, exact=_exact(v))
    if v["critical"]:                      # signed: identical but for the device's signature
        ref = rtds.message(v["response_file"])
        assert resp[:-64] == ref[:-64] and len(resp) == len(ref)
    if v["variant"].endswith("ERROR") and v["critical"]:
        assert _account(m) == before       # the injected fault left no partial change
    f = AFTER.get((v["use_case"], v["variant"]))
    if f is not None:
        f(m)
    elif "SUCCESS" in v["variant"] and v["use_case"] not in ("ECS26a", "ECS82"):
        pytest.fail("no state check for a successful change")


@pytest.mark.parametrize("uc,n", [("ECS03", 2), ("ECS08", 9)])
def test_future_dated_alerts_as_rtds(tmp_path, uc, n):
    """The stored values take effect at 2030-01-15 09:00 and each sends its
    Future Dated Execution Of Instruction alert 0x8F66 (RTDS: one per value,
    in the command's order; identical to the RTDS alerts but for the
    signature)."""
    b = rtds.meter(tmp_path)
    m = b.meter
    v = _vec(uc, "FUTURE_DATED_TWIN_SUCCESS" if uc == "ECS03" else "FUTURE_DATED_SUCCESS")
    refs = sorted((a for a in rtds.vectors() if a.get("triggered_by") == v["command_file"]),
                  key=lambda a: a["originator_counter"])
    assert len(refs) == n
    rtds.check(v, m.gbcs_message(rtds.message(v["command_file"])))
    core.set_device_counter(m, int(refs[0]["originator_counter"], 16) - 1)
    b.clock.set(AT_2030 - 2)
    b.tick(1)
    assert not b.alerts_sent
    b.tick(3)
    assert len(b.alerts_sent) == n
    for got, ref in zip(b.alerts_sent, refs):
        want = rtds.message(ref["alert_file"])
        assert got[:-64] == want[:-64] and len(got) == len(want), ref["variant"]
        assert G.parse(got, device_ds_pub=G.test_ds_pub())["sig_ok"] is True
    a = m.account
    if uc == "ECS08":
        assert (a.max_credit, a.max_balance) == (10, 50) and a.p[AC.P_EC_LIMIT] == 300000
        assert len(a._fd) == 5 and len(a._fp) == 12
    else:
        assert a.mode == AC.PREPAY and a.p[AC.P_DISABLE] == 0x087E85
    assert m.gbcs_due == NEVER and not future.table(m)


def test_ecs08_cancellation_keeps_nothing_pending(tmp_path):
    b = rtds.meter(tmp_path)
    m = b.meter
    m.gbcs_message(rtds.message(_vec("ECS08", "FUTURE_DATED_SUCCESS")["command_file"]))
    assert len(future.table(m)) == 9
    m._gctr = [0, {}]                      # the RTDS cancellation carries a lower counter
    r = m.gbcs_message(rtds.message(_vec("ECS08", "CANCELLATION_SUCCESS")["command_file"]))
    assert G.parse(r)["dlms"]["results"] == [(2, 0)] * 18
    assert not future.table(m) and m.gbcs_due == NEVER
    assert all(t == NEVER for t in m.account.pend_at)
    b.clock.set(AT_2030 - 1)
    b.tick(3)
    assert not b.alerts_sent and m.account.max_credit == 150


def test_ecs26a_reads_back_what_ecs08_wrote(tmp_path):
    """The calendar and special days ECS08 wrote read back (ECS26a) as the
    same friendly periods and days."""
    from firmware.gbcs import uc_account as U
    b = rtds.meter(tmp_path)
    m = b.meter
    m.gbcs_message(rtds.message(_vec("ECS08", "IMMEDIATE_SUCCESS")["command_file"]))
    r = G.parse(m.gbcs_message(rtds.message(_vec("ECS26a", "SINGLE_SUCCESS")["command_file"])))
    d = r["dlms"]["data"]
    cal = bytes.fromhex(d[16])
    assert sorted(tuple(q) for q in U._schedule(cal, 0, len(cal))) == sorted(
        (m.account._fp[k], m.account._fp[k + 1], m.account._fp[k + 2]) for k in range(0, 12, 3))
    assert d[1].startswith("0105") and d[14] == "05000493E0" and d[15] == "05000186A0"
    assert d[10] == "05004C4B40" and d[8] == "05000F4240"        # max balance 50, max credit 10


# -- hostile values inside validly protected commands ------------------------------------------
def _req(*ins):
    """An access-request: (kind, class, OBIS hex, attr, data hex) per instruction."""
    out = bytearray(b"\xd9\x20\x00\x07\xd0\x00") + bytes((len(ins),))
    for k, c, o, a, _ in ins:
        out += bytes((k,)) + c.to_bytes(2, "big") + bytes.fromhex(o) + bytes((a,))
    out.append(len(ins))
    for *_, d in ins:
        out += bytes.fromhex(d)
    return bytes(out)


IMM = "090c0000000000000000008000ff"
HOSTILE = [
    # (name, message code, critical, instructions, expected results)
    ("adjust-unsigned", 0x001C, True, [(3, 112, "0000130a00ff", 1, "0600124f80")], [12]),
    ("adjust-on-ec", 0x001C, True, [(3, 112, "0000130a01ff", 1, "0500124f80")], [4]),
    ("reset-nonzero-ec", 0x00B3, True, [(3, 112, "0000130a01ff", 2, "0500000001")], [12]),
    ("ec-in-credit-mode", 0x0020, True, [(3, 112, "0000130a01ff", 3, "0f00")], [250]),
    ("mode-3", 0x001A, True, [(2, 111, "0001130000ff", 2, "020216031601"),
                              (2, 111, "0001130000ff", 13, IMM)], [12, 250]),
    ("ccc-not-canonical", 0x001B, True,
     [(2, 111, "0001130000ff", 2, "020216021601"),
      (2, 111, "0001130000ff", 11, AC.ccc(AC.PREPAY, True, True).hex()[:-2] + "a0"),
      (2, 111, "0001130000ff", 13, IMM)], [0, 12, 250]),
    ("ccc-other-mode", 0x001B, True,
     [(2, 111, "0001130000ff", 2, "020216021601"),
      (2, 111, "0001130000ff", 11, AC.ccc(AC.CREDIT).hex()),
      (2, 111, "0001130000ff", 13, IMM)], [0, 12, 250]),
    ("passive-without-activation", 0x001A, True,
     [(2, 111, "0001130000ff", 2, "020216011601")], [250]),
    ("max-credit-not-whole", 0x001F, True,
     [(2, 9000, "00005e2c020a", 4, "05000f4241"), (2, 9000, "00005e2c020a", 6, IMM)], [12, 250]),
    ("ec-limit-negative", 0x001F, True,
     [(2, 9000, "00005e2c8002", 4, "05ffffff00"), (2, 9000, "00005e2c8002", 6, IMM)], [12, 250]),
    ("activation-partly-unspecified", 0x001F, True,
     [(2, 9000, "00005e2c8002", 4, "0500001000"),
      (2, 9000, "00005e2c8002", 6, "090c07ee010fff09ff00008000ff")], [0, 12]),
    ("special-day-month-13", 0x001F, True,
     [(2, 11, "00010b0002ff", 2, "010102031200010905ffff0d01ff1101"),
      (2, 9000, "00005e2c801f", 6, IMM)], [12, 250]),
    ("calendar-hour-25", 0x001F, True,
     [(2, 10, "00010c0001ff", 2, "0101020a12000103ff090600000a006aff12002009041900000012ffff040706"
                             "040500090507de0a1bff090507df031cff"),
      (2, 9000, "00005e2c801c", 6, IMM)], [12, 250]),
    ("debt-below-zero", 0x001E, True, [(3, 113, "00001314 01ff".replace(" ", ""), 4, "05ffffffff")],
     [12]),
    ("rate-not-whole", 0x001E, True,
     [(2, 113, "0000131401ff", 6, "020302020f000ffa020312000009060000000000000f0001010202090010"
                                  "0003"), (3, 113, "0000131401ff", 2, "0f00")], [12, 250]),
    ("share-over-100pct", 0x001E, True, [(2, 113, "0000131403ff", 13, "122711")], [12]),
    ("twin-charge", 0x003B, False, [(1, 113, "0000131405ff", 5, "00")], [4]),
    ("set-active-account", 0x001B, True, [(2, 111, "0000130000ff", 2, "020216021601")], [3]),
    ("mac-only-adjust", 0x003B, False, [(3, 112, "0000130a00ff", 1, "0500124f80")], [3]),
    ("mac-only-ecs08", 0x003B, False, [(2, 9000, "00005e2c8002", 4, "0500001000"),
                                       (2, 9000, "00005e2c8002", 6, IMM)], [3, 250]),
]


@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c[0])
def test_hostile_values_refused_and_nothing_changed(tmp_path, case):
    name, mc, crit, ins, want = case
    b = rtds.meter(tmp_path)
    m = b.meter
    before = (_account(m), json.dumps(V.state(m)["Prepayment"], sort_keys=True, default=str))
    resp = m.gbcs_message(G.build_command(mc, _req(*ins), 2000, critical=crit))
    assert resp is not None
    res = [r for _, r in G.parse(resp, device_ds_pub=G.test_ds_pub())["dlms"]["results"]]
    assert res == want
    assert (_account(m), json.dumps(V.state(m)["Prepayment"], sort_keys=True, default=str)) == \
        before


def test_twin_vectors_on_a_single_element_meter(tmp_path):
    """The RTDS TWIN ECS02/ECS03 commands carry the twin credit_charge_
    configuration: its SDE/SDD are taken (the secondary charge does not
    exist here); ECS26a TWIN reads the single-element configuration."""
    b = rtds.meter(tmp_path)
    m = b.meter
    v = _vec("ECS03", "CANCELLATION_TWIN_SUCCESS")
    rtds.check(v, m.gbcs_message(rtds.message(v["command_file"])))
    assert (m.account.sde, m.account.sdd) == (False, False)      # pending values untouched
    m._gctr = [0, {}]
    v = _vec("ECS03", "IMMEDIATE_SINGLE_SUCCESS")
    m.gbcs_message(rtds.message(v["command_file"]))
    assert (m.account.mode, m.account.sde, m.account.sdd) == (AC.PREPAY, True, True)


# -- both runtimes -----------------------------------------------------------------------------
def test_same_on_both_runtimes(tmp_path):
    """host_tests/mp/uc_account.py on MicroPython (board heap) and CPython:
    the same responses (signed ones use the deterministic nonce) and alerts,
    byte for byte, and the right ones."""
    from runtimes import run_script
    ks = G.keystore_json()
    seq = [("ECS03", "IMMEDIATE_SINGLE_SUCCESS"), ("ECS09", "SUCCESS"), ("ECS04a", "SUCCESS"),
           ("ECS82", "SUCCESS"), ("ECS07", "SUCCESS"), ("ECS08", "FUTURE_DATED_SUCCESS"),
           ("ECS26a", "SINGLE_SUCCESS")]
    msgs = [[uc + "-" + var, rtds.message(_vec(uc, var)["command_file"]).hex()] for uc, var in seq]
    msgs.append(["hostile", G.build_command(0x001F, _req(*HOSTILE[8][3]), 3000,
                                            critical=True).hex()])
    inp = {"config": rtds.CFG, "utc": rtds.T2015, "keystore": ks, "device_counter": 2008,
           "messages": msgs}
    (tmp_path / "in.json").write_text(json.dumps(inp))
    out = {}
    for rt in ("cpython", "micropython"):
        (tmp_path / rt).mkdir()
        out[rt] = run_script(rt, "uc_account.py", str(tmp_path / rt), str(tmp_path / "in.json"),
                             preload="firmware.meter")
    assert out["micropython"] == out["cpython"]
    lines = out["cpython"].splitlines()
    resp = dict(l.split()[:2] for l in lines if not l.startswith(" ") and len(l.split()) == 2)
    got = G.parse(bytes.fromhex(resp["ECS82-SUCCESS"]))["dlms"]
    assert got["data"] == ["0500124F80"]                 # the ECS04a adjustment, read back
    assert G.parse(bytes.fromhex(resp["hostile"]))["dlms"]["results"] == [(2, 12), (2, 250)]
    ticks = [l for l in lines if l.startswith("tick")]
    assert len(ticks) == 9 and all(" alert " in l for l in ticks)
    assert G.parse(bytes.fromhex(resp["ECS09-SUCCESS"]))["dlms"]["results"] == [(3, 0)]
    assert lines[-1].startswith("after mode 2 ec 1 debts ")
    assert " max 10 50 p [556677, 300000, 100000, 200000, 30, 604800] " in lines[-1]
    assert resp["ECS26a-SINGLE_SUCCESS"] != "none"


def test_ecs08_survives_a_cut_at_every_write(tmp_path):
    """ECS08 FUTURE_DATED stages nine values (the account's pending values
    with the registers, the future-dated table, the Execution Counter): a
    power cut at any write and a restart leave all of them or none."""
    from firmware.platform.store import PowerCut
    cmd = rtds.message(_vec("ECS08", "FUTURE_DATED_SUCCESS")["command_file"])
    probe = rtds.meter(tmp_path / "probe")
    w0 = probe.backend.writes
    probe.meter.gbcs_message(cmd)
    n = probe.backend.writes - w0
    assert n >= 2
    seen = set()
    for cut in range(1, n + 1):
        b = rtds.meter(tmp_path / ("c%d" % cut))
        b.backend.cut_after(cut)
        with pytest.raises(PowerCut):
            b.meter.gbcs_message(cmd)
        b.backend.cut_after(0)
        b.restart()
        m = b.meter
        done = core.counters(m)[1].get((2 << 16) | 0x1F, 0) == 1004
        pend = [t for t in m.account.pend_at if t != NEVER]
        assert len(pend) == (6 if done else 0), cut      # 5 parameters and the calendar
        assert len(future.table(m)) == (9 if done else 0) and \
            m.gbcs_due == (AT_2030 if done else NEVER), cut
        seen.add(done)
    assert seen == {False, True}


def test_ecs08_activation_survives_a_cut_at_every_write(tmp_path):
    """At 2030-01-15 09:00 the tick activates the stored values (the
    engine's parameters; the half-hour register save commits them in the
    middle of the tick), then the future-dated slot applies the credit
    maxima through took() and empties its table: after a power cut at any
    write, a restart and the next second, every value has taken effect and
    every alert still owed says so (8F66), none is lost."""
    from firmware.platform.store import PowerCut
    cmd = rtds.message(_vec("ECS08", "FUTURE_DATED_SUCCESS")["command_file"])

    def make(path):
        b = rtds.meter(path)
        b.meter.gbcs_message(cmd)
        b.clock.set(AT_2030 - 1)
        return b
    probe = make(tmp_path / "probe")
    w0 = probe.backend.writes
    probe.tick(2)
    n = probe.backend.writes - w0
    assert n >= 2 and probe.meter.account.max_credit == 10
    for cut in range(1, n + 1):
        b = make(tmp_path / ("c%d" % cut))
        b.backend.cut_after(cut)
        with pytest.raises(PowerCut):
            b.tick(2)
        b.backend.cut_after(0)
        b.restart()
        m = b.meter
        left = len(future.table(m))
        sent = b.alerts_sent = []
        m.tunnel_send = sent.append
        b.tick(1)
        a = m.account
        assert (a.max_credit, a.max_balance, a.p[AC.P_EC_LIMIT], a.p[AC.P_CAP]) == \
            (10, 50, 300000, 30), cut
        assert not future.table(m) and len(sent) == left, cut
        assert all(bytes.fromhex(G.parse(x)["payload"])[9:11] == b"\x8f\x66" for x in sent), cut
