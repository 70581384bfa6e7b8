"""Networks on CIM tiles: layer specs, the tile map, forward and backward passes.

Analog: every multiply-accumulate of the network (forward and error propagation) is a
tile VMM.  Digital (here, integers only): im2col, ReLU, max-pool, summing the ADC
codes of row splits, the softmax error, error routing, and the weight-gradient outer
products that feed the accumulators (update.py turns those into device writes).

    net = Network(LENET5, cim, acc_bits=16)
    logits = net.forward(pixels)          # list of ints (sum of ADC codes)
    net.backward(err_codes, lr_shift)     # accumulates -lr * x * err into net's accumulators

Tile map: a layer's weight matrix W[r][c] (r = input, c = output; conv: r = (ci * k + ky)
* k + kx) is cut into blocks of at most ROWS x COLS; blocks start at tile row 0 and are
packed column-wise into tiles (first fit).  Row splits are summed digitally; column
splits are independent.  A weight is G+ - G- of one differential pair (update.py).
"""

import sys
from array import array
from collections import namedtuple

from fixedpoint import absmax, normalize_err, rshift_round, s8, sat

# Hot loops: viper machine code where the port runs it (fastloops.py), else their
# plain-Python twins (loops.py); the same names and signatures, compared by
# tests/test_fastloops.py.  Only one of the two modules is ever loaded (heap).
try:
    if sys.implementation.name != "micropython":
        raise ImportError("viper code runs on MicroPython only")
    from fastloops import (
        acc_update8,
        acc_update16,
        add_s8,
        add_s8_max,
        any_nz,
        axpy_u8,
        col2im,
        copy8,
        fc_grad8,
        fc_grad16,
        gather_nz,
        im2col,
        load_err,
        maxpool,
        relu_col,
        route,
        zero16,
        zero32,
    )
    FAST = True
except (ImportError, SyntaxError, ValueError):  # CPython, no native emitter, other .mpy arch
    from loops import (
        acc_update8,
        acc_update16,
        add_s8,
        add_s8_max,
        any_nz,
        axpy_u8,
        col2im,
        copy8,
        fc_grad8,
        fc_grad16,
        gather_nz,
        im2col,
        load_err,
        maxpool,
        relu_col,
        route,
        zero16,
        zero32,
    )
    FAST = False

# One block of a layer's weight matrix on a tile: W[r0:r0+nr][c0:c0+nc] at tile rows
# [0, nr) and columns [tc0, tc0 + nc) of tile ``tile``.  A tuple (the trainer unpacks it).
Block = namedtuple("Block", ("tile", "r0", "nr", "c0", "nc", "tc0"))

# ("conv", cin, cout, k, hin, pool) | ("fc", nin, nout)
LENET5 = (("conv", 1, 6, 5, 28, 2), ("conv", 6, 16, 5, 12, 2),
          ("fc", 256, 120), ("fc", 120, 84), ("fc", 84, 10))
# Smaller CNN for the seed-chip preset (4 tiles of 64 x 64): two conv layers and one fully
# connected layer, first layer 25 x 8 as on the source chip; row splits on 64-row tiles.
SEEDCNN = (("conv", 1, 8, 5, 28, 2), ("conv", 8, 8, 3, 12, 2), ("fc", 200, 10))
NETWORKS = {"lenet5": LENET5, "seedcnn": SEEDCNN}


class MapError(Exception):
    pass


class Layer:
    def __init__(self, spec, acc_bits):
        self.kind = spec[0]
        if self.kind == "conv":
            _, self.cin, self.cout, self.k, self.hin, self.pool = spec
            self.hout = self.hin - self.k + 1
            self.hp = self.hout // self.pool
            self.R = self.cin * self.k * self.k
            self.C = self.cout
            self.nin = self.cin * self.hin * self.hin
            self.nout = self.cout * self.hp * self.hp
            npos = self.hout * self.hout
            self.act = bytearray(self.cout * npos)        # ReLU output before pooling
            self.argmax = array("H", bytes(2 * self.nout))  # pooled -> index into act
            self.patch = bytearray(self.R)
            self.gsum = array("i", bytes(4 * self.R * self.C))  # per-sample conv gradient
            self.derr = array("h", bytes(2 * self.cout * npos))  # error at conv outputs
            self.col = array("h", bytes(2 * self.R))             # transposed VMM of a patch
        else:
            _, self.R, self.C = spec
            self.nin, self.nout = self.R, self.C
            self.act = bytearray(self.C)
        # this layer's output codes (next input); fc: the ReLU activations themselves
        self.out = bytearray(self.nout) if self.kind == "conv" else self.act
        self.pre = array("h", bytes(2 * self.C))  # pre-activation of one VMM position
        self.err_in = None                    # error propagated to this layer's input
        self.acc = None                        # accumulators: a slice of the arena
        self.amax = (1 << (acc_bits - 1)) - 1  # accumulator saturation, symmetric
        self.blocks = []                      # Block(tile, r0, nr, c0, nc, tc0)
        self.fshift = 10                      # forward ADC shift (calibrated)
        self.bshift = 9                       # backward ADC shift (auto-ranged)
        self.bmax = 0                         # largest |ADC code| of this sample's backward
        self.maxcode = 0                      # largest ADC code seen (calibration)
        self.lra = 0                          # lr_adapt: this layer's shift offset (update.py)
        self.umax = 0                         # lr_adapt: largest update of the batch (update.py)
        self.x = None                         # input codes of the last forward


def place(layers, ntiles, rows, cols):
    """Cut every layer into <= rows x cols blocks, pack them column-wise into tiles."""
    used = [0] * ntiles
    for L in layers:
        for r0 in range(0, L.R, rows):
            nr = min(rows, L.R - r0)
            for c0 in range(0, L.C, cols):
                nc = min(cols, L.C - c0)
                for t in range(ntiles):
                    if used[t] + nc <= cols:
                        L.blocks.append(Block(t, r0, nr, c0, nc, used[t]))
                        used[t] += nc
                        break
                else:
                    raise MapError("network does not fit: %d tiles of %d x %d"
                                   % (ntiles, rows, cols))
    return used


class Network:
    def __init__(self, spec, cim, acc_bits=16):
        self.cim = cim
        # All accumulators in one arena, allocated first, before the heap fragments;
        # each layer gets a typed memoryview slice of it.
        n = 0
        for s in spec:
            n += (s[1] * s[3] * s[3] * s[2]) if s[0] == "conv" else s[1] * s[2]
        self.acc = zeros("h" if acc_bits > 8 else "b", n)
        self.writes = bytearray((n + 1) >> 1)  # per-weight write counts, 4 bits (update.py)
        self.layers = [Layer(s, acc_bits) for s in spec]
        mv = memoryview(self.acc)
        off = 0
        for L in self.layers:
            L.acc = mv[off:off + L.R * L.C]
            off += L.R * L.C
        for L in self.layers[1:]:  # the first layer's input error is never needed
            L.err_in = array("h", bytes(2 * L.nin))
        self.tiles_used = place(self.layers, cim.ntiles, cim.rows, cim.cols)
        # int16 is enough for pre, col, err and err_in: a sum of int8 ADC codes over the
        # row splits (forward) or the column splits (transpose), and col2im adds at most
        # k * k transposes into one input.  Checked here for the network at hand.
        for L in self.layers:
            n = max(_splits(L.R, cim.rows), _splits(L.C, cim.cols) * (
                L.k * L.k if L.kind == "conv" else 1))
            if 128 * n > 32767:
                raise MapError("int16 sums of %d ADC codes overflow" % n)
        for a, b in zip(self.layers, self.layers[1:]):
            if a.nout != b.nin:
                raise MapError("layer outputs %d != next inputs %d" % (a.nout, b.nin))
        self.n_weights = sum(L.R * L.C for L in self.layers)
        self.logits = [0] * self.layers[-1].C
        self.err = array("h", bytes(2 * self.layers[-1].C))  # output error codes
        self._acc16 = acc_bits > 8  # int16 accumulators, else int8 (the viper loops differ)
        self.brange_lo = 64       # _autorange: finer below it (train.py option brange_lo)
        self.calibrating = False  # _matvec tracks each layer's largest code (calibration)
        self.freeze = 0  # layers [0, freeze) keep their weights: the backward stops above
        self.adapt = False  # lr_adapt: measure each layer's largest update (Layer.umax)

    # -- one matrix-vector product of a layer through its tile blocks --------------------
    def _matvec(self, L, x):
        """pre[c] = sum over row splits of ADC(x[r] W[r][c]); x is bytes of length R."""
        cim = self.cim
        pre = L.pre
        zero16(pre, L.C)
        inbuf = cim.inbuf
        loaded = -1
        live = True
        for b in L.blocks:
            nr, nc, tc0 = b.nr, b.nc, b.tc0
            if loaded != b.r0:  # blocks of one row split share the INBUF contents
                # An all-zero input has the ideal result 0 (no biases): the VMM is
                # skipped, as an accelerator would (MNIST borders: about half of conv1).
                live = any_nz(x, b.r0, nr)
                if live:
                    copy8(inbuf, 0, x, b.r0, nr)
                loaded = b.r0
            if not live:
                continue
            ob = cim.vmm_fwd(b.tile, 0, nr, tc0, nc, L.fshift)
            add_s8(pre, b.c0, ob, tc0, nc)
            if self.calibrating:  # largest code; positive only: the ReLU cuts the rest
                m = L.maxcode
                for j in range(nc):
                    v = s8(ob[tc0 + j])
                    if v > m:
                        m = v
                L.maxcode = m
        return pre

    # -- forward ------------------------------------------------------------------------
    def forward(self, pixels, upto=-1):
        """Logits (list of ints) for one image; ``upto`` >= 0 stops after that layer."""
        x = pixels
        for li, L in enumerate(self.layers):
            if 0 <= upto < li:
                break
            x = self.layer_forward(L, x)
        return self.logits

    def layer_forward(self, L, x):
        """One layer on input codes ``x``: its output codes (bytes; the logits list for
        the last layer), kept in the layer's own buffers until its next call."""
        L.x = x
        if L.kind == "conv":
            self._conv_forward(L, x)
            return L.out
        pre = self._matvec(L, x)
        if L is self.layers[-1]:
            for j in range(L.C):
                self.logits[j] = pre[j]
            return self.logits
        act = L.act
        for j in range(L.C):
            act[j] = sat(pre[j], 0, 255)  # ReLU, uint8 activation code
        return act

    def _conv_forward(self, L, x):
        hout, C, hin, k, cin = L.hout, L.C, L.hin, L.k, L.cin
        patch, act = L.patch, L.act
        npos = hout * hout
        for y in range(hout):
            for xo in range(hout):
                im2col(patch, x, cin, k, hin, y * hin + xo)
                relu_col(act, self._matvec(L, patch), C, npos, y * hout + xo)
        # max-pool, remembering the winner for the backward pass
        maxpool(act, L.out, L.argmax, C, hout, L.pool, L.hp)

    # -- backward -----------------------------------------------------------------------
    def backward(self, err, lr_shifts):
        """Propagate int8 output errors ``err`` back; accumulate weight updates.

        Block exponent ``e``: the true error of a layer is code * 2**-e, in units of the
        output error code.  A layer computes y = (W x) >> fshift, so its input error is
        W^T err / 2**fshift; the tiles give (W^T err) >> bshift, hence e -= bshift - fshift
        per transposed VMM.  Each layer's error is renormalised to int8 before it drives
        the tiles (normalize_err's shift adds to e).  The weight gradient of y = W x >>
        fshift is x err / 2**fshift, so the accumulator update is
            acc -= (x * err_code) >> (lr + e + fshift)
        and one learning-rate shift means the same step size in every layer.
        Layers below ``self.freeze`` are not trained: layer ``freeze`` computes no input
        error (no transposed VMMs), like the first layer.
        Each layer's shift also gets its lr_adapt offset ``L.lra`` (0 unless lr_adapt is
        on; update.Updater.adapt_lr moves it), and with ``self.adapt`` the layer's largest
        step of this image is kept in ``L.umax`` (``_note_step``).
        """
        e = 0
        f = self.freeze
        for li in range(len(self.layers) - 1, f - 1, -1):
            L = self.layers[li]
            if L.kind == "conv":
                e = self._conv_backward(L, li > f, err, lr_shifts[li] + L.lra, e)
            else:
                if not _any(err, L.C):
                    return
                e += normalize_err(err, L.C)
                sh = lr_shifts[li] + L.lra + e + L.fshift
                if self.adapt:  # largest |x * err|: the largest x times the largest |err|
                    self._note_step(L, absmax(L.x, L.R) * absmax(err, L.C), sh)
                self._fc_grad(L, err, sh)
                if li > f:
                    self._transpose(L, err, L.err_in)
                    e -= L.bshift - L.fshift
                    self._autorange(L)
                    P = self.layers[li - 1]
                    if P.kind == "fc":  # ReLU derivative; conv: routed in its backward
                        act, err_in = P.act, L.err_in
                        for i in range(P.C):
                            if not act[i]:
                                err_in[i] = 0
            if e is None:
                return
            err = L.err_in

    @staticmethod
    def _note_step(L, g, sh):
        """lr_adapt's measure: L.umax = the largest |accumulator step| of the batch so far,
        round(g >> sh) of this image's largest |gradient product| g (accumulator units)."""
        u = rshift_round(g, sh)
        if u > L.umax:
            L.umax = u

    def _fc_grad(self, L, err, sh):
        (fc_grad16 if self._acc16 else fc_grad8)(L.acc, L.x, err, L.R, L.C, sh, L.amax)

    def _transpose(self, L, err, out):
        """out[r] = sum over column splits of ADC(sum_c W[r][c] err[c]) (signed inputs)."""
        cim = self.cim
        zero16(out, L.R)
        inbuf = cim.inbuf
        m = L.bmax
        for b in L.blocks:
            load_err(inbuf, b.tc0, err, b.c0, b.nc)
            ob = cim.vmm_trans(b.tile, 0, b.nr, b.tc0, b.nc, L.bshift)
            m = add_s8_max(out, b.r0, ob, b.nr, m)
        L.bmax = m

    def _autorange(self, L):
        """Backward ADC shift for the next sample: saturating -> coarser, below brange_lo
        -> finer.  Errors are small and the ADC adds noise (2 LSB by default), so by
        default (64) the largest output is kept in the top half of the range: that doubles
        the SNR of a 24-code target, which measurably decides whether training learns at
        all (docs/results.md, study adc-range, for other bands)."""
        if L.bmax >= 127:
            if L.bshift < 24:
                L.bshift += 1
        elif L.bmax < self.brange_lo and L.bshift > 0:
            L.bshift -= 1
        L.bmax = 0

    def _conv_backward(self, L, into, err_pooled, lr_shift, e):
        """err_pooled: error at the pooled outputs (len nout); ``into``: propagate the error
        to the layer's input too.  Returns the new exponent, or None when no error reaches
        this layer (nothing below it learns)."""
        hout, C, npos = L.hout, L.C, L.hout * L.hout
        derr, act, am = L.derr, L.act, L.argmax
        zero16(derr, len(derr))
        # route through max-pool and the ReLU derivative (the winner's activation > 0)
        if not route(derr, err_pooled, am, act, L.nout):
            return None
        e += normalize_err(derr, len(derr))  # one exponent for the whole map
        sh = lr_shift + e + L.fshift
        gsum = L.gsum
        zero32(gsum, len(gsum))
        k, cin, hin, R = L.k, L.cin, L.hin, L.R
        x, patch = L.x, L.patch
        ev = L.pre  # error vector of one position (len C)
        err_in = L.err_in
        if into:
            zero16(err_in, L.nin)
        col = L.col
        for y in range(hout):
            for xo in range(hout):
                if not gather_nz(ev, derr, C, npos, y * hout + xo):
                    continue
                base = y * hin + xo
                im2col(patch, x, cin, k, hin, base)
                for c in range(C):  # weight gradient of this position, summed over the map
                    v = ev[c]
                    if v:
                        axpy_u8(gsum, c, C, patch, R, v)
                if into:  # error to the input map: transposed VMM, then col2im
                    self._transpose(L, ev, col)
                    col2im(err_in, col, cin, k, hin, base)
        if into:
            e -= L.bshift - L.fshift
            self._autorange(L)
        if self.adapt:
            self._note_step(L, absmax(gsum, len(gsum)), sh)
        # accumulators: acc -= round(gsum >> sh), saturating
        (acc_update16 if self._acc16 else acc_update8)(L.acc, gsum, len(gsum), sh, L.amax)
        return e


def _splits(n, size):
    return (n + size - 1) // size


def zeros(typecode, n, chunk=256):
    """array(typecode) of n zeros, grown in place by chunks: array(tc, bytes(n * size))
    would hold the zero bytes and the array at once (twice the memory)."""
    z = array(typecode, bytes(chunk * (2 if typecode == "h" else 1)))
    a = array(typecode)
    while len(a) + chunk <= n:
        a.extend(z)
    a.extend(z[:n - len(a)])
    return a


def _any(v, n):
    for i in range(n):
        if v[i]:
            return True
    return False
