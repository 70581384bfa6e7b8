"""Trainer checkpoints: the whole state of a run, written atomically with a checksum.

A checkpoint (``.npz``) holds everything the next epoch depends on: the chip (every
cell's conductance and write count, the op counter that keys read and ADC noise, the
command counters), the network (accumulators, ADC shifts), the updater (per-weight
write counts, counters), the firmware's PRNG state and data order, the options, and
the history so far.  ``load`` refuses a file whose SHA-256 (over every other entry)
does not match, or that was written by another format version.  A run resumed from a
checkpoint ends bit-identical to one that was never interrupted
(tests/test_trainer_run.py).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

from ..fileio import write_atomic
from ..model.chip_image import sha256_of

FORMAT, VERSION = "cimtrain-trainer-checkpoint", 1


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupted, or does not belong to this run."""


def _digest(arrays: dict) -> str:
    return sha256_of(arrays)  # the chip image's checksum (one scheme for both files)


def save(path: str | os.PathLike, arrays: dict, meta: dict) -> Path:
    """Write arrays + JSON metadata to ``path``: a temporary file, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {**arrays, "meta": np.array(json.dumps({"format": FORMAT, "version": VERSION,
                                                    **meta}))}
    body["sha256"] = np.array(_digest(body))
    buf = io.BytesIO()
    np.savez(buf, **body)
    write_atomic(path, buf.getvalue())
    return path


def load(path: str | os.PathLike) -> tuple[dict, dict]:
    """(arrays, metadata) of a checkpoint, verified."""
    try:
        with np.load(path, allow_pickle=False) as z:
            body = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except (OSError, ValueError, EOFError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({e})") from None
    if "sha256" not in body or "meta" not in body:
        raise CheckpointError(f"{path}: not a cimtrain trainer checkpoint")
    stored = str(body.pop("sha256"))
    if _digest(body) != stored:
        raise CheckpointError(f"{path}: checksum mismatch: the file is corrupted")
    meta = json.loads(str(body.pop("meta")))
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: format {meta.get('format')} v{meta.get('version')}, "
                              f"expected {FORMAT} v{VERSION}")
    return body, meta
