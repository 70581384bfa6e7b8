"""Progress with an ETA: a tqdm bar on a terminal, plain lines in logs (CI), and the
bars of `make cosim` drawn from the firmware's PROGRESS lines.

The firmware (firmware/train.py) prints, at most once per percent of each phase,

    PROGRESS <phase> <done> <total> [key=value ...]

phases init (rows write-verified), calib (layers calibrated), train (images over all
epochs; with epoch, k = images of this epoch, correct = of those, updates = weight updates
so far) and test (images).  ``FirmwareProgress`` turns them into one bar per phase and
keeps the training points as a learning curve; every other line is printed as it is.
"""

from __future__ import annotations

import sys
import time

PREFIX = "PROGRESS "
# phase -> (bar label, unit, units)
PHASES = {
    "init": ("init (write-verify)", "row", "rows"),
    "calib": ("calibration", "layer", "layers"),
    "train": ("train", "img", "images"),
    "test": ("test", "img", "images"),
}


class Progress:
    """A tqdm bar with ETA on a terminal; plain lines (every 10%) in logs."""

    def __init__(self, total: int, desc: str, unit: str = "img", units: str = "images",
                 tty: bool | None = None, initial: int = 0, leave: bool = True) -> None:
        """``initial``: units already done when the bar starts (not timed: rate and ETA
        come from the units done after).  ``leave=False``: the bar disappears when closed
        (one below another bar, e.g. make train's evaluation under its training bar)."""
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.total, self.n, self.n0, self.t0 = total, initial, initial, time.perf_counter()
        self.next = initial + max(total // 10, 1)
        self.desc, self.unit, self.units = desc, unit, units
        self.bar = None
        if self.tty:
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=desc, unit=unit, smoothing=0.1,
                            dynamic_ncols=True, initial=initial, leave=leave)

    def update(self, k: int, **post) -> None:
        self.n += k
        if self.bar is not None:
            self.bar.update(k)
            if post:
                self.bar.set_postfix(post, refresh=False)
        elif self.n >= self.next or self.n == self.total:
            dt_ = time.perf_counter() - self.t0
            rate = (self.n - self.n0) / dt_ if dt_ else 0.0
            eta = (self.total - self.n) / rate if rate else 0.0
            extra = "  ".join(f"{k_} {v}" for k_, v in post.items())
            digits = 0 if rate >= 10 else 2
            print(f"{self.desc}: {self.n}/{self.total} {self.units} "
                  f"({100 * self.n // max(self.total, 1)}%) {rate:.{digits}f} {self.unit}/s, "
                  f"ETA {eta:.0f} s  {extra}".rstrip(), flush=True)
            self.next = self.n + max(self.total // 10, 1)

    def to(self, n: int, **post) -> None:
        """Move to ``n`` units done (a count, not a step)."""
        self.update(n - self.n, **post)

    def write(self, msg: str) -> None:
        if self.bar is not None:
            self.bar.write(msg)
        else:
            print(msg, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def parse(line: str) -> tuple[str, int, int, dict[str, int]] | None:
    """(phase, done, total, extras) of a PROGRESS line; None for any other line.
    A malformed PROGRESS line raises ValueError naming it."""
    if not line.startswith(PREFIX):
        return None
    parts = line.split()
    try:
        phase, done, total = parts[1], int(parts[2]), int(parts[3])
        extras = {k: int(v) for k, v in (p.split("=", 1) for p in parts[4:])}
    except (IndexError, ValueError):
        raise ValueError(f"malformed firmware progress line {line!r} (expected "
                         "'PROGRESS <phase> <done> <total> [key=value ...]')") from None
    if phase not in PHASES or not 0 <= done <= total:
        raise ValueError(f"firmware progress line {line!r}: unknown phase or done > total")
    return phase, done, total, extras


class FirmwareProgress:
    """Feed every firmware output line to ``line()``: PROGRESS lines move the bar of
    their phase (a new bar per phase), other lines are printed (above the bar).
    ``curve`` collects the training points: images seen, running training accuracy of
    the epoch, weight updates so far."""

    def __init__(self, tty: bool | None = None) -> None:
        self.tty = tty
        self.phase: str | None = None
        self.bar: Progress | None = None
        self.curve: list[dict] = []

    def line(self, line: str) -> None:
        try:
            p = parse(line)
        except ValueError as e:
            self.write(f"cosim: {e}")
            return
        if p is None:
            self.write(line)
            return
        phase, done, total, ex = p
        if phase != self.phase or self.bar is None or self.bar.total != total:
            # the first line of a phase comes after its first step: the bar starts there
            self.close()
            desc, unit, units = PHASES[phase]
            self.phase = phase
            self.bar = Progress(total, desc, unit, units, self.tty, initial=done)
        post = {}
        if phase == "train" and ex.get("k"):
            acc = ex.get("correct", 0) / ex["k"]
            post = {"epoch": ex.get("epoch"), "train acc": f"{100 * acc:.1f}%",
                    "updates": ex.get("updates")}
            self.curve.append({"images_seen": done, "epoch": ex.get("epoch"),
                               "train_accuracy": acc, "weight_updates": ex.get("updates")})
        self.bar.to(done, **post)
        if done == total:
            self.close()

    def write(self, msg: str) -> None:
        if self.bar is not None:
            self.bar.write(msg)
        else:
            print(msg, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar = None
