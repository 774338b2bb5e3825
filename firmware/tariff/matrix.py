# Price matrix, block thresholds and standing charge (GBCS §7.3.7.2, Table
# 7.3.7.2; §2.6-2.7 of the functional digest). Money and energy are
# integers: prices are charge_per_unit per kWh in units of 10^price_scaler of
# the currency (e.g. -5: 24500 = 0.245 GBP/kWh); thresholds are Wh.
#
# Slots (one list of ints, so lookups in the per-second path never
# allocate):
#   0..47   TOU index t (0x01..0x30)             register 1-0:1.8.t
#   48..79  block b band t, index 0xA0+0x10(b-1)+t  register 1-b:1.8.t
#   80..83  secondary TOU index t (0-0:19.2.5)   register 1-20:1.8.t
import struct


_BP_MONTH = const(3)             # = platform.clock.BP_MONTH

N_TOU = const(48)
N_BANDS = const(8)
N_BLOCKS = const(4)
N_SEC = const(4)
SLOT_BLOCK = const(48)
_SLOT_SEC = const(80)
N_SLOTS = const(84)
_N_PRIMARY = const(80)


class MatrixError(ValueError):
    pass


def slot_of_index(index):
    """Price-matrix slot of a Table 7.3.7.2 index of the primary matrix."""
    if 0x01 <= index <= 0x30:
        return index - 1
    b = (index >> 4) - 0x0A
    t = index & 0x0F
    if 0 <= b < N_BLOCKS and 1 <= t <= N_BANDS:
        return SLOT_BLOCK + b * N_BANDS + t - 1
    return -1


def index_of_slot(s):
    """Table 7.3.7.2 index of primary price-matrix slot s (0..79)."""
    if s < N_TOU:
        return s + 1
    s -= SLOT_BLOCK
    return 0xA1 + ((s >> 3) << 4) + (s & 7)


def block_slot(block, band):
    """Slot of block 1..4 in time band 1..8."""
    return SLOT_BLOCK + (block - 1) * N_BANDS + band - 1


def prices_from_pairs(pairs, secondary=None):
    """The §7.3.7.2 rule: a unit_charge write on 0-0:19.2.0.255 must hold
    every one of the 80 indices of Table 7.3.7.2 and no other; one on
    0-0:19.2.5.255 exactly indices 1-4. Returns the 84 prices."""
    out = [0] * N_SLOTS
    seen = bytearray(N_SLOTS)
    for index, price in pairs:
        s = slot_of_index(index)
        if s < 0 or seen[s]:
            raise MatrixError("index 0x%02X not in Table 7.3.7.2" % index
                              if s < 0 else "index 0x%02X twice" % index)
        _check_price(price)
        seen[s] = 1
        out[s] = price
    if sum(seen) != _N_PRIMARY:
        raise MatrixError("price matrix incomplete: %d of 80 indices" % sum(seen))
    if secondary is not None:
        for index, price in secondary:
            if not 1 <= index <= N_SEC or seen[_SLOT_SEC + index - 1]:
                raise MatrixError("secondary index 0x%02X" % index)
            _check_price(price)
            seen[_SLOT_SEC + index - 1] = 1
            out[_SLOT_SEC + index - 1] = price
        if sum(seen) != N_SLOTS:
            raise MatrixError("secondary matrix incomplete")
    return out


def _check_price(p):
    if not 0 <= p <= 0xFFFFFFFF:
        raise MatrixError("price out of range")


# -- stored forms ------------------------------------------------------------------------
# prices part: tariff_id u32, provider_id u32, currency u16, scaler i8,
#   84 x u32, n_labels u8, then (tier u8, len u8, label)
_PHDR = "<IIHb"


def pack_prices(tariff_id, provider_id, currency, scaler, prices, labels):
    out = bytearray(struct.pack(_PHDR, tariff_id, provider_id, currency, scaler))
    for p in prices:
        out += struct.pack("<I", p)
    out.append(len(labels))
    for tier in sorted(labels):
        lab = labels[tier][:12]           # ZSE TierNPriceLabel: octet string, max 12
        out += struct.pack("<BB", tier, len(lab))
        out += lab
    return bytes(out)


def unpack_prices(blob):
    tid, pid, cur, sc = struct.unpack_from(_PHDR, blob, 0)
    off = struct.calcsize(_PHDR)
    prices = [0] * N_SLOTS    # sized once: a comprehension grows it to 128 slots (1 KB on MicroPython)
    for i in range(N_SLOTS):
        prices[i] = struct.unpack_from("<I", blob, off + 4 * i)[0]
    off += 4 * N_SLOTS
    labels = {}
    for _ in range(blob[off]):
        tier, n = blob[off + 1], blob[off + 2]
        labels[tier] = bytes(blob[off + 3:off + 3 + n])
        off += 2 + n
    return tid, pid, cur, sc, prices, labels


# thresholds part: block period u8, then per band: count u8, 3 x u32 Wh.
# The block period codes (BP_*, platform/clock.py with the period maths) are
# ZSE's Block Period Duration Type timebase, so the Price cluster publishes
# them as they are (their names in documents: loader.py BP_NAMES).


def pack_thresholds(period, bands):
    """bands: 8 lists of 0-3 ascending thresholds in Wh (time band t at
    bands[t-1]); 3 thresholds separate 4 blocks (Tbl 9.2.2.7)."""
    if len(bands) != N_BANDS or not 0 <= period <= _BP_MONTH:
        raise MatrixError("thresholds")
    out = bytearray((period,))
    for th in bands:
        if len(th) > N_BLOCKS - 1 or any(th[i] >= th[i + 1] for i in range(len(th) - 1)) \
                or any(not 0 < x <= 0xFFFFFFFF for x in th):
            raise MatrixError("block thresholds must be 0-3 ascending positive values")
        out += struct.pack("<B3I", len(th), *(list(th) + [0] * (3 - len(th))))
    return bytes(out)


def unpack_thresholds(blob):
    """(block period, 8 tuples of 0-3 thresholds): tuples, as an unused
    band's empty one is the shared empty tuple (an empty list takes 32
    octets of a 32-bit heap)."""
    bands = []
    for t in range(N_BANDS):
        v = struct.unpack_from("<B3I", blob, 1 + 13 * t)
        bands.append(v[1:1 + v[0]])
    return blob[0], bands


# standing charge part: amount u32 (price units), period s u32 (Charge attr 8)
def pack_standing(amount, period_s):
    if not 0 <= amount <= 0xFFFFFFFF or not 0 < period_s <= 0xFFFFFFFF:
        raise MatrixError("standing charge")
    return struct.pack("<II", amount, period_s)


def unpack_standing(blob):
    return struct.unpack("<II", blob)
