# Runs first after reset (on the file system, not frozen: the port runs
# boot.py then main.py). Safe mode: the consumer button held for
# pins.SAFE_HOLD_MS from now, or a store not on littlefs; then main.py
# starts nothing and the REPL is free (docs/bench-guide.md).
import vfs
import pins
from drivers import board

board.boot(pins, vfs)
