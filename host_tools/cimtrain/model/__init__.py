"""Bit-exact Python model of the CIM macro (docs/arithmetic.md).

``CimMacro``: register level, the scoreboard of the RTL and the model server.
``CimArray``/``adc`` and ``device``/``noise``: vectorized whole-tile operations
for fast paths that skip the bus.
"""

from .array import CimArray, adc
from .macro import DECERR, OKAY, SLVERR, BusError, CimMacro, macro_params
from .noise import Stream, gauss, hash32, mix32, noise

__all__ = ["CimArray", "CimMacro", "BusError", "OKAY", "SLVERR", "DECERR", "Stream", "adc",
           "gauss", "hash32", "macro_params", "mix32", "noise"]
