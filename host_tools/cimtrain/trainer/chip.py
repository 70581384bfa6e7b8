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


class Chip:
    def __init__(self, preset: str, seed: int, read_sigma: int | None = None,
                 pulse_sigma: int | None = None, adc_sigma: int | None = None,
                 stuck_rate: int = 0, dead_cols: tuple[tuple[int, int], ...] = ()) -> None:
        self.preset = preset
        self.p = p = macro_params(preset)
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
