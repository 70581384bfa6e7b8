"""Start the RTL server: cim_macro in Icarus (cocotb) serving a bridge window.

    python cosim/rtl_server/run_rtl_server.py --window demo [--preset seed-chip] [--trace F]
    python -m cimtrain.bridge.launch --window demo --wait 60 firmware/entry.py ...

Builds the testbench top cim_tb_top (cosim/cim_macro/cim_tb_top.v: cim_macro, clock,
transactor, recorder) once per preset into sim_build/xtb_<sim>_<preset>/, then runs the
cocotb test ``serve_window`` (rtl_server_tests.py).  ``--trace FILE`` records every
transaction (docs/bridge.md, "Transaction traces").  Exit status 0 when every session
ended with the firmware detaching and the scoreboard clean, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cocotb_tools.runner import get_results, get_runner

from cimtrain import regs

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BENCH = ROOT / "cosim" / "cim_macro"


TOP = "cim_tb_top"


def build_tb(sim: str, preset: str, waves: bool = False):
    """Build cim_tb_top for ``preset`` (once; rebuilt when a source changes)."""
    p = regs.PRESETS[preset]
    runner = get_runner(sim)
    build = ROOT / "sim_build" / f"xtb_{sim}_{preset}"
    runner.build(sources=[*sorted((ROOT / "rtl").glob("*.sv")), BENCH / "cim_tb_top.v"],
                 includes=[ROOT / "rtl"], hdl_toplevel=TOP,
                 parameters={"NTiles": p["NTILES"], "Rows": p["ROWS"], "Cols": p["COLS"]},
                 build_dir=build,
                 build_args=["-g2012"] if sim == "icarus" else ["--timing", "-Wno-fatal"],
                 timescale=("1ns", "1ps"), waves=waves, always=False)
    # the runner passes its own sys.path to the simulator's Python as PYTHONPATH
    sys.path[:0] = [str(p) for p in (HERE, BENCH, ROOT / "host_tools") if str(p) not in sys.path]
    return runner, build


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--window", default=os.environ.get("CIMTRAIN_WINDOW"))
    ap.add_argument("--preset", default="default", choices=sorted(regs.PRESETS))
    ap.add_argument("--sessions", type=int, default=1)
    ap.add_argument("--attach-timeout", type=float, default=60.0, metavar="S")
    ap.add_argument("--trace", type=Path, metavar="FILE",
                    help="record every transaction to FILE (binary, docs/bridge.md)")
    ap.add_argument("--waves", action="store_true", help="dump an FST waveform")
    args = ap.parse_args(argv)
    if not args.window:
        ap.error("--window is required (or set CIMTRAIN_WINDOW)")
    sim = os.environ.get("SIM", "icarus")
    runner, build = build_tb(sim, args.preset, args.waves)
    env = {"CIMTRAIN_WINDOW": args.window, "CIMTRAIN_SESSIONS": str(args.sessions),
           "CIMTRAIN_ATTACH_TIMEOUT": str(args.attach_timeout), "CIMTRAIN_PRESET": args.preset}
    if args.trace:
        env["CIMTRAIN_TRACE"] = str(args.trace.resolve())
    results = runner.test(hdl_toplevel=TOP, test_module="rtl_server_tests",
                          test_dir=HERE, extra_env=env, waves=args.waves,
                          results_xml=str(build / f"results_{args.window}.xml"))
    n, failed = get_results(results)
    return int(n == 0 or failed != 0)


if __name__ == "__main__":
    sys.exit(main())
