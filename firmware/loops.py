"""Plain-Python twins of fastloops.py: network.py's hot loops, allocation-free.

    from loops import im2col   # network.py does this where fastloops cannot load

Each function has a viper twin of the same name and signature in fastloops.py; this
module is what runs on CPython (tests), in the trainer's host copy of network.py, and on
a port without the native emitter.  tests/test_fastloops.py compares the two under the
MicroPython unix port on random inputs.  Integers only.
"""

from fixedpoint import s8, sat


def im2col(patch, x, cin, k, hin, base):
    """patch[r] = x at the k x k window whose top-left input is ``base`` (= y * hin + xo)
    in every input channel, r = (ci * k + ky) * k + kx."""
    r = 0
    plane = hin * hin
    for ci in range(cin):
        row = ci * plane + base
        for _ in range(k):
            for kx in range(k):
                patch[r] = x[row + kx]
                r += 1
            row += hin


def any_nz(x, off, n):
    """1 if any of x[off:off + n] is nonzero, else 0."""
    for i in range(off, off + n):
        if x[i]:
            return 1
    return 0


def copy8(dst, doff, src, soff, n):
    """dst[doff:doff + n] = src[soff:soff + n] (bytes), without a slice object."""
    for i in range(n):
        dst[doff + i] = src[soff + i]


def add_s8(pre, c0, ob, tc0, nc):
    """pre[c0 + j] += int8(ob[tc0 + j]): sum ADC codes of row splits."""
    for j in range(nc):
        pre[c0 + j] += s8(ob[tc0 + j])


def relu_col(act, pre, n, stride, pos):
    """act[c * stride + pos] = clamp(pre[c], 0, 255) for c < n: ReLU to uint8 codes."""
    i = pos
    for c in range(n):
        act[i] = sat(pre[c], 0, 255)
        i += stride


def maxpool(act, out, am, cout, hout, p, hp):
    """p x p max-pool of cout hout x hout maps: out (codes) and am (index of the winner,
    the first of equal ones) per pooled output."""
    o = 0
    npos = hout * hout
    for c in range(cout):
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


def gather_nz(ev, derr, n, stride, pos):
    """ev[c] = derr[c * stride + pos] for c < n; 1 if any is nonzero."""
    nz = 0
    i = pos
    for c in range(n):
        v = derr[i]
        ev[c] = v
        if v:
            nz = 1
        i += stride
    return nz


def axpy_u8(g, c, stride, x, n, v):
    """g[r * stride + c] += x[r] * v for r < n (x: uint8 codes).  Conv weight gradients."""
    i = c
    for r in range(n):
        p = x[r]
        if p:
            g[i] += p * v
        i += stride


def col2im(err_in, col, cin, k, hin, base):
    """The transpose of im2col, accumulating: err_in at the window += col[r]."""
    r = 0
    plane = hin * hin
    for ci in range(cin):
        row = ci * plane + base
        for _ in range(k):
            for kx in range(k):
                err_in[row + kx] += col[r]
                r += 1
            row += hin


def acc_update(acc, g, n, sh, amax):
    """acc[i] -= round(g[i] / 2**sh) (sh <= 0: g[i] << -sh), saturating at +-amax."""
    half = (1 << (sh - 1)) if sh > 0 else 0
    for i in range(n):
        v = g[i]
        if v:
            u = (v + half) >> sh if sh > 0 else v << -sh
            if u:
                a = acc[i] - u
                if a > amax:
                    a = amax
                elif a < -amax:
                    a = -amax
                acc[i] = a


def fc_grad(acc, x, err, nr, nc, sh, amax):
    """acc[i * nc + j] -= round(x[i] * err[j] / 2**sh), saturating at +-amax."""
    nz = [j for j in range(nc) if err[j]]
    half = (1 << (sh - 1)) if sh > 0 else 0
    for i in range(nr):
        xi = x[i]
        if not xi:
            continue
        base = i * nc
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


def load_err(inbuf, tc0, err, c0, nc):
    """inbuf[tc0 + j] = err[c0 + j] as an int8 code byte."""
    for j in range(nc):
        inbuf[tc0 + j] = err[c0 + j] & 0xFF


def add_s8_max(out, r0, ob, nr, m):
    """out[r0 + i] += int8(ob[i]) for i < nr; returns max(m, largest |int8(ob[i])|)."""
    for i in range(nr):
        v = s8(ob[i])
        out[r0 + i] += v
        if v < 0:
            v = -v
        if v > m:
            m = v
    return m


def route(derr, err, am, act, n):
    """derr[am[o]] = err[o] where err[o] and act[am[o]] are nonzero (max-pool winner,
    ReLU derivative); 1 if any was routed."""
    nz = 0
    for o in range(n):
        v = err[o]
        if v:
            i = am[o]
            if act[i]:
                derr[i] = v
                nz = 1
    return nz


def zero32(buf, n):
    for i in range(n):
        buf[i] = 0


# fastloops needs one version per element type; here one serves all
zero16 = zero32
acc_update8 = acc_update16 = acc_update
fc_grad8 = fc_grad16 = fc_grad
