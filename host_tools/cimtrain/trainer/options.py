"""Training options: the firmware's own (firmware/train.py DEFAULTS, same names, same
checks as its parse_args) plus the few that only the host trainer has."""

from __future__ import annotations

from .. import regs
from .firmware_src import defaults, networks

STUCK_UNIT = 1 << 16  # STUCK_RATE: stuck cells per 65536 (Q0.16, docs/registers.md)


def stuck_rate(knob: str, value: str) -> int:
    """STUCK=0.01 (a fraction of the cells) as the STUCK_RATE register's Q0.16 value;
    an error names ``knob`` and what is allowed."""
    try:
        f = float(value)
    except ValueError:
        raise OptionError(f"{knob}={value!r}: a fraction of the cells, e.g. 0.01 for 1%") \
            from None
    if not 0 <= f < 1 or (f > 0 and round(f * STUCK_UNIT) == 0):
        raise OptionError(f"{knob}={value}: a fraction of the cells in [0, 1) at least "
                          f"1/{STUCK_UNIT} if not 0, e.g. 0.01 for 1%")
    return min(round(f * STUCK_UNIT), STUCK_UNIT - 1)


def stuck_args(knob: str, value: str, args: list[str]) -> list[str]:
    """``args`` (firmware key=value options) with the stuck fraction ``value`` of knob
    ``knob`` (STUCK=0.01) as stuck_rate, and the stuck-cell check on unless ``args`` set
    it; a stuck_rate in ``args`` as well is refused."""
    keys = {x.split("=", 1)[0] for x in args}
    if "stuck_rate" in keys:
        raise OptionError(f"{knob}={value} and option stuck_rate: give one")
    out = [*args, f"stuck_rate={stuck_rate(knob, value)}"]
    return out if "stuck_check" in keys else [*out, "stuck_check=1"]


def dead_cols(net: str, knob: str, text: str) -> tuple[tuple[int, int], ...]:
    """'0:3,2:17' as ((0, 3), (2, 17)), checked against the chip of network ``net``;
    an error names ``knob`` (model/device.parse_dead_cols)."""
    from ..model.device import parse_dead_cols
    from ..model.macro import macro_params
    preset = {v: k for k, v in NET_OF_PRESET.items()}.get(net, "default")
    try:
        return parse_dead_cols(macro_params(preset), text, knob)
    except ValueError as err:
        raise OptionError(str(err)) from None


def dead_cols_option(net: str, knob: str, text: str) -> str:
    """The dead columns ``text`` as the firmware's option value: sorted, no duplicates,
    no spaces ('' for none); a bad value is refused naming ``knob``."""
    return ",".join(f"{t}:{c}" for t, c in dead_cols(net, knob, text))


def dead_cols_args(net: str, value: str, args: list[str]) -> list[str]:
    """``args`` (firmware key=value options) with the DEAD_COLS knob's columns ``value``
    as dead_cols, and the stuck-cell check on unless ``args`` set it (as stuck_args)."""
    keys = {x.split("=", 1)[0] for x in args}
    if "dead_cols" in keys:
        raise OptionError(f"DEAD_COLS={value} and option dead_cols: give one")
    out = [*args, f"dead_cols={dead_cols_option(net, 'DEAD_COLS', value)}"]
    return out if "stuck_check" in keys else [*out, "stuck_check=1"]


# Options of the firmware that the trainer has no use for (files, console output).
FIRMWARE_ONLY = ("train", "test", "progress", "verbose", "digest", "ckpt", "ckpt_every",
                 "resume")
NET_OF_PRESET = {"default": "lenet5", "seed-chip": "seedcnn"}


# Options of the trainer's chip that the firmware does not have: they change the chip,
# not the firmware (a variant of the preset's macro, trainer/chip.py), so a firmware run
# (make cosim, the board) refuses them.  Defaults: the preset's chip as it is.
HOST_ONLY = {
    "adc_bits": 8,    # ADC resolution over the same full scale (model/kernels.adc)
    "d2d_pct": 100,   # device-to-device sigmas (D2D_*_SIGMA), percent of the preset's
}
ADC_BITS_MIN = 2      # 1 bit would leave no positive code: every ReLU output 0
D2D_PCT_MAX = 1000


class OptionError(ValueError):
    """A training option is unknown or out of range; the message names it."""


def parse(overrides: dict | None = None, host: bool = False, **kw) -> dict:
    """Firmware DEFAULTS updated with ``overrides`` (values may be strings, as on the
    firmware's command line); validated like firmware train.parse_args, and a little more
    (what the firmware would only find out from a bus error later).  ``host``: the
    trainer's own options (HOST_ONLY) are allowed too, and the result holds them."""
    cfg = defaults()
    if host:
        cfg |= HOST_ONLY
    for k, v in {**(overrides or {}), **kw}.items():
        if k in HOST_ONLY and not host:
            raise OptionError(f"option {k}: a variant of the trainer's chip (make train, "
                              "make study), not a firmware option: the macro this run "
                              "drives has the preset's")
        if k not in cfg:
            raise OptionError(f"unknown option {k!r}; options: {' '.join(sorted(cfg))}")
        if isinstance(cfg[k], int) and not isinstance(v, int):
            try:
                v = int(v)
            except ValueError:
                raise OptionError(f"{k}={v!r}: not an integer") from None
        cfg[k] = v if isinstance(cfg[k], int) else str(v)
    nets = networks()
    if cfg["net"] not in nets:
        raise OptionError(f"net={cfg['net']}: choose from {' '.join(nets)}")
    if cfg["mode"] not in ("wv", "open"):
        raise OptionError(f"mode={cfg['mode']}: choose wv or open")
    if cfg["acc_bits"] not in (8, 16):
        raise OptionError(f"acc_bits={cfg['acc_bits']}: 8 or 16")
    if cfg["batch"] < 1 or cfg["epochs"] < 0 or cfg["n_train"] < 0 or cfg["n_test"] < 0:
        raise OptionError("need batch >= 1 and epochs, n_train, n_test >= 0")
    if cfg["n_train"] >= 1 << 16:
        raise OptionError(f"n_train={cfg['n_train']}: the firmware's PRNG draws below 2**16")
    for k in ("eps", "thr", "n_max"):
        if cfg[k] < 1:
            raise OptionError(f"{k}={cfg[k]}: must be >= 1")
    if not 1 <= cfg["n_min"] <= cfg["n_max"]:
        raise OptionError(f"n_min={cfg['n_min']}: 1 .. n_max ({cfg['n_max']})")
    if cfg["residue"] not in (0, 1):
        raise OptionError(f"residue={cfg['residue']}: 0 or 1")
    n_layers = len(nets[cfg["net"]])
    if not 0 <= cfg["freeze"] < n_layers:
        raise OptionError(f"freeze={cfg['freeze']}: 0 .. {n_layers - 1} (layers kept at "
                          "their initial weights)")
    acc_max = (1 << (cfg["acc_bits"] - 1)) - 1  # in 2**-(acc_bits - 8) codes
    for k, v in (("thr", cfg["thr"]), ("n_min * eps", cfg["n_min"] * cfg["eps"])):
        if v << (cfg["acc_bits"] - 8) > acc_max:
            raise OptionError(f"{k}={v} codes: above what a {cfg['acc_bits']}-bit "
                              f"accumulator holds ({acc_max >> (cfg['acc_bits'] - 8)} codes)")
    if not 0 <= cfg["stuck_rate"] <= regs.REG_MASK["STUCK_RATE"]:
        raise OptionError(f"stuck_rate={cfg['stuck_rate']}: cells per 65536 that ignore "
                          f"pulses, 0..{regs.REG_MASK['STUCK_RATE']} (655: 1%)")
    if cfg["stuck_check"] not in (0, 1):
        raise OptionError(f"stuck_check={cfg['stuck_check']}: 0 or 1")
    if not 0 <= cfg["lr_adapt"] <= 5:
        raise OptionError(f"lr_adapt={cfg['lr_adapt']}: 0 (off) or 1..5 (a layer's largest "
                          "step kept in [2**(t-2), 2**(t-1)) pulses, firmware update.py)")
    if cfg["sr"] not in (0, 1):
        raise OptionError(f"sr={cfg['sr']}: 0 (truncate pulse counts) or 1 (round them "
                          "stochastically)")
    if cfg["sr"] and cfg["mode"] != "open":
        raise OptionError(f"sr=1 rounds open-loop pulse counts: it needs mode=open, not "
                          f"mode={cfg['mode']}")
    for k, reg in (("noise_read", "NOISE_READ_SIGMA"), ("noise_pulse", "NOISE_PULSE_SIGMA"),
                   ("noise_adc", "NOISE_ADC_SIGMA")):
        if not -1 <= cfg[k] <= regs.REG_MASK[reg]:
            raise OptionError(f"{k}={cfg[k]}: -1 (the chip's default) or "
                              f"0..{regs.REG_MASK[reg]} (Q8.8, the {reg} register)")
    if cfg["warmup"] < 0 or cfg["recal"] < 0:
        raise OptionError(f"warmup={cfg['warmup']}, recal={cfg['recal']}: 0 (off) or a "
                          "number of training images")
    if not 1 <= cfg["warm_shift"] <= 8:
        raise OptionError(f"warm_shift={cfg['warm_shift']}: 1..8 (shifts the warm-up adds "
                          "at its first image)")
    if not 8 <= cfg["cal_target"] <= 126:
        raise OptionError(f"cal_target={cfg['cal_target']}: 8..126 (a layer's largest "
                          "forward code after calibration; the ADC saturates at 127)")
    if not 1 <= cfg["brange_lo"] <= 126:
        raise OptionError(f"brange_lo={cfg['brange_lo']}: 1..126 (the backward ADC shift "
                          "gets finer when a sample's largest |code| is below it; 127 "
                          "saturates)")
    cfg["dead_cols"] = dead_cols_option(cfg["net"], "dead_cols", cfg["dead_cols"])
    amp_max = regs.PARAMS["AMP_MAX_MV"]
    for k in ("set_amp", "reset_amp"):
        if not 0 <= cfg[k] <= amp_max:
            raise OptionError(f"{k}={cfg[k]}: the macro takes 0..{amp_max} mV")
    if host:
        if not ADC_BITS_MIN <= cfg["adc_bits"] <= 8:
            raise OptionError(f"adc_bits={cfg['adc_bits']}: {ADC_BITS_MIN}..8 (the ADC's "
                              "codes are int8 on one full scale; 8 is the chip's)")
        if not 0 <= cfg["d2d_pct"] <= D2D_PCT_MAX:
            raise OptionError(f"d2d_pct={cfg['d2d_pct']}: 0..{D2D_PCT_MAX} percent of the "
                              "preset's device-to-device sigmas (0: identical devices)")
    try:
        cfg["lr_shifts"] = [int(s) for s in str(cfg["lr"]).split(",")]
    except ValueError:
        raise OptionError(f"lr={cfg['lr']!r}: one integer shift, or one per layer") from None
    nl = len(nets[cfg["net"]])
    if len(cfg["lr_shifts"]) == 1:
        cfg["lr_shifts"] *= nl
    if len(cfg["lr_shifts"]) != nl:
        raise OptionError(f"lr={cfg['lr']}: one shift per layer ({nl})")
    return cfg


def firmware_args(cfg: dict) -> list[str]:
    """The same options as the firmware's key=value arguments (for cross-checks)."""
    d = defaults()
    return [f"{k}={cfg[k]}" for k in d if k not in FIRMWARE_ONLY]
