"""Every make cosim knob is checked before anything starts, and a bad one is named with
its value and what is allowed (issue 10).  These are the cases a user tried."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CASES = [
    ({"BACKEND": "bogus"}, [], "BACKEND='bogus': choose from rtl, model"),
    ({"SIM": "bogus"}, [], "SIM='bogus': choose from icarus, verilator"),
    ({"PRESET": "bogus"}, [], "PRESET='bogus': choose from default, seed-chip"),
    ({"MODE": "bogus"}, [], "MODE='bogus': choose from open, wv"),
    ({"N_TRAIN": "-5"}, [], "N_TRAIN=-5: allowed 0..60000"),
    ({"N_TEST": "0"}, [], "N_TEST=0: allowed 1..10000"),
    ({"EPOCHS": "0"}, [], "EPOCHS=0: allowed 1..1000"),
    ({"SEED": "-1"}, [], "SEED=-1: allowed 0..4294967295"),
    ({"N_TRAIN": "many"}, [], "N_TRAIN='many' is not an integer"),
    ({"HEAP": "1K"}, [], "HEAP=1K: lenet5 keeps up to 215 KiB live"),
    ({"HEAP": "lots"}, [], "HEAP='lots': a size like 256K or 2M"),
    ({}, ["lr=abc"], "COSIM_ARGS: lr='abc': one integer shift"),
    ({}, ["bogus=1"], "COSIM_ARGS: unknown option 'bogus'"),
    ({}, ["n_min=99"], "COSIM_ARGS: n_min=99: 1 .. n_max (8)"),
    ({}, ["lr"], "COSIM_ARGS: 'lr' is not key=value"),
    ({"STUCK": "lots"}, [], "STUCK='lots': a fraction of the cells, e.g. 0.01 for 1%"),
    ({"STUCK": "5"}, [], "STUCK=5: a fraction of the cells in [0, 1)"),
    ({"STUCK": "-0.01"}, [], "STUCK=-0.01: a fraction of the cells in [0, 1)"),
    ({"STUCK": "0.01"}, ["stuck_rate=655"], "STUCK=0.01 and option stuck_rate: give one"),
    ({}, ["stuck_rate=70000"], "COSIM_ARGS: stuck_rate=70000: cells per 65536 that ignore "
                               "pulses, 0..65535"),
    ({}, ["stuck_check=2"], "COSIM_ARGS: stuck_check=2: 0 or 1"),
]


@pytest.mark.parametrize("env,args,message", CASES, ids=[c[2].split(":")[0] + "-" + str(i)
                                                         for i, c in enumerate(CASES)])
def test_bad_knob_is_refused_by_name_before_anything_starts(tmp_path, env, args, message):
    shm_before = set(os.listdir("/dev/shm"))
    full = {k: v for k, v in os.environ.items()
            if k not in ("BACKEND", "SIM", "PRESET", "MODE", "N_TRAIN", "N_TEST", "EPOCHS",
                         "SEED", "HEAP", "STUCK")}
    r = subprocess.run([sys.executable, "-m", "cimtrain.cosim_main", "--out",
                        str(tmp_path / "cosim.json"), *args], cwd=ROOT, env={**full, **env},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr
    assert not (tmp_path / "cosim.json").exists()
    assert "server" not in r.stdout
    assert not {f for f in set(os.listdir("/dev/shm")) - shm_before if "cosim-" in f}
