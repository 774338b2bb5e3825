# Runs on the MicroPython unix port (never on a board): mount the firmware
# ROMFS image and run a module's main() or a script from it.
#
#   micropython -X heapsize=<164K + image + Q> mp_romboot.py IMAGE [-q Q] [-i ORDER] -m MODULE [args]
#   micropython -X heapsize=<164K + image + Q> mp_romboot.py IMAGE [-q Q] [-i ORDER] SCRIPT [args]
#
# On a board the application is frozen into flash and its bytecode runs in
# place. The unix port has no flash, so the image is read into one block at
# the start of the heap (which the launcher enlarges by exactly the image's
# size) and mounted with vfs.VfsRom, whose .mpy files execute in place.
# The names the firmware interns (qstrs) are in flash on a board too; the
# launcher measures them (Q, tools/mpy_build.qstr_bytes) and adds them.
# Everything else the firmware allocates has to fit the board's 164 KB.
import os
import sys
import vfs

_img = bytearray(os.stat(sys.argv[1])[6])
with open(sys.argv[1], "rb") as _f:
    _f.readinto(_img)
vfs.mount(vfs.VfsRom(_img), "/rom")
sys.path.insert(0, "/rom")


_qstr = 0
if sys.argv[2] == "-q":       # qstr pool bytes a frozen build keeps in flash (mpy_build.qstr_bytes)
    _qstr = int(sys.argv[3])
    del sys.argv[2:4]


if sys.argv[2] == "-i":       # modules to load first, one by one (mpy_build.import_order)
    import gc
    with open(sys.argv[3]) as _f:
        for _m in _f.read().split():
            __import__(_m)
            gc.collect()
    del sys.argv[2:4]


class _Romfs:
    size = len(_img)          # heap bytes standing in for flash (see common.mem)
    qstr = _qstr


sys.modules["_romfs"] = _Romfs
if sys.argv[2] == "-m":
    _mod = sys.argv[3]
    sys.argv[:] = [_mod] + sys.argv[4:]
    __import__(_mod)
    sys.modules[_mod].main(sys.argv[1:])
else:
    _script = sys.argv[2]
    sys.argv[:] = sys.argv[2:]
    with open(_script) as _f:
        _src = _f.read()
    exec(_src, {"__name__": "__main__", "__file__": _script})
