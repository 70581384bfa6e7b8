"""The checks of make's knobs, before anything starts: one home for `make cosim`
(cosim_main.parse_args) and `make train` (trainer/cli.parse_args).

A bad knob is refused through the command's argparse parser (usage line, exit status 2),
with a message that names the make variable, the value and what is allowed:

    N_TRAIN=-5: allowed 1..60000
    PRESET='bogus': choose from default, seed-chip
    ARGS: lr='abc': one integer shift, or one per layer
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterable, Sequence

from .dataset import COUNTS

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def env_int(prog: str, name: str, default: int | None) -> int | None:
    """The integer in environment variable ``name`` (unset or blank: ``default``)."""
    v = os.environ.get(name, "")
    try:
        return int(v) if v.strip() else default
    except ValueError:
        raise SystemExit(f"{prog}: {name}={v!r} is not an integer") from None


def check_choices(ap: argparse.ArgumentParser, a: argparse.Namespace,
                  choices: dict[str, tuple[str, Sequence[str]]]) -> None:
    """``choices``: destination -> (make variable, allowed values).  argparse checks the
    choices of what was typed, not of defaults taken from the environment."""
    for dest, (knob, allowed) in choices.items():
        if getattr(a, dest) not in allowed:
            shown = ", ".join(repr(x) if x == "" else x for x in allowed)
            ap.error(f"{knob}={getattr(a, dest)!r}: choose from {shown}")


def check_ranges(ap: argparse.ArgumentParser,
                 rows: Iterable[tuple[str, int | None, int, int]]) -> None:
    """``rows``: (make variable, value, lowest, highest); a value of None (not given) passes."""
    for knob, v, lo, hi in rows:
        if v is not None and not lo <= v <= hi:
            ap.error(f"{knob}={v}: allowed {lo}..{hi}")


def check_name(ap: argparse.ArgumentParser, knob: str, name: str) -> None:
    """A run name: the suffix of one folder under results/ (no path, no leading dot)."""
    if name and not _NAME.fullmatch(name):
        ap.error(f"{knob}={name!r}: a run name is letters, digits and . _ + - (one folder "
                 "name, not starting with . or -)")


def stuck_args(ap: argparse.ArgumentParser, value: str, args: list[str]) -> list[str]:
    """The firmware options ``args`` with the STUCK knob's fraction ``value`` added
    (stuck_rate, and stuck_check=1 unless given); a bad value is refused by name."""
    from .trainer import options as opt
    try:
        return opt.stuck_args("STUCK", value, args)
    except opt.OptionError as err:
        ap.error(str(err))


def dead_cols_args(ap: argparse.ArgumentParser, net: str, value: str,
                   args: list[str]) -> list[str]:
    """The firmware options ``args`` with the DEAD_COLS knob's columns ``value``
    ('0:3,2:17', tile:column) added as dead_cols, and stuck_check=1 unless given; a value
    that is not such pairs, or outside the chip of network ``net``, is refused by name."""
    from .trainer import options as opt
    try:
        return opt.dead_cols_args(net, value, args)
    except opt.OptionError as err:
        ap.error(str(err))


def check_options(ap: argparse.ArgumentParser, knob: str, base: dict,
                  args: Sequence[str], host: bool = False) -> dict:
    """The firmware's key=value options ``args`` over ``base`` (net, n_train, ...), checked
    as the firmware checks them (trainer/options.py); returns the configuration.
    ``host``: the trainer's chip options (options.HOST_ONLY) are allowed too."""
    from .trainer import options as opt
    bad = [x for x in args if "=" not in x]
    if bad:
        ap.error(f"{knob}: {bad[0]!r} is not key=value")
    try:
        cfg = opt.parse({**base, **dict(x.split("=", 1) for x in args)}, host=host)
    except opt.OptionError as err:
        ap.error(f"{knob}: {err}")
    for key, split in (("n_train", "train"), ("n_test", "test")):   # MNIST's sizes
        if cfg[key] > COUNTS[split] and cfg[key] != base.get(key):
            ap.error(f"{knob}: {key}={cfg[key]}: allowed up to {COUNTS[split]} (MNIST's "
                     f"{split} images)")
    return cfg
