"""Mixed-precision weight updates: accumulators -> thresholds -> device programming.

A weight is a differential pair w = G+ - G-.  G- is programmed once to a reference
code (REF) at initialisation; training moves G+ only, up with SET pulses and down with
RESET pulses, so one PULSE command (CMD.POL = 0) serves both directions of a row.

Two update modes (cfg["mode"]):
- "open" (Nandakumar et al. 2020): when |acc| >= n_min * eps, apply
  n = min(trunc(|acc| / eps), n_max) pulses of acc's sign and keep the remainder
  acc - sign * n * eps.  n_min > 1 writes a device less often, with more pulses a write.
- "wv" (Wu et al. 2023, as on the source chip): when |acc| >= thr, write the cell to its
  new target G+ + round(acc) with write-verify (read, adaptive-amplitude SET/RESET
  pulses, read after each, bounded iterations) and clear the accumulator.

Pulse scheduling: a row's pulse counts become as few PULSE commands as possible (one
command applies one count to every masked cell): ``schedule`` picks the smaller of the
staircase decomposition (one command per distinct count) and the binary one (counts
1, 2, 4, ...: one command per bit of the largest count).  SET and RESET cells of a row
share commands.

    u = Updater(cim, cfg)
    u.program_initial(net, rng, init_amp=256, iters=3)  # every pair to REF + w0, REF
    u.apply(net)                      # after a batch: threshold scan and device writes

Two update rules on top, off by default (cfg["lr_adapt"], cfg["sr"]; docs/studies/update.md):

- lr_adapt = t (1..5), an Adam-like per-layer step size in powers of two.  Adam divides each
  step by a running size of the gradient, so every layer moves by about the learning rate
  whatever the scale of its gradients; here each layer gets a shift offset ``L.lra``
  (an int, |lra| <= _LRA_MAX, added to its learning-rate shift: +1 halves its steps) and
  one int measures its steps: ``L.umax``, the largest |accumulator step| (accumulator
  units, 2**-ACC_FRAC codes) any one image of the batch gave any weight of the layer
  (network.Network._note_step: round(max|x err| >> shift) for fc, round(max|gsum| >>
  shift) for conv).  After each threshold scan (adapt_lr), every trained layer with
  umax > 0 compares it with the band [2**(t-2), 2**(t-1)) eps / 2**decay (eps the
  open-loop pulse in accumulator units; decay = epoch // lr_step, so the schedule still
  halves the steps): above it lra += 1, below it lra -= 1, then umax = 0 (the compare is
  umax << (2 + decay) against eps << t: shifts only).  So a layer whose gradients are
  small (its largest step far below a pulse) doubles its rate batch by batch until its
  largest single-image step is in the band, and a layer whose steps would fire several
  pulses at once halves it: t = 1 aims at half a pulse to one pulse from the largest
  gradient of one image, t = 2 at one to two pulses, t = 3 at two to four.  The ``lr``
  option only sets where each layer starts.  State: two ints per layer, no per-weight
  buffer; the measure costs one pass over x and err (fc) or gsum (conv) per image.
- sr = 1, stochastic rounding of open-loop pulse counts: a weight that fires (|acc| >=
  n_min * eps) with n = trunc(|acc| / eps) < n_max pulses gets one more with probability
  r / eps, r = |acc| - n eps its remainder (one draw of the firmware's PRNG,
  rng.below(eps) < r; the remainder then becomes r - eps, still kept).  Draws only for
  weights that fire, in scan order (layers, blocks, rows, columns), so the vectorized
  trainer draws the same numbers; weights below the threshold draw nothing, so the scan
  costs nothing more.  Open loop only (write-verify has no pulse count).
- momentum is not offered: a velocity per weight would be a second 16-bit buffer the
  size of the accumulators (88 KB for LeNet-5), which the 256 KB heap does not hold next
  to them (a LeNet-5 run peaks at about 227 KiB, docs/results.md).

Stuck cells (cfg["stuck_check"] = 1): write_verify finds them and their weights are
retired, never pulsed again (stuck.py, imported only then: a board without the check does
not carry its code in RAM).
"""

from cim_regs import (
    P_AMP_MAX_MV,
    P_GMAX_NOM,
    P_GMIN_NOM,
    P_K_RESET,
    P_K_SET,
    P_VTH_RESET_MV,
    P_VTH_SET_MV,
)
from fixedpoint import sat

try:
    from micropython import const
except ImportError:  # CPython: the unit tests import this module directly
    def const(x):
        return x

REF = const(512)           # G- reference code: mid-range, w in about [-384, +384]
_AMP_LO = const(1500)      # write-verify amplitude range, mV (source chip: 1.5 V .. 3 V)
_AMP_HI = const(3000)
_WV_MAX_COUNT = const(8)   # write-verify: pulses per round at most
_LRA_MAX = const(6)        # lr_adapt: a layer's shift offset stays within +-_LRA_MAX


def schedule(set_counts, reset_counts, max_count=255):
    """PULSE commands for one row: [(count, set_mask, reset_mask), ...].

    ``set_counts``/``reset_counts``: {column: pulses}.  A cell in both gets SET then RESET
    of the same counts (the macro's phase order).  Every cell gets exactly its count, in
    at most min(#distinct counts, bits of the largest count) commands (+ splits of
    counts above max_count).
    """
    counts = {}
    for c, n in set_counts.items():
        if n > 0:
            counts[c] = n
    for c, n in reset_counts.items():
        if n > 0 and c not in counts:
            counts[c] = n
    if not counts:
        return []
    distinct = sorted(set(counts.values()))
    top = distinct[-1]
    nbits = 0
    while (1 << nbits) <= top:
        nbits += 1
    cmds = []
    if len(distinct) <= nbits:  # staircase: counts d1 < d2 < ... applied as differences
        prev = 0
        for d in distinct:
            step = d - prev
            sm = rm = 0
            for c, n in counts.items():
                if n >= d:
                    if c in set_counts and set_counts[c] >= d:
                        sm |= 1 << c
                    if c in reset_counts and reset_counts[c] >= d:
                        rm |= 1 << c
            cmds.append((step, sm, rm))
            prev = d
    else:  # binary: command b applies 2**b pulses to every cell whose count has bit b
        for b in range(nbits):
            sm = rm = 0
            for c, n in set_counts.items():
                if n >> b & 1:
                    sm |= 1 << c
            for c, n in reset_counts.items():
                if n >> b & 1:
                    rm |= 1 << c
            if sm | rm:
                cmds.append((1 << b, sm, rm))
    out = []
    for n, sm, rm in cmds:  # PULSE_COUNT is 8 bits
        while n > max_count:
            out.append((max_count, sm, rm))
            n -= max_count
        if n:
            out.append((n, sm, rm))
    return out


def open_loop_counts(acc, i, eps, fire, n_max):
    """Pulses for accumulator acc[i] (open loop); updates acc[i] to the remainder.

    Returns n > 0 for SET (raise the weight), n < 0 for RESET, 0 below threshold.
    C-style truncation toward zero: |acc| < fire (n_min * eps) gives 0 and leaves acc
    untouched.
    """
    a = acc[i]
    if a >= fire:
        n = a // eps
        if n > n_max:
            n = n_max
        acc[i] = a - n * eps
        return n
    if a <= -fire:
        n = (-a) // eps
        if n > n_max:
            n = n_max
        acc[i] = a + n * eps
        return -n
    return 0


def pulse_plan(step, g, is_set):
    """(amplitude mV, count) whose nominal move from code g is about ``step`` codes.

    Inverts docs/arithmetic.md §2 with nominal bounds and width 1: one pulse moves
    span * a / 2**16 codes, a = od * K / 16.  A move one pulse cannot make at the top of
    the write-verify range [1.5 V, 3.0 V] gets several pulses at the top amplitude
    (fewer than needed: the soft bound shrinks each step, and the next read corrects).
    """
    if is_set:
        span = P_GMAX_NOM - g
        k, vth = P_K_SET, P_VTH_SET_MV
    else:
        span = g - P_GMIN_NOM
        k, vth = P_K_RESET, P_VTH_RESET_MV
    if span < 8:
        span = 8
    a = (step << 16) // span
    amp_hi = min(_AMP_HI, P_AMP_MAX_MV)
    od = (a << 4) // k
    if vth + od <= amp_hi:
        return sat(vth + od, _AMP_LO, amp_hi), 1
    a_hi = ((amp_hi - vth) * k) >> 4
    return amp_hi, sat(a // a_hi, 1, _WV_MAX_COUNT)


class Updater:
    def __init__(self, cim, cfg):
        self.cim = cim
        self.mode = cfg["mode"]
        self.acc_frac = cfg["acc_bits"] - 8     # accumulator units: 2**-frac codes
        self.thr = cfg["thr"] << self.acc_frac  # write-verify threshold, acc units
        self.eps = cfg["eps"] << self.acc_frac  # open-loop: codes per pulse, acc units
        self.n_max = cfg["n_max"]
        self.fire = cfg["n_min"] * self.eps     # open loop: |acc| that programs a weight
        self.residue = cfg["residue"]           # 0: accumulators cleared after a scan
        self.tol = cfg["wv_tol"]
        self.iters = cfg["wv_iters"]
        self.set_amp = cfg["set_amp"]
        self.reset_amp = cfg["reset_amp"]
        self.n_updates = 0      # weights whose threshold was crossed
        self.n_wv_miss = 0      # write-verify ended outside tolerance
        self.writes = None      # per-weight programming events, 4-bit (see _count_write)
        self.check = cfg.get("stuck_check", 0)
        self.n_weights = 0      # weights of the network (the size of ``stuck``)
        self.stuck = None       # 1 bit a weight: retired (stuck.py); None: none
        self.n_stuck = 0        # cells found stuck
        self.n_retired = 0      # weights retired (a cell of theirs stuck)
        self.sc = None          # the stuck-cell check (stuck.StuckCheck)
        self.lr_adapt = cfg.get("lr_adapt", 0)  # band exponent t (0: off), adapt_lr
        self.sr = cfg.get("sr", 0)  # 1: stochastic rounding of open-loop pulse counts
        self.rng = None         # sr: the firmware's PRNG (train.py sets it)
        self.decay = 0          # lr_adapt: epoch // lr_step (train.py sets it each epoch)
        if self.check:
            import stuck
            self.sc = stuck.StuckCheck(self, cim.cols)

    # -- write-verify of some cells of one row -----------------------------------------
    def write_verify(self, tile, row, c0, nc, tgt_p, tgt_n=None, iters=-1, have_read=False):
        """Program columns c0 + j with tgt_p[j] >= 0 (G+) and tgt_n[j] >= 0 (G-) to their
        target codes within +-tol; -1 skips a cell.  Each round reads the row, then
        pulses every cell outside tolerance: cells a single pulse cannot reach get their
        own pulse count at the top amplitude (grouped into few commands by ``schedule``),
        the others one pulse sized for the nearest of them (so none overshoots).  At most
        ``iters`` rounds (default: cfg wv_iters); returns the number of cells still outside
        tolerance.  ``have_read``: cim.readbuf already holds this row's read (first round).
        With the stuck check, stuck.StuckCheck.write_verify runs these rounds.
        """
        if iters < 0:
            iters = self.iters
        if self.sc is not None and iters > 0:
            return self.sc.write_verify(tile, row, c0, nc, tgt_p, tgt_n, iters, have_read)
        return self._rounds(tile, row, c0, nc, tgt_p, tgt_n, iters, have_read, None)

    def _rounds(self, tile, row, c0, nc, tgt_p, tgt_n, iters, have_read, sc):
        """The rounds of write_verify; ``sc``: the stuck check's bookkeeping (stuck.py:
        first reads, reads outside, suspects) or None."""
        cim = self.cim
        tol = self.tol
        rb = cim.readbuf
        pols = (0, 1) if tgt_n is not None else (0,)
        coarse_s = {}
        coarse_r = {}
        left = 0
        for it in range(iters + 1):
            if it or not have_read:
                cim.read_row(tile, row, c0, nc)
            left = 0
            for pol in pols:
                tgt = tgt_n if pol else tgt_p
                coarse_s.clear()
                coarse_r.clear()
                sm = rm = 0
                s_err = r_err = 1 << 20
                s_g = r_g = 0
                for j in range(nc):
                    t = tgt[j]
                    if t < 0:
                        continue
                    o = 4 * (c0 + j) + 2 * pol
                    g = rb[o] | rb[o + 1] << 8
                    d = t - g
                    if sc is not None:
                        sc.track(it, iters, j, pol, t, g, -tol <= d <= tol)
                    if -tol <= d <= tol:
                        continue
                    left += 1
                    if it == iters:
                        continue
                    c = c0 + j
                    if d > 0:
                        n = pulse_plan(d, g, True)[1]
                        if n > 1:
                            coarse_s[c] = n
                        else:
                            sm |= 1 << c
                            if d < s_err:
                                s_err, s_g = d, g
                    else:
                        n = pulse_plan(-d, g, False)[1]
                        if n > 1:
                            coarse_r[c] = n
                        else:
                            rm |= 1 << c
                            if -d < r_err:
                                r_err, r_g = -d, g
                if it == iters:
                    continue
                top = min(_AMP_HI, P_AMP_MAX_MV)
                if coarse_s or coarse_r:
                    for n, csm, crm in schedule(coarse_s, coarse_r):
                        cim.pulse(tile, row, pol, csm, crm, n, top, top)
                if sm | rm:
                    sa = pulse_plan(s_err, s_g, True)[0] if sm else self.set_amp
                    ra = pulse_plan(r_err, r_g, False)[0] if rm else self.reset_amp
                    cim.pulse(tile, row, pol, sm, rm, 1, sa, ra)
            if not left:
                return 0
        return left

    # -- initialisation: every used pair to (REF + w0, REF) ------------------------------
    def program_initial(self, net, rng, init_amp, iters, progress=None):
        """Write-verify every weight of ``net`` to G+ = REF + U(-a, a), G- = REF, in at most
        ``iters`` rounds a row: random initial weights need no precision, and with read
        noise (sigma 15 codes against +-26) a verify round of 128 cells almost always
        finds a few that merely read outside, so a row nearly always runs every round.
        ``progress(phase, rows done, rows)``, if given, is called after every row."""
        tp = [0] * self.cim.cols   # one row's targets (G+, G-) per column
        tn = [0] * self.cim.cols
        miss = 0
        rows = sum(b.nr for L in net.layers for b in L.blocks)
        self.n_weights = net.n_weights
        done = 0
        base = 0
        for L in net.layers:
            for b in L.blocks:
                tile, nr, nc, tc0 = b.tile, b.nr, b.nc, b.tc0
                for j in range(nc):
                    tn[j] = REF
                for i in range(nr):
                    for j in range(nc):
                        tp[j] = REF + rng.symmetric(init_amp)
                    miss += self.write_verify(tile, i, tc0, nc, tp, tn, iters)
                    if self.sc is not None:
                        self.sc.retire(tile, i, tc0, nc, base + (b.r0 + i) * L.C + b.c0, iters)
                    done += 1
                    if progress is not None:
                        progress("init", done, rows)
            base += L.R * L.C
        self.n_wv_miss += miss
        return miss

    # -- after a batch -------------------------------------------------------------------
    def apply(self, net):
        """Threshold scan of every accumulator; program the weights that crossed.
        residue=0 (an ablation): then clear every accumulator, so an update below the
        threshold is lost, as on a chip without digital accumulation."""
        if self.mode == "open":
            self._apply_open(net)
        else:
            self._apply_wv(net)
        if not self.residue:
            acc = net.acc
            for i in range(len(acc)):
                acc[i] = 0
        if self.lr_adapt:
            self.adapt_lr(net)

    def adapt_lr(self, net):
        """lr_adapt (module docstring): each trained layer's shift offset one step toward
        the band eps * 2**t <= umax * 2**(2 + decay) < eps * 2**(t + 1); umax back to 0."""
        lo = self.eps << self.lr_adapt
        hi = lo << 1
        d = 2 + self.decay
        for li in range(net.freeze, len(net.layers)):
            L = net.layers[li]
            u = L.umax << d
            if not u:
                continue  # no error reached the layer in this batch: nothing to go by
            if u >= hi:
                if L.lra < _LRA_MAX:
                    L.lra += 1
            elif u < lo and L.lra > -_LRA_MAX:
                L.lra -= 1
            L.umax = 0

    def _count_write(self, li_base, idx):
        """Per-weight programming events, 4 bits a weight (two per byte), saturating at 15:
        enough for the histogram's tail, at half the RAM of a byte each."""
        w = self.writes
        if w is not None:
            i = li_base + idx
            b = w[i >> 1]
            sh = (i & 1) << 2
            if (b >> sh) & 15 < 15:
                w[i >> 1] = b + (1 << sh)

    def _apply_open(self, net):
        cim = self.cim
        eps, fire, n_max = self.eps, self.fire, self.n_max
        sr = self.sr
        base = 0
        sc = {}
        rc = {}
        for L in net.layers:
            acc, C = L.acc, L.C
            for b in L.blocks:
                tile, nc, tc0 = b.tile, b.nc, b.tc0
                for i in range(b.nr):
                    ab = (b.r0 + i) * C + b.c0
                    sc.clear()
                    rc.clear()
                    for j in range(nc):
                        n = open_loop_counts(acc, ab + j, eps, fire, n_max)
                        if n and self.stuck is not None and self.sc.retired(base + ab + j):
                            acc[ab + j] = 0
                            n = 0
                        if n and sr and -n_max < n < n_max:  # one more with p = r / eps
                            r = acc[ab + j]
                            if self.rng.below(eps) < (r if r >= 0 else -r):
                                if n > 0:
                                    n += 1
                                    acc[ab + j] = r - eps
                                else:
                                    n -= 1
                                    acc[ab + j] = r + eps
                        if n > 0:
                            sc[tc0 + j] = n
                        elif n < 0:
                            rc[tc0 + j] = -n
                        if n:
                            self.n_updates += 1
                            self._count_write(base, ab + j)
                    if sc or rc:
                        for n, sm, rm in schedule(sc, rc):
                            cim.pulse(tile, i, 0, sm, rm, n, self.set_amp, self.reset_amp)
            base += L.R * C

    def _apply_wv(self, net):
        cim = self.cim
        thr, frac = self.thr, self.acc_frac
        half = (1 << (frac - 1)) if frac else 0
        tp = [-1] * self.cim.cols
        rb = cim.readbuf
        base = 0
        for L in net.layers:
            acc, C = L.acc, L.C
            for b in L.blocks:
                tile, nc, tc0 = b.tile, b.nc, b.tc0
                for i in range(b.nr):
                    ab = (b.r0 + i) * C + b.c0
                    hit = False
                    for j in range(nc):
                        a = acc[ab + j]
                        if a >= thr or a <= -thr:
                            if self.stuck is not None and self.sc.retired(base + ab + j):
                                acc[ab + j] = 0
                                continue
                            hit = True
                            break
                    if not hit:
                        continue
                    cim.read_row(tile, i, tc0, nc)  # current G+ of the row
                    for j in range(nc):
                        a = acc[ab + j]
                        if (a >= thr or a <= -thr) and self.stuck is not None \
                                and self.sc.retired(base + ab + j):
                            acc[ab + j] = 0
                            tp[j] = -1
                        elif a >= thr or a <= -thr:
                            o = 4 * (tc0 + j)
                            g = rb[o] | rb[o + 1] << 8
                            d = (a + half) >> frac
                            tp[j] = sat(g + d, P_GMIN_NOM, P_GMAX_NOM)
                            acc[ab + j] = 0
                            self.n_updates += 1
                            self._count_write(base, ab + j)
                        else:
                            tp[j] = -1
                    self.n_wv_miss += self.write_verify(tile, i, tc0, nc, tp, have_read=True)
                    if self.sc is not None:
                        self.sc.retire(tile, i, tc0, nc, base + ab, self.iters)
            base += L.R * C
