"""The RTL server (cimtrain.cosim.rtl_server): the same firmware through the bridge into cim_macro
in Icarus, with the model as scoreboard inside the server.

The firmware's answers must equal those of the model server for the same traffic
(contract 2), and a dead firmware must stop the RTL server within 5 s.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from cimtrain.bridge import status as S
from cimtrain.bridge.harness import launch_cmd, run_firmware, serve_in_thread, unique_name
from cimtrain.model import CimMacro

ROOT = Path(__file__).resolve().parents[1]

FW = """
    import hal
    from cim_regs import *

    r = {"id": hal.rd32(R_ID), "hwcfg": hal.rd32(R_HWCFG)}
    hal.wr32(R_SEED, 7)
    hal.wr32(R_CTRL, CTRL_IRQ_EN_MSK | CTRL_DBG_EN_MSK)
    hal.wr32(R_DBG_ADDR, 0)
    hal.wr_burst(R_DBG_G, [(300 + 11 * k) | (200 + 5 * k) << 16 for k in range(16)], True)
    hal.wr32(R_ROW_COUNT, 16)
    hal.wr32(R_COL_COUNT, 1)
    hal.wr_burst(B_INBUF, bytearray([17 * k & 0xFF for k in range(16)]))
    hal.wr32(R_CMD, OP_VMM_FWD)
    try:
        hal.wr32(R_TILE, 1)          # BUSY: a posted write error
        hal.flush()
    except hal.BusError as e:
        r["busy_err"] = (str(e), e.addr)
    hal.wait_done(1)
    r["status"] = hal.rd32(R_STATUS)
    r["irq"] = hal.rd32(R_IRQ_STATUS)
    r["out"] = hal.rd_burst(B_OUTBUF, 1)
    r["ops"] = hal.rd32(R_OP_COUNT)
    r["last"] = hal.rd32(R_LAST_CYCLES)
    hal.wr32(R_ROW_START, 3)
    hal.wr32(R_COL_COUNT, 4)
    hal.wr32(R_CMD, OP_READ_ROW)
    hal.wait_done(1)
    r["row"] = hal.rd_burst(B_READBUF, 4)
    try:
        hal.rd32(0x0FFC)
    except hal.BusError as e:
        r["decerr"] = (str(e), e.addr)
    hal.wr32(R_ROW_START, 0)
    hal.wr32(R_CMD, OP_VMM_FWD)
    hal.wait_done(0, True)           # times out: named at the next blocking call
    hal.wr32(R_TILE, 1)              # BUSY
    try:
        hal.rd32(R_STATUS)
    except hal.HalTimeout as e:
        r["posted_timeout"] = str(e)
    hal.wait_done(1)
    r["err_after"] = hal.rd32(R_ERR_CODE)
    print("RESULT", repr(r))
"""


def _rtl_server(name: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cimtrain.cosim.rtl_server", "--window", name,
                             "--preset", "seed-chip", "--attach-timeout", "60", *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _result(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, f"rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return ast.literal_eval(line[len("RESULT "):])


def test_same_firmware_same_answers_on_rtl_and_model(tmp_path):
    script = tmp_path / "fw.py"
    script.write_text(textwrap.dedent(FW))
    name = unique_name("rtl")
    status = tmp_path / "status.json"
    srv = _rtl_server(name, "--status", str(status))
    try:
        rtl = run_firmware(name, script, launcher_args=["--wait", "120"], timeout_s=180)
        log, _ = srv.communicate(timeout=60)
    finally:
        if srv.poll() is None:
            srv.kill()
    assert srv.returncode == 0, log[-3000:]
    st = S.read(status)
    assert st["state"] == "done" and st["error"] is None, st
    [sess] = st["sessions"]
    assert sess["exit"] == 0 and sess["mismatches"] == 0, sess
    # every bus access of the firmware was checked: the ID check's 3 reads, FW's accesses
    assert sess["stats"]["responses_checked"] >= sess["stats"]["reads"] > 10, sess
    with serve_in_thread(unique_name("model"), CimMacro("seed-chip")) as msrv:
        model = run_firmware(msrv.name, script)
    r_rtl, r_model = _result(rtl), _result(model)
    assert r_rtl == r_model
    assert r_rtl["id"] == 0x43494D31 and r_rtl["hwcfg"] == 4 | 64 << 8 | 64 << 20
    assert r_rtl["busy_err"] == ("bus error: write 0x0028 -> SLVERR, ERR_CODE BUSY", 0x28)
    assert r_rtl["status"] & 0b11 == 0b10 and r_rtl["irq"] == 1 and r_rtl["ops"] == 1
    assert r_rtl["last"] == 2 + 1 * 9       # CMD_OVERHEAD + one ADC round of 9 cycles
    assert r_rtl["decerr"] == ("bus error: read 0x0ffc -> DECERR, ERR_CODE DECODE", 0xFFC)
    assert r_rtl["posted_timeout"].startswith(
        "CIM command VMM_FWD (CMD 0x1) not done within 0 ms of device time (posted wait_done, "
        "reported at the next blocking call, request ")
    assert r_rtl["posted_timeout"].endswith(") (and 1 more errors)")
    assert r_rtl["err_after"] == 0


def test_firmware_killed_stops_rtl_server(tmp_path):
    script = tmp_path / "fw.py"
    script.write_text(textwrap.dedent("""
        import hal
        from cim_regs import *
        print("RUNNING")
        while True:
            hal.rd32(R_SEED)
    """))
    name = unique_name("rtlkill")
    status = tmp_path / "status.json"
    srv = _rtl_server(name, "--status", str(status))
    fw = subprocess.Popen(launch_cmd(name, script, launcher_args=["--wait", "120"]), cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert fw.stdout.readline().strip() == "RUNNING", fw.stderr.read()
        time.sleep(0.3)
        os.kill(fw.pid, signal.SIGKILL)
        t0 = time.monotonic()
        log, _ = srv.communicate(timeout=30)
        dt = time.monotonic() - t0
    finally:
        for p in (srv, fw):
            if p.poll() is None:
                p.kill()
        fw.communicate()
    assert srv.returncode == 1, log[-3000:]
    assert dt < 5.0, f"RTL server took {dt:.1f} s"
    assert f"firmware pid {fw.pid} died without detaching" in log
    st = S.read(status)
    assert st["state"] == "failed" and f"firmware pid {fw.pid} died" in st["error"], st
    assert not os.path.exists(f"/dev/shm/cimtrain.{name}")
