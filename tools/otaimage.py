"""OTA Upgrade Image builder and dumper (host side, CPython).

    python -m tools.otaimage build BUNDLE_DIR OUT.ota [--version N] [--manuf 0x1234]
        [--type 0] [--hw 1-1] [--key HEX|supplier] [--force]
    python -m tools.otaimage dump FILE.ota [--pub HEX|supplier]

Layout (GBCS v0.8.1 §11.2.2-11.2.4, notes/gbcs-messages-security.md §20.1):
    OTA header (ZCL rev 6 §11.4.2, 60 octets, field control 0x0004:
    hardware versions present) || Manufacturer Image || Force Replace (1)
    || 0x40 || supplier ECDSA P-256 signature r || s over the Manufacturer
    Image (SHA-256, GBCS deterministic nonce §4.3.3.2).
No OTA sub-elements (GBCS §11.2.3). Our Manufacturer Image is an
application bundle archive (firmware/ota/ab.py reads it):
    b"OEAB" version u8 (1), file count u16, then per file: name length u8,
    name (UTF-8, '/'-separated relative path), size u32, the file's octets.
The test keys are RTDS's supplier digitalSignature key
(../shared/vectors/rtds/keystore, entity 90B3D51F30010000).
"""
import hashlib
import json
import os
import struct
import sys

from firmware import crypto

MAGIC = 0x0BEEF11E
HDR_FMT = "<IHHHHHIH32sI"          # up to total image size (56 octets)
HDR_LEN = 60
FIELD_CONTROL = 0x0004
STACK_PRO = 0x0002
TRAILER = 66
KEYSTORE = os.environ.get("OTA_KEYSTORE", os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "vectors",
    "rtds", "keystore", "keys.json"))
if not os.path.exists(KEYSTORE):
    KEYSTORE = "/work/shared/vectors/rtds/keystore/keys.json"
SUPPLIER_DS = "90b3d51f30010000-ds"


def supplier_key():
    """(private 32, public 64) of the RTDS supplier DS test key."""
    with open(KEYSTORE) as f:
        k = json.load(f)["keys"][SUPPLIER_DS]
    return bytes.fromhex(k["private_key"]), bytes.fromhex(k["public_key"])[1:]


def archive(files):
    """Manufacturer Image from [(name, bytes)] (sorted by name)."""
    out = bytearray(b"OEAB\x01")
    out += struct.pack("<H", len(files))
    for name, data in sorted(files):
        nb = name.encode()
        out.append(len(nb))
        out += nb
        out += struct.pack("<I", len(data))
        out += data
    return bytes(out)


def unarchive(img):
    if img[:5] != b"OEAB\x01":
        raise ValueError("not a bundle archive")
    n = struct.unpack_from("<H", img, 5)[0]
    k = 7
    out = []
    for _ in range(n):
        ln = img[k]
        name = img[k + 1:k + 1 + ln].decode()
        size = struct.unpack_from("<I", img, k + 1 + ln)[0]
        k += 5 + ln
        out.append((name, img[k:k + size]))
        k += size
    if k != len(img):
        raise ValueError("archive length")
    return out


def bundle_files(root):
    out = []
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out.append((os.path.relpath(p, root).replace(os.sep, "/"), f.read()))
    return out


def build(manuf_image, version, manuf=0x1234, image_type=0, hw=(1, 1), priv=None,
          force=0, text=b"OpenESME application", field_control=FIELD_CONTROL):
    """The OTA file (bytes) around a Manufacturer Image."""
    if priv is None:
        priv = supplier_key()[0]
    sig = crypto.ecdsa_sign_gbcs(priv, manuf_image)
    hl = 56 + (4 if field_control & 4 else 0)
    total = hl + len(manuf_image) + TRAILER
    h = struct.pack(HDR_FMT, MAGIC, 0x0100, hl, field_control, manuf, image_type, version,
                    STACK_PRO, text.ljust(32, b"\0")[:32], total)
    if field_control & 4:
        h += struct.pack("<HH", hw[0], hw[1])
    return h + manuf_image + bytes([force, 0x40]) + sig


def parse(data, pub=None):
    """Every field of an OTA file as a dict, with the checks' results."""
    f = {}
    (magic, hv, hl, fc, m, t, ver, stack, text, total) = struct.unpack_from(HDR_FMT, data, 0)
    f.update(magic="0x%08X" % magic, magic_ok=magic == MAGIC, header_version="0x%04X" % hv,
             header_length=hl, field_control="0x%04X" % fc, manufacturer_code="0x%04X" % m,
             image_type="0x%04X" % t, file_version="0x%08X" % ver, stack_version="0x%04X" % stack,
             header_string=text.rstrip(b"\0").decode("latin-1"), total_image_size=total,
             file_size=len(data), size_ok=total == len(data))
    k = 56
    if fc & 1:
        f["security_credential_version"] = data[k]
        k += 1
    if fc & 2:
        f["upgrade_file_destination"] = "%016X" % struct.unpack_from("<Q", data, k)[0]
        k += 8
    if fc & 4:
        f["min_hw_version"], f["max_hw_version"] = struct.unpack_from("<HH", data, k)
        k += 4
    f["header_length_ok"] = k == hl
    mi = data[hl:len(data) - TRAILER]
    f["manufacturer_image_length"] = len(mi)
    f["force_replace"] = data[len(data) - TRAILER]
    f["signature_length_octet"] = "0x%02X" % data[len(data) - TRAILER + 1]
    sig = data[len(data) - 64:]
    f["signature"] = sig.hex()
    f["manufacturer_image_sha256"] = hashlib.sha256(mi).hexdigest()
    if pub is None:
        pub = supplier_key()[1]
    f["signature_ok"] = crypto.ecdsa_verify(pub, hashlib.sha256(mi).digest(), sig)
    try:
        f["bundle_files"] = [(n, len(d)) for n, d in unarchive(mi)]
    except (ValueError, IndexError, struct.error) as e:
        f["bundle_files"] = "not a bundle archive (%s)" % e
    return f


def _arg(argv, name, default):
    return argv[argv.index(name) + 1] if name in argv else default


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) >= 3 and argv[0] == "build":
        hw = _arg(argv, "--hw", "1-1").split("-")
        key = _arg(argv, "--key", "supplier")
        data = build(archive(bundle_files(argv[1])), int(_arg(argv, "--version", "2"), 0),
                     int(_arg(argv, "--manuf", "0x1234"), 0), int(_arg(argv, "--type", "0"), 0),
                     (int(hw[0], 0), int(hw[-1], 0)),
                     None if key == "supplier" else bytes.fromhex(key),
                     1 if "--force" in argv else 0)
        with open(argv[2], "wb") as f:
            f.write(data)
        print("%s: %d octets" % (argv[2], len(data)))
        return 0
    if len(argv) >= 2 and argv[0] == "dump":
        with open(argv[1], "rb") as f:
            data = f.read()
        pub = _arg(argv, "--pub", "supplier")
        f = parse(data, None if pub == "supplier" else bytes.fromhex(pub)[-64:])
        for k, v in f.items():
            if k == "bundle_files" and isinstance(v, list):
                print("%-28s %d files" % (k, len(v)))
                for n, s in v:
                    print("    %-40s %8d" % (n, s))
            else:
                print("%-28s %s" % (k, v))
        ok = f["magic_ok"] and f["size_ok"] and f["header_length_ok"] and f["signature_ok"]
        print("verdict                      %s" % ("OK" if ok else "BAD"))
        return 0 if ok else 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
