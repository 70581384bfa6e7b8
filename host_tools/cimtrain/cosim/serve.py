"""The RTL server inside the simulator: the bridge protocol served by cim_macro (the cocotb
module that rtl_server.py runs; its one cocotb test, ``serve_window``, is the server).

Environment: CIMTRAIN_WINDOW, CIMTRAIN_SESSIONS, CIMTRAIN_ATTACH_TIMEOUT, CIMTRAIN_TRACE,
CIMTRAIN_STATUS (the status file, bridge/status.py).  Creates the window, then per
firmware session drains the ring in batches (C library) and plays every batch into the
RTL as one program of the HDL transactor of cim_tb_top (cim_tb_top.v): AXI4-Lite
accesses back to back, one transaction at a time, in ring order.  The HDL recorder logs
every handshake and irq_o change with its edge; the bit-exact model runs in lockstep
as the scoreboard of tb.py (every read, response and the irq_o pin at
every edge).  Read data and bus responses go back through the window.  Accesses at or
above the macro's window size get DECERR from the "interconnect" (this server) and never
reach the bus, as with the model server.

wait_done: the scoreboard predicts the edge the command ends; the transactor idles to
that edge and reads STATUS there, then (only if BUSY still reads 1) polls with a
back-off of 4..256 cycles until BUSY reads 0, as the board HAL does; timeout_ms counts
100 MHz cycles.  A scoreboard mismatch fails the server, and the firmware receives the
first mismatch as the reason.

Simulated time only runs while the server drives the bus: idle firmware costs no cycles.
"""

from __future__ import annotations

import logging
import os
import time

import cocotb

from .. import regs
from ..bridge import protocol as P
from ..bridge import status as S
from ..bridge import trace as T
from ..bridge.window import BridgeError, BridgeTimeout, PeerError, ServerWindow
from ..lifetime import die_with_parent
from .tb import OP_IDLE, OP_READ, OP_WRITE, XactTb

STATUS = regs.ADDR["STATUS"]
BUSY = regs.MSK["STATUS_BUSY"]


class RtlServer:
    def __init__(self, xt: XactTb, win: ServerWindow, trace: T.TraceWriter | None = None) -> None:
        self.xt, self.win, self.trace = xt, win, trace
        # outside the macro's window the interconnect answers DECERR; the bus never sees it
        self.limit = win.hdr(P.H_MACRO_BYTES)
        self.log = logging.getLogger("cocotb.rtl_server")
        self.stats = {"records": 0, "writes": 0, "reads": 0, "waits": 0, "errors": 0,
                      "polls": 0}

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
        """One ring batch: the accesses up to a WAIT (the C drain ends a batch at its first
        blocking record, so usually all of them) as one transactor program, then the
        wait.  Errors are reported and read data stored in ring order afterwards; the
        interconnect's DECERRs take no bus time."""
        win, st, limit = self.win, self.stats, self.limit
        prog: list = []
        acc: list = []     # (seq, op, addr, is_read, wdata, on the bus) in ring order
        seq, status = 0, P.RSP_OK
        for seq, op, arg, addrs, wdata in P.decode(recs):
            st["records"] += 1
            if op == P.OP_WRITE or op == P.OP_WRITE_FIXED:
                for a, d in zip(addrs, wdata):
                    bus = a < limit
                    if bus:
                        prog.append((OP_WRITE, a, d))
                    acc.append((seq, op, a, False, d, bus))
                st["writes"] += len(wdata)
            elif op == P.OP_READ or op == P.OP_READ_FIXED:
                for a in addrs:
                    bus = a < limit
                    if bus:
                        prog.append((OP_READ, a, 0))
                    acc.append((seq, op, a, True, 0, bus))
                st["reads"] += len(addrs)
            elif op == P.OP_WAIT:
                await self._play(prog, acc)
                prog, acc = [], []
                status = await self._wait(arg)
                st["waits"] += 1
                if status:      # reported as an error too: a posted wait has no status
                    win.error(seq, op, arg, self.xt.model.cmd)
        await self._play(prog, acc)
        sb = self.xt.sb
        if sb.errors:
            raise AssertionError(f"RTL/model mismatch ({sb.errors}): {sb.first_mismatch}")
        win.complete(seq, status)

    async def _play(self, prog: list, acc: list) -> None:
        if acc:
            self._results(acc, await self.xt.run(prog) if prog else [])

    def _results(self, acc: list, res: list) -> None:
        win, rd, tr = self.win, self.win.rdbuf, self.trace
        j = k = 0
        edge = self.xt.edge
        for seq, op, a, is_read, wdata, bus in acc:
            if bus:
                data, resp, edge = res[j]
                j += 1
            else:
                data, resp = 0, P.RESP_DECERR
            if is_read:
                rd[k] = data
                k += 1
            if resp:
                win.error(seq, op, a, resp)
                self.stats["errors"] += 1
            if tr is not None:
                tr.add(T.OP_READ if is_read else T.OP_WRITE, a, data if is_read else wdata,
                       resp, edge, 0 if bus else T.F_INTERCONNECT)

    async def _wait(self, timeout_ms: int) -> int:
        xt, tr = self.xt, self.trace
        deadline = xt.edge + timeout_ms * P.CLOCK_KHZ
        target = min(xt.model.idle_cycle, deadline)
        gap = 4
        status = P.RSP_OK
        while True:
            [(data, resp, t)] = await xt.run([(OP_IDLE, 0, target), (OP_READ, STATUS, 0)])
            self.stats["polls"] += 1
            if tr is not None:
                tr.add(T.OP_READ, STATUS, data, resp, t, T.F_POLL)
            if not data & BUSY:
                break
            if t >= deadline:
                status = P.RSP_TIMEOUT
                break
            target = t + min(gap, max(1, deadline - t))
            gap = min(2 * gap, 256)
        if tr is not None:
            tr.add(T.OP_WAIT, timeout_ms, status, 0, xt.edge)
        return status


def session_stats(srv: RtlServer) -> dict:
    """What the status file reports of a session (the keys of results/cosim.json's
    "server")."""
    s, xt = srv.stats, srv.xt
    return {"requests": s["records"], "writes": s["writes"], "reads": s["reads"],
            "waits": s["waits"], "bus_errors": s["errors"], "responses_checked": xt.sb.checked,
            "cycles": xt.edge}


@cocotb.test()
async def serve_window(dut):
    """Serve CIMTRAIN_WINDOW for CIMTRAIN_SESSIONS firmware sessions."""
    die_with_parent()   # the simulator ends with rtl_server.py, which started it
    name = os.environ["CIMTRAIN_WINDOW"]
    sessions = int(os.environ.get("CIMTRAIN_SESSIONS", "1"))
    attach_timeout = float(os.environ.get("CIMTRAIN_ATTACH_TIMEOUT", "60"))
    trace_path = os.environ.get("CIMTRAIN_TRACE")
    status = S.StatusFile(os.environ["CIMTRAIN_STATUS"]) if os.environ.get("CIMTRAIN_STATUS") \
        else None
    xt = XactTb(dut)
    await xt.start()
    win = ServerWindow(name, kind=P.KIND_RTL)
    trace = (T.TraceWriter(trace_path, "rtl", xt.params, os.environ.get("CIMTRAIN_PRESET", ""),
                           P.CLOCK_KHZ) if trace_path else None)
    srv = RtlServer(xt, win, trace)
    try:
        if win.note:
            print(f"rtl server: {win.note}", flush=True)
        print(f"rtl server: window '{name}' ready (pid {os.getpid()}, {xt.params})", flush=True)
        if status is not None:
            status.ready(params=xt.params)
        for k in range(sessions):
            t0 = time.perf_counter()
            try:
                code = await srv.serve_session(attach_timeout)
            except PeerError as e:
                raise AssertionError(f"rtl server: {e}") from None
            s = srv.stats
            dt = time.perf_counter() - t0
            if status is not None:
                status.session(code, dt, session_stats(srv), mismatches=xt.sb.errors,
                               status_polls=s["polls"])
            print(f"rtl server: session {k + 1}: firmware exited with status {code} after "
                  f"{dt:.2f} s; {s['records']} requests, {s['writes']} "
                  f"writes, {s['reads']} reads, {s['waits']} waits ({s['polls']} STATUS "
                  f"reads), {s['errors']} bus errors, {xt.sb.checked} responses checked "
                  f"against the model, {xt.edge} cycles", flush=True)
        xt.finish()
    except BaseException as e:
        msg = f"rtl server: {e}" if not isinstance(e, BridgeError) else str(e)
        if not isinstance(e, PeerError):
            win.fail(msg)
        if status is not None:
            status.fail(msg)
        raise
    finally:
        win.close()
        if trace is not None:
            trace.close()
            print(f"rtl server: {trace.count} transactions traced to {trace.path}", flush=True)
