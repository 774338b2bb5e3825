# GBCS ESME use cases on the tariff objects (cosem.py group 2): ECS01a set
# tariff and price, ECS01b set price, ECS05 reset the block counters, ECS24
# read tariff data, ECS30/ECS30a set and ECS26d/ECS26l read the billing
# calendar, ECS17d/e read the TOU and block registers. Handlers: h(x, spec,
# (start, end)) -> result | (result, Data) (cosem.py).
#
# ECS01a/b write passive objects (GBCS v0.8.1 §9.2.2.7, Tbl 9.2.2.7; notes
# §2, §6.3): each value instruction is checked whole (the fixed layouts of
# the RTDS templates, §18) and kept on the request (x.tv); each
# activation-time instruction names one engine part (_KIND) and they must
# all be equal (§9.2.2.2); once every instruction succeeded the parts named
# become one tariff document (tariff/loader.py) loaded through
# commands.load_tariff at that time (immediate, future, or 'never' = cancel
# the pending parts, §9.2.2.3-5), and future.py keeps one entry per
# activation instruction for its 0x8F66/0x8F67 alert (RTDS: one alert per
# part, in instruction order). Nothing of the tariff is kept here: the Gets
# read the engine's parts in force and the pending parts' activation time.
#
# Activation instruction k -> part _KIND[k] (future.py's parameter k):
# 0 20 0-0:13.0.0.255/10 switching table, 1 9000 0-0:94.44.128.29/6 special
# days, 2 9000 0-0:94.44.2.0/6 currency unit, 3 113 0-0:19.20.4.255/7
# standing charge, 4 113 0-0:19.20.0.255/7 price matrix, 5 9000
# 0-0:63.1.1.255/6 block thresholds (RTDS ECS01a alerts).
import struct

from ..compat import const
from . import dlms as D

_G = const(2)                  # this module's cosem.py group
# other modules' constants, folded here (host_tests/test_const_copies.py keeps them equal)
_OK = const(0)                 # = gbcs.dlms.SUCCESS
_TEMP = const(2)               # = gbcs.dlms.TEMP_FAIL
_DEN = const(3)                # = gbcs.dlms.DENIED
_UND = const(4)                # = gbcs.dlms.UNDEFINED
_TYPE = const(12)              # = gbcs.dlms.TYPE
_OTHER = const(250)            # = gbcs.dlms.OTHER
_BILL_CAUSE = const(2)         # = metering.snapshots.CAUSE_END_OF_BILLING
_NEVER = 0xFFFFFFFF            # also an unused block threshold (RTDS ECS24)
_GBP = const(826)
_EUR = const(978)
_RESET = const(99)             # the script of 0-0:10.0.100.255 resetting the block counters (RTDS ECS05)
_BILL_SID = const(0xB1)        # the billing calendar's snapshot schedule (metering/snapshots.py)
_SCRIPT = b"\x09\x06\x00\x00\x0a\x00\x64\xff"     # 0-0:10.0.100.255, the tariff script table
# unit_charge heads (§18 templates): {commodity scale, price scale}, commodity
_PRICE = b"\x02\x03\x12\x00\x03\x09\x06\x01\x00\x01\x08\x00\xff\x0f\x02"   # 3 1-0:1.8.0.255 /2
_STAND = b"\x02\x03\x12\x00\x00\x09\x06\x00\x00\x00\x00\x00\x00\x0f\x00\x01\x01\x02\x02\x09\x00"
_KIND = ("cal", "spd", "prc", "stc", "prc", "thr")
_NEEDS = (7, "spd", "cur", "stc", "prc", "thr")


def _need(c):
    if not c:
        raise ValueError("value")        # dispatch: type-unmatched


def _arr(pl, i):
    """(count, offset of the first element) of the array at pl[i]."""
    _need(pl[i] == 1)
    return D.length(pl, i + 1)


def _u(pl, k, n):
    return int.from_bytes(bytes(pl[k:k + n]), "big")


def _at(m, kind):
    """The activation date-time of the pending part, 'never' if none."""
    p = m.tariff.parts[kind]
    if p.passive is None:
        return D.octets(b"\xff" * 9 + b"\x80\x00\xff")
    from .core import dlms_time
    return D.octets(dlms_time(p.at))


def _get(x, s):
    return s[0] == 1 or s[0] == 4


# -- Activity Calendar 0-0:13.0.0.255 (class 20; notes §2.5) --------------------------
def _calendar(x, s, d):
    """Get 2-5 (name, seasons, weeks, day profiles in force) and 10 (the
    pending one's activation time); Set 7, 8, 9 (passive) and 10 (ECS01a)."""
    a = s[3]
    cal = x.m.tariff.calendar
    if _get(x, s):
        if a == 2:
            return _OK, D.octets(cal.name)
        if a == 3:
            return _OK, D.array_of([
                b"\x02\x03" + D.octets(cal.season_name(i)) + b"\x09\x0c" +
                struct.pack(">HBBB", y, mo, dd, 255) + b"\x00\x00\x00\x00\x80\x00\xff\x09\x01" +
                bytes((w,)) for i, (y, mo, dd, w) in enumerate(cal.seasons)])
        if a == 4:
            out = []
            for w, ids in cal.week_list():
                e = bytearray(b"\x02\x08\x09\x01")
                e.append(w)
                for i in ids:
                    e += bytes((0x11, i))
                out.append(e)
            return _OK, D.array_of(out)
        if a == 5:
            return _OK, D.array_of([
                b"\x02\x02\x11" + bytes((did,)) + D.array_of([
                    b"\x02\x03\x09\x04" + bytes((t // 3600, t // 60 % 60, t % 60, 0)) + _SCRIPT +
                    D.u16(sel) for t, sel in cal.profile(did)]) for did in cal.day_ids()])
        if a == 10:
            return _OK, _at(x.m, "cal")
        return _UND
    if s[0] != 2 or a < 7:
        return _DEN if s[0] == 2 else _UND
    if a == 10:
        return _activate(x, s, d, 0)
    pl = x.pl
    n, k = _arr(pl, d[0])
    out = []
    for _ in range(n):
        if a == 7:                  # season {name, start date-time(12), week name(1)}
            _need(pl[k:k + 3] == b"\x02\x03\x09")
            j = k + 4 + pl[k + 3]
            _need(pl[j:j + 2] == b"\x09\x0c" and pl[j + 14:j + 16] == b"\x09\x01" and
                  pl[j + 7:j + 11] in (b"\x00" * 4, b"\xff" * 4))
            out.append(((_u(pl, j + 2, 2), pl[j + 4], pl[j + 5]), pl[j + 16],
                        bytes(pl[k + 4:j])))
            k = j + 17
        elif a == 8:                # week {name(1), 7 day ids}
            _need(pl[k:k + 4] == b"\x02\x08\x09\x01")
            ids = bytearray(7)
            for i in range(7):
                _need(pl[k + 5 + 2 * i] == 0x11)
                ids[i] = pl[k + 6 + 2 * i]
            out.append((pl[k + 4], ids))
            k += 19
        else:                       # day {id, [{start time(4), script, selector}]}
            _need(pl[k:k + 3] == b"\x02\x02\x11")
            did = pl[k + 3]
            c, k = _arr(pl, k + 4)
            pts = []
            for _ in range(c):
                _need(pl[k:k + 4] == b"\x02\x03\x09\x04" and pl[k + 8:k + 16] == _SCRIPT and
                      pl[k + 16] == 0x12 and pl[k + 4] < 24 and pl[k + 5] < 60 and pl[k + 6] < 60)
                sel = _u(pl, k + 17, 2)
                _need(sel <= 48 or 101 <= sel <= 108)    # Tbl 7.3.7.2, primary element
                pts.append((pl[k + 4] * 3600 + pl[k + 5] * 60 + pl[k + 6], sel))
                k += 19
            out.append((did, pts))
    _need(k == d[1])
    v = _tv(x)
    v[a] = out
    if 7 in v and 8 in v and 9 in v:
        from ..tariff import calendar as C
        C.build(b"", [e[0] + (e[1],) for e in v[7]], v[8], v[9])   # CalendarError: type-unmatched
    return _OK


# -- Special Days 0-0:11.0.0.255 / passive 0-1:11.0.0.255 (class 11 attr 2) ----------
def _special_days(x, s, d):
    """Entries {index, date(5), day_id}; the engine keeps them in order, so
    an entry's index reads back as its position."""
    if s[3] != 2:
        return _UND
    if _get(x, s):
        if s[2][1]:
            return _UND      # the passive copy is not read back
        b = x.m.tariff.parts["spd"].active
        return _OK, D.array_of([
            b"\x02\x03" + D.u16(i + 1) + b"\x09\x05" +
            struct.pack(">HBBB", *struct.unpack_from("<HBBB", b, 1 + 6 * i)) +
            b"\x11" + bytes((b[6 + 6 * i],)) for i in range(b[0])])
    if s[0] != 2 or not s[2][1]:
        return _DEN if s[0] == 2 else _UND
    pl = x.pl
    n, k = _arr(pl, d[0])
    out = []
    for _ in range(n):
        _need(pl[k:k + 3] == b"\x02\x03\x12" and pl[k + 5:k + 7] == b"\x09\x05" and
              pl[k + 12] == 0x11 and (1 <= pl[k + 9] <= 12 or pl[k + 9] == 255) and
              (1 <= pl[k + 10] <= 31 or pl[k + 10] == 255) and
              (1 <= pl[k + 11] <= 7 or pl[k + 11] == 255))
        out.append(((_u(pl, k + 7, 2), pl[k + 9], pl[k + 10]), pl[k + 13], pl[k + 11]))
        k += 14
    _need(k == d[1])
    from ..tariff import calendar as C
    C.build_special([e[0] + (e[2], e[1]) for e in out])
    _tv(x)["spd"] = out
    return _OK


# -- Register Monitor 0-0:16.{0,1}.11..18.255 (class 21 attr 2) ---------------------
def _thresholds(x, s, d):
    """The block thresholds of time band E - 10, Wh: 0-3 ascending values,
    read back padded to 3 with all ones (RTDS ECS24)."""
    band = s[2][4] - 11
    if s[3] != 2:
        return _UND
    if _get(x, s):
        if s[2][3]:
            return _UND      # the passive copy is not read back
        th = x.m.tariff.thresholds[band]
        return _OK, D.array_of([D.u32(v) for v in th] + [D.u32(_NEVER)] * (3 - len(th)))
    if s[0] != 2 or not s[2][3]:
        return _DEN if s[0] == 2 else _UND
    pl = x.pl
    n, k = _arr(pl, d[0])
    th = []
    for _ in range(n):
        _need(pl[k] == 6)
        th.append(_u(pl, k + 1, 4))
        k += 5
    _need(k == d[1])
    while th and th[-1] == _NEVER:
        th.pop()
    from ..tariff import matrix as M
    M.pack_thresholds(0, [th] + [()] * 7)          # MatrixError: type-unmatched
    v = _tv(x)
    if "thr" not in v:
        v["thr"] = [None] * 8
    v["thr"][band] = th
    return _OK


# -- Charge 0-0:19.20.0.255 price matrix, 0-0:19.20.4.255 standing charge (113) -------
def _charge(x, s, d):
    """Get 5 (in force) and 7 (pending activation time); Set 6 and 7. A
    price matrix write must carry exactly the 80 indices of Table 7.3.7.2
    (§7.3.7.2, notes §2.3); prices are per kWh (commodity scale 0-3 of the
    Wh register), standing charge in the price matrix's units."""
    e = s[2][4]
    a = s[3]
    m = x.m
    eng = m.tariff
    if not 5 <= a <= 7:
        return _UND
    if _get(x, s):
        if a == 7:
            return _OK, _at(m, "stc" if e else "prc")
        if a != 5:
            return _UND      # the passive copy is not read back
        sc = b"\x02\x03\x02\x02\x0f" + (b"\x00" if e else b"\x03") + D.u8(0x0F, eng.scaler)
        if e:
            return _OK, sc + _STAND + _long(eng.sc_amount)
        # one buffer of the exact size, filled in place: the 80 elements
        # as 80 objects and their join do not fit the board's heap beside
        # the 1.2 KB ECS24 response
        from ..tariff import matrix as M
        pr = eng.prices
        h = sc + _PRICE + b"\x01\x50"
        k = n = len(h)
        for i in range(80):
            n += 8 if pr[i] < 0x8000 else 10
        out = bytearray(n)
        out[:k] = h
        for i in range(80):
            p = _long(pr[i])
            out[k:k + 5 + len(p)] = b"\x02\x02\x09\x01" + bytes((M.index_of_slot(i),)) + p
            k += 5 + len(p)
        return _OK, out
    if s[0] != 2 or a == 5:
        return _DEN if s[0] == 2 else _UND
    if a == 7:
        return _activate(x, s, d, 3 if e else 4)
    pl = x.pl
    i, j = d
    _need(pl[i:i + 5] == b"\x02\x03\x02\x02\x0f" and pl[i + 6] == 0x0F)
    cs = pl[i + 5]
    ps = pl[i + 7] - (256 if pl[i + 7] > 127 else 0)
    i += 8
    if e:
        _need(cs == 0 and pl[i:i + len(_STAND)] == _STAND)
        _tv(x)["stc"] = (_num(pl, i + len(_STAND), j), ps)
        return _OK
    _need(cs <= 3 and pl[i:i + len(_PRICE)] == _PRICE)
    from ..tariff import matrix as M
    # the 80 elements streamed into the matrix, never a list of them
    _tv(x)["prc"] = (ps, M.prices_from_pairs(_pairs(pl, i + len(_PRICE), j, 10 ** (3 - cs))))
    return _OK                  # MatrixError above: type-unmatched


def _long(v):
    """charge_per_unit: long (the template's type) when it fits."""
    return D.u16(v, 0x10) if v < 0x8000 else D.u32(v)


def _num(pl, i, j):
    v = D.uint(pl, i, j)
    _need(0 <= v <= 0x7FFFFFFF)
    return v


def _pairs(pl, i, j, mul):
    """(index, price per kWh) of each charge_table_element of the array."""
    n, k = _arr(pl, i)
    for _ in range(n):
        e = D.skip(pl, k)
        _need(pl[k:k + 4] == b"\x02\x02\x09\x01")
        yield pl[k + 4], _num(pl, k + 5, e) * mul
        k = e
    _need(k == j)


# -- GBCS class 9000 ---------------------------------------------------------------------
def _extended(x, s, d):
    """0-0:94.44.2.0 Currency Unit (2 in force, 4 passive: boolean, TRUE GB
    Pound, FALSE Euro, §14.1; 6 activation), 0-0:94.44.128.29 special days'
    and 0-0:63.1.1.255 block thresholds' activation time (6, Tbl 9.2.2.7)."""
    o = s[2]
    a = s[3]
    k = 5 if o[2] == 63 else 2 if o[4] == 2 else 1      # the rows are exact
    if a != 6 and (k != 2 or (a != 2 and a != 4)):
        return _UND
    if _get(x, s):
        if a == 6:
            return _OK, _at(x.m, _KIND[k])
        if a == 4:
            return _UND      # the passive copy is not read back
        return _OK, D.u8(0x03, 0 if x.m.tariff.currency == _EUR else 0xFF)
    if s[0] != 2 or a == 2:
        return _DEN if s[0] == 2 else _UND
    if a == 6:
        return _activate(x, s, d, k)
    _need(d[1] - d[0] == 2 and x.pl[d[0]] == 0x03)
    _tv(x)["cur"] = _GBP if x.pl[d[0] + 1] else _EUR
    return _OK


# -- ECS01a/b activation ---------------------------------------------------------------
def _tv(x):
    v = getattr(x, "tv", None)
    if v is None:
        v = x.tv = {}
        x.tacts = []
    return v


def _activate(x, s, d, k):
    """An activation-time instruction of part k: all of a command's are
    equal (§9.2.2.2); the values it activates were given before it, unless
    it cancels (§9.2.2.5); future.py has room for its alert."""
    dt = D.date_time(x.pl, d[0], d[1])
    at = _NEVER if D.is_never(dt) else D.to_utc(dt)
    v = _tv(x)
    if at < 0 or getattr(x, "tat", at) != at:
        return _TYPE
    x.tat = at
    if at != _NEVER:
        if _NEEDS[k] not in v or (k == 0 and (8 not in v or 9 not in v)):
            return _OTHER                   # nothing to activate
        if k == 3:      # the standing charge in the price matrix's units
            p = v["prc"][0] if "prc" in v else x.m.tariff.scaler
            a, ps = v["stc"]
            if ps < p or a * 10 ** (ps - p) > 0xFFFFFFFF:
                return _TYPE
            v["stc"] = (a * 10 ** (ps - p), p)
    from . import future
    if not future.room(x.m, x.mc, len(x.tacts) + 1):
        return _TEMP
    x.tacts.append((k, struct.pack(">H", s[1]) + s[2] + bytes((s[3],))))
    x.stage(_commit, x)
    return _OK


def _commit(m, x):
    """The staged ECS01a/b: one tariff document of every part activated
    (what the command leaves out of a part from the part in force), loaded
    at the command's time; then future.py's entries for the alerts. A new
    command replaces the whole pending one of its message code (§9.2.2.3,
    notes §6.4): a part that one left pending and this one does not name
    is cancelled first; an immediate or cancelling command leaves no
    entry."""
    import gc
    from . import future
    gc.collect()      # the parsing's garbage gone before the document is built (board heap)
    kinds = [_KIND[k] for k, _ in x.tacts]
    old = [_KIND[e[2] & 31] for e in future.table(m) if e[1] == x.mc and e[2] >> 5 == _G]
    old = [k for k in old if k not in kinds]
    r = _load(m, None, old, _NEVER) if old else 0
    if r == 0:
        r = _load(m, x.tv, kinds, x.tat)
    if r == 0:
        future.drop(m, x.mc)
        oc = x.oc()
        for k, desc in x.tacts:
            future.add(m, x.tat, x.mc, _G << 5 | k, oc, desc, 0)
    return r


def _load(m, v, kinds, at):
    """commands.load_tariff of the parts named."""
    from ..tariff.loader import BP_NAMES
    from .. import commands
    eng = m.tariff
    doc = {}
    if at == _NEVER:
        # cancel: the pending parts go whatever they held; the document
        # names them with the least valid content
        v = {7: [((2000, 1, 1), 1)], 8: [(1, b"\x01" * 7)], 9: [(1, [(0, 1)])], "spd": [],
             "prc": (0, bytes(80)), "stc": (0, 0)}
    if "cal" in kinds:
        doc["calendar"] = {"name": eng.calendar.name, "seasons": v[7], "weeks": v[8],
                           "days": v[9]}
    if "spd" in kinds:
        doc["special_days"] = v["spd"]
    if "prc" in kinds:
        doc["price_scaler"], pr = v.get("prc", (eng.scaler, eng.prices))
        doc["tou"] = pr[:48]
        doc["blocks"] = [[pr[48 + 8 * b + t] for b in range(4)] for t in range(8)]
        doc["currency"] = v.get("cur", eng.currency)
        doc["tariff_id"] = eng.tariff_id
        doc["provider_id"] = eng.provider_id
    if "stc" in kinds:
        doc["standing_charge"] = {"amount": v["stc"][0], "period_s": eng.sc_period}
    if "thr" in kinds:
        t = v.get("thr", [None] * 8)
        doc["thresholds"] = [t[b] if t[b] is not None else eng.thresholds[b] for b in range(8)]
        doc["block_period"] = BP_NAMES[eng.block_period]
    return commands.load_tariff(m, doc, at)


def took(m, param, v, at):
    """future.py: the part of this parameter takes effect at `at` (not
    cancelled or replaced since). The _S_GBCS slot runs at the tick of
    second `at`; the engine copies the part when it meters that second
    ([at, at + 1), the next tick), so a part still pending for exactly `at`
    (validated when loaded) is the one taking effect now."""
    p = m.tariff.parts[_KIND[param]]
    return p.since == at if p.passive is None else p.at == at


# -- other objects -----------------------------------------------------------------------
def _active_price(x, s, d):
    """Register 0-0:94.44.1.7 (class 3), the (Primary) Active Tariff Price
    of ECS24: the price in force (2) and its scaler, unit 254 (3)."""
    return _reg(x, s, x.m.tariff.price_now(), x.m.tariff.scaler, 254)


def _register(x, s, d):
    """Registers (class 3) 1-0:1.8.t.255 (TOU t, 1..48), 1-b:1.8.t.255
    (block b 1..4, time band t 1..8): Wh, scaler 0 (ECS17d/e; Tbl 7.3.7.2;
    the total import 1-0:1.8.0.255 is uc_read's). Twin-element registers
    (1-20:...) are absent."""
    b = s[2][1]
    return _reg(x, s, x.m.tariff.reg[8 * b + s[2][4] - 1 + (40 if b else 0)], 0, 30)


def _reg(x, s, v, scaler, unit):
    if s[3] != 2 and s[3] != 3:
        return _UND
    if not _get(x, s):
        return _DEN if s[0] == 2 else _UND
    return _OK, D.u32(v) if s[3] == 2 else D.scaler_unit(scaler, unit)


def _script(x, s, d):
    """Script Table 0-0:10.0.100.255 (class 9) method 1 execute: script 99
    resets the Tariff Block Counter Matrix (ECS05); the switching scripts
    (Tbl 7.3.7.2) run from the calendar only."""
    if s[0] != 3 or s[3] != 1:
        return _DEN if s[0] == 2 else _UND
    if x.pl[d[0]:d[1]] != b"\x12\x00\x63":
        return _TYPE
    from ..commands import supplier
    x.stage(supplier.reset_block_counters)
    return _OK


def _bill_commit(m, start, sch):
    from ..commands import supplier
    r = supplier.schedule_snapshots(m, [(_BILL_SID, start, sch, 0, _BILL_CAUSE)], 1)
    return 2 if r == 0 and supplier.C.detail[0][1] else r


def _billing(x, s, d):
    """Single Action Schedule 0-0:15.0.0.255 (class 22) attr 4
    execution_time, the Billing Calendar (§18.2.1.4): array(1) of {time(4),
    date(5)}, date year FFFF and month FF, day-of-month (1-28) for a monthly
    period, day-of-week for a weekly one, neither for a daily one; an empty
    array removes it. Kept as the meter's snapshot schedule _BILL_SID
    (cause end of billing period), its next time from now."""
    from ..platform.clock import DAY, civil, weekday, add_months
    m = x.m
    if s[3] != 4:
        return _UND
    if _get(x, s):
        out = []
        for sc in m.snapshots.schedules:
            if sc[0] == _BILL_SID:
                t = sc[1]
                kind = sc[2] >> 20
                tod = t % DAY
                out.append(b"\x02\x02\x09\x04" + bytes((tod // 3600, tod // 60 % 60, tod % 60, 0,
                                                        9, 5, 255, 255, 255)) +
                           bytes((civil(t // DAY)[2] if kind == 2 else 255,
                                  weekday(t // DAY) + 1 if kind == 1 else 255)))
        return _OK, D.array_of(out)
    if s[0] != 2:
        return _UND
    pl = x.pl
    i = d[0]
    if pl[i:d[1]] == b"\x01\x00":
        x.stage(_bill_commit, _NEVER, 0)
        return _OK
    t = pl[i + 6:i + 9]
    dd, wd = pl[i + 15], pl[i + 16]
    kind = 2 if wd == 255 and 1 <= dd <= 28 else 1 if dd == 255 and 1 <= wd <= 7 else \
        0 if dd == wd == 255 else -1
    if d[1] - i != 17 or pl[i:i + 6] != b"\x01\x01\x02\x02\x09\x04" or kind < 0 or \
            pl[i + 10:i + 15] != b"\x09\x05\xff\xff\xff" or t[0] > 23 or t[1] > 59 or t[2] > 59:
        return _TYPE
    now = m.clock.now()
    day = now // DAY
    st = day * DAY + t[0] * 3600 + t[1] * 60 + t[2]
    if kind == 2:
        st += (dd - civil(day)[2]) * DAY
    elif kind == 1:
        st += (wd - 1 - weekday(day)) % 7 * DAY
    if st < now:
        st = add_months(st, 1) if kind == 2 else st + (7 if kind else 1) * DAY
    x.stage(_bill_commit, st, kind << 20 | 1)
    return _OK


H = (_calendar, _special_days, _thresholds, _charge, _extended, _active_price,
     _script, _billing, _register)
