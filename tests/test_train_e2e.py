"""End-to-end training: firmware/train.py on the virtual board, through RTL and model.

* The same firmware, seed and images on the RTL server (Icarus, scoreboard in lockstep)
  and on the model server end with identical predictions, accumulators and conductances
  (DESIGN.md contract 2): the firmware reports FNV digests of all three.
* LeNet-5 trains within a 256 KB MicroPython heap (the firmware's memory budget).
* Bad configuration is a clear error and a non-zero exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cimtrain import dataset, fwbuild
from cimtrain.bridge import status as S
from cimtrain.bridge.harness import launch_cmd, serve_in_thread, unique_name
from cimtrain.model import CimMacro

ROOT = Path(__file__).resolve().parents[1]
FW_DIR = fwbuild.build()              # the firmware as a board runs it: .mpy modules
TRAIN_FW = FW_DIR / fwbuild.ENTRY
TIMING = ("init_ms", "calib_ms", "train_ms", "test_ms", "total_ms", "heap_setup", "heap_max")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    return (dataset.pack("train", count=8, out=d / "train.bin"),
            dataset.pack("test", count=4, out=d / "test.bin"))


def result_of(stdout: str) -> dict:
    lines = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"no RESULT line in firmware output:\n{stdout[-3000:]}"
    return json.loads(lines[-1][7:])


def run_on_model(preset, args, heap="16M", timeout=600):
    model = CimMacro(preset)
    with serve_in_thread(unique_name("e2e"), model, attach_timeout_s=30) as srv:
        cmd = launch_cmd(srv.name, TRAIN_FW, args,
                         ["--heap", heap, "--firmware-dir", str(FW_DIR)])
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return r, srv, model


def run_on_rtl(preset, args, status, timeout=1200):
    window = unique_name("e2e-rtl")
    server = subprocess.Popen(
        [sys.executable, "-m", "cimtrain.cosim.rtl_server", "--window", window, "--preset",
         preset, "--attach-timeout", "120", "--status", str(status)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, SIM=os.environ.get("SIM", "icarus")))
    try:
        cmd = launch_cmd(window, TRAIN_FW, args, ["--wait", "300", "--heap", "16M",
                                                  "--firmware-dir", str(FW_DIR)])
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        out, _ = server.communicate(timeout=120)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    return r, server.returncode, out


def test_rtl_and_model_end_bit_identical(data, tmp_path):
    """Short seed-chip training on both backends: identical digests and counts."""
    train, test = data
    args = ["net=seedcnn", f"train={train}", f"test={test}", "n_train=3", "n_test=3",
            "batch=2", "n_calib=1", "digest=1", "seed=7", "lr=-12", "progress=1", "n_min=1"]
    rm, srv, _ = run_on_model("seed-chip", args)
    assert rm.returncode == 0, rm.stdout[-3000:] + rm.stderr[-3000:]
    assert srv.exits == [0] and srv.error is None
    res_model = result_of(rm.stdout)
    status = tmp_path / "rtl-status.json"
    rr, rtl_rc, rtl_out = run_on_rtl("seed-chip", args, status)
    assert rr.returncode == 0, rr.stdout[-3000:] + rr.stderr[-3000:] + rtl_out[-3000:]
    assert rtl_rc == 0, "RTL server (scoreboard) failed:\n" + rtl_out[-3000:]
    res_rtl = result_of(rr.stdout)
    # the scoreboard checked every access of the run against the model and found nothing
    st = S.read(status)
    assert st is not None and st["state"] == "done", (st, rtl_out[-2000:])
    [sess] = st["sessions"]
    stats = sess["stats"]
    assert sess["exit"] == 0 and sess["mismatches"] == 0, sess
    # (every firmware access reached the bus, plus the server's wait_done STATUS polls)
    assert stats["responses_checked"] == stats["writes"] + stats["reads"] + sess["status_polls"]
    assert stats["writes"] > stats["reads"] > res_rtl["vmm_ops"] > 0, stats
    assert res_model["weight_updates"] > 0, "the short run must program some weights"
    for k in TIMING:
        res_model.pop(k)
        res_rtl.pop(k)
    assert res_rtl == res_model


@pytest.mark.parametrize("extra", [[], ["lr_adapt=2", "sr=1", "n_min=1"]],
                         ids=["defaults", "update-rules"])
def test_lenet5_trains_in_a_256k_heap(data, extra):
    """(update-rules: lr_adapt and sr keep a few ints per layer, no per-weight buffer)"""
    train, test = data
    args = ["net=lenet5", f"train={train}", f"test={test}", "n_train=2", "n_test=2",
            "batch=2", "n_calib=1", "init_amp=64", "wv_iters=2", "progress=1", *extra]
    r, srv, model = run_on_model("default", args, heap="256K")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = result_of(r.stdout)
    assert res["images_trained"] == 2 and res["weights"] == 44190
    assert res["heap_max"] < 256 * 1024
    # every weight was programmed at init: both cells of all 44,190 pairs were pulsed
    assert int((model.array.wc > 0).sum()) >= 2 * 44190 * 0.99


@pytest.mark.parametrize("arg, msg", [("mode=bogus", "mode=bogus"),
                                      ("acc_bits=12", "acc_bits=12"),
                                      ("nosuch=1", "unknown option"),
                                      ("lr=1,2", "one shift per layer"),
                                      ("n_train=99", "hold 8"),
                                      ("lr_adapt=9", "lr_adapt=9"), ("sr=2", "sr=2"),
                                      ("brange_lo=127", "brange_lo=127")])
def test_bad_configuration_is_a_clear_error(data, arg, msg):
    train, test = data
    args = ["net=seedcnn", f"train={train}", f"test={test}", "n_train=2", "n_test=2", arg]
    r, _, _ = run_on_model("seed-chip", args, timeout=60)
    assert r.returncode != 0
    assert msg in r.stderr + r.stdout, r.stderr[-2000:]


@pytest.mark.parametrize("mode", ["open", "wv"])
def test_both_update_modes_program_weights(data, mode):
    """A few seed-chip images in each mode: accumulators cross, devices get written."""
    train, test = data
    args = ["net=seedcnn", f"train={train}", f"test={test}", "n_train=4", "n_test=2",
            "batch=2", "n_calib=1", "lr=-14", f"mode={mode}", "progress=2", "n_min=1"]
    r, srv, model = run_on_model("seed-chip", args)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = result_of(r.stdout)
    assert res["weight_updates"] > 0 and 0 < res["weights_written"] <= res["weight_updates"]
    assert res["max_writes_per_weight"] >= 1
    # the device counted every pulse the firmware sent: init + training
    assert res["pulses"] == int(model.array.wc.sum())
    train_pulses = res["pulses"] - res["init_pulses"]
    if mode == "open":  # 1..n_max (8) pulses per update, and no row reads after init
        assert res["weight_updates"] <= train_pulses <= 8 * res["weight_updates"]
        assert res["read_ops"] == res["init_reads"]
    else:  # write-verify reads the rows it programs
        assert res["read_ops"] > res["init_reads"] and train_pulses > 0
    assert "epoch 1  4/4 images" in r.stdout
    # weights by write count: every weight once, the written ones, every update once
    h = res["writes_histogram"]
    assert len(h) == 16 and sum(h) == res["weights"]
    assert sum(h[1:]) == res["weights_written"]
    assert sum(k * n for k, n in enumerate(h)) == res["weight_updates"]  # (none reach 15)
    check_progress_lines(r.stdout, n_train=4, n_test=2, layers=3, res=res)


def check_progress_lines(stdout: str, n_train: int, n_test: int, layers: int, res: dict):
    """The firmware's PROGRESS lines (the host's bars): every phase in order, each counting
    up to its total, at most one line per percent, the last training line's counters
    equal to the RESULT's."""
    from cimtrain import progress
    lines = [progress.parse(ln) for ln in stdout.splitlines() if ln.startswith("PROGRESS ")]
    order = [p[0] for i, p in enumerate(lines) if i == 0 or lines[i - 1][0] != p[0]]
    assert order == ["init", "calib", "train", "test"], order
    for phase, total in (("init", None), ("calib", layers), ("train", n_train),
                         ("test", n_test)):
        ps = [p for p in lines if p[0] == phase]
        assert total is None or {p[2] for p in ps} == {total}, (phase, ps)
        done = [p[1] for p in ps]
        assert done == sorted(set(done)) and done[-1] == ps[-1][2], (phase, done)
        assert len(ps) <= 101, f"{phase}: {len(ps)} lines, more than one per percent"
    last = [p for p in lines if p[0] == "train"][-1][3]
    assert last["k"] == n_train and last["epoch"] == 1
    assert last["updates"] == res["weight_updates"]


def test_chance_level_verdict():
    """make cosim's verdict: one-sided binomial tail against 10% guessing."""
    from cimtrain.cosim_main import binom_tail, chance_verdict
    assert binom_tail(0, 10) == pytest.approx(1.0)
    assert binom_tail(10, 10) == pytest.approx(1e-10)
    assert binom_tail(1, 2) == pytest.approx(1 - 0.9 ** 2)
    assert chance_verdict(binom_tail(6, 30)).startswith("NOT")      # 20% of 30: p = 0.07
    assert chance_verdict(binom_tail(30, 100)).startswith("above")  # 30% of 100: p = 2e-8
    assert chance_verdict(binom_tail(913, 1000)).endswith("< 1e-300")  # underflows to 0
