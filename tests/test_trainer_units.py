"""The trainer's compiled twins of firmware helpers, against the firmware's own scalar
functions (imported from firmware/ under CPython, as tests/test_fixedpoint.py does)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "firmware"))

import fixedpoint as fp  # noqa: E402
import update  # noqa: E402

from cimtrain.model import macro_params  # noqa: E402
from cimtrain.trainer import kernels as TK  # noqa: E402
from cimtrain.trainer import update as tu  # noqa: E402
from cimtrain.trainer.fixedpoint import EXP_Q16, ln_q8  # noqa: E402


def test_loss_table_search_matches_the_firmware():
    for p in (-1, 0, 1, 2, 100, 4096, 30000, 65535, 65536, 70000):
        assert ln_q8(p) == fp.ln_q8(p), p


def test_softmax_error_matches_the_firmware():
    rnd = random.Random(3)
    for _ in range(300):
        z = [rnd.randint(-300, 300) for _ in range(10)]
        label = rnd.randrange(10)
        prob, err = [0] * 10, [0] * 10
        p_fw = fp.softmax_xent_err(z, label, prob, err)
        mine = np.zeros(10, dtype=np.int64)
        p = TK.softmax_xent_err(np.array(z, dtype=np.int64), label, EXP_Q16, mine,
                                fp.OUT_ERR_SHIFT, fp.ERR_MAX)
        assert (p, mine.tolist()) == (p_fw, err)


@pytest.mark.parametrize("scale", [1, 50, 5000, 10 ** 6])
def test_normalize_err_matches_the_firmware(scale):
    rnd = random.Random(scale)
    for _ in range(100):
        v = [rnd.randint(-scale, scale) * rnd.randint(0, 1) for _ in range(40)]
        fw = list(v)
        k_fw = fp.normalize_err(fw, len(fw))
        mine = np.array(v, dtype=np.int64)
        assert TK.normalize_err(mine) == k_fw and mine.tolist() == fw


def test_schedule_length_matches_the_firmware_scheduler():
    rnd = random.Random(5)
    for _ in range(400):
        top = rnd.choice([3, 8, 40, 600])
        counts = [rnd.randint(0, top) * (rnd.random() < 0.5) for _ in range(64)]
        sc = {c: n for c, n in enumerate(counts) if n and c % 2}
        rc = {c: n for c, n in enumerate(counts) if n and not c % 2}
        assert tu.schedule_len(np.array(counts)) == len(update.schedule(sc, rc)), counts


def test_pulse_plan_matches_the_firmware():
    rnd = random.Random(9)
    steps = np.array([rnd.randint(27, 700) for _ in range(300)])
    gs = np.array([rnd.randint(100, 1000) for _ in range(300)])
    consts = tu.wv_constants(macro_params("default"), 1800, 1860, 26, 0, 0, 1)
    for is_set in (True, False):
        mine = [tuple(int(v) for v in TK.pulse_plan(int(s), int(g), is_set, consts))
                for s, g in zip(steps, gs)]
        fw = [update.pulse_plan(int(s), int(g), is_set) for s, g in zip(steps, gs)]
        assert mine == fw


def test_accumulator_step_rounds_and_saturates_like_the_firmware():
    """acc -= round(g >> sh), saturating: hand-computed edges, including shifts far
    outside the normal range (no int64 overflow)."""
    acc = np.zeros((1, 6), dtype=np.int64)
    x = np.array([3], dtype=np.int64)
    err = np.array([5, -5, 7, 127, -127, 1], dtype=np.int64)
    TK.fc_grad(acc, x, err, 2, 127)  # 15/4 = 3.75 -> 4; -15/4 -> -4 (half up: -3.75)
    assert acc[0].tolist() == [-4, 4, -5, -95, 95, -1]
    TK.fc_grad(acc, x, err, -30, 127)  # huge steps: saturate, never wrap
    assert acc[0].tolist() == [-127, 127, -127, -127, 127, -127]
    acc[:] = 0
    TK.fc_grad(acc, x, err, 80, 32767)  # beyond any product: nothing moves
    assert not acc.any()
