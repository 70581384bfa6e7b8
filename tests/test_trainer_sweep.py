"""Sweeps on Dask (trainer/sweep.py) and transfer (trainer/transfer.py).

The sweep's rows must equal the same runs made one by one in this process: a Dask task
is only a way to run ``sweep.run`` elsewhere.  A failing task comes back as a row with
its error and options; the others are not lost.
"""

import numpy as np
import pytest

from cimtrain.trainer import options, sweep, transfer
from cimtrain.trainer.loop import Trainer

TINY = {"n_train": 24, "n_test": 16, "epochs": 2, "batch": 4}
TIMINGS = ("wall_s", "train_s")


def _same(a: dict, b: dict) -> dict:
    return {k: v for k, v in a.items() if k not in TIMINGS} == \
        {k: v for k, v in b.items() if k not in TIMINGS}


def test_sweep_on_two_workers_equals_runs_one_by_one():
    specs = [sweep.run_spec("default", TINY, seed=s, label=f"s{s}") for s in (1, 2)]
    specs.append(sweep.run_spec("default", TINY, seed=3, n_min=2, transfer_seed=7))
    bad = sweep.run_spec("default", TINY, seed=4)
    bad["options"]["eps"] = 0  # past run_spec's check: fails inside the worker
    rows = sweep.sweep(specs + [bad], workers=2)
    assert len(rows) == 4
    for spec, row in zip(specs, rows[:3]):
        assert "error" not in row, row.get("traceback")
        assert row["spec"] == spec
        assert _same(row, sweep.run(spec))
    assert len(rows[0]["per_epoch"]) == 2
    assert "transfer" in rows[2] and rows[2]["transfer"]["seed"] == 7
    assert rows[3]["spec"] == bad and "eps=0" in rows[3]["error"]
    # the two seeds are two different chips and data orders: not one run twice
    assert rows[0]["pred_digest"] != rows[1]["pred_digest"]


def test_summary_groups_seeds_with_mean_and_spread():
    rows = [{"spec": {"label": "a", "options": {"seed": s}}, "test_accuracy": acc,
             "writes_per_weight_mean": w, "writes_per_weight_max": m}
            for s, acc, w, m in ((1, 0.90, 2.0, 7), (2, 0.94, 4.0, 9))]
    rows.append({"spec": {"label": "a", "options": {"seed": 3}}, "error": "boom"})
    (g,) = sweep.summarize(rows, key=lambda s: s["label"])
    assert g["runs"] == 3 and g["failed"] == 1 and g["seeds"] == [1, 2]
    assert g["acc_mean"] == pytest.approx(0.92)
    assert (g["acc_min"], g["acc_max"]) == (0.90, 0.94)
    assert g["writes_mean"] == pytest.approx(3.0) and g["writes_max"] == 9


def test_every_study_builds_valid_runs_with_distinct_labels():
    """Each study's variants pass the option checks (run_spec parses them) and are told
    apart in its table; an unknown study is refused by name."""
    from cimtrain.trainer import study
    for name in study.STUDIES:
        preset = "seed-chip" if name == "lr" else "default"
        specs = study.specs(name, [1], {"n_train": 100, "n_test": 10}, preset)
        labels = [s["label"] for s in specs]
        assert specs and len(set(labels)) == len(labels), name
    with pytest.raises(options.OptionError, match="unknown study 'nope'"):
        study.specs("nope", [1], {}, "default")


def test_run_spec_refuses_bad_options_before_any_run():
    with pytest.raises(options.OptionError, match="n_min"):
        sweep.run_spec("default", TINY, n_min=9)  # above n_max (8)


@pytest.fixture(scope="module")
def trained():
    from cimtrain import dataset
    cfg = options.parse({**TINY, "epochs": 1, "noise": 0})
    t = Trainer(cfg, "default", dataset.load("train"), dataset.load("test"))
    t.setup()
    t.train_epoch()
    return t


def test_transfer_lands_every_weight_within_the_verify_tolerance(trained):
    """Noise off: write-verify either reaches its tolerance or reports the cell missed,
    so every transferred weight w = G+ - G- is within 2 * tol of the trained one, read
    back through the network (not through transfer's own bookkeeping)."""
    fresh, miss = transfer.transfer(trained, seed=99, iters=20)
    tol = trained.cfg["wv_tol"]
    assert miss == 0
    assert fresh.chip.seed == 99 and [a.fshift for a in fresh.net.layers] == \
        [b.fshift for b in trained.net.layers]
    for a, b in zip(fresh.net.layers, trained.net.layers):
        d = np.abs(fresh.net.weights(a) - trained.net.weights(b))
        assert d.max() <= 2 * tol
    g_new, g_old = fresh.chip.array.g, trained.chip.array.g
    assert not np.array_equal(g_new, g_old)  # another chip: not a copy of the codes
    r = transfer.transfer_accuracy(trained, seed=99, iters=20)
    assert r["cells_missed"] == 0 and r["weight_error_max"] <= 2 * tol
