# Metering cluster (0x0702) server, ZSE 1.x Annex D.3, for an electricity
# import meter. Values come from the meter core and metering/profile.py;
# everything on the wire goes through metering/format.py. Command layouts as
# Wireshark's SE dissector decodes them.
import struct

from ..zcl.cluster import Cluster
from ..zcl.status import ZclError
from ..metering import format as F
from ..tariff.matrix import block_slot
from .. import commands as C
from ..platform.clock import period_bounds

# other modules' constants, folded here (host_tests/test_const_copies.py keeps them equal)
_A_P = const(0x04)                  # = zcl.cluster.A_P
_A_R = const(0x01)                  # = zcl.cluster.A_R
_BP_MONTH = const(3)                # = platform.clock.BP_MONTH
_ENABLED = const(2)                 # = prepay.supply.ENABLED
_HALF_HOUR = const(1800)            # = metering.profile.HALF_HOUR
_INVALID_FIELD = const(0x85)        # = zcl.status.INVALID_FIELD
_MALFORMED_COMMAND = const(0x80)    # = zcl.status.MALFORMED_COMMAND
_NOT_FOUND = const(0x8B)            # = zcl.status.NOT_FOUND
_PERIOD_30MIN = const(2)            # = metering.profile.PERIOD_30MIN
_P_LL_POWER = const(6)              # = prepay.account.P_LL_POWER
_SUCCESS = const(0x00)              # = zcl.status.SUCCESS
_UINT48 = const(0x25)               # = zcl.types.UINT48


_ATTR_SUMMATION = const(0x0000)
_ATTR_MULTIPLIER = const(0x0301)
_ATTR_DIVISOR = const(0x0302)
_ATTR_SUMMATION_FMT = const(0x0303)
_ATTR_DEMAND_FMT = const(0x0304)
_ATTR_DEMAND = const(0x0400)
_ATTR_FAST_POLL_PERIOD = const(0x000B)
_ATTR_MAX_PERIODS = const(0x0500)
_ATTR_LOAD_LIMIT_COUNTER = const(0x0606)

# Get Profile Response status (ZSE D.3.2.4.1)
_GP_SUCCESS = const(0x00)
_GP_UNDEFINED_CHANNEL = const(0x01)
_GP_CHANNEL_NOT_SUPPORTED = const(0x02)
_GP_INVALID_END_TIME = const(0x03)
_GP_TOO_MANY_PERIODS = const(0x04)
_GP_NO_INTERVALS = const(0x05)
_INVALID_INTERVAL = const(0xFFFFFF)        # "invalid intervals should be marked 0xFFFFFF"
_FAST_POLL_MAX_MIN = const(15)             # fast poll lasts at most 15 minutes
_PAYLOAD_TOU_DELIVERED = const(0x00)       # snapshot payload type
_SNAPSHOT_HEAD = const(16)                # Publish Snapshot before its payload
_PROFILE_HEAD = const(10)                 # Get Profile Response before its intervals, with the ZCL header
_MAX_PERIODS = const(24)


class Metering(Cluster):
    ID = 0x0702
    NAME = "Metering"
    SECURE = True
    ATTRS = (
        # Reading Information set
        "0000 CurrentSummationDelivered 25 RPD 0;"
        "0001 CurrentSummationReceived 25 RP 0;"              # import only
        "0002 CurrentMaxDemandDelivered 25 RPD 0;"
        "0004 DFTSummation 25 RD 0;"
        "0005 DailyFreezeTime 21 R 0;"                        # midnight UTC
        "0006 PowerFactor 28 RPD 0;"
        "0007 ReadingSnapShotTime E2 RD 0;"
        "0008 CurrentMaxDemandDeliveredTime E2 RD 0;"
        "000A DefaultUpdatePeriod 20 R 30;"
        "000B FastPollUpdatePeriod 20 R 5;"
        "000C CurrentBlockPeriodConsumptionDelivered 25 RPD 0;"
        "000E CurrentBlock 30 RPD 0;"
        "000F ProfileIntervalPeriod 30 R 2;"
        "0014 SupplyStatus 30 RPD 2;"
        "0020 ActiveRegisterTierDelivered 30 RPD 1;"
        # Meter Status set
        "0200 Status 18 RP 0;"
        # Formatting set
        "0300 UnitOfMeasure 30 R 0;"
        "0301 Multiplier 22 R 1;"
        "0302 Divisor 22 R 1000;"
        "0303 SummationFormatting 18 R 0xBB;"
        "0304 DemandFormatting 18 R 0xAB;"
        "0305 HistoricalConsumptionFormatting 18 R 0xAB;"
        "0306 MeteringDeviceType 18 R 0;"                       # GBCS §10.4.2.11
        "0307 SiteID 41 R '';"
        "0308 MeterSerialNumber 41 R '';"
        # Historical Consumption set
        "0400 InstantaneousDemand 2A RPD 0;"
        "0401 CurrentDayConsumptionDelivered 22 RPD 0;"
        "0403 PreviousDayConsumptionDelivered 22 RD 0;"
        "0405 CurrentPartialProfileIntervalStartTimeDelivered E2 RD 0;"
        "0407 CurrentPartialProfileIntervalValueDelivered 22 RD 0;"
        "0430 CurrentWeekConsumptionDelivered 23 RD 0;"
        "0432 PreviousWeekConsumptionDelivered 23 RD 0;"
        "0440 CurrentMonthConsumptionDelivered 23 RD 0;"
        "0442 PreviousMonthConsumptionDelivered 23 RD 0;"
        # Load Profile Configuration set
        # as many intervals as one Get Profile Response carries (zcl/engine.py)
        "0500 MaxNumberOfPeriodsDelivered 20 RD 24;"
        # Supply Limit set (the limiter itself is the prepayment issue's)
        "0600 CurrentDemandDelivered 22 RD 0;"
        "0601 DemandLimit 22 RD 0;"                           # the load-limit power threshold
        "0602 DemandIntegrationPeriod 20 R 30;"
        "0603 NumberOfDemandSubintervals 20 R 1;"
        "0605 LoadLimitSupplyState 30 RD 2;"
        "0606 LoadLimitCounter 20 RN 0;"
        # Alarms set
        "0800 GenericAlarmMask 19 RWN 0xFFFF;"
        "0801 ElectricityAlarmMask 1B RWN 0xFFFFFFFF;"
        # Billing set: cost of the current billing period (metering/snapshots.py)
        "0A00 BillToDateDelivered 23 RD 0;"
        "0A01 BillToDateTimeStampDelivered E2 RD 0;"
        "0A02 ProjectedBillDelivered 23 RD 0;"
        "0A03 ProjectedBillTimeStampDelivered E2 RD 0;"
        "0A04 BillDeliveredTrailingDigit 18 RD 0;"
    )
    # The tariff registers (GBCS Table 7.3.7.2 through ZSE D.3.2.2.2 / .12):
    # TOU register t at 0x0100 + 2(t-1); block b of time band t at
    # 0x0700 + 0x10 t + (b-1).
    RANGES = (
        (0x0100, 48, 2, "CurrentTier%dSummationDelivered", _UINT48, _A_R | _A_P),
        (0x0710, 8, 0x10, "CurrentTier%dBlock1SummationDelivered", _UINT48, _A_R | _A_P),
        (0x0711, 8, 0x10, "CurrentTier%dBlock2SummationDelivered", _UINT48, _A_R | _A_P),
        (0x0712, 8, 0x10, "CurrentTier%dBlock3SummationDelivered", _UINT48, _A_R | _A_P),
        (0x0713, 8, 0x10, "CurrentTier%dBlock4SummationDelivered", _UINT48, _A_R | _A_P),
    )
    RX = (
        "00 GetProfile IntervalChannel:30 EndTime:E2 NumberOfPeriods:20;"
        "03 RequestFastPollMode FastPollUpdatePeriod:20 Duration:20;"
        "04 ScheduleSnapshot IssuerEventID:23 CommandIndex:20"
        "  TotalNumberOfCommands:20 Schedules:REST;"
        "05 TakeSnapshot SnapshotCause:1B;"
        "06 GetSnapshot EarliestStartTime:E2 LatestEndTime:E2 SnapshotOffset:20"
        "  SnapshotCause:1B;"
        "0A ResetLoadLimitCounter ProviderID:23 IssuerEventID:23;"
        "0B ChangeSupply ProviderID:23 IssuerEventID:23 RequestDateTime:E2"
        "  ImplementationDateTime:E2 ProposedSupplyStatus:30 SupplyControlBits:18;"
        "0C LocalChangeSupply ProposedSupplyStatus:30;"
        "0D SetSupplyStatus IssuerEventID:23 SupplyTamperState:30"
        "  SupplyDepletionState:30 SupplyUncontrolledFlowState:30"
        "  LoadLimitSupplyState:30;"
    )
        # ZSE 1.x D.3.2.3.1, the server's generated command ids: 0x07 is Get
        # Sampled Data Response; Supply Status Response (the answer to
        # Change Supply) is 0x0C.
    TX = (
        "00 GetProfileResponse EndTime:E2 Status:30 ProfileIntervalPeriod:30"
        "  NumberOfPeriodsDelivered:20 Intervals:[Value:22];"
        "03 RequestFastPollModeResponse AppliedUpdatePeriod:20 FastPollModeEndTime:E2;"
        "04 ScheduleSnapshotResponse IssuerEventID:23"
        "  Confirmations:[SnapshotScheduleID:20,Confirmation:20];"
        "05 TakeSnapshotResponse SnapshotID:23 SnapshotConfirmation:30;"
        "06 PublishSnapshot SnapshotID:23 SnapshotTime:E2 TotalSnapshotsFound:20"
        "  CommandIndex:20 TotalNumberOfCommands:20 SnapshotCause:1B"
        "  SnapshotPayloadType:30 SnapshotPayload:REST;"
        "0C SupplyStatusResponse ProviderID:23 IssuerEventID:23"
        "  ImplementationDateTime:E2 SupplyStatus:30;"
    )

    fast_poll_end = 0     # set by RequestFastPollMode (the class's 0 until then)

    def __init__(self, app):
        Cluster.__init__(self, app)
        # the formatting attributes, read for every reading on the wire and
        # the display (the tick): held in values, no default decoded then
        v = self.values
        for aid in (_ATTR_MULTIPLIER, _ATTR_DIVISOR, _ATTR_SUMMATION_FMT, _ATTR_DEMAND_FMT):
            v[aid] = self.stored(aid)

    # -- values ------------------------------------------------------------------------
    def _wire(self, internal):
        v = self.values
        return F.to_wire(internal, v[_ATTR_MULTIPLIER], v[_ATTR_DIVISOR])

    def read(self, aid):
        m = self.app
        if aid == _ATTR_SUMMATION:
            return self._wire(m.import_wh)
        if aid == _ATTR_DEMAND:
            return self._wire(m.power_w)
        if aid < 0x0400 or aid >= 0x0600:
            return self._read_other(aid)
        return self._read_historical(aid)

    def _read_other(self, aid):
        m = self.app
        p = m.profile
        tf = m.tariff
        if 0x0100 <= aid < 0x0160:
            return self._wire(tf.reg[(aid - 0x0100) >> 1])
        if 0x0710 <= aid < 0x0790:
            return self._wire(tf.reg[block_slot((aid & 0x0F) + 1, (aid >> 4) - 0x70)])
        if aid == 0x000C:
            return self._wire(sum(tf.counters))
        if aid == 0x000E:
            return tf.current_block(tf.tier_now()) if tf.block_mode() else 0
        if aid == 0x0020:
            return tf.tier_now()
        if aid == 0x0002:
            return self._wire(p.max_demand_w)
        if aid == 0x0004:
            v = p.daily_read(p.day)
            return self._wire(v if v is not None else p.day_start)
        if aid == 0x0006:
            return m.metrology.power_factor()
        if aid == 0x0007:
            return m.clock.now()
        if aid == 0x0008:
            return p.max_demand_t
        if aid == 0x0014:
            return m.supply.state                      # 0 off, 1 off/armed, 2 on
        if 0x0A00 <= aid <= 0x0A04:
            return self._billing(aid)
        if aid == 0x0605:
            return m.supply.ll_state
        if aid == 0x0601:
            return min(self._wire(m.account.p[_P_LL_POWER]), 0xFFFFFF)
        if aid == 0x0600:                              # last half-hour's average demand
            last = p.interval(p.last_idx) if p.last_idx >= 0 else None
            return self._wire(last[0] * 2) if last else 0
        return self.stored(aid)

    def _billing(self, aid):
        """Bill to date: energy and standing charge since the billing period
        began, in the Price cluster's currency units and trailing digit;
        projected over the whole period at the rate so far."""
        m = self.app
        now = m.clock.now()
        if aid == 0x0A04:
            return (-m.tariff.scaler) << 4
        if aid == 0x0A01 or aid == 0x0A03:
            return now
        bill = m.snapshots.bill_to_date()
        if aid == 0x0A02:
            s, e = period_bounds(_BP_MONTH, now)       # the billing month
            if now > s:
                bill = bill * (e - s) // (now - s)
        return min(max(bill, 0), 0xFFFFFFFF)

    def _read_historical(self, aid):
        m = self.app
        p = m.profile
        wh = m.import_wh
        if aid == 0x0401:
            return self._wire(wh - p.day_start)
        if aid == 0x0403:
            return self._wire(p.prev_day)
        if aid == 0x0405:
            return p.current_interval(wh)[0]
        if aid == 0x0407:
            return self._wire(p.current_interval(wh)[1])
        if aid == 0x0430:
            return self._wire(wh - p.week_start)
        if aid == 0x0432:
            return self._wire(p.prev_week)
        if aid == 0x0440:
            return self._wire(wh - p.month_start)
        if aid == 0x0442:
            return self._wire(p.prev_month)
        if aid == _ATTR_MAX_PERIODS:
            return min(_MAX_PERIODS,
                       (self.app.zcl.limit(True) - _PROFILE_HEAD) // 3)
        return self.stored(aid)

    def display_summation(self):
        """What the display shows for CurrentSummationDelivered, in kWh."""
        v = self.values
        return F.render(self.read(_ATTR_SUMMATION), v[_ATTR_MULTIPLIER], v[_ATTR_DIVISOR],
                        v[_ATTR_SUMMATION_FMT])

    def display_demand(self):
        v = self.values
        return F.render(self.read(_ATTR_DEMAND), v[_ATTR_MULTIPLIER], v[_ATTR_DIVISOR],
                        v[_ATTR_DEMAND_FMT])

    # -- commands ------------------------------------------------------------------------
    def on_GetProfile(self, req, f):
        """ZSE D.3.2.3.1.1: newest interval first, missing ones 0xFFFFFF."""
        p = self.app.profile
        now = self.app.clock.now()
        n = f["NumberOfPeriods"]
        # ZSE D.3.2.3.1.1: never more than MaxNumberOfPeriodsDelivered, which
        # is what one frame carries (no CommandIndex in this response); an
        # unsecured request (benches only) is answered in the same frame size
        maxn = min(self.read(_ATTR_MAX_PERIODS),
                   (len(self.app.zcl.tx) - _PROFILE_HEAD) // 3)
        status = _GP_SUCCESS
        intervals = []
        end = f["EndTime"]
        if f["IntervalChannel"] == 1:
            status = _GP_CHANNEL_NOT_SUPPORTED       # import-only meter: no received channel
        elif f["IntervalChannel"] != 0:
            status = _GP_UNDEFINED_CHANNEL
        elif end > now:
            status = _GP_INVALID_END_TIME
        else:
            if n > maxn:
                status = _GP_TOO_MANY_PERIODS        # and deliver what can be returned
                n = maxn
            last, got = p.intervals_before(end, n, now)
            if not got or all(v is None for _, v in got):
                status = _GP_NO_INTERVALS
            else:
                end = (last + 1) * _HALF_HOUR
                for _, v in got:
                    intervals.append((_INVALID_INTERVAL if v is None else
                                      min(self._wire(v), _INVALID_INTERVAL - 1),))
        if status != _GP_SUCCESS and status != _GP_TOO_MANY_PERIODS:
            end = f["EndTime"]
        self.reply(req, "GetProfileResponse", (
            end, status, _PERIOD_30MIN, len(intervals), intervals))

    def on_RequestFastPollMode(self, req, f):
        """Applied period never below FastPollUpdatePeriod; at most 15 min."""
        period = max(f["FastPollUpdatePeriod"], self.stored(_ATTR_FAST_POLL_PERIOD))
        minutes = min(f["Duration"], _FAST_POLL_MAX_MIN)
        now = self.app.clock.now()
        if self.fast_poll_end < now:
            self.fast_poll_end = now + minutes * 60
        self.reply(req, "RequestFastPollModeResponse", (period, self.fast_poll_end))

    def on_ScheduleSnapshot(self, req, f):
        """Each 13-octet schedule (id, start, SnapshotSchedule u24, payload
        type, cause) confirmed one by one, all validated before any is
        applied (metering/snapshots.py); a command whose confirmations
        would not fit one response is refused whole."""
        raw = f["Schedules"]
        if len(raw) % 13 or not raw:
            raise ZclError(_MALFORMED_COMMAND)
        recs = []
        for i in range(0, len(raw), 13):
            sid, start, lo, hi, pt, cause = struct.unpack_from("<BIHBBI", raw, i)
            recs.append((sid, start, lo | (hi << 16), pt, cause))
        # response: ZCL header (3), IssuerEventID (4), 2 octets a confirmation
        room = (len(self.app.zcl.tx) - 7) // 2
        confs = []
        from ..commands import supplier as CS     # on first use
        CS.schedule_snapshots(self.app, recs, room)
        for sid, c in C.detail:
            confs.append((sid, c))              # SnapshotScheduleID, Confirmation
        self.reply(req, "ScheduleSnapshotResponse", (f["IssuerEventID"], confs))

    def on_TakeSnapshot(self, req, f):
        from ..commands import supplier as CS     # on first use
        C.zcl_status(CS.take_snapshot(self.app, f["SnapshotCause"]))
        self.reply(req, "TakeSnapshotResponse", (C.detail, 0))   # SnapshotID, confirmation

    def on_GetSnapshot(self, req, f):
        """The SnapshotOffset-th newest matching snapshot of any log; a
        payload longer than one frame goes in CommandIndex-numbered pieces
        (ZSE D.3.2.4.6)."""
        snaps = self.app.snapshots
        found = snaps.find(f["EarliestStartTime"], f["LatestEndTime"], f["SnapshotCause"])
        k = f["SnapshotOffset"]
        if k >= len(found):
            raise ZclError(_NOT_FOUND)
        t, sid = found[k]
        rec = snaps.get(sid)
        if rec is None:
            raise ZclError(_NOT_FOUND)
        tf = self.app.tariff
        payload = snaps.payload(rec, self._wire, tf.tiers_in_use(), (-tf.scaler) << 4,
                                snaps.bill_of(sid, rec))
        cause = struct.unpack_from("<I", rec, 4)[0]
        piece = self.app.zcl.room() - _SNAPSHOT_HEAD     # one frame each (zcl/engine.py)
        n = (len(payload) + piece - 1) // piece
        for i in range(n):
            self.reply(req, "PublishSnapshot", (
                sid, t, len(found), i, n, cause, _PAYLOAD_TOU_DELIVERED,
                bytes(payload[i * piece:(i + 1) * piece])))

    def on_ResetLoadLimitCounter(self, req, f):
        self.write(_ATTR_LOAD_LIMIT_COUNTER, 0)

    # -- supply control (GBCS §13.7.3; prepay/supply.py) --------------------------------------
    def on_ChangeSupply(self, req, f):
        """The supplier's route (our comms hub stands in for the ESI). A
        future ImplementationDateTime is not supported: refused, not faked."""
        self.require_supplier(req)
        m = self.app
        st = f["ProposedSupplyStatus"]
        if st > _ENABLED:
            raise ZclError(_INVALID_FIELD)
        if f["ImplementationDateTime"] > m.clock.now():
            raise ZclError(_INVALID_FIELD)
        from ..commands import supplier as CS     # on first use
        C.zcl_status(CS.set_supply(m, st))
        if f["SupplyControlBits"] & 0x01:         # acknowledge required
            self.reply(req, "SupplyStatusResponse", (
                f["ProviderID"], f["IssuerEventID"], m.clock.now(), m.supply.state))
        return _SUCCESS

    def on_LocalChangeSupply(self, req, f):
        """§13.7.3: actioned only from a PPMID and only for Supply ON (0x02),
        which enables an armed supply; an IHD or HCALCS may never enable."""
        m = self.app
        return C.zcl_status(C.han_supply_on(m, m.devices.get(req.aps.src) == "ppmid" and
                                   f["ProposedSupplyStatus"] == _ENABLED))

    def on_SetSupplyStatus(self, req, f):
        """Only the load-limit supply state is acted on (the state the
        supply takes on a load-limit event); the other fields are the ESI's
        view of tamper, depletion and flow, which this meter detects itself."""
        self.require_supplier(req)
        from ..commands import supplier as CS     # on first use
        return C.zcl_status(CS.set_load_limit_state(self.app, f["LoadLimitSupplyState"]))

