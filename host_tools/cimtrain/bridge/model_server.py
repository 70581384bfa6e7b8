"""Model server: the bridge protocol served by the bit-exact Python model of the macro.

    python -m cimtrain.bridge.model_server --window demo [--preset seed-chip] [--trace F]
                                           [--status F]
    python -m cimtrain.bridge.launch --window demo firmware/entry.py ...

The C library drains the ring in batches (every record the firmware posted since the
last fetch, up to and including one blocking read or wait); Python only calls the model
once per bus word.  Accesses at or above the macro's window size get DECERR from the
"interconnect" without reaching the model, as on the SoC and the RTL server.  Time is
the model's own: every access advances it by ``CimMacro.BUS_CYCLES`` edges, and a
wait_done advances it to the end of the running command (or by the timeout, at the
100 MHz device clock, if the command runs longer).  ``--trace FILE`` records every
transaction with its cycle (trace.py; replay with python -m cimtrain.bridge.replay);
``--status FILE`` keeps a JSON status file up to date (status.py).

Exit status: 0 when every session ended with the firmware detaching (whatever its own
exit status, printed), 1 when the firmware died or a protocol/model error occurred, 2
when the window could not be created.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from .. import regs
from ..lifetime import die_with_parent
from . import protocol as P
from . import status as S
from . import trace as T
from .simctl import SimCtl
from .window import BridgeError, BridgeTimeout, PeerError, ServerWindow


class ModelServer:
    """Serves sessions of one window with one model instance (state persists across
    sessions, like a powered board).  ``model`` needs ``write(addr, data) -> resp``,
    ``read(addr) -> (data, resp)``, ``cycle``, ``idle_cycle`` and ``advance_to(cycle)``.
    ``trace``: a ``trace.TraceWriter`` that gets every transaction."""

    def __init__(self, win: ServerWindow, model, trace: T.TraceWriter | None = None,
                 simctl: SimCtl | None = None, preset: str = "") -> None:
        self.win = win
        self.model = model
        self.trace = trace
        # the interconnect's registers above the window (checkpoints' chip images)
        self.simctl = simctl if simctl is not None else SimCtl(None, _log)
        self.preset = preset
        # the SoC interconnect answers DECERR outside the macro's window: the macro (and
        # so the model) never sees those accesses, as with the RTL server
        self.limit = win.hdr(P.H_MACRO_BYTES)
        self.stats = {"records": 0, "writes": 0, "reads": 0, "waits": 0, "errors": 0,
                      "timeouts": 0}

    def serve_session(self, attach_timeout_s: float = 30.0) -> int:
        """Serve one firmware from attach to detach; returns its exit status.  Raises
        PeerError when the firmware dies, BridgeTimeout when none attaches."""
        win = self.win
        if not win.wait_attach(attach_timeout_s):
            raise BridgeTimeout(f"no firmware attached to window '{win.name}' within "
                                f"{attach_timeout_s:g} s")
        fetch, batch = win.fetch, self._batch
        try:
            while True:
                recs = fetch(100)
                if recs is None:
                    break
                if recs:
                    batch(recs)
        except PeerError:
            win.reset_session()
            raise
        except BridgeError as e:
            win.fail(str(e))
            raise
        except Exception as e:  # a model error: tell the firmware before dying
            win.fail(f"model server: {type(e).__name__}: {e}")
            raise
        code = win.fw_exit
        win.reset_session()
        return code

    def _batch(self, recs: list[int]) -> None:
        m, win, rd, st = self.model, self.win, self.win.rdbuf, self.stats
        write, read, limit, tr = m.write, m.read, self.limit, self.trace
        seq, status = 0, P.RSP_OK
        for seq, op, arg, addrs, wdata in P.decode(recs):
            st["records"] += 1
            if op == P.OP_WRITE or op == P.OP_WRITE_FIXED:
                for a, d in zip(addrs, wdata):
                    t = m.cycle
                    resp = write(a, d) if a < limit else self.simctl.write(a, d, self._save)
                    if resp:
                        win.error(seq, op, a, resp)
                        st["errors"] += 1
                    if tr is not None:
                        tr.add(T.OP_WRITE, a, d, resp, t, 0 if a < limit else T.F_INTERCONNECT)
                st["writes"] += len(wdata)
            elif op == P.OP_READ or op == P.OP_READ_FIXED:
                for k, a in enumerate(addrs):
                    t = m.cycle
                    data, resp = read(a) if a < limit else self.simctl.read(a)
                    rd[k] = data
                    if resp:
                        win.error(seq, op, a, resp)
                        st["errors"] += 1
                    if tr is not None:
                        tr.add(T.OP_READ, a, data, resp, t, 0 if a < limit else T.F_INTERCONNECT)
                st["reads"] += len(addrs)
            elif op == P.OP_WAIT:
                status = self._wait(arg)
                st["waits"] += 1
                if status:      # reported as an error too: a posted wait has no status
                    win.error(seq, op, arg, getattr(m, "cmd", 0))
                if tr is not None:
                    tr.add(T.OP_WAIT, arg, status, 0, m.cycle)
        win.complete(seq, status)

    def _save(self, path) -> None:
        """The chip image of a checkpoint: the array, its seed and OP_COUNT."""
        from ..model.chip_image import save
        m = self.model
        save(path, self.preset, m.reg["SEED"], m.array.g, m.array.wc, op_count=m.op_count)

    def _wait(self, timeout_ms: int) -> int:
        m = self.model
        target, limit = m.idle_cycle, m.cycle + timeout_ms * P.CLOCK_KHZ
        if target > limit:
            m.advance_to(limit)
            self.stats["timeouts"] += 1
            return P.RSP_TIMEOUT
        m.advance_to(target)
        return P.RSP_OK


def _log(msg: str) -> None:
    print(f"model server: {msg}", flush=True)


def main(argv: list[str] | None = None) -> int:
    die_with_parent()   # a killed make cosim takes its server with it
    ap = argparse.ArgumentParser(prog="python -m cimtrain.bridge.model_server",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--window", default=os.environ.get("CIMTRAIN_WINDOW"),
                    help="window name (default $CIMTRAIN_WINDOW)")
    ap.add_argument("--preset", default="default", choices=sorted(regs.PRESETS))
    ap.add_argument("--sessions", type=int, default=1,
                    help="firmware sessions to serve before exiting (0: forever)")
    ap.add_argument("--attach-timeout", type=float, default=60.0, metavar="S",
                    help="give up when no firmware attaches within S seconds")
    ap.add_argument("--chip-image", metavar="FILE",
                    help="start from a chip image (e.g. a trained chip from make train)")
    ap.add_argument("--ckpt", metavar="DIR",
                    help="answer the firmware's SIM_SNAPSHOT: chip images into DIR "
                         "(docs/checkpoint.md)")
    ap.add_argument("--resume-image", metavar="FILE",
                    help="start from a checkpoint's chip image (its OP_COUNT too)")
    ap.add_argument("--trace", metavar="FILE",
                    help="record every transaction to FILE (binary, docs/bridge.md)")
    ap.add_argument("--status", metavar="FILE", help="keep a JSON status file (status.py)")
    args = ap.parse_args(argv)
    if not args.window:
        ap.error("--window is required (or set CIMTRAIN_WINDOW)")
    status = S.StatusFile(args.status, "model", args.window, args.preset) if args.status \
        else None
    try:
        rc = _serve(args, status)
    except BaseException as e:
        if status is not None:
            status.finish(1, f"model server: {type(e).__name__}: {e}")
        raise
    if status is not None:
        status.finish(rc)
    return rc


def _fail(status: S.StatusFile | None, msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
    if status is not None:
        status.fail(msg)


def _serve(args: argparse.Namespace, status: S.StatusFile | None) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))

    from ..model import CimMacro

    model = CimMacro(args.preset)
    from ..model.chip_image import ChipImageError
    # a chip image to serve, or a checkpoint's (which also sets the op index)
    for path, resumed in ((args.chip_image, False), (args.resume_image, True)):
        if not path:
            continue
        try:
            img = model.array.load_image(path)
        except ChipImageError as e:
            _fail(status, f"model server: {e}")
            return 2
        if resumed:
            model.op_count = int(img.get("op_count", 0))
            _log(f"resumed chip image {path} (OP_COUNT {model.op_count})")
        else:
            _log(f"chip image {path} loaded (preset {img['preset']}, seed {img['seed']})")
    try:
        win = ServerWindow(args.window, kind=P.KIND_MODEL)
    except BridgeError as e:
        _fail(status, f"model server: {e}")
        return 2
    trace = (T.TraceWriter(args.trace, "model", model.p, args.preset, P.CLOCK_KHZ)
             if args.trace else None)
    with win:
        if win.note:
            _log(win.note)
        _log(f"window '{args.window}' ready (pid {os.getpid()}, preset {args.preset})")
        if status is not None:
            status.ready()
        srv = ModelServer(win, model, trace, SimCtl(args.ckpt, _log), args.preset)
        served = 0
        while args.sessions == 0 or served < args.sessions:
            t0 = time.perf_counter()
            try:
                code = srv.serve_session(args.attach_timeout)
            except BridgeError as e:
                _fail(status, f"model server: {e}")
                return 1
            finally:
                if trace is not None:
                    trace.flush()
            served += 1
            s = srv.stats
            if status is not None:
                status.session(code, time.perf_counter() - t0, {
                    "requests": s["records"], "writes": s["writes"], "reads": s["reads"],
                    "waits": s["waits"], "bus_errors": s["errors"]})
            _log(f"session {served}: firmware exited with status {code} after "
                 f"{time.perf_counter() - t0:.2f} s; {s['records']} requests, {s['writes']} "
                 f"writes, {s['reads']} reads, {s['waits']} waits, {s['errors']} bus errors")
    if trace is not None:
        trace.close()
        _log(f"{trace.count} transactions traced to {args.trace}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
