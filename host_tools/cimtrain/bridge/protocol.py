"""Layout and codes of the bridge window: the one source for the C library and the docs.

The C library gets every upper-case integer of this module as ``#define CB_<NAME>``
(bridge/build.py); firmware/hal.py keeps its own copy of the names it needs as
``_BR_<NAME> = const(...)`` and tests/test_bridge_protocol.py checks the copy.
docs/bridge.md explains the protocol.

All words are little-endian u32.  ``H_*`` are byte offsets of header words from the
window base.  Fields are grouped in 64-byte lines by writer, so that the two sides
never write the same cache line.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

MAGIC = 0x424D4943          # b"CIMB" in memory
VERSION = 0x00010000        # protocol major.minor (16.16); majors must match
VERSION_MAJOR_SHIFT = 16

# -- identity line (server writes once at creation; offsets of MAGIC, VERSION and
#    SERVER_PID are stable across protocol versions so that any version can tell a
#    live window from a stale one)
H_MAGIC = 0x000
H_VERSION = 0x004
H_SERVER_PID = 0x008
H_WINDOW_BYTES = 0x00C      # size of the whole window
H_RING_OFF = 0x010          # byte offset of the request ring
H_RING_WORDS = 0x014        # ring length in words (power of two)
H_RDBUF_OFF = 0x018         # byte offset of the read-data buffer
H_RDBUF_WORDS = 0x01C
H_MACRO_BASE = 0x020        # SoC address the firmware maps the window at
H_MACRO_BYTES = 0x024       # size of the macro's register window (addresses < this)
H_SERVER_KIND = 0x028       # KIND_*
H_MAX_BURST = 0x02C         # largest word count of one record
H_CLOCK_KHZ = 0x030         # device clock that converts wait_done timeouts to cycles
H_SESSION = 0x034           # firmware attachments so far

# -- server line (server writes)
H_SRV_STATE = 0x040         # SRV_*
H_SRV_HEARTBEAT = 0x044     # +1 every HEARTBEAT_MS by the server's watchdog thread

# -- firmware line (firmware process writes: launcher, its watchdog, the HAL)
H_FW_PID = 0x080            # 0 = free; attach is a compare-and-swap 0 -> pid
H_FW_STATE = 0x084          # FW_*
H_FW_HEARTBEAT = 0x088      # +1 every HEARTBEAT_MS by the firmware process's watchdog
H_FW_EXIT = 0x08C           # firmware exit status, valid when FW_STATE == FW_EXITED
H_FW_ALARM = 0x090          # ALARM_*: set by the firmware-side watchdog, read by the HAL
H_ERR_ACK = 0x094           # value of ERR_COUNT the firmware has reported

# -- producer index (firmware writes)
H_HEAD = 0x0C0              # free-running word index one past the last published word

# -- consumer indices (server writes)
H_TAIL = 0x100              # free-running word index of the first unconsumed word
H_FETCH_SEQ = 0x104         # sequence number of the last record taken off the ring

# -- completion (server writes)
H_DONE_SEQ = 0x140          # sequence number of the last completed record
H_RSP_STATUS = 0x144        # RSP_* of the last completed blocking record

# -- first bus error since the firmware's last acknowledgement (server writes)
H_ERR_COUNT = 0x180         # failing accesses since the window was created (wraps)
H_ERR_SEQ = 0x184           # record sequence number of the first unacknowledged error
H_ERR_OP = 0x188            # its OP_*
H_ERR_ADDR = 0x18C          # byte address of the failing word
H_ERR_RESP = 0x190          # AXI response: 2 SLVERR, 3 DECERR

H_MSG = 0x800               # server's fatal message, NUL-terminated text
MSG_BYTES = 0x800

# -- areas
HEADER_BYTES = 0x1000
RING_OFF = 0x1000
RING_WORDS = 8192
RDBUF_OFF = RING_OFF + 4 * RING_WORDS
RDBUF_WORDS = 2048
WINDOW_BYTES = RDBUF_OFF + 4 * RDBUF_WORDS
MAX_BURST = 2048            # words per record (the whole 8 KiB macro window)

# -- record: w0 = seq[15:0] << 16 | op << 12 | count, w1 = addr (WAIT: timeout_ms),
#    then count payload words for writes.  Records never wrap: a PAD (w0 == 0)
#    fills the rest of the lap.
REC_SEQ_SHIFT = 16
REC_OP_SHIFT = 12
REC_COUNT_MASK = 0xFFF
OP_PAD = 0
OP_WRITE = 1                # count words to addr, addr + 4, ...
OP_WRITE_FIXED = 2          # count words to addr (a FIFO-like register)
OP_READ = 3                 # count words from addr, addr + 4, ... into RDBUF (blocking)
OP_READ_FIXED = 4           # count words from addr into RDBUF (blocking)
OP_WAIT = 5                 # wait until the running command is done (blocking)
OP_LAST = 5

RSP_OK = 0
RSP_TIMEOUT = 1             # WAIT: command still running after timeout_ms of device time

SRV_INIT = 0
SRV_READY = 1
SRV_CLOSED = 2
SRV_FAILED = 3

FW_NONE = 0
FW_ATTACHED = 1
FW_EXITED = 2

ALARM_NONE = 0
ALARM_SERVER_GONE = 1       # server pid no longer exists
ALARM_SERVER_HUNG = 2       # server heartbeat stopped for STALE_MS
ALARM_SERVER_FAILED = 3     # server reported a fatal error (H_MSG)
ALARM_SERVER_CLOSED = 4     # server closed the window under an attached firmware

KIND_MODEL = 1
KIND_RTL = 2
KIND_TEST = 3

RESP_OKAY = 0
RESP_SLVERR = 2
RESP_DECERR = 3

# -- timing
HEARTBEAT_MS = 50           # watchdog period on both sides
STALE_MS = 2000             # a heartbeat unchanged this long means the peer hangs
GRACE_MS = 1500             # firmware process exits this long after an alarm the HAL ignored
CLOCK_KHZ = 100000          # 100 MHz: PULSE_WIDTH is in 10 ns cycles

# -- exit status of the launcher
EXIT_LAUNCH = 2             # could not start: no server, address taken, version, ...
EXIT_PEER = 3               # the server died, hung or failed under the firmware
EXIT_FLUSH = 4              # a posted write failed after the firmware's last check

# -- C library return codes (negative)
E_OK = 0
E_SYS = -1
E_NOWINDOW = -2
E_STALE = -3
E_VERSION = -4
E_MAGIC = -5
E_INUSE = -6
E_ADDR = -7
E_TIMEOUT = -8
E_PEER = -9
E_PROTO = -10
E_BUS = -11
E_EXITED = -12
E_ARG = -13
E_DEVTIMEOUT = -14

OP_NAMES = {OP_PAD: "pad", OP_WRITE: "write", OP_WRITE_FIXED: "write", OP_READ: "read",
            OP_READ_FIXED: "read", OP_WAIT: "wait"}
RESP_NAMES = {RESP_OKAY: "OKAY", 1: "EXOKAY", RESP_SLVERR: "SLVERR", RESP_DECERR: "DECERR"}


def constants() -> dict[str, int]:
    """Every integer constant of the protocol, by name."""
    return {k: v for k, v in globals().items()
            if k.isupper() and isinstance(v, int) and not isinstance(v, bool)}


def shm_name(window: str) -> str:
    """POSIX shared-memory object name of a window (under /dev/shm on Linux)."""
    return f"/cimtrain.{window}"


def decode(recs: list[int]) -> Iterator[tuple[int, int, int, Sequence[int], Sequence[int]]]:
    """The records of one fetched batch (``ServerWindow.fetch``), in ring order: per record
    ``(seq, op, arg, addrs, wdata)``, ``arg`` being its word w1.  OP_WRITE/OP_WRITE_FIXED:
    ``addrs`` the byte address of each word (``arg``, ``arg + 4``, ... or ``arg`` each time),
    ``wdata`` the words; OP_READ/OP_READ_FIXED: ``addrs`` likewise, ``wdata`` empty;
    OP_WAIT (``arg``: its timeout_ms) and anything else: both empty.  The one decoder of
    both servers (model_server.py, cosim/serve.py)."""
    i, n = 0, len(recs)
    while i < n:
        seq, oc, arg = recs[i], recs[i + 1], recs[i + 2]
        op, cnt = oc >> REC_OP_SHIFT, oc & REC_COUNT_MASK
        if op == OP_WRITE or op == OP_WRITE_FIXED:
            addrs = range(arg, arg + 4 * cnt, 4) if op == OP_WRITE else (arg,) * cnt
            yield seq, op, arg, addrs, recs[i + 3:i + 3 + cnt]
            i += 3 + cnt
            continue
        if op == OP_READ:
            yield seq, op, arg, range(arg, arg + 4 * cnt, 4), ()
        elif op == OP_READ_FIXED:
            yield seq, op, arg, (arg,) * cnt, ()
        else:
            yield seq, op, arg, (), ()
        i += 3
