"""Training studies: named sweeps of the trainer over options and seeds, as a table and a
figure (mean and spread over seeds), run as Dask tasks (sweep.py).

    make study STUDY=writes                       # 3 seeds, full MNIST, 1 epoch
    make study STUDY=lr EPOCHS=3 SEEDS=1,2,3 STUDY_ARGS="--scheduler tcp://host:8786"
    python -m cimtrain.trainer.study --list

Each study writes results/studies/<name>/ (rows.json: every run; table.md; <name>.png);
``--docs`` also writes docs/studies/<name>.md and .png, which docs/results.md links.
Options a study does not vary are the firmware's defaults, overridden by ``ARGS``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
import time
from pathlib import Path

from .. import regs
from ..paths import ROOT
from ..progress import Progress
from . import sweep
from .cli import env_int
from .options import STUCK_UNIT, OptionError

# study name -> (what it asks, [(label, options, spec fields), ...])
Variant = tuple[str, dict, dict]


def _variants(name: str) -> tuple[str, list[Variant]]:
    v: list[Variant]
    if name == "writes":
        v = [(f"n_min={m}", {"n_min": m}, {}) for m in (1, 2, 4, 6, 8)]
        return "write threshold: program a weight once n_min pulses are due", v
    if name == "early":
        v = [(f"lr={lr} batch={b}", {"lr": str(lr), "batch": b}, {})
             for lr in (-10, -11, -12, -13) for b in (2, 8)]
        return ("learning fast early (make cosim's few hundred images): learning rate "
                "and batch"), v
    if name == "lr":
        v = [(f"lr={lr}", {"lr": str(lr)}, {}) for lr in (-10, -11, -12, -13, -14)]
        return ("learning-rate shift: the step is x * err >> (lr + block exponent + ADC shift), "
                "so each -1 doubles it"), v
    if name == "schedule":
        v = [(f"lr_step={s}", {"lr_step": s}, {}) for s in (0, 1, 2)]
        return "learning-rate decay: one more shift (half the step) every lr_step epochs", v
    if name == "open":
        v = [(f"eps={e} n_max={n}", {"eps": e, "n_max": n}, {})
             for e, n in ((5, 8), (10, 6), (10, 8), (10, 16), (20, 8))]
        return "open-loop pulse size eps (codes a pulse is taken to move) and pulse cap", v
    if name == "batch":
        v = [(f"batch={b}", {"batch": b}, {}) for b in (1, 4, 8, 16, 32)]
        return "images per threshold scan", v
    if name == "acc":
        v = [(f"acc_bits={b}", {"acc_bits": b}, {}) for b in (16, 8)]
        # without an accumulator an update below the threshold is lost, so the smallest
        # threshold (one pulse, n_min=1) is the fair comparison
        v += [("no accumulator, n_min=1", {"residue": 0, "n_min": 1}, {}),
              ("no accumulator, n_min=1, batch=1", {"residue": 0, "n_min": 1, "batch": 1}, {})]
        return ("the digital accumulator: its width (saturating), and none at all (what a "
                "scan does not program is dropped)"), v
    if name == "wv":
        v = [(f"thr={t} tol={tol}", {"mode": "wv", "thr": t, "wv_tol": tol}, {})
             for t, tol in ((26, 13), (51, 26), (51, 13), (102, 26))]
        return "write-verify (the source chip's update): threshold and tolerance", v
    if name == "noise":
        v = [("chip noise", {}, {}), ("no read noise", {"noise_read": 0}, {}),
             ("no ADC noise", {"noise_adc": 0}, {}), ("no pulse noise", {"noise_pulse": 0}, {}),
             ("no noise", {"noise": 0}, {})]
        return "noise ablation: each noise source of the macro off in turn", v
    if name == "stuck":
        v = [(f"{pct}% stuck" + ("" if chk else ", not looked for"),
              {"stuck_rate": round(pct * STUCK_UNIT / 100), "stuck_check": chk}, {})
             for pct, chk in ((0, 1), (1, 1), (5, 1), (1, 0), (5, 0))]
        return ("stuck cells (STUCK_RATE), trained from the start on such a chip: found by "
                "write-verify and their weights retired (stuck_check=1), or not looked "
                "for"), v
    if name == "transfer":
        v = [("chip-trained -> fresh chip", {}, {"transfer_seed": 1000}),
             ("fp32-trained -> chip", {}, {"transfer_seed": 1000, "fp32": True})]
        return ("transfer: trained weights write-verified onto a fresh chip (another "
                "device-to-device draw), not retrained"), v
    if name in ("cosim", "cosim-long"):
        # make cosim's short runs (n_min=1, COSIM_OPTIONS): how to spend the images its
        # ten minutes allow; several passes halve the step each pass (lr_step=1); conv1
        # kept at its initial weights (freeze=1) saves conv2's transposed VMMs
        fast = {"freeze": 1, "lr": "-12"}
        runs = ((250, 1, 8, {}), (500, 1, 4, {}), (225, 2, 4, {}), (250, 3, 4, {}),
                (400, 2, 4, {}), (300, 1, 4, {"lr": "-12"}), (400, 1, 4, {"freeze": 1}),
                (200, 1, 4, fast), (250, 1, 4, fast), (300, 1, 4, fast), (350, 1, 4, fast))
        n_test = 80
        if name == "cosim-long":
            runs = ((1200, 1, 8, {}), (1200, 1, 4, {}), (600, 2, 4, {}), (1000, 3, 4, {}),
                    (1500, 2, 4, {}), (1500, 2, 4, {"lr": "-12"}), (1500, 2, 4, fast))
            n_test = 200

        def label(n, e, b, o):
            return (f"{n} images x {e}, batch {b}" + (", conv1 frozen" if o.get("freeze")
                                                      else "")
                    + (f", lr {o['lr']}" if "lr" in o else ""))
        v = [(label(n, e, b, o), {"n_train": n, "epochs": e, "batch": b, "n_min": 1,
                                  "n_test": n_test, **o}, {})
             for n, e, b, o in runs]
        return ("make cosim's few hundred (cosim: Icarus) or thousand (cosim-long: "
                f"Verilator) images: one pass or several, batch, conv1 frozen or not; "
                f"n_min=1, {n_test} test images"), v
    if name == "chip":
        # the trainer's chip variants (options.HOST_ONLY): the ADC over the same full
        # scale with fewer levels, the device-to-device sigmas scaled
        v = [("the chip (8-bit ADC, d2d 100%)", {}, {})]
        v += [(f"adc_bits={b}", {"adc_bits": b}, {}) for b in (7, 6, 5, 4, 3, 2)]
        v += [(f"d2d_pct={d}" + (" (identical devices)" if d == 0 else ""), {"d2d_pct": d},
               {}) for d in (0, 200, 400)]
        return ("the chip's ADC bits (same full scale, 2**k levels) and device-to-device "
                "spread (D2D_*_SIGMA, percent of the preset's)"), v
    if name == "noise-scale":
        # the firmware's noise_* options (the NOISE_*_SIGMA registers) at 2x and 4x the
        # chip's: how much more read noise, programming error, ADC noise the training bears
        v = [("chip noise", {}, {})]
        for key, reg, what, unit in (("noise_read", "NOISE_READ_SIGMA", "read noise", "codes"),
                                     ("noise_pulse", "NOISE_PULSE_SIGMA", "pulse noise",
                                      "codes"),
                                     ("noise_adc", "NOISE_ADC_SIGMA", "ADC noise", "LSB")):
            for m in (2, 4):
                sig = m * regs.RESET[reg]
                v.append((f"{what} x{m} ({sig / 256:.1f} {unit})", {key: sig}, {}))
        return ("each noise source of the macro at 2x and 4x the chip's sigma (read, pulse, "
                "ADC)"), v
    if name in ("update", "update-early"):
        # update rules of the firmware (update.py): Adam-like per-layer shifts (lr_adapt=t:
        # each layer's largest step of an image kept in [2**(t-2), 2**(t-1)) pulses) and
        # stochastic rounding of pulse counts (sr=1); update-early at make cosim's scale
        # (its Icarus options: 250 images, n_min=1, batch 4, conv1 frozen, lr=-12)
        start = "-13" if name == "update-early" else "-12"  # twice the base lr's step
        rules = (("baseline", {}), ("lr_adapt=1", {"lr_adapt": 1}),
                 ("lr_adapt=2", {"lr_adapt": 2}), ("lr_adapt=3", {"lr_adapt": 3}),
                 (f"lr_adapt=2 lr={start}", {"lr_adapt": 2, "lr": start}),
                 ("sr=1", {"sr": 1}), ("lr_adapt=2 sr=1", {"lr_adapt": 2, "sr": 1}))
        # (the test images are the command's: N_TEST=80 is make cosim's measure)
        early = {"n_train": 250, "epochs": 1, "n_min": 1, "batch": 4, "freeze": 1,
                 "lr": "-12"} if name == "update-early" else {}
        v = [(label, {**early, **o}, {}) for label, o in rules]
        return ("update rules for integer firmware: Adam-like per-layer shifts (lr_adapt), "
                "stochastic rounding of pulse counts (sr)"
                + (" at make cosim's scale (250 images, n_min=1 batch=4 freeze=1 lr=-12)"
                   if early else "")), v
    if name == "warmup":
        # the learning-rate warm-up (train.warm_extra: warm_shift more shifts at the first
        # image, down linearly to none after warmup images) at the default rate and at
        # the twice and four times larger ones it might make safe
        v = []
        for lr in (-11, -12, -13):
            for w, ws in ((0, 2), (1000, 2), (3000, 2), (3000, 4)):
                o = {"lr": str(lr)} | ({"warmup": w, "warm_shift": ws} if w else {})
                v.append((f"lr={lr}" + (f" warmup={w} warm_shift={ws}" if w else ""), o, {}))
        return ("learning-rate warm-up: the shift starts warm_shift higher and comes down "
                "linearly over warmup images"), v
    if name == "adc-range":
        # the ADC range policies: the forward calibration's target (a layer's largest code,
        # of 127) and its repetition during training (recal), the backward autorange band
        # (finer below brange_lo), each on the chip's 8-bit ADC and on 6- and 5-bit ones
        # (trainer-only adc_bits: where the chip study lost points or whole runs)
        policies = (("default policy", {}), ("brange_lo=32", {"brange_lo": 32}),
                    ("brange_lo=96", {"brange_lo": 96}), ("cal_target=64", {"cal_target": 64}),
                    ("cal_target=120", {"cal_target": 120}), ("recal=1000", {"recal": 1000}),
                    ("recal=1000 cal_target=120", {"recal": 1000, "cal_target": 120}))
        v = [(f"{b}-bit ADC, {label}", {**o, "adc_bits": b}, {})
             for b in (8, 6, 5) for label, o in policies]
        return ("ADC range policies: forward calibration target and re-calibration, "
                "backward autorange band; on 8-, 6- and 5-bit ADCs"), v
    if name == "adc-recal":
        # how often the re-calibration must run on a 5-bit ADC (adc-range's finding)
        v = [("5-bit ADC, calibrated once", {"adc_bits": 5}, {})]
        v += [(f"5-bit ADC, recal={r} cal_target={c}",
               {"adc_bits": 5, "recal": r, "cal_target": c}, {})
              for r in (250, 1000, 4000) for c in (96, 120)]
        return ("how often to re-calibrate the forward ADC shifts on a 5-bit ADC (recal "
                "images), to the default target or to 120"), v
    raise OptionError(f"unknown study {name!r}; studies: {' '.join(STUDIES)}")


STUDIES = ("writes", "early", "lr", "schedule", "open", "batch", "acc", "wv", "noise",
           "stuck", "transfer", "cosim", "cosim-long", "chip", "noise-scale", "update",
           "update-early", "warmup", "adc-range", "adc-recal")


def specs(name: str, seeds: list[int], base: dict, preset: str) -> list[dict]:
    _, variants = _variants(name)
    out = []
    for label, o, extra in variants:
        for s in seeds:
            ts = extra.get("transfer_seed")
            out.append(sweep.run_spec(preset, {**base, **o, "seed": s}, label=label,
                                      stuck_rate=extra.get("stuck_rate", 0),
                                      transfer_seed=None if ts is None else ts + s,
                                      fp32=extra.get("fp32", False)))
    return out


def table(groups: list[dict]) -> str:
    has_t = any("transfer_lost_mean" in g for g in groups)
    head = ("| variant | runs | test accuracy % mean (min-max) | writes/weight mean | "
            "writes/weight max |" + (" transfer: points lost mean (max) |" if has_t else ""))
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for g in groups:
        if "acc_mean" not in g:
            lines.append(f"| {g['key']} | {g['runs']} (all failed) |" + " |" * 4)
            continue
        row = (f"| {g['key']} | {g['runs'] - g['failed']}"
               + (f" ({g['failed']} failed)" if g["failed"] else "")
               + f" | {100 * g['acc_mean']:.2f} ({100 * g['acc_min']:.2f}-"
               f"{100 * g['acc_max']:.2f}) | {g['writes_mean']:.1f} | {g['writes_max']} |")
        if has_t:
            row += (f" {100 * g['transfer_lost_mean']:.2f} ({100 * g['transfer_lost_max']:.2f}) |"
                    if "transfer_lost_mean" in g else " - |")
        lines.append(row)
    return "\n".join(lines) + "\n"


def figure(name: str, question: str, rows: list[dict], groups: list[dict], out: Path) -> Path:
    """Accuracy (each seed a dot, the mean a bar) and mean writes per weight per variant,
    one row a variant (horizontal: the labels are option lists, read left to right)."""
    from .report import _plt
    plt = _plt()
    n = len(groups)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 1.4 + 0.3 * n), dpi=110, sharey=True,
                                 gridspec_kw={"width_ratios": (3, 2)})
    for i, g in enumerate(groups):
        pts = [100 * r["test_accuracy"] for r in rows
               if r["spec"]["label"] == g["key"] and "error" not in r]
        if pts:
            ax.barh(i, sum(pts) / len(pts), color="C0", alpha=0.35)
            ax.plot(pts, [i] * len(pts), "o", color="C0", ms=4)
            bx.barh(i, g["writes_mean"], color="C1", alpha=0.6)
        lost = [100 * (r["test_accuracy"] - r["transfer"]["test_accuracy"]) for r in rows
                if r["spec"]["label"] == g["key"] and "transfer" in r]
        if lost:
            ax.plot([p - d for p, d in zip(pts, lost)], [i] * len(lost), "x", color="C3",
                    ms=6, label="after transfer" if i == 0 else None)
    ax.set_yticks(range(n), [g["key"] for g in groups], fontsize=8)
    ax.invert_yaxis()  # the study's first variant on top
    for a in (ax, bx):
        a.grid(axis="x", alpha=0.3)
    accs = [100 * r["test_accuracy"] for r in rows if "error" not in r]
    accs += [100 * r["transfer"]["test_accuracy"] for r in rows if "transfer" in r]
    lo = min(accs, default=0)
    ax.set_xlim(max(0, lo - 2), 100)
    ax.set_xlabel("test accuracy, % (dots: seeds)")
    bx.set_xlabel("device writes per weight, mean")
    if any("transfer" in r for r in rows):
        ax.legend(fontsize=8)
    fig.suptitle(f"study {name}: {question}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line; the defaults come from the environment as for ``make train``
    (STUDY, SEEDS, PRESET, N_TRAIN, N_TEST, EPOCHS, ARGS)."""
    e = os.environ.get
    ap = argparse.ArgumentParser(prog="python -m cimtrain.trainer.study",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("study", nargs="?", default=e("STUDY") or None,
                    help=f"one of: {', '.join(STUDIES)}")
    ap.add_argument("--list", action="store_true", help="list the studies and exit")
    ap.add_argument("--seeds", default=e("SEEDS", "1,2,3"),
                    help="comma-separated seeds (default 1,2,3)")
    ap.add_argument("--preset", default=e("PRESET", "default"),
                    choices=sorted(sweep.opt.NET_OF_PRESET))
    ap.add_argument("--n-train", type=int, default=env_int("N_TRAIN", 60000))
    ap.add_argument("--n-test", type=int, default=env_int("N_TEST", 10000))
    ap.add_argument("--epochs", type=int, default=env_int("EPOCHS", 1))
    ap.add_argument("--scheduler", default="",
                    help="address of an existing Dask scheduler (default: a local cluster)")
    ap.add_argument("--workers", type=int, default=0,
                    help="local cluster workers (default: this machine's cores)")
    ap.add_argument("--out", default=str(ROOT / "results" / "studies"))
    ap.add_argument("--render", metavar="ROWS_JSON",
                    help="only draw the table and figure (and --docs) of a finished study")
    ap.add_argument("--docs", action="store_true",
                    help="also write docs/studies/<study>.md and .png")
    ap.add_argument("args", nargs="*", metavar="KEY=VALUE",
                    help="firmware options for every run (as make train's ARGS)")
    a = ap.parse_args(argv)
    a.args = e("ARGS", "").split() + a.args
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    # SIGTERM ends a study like Ctrl-C: the local cluster's workers are closed with it
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    if a.render:
        meta = json.loads(Path(a.render).read_text())
        print(render(meta, Path(a.render).parent, a.docs), end="")
        return 0
    if a.list or not a.study:
        for s in STUDIES:
            print(f"{s:9s} {_variants(s)[0]}")
        if not a.list:
            print("study: name one of these (make study STUDY=<name>)", file=sys.stderr)
        return 0 if a.list else 2
    try:
        seeds = [int(s) for s in a.seeds.split(",") if s]
        base = {"n_train": a.n_train, "n_test": a.n_test, "epochs": a.epochs}
        for kv in a.args:
            k, sep, v = kv.partition("=")
            if not sep:
                raise OptionError(f"{kv!r} is not key=value")
            base[k] = v
        question, _ = _variants(a.study)
        todo = specs(a.study, seeds, base, a.preset)
    except (OptionError, ValueError) as e:
        print(f"study: {e}", file=sys.stderr)
        return 2
    print(f"study {a.study}: {question}; {len(todo)} runs ({len(seeds)} seeds) of "
          f"{a.n_train} images x {a.epochs} epoch(s), {a.n_test} test images, on "
          f"{a.scheduler or 'a local Dask cluster'}", flush=True)
    t0 = time.perf_counter()
    prog = Progress(len(todo), f"study {a.study}", unit="run", units="runs")

    def on_row(r: dict, done: int, total: int) -> None:
        s = r["spec"]
        what = (f"error: {r['error']}" if "error" in r else
                f"{100 * r['test_accuracy']:.2f}%, {r['writes_per_weight_mean']:.1f} writes")
        prog.write(f"[{done}/{total}] {s['label']} seed {s['options'].get('seed')}: {what}")
        prog.update(1)

    try:
        rows = sweep.sweep(todo, a.scheduler or None, a.workers or None, on_row)
    except KeyboardInterrupt:
        prog.close()
        print("\nstudy: interrupted; nothing written", file=sys.stderr)
        return 130
    prog.close()
    cmd = ("make study STUDY=" + a.study
           + (f" SEEDS={a.seeds}" if a.seeds != "1,2,3" else "")
           + (f" EPOCHS={a.epochs}" if a.epochs != 1 else "")
           + (f" N_TRAIN={a.n_train}" if a.n_train != 60000 else "")
           + (f" N_TEST={a.n_test}" if a.n_test != 10000 else "")
           + (f" PRESET={a.preset}" if a.preset != "default" else "")
           + (f' ARGS="{" ".join(a.args)}"' if a.args else ""))
    meta = {"study": a.study, "question": question, "command": cmd,
            "date": dt.datetime.now().isoformat(timespec="seconds"),
            "wall_s": time.perf_counter() - t0, "seeds": seeds, "preset": a.preset,
            "n_train": a.n_train, "n_test": a.n_test, "epochs": a.epochs,
            "groups": sweep.summarize(rows, key=lambda s: s["label"]), "rows": rows}
    d = Path(a.out) / a.study
    d.mkdir(parents=True, exist_ok=True)
    (d / "rows.json").write_text(json.dumps(meta, indent=1, default=str) + "\n")
    tab = render(meta, d, a.docs)
    print(tab + f"study {a.study}: {len(rows)} runs in {meta['wall_s']:.0f} s; results in {d}")
    failed = [r for r in rows if "error" in r]
    for r in failed:
        print(f"study: run {r['spec']['label']} seed {r['spec']['options'].get('seed')} "
              f"failed: {r['error']}", file=sys.stderr)
    return 1 if failed else 0


def render(meta: dict, d: Path, docs: bool) -> str:
    """table.md and <study>.png in d from a study's rows.json content; with ``docs`` also
    docs/studies/<study>.md and .png.  Returns the table."""
    name, groups, rows = meta["study"], meta["groups"], meta["rows"]
    tab = table(groups)
    (d / "table.md").write_text(tab)
    png = figure(name, meta["question"], rows, groups, d / f"{name}.png")
    if docs:
        dd = ROOT / "docs" / "studies"
        dd.mkdir(parents=True, exist_ok=True)
        (dd / png.name).write_bytes(png.read_bytes())
        net = {"lenet5": "LeNet-5", "seedcnn": "the seed-chip CNN"}[
            sweep.opt.NET_OF_PRESET[meta["preset"]]]
        # a study whose variants set the run's length (cosim) says so instead
        varied = any(r["spec"]["options"].get(k, meta[k]) != meta[k]
                     for r in rows for k in ("n_train", "epochs", "n_test"))
        length = ("training images, epochs and test images as each variant names" if varied
                  else f"{meta['n_train']} training images x {meta['epochs']} epoch(s), "
                       f"tested on {meta['n_test']} images")
        (dd / f"{name}.md").write_text(
            f"# Study `{name}`: {meta['question']}\n\n`{meta['command']}`\n\n"
            f"{meta['date'][:10]}: seeds {', '.join(map(str, meta['seeds']))}; "
            f"{length}; {net} on preset {meta['preset']}; every option not "
            f"named is the firmware's default; {meta['wall_s'] / 60:.1f} min on this "
            f"machine.\n\n{tab}\n![{name}]({png.name})\n")
    return tab


if __name__ == "__main__":
    sys.exit(main())
