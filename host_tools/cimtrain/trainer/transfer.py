"""Transfer: a trained chip's weights write-verified onto a fresh chip, evaluated there.

A fresh chip is another draw of device-to-device variation (its SEED), so the same
target codes take other pulses to reach and land elsewhere within the write-verify
tolerance.  Each pair (G+, G-) is programmed to (REF + w, REF), w = G+ - G- of the
trained pair: the weight, not the two codes, is what the network needs.  The ADC shifts
are digital settings and go along with the weights.  Nothing is retrained.

The float baseline goes the same way (``float_transfer_accuracy``): each layer's float
weights scaled so that the largest magnitude is ``FLOAT_MAX_CODE`` codes, rounded,
programmed, the forward ADC shifts calibrated as the firmware does (a float network has
none; ReLU, max-pool and argmax ignore a positive scale per layer), evaluated.

    python -m cimtrain.trainer.transfer results/<run> [--seeds 1001,1002,1003]

does it for the trained chip of a ``make train`` run (its chip.npz), writing
results/<run>/transfer.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .loop import Trainer
from .update import REF

FLOAT_MAX_CODE = 256  # the firmware's init_amp: weights as large as its initial ones


def block_order(L, w: np.ndarray) -> np.ndarray:
    """A layer's (R, C) weights in the firmware's programming order: blocks, rows,
    columns (the order of Updater.program's targets)."""
    return np.concatenate([w[r0:r0 + nr, c0:c0 + nc].ravel()
                           for _t, r0, nr, c0, nc, _tc0 in L.blocks])


def trained_weights(t: Trainer) -> list[np.ndarray]:
    """Per layer, w = G+ - G- of every pair, in programming order."""
    return [block_order(L, t.net.weights(L)) for L in t.net.layers]


def _fresh(t: Trainer, seed: int) -> Trainer:
    """A chip of another seed, with t's options (so the same noise settings)."""
    return Trainer(dict(t.cfg, seed=seed), t.preset, (t.train_x, t.train_y),
                   (t.test_x, t.test_y), stuck_rate=t.chip.stuck_rate)


def transfer(t: Trainer, seed: int, iters: int | None = None) -> tuple[Trainer, int]:
    """The trained weights of ``t`` on a fresh chip of ``seed`` (write-verified in
    ``iters`` rounds a row, default t's wv_iters), with t's ADC shifts; returns the fresh
    chip's Trainer and the cells its last verify read outside tolerance."""
    fresh = _fresh(t, seed)
    iters = t.cfg["wv_iters"] if iters is None else iters
    miss = fresh.upd.program([REF + w for w in trained_weights(t)], iters)
    for a, b in zip(fresh.net.layers, t.net.layers):
        a.fshift = b.fshift
    return fresh, miss


def transfer_accuracy(t: Trainer, seed: int, iters: int | None = None) -> dict:
    """Test accuracy of t's weights on a fresh chip, and how far the weights moved."""
    fresh, miss = transfer(t, seed, iters)
    correct, _, _ = fresh.evaluate()
    err = np.concatenate([(fresh.net.weights(a) - t.net.weights(b)).ravel()
                          for a, b in zip(fresh.net.layers, t.net.layers)])
    return {"seed": seed, "wv_iters": fresh.cfg["wv_iters"] if iters is None else iters,
            "cells_missed": int(miss), "test_accuracy": correct / max(t.cfg["n_test"], 1),
            "weight_error_rms": float(np.sqrt((err.astype(float) ** 2).mean())),
            "weight_error_max": int(np.abs(err).max())}


def float_transfer_accuracy(cfg: dict, preset: str, train, test, seed: int,
                            lr: float = 0.02) -> dict:
    """Train the fp32 baseline (baseline.py) with ``cfg``, then program its weights onto a
    fresh chip of ``seed`` and evaluate there: the float model's accuracy and its
    accuracy on the chip."""
    from .baseline import train_fp32
    r = train_fp32(cfg, train, test, lr)
    chip = Trainer(dict(cfg, seed=seed), preset, train, test)
    targets = []
    for L, w in zip(chip.net.layers, r["w"]):
        scale = FLOAT_MAX_CODE / max(float(np.abs(w).max()), 1e-12)
        targets.append(block_order(L, np.rint(w * scale).astype(np.int64)))
    miss = chip.upd.program([REF + w for w in targets], cfg["wv_iters"])
    chip.calibrate(cfg["n_calib"], cfg["cal_target"])
    correct, _, _ = chip.evaluate()
    return {"float_accuracy": r["per_epoch"][-1]["test_accuracy"] if r["per_epoch"] else 0.0,
            "seed": seed, "cells_missed": int(miss),
            "test_accuracy": correct / max(cfg["n_test"], 1)}


def from_run(run: Path, train, test) -> Trainer:
    """The trained chip of a ``make train`` run folder (its chip.npz and options)."""
    from . import options
    res = json.loads((run / "train.json").read_text())
    cfg = options.parse({k: v for k, v in res["options"].items() if k != "lr_shifts"},
                        host=True)
    t = Trainer(cfg, res["preset"], train, test, chip_image=str(run / "chip.npz"))
    with np.load(run / "chip.npz") as z:
        for L, s in zip(t.net.layers, z["fshift"]):
            L.fshift = int(s)
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m cimtrain.trainer.transfer",
        description="Program a trained run's weights onto fresh chips; accuracy lost.")
    ap.add_argument("runs", nargs="+", type=Path, help="results/<run> folders of make train")
    ap.add_argument("--seeds", default="1001,1002,1003", help="fresh chips' seeds")
    ap.add_argument("--iters", type=int, default=None, help="write-verify rounds a row "
                    "(default: the run's wv_iters)")
    a = ap.parse_args(argv)
    from .. import dataset
    train, test = dataset.load("train"), dataset.load("test")
    for run in a.runs:
        t = from_run(run, train, test)
        here, _, _ = t.evaluate()
        out = {"run": run.name, "trained_chip_accuracy": here / t.cfg["n_test"],
               "fresh": [transfer_accuracy(t, int(s), a.iters) for s in a.seeds.split(",")]}
        lost = [out["trained_chip_accuracy"] - f["test_accuracy"] for f in out["fresh"]]
        out["lost_mean"], out["lost_max"] = float(np.mean(lost)), float(np.max(lost))
        (run / "transfer.json").write_text(json.dumps(out, indent=1) + "\n")
        print(f"{run.name}: {100 * out['trained_chip_accuracy']:.2f}% on the trained chip; "
              f"on fresh chips " + ", ".join(f"{100 * f['test_accuracy']:.2f}%"
                                             for f in out["fresh"])
              + f": {100 * out['lost_mean']:.2f} points lost on average "
              f"(max {100 * out['lost_max']:.2f}); weight error rms "
              f"{np.mean([f['weight_error_rms'] for f in out['fresh']]):.1f} codes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
