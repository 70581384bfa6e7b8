"""The ``cimtrain`` command: one entry point for the everyday tools.

    cimtrain cosim [--backend model] [KEY=VALUE ...]   # make cosim
    cimtrain train [--epochs 1] [KEY=VALUE ...]        # make train
    cimtrain report RUN [RUN ...]                       # runs' learning curves on one figure
    cimtrain bench [--docs]                             # make bench
    cimtrain study writes                               # make study STUDY=writes
    cimtrain pack --split train --count 1000            # MNIST pack for the firmware
    cimtrain board [--board virtual-seed]               # make board: a virtual board
    cimtrain flash --port /dev/ttyACM0 [--board NAME]   # make flash PORT=...
    cimtrain firmware                                   # compile the firmware (mpy-cross)

``cimtrain CMD --help`` shows a command's options; ``python -m cimtrain CMD`` is the same.
Each command is its module's ``main`` (the table below), so the Makefile's ``python -m``
targets and this command cannot drift apart.
"""

from __future__ import annotations

import importlib
import sys

# command -> (module, arguments put before the user's, one line of help)
COMMANDS = {
    "cosim": ("cimtrain.cosim_main", [], "training through firmware, bridge and RTL (or model)"),
    "train": ("cimtrain.trainer.cli", [], "the vectorized bit-exact trainer on full MNIST"),
    "report": ("cimtrain.report", [], "learning curves of several runs on one figure"),
    "bench": ("cimtrain.bench", [], "benchmarks -> results/ (--docs: also docs/)"),
    "study": ("cimtrain.trainer.study", [], "a training study over seeds on Dask"),
    "pack": ("cimtrain.dataset", ["pack"], "pack MNIST images for the firmware"),
    "dataset": ("cimtrain.dataset", [], "check, pack or inspect MNIST packs"),
    "firmware": ("cimtrain.fwbuild", [], "compile the firmware with mpy-cross"),
    "board": ("cimtrain.vboard", [], "a virtual board (MicroPython behind a PTY) to flash"),
    "flash": ("cimtrain.flash", [], "compile and copy the firmware to a board (--port)"),
    "sizes": ("cimtrain.sizes", [], "the firmware's size and heap report"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    return ("usage: cimtrain COMMAND [ARGS...]\n\ncommands:\n"
            + "\n".join(f"  {k:<{width}}  {h}" for k, (_, _, h) in COMMANDS.items())
            + "\n\n`cimtrain COMMAND --help` for a command's options.")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        print(f"cimtrain: unknown command {cmd!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, pre, _ = COMMANDS[cmd]
    sys.argv[0] = f"cimtrain {cmd}"
    return importlib.import_module(module).main([*pre, *rest]) or 0


if __name__ == "__main__":
    sys.exit(main())
