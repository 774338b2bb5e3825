# ESME application package. Runs unchanged on CPython 3.11 and MicroPython.
