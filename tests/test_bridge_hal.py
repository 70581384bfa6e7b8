"""firmware/hal.py under the MicroPython unix port: the ring backend through the launcher
against the model server, and the mmio backend on plain memory.

Firmware scripts print ``RESULT <repr>``; the tests compare against independent
expectations: the spec's formulas, the values written, and a fresh model fed the same
register traffic directly (no bridge).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

from cimtrain import regs
from cimtrain.bridge import protocol as P
from cimtrain.bridge.harness import ThreadServer, run_firmware, serve_in_thread, unique_name
from cimtrain.model import CimMacro

ROOT = Path(__file__).resolve().parents[1]
A = regs.ADDR


def _script(tmp_path: Path, body: str, name: str = "fw.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def _result(proc: subprocess.CompletedProcess):
    assert proc.returncode == 0, f"rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, proc.stdout
    return ast.literal_eval(lines[-1][len("RESULT "):])


SMOKE = """
    import sys
    import hal
    from cim_regs import *

    r = {"argv": sys.argv[1:], "backend": hal.BACKEND}
    r["id"] = hal.rd32(R_ID)
    r["hwcfg"] = hal.rd32(R_HWCFG)
    hal.wr32(R_SEED, 42)
    hal.wr32(R_ROW_COUNT, 64)
    hal.wr32(R_COL_COUNT, 16)
    codes = bytearray(64)
    for i in range(64):
        codes[i] = (i * 37 + 11) & 0xFF
    hal.wr_burst(B_INBUF, codes)
    hal.wr32(R_CMD, OP_VMM_FWD)
    r["busy"] = hal.rd32(R_STATUS) & STATUS_BUSY_MSK
    hal.wait_done(10)
    r["status"] = hal.rd32(R_STATUS)
    r["last_cycles"] = hal.rd32(R_LAST_CYCLES)
    r["out"] = hal.rd_burst(B_OUTBUF, 4)
    print("RESULT", repr(r))
"""


def test_firmware_smoke_on_model_server(tmp_path):
    """Read ID/HWCFG, run a VMM, wait for done: same answers as the model driven directly."""
    model = CimMacro("seed-chip")
    with serve_in_thread(unique_name("smoke"), model) as srv:
        r = _result(run_firmware(srv.name, _script(tmp_path, SMOKE), ["7", "x"]))
    assert srv.exits == [0] and srv.error is None
    p = regs.PRESETS["seed-chip"]
    assert r["argv"] == ["7", "x"] and r["backend"] == "ring"
    assert r["id"] == 0x43494D31
    assert r["hwcfg"] == p["NTILES"] | p["ROWS"] << 8 | p["COLS"] << 20
    assert r["busy"] == 1
    m = regs.PARAMS
    assert r["last_cycles"] == m["CMD_OVERHEAD"] + min(16, m["COLS_PER_ADC"]) * m["ADC_CYCLES"]
    assert r["status"] & regs.MSK["STATUS_DONE"] and not r["status"] & regs.MSK["STATUS_BUSY"]
    # the same traffic, straight into a fresh model
    d = CimMacro("seed-chip")
    for name in ("ID", "VERSION", "HWCFG", "ID", "HWCFG"):     # check_id, then the script
        d.rd(A[name])
    for name, v in (("SEED", 42), ("ROW_COUNT", 64), ("COL_COUNT", 16)):
        d.wr(A[name], v)
    codes = bytes((i * 37 + 11) & 0xFF for i in range(64))
    for w in range(16):
        d.wr(A["INBUF"] + 4 * w, int.from_bytes(codes[4 * w:4 * w + 4], "little"))
    d.wr(A["CMD"], regs.OP["VMM_FWD"])
    d.rd(A["STATUS"])
    d.wait_idle()
    assert r["status"] == d.rd(A["STATUS"])
    assert r["out"] == [d.rd(A["OUTBUF"] + 4 * w) for w in range(4)]
    assert model.op_count == 1 and model.cycle == d.cycle + 3   # + the LAST_CYCLES read


ROUND_TRIPS = """
    import array
    import hal
    from cim_regs import *

    r = {}
    vals = []
    for v in (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x1234_5678):
        hal.wr32(R_SEED, v)
        vals.append(hal.rd32(R_SEED))
    r["seed"] = vals
    wide = []
    for v in (-1, 1 << 32, 0x1_2345_6789, -(1 << 40)):
        try:
            hal.wr32(R_SEED, v)
            wide.append(None)
        except ValueError as e:
            wide.append(str(e))
    r["wide"] = (wide, hal.rd32(R_SEED))
    words = [0x01020304 * (k + 1) & 0xFFFFFFFF for k in range(64)]
    hal.wr_burst(B_INBUF, words)
    r["list"] = hal.rd_burst(B_INBUF, 64)
    hal.wr_burst(B_INBUF + 8, (5, 6, 7))
    r["tuple"] = hal.rd_burst(B_INBUF, [0] * 4)
    hal.wr_burst(B_INBUF, array.array("I", [11, 12]))
    r["array"] = list(hal.rd_burst(B_INBUF, array.array("I", [0, 0, 0])))
    b = bytearray(range(256))
    hal.wr_burst(B_INBUF, b)
    r["bytes"] = bytes(hal.rd_burst(B_INBUF, bytearray(256)))
    hal.wr_burst(B_INBUF + 4, memoryview(b)[16:24])
    r["mv"] = bytes(hal.rd_burst(B_INBUF, bytearray(12)))
    # fixed-address bursts: DBG_G advances one cell per access; 2100 words > one record
    hal.wr32(R_CTRL, CTRL_DBG_EN_MSK)
    hal.wr32(R_DBG_ADDR, 0)
    g = [(k * 7919) & 0x3FF | ((k * 104729) & 0x7FF) << 16 for k in range(2100)]
    hal.wr_burst(R_DBG_G, g, True)
    hal.wr32(R_DBG_ADDR, 0)
    r["dbg"] = hal.rd_burst(R_DBG_G, 2100, True)
    r["g"] = g
    r["dbg_addr"] = hal.rd32(R_DBG_ADDR)
    # byte bursts across several laps of the ring (PAD records), spot-checked
    ok = 0
    for k in range(400):
        b = bytearray([(k + 3 * j) & 0xFF for j in range(256)])
        hal.wr_burst(B_INBUF, b)
        hal.wr32(R_SEED, k)
        if k % 37 == 36:
            ok += hal.rd_burst(B_INBUF, bytearray(256)) == b and hal.rd32(R_SEED) == k
    r["laps"] = (ok, hal._bus._p // hal._bus._rw)
    hal.flush()
    print("RESULT", repr(r))
"""


def test_round_trips(tmp_path):
    with serve_in_thread(unique_name("rt"), CimMacro("seed-chip")) as srv:
        r = _result(run_firmware(srv.name, _script(tmp_path, ROUND_TRIPS)))
    assert r["seed"] == [0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x12345678]
    # out of range: refused by name, nothing written (a uctypes store kept the low 32 bits)
    assert r["wide"] == ([f"wr32 0x0024: value {v} is not a 32-bit word (allowed 0 .. "
                          "0xffffffff)" for v in (-1, 1 << 32, 0x1_2345_6789, -(1 << 40))],
                         0x12345678)
    words = [0x01020304 * (k + 1) & 0xFFFFFFFF for k in range(64)]
    assert r["list"] == words
    assert r["tuple"] == [words[0], words[1], 5, 6]
    assert r["array"] == [11, 12, 5]
    assert r["bytes"] == bytes(range(256))
    assert r["mv"] == bytes([0, 1, 2, 3]) + bytes(range(16, 24))
    gmax = regs.PARAMS["GCODE_MAX"]
    clamp = [min(v & 0xFFFF, gmax) | min(v >> 16, gmax) << 16 for v in r["g"]]
    assert r["dbg"] == clamp
    cols = regs.PRESETS["seed-chip"]["COLS"]
    assert r["dbg_addr"] == (2100 // cols) << 8 | 2100 % cols
    assert r["laps"][0] == 400 // 37 and r["laps"][1] >= 3


ERRORS = """
    import hal
    from cim_regs import *

    r = []
    def attempt(f):
        try:
            f()
            r.append(None)
        except hal.BusError as e:
            r.append((str(e), e.addr, e.resp, e.code))

    def posted_ro():
        hal.wr32(R_ID, 5)            # posted: reported by the next read
        hal.wr32(R_SEED, 9)
        hal.rd32(R_SEED)
    attempt(posted_ro)
    attempt(lambda: hal.rd32(0x1FFC))                  # unmapped: DECERR
    attempt(lambda: hal.wr_burst(0x1FF8, [1, 2, 3]))   # posted: no error yet
    attempt(hal.flush)                                 # one unmapped, two past the window
    attempt(lambda: hal.rd32(0x2004))                  # past the window: interconnect
    def bad_cmd():
        hal.wr32(R_CMD, 0xF)         # unknown opcode: reported by wait_done
        hal.wait_done(10)
    attempt(bad_cmd)
    def at_flush():
        hal.wr32(R_CMD, OP_VMM_FWD)
        hal.wr32(R_TILE, 1)          # config register while BUSY
        hal.flush()
    attempt(at_flush)
    hal.wait_done(10)
    r.append(hal.rd32(R_ERR_CODE))  # the HAL cleared it after naming each error
    try:
        hal.wr32(R_CMD, OP_VMM_FWD)
        hal.wait_done(0)
    except hal.HalTimeout as e:
        r.append((str(e), hal._bus._seq))   # the firmware's count of records: the wait
    hal.wait_done(1)
    r.append(hal.rd32(R_STATUS) & STATUS_BUSY_MSK)
    # a posted wait that times out: a HalTimeout naming it at the next blocking call, not
    # the BUSY error of the write after it; ERR_CODE cleared so the next error is named
    try:
        hal.wr32(R_CMD, OP_VMM_TRANS | CMD_SIGNED_MSK)
        hal.wait_done(0, True)
        seq = hal._bus._seq
        hal.wr32(R_TILE, 1)          # refused: the command still runs
        hal.rd32(R_SEED)             # refused too (config group); raises the timeout
        r.append(None)
    except hal.HalTimeout as e:
        r.append((str(e), seq))
    hal.wait_done(1, True)
    r.append((hal.rd32(R_ERR_CODE), hal.rd32(R_TILE)))
    print("RESULT", repr(r))
    hal.wr32(R_VERSION, 0)
    hal.rd32(R_ID)                  # uncaught: the firmware fails with the address
"""


def test_bus_errors_and_timeouts(tmp_path):
    with serve_in_thread(unique_name("err"), CimMacro("seed-chip")) as srv:
        proc = run_firmware(srv.name, _script(tmp_path, ERRORS))
    assert proc.returncode == 1, proc.stderr
    assert "BusError: bus error: write 0x0004 -> SLVERR, ERR_CODE READ_ONLY" in proc.stderr
    proc.returncode = 0
    r = _result(proc)
    E = regs.ERR
    assert r[0] == ("bus error: write 0x0000 -> SLVERR, ERR_CODE READ_ONLY", 0, 2,
                    E["READ_ONLY"])
    assert r[1] == ("bus error: read 0x1ffc -> DECERR, ERR_CODE DECODE", 0x1FFC, 3,
                    E["DECODE"])
    assert r[2] is None
    assert r[3] == ("bus error: write 0x1ff8 -> DECERR, ERR_CODE DECODE (and 2 more errors)",
                    0x1FF8, 3, E["DECODE"])
    assert r[4] == ("bus error: read 0x2004 -> DECERR, outside the macro's window", 0x2004, 3,
                    0)
    assert r[5] == ("bus error: write 0x0010 -> SLVERR, ERR_CODE BAD_CMD", 0x10, 2,
                    E["BAD_CMD"])
    assert r[6] == ("bus error: write 0x0028 -> SLVERR, ERR_CODE BUSY", 0x28, 2, E["BUSY"])
    assert r[7] == 0
    # the server's record number (ERR_SEQ) is the firmware's count at the wait
    msg, seq = r[8]
    assert msg == ("CIM command VMM_FWD (CMD 0x1) not done within 0 ms of device time "
                   f"(wait_done, request {seq})")
    assert r[9] == 0
    msg, seq = r[10]
    assert msg == ("CIM command VMM_TRANS (CMD 0x102) not done within 0 ms of device time "
                   f"(posted wait_done, reported at the next blocking call, request {seq}) "
                   "(and 2 more errors)")      # the TILE write and the SEED read: BUSY
    assert r[11] == (0, 0)
    assert srv.server.stats["errors"] == 11 and srv.server.stats["timeouts"] == 2


class WrongChip(CimMacro):
    def read(self, addr, cycle=None):
        data, resp = super().read(addr, cycle)
        return (0x12345678 if addr == 0 else data), resp


def test_id_check_at_startup(tmp_path):
    with serve_in_thread(unique_name("id"), WrongChip("seed-chip")) as srv:
        proc = run_firmware(srv.name, _script(tmp_path, "import hal\nprint('RESULT 1')\n"))
    assert proc.returncode == 1
    assert ("HalError: CIM macro not found at 0x40000000: ID reads 0x12345678, expected "
            "0x43494d31") in proc.stderr


def test_server_failure_reaches_firmware(tmp_path):
    """A model exception stops the server, and the firmware fails with its message."""

    class Broken(CimMacro):
        def write(self, addr, data, strb=0xF, cycle=None):
            if addr == A["SEED"]:
                raise RuntimeError("model bug on SEED")
            return super().write(addr, data, strb, cycle)

    srv = ThreadServer(unique_name("fail"), Broken("seed-chip")).start()
    proc = run_firmware(srv.name, _script(tmp_path, """
        import hal
        from cim_regs import *
        hal.wr32(R_SEED, 1)
        hal.rd32(R_SEED)
    """))
    srv.join()
    srv.close()
    assert isinstance(srv.error, RuntimeError)
    assert proc.returncode == P.EXIT_PEER
    assert "failed: model server: RuntimeError: model bug on SEED" in proc.stderr


MMIO_HOST = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
base = 0x40000000
assert libc.mmap(base, 0x2000, 3, 0x22 | 0x100000, -1, 0) == base
mem = (ctypes.c_uint32 * 2048).from_address(base)
mem[0], mem[1], mem[2] = 0x43494D31, 0x00020000, 0x04010008
mem[0x1C // 4], mem[0x20 // 4] = 0x00010007, 0x28    # ERR_CODE BAD_TILE at TILE
import micropython_module
rc = micropython_module.run_main(["micropython", sys.argv[1], sys.argv[2], sys.argv[4],
                                  sys.argv[3]])
print("MEM", [mem[i] for i in (0x24 // 4, 0x1C // 4, 0x100, 0x101, 0x102, 0x103)])
sys.exit(rc)
"""

MMIO_FW = """
    import hal
    from cim_regs import *
    r = {"backend": hal.BACKEND, "hwcfg": hal.rd32(R_HWCFG)}
    hal.wr32(R_SEED, 0xDEADBEEF)
    r["seed"] = hal.rd32(R_SEED)
    try:
        hal.wr32(R_SEED, -2)
    except ValueError as e:
        r["wide"] = str(e)
    hal.wr_burst(B_INBUF, bytearray([1, 2, 3, 4, 5, 6, 7, 8]))
    hal.wr_burst(B_INBUF + 8, [9, 10])
    r["words"] = hal.rd_burst(B_INBUF, 4)
    r["bytes"] = bytes(hal.rd_burst(B_INBUF, bytearray(8)))
    try:
        hal.wait_done(5)
    except hal.BusError as e:
        r["err"] = (str(e), e.addr, e.code)
    hal.flush()
    print("RESULT", repr(r))
"""


def _run_mmio(tmp_path: Path, board: str) -> subprocess.CompletedProcess:
    host = _script(tmp_path, MMIO_HOST, "host.py")
    fw = _script(tmp_path, MMIO_FW)
    boot = ROOT / "host_tools" / "cimtrain" / "bridge" / "mp_boot.py"
    return subprocess.run([sys.executable, str(host), str(boot), str(ROOT / "firmware"),
                           str(fw), board], capture_output=True, text=True, timeout=60)


def test_mmio_backend_on_plain_memory(tmp_path):
    """board.py's backend (uctypes at the base address, ERR_CODE checks), on memory that
    a test board module declares usable on the unix port."""
    _script(tmp_path, "from board import *\nUNIX_OK = True\n", "board_mem.py")
    proc = _run_mmio(tmp_path, "board_mem")
    r = _result(proc)
    assert r["backend"] == "mmio" and r["hwcfg"] == 0x04010008 and r["seed"] == 0xDEADBEEF
    assert r["wide"] == "wr32 0x0024: value -2 is not a 32-bit word (allowed 0 .. 0xffffffff)"
    assert r["words"] == [0x04030201, 0x08070605, 9, 10]
    assert r["bytes"] == bytes([1, 2, 3, 4, 5, 6, 7, 8])
    assert r["err"] == ("bus error: access 0x0028, ERR_CODE BAD_TILE", 0x28, 7)
    mem = ast.literal_eval(proc.stdout.split("MEM ")[1].splitlines()[0])
    assert mem == [0xDEADBEEF, 0, 0x04030201, 0x08070605, 9, 10]


def test_mmio_backend_refused_on_unix_port(tmp_path):
    proc = _run_mmio(tmp_path, "board")
    assert proc.returncode == 1
    assert "HalError: board.py drives the SoC's registers at 0x40000000, which the unix " \
           "port does not have" in proc.stderr


def test_board_module_selects_backend(tmp_path):
    """The launcher's --board picks the config module imported as ``board`` (default
    board_cosim); training code never changes.  A board module of the test's own, which
    the default could not be, proves --board is honoured."""
    _script(tmp_path, "from board_cosim import *\nTAG = 'test board'\n", "board_test.py")
    fw = _script(tmp_path, """
        import board, hal
        from cim_regs import R_ID
        print("RESULT", repr((board.__name__, getattr(board, "TAG", None), hal.rd32(R_ID))))
    """)
    seen = []
    for extra in ([], ["--board", "board_test"]):
        with serve_in_thread(unique_name("board"), CimMacro("seed-chip")) as srv:
            seen.append(_result(run_firmware(srv.name, fw, launcher_args=extra)))
    assert seen == [("board_cosim", None, regs.ID), ("board_test", "test board", regs.ID)], seen


def test_a_macro_of_another_register_map_is_refused(tmp_path):
    """check_id at import: a VERSION of another major names both versions (read with the
    generated unpack_version; the firmware is built for the spec's VERSION)."""
    class NextMajor(CimMacro):
        def read(self, addr: int):
            data, resp = super().read(addr)
            return (data + (1 << 24), resp) if addr == A["VERSION"] else (data, resp)

    ver = regs.RESET["VERSION"]
    major, minor = ver >> 24, (ver >> 16) & 0xFF
    with serve_in_thread(unique_name("ver"), NextMajor("seed-chip")) as srv:
        proc = run_firmware(srv.name, _script(tmp_path, "import hal\nprint('RESULT 1')\n"))
    assert proc.returncode != 0 and "RESULT" not in proc.stdout
    assert (f"register map {major + 1}.{minor}, firmware built for {major}.{minor}"
            in proc.stderr), proc.stderr[-2000:]
