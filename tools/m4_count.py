"""Cortex-M4 estimate for the esmecrypto C core (make bench).

Cross-compiles the core with Debian's gcc-arm-none-eabi (-mcpu=cortex-m4
-mthumb -Os), reports code size per function, and counts executed
instructions of one verify, one sign, one ECDH and GCM per byte by running a
freestanding harness (lib/esmecrypto/m4/harness.c, GBCS §18.4 inputs, exit
status checks the result) under qemu-arm user mode with -singlestep -d
exec,nochain: one log line per executed instruction. Debian's qemu 7.2 ships
no TCG plugins, so this is the counting method. The harness binary holds only
Thumb-2 code generated for the M4, which qemu's default ARM CPU executes
instruction for instruction; a baseline build is subtracted."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "lib", "esmecrypto")
CORE = [os.path.join(SRC, f) for f in ("esme_aes.c", "esme_gcm.c", "esme_p256.c")]
# m4/include holds a string.h declaring memcpy/memset: no newlib needed
FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-Os", "-ffreestanding", "-std=c99",
         "-I" + os.path.join(SRC, "m4", "include")]
TARGETS = {"verify": 3_000_000, "sign": 2_000_000, "ecdh": 2_000_000}


def available():
    return all(shutil.which(t) for t in ("arm-none-eabi-gcc", "arm-none-eabi-nm", "qemu-arm"))


def write_inputs(d):
    """inputs.h for the harness, from the GBCS §18.4 vectors."""
    v = json.load(open(os.path.join(ROOT, "host_tests", "vectors", "gbcs-18.4.json")))
    ent, h = v["entities"], bytes.fromhex
    m = v["messages"]["V1_ECS04b_command"]
    msg = h(m["hex"])
    at = msg.index(b"\xdf\x09")
    gh, pl = msg[at:at + 34], msg[at + 34:at + 34 + 0x35]
    signed = b"\x01" + gh[3:11] + gh[12:20] + gh[21:29] + gh[31:33] + pl
    arrays = (
        ("SUP_DS_PUB", h(ent["SupplierA"]["ds_pub"])[1:]), ("SUP_DS_PRIV", h(ent["SupplierA"]["ds_priv"])),
        ("DIGEST_V1", hashlib.sha256(signed).digest()), ("KRP_SIG", h(m["krp_signature"])),
        ("K_V1", h(m["k"])), ("DEV_KA_PRIV", h(ent["DeviceA"]["ka_priv"])),
        ("ACB_KA_PUB", h(ent["ACB"]["ka_pub"])[1:]), ("Z_ACB", h(v["Z"]["ACB,DeviceA"])),
        ("MAC_KEY", h(m["acb_mac_key"])), ("IV", h("123456789ABCDEF000000000")))
    # the GCM runs encrypt zeros; their tags (OpenSSL) let the harness check
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    for n in (16, 1040):
        arrays += (("TAG_%d" % n, AESGCM(h(m["acb_mac_key"])).encrypt(
            h("123456789ABCDEF000000000"), bytes(n), b"")[-16:]),)
    with open(os.path.join(d, "inputs.h"), "w") as f:
        for name, b in arrays:
            f.write("static const uint8_t %s[%d] = {%s};\n" % (
                name, len(b), ",".join("0x%02x" % x for x in b)))


def build(d, op, gcm_len=16):
    out = os.path.join(d, "%s_%d.elf" % (op, gcm_len))
    if not os.path.exists(os.path.join(d, "inputs.h")):
        write_inputs(d)
    subprocess.run(["arm-none-eabi-gcc"] + FLAGS + [
        "-nostdlib", "-static", "-DOP_" + op.upper(), "-DGCM_LEN=%d" % gcm_len, "-I" + SRC, "-I" + d,
        "-Wl,-Ttext=0x10000", "-Wl,-e,_start", os.path.join(SRC, "m4", "harness.c")] + CORE +
        ["-o", out], check=True, stderr=subprocess.DEVNULL)
    return out


def count(elf):
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        p = subprocess.run(["qemu-arm", "-singlestep", "-d", "exec,nochain", "-D", log.name, elf])
        if p.returncode != 0:
            raise RuntimeError("%s: wrong result (exit %d)" % (elf, p.returncode))
        n = 0
        with open(log.name, "rb") as f:
            for line in f:
                if line.startswith(b"Trace"):
                    n += 1
        return n


def code_sizes(d):
    obj = os.path.join(d, "core.o")
    subprocess.run(["arm-none-eabi-gcc"] + FLAGS + ["-c", "-o", obj, "-include", "stddef.h",
                    "-x", "c", "-"], input=b"".join(
                        b'#include "%s"\n' % c.encode() for c in CORE), check=True)
    nm = subprocess.run(["arm-none-eabi-nm", "--size-sort", "-S", obj], capture_output=True,
                        text=True, check=True).stdout
    rows = []
    for line in nm.splitlines():
        addr, size, kind, name = line.split()
        rows.append((int(size, 16), kind, name))
    sec = subprocess.run(["arm-none-eabi-size", "-A", obj], capture_output=True, text=True).stdout
    return sorted(rows, reverse=True), sec


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv:                                   # quick: instruction counts of named ops
        with tempfile.TemporaryDirectory() as d:
            base = count(build(d, "base"))
            for op in argv:
                print(op, count(build(d, op)) - base)
        return 0
    if not available():
        print("Cortex-M4 estimate skipped: needs gcc-arm-none-eabi and qemu-user (Debian)")
        return 0
    with tempfile.TemporaryDirectory() as d:
        rows, sec = code_sizes(d)
        total = sum(s for s, k, n in rows if k in "tT")
        ro = sum(s for s, k, n in rows if k in "rR")
        data = [n for s, k, n in rows if k in "dDbB"]
        print("== Cortex-M4 (arm-none-eabi-gcc %s, -mcpu=cortex-m4 -mthumb -Os)" %
              subprocess.run(["arm-none-eabi-gcc", "-dumpversion"], capture_output=True,
                             text=True).stdout.strip())
        print("code %d bytes + const tables %d bytes = %d bytes (target < 16384); .data/.bss symbols: %s"
              % (total, ro, total + ro, data or "none"))
        for s, k, n in rows[:14]:
            print("  %6d  %s %s" % (s, k, n))
        base = count(build(d, "base"))
        print("%-8s %12s %12s" % ("op", "instructions", "target"))
        for op, target in TARGETS.items():
            n = count(build(d, op)) - base
            print("%-8s %12d %12d  %s" % (op, n, target, "ok" if n < target else "OVER"))
        g1 = count(build(d, "gcm", 16))
        g2 = count(build(d, "gcm", 1040))
        per = (g2 - g1) / 1024.0
        print("%-8s %12.1f %12d  %s  (instructions per byte, 1 KiB difference)" % (
            "gcm/B", per, 80, "ok" if per < 80 else "OVER"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
