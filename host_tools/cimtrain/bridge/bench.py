"""Bridge throughput and latency, measured by MicroPython firmware on the virtual board.

    python -m cimtrain.bridge.bench [--n 20000] [--json results/bridge.json]

Two servers: the bit-exact model (what firmware sees in practice) and a register dict
(the bridge's own capacity: ring, C drain, Python dispatch).  Rates are firmware-side:
posted writes per second including the final flush, blocking reads per second, 64-word
burst kB/s (1 kB = 1000 bytes), and single-read round trips.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

from .harness import run_firmware, serve_in_thread, unique_name

FW = Path(__file__).resolve().parent / "bench_fw.py"


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


def run(n: int) -> dict:
    from ..model import CimMacro

    out = {}
    for label, model in (("model", CimMacro("default")), ("dict", DictModel())):
        with serve_in_thread(unique_name("bench"), model) as srv:
            proc = run_firmware(srv.name, FW, [str(n)])
        if proc.returncode:
            raise RuntimeError(proc.stdout + proc.stderr)
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH "))
        out[label] = ast.literal_eval(line[6:])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000, help="accesses per measurement")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    res = run(args.n)
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
