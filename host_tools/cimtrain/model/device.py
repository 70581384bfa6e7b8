"""Memristor device model (docs/arithmetic.md §2), vectorized over cells.

A cell is a conductance code ``g`` in [0, GCODE_MAX] plus a saturating write
counter.  Its bounds and step multipliers vary from device to device as pure
functions of (SEED, cell index); the cycle-to-cycle noise of a pulse is a pure
function of (SEED, cell index, write count), so pulses on different cells can be
applied in any order or all at once.  A pulse itself is kernels.pulse_cells (applied
through CimArray.pulse_cells).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernels as K
from .noise import Stream, hash32, noise


@dataclass(frozen=True)
class DeviceD2D:
    gmin: np.ndarray
    gmax: np.ndarray
    fset: np.ndarray    # Q8.8 step multiplier of SET pulses
    freset: np.ndarray  # Q8.8 step multiplier of RESET pulses
    stuck: np.ndarray   # bool: the cell ignores pulses


def d2d(p: dict, seed: int, cells: np.ndarray, stuck_rate: int,
        dead_cols: tuple[tuple[int, int], ...] = ()) -> DeviceD2D:
    """The draw of ``cells`` (flat indices); ``dead_cols``: (tile, column) pairs whose
    cells, both of each pair, all ignore pulses (a dead column: the macro's DEAD_COLS
    registers, or a trainer's chip; docs/reliability.md)."""
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
    if dead_cols:
        col = cells // 2 % p["COLS"] + cells // (2 * p["ROWS"] * p["COLS"]) * p["COLS"]
        stuck = stuck | np.isin(col, [t * p["COLS"] + c for t, c in dead_cols])
    return DeviceD2D(gmin, gmax, fset, freset, stuck)


def parse_dead_cols(p: dict, text: str, knob: str = "DEAD_COLS") -> tuple[tuple[int, int], ...]:
    """'0:3,2:17' (tile:column, ...) as ((0, 3), (2, 17)); ValueError names ``knob``."""
    out = []
    for item in text.replace(" ", "").split(","):
        if not item:
            continue
        t, _, c = item.partition(":")
        if not (t.isdigit() and c.isdigit()):
            raise ValueError(f"{knob}={text!r}: tile:column pairs, e.g. 0:3,2:17 "
                             f"({item!r} is not one)")
        if not (int(t) < p["NTILES"] and int(c) < p["COLS"]):
            raise ValueError(f"{knob}: {item} is outside the chip (tiles 0..{p['NTILES'] - 1}, "
                             f"columns 0..{p['COLS'] - 1})")
        out.append((int(t), int(c)))
    return tuple(sorted(set(out)))


def step_fraction(p: dict, is_set: bool, amp_mv: int, width: int) -> int:
    """Q0.16 fraction of the remaining span moved by one pulse (0 below threshold)."""
    od = amp_mv - (p["VTH_SET_MV"] if is_set else p["VTH_RESET_MV"])
    return int(K.step_fraction(od, width, p["K_SET"] if is_set else p["K_RESET"]))
