"""pytest runner of the cocotb testbench of cim_macro (cosim/cim_macro/).

SIM selects the simulator (default icarus). WAVES=1 dumps an FST waveform into
sim_build/. CIM_REGRESSION_OPS sets the length of the random regression,
CIM_REGRESSION_SEED its seed (default 1: CI runs the same traffic every time; set
another, or "random", to explore).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cocotb_tools.runner import get_results, get_runner

from cimtrain import regs

ROOT = Path(__file__).resolve().parents[1]
RTL = sorted((ROOT / "rtl").glob("*.sv"))
BENCH = ROOT / "cosim" / "cim_macro"


def regression_seed() -> int | None:
    v = os.environ.get("CIM_REGRESSION_SEED", "1")
    return None if v == "random" else int(v)


def run_bench(preset: str, testcase: list[str] | None = None, extra_env: dict | None = None,
              tag: str = "all") -> None:
    sim = os.environ.get("SIM", "icarus")
    p = regs.PRESETS[preset]
    runner = get_runner(sim)
    build_dir = ROOT / "sim_build" / f"cim_macro_{sim}_{preset}"
    runner.build(
        sources=RTL,
        includes=[ROOT / "rtl"],
        hdl_toplevel="cim_macro",
        parameters={"NTiles": p["NTILES"], "Rows": p["ROWS"], "Cols": p["COLS"]},
        build_dir=build_dir,
        build_args=["-g2012"] if sim == "icarus" else [],
        waves=bool(os.environ.get("WAVES")),
        timescale=("1ns", "1ps"),
        always=False,
    )
    env = {"PYTHONPATH": os.pathsep.join([str(BENCH), str(ROOT / "host_tools")])}
    env.update(extra_env or {})
    results = runner.test(
        hdl_toplevel="cim_macro",
        test_module="cim_macro_tests",
        test_dir=BENCH,
        testcase=testcase,
        extra_env=env,
        seed=regression_seed(),
        waves=bool(os.environ.get("WAVES")),
        results_xml=str(build_dir / f"results_{tag}.xml"),
    )
    n_tests, n_failed = get_results(results)
    assert n_tests > 0, "no cocotb test ran"
    assert n_failed == 0, f"{n_failed} of {n_tests} cocotb tests failed (log above)"


@pytest.mark.parametrize("preset", ["default", "seed-chip"])
def test_cim_macro_runner(preset):
    """Every cocotb test of the macro (random regression: CIM_REGRESSION_OPS, default 10000)."""
    run_bench(preset)


@pytest.mark.parametrize("preset", ["seed-chip", "default"])
def test_xact_bench_runner(preset):
    """The fast bench of the RTL server (top cim_tb_top: HDL transactor and recorder):
    transactor timing, the scoreboard finding injected faults, a random mix."""
    import sys

    sys.path.insert(0, str(ROOT / "cosim" / "rtl_server"))
    from run_rtl_server import TOP, build_tb

    runner, build = build_tb(os.environ.get("SIM", "icarus"), preset)
    results = runner.test(hdl_toplevel=TOP, test_module="xact_tests", test_dir=BENCH,
                          extra_env={"PYTHONPATH": os.pathsep.join([str(BENCH),
                                                                    str(ROOT / "host_tools")])},
                          results_xml=str(build / "results_xact.xml"))
    n_tests, n_failed = get_results(results)
    assert n_tests == 4, f"{n_tests} cocotb tests ran, expected 4"
    assert n_failed == 0, f"{n_failed} of {n_tests} cocotb tests failed (log above)"
