# Prepayment cluster (0x0705) server, ZSE 1.4 / ZCL8 §10.8, over the
# account in prepay/account.py. Layouts as Wireshark's SE dissector decodes
# them (zbee_zcl_se.pp).
#
# Who may ask what (GBCS §13.7.3, Tbls 13.7.3a/b): a PPMID may select
# emergency credit, top up and read; any other HAN device may only read.
# Account changes (debt, EC set-up, credit adjustment, payment mode, limits)
# are the supplier's: they arrive through the comms hub (our ESI stand-in)
# and are refused from anyone else with NOT_AUTHORIZED.
#
# Money on the wire is in the Price cluster's currency units with its
# trailing digit (the tariff's price scaler); the account keeps 10^-5.
import struct

from ..zcl.cluster import Cluster
from ..zcl.status import ZclError
from ..zcl.engine import runs
from .. import commands as C

# other modules' constants, folded here (host_tests/test_const_copies.py keeps them equal)
_A_R = const(0x01)               # = zcl.cluster.A_R
_CREDIT = const(1)               # = prepay.account.CREDIT
_ENUM8 = const(0x30)             # = zcl.types.ENUM8
_IMMEDIATE = const(0)            # = prepay.account.IMMEDIATE
_INT32 = const(0x2B)             # = zcl.types.INT32
_INVALID_FIELD = const(0x85)     # = zcl.status.INVALID_FIELD
_NOT_AUTHORIZED = const(0x7E)    # = zcl.status.NOT_AUTHORIZED
_NOT_FOUND = const(0x8B)         # = zcl.status.NOT_FOUND
_OCTSTR = const(0x41)            # = zcl.types.OCTSTR
_PER_POUND = const(100000)       # = prepay.account.PER_POUND
_PREPAY = const(2)               # = prepay.account.PREPAY
_P_ACCOUNT = const(9)            # = prepay.account.P_ACCOUNT
_P_CAP = const(4)                # = prepay.account.P_CAP
_P_DISABLE = const(0)            # = prepay.account.P_DISABLE
_P_EC_LIMIT = const(1)           # = prepay.account.P_EC_LIMIT
_P_EC_THRESHOLD = const(2)       # = prepay.account.P_EC_THRESHOLD
_P_LOW_CREDIT = const(3)         # = prepay.account.P_LOW_CREDIT
_UINT16 = const(0x21)            # = zcl.types.UINT16
_UINT32 = const(0x23)            # = zcl.types.UINT32
_UNIT_SCALER = const(-5)         # = prepay.account.UNIT_SCALER
_UTC = const(0xE2)               # = zcl.types.UTC

# Consumer Top Up Response result (ZCL8 §10.8.2.4.3)
_TU_ACCEPTED = const(0x00)
_TU_INVALID = const(0x01)
_TU_DUPLICATE = const(0x02)
_TU_ERROR = const(0x03)
_TU_MAX_CREDIT = const(0x04)
_TU_TOO_LARGE = const(0x06)
# by UTRN reason (prepay/utrn.py): accepted, malformed -> invalid, duplicate,
# not authentic -> invalid, over maximum credit -> too large, over maximum
# balance -> max credit, not for this device -> error (bytes: no heap)
_TOPUP_RESULT = b"\x00\x01\x02\x01\x06\x04\x03"
_SRC_IHD = const(0x02)          # a PPMID keys codes in as an IHD (§14.7)
# CreditStatus bits (ZCL8 §10.8.2.2.1.4)
_CS_OK = const(0x01)
_CS_LOW = const(0x02)
_CS_EC_ENABLED = const(0x04)
_CS_EC_AVAILABLE = const(0x08)
_CS_EC_SELECTED = const(0x10)
_CS_EC_IN_USE = const(0x20)
_CS_EXHAUSTED = const(0x40)
# snapshot causes
SNAP_GENERAL = const(0x00000001)
_SNAP_MODE = const(0x00004000)
_SNAP_DEBT_PAYMENT = const(0x00008000)
_SNAP_SLOTS = const(31)
_TOPUP_SLOTS = const(10)
_DEBTLOG_SLOTS = const(10)
_LOG_PP_SNAPS = const(8)          # intent log id of the snapshots (meter.py Meter._logs)
_CREDIT_ADJ_INCREMENTAL = const(0x00)
_CREDIT_ADJ_ABSOLUTE = const(0x01)
_INT32_MAX = 0x7FFFFFFF

# DebtRecoveryFrequency: per hour, day, week, month (365.25/12 days), quarter
# (in half hours, scaled at import: a frozen constant tuple would hold the
# seconds as long ints)
_PERIODS = tuple(h * 1800 for h in (2, 48, 336, 1461, 4383))



class Prepayment(Cluster):
    ID = 0x0705
    NAME = "Prepayment"
    SECURE = True
    ATTRS = (
        "0000 PaymentControlConfiguration 19 RPD 0;"
        "0001 CreditRemaining 2B RPD 0;"
        "0002 EmergencyCreditRemaining 2B RPD 0;"
        "0003 CreditStatus 18 RPD 0;"
        "0004 CreditRemainingTimeStamp E2 RD 0;"
        "0005 AccumulatedDebt 2B RPD 0;"
        "0006 OverallDebtCap 2B RD 0;"
        "0010 EmergencyCreditLimitAllowance 23 RD 0;"
        "0011 EmergencyCreditThreshold 23 RD 0;"
        "0020 TotalCreditAdded 25 RD 0;"
        "0021 MaxCreditLimit 23 RD 0;"
        "0022 MaxCreditPerTopUp 23 RD 0;"
        "0031 LowCreditWarningLevel 23 RD 0;"
        "0040 CutOffValue 2B RD 0;"
    )
    # Top Up set (5 newest, 0x0100 + 0x10 (n-1)) and Debt sets 1..3 (0x0210 + 0x10 (n-1))
    RANGES = (
        (0x0100, 5, 0x10, "TopUpDateTime%d", _UTC, _A_R),
        (0x0101, 5, 0x10, "TopUpAmount%d", _INT32, _A_R),
        (0x0102, 5, 0x10, "OriginatingDevice%d", _ENUM8, _A_R),
        (0x0103, 5, 0x10, "TopUpCode%d", _OCTSTR, _A_R),
        (0x0211, 3, 0x10, "DebtAmount%d", _UINT32, _A_R),
        (0x0217, 3, 0x10, "DebtRecoveryAmount%d", _UINT32, _A_R),
        (0x0219, 3, 0x10, "DebtRecoveryTopUpPercentage%d", _UINT16, _A_R),
    )
    RX = (
        "00 SelectAvailableEmergencyCredit CommandIssueDateTime:E2 OriginatingDevice:30;"
        "02 ChangeDebt IssuerEventID:23 DebtLabel:41 DebtAmount:23"
        "  DebtRecoveryMethod:30 DebtAmountType:30 DebtRecoveryStartTime:E2"
        "  DebtRecoveryCollectionTime:21 DebtRecoveryFrequency:30"
        "  DebtRecoveryAmount:23 DebtRecoveryBalancePercentage:21;"
        "03 EmergencyCreditSetup IssuerEventID:23 StartTime:E2"
        "  EmergencyCreditLimit:23 EmergencyCreditThreshold:23;"
        "04 ConsumerTopUp OriginatingDevice:30 TopUpCode:41;"
        "05 CreditAdjustment IssuerEventID:23 StartTime:E2 CreditAdjustmentType:30"
        "  CreditAdjustmentValue:2B;"
        "06 ChangePaymentMode ProviderID:23 IssuerEventID:23"
        "  ImplementationDateTime:E2 ProposedPaymentControlConfiguration:19"
        "  CutOffValue:2B;"
        "07 GetPrepaySnapshot EarliestStartTime:E2 LatestEndTime:E2 SnapshotOffset:20"
        "  SnapshotCause:1B;"
        "08 GetTopUpLog LatestEndTime:E2 NumberOfRecords:20;"
        "09 SetLowCreditWarningLevel LowCreditWarningLevel:23;"
        "0A GetDebtRepaymentLog LatestEndTime:E2 NumberOfDebts:20 DebtType:30;"
        "0B SetMaximumCreditLimit ProviderID:23 IssuerEventID:23"
        "  ImplementationDateTime:E2 MaximumCreditLevel:23 MaximumCreditPerTopUp:23;"
        "0C SetOverallDebtCap ProviderID:23 IssuerEventID:23"
        "  ImplementationDateTime:E2 OverallDebtCap:23;"
    )
    TX = (
        "01 PublishPrepaySnapshot SnapshotID:23 SnapshotTime:E2"
        "  TotalSnapshotsFound:20 CommandIndex:20 TotalNumberOfCommands:20"
        "  SnapshotCause:1B SnapshotPayloadType:30 SnapshotPayload:REST;"
        "02 ChangePaymentModeResponse FriendlyCredit:18 FriendlyCreditCalendarID:23"
        "  EmergencyCreditLimit:23 EmergencyCreditThreshold:23;"
        "03 ConsumerTopUpResponse ResultType:30 TopUpValue:2B SourceOfTopUp:30"
        "  CreditRemaining:2B;"
        "05 PublishTopUpLog CommandIndex:20 TotalNumberOfCommands:20"
        "  TopUps:[TopUpCode:41,TopUpAmount:2B,TopUpTime:E2];"
        "06 PublishDebtLog CommandIndex:20 TotalNumberOfCommands:20"
        "  Debts:[CollectionTime:E2,AmountCollected:23,DebtType:30,OutstandingDebt:23];"
    )

    def __init__(self, app, topups, debts, snaps):
        Cluster.__init__(self, app)
        self.topups = topups        # SeqLog: time u32, amount i32 (account units), source u8, code 20
        self.debts = debts          # SeqLog: time u32, amount u32, type u8, outstanding u32
        self.snaps = snaps          # SeqLog: time u32, cause u32, 6 x i32 (account units)

    # -- money on the wire ---------------------------------------------------------------------
    def money(self, v):
        s = self.app.tariff.scaler
        if s <= _UNIT_SCALER:
            v *= 10 ** (_UNIT_SCALER - s)
        else:
            v = v // 10 ** (s - _UNIT_SCALER)        # floor: never shows more than there is
        return max(-0x80000000, min(_INT32_MAX, v))   # no long-int arithmetic per read

    def unmoney(self, v):
        s = self.app.tariff.scaler
        if s <= _UNIT_SCALER:
            return v // 10 ** (_UNIT_SCALER - s)
        return v * 10 ** (s - _UNIT_SCALER)

    def read(self, aid):
        a = self.app.account
        if aid == 0x0000:
            return 0x0097 if a.mode == _PREPAY else 0x0094
        if aid == 0x0001:
            return self.money(a.mb)
        if aid == 0x0002:
            return self.money(a.ecb if a.ec_in_use else 0)
        if aid == 0x0003:
            return self.credit_status()
        if aid == 0x0004:
            return self.app.clock.now()
        if aid == 0x0005:
            return self.money(a.ad)
        if aid == 0x0006:
            return self.money(a.p[_P_CAP])
        if aid == 0x0010:
            return self.money(a.p[_P_EC_LIMIT])
        if aid == 0x0011:
            return self.money(a.p[_P_EC_THRESHOLD])
        if aid == 0x0020:
            return max(0, self.money(a.credited))
        if aid == 0x0021:
            return self.money(a.max_balance * _PER_POUND)
        if aid == 0x0022:
            return self.money(a.max_credit * _PER_POUND)
        if aid == 0x0031:
            return self.money(a.p[_P_LOW_CREDIT])
        if aid == 0x0040:
            return self.money(a.p[_P_DISABLE])
        if aid >= 0x0200:
            i = ((aid >> 4) & 0xF) - 1
            k = aid & 0xF
            return (self.money(a.debt[i]) if k == 1 else
                    self.money(a.rate[i]) if k == 7 else a.pay_pct if i == 2 else 0)
        n = (aid >> 4) & 0xF
        got = self.topups.newest(n + 1)
        if n >= len(got):
            return b"" if aid & 0xF == 3 else 0
        t, amount, src = struct.unpack_from("<IiB", got[n][1], 0)
        return (t, self.money(amount), src, bytes(got[n][1][9:29]))[aid & 0xF]

    def credit_status(self):
        a = self.app.account
        cs = 0
        c = a.combined()
        if a.mode == _PREPAY and a.p[_P_EC_LIMIT]:
            cs |= _CS_EC_ENABLED
        if a.ec_available():
            cs |= _CS_EC_AVAILABLE
        if a.ec_in_use:
            cs |= _CS_EC_SELECTED | _CS_EC_IN_USE
        if c <= a.p[_P_DISABLE]:
            cs |= _CS_EXHAUSTED
        elif c <= a.p[_P_LOW_CREDIT]:
            cs |= _CS_LOW
        else:
            cs |= _CS_OK
        return cs

    # -- permission -----------------------------------------------------------------------------
    def _from_ppmid(self, req):
        if self.app.devices.get(req.aps.src) != "ppmid":
            raise ZclError(_NOT_AUTHORIZED)

    # -- commands: each a command of commands/ (validate, commit, log) -----------------------
    def on_SelectAvailableEmergencyCredit(self, req, f):
        """SMETS 7.5.5.1 from a PPMID; ZSE Default Response SUCCESS if EC is
        in use afterwards, else FAILURE (as ECS09 in later GBCS)."""
        self._from_ppmid(req)
        return C.zcl_status(C.activate_ec(self.app))

    def on_ConsumerTopUp(self, req, f):
        """§14.7: a PPMID's keyed-in UTRN; the 20th digit is dropped unchecked."""
        self._from_ppmid(req)
        code = f["TopUpCode"]
        if code is None:
            # Length 0xFF: the octet string's invalid value (ZCL rev 6
            # §2.6.2, Table 2-10), i.e. no code at all. It goes the way of
            # any badly formed UTRN (GBCS §14.6.4.1, §14.7: alert, logs,
            # "Rejected - Invalid Top Up" in the Consumer Top Up Response),
            # not to a Default Response.
            code = b""
        C.top_up(self.app, code, _SRC_IHD)
        result, value = self.app.account.last_topup[:2]
        self.reply(req, "ConsumerTopUpResponse", (
            _TOPUP_RESULT[result], self.money(value), _SRC_IHD,
            self.money(self.app.account.mb)))      # ResultType .. CreditRemaining

    def on_ChangeDebt(self, req, f):
        """DebtAmountType picks the debt and absolute/incremental (ZCL8
        §10.8: 0/1 type 1, 2/3 type 2, 4/5 type 3); types 1 and 2 are the
        GBCS time-based debts, type 3 the payment-based one (a share of each
        top-up, DebtRecoveryBalancePercentage in 0.01 %). A time-based rate
        per hour/day/week/month/quarter is collected pro rata every second.
        Debt and share are one operation: the share is checked first."""
        self.require_supplier(req)
        t = f["DebtAmountType"]
        if t > 5:
            raise ZclError(_INVALID_FIELD)
        i = t >> 1
        m = self.app
        amount = self.unmoney(f["DebtAmount"])
        from ..commands import supplier as CS     # on first use
        h = m.begin()
        try:
            if i == 2:
                r = CS.set_debt(m, 2, amount, None, None, t & 1)
                if not r:
                    r = CS.set_debt_share(m, min(10000, f["DebtRecoveryBalancePercentage"]))
            else:
                fr = f["DebtRecoveryFrequency"]
                if fr >= len(_PERIODS):
                    raise ZclError(_INVALID_FIELD)
                r = CS.set_debt(m, i, amount, self.unmoney(f["DebtRecoveryAmount"]), _PERIODS[fr],
                               t & 1)
        finally:
            m.end(h)
        return C.zcl_status(r)

    def on_EmergencyCreditSetup(self, req, f):
        self.require_supplier(req)
        from ..commands import supplier as CS     # on first use
        u = self.unmoney
        return C.zcl_status(CS.setup_ec(self.app, u(f["EmergencyCreditLimit"]),
                                        u(f["EmergencyCreditThreshold"]), f["StartTime"]))

    def on_CreditAdjustment(self, req, f):
        """Incremental adds to the balance; absolute sets it. Neither ever
        writes the raw adjustment over the balance (anchors §2.2)."""
        self.require_supplier(req)
        v = self.unmoney(f["CreditAdjustmentValue"])
        t = f["CreditAdjustmentType"]
        from ..commands import supplier as CS     # on first use
        if t == _CREDIT_ADJ_INCREMENTAL:
            return C.zcl_status(CS.adjust_balance(self.app, v))
        if t == _CREDIT_ADJ_ABSOLUTE:
            return C.zcl_status(CS.set_balance(self.app, v))
        raise ZclError(_INVALID_FIELD)

    def on_ChangePaymentMode(self, req, f):
        """Bit 1 (Prepayment Enabled) selects the mode; SDE and SDD are
        GBCS-only and kept. Future-dated per Tbl 9.2.2.7 (copy at activation);
        the mode and the cut-off value are one operation."""
        self.require_supplier(req)
        a = self.app.account
        mode = _PREPAY if f["ProposedPaymentControlConfiguration"] & 0x02 else _CREDIT
        kv = (_P_ACCOUNT, mode | (a.sde << 2) | (a.sdd << 3))
        if f["CutOffValue"] != -0x80000000:
            kv += (_P_DISABLE, self.unmoney(f["CutOffValue"]))
        from ..commands import supplier as CS     # on first use
        C.zcl_status(CS.set_params(self.app, f["ImplementationDateTime"], *kv))
        self.reply(req, "ChangePaymentModeResponse", (
            1 if a.friendly else 0,
            0xFFFFFFFE,            # FriendlyCreditCalendarID: the non-disablement calendar in force
            self.money(a.p[_P_EC_LIMIT]), self.money(a.p[_P_EC_THRESHOLD])))

    def on_SetLowCreditWarningLevel(self, req, f):
        self.require_supplier(req)
        from ..commands import supplier as CS     # on first use
        return C.zcl_status(CS.set_params(self.app, _IMMEDIATE, _P_LOW_CREDIT,
                                          self.unmoney(f["LowCreditWarningLevel"])))

    def on_SetMaximumCreditLimit(self, req, f):
        """Levels arrive in wire money; GBCS keeps whole currency units."""
        self.require_supplier(req)
        from ..commands import supplier as CS     # on first use
        return C.zcl_status(CS.set_credit_limits(
            self.app, self.unmoney(f["MaximumCreditPerTopUp"]) // _PER_POUND,
            self.unmoney(f["MaximumCreditLevel"]) // _PER_POUND))

    def on_SetOverallDebtCap(self, req, f):
        """Taken as the GBCS DebtRecoveryRateCap amount (the most time debt
        collected per cap period, Tbl 9.2.2.7): GBCS names no other cap and
        ZSE does not say how its cap maps onto GBCS."""
        self.require_supplier(req)
        from ..commands import supplier as CS     # on first use
        return C.zcl_status(CS.set_params(self.app, f["ImplementationDateTime"], _P_CAP,
                                          self.unmoney(f["OverallDebtCap"])))

    def on_GetPrepaySnapshot(self, req, f):
        found = []
        cause = f["SnapshotCause"]
        for sid, rec in self.snaps.newest(_SNAP_SLOTS):
            t, c = struct.unpack_from("<II", rec, 0)
            if f["EarliestStartTime"] <= t <= f["LatestEndTime"] and \
                    (cause == 0xFFFFFFFF or c & cause):
                found.append((sid, rec))
        k = f["SnapshotOffset"]
        if k >= len(found):
            raise ZclError(_NOT_FOUND)
        sid, rec = found[k]
        t, c = struct.unpack_from("<II", rec, 0)
        # payload type 0, Debt/Credit Status: accumulated debt, type 1/2/3
        # debt remaining, emergency credit remaining, credit remaining
        vals = struct.unpack_from("<6i", rec, 8)
        payload = struct.pack("<iIIIii", *[self.money(v) for v in vals])
        self.reply(req, "PublishPrepaySnapshot", (
            sid, t, len(found), 0, 1, c, 0, payload))   # index 0 of 1; payload type 0

    def on_GetTopUpLog(self, req, f):
        out = []
        for _, rec in self.topups.newest(_TOPUP_SLOTS):
            t, amount, _src = struct.unpack_from("<IiB", rec, 0)
            if t <= f["LatestEndTime"] and len(out) < f["NumberOfRecords"]:
                out.append((bytes(rec[9:29]), self.money(amount), t))   # code, amount, time
        if not out:
            raise ZclError(_NOT_FOUND)
        self._publish_log(req, "PublishTopUpLog", out, [9 + len(r[0]) for r in out])

    def on_GetDebtRepaymentLog(self, req, f):
        out = []
        want = f["DebtType"]          # 0xFF: all; 0, 1, 2: debt 1, 2, 3
        for _, rec in self.debts.newest(_DEBTLOG_SLOTS):
            t, amount, typ, left = struct.unpack_from("<IIBI", rec, 0)
            if t <= f["LatestEndTime"] and (want == 0xFF or want == typ) and \
                    (f["NumberOfDebts"] == 0 or len(out) < f["NumberOfDebts"]):
                out.append((t, self.money(amount), typ, self.money(left)))
        if not out:
            raise ZclError(_NOT_FOUND)
        self._publish_log(req, "PublishDebtLog", out, [13] * len(out))

    def _publish_log(self, req, cmd, recs, sizes):
        """Publish Top Up Log / Publish Debt Log (ZCL8 §10.8.2.4.5-6): the
        records in as many commands as one frame each allows, numbered by
        CommandIndex of TotalNumberOfCommands (2 octets), never fragmented
        (zcl/engine.py)."""
        parts = runs(sizes, self.app.zcl.room() - 2)
        for i in range(len(parts)):
            a, b = parts[i]
            self.reply(req, cmd, (i, len(parts), recs[a:b]))

    # -- records (the meter calls these) ---------------------------------------------------
    def snapshot(self, cause):
        """A prepayment snapshot: an intent (time, cause) the meter commits
        with the register record it describes (meter.py, atomic operations);
        the record itself is built from the account by snapshot_record."""
        self.app.intend(_LOG_PP_SNAPS, struct.pack("<II", self.app.clock.now(), cause))

    def snapshot_record(self, t, cause):
        a = self.app.account
        return struct.pack("<II6i", t, cause, a.ad, a.debt[0], a.debt[1], a.debt[2],
                           a.ecb if a.ec_in_use else 0, a.mb)


# The names above that only the host's tests and tools read: public there,
# folded private constants on a board, no global each in this module's dict
# on its heap (issue #18).
if __import__("sys").implementation.name != "micropython":
    SNAP_MODE = _SNAP_MODE
    SNAP_DEBT_PAYMENT = _SNAP_DEBT_PAYMENT
