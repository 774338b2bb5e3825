# Calendar cluster (0x0707) server, ZSE 1.2+ Annex D.9: the tariff
# switching table published to HAN devices as a "delivered" TOU calendar.
# IssuerCalendarID is the time the calendar took (or takes) effect, so the
# active and a pending calendar are told apart and the Publish commands of
# one calendar share the id. Day profiles carry start times in minutes
# (GBCS switch points are seconds; a point inside a minute is published at
# that minute) and the ZSE price tier (TOU index, or time band in block
# mode). Large payloads use CommandIndex / TotalNumberOfCommands.
from ..compat import const
from ..zcl import status as S
from ..zcl.cluster import Cluster, Cmds
from ..zcl.status import ZclError
from ..tariff import calendar as C
from ..platform.clock import NEVER

_CAL_DELIVERED = const(0x00)
_TIME_REF_UTC = const(0x00)
_DAY_HEAD = const(17)          # PublishDayProfile before its entries
_ANY32 = 0xFFFFFFFF


class CalendarServer(Cluster):
    ID = 0x0707
    NAME = "Calendar"
    SECURE = True
    RX = Cmds(
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
    TX = Cmds(
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
            raise ZclError(S.NOT_FOUND)
        for cal, start in self._calendars():
            if f["IssuerCalendarID"] in (start, _ANY32):
                return cal, start
        raise ZclError(S.NOT_FOUND)

    def _ids(self, start):
        return {"ProviderID": self.app.tariff.provider_id, "IssuerEventID": start,
                "IssuerCalendarID": start}

    def on_GetCalendar(self, req, f):
        if f["CalendarType"] not in (_CAL_DELIVERED, 0xFF):
            raise ZclError(S.NOT_FOUND)
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
            raise ZclError(S.NOT_FOUND)
        for cal, start in found:
            fl = self._ids(start)
            fl.update({"StartTime": start, "CalendarType": _CAL_DELIVERED,
                       "CalendarTimeReference": _TIME_REF_UTC, "CalendarName": cal.name[:12],
                       "NumberOfSeasons": len(cal.seasons),
                       "NumberOfWeekProfiles": len(cal.weeks),
                       "NumberOfDayProfiles": len(cal.days)})
            self.reply(req, "PublishCalendar", fl)

    def on_GetDayProfiles(self, req, f):
        cal, start = self._find(f)
        ids = _select(cal.days, f["StartDayID"], f["NumberOfDays"])
        per = (self.app.zcl.room() - _DAY_HEAD) // 3     # one frame each (zcl/engine.py)
        for did in ids:
            entries = [{"StartTime": start_s // 60, "PriceTier": sel if sel <= 48 else sel - 100}
                       for start_s, sel in cal.profile(did)]
            total = (len(entries) + per - 1) // per
            for i in range(total):
                fl = self._ids(start)
                fl.update({"DayID": did, "TotalNumberOfScheduleEntries": len(entries),
                           "CommandIndex": i, "TotalNumberOfCommands": total,
                           "CalendarType": _CAL_DELIVERED,
                           "Entries": entries[i * per:(i + 1) * per]})
                self.reply(req, "PublishDayProfile", fl)

    def on_GetWeekProfiles(self, req, f):
        cal, start = self._find(f)
        ids = _select(cal.weeks, f["StartWeekID"], f["NumberOfWeeks"])
        names = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
        for wid in ids:
            fl = self._ids(start)
            fl["WeekID"] = wid
            for i in range(7):
                fl["DayIDRef" + names[i]] = cal.weeks[wid][i]
            self.reply(req, "PublishWeekProfile", fl)

    def on_GetSeasons(self, req, f):
        cal, start = self._find(f)
        seasons = [{"SeasonStartDate": _zcl_date(y, m, d, C.ANY8), "WeekIDRef": wk}
                   for y, m, d, wk in cal.seasons]
        self._segmented(req, "PublishSeasons", start, seasons, "Seasons", 14, {})

    def on_GetSpecialDays(self, req, f):
        if f["CalendarType"] not in (_CAL_DELIVERED, 0xFF):
            raise ZclError(S.NOT_FOUND)
        cal, start = self._find(f)
        days = [{"SpecialDayDate": _zcl_date(y, m, d, wd), "DayIDRef": did}
                for y, m, d, wd, did in cal.specials]
        if f["NumberOfEvents"]:
            days = days[:f["NumberOfEvents"]]
        if not days:
            raise ZclError(S.NOT_FOUND)
        self._segmented(req, "PublishSpecialDays", start, days, "SpecialDays", 20, {
            "StartTime": start, "CalendarType": _CAL_DELIVERED,
            "TotalNumberOfSpecialDays": len(days)})

    def _segmented(self, req, cmd, start, items, key, head, extra):
        per = (self.app.zcl.room() - head) // 5          # one frame each (zcl/engine.py)
        total = (len(items) + per - 1) // per or 1
        for i in range(total):
            fl = self._ids(start)
            fl.update(extra)
            fl.update({"CommandIndex": i, "TotalNumberOfCommands": total,
                       key: items[i * per:(i + 1) * per]})
            self.reply(req, cmd, fl)


def _select(table, first, n):
    """Ids from first upwards, at most n of them (0: all); NOT_FOUND if none."""
    ids = [i for i in sorted(table) if i >= first]
    if n:
        ids = ids[:n]
    if not ids:
        raise ZclError(S.NOT_FOUND)
    return ids


def _zcl_date(y, m, d, wd):
    """ZCL Date (year - 1900, month, day, weekday 1 = Monday) with 0xFF
    wildcards, from the DLMS form (year 0xFFFF = any)."""
    return (0xFF if y == C.ANY16 else y - 1900, m, d, wd)
