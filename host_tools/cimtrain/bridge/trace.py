"""Transaction traces: every bus transaction a bridge server executed, in a compact file.

    with TraceWriter(path, server="rtl", params={"NTILES": 4, "ROWS": 64, "COLS": 64}) as tw:
        tw.add(OP_WRITE, 0x024, 7, 0, edge=12)
    header, records = read_trace(path)

Layout (little-endian; docs/bridge.md "Transaction traces"):

    header, 64 bytes: magic b"CIMTRACE", u16 version (1), u16 header bytes (64),
        u8 server (1 model, 2 rtl), u8 reserved, u16 NTILES, u16 ROWS, u16 COLS,
        u32 clock kHz, 16 bytes preset name (NUL-padded ASCII), 24 bytes reserved
    records, 20 bytes each: u8 op, u8 resp, u16 flags, u32 addr, u32 data, u64 edge

op 1 WRITE (data = write data), 2 READ (data = read data), 3 WAIT (addr = timeout_ms,
data = status: 0 done, 1 timed out; informational).  resp: 0 OKAY, 2 SLVERR, 3 DECERR.
flags: 1 INTERCONNECT (at or above the macro's window: DECERR from the server, never on
the bus), 2 POLL (a STATUS read the RTL server issued for wait_done, not the firmware).
edge: the clock edge of the access (RTL: the AXI handshake edge, rising edges since
reset release; model server: the model's cycle).
"""

from __future__ import annotations

import struct
from pathlib import Path

MAGIC = b"CIMTRACE"
VERSION = 1
HEADER = struct.Struct("<8sHHBBHHHI16s24x")
RECORD = struct.Struct("<BBHIIQ")
assert HEADER.size == 64 and RECORD.size == 20

OP_WRITE, OP_READ, OP_WAIT = 1, 2, 3
OP_NAME = {OP_WRITE: "write", OP_READ: "read", OP_WAIT: "wait"}
F_INTERCONNECT, F_POLL = 1, 2
SERVER_KIND = {"model": 1, "rtl": 2}
RESP_NAME = {0: "OKAY", 1: "EXOKAY", 2: "SLVERR", 3: "DECERR"}


class TraceError(Exception):
    """Not a trace file, or a truncated one."""


class TraceWriter:
    """Appends records to a buffer and writes it out in large blocks."""

    FLUSH_BYTES = 1 << 20

    def __init__(self, path: str | Path, server: str, params: dict, preset: str = "",
                 clock_khz: int = 100_000) -> None:
        self.path = Path(path)
        self.count = 0
        self._f = open(self.path, "wb")  # noqa: SIM115  (closed by close())
        self._f.write(HEADER.pack(MAGIC, VERSION, HEADER.size, SERVER_KIND[server], 0,
                                  params["NTILES"], params["ROWS"], params["COLS"], clock_khz,
                                  preset.encode("ascii")[:16]))
        self._buf = bytearray()
        self._pack = RECORD.pack

    def add(self, op: int, addr: int, data: int, resp: int, edge: int, flags: int = 0) -> None:
        self._buf += self._pack(op, resp, flags, addr, data, edge)
        self.count += 1
        if len(self._buf) >= self.FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            self._f.write(self._buf)
            self._buf.clear()
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self.flush()
            self._f.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_trace(path: str | Path) -> tuple[dict, list[tuple[int, int, int, int, int, int]]]:
    """Header fields and the records ``(op, resp, flags, addr, data, edge)``."""
    raw = Path(path).read_bytes()
    if len(raw) < HEADER.size or raw[:8] != MAGIC:
        raise TraceError(f"{path}: not a cimtrain transaction trace")
    magic, version, hlen, server, _, nt, rows, cols, khz, preset = HEADER.unpack_from(raw)
    if version != VERSION:
        raise TraceError(f"{path}: trace version {version}, this tool reads {VERSION}")
    body = raw[hlen:]
    if len(body) % RECORD.size:
        raise TraceError(f"{path}: truncated ({len(body) % RECORD.size} stray bytes at the end)")
    kinds = {v: k for k, v in SERVER_KIND.items()}
    header = {"server": kinds.get(server, str(server)), "NTILES": nt, "ROWS": rows,
              "COLS": cols, "clock_khz": khz,
              "preset": preset.rstrip(b"\0").decode("ascii", "replace")}
    return header, list(RECORD.iter_unpack(body))
