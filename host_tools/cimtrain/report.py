"""Several runs on one figure.

    python -m cimtrain.report results/latest results/<other run> [--out results/compare.png]
    cimtrain report RUN [RUN ...]

RUN is a run folder written by `make train` or `make cosim` (results/<date>-<time>-<name>/,
or results/latest), or its JSON (train.json, cosim.json).  Draws every run's learning
curve (accuracy against training images seen) with the trainer's plotting
(trainer/report.py) and prints the figure's path.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RUN_FILES = ("train.json", "cosim.json")


class RunError(ValueError):
    """A RUN argument that is not a run folder or a run's JSON."""


def load_run(arg: str | Path) -> dict:
    """The JSON of a run folder (or the JSON file itself), labelled with its folder name."""
    p = Path(arg)
    if p.is_dir():
        found = [p / f for f in RUN_FILES if (p / f).is_file()]
        if not found:
            raise RunError(f"{p}: no {' or '.join(RUN_FILES)} in this folder (not a run "
                           "folder of make train or make cosim)")
        p = found[0]
    try:
        run = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise RunError(f"{p}: {e}") from None
    if not isinstance(run, dict):
        raise RunError(f"{p}: not a run's JSON object")
    run.setdefault("label", p.resolve().parent.name)
    return run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cimtrain.report",
                                 description=__doc__.splitlines()[0],
                                 epilog="\n".join(__doc__.splitlines()[2:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", metavar="RUN", help="run folders or their JSON")
    ap.add_argument("--out", default="results/compare.png", help="the figure (PNG)")
    ap.add_argument("--title", default="", help="figure title")
    a = ap.parse_args(argv)
    try:
        runs = [load_run(r) for r in a.runs]
    except RunError as e:
        print(f"report: {e}", file=sys.stderr)
        return 2
    from .trainer.report import curve_png
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    print(curve_png(runs, out, a.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
