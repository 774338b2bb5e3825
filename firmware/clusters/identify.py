# Identify cluster (0x0003) server, ZCL rev 6 §3.5.
from ..zcl.cluster import Cluster


class Identify(Cluster):
    ID = 0x0003
    NAME = "Identify"
    ATTRS = (
        "0000 IdentifyTime 21 RW 0;"
    )
    RX = (
        "00 Identify IdentifyTime:21;"
        "01 IdentifyQuery;"
    )
    TX = (
        "00 IdentifyQueryResponse Timeout:21;"
    )

    def on_Identify(self, req, fields):
        self.values[0x0000] = fields["IdentifyTime"]

    def on_IdentifyQuery(self, req, fields):
        t = self.stored(0x0000)
        if t:   # §3.5.2.3.2: only a device that is identifying answers
            self.reply(req, "IdentifyQueryResponse", (t,))      # Timeout

    def tick(self, now):
        # (every second: values, 0 the table's default while never written)
        t = self.values.get(0x0000, 0)
        if t:
            self.values[0x0000] = t - 1

    @property
    def identifying(self):
        return self.values.get(0x0000, 0) > 0
