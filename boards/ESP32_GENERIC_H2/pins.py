# ESP32-H2 (ESP32-H2-DevKitM-1) pin map, GPIO numbers (wiring table in
# docs/bench-guide.md). On the file system, not frozen.
#
# UART0 (GPIO24 TX / GPIO23 RX) is the REPL on the devkit's USB-UART bridge
# (mpremote). GPIO9 is the BOOT button: held at reset it starts the ROM
# download mode, so it cannot be the consumer button. Strapping pins
# (GPIO2, 3, 8, 9, 25 in Espressif's datasheet) carry only outputs whose
# drivers idle low (relay and switch drivers with pull-downs).
HAN_UART = 1                # UART1 pins given below
HAN_TX = 4
HAN_RX = 5
HAN_BAUD = 115200

STPM_SPI = 1                # SPI2 (machine.SPI(1)): SCK 10, MOSI 11, MISO 12
STPM_SCK = 10
STPM_MOSI = 11
STPM_MISO = 12
STPM_CS = 22                # -> STPM3x SCS
STPM_EN = None              # EN tied high through RC; reset by software (SW_Reset)
STPM_UART = None
STPM_BAUD = 1000000
STPM_P_FULL_W = 301546      # see boards/NUCLEO_WB55/pins.py
STPM_CONFIG = ()

PULSE = 0                   # <- STPM3x LED1 or an S0 output
PULSE_IMP_KWH = 1000

RELAY_ON = 2                # -> close coil driver
RELAY_OFF = 3               # -> open coil driver
RELAY_PULSE = None
AUX = (8, 25)               # -> auxiliary switch drivers (8 is also the devkit's RGB LED data)

BUTTON = 1                  # to ground
BUTTON_ACTIVE = 0
SAFE_HOLD_MS = 3000
LED = None

I2C = 0                     # SDA 13, SCL 14 -> SSD1306 128x64
I2C_SDA = 13
I2C_SCL = 14
DISPLAY_H = 64

STORE = "/store"            # / is littlefs v2 on the esp32 port (its _boot.py)
CONFIG = "/meter.json"
WDT_MS = 16000
