# Frozen application manifest, shared by every board (MicroPython manifest
# syntax, docs/reference/manifest.rst). A board's manifest includes its
# port's manifest and this file. The virtual board (sockets) stays out.
metadata(version="0.1.0", description="GB SMETS2 ESME application on ZSE")
package("firmware", base_path="..", opt=3)
