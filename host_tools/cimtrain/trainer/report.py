"""Figures of trainer runs (matplotlib, PNG): learning curve, writes per weight,
conductances per layer.

    python -m cimtrain.trainer.report results/latest results/<other run> [--out FILE]

draws the learning curves of several runs on one figure (each run's folder holds its
train.json, written by ``make train``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def curve_png(runs: list[dict], out: Path, title: str = "") -> Path:
    """Accuracy against training images seen, one line per run: the test subset of make
    train's curve points, make cosim's running training accuracy (points with
    ``train_accuracy``), each epoch's test; weight updates on a second axis where the
    points carry them (make cosim)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    ax2 = None
    accs = []
    for r in runs:
        pts = r.get("curve") or []
        label = r.get("label") or r.get("run", "run")
        test = [p for p in pts if "test_accuracy" in p]
        train = [p for p in pts if "train_accuracy" in p and "test_accuracy" not in p]
        if test:
            ax.plot([p["images_seen"] for p in test], [100 * p["test_accuracy"] for p in test],
                    marker=".", label=f"{label} (test subset)")
        if train:
            ax.plot([p["images_seen"] for p in train],
                    [100 * p["train_accuracy"] for p in train], marker=".", ms=3,
                    label=f"{label} (training, running mean of the epoch)")
        ep = r.get("per_epoch") or []
        if ep:
            ax.plot([e["images_seen"] for e in ep], [100 * e["test_accuracy"] for e in ep],
                    "o", ms=7, mfc="none", label=f"{label}: epoch end, {r.get('n_test')} test")
        upd = [p for p in pts if p.get("weight_updates") is not None]
        if upd:
            ax2 = ax2 or ax.twinx()
            ax2.plot([p["images_seen"] for p in upd], [p["weight_updates"] for p in upd],
                     ":", lw=1.2, color="0.35", label=f"{label}: weight updates")
        accs += [100 * p["test_accuracy"] for p in test]
        accs += [100 * p["train_accuracy"] for p in train]
        accs += [100 * e["test_accuracy"] for e in ep]
    ax.set_xlabel("training images seen")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(max(0, 10 * int(min(accs, default=0) // 10) - 5) if accs else 0, 100)
    ax.grid(alpha=0.3)
    if ax2 is not None:
        ax2.set_ylabel("weight updates (device writes)")
        ax2.set_ylim(bottom=0)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
    else:
        ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or "cimtrain: test accuracy")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def writes_png(writes: np.ndarray, out: Path, title: str = "") -> Path:
    """Histogram of device programming events per weight."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    top = int(writes.max(initial=0))
    bins = np.arange(0, top + 2) - 0.5 if top <= 60 else 60
    ax.hist(writes, bins=bins, color="tab:red", alpha=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("writes per weight (threshold crossings that programmed the pair)")
    ax.set_ylabel("weights")
    ax.set_title(title or f"writes per weight: mean {writes.mean():.2f}, max {top}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def conductance_png(layers: list[tuple[str, np.ndarray, np.ndarray]], out: Path) -> Path:
    """Per layer: histograms of G+ codes and of the effective weights G+ - G-."""
    plt = _plt()
    fig, axes = plt.subplots(len(layers), 2, figsize=(8, 1.7 * len(layers) + 0.6), dpi=110,
                             squeeze=False)
    for (name, gp, w), (a0, a1) in zip(layers, axes):
        a0.hist(gp.ravel(), bins=64, color="tab:blue")
        a0.set_ylabel(name, fontsize=8)
        a1.hist(w.ravel(), bins=64, color="tab:green")
    axes[0, 0].set_title("G+ (conductance code)", fontsize=9)
    axes[0, 1].set_title("weight G+ - G- (codes)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cimtrain.trainer.report",
                                 description="learning curves of several runs on one figure")
    ap.add_argument("runs", nargs="+", help="run folders (or their train.json)")
    ap.add_argument("--out", default="results/compare.png")
    a = ap.parse_args(argv)
    runs = []
    for r in a.runs:
        p = Path(r)
        p = p / "train.json" if p.is_dir() else p
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError) as e:
            print(f"report: {p}: {e}", file=sys.stderr)
            return 2
        d.setdefault("label", p.parent.name)
        runs.append(d)
    print(curve_png(runs, Path(a.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
