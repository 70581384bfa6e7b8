"""Replay of a transaction trace on the RTL (cocotb side of python -m cimtrain.bridge.replay
--rtl).  Environment: CIMTRAIN_TRACE (the trace), CIMTRAIN_REPLAY_OUT (JSON result:
transactions compared and the first difference, or null).

Every write and read that reached the bus in the trace becomes one request of a
transactor program, preceded by an IDLE to its recorded edge unless it follows the
previous request back to back (2 edges later) or is edge 0; the program starts during
reset, so edge 0 is reachable.  The RTL's read data, responses and handshake edges are
compared with the trace; interconnect DECERRs never reach the bus and must say DECERR.
"""

from __future__ import annotations

import json
import os

import cocotb

from ..bridge import trace as T
from ..bridge.simctl import SimCtl
from .tb import OP_IDLE, OP_READ, OP_WRITE, XactTb


def program(records: list) -> tuple[list, list]:
    """The transactor program for ``records`` and the trace indices of its requests."""
    prog, index, prev = [], [], None
    for i, (op, _resp, flags, addr, data, edge) in enumerate(records):
        if op not in (T.OP_WRITE, T.OP_READ) or flags & T.F_INTERCONNECT:
            continue
        if (edge > 0 and prev is None) or (prev is not None and edge != prev + 2):
            prog.append((OP_IDLE, 0, edge))
        prog.append((OP_WRITE, addr, data) if op == T.OP_WRITE else (OP_READ, addr, 0))
        index.append(i)
        prev = edge
    return prog, index


@cocotb.test()
async def replay_trace(dut):
    header, records = T.read_trace(os.environ["CIMTRAIN_TRACE"])
    xt = XactTb(dut, check=False)
    want = (header["NTILES"], header["ROWS"], header["COLS"])
    got = (xt.params["NTILES"], xt.params["ROWS"], xt.params["COLS"])
    assert want == got, f"trace of a {want} chip, simulator built for {got}"
    prog, index = program(records)
    res = dict(zip(index, await xt.start(prog), strict=True))
    diff, n = None, 0
    for i, (op, resp, flags, addr, data, edge) in enumerate(records):
        if op not in (T.OP_WRITE, T.OP_READ):
            continue
        n += 1
        is_read = op == T.OP_READ
        exp = {"data": data if is_read else 0, "resp": resp, "edge": edge}
        if flags & T.F_INTERCONNECT:  # (SIM_*: the server's own registers, as recorded)
            act = exp if SimCtl.claims(addr) else {"data": 0, "resp": 3, "edge": edge}
        else:
            d, r, t = res[i]
            act = {"data": d if is_read else 0, "resp": r, "edge": t}
        if act != exp:
            diff = {"index": i, "op": T.OP_NAME[op], "addr": addr, "edge": edge,
                    "expected": exp, "actual": act, "target": "RTL"}
            break
    dut._log.info("replay: %d transactions compared, %s", n,
                  "identical" if diff is None else f"first difference at {diff['index']}")
    with open(os.environ["CIMTRAIN_REPLAY_OUT"], "w") as f:
        json.dump({"compared": n, "difference": diff}, f)
