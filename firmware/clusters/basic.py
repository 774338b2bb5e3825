# Basic cluster (0x0000) server, ZCL rev 6 §3.2. No APS link key needed
# (notes/zse-clusters §2 table: Basic is readable before key establishment).
from ..compat import const
from ..zcl import types as T
from ..zcl.cluster import Cluster, Cmds, A_R, A_W, A_NV, RW, check_range
from ..zcl.status import ZclError, INVALID_VALUE

_POWER_MAINS_1PH = const(0x01)


class Basic(Cluster):
    ID = 0x0000
    NAME = "Basic"
    REVISION = 1
    ATTRS = (
        (0x0000, "ZCLVersion", T.UINT8, A_R, 0x03),
        (0x0001, "ApplicationVersion", T.UINT8, A_R, 0x01),
        (0x0002, "StackVersion", T.UINT8, A_R, 0x00),
        (0x0003, "HWVersion", T.UINT8, A_R, 0x01),
        (0x0004, "ManufacturerName", T.CHARSTR, A_R, b"OpenESME"),
        (0x0005, "ModelIdentifier", T.CHARSTR, A_R, b"ESME-MPY-1"),
        (0x0006, "DateCode", T.CHARSTR, A_R, b"20261125"),
        (0x0007, "PowerSource", T.ENUM8, A_R, _POWER_MAINS_1PH),
        (0x0010, "LocationDescription", T.CHARSTR, RW | A_NV, b""),
        (0x0011, "PhysicalEnvironment", T.ENUM8, RW | A_NV, 0x00),
        (0x0012, "DeviceEnabled", T.BOOL, RW | A_NV, 1),
        (0x0013, "AlarmMask", T.MAP8, RW | A_NV, 0x00),
        (0x4000, "SWBuildID", T.CHARSTR, A_R, b"0.1.0"),
    )
    RX = Cmds(
        "00 ResetToFactoryDefaults;"
    )
    TX = ()

    def validate(self, aid, value):
        if aid == 0x0010:
            # A length octet of 0xFF is the character string's invalid value
            # (ZCL rev 6 §2.6.2, Table 2-10; decoded as None), not a string
            # of 0-16 characters: INVALID_VALUE as for any value out of the
            # attribute's range (§2.5.3.3).
            if value is None:
                raise ZclError(INVALID_VALUE)
            check_range(len(value), 0, 16)      # §3.2.2.2.10: at most 16 chars
        elif aid == 0x0012:
            check_range(value, 0, 1)
        elif aid == 0x0013:
            check_range(value, 0, 0x03)         # bits 0-1 defined
        return 0

    def on_ResetToFactoryDefaults(self, req, fields):
        # §3.2.2.3.1: resets the Basic attributes only; never metering data.
        for aid, a in self.adefs.items():
            if a[3] & A_W:
                self.values[aid] = a[4]
        self.app.nv_dirty(self)
