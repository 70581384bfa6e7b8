"""The firmware's fixed-point constants and tables on the host (firmware/fixedpoint.py
documents the formats once); the per-image helpers are compiled, in kernels.py.

firmware/fixedpoint.py itself is loaded (firmware_src.load_module): its constants, its
EXP_Q16 table and its PRNG are the host's, not copies.  ln_q8 (the loss, reporting only)
is a table search here; tests/test_trainer_units.py checks it against the firmware's.
"""

from __future__ import annotations

import numpy as np

from .firmware_src import load_module

_FW = load_module("fixedpoint")

LOGIT_SHIFT = _FW.LOGIT_SHIFT
OUT_ERR_SHIFT = _FW.OUT_ERR_SHIFT
ERR_MAX = _FW.ERR_MAX
EXP_Q16 = np.array(_FW.EXP_Q16, dtype=np.int64)  # round(65536 exp(-d / 16)), the firmware's


def ln_q8(p_q16: int) -> int:
    """-ln(p) in Q8.8 from the EXP_Q16 table (firmware ln_q8)."""
    if p_q16 <= 0:
        return 16 << 8
    hit = np.flatnonzero(EXP_Q16[:255] <= p_q16)
    d = int(hit[0]) if hit.size else 255
    return d << (8 - LOGIT_SHIFT)


def argmax_first(v) -> int:
    """Index of the first largest value (the firmware's argmax)."""
    return int(np.argmax(v))


XorShift32 = _FW.XorShift32  # the firmware's PRNG itself (weight init, data order)
