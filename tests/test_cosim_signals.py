"""make cosim ends cleanly, whatever ends it: SIGTERM (a CI cancel, kill) and SIGHUP (a
closed terminal) stop the firmware and the server as Ctrl-C does, and nothing of the run
is left: no process, no /dev/shm window (issue 10)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run_procs(window: str) -> list[int]:
    """Processes whose command line names the run's window (server and launcher)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if window in cmd and state != "Z":
            out.append(int(pid))
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_mid_training_stops_everything(tmp_path, sig):
    p = subprocess.Popen([sys.executable, "-m", "cimtrain.cosim_main", "--backend", "model",
                          "--preset", "seed-chip", "--n-train", "2000", "--n-test", "10",
                          "--out", str(tmp_path / "cosim.json")],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    window = f"cosim-{p.pid}-0"
    lines = []
    try:
        deadline = time.monotonic() + 180
        for line in p.stdout:
            lines.append(line)
            if "calibrated" in line or time.monotonic() > deadline:
                break
        assert any("calibrated" in x for x in lines), "".join(lines[-30:])
        assert _run_procs(window), "no server or launcher found for " + window
        p.send_signal(sig)
        out, _ = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 130, "".join(lines[-20:]) + out
    assert "interrupted" in out
    deadline = time.monotonic() + 10
    while _run_procs(window) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _run_procs(window), f"left running: {_run_procs(window)}"
    assert not Path(f"/dev/shm/cimtrain.{window}").exists()
