# A tariff at the engine's full capacity (48 TOU + 32 block prices, 4
# seasons, 4 weeks, 16 day profiles of 48 switch points, 50 special days,
# 8 x 3 thresholds, 48 labels), built as parts: shared by bench_tariff.py
# and tariff_full.py.


def full_parts():
    """The parts built directly (a JSON document this size would not fit
    the unix port's working heap; on a board it arrives in GBCS pieces)."""
    from firmware.tariff import calendar as C
    from firmware.tariff import matrix as M
    from firmware.platform.clock import BP_MONTH
    import struct
    # the compact form written directly (calendar.py header comment), so the
    # 768 switch points never exist as tuples in the heap
    cal = bytearray(8 + 4 * 5 + 4 * 8 + 16 * (2 + 4 * 48))
    struct.pack_into("<BBBB4s", cal, 0, 4, 4, 16, 4, b"full")
    off = 8
    for k in range(4):
        struct.pack_into("<HBBB", cal, off, C.ANY16, 1 + 3 * k, 1, k + 1)
        off += 5
    for w in range(1, 5):
        cal[off] = w
        for k in range(7):
            cal[off + 1 + k] = 1 + (w * 7 + k) % 16
        off += 8
    for i in range(1, 17):
        struct.pack_into("<BB", cal, off, i, 48)
        off += 2
        for j in range(48):
            struct.pack_into("<I", cal, off, (j * 1800) << 8 | (101 + (i + j) % 8))
            off += 4
    # (kept as the bytearray: a bytes copy would need a second 3 KB block)
    C.Calendar(cal)                       # it parses
    spd = C.build_special([(C.ANY16, 1 + k % 12, 1 + k % 28, C.ANY8, 1 + k % 16) for k in range(50)])
    prices = [10000 + i for i in range(M.N_SLOTS)]
    prc = M.pack_prices(1, 1, 826, -5, prices, {i: b"Rate %d" % i for i in range(1, 49)})
    thr = M.pack_thresholds(BP_MONTH, [[2000, 4000, 6000]] * 8)
    return {"cal": cal, "spd": spd, "prc": prc, "thr": thr, "stc": M.pack_standing(50000, 86400)}
