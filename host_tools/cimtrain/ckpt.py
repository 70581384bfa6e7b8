"""make cosim's checkpoints on the host: found, verified and matched before a run starts.

A checkpoint folder (``make cosim CKPT=DIR``) holds, per checkpoint tag (training images
seen, 8 digits):

- ``fw-<tag>.ckpt``: the firmware's state; firmware/ckpt.py writes it (the format is in
  its docstring and docs/checkpoint.md; its constants are read from there, not copied);
- ``chip-<tag>.npz``: the chip image the server saved at the firmware's request (the
  simulation's stand-in for a non-volatile array; model/chip_image.py), with OP_COUNT.

Only the newest state is kept; a chip image without its state (a run killed between the
two writes) is ignored.  ``find`` returns the newest complete pair, verified (CRC-32 of the
state, SHA-256 of the image); ``check`` compares it with the run about to start and raises
CheckpointError naming the first difference.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

from . import dataset
from .model import chip_image
from .trainer.firmware_src import module_constants


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupted, or of another run or firmware."""


def fw_constants() -> dict:
    """firmware/ckpt.py's format constants, FREE options and VERSION."""
    return module_constants("ckpt")


def state_name(tag: int) -> str:
    return f"fw-{tag:08d}.ckpt"


def chip_name(tag: int) -> str:
    return f"chip-{tag:08d}.npz"


def _tag(p: Path, prefix: str, suffix: str) -> int:
    mid = p.name[len(prefix):-len(suffix)]
    return int(mid) if p.name.startswith(prefix) and p.name.endswith(suffix) \
        and mid.isdigit() else -1


def saved(d: Path) -> list[Path]:
    """The checkpoint files of a folder (states and chip images)."""
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if _tag(p, "fw-", ".ckpt") >= 0
                  or _tag(p, "chip-", ".npz") >= 0)


def read_state(path: Path) -> dict:
    """The JSON header of a firmware state file, after checking its magic, format, sizes
    and CRC-32 (the arrays themselves are the firmware's to read)."""
    c = fw_constants()
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e})") from None
    magic = c["_MAGIC"]
    if len(raw) < 20 or raw[:8] != magic:
        raise CheckpointError(f"{path}: not a firmware checkpoint (magic {raw[:8]!r})")
    fmt, m = struct.unpack_from("<II", raw, 8)
    if fmt != c["_FORMAT"]:
        raise CheckpointError(f"{path}: format {fmt}, this firmware writes {c['_FORMAT']}")
    try:
        meta = json.loads(raw[16:16 + m])
        nbytes = sum(n for _, n in meta["arrays"])
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"{path}: truncated or corrupted header") from None
    want = 16 + m + nbytes + 4
    if len(raw) != want:
        raise CheckpointError(f"{path}: {len(raw)} bytes, expected {want}: truncated or "
                              "corrupted")
    (crc,) = struct.unpack_from("<I", raw, want - 4)
    if zlib.crc32(raw[:want - 4]) != crc:
        raise CheckpointError(f"{path}: CRC-32 mismatch: the file is corrupted")
    return meta


def find(d: Path, sim: bool = True) -> tuple[Path, Path | None, dict]:
    """(state, chip image or None, state header) of the newest checkpoint in ``d``."""
    if not d.is_dir():
        raise CheckpointError(f"RESUME={d}: no such folder")
    states = sorted((p for p in d.iterdir() if _tag(p, "fw-", ".ckpt") >= 0),
                    key=lambda p: _tag(p, "fw-", ".ckpt"))
    if not states:
        raise CheckpointError(f"RESUME={d}: no checkpoint (fw-*.ckpt) in this folder")
    state = states[-1]
    meta = read_state(state)
    tag = _tag(state, "fw-", ".ckpt")
    if meta.get("tag") != tag:
        raise CheckpointError(f"{state}: holds the state of tag {meta.get('tag')}, not {tag}")
    if not sim:
        return state, None, meta
    chip = d / chip_name(tag)
    try:
        img = chip_image.load(chip)
    except chip_image.ChipImageError as e:
        raise CheckpointError(f"{e} (the chip image of {state.name})") from None
    if int(img.get("op_count", -1)) != meta["ints"]["op_count"]:
        raise CheckpointError(f"{chip}: OP_COUNT {int(img.get('op_count', -1))}, the "
                              f"firmware's state {meta['ints']['op_count']}: not a pair")
    meta["_chip"] = {"preset": img["preset"], "seed": img["seed"]}
    return state, chip, meta


def pack_id(path: Path) -> list[int]:
    """[payload CRC-32, count] of a pack file: what the firmware records of its data."""
    h = dataset.HEADER.unpack_from(path.read_bytes()[:dataset.HEADER_SIZE])
    return [h[6], h[3]]


def check(meta: dict, cfg: dict, data: list[int], preset: str, where: str) -> None:
    """Raise CheckpointError unless the checkpoint is of this configuration, data and
    firmware: ``cfg`` the run's firmware options (trainer.options.parse of them),
    ``data`` [train CRC, count, test CRC, count]."""
    c = fw_constants()
    if meta.get("fw") != c["VERSION"]:
        raise CheckpointError(f"{where}: written by firmware {meta.get('fw')}, this is "
                              f"{c['VERSION']}")
    chip = meta.get("_chip")
    if chip is not None and chip["preset"] != preset:
        raise CheckpointError(f"{where}: preset {chip['preset']}, this run has {preset}")
    want = {k: v for k, v in cfg.items() if k not in c["FREE"]}
    have = meta["cfg"]
    for k in sorted(set(want) | set(have)):
        if have.get(k) != want.get(k):
            raise CheckpointError(f"{where}: option {k}={have.get(k)}, this run has "
                                  f"{k}={want.get(k)}")
    if chip is not None and chip["seed"] != cfg["seed"] & 0xFFFFFFFF:
        raise CheckpointError(f"{where}: chip seed {chip['seed']}, this run has {cfg['seed']}")
    if meta["data"] != data:
        names = ("train CRC-32", "train images", "test CRC-32", "test images")
        k = next(i for i in range(4) if meta["data"][i] != data[i])
        raise CheckpointError(f"{where}: data differ: {names[k]} {meta['data'][k]}, this run "
                              f"has {data[k]}")
