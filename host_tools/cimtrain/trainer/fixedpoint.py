"""Vectorized twins of firmware/fixedpoint.py (the formats are documented there once).

Same integers out for the same integers in: tests/test_trainer_fixedpoint.py checks each
function against the firmware's scalar one.  Constants come from the firmware source
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


def shift_update(v: np.ndarray, s: int) -> np.ndarray:
    """Accumulator update v / 2**s rounded half up (s <= 0 shifts left): network.py.

    Accumulator use: results of magnitude >= 2**20 all saturate an accumulator the same
    way, so the left shift is capped there (no int64 overflow for any s) and right
    shifts beyond 40 give 0 exactly as the unbounded firmware integers do (|v| < 2**39).
    """
    v = np.asarray(v, dtype=np.int64)
    if s <= 0:
        return np.clip(v, -(1 << 20), 1 << 20) << min(-s, 20)
    s = min(s, 40)
    return (v + (1 << (s - 1))) >> s


def softmax_xent_err(z: np.ndarray, label: int) -> tuple[np.ndarray, int]:
    """(int8 error codes, Q0.16 probability of the label) of logits z: the firmware's
    softmax_q16 + softmax_xent_err."""
    z = np.asarray(z, dtype=np.int64)
    d = z.max() - z
    e = np.where(d < 256, EXP_Q16[np.minimum(d, 255)], 0)
    total = int(e.sum())
    p = (e * _Q16_ONE + (total >> 1)) // total
    delta = p.copy()
    delta[label] -= _Q16_ONE
    err = np.clip((delta + (1 << (OUT_ERR_SHIFT - 1))) >> OUT_ERR_SHIFT, -ERR_MAX, ERR_MAX)
    return err, int(p[label])


def ln_q8(p_q16: int) -> int:
    """-ln(p) in Q8.8 from the EXP_Q16 table (firmware ln_q8)."""
    if p_q16 <= 0:
        return 16 << 8
    hit = np.flatnonzero(EXP_Q16[:255] <= p_q16)
    d = int(hit[0]) if hit.size else 255
    return d << (8 - LOGIT_SHIFT)


def normalize_err(err: np.ndarray, target_bits: int = 7) -> tuple[np.ndarray, int]:
    """(err * 2**k, k) with the largest magnitude in [2**(b-1), 2**b - 1]; firmware
    normalize_err (right shifts round half up and saturate).  All zero: (err, 0)."""
    m = int(np.abs(err).max(initial=0))
    if m == 0:
        return err, 0
    k = 0
    hi = (1 << target_bits) - 1
    lo = 1 << (target_bits - 1)
    while m > hi:
        m = (m + 1) >> 1
        k -= 1
    while m < lo:
        m <<= 1
        k += 1
    if k > 0:
        return err << k, k
    if k < 0:
        return np.clip((err + (1 << (-k - 1))) >> -k, -hi, hi), k
    return err, 0


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
