"""Chip image: the analog state of a macro that outlives a run (DESIGN.md).

On silicon the array keeps its conductances by itself; in simulation this file stands
in for it.  The trainer writes it after training (``make train``: results/<run>/
chip.npz), the model loads it (``CimMacro(...).array`` via ``load``, or
``python -m cimtrain.bridge.model_server --chip-image FILE``), so a trained chip can be
served to the firmware.

Format (numpy ``.npz``, version 1; docs/results.md "Chip image"):

- ``format`` (str): ``"cimtrain-chip-image"``; ``version`` (int): 1
- ``preset`` (str): the macro preset (``default``, ``seed-chip``)
- ``seed`` (int): the chip's SEED, its device-to-device draw
- ``g`` (uint16, NTILES x ROWS x COLS x 2): the conductance code of every cell,
  indexed [tile, row, col, pol] (pol 0 = G+, 1 = G-)
- ``wc`` (uint16, same shape): the write counter of every cell (saturating, WC_BITS)
- ``w_<i>_<kind>`` (int16, R x C, optional): effective weights G+ - G- of network
  layer i in the firmware's [input, output] order (the trainer adds them)
- ``fshift``, ``bshift`` (int, one per layer, optional): the firmware's ADC shifts
- ``op_count`` (int, optional): the macro's OP_COUNT (the op index of the read and ADC
  noise); a checkpoint's image has it (``make cosim CKPT=``, docs/checkpoint.md), and a
  resumed server takes it, so the noise goes on as if never interrupted
- ``sha256`` (str): SHA-256 over every other entry (``sha256_of``: name, dtype, shape
  and bytes of each, in name order; the trainer's checkpoints use the same); ``load``
  refuses a file whose entries do not match it (files written before it have none)

A loaded image must match the macro's shape and code range; its seed is the one the
device-to-device variation was drawn with (the firmware must write the same SEED to
serve it as trained; another seed models moving the image to another chip).
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from ..fileio import write_atomic

FORMAT, VERSION = "cimtrain-chip-image", 1


class ChipImageError(ValueError):
    """A chip image file is missing, malformed or does not fit the macro."""


def sha256_of(arrays: dict) -> str:
    """SHA-256 of named arrays: name, dtype, shape and bytes of each, in name order."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(k.encode() + b"\0" + str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save(path: str | os.PathLike, preset: str, seed: int, g: np.ndarray, wc: np.ndarray,
         **extra: np.ndarray) -> Path:
    """Write a chip image atomically (temporary file, fsync, rename), with its SHA-256."""
    body = {"format": np.array(FORMAT), "version": np.array(VERSION),
            "preset": np.array(preset), "seed": np.array(int(seed)),
            "g": g.astype(np.uint16), "wc": wc.astype(np.uint16),
            **{k: np.asarray(v) for k, v in extra.items()}}
    body["sha256"] = np.array(sha256_of(body))
    buf = io.BytesIO()
    np.savez_compressed(buf, **body)
    path = write_atomic(path, buf.getvalue())
    return path


def load(path: str | os.PathLike, p: dict | None = None) -> dict:
    """Read a chip image: a dict of its keys (``g``/``wc`` as int64).  With the macro's
    parameters ``p``, check that it fits (shape, code range, write-counter width)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise ChipImageError(f"{path}: no such chip image") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ChipImageError(f"{path}: not a readable chip image ({e})") from None
    if "sha256" in d:
        stored = str(d.pop("sha256"))
        if sha256_of(d) != stored:
            raise ChipImageError(f"{path}: SHA-256 mismatch: the file is corrupted")
    if str(d.get("format", "")) != FORMAT or int(d.get("version", -1)) != VERSION:
        raise ChipImageError(f"{path}: not a {FORMAT} version {VERSION} file")
    for k in ("g", "wc", "preset", "seed"):
        if k not in d:
            raise ChipImageError(f"{path}: no '{k}' array")
    d["g"] = d["g"].astype(np.int64)
    d["wc"] = d["wc"].astype(np.int64)
    d["preset"] = str(d["preset"])
    d["seed"] = int(d["seed"])
    if p is not None:
        shape = (p["NTILES"], p["ROWS"], p["COLS"], 2)
        if d["g"].shape != shape or d["wc"].shape != shape:
            raise ChipImageError(f"{path}: array {d['g'].shape} does not fit the macro's "
                                 f"{shape} (preset {d['preset']})")
        if d["g"].min() < 0 or d["g"].max() > p["GCODE_MAX"]:
            raise ChipImageError(f"{path}: conductance codes outside 0..{p['GCODE_MAX']}")
        if d["wc"].max() >= 1 << p["WC_BITS"]:
            raise ChipImageError(f"{path}: write counts beyond {p['WC_BITS']} bits")
    return d
