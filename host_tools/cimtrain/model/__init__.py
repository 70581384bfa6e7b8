"""Bit-exact Python model of the CIM macro (docs/arithmetic.md).

``CimMacro``: register level, the scoreboard of the RTL and the model server.
``CimArray``/``vmm_currents``/``adc`` and ``device``/``noise``: whole-tile operations
on numpy arrays for fast paths that skip the bus (the trainer); ``kernels``: the
arithmetic itself, compiled, written once.
"""

from .array import CimArray, adc, vmm_currents
from .macro import DECERR, OKAY, SLVERR, BusError, CimMacro, macro_params
from .noise import Stream, gauss, hash32, mix32, noise

__all__ = ["CimArray", "CimMacro", "BusError", "OKAY", "SLVERR", "DECERR", "Stream", "adc",
           "gauss", "hash32", "macro_params", "mix32", "noise", "vmm_currents"]
