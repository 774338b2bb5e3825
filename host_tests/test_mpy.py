"""mpy-cross compiles every firmware module for the two boards' targets."""
import os

import pytest

from runtimes import ROOT
from tools import mpy_build


@pytest.mark.parametrize("arch", mpy_build.ARCHS)
def test_every_firmware_module_compiles(arch, tmp_path):
    sizes = mpy_build.build(arch, str(tmp_path))
    srcs = mpy_build.sources()
    assert len(sizes) == len(srcs) > 10
    for rel, n in sizes.items():
        assert n > 0 and os.path.exists(os.path.join(str(tmp_path), rel[:-3] + ".mpy"))
    # the frozen set (boards/manifest.py: everything but the host-only
    # modules, which are never frozen) within the flash left for frozen
    # application bytecode (DEVELOPERS.md)
    frozen = sum(n for rel, n in sizes.items() if rel in mpy_build.frozen_set())
    assert frozen < mpy_build.FLASH_BUDGET


def test_sizes_are_built_as_the_boards_freeze():
    """mpy_build measures with the optimisation level boards/manifest.py
    freezes with (opt=3 drops line numbers and assert statements: firmware/
    has none, so the frozen code behaves as the host-tested one)."""
    import ast
    src = open(os.path.join(ROOT, "boards", "manifest.py")).read()
    calls = [n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Call)
             and getattr(n.func, "id", None) == "package"]
    opts = [k.value.value for c in calls for k in c.keywords if k.arg == "opt"]
    assert opts == [mpy_build.OPT]
    for rel in mpy_build.sources():
        tree = ast.parse(open(os.path.join(ROOT, rel)).read())
        assert not any(isinstance(n, ast.Assert) for n in ast.walk(tree)), rel
        assert "__debug__" not in open(os.path.join(ROOT, rel)).read(), rel
