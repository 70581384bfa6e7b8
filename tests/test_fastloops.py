"""The viper hot loops (firmware/fastloops.py) against their plain twins (firmware/loops.py).

Random and edge-case inputs drawn here run through both versions under the MicroPython
unix port, from the .mpy files the virtual board loads (mpy-cross -march of this machine:
constant folding differs from the port's own compiler); every return value and the CRC-32
of every buffer must agree, and the plain twins under the unix port must agree with the
same twins under CPython (the trainer's and the tests' view of the firmware).  Then: the
virtual board really runs the viper versions (network.FAST), and a planted fault in one is
caught.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import zlib
from array import array
from pathlib import Path

import pytest

from cimtrain import fwbuild

ROOT = Path(__file__).resolve().parents[1]
FW = ROOT / "firmware"
sys.path.insert(0, str(FW))

import loops  # noqa: E402

pytestmark = pytest.mark.skipif(fwbuild.host_march() is None,
                                reason="no mpy-cross -march for this machine")

# arguments: ("B", list) bytearray, ("b"/"h"/"H"/"i", list) array, or an int
RUNNER = r"""
import json, sys
from array import array
from binascii import crc32
sys.path.insert(0, sys.argv[1])
import loops, fastloops, network
cases = json.load(open(sys.argv[2]))

def build(args):
    out = []
    for a in args:
        if isinstance(a, list):
            out.append(bytearray(a[1]) if a[0] == "B" else array(a[0], a[1]))
        else:
            out.append(a)
    return out

def dump(args, ret):
    return [ret] + [crc32(bytes(a)) for a in args if not isinstance(a, int)]

res = []
for c in cases:
    pa, va = build(c["args"]), build(c["args"])
    res.append([dump(pa, getattr(loops, c["f"])(*pa)), dump(va, getattr(fastloops, c["f"])(*va))])
print(json.dumps({"res": res, "fast": network.FAST,
                  "native": network.im2col is fastloops.im2col}))
"""


def _u8(rnd, n, pz=0.5):
    return [0 if rnd.random() < pz else rnd.randrange(256) for _ in range(n)]


def _s(rnd, n, lim, pz=0.3):
    return [0 if rnd.random() < pz else rnd.randint(-lim, lim) for _ in range(n)]


def cases(seed: int = 1, per: int = 12) -> list[dict]:
    rnd = random.Random(seed)
    out = []

    def add(f, *args):
        out.append({"f": f, "args": [list(a) if isinstance(a, tuple) else a for a in args]})

    for _ in range(per):
        cin, k, hin = rnd.choice([(1, 5, 28), (6, 5, 12), (8, 3, 12)])
        y, xo = rnd.randrange(hin - k + 1), rnd.randrange(hin - k + 1)
        add("im2col", ("B", [0] * (cin * k * k)), ("B", _u8(rnd, cin * hin * hin)),
            cin, k, hin, y * hin + xo)
        x = _u8(rnd, 256, pz=rnd.choice([0.9, 1.0]))
        off, n = rnd.randrange(128), rnd.randrange(1, 128)
        add("any_nz", ("B", x), off, n)
        add("copy8", ("B", _u8(rnd, 256)), rnd.randrange(64), ("B", x), off, n)
        add("add_s8", ("h", _s(rnd, 128, 2000)), rnd.randrange(64), ("B", _u8(rnd, 256, 0.2)),
            rnd.randrange(64), rnd.randrange(1, 64))
        n, stride = rnd.randrange(1, 17), rnd.choice([64, 576])
        add("relu_col", ("B", _u8(rnd, n * stride)), ("h", _s(rnd, n, 600)), n, stride,
            rnd.randrange(stride))
        cout, hout, p = rnd.choice([(6, 24, 2), (16, 8, 2), (8, 10, 2), (2, 6, 3)])
        add("maxpool", ("B", [rnd.randrange(4) for _ in range(cout * hout * hout)]),
            ("B", [0] * (cout * (hout // p) ** 2)), ("H", [0] * (cout * (hout // p) ** 2)),
            cout, hout, p, hout // p)
        add("gather_nz", ("h", [7] * 16), ("h", _s(rnd, 16 * 64, 32767, pz=rnd.random())),
            16, 64, rnd.randrange(64))
        r, c = rnd.choice([(25, 6), (150, 16), (72, 8)])
        add("axpy_u8", ("i", _s(rnd, r * c, 1 << 24)), rnd.randrange(c), c,
            ("B", _u8(rnd, r)), r, rnd.randint(-128, 127))
        add("col2im", ("h", _s(rnd, cin * hin * hin, 3000)), ("h", _s(rnd, cin * k * k, 128)),
            cin, k, hin, y * hin + xo)
        sh, n = rnd.randint(-3, 14), rnd.choice([150, 2400])
        amax = rnd.choice([32767, 300])
        add("acc_update16", ("h", _s(rnd, n, amax)), ("i", _s(rnd, n, 1 << 22)), n, sh, amax)
        add("acc_update8", ("b", _s(rnd, n, 127)), ("i", _s(rnd, n, 1 << 20)), n, sh, 127)
        nr, nc = rnd.choice([(120, 84), (84, 10), (40, 16)])
        add("fc_grad16", ("h", _s(rnd, nr * nc, amax)), ("B", _u8(rnd, nr)),
            ("h", _s(rnd, nc, 127, pz=0.5)), nr, nc, sh, amax)
        add("fc_grad8", ("b", _s(rnd, nr * nc, 127)), ("B", _u8(rnd, nr)),
            ("h", _s(rnd, nc, 127, pz=0.5)), nr, nc, sh, 127)
        add("load_err", ("B", _u8(rnd, 256)), rnd.randrange(32), ("h", _s(rnd, 64, 128)),
            rnd.randrange(32), rnd.randrange(1, 32))
        add("add_s8_max", ("h", _s(rnd, 256, 3000)), rnd.randrange(128),
            ("B", _u8(rnd, 256, 0.2)), rnd.randrange(1, 128), rnd.randrange(130))
        n = cout * (hout // p) ** 2
        add("route", ("h", [0] * (cout * hout * hout)), ("h", _s(rnd, n, 3000, pz=0.5)),
            ("H", rnd.sample(range(cout * hout * hout), n)),
            ("B", _u8(rnd, cout * hout * hout)), n)
        add("zero16", ("h", _s(rnd, 300, 32767)), rnd.randrange(300))
        add("zero32", ("i", _s(rnd, 300, 1 << 30)), rnd.randrange(300))
    # edges: int16/int32 extremes, a shift of 0 and a left shift, saturation both ways
    add("acc_update16", ("h", [32767, -32767, 5, -5]), ("i", [-(1 << 31), (1 << 31) - 1,
                                                          -1, 1]), 4, 0, 32767)
    add("acc_update16", ("h", [100, -100, 0, 0]), ("i", [3, -3, 1, -1]), 4, -2, 32767)
    add("fc_grad16", ("h", [0, 0, 32767, -32767]), ("B", [255, 1]),
        ("h", [-32768, 32767]), 2, 2, 1, 32767)
    add("relu_col", ("B", [9] * 4), ("h", [-32768, 32767, 255, 256]), 4, 1, 0)
    return out


def _buf(a):
    kind, vals = a
    return bytearray(vals) if kind == "B" else array(kind, vals)


def _cpython(c):
    args = [_buf(a) if isinstance(a, list) else a for a in c["args"]]
    ret = getattr(loops, c["f"])(*args)
    return [ret] + [zlib.crc32(bytes(a)) for a in args if not isinstance(a, int)]


def _run(tmp_path, fw_src=FW):
    build = fwbuild.SRC
    try:
        fwbuild.SRC = fw_src
        out = fwbuild.build(tmp_path / "fw")
    finally:
        fwbuild.SRC = build
    cs = cases()
    (tmp_path / "cases.json").write_text(json.dumps(cs))
    (tmp_path / "runner.py").write_text(RUNNER)
    code = ("import micropython_module, sys\n"
            "sys.exit(micropython_module.run_main(['micropython', '-X', 'heapsize=64M', "
            "*sys.argv[1:]]))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "runner.py"), str(out),
                        str(tmp_path / "cases.json")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return cs, json.loads(r.stdout.strip().splitlines()[-1])


def _mismatches(cs, res):
    bad = []
    for c, (plain, fast) in zip(cs, res):
        if plain != fast or plain != _cpython(c):
            bad.append(c["f"])
    return bad


def test_viper_loops_equal_their_plain_twins(tmp_path):
    cs, out = _run(tmp_path)
    assert len(out["res"]) == len(cs) > 200
    bad = _mismatches(cs, out["res"])
    assert not bad, f"viper != plain (or plain != CPython) in: {sorted(set(bad))}"
    assert out["fast"] and out["native"], "the virtual board does not run the viper loops"


def test_a_planted_fault_in_a_viper_loop_is_caught(tmp_path):
    """fastloops with acc_update16's sign extension removed: the comparison must fail."""
    src = tmp_path / "src"
    src.mkdir()
    for f in FW.glob("*.py"):
        text = f.read_text()
        if f.name == "fastloops.py":
            old = "            if v & m:\n                v -= m << 1\n"
            assert text.count(old) == 2
            text = text.replace(old, "", 1)
        (src / f.name).write_text(text)
    cs, out = _run(tmp_path, src)
    assert set(_mismatches(cs, out["res"])) == {"acc_update16"}


def test_without_native_code_the_plain_twins_run(tmp_path):
    """A board built without -march (make flash, no MARCH): no fastloops.mpy; network.py
    runs loops.py's twins, and says so."""
    out = fwbuild.build(tmp_path / "fw", march=None)
    assert not (out / "fastloops.mpy").exists() and (out / "loops.mpy").exists()
    (tmp_path / "probe.py").write_text(
        "import sys\nsys.path.insert(0, sys.argv[1])\nimport loops, network\n"
        "print(network.FAST, network.im2col is loops.im2col)\n")
    code = ("import micropython_module, sys\n"
            "sys.exit(micropython_module.run_main(['micropython', *sys.argv[1:]]))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "probe.py"), str(out)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.split() == ["False", "True"], r.stdout + r.stderr
