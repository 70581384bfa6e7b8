"""Bridge throughput and latency, measured by MicroPython firmware on the virtual board.

    python -m cimtrain.bridge.bench [--servers model,dict,icarus] [--n 20000] [--n-rtl 2000]
                                    [--json results/bridge.json]

Servers: ``model`` (the bit-exact model, what firmware sees on the virtual platform),
``dict`` (a register dict: the bridge's own capacity, ring + C drain + Python dispatch),
``icarus`` / ``verilator`` (the RTL server, cosim/rtl_server, on that simulator, with the
model as lockstep scoreboard; the run fails unless the scoreboard ends clean).  Rates are
firmware-side: posted writes per second including the final flush, blocking reads per
second, 64-word burst kB/s (1 kB = 1000 bytes), single-read round trips, and VMM
commands per second in the training loop's shape (10 INBUF words, CMD, wait_done,
3 OUTBUF words).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .harness import ROOT, run_firmware, serve_in_thread, unique_name

FW = Path(__file__).resolve().parent / "bench_fw.py"
RTL_RUN = ROOT / "cosim" / "rtl_server" / "run_rtl_server.py"
SERVERS = ("model", "dict", "icarus", "verilator")


class DictModel:
    """Register dict with the model's server-facing API; the ID check passes."""

    def __init__(self) -> None:
        from ..model import CimMacro
        ref = CimMacro("seed-chip")
        self.mem = {a: ref.read(a)[0] for a in (0x0, 0x4, 0x8)}
        self.cycle = self.idle_cycle = 0

    def write(self, addr, data, strb=0xF, cycle=None):
        self.mem[addr] = data
        return 0

    def read(self, addr, cycle=None):
        return self.mem.get(addr, 0), 0

    def advance_to(self, cycle):
        self.cycle = cycle


def _parse(proc: subprocess.CompletedProcess) -> dict:
    if proc.returncode:
        raise RuntimeError(f"bench firmware failed (rc {proc.returncode}):\n"
                           f"{proc.stdout}{proc.stderr}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH "))
    return ast.literal_eval(line[6:])


def run_in_thread(label: str, n: int) -> dict:
    from ..model import CimMacro

    model = CimMacro("default") if label == "model" else DictModel()
    with serve_in_thread(unique_name("bench"), model) as srv:
        proc = run_firmware(srv.name, FW, [str(n)])
    return _parse(proc)


def run_rtl(sim: str, n: int, preset: str = "default", timeout_s: float = 1800) -> dict:
    """The RTL server on ``sim`` in a subprocess, the bench firmware against it."""
    name = unique_name(f"bench-{sim}")
    env = {**os.environ, "SIM": sim}
    srv = subprocess.Popen([sys.executable, str(RTL_RUN), "--window", name, "--preset", preset,
                            "--attach-timeout", "600"], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        t0 = time.monotonic()
        proc = run_firmware(name, FW, [str(n)], launcher_args=["--wait", "600"],
                            timeout_s=timeout_s)
        log, _ = srv.communicate(timeout=120)
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.communicate()
    if srv.returncode != 0 or "0 mismatches" not in log:
        raise RuntimeError(f"RTL server ({sim}) failed, rc {srv.returncode}:\n{log[-4000:]}"
                           f"\nfirmware: {proc.stdout}{proc.stderr}")
    res = _parse(proc)
    res["wall_s"] = round(time.monotonic() - t0, 2)
    return res


def run(n: int, servers: tuple[str, ...] = ("model", "dict"), n_rtl: int = 2000) -> dict:
    out: dict = {}
    for label in servers:
        try:
            if label in ("model", "dict"):
                out[label] = run_in_thread(label, n)
            else:
                out[label] = run_rtl(label, n_rtl)
        except Exception as e:  # one server failing (e.g. no Verilator) keeps the others
            if len(servers) == 1:
                raise
            out[label] = {"error": str(e).strip().splitlines()[-1][:300]}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", default="model,dict",
                    help=f"comma-separated, from {', '.join(SERVERS)} (default model,dict)")
    ap.add_argument("--n", type=int, default=20000, help="accesses per rate (thread servers)")
    ap.add_argument("--n-rtl", type=int, default=2000, help="accesses per rate (RTL servers)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    servers = tuple(s for s in args.servers.split(",") if s)
    bad = [s for s in servers if s not in SERVERS]
    if bad:
        ap.error(f"unknown server(s) {bad}; choose from {SERVERS}")
    res = run(args.n, servers, args.n_rtl)
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return int(any("error" in v for v in res.values()))


if __name__ == "__main__":
    sys.exit(main())
