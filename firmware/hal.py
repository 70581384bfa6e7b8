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
    hal.flush()                                 # every posted write done

The backend comes from the ``board`` module (never from the training code):
- ``BACKEND = "mmio"`` (board.py, the SoC): uctypes loads and stores at board.BASE.
  A bus error there is a CPU fault; wait_done and flush also check ERR_CODE.
- ``BACKEND = "ring"`` (board_cosim.py, the virtual board): the request ring of the
  bridge window the launcher mapped at board.BASE (docs/bridge.md), with uctypes since
  firmware cannot call C.  Writes are posted (the firmware runs ahead of the server);
  reads, wait_done and flush block.  A bus error of any access raises BusError at the
  next blocking call, naming the address of the failing access.

BusError names the address, the response and the ERR_CODE name; the HAL clears ERR_CODE
after reading it, so that the next error is named right.  Integers only.
"""

import sys
import time

import board
import uctypes
from cim_regs import (
    CIM_BASE,
    CIM_ID,
    CIM_VERSION,
    CIM_WINDOW_BYTES,
    ERR_CODE_CODE_MSK,
    ERR_NAMES,
    R_ERR_ADDR,
    R_ERR_CODE,
    R_HWCFG,
    R_ID,
    R_STATUS,
    R_VERSION,
    STATUS_BUSY_MSK,
)
from micropython import const

# Bridge protocol (host_tools/cimtrain/bridge/protocol.py; tests check this copy)
_BR_MAGIC = const(0x424D4943)
_BR_VERSION = const(0x00010000)
_BR_H_MAGIC = const(0x000)
_BR_H_VERSION = const(0x004)
_BR_H_SERVER_PID = const(0x008)
_BR_H_RING_OFF = const(0x010)
_BR_H_RING_WORDS = const(0x014)
_BR_H_RDBUF_OFF = const(0x018)
_BR_H_RDBUF_WORDS = const(0x01C)
_BR_H_MAX_BURST = const(0x02C)
_BR_H_FW_STATE = const(0x084)
_BR_H_FW_ALARM = const(0x090)
_BR_H_ERR_ACK = const(0x094)
_BR_H_HEAD = const(0x0C0)
_BR_H_TAIL = const(0x100)
_BR_H_FETCH_SEQ = const(0x104)
_BR_H_DONE_SEQ = const(0x140)
_BR_H_RSP_STATUS = const(0x144)
_BR_H_ERR_COUNT = const(0x180)
_BR_H_ERR_SEQ = const(0x184)
_BR_H_ERR_OP = const(0x188)
_BR_H_ERR_ADDR = const(0x18C)
_BR_H_ERR_RESP = const(0x190)
_BR_H_MSG = const(0x800)
_BR_MSG_BYTES = const(0x800)
_BR_REC_SEQ_SHIFT = const(16)
_BR_REC_OP_SHIFT = const(12)
_BR_OP_WRITE = const(1)
_BR_OP_WRITE_FIXED = const(2)
_BR_OP_READ = const(3)
_BR_OP_READ_FIXED = const(4)
_BR_OP_WAIT = const(5)
_BR_RSP_TIMEOUT = const(1)
_BR_FW_ATTACHED = const(1)
_BR_ALARM_SERVER_GONE = const(1)
_BR_ALARM_SERVER_HUNG = const(2)
_BR_ALARM_SERVER_FAILED = const(3)

# header word indices
_W_MAGIC = const(_BR_H_MAGIC >> 2)
_W_VERSION = const(_BR_H_VERSION >> 2)
_W_SERVER_PID = const(_BR_H_SERVER_PID >> 2)
_W_FW_STATE = const(_BR_H_FW_STATE >> 2)
_W_FW_ALARM = const(_BR_H_FW_ALARM >> 2)
_W_ERR_ACK = const(_BR_H_ERR_ACK >> 2)
_W_HEAD = const(_BR_H_HEAD >> 2)
_W_TAIL = const(_BR_H_TAIL >> 2)
_W_FETCH_SEQ = const(_BR_H_FETCH_SEQ >> 2)
_W_DONE_SEQ = const(_BR_H_DONE_SEQ >> 2)
_W_RSP_STATUS = const(_BR_H_RSP_STATUS >> 2)
_W_ERR_COUNT = const(_BR_H_ERR_COUNT >> 2)
_W_ERR_SEQ = const(_BR_H_ERR_SEQ >> 2)
_W_ERR_OP = const(_BR_H_ERR_OP >> 2)
_W_ERR_ADDR = const(_BR_H_ERR_ADDR >> 2)
_W_ERR_RESP = const(_BR_H_ERR_RESP >> 2)
# record header words without the sequence number: op << 12 | count
_REC_WRITE1 = const(_BR_OP_WRITE << _BR_REC_OP_SHIFT | 1)
_REC_READ1 = const(_BR_OP_READ << _BR_REC_OP_SHIFT | 1)
_REC_WAIT = const(_BR_OP_WAIT << _BR_REC_OP_SHIFT)
_M32 = const(0xFFFFFFFF)

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
    """wait_done: the command was not done within the timeout."""


def _u32(addr, words):
    return uctypes.struct(addr, {"w": (uctypes.ARRAY | 0, uctypes.UINT32 | words)}).w


def _is_bytes(buf):
    return isinstance(buf, (bytes, bytearray, memoryview))


def _bus_error(bus, what, addr, resp, more):
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


class _Mmio:
    """The SoC: the macro's registers at ``base``."""

    def __init__(self, base):
        self._w = _u32(base, CIM_WINDOW_BYTES >> 2)
        self._poll = getattr(board, "WAIT_POLL_US", 1)

    def rd32(self, off):
        return self._w[off >> 2]

    def wr32(self, off, val):
        self._w[off >> 2] = val

    def wr_burst(self, off, data, fixed=False):
        w, j, step = self._w, off >> 2, 0 if fixed else 1
        if _is_bytes(data):
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
        if _is_bytes(buf):
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

    def wait_done(self, timeout_ms, posted=False):  # MMIO: always polls (posted: no-op)
        w, t0 = self._w, time.ticks_ms()
        while w[R_STATUS >> 2] & STATUS_BUSY_MSK:
            if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:
                raise HalTimeout("CIM command not done within %d ms" % timeout_ms)
            time.sleep_us(self._poll)
        self.flush()

    def flush(self):
        if self._w[R_ERR_CODE >> 2] & ERR_CODE_CODE_MSK:
            raise _bus_error(self, "access", None, None, 1)


class _Ring:
    """The virtual board: the request ring of the bridge window at ``base``."""

    def __init__(self, base):
        h = _u32(base, 1024)
        magic = h[_W_MAGIC]
        if magic != _BR_MAGIC:
            raise BridgeError("no bridge window at 0x%08x (magic 0x%08x): run the firmware "
                              "with python -m cimtrain.bridge.launch, or use board.py on a "
                              "board" % (base, magic))
        ver = h[_W_VERSION]
        if ver >> 16 != _BR_VERSION >> 16:
            raise BridgeError("bridge protocol %d.%d in the window, hal.py speaks %d.%d"
                              % (ver >> 16, ver & 0xFFFF, _BR_VERSION >> 16,
                                 _BR_VERSION & 0xFFFF))
        if h[_W_FW_STATE] != _BR_FW_ATTACHED:
            raise BridgeError("bridge window not attached: run the firmware with "
                              "python -m cimtrain.bridge.launch")
        rw = h[_BR_H_RING_WORDS >> 2]
        roff = h[_BR_H_RING_OFF >> 2]
        doff = h[_BR_H_RDBUF_OFF >> 2]
        dw = h[_BR_H_RDBUF_WORDS >> 2]
        self._h = h
        self._rw = rw
        self._m = rw - 1
        self._r = _u32(base + roff, rw)
        self._rb = memoryview(uctypes.bytearray_at(base + roff, 4 * rw))
        self._d = _u32(base + doff, dw)
        self._db = memoryview(uctypes.bytearray_at(base + doff, 4 * dw))
        self._maxb = h[_BR_H_MAX_BURST >> 2]
        self._p = h[_W_HEAD]            # free-running word index (HEAD stores it mod 2**32)
        self._seq = h[_W_FETCH_SEQ]     # records posted
        self._lim = 0                   # words up to here are free and in this lap
        self._ack = h[_W_ERR_ACK]       # errors reported so far
        self._spin = getattr(board, "SPIN", 400)
        self._sleep = getattr(board, "SLEEP_US", 20)
        self._sleep_max = getattr(board, "SLEEP_MAX_US", 200)
        self._nap = self._sleep
        self._resp_ms = getattr(board, "RESPONSE_MS", 60000)

    # -- posting -----------------------------------------------------------------------
    def _room(self, n):
        """Slow path of posting: pad the lap's end, wait for the server to free space."""
        h, rw, t0 = self._h, self._rw, None
        while True:
            p = self._p
            i = p & self._m
            free = rw - ((p - h[_W_TAIL]) & _M32)
            if i + n > rw:
                if free >= rw - i:
                    self._r[i] = 0              # PAD record: skip to the next lap
                    p += rw - i
                    self._p = p
                    h[_W_HEAD] = p
                    continue
            elif free >= n:
                self._lim = p + (free if free < rw - i else rw - i)
                return p
            t0 = self._idle(t0, "room in the request ring")

    def _idle(self, t0, what):
        """One step of a slow wait: check the watchdog's alarm and the deadline, sleep
        (SLEEP_US, doubling up to SLEEP_MAX_US).  ``t0``: None at the first step."""
        a = self._h[_W_FW_ALARM]
        if a:
            self._alarm(a)
        now = time.ticks_ms()
        if t0 is None:
            self._nap = self._sleep
            return now
        if time.ticks_diff(now, t0) > self._resp_ms:
            raise BridgeError("bridge: no %s for %d ms (server stuck?)" % (what, self._resp_ms))
        time.sleep_us(self._nap)
        if self._nap < self._sleep_max:
            self._nap += self._nap
        return t0

    def _alarm(self, a):
        pid = self._h[_W_SERVER_PID]
        if a == _BR_ALARM_SERVER_GONE:
            msg = "bridge server pid %d is gone (killed or crashed)" % pid
        elif a == _BR_ALARM_SERVER_HUNG:
            msg = "bridge server pid %d stopped its heartbeat (hung or stopped)" % pid
        elif a == _BR_ALARM_SERVER_FAILED:
            base = uctypes.addressof(self._h)
            text = bytes(uctypes.bytearray_at(base + _BR_H_MSG, _BR_MSG_BYTES))
            msg = "bridge server pid %d failed: %s" % (pid, text.split(b"\0")[0].decode())
        else:
            msg = "bridge server pid %d closed the window" % pid
        raise BridgeError(msg)

    def _complete(self, s):
        """Wait until record ``s`` (and so every earlier one) is done; raise a bus error
        of any of them."""
        h = self._h
        s &= _M32
        if h[_W_DONE_SEQ] != s:
            n = self._spin
            while h[_W_DONE_SEQ] != s:
                n -= 1
                if n < 0:
                    t0 = None
                    while h[_W_DONE_SEQ] != s:
                        t0 = self._idle(t0, "response")
                    break
        if h[_W_ERR_COUNT] != self._ack:
            self._report()

    def _report(self):
        h = self._h
        cnt = h[_W_ERR_COUNT]
        more = (cnt - self._ack) & _M32
        op, addr, resp = h[_W_ERR_OP], h[_W_ERR_ADDR], h[_W_ERR_RESP]
        self._ack = cnt
        h[_W_ERR_ACK] = cnt
        what = "write" if op == _BR_OP_WRITE or op == _BR_OP_WRITE_FIXED else "read"
        raise _bus_error(self, what, addr, resp, more)

    # -- the API -----------------------------------------------------------------------
    def wr32(self, off, val):
        p = self._p
        if p + 3 > self._lim:
            p = self._room(3)
        r = self._r
        i = p & self._m
        s = self._seq + 1
        self._seq = s
        r[i] = s << _BR_REC_SEQ_SHIFT | _REC_WRITE1
        r[i + 1] = off
        r[i + 2] = val
        p += 3
        self._p = p
        self._h[_W_HEAD] = p

    def rd32(self, off):
        p = self._p
        if p + 2 > self._lim:
            p = self._room(2)
        r = self._r
        i = p & self._m
        s = self._seq + 1
        self._seq = s
        r[i] = s << _BR_REC_SEQ_SHIFT | _REC_READ1
        r[i + 1] = off
        p += 2
        self._p = p
        self._h[_W_HEAD] = p
        self._complete(s)
        return self._d[0]

    def wr_burst(self, off, data, fixed=False):
        raw = _is_bytes(data)
        if raw:
            if len(data) & 3:
                raise ValueError("wr_burst: %d bytes is not whole words" % len(data))
            n = len(data) >> 2
            data = memoryview(data)
        else:
            n = len(data)
        op = (_BR_OP_WRITE_FIXED if fixed else _BR_OP_WRITE) << _BR_REC_OP_SHIFT
        k = 0
        while k < n:
            c = n - k
            if c > self._maxb:
                c = self._maxb
            p = self._p
            if p + 2 + c > self._lim:
                p = self._room(2 + c)
            r = self._r
            i = p & self._m
            s = self._seq + 1
            self._seq = s
            r[i] = s << _BR_REC_SEQ_SHIFT | op | c
            r[i + 1] = off if fixed else off + 4 * k
            j = i + 2
            if raw:
                self._rb[4 * j:4 * (j + c)] = data[4 * k:4 * (k + c)]
            elif c == n:
                for v in data:
                    r[j] = v
                    j += 1
            else:
                for x in range(k, k + c):
                    r[j] = data[x]
                    j += 1
            p += 2 + c
            self._p = p
            self._h[_W_HEAD] = p
            k += c

    def rd_burst(self, off, buf, fixed=False):
        if isinstance(buf, int):
            buf = [0] * buf
        raw = _is_bytes(buf)
        if raw:
            if len(buf) & 3:
                raise ValueError("rd_burst: %d bytes is not whole words" % len(buf))
            n = len(buf) >> 2
            mv = memoryview(buf)
        else:
            n = len(buf)
        op = (_BR_OP_READ_FIXED if fixed else _BR_OP_READ) << _BR_REC_OP_SHIFT
        k = 0
        while k < n:
            c = n - k
            if c > self._maxb:
                c = self._maxb
            p = self._p
            if p + 2 > self._lim:
                p = self._room(2)
            r = self._r
            i = p & self._m
            s = self._seq + 1
            self._seq = s
            r[i] = s << _BR_REC_SEQ_SHIFT | op | c
            r[i + 1] = off if fixed else off + 4 * k
            p += 2
            self._p = p
            self._h[_W_HEAD] = p
            self._complete(s)
            if raw:
                mv[4 * k:4 * (k + c)] = self._db[0:4 * c]
            else:
                d = self._d
                for x in range(c):
                    buf[k + x] = d[x]
            k += c
        return buf

    def wait_done(self, timeout_ms, posted=False):
        # posted=True: queue the wait and return; the server runs the ring in order, so
        # every later access still happens after the command is done.  Saves a round trip
        # when a blocking read follows anyway; a timeout then shows up as a BUSY bus error
        # on the next access (naming its address) instead of HalTimeout.
        p = self._p
        if p + 2 > self._lim:
            p = self._room(2)
        r = self._r
        i = p & self._m
        s = self._seq + 1
        self._seq = s
        r[i] = s << _BR_REC_SEQ_SHIFT | _REC_WAIT
        r[i + 1] = timeout_ms
        p += 2
        self._p = p
        self._h[_W_HEAD] = p
        if posted:
            return
        self._complete(s)
        if self._h[_W_RSP_STATUS] == _BR_RSP_TIMEOUT:
            raise HalTimeout("CIM command not done within %d ms" % timeout_ms)

    def flush(self):
        self._complete(self._seq)


if board.BACKEND == "ring":
    _bus = _Ring(board.BASE)
elif board.BACKEND == "mmio":
    if sys.platform == "linux" and not getattr(board, "UNIX_OK", False):
        raise HalError("board.py drives the SoC's registers at 0x%08x, which the unix port "
                       "does not have: run the firmware with python -m cimtrain.bridge.launch"
                       % board.BASE)
    _bus = _Mmio(board.BASE)
else:
    raise HalError("board.BACKEND is %r: use 'mmio' (SoC) or 'ring' (virtual board)"
                   % (board.BACKEND,))

BACKEND = board.BACKEND
rd32 = _bus.rd32
wr32 = _bus.wr32
rd_burst = _bus.rd_burst
wr_burst = _bus.wr_burst
wait_done = _bus.wait_done
flush = _bus.flush


def check_id():
    """Check ID and VERSION; returns HWCFG.  Runs at import."""
    v = rd32(R_ID)
    if v != CIM_ID:
        raise HalError("CIM macro not found at 0x%08x: ID reads 0x%08x, expected 0x%08x "
                       "('CIM1')" % (getattr(board, "BASE", CIM_BASE), v, CIM_ID))
    v = rd32(R_VERSION)
    if v >> 24 != CIM_VERSION >> 24:
        raise HalError("CIM macro register map %d.%d, firmware built for %d.%d"
                       % (v >> 24, (v >> 16) & 0xFF, CIM_VERSION >> 24,
                          (CIM_VERSION >> 16) & 0xFF))
    return rd32(R_HWCFG)


check_id()
