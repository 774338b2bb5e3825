# Price cluster (0x0700) server, ZSE 1.x Annex D.4, publishing the tariff
# engine's active (and pending) tariff to HAN devices. Command layouts as
# Wireshark's SE dissector decodes them; payloads longer than one frame use
# the commands' own CommandIndex / TotalNumberOfCommands segmentation.
#
# Mapping of the GBCS tariff onto ZSE (GBCS §7.3.7.2, Table 7.4):
#   price tier  = TOU index 1..48, or the time band 1..8 in block mode
#   block       = block 1..4 of that band (TierTBlockNPrice / thresholds)
#   prices      = charge_per_unit, Price Trailing Digit = -price_scaler
#   IssuerEventID of a price = its start time (unique and increasing);
#   IssuerTariffID = the tariff's id; IssuerEventID of tariff information =
#   the time the price matrix became (or becomes) active.
# Tiers above 15 use the Extended Price Tier fields (ZSE 1.2): the 4-bit
# field holds 0xF and the extended field tier - 15.
from ..zcl import types as T
from ..zcl.cluster import Cluster
from ..zcl.status import ZclError
from ..zcl.engine import runs
from ..tariff import matrix as M
from ..platform.clock import NEVER, period_bounds

# other modules' constants, folded here (host_tests/test_const_copies.py keeps them equal)
_A_R = const(0x01)          # = zcl.cluster.A_R
_BP_MONTH = const(3)        # = platform.clock.BP_MONTH
_BP_NONE = const(0)         # = platform.clock.BP_NONE
_NOT_FOUND = const(0x8B)    # = zcl.status.NOT_FOUND
_N_BANDS = const(8)         # = tariff.matrix.N_BANDS
_N_TOU = const(48)          # = tariff.matrix.N_TOU
_OCTSTR = const(0x41)       # = zcl.types.OCTSTR
_UINT32 = const(0x23)       # = zcl.types.UINT32
_UINT48 = const(0x25)       # = zcl.types.UINT48

UNIT_KWH = const(0x00)
_SEG_HEAD = const(19)              # ProviderID .. SubPayloadControl of the segmented commands
_LABELS_HEAD = const(15)           # PublishTierLabels before its labels
_SUBSCRIBERS = const(8)


class Price(Cluster):
    ID = 0x0700
    NAME = "Price"
    SECURE = True
    ATTRS = (
        "010F BlockThresholdCount 20 RD 0;"
        "0200 StartOfBlockPeriod E2 RD 0;"
        "0201 BlockPeriodDuration 22 RD 0;"
        "0202 ThresholdMultiplier 22 R 1;"
        "0203 ThresholdDivisor 22 R 1000;"                    # thresholds held in Wh
        "0204 BlockPeriodDurationType 18 RD 0;"
        "0300 CommodityType 30 R 0;"                           # electric metering
        "0301 StandingCharge 23 RD 0;"
        "0610 TariffLabel 41 RD '';"
        "0611 NumberOfPriceTiersInUse 20 RD 0;"
        "0612 NumberOfBlockThresholdsInUse 20 RD 0;"
        "0613 TierBlockMode 30 RD 255;"
        "0615 UnitOfMeasure 30 R 0;"
        "0616 Currency 21 RD 826;"
        "0617 PriceTrailingDigit 18 RD 0;"
        "0700 CurrentBillingPeriodStart E2 RD 0;"
        "0701 CurrentBillingPeriodDuration 22 RD 0;"
    )
    RANGES = (
        (0x0000, 48, 1, "Tier%dPriceLabel", _OCTSTR, _A_R),
        (0x0110, 8, 0x10, "Tier%dBlock1Threshold", _UINT48, _A_R),
        (0x0111, 8, 0x10, "Tier%dBlock2Threshold", _UINT48, _A_R),
        (0x0112, 8, 0x10, "Tier%dBlock3Threshold", _UINT48, _A_R),
        (0x0410, 15, 0x10, "Tier%dBlock1Price", _UINT32, _A_R),
        (0x0411, 8, 0x10, "Tier%dBlock2Price", _UINT32, _A_R),
        (0x0412, 8, 0x10, "Tier%dBlock3Price", _UINT32, _A_R),
        (0x0413, 8, 0x10, "Tier%dBlock4Price", _UINT32, _A_R),
        (0x050F, 33, 1, "PriceTier%d", _UINT32, _A_R),     # tiers 16..48 (numbered 1..33)
    )
    RX = (
        "00 GetCurrentPrice CommandOptions:18;"
        "01 GetScheduledPrices StartTime:E2 NumberOfEvents:20;"
        "02 PriceAcknowledgement ProviderID:23 IssuerEventID:23 PriceAckTime:E2"
        "  Control:18;"
        "03 GetBlockPeriods StartTime:E2 NumberOfEvents:20 TariffType?:18;"
        "06 GetTariffInformation EarliestStartTime:E2 MinIssuerEventID:23"
        "  NumberOfCommands:20 TariffType:18;"
        "07 GetPriceMatrix IssuerTariffID:23;"
        "08 GetBlockThresholds IssuerTariffID:23;"
        "0A GetTierLabels IssuerTariffID:23;"
        "0B GetBillingPeriod EarliestStartTime:E2 MinIssuerEventID:23"
        "  NumberOfCommands:20 TariffType?:18;"
    )
    TX = (
        "00 PublishPrice ProviderID:23 RateLabel:41 IssuerEventID:23"
        "  CurrentTime:E2 UnitOfMeasure:30 Currency:21"
        "  PriceTrailingDigitAndPriceTier:18 NumberOfPriceTiersAndRegisterTier:18"
        "  StartTime:E2 DurationInMinutes:21 Price:23 PriceRatio:20"
        "  GenerationPrice:23 GenerationPriceRatio:20 AlternateCostDelivered:23"
        "  AlternateCostUnit:30 AlternateCostTrailingDigit:18"
        "  NumberOfBlockThresholds:20 PriceControl:18 NumberOfGenerationTiers:20"
        "  GenerationTier:30 ExtendedNumberOfPriceTiers:30 ExtendedPriceTier:30"
        "  ExtendedRegisterTier:30;"
        "01 PublishBlockPeriod ProviderID:23 IssuerEventID:23"
        "  BlockPeriodStartTime:E2 BlockPeriodDuration:22 BlockPeriodControl:18"
        "  BlockPeriodDurationType:18 TariffType:18 TariffResolutionPeriod:30;"
        "04 PublishTariffInformation ProviderID:23 IssuerEventID:23"
        "  IssuerTariffID:23 StartTime:E2 TariffTypeChargingScheme:18"
        "  TariffLabel:41 NumberOfPriceTiersInUse:20"
        "  NumberOfBlockThresholdsInUse:20 UnitOfMeasure:30 Currency:21"
        "  PriceTrailingDigit:18 StandingCharge:23 TierBlockMode:30"
        "  BlockThresholdMultiplier:22 BlockThresholdDivisor:22;"
        "05 PublishPriceMatrix ProviderID:23 IssuerEventID:23 StartTime:E2"
        "  IssuerTariffID:23 CommandIndex:20 TotalNumberOfCommands:20"
        "  SubPayloadControl:18 Entries:[TierBlockID:20,Price:23];"
        "06 PublishBlockThresholds ProviderID:23 IssuerEventID:23 StartTime:E2"
        "  IssuerTariffID:23 CommandIndex:20 TotalNumberOfCommands:20"
        "  SubPayloadControl:18 Thresholds:REST;"
        "08 PublishTierLabels ProviderID:23 IssuerEventID:23 IssuerTariffID:23"
        "  CommandIndex:20 TotalNumberOfCommands:20 NumberOfLabels:20"
        "  Labels:[TierID:20,TierLabel:41];"
        "09 PublishBillingPeriod ProviderID:23 IssuerEventID:23"
        "  BillingPeriodStartTime:E2 BillingPeriodDuration:22"
        "  BillingPeriodDurationType:18 TariffType:18;"
    )

    acks = 0            # counters: the class's 0 until the first count
    published = 0

    def __init__(self, app):
        Cluster.__init__(self, app)
        self.subscribers = []        # (nwk, ep) that asked for unsolicited prices

    # -- attributes ----------------------------------------------------------------------
    def read(self, aid):
        tf = self.app.tariff
        if aid < 0x0030:
            return tf.labels.get(aid + 1, b"")
        if 0x0110 <= aid < 0x0190 and (aid & 0x0F) < 3:
            th = tf.thresholds[(aid >> 4) - 0x11]
            k = aid & 0x0F
            return th[k] if k < len(th) else 0
        if 0x0410 <= aid < 0x0500:
            t, n = (aid >> 4) - 0x40, (aid & 0x0F) + 1
            if tf.uses_blocks():
                return tf.prices[M.block_slot(n, t)] if t <= _N_BANDS else 0
            return tf.prices[t - 1] if n == 1 else 0
        if 0x050F <= aid < 0x0530:
            return tf.prices[aid - 0x050F + 15]
        return self._read_info(aid, tf)

    def _read_info(self, aid, tf):
        if aid == 0x010F:
            return max(len(th) for th in tf.thresholds)
        if aid == 0x0200 or aid == 0x0700:
            # block period, or billing period (calendar months; platform/clock.py)
            return period_bounds(_BP_MONTH if aid == 0x0700 else tf.block_period,
                                 self.app.clock.now())[0]
        if aid == 0x0201 or aid == 0x0701:
            s, e = period_bounds(_BP_MONTH if aid == 0x0701 else tf.block_period,
                                 self.app.clock.now())
            return (e - s) // 60 if e else 0
        if aid == 0x0204:
            return tf.block_period       # the BP_* codes are the ZSE duration timebase codes
        if aid == 0x0301:
            return tf.sc_amount * 86400 // tf.sc_period   # ZSE: per day
        if aid == 0x0610:
            return tf.calendar.name
        if aid == 0x0611:
            return tf.tiers_in_use()
        if aid == 0x0612:
            return sum(len(th) for th in tf.thresholds)
        if aid == 0x0613:
            return _tier_block_mode(tf)
        if aid == 0x0616:
            return tf.currency
        if aid == 0x0617:
            return (-tf.scaler) << 4
        return self.stored(aid)

    # -- unsolicited ---------------------------------------------------------------------
    def price_changed(self, tf):
        """The engine's on_change: push the new price to subscribers."""
        for nwk, ep in self.subscribers:
            self.send(nwk, ep, self.app.esi_ep, "PublishPrice", self._price_fields(tf, None))
            self.published += 1

    # -- commands --------------------------------------------------------------------------
    def on_GetCurrentPrice(self, req, f):
        # bit 0, Requestor Rx On When Idle: the client can take unsolicited
        # PublishPrice commands (ZSE D.4.2.3.1.1); kept in RAM, clients ask
        # again after a restart (AN5506 start-up sequence).
        if f["CommandOptions"] & 1:
            key = (req.aps.src, req.aps.src_ep)
            if key not in self.subscribers:
                if len(self.subscribers) >= _SUBSCRIBERS:
                    self.subscribers.pop(0)
                self.subscribers.append(key)
        self.reply(req, "PublishPrice", self._price_fields(self.app.tariff, None))

    def on_GetScheduledPrices(self, req, f):
        tf = self.app.tariff
        n = f["NumberOfEvents"] or 5
        start = max(f["StartTime"], self.app.clock.now())
        ch = tf.calendar.changes(start, min(n, 10))
        while ch and ch[-1][0] >= 0xFFFFFFFF:    # past the last UTCTime (ZCL rev 6
            ch.pop()                              # Table 2-10: 0xFFFFFFFF is invalid)
        if not ch:
            raise ZclError(_NOT_FOUND)
        for i in range(len(ch)):
            end = ch[i + 1][0] if i + 1 < len(ch) else 0
            self.reply(req, "PublishPrice", self._price_fields(tf, (ch[i][0], ch[i][1], end)))

    def on_PriceAcknowledgement(self, req, f):
        self.acks += 1

    def _price_fields(self, tf, sched):
        now = self.app.clock.now()
        if sched is None:
            sel, start = tf.sel, tf.sel_start
            end = tf.calendar.changes(now, 1)
            end = end[0][0] if end else 0
            price = tf.price_now()
        else:
            start, sel, end = sched
            band = sel - 100 if sel > _N_TOU else 0
            price = tf.prices[sel - 1] if not band else \
                tf.prices[M.block_slot(tf.current_block(band), band)]
        eid = start
        if start > now and sched is None:
            # The clock was set back past the start of the period in force
            # (a period starts no earlier than the tariff that defines it,
            # and that was activated on the old clock): on this clock the
            # price holds from now to the next switch point, never for a
            # negative duration (ZSE D.4.2.4.1 Publish Price: StartTime,
            # DurationInMinutes). The event id stays that of the period.
            start = now
        tier = sel if sel <= _N_TOU else sel - 100
        ntiers = tf.tiers_in_use()
        nth = len(tf.thresholds[tier - 1]) if sel > _N_TOU else 0
        dur = 0xFFFF if not end else max(0, min((end - start) // 60, 0xFFFE))
        # the PublishPrice fields in TX schema order (ProviderID .. ExtendedRegisterTier)
        return (
            tf.provider_id, tf.labels.get(tier, b""), eid, now, UNIT_KWH, tf.currency,
            ((-tf.scaler) << 4) | _nib(tier),              # trailing digit, price tier
            (_nib(ntiers) << 4) | _nib(tier),              # number of tiers, register tier
            start, dur, price,
            0xFF, NEVER, 0xFF,                       # PriceRatio, GenerationPrice(Ratio)
            # (NEVER is 0xFFFFFFFF, the UINT32 fields' "not used" value here)
            NEVER, 0xFF, 0xFF,                       # AlternateCost: delivered, unit, digit
            nth, 0x00, 0, 0,                               # thresholds, PriceControl, generation
            _ext(ntiers), _ext(tier), _ext(tier))          # extended tiers in use, price, register

    def on_GetBlockPeriods(self, req, f):
        tf = self.app.tariff
        if not tf.uses_blocks() or tf.block_period == _BP_NONE:
            raise ZclError(_NOT_FOUND)
        s, e = period_bounds(tf.block_period, self.app.clock.now())
        self.reply(req, "PublishBlockPeriod", (
            tf.provider_id, s, s, (e - s) // 60, 0x02,     # control 0x02: repeating
            tf.block_period, 0x00, 0x00))                  # duration type, tariff type, resolution

    def on_GetBillingPeriod(self, req, f):
        tf = self.app.tariff
        s, e = period_bounds(_BP_MONTH, self.app.clock.now())
        if e < f["EarliestStartTime"]:
            raise ZclError(_NOT_FOUND)
        self.reply(req, "PublishBillingPeriod", (
            tf.provider_id, s, s, 1, 0x03, 0x00))   # 1 month, start of timebase; tariff type

    def _tariffs(self):
        """(engine view, start, issuer event id) of the active tariff and of
        a pending price matrix."""
        tf = self.app.tariff
        out = [(tf, tf.parts["prc"].since)]
        p = tf.parts["prc"]
        if p.passive is not None and p.at != NEVER:
            out.append((PendingView(tf), p.at))
        return out

    def on_GetTariffInformation(self, req, f):
        earliest = f["EarliestStartTime"]
        found = []
        tar = self._tariffs()
        for i in range(len(tar)):
            v, start = tar[i]
            nxt = tar[i + 1][1] if i + 1 < len(tar) else 0xFFFFFFFF
            # the tariff in force at EarliestStartTime, and any starting later
            if (earliest == 0 or nxt > earliest) and \
                    (f["MinIssuerEventID"] == NEVER or start >= f["MinIssuerEventID"]):
                found.append((v, start))
        if f["NumberOfCommands"]:
            found = found[:f["NumberOfCommands"]]
        if not found:
            raise ZclError(_NOT_FOUND)
        for v, start in found:
            self.reply(req, "PublishTariffInformation", (
                v.provider_id, start, v.tariff_id, start,
                _charging_scheme(v) << 4, v.calendar.name[:24],
                v.tiers_in_use(), sum(len(th) for th in v.thresholds),
                UNIT_KWH, v.currency, (-v.scaler) << 4,
                v.sc_amount * 86400 // v.sc_period,        # StandingCharge
                _tier_block_mode(v), 1, 1000))             # threshold multiplier, divisor

    def _find_tariff(self, tid):
        for v, start in self._tariffs():
            if v.tariff_id == tid:
                return v, start
        raise ZclError(_NOT_FOUND)

    def on_GetPriceMatrix(self, req, f):
        v, start = self._find_tariff(f["IssuerTariffID"])
        entries = []
        if v.uses_blocks():
            for t in range(1, v.bands_in_use() + 1):
                for b in range(1, len(v.thresholds[t - 1]) + 2):
                    entries.append((0, (t << 4) | (b - 1), v.prices[M.block_slot(b, t)]))
        if v.tou_in_use():
            for t in range(1, v.tou_in_use() + 1):
                entries.append((1, t, v.prices[t - 1]))
        # one frame each (zcl/engine.py), TOU and block entries never mixed
        per = (self.app.zcl.room() - _SEG_HEAD) // 5
        chunks = _chunks(entries, per, lambda e: e[0])
        for i in range(len(chunks)):
            c = chunks[i]
            self.reply(req, "PublishPriceMatrix", (
                v.provider_id, start, start, v.tariff_id, i, len(chunks),
                c[0][0], [(e[1], e[2]) for e in c]))       # SubPayloadControl, Entries

    def on_GetBlockThresholds(self, req, f):
        v, start = self._find_tariff(f["IssuerTariffID"])
        recs = []
        for t in range(1, _N_BANDS + 1):
            th = v.thresholds[t - 1]
            if th:
                rec = bytearray(1 + 6 * len(th))
                rec[0] = (t << 4) | len(th)
                off = 1
                for x in th:
                    off = T.encode(_UINT48, x, rec, off)
                recs.append(bytes(rec))
        if not recs:
            raise ZclError(_NOT_FOUND)
        parts = runs([len(r) for r in recs], self.app.zcl.room() - _SEG_HEAD)
        for i in range(len(parts)):
            a, b = parts[i]
            self.reply(req, "PublishBlockThresholds", (
                v.provider_id, start, start, v.tariff_id, i, len(parts),
                0x00, b"".join(recs[a:b])))                # SubPayloadControl 0: per tier

    def on_GetTierLabels(self, req, f):
        v, start = self._find_tariff(f["IssuerTariffID"])
        labels = [(k, v.labels[k]) for k in sorted(v.labels)]     # TierID, TierLabel
        if not labels:
            raise ZclError(_NOT_FOUND)
        parts = runs([2 + len(lab[1]) for lab in labels],
                     self.app.zcl.room() - _LABELS_HEAD)
        for i in range(len(parts)):
            a, b = parts[i]
            self.reply(req, "PublishTierLabels", (
                v.provider_id, start, v.tariff_id, i, len(parts), b - a, labels[a:b]))


class PendingView:
    """The engine's pending price matrix (with the active calendar and
    thresholds) seen through the same names as the engine."""

    def __init__(self, tf):
        from ..tariff.matrix import unpack_prices
        (self.tariff_id, self.provider_id, self.currency, self.scaler, self.prices,
         self.labels) = unpack_prices(tf.parts["prc"].passive)
        self.calendar = tf.calendar
        self.thresholds = tf.thresholds
        self.sc_amount, self.sc_period = tf.sc_amount, tf.sc_period
        self._tf = tf

    def tiers_in_use(self):
        return self._tf.tiers_in_use()

    def uses_blocks(self):
        return self._tf.uses_blocks()

    def tou_in_use(self):
        return self._tf.tou_in_use()

    def bands_in_use(self):
        return self._tf.bands_in_use()


def _chunks(entries, per, kind):
    out = []
    for e in entries:
        if not out or len(out[-1]) >= per or kind(out[-1][0]) != kind(e):
            out.append([])
        out[-1].append(e)
    return out


def _nib(n):
    return n if n <= 15 else 0x0F


def _ext(n):
    return n - 15 if n > 15 else 0


def _charging_scheme(v):
    """PublishTariffInformation charging scheme: 0 TOU, 1 block, 3 TOU with
    individual block thresholds per tier."""
    if not v.uses_blocks():
        return 0
    return 1 if v.tiers_in_use() <= 1 else 3


def _tier_block_mode(v):
    """TierBlockMode attribute: 0xFF TOU only, 0x00 block only, 0x02
    Block/TOU with individual thresholds per tier."""
    s = _charging_scheme(v)
    return (0xFF, 0x00, 0x01, 0x02)[s]

