# NUCLEO-WB55 pin map (Arduino header names, ports/stm32/boards/NUCLEO_WB55/
# pins.csv; wiring table in docs/bench-guide.md). On the file system, not
# frozen: a bench changes wiring or calibration without a new image.
#
# USART1 (PB6/PB7) is the REPL on the ST-LINK's virtual COM port (mpremote);
# SW1 (PC4) is MicroPython's own boot-mode switch (held at reset: safe mode
# or, option 3, a factory reset of /flash that would erase the meter's
# store), so the consumer button is SW2.
HAN_UART = "LP1"            # LPUART1: D1 (PA2) TX, D0 (PA3) RX -> host / Zigbee co-processor
HAN_BAUD = 115200

STPM_SPI = 1                # SPI1: D13 SCK (PA5), D12 MISO (PA6), D11 MOSI (PA7)
STPM_CS = "D10"             # PA4 -> STPM3x SCS
STPM_EN = "D9"              # PA9 -> STPM3x EN (low-high: reset)
STPM_UART = None
STPM_BAUD = 1000000
# Full-scale power of the front end (stpm3x.py): ST's EVALSTPM3x reference
# values, Vref 1.18 V, R1/R2 810k/470, Av 2, Ai 2, CT Ks 2.6 mV/A, calV = calI
# 0.875: 1.18^2 x 1724.4 / (2 x 2 x 0.0026 x 0.875^2) = 301546 W
STPM_P_FULL_W = 301546
STPM_CONFIG = ()            # (half-word address, value) calibration writes (AN4470)

PULSE = "D2"                # PC6 <- STPM3x LED1 (or an S0 output): the fallback
PULSE_IMP_KWH = 1000

RELAY_ON = "D3"             # PA10 -> close coil driver
RELAY_OFF = "D4"            # PC10 -> open coil driver
RELAY_PULSE = None
AUX = ("D5", "D6")          # PA15, PA8 -> auxiliary switch drivers

BUTTON = "SW2"              # PD0, to ground
BUTTON_ACTIVE = 0
SAFE_HOLD_MS = 3000
LED = "LED_RED"             # PB1: lit in safe mode

I2C = 1                     # I2C1: D14 SDA (PB9), D15 SCL (PB8) -> SSD1306 128x64
DISPLAY_H = 64

STORE = "/flash/store"      # /flash reformatted as littlefs (bench guide)
CONFIG = "/flash/meter.json"
WDT_MS = 16000              # boot must finish inside it (IWDG maximum ~32 s)
