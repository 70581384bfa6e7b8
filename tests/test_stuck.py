"""Stuck cells (issue 10): write-verify finds the cells that ignore pulses, records them,
retires their weights (no pulse reaches them again) and training goes on.

The expectation is the model's own draw of the stuck cells (model/device.d2d: the
STUCK_RATE hash of (seed, cell)), never the code under test.  The firmware's record is
checked on the virtual board; the trainer's (bit-exact with the firmware, including the
record: tests/test_trainer_bitexact.py, cases with stuck_rate) in whole training runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cimtrain import dataset
from cimtrain.bridge.harness import run_firmware, serve_in_thread, unique_name
from cimtrain.model import CimMacro
from cimtrain.model.device import d2d
from cimtrain.model.macro import macro_params
from cimtrain.trainer import Trainer, options

ROOT = Path(__file__).resolve().parents[1]

FW_PROG = r"""
import json, sys
import hal, cim, update
from cim_regs import R_CTRL, R_DBG_ADDR, R_DBG_G, R_STUCK_RATE, CTRL_DBG_EN_MSK
from cim_regs import pack_dbg_addr, unpack_dbg_g
seed, rate, rows = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
dev = cim.Cim(seed=seed)
dev.set(R_STUCK_RATE, rate)
cfg = {"mode": "open", "acc_bits": 16, "thr": 51, "eps": 10, "n_max": 8, "n_min": 1,
       "residue": 1, "wv_tol": 26, "wv_iters": 6, "set_amp": 1800, "reset_amp": 1860,
       "stuck_check": 1}
u = update.Updater(dev, cfg)
u.n_weights = rows * dev.cols
# what program_initial does a row: both cells write-verified, then stuck cells retired
for row in range(rows):
    tp = [256 + (c * 37 + row * 11) % 512 for c in range(dev.cols)]
    tn = [update.REF] * dev.cols
    u.write_verify(1, row, 0, dev.cols, tp, tn, 3)
    u.sc.retire(1, row, 0, dev.cols, row * dev.cols, 3)
hal.wr32(R_CTRL, CTRL_DBG_EN_MSK)
g = []
for row in range(rows):
    hal.wr32(R_DBG_ADDR, pack_dbg_addr(tile=1, row=row))
    g.append([unpack_dbg_g(w) for w in hal.rd_burst(R_DBG_G, dev.cols, fixed=True)])
print(json.dumps({"stuck": list(u.stuck) if u.stuck is not None else None,
                  "n_stuck": u.n_stuck, "n_retired": u.n_retired, "g": g}))
"""


def drawn(preset: str, seed: int, rate: int, cells: np.ndarray) -> np.ndarray:
    """The model's stuck flags of ``cells`` (flat cell indices)."""
    return d2d(macro_params(preset), seed, cells, rate).stuck


def test_firmware_write_verify_records_exactly_the_stuck_cells(tmp_path):
    seed, rate, rows = 5, 6554, 8  # 10% stuck: about 100 of the 1,024 cells
    script = tmp_path / "prog.py"
    script.write_text(FW_PROG)
    model = CimMacro("seed-chip")
    p = model.p
    with serve_in_thread(unique_name("stuck"), model) as srv:
        r = run_firmware(srv.name, script, [str(seed), str(rate), str(rows)],
                         timeout_s=120)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    cols = p["COLS"]
    cells = np.array([((1 * p["ROWS"] + row) * cols + c) * 2 + pol
                      for row in range(rows) for c in range(cols) for pol in (0, 1)])
    want = drawn("seed-chip", seed, rate, cells).reshape(rows * cols, 2)
    assert 60 < want.sum() < 150, "the draw must hold stuck cells of both polarities"
    # the firmware keeps one bit a weight (retired: a cell of its pair found stuck) and
    # the count of cells found
    rec = np.array([out["stuck"][w >> 3] >> (w & 7) & 1 for w in range(rows * cols)],
                   dtype=bool)
    assert np.array_equal(rec, want.any(axis=1)), (
        np.argwhere(rec & ~want.any(axis=1)).tolist(),
        np.argwhere(want.any(axis=1) & ~rec).tolist())
    assert out["n_stuck"] == want.sum()
    assert out["n_retired"] == want.any(axis=1).sum()
    # a pair with one stuck cell: its other cell was written to the stuck one's read,
    # so the weight is about 0 (read noise 15 codes, tolerance 26); a stuck cell never
    # left its power-up code
    g = np.array(out["g"]).reshape(rows * cols, 2)
    one = want.sum(axis=1) == 1
    assert np.all(np.abs(g[one, 0] - g[one, 1]) <= 26 + 3 * 15), g[one]
    assert np.all(g[want] == p["GINIT"])


def _trainer(mode: str, n: int, rate: int, check: int, seed: int = 1) -> Trainer:
    (xi, yi), (xt, yt) = dataset.load("train"), dataset.load("test")
    cfg = options.parse(net="seedcnn", n_train=n, n_test=1000, mode=mode, seed=seed,
                        stuck_rate=rate, stuck_check=check)
    return Trainer(cfg, "seed-chip", (xi[:n], yi[:n]), (xt[:1000], yt[:1000]))


def used_cells(t: Trainer) -> tuple[np.ndarray, np.ndarray]:
    """The flat cell indices (pairs x 2) of every weight, and its recorded stuck bits."""
    p = t.chip.p
    cells, bits = [], []
    for L, stk in zip(t.net.layers, t.upd.stuck):
        for tile, r0, nr, c0, nc, tc0 in L.blocks:
            i, j = np.meshgrid(np.arange(nr), np.arange(nc), indexing="ij")
            base = ((tile * p["ROWS"] + i) * p["COLS"] + tc0 + j) * 2
            cells.append(np.stack([base, base + 1], axis=-1).reshape(-1, 2))
            bits.append(stk[r0:r0 + nr, c0:c0 + nc].reshape(-1))
    return np.concatenate(cells), np.concatenate(bits)


@pytest.mark.parametrize("seed", [1, 2])
def test_trainer_records_exactly_the_drawn_stuck_cells(seed):
    t = _trainer("open", 10, 3277, 1, seed)  # 5%
    t.setup()
    cells, bits = used_cells(t)
    want = drawn("seed-chip", seed, 3277, cells.reshape(-1)).reshape(-1, 2)
    rec = np.stack([bits & 1, bits >> 1], axis=-1).astype(bool)
    assert want.sum() > 50
    assert np.array_equal(rec, want)
    assert t.upd.n_stuck == want.sum() and t.upd.n_retired == want.any(axis=1).sum()


def test_a_healthy_chip_has_no_stuck_cells():
    t = _trainer("wv", 300, 0, 1)
    t.setup()
    t.train_epoch()
    assert t.upd.n_stuck == 0 and t.upd.n_retired == 0


@pytest.mark.parametrize("mode", ["open", "wv"])
def test_no_pulse_reaches_a_retired_weight_and_training_learns(mode):
    """After the initial programming found the stuck cells, training never pulses either
    cell of a retired weight again (the model's write counters), and still learns."""
    t = _trainer(mode, 2000, 3277, 1)
    t.setup()
    cells, bits = used_cells(t)
    wc = t.chip.array.wc.reshape(-1)
    ret = cells[bits != 0].reshape(-1)
    live = cells[bits == 0].reshape(-1)
    assert ret.size > 100
    before, live_before = wc[ret].copy(), wc[live].copy()
    t.train_epoch()
    correct, _, _ = t.evaluate()
    assert np.array_equal(wc[ret], before), "a retired weight's cell was pulsed"
    assert (wc[live] > live_before).sum() > 1000, "training must program the live weights"
    assert correct / 1000 > 0.6, f"{mode}: {correct / 1000:.1%} after 2,000 images"


def test_without_the_check_the_stuck_cells_are_pulsed_on():
    """The ablation (stuck_check=0, the old behaviour): nothing recorded, and the stuck
    cells keep receiving pulses (the test above would catch a check that did nothing)."""
    t = _trainer("open", 500, 3277, 0)
    t.setup()
    assert t.upd.n_stuck == 0
    cells, _ = used_cells(t)
    flat = cells.reshape(-1)
    st = flat[drawn("seed-chip", 1, 3277, flat)]
    wc = t.chip.array.wc.reshape(-1)
    before = wc[st].copy()
    t.train_epoch()
    assert (wc[st] > before).any()


def test_dead_columns_are_found_whole_and_never_pulsed():
    """Dead columns (every cell ignores pulses; the trainer's chips, model/device.d2d):
    the check records exactly the used pairs of those columns, both cells of each."""
    (xi, yi), (xt, yt) = dataset.load("train"), dataset.load("test")
    cfg = options.parse(net="seedcnn", n_train=300, n_test=100, stuck_check=1)
    dead = ((0, 3), (1, 10))
    t = Trainer(cfg, "seed-chip", (xi[:300], yi[:300]), (xt[:100], yt[:100]),
                dead_cols=dead)
    t.setup()
    cells, bits = used_cells(t)
    p = t.chip.p
    pair = cells[:, 0] // 2
    col = pair % p["COLS"] + pair // (p["ROWS"] * p["COLS"]) * p["COLS"]
    in_dead = np.isin(col, [tile * p["COLS"] + c for tile, c in dead])
    assert in_dead.sum() > 20
    assert np.array_equal(bits, np.where(in_dead, 3, 0))
    wc = t.chip.array.wc.reshape(-1)
    before = wc[cells[in_dead].reshape(-1)].copy()
    t.train_epoch()
    assert np.array_equal(wc[cells[in_dead].reshape(-1)], before)


def test_the_stuck_knob_of_make_train_is_checked(capsys, monkeypatch):
    from cimtrain.trainer.cli import parse_args
    monkeypatch.setenv("STUCK", "0.05")
    a = parse_args([])
    assert a.args[-2:] == ["stuck_rate=3277", "stuck_check=1"]
    for v, msg in (("x", "STUCK='x': a fraction of the cells"),
                   ("1", "STUCK=1: a fraction of the cells in [0, 1)")):
        monkeypatch.setenv("STUCK", v)
        with pytest.raises(SystemExit):
            parse_args([])
        assert msg in capsys.readouterr().err
    monkeypatch.delenv("STUCK")
    monkeypatch.setenv("DEAD_COLS", "0:3, 1:10")
    a = parse_args([])
    assert a.args[-2:] == ["dead_cols=0:3,1:10", "stuck_check=1"]
    for v, msg in (("3", "DEAD_COLS='3': tile:column pairs, e.g. 0:3,2:17"),
                   ("8:0", "DEAD_COLS: 8:0 is outside the chip (tiles 0..7, columns 0..63)")):
        monkeypatch.setenv("DEAD_COLS", v)
        with pytest.raises(SystemExit):
            parse_args([])
        assert msg in capsys.readouterr().err
