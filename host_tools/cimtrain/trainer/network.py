"""The firmware's networks (firmware/network.py) on a Chip, one image at a time.

Bit for bit what the firmware computes, command for command in its order, so the op
indices that key the read and ADC noise are the same: kernels.py holds the loops
(compiled), this module the layers, the tile map and the order of the steps.

A layer's weights W[r, c] (r input, c output; conv: r = (ci*k + ky)*k + kx) are cached
per block for the kernels (wt_flat: each block's window transposed, float64), kept up
to date with the conductances after every programming step.
"""

from __future__ import annotations

import numpy as np

from . import kernels as TK
from .chip import Chip
from .firmware_src import load_module
from .fixedpoint import ERR_MAX, EXP_Q16, OUT_ERR_SHIFT

_FW_NETWORK = load_module("network")
MapError = _FW_NETWORK.MapError  # the network does not fit the preset's tiles


class Layer:
    def __init__(self, spec: tuple, acc_bits: int) -> None:
        self.kind = spec[0]
        if self.kind == "conv":
            _, self.cin, self.cout, self.k, self.hin, self.pool = spec
            self.hout = self.hin - self.k + 1
            self.hp = self.hout // self.pool
            self.R = self.cin * self.k * self.k
            self.C = self.cout
            self.nin = self.cin * self.hin * self.hin
            self.nout = self.cout * self.hp * self.hp
            self.npos = self.hout * self.hout
            # im2col[pos, r]: input index of row r = (ci*k + ky)*k + kx at output pos
            ci, ky, kx = np.meshgrid(np.arange(self.cin), np.arange(self.k), np.arange(self.k),
                                     indexing="ij")
            off = (ci * self.hin * self.hin + ky * self.hin + kx).ravel()
            y, xo = np.meshgrid(np.arange(self.hout), np.arange(self.hout), indexing="ij")
            self.im2col = (y * self.hin + xo).reshape(-1, 1) + off[None, :]
            # pooling windows: pool_idx[c*hp*hp + py*hp + px, dy*pool + dx] -> act index
            p, hp, hout = self.pool, self.hp, self.hout
            c, py, px, dy, dx = np.meshgrid(np.arange(self.cout), np.arange(hp), np.arange(hp),
                                            np.arange(p), np.arange(p), indexing="ij")
            self.pool_idx = (c * self.npos + (py * p + dy) * hout + px * p + dx).reshape(
                self.nout, p * p)
        else:
            _, self.R, self.C = spec
            self.nin, self.nout, self.npos = self.R, self.C, 1
        self.amax = (1 << (acc_bits - 1)) - 1
        self.acc = np.zeros((self.R, self.C), dtype=np.int64)  # acc[r, c], firmware order
        self.blocks: list[tuple[int, int, int, int, int, int]] = []  # tile r0 nr c0 nc tc0
        self.fshift = 10     # forward ADC shift (calibrated)
        self.bshift = 9      # backward ADC shift (auto-ranged)
        self.bmax = 0        # largest |ADC code| of this sample's backward
        self.maxcode = 0     # largest forward ADC code (calibration)
        self.lra = 0         # lr_adapt: shift offset of this layer (firmware update.py)
        self.umax = 0        # lr_adapt: the batch's largest accumulator step
        self.x = None        # input codes of the last forward (the backward's)

    def finish(self) -> None:
        """Block table and the buffers of one image, once the blocks are placed."""
        # block table: tile r0 nr c0 nc tc0, and the offset of the block's weights in
        # wt_flat (the block's window transposed, (nc, nr), C order)
        sizes = [b[2] * b[4] for b in self.blocks]
        offs = np.cumsum([0, *sizes])[:-1].astype(np.int64)
        self.btab = np.concatenate([np.array(self.blocks, dtype=np.int64).reshape(-1, 6),
                                    offs[:, None]], axis=1)
        self.wt_flat = np.zeros(sum(sizes), dtype=np.float64)
        if self.kind == "fc":
            self.im2col = np.arange(self.R, dtype=np.int64)[None, :]
        self.im2col = np.ascontiguousarray(self.im2col, dtype=np.int64)
        self.pre = np.zeros((self.npos, self.C), dtype=np.int64)
        self.patches = np.zeros((self.npos, self.R), dtype=np.float64)
        self.err_in = np.zeros(self.nin, dtype=np.int64)
        if self.kind == "conv":
            self.pool_idx = np.ascontiguousarray(self.pool_idx, dtype=np.int64)
            self.act = np.zeros(self.C * self.npos, dtype=np.int64)
            self.argmax = np.zeros(self.nout, dtype=np.int64)
            self.out = np.zeros(self.nout, dtype=np.int64)
            self.derr = np.zeros(self.C * self.npos, dtype=np.int64)
            self.gsum = np.zeros((self.R, self.C), dtype=np.float64)
        else:
            self.act = np.zeros(self.C, dtype=np.int64)


def place(layers: list[Layer], ntiles: int, rows: int, cols: int) -> list[int]:
    """The firmware's tile map (firmware/network.py place(), run as it is): blocks of at
    most rows x cols, packed column-wise into tiles, first fit."""
    used = _FW_NETWORK.place(layers, ntiles, rows, cols)
    for L in layers:
        L.finish()
    return used


class Network:
    def __init__(self, spec: tuple, chip: Chip, acc_bits: int = 16) -> None:
        self.chip = chip
        p = chip.p
        self.layers = [Layer(s, acc_bits) for s in spec]
        self.tiles_used = place(self.layers, p["NTILES"], p["ROWS"], p["COLS"])
        for a, b in zip(self.layers, self.layers[1:]):
            if a.nout != b.nin:
                raise MapError(f"layer outputs {a.nout} != next inputs {b.nin}")
        self.n_weights = sum(L.R * L.C for L in self.layers)
        self.calibrating = False
        self.freeze = 0  # firmware Network.freeze: layers [0, freeze) keep their weights
        self.adapt = False  # lr_adapt: keep each layer's largest step (Layer.umax)
        self.brange_lo = 64  # _autorange: finer below it (option brange_lo)
        self.refresh_weights()

    def refresh_weights(self) -> None:
        """Assemble every layer's weight matrix from the conductances (after updates)."""
        g = self.chip.array.g
        for L in self.layers:
            for (t, _r0, nr, _c0, nc, tc0), off in zip(L.blocks, L.btab[:, 6]):
                wb = g[t, :nr, tc0:tc0 + nc, 0] - g[t, :nr, tc0:tc0 + nc, 1]
                L.wt_flat[off:off + nr * nc] = wb.T.ravel()

    def weights(self, L: Layer) -> np.ndarray:
        """The layer's effective weights W[r, c] = G+ - G- (int64, R x C), from the array."""
        g = self.chip.array.g
        w = np.zeros((L.R, L.C), dtype=np.int64)
        for t, r0, nr, c0, nc, tc0 in L.blocks:
            w[r0:r0 + nr, c0:c0 + nc] = g[t, :nr, tc0:tc0 + nc, 0] - g[t, :nr, tc0:tc0 + nc, 1]
        return w

    # -- forward ------------------------------------------------------------------------
    def layer_forward(self, L: Layer, x: np.ndarray) -> np.ndarray:
        """One layer on input codes x (int64): its output codes, in the layer's own
        buffer until its next call (the logits, a new array, for the last layer)."""
        chip = self.chip
        L.x = x
        # ADC_SHIFT keeps its 6 field bits.  Calibration could try a shift below 0 for a
        # layer that reads all zero; what the firmware's HAL does with a negative wr32 is
        # not pinned down (issue 10), so that edge is not known to be bit-exact.
        n, m = TK.forward_layer(x, L.im2col, L.wt_flat, L.btab, L.fshift & 63, chip.op,
                                chip.seed, chip.read_sigma, chip.adc_sigma, chip.adc_bits, L.pre,
                                L.patches)
        chip.take_ops(n)
        chip.n_vmm += n
        if self.calibrating:
            L.maxcode = max(L.maxcode, m)
        if L.kind == "conv":
            TK.relu_pool(L.pre, L.pool_idx, L.act, L.argmax, L.out)
            return L.out
        if L is self.layers[-1]:
            return L.pre[0].copy()
        TK.relu(L.pre, L.act)
        return L.act

    def forward(self, pixels: np.ndarray) -> np.ndarray:
        x = np.asarray(pixels, dtype=np.int64)
        for L in self.layers:
            x = self.layer_forward(L, x)
        return x

    def output_error(self, logits: np.ndarray, label: int) -> tuple[np.ndarray, int]:
        """(int8 output errors, Q0.16 probability of the label): softmax cross-entropy."""
        err = np.zeros(len(logits), dtype=np.int64)
        p = TK.softmax_xent_err(logits, label, EXP_Q16, err, OUT_ERR_SHIFT, ERR_MAX)
        return err, p

    # -- backward -----------------------------------------------------------------------
    def backward(self, err: np.ndarray, lr_shifts: list[int]) -> None:
        """firmware Network.backward: errors back through transposed VMMs, weight
        gradients into the saturating accumulators.  Block exponent ``e``: the true
        error of a layer is code * 2**-e; normalising adds its shift k, a transposed VMM
        subtracts bshift - fshift, and a layer's accumulator step is
        acc -= (x * err) >> (lr + e + fshift)."""
        chip = self.chip
        e = 0
        layers = self.layers
        f = self.freeze  # layers [0, f) are not trained; layer f propagates no error
        for li in range(len(layers) - 1, f - 1, -1):
            L = layers[li]
            sh_base = lr_shifts[li] + L.lra + e + L.fshift
            if self.adapt and L.kind == "fc":  # firmware: max x times max |normalised err|
                en = err.copy()
                kn = TK.normalize_err(en)
                if en.any():
                    _note_step(L, int(L.x.max()) * int(np.abs(en).max()), sh_base + kn)
            if L.kind == "conv":
                go, k, n, m = TK.conv_backward_step(
                    err, L.argmax, L.act, L.derr, L.patches, L.im2col, L.wt_flat, L.btab,
                    L.bshift, chip.op, chip.seed, chip.read_sigma, chip.adc_sigma, chip.adc_bits,
                    li > f,
                    L.gsum, L.err_in, L.acc, L.amax, sh_base)
                if self.adapt and go:
                    _note_step(L, int(np.abs(L.gsum).max()), sh_base + k)
            else:
                P = layers[li - 1] if li else L
                go, k, n, m = TK.fc_backward_step(
                    err, L.x, L.acc, L.amax, sh_base, li > f, L.wt_flat, L.btab, L.bshift,
                    chip.op, chip.seed, chip.read_sigma, chip.adc_sigma, chip.adc_bits, L.err_in,
                    P.act,
                    P.kind == "fc")
            if not go or li <= f:
                return
            e += k
            chip.take_ops(n)
            chip.n_vmm += n
            L.bmax = max(L.bmax, m)
            e -= L.bshift - L.fshift
            self._autorange(L)
            err = L.err_in

    def _autorange(self, L: Layer) -> None:
        """Backward ADC shift for the next sample: saturating -> coarser, below
        brange_lo -> finer (firmware Network._autorange)."""
        if L.bmax >= 127:
            if L.bshift < 24:
                L.bshift += 1
        elif L.bmax < self.brange_lo and L.bshift > 0:
            L.bshift -= 1
        L.bmax = 0


def _note_step(L: Layer, g: int, sh: int) -> None:
    """firmware Network._note_step: L.umax = max(L.umax, round(g >> sh)), half up."""
    u = (g + (1 << (sh - 1))) >> sh if sh > 0 else g << -sh
    L.umax = max(L.umax, u)
