# Runs on the MicroPython unix port (never on a board): mount the firmware
# ROMFS image and run a module's main() or a script from it.
#
#   micropython -X heapsize=<164K + image> mp_romboot.py IMAGE -m MODULE [args]
#   micropython -X heapsize=<164K + image> mp_romboot.py IMAGE SCRIPT [args]
#
# On a board the application is frozen into flash and its bytecode runs in
# place. The unix port has no flash, so the image is read into one block at
# the start of the heap (which the launcher enlarges by exactly the image's
# size) and mounted with vfs.VfsRom, whose .mpy files execute in place.
# Everything else the firmware allocates has to fit the board's 164 KB.
import os
import sys
import vfs

_img = bytearray(os.stat(sys.argv[1])[6])
with open(sys.argv[1], "rb") as _f:
    _f.readinto(_img)
vfs.mount(vfs.VfsRom(_img), "/rom")
sys.path.insert(0, "/rom")


class _Romfs:
    size = len(_img)          # heap bytes standing in for flash (see common.mem)


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
