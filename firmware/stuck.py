"""Stuck cells: write-verify finds the cells that ignore pulses; their weights are retired.

A cell outside tolerance at every read of a write-verify call that moved less than half
of its first distance to the target toward it, and is not within _STUCK_MARGIN of the
nominal bound it is pulsed toward (a healthy cell may sit at its own Gmax or Gmin, and
still moves the other way), is a suspect.  Suspects get _STUCK_ROUNDS more rounds of
their own (a healthy cell can be slow: one row's fine pulses are sized for its nearest
cell); one still outside at every read that has still not moved is stuck.  Its weight is
retired: the other cell of the pair is write-verified to the stuck cell's read (the
weight to about 0, as if pruned), one bit a weight records it (``Updater.stuck``: 5.5 KB
for LeNet-5, whose 16-bit run in a 256 KiB heap leaves no room for 2 bits; train.py
allocates it before the network's buffers), and neither cell is pulsed again: a retired
weight's accumulator is cleared whenever it crosses (update.py).  The initial programming
moves every cell from GINIT (128) by 128 codes or more, so it finds the stuck cells of a
fresh chip in both modes (open loop has no reads of its own); write-verify updates
(mode wv) find those of a chip loaded from an image too.

Only imported with cfg["stuck_check"] = 1 (update.Updater), or cfg["dead_cols"] (train.py:
dead_columns writes the macro's dead-column masks), so a run without either carries none
of this in RAM.

    u = Updater(cim, dict(cfg, stuck_check=1))   # u.sc = StuckCheck(u, cols)
"""

from array import array

from cim_regs import P_GMAX_NOM, P_GMIN_NOM, R_DEAD_COLS_HI, R_DEAD_COLS_LO, R_TILE

try:
    from micropython import const
except ImportError:  # CPython: the unit tests import this module directly
    def const(x):
        return x

_STUCK_MARGIN = const(100)  # a cell read this close to the nominal bound it is pulsed
                            # toward may be pinned at its own bound (the device-to-device
                            # spread of Gmax is 20 codes, read noise 15)
_STUCK_ROUNDS = const(4)   # more rounds for the suspects of a write-verify


def dead_columns(dev, text):
    """dead_cols=0:3,2:17: write the DEAD_COLS mask of each tile named (the macro's are 0)."""
    masks = {}
    for item in text.split(","):
        t, _, c = item.partition(":")
        try:
            t, c = int(t), int(c)
        except ValueError:
            raise ValueError("dead_cols=%s: tile:column pairs, e.g. 0:3,2:17" % text) from None
        if not (0 <= t < dev.ntiles and 0 <= c < dev.cols):
            raise ValueError("dead_cols: %s is outside the chip (tiles 0..%d, columns 0..%d)"
                             % (item, dev.ntiles - 1, dev.cols - 1))
        masks[t] = masks.get(t, 0) | 1 << c
    import hal
    for t in masks:
        dev.set(R_TILE, t)  # (not dev.set below: its shadow is one value a register)
        hal.wr32(R_DEAD_COLS_LO, masks[t] & 0xFFFFFFFF)
        hal.wr32(R_DEAD_COLS_HI, masks[t] >> 32)


def _no_move(d0, moved, g):
    """Stuck-cell test of a cell outside at every read of a write-verify call: first
    distance to the target d0, net move since the first read, last read g."""
    if d0 > 0:
        return 2 * moved < d0 and g < P_GMAX_NOM - _STUCK_MARGIN
    return 2 * moved > d0 and g > P_GMIN_NOM + _STUCK_MARGIN


class StuckCheck:
    def __init__(self, upd, cols):
        self.upd = upd
        # scratch, compact (LeNet-5 fills a 256 KiB heap to about 230 KiB): about 1 KB
        self.found = bytearray(cols)           # cells found stuck, bit pol, by column
        self._g0 = array("h", bytes(4 * cols))  # first read of each cell
        self._nout = bytearray(2 * cols)       # reads that found it outside
        self._zp = array("h", bytes(2 * cols))  # targets of the partners of stuck cells
        self._zn = array("h", bytes(2 * cols))
        self._sp = array("h", bytes(2 * cols))  # targets of the suspects' extra rounds
        self._sn = array("h", bytes(2 * cols))
        self.first = True   # this call's first reads start here
        self.nreads = 0     # reads counted so far in this write-verify

    def track(self, it, iters, j, pol, t, g, inside):
        """Update.Updater._rounds: cell (j, pol) with target t read g at round it."""
        k = 2 * j + pol
        if it == 0 and self.first:
            self._g0[k] = g
            self._nout[k] = 0
        if inside:
            return
        if it or self.first:
            self._nout[k] += 1
        if it == iters and self._nout[k] == self.nreads \
                and _no_move(t - self._g0[k], g - self._g0[k], g):
            self.found[j] |= 1 << pol

    def write_verify(self, tile, row, c0, nc, tgt_p, tgt_n, iters, have_read):
        """Updater.write_verify with the check: the regular rounds, then the suspects'
        extra rounds; cells found stuck get bit pol of ``found[j]``.  Returns the cells
        outside tolerance at the last read of the regular rounds."""
        found = self.found
        for j in range(nc):
            found[j] = 0
        self.first, self.nreads = True, iters + 1
        left = self.upd._rounds(tile, row, c0, nc, tgt_p, tgt_n, iters, have_read, self)
        hit = False
        for j in range(nc):
            if found[j]:
                hit = True
        if hit:
            sp, sn = self._sp, self._sn
            for j in range(nc):
                f = found[j]
                sp[j] = tgt_p[j] if f & 1 else -1
                if tgt_n is not None:
                    sn[j] = tgt_n[j] if f & 2 else -1
                found[j] = 0
            self.first, self.nreads = False, iters + 1 + _STUCK_ROUNDS
            self.upd._rounds(tile, row, c0, nc, sp, sn if tgt_n is not None else None,
                             _STUCK_ROUNDS, True, self)
        return left

    def retired(self, w):
        """True if weight w (the network's flat index) is retired (a cell of it stuck)."""
        st = self.upd.stuck
        return st is not None and st[w >> 3] >> (w & 7) & 1 != 0

    def _mark(self, w, f):
        """Weight w retired; f: its cells found stuck (bit 0 G+, bit 1 G-)."""
        u = self.upd
        st = u.stuck
        if st is None:
            st = u.stuck = bytearray((u.n_weights + 7) >> 3)
        v = st[w >> 3]
        if not v >> (w & 7) & 1:
            u.n_retired += 1
            st[w >> 3] = v | 1 << (w & 7)
        u.n_stuck += (f & 1) + (f >> 1)

    def retire(self, tile, row, c0, nc, w0, iters):
        """After a write_verify of columns c0.. of a row (weights w0 + j): record the cells
        it found stuck, and write-verify each one's partner to its read (weight about 0).
        A partner found stuck then too is recorded (both cells stuck)."""
        found = self.found
        hit = False
        for j in range(nc):
            if found[j]:
                hit = True
                break
        if not hit:
            return
        rb = self.upd.cim.readbuf
        zp, zn = self._zp, self._zn
        for j in range(nc):
            f = found[j]
            zp[j] = zn[j] = -1
            if not f:
                continue
            self._mark(w0 + j, f)
            o = 4 * (c0 + j)
            if f == 1:    # G+ stuck: G- to its read
                zn[j] = rb[o] | rb[o + 1] << 8
            elif f == 2:  # G- stuck: G+ to its read
                zp[j] = rb[o + 2] | rb[o + 3] << 8
        # a partner moving to a stuck cell at Gmin (a fresh chip's GINIT) slows down as
        # it nears the soft bound: the suspects' extra rounds on top
        self.upd.write_verify(tile, row, c0, nc, zp, zn, iters + _STUCK_ROUNDS)
        for j in range(nc):
            f = found[j]
            if f:
                self._mark(w0 + j, f)
