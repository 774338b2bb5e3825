# Both runtimes: a tariff load the heap cannot hold is refused and changes
# nothing. On MicroPython the heap is really filled (every block a
# three-rate load would need is taken) before the load; CPython's heap
# cannot be filled, so there the load meets an injected MemoryError at the
# same point. Then the heap is given back, the meter keeps metering, and the
# same document loads; phase 2 (a new process on the same store) boots with
# it. Prints what the engine and the store hold at each stage; the two
# runtimes must print the same.
#   heap_tariff.py STORE TARIFFS_DIR 1|2
import gc
import json
import sys

from common import make_meter, store_dir
from common import tariff_load

T0 = 820886400 + 3600                        # Monday 01:00 UTC


def show(tag, m):
    tf = m.tariff
    rec = m.store._candidates("tariff")[0][4]     # the newest record on flash, as stored
    print(tag, tf.tariff_id, tf.calendar.name, tf.prices[:4], tf.sel, tf.sc_amount,
          sum(tf.reg), m.import_wh, m.account.energy, m.account.standing,
          len(rec), sum(rec) & 0xFFFF, m.tariff_refused)


def fill():
    """Take every free block (MicroPython): pieces of 8 KB down to 256
    octets, then cells of one small list and a 48-octet bytearray, then
    whatever is left in 16-octet pieces; each a chain of [next, bytearray]
    cells, so no growing list needs a block of its own. Then every other
    one of the first 48 small cells is given back: about 3 KB free, in
    pieces of ~128 bytes between cells that stay, none of it a block for
    the load's 84-price list. (The small cells are a chain of their own:
    a meter that keeps its heap packed, compat.pack_heap, leaves too few
    holes for the last cells of a single chain to be small ones.)"""
    chain = None
    size = 8192
    while size >= 256:
        try:
            while True:
                chain = [chain, bytearray(size)]
        except MemoryError:
            size //= 2
    small = None
    try:
        while True:
            small = [small, bytearray(48)]
    except MemoryError:
        pass
    try:
        while True:
            chain = [chain, bytearray(16)]
    except MemoryError:
        pass
    cell = small
    for i in range(24):
        if cell is None or cell[0] is None:
            break
        cell[0] = cell[0][0]          # unlink the next cell
        cell = cell[0]
    gc.collect()
    return [chain, small]


def load(m, doc):
    from common import TariffNoRoom
    try:
        return tariff_load(m, doc)
    except TariffNoRoom as e:
        return "refused: " + e.args[0]


def phase1():
    with open(sys.argv[2] + "/flat.json") as f:
        flat = json.load(f)
    with open(sys.argv[2] + "/three-rate.json") as f:
        three = json.load(f)
    m, out, clock, met, _ = make_meter(store_dir(), T0)
    print("flat", tariff_load(m, flat))
    met.load_w = 3600
    for i in range(100):
        clock.advance(1)
        m.tick()
    show("before", m)

    import firmware.tariff.loader as loader     # imported before the heap is full
    try:
        gc.mem_free()
        real = True
    except AttributeError:
        real = False
    if real:
        chain = fill()
    else:                                        # CPython: the loader runs out of memory
        keep = loader.parts_from_doc

        def no_room(doc):
            raise MemoryError("injected")
        loader.parts_from_doc = no_room
    print("full", load(m, three))
    for i in range(100):                         # the tick needs no heap
        clock.advance(1)
        m.tick()
    if real:
        chain = None
    else:
        loader.parts_from_doc = keep
    gc.collect()
    show("refused", m)
    print("again", load(m, three))
    for i in range(100):
        clock.advance(1)
        m.tick()
    m.save_registers()
    show("loaded", m)
    with open(store_dir() + "/now", "w") as f:
        f.write(str(clock.now()))


def phase2():
    with open(store_dir() + "/now") as f:
        now = int(f.read())
    m, _, _, _, _ = make_meter(store_dir(), now)
    show("reboot", m)


if sys.argv[3] == "1":
    phase1()
else:
    phase2()
