"""Transaction traces (--trace on both servers) and python -m cimtrain.bridge.replay.

A trace recorded on the RTL server replays on the model with identical reads, a trace
recorded on the model server replays on the RTL, and a tampered trace is reported as a
difference at the tampered transaction.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cimtrain.bridge import trace as T
from cimtrain.bridge.harness import run_firmware, serve_in_thread, unique_name
from cimtrain.model import CimMacro
from cimtrain.regs import ADDR

ROOT = Path(__file__).resolve().parents[1]

FW = """
    import hal
    from cim_regs import *

    r = {"cyc": [hal.rd32(R_CYCLE_LO)]}
    hal.wr32(R_SEED, 11)
    hal.wr32(R_CTRL, CTRL_IRQ_EN_MSK | CTRL_DBG_EN_MSK)
    hal.wr32(R_DBG_ADDR, 0)
    hal.wr_burst(R_DBG_G, [(300 + 13 * k) | (250 + 7 * k) << 16 for k in range(8)], True)
    hal.wr32(R_ROW_COUNT, 8)
    hal.wr32(R_COL_COUNT, 1)
    hal.wr_burst(B_INBUF, bytearray([9 * k + 1 for k in range(8)]))
    hal.wr32(R_CMD, OP_VMM_FWD)
    hal.wait_done(1)
    r["out"] = hal.rd_burst(B_OUTBUF, 1)[0]
    r["irq"] = hal.rd32(R_IRQ_STATUS)
    r["cyc"].append(hal.rd32(R_CYCLE_LO))
    try:
        hal.rd32(0x2000)             # outside the macro's window: the interconnect's DECERR
    except hal.BusError as e:
        r["decerr"] = e.addr
    print("RESULT", repr(r))
"""


def _firmware(tmp_path: Path) -> Path:
    script = tmp_path / "fw.py"
    script.write_text(textwrap.dedent(FW))
    return script


def _result(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, f"rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return ast.literal_eval(line[len("RESULT "):])


def _replay(path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cimtrain.bridge.replay", str(path), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def _tamper(src: Path, dst: Path, index: int, **fields) -> None:
    header, recs = T.read_trace(src)
    raw = bytearray(src.read_bytes())
    rec = dict(zip(("op", "resp", "flags", "addr", "data", "edge"), recs[index]))
    rec.update(fields)
    T.RECORD.pack_into(raw, T.HEADER.size + T.RECORD.size * index, rec["op"], rec["resp"],
                       rec["flags"], rec["addr"], rec["data"], rec["edge"])
    dst.write_bytes(bytes(raw))


def _check_trace(recs: list, fw: dict) -> None:
    """What the trace says against what the firmware saw (independent of any replay)."""
    reads = [(a, d, e) for op, _r, f, a, d, e in recs if op == T.OP_READ and not f & T.F_POLL]
    cyc = [(d, e) for a, d, e in reads if a == ADDR["CYCLE_LO"]]
    assert [d for d, _ in cyc] == fw["cyc"]
    assert all(d == e for d, e in cyc), f"CYCLE_LO read on edge t must return t: {cyc}"
    assert [d for a, d, _ in reads if a == ADDR["OUTBUF"]] == [fw["out"]]
    assert [d for a, d, _ in reads if a == ADDR["IRQ_STATUS"]] == [fw["irq"]] == [1]
    assert fw["decerr"] == 0x2000
    ic = [r for r in recs if r[2] & T.F_INTERCONNECT]
    assert [(r[0], r[1], r[3]) for r in ic] == [(T.OP_READ, 3, 0x2000)]
    edges = [r[5] for r in recs if r[0] != T.OP_WAIT]
    assert edges == sorted(edges)
    assert sum(r[0] == T.OP_WAIT for r in recs) == 1


def test_rtl_trace_replays_on_model_and_tampering_is_found(tmp_path):
    script, path = _firmware(tmp_path), tmp_path / "rtl.trace"
    name = unique_name("trace")
    srv = subprocess.Popen([sys.executable, "-m", "cimtrain.cosim.rtl_server", "--window", name,
                            "--preset", "seed-chip", "--trace", str(path)], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        fw = _result(run_firmware(name, script, launcher_args=["--wait", "120"], timeout_s=180))
        log, _ = srv.communicate(timeout=60)
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.communicate()
    assert srv.returncode == 0, log[-3000:]
    header, recs = T.read_trace(path)
    assert header["server"] == "rtl" and header["preset"] == "seed-chip"
    assert (header["NTILES"], header["ROWS"], header["COLS"]) == (4, 64, 64)
    assert f"{len(recs)} transactions traced" in log
    _check_trace(recs, fw)
    assert any(r[2] & T.F_POLL and r[3] == ADDR["STATUS"] for r in recs), "no wait_done poll"

    ok = _replay(path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    n_bus = sum(r[0] != T.OP_WAIT for r in recs)
    assert f"replay: {n_bus} transactions" in ok.stdout and "identical on the model" in ok.stdout

    i_out = next(i for i, r in enumerate(recs) if r[0] == T.OP_READ and r[3] == ADDR["OUTBUF"])
    bad = tmp_path / "bad.trace"
    _tamper(path, bad, i_out, data=recs[i_out][4] ^ 0x10)
    res = _replay(bad)
    assert res.returncode == 1, res.stdout + res.stderr
    assert (f"first difference at transaction {i_out} (read 0x0800 at edge {recs[i_out][5]}): "
            f"trace 0x{recs[i_out][4] ^ 0x10:08X} OKAY, model 0x{recs[i_out][4]:08X} OKAY"
            in res.stdout), res.stdout
    # an edge is part of a transaction: CYCLE_LO one edge later reads one more
    i_cyc = [i for i, r in enumerate(recs) if r[0] == T.OP_READ and r[3] == ADDR["CYCLE_LO"]][1]
    _tamper(path, bad, i_cyc, edge=recs[i_cyc][5] + 1)
    res = _replay(bad)
    assert res.returncode == 1, res.stdout
    assert f"transaction {i_cyc} (read 0x{ADDR['CYCLE_LO']:04X}" in res.stdout, res.stdout
    assert f"model 0x{recs[i_cyc][4] + 1:08X}" in res.stdout


def test_model_trace_replays_on_rtl(tmp_path):
    script, path = _firmware(tmp_path), tmp_path / "model.trace"
    model = CimMacro("seed-chip")
    with T.TraceWriter(path, "model", model.p, "seed-chip") as tw:
        with serve_in_thread(unique_name("mtrace"), model, trace=tw) as srv:
            fw = _result(run_firmware(srv.name, script))
    header, recs = T.read_trace(path)
    assert header["server"] == "model" and len(recs) == tw.count
    _check_trace(recs, fw)
    ok = _replay(path, "--rtl")
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
    assert "identical on the RTL" in ok.stdout
    i = next(i for i, r in enumerate(recs) if r[0] == T.OP_WRITE and r[3] == ADDR["SEED"])
    bad = tmp_path / "bad.trace"
    _tamper(path, bad, i, resp=2)
    res = _replay(bad, "--rtl")
    assert res.returncode == 1, res.stdout[-3000:]
    assert f"first difference at transaction {i} (write 0x0024 at edge {recs[i][5]}): trace " \
           f"SLVERR at edge {recs[i][5]}, RTL OKAY at edge {recs[i][5]}" in res.stdout


def test_trace_file_checks(tmp_path):
    path = tmp_path / "t.trace"
    with T.TraceWriter(path, "rtl", {"NTILES": 4, "ROWS": 64, "COLS": 64}, "seed-chip") as tw:
        tw.add(T.OP_WRITE, 0x24, 0xDEADBEEF, 0, 5)
        tw.add(T.OP_READ, 0x24, 0xDEADBEEF, 0, 7)
        tw.add(T.OP_READ, 0x2000, 0, 3, 7, T.F_INTERCONNECT)
    assert path.stat().st_size == 64 + 3 * 20
    header, recs = T.read_trace(path)
    assert header == {"server": "rtl", "NTILES": 4, "ROWS": 64, "COLS": 64,
                      "clock_khz": 100_000, "preset": "seed-chip"}
    assert recs == [(1, 0, 0, 0x24, 0xDEADBEEF, 5), (2, 0, 0, 0x24, 0xDEADBEEF, 7),
                    (2, 3, 1, 0x2000, 0, 7)]
    assert _replay(path).returncode == 0
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(T.TraceError, match="truncated"):
        T.read_trace(path)
    res = _replay(path)
    assert res.returncode == 2 and "truncated" in res.stderr
    path.write_bytes(b"not a trace")
    assert _replay(path).returncode == 2
