"""Counter-based randomness of the macro (docs/arithmetic.md §1), vectorized.

Every random quantity is ``f(seed, stream, a, b)``: no sequential generator, so a
batched or reordered computation reproduces it bit for bit.  All functions take
scalars or numpy arrays; hashes are ``uint32`` arrays (numpy's uint32 multiply
wraps mod 2**32, which is exactly the arithmetic of the RTL).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

_U32 = np.uint32


class Stream(IntEnum):
    READ = 1   # a = op index, b = cell index (READ_ROW) or output line (VMM)
    ADC = 2    # a = op index, b = output line
    PULSE = 3  # a = cell index, b = write count before the pulse
    D2D = 4    # a = cell index, b = quantity (0 Gmin, 1 Gmax, 2 SET step, 3 RESET step)
    STUCK = 5  # a = cell index, b = 0


def mix32(x) -> np.ndarray:
    """lowbias32 finaliser: a bijection on 32-bit words with good avalanche."""
    x = np.asarray(x, dtype=np.uint64).astype(_U32)
    with np.errstate(over="ignore"):
        x = x ^ (x >> _U32(16))
        x = x * _U32(0x7FEB352D)
        x = x ^ (x >> _U32(15))
        x = x * _U32(0x846CA68B)
        x = x ^ (x >> _U32(16))
    return x


def stream_key(stream: int) -> int:
    return ((int(stream) + 1) * 0x9E3779B9) & 0xFFFFFFFF


def hash_prefix(seed: int, stream: int, a) -> np.ndarray:
    """mix32(mix32(seed ^ key(stream)) ^ a): constant per op for READ/ADC."""
    h0 = mix32((int(seed) & 0xFFFFFFFF) ^ stream_key(stream))
    return mix32(h0 ^ np.asarray(a, dtype=np.uint64).astype(_U32))


def hash32(seed: int, stream: int, a, b) -> np.ndarray:
    """hash(seed, stream, a, b) = mix32(mix32(mix32(seed ^ key) ^ a) ^ b)."""
    return mix32(hash_prefix(seed, stream, a) ^ np.asarray(b, dtype=np.uint64).astype(_U32))


def gauss(h) -> np.ndarray:
    """Sum of the four bytes minus 510: approximately normal, sigma 147.80, |z| <= 510."""
    h = np.asarray(h, dtype=np.int64)
    return (h & 255) + ((h >> 8) & 255) + ((h >> 16) & 255) + ((h >> 24) & 255) - 510


def noise(h, sigma_q88: int) -> np.ndarray:
    """Noise with standard deviation sigma_q88 / 256 (0.1% low), rounded half up."""
    return (gauss(h) * (int(sigma_q88) * 443) + (1 << 23)) >> 24


def isqrt(v) -> np.ndarray:
    """floor(sqrt(v)) of non-negative int64 values below 2**52, exactly (vectorized
    math.isqrt): the float64 root is within one of the answer there, then corrected."""
    v = np.asarray(v, dtype=np.int64)
    s = np.sqrt(v.astype(np.float64)).astype(np.int64)
    s -= s * s > v
    s += (s + 1) * (s + 1) <= v
    return s
