"""Faults across the bridge: either side dies or hangs; the other says so within 5 s and
exits non-zero.  Server and firmware run as real processes (model server CLI, launcher).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cimtrain.bridge import protocol as P
from cimtrain.bridge.harness import launch_cmd, unique_name

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S = 5.0

LOOP_FW = """
    import hal
    from cim_regs import *
    print("RUNNING")
    n = 0
    while True:
        hal.wr32(R_SEED, n)
        n = hal.rd32(R_SEED) + 1
"""

COMPUTE_FW = """
    import hal
    print("RUNNING")
    x = 0
    while True:          # no hardware access: only the watchdog can stop it
        x = (x + 1) & 0xFFFF
"""


def _server(name: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "cimtrain.bridge.model_server", "--window",
                             name, "--preset", "seed-chip", "--attach-timeout", "30"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "ready" in line, line + proc.stderr.read()
    return proc


def _firmware(name: str, tmp_path: Path, body: str) -> subprocess.Popen:
    script = tmp_path / "fw.py"
    script.write_text(textwrap.dedent(body))
    proc = subprocess.Popen(launch_cmd(name, script), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.strip() == "RUNNING", line + proc.stderr.read()
    time.sleep(0.2)
    return proc


def _wait(proc: subprocess.Popen) -> tuple[int, float, str]:
    t0 = time.monotonic()
    try:
        _, err = proc.communicate(timeout=LIMIT_S + P.STALE_MS / 1000 + 5)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("process did not exit")
    return proc.returncode, time.monotonic() - t0, err


def _reap(*procs: subprocess.Popen) -> None:
    """End what is left: SIGTERM first (a server then removes its window), then SIGKILL."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        p.communicate()


@pytest.mark.parametrize("how", ["SIGKILL", "SIGSTOP"])
def test_server_dies_or_hangs_under_firmware(tmp_path, how):
    name = unique_name("srvdie")
    srv = _server(name)
    fw = _firmware(name, tmp_path, LOOP_FW)
    os.kill(srv.pid, getattr(signal, how))
    rc, dt, err = _wait(fw)
    if how == "SIGSTOP":
        os.kill(srv.pid, signal.SIGCONT)
    _reap(srv)
    assert rc == P.EXIT_PEER, err
    assert dt < LIMIT_S + (P.STALE_MS / 1000 if how == "SIGSTOP" else 0), f"took {dt:.1f} s"
    what = "is gone (killed or crashed)" if how == "SIGKILL" else "stopped its heartbeat"
    assert f"BridgeError: bridge server pid {srv.pid} {what}" in err
    assert f"cimtrain launch: bridge server pid {srv.pid} {what}" in err
    # the killed server could not remove its window: the firmware side did (SIGKILL);
    # the stopped one, continued, removed its own on SIGTERM
    assert not os.path.exists(f"/dev/shm/cimtrain.{name}")


def test_server_dies_while_firmware_computes(tmp_path):
    """The firmware touches no hardware: the launcher's watchdog ends it."""
    name = unique_name("srvdie")
    srv = _server(name)
    fw = _firmware(name, tmp_path, COMPUTE_FW)
    srv.kill()
    rc, dt, err = _wait(fw)
    _reap(srv)
    assert rc == P.EXIT_PEER and dt < LIMIT_S, (rc, dt, err)
    assert f"bridge server pid {srv.pid} is gone (killed or crashed); the firmware did not " \
           f"stop within {P.GRACE_MS} ms" in err
    assert not os.path.exists(f"/dev/shm/cimtrain.{name}")  # removed by the watchdog


@pytest.mark.parametrize("how", ["SIGKILL", "SIGSTOP"])
def test_firmware_dies_or_hangs_under_server(tmp_path, how):
    name = unique_name("fwdie")
    srv = _server(name)
    fw = _firmware(name, tmp_path, LOOP_FW)
    os.kill(fw.pid, getattr(signal, how))       # not reaped yet: a zombie must count as dead
    rc, dt, err = _wait(srv)
    _reap(fw)
    assert rc == 1 and dt < LIMIT_S + (P.STALE_MS / 1000 if how == "SIGSTOP" else 0), \
        (rc, dt, err)
    what = "died without detaching" if how == "SIGKILL" else "stopped its heartbeat"
    assert f"model server: firmware pid {fw.pid} {what}" in err
    assert not os.path.exists(f"/dev/shm/cimtrain.{name}")


def test_stale_window_from_crashed_run(tmp_path):
    name = unique_name("stale")
    srv = _server(name)
    srv.kill()
    srv.communicate()
    script = tmp_path / "fw.py"
    script.write_text("import hal\nprint('RESULT ok')\n")
    cmd = launch_cmd(name, script, launcher_args=["--wait", "0"])
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == P.EXIT_LAUNCH
    assert f"window '{name}' is stale: its server pid {srv.pid} is not running" in proc.stderr
    # a new server replaces the stale window and serves normally
    srv2 = subprocess.Popen([sys.executable, "-m", "cimtrain.bridge.model_server", "--window",
                             name, "--preset", "seed-chip"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert f"replaced stale window '{name}' left by server pid {srv.pid}" in srv2.stdout.readline()
    proc = subprocess.run(launch_cmd(name, script), cwd=ROOT, capture_output=True, text=True,
                          timeout=30)
    out, err = srv2.communicate(timeout=30)
    assert proc.returncode == 0 and "RESULT ok" in proc.stdout, proc.stderr
    assert srv2.returncode == 0 and "firmware exited with status 0" in out, err
