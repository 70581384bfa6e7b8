"""The register map has one source: generated files are current and consistent."""

from __future__ import annotations

import re
from pathlib import Path

from cimtrain import gen_regs, regs

ROOT = Path(__file__).resolve().parents[1]


def test_generated_files_are_current():
    assert gen_regs.main(["--check"]) == 0, "run `make regs`"


def test_rtl_preset_defaults_match_spec():
    """The RTL top's parameter defaults are the spec's default preset."""
    top = (ROOT / "rtl" / "cim_macro.v").read_text()
    for rtl_name, spec_name in (("NTiles", "NTILES"), ("Rows", "ROWS"), ("Cols", "COLS")):
        m = re.search(rf"parameter\s+(?:integer\s+|int\s+)?{rtl_name}\s*=\s*(\d+)", top)
        assert m, f"parameter {rtl_name} not found in rtl/cim_macro.v"
        assert int(m.group(1)) == regs.PARAMS[spec_name], rtl_name


def test_micropython_constants_match_host_constants():
    ns: dict = {}
    exec((ROOT / "firmware" / "cim_regs.py").read_text(), ns)
    for name, off in regs.ADDR.items():
        key = f"B_{name}" if name in regs.WORDS else f"R_{name}"
        assert ns[key] == off, name
    for name, code in regs.ERR.items():
        assert ns[f"ERR_{name}"] == code and ns["ERR_NAMES"][code] == name


def test_no_hand_typed_addresses_in_rtl():
    """Addresses live in cim_regs.vh only: no 13-bit hex literals elsewhere in rtl/."""
    for f in (ROOT / "rtl").glob("*.v"):
        text = f.read_text()
        assert not re.search(r"13'h[0-9A-Fa-f]+", text), f"{f.name} has a hand-typed address"
