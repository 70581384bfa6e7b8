"""HAL backend of the SoC: the macro's registers memory-mapped at board.BASE (uctypes).

    import hal_mmio; bus = hal_mmio.Mmio(board.BASE)   # board.py's bus() does this

The API, the errors and the ID check are hal.py's; this is the transport only.  A bus
error is the CPU's fault; wait_done and flush also check ERR_CODE and raise BusError.
"""

import sys
import time

import board
from cim_regs import CIM_WINDOW_BYTES, ERR_CODE_CODE_MSK, R_ERR_CODE, R_STATUS, STATUS_BUSY_MSK
from hal import HalError, HalTimeout, bus_error, is_bytes, u32_at, wr32_range


class Mmio:
    """The SoC: the macro's registers at ``base``."""

    def __init__(self, base):
        if sys.platform == "linux" and not getattr(board, "UNIX_OK", False):
            raise HalError("board.py drives the SoC's registers at 0x%08x, which the unix "
                           "port does not have: run the firmware with python -m "
                           "cimtrain.bridge.launch" % base)
        self._w = u32_at(base, CIM_WINDOW_BYTES >> 2)
        self._poll = getattr(board, "WAIT_POLL_US", 1)

    def rd32(self, off):
        return self._w[off >> 2]

    def wr32(self, off, val):
        if val >> 32:       # negative or wider than 32 bits (the store keeps 32 silently)
            raise wr32_range(off, val)
        self._w[off >> 2] = val

    def wr_burst(self, off, data, fixed=False):
        w, j, step = self._w, off >> 2, 0 if fixed else 1
        if is_bytes(data):
            for k in range(0, len(data) & ~3, 4):
                w[j] = data[k] | data[k + 1] << 8 | data[k + 2] << 16 | data[k + 3] << 24
                j += step
        else:
            for v in data:
                w[j] = v
                j += step

    def rd_burst(self, off, buf, fixed=False):
        if isinstance(buf, int):
            buf = [0] * buf
        w, j, step = self._w, off >> 2, 0 if fixed else 1
        if is_bytes(buf):
            for k in range(0, len(buf) & ~3, 4):
                v = w[j]
                buf[k] = v & 0xFF
                buf[k + 1] = (v >> 8) & 0xFF
                buf[k + 2] = (v >> 16) & 0xFF
                buf[k + 3] = v >> 24
                j += step
        else:
            for k in range(len(buf)):
                buf[k] = w[j]
                j += step
        return buf

    def wr_words(self, off, words, first, n):
        w, j = self._w, (off >> 2) + first
        for x in range(first, first + n):
            w[j] = words[x]
            j += 1

    def rd_words(self, off, words, first, n):
        w, j = self._w, (off >> 2) + first
        for x in range(first, first + n):
            words[x] = w[j]
            j += 1

    def wait_done(self, timeout_ms, posted=False):  # MMIO: always polls (posted: no-op)
        w, t0 = self._w, time.ticks_ms()
        while w[R_STATUS >> 2] & STATUS_BUSY_MSK:
            if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:
                raise HalTimeout("CIM command not done within %d ms" % timeout_ms)
            time.sleep_us(self._poll)
        self.flush()

    def flush(self):
        if self._w[R_ERR_CODE >> 2] & ERR_CODE_CODE_MSK:
            raise bus_error(self, "access", None, None, 1)
