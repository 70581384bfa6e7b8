"""The RTL server inside the simulator: the bridge protocol served by cim_macro (the cocotb
module that rtl_server.py runs; its one cocotb test, ``serve_window``, is the server).

Environment: CIMTRAIN_WINDOW, CIMTRAIN_SESSIONS, CIMTRAIN_ATTACH_TIMEOUT, CIMTRAIN_TRACE,
CIMTRAIN_STATUS (the status file, bridge/status.py), CIMTRAIN_CKPT (the folder of the chip
images of SIM_SNAPSHOT), CIMTRAIN_RESUME_IMAGE (a checkpoint's chip image to start from;
see chipimage.py).  Creates the window, then per
firmware session drains the ring in batches (C library) and plays every batch into the
RTL as one program of the HDL transactor of cim_tb_top (cim_tb_top.v): AXI4-Lite
accesses back to back, one transaction at a time, in ring order.  The HDL recorder logs
every handshake and irq_o change with its edge; the bit-exact model checks them as
the scoreboard of tb.py (every read, response and the irq_o pin at every edge), in a
process of its own beside the simulator (tb.ScoreboardProcess; CIMTRAIN_SCOREBOARD=inline
keeps it in lockstep).  Read data and bus responses go back through the window.  Accesses at or
above the macro's window size get DECERR from the "interconnect" (this server) and never
reach the bus, as with the model server.

wait_done: a WAIT entry of the same transactor program as the accesses before it (the
CMD write): the transactor idles until the command ends (the edge where STATUS.BUSY
reads 0) or timeout_ms of 100 MHz cycles have passed, and reads STATUS on that edge;
BUSY still 1 there is a timeout.  One program for the accesses and the wait (the wait
used to be a program of its own, its edge predicted by the scoreboard's model): a
program costs a round trip between Python and the simulator.  A scoreboard mismatch
fails the server at the first ring batch after the check found it (a few transactor
programs late, in process mode), and the firmware receives the first mismatch as the
reason; a session's statistics wait for every check.

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
from ..bridge.simctl import SimCtl
from ..bridge.window import BridgeError, BridgeTimeout, PeerError, ServerWindow
from ..lifetime import die_with_parent
from .chipimage import read_image, restore_image
from .tb import OP_READ, OP_WAIT, OP_WRITE, XactTb

STATUS = regs.ADDR["STATUS"]
BUSY = regs.MSK["STATUS_BUSY"]
CMD = regs.ADDR["CMD"]


class RtlServer:
    def __init__(self, xt: XactTb, win: ServerWindow, trace: T.TraceWriter | None = None,
                 simctl: SimCtl | None = None, preset: str = "") -> None:
        self.xt, self.win, self.trace = xt, win, trace
        self.simctl = simctl if simctl is not None else SimCtl(None)
        self.preset = preset
        # outside the macro's window the interconnect answers DECERR; the bus never sees it
        self.limit = win.hdr(P.H_MACRO_BYTES)
        self.log = logging.getLogger("cocotb.rtl_server")
        self.stats = {"records": 0, "writes": 0, "reads": 0, "waits": 0, "errors": 0,
                      "polls": 0}
        self.fw_wait_s = 0.0    # wall time waiting for the firmware's next records
        self.cmd = 0            # the last CMD word the macro accepted (names a timed-out wait)
        self.async_check = hasattr(xt.sb, "poll")  # the scoreboard in its own process

    async def serve_session(self, attach_timeout_s: float) -> int:
        win = self.win
        # wait_attach blocks the simulator, in slices so that the log shows progress
        deadline = time.monotonic() + attach_timeout_s
        while not win.wait_attach(min(1.0, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                raise BridgeTimeout(f"no firmware attached to window '{win.name}' within "
                                    f"{attach_timeout_s:g} s")
        while True:
            t0 = time.perf_counter()
            recs = win.fetch(100)
            self.fw_wait_s += time.perf_counter() - t0
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
        acc: list = []     # (seq, op, addr, is_read, wdata, on the bus, answer off the bus)
        seq, status = 0, P.RSP_OK
        self._rk = 0       # next word of the read buffer
        for seq, op, arg, addrs, wdata in P.decode(recs):
            st["records"] += 1
            if op == P.OP_WRITE or op == P.OP_WRITE_FIXED:
                for a, d in zip(addrs, wdata):
                    bus = a < limit
                    if bus:
                        prog.append((OP_WRITE, a, d))
                        pre = None
                    elif a == P.SIM_SNAPSHOT:  # the bus in ring order, then the snapshot
                        await self._play(prog, acc)
                        prog, acc = [], []
                        pre = (0, await self._snapshot(d))
                    else:
                        pre = (0, self.simctl.write(a, d, None))
                    acc.append((seq, op, a, False, d, bus, pre))
                st["writes"] += len(wdata)
            elif op == P.OP_READ or op == P.OP_READ_FIXED:
                for a in addrs:
                    bus = a < limit
                    if bus:
                        prog.append((OP_READ, a, 0))
                    acc.append((seq, op, a, True, 0, bus, None if bus else self.simctl.read(a)))
                st["reads"] += len(addrs)
            elif op == P.OP_WAIT:  # idle to the command's end, then a STATUS read
                prog.append((OP_WAIT, 0, arg * P.CLOCK_KHZ))
                prog.append((OP_READ, STATUS, 0))
                acc.append((seq, op, arg, True, 0, True, None))
                st["waits"] += 1
        status = P.RSP_OK
        if acc:
            status = self._results(acc, await self.xt.run(prog) if prog else [])
        sb = self.xt.sb
        if self.async_check:
            sb.poll()
        if sb.errors:
            raise AssertionError(f"RTL/model mismatch ({sb.errors}): {sb.first_mismatch}")
        win.complete(seq, status)

    async def _play(self, prog: list, acc: list) -> None:
        if acc:
            self._results(acc, await self.xt.run(prog) if prog else [])

    async def _snapshot(self, tag: int) -> int:
        """SIM_SNAPSHOT: the chip image read through the debug backdoor (bridge/simctl.py)."""
        path = self.simctl.snapshot_path(tag)
        if path is None:
            return P.RESP_SLVERR
        from ..model.chip_image import save
        t0 = time.perf_counter()
        img = await read_image(self.xt)
        try:
            save(path, self.preset, img["seed"], img["g"], img["wc"], op_count=img["op_count"])
        except OSError as e:
            print(f"rtl server: chip image {path} not saved: {e}", flush=True)
            return P.RESP_SLVERR
        self.simctl.saved(tag)
        print(f"rtl server: chip image {path.name} saved ({img['g'].size // 2} cell pairs "
              f"read through DBG_WC/DBG_G in {time.perf_counter() - t0:.1f} s)", flush=True)
        return P.RESP_OKAY

    def _results(self, acc: list, res: list) -> int:
        """Read data, bus errors and trace records of ``acc`` in ring order; returns the
        status of the last wait (RSP_TIMEOUT if its STATUS read still said BUSY)."""
        win, rd, tr = self.win, self.win.rdbuf, self.trace
        j = 0
        k = self._rk
        edge = self.xt.edge
        status = P.RSP_OK
        for seq, op, a, is_read, wdata, bus, pre in acc:
            if bus:
                data, resp, edge = res[j]
                j += 1
            else:
                data, resp = pre   # the interconnect's answer (DECERR but for SIM_*)
            if op == P.OP_WAIT:    # its STATUS read (a: timeout_ms)
                self.stats["polls"] += 1
                status = P.RSP_TIMEOUT if data & BUSY or resp else P.RSP_OK
                if tr is not None:
                    tr.add(T.OP_READ, STATUS, data, resp, edge, T.F_POLL)
                    tr.add(T.OP_WAIT, a, status, 0, edge + 2)
                if status:      # reported as an error too: a posted wait has no status
                    win.error(seq, op, a, self.cmd)
                continue
            if not is_read and a == CMD and not resp:
                self.cmd = wdata
            if is_read:
                rd[k] = data
                k += 1
            if resp:
                win.error(seq, op, a, resp)
                self.stats["errors"] += 1
            if tr is not None:
                tr.add(T.OP_READ if is_read else T.OP_WRITE, a, data if is_read else wdata,
                       resp, edge, 0 if bus else T.F_INTERCONNECT)
        self._rk = k
        return status


def session_stats(srv: RtlServer) -> dict:
    """What the status file reports of a session (the keys of results/cosim.json's
    "server")."""
    s, xt = srv.stats, srv.xt
    return {"requests": s["records"], "writes": s["writes"], "reads": s["reads"],
            "waits": s["waits"], "bus_errors": s["errors"], "responses_checked": xt.sb.checked,
            "cycles": xt.edge, "programs": xt.programs, "sim_s": round(xt.sim_s, 2),
            "fw_wait_s": round(srv.fw_wait_s, 2)}


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
    preset = os.environ.get("CIMTRAIN_PRESET", "")
    resume = os.environ.get("CIMTRAIN_RESUME_IMAGE")
    if resume:  # before the window exists: the firmware finds the chip as it was saved
        try:
            img = await restore_image(xt, resume)
        except Exception as e:
            if status is not None:
                status.fail(f"rtl server: {e}")
            raise
        print(f"rtl server: resumed chip image {resume} (OP_COUNT {img.get('op_count', 0)})",
              flush=True)
    # The scoreboard checks in a process of its own from here on (tb.ScoreboardProcess):
    # the RTL's answers reach the firmware without waiting for it; CIMTRAIN_SCOREBOARD=
    # inline keeps it in lockstep (a mismatch then stops the server on its batch).
    if os.environ.get("CIMTRAIN_SCOREBOARD", "process") != "inline":
        xt.check_in_process()
    win = ServerWindow(name, kind=P.KIND_RTL)
    trace = (T.TraceWriter(trace_path, "rtl", xt.params, preset,
                           P.CLOCK_KHZ) if trace_path else None)
    srv = RtlServer(xt, win, trace, SimCtl(os.environ.get("CIMTRAIN_CKPT"),
                                           lambda m: print(f"rtl server: {m}", flush=True)),
                    preset)
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
            if srv.async_check:
                xt.sb.sync()   # every response of the session checked
                if xt.sb.errors:
                    raise AssertionError(f"RTL/model mismatch ({xt.sb.errors}): "
                                         f"{xt.sb.first_mismatch}")
            s = srv.stats
            dt = time.perf_counter() - t0
            if status is not None:
                status.session(code, dt, session_stats(srv), mismatches=xt.sb.errors,
                               status_polls=s["polls"])
            print(f"rtl server: session {k + 1}: firmware exited with status {code} after "
                  f"{dt:.2f} s; {s['records']} requests, {s['writes']} "
                  f"writes, {s['reads']} reads, {s['waits']} waits ({s['polls']} STATUS "
                  f"reads), {s['errors']} bus errors, {xt.sb.checked} responses checked "
                  f"against the model, {xt.edge} cycles; {xt.programs} transactor programs "
                  f"({xt.entries} entries); {xt.sim_s:.1f} s in the simulator, "
                  f"{srv.fw_wait_s:.1f} s waiting for the firmware",
                  flush=True)
        xt.finish()
    except BaseException as e:
        msg = f"rtl server: {e}" if not isinstance(e, BridgeError) else str(e)
        if not isinstance(e, PeerError):
            win.fail(msg)
        if status is not None:
            status.fail(msg)
        raise
    finally:
        if hasattr(xt.sb, "close"):
            xt.sb.close()
        win.close()
        if trace is not None:
            trace.close()
            print(f"rtl server: {trace.count} transactions traced to {trace.path}", flush=True)
