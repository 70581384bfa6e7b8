"""Train a CNN on MNIST on the CIM macro: mixed-precision, integer-only firmware.

    micropython train.py train=build/data/train.bin test=build/data/test.bin n_train=500

(on the virtual board: python -m cimtrain.bridge.launch --window W firmware/train.py ...;
`make cosim` does all of it).  Arguments are key=value, defaults in DEFAULTS.  Prints a
progress line per ``progress`` images and, last, one line ``RESULT {json}``.  For the
host's progress bars it also prints machine-readable lines, at most one per percent of
each phase: ``PROGRESS <phase> <done> <total> [key=value ...]`` with phase init (rows
write-verified), calib (layers), train (images over all epochs; epoch, k = images of this
epoch, correct = of those, updates = weight updates so far) and test (images); host side:
host_tools/cimtrain/progress.py.

Per batch: for each image, forward (tile VMMs), softmax error, backward (transposed
VMMs) accumulating -lr * x * err into per-weight accumulators; then a threshold scan
programs the devices whose accumulators crossed (update.py).  The learning rate is a
shift per layer, raised by one every ``lr_step`` epochs.
"""

import gc
import json
import sys
import time

import cim
import mnist
from cim_regs import R_NOISE_ADC_SIGMA, R_NOISE_PULSE_SIGMA, R_NOISE_READ_SIGMA, R_STUCK_RATE
from fixedpoint import XorShift32, ilog2, ln_q8, softmax_xent_err
from network import NETWORKS, Network
from update import Updater

DEFAULTS = {
    "net": "lenet5",        # lenet5 | seedcnn
    "train": "build/data/train.bin",
    "test": "build/data/test.bin",
    "n_train": 200,         # training images per epoch (from the start of the file)
    "n_test": 100,          # test images
    "epochs": 1,
    "batch": 8,             # images per accumulator threshold scan
    "seed": 1,              # chip SEED register and the firmware's PRNG
    "mode": "open",         # open (open-loop pulses) | wv (write-verify, source chip);
                            # open learns in a few thousand images (docs/training.md)
    "acc_bits": 16,         # accumulator width: 8 or 16 (saturating)
    "thr": 51,              # wv threshold, codes (1/15 of the 768-code range, as the chip)
    "eps": 10,              # open loop: mean |dG| of one pulse, codes
    "n_max": 8,             # open loop: pulses per update, cap
    "n_min": 6,             # open loop: program a weight once |acc| >= n_min * eps
                            # (6: 20x fewer writes than 1 at no loss, docs/results.md)
    "residue": 1,           # 1: keep what a scan did not program (mixed precision);
                            # 0: clear all accumulators after a scan (ablation)
    "set_amp": 1800,        # open loop SET amplitude, mV
    "reset_amp": 1860,      # open loop RESET amplitude, mV (balances K_RESET < K_SET)
    "wv_tol": 26,           # write-verify tolerance, codes (half a level; read sigma 15)
    "wv_iters": 6,          # write-verify pulse rounds per update
    "init_amp": 256,        # initial weights U(-a, a) codes
    "init_iters": 3,        # write-verify rounds a row for the initial weights
    "lr": "-11",            # learning-rate shift, one for all layers or one per layer
                            # (-11: best of -10..-13 at 250 and 1000 images, docs/training.md)
    "freeze": 0,            # leading layers kept at their initial weights (0: all learn;
                            # 1: conv1 fixed, so the backward pass stops at conv2 and its
                            # transposed VMMs, about half of a LeNet-5 image's RTL time,
                            # are not needed; docs/results.md "Early learning")
    "lr_step": 1,           # every lr_step epochs all shifts + 1 (0: constant; 1: the
                            # step halves each epoch, docs/results.md)
    "n_calib": 2,           # images for the forward ADC-shift calibration
    "progress": 50,         # images per progress line
    "digest": 0,            # 1: add the accumulator and conductance digests to RESULT
    "ckpt": "",             # folder for checkpoints (ckpt.py); "" none
    "ckpt_every": 100,      # a checkpoint every this many training images
    "resume": "",           # continue from this checkpoint (a fw-*.ckpt, or its folder)
    "noise": 1,             # 0: read, pulse and ADC noise off (ablation); 1: chip defaults
    "noise_read": -1,       # read-noise sigma, Q8.8 codes (-1: the chip's default)
    "noise_pulse": -1,      # pulse-noise sigma, Q8.8 codes (-1: the chip's default)
    "noise_adc": -1,        # ADC-noise sigma, Q8.8 LSB (-1: the chip's default)
    "verbose": 0,           # 1: a debug line per image (logits, activity, accumulators)
    "stuck_rate": 0,        # fault injection: STUCK_RATE, cells that ignore pulses per
                            # 65536 (655: 1%; 0: the chip's own, none)
    "stuck_check": 0,       # 1: write-verify finds stuck cells and retires their
                            # weights (update.py); 0: not looked for (make cosim/train
                            # STUCK=... set 1; off by default: the suspects' extra verify
                            # rounds would change a healthy chip's run)
    "dead_cols": "",        # fault injection: dead columns tile:col,... (e.g. 0:3,2:17),
                            # the DEAD_COLS masks: every cell of them ignores pulses
    "lr_adapt": 0,          # t = 1..5: Adam-like per-layer step in powers of two, each
                            # layer's largest step of an image kept in [2**(t-2), 2**(t-1))
                            # pulses (eps; update.py); 0: off
    "sr": 0,                # 1: stochastic rounding of open-loop pulse counts with the
                            # PRNG (update.py; mode=open only); 0: truncation
    "warmup": 0,            # learning-rate warm-up over the first warmup training images:
                            # the shifts start warm_shift higher and come down linearly to
                            # lr (warm_extra); 0: none
    "warm_shift": 2,        # warm-up: shifts added at the first image (2: a quarter step)
    "recal": 0,             # re-calibrate the hidden layers' forward ADC shifts every
                            # recal training images (calibrate, same images; the logits
                            # keep their scale); 0: only before training
    "cal_target": 96,       # forward calibration: a layer's largest code over the
                            # calibration images is brought into (cal_target/2, cal_target]
                            # of the ADC's 127 (the logits keep 32: the softmax's scale)
    "brange_lo": 64,        # backward autorange: a sample whose largest |ADC code| stays
                            # below this makes the next one finer (64: the top half of the
                            # range; >= 127 always makes it coarser; network._autorange)
}


def parse_args(argv):
    cfg = dict(DEFAULTS)
    for a in argv:
        if "=" not in a:
            raise ValueError("argument %r is not key=value" % a)
        k, v = a.split("=", 1)
        if k not in cfg:
            raise ValueError("unknown option %r; options: %s" % (k, " ".join(sorted(cfg))))
        cfg[k] = int(v) if isinstance(DEFAULTS[k], int) else v
    if cfg["net"] not in NETWORKS:
        raise ValueError("net=%s: choose from %s" % (cfg["net"], " ".join(NETWORKS)))
    if cfg["mode"] not in ("wv", "open"):
        raise ValueError("mode=%s: choose wv or open" % cfg["mode"])
    if cfg["acc_bits"] not in (8, 16):
        raise ValueError("acc_bits=%d: 8 or 16" % cfg["acc_bits"])
    if cfg["batch"] < 1 or cfg["epochs"] < 0 or cfg["n_train"] < 0 or cfg["n_test"] < 0:
        raise ValueError("batch >= 1, epochs, n_train, n_test >= 0")
    if not 1 <= cfg["n_min"] <= cfg["n_max"]:
        raise ValueError("n_min=%d: 1 .. n_max (%d)" % (cfg["n_min"], cfg["n_max"]))
    if cfg["residue"] not in (0, 1):
        raise ValueError("residue=%d: 0 or 1" % cfg["residue"])
    if cfg["ckpt_every"] < 1:
        raise ValueError("ckpt_every=%d: 1 or more" % cfg["ckpt_every"])
    if not 0 <= cfg["stuck_rate"] <= 0xFFFF or cfg["stuck_check"] not in (0, 1):
        raise ValueError("stuck_rate=%d: 0 .. 65535; stuck_check=%d: 0 or 1"
                         % (cfg["stuck_rate"], cfg["stuck_check"]))
    if not 0 <= cfg["lr_adapt"] <= 5:
        raise ValueError("lr_adapt=%d: 0 (off) or 1 .. 5 (a layer's largest step kept in "
                         "[2**(t-2), 2**(t-1)) pulses)" % cfg["lr_adapt"])
    if cfg["sr"] not in (0, 1) or (cfg["sr"] and cfg["mode"] != "open"):
        raise ValueError("sr=%d: 0 or 1, and 1 needs mode=open (mode=%s)"
                         % (cfg["sr"], cfg["mode"]))
    for k in ("noise_read", "noise_pulse", "noise_adc"):
        if not -1 <= cfg[k] <= 0xFFFF:  # (the NOISE_*_SIGMA registers hold 16 bits)
            raise ValueError("%s=%d: -1 (the chip's default) or 0 .. 65535 (Q8.8)"
                             % (k, cfg[k]))
    if cfg["warmup"] < 0 or not 1 <= cfg["warm_shift"] <= 8:
        raise ValueError("warmup=%d: 0 (none) or images; warm_shift=%d: 1 .. 8"
                         % (cfg["warmup"], cfg["warm_shift"]))
    if cfg["recal"] < 0:
        raise ValueError("recal=%d: 0 (calibrate once) or images" % cfg["recal"])
    if not 8 <= cfg["cal_target"] <= 126:
        raise ValueError("cal_target=%d: 8 .. 126 (largest forward code; the ADC's is 127)"
                         % cfg["cal_target"])
    if not 1 <= cfg["brange_lo"] <= 126:
        raise ValueError("brange_lo=%d: 1 .. 126 (finer below it; 127 saturates)"
                         % cfg["brange_lo"])
    cfg["lr_shifts"] = [int(s) for s in str(cfg["lr"]).split(",")]
    return cfg


def warm_extra(seen, warmup, warm_shift):
    """Shifts the warm-up adds to the learning rate at training image ``seen`` (0 first):
    warm_shift at the first, down linearly to 1 at the last of ``warmup`` images, then 0
    (the step grows geometrically, from 2**-warm_shift of lr's)."""
    if seen >= warmup:
        return 0
    return (warm_shift * (warmup - seen) + warmup - 1) // warmup


def pct(n, d):
    """'12.34' for n/d as a percentage, integers only."""
    if not d:
        return "-"
    v = n * 10000 // d
    return "%d.%02d" % (v // 100, v % 100)


def argmax(v):
    b = 0
    for i in range(1, len(v)):
        if v[i] > v[b]:
            b = i
    return b


def fnv(h, v):
    """FNV-1a over the 4 bytes of v: digests for bit-exact comparisons between backends."""
    v &= 0xFFFFFFFF
    for _ in range(4):
        h = ((h ^ (v & 0xFF)) * 16777619) & 0xFFFFFFFF
        v >>= 8
    return h


_shown = ["", -1]  # phase and percent of the last PROGRESS line


def progress_due(phase, done, total):
    """True (and noted) if this phase's percent at ``done`` was not shown yet."""
    pct = done * 100 // total if total else 100
    if phase == _shown[0] and pct == _shown[1]:
        return False
    _shown[0] = phase
    _shown[1] = pct
    return True


def progress(phase, done, total):
    """A PROGRESS line (module docstring), at most one per percent of a phase."""
    if progress_due(phase, done, total):
        print("PROGRESS %s %d %d" % (phase, done, total))


def calibrate(net, data, n, pix, target=96, target_logits=32, during=False):
    """Forward ADC shift of every layer, in order: largest |code| over n images near target.

    Codes scale by 2**-shift, so one pass at a coarse shift measures the largest code m and
    the shift drops by floor(log2(target / m)); repeated until m is in (target/2, target].
    Each layer's inputs (the previous layer's outputs at its final shift) are kept for the
    n images, so a round runs one layer, not the network up to it (n = 2: under 2 KB).
    ``during`` (option recal, during training): no PROGRESS lines, and the logits keep the
    scale training gave them: their shift moves by minus the hidden layers' total change
    (ReLU and max-pool commute with powers of two).  Calibrated to target_logits again
    they would fight the loss, each time making the softmax less sure (docs/results.md,
    study adc-range: 60% instead of 91% after 10,000 images).
    """
    xs = []
    for i in range(n):
        data.read_into(i, pix)
        xs.append(bytes(pix))
    layers = net.layers[:-1] if during else net.layers
    moved = 0  # the hidden layers' shifts, total change
    net.calibrating = True
    for li, L in enumerate(layers):
        if not during:
            progress("calib", li, len(layers))
        if L is net.layers[-1]:  # logits: about 2 nats of spread (LOGIT_SHIFT = 4)
            target = target_logits
        f0 = L.fshift
        L.fshift = 14
        for _ in range(6):
            L.maxcode = 0
            for x in xs:
                net.layer_forward(L, x)
            m = L.maxcode
            if m >= 127:       # saturated: coarser
                L.fshift += 2
                continue
            if m == 0:
                L.fshift -= 6
                continue
            d = ilog2(target // m) if m <= target else -1
            if d == 0:
                break
            L.fshift -= d
        L.fshift = min(max(L.fshift, 0), 31)
        moved += L.fshift - f0
        L.maxcode = 0
        if li + 1 < len(layers):
            xs = [bytes(net.layer_forward(L, x)) for x in xs]
    net.calibrating = False
    if during:
        L = net.layers[-1]
        L.fshift = min(max(L.fshift - moved, 0), 31)
    else:
        progress("calib", len(layers), len(layers))


def evaluate(net, data, n, pix, h=0x811C9DC5):
    correct = 0
    for i in range(n):
        label = data.read_into(i, pix)
        p = argmax(net.forward(pix))
        correct += p == label
        h = fnv(h, p)
        progress("test", i + 1, n)
    return correct, h


class Run:
    """The training loop's position and running totals (ckpt.STATE saves them)."""

    def __init__(self):
        self.epoch = self.k = self.seen = self.stride = self.start = 0
        self.correct = self.loss_q8 = 0
        self.init_pulses = self.init_reads = self.init_ms = self.calib_ms = 0


def main(argv):
    cfg = parse_args(argv)
    t_start = time.ticks_ms()
    # noise=0 turns every source off; noise_* >= 0 overrides one source
    dev = cim.Cim(cfg["seed"], None if cfg["noise"] else (0, 0, 0))
    if cfg["noise"]:
        for reg, key in ((R_NOISE_READ_SIGMA, "noise_read"), (R_NOISE_PULSE_SIGMA, "noise_pulse"),
                         (R_NOISE_ADC_SIGMA, "noise_adc")):
            if cfg[key] >= 0:
                dev.set(reg, cfg[key])
    if cfg["stuck_rate"]:
        dev.set(R_STUCK_RATE, cfg["stuck_rate"])
    if cfg["dead_cols"]:
        import stuck  # (only then: a run without dead columns carries none of it)
        stuck.dead_columns(dev, cfg["dead_cols"])
    gc.collect()
    # retired-weight map, 1 bit a weight (update.py): 5.5 KB for LeNet-5, allocated first
    # while the heap is in one piece (at the first stuck cell found it may not be)
    nw = sum(s[1] * s[2] * s[3] * s[3] if s[0] == "conv" else s[1] * s[2]
             for s in NETWORKS[cfg["net"]])
    stuck = bytearray((nw + 7) >> 3) if cfg["stuck_check"] else None
    net = Network(NETWORKS[cfg["net"]], dev, cfg["acc_bits"])  # big buffers first
    if not 0 <= cfg["freeze"] < len(net.layers):
        raise ValueError("freeze=%d: 0 .. %d (layers kept at their initial weights)"
                         % (cfg["freeze"], len(net.layers) - 1))
    net.freeze = cfg["freeze"]
    net.adapt = cfg["lr_adapt"] > 0
    net.brange_lo = cfg["brange_lo"]
    train = mnist.Mnist(cfg["train"])
    test = mnist.Mnist(cfg["test"])
    if cfg["n_train"] > train.count or cfg["n_test"] > test.count:
        raise ValueError("n_train=%d / n_test=%d but the files hold %d / %d images"
                         % (cfg["n_train"], cfg["n_test"], train.count, test.count))
    n_cal = min(cfg["n_calib"], max(train.count, 1))  # calibration images (the first)
    if len(cfg["lr_shifts"]) == 1:
        cfg["lr_shifts"] = cfg["lr_shifts"] * len(net.layers)
    if len(cfg["lr_shifts"]) != len(net.layers):
        raise ValueError("lr=%s: one shift per layer (%d)" % (cfg["lr"], len(net.layers)))
    upd = Updater(dev, cfg)
    upd.writes = net.writes
    upd.n_weights = net.n_weights
    upd.stuck = stuck
    rng = XorShift32(cfg["seed"])
    upd.rng = rng  # sr: the pulse counts' rounding draws from the same PRNG
    pix = bytearray(mnist.PIXELS)
    run = Run()
    ck = None
    if cfg["ckpt"] or cfg["resume"]:
        import ckpt
        ck = ckpt.Checkpoint(cfg, [train.crc, train.count, test.crc, test.count],
                             {"net": net, "upd": upd, "dev": dev, "rng": rng, "run": run})
    print("cimtrain: %s, %d weights on %d of %d tiles (%d x %d), mode %s, acc %d bits"
          % (cfg["net"], net.n_weights, sum(1 for u in net.tiles_used if u),
             dev.ntiles, dev.rows, dev.cols, cfg["mode"], cfg["acc_bits"]))
    n = cfg["n_train"]
    if cfg["resume"]:
        ck.resume(cfg["resume"])
    else:
        t = time.ticks_ms()
        miss = upd.program_initial(net, rng, cfg["init_amp"], cfg["init_iters"], progress)
        run.init_pulses, run.init_reads = dev.n_pulses, dev.n_read
        run.init_ms = time.ticks_diff(time.ticks_ms(), t)
        # "outside" by the last, noisy read: read sigma 15 codes against +-wv_tol
        print("init: %d weights write-verified in %d ms (%d rounds), %d of %d cells read "
              "outside +-%d codes, %d stuck (%d weights retired)"
              % (net.n_weights, run.init_ms, cfg["init_iters"], miss, 2 * net.n_weights,
                 cfg["wv_tol"], upd.n_stuck, upd.n_retired))
        t = time.ticks_ms()
        calibrate(net, train, n_cal, pix, cfg["cal_target"])
        run.calib_ms = time.ticks_diff(time.ticks_ms(), t)
        print("calibrated forward ADC shifts: %s in %d ms" % ([L.fshift for L in net.layers],
                                                               run.calib_ms))
        # visiting order: a full-period stride through the file (no index array in RAM)
        stride = 1 + 2 * rng.below(n // 2 + 1) if n > 2 else 1
        while n > 1 and _gcd(stride, n) != 1:
            stride += 1
        run.stride = stride
    gc.collect()
    heap_setup = gc.mem_alloc()
    heap_max = heap_setup

    prob = [0] * net.layers[-1].C
    err = net.err
    stride = run.stride
    every = cfg["ckpt_every"] if cfg["ckpt"] else 0
    t_train = time.ticks_ms()
    seen0 = run.seen
    while run.epoch < cfg["epochs"]:
        epoch = run.epoch
        decay = epoch // cfg["lr_step"] if cfg["lr_step"] else 0
        warm = -1  # the warm-up's shifts in use (-1: none chosen yet in this epoch)
        if run.k == 0:  # a new epoch (a resumed one keeps its start and running totals)
            run.correct = run.loss_q8 = 0
            run.start = rng.below(n) if n else 0
        start = run.start
        while run.k < n:
            k = run.k
            w = warm_extra(run.seen, cfg["warmup"], cfg["warm_shift"])
            if w != warm:  # (lr_adapt's band follows the schedule: update.decay)
                warm = w
                upd.decay = decay + w
                shifts = [s + upd.decay for s in cfg["lr_shifts"]]
            idx = (start + k * stride) % n
            label = train.read_into(idx, pix)
            logits = net.forward(pix)
            run.correct += argmax(logits) == label
            run.loss_q8 += ln_q8(softmax_xent_err(logits, label, prob, err))
            net.backward(err, shifts)
            run.seen += 1
            run.k = k + 1
            if cfg["verbose"]:
                print("  dbg", label, logits, "nz", [sum(1 for v in L.out if v) if L.kind == "conv"
                      else sum(1 for v in L.act if v) for L in net.layers],
                      "acc", [max(max(L.acc), -min(L.acc)) for L in net.layers],
                      "bshift", [L.bshift for L in net.layers])
            if (k + 1) % cfg["batch"] == 0 or k + 1 == n:
                upd.apply(net)
                gc.collect()
                a = gc.mem_alloc()
                if a > heap_max:
                    heap_max = a
            if cfg["recal"] and run.seen % cfg["recal"] == 0:
                calibrate(net, train, n_cal, pix, cfg["cal_target"], during=True)
            if progress_due("train", run.seen, n * cfg["epochs"]):  # (formatted when due)
                print("PROGRESS train %d %d epoch=%d k=%d correct=%d updates=%d"
                      % (run.seen, n * cfg["epochs"], epoch + 1, k + 1, run.correct,
                         upd.n_updates))
            if (k + 1) % cfg["progress"] == 0 or k + 1 == n:
                ms = time.ticks_diff(time.ticks_ms(), t_train)
                c, lq = run.correct, run.loss_q8
                print("epoch %d  %d/%d images  train acc %s%%  loss %d.%02d  updates %d  "
                      "pulses %d  %d ms/image" % (
                          epoch + 1, k + 1, n, pct(c, k + 1),
                          lq // (k + 1) >> 8, (lq // (k + 1) & 255) * 100 >> 8,
                          upd.n_updates, dev.n_pulses, ms // max(run.seen - seen0, 1)))
            end = run.k == n
            if end:  # the epoch's end: a checkpoint here resumes at the next one
                run.epoch += 1
                run.k = 0
            if every and run.seen % every == 0:
                print("checkpoint: %s" % ck.save(run.seen))
            if end:
                break
        else:  # no training images: only the epoch count moves
            run.epoch += 1
    ms_train = time.ticks_diff(time.ticks_ms(), t_train)
    t = time.ticks_ms()
    correct, hp = evaluate(net, test, cfg["n_test"], pix)
    ms_test = time.ticks_diff(time.ticks_ms(), t)
    print("test: %d/%d correct, accuracy %s%%" % (correct, cfg["n_test"],
                                                 pct(correct, cfg["n_test"])))
    dg = None
    if cfg["digest"]:  # the heap is fullest at the end: the backward pass's buffers make
        pix = prob = None  # room for the digest's code (the 128 KiB virtual-seed board)
        for L in net.layers:
            L.err_in = None
            if L.kind == "conv":
                L.derr = L.gsum = L.col = None
        gc.collect()
        from digest import digest_state  # (its own module: no heap until it is used)
        dg = digest_state(net, fnv)
    written = wmax = 0
    whist = [0] * 16  # weights by writes (the 4-bit counters: 15 means 15 or more)
    for b in upd.writes:
        for v in (b & 15, b >> 4):
            if v:
                written += 1
                whist[v] += 1
                if v > wmax:
                    wmax = v
    whist[0] = net.n_weights - written  # (the last byte's spare half is not a weight)
    res = {
        "net": cfg["net"], "mode": cfg["mode"], "acc_bits": cfg["acc_bits"],
        "seed": cfg["seed"], "epochs": cfg["epochs"], "images_trained": run.seen,
        "n_test": cfg["n_test"], "test_correct": correct,
        "test_accuracy_x100": correct * 10000 // max(cfg["n_test"], 1),
        "weights": net.n_weights, "weight_updates": upd.n_updates,
        "weights_written": written, "max_writes_per_weight": wmax,  # saturates at 15
        "writes_histogram": whist,
        "vmm_ops": dev.n_vmm, "read_ops": dev.n_read, "pulse_ops": dev.n_pulse_ops,
        "pulses": dev.n_pulses, "wv_misses": upd.n_wv_miss,
        "stuck_cells": upd.n_stuck, "retired_weights": upd.n_retired,
        "init_pulses": run.init_pulses, "init_reads": run.init_reads,
        "fshift": [L.fshift for L in net.layers], "bshift": [L.bshift for L in net.layers],
        "init_ms": run.init_ms, "calib_ms": run.calib_ms, "train_ms": ms_train,
        "test_ms": ms_test, "total_ms": time.ticks_diff(time.ticks_ms(), t_start),
        "heap_setup": heap_setup, "heap_max": heap_max,
        "pred_digest": hp,
    }
    if cfg["resume"]:
        res["resumed_at"] = seen0
    if dg:
        res["acc_digest"], res["g_digest"], res["state_digest"] = dg
        hs = 0x811C9DC5  # the retired-weight map, 1 bit a weight (update.py; zeros if none)
        st = upd.stuck
        for k in range((net.n_weights + 7) >> 3):
            hs = fnv(hs, st[k] if st is not None else 0)
        res["stuck_digest"] = hs
    print("RESULT " + json.dumps(res))
    return res


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


if __name__ == "__main__":
    main(sys.argv[1:])
