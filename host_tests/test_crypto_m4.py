"""The Cortex-M4 build of the C core under qemu-arm user mode: the generated
assembly (lib/esmecrypto/esme_p256_m4.h) against the portable C on random and
edge-case field operands, the P-256 API against OpenSSL on edge-case and
random scalars, and GCM against OpenSSL (lib/esmecrypto/m4/selftest.c). Host builds never compile the
assembly, so this is where it is tested. Needs Debian's gcc-arm-none-eabi and
qemu-user (make setup installs them)."""
import hashlib
import os
import random
import shutil
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "lib", "esmecrypto")
sys.path.insert(0, ROOT)
from tools import gen_p256_m4  # noqa: E402

N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551

pytestmark = pytest.mark.skipif(
    not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-arm")),
    reason="needs gcc-arm-none-eabi and qemu-user (Debian; make setup installs them)")


def test_generated_assembly_is_current():
    assert gen_p256_m4.main(["--check"]) == 0, "run python -m tools.gen_p256_m4"


def _cases():
    """Scalars d at the edges of the constant-time multiplication (see
    test_crypto.EDGE) and random ones; per d: d G, ECDH with a fixed peer, a
    signature with d as the nonce, and an OpenSSL signature by d."""
    rnd = random.Random(7)
    ds = [1, 2, 3, 16, 17, N - 1, 2 ** 255, 2 ** 252 + 1] + [N - 2 * k for k in range(1, 16, 2)]
    ds += [rnd.randrange(1, N) for _ in range(6)]
    peer_sk = ec.derive_private_key(0x1234567, ec.SECP256R1())
    pp = peer_sk.public_key().public_numbers()
    peer = pp.x.to_bytes(32, "big") + pp.y.to_bytes(32, "big")
    signer = 0xC0FFEE                          # the private key signing with each d as nonce
    cases = []
    for i, d in enumerate(ds):
        sk = ec.derive_private_key(d, ec.SECP256R1())
        pn = sk.public_key().public_numbers()
        msg = b"m4 case %d" % i
        digest = hashlib.sha256(msg).digest()
        e = int.from_bytes(digest, "big") % N
        r = pn.x % N
        s = pow(d, -1, N) * (e + r * signer) % N
        orr, oss = decode_dss_signature(sk.sign(msg, ec.ECDSA(hashes.SHA256())))
        cases.append({
            "d": d.to_bytes(32, "big"),
            "pub": pn.x.to_bytes(32, "big") + pn.y.to_bytes(32, "big"),
            "peer": peer,
            "z": sk.exchange(ec.ECDH(), peer_sk.public_key()),
            "signer": signer.to_bytes(32, "big"),
            "digest": digest,
            "sig": r.to_bytes(32, "big") + s.to_bytes(32, "big"),
            "osig": orr.to_bytes(32, "big") + oss.to_bytes(32, "big"),
        })
    return cases


FIELDS = ("d", "pub", "peer", "z", "signer", "digest", "sig", "osig")
SIZES = {"d": 32, "pub": 64, "peer": 64, "z": 32, "signer": 32, "digest": 32, "sig": 64, "osig": 64}


GCM_MAX = 100


def _gcm_cases():
    """Random keys, 12-, 8- and 60-octet IVs, AAD and plaintext
    lengths across block boundaries; OpenSSL's ciphertext and tag."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    rnd = random.Random(11)
    out = []
    for ivlen, aadlen, n in ((12, 0, 0), (12, 5, 16), (12, 20, 17), (8, 16, 33), (60, 31, 64),
                             (12, 40, GCM_MAX), (12, 0, 1)):
        key, iv = rnd.randbytes(16), rnd.randbytes(ivlen)
        aad, pt = rnd.randbytes(aadlen), rnd.randbytes(n)
        enc = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
        enc.authenticate_additional_data(aad)
        ct = enc.update(pt) + enc.finalize()
        out.append((key, iv, aad, pt, ct, enc.tag))
    return out


def _write_cases(path, cases, rounds):
    def arr(b):
        return "{" + ",".join("0x%02x" % x for x in b) + "}" if b else "{0}"
    with open(path, "w") as f:
        g = _gcm_cases()
        f.write("#define GCM_MAX %d\n#define N_GCM %d\n" % (GCM_MAX, len(g)))
        f.write("struct gcm_case {uint8_t key[16]; uint8_t iv[60]; size_t ivlen; uint8_t aad[40];"
                " size_t aadlen; uint8_t pt[GCM_MAX]; uint8_t ct[GCM_MAX]; size_t len;"
                " uint8_t tag[16];};\n")
        f.write("static const struct gcm_case GCM[] = {\n")
        for key, iv, aad, pt, ct, tag in g:
            f.write("  {%s, %s, %d, %s, %d, %s, %s, %d, %s},\n" % (
                arr(key), arr(iv), len(iv), arr(aad), len(aad), arr(pt), arr(ct), len(pt), arr(tag)))
        f.write("};\n")
        f.write("#define FIELD_ROUNDS %d\n#define N_CASES %d\n" % (rounds, len(cases)))
        f.write("struct api_case {%s};\n" % " ".join(
            "uint8_t %s[%d];" % (k, SIZES[k]) for k in FIELDS))
        f.write("static const struct api_case CASES[] = {\n")
        for c in cases:
            f.write("  {%s},\n" % ", ".join(arr(c[k]) for k in FIELDS))
        f.write("};\n")


def test_m4_assembly_and_api_under_qemu(tmp_path):
    cases = _cases()
    _write_cases(tmp_path / "cases.h", cases, rounds=20000)
    elf = tmp_path / "selftest.elf"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-Os", "-ffreestanding",
                    "-std=c99", "-Wall", "-Wextra", "-Werror", "-nostdlib", "-static",
                    "-I" + str(tmp_path), "-I" + SRC, "-I" + os.path.join(SRC, "m4", "include"), "-Wl,-Ttext=0x10000", "-Wl,-e,_start",
                    os.path.join(SRC, "m4", "selftest.c"), os.path.join(SRC, "esme_aes.c"),
                    os.path.join(SRC, "esme_gcm.c"), "-o", str(elf)], check=True)
    p = subprocess.run(["qemu-arm", str(elf)], capture_output=True, text=True, timeout=600)
    last = p.stdout.strip().splitlines()[-1:] or ["field checks"]
    assert p.returncode == 0, "check %d failed at %s" % (p.returncode, last[0])
    assert last[0] == "case %d" % (len(_gcm_cases()) - 1)    # every case ran to the last GCM one


CT_PROGRAM = r"""
#include <stddef.h>
#include <stdint.h>
#include "esmecrypto.h"
#include "scalar.h"
void *memcpy(void *d, const void *s, size_t n) {
    uint8_t *dd = d; const uint8_t *ss = s;
    while (n--) *dd++ = *ss++;
    return d;
}
void *memset(void *d, int c, size_t n) {
    uint8_t *dd = d;
    while (n--) *dd++ = (uint8_t)c;
    return d;
}
int run(void) {
    uint8_t out[64];
    return esme_p256_pubkey(D, out) == ESME_OK && esme_p256_ecdh(D, PEER, out) == ESME_OK &&
           esme_p256_sign(SIGNER, DIGEST, D, out) == ESME_OK;
}
__attribute__((naked, noreturn)) void _start(void) {
    __asm__ volatile("bl run\n eor r0, r0, #1\n mov r7, #1\n svc 0\n");
}
"""


def test_secret_scalar_paths_execute_the_same_instructions(tmp_path):
    """Public key, ECDH and signing with very different secret scalars (1, the
    n - 2 that makes the last addition a doubling, a random one) execute the
    same number of instructions on the M4 build: no branch depends on the
    scalar (qemu's per-instruction trace, as tools/m4_count.py counts)."""
    (tmp_path / "ct.c").write_text(CT_PROGRAM)
    peer = ec.derive_private_key(0x1234567, ec.SECP256R1()).public_key().public_numbers()
    counts = []
    for d in (1, N - 2, random.Random(9).randrange(1, N)):
        arrays = (("D", d.to_bytes(32, "big")), ("SIGNER", (0xC0FFEE).to_bytes(32, "big")),
                  ("DIGEST", hashlib.sha256(b"ct").digest()),
                  ("PEER", peer.x.to_bytes(32, "big") + peer.y.to_bytes(32, "big")))
        (tmp_path / "scalar.h").write_text("".join(
            "static const uint8_t %s[%d] = {%s};\n" % (n, len(b), ",".join(map(str, b)))
            for n, b in arrays))
        elf = tmp_path / "ct.elf"
        subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-Os", "-ffreestanding",
                        "-std=c99", "-nostdlib", "-static", "-I" + str(tmp_path), "-I" + SRC,
                        "-I" + os.path.join(SRC, "m4", "include"), "-Wl,-Ttext=0x10000",
                        "-Wl,-e,_start", str(tmp_path / "ct.c"), os.path.join(SRC, "esme_p256.c"),
                        "-o", str(elf)], check=True)
        # the trace (one line per instruction) is counted as it streams past
        p = subprocess.Popen(["qemu-arm", "-singlestep", "-d", "exec,nochain", "-D", "/dev/stdout",
                              str(elf)], stdout=subprocess.PIPE)
        n, tail = 0, b"\n"
        for block in iter(lambda: p.stdout.read(1 << 20), b""):
            buf = tail + block                 # a line start split between two reads
            n += buf.count(b"\nTrace")
            tail = buf[-5:]                    # shorter than the pattern: never counted twice
        assert p.wait(timeout=600) == 0
        counts.append(n)
    assert counts[0] > 3_000_000                    # all three operations ran
    assert counts[0] == counts[1] == counts[2], counts
