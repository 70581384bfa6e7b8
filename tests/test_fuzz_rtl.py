"""pytest runner of the bus fuzzer (tests/cocotb/fuzz_tests.py): random register traffic,
illegal accesses included, into the RTL in the simulator with the model side by side.

make test runs a short fuzz (CIM_FUZZ_OPS=5000 accesses on seed-chip, about 30 s),
and shows that the fuzzer reports a planted fault (a model that differs, an X on an
output, a probe whose access changes the state).
The long one is opt-in: CIM_FUZZ=long (50,000 accesses on both presets; CIM_FUZZ_OPS
overrides the length, CIM_FUZZ_SEED the seed: default 1, "random" for a new one, which
the log names), e.g.

    CIM_FUZZ=long CIM_FUZZ_SEED=random make test PYTEST_ARGS="-q tests/test_fuzz_rtl.py"
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cimtrain.cosim.sim import Sim

COCOTB_TESTS = Path(__file__).resolve().parent / "cocotb"
LONG = os.environ.get("CIM_FUZZ", "") == "long"
PRESETS = ["seed-chip", "default"] if LONG else ["seed-chip"]


def _fuzz(preset: str, **env: str) -> Sim:
    sim = Sim("cim_tb_top", preset)
    n_tests, _ = sim.run("fuzz_tests", env=env, path=[COCOTB_TESTS],
                         results=f"results_fuzz_{env.get('CIM_FUZZ_PLANT', 'rtl')}")
    assert n_tests == 1, "the fuzz test did not run"
    return sim


@pytest.mark.parametrize("preset", PRESETS)
def test_fuzz_rtl_against_model(preset):
    sim = _fuzz(preset, CIM_FUZZ_OPS=os.environ.get("CIM_FUZZ_OPS", "50000" if LONG else "5000"),
                CIM_FUZZ_SEED=os.environ.get("CIM_FUZZ_SEED", "1"))
    assert not sim.failures, "fuzz: " + "; ".join(sim.failures)


@pytest.mark.parametrize("plant, message", [
    ("model", "mismatches against the model"),
    ("x", "s_axil_rresp = XX (X or Z) after"),
    ("probe", "a refused access changed {'SEED': "),   # (the probe's access is legal here)
])
def test_fuzz_reports_a_planted_fault(plant, message):
    sim = _fuzz("seed-chip", CIM_FUZZ_OPS="300", CIM_FUZZ_SEED="1", CIM_FUZZ_PLANT=plant)
    assert len(sim.failures) == 1 and message in sim.failures[0], sim.failures
