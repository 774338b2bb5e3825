# Build from a MicroPython checkout (ports/stm32):
#   make BOARD=NUCLEO_WB55 FROZEN_MANIFEST=$(ESME)/boards/NUCLEO_WB55/manifest.py
include("$(PORT_DIR)/boards/manifest.py")
include("../manifest.py")
# The board drivers (boards/drivers/, the package `drivers`). boot.py,
# main.py and pins.py stay on the file system (the port runs boot.py and
# main.py from there; pins.py is the bench's wiring), copied by mpremote.
package("drivers", base_path="..", opt=3)
