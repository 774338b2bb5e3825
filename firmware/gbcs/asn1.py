# ASN.1 (DER) use cases (GBCS v0.8.1 §11-§13; the security-credential and
# firmware commands): a verified command's payload in, its response
# payload out. Today every one is answered with its use case's failure
# response and nothing is executed (RTDS ERROR responses have the same
# form); CS02b (0x0102/0x0103) gets none yet.
from .dlms import length as _len

# ASN.1 use cases not supported: message code -> the failure value of their
# response's INTEGER code (DER `02 01 xx`): CS02c issueCredentialsResponseCode
# cRProductionFailed (3, §13.4.6), CS02d updateDeviceCertResponseCode
# certificateStorageFailed (6, §13.5.6), CS02e provideDeviceCertResponseCode
# certificateRetrievalFailure (3, §13.6.6), CS03A1 joinResponseCode
# writeFailure (5, §13.7.4.5.1), CS04AC unjoinResponseCode otherFailure (2,
# §13.7.4.6.1). The RTDS ERROR responses have the same form (`020103`).
_ASN1_RC = b"\x00\x0a\x03\x00\x0b\x06\x00\x0c\x03\x00\x0d\x05\x00\x0f\x02"


def _tlv(b, i):
    """(tag, content start, end) of the DER item at b[i]; IndexError/ValueError
    when it does not fit."""
    n, j = _len(b, i + 1)
    if j + n > len(b):
        raise ValueError("der")
    return b[i], j, j + n


def run(m, mc, pl):
    """The failure response of an ASN.1 use case this meter does not run
    (nothing executed), or None (CS02b: its ExecutionOutcome needs the
    replacements' certificates, not done)."""
    t = _ASN1_RC
    for k in range(0, len(t), 3):
        if (t[k] << 8) | t[k + 1] == mc:
            return b"\x02\x01" + t[k + 2:k + 3]
    if mc == 0x0012:
        # CS06 (§11.2.6): the CHOICE's executionOutcome SEQUENCE {
        # activateImageResponseCode activationFailure (3), firmwareVersion }
        v = m.cfg.get("firmware_version", "")
        fw = bytes(int(v[i:i + 2], 16) for i in range(0, len(v) - 1, 2))
        return b"\x30" + bytes((5 + len(fw),)) + b"\x02\x01\x03\x04" + bytes((len(fw),)) + fw
    if mc == 0x0008 or mc == 0x011B:
        # CS02a / CS02f (§13.2.6): SEQUENCE OF RemotePartyDetails { role,
        # statusCode other (127) }, one per role asked for (the command's
        # SEQUENCE { TrustAnchorCellIdentifier, SEQUENCE OF RemotePartyRole })
        out = bytearray()
        try:
            _, i, end = _tlv(pl, 0)
            i = _tlv(pl, i)[2]
            tg, i, end = _tlv(pl, i)
            while i < end and len(out) < 119:       # short-form length (<= 127)
                tg, j, e = _tlv(pl, i)
                if tg != 2 or e - i > 4:
                    break
                out += b"\x30" + bytes((e - i + 3,)) + pl[i:e] + b"\x0a\x01\x7f"
                i = e
        except (ValueError, IndexError):
            pass
        return b"\x30" + bytes((len(out),)) + out
    return None


