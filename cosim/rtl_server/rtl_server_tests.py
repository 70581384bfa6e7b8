"""RTL server: the bridge protocol served by cim_macro in the simulator (cocotb side).

Started by run_rtl_server.py (environment: CIMTRAIN_WINDOW, CIMTRAIN_SESSIONS,
CIMTRAIN_ATTACH_TIMEOUT).  Creates the window, then per firmware session drains the ring
in batches (C library) and drives every access into the RTL over AXI4-Lite in order
(cocotbext-axi, one transaction at a time), returns read data and bus responses through
the window, and runs the bit-exact model in lockstep as a scoreboard (cosim/cim_macro/
tb.py: every read, response and the irq_o pin at their clock edges).  Accesses at or
above the macro's window size get DECERR from the "interconnect" (this server) and never
reach the bus, as with the model server.

wait_done: the clock runs to the edge the scoreboard predicts the command ends, then
STATUS is polled over the bus (backing off 4..256 cycles) until BUSY reads 0, which is
what the board HAL does; timeout_ms counts 100 MHz cycles.  A scoreboard mismatch fails
the server, and the firmware receives the first mismatch as the reason.

Simulated time only runs while the server drives the bus: idle firmware costs no cycles.
"""

from __future__ import annotations

import logging
import os
import time

import cocotb
from cocotb.triggers import ClockCycles

from cimtrain import regs
from cimtrain.bridge import protocol as P
from cimtrain.bridge.window import BridgeError, BridgeTimeout, PeerError, ServerWindow

from tb import CimTb

STATUS = regs.ADDR["STATUS"]
BUSY = regs.MSK["STATUS_BUSY"]


class ServerTb(CimTb):
    """The bench of cosim/cim_macro, remembering its first mismatch for the firmware."""

    def __init__(self, dut) -> None:
        super().__init__(dut)
        self.first_mismatch = ""

    def _mismatch(self, msg: str) -> None:
        if not self.first_mismatch:
            self.first_mismatch = msg
        super()._mismatch(msg)


class RtlServer:
    def __init__(self, tb: ServerTb, win: ServerWindow) -> None:
        self.tb, self.win = tb, win
        # outside the macro's window the interconnect answers DECERR; the bus never sees it
        self.limit = win.hdr(P.H_MACRO_BYTES)
        self.log = logging.getLogger("cocotb.rtl_server")
        self.stats = {"records": 0, "writes": 0, "reads": 0, "waits": 0, "errors": 0}

    async def serve_session(self, attach_timeout_s: float) -> int:
        win = self.win
        # wait_attach blocks the simulator, in slices so that the log shows progress
        deadline = time.monotonic() + attach_timeout_s
        while not win.wait_attach(min(1.0, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                raise BridgeTimeout(f"no firmware attached to window '{win.name}' within "
                                    f"{attach_timeout_s:g} s")
        while True:
            recs = win.fetch(100)
            if recs is None:
                break
            if recs:
                await self._batch(recs)
        code = win.fw_exit
        win.reset_session()
        return code

    async def _batch(self, recs: list[int]) -> None:
        tb, win, rd, st = self.tb, self.win, self.win.rdbuf, self.stats
        limit = self.limit
        i, n, seq, status = 0, len(recs), 0, P.RSP_OK
        while i < n:
            seq, oc, addr = recs[i], recs[i + 1], recs[i + 2]
            op, cnt = oc >> P.REC_OP_SHIFT, oc & P.REC_COUNT_MASK
            st["records"] += 1
            if op in (P.OP_WRITE, P.OP_WRITE_FIXED):
                step = 4 if op == P.OP_WRITE else 0
                for k in range(cnt):
                    a = addr + step * k
                    resp = await tb.write(a, recs[i + 3 + k]) if a < limit else P.RESP_DECERR
                    if resp:
                        win.error(seq, op, a, resp)
                        st["errors"] += 1
                st["writes"] += cnt
                i += 3 + cnt
                continue
            if op in (P.OP_READ, P.OP_READ_FIXED):
                step = 4 if op == P.OP_READ else 0
                for k in range(cnt):
                    a = addr + step * k
                    data, resp = await tb.read(a) if a < limit else (0, P.RESP_DECERR)
                    rd[k] = data
                    if resp:
                        win.error(seq, op, a, resp)
                        st["errors"] += 1
                st["reads"] += cnt
            elif op == P.OP_WAIT:
                status = await self._wait(addr)
                st["waits"] += 1
            i += 3
        if tb.errors:
            raise AssertionError(f"RTL/model mismatch ({tb.errors}): {tb.first_mismatch}")
        win.complete(seq, status)

    async def _wait(self, timeout_ms: int) -> int:
        tb = self.tb
        clk = tb.dut.clk_i
        deadline = tb.monitor.edge + timeout_ms * P.CLOCK_KHZ
        ahead = min(tb.model.idle_cycle, deadline) - tb.monitor.edge
        if ahead > 0:
            await ClockCycles(clk, ahead)
        gap = 4
        while True:
            data, _ = await tb.read(STATUS)
            if not data & BUSY:
                return P.RSP_OK
            if tb.monitor.edge >= deadline:
                return P.RSP_TIMEOUT
            await ClockCycles(clk, min(gap, max(1, deadline - tb.monitor.edge)))
            gap = min(2 * gap, 256)


@cocotb.test()
async def serve_window(dut):
    """Serve CIMTRAIN_WINDOW for CIMTRAIN_SESSIONS firmware sessions."""
    name = os.environ["CIMTRAIN_WINDOW"]
    sessions = int(os.environ.get("CIMTRAIN_SESSIONS", "1"))
    attach_timeout = float(os.environ.get("CIMTRAIN_ATTACH_TIMEOUT", "60"))
    tb = ServerTb(dut)
    await tb.start()
    win = ServerWindow(name, kind=P.KIND_RTL)
    srv = RtlServer(tb, win)
    try:
        if win.note:
            print(f"rtl server: {win.note}", flush=True)
        print(f"rtl server: window '{name}' ready (pid {os.getpid()}, {tb.params})", flush=True)
        for k in range(sessions):
            t0 = time.perf_counter()
            try:
                code = await srv.serve_session(attach_timeout)
            except PeerError as e:
                raise AssertionError(f"rtl server: {e}") from None
            s = srv.stats
            print(f"rtl server: session {k + 1}: firmware exited with status {code} after "
                  f"{time.perf_counter() - t0:.2f} s; {s['records']} requests, {s['writes']} "
                  f"writes, {s['reads']} reads, {s['waits']} waits, {s['errors']} bus errors, "
                  f"{tb.checked} responses checked against the model", flush=True)
        tb.finish()
    except BaseException as e:
        if not isinstance(e, PeerError):
            win.fail(f"rtl server: {e}" if not isinstance(e, BridgeError) else str(e))
        raise
    finally:
        win.close()
