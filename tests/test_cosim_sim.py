"""The simulator side's build helper (cimtrain.cosim.sim) and the transactor layout's one
source (cimtrain.cosim.xact): a build is redone when any input changes, a waveform run
gets its own build (so WAVES=1 after a normal run still dumps), and the Verilog include
of the layout is what the generator writes."""

from __future__ import annotations

import shutil

import pytest

from cimtrain.cosim import sim as S
from cimtrain.cosim import xact


def test_xact_include_is_generated_and_current():
    assert xact.main(["--check"]) == 0, "run python -m cimtrain.cosim.xact"
    text = xact.VH.read_text()
    # the values the Verilog sees are the module's (an independent spot check)
    assert "localparam int ProgOpLsb = 52, ProgOpW = 4;" in text
    assert "localparam logic [3:0] KindIrq = 4'd5;" in text
    top = (S.HERE / "cim_tb_top.v").read_text()
    assert '`include "cim_tb_xact.vh"' in top
    for literal in ("[55:52]", "[47:0]", "4'd5", "[127:0]"):   # the old hand-typed layout
        assert literal not in top, literal


def test_xact_check_finds_a_stale_include(monkeypatch, tmp_path):
    stale = tmp_path / "cim_tb_xact.vh"
    stale.write_text(xact.verilog().replace("ProgOpLsb = 52", "ProgOpLsb = 56"))
    monkeypatch.setattr(xact, "VH", stale)
    assert xact.main(["--check"]) == 1


def test_build_inputs_cover_sources_includes_parameters_and_waves(monkeypatch, tmp_path):
    rtl = tmp_path / "rtl"
    shutil.copytree(S.RTL_DIR, rtl)
    monkeypatch.setattr(S, "RTL_DIR", rtl)
    base = S.Sim("cim_macro", "seed-chip", "icarus", waves=False)
    d0 = base.inputs_digest()
    assert S.Sim("cim_macro", "seed-chip", "icarus", waves=False).inputs_digest() == d0
    digests = {d0}
    for other in (S.Sim("cim_macro", "default", "icarus", waves=False),
                  S.Sim("cim_macro", "seed-chip", "icarus", waves=True),
                  S.Sim("cim_tb_top", "seed-chip", "icarus", waves=False)):
        digests.add(other.inputs_digest())
    vh = rtl / "cim_reg_pkg.svh"         # an include: the runner alone never sees it
    vh.write_text(vh.read_text() + "\n// edited\n")
    digests.add(base.inputs_digest())
    src = S.rtl_sources()[0]
    src.write_text(src.read_text() + "\n// edited\n")
    digests.add(base.inputs_digest())
    assert len(digests) == 6, "every change must change the build's inputs"
    waves = S.Sim("cim_macro", "seed-chip", "icarus", waves=True)
    assert waves.build_dir != base.build_dir and waves.build_dir.name.endswith("_waves")
    assert waves.waves_file == waves.build_dir / "cim_macro.fst" and base.waves_file is None


def test_unknown_configuration_is_refused():
    with pytest.raises(ValueError, match="unknown top"):
        S.Sim("nosuch", "default", "icarus")
    with pytest.raises(ValueError, match="SIM='questa'"):
        S.Sim("cim_macro", "default", "questa")


def test_waves_after_a_normal_build(monkeypatch):
    """WAVES=1 after a normal run of the same top and preset produces the waveform
    (issue 12: the shared build directory used to be reused without the dump)."""
    monkeypatch.delenv("WAVES", raising=False)
    plain = S.Sim("cim_macro", "seed-chip", "icarus")
    assert plain.run("cim_macro_tests", testcase=["test_reset_values"],
                     path=[S.ROOT / "tests" / "cocotb"], results="results_plain") == (1, 0)
    monkeypatch.setenv("WAVES", "1")
    waves = S.Sim("cim_macro", "seed-chip", "icarus")
    assert waves.waves and waves.build_dir != plain.build_dir
    waves.waves_file.unlink(missing_ok=True)
    assert waves.run("cim_macro_tests", testcase=["test_reset_values"],
                     path=[S.ROOT / "tests" / "cocotb"], results="results_waves") == (1, 0)
    assert waves.waves_file.exists() and waves.waves_file.stat().st_size > 1000


def test_failed_cocotb_tests_are_named(tmp_path):
    """A failed cocotb test is reported by name and message (pytest used to show only the
    runner's bare SystemExit: 1)."""
    xml = tmp_path / "r.xml"
    xml.write_text(
        '<testsuites><testsuite name="m"><testcase classname="m" name="ok"/>'
        '<testcase classname="m" name="bad"><failure message="no TimeoutError" '
        'type="AssertionError">Traceback ...</failure></testcase>'
        '<testcase classname="m" name="boom"><error>Traceback\nValueError: x</error>'
        '</testcase></testsuite></testsuites>')
    assert S.failures(xml) == ["m.bad: AssertionError: no TimeoutError",
                               "m.boom: ValueError: x"]
