"""What Icarus alone costs per bus access and per tile command of cim_macro, for this tree's
rtl/ and, side by side, another revision's (``--baseline REV``).

    python -m cimtrain.cosim.rtl_bench [--baseline REV] [--repeat 3] [--json FILE] [--docs]
    python -m cimtrain.cosim.rtl_bench --instructions [--baseline REV]   # valgrind counts

The macro's cases run on rtl_bench_tb.v: a Verilog AXI4-Lite master, no cocotb, no Python,
no model, so the figures are the simulator's own share of an RTL server's time (the server
adds its Python, the scoreboard and the bridge: bridge/bench.py --floor).  The "bench"
cases run the RTL server's own bench, cim_tb_top.v (its transactor, recorder and clock
around the macro), from rtl_bench_xact.v: programs written and awaited in Verilog instead
of cocotb; a revision's cim_tb_top.v comes with its rtl/.  Each case is built once
with N repetitions and once with none; its cost is the difference of the two runs' CPU
time (user + system of vvp, the least of ``--repeat`` runs each: CPU time, not wall time,
because these machines are shared) divided by N.  Revisions take turns case by case.

``--instructions`` counts the host instructions vvp executes instead (valgrind's
cachegrind, ``I refs``), with N a twentieth of the above: slower to run, but the same
count on a busy machine as on a quiet one, so small changes show.  (On these machines
no hardware counters are available to ``perf``.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from ..paths import ROOT, RTL

HERE = Path(__file__).resolve().parent

TB = HERE / "rtl_bench_tb.v"
XACT = HERE / "rtl_bench_xact.v"
BENCH_TOP = ("cim_tb_top.v", "cim_tb_xact.vh")   # the RTL server's bench, beside rtl/

# (key, what, CASE, N, rows, cols): the VMM windows are those of LeNet-5's training loop
# (conv1 25 x 6, conv2 150 x 16 and its transpose, an fc1 block 128 x 60).  N is sized
# for 1-3 s of work: the N = 0 run (elaboration, the array's power-up) is not free, and
# its spread must be small against the work measured.
CASES = (
    ("write", "register write", 1, 50000, 0, 0),
    ("inbuf_write", "INBUF word write", 2, 50000, 0, 0),
    ("idle_edge", "idle clock cycle", 3, 300000, 0, 0),
    ("vmm_25x6", "VMM_FWD 25 x 6: 7 INBUF words, CMD, wait, 2 OUTBUF reads", 4, 1000, 25, 6),
    ("vmm_150x16", "VMM_FWD 150 x 16: 38 INBUF words, CMD, wait, 4 OUTBUF reads", 4, 300, 150, 16),
    ("vmmt_150x16", "VMM_TRANS 150 x 16: 4 INBUF words, CMD, wait, 38 OUTBUF reads", 5, 300,
     150, 16),
    ("vmm_128x60", "VMM_FWD 128 x 60: 32 INBUF words, CMD, wait, 15 OUTBUF reads", 4, 200, 128, 60),
    ("read_row", "READ_ROW of 64 columns, wait, its 64 READBUF reads", 6, 300, 0, 0),
    ("pulse_44", "PULSE: 4 SET pulses on 44 columns; row, 4 mask writes, CMD, wait", 7, 300,
     0, 0),
    # the RTL server's bench (cim_tb_top.v): CASE >= 11 selects rtl_bench_xact.v
    ("bench_idle_edge", "bench: idle clock cycle (an IDLE)", 11, 300000, 0, 0),
    ("bench_write", "bench: register write", 12, 50000, 0, 0),
    ("bench_inbuf_write", "bench: INBUF word write", 13, 50000, 0, 0),
    ("bench_outbuf_read", "bench: OUTBUF word read", 14, 50000, 0, 0),
)


def export_rtl(rev: str, dest: Path) -> Path:
    """rtl/ of git revision ``rev`` in ``dest``, with that revision's cim_tb_top.v."""
    bench = [f"host_tools/cimtrain/cosim/{f}" for f in BENCH_TOP]
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "rtl", *bench], check=True,
                         capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(tar)) as t:
        t.extractall(dest, filter="data")
    for f in BENCH_TOP:
        shutil.move(dest / "host_tools" / "cimtrain" / "cosim" / f, dest / "rtl" / f)
    return dest / "rtl"


def bench_dir(rtl: Path) -> Path:
    """Where rtl/'s cim_tb_top.v is: beside it (an exported revision) or this tree's."""
    return rtl if (rtl / BENCH_TOP[0]).is_file() else HERE


def _cpu_s(cmd: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0 or "FATAL" in r.stdout or "fatal" in r.stderr.lower():
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def build(rtl: Path, case: int, n: int, rows: int, cols: int, out: Path) -> Path:
    defs = [f"-DCASE={case}", f"-DN={n}"]
    if rows:
        defs += [f"-DROWS_N={rows}", f"-DCOLS_N={cols}"]
    srcs = sorted(str(p) for p in rtl.glob("*.sv"))
    if case >= 11:  # the RTL server's bench around the macro
        tb, top = bench_dir(rtl), "rtl_bench_xact"
        srcs += [str(tb / BENCH_TOP[0]), str(XACT)]
        inc = [f"-I{rtl}", f"-I{tb}"]
    else:
        top, inc = "rtl_bench_tb", [f"-I{rtl}"]
        srcs += [str(TB)]
    r = subprocess.run(["iverilog", "-g2012", *inc, *defs, "-s", top, "-o", str(out), *srcs],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"iverilog failed for {rtl}:\n{r.stderr[-3000:]}")
    return out


def _instructions(cmd: list[str]) -> float:
    r = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no",
                        "--cachegrind-out-file=/dev/null", *cmd], capture_output=True, text=True)
    m = re.search(r"I\s+refs:\s+([\d,]+)", r.stderr)
    if r.returncode != 0 or m is None or "FATAL" in r.stdout:
        raise RuntimeError(f"valgrind {' '.join(cmd)} failed:\n"
                           f"{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return float(m.group(1).replace(",", ""))


def measure(rtls: dict[str, Path], repeat: int = 3, progress=print,
            instructions: bool = False) -> dict:
    """{case key: {label: us (or host instructions) per repetition}}."""
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="cimrtlbench") as tmp:
        for key, what, case, n, rows, cols in CASES:
            out[key] = {}
            for label, rtl in rtls.items():
                runs = {}
                n_run = max(n // 20, 10) if instructions else n
                for reps in (0, n_run):
                    vvp = build(rtl, case, reps, rows, cols, Path(tmp) / f"{label}_{reps}.vvp")
                    cmd = ["vvp", "-n", str(vvp)]
                    runs[reps] = (_instructions(cmd) if instructions
                                  else min(_cpu_s(cmd) for _ in range(repeat)))
                scale = 1.0 if instructions else 1e6
                out[key][label] = max(runs[n_run] - runs[0], 0.0) / n_run * scale
            unit = "instructions" if instructions else "us"
            progress(f"rtl_bench: {what}: " + ", ".join(
                f"{lab} {v:,.1f} {unit}" for lab, v in out[key].items()))
    return out


def markdown(res: dict, labels: list[str], cmd: str, instructions: bool = False) -> str:
    what = ("thousands of host instructions vvp executes (valgrind), per repetition"
            if instructions else "CPU time, the least of the repeats, per repetition in us")
    lines = [f"`{cmd}`: Icarus alone (rtl_bench_tb.v, a Verilog master; \"bench\": the RTL "
             f"server's cim_tb_top.v driven from rtl_bench_xact.v; no cocotb, Python "
             f"or model); {what}.", "",
             "| case | " + " | ".join(labels) + (" | ratio |" if len(labels) == 2 else " |"),
             "| --- |" + " --- |" * (len(labels) + (len(labels) == 2))]
    for key, what, *_ in CASES:
        v = [res[key][lab] for lab in labels]
        v = [x / 1000 for x in v] if instructions else v
        row = f"| {what} | " + " | ".join(f"{x:,.1f}" for x in v)
        if len(labels) == 2:
            row += f" | {v[0] / v[1]:.1f}x" if v[1] > 0 else " | -"
        lines.append(row + " |")
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- rtl-bench:begin -->", "<!-- rtl-bench:end -->"
IR_BEGIN, IR_END = "<!-- rtl-bench-instructions:begin -->", "<!-- rtl-bench-instructions:end -->"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cimtrain.cosim.rtl_bench",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", metavar="REV", help="also measure rtl/ of this git revision")
    ap.add_argument("--repeat", type=int, default=3, help="runs per build (the least counts)")
    ap.add_argument("--instructions", action="store_true",
                    help="count host instructions with valgrind instead of CPU time")
    ap.add_argument("--json", type=Path, default=None,
                    help="results file (default results/rtl_bench.json, or "
                         "results/rtl_bench_instructions.json)")
    ap.add_argument("--docs", action="store_true", help="also write docs/benchmarks.md")
    a = ap.parse_args(argv)
    if shutil.which("iverilog") is None:
        print("rtl_bench: iverilog not found (make venv installs it)", file=sys.stderr)
        return 2
    if a.instructions and shutil.which("valgrind") is None:
        print("rtl_bench: --instructions needs valgrind (apt-get install valgrind)",
              file=sys.stderr)
        return 2
    if a.json is None:
        a.json = ROOT / "results" / ("rtl_bench_instructions.json" if a.instructions
                                     else "rtl_bench.json")
    with tempfile.TemporaryDirectory(prefix="cimrtlrev") as tmp:
        rtls = {}
        if a.baseline:
            rtls[f"rtl@{a.baseline}"] = export_rtl(a.baseline, Path(tmp))
        rtls["rtl (this tree)"] = RTL
        res = measure(rtls, a.repeat, instructions=a.instructions)
    labels = list(rtls)
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps({"instructions" if a.instructions else "us": res,
                                  "labels": labels, "repeat": a.repeat,
                                  "cpu_count": os.cpu_count()}, indent=1))
    cmd = ("python -m cimtrain.cosim.rtl_bench" + (" --instructions" if a.instructions else "")
           + (f" --baseline {a.baseline}" if a.baseline else ""))
    text = markdown(res, labels, cmd, a.instructions)
    print(text)
    if a.docs:
        from ..bridge.bench import write_md
        begin, end, title = ((IR_BEGIN, IR_END, "host instructions") if a.instructions
                             else (BEGIN, END, "CPU time"))
        write_md(ROOT / "docs" / "benchmarks.md",
                 f"{begin}\n## Icarus alone: per access and per command ({title})\n\n"
                 f"{text}{end}", begin, end)
        print("rtl_bench: docs/benchmarks.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
