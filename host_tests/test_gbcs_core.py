"""GBCS message layer core (issue #17): the MAC over the message buffer in
place (no copy of a 4 KB GBT series), §8 encryption of sensitive response
items against the 10 visible RTDS encrypted responses, and the complete
ESME message-code table (every code authenticated and answered)."""
import json
import os
import random
import struct
import tracemalloc

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from conftest import Bench
from tools import gbcs_host as G
from firmware import crypto
from firmware.crypto import pure
from firmware.gbcs import core
from firmware.gbcs import keystore as K

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RTDS = "/work/shared/vectors/rtds/"
T2015 = 473385600
pytestmark = pytest.mark.skipif(not os.path.exists(RTDS + "index.json"),
                                reason="RTDS vectors not available")
CFG = {"firmware_version": "0123ABCD", "entity_id": G.DEVICE, "supplier_id": G.SUPPLIER,
       "ka_priv": "01" * 32, "supplier_topup_pub": "02" * 64}

# The ESME DLMS use cases beyond the visible RTDS set (later GBCS's message
# codes; core._MC): code -> (use case, critical, roles allowed, date-time in
# the response). Roles: S supplier, N network operator.
NEW = {0x0014: ("CS10a", 0, "S", 0), 0x0015: ("CS11", 0, "S", 0),
       0x0028: ("ECS17c", 0, "SN", 1), 0x0029: ("ECS17d", 0, "S", 1),
       0x002A: ("ECS17e", 0, "S", 1), 0x002B: ("ECS18a", 0, "SN", 1),
       0x0030: ("ECS20c", 0, "S", 0), 0x0034: ("ECS21b", 0, "S", 0),
       0x0038: ("ECS22c", 0, "SN", 0), 0x004D: ("ECS39b", 0, "S", 0),
       0x0054: ("ECS46c", 1, "S", 1), 0x005E: ("ECS61c", 0, "S", 0),
       0x00A1: ("CS10b", 0, "S", 0), 0x00AE: ("ECS29b", 0, "N", 0),
       0x00B7: ("ECS01c", 1, "S", 1), 0x00BA: ("ECS35f", 0, "S", 0),
       0x00BD: ("ECS24b", 0, "S", 0), 0x00BE: ("ECS26j", 0, "S", 0),
       0x00C1: ("ECS15c", 0, "S", 0), 0x00C6: ("ECS26k", 0, "S", 0),
       0x00C7: ("ECS01d", 1, "S", 1), 0x00C9: ("ECS20d", 0, "S", 0),
       0x00D1: ("ECS29c", 0, "N", 0), 0x00D2: ("ECS29d", 0, "N", 0),
       0x00D4: ("ECS29f", 0, "N", 0), 0x00D7: ("ECS30a", 1, "S", 0),
       0x00D9: ("ECS26l", 0, "S", 0), 0x00DB: ("ECS48", 1, "S", 0),
       0x00DE: ("ECS08a", 1, "S", 1), 0x00EA: ("ECS25a1", 0, "S", 0),
       0x00EB: ("ECS25a2", 0, "S", 0), 0x00EC: ("ECS25a3", 0, "S", 0),
       0x00ED: ("ECS25b3", 0, "N", 0), 0x00EF: ("ECS25r2", 0, "N", 0),
       0x00F9: ("ECS26m", 0, "S", 0), 0x00FD: ("ECS35g", 0, "S", 0)}
# response date-time codes named by vectors/rtds/README.md ("Clock")
RTDS_DT = {0x0007, 0x0012, 0x0019, 0x001A, 0x001B, 0x001F} | set(range(0x26, 0x2E)) | {
    0x0039, 0x0043, 0x0054, 0x00A2, 0x00B7, 0x00BC, 0x00C7, 0x00DE, 0x0102, 0x0103, 0x0104,
    0x0106, 0x0107, 0x0108, 0x0109, 0x011A, 0x0126}


def _vectors():
    with open(RTDS + "index.json") as f:
        return json.load(f)["vectors"]


def _hex(name):
    with open(RTDS + "messages/" + name) as f:
        return bytes.fromhex(f.read().strip())


def _meter(tmp_path):
    b = Bench(str(tmp_path), config=CFG, utc=T2015)
    b.clock.set(T2015)
    b.alerts_sent = []
    b.meter.tunnel_send = b.alerts_sent.append
    K.install(b.meter, *G.rtds_keystore())
    return b


def _table():
    t = core._MC
    return {(t[i] << 8) | t[i + 1]: t[i + 2] for i in range(0, len(t), 3)}


def _native_core():
    """The C core through its ctypes host binding, or None (not built)."""
    if not os.path.exists(os.path.join(ROOT, "build", "libesmecrypto.so")):
        return None
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "esmecrypto_host", os.path.join(ROOT, "lib", "esmecrypto", "host", "esmecrypto.py"))
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except OSError:
        return None
    return mod


# -- GMAC over the buffer ---------------------------------------------------------------
@pytest.mark.parametrize("core_name", ["pure", "native"])
def test_gmac_in_equals_openssl_over_the_joined_aad(monkeypatch, core_name):
    """core.gmac_in: pre lent to the octets before s of a writable buffer
    (restored after), or those octets standing in for pre and the tag
    corrected (read-only): the tag of the joined AAD, on the pure and the
    native core, for every prefix length GBCS uses and random spans, and
    the buffer unchanged."""
    if core_name == "native":
        nat = _native_core()
        if nat is None:
            pytest.skip("build/libesmecrypto.so not built")
        monkeypatch.setattr(crypto, "gmac", nat.gmac)
        monkeypatch.setattr(crypto, "aes_encrypt_block", nat.aes_encrypt_block)
    else:
        monkeypatch.setattr(crypto, "gmac", pure.gmac)
        monkeypatch.setattr(crypto, "aes_encrypt_block", pure.aes_encrypt_block)
    rng = random.Random(17)
    for n in range(200):
        key = bytes(rng.randrange(256) for _ in range(16))
        iv = bytes(rng.randrange(256) for _ in range(12))
        pre = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 5, 6, 16))))
        buf = bytes(rng.randrange(256) for _ in range(rng.choice((0, 3, 40, 300, 4200))))
        s = rng.randint(0, len(buf))
        e = rng.randint(s, len(buf))
        want = AESGCM(key).encrypt(iv, b"", pre + buf[s:e])
        assert core.gmac_in(key, iv, pre, buf, s, e) == want, (n, len(pre), s, e)
        wb = bytearray(buf)            # writable: the octets before s are lent
        assert core.gmac_in(key, iv, pre, wb, s, e) == want and wb == buf
        assert core.gmac_in(key, iv, pre, memoryview(wb), s, e) == want and wb == buf


def _big_command(n=4000, code=0x0059, counter=1000):
    """A non-critical command of about n octets (a GBT series' size): the
    checks read the payload's first octet only."""
    return bytearray(G.build_command(code, b"\xd9" + bytes(n), counter))


def test_mac_check_of_a_4k_message_makes_no_copy_of_it(tmp_path, monkeypatch):
    """What verifying a command allocates does not grow with the message:
    400 and 8000 octets peak within 1 KB of each other (the old AAD
    `11 00 00 00 00 00 ‖ APDU` was a second copy of the message)."""
    monkeypatch.setattr(crypto, "gmac", pure.gmac)
    b = _meter(tmp_path)
    peaks = []
    for n in (400, 8000):
        msg = _big_command(n)
        core.check(b.meter, msg)            # warm: Z, imports
        tracemalloc.start()
        tracemalloc.reset_peak()
        p, role, v081 = core.check(b.meter, msg)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert p[6] == 0x0059 and role == 2 and not v081
    assert peaks[1] < peaks[0] + 1024, peaks


def test_response_built_in_one_buffer(tmp_path, monkeypatch):
    """A response is protected (MAC) in one buffer of its size: from a 400
    to a 4,400-octet payload the peak allocation grows by the response's
    growth plus under 1 KB (the old concatenations held three copies)."""
    monkeypatch.setattr(crypto, "gmac", pure.gmac)
    b = _meter(tmp_path)
    peaks = []
    for k in (1, 11):
        payload = b"\xda" + bytes(range(200)) * 2 * k
        args = (b.meter, 2, struct.pack(">Q", 1000), bytes.fromhex(G.SUPPLIER), b"\x00\x59",
                payload, 0, b"", False)
        core._protect(*args)
        tracemalloc.start()
        tracemalloc.reset_peak()
        r = core._protect(*args)
        peaks.append((tracemalloc.get_traced_memory()[1], len(r)))
        tracemalloc.stop()
        f = G.parse(bytes(r))
        assert f["mac_ok"] is True and f["payload"] == payload.hex().upper()
    assert peaks[1][0] - peaks[0][0] < peaks[1][1] - peaks[0][1] + 1024, peaks


# -- §8 encryption ----------------------------------------------------------------------
ENCRYPTED = [v for v in _vectors() if v.get("response_encrypted_content")] \
    if os.path.exists(RTDS + "index.json") else []


def _ciphered(payload):
    """(start, end) of the ciphered-data octet string `31 00000000 ...` in
    an access-response: the octet string whose value starts with the
    security header."""
    for i in range(len(payload) - 7):
        if payload[i] != 9:
            continue
        n, j = G.dec_len(payload, i + 1)
        if n >= 17 and j + n <= len(payload) and payload[j:j + 5] == b"\x31\x00\x00\x00\x00":
            return j, j + n
    raise AssertionError("no ciphered item")


def _host_decrypt(cmd, item):
    """RTDS README 'Encrypted read data', with the host's cryptography and
    the Z of keys.json."""
    f = G.parse(cmd)
    party = f["srp_id"] or f["originator"]
    oc = f["supp_orig_counter"] if f["supp_orig_counter"] is not None else f["counter"]
    dev = bytes.fromhex(G.DEVICE)
    k = G.kdf(G.z_value(party), dev, b"\x04" + struct.pack(">Q", oc), bytes.fromhex(party))
    d = Cipher(algorithms.AES(k), modes.GCM(dev + bytes(4), item[-12:], min_tag_length=12)).decryptor()
    d.authenticate_additional_data(b"\x31")
    return d.update(item[5:-12]) + d.finalize()


def test_ten_visible_encrypted_responses():
    assert len(ENCRYPTED) == 10


@pytest.mark.parametrize("v", ENCRYPTED, ids=lambda v: v["use_case"] + "_" + v["variant"])
def test_encrypt_item_reproduces_rtds(tmp_path, v):
    """The RTDS ciphered item decrypts with the README's key rule; the
    meter's encrypt_item of that plaintext with the command's b/p gives the
    same octets."""
    b = _meter(tmp_path)
    cmd = _hex(v["command_file"])
    resp = _hex(v["response_file"])
    pl = bytes.fromhex(G.parse(resp)["payload"])
    s, e = _ciphered(pl)
    item = pl[s:e]
    plain = _host_decrypt(cmd, item)
    assert len(plain) == len(item) - 17
    got = core.encrypt_item(b.meter, cmd, core.parse(cmd), plain)
    assert got == item


def test_encrypt_item_party_and_counter_from_the_other_information(tmp_path):
    """A Supplementary Remote Party and Supplementary Originator Counter
    decide the key: the host decrypts with the SRP's Z and that counter;
    an unknown party gives None (no key), never an exception."""
    b = _meter(tmp_path)
    plain = b"\x06\x00\x00\x30\x39"
    cmd = bytearray(G.build_command(0x0027, G.dlms_get(7, [(3, bytes(6), 2)]), 7,
                                    originator=G.ACB, srp=(G.SUPPLIER, 55)))
    item = core.encrypt_item(b.meter, cmd, core.parse(cmd), plain)
    assert _host_decrypt(bytes(cmd), item) == plain
    # with a Supplementary Originator Counter (other information of 26 octets)
    gs = G.apdu(1, 8, bytes.fromhex(G.ACB), bytes.fromhex(G.DEVICE), 0x0027, b"\xd9\x00",
                srp=(G.SUPPLIER, 55), supp_counter=99) + b"\x00"
    p = core.parse(gs)
    item = core.encrypt_item(b.meter, gs, p, plain)
    assert _host_decrypt(gs, item) == plain
    other = G.apdu(1, 8, bytes.fromhex("90B3D51F300100FF"), bytes.fromhex(G.DEVICE), 0x0027,
                   b"\xd9\x00") + b"\x00"
    assert core.encrypt_item(b.meter, other, core.parse(other), plain) is None


# -- the message-code table --------------------------------------------------------------
def test_table_has_every_new_code_with_its_flags():
    t = _table()
    for code, (uc, crit, roles, dt) in NEW.items():
        f = t.get(code)
        assert f is not None, uc
        assert f & 1 == crit, uc
        assert bool(f & 2) == bool(dt), uc
        assert bool(f & 4) == ("S" in roles) and bool(f & 8) == ("N" in roles), uc
        assert not f & 0x60, uc        # PAR, DLMS payload
    assert len(t) == 77 + len(NEW)


def test_table_date_time_flag_follows_the_rtds_list():
    t = _table()
    for code, f in t.items():
        assert bool(f & 2) == (code in RTDS_DT), "%04X" % code


def test_table_keeps_every_visible_rtds_code():
    t = _table()
    for v in _vectors():
        if v.get("command_file"):
            mc = int(v["message_code"], 16)
            assert mc in t
            assert t[mc] & 1 == int(v["critical"])


def _new_command(code, counter, originator):
    uc, crit, roles, dt = NEW[code]
    pl = G.dlms_get(counter, [(1, bytes.fromhex("0000600100FF"), 2)])
    return G.build_command(code, pl, counter, originator=originator, critical=bool(crit))


@pytest.mark.parametrize("code", sorted(NEW), ids=lambda c: NEW[c][0])
def test_new_code_authenticated_and_answered(tmp_path, code):
    """A command with the new code, MACed by the ACB (and signed by the
    originator when critical) with the RTDS test keys: accepted and answered
    with the code's protection, date-time and object-undefined; its replay
    is refused (PAR), and a role the code does not allow gets 0x8F30."""
    uc, crit, roles, dt = NEW[code]
    b = _meter(tmp_path)
    m = b.meter
    orig = G.SUPPLIER if "S" in roles else G.NETWORK_OPERATOR
    cmd = _new_command(code, 1001, orig)
    sec = m.security_log.seq
    r = m.gbcs_message(cmd)
    assert r is not None and m.security_log.seq == sec and not b.alerts_sent
    f = G.parse(bytes(r), device_ds_pub=G.test_ds_pub())
    assert f["message_code"] == code and f["cra"] == 2 and f["counter"] == 1001
    assert f["recipient"] == orig
    if crit:
        assert f["kind"] == "signed" and f["sig_ok"] is True
    else:
        assert f["kind"] == "mac" and f["mac_ok"] is True
    assert bool(f["date_time"]) == bool(dt)
    assert f["dlms"]["results"] == [(1, 4)]
    assert m.gbcs_message(cmd) is None                     # replay
    ent = m.log_between(m.security_log, 0, 0xFFFFFFFF)[-1]
    assert (ent[1], ent[3]) == (core.AL_AUTH, code)
    other = G.NETWORK_OPERATOR if orig == G.SUPPLIER else G.SUPPLIER
    if ("N" if other == G.NETWORK_OPERATOR else "S") not in roles:
        assert m.gbcs_message(_new_command(code, 1002, other)) is None
        ent = m.log_between(m.security_log, 0, 0xFFFFFFFF)[-1]
        assert (ent[1], ent[3]) == (core.AL_AUTHORITY, code)


def test_ecs01a_of_1436_octets_verifies_and_answers(tmp_path):
    """The largest visible command (ECS01a, 1436 octets, a GBT series on
    the HAN) as a bytearray, as GBT hands it over."""
    b = _meter(tmp_path)
    v = max((v for v in _vectors() if v.get("command_file") and v["use_case"] == "ECS01a"),
            key=lambda v: len(_hex(v["command_file"])))
    cmd = bytearray(_hex(v["command_file"]))
    assert len(cmd) == 1436
    r = b.meter.gbcs_message(cmd)
    assert r is not None and G.parse(bytes(r), device_ds_pub=G.test_ds_pub())["sig_ok"] is True


# -- both runtimes -----------------------------------------------------------------------
def test_same_on_both_runtimes(tmp_path):
    """host_tests/mp/gbcs_core.py on MicroPython (board heap) and CPython:
    gmac_in, encrypt_item and the new codes' responses byte for byte."""
    from runtimes import run_script
    ks = G.keystore_json()
    rng = random.Random(3)
    gm = []
    for lp, n in ((6, 0), (6, 10), (6, 11), (1, 300), (6, 1437), (16, 33), (0, 17)):
        buf = bytes(rng.randrange(256) for _ in range(n + 20))
        gm.append([bytes(rng.randrange(256) for _ in range(16)).hex(), bytes(12).hex(),
                   bytes(rng.randrange(256) for _ in range(lp)).hex(), buf.hex(), 13, 13 + n])
    enc = []
    for v in ENCRYPTED[:4]:
        cmd = _hex(v["command_file"])
        pl = bytes.fromhex(G.parse(_hex(v["response_file"]))["payload"])
        s, e2 = _ciphered(pl)
        enc.append([v["use_case"], cmd.hex(), _host_decrypt(cmd, pl[s:e2]).hex()])
    msgs = []
    for i, code in enumerate((0x0029, 0x00B7, 0x00D1, 0x00DE)):
        orig = G.NETWORK_OPERATOR if NEW[code][2] == "N" else G.SUPPLIER
        msgs.append([NEW[code][0], _new_command(code, 1001 + i, orig).hex()])
    msgs.append(["replay", msgs[0][1]])
    inp = {"config": CFG, "utc": T2015, "keystore": ks, "gmac": gm, "encrypt": enc,
           "messages": msgs}
    (tmp_path / "in.json").write_text(json.dumps(inp))
    out = {}
    for rt in ("cpython", "micropython"):
        (tmp_path / rt).mkdir()
        out[rt] = run_script(rt, "gbcs_core.py", str(tmp_path / rt), str(tmp_path / "in.json"),
                             preload="firmware.meter")
    assert out["micropython"] == out["cpython"]
    lines = out["cpython"].splitlines()
    for (key, iv, pre, buf, s, e2), line in zip(gm, lines):
        want = AESGCM(bytes.fromhex(key)).encrypt(bytes.fromhex(iv), b"", bytes.fromhex(pre) +
                                                  bytes.fromhex(buf)[s:e2])
        assert line == "gmac %s True" % want.hex()
    for (uc, cmd, plain), line in zip(enc, lines[len(gm):]):
        c = bytes.fromhex(cmd)
        item = bytes.fromhex(line.split()[2])
        assert line.split()[1] == uc and _host_decrypt(c, item) == bytes.fromhex(plain)
    rest = lines[len(gm) + len(enc):]
    names = [l.split()[0] for l in rest if not l.startswith(" ")]
    assert names == [x[0] for x in msgs]
    for l in rest:
        if not l.startswith(" ") and l.split()[0] != "replay":
            f = G.parse(bytes.fromhex(l.split()[1]), device_ds_pub=G.test_ds_pub())
            assert f["mac_ok"] is True or f["sig_ok"] is True
    assert rest[-3:] == ["replay none", "  security 8f3d 0029", "  alerts 1"]


# -- the short fuzz (make fuzz-gbcs-core runs 100,000) ------------------------------------
def test_short_gbcs_fuzz_same_outcomes_on_both_runtimes(tmp_path):
    """tools/fuzz_gbcs: 300 mutated RTDS commands (half re-MACed / re-signed
    with mutated payloads) straight into Meter.gbcs_message: no crash, no
    unexplained silence, no state change or missing alert on a rejection,
    every rejection with its §6.2.4 Security Log code; the same outcome
    counts on CPython and MicroPython (board heap)."""
    from tools import fuzz_gbcs
    reps = {}
    for rt in ("cpython", "micropython"):
        reps[rt] = fuzz_gbcs.run(300, 7, rt, str(tmp_path / rt), jobs=2, chunk=150)
        assert reps[rt]["inputs"] == 300 and reps[rt]["bad"] == 0, fuzz_gbcs.summary(reps[rt])
    assert reps["micropython"]["by_kind"] == reps["cpython"]["by_kind"]
    outs = reps["cpython"]["outcomes"]
    allowed = ("ignored", "silent-cs02b", "answered-asn1", "answered-dlms-empty",
               "rejected-8f1e", "rejected-8f30", "rejected-8f3d")
    assert all(o in allowed or o.startswith("answered-dlms-r") for o in outs), outs
    assert outs.get("rejected-8f1e") and outs.get("rejected-8f3d")
    assert sum(v for o, v in outs.items() if o.startswith("answered")) > 50
