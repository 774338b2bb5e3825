# The GBCS keystore (GBCS v0.8.1 §4.3.2; notes/gbcs-messages-security §13):
# the Trust Anchor Cells (remote party role, key usage, cell usage ->
# entity id, public key, subject key identifier) and the device's own key
# pairs, persisted as one versioned record (store.load_rec / Meter.
# save_record inside an atomic operation, so a power cut keeps the old or
# the new keystore whole). Only CS02b may replace a cell on a deployed
# meter (§13.3); install() is the manufacturing / test entry.
#
# State (one list, kept on the meter as m._gks; the module is imported on
# the first GBCS message, so boot heap does not grow):
#   [cells, entity8, ka_priv32, ds_priv32, zs, zcache, seqs, certs, pending]
#   cells: list of (role, usage, cell_usage, entity8, pub64, ski8)
#     role: RemotePartyRole (§4.3.2.5: 1 recovery, 2 supplier, 3 networkOperator,
#     4 accessControlBroker, 5 transitionalCoS, 6 wanProvider); usage 0
#     digitalSignature, 4 keyAgreement (the KeyUsage bit); cell usage 0
#     management, 1 prePaymentTopUp
#   zs: test hook, entity8 ‖ cell usage (9) -> Z (32): the shared secret with
#     that party's KA key of that cell, used instead of ECDH with ka_priv (the RTDS device's private keys
#     are unpublished; vectors/rtds/README.md "Configuring a meter under test")
#   zcache: Z computed by ECDH, not persisted (retained Z is protected like a
#     private key: §4.3.3, kept in RAM only)
#   seqs: role -> the Highest Processed Sequence Number of that role's CS02b
#     commands (§13.3.5.3; CS02a reports it as currentSeqNumber, §13.2)
#   certs: [DS certificate, KA certificate] of the device (DER, b"" if none;
#     manufacture or CS02d, §13.5; CS02e reads them, §13.6)
#   pending: usage -> the Pending private key CS02c generated (§4.3.2.3)
#
# Record layout (key "gbcs_ks", schema 5, version 2): entity(8) ka_priv(32)
# ds_priv(32) ncells(1) {role usage cu entity(8) pub(64) ski(8)}* nz(1)
# {entity(8) cell usage(1) Z(32)}* nseq(1) {role(1) seq(8, big-endian)}*
# {len(2) certificate} for DS then KA, npending(1) {usage(1) priv(32)}*.
# Version 1 ended after the Z values (migrated: no sequence numbers, i.e.
# 0 for every role, no certificates, no pending keys). One record, so a
# CS02d's new key and its certificate are saved together.
# replace() is CS02b's one atomic write of the new cells and numbers.
from ..compat import const
from .. import crypto

KEY = "gbcs_ks"
_SCHEMA = const(5)
_VERSION = const(2)
_CELL = const(83)
DS = const(0)
KA = const(4)


def _decode(b):
    if len(b) < 73:
        raise ValueError("keystore")
    n = b[72]
    k = 73 + n * _CELL
    if len(b) < k + 1:
        raise ValueError("keystore cells")
    cells = []
    for i in range(73, k, _CELL):
        cells.append((b[i], b[i + 1], b[i + 2], bytes(b[i + 3:i + 11]), bytes(b[i + 11:i + 75]),
                      bytes(b[i + 75:i + 83])))
    nz = b[k]
    k += 1 + 41 * nz
    zs = {}
    for i in range(k - 41 * nz, k, 41):
        zs[bytes(b[i:i + 9])] = bytes(b[i + 9:i + 41])
    seqs = {}
    e = k + 1 + 9 * b[k]
    for i in range(k + 1, e, 9):
        seqs[b[i]] = int.from_bytes(b[i + 1:i + 9], "big")
    certs = []
    for _ in (0, 1):
        n = (b[e] << 8) | b[e + 1]
        certs.append(bytes(b[e + 2:e + 2 + n]))
        e += 2 + n
    pend = {}
    for i in range(e + 1, e + 1 + 33 * b[e], 33):
        pend[b[i]] = bytes(b[i + 1:i + 33])
    if len(b) != e + 1 + 33 * b[e]:
        raise ValueError("keystore")
    return [cells, bytes(b[:8]), bytes(b[8:40]), bytes(b[40:72]), zs, {}, seqs, certs, pend]


def _v1(b):
    """Version 1 -> 2: no sequence numbers, certificates or pending keys."""
    return bytes(b) + bytes(6)


def _encode(ks):
    """The record as parts (store.save_parts writes them without joining
    them: no block of the whole size, ~1.3 KB with the RTDS cells and two
    certificates, is needed in a fragmented heap)."""
    out = [ks[1] + ks[2] + ks[3] + bytes((len(ks[0]),))]
    for c in ks[0]:
        out.append(bytes(c[:3]) + c[3] + c[4] + c[5])
    t = bytearray((len(ks[4]),))
    for e, z in ks[4].items():
        t += e + z
    t.append(len(ks[6]))
    for r, v in ks[6].items():
        t += bytes((r,)) + v.to_bytes(8, "big")
    out.append(t)
    for x in ks[7]:
        out.append(len(x).to_bytes(2, "big"))
        out.append(x)
    t = bytearray((len(ks[8]),))
    for u, k in ks[8].items():
        t += bytes((u,)) + k
    out.append(t)
    return out


def get(m):
    """The meter's keystore, loaded on first use (an empty one if none or
    none readable: every command then fails its checks)."""
    ks = getattr(m, "_gks", None)
    if ks is None:
        ks = m.store.load_rec(KEY, _SCHEMA, _VERSION, _decode, (bytes, _v1))   # format 1 = v1
        if ks is None:
            ks = [[], bytes(8), bytes(32), bytes(32), {}, {}, {}, [b"", b""], {}]
        m._gks = ks
    return ks


def install(m, entity, ka_priv, ds_priv, cells, zs=None, seqs=None, certs=None):
    """Replace the whole keystore (manufacture, tests). cells as in the
    module comment (roles 1-8: RTDS has a role 08); keys as bytes; seqs
    role -> sequence number; certs (DS, KA) the device's own certificates
    (DER); one atomic record save."""
    for c in cells:
        if len(c[3]) != 8 or len(c[4]) != 64 or len(c[5]) != 8 or not 0 < c[0] < 9:
            raise ValueError("cell")
    if len(entity) != 8 or len(ka_priv) != 32 or len(ds_priv) != 32:
        raise ValueError("own keys")
    ks = [list(cells), bytes(entity), bytes(ka_priv), bytes(ds_priv), dict(zs or {}), {},
          dict(seqs or {}), [bytes(x) for x in (certs or (b"", b""))], {}]
    for e, z in ks[4].items():
        if len(z) != 32 or len(e) != 9:
            raise ValueError("Z")
    h = m.begin()
    m.save_record(KEY, (_encode(ks), _SCHEMA, _VERSION, True))
    m.end(h)
    m._gks = ks
    return ks


def replace(m, new, role, seq):
    """CS02b (§13.3.5.10): put the cells `new` (role, usage, cell usage,
    entity, pub, ski) in place of the cells with the same (role, usage,
    cell usage) and set role's sequence number, as one record save in the
    caller's atomic operation (a power cut keeps the old or the new
    keystore whole). RAM changes only once the save is queued."""
    ks = get(m)
    cells = list(ks[0])
    for n in new:
        for i in range(len(cells)):
            c = cells[i]
            if c[0] == n[0] and c[1] == n[1] and c[2] == n[2]:
                cells[i] = n
                break
        else:
            cells.append(n)
    seqs = dict(ks[6])
    seqs[role] = seq
    save(m, [cells, ks[1], ks[2], ks[3], ks[4], {}, seqs, ks[7], ks[8]])


def save(m, nk):
    """Queue the keystore nk (a new list; inside the caller's atomic
    operation) and make it the meter's; the Z cache starts empty (a
    replaced KA key changes Z)."""
    m.save_record(KEY, (_encode(nk), _SCHEMA, _VERSION, True))
    ks = get(m)
    ks[:] = nk


def cell(ks, role, usage, cu=0):
    for c in ks[0]:
        if c[0] == role and c[1] == usage and c[2] == cu:
            return c
    return None


def role_of(ks, entity, usage=KA):
    """The role whose management cell of this usage holds entity, or 0."""
    for c in ks[0]:
        if c[3] == entity and c[1] == usage and c[2] == 0:
            return c[0]
    return 0


def z(ks, entity, cu=0):
    """Z with the party's KA key (cell usage cu): the test hook's value, else
    ECDH(device KA private, the cell's public key); None if no such cell."""
    k = entity + bytes((cu,))
    v = ks[4].get(k)
    if v is None:
        v = ks[5].get(k)
    if v is None:
        for c in ks[0]:
            if c[3] == entity and c[1] == KA and c[2] == cu:
                v = crypto.ecdh(ks[2], c[4])
                ks[5][k] = v
                break
    return v
