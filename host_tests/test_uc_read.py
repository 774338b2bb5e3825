"""GBCS ESME read use cases (firmware/gbcs/uc_read.py, cosem.py group 4):
the RTDS vectors of ECS15a, ECS17a/b, ECS19, ECS20a/b, ECS21a, ECS21c,
ECS22a/b, ECS35a/b/e and ECS66 against a meter in the vector's state (byte for byte
where the meter can hold that state), the encrypted reads decrypted with
the host's `cryptography` and Z from keys.json, and hostile values inside
validly protected commands refused with nothing changed."""
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import rtds
from tools import gbcs_host as G
from firmware import vboard as V

pytestmark = pytest.mark.skipif(not rtds.HAVE, reason="RTDS vectors not available")

UCS = ["ECS15a", "ECS17a", "ECS17b", "ECS19", "ECS20a", "ECS20b", "ECS21a", "ECS21c", "ECS22a",
       "ECS22b",
       "ECS35a", "ECS35b", "ECS35e", "ECS66"]
# the TWIN variants (ECS17b, ECS20b, ECS21a, ECS22b) expect secondary-element
# data a single-element meter does not have: not run against this meter
VECTORS = [v for v in rtds.commands(UCS) if "TWIN" not in v["variant"]]
T2015 = rtds.T2015
DAY = 86400
HH = 1800
# responses whose data the meter can hold exactly (the others: export and
# reactive registers and profiles this meter never advances)
NOT_EXACT = {"ECS17a_4.2_ERROR", "ECS17a_4.2_SUCCESS", "ECS21c_4.6.2_SUCCESS",
             "ECS22a_4.8.3_SUCCESS", "ECS17b_4.1.1_SINGLE_SUCCESS"}


# -- helpers ------------------------------------------------------------------------------------
def _dec(resp, v):
    """The plaintext of the encrypted data item of a response (§8.4), checked
    against its 12-octet tag, with Z from keys.json."""
    r = G.parse(resp)
    d = bytes.fromhex(r["dlms"]["data"][0])
    c = d[d.rindex(b"\x31\x00\x00\x00\x00"):]
    party = v.get("supplementary_remote_party") or r["recipient"]
    oc = r.get("srp_counter") or r["counter"]
    k = G.kdf(G.z_value(party), bytes.fromhex(G.DEVICE), b"\x04" + struct.pack(">Q", oc),
              bytes.fromhex(party))
    iv = bytes.fromhex(G.DEVICE) + bytes(4)
    ct = c[5:-12]
    dec = Cipher(algorithms.AES(k), modes.CTR(iv + b"\x00\x00\x00\x02")).decryptor()
    pt = dec.update(ct) + dec.finalize()
    assert AESGCM(k).encrypt(iv, pt, b"\x31")[-16:-4] == c[-12:], "tag"
    return pt


def _ca(b, i=0):
    """(type description, contents) of the compact-array at b[i]."""
    assert b[i] == 0x13
    j = G._type_desc(b, i + 1)
    n, k = G.dec_len(b, j)
    return b[i + 1:j], b[k:k + n]


def _ref_data(v, k=0):
    return bytes.fromhex(rtds.reference(v)["dlms"]["data"][k])


def _vec(uc, variant="SUCCESS"):
    return [v for v in VECTORS if v["use_case"] == uc and v["variant"] == variant][0]


def _meter(tmp_path):
    """A meter booted two days before the RTDS date (its boot entries lie
    outside every vector's range), its profile at 2015-01-01."""
    b = rtds.meter(tmp_path, utc=T2015 - 2 * DAY)
    pr = b.meter.profile
    pr.day = T2015 // DAY
    pr.idx = T2015 // HH
    return b


# -- the RTDS meter state, from the reference responses ----------------------------------------
def _state_logs(m, v):
    """ECS35a/b/e: the reference's entries in the event, security or power log."""
    td, c = _ca(_ref_data(v))
    i = 0
    while i < len(c):
        t, code = struct.unpack_from(">IH", c, i)
        i += 6
        val = 0
        if td == b"\x02\x03\x06\x12\x09":
            n = c[i]
            val = int.from_bytes(c[i + 1:i + 1 + n], "big")
            i += 1 + n
            lg = m.event_log
        elif td == b"\x02\x03\x06\x12\x06":
            val = struct.unpack_from(">I", c, i)[0]
            i += 4
            lg = m.power_log
        else:
            lg = m.security_log
        lg.append(struct.pack("<HII", code, t, val))


def _state_debts(m, v):
    _, c = _ca(_ref_data(v))
    for i in range(0, len(c), 8):
        t, val = struct.unpack_from(">II", c, i)
        m.prepayment.debts.append(struct.pack("<IIBI", t, m.prepayment.unmoney(val), 2, 0))


def _state_daily(m, v):
    _, c = _ca(_dec(rtds.message(v["response_file"]), v), 2)
    t0 = struct.unpack_from(">I", c, 0)[0]
    wh = 1000
    m.profile.daily.put(t0 // DAY - 1, struct.pack("<IHB", wh, 0, 0))
    for i in range(0, len(c), 8):
        t, val = struct.unpack_from(">II", c, i)
        wh += val
        m.profile.daily.put(t // DAY, struct.pack("<IHB", wh, 0, 0))


def _state_hh(m, v):
    _, c = _ca(_dec(rtds.message(v["response_file"]), v), 2)
    pr = m.profile
    for i in range(0, len(c), 8):
        t, val = struct.unpack_from(">II", c, i)
        pr.hh.put(t // HH - 1, bytes((val & 0xFF, val >> 8, 0)))
        pr.last_idx = max(pr.last_idx, t // HH - 1)


def _state_prepay(m, v):
    pt = _dec(rtds.message(v["response_file"]), v)
    assert pt[:4] == b"\x02\x01\x02\x06"
    vals = [struct.unpack_from(">i", pt, 5 + 5 * n)[0] for n in range(6)]
    a = m.account
    u = m.prepayment.unmoney
    a.mb, a.ecb, a.ad = u(vals[0]), u(vals[1]), u(vals[2])
    a.ec_in_use = True
    a.debt[2], a.debt[0], a.debt[1] = u(vals[3]), u(vals[4]), u(vals[5])


def _state_billing(m, v):
    _, c = _ca(_dec(rtds.message(v["response_file"]), v), 2)
    u = m.prepayment.unmoney
    for i in range(0, len(c), 352):
        t, wh = struct.unpack_from(">II", c, i)
        regs = struct.unpack_from(">80I", c, i + 8)
        bal = struct.unpack_from(">6i", c, i + 328)
        rec = bytearray(382)
        struct.pack_into("<IIIHQ", rec, 0, t, 0x4000, wh, 0, 0)
        struct.pack_into("<80I", rec, 22, *regs)
        struct.pack_into("<6i", rec, 358, *[u(x) for x in bal])
        m.snapshots.logs[2].append(rec)


def _state_dregs(m, v):
    """ECS21a: the reference's entries as daily register reads, written by
    the profile's own midnight writer (registers from the tariff engine)."""
    _, c = _ca(_dec(rtds.message(v["response_file"]), v), 2)
    pr = m.profile
    for i in range(0, len(c), 328):
        t, wh = struct.unpack_from(">II", c, i)
        m.tariff.reg[:80] = struct.unpack_from(">80I", c, i + 8)
        pr._day_regs(t // DAY, wh)
    pr.day = t // DAY


STATE = {"ECS35a": _state_logs, "ECS21a": _state_dregs,
         "ECS35b": _state_logs, "ECS35e": _state_logs,
         "ECS20a": _state_debts, "ECS66": _state_daily, "ECS22b": _state_hh,
         "ECS19": _state_prepay, "ECS20b": _state_billing}


# -- the visible vectors ------------------------------------------------------------------------
@pytest.mark.parametrize("v", VECTORS, ids=rtds.vid)
def test_rtds_vector(tmp_path, v):
    """Every visible vector of the group: the README relations, the same
    results and data shapes; byte for byte where the meter can hold the
    vector's state (set from the reference itself), and every encrypted
    read's plaintext with the reference's type description."""
    b = _meter(tmp_path)
    m = b.meter
    name = rtds.vid(v)
    if v["variant"] != "ERROR" and v["use_case"] in STATE:
        STATE[v["use_case"]](m, v)
    b.clock.set(T2015)
    resp = rtds.run(b, v)
    rtds.check(v, resp, exact=name not in NOT_EXACT)
    if v["response_encrypted_content"]:
        mine = _dec(resp, v)
        ref = _dec(rtds.message(v["response_file"]), v)
        assert mine[:2] == ref[:2] == b"\x02\x01"
        if ref[2] == 0x13:
            assert _ca(mine, 2)[0] == _ca(ref, 2)[0]
        else:
            assert rtds.same_shape(mine[2:], ref[2:])


def test_ecs17a_registers_read_the_meter(tmp_path):
    """ECS17a through the same object table: 1-0:1.8.0 reads the import
    register; export and reactive import read 0 with Wh / varh."""
    b = _meter(tmp_path)
    m = b.meter
    m.import_wh = 123456
    b.clock.set(T2015)
    pl = G.dlms_get(1200, [(3, bytes.fromhex(o), a) for o in ("0100010800FF", "0100020800FF",
                                                              "0100040800FF") for a in (2, 3)])
    r = G.parse(m.gbcs_message(G.build_command(0x0026, pl, 1200,
                                               originator=G.NETWORK_OPERATOR)))["dlms"]
    assert r["results"] == [(1, 0)] * 6
    assert r["data"] == ["060001E240", "02020F00161E", "0600000000", "02020F00161E",
                         "0600000000", "02020F001620"]


def test_ecs15a_clears_the_event_log_and_logs_it(tmp_path):
    """ECS15a SUCCESS: the Event Log reads empty afterwards (entries before
    the clear are gone, later ones read), the Security Log has the
    0x8F52 entry with the message code; the ERROR variant's injected
    hardware fault leaves the log as it was."""
    b = _meter(tmp_path)
    m = b.meter
    ev = _vec("ECS35a")
    _state_logs(m, ev)
    b.clock.set(T2015)
    seq, sseq = m.event_log.seq, m.security_log.seq
    rtds.run(b, _vec("ECS15a", "ERROR"))
    assert (m.event_log.seq, m.security_log.seq) == (seq, sseq)
    m._gctr = [0, {}]
    assert rtds.message(_vec("ECS35a")["response_file"]) == rtds.run(b, ev)
    m._gctr = [0, {}]
    resp = rtds.run(b, _vec("ECS15a"))
    rtds.check(_vec("ECS15a"), resp, exact=True)
    sec = m.log_between(m.security_log, 0, 0xFFFFFFFF)[-1]
    assert sec[1:] == (0x8F52, T2015, 0x0024)
    m._gctr = [0, {}]
    data = _ref_data(ev)
    r = G.parse(rtds.run(b, ev))["dlms"]
    assert r["results"] == [(1, 0)] and _ca(bytes.fromhex(r["data"][0]))[1] == b""
    assert _ca(data)[1]
    m.alert(0x8F01)                  # a later event reads again
    m._gctr = [0, {}]
    r = G.parse(m.gbcs_message(G.build_command(
        0x0048, _range_get("0000636200FF", T2015 - DAY, T2015 + 10), 1000)))["dlms"]
    assert _ca(bytes.fromhex(r["data"][0]))[1] == struct.pack(">IH", T2015, 0x8F01) + b"\x00"


def test_ecs15a_clear_survives_a_restart(tmp_path):
    b = _meter(tmp_path)
    m = b.meter
    _state_logs(m, _vec("ECS35a"))
    b.clock.set(T2015)
    rtds.run(b, _vec("ECS15a"))
    b.restart()
    m = b.meter
    from firmware.gbcs import keystore as K
    K.install(m, *G.rtds_keystore())
    from firmware.gbcs import uc_read as U
    assert U.profile_data(m, U._K_EVENT, 0, 0xFFFFFFFF)[-1:] == b"\x00"      # empty contents
    assert m.log_between(m.security_log, 0, 0xFFFFFFFF)[-1][1] == 0x8F52


# -- hostile values inside validly protected commands --------------------------------------------
def _range_get(obis, t0, t1, sel=1, restrict=None, selected=b"\x01\x00"):
    r = restrict or bytes.fromhex("0204120001090600005E2C64FF0F02120000")
    par = b"\x02\x04" + r + b"\x06" + struct.pack(">I", t0) + b"\x06" + \
        struct.pack(">I", t1) + selected
    return (b"\xD9\x20\x00\x03\xE8\x00\x01\x04\x00\x07" + bytes.fromhex(obis) + b"\x02" +
            bytes((sel,)) + par + b"\x01\x00")


def _send(b, mc, pl, counter=None, **kw):
    """Send a built command (a fresh counter unless given): its parsed
    DLMS response; nothing but the counters changed."""
    m = b.meter
    if counter is None:
        counter = b.ctr = getattr(b, "ctr", 5000) + 1
    before = V.state(m)
    sec, ev = m.security_log.seq, m.event_log.seq
    resp = m.gbcs_message(G.build_command(mc, pl, counter, **kw))
    assert resp is not None
    r = G.parse(resp)["dlms"]
    after = V.state(m)
    for k in ("Logs",):
        before.pop(k, None)
        after.pop(k, None)
    assert after == before and (m.security_log.seq, m.event_log.seq) == (sec, ev)
    return r


def _replace(payload, old, new):
    assert payload.count(old) == 1
    return payload.replace(old, new)


@pytest.mark.parametrize("case", ["selector", "restrict", "columns"])
def test_hostile_range_reads_refused(tmp_path, case):
    b = _meter(tmp_path)
    b.clock.set(T2015)
    pl = {"selector": _range_get("0000636200FF", 0, T2015, sel=2),
          "restrict": _range_get("0000636200FF", 0, T2015,      # the Clock, not UTC seconds
                                 restrict=bytes.fromhex("020412000809060000010000FF0F02120000")),
          "columns": _range_get("0000636200FF", 0, T2015, selected=b"\x01\x01\x00")}[case]
    assert _send(b, 0x0048, pl)["results"] == [(1, 12)]


def test_sensitive_profiles_only_encrypted(tmp_path):
    """§8.2: the half-hour import profile, daily consumption and Billing
    Data Log change entries are never read in clear."""
    b = _meter(tmp_path)
    b.clock.set(T2015)
    for obis in ("0000630100FF", "0000630103FF", "0000620102FF"):
        assert _send(b, 0x0048, _range_get(obis, 0, T2015))["results"] == [(1, 3)]


def test_register_and_log_writes_refused(tmp_path):
    b = _meter(tmp_path)
    b.clock.set(T2015)
    m = b.meter
    wh = m.import_wh
    pl = G.dlms_set(5000, [(3, bytes.fromhex("0100010800FF"), 2, b"\x06\x00\x00\x00\x00")])
    assert _send(b, 0x0024, pl, 5000)["results"] == [(2, 3)]
    # reset of the Security or Power Event Log: refused (§16.3), nothing cleared
    for obis in ("0000636201FF", "0000636204FF"):
        pl = G.dlms_action(5001, [(7, bytes.fromhex(obis), 1, b"\x0f\x00")])
        assert _send(b, 0x0024, pl)["results"] == [(3, 3)]
    pl = G.dlms_action(5002, [(7, bytes.fromhex("0000636200FF"), 1, b"\x0f\x01")])
    assert _send(b, 0x0024, pl)["results"] == [(3, 12)]
    assert m.import_wh == wh


@pytest.mark.parametrize("case", ["object", "restriction", "counter", "party", "recipient",
                                  "method", "no-dates"])
def test_hostile_protected_reads_refused(tmp_path, case):
    """get_protected_attributes requests that do not match Tbl 8.5.2a:
    type-unmatched (or undefined), nothing encrypted, nothing changed."""
    b = _meter(tmp_path)
    b.clock.set(T2015)
    v19 = _vec("ECS19")
    v66 = _vec("ECS66")
    p19 = bytes.fromhex(G.parse(rtds.message(v19["command_file"]))["payload"])
    p66 = bytes.fromhex(G.parse(rtds.message(v66["command_file"]))["payload"])
    mc, pl, want = 0x002D, p19, 12
    if case == "object":
        pl = _replace(p19, bytes.fromhex("00005E2C221E"), bytes.fromhex("00005E2C220A"))
    elif case == "restriction":      # dates on a non-log object
        pl = _replace(p19, b"\x02\x02\x16\x00\x00", b"\x02\x02\x16\x01\x02\x02\x09\x0c" +
                      bytes(12) + b"\x09\x0c" + b"\xff" * 12)
    elif case == "counter":
        pl = _replace(p19, b"\x09\x09\x04" + struct.pack(">Q", 1000),
                      b"\x09\x09\x04" + struct.pack(">Q", 999))
    elif case == "party":
        pl = _replace(p19, bytes.fromhex("090890B3D51F30010000"),
                      bytes.fromhex("090890B3D51F30020000"))
    elif case == "recipient":
        pl = _replace(p19, bytes.fromhex("090800DB1234567890A0"),
                      bytes.fromhex("090800DB1234567890A1"))
    elif case == "method":
        pl, want = _replace(p19, bytes.fromhex("001E00002B0201FF01"),
                            bytes.fromhex("001E00002B0201FF02")), 3
    else:                           # a log read without from/to dates
        mc = 0x0060
        i = p66.index(b"\x02\x02\x16\x01")
        pl = p66[:i] + b"\x02\x02\x16\x00\x00" + p66[i + 34:]
    counter = 1000 if case == "counter" else int.from_bytes(pl[2:5], "big") & 0xFFFFFF
    r = _send(b, mc, pl, counter)
    assert r["results"] == [(3, want)] and r["data"] == ["00"]


def test_range_larger_than_a_response_refused(tmp_path):
    """A selection over what one response (4 GBT blocks) can carry:
    other-reason, nothing sent half."""
    b = _meter(tmp_path)
    m = b.meter
    pr = m.profile
    base = T2015 // HH - 600
    for i in range(base, base + 600):
        pr.hh.put(i, b"\x01\x00\x00")
    pr.last_idx = base + 599
    b.clock.set(T2015)
    assert _send(b, 0x0036, _range_get("0000630101FF", 0, T2015),
                 originator=G.NETWORK_OPERATOR)["results"] == [(1, 250)]
    r = _send(b, 0x0036, _range_get("0000630101FF", T2015 - DAY, T2015),
              originator=G.NETWORK_OPERATOR)
    td, c = _ca(bytes.fromhex(r["data"][0]))
    assert td == b"\x02\x02\x06\x06" and len(c) == 49 * 8     # both ends inclusive
    assert struct.unpack_from(">II", c, 0) == (T2015 - DAY, 0)


def test_polyphase_and_twin_objects_undefined(tmp_path):
    """ECS23b's polyphase profiles and a secondary-element register: this
    single-element, single-phase meter answers object-undefined."""
    b = _meter(tmp_path)
    b.clock.set(T2015)
    for obis in ("0100341800FF", "0100481800FF"):
        assert _send(b, 0x0048, _range_get(obis, 0, T2015))["results"] == [(1, 4)]
    pl = G.dlms_get(5003, [(3, bytes.fromhex("0114010800FF"), 2)])
    assert _send(b, 0x0026, pl, originator=G.NETWORK_OPERATOR)["results"] == [(1, 4)]


def test_mp_script_reads_as_expected(tmp_path):
    """host_tests/mp/uc_read.py (compared across runtimes by
    test_micropython.py) answers what it should on CPython: ECS15a as RTDS
    with its security entry, every read successful, the Event Log empty
    after the clear."""
    from runtimes import run_script
    out = run_script("cpython", "uc_read.py", str(tmp_path)).splitlines()
    heads = [l.split() for l in out if not l.startswith(" ")]
    assert [h[0] for h in heads] == ["ECS17a_4.2_SUCCESS", "ECS35a_6.13_SUCCESS",
                                     "ECS35e_6.13_SUCCESS", "ECS19_4.3_SUCCESS",
                                     "ECS66_4.17_SUCCESS", "ECS20b_4.4.2_SINGLE_SUCCESS",
                                     "ECS22b_4.8.1_SINGLE_SUCCESS", "ECS15a_3.3_SUCCESS",
                                     "ECS35a_6.13_SUCCESS", "ECS21a_4.6.1_SINGLE_SUCCESS",
                                     "ECS21a_4.6.1_TWIN_SUCCESS"]
    res = [G.parse(bytes.fromhex(h[1]))["dlms"] for h in heads]
    assert all(c == 0 for r in res for _, c in r["results"])
    assert out[out.index(" ".join(heads[7])) + 1] == "  as RTDS True"
    assert "  security 8f52 %d 0024" % T2015 in out
    assert _ca(bytes.fromhex(res[1]["data"][0]))[1] and not _ca(bytes.fromhex(res[8]["data"][0]))[1]
    pt = _dec(bytes.fromhex(heads[5][1]), _vec("ECS20b", "SINGLE_SUCCESS"))
    assert len(_ca(pt, 2)[1]) == 3 * 352
    pt = _dec(bytes.fromhex(heads[6][1]), _vec("ECS22b", "SINGLE_SUCCESS"))
    assert len(_ca(pt, 2)[1]) == 49 * 8
    # ECS21a: the three days the script wrote (import 500000 + 1000 k, register
    # i = 1000 (k + 1) + 7 i), for the SINGLE and the TWIN command alike
    for h in heads[9:]:
        td, c = _ca(_dec(bytes.fromhex(h[1]), _vec("ECS21a", "SINGLE_SUCCESS")), 2)
        assert td == TD_SINGLE and len(c) == 3 * 328
        d = 447638400
        for k in range(3):
            assert struct.unpack_from(">II", c, 328 * k) == (d + k * DAY, 500000 + 1000 * k)
            assert struct.unpack_from(">80I", c, 328 * k + 8) == tuple(
                1000 * (k + 1) + 7 * i for i in range(80))


def test_ecs15a_clear_old_or_new_after_a_cut_at_every_write(tmp_path):
    """commands/supplier.clear_event_log is one atomic operation: a power
    cut at any write leaves the Event Log readable as before and no
    Security Log entry, or cleared with its entry (completed at boot)."""
    from test_powercut_records import Bench as PBench, every_cut
    from firmware.commands import supplier as S
    from firmware.gbcs import uc_read as U

    def make(path):
        b = PBench(path)
        for code in (0x8F01, 0x8F02, 0x8F03):
            b.m.alert(code)
        return b

    def check(b, before):
        m = b.m
        ev = U.profile_data(m, U._K_EVENT, 0, 0xFFFFFFFF)
        sec = m.log_between(m.security_log, 0, 0xFFFFFFFF)
        done = ev.endswith(b"\x00") and len(ev) == 7
        assert done or ev.count(b"\x8f\x01\x00") == 1
        assert m.security_log.seq == before["security"] + done
        assert not done or sec[-1][1:4:2] == (0x8F52, 0x0024)
        return done
    outs = every_cut(tmp_path, "clear event log", make, lambda b: S.clear_event_log(b.m, 0x0024),
                     lambda b: None, check)
    assert outs == {True, False}


def test_billing_calendar_part_encrypted(tmp_path):
    """The Billing Data Log's billing-period entries (0-0:98.1.1, through
    Data Protection 0-0:43.2.2; the held-back ECS20c's objects as assumed
    from the numbering): billingCalendarLogEntry, encrypted, the period's
    registers as recorded."""
    b = _meter(tmp_path)
    m = b.meter
    m.import_wh = 4321
    m.tariff.reg[0], m.tariff.reg[48] = 1111, 2222
    lg = m.snapshots.logs[1]
    lg.append(bytes(m.snapshots.record(T2015 - 10 * DAY, 2, False)))
    lg.append(bytes(m.snapshots.record(T2015 - 100 * DAY, 2, False)))     # before from_date
    lg.append(bytes(m.snapshots.record(T2015 + 10 * DAY, 2, False)))      # to_date FF: newest
    b.clock.set(T2015)
    v = _vec("ECS20b", "SINGLE_SUCCESS")
    pl = bytes.fromhex(G.parse(rtds.message(v["command_file"]))["payload"])
    pl = _replace(pl, bytes.fromhex("00002B0203FF"), bytes.fromhex("00002B0202FF"))
    pl = _replace(pl, bytes.fromhex("0000620102FF"), bytes.fromhex("0000620101FF"))
    pl = _replace(pl, bytes.fromhex("090C07DF0301FF090000008000FF"), b"\x09\x0c" + b"\xff" * 12)
    resp = m.gbcs_message(G.build_command(0x002F, pl, 1002))
    assert G.parse(resp)["dlms"]["results"] == [(3, 0)]
    td, c = _ca(_dec(resp, v), 2)
    assert td == bytes.fromhex("020706060100300601000806010008060100080601000806")
    assert len(c) == 2 * 328
    assert struct.unpack_from(">II", c, 0) == (T2015 - 10 * DAY, 4321)
    assert struct.unpack_from(">I", c, 328)[0] == T2015 + 10 * DAY
    assert struct.unpack_from(">I", c, 8)[0] == 1111 and struct.unpack_from(">I", c, 8 + 192)[0] == 2222


def test_prepayment_credits_and_reactive_profile(tmp_path):
    """0-0:98.1.3 (prepayment credits: each top-up's time and amount as on
    the HAN) and 0-0:99.1.2 (reactive import half hours: this meter never
    advances it, so its captured half hours read 0)."""
    b = _meter(tmp_path)
    m = b.meter
    pp = m.prepayment
    for i, pence in enumerate((500, 1000, 250)):
        rec = bytearray(29)
        struct.pack_into("<IiB", rec, 0, T2015 - 3600 * (3 - i), pp.unmoney(pence * 1000), 1)
        pp.topups.append(rec)
    pr = m.profile
    for i in range(T2015 // HH - 4, T2015 // HH):
        pr.hh.put(i, b"\x07\x00\x00")
    pr.last_idx = T2015 // HH - 1
    b.clock.set(T2015)
    r = _send(b, 0x002E, _range_get("0000620103FF", T2015 - 3 * 3600, T2015))
    td, c = _ca(bytes.fromhex(r["data"][0]))
    assert td == b"\x02\x02\x06\x06"
    assert [struct.unpack_from(">Ii", c, i) for i in range(0, len(c), 8)] == \
        [(T2015 - 3 * 3600, 500000), (T2015 - 7200, 1000000), (T2015 - 3600, 250000)]
    r = _send(b, 0x0036, _range_get("0000630102FF", T2015 - 3600, T2015),
              originator=G.NETWORK_OPERATOR)
    _, c = _ca(bytes.fromhex(r["data"][0]))
    assert c == struct.pack(">IIIIII", T2015 - 3600, 0, T2015 - 1800, 0, T2015, 0)


def test_logical_names_and_capture_periods(tmp_path):
    """Attributes the visible vectors do not touch: logical_name (1) of
    registers and profiles, capture_period (4): 1800 s half hours, a day,
    0 for the event-driven logs."""
    b = _meter(tmp_path)
    b.clock.set(T2015)
    items = [(3, "0100020800FF", 1), (7, "0000630100FF", 1), (7, "0000630101FF", 4),
             (7, "0000630103FF", 4), (7, "000062010AFF", 4), (7, "0000636200FF", 4)]
    pl = G.dlms_get(5100, [(c, bytes.fromhex(o), a) for c, o, a in items])
    r = _send(b, 0x0048, pl, 5100)
    assert r["results"] == [(1, 0)] * 6
    assert r["data"] == ["09060100020800FF", "09060000630100FF", "0600000708", "0600015180",
                         "0600015180", "0600000000"]


# -- ECS21a: the Daily Read Log (profile.py daily register reads) ------------------------------
def _dt(t):
    """The DLMS date-time of UTC t (§9.1.5 form of the RTDS commands)."""
    from firmware.platform.clock import civil
    y, mo, d = civil(t // DAY)
    s = t % DAY
    return struct.pack(">HBBBBBBBhB", y, mo, d, 0xFF, s // 3600, s // 60 % 60, s % 60, 0,
                       -32768, 0xFF)


def _ecs21a(b, t0, t1, counter, result=0):
    """Send the RTDS ECS21a SINGLE command with the range [t0, t1] (UTC, or
    the 12-octet date-times as given) and a new counter: the entries of
    the decrypted response (time, import, 80 registers) and its type
    description (None when the result is not success: `result` expected)."""
    v = _vec("ECS21a", "SINGLE_SUCCESS")
    pl = bytes.fromhex(G.parse(rtds.message(v["command_file"]))["payload"])
    d0 = t0 if isinstance(t0, bytes) else _dt(t0)
    d1 = t1 if isinstance(t1, bytes) else _dt(t1)
    pl = _replace(pl, bytes.fromhex("090C07DE0309FF000000008000FF090C07DE030BFF000000008000FF"),
                  b"\x09\x0c" + d0 + b"\x09\x0c" + d1)
    pl = _replace(pl, b"\x09\x09\x04" + struct.pack(">Q", 1003),
                  b"\x09\x09\x04" + struct.pack(">Q", counter))
    pl = pl[:2] + struct.pack(">I", (struct.unpack_from(">I", pl, 2)[0] & 0xFF000000) |
                              (counter & 0xFFFFFF))[1:] + pl[5:]
    resp = b.meter.gbcs_message(G.build_command(0x0033, pl, counter))
    r = G.parse(resp)
    assert r["dlms"]["results"] == [(3, result)], r["dlms"]
    if result:
        return None
    td, c = _ca(_dec(resp, v), 2)
    return td, [(struct.unpack_from(">II", c, i), struct.unpack_from(">80I", c, i + 8))
                for i in range(0, len(c), 328)]


def _tou_meter(tmp_path, utc):
    """A meter on the TOU-with-blocks tariff at utc, 3 kW of load."""
    import json
    from mp.common import tariff_load
    b = rtds.meter(tmp_path, utc=utc)
    with open("tariffs/tou-blocks.json") as f:
        tariff_load(b.meter, json.load(f))
    b.metrology.load_w = 3000
    return b


def _midnights(b, n):
    """Run the meter over the next n midnights (the last 60 s before each,
    the clock set forward in between); the registers each midnight's tick
    left: [(midnight, (import, 80 registers))]."""
    m = b.meter
    got = []
    for _ in range(n):
        t = (b.clock.now() // DAY + 1) * DAY
        if t - 60 > b.clock.now():
            b.clock.set(t - 60)
        b.tick(t - b.clock.now())
        got.append((t, (m.import_wh, tuple(m.tariff.reg[:80]))))
        b.tick(30)
    return got


TD_SINGLE = bytes.fromhex("020706060100300601000806010008060100080601000806")


def test_ecs21a_daily_read_log_after_midnights(tmp_path):
    """Three midnights on a TOU-with-blocks tariff: ECS21a's plaintext has
    the RTDS SINGLE type description and, per midnight, its time, the
    import register and the 80 TOU/block registers as the midnight tick
    left them (not all zero: the load moved them)."""
    t0 = T2015 + 10 * DAY
    b = _tou_meter(tmp_path, t0 - 3600)
    want = _midnights(b, 3)
    assert any(r[1][48:] != (0,) * 32 for _, r in want) and want[0][1] != want[2][1]
    td, got = _ecs21a(b, t0, t0 + 2 * DAY, 7000)
    assert td == TD_SINGLE == _ca(_dec(rtds.message(_vec("ECS21a", "SINGLE_SUCCESS")[
        "response_file"]), _vec("ECS21a", "SINGLE_SUCCESS")), 2)[0]
    assert got == [((t, wh), regs) for t, (wh, regs) in want]


def test_ecs21a_range_selection(tmp_path):
    """The range is on the capture time, both ends inclusive; all 00 /
    all FF date-times mean the oldest / newest (§8.2); a range with no
    midnight in it reads an empty compact-array; a day the meter did not
    see begin is left out, never invented."""
    t0 = T2015 + 10 * DAY
    b = _tou_meter(tmp_path, t0 - 3600)
    times = [t for t, _ in _midnights(b, 2)]
    b.clock.set(b.clock.now() + 2 * DAY)      # over a midnight the meter never sees
    b.tick(1)                                 # the day it lands in: read when it got there
    times.append(times[-1] + 2 * DAY)
    times += [t for t, _ in _midnights(b, 2)]
    assert times[3] == times[1] + 3 * DAY
    assert [e[0][0] for e in _ecs21a(b, times[1], times[3], 7001)[1]] == times[1:4]
    assert [e[0][0] for e in _ecs21a(b, times[1] + 1, times[3] - 1, 7002)[1]] == times[2:3]
    assert [e[0][0] for e in _ecs21a(b, bytes(12), b"\xff" * 12, 7003)[1]] == times
    assert _ecs21a(b, times[1] + 1, times[1] + DAY, 7004)[1] == []     # the day never seen
    assert _ecs21a(b, times[-1] + 1, b"\xff" * 12, 7005)[1] == []


def test_ecs21a_depth_is_31_days(tmp_path):
    """35 midnights: the log holds the newest 31 (profile.DREG_SLOTS), the
    older ones read as gone, not as a previous lap's data. One response
    carries at most 12 entries (4 GBT blocks): all 31 at once is refused
    other-reason, nothing sent half; read in 10-day windows."""
    from firmware.metering import profile as PR
    from firmware.gbcs import uc_read as U
    assert PR.DREG_SLOTS == U._DREG_SLOTS == 31
    b = _tou_meter(tmp_path, T2015 - 3600)
    want = _midnights(b, 35)
    assert _ecs21a(b, bytes(12), b"\xff" * 12, 7010, 250) is None
    got = []
    for k in range(0, 35, 10):
        got += _ecs21a(b, want[k][0], want[min(k + 9, 34)][0], 7011 + k)[1]
    assert [e[0] for e in got] == [(t, r[0]) for t, r in want[4:]]
    assert got[0][1] == want[4][1][1]
    pr = b.meter.profile
    assert pr.day_regs(want[3][0] // DAY) is None            # its slot holds day 35's record
    assert pr.dregs.size * pr.dregs.slots == 31 * 331


def test_ecs21a_twin_command_gets_the_single_element_entries(tmp_path):
    """RTDS TWIN_SUCCESS is the SINGLE command but for its counter: this
    single-element meter answers it with its own (7-element) entries; the
    TWIN reference's plaintext has the 9-element twin entry, which needs
    secondary registers this meter does not have."""
    v = [x for x in rtds.commands(["ECS21a"]) if x["variant"] == "TWIN_SUCCESS"][0]
    b = _meter(tmp_path)
    _state_dregs(b.meter, _vec("ECS21a", "SINGLE_SUCCESS"))
    b.clock.set(T2015)
    resp = rtds.run(b, v)
    rtds.check(v, resp)
    ref = _dec(rtds.message(v["response_file"]), v)
    assert _ca(ref, 2)[0] == bytes.fromhex(
        "0209060606010030060100040601000806010008060100080601000806")
    td, c = _ca(_dec(resp, v), 2)
    assert td == TD_SINGLE and len(c) == 3 * 328


def test_ecs21a_entry_old_or_new_after_a_cut_at_every_write(tmp_path):
    """The midnight tick (register save, profile records, the daily
    register read, the profile state): a power cut at any write leaves,
    after the restart, the day's entry whole and equal to the registers the
    meter restarts with (the midnight's, or the last saved ones when the
    cut hit the register save: the roll is redone at boot), and the
    previous day's entry untouched."""
    from test_powercut_records import Bench as PBench, every_cut, T0
    from mp.common import tariff_load
    from test_powercut_records import E7

    def make(path):
        b = PBench(path, T0 - 5)
        tariff_load(b.m, E7)
        b.metrology.load_w = 2500
        b.tick(10)
        b.clock.set(T0 + DAY - 700)       # registers saved at 23:50 + a few seconds
        b.tick(698)
        b.prev = b.m.profile.day_regs(T0 // DAY)
        assert b.prev is not None
        b.prev = (b.prev[0], bytes(b.prev[1]))
        return b

    def check(b, before):
        m = b.m
        pr = m.profile
        p = pr.day_regs(T0 // DAY)
        assert (p[0], bytes(p[1])) == b.prev
        r = pr.day_regs(T0 // DAY + 1)
        assert r is not None and pr.day == T0 // DAY + 1
        assert r[0] == m.import_wh
        assert struct.unpack_from("<80I", r[1], 7) == tuple(m.tariff.reg[:80])
        return r[0] == new[0]

    def op(b):
        b.tick(2)

    u = make(tmp_path / "uncut")
    op(u)
    new = u.m.profile.day_regs(T0 // DAY + 1)
    assert new[0] > u.prev[0]
    outs = every_cut(tmp_path, "daily register read", make, op, lambda b: None, check)
    assert outs == {True, False}


def test_daily_read_log_attributes_in_clear(tmp_path):
    """0-0:98.1.9.255 read with a plain Get: logical_name (1) and
    capture_period (4: a day) answer; the buffer (2) only through Data
    Protection 0-0:43.2.5 (§8.2: read-write-denied in clear); capture_objects
    (3) object-undefined, as for the other logs."""
    b = _meter(tmp_path)
    b.clock.set(T2015)
    pl = G.dlms_get(5200, [(7, bytes.fromhex("0000620109FF"), a) for a in (1, 4, 3)])
    r = _send(b, 0x0048, pl, 5200)
    assert r["results"] == [(1, 0), (1, 0), (1, 4)]
    assert r["data"][:2] == ["09060000620109FF", "0600015180"]
    assert _send(b, 0x0048, _range_get("0000620109FF", 0, T2015), 5201)["results"] == [(1, 3)]
