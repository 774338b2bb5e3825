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
    # within the flash left for frozen application bytecode (DEVELOPERS.md)
    assert sum(sizes.values()) < mpy_build.FLASH_BUDGET
