"""firmware/update.py on a Chip: threshold scans, open-loop pulses, write-verify, the
initial weights, and the number of PULSE commands the firmware's scheduler issues.

Pulses are applied cell by cell (a cell's pulses are all of one kind and amplitude
within a command group, and pulse noise is keyed by (cell, write count)), so how the
scheduler groups them into commands does not change the state; only the number of
commands matters (the op counter), and ``schedule_len`` computes it.  The open-loop
scan (the default, once per batch) is compiled (kernels.open_loop_update); write-verify
and the initial programming run here, row by row, on numpy.
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
P = regs.PARAMS
_PULSE_COUNT_MAX = regs.REG_MASK["PULSE_COUNT"]  # 255: counts above it are split


def schedule_len(counts: np.ndarray) -> int:
    """PULSE commands firmware update.schedule() issues for one row's counts (>= 0)."""
    return int(TK.schedule_len(np.asarray(counts, dtype=np.int64), _PULSE_COUNT_MAX))


def pulse_plan(step: np.ndarray, g: np.ndarray, is_set: bool) -> tuple[np.ndarray, np.ndarray]:
    """firmware update.pulse_plan, vectorized: (amplitude mV, count) per cell."""
    step = np.asarray(step, dtype=np.int64)
    g = np.asarray(g, dtype=np.int64)
    if is_set:
        span = P["GMAX_NOM"] - g
        k, vth = P["K_SET"], P["VTH_SET_MV"]
    else:
        span = g - P["GMIN_NOM"]
        k, vth = P["K_RESET"], P["VTH_RESET_MV"]
    span = np.maximum(span, 8)
    a = (step << 16) // span
    amp_hi = min(_AMP_HI, P["AMP_MAX_MV"])
    od = (a << 4) // k
    one = vth + od <= amp_hi
    a_hi = ((amp_hi - vth) * k) >> 4
    amp = np.where(one, np.clip(vth + od, _AMP_LO, amp_hi), amp_hi)
    count = np.where(one, 1, np.clip(a // a_hi, 1, _WV_MAX_COUNT))
    return amp, count


class Updater:
    def __init__(self, chip: Chip, net: Network, cfg: dict) -> None:
        self.chip = chip
        self.net = net
        self.mode = cfg["mode"]
        self.acc_frac = cfg["acc_bits"] - 8
        self.thr = cfg["thr"] << self.acc_frac
        self.eps = cfg["eps"] << self.acc_frac
        self.n_max = cfg["n_max"]
        self.tol = cfg["wv_tol"]
        self.iters = cfg["wv_iters"]
        self.set_amp = cfg["set_amp"]
        self.reset_amp = cfg["reset_amp"]
        self.n_updates = 0
        self.n_wv_miss = 0
        self.n_scans_with_updates = 0  # threshold scans that programmed any device
        # programming events per weight (the firmware keeps 4 bits; here the full count)
        self.writes = [np.zeros((L.R, L.C), dtype=np.int64) for L in net.layers]

    # -- write-verify of some cells of one row -----------------------------------------
    def write_verify(self, tile: int, row: int, c0: int, nc: int, tgt_p: np.ndarray,
                     tgt_n: np.ndarray | None = None, iters: int = -1,
                     rb: np.ndarray | None = None) -> int:
        """firmware Updater.write_verify; ``rb``: the row's read already in hand."""
        chip = self.chip
        tol = self.tol
        pols = (0, 1) if tgt_n is not None else (0,)
        if iters < 0:
            iters = self.iters
        cols = c0 + np.arange(nc)
        top = min(_AMP_HI, P["AMP_MAX_MV"])
        left = 0
        for it in range(iters + 1):
            if it or rb is None:
                rb = chip.read_row(tile, row, c0, nc)
            left = 0
            for pol in pols:
                tgt = tgt_n if pol else tgt_p
                g = rb[:, pol]
                d = tgt - g
                out = (tgt >= 0) & ((d < -tol) | (d > tol))
                left += int(out.sum())
                if it == iters or not out.any():
                    continue
                up, down = out & (d > 0), out & (d < 0)
                n_up = pulse_plan(d, g, True)[1]
                n_dn = pulse_plan(-d, g, False)[1]
                coarse_s, coarse_r = up & (n_up > 1), down & (n_dn > 1)
                fine_s, fine_r = up & (n_up <= 1), down & (n_dn <= 1)
                cells = chip.cell_index(tile, row, cols, pol)
                if coarse_s.any() or coarse_r.any():
                    counts = np.where(coarse_s, n_up, 0) + np.where(coarse_r, n_dn, 0)
                    chip.pulse_ops(schedule_len(counts))
                    chip.pulse(cells[coarse_s], True, top, n_up[coarse_s])
                    chip.pulse(cells[coarse_r], False, top, n_dn[coarse_r])
                if fine_s.any() or fine_r.any():
                    sa, ra = self.set_amp, self.reset_amp
                    if fine_s.any():  # sized for the nearest (first smallest d) cell
                        j = np.flatnonzero(fine_s)[np.argmin(d[fine_s])]
                        sa = int(pulse_plan(d[j], g[j], True)[0])
                    if fine_r.any():
                        j = np.flatnonzero(fine_r)[np.argmin(-d[fine_r])]
                        ra = int(pulse_plan(-d[j], g[j], False)[0])
                    chip.pulse_ops(1)
                    chip.pulse(cells[fine_s], True, sa, np.ones(int(fine_s.sum()), np.int64))
                    chip.pulse(cells[fine_r], False, ra, np.ones(int(fine_r.sum()), np.int64))
            if not left:
                return 0
        return left

    # -- initialisation ------------------------------------------------------------------
    def program_initial(self, rng: XorShift32, init_amp: int, iters: int) -> int:
        """Every pair to (REF + U(-a, a), REF), write-verified row by row."""
        miss = 0
        for L in self.net.layers:
            for tile, _r0, nr, _c0, nc, tc0 in L.blocks:
                tn = np.full(nc, REF, dtype=np.int64)
                for i in range(nr):
                    tp = np.array([REF + rng.symmetric(init_amp) for _ in range(nc)],
                                  dtype=np.int64)
                    miss += self.write_verify(tile, i, tc0, nc, tp, tn, iters)
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
        for L, writes in zip(self.net.layers, self.writes):
            n_upd, n_cmd, n_pulses = TK.open_loop_update(
                L.acc, writes, L.btab, self.eps, self.n_max, p["ROWS"], p["COLS"], g, wc,
                dev.gmin, dev.gmax, dev.fset, dev.freset, dev.stuck, chip.seed,
                chip.pulse_sigma, self.set_amp, self.reset_amp, p["VTH_SET_MV"],
                p["VTH_RESET_MV"], p["K_SET"], p["K_RESET"], (1 << p["WC_BITS"]) - 1,
                _PULSE_COUNT_MAX, counts, L.wt_flat)
            self.n_updates += n_upd
            chip.pulse_ops(n_cmd)
            chip.n_pulses += n_pulses

    def _apply_wv(self) -> None:
        thr, frac = self.thr, self.acc_frac
        half = (1 << (frac - 1)) if frac else 0
        for L, writes in zip(self.net.layers, self.writes):
            hit_all = (L.acc >= thr) | (L.acc <= -thr)
            if not hit_all.any():
                continue
            for tile, r0, nr, c0, nc, tc0 in L.blocks:
                for i in np.flatnonzero(hit_all[r0:r0 + nr, c0:c0 + nc].any(axis=1)):
                    a = L.acc[r0 + i, c0:c0 + nc]
                    hit = (a >= thr) | (a <= -thr)
                    rb = self.chip.read_row(tile, int(i), tc0, nc)
                    d = (a + half) >> frac
                    tp = np.where(hit, np.clip(rb[:, 0] + d, P["GMIN_NOM"], P["GMAX_NOM"]), -1)
                    a[hit] = 0
                    self.n_updates += int(hit.sum())
                    writes[r0 + i, c0:c0 + nc] += hit
                    self.n_wv_miss += self.write_verify(tile, int(i), tc0, nc, tp, rb=rb)
