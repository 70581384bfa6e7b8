"""Viper (native machine code) versions of network.py's hot loops.

    from fastloops import im2col   # network.py does this, falling back to its plain twins

Every function here has a plain-Python twin of the same name and signature in
network.py, which is what runs where this module cannot load (CPython, the trainer, a
port without the native emitter, a .mpy built for another architecture);
tests/test_fastloops.py runs both under the MicroPython unix port on random inputs and
requires identical results.  Only loops a measurement showed hot are here (figures in
docs/training.md, "Where the time goes").

Viper integers are machine words: loads through ptr8/ptr16/ptr32 are unsigned, so signed
elements are sign-extended by hand where their sign matters (int32: ``m = 1 << 31; if v
& m: v -= m << 1`` works on 32- and 64-bit ports: on a 32-bit port the loaded word is
already the signed value and ``m << 1`` is 0).  Sums and copies need no sign: stores
truncate to the element width and the results fit (network.py checks the int16 bound).
Buffers: ``ptr8`` bytes/bytearray (codes, int8 accumulators), ``ptr16`` array('h'/'H')
(pre-activations, errors, argmax, int16 accumulators), ``ptr32`` array('i') (gradients).
"""

import micropython

# ptr8, ptr16, ptr32 are names of the viper emitter, not Python: ruff cannot see them
# ruff: noqa: F821


@micropython.viper
def im2col(patch: ptr8, x: ptr8, cin: int, k: int, hin: int, base: int):
    r = 0
    plane = hin * hin
    for ci in range(cin):
        row = ci * plane + base
        for _ky in range(k):
            for kx in range(k):
                patch[r] = x[row + kx]
                r += 1
            row += hin


@micropython.viper
def any_nz(x: ptr8, off: int, n: int) -> int:
    for i in range(off, off + n):
        if x[i]:
            return 1
    return 0


@micropython.viper
def copy8(dst: ptr8, doff: int, src: ptr8, soff: int, n: int):
    for i in range(n):
        dst[doff + i] = src[soff + i]


@micropython.viper
def add_s8(pre: ptr16, c0: int, ob: ptr8, tc0: int, nc: int):
    for j in range(nc):
        v = ob[tc0 + j]
        if v > 127:
            v -= 256
        pre[c0 + j] = pre[c0 + j] + v


@micropython.viper
def relu_col(act: ptr8, pre: ptr16, n: int, stride: int, pos: int):
    i = pos
    for c in range(n):
        v = pre[c]
        if v & 0x8000:
            v -= 0x10000
        if v < 0:
            v = 0
        elif v > 255:
            v = 255
        act[i] = v
        i += stride


@micropython.viper
def maxpool(act: ptr8, out: ptr8, am: ptr16, cout: int, hout: int, p: int, hp: int):
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


@micropython.viper
def gather_nz(ev: ptr16, derr: ptr16, n: int, stride: int, pos: int) -> int:
    nz = 0
    i = pos
    for c in range(n):
        v = derr[i]
        ev[c] = v
        if v:
            nz = 1
        i += stride
    return nz


@micropython.viper
def axpy_u8(g: ptr32, c: int, stride: int, x: ptr8, n: int, v: int):
    i = c
    for r in range(n):
        p = x[r]
        if p:
            g[i] = g[i] + p * v
        i += stride


@micropython.viper
def col2im(err_in: ptr16, col: ptr16, cin: int, k: int, hin: int, base: int):
    r = 0
    plane = hin * hin
    for ci in range(cin):
        row = ci * plane + base
        for _ky in range(k):
            for kx in range(k):
                err_in[row + kx] = err_in[row + kx] + col[r]
                r += 1
            row += hin


@micropython.viper
def acc_update16(acc: ptr16, g: ptr32, n: int, sh: int, amax: int):
    m = 1
    m <<= 31  # at run time: a folded 1 << 31 is no small int for mpy-cross
    half = (1 << (sh - 1)) if sh > 0 else 0
    for i in range(n):
        v = g[i]
        if v:
            if v & m:
                v -= m << 1
            u = (v + half) >> sh if sh > 0 else v << (0 - sh)
            if u:
                a = acc[i]
                if a & 0x8000:
                    a -= 0x10000
                a -= u
                if a > amax:
                    a = amax
                elif a < 0 - amax:
                    a = 0 - amax
                acc[i] = a


@micropython.viper
def fc_grad16(acc: ptr16, x: ptr8, err: ptr16, nr: int, nc: int, sh: int, amax: int):
    half = (1 << (sh - 1)) if sh > 0 else 0
    for i in range(nr):
        xi = x[i]
        if not xi:
            continue
        base = i * nc
        for j in range(nc):
            e = err[j]
            if not e:
                continue
            if e & 0x8000:
                e -= 0x10000
            u = xi * e
            u = (u + half) >> sh if sh > 0 else u << (0 - sh)
            if u:
                a = acc[base + j]
                if a & 0x8000:
                    a -= 0x10000
                a -= u
                if a > amax:
                    a = amax
                elif a < 0 - amax:
                    a = 0 - amax
                acc[base + j] = a


@micropython.viper
def acc_update8(acc: ptr8, g: ptr32, n: int, sh: int, amax: int):
    m = 1
    m <<= 31  # at run time: a folded 1 << 31 is no small int for mpy-cross
    half = (1 << (sh - 1)) if sh > 0 else 0
    for i in range(n):
        v = g[i]
        if v:
            if v & m:
                v -= m << 1
            u = (v + half) >> sh if sh > 0 else v << (0 - sh)
            if u:
                a = acc[i]
                if a & 0x80:
                    a -= 0x100
                a -= u
                if a > amax:
                    a = amax
                elif a < 0 - amax:
                    a = 0 - amax
                acc[i] = a


@micropython.viper
def fc_grad8(acc: ptr8, x: ptr8, err: ptr16, nr: int, nc: int, sh: int, amax: int):
    half = (1 << (sh - 1)) if sh > 0 else 0
    for i in range(nr):
        xi = x[i]
        if not xi:
            continue
        base = i * nc
        for j in range(nc):
            e = err[j]
            if not e:
                continue
            if e & 0x8000:
                e -= 0x10000
            u = xi * e
            u = (u + half) >> sh if sh > 0 else u << (0 - sh)
            if u:
                a = acc[base + j]
                if a & 0x80:
                    a -= 0x100
                a -= u
                if a > amax:
                    a = amax
                elif a < 0 - amax:
                    a = 0 - amax
                acc[base + j] = a


@micropython.viper
def load_err(inbuf: ptr8, tc0: int, err: ptr16, c0: int, nc: int):
    for j in range(nc):
        inbuf[tc0 + j] = err[c0 + j] & 0xFF


@micropython.viper
def add_s8_max(out: ptr16, r0: int, ob: ptr8, nr: int, m: int) -> int:
    for i in range(nr):
        v = ob[i]
        if v > 127:
            v -= 256
        out[r0 + i] = out[r0 + i] + v
        if v < 0:
            v = 0 - v
        if v > m:
            m = v
    return m


@micropython.viper
def route(derr: ptr16, err: ptr16, am: ptr16, act: ptr8, n: int) -> int:
    nz = 0
    for o in range(n):
        v = err[o]
        if v:
            i = am[o]
            if act[i]:
                derr[i] = v
                nz = 1
    return nz


@micropython.viper
def zero32(buf: ptr32, n: int):
    for i in range(n):
        buf[i] = 0


@micropython.viper
def zero16(buf: ptr16, n: int):
    for i in range(n):
        buf[i] = 0
