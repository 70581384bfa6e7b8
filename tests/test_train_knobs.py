"""Every make train knob is checked before anything starts (no MNIST loaded, no run folder
made), by the same checks as make cosim's (cimtrain/knobs.py), and a bad one is named
with its value and what is allowed (issue 10)."""

from __future__ import annotations

import pytest

from cimtrain import dataset
from cimtrain.trainer import cli

KNOBS = ("PRESET", "MODE", "BASELINE", "N_TRAIN", "N_TEST", "EPOCHS", "SEED", "RESUME", "NAME",
         "ARGS")

CASES = [
    ({"PRESET": "bogus"}, [], "PRESET='bogus': choose from default, seed-chip"),
    ({"MODE": "bogus"}, [], "MODE='bogus': choose from open, wv"),
    ({"BASELINE": "fp64"}, [], "BASELINE='fp64': choose from '', fp32"),
    ({"N_TRAIN": "-5"}, [], "N_TRAIN=-5: allowed 1..60000"),
    ({"N_TRAIN": "60001"}, [], "N_TRAIN=60001: allowed 1..60000"),
    ({"N_TEST": "0"}, [], "N_TEST=0: allowed 1..10000"),
    ({"EPOCHS": "0"}, [], "EPOCHS=0: allowed 1..1000"),
    ({"SEED": "-1"}, [], "SEED=-1: allowed 0..4294967295"),
    ({"SEED": str(1 << 32)}, [], "SEED=4294967296: allowed 0..4294967295"),
    ({"N_TRAIN": "many"}, [], "train: N_TRAIN='many' is not an integer"),
    ({"RESUME": "results/nowhere/checkpoint.npz"}, [],
     "RESUME=results/nowhere/checkpoint.npz: no such file"),
    ({"NAME": "../elsewhere"}, [], "NAME='../elsewhere': a run name is letters, digits"),
    ({"ARGS": "lr=abc"}, [], "ARGS: lr='abc': one integer shift, or one per layer"),
    ({"ARGS": "bogus=1"}, [], "ARGS: unknown option 'bogus'"),
    ({}, ["n_min=99"], "ARGS: n_min=99: 1 .. n_max (8)"),
    ({"ARGS": "lr"}, [], "ARGS: 'lr' is not key=value"),
    ({}, ["n_train=60001"], "ARGS: n_train=60001: allowed up to 60000 (MNIST's train images)"),
    ({}, ["--curve-points", "-1"], "--curve-points=-1: allowed 0..1000"),
    ({}, ["--lr-fp32", "nan"], "--lr-fp32=nan: a learning rate > 0"),
]


@pytest.fixture
def no_data(monkeypatch):
    """MNIST must not be touched: a bad knob is refused before."""
    def refuse(*_a, **_k):
        raise AssertionError("MNIST loaded before the knobs were checked")
    monkeypatch.setattr(dataset, "load", refuse)
    for k in KNOBS:
        monkeypatch.delenv(k, raising=False)


@pytest.mark.parametrize("env,args,message", CASES, ids=[c[2].split(":")[0] + "-" + str(i)
                                                         for i, c in enumerate(CASES)])
def test_bad_knob_is_refused_by_name_before_anything_starts(tmp_path, monkeypatch, capsys,
                                                            no_data, env, args, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "results"
    assert cli.main(["--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert not out.exists()


def test_good_knobs_pass(monkeypatch, no_data, tmp_path):
    """The checks refuse only what is wrong: the documented examples parse."""
    for env, args in (({"EPOCHS": "3", "SEED": "2", "ARGS": "lr=-12 batch=16"}, []),
                      ({"PRESET": "seed-chip", "NAME": "my-run.2"}, ["n_train=100"]),
                      ({"BASELINE": "fp32", "SEED": str((1 << 32) - 1)}, ["--curve-points", "0"])):
        for k in KNOBS:
            monkeypatch.delenv(k, raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        a = cli.parse_args(["--out", str(tmp_path), *args])
        cfg = cli.build_cfg(a)
        assert cfg["seed"] == int(env.get("SEED", 1))
