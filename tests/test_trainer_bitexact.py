"""The vectorized trainer against the firmware on the model (DESIGN.md contract 2).

For the same seed, data and options, firmware/train.py on the virtual board (served by
the register-level model in a thread) and cimtrain.trainer end with identical
conductances and write counters (the model's arrays, compared whole), accumulators and
predictions (the firmware's FNV digests), ADC shifts and every counter of the RESULT
line.  Runs cover both presets and networks, both update modes and both accumulator
widths, each long enough for at least two threshold scans that program devices.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cimtrain import dataset, fwbuild
from cimtrain.bridge.harness import launch_cmd, serve_in_thread, unique_name
from cimtrain.model import CimMacro
from cimtrain.trainer import Trainer, options

ROOT = Path(__file__).resolve().parents[1]
TIMING = ("init_ms", "calib_ms", "train_ms", "test_ms", "total_ms", "heap_setup", "heap_max")
N_TRAIN, N_TEST = 12, 6


@pytest.fixture(scope="module")
def fw_dir():
    return fwbuild.build()


@pytest.fixture(scope="module")
def packs(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    return (dataset.pack("train", count=N_TRAIN, out=d / "train.bin"),
            dataset.pack("test", count=N_TEST, out=d / "test.bin"))


@pytest.fixture(scope="module")
def arrays():
    (xi, yi), (xt, yt) = dataset.load("train"), dataset.load("test")
    return (xi[:N_TRAIN], yi[:N_TRAIN]), (xt[:N_TEST], yt[:N_TEST])


def run_firmware(fw_dir, preset: str, args: list[str], packs) -> tuple[dict, CimMacro]:
    model = CimMacro(preset)
    train, test = packs
    with serve_in_thread(unique_name("bitexact"), model, attach_timeout_s=30) as srv:
        cmd = launch_cmd(srv.name, fw_dir / fwbuild.ENTRY,
                         [f"train={train}", f"test={test}", "digest=1", *args],
                         ["--heap", "16M", "--firmware-dir", str(fw_dir)])
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[7:]), model


def run_trainer(preset: str, args: list[str], arrays) -> Trainer:
    cfg = options.parse(dict(a.split("=", 1) for a in args))
    t = Trainer(cfg, preset, *arrays)
    t.setup()
    for _ in range(cfg["epochs"]):
        t.train_epoch()
    return t


CASES = [  # preset, firmware options
    ("seed-chip", ["net=seedcnn", "mode=open", "acc_bits=16", "lr=-12", "batch=4",
                   "epochs=2", "n_min=1"]),
    ("seed-chip", ["net=seedcnn", "mode=wv", "acc_bits=8", "lr=-13", "thr=20", "batch=4"]),
    ("seed-chip", ["net=seedcnn", "mode=open", "acc_bits=8", "lr=-12", "batch=3",
                   "n_min=3"]),
    ("seed-chip", ["net=seedcnn", "mode=wv", "acc_bits=16", "lr=-13", "thr=20", "batch=6",
                   "seed=3"]),
    ("default", ["net=lenet5", "mode=open", "acc_bits=16", "batch=4", "n_train=8",
                 "init_iters=1", "n_min=1"]),
    ("seed-chip", ["net=seedcnn", "mode=open", "residue=0", "lr=-10", "batch=2",
                   "n_min=1"]),
    # layers kept at their initial weights: make cosim's options (freeze=1), and all but
    # the last layer of the small CNN (freeze=2: no transposed VMM at all)
    ("default", ["net=lenet5", "mode=open", "acc_bits=16", "batch=4", "n_train=8",
                 "init_iters=1", "n_min=1", "freeze=1", "lr=-12"]),
    ("seed-chip", ["net=seedcnn", "mode=open", "freeze=2", "lr=-12", "batch=4",
                   "n_min=1"]),
    # 5% stuck cells (STUCK_RATE): found at init, their weights retired (update.py)
    ("seed-chip", ["net=seedcnn", "mode=open", "stuck_rate=3277", "stuck_check=1",
                   "lr=-12", "batch=4", "n_min=1"]),
    ("seed-chip", ["net=seedcnn", "mode=wv", "stuck_rate=3277", "stuck_check=1",
                   "lr=-13", "thr=20", "batch=4", "seed=2"]),
    # dead columns (the DEAD_COLS registers), as make cosim/train DEAD_COLS=... set them
    ("seed-chip", ["net=seedcnn", "mode=open", "dead_cols=0:3,1:0,1:63", "stuck_check=1",
                   "lr=-12", "batch=4", "n_min=1"]),
    # update rules (firmware update.py): Adam-like per-layer shifts over two epochs (the
    # band follows lr_step), stochastic rounding of pulse counts, both on LeNet-5 with
    # make cosim's options
    ("seed-chip", ["net=seedcnn", "mode=open", "lr_adapt=2", "lr=-12", "batch=2",
                   "epochs=2", "n_min=1"]),
    ("seed-chip", ["net=seedcnn", "mode=open", "sr=1", "lr=-12", "batch=4", "n_min=1",
                   "n_max=2", "epochs=2"]),
    ("default", ["net=lenet5", "mode=open", "acc_bits=16", "batch=4", "n_train=8",
                 "init_iters=1", "n_min=1", "freeze=1", "lr=-12", "lr_adapt=1", "sr=1"]),
    # the learning-rate warm-up across an epoch's end (with lr_adapt, whose band follows
    # it), and the ADC range policies: forward re-calibration during training to another
    # target, another backward autorange band
    ("seed-chip", ["net=seedcnn", "mode=open", "lr=-12", "batch=2", "n_min=1", "epochs=2",
                   "warmup=16", "warm_shift=3", "lr_adapt=2"]),
    ("seed-chip", ["net=seedcnn", "mode=open", "lr=-12", "batch=4", "n_min=1", "recal=5",
                   "cal_target=120", "brange_lo=100"]),
]
# options whose case must differ from the same run without them (they did something)
SCHEDULE_AND_RANGE = ("warmup", "warm_shift", "recal", "cal_target", "brange_lo")


@pytest.mark.parametrize("preset, args", CASES, ids=lambda v: v if isinstance(v, str)
                         else "-".join(a.split("=")[1] for a in v[1:3]))
def test_trainer_ends_bit_identical_to_the_firmware(fw_dir, packs, arrays, preset, args):
    args = [f"n_train={N_TRAIN}", f"n_test={N_TEST}", "n_calib=2", *args]
    fw, model = run_firmware(fw_dir, preset, args, packs)
    t = run_trainer(preset, args, arrays)
    correct, hp, _ = t.evaluate()
    res = t.result(correct, hp, digest=True)
    assert t.upd.n_scans_with_updates >= 2, "the run must program devices in 2+ scans"
    if any(a.startswith("lr_adapt=") for a in args):  # the rule must have moved a shift
        assert any(L.lra for L in t.net.layers), [L.lra for L in t.net.layers]
    if "sr=1" in args:  # the rounding must have changed the run (one more pulse drawn)
        t0 = run_trainer(preset, [a for a in args if a != "sr=1"], arrays)
        assert (t0.chip.array.wc != t.chip.array.wc).any()
    policy = [a for a in args if a.split("=")[0] in SCHEDULE_AND_RANGE]
    if policy:
        t0 = run_trainer(preset, [a for a in args if a not in policy], arrays)
        assert (t0.chip.array.wc != t.chip.array.wc).any() or \
            [L.fshift for L in t0.net.layers] != [L.fshift for L in t.net.layers]
    if any(a.startswith("recal=") for a in args):  # hidden shifts moved, logits kept
        t1 = Trainer(options.parse(dict(a.split("=", 1) for a in args)), preset, *arrays)
        t1.setup()  # the shifts of the first calibration
        f1, f = [L.fshift for L in t1.net.layers], [L.fshift for L in t.net.layers]
        assert f[:-1] != f1[:-1] and sum(f) == sum(f1), (f1, f)
    if "stuck_rate=3277" in args:
        assert res["stuck_cells"] > 0, "the stuck cases must find stuck cells"
    dead = [x for x in args if x.startswith("dead_cols=")]
    if dead:  # exactly the used pairs of the dead columns, both cells, never moved
        cols = [tuple(map(int, tc.split(":"))) for tc in dead[0][10:].split(",")]
        used = np.zeros(model.array.g.shape[:3], dtype=bool)  # (tile, row, col)
        for L in t.net.layers:
            for tile, _r0, nr, _c0, nc, tc0 in L.blocks:  # rows 0..nr of the tile
                used[tile, :nr, tc0:tc0 + nc] = True
        n = sum(int(used[tile, :, c].sum()) for tile, c in cols)
        assert n > 20 and (fw["stuck_cells"], fw["retired_weights"]) == (2 * n, n)
        ginit = model.p["GINIT"]
        assert all((model.array.g[tile, :, c] == ginit).all() for tile, c in cols)
    for k in TIMING:
        fw.pop(k, None)
        res.pop(k, None)
    assert res == fw, {k: (res.get(k), fw.get(k)) for k in fw if res.get(k) != fw.get(k)}
    bad = np.argwhere(t.chip.array.g != model.array.g)
    assert bad.size == 0, f"{len(bad)} cells differ, first {bad[:3].tolist()}"
    assert np.array_equal(t.chip.array.wc, model.array.wc)


def test_frozen_layers_keep_their_weights_and_skip_their_transposed_vmms(arrays):
    """freeze=1: conv1's cells are never pulsed after init (conductances and write counters
    as init left them) while the other layers learn, and each image needs fewer VMMs:
    conv2's transposed ones (error into conv1) are not run."""
    args = {"net": "lenet5", "n_train": 8, "n_test": 0, "n_calib": 2, "init_iters": 1,
            "n_min": 1, "batch": 4, "lr": "-12"}
    runs = {}
    for f in (0, 1):
        t = Trainer(options.parse({**args, "freeze": f}), "default", *arrays)
        t.setup()
        g0, wc0, vmm0 = t.chip.array.g.copy(), t.chip.array.wc.copy(), t.chip.n_vmm
        t.train_epoch()
        runs[f] = (t, g0, wc0, t.chip.n_vmm - vmm0)
    t, g0, wc0, _ = runs[1]
    conv1 = t.net.layers[0]
    for tile, _r0, nr, _c0, nc, tc0 in conv1.blocks:
        assert np.array_equal(t.chip.array.g[tile, :nr, tc0:tc0 + nc], g0[tile, :nr, tc0:tc0 + nc])
        assert np.array_equal(t.chip.array.wc[tile, :nr, tc0:tc0 + nc],
                              wc0[tile, :nr, tc0:tc0 + nc])
    assert (t.chip.array.wc != wc0).sum() > 0, "the layers above conv1 must learn"
    tile, _r0, nr, _c0, nc, tc0 = conv1.blocks[0]
    wc_free, wc0_free = runs[0][0].chip.array.wc, runs[0][2]
    assert (wc_free[tile, :nr, tc0:tc0 + nc] != wc0_free[tile, :nr, tc0:tc0 + nc]).any(), \
        "without freeze conv1 learns"
    # conv2 has 8 x 8 positions and one block: at most 64 transposed VMMs an image
    saved = runs[0][3] - runs[1][3]
    assert 8 * 16 <= saved <= 8 * 64, saved
