# Differential (test_drivers.py): the board drivers on the fake machine
# module (fake_machine.py) on both runtimes: the STPM3x driver against the
# register-level fake (fake_stpm3x.py) for ten minutes at 2.4 kW with a bad
# CRC and a lost answer on the way, the pulse input, and the boot path:
# NUCLEO_WB55's boot.py and main.py boot the meter, which answers a control
# request and a ZCL read over the HAN UART. argv[1]: a store directory;
# argv[2]: "metrology" (the IC, the tick paths under heap_lock, the pulse
# input) or "boot" (one meter per process: the board-sized heap).
import sys

sys.path.append("../../boards")
sys.path.append("../../boards/NUCLEO_WB55")
import drivers_run

if sys.argv[2] == "metrology":
    drivers_run.metrology()
else:
    drivers_run.boot()
