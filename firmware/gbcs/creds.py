# CS02b Update Security Credentials (GBCS v0.8.1 §13.3; notes/gbcs-messages-
# security §14.2): replace trust anchor cells with the keys of the
# replacement certificates. Imported by asn1.py on the first CS02b.
#
# Command SEQUENCE { AuthorisingRemotePartyControl, SEQUENCE OF
# TrustAnchorReplacement { Certificate, TrustAnchorCellIdentifier },
# certificationPathCertificates SEQUENCE OF Certificate, executionDateTime
# GeneralizedTime OPTIONAL }; the control's [2] authorising cell, [3] its
# sequence number, [4] new floor, [5] specialist floors, [6] other roles'
# changes (IMPLICIT tags, RTDS encodes them so).
#
# Checks (Table 13.3.5.1), message level -> no response, Security Log
# entry and the Generic Critical Alert (§6.2.4.2): the mode matches the
# message code, an executionDateTime only for the supplier modes (1.3), the
# authorising cell is the mode's (2.2), the sequence number is above the
# role's Highest Processed Sequence Number (1.4, §13.3.5.3). Per
# replacement -> its ReplacementOutcome statusCode: a cell this meter has
# and the mode may replace (2.1/2.2bis: trustAnchorNotFound 25 / other
# 127), the certificate profile (§12.6: v3, ecdsa-with-SHA256, P-256
# uncompressed key on the curve, keyUsage critical with one of
# digitalSignature / keyAgreement equal to the cell's, an 8-octet SKI and
# Entity ID, no unknown critical extension, no policy mappings or name
# constraints: badCertificate 5), the role (OU) equal to the cell's (2.3),
# and the part of certification path validation possible without a root
# cell (this meter holds none, §4.3.2.8.2): the issuer is one of the
# certificationPathCertificates (issuer name = its subject, the authority
# key identifier = its SKI) and its key verifies the certificate's
# signature (noTrustAnchor 10, as RTDS 6.15.1 IMMEDIATE_ERROR).
#
# Execution (§13.3.5.10): the role's sequence number and every replacement
# that passed are written as one keystore record (keystore.replace) in the
# command's atomic operation; the rest keep their cells. Side effects done:
# a supplier's own {supplier, DS} replacement sets the supplier's Execution
# Counters to newRemotePartyFloorSeqNumber; a changed {supplier, DS} Entity
# ID cancels a stored CS06 (§11.5, §13.3.5.10). Not done (see README).
from ..compat import const
from ..platform.clock import NEVER
from . import asn1 as A
from .asn1 import (cell_id, cell_id_enc, gtime, gtime_enc, integer, item, take, tlv, uint,
                   usage_bits, usage_of)
from . import keystore as K

_MAX_REP = const(4)
# message code low nibble -> mode, authorising role, target role (0: any
# but root), future-datable; rows for the modes this meter can serve
# (0x0100/0x0101/0x0105/0x0109 need root, wanProvider or contingency cells
# an ESME does not hold: refused)
_MODES = b"\x02\x02\x02\x01\x03\x03\x03\x00\x04\x04\x04\x00\x06\x05\x05\x00\x07\x05\x02\x01\x08\x01\x00\x00"
# the cells an ESME has (Table 4.3.2.5): role, usage, cell usage
_CELLS = b"\x01\x00\x00\x02\x00\x00\x02\x04\x00\x02\x04\x01\x03\x00\x00\x03\x04\x00\x04\x04\x00\x05\x00\x00"
_OID_ECDSA256 = b"\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02"
_OID_EC = b"\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07"


def _mode(mc):
    t = _MODES
    k = mc & 0xF
    for i in range(0, len(t), 4):
        if t[i] == k:
            return t[i], t[i + 1], t[i + 2], t[i + 3]
    return None


def refused(m, mc):
    """A CS02b whose payload cannot be read (nothing changed: every check
    and the whole parse come before the first write): the format failure
    of §6.2.4.2, no response."""
    return _sec_fail(m, mc, 0x8F1E)


def _sec_fail(m, mc, code):
    """§6.2.4.2: Security Log entry and Generic Critical Alert, no response."""
    from . import core
    m.log(m.security_log, code, mc)
    core.alert(m, code)
    return None


def cert(b, i, end):
    """A minimal DER walk of an X.509 certificate at b[i]: (end, tbs start,
    tbs end, issuer, subject, role, entity, pub64, ski, aki, usage bit,
    sig64), tbs the tbsCertificate TLV (what the issuer signed);
    ValueError for anything outside the GBCS profile (§12)."""
    j, e = take(b, i, end, 0x30)
    ta, tz = take(b, j, e, 0x30)
    k = tz
    if bytes(b[k:k + 12]) != b"\x30\x0a" + _OID_ECDSA256:
        raise ValueError("sig alg")
    k += 12
    sa, sz = take(b, k, e, 3)
    if sz != e or b[sa] != 0:
        raise ValueError("cert")
    sig = _sig(b, sa + 1, sz)
    # tbsCertificate
    if bytes(b[ta:ta + 5]) != b"\xa0\x03\x02\x01\x02":
        raise ValueError("version")
    k = take(b, ta + 5, tz, 2)[1]                  # serialNumber
    if bytes(b[k:k + 12]) != b"\x30\x0a" + _OID_ECDSA256:
        raise ValueError("sig alg")
    k += 12
    t, ia, iz = tlv(b, k, tz)                      # issuer
    issuer = bytes(b[k:iz])
    k = take(b, iz, tz, 0x30)[1]                   # validity (no reliable-time check)
    t, a, z = tlv(b, k, tz)                        # subject
    subject = bytes(b[k:z])
    role = -1
    ent = None
    while a < z:                                     # RDNs: SET { SEQUENCE { OID, value } }
        p, q = take(b, a, z, 0x31)
        p, q2 = take(b, p, q, 0x30)
        oa, oz = take(b, p, q2, 6)
        oid = bytes(b[oa:oz])
        t, va, vz = tlv(b, oz, q2)
        if oid == b"\x55\x04\x0b":                 # OU: RemotePartyRole, two digits
            if vz - va != 2:
                raise ValueError("role")
            role = (b[va] - 48) * 10 + b[va + 1] - 48
        elif oid == b"\x55\x04\x2d":               # x500UniqueIdentifier: 00 ‖ Entity ID
            if t != 3 or vz - va != 9 or b[va]:
                raise ValueError("entity")
            ent = bytes(b[va + 1:vz])
        a = q
    a, z = take(b, z, tz, 0x30)                    # subjectPublicKeyInfo
    if bytes(b[a:a + 21]) != b"\x30\x13" + _OID_EC:
        raise ValueError("key alg")
    p, q = take(b, a + 21, z, 3)
    if q - p != 66 or b[p] != 0 or b[p + 1] != 4:
        raise ValueError("key")
    pub = bytes(b[p + 2:q])
    k = z
    ski = aki = None
    usage = -1
    while k < tz:
        t, a, z = tlv(b, k, tz)
        if t == 0x82 and ent is None and z - a == 9 and not b[a]:
            ent = bytes(b[a + 1:z])                  # subjectUniqueID
        elif t == 0xA3:
            x, xe = take(b, a, z, 0x30)
            while x < xe:
                p, q = take(b, x, xe, 0x30)
                oa, oz = take(b, p, q, 6)
                oid = bytes(b[oa:oz])
                crit = False
                if b[oz] == 1:
                    crit = bytes(b[oz:oz + 3]) == b"\x01\x01\xff"
                    oz += 3
                va, vz = take(b, oz, q, 4)
                if oid == b"\x55\x1d\x0f":             # keyUsage, critical
                    ua, uz = take(b, va, vz, 3)
                    usage = usage_of(b, ua, uz) if crit else -1
                elif oid == b"\x55\x1d\x0e":
                    ua, uz = take(b, va, vz, 4)
                    ski = bytes(b[ua:uz])
                elif oid == b"\x55\x1d\x23":           # authorityKeyIdentifier [0]
                    ua, uz = take(b, va, vz, 0x30)
                    ua, uz = take(b, ua, uz, 0x80)
                    aki = bytes(b[ua:uz])
                elif oid in (b"\x55\x1d\x21", b"\x55\x1d\x1e") or (
                        crit and oid not in (b"\x55\x1d\x20", b"\x55\x1d\x13", b"\x55\x1d\x11")):
                    raise ValueError("extension")
                x = q
        k = z
    return e, j, tz, issuer, subject, role, ent, pub, ski, aki, usage, sig


def _sig(b, i, end):
    """ECDSA-Sig-Value { r, s } -> r ‖ s (32 octets each)."""
    j, e = take(b, i, end, 0x30)
    out = b""
    for _ in (0, 1):
        a, z = take(b, j, e, 2)
        while z - a > 32 and b[a] == 0:
            a += 1
        if z - a > 32:
            raise ValueError("sig")
        out += bytes(32 - (z - a)) + bytes(b[a:z])
        j = z
    if j != e:
        raise ValueError("sig")
    return out


def _status(m, b, r, cz, cid, mode, target, path):
    """One replacement: (statusCode, (role, usage, cu, entity, pub, ski) or None)."""
    from .. import crypto
    role, u, cu = cid
    t = _CELLS
    held = K.cell(K.get(m), role, u, cu) is not None
    if not held and not any(t[i] == role and t[i + 1] == u and t[i + 2] == cu
                            for i in range(0, len(t), 3)):
        return 25, None                              # trustAnchorNotFound
    if (target and role != target) or (mode == 6 and u != 0) or (mode == 8 and role == 0):
        return 127, None                             # not replaceable in this mode
    try:
        c = cert(b, r, cz)
        if c[0] != cz or c[10] != u or c[6] is None or c[8] is None or len(c[8]) != 8 or \
                c[5] != role or not crypto.validate_pub(c[7]):
            return 5, None                           # badCertificate
    except ValueError:
        return 5, None
    for p in path:                                   # the issuing certificate (no root: §4.3.2.8.2)
        if p[4] == c[3] and p[8] == c[9]:
            try:
                if crypto.ecdsa_verify_data(p[7], memoryview(b)[c[1]:c[2]], c[11]):
                    return 0, (role, u, cu, c[6], c[7], c[8])
            except ValueError:
                pass
            break
    return 10, None                                  # noTrustAnchor


def run(m, mc, pl):
    md = _mode(mc)
    if md is None:
        return _sec_fail(m, mc, 0x8F30)             # a mode this meter has no authoriser for
    mode, auth, target, fdable = md
    b = pl
    n = len(b)
    j, e = take(b, 0, n, 0x30)
    ca, cz = take(b, j, e, 0x30)                   # AuthorisingRemotePartyControl
    a, z = take(b, ca, cz, 2)
    if uint(b, a, z, 1) != mode:
        return _sec_fail(m, mc, 0x8F1E)              # 1.2: mode and message code differ
    k = z
    acell = None
    seq = floor = -1
    spec = b""
    other = b""
    while k < cz:
        t, a, z = tlv(b, k, cz)
        if t == 0xA2:
            acell = cell_id(b, a, z)
        elif t == 0x83:
            seq = uint(b, a, z)
        elif t == 0x84:
            floor = uint(b, a, z)
        elif t == 0xA5:
            spec = item(0x30, bytes(b[a:z]))
        elif t == 0xA6:
            other = bytes(b[a:z])
        k = z
    if seq < 0 or (acell != (auth, 0, 0) and not (mode == 4 and acell is None)):
        return _sec_fail(m, mc, 0x8F1E)              # 2.2: not the mode's authorising cell
    ks = K.get(m)
    if seq <= ks[6].get(auth, 0):
        return _sec_fail(m, mc, 0x8F3D)              # 1.4: replayed sequence number
    ra, rz = take(b, cz, e, 0x30)                  # replacements
    pa, pz = take(b, rz, e, 0x30)                  # certification path
    at = 0
    if pz < e:
        a, z = take(b, pz, e, 0x18)
        at = gtime(b, a, z)
        if z != e:
            raise ValueError("cs02b")
        if not fdable:
            return _sec_fail(m, mc, 0x8F1E)          # 1.3
    path = []
    k = pa
    while k < pz and len(path) < _MAX_REP:
        c = cert(b, k, pz)
        path.append(c)
        k = c[0]
    reps = []
    k = ra
    while k < rz:
        if len(reps) == _MAX_REP:
            raise ValueError("too many")
        x, xe = take(b, k, rz, 0x30)
        cz_ = tlv(b, x, xe)[2]
        ia, iz = take(b, cz_, xe, 0x30)
        cid = cell_id(b, ia, iz)
        st, new = _status(m, b, x, cz_, cid, mode, target, path)
        reps.append((cid, st, new))
        k = xe
    ents = [r[2][3] for r in reps if r[2] is not None]
    if ents and any(x != ents[0] for x in ents):     # one party per role: entities agree
        reps = [(r[0], 127 if r[2] else r[1], None) for r in reps]
    changes = b""
    if floor >= 0:
        changes = item(0x30, integer(target or auth) + integer(floor) + spec)
    changes = item(0x30, changes + other)
    from . import future
    s = A.state(m)
    if at != NEVER and at > m.clock.now() and not future.room(m, mc):
        # no room to store it (future.py's bound): nothing replaced, each
        # replacement resourcesBusy (30); its sequence number is taken
        reps = [(r[0], 30, None) for r in reps]
        at = 0
    if at == NEVER or at > m.clock.now():
        future.drop(m, 0x0102)
        future.drop(m, 0x0107)
        blob = None
        if at != NEVER:
            blob = (at.to_bytes(4, "big") + mc.to_bytes(2, "big") + bytes((mode, auth)) +
                    seq.to_bytes(8, "big") + (floor + 1).to_bytes(8, "big") +
                    len(changes).to_bytes(2, "big") + changes + bytes((len(reps),)))
            for (r, u, cu), st, new in reps:
                blob += bytes((r, u, cu, st)) + (new[3] + new[4] + new[5] if new else bytes(80))
        K.replace(m, [], auth, seq)                  # §13.3.5.3: the number is taken now
        A.save(m, [s[0], s[1], blob])
        if blob:
            future.add(m, at, mc, 5 << 5 | 1 + (mc & 0xF), seq.to_bytes(8, "big"), bytes(9), 0)
        return b"\x30\x02\x05\x00"                   # commandAccepted
    if s[2] and s[2][4:6] == mc.to_bytes(2, "big"):    # a newer command with its code
        future.drop(m, mc)                           # replaces the stored one (§9.2.2.3)
        A.save(m, [s[0], s[1], None])
    out, ok = execute(m, mode, auth, seq, floor, changes, reps)
    return item(0x30, b"\x05\x00" + out)


def execute(m, mode, auth, seq, floor, changes, reps):
    """Apply the replacements that passed their checks (one keystore write,
    in the caller's atomic operation): (ExecutionOutcome, all succeeded)."""
    ks = K.get(m)
    old_sup = K.cell(ks, 2, K.DS)
    outs = b""
    new = []
    for cid, st, nc in reps:
        c = K.cell(ks, cid[0], cid[1], cid[2])
        ex = (c[3], c[5]) if c is not None else (bytes(8), bytes(8))
        rp = (nc[3], nc[5]) if nc else ex
        outs += item(0x30, cell_id_enc(*cid) + integer(st, 0x0A) + item(4, ex[0]) +
                       item(4, ex[1]) + item(4, rp[0]) + item(4, rp[1]))
        if nc:
            new.append(nc)
    K.replace(m, new, auth, seq)
    sup = K.cell(K.get(m), 2, K.DS)
    if sup is not old_sup and sup is not None:
        if auth == 2 and floor >= 0:
            # §13.3.5.10: the supplier replacing its own DS cell: its
            # Execution Counters start from the new floor
            from . import core
            c = core.counters(m)[1]
            for key in c:
                if key >> 16 == 2:
                    c[key] = floor
            core.save_counters(m)
        if old_sup is None or sup[3] != old_sup[3]:
            s = A.state(m)                           # change of supplier: no stored activation
            if s[1] is not None:
                from . import future
                future.drop(m, 0x0012)
                A.save(m, [s[0], None, s[2]])
    ok = all(r[1] == 0 for r in reps)
    return item(0x30, integer(seq) + integer(mode) + changes + item(0x30, outs)), ok


def took(m, param, at):
    """The stored CS02b whose time has come: run it, alert 0x00CB (§13.3.4.2:
    SEQUENCE { alertCode, executionDateTime, ExecutionOutcome })."""
    s = A.state(m)
    b = s[2]
    if not b or int.from_bytes(b[0:4], "big") != at:
        return None
    mode, auth = b[6], b[7]
    seq = int.from_bytes(b[8:16], "big")
    floor = int.from_bytes(b[16:24], "big") - 1
    ln = int.from_bytes(b[24:26], "big")
    changes = b[26:26 + ln]
    k = 26 + ln
    reps = []
    for i in range(k + 1, k + 1 + 84 * b[k], 84):
        nc = None
        if b[i + 3] == 0:
            nc = (b[i], b[i + 1], b[i + 2], b[i + 4:i + 12], b[i + 12:i + 76], b[i + 76:i + 84])
        reps.append(((b[i], b[i + 1], b[i + 2]), b[i + 3], nc))
    h = m.begin()
    try:
        A.save(m, [s[0], s[1], None])
        out, ok = execute(m, mode, auth, seq, floor, changes, reps)
    finally:
        m.end(h)
    code = 0x8F66 if ok else 0x8F67
    A.alert(m, 0x00CB, item(0x30, integer(code) + gtime_enc(at) + out))
    m.alert(code)
    return None


# -- the device's own credentials: CS02c, CS02d, CS02e (§13.4-§13.6) ------------------------
# hwSerialNum in the device certificate's SubjectAltName (§12, RFC 4108):
# otherName { id-on-hardwareModuleName, [0] { SEQUENCE { hwType, OCTET STRING } } }
_SAN = b"\x06\x08\x2b\x06\x01\x05\x05\x07\x08\x04"
_HWTYPE = b"\x06\x0d\x2a\x86\x3a\x00\x01\x84\x8f\xb9\x0f\x01\x02\x02\x01"


def _usage(pl):
    """The KeyUsage of SEQUENCE { keyUsage }: 0 digitalSignature, 4
    keyAgreement, -1 anything else."""
    j, e = take(pl, 0, len(pl), 0x30)
    a, z = take(pl, j, e, 3)
    return usage_of(pl, a, z) if z == e else -1


def _der(tag, c):
    """A DER item with the minimal length form (what a CSR's verifier
    re-encodes)."""
    n = len(c)
    if 0x80 <= n < 0x100:
        return bytes((tag, 0x81, n)) + c
    return item(tag, c)


def cs02e(m, pl):
    """§13.6: the device certificate of that key usage, or
    provideDeviceCertResponseCode invalidKeyUsage (1) / noCertificateHeld (2)."""
    u = _usage(pl)
    if u < 0:
        return b"\x02\x01\x01"
    c = K.get(m)[7][u >> 2]
    return c or b"\x02\x01\x02"


def cs02c(m, pl):
    """§13.4: a new key pair for that usage into the Pending cell, and its
    PKCS#10 CertificationRequest (RFC 2986: empty subject, the public key,
    an extensionRequest with keyUsage and the SubjectAltName hwSerialNum =
    the Entity ID), signed with the new key. Codes: invalidKeyUsage (1),
    keyPairGenerationFailed (2)."""
    import os
    from .. import crypto
    u = _usage(pl)
    if u < 0:
        return b"\x02\x01\x01"
    pub = None
    for _ in (0, 1, 2):                  # a random scalar out of range is rare: retry
        priv = os.urandom(32)
        try:
            pub = crypto.pubkey(priv)
            break
        except ValueError:
            pass
    if pub is None:
        return b"\x02\x01\x02"
    ks = K.get(m)
    ext = _der(0x30, _der(0x30, b"\x06\x03\x55\x1d\x0f\x01\x01\xff" + _der(4, usage_bits(u))) +
               _der(0x30, b"\x06\x03\x55\x1d\x11\x01\x01\xff" + _der(4, _der(0x30, _der(
                   0xA0, _SAN + _der(0xA0, _der(0x30, _HWTYPE + _der(4, ks[1]))))))))
    info = _der(0x30, b"\x02\x01\x00\x30\x00" + _der(0x30, b"\x30\x13" + _OID_EC +
                                                      _der(3, b"\x00\x04" + pub)) +
                _der(0xA0, _der(0x30, b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x09\x0e" +
                                _der(0x31, ext))))
    sig = crypto.ecdsa_sign_gbcs(priv, info)
    rs = b""
    for x in (sig[:32], sig[32:]):
        while len(x) > 1 and x[0] == 0 and not x[1] & 0x80:
            x = x[1:]
        rs += _der(2, (b"\x00" + x) if x[0] & 0x80 else x)
    pend = dict(ks[8])
    pend[u] = priv
    K.save(m, ks[:5] + [{}, ks[6], ks[7], pend])
    return _der(0x30, info + b"\x30\x0a" + _OID_ECDSA256 + _der(3, b"\x00" + _der(0x30, rs)))


def cs02d(m, pl):
    """§13.5: the certificate for a Pending key: it becomes the Current key
    of its usage, with the certificate, in one keystore write (the response
    is then signed with the new DS key, §13.5.5). Codes in the order of the
    checks: invalidCertificate (1), wrongDeviceIdentity (2), invalidKeyUsage
    (3), noCorrespondingKeyPairGenerated (4), wrongPublicKey (5)."""
    from .. import crypto
    ks = K.get(m)
    try:
        c = cert(pl, 0, len(pl))
        if c[0] != len(pl):
            raise ValueError("cert")
    except (ValueError, IndexError):
        return b"\x02\x01\x01"
    # hwSerialNum: the SubjectAltName's otherName ends in OCTET STRING(8)
    # the Entity ID (the walk accepted the extension as known)
    i = bytes(pl[c[1]:c[2]]).find(_SAN)
    if i < 0 or pl[c[1] + i:c[2]].find(_HWTYPE + b"\x04\x08" + ks[1]) < 0:
        return b"\x02\x01\x02"
    u = c[10]
    if u < 0:
        return b"\x02\x01\x03"
    k = ks[8].get(u)
    if k is None:
        return b"\x02\x01\x04"
    if crypto.pubkey(k) != c[7]:
        return b"\x02\x01\x05"
    pend = dict(ks[8])
    del pend[u]
    certs = list(ks[7])
    certs[u >> 2] = bytes(pl)
    K.save(m, [ks[0], ks[1], k if u else ks[2], ks[3] if u else k, ks[4], {}, ks[6], certs, pend])
    return b"\x02\x01\x00"
