# Virtual board: the MicroPython unix port's drivers for the meter (host
# only, not frozen): the HAN link as a TCP socket to the host (comms-hub
# simulator / bench runner), a simulated clock, store, metrology, relays and
# display. The control path itself (the link loop and the lockstep control
# protocol) is the frozen firmware/control.py, as on a board.
#
#   micropython -X heapsize=164K -m firmware.vboard --port P --store DIR
#   python -m firmware.vboard --port P --store DIR          (same code)
import json
import select
import socket
import sys

from .control import Control
from .platform.clock import SimClock
from .platform.store import Store, FileBackend, PowerCut
from .platform.metrology import SimMetrology
from .platform.hw import Relay, Button, Display, AuxSwitches
from .meter import Meter, Platform


class VirtualBoard(Control):
    """The meter on simulated hardware: control.py's byte transport (io:
    the TCP socket) and its simulated hardware (sim: .metrology, .backend,
    the SimClock), in one object (one class less in the unix port's heap)."""

    def __init__(self, sock, store_dir, utc, config):
        Control.__init__(self, self, SimClock(utc), self)
        self.sock = sock
        self._poller = None
        self.backend = FileBackend(store_dir)
        aux = AuxSwitches()
        relay = Relay()
        self.metrology = SimMetrology(0, aux, relay)
        self.display = Display()
        plat = Platform(self.clock, Store(self.backend), self.metrology, relay,
                        Button(), self.display, self.send_aps, aux)
        self.meter = Meter(plat, config)

    # -- the link: a connected TCP socket (control.py's io) -----------------------
    def write(self, frame):
        mv = memoryview(frame)
        while len(mv):
            n = self.sock.send(mv)
            mv = mv[n:]

    def read(self):
        # recv, not readinto (a stream readinto blocks until buf is full),
        # in small pieces so a fragmented heap can still take input
        return self.sock.recv(128)

    def wait(self, ms):
        if self._poller is None:
            self._poller = select.poll()
            self._poller.register(self.sock, select.POLLIN)
        return bool(self._poller.poll(ms))


def _args(argv):
    out = {"host": "127.0.0.1", "port": 0, "store": "store", "utc": 0, "config": None,
           "listen": None}
    i = 0
    while i < len(argv):
        k = argv[i][2:]
        out[k] = argv[i + 1]
        i += 2
    return out


def main(argv):
    a = _args(argv)
    cfg = None
    if a["config"]:
        with open(a["config"]) as f:
            cfg = json.load(f)
    if a["listen"]:
        # Serve one host connection (the bench's --port socket:// transport,
        # standing in for a board's UART in tests).
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(socket.getaddrinfo(a["host"], int(a["listen"]))[0][-1])
        srv.listen(1)
        s = srv.accept()[0]
        srv.close()
    else:
        s = socket.socket()
        s.connect(socket.getaddrinfo(a["host"], int(a["port"]))[0][-1])
    try:    # lockstep round trips: no Nagle delay (IPPROTO_TCP 6, TCP_NODELAY 1)
        s.setsockopt(6, 1, 1)
    except (OSError, AttributeError):
        pass
    board = VirtualBoard(s, a["store"], int(a["utc"]), cfg)
    try:
        board.run()
    except PowerCut:
        # The supply died mid-write: stop dead, as the MCU would.
        s.close()
        sys.exit(3)
    s.close()


if __name__ == "__main__":
    main(sys.argv[1:])
