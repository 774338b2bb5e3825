# Metering value formatting: the single source of truth for what the meter
# puts on the wire and what its display (or any conforming IHD) shows.
#
# ZSE 1.x D.3.2.2.4 (Formatting set):
#   value in units = raw x Multiplier / Divisor   (kWh for summation, kW for
#   demand when UnitofMeasure = 0x00); both applied only when non-zero.
#   SummationFormatting / DemandFormatting (bitmap8):
#     bits 0-2 digits right of the decimal point, bits 3-6 digits left,
#     bit 7 suppress leading zeros.
# Integer arithmetic only (no floats in energy or money). Rendering truncates
# (a register never shows energy not yet consumed). The integer part is shown
# in the declared number of digits; a value too wide for them shows its low
# digits, as a fixed-width register display rolls over; 0 declared left
# digits means "as many as needed". Negative values (export demand) get '-'.
#
# Internal units: energy in Wh, power in W. Defaults for a GB single-phase
# ESME: kWh with Wh resolution (Multiplier 1, Divisor 1000), summation 7+3
# digits and demand 5+3 digits, leading zeros suppressed.

UNIT_KWH = const(0x00)
_DEFAULT_MULTIPLIER = const(1)
_DEFAULT_DIVISOR = const(1000)
_DEFAULT_SUMMATION_FMT = const(0xBB)    # 1 0111 011: suppress, 7 left, 3 right
_DEFAULT_DEMAND_FMT = const(0xAB)       # 1 0101 011: suppress, 5 left, 3 right
_INTERNAL_PER_UNIT = const(1000)       # Wh per kWh, W per kW


def _scale(m, d):
    """Multiplier and Divisor as the client applies them (0 = absent = 1)."""
    return (m or 1), (d or 1)


def to_wire(internal, multiplier, divisor):
    """Wire value for an internal Wh (or W) value: raw such that
    raw x M / D = internal / 1000, truncated towards zero. Called from the
    per-second reporting check: no tuple, no big int (allocation-free)."""
    m = multiplier or 1
    d = divisor or 1
    den = m * _INTERNAL_PER_UNIT
    if d == den:          # the default: one wire unit per Wh; no arithmetic, so
        return internal   # no big-int allocation in the per-second reporting path
    a = internal if internal >= 0 else -internal
    q, r = divmod(a, den)
    q = q * d + r * d // den      # = a * d // den without the wide product
    return q if internal >= 0 else -q


def render(raw, multiplier, divisor, fmt):
    """Text a conforming display shows for a wire value (no unit)."""
    m, d = _scale(multiplier, divisor)
    right = fmt & 0x07
    left = (fmt >> 3) & 0x0F
    suppress = fmt & 0x80
    neg = raw < 0
    if neg:
        raw = -raw
    p = 1
    for _ in range(right):
        p *= 10
    scaled = raw * m * p // d            # truncation
    ip = scaled // p
    fp = scaled - ip * p
    if left:
        lim = 1
        for _ in range(left):
            lim *= 10
        ip %= lim
    digits = str(ip)
    if left and not suppress:
        digits = "0" * (left - len(digits)) + digits
    out = digits
    if right:
        f = str(fp)
        out += "." + "0" * (right - len(f)) + f
    if neg and (ip or fp):
        out = "-" + out
    return out


# The names above that only the host's tests and tools read: public there,
# folded private constants on a board, no global each in this module's dict
# on its heap (issue #18).
if __import__("sys").implementation.name != "micropython":
    DEFAULT_MULTIPLIER = _DEFAULT_MULTIPLIER
    DEFAULT_DIVISOR = _DEFAULT_DIVISOR
    DEFAULT_SUMMATION_FMT = _DEFAULT_SUMMATION_FMT
    DEFAULT_DEMAND_FMT = _DEFAULT_DEMAND_FMT
