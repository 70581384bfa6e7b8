"""The macro as the trainer drives it: the model's array and arithmetic, no bus.

``Chip`` keeps what the firmware's commands would change in the macro (conductances,
write counters, the device-to-device draw, the op counter that keys read and ADC noise,
the command counters of firmware/cim.py).  The commands themselves run in
trainer/kernels.py on the model's kernels: the same arithmetic as the register-level
model that serves the firmware, so both end in the same state.
"""

from __future__ import annotations

import numpy as np

from .. import regs
from ..model.array import CimArray
from ..model.device import d2d
from ..model.macro import macro_params

M32 = 0xFFFFFFFF


D2D_SIGMAS = ("D2D_GMIN_SIGMA", "D2D_GMAX_SIGMA", "D2D_STEP_SIGMA")


def chip_params(preset: str, d2d_pct: int = 100) -> dict:
    """The preset's parameters with its device-to-device sigmas (D2D_*_SIGMA) scaled to
    ``d2d_pct`` percent (rounded to the Q8.8 unit): 0 gives identical devices."""
    p = macro_params(preset)
    return macro_params(preset, **{k: (p[k] * d2d_pct + 50) // 100 for k in D2D_SIGMAS})


class Chip:
    def __init__(self, preset: str, seed: int, read_sigma: int | None = None,
                 pulse_sigma: int | None = None, adc_sigma: int | None = None,
                 stuck_rate: int = 0, dead_cols: tuple[tuple[int, int], ...] = (),
                 adc_bits: int = 8, d2d_pct: int = 100) -> None:
        """``adc_bits``, ``d2d_pct``: a variant of the preset's chip that only the trainer
        has (options.HOST_ONLY): an ADC of fewer bits over the same full scale
        (model/kernels.adc), device-to-device sigmas scaled (chip_params)."""
        self.preset = preset
        self.p = p = chip_params(preset, d2d_pct)
        self.adc_bits, self.d2d_pct = adc_bits, d2d_pct
        self.array = CimArray(p)
        self.seed = seed & M32
        reset = regs.RESET
        self.read_sigma = reset["NOISE_READ_SIGMA"] if read_sigma is None else read_sigma
        self.pulse_sigma = reset["NOISE_PULSE_SIGMA"] if pulse_sigma is None else pulse_sigma
        self.adc_sigma = reset["NOISE_ADC_SIGMA"] if adc_sigma is None else adc_sigma
        self.stuck_rate = stuck_rate
        self.dead_cols = tuple(tuple(tc) for tc in dead_cols)  # (tile, column): no pulse moves
        ncells = p["NTILES"] * p["ROWS"] * p["COLS"] * 2
        self.dev = d2d(p, self.seed, np.arange(ncells, dtype=np.int64), stuck_rate,
                       self.dead_cols)
        self.op = 0  # OP_COUNT: index of the next command
        self.n_vmm = self.n_read = self.n_pulse_ops = self.n_pulses = 0

    # -- commands ----------------------------------------------------------------------
    def take_ops(self, n: int) -> int:
        """Reserve the op indices of n commands issued in a row; returns the first."""
        op = self.op
        self.op = (op + n) & M32
        return op

    def pulse_ops(self, n: int) -> None:
        """n PULSE commands were issued (op counter and command count); their pulses are
        keyed by (cell, write count), not by op."""
        self.take_ops(n)
        self.n_pulse_ops += n
