"""Unit tests of the bit-exact model against hand computations and properties."""

from __future__ import annotations

import numpy as np
import pytest

from cimtrain import regs
from cimtrain.model import DECERR, OKAY, SLVERR, CimMacro, gauss, hash32, mix32, noise
from cimtrain.model.device import d2d, step_fraction

A, E, OP, MSK = regs.ADDR, regs.ERR, regs.OP, regs.MSK
M32 = 0xFFFFFFFF


def mix32_ref(x: int) -> int:
    """Scalar reference written from the spec text, independent of the numpy code."""
    x &= M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & M32
    x ^= x >> 16
    return x


def hash_ref(seed: int, stream: int, a: int, b: int) -> int:
    """hash(seed, stream, a, b) of the spec, from mix32_ref."""
    key = ((stream + 1) * 0x9E3779B9) & M32
    return mix32_ref(mix32_ref(mix32_ref(seed ^ key) ^ a) ^ b)


def gauss_ref(h: int) -> int:
    return sum((h >> k) & 255 for k in (0, 8, 16, 24)) - 510


def test_mix32_matches_scalar_reference():
    xs = [0, 1, 2, 0x7FFFFFFF, 0x80000000, M32, 0xDEADBEEF, 12345678]
    assert [int(v) for v in mix32(np.array(xs))] == [mix32_ref(x) for x in xs]
    assert mix32_ref(0) == 0 and mix32_ref(1) != 1


def test_hash_structure():
    seed, stream, a, b = 0x1234, 3, 77, 5
    assert int(hash32(seed, stream, a, b)) == hash_ref(seed, stream, a, b)
    # vectorized over b gives the scalar values
    bs = np.arange(10)
    assert [int(v) for v in hash32(seed, stream, a, bs)] == [
        hash_ref(seed, stream, a, int(x)) for x in bs]


def test_gauss_and_noise_edges():
    assert int(gauss(0)) == -510 and int(gauss(M32)) == 510
    assert int(gauss(0x80808080)) == 2  # 4 * 128 - 510
    # noise rounds half up and is exactly 0 for sigma 0
    assert int(noise(M32, 0)) == 0 and int(noise(0, 0)) == 0
    assert int(noise(M32, 256)) == (510 * 256 * 443 + (1 << 23)) >> 24 == 3
    assert int(noise(0, 256)) == (-510 * 256 * 443 + (1 << 23)) >> 24 == -3
    assert int(noise(M32, 65535)) == (510 * 65535 * 443 + (1 << 23)) >> 24


def test_noise_statistics():
    h = hash32(99, 1, 0, np.arange(200_000))
    n = noise(h, 10 * 256).astype(float)  # sigma 10 codes
    assert abs(n.mean()) < 0.1
    assert 9.8 < n.std() < 10.2
    assert np.abs(n).max() <= 35  # bounded at 3.45 sigma


def test_d2d_and_step_edges():
    p = CimMacro("seed-chip").p
    cells = np.arange(5000)
    dev = d2d(p, 7, cells, 0)
    assert (dev.gmin < dev.gmax).all() and (dev.gmin >= 0).all() and (dev.gmax <= 1023).all()
    assert abs(dev.gmin.mean() - p["GMIN_NOM"]) < 1 and abs(dev.gmax.mean() - p["GMAX_NOM"]) < 2
    assert not dev.stuck.any()
    assert 0.01 < d2d(p, 7, cells, 1 << 12).stuck.mean() < 0.1  # 1/16 of cells
    assert step_fraction(p, True, p["VTH_SET_MV"], 5) == 0
    assert step_fraction(p, True, 3000, 1) == (1600 * 66) >> 4 == 6600
    assert step_fraction(p, False, 3300, 255) == 65535  # capped


def quiet(m: CimMacro) -> None:
    for name in ("NOISE_READ_SIGMA", "NOISE_PULSE_SIGMA", "NOISE_ADC_SIGMA"):
        m.wr(A[name], 0)


def test_single_pulse_hand_computed():
    m = CimMacro("seed-chip")
    quiet(m)
    m.wr(A["SEED"], 3)
    m.wr(A["PULSE_ROW"], 2)
    m.wr(A["PULSE_SET_AMP"], 3000)
    m.wr(A["PULSE_SET_MASK_LO"], 1 << 5)
    m.wr(A["CMD"], OP["PULSE"] | MSK["CMD_POL"])  # G- cell
    m.wait_idle()
    cell = ((0 * 64 + 2) * 64 + 5) * 2 + 1
    dev = d2d(m.p, 3, np.array([cell]), 0)
    g0 = m.p["GINIT"]
    step = ((int(dev.gmax[0]) - g0) * 6600 * int(dev.fset[0]) + (1 << 23)) >> 24
    expect = min(max(g0 + step, int(dev.gmin[0])), int(dev.gmax[0]))
    assert m.array.g[0, 2, 5, 1] == expect and step > 40
    assert m.array.g[0, 2, 5, 0] == g0, "the other cell of the pair moved"
    assert m.array.wc[0, 2, 5, 1] == 1 and m.array.wc.sum() == 1


def test_vmm_hand_computed():
    m = CimMacro("seed-chip")
    quiet(m)
    m.wr(A["CTRL"], MSK["CTRL_DBG_EN"])
    m.wr(A["DBG_ADDR"], 1 << 24)
    for gp, gn in ((300, 100), (100, 400), (500, 500)):
        m.wr(A["DBG_G"], gp | gn << 16)
    m.wr(A["DBG_ADDR"], 1 << 24 | 1 << 8)
    for gp, gn in ((100, 100), (900, 100), (128, 628)):
        m.wr(A["DBG_G"], gp | gn << 16)
    for name, v in (("TILE", 1), ("ROW_COUNT", 2), ("COL_COUNT", 3), ("ADC_GAIN", 3),
                    ("ADC_SHIFT", 8), ("ADC_OFFSET", 0xFFFE), ("INBUF", 10 | 20 << 8)):
        m.wr(A[name], v)
    m.wr(A["CMD"], OP["VMM_FWD"])
    m.wait_idle()
    # I = (2000, 13000, -10000); (3I + 128) >> 8 = (23, 152, -117); -2, saturate
    assert m.rd(A["OUTBUF"]) == 21 | 127 << 8 | ((-119) & 0xFF) << 16
    assert m.rd(A["SATBUF"]) & 7 == 0b010 and m.rd(A["SAT_COUNT"]) == 1
    assert m.rd(A["LAST_CYCLES"]) == 2 + 3 * 9
    assert m.rd(A["ENERGY_LO"]) == 650 * 6


def test_vmm_read_noise_is_output_referred():
    """Read noise of a VMM: per output line, sigma s * sqrt(2 * sum x^2) (docs §3)."""
    m = CimMacro("seed-chip")
    arr, sigma, seed = m.array, 3932, 5  # default read sigma: 15.36 codes
    arr.g[1, 0:3, :, :] = 300           # W = 0: the current is the noise alone
    x = np.array([3, 4, 5])             # 2 * sum x^2 = 100: sigma 153.6
    # hand-computed: q = isqrt(100 << 16) = 2560 exactly; z of hash(seed, READ, op 7, line)
    cur = arr.vmm(False, 1, x, 0, 3, 0, 64, seed, 7, sigma)
    z = gauss_ref(hash_ref(seed, 1, 7, 2))
    assert cur[2] == (z * sigma * 443 * 2560 + (1 << 31)) >> 32
    # TRANS: the lines are rows; signed inputs count by their square
    cur_t = arr.vmm(True, 1, np.array([-3, 4]), 0, 3, 10, 2, seed, 7, sigma)
    z = gauss_ref(hash_ref(seed, 1, 7, 1))
    assert cur_t[1] == (z * sigma * 443 * 1810 + (1 << 31)) >> 32  # isqrt(50 << 16)
    # statistics over ops and lines against per-cell noise: std s * sqrt(2 sum x^2)
    cur = np.concatenate([arr.vmm(False, 1, x, 0, 3, 0, 64, seed, op, sigma)
                          for op in range(400)]).astype(float)
    assert abs(cur.mean()) < 2.0 and 150.0 < cur.std() < 157.0
    # no noise without inputs or without sigma; weights add exactly
    assert not arr.vmm(False, 1, np.zeros(3, int), 0, 3, 0, 64, seed, 7, sigma).any()
    arr.g[1, 0:3, 0, 0] = 310
    assert (arr.vmm(False, 1, x, 0, 3, 0, 4, seed, 7, 0) == [120, 0, 0, 0]).all()


def test_bus_error_responses_and_sticky_error():
    m = CimMacro("seed-chip")
    assert m.write(0x100, 1) == DECERR and m.error_name() == "DECODE"
    assert m.read(0x2)[1] == SLVERR
    assert m.rd(A["ERR_CODE"]) == E["DECODE"] | 2 << 16  # first error sticky, count 2
    assert m.rd(A["ERR_ADDR"]) == 0x100
    m.wr(A["ERR_CODE"], 0)
    assert m.rd(A["ERR_CODE"]) == 0 and m.rd(A["ERR_ADDR"]) == 0
    assert m.write(A["ID"], 0) == SLVERR and m.err_code == E["READ_ONLY"]


def test_busy_window_timing():
    """A command accepted on edge t0 with duration D is BUSY on edges t0+1..t0+D."""
    m = CimMacro("seed-chip")
    assert m.write(A["CMD"], OP["READ_ROW"], cycle=10) == OKAY
    d = 2 + 2 * 8 * 9  # READ_ROW of 64 columns
    assert m.read(A["STATUS"], cycle=11)[0] & 1
    assert m.read(A["STATUS"], cycle=9 + d)[0] & 1
    # the W1C on the completion edge loses against the hardware set
    assert m.write(A["IRQ_STATUS"], 1, cycle=10 + d) == OKAY
    st, _ = m.read(A["STATUS"], cycle=11 + d)
    assert st & 1 == 0 and st & 2
    assert m.read(A["IRQ_STATUS"], cycle=12 + d)[0] == 1
    assert m.read(A["CYCLE_LO"], cycle=(5 << 32) + 7)[0] == 7
    assert m.read(A["CYCLE_HI"], cycle=(5 << 32) + 8)[0] == 5


def test_reset_keeps_the_array():
    m = CimMacro("seed-chip")
    m.wr(A["CTRL"], MSK["CTRL_DBG_EN"])
    m.wr(A["DBG_G"], 500 | 600 << 16)
    m.reset()
    assert tuple(m.array.g[0, 0, 0]) == (500, 600)
    assert m.rd(A["CTRL"]) == 0


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown preset"):
        CimMacro("nope")
    with pytest.raises(ValueError, match="unknown parameter"):
        CimMacro("default", ROWZ=3)
