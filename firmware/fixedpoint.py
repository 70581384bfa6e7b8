"""Fixed-point formats of the training firmware, and the small helpers that use them.

Integers only: no float literal, float division or float value anywhere in firmware/.
Every format is written down here once (and in docs/training.md); tests check the
helpers at their edges (tests/test_fixedpoint.py, under CPython and the unix port).

    from fixedpoint import sat, rshift_round, softmax_xent_err
    sat(300, -128, 127)            # -> 127
    rshift_round(-5, 1)            # -> -2  (round half up: -2.5 -> -2)

Formats
-------
pixel, activation   uint8 code 0..255, one DAC input line (unsigned VMM input).
ADC output          int8 code -128..127 (the macro's OUTBUF); a layer's pre-activation is
                    the digital sum of the ADC codes of its row splits (int, unbounded).
logit               the last layer's pre-activation; LOGIT_SHIFT codes-per-nat scaling:
                    softmax(z) uses exp(-d / 2**LOGIT_SHIFT) for d = zmax - z_i.
probability         Q0.16 unsigned (65536 = 1.0), from the EXP_Q16 table.
error code          int8 -127..127 (signed VMM input, CMD.SIGNED) with a per-sample,
                    per-layer exponent ``e``: true error ~ code * 2**-e (block floating
                    point).  The output layer's error is (p - onehot) >> OUT_ERR_SHIFT.
accumulator         signed ACC_BITS (8 or 16) integer, saturating at +-(2**(ACC_BITS-1)-1),
                    in units of 2**-ACC_FRAC conductance codes, ACC_FRAC = ACC_BITS - 8:
                    every width spans +-128 codes; wider accumulators are finer.
weight              G+ - G- in conductance codes (GCODE_BITS-bit cells, differential pair).

Rounding: right shifts round half up (floor(v / 2**s + 1/2)), as the macro's ADC does.
Saturation, never wrap: sat() at every narrowing.
"""

try:
    from micropython import const
except ImportError:  # CPython: the unit tests import this module directly
    def const(x):
        return x

LOGIT_SHIFT = const(4)        # 16 logit codes per nat
OUT_ERR_SHIFT = const(9)      # Q0.16 probability error -> int8 error code (65536 >> 9 = 128)
ERR_MAX = const(127)          # largest error code magnitude (int8, symmetric)
_EXP_STEP_Q30 = const(1008687096)  # round(2**30 * exp(-1 / 16)): one logit code of decay
_Q16_ONE = const(65536)


def sat(v, lo, hi):
    """Clamp v to [lo, hi]."""
    if v < lo:
        return lo
    if v > hi:
        return hi
    return v


def sat_bits(v, bits):
    """Saturate v to a signed ``bits``-bit integer, symmetric: +-(2**(bits-1) - 1)."""
    m = (1 << (bits - 1)) - 1
    if v > m:
        return m
    if v < -m:
        return -m
    return v


def rshift_round(v, s):
    """v / 2**s rounded half up; s <= 0 shifts left (exact)."""
    if s <= 0:
        return v << -s
    return (v + (1 << (s - 1))) >> s


def s8(b):
    """A byte (0..255) read as int8."""
    return b - 256 if b > 127 else b


def _exp_table():
    # A Q30 running product, rounded to Q16 per entry: a Q16 product would accumulate
    # 8 LSB of error and stall at 2 in the tail (round half up of 2 * 0.94 is 2).
    t = [0] * 256
    v = 1 << 30
    for d in range(256):
        t[d] = (v + (1 << 13)) >> 14
        v = (v * _EXP_STEP_Q30 + (1 << 29)) >> 30
    return t


EXP_Q16 = _exp_table()  # EXP_Q16[d] = round(65536 * exp(-d / 16)) (+-1); d >= 256 -> 0


def softmax_q16(z, out):
    """Probabilities (Q0.16, sum within a few LSB of 65536) of logits z into out."""
    n = len(z)
    zmax = z[0]
    for i in range(1, n):
        if z[i] > zmax:
            zmax = z[i]
    total = 0
    for i in range(n):
        d = zmax - z[i]
        e = EXP_Q16[d] if d < 256 else 0
        out[i] = e
        total += e
    for i in range(n):  # total >= 65536 (the max logit contributes 1.0)
        out[i] = (out[i] * _Q16_ONE + (total >> 1)) // total
    return out


def softmax_xent_err(z, label, prob, err):
    """Softmax cross-entropy gradient: err[i] = sat8((p_i - [i == label]) >> OUT_ERR_SHIFT).

    ``prob`` (Q0.16) and ``err`` (int8 codes) are caller-owned lists of len(z).
    Returns the probability of the label (Q0.16), for the loss and progress lines.
    """
    softmax_q16(z, prob)
    for i in range(len(z)):
        d = prob[i] - (_Q16_ONE if i == label else 0)
        err[i] = sat(rshift_round(d, OUT_ERR_SHIFT), -ERR_MAX, ERR_MAX)
    return prob[label]


def absmax(v, n):
    """Largest |v[i]| of v[0:n] (0 for none)."""
    m = 0
    for i in range(n):
        a = v[i]
        if a < 0:
            a = -a
        if a > m:
            m = a
    return m


def normalize_err(err, n, target_bits=7):
    """Scale err[0:n] in place so its largest magnitude is in [2**(b-1), 2**b - 1].

    Returns the shift k applied (err * 2**k; negative k shifts right, rounding half up),
    so that the caller can track the block exponent.  All-zero err: returns 0, no change.
    """
    m = absmax(err, n)
    if m == 0:
        return 0
    k = 0
    hi = (1 << target_bits) - 1
    lo = 1 << (target_bits - 1)
    while m > hi:
        m = (m + 1) >> 1
        k -= 1
    while m < lo:
        m <<= 1
        k += 1
    if k > 0:
        for i in range(n):
            err[i] <<= k
    elif k < 0:
        for i in range(n):
            err[i] = sat(rshift_round(err[i], -k), -hi, hi)
    return k


def ilog2(v):
    """floor(log2(v)) for v >= 1; -1 for v <= 0."""
    n = -1
    while v > 0:
        v >>= 1
        n += 1
    return n


def ln_q8(p_q16):
    """-ln(p) in Q8.8 for a Q0.16 probability p (1..65536), for the loss (cross-entropy).

    Uses the EXP_Q16 table in reverse: the smallest d with EXP_Q16[d] <= p gives
    -ln(p) ~ d / 16; resolution 1/16 nat, saturating at 16 nats.
    """
    if p_q16 <= 0:
        return 16 << 8
    d = 0
    while d < 255 and EXP_Q16[d] > p_q16:
        d += 1
    return d << (8 - LOGIT_SHIFT)


class XorShift32:
    """xorshift32 PRNG (Marsaglia): weight initialisation and data shuffling, integers only."""

    def __init__(self, seed):
        self.s = (seed & 0xFFFFFFFF) or 0x9E3779B9

    def next(self):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.s = s
        return s

    def below(self, n):
        """Uniform integer in [0, n) (n < 2**16, bias < 2**-16)."""
        return ((self.next() >> 16) * n) >> 16

    def symmetric(self, a):
        """Uniform integer in [-a, a]."""
        return self.below(2 * a + 1) - a
