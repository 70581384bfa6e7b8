"""Progress and run folders (issue 12): the firmware's PROGRESS lines become bars with an
ETA (plain lines in logs), the training points a learning curve; every run writes its own
folder with JSON and figures, results/latest points at the newest, and
`python -m cimtrain.report` draws several runs on one figure."""

from __future__ import annotations

import argparse
import json
import re

import pytest

from cimtrain import cosim_main, progress, report, runs


def test_parse_progress_lines():
    assert progress.parse("PROGRESS init 3 635") == ("init", 3, 635, {})
    assert progress.parse("PROGRESS train 50 250 epoch=1 k=50 correct=9 updates=1200") == (
        "train", 50, 250, {"epoch": 1, "k": 50, "correct": 9, "updates": 1200})
    assert progress.parse("epoch 1  50/250 images  train acc 18.00%") is None
    for bad in ("PROGRESS train x 250", "PROGRESS train 5", "PROGRESS train 5 9 k",
                "PROGRESS lunch 1 2", "PROGRESS test 11 10"):
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            progress.parse(bad)


def test_plain_progress_in_logs(capsys):
    """Not a terminal: one line per 10% with rate and ETA, other lines as they are, and the
    training points kept as the learning curve."""
    fp = progress.FirmwareProgress(tty=False)
    fp.line("cimtrain: seedcnn, 2776 weights")
    for k in range(1, 21):
        fp.line(f"PROGRESS train {k} 20 epoch=1 k={k} correct={k // 4} updates={10 * k}")
    fp.line("PROGRESS lunch 1 2")
    fp.line("test: 1/10 correct")
    fp.close()
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "cimtrain: seedcnn, 2776 weights"
    bars = [ln for ln in out if ln.startswith("train: ")]
    # the bar starts after the first image (not timed): 10% steps from 3/20 on, and the end
    assert [ln.split()[1] for ln in bars] == [f"{k}/20" for k in (*range(3, 21, 2), 20)]
    assert all(" img/s, ETA " in ln for ln in bars), bars
    assert bars[-1].endswith("epoch 1  train acc 25.0%  updates 200"), bars[-1]
    assert "cosim: firmware progress line 'PROGRESS lunch 1 2': unknown phase" in out[-2]
    assert out[-1] == "test: 1/10 correct"
    assert [(p["images_seen"], p["weight_updates"]) for p in fp.curve] == [
        (k, 10 * k) for k in range(1, 21)]
    assert fp.curve[7]["train_accuracy"] == 2 / 8


def _cosim_args(tmp_path, **kw) -> argparse.Namespace:
    a = cosim_main.parse_args(["--backend", "model", "--preset", "seed-chip", "--n-train", "8",
                               "--n-test", "4", "--results", str(tmp_path / "results")])
    for k, v in kw.items():
        setattr(a, k, v)
    return a


SUMMARY = {"backend": "model", "sim": None, "preset": "seed-chip", "wall_s": 9.0,
           "server": {}, "net": "seedcnn", "mode": "open", "acc_bits": 16, "seed": 1,
           "epochs": 1, "images_trained": 8, "n_test": 4, "test_correct": 2,
           "test_accuracy_x100": 5000, "weights": 2776, "weight_updates": 30,
           "weights_written": 25, "max_writes_per_weight": 2,
           "writes_histogram": [2751, 20, 5] + [0] * 13, "p_chance": 0.05}
CURVE = [{"images_seen": k, "epoch": 1, "train_accuracy": k / 16, "weight_updates": 4 * k}
         for k in range(1, 9)]


def test_cosim_run_folder_and_latest(tmp_path):
    a = _cosim_args(tmp_path, fw_args=["lr=-12"])
    d1 = cosim_main.save_run(a, "seedcnn", dict(SUMMARY), CURVE)
    d2 = cosim_main.save_run(a, "seedcnn", dict(SUMMARY, seed=2), CURVE)
    res = tmp_path / "results"
    assert d1 != d2 and d1.parent == d2.parent == res
    assert re.fullmatch(r"\d{8}-\d{6}-cosim-model-seedcnn-s1(-2)?", d1.name), d1.name
    assert (res / "latest").resolve() == d2.resolve()
    run = json.loads((d2 / "cosim.json").read_text())
    assert json.loads((res / "cosim.json").read_text()) == run
    for k in ("commit", "date", "command", "options", "curve"):
        assert run[k], k
    assert run["options"]["n_train"] == 8
    assert run["options"]["firmware"] == [*cosim_main.COSIM_OPTIONS, "lr=-12"]
    assert run["curve"] == CURVE and run["test_accuracy"] == 0.5
    assert run["per_epoch"] == [{"epoch": 1, "images_seen": 8, "test_accuracy": 0.5}]
    for png in ("accuracy.png", "writes.png"):
        assert (d2 / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png


def test_explicit_out_is_the_copy(tmp_path):
    a = _cosim_args(tmp_path, out=str(tmp_path / "elsewhere" / "run.json"), name="mine")
    d = cosim_main.save_run(a, "seedcnn", dict(SUMMARY), CURVE)
    assert d.name.endswith("-mine")
    assert json.loads((tmp_path / "elsewhere" / "run.json").read_text())["run"] == d.name
    assert not (tmp_path / "results" / "cosim.json").exists()


def test_report_draws_several_runs(tmp_path, capsys):
    a = _cosim_args(tmp_path)
    d = cosim_main.save_run(a, "seedcnn", dict(SUMMARY), CURVE)
    train = tmp_path / "train-run"
    train.mkdir()
    (train / "train.json").write_text(json.dumps({
        "run": "t", "n_test": 100, "curve": [{"images_seen": 100, "test_accuracy": 0.5}],
        "per_epoch": [{"images_seen": 200, "test_accuracy": 0.7}]}))
    out = tmp_path / "cmp.png"
    assert report.main([str(d), str(train), "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert report.load_run(d)["label"] == d.name
    empty = tmp_path / "empty"
    empty.mkdir()
    assert report.main([str(empty), "--out", str(out)]) == 2
    assert "no train.json or cosim.json in this folder" in capsys.readouterr().err


def test_command_line_of_the_console_script(monkeypatch):
    monkeypatch.setattr("sys.argv", ["cimtrain cosim", "--n-train", "8", "lr=-12 x"])
    assert runs.command_line("cimtrain.cosim_main") == "cimtrain cosim --n-train 8 'lr=-12 x'"
    monkeypatch.setattr("sys.argv", ["/x/cosim_main.py", "--n-train", "8"])
    assert runs.command_line("cimtrain.cosim_main").endswith(
        " -m cimtrain.cosim_main --n-train 8")
