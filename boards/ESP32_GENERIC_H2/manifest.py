# Build from a MicroPython checkout (ports/esp32):
#   make BOARD=ESP32_GENERIC_H2 FROZEN_MANIFEST=$(ESME)/boards/ESP32_GENERIC_H2/manifest.py
include("$(PORT_DIR)/boards/manifest.py")
include("../manifest.py")
