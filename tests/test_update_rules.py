"""The update rules of firmware/update.py beyond the threshold: lr_adapt (Adam-like
per-layer shifts) and sr (stochastic rounding of pulse counts); the learning-rate
warm-up (warmup, warm_shift) and the ADC range policies (recal, cal_target, brange_lo).

Their options are refused by name when out of range, by the firmware's parse_args and the
trainer's options.parse alike; the shift rule is checked against hand-computed cases in
the firmware and in the trainer; the trainer's compiled PRNG draws the firmware's numbers.
Bit-exactness of whole runs: tests/test_trainer_bitexact.py.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from cimtrain.trainer import kernels as TK
from cimtrain.trainer import options
from cimtrain.trainer.fixedpoint import XorShift32
from cimtrain.trainer.loop import warm_extra as host_warm_extra
from cimtrain.trainer.update import Updater as HostUpdater

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "firmware"))

import update  # noqa: E402


def firmware_train():
    """firmware train.py imported under CPython: the modules that reach the hardware (cim:
    hal, uctypes) and the data files (mnist) are stand-ins while it imports; parse_args
    and warm_extra touch neither."""
    saved = {n: sys.modules.get(n) for n in ("cim", "mnist", "train")}
    try:
        for name in ("cim", "mnist"):
            sys.modules[name] = types.ModuleType(name)
        sys.modules.pop("train", None)
        import train
        return train
    finally:  # no stand-in outlives the call (other tests import the real modules)
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def firmware_parse_args(argv):
    return firmware_train().parse_args(argv)


@pytest.mark.parametrize("args, msg", [
    (["lr_adapt=6"], "lr_adapt=6"), (["lr_adapt=-1"], "lr_adapt=-1"),
    (["sr=2"], "sr=2"), (["sr=1", "mode=wv"], "mode=open"),
    (["warmup=-1"], "warmup=-1"), (["warm_shift=0"], "warm_shift=0"),
    (["warm_shift=9"], "warm_shift=9"), (["recal=-5"], "recal=-5"),
    (["cal_target=7"], "cal_target=7"), (["cal_target=127"], "cal_target=127"),
    (["brange_lo=0"], "brange_lo=0"), (["brange_lo=127"], "brange_lo=127"),
    (["noise_read=65536"], "noise_read=65536"), (["noise_adc=-2"], "noise_adc=-2"),
])
def test_bad_update_rule_options_are_refused_by_name(args, msg):
    with pytest.raises(ValueError, match=msg):
        firmware_parse_args(args)
    with pytest.raises(options.OptionError, match=msg):
        options.parse(dict(a.split("=") for a in args))


def test_good_update_rule_options_pass_both_parsers():
    for args in (["lr_adapt=1"], ["lr_adapt=5", "sr=1"], ["sr=1", "mode=open"]):
        fw = firmware_parse_args(args)
        host = options.parse(dict(a.split("=") for a in args))
        assert (fw["lr_adapt"], fw["sr"]) == (host["lr_adapt"], host["sr"])
    assert (options.parse()["lr_adapt"], options.parse()["sr"]) == (0, 0)  # off by default


def test_schedule_and_range_options_pass_both_parsers_at_their_edges():
    keys = ("warmup", "warm_shift", "recal", "cal_target", "brange_lo")
    for vals in ((0, 1, 0, 8, 1), (60000, 8, 1, 126, 126)):
        args = [f"{k}={v}" for k, v in zip(keys, vals)]
        fw = firmware_parse_args(args)
        host = options.parse(dict(a.split("=") for a in args))
        assert tuple(fw[k] for k in keys) == tuple(host[k] for k in keys) == vals
    d = options.parse()  # defaults: no warm-up, one calibration, the band [64, 127)
    assert tuple(d[k] for k in keys) == (0, 2, 0, 96, 64)


@pytest.mark.parametrize("warmup, ws, want", [
    (0, 2, [0, 0, 0]),                            # none
    (4, 2, [2, 2, 1, 1, 0, 0]),                   # ceil(2 * (4 - seen) / 4)
    (6, 3, [3, 3, 2, 2, 1, 1, 0]),
    (3, 8, [8, 6, 3, 0]),                         # ceil(8 * 3/3), ceil(8 * 2/3), ...
    (1, 5, [5, 0]),
])
def test_warm_up_adds_shifts_falling_linearly_to_zero(warmup, ws, want):
    fw = firmware_train().warm_extra
    cfg = {"warmup": warmup, "warm_shift": ws}
    assert [fw(s, warmup, ws) for s in range(len(want))] == want
    assert [host_warm_extra(s, cfg) for s in range(len(want))] == want


class _L:
    def __init__(self, umax, lra=0):
        self.umax, self.lra = umax, lra


def _adapt(updater, layers, freeze=0):
    net = types.SimpleNamespace(layers=layers, freeze=freeze)
    updater.net = net  # (the trainer's Updater keeps its network)
    updater.adapt_lr(net) if isinstance(updater, update.Updater) else updater.adapt_lr()
    return [(L.lra, L.umax) for L in layers]


def _updaters(t, decay=0):
    cfg = {"mode": "open", "acc_bits": 16, "thr": 51, "eps": 10, "n_max": 8, "n_min": 1,
           "residue": 1, "wv_tol": 26, "wv_iters": 6, "set_amp": 1800, "reset_amp": 1860,
           "lr_adapt": t, "sr": 0}
    fw = update.Updater(None, cfg)
    host = HostUpdater.__new__(HostUpdater)  # no chip: only the rule's state
    host.eps, host.lr_adapt = fw.eps, t
    for u in (fw, host):
        u.decay = decay
    return fw, host


@pytest.mark.parametrize("t, decay, umax, lra, want", [
    # eps = 10 codes = 2560 accumulator units; t = 2: band [1, 2) pulses = [2560, 5120)
    (2, 0, 2560, 0, 0), (2, 0, 5119, 0, 0),        # inside: unchanged
    (2, 0, 5120, 0, 1), (2, 0, 2559, 0, -1),       # above: halve the steps; below: double
    (2, 0, 2559, -6, -6), (2, 0, 99999, 6, 6),     # bounds +-6
    (1, 0, 2559, 0, 0), (1, 0, 1279, 0, -1),       # t = 1: [1/2, 1) pulse
    (3, 0, 5119, 0, -1), (3, 0, 10240, 0, 1),      # t = 3: [2, 4) pulses
    (2, 1, 2559, 0, 0), (2, 1, 1279, 0, -1),       # epoch 2 with lr_step=1: band halved
    (2, 0, 0, 3, 3),                               # no error reached the layer: kept
])
def test_lr_adapt_moves_a_layer_shift_toward_its_band(t, decay, umax, lra, want):
    for u in _updaters(t, decay):
        got = _adapt(u, [_L(umax, lra)])
        assert got == [(want, 0)], (type(u).__module__, got)


def test_lr_adapt_leaves_frozen_layers_alone():
    for u in _updaters(2):
        assert _adapt(u, [_L(99999), _L(99999)], freeze=1) == [(0, 99999), (1, 0)]


def test_trainer_prng_draws_the_firmwares_numbers():
    rs = np.array([12345], dtype=np.int64)
    fw = XorShift32(12345)
    for n in (2560, 10, 65535, 1):
        for _ in range(200):
            assert TK.xorshift_below(rs, n) == fw.below(n)
    assert int(rs[0]) == fw.s
