"""The macro's arithmetic, compiled: the one implementation that the register-level
model (macro.py, via array.py and noise.py) and the vectorized trainer both call.

docs/arithmetic.md is the contract; the RTL implements it in Verilog and these
functions in Python, compiled with numba (``@njit``, cached under __pycache__).  Why
compiled: the trainer issues thousands of small commands per image, and numpy's
per-call overhead made it 20x slower than these loops (docs/benchmarks.md, "trainer").

Integer domains: hashes are uint64 values below 2**32 (every multiply is masked back to
32 bits: numba would promote a uint32 product to 64 bits anyway); everything else is
int64.  Mixing uint64 and int64 in one numba expression gives float64, so every crossing
is an explicit cast.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_M32 = np.uint64(0xFFFFFFFF)
READ, ADC, PULSE, D2D, STUCK = 1, 2, 3, 4, 5  # noise streams (noise.Stream)


@njit(cache=True)
def mix32(x):
    """lowbias32 finaliser (docs/arithmetic.md §1) of a uint64 below 2**32."""
    x = x ^ (x >> np.uint64(16))
    x = (x * np.uint64(0x7FEB352D)) & _M32
    x = x ^ (x >> np.uint64(15))
    x = (x * np.uint64(0x846CA68B)) & _M32
    x = x ^ (x >> np.uint64(16))
    return x


@njit(cache=True)
def hash_prefix(seed, stream, a):
    """mix32(mix32(seed ^ key(stream)) ^ a): the part of a hash shared by one op or cell."""
    key = (np.uint64(stream + 1) * np.uint64(0x9E3779B9)) & _M32
    h0 = mix32((np.uint64(seed) & _M32) ^ key)
    return mix32(h0 ^ (np.uint64(a) & _M32))


@njit(cache=True)
def gauss(h):
    """Sum of the four bytes of h minus 510: approximately normal, sigma 147.80."""
    v = np.int64(h)
    return (v & 255) + ((v >> 8) & 255) + ((v >> 16) & 255) + ((v >> 24) & 255) - 510


@njit(cache=True)
def noise(h, sigma):
    """Noise of standard deviation sigma / 256 (Q8.8), rounded half up."""
    return (gauss(h) * (np.int64(sigma) * 443) + (1 << 23)) >> 24


@njit(cache=True)
def isqrt(v):
    """floor(sqrt(v)) for 0 <= v < 2**52: the float root is within one, then corrected."""
    s = np.int64(np.sqrt(np.float64(v)))
    if s * s > v:
        s -= 1
    if (s + 1) * (s + 1) <= v:
        s += 1
    return s


@njit(cache=True, fastmath={"reassoc", "contract"})
def dot_rows(m, x, cur):
    """cur[i] = sum_k m[i, k] * x[k]: the currents of a VMM, one row of ``m`` per output
    line.  Integer arrays sum exactly; float64 arrays of integer values too, in any
    order (the trainer's: every partial sum of a VMM is below 256 * 255 * 1023 < 2**27,
    far below 2**53), which is why reassociation (a vectorized sum) is allowed here."""
    for i in range(m.shape[0]):
        acc = 0
        for k in range(m.shape[1]):
            acc += m[i, k] * x[k]
        cur[i] = acc


@njit(cache=True)
def add_read_noise(cur, x, op, line0, seed, read_sigma):
    """Output-referred read noise of VMM ``op`` (docs/arithmetic.md §3): line j (absolute
    line ``line0 + j``) gets one draw of sigma s * sqrt(2 sum x^2); none without inputs."""
    if read_sigma == 0:
        return
    sx2 = np.int64(0)
    for k in range(x.shape[0]):
        v = np.int64(x[k])
        sx2 += v * v
    if sx2 == 0:
        return
    hr = hash_prefix(seed, READ, op)
    scale = np.int64(read_sigma) * 443 * isqrt(sx2 << 17)
    for j in range(cur.shape[0]):
        z = gauss(mix32(hr ^ np.uint64(line0 + j)))
        cur[j] += (z * scale + (np.int64(1) << 31)) >> 32


@njit(cache=True)
def vmm_one(w, x, transpose, op, line0, seed, read_sigma, cur):
    """Currents of one VMM command on a window (docs/arithmetic.md §3) into ``cur``.

    ``w``: the window's weights G+ - G- (nr, nc); ``x``: the input codes, (nr,) for FWD
    or (nc,) for TRANS; ``op``: the op index; output line j is ``line0 + j`` (an absolute
    column for FWD, row for TRANS): the key of its read noise.
    """
    dot_rows(w if transpose else w.T, x, cur)
    add_read_noise(cur, x, op, line0, seed, read_sigma)


@njit(cache=True)
def adc_one(cur, op, line0, seed, adc_sigma, gain, shift, offset, y, sat):
    """ADC of one command's currents: int8 codes into ``y``, saturation flags into ``sat``
    (docs/arithmetic.md §3); output j is line ``line0 + j``.  Returns the largest |code|."""
    half = (np.int64(1) << (shift - 1)) if shift > 0 else np.int64(0)
    ha = hash_prefix(seed, ADC, op)
    m = 0
    for j in range(cur.shape[0]):
        v = ((cur[j] * gain + half) >> shift) + offset
        if adc_sigma != 0:
            v += noise(mix32(ha ^ np.uint64(line0 + j)), adc_sigma)
        sat[j] = v < -128 or v > 127
        v = min(max(v, -128), 127)
        y[j] = v
        m = max(m, abs(v))
    return m


@njit(cache=True)
def vmm_currents(w, x, transpose, ops, line0, seed, read_sigma, cur):
    """A stack of VMM commands on one window: vmm_one for each row of ``x``."""
    for s in range(x.shape[0]):
        vmm_one(w, x[s], transpose, ops[s], line0, seed, read_sigma, cur[s])


@njit(cache=True)
def adc(cur, ops, line0, seed, adc_sigma, gain, shift, offset, y, sat):
    """A stack of ADC conversions: adc_one for each row of ``cur``."""
    for s in range(cur.shape[0]):
        adc_one(cur[s], ops[s], line0, seed, adc_sigma, gain, shift, offset, y[s], sat[s])


@njit(cache=True)
def step_fraction(od, width, k):
    """Q0.16 fraction of the remaining span one pulse of overdrive od (mV) moves."""
    return min((od * width * k) >> 4, 65535) if od > 0 else 0


@njit(cache=True)
def pulse_cell(g, wc, c, count, amp, is_set, width, gmin, gmax, fstep, stuck, seed,
               pulse_sigma, vth, k, wc_max):
    """``count`` pulses of amplitude ``amp`` on cell ``c`` (docs/arithmetic.md §2).

    ``g``, ``wc``: the array's flat conductances and write counters (updated in place);
    ``gmin``, ``gmax``, ``fstep`` (the SET or RESET multiplier) and ``stuck``: the cell's
    device-to-device draw.  Pulse noise is keyed by (cell, write count before the pulse).
    """
    gi = g[c]
    w = wc[c]
    a = step_fraction(np.int64(amp) - vth, width, k)
    hc = hash_prefix(seed, PULSE, c)
    for _ in range(count):
        if a > 0 and not stuck:
            span = gmax - gi if is_set else gi - gmin
            step = (span * a * fstep + (1 << 23)) >> 24
            nz = noise(mix32(hc ^ np.uint64(w)), pulse_sigma) if pulse_sigma != 0 else 0
            gi = gi + step + nz if is_set else gi - step + nz
            gi = min(max(gi, gmin), gmax)
        w = min(w + 1, wc_max)
    g[c] = gi
    wc[c] = w


@njit(cache=True)
def pulse_cells(g, wc, cells, counts, amps, is_set, width, gmin, gmax, fstep, stuck, seed,
                pulse_sigma, vth, k, wc_max):
    """pulse_cell for each of ``cells`` (distinct), with its count, amplitude and draw
    (``gmin``... ``stuck`` per entry of ``cells``)."""
    for i in range(cells.shape[0]):
        pulse_cell(g, wc, cells[i], counts[i], amps[i], is_set, width, gmin[i], gmax[i],
                   fstep[i], stuck[i], seed, pulse_sigma, vth, k, wc_max)
