"""Replay a transaction trace on the model (default) or on the RTL; report the first
difference.

    python -m cimtrain.bridge.replay TRACE [--rtl]

Every write and read of the trace (trace.py) is applied at its recorded edge to a fresh
chip of the trace's parameters: ``CimMacro`` (model), or cim_macro in the simulator
(``--rtl``: the transactor of cosim/cim_tb_top.v lands each request on its
recorded edge; SIM from the environment, default icarus).  Read data, responses and,
on the RTL, handshake edges are compared with the trace.  Accesses the interconnect
answered (flag INTERCONNECT) must be DECERR and never reach the chip; WAIT records are
informational (the polls of an RTL trace are in it as reads).

Exit status: 0 when every transaction is identical, 1 at the first difference (its
index, address, expected and actual values are printed), 2 when the trace cannot be
read or replayed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from . import trace as T
from .simctl import SimCtl


def _resp(r: int) -> str:
    return T.RESP_NAME.get(r, str(r))


def describe(diff: dict) -> str:
    """One line for a difference: ``index``, ``op``, ``addr``, ``edge``, ``expected`` and
    ``actual`` (each ``{"data", "resp"[, "edge"]}``)."""
    def val(v: dict) -> str:
        s = f"0x{v['data']:08X} {_resp(v['resp'])}" if diff["op"] == "read" else _resp(v["resp"])
        return s + (f" at edge {v['edge']}" if "edge" in v else "")
    return (f"first difference at transaction {diff['index']} ({diff['op']} "
            f"0x{diff['addr']:04X} at edge {diff['edge']}): trace {val(diff['expected'])}, "
            f"{diff['target']} {val(diff['actual'])}")


def replay_model(header: dict, records: list) -> tuple[int, dict | None]:
    """Replay on a fresh ``CimMacro``; returns (transactions compared, first difference)."""
    from ..model import CimMacro

    m = CimMacro("default", NTILES=header["NTILES"], ROWS=header["ROWS"], COLS=header["COLS"])
    n = 0
    for i, (op, resp, flags, addr, data, edge) in enumerate(records):
        if op == T.OP_WAIT:
            continue
        if op not in (T.OP_WRITE, T.OP_READ):
            raise T.TraceError(f"transaction {i}: unknown op {op}")
        n += 1
        name = T.OP_NAME[op]
        exp = {"data": data if op == T.OP_READ else 0, "resp": resp}
        if flags & T.F_INTERCONNECT:  # (SIM_*: the server's own registers, as recorded)
            got = exp if SimCtl.claims(addr) else {"data": 0, "resp": 3}
        else:
            try:
                if op == T.OP_WRITE:
                    got = {"data": 0, "resp": m.write(addr, data, 0xF, cycle=edge)}
                else:
                    d, r = m.read(addr, cycle=edge)
                    got = {"data": d, "resp": r}
            except ValueError as e:  # an edge before the previous one
                raise T.TraceError(f"transaction {i} ({name} 0x{addr:04X}): {e}") from None
        if got != exp:
            return n, {"index": i, "op": name, "addr": addr, "edge": edge, "expected": exp,
                       "actual": got, "target": "model"}
    return n, None


def replay_rtl(path: Path, header: dict) -> tuple[int, dict | None]:
    """Replay in the simulator (cocotb test ``replay_trace`` of cosim/replay_rtl.py; SIM
    from the environment, default icarus)."""
    from .. import regs

    preset = header["preset"]
    if preset not in regs.PRESETS:
        want = (header["NTILES"], header["ROWS"], header["COLS"])
        preset = next((k for k, p in regs.PRESETS.items()
                       if (p["NTILES"], p["ROWS"], p["COLS"]) == want), None)
        if preset is None:
            raise T.TraceError(f"no preset has NTILES, ROWS, COLS = {want}")
    from ..cosim.sim import Sim

    with tempfile.TemporaryDirectory(prefix="cimreplay") as tmp:
        out = Path(tmp) / "replay.json"
        n, failed = Sim("cim_tb_top", preset).run(
            "cimtrain.cosim.replay_rtl", results=f"results_replay_{Path(tmp).name}",
            env={"CIMTRAIN_TRACE": str(path.resolve()), "CIMTRAIN_REPLAY_OUT": str(out)})
        if n == 0 or failed or not out.exists():
            raise T.TraceError("the RTL replay did not run to the end (simulator log above)")
        res = json.loads(out.read_text())
    return res["compared"], res["difference"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cimtrain.bridge.replay",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("trace", type=Path)
    ap.add_argument("--rtl", action="store_true",
                    help="replay on the RTL in the simulator (SIM, default icarus)")
    args = ap.parse_args(argv)
    try:
        header, records = T.read_trace(args.trace)
        target = "RTL" if args.rtl else "model"
        n, diff = replay_rtl(args.trace, header) if args.rtl else replay_model(header, records)
    except (OSError, T.TraceError) as e:
        print(f"replay: {e}", file=sys.stderr)
        return 2
    if diff is not None:
        print(f"replay: {describe(diff)}")
        return 1
    print(f"replay: {n} transactions of {args.trace} ({header['server']} server, "
          f"{header['NTILES']}x{header['ROWS']}x{header['COLS']}) identical on the {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
