"""make cosim CKPT=DIR CKPT_EVERY=N / RESUME=DIR (issue 10): a run interrupted by Ctrl-C,
SIGTERM or a kill -9 of its firmware, resumed from its last checkpoint, ends bit-identical
to a run never interrupted (state_digest: conductances, write counters, accumulators; and
every count and digest of the result); a checkpoint of another configuration, firmware or
a corrupted one is refused before anything starts, and nothing saved is overwritten."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
KNOBS = ("BACKEND", "SIM", "PRESET", "MODE", "N_TRAIN", "N_TEST", "EPOCHS", "SEED", "HEAP",
         "NAME", "CKPT", "CKPT_EVERY", "RESUME", "COSIM_ARGS", "STUCK")
# short: 24 seed-chip images, a checkpoint every 8 (one init round, one calibration image)
RUN = ["--preset", "seed-chip", "--n-train", "24", "--n-test", "16", "init_iters=1",
       "n_calib=1"]
# what may differ between two runs of one training: timings, heap, where and when
NOT_STATE = {"init_ms", "calib_ms", "train_ms", "test_ms", "total_ms", "heap_setup",
             "heap_max", "wall_s", "server", "run", "curve", "resumed_at", "commit", "date",
             "command", "env"}


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in KNOBS}


def cosim(tmp: Path, name: str, *args: str, backend: str = "model",
          run: list[str] = RUN) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cimtrain.cosim_main", "--backend", backend,
                             *run, "--results", str(tmp / "results"), "--name", name,
                             "--out", str(tmp / f"{name}.json"), *args],
                            cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def finish(p: subprocess.Popen, timeout: float = 600) -> str:
    try:
        out, _ = p.communicate(timeout=timeout)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
    return out


def result(tmp: Path, name: str) -> dict:
    return json.loads((tmp / f"{name}.json").read_text())


def state(res: dict) -> dict:
    return {k: v for k, v in res.items() if k not in NOT_STATE}


def _children(pid: int, word: str) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
            cmd = Path(f"/proc/{d}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat[1]) == pid and word in cmd:
            out.append(int(d))
    return out


def interrupt_after(p: subprocess.Popen, d: Path, tag: int, how: str,
                    timeout: float = 600) -> str:
    """Wait until checkpoint ``tag`` is in ``d``, then interrupt the run ``how``."""
    want = d / f"fw-{tag:08d}.ckpt"
    deadline = time.monotonic() + timeout
    while not want.exists():
        assert p.poll() is None, f"the run ended before checkpoint {tag}:\n{finish(p)}"
        assert time.monotonic() < deadline, f"no checkpoint {tag}"
        time.sleep(0.05)
    if how == "SIGINT":        # Ctrl-C: the terminal's process group
        os.killpg(p.pid, signal.SIGINT)
    elif how == "SIGTERM":     # kill, a CI cancel
        p.send_signal(signal.SIGTERM)
    else:                      # kill -9 of the firmware (the launcher runs it in-process)
        [fw] = _children(p.pid, "cimtrain.bridge.launch")
        os.kill(fw, signal.SIGKILL)
    out = finish(p, 120)
    assert p.returncode != 0, out
    assert f"RESUME={d} continues" in out, out
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The same training never interrupted and never checkpointed."""
    tmp = tmp_path_factory.mktemp("ref")
    out = finish(cosim(tmp, "ref"))
    assert "==== cimtrain cosim summary" in out, out[-3000:]
    return result(tmp, "ref")


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> tuple[Path, list[str], dict]:
    """One run interrupted three times (Ctrl-C after checkpoint 8, SIGTERM after 16, kill -9
    of its firmware after 24, in the test phase), each leg resumed from the last
    checkpoint; returns the folder, the outputs and the final result."""
    tmp = tmp_path_factory.mktemp("chain")
    d = tmp / "ckpt"
    outs = [interrupt_after(cosim(tmp, "leg0", "--ckpt", str(d), "--ckpt-every", "8"), d, 8,
                            "SIGINT")]
    outs.append(interrupt_after(cosim(tmp, "leg1", "--resume", str(d)), d, 16, "SIGTERM"))
    outs.append(interrupt_after(cosim(tmp, "leg2", "--resume", str(d)), d, 24, "SIGKILL"))
    outs.append(finish(cosim(tmp, "leg3", "--resume", str(d))))
    assert "==== cimtrain cosim summary" in outs[-1], outs[-1][-3000:]
    return d, outs, result(tmp, "leg3")


def test_interrupted_three_ways_and_resumed_ends_bit_identical(reference, chain):
    d, outs, res = chain
    for k, tag in enumerate((8, 16, 24)):
        assert f"resuming {d}/fw-{tag:08d}.ckpt" in outs[k + 1], outs[k + 1][-2000:]
    assert res["resumed_at"] == 24 and "resumed_at" not in reference
    assert res["state_digest"] == reference["state_digest"]
    assert state(res) == state(reference)
    assert reference["weight_updates"] > 0 and reference["images_trained"] == 24
    # only the newest checkpoint is kept, as a pair
    assert sorted(p.name for p in d.iterdir()) == ["chip-00000024.npz", "fw-00000024.ckpt"]


def _stopped_and_resumed(tmp_path, run: list, every: int, stop_at: int) -> tuple[dict, dict]:
    """``run`` uninterrupted, and again with a checkpoint every ``every`` images, stopped
    by SIGTERM after the one at ``stop_at`` and resumed: (reference, resumed) results."""
    ref = finish(cosim(tmp_path, "ref", run=run))
    assert "==== cimtrain cosim summary" in ref, ref[-3000:]
    d = tmp_path / "ckpt"
    interrupt_after(cosim(tmp_path, "leg0", "--ckpt", str(d), "--ckpt-every", str(every),
                          run=run), d, stop_at, "SIGTERM")
    out = finish(cosim(tmp_path, "leg1", "--resume", str(d), run=run))
    assert "==== cimtrain cosim summary" in out, out[-3000:]
    return result(tmp_path, "ref"), result(tmp_path, "leg1")


def test_stuck_cells_resumed_bit_identical(tmp_path):
    """With stuck cells (5%) and the stuck-cell check, the retired-weight map and its
    counters are firmware state too (firmware/ckpt.py STATE): a run stopped after its first
    checkpoint and resumed ends as the run never interrupted."""
    run = [*RUN[:3], "16", *RUN[4:], "--stuck", "0.05"]
    reference, res = _stopped_and_resumed(tmp_path, run, every=8, stop_at=8)
    assert reference["stuck_cells"] > 0 and reference["retired_weights"] > 0
    assert res["resumed_at"] == 8
    assert res["stuck_digest"] == reference["stuck_digest"]
    assert state(res) == state(reference)


def test_update_rules_resumed_bit_identical(tmp_path):
    """lr_adapt's per-layer shift offsets and largest steps are firmware state (ckpt.py
    STATE), and sr draws from the PRNG the checkpoint keeps: a run stopped after its first
    checkpoint (mid-epoch, 2 epochs: the band follows lr_step) and resumed ends as the run
    never interrupted.  The warm-up and the forward re-calibrations follow the image
    count the checkpoint keeps (warm-up to image 20, re-calibrated at 7, 14 and 21)."""
    run = [*RUN[:3], "12", *RUN[4:], "--epochs", "2", "n_min=1", "batch=2", "lr=-12",
           "lr_adapt=2", "sr=1", "warmup=20", "recal=7"]
    reference, res = _stopped_and_resumed(tmp_path, run, every=6, stop_at=18)
    assert res["resumed_at"] == 18 and reference["weight_updates"] > 0
    assert state(res) == state(reference)


def test_state_digest_tells_runs_apart(reference, tmp_path):
    """state_digest is not a constant: another seed trains another chip."""
    out = finish(cosim(tmp_path, "seed2", "--seed", "2"))
    assert "==== cimtrain cosim summary" in out, out[-3000:]
    other = result(tmp_path, "seed2")
    assert other["state_digest"] != reference["state_digest"]


# -- refusals: a copy of the chain's checkpoint, changed one way each ----------------------
def _rewrite_state(path: Path, edit) -> None:
    """Change the JSON header of a firmware state file, with a valid CRC (so that only
    the change itself can be the reason for a refusal)."""
    raw = path.read_bytes()
    m = struct.unpack_from("<I", raw, 12)[0]
    meta = json.loads(raw[16:16 + m])
    edit(meta)
    head = json.dumps(meta).encode()
    body = raw[:12] + struct.pack("<I", len(head)) + head + raw[16 + m:-4]
    path.write_bytes(body + struct.pack("<I", zlib.crc32(body)))


def _flip(path: Path, at: int) -> None:
    b = bytearray(path.read_bytes())
    b[at] ^= 0x40
    path.write_bytes(bytes(b))


def _chip_edit(path: Path) -> None:
    """A chip image whose array changed but whose recorded SHA-256 did not."""
    with np.load(path) as z:
        d = {k: z[k] for k in z.files}
    d["g"] = d["g"].copy()
    d["g"][0, 0, 0, 0] ^= 1
    np.savez_compressed(path, **d)


REFUSALS = [
    ("seed", ["--seed", "2"], None, "option seed=1, this run has seed=2"),
    ("n_test", ["--n-test", "8"], None, "option n_test=16, this run has n_test=8"),
    ("option", ["lr=-13"], None, "option lr=-12, this run has lr=-13"),
    ("firmware", [], lambda d: _rewrite_state(d / "fw-00000024.ckpt",
                                              lambda m: m.update(fw="0.0.1")),
     "written by firmware 0.0.1, this is"),
    ("data", [], lambda d: _rewrite_state(d / "fw-00000024.ckpt",
                                          lambda m: m["data"].__setitem__(0, 1234)),
     "data differ: train CRC-32 1234"),
    ("corrupted", [], lambda d: _flip(d / "fw-00000024.ckpt", -9),
     "CRC-32 mismatch: the file is corrupted"),
    ("truncated", [], lambda d: (d / "fw-00000024.ckpt").write_bytes(
        (d / "fw-00000024.ckpt").read_bytes()[:-100]), "truncated or corrupted"),
    ("chip-corrupted", [], lambda d: _chip_edit(d / "chip-00000024.npz"),
     "SHA-256 mismatch: the file is corrupted"),
    ("chip-missing", [], lambda d: (d / "chip-00000024.npz").unlink(), "no such chip image"),
]


@pytest.mark.parametrize("name,args,change,msg", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_other_or_corrupted_checkpoint_is_refused_before_anything_starts(
        chain, tmp_path, name, args, change, msg):
    import shutil
    d = tmp_path / "ckpt"
    shutil.copytree(chain[0], d)
    if change is not None:
        change(d)
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    shm = set(os.listdir("/dev/shm"))
    p = cosim(tmp_path, "refused", "--resume", str(d), *args)
    out = finish(p, 120)
    assert p.returncode != 0
    assert msg in out and "nothing was started" in out, out
    assert "server" not in out and not (tmp_path / "refused.json").exists()
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before  # nothing overwritten
    assert not {f for f in set(os.listdir("/dev/shm")) - shm if f"cosim-{p.pid}-" in f}


def test_preset_mismatch_is_refused(chain, tmp_path):
    p = cosim(tmp_path, "refused", "--resume", str(chain[0]), run=[
        "--preset", "default", "--n-train", "24", "--n-test", "16", "init_iters=1",
        "n_calib=1"])
    out = finish(p, 120)
    assert p.returncode != 0
    assert "preset seed-chip, this run has default" in out, out


def test_rtl_interrupted_and_resumed_ends_as_the_model_never_interrupted(tmp_path):
    """Once on the RTL (Icarus, seed-chip): SIGTERM after the first checkpoint, resumed (the
    chip image restored through the debug backdoor, write counters and OP_COUNT deposited
    and read back); it ends in the state of the model's run never interrupted (RTL and
    model are bit-exact: tests/test_train_e2e.py)."""
    run = ["--preset", "seed-chip", "--n-train", "6", "--n-test", "2", "init_iters=1",
           "n_calib=1"]
    out = finish(cosim(tmp_path, "model", run=run))
    assert "==== cimtrain cosim summary" in out, out[-3000:]
    d = tmp_path / "ckpt"
    interrupt_after(cosim(tmp_path, "rtl0", "--ckpt", str(d), "--ckpt-every", "3",
                          backend="rtl", run=run), d, 3, "SIGTERM", timeout=900)
    out = finish(cosim(tmp_path, "rtl1", "--resume", str(d), backend="rtl", run=run), 900)
    assert "==== cimtrain cosim summary" in out and "0 mismatches" in out, out[-3000:]
    assert "resumed chip image" in out, out[-3000:]
    model, rtl = result(tmp_path, "model"), result(tmp_path, "rtl1")
    assert rtl["resumed_at"] == 3 and rtl["state_digest"] == model["state_digest"]
    skip = {"backend", "sim", "options"}
    assert ({k: v for k, v in state(rtl).items() if k not in skip}
            == {k: v for k, v in state(model).items() if k not in skip})


def test_firmware_checks_its_checkpoint_by_itself(tmp_path):
    """A board has no host to check a checkpoint: the firmware refuses one of another
    configuration, and a chip whose image was not restored (its OP_COUNT), by itself."""
    from cimtrain import dataset, fwbuild
    from cimtrain.bridge.harness import launch_cmd, serve_in_thread, unique_name
    from cimtrain.bridge.simctl import SimCtl
    from cimtrain.model import CimMacro

    fw = fwbuild.build()
    train = dataset.pack("train", count=4, out=tmp_path / "train.bin")
    test = dataset.pack("test", count=2, out=tmp_path / "test.bin")
    d = tmp_path / "ck"
    base = ["net=seedcnn", f"train={train}", f"test={test}", "n_train=4", "n_test=2",
            "init_iters=1", "n_calib=1", "batch=2"]

    def run(args: list[str], model: CimMacro, ckpt_dir: Path | None):
        with serve_in_thread(unique_name("ck"), model, attach_timeout_s=60) as srv:
            srv.server.simctl = SimCtl(ckpt_dir)
            cmd = launch_cmd(srv.name, fw / fwbuild.ENTRY, args,
                             ["--heap", "16M", "--firmware-dir", str(fw)])
            return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)

    r = run([*base, f"ckpt={d}", "ckpt_every=2"], CimMacro("seed-chip"), d)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert sorted(p.name for p in d.iterdir()) == ["chip-00000004.npz", "fw-00000004.ckpt"]
    restored = CimMacro("seed-chip")
    img = restored.array.load_image(d / "chip-00000004.npz")
    restored.op_count = int(img["op_count"])
    r = run([*base, "seed=2", f"resume={d}"], restored, None)
    assert r.returncode != 0 and "option seed=1, this run has 2" in r.stderr, r.stderr[-2000:]
    r = run([*base, f"resume={d}"], CimMacro("seed-chip"), None)   # a fresh chip
    assert r.returncode != 0, r.stdout[-2000:]
    assert f"the macro's OP_COUNT is 0, the checkpoint's {int(img['op_count'])}" in r.stderr, \
        r.stderr[-2000:]
