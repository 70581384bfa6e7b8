"""The training loop of firmware/train.py on the host: init, calibration, epochs,
evaluation, and the firmware's RESULT fields, bit for bit.

    t = Trainer(options.parse(net="seedcnn", n_train=100), "seed-chip", train, test)
    t.setup()                     # initial weights (write-verify), ADC-shift calibration
    for epoch in range(t.cfg["epochs"]):
        t.train_epoch()
        acc = t.evaluate(side_effect_free=True)
    res = t.result()              # the firmware's RESULT dict (same keys and values)

``evaluate(side_effect_free=True)`` restores the op counter afterwards: a test pass in the
middle of training then leaves the training's noise sequence as it was, as if the chip
had been evaluated on an identical copy; the final evaluation is the firmware's own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from .chip import Chip
from .firmware_src import networks
from .fixedpoint import XorShift32, argmax_first, ln_q8
from .network import Network
from .options import HOST_ONLY
from .options import dead_cols as dead_cols_of
from .update import Updater

FNV0 = 0x811C9DC5


def fnv(h: int, v: int) -> int:
    """FNV-1a over the 4 bytes of v (firmware train.fnv)."""
    v &= 0xFFFFFFFF
    for _ in range(4):
        h = ((h ^ (v & 0xFF)) * 16777619) & 0xFFFFFFFF
        v >>= 8
    return h


def fnv_words(h: int, words) -> int:
    for v in words:
        h = fnv(h, int(v))
    return h


class Trainer:
    def __init__(self, cfg: dict, preset: str, train: tuple[np.ndarray, np.ndarray],
                 test: tuple[np.ndarray, np.ndarray], stuck_rate: int = 0,
                 chip_image: str | None = None,
                 dead_cols: tuple[tuple[int, int], ...] = ()) -> None:
        """``chip_image``: start from a chip image (model/chip_image.py) instead of a fresh
        array, as the firmware does on a model server started with --chip-image.
        ``dead_cols``: (tile, column) pairs whose cells ignore pulses (model/device.d2d)."""
        self.cfg = cfg
        self.preset = preset
        self.train_x, self.train_y = train
        self.test_x, self.test_y = test
        n = cfg["n_train"]
        if n > len(self.train_x) or cfg["n_test"] > len(self.test_x):
            raise ValueError(f"n_train={n} / n_test={cfg['n_test']} but the data hold "
                             f"{len(self.train_x)} / {len(self.test_x)} images")
        noise = (None, None, None) if cfg["noise"] else (0, 0, 0)
        sig = [s if (not cfg["noise"] or cfg[k] < 0) else cfg[k]
               for s, k in zip(noise, ("noise_read", "noise_pulse", "noise_adc"))]
        opt_rate = cfg.get("stuck_rate", 0)  # the firmware's option (writes STUCK_RATE)
        if stuck_rate and opt_rate and stuck_rate != opt_rate:
            raise ValueError(f"stuck_rate={stuck_rate} and option stuck_rate={opt_rate} "
                             "differ: give one")
        # the firmware's option dead_cols (writes DEAD_COLS), or the argument
        opt_dead = dead_cols_of(cfg.get("net", ""), "dead_cols", cfg.get("dead_cols", ""))
        dead_cols = tuple(tuple(tc) for tc in dead_cols)
        if dead_cols and opt_dead and tuple(sorted(set(dead_cols))) != opt_dead:
            raise ValueError(f"dead_cols={dead_cols} and option dead_cols="
                             f"{cfg['dead_cols']} differ: give one")
        self.chip = Chip(preset, cfg["seed"], *sig, stuck_rate=stuck_rate or opt_rate,
                         dead_cols=dead_cols or opt_dead,
                         **{k: cfg.get(k, v) for k, v in HOST_ONLY.items()})
        if chip_image is not None:
            self.chip.array.load_image(chip_image)
        self.net = Network(networks()[cfg["net"]], self.chip, cfg["acc_bits"])
        self.net.freeze = cfg["freeze"]
        self.net.adapt = cfg.get("lr_adapt", 0) > 0
        self.net.brange_lo = cfg.get("brange_lo", 64)
        self.upd = Updater(self.chip, self.net, cfg)
        # forward calibration: its images (the first; the firmware's data file holds
        # max(n_train, 1)) and target, before training and every ``recal`` images
        self.n_cal = min(cfg["n_calib"], max(cfg["n_train"], 1))
        self.cal_target = cfg.get("cal_target", 96)
        self.rng = XorShift32(cfg["seed"])
        self.upd.rng = self.rng  # sr: the firmware's one PRNG
        self.epoch = 0          # epochs completed
        self.seen = 0           # training images seen
        self.stride = 1
        self.init_pulses = self.init_reads = 0
        self.ms = {"init_ms": 0, "calib_ms": 0, "train_ms": 0, "test_ms": 0}
        self.last_epoch = {}    # train accuracy and loss of the last epoch

    # -- before training -----------------------------------------------------------------
    def setup(self) -> int:
        """Initial weights and calibration (the firmware's, in its order); returns the
        cells the last verify read outside tolerance."""
        cfg = self.cfg
        t = time.perf_counter()
        miss = self.upd.program_initial(self.rng, cfg["init_amp"], cfg["init_iters"])
        self.init_pulses, self.init_reads = self.chip.n_pulses, self.chip.n_read
        self.ms["init_ms"] = _ms(t)
        t = time.perf_counter()
        self.calibrate(self.n_cal, self.cal_target)
        self.ms["calib_ms"] = _ms(t)
        n = cfg["n_train"]
        self.stride = 1 + 2 * self.rng.below(n // 2 + 1) if n > 2 else 1
        while n > 1 and math.gcd(self.stride, n) != 1:
            self.stride += 1
        return miss

    def calibrate(self, n: int, target: int = 96, target_logits: int = 32,
                  during: bool = False) -> None:
        """firmware train.calibrate: each layer's forward ADC shift, in order; ``during``
        (recal): the hidden layers only, the logits' shift moved by minus their total
        change (the logits keep their scale)."""
        net = self.net
        xs = [self.train_x[i].reshape(-1).astype(np.int64) for i in range(n)]
        layers = net.layers[:-1] if during else net.layers
        moved = 0
        net.calibrating = True
        for li, L in enumerate(layers):
            if L is net.layers[-1]:
                target = target_logits
            f0 = L.fshift
            L.fshift = 14
            for _ in range(6):
                L.maxcode = 0
                for x in xs:
                    net.layer_forward(L, x)
                m = L.maxcode
                if m >= 127:
                    L.fshift += 2
                    continue
                if m == 0:
                    L.fshift -= 6
                    continue
                d = (target // m).bit_length() - 1 if m <= target else -1
                if d == 0:
                    break
                L.fshift -= d
            L.fshift = min(max(L.fshift, 0), 31)
            moved += L.fshift - f0
            L.maxcode = 0
            if li + 1 < len(layers):
                xs = [net.layer_forward(L, x).copy() for x in xs]
        net.calibrating = False
        if during:
            last = net.layers[-1]
            last.fshift = min(max(last.fshift - moved, 0), 31)

    # -- training ------------------------------------------------------------------------
    def decay(self, epoch: int) -> int:
        """Shifts added to the learning rate in this epoch (lr_step)."""
        step = self.cfg["lr_step"]
        return epoch // step if step else 0

    def lr_shifts(self, epoch: int) -> list[int]:
        """The learning-rate shifts of ``epoch`` after the warm-up (warm_extra)."""
        return [s + self.decay(epoch) for s in self.cfg["lr_shifts"]]

    def train_epoch(self, on_image: Callable[[int], None] | None = None) -> None:
        """One epoch in the firmware's order; ``on_image(k)`` after each image."""
        cfg, net, upd = self.cfg, self.net, self.upd
        n, batch = cfg["n_train"], cfg["batch"]
        decay = self.decay(self.epoch)
        recal = cfg.get("recal", 0)
        start = self.rng.below(n) if n else 0
        correct = loss_q8 = 0
        t = time.perf_counter()
        for k in range(n):
            upd.decay = decay + warm_extra(self.seen, cfg)  # lr_adapt's band follows it
            shifts = [s + upd.decay for s in cfg["lr_shifts"]]
            idx = (start + k * self.stride) % n
            label = int(self.train_y[idx])
            logits = net.forward(self.train_x[idx].reshape(-1))
            correct += argmax_first(logits) == label
            err, p = net.output_error(logits, label)
            loss_q8 += ln_q8(p)
            net.backward(err, shifts)
            self.seen += 1
            if (k + 1) % batch == 0 or k + 1 == n:
                upd.apply()
            if recal and self.seen % recal == 0:
                self.calibrate(self.n_cal, self.cal_target, during=True)
            if on_image is not None:
                on_image(k)
        self.ms["train_ms"] += _ms(t)
        self.epoch += 1
        self.last_epoch = {"train_correct": int(correct), "loss_q8": loss_q8 // max(n, 1)}

    # -- evaluation ----------------------------------------------------------------------
    def evaluate(self, n_test: int | None = None, side_effect_free: bool = False,
                 on_images: Callable[[int], None] | None = None
                 ) -> tuple[int, int, np.ndarray]:
        """(correct, FNV digest of the predictions, predictions) on the first n_test test
        images (firmware train.evaluate).  ``side_effect_free``: the op counter is put
        back afterwards (``commit_evaluation`` applies it later if wanted).
        ``on_images(k)``: k images evaluated so far, every 500 and at the end."""
        n = self.cfg["n_test"] if n_test is None else n_test
        chip = self.chip
        saved = (chip.op, chip.n_vmm)
        t = time.perf_counter()
        preds = np.empty(n, dtype=np.int64)
        for i in range(n):
            preds[i] = argmax_first(self.net.forward(self.test_x[i].reshape(-1)))
            if on_images is not None and ((i + 1) % 500 == 0 or i + 1 == n):
                on_images(i + 1)
        ms = _ms(t)
        if side_effect_free:
            self._evaluated = (chip.op, chip.n_vmm, ms)
            chip.op, chip.n_vmm = saved
        else:
            self.ms["test_ms"] += ms
        correct = int((preds == self.test_y[:n]).sum())
        return correct, fnv_words(FNV0, preds), preds

    def commit_evaluation(self) -> None:
        """Make the last side-effect-free evaluation count, as the firmware's final
        evaluation does (op counter, VMM count, time): for a checkpoint written between
        the evaluation and its effects."""
        self.chip.op, self.chip.n_vmm, ms = self._evaluated
        self.ms["test_ms"] += ms

    # -- what the firmware reports ---------------------------------------------------------
    def writes_per_weight(self) -> np.ndarray:
        return np.concatenate([w.ravel() for w in self.upd.writes])

    def digests(self) -> tuple[int, int, int]:
        """(accumulator, conductance and state digests): firmware train.digest_state (the
        state digest: of those two and of the write counters of the same cell pairs)."""
        acc = np.concatenate([L.acc.ravel() for L in self.net.layers])
        ha = fnv_words(FNV0, acc)
        g, wc = self.chip.array.g, self.chip.array.wc
        hg = hw = FNV0
        for L in self.net.layers:
            for tile, _r0, nr, _c0, nc, tc0 in L.blocks:
                words = g[tile, :nr, tc0:tc0 + nc, 0] | g[tile, :nr, tc0:tc0 + nc, 1] << 16
                hg = fnv_words(hg, words.ravel())
                words = wc[tile, :nr, tc0:tc0 + nc, 0] | wc[tile, :nr, tc0:tc0 + nc, 1] << 16
                hw = fnv_words(hw, words.ravel())
        return ha, hg, fnv(fnv(fnv(FNV0, ha), hg), hw)

    def result(self, correct: int, pred_digest: int, digest: bool = False) -> dict:
        """The firmware's RESULT dict for this run (timing fields are the host's)."""
        cfg, chip, upd, net = self.cfg, self.chip, self.upd, self.net
        w = np.minimum(self.writes_per_weight(), 15)  # the firmware's 4-bit counters
        res = {
            "net": cfg["net"], "mode": cfg["mode"], "acc_bits": cfg["acc_bits"],
            "seed": cfg["seed"], "epochs": cfg["epochs"], "images_trained": self.seen,
            "n_test": cfg["n_test"], "test_correct": correct,
            "test_accuracy_x100": correct * 10000 // max(cfg["n_test"], 1),
            "weights": net.n_weights, "weight_updates": upd.n_updates,
            "weights_written": int((w > 0).sum()), "max_writes_per_weight": int(w.max()),
            "writes_histogram": np.bincount(w, minlength=16).tolist(),
            "vmm_ops": chip.n_vmm, "read_ops": chip.n_read, "pulse_ops": chip.n_pulse_ops,
            "pulses": chip.n_pulses, "wv_misses": upd.n_wv_miss,
            "stuck_cells": upd.n_stuck, "retired_weights": upd.n_retired,
            "init_pulses": self.init_pulses, "init_reads": self.init_reads,
            "fshift": [L.fshift for L in net.layers], "bshift": [L.bshift for L in net.layers],
            **self.ms,
            "pred_digest": pred_digest,
        }
        if digest:
            res["acc_digest"], res["g_digest"], res["state_digest"] = self.digests()
            res["stuck_digest"] = fnv_words(FNV0, self.stuck_map())
        return res

    def stuck_map(self) -> np.ndarray:
        """The firmware's retired-weight map (update.py): 1 bit a weight, the network's
        flat weight order, eight weights a byte (the first in the low bit).  (The trainer
        keeps 2 bits a weight: which cell of the pair was found stuck.)"""
        flat = np.concatenate([s.reshape(-1) != 0 for s in self.upd.stuck])
        return np.packbits(flat, bitorder="little").astype(np.int64)


def warm_extra(seen: int, cfg: dict) -> int:
    """Shifts the learning-rate warm-up adds at training image ``seen`` (firmware
    train.warm_extra): warm_shift at the first, down linearly to 1 at the last of
    ``warmup`` images, then 0."""
    warmup, ws = cfg.get("warmup", 0), cfg.get("warm_shift", 2)
    return 0 if seen >= warmup else (ws * (warmup - seen) + warmup - 1) // warmup


def _ms(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)


# -- state that outlives a run ----------------------------------------------------------

def save_state(t: Trainer, path, history: list, extra: dict | None = None):
    """Checkpoint everything the next epoch depends on (checkpoint.py)."""
    from . import checkpoint
    chip, net, upd = t.chip, t.net, t.upd
    arrays = {"g": chip.array.g, "wc": chip.array.wc}
    for i, L in enumerate(net.layers):
        arrays[f"acc_{i}"] = L.acc
        arrays[f"writes_{i}"] = upd.writes[i]
        arrays[f"stuck_{i}"] = upd.stuck[i]
    meta = {
        "cfg": {k: v for k, v in t.cfg.items()}, "preset": t.preset,
        "stuck_rate": chip.stuck_rate, "dead_cols": [list(tc) for tc in chip.dead_cols],
        "chip": {"op": chip.op, "n_vmm": chip.n_vmm, "n_read": chip.n_read,
                 "n_pulse_ops": chip.n_pulse_ops, "n_pulses": chip.n_pulses},
        "layers": [{"fshift": L.fshift, "bshift": L.bshift, "bmax": L.bmax,
                    "lra": L.lra, "umax": L.umax} for L in net.layers],
        "upd": {"n_updates": upd.n_updates, "n_wv_miss": upd.n_wv_miss,
                "n_stuck": upd.n_stuck, "n_retired": upd.n_retired},
        "rng": t.rng.s, "stride": t.stride, "epoch": t.epoch, "seen": t.seen,
        "init_pulses": t.init_pulses, "init_reads": t.init_reads, "ms": t.ms,
        "last_epoch": t.last_epoch, "history": history, **(extra or {}),
    }
    return checkpoint.save(path, arrays, meta)


def load_state(path, train, test) -> tuple[Trainer, dict]:
    """A Trainer in the state of a checkpoint, and the checkpoint's metadata."""
    from . import checkpoint
    arrays, meta = checkpoint.load(path)
    t = Trainer(meta["cfg"], meta["preset"], train, test, stuck_rate=meta["stuck_rate"],
                dead_cols=tuple(tuple(tc) for tc in meta.get("dead_cols", ())))
    chip, net, upd = t.chip, t.net, t.upd
    if arrays["g"].shape != chip.array.g.shape:
        raise checkpoint.CheckpointError(f"{path}: array shape {arrays['g'].shape} does not "
                                         f"fit preset {meta['preset']}")
    chip.array.g[...] = arrays["g"]
    chip.array.wc[...] = arrays["wc"]
    for k, v in meta["chip"].items():
        setattr(chip, k, v)
    for i, (L, s) in enumerate(zip(net.layers, meta["layers"])):
        L.acc[...] = arrays[f"acc_{i}"]
        upd.writes[i][...] = arrays[f"writes_{i}"]
        if f"stuck_{i}" in arrays:  # (checkpoints before stuck-cell recognition: none)
            upd.stuck[i][...] = arrays[f"stuck_{i}"]
        L.fshift, L.bshift, L.bmax = s["fshift"], s["bshift"], s["bmax"]
        L.lra, L.umax = s.get("lra", 0), s.get("umax", 0)  # (lr_adapt; 0 before it)
    upd.n_updates, upd.n_wv_miss = meta["upd"]["n_updates"], meta["upd"]["n_wv_miss"]
    upd.n_stuck = meta["upd"].get("n_stuck", 0)
    upd.n_retired = meta["upd"].get("n_retired", 0)
    t.rng.s, t.stride, t.epoch, t.seen = meta["rng"], meta["stride"], meta["epoch"], meta["seen"]
    t.init_pulses, t.init_reads = meta["init_pulses"], meta["init_reads"]
    t.ms, t.last_epoch = meta["ms"], meta["last_epoch"]
    net.refresh_weights()
    return t, meta
