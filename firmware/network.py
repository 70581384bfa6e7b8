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

from array import array

from fixedpoint import normalize_err, s8, sat

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
            self.col = [0] * self.R                              # transposed VMM of a patch
        else:
            _, self.R, self.C = spec
            self.nin, self.nout = self.R, self.C
            self.act = bytearray(self.C)
        # this layer's output codes (next input); fc: the ReLU activations themselves
        self.out = bytearray(self.nout) if self.kind == "conv" else self.act
        self.pre = [0] * self.C               # pre-activation of one VMM position
        self.err_in = None                    # error propagated to this layer's input
        self.acc = None                        # accumulators: a slice of the arena
        self.amax = (1 << (acc_bits - 1)) - 1  # accumulator saturation, symmetric
        self.blocks = []                      # (tile, r0, nr, c0, nc, tile_c0)
        self.fshift = 10                      # forward ADC shift (calibrated)
        self.bshift = 9                       # backward ADC shift (auto-ranged)
        self.bmax = 0                         # largest |ADC code| of this sample's backward
        self.maxcode = 0                      # largest ADC code seen (calibration)
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
                        L.blocks.append((t, r0, nr, c0, nc, used[t]))
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
            L.err_in = array("i", bytes(4 * L.nin))
        self.tiles_used = place(self.layers, cim.ntiles, cim.rows, cim.cols)
        for a, b in zip(self.layers, self.layers[1:]):
            if a.nout != b.nin:
                raise MapError("layer outputs %d != next inputs %d" % (a.nout, b.nin))
        self.n_weights = sum(L.R * L.C for L in self.layers)
        self.logits = [0] * self.layers[-1].C
        self.err = [0] * self.layers[-1].C
        self.calibrating = False  # _matvec tracks each layer's largest code (calibration)

    # -- one matrix-vector product of a layer through its tile blocks --------------------
    def _matvec(self, L, x):
        """pre[c] = sum over row splits of ADC(x[r] W[r][c]); x is bytes of length R."""
        cim = self.cim
        pre = L.pre
        for j in range(L.C):
            pre[j] = 0
        inbuf = cim.inbuf
        loaded = -1
        live = True
        for blk in L.blocks:
            tile, r0, nr, c0, nc, tc0 = blk
            if loaded != r0:  # blocks of one row split share the INBUF contents
                xs = x if nr == len(x) else memoryview(x)[r0:r0 + nr]
                # An all-zero input has the ideal result 0 (no biases): the VMM is
                # skipped, as an accelerator would (MNIST borders: about half of conv1).
                live = any(xs)
                if live:
                    inbuf[0:nr] = xs
                loaded = r0
            if not live:
                continue
            ob = cim.vmm_fwd(tile, 0, nr, tc0, nc, L.fshift)
            for j in range(nc):
                pre[c0 + j] += s8(ob[tc0 + j])
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
        hout, C = L.hout, L.C
        patch, act = L.patch, L.act
        npos = hout * hout
        for y in range(hout):
            for xo in range(hout):
                im2col(L, x, y, xo)
                pre = self._matvec(L, patch)
                pos = y * hout + xo
                for c in range(C):
                    act[c * npos + pos] = sat(pre[c], 0, 255)
        # max-pool, remembering the winner for the backward pass
        p, hp, out, am = L.pool, L.hp, L.out, L.argmax
        o = 0
        for c in range(C):
            cb = c * npos
            for py in range(hp):
                for px in range(hp):
                    best = -1
                    bi = 0
                    for dy in range(p):
                        i = cb + (py * p + dy) * hout + px * p
                        for dx in range(p):
                            v = act[i + dx]
                            if v > best:
                                best = v
                                bi = i + dx
                    out[o] = best
                    am[o] = bi
                    o += 1

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
        """
        e = 0
        for li in range(len(self.layers) - 1, -1, -1):
            L = self.layers[li]
            if L.kind == "conv":
                e = self._conv_backward(L, li, err, lr_shifts[li], e)
            else:
                if not _any(err, L.C):
                    return
                e += normalize_err(err, L.C)
                self._fc_grad(L, err, lr_shifts[li] + e + L.fshift)
                if li:
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

    def _fc_grad(self, L, err, sh):
        x, acc, C = L.x, L.acc, L.C
        amax = L.amax
        nz = [j for j in range(C) if err[j]]
        half = (1 << (sh - 1)) if sh > 0 else 0
        for i in range(L.R):
            xi = x[i]
            if not xi:
                continue
            base = i * C
            for j in nz:
                u = xi * err[j]
                u = (u + half) >> sh if sh > 0 else u << -sh
                if u:
                    a = acc[base + j] - u
                    if a > amax:
                        a = amax
                    elif a < -amax:
                        a = -amax
                    acc[base + j] = a

    def _transpose(self, L, err, out):
        """out[r] = sum over column splits of ADC(sum_c W[r][c] err[c]) (signed inputs)."""
        cim = self.cim
        for i in range(L.R):
            out[i] = 0
        inbuf = cim.inbuf
        m = L.bmax
        for blk in L.blocks:
            tile, r0, nr, c0, nc, tc0 = blk
            for j in range(nc):
                inbuf[tc0 + j] = err[c0 + j] & 0xFF
            ob = cim.vmm_trans(tile, 0, nr, tc0, nc, L.bshift)
            for i in range(nr):
                v = s8(ob[i])
                out[r0 + i] += v
                if v < 0:
                    v = -v
                if v > m:
                    m = v
        L.bmax = m

    def _autorange(self, L):
        """Backward ADC shift for the next sample: saturating -> coarser, below half range
        -> finer.  Errors are small and the ADC adds noise (2 LSB by default), so the
        largest output is kept in the top half of the range: that doubles the SNR of a
        24-code target, which measurably decides whether training learns at all."""
        if L.bmax >= 127:
            if L.bshift < 24:
                L.bshift += 1
        elif L.bmax < 64 and L.bshift > 0:
            L.bshift -= 1
        L.bmax = 0

    def _conv_backward(self, L, li, err_pooled, lr_shift, e):
        """err_pooled: error at the pooled outputs (len nout).  Returns the new exponent,
        or None when no error reaches this layer (nothing below it learns)."""
        hout, C, npos = L.hout, L.C, L.hout * L.hout
        derr, act, am = L.derr, L.act, L.argmax
        for i in range(len(derr)):
            derr[i] = 0
        # route through max-pool and the ReLU derivative (the winner's activation > 0)
        nz = False
        for o in range(L.nout):
            v = err_pooled[o]
            if v:
                i = am[o]
                if act[i]:
                    derr[i] = v
                    nz = True
        if not nz:
            return None
        e += normalize_err(derr, len(derr))  # one exponent for the whole map
        sh = lr_shift + e + L.fshift
        gsum = L.gsum
        for i in range(len(gsum)):
            gsum[i] = 0
        k, cin, hin, R = L.k, L.cin, L.hin, L.R
        x, patch = L.x, L.patch
        ev = L.pre  # error vector of one position (len C)
        err_in = L.err_in
        if li:
            for i in range(L.nin):
                err_in[i] = 0
        col = L.col
        for y in range(hout):
            for xo in range(hout):
                pos = y * hout + xo
                any_nz = False
                for c in range(C):
                    v = derr[c * npos + pos]
                    ev[c] = v
                    if v:
                        any_nz = True
                if not any_nz:
                    continue
                im2col(L, x, y, xo)
                for c in range(C):  # weight gradient of this position, summed over the map
                    v = ev[c]
                    if v:
                        _axpy_u8(gsum, c, C, patch, R, v)
                if li:  # error to the input map: transposed VMM, then col2im
                    self._transpose(L, ev, col)
                    r = 0
                    for ci in range(cin):
                        base = ci * hin * hin + y * hin + xo
                        for ky in range(k):
                            row = base + ky * hin
                            for kx in range(k):
                                err_in[row + kx] += col[r]
                                r += 1
        if li:
            e -= L.bshift - L.fshift
            self._autorange(L)
        # accumulators: acc -= round(gsum >> sh), saturating
        acc = L.acc
        amax = L.amax
        half = (1 << (sh - 1)) if sh > 0 else 0
        for i in range(len(gsum)):
            g = gsum[i]
            if g:
                u = (g + half) >> sh if sh > 0 else g << -sh
                if u:
                    a = acc[i] - u
                    if a > amax:
                        a = amax
                    elif a < -amax:
                        a = -amax
                    acc[i] = a
        return e


def im2col(L, x, y, xo):
    """L.patch[r] = input map x at the k x k window of output (y, xo), r = (ci*k + ky)*k + kx."""
    k, hin, patch = L.k, L.hin, L.patch
    r = 0
    for ci in range(L.cin):
        base = ci * hin * hin + y * hin + xo
        for ky in range(k):
            row = base + ky * hin
            patch[r:r + k] = x[row:row + k]
            r += k


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


def _axpy_u8(g, c, stride, x, n, v):
    """g[r * stride + c] += x[r] * v for r < n (x: uint8 codes).  Hot loop of conv grads."""
    i = c
    for r in range(n):
        p = x[r]
        if p:
            g[i] += p * v
        i += stride
