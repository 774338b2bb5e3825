"""Writes lib/esmecrypto/esme_p256_m4.h: the P-256 field multiplication,
addition and subtraction and the Montgomery product mod n for the Cortex-M4
(ARMv7E-M, Thumb-2) as naked functions. The code is generated because the product keeps a moving window of
the partial result in registers whose roles rotate every row, which is easy to
get wrong by hand and easy to get right in a loop.

    python -m tools.gen_p256_m4            # rewrite the header
    python -m tools.gen_p256_m4 --check    # exit 1 if the header is stale

host_tests/test_crypto_m4.py checks the generated code against the portable C
under qemu-arm (random and edge-case operands) and runs --check."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "lib", "esmecrypto", "esme_p256_m4.h")

# p = 2^256 - 2^224 + 2^192 + 2^96 - 1, little-endian words
P = [0xffffffff, 0xffffffff, 0xffffffff, 0, 0, 0, 1, 0xffffffff]
ACC = ["r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11"]   # ascending: ldm/stm


def product():
    """t[0..15] = a * b at [sp, #0..60]; a = r1, b = r2. Operand scanning,
    one UMAAL per word product: row i adds a * b[i] into t[i..i+8]. t[i..i+7]
    live in eight registers and the row carry in a ninth; after the row the
    finished t[i] is stored and its register becomes the next row's carry."""
    out = []
    pool = ["r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11"]
    bi, aj = "r12", "lr"
    win = pool[:8]           # win[k] holds t[i + k]
    carry = pool[8]
    for r in win:
        out.append("mov %s, #0" % r)
    for i in range(8):
        out.append("ldr %s, [r2, #%d]" % (bi, 4 * i))
        out.append("mov %s, #0" % carry)
        for j in range(8):
            out.append("ldr %s, [r1, #%d]" % (aj, 4 * j))
            out.append("umaal %s, %s, %s, %s" % (win[j], carry, aj, bi))
        out.append("str %s, [sp, #%d]" % (win[0], 4 * i))
        win, carry = win[1:] + [carry], win[0]
    for k in range(8):
        out.append("str %s, [sp, #%d]" % (win[k], 4 * (8 + k)))
    return out


# FIPS 186-4 D.2.3: r = T + 2 S1 + 2 S2 + S3 + S4 - D1 - D2 - D3 - D4 (mod p),
# each term a 256-bit vector of words c8..c15 (None = zero), word 0 first.
S1 = [None, None, None, 11, 12, 13, 14, 15]
S2 = [None, None, None, 12, 13, 14, 15, None]
S3 = [8, 9, 10, None, None, None, 14, 15]
S4 = [9, 10, 11, 13, 14, 15, 13, 8]
D1 = [11, 12, 13, None, None, None, 8, 10]
D2 = [12, 13, 14, 15, None, None, 9, 11]
D3 = [13, 14, 15, 8, 9, 10, None, 12]
D4 = [14, 15, None, 9, 10, 11, None, 13]


class Temps:
    """c8..c15 loaded from the stack into five scratch registers, reused while
    they stay (least recently used goes)."""

    def __init__(self, out):
        self.out = out
        self.regs = ["r0", "r1", "r2", "r3", "lr"]
        self.held = {}          # word index -> register
        self.order = []

    def get(self, w):
        if w in self.held:
            self.order.remove(w)
            self.order.append(w)
            return self.held[w]
        if len(self.held) < len(self.regs):
            reg = [r for r in self.regs if r not in self.held.values()][0]
        else:
            old = self.order.pop(0)
            reg = self.held.pop(old)
        self.out.append("ldr %s, [sp, #%d]" % (reg, 4 * w))
        self.held[w] = reg
        self.order.append(w)
        return reg


def chain(out, temps, vec, sub, top="r12"):
    """ACC +/-= vec, carry or borrow into the signed top word."""
    first = next(k for k, w in enumerate(vec) if w is not None)
    op0, opn = ("subs", "sbcs") if sub else ("adds", "adcs")
    for k in range(first, 8):
        # loads leave the flags alone, so they sit inside the carry chain
        src = "#0" if vec[k] is None else temps.get(vec[k])
        out.append("%s %s, %s, %s" % (op0 if k == first else opn, ACC[k], ACC[k], src))
    out.append("%s %s, %s, #0" % ("sbc" if sub else "adc", top, top))


def fold(out, top, new):
    """ACC + top * 2^256 == ACC + top * (2^224 - 2^192 - 2^96 + 1) (mod p),
    top signed: add top at word 0, subtract it at words 3 and 6, add it at
    word 7, sign-extended; the signed carry out goes to `new`."""
    ms = "r0"
    out.append("asr %s, %s, #31" % (ms, top))
    out.append("adds %s, %s, %s" % (ACC[0], ACC[0], top))
    for k in range(1, 8):
        out.append("adcs %s, %s, %s" % (ACC[k], ACC[k], ms))
    out.append("adc %s, %s, #0" % (new, ms))
    out.append("subs %s, %s, %s" % (ACC[3], ACC[3], top))
    for k in range(4, 8):
        out.append("sbcs %s, %s, %s" % (ACC[k], ACC[k], ms))
    out.append("sbc %s, %s, %s" % (new, new, ms))
    out.append("subs %s, %s, %s" % (ACC[6], ACC[6], top))
    out.append("sbcs %s, %s, %s" % (ACC[7], ACC[7], ms))
    out.append("sbc %s, %s, %s" % (new, new, ms))
    out.append("adds %s, %s, %s" % (ACC[7], ACC[7], top))
    out.append("adc %s, %s, %s" % (new, new, ms))


def cond_sub_p(out, carry):
    """ACC (< 2^257 with `carry` the bit above) -> ACC mod p, given the value
    is below 2p: subtract p, and add it back under the borrow mask."""
    ones = "r1"
    out.append("mvn %s, #0" % ones)
    srcs = [ones if w == 0xffffffff else "#%d" % w for w in P]
    for k in range(8):
        out.append("%s %s, %s, %s" % ("subs" if k == 0 else "sbcs", ACC[k], ACC[k], srcs[k]))
    out.append("sbc %s, %s, #0" % (carry, carry))             # -1 when it went negative
    add_back(out, carry)


def add_back(out, mask):
    """ACC += p & mask (mask 0 or all ones), carry out dropped."""
    srcs = [{0xffffffff: mask, 0: "#0", 1: mask + ", lsr #31"}[w] for w in P]
    for k in range(8):
        out.append("%s %s, %s, %s" % ("adds" if k == 0 else "adcs", ACC[k], ACC[k], srcs[k]))


def fp_mul():
    out = ["push {r0, r4-r11, lr}", "sub sp, sp, #64"]
    out += product()
    out.append("ldm sp, {%s-%s}" % (ACC[0], ACC[7]))           # T = c0..c7
    temps = Temps(out)
    top = "r12"
    out.append("mov %s, #0" % top)
    for vec, sub in ((S1, 0), (S1, 0), (S2, 0), (S2, 0), (S3, 0), (S4, 0),
                     (D1, 1), (D2, 1), (D3, 1), (D4, 1)):
        chain(out, temps, vec, sub, top)
    # value = ACC + top * 2^256 with -4 <= top <= 6: two folds leave it in
    # [0, 2^256) (README.md), then one conditional subtraction of p.
    fold(out, top, "r2")
    fold(out, "r2", top)
    cond_sub_p(out, top)
    out += ["ldr r0, [sp, #64]", "stm r0, {%s-%s}" % (ACC[0], ACC[7]),
            "add sp, sp, #64", "pop {r0, r4-r11, pc}"]
    return out


def fp_addsub(sub):
    """r = a + b or a - b mod p for a, b < p: the carry chain, then the
    sum reduced by one conditional subtraction, or p added back to a
    difference that borrowed."""
    out = ["push {r4-r11, lr}", "ldm r1, {%s-%s}" % (ACC[0], ACC[7])]
    first, rest = ("subs", "sbcs") if sub else ("adds", "adcs")
    for k in range(8):
        out.append("ldr r3, [r2, #%d]" % (4 * k))
        out.append("%s %s, %s, r3" % (first if k == 0 else rest, ACC[k], ACC[k]))
    if sub:
        out.append("sbc r12, r12, r12")                        # -1 when a < b
        add_back(out, "r12")
    else:
        out.append("mov r12, #0")
        out.append("adc r12, r12, #0")
        cond_sub_p(out, "r12")
    out += ["stm r0, {%s-%s}" % (ACC[0], ACC[7]), "pop {r4-r11, pc}"]
    return out


def mont_mul():
    """r = a * b / 2^256 mod m (a < 2^256, b < m; r3 = the modulus record:
    m at offset 0, -m^-1 mod 2^32 at 96). The same product, then eight
    Montgomery rows q = t[i] * minv, t += q * m * 2^(32 i), each with its
    carry folded into t[i + 8] by one more UMAAL (1 * carry + t + overflow),
    and one conditional subtraction of m."""
    out = ["push {r0, r3, r4-r11, lr}", "sub sp, sp, #64"]
    out += product()
    out.append("ldr r2, [sp, #68]")                            # the modulus record
    out.append("ldm sp, {r4-r11}")
    win, carry, q, mj, one, ovf = ["r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11"], "r3", "r12", "lr", "r1", "r0"
    out += ["mov %s, #1" % one, "mov %s, #0" % ovf]
    for i in range(8):
        out.append("ldr %s, [r2, #96]" % q)
        out.append("mul %s, %s, %s" % (q, q, win[0]))
        out.append("mov %s, #0" % carry)
        for j in range(8):
            out.append("ldr %s, [r2, #%d]" % (mj, 4 * j))
            out.append("umaal %s, %s, %s, %s" % (win[j], carry, q, mj))
        t8 = win[0]                                            # now zero: reused for t[i + 8]
        out.append("ldr %s, [sp, #%d]" % (t8, 4 * (i + 8)))
        out.append("umaal %s, %s, %s, %s" % (t8, ovf, one, carry))
        win = win[1:] + [t8]
    # value = win + ovf * 2^256 < 2m: subtract m, add it back under the borrow
    for j in range(8):
        out.append("ldr %s, [r2, #%d]" % (mj, 4 * j))
        out.append("%s %s, %s, %s" % ("subs" if j == 0 else "sbcs", win[j], win[j], mj))
    out.append("sbc %s, %s, #0" % (ovf, ovf))
    for j in range(8):
        out.append("ldr %s, [r2, #%d]" % (mj, 4 * j))
        out.append("and %s, %s, %s" % (mj, mj, ovf))
        out.append("%s %s, %s, %s" % ("adds" if j == 0 else "adcs", win[j], win[j], mj))
    out.append("ldr r0, [sp, #64]")
    for j in range(8):
        out.append("str %s, [r0, #%d]" % (win[j], 4 * j))
    out += ["add sp, sp, #64", "pop {r0, r3, r4-r11, pc}"]
    return out


def function(name, doc, body, args="limbs r, const limbs a, const limbs b"):
    # the body reads the arguments from r0-r3, which the compiler cannot see
    args = ", ".join("M4_ARG(%s)" % a for a in args.split(", "))
    lines = ["/* %s */" % doc,
             "__attribute__((naked, noinline)) static void %s(%s) {" % (name, args),
             "    __asm__ volatile("]
    lines += ['        "%s\\n"' % ins for ins in body]
    lines += ["    );", "}", ""]
    return lines


def render():
    head = [
        "/* Generated by tools/gen_p256_m4.py: do not edit. P-256 field arithmetic",
        " * for the Cortex-M4 (ARMv7E-M Thumb-2), included by esme_p256.c when",
        " * __ARM_FEATURE_DSP is defined; the portable C in esme_p256.c is the",
        " * reference (host_tests/test_crypto_m4.py compares the two under qemu-arm).",
        " * Straight-line code: no branch or address depends on the operands. */",
        "",
        "#define M4_ARG(decl) decl __attribute__((unused))",
        "",
    ]
    body = (function("fp_mul", "r = a * b mod p: 64 UMAAL product, FIPS 186-4 D.2.3 reduction",
                     fp_mul())
            + function("fp_add", "r = a + b mod p (a, b < p)", fp_addsub(False))
            + function("fp_sub", "r = a - b mod p (a, b < p)", fp_addsub(True))
            + function("mont_mul", "r = a * b / 2^256 mod m (Montgomery, CIOS rows after the product)",
                       mont_mul(), "limbs r, const limbs a, const limbs b, const modulus *M"))
    return "\n".join(head + body)


def main(argv):
    text = render()
    if "--check" in argv:
        with open(OUT) as f:
            return 0 if f.read() == text else 1
    with open(OUT, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
