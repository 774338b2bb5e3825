# Build from a MicroPython checkout (ports/stm32):
#   make BOARD=NUCLEO_WB55 FROZEN_MANIFEST=$(ESME)/boards/NUCLEO_WB55/manifest.py
include("$(PORT_DIR)/boards/manifest.py")
include("../manifest.py")
