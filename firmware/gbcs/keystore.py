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
#   [cells, entity8, ka_priv32, ds_priv32, zs, zcache]
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
#
# Record layout (key "gbcs_ks", schema 5, version 1): entity(8) ka_priv(32)
# ds_priv(32) ncells(1) {role usage cu entity(8) pub(64) ski(8)}* nz(1)
# {entity(8) cell usage(1) Z(32)}*.
from ..compat import const
from .. import crypto

KEY = "gbcs_ks"
_SCHEMA = const(5)
_VERSION = const(1)
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
    k += 1
    if len(b) != k + 41 * nz:
        raise ValueError("keystore Z")
    zs = {}
    for i in range(k, len(b), 41):
        zs[bytes(b[i:i + 9])] = bytes(b[i + 9:i + 41])
    return [cells, bytes(b[:8]), bytes(b[8:40]), bytes(b[40:72]), zs, {}]


def _encode(ks):
    out = bytearray(ks[1] + ks[2] + ks[3])
    out.append(len(ks[0]))
    for c in ks[0]:
        out += bytes((c[0], c[1], c[2])) + c[3] + c[4] + c[5]
    out.append(len(ks[4]))
    for e, z in ks[4].items():
        out += e + z
    return bytes(out)


def get(m):
    """The meter's keystore, loaded on first use (an empty one if none or
    none readable: every command then fails its checks)."""
    ks = getattr(m, "_gks", None)
    if ks is None:
        ks = m.store.load_rec(KEY, _SCHEMA, _VERSION, _decode)
        if ks is None:
            ks = [[], bytes(8), bytes(32), bytes(32), {}, {}]
        m._gks = ks
    return ks


def install(m, entity, ka_priv, ds_priv, cells, zs=None):
    """Replace the whole keystore (manufacture, tests). cells as in the
    module comment; keys as bytes; one atomic record save."""
    for c in cells:
        if len(c[3]) != 8 or len(c[4]) != 64 or len(c[5]) != 8 or not 0 < c[0] < 8:
            raise ValueError("cell")
    if len(entity) != 8 or len(ka_priv) != 32 or len(ds_priv) != 32:
        raise ValueError("own keys")
    ks = [list(cells), bytes(entity), bytes(ka_priv), bytes(ds_priv), dict(zs or {}), {}]
    for e, z in ks[4].items():
        if len(z) != 32 or len(e) != 9:
            raise ValueError("Z")
    h = m.begin()
    m.save_record(KEY, ((_encode(ks),), _SCHEMA, _VERSION, True))
    m.end(h)
    m._gks = ks
    return ks


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
