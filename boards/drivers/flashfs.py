# littlefs for the meter's store and logs (platform/store.py FileBackend on
# a littlefs directory). littlefs is power-safe (copy-on-write metadata: a
# cut mid-write leaves the file system consistent, the store's two slots
# and journal do the rest); FAT is not (a cut can lose a directory).
#
# Rules:
# - mount(): littlefs v2 on bdev at path. A device that is erased (its
#   first block all 0xFF: a first flash) is formatted first. A device that
#   holds anything else is never formatted here (it may hold the meter's
#   registers behind a fault): OSError, and the board stays in safe mode.
# - kind(): the type of the file system mounted at a path (the ports mount
#   their own before boot.py: stm32 /flash, esp32 /); a board whose store
#   path is not on littlefs does not start the meter (boot.py, safe mode)
#   until it is formatted as the bench guide says.
from firmware.compat import const

_BLOCK_SIZE = const(5)       # block device ioctl: block size


def kind(vfs, path):
    best = None
    for fs, mp in vfs.mount():
        if (path == mp or path.startswith(mp.rstrip("/") + "/")) and \
                (best is None or len(mp) > len(best[1])):
            best = (fs, mp)
    return type(best[0]).__name__ if best else None


def erased(bdev):
    n = bdev.ioctl(_BLOCK_SIZE, 0) or 512
    blk = bytearray(n)
    bdev.readblocks(0, blk)
    for b in blk:
        if b != 0xFF:
            return False
    return True


def mount(vfs, bdev, path):
    """Mount littlefs; returns "mounted" or "formatted" (a blank device)."""
    try:
        vfs.mount(vfs.VfsLfs2(bdev), path)
        return "mounted"
    except OSError:
        if not erased(bdev):
            raise OSError("not littlefs and not blank: left as it is")
    vfs.VfsLfs2.mkfs(bdev)
    vfs.mount(vfs.VfsLfs2(bdev), path)
    return "formatted"
