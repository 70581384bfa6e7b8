"""Trainer benchmark (part of `make bench`): training images per second of LeNet-5 on
the default preset with all chip noise on, one run and two independent runs side by
side on two cores, milliseconds per image of forward, backward and update, and the
float baseline in the same harness for the ratio.

    python -m cimtrain.trainer.bench [--images 60000] [--md docs/benchmarks.md]

Figures go to results/bench_trainer.json; ``--md`` also writes them as this bench's
section of the file (``make bench DOCS=1``), so that a plain run leaves the tree clean.

Each measurement trains after the one-off costs (numba's compiled-code cache load, the
initial write-verify, calibration), so the figures are the training loop's own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from ..paths import ROOT

BEGIN, END = "<!-- trainer-bench:begin -->", "<!-- trainer-bench:end -->"


def _trainer(n: int, seed: int = 1):
    from .. import dataset
    from . import Trainer, options
    tr, te = dataset.load("train"), dataset.load("test")
    t = Trainer(options.parse(n_train=n, n_test=100, seed=seed), "default", tr, te)
    t.setup()
    return t


def throughput(n: int, seed: int = 1) -> dict:
    """Training images/s of one run over n images (the epoch loop, updates included)."""
    t = _trainer(n, seed)
    a = time.perf_counter()
    t.train_epoch()
    dt = time.perf_counter() - a
    return {"images": n, "seconds": dt, "images_per_s": n / dt}


def phases(n: int) -> dict:
    """ms per image of forward, output error, backward and update (the same steps as
    Trainer.train_epoch, timed one by one)."""
    t = _trainer(n)
    net, upd = t.net, t.upd
    tm = dict.fromkeys(("forward", "output_error", "backward", "update"), 0.0)
    shifts = t.lr_shifts(0)
    for k in range(n):
        a = time.perf_counter()
        logits = net.forward(t.train_x[k].reshape(-1))
        b = time.perf_counter()
        err, _ = net.output_error(logits, int(t.train_y[k]))
        c = time.perf_counter()
        net.backward(err, shifts)
        d = time.perf_counter()
        if (k + 1) % t.cfg["batch"] == 0:
            upd.apply()
        e = time.perf_counter()
        for key, v in zip(tm, (b - a, c - b, d - c, e - d)):
            tm[key] += v
    return {k: 1e3 * v / n for k, v in tm.items()}


def fp32(n: int) -> dict:
    from .. import dataset
    from . import options
    from .baseline import train_fp32
    r = train_fp32(options.parse(n_train=n, n_test=100), dataset.load("train"),
                   dataset.load("test"))
    return {"images": n, "seconds": r["train_s"], "images_per_s": n / r["train_s"]}


def two_runs(n: int) -> list[dict]:
    """Two independent runs at once (separate processes, seeds 1 and 2)."""
    procs = [subprocess.Popen([sys.executable, "-m", "cimtrain.trainer.bench", "--one",
                               str(n), "--seed", str(s)], stdout=subprocess.PIPE, text=True)
             for s in (1, 2)]
    out = []
    for p in procs:
        so, _ = p.communicate(timeout=1800)
        if p.returncode:
            raise RuntimeError(f"bench subprocess failed ({p.returncode})")
        out.append(json.loads(so.strip().splitlines()[-1]))
    return out


def run(n: int) -> dict:
    throughput(200)  # warm: numba's cache, page-in
    reps = [throughput(n) for _ in range(3)]  # the machine is shared: median of 3
    single = sorted(reps, key=lambda r: r["images_per_s"])[1]
    single["repeats_images_per_s"] = [r["images_per_s"] for r in reps]
    pair = two_runs(n)
    res = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "single": single, "two_runs": pair,
        "two_runs_total_images_per_s": sum(r["images_per_s"] for r in pair),
        "ms_per_image": phases(min(n, 2000)),
        "fp32_baseline": fp32(n),
    }
    return res


def markdown(res: dict) -> str:
    s, ms = res["single"], res["ms_per_image"]
    pair = res["two_runs"]
    target = 2900
    lines = [
        BEGIN, "## Trainer: LeNet-5 training throughput (`make bench`)", "",
        "Written by `make bench DOCS=1` (host_tools/cimtrain/trainer/bench.py; only this "
        "section); "
        "raw figures in results/bench_trainer.json.  LeNet-5 on the default preset, chip "
        "noise on, firmware defaults (open loop, batch 8, lr -11), training loop only "
        f"(after init and calibration).  Measured side by side in one run on "
        f"{res['machine']}, {res['date']}.", "",
        "| measurement | images/s | ms per image |", "| --- | --- | --- |",
        f"| one run, {s['images']} images{' (a full epoch)' if s['images'] == 60000 else ''}"
        ", median of 3 "
        f"({', '.join(f'{v:.0f}' for v in s['repeats_images_per_s'])}) | "
        f"{s['images_per_s']:.0f} | {1e3 / s['images_per_s']:.3f} |",
        f"| two independent runs at once (seeds 1, 2), each | "
        f"{pair[0]['images_per_s']:.0f}, {pair[1]['images_per_s']:.0f} | |",
        f"| two runs at once, together | {res['two_runs_total_images_per_s']:.0f} | |",
        f"| fp32 numpy baseline, same network and data order, batch 8 | "
        f"{res['fp32_baseline']['images_per_s']:.0f} | "
        f"{1e3 / res['fp32_baseline']['images_per_s']:.3f} |", "",
        "Per image over the first 2,000 images of an epoch (they cost more than the "
        "average: more threshold crossings), timed step by step (the timer calls add a "
        "little): " + ", ".join(f"{k} {v:.3f} ms" for k, v in ms.items()) + ".", "",
        f"Target (issue 8): {target} images/s for one run, twice IBM aihwkit 1.2's tuned "
        "LeNet-5 on this machine class (1,432 images/s, HARDWARE.md); this run reaches "
        f"{100 * s['images_per_s'] / target:.0f}% of it "
        f"({s['images_per_s'] / 1432:.2f}x aihwkit's figure).",
        END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cimtrain.trainer.bench")
    ap.add_argument("--images", type=int, default=60000,
                    help="training images per measurement (default: a full epoch; the "
                         "first thousands cost more: more threshold crossings); 0 redraws the "
                         "docs section from results/bench_trainer.json")
    ap.add_argument("--md", help="also write the figures as this bench's section of MD "
                                 "(docs/benchmarks.md)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child of two_runs
    ap.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.one:
        print(json.dumps(throughput(a.one, a.seed)))
        return 0
    if a.images <= 0:  # re-render the section from the last results (no measurement)
        if not a.md:
            ap.error("--images 0 re-renders the docs section: give --md FILE")
        res = json.loads((ROOT / "results" / "bench_trainer.json").read_text())
        from ..bridge.bench import write_md
        write_md(Path(a.md), markdown(res), BEGIN, END)
        return 0
    res = run(a.images)
    out = ROOT / "results" / "bench_trainer.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    md = markdown(res)
    print(md)
    if a.md:
        from ..bridge.bench import write_md
        write_md(Path(a.md), md, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
