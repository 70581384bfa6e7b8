"""The window library and its protocol, in-process: a host-side firmware client against a
model server thread whose stand-in model logs every bus access.

Expectations are independent of the bridge: the log of accesses the server executed must
equal, word for word and in order, the accesses the client issued.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cimtrain.bridge import protocol as P
from cimtrain.bridge.build import build, load
from cimtrain.bridge.harness import ThreadServer, unique_name
from cimtrain.bridge.window import (
    AddressTakenError,
    BusError,
    DeviceTimeout,
    FirmwareWindow,
    NoWindowError,
    PeerError,
    ProtocolError,
    ServerWindow,
    StaleWindowError,
    VersionError,
    WindowInUseError,
)

ROOT = Path(__file__).resolve().parents[1]


class LogModel:
    """Stand-in macro: a register dict below 0x2000, DECERR above, SLVERR when misaligned;
    a command 'runs' for ``run_cycles`` after a write to 0x10."""

    def __init__(self, run_cycles: int = 0, limit: int = 0x2000) -> None:
        self.limit = limit
        self.mem: dict[int, int] = {}
        self.log: list[tuple] = []
        self.cycle = 0
        self.idle_cycle = 0
        self.run_cycles = run_cycles

    def write(self, addr: int, data: int, strb: int = 0xF, cycle=None) -> int:
        self.log.append(("w", addr, data))
        self.cycle += 1
        if addr >= self.limit:
            return 3
        if addr & 3:
            return 2
        self.mem[addr] = data
        if addr == 0x10:
            self.idle_cycle = self.cycle + self.run_cycles
        return 0

    def read(self, addr: int, cycle=None) -> tuple[int, int]:
        self.log.append(("r", addr))
        self.cycle += 1
        if addr >= self.limit:
            return 0, 3
        return self.mem.get(addr, 0), 0

    def advance_to(self, cycle: int) -> None:
        self.cycle = cycle


@pytest.fixture
def pair():
    """(client, server) on a fresh window; the server thread serves one session."""
    model = LogModel(limit=0x10000)
    srv = ThreadServer(unique_name("win"), model, macro_bytes=0x20000).start()
    fw = FirmwareWindow(srv.name)
    yield fw, srv
    fw.close()
    srv.join()
    srv.close()


def test_round_trip_order_and_ring_wrap(pair):
    """60k words of mixed posted writes, bursts and reads arrive complete and in order."""
    fw, srv = pair
    rng = random.Random(1)
    expect: list[tuple] = []
    mirror: dict[int, int] = {}
    words = 0
    while words < 60000:
        kind = rng.random()
        addr = 4 * rng.randrange(0, 512)
        if kind < 0.5:
            v = rng.getrandbits(32)
            fw.wr32(addr, v)
            expect.append(("w", addr, v))
            mirror[addr] = v
            words += 3
        elif kind < 0.75:
            n = rng.choice([1, 2, 7, 64, 300, 2048, 2100])
            data = [rng.getrandbits(32) for _ in range(n)]
            fixed = rng.random() < 0.2
            fw.wr_burst(addr, data, fixed=fixed)
            for k, v in enumerate(data):
                a = addr if fixed else addr + 4 * k
                expect.append(("w", a, v))
                mirror[a] = v
            words += n + 2
        else:
            n = rng.choice([1, 1, 16, 64])
            got = fw.rd_burst(addr, n)
            assert got == [mirror.get(addr + 4 * k, 0) for k in range(n)]
            expect += [("r", addr + 4 * k) for k in range(n)]
            words += 2
    fw.flush()
    assert srv.model.log == expect
    assert fw.hdr(P.H_DONE_SEQ) == fw.hdr(P.H_FETCH_SEQ)


def test_posted_write_error_reported_at_next_read(pair):
    fw, srv = pair
    fw.wr32(0x24, 5)
    fw.wr32(0x13000, 1)             # DECERR, posted: no exception yet
    fw.wr32(0x26, 1)                # SLVERR (misaligned), a second error
    fw.wr32(0x28, 6)
    with pytest.raises(BusError) as ei:
        fw.rd32(0x24)
    e = ei.value
    assert (e.addr, e.resp, e.op, e.count) == (0x13000, P.RESP_DECERR, P.OP_WRITE, 2)
    assert "write 0x13000" in str(e) and "DECERR" in str(e)
    assert fw.rd32(0x28) == 6       # acknowledged: the next read is clean
    fw.wr32(0x10004, 0)
    with pytest.raises(BusError, match="write 0x10004"):
        fw.flush()
    with pytest.raises(BusError, match="read 0x10ffc") as ei:
        fw.rd32(0x10FFC)
    assert ei.value.op == P.OP_READ


def test_wait_done_advances_time_or_times_out():
    model = LogModel(run_cycles=250_000)
    srv = ThreadServer(unique_name("wait"), model).start()
    with FirmwareWindow(srv.name) as fw:
        fw.wr32(0x10, 1)
        fw.flush()
        t0 = model.cycle
        with pytest.raises(DeviceTimeout, match="within 1 ms"):
            fw.wait_done(1)          # 1 ms = 100k cycles at 100 MHz < 250k
        assert model.cycle == t0 + 100_000
        fw.wait_done(10)
        assert model.cycle == model.idle_cycle
    srv.join()
    srv.close()


def test_detach_reports_exit_status():
    srv = ThreadServer(unique_name("exit"), LogModel()).start()
    fw = FirmwareWindow(srv.name)
    fw.wr32(0x0, 1)
    fw.detach(7)
    srv.join()
    assert srv.exits == [7] and srv.error is None
    assert srv.model.log == [("w", 0, 1)]
    fw.close()
    srv.close()


def test_two_firmwares_on_one_window(pair):
    fw, srv = pair
    with pytest.raises(WindowInUseError, match=f"already has a firmware attached \\(pid "
                                               f"{os.getpid()}\\)|already holds"):
        FirmwareWindow(srv.name)
    fw.wr32(0x8, 3)                 # the first one is unaffected
    assert fw.rd32(0x8) == 3


def test_second_server_on_a_live_window_refused(pair):
    fw, srv = pair
    other = subprocess.run(
        [sys.executable, "-c", "from cimtrain.bridge.window import ServerWindow as S; "
         f"S({srv.name!r})"], capture_output=True, text=True, timeout=30)
    assert other.returncode != 0
    assert f"already served by pid {os.getpid()}" in other.stderr


def test_no_window():
    with pytest.raises(NoWindowError, match="is the server running"):
        FirmwareWindow(unique_name("none"))


def test_version_mismatch_refused():
    major = ServerWindow(unique_name("ver"), version=0x00020000)
    mine = f"{P.VERSION >> 16}.{P.VERSION & 0xFFFF}"
    with pytest.raises(VersionError, match=rf"speaks 2\.0 .* speaks {re.escape(mine)}"):
        FirmwareWindow(major.name)
    major.close()
    minor = ServerWindow(unique_name("ver"), version=P.VERSION + 1)
    FirmwareWindow(minor.name, attach=False).close()     # minor versions are compatible
    minor.close()


def test_stale_window_detected_and_replaced():
    name = unique_name("stale")
    crash = subprocess.run(
        [sys.executable, "-c", "import os; from cimtrain.bridge.window import ServerWindow; "
         f"w = ServerWindow({name!r}); print(os.getpid(), flush=True); os.kill(os.getpid(), 9)"],
        capture_output=True, text=True, timeout=30)
    pid = int(crash.stdout.split()[0])
    assert os.path.exists(f"/dev/shm/cimtrain.{name}")
    with pytest.raises(StaleWindowError, match=f"server pid {pid} is not running"):
        FirmwareWindow(name)
    srv = ServerWindow(name)
    assert f"replaced stale window '{name}' left by server pid {pid}" in srv.note
    FirmwareWindow(name, attach=False).close()
    srv.close()
    assert not os.path.exists(f"/dev/shm/cimtrain.{name}")


def test_foreign_object_not_touched():
    name = unique_name("foreign")
    path = f"/dev/shm/cimtrain.{name}"
    with open(path, "wb") as f:
        f.write(b"not a window" + bytes(4096))
    try:
        with pytest.raises(VersionError, match="not a cimtrain bridge window"):
            ServerWindow(name)
        with pytest.raises(VersionError, match="not a cimtrain bridge window"):
            FirmwareWindow(name)
        assert open(path, "rb").read(12) == b"not a window"
    finally:
        os.unlink(path)


def test_desync_is_an_error_not_corruption():
    """A record with the wrong sequence tag (a second writer, a stale ring) stops the
    server with a clear message, which the firmware side receives."""
    srv = ThreadServer(unique_name("desync"), LogModel()).start()
    fw = FirmwareWindow(srv.name)
    fw.wr32(0x4, 1)
    fw.post_raw([(77 << 16) | (P.OP_WRITE << 12) | 1, 0x8, 2])
    srv.join()
    assert isinstance(srv.error, ProtocolError)
    assert "ring desync" in str(srv.error) and "expected 2" in str(srv.error)
    assert srv.model.log == [("w", 4, 1)]       # the bad record was not executed
    t0 = time.monotonic()
    with pytest.raises(PeerError, match="failed: ring desync"):
        fw.rd32(0x4)
    assert time.monotonic() - t0 < 1.0
    fw.close()
    srv.close()


def test_address_taken():
    srv = ServerWindow(unique_name("addr"))
    addr = 0x5A000000
    first = FirmwareWindow(srv.name, addr=addr, attach=False)
    assert first.base == addr
    with pytest.raises(AddressTakenError, match="0x5a000000.*already mapped"):
        FirmwareWindow(srv.name, addr=addr, attach=False)
    first.close()
    srv.close()


def test_hal_copy_of_protocol_constants():
    """firmware/hal_ring.py's `_BR_<NAME> = const(...)` (generated by gen_fwconst)."""
    text = (ROOT / "firmware" / "hal_ring.py").read_text()
    copies = dict(re.findall(r"^_BR_(\w+) = const\((0x[0-9A-Fa-f]+|\d+)\)", text, re.M))
    assert len(copies) > 30
    consts = P.constants()
    for name, value in copies.items():
        assert name in consts, f"hal_ring.py has _BR_{name}, protocol.py has no {name}"
        assert int(value, 0) == consts[name], f"_BR_{name} = {value} != {consts[name]:#x}"


def test_layout_is_consistent():
    c = P.constants()
    offs = sorted(v for k, v in c.items() if k.startswith("H_") and k != "H_MSG")
    assert len(offs) == len(set(offs)) and offs[-1] < P.H_MSG
    assert P.H_MSG + P.MSG_BYTES <= P.HEADER_BYTES <= P.RING_OFF
    assert P.RDBUF_OFF == P.RING_OFF + 4 * P.RING_WORDS
    assert P.RDBUF_WORDS * 4 >= 8192 and P.MAX_BURST <= P.REC_COUNT_MASK
    # writers own separate cache lines: every header word belongs to one writer's group,
    # each group sits in one 64-byte line, and no two groups share a line
    groups = {"identity": ("H_MAGIC", "H_VERSION", "H_SERVER_PID", "H_WINDOW_BYTES",
                           "H_RING_", "H_RDBUF_", "H_MACRO_", "H_SERVER_KIND", "H_MAX_BURST",
                           "H_CLOCK_KHZ", "H_SESSION"),
              "server": ("H_SRV_",), "firmware": ("H_FW_", "H_ERR_ACK"), "head": ("H_HEAD",),
              "tail": ("H_TAIL", "H_FETCH"), "done": ("H_DONE", "H_RSP"),
              "errors": ("H_ERR_COUNT", "H_ERR_SEQ", "H_ERR_OP", "H_ERR_ADDR", "H_ERR_RESP")}
    words = {k: v for k, v in c.items() if k.startswith("H_") and k != "H_MSG"}
    owner = {k: [g for g, pre in groups.items() if k.startswith(pre)] for k in words}
    assert all(len(g) == 1 for g in owner.values()), owner
    lines = {g: {v // 64 for k, v in words.items() if owner[k] == [g]} for g in groups}
    assert all(len(v) == 1 for v in lines.values()), lines
    assert len(set().union(*lines.values())) == len(groups), f"groups share a line: {lines}"


def test_build_is_cached_and_rebuilt_on_change(tmp_path, monkeypatch):
    """An unchanged tree reuses its build; an edit of the C source, its header or a
    protocol constant builds anew (into its own directory: the old build stays usable)."""
    from cimtrain.bridge import build as B

    so = build()
    assert so == build() and so.is_relative_to(ROOT / "build")
    ffi, lib = load()
    assert load() == (ffi, lib)
    monkeypatch.setenv("CIMTRAIN_BUILD_DIR", str(tmp_path / "b"))
    fresh = build()
    assert fresh.parent.name == so.parent.name, "same sources, same key"
    for name in ("SOURCE", "HEADER"):
        edited = tmp_path / getattr(B, name).name
        edited.write_text(getattr(B, name).read_text() + "\n/* an edit */\n")
        with monkeypatch.context() as m:
            m.setattr(B, name, edited)
            if name == "SOURCE":
                rebuilt = build()
                assert rebuilt.exists() and rebuilt.parent != fresh.parent
                assert rebuilt.read_bytes() != b"" and fresh.exists()
            else:
                assert B._key() != fresh.parent.name, "a header edit must rebuild"
    with monkeypatch.context() as m:
        m.setattr(P, "RING_WORDS", P.RING_WORDS * 2)
        assert "#define CB_RING_WORDS 16384" in B.protocol_header()
        assert B._key() != fresh.parent.name, "a protocol change must rebuild"


def test_interconnect_decerr_outside_the_macro_window():
    """Accesses at or above the macro's window size never reach the macro (or model)."""
    model = LogModel(limit=0x10000)
    srv = ThreadServer(unique_name("ic"), model).start()       # macro window: 8 KiB
    with FirmwareWindow(srv.name) as fw:
        fw.wr32(0x1FFC, 1)
        fw.wr32(0x2000, 2)
        with pytest.raises(BusError, match="write 0x2000 -> DECERR"):
            fw.flush()
        with pytest.raises(BusError, match="read 0x2000 -> DECERR"):
            fw.rd_burst(0x1FFC, 2)
    srv.join()
    srv.close()
    assert model.log == [("w", 0x1FFC, 1), ("r", 0x1FFC)]


def test_windows_of_dead_servers_are_swept_at_the_next_start(tmp_path):
    """A server killed with SIGKILL leaves its window (nothing ran its cleanup); window
    names are unique per run, so the next server of any name removes it."""
    import subprocess
    import sys

    from cimtrain.bridge import protocol as P
    from cimtrain.bridge.window import SHM_DIR, SHM_PREFIX, ServerWindow

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = SHM_DIR / f"{SHM_PREFIX}{unique_name('dead')}"
    head = bytearray(64)
    head[P.H_MAGIC:P.H_MAGIC + 4] = P.MAGIC.to_bytes(4, "little")
    head[P.H_SERVER_PID:P.H_SERVER_PID + 4] = dead_pid.to_bytes(4, "little")
    stale.write_bytes(bytes(head))
    # a file of the prefix that is not a bridge window, and a window of a live server,
    # are left alone
    other = SHM_DIR / f"{SHM_PREFIX}{unique_name('other')}"
    other.write_bytes(b"not a window")
    live_name = unique_name("live")
    try:
        with ServerWindow(live_name) as live:
            assert stale.name[len(SHM_PREFIX):] in live.swept
            assert not stale.exists()
            assert other.exists()
            with ServerWindow(unique_name("next")) as srv:
                assert (SHM_DIR / f"{SHM_PREFIX}{live_name}").exists()
                assert live_name not in srv.swept
    finally:
        for f in (stale, other):
            f.unlink(missing_ok=True)
