"""Compiled loops of the trainer: the firmware's per-image work (firmware/network.py,
fixedpoint.py), command for command, on the model's own kernels (model/kernels.py:
dot_rows, add_read_noise, adc_one: what vmm_one is made of), so the arithmetic of the
macro is not written twice.

Weights and VMM inputs are float64 here: a block's weights are kept C-contiguous, one
row per output line (its transpose for FWD), so that dot_rows vectorizes (about 7x
faster per multiply-accumulate than int64 on a strided window, measured).  Every value
is an integer and every sum below 2**27, so float64 is exact (model/kernels.dot_rows).

Why compiled (numba): one LeNet-5 training image issues about 1,000 tile commands, most
of a few dozen multiply-accumulates each; as numpy calls the per-call overhead alone was
about 2.5 ms per image (docs/benchmarks.md, "trainer").  The loops below are the
firmware's loops with its integer semantics: int64 everywhere, right shifts are
arithmetic (floor), every narrowing saturates where the firmware's does.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..model.kernels import adc_one, add_read_noise, dot_rows, pulse_cell

_M32 = 0xFFFFFFFF


@njit(cache=True)
def forward_layer(x, im2col, wt_flat, blocks, shift, op_base, seed, read_sigma, adc_sigma,
                  pre, patch, cur, y, sat):
    """Network._matvec at every position of a layer: pre[p, c] = sum over the row splits
    of the ADC codes of the window p (im2col[p] indexes x; an fc layer has one position).

    ``wt_flat``: each block's weights transposed, (nc, nr) C-order at offset blocks[b, 6].
    Commands are issued in the firmware's order (positions, then blocks), an all-zero
    row split skipped; op indices run from op_base.  Returns (commands, largest code).
    """
    npos, R = im2col.shape
    k = 0
    m = 0
    pre[:, :] = 0
    for p in range(npos):
        for r in range(R):
            patch[r] = x[im2col[p, r]]
        for b in range(blocks.shape[0]):
            r0, nr, c0, nc, tc0, off = blocks[b, 1], blocks[b, 2], blocks[b, 3], \
                blocks[b, 4], blocks[b, 5], blocks[b, 6]
            live = False
            for r in range(r0, r0 + nr):
                if patch[r] != 0:
                    live = True
                    break
            if not live:
                continue
            op = (op_base + k) & _M32
            k += 1
            xs = patch[r0:r0 + nr]
            dot_rows(wt_flat[off:off + nc * nr].reshape((nc, nr)), xs, cur[:nc])
            add_read_noise(cur[:nc], xs, op, tc0, seed, read_sigma)
            adc_one(cur[:nc], op, tc0, seed, adc_sigma, 1, shift, 0, y[:nc], sat[:nc])
            for j in range(nc):
                pre[p, c0 + j] += y[j]
                if y[j] > m:
                    m = y[j]
    return k, m


@njit(cache=True)
def relu_pool(pre, pool_idx, act, argmax, out):
    """Conv ReLU (act[c * npos + p] = sat(pre[p, c], 0, 255)) and max-pool: out[o] the
    first largest act of window o (scan order dy, dx), argmax[o] its index."""
    npos, C = pre.shape
    for c in range(C):
        for p in range(npos):
            act[c * npos + p] = min(max(pre[p, c], 0), 255)
    for o in range(pool_idx.shape[0]):
        best = -1
        bi = 0
        for t in range(pool_idx.shape[1]):
            i = pool_idx[o, t]
            if act[i] > best:
                best = act[i]
                bi = i
        out[o] = best
        argmax[o] = bi


@njit(cache=True)
def transpose_one(e, w_flat, blocks, shift, op_base, seed, read_sigma, adc_sigma, out, cur, y,
                  sat):
    """Network._transpose of one error vector ``e`` (float64 codes): out[r] += the ADC
    codes of W^T e summed over the column blocks (signed inputs), one command per block
    from op_base.  ``w_flat``: each block's (nr, nc) weights, C-order at blocks[b, 6].
    Returns the largest |code|."""
    m = 0
    for b in range(blocks.shape[0]):
        r0, nr, c0, nc, off = blocks[b, 1], blocks[b, 2], blocks[b, 3], blocks[b, 4], \
            blocks[b, 6]
        op = (op_base + b) & _M32
        es = e[c0:c0 + nc]
        dot_rows(w_flat[off:off + nr * nc].reshape((nr, nc)), es, cur[:nr])
        add_read_noise(cur[:nr], es, op, 0, seed, read_sigma)
        mb = adc_one(cur[:nr], op, 0, seed, adc_sigma, 1, shift, 0, y[:nr], sat[:nr])
        for i in range(nr):
            out[r0 + i] += y[i]
        m = max(m, mb)
    return m


@njit(cache=True)
def normalize_err(err):
    """fixedpoint.normalize_err in place: largest |err| into [64, 127]; returns k."""
    m = 0
    for v in err:
        m = max(m, abs(v))
    if m == 0:
        return 0
    k = 0
    while m > 127:
        m = (m + 1) >> 1
        k -= 1
    while m < 64:
        m <<= 1
        k += 1
    if k > 0:
        for i in range(err.shape[0]):
            err[i] <<= k
    elif k < 0:
        half = np.int64(1) << (-k - 1)
        for i in range(err.shape[0]):
            err[i] = min(max((err[i] + half) >> -k, -127), 127)
    return k


@njit(cache=True)
def _acc_sub(acc, r, c, g, sh, amax):
    """acc[r, c] -= round(g / 2**sh) (half up; sh <= 0 shifts left), saturating."""
    if sh > 0:
        s = min(sh, 40)  # |g| < 2**39: beyond 40 the firmware's result is 0 too
        u = (g + (np.int64(1) << (s - 1))) >> s
    else:  # |u| >= 2**20 saturates any accumulator alike: cap it (no int64 overflow)
        u = min(max(g, -(1 << 20)), 1 << 20) << min(-sh, 20)
    if u != 0:
        acc[r, c] = min(max(acc[r, c] - u, -amax), amax)


@njit(cache=True)
def fc_grad(acc, x, err, sh, amax):
    """Network._fc_grad: acc[i, j] -= round(x[i] err[j] >> sh), saturating."""
    for i in range(x.shape[0]):
        xi = x[i]
        if xi == 0:
            continue
        for j in range(err.shape[0]):
            if err[j] != 0:
                _acc_sub(acc, i, j, xi * err[j], sh, amax)


@njit(cache=True)
def conv_route(err_pooled, argmax, act, derr):
    """Route pooled errors to the max-pool winners whose activation is > 0."""
    derr[:] = 0
    nz = False
    for o in range(err_pooled.shape[0]):
        v = err_pooled[o]
        if v != 0:
            i = argmax[o]
            if act[i] != 0:
                derr[i] = v
                nz = True
    return nz


@njit(cache=True, fastmath={"reassoc", "contract"})
def conv_backward(derr, x, im2col, w_flat, blocks, shift, op_base, seed, read_sigma, adc_sigma,
                  transpose, gsum, err_in, ev, patch, col, cur, y, sat):
    """Network._conv_backward after routing and normalising ``derr`` (c * npos + p):
    the weight gradient gsum[r, c] summed over positions (float64, exact: |.| < 2**25),
    and, with ``transpose``, the input error err_in (transposed VMMs per position with
    any error, then col2im).  Returns (commands, largest |code|)."""
    npos, R = im2col.shape
    C = gsum.shape[1]
    nb = blocks.shape[0]
    gsum[:, :] = 0
    err_in[:] = 0
    k = 0
    m = 0
    for p in range(npos):
        any_nz = False
        for c in range(C):
            ev[c] = derr[c * npos + p]
            if ev[c] != 0:
                any_nz = True
        if not any_nz:
            continue
        for r in range(R):
            patch[r] = x[im2col[p, r]]
        for r in range(R):
            pr = patch[r]
            if pr != 0:
                for c in range(C):
                    gsum[r, c] += pr * ev[c]
        if transpose:
            col[:] = 0
            mb = transpose_one(ev, w_flat, blocks, shift, op_base + k, seed, read_sigma,
                               adc_sigma, col, cur, y, sat)
            k += nb
            m = max(m, mb)
            for r in range(R):
                err_in[im2col[p, r]] += col[r]
    return k, m


@njit(cache=True)
def conv_accumulate(acc, gsum, sh, amax):
    for r in range(gsum.shape[0]):
        for c in range(gsum.shape[1]):
            g = np.int64(gsum[r, c])
            if g != 0:
                _acc_sub(acc, r, c, g, sh, amax)


@njit(cache=True)
def softmax_xent_err(z, label, exp_q16, err, out_err_shift, err_max):
    """fixedpoint.softmax_xent_err: int8 errors into ``err``; returns p(label) in Q0.16."""
    n = z.shape[0]
    zmax = z[0]
    for i in range(1, n):
        zmax = max(zmax, z[i])
    total = 0
    for i in range(n):
        d = zmax - z[i]
        err[i] = exp_q16[d] if d < 256 else 0
        total += err[i]
    p_label = 0
    for i in range(n):
        p = (err[i] * 65536 + (total >> 1)) // total
        if i == label:
            p_label = p
            p -= 65536
        err[i] = min(max((p + (1 << (out_err_shift - 1))) >> out_err_shift, -err_max), err_max)
    return p_label


@njit(cache=True)
def schedule_len(counts, pulse_count_max):
    """Commands firmware update.schedule() issues for one row's pulse counts (>= 0, SET
    and RESET cells together): the fewer of one command per distinct count (staircase)
    and one per set bit of the largest (binary); counts above pulse_count_max split."""
    vals = np.sort(counts[counts > 0])
    if vals.shape[0] == 0:
        return 0
    top = vals[-1]
    nbits = 0
    while (np.int64(1) << nbits) <= top:
        nbits += 1
    ndistinct = 1
    for i in range(1, vals.shape[0]):
        if vals[i] != vals[i - 1]:
            ndistinct += 1
    cmds = 0
    if ndistinct <= nbits:
        prev = 0
        for i in range(vals.shape[0]):
            if i == 0 or vals[i] != vals[i - 1]:
                cmds += (vals[i] - prev + pulse_count_max - 1) // pulse_count_max
                prev = vals[i]
    else:
        orbits = 0
        for v in vals:
            orbits |= v
        for b in range(nbits):
            if orbits >> b & 1:
                cmds += ((np.int64(1) << b) + pulse_count_max - 1) // pulse_count_max
    return cmds


@njit(cache=True)
def open_loop_update(acc, writes, btab, eps, n_max, rows, cols, g, wc, gmin, gmax, fset,
                     freset, stuck, seed, pulse_sigma, set_amp, reset_amp, vth_set, vth_reset,
                     k_set, k_reset, wc_max, pulse_count_max, counts):
    """Updater._apply_open for one layer: the threshold scan of its accumulators, block
    by block and row by row as the firmware scans them, each crossing weight's pulses
    applied (G+ of its pair: SET up, RESET down, width 1).  Returns (weights updated,
    PULSE commands the scheduler issues, pulses)."""
    n_upd = 0
    n_cmd = 0
    n_pulses = 0
    for b in range(btab.shape[0]):
        tile, r0, nr, c0, nc, tc0 = btab[b, 0], btab[b, 1], btab[b, 2], btab[b, 3], \
            btab[b, 4], btab[b, 5]
        for i in range(nr):
            hit = False
            for j in range(nc):
                a = acc[r0 + i, c0 + j]
                n = 0
                if a >= eps:
                    n = min(a // eps, n_max)
                    acc[r0 + i, c0 + j] = a - n * eps
                elif a <= -eps:
                    n = -min((-a) // eps, n_max)
                    acc[r0 + i, c0 + j] = a - n * eps
                counts[j] = abs(n)
                if n != 0:
                    hit = True
                    n_upd += 1
                    writes[r0 + i, c0 + j] += 1
                    cell = ((tile * rows + i) * cols + tc0 + j) * 2
                    if n > 0:
                        pulse_cell(g, wc, cell, n, set_amp, True, 1, gmin[cell], gmax[cell],
                                   fset[cell], stuck[cell], seed, pulse_sigma, vth_set, k_set,
                                   wc_max)
                    else:
                        pulse_cell(g, wc, cell, -n, reset_amp, False, 1, gmin[cell],
                                   gmax[cell], freset[cell], stuck[cell], seed, pulse_sigma,
                                   vth_reset, k_reset, wc_max)
                    n_pulses += abs(n)
            if hit:
                n_cmd += schedule_len(counts[:nc], pulse_count_max)
    return n_upd, n_cmd, n_pulses
