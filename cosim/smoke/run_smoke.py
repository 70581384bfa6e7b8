"""Run the smoke tests: python cosim/smoke/run_smoke.py [default|seed-chip] [testcase...]"""

from __future__ import annotations

import sys
from pathlib import Path

from cocotb_tools.runner import get_results, get_runner

from cimtrain import regs

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def main() -> int:
    preset = sys.argv[1] if len(sys.argv) > 1 else "default"
    tests = sys.argv[2:] or None
    p = regs.PRESETS[preset]
    runner = get_runner("icarus")
    build = ROOT / "sim_build" / f"smoke_{preset}"
    runner.build(sources=sorted((ROOT / "rtl").glob("*.sv")), includes=[ROOT / "rtl"],
                 hdl_toplevel="cim_macro",
                 parameters={"NTiles": p["NTILES"], "Rows": p["ROWS"], "Cols": p["COLS"]},
                 build_dir=build, build_args=["-g2012"], timescale=("1ns", "1ps"),
                 always=True)
    res = runner.test(hdl_toplevel="cim_macro", test_module="smoke_tests", test_dir=HERE,
                      testcase=tests,
                      extra_env={"PYTHONPATH": f"{HERE}:{ROOT / 'host_tools'}"},
                      results_xml=str(build / "results.xml"))
    n, failed = get_results(res)
    print(f"{n} tests, {failed} failed")
    return int(failed != 0 or n == 0)


if __name__ == "__main__":
    sys.exit(main())
