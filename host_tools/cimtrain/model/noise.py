"""Counter-based randomness of the macro (docs/arithmetic.md §1), on numpy arrays.

Every random quantity is ``f(seed, stream, a, b)``: no sequential generator, so a
batched or reordered computation reproduces it bit for bit.  All functions take
scalars or numpy arrays; hashes are ``uint32`` arrays.  The arithmetic itself is
written once, in kernels.py; these are its element-wise (numpy ufunc) forms.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numba import vectorize

from . import kernels as K

_U32 = np.uint32


class Stream(IntEnum):
    READ = K.READ    # a = op index, b = cell index (READ_ROW) or output line (VMM)
    ADC = K.ADC      # a = op index, b = output line
    PULSE = K.PULSE  # a = cell index, b = write count before the pulse
    D2D = K.D2D      # a = cell index, b = quantity (0 Gmin, 1 Gmax, 2 SET step, 3 RESET step)
    STUCK = K.STUCK  # a = cell index, b = 0


@vectorize(["uint64(uint64)"], cache=True)
def _mix32(x):
    return K.mix32(x)


@vectorize(["uint64(int64, int64, uint64)"], cache=True)
def _hash_prefix(seed, stream, a):
    return K.hash_prefix(seed, stream, a)


@vectorize(["int64(uint64)"], cache=True)
def _gauss(h):
    return K.gauss(h)


@vectorize(["int64(uint64, int64)"], cache=True)
def _noise(h, sigma):
    return K.noise(h, sigma)


def _u32(x) -> np.ndarray:
    """Any integer (array) reduced mod 2**32, as uint64 for the kernels."""
    return np.asarray(x, dtype=np.uint64).astype(_U32).astype(np.uint64)


def mix32(x) -> np.ndarray:
    """lowbias32 finaliser: a bijection on 32-bit words with good avalanche."""
    return _mix32(_u32(x)).astype(_U32)


def stream_key(stream: int) -> int:
    return ((int(stream) + 1) * K.STREAM_KEY_MUL) & 0xFFFFFFFF


def hash_prefix(seed: int, stream: int, a) -> np.ndarray:
    """mix32(mix32(seed ^ key(stream)) ^ a): constant per op for READ/ADC."""
    return _hash_prefix(int(seed) & 0xFFFFFFFF, int(stream), _u32(a)).astype(_U32)


def hash32(seed: int, stream: int, a, b) -> np.ndarray:
    """hash(seed, stream, a, b) = mix32(mix32(mix32(seed ^ key) ^ a) ^ b)."""
    return mix32(hash_prefix(seed, stream, a) ^ _u32(b).astype(_U32))


def gauss(h) -> np.ndarray:
    """Sum of the four bytes minus 510: approximately normal, sigma 147.80, |z| <= 510."""
    return _gauss(_u32(h))


def noise(h, sigma_q88: int) -> np.ndarray:
    """Noise with standard deviation sigma_q88 / 256 (0.1% low), rounded half up."""
    return _noise(_u32(h), int(sigma_q88))
