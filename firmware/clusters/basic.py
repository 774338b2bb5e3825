# Basic cluster (0x0000) server, ZCL rev 6 §3.2. No APS link key needed
# (notes/zse-clusters §2 table: Basic is readable before key establishment).
from ..zcl.cluster import Cluster, check_range
from ..zcl.status import ZclError

_A_W = const(0x02)               # = zcl.cluster.A_W
_INVALID_VALUE = const(0x87)     # = zcl.status.INVALID_VALUE


class Basic(Cluster):
    ID = 0x0000
    NAME = "Basic"
    REVISION = 1
    ATTRS = (
        "0000 ZCLVersion 20 R 3;"
        "0001 ApplicationVersion 20 R 1;"
        "0002 StackVersion 20 R 0;"
        "0003 HWVersion 20 R 1;"
        "0004 ManufacturerName 42 R 'OpenESME';"
        "0005 ModelIdentifier 42 R 'ESME-MPY-1';"
        "0006 DateCode 42 R '20261125';"
        "0007 PowerSource 30 R 1;"                    # mains, single phase
        "0010 LocationDescription 42 RWN '';"
        "0011 PhysicalEnvironment 30 RWN 0;"
        "0012 DeviceEnabled 10 RWN 1;"
        "0013 AlarmMask 18 RWN 0;"
        "4000 SWBuildID 42 R '0.1.0';"
    )
    RX = (
        "00 ResetToFactoryDefaults;"
    )
    TX = ()

    def validate(self, aid, value):
        if aid == 0x0010:
            # A length octet of 0xFF is the character string's invalid value
            # (ZCL rev 6 §2.6.2, Table 2-10; decoded as None), not a string
            # of 0-16 characters: _INVALID_VALUE as for any value out of the
            # attribute's range (§2.5.3.3).
            if value is None:
                raise ZclError(_INVALID_VALUE)
            check_range(len(value), 0, 16)      # §3.2.2.2.10: at most 16 chars
        elif aid == 0x0012:
            check_range(value, 0, 1)
        elif aid == 0x0013:
            check_range(value, 0, 0x03)         # bits 0-1 defined
        return 0

    def on_ResetToFactoryDefaults(self, req, fields):
        # §3.2.2.3.1: resets the Basic attributes only; never metering data.
        # (values holds written attributes only: dropping them restores
        # the defaults; the flash record is rewritten with them)
        for aid, a in self.adefs.items():
            if a[3] & _A_W:
                self.values.pop(aid, None)
        self.app.nv_dirty(self)
