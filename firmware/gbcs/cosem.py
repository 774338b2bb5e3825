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
    b"\x00\x01\x00\x00\x00\x02\x01\xff\x00\x00\x00\x00"    # 1 firmware version (ECS52)
    b"\x00\x08\x00\x00\x01\x00\x00\xff\x00\x01\x00\x03"    # 8 clock (ECS70)
    b"\x00\x04\x01\x00\x01\x06\x00\xff\x01\x00\x00\x04"    # 4 1-0:1.6.{0,1}.255 maximum demand import (ECS18b, ECS57)
    b"\x00\x04\x01\x00\x02\x06\x00\xff\x00\x00\x00\x04"    # 4 1-0:2.6.0.255 maximum demand export (ECS57)
    b"\x00\x0a\x00\x00\x0c\x00\x00\xff\x00\x00\x00\x02"    # 10 0-0:12.0.0.255 MD configurable period schedule (ECS37)
    b"\x00\x15\x00\x00\x10\x00\x00\xff\x00\x00\x00\x02"    # 21 0-0:16.0.0.255 consumption thresholds (ECS34, ECS26f)
    b"\x00\x47\x00\x00\x11\x00\x01\xff\x03\x00\x00\x02"    # 71 0-0:17.0.{1..4}.255 voltage limiters (ECS26b, ECS29a)
    b"\x00\x01\x00\x00\x5e\x2c\x00\x00\x00\x00\x00\x02"    # 1 0-0:94.44.0.0 (ECS26c)
    b"\x00\x01\x00\x00\x5e\x2c\x00\x01\x00\x01\x00\x02"    # 1 0-0:94.44.0.1 (ECS38)
    b"\x00\x01\x00\x00\x5e\x2c\x00\x02\x00\x00\x00\x02"    # 1 0-0:94.44.0.2 (ECS26c)
    b"\x00\x01\x00\x00\x5e\x2c\x00\x04\x00\x01\x00\x02"    # 1 0-0:94.44.0.4 supply tamper state (ECS81, ECS26e)
    b"\x00\x01\x00\x00\x5e\x2c\x03\x01\x00\x00\x00\x02"    # 1 0-0:94.44.3.1 disable privacy PIN (ECS14)
    b"\x00\x01\x00\x00\x5e\x2c\x03\x02\x00\x00\x00\x01"    # 1 change of tenancy (ECS12)
    b"\x00\x01\x00\x00\x5e\x2c\x05\x00\x00\x00\x00\x04"    # 1 0-0:94.44.5.0 MD reset date-time (ECS18b)
    b"\x00\x01\x00\x00\x5e\x2c\x05\x01\x00\x00\x00\x04"    # 1 0-0:94.44.5.1 MD (period) reset date-time (ECS18b)
    b"\x00\x01\x00\x00\x5e\x2c\x22\x0b\x00\x00\x00\x02"    # 1 0-0:94.44.34.11 MPxN (ECS39a, ECS40)
    b"\x00\x01\x00\x00\x60\x01\x01\xff\x05\x00\x00\x02"    # 1 0-0:96.1.{1..6}.255 identity (ECS26e)
    b"\x23\x28\x00\x00\x60\x0d\x00\xff\x01\x00\x00\x02"    # 9000 0-0:96.13.{0,1}.255 supplier contact details (ECS16)
    b"\x00\x01\x00\x02\x60\x0d\x01\xff\x00\x00\x00\x02"    # 1 0-2:96.13.1.255 supplier message (ECS10)
    b"\x00\x01\x00\x03\x60\x0d\x01\xff\x00\x00\x00\x02"    # 1 0-3:96.13.1.255 CIN (ECS50)
    b"\x00\x01\x00\x1e\x61\x62\x0b\xff\x00\x00\x00\x02"    # 1 0-30:97.98.11.255 supplier alert behaviours (ECS25a)
    b"\x00\x01\x00\x1e\x61\x62\x0f\xff\x03\x00\x00\x02"    # 1 0-30:97.98.{15..18}.255 (ECS25r1)
    b"\x00\x01\x00\x21\x61\x62\x0b\xff\x00\x00\x00\x02"    # 1 0-33:97.98.11.255 NO alert behaviours (ECS25b)
    b"\x00\x01\x00\x21\x61\x62\x0f\xff\x03\x00\x00\x02"    # 1 0-33:97.98.{15..18}.255 (NO's, as ECS25r1)
    b"\x00\x01\x01\x00\x00\x00\x02\xff\x00\x00\x00\x02"    # 1 1-0:0.0.2.255 (ECS40)
    b"\x00\x01\x01\x00\x20\x1f\x00\x04\x00\x00\x00\x02"    # 1 1-0:32.31.0.4 voltage threshold (ECS26b, ECS29a)
    b"\x00\x03\x01\x00\x20\x20\x00\x04\x00\x00\x00\x05"    # 3 1-0:32.32.0.4 voltage sags (ECS23, ECS29a/e)
    b"\x00\x01\x01\x00\x20\x23\x00\x04\x00\x00\x00\x02"    # 1 1-0:32.35.0.4 voltage threshold (ECS26b, ECS29a)
    b"\x00\x03\x01\x00\x20\x24\x00\x04\x00\x00\x00\x05"    # 3 1-0:32.36.0.4 voltage swells (ECS23, ECS29a/e)
    # -- group 1: uc_account --------------------------------------------------
    b"\x00\x0a\x00\x00\x0c\x00\x01\xff\x00\x01\x01\x06"    # 10 0-0:12.0.1.255 non-disablement calendar
    b"\x00\x0a\x00\x00\x0c\x01\x01\xff\x00\x01\x01\x06"    # 10 0-0:12.1.1.255 its passive (v0.8.1)
    b"\x00\x0a\x00\x01\x0c\x00\x01\xff\x00\x01\x01\x06"    # 10 0-1:12.0.1.255 its passive (RTDS ECS08)
    b"\x00\x0b\x00\x00\x0b\x00\x02\xff\x00\x01\x01\x06"    # 11 0-0:11.0.2.255 its special days
    b"\x00\x0b\x00\x01\x0b\x00\x02\xff\x00\x01\x01\x06"    # 11 0-1:11.0.2.255 passive special days
    b"\x00\x15\x00\x00\x10\x00\x01\xff\x00\x01\x01\x05"    # 21 0-0:16.0.1.255 disablement threshold
    b"\x00\x6f\x00\x00\x13\x00\x00\xff\x00\x01\x01\x00"    # 111 0-0:19.0.0.255 active Account (ECS26a)
    b"\x00\x6f\x00\x01\x13\x00\x00\xff\x00\x01\x01\x00"    # 111 0-1:19.0.0.255 passive Account
    b"\x00\x70\x00\x00\x13\x0a\x00\xff\x02\x01\x01\x01"    # 112 0-0:19.10.{0,1,2}.255 Credits
    b"\x00\x71\x00\x00\x13\x14\x01\xff\x02\x01\x01\x03"    # 113 0-0:19.20.{1,2,3}.255 debts (ECS07)
    b"\x00\x73\x00\x00\x13\x28\x00\xff\x00\x00\x01\x02"    # 115 0-0:19.40.0.255 Token Gateway (CS01a)
    b"\x23\x28\x00\x00\x5e\x2c\x02\x0a\x00\x01\x01\x04"    # 9000 0-0:94.44.2.10 max credit (ECS08)
    b"\x23\x28\x00\x00\x5e\x2c\x02\x14\x00\x01\x01\x04"    # 9000 0-0:94.44.2.20 max meter balance
    b"\x23\x28\x00\x00\x5e\x2c\x80\x02\x00\x01\x01\x04"    # 9000 0-0:94.44.128.2 EC limit
    b"\x23\x28\x00\x00\x5e\x2c\x80\x03\x00\x01\x01\x04"    # 9000 0-0:94.44.128.3 EC threshold
    b"\x23\x28\x00\x00\x5e\x2c\x80\x09\x00\x01\x01\x04"    # 9000 0-0:94.44.128.9 low credit threshold
    b"\x23\x28\x00\x00\x5e\x2c\x80\x0c\x00\x01\x01\x04"    # 9000 0-0:94.44.128.12 debt recovery cap
    b"\x23\x28\x00\x00\x5e\x2c\x80\x0d\x00\x01\x01\x04"    # 9000 0-0:94.44.128.13 its period
    b"\x23\x28\x00\x00\x5e\x2c\x80\x16\x00\x01\x01\x04"    # 9000 0-0:94.44.128.22 disablement threshold
    b"\x23\x28\x00\x00\x5e\x2c\x80\x1c\x00\x01\x01\x04"    # 9000 0-0:94.44.128.28 calendar activation
    b"\x23\x28\x00\x00\x5e\x2c\x80\x1f\x00\x01\x01\x04"    # 9000 0-0:94.44.128.31 special days activation
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
    b"\x00\x46\x00\x00\x60\x03\x0a\xff\x00\x00\x03\x00"    # 70 0-0:96.3.10.255 disconnect control (ECS45)
    b"\x00\x46\x00\x01\x60\x03\x0a\xff\x00\x00\x03\x00"    # 70 0-1:96.3.10.255 ALCS 1 switch (ECS61a)
    b"\x00\x46\x00\x02\x60\x03\x0a\xff\x00\x00\x03\x00"    # 70 0-2:96.3.10.255 ALCS 2 switch (ECS61a)
    b"\x00\x46\x00\x03\x60\x03\x0a\xff\x00\x00\x03\x00"    # 70 0-3:96.3.10.255 ALCS 3 switch (ECS61a)
    b"\x00\x46\x00\x04\x60\x03\x0a\xff\x00\x00\x03\x00"    # 70 0-4:96.3.10.255 ALCS 4 switch (ECS61a)
    b"\x00\x46\x00\x05\x60\x03\x0a\xff\x00\x00\x03\x00"    # 70 0-5:96.3.10.255 ALCS 5 switch (ECS61a)
    b"\x00\x09\x00\x00\x0a\x00\x67\xff\x00\x01\x03\x02"    # 9 0-0:10.0.103.255 ALCS scripts (ECS47)
    b"\x00\x09\x00\x00\x0a\x00\x6a\xff\x00\x01\x03\x01"    # 9 0-0:10.0.106.255 supply scripts (ECS42-44)
    b"\x00\x0a\x00\x00\x0c\x00\x02\xff\x00\x01\x03\x09"    # 10 0-0:12.0.2.255 ALCS calendar (ECS61a)
    b"\x00\x0b\x00\x00\x0b\x00\x03\xff\x00\x01\x03\x09"    # 11 0-0:11.0.3.255 ALCS spec. days (ECS61a)
    b"\x00\x47\x00\x00\x11\x00\x00\xff\x00\x00\x03\x06"    # 71 0-0:17.0.0.255 limiter (ECS27)
    b"\x00\x03\x00\x00\x5e\x2c\x2a\xff\x00\x00\x03\x05"    # 3 0-0:94.44.42.255 LL counter (ECS27, 28b)
    b"\x00\x01\x00\x00\x5e\x2c\x00\x0b\x00\x01\x03\x07"    # 1 0-0:94.44.0.11 ALCS 1 label (ECS46a)
    b"\x00\x01\x00\x00\x5e\x2c\x00\x0c\x00\x01\x03\x07"    # 1 0-0:94.44.0.12 ALCS 2 label (ECS46a)
    b"\x00\x01\x00\x00\x5e\x2c\x00\x0d\x00\x01\x03\x07"    # 1 0-0:94.44.0.13 ALCS 3 label (ECS46a)
    b"\x00\x01\x00\x00\x5e\x2c\x00\x0e\x00\x01\x03\x07"    # 1 0-0:94.44.0.14 ALCS 4 label (ECS46a)
    b"\x00\x01\x00\x00\x5e\x2c\x00\x0f\x00\x01\x03\x07"    # 1 0-0:94.44.0.15 ALCS 5 label (ECS46a)
    b"\x00\x01\x00\x00\x5e\x2c\x00\x15\x00\x01\x03\x07"    # 1 0-0:94.44.0.21 ALCS 1 HCALCS id
    b"\x00\x01\x00\x00\x5e\x2c\x00\x16\x00\x01\x03\x07"    # 1 0-0:94.44.0.22 ALCS 2 HCALCS id
    b"\x00\x01\x00\x00\x5e\x2c\x00\x17\x00\x01\x03\x07"    # 1 0-0:94.44.0.23 ALCS 3 HCALCS id
    b"\x00\x01\x00\x00\x5e\x2c\x00\x18\x00\x01\x03\x07"    # 1 0-0:94.44.0.24 ALCS 4 HCALCS id
    b"\x00\x01\x00\x00\x5e\x2c\x00\x19\x00\x01\x03\x07"    # 1 0-0:94.44.0.25 ALCS 5 HCALCS id
    b"\x00\x01\x00\x00\x5e\x2c\x06\x01\x00\x00\x03\x08"    # 1 0-0:94.44.6.1 boost -> 1 (ECS62)
    b"\x00\x01\x00\x00\x5e\x2c\x06\x02\x00\x00\x03\x08"    # 1 0-0:94.44.6.2 boost -> 2 (ECS62)
    b"\x00\x01\x00\x00\x5e\x2c\x06\x03\x00\x00\x03\x08"    # 1 0-0:94.44.6.3 boost -> 3 (ECS62)
    b"\x00\x01\x00\x00\x5e\x2c\x06\x04\x00\x00\x03\x08"    # 1 0-0:94.44.6.4 boost -> 4 (ECS62)
    b"\x00\x01\x00\x00\x5e\x2c\x06\x05\x00\x00\x03\x08"    # 1 0-0:94.44.6.5 boost -> 5 (ECS62)
    b"\x00\x01\x00\x00\x5e\x2c\x75\x01\x00\x01\x03\x03"    # 1 0-0:94.44.117.1 ALCS 1 duration (ECS47)
    b"\x00\x01\x00\x00\x5e\x2c\x75\x02\x00\x01\x03\x03"    # 1 0-0:94.44.117.2 ALCS 2 duration (ECS47)
    b"\x00\x01\x00\x00\x5e\x2c\x75\x03\x00\x01\x03\x03"    # 1 0-0:94.44.117.3 ALCS 3 duration (ECS47)
    b"\x00\x01\x00\x00\x5e\x2c\x75\x04\x00\x01\x03\x03"    # 1 0-0:94.44.117.4 ALCS 4 duration (ECS47)
    b"\x00\x01\x00\x00\x5e\x2c\x75\x05\x00\x01\x03\x03"    # 1 0-0:94.44.117.5 ALCS 5 duration (ECS47)
    b"\x23\x28\x00\x00\x5e\x2c\x00\x03\x00\x01\x03\x04"    # 9000 0-0:94.44.0.3 LL supply state (ECS28a)
    b"\x23\x28\x00\x00\x5e\x2c\x80\x06\x00\x01\x03\x04"    # 9000 0-0:94.44.128.6 LL period (ECS28a)
    b"\x23\x28\x00\x00\x5e\x2c\x80\x07\x00\x01\x03\x04"    # 9000 0-0:94.44.128.7 LL power (ECS28a)
    b"\x23\x28\x00\x00\x5e\x2c\x80\x08\x00\x01\x03\x04"    # 9000 0-0:94.44.128.8 LL restoration (ECS28a)
    # -- group 4: uc_read -----------------------------------------------------
    b"\x00\x03\x01\x00\x01\x08\x00\xff\x00\x00\x04\x00"    # 3 1-0:1.8.0.255 active import register
    b"\x00\x03\x01\x00\x02\x08\x00\xff\x00\x00\x04\x00"    # 3 1-0:2.8.0.255 active export (ECS17a)
    b"\x00\x03\x01\x00\x04\x08\x00\xff\x00\x00\x04\x00"    # 3 1-0:4.8.0.255 reactive import (ECS17a)
    b"\x00\x07\x00\x00\x62\x01\x01\xff\x03\x00\x04\x01"    # 7 0-0:98.1.{1..4}.255 Billing Data Log parts
    b"\x00\x07\x00\x00\x62\x01\x09\xff\x01\x00\x04\x01"    # 7 0-0:98.1.{9,10}.255 daily read logs (ECS21a, ECS21c export)
    b"\x00\x07\x00\x00\x63\x01\x00\xff\x03\x00\x04\x01"    # 7 0-0:99.1.{0..3}.255 HH profiles, daily use
    b"\x00\x07\x00\x00\x63\x62\x00\xff\x01\x00\x04\x01"    # 7 0-0:99.98.{0,1}.255 event, security log (ECS35a/b)
    b"\x00\x07\x00\x00\x63\x62\x04\xff\x00\x00\x04\x01"    # 7 0-0:99.98.4.255 power event log (ECS35e)
    b"\x00\x1e\x00\x00\x2b\x02\x01\xff\x07\x00\x04\x02"    # 30 0-0:43.2.{1..8}.255 Data Protection (§8.5)
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


# The use-case modules by group (module(g)); 5 the ASN.1 use cases, 6 the
# credential ones asn1.py hands on. A board whose image leaves them out of
# its frozen set (tools/mpy_build.FS_ONLY: NUCLEO_WB55's flash) keeps them
# on its filesystem under _FS_DIR.
_GROUPS = ("uc_device", "uc_account", "uc_tariff", "uc_supply", "uc_read", "asn1", "creds")
_FS_DIR = "gbcs_uc"


def drop():
    """Forget the use-case modules a command imported (dispatch.run, after
    its response): a board runs one use case now and then, and on the
    unix port each one's bytecode sits in the heap (uc_tariff about 11 KB);
    the next command that needs one imports it again. They keep no state of
    their own (the meter and its records hold it)."""
    import sys
    pkg = __name__[:-6]                 # this package, without ".cosem"
    p = sys.modules.get(pkg)
    for n in _GROUPS:
        if sys.modules.pop(pkg + "." + n, None) is not None and p is not None:
            try:
                delattr(p, n)
            except AttributeError:
                pass


def module(g):
    """The use-case module of group g, imported on first use: from the
    package (frozen, or the host's tree), else from the filesystem's
    _FS_DIR with the package's search path pointed there for that one
    import (what it imports of this package is loaded first)."""
    import sys
    pkg = __name__[:-6]
    k = pkg + "." + _GROUPS[g]
    M = sys.modules.get(k)
    if M is None:
        try:
            __import__(k)
        except ImportError:
            from . import core, dlms, dispatch, future, keystore    # noqa: F401
            p = sys.modules[pkg]
            old = p.__path__
            p.__path__ = _FS_DIR
            try:
                __import__(k)
            finally:
                p.__path__ = old
        M = sys.modules[k]
    return M
