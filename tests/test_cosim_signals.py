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


def _start_until_training(tmp_path, backend: str, timeout_s: float):
    """make cosim on the seed-chip preset, read until calibration is done (training runs
    next); returns the process, its window name and the lines read."""
    p = subprocess.Popen([sys.executable, "-m", "cimtrain.cosim_main", "--backend", backend,
                          "--preset", "seed-chip", "--n-train", "2000", "--n-test", "10",
                          "--out", str(tmp_path / "cosim.json")],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    for line in p.stdout:
        lines.append(line)
        if "calibrated" in line or time.monotonic() > deadline:
            break
    return p, f"cosim-{p.pid}-0", lines


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_mid_training_stops_everything(tmp_path, sig):
    p, window, lines = _start_until_training(tmp_path, "model", 180)
    try:
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


@pytest.mark.parametrize("backend", ["model", "rtl"])
def test_sigkill_of_cosim_takes_server_simulator_and_firmware_with_it(tmp_path, backend):
    """kill -9 runs no cleanup in cosim_main: its children follow it by themselves
    (parent-death signal, cimtrain/lifetime.py), the RTL server's simulator too."""
    p, window, lines = _start_until_training(tmp_path, backend, 300)
    try:
        assert any("calibrated" in x for x in lines), "".join(lines[-30:])
        procs = _run_procs(window)
        if backend == "rtl":   # the simulator names the window only in its environment
            procs += [int(x) for x in subprocess.run(
                ["pgrep", "-f", f"sim_build/cim_tb_top_{os.environ.get('SIM', 'icarus')}"
                                "_seed-chip"], capture_output=True, text=True).stdout.split()]
        assert procs
        p.kill()
        p.communicate(timeout=30)
        deadline = time.monotonic() + 20
        alive = procs
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [q for q in procs if Path(f"/proc/{q}").exists()
                     and Path(f"/proc/{q}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
        assert not alive, f"left running after kill -9 of make cosim: {alive}"
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    # a server killed mid-session may leave its window; the next server start sweeps it
    from cimtrain.bridge.window import sweep_stale
    sweep_stale()
    assert not Path(f"/dev/shm/cimtrain.{window}").exists()
