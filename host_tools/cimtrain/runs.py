"""Run folders: every `make train` and `make cosim` run writes its own
results/<date>-<time>-<name>/ (its JSON and PNG figures); results/latest points at the
newest run folder, and results/<kind>.json (train.json, cosim.json) is a copy of the
newest run's JSON of that kind."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from .fileio import temp_name, write_atomic
from .paths import ROOT


def git_commit() -> str:
    """The checkout's commit (short hash, "+dirty" if the tree has changes), or "unknown"
    (an installed wheel, no git)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, timeout=10).stdout.strip()
        if not head:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, text=True, capture_output=True,
                               timeout=10).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_dir(out: Path, name: str) -> Path:
    """A new folder out/<date>-<time>-<name>/ (-2, -3, ... if that exists), claimed by its
    mkdir: two runs started in the same second never share one."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    k = 1
    while True:
        d = out / (f"{stamp}-{name}" + (f"-{k}" if k > 1 else ""))
        try:
            d.mkdir()
            return d
        except FileExistsError:
            k += 1


def publish(out: Path, d: Path, res: dict, copy: Path) -> None:
    """``copy`` (of the run's JSON: results/train.json, results/cosim.json) and
    out/latest -> d, for the newest run.  Each is replaced atomically (a temporary of a
    unique name, renamed), and both under one lock (out/.publish.lock), so that runs
    finishing together leave the copy and the link of one and the same run."""
    copy.parent.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".publish.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        write_atomic(copy, (json.dumps(res, indent=1) + "\n").encode())
        link = out / "latest"
        if link.is_symlink() or not link.exists():
            tmp_link = temp_name(link)
            try:
                tmp_link.symlink_to(d.name if d.parent.resolve() == out.resolve()
                                    else d.resolve())
                os.replace(tmp_link, link)
            finally:
                tmp_link.unlink(missing_ok=True)


def command_line(module: str) -> str:
    """The command that started this process, as a user would type it again."""
    argv = sys.argv[1:]
    head = (sys.argv[0] if sys.argv[0].startswith("cimtrain ")
            else f"{Path(sys.executable).name} -m {module}")
    return " ".join([head, *map(shlex.quote, argv)])


def provenance(module: str, env_keys: tuple[str, ...]) -> dict:
    """Commit, date, command line and the make variables of this run."""
    return {"commit": git_commit(), "date": dt.datetime.now().isoformat(timespec="seconds"),
            "command": command_line(module),
            "env": {k: os.environ[k] for k in env_keys if os.environ.get(k)}}
