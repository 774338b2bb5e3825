# Calendar cluster (0x0707) server, ZSE 1.2+ Annex D.9: the tariff
# switching table published to HAN devices as a "delivered" TOU calendar.
# IssuerCalendarID is the time the calendar took (or takes) effect, so the
# active and a pending calendar are told apart and the Publish commands of
# one calendar share the id. Day profiles carry start times in minutes
# (GBCS switch points are seconds; a point inside a minute is published at
# that minute) and the ZSE price tier (TOU index, or time band in block
# mode). Large payloads use CommandIndex / TotalNumberOfCommands.
from ..zcl.cluster import Cluster
from ..zcl.status import ZclError
from ..tariff import calendar as C
from ..platform.clock import NEVER

# other modules' constants, folded here (host_tests/test_const_copies.py keeps them equal)
_ANY16 = const(0xFFFF)      # = tariff.calendar.ANY16
_ANY8 = const(0xFF)         # = tariff.calendar.ANY8
_NOT_FOUND = const(0x8B)    # = zcl.status.NOT_FOUND

_CAL_DELIVERED = const(0x00)
_TIME_REF_UTC = const(0x00)
_DAY_HEAD = const(17)          # PublishDayProfile before its entries
_ANY32 = 0xFFFFFFFF


class CalendarServer(Cluster):
    ID = 0x0707
    NAME = "Calendar"
    SECURE = True
    RX = (
        "00 GetCalendar EarliestStartTime:E2 MinIssuerEventID:23 NumberOfCalendars:20"
        "  CalendarType:30 ProviderID:23;"
        "01 GetDayProfiles ProviderID:23 IssuerCalendarID:23 StartDayID:20"
        "  NumberOfDays:20;"
        "02 GetWeekProfiles ProviderID:23 IssuerCalendarID:23 StartWeekID:20"
        "  NumberOfWeeks:20;"
        "03 GetSeasons ProviderID:23 IssuerCalendarID:23;"
        "04 GetSpecialDays StartTime:E2 NumberOfEvents:20 CalendarType:30"
        "  ProviderID:23 IssuerCalendarID:23;"
    )
    TX = (
        "00 PublishCalendar ProviderID:23 IssuerEventID:23 IssuerCalendarID:23"
        "  StartTime:E2 CalendarType:30 CalendarTimeReference:20 CalendarName:41"
        "  NumberOfSeasons:20 NumberOfWeekProfiles:20 NumberOfDayProfiles:20;"
        "01 PublishDayProfile ProviderID:23 IssuerEventID:23 IssuerCalendarID:23"
        "  DayID:20 TotalNumberOfScheduleEntries:20 CommandIndex:20"
        "  TotalNumberOfCommands:20 CalendarType:30"
        "  Entries:[StartTime:21,PriceTier:20];"
        "02 PublishWeekProfile ProviderID:23 IssuerEventID:23 IssuerCalendarID:23"
        "  WeekID:20 DayIDRefMonday:20 DayIDRefTuesday:20 DayIDRefWednesday:20"
        "  DayIDRefThursday:20 DayIDRefFriday:20 DayIDRefSaturday:20"
        "  DayIDRefSunday:20;"
        "03 PublishSeasons ProviderID:23 IssuerEventID:23 IssuerCalendarID:23"
        "  CommandIndex:20 TotalNumberOfCommands:20"
        "  Seasons:[SeasonStartDate:E1,WeekIDRef:20];"
        "04 PublishSpecialDays ProviderID:23 IssuerEventID:23 IssuerCalendarID:23"
        "  StartTime:E2 CalendarType:30 TotalNumberOfSpecialDays:20 CommandIndex:20"
        "  TotalNumberOfCommands:20 SpecialDays:[SpecialDayDate:E1,DayIDRef:20];"
    )

    def _calendars(self):
        """[(Calendar, start)] active first, then a pending one."""
        tf = self.app.tariff
        out = [(tf.calendar, tf.parts["cal"].since)]
        p, sp = tf.parts["cal"], tf.parts["spd"]
        if p.passive is not None and p.at != NEVER:
            out.append((C.Calendar(p.passive, sp.passive if sp.passive is not None
                                   else sp.active), p.at))
        return out

    def _find(self, f):
        tf = self.app.tariff
        if f["ProviderID"] not in (tf.provider_id, _ANY32):
            raise ZclError(_NOT_FOUND)
        for cal, start in self._calendars():
            if f["IssuerCalendarID"] in (start, _ANY32):
                return cal, start
        raise ZclError(_NOT_FOUND)

    def _ids(self, start):
        """The head every Publish command here starts with, as a tuple in
        schema order: ProviderID, IssuerEventID, IssuerCalendarID."""
        return (self.app.tariff.provider_id, start, start)

    def on_GetCalendar(self, req, f):
        if f["CalendarType"] not in (_CAL_DELIVERED, 0xFF):
            raise ZclError(_NOT_FOUND)
        cals = self._calendars()
        found = []
        for i in range(len(cals)):
            cal, start = cals[i]
            nxt = cals[i + 1][1] if i + 1 < len(cals) else _ANY32
            if nxt > f["EarliestStartTime"] and \
                    (f["MinIssuerEventID"] == _ANY32 or start >= f["MinIssuerEventID"]):
                found.append((cal, start))
        if f["NumberOfCalendars"]:
            found = found[:f["NumberOfCalendars"]]
        if not found:
            raise ZclError(_NOT_FOUND)
        for cal, start in found:
            self.reply(req, "PublishCalendar", self._ids(start) + (
                start, _CAL_DELIVERED, _TIME_REF_UTC, cal.name[:12],
                len(cal.seasons), len(cal.weeks), len(cal.days)))

    def on_GetDayProfiles(self, req, f):
        cal, start = self._find(f)
        ids = _select(cal.days, f["StartDayID"], f["NumberOfDays"])
        per = (self.app.zcl.room() - _DAY_HEAD) // 3     # one frame each (zcl/engine.py)
        for did in ids:
            entries = [(start_s // 60, sel if sel <= 48 else sel - 100)   # StartTime, PriceTier
                       for start_s, sel in cal.profile(did)]
            total = (len(entries) + per - 1) // per
            for i in range(total):
                self.reply(req, "PublishDayProfile", self._ids(start) + (
                    did, len(entries), i, total, _CAL_DELIVERED,
                    entries[i * per:(i + 1) * per]))

    def on_GetWeekProfiles(self, req, f):
        cal, start = self._find(f)
        ids = _select(cal.weeks, f["StartWeekID"], f["NumberOfWeeks"])
        for wid in ids:       # WeekID, then the day ids Monday .. Sunday
            self.reply(req, "PublishWeekProfile",
                       self._ids(start) + (wid,) + tuple(cal.weeks[wid][:7]))

    def on_GetSeasons(self, req, f):
        cal, start = self._find(f)
        seasons = [(_zcl_date(y, m, d, _ANY8), wk)      # SeasonStartDate, WeekIDRef
                   for y, m, d, wk in cal.seasons]
        self._segmented(req, "PublishSeasons", start, seasons, 14, ())

    def on_GetSpecialDays(self, req, f):
        if f["CalendarType"] not in (_CAL_DELIVERED, 0xFF):
            raise ZclError(_NOT_FOUND)
        cal, start = self._find(f)
        days = [(_zcl_date(y, m, d, wd), did)            # SpecialDayDate, DayIDRef
                for y, m, d, wd, did in cal.specials]
        if f["NumberOfEvents"]:
            days = days[:f["NumberOfEvents"]]
        if not days:
            raise ZclError(_NOT_FOUND)
        self._segmented(req, "PublishSpecialDays", start, days, 20,
                        (start, _CAL_DELIVERED, len(days)))   # StartTime, type, total days

    def _segmented(self, req, cmd, start, items, head, extra):
        """cmd in pieces: the ids, extra (the fields before CommandIndex),
        CommandIndex, TotalNumberOfCommands, the pieces' items."""
        per = (self.app.zcl.room() - head) // 5          # one frame each (zcl/engine.py)
        total = (len(items) + per - 1) // per or 1
        for i in range(total):
            self.reply(req, cmd, self._ids(start) + extra + (i, total,
                                                             items[i * per:(i + 1) * per]))


def _select(table, first, n):
    """Ids from first upwards, at most n of them (0: all); NOT_FOUND if none."""
    ids = [i for i in sorted(table) if i >= first]
    if n:
        ids = ids[:n]
    if not ids:
        raise ZclError(_NOT_FOUND)
    return ids


def _zcl_date(y, m, d, wd):
    """ZCL Date (year - 1900, month, day, weekday 1 = Monday) with 0xFF
    wildcards, from the DLMS form (year 0xFFFF = any)."""
    return (0xFF if y == _ANY16 else y - 1900, m, d, wd)
