# GBCS ESME use cases on the tariff objects (cosem.py group 2): ECS01a set
# tariff and price, ECS01b set price, ECS05 reset the block counters, ECS24
# read tariff data, ECS30/ECS30a set and ECS26d/ECS26l read the billing
# calendar, ECS17d/e read the TOU and block registers. Handlers: h(x, spec,
# (start, end)) -> result | (result, Data) (cosem.py).
#
# ECS01a/b write passive objects (GBCS v0.8.1 §9.2.2.7, Tbl 9.2.2.7; notes
# §2, §6.3): each value instruction is checked whole and kept on the
# request (x.tv); each activation-time instruction names one engine part
# (_KIND) and they must all be equal (§9.2.2.2); once every instruction
# succeeded the parts named are built into one tariff document and loaded
# through commands.load_tariff at that time (immediate, future or 'never'
# = cancel the pending parts, §9.2.2.3-5), and future.py keeps one entry
# per activation instruction for its 0x8F66/0x8F67 alert (RTDS: one alert
# per part, in instruction order). Nothing of the tariff is kept here: the
# Gets read the engine's active (and pending passive) parts.
import struct

from ..compat import const
from . import dlms as D

_G = const(2)                  # this module's cosem.py group
_NEVER = 0xFFFFFFFF
_NONE = 0xFFFFFFFF             # an unused block threshold (double-long-unsigned all ones)
_UNIT_WH = const(30)           # DLMS unit Wh (registers, ECS17a's scaler_unit)
_UNIT_CUR = const(254)         # the RTDS ECS24 active price's unit (other: currency)
_GBP = const(826)
_EUR = const(978)
_SCRIPT = b"\x00\x00\x0a\x00\x64\xff"    # 0-0:10.0.100.255, the tariff script table
_COMMODITY = b"\x01\x00\x01\x08\x00\xff"  # 1-0:1.8.0.255 (the price matrix's commodity)
_RESET = const(99)             # its script that resets the block counter matrix (RTDS ECS05)
_BILL_SID = const(0xB1)        # the billing calendar's snapshot schedule (metering/snapshots.py)
_CAUSE_BILLING = const(2)      # = metering.snapshots.CAUSE_END_OF_BILLING
# activation-time instruction k (its part in _KIND; future.py's parameter):
# 0 20 0-0:13.0.0.255/10 switching table, 1 9000 0-0:94.44.128.29/6 special
# days, 2 9000 0-0:94.44.2.0/6 currency unit, 3 113 0-0:19.20.4.255/7
# standing charge, 4 113 0-0:19.20.0.255/7 price matrix, 5 9000
# 0-0:63.1.1.255/6 block thresholds (RTDS ECS01a alerts; Tbl 9.2.2.7)
_KIND = ("cal", "spd", "prc", "stc", "prc", "thr")


def _cmds():
    from .. import commands
    return commands


def _when(dt):
    """UTC of an activation date-time: 0 immediate, _NEVER, -1 malformed."""
    return _NEVER if D.is_never(dt) else D.to_utc(dt)


def _dt(t):
    from .core import dlms_time
    return dlms_time(t)


def _price(v):
    """charge_per_unit: long (the template's type) when it fits."""
    return D.u16(v, 0x10) if v < 0x8000 else D.u32(v)


def _num(pl, r, lo=0, hi=0xFFFFFFFF):
    v = D.uint(pl, r[0], r[1])
    if not lo <= v <= hi:
        raise ValueError("range")
    return v


# -- reads ------------------------------------------------------------------------------
def _seasons(cal):
    out = []
    for i, (y, mo, d, wk) in enumerate(cal.seasons):
        out.append(D.struct_of(D.octets(cal.season_name(i)),
                               D.octets(struct.pack(">HBBB", y, mo, d, 0xFF) +
                                        b"\x00\x00\x00\x00\x80\x00\xff"),
                               D.octets(bytes((wk,)))))
    return D.array_of(out)


def _weeks(cal):
    return D.array_of([D.struct_of(D.octets(bytes((k,))), *[D.u8(0x11, i) for i in w])
                       for k, w in cal.week_list()])


def _days(cal):
    out = []
    for did in cal.day_ids():
        pts = [D.struct_of(D.octets(bytes((s // 3600, s // 60 % 60, s % 60, 0))),
                           D.octets(_SCRIPT), D.u16(sel)) for s, sel in cal.profile(did)]
        out.append(D.struct_of(D.u8(0x11, did), D.array_of(pts)))
    return D.array_of(out)


def _specials(blob):
    return D.array_of([D.struct_of(D.u16(i + 1),
                                   D.octets(struct.pack(">HBBB", *struct.unpack_from(
                                       "<HBBB", blob, 1 + 6 * i))),
                                   D.u8(0x11, blob[6 + 6 * i]))
                       for i in range(blob[0])])


def _charge(eng, e, blob):
    """unit_charge (Charge attr 5/6) of the price matrix (E 0) or the
    standing charge (E 4) from the engine, or from a pending part's blob."""
    from ..tariff import matrix as M
    if e == 0:
        if blob is None:
            sc, prices = eng.scaler, eng.prices
        else:
            _, _, _, sc, prices, _ = M.unpack_prices(blob)
        # one buffer of the exact size, filled in place: the 80 elements as
        # 80 small objects and their join do not fit the unix port's heap
        # beside a 1.2 KB response
        head = D.struct_of(D.u8(0x0F, 3), D.u8(0x0F, sc)) + \
            D.struct_of(D.u16(3), D.octets(_COMMODITY), D.u8(0x0F, 2))
        n = 4 + len(head)
        for i in range(80):
            n += 8 if prices[i] < 0x8000 else 10
        out = bytearray(n)
        out[0:2] = b"\x02\x03"
        out[2:2 + len(head)] = head
        k = 2 + len(head)
        out[k:k + 2] = b"\x01\x50"
        k += 2
        for i in range(80):
            p = prices[i]
            struct.pack_into(">5B", out, k, 2, 2, 9, 1, M.index_of_slot(i))
            if p < 0x8000:
                struct.pack_into(">BH", out, k + 5, 0x10, p)     # long, the template's type
                k += 8
            else:
                struct.pack_into(">BI", out, k + 5, 0x06, p)
                k += 10
        return out
    amount = eng.sc_amount if blob is None else M.unpack_standing(blob)[0]
    return D.struct_of(D.struct_of(D.u8(0x0F, 0), D.u8(0x0F, eng.scaler)),
                       D.struct_of(D.u16(0), D.octets(bytes(6)), D.u8(0x0F, 0)),
                       D.array_of([D.struct_of(D.octets(b""), _price(amount))]))


def _thresholds(th):
    return D.array_of([D.u32(v) for v in th] + [D.u32(_NONE)] * (3 - len(th)))


def _pending(m, kind):
    p = m.tariff.parts[kind]
    return p.passive


def _pending_at(m, kind):
    p = m.tariff.parts[kind]
    return D.octets(_dt(p.at) if p.passive is not None else b"\xff" * 9 + b"\x80\x00\xff")


# -- ECS01a/b: passive values, then activation -----------------------------------------
def _tv(x):
    v = getattr(x, "tv", None)
    if v is None:
        v = x.tv = {}
        x.tacts = []
    return v


def _set_calendar(x, s, d):
    """Activity Calendar passive attributes 7 (seasons), 8 (weeks), 9 (days)."""
    pl = x.pl
    a = s[3]
    out = []
    for r in D.items(pl, d[0], d[1], 0x01):
        f = D.items(pl, r[0], r[1])
        if a == 7:
            if len(f) != 3:
                raise ValueError("season")
            dt = D.string(pl, *f[1])
            w = D.string(pl, *f[2])
            if len(dt) != 12 or len(w) != 1 or dt[5:9] not in (b"\x00" * 4, b"\xff" * 4):
                raise ValueError("season")
            out.append((D.string(pl, *f[0]), (dt[0] << 8) | dt[1], dt[2], dt[3], w[0]))
        elif a == 8:
            w = D.string(pl, *f[0])
            if len(f) != 8 or len(w) != 1:
                raise ValueError("week")
            out.append((w[0], [_num(pl, r, 0, 255) for r in f[1:]]))
        else:
            if len(f) != 2:
                raise ValueError("day")
            pts = []
            for q in D.items(pl, f[1][0], f[1][1], 0x01):
                g = D.items(pl, q[0], q[1])
                t = D.string(pl, *g[0])
                if len(g) != 3 or len(t) != 4 or D.string(pl, *g[1]) != _SCRIPT or \
                        t[0] > 23 or t[1] > 59 or t[2] > 59:
                    raise ValueError("day profile")
                sel = _num(pl, g[2], 1, 108)
                if 48 < sel < 101:
                    raise ValueError("script selector")     # Tbl 7.3.7.2, primary element
                pts.append((t[0] * 3600 + t[1] * 60 + t[2], sel))
            out.append((_num(pl, f[0], 0, 255), pts))
    v = _tv(x)
    v[a] = out
    if 7 in v and 8 in v and 9 in v:
        from ..tariff import calendar as C
        C.build(b"", [e[1:] for e in v[7]], v[8], v[9])    # CalendarError: type-unmatched
    return D.SUCCESS


def _calendar(x, s, d):
    """Activity Calendar 0-0:13.0.0.255 (class 20; notes §2.5): Get 2-5
    active, 6-9 passive (the pending calendar), 10 its activation time; Set
    7, 8, 9 and 10 (ECS01a)."""
    m = x.m
    a = s[3]
    if s[0] in (1, 4):
        from ..tariff import calendar as C
        cal = m.tariff.calendar
        if a >= 6:
            if a == 10:
                return D.SUCCESS, _pending_at(m, "cal")
            p = _pending(m, "cal")
            if p is None:
                return D.SUCCESS, D.octets(b"") if a == 6 else D.array_of([])
            cal = C.Calendar(p)
            a -= 4
        if a == 2:
            return D.SUCCESS, D.octets(cal.name)
        if a in (3, 4, 5):
            return D.SUCCESS, (_seasons, _weeks, _days)[a - 3](cal)
        return D.UNDEFINED
    if s[0] != 2 or not 7 <= a <= 10:
        return D.DENIED if s[0] == 2 and a < 7 else D.UNDEFINED
    if a == 10:
        return _activate(x, s, d, 0)
    return _set_calendar(x, s, d)


def _special_days(x, s, d):
    """Special Days 0-0:11.0.0.255 active, 0-1:11.0.0.255 passive (class 11,
    attr 2 entries {index, date(5), day_id}; Tbl 9.2.2.7): the engine keeps
    them in order, so an entry's index reads back as its position."""
    m = x.m
    passive = s[2][1] == 1
    if s[3] != 2 or s[2][4] != 0:
        return D.UNDEFINED
    if s[0] in (1, 4):
        b = _pending(m, "spd") if passive else m.tariff.parts["spd"].active
        return D.SUCCESS, _specials(b or b"\x00")
    if s[0] != 2 or not passive:
        return D.DENIED if s[0] == 2 else D.UNDEFINED
    pl = x.pl
    out = []
    for r in D.items(pl, d[0], d[1], 0x01):
        f = D.items(pl, r[0], r[1])
        dt = D.string(pl, *f[1])
        if len(f) != 3 or len(dt) != 5 or not (dt[2] == 0xFF or 1 <= dt[2] <= 12) or \
                not (dt[3] == 0xFF or 1 <= dt[3] <= 31) or not (dt[4] == 0xFF or 1 <= dt[4] <= 7):
            raise ValueError("special day")
        _num(pl, f[0], 0, 0xFFFF)
        out.append(((dt[0] << 8) | dt[1], dt[2], dt[3], dt[4], _num(pl, f[2], 0, 255)))
    from ..tariff import calendar as C
    C.build_special(out)
    _tv(x)["spd"] = out
    return D.SUCCESS


def _thresholds_obj(x, s, d):
    """Register Monitor 0-0:16.0.11..18.255 (active) / 0-0:16.1.11..18.255
    (passive), class 21 attr 2: the block thresholds of time band E - 10,
    Wh, 0-3 ascending values, unused ones all ones (RTDS ECS24)."""
    m = x.m
    band = s[2][4] - 11
    passive = s[2][3] == 1
    if s[3] != 2 or band > 7:
        return D.UNDEFINED
    if s[0] in (1, 4):
        if passive:
            p = _pending(m, "thr")
            if p is None:
                return D.SUCCESS, D.array_of([])
            from ..tariff import matrix as M
            return D.SUCCESS, _thresholds(M.unpack_thresholds(p)[1][band])
        return D.SUCCESS, _thresholds(m.tariff.thresholds[band])
    if s[0] != 2 or not passive:
        return D.DENIED if s[0] == 2 else D.UNDEFINED
    pl = x.pl
    th = [_num(pl, r) for r in D.items(pl, d[0], d[1], 0x01)]
    while th and th[-1] == _NONE:
        th.pop()
    from ..tariff import matrix as M
    M.pack_thresholds(0, [th] + [()] * 7)          # MatrixError: type-unmatched
    v = _tv(x)
    if "thr" not in v:
        v["thr"] = [None] * 8
    v["thr"][band] = th
    return D.SUCCESS


def _charge_obj(x, s, d):
    """Charge 0-0:19.20.0.255 (price matrix) and 0-0:19.20.4.255 (standing
    charge), class 113: Get 5 active, 6 passive (pending), 7 activation;
    Set 6 (§7.3.7.2: the price matrix must carry exactly the 80 indices of
    Table 7.3.7.2, notes §2.3) and 7."""
    m = x.m
    e = s[2][4]
    a = s[3]
    if e not in (0, 4) or not 5 <= a <= 7:
        return D.UNDEFINED
    kind = "stc" if e else "prc"
    if s[0] in (1, 4):
        if a == 7:
            return D.SUCCESS, _pending_at(m, kind)
        p = None
        if a == 6:
            p = _pending(m, kind)
            if p is None:
                return D.SUCCESS, D.NULL
        return D.SUCCESS, _charge(m.tariff, e, p)
    if s[0] != 2 or a == 5:
        return D.DENIED if s[0] == 2 else D.UNDEFINED
    if a == 7:
        return _activate(x, s, d, 3 if e else 4)
    pl = x.pl
    f = D.items(pl, d[0], d[1])
    sc = D.items(pl, *f[0])
    co = D.items(pl, *f[1])
    cs = _num(pl, sc[0], -128, 127)
    ps = _num(pl, sc[1], -128, 127)
    obis = D.string(pl, *co[1])
    if len(f) != 3 or len(sc) != 2 or len(co) != 3:
        raise ValueError("charge")
    if e:
        # standing charge: no commodity, one element, empty index (RTDS)
        tab = D.items(pl, f[2][0], f[2][1], 0x01)
        if cs or _num(pl, co[0]) or obis != bytes(6) or len(tab) != 1:
            raise ValueError("standing charge")
        g = D.items(pl, *tab[0])
        D.string(pl, *g[0])
        _tv(x)["stc"] = (_num(pl, g[1], 0, 0x7FFFFFFF), ps)
        return D.SUCCESS
    if _num(pl, co[0]) != 3 or obis != _COMMODITY or not 0 <= cs <= 3:
        raise ValueError("commodity")          # per kWh of the import register
    from ..tariff import matrix as M
    # the 80 elements streamed into the matrix: no list of them (a 1 KB
    # block the unix port's fragmented heap may not have after a 1.4 KB command)
    _tv(x)["prc"] = (ps, M.prices_from_pairs(_pairs(pl, f[2], 10 ** (3 - cs))))
    return D.SUCCESS                           # MatrixError above: type-unmatched


def _pairs(pl, r, mul):
    """(index, price per kWh) of each charge_table_element of the array r."""
    if pl[r[0]] != 0x01:
        raise ValueError("type")
    n, k = D.length(pl, r[0] + 1)
    for _ in range(n):
        e = D.skip(pl, k)
        if pl[k:k + 4] != b"\x02\x02\x09\x01":
            raise ValueError("charge_table_element")
        yield pl[k + 4], _num(pl, (k + 5, e), 0, 0x7FFFFFFF) * mul
        k = e
    if k != r[1]:
        raise ValueError("length")


def _extended(x, s, d):
    """GBCS class 9000: 0-0:94.44.2.0 Currency Unit (2 active, 4 passive:
    boolean, TRUE GB Pound, FALSE Euro, §14.1), 6 activation;
    0-0:94.44.128.29 special days' and 0-0:63.1.1.255 block thresholds'
    activation time (6, Tbl 9.2.2.7)."""
    m = x.m
    o = s[2]
    a = s[3]
    k = 5 if o[2] == 63 else 2 if o[4] == 2 else 1     # the rows are exact
    if a not in (2, 4, 6) or (a != 6 and k != 2):
        return D.UNDEFINED
    if s[0] in (1, 4):
        if a == 6:
            return D.SUCCESS, _pending_at(m, _KIND[k])
        if a == 4:
            p = _pending(m, "prc")
            if p is None:
                return D.SUCCESS, D.NULL
            from ..tariff import matrix as M
            cur = M.unpack_prices(p)[2]
        else:
            cur = m.tariff.currency
        return D.SUCCESS, D.u8(0x03, 0 if cur == _EUR else 0xFF)
    if s[0] != 2 or a == 2:
        return D.DENIED if s[0] == 2 else D.UNDEFINED
    if a == 6:
        return _activate(x, s, d, k)
    if x.pl[d[0]] != 0x03 or d[1] - d[0] != 2:
        return D.TYPE
    _tv(x)["cur"] = _GBP if x.pl[d[0] + 1] else _EUR
    return D.SUCCESS


_NEEDS = ((7, 8, 9), ("spd",), ("cur",), ("stc",), ("prc",), ("thr",))


def _activate(x, s, d, k):
    """An activation-time instruction of part k: all of a command's are
    equal (§9.2.2.2); the values it activates were given before it, unless
    it cancels (§9.2.2.5); future.py has room for its alert."""
    at = _when(D.date_time(x.pl, d[0], d[1]))
    if at < 0:
        return D.TYPE
    v = _tv(x)
    if getattr(x, "tat", at) != at:
        return D.TYPE
    x.tat = at
    if at != _NEVER and any(n not in v for n in _NEEDS[k]):
        return D.OTHER                       # nothing to activate
    if k == 3 and at != _NEVER and "stc" in v:
        # the standing charge is kept in the price matrix's units
        ps = v["prc"][0] if "prc" in v else x.m.tariff.scaler
        if v["stc"][1] < ps or v["stc"][0] * 10 ** (v["stc"][1] - ps) > 0xFFFFFFFF:
            return D.TYPE
    from . import future
    if not future.room(x.m, x.mc, len(x.tacts) + 1):
        return D.TEMP_FAIL
    x.tacts.append((k, struct.pack(">H", s[1]) + s[2] + bytes((s[3],))))
    x.stage(_commit, x)
    return D.SUCCESS


def _doc(m, v, kinds):
    """The tariff document (tariff/loader.py) of the parts named, from the
    command's values and, for what it leaves out, the engine's active ones."""
    from ..tariff.loader import BP_NAMES
    eng = m.tariff
    doc = {}
    if "cal" in kinds:
        ws = lambda y: "*" if y == 0xFFFF else str(y)
        doc["calendar"] = {
            "name": eng.calendar.name,
            "seasons": [["%s-%d-%d" % (ws(y), mo, dd), w, n] for n, y, mo, dd, w in v[7]],
            "weeks": v[8],
            "days": [(k, [["%d:%d:%d" % (t // 3600, t // 60 % 60, t % 60), sel]
                          for t, sel in p]) for k, p in v[9]]}
    if "spd" in kinds:
        w = lambda n, w: "*" if n == w else str(n)
        doc["special_days"] = [["%s-%s-%s" % (w(y, 0xFFFF), w(mo, 0xFF), w(dd, 0xFF)), did, wd]
                               for y, mo, dd, wd, did in v["spd"]]
    if "prc" in kinds:
        ps, prices = v["prc"] if "prc" in v else (eng.scaler, eng.prices)
        doc["tou"] = prices[:48]
        doc["blocks"] = [[prices[48 + 8 * b + t] for b in range(4)] for t in range(8)]
        doc["price_scaler"] = ps
        doc["currency"] = v.get("cur", eng.currency)
        doc["tariff_id"] = eng.tariff_id
        doc["provider_id"] = eng.provider_id
    if "stc" in kinds:
        amount, sps = v["stc"]
        ps = v["prc"][0] if "prc" in v else eng.scaler
        doc["standing_charge"] = {"amount": amount * 10 ** (sps - ps), "period_s": eng.sc_period}
    if "thr" in kinds:
        bands = [v["thr"][b] if v["thr"][b] is not None else list(eng.thresholds[b])
                 for b in range(8)]
        doc["thresholds"] = bands
        doc["block_period"] = BP_NAMES[eng.block_period]
    return doc


def _commit(m, x):
    """The staged ECS01a/b: one tariff load of every part activated, at the
    command's time; then future.py's entries for the alerts (§9.2.2.3: what
    was stored for this message code is replaced, an immediate or
    cancelling command leaves nothing)."""
    from . import future
    v = x.tv
    kinds = [_KIND[k] for k, _ in x.tacts]
    if x.tat == _NEVER:
        # cancel: the pending parts go, whatever they held (§9.2.2.5)
        doc = _doc(m, {7: [(b"", 0xFFFF, 1, 1, 1)], 8: [(1, [1] * 7)], 9: [(1, [(0, 1)])],
                       "spd": [], "thr": [None] * 8, "stc": (0, m.tariff.scaler)}, kinds)
    else:
        doc = _doc(m, v, kinds)
    r = _cmds().load_tariff(m, doc, x.tat)
    if r == 0:
        future.drop(m, x.mc)
        oc = x.oc()
        for k, desc in x.tacts:
            future.add(m, x.tat, x.mc, _G << 5 | k, oc, desc, 0)
    return r


def took(m, param, v, at):
    """future.py: the part of this parameter takes effect at `at` (not
    cancelled or replaced since). The _S_GBCS slot runs at the tick of
    second `at`; the engine copies the part when it meters that second
    ([at, at + 1), the next tick), so a part still pending for exactly `at`
    (validated when loaded) is the one taking effect now."""
    p = m.tariff.parts[_KIND[param]]
    if p.passive is None:
        return p.since == at
    return p.at == at


# -- other objects -----------------------------------------------------------------------
def _active_price(x, s, d):
    """Register 0-0:94.44.1.7 (class 3): the price in force (attr 2) and its
    scaler (attr 3), the (Primary) Active Tariff Price of ECS24."""
    if s[0] not in (1, 4) or s[3] not in (2, 3):
        return D.DENIED if s[0] == 2 and s[3] in (2, 3) else D.UNDEFINED
    eng = x.m.tariff
    if s[3] == 2:
        return D.SUCCESS, D.u32(eng.price_now())
    return D.SUCCESS, D.scaler_unit(eng.scaler, _UNIT_CUR)


def _script(x, s, d):
    """Script Table 0-0:10.0.100.255 (class 9) method 1 execute: script 99
    resets the Tariff Block Counter Matrix (ECS05); the switching scripts
    (Tbl 7.3.7.2) run from the calendar only."""
    if s[0] != 3 or s[3] != 1:
        return D.DENIED if s[0] == 2 else D.UNDEFINED
    if _num(x.pl, d, 0, 0xFFFF) != _RESET or x.pl[d[0]] != 0x12:
        return D.TYPE
    from ..commands import supplier
    x.stage(supplier.reset_block_counters)
    return D.SUCCESS


def _bill_commit(m, start, sch):
    from ..commands import supplier
    r = supplier.schedule_snapshots(m, [(_BILL_SID, start, sch, 0, _CAUSE_BILLING)], 1)
    return 2 if r == 0 and _cmds().detail[0][1] else r


def _billing(x, s, d):
    """Single Action Schedule 0-0:15.0.0.255 (class 22) attr 4
    execution_time, the Billing Calendar (§18.2.1.4): array(1) of {time(4),
    date(5)}, date year FFFF and month FF, day-of-month for a monthly
    period, day-of-week for a weekly one, neither for a daily one; an
    empty array removes it. Kept as the meter's snapshot schedule _BILL_SID
    (cause end of billing period)."""
    from ..platform.clock import DAY, civil, weekday, days_from_civil
    m = x.m
    if s[3] != 4:
        return D.UNDEFINED
    if s[0] in (1, 4):
        out = []
        for sc in m.snapshots.schedules:
            if sc[0] == _BILL_SID:
                t = sc[1]
                kind = (sc[2] >> 20) & 3
                tod = t % DAY
                dd = civil(t // DAY)[2] if kind == 2 else 0xFF
                wd = weekday(t // DAY) + 1 if kind == 1 else 0xFF
                out.append(D.struct_of(
                    D.octets(bytes((tod // 3600, tod // 60 % 60, tod % 60, 0))),
                    D.octets(bytes((0xFF, 0xFF, 0xFF, dd, wd)))))
        return D.SUCCESS, D.array_of(out)
    if s[0] != 2:
        return D.UNDEFINED
    pl = x.pl
    el = D.items(pl, d[0], d[1], 0x01)
    if not el:
        x.stage(_bill_commit, _NEVER, 0)
        return D.SUCCESS
    f = D.items(pl, *el[0])
    t = D.string(pl, *f[0])
    dt = D.string(pl, *f[1])
    if len(el) != 1 or len(f) != 2 or len(t) != 4 or len(dt) != 5 or \
            dt[:3] != b"\xff\xff\xff" or t[0] > 23 or t[1] > 59 or t[2] > 59:
        return D.TYPE
    tod = t[0] * 3600 + t[1] * 60 + t[2]
    now = m.clock.now()
    day = now // DAY
    dd, wd = dt[3], dt[4]
    if dd != 0xFF and wd == 0xFF and 1 <= dd <= 28:        # monthly
        kind = 2
        y, mo, _ = civil(day)
        start = (days_from_civil(y, mo, dd)) * DAY + tod
        if start < now:
            mo += 1
            if mo > 12:
                y, mo = y + 1, 1
            start = days_from_civil(y, mo, dd) * DAY + tod
    elif dd == 0xFF and 1 <= wd <= 7:                      # weekly
        kind = 1
        start = (day + (wd - 1 - weekday(day)) % 7) * DAY + tod
        if start < now:
            start += 7 * DAY
    elif dd == 0xFF and wd == 0xFF:                        # daily
        kind = 0
        start = day * DAY + tod
        if start < now:
            start += DAY
    else:
        return D.TYPE
    x.stage(_bill_commit, start, kind << 20 | 1)
    return D.SUCCESS


def _register(x, s, d):
    """Registers (class 3) 1-0:1.8.0.255 (total import) and 1-0:1.8.t.255
    (TOU t, 1..48), 1-b:1.8.t.255 (block b 1..4, time band t 1..8): attr 2
    Wh, attr 3 scaler_unit (ECS17d/e; Tbl 7.3.7.2)."""
    o = s[2]
    b = o[1]
    t = o[4]
    if s[0] not in (1, 4) or s[3] not in (2, 3) or (b and not 1 <= t <= 8):
        return D.DENIED if s[0] == 2 and s[3] in (2, 3) else D.UNDEFINED
    if s[3] == 3:
        return D.SUCCESS, D.scaler_unit(0, _UNIT_WH)
    m = x.m
    if not b and not t:
        return D.SUCCESS, D.u32(m.import_wh)
    return D.SUCCESS, D.u32(m.tariff.reg[t - 1 if not b else 40 + 8 * b + t - 1])


H = (_calendar, _special_days, _thresholds_obj, _charge_obj, _extended, _active_price,
     _script, _billing, _register)
