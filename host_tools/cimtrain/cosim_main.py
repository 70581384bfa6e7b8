"""`make cosim`: train a CNN on MNIST through firmware, bridge and RTL (or the model).

    make cosim                                   # LeNet-5 through the RTL in Icarus
    make cosim BACKEND=model N_TRAIN=2000        # the same firmware on the bit-exact model
    make cosim PRESET=seed-chip                  # 4 x 64 x 64 tiles and the smaller CNN
    python -m cimtrain.cosim_main --help         # every knob

Steps: pack the MNIST images the run needs (host_tools/cimtrain/dataset.py, verified
against the package's checksums), start the server (the RTL in Icarus/Verilator under
cocotb with the bit-exact model as a lockstep scoreboard, or the model alone), launch
firmware/train.py on the virtual board (MicroPython unix port, the window mapped at the
macro's base address), draw its progress (a bar with ETA per phase on a terminal, from
the firmware's PROGRESS lines: cimtrain/progress.py; plain lines in logs), and print and
save a summary.  Each run writes its own folder results/<date>-<time>-cosim-<backend>-
<net>-s<seed>/ (cosim.json with commit, date, command line, options and the learning
curve; accuracy.png, writes.png); results/latest points at the newest run folder and
results/cosim.json is a copy of the newest run's JSON.  Exit status non-zero on any
failure: a firmware error, a server error, a scoreboard mismatch, or a server that does
not come up.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import ckpt, dataset, fwbuild, knobs, regs
from .bridge import status as S
from .bridge.harness import unique_name
from .lifetime import child_env
from .paths import ROOT
from .progress import FirmwareProgress
from .runs import provenance, publish, run_dir
from .trainer.firmware_src import defaults

# Firmware options of make cosim's short runs, before the user's (which override them):
# the firmware's default write threshold (n_min=6) saves writes over full epochs but
# holds back the first few hundred images (docs/results.md, studies writes and early);
# a threshold scan every 4 images, not 8, learns faster in a few hundred (study cosim).
COSIM_OPTIONS = ("n_min=1", "batch=4", "freeze=1", "lr=-12")
# (training images per epoch, epochs, test images) per backend, chosen with the trainer
# (bit-exact with these runs; docs/results.md, studies cosim and cosim-long): the fewest
# images that learn on every seed of 1-5 (Icarus: 250, 46-66% over seeds 1-5, 53.75% on
# seed 1).  conv1 kept at its initial weights (freeze=1) with twice the step (lr=-12)
# learns faster early than training every layer, and it skips conv2's transposed VMMs,
# about half of an Icarus training image.  Where time allows, a few passes over a subset,
# the step halving each pass (lr_step=1), learn more and more surely than one pass over
# as many new images (Verilator).
DEFAULT_RUN = {("rtl", "icarus"): (250, 1, 80), ("rtl", "verilator"): (1500, 2, 200),
               "model": (2000, 1, 500)}
NET_OF_PRESET = {"default": "lenet5", "seed-chip": "seedcnn"}
# training images between checkpoints when CKPT is set: the firmware's default (100: about
# 1.5 minutes of LeNet-5 on Icarus at 0.8-1 s an image)
CKPT_EVERY = defaults()["ckpt_every"]


def env_int(name: str, default: int | None) -> int | None:
    return knobs.env_int("cosim", name, default)


def heap_bytes(v: str) -> int | None:
    """MicroPython's -X heapsize syntax: an integer with an optional K or M."""
    v = v.strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20}.get(v[-1:], 1)
    digits = v[:-1] if mult > 1 else v
    return int(digits) * mult if digits.isdigit() else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Every knob is checked here, before anything starts; an error names the knob (the
    make variable), the value and what is allowed."""
    ap = argparse.ArgumentParser(prog="python -m cimtrain.cosim_main",
                                 description=__doc__.splitlines()[0])
    e = os.environ.get
    choices = {"backend": ("BACKEND", ["rtl", "model"]), "sim": ("SIM", ["icarus", "verilator"]),
               "preset": ("PRESET", sorted(regs.PRESETS)), "mode": ("MODE", ["open", "wv"])}
    ap.add_argument("--backend", default=e("BACKEND", "rtl"), choices=choices["backend"][1])
    ap.add_argument("--sim", default=e("SIM", "icarus"), choices=choices["sim"][1])
    ap.add_argument("--preset", default=e("PRESET", "default"), choices=choices["preset"][1])
    ap.add_argument("--n-train", type=int, default=env_int("N_TRAIN", None),
                    help="training images per epoch (default: 500 icarus, 1500 verilator, "
                         "2000 model)")
    ap.add_argument("--n-test", type=int, default=env_int("N_TEST", None),
                    help="test images (default: 80 icarus, 200 verilator, 500 model)")
    ap.add_argument("--epochs", type=int, default=env_int("EPOCHS", None),
                    help="passes over the training images (default: 1 icarus, 2 verilator, "
                         "1 model)")
    ap.add_argument("--seed", type=int, default=env_int("SEED", 1))
    ap.add_argument("--mode", default=e("MODE", "open"), choices=choices["mode"][1])
    ap.add_argument("--heap", default=e("HEAP", "256K"),
                    help="MicroPython heap (default 256K: the firmware's memory budget)")
    ap.add_argument("--results", default=str(ROOT / "results"),
                    help="where run folders go (default results/)")
    ap.add_argument("--out", default=None,
                    help="the copy of the newest run's JSON (default RESULTS/cosim.json)")
    ap.add_argument("--name", default=e("NAME", ""),
                    help="run name (the run folder's suffix; default cosim-BACKEND-NET-sSEED)")
    ap.add_argument("--ckpt", default=e("CKPT", ""), metavar="DIR",
                    help="save a checkpoint (firmware state and chip image) into DIR every "
                         "CKPT_EVERY training images (docs/checkpoint.md)")
    ap.add_argument("--ckpt-every", type=int, default=env_int("CKPT_EVERY", None), metavar="N",
                    help=f"training images between checkpoints (default {CKPT_EVERY})")
    ap.add_argument("--resume", default=e("RESUME", ""), metavar="DIR",
                    help="continue from the newest checkpoint in DIR")
    ap.add_argument("--stuck", default=e("STUCK", ""), metavar="FRACTION",
                    help="fault injection: this fraction of the cells ignores pulses (e.g. "
                         "0.01; the STUCK_RATE register), with the firmware's stuck-cell "
                         "check on (stuck_check=1, docs/reliability.md)")
    ap.add_argument("--dead-cols", default=e("DEAD_COLS", ""), metavar="TILE:COL,...",
                    help="fault injection: these columns are dead, every cell of them "
                         "ignores pulses (e.g. 0:3,2:17; the DEAD_COLS registers), with the "
                         "stuck-cell check on (stuck_check=1)")
    ap.add_argument("fw_args", nargs="*", metavar="KEY=VALUE",
                    help="more firmware options (see DEFAULTS in firmware/train.py)")
    a = ap.parse_intermixed_args(argv)  # firmware KEY=VALUEs may sit between options
    knobs.check_choices(ap, a, choices)
    knobs.check_name(ap, "NAME", a.name)
    default = DEFAULT_RUN.get((a.backend, a.sim), DEFAULT_RUN["model"])
    if a.n_train is None:
        a.n_train = default[0]
    if a.epochs is None:
        a.epochs = default[1]
    if a.n_test is None:
        a.n_test = default[2]
    knobs.check_ranges(ap, (("N_TRAIN", a.n_train, 0, 60000), ("N_TEST", a.n_test, 1, 10000),
                            ("EPOCHS", a.epochs, 1, 1000), ("SEED", a.seed, 0, (1 << 32) - 1)))
    heap = heap_bytes(a.heap)
    net = NET_OF_PRESET[a.preset]
    if heap is None:
        ap.error(f"HEAP={a.heap!r}: a size like 256K or 2M")
    from .boards import HEAP_NEED
    need = HEAP_NEED.get((net, 16))
    if need and heap < need:
        ap.error(f"HEAP={a.heap}: {net} keeps up to {need >> 10} KiB live on the "
                 "MicroPython heap (docs/size.md); give at least that (default 256K)")
    if a.stuck.strip():
        a.fw_args = knobs.stuck_args(ap, a.stuck, a.fw_args)
    if a.dead_cols.strip():
        a.fw_args = knobs.dead_cols_args(ap, net, a.dead_cols, a.fw_args)
    fw = dict(x.split("=", 1) for x in (*COSIM_OPTIONS, *a.fw_args) if "=" in x)
    for k, knob in (("ckpt", "CKPT"), ("ckpt_every", "CKPT_EVERY"), ("resume", "RESUME")):
        if k in fw:
            ap.error(f"COSIM_ARGS: {k}=...: use {knob}=")
    a.fw_cfg = knobs.check_options(ap, "COSIM_ARGS", {"net": net, "n_train": a.n_train,
                                                      "n_test": a.n_test, "epochs": a.epochs,
                                                      "seed": a.seed, "mode": a.mode},
                                   (*COSIM_OPTIONS, *a.fw_args))
    check_ckpt_knobs(ap, a)
    return a


def check_ckpt_knobs(ap: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """CKPT, CKPT_EVERY, RESUME: paths and counts (the checkpoint itself is checked
    against the run in check_resume, once the data files are known)."""
    if a.ckpt_every is not None and a.ckpt_every < 1:
        ap.error(f"CKPT_EVERY={a.ckpt_every}: a positive integer (training images between "
                 "checkpoints)")
    if a.ckpt_every is not None and not (a.ckpt or a.resume):
        ap.error(f"CKPT_EVERY={a.ckpt_every} without CKPT=DIR: where should the checkpoints "
                 "go?")
    if a.resume:
        r = Path(a.resume)
        if not r.is_dir():
            ap.error(f"RESUME={a.resume}: no such folder (a CKPT folder of an earlier run)")
        if not a.ckpt:  # go on saving where the run saved
            a.ckpt = a.resume
    if a.ckpt:
        d = Path(a.ckpt)
        if d.exists() and not d.is_dir():
            ap.error(f"CKPT={a.ckpt}: exists and is not a folder")
        if d.is_dir() and not os.access(d, os.W_OK | os.X_OK):
            ap.error(f"CKPT={a.ckpt}: not writable")
        if not d.exists() and not (d.parent.is_dir() and os.access(d.parent, os.W_OK)):
            ap.error(f"CKPT={a.ckpt}: cannot be created ({d.parent} is not a writable "
                     "folder)")
        same = a.resume and d.resolve() == Path(a.resume).resolve()
        old = ckpt.saved(d)
        if old and not same:
            ap.error(f"CKPT={a.ckpt} already holds a checkpoint ({old[-1].name}): continue "
                     f"it with RESUME={a.ckpt}, or choose an empty folder (nothing saved is "
                     "overwritten)")


def check_resume(a: argparse.Namespace, train: Path, test: Path) -> tuple[Path, Path] | None:
    """The newest checkpoint of RESUME, verified and matched with this run (preset,
    options, seed, data, firmware version); SystemExit naming the first difference."""
    if not a.resume:
        return None
    try:
        state, chip, meta = ckpt.find(Path(a.resume))
        ckpt.check(meta, a.fw_cfg, ckpt.pack_id(train) + ckpt.pack_id(test), a.preset,
                   f"RESUME={a.resume}")
    except ckpt.CheckpointError as e:
        raise SystemExit(f"cosim: {e}; nothing was started") from None
    if a.ckpt_every is None:
        a.ckpt_every = meta.get("ckpt_every", CKPT_EVERY)
    print(f"cosim: resuming {state} ({meta['ints']['seen']} images trained)", flush=True)
    return state, chip


def data_files(n_train: int, n_test: int) -> tuple[Path, Path]:
    """Packed train/test files for the run (built once, reused while valid)."""
    return (dataset.ensure_pack("train", max(n_train, 1), "cosim"),
            dataset.ensure_pack("test", n_test, "cosim"))


def binom_tail(k: int, n: int, p: float = 0.1) -> float:
    """P(X >= k) for X ~ Binomial(n, p): the chance that guessing scores k of n."""
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1))


def chance_verdict(pv: float) -> str:
    """The summary's words for pv = binom_tail(correct, n_test)."""
    if pv < 1e-3:
        return "above chance (10%): p " + (f"= {pv:.1e}" if pv > 0 else "< 1e-300")
    return f"NOT clearly above chance (10%): p = {pv:.2g}"


class Server:
    """The RTL or model server as a subprocess: its state from its status file
    (bridge/status.py), its output echoed when it says something worth seeing."""

    def __init__(self, a: argparse.Namespace, window: str, chip: Path | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="cimcosim")
        self.status_path = Path(self._dir.name) / "status.json"
        mod = "cimtrain.cosim.rtl_server" if a.backend == "rtl" else "cimtrain.bridge.model_server"
        cmd = [sys.executable, "-m", mod, "--window", window, "--preset", a.preset,
               "--attach-timeout", "300", "--status", str(self.status_path)]
        if a.ckpt:
            cmd += ["--ckpt", str(Path(a.ckpt).resolve())]
        if chip is not None:
            cmd += ["--resume-image", str(chip.resolve())]
        env = child_env(dict(os.environ, SIM=a.sim))   # the server dies with this process
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1,
                                     start_new_session=True)
        self.lines: list[str] = []
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if any(w in line for w in ("ERROR", "MISMATCH", "rtl server:", "model server:",
                                       "FAIL", "Error")):
                print(f"  [server] {line}", flush=True)

    @property
    def status(self) -> dict:
        return S.read(self.status_path) or {}

    def wait_ready(self, timeout: float) -> bool:
        """True once the window takes a firmware; False if the server ended or failed, or
        ``timeout`` passed (the first run builds the simulation)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.status.get("state")
            if state == "ready":
                return True
            if state in ("done", "failed") or self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    @property
    def session(self) -> dict:
        """The last firmware session the server reported ({} if none ended)."""
        return (self.status.get("sessions") or [{}])[-1]

    def stop(self, timeout: float = 30.0) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGTERM)
            rc = self.proc.wait(10)
        self._t.join(5)
        return rc

    def close(self) -> None:
        self._dir.cleanup()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    # SIGTERM (a CI cancel, kill) and SIGHUP (a closed terminal) end the run as Ctrl-C
    # does: firmware and server are stopped, the window removed.  Without this the
    # launcher and the simulator ran on after cosim_main died.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    a = parse_args(argv)
    t0 = time.monotonic()
    net = NET_OF_PRESET[a.preset]
    train, test = data_files(a.n_train, a.n_test)
    resume = check_resume(a, train, test)
    if a.ckpt:
        Path(a.ckpt).mkdir(parents=True, exist_ok=True)
    window = unique_name("cosim")
    where = f"RTL in {a.sim}" if a.backend == "rtl" else "the bit-exact model"
    print(f"cosim: {net} on the {a.preset} macro, {where}; {a.n_train} training images x "
          f"{a.epochs} epoch(s), {a.n_test} test images, mode {a.mode}, seed {a.seed}",
          flush=True)
    srv = Server(a, window, resume[1] if resume else None)
    try:
        return run(a, srv, window, net, where, train, test, t0, resume[0] if resume else None)
    except KeyboardInterrupt:  # before the firmware started (run() handles it after)
        print("\ncosim: interrupted; stopping the server", file=sys.stderr)
        srv.stop(0)
        return 130
    finally:
        srv.close()


def run(a: argparse.Namespace, srv: Server, window: str, net: str, where: str, train: Path,
        test: Path, t0: float, resume: Path | None = None) -> int:
    if not srv.wait_ready(600):
        print("\n".join(srv.lines[-30:]), file=sys.stderr)
        err = srv.status.get("error")
        print("cosim: the server did not come up" + (f": {err}" if err else " (output above)"),
              file=sys.stderr)
        srv.stop(5)
        return 1
    fw_args = [f"net={net}", f"train={train}", f"test={test}", f"n_train={a.n_train}",
               f"n_test={a.n_test}", f"epochs={a.epochs}", f"seed={a.seed}",
               f"mode={a.mode}", *COSIM_OPTIONS, "digest=1", *a.fw_args]
    if a.ckpt:  # (digest=1: the result's state_digest)
        fw_args += [f"ckpt={Path(a.ckpt).resolve()}",
                    f"ckpt_every={a.ckpt_every if a.ckpt_every is not None else CKPT_EVERY}"]
    if resume is not None:
        fw_args.append(f"resume={resume.resolve()}")
    fw_dir = fwbuild.build()
    cmd = [sys.executable, "-m", "cimtrain.bridge.launch", "--window", window, "--wait", "60",
           "--heap", a.heap, "--firmware-dir", str(fw_dir), str(fw_dir / fwbuild.ENTRY),
           *fw_args]
    result = None
    prog = FirmwareProgress()
    fw = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, bufsize=1,
                          env=child_env())   # the firmware dies with this process
    try:
        for line in fw.stdout:
            line = line.rstrip("\n")
            if line.startswith("RESULT "):
                result = json.loads(line[7:])
            else:
                prog.line(line)
        prog.close()
        fw_rc = fw.wait()
    except KeyboardInterrupt:
        prog.close()
        print("\ncosim: interrupted; stopping firmware and server", file=sys.stderr)
        fw.send_signal(signal.SIGINT)
        fw.wait(10)
        srv.stop(10)
        say_checkpoint(a)
        return 130
    srv_rc = srv.stop(120)
    wall = time.monotonic() - t0
    st = srv.status
    if fw_rc != 0 or srv_rc != 0 or result is None or st.get("state") != "done":
        print(f"cosim: FAILED (firmware exit {fw_rc}, server exit {srv_rc}, server "
              f"{st.get('state', 'without status')}"
              + (f": {st['error']}" if st.get("error") else "") + ")", file=sys.stderr)
        for line in srv.lines[-15:]:
            print(f"  [server] {line}", file=sys.stderr)
        say_checkpoint(a)
        return 1
    sess = srv.session
    s = sess.get("stats", {})
    summary = {"backend": a.backend, "sim": a.sim if a.backend == "rtl" else None,
               "preset": a.preset, "wall_s": round(wall, 1), "server": s, **result,
               # one-sided binomial tail of the test score against 10% guessing
               "p_chance": binom_tail(result["test_correct"], result["n_test"])}
    n = max(result["weights"], 1)
    print("\n==== cimtrain cosim summary ====")
    rows = [
        ("backend", where),
        ("network", f"{net}, {result['weights']} weights, mode {result['mode']}, "
                    f"{result['acc_bits']}-bit accumulators"),
        ("images trained", f"{result['images_trained']} ({result['epochs']} epoch(s))"),
        ("test accuracy", f"{result['test_accuracy_x100'] / 100:.2f}% "
                          f"({result['test_correct']}/{result['n_test']}); "
                          + chance_verdict(summary["p_chance"])),
        ("bus transactions", f"{s.get('writes', '?')} writes, {s.get('reads', '?')} reads, "
                             f"{s.get('waits', '?')} waits ({s.get('requests', '?')} ring "
                             "requests)"),
        ("scoreboard", f"{s['responses_checked']} responses checked against the model, "
                       f"{sess['mismatches']} mismatches" if "responses_checked" in s
                       else "n/a (model backend)"),
        ("tile operations", f"{result['vmm_ops']} VMMs, {result['read_ops']} row reads, "
                            f"{result['pulse_ops']} pulse commands"),
        ("programming pulses", f"{result['pulses']} (cell pulses, init included)"),
        ("weights written", f"{result['weights_written']} of {result['weights']} in training "
                            f"({result['weight_updates']} updates)"),
        ("writes per weight", f"mean {result['weight_updates'] / n:.3f}, "
                              f"max {result['max_writes_per_weight']}"),
        ("stuck cells", f"{result.get('stuck_cells', 0)} found by write-verify, "
                        f"{result.get('retired_weights', 0)} weights retired (never pulsed "
                        "again)"),
        ("firmware heap", f"{result['heap_max'] / 1024:.0f} KiB live at most "
                          f"(MicroPython heap {a.heap})"),
        ("wall time", f"{wall:.1f} s: init {result['init_ms'] / 1000:.1f} s, calibration "
                      f"{result['calib_ms'] / 1000:.1f} s, training "
                      f"{result['train_ms'] / 1000:.1f} s "
                      f"({result['train_ms'] / max(result['images_trained'], 1):.0f} ms/image), "
                      f"test {result['test_ms'] / 1000:.1f} s"),
    ]
    for k, v in rows:
        print(f"  {k:<19} {v}")
    d = save_run(a, net, summary, prog.curve)
    copy = a.out or Path(a.results) / "cosim.json"
    print(f"  results in {d.relative_to(ROOT) if d.is_relative_to(ROOT) else d}/ "
          f"(cosim.json, accuracy.png, writes.png); a copy of cosim.json in {copy}")
    return 0


def say_checkpoint(a: argparse.Namespace) -> None:
    """After a failed or interrupted run: where its last checkpoint is, if any."""
    if a.ckpt:
        states = [p for p in ckpt.saved(Path(a.ckpt)) if p.suffix == ".ckpt"]
        if states:
            print(f"cosim: the last checkpoint is {states[-1]}; RESUME={a.ckpt} continues "
                  "from it", file=sys.stderr)


def save_run(a: argparse.Namespace, net: str, summary: dict, curve: list[dict]) -> Path:
    """The run folder: cosim.json (the summary, its provenance and options, the learning
    curve) and the figures; then results/cosim.json and results/latest."""
    out = Path(a.results)
    name = a.name or "-".join(["cosim", a.backend, *([a.sim] if a.backend == "rtl" else []),
                               net, f"s{a.seed}"])
    d = run_dir(out, name)
    n_test = summary["n_test"]
    test_acc = summary["test_correct"] / max(n_test, 1)
    summary = {
        "kind": "cosim", "run": d.name, "net": net, "seed": a.seed, "mode": a.mode,
        **summary,
        "test_accuracy": test_acc,
        "options": {"backend": a.backend, "sim": a.sim, "preset": a.preset,
                    "n_train": a.n_train, "n_test": a.n_test, "epochs": a.epochs,
                    "seed": a.seed, "mode": a.mode, "heap": a.heap,
                    "firmware": [*COSIM_OPTIONS, *a.fw_args]},
        # the learning curve: the running training accuracy of the epoch and the weight
        # updates against images seen (firmware PROGRESS lines), and the test at the end
        "curve": curve,
        "per_epoch": [{"epoch": summary["epochs"], "images_seen": summary["images_trained"],
                       "test_accuracy": test_acc}],
        **provenance("cimtrain.cosim_main", ("BACKEND", "SIM", "PRESET", "N_TRAIN", "N_TEST",
                                             "EPOCHS", "SEED", "MODE", "HEAP", "COSIM_ARGS")),
    }
    (d / "cosim.json").write_text(json.dumps(summary, indent=1) + "\n")
    figures(summary, d)
    publish(out, d, summary, Path(a.out) if a.out else out / "cosim.json")
    return d


def figures(run: dict, d: Path) -> None:
    """accuracy.png (learning curve with the weight updates) and writes.png."""
    import numpy as np

    from .trainer.report import curve_png, writes_png
    where = (f"RTL in {run['sim']}" if run["backend"] == "rtl" else "the model")
    curve_png([run | {"label": run["net"]}], d / "accuracy.png",
              f"make cosim: {run['net']} on {where}, {run['mode']}, seed {run['seed']}")
    hist = run.get("writes_histogram") or [run["weights"]]
    writes_png(np.repeat(np.arange(len(hist)), hist), d / "writes.png",
               f"writes per weight: mean {run['weight_updates'] / max(run['weights'], 1):.2f}"
               + (", the firmware's counters stop at 15" if len(hist) == 16 and hist[-1]
                  else ""))


if __name__ == "__main__":
    sys.exit(main())
