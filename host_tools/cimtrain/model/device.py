"""Memristor device model (docs/arithmetic.md §2), vectorized over cells.

A cell is a conductance code ``g`` in [0, GCODE_MAX] plus a saturating write
counter.  Its bounds and step multipliers vary from device to device as pure
functions of (SEED, cell index); the cycle-to-cycle noise of a pulse is a pure
function of (SEED, cell index, write count), so pulses on different cells can be
applied in any order or all at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .noise import Stream, hash32, noise


@dataclass(frozen=True)
class DeviceD2D:
    gmin: np.ndarray
    gmax: np.ndarray
    fset: np.ndarray    # Q8.8 step multiplier of SET pulses
    freset: np.ndarray  # Q8.8 step multiplier of RESET pulses
    stuck: np.ndarray   # bool: the cell ignores pulses

    def take(self, idx) -> DeviceD2D:
        """The parameters of a subset of the cells (an index or a boolean mask)."""
        return DeviceD2D(self.gmin[idx], self.gmax[idx], self.fset[idx], self.freset[idx],
                         self.stuck[idx])


def d2d(p: dict, seed: int, cells: np.ndarray, stuck_rate: int) -> DeviceD2D:
    cells = np.asarray(cells, dtype=np.int64)
    gmax_code = p["GCODE_MAX"]

    def q(k: int, sigma: int) -> np.ndarray:
        return noise(hash32(seed, Stream.D2D, cells, k), sigma)

    gmin = np.clip(p["GMIN_NOM"] + q(0, p["D2D_GMIN_SIGMA"]), 0, gmax_code - 1)
    gmax = np.minimum(np.maximum(p["GMAX_NOM"] + q(1, p["D2D_GMAX_SIGMA"]), gmin + 1), gmax_code)
    fset = np.maximum(256 + q(2, p["D2D_STEP_SIGMA"]), 0)
    freset = np.maximum(256 + q(3, p["D2D_STEP_SIGMA"]), 0)
    if stuck_rate:
        stuck = (hash32(seed, Stream.STUCK, cells, 0).astype(np.int64) & 0xFFFF) < stuck_rate
    else:
        stuck = np.zeros(cells.shape, dtype=bool)
    return DeviceD2D(gmin, gmax, fset, freset, stuck)


def step_fraction(p: dict, is_set: bool, amp_mv, width: int):
    """Q0.16 fraction of the remaining span moved by one pulse (0 below threshold).

    ``amp_mv`` is one amplitude (returns an int) or one per cell (returns an array)."""
    od = np.asarray(amp_mv, dtype=np.int64) - (p["VTH_SET_MV"] if is_set else p["VTH_RESET_MV"])
    a = np.where(od > 0, np.minimum((od * width * (p["K_SET"] if is_set else p["K_RESET"]))
                                    >> 4, 65535), 0)
    return int(a) if a.ndim == 0 else a


def apply_pulse(p: dict, g: np.ndarray, wc: np.ndarray, cells: np.ndarray, dev: DeviceD2D,
                seed: int, is_set: bool, amp_mv, width: int, pulse_sigma: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """One pulse on every cell of ``cells``; returns new (g, wc) arrays (int64).

    ``amp_mv``: one amplitude for all cells, or one per cell."""
    g = np.asarray(g, dtype=np.int64)
    wc = np.asarray(wc, dtype=np.int64)
    a = step_fraction(p, is_set, amp_mv, width)
    if np.any(a):
        if is_set:
            span, f = dev.gmax - g, dev.fset
        else:
            span, f = g - dev.gmin, dev.freset
        step = (span * a * f + (1 << 23)) >> 24
        n = noise(hash32(seed, Stream.PULSE, cells, wc), pulse_sigma) if pulse_sigma else 0
        moved = g + step + n if is_set else g - step + n
        moved = np.minimum(np.maximum(moved, dev.gmin), dev.gmax)
        g = np.where(dev.stuck | (np.asarray(a) == 0), g, moved)
    wc = np.minimum(wc + 1, (1 << p["WC_BITS"]) - 1)
    return g, wc
