"""The register map has one source: generated files are current, and each artefact
agrees with the spec text itself (read here with tomllib, not through the generator).

The RTL's access behaviour on the bus is checked register by register in
cosim/cim_macro/cim_macro_tests.py::test_access_rules_match_spec.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from cimtrain import gen_regs, regs

ROOT = Path(__file__).resolve().parents[1]
SPEC = tomllib.loads((ROOT / "spec" / "cim_macro.toml").read_text())
MULTI = [r for r in SPEC["reg"] if len(r["fields"]) > 1]


def fw_regs() -> dict:
    ns: dict = {}
    exec((ROOT / "firmware" / "cim_regs.py").read_text(), ns)
    return ns


def test_generated_files_are_current():
    assert gen_regs.main(["--check"]) == 0, "run `make regs`"


def test_check_fails_on_a_stale_file(tmp_path, monkeypatch):
    """`make regs-check` notices a hand edit of any generated file."""
    for rel in gen_regs.OUTPUTS:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    monkeypatch.setattr(gen_regs, "ROOT", tmp_path)
    assert gen_regs.main(["--check"]) == 0
    for rel in gen_regs.OUTPUTS:
        f = tmp_path / rel
        good = f.read_text()
        f.write_text(good.replace("0x", "0X", 1) if "0x" in good else good + "\n")
        assert gen_regs.main(["--check"]) == 1, f"a hand edit of {rel} went unnoticed"
        f.write_text(good)


@pytest.mark.parametrize("bad", [
    ('offset = 0x028', 'offset = 0x024'),                       # TILE overlaps SEED
    ('access = "rw1c"', 'access = "rw2c"'),                     # unknown access
    ('reset = 10\n', 'reset = 0x40\n'),                         # ADC_SHIFT reset > 6 bits
    ('{ name = "DONE", lsb = 1,', '{ name = "DONE", lsb = 0,'),  # STATUS fields overlap
])
def test_spec_validation_rejects(tmp_path, bad):
    text = (ROOT / "spec" / "cim_macro.toml").read_text()
    assert bad[0] in text
    f = tmp_path / "spec.toml"
    f.write_text(text.replace(bad[0], bad[1], 1))
    with pytest.raises(ValueError):
        gen_regs.Spec(f)


def test_side_effects_must_be_hwext(tmp_path):
    """A register with side effects cannot be generated as a plain one."""
    text = (ROOT / "spec" / "cim_macro.toml").read_text()
    i = text.index('name = "IRQ_STATUS"')
    j = text.index("hwext = true\n", i)
    f = tmp_path / "spec.toml"
    f.write_text(text[:j] + text[j + len("hwext = true\n"):])
    with pytest.raises(ValueError, match="hwext"):
        gen_regs.Spec(f)


def test_host_constants_match_the_spec_text():
    for r in SPEC["reg"]:
        n = r["name"]
        assert regs.ADDR[n] == r["offset"], n
        assert regs.ACCESS[n] == r["access"] and regs.GROUP[n] == r["group"], n
        mask = 0
        for f in r["fields"]:
            key = f"{n}_{f['name']}"
            fmask = ((1 << f["width"]) - 1) << f["lsb"]
            assert regs.POS[key] == f["lsb"], key
            assert regs.MSK[key] == fmask, key
            mask |= fmask
        assert regs.REG_MASK[n] == mask, n
        if isinstance(r["reset"], int):
            assert regs.RESET[n] == r["reset"], n
    for b in SPEC["buffer"]:
        assert (regs.ADDR[b["name"]], regs.WORDS[b["name"]]) == (b["offset"], b["words"])
        assert (regs.ACCESS[b["name"]], regs.GROUP[b["name"]]) == (b["access"], "config")
    assert regs.ERR == {k: v[0] for k, v in SPEC["errors"].items()}
    assert regs.OP == {k: v[0] for k, v in SPEC["opcodes"].items()}
    for k, (v, _) in SPEC["noise"].items():
        assert getattr(regs, k) == v, k


def test_micropython_constants_match_the_spec_text():
    ns = fw_regs()
    for r in SPEC["reg"]:
        assert ns[f"R_{r['name']}"] == r["offset"], r["name"]
        if len(r["fields"]) > 1 or r["fields"][0]["width"] != 32:
            for f in r["fields"]:
                key = f"{r['name']}_{f['name']}"
                assert ns[f"{key}_POS"] == f["lsb"], key
                assert ns[f"{key}_MSK"] == ((1 << f["width"]) - 1) << f["lsb"], key
    for b in SPEC["buffer"]:
        assert (ns[f"B_{b['name']}"], ns[f"B_{b['name']}_WORDS"]) == (b["offset"], b["words"])
    for name, (code, _) in SPEC["errors"].items():
        assert ns[f"ERR_{name}"] == code and ns["ERR_NAMES"][code] == name


def test_pack_known_answers():
    """Hand-computed words (docs/registers.md field tables)."""
    assert regs.pack_dbg_addr(tile=2, row=7, col=5) == 0x02000705
    assert regs.unpack_dbg_addr(0x0300FF3F) == (0x3F, 0xFF, 3)
    assert regs.pack_hwcfg(tiles=8, rows=256, cols=64) == 0x04010008 == regs.RESET["HWCFG"]
    assert regs.unpack_hwcfg(0x04004004) == (4, 64, 64)
    assert regs.pack_cmd(opcode=2, signed=1, pol=1) == 0x302
    assert regs.pack_err_code(code=4, count=3) == 0x00030004
    assert regs.unpack_version(regs.VERSION) == (0, 2, 0)  # patch, minor, major: 0.2.0
    assert regs.pack_dbg_g(gp=0x3FF, gn=1) == 0x000103FF


@pytest.mark.parametrize("reg", MULTI, ids=[r["name"] for r in MULTI])
def test_pack_unpack_round_trip_host_and_firmware(reg):
    ns = fw_regs()
    name = reg["name"].lower()
    pack, unpack = getattr(regs, f"pack_{name}"), getattr(regs, f"unpack_{name}")
    rng = random.Random(reg["offset"])
    ones = {f["name"].lower(): -1 for f in reg["fields"]}
    assert pack(**ones) == regs.REG_MASK[reg["name"]], "pack does not cut to the field widths"
    for _ in range(50):
        vals = {f["name"].lower(): rng.getrandbits(f["width"]) for f in reg["fields"]}
        word = sum(v << f["lsb"] for f, v in zip(reg["fields"], vals.values()))
        assert pack(**vals) == word
        assert unpack(word) == tuple(vals.values())
        if reg["access"] not in ("ro", "wclr"):  # firmware: pack only for writable fields
            assert ns[f"pack_{name}"](**vals) == word
        if reg["access"] != "wo":  # and unpack only for readable ones
            assert ns[f"unpack_{name}"](word) == tuple(vals.values())


def test_rtl_preset_defaults_match_spec():
    """The RTL top's parameter defaults are the spec's default preset, under the spec's
    HDL names."""
    top = (ROOT / "rtl" / "cim_macro.sv").read_text()
    for spec_name, rtl_name in SPEC["hdl"]["params"].items():
        m = re.search(rf"parameter\s+(?:integer\s+|int\s+)?{rtl_name}\s*=\s*(\d+)", top)
        assert m, f"parameter {rtl_name} not found in rtl/cim_macro.sv"
        assert int(m.group(1)) == SPEC["params"][spec_name][0], rtl_name


def test_no_hand_typed_addresses_in_rtl():
    """Addresses live in cim_reg_pkg.svh only: no 13-bit hex literals elsewhere in rtl/."""
    for f in (ROOT / "rtl").glob("*.sv"):
        text = f.read_text()
        assert not re.search(r"13'h[0-9A-Fa-f]+", text), f"{f.name} has a hand-typed address"


def test_plain_registers_are_not_written_by_hand():
    """cim_regfile writes only hwext registers; the plain ones are cim_reg_store.svh's."""
    text = (ROOT / "rtl" / "cim_regfile.sv").read_text()
    for r in SPEC["reg"]:
        if not r.get("hwext"):
            q = f"{r['name'].lower()}_q"
            assert not re.search(rf"^\s*{q}(\[.*\])?\s*<=", text, re.M), \
                f"{q} is written in cim_regfile.sv"


ATTR_TB = """
`include "cim_reg_pkg.svh"
module attr_tb;
  import cim_reg_pkg::*;
  integer a;
  reg [ATTR_BITS-1:0] v;
  initial begin
    for (a = 0; a < (1 << CIM_ADDR_WIDTH); a = a + 4) begin
      v = cim_reg_attr(a[CIM_ADDR_WIDTH-1:0]);
      if (v != 0) $display("%0d %0d %0d %0d %0d %0d", a, v[ATTR_HIT], v[ATTR_RO],
                           v[ATTR_WO], v[ATTR_LOCK], v[ATTR_DBG]);
    end
    $finish;
  end
endmodule
"""


def expected_attrs() -> dict[int, tuple[int, ...]]:
    """(hit, ro, wo, lock, dbg) of every mapped word, from the spec text."""
    out = {}
    for r in SPEC["reg"]:
        out[r["offset"]] = (1, int(r["access"] == "ro"), int(r["access"] == "wo"),
                            int(r["group"] != "info"), int(r["group"] == "debug"))
    for b in SPEC["buffer"]:
        for w in range(b["words"]):
            out[b["offset"] + 4 * w] = (1, int(b["access"] == "ro"), 0, 1, 0)
    return out


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog")
def test_rtl_access_table_matches_spec(tmp_path):
    """cim_reg_attr, simulated over every aligned address of the window."""
    (tmp_path / "attr_tb.sv").write_text(ATTR_TB)
    sim = tmp_path / "attr_tb.vvp"
    subprocess.run(["iverilog", "-g2012", "-I", str(ROOT / "rtl"), "-o", str(sim),
                    str(tmp_path / "attr_tb.sv")], check=True)
    out = subprocess.run(["vvp", "-n", str(sim)], check=True, capture_output=True,
                         text=True).stdout
    got = {}
    for line in out.splitlines():
        if line and line[0].isdigit():
            a, *bits = map(int, line.split())
            got[a] = tuple(bits)
    exp = expected_attrs()
    assert len(exp) > 200
    diff = {a: (got.get(a), exp.get(a)) for a in set(got) | set(exp) if got.get(a) != exp.get(a)}
    assert not diff, f"RTL vs spec (addr: (rtl, spec)): {dict(sorted(diff.items())[:10])}"
