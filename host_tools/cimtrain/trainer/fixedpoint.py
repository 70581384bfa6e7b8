"""The firmware's fixed-point constants and tables on the host (firmware/fixedpoint.py
documents the formats once); the per-image helpers are compiled, in kernels.py.

Same integers out for the same integers in: tests/test_trainer_units.py checks each
against the firmware's scalar one.  Constants come from the firmware source
(firmware_src), not from copies.
"""

from __future__ import annotations

import numpy as np

from .firmware_src import constant

LOGIT_SHIFT = constant("fixedpoint", "LOGIT_SHIFT")
OUT_ERR_SHIFT = constant("fixedpoint", "OUT_ERR_SHIFT")
ERR_MAX = constant("fixedpoint", "ERR_MAX")
_EXP_STEP_Q30 = constant("fixedpoint", "_EXP_STEP_Q30")
_Q16_ONE = constant("fixedpoint", "_Q16_ONE")


def _exp_table() -> np.ndarray:
    t = np.zeros(256, dtype=np.int64)
    v = 1 << 30
    for d in range(256):
        t[d] = (v + (1 << 13)) >> 14
        v = (v * _EXP_STEP_Q30 + (1 << 29)) >> 30
    return t


EXP_Q16 = _exp_table()  # EXP_Q16[d] = round(65536 * exp(-d / 16)) (+-1)


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


class XorShift32:
    """The firmware's xorshift32 PRNG (weight initialisation, data order)."""

    def __init__(self, seed: int) -> None:
        self.s = (seed & 0xFFFFFFFF) or 0x9E3779B9

    def next(self) -> int:
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.s = s
        return s

    def below(self, n: int) -> int:
        return ((self.next() >> 16) * n) >> 16

    def symmetric(self, a: int) -> int:
        return self.below(2 * a + 1) - a
