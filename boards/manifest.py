# Frozen application manifest, shared by every board (MicroPython manifest
# syntax, docs/reference/manifest.rst). A board's manifest includes its
# port's manifest and this file.
#
# package() with no file list would take every .py under firmware/, so the
# files are listed: all of them but the host-only ones (HOST_ONLY, as in
# tools/mpy_build.HOST_ONLY; host_tests/test_control.py checks the two
# agree). firmware/vboard.py is the unix port's drivers (sockets); a board
# brings its own main.py and metrology driver (platform/metrology.py is the
# simulator's) and runs firmware/control.py, which is frozen. The
# pure-Python crypto core is the fallback for runtimes without the esmecrypto
# native module; a board brings that natmod (lib/esmecrypto/natmod).
import os

HOST_ONLY = ("vboard.py", "platform/metrology.py", "crypto/pure.py", "crypto/aes_pure.py")
# The GBCS use-case modules stay on the board's filesystem (gbcs_uc/, as
# tools/mpy_build.FS_ONLY; NUCLEO_WB55's flash holds the rest, not these too)
FS_ONLY = ("gbcs/uc_device.py", "gbcs/uc_account.py", "gbcs/uc_tariff.py", "gbcs/uc_supply.py",
           "gbcs/uc_read.py", "gbcs/asn1.py", "gbcs/creds.py")
_files = []
for _d, _, _names in os.walk("../firmware"):      # paths relative to this file
    for _n in _names:
        _rel = os.path.relpath(os.path.join(_d, _n), "../firmware").replace(os.sep, "/")
        if _n.endswith(".py") and _rel not in HOST_ONLY and _rel not in FS_ONLY:
            _files.append(_rel)
# No version= here: manifestfile.py appends "__version__ = ..." to every file
# frozen under a metadata version, one more global in each module's dict on
# the board's heap (about 0.5 KB for the 60 modules; issue #18). The
# application's version is firmware.__version__.
metadata(description="GB SMETS2 ESME application on ZSE")
package("firmware", files=sorted(_files), base_path="..", opt=3)
