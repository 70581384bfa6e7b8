"""Whole-tile operations of the macro, vectorized with numpy (docs/arithmetic.md §3).

``CimArray`` holds the analog state (conductance codes and write counters of
every cell) and implements the commands as array operations.  The register-level
model (``macro.py``) calls these, and so can fast paths that skip the bus
(the vectorized trainer), which is why they take plain arguments, not registers.
"""

from __future__ import annotations

import math

import numpy as np

from .device import apply_pulse, d2d
from .noise import Stream, gauss, hash_prefix, mix32, noise


def adc(p: dict, current: np.ndarray, gain: int, shift: int, offset: int, adc_sigma: int,
        seed: int, op: int, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ADC transfer of currents ``current`` on output ``lines``: (int8 codes, saturated)."""
    y = np.asarray(current, dtype=np.int64) * gain
    y = (y + ((1 << (shift - 1)) if shift > 0 else 0)) >> shift
    y = y + offset
    if adc_sigma:
        y = y + noise(mix32(hash_prefix(seed, Stream.ADC, op) ^ lines.astype(np.uint32)),
                      adc_sigma)
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
        g = self.g[tile, r0:r0 + nr, c0:c0 + nc, :]
        w = g[..., 0] - g[..., 1]  # (nr, nc)
        x = np.asarray(x, dtype=np.int64)
        current = w @ x if transpose else x @ w
        if read_sigma:
            q = math.isqrt(int((x * x).sum()) << 17)
            if q:
                lines = np.arange(r0, r0 + nr) if transpose else np.arange(c0, c0 + nc)
                z = gauss(mix32(hash_prefix(seed, Stream.READ, op) ^ lines.astype(np.uint32)))
                current = current + ((z * (int(read_sigma) * 443 * q) + (1 << 31)) >> 32)
        return current

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
        dev = d2d(self.p, seed, cells, stuck_rate)
        g = self.g[tile, row, cols, pol]
        wc = self.wc[tile, row, cols, pol]
        for _ in range(count):
            g, wc = apply_pulse(self.p, g, wc, cells, dev, seed, is_set, amp_mv, width,
                                pulse_sigma)
        self.g[tile, row, cols, pol] = g
        self.wc[tile, row, cols, pol] = wc
