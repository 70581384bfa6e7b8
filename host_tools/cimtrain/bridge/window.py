"""Python face of the C window library: the server side and a host-side firmware client.

    srv = ServerWindow("demo")                 # creates /dev/shm/cimtrain.demo
    fw = FirmwareWindow("demo")                # (another process or thread) attaches
    fw.wr32(0x24, 7); fw.rd32(0x24)            # -> served by whoever drains srv

Every wait has a timeout; every failure raises a ``BridgeError`` subclass whose message
names the window, the pid or the address involved.
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import regs
from . import protocol as P
from .build import load


class BridgeError(RuntimeError):
    """A bridge failure; ``code`` is the C library's E_* code."""

    def __init__(self, msg: str, code: int = P.E_SYS) -> None:
        super().__init__(msg)
        self.code = code


class NoWindowError(BridgeError):
    """No window of that name: the server is not running."""


class StaleWindowError(BridgeError):
    """The window's server is gone (left over by a crashed run) or not serving."""


class VersionError(BridgeError):
    """The two sides speak different protocol versions or layouts."""


class WindowInUseError(BridgeError):
    """Another server serves the name, or another firmware is attached."""


class AddressTakenError(BridgeError):
    """The macro's base address is already mapped in the firmware process."""


class PeerError(BridgeError):
    """The other side died, hung or failed."""


class ProtocolError(BridgeError):
    """A malformed record on the ring (two writers, a stale ring, a bug)."""


class BridgeTimeout(BridgeError):
    """A wall-clock wait of the bridge ran out."""


class DeviceTimeout(BridgeError):
    """wait_done: the macro's command was not done within the device-time timeout."""


class BusError(BridgeError):
    """SLVERR/DECERR on an access: ``addr``, ``resp``, ``op``, ``seq``, ``count``."""

    def __init__(self, msg: str, info: tuple[int, ...]) -> None:
        super().__init__(msg, P.E_BUS)
        self.count, self.seq, self.op, self.addr, self.resp = info


_EXC = {P.E_NOWINDOW: NoWindowError, P.E_STALE: StaleWindowError, P.E_VERSION: VersionError,
        P.E_MAGIC: VersionError, P.E_INUSE: WindowInUseError, P.E_ADDR: AddressTakenError,
        P.E_PEER: PeerError, P.E_PROTO: ProtocolError, P.E_TIMEOUT: BridgeTimeout,
        P.E_DEVTIMEOUT: DeviceTimeout}

FETCH_WORDS = 2 * P.RING_WORDS + 3 + P.MAX_BURST


class _Window:
    def __init__(self) -> None:
        self.ffi, self.lib = load()
        self._w = self.ffi.gc(self.lib.cb_new(), self.lib.cb_free)
        self.name = ""

    def _msg(self) -> str:
        return self.ffi.string(self.lib.cb_msg(self._w)).decode(errors="replace")

    def _check(self, rc: int) -> int:
        if rc >= 0:
            return rc
        if rc == P.E_BUS:
            info = tuple(self.ffi.unpack(self.lib.cb_err_info(self._w), 5))
            raise BusError(self._msg(), info)
        raise _EXC.get(rc, BridgeError)(self._msg(), rc)

    def hdr(self, off: int) -> int:
        """Header word at byte offset ``off`` (protocol.H_*)."""
        return self.lib.cb_hdr(self._w, off)

    def set_hdr(self, off: int, value: int) -> None:
        self.lib.cb_hdr_set(self._w, off, value)

    @property
    def alarm(self) -> str:
        """Why the peer is considered dead ("" while it is fine)."""
        return self.ffi.string(self.lib.cb_alarm_msg(self._w)).decode(errors="replace")

    def close(self) -> None:
        self.lib.cb_close(self._w)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


SHM_DIR = Path("/dev/shm")
SHM_PREFIX = "cimtrain."


def _pid_alive(pid: int) -> bool:
    """As the C library's pid_alive: a zombie counts as gone (a killed server whose parent
    died too waits as a zombie until init reaps it, which in a container can be never)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True     # another user's live process
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def sweep_stale(shm_dir: Path = SHM_DIR, keep: str = "") -> list[str]:
    """Remove every bridge window whose server is gone (killed with SIGKILL, or a crash:
    nothing ran its cleanup); returns their names.  Window names are unique per run, so
    a stale window is never replaced by a later server of the same name: each new
    server sweeps them instead.  A window counts as stale only if it starts with the
    bridge's magic and names a server pid that no longer exists (the identity line's
    offsets are the same in every protocol version); anything else is left alone, and so
    is the window named ``keep`` (the server creating it replaces it and says so)."""
    gone = []
    for f in shm_dir.glob(SHM_PREFIX + "*"):
        if f.name == SHM_PREFIX + keep:
            continue
        try:
            with open(f, "rb") as fh:
                head = fh.read(P.H_SERVER_PID + 4)
        except OSError:
            continue
        if len(head) < P.H_SERVER_PID + 4:
            continue
        magic = int.from_bytes(head[P.H_MAGIC:P.H_MAGIC + 4], "little")
        pid = int.from_bytes(head[P.H_SERVER_PID:P.H_SERVER_PID + 4], "little")
        if magic != P.MAGIC or pid <= 0 or _pid_alive(pid):
            continue
        try:
            f.unlink()
            gone.append(f.name[len(SHM_PREFIX):])
        except OSError:
            pass
    return gone


class ServerWindow(_Window):
    """Creates the window (replacing a stale one: see ``note``; and removing the
    windows of every other server that is gone, ``swept``) and serves sessions."""

    def __init__(self, name: str, kind: int = P.KIND_TEST, version: int = P.VERSION,
                 macro_base: int = regs.BASE_ADDRESS,
                 macro_bytes: int = regs.WINDOW_BYTES) -> None:
        super().__init__()
        self.name = name
        self.swept = sweep_stale(keep=name)
        self._check(self.lib.cb_server_create(self._w, name.encode(), kind, macro_base,
                                              macro_bytes, version))
        self.note = self._msg()          # "replaced stale window ..." or ""
        self._buf = self.ffi.new("uint32_t[]", FETCH_WORDS)
        self.rdbuf = self.lib.cb_rdbuf(self._w)

    def wait_attach(self, timeout_s: float) -> bool:
        """True once a firmware attached; False after ``timeout_s``."""
        rc = self.lib.cb_srv_wait_attach(self._w, int(timeout_s * 1000))
        if rc == P.E_TIMEOUT:
            return False
        self._check(rc)
        return True

    def fetch(self, timeout_ms: int = 100) -> list[int] | None:
        """Pending records as [seq, op << 12 | count, addr, payload..., ...]; [] when none
        arrived in time; None once the firmware detached and the ring is empty."""
        rc = self.lib.cb_srv_fetch(self._w, self._buf, FETCH_WORDS, timeout_ms)
        if rc == P.E_EXITED:
            return None
        self._check(rc)
        return self.ffi.unpack(self._buf, rc) if rc else []

    def error(self, seq: int, op: int, addr: int, resp: int) -> None:
        self.lib.cb_srv_error(self._w, seq, op, addr, resp)

    def complete(self, seq: int, status: int = P.RSP_OK) -> None:
        self.lib.cb_srv_complete(self._w, seq, status)

    def reset_session(self) -> None:
        self.lib.cb_srv_reset_session(self._w)

    def fail(self, msg: str) -> None:
        """Tell the firmware side that the server failed (it raises with ``msg``)."""
        self.lib.cb_srv_fail(self._w, msg.encode()[:P.MSG_BYTES - 1])

    @property
    def fw_pid(self) -> int:
        return self.hdr(P.H_FW_PID)

    @property
    def fw_exit(self) -> int:
        return self.hdr(P.H_FW_EXIT)


class FirmwareWindow(_Window):
    """Host-side firmware client of a window (tests, tools; the launcher uses it to map,
    attach and detach, the MicroPython HAL then speaks the protocol itself).

    ``addr``: map at this address (MAP_FIXED_NOREPLACE) or anywhere (0).
    ``grace_ms``: after the server dies, end this process that long later unless it
    stopped by itself (< 0: never; the launcher uses protocol.GRACE_MS)."""

    def __init__(self, name: str, addr: int = 0, attach: bool = True, grace_ms: int = -1,
                 timeout_s: float = 10.0) -> None:
        super().__init__()
        self.name = name
        self.timeout_ms = int(timeout_s * 1000)
        self._check(self.lib.cb_open(self._w, name.encode(), addr))
        self.base = self.lib.cb_base(self._w)
        self.attached = False
        self._one = self.ffi.new("uint32_t[1]")
        self._buf = self.ffi.new("uint32_t[]", P.MAX_BURST)
        if attach:
            self.attach(grace_ms)

    def attach(self, grace_ms: int = -1) -> None:
        self._check(self.lib.cb_fw_attach(self._w, grace_ms))
        self.attached = True

    def detach(self, exit_code: int = 0, timeout_s: float = 10.0) -> None:
        """Drain, report a late write error (BusError), record the exit status."""
        if self.attached:
            self.attached = False
            self._check(self.lib.cb_fw_detach(self._w, exit_code, int(timeout_s * 1000)))

    def close(self) -> None:
        """Detach (a late write error raises BusError; a dead server is not an error
        here: it was reported by the operation that met it) and unmap."""
        try:
            self.detach()
        except PeerError:
            pass
        finally:
            super().close()

    # -- the HAL's operations, from the host ------------------------------------------------
    def wr32(self, addr: int, value: int) -> None:
        self._one[0] = value & 0xFFFFFFFF
        self._check(self.lib.cb_fw_write(self._w, addr, self._one, 1, 0, self.timeout_ms))

    def rd32(self, addr: int) -> int:
        self._check(self.lib.cb_fw_read(self._w, addr, self._one, 1, 0, self.timeout_ms))
        return self._one[0]

    def wr_burst(self, addr: int, words, fixed: bool = False) -> None:
        words = list(words)
        for k in range(0, len(words), P.MAX_BURST):
            chunk = words[k:k + P.MAX_BURST]
            buf = self.ffi.new("uint32_t[]", [w & 0xFFFFFFFF for w in chunk])
            a = addr if fixed else addr + 4 * k
            self._check(self.lib.cb_fw_write(self._w, a, buf, len(chunk), fixed,
                                             self.timeout_ms))

    def rd_burst(self, addr: int, n: int, fixed: bool = False) -> list[int]:
        out: list[int] = []
        for k in range(0, n, P.MAX_BURST):
            m = min(n - k, P.MAX_BURST)
            a = addr if fixed else addr + 4 * k
            self._check(self.lib.cb_fw_read(self._w, a, self._buf, m, fixed, self.timeout_ms))
            out += self.ffi.unpack(self._buf, m)
        return out

    def wait_done(self, timeout_ms: int) -> None:
        self._check(self.lib.cb_fw_wait_done(self._w, timeout_ms, self.timeout_ms))

    def flush(self) -> None:
        self._check(self.lib.cb_fw_flush(self._w, self.timeout_ms))

    def post_raw(self, words: list[int]) -> None:
        """Put raw words on the ring (tests of the server's record checks)."""
        buf = self.ffi.new("uint32_t[]", words)
        self._check(self.lib.cb_fw_post_raw(self._w, buf, len(words)))
