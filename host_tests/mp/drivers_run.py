# drivers_board.py's body (a module of its own: an imported module's source
# text does not stay in the unix port's board-sized heap while it runs, a
# script's does).
import sys
import json

import fake_machine as FM
FM.install()
import fake_stpm3x as FS
from drivers import stpm3x as ST
from drivers import pulse as PU
from drivers import relay as RE
from drivers import button as BU
from drivers import rtcclock as RC
from drivers import hanuart as HU
from drivers import board as BO
from firmware import hanlink as L
from firmware.zcl import aps as A

P_FULL = 301546
ft = FM.FakeTime(1000)
ft.patch(ST, PU, RE, BU, RC, HU)


def metrology():
    global ic, m
    # -- metrology IC over its UART --------------------------------------------------------------
    ic = FS.FakeStpm3x(P_FULL)
    u = FM.UART("stpm")
    u.peer = ic.on_uart
    u.sent = None
    m = ST.Stpm3x(ST.UartBus(u), P_FULL)
    print("start", m.start(), ic.resets)
    ic.power_w = 2400
    total = 0
    for s in range(600):
        ic.run(1)
        if s == 100:
            ic.corrupt = 1
        if s == 200:
            ic.silent = 1
        total += m.take_ws()
    print("energy", total, m.power_w(), m.crc_errors, m.timeouts, m.missed)

    # -- the drivers' tick paths allocate nothing (MicroPython heap_lock) ---------------------------
    # The IC's answers for 31 seconds are recorded first (the fake allocates),
    # then replayed to a second driver under heap_lock: take_ws and power_w of
    # the IC and of the pulse input, the RTC clock, the button, the display's
    # update and the HAN link's idle wait.
    try:
        from micropython import heap_lock, heap_unlock
    except ImportError:
        def heap_lock():
            pass

        def heap_unlock():
            pass


    class Rec:
        LSB_FIRST = True

        def __init__(self, bus, n):
            self.bus = bus
            self.frames = bytearray(5 * n)
            self.n = 0

        def xfer(self, tx, rx):
            k = self.bus.xfer(tx, rx)
            self.frames[self.n:self.n + 5] = rx
            self.n += 5
            return k


    class Replay:
        LSB_FIRST = True

        def __init__(self, frames):
            self.frames = frames
            self.i = 0

        def xfer(self, tx, rx):
            f = self.frames
            i = self.i
            for k in range(5):
                rx[k] = f[i + k]
            self.i = i + 5
            return 5


    import gc
    gc.collect()
    rec = Rec(m.bus, 93)
    m.bus = rec
    for s in range(31):
        ic.run(1)
        m.take_ws()
    m2 = ST.Stpm3x(Replay(rec.frames), P_FULL)
    m2.take_ws()                                  # the first reading: the baseline
    clock = RC.RtcClock(FM.RTC())
    FM.Pin("lk", FM.Pin.IN)
    pl = PU.PulseMetrology(FM.Pin("lk"), 1000, trigger=FM.Pin.IRQ_FALLING)
    btn = BU.Button(FM.Pin("lk"))
    irq = FM.Pin.irqs["lk"]                   # the ISR as the port calls it (no new Pin)
    lk = FM.Pin("lk")
    from drivers import ssd1306 as SD
    disp = SD.Ssd1306(FM.I2C(1))
    han = HU.HanUart(FM.UART("lk"))
    ws = 0
    res = "ok"
    heap_lock()
    try:
        for s in range(30):
            ws += m2.take_ws()
            ft.ms += 1000
            clock.mono()
            clock.now()
            irq(lk)
            pl.take_ws()
            pl.power_w()
            btn.poll()
            disp.update(ws, m2.power_w(), 1, True, False)
            han.wait(10)
    except MemoryError:
        res = "allocated"
    heap_unlock()
    print("heap_lock", res, ws, m2.power_w(), clock.mono(), pl.seen, han.wait(0))

    # -- pulse input --------------------------------------------------------------------------------
    FM.Pin("pulse", FM.Pin.IN)
    p = PU.PulseMetrology(FM.Pin("pulse"), 1000, trigger=FM.Pin.IRQ_FALLING)
    for i in range(10):
        FM.Pin.fire("pulse")
        ft.ms += 1000
        ft.ms -= 1 if i == 9 else 0
    print("pulse", p.take_ws(), p.power_w())

def boot():
    global todo
    # -- boot.py + main.py ----------------------------------------------------------------------------
    import pins
    pins.STORE = sys.argv[1] + "/store"
    pins.CONFIG = sys.argv[1] + "/meter.json"


    class _Lfs:
        pass


    _Lfs.__name__ = "VfsLfs2"


    class _Vfs:
        def mount(self):
            return [(VfsLfs2(), sys.argv[1])]


    class VfsLfs2:
        pass


    sys.modules["vfs"] = _Vfs()
    ic2 = FS.FakeStpm3x(P_FULL, uart=False)
    FM.SPI.default_peer = ic2.on_spi
    todo = [L.encode(L.T_CTRL, b'{"op": "hello"}'),
            L.encode(L.T_APS, bytes(A.Aps(0x0000, 1, 0x4E21, 1, 0x0109, 0x0000,
                                          bytes((0x00, 0x01, 0x00, 0x00, 0x00))).encode()))]
    got = []
    dfr = L.Deframer(lambda t, b: got.append((t, bytes(b))))


    class Done(Exception):
        pass


    def on_sleep(ms):
        han = FM.UART.ports.get(pins.HAN_UART)
        if han is None:
            return
        dfr.feed(bytes(han.sent))
        han.sent = bytearray()
        if not han.rx:
            if not todo:
                raise Done()
            han.rx.extend(todo.pop(0))


    ft.on_sleep = on_sleep
    for name in ("boot.py", "main.py"):
        with open("../../boards/NUCLEO_WB55/" + name) as f:
            src = f.read()
        try:
            exec(src, {"__name__": "__main__"})
        except Done:
            pass
    ctrl = [json.loads(b) for t, b in got if t == L.T_CTRL_RSP]
    basic = [A.decode(b) for t, b in got if t == L.T_APS]
    basic = [x for x in basic if x.cluster == 0 and x.payload[2] == 0x01]
    print("served ctrl", len(ctrl), "basic", len(basic), "now", ctrl[0]["now"] == RC.to_utc(FM.RTC.now),
          "safe", BO.SAFE, "wdt", FM.WDT.timeout, FM.WDT.feeds > 0, "ic", ic2.resets, ic2.latches > 0,
          "display", len([w for w in FM.I2C.last.writes if w[1] == 0x40]) > 0)

