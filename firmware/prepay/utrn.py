# Prepayment top-up codes (GBCS §14): UTRN -> PPTD -> PTUT, the check digit,
# the UTRN counter cache and the PTUT supplier MAC.
#
#   UTRN  20 decimal digits = PPTD (19) || check digit            §14.3.3
#   PPTD  = PTUT + 7394156990786306048                            §14.3.1
#   PTUT  u64, two bit layouts of the high word (bits 63-32):
#     LATER (later GBCS, the DCC RTDS 4.5.0 CS01a vectors, gbcs-parser
#           src/utrn.ts; what deployed head-ends issue):
#           7 zero bits | truncated counter 56-47 | value class 46-45 |
#           value 44-32
#     V081  (GBCS v0.8.1 Table 14.3.2 / 14.6.4.1.2):
#           lead 000 | sub-class 0000 | value class 56-55 | value 54-42 |
#           truncated counter 41-32
#   then the supplier MAC in bits 31-0 (§14.3.4) in both.
# The LATER reading is the primary one; V081 is only a fallback for codes
# the LATER reading cannot authenticate (Account._top_up). Bits 63-57 must
# be zero in both (§14.3.9 sub-class and lead; the later 7 zero bits).
#
# Pure functions apart from Cache; no allocation beyond small ints.
import struct


PPTD_OFFSET = 7394156990786306048
PPTD_MAX = PPTD_OFFSET + (1 << 61) - 1       # lead bits 000
CACHE_SLOTS = const(100)                     # §14.1
FLAG_LOCAL = const(0)                        # keyed in on the meter or a PPMID
FLAG_NETWORK = const(1)                      # CS01a
_FLAG_FLOOR = const(2)                        # floor set by CS02b credential change (§13.3.5.10)
_CLASS_PENCE = const(0)                       # 1/100 currency unit
CLASS_POUNDS = const(1)                      # whole currency units
LATER = const(0)                             # PTUT layouts (see above)
V081 = const(1)

# rejection reasons (each maps to an alert in prepay/account.py)
BAD_FORMAT = const(1)         # not 20 digits, out of range, check digit, sub-class, value class
DUPLICATE = const(2)          # counter in the cache or not above its lowest entry
NOT_AUTHENTIC = const(3)      # PTUT supplier MAC
OVER_MAX_CREDIT = const(4)    # value above Maximum Credit Threshold (§14.3.8.1)
OVER_MAX_BALANCE = const(5)   # balance would exceed Maximum Meter Balance (§14.3.8.2)
NOT_FOR_DEVICE = const(6)     # no supplier top-up key for this meter


class UtrnError(ValueError):
    """args[0] is the reason (BAD_FORMAT ... NOT_FOR_DEVICE)."""


def check_digit(digits):
    """GBCS §14.8 check digit of the 19-digit PPTD (str or bytes)."""
    # Table 14.8a (rows 0..7), Table 14.8b (Verhoeff's d), Table 14.8c: bytes
    # constants in flash, bound here (module globals would cost the heap)
    tp = (b"0123456789" b"1576283094" b"5803796142" b"8916043527" b"9453126870"
          b"4286573901" b"2793806415" b"7046913258")
    td = (b"0123456789" b"1234067895" b"2340178956" b"3401289567" b"4012395678"
          b"5987604321" b"6598710432" b"7659821043" b"8765932104" b"9876543210")
    c = 0
    k = 4
    for ch in digits:
        d = (ch if isinstance(ch, int) else ord(ch)) - 48
        lv = tp[k * 10 + d] - 48
        k = k + 1 if k < 7 else 0
        c = td[c * 10 + lv] - 48
    return b"1267583094"[c] - 48


def parse(code, verify_check=True):
    """PTUT (int) of a 20-digit UTRN; UtrnError(BAD_FORMAT) otherwise.
    §14.6.4.1.1: the check digit is optional for the ESME; a PPMID-entered
    code has it dropped unchecked (§14.7), so verify_check=False there."""
    if isinstance(code, (bytes, bytearray)):
        try:
            code = bytes(code).decode()
        except UnicodeError:
            raise UtrnError(BAD_FORMAT)
    if len(code) != 20:
        raise UtrnError(BAD_FORMAT)
    for ch in code:
        if not "0" <= ch <= "9":
            raise UtrnError(BAD_FORMAT)
    if verify_check and check_digit(code[:19]) != ord(code[19]) - 48:
        raise UtrnError(BAD_FORMAT)
    pptd = int(code[:19])
    if not PPTD_OFFSET <= pptd <= PPTD_MAX:
        raise UtrnError(BAD_FORMAT)
    return pptd - PPTD_OFFSET


def fields(ptut, layout=LATER):
    """(lead bits 63-57, value_class, value, truncated counter, mac) of a
    PTUT read in one layout (LATER or V081, see the top of this module)."""
    h = ptut >> 32
    if layout == V081:
        return h >> 25, (h >> 23) & 3, (h >> 10) & 0x1FFF, h & 0x3FF, ptut & 0xFFFFFFFF
    return h >> 25, (h >> 13) & 3, h & 0x1FFF, (h >> 15) & 0x3FF, ptut & 0xFFFFFFFF


def check_fields(ptut, layout=LATER):
    """Value in pence (1/100 currency unit) of a well-formed PTUT.
    §14.3.9: a non-zero sub-class (any of bits 63-57) is rejected; value
    classes 10 and 11 are undefined (v0.8.1 and later), so rejected too."""
    lead, vc, value, _, _ = fields(ptut, layout)
    if lead or vc > CLASS_POUNDS:
        raise UtrnError(BAD_FORMAT)
    return value * 100 if vc == CLASS_POUNDS else value


def later_stage(a, b):
    """Of two rejection reasons, the one found later in the §14.6.4.1
    sequence: a code whose two readings both fail was rejected at the last
    check either reading got through to."""
    # position of each reason (the index) in the check sequence of §14.6.4.1
    # / §14.4.4: format, max credit, max balance, counter cache, keys, MAC
    st = b"\x00\x01\x04\x06\x02\x03\x05"
    return a if st[a] >= st[b] else b


def reconstruct(highest, r):
    """UTRN counter of a keyed-in code from its 10 truncated bits r and the
    highest counter in the cache (§14.6.4.1.5): the candidate nearest to
    highest (window of +-512), so codes used within 511 of each other work."""
    p = highest & 0x3FF
    q = highest - p
    if r < p - 512:
        s = r + 1024
    elif r > p + 512:
        s = r - 1024
    else:
        s = r
    if q + s < 0:
        s = r          # below counter 0 (a new meter with an empty cache): the window starts at 0
    return (q + s) & 0xFFFFFFFF


def aad(msg_id, ptut, legacy=False):
    """GMAC additional data (§14.3.5): 0x11 || Message Identifier (25) ||
    PTUT[63:32]. Later GBCS versions put five zero octets after 0x11
    (the form deployed head-ends use); v0.8.1 has none (legacy=True)."""
    pad = b"" if legacy else bytes(5)
    return b"\x11" + pad + msg_id + struct.pack(">I", ptut >> 32)


def message_id(supplier_id, device_id, counter):
    """§14.6.4.1.7: supplier top-up cell entity || own entity || 0x01 || OC,
    with OC = UTRN counter << 32 (top-up counters have 32 zero LSBs)."""
    return supplier_id + device_id + b"\x01" + struct.pack(">Q", counter << 32)


def mac_key(z, supplier_id, device_id, counter):
    """KDF (§4.3.3.3) of the static ECDH secret for one top-up: OtherInfo
    titles originator = supplier, recipient = device, tx id = 01 || OC."""
    from .. import crypto
    tx = b"\x01" + struct.pack(">Q", counter << 32)
    return crypto.kdf(z, crypto.other_info(supplier_id, tx, device_id))


def mac_ok(z, supplier_id, device_id, counter, ptut):
    """PTUT supplier MAC: the 32 least significant bits of the 128-bit GMAC
    tag (IV = supplier entity || 00000000, §4.3.3.4) equal PTUT[31:0].
    Both AAD forms are tried (a 2^-31 instead of 2^-32 forgery chance)."""
    from .. import crypto
    key = mac_key(z, supplier_id, device_id, counter)
    iv = supplier_id + bytes(4)
    mid = message_id(supplier_id, device_id, counter)
    want = ptut & 0xFFFFFFFF
    for legacy in (False, True):
        tag = crypto.gmac(key, iv, aad(mid, ptut, legacy), 16)
        if struct.unpack(">I", tag[12:16])[0] == want:
            return True
    return False


class Cache:
    """The UTRN counter cache (§14.1): up to 100 (counter, flag); when full
    the numerically lowest entry is overwritten. Kept as two preallocated
    arrays; packed into the meter's register record so that a top-up's
    cache entry and its credit are one atomic write."""

    def __init__(self):
        self.counters = [0] * CACHE_SLOTS
        self.flags = bytearray(CACHE_SLOTS)
        self.n = 0

    def lowest(self):
        return min(self.counters[:self.n]) if self.n else 0

    def highest(self):
        return max(self.counters[:self.n]) if self.n else 0

    def accepts(self, counter):
        """§14.3.6: above the lowest entry and not present."""
        if not self.n:
            return True
        c = self.counters
        lo = c[0]
        for i in range(self.n):
            if c[i] == counter:
                return False
            if c[i] < lo:
                lo = c[i]
        return counter > lo

    def add(self, counter, flag):
        if self.n < CACHE_SLOTS:
            i = self.n
            self.n += 1
        else:
            c = self.counters
            i = 0
            for j in range(1, CACHE_SLOTS):
                if c[j] < c[i]:
                    i = j
        self.counters[i] = counter
        self.flags[i] = flag

    def reset(self, floor):
        """Supplier credential change (§13.3.5.10): one floor entry."""
        self.n = 0
        self.add(floor, _FLAG_FLOOR)

    def pack(self):
        out = bytearray(1 + 5 * self.n)
        out[0] = self.n
        for i in range(self.n):
            struct.pack_into("<IB", out, 1 + 5 * i, self.counters[i], self.flags[i])
        return out

    def unpack(self, b, off):
        n = b[off]
        if n > CACHE_SLOTS:
            raise ValueError("utrn cache")
        for i in range(n):
            self.counters[i], self.flags[i] = struct.unpack_from("<IB", b, off + 1 + 5 * i)
        self.n = n
        return off + 1 + 5 * n


# The names above that only the host's tests and tools read: public there,
# folded private constants on a board, no global each in this module's dict
# on its heap (issue #18).
if __import__("sys").implementation.name != "micropython":
    FLAG_FLOOR = _FLAG_FLOOR
