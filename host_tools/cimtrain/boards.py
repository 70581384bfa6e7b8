"""Board configurations: every board `make flash` knows, in one place.

    python -m cimtrain.boards                  # list the boards
    python -m cimtrain.boards --check          # exit 1 if firmware/board_cfg.py is stale
    python -m cimtrain.boards --write          # rewrite firmware/board_cfg.py (make regs)

A board's configuration has two parts.  What the firmware reads on the board
(``ON_BOARD``: the macro's base address, the HAL backend, the preset the macro must
report, the network, the heap, the data folder) is written to the board as
``board_cfg.py``, a module of plain assignments that ``firmware/board.py`` imports.  What
only the host needs (mpy-cross ``-march``, how many MNIST images to copy) stays here.

``firmware/board_cfg.py`` in the source tree is the ``soc`` template rendered by this
module (``--check`` in `make test` keeps it so): the file a real SoC board gets, and the
one the firmware's own tests import.  The keys are defined once, in ``ON_BOARD``; the
firmware reads them as ``cfg.<KEY>`` (tests/test_flash.py checks it reads no other).
Docs: docs/board.md.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from dataclasses import dataclass

from . import regs
from .paths import FIRMWARE, ROOT

CFG_MODULE = "board_cfg"                       # the module name on the board
TEMPLATE = FIRMWARE / (CFG_MODULE + ".py")
NET_OF_PRESET = {"default": "lenet5", "seed-chip": "seedcnn"}
BACKENDS = {"mmio": "uctypes loads and stores at BASE (hal_mmio.py): the SoC",
            "ring": "the bridge window's request ring at BASE (hal_ring.py): the virtual board"}

# The firmware-side keys, in the order board_cfg.py lists them: (key, meaning).
ON_BOARD = (
    ("NAME", "board configuration name (python -m cimtrain.boards lists them)"),
    ("BACKEND", "HAL transport: " + "; ".join(f"{k}: {v}" for k, v in BACKENDS.items())),
    ("BASE", "SoC address of the macro's register window"),
    ("PRESET", "macro preset the firmware is built for; the macro's HWCFG must match "
               "TILES, ROWS, COLS"),
    ("TILES", "tiles the macro must report (HWCFG)"),
    ("ROWS", "rows per tile the macro must report (HWCFG)"),
    ("COLS", "columns per tile the macro must report (HWCFG)"),
    ("NET", "network main.py trains (lenet5 needs the default preset, seedcnn seed-chip)"),
    ("HEAP", "bytes of MicroPython heap the board gives the firmware (the virtual board "
             "starts its interpreter with it; make flash checks a board against it)"),
    ("DATA", "folder on the board of the MNIST subset (train.bin, test.bin)"),
)

# Bytes of heap the training needs at most (RESULT heap_max, measured with
# `python -m cimtrain.sizes`, docs/size.md), per network and accumulator width; make
# flash refuses a board configuration whose HEAP is smaller.
HEAP_NEED = {("lenet5", 16): 228 * 1024, ("lenet5", 8): 185 * 1024,
             ("seedcnn", 16): 121 * 1024, ("seedcnn", 8): 118 * 1024}


@dataclass(frozen=True)
class Board:
    name: str
    about: str
    backend: str
    preset: str
    heap: int
    base: int = regs.BASE_ADDRESS
    data: str = "data"
    # mpy-cross -march of the viper modules: "auto" reads the board's architecture from
    # sys.implementation._mpy (a port without native code gets none); None: none
    march: str | None = "auto"
    # MNIST subset copied by make flash: (training images, test images).  256 + 64 images
    # are 245 KiB: with the ~40 KiB of .mpy that fits the smallest common board
    # filesystem (a Raspberry Pi Pico's, about 1.4 MB) with room to spare, and is more
    # than a board trains in a session (docs/board.md, docs/size.md).
    images: tuple[int, int] = (256, 64)
    virtual: bool = False

    @property
    def net(self) -> str:
        return NET_OF_PRESET[self.preset]

    def values(self) -> dict[str, object]:
        """The ON_BOARD values, by key."""
        p = regs.PRESETS[self.preset]
        return {"NAME": self.name, "BACKEND": self.backend, "BASE": self.base,
                "PRESET": self.preset, "TILES": p["NTILES"], "ROWS": p["ROWS"],
                "COLS": p["COLS"], "NET": self.net, "HEAP": self.heap, "DATA": self.data}


BOARDS = {b.name: b for b in (
    Board("virtual", "the virtual board of make board: the MicroPython unix port behind a "
          "PTY, the macro served by the model (or the RTL)", backend="ring",
          preset="default", heap=256 * 1024, virtual=True),
    Board("virtual-seed", "the virtual board with the seed-chip macro (4 tiles of 64 x 64) "
          "and the smaller CNN: fast, for tests and a first try", backend="ring",
          # 160 KiB: its modules load into the heap (no frozen code), and with checkpoint
          # and stuck-cell support 128 KiB no longer held code and training together
          preset="seed-chip", heap=160 * 1024, virtual=True),
    Board("soc", "TEMPLATE for a real SoC board: the macro memory-mapped at the spec's "
          "base address. Copy this entry, set BASE to your SoC's address map, HEAP to your "
          "port's heap, PRESET to the macro your chip or FPGA carries", backend="mmio",
          preset="default", heap=256 * 1024),
)}


def get(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise SystemExit(f"no board configuration {name!r}; known: "
                         f"{', '.join(BOARDS)} (host_tools/cimtrain/boards.py)") from None


def render(board: Board) -> str:
    """The text of board_cfg.py for ``board``."""
    vals = board.values()
    for key, _ in ON_BOARD:
        assert key in vals, key
    assert set(vals) == {k for k, _ in ON_BOARD}
    if board.backend not in BACKENDS:
        raise ValueError(f"board {board.name}: backend {board.backend!r}, expected one of "
                         f"{', '.join(BACKENDS)}")
    def comment(text: str) -> list[str]:
        return ["# " + ln for ln in textwrap.wrap(text, 86)]

    lines = [*comment(f"Board configuration {board.name!r}: {board.about}."),
             *comment("Written by make flash from host_tools/cimtrain/boards.py (the one "
                      "source of these keys and values; docs/board.md); firmware/board.py "
                      "reads it.  Integers and strings only."), ""]
    for key, meaning in ON_BOARD:
        v = vals[key]
        lines += comment(meaning)
        lines.append(f"{key} = " + (f"0x{v:08X}" if key == "BASE" else repr(v)))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cimtrain.boards",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help=f"exit 1 if {TEMPLATE.relative_to(ROOT)} is not the soc template")
    ap.add_argument("--write", action="store_true",
                    help=f"rewrite {TEMPLATE.relative_to(ROOT)} from the soc template")
    a = ap.parse_args(argv)
    want = render(BOARDS["soc"])
    if a.check:
        if not TEMPLATE.exists() or TEMPLATE.read_text() != want:
            print(f"boards: {TEMPLATE.relative_to(ROOT)} is stale; run make regs",
                  file=sys.stderr)
            return 1
        return 0
    if a.write:
        TEMPLATE.write_text(want)
        print(f"boards: wrote {TEMPLATE.relative_to(ROOT)}")
        return 0
    for b in BOARDS.values():
        v = b.values()
        print(f"{b.name:<13} {b.backend:<5} base 0x{b.base:08X} preset {b.preset:<9} "
              f"net {v['NET']:<8} heap {b.heap // 1024} KiB  {b.images[0]}+{b.images[1]} "
              f"images  march {b.march}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
