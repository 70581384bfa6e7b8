"""pytest runner of the cocotb tests of cim_macro (tests/cocotb/), built by cimtrain.cosim.sim.

SIM selects the simulator (default icarus).  WAVES=1 dumps a waveform into the build
directory of its own configuration, sim_build/<top>_<sim>_<preset>_waves/ (Icarus:
<top>.fst; Verilator: dump.vcd).  CIM_REGRESSION_OPS sets the length of the random
regression, CIM_REGRESSION_SEED its seed (default 1: CI runs the same traffic every
time; set another, or "random", to explore).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cimtrain.cosim.sim import Sim

COCOTB_TESTS = Path(__file__).resolve().parent / "cocotb"


def regression_seed() -> int | None:
    v = os.environ.get("CIM_REGRESSION_SEED", "1")
    return None if v == "random" else int(v)


def run_bench(top: str, preset: str, module: str, testcase: list[str] | None = None,
              tag: str = "all") -> int:
    """Run the cocotb module ``module`` of tests/cocotb/ on ``top``; returns tests run."""
    sim = Sim(top, preset)
    n_tests, n_failed = sim.run(module, testcase=testcase, seed=regression_seed(),
                                path=[COCOTB_TESTS], results=f"results_{module}_{tag}")
    assert n_tests > 0, "no cocotb test ran"
    assert n_failed == 0, (f"{n_failed} of {n_tests} cocotb tests failed (log above): "
                           + "; ".join(sim.failures))
    if sim.waves_file is not None:
        assert sim.waves_file.exists(), f"WAVES=1 but no waveform at {sim.waves_file}"
    return n_tests


@pytest.mark.parametrize("preset", ["default", "seed-chip"])
def test_cim_macro_runner(preset):
    """Every cocotb test of the macro (random regression: CIM_REGRESSION_OPS, default 10000)."""
    run_bench("cim_macro", preset, "cim_macro_tests")


@pytest.mark.parametrize("preset", ["seed-chip", "default"])
def test_xact_bench_runner(preset):
    """The fast bench of the RTL server (top cim_tb_top: HDL transactor and recorder):
    transactor timing, the scoreboard finding injected faults, a random mix."""
    assert run_bench("cim_tb_top", preset, "xact_tests") == 6
