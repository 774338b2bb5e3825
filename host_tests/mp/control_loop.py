# Differential: the frozen control path (firmware/control.py) over an
# in-memory byte transport (ctl_io.py), as a board's main.py would run it.
# Phase "virtual" (simulated hardware present): op dispatch, a long request
# in pieces arriving in odd-sized reads, a response longer than a chunk,
# malformed requests, a partial frame expired by the idle line. Phase
# "board" (none): the simulated-hardware ops refused, the meter ticked by
# its own clock, the idle loop allocating nothing (MicroPython heap_lock). One meter per process (the host end shares the board-sized
# heap). Printed values are parsed and sorted: the same bytes on both runtimes.
import json
import sys

from common import store_dir
from firmware import hanlink as L
from firmware.control import OPS, SIM_OPS
from ctl_io import T0, board, request, ask, show, heap_locked


def virtual():
    ctl, io, clock, met = board(store_dir() + "/v", True)
    show("sync", ask(ctl, io, op="sync"))
    show("load", ask(ctl, io, op="load", w=3600, aux_w=[1000, 0]))
    show("button", ask(ctl, io, op="button"))
    done = 0
    while done < 20:                              # an advance stops after a second with frames
        done += ask(ctl, io, op="advance", s=20 - done)["done"]
    show("advanced", [done, clock.now() - T0])
    show("drlc_opt", ask(ctl, io, op="drlc_opt", out=True, event=None))

    # a long request: a tariff document in CHUNK pieces, read 7 octets at a time
    with open("../../tariffs/tou-blocks.json") as f:
        data = json.dumps({"op": "tariff", "doc": json.load(f), "at": 0}).encode()
    n = len(data) // L.CHUNK + 1
    r = request(ctl, io, data, piece=7)[0][0]
    data = None
    print("long request", n, "pieces", "activated", sorted(r["activated"]), "pending",
          r["pending"])
    st, n = request(ctl, io, b'{"op": "state"}')[0]
    m = ctl.meter
    print("state in", n > 1, "chunks", st[0] > L.CHUNK, st[1], st[2], "ImportWh", m.import_wh,
          "presses", m.button_presses, "aux", m.aux.closed, "tariff", m.tariff.tariff_id)

    # malformed requests: answered, the meter serves on, nothing changed
    for bad in (b"{not json", b"[1, 2]", b'{"op": "format-flash"}', b'{"op": "advance", "s": -1}',
                b'{"op": "load", "w": 100, "aux_w": ["a"]}', b'{"op": "tariff", "doc": 5, "at": 0}',
                None):
        if bad is None:      # longer than a request may be: 18 pieces of 512 octets,
            piece = L.encode(L.T_CTRL_MORE, b"x" * L.CHUNK)
            for i in range(17):          # sent one by one
                io.rx.append(piece)
                while io.rx:
                    ctl.serve_once()
            bad = piece = b"x"
        show("bad", request(ctl, io, bad)[0][0])
    show("after bad", [ask(ctl, io, op="sync")["now"] - T0, m.import_wh])

    # a frame cut off after its header: the idle line expires it, the next
    # request is answered
    waits = io.waits
    io.rx.append(b"\x7e\xa5\x58\x02{}")
    ctl.serve_once()
    print("partial pending", ctl.deframer.pending())
    ctl.serve_once()                              # nothing comes for IDLE_MS
    print("expired", not ctl.deframer.pending(), ctl.deframer.timeouts, io.waits - waits)
    show("after partial", ask(ctl, io, op="sync"))


def board_():
    ctl, io, clock, met = board(store_dir() + "/b", False)
    for op in ("advance", "load", "cut_after_writes"):
        show("board " + op, ask(ctl, io, op=op, s=5, w=5, n=1))
    show("board sync", ask(ctl, io, op="sync"))
    met.load_w = 7200                             # the metrology driver measures 2 Wh a second
    clock.advance(30)                             # the RTC moves on its own
    ctl.serve_once()                              # nothing on the line: the meter ticks
    print("board ticked", clock.mono(), ctl._ticked, "ImportWh", ctl.meter.import_wh)
    # a minute later, the line idle: one pass of the loop ticks the meter 60
    # times and allocates nothing (the time request went out at boot)
    clock.advance(60)
    res = heap_locked(ctl.serve_once)
    print("board idle", clock.mono(), ctl._ticked, "ImportWh", ctl.meter.import_wh)
    print("heap_lock", res)
    show("board ui", ask(ctl, io, op="ui", code=0xFFFF))


if sys.argv[2] == "virtual":
    print("ops", sorted(OPS), "sim", sorted(SIM_OPS))
    virtual()
else:
    board_()
