"""The macro's arithmetic, compiled: the one implementation that the register-level
model (macro.py, via array.py and noise.py) and the vectorized trainer both call.

docs/arithmetic.md is the contract; the RTL implements it in Verilog and these
functions in Python, compiled with numba (``@njit``, cached under __pycache__).  Why
compiled: the trainer issues about 450 small VMM commands per LeNet-5 image, and
numpy's per-call overhead made it 15x slower than these loops (docs/trainer.md, "Speed").

Integer domains: hashes are uint64 values below 2**32 (every multiply is masked back to
32 bits: numba would promote a uint32 product to 64 bits anyway); everything else is
int64, except that ``currents`` also takes float64 inputs and weights (the trainer's:
exact, see there).  Mixing uint64 and int64 in one numba expression gives float64, so
every crossing is an explicit cast.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..regs import (
    GAUSS_BIAS,
    MIX32_MUL1,
    MIX32_MUL2,
    NOISE_MUL,
    NOISE_SHIFT,
    STREAM_ADC,
    STREAM_D2D,
    STREAM_KEY_MUL,
    STREAM_PULSE,
    STREAM_READ,
    STREAM_STUCK,
)

# The noise hash constants are spec/cim_macro.toml [noise] (the RTL's localparams of the
# same names): module-level ints, which numba compiles in as constants.
_M32 = np.uint64(0xFFFFFFFF)
_NOISE_HALF = 1 << (NOISE_SHIFT - 1)
READ, ADC, PULSE, D2D, STUCK = (STREAM_READ, STREAM_ADC, STREAM_PULSE, STREAM_D2D,
                                STREAM_STUCK)  # noise streams (noise.Stream)


@njit(cache=True)
def mix32(x):
    """lowbias32 finaliser (docs/arithmetic.md §1) of a uint64 below 2**32."""
    x = x ^ (x >> np.uint64(16))
    x = (x * np.uint64(MIX32_MUL1)) & _M32
    x = x ^ (x >> np.uint64(15))
    x = (x * np.uint64(MIX32_MUL2)) & _M32
    x = x ^ (x >> np.uint64(16))
    return x


@njit(cache=True)
def hash_prefix(seed, stream, a):
    """mix32(mix32(seed ^ key(stream)) ^ a): the part of a hash shared by one op or cell."""
    key = (np.uint64(stream + 1) * np.uint64(STREAM_KEY_MUL)) & _M32
    h0 = mix32((np.uint64(seed) & _M32) ^ key)
    return mix32(h0 ^ (np.uint64(a) & _M32))


@njit(cache=True)
def gauss(h):
    """Sum of the four bytes of h minus GAUSS_BIAS (510): approximately normal, sigma 147.80."""
    v = np.int64(h)
    return (v & 255) + ((v >> 8) & 255) + ((v >> 16) & 255) + ((v >> 24) & 255) - GAUSS_BIAS


@njit(cache=True)
def noise(h, sigma):
    """Noise of standard deviation sigma / 256 (Q8.8), rounded half up."""
    return (gauss(h) * (np.int64(sigma) * NOISE_MUL) + _NOISE_HALF) >> NOISE_SHIFT


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
def currents(m, x, rows_are_inputs, cur):
    """cur[s, j] = sum_i x[s, i] W[i, j]: the currents of a stack of VMMs (one row of
    input codes ``x`` each) on one weight matrix, without noise.

    ``m`` is W itself (one row per input line) when ``rows_are_inputs``, else W^T (one
    row per output line); the result is the same, the loops differ (the inner one runs
    along a row of ``m``, so either layout is read contiguously).  Integer arrays sum
    exactly; float64 arrays of integer values too, in any order: every partial sum of a
    VMM is below 256 * 255 * 1023 < 2**27, far below 2**53.  That is why reassociation
    (vectorized sums, the trainer's float64 path) is allowed here.
    """
    n = x.shape[0]
    if rows_are_inputs:
        nin, nout = m.shape
        acc = np.zeros(nout, dtype=m.dtype)
        for s in range(n):
            acc[:] = 0
            for i in range(nin):
                xi = x[s, i]
                if xi != 0:
                    for j in range(nout):
                        acc[j] += xi * m[i, j]
            for j in range(nout):
                cur[s, j] = acc[j]
    else:
        nout, nin = m.shape
        for s in range(n):
            for j in range(nout):
                a = 0
                for i in range(nin):
                    a += x[s, i] * m[j, i]
                cur[s, j] = a


@njit(cache=True)
def add_read_noise(cur, x, ops, line0, seed, read_sigma):
    """Output-referred read noise of a stack of VMMs (docs/arithmetic.md §3): line j
    (absolute line ``line0 + j``) of command s (op index ops[s], inputs x[s]) gets one
    draw of sigma s * sqrt(2 sum x^2); no noise without inputs."""
    if read_sigma == 0:
        return
    for s in range(cur.shape[0]):
        sx2 = np.int64(0)
        for k in range(x.shape[1]):
            v = np.int64(x[s, k])
            sx2 += v * v
        if sx2 == 0:
            continue
        hr = hash_prefix(seed, READ, ops[s])
        scale = np.int64(read_sigma) * NOISE_MUL * isqrt(sx2 << 17)
        for j in range(cur.shape[1]):
            z = gauss(mix32(hr ^ np.uint64(line0 + j)))
            cur[s, j] += (z * scale + (np.int64(1) << 31)) >> 32


@njit(cache=True)
def vmm_currents(w, x, transpose, ops, line0, seed, read_sigma, cur):
    """Currents of a stack of VMM commands on one window (docs/arithmetic.md §3).

    ``w``: the window's weights G+ - G- (nr, nc); ``x``: one row of input codes per
    command, (n, nr) for FWD or (n, nc) for TRANS; ``ops``: their op indices; output
    line j is ``line0 + j`` (an absolute column for FWD, row for TRANS), the key of its
    read noise.  Writes ``cur`` (n, nout).
    """
    currents(w, x, not transpose, cur)
    add_read_noise(cur, x, ops, line0, seed, read_sigma)


@njit(cache=True)
def adc(cur, ops, line0, seed, adc_sigma, gain, shift, offset, bits, y, sat):
    """ADC of a stack of commands' currents ``cur`` (n, nout): int8 codes into ``y``,
    saturation flags into ``sat`` (docs/arithmetic.md §3); output j is line line0 + j.
    Returns the largest |code|.

    ``bits``: the macro's ADC has 8 (the spec, the RTL).  A ``bits`` = k < 8 ADC (a host
    trainer's chip variant, docs/arithmetic.md §3) spans the same full scale with 2**k
    levels: the same current plus offset and noise (in 8-bit LSB) is rounded to a
    multiple of 2**(8 - k) 8-bit LSB, so codes stay int8 on the same scale, in
    [-128, 128 - 2**(8 - k)]; it saturates where its k-bit code clips."""
    half = (np.int64(1) << (shift - 1)) if shift > 0 else np.int64(0)
    d = 8 - bits
    lo = -(np.int64(1) << (bits - 1))
    hi = (np.int64(1) << (bits - 1)) - 1
    m = 0
    for s in range(cur.shape[0]):
        ha = hash_prefix(seed, ADC, ops[s])
        for j in range(cur.shape[1]):
            nz = np.int64(0)
            if adc_sigma != 0:
                nz = noise(mix32(ha ^ np.uint64(line0 + j)), adc_sigma)
            if d == 0:
                v = ((cur[s, j] * gain + half) >> shift) + offset + nz
                sat[s, j] = v < -128 or v > 127
                v = min(max(v, -128), 127)
            else:
                # round(cur * gain / 2**(shift + d) + (offset + nz) / 2**d), half up, one
                # rounding: flooring at 2**shift first drops only a fraction below 1
                v = (((cur[s, j] * gain) >> shift) + offset + nz + (np.int64(1) << (d - 1))) >> d
                sat[s, j] = v < lo or v > hi
                v = min(max(v, lo), hi) << d
            y[s, j] = v
            m = max(m, abs(v))
    return m


@njit(cache=True)
def read_row(g, tile, row, c0, nc, rows, cols, op, seed, read_sigma, gcode_max, out):
    """READ_ROW (docs/arithmetic.md §3) of columns c0..c0+nc of one row into out (nc, 2):
    each cell read once with read noise keyed by (op, cell), clamped to the code range.
    ``g``: the array's flat conductances."""
    hr = hash_prefix(seed, READ, op)
    for j in range(nc):
        for pol in range(2):
            cell = ((tile * rows + row) * cols + c0 + j) * 2 + pol
            r = g[cell]
            if read_sigma != 0:
                r += noise(mix32(hr ^ np.uint64(cell)), read_sigma)
            out[j, pol] = min(max(r, 0), gcode_max)


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
