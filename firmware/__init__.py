# ESME application package. Runs unchanged on CPython 3.11 and MicroPython.
#
# const(): MicroPython's compiler folds every const(...) call by that name
# (mpy-cross and the frozen code included), so the firmware's modules bind no
# `const` of their own: each binding was one more global in a module's dict on
# a board's heap (issue #18). CPython gets the identity as a builtin, from
# here, before any firmware module runs (compat.const stays for other code).
if __import__("sys").implementation.name != "micropython":
    __import__("builtins").const = lambda x: x

__version__ = "0.1.0"
