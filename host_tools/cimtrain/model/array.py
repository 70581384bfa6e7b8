"""Whole-tile operations of the macro, vectorized with numpy (docs/arithmetic.md §3).

``CimArray`` holds the analog state (conductance codes and write counters of
every cell) and implements the commands as array operations.  The register-level
model (``macro.py``) and the vectorized trainer (``cimtrain.trainer``) both call
the functions here: one arithmetic for the macro, batched or not.  A batch is a
stack of commands that share a window (one row of ``x`` and one op index each):
``vmm_currents`` and ``adc`` take a leading batch axis, and a single command is a
batch of one.

Exact integer arithmetic on float64 BLAS: ``vmm_currents`` accepts the weight
window as float64 (the trainer caches it that way) and multiplies in float64.
Every product and partial sum is an integer of magnitude at most
256 rows * 255 * 1023 < 2**27, far below 2**53, so the float result is exact in
any summation order and converts back to the same int64.
"""

from __future__ import annotations

import numpy as np

from .device import apply_pulse, d2d
from .noise import Stream, gauss, hash_prefix, isqrt, mix32, noise


def read_noise_lines(seed: int, ops, lines: np.ndarray, read_sigma: int,
                     sum_x2) -> np.ndarray:
    """Output-referred VMM read noise n[op, line] (docs/arithmetic.md §3).

    ``ops``: op index per command, shape (n,); ``sum_x2``: sum of the squared input
    codes per command, (n,).  Returns int64 (n, len(lines)); 0 where sum_x2 == 0.
    """
    ops = np.asarray(ops)
    q = isqrt(np.asarray(sum_x2, dtype=np.int64) << 17)             # sqrt(2 sum x^2), Q.8
    h = mix32(hash_prefix(seed, Stream.READ, ops)[..., None] ^ lines.astype(np.uint32))
    z = gauss(h)
    return (z * (int(read_sigma) * 443 * q)[..., None] + (1 << 31)) >> 32


def vmm_currents(w: np.ndarray, x: np.ndarray, transpose: bool, seed: int, ops,
                 lines: np.ndarray, read_sigma: int) -> np.ndarray:
    """Currents of a stack of VMMs on one weight window ``w`` (nr, nc).

    ``x``: input codes, (n, nr) for FWD or (n, nc) for TRANS; ``ops``: their op
    indices (n,); ``lines``: the absolute output lines (columns for FWD, rows for
    TRANS).  Returns int64 (n, nc) or (n, nr).  ``w`` may be int64 or float64 (exact,
    see the module docstring).
    """
    xf = np.asarray(x, dtype=np.float64)
    wf = np.asarray(w, dtype=np.float64)
    current = (xf @ wf.T if transpose else xf @ wf).astype(np.int64)
    if read_sigma:
        xi = np.asarray(x, dtype=np.int64)
        current += read_noise_lines(seed, ops, lines, read_sigma, (xi * xi).sum(axis=-1))
    return current


def adc(p: dict, current: np.ndarray, gain: int, shift: int, offset: int, adc_sigma: int,
        seed: int, op, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ADC transfer of currents on output ``lines``: (int8 codes, saturated).

    ``current``: (..., len(lines)); ``op``: a scalar op index or one per leading row.
    """
    y = np.asarray(current, dtype=np.int64) * gain
    y = (y + ((1 << (shift - 1)) if shift > 0 else 0)) >> shift
    y = y + offset
    if adc_sigma:
        hp = hash_prefix(seed, Stream.ADC, op)
        if np.ndim(op):
            hp = hp[..., None]
        y = y + noise(mix32(hp ^ lines.astype(np.uint32)), adc_sigma)
    sat = (y < -128) | (y > 127)
    return np.clip(y, -128, 127), sat


class CimArray:
    """Conductances ``g[tile, row, col, pol]`` and write counters of all cells."""

    def __init__(self, p: dict) -> None:
        self.p = p
        shape = (p["NTILES"], p["ROWS"], p["COLS"], 2)
        self.g = np.full(shape, p["GINIT"], dtype=np.int64)
        self.wc = np.zeros(shape, dtype=np.int64)

    # -- indexing --------------------------------------------------------------------------
    def cell_index(self, tile, row, col, pol) -> np.ndarray:
        p = self.p
        return ((np.asarray(tile, dtype=np.int64) * p["ROWS"] + row) * p["COLS"] + col) * 2 + pol

    def window_cells(self, tile: int, r0: int, nr: int, c0: int, nc: int) -> np.ndarray:
        """Cell indices of a window, shape (nr, nc, 2)."""
        r = np.arange(r0, r0 + nr)[:, None, None]
        c = np.arange(c0, c0 + nc)[None, :, None]
        pol = np.arange(2)[None, None, :]
        return self.cell_index(tile, r, c, pol)

    def weights(self, tile: int, r0: int, nr: int, c0: int, nc: int) -> np.ndarray:
        """Differential weights G+ - G- of a window, int64 (nr, nc)."""
        g = self.g[tile, r0:r0 + nr, c0:c0 + nc, :]
        return g[..., 0] - g[..., 1]

    # -- reads -----------------------------------------------------------------------------
    def read_window(self, tile: int, r0: int, nr: int, c0: int, nc: int, seed: int, op: int,
                    read_sigma: int) -> np.ndarray:
        """Conductances of a window as read cell by cell by op ``op`` (READ_ROW), (nr, nc, 2)."""
        g = self.g[tile, r0:r0 + nr, c0:c0 + nc, :]
        if not read_sigma:
            return g.copy()
        cells = self.window_cells(tile, r0, nr, c0, nc)
        h = mix32(hash_prefix(seed, Stream.READ, op) ^ cells.astype(np.uint32))
        return g + noise(h, read_sigma)

    def vmm(self, transpose: bool, tile: int, x: np.ndarray, r0: int, nr: int, c0: int,
            nc: int, seed: int, op: int, read_sigma: int) -> np.ndarray:
        """Column (FWD) or row (TRANS) currents of the window for input codes ``x``.

        Read noise is output-referred (docs/arithmetic.md §3): the 2 * len(x) cells of
        an output line each add independent noise of sigma s, weighted by their input,
        which sums to one draw of sigma s * sqrt(2 * sum x^2) per line.
        """
        lines = np.arange(r0, r0 + nr) if transpose else np.arange(c0, c0 + nc)
        x = np.asarray(x, dtype=np.int64)[None, :]
        return vmm_currents(self.weights(tile, r0, nr, c0, nc), x, transpose, seed,
                            np.array([op]), lines, read_sigma)[0]

    def read_row(self, tile: int, row: int, c0: int, nc: int, seed: int, op: int,
                 read_sigma: int) -> np.ndarray:
        """READ_ROW: clamped read codes (nc, 2)."""
        gr = self.read_window(tile, row, 1, c0, nc, seed, op, read_sigma)[0]
        return np.clip(gr, 0, self.p["GCODE_MAX"])

    # -- programming -----------------------------------------------------------------------
    def pulse_row(self, tile: int, row: int, pol: int, cols: np.ndarray, is_set: bool,
                  amp_mv: int, width: int, count: int, seed: int, pulse_sigma: int,
                  stuck_rate: int) -> None:
        """``count`` pulses on cell ``pol`` of columns ``cols`` of one row."""
        cols = np.asarray(cols, dtype=np.int64)
        if cols.size == 0:
            return
        cells = self.cell_index(tile, row, cols, pol)
        self.pulse_cells(cells, d2d(self.p, seed, cells, stuck_rate), is_set, amp_mv, width,
                         np.full(cells.shape, count), seed, pulse_sigma)

    def pulse_cells(self, cells: np.ndarray, dev, is_set: bool, amp_mv, width: int,
                    counts: np.ndarray, seed: int, pulse_sigma: int) -> None:
        """``counts[i]`` pulses on cell ``cells[i]`` (flat cell indices, distinct), all of
        one polarity.  Cells are independent and a pulse's noise is keyed by (cell, write
        count), so any grouping of the same pulses into commands ends in the same state.
        ``amp_mv``: one amplitude, or one per cell; ``dev``: the cells' ``DeviceD2D``."""
        flat_g = self.g.reshape(-1)
        flat_wc = self.wc.reshape(-1)
        g = flat_g[cells]
        wc = flat_wc[cells]
        counts = np.asarray(counts)
        for k in range(int(counts.max(initial=0))):
            m = counts > k
            if m.all():
                g, wc = apply_pulse(self.p, g, wc, cells, dev, seed, is_set, amp_mv, width,
                                    pulse_sigma)
                continue
            amp = amp_mv[m] if np.ndim(amp_mv) else amp_mv
            g[m], wc[m] = apply_pulse(self.p, g[m], wc[m], cells[m], dev.take(m), seed,
                                      is_set, amp, width, pulse_sigma)
        flat_g[cells] = g
        flat_wc[cells] = wc
