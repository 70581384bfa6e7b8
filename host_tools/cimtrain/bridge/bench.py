"""Bridge throughput and latency, measured by MicroPython firmware on the virtual board.

    python -m cimtrain.bridge.bench [--servers model,dict,icarus] [--n 20000] [--n-rtl 2000]
                                    [--baseline REV] [--json results/bridge.json]

Servers: ``model`` (the bit-exact model, what firmware sees on the virtual platform),
``dict`` (a register dict: the bridge's own capacity, ring + C drain + Python dispatch),
``icarus`` / ``verilator`` (the RTL server, cosim/rtl_server, on that simulator, with the
model as lockstep scoreboard; the run fails unless the scoreboard ends clean).  Rates are
firmware-side: posted writes per second including the final flush, blocking reads per
second, 64-word burst kB/s (1 kB = 1000 bytes), single-read round trips, and VMM
commands per second in the training loop's shape (10 INBUF words, CMD, wait_done,
3 OUTBUF words).  ``--baseline REV`` also runs the RTL server of git revision REV
(exported to a temporary directory, label ``icarus@REV``) with the same firmware and
launcher, for before/after figures from one run; ``--repeat K`` runs every server K
times, taking turns, and reports medians.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
import tempfile
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


def _sim_note(sim: str) -> str:
    """What cocotb needs of the simulator, when this machine's is older."""
    if sim != "verilator":
        return ""
    try:
        have = subprocess.run(["verilator", "--version"], capture_output=True,
                              text=True).stdout.split()[1]
    except (OSError, IndexError):
        return "no verilator on PATH; "
    need = "5.036"  # VLT_MIN of cocotb 2.1's Makefile.verilator
    if tuple(map(int, have.split("."))) < tuple(map(int, need.split("."))):
        return f"cocotb 2.1 needs Verilator >= {need}, this machine has {have}; "
    return ""


def _first_error(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if "error" in ln.lower()]
    return " | ".join(lines[:2])[:400] if lines else log.strip()[-400:]


def run_rtl(sim: str, n: int, preset: str = "default", timeout_s: float = 1800,
            root: Path = ROOT) -> dict:
    """The RTL server of the tree ``root`` on ``sim`` in a subprocess, the bench firmware
    (of this tree) against it.  Fails fast, with the simulator's first error, when the
    server dies before its window exists (e.g. a simulator cocotb does not support)."""
    name = unique_name(f"bench-{sim}")
    env = {**os.environ, "SIM": sim}
    run = root / RTL_RUN.relative_to(ROOT)
    shm = Path(f"/dev/shm/cimtrain.{name}")
    with tempfile.TemporaryFile("w+") as out:
        srv = subprocess.Popen([sys.executable, str(run), "--window", name, "--preset", preset,
                                "--attach-timeout", "600"], cwd=root, env=env, stdout=out,
                               stderr=subprocess.STDOUT, text=True)
        try:
            t0 = time.monotonic()
            while not shm.exists():     # the first run builds the simulation
                if srv.poll() is not None:
                    out.seek(0)
                    raise RuntimeError(f"RTL server ({sim}) exited with status {srv.returncode} "
                                       f"before serving: {_sim_note(sim)}"
                                       f"{_first_error(out.read())}")
                if time.monotonic() - t0 > 900:
                    raise RuntimeError(f"RTL server ({sim}): no window after 900 s")
                time.sleep(0.05)
            t0 = time.monotonic()
            proc = run_firmware(name, FW, [str(n)], launcher_args=["--wait", "60"],
                                timeout_s=timeout_s)
            srv.wait(timeout=120)
        finally:
            if srv.poll() is None:
                srv.kill()
                srv.wait()
        out.seek(0)
        log = out.read()
    if srv.returncode != 0 or "0 mismatches" not in log:
        raise RuntimeError(f"RTL server ({sim}) failed, rc {srv.returncode}:\n{log[-4000:]}"
                           f"\nfirmware: {proc.stdout}{proc.stderr}")
    res = _parse(proc)
    res["wall_s"] = round(time.monotonic() - t0, 2)
    return res


def export_rev(rev: str, dest: Path) -> Path:
    """``git archive`` of revision ``rev`` into ``dest`` (the working tree is untouched)."""
    arch = subprocess.run(["git", "archive", "--format=tar", rev], cwd=ROOT,
                          capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=arch, check=True)
    return dest


def run(n: int, servers: tuple[str, ...] = ("model", "dict"), n_rtl: int = 2000,
        baseline: str | None = None, repeat: int = 1) -> dict:
    """Figures per server; with ``repeat`` > 1 the servers take turns and each figure is
    the median of its runs (the machines are shared: load comes and goes)."""
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="cimbase") as tmp:
        jobs = [(label, label, ROOT) for label in servers]
        if baseline:
            jobs.insert(0, (f"icarus@{baseline}", "icarus", export_rev(baseline, Path(tmp))))
        for _ in range(repeat):
            for label, kind, root in jobs:
                if runs.get(label) and "error" in runs[label][0]:
                    continue
                try:
                    if kind in ("model", "dict"):
                        res = run_in_thread(kind, n)
                    else:
                        res = run_rtl(kind, n_rtl, root=root)
                except Exception as e:  # one server failing (no Verilator) keeps the others
                    if len(jobs) == 1:
                        raise
                    res = {"error": str(e).strip().splitlines()[-1][:400]}
                runs.setdefault(label, []).append(res)
    out: dict = {}
    for label, rs in runs.items():
        if "error" in rs[0]:
            out[label] = rs[0]
            continue
        out[label] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        out[label]["runs"] = len(rs)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", default="model,dict",
                    help=f"comma-separated, from {', '.join(SERVERS)} (default model,dict)")
    ap.add_argument("--n", type=int, default=20000, help="accesses per rate (thread servers)")
    ap.add_argument("--n-rtl", type=int, default=2000, help="accesses per rate (RTL servers)")
    ap.add_argument("--baseline", metavar="REV",
                    help="also run the RTL server of git revision REV (before/after)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per server, taking turns; figures are medians")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    servers = tuple(s for s in args.servers.split(",") if s)
    bad = [s for s in servers if s not in SERVERS]
    if bad:
        ap.error(f"unknown server(s) {bad}; choose from {SERVERS}")
    res = run(args.n, servers, args.n_rtl, args.baseline, args.repeat)
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return int(any("error" in v for v in res.values()))


if __name__ == "__main__":
    sys.exit(main())
