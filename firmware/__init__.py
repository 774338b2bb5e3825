# ESME application package. Runs unchanged on CPython 3.11 and MicroPython.

__version__ = "0.1.0"
