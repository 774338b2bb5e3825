# Tariff documents (JSON, see tariffs/README.md) to validated tariff parts.
# The GBCS route (ECS01 set tariff) will produce the same parts from DLMS
# structures; both end in engine.stage().
from . import matrix as M
from . import calendar as C

# other modules' constants, folded here (host_tests/test_const_copies.py keeps them equal)
_ANY16 = const(0xFFFF)    # = tariff.calendar.ANY16
_ANY8 = const(0xFF)       # = tariff.calendar.ANY8
_N_BANDS = const(8)       # = tariff.matrix.N_BANDS
_N_BLOCKS = const(4)      # = tariff.matrix.N_BLOCKS
_N_SEC = const(4)         # = tariff.matrix.N_SEC
_N_TOU = const(48)        # = tariff.matrix.N_TOU

BP_NAMES = ("none", "day", "week", "month")    # block period codes 0..3 (platform/clock.py)


def _date(s):
    """'YYYY-MM-DD' with '*' for any year, month or day -> (y, m, d); a
    (y, m, d) tuple with 0xFFFF / 0xFF wildcards as it is (the GBCS route)."""
    if isinstance(s, tuple):
        return s
    parts = s.split("-")
    if len(parts) != 3:
        raise C.CalendarError("date " + s)
    y = _ANY16 if parts[0] == "*" else int(parts[0])        # "*": any (wildcard)
    m = _ANY8 if parts[1] == "*" else int(parts[1])
    d = _ANY8 if parts[2] == "*" else int(parts[2])
    return y, m, d


def _time(s):
    """'HH:MM' or 'HH:MM:SS' -> seconds of the day (UTC); seconds as they are."""
    if isinstance(s, int):
        if not 0 <= s < 86400:
            raise C.CalendarError("time")
        return s
    f = [int(x) for x in s.split(":")]
    if len(f) == 2:
        f.append(0)
    if len(f) != 3 or not (0 <= f[0] < 24 and 0 <= f[1] < 60 and 0 <= f[2] < 60):
        raise C.CalendarError("time " + s)
    return f[0] * 3600 + f[1] * 60 + f[2]


def _pad(values, n, what):
    if len(values) > n:
        raise M.MatrixError("too many " + what)
    return list(values) + [0] * (n - len(values))


def _check_len(values, n, what):
    if len(values) > n:
        raise M.MatrixError("too many " + what)
    return values


def _price_pairs(tou, blocks):
    """(Table 7.3.7.2 index, price) of the 80 primary indices, one at a time:
    the matrix is checked and built without a list of 80 pairs (on the
    MicroPython heap that list alone needs a 1 KB block)."""
    for i in range(_N_TOU):
        yield i + 1, tou[i] if i < len(tou) else 0
    for t in range(_N_BANDS):
        bp = blocks[t] if t < len(blocks) else None
        for b in range(_N_BLOCKS):
            yield 0xA0 + 0x10 * b + t + 1, bp[b] if bp and b < len(bp) else 0


def _sec_pairs(sec):
    for i in range(_N_SEC):
        yield i + 1, sec[i] if i < len(sec) else 0


def _pairs(d):
    """A dict's items, or a list of (key, value) (the GBCS route: in order)."""
    return d.items() if isinstance(d, dict) else d


def parts_from_doc(doc):
    """kind -> blob for every part the document carries. Raises ValueError
    (CalendarError, MatrixError) on anything invalid; builds nothing partial."""
    out = {}
    cal = doc.get("calendar")
    if cal is not None:
        seasons = []
        names = []
        for e in cal["seasons"]:
            y, m, d = _date(e[0])
            if m == _ANY8 or d == _ANY8:
                raise C.CalendarError("season start needs month and day")
            seasons.append((y, m, d, int(e[1])))
            if len(e) > 2:                 # [start, week, name]: the name kept (GBCS ECS24)
                names.append(e[2].encode() if isinstance(e[2], str) else bytes(e[2]))
        weeks = [(int(k), v) for k, v in _pairs(cal["weeks"])]
        days = []
        for k, pts in _pairs(cal["days"]):
            days.append((int(k), [(_time(p[0]), int(p[1])) for p in pts]))
            for p in pts:
                if int(p[1]) > 108:
                    raise C.CalendarError("primary switching table: selectors 1-48, 101-108")
        if names and len(names) != len(seasons):
            raise C.CalendarError("season names: all or none")
        out["cal"] = C.build(cal.get("name", doc.get("name", "")), seasons, weeks, days,
                             names or None)
    if "special_days" in doc:
        ent = []
        for e in doc["special_days"]:
            y, m, d = _date(e[0])
            wd = int(e[2]) if len(e) > 2 else _ANY8
            ent.append((y, m, d, wd, int(e[1])))
        out["spd"] = C.build_special(ent)
    if "tou" in doc or "blocks" in doc:
        # lengths first (so errors are reported as before the streaming),
        # then the 80 (+4) prices straight into the matrix
        tou = _check_len(doc.get("tou", ()), _N_TOU, "TOU prices")
        blocks = _check_len(doc.get("blocks", ()), _N_BANDS, "time bands")
        for bp in blocks:
            _check_len(bp or (), _N_BLOCKS, "blocks")
        sec = doc.get("secondary")
        if sec is not None:
            _check_len(sec, _N_SEC, "secondary")
        prices = M.prices_from_pairs(_price_pairs(tou, blocks),
                                     None if sec is None else _sec_pairs(sec))
        labels = {}
        for k, v in doc.get("labels", {}).items():
            if not 1 <= int(k) <= _N_TOU:
                raise M.MatrixError("label tier")
            labels[int(k)] = v.encode()
        out["prc"] = M.pack_prices(doc.get("tariff_id", 0), doc.get("provider_id", 0),
                                   doc.get("currency", 826), doc.get("price_scaler", -5),
                                   prices, labels)
    if "thresholds" in doc or "block_period" in doc:
        bands = _pad(doc.get("thresholds", ()), _N_BANDS, "threshold bands")
        bands = [b or [] for b in bands]
        bp = doc.get("block_period", "month")
        if bp not in BP_NAMES:
            raise M.MatrixError("block_period: " + " | ".join(BP_NAMES))
        out["thr"] = M.pack_thresholds(BP_NAMES.index(bp), bands)
    if "standing_charge" in doc:
        sc = doc["standing_charge"]
        out["stc"] = M.pack_standing(sc["amount"], sc.get("period_s", 86400))
    if not out:
        raise ValueError("tariff document has no parts")
    return out
