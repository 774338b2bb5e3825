# main.py of the virtual board (deployed by `make deploy BOARD=VIRTUAL`,
# docs/deploy.md; it runs on the unix port under tools/vrepl.py, from the
# board's flash directory). The counterpart of a board's boards/<BOARD>/main.py:
# the unix port's drivers (firmware/vboard.py, deployed with the firmware)
# plus the frozen control loop, with the HAN link on a TCP port that the
# bench reaches as `--port socket://127.0.0.1:LINK`.
#
# /vboard.json on the board (all optional):
#   {"link": 7000, "host": "127.0.0.1", "utc": <SimClock start, ZigBee epoch
#    or Unix seconds as the bench uses>, "store": "store", "config": {meter config}}
#
# Each host connection on the link powers the meter on from the store (the
# board's flash: records survive, as across a mains cut) and runs it in
# lockstep until the host closes the link; then it waits for the next. A
# torn write (the bench's cut_after_writes) ends that power-on. Ctrl-C on the
# REPL (mpremote) interrupts it at any time, as on a board.
import gc
import json
import os
import select
import socket

try:
    import vrepl           # the REPL server: looks for Ctrl-C from the host
except ImportError:
    vrepl = None

_SLICE = 50                # ms between looks at the REPL while the link is quiet


def _intr():
    if vrepl is not None:
        vrepl.check()


def _board():
    """The application (imported at each power-on, after the OTA boot
    selector, firmware/ota/client.py use(), chose where from): firmware/vboard.py's
    drivers, with the link's waits made interruptible from the REPL."""
    from firmware.vboard import VirtualBoard

    class Board(VirtualBoard):
        wait = _wait
        read = _read
    return Board


def _wait(self, ms):
    # Board.wait: the link's waits, interruptible from the REPL
    _intr()
    if self._poller is None:
        self._poller = select.poll()
        self._poller.register(self.sock, select.POLLIN)
    while True:
        t = _SLICE if ms < 0 else min(ms, _SLICE)
        if self._poller.poll(t):
            return True
        _intr()
        if ms >= 0:
            ms -= t
            if ms <= 0:
                return False


def _read(self):
    self.wait(-1)
    return self.sock.recv(128)


def _config():
    try:
        with open("vboard.json") as f:
            return json.load(f)
    except OSError:
        return {}


def _accept(srv):
    p = select.poll()
    p.register(srv, select.POLLIN)
    while not p.poll(_SLICE):
        _intr()
    s = srv.accept()[0]
    try:
        s.setsockopt(6, 1, 1)      # IPPROTO_TCP, TCP_NODELAY: lockstep round trips
    except (OSError, AttributeError):
        pass
    return s


def main():
    cfg = _config()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(socket.getaddrinfo(cfg.get("host", "127.0.0.1"), int(cfg.get("link", 7000)))[0][-1])
    srv.listen(1)
    print("meter: HAN link on %s:%d" % (cfg.get("host", "127.0.0.1"), int(cfg.get("link", 7000))))
    store = cfg.get("store", "store")
    app = None
    try:
        while True:
            s = _accept(srv)
            try:
                # a power-on: the OTA boot selector first (a trial boot
                # counted, or a failed trial rolled back), then the
                # application from the bundle it names or the built-in one
                try:
                    os.stat(store + "/bootsel.0")     # a selector (store.py: its first save's slot)
                except OSError:
                    pass
                else:
                    from firmware.ota import client
                    app = client.use(store, app)
                    client = None
                try:
                    Board = _board()
                except Exception as e:     # a bundle that does not import: the next power-on rolls it back
                    print("meter: application from %s failed: %r" % (app, e))
                    continue
                if app:
                    print("meter: application from %s" % app)
                Board(s, store, int(cfg.get("utc", 0)), cfg.get("config")).run()
            except Exception as e:
                if type(e).__name__ != "PowerCut":
                    raise
                # the supply died mid-write: this power-on is over
            finally:
                s.close()
                Board = None
                gc.collect()
    finally:
        srv.close()


main()
