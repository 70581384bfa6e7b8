"""The trainer's chip variants (options.HOST_ONLY: adc_bits, d2d_pct): the ADC of fewer
bits and the scaled device-to-device spread are what the option says, checked against
hand computations and the model's own draw; bad values and firmware runs refuse them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cimtrain.model.array import adc
from cimtrain.model.device import d2d
from cimtrain.model.macro import macro_params
from cimtrain.trainer import Trainer, options
from cimtrain.trainer.chip import D2D_SIGMAS, Chip
from cimtrain.trainer.cli import main as train_main

ROOT = Path(__file__).resolve().parents[1]


def k_bit_code(v: int, shift: int, bits: int) -> int:
    """A k-bit ADC on the 8-bit full scale, by hand: ``v`` counts 2**-shift 8-bit LSB;
    v / 2**(shift + 8 - bits) rounded half up, clamped to k bits, times 2**(8 - bits)."""
    d = 8 - bits
    q = (2 * v + (1 << (shift + d))) // (1 << (shift + d + 1))
    return min(max(q, -(1 << (bits - 1))), (1 << (bits - 1)) - 1) << d


@pytest.mark.parametrize("bits", [8, 6, 4, 2])
@pytest.mark.parametrize("shift", [0, 3])
def test_adc_bits_round_and_saturate_on_the_8_bit_scale(bits, shift):
    cur = np.arange(-(150 << shift), 150 << shift, 1 + shift, dtype=np.int64)
    y, sat = adc(cur, 1, shift, 0, 0, 1, 0, 0, bits=bits)
    assert y.tolist() == [k_bit_code(c, shift, bits) for c in cur.tolist()]
    d = 8 - bits
    assert y.max() == 128 - (1 << d) and y.min() == -128    # the k-bit range, reached
    assert np.all(y % (1 << d) == 0)                        # 2**k levels only
    q = [(2 * c + (1 << (shift + d))) // (1 << (shift + d + 1)) for c in cur.tolist()]
    assert sat.tolist() == [not -(1 << (bits - 1)) <= v < (1 << (bits - 1)) for v in q]
    assert sat.any() and not sat.all()


def test_adc_bits_quantize_signal_and_noise_together():
    """With ADC noise: the k-bit code rounds current + noise (8-bit LSB) once; the noise
    of each line read from the 8-bit ADC at zero current."""
    n = 64
    nz, _ = adc(np.zeros(n, dtype=np.int64), 1, 0, 0, 512, 7, 3, 0)  # 2 LSB noise, 8 bits
    assert np.abs(nz).max() < 20 and np.any(nz != 0)
    cur = np.arange(n, dtype=np.int64) * 37 - 1200
    for bits in (7, 5, 3):
        y, _ = adc(cur, 1, 4, 0, 512, 7, 3, 0, bits=bits)
        # v = cur / 16 + nz in 8-bit LSB, as an integer count of 1/16 LSB
        want = [k_bit_code(c + 16 * z, 4, bits) for c, z in zip(cur.tolist(),
                                                                    nz.tolist())]
        assert y.tolist() == want


def test_trainer_layer_saturates_at_the_k_bit_range():
    """A layer's VMMs through the trainer's chip with adc_bits=5 and noise off: every
    code is the hand-computed k-bit code of x.W (numpy), and the range is 5 bits."""
    cfg = options.parse(net="seedcnn", n_train=4, n_test=4, noise=0, adc_bits=5, host=True)
    z = np.zeros((4, 784), dtype=np.uint8)
    t = Trainer(cfg, "seed-chip", (z, np.zeros(4, np.int64)), (z, np.zeros(4, np.int64)))
    rng = np.random.default_rng(3)
    t.chip.array.g[...] = rng.integers(128, 896, size=t.chip.array.g.shape)
    t.net.refresh_weights()
    L = t.net.layers[0]
    assert len(L.blocks) == 1
    L.fshift = 9
    x = rng.integers(0, 256, size=784)
    t.net.layer_forward(L, x)
    cur = x[L.im2col] @ t.net.weights(L)             # (positions, channels), exact
    want = np.vectorize(lambda c: k_bit_code(int(c), 9, 5))(cur)
    assert np.array_equal(L.pre, want)
    assert L.pre.max() == 120 and L.pre.min() == -128 and np.all(L.pre % 8 == 0)
    # the same chip with the 8-bit ADC: the codes differ (the option reached the ADC)
    t8 = Trainer(dict(cfg, adc_bits=8), "seed-chip",
                 (z, np.zeros(4, np.int64)), (z, np.zeros(4, np.int64)))
    t8.chip.array.g[...] = t.chip.array.g
    t8.net.refresh_weights()
    t8.net.layers[0].fshift = 9
    t8.net.layer_forward(t8.net.layers[0], x)
    assert not np.array_equal(t8.net.layers[0].pre, L.pre) and t8.net.layers[0].pre.max() == 127


def test_d2d_pct_scales_the_models_draw():
    n = 2 * 64 * 64
    p = macro_params("seed-chip")
    flat = Chip("seed-chip", 5, d2d_pct=0).dev
    assert np.all(flat.gmin == p["GMIN_NOM"]) and np.all(flat.gmax == p["GMAX_NOM"])
    assert np.all(flat.fset == 256) and np.all(flat.freset == 256)
    dev = Chip("seed-chip", 5, d2d_pct=200).dev
    # the model's draw with the preset's sigmas doubled, given to it directly
    ref = d2d(macro_params("seed-chip", **{k: 2 * p[k] for k in D2D_SIGMAS}), 5,
              np.arange(4 * n, dtype=np.int64), 0)
    for f in ("gmin", "gmax", "fset", "freset"):
        assert np.array_equal(getattr(dev, f), getattr(ref, f)), f
    one = Chip("seed-chip", 5).dev
    ratio = np.std(dev.gmax - p["GMAX_NOM"]) / np.std(one.gmax - p["GMAX_NOM"])
    assert 1.9 < ratio < 2.1


@pytest.mark.parametrize("kv, msg", [({"adc_bits": 1}, "adc_bits=1: 2..8"),
                                     ({"adc_bits": 9}, "adc_bits=9: 2..8"),
                                     ({"adc_bits": "six"}, "adc_bits='six': not an integer"),
                                     ({"d2d_pct": -1}, "d2d_pct=-1: 0..1000"),
                                     ({"d2d_pct": 1001}, "d2d_pct=1001: 0..1000")])
def test_bad_chip_variant_is_refused_by_name(kv, msg):
    with pytest.raises(options.OptionError, match=msg):
        options.parse(kv, host=True)


def test_firmware_options_refuse_the_chip_variant():
    """make cosim (and the firmware's own option check) has no such options."""
    with pytest.raises(options.OptionError, match="adc_bits: a variant of the trainer's"):
        options.parse(adc_bits=6)
    cfg = options.parse(adc_bits=6, d2d_pct=50, host=True)
    assert not any(a.startswith(("adc_bits", "d2d_pct")) for a in options.firmware_args(cfg))


def test_make_train_records_the_chip_variant(tmp_path, capsys):
    args = ["--preset", "seed-chip", "--n-train", "8", "--n-test", "8", "--epochs", "1",
            "--curve-points", "0", "--out", str(tmp_path)]
    assert train_main([*args, "adc_bits=6", "d2d_pct=50"]) == 0
    res = json.loads((tmp_path / "train.json").read_text())
    assert res["options"]["adc_bits"] == 6 and res["options"]["d2d_pct"] == 50
    assert train_main([*args, "adc_bits=0"]) == 2
    assert "adc_bits=0: 2..8" in capsys.readouterr().err
