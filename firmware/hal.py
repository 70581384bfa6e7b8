"""Hardware abstraction layer: the only way firmware touches the CIM macro.

    import hal                                  # checks the ID register
    from cim_regs import *
    hal.wr32(R_TILE, 0)                         # posted write
    tiles = hal.rd32(R_HWCFG) & HWCFG_TILES_MSK  # blocking read
    hal.wr_burst(B_INBUF, codes)                # bytearray (4 bytes a word) or words
    hal.wr32(R_CMD, OP_VMM_FWD)
    hal.wait_done(10)                           # ms of device time, else HalTimeout
    out = hal.rd_burst(B_OUTBUF, bytearray(64))  # fills and returns the buffer
    words = hal.rd_burst(B_READBUF, 16)         # -> list of 16 words
    hal.wr_words(B_INBUF, w, 2, 3)              # w[2:5] to INBUF words 2..4, no allocation
    hal.rd_words(B_OUTBUF, w, 0, 4)             # OUTBUF words 0..3 into w[0:4]
    hal.flush()                                 # every posted write done

This module is the API: the errors, the ID check and the functions above, bound to the
backend (transport) that the ``board`` module returns from ``board.bus()`` (the training
code never chooses):
- hal_mmio.py (board.py with board_cfg BACKEND "mmio", the SoC): uctypes loads and
  stores at board.BASE.  A bus error there is a CPU fault; wait_done and flush also check
  ERR_CODE.
- hal_ring.py (board_cosim.py, or board.py with BACKEND "ring": the virtual board of
  make cosim or make board): the request ring of the bridge window
  the launcher mapped at board.BASE (docs/bridge.md), with uctypes since firmware cannot
  call C.  Writes are posted (the firmware runs ahead of the server); reads, wait_done
  and flush block.  A bus error of any access raises BusError at the next blocking call,
  naming the address of the failing access.  Not on a real board (fwbuild.board_modules).

BusError names the address, the response and the ERR_CODE name; the HAL clears ERR_CODE
after reading it, so that the next error is named right.  HalTimeout names the command,
the timeout and the wait (a posted wait's timeout is raised by the next blocking call,
not left to show as the BUSY errors of the accesses after it).  Integers only.

Values: wr32 takes 0 <= val < 2**32 and raises ValueError naming the register and the
value otherwise (a uctypes store would keep the low 32 bits silently).  The word
helpers (wr_burst, wr_words) are the hot path and do not check: give them bytes,
array("I") or uctypes UINT32 views, which cannot hold anything else; a list or tuple of
words is the caller's to keep in range.
"""

import board
import uctypes
from cim_regs import (
    CIM_BASE,
    CIM_ID,
    CIM_VERSION,
    CIM_WINDOW_BYTES,
    CMD_OPCODE_MSK,
    ERR_CODE_CODE_MSK,
    ERR_NAMES,
    OP_NAMES,
    R_ERR_ADDR,
    R_ERR_CODE,
    R_HWCFG,
    R_ID,
    R_VERSION,
    unpack_version,
)

_RESP_NAMES = ("OKAY", "EXOKAY", "SLVERR", "DECERR")


class HalError(Exception):
    """The macro is missing, of the wrong version, or the HAL is misconfigured."""


class BusError(HalError):
    """SLVERR/DECERR on an access: ``addr`` (byte offset), ``resp``, ``code`` (ERR_CODE)."""

    def __init__(self, msg, addr, resp, code):
        super().__init__(msg)
        self.addr = addr
        self.resp = resp
        self.code = code


class BridgeError(HalError):
    """Virtual board: the bridge server died, hung or failed, or the window is wrong."""


class HalTimeout(HalError):
    """wait_done: the command was not done within the timeout (the message names the
    command, the timeout and the wait; a posted wait's timeout is raised by the next
    blocking call)."""


# -- for the backends ---------------------------------------------------------------------
def u32_at(addr, words):
    """uint32 array view of ``words`` words at ``addr`` (native byte order)."""
    return uctypes.struct(addr, {"w": (uctypes.ARRAY | 0, uctypes.UINT32 | words)}).w


def is_bytes(buf):
    return isinstance(buf, (bytes, bytearray, memoryview))


def bus_error(bus, what, addr, resp, more):
    """BusError for the access ``what`` at ``addr``, named from ERR_CODE (then cleared)."""
    if addr is not None and addr >= CIM_WINDOW_BYTES:   # the interconnect answered
        return BusError("bus error: %s 0x%04x -> %s, outside the macro's window"
                        % (what, addr, _RESP_NAMES[resp & 3]), addr, resp, 0)
    code = bus.rd32(R_ERR_CODE) & ERR_CODE_CODE_MSK
    eaddr = bus.rd32(R_ERR_ADDR)
    bus.wr32(R_ERR_CODE, 0)
    if addr is None:
        addr = eaddr
    name = ERR_NAMES[code] if code < len(ERR_NAMES) else str(code)
    msg = "bus error: %s 0x%04x" % (what, addr)
    if resp is not None:
        msg += " -> " + _RESP_NAMES[resp & 3]
    msg += ", ERR_CODE " + name
    if code and eaddr != addr:
        msg += " (ERR_ADDR 0x%04x)" % eaddr
    if more > 1:
        msg += " (and %d more errors)" % (more - 1)
    return BusError(msg, addr, resp, code)


def wr32_range(off, val):
    """wr32's error for a value that is negative or wider than 32 bits."""
    return ValueError("wr32 0x%04x: value %d is not a 32-bit word (allowed 0 .. 0xffffffff)"
                      % (off, val))


def wait_timeout(bus, timeout_ms, cmd, seq, posted, more):
    """HalTimeout for a wait_done (request ``seq``) whose command, CMD word ``cmd``, still
    ran after ``timeout_ms`` of device time.  ``more``: errors counted with it (accesses
    the busy macro refused after a posted wait); ERR_CODE, which they set, is cleared as
    bus_error does."""
    op = cmd & CMD_OPCODE_MSK
    name = OP_NAMES[op] if op < len(OP_NAMES) and OP_NAMES[op] else "?"
    msg = ("CIM command %s (CMD 0x%x) not done within %d ms of device time (%s, request %d)"
           % (name, cmd, timeout_ms, "posted wait_done, reported at the next blocking call"
              if posted else "wait_done", seq))
    if more > 1:
        bus.wr32(R_ERR_CODE, 0)
        msg += " (and %d more errors)" % (more - 1)
    return HalTimeout(msg)


# -- the API: the board's backend ------------------------------------------------------------
# board.bus() imports its backend module, which imports the errors above from this
# (partly initialised) module: that is why they come first.
_bus = board.bus()
BACKEND = board.BACKEND
rd32 = _bus.rd32
wr32 = _bus.wr32
rd_burst = _bus.rd_burst
wr_burst = _bus.wr_burst
rd_words = _bus.rd_words
wr_words = _bus.wr_words
wait_done = _bus.wait_done
flush = _bus.flush


def check_id():
    """Check ID and VERSION; returns HWCFG.  Runs at import."""
    v = rd32(R_ID)
    if v != CIM_ID:
        raise HalError("CIM macro not found at 0x%08x: ID reads 0x%08x, expected 0x%08x "
                       "('CIM1')" % (getattr(board, "BASE", CIM_BASE), v, CIM_ID))
    _, minor, major = unpack_version(rd32(R_VERSION))
    _, fw_minor, fw_major = unpack_version(CIM_VERSION)
    if major != fw_major:
        raise HalError("CIM macro register map %d.%d, firmware built for %d.%d"
                       % (major, minor, fw_major, fw_minor))
    return rd32(R_HWCFG)


check_id()
