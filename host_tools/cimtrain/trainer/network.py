"""The firmware's networks (firmware/network.py) on a Chip, one image at a time, with
every command of a layer issued as one stack.

Bit for bit what the firmware computes, in the same command order, so the op indices
that key the read and ADC noise are the same: a layer's VMMs are numbered in the
firmware's loop order (conv positions row-major, then blocks) with prefix sums over the
commands it issues (an all-zero input vector of a row split issues none; transposed
VMMs are always issued).  Then all of them run as one matrix product per block.

Exactness: products run on float64 BLAS (cimtrain.model.array: every value < 2**27);
conv weight gradients (sum over positions of x * err, |.| < 576 * 255 * 127 < 2**25) and
col2im sums (np.bincount with float weights, |.| < 2**16) are integers far below 2**53.
"""

from __future__ import annotations

import numpy as np

from .chip import Chip
from .fixedpoint import normalize_err, shift_update


class MapError(ValueError):
    pass


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
        self.fshift = 10
        self.bshift = 9
        self.bmax = 0
        self.maxcode = 0
        # per-image state of the last forward (what the backward needs)
        self.x = None        # input codes
        self.patches = None  # (npos, R) input windows
        self.act = None      # ReLU activations (conv: flat c*npos + pos; fc: (C,))
        self.argmax = None   # conv: pooled output -> index into act

    def finish(self) -> None:
        """Per-block constants once the blocks are placed."""
        self.splits = sorted({b[1] for b in self.blocks})
        self.split_of = np.array([self.splits.index(b[1]) for b in self.blocks])
        self.lines_fwd = [np.arange(b[5], b[5] + b[4]) for b in self.blocks]
        self.lines_trans = [np.arange(0, b[2]) for b in self.blocks]


def place(layers: list[Layer], ntiles: int, rows: int, cols: int) -> list[int]:
    """firmware/network.py place(): blocks of <= rows x cols, packed column-wise, first fit."""
    used = [0] * ntiles
    for L in layers:
        for r0 in range(0, L.R, rows):
            nr = min(rows, L.R - r0)
            for c0 in range(0, L.C, cols):
                nc = min(cols, L.C - c0)
                for t in range(ntiles):
                    if used[t] + nc <= cols:
                        L.blocks.append((t, r0, nr, c0, nc, used[t]))
                        used[t] += nc
                        break
                else:
                    raise MapError(f"network does not fit: {ntiles} tiles of {rows} x {cols}")
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
        self.refresh_weights()

    def refresh_weights(self) -> None:
        """Cache every block's differential weights after the array changed."""
        arr = self.chip.array
        for L in self.layers:
            L.w = [np.ascontiguousarray(arr.weights(t, 0, nr, tc0, nc))
                   for t, _r0, nr, _c0, nc, tc0 in L.blocks]

    # -- forward ------------------------------------------------------------------------
    def _matvec(self, L: Layer, X: np.ndarray) -> np.ndarray:
        """pre[pos, c] for the input vectors X (npos, R): the firmware's _matvec at every
        position, in its command order, skipping all-zero row splits."""
        chip = self.chip
        n = X.shape[0]
        pre = np.zeros((n, L.C), dtype=np.int64)
        live = np.stack([X[:, r0:r0 + nr].any(axis=1)
                         for r0, nr in ((b[1], b[2]) for b in L.blocks)], axis=1)
        order = np.cumsum(live.ravel()).reshape(live.shape) - 1  # rank among issued VMMs
        base = chip.take_ops(int(order[-1, -1]) + 1 if live.size else 0)
        for bi, (_t, r0, nr, c0, nc, _tc0) in enumerate(L.blocks):
            rows = live[:, bi]
            if not rows.any():
                continue
            y = chip.vmm(L.w[bi], X[rows, r0:r0 + nr], False, base + order[rows, bi],
                         L.lines_fwd[bi], L.fshift)
            pre[rows, c0:c0 + nc] += y
            if self.calibrating:
                L.maxcode = max(L.maxcode, int(y.max()))
        return pre

    def layer_forward(self, L: Layer, x: np.ndarray) -> np.ndarray:
        """One layer on input codes x (int64 vector): its output codes (logits for the last)."""
        L.x = x
        if L.kind == "conv":
            P = x[L.im2col]
            L.patches = P
            pre = self._matvec(L, P)
            act = np.clip(pre, 0, 255).T.ravel()  # c * npos + pos
            win = act[L.pool_idx]                 # (nout, pool*pool), window order dy, dx
            k = win.argmax(axis=1)                # the first largest, as the firmware's scan
            L.act = act
            L.argmax = L.pool_idx[np.arange(L.nout), k]
            return win[np.arange(L.nout), k]
        pre = self._matvec(L, x[None, :])[0]
        if L is self.layers[-1]:
            return pre
        L.act = np.clip(pre, 0, 255)
        return L.act

    def forward(self, pixels: np.ndarray) -> np.ndarray:
        x = np.asarray(pixels, dtype=np.int64)
        for L in self.layers:
            x = self.layer_forward(L, x)
        return x

    # -- backward -----------------------------------------------------------------------
    def backward(self, err: np.ndarray, lr_shifts: list[int]) -> None:
        """firmware Network.backward: errors back through transposed VMMs, weight
        gradients into the saturating accumulators (block exponent ``e``)."""
        e = 0
        layers = self.layers
        for li in range(len(layers) - 1, -1, -1):
            L = layers[li]
            if L.kind == "conv":
                e = self._conv_backward(L, li, err, lr_shifts[li], e)
                if e is None or not li:
                    return
                err = L.err_in
                continue
            if not err.any():
                return
            err, k = normalize_err(err)
            e += k
            self._accumulate(L, np.outer(L.x, err), lr_shifts[li] + e + L.fshift)
            if li:
                err_in = self._transpose(L, err[None, :])[0]
                e -= L.bshift - L.fshift
                self._autorange(L)
                P = layers[li - 1]
                if P.kind == "fc":  # ReLU derivative; conv: routed in its backward
                    err_in[P.act == 0] = 0
                L.err_in = err_in
                err = err_in

    @staticmethod
    def _accumulate(L: Layer, grad: np.ndarray, sh: int) -> None:
        """acc -= round(grad >> sh), saturating at +-amax."""
        L.acc = np.clip(L.acc - shift_update(grad, sh), -L.amax, L.amax)

    def _transpose(self, L: Layer, E: np.ndarray) -> np.ndarray:
        """out[n, r] = sum over column blocks of ADC(W^T e_n) for each error vector E[n]
        (n transposed VMMs per block, in the firmware's order: vector, then block)."""
        chip = self.chip
        n, nb = E.shape[0], len(L.blocks)
        out = np.zeros((n, L.R), dtype=np.int64)
        base = chip.take_ops(n * nb)
        m = L.bmax
        for bi, (_t, r0, nr, c0, nc, _tc0) in enumerate(L.blocks):
            ops = base + np.arange(n) * nb + bi
            y = chip.vmm(L.w[bi], E[:, c0:c0 + nc], True, ops, L.lines_trans[bi], L.bshift)
            out[:, r0:r0 + nr] += y
            m = max(m, int(np.abs(y).max()))
        L.bmax = m
        return out

    @staticmethod
    def _autorange(L: Layer) -> None:
        if L.bmax >= 127:
            if L.bshift < 24:
                L.bshift += 1
        elif L.bmax < 64 and L.bshift > 0:
            L.bshift -= 1
        L.bmax = 0

    def _conv_backward(self, L: Layer, li: int, err_pooled: np.ndarray, lr_shift: int,
                       e: int) -> int | None:
        derr = np.zeros(L.C * L.npos, dtype=np.int64)
        route = (err_pooled != 0) & (L.act[L.argmax] != 0)
        if not route.any():
            return None
        derr[L.argmax[route]] = err_pooled[route]
        derr, k = normalize_err(derr)
        e += k
        sh = lr_shift + e + L.fshift
        D = derr.reshape(L.C, L.npos).T           # (npos, C): error vector per position
        live = D.any(axis=1)
        Dl = D[live]
        Pl = L.patches[live]
        grad = (Pl.T.astype(np.float64) @ Dl.astype(np.float64)).astype(np.int64)
        if li:
            cols = self._transpose(L, Dl)         # (nlive, R)
            L.err_in = np.bincount(L.im2col[live].ravel(), weights=cols.ravel(),
                                   minlength=L.nin).astype(np.int64)
            e -= L.bshift - L.fshift
            self._autorange(L)
        self._accumulate(L, grad, sh)
        return e
