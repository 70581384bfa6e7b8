"""Whole-tile operations of the macro on numpy arrays (docs/arithmetic.md §2-3).

``CimArray`` holds the analog state (conductance codes and write counters of
every cell) and implements the commands as array operations.  The register-level
model (``macro.py``) and the vectorized trainer (``cimtrain.trainer``) both call
the functions here: one arithmetic for the macro, batched or not.  A batch is a
stack of commands that share a window (one row of ``x`` and one op index each):
``vmm_currents`` and ``adc`` take a leading batch axis, and a single command is a batch of one.
The arithmetic itself is in kernels.py (compiled), written once.
"""

from __future__ import annotations

import numpy as np

from . import kernels as K
from .device import DeviceD2D, d2d


def vmm_currents(w: np.ndarray, x: np.ndarray, transpose: bool, ops, line0: int,
                 seed: int, read_sigma: int) -> np.ndarray:
    """Currents of a stack of VMMs on one weight window ``w`` (nr, nc), with read noise.

    ``x``: input codes, (n, nr) for FWD or (n, nc) for TRANS; ``ops``: their op indices
    (n,); output line j is the absolute line ``line0 + j`` (a column for FWD, a row for
    TRANS).  Returns int64 (n, nc or nr).  One command is a stack of one.
    """
    w = np.ascontiguousarray(w, dtype=np.int64)
    x = np.ascontiguousarray(x, dtype=np.int64)
    cur = np.empty((x.shape[0], w.shape[0] if transpose else w.shape[1]), dtype=np.int64)
    K.vmm_currents(w, x, transpose, np.asarray(ops, dtype=np.int64) & 0xFFFFFFFF, int(line0),
                   int(seed) & 0xFFFFFFFF, int(read_sigma), cur)
    return cur


def adc(current: np.ndarray, gain: int, shift: int, offset: int, adc_sigma: int, seed: int,
        op, line0: int, bits: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """ADC transfer of currents on output lines line0, line0 + 1, ...: (int8 codes,
    saturated).  ``current``: (nout,) with a scalar ``op``, or (n, nout) with n ops.
    ``bits``: 8, the macro's; fewer only for a trainer's chip variant (kernels.adc).
    """
    cur = np.asarray(current, dtype=np.int64)
    one = cur.ndim == 1
    cur = np.ascontiguousarray(cur.reshape(-1, cur.shape[-1]))
    ops = np.asarray(op, dtype=np.int64).reshape(-1) & 0xFFFFFFFF
    y = np.empty(cur.shape, dtype=np.int64)
    sat = np.empty(cur.shape, dtype=np.bool_)
    K.adc(cur, ops, int(line0), int(seed) & 0xFFFFFFFF, int(adc_sigma), int(gain), int(shift),
          int(offset), int(bits), y, sat)
    return (y[0], sat[0]) if one else (y, sat)


class CimArray:
    """Conductances ``g[tile, row, col, pol]`` and write counters of all cells."""

    def __init__(self, p: dict) -> None:
        self.p = p
        shape = (p["NTILES"], p["ROWS"], p["COLS"], 2)
        self.g = np.full(shape, p["GINIT"], dtype=np.int64)
        self.wc = np.zeros(shape, dtype=np.int64)
        # the device draw of every cell for the last (seed, stuck rate): a draw is a pure
        # function of those and the cell, and drawing a PULSE's few cells each time was a
        # fifth of the RTL server's scoreboard (dead columns are ORed in per PULSE: a
        # key of them would change with every tile's mask)
        self._dev_key: tuple | None = None
        self._dev_all = None

    def load_image(self, path) -> dict:
        """Take the conductances and write counters of a chip image (chip_image.py)."""
        from .chip_image import load
        d = load(path, self.p)
        self.g[...] = d["g"]
        self.wc[...] = d["wc"]
        return d

    # -- indexing --------------------------------------------------------------------------
    def cell_index(self, tile, row, col, pol) -> np.ndarray:
        p = self.p
        return ((np.asarray(tile, dtype=np.int64) * p["ROWS"] + row) * p["COLS"] + col) * 2 + pol

    def weights(self, tile: int, r0: int, nr: int, c0: int, nc: int) -> np.ndarray:
        """Differential weights G+ - G- of a window, int64 (nr, nc)."""
        g = self.g[tile, r0:r0 + nr, c0:c0 + nc, :]
        return g[..., 0] - g[..., 1]

    # -- reads -----------------------------------------------------------------------------
    def vmm(self, transpose: bool, tile: int, x: np.ndarray, r0: int, nr: int, c0: int,
            nc: int, seed: int, op: int, read_sigma: int) -> np.ndarray:
        """Column (FWD) or row (TRANS) currents of the window for input codes ``x``.

        Read noise is output-referred (docs/arithmetic.md §3): the 2 * len(x) cells of
        an output line each add independent noise of sigma s, weighted by their input,
        which sums to one draw of sigma s * sqrt(2 * sum x^2) per line.
        """
        return vmm_currents(self.weights(tile, r0, nr, c0, nc), np.asarray(x)[None, :],
                            transpose, [op], r0 if transpose else c0, seed, read_sigma)[0]

    def read_row(self, tile: int, row: int, c0: int, nc: int, seed: int, op: int,
                 read_sigma: int) -> np.ndarray:
        """READ_ROW: clamped read codes (nc, 2)."""
        p = self.p
        out = np.empty((nc, 2), dtype=np.int64)
        K.read_row(self.g.reshape(-1), tile, row, c0, nc, p["ROWS"], p["COLS"],
                   int(op) & 0xFFFFFFFF, int(seed) & 0xFFFFFFFF, int(read_sigma),
                   p["GCODE_MAX"], out)
        return out

    # -- programming -----------------------------------------------------------------------
    def pulse_row(self, tile: int, row: int, pol: int, cols: np.ndarray, is_set: bool,
                  amp_mv: int, width: int, count: int, seed: int, pulse_sigma: int,
                  stuck_rate: int, dead_mask: int = 0) -> None:
        """``count`` pulses on cell ``pol`` of columns ``cols`` of one row; the columns of
        ``dead_mask`` (bit c: column c, the tile's DEAD_COLS) ignore them."""
        cols = np.asarray(cols, dtype=np.int64)
        if cols.size == 0:
            return
        cells = self.cell_index(tile, row, cols, pol)
        key = (seed, stuck_rate)
        if key != self._dev_key:
            self._dev_all = d2d(self.p, seed, np.arange(self.g.size, dtype=np.int64),
                                stuck_rate)
            self._dev_key = key
        a = self._dev_all
        # d2d's dead columns, this tile's (uint64: the mask may have bit 63 set)
        dead = (np.uint64(dead_mask) >> cols.astype(np.uint64) & np.uint64(1)).astype(bool)
        dev = DeviceD2D(a.gmin[cells], a.gmax[cells], a.fset[cells], a.freset[cells],
                        a.stuck[cells] | dead)
        self.pulse_cells(cells, dev, is_set, amp_mv, width, np.full(cells.shape, count), seed,
                         pulse_sigma)

    def pulse_cells(self, cells: np.ndarray, dev, is_set: bool, amp_mv, width: int,
                    counts: np.ndarray, seed: int, pulse_sigma: int) -> None:
        """``counts[i]`` pulses on cell ``cells[i]`` (flat cell indices, distinct), all of
        one polarity.  Cells are independent and a pulse's noise is keyed by (cell, write
        count), so any grouping of the same pulses into commands ends in the same state.
        ``amp_mv``: one amplitude, or one per cell; ``dev``: the cells' ``DeviceD2D``."""
        p = self.p
        cells = np.asarray(cells, dtype=np.int64)
        amps = np.broadcast_to(np.asarray(amp_mv, dtype=np.int64), cells.shape)
        K.pulse_cells(self.g.reshape(-1), self.wc.reshape(-1), cells,
                      np.broadcast_to(np.asarray(counts, dtype=np.int64), cells.shape), amps,
                      is_set, width, dev.gmin, dev.gmax, dev.fset if is_set else dev.freset,
                      dev.stuck, int(seed) & 0xFFFFFFFF, int(pulse_sigma),
                      p["VTH_SET_MV"] if is_set else p["VTH_RESET_MV"],
                      p["K_SET"] if is_set else p["K_RESET"], (1 << p["WC_BITS"]) - 1)
