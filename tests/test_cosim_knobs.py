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
    ({"HEAP": "1K"}, [], "HEAP=1K: lenet5 keeps up to 212 KiB live"),
    ({"HEAP": "lots"}, [], "HEAP='lots': a size like 256K or 2M"),
    ({}, ["lr=abc"], "COSIM_ARGS: lr='abc': one integer shift"),
    ({}, ["bogus=1"], "COSIM_ARGS: unknown option 'bogus'"),
    ({}, ["n_min=99"], "COSIM_ARGS: n_min=99: 1 .. n_max (8)"),
    ({}, ["lr"], "COSIM_ARGS: 'lr' is not key=value"),
    ({}, ["n_test=20000"], "COSIM_ARGS: n_test=20000: allowed up to 10000 (MNIST's test images)"),
    ({"NAME": "a/b"}, [], "NAME='a/b': a run name is letters, digits and . _ + -"),
]


@pytest.mark.parametrize("env,args,message", CASES, ids=[c[2].split(":")[0] + "-" + str(i)
                                                         for i, c in enumerate(CASES)])
def test_bad_knob_is_refused_by_name_before_anything_starts(tmp_path, env, args, message):
    shm_before = set(os.listdir("/dev/shm"))
    full = {k: v for k, v in os.environ.items()
            if k not in ("BACKEND", "SIM", "PRESET", "MODE", "N_TRAIN", "N_TEST", "EPOCHS",
                         "SEED", "HEAP")}
    p = subprocess.Popen([sys.executable, "-m", "cimtrain.cosim_main", "--out",
                          str(tmp_path / "cosim.json"), *args], cwd=ROOT, env={**full, **env},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode != 0
    assert message in stderr, stderr
    assert not (tmp_path / "cosim.json").exists()
    assert "server" not in stdout
    # its window would be named after it (a run elsewhere on this machine may make one)
    assert not {f for f in set(os.listdir("/dev/shm")) - shm_before
                if f.startswith(f"cimtrain.cosim-{p.pid}-")}
