"""`make train`: the firmware's training on full MNIST with the vectorized trainer.

    make train                                  # LeNet-5, 60,000 images, 1 epoch, noise on
    make train EPOCHS=3 SEED=2 ARGS="lr=-12 batch=16"
    make train PRESET=seed-chip                 # 4 tiles of 64 x 64, the smaller CNN
    make train RESUME=results/<run>/checkpoint.npz EPOCHS=5   # continue a run
    make train BASELINE=fp32                    # the float software baseline, same data
    python -m cimtrain.trainer --help           # every knob

Each run writes its own folder results/<date>-<time>-<name>/ (train.json, PNG figures,
the trained chip image chip.npz, the last checkpoint.npz); results/train.json is a copy
of the newest run's JSON and results/latest points at its folder.  Ctrl-C or SIGTERM
stop at once and say how to resume from the last epoch's checkpoint.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

from .. import dataset, knobs, regs
from ..paths import ROOT
from ..progress import Progress
from ..runs import provenance, publish, run_dir
from . import options
from .checkpoint import CheckpointError
from .loop import Trainer, load_state, save_state

RESULTS = ROOT / "results"
DEFAULT_EPOCHS = 5  # full MNIST: 98.5% and more with lr_step=1 (docs/results.md)


def env_int(name: str, default: int | None) -> int | None:
    return knobs.env_int("train", name, default)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Every knob is checked here, before MNIST is loaded or a folder made, as make cosim's
    are (cimtrain/knobs.py): an error names the knob, the value and what is allowed."""
    e = os.environ.get
    choices = {"preset": ("PRESET", sorted(regs.PRESETS)), "mode": ("MODE", ["open", "wv"]),
               "baseline": ("BASELINE", ["", "fp32"])}
    ap = argparse.ArgumentParser(prog="python -m cimtrain.trainer",
                                 description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    ap.add_argument("--preset", default=e("PRESET", "default"), choices=choices["preset"][1])
    ap.add_argument("--n-train", type=int, default=env_int("N_TRAIN", 60000),
                    help="training images per epoch (default 60000: full MNIST)")
    ap.add_argument("--n-test", type=int, default=env_int("N_TEST", 10000),
                    help="test images (default 10000)")
    ap.add_argument("--epochs", type=int, default=env_int("EPOCHS", None),
                    help=f"epochs (default {DEFAULT_EPOCHS}: the learning rate halves each "
                    "epoch, lr_step=1); with RESUME, raise the checkpoint's epoch count to it")
    ap.add_argument("--seed", type=int, default=env_int("SEED", 1))
    ap.add_argument("--mode", default=e("MODE", "open"), choices=choices["mode"][1])
    ap.add_argument("--baseline", default=e("BASELINE", ""), choices=choices["baseline"][1],
                    help="fp32: train the float software baseline instead")
    ap.add_argument("--lr-fp32", type=float, default=0.02, help="baseline SGD learning rate")
    ap.add_argument("--resume", default=e("RESUME", ""), metavar="CHECKPOINT",
                    help="continue from a checkpoint (EPOCHS may raise the epoch count)")
    ap.add_argument("--name", default=e("NAME", ""), help="run name (results folder suffix)")
    ap.add_argument("--curve-points", type=int, default=10,
                    help="test-subset evaluations per epoch for the learning curve")
    ap.add_argument("--curve-test", type=int, default=1000,
                    help="test images of each learning-curve point")
    ap.add_argument("--out", default=str(RESULTS), help="results folder")
    ap.add_argument("--stuck", default=e("STUCK", ""), metavar="FRACTION",
                    help="train on a chip where this fraction of the cells ignores pulses "
                    "(e.g. 0.01; STUCK_RATE), with the stuck-cell check on (stuck_check=1)")
    ap.add_argument("--dead-cols", default=e("DEAD_COLS", ""), metavar="TILE:COL,...",
                    help="train on a chip whose columns these are dead (every cell ignores "
                    "pulses), e.g. 0:3,2:17; the stuck-cell check on (stuck_check=1)")
    ap.add_argument("args", nargs="*", metavar="KEY=VALUE",
                    help="firmware options (firmware/train.py DEFAULTS), e.g. lr=-12")
    a = ap.parse_intermixed_args(argv)
    a.args = e("ARGS", "").split() + a.args
    knobs.check_choices(ap, a, choices)
    knobs.check_name(ap, "NAME", a.name)
    knobs.check_ranges(ap, (("N_TRAIN", a.n_train, 1, 60000), ("N_TEST", a.n_test, 1, 10000),
                            ("EPOCHS", a.epochs, 1, 1000), ("SEED", a.seed, 0, (1 << 32) - 1),
                            ("--curve-points", a.curve_points, 0, 1000),
                            ("--curve-test", a.curve_test, 1, 10000)))
    if not (math.isfinite(a.lr_fp32) and a.lr_fp32 > 0):
        ap.error(f"--lr-fp32={a.lr_fp32}: a learning rate > 0")
    if a.resume and not Path(a.resume).is_file():
        ap.error(f"RESUME={a.resume}: no such file (a run's checkpoint, e.g. "
                 "results/latest/checkpoint.npz)")
    if a.stuck.strip():
        a.args = knobs.stuck_args(ap, a.stuck, a.args)
    if a.dead_cols.strip():
        a.args = knobs.dead_cols_args(ap, options.NET_OF_PRESET[a.preset], a.dead_cols,
                                      a.args)
    knobs.check_options(ap, "ARGS", _base_cfg(a), a.args, host=True)
    return a


def _base_cfg(a: argparse.Namespace) -> dict:
    return {"net": options.NET_OF_PRESET[a.preset], "n_train": a.n_train, "n_test": a.n_test,
            "epochs": a.epochs or DEFAULT_EPOCHS, "seed": a.seed, "mode": a.mode}


def build_cfg(a: argparse.Namespace) -> dict:
    """The run's options (checked already by parse_args)."""
    return options.parse({**_base_cfg(a), **dict(s.split("=", 1) for s in a.args)},
                         host=True)


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during training; the message says where to resume."""


def load_data(a: argparse.Namespace):
    try:
        return dataset.load("train"), dataset.load("test")
    except dataset.DatasetError as e:
        raise SystemExit(f"train: MNIST: {e}") from None


def run_baseline(a: argparse.Namespace, cfg: dict, train, test) -> dict:
    from .baseline import train_fp32
    d = run_dir(Path(a.out), a.name or f"fp32-{cfg['net']}")
    prog = Progress(cfg["n_train"] * cfg["epochs"], "fp32 baseline")
    t0 = time.perf_counter()
    r = train_fp32(cfg, train, test, a.lr_fp32, on_image=lambda k: prog.update(k),
                   on_epoch=lambda ep, acc: prog.write(f"epoch {ep + 1}: test accuracy "
                                                        f"{100 * acc:.2f}%"))
    prog.close()
    res = {"kind": "fp32-baseline", "run": d.name, "net": cfg["net"], "seed": cfg["seed"],
           "batch": cfg["batch"], "lr": r["lr"], "optimizer": "SGD (mean gradient per batch)",
           "images_trained": r["images_trained"],
           "images_per_s": r["images_trained"] / max(r["train_s"], 1e-9),
           "test_accuracy": r["per_epoch"][-1]["test_accuracy"], "n_test": cfg["n_test"],
           "per_epoch": r["per_epoch"], "curve": [], "wall_s": time.perf_counter() - t0,
           **_provenance(a)}
    (d / "train.json").write_text(json.dumps(res, indent=1) + "\n")
    from .report import curve_png
    curve_png([res | {"label": "fp32"}], d / "accuracy.png", "fp32 software baseline")
    publish(Path(a.out), d, res, Path(a.out) / "train.json")
    print(f"fp32 baseline: {res['images_trained']} images, test accuracy "
          f"{100 * res['test_accuracy']:.2f}% on {cfg['n_test']}; {res['images_per_s']:.0f} "
          f"img/s; results in {d}")
    return res


def _provenance(a: argparse.Namespace) -> dict:
    return provenance("cimtrain.trainer", ("N_TRAIN", "N_TEST", "EPOCHS", "SEED", "PRESET",
                                           "MODE", "ARGS", "RESUME", "STUCK", "DEAD_COLS"))


def writes_stats(t: Trainer) -> dict:
    w = t.writes_per_weight()
    return {"writes_per_weight_mean": float(w.mean()), "writes_per_weight_max": int(w.max()),
            "weights_written": int((w > 0).sum())}


def train(a: argparse.Namespace, train_data, test_data) -> dict:
    out = Path(a.out)
    history: list = []
    curve: list = []
    if a.resume:
        t, meta = load_state(a.resume, train_data, test_data)
        history, curve = meta["history"], meta.get("curve", [])
        if a.epochs is not None and a.epochs > t.cfg["epochs"]:
            t.cfg["epochs"] = a.epochs
        if t.epoch >= t.cfg["epochs"]:
            raise CheckpointError(f"{a.resume} already holds {t.epoch} epoch(s): raise "
                                  f"EPOCHS (--epochs) above {t.epoch} to train on")
        if a.args:
            print("train: note: options come from the checkpoint; "
                  f"{' '.join(a.args)} ignored", flush=True)
        print(f"train: resumed {a.resume} after epoch {t.epoch} ({t.seen} images); "
              f"{t.cfg['epochs'] - t.epoch} epoch(s) to go", flush=True)
        name = a.name or Path(a.resume).parent.name.split("-", 2)[-1] + "-resumed"
    else:
        t = Trainer(build_cfg(a), a.preset, train_data, test_data)
        name = a.name or f"{t.cfg['net']}-{t.cfg['mode']}-s{t.cfg['seed']}"
    cfg = t.cfg
    d = run_dir(out, name)
    ckpt = d / "checkpoint.npz"
    print(f"train: {cfg['net']} on preset {t.preset}: {t.net.n_weights} weights, mode "
          f"{cfg['mode']}, acc {cfg['acc_bits']} bits, lr {cfg['lr']}, batch {cfg['batch']}; "
          f"{cfg['n_train']} training / {cfg['n_test']} test images x {cfg['epochs']} "
          f"epoch(s); results in {d.relative_to(ROOT) if d.is_relative_to(ROOT) else d}",
          flush=True)
    variant = {k: cfg[k] for k, v in options.HOST_ONLY.items() if cfg.get(k, v) != v}
    if variant:  # a chip the firmware's macro does not have: no firmware twin of this run
        print("train: chip variant " + " ".join(f"{k}={v}" for k, v in variant.items())
              + " (the trainer's chip only)", flush=True)
    t0 = time.perf_counter()
    if not a.resume:
        miss = t.setup()
        print(f"init: {t.net.n_weights} weights write-verified in {t.ms['init_ms']} ms, "
              f"{miss} cells read outside +-{cfg['wv_tol']}; calibrated forward ADC shifts "
              f"{[L.fshift for L in t.net.layers]} in {t.ms['calib_ms']} ms", flush=True)
    n = cfg["n_train"]
    points = sorted({max(1, n * (i + 1) // a.curve_points) for i in range(a.curve_points)}
                    ) if a.curve_points > 0 else []
    n_curve = min(a.curve_test, cfg["n_test"])
    prog = Progress(n * (cfg["epochs"] - t.epoch), "train")
    train_s = 0.0
    eval_s = [0.0]  # learning-curve evaluations inside the epochs: not training time
    saved = [t.epoch if a.resume else 0]  # epochs in the newest checkpoint

    def on_image(k: int) -> None:
        if (k + 1) % 250 == 0 or k + 1 == n:
            prog.update(250 if (k + 1) % 250 == 0 else (k + 1) % 250,
                        updates=t.upd.n_updates)
        if points and k + 1 == points[0]:
            points.pop(0)
            if k + 1 < n:  # the epoch end is evaluated on the full test set below
                te = time.perf_counter()
                c, _, _ = t.evaluate(n_curve, side_effect_free=True)
                eval_s[0] += time.perf_counter() - te
                curve.append({"images_seen": t.seen, "test_accuracy": c / max(n_curve, 1)})

    try:
        while t.epoch < cfg["epochs"]:
            ts = time.perf_counter()
            points[:] = sorted({max(1, n * (i + 1) // a.curve_points)
                                for i in range(a.curve_points)}) if a.curve_points > 0 else []
            t.train_epoch(on_image)
            train_s += time.perf_counter() - ts - eval_s[0]
            eval_s[0] = 0.0
            # evaluated without advancing the op counter, so that the checkpoint holds
            # the training state: a resumed run continues exactly where this one does
            # (its bar: about 4 s for 10,000 images)
            ev = Progress(cfg["n_test"], f"test after epoch {t.epoch}", leave=False)
            correct, pred_digest, _ = t.evaluate(side_effect_free=True, on_images=ev.to)
            ev.close()
            acc = correct / cfg["n_test"]
            curve.append({"images_seen": t.seen, "test_accuracy": acc})
            history.append({"epoch": t.epoch, "images_seen": t.seen, "test_accuracy": acc,
                            "train_accuracy": t.last_epoch["train_correct"] / max(n, 1),
                            "loss": t.last_epoch["loss_q8"] / 256, **writes_stats(t)})
            save_state(t, ckpt, history, {"curve": curve})
            saved[0] = t.epoch
            prog.write(f"epoch {t.epoch}: test accuracy {100 * acc:.2f}% ({correct}/"
                       f"{cfg['n_test']}), train {100 * history[-1]['train_accuracy']:.2f}%, "
                       f"writes per weight {history[-1]['writes_per_weight_mean']:.2f} mean / "
                       f"{history[-1]['writes_per_weight_max']} max; checkpoint {ckpt.name}")
    except KeyboardInterrupt:
        prog.close()
        done = f"after {t.epoch} complete epoch(s) of {cfg['epochs']}"
        if saved[0]:
            ck = ckpt if ckpt.exists() else a.resume
            raise Interrupted(f"interrupted {done}; the newest checkpoint holds epoch "
                              f"{saved[0]}: continue with RESUME={ck}") from None
        raise Interrupted(f"interrupted {done}; no checkpoint yet (one is written at "
                          "each epoch end)") from None
    prog.close()
    t.commit_evaluation()  # the firmware's final evaluation, with its effects
    fw = t.result(correct, pred_digest, digest=True)
    w = t.writes_per_weight()
    hist = np.bincount(w)
    res = {
        "kind": "cim-trainer", "run": d.name, "preset": t.preset, "net": cfg["net"],
        "mode": cfg["mode"], "seed": cfg["seed"], "options": {
            k: v for k, v in cfg.items() if k not in options.FIRMWARE_ONLY},
        "images_trained": t.seen,
        "images_per_s": (n * (len(history) - (meta["epoch"] if a.resume else 0))) /
        max(train_s, 1e-9),
        "test_accuracy": history[-1]["test_accuracy"], "n_test": cfg["n_test"],
        "per_epoch": history, "curve": curve, **writes_stats(t),
        "writes_histogram": hist.tolist(), "train_s": train_s,
        "wall_s": time.perf_counter() - t0, "firmware_result": fw, **_provenance(a),
    }
    (d / "train.json").write_text(json.dumps(res, indent=1) + "\n")
    export(t, d / "chip.npz")
    figures(t, res, d)
    publish(out, d, res, out / "train.json")
    print(f"RESULT test accuracy {100 * res['test_accuracy']:.2f}% on {cfg['n_test']} test "
          f"images after {t.seen} training images; {res['images_per_s']:.0f} training "
          f"images/s; writes per weight {res['writes_per_weight_mean']:.2f} mean, "
          f"{res['writes_per_weight_max']} max; results in {d}", flush=True)
    return res


def export(t: Trainer, path: Path) -> Path:
    """The trained chip as a chip image, with each layer's effective weights."""
    from ..model import chip_image
    extra = {f"w_{i}_{L.kind}": t.net.weights(L).astype(np.int16)
             for i, L in enumerate(t.net.layers)}
    return chip_image.save(path, t.preset, t.chip.seed, t.chip.array.g, t.chip.array.wc,
                           fshift=np.array([L.fshift for L in t.net.layers]),
                           bshift=np.array([L.bshift for L in t.net.layers]), **extra)


def figures(t: Trainer, res: dict, d: Path) -> None:
    from .report import conductance_png, curve_png, writes_png
    curve_png([res | {"label": res["net"]}], d / "accuracy.png",
              f"{res['net']} on the CIM macro, {res['mode']}, seed {res['seed']}")
    writes_png(t.writes_per_weight(), d / "writes.png")
    g = t.chip.array.g
    layers = []
    for i, L in enumerate(t.net.layers):
        gp = np.concatenate([g[tile, :nr, tc0:tc0 + nc, 0].ravel()
                             for tile, _r0, nr, _c0, nc, tc0 in L.blocks])
        layers.append((f"{i} {L.kind} {L.R}x{L.C}", gp, t.net.weights(L)))
    conductance_png(layers, d / "conductance.png")


def main(argv: list[str] | None = None) -> int:
    try:
        a = parse_args(argv)
    except SystemExit as e:     # a refused knob (argparse printed why) or --help
        if isinstance(e.code, int):
            return e.code
        print(e.code, file=sys.stderr)      # env_int's message
        return 2
    # SIGTERM (a CI cancel, kill) ends the run like Ctrl-C: no traceback, a resume hint
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        if a.baseline:
            cfg = build_cfg(a)
            run_baseline(a, cfg, *load_data(a))
        else:
            train(a, *load_data(a))
    except (options.OptionError, CheckpointError) as e:
        print(f"train: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:
        print(f"\ntrain: {e}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ntrain: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
