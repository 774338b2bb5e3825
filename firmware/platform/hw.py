# The small interfaces the core drives: relay, auxiliary switches, consumer
# button and display. Boards wrap a GPIO (latching relay coil pair, push
# button) and an LCD (boards/drivers/); the simulator keeps the values so the
# bench and the terminal view can show them. The simulator's relay and button
# (and clock) are in platform/metrology.py, host only: a board has its own
# and freezes neither (their classes cost heap; issue #18). Here: the
# auxiliary switches (the meter's default when a platform has none) and the
# display (boards' display drivers subclass it).


class AuxSwitches:
    """Auxiliary load-control switches (GBCS §18.1.1, ALCS). closed[i]
    True means switch i supplies its load."""

    def __init__(self, n=2):
        self.closed = [True] * n
        self.operations = 0

    def set(self, i, closed):
        if self.closed[i] != closed:
            self.closed[i] = closed
            self.operations += 1


class Display:
    """What the meter shows. The core stores integers only (no string
    building in the per-second path); Meter.display_text() renders them
    through metering/format.py on demand."""

    def __init__(self):
        self.import_wh = 0
        self.power_w = 0
        self.time_status = 1
        self.supply_on = True
        self.identify = False

    def update(self, import_wh, power_w, time_status, supply_on, identify):
        self.import_wh = import_wh
        self.power_w = power_w
        self.time_status = time_status
        self.supply_on = supply_on
        self.identify = identify
