# The ESME's COSEM object model (GBCS v0.8.1 §7.3, §18.2; notes/gbcs-esme-
# functional Appendix A): one table from (class id, OBIS) to the handler
# that serves the object, so adding an object is one row. The handlers live
# in the use-case modules, imported on first use:
#
#   group 0 uc_device.py   identity, firmware, clock, alert behaviours,
#                          tenancy, messages, thresholds, MPAN
#   group 1 uc_account.py  accounts, credits, charges (classes 111-113),
#                          token gateway, prepayment configuration
#   group 2 uc_tariff.py   activity calendar, special days, block
#                          thresholds, price matrix, standing charge,
#                          billing calendar, block counter reset
#   group 3 uc_supply.py   disconnect control, load limiter, ALCS/HCALCS,
#                          supply scripts, tamper
#   group 4 uc_read.py     registers, maximum demand, profiles and logs
#                          (selective access), data protection (§8)
#
# A row is 12 octets: class(2) OBIS(6) span(1) flags(1) group(1) slot(1).
# The row serves OBIS codes whose E field (5th octet) lies in
# [row E, row E + span]. flags: 01 a Set or Action needs a critical
# message code (a KRP-signed command, §6.3: a MAC-only command never
# changes what a critical use case owns). The group module's H[slot]
# is the handler: H[slot](x, spec, (start, end)) -> result, or
# (result, Data octets) for a Get or an Action that returns data (x: the
# request, dispatch.Req; spec: dlms.parse_request's tuple). A group that
# future-dates values also has took(m, param, value, at) (future.py).
from ..compat import const

_ROW = const(12)
F_CRITICAL = const(1)
# Rows are kept in groups, in OBIS order within a group.
_ROWS = (
    # -- group 0: uc_device ---------------------------------------------------
    b"\x00\x01\x00\x00\x00\x02\x01\xff\x00\x00\x00\x00"    # 1 0-0:0.2.1.255 firmware version (ECS52)
    b"\x00\x01\x00\x00\x5e\x2c\x03\x02\x00\x00\x00\x01"    # 1 0-0:94.44.3.2 change of tenancy (ECS12)
    # -- group 1: uc_account --------------------------------------------------
    b"\x00\x6f\x00\x01\x13\x00\x00\xff\x00\x01\x01\x00"    # 111 0-1:19.0.0.255 passive Account (ECS02)
    b"\x00\x70\x00\x00\x13\x0a\x00\xff\x02\x01\x01\x01"    # 112 0-0:19.10.{0,1,2}.255 Credits (ECS04b)
    b"\x00\x73\x00\x00\x13\x28\x00\xff\x00\x00\x01\x02"    # 115 0-0:19.40.0.255 Token Gateway (CS01a)
    # -- group 2: uc_tariff ---------------------------------------------------
    b"\x00\x09\x00\x00\x0a\x00\x64\xff\x00\x01\x02\x06"    # 9 0-0:10.0.100.255 tariff script table (ECS05)
    b"\x00\x0b\x00\x00\x0b\x00\x00\xff\x00\x01\x02\x01"    # 11 0-0:11.0.0.255 special days (ECS24)
    b"\x00\x14\x00\x00\x0d\x00\x00\xff\x00\x01\x02\x00"    # 20 0-0:13.0.0.255 activity calendar (ECS01a, ECS24)
    b"\x00\x16\x00\x00\x0f\x00\x00\xff\x00\x01\x02\x07"    # 22 0-0:15.0.0.255 billing calendar (ECS30, ECS26d)
    b"\x00\x15\x00\x00\x10\x00\x0b\xff\x07\x01\x02\x02"    # 21 0-0:16.0.{11..18}.255 block thresholds (ECS24)
    b"\x00\x15\x00\x00\x10\x01\x0b\xff\x07\x01\x02\x02"    # 21 0-0:16.1.{11..18}.255 passive (ECS01a)
    b"\x00\x71\x00\x00\x13\x14\x00\xff\x00\x01\x02\x03"    # 113 0-0:19.20.0.255 price matrix (ECS01a/b, ECS24)
    b"\x00\x71\x00\x00\x13\x14\x04\xff\x00\x01\x02\x03"    # 113 0-0:19.20.4.255 standing charge
    b"\x23\x28\x00\x00\x3f\x01\x01\xff\x00\x01\x02\x04"    # 9000 0-0:63.1.1.255 threshold activation
    b"\x00\x03\x00\x00\x5e\x2c\x01\x07\x00\x00\x02\x05"    # 3 0-0:94.44.1.7 active tariff price (ECS24)
    b"\x23\x28\x00\x00\x5e\x2c\x02\x00\x00\x01\x02\x04"    # 9000 0-0:94.44.2.0 currency unit
    b"\x23\x28\x00\x00\x5e\x2c\x80\x1d\x00\x01\x02\x04"    # 9000 0-0:94.44.128.29 special days activation
    b"\x00\x0b\x00\x01\x0b\x00\x00\xff\x00\x01\x02\x01"    # 11 0-1:11.0.0.255 passive special days (ECS01a)
    b"\x00\x03\x01\x00\x01\x08\x01\xff\x2f\x00\x02\x08"    # 3 1-0:1.8.{1..48}.255 TOU registers (ECS17d)
    b"\x00\x03\x01\x01\x01\x08\x01\xff\x07\x00\x02\x08"    # 3 1-1:1.8.{1..8}.255 block 1 registers (ECS17e)
    b"\x00\x03\x01\x02\x01\x08\x01\xff\x07\x00\x02\x08"    # 3 1-2:1.8.{1..8}.255 block 2
    b"\x00\x03\x01\x03\x01\x08\x01\xff\x07\x00\x02\x08"    # 3 1-3:1.8.{1..8}.255 block 3
    b"\x00\x03\x01\x04\x01\x08\x01\xff\x07\x00\x02\x08"    # 3 1-4:1.8.{1..8}.255 block 4
    # -- group 3: uc_supply ---------------------------------------------------
    # -- group 4: uc_read -----------------------------------------------------
)


def find(cls, obis):
    """(flags, group, slot) of the row serving (cls, obis), or None."""
    t = _ROWS
    c0 = cls >> 8
    c1 = cls & 0xFF
    e = obis[4]
    for i in range(0, len(t), _ROW):
        if t[i] == c0 and t[i + 1] == c1 and t[i + 2:i + 6] == obis[:4] and \
                t[i + 7] == obis[5] and t[i + 6] <= e <= t[i + 6] + t[i + 8]:
            return t[i + 9], t[i + 10], t[i + 11]
    return None


def module(g):
    """The use-case module of group g (imported on first use)."""
    if g == 0:
        from . import uc_device as M
    elif g == 1:
        from . import uc_account as M
    elif g == 2:
        from . import uc_tariff as M
    elif g == 3:
        from . import uc_supply as M
    else:
        from . import uc_read as M
    return M
