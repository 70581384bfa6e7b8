"""`make bench`: measured figures -> results/ (bench.json, bench_trainer.json).

    make bench                     # measure; results/ only (the tracked docs stay as they are)
    make bench DOCS=1              # measure and also rewrite docs/benchmarks.md's sections
    python -m cimtrain.bench --only tile --docs

Figures are measured side by side in one run on this machine; the machines are
shared and noisy, so compare ratios within one run rather than across runs.  Every
figure is a median over repetitions: the trainer's of 3 runs, the tile VMM's of 5
blocks (model: 50 VMMs each; Icarus: 10 each), every repetition kept in the JSON.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time

from .bridge.bench import write_md
from .paths import ROOT

RESULTS = ROOT / "results"
DOCS_MD = ROOT / "docs" / "benchmarks.md"


def bench_model_vmm(n: int = 50, repeats: int = 5) -> dict:
    import numpy as np

    from cimtrain.model import CimMacro
    from cimtrain.regs import ADDR, OP

    m = CimMacro("default")
    for w in range(64):
        m.wr(ADDR["INBUF"] + 4 * w, int(np.uint32(0x5A3C1F77 ^ w)))
    m.wr(ADDR["CMD"], OP["VMM_FWD"])  # warm: numba's compiled-code cache
    m.wait_idle()
    blocks = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            m.wr(ADDR["CMD"], OP["VMM_FWD"])
            m.wait_idle()
        blocks.append((time.perf_counter() - t) / n)
    return {"s_per_vmm": statistics.median(blocks), "vmms_per_block": n, "blocks_s_per_vmm": blocks}


def bench_icarus_vmm() -> dict:
    from .cosim.sim import Sim

    out = RESULTS / "icarus_vmm.json"
    n, failed = Sim("cim_macro", "default", "icarus").run(
        "cimtrain.cosim.vmm_bench", env={"CIM_BENCH_OUT": str(out)}, results="results_bench")
    if n == 0 or failed:
        raise RuntimeError("cosim/vmm_bench.py failed (simulator log above)")
    return json.loads(out.read_text())


TILE_BEGIN, TILE_END = "<!-- tile-bench:begin -->", "<!-- tile-bench:end -->"


def main(argv: list[str] | None = None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m cimtrain.bench", description=__doc__)
    ap.add_argument("--only", choices=["tile", "trainer"],
                    help="one benchmark only (default: all)")
    ap.add_argument("--trainer-images", type=int, default=60000)
    ap.add_argument("--docs", action="store_true",
                    help="also write the figures into docs/benchmarks.md (make bench DOCS=1)")
    a = ap.parse_args(argv)
    if a.only != "tile":
        from .trainer import bench as trainer_bench
        trainer_bench.main(["--images", str(a.trainer_images),
                            *(["--md", str(DOCS_MD)] if a.docs else [])])
    if a.only == "trainer":
        return 0
    RESULTS.mkdir(exist_ok=True)
    res = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
           "date": time.strftime("%Y-%m-%d"),
           "model_full_tile_vmm": bench_model_vmm(),
           "icarus_full_tile_vmm": bench_icarus_vmm()}
    (RESULTS / "bench.json").write_text(json.dumps(res, indent=1))
    ic = res["icarus_full_tile_vmm"]
    md = [TILE_BEGIN, "## One full 256x64 forward VMM", "",
          "Written by `make bench DOCS=1` (host_tools/cimtrain/bench.py; only this section, "
          "the bridge section is the bridge bench's); raw figures in results/bench.json. "
          f"Measured side by side in one run on {res['machine']}, {res['date']}; medians of "
          f"{ic['blocks']} blocks of {ic['vmms_per_block']} VMMs (Icarus) and "
          f"{len(res['model_full_tile_vmm']['blocks_s_per_vmm'])} blocks of "
          f"{res['model_full_tile_vmm']['vmms_per_block']} (model).", "",
          "| path | seconds per VMM |", "| --- | --- |",
          "| bit-exact model (numpy, register level) | "
          f"{res['model_full_tile_vmm']['s_per_vmm']:.4f} |",
          f"| Icarus RTL via cocotb, read noise on (incl. STATUS polling) | "
          f"{ic['noise_on']['s_per_vmm_with_polling']:.3f} |",
          f"| Icarus RTL via cocotb, read noise off (incl. STATUS polling) | "
          f"{ic['noise_off']['s_per_vmm_with_polling']:.3f} |",
          f"| Icarus: one AXI-Lite register read through cocotbext-axi | "
          f"{ic['noise_on']['s_per_bus_read'] * 1e3:.2f} ms |", TILE_END]
    print("\n".join(md))
    if a.docs:
        write_md(DOCS_MD, "\n".join(md), TILE_BEGIN, TILE_END)
        print(f"bench: {DOCS_MD.relative_to(ROOT)} updated")
    else:
        print("bench: figures in results/ only (make bench DOCS=1 also updates "
              "docs/benchmarks.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
