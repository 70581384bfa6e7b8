"""CIM macro driver: VMMs, row reads and programming pulses on crossbar tiles.

One class over hal.py (which picks the board backend).  Configuration registers are
shadowed: a write is issued only when the value changes, so a conv layer's hundreds
of VMMs on one window cost one INBUF burst, CMD, wait and one OUTBUF burst each.

    import cim
    m = cim.Cim(seed=1)
    m.inbuf[0:3] = b"\\x01\\x02\\x03"
    out = m.vmm_fwd(tile=0, r0=0, nr=3, c0=0, nc=8, shift=8)   # -> m.outbuf (bytes, int8)
    g = m.read_row(tile=0, row=0, c0=0, nc=8)                   # -> m.readbuf words

Waits are posted (hal.wait_done(..., posted=True)): the virtual board runs the ring in
order, so only the result reads block, one round trip per VMM instead of two.
INBUF is shadowed too: a VMM writes only the INBUF words whose contents changed since
the last write (23% of the words of a LeNet-5 training image are unchanged, each a bus
write: about 60 us of Icarus time; docs/training.md "Where the time goes").
Counters (``m.n_vmm``, ``n_read``, ``n_pulse_ops``, ``n_pulses``) feed the summary.
Buffers are allocated once here and reused, with word views (uctypes) for the HAL's
word transfers: no allocation per operation.
"""

from array import array

import hal
import uctypes
from cim_regs import (
    B_INBUF,
    B_INBUF_WORDS,
    B_OUTBUF,
    B_OUTBUF_WORDS,
    B_READBUF,
    B_READBUF_WORDS,
    CMD_POL_POS,
    CMD_SIGNED_MSK,
    OP_PULSE,
    OP_READ_ROW,
    OP_VMM_FWD,
    OP_VMM_TRANS,
    R_ADC_GAIN,
    R_ADC_OFFSET,
    R_ADC_SHIFT,
    R_CMD,
    R_COL_COUNT,
    R_COL_START,
    R_HWCFG,
    R_NOISE_ADC_SIGMA,
    R_NOISE_PULSE_SIGMA,
    R_NOISE_READ_SIGMA,
    R_PULSE_COUNT,
    R_PULSE_RESET_AMP,
    R_PULSE_RESET_MASK_HI,
    R_PULSE_RESET_MASK_LO,
    R_PULSE_ROW,
    R_PULSE_SET_AMP,
    R_PULSE_SET_MASK_HI,
    R_PULSE_SET_MASK_LO,
    R_PULSE_WIDTH,
    R_ROW_COUNT,
    R_ROW_START,
    R_SEED,
    R_TILE,
    unpack_hwcfg,
)
from micropython import const

_WAIT_MS = const(10)      # device time per command: far above the longest (a 255-pulse op)
_M32 = const(0xFFFFFFFF)


def _words(buf):
    """A little-endian uint32 view of a bytearray (4 codes a word, line 0 in bits 7:0)."""
    return uctypes.struct(uctypes.addressof(buf),
                          {"w": (uctypes.ARRAY | 0, uctypes.UINT32 | (len(buf) >> 2))},
                          uctypes.LITTLE_ENDIAN).w


class Cim:
    def __init__(self, seed, noise=None):
        self.ntiles, self.rows, self.cols = unpack_hwcfg(hal.rd32(R_HWCFG))
        self._shadow = {}
        self.inbuf = bytearray(4 * B_INBUF_WORDS)     # one code a line
        self.outbuf = bytearray(4 * B_OUTBUF_WORDS)
        self.readbuf = bytearray(4 * B_READBUF_WORDS)  # one word a column
        self._inw = _words(self.inbuf)
        self._outw = _words(self.outbuf)
        self._rdw = _words(self.readbuf)
        # What INBUF holds: cleared here, then changed only by _load (the macro has no
        # soft reset; a hardware reset restarts the firmware too).
        self._insh = array("I", bytes(4 * B_INBUF_WORDS))
        hal.wr_words(B_INBUF, self._insh, 0, B_INBUF_WORDS)
        self.n_vmm = self.n_read = self.n_pulse_ops = self.n_pulses = 0
        self.set(R_SEED, seed)
        self.set(R_ADC_GAIN, 1)
        self.set(R_ADC_OFFSET, 0)
        if noise is not None:  # (read, pulse, adc) sigmas in Q8.8; None keeps the defaults
            self.set(R_NOISE_READ_SIGMA, noise[0])
            self.set(R_NOISE_PULSE_SIGMA, noise[1])
            self.set(R_NOISE_ADC_SIGMA, noise[2])

    def set(self, reg, val):
        """Posted write of a configuration register, skipped when unchanged."""
        if self._shadow.get(reg) != val:
            hal.wr32(reg, val)
            self._shadow[reg] = val

    def _window(self, tile, r0, nr, c0, nc):
        self.set(R_TILE, tile)
        self.set(R_ROW_START, r0)
        self.set(R_ROW_COUNT, nr)
        self.set(R_COL_START, c0)
        self.set(R_COL_COUNT, nc)

    def _load(self, first, n):
        """INBUF lines [first, first + n) from self.inbuf (whole words): one burst per run
        of words that differ from what INBUF holds."""
        inw, sh = self._inw, self._insh
        w = first >> 2
        w1 = (first + n + 3) >> 2
        while w < w1:
            if inw[w] == sh[w]:
                w += 1
                continue
            a = w
            while w < w1 and inw[w] != sh[w]:
                sh[w] = inw[w]
                w += 1
            hal.wr_words(B_INBUF, inw, a, w - a)

    def _fetch(self, first, n):
        w0 = first >> 2
        hal.rd_words(B_OUTBUF, self._outw, w0, ((first + n + 3) >> 2) - w0)

    def _vmm(self, op, tile, r0, nr, c0, nc, shift, first_in, n_in, first_out, n_out):
        self._window(tile, r0, nr, c0, nc)
        self.set(R_ADC_SHIFT, shift)
        self._load(first_in, n_in)
        hal.wr32(R_CMD, op)
        hal.wait_done(_WAIT_MS, True)
        self._fetch(first_out, n_out)
        self.n_vmm += 1
        return self.outbuf

    def vmm_fwd(self, tile, r0, nr, c0, nc, shift, signed=False):
        """Inputs self.inbuf[r0:r0+nr] on rows; ADC codes land in self.outbuf[c0:c0+nc]."""
        return self._vmm(OP_VMM_FWD | (CMD_SIGNED_MSK if signed else 0),
                         tile, r0, nr, c0, nc, shift, r0, nr, c0, nc)

    def vmm_trans(self, tile, r0, nr, c0, nc, shift, signed=True):
        """Inputs self.inbuf[c0:c0+nc] on columns; ADC codes land in self.outbuf[r0:r0+nr]."""
        return self._vmm(OP_VMM_TRANS | (CMD_SIGNED_MSK if signed else 0),
                         tile, r0, nr, c0, nc, shift, c0, nc, r0, nr)

    def read_row(self, tile, row, c0, nc):
        """READ_ROW: self.readbuf word c = G- << 16 | G+ (read codes, with read noise)."""
        self._window(tile, row, 1, c0, nc)
        hal.wr32(R_CMD, OP_READ_ROW)
        hal.wait_done(_WAIT_MS, True)
        hal.rd_words(B_READBUF, self._rdw, c0, nc)
        self.n_read += 1
        return self.readbuf

    def pulse(self, tile, row, pol, set_mask, reset_mask, count, set_amp, reset_amp, width=1):
        """``count`` SET pulses on set_mask columns, then RESET on reset_mask, cell ``pol``."""
        self.set(R_TILE, tile)
        self.set(R_PULSE_ROW, row)
        self.set(R_PULSE_COUNT, count)
        self.set(R_PULSE_WIDTH, width)
        self.set(R_PULSE_SET_AMP, set_amp)
        self.set(R_PULSE_RESET_AMP, reset_amp)
        self.set(R_PULSE_SET_MASK_LO, set_mask & _M32)
        self.set(R_PULSE_SET_MASK_HI, (set_mask >> 32) & _M32)
        self.set(R_PULSE_RESET_MASK_LO, reset_mask & _M32)
        self.set(R_PULSE_RESET_MASK_HI, (reset_mask >> 32) & _M32)
        hal.wr32(R_CMD, OP_PULSE | (pol << CMD_POL_POS))
        hal.wait_done(_WAIT_MS, True)
        self.n_pulse_ops += 1
        self.n_pulses += count * (popcount(set_mask) + popcount(reset_mask))


def popcount(v):
    n = 0
    while v:
        v &= v - 1
        n += 1
    return n
