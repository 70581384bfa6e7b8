"""Property-based tests (hypothesis) of the model's bus and of every fixed-point helper
(issue 10).  The RTL side of the fuzzing, random register traffic into the simulator
with the model as scoreboard, is tests/test_fuzz_rtl.py; these are the properties that
need the model only, where hypothesis can shrink a failure to its smallest case.

* A refused access (any kind: misaligned, unmapped, partial strobe, read-only, write-only,
  DBG locked, a config register while BUSY, an illegal command) changes nothing but the
  error registers: the chip equals the same chip left alone for the same time.
* Every fixed-point helper of firmware/fixedpoint.py and its host twins (the trainer's
  compiled kernels) saturates at its documented width and never wraps: results in range,
  of the right sign, exact where in range; the twins give the firmware's answers.

make test runs a short search (60-200 examples each); CIM_FUZZ=long searches longer
(5,000 examples each).
"""

from __future__ import annotations

import copy
import math
import os
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cimtrain import regs
from cimtrain.model import CimMacro
from cimtrain.trainer import kernels

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "firmware"))

import fixedpoint as fp  # noqa: E402
import network  # noqa: E402

LONG = os.environ.get("CIM_FUZZ", "") == "long"


def examples(short: int):
    return settings(max_examples=5000 if LONG else short, deadline=None, derandomize=not LONG,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


A, OP = regs.ADDR, regs.OP
P = regs.PRESETS["seed-chip"] | {k: v for k, v in regs.PARAMS.items()
                                 if k not in regs.PRESETS["seed-chip"]}
WORDS = sorted([a for n, a in A.items() if n not in regs.WORDS]
               + [A[n] + 4 * k for n, w in regs.WORDS.items() for k in range(w)])
HOLES = [a for a in range(0, regs.WINDOW_BYTES, 4) if a not in set(WORDS)]
CONFIG = [n for n, g in regs.GROUP.items() if g == "config" and regs.ACCESS[n] != "wo"]
U32 = st.one_of(st.sampled_from([0, 1, 7, 0xFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]),
                st.integers(0, 0xFFFFFFFF))

# -- the model: refused accesses change nothing ------------------------------------------------


def _limit(name: str) -> int:
    return {"TILE": P["NTILES"], "ROW_START": P["ROWS"], "ROW_COUNT": P["ROWS"],
            "COL_START": P["COLS"], "COL_COUNT": P["COLS"], "PULSE_ROW": P["ROWS"],
            "PULSE_WIDTH": 3, "PULSE_COUNT": 3}.get(name, 0xFFFFFFFF)


@st.composite
def setup_access(draw):
    """A legal-looking access that moves the chip into some state: config near its limits,
    INBUF, commands (legal and not), CTRL (DBG_EN), DBG writes, waits."""
    kind = draw(st.sampled_from(["config", "config", "inbuf", "cmd", "ctrl", "dbg", "wait"]))
    if kind == "config":
        name = draw(st.sampled_from(CONFIG))
        lim = _limit(name)
        v = draw(st.one_of(st.integers(0, min(lim + 2, 0xFFFFFFFF)), U32))
        return ("w", A[name], v, 0xF)
    if kind == "inbuf":
        return ("w", A["INBUF"] + 4 * draw(st.integers(0, regs.WORDS["INBUF"] - 1)),
                draw(U32), 0xF)
    if kind == "cmd":
        return ("w", A["CMD"], draw(st.integers(0, 15)) | draw(st.integers(0, 3)) << 8, 0xF)
    if kind == "ctrl":
        return ("w", A["CTRL"], draw(st.integers(0, 3)), 0xF)
    if kind == "dbg":
        return ("w", A[draw(st.sampled_from(["DBG_ADDR", "DBG_G", "DBG_WC"]))], draw(U32), 0xF)
    return ("idle", 0, draw(st.integers(0, 300)), 0)


@st.composite
def refused_access(draw):
    """An access the macro refuses in some states, or in every state."""
    kind = draw(st.sampled_from(["misaligned", "hole", "strobe", "ro", "wo", "dbg", "busy",
                                 "cmd"]))
    if kind == "misaligned":
        return (draw(st.sampled_from("rw")), draw(st.sampled_from(WORDS)) | draw(
            st.integers(1, 3)), draw(U32), 0xF)
    if kind == "hole":
        return (draw(st.sampled_from("rw")), draw(st.sampled_from(HOLES)), draw(U32), 0xF)
    if kind == "strobe":
        return ("w", draw(st.sampled_from(WORDS)), draw(U32), draw(st.integers(0, 14)))
    if kind == "ro":
        name = draw(st.sampled_from([n for n, a in regs.ACCESS.items() if a == "ro"]))
        return ("w", A[name], draw(U32), 0xF)
    if kind == "wo":
        return ("r", A["CMD"], 0, 0xF)
    if kind == "dbg":      # refused unless CTRL.DBG_EN and idle
        return (draw(st.sampled_from("rw")), A[draw(st.sampled_from(["DBG_G", "DBG_WC"]))],
                draw(U32), 0xF)
    if kind == "busy":     # refused while a command runs
        return (draw(st.sampled_from("rw")), A[draw(st.sampled_from(CONFIG))], draw(U32), 0xF)
    return ("w", A["CMD"], draw(st.integers(0, 15)) | draw(st.integers(0, 3)) << 8, 0xF)


def _play(m: CimMacro, acc: tuple) -> int:
    kind, addr, data, strb = acc
    if kind == "idle":
        m.advance_to(m.cycle + data)
        return 0
    return m.write(addr, data, strb) if kind == "w" else m.read(addr)[1]


def _state(m: CimMacro) -> dict:
    """Everything the chip holds, but the error registers (which a refusal sets)."""
    out = {}
    for k, v in vars(m).items():
        if k in ("err_code", "err_count", "err_addr", "array", "_auto"):
            continue
        out[k] = (v.dtype.str, v.shape, v.tobytes()) if isinstance(v, np.ndarray) \
            else copy.deepcopy(v)
    out["array"] = {k: (v.dtype.str, v.shape, v.tobytes()) for k, v in vars(m.array).items()
                    if isinstance(v, np.ndarray)}
    return out


@examples(150)
@given(st.lists(setup_access(), max_size=25), refused_access())
def test_a_refused_access_changes_nothing_but_the_error_registers(setup, probe):
    m = CimMacro("seed-chip")
    for acc in setup:
        _play(m, acc)
    alone = copy.deepcopy(m)
    resp = _play(m, probe)
    if not resp:            # accepted in this state: not this property's case
        return
    alone.advance_to(m.cycle)
    assert _state(m) == _state(alone), probe
    assert m.err_code != 0 and m.err_count >= 1
    if alone.err_code == 0:     # the first error since the last clear names this access
        assert m.err_addr == probe[1]


# -- fixed-point helpers: saturate, never wrap -------------------------------------------------

BIG = st.integers(-(1 << 70), 1 << 70)


@examples(200)
@given(BIG, st.sampled_from([8, 16, 2, 31, 32, 64]))
def test_sat_bits_saturates_at_each_width_never_wraps(v, bits):
    r = fp.sat_bits(v, bits)
    m = (1 << (bits - 1)) - 1
    assert -m <= r <= m
    assert r == v if -m <= v <= m else r == (m if v > 0 else -m)


@examples(200)
@given(BIG, BIG, BIG)
def test_sat_clamps(v, a, b):
    lo, hi = min(a, b), max(a, b)
    r = fp.sat(v, lo, hi)
    assert lo <= r <= hi and (r == v or (v < lo and r == lo) or (v > hi and r == hi))


@examples(200)
@given(BIG, st.integers(-8, 40))
def test_rshift_round_is_exact_half_up(v, s):
    want = math.floor(Fraction(v, 1 << s) + Fraction(1, 2)) if s > 0 else v << -s
    assert fp.rshift_round(v, s) == want


@examples(100)
@given(st.integers(0, 255))
def test_s8_is_the_byte_as_int8(b):
    assert fp.s8(b) == int.from_bytes(bytes([b]), "little", signed=True)


@examples(200)
@given(st.lists(st.integers(-(1 << 40), 1 << 40), min_size=1, max_size=40))
def test_normalize_err_saturates_int8_and_the_twin_agrees(vals):
    v = list(vals)
    k = fp.normalize_err(v, len(v))
    if not any(vals):
        assert k == 0 and v == vals
    else:
        assert 64 <= max(abs(x) for x in v) <= 127
        for a, b in zip(vals, v):
            assert -127 <= b <= 127 and (b > 0) - (b < 0) in ((a > 0) - (a < 0), 0)  # no wrap
            assert b == (a << k if k >= 0 else max(-127, min(127, fp.rshift_round(a, -k))))
    host = np.array(vals, dtype=np.int64)
    assert kernels.normalize_err(host) == k and host.tolist() == v


@examples(200)
@given(st.lists(st.integers(-(1 << 20), 1 << 20), min_size=2, max_size=12), st.data())
def test_softmax_error_saturates_int8_and_the_twin_agrees(z, data):
    label = data.draw(st.integers(0, len(z) - 1))
    prob, err = [0] * len(z), [0] * len(z)
    p_label = fp.softmax_xent_err(z, label, prob, err)
    assert all(-fp.ERR_MAX <= e <= fp.ERR_MAX for e in err)
    assert err[label] <= 0 and all(e >= 0 for i, e in enumerate(err) if i != label)
    assert 0 <= p_label <= 65536 and abs(sum(prob) - 65536) <= len(z)
    herr = np.zeros(len(z), dtype=np.int64)
    hp = kernels.softmax_xent_err(np.array(z, dtype=np.int64), label,
                                  np.array(fp.EXP_Q16, dtype=np.int64), herr,
                                  fp.OUT_ERR_SHIFT, fp.ERR_MAX)
    assert hp == p_label and herr.tolist() == err


class _Dev:
    ntiles, rows, cols = 1, 8, 8


@examples(150)
@given(st.sampled_from([8, 16]), st.data())
def test_accumulator_saturates_at_its_width_and_the_twin_agrees(bits, data):
    """fc weight-gradient accumulation (firmware network._fc_grad; trainer kernels.fc_grad):
    acc -= round(x * err / 2**sh), saturating at +-(2**(bits-1) - 1), from any start."""
    nin, nout = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    m = (1 << (bits - 1)) - 1
    x = data.draw(st.lists(st.integers(0, 255), min_size=nin, max_size=nin))
    err = data.draw(st.lists(st.integers(-127, 127), min_size=nout, max_size=nout))
    acc0 = data.draw(st.lists(st.one_of(st.integers(-m, m), st.sampled_from([-m, m, 0])),
                              min_size=nin * nout, max_size=nin * nout))
    sh = data.draw(st.integers(-4, 24))
    net = network.Network((("fc", nin, nout),), _Dev(), bits)
    L = net.layers[0]
    L.x = bytes(x)
    for i, a in enumerate(acc0):
        L.acc[i] = a
    net._fc_grad(L, err, sh)
    want = [max(-m, min(m, acc0[i * nout + j] - fp.rshift_round(x[i] * err[j], sh)))
            for i in range(nin) for j in range(nout)]
    assert list(L.acc) == want
    host = np.array(acc0, dtype=np.int64).reshape(nin, nout)
    kernels.fc_grad(host, np.array(x, dtype=np.int64), np.array(err, dtype=np.int64), sh, m)
    assert host.ravel().tolist() == want
