"""Fixed-point helpers of the firmware (firmware/fixedpoint.py) at their edges.

Checked against independent references written here with Python's exact integers and
math (never the module's own code), under CPython; then the same battery runs under the
MicroPython unix port and must give identical answers.  A scan of firmware/ rejects any
float literal, true division or float() call (integers only, DESIGN.md contract 4).
"""

from __future__ import annotations

import ast
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FW = ROOT / "firmware"
sys.path.insert(0, str(FW))

import fixedpoint as fp  # noqa: E402
import network  # noqa: E402


def ref_rshift_round(v: int, s: int) -> int:
    """v / 2**s rounded half up, by exact rationals."""
    return math.floor(v / (1 << s) + 0.5) if s > 0 else v * (1 << -s)


def test_sat_and_sat_bits_edges():
    assert [fp.sat(v, -128, 127) for v in (-129, -128, 0, 127, 128)] == [-128, -128, 0, 127,
                                                                         127]
    for bits in (8, 16):
        m = (1 << (bits - 1)) - 1
        assert fp.sat_bits(m + 1, bits) == m and fp.sat_bits(m, bits) == m
        assert fp.sat_bits(-m - 1, bits) == -m and fp.sat_bits(-(1 << 40), bits) == -m


def test_rshift_round_matches_exact_rounding():
    rng = random.Random(5)
    cases = [(v, s) for v in (-5, -4, -3, -2, -1, 0, 1, 2, 3, 5) for s in (1, 2)]
    cases += [(rng.randint(-(1 << 40), 1 << 40), rng.randint(-4, 30)) for _ in range(2000)]
    for v, s in cases:
        assert fp.rshift_round(v, s) == ref_rshift_round(v, s), (v, s)
    assert fp.rshift_round(-5, 1) == -2 and fp.rshift_round(5, 1) == 3  # half up


def test_s8():
    assert [fp.s8(b) for b in (0, 1, 127, 128, 255)] == [0, 1, 127, -128, -1]


def test_exp_table_against_math():
    assert fp.EXP_Q16[0] == 65536
    for d, v in enumerate(fp.EXP_Q16):
        assert abs(v - 65536 * math.exp(-d / 16)) <= 1, d
    assert all(a >= b for a, b in zip(fp.EXP_Q16, fp.EXP_Q16[1:]))


def test_softmax_and_error_edges():
    prob, err = [0] * 10, [0] * 10
    z = [0] * 10
    p = fp.softmax_xent_err(z, 3, prob, err)
    assert all(abs(q - 6554) <= 1 for q in prob) and p == prob[3]
    # uniform: wrong classes (0.1 * 65536) >> 9 = 12.8 -> 13; label (0.1 - 1) -> -115.2 -> -115
    assert err[3] == -115 and all(e == 13 for i, e in enumerate(err) if i != 3)
    z = [-128] * 10
    z[7] = 127  # one certain wrong class: p = 1 -> 65536 >> 9 = 128 saturates to 127
    fp.softmax_xent_err(z, 2, prob, err)
    assert err[7] == 127 and err[2] == -127 and sum(abs(e) for e in err) == 254
    for trial in range(200):  # sums stay within rounding of 1.0, against math.exp
        r = random.Random(trial)
        z = [r.randint(-300, 300) for _ in range(10)]
        fp.softmax_q16(z, prob)
        zm = max(z)
        ref = [math.exp(-(zm - v) / 16) if zm - v < 256 else 0 for v in z]
        tot = sum(ref)
        assert abs(sum(prob) - 65536) <= 10
        assert all(abs(q - 65536 * e / tot) <= 3 for q, e in zip(prob, ref)), (z, prob)


# Marsaglia, "Xorshift RNGs" (J. Stat. Softw. 8(14), 2003): xor32 with shifts (13, 17, 5)
# from y = 2463534242; its first outputs as published and widely quoted.
MARSAGLIA_Y0 = 2463534242
MARSAGLIA_FIRST = [723471715, 2497366906, 2064144800, 2008045182, 3532304609]


def ref_xorshift32(s: int) -> int:
    """One xorshift32 step by modular arithmetic (multiply, floor-divide, XOR)."""
    m = 1 << 32
    s ^= (s * 8192) % m      # << 13
    s ^= s // 131072         # >> 17
    s ^= (s * 32) % m        # << 5
    return s


def test_xorshift32_known_answers():
    r = fp.XorShift32(MARSAGLIA_Y0)
    assert [r.next() for _ in range(5)] == MARSAGLIA_FIRST
    # by hand from 1: 1 ^ 1 << 13 = 0x2001; >> 17 adds nothing; 0x2001 ^ 0x40020 = 0x42021
    assert fp.XorShift32(1).next() == 0x42021 == 270369
    assert fp.XorShift32(0).s == 0x9E3779B9  # 0 is xorshift's fixed point: replaced
    assert fp.XorShift32(1 << 32).s == 0x9E3779B9  # the seed is taken mod 2**32
    rnd = random.Random(5)
    for seed in [1, 0xFFFFFFFF, 0x80000000] + [rnd.getrandbits(32) for _ in range(20)]:
        r, s = fp.XorShift32(seed), seed
        for _ in range(200):
            s = ref_xorshift32(s)
            assert r.next() == s, (seed, s)
    # below(n): the top 16 bits scaled to [0, n); symmetric(a) = below(2a + 1) - a
    r, s = fp.XorShift32(MARSAGLIA_Y0), MARSAGLIA_Y0
    for n in (1, 2, 10, 255, 65535):
        s = ref_xorshift32(s)
        assert r.below(n) == (s >> 16) * n // 65536 and 0 <= r.below(1) < 1
        s = ref_xorshift32(s)
    # 723471715 >> 16 = 11039; 11039 * 513 // 65536 = 86; 86 - 256 = -170
    assert fp.XorShift32(MARSAGLIA_Y0).symmetric(256) == -170


def test_ln_q8():
    for p in (65536, 32768, 6554, 100, 20):  # resolution 1/16 nat (+ table rounding)
        want = -math.log(p / 65536)
        assert abs(fp.ln_q8(p) / 256 - want) <= 1 / 16 + 0.03, p
    assert 10 <= fp.ln_q8(1) / 256 <= 11.1  # -ln(2**-16) = 11.09; a 1-LSB p is coarse
    assert fp.ln_q8(0) == 16 << 8


@pytest.mark.parametrize("vals", [[3, -1, 0, 2], [200, -130, 5], [1], [0, 0], [-64, 127],
                                  [1000, -3000, 7]])
def test_normalize_err(vals):
    v = list(vals)
    k = fp.normalize_err(v, len(v))
    m = max(abs(x) for x in v)
    if not any(vals):
        assert k == 0 and v == vals
        return
    assert 64 <= m <= 127, (vals, v, k)
    for a, b in zip(vals, v):
        assert b == (a << k if k >= 0 else max(-127, min(127, ref_rshift_round(a, -k))))


def test_accumulator_saturates_never_wraps():
    """fc weight-gradient accumulation at 8 and 16 bits: saturates at +-(2**(b-1) - 1)."""
    class Dev:
        ntiles, rows, cols = 1, 8, 8

    for bits in (8, 16):
        net = network.Network((("fc", 2, 2),), Dev(), bits)
        L = net.layers[0]
        L.x = bytes([255, 0])
        m = (1 << (bits - 1)) - 1
        for _ in range(200):
            net._fc_grad(L, [127, -127], 0)  # acc -= 255 * err, many times
        assert list(L.acc) == [-m, m, 0, 0]
        # one exact step from zero: -(255 * 3) >> 2 rounded half up = -191.25 -> -191
        net2 = network.Network((("fc", 2, 2),), Dev(), bits)
        L2 = net2.layers[0]
        L2.x = bytes([255, 0])
        net2._fc_grad(L2, [3, 0], 2)
        assert L2.acc[0] == max(-m, -191)
        assert len(net2.acc) == 4 and net2.acc.typecode == ("h" if bits == 16 else "b")


def test_tile_map_lenet5_and_seedcnn():
    class Dev:  # only the shape of the macro matters to the map
        def __init__(self, n, r, c):
            self.ntiles, self.rows, self.cols = n, r, c

    net = network.Network(network.LENET5, Dev(8, 256, 64))
    assert net.n_weights == 44190  # conv 150 + 2400, fc 30720 + 10080 + 840
    for L in net.layers:
        covered = {}
        for tile, r0, nr, c0, nc, tc0 in L.blocks:
            assert nr <= 256 and nc <= 64 and tc0 + nc <= 64
            for r in range(r0, r0 + nr):
                for c in range(c0, c0 + nc):
                    assert (r, c) not in covered
                    covered[(r, c)] = tile
        assert len(covered) == L.R * L.C
    seed = network.Network(network.SEEDCNN, Dev(4, 64, 64))
    conv2, fc = seed.layers[1], seed.layers[2]
    assert [b[2] for b in conv2.blocks] == [64, 8] and [b[2] for b in fc.blocks] == [64] * 3 + [8]
    with pytest.raises(network.MapError):
        network.Network(network.LENET5, Dev(2, 64, 64))


def _float_uses(path: Path) -> list[str]:
    bad = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, float | complex):
            bad.append(f"{path.name}:{node.lineno}: float literal {node.value!r}")
        elif isinstance(node, ast.BinOp | ast.AugAssign) and isinstance(node.op, ast.Div):
            bad.append(f"{path.name}:{node.lineno}: true division '/'")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("float", "complex")):
            bad.append(f"{path.name}:{node.lineno}: {node.func.id}() call")
    return bad


def test_firmware_is_integer_only(tmp_path):
    files = sorted(FW.glob("*.py"))
    assert len(files) >= 8
    bad = [b for f in files for b in _float_uses(f)]
    assert not bad, "floating point in firmware:\n" + "\n".join(bad)
    # the scanner itself catches each form
    probe = tmp_path / "float_probe.py"
    probe.write_text("a = 1.5\nb = 3 / 2\nb /= 2\nc = float(2)\n")
    assert len(_float_uses(probe)) == 4


BATTERY = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import fixedpoint as fp
out = {}
out["rs"] = [fp.rshift_round(v, s) for v in (-9, -5, -4, -1, 0, 1, 3, 5, 1 << 40)
             for s in (-2, 0, 1, 3)]
out["exp"] = fp.EXP_Q16
p, e = [0] * 10, [0] * 10
zs = [[0] * 10, [5, -3, 40, 0, 0, 9, -128, 127, 2, 2], [-300, 300, 0, 1, 2, 3, 4, 5, 6, 7]]
out["sm"] = [[fp.softmax_xent_err(z, 2, p, e), list(p), list(e)] for z in zs]
nv = [[3, -1, 0, 2], [200, -130, 5], [1000, -3000, 7]]
out["norm"] = [[fp.normalize_err(v, len(v)), v] for v in nv]
r = fp.XorShift32(7)
out["rng"] = [r.next() for _ in range(5)] + [r.below(10) for _ in range(5)]
r = fp.XorShift32(2463534242)  # Marsaglia's published start (test_xorshift32_known_answers)
out["rng_m"] = [r.next() for _ in range(5)] + [r.symmetric(256) for _ in range(5)]
out["ln"] = [fp.ln_q8(v) for v in (65536, 30000, 5, 0)]
print(json.dumps(out))
"""


def run_unix_port(script: str, *args: str) -> str:
    code = ("import micropython_module, sys\n"
            "sys.exit(micropython_module.run_main(['micropython', *sys.argv[1:]]))")
    r = subprocess.run([sys.executable, "-c", code, script, *args], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_same_answers_under_the_unix_port(tmp_path):
    script = tmp_path / "battery.py"
    script.write_text(BATTERY)
    mp = json.loads(run_unix_port(str(script), str(FW)).strip().splitlines()[-1])
    env = {}
    cpython = BATTERY.replace("sys.path.insert(0, sys.argv[1])", "")
    exec(compile(cpython.replace("print(json.dumps(out))", ""), "battery", "exec"), env)
    assert mp == json.loads(json.dumps(env["out"]))
    assert mp["rng_m"][:5] == MARSAGLIA_FIRST
