# Metrology interface: what the meter core needs from the measuring element.
#
#   take_ws() -> int   active import energy in watt-seconds since the previous
#                      call (>= 0); the core calls it once per one-second tick
#   power_w() -> int   instantaneous active import power in watts
#
# On a board a pulse-counter driver (1 pulse = 1 Wh -> 3600 Ws) or a
# metrology IC driver (e.g. an energy register read over SPI) implements the
# same two methods; see boards/README.md.


class SimMetrology:
    """Load set by the simulator in watts; each tick is one simulated second."""

    def __init__(self, power_w=0):
        self.load_w = power_w

    def take_ws(self):
        return self.load_w

    def power_w(self):
        return self.load_w
