# Metering cluster (0x0702) server: the Reading Information, Meter Status and
# Formatting sets an IHD needs first (ZSE 1.x D.3.2). The full attribute sets,
# commands, profiles and logs are the Metering issue's.
from ..compat import const
from ..zcl import types as T
from ..zcl.cluster import Cluster, A_R, A_P, A_DYN

UNIT_KWH = const(0x00)
# Formatting bitmap (ZSE D.3.2.2.4.4): b0-2 digits right of the point,
# b3-6 digits left, b7 suppress leading zeros. GB single-phase default:
# kWh with Wh resolution (Divisor 1000), 7+3 digits, demand kW 5+3 digits.
SUMMATION_FMT = const(0x80 | (7 << 3) | 3)
DEMAND_FMT = const(0x80 | (5 << 3) | 3)

ATTR_SUMMATION = const(0x0000)
ATTR_DEMAND = const(0x0400)


class Metering(Cluster):
    ID = 0x0702
    NAME = "Metering"
    SECURE = True
    ATTRS = (
        (0x0000, "CurrentSummationDelivered", T.UINT48, A_R | A_P | A_DYN, 0),
        (0x0014, "SupplyStatus", T.ENUM8, A_R | A_P | A_DYN, 0x02),
        (0x0200, "Status", T.MAP8, A_R | A_P, 0x00),
        (0x0300, "UnitOfMeasure", T.ENUM8, A_R, UNIT_KWH),
        (0x0301, "Multiplier", T.UINT24, A_R, 1),
        (0x0302, "Divisor", T.UINT24, A_R, 1000),
        (0x0303, "SummationFormatting", T.MAP8, A_R, SUMMATION_FMT),
        (0x0304, "DemandFormatting", T.MAP8, A_R, DEMAND_FMT),
        (0x0306, "MeteringDeviceType", T.MAP8, A_R, 0x00),   # GBCS §10.4.2.11
        (0x0400, "InstantaneousDemand", T.INT24, A_R | A_P | A_DYN, 0),
    )

    def read(self, aid):
        m = self.app
        if aid == ATTR_SUMMATION:
            return m.import_wh          # Wh: Multiplier 1 / Divisor 1000 -> kWh
        if aid == ATTR_DEMAND:
            return m.power_w            # W -> kW with the same formatting
        if aid == 0x0014:
            return 0x02 if m.relay.closed else 0x00   # ZSE SupplyStatus: on / off
        return self.values[aid]
