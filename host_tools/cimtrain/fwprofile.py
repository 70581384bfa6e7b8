"""Where the time of a training image goes: `make cosim` with a timed copy of the firmware.

    python -m cimtrain.fwprofile --backend model --n-train 24 --n-test 16
    python -m cimtrain.fwprofile --backend rtl --n-train 24 --n-test 16   # Icarus
    python -m cimtrain.fwprofile --firmware DIR ...   # another firmware tree (before/after)

Copies firmware/ to a temporary directory, wraps a few functions with time.ticks_us
counters (the wait of every blocking bridge call in hal_ring's ``_complete``, each
layer's forward, the backward pass, the conv layers' backward, the threshold scan), runs
cosim_main on that copy (the same options; the results are unchanged: the timers do not
touch the bus), and prints per training image: wall time, time the firmware waited for
the server (bus round trips: the bridge and the simulator or model behind it), the
firmware's own time per section, and round trips.  The figures are this machine's at
this moment: compare runs side by side, not with figures from another day.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
import tempfile
from pathlib import Path

from . import cosim_main, fwbuild

PROF = '''import time
T = {}
W = [0, 0]
ON = [False]


def add(k, t0, w0):
    if ON[0]:
        T[k] = T.get(k, 0) + time.ticks_diff(time.ticks_us(), t0)
        T[k + ".wait"] = T.get(k + ".wait", 0) + W[0] - w0
'''


def _wrap(cls_indent: str, name: str, args: str, key: str) -> tuple[str, str]:
    """Rename method ``name`` to ``name``_t and put a timed ``name`` in front of it."""
    old = f"{cls_indent}def {name}({args}):"
    call = ", ".join(a.split("=")[0] for a in args.split(", ")[1:])
    new = (f"{old}\n{cls_indent}    import prof, time\n"
           f"{cls_indent}    t0, w0 = time.ticks_us(), prof.W[0]\n"
           f"{cls_indent}    r = self.{name}_t({call})\n"
           f"{cls_indent}    prof.add({key}, t0, w0)\n"
           f"{cls_indent}    return r\n\n"
           f"{cls_indent}def {name}_t({args}):")
    return old, new


PATCHES = {
    "hal_ring.py": [(
        "    def _complete(self, s):",
        "    def _complete(self, s):\n        import prof\n        t0 = time.ticks_us()\n"
        "        self._complete_t(s)\n        if prof.ON[0]:\n"
        "            prof.W[0] += time.ticks_diff(time.ticks_us(), t0)\n"
        "            prof.W[1] += 1\n\n    def _complete_t(self, s):")],
    "network.py": [
        _wrap("    ", "layer_forward", "self, L, x", "'forward %d' % self.layers.index(L)"),
        _wrap("    ", "backward", "self, err, lr_shifts", "'backward (all layers)'"),
        _wrap("    ", "_conv_backward", "self, L, li, err_pooled, lr_shift, e",
              "'  of which conv %d backward' % li")],
    "update.py": [_wrap("    ", "apply", "self, net", "'threshold scan and programming'")],
    "train.py": [
        ("    t_train = time.ticks_ms()",
         "    t_train = time.ticks_ms()\n    import prof\n    prof.ON[0] = True"),
        ("    ms_train = time.ticks_diff(time.ticks_ms(), t_train)",
         "    ms_train = time.ticks_diff(time.ticks_ms(), t_train)\n    prof.ON[0] = False\n"
         "    print('PROF ' + json.dumps({'T': prof.T, 'wait_us': prof.W[0], "
         "'n_wait': prof.W[1], 'train_ms': ms_train, 'images': seen}))")],
}


def instrument(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
    (dst / "prof.py").write_text(PROF)
    for name, subs in PATCHES.items():
        p = dst / name
        if name == "hal_ring.py" and not p.exists():
            p = dst / "hal.py"  # before the HAL was split by transport (commit 0c976f1)
        text = p.read_text()
        for old, new in subs:
            if text.count(old) != 1:
                raise SystemExit(f"fwprofile: cannot instrument {name}: {old.strip()!r} "
                                 "is not there once (the firmware changed: update PATCHES)")
            text = text.replace(old, new)
        p.write_text(text)


def report(prof: dict) -> list[str]:
    n = max(prof["images"], 1)
    total = prof["train_ms"] * 1000 / n
    wait = prof["wait_us"] / n
    rows = [("training image, wall", total, ""),
            ("  waiting for the server (bus round trips)", wait,
             f"{prof['n_wait'] / n:.0f} round trips"),
            ("  firmware", total - wait, "")]
    t = prof["T"]
    order = ("forward", "backward", "  of which", "threshold")
    for k in sorted((k for k in t if not k.endswith(".wait")),
                    key=lambda k: ([k.startswith(o) for o in order].index(True), k)):
        own = (t[k] - t.get(k + ".wait", 0)) / n
        rows.append((f"    {k}", own, f"+ {t.get(k + '.wait', 0) / n / 1000:.0f} ms waiting"))
    return [f"{name:<48} {us / 1000:8.1f} ms  {more}" for name, us, more in rows]


class _Tee(io.TextIOBase):
    def __init__(self, out):
        self.out, self.lines = out, []

    def write(self, s):
        self.lines.append(s)
        return self.out.write(s)

    def flush(self):
        self.out.flush()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    src = fwbuild.SRC
    if "--firmware" in argv:
        i = argv.index("--firmware")
        src = Path(argv[i + 1]).resolve()
        del argv[i:i + 2]
    if "--out" not in argv:
        argv += ["--out", str(fwbuild.ROOT / "results" / "fwprofile.json")]
    with tempfile.TemporaryDirectory(prefix="fwprofile-") as tmp:
        fw = Path(tmp) / "firmware"
        instrument(src, fw)
        build, old_src = fwbuild.build, fwbuild.SRC
        fwbuild.SRC = fw
        fwbuild.build = lambda *a, **k: build(out=Path(tmp) / "build")
        tee = _Tee(sys.stdout)
        try:
            with contextlib.redirect_stdout(tee):
                rc = cosim_main.main(argv)
        finally:
            fwbuild.build, fwbuild.SRC = build, old_src
    lines = "".join(tee.lines).splitlines()
    prof = [json.loads(x[5:]) for x in lines if x.startswith("PROF ")]
    if rc or not prof:
        print("fwprofile: the run failed or printed no profile", file=sys.stderr)
        return rc or 1
    print("\n==== where the time of a training image goes (per image) ====")
    print("\n".join(report(prof[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
