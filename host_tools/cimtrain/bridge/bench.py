"""Bridge throughput and latency, measured by MicroPython firmware on the virtual board.

    python -m cimtrain.bridge.bench [--servers model,dict,icarus] [--n 20000] [--n-rtl 2000]
                                    [--baseline REV] [--repeat K] [--floor]
                                    [--json results/bridge.json] [--md docs/benchmarks.md]

Servers: ``model`` (the bit-exact model, what firmware sees on the virtual platform),
``dict`` (a register dict: the bridge's own capacity, ring + C drain + Python dispatch),
``icarus`` / ``verilator`` (the RTL server, cimtrain.cosim.rtl_server, on that simulator,
with the model as lockstep scoreboard; the run fails unless the scoreboard ends clean).  Rates are
firmware-side: posted writes per second including the final flush, blocking reads per
second, 64-word burst kB/s (1 kB = 1000 bytes), single-read round trips, and VMM
commands per second in the training loop's shape (10 INBUF words, CMD, wait_done,
3 OUTBUF words; wait_done posted as the driver does it, and blocking).

``--baseline REV`` also runs the RTL server of git revision REV (exported to a
temporary directory, label ``icarus@REV``) with the same firmware and launcher, for
before/after figures from one run; ``--repeat K`` runs every server K times, taking
turns, and reports medians.  ``--floor`` measures what the simulator alone costs the
RTL server (cosim/floor_bench.py: the server's bench without bridge or firmware).
``--md FILE`` writes the figures as the "Bridge" section of FILE (between marker
comments; the rest of the file is kept).
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

from . import status as S
from .harness import ROOT, run_firmware, serve_in_thread, unique_name

FW = ROOT / "firmware" / "bench" / "bridge_rates.py"
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
    """The RTL server of the tree ``root`` on ``sim`` in a subprocess (its host_tools first
    on the path), the bench firmware (of this tree) against it.  Fails fast, with the
    simulator's first error, when the server dies before its window exists (e.g. a
    simulator cocotb does not support)."""
    name = unique_name(f"bench-{sim}")
    env = {**os.environ, "SIM": sim, "PYTHONPATH": str(root / "host_tools")}
    old = root / "cosim" / "rtl_server" / "run_rtl_server.py"   # a revision before cosim/
    shm = Path(f"/dev/shm/cimtrain.{name}")
    with tempfile.TemporaryDirectory(prefix="cimbench") as tmp:
        status_path = Path(tmp) / "status.json"
        cmd = ([sys.executable, str(old)] if old.exists() else
               [sys.executable, "-m", "cimtrain.cosim.rtl_server", "--status", str(status_path)])

        def ready() -> bool:
            if old.exists():                # (no status file there)
                return shm.exists()
            return (S.read(status_path) or {}).get("state") == "ready"

        with open(Path(tmp) / "server.log", "w+") as out:
            srv = subprocess.Popen([*cmd, "--window", name, "--preset", preset,
                                    "--attach-timeout", "600"], cwd=root, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, text=True)
            try:
                t0 = time.monotonic()
                while not ready():          # the first run builds the simulation
                    if srv.poll() is not None:
                        out.seek(0)
                        raise RuntimeError(f"RTL server ({sim}) exited with status "
                                           f"{srv.returncode} before serving: {_sim_note(sim)}"
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
        st = S.read(status_path) or {}
    clean = ("0 mismatches" in log if old.exists() else
             st.get("state") == "done" and (st.get("sessions") or [{}])[-1].get("mismatches") == 0)
    if srv.returncode != 0 or not clean:
        raise RuntimeError(f"RTL server ({sim}) failed, rc {srv.returncode}, status "
                           f"{st.get('state')}: {st.get('error')}\n{log[-4000:]}"
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


def run_floor(sim: str = "icarus", preset: str = "default") -> dict:
    """Microseconds the simulator takes per access, program, idle edge and VMM (no bridge)."""
    from ..cosim.sim import Sim

    with tempfile.TemporaryDirectory(prefix="cimfloor") as tmp:
        out = Path(tmp) / "floor.json"
        n, failed = Sim("cim_tb_top", preset, sim).run(
            "cimtrain.cosim.floor_bench", env={"CIMTRAIN_FLOOR_OUT": str(out)},
            results=f"results_floor_{Path(tmp).name}")
        if n == 0 or failed or not out.exists():
            raise RuntimeError("floor_bench failed (simulator log above)")
        return json.loads(out.read_text())


BEGIN, END = "<!-- bridge-bench:begin -->", "<!-- bridge-bench:end -->"
ROWS = [("posted writes/s (wr32 + final flush)", "writes_per_s", "{:,.0f}"),
        ("blocking reads/s (rd32)", "reads_per_s", "{:,.0f}"),
        ("read round trip, median / p99 (us)", ("read_rtt_us_median", "read_rtt_us_p99"),
         "{:,.0f} / {:,.0f}"),
        ("64-word burst write / read (kB/s)", ("burst_write_kB_per_s", "burst_read_kB_per_s"),
         "{:,.0f} / {:,.0f}"),
        ("training-loop VMMs/s: 10 words in, CMD, posted wait_done, 3 out", "vmm_per_s",
         "{:,.0f}"),
        ("the same with a blocking wait_done (2 round trips)", "vmm_blocking_per_s",
         "{:,.0f}")]


def markdown(res: dict, floor: dict | None, note: str) -> str:
    cols = list(res)
    lines = [BEGIN, "## Bridge: firmware-side rates per server", "",
             f"`python -m cimtrain.bridge.bench {note}` (medians of "
             f"{max(r.get('runs', 1) for r in res.values())} runs, servers taking turns; "
             "raw figures in results/bridge.json).", "",
             "| | " + " | ".join(cols) + " |", "| --- |" + " --- |" * len(cols)]
    for title, key, fmt in ROWS:
        cells = []
        for c in cols:
            r = res[c]
            if "error" in r:
                cells.append("fails (below)")
                continue
            keys = key if isinstance(key, tuple) else (key,)
            cells.append(fmt.format(*(r[k] for k in keys)))
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    for c in cols:
        if "error" in res[c]:
            lines += ["", f"**{c}**: {res[c]['error']}"]
    if floor:
        v_on, v_off = floor["vmm_noise_on_us"], floor["vmm_noise_off_us"]
        lines += ["", "What the simulator alone costs the RTL server (`--floor`: its bench, "
                  "scoreboard on, no bridge or firmware; us of wall time):", "",
                  "| | us |", "| --- | --- |",
                  f"| register write / read, in a long program | {floor['write_us']:.0f} / "
                  f"{floor['read_us']:.0f} |",
                  f"| INBUF word write, in a long program | {floor['inbuf_write_us']:.0f} |",
                  f"| a program of one read (the least a blocking rd32 costs) | "
                  f"{floor['single_read_program_us']:.0f} |",
                  f"| one idle clock edge (a command running) | {floor['idle_edge_us']:.1f} |",
                  "| training-loop VMM, read noise on: INBUF x10 / CMD / wait / OUTBUF x3 | "
                  + " / ".join(f"{v_on[k]:.0f}" for k in ("inbuf10", "cmd", "wait", "read3"))
                  + " |",
                  "| the same, read noise off | "
                  + " / ".join(f"{v_off[k]:.0f}" for k in ("inbuf10", "cmd", "wait", "read3"))
                  + " |"]
    lines.append(END)
    return "\n".join(lines)


def write_md(path: Path, section: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace the section between ``begin`` and ``end`` (markers included in
    ``section``) of ``path``, or append it; keep everything else (make bench uses it
    for its own section)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        a, b = text.index(begin), text.index(end) + len(end)
        text = text[:a] + section + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


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
    ap.add_argument("--floor", action="store_true",
                    help="also measure the simulator alone (Icarus, no bridge)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--md", type=Path, help="write the figures as the Bridge section of FILE")
    args = ap.parse_args(argv)
    servers = tuple(s for s in args.servers.split(",") if s)
    bad = [s for s in servers if s not in SERVERS]
    if bad:
        ap.error(f"unknown server(s) {bad}; choose from {SERVERS}")
    res = run(args.n, servers, args.n_rtl, args.baseline, args.repeat)
    floor = run_floor() if args.floor else None
    text = json.dumps({**res, **({"icarus_floor_us": floor} if floor else {})}, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    if args.md:
        note = " ".join(a for a in (argv if argv is not None else sys.argv[1:])
                        if not a.startswith("--md") and a != str(args.md))
        write_md(args.md, markdown(res, floor, note))
    return int(any("error" in v for v in res.values()))


if __name__ == "__main__":
    sys.exit(main())
