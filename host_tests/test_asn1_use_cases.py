"""The ASN.1 security-credential and firmware use cases (firmware/gbcs/
asn1.py, creds.py; issues #20, #21): CS02a/f trust anchor details, CS02b
cell replacement (immediate, future-dated, cancelled; replay, hostile DER
inside validly signed commands, a power cut at every write), CS03A1 /
CS04AC device log, CS06 firmware activation through ota/client.py; the
RTDS 4.5.0 vectors (vectors/rtds/README.md) byte for byte where MACed,
field by field but for the signature where signed."""
import hashlib
import os
import struct

import pytest

import rtds as R
from tools import gbcs_host as G
from firmware.gbcs import keystore as K
from firmware.gbcs import core
from firmware.gbcs import asn1 as A

pytestmark = pytest.mark.skipif(not R.HAVE, reason="RTDS vectors not available")
T2030 = 948013200 - 9 * 3600          # 2030-01-15 00:00:00 UTC (the CS02b activation)
# the RTDS meter's cells (README) and the role 08 cells its CS02f reports, and the
# sequence numbers its CS02a / CS02f report (networkOperator 1, role 08 1)
CELLS = G.RTDS_CELLS + ((8, 0, 0, "90b3d51f30010008-ds"), (8, 4, 0, "90b3d51f30010008-ka"))
SEQS = {3: 1, 8: 1}


def vec(uc, var):
    return [v for v in R.vectors() if v["use_case"] == uc and v["variant"] == var][0]


def meter(tmp_path, cells=CELLS, seqs=SEQS):
    b = R.meter(tmp_path)
    K.install(b.meter, *G.rtds_keystore(cells=cells), seqs=seqs)
    return b


@pytest.fixture
def wired():
    """The future.py wiring (asn1.py header): owner group 5 is asn1, and an
    owner's took() returning None has sent its own alert (no DLMS 0x00CC
    alert)."""
    from firmware.gbcs import cosem
    import inspect
    from firmware.gbcs import future
    assert cosem.module(5).__name__ == A.__name__
    assert "ok is None" in inspect.getsource(future.due)


def signed_like(resp, v):
    """A signed response: RTDS's relations to its command (README), a valid
    signature with the meter's key, and the payload and every other field
    equal to the reference (all but the signature)."""
    c = G.parse(R.message(v["command_file"]))
    r = G.parse(resp, device_ds_pub=G.test_ds_pub())
    ref = G.parse(R.message(v["response_file"]))
    assert r["kind"] == "signed" and r["sig_ok"] is True
    assert r["cra"] == 2 and r["counter"] == c["counter"] and r["message_code"] == c["message_code"]
    assert (r["originator"], r["recipient"]) == (c["recipient"], c["originator"])
    assert r["date_time"] == ref["date_time"]
    return r, ref


def der_items(b):
    """The items of the outermost SEQUENCE (content octets each)."""
    out = []
    j, e = A.take(b, 0, len(b), 0x30)
    while j < e:
        t, a, z = A.tlv(b, j, e)
        out.append((t, bytes(b[a:z])))
        j = z
    return out


def ks_state(m):
    ks = K.get(m)
    return sorted(ks[0]), dict(ks[6])


def reload(b):
    b.restart()
    b.alerts_sent = []
    b.meter.tunnel_send = b.alerts_sent.append
    return b.meter


# -- CS02a / CS02f ----------------------------------------------------------------------------
@pytest.mark.parametrize("uc", ["CS02aMAC", "CS02fMAC"])
def test_cs02a_f_success_byte_for_byte(tmp_path, uc):
    """RTDS 6.24.1: the cells of each role asked for (SKIs, entity, cell
    usage) and its sequence number, MACed: the whole response matches."""
    b = meter(tmp_path)
    v = vec(uc, "SUCCESS")
    assert b.meter.gbcs_message(R.message(v["command_file"])) == R.message(v["response_file"])


def test_cs02a_role_without_cells_and_hostile_payloads(tmp_path):
    """A role the meter holds no cell for: statusCode other (127); a payload
    that is not the command's DER: an empty SEQUENCE OF, nothing changes."""
    b = meter(tmp_path)
    m = b.meter
    pl = bytes.fromhex("300e300702010403020308300302010" + "6")
    r = G.parse(m.gbcs_message(G.build_command(0x0008, pl, 2000, originator=G.ACB)))
    assert r["payload"] == "30083006020106" + "0A017F"
    before = ks_state(m)
    for n, bad in enumerate([b"\x30\x85\x00\x00\x00\x01\x00", b"\x30\x80\x00\x00",
                             b"\x30\x0e\x30\x07\x02\x01\x04\x03\x02\x03\x08\x30\x7f\x02",
                             b"\x02\x01\x00", b"\x30\x00"]):
        r = G.parse(m.gbcs_message(G.build_command(0x0008, bad, 2001 + n, originator=G.ACB)))
        assert r["payload"] == "3000", bad
    assert ks_state(m) == before


# -- CS02b ----------------------------------------------------------------------------------
@pytest.mark.parametrize("uc,var", [("CS02bSupplierBySupplier", "IMMEDIATE_SUCCESS"),
                                    ("CS02bSupplierBySupplier", "IMMEDIATE_ERROR"),
                                    ("CS02bNOByNO", "SUCCESS")])
def test_cs02b_immediate_as_rtds(tmp_path, uc, var):
    """The ExecutionOutcome equals RTDS's octet for octet (each replacement's
    cell, status, existing and replacing entity / SKI); the keystore holds
    the new keys of the replacements that passed (the ERROR command's KA
    certificate is issued by a CA not in its certification path:
    noTrustAnchor (10), that cell is kept), the role's sequence number is
    the command's, and it survives a restart."""
    b = meter(tmp_path)
    m = b.meter
    v = vec(uc, var)
    old = dict(((c[0], c[1], c[2]), c) for c in K.get(m)[0])
    resp = m.gbcs_message(R.message(v["command_file"]))
    r, ref = signed_like(resp, v)
    assert r["payload"] == ref["payload"]
    outs = der_items(bytes.fromhex(r["payload"]))[1][1]
    seq = int(v["originator_counter"], 16)
    role = 2 if uc.endswith("Supplier") else 3
    m = reload(b)
    ks = K.get(m)
    assert ks[6][role] == seq
    # each ReplacementOutcome: cell id, status, old entity, old SKI, new entity, new SKI
    eo = der_items(A.item(0x30, outs))
    assert [t for t, _ in eo] == [2, 2, 0x30, 0x30] and eo[0][1] == A.integer(seq)[2:]
    items = der_items(A.item(0x30, eo[3][1]))
    assert len(items) == (3 if role == 2 else 2)
    for t, o in items:
        f = [x[1] for x in der_items(A.item(0x30, o))]
        cid = A.cell_id(f[0], 0, len(f[0]))
        cell = K.cell(ks, *cid)
        assert f[2] == old[cid][3] and f[3] == old[cid][5]
        if f[1] == b"\x00":
            assert (cell[3], cell[5]) == (f[4], f[5]) and cell[5] != old[cid][5]
        else:
            assert f[1] == b"\x0a" and cell == old[cid]
    # CS02a now reports the new SKIs and sequence number
    ca = m.gbcs_message(R.message(vec("CS02aMAC", "SUCCESS")["command_file"]))
    det = der_items(bytes.fromhex(G.parse(ca)["payload"]))
    assert integer(seq) in det[role - 2][1]


def integer(v):
    return A.integer(v)


def test_cs02b_replay_and_order_refused_without_change(tmp_path):
    """A CS02b whose sequence number is not above the role's (§13.3.5.3):
    no response, Security Log 0x8F3D, the Generic Critical Alert, keystore
    unchanged; a NO-by-NO command carries the supplier's code: refused."""
    b = meter(tmp_path)
    m = b.meter
    cmd = R.message(vec("CS02bSupplierBySupplier", "IMMEDIATE_SUCCESS")["command_file"])
    assert m.gbcs_message(cmd) is not None
    before = ks_state(m)
    sec = m.security_log.seq
    assert m.gbcs_message(cmd) is None
    assert ks_state(m) == before and m.security_log.seq == sec + 1
    e = m.log_between(m.security_log, 0, 2 ** 32)[-1]
    assert (e[1], e[3]) == (0x8F3D, 0x0102)
    a = G.parse(b.alerts_sent[-1], device_ds_pub=G.test_ds_pub())
    assert a["message_code"] == 0x1000 and a["sig_ok"]


def _rebuilt(pl, counter=5000, mc=0x0102, originator=G.SUPPLIER):
    return G.build_command(mc, pl, counter, critical=True, originator=originator)


def _cs02b_payload(v="IMMEDIATE_SUCCESS"):
    return bytes.fromhex(G.parse(R.message(vec("CS02bSupplierBySupplier", v)["command_file"]))
                         ["payload"])


def _set_seq(pl, seq):
    """The command payload with its [3] sequence number set (same length)."""
    i = pl.index(b"\x83\x02\x03\xe8")
    return pl[:i] + b"\x83\x02" + seq.to_bytes(2, "big") + pl[i + 4:]


def _mutations(pl):
    """Hostile DER inside the RTDS CS02b payload: lengths too long / short /
    indefinite / 4-octet forms, tags changed, truncation, the certificates'
    inner fields broken, too many replacements, trailing garbage."""
    out = []
    n = len(pl)
    for k in (1, 2, 3):                              # outer lengths
        out.append(pl[:k] + b"\xff" + pl[k + 1:])
    out.append(b"\x30\x80" + pl[4:])
    out.append(b"\x30\x84\x00\x00" + pl[2:])
    for cut in (5, 40, 200, 600, 1000, n - 1):
        out.append(pl[:cut])
    out.append(pl + b"\x00\x00")
    i = pl.index(b"\x2a\x86\x48\xce\x3d\x04\x03\x02")  # the first certificate's algorithm
    out.append(pl[:i] + b"\x2a\x86\x48\xce\x3d\x04\x03\x03" + pl[i + 8:])
    i = pl.index(b"\x03\x42\x00\x04")                 # its key: compressed / off the curve
    out.append(pl[:i + 3] + b"\x02" + pl[i + 4:])
    out.append(pl[:i + 4] + bytes(64) + pl[i + 68:])
    i = pl.index(b"\x06\x03\x55\x1d\x0f")            # keyUsage not critical
    out.append(pl[:i + 5] + b"\x01\x01\x00" + pl[i + 8:])
    i = pl.index(b"\xa2\x07\x02\x01\x02")            # authorising cell: the NO's
    out.append(pl[:i + 4] + b"\x03" + pl[i + 5:])
    assert pl[6:9] == b"\x02\x01\x02"
    out.append(pl[:8] + b"\x03" + pl[9:])            # mode 3 in a 0x0102 command
    for k in range(20, n, 97):                        # single octets flipped everywhere
        out.append(pl[:k] + bytes((pl[k] ^ 0x5A,)) + pl[k + 1:])
    return out


def test_cs02b_hostile_der_in_signed_commands_changes_nothing(tmp_path):
    """Each mutation, signed by the supplier and MACed by the ACB (it passes
    every §6.2.4 check), on the RTDS keystore: the meter refuses it (no
    response, a Security Log entry 0x8F1E: the payload does not parse, or
    0x8F3D: its sequence number was broken below the role's) or answers
    with the outcome of the replacements whose certificates still pass
    every check; it never raises, and a cell only ever takes a key of
    RTDS's own replacement certificates."""
    b = meter(tmp_path)
    m = b.meter
    pl = _cs02b_payload()
    fresh = ks_state(m)
    good = (bytes.fromhex("43046B4FB7C4F11B"), bytes.fromhex("429667C1B8BB1E34"),
            bytes.fromhex("4EB07A1BCA0DD58C"))
    seen = {}
    for k, bad in enumerate(_mutations(pl)):
        K.install(m, *G.rtds_keystore(cells=CELLS), seqs=SEQS)
        sec = m.security_log.seq
        r = m.gbcs_message(_rebuilt(bad, 6000 + k))
        cells, seqs = ks_state(m)
        if r is None:
            e = m.log_between(m.security_log, 0, 2 ** 32)[-1]
            assert m.security_log.seq == sec + 1 and e[1] in (0x8F1E, 0x8F3D, 0x8F30)
            assert (cells, seqs) == fresh, k
            seen[e[1]] = seen.get(e[1], 0) + 1
            continue
        p = G.parse(r, device_ds_pub=G.test_ds_pub())
        assert p["sig_ok"] and p["payload"][:4] == "3082", k
        seen[0] = seen.get(0, 0) + 1
        for c in cells:
            assert c in fresh[0] or c[5] in good, k
    assert seen.get(0x8F1E, 0) >= 10 and seen.get(0, 0) >= 5, seen


def test_cs02b_bad_certificates_get_their_status(tmp_path):
    """The certificate checks a meter can make without the root: a key
    usage other than the cell's (the DS certificate for the KA cell) and a
    certificate whose signature does not verify with its issuer: no cell
    changes, statuses badCertificate (5) / noTrustAnchor (10)."""
    b = meter(tmp_path)
    m = b.meter
    pl = _cs02b_payload()
    # target cell of the first replacement (the DS certificate) set to {supplier, KA}
    i = pl.index(b"\x30\x07\x02\x01\x02\x03\x02\x07\x80", 100)
    bad = pl[:i] + b"\x30\x07\x02\x01\x02\x03\x02\x03\x08" + pl[i + 9:]
    # the second certificate's signature changed
    j = pl.index(b"\x03\x47\x00\x30\x44\x02\x20")
    bad = bad[:j + 7] + bytes((bad[j + 7] ^ 1,)) + bad[j + 8:]
    before = ks_state(m)
    r = G.parse(m.gbcs_message(_rebuilt(_set_seq(bad, 1001))), device_ds_pub=G.test_ds_pub())
    outs = bytes.fromhex(r["payload"])
    assert b"\x0a\x01\x05" in outs and b"\x0a\x01\x0a" in outs
    cells, seqs = ks_state(m)
    assert seqs[2] == 1001
    sup_ka = [c for c in cells if c[:3] == (2, 4, 0)]
    assert sup_ka == [c for c in before[0] if c[:3] == (2, 4, 0)]


def test_cs02b_power_cut_at_every_write(tmp_path):
    """A power cut at each flash write of the replacement, then a restart:
    the keystore is the old one or the new one, whole (every cell and the
    sequence number together), and an old one takes the command again."""
    from firmware.platform.store import PowerCut
    v = vec("CS02bSupplierBySupplier", "IMMEDIATE_SUCCESS")
    cmd = R.message(v["command_file"])
    probe = meter(tmp_path / "probe")
    old = ks_state(probe.meter)
    w0 = probe.backend.writes
    probe.meter.gbcs_message(cmd)
    new = ks_state(probe.meter)
    n = probe.backend.writes - w0
    assert n >= 1 and new != old
    seen = set()
    for cut in range(1, n + 1):
        b = meter(tmp_path / ("c%d" % cut))
        b.backend.cut_after(cut)
        with pytest.raises(PowerCut):
            b.meter.gbcs_message(cmd)
        b.backend.cut_after(0)
        m = reload(b)
        got = ks_state(m)
        assert got in (old, new), cut
        seen.add(got == new)
        assert (m.gbcs_message(cmd) is None) == (got == new), cut
    assert seen == {False, True} or n == 1


def test_cs02b_future_dated_success_and_error_alerts(tmp_path, wired):
    """RTDS FUTURE_DATED (2030-01-15 00:00): commandAccepted (as RTDS but for
    the signature), nothing replaced until then, kept across a restart; at
    its time the replacement runs and the 0x00CB alert is RTDS's 8F66 /
    8F67 alert octet for octet but for the signature (same device counter)."""
    for var, alert, ctr in (("FUTURE_DATED_SUCCESS", "8F66_FUTURE_DATED_SUCCESS_ALERT", 2000),
                            ("FUTURE_DATED_ERROR", "8F67_FUTURE_DATED_ERROR_ALERT", 2002)):
        b = meter(tmp_path / var)
        m = b.meter
        v = vec("CS02bSupplierBySupplier", var)
        before = ks_state(m)
        r = m.gbcs_message(R.message(v["command_file"]))
        ref = R.message(v["response_file"])
        assert r[:-64] == ref[:-64] and len(r) == len(ref)
        signed_like(r, v)
        assert ks_state(m)[0] == before[0] and m.gbcs_due == T2030
        m = reload(b)
        assert m.gbcs_due == T2030
        core.set_device_counter(m, ctr - 1)
        b.clock.set(T2030 - 2)
        b.tick(1)
        assert not b.alerts_sent and ks_state(m)[0] == before[0]
        b.tick(2)
        want = R.message(vec("CS02bSupplierBySupplier", alert)["alert_file"])
        assert len(b.alerts_sent) == 1
        a = b.alerts_sent[0]
        assert a[:-64] == want[:-64] and len(a) == len(want)
        assert G.parse(a, device_ds_pub=G.test_ds_pub())["sig_ok"] is True
        assert ks_state(m)[0] != before[0] and m.gbcs_due == 0xFFFFFFFF
        b.tick(3)
        assert len(b.alerts_sent) == 1


def test_cs02b_cancellation(tmp_path, wired):
    """RTDS CANCELLATION (99991231235959Z) after FUTURE_DATED: accepted, the
    stored command is gone, nothing happens at its time."""
    b = meter(tmp_path)
    m = b.meter
    before = ks_state(m)[0]
    m.gbcs_message(R.message(vec("CS02bSupplierBySupplier", "FUTURE_DATED_SUCCESS")["command_file"]))
    v = vec("CS02bSupplierBySupplier", "CANCELLATION_SUCCESS")
    r = m.gbcs_message(R.message(v["command_file"]))
    assert r[:-64] == R.message(v["response_file"])[:-64]
    assert m.gbcs_due == 0xFFFFFFFF and A.state(m)[2] is None
    b.clock.set(T2030 - 1)
    b.tick(3)
    assert not b.alerts_sent and ks_state(m)[0] == before


def test_keystore_version_1_record_migrates(tmp_path):
    """A version-1 keystore record (before sequence numbers, certificates
    and pending keys) is read: its cells kept, every sequence number 0, no
    certificate (CS02e: noCertificateHeld); the next save writes version 2."""
    b = meter(tmp_path, seqs={})
    m = b.meter
    ks = K.get(m)
    v1ks = [ks[0][:-1]] + ks[1:]                       # one cell fewer: this record is read
    v2 = b"".join(bytes(p) for p in K._encode(v1ks))
    assert v2[-6:] == bytes(6)
    h = m.begin()
    m.save_record(K.KEY, ((v2[:-6],), 5, 1, True))     # the version-1 layout
    m.end(h)
    m = reload(b)
    got = K.get(m)
    assert got[0] == ks[0][:-1] and got[6] == {} and got[7] == [b"", b""] and got[8] == {}
    ca = m.gbcs_message(R.message(vec("CS02aMAC", "SUCCESS")["command_file"]))
    assert ca is not None
    r = G.parse(m.gbcs_message(R.message(vec("CS02e", "SUCCESS")["command_file"])))
    assert r["payload"] == "020102"
    K.replace(m, [], 2, 7)
    assert m.store.load_rec(K.KEY, 5, 2, K._decode)[6] == {2: 7}


# -- CS03A1 / CS04AC: the device log -----------------------------------------------------------
def _join_cmd(entity, typ, counter):
    pl = A.item(0x30, A.integer(0) + A.item(4, bytes.fromhex(entity)) + A.integer(typ))
    return G.build_command(0x000D, pl, counter, critical=True)


def test_join_and_unjoin_as_rtds(tmp_path):
    """RTDS 8.7.1 / 8.8.1 in their counter order: the HCALCS joins (success),
    the same Entity ID as a PPMID is incompatibleWithExistingEntry (3);
    unjoin of a device in the log succeeds, of one not in it answers
    otherDeviceNotInDeviceLog (1); the log survives a restart."""
    b = meter(tmp_path)
    m = b.meter
    seqv = [("CS03A1", "SUCCESS"), (None, None), ("CS03A1", "ERROR"), ("CS04ACCritical", "SUCCESS"),
            ("CS04ACCritical", "ERROR")]
    for uc, var in seqv:
        if uc is None:
            r = m.gbcs_message(_join_cmd("00DB123456789099", 5, 1001))
            assert G.parse(r)["payload"] == "020100"
            m = reload(b)
            continue
        v = vec(uc, var)
        r = m.gbcs_message(R.message(v["command_file"]))
        p, ref = signed_like(r, v)
        assert p["payload"] == ref["payload"], (uc, var)
    assert A.state(reload(b))[0] == [(bytes.fromhex("00DB12345678909A"), 4)]


def test_join_limits_and_hostile(tmp_path):
    b = meter(tmp_path)
    m = b.meter
    for k in range(8):
        r = m.gbcs_message(_join_cmd("00DB1234567800%02X" % k, 4, 100 + k))
        assert G.parse(r)["payload"] == "020100"
    assert G.parse(m.gbcs_message(_join_cmd("00DB12345678FFFF", 4, 200)))["payload"] == "020104"
    bad = [b"\x30\x03\x02\x01\x07", b"\x30\x10\x02\x01\x00\x04\x08" + bytes(8) + b"\x02\x01\x06",
           b"\x30\xff", b"\x04\x08" + bytes(8)]
    want = ["020102", "020101", "020102", "020102"]
    for k, (p, w) in enumerate(zip(bad, want)):
        r = m.gbcs_message(G.build_command(0x000D, p, 300 + k, critical=True))
        assert G.parse(r)["payload"] == w
    r = m.gbcs_message(G.build_command(0x000F, b"\x04\x09" + bytes(9), 300, critical=True))
    assert G.parse(r)["payload"] == "020101"
    assert len(A.state(m)[0]) == 8


# -- CS06 ---------------------------------------------------------------------------------------
def _ota_meter(tmp_path):
    """A meter holding a downloaded, verified OTA image (test_ota.py's
    server and image), with the RTDS keystore: (bench-like tuple, hash)."""
    import test_ota as TO
    from tools import otaserver as OS
    m, out, clock, met, be = TO.meter(tmp_path, {"firmware_version": "0123ABCD"})
    srv = OS.OtaServer(TO.GOOD)
    TO.download(m, out, clock, srv)
    assert m.ota.dl[0] >= TO.COMPLETE
    K.install(m, *G.rtds_keystore())
    sent = []
    m.tunnel_send = sent.append
    img = TO.GOOD
    hl = struct.unpack_from("<H", img, 6)[0]
    return m, clock, sent, hashlib.sha256(img[hl:len(img) - 66]).digest()


def _cs06(h, oc, at=None):
    pl = A.item(4, h) + A.integer(oc) + (A.gtime_enc(at) if at is not None else b"")
    return G.build_command(0x0012, A.item(0x30, pl), oc, critical=True)


@pytest.mark.parametrize("var,code", [("IMMEDIATE_ERROR", 1), ("IMMEDIATE_SUCCESS", 1)])
def test_cs06_rtds_without_image(tmp_path, var, code):
    """RTDS 11.3 immediate, on a meter holding no image: the ExecutionOutcome
    noImageHeld (1) with the running version, RTDS's form (its ERROR
    variant is this failure)."""
    b = R.meter(tmp_path)
    v = vec("CS06", var)
    r, ref = signed_like(b.meter.gbcs_message(R.message(v["command_file"])), v)
    got = der_items(bytes.fromhex(r["payload"]))
    assert got == [(2, bytes((code,))), (4, bytes.fromhex("0123ABCD"))]
    assert [t for t, _ in der_items(bytes.fromhex(ref["payload"]))] == [2, 4]


def test_cs06_hash_mismatch_then_activation(tmp_path):
    """A held image: the RTDS command's hash is not its hash: hashMismatch
    (2), nothing activated; the image's own hash: success (0), the bundle
    in the other slot and a restart requested."""
    m, clock, sent, h = _ota_meter(tmp_path)
    v = vec("CS06", "IMMEDIATE_SUCCESS")
    r = G.parse(m.gbcs_message(R.message(v["command_file"])), device_ds_pub=G.test_ds_pub())
    assert der_items(bytes.fromhex(r["payload"]))[0] == (2, b"\x02")
    assert not getattr(m, "restart_requested", False)
    r = G.parse(m.gbcs_message(_cs06(h, 1001)), device_ds_pub=G.test_ds_pub())
    assert r["sig_ok"] and der_items(bytes.fromhex(r["payload"]))[0] == (2, b"\x00")
    assert m.restart_requested
    assert os.path.exists(os.path.join(str(tmp_path), "app_a", "appmain.py"))


def test_cs06_future_dated_alerts_and_cancellation(tmp_path, wired):
    """RTDS FUTURE_DATED_ERROR (2030-01-01, a hash the held image does not
    have): commandAccepted, then at its time the 0x00CA alert 8F67 with
    hashMismatch (2): RTDS's alert but for the firmware version and the
    signature. A stored activation with the right hash is cancelled by
    99991231235959Z; one that runs alerts 8F66 with success."""
    m, clock, sent, h = _ota_meter(tmp_path)
    v = vec("CS06", "FUTURE_DATED_ERROR")
    r = m.gbcs_message(R.message(v["command_file"]))
    assert G.parse(r)["payload"] == "0500"
    at = m.gbcs_due
    core.set_device_counter(m, 2000)
    clock.set(at - 1)
    for _ in range(3):
        clock.advance(1)
        m.tick()
    assert len(sent) == 1 and not getattr(m, "restart_requested", False)
    a = G.parse(sent[0], device_ds_pub=G.test_ds_pub())
    want = G.parse(R.message(vec("CS06", "8F67_FUTURE_DATED_ERROR_ALERT")["alert_file"]))
    assert a["sig_ok"] and a["message_code"] == 0x00CA and a["counter"] == want["counter"]
    got, ref = der_items(bytes.fromhex(a["payload"])), der_items(bytes.fromhex(want["payload"]))
    assert got[:3] == ref[:3] and der_items(A.item(0x30, got[3][1]))[0] == (2, b"\x02")
    # cancelled
    t = clock.now() + 3600
    assert G.parse(m.gbcs_message(_cs06(h, 1100, t)))["payload"] == "0500"
    v = vec("CS06", "CANCELLATION_SUCCESS")
    assert G.parse(m.gbcs_message(R.message(v["command_file"])))["payload"] == "0500"
    assert m.gbcs_due == 0xFFFFFFFF and A.state(m)[1] is None
    # and run
    assert G.parse(m.gbcs_message(_cs06(h, 1200, t)))["payload"] == "0500"
    clock.set(t - 1)
    for _ in range(3):
        clock.advance(1)
        m.tick()
    a = G.parse(sent[-1], device_ds_pub=G.test_ds_pub())
    items = der_items(bytes.fromhex(a["payload"]))
    assert items[0] == (2, b"\x00\x8f\x66") and items[2] == (2, A.integer(1200)[2:])
    assert m.restart_requested


def test_cs06_hostile_payloads(tmp_path):
    m, clock, sent, h = _ota_meter(tmp_path)
    for k, bad in enumerate([b"\x30\x05\x04\x03abc", b"\x30\x22\x04\x20" + h,
                             b"\x30\x80" + bytes(4), A.item(0x30, A.item(4, h) + b"\x02\x01\x05\x18\x0f" +
                                                          b"20301301000000Z"),
                             A.item(0x30, A.item(4, h) + b"\x02\x01\x05\x18\x0f" + b"1999010100000" + b"0Z")]):
        r = G.parse(m.gbcs_message(G.build_command(0x0012, bad, 50 + k, critical=True)))
        assert r["payload"] == "300902010304040123ABCD", bad
    assert not getattr(m, "restart_requested", False) and m.gbcs_due == 0xFFFFFFFF


def test_mp_script_content(tmp_path):
    """host_tests/mp/asn1_use_cases.py (run on both runtimes by
    test_micropython.py): on CPython, what it prints is what RTDS has."""
    from runtimes import run_script
    out = run_script("cpython", "asn1_use_cases.py", str(tmp_path))
    lines = out.splitlines()
    assert sum(1 for l in lines if l == "  rtds True") == 6 and "  rtds False" not in lines
    assert "  security 8f3d 0102" in lines
    ticks = [l.split()[3] for l in lines if l.startswith("tick")]
    want = G.parse(R.message(vec("CS06", "8F67_FUTURE_DATED_ERROR_ALERT")["alert_file"]))
    got = G.parse(bytes.fromhex(ticks[0]), device_ds_pub=G.test_ds_pub())
    assert len(ticks) == 1 and got["sig_ok"] and got["message_code"] == 0x00CA
    g, w = der_items(bytes.fromhex(got["payload"])), der_items(bytes.fromhex(want["payload"]))
    assert g[:3] == w[:3] and der_items(A.item(0x30, g[3][1]))[0] == (2, b"\x01")   # noImageHeld
    assert lines[-1].startswith("  cells") or "devices [('00db12345678909a', 4)]" in out


def test_cs02b_supplier_own_ds_sets_execution_counters_to_the_floor(tmp_path):
    """§13.3.5.10: the supplier replacing its own {supplier, DS} cell: its
    Execution Counters start again from newRemotePartyFloorSeqNumber (RTDS:
    0), the other roles' stay."""
    b = meter(tmp_path)
    m = b.meter
    m.gbcs_message(R.message(vec("ECS52", "SUCCESS")["command_file"]))
    c = core.counters(m)[1]
    c[(3 << 16) | 0x0059] = 77
    assert c[(2 << 16) | 0x0059] == 1000
    m.gbcs_message(R.message(vec("CS02bSupplierBySupplier", "IMMEDIATE_SUCCESS")["command_file"]))
    m = reload(b)
    c = core.counters(m)[1]
    assert c[(2 << 16) | 0x0059] == 0 and c[(3 << 16) | 0x0059] == 77


def _direct(m, mc, pl):
    h = m.begin()
    try:
        return A.run(m, mc, pl)
    finally:
        m.end(h)


def test_cs02b_other_modes_at_the_use_case_level(tmp_path):
    """The modes core._MC does not route yet, through asn1.run: supplierBy-
    TransCoS (0x0107, mode 7, authorised by the {transitionalCoS, DS} cell)
    replaces supplier cells with the transCoS sequence number; modes that
    need a root, WAN provider or contingency cell (0x0100, 0x0101, 0x0105,
    0x0109) are refused (Security Log 0x8F30); a mode that is not the
    message code's is a format failure."""
    b = meter(tmp_path)
    m = b.meter
    pl = _cs02b_payload()
    # mode 7, authorising cell {5, DS}, the same certificates
    pl7 = pl[:8] + b"\x07" + pl[9:]
    i = pl7.index(b"\xa2\x07\x02\x01\x02")
    pl7 = pl7[:i + 4] + b"\x05" + pl7[i + 5:]
    r = _direct(m, 0x0107, pl7)
    eo = der_items(A.item(0x30, der_items(r)[1][1]))
    assert eo[1] == (2, b"\x07") and b"\x0a\x01\x00" in r
    assert K.get(m)[6][5] == 1000 and K.cell(K.get(m), 2, K.DS)[5] == bytes.fromhex("43046B4FB7C4F11B")
    for mc in (0x0100, 0x0101, 0x0105, 0x0109):
        sec = m.security_log.seq
        assert _direct(m, mc, pl) is None and m.security_log.seq == sec + 1
        assert m.log_between(m.security_log, 0, 2 ** 32)[-1][1] == 0x8F30
    sec = m.security_log.seq
    assert _direct(m, 0x0103, _set_seq(pl, 2000)) is None        # mode 2 in a 0x0103 command
    assert m.log_between(m.security_log, 0, 2 ** 32)[-1][1] == 0x8F1E


def test_supplier_entity_change_cancels_a_stored_activation(tmp_path, wired):
    """A {supplier, DS} replacement with another Entity ID (change of
    supplier, §13.3.5.10) cancels a stored CS06 (§11.5): nothing at its time."""
    from firmware.gbcs import creds
    b = meter(tmp_path)
    m = b.meter
    v = vec("CS06", "FUTURE_DATED_SUCCESS")
    assert G.parse(m.gbcs_message(R.message(v["command_file"])))["payload"] == "0500"
    at = m.gbcs_due
    assert A.state(m)[1] is not None
    old = K.cell(K.get(m), 2, K.DS)
    new = (2, 0, 0, bytes.fromhex("90B3D51F30019999"), old[4], bytes(8))
    h = m.begin()
    creds.execute(m, 2, 2, 5000, 0, b"\x30\x00", [((2, 0, 0), 0, new)])
    m.end(h)
    assert A.state(m)[1] is None and m.gbcs_due == 0xFFFFFFFF
    b.clock.set(at - 1)
    b.tick(3)
    assert not b.alerts_sent


def test_cs02b_immediate_replaces_a_stored_one_and_a_full_table_is_busy(tmp_path, wired):
    """§9.2.2.3: an immediate CS02b with the stored one's code replaces it
    (no alert at its time); with future.py's table full a future-dated
    CS02b is not stored: every replacement resourcesBusy (30), no cell
    changed."""
    from firmware.gbcs import future
    b = meter(tmp_path)
    m = b.meter
    m.gbcs_message(R.message(vec("CS02bSupplierBySupplier", "FUTURE_DATED_SUCCESS")["command_file"]))
    assert A.state(m)[2] is not None
    pl = _set_seq(_cs02b_payload(), 1500)
    r = G.parse(m.gbcs_message(_rebuilt(pl)), device_ds_pub=G.test_ds_pub())
    assert r["payload"].startswith("308200CA0500")
    assert A.state(m)[2] is None and m.gbcs_due == 0xFFFFFFFF
    b.clock.set(T2030 - 1)
    b.tick(3)
    assert not b.alerts_sent
    # full table
    b2 = meter(tmp_path / "full")
    m = b2.meter
    t = future.table(m)
    h = m.begin()
    for k in range(future._MAX):
        future.add(m, T2030 + 100 + k, 0x0020 + k, 1, bytes(8), bytes(9), 0)
    m.end(h)
    before = ks_state(m)[0]
    r = m.gbcs_message(R.message(vec("CS02bSupplierBySupplier", "FUTURE_DATED_SUCCESS")["command_file"]))
    p = bytes.fromhex(G.parse(r)["payload"])
    assert p.count(b"\x0a\x01\x1e") == 3 and ks_state(m)[0] == before and A.state(m)[2] is None


# -- CS02c / CS02d / CS02e: the device's own key pairs and certificates -------------------------
def _pem_der(name):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    with open(R.RTDS + "keystore/" + name, "rb") as f:
        return x509.load_pem_x509_certificate(f.read()).public_bytes(Encoding.DER)


def _device_cert(pub64, usage, entity=G.DEVICE, signer=None):
    """A device certificate (§12: empty subject, keyUsage critical, SAN
    hwSerialNum critical) for pub64, issued by any key (no CPV for CS02d)."""
    import datetime
    from cryptography import x509
    from cryptography.x509.oid import ObjectIdentifier
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + pub64)
    ca = signer or ec.generate_private_key(ec.SECP256R1())
    hw = bytes.fromhex("3019060D2A863A0001848FB90F0102020104") + b"\x08" + bytes.fromhex(entity)
    ku = dict(digital_signature=usage == 0, key_agreement=usage == 4, content_commitment=False,
              key_encipherment=False, data_encipherment=False, key_cert_sign=False,
              crl_sign=False, encipher_only=False, decipher_only=False)
    c = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(
        x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "E357")]))
         .public_key(pub).serial_number(12345)
         .not_valid_before(datetime.datetime(2016, 4, 6)).not_valid_after(
             datetime.datetime(9999, 12, 31, 23, 59, 59))
         .add_extension(x509.KeyUsage(**ku), critical=True)
         .add_extension(x509.SubjectAlternativeName([x509.OtherName(
             ObjectIdentifier("1.3.6.1.5.5.7.8.4"), hw)]), critical=True)
         .sign(ca, hashes.SHA256()))
    return c.public_bytes(Encoding.DER)


def _crit(mc, pl, counter):
    return G.build_command(mc, pl, counter, critical=True)


def test_cs02e_returns_the_device_certificate(tmp_path):
    """RTDS 6.24.2 CS02e SUCCESS with the RTDS device certificates installed
    at manufacture: the DS certificate, octet for octet as RTDS's payload;
    a meter holding none: noCertificateHeld (2)."""
    b = meter(tmp_path)
    v = vec("CS02e", "SUCCESS")
    r = G.parse(b.meter.gbcs_message(R.message(v["command_file"])))
    assert r["payload"] == "020102"
    b2 = R.meter(tmp_path / "certs")
    K.install(b2.meter, *G.rtds_keystore(), certs=(_pem_der("00db1234567890a0-ds.pem"),
                                                    _pem_der("00db1234567890a0-ka.pem")))
    resp = b2.meter.gbcs_message(R.message(v["command_file"]))
    r, ref = signed_like(resp, v)
    assert r["payload"] == ref["payload"]
    m = reload(b2)                                  # kept in the keystore record
    r = G.parse(m.gbcs_message(_crit(0x000C, b"\x30\x04\x03\x02\x03\x08", 2000)))
    assert bytes.fromhex(r["payload"]) == _pem_der("00db1234567890a0-ka.pem")


def test_cs02c_csr_then_cs02d_makes_the_key_current(tmp_path):
    """RTDS 6.17 CS02c SUCCESS (digitalSignature): a CertificationRequest
    with RTDS's structure and extension request, a fresh key, self-signed
    (verified with cryptography). A certificate for that key (CS02d):
    success (0), the Pending key becomes the DS key, the response to it is
    already signed with it (§13.5.5), and CS02e returns the certificate.
    CS02d refusals: a certificate for a key never generated (RTDS's own,
    4), for another key (5), another device (2), garbage (1)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    b = meter(tmp_path)
    m = b.meter
    v = vec("CS02d", "SUCCESS")
    r = G.parse(m.gbcs_message(R.message(v["command_file"])))
    assert r["payload"] == "020104"
    v = vec("CS02c", "SUCCESS")
    resp = m.gbcs_message(R.message(v["command_file"]))
    r, ref = signed_like(resp, v)
    csr_der = bytes.fromhex(r["payload"])
    csr = x509.load_der_x509_csr(csr_der)
    assert csr.is_signature_valid
    want = x509.load_der_x509_csr(bytes.fromhex(ref["payload"]))
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    pub = csr.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)[1:]
    ref_pub = want.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)[1:]
    # the CertificationRequestInfo is RTDS's octet for octet but for the key
    assert csr.tbs_certrequest_bytes.replace(pub, ref_pub) == want.tbs_certrequest_bytes
    assert csr.signature_algorithm_oid == want.signature_algorithm_oid
    assert list(K.get(m)[8]) == [0]
    other = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    other = other.x.to_bytes(32, "big") + other.y.to_bytes(32, "big")
    for k, (der, code) in enumerate([(_device_cert(other, 0), "020105"),
                                     (_device_cert(pub, 0, "00DB1234567890A1"), "020102"),
                                     (b"\x30\x03\x02\x01\x00", "020101"),
                                     (_device_cert(pub, 4), "020104")]):
        r = G.parse(m.gbcs_message(_crit(0x000B, der, 2000 + k)))
        assert r["payload"] == code, k
    old_ds = K.get(m)[3]
    cert = _device_cert(pub, 0)
    resp = m.gbcs_message(_crit(0x000B, cert, 2100))
    r = G.parse(resp, device_ds_pub=pub)
    assert r["payload"] == "020100" and r["sig_ok"] is True
    m = reload(b)
    ks = K.get(m)
    assert ks[3] != old_ds and ks[8] == {} and ks[7][0] == cert
    r = G.parse(m.gbcs_message(_crit(0x000C, b"\x30\x04\x03\x02\x07\x80", 2200)), device_ds_pub=pub)
    assert bytes.fromhex(r["payload"]) == cert and r["sig_ok"] is True


def test_cs02c_d_e_hostile(tmp_path):
    b = meter(tmp_path)
    m = b.meter
    for k, (mc, pl, want) in enumerate([(0x000A, b"\x30\x04\x03\x02\x05\x20", "020101"),
                                        (0x000A, b"\x30\x80\x03\x02", "020101"),
                                        (0x000C, b"\x03\x02\x07\x80", "020101"),
                                        (0x000B, b"\x30\x82\xff\xff", "020101"),
                                        (0x000B, _pem_der("90b3d51f30010000-ds.pem"), "020102")]):
        r = G.parse(m.gbcs_message(_crit(mc, pl, 3000 + k)))
        assert r["payload"] == want, k
    assert K.get(m)[8] == {}
