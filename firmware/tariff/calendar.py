# Tariff switching calendar (GBCS §7.3.7.1, Table 7.3.10; DLMS Activity
# Calendar class 20 and Special Days class 11): which script selector is in
# force at a UTC second. Times are UTC; there is no daylight saving in
# tariff time.
#
# Compact form (one bytes object, also the stored form):
#   n_seasons u8, n_weeks u8, n_days u8, name_len u8, name
#   season: year u16 (0xFFFF: every year), month u8, day u8, week_id u8
#   week:   week_id u8, day_id u8 x 7 (Monday first)
#   day:    day_id u8, n u8, then n x u32 (start second of day << 8 | selector)
#   then, optional (a GBCS ECS01 season_profile's names; blobs without it
#   read as unnamed): per season, len u8 + name
# Special days (a separate object with its own activation, Tbl 9.2.2.7):
#   n u8, then n x (year u16, month u8, day u8, weekday u8, day_id u8);
#   0xFFFF / 0xFF are wildcards, weekday 1 = Monday .. 7 = Sunday.
#
# Semantics, as a DLMS activity calendar executes scripts at switch times:
# the active season is the one with the latest start on or before the date
# (a wildcard year recurs every year, so before the year's first start the
# previous year's last season holds); a special day overrides the week
# profile's day; within a day the latest switch point at or before the time
# holds, and before the day's first switch point the previous day's last
# action is still in force.
import struct

from ..platform.clock import civil, weekday

_DAY = const(86400)              # = platform.clock.DAY

ANY16 = const(0xFFFF)
ANY8 = const(0xFF)
_MAX_SEASONS = const(4)
_MAX_WEEKS = const(4)
_MAX_DAYS = const(16)
_MAX_POINTS = const(48)
_MAX_SPECIAL = const(50)


class CalendarError(ValueError):
    pass


def build(name, seasons, weeks, days, names=None):
    """seasons: [(year|ANY16, month, day, week_id)]; weeks: [(week_id, [7 day
    ids])]; days: [(day_id, [(start_s, selector)])]; names: None or one
    season name (bytes, < 256) per season. Checks capacity and references
    and returns the compact form."""
    if not 1 <= len(seasons) <= _MAX_SEASONS or not 1 <= len(weeks) <= _MAX_WEEKS \
            or not 1 <= len(days) <= _MAX_DAYS:
        raise CalendarError("calendar capacity")
    week_ids = [w[0] for w in weeks]
    day_ids = [d[0] for d in days]
    if len(set(week_ids)) != len(week_ids) or len(set(day_ids)) != len(day_ids):
        raise CalendarError("duplicate id")
    name = name.encode() if isinstance(name, str) else bytes(name)
    out = bytearray(struct.pack("<BBBB", len(seasons), len(weeks), len(days), len(name)))
    out += name
    for y, mo, d, wk in seasons:
        if wk not in week_ids or not 1 <= mo <= 12 or not 1 <= d <= 31:
            raise CalendarError("season")
        out += struct.pack("<HBBB", y, mo, d, wk)
    for wid, ids in weeks:
        if len(ids) != 7 or any(i not in day_ids for i in ids):
            raise CalendarError("week profile")
        out += struct.pack("<B7B", wid, *ids)
    for did, points in days:
        if not 1 <= len(points) <= _MAX_POINTS:
            raise CalendarError("day profile size")
        out += struct.pack("<BB", did, len(points))
        last = -1
        for start, sel in sorted(points):
            # selector, Table 7.3.7.2: 1-48 TOU, 101-108 block time band,
            # 201-204 secondary TOU
            if start == last or not 0 <= start < _DAY or not (
                    1 <= sel <= 48 or 101 <= sel <= 108 or 201 <= sel <= 204):
                raise CalendarError("switch point")
            last = start
            out += struct.pack("<I", (start << 8) | sel)
    if names is not None:
        if len(names) != len(seasons):
            raise CalendarError("season names")
        for n in names:
            if len(n) > 255:
                raise CalendarError("season name")
            out.append(len(n))
            out += n
    return bytes(out)


def build_special(entries):
    """entries: [(year, month, day, weekday, day_id)] with wildcards."""
    if len(entries) > _MAX_SPECIAL:
        raise CalendarError("too many special days")
    out = bytearray((len(entries),))
    for e in entries:
        out += struct.pack("<HBBBB", *e)
    return bytes(out)


EMPTY_SPECIAL = b"\x00"


class Calendar:
    """A view of one compact calendar plus special days. It holds the two
    blobs and where their tables start, nothing decoded: seasons, week and
    day profiles and special days are read from the blobs when asked (a
    parsed full-capacity calendar took 2.8 KB of a 32-bit board's heap, in
    many small objects made at every tariff load; issue #18). The
    constructor walks every table once, so a blob that does not decode
    raises here, as before."""

    def __init__(self, blob, special=EMPTY_SPECIAL):
        self.blob = blob
        self.special = special
        ns, nw, nd, nl = struct.unpack_from("<BBBB", blob, 0)
        off = 4
        self.name = bytes(blob[off:off + nl])
        off += nl
        self._so = off                       # seasons, 5 octets each
        self._ns = ns
        for i in range(ns):
            struct.unpack_from("<HBBB", blob, off)
            off += 5
        self._wo = off                       # week profiles, 8 octets each
        self._nw = nw
        off += 8 * nw
        self._do = off                       # day profiles
        self._nd = nd
        self.top_tou = 0         # highest TOU index and block time band named (0: none)
        self.top_band = 0
        for i in range(nd):
            did, n = struct.unpack_from("<BB", blob, off)
            off += 2
            for j in range(n):
                sel = struct.unpack_from("<I", blob, off)[0] & 0xFF
                off += 4
                if sel <= 48:
                    self.top_tou = max(self.top_tou, sel)
                elif sel <= 108:
                    self.top_band = max(self.top_band, sel - 100)
        if len(blob) < off:
            raise CalendarError("calendar length")
        self._end = off                      # season names, if any
        self._nsp = special[0]
        if self._nsp:                        # the last entry is there, so all are
            struct.unpack_from("<HBBBB", special, 6 * self._nsp - 5)

    # -- the tables, decoded when asked (the Calendar cluster, tests) -------------------
    @property
    def seasons(self):
        """[(year, month, day, week_id)]"""
        return [struct.unpack_from("<HBBB", self.blob, self._so + 5 * i) for i in range(self._ns)]

    @property
    def weeks(self):
        """{week_id: (7 day ids, Monday first)}"""
        out = {}
        for i in range(self._nw):
            w = struct.unpack_from("<B7B", self.blob, self._wo + 8 * i)
            out[w[0]] = w[1:]
        return out

    def week_list(self):
        """[(week_id, 7 day ids)] in stored order (a dict's order is the
        runtime's)."""
        return [(w[0], w[1:]) for w in
                (struct.unpack_from("<B7B", self.blob, self._wo + 8 * i) for i in range(self._nw))]

    def day_ids(self):
        """Day profile ids in stored order."""
        out = []
        off = self._do
        b = self.blob
        for i in range(self._nd):
            out.append(b[off])
            off += 2 + 4 * b[off + 1]
        return out

    @property
    def days(self):
        """{day_id: (offset of its first point, count)}"""
        out = {}
        off = self._do
        b = self.blob
        for i in range(self._nd):
            out[b[off]] = (off + 2, b[off + 1])
            off += 2 + 4 * b[off + 1]
        return out

    @property
    def specials(self):
        """[(year, month, day, weekday, day_id)]"""
        return [struct.unpack_from("<HBBBB", self.special, 1 + 6 * i) for i in range(self._nsp)]

    def season_name(self, i):
        """Name of season i (bytes): stored with the calendar by a GBCS load,
        else the season's number."""
        b = self.blob
        off = self._end
        if off >= len(b):
            return str(i + 1).encode()
        for _ in range(i):
            off += 1 + b[off]
        return bytes(b[off + 1:off + 1 + b[off]])

    def _day(self, did):
        """Offset of day profile did in the blob (its id octet), -1 if none."""
        off = self._do
        b = self.blob
        for i in range(self._nd):
            if b[off] == did:
                return off
            off += 2 + 4 * b[off + 1]
        return -1

    # -- which day profile ------------------------------------------------------------
    def week_id(self, y, m, d):
        best = None
        for i in range(self._ns):
            sy, sm, sd, wk = struct.unpack_from("<HBBB", self.blob, self._so + 5 * i)
            if sy == ANY16:
                start = (y if (sm, sd) <= (m, d) else y - 1, sm, sd)
            else:
                start = (sy, sm, sd)
                if start > (y, m, d):
                    continue
            if best is None or start > best[0]:
                best = (start, wk)
        return best[1] if best else self.seasons[0][3]

    def day_id(self, day):
        """Day profile id for a day number (days since 2000-01-01)."""
        y, m, d = civil(day)
        wd = weekday(day)
        sp = self.special
        for i in range(self._nsp):
            o = 1 + 6 * i
            sy = sp[o] | sp[o + 1] << 8
            sm, sd, sw, did = sp[o + 2], sp[o + 3], sp[o + 4], sp[o + 5]
            if (sy == ANY16 or sy == y) and (sm == ANY8 or sm == m) and \
                    (sd == ANY8 or sd == d) and (sw == ANY8 or sw == wd + 1) and \
                    self._day(did) >= 0:
                return did
        wk = self.week_id(y, m, d)
        b = self.blob
        for i in range(self._nw):
            o = self._wo + 8 * i
            if b[o] == wk:
                return b[o + 1 + wd]
        raise KeyError(wk)

    def profile(self, did):
        """[(start_s, selector)] of day profile did, in time order."""
        off = self._day(did)
        if off < 0:
            raise KeyError(did)
        n = self.blob[off + 1]
        out = []
        for i in range(n):
            v = struct.unpack_from("<I", self.blob, off + 2 + 4 * i)[0]
            out.append((v >> 8, v & 0xFF))
        return out

    def points(self, day):
        """The profile in force on a day number."""
        return self.profile(self.day_id(day))

    # -- evaluation -------------------------------------------------------------------
    def resolve(self, t):
        """(selector, start, next_boundary) at UTC second t: the selector in
        force, when the switch point that set it happened, and the next time
        the answer may change (a switch point or midnight)."""
        day = t // _DAY
        sod = t - day * _DAY
        pts = self.points(day)
        sel = -1
        start = 0
        nxt = (day + 1) * _DAY
        for s, v in pts:
            if s <= sod:
                sel = v
                start = day * _DAY + s
            else:
                nxt = day * _DAY + s
                break
        if sel < 0:                        # before the first switch: yesterday's last
            s, v = self.points(day - 1)[-1]
            sel = v
            start = (day - 1) * _DAY + s
        return sel, start, nxt

    def changes(self, t, n):
        """The next n (start, selector) changes after t, for scheduled
        prices; scans at most 400 days."""
        out = []
        sel = self.resolve(t)[0]
        day = t // _DAY
        for d in range(day, day + 400):
            for s, v in self.points(d):
                at = d * _DAY + s
                if at > t and v != sel:
                    out.append((at, v))
                    sel = v
                    if len(out) >= n:
                        return out
        return out
