# Metering cluster (0x0702) server: the Reading Information, Meter Status and
# Formatting sets an IHD needs first (ZSE 1.x D.3.2). The full attribute sets,
# commands, profiles and logs are the Metering issue's.
from ..compat import const
from ..zcl import types as T
from ..zcl.cluster import Cluster, A_R, A_P, A_DYN
from ..metering import format as F

ATTR_SUMMATION = const(0x0000)
ATTR_MULTIPLIER = const(0x0301)
ATTR_DIVISOR = const(0x0302)
ATTR_SUMMATION_FMT = const(0x0303)
ATTR_DEMAND_FMT = const(0x0304)
ATTR_DEMAND = const(0x0400)


class Metering(Cluster):
    ID = 0x0702
    NAME = "Metering"
    SECURE = True
    ATTRS = (
        (0x0000, "CurrentSummationDelivered", T.UINT48, A_R | A_P | A_DYN, 0),
        (0x0014, "SupplyStatus", T.ENUM8, A_R | A_P | A_DYN, 0x02),
        (0x0200, "Status", T.MAP8, A_R | A_P, 0x00),
        (0x0300, "UnitOfMeasure", T.ENUM8, A_R, F.UNIT_KWH),
        (0x0301, "Multiplier", T.UINT24, A_R, F.DEFAULT_MULTIPLIER),
        (0x0302, "Divisor", T.UINT24, A_R, F.DEFAULT_DIVISOR),
        (0x0303, "SummationFormatting", T.MAP8, A_R, F.DEFAULT_SUMMATION_FMT),
        (0x0304, "DemandFormatting", T.MAP8, A_R, F.DEFAULT_DEMAND_FMT),
        (0x0306, "MeteringDeviceType", T.MAP8, A_R, 0x00),   # GBCS §10.4.2.11
        (0x0400, "InstantaneousDemand", T.INT24, A_R | A_P | A_DYN, 0),
    )

    def read(self, aid):
        m = self.app
        v = self.values
        if aid == ATTR_SUMMATION:       # Wh -> wire units (format.py)
            return F.to_wire(m.import_wh, v[ATTR_MULTIPLIER], v[ATTR_DIVISOR])
        if aid == ATTR_DEMAND:          # W -> wire units, same Multiplier/Divisor
            return F.to_wire(m.power_w, v[ATTR_MULTIPLIER], v[ATTR_DIVISOR])
        if aid == 0x0014:
            return 0x02 if m.relay.closed else 0x00   # ZSE SupplyStatus: on / off
        return self.values[aid]

    def display_summation(self):
        """What the display shows for CurrentSummationDelivered, in kWh."""
        v = self.values
        return F.render(self.read(ATTR_SUMMATION), v[ATTR_MULTIPLIER], v[ATTR_DIVISOR],
                        v[ATTR_SUMMATION_FMT])

    def display_demand(self):
        v = self.values
        return F.render(self.read(ATTR_DEMAND), v[ATTR_MULTIPLIER], v[ATTR_DIVISOR],
                        v[ATTR_DEMAND_FMT])
