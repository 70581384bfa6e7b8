"""firmware/update.py on a Chip: threshold scans, open-loop pulses, write-verify, the
initial weights, and the number of PULSE commands the firmware's scheduler issues.

Pulses are applied cell by cell (a cell's pulses are all of one kind and amplitude
within a command group, and pulse noise is keyed by (cell, write count)), so how the
scheduler groups them into commands does not change the state; only the number of
commands matters (the op counter), and ``schedule_len`` computes it.  The loops are
compiled (kernels.open_loop_update, wv_update, program_layer, write_verify).
"""

from __future__ import annotations

import numpy as np

from .. import regs
from . import kernels as TK
from .chip import Chip
from .firmware_src import constant
from .fixedpoint import XorShift32
from .network import Network

REF = constant("update", "REF")
_AMP_LO = constant("update", "_AMP_LO")
_AMP_HI = constant("update", "_AMP_HI")
_WV_MAX_COUNT = constant("update", "_WV_MAX_COUNT")
_STUCK_MARGIN = constant("stuck", "_STUCK_MARGIN")
_STUCK_ROUNDS = constant("stuck", "_STUCK_ROUNDS")
_LRA_MAX = constant("update", "_LRA_MAX")
_PULSE_COUNT_MAX = regs.REG_MASK["PULSE_COUNT"]  # 255: counts above it are split


def schedule_len(counts: np.ndarray) -> int:
    """PULSE commands firmware update.schedule() issues for one row's counts (>= 0)."""
    return int(TK.schedule_len(np.asarray(counts, dtype=np.int64), _PULSE_COUNT_MAX))


def wv_constants(p: dict, set_amp: int, reset_amp: int, tol: int, read_sigma: int,
                 pulse_sigma: int, seed: int, stuck_check: int = 1) -> np.ndarray:
    """The constants of the write-verify kernels, packed (kernels.WP_*)."""
    wp = np.zeros(TK.WP_SIZE, dtype=np.int64)
    for i, v in ((TK.WP_ROWS, p["ROWS"]), (TK.WP_COLS, p["COLS"]),
                 (TK.WP_GCODE_MAX, p["GCODE_MAX"]), (TK.WP_GMIN_NOM, p["GMIN_NOM"]),
                 (TK.WP_GMAX_NOM, p["GMAX_NOM"]), (TK.WP_VTH_SET, p["VTH_SET_MV"]),
                 (TK.WP_VTH_RESET, p["VTH_RESET_MV"]), (TK.WP_K_SET, p["K_SET"]),
                 (TK.WP_K_RESET, p["K_RESET"]), (TK.WP_WC_MAX, (1 << p["WC_BITS"]) - 1),
                 (TK.WP_AMP_LO, _AMP_LO), (TK.WP_AMP_TOP, min(_AMP_HI, p["AMP_MAX_MV"])),
                 (TK.WP_WV_MAX_COUNT, _WV_MAX_COUNT), (TK.WP_PULSE_COUNT_MAX, _PULSE_COUNT_MAX),
                 (TK.WP_SET_AMP, set_amp), (TK.WP_RESET_AMP, reset_amp), (TK.WP_TOL, tol),
                 (TK.WP_READ_SIGMA, read_sigma), (TK.WP_PULSE_SIGMA, pulse_sigma),
                 (TK.WP_SEED, seed & 0xFFFFFFFF), (TK.WP_STUCK_CHECK, stuck_check),
                 (TK.WP_STUCK_MARGIN, _STUCK_MARGIN), (TK.WP_STUCK_ROUNDS, _STUCK_ROUNDS)):
        wp[i] = v
    return wp


class Updater:
    def __init__(self, chip: Chip, net: Network, cfg: dict) -> None:
        self.chip = chip
        self.net = net
        self.mode = cfg["mode"]
        self.acc_frac = cfg["acc_bits"] - 8
        self.thr = cfg["thr"] << self.acc_frac
        self.eps = cfg["eps"] << self.acc_frac
        self.n_max = cfg["n_max"]
        self.fire = cfg["n_min"] * self.eps  # open loop: |acc| that fires a write
        self.residue = cfg["residue"]  # 0: every accumulator cleared after a scan
        self.tol = cfg["wv_tol"]
        self.iters = cfg["wv_iters"]
        self.set_amp = cfg["set_amp"]
        self.reset_amp = cfg["reset_amp"]
        self.n_updates = 0
        self.n_wv_miss = 0
        self.n_scans_with_updates = 0  # threshold scans that programmed any device
        # programming events per weight (the firmware keeps 4 bits; here the full count)
        self.writes = [np.zeros((L.R, L.C), dtype=np.int64) for L in net.layers]
        # stuck cells found (firmware update.py): per weight, 1 G+ stuck, 2 G- stuck;
        # a weight with either is retired (never pulsed again)
        self.check = cfg.get("stuck_check", 0)
        self.stuck = [np.zeros((L.R, L.C), dtype=np.int64) for L in net.layers]
        self.n_stuck = 0
        self.n_retired = 0
        self.lr_adapt = cfg.get("lr_adapt", 0)  # firmware update.py: band exponent t
        self.sr = cfg.get("sr", 0)  # stochastic rounding of open-loop pulse counts
        self.rng: XorShift32 | None = None  # sr: the firmware's PRNG (the Trainer's)
        self.decay = 0  # lr_adapt: epoch // lr_step (the Trainer sets it each epoch)
        self._rs = np.zeros(1, dtype=np.int64)  # the PRNG state, into and out of a kernel

    def _wp(self) -> np.ndarray:
        chip = self.chip
        return wv_constants(chip.p, self.set_amp, self.reset_amp, self.tol, chip.read_sigma,
                            chip.pulse_sigma, chip.seed, self.check)

    def _device(self) -> tuple:
        chip, dev = self.chip, self.chip.dev
        return (chip.array.g.reshape(-1), chip.array.wc.reshape(-1), dev.gmin, dev.gmax,
                dev.fset, dev.freset, dev.stuck)

    def _count(self, counters: np.ndarray) -> None:
        chip = self.chip
        chip.n_read += int(counters[0])
        chip.n_pulse_ops += int(counters[1])
        chip.n_pulses += int(counters[2])
        self.n_stuck += int(counters[TK.CNT_STUCK])
        self.n_retired += int(counters[TK.CNT_RETIRED])

    # -- initialisation ------------------------------------------------------------------
    def program_initial(self, rng: XorShift32, init_amp: int, iters: int) -> int:
        """Every pair to (REF + U(-a, a), REF), write-verified row by row (the targets
        drawn from the firmware's PRNG in its order: layers, blocks, rows, columns)."""
        targets = []
        for L in self.net.layers:
            n = sum(nr * nc for _t, _r0, nr, _c0, nc, _tc0 in L.blocks)
            targets.append(np.array([REF + rng.symmetric(init_amp) for _ in range(n)],
                                    dtype=np.int64))
        return self.program(targets, iters)

    def program(self, targets: list[np.ndarray], iters: int) -> int:
        """Write-verify every pair of each layer to (targets[layer][k], REF), targets in
        programming order (blocks, rows, columns), at most ``iters`` rounds a row; returns
        the cells the last reads found outside tolerance."""
        chip = self.chip
        g, wc, gmin, gmax, fset, freset, stuck = self._device()
        wp = self._wp()
        miss = 0
        for L, tgt, stk in zip(self.net.layers, targets, self.stuck):
            counters = np.zeros(TK.CNT_SIZE, dtype=np.int64)
            m, chip.op = TK.program_layer(g, wc, L.btab, tgt, REF, iters, chip.op, gmin,
                                          gmax, fset, freset, stuck, wp, counters, stk)
            self._count(counters)
            miss += m
        self.n_wv_miss += miss
        self.net.refresh_weights()
        return miss

    # -- after a batch -------------------------------------------------------------------
    def apply(self) -> None:
        """The threshold scan after a batch (the open-loop scan keeps the network's
        weight cache up to date as it pulses; write-verify refreshes it after)."""
        before = self.n_updates
        self._scan()
        self.n_scans_with_updates += self.n_updates > before
        if not self.residue:
            for L in self.net.layers:
                L.acc[...] = 0
        if self.lr_adapt:
            self.adapt_lr()

    def adapt_lr(self) -> None:
        """firmware Updater.adapt_lr: each trained layer's shift offset one step toward
        eps * 2**t <= umax * 2**(2 + decay) < eps * 2**(t + 1); umax back to 0."""
        lo = self.eps << self.lr_adapt
        hi = lo << 1
        d = 2 + self.decay
        net = self.net
        for L in net.layers[net.freeze:]:
            u = L.umax << d
            if not u:
                continue
            if u >= hi:
                L.lra = min(L.lra + 1, _LRA_MAX)
            elif u < lo:
                L.lra = max(L.lra - 1, -_LRA_MAX)
            L.umax = 0

    def _scan(self) -> None:
        if self.mode == "open":
            self._apply_open()
        else:
            self._apply_wv()
            self.net.refresh_weights()

    def _apply_open(self) -> None:
        chip, p, dev = self.chip, self.chip.p, self.chip.dev
        g, wc = chip.array.g.reshape(-1), chip.array.wc.reshape(-1)
        counts = np.zeros(p["COLS"], dtype=np.int64)
        rs = self._rs
        if self.sr:
            rs[0] = self.rng.s
        for L, writes, stk in zip(self.net.layers, self.writes, self.stuck):
            n_upd, n_cmd, n_pulses = TK.open_loop_update(
                L.acc, writes, L.btab, self.eps, self.fire, self.n_max, p["ROWS"], p["COLS"],
                g, wc, dev.gmin, dev.gmax, dev.fset, dev.freset, dev.stuck, chip.seed,
                chip.pulse_sigma, self.set_amp, self.reset_amp, p["VTH_SET_MV"],
                p["VTH_RESET_MV"], p["K_SET"], p["K_RESET"], (1 << p["WC_BITS"]) - 1,
                _PULSE_COUNT_MAX, counts, L.wt_flat, stk, self.sr, rs)
            self.n_updates += n_upd
            chip.pulse_ops(n_cmd)
            chip.n_pulses += n_pulses
        if self.sr:
            self.rng.s = int(rs[0])

    def _apply_wv(self) -> None:
        chip = self.chip
        g, wc, gmin, gmax, fset, freset, stuck = self._device()
        wp = self._wp()
        for L, writes, stk in zip(self.net.layers, self.writes, self.stuck):
            counters = np.zeros(TK.CNT_SIZE, dtype=np.int64)
            chip.op = TK.wv_update(L.acc, writes, L.btab, self.thr, self.acc_frac, self.iters,
                                   chip.op, g, wc, gmin, gmax, fset, freset, stuck, wp,
                                   counters, stk)
            self._count(counters)
            self.n_updates += int(counters[3])
            self.n_wv_miss += int(counters[4])
