# Differential: the frozen control path (firmware/control.py) over an
# in-memory byte transport, as a board's main.py would run it (the body is
# ctl_io.py). Phase "virtual" (simulated hardware present): op dispatch, a
# long request in pieces arriving in odd-sized reads, a response longer than
# a chunk, malformed requests, a partial frame expired by the idle line.
# Phase "board" (none): the simulated-hardware ops refused, the meter ticked
# by its own clock, the idle loop allocating nothing (MicroPython
# heap_lock). One meter per process. Printed values are parsed and sorted:
# the same bytes on both runtimes.
import sys

from ctl_io import virtual, board_

if sys.argv[2] == "virtual":
    virtual(sys.argv[1])
else:
    board_(sys.argv[1])
