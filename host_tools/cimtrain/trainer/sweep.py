"""Sweeps of training runs on Dask: one task is one training run, results in one table.

    specs = [run_spec(seed=s, options={"n_min": m}) for s in (1, 2, 3) for m in (1, 4)]
    rows = sweep(specs)                         # a LocalCluster on this machine's cores
    rows = sweep(specs, scheduler="tcp://host:8786")   # the same on an existing cluster

A spec is a plain dict (it crosses process and machine boundaries):

    {"preset": "default", "options": {firmware option: value, ...},
     "stuck_rate": 0, "transfer_seed": None, "label": "...", "fp32": False}

``run(spec)`` trains it with the bit-exact trainer (loop.Trainer) and returns a row: the
spec, the test accuracy after every epoch, writes per weight (mean, max), the firmware's
prediction digest, timings; with ``transfer_seed`` also the accuracy of the trained
weights write-verified onto a fresh chip of that seed (transfer.py); ``fp32`` trains
the float baseline instead and transfers that (the reference).  A task that raises
is returned as a row with ``error`` (its options in the spec): it does not stop the sweep.

Why Dask ``distributed``: the same sweep runs on this machine's cores or, with
``--scheduler``, on any Dask cluster, without code changes; tasks are retried on a lost
worker, and ``as_completed`` gives a progress bar over runs as they finish.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Iterable

import numpy as np

from . import options as opt

_DATA: dict = {}


def run_spec(preset: str = "default", options: dict | None = None, stuck_rate: int = 0,
             transfer_seed: int | None = None, label: str = "", fp32: bool = False,
             **kw) -> dict:
    """A spec (see the module docstring); ``kw`` are firmware options (seed=2, ...).
    ``fp32``: train the float baseline instead (baseline.py), then transfer it."""
    o = {"net": opt.NET_OF_PRESET[preset], **(options or {}), **kw}
    opt.parse(o, host=True)  # a bad option fails here, when the sweep is built, not in a worker
    if fp32 and transfer_seed is None:
        raise opt.OptionError("an fp32 run is only a transfer reference: give transfer_seed")
    return {"preset": preset, "options": o, "stuck_rate": int(stuck_rate),
            "transfer_seed": transfer_seed, "label": label, "fp32": fp32}


def _data():
    """MNIST, loaded once per worker process (and checked: dataset.load verifies it)."""
    if not _DATA:
        from .. import dataset
        _DATA["train"] = dataset.load("train")
        _DATA["test"] = dataset.load("test")
    return _DATA["train"], _DATA["test"]


def run(spec: dict) -> dict:
    """One training run of ``spec``; returns its row (never raises: see ``error``)."""
    t0 = time.perf_counter()
    try:
        return {**_train(spec), "wall_s": time.perf_counter() - t0}
    except Exception as e:  # noqa: BLE001 - a sweep reports a failed run and goes on
        return {"spec": spec, "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(), "wall_s": time.perf_counter() - t0}


def _train(spec: dict) -> dict:
    from .cli import writes_stats
    from .loop import Trainer
    train, test = _data()
    cfg = opt.parse(spec["options"], host=True)
    if spec.get("fp32"):
        from .transfer import float_transfer_accuracy
        r = float_transfer_accuracy(cfg, spec["preset"], train, test, spec["transfer_seed"])
        return {"spec": spec, "per_epoch": [], "test_accuracy": r["float_accuracy"],
                "writes_per_weight_mean": 0.0, "writes_per_weight_max": 0, "transfer": r}
    t = Trainer(cfg, spec["preset"], train, test, stuck_rate=spec.get("stuck_rate", 0),
                dead_cols=tuple(tuple(tc) for tc in spec.get("dead_cols", ())))
    t.setup()
    per_epoch = []
    correct = digest = 0
    for e in range(cfg["epochs"]):
        t.train_epoch()
        last = e + 1 == cfg["epochs"]
        # the last evaluation is the firmware's own; earlier ones leave the op counter
        correct, digest, _ = t.evaluate(side_effect_free=not last)
        per_epoch.append({"epoch": e + 1, "images_seen": t.seen,
                          "test_accuracy": correct / max(cfg["n_test"], 1), **writes_stats(t)})
    row = {"spec": spec, "per_epoch": per_epoch,
           "test_accuracy": per_epoch[-1]["test_accuracy"] if per_epoch else None,
           **writes_stats(t), "pred_digest": digest, "updates": t.upd.n_updates,
           "pulses": t.chip.n_pulses, "train_s": t.ms["train_ms"] / 1000,
           "stuck_cells": t.upd.n_stuck, "retired_weights": t.upd.n_retired,
           "fshift": [L.fshift for L in t.net.layers]}
    if spec.get("transfer_seed") is not None:
        from .transfer import transfer_accuracy
        row["transfer"] = transfer_accuracy(t, spec["transfer_seed"])
    return row


def sweep(specs: Iterable[dict], scheduler: str | None = None, workers: int | None = None,
          on_row: Callable[[dict, int, int], None] | None = None) -> list[dict]:
    """Run every spec as one Dask task; rows in the order of ``specs``.

    ``scheduler``: address of an existing Dask scheduler; default a LocalCluster of
    ``workers`` single-threaded processes (default: this machine's cores), closed
    afterwards.  ``on_row(row, done, total)`` as each run finishes.
    """
    from dask.distributed import Client, LocalCluster, as_completed
    specs = list(specs)
    if not specs:
        return []
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        n = workers or os.cpu_count() or 1
        # processes, one thread each: the runs are CPU-bound and hold the GIL in the
        # Python parts of the loop; the scheduler's HTTP server on a free port (":0"), so
        # that two sweeps at once do not collide on 8787
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=40)
        client = Client(cluster)
    try:
        futures = {client.submit(run, s, key=f"run-{i}-{os.getpid()}", pure=False): i
                   for i, s in enumerate(specs)}
        rows: list = [None] * len(specs)
        for k, fut in enumerate(as_completed(futures), 1):
            i = futures[fut]
            try:
                rows[i] = fut.result()
            except Exception as e:  # a lost worker, a task that could not be unpickled
                rows[i] = {"spec": specs[i], "error": f"{type(e).__name__}: {e}"}
            if on_row is not None:
                on_row(rows[i], k, len(specs))
        return rows
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def summarize(rows: list[dict], key: Callable[[dict], tuple]) -> list[dict]:
    """Rows grouped by ``key(spec)`` (e.g. everything but the seed): mean and spread
    (min, max) of accuracy and writes per weight over the group's runs."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(key(r["spec"]), []).append(r)
    out = []
    for k, rs in groups.items():
        ok = [r for r in rs if "error" not in r]
        acc = np.array([r["test_accuracy"] for r in ok], dtype=float)
        wm = np.array([r["writes_per_weight_mean"] for r in ok], dtype=float)
        wx = np.array([r["writes_per_weight_max"] for r in ok], dtype=float)
        g = {"key": k, "runs": len(rs), "failed": len(rs) - len(ok),
             "seeds": [r["spec"]["options"].get("seed") for r in ok]}
        if ok:
            g |= {"acc_mean": float(acc.mean()), "acc_min": float(acc.min()),
                  "acc_max": float(acc.max()), "writes_mean": float(wm.mean()),
                  "writes_max": int(wx.max())}
            if all("transfer" in r for r in ok):
                lost = np.array([r["test_accuracy"] - r["transfer"]["test_accuracy"]
                                 for r in ok])
                g |= {"transfer_lost_mean": float(lost.mean()),
                      "transfer_lost_max": float(lost.max())}
        out.append(g)
    return out
