"""Floating-point software baseline: the same network in float32 numpy, same data.

The firmware's network (same layers, no biases, ReLU, max-pool), trained with plain
SGD on the mean gradient of each batch, visiting the training images in exactly the
firmware's order (its xorshift32 PRNG, consumed as the firmware consumes it: one draw
per initial weight, then the stride and each epoch's start) with the same batch size.
Inputs are pixel / 255; weights start He-uniform (numpy, seeded).  What it is for: each
hardware figure of ``make train`` quoted next to the software one measured the same way
(``make train BASELINE=fp32``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from .firmware_src import networks
from .fixedpoint import XorShift32
from .network import Layer


class FloatNet:
    def __init__(self, spec: tuple, seed: int) -> None:
        self.layers = [Layer(s, 16) for s in spec]
        for L in self.layers:
            L.finish()
        g = np.random.default_rng(seed)
        self.w = [g.uniform(-1, 1, (L.R, L.C)).astype(np.float32) * np.float32(
            math.sqrt(6 / L.R)) for L in self.layers]
        self.n_weights = sum(L.R * L.C for L in self.layers)

    def forward(self, x: np.ndarray, keep: bool = False):
        """Logits (B, classes) of images x (B, 784) float32; with ``keep`` the caches."""
        caches = []
        h = x
        last = len(self.layers) - 1
        for i, (L, w) in enumerate(zip(self.layers, self.w)):
            if L.kind == "conv":
                P = h[:, L.im2col]                        # (B, npos, R)
                a = np.maximum(P @ w, 0)                  # (B, npos, C)
                a = a.transpose(0, 2, 1).reshape(len(h), -1)  # (B, C*npos)
                win = a[:, L.pool_idx]                    # (B, nout, pool*pool)
                k = win.argmax(axis=2)
                out = np.take_along_axis(win, k[..., None], axis=2)[..., 0]
                caches.append((P, a, k))
                h = out
            else:
                z = h @ w
                caches.append((h, z))
                h = z if i == last else np.maximum(z, 0)
        return (h, caches) if keep else h

    def sgd_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> None:
        logits, caches = self.forward(x, keep=True)
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        d = p
        d[np.arange(len(y)), y] -= 1
        d /= len(y)
        for i in range(len(self.layers) - 1, -1, -1):
            L, w = self.layers[i], self.w[i]
            if L.kind == "conv":
                P, a, k = caches[i]
                B = len(d)
                da = np.zeros_like(a)
                idx = np.take_along_axis(np.broadcast_to(L.pool_idx, (B,) + L.pool_idx.shape),
                                         k[..., None], axis=2)[..., 0]
                np.put_along_axis(da, idx, d, axis=1)
                da *= a > 0
                dpre = da.reshape(B, L.C, L.npos).transpose(0, 2, 1)  # (B, npos, C)
                grad = np.einsum("bpr,bpc->rc", P, dpre)
                if i:
                    dP = dpre @ w.T                                      # (B, npos, R)
                    dx = np.zeros((B, L.nin), dtype=np.float32)
                    for b in range(B):
                        np.add.at(dx[b], L.im2col.ravel(), dP[b].ravel())
                    d = dx
            else:
                h, zl = caches[i]
                grad = h.T @ d
                if i:
                    d = (d @ w.T) * (caches[i - 1][1] > 0 if self.layers[i - 1].kind == "fc"
                                     else 1)
            self.w[i] = w - np.float32(lr) * grad.astype(np.float32)

    def predict(self, x: np.ndarray, chunk: int = 500) -> np.ndarray:
        return np.concatenate([self.forward(x[i:i + chunk]).argmax(axis=1)
                               for i in range(0, len(x), chunk)])


def firmware_order(cfg: dict, n_weights: int):
    """The firmware's data order: (stride, start of each epoch) from its PRNG."""
    rng = XorShift32(cfg["seed"])
    for _ in range(n_weights):  # program_initial: one draw per weight
        rng.symmetric(cfg["init_amp"])
    n = cfg["n_train"]
    stride = 1 + 2 * rng.below(n // 2 + 1) if n > 2 else 1
    while n > 1 and math.gcd(stride, n) != 1:
        stride += 1
    starts = [rng.below(n) if n else 0 for _ in range(cfg["epochs"])]
    return stride, starts


def train_fp32(cfg: dict, train, test, lr: float = 0.02,
               on_image: Callable[[int], None] | None = None,
               on_epoch: Callable[[int, float], None] | None = None) -> dict:
    """Train the float baseline; returns images, seconds, per-epoch test accuracy."""
    net = FloatNet(networks()[cfg["net"]], cfg["seed"])
    xs = train[0].reshape(len(train[0]), -1)
    ys = train[1]
    xt = test[0][:cfg["n_test"]].reshape(cfg["n_test"], -1).astype(np.float32) / 255
    yt = test[1][:cfg["n_test"]]
    n, batch = cfg["n_train"], cfg["batch"]
    stride, starts = firmware_order(cfg, net.n_weights)
    per_epoch, seen, train_s = [], 0, 0.0
    for epoch, start in enumerate(starts):
        t = time.perf_counter()
        order = (start + np.arange(n, dtype=np.int64) * stride) % n
        for k in range(0, n, batch):
            idx = order[k:k + batch]
            net.sgd_step(xs[idx].astype(np.float32) / 255, ys[idx].astype(np.int64), lr)
            seen += len(idx)
            if on_image is not None:
                on_image(len(idx))
        train_s += time.perf_counter() - t
        acc = float((net.predict(xt) == yt).mean()) if len(yt) else 0.0
        per_epoch.append({"epoch": epoch + 1, "images_seen": seen, "test_accuracy": acc})
        if on_epoch is not None:
            on_epoch(epoch, acc)
    return {"images_trained": seen, "train_s": train_s, "per_epoch": per_epoch, "lr": lr,
            "weights": net.n_weights, "w": net.w}
