"""Runs in one checkout at the same time do not clobber each other (issue 10): each run has
its own folder, results/latest and the results/<kind>.json copy are replaced atomically
and together (one lock), and shared build outputs (firmware .mpy, packs) are written
under unique temporary names and renamed."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
from pathlib import Path

from cimtrain import fwbuild, runs

ROOT = Path(__file__).resolve().parents[1]


def _check_results(res: Path, kind: str, expect_runs: int) -> list[Path]:
    """Every run folder complete, latest -> one of them, the copy = that run's JSON, no
    temporary left; returns the run folders."""
    dirs = sorted(p for p in res.iterdir() if p.is_dir() and not p.is_symlink())
    assert len(dirs) == expect_runs, dirs
    for d in dirs:
        run = json.loads((d / f"{kind}.json").read_text())
        assert run["run"] == d.name
    latest = res / "latest"
    assert latest.is_symlink() and latest.resolve() in {d.resolve() for d in dirs}
    copy = json.loads((res / f"{kind}.json").read_text())
    assert copy == json.loads((latest / f"{kind}.json").read_text())
    assert not [p.name for p in res.iterdir() if p.name.endswith(".tmp")]
    return dirs


def test_two_model_runs_at_once(tmp_path):
    res = tmp_path / "results"
    cmd = [sys.executable, "-m", "cimtrain.cosim_main", "--backend", "model", "--preset",
           "seed-chip", "--n-train", "2", "--n-test", "2", "--results", str(res)]
    procs = [subprocess.Popen([*cmd, "--seed", str(s)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for s in (1, 2)]
    try:
        outs = [p.communicate(timeout=600)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-3000:]
    dirs = _check_results(res, "cosim", 2)
    assert sorted(json.loads((d / "cosim.json").read_text())["seed"] for d in dirs) == [1, 2]
    for d in dirs:
        for png in ("accuracy.png", "writes.png"):
            assert (d / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _publisher(out: str, k: int, n: int, go) -> None:
    go.wait()
    for i in range(n):
        d = runs.run_dir(Path(out), "same-name")       # same name, same second
        res = {"run": d.name, "writer": k, "i": i}
        (d / "train.json").write_text(json.dumps(res))
        runs.publish(Path(out), d, res, Path(out) / "train.json")


def test_run_folders_and_publish_under_contention(tmp_path):
    """Four processes create run folders of one name in the same second and publish each
    at once, 25 times: every folder distinct (before: FileExistsError from mkdir, or from
    the shared .latest.tmp), the copy and the link of the same run at the end."""
    ctx = mp.get_context("fork")
    go = ctx.Event()
    procs = [ctx.Process(target=_publisher, args=(str(tmp_path), k, 25, go)) for k in range(4)]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 4
    _check_results(tmp_path, "train", 100)


def _build(out: str, go) -> None:
    go.wait()
    fwbuild.build(Path(out))


def test_concurrent_firmware_builds_rename_whole_files(tmp_path):
    """Two builds into one folder at once (two make cosim starting together): both succeed,
    every .mpy is whole (as a build alone makes it), no temporary left."""
    ref = fwbuild.build(tmp_path / "ref")
    ctx = mp.get_context("fork")
    go = ctx.Event()
    shared = tmp_path / "shared"
    procs = [ctx.Process(target=_build, args=(str(shared), go)) for _ in range(2)]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0, 0]
    names = sorted(os.listdir(shared))
    assert names == sorted(os.listdir(ref)) and not [n for n in names if n.endswith(".tmp")]
    for n in names:
        assert (shared / n).read_bytes() == (ref / n).read_bytes(), n
