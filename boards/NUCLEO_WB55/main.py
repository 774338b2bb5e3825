# The meter: drivers from pins.py, the frozen link loop, a watchdog
# (boards/drivers/board.py). Returns to the REPL only in safe mode.
import pins
from drivers import board

board.start(pins)
