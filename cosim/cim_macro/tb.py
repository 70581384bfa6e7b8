"""Testbench of cim_macro: driver -> monitor -> model -> checker.

* Driver: cocotbext-axi ``AxiLiteMaster`` on the ``s_axil`` bus.
* Monitor: samples the AXI handshakes on every rising edge and stamps each
  request with its edge index (edges since reset release), the time base of
  docs/arithmetic.md §4.
* Model: ``cimtrain.model.CimMacro`` built from the DUT's own parameters, fed
  every request at its handshake edge, so BUSY windows, cycle counters and
  noise indices line up exactly.
* Checker: compares every read data / response and write response, and the
  irq_o pin on every edge, against the model; counts mismatches.
"""

from __future__ import annotations

import logging
import os
from collections import deque

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster

from cimtrain import regs
from cimtrain.model import CimMacro

A = regs.ADDR
RESP_NAME = {0: "OKAY", 1: "EXOKAY", 2: "SLVERR", 3: "DECERR"}


def dut_params(dut) -> dict:
    """The DUT's parameters, read at run time so the model cannot drift from the RTL."""
    return {"NTILES": int(dut.NTiles.value), "ROWS": int(dut.Rows.value),
            "COLS": int(dut.Cols.value)}


class BusMonitor:
    """Stamps AXI-Lite handshakes with their edge index and feeds them to a callback."""

    def __init__(self, dut, on_edge, on_request, on_response) -> None:
        self.dut = dut
        self.on_edge = on_edge
        self.log = logging.getLogger("cocotb.tb.monitor")
        self.on_request = on_request
        self.on_response = on_response
        self.edge = 0
        self._task = None

    def start(self) -> None:
        self._task = cocotb.start_soon(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        d = self.dut
        while True:
            await RisingEdge(d.clk_i)
            if not int(d.rst_ni.value):
                self.edge = 0
                continue
            t = self.edge
            self.on_edge(t)
            if int(d.s_axil_arvalid.value) and int(d.s_axil_arready.value):
                self.on_request(t, "r", int(d.s_axil_araddr.value), 0, 0xF)
            if (int(d.s_axil_awvalid.value) and int(d.s_axil_awready.value)
                    and int(d.s_axil_wvalid.value) and int(d.s_axil_wready.value)):
                self.on_request(t, "w", int(d.s_axil_awaddr.value), int(d.s_axil_wdata.value),
                                int(d.s_axil_wstrb.value))
            if int(d.s_axil_rvalid.value) and int(d.s_axil_rready.value):
                self.on_response(t, "r", int(d.s_axil_rdata.value), int(d.s_axil_rresp.value))
            if int(d.s_axil_bvalid.value) and int(d.s_axil_bready.value):
                self.on_response(t, "w", 0, int(d.s_axil_bresp.value))
            self.edge += 1


# One model per simulated chip.  cocotb runs every test of a module in one simulation,
# and the RTL array (memristors) keeps its state across rst_ni, so the model of that
# array must outlive a test too: each test gets a digital reset, not a fresh chip.
_CHIP_MODELS: dict[tuple, CimMacro] = {}


def chip_model(params: dict) -> CimMacro:
    key = tuple(sorted(params.items()))
    if key not in _CHIP_MODELS:
        _CHIP_MODELS[key] = CimMacro("default", **params)
    return _CHIP_MODELS[key]


class CimTb:
    """Clock, reset, bus driver and a model scoreboard around one cim_macro."""

    CLK_NS = 10

    def __init__(self, dut) -> None:
        self.dut = dut
        self.log = logging.getLogger("cocotb.tb")
        self.params = dut_params(dut)
        self.model = chip_model(self.params)
        self.errors = 0
        self.checked = 0
        self._expect: deque = deque()
        self._max_errors_logged = 20
        logging.getLogger("cocotb.cim_macro.s_axil").setLevel(logging.WARNING)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk_i, dut.rst_ni,
                                  reset_active_level=False)
        for name in ("cocotb.cim_macro.s_axil", self.axil.write_if.log.name,
                     self.axil.read_if.log.name):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.monitor = BusMonitor(dut, self._on_edge, self._on_request, self._on_response)

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        cocotb.start_soon(Clock(self.dut.clk_i, self.CLK_NS, unit="ns").start())
        self.dut.rst_ni.value = 0
        await ClockCycles(self.dut.clk_i, 4)
        self.dut.rst_ni.value = 1
        self.model.reset()
        self.monitor.start()

    def stop(self) -> None:
        self.monitor.stop()

    async def reset(self) -> None:
        """Digital reset mid-test: registers reset, the array keeps its state."""
        await RisingEdge(self.dut.clk_i)
        self.dut.rst_ni.value = 0
        await ClockCycles(self.dut.clk_i, 2)
        self.dut.rst_ni.value = 1
        self.model.reset()

    def finish(self) -> None:
        """End-of-test check: an explicit error count, with the numbers involved."""
        self.stop()
        assert not self._expect, f"{len(self._expect)} requests never got a response"
        assert self.errors == 0, f"{self.errors} mismatches against the model " \
                                 f"({self.checked} responses checked)"
        self.log.info("scoreboard: %d responses checked, 0 mismatches", self.checked)

    # -- scoreboard ------------------------------------------------------------------------
    def _on_request(self, t: int, kind: str, addr: int, data: int, strb: int) -> None:
        if kind == "r":
            exp = self.model.read(addr, cycle=t)
        else:
            exp = (0, self.model.write(addr, data, strb, cycle=t))
        self._expect.append((t, kind, addr, data, exp))

    def _on_response(self, t: int, kind: str, data: int, resp: int) -> None:
        if not self._expect:
            self._mismatch(f"unexpected {kind} response at edge {t}")
            return
        t0, k0, addr, wdata, (edata, eresp) = self._expect.popleft()
        self.checked += 1
        if k0 != kind or edata != data or eresp != resp:
            what = f"read 0x{addr:04X}" if k0 == "r" else f"write 0x{addr:04X} <- 0x{wdata:08X}"
            self._mismatch(f"{what} at edge {t0}: expected data 0x{edata:08X} "
                           f"{RESP_NAME[eresp]}, got 0x{data:08X} {RESP_NAME[resp]}")

    def _mismatch(self, msg: str) -> None:
        self.errors += 1
        if self.errors <= self._max_errors_logged:
            self.log.error("MISMATCH %s", msg)

    def _on_edge(self, t: int) -> None:
        # Before this edge's requests: irq_o shows the state left by earlier edges.
        exp = int(self.model.irq_at(t))
        got = int(self.dut.irq_o.value)
        if got != exp:
            self._mismatch(f"irq_o = {got}, model {exp} at edge {t}")

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
        cmd = regs.OP[opcode] | int(signed) << regs.POS["CMD_SIGNED"] | pol << regs.POS["CMD_POL"]
        await self.wr("CMD", cmd)
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
        await self.wr("DBG_ADDR", tile << 24 | row << 8 | col)
        for p_, n_ in zip(gp, gn, strict=True):
            await self.wr("DBG_G", int(p_) | int(n_) << 16)

    async def get_conductance(self, tile: int, row: int, col: int) -> tuple[int, int]:
        await self.wr("DBG_ADDR", tile << 24 | row << 8 | col)
        v = await self.rd("DBG_G")
        return v & 0xFFFF, v >> 16

    async def quiet(self) -> None:
        """All noise sources off (for hand-computable checks)."""
        for name in ("NOISE_READ_SIGMA", "NOISE_PULSE_SIGMA", "NOISE_ADC_SIGMA"):
            await self.wr(name, 0)


def regression_ops(default: int) -> int:
    return int(os.environ.get("CIM_REGRESSION_OPS", default))
