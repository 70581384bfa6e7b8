"""Compiled loops of the trainer: the firmware's per-image work (firmware/network.py,
fixedpoint.py), command for command, on the model's own kernels (model/kernels.py:
currents, add_read_noise, adc: what a VMM command is made of), so the arithmetic of
the macro is not written twice.  The commands of one layer that share a window run as
one stack (all live positions of a conv layer, all error vectors of its backward).

Weights and VMM inputs are float64 here: each block's weights are kept transposed and
C-contiguous (one row per column of the tile), so that the sums of ``currents`` run
along contiguous rows and vectorize (float64 4-wide on AVX2; int64 has no vector
multiply there).  Every value is an integer and every sum below 2**27, so float64 is
exact (model/kernels.currents).

Why compiled (numba): one LeNet-5 training image issues about 450 VMM commands, each
with its own noise draws per output line; as numpy calls (commit 8859624) an image took
7.5 ms, 15x the compiled loops (docs/trainer.md, "Speed").
The loops below are the firmware's loops with its integer semantics: int64 integers
(float64 only where exact, above), arithmetic (floor) right shifts, and saturation at
every narrowing where the firmware saturates.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..model.kernels import adc, add_read_noise, currents, pulse_cell
from ..model.kernels import read_row as read_row_k

_M32 = 0xFFFFFFFF


@njit(cache=True)
def _block_t(wt_flat, blocks, b):
    """Block b's weights transposed, (nc, nr): a view of the flat buffer."""
    nr, nc, off = blocks[b, 2], blocks[b, 4], blocks[b, 6]
    return wt_flat[off:off + nc * nr].reshape((nc, nr))


@njit(cache=True)
def forward_layer(x, im2col, wt_flat, blocks, shift, op_base, seed, read_sigma, adc_sigma,
                  adc_bits, pre, patches):
    """Network._matvec at every position of a layer: pre[p, c] = sum over the row splits
    of the ADC codes of the window p (im2col[p] indexes x; an fc layer has one position).

    ``wt_flat``: each block's weights transposed, (nc, nr) C-order at offset blocks[b, 6];
    ``patches``: (npos, R) float64 scratch, left holding the windows.  Commands are
    numbered in the firmware's order (positions, then blocks; an all-zero row split
    issues none) from op_base, then each block's run as one stack.
    Returns (commands, largest code).
    """
    npos, R = im2col.shape
    nb = blocks.shape[0]
    for p in range(npos):
        for r in range(R):
            patches[p, r] = x[im2col[p, r]]
    ops = np.full((npos, nb), -1, dtype=np.int64)
    k = 0
    for p in range(npos):
        for b in range(nb):
            r0, nr = blocks[b, 1], blocks[b, 2]
            for r in range(r0, r0 + nr):
                if patches[p, r] != 0:
                    ops[p, b] = (op_base + k) & _M32
                    k += 1
                    break
    pre[:, :] = 0
    m = 0
    for b in range(nb):
        r0, nr, c0, nc, tc0 = blocks[b, 1], blocks[b, 2], blocks[b, 3], blocks[b, 4], \
            blocks[b, 5]
        n = 0
        for p in range(npos):
            n += ops[p, b] >= 0
        if n == 0:
            continue
        pos = np.empty(n, dtype=np.int64)
        xb = np.empty((n, nr), dtype=np.float64)
        ob = np.empty(n, dtype=np.int64)
        i = 0
        for p in range(npos):
            if ops[p, b] >= 0:
                pos[i] = p
                ob[i] = ops[p, b]
                for r in range(nr):
                    xb[i, r] = patches[p, r0 + r]
                i += 1
        cur = np.empty((n, nc), dtype=np.int64)
        currents(_block_t(wt_flat, blocks, b), xb, False, cur)
        add_read_noise(cur, xb, ob, tc0, seed, read_sigma)
        y = np.empty((n, nc), dtype=np.int64)
        adc(cur, ob, tc0, seed, adc_sigma, 1, shift, 0, adc_bits, y,
            np.empty((n, nc), dtype=np.bool_))
        for i in range(n):
            for j in range(nc):
                pre[pos[i], c0 + j] += y[i, j]
                if y[i, j] > m:
                    m = y[i, j]
    return k, m


@njit(cache=True)
def relu(pre, act):
    """fc ReLU: act = sat(pre, 0, 255) (uint8 activation codes)."""
    for j in range(act.shape[0]):
        act[j] = min(max(pre[0, j], 0), 255)


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
def transpose(e, wt_flat, blocks, shift, op_base, seed, read_sigma, adc_sigma, adc_bits,
              out):
    """Network._transpose of a stack of error vectors e (n, C) float64 codes: out[s, r] +=
    the ADC codes of W^T e[s] summed over the column blocks (signed inputs).  Commands
    are numbered vector by vector, block by block, from op_base.  Returns the largest
    |code|."""
    n = e.shape[0]
    nb = blocks.shape[0]
    m = 0
    for b in range(nb):
        r0, nr, c0, nc = blocks[b, 1], blocks[b, 2], blocks[b, 3], blocks[b, 4]
        eb = np.ascontiguousarray(e[:, c0:c0 + nc])
        ob = np.empty(n, dtype=np.int64)
        for s in range(n):
            ob[s] = (op_base + s * nb + b) & _M32
        cur = np.empty((n, nr), dtype=np.int64)
        currents(_block_t(wt_flat, blocks, b), eb, True, cur)
        add_read_noise(cur, eb, ob, 0, seed, read_sigma)
        y = np.empty((n, nr), dtype=np.int64)
        mb = adc(cur, ob, 0, seed, adc_sigma, 1, shift, 0, adc_bits, y,
                 np.empty((n, nr), np.bool_))
        for s in range(n):
            for i in range(nr):
                out[s, r0 + i] += y[s, i]
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
def conv_backward(derr, patches, im2col, wt_flat, blocks, shift, op_base, seed, read_sigma,
                  adc_sigma, adc_bits, do_transpose, gsum, err_in):
    """Network._conv_backward after routing and normalising ``derr`` (c * npos + p):
    the weight gradient gsum[r, c] summed over positions (float64, exact: |.| < 2**25),
    and, with ``do_transpose``, the input error err_in (a transposed VMM per position
    with any error, in position order, then col2im).  ``patches``: the forward's windows.
    Returns (commands, largest |code|)."""
    npos, R = im2col.shape
    C = gsum.shape[1]
    nb = blocks.shape[0]
    gsum[:, :] = 0
    err_in[:] = 0
    n = 0
    for p in range(npos):
        for c in range(C):
            if derr[c * npos + p] != 0:
                n += 1
                break
    pos = np.empty(n, dtype=np.int64)
    ev = np.empty((n, C), dtype=np.float64)
    i = 0
    for p in range(npos):
        nz = False
        for c in range(C):
            if derr[c * npos + p] != 0:
                nz = True
                break
        if nz:
            pos[i] = p
            for c in range(C):
                ev[i, c] = derr[c * npos + p]
            i += 1
    for i in range(n):
        p = pos[i]
        for r in range(R):
            pr = patches[p, r]
            if pr != 0:
                for c in range(C):
                    gsum[r, c] += pr * ev[i, c]
    if not do_transpose:
        return 0, 0
    cols = np.zeros((n, R), dtype=np.int64)
    m = transpose(ev, wt_flat, blocks, shift, op_base, seed, read_sigma, adc_sigma, adc_bits,
                  cols)
    for i in range(n):
        p = pos[i]
        for r in range(R):
            err_in[im2col[p, r]] += cols[i, r]
    return n * nb, m


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
    seen = np.uint64(0)  # counts 1..63 as a bit set: no allocation for the usual case
    top = 0
    orbits = 0
    big = False
    for c in counts:
        if c > 0:
            top = max(top, c)
            orbits |= c
            if c < 64:
                seen |= np.uint64(1) << np.uint64(c)
            else:
                big = True
    if top == 0:
        return 0
    nbits = 0
    while (np.int64(1) << nbits) <= top:
        nbits += 1
    if big:  # rare: counts of 64 and more, sort them
        vals = np.sort(counts[counts > 0])
        distinct = np.empty(vals.shape[0], dtype=np.int64)
        nd = 0
        for i in range(vals.shape[0]):
            if i == 0 or vals[i] != vals[i - 1]:
                distinct[nd] = vals[i]
                nd += 1
    else:
        distinct = np.empty(0, dtype=np.int64)
        nd = 0
        v = seen
        while v:
            nd += 1
            v &= v - np.uint64(1)
    cmds = 0
    if nd <= nbits:  # staircase: one command per step between distinct counts
        prev = 0
        if big:
            for i in range(nd):
                cmds += (distinct[i] - prev + pulse_count_max - 1) // pulse_count_max
                prev = distinct[i]
        else:
            for d in range(1, 64):
                if seen >> np.uint64(d) & np.uint64(1):
                    cmds += (d - prev + pulse_count_max - 1) // pulse_count_max
                    prev = d
    else:  # binary: one command per set bit of any count
        for b in range(nbits):
            if orbits >> b & 1:
                cmds += ((np.int64(1) << b) + pulse_count_max - 1) // pulse_count_max
    return cmds


@njit(cache=True)
def xorshift_below(rs, n):
    """firmware fixedpoint.XorShift32.below(n) on the state rs[0] (advanced in place)."""
    v = rs[0]
    v ^= (v << 13) & _M32
    v ^= v >> 17
    v ^= (v << 5) & _M32
    rs[0] = v
    return ((v >> 16) * n) >> 16


@njit(cache=True)
def open_loop_update(acc, writes, btab, eps, fire, n_max, rows, cols, g, wc, gmin, gmax, fset,
                     freset, stuck, seed, pulse_sigma, set_amp, reset_amp, vth_set, vth_reset,
                     k_set, k_reset, wc_max, pulse_count_max, counts, wt_flat, stk, sr, rs):
    """Updater._apply_open for one layer: the threshold scan of its accumulators, block
    by block and row by row as the firmware scans them, each crossing weight's pulses
    applied (G+ of its pair: SET up, RESET down, width 1) and its cached weight
    (wt_flat: network.py) brought up to date.  A weight fires when |acc| >= fire
    (n_min * eps): min(|acc| // eps, n_max) pulses, the remainder kept.  ``sr``: a firing
    weight with fewer than n_max pulses gets one more if the firmware's PRNG (state
    rs[0], advanced in place) draws below(eps) < |remainder| (firmware update.py).
    Returns (weights updated, PULSE commands the scheduler issues, pulses)."""
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
                if a >= fire:
                    n = min(a // eps, n_max)
                    acc[r0 + i, c0 + j] = a - n * eps
                elif a <= -fire:
                    n = -min((-a) // eps, n_max)
                    acc[r0 + i, c0 + j] = a - n * eps
                if n != 0 and stk[r0 + i, c0 + j] != 0:  # retired: cleared, not pulsed
                    acc[r0 + i, c0 + j] = 0
                    n = 0
                if n != 0 and sr and -n_max < n < n_max:
                    rem = acc[r0 + i, c0 + j]
                    if xorshift_below(rs, eps) < abs(rem):
                        if n > 0:
                            n += 1
                            acc[r0 + i, c0 + j] = rem - eps
                        else:
                            n -= 1
                            acc[r0 + i, c0 + j] = rem + eps
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
                    wt_flat[btab[b, 6] + j * nr + i] = np.float64(g[cell] - g[cell + 1])
            if hit:
                n_cmd += schedule_len(counts[:nc], pulse_count_max)
    return n_upd, n_cmd, n_pulses


@njit(cache=True)
def fc_backward_step(err, x, acc, amax, sh_base, do_transpose, wt_flat, blocks, bshift,
                     op_base, seed, read_sigma, adc_sigma, adc_bits, err_in, prev_act,
                     relu_mask):
    """One fc layer of Network.backward: normalise the error (int8 codes, block exponent
    shift k), accumulate -round(x err >> (sh_base + k)), and with ``do_transpose`` the
    input error err_in (transposed VMMs; ``relu_mask``: zero where prev_act is 0).
    Returns (go on, k, commands, largest |code|); go on is False for an all-zero error."""
    nz = False
    for v in err:
        if v != 0:
            nz = True
            break
    if not nz:
        return False, 0, 0, 0
    e = err.copy()
    k = normalize_err(e)
    fc_grad(acc, x, e, sh_base + k, amax)
    if not do_transpose:
        return True, k, 0, 0
    ef = np.empty((1, e.shape[0]), dtype=np.float64)
    for j in range(e.shape[0]):
        ef[0, j] = e[j]
    err_in[:] = 0
    m = transpose(ef, wt_flat, blocks, bshift, op_base, seed, read_sigma, adc_sigma, adc_bits,
                  err_in.reshape((1, err_in.shape[0])))
    if relu_mask:
        for i in range(err_in.shape[0]):
            if prev_act[i] == 0:
                err_in[i] = 0
    return True, k, blocks.shape[0], m


@njit(cache=True)
def conv_backward_step(err_pooled, argmax, act, derr, patches, im2col, wt_flat, blocks,
                       bshift, op_base, seed, read_sigma, adc_sigma, adc_bits, do_transpose,
                       gsum, err_in, acc, amax, sh_base):
    """One conv layer of Network.backward: route the pooled error to the max-pool
    winners, normalise it (shift k), the weight gradient into the accumulators with
    shift sh_base + k, and with ``do_transpose`` the input error.  Returns (go on, k,
    commands, largest |code|); go on is False when no error reaches the layer."""
    if not conv_route(err_pooled, argmax, act, derr):
        return False, 0, 0, 0
    k = normalize_err(derr)
    n, m = conv_backward(derr, patches, im2col, wt_flat, blocks, bshift, op_base, seed,
                         read_sigma, adc_sigma, adc_bits, do_transpose, gsum, err_in)
    conv_accumulate(acc, gsum, sh_base + k, amax)
    return True, k, n, m


# -- write-verify (firmware update.py) ------------------------------------------------
# Constants of the write-verify path, packed into one int64 array ``wp`` (update.py
# builds it from the spec and the firmware's constants).
WP_ROWS, WP_COLS, WP_GCODE_MAX, WP_GMIN_NOM, WP_GMAX_NOM = 0, 1, 2, 3, 4
WP_VTH_SET, WP_VTH_RESET, WP_K_SET, WP_K_RESET, WP_WC_MAX = 5, 6, 7, 8, 9
WP_AMP_LO, WP_AMP_TOP, WP_WV_MAX_COUNT, WP_PULSE_COUNT_MAX = 10, 11, 12, 13
WP_SET_AMP, WP_RESET_AMP, WP_TOL, WP_READ_SIGMA, WP_PULSE_SIGMA, WP_SEED = \
    14, 15, 16, 17, 18, 19
WP_STUCK_CHECK, WP_STUCK_MARGIN, WP_STUCK_ROUNDS = 20, 21, 22
WP_SIZE = 23
# counters of the write-verify kernels: reads, PULSE commands, pulses, weights updated,
# cells missed, cells found stuck, weights retired
CNT_STUCK, CNT_RETIRED, CNT_SIZE = 5, 6, 7


@njit(cache=True)
def pulse_plan(step, g, is_set, wp):
    """firmware update.pulse_plan: (amplitude mV, count) of a move of ``step`` codes."""
    if is_set:
        span = wp[WP_GMAX_NOM] - g
        k, vth = wp[WP_K_SET], wp[WP_VTH_SET]
    else:
        span = g - wp[WP_GMIN_NOM]
        k, vth = wp[WP_K_RESET], wp[WP_VTH_RESET]
    if span < 8:
        span = 8
    a = (step << 16) // span
    amp_hi = wp[WP_AMP_TOP]
    od = (a << 4) // k
    if vth + od <= amp_hi:
        return min(max(vth + od, wp[WP_AMP_LO]), amp_hi), 1
    a_hi = ((amp_hi - vth) * k) >> 4
    return amp_hi, min(max(a // a_hi, 1), wp[WP_WV_MAX_COUNT])


@njit(cache=True)
def _pulse(g, wc, cell, n, amp, is_set, gmin, gmax, fset, freset, stuck, wp):
    if is_set:
        pulse_cell(g, wc, cell, n, amp, True, 1, gmin[cell], gmax[cell], fset[cell],
                   stuck[cell], wp[WP_SEED], wp[WP_PULSE_SIGMA], wp[WP_VTH_SET], wp[WP_K_SET],
                   wp[WP_WC_MAX])
    else:
        pulse_cell(g, wc, cell, n, amp, False, 1, gmin[cell], gmax[cell], freset[cell],
                   stuck[cell], wp[WP_SEED], wp[WP_PULSE_SIGMA], wp[WP_VTH_RESET],
                   wp[WP_K_RESET], wp[WP_WC_MAX])


@njit(cache=True)
def no_move(d0, moved, g, wp):
    """firmware stuck._no_move: the stuck-cell test of a cell outside at every read."""
    if d0 > 0:
        return 2 * moved < d0 and g < wp[WP_GMAX_NOM] - wp[WP_STUCK_MARGIN]
    return 2 * moved > d0 and g > wp[WP_GMIN_NOM] + wp[WP_STUCK_MARGIN]


@njit(cache=True)
def write_verify(g, wc, tile, row, c0, nc, tgt, npols, iters, rb, have_read, op, gmin, gmax,
                 fset, freset, stuck, wp, counters, found):
    """firmware Updater.write_verify of one row: program columns c0 + j with tgt[pol, j]
    >= 0 to within +-tol, at most ``iters`` rounds of (read, pulse every cell outside).
    ``rb`` (nc, 2): the row's read in hand when ``have_read``.  ``op``: the op counter
    (reads and PULSE commands advance it).  counters += [reads, pulse commands, pulses].
    ``found`` (nc): bit pol set for each cell found stuck (firmware stuck.py: suspects
    of the regular rounds get WP_STUCK_ROUNDS more of their own).
    Returns (cells outside tolerance at the last read of the regular rounds, op)."""
    g0 = np.zeros((nc, 2), dtype=np.int64)
    nout = np.zeros((nc, 2), dtype=np.int64)
    check = wp[WP_STUCK_CHECK] != 0 and iters > 0
    found[:nc] = 0
    left, op = wv_rounds(g, wc, tile, row, c0, nc, tgt, npols, iters, rb, have_read, op,
                         gmin, gmax, fset, freset, stuck, wp, counters, found, g0, nout,
                         True, iters + 1, check)
    if check:
        hit = False
        for j in range(nc):
            if found[j] != 0:
                hit = True
        if hit:
            stgt = np.full((2, nc), -1, dtype=np.int64)
            for j in range(nc):
                for pol in range(npols):
                    if found[j] >> pol & 1:
                        stgt[pol, j] = tgt[pol, j]
            found[:nc] = 0
            extra = wp[WP_STUCK_ROUNDS]
            _l, op = wv_rounds(g, wc, tile, row, c0, nc, stgt, npols, extra, rb, True, op,
                               gmin, gmax, fset, freset, stuck, wp, counters, found, g0, nout,
                               False, iters + 1 + extra, True)
    return left, op


@njit(cache=True)
def wv_rounds(g, wc, tile, row, c0, nc, tgt, npols, iters, rb, have_read, op, gmin, gmax,
              fset, freset, stuck, wp, counters, found, g0, nout, first, nreads, check):
    """The rounds of write_verify (firmware Updater._rounds, stuck.StuckCheck.track);
    ``first``: g0 and nout start here (else round 0 is the previous call's last read, not
    counted again)."""
    rows, cols, tol = wp[WP_ROWS], wp[WP_COLS], wp[WP_TOL]
    top = wp[WP_AMP_TOP]
    coarse = np.zeros(nc, dtype=np.int64)
    fine = np.zeros(nc, dtype=np.int64)  # +1 SET, -1 RESET
    left = 0
    for it in range(iters + 1):
        if it > 0 or not have_read:
            read_row_k(g, tile, row, c0, nc, rows, cols, op, wp[WP_SEED], wp[WP_READ_SIGMA],
                       wp[WP_GCODE_MAX], rb)
            op = (op + 1) & _M32
            counters[0] += 1
        left = 0
        for pol in range(npols):
            coarse[:] = 0
            fine[:] = 0
            s_err = r_err = np.int64(1) << 20
            s_g = r_g = 0
            any_c = any_f = False
            for j in range(nc):
                t = tgt[pol, j]
                if t < 0:
                    continue
                gj = rb[j, pol]
                d = t - gj
                if it == 0 and first:
                    g0[j, pol] = gj
                    nout[j, pol] = 0
                if -tol <= d <= tol:
                    continue
                if it > 0 or first:
                    nout[j, pol] += 1
                left += 1
                if it == iters:
                    if check and nout[j, pol] == nreads and no_move(t - g0[j, pol],
                                                                    gj - g0[j, pol], gj, wp):
                        found[j] |= 1 << pol
                    continue
                if d > 0:
                    n = pulse_plan(d, gj, True, wp)[1]
                    if n > 1:
                        coarse[j] = n
                        any_c = True
                    else:
                        fine[j] = 1
                        any_f = True
                        if d < s_err:
                            s_err, s_g = d, gj
                else:
                    n = pulse_plan(-d, gj, False, wp)[1]
                    if n > 1:
                        coarse[j] = -n
                        any_c = True
                    else:
                        fine[j] = -1
                        any_f = True
                        if -d < r_err:
                            r_err, r_g = -d, gj
            if it == iters:
                continue
            if any_c:
                ncmd = schedule_len(np.abs(coarse), wp[WP_PULSE_COUNT_MAX])
                op = (op + ncmd) & _M32
                counters[1] += ncmd
                for j in range(nc):
                    if coarse[j] != 0:
                        cell = ((tile * rows + row) * cols + c0 + j) * 2 + pol
                        _pulse(g, wc, cell, abs(coarse[j]), top, coarse[j] > 0, gmin, gmax,
                               fset, freset, stuck, wp)
                        counters[2] += abs(coarse[j])
            if any_f:
                sa = pulse_plan(s_err, s_g, True, wp)[0] if s_err < (1 << 20) \
                    else wp[WP_SET_AMP]
                ra = pulse_plan(r_err, r_g, False, wp)[0] if r_err < (1 << 20) \
                    else wp[WP_RESET_AMP]
                op = (op + 1) & _M32
                counters[1] += 1
                for j in range(nc):
                    if fine[j] != 0:
                        cell = ((tile * rows + row) * cols + c0 + j) * 2 + pol
                        _pulse(g, wc, cell, 1, sa if fine[j] > 0 else ra, fine[j] > 0, gmin,
                               gmax, fset, freset, stuck, wp)
                        counters[2] += 1
        if left == 0:
            return 0, op
    return left, op


@njit(cache=True)
def _mark(stk, r, c, f, counters):
    if stk[r, c] == 0:
        counters[CNT_RETIRED] += 1
    stk[r, c] |= f
    counters[CNT_STUCK] += (f & 1) + (f >> 1)


@njit(cache=True)
def retire_row(g, wc, tile, row, c0, nc, stk, r, cb, found, iters, rb, op, gmin, gmax, fset,
               freset, stuck, wp, counters):
    """firmware stuck.StuckCheck.retire: record the cells the last write_verify of this row found
    stuck in the layer's map ``stk`` (weights (r, cb + j); 1 G+, 2 G-) and write-verify
    each one's partner to its read (``rb``: that call's last read).  Returns op."""
    hit = False
    for j in range(nc):
        if found[j] != 0:
            hit = True
            break
    if not hit:
        return op
    tgt = np.full((2, nc), -1, dtype=np.int64)
    for j in range(nc):
        f = found[j]
        if f == 0:
            continue
        _mark(stk, r, cb + j, f, counters)
        if f == 1:
            tgt[1, j] = rb[j, 0]
        elif f == 2:
            tgt[0, j] = rb[j, 1]
    _left, op = write_verify(g, wc, tile, row, c0, nc, tgt, 2, iters + wp[WP_STUCK_ROUNDS],
                             rb, False, op, gmin, gmax, fset, freset, stuck, wp, counters,
                             found)
    for j in range(nc):
        if found[j] != 0:
            _mark(stk, r, cb + j, found[j], counters)
    return op


@njit(cache=True)
def program_layer(g, wc, btab, targets, ref, iters, op, gmin, gmax, fset, freset, stuck, wp,
                  counters, stk):
    """Updater.program_initial for one layer: every pair of each block row to
    (targets[...], ref), write-verified; ``targets`` in the firmware's draw order
    (blocks, rows, columns); stuck cells found are recorded in ``stk`` and their
    weights retired (retire_row).  Returns (cells outside at the last reads, op)."""
    miss = 0
    k = 0
    rb = np.zeros((wp[WP_COLS], 2), dtype=np.int64)
    found = np.zeros(wp[WP_COLS], dtype=np.int64)
    for b in range(btab.shape[0]):
        tile, r0, nr, c0, nc, tc0 = btab[b, 0], btab[b, 1], btab[b, 2], btab[b, 3], \
            btab[b, 4], btab[b, 5]
        tgt = np.empty((2, nc), dtype=np.int64)
        for i in range(nr):
            for j in range(nc):
                tgt[0, j] = targets[k]
                tgt[1, j] = ref
                k += 1
            left, op = write_verify(g, wc, tile, i, tc0, nc, tgt, 2, iters, rb[:nc], False,
                                    op, gmin, gmax, fset, freset, stuck, wp, counters, found)
            miss += left
            if wp[WP_STUCK_CHECK] != 0:
                op = retire_row(g, wc, tile, i, tc0, nc, stk, r0 + i, c0, found, iters,
                                rb[:nc], op, gmin, gmax, fset, freset, stuck, wp, counters)
    return miss, op


@njit(cache=True)
def wv_update(acc, writes, btab, thr, frac, iters, op, g, wc, gmin, gmax, fset, freset, stuck,
              wp, counters, stk):
    """Updater._apply_wv for one layer: every block row with an accumulator at or past
    +-thr is read, its crossing cells get the target G+ + round(acc) (clamped to the
    nominal range), their accumulators clear, and the row is write-verified.
    counters += [reads, pulse commands, pulses, weights updated, cells missed].
    Returns op."""
    half = (np.int64(1) << (frac - 1)) if frac > 0 else np.int64(0)
    rb = np.zeros((wp[WP_COLS], 2), dtype=np.int64)
    found = np.zeros(wp[WP_COLS], dtype=np.int64)
    for b in range(btab.shape[0]):
        tile, r0, nr, c0, nc, tc0 = btab[b, 0], btab[b, 1], btab[b, 2], btab[b, 3], \
            btab[b, 4], btab[b, 5]
        tgt = np.full((1, nc), -1, dtype=np.int64)
        for i in range(nr):
            hit = False
            for j in range(nc):
                a = acc[r0 + i, c0 + j]
                if a >= thr or a <= -thr:
                    if stk[r0 + i, c0 + j] != 0:  # retired: cleared, not written
                        acc[r0 + i, c0 + j] = 0
                        continue
                    hit = True
                    break
            if not hit:
                continue
            read_row_k(g, tile, i, tc0, nc, wp[WP_ROWS], wp[WP_COLS], op, wp[WP_SEED],
                       wp[WP_READ_SIGMA], wp[WP_GCODE_MAX], rb[:nc])
            op = (op + 1) & _M32
            counters[0] += 1
            for j in range(nc):
                a = acc[r0 + i, c0 + j]
                if (a >= thr or a <= -thr) and stk[r0 + i, c0 + j] != 0:
                    acc[r0 + i, c0 + j] = 0
                    tgt[0, j] = -1
                elif a >= thr or a <= -thr:
                    d = (a + half) >> frac
                    tgt[0, j] = min(max(rb[j, 0] + d, wp[WP_GMIN_NOM]), wp[WP_GMAX_NOM])
                    acc[r0 + i, c0 + j] = 0
                    counters[3] += 1
                    writes[r0 + i, c0 + j] += 1
                else:
                    tgt[0, j] = -1
            left, op = write_verify(g, wc, tile, i, tc0, nc, tgt, 1, iters, rb[:nc], True, op,
                                    gmin, gmax, fset, freset, stuck, wp, counters, found)
            counters[4] += left
            if wp[WP_STUCK_CHECK] != 0:
                op = retire_row(g, wc, tile, i, tc0, nc, stk, r0 + i, c0, found, iters,
                                rb[:nc], op, gmin, gmax, fset, freset, stuck, wp, counters)
    return op
