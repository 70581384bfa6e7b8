"""`make train` as a user runs it: resume, checkpoints, bad options, the exported chip
image served to the firmware, the fp32 baseline's data order."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cimtrain import dataset, fwbuild
from cimtrain.bridge.harness import launch_cmd, serve_in_thread, unique_name
from cimtrain.model import CimMacro
from cimtrain.model.chip_image import ChipImageError
from cimtrain.model.chip_image import load as load_image
from cimtrain.trainer import Trainer, checkpoint, options
from cimtrain.trainer.baseline import firmware_order, train_fp32
from cimtrain.trainer.cli import main as train_main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--preset", "seed-chip", "--n-train", "24", "--n-test", "12", "--curve-points", "3",
         "--curve-test", "6", "batch=4", "lr=-12"]


def run_cli(tmp_path: Path, *args: str) -> dict:
    assert train_main([*SMALL, "--out", str(tmp_path), *args]) == 0
    return json.loads((tmp_path / "train.json").read_text())


@pytest.mark.parametrize("opts", [[], ["lr_adapt=2", "sr=1", "n_min=1"]],
                         ids=["defaults", "update-rules"])
def test_resumed_run_ends_bit_identical(tmp_path, opts):
    """2 epochs straight vs 1 epoch, checkpoint, resume for the 2nd: same chip, same
    accumulators, same predictions and counters (update-rules: lr_adapt's shift offsets
    and sr's PRNG are in the checkpoint)."""
    a = run_cli(tmp_path / "a", "--epochs", "2", *opts)
    run_cli(tmp_path / "b", "--epochs", "1", *opts)
    ckpt = next((tmp_path / "b").glob("*/checkpoint.npz"))
    b = run_cli(tmp_path / "b", "--epochs", "2", "--resume", str(ckpt), *opts)
    assert a["images_trained"] == b["images_trained"] == 48
    fa, fb = a["firmware_result"], b["firmware_result"]
    for k in ("init_ms", "calib_ms", "train_ms", "test_ms"):
        fa.pop(k), fb.pop(k)
    assert fa == fb and fa["weight_updates"] > 0
    assert [e["test_accuracy"] for e in a["per_epoch"]] == \
        [e["test_accuracy"] for e in b["per_epoch"]]
    ia = load_image(next((tmp_path / "a").glob("*/chip.npz")))
    ib = load_image(tmp_path / "b" / "latest" / "chip.npz")
    assert np.array_equal(ia["g"], ib["g"]) and np.array_equal(ia["wc"], ib["wc"])
    for name in ("accuracy.png", "writes.png", "conductance.png"):
        assert (tmp_path / "b" / "latest" / name).stat().st_size > 1000
    for key in ("images_per_s", "test_accuracy", "writes_per_weight_mean",
                "writes_per_weight_max"):
        assert key in b


def test_corrupted_checkpoint_is_refused(tmp_path):
    run_cli(tmp_path, "--epochs", "1")
    ckpt = next(tmp_path.glob("*/checkpoint.npz"))
    checkpoint.load(ckpt)  # intact: loads
    with np.load(ckpt) as z:
        body = {k: z[k] for k in z.files}
    body["acc_0"][0, 0] += 1  # one accumulator changed, the stored SHA-256 kept
    bad = tmp_path / "bad.npz"
    np.savez(bad, **body)
    with pytest.raises(checkpoint.CheckpointError, match="checksum"):
        checkpoint.load(bad)
    assert train_main([*SMALL, "--out", str(tmp_path), "--resume", str(bad)]) == 2


@pytest.mark.parametrize("arg, msg", [("lr=abc", "lr="), ("nosuch=1", "unknown option"),
                                      ("mode=x", "mode=x"), ("set_amp=9000", "set_amp"),
                                      ("acc_bits=12", "acc_bits")])
def test_bad_options_are_refused_by_name(tmp_path, capsys, arg, msg):
    assert train_main([*SMALL, "--out", str(tmp_path), arg]) == 2
    assert msg in capsys.readouterr().err
    assert not list(tmp_path.glob("*/train.json"))


def test_learning_rate_shifts_one_or_one_per_layer():
    assert options.parse(net="lenet5", lr="-12")["lr_shifts"] == [-12] * 5
    assert options.parse(net="seedcnn", lr="-9,-10,-11")["lr_shifts"] == [-9, -10, -11]
    with pytest.raises(options.OptionError, match="one shift per layer"):
        options.parse(net="seedcnn", lr="-9,-10")


def test_trained_chip_image_serves_the_firmware(tmp_path):
    """A chip image the trainer exports, loaded by the model, gives the firmware (no
    re-programming: init_iters=0, no training) exactly the trainer's predictions on
    the same image."""
    trained = run_cli(tmp_path, "--epochs", "1", "--n-train", "400", "--n-test", "60", "lr=-11")
    img = next(tmp_path.glob("*/chip.npz"))
    args = ["net=seedcnn", "n_train=0", "n_test=60", "init_iters=0", "seed=1"]
    (xi, yi), (xt, yt) = dataset.load("train"), dataset.load("test")
    t = Trainer(options.parse(dict(a.split("=") for a in args)), "seed-chip",
                (xi[:1], yi[:1]), (xt[:60], yt[:60]), chip_image=str(img))
    t.setup()
    correct, digest, _ = t.evaluate()
    fw_dir = fwbuild.build()
    train = dataset.pack("train", count=1, out=tmp_path / "train.bin")
    test = dataset.pack("test", count=60, out=tmp_path / "test.bin")
    model = CimMacro("seed-chip")
    model.array.load_image(img)
    with serve_in_thread(unique_name("img"), model, attach_timeout_s=30) as srv:
        cmd = launch_cmd(srv.name, fw_dir / fwbuild.ENTRY,
                         [f"train={train}", f"test={test}", *args],
                         ["--heap", "16M", "--firmware-dir", str(fw_dir)])
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])
    assert (res["test_correct"], res["pred_digest"]) == (correct, digest)
    # trained (and re-calibrated on one image): at least twice guessing (6 of 60)
    assert trained["test_accuracy"] >= 0.2 and res["test_correct"] >= 12
    with pytest.raises(ChipImageError, match="does not fit"):
        CimMacro("default").array.load_image(img)


def test_model_server_refuses_a_bad_chip_image(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"not a zip")
    r = subprocess.run([sys.executable, "-m", "cimtrain.bridge.model_server", "--window",
                        unique_name("bad"), "--chip-image", str(bad)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "not a readable chip image" in r.stderr


def test_baseline_visits_the_firmwares_order_and_learns():
    (xi, yi), (xt, yt) = dataset.load("train"), dataset.load("test")
    cfg = options.parse(net="seedcnn", n_train=600, n_test=300, seed=5)
    t = Trainer(cfg, "seed-chip", (xi[:600], yi[:600]), (xt[:300], yt[:300]))
    t.setup()
    stride, starts = firmware_order(cfg, t.net.n_weights)
    assert stride == t.stride and starts[0] == t.rng.below(600)
    r = train_fp32(cfg, (xi, yi), (xt, yt))
    assert r["images_trained"] == 600 and r["per_epoch"][0]["test_accuracy"] > 0.4


def test_sigterm_stops_the_run_and_names_the_checkpoint(tmp_path):
    """SIGTERM (a CI cancel, kill) mid-training: exit 130 at once, the message names the
    last checkpoint, and resuming from it finishes the run."""
    import signal
    import time
    cmd = [sys.executable, "-m", "cimtrain.trainer", *SMALL, "--out", str(tmp_path),
           "--epochs", "200", "--n-train", "100"]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("*/checkpoint.npz")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert list(tmp_path.glob("*/checkpoint.npz")), "no checkpoint within 120 s"
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, err[-2000:]
    ckpt = next(tmp_path.glob("*/checkpoint.npz"))
    assert f"RESUME={ckpt}" in err
    epochs = checkpoint.load(ckpt)[1]["epoch"]
    assert train_main([*SMALL, "--out", str(tmp_path / "r"), "--n-train", "100",
                       "--resume", str(ckpt), "--epochs", str(epochs + 1)]) == 0


def test_resume_of_a_finished_run_says_to_raise_epochs(tmp_path, capsys):
    run_cli(tmp_path, "--epochs", "1")
    ckpt = next(tmp_path.glob("*/checkpoint.npz"))
    assert train_main([*SMALL, "--out", str(tmp_path), "--resume", str(ckpt)]) == 2
    assert "already holds 1 epoch(s)" in capsys.readouterr().err
