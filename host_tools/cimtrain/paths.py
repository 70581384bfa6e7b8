"""Where cimtrain reads its firmware and RTL, and where it writes builds and results.

From a checkout (``make``, or ``pip install -e .``): the repository's firmware/ and rtl/,
and build/, sim_build/ and results/ inside the repository.  Installed from a wheel
(``pip install cimtrain-*.whl``): the firmware and the RTL shipped in the package
(``cimtrain/_firmware``, ``cimtrain/_rtl``: pyproject.toml maps the two folders there), and
build/, sim_build/ and results/ under ``$CIMTRAIN_HOME``, else the current directory.
"""

from __future__ import annotations

import os
from pathlib import Path

PKG = Path(__file__).resolve().parent
_REPO = PKG.parents[1]
# a checkout has the package at host_tools/cimtrain, next to firmware/ and rtl/
CHECKOUT = (_REPO / "firmware" / "train.py").is_file() and (_REPO / "rtl").is_dir()
if CHECKOUT:
    ROOT = _REPO
    FIRMWARE = _REPO / "firmware"
    RTL = _REPO / "rtl"
else:
    ROOT = Path(os.environ.get("CIMTRAIN_HOME") or os.getcwd()).resolve()
    FIRMWARE = PKG / "_firmware"
    RTL = PKG / "_rtl"
