# Board drivers: machine peripherals behind the interfaces the meter core
# uses (firmware/platform/*.py, firmware/control.py's io). Frozen by the
# board manifests that need them, not part of firmware/ (the unix port and
# other boards do not pay flash for them). See boards/README.md.
try:
    from time import sleep_ms  # noqa: F401
except ImportError:             # CPython (host tests)
    from time import sleep as _sleep

    def sleep_ms(ms):
        _sleep(ms / 1000)
