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
    ({"HEAP": "1K"}, [], "HEAP=1K: lenet5 keeps up to 228 KiB live"),
    ({"HEAP": "lots"}, [], "HEAP='lots': a size like 256K or 2M"),
    ({}, ["lr=abc"], "COSIM_ARGS: lr='abc': one integer shift"),
    ({}, ["bogus=1"], "COSIM_ARGS: unknown option 'bogus'"),
    ({}, ["n_min=99"], "COSIM_ARGS: n_min=99: 1 .. n_max (8)"),
    ({}, ["lr"], "COSIM_ARGS: 'lr' is not key=value"),
    ({}, ["n_test=20000"], "COSIM_ARGS: n_test=20000: allowed up to 10000 (MNIST's test images)"),
    ({"NAME": "a/b"}, [], "NAME='a/b': a run name is letters, digits and . _ + -"),
    ({"STUCK": "lots"}, [], "STUCK='lots': a fraction of the cells, e.g. 0.01 for 1%"),
    ({"STUCK": "5"}, [], "STUCK=5: a fraction of the cells in [0, 1)"),
    ({"STUCK": "-0.01"}, [], "STUCK=-0.01: a fraction of the cells in [0, 1)"),
    ({"STUCK": "0.01"}, ["stuck_rate=655"], "STUCK=0.01 and option stuck_rate: give one"),
    ({}, ["stuck_rate=70000"], "COSIM_ARGS: stuck_rate=70000: cells per 65536 that ignore "
                               "pulses, 0..65535"),
    ({}, ["stuck_check=2"], "COSIM_ARGS: stuck_check=2: 0 or 1"),
    ({"DEAD_COLS": "3"}, [], "DEAD_COLS='3': tile:column pairs, e.g. 0:3,2:17 ('3' is not one)"),
    ({"DEAD_COLS": "8:0"}, [], "DEAD_COLS: 8:0 is outside the chip (tiles 0..7, columns 0..63)"),
    ({"DEAD_COLS": "4:0", "PRESET": "seed-chip"}, [],
     "DEAD_COLS: 4:0 is outside the chip (tiles 0..3, columns 0..63)"),
    ({"DEAD_COLS": "0:3"}, ["dead_cols=0:4"], "DEAD_COLS=0:3 and option dead_cols: give one"),
    ({}, ["dead_cols=0:64"], "COSIM_ARGS: dead_cols: 0:64 is outside the chip (tiles 0..7, "
                             "columns 0..63)"),
    ({}, ["adc_bits=6"], "COSIM_ARGS: option adc_bits: a variant of the trainer's chip (make "
                         "train, make study), not a firmware option"),
]


@pytest.mark.parametrize("env,args,message", CASES, ids=[c[2].split(":")[0] + "-" + str(i)
                                                         for i, c in enumerate(CASES)])
def test_bad_knob_is_refused_by_name_before_anything_starts(tmp_path, env, args, message):
    full = {k: v for k, v in os.environ.items()
            if k not in ("BACKEND", "SIM", "PRESET", "MODE", "N_TRAIN", "N_TEST", "EPOCHS",
                         "SEED", "HEAP", "STUCK", "DEAD_COLS")}
    p = subprocess.Popen([sys.executable, "-m", "cimtrain.cosim_main", "--out",
                          str(tmp_path / "cosim.json"), *args], cwd=ROOT, env={**full, **env},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=120)
    assert p.returncode != 0
    assert message in err, err
    assert not (tmp_path / "cosim.json").exists()
    assert "server" not in out
    # no window of this run (cosim_main names its windows cosim-<its pid>-<n>; other runs
    # on the machine may create theirs meanwhile)
    assert not [f for f in os.listdir("/dev/shm") if f.startswith(f"cimtrain.cosim-{p.pid}-")
                or f.startswith(f"cosim-{p.pid}-")]


# CKPT, CKPT_EVERY, RESUME: paths made under tmp_path ({t} in a value)
CKPT_CASES = [
    ({"CKPT": "{t}/ck", "CKPT_EVERY": "0"}, [],
     "CKPT_EVERY=0: a positive integer (training images between checkpoints)"),
    ({"CKPT": "{t}/ck", "CKPT_EVERY": "many"}, [], "CKPT_EVERY='many' is not an integer"),
    ({"CKPT_EVERY": "8"}, [], "CKPT_EVERY=8 without CKPT=DIR"),
    ({"CKPT": "{t}/file"}, [], "CKPT={t}/file: exists and is not a folder"),
    ({"CKPT": "{t}/no/such/ck"}, [], "CKPT={t}/no/such/ck: cannot be created"),
    ({"CKPT": "{t}/full"}, [], "CKPT={t}/full already holds a checkpoint (fw-00000008.ckpt): "
                               "continue it with RESUME={t}/full"),
    ({"RESUME": "{t}/none"}, [], "RESUME={t}/none: no such folder"),
    ({"RESUME": "{t}/empty"}, [], "RESUME={t}/empty: no checkpoint (fw-*.ckpt) in this folder"),
    ({"CKPT": "{t}/ck"}, ["ckpt_every=5"], "COSIM_ARGS: ckpt_every=...: use CKPT_EVERY="),
]


@pytest.mark.parametrize("env,args,message", CKPT_CASES,
                         ids=[c[2].split(":")[0].split("=")[0] + "-" + str(i)
                              for i, c in enumerate(CKPT_CASES)])
def test_bad_checkpoint_knob_is_refused_before_anything_starts(tmp_path, env, args, message):
    (tmp_path / "file").write_text("")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "fw-00000008.ckpt").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    env = {k: v.format(t=tmp_path) for k, v in env.items()}
    message = message.format(t=tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    full = {k: v for k, v in os.environ.items()
            if k not in ("BACKEND", "PRESET", "N_TRAIN", "N_TEST", "CKPT", "CKPT_EVERY",
                         "RESUME")}
    r = subprocess.run([sys.executable, "-m", "cimtrain.cosim_main", "--backend", "model",
                        "--preset", "seed-chip", "--n-train", "8", "--n-test", "4", "--out",
                        str(tmp_path / "cosim.json"), *args], cwd=ROOT, env={**full, **env},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr
    assert "server" not in r.stdout
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing made or removed
    assert (tmp_path / "full" / "fw-00000008.ckpt").read_bytes() == b"x"


def test_dead_cols_knob_becomes_the_firmware_option_with_the_check(monkeypatch):
    """make cosim DEAD_COLS=... (as make train): the firmware's dead_cols option (sorted, no
    duplicates) and stuck_check=1, unless stuck_check is given."""
    from cimtrain.cosim_main import parse_args
    for k in ("STUCK", "COSIM_ARGS", "PRESET"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("DEAD_COLS", "2:17, 0:3,2:17")
    a = parse_args([])
    assert (a.fw_cfg["dead_cols"], a.fw_cfg["stuck_check"]) == ("0:3,2:17", 1)
    a = parse_args(["stuck_check=0"])
    assert (a.fw_cfg["dead_cols"], a.fw_cfg["stuck_check"]) == ("0:3,2:17", 0)
    monkeypatch.delenv("DEAD_COLS")
    assert (parse_args([]).fw_cfg["dead_cols"], parse_args([]).fw_cfg["stuck_check"]) == ("", 0)
