# The GBCS message and security layer (GBCS v0.8.1 §4.3, §6.2.4, §7.2;
# notes/gbcs-messages-security §3-§11, §21; firmware/gbcs/README.md).
# Meter.gbcs_message(buf) -> receive(m, buf): one complete Remote Party
# command (GBT already reassembled) in, the protected response out, or None.
#
# Framing (§7.2.5-7.2.7): MAC Header `DD 00 00 00 00 00 00 ‖ len ‖ 11 00000000`
# ‖ general-signing APDU `DF 09 01 OC(8) 08 orig(8) 08 recip(8) dtlen [dt]
# len(other info) MC(2) [SRP id(8) SRP counter(8)] len(payload) payload`
# ‖ `00` | `40 sig(64)` ‖ MAC(12). Lengths: later GBCS BER `xx | 81 xx | 82
# xx xx` (RTDS, vectors/README.md point 1) and v0.8.1 §3.3.6 `82 xx xx |
# 83 xx xx xx`; a length must equal what follows, so neither form can be
# misread.
#
# Checks, in the order of §6.2.4 (stop at the first failure):
#   1 Message Identifier (§6.2.4.1.1): framing and CRA 01, recipient = this
#     device, a message code this device knows (_MC), the OC's low 32 bits
#     zero only for a top-up (§4.3.1.2), the originator in the management
#     cell of a role that may send the code, a signature iff critical
#   2 the ACB MAC (§6.2.4.1.2, §4.3.3.4): K = KDF(Z(device KA, ACB KA),
#     orig ‖ 01‖OC ‖ recip), IV = orig ‖ 00000000, AAD = 11 00 00 00 00 00 ‖
#     APDU (RTDS, vectors/README.md point 2); the v0.8.1 AAD `11 ‖ APDU`
#     (§7.2.6) is accepted too: the two give different tags, so a match
#     tells which form the ACB used, and the response uses the same form
#   3 critical codes: the KRP signature (§6.3.4, §4.3.2.7) with the key of
#     the {role, digitalSignature, management} cell holding the originator,
#     over the APDU without its DF tag (RTDS point 3) or, for a v0.8.1
#     command, the §7.2.7 concatenation without tags and lengths
#   4 anti-replay (§4.3.1.5, §6.2.4.2): OC > the Execution Counter of (role,
#     message code), for codes with PAR (not CS01a: the UTRN counter cache,
#     §14; not CS02a/e, CS06: PAR No; not CS02b: its own sequence numbers)
# On failure (§6.2.4.2): a Security Log entry (code = the alert code, value
# = the message code), no response, and the Generic Critical Alert (message
# code 0x1000, signed) to the supplier with 0x8F1E (format, integrity,
# wrong recipient, unknown code), 0x8F30 (an originator without authority
# for the code) or 0x8F3D (MAC, signature or counter); later GBCS codes
# (notes/gbcs-esme-functional §4.5; v0.8.1: 0x801E / 0x8030 / 0x803D).
# On success the Execution Counter is saved in the same atomic operation as
# what the command changes (Meter.begin/end): a power cut keeps both or
# neither.
import struct

from ..compat import const
from .. import crypto
from ..platform.clock import civil, DAY
from . import keystore as K

CTR_KEY = "gbcs_ctr"
_CTR_SCHEMA = const(6)
_CTR_VERSION = const(1)
_MAX_CTR = const(160)
AL_FORMAT = const(0x8F1E)
AL_AUTHORITY = const(0x8F30)
AL_AUTH = const(0x8F3D)
_MC_GCA = const(0x1000)        # Generic Critical Alert (RTDS NA_GCA-DLMS)
_SUPPLIER = const(2)
# Message codes the ESME accepts: code(2) flags(1), by code. flags: 01 critical
# (KRP-signed), 02 date-time in the response (the codes vectors/rtds/README.md
# lists), 04/08/10 the supplier / network operator / ACB may send it, 20 no
# PAR, 40 ASN.1 payload. The visible RTDS ESME use cases, and every further
# ESME DLMS use case of later GBCS's message-code list (gbcs-parser's table;
# notes/gbcs-esme-functional §8 for criticality and roles where the
# functional digest gives them, else the sibling use case's): CS10a/b 0014/
# 00A1, CS11 0015, ECS17c/d/e 0028-002A, ECS18a 002B, ECS20c/d 0030/00C9,
# ECS21b 0034, ECS22c 0038, ECS39b 004D, ECS46c 0054, ECS61c 005E, ECS29b/c/
# d/f 00AE/00D1/00D2/00D4, ECS01c/d 00B7/00C7, ECS35f/g 00BA/00FD, ECS24b
# 00BD, ECS26j/k/l/m 00BE/00C6/00D9/00F9, ECS15c 00C1, ECS30a 00D7, ECS48
# 00DB, ECS08a 00DE, ECS25a1/a2/a3/b3/r2 00EA-00ED/00EF. ASN.1 use cases are
# listed only where dispatch answers them (CS02b 0102/0103 excepted).
_MC = (b"\x00\x07\x26\x00\x08\x70\x00\x0a\x45\x00\x0b\x45\x00\x0c\x65\x00\x0d\x45\x00\x0f\x45"
       b"\x00\x12\x67\x00\x14\x04\x00\x15\x04\x00\x19\x07\x00\x1a\x07\x00\x1b\x07\x00\x1c\x05"
       b"\x00\x1d\x05\x00\x1e\x05\x00\x1f\x07\x00\x20\x05\x00\x21\x04\x00\x22\x04\x00\x23\x04"
       b"\x00\x24\x04\x00\x25\x04\x00\x26\x0a\x00\x27\x0e\x00\x28\x0e\x00\x29\x06\x00\x2a\x06"
       b"\x00\x2b\x0e\x00\x2c\x06\x00\x2d\x06\x00\x2e\x04\x00\x2f\x04\x00\x30\x04\x00\x33\x04"
       b"\x00\x34\x04\x00\x35\x10\x00\x36\x08\x00\x37\x04\x00\x38\x0c\x00\x39\x06\x00\x3a\x04"
       b"\x00\x3b\x04\x00\x3c\x04\x00\x3d\x04\x00\x3e\x04\x00\x3f\x04\x00\x40\x04\x00\x42\x04"
       b"\x00\x43\x07\x00\x44\x04\x00\x45\x08\x00\x46\x05\x00\x47\x04\x00\x48\x04\x00\x49\x04"
       b"\x00\x4a\x08\x00\x4b\x05\x00\x4c\x04\x00\x4d\x04\x00\x4e\x04\x00\x4f\x05\x00\x50\x05"
       b"\x00\x51\x05\x00\x52\x04\x00\x53\x05\x00\x54\x07\x00\x55\x05\x00\x58\x10\x00\x59\x04"
       b"\x00\x5a\x08\x00\x5e\x04\x00\x5f\x04\x00\x60\x04\x00\x62\x05\x00\x68\x05\x00\x69\x04"
       b"\x00\xa1\x04\x00\xa2\x07\x00\xac\x04\x00\xae\x08\x00\xb0\x08\x00\xb3\x05\x00\xb7\x07"
       b"\x00\xb9\x04\x00\xba\x04\x00\xbb\x04\x00\xbc\x06\x00\xbd\x04\x00\xbe\x04\x00\xc1\x04"
       b"\x00\xc6\x04\x00\xc7\x07\x00\xc9\x04\x00\xd1\x08\x00\xd2\x08\x00\xd3\x08\x00\xd4\x08"
       b"\x00\xd7\x05\x00\xd9\x04\x00\xdb\x05\x00\xde\x07\x00\xea\x04\x00\xeb\x04\x00\xec\x04"
       b"\x00\xed\x08\x00\xee\x04\x00\xef\x08\x00\xf9\x04\x00\xfd\x04\x01\x02\x67\x01\x03\x6b"
       b"\x01\x1b\x50")

_F_CRIT = const(0x01)
_F_DT = const(0x02)
_F_NOPAR = const(0x20)
_F_ASN1 = const(0x40)
_MAC_HDR = b"\xdd\x00\x00\x00\x00\x00\x00"
_SEC_HDR = b"\x11\x00\x00\x00\x00"
_AAD = b"\x11\x00\x00\x00\x00\x00"


class GbcsError(Exception):
    pass


def flags(mc):
    t = _MC
    for i in range(0, len(t), 3):
        if t[i] == mc >> 8 and t[i + 1] == mc & 0xFF:
            return t[i + 2]
    return -1


def dec_len(b, i):
    """(length, next offset): xx, 81 xx (later GBCS), 82 xx xx, 83 xx xx xx."""
    n = b[i]
    if n < 0x80:
        return n, i + 1
    k = n - 0x80
    if k < 1 or k > 3 or i + k >= len(b):
        raise GbcsError()
    v = 0
    for j in range(i + 1, i + 1 + k):
        v = (v << 8) | b[j]
    return v, i + 1 + k


def enc_len(n, v081=False):
    """Later GBCS: xx, 81 xx, 82 xx xx; v0.8.1 (§3.3.6): xx, 82 xx xx."""
    if n < 0x80:
        return bytes((n,))
    if n < 0x100 and not v081:
        return bytes((0x81, n))
    return bytes((0x82, n >> 8, n & 0xFF))


def parse(b):
    """Offsets of a message's parts: [gs (the DF), oc (8 octets at), orig,
    recip, dt (offset, length), mc, oi (offset, length), pl (offset,
    length), sig (offset, length), end of the APDU, mac (offset or -1),
    cra]. GbcsError on any structural fault."""
    n = len(b)
    i = 0
    mac = -1
    if b[0] == 0xDD:
        if b[:7] != _MAC_HDR:
            raise GbcsError()
        ln, i = dec_len(b, 7)
        if i + ln != n or b[i:i + 5] != _SEC_HDR:
            raise GbcsError()
        i += 5
        mac = n - 12
    gs = i
    if b[i] != 0xDF or b[i + 1] != 9 or b[i + 11] != 8 or b[i + 20] != 8:
        raise GbcsError()
    cra = b[i + 2]
    i += 29
    dtl = b[i]
    if dtl not in (0, 12):
        raise GbcsError()
    dt = i + 1
    i += 1 + dtl
    oil, i = dec_len(b, i)
    oi = i
    if oil < 2:
        raise GbcsError()
    i += oil
    pll, i = dec_len(b, i)
    pl = i
    i += pll
    sl = b[i]
    if sl not in (0, 64):
        raise GbcsError()
    end = i + 1 + sl
    if end != (mac if mac >= 0 else n) or end > n:
        raise GbcsError()
    return (gs, gs + 3, gs + 12, gs + 21, dt, dtl, (b[oi] << 8) | b[oi + 1], oi, oil, pl, pll,
            i + 1, sl, end, mac, cra)


def _signed(b, p, v081):
    """The octets a signature covers: the APDU without its DF tag (later
    GBCS), or v0.8.1 §7.2.7: CRA ‖ OC ‖ orig ‖ recip ‖ [dt] ‖ other info ‖ payload."""
    if not v081:
        return memoryview(b)[p[0] + 1:p[11] - 1]
    return (bytes(b[p[1] - 1:p[1] + 8]) + bytes(b[p[2]:p[2] + 8]) + bytes(b[p[3]:p[3] + 8]) +
            bytes(b[p[4]:p[4] + p[5]]) + bytes(b[p[7]:p[7] + p[8]]) + bytes(b[p[9]:p[9] + p[10]]))


def gmac_in(key, iv, pre, buf, start, end):
    """The 16-octet GMAC tag over pre ‖ buf[start:end] (len(pre) <= 16): a
    GBCS MAC's AAD `11 00 00 00 00 00 ‖ APDU` (§4.3.3.4, vectors/README.md
    point 2) with the APDU left where it lies in the message buffer, so a
    4 KB GBT series is never copied (here, not in crypto: only the GBCS
    layer needs it, and crypto's globals stay as the top-up path has them:
    the heap's largest free block). In a writable buffer the len(pre)
    octets before start are pre for the call and restored after it. In a
    read-only one they stand in for pre and the tag is corrected: GHASH is
    linear and both AADs have the same length, so the two tags differ by
    ((pre ^ those octets) ‖ 0...) * H^m, m = the number of AAD blocks + 1
    (the length block; SP 800-38D §6.4)."""
    mv = memoryview(buf)
    lp = len(pre)
    if start < lp:
        return crypto.gmac(key, iv, bytes(pre) + bytes(mv[start:end]))
    keep = bytes(mv[start - lp:start])
    try:
        mv[start - lp:start] = pre
    except TypeError:               # read-only (bytes): correct the tag instead
        pass
    else:
        try:
            return crypto.gmac(key, iv, mv[start - lp:end])
        finally:
            mv[start - lp:start] = keep
    t = crypto.gmac(key, iv, mv[start - lp:end])
    d = 0
    for i in range(lp):
        d = (d << 8) | (pre[i] ^ keep[i])
    if not d:
        return t
    from ..crypto.pure import _gf_mul
    d <<= 8 * (16 - lp)
    p = int.from_bytes(crypto.aes_encrypt_block(key, bytes(16)), "big")      # H
    e = (lp + end - start + 15) // 16 + 1
    while e:
        if e & 1:
            d = _gf_mul(d, p)
        e >>= 1
        if e:
            p = _gf_mul(p, p)
    return (int.from_bytes(t, "big") ^ d).to_bytes(16, "big")


def _mac(z, orig, tx, recip, b, s, e, v081):
    """MAC(12) over AAD = 11 00 00 00 00 00 ‖ b[s:e] (v0.8.1: 11 ‖ b[s:e]),
    the APDU hashed where it lies in the message buffer (no copy of up to
    4 KB; gmac_in)."""
    k = crypto.kdf(z, crypto.other_info(orig, tx, recip))
    return gmac_in(k, orig + b"\x00\x00\x00\x00", _AAD[:1] if v081 else _AAD, b, s, e)[:12]


# -- counters ----------------------------------------------------------------------------
def _ctr_decode(b):
    if len(b) < 10 or (len(b) - 10) % 12:
        raise ValueError("gbcs counters")
    d = {}
    for i in range(10, len(b), 12):
        k, hi, lo = struct.unpack_from(">III", b, i)
        d[k] = (hi << 32) | lo
    dev_hi, dev_lo, _ = struct.unpack_from(">IIH", b, 0)
    return [(dev_hi << 32) | dev_lo, d]


def counters(m):
    c = getattr(m, "_gctr", None)
    if c is None:
        c = m.store.load_rec(CTR_KEY, _CTR_SCHEMA, _CTR_VERSION, _ctr_decode)
        if c is None:
            c = [0, {}]
        m._gctr = c
    return c


def save_counters(m):
    """Queue the counter record (inside the caller's atomic operation)."""
    c = counters(m)
    # one allocation of the exact size (up to 1930 octets), no growing copies:
    # a fragmented heap has a block that size more often than several (fuzz --gbcs)
    out = bytearray(10 + 12 * len(c[1]))
    struct.pack_into(">IIH", out, 0, c[0] >> 32, c[0] & 0xFFFFFFFF, len(c[1]))
    i = 10
    for k, v in c[1].items():
        struct.pack_into(">III", out, i, k, v >> 32, v & 0xFFFFFFFF)
        i += 12
    m.save_record(CTR_KEY, ((out,), _CTR_SCHEMA, _CTR_VERSION, True))


def set_device_counter(m, v):
    """The Device Originator Counter (provisioning, tests); never lowered."""
    c = counters(m)
    if v > c[0]:
        c[0] = v
        h = m.begin()
        try:
            save_counters(m)
        finally:
            m.end(h)


# -- the checks ----------------------------------------------------------------------------
def check(m, b):
    """Run the §6.2.4 checks; (p, role, v081) or raises GbcsError(alert code)."""
    ks = K.get(m)
    try:
        p = parse(b)
    except (GbcsError, IndexError):
        raise GbcsError(AL_FORMAT, 0)
    mc = p[6]
    orig = bytes(b[p[2]:p[2] + 8])
    recip = bytes(b[p[3]:p[3] + 8])
    oc = bytes(b[p[1]:p[1] + 8])
    f = flags(mc)
    # 1: Message Identifier (§6.2.4.1.1 a-c)
    if (p[14] < 0 or p[15] != 1 or recip != ks[1] or f < 0 or p[5] or
            (oc[4:] == b"\x00\x00\x00\x00") != (mc == 7) or
            (p[12] == 64) != bool(f & _F_CRIT) or
            not p[10] or (b[p[9]] == 0xD9) == bool(f & _F_ASN1)):
        raise GbcsError(AL_FORMAT, mc)
    # 1 d: the originator's role (its management cell) may send this code
    role = K.role_of(ks, orig, K.DS if f & _F_CRIT else K.KA) or K.role_of(ks, orig, K.KA) or \
        K.role_of(ks, orig, K.DS)
    if not role or not (f >> role) & 1:
        raise GbcsError(AL_AUTHORITY, mc)
    # 2: the ACB MAC
    acb = K.cell(ks, 4, K.KA)
    z = acb and K.z(ks, acb[3])
    if not z:
        raise GbcsError(AL_AUTH, mc)
    got = b[p[14]:]
    tx = b"\x01" + oc
    v081 = False
    if _mac(z, orig, tx, recip, b, p[0], p[13], False) != got:   # no copy: a series may be 4 KB
        v081 = True
        if _mac(z, orig, tx, recip, b, p[0], p[13], True) != got:
            raise GbcsError(AL_AUTH, mc)
    # 3: the KRP signature
    if f & _F_CRIT:
        c = K.cell(ks, role, K.DS)
        if c is None or c[3] != orig or not crypto.ecdsa_verify_data(
                c[4], _signed(b, p, v081), bytes(b[p[11]:p[11] + 64])):
            raise GbcsError(AL_AUTH, mc)
    # 4: anti-replay
    if not f & _F_NOPAR:
        ocv = int.from_bytes(oc, "big")
        if ocv <= counters(m)[1].get((role << 16) | mc, 0):
            raise GbcsError(AL_AUTH, mc)
    return p, role, v081


def receive(m, buf):
    """A complete GBCS command: the protected response, or None (a failed
    check: logged and alerted, §6.2.4.2)."""
    # a view (the tunnel's fragment region) is copied once, writable: the
    # MAC then needs no second copy (gmac_in)
    b = buf if isinstance(buf, (bytes, bytearray)) else bytearray(buf)
    try:
        p, role, v081 = check(m, b)
    except (GbcsError, ValueError, IndexError) as e:
        # ValueError: a key the crypto core refuses (a cell's point off the curve)
        a = e.args if isinstance(e, GbcsError) else ()
        code = a[0] if a else (AL_FORMAT if isinstance(e, GbcsError) else AL_AUTH)
        mc = a[1] if len(a) > 1 else 0
        h = m.begin()
        try:
            m.log(m.security_log, code, mc)
        finally:
            m.end(h)
        alert(m, code)
        return None
    mc = p[6]
    f = flags(mc)
    from . import dispatch
    h = m.begin()
    try:        # end() also when the counter save fails (MemoryError): the
        # operation never stays open (it would defer every later save)
        if not f & _F_NOPAR:
            c = counters(m)[1]
            k = (role << 16) | mc
            if k in c or len(c) < _MAX_CTR:
                c[k] = int.from_bytes(b[p[1]:p[1] + 8], "big")
                save_counters(m)     # raises before the command runs: not executed
        payload = dispatch.run(m, b, p, role, f & _F_CRIT)
    finally:
        m.end(h)
    return respond(m, b, p, payload, f, v081)


def dlms_time(t):
    """DLMS date-time(12) of ZigBee UTC t, day of week and hundredths not
    specified, deviation 0x8000, status FF (as the RTDS responses)."""
    y, mo, d = civil(t // DAY)
    s = t % DAY
    return struct.pack(">HBBBBBBBHB", y, mo, d, 0xFF, s // 3600, s // 60 % 60, s % 60, 0,
                       0x8000, 0xFF)


def _protect(m, cra, oc, recip, mc_oi, payload, critical, dt, v081):
    """Build a response (cra 2) or alert (cra 3) in one buffer: signed when
    critical (GH ‖ payload ‖ 40 ‖ signature), else MAC Header ‖ APDU ‖ 00 ‖
    MAC with Z(device, recipient), the MAC and the signature computed over
    the buffer in place. None when the key it needs is missing."""
    ks = K.get(m)
    dev = ks[1]
    lo = enc_len(len(mc_oi), v081)
    lp = enc_len(len(payload), v081)
    na = 30 + len(dt) + len(lo) + len(mc_oi) + len(lp) + len(payload)    # the APDU
    if critical:
        if ks[3] == bytes(32):
            return None
        z = None
        h = 0
        out = bytearray(na + 65)
    else:
        z = K.z(ks, recip)
        if z is None:
            return None
        lb = enc_len(na + 18, v081)         # security header, APDU, 00, MAC
        h = 7 + len(lb) + 5
        out = bytearray(h + na + 13)
        out[:7] = _MAC_HDR
        out[7:7 + len(lb)] = lb
        out[h - 5:h] = _SEC_HDR
    i = h
    mv = memoryview(out)        # (a bytearray slice assignment copies its source on CPython)
    for part in (b"\xdf\x09", bytes((cra,)), oc, b"\x08", dev, b"\x08", recip, bytes((len(dt),)), dt,
                 lo, mc_oi, lp, payload):
        mv[i:i + len(part)] = part
        i += len(part)
    if critical:
        if v081:
            data = bytes((cra,)) + oc + dev + recip + dt + mc_oi + payload
        else:
            data = mv[1:i]
        out[i] = 0x40
        out[i + 1:] = crypto.ecdsa_sign_gbcs(ks[3], data)
        return out
    out[i] = 0
    out[i + 1:] = _mac(z, dev, bytes((cra,)) + oc, recip, out, h, i + 1, v081)
    return out


def encrypt_item(m, b, p, plain):
    """§8 encryption of one sensitive response item (GBCS v0.8.1 §8.1-8.3;
    the later form RTDS has: vectors/rtds/README.md "Encrypted read data").
    b, p: the verified command buffer and its parse() tuple (as receive has
    them); plain: the item's plaintext octets (the A-XDR Data the response
    would otherwise carry). Returns the ciphered-data octets
    `31 00000000 ‖ ciphertext ‖ tag[0:12]`, or None when the keystore holds
    no KA key for the encryption party. Key = KDF(Z(device KA, party KA),
    60857406080300 ‖ device ‖ 09 ‖ 04 ‖ OC ‖ party); party = the
    Supplementary Remote Party (other info octets 2-9) if present, else the
    command's originator; OC = the Supplementary Originator Counter (other
    info octets 18-25) if present, else the command's OC; IV = device ‖
    00000000; AAD = 31 (security control alone: no zero octets)."""
    ks = K.get(m)
    dev = ks[1]
    oi = p[7]
    if p[8] >= 10:
        party = bytes(b[oi + 2:oi + 10])
    else:
        party = bytes(b[p[2]:p[2] + 8])
    oc = bytes(b[oi + 18:oi + 26]) if p[8] >= 26 else bytes(b[p[1]:p[1] + 8])
    z = K.z(ks, party)
    if z is None:
        return None
    k = crypto.kdf(z, crypto.other_info(dev, b"\x04" + oc, party))
    ct, tag = crypto.gcm_encrypt(k, dev + b"\x00\x00\x00\x00", b"\x31", plain, 12)
    n = len(ct)
    out = bytearray(17 + n)
    out[0] = 0x31
    out[5:5 + n] = ct
    out[5 + n:] = tag
    return bytes(out)


def respond(m, b, p, payload, f, v081):
    if payload is None:
        return None
    dt = dlms_time(m.clock.now()) if f & _F_DT else b""
    return _protect(m, 2, bytes(b[p[1]:p[1] + 8]), bytes(b[p[2]:p[2] + 8]),
                    bytes(b[p[7]:p[7] + p[8]]), payload, f & _F_CRIT, dt, v081)


def alert(m, code, mc=_MC_GCA, extra=b"", t=-1):
    """A critical DLMS alert (§16) signed to the supplier, logged as a meter
    alert too. Default: the Generic Critical Alert (RTDS NA_GCA-DLMS)."""
    if not extra or code != 0x8F66:
        m.alert(code)        # (a future-dated change's engine records its own 8F66)
    return dlms_alert(m, code, mc, _SUPPLIER, True, extra, 1 if extra else 0, t)


def dlms_alert(m, code, mc, role, crit, extra=b"", n=0, t=-1):
    """A DLMS alert (data-notification: alert code, DLMS date-time at t or
    now, then n extra Data items `extra`) to `role`'s entity, signed when
    crit, else MACed, with the next Device Originator Counter; None when
    the keystore lacks the cell or key."""
    ks = K.get(m)
    to = K.cell(ks, role, K.DS if crit else K.KA)
    if to is None or (crit and ks[3] == bytes(32)):
        return None
    oc = next_counter(m)
    pl = (b"\x0f\x20" + oc[5:] + b"\x00\x02" + bytes((n + 2,)) + b"\x12" +
          struct.pack(">H", code) + b"\x09\x0c" + dlms_time(m.clock.now() if t < 0 else t) + extra)
    return send_alert(m, oc, to[3], mc, pl, crit)


def next_counter(m):
    """The next Device Originator Counter (8 octets), persisted before any
    message carries it, so it never repeats (§4.3.1.2)."""
    c = counters(m)
    c[0] += 1
    h = m.begin()
    try:
        save_counters(m)
    finally:
        m.end(h)
    return struct.pack(">II", c[0] >> 32, c[0] & 0xFFFFFFFF)


def send_alert(m, oc, recip, mc, pl, crit):
    """Protect alert payload pl (CRA 03, counter oc, message code mc) for
    recip and hand it to Meter.tunnel_send; the message, or None."""
    msg = _protect(m, 3, oc, recip, struct.pack(">H", mc), pl, crit, b"", False)
    send = getattr(m, "tunnel_send", None)
    if send is not None and msg is not None:
        send(msg)
    return msg
