"""Testbench of cim_macro: driver -> monitor -> model -> checker.

Two benches share one scoreboard:

* ``CimTb`` (top ``cim_macro``, the macro's own tests): cocotbext-axi ``AxiLiteMaster``
  drives ``s_axil``; ``BusMonitor`` samples the AXI handshakes and irq_o on every rising
  edge in Python.
* ``XactTb`` (top ``cim_tb_top``, cim_tb_top.v; the RTL server): an HDL transactor plays
  a program of accesses back to back and an HDL recorder logs every handshake and every
  change of irq_o with its edge index; Python reads the log once per program.  No
  Python code runs per clock edge, which is what makes the RTL server fast.

Time base: the edge index (rising edges since reset release, the first being 0),
docs/arithmetic.md §4.  ``Scoreboard``: ``cimtrain.model.CimMacro`` built from the DUT's
own parameters, fed every observed request at its handshake edge, so BUSY windows,
cycle counters and noise indices line up exactly; it compares every read data /
response and write response, and irq_o on every edge, and counts mismatches.
"""

from __future__ import annotations

import ctypes
import heapq
import logging
import multiprocessing
import os
import signal
import time
from collections import deque

import cocotb
from cocotb.clock import Clock
from cocotb.handle import Immediate
from cocotb.triggers import ClockCycles, RisingEdge, Timer
from cocotbext.axi import AxiLiteBus, AxiLiteMaster

from .. import regs
from ..model import CimMacro
from .xact import (
    K_IRQ,
    K_READ,
    LOG_ADDR_LSB,
    LOG_ADDR_MASK,
    LOG_DATA_MASK,
    LOG_DT_LSB,
    LOG_DT_MASK,
    LOG_EDGE_LSB,
    LOG_KIND_LSB,
    LOG_KIND_MASK,
    LOG_RESP_LSB,
    LOG_RESP_MASK,
    LOG_STRB_LSB,
    LOG_STRB_MASK,
    OP_IDLE,
    OP_READ,
    OP_WAIT,
    OP_WRITE,
    PROG_ADDR_HI,
    PROG_OP_HI,
    PROG_STRB_HI,
)

__all__ = ["OP_IDLE", "OP_READ", "OP_WAIT", "OP_WRITE", "BusMonitor", "CimTb", "Scoreboard",
           "XactTb", "chip_model", "dut_params", "regression_ops"]

A = regs.ADDR
RESP_NAME = {0: "OKAY", 1: "EXOKAY", 2: "SLVERR", 3: "DECERR"}


def dut_params(dut) -> dict:
    """The DUT's parameters, read at run time so the model cannot drift from the RTL."""
    return {"NTILES": int(dut.NTiles.value), "ROWS": int(dut.Rows.value),
            "COLS": int(dut.Cols.value)}


# One model per simulated chip.  cocotb runs every test of a module in one simulation,
# and the RTL array (memristors) keeps its state across rst_ni, so the model of that
# array must outlive a test too: each test gets a digital reset, not a fresh chip.
_CHIP_MODELS: dict[tuple, CimMacro] = {}


def chip_model(params: dict) -> CimMacro:
    key = tuple(sorted(params.items()))
    if key not in _CHIP_MODELS:
        _CHIP_MODELS[key] = CimMacro("default", **params)
    return _CHIP_MODELS[key]


class Scoreboard:
    """Model + checker, fed the bus events of one DUT in edge order.

    ``request``/``response``: AXI handshakes at their edge; every response is compared
    with the model's answer to its request.  ``irq``: irq_o as sampled on an edge (a
    monitor may report every edge or only the edges where the sampled value changes).
    ``settle(t)``: the monitor has reported everything up to and including edge ``t``.

    irq_o is checked on every edge without visiting every edge: the RTL's value only
    changes where the monitor says so, and the model's only on the edge after an access
    that changed it or on the edge a command completes (``CimMacro.idle_cycle``);
    comparing the two at each of those points (kept in a heap) and at every access
    compares them on every edge in between.
    """

    def __init__(self, model: CimMacro, log: logging.Logger, max_logged: int = 20) -> None:
        self.model = model
        self.log = log
        self.errors = 0
        self.checked = 0
        self.first_mismatch = ""
        self.messages: list[str] = []   # the first ``max_logged`` mismatches
        self._max_logged = max_logged
        self._expect: deque = deque()
        self._points: list[int] = []
        self.irq_rtl = 0

    def reset(self) -> None:
        """Digital reset of DUT and model: edge 0 comes next, irq_o is 0."""
        self.model.reset()
        self._points.clear()
        self.irq_rtl = 0

    def _flush(self, t: int) -> None:
        """Compare irq_o at the model's change points before edge ``t``."""
        pts, m = self._points, self.model
        while pts and pts[0] < t:
            p = heapq.heappop(pts)
            if p >= m.cycle:
                self._cmp_irq(p, self.irq_rtl)

    def _cmp_irq(self, t: int, got: int) -> bool:
        exp = self.model.irq_at(t)
        if got != exp:
            self.mismatch(f"irq_o = {got}, model {int(exp)} at edge {t}")
        return exp

    def irq(self, t: int, value: int) -> None:
        self._flush(t)
        self.irq_rtl = value
        self._cmp_irq(t, value)

    def settle(self, t: int) -> None:
        self._flush(t + 1)

    def request(self, t: int, kind: str, addr: int, data: int, strb: int) -> tuple[int, int]:
        """Feed one request to the model at its handshake edge; returns its answer."""
        m = self.model
        self._flush(t)
        while self._points and self._points[0] <= t:
            heapq.heappop(self._points)
        before = self._cmp_irq(t, self.irq_rtl)
        exp = m.read(addr, cycle=t) if kind == "r" else (0, m.write(addr, data, strb, cycle=t))
        self._expect.append((t, kind, addr, data, exp))
        if m.irq != before:     # (model time is t + 1 now)
            heapq.heappush(self._points, t + 1)
        if m.pending:
            heapq.heappush(self._points, m.idle_cycle)
        return exp

    def response(self, t: int, kind: str, data: int, resp: int) -> None:
        if not self._expect:
            self.mismatch(f"unexpected {kind} response at edge {t}")
            return
        t0, k0, addr, wdata, (edata, eresp) = self._expect.popleft()
        self.checked += 1
        if k0 != kind or edata != data or eresp != resp:
            what = f"read 0x{addr:04X}" if k0 == "r" else f"write 0x{addr:04X} <- 0x{wdata:08X}"
            self.mismatch(f"{what} at edge {t0}: expected data 0x{edata:08X} "
                          f"{RESP_NAME[eresp]}, got 0x{data:08X} {RESP_NAME[resp]}")

    @property
    def outstanding(self) -> int:
        return len(self._expect)

    def mismatch(self, msg: str) -> None:
        self.errors += 1
        if not self.first_mismatch:
            self.first_mismatch = msg
        if self.errors <= self._max_logged:
            self.messages.append(msg)
            self.log.error("MISMATCH %s", msg)

    def finish(self) -> None:
        """End-of-test check: an explicit error count, with the numbers involved."""
        assert not self._expect, f"{len(self._expect)} requests never got a response"
        assert self.errors == 0, f"{self.errors} mismatches against the model " \
                                 f"({self.checked} responses checked)"
        self.log.info("scoreboard: %d responses checked, 0 mismatches", self.checked)


def feed_log(sb: Scoreboard, vals: list[int], settle: int) -> None:
    """Feed the recorder's log entries ``vals`` (raw values, in log order) to ``sb``, then
    settle it to edge ``settle``."""
    for v in vals:
        kind, t = v >> LOG_KIND_LSB & LOG_KIND_MASK, v >> LOG_EDGE_LSB
        data = v & LOG_DATA_MASK
        if kind == K_IRQ:
            sb.irq(t, data & 1)
            continue
        k0 = "r" if kind == K_READ else "w"
        sb.request(t, k0, v >> LOG_ADDR_LSB & LOG_ADDR_MASK, 0 if k0 == "r" else data,
                   v >> LOG_STRB_LSB & LOG_STRB_MASK)
        sb.response(t + (v >> LOG_DT_LSB & LOG_DT_MASK), k0, data if k0 == "r" else 0,
                    v >> LOG_RESP_LSB & LOG_RESP_MASK)
    sb.settle(settle)


class ScoreboardProcess:
    """The scoreboard in a process of its own, beside the simulator (the RTL server's).

    Forked from the server after its reset (and a resumed chip image): the child carries
    on with the in-process scoreboard ``sb`` (its model, counts and pending checks) as
    it was then and checks the recorder's log as ``feed`` sends it, one
    message per transactor program, while the simulator runs the next program on the
    other core.  The RTL's answers go to the firmware without waiting for the check, so a
    mismatch is known a few programs late: ``poll`` (every ring batch) picks up the
    child's report and ``errors``/``first_mismatch`` then say what the in-process
    Scoreboard would.  ``sync`` waits until the child has checked everything sent
    (session statistics, the end).  The child dies with the server (PR_SET_PDEATHSIG)
    and ends when the pipe closes.  It costs one pickled list of log values a program;
    the check in lockstep was about a third of the server's Python.
    """

    CLOSE_S = 10.0  # close(): the child drains what was sent, then ends; killed after this

    def __init__(self, sb: Scoreboard) -> None:
        self.log = sb.log
        self.errors = sb.errors
        self.checked = sb.checked
        self.first_mismatch = sb.first_mismatch
        self.messages: list[str] = list(sb.messages)
        self._logged = len(self.messages)
        self._pending = sb.outstanding
        # a write to the pipe of a child that died: EPIPE (an error naming the child),
        # not a SIGPIPE that would end the simulator (Python ignores it; an embedding
        # simulator may not)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        rx_child, self._tx = multiprocessing.Pipe(duplex=False)   # server -> child
        self._rx, tx_child = multiprocessing.Pipe(duplex=False)   # child -> server
        pid = os.fork()
        if pid == 0:  # the child: check until the server closes the pipe, never return
            code = 0
            try:
                self._tx.close()
                self._rx.close()
                _scoreboard_child(sb, rx_child, tx_child)
            except BaseException as e:
                code = 1
                try:
                    tx_child.send(("crash", f"{type(e).__name__}: {e}"))
                except OSError:
                    pass
            finally:
                os._exit(code)
        self.pid = pid
        rx_child.close()
        tx_child.close()

    def feed(self, vals: list[int], settle: int) -> None:
        try:
            self._tx.send((vals, settle))
        except OSError:
            self._recv()  # its reason, if it left one
            raise RuntimeError(f"the scoreboard process {self.pid} ended") from None

    def _recv(self) -> tuple:
        try:
            msg = self._rx.recv()
        except EOFError:
            raise RuntimeError(f"the scoreboard process {self.pid} ended (killed?)") from None
        if msg[0] == "crash":
            raise RuntimeError(f"the scoreboard process failed: {msg[1]}")
        return msg

    def _take(self, msg: tuple) -> None:
        self.errors, self.checked, self.first_mismatch, self.messages, self._pending = msg
        for m in self.messages[self._logged:]:
            self.log.error("MISMATCH %s", m)
        self._logged = len(self.messages)

    def poll(self) -> None:
        """Take the child's reports that arrived (a mismatch: errors > 0)."""
        while self._rx.poll():
            self._take(self._recv()[1:])

    def sync(self) -> None:
        """Wait until the child checked everything sent so far."""
        try:
            self._tx.send(None)
        except OSError:
            pass  # _recv says why
        while True:
            msg = self._recv()
            self._take(msg[1:])
            if msg[0] == "sync":
                return

    def finish(self) -> None:
        self.sync()
        self.close()
        assert not self._pending, f"{self._pending} requests never got a response"
        assert self.errors == 0, f"{self.errors} mismatches against the model " \
                                 f"({self.checked} responses checked)"
        self.log.info("scoreboard: %d responses checked, 0 mismatches", self.checked)

    def close(self) -> None:
        """End the child (the pipe's end; SIGKILL if it has not ended CLOSE_S later), reap
        it."""
        if not self.pid:
            return
        self._tx.close()
        deadline = time.monotonic() + self.CLOSE_S
        try:
            while os.waitpid(self.pid, os.WNOHANG) == (0, 0):
                if time.monotonic() > deadline:
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                    break
                time.sleep(0.01)
        except ChildProcessError:
            pass
        self.pid = 0


def _scoreboard_child(sb: Scoreboard, rx, tx) -> None:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with it
    if os.getppid() == 1:
        return
    sb.log = logging.getLogger("cocotb.tb.scoreboard.child")
    sb.log.disabled = True  # the server logs the child's reports
    reported = sb.errors > 0  # the first mismatch is reported at once, more at sync

    def report(kind: str) -> None:
        tx.send((kind, sb.errors, sb.checked, sb.first_mismatch, sb.messages,
                 sb.outstanding))

    while True:
        try:
            msg = rx.recv()
        except EOFError:
            return
        if msg is None:
            report("sync")
            continue
        feed_log(sb, msg[0], msg[1])
        if sb.errors != reported and not reported:  # the first mismatch now, more at sync
            reported = sb.errors > 0  # the first mismatch is reported at once, more at sync
            report("error")


class BusMonitor:
    """Samples AXI-Lite handshakes and irq_o on every rising edge, stamps them with the
    edge index and feeds them to a scoreboard (top ``cim_macro``, Python-driven bus)."""

    def __init__(self, dut, sb: Scoreboard) -> None:
        self.dut = dut
        self.sb = sb
        self.log = logging.getLogger("cocotb.tb.monitor")
        self.edge = 0
        self._task = None

    def start(self) -> None:
        self._task = cocotb.start_soon(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        d, sb = self.dut, self.sb
        while True:
            await RisingEdge(d.clk_i)
            if not int(d.rst_ni.value):
                self.edge = 0
                continue
            t = self.edge
            # Before this edge's requests: irq_o shows the state left by earlier edges.
            sb.irq(t, int(d.irq_o.value))
            if int(d.s_axil_arvalid.value) and int(d.s_axil_arready.value):
                sb.request(t, "r", int(d.s_axil_araddr.value), 0, 0xF)
            if (int(d.s_axil_awvalid.value) and int(d.s_axil_awready.value)
                    and int(d.s_axil_wvalid.value) and int(d.s_axil_wready.value)):
                sb.request(t, "w", int(d.s_axil_awaddr.value), int(d.s_axil_wdata.value),
                           int(d.s_axil_wstrb.value))
            if int(d.s_axil_rvalid.value) and int(d.s_axil_rready.value):
                sb.response(t, "r", int(d.s_axil_rdata.value), int(d.s_axil_rresp.value))
            if int(d.s_axil_bvalid.value) and int(d.s_axil_bready.value):
                sb.response(t, "w", 0, int(d.s_axil_bresp.value))
            self.edge += 1


class CimTb:
    """Clock, reset, bus driver and a model scoreboard around one cim_macro."""

    CLK_NS = 10

    def __init__(self, dut) -> None:
        self.dut = dut
        self.log = logging.getLogger("cocotb.tb")
        self.params = dut_params(dut)
        self.model = chip_model(self.params)
        self.sb = Scoreboard(self.model, self.log)
        logging.getLogger("cocotb.cim_macro.s_axil").setLevel(logging.WARNING)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk_i, dut.rst_ni,
                                  reset_active_level=False)
        for name in ("cocotb.cim_macro.s_axil", self.axil.write_if.log.name,
                     self.axil.read_if.log.name):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.monitor = BusMonitor(dut, self.sb)

    @property
    def errors(self) -> int:
        return self.sb.errors

    @property
    def checked(self) -> int:
        return self.sb.checked

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        cocotb.start_soon(Clock(self.dut.clk_i, self.CLK_NS, unit="ns").start())
        self.dut.rst_ni.value = 0
        await ClockCycles(self.dut.clk_i, 4)
        self.dut.rst_ni.value = 1
        self.sb.reset()
        self.monitor.start()

    def stop(self) -> None:
        self.monitor.stop()

    async def reset(self) -> None:
        """Digital reset mid-test: registers reset, the array keeps its state."""
        await RisingEdge(self.dut.clk_i)
        self.dut.rst_ni.value = 0
        await ClockCycles(self.dut.clk_i, 2)
        self.dut.rst_ni.value = 1
        self.sb.reset()

    def finish(self) -> None:
        """End-of-test check: an explicit error count, with the numbers involved."""
        self.stop()
        self.sb.finish()

    # -- bus helpers -----------------------------------------------------------------------
    async def write(self, addr: int | str, value: int) -> int:
        addr = A[addr] if isinstance(addr, str) else addr
        r = await self.axil.write(addr, (value & 0xFFFFFFFF).to_bytes(4, "little"))
        return int(r.resp)

    async def read(self, addr: int | str) -> tuple[int, int]:
        addr = A[addr] if isinstance(addr, str) else addr
        r = await self.axil.read(addr, 4)
        return int.from_bytes(r.data, "little"), int(r.resp)

    async def wr(self, addr: int | str, value: int) -> None:
        """Write that must succeed."""
        resp = await self.write(addr, value)
        assert resp == 0, f"write {addr} <- 0x{value:08X}: {RESP_NAME[resp]}"

    async def rd(self, addr: int | str) -> int:
        """Read that must succeed."""
        data, resp = await self.read(addr)
        assert resp == 0, f"read {addr}: {RESP_NAME[resp]}"
        return data

    async def wait_idle(self, timeout_reads: int = 10000) -> int:
        """Poll STATUS until not BUSY; returns the number of polls."""
        for n in range(timeout_reads):
            if not (await self.rd("STATUS")) & regs.MSK["STATUS_BUSY"]:
                return n
        raise TimeoutError("STATUS.BUSY stuck")

    async def command(self, opcode: str, signed: bool = False, pol: int = 0) -> None:
        await self.wr("CMD", regs.pack_cmd(opcode=regs.OP[opcode], signed=int(signed), pol=pol))
        await self.wait_idle()

    async def set_window(self, tile: int, r0: int, nr: int, c0: int, nc: int) -> None:
        for name, v in (("TILE", tile), ("ROW_START", r0), ("ROW_COUNT", nr),
                        ("COL_START", c0), ("COL_COUNT", nc)):
            await self.wr(name, v)

    async def load_inputs(self, codes) -> None:
        """Write input codes (bytes, line 0 upwards) into INBUF."""
        codes = [int(c) & 0xFF for c in codes]
        codes += [0] * (-len(codes) % 4)
        for w in range(len(codes) // 4):
            b = codes[4 * w:4 * w + 4]
            await self.wr(A["INBUF"] + 4 * w, b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24)

    async def set_conductances(self, tile: int, row: int, col: int, gp, gn) -> None:
        """Backdoor-write consecutive cell pairs starting at (tile, row, col), row-major."""
        await self.wr("CTRL", (await self.rd("CTRL")) | regs.MSK["CTRL_DBG_EN"])
        await self.wr("DBG_ADDR", regs.pack_dbg_addr(tile=tile, row=row, col=col))
        for p_, n_ in zip(gp, gn, strict=True):
            await self.wr("DBG_G", regs.pack_dbg_g(gp=int(p_), gn=int(n_)))

    async def get_conductance(self, tile: int, row: int, col: int) -> tuple[int, int]:
        await self.wr("DBG_ADDR", regs.pack_dbg_addr(tile=tile, row=row, col=col))
        return regs.unpack_dbg_g(await self.rd("DBG_G"))

    async def quiet(self) -> None:
        """All noise sources off (for hand-computable checks)."""
        for name in ("NOISE_READ_SIGMA", "NOISE_PULSE_SIGMA", "NOISE_ADC_SIGMA"):
            await self.wr(name, 0)


def regression_ops(default: int) -> int:
    return int(os.environ.get("CIM_REGRESSION_OPS", default))



def _raw(handle):
    """The simulator object behind a cocotb handle: its get/set calls cost about a third
    of the handle's ``.value`` (no LogicArray round trip), which matters at one call per
    log entry.  None when this cocotb has no such object (then ``.value`` is used)."""
    h = getattr(handle, "_handle", None)
    ok = h is not None and all(hasattr(h, f) for f in ("get_signal_val_binstr",
                                                       "set_signal_val_binstr"))
    return h if ok else None


_NO_DELAY = 3  # cocotb's GPI "no delay" write action (what Immediate() uses)


class XactTb:
    """The bench on top ``cim_tb_top``: HDL clock, transactor and recorder, model
    scoreboard fed from the recorder's log.

        xt = XactTb(dut); await xt.start()
        res = await xt.run([(OP_WRITE, A["SEED"], 7), (OP_READ, A["SEED"], 0)])
        # -> [(0, 0, t0), (7, 0, t1)]: (data, response, handshake edge) per request

    ``run`` plays a program (``(op, addr, data[, strb])``; OP_IDLE's data is an edge
    index: the next request's handshake lands there, or as soon as possible after it;
    OP_WAIT's data is a number of edges: the next request's handshake lands on the first
    edge where STATUS.BUSY reads 0, or that many edges late at most),
    then feeds every handshake and irq_o change of the log, in edge order, to the
    scoreboard.  Simulated time runs only inside ``run``: from the first rising edge
    after the call (the first request's handshake edge when the bus is idle) to the
    edge of the last response.  ``check=False``: no scoreboard (a replay compares with
    its trace instead).
    """

    def __init__(self, dut, check: bool = True) -> None:
        self.dut = dut
        self._vals: list = []  # the log values of the last program (_drain)
        self.log = logging.getLogger("cocotb.tb")
        self.params = dut_params(dut)
        self.model = chip_model(self.params)
        self.sb = Scoreboard(self.model, self.log) if check else None
        self.prog_depth = int(dut.ProgDepth.value)
        self.log_depth = int(dut.LogDepth.value)
        self._prog_hi = [None] * self.prog_depth
        self._prog_lo = [None] * self.prog_depth
        self._log = [None] * self.log_depth
        self._seq = 0
        self._rp = 0            # log entries consumed
        self.edge = 0           # index of the next rising edge
        self.programs = 0
        self.entries = 0        # program entries played (requests and IDLEs)
        self.sim_s = 0.0        # wall time spent in the simulator, awaiting programs
        self._len = _raw(dut.prog_len)
        self._req = _raw(dut.req_seq)
        self._wp = _raw(dut.log_wp)
        self._redge = _raw(dut.rec_edge)
        self._timeout = _raw(dut.x_timeout)
        self._fast = None not in (self._len, self._req, self._wp, self._redge)
        # a program starts when req_seq differs from ack_seq: continue from the HDL's
        # count (an earlier test of this simulation may have run programs)
        self._seq = self._get(dut.ack_seq, _raw(dut.ack_seq))

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, prog: list | None = None) -> list:
        """Reset, then release it; ``prog`` (optional) is started during reset, so that
        its first request's handshake can be edge 0.  Returns ``prog``'s results."""
        d = self.dut
        d.rst_ni.value = 0
        await Timer(42, unit="ns")
        self._rp = self._get(d.log_wp, self._wp)
        if self.sb is not None:
            self.sb.reset()
        if prog:
            self._load(prog[:self.prog_depth])
        await Timer(5, unit="ns")
        # Released between a rising and a falling edge: the next rising edge is edge 0,
        # and the transactor presents a program's first request on the falling edge
        # before it, so a program started now (or during reset) can hand-shake on edge 0.
        d.rst_ni.value = Immediate(1)
        self.edge = 0
        if not prog:
            return []
        out = await self._finish(prog[:self.prog_depth])
        return out + (await self.run(prog[self.prog_depth:]) if len(prog) > self.prog_depth
                      else [])

    def check_in_process(self) -> ScoreboardProcess:
        """From now on the scoreboard runs in a process of its own (ScoreboardProcess),
        holding the model as it is now: call after ``start`` (and a chip image's restore).
        ``self.model`` is not updated after this."""
        self.sb = ScoreboardProcess(self.sb)
        return self.sb

    # -- programs --------------------------------------------------------------------------
    def _get(self, handle, raw) -> int:
        return int(raw.get_signal_val_binstr(), 2) if raw is not None else int(handle.value)

    def _entry(self, arr: list, sig, i: int):
        h = arr[i]
        if h is None:
            h = sig[i]
            arr[i] = (h, _raw(h))
            h = arr[i]
        return h

    def _load(self, prog: list) -> None:
        hi, lo, d = self._prog_hi, self._prog_lo, self.dut
        for i, e in enumerate(prog):
            op, addr, data = e[0], e[1], e[2]
            strb = e[3] if len(e) > 3 else 0xF
            h1, r1 = hi[i] if hi[i] is not None else self._entry(hi, d.prog_hi, i)
            h0, r0 = lo[i] if lo[i] is not None else self._entry(lo, d.prog_lo, i)
            vh = (op << PROG_OP_HI | strb << PROG_STRB_HI | addr << PROG_ADDR_HI
                  if op != OP_IDLE and op != OP_WAIT else op << PROG_OP_HI | data >> 32)
            vl = data & 0xFFFFFFFF
            if r1 is not None and r0 is not None:
                r1.set_signal_val_int(_NO_DELAY, vh)
                r0.set_signal_val_int(_NO_DELAY, vl)
            else:
                h1.value = Immediate(vh)
                h0.value = Immediate(vl)
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        if self._fast:
            self._len.set_signal_val_int(_NO_DELAY, len(prog))
            self._req.set_signal_val_int(_NO_DELAY, self._seq)
        else:
            self.dut.prog_len.value = Immediate(len(prog))
            self.dut.req_seq.value = Immediate(self._seq)

    async def run(self, prog: list) -> list:
        """Play ``prog``; returns ``(data, resp, edge)`` per request (not per IDLE)."""
        out = []
        for k in range(0, len(prog), self.prog_depth):
            part = prog[k:k + self.prog_depth]
            self._load(part)
            out += await self._finish(part)
        return out

    async def _finish(self, prog: list) -> list:
        t0 = time.perf_counter()
        await self.dut.ack_seq.value_change
        self.sim_s += time.perf_counter() - t0
        self.programs += 1
        self.entries += len(prog)
        out = self._drain(prog)
        if self._get(self.dut.x_timeout, self._timeout):
            d = self.dut
            raise TimeoutError(f"transactor: entry {self._get(d.x_pc, None)} of a program of "
                               f"{len(prog)} not accepted or not answered within "
                               f"{int(d.StallEdges.value)} edges (edge {self.edge - 1}): the "
                               "macro does not answer on its bus")
        return out

    def _drain(self, prog: list) -> list:
        d, sb = self.dut, self.sb
        wp = self._get(d.log_wp, self._wp)
        n = (wp - self._rp) & 0xFFFFFFFF
        if n > self.log_depth:
            raise RuntimeError(f"recorder log overflow: {n} entries > {self.log_depth}")
        lh, larr, depth = self._log, d.log_mem, self.log_depth
        reqs = [e for e in prog if e[0] != OP_IDLE and e[0] != OP_WAIT]
        out: list = []
        vals = self._vals   # the program's log values, for the scoreboard (feed_log)
        vals.clear()
        for i in range(self._rp, self._rp + n):
            k = i % depth
            h, raw = lh[k] if lh[k] is not None else self._entry(lh, larr, k)
            v = int(raw.get_signal_val_binstr(), 2) if raw is not None else int(h.value)
            vals.append(v)
            kind, t = v >> LOG_KIND_LSB & LOG_KIND_MASK, v >> LOG_EDGE_LSB
            if kind == K_IRQ:
                continue
            data = v & LOG_DATA_MASK
            j = len(out)
            addr = v >> LOG_ADDR_LSB & LOG_ADDR_MASK
            resp = v >> LOG_RESP_LSB & LOG_RESP_MASK
            is_read = kind == K_READ
            if j >= len(reqs) or reqs[j][1] != addr or (reqs[j][0] == OP_READ) != is_read \
                    or (not is_read and reqs[j][2] != data):
                raise RuntimeError(f"transactor: access {j} on the bus is "
                                   f"{'read' if is_read else 'write'} 0x{addr:04X}, "
                                   f"program says {reqs[j] if j < len(reqs) else None}")
            out.append((data if is_read else 0, resp, t))
        self._rp = wp
        self.edge = self._get(d.rec_edge, self._redge) + 1
        if isinstance(sb, ScoreboardProcess):
            sb.feed(vals, self.edge - 1)
        elif sb is not None:
            feed_log(sb, vals, self.edge - 1)
        if len(out) != len(reqs) and not self._get(d.x_timeout, self._timeout):
            raise RuntimeError(f"transactor: {len(out)} responses to {len(reqs)} requests")
        return out

    def finish(self) -> None:
        if self.sb is not None:
            self.sb.finish()
