"""What the simulator itself costs the RTL server: the bench of the RTL server (XactTb,
scoreboard on) without bridge or firmware.  Run by python -m cimtrain.bridge.bench
--floor; writes CIMTRAIN_FLOOR_OUT (JSON, microseconds of wall time).

* per access: long programs of SEED writes, SEED reads, INBUF writes (2 edges each);
* per program: one read alone (what a blocking rd32 costs at least);
* per idle edge: a long IDLE (what wait_done costs per cycle of a command);
* per command: the training loop's VMM (40 x 12 window: 10 INBUF words, CMD, idle to the
  predicted end and a STATUS read, 3 OUTBUF words), read noise on and off.
"""

from __future__ import annotations

import json
import os
import time

import cocotb

from .. import regs
from .tb import OP_IDLE, OP_READ, OP_WRITE, XactTb

A = regs.ADDR
W, R, IDLE = OP_WRITE, OP_READ, OP_IDLE


@cocotb.test()
async def floor(dut):
    xt = XactTb(dut)
    await xt.start()
    out: dict = {}

    async def timed(prog, reps=1):
        t = time.perf_counter()
        for _ in range(reps):
            await xt.run(prog)
        return (time.perf_counter() - t) / reps

    n = 256
    out["write_us"] = await timed([(W, A["SEED"], k) for k in range(n)]) / n * 1e6
    out["read_us"] = await timed([(R, A["SEED"], 0)] * n) / n * 1e6
    out["inbuf_write_us"] = await timed([(W, A["INBUF"] + 4 * (k % 64), k)
                                         for k in range(n)]) / n * 1e6
    out["single_read_program_us"] = await timed([(R, A["SEED"], 0)], 200) * 1e6
    e = xt.edge
    dt = await timed([(IDLE, 0, e + 2000), (R, A["SEED"], 0)])
    out["idle_edge_us"] = dt / (xt.edge - e) * 1e6
    await xt.run([(W, A["ROW_COUNT"], 40), (W, A["COL_COUNT"], 12)])
    for label, sigma in (("noise_on", regs.RESET["NOISE_READ_SIGMA"]), ("noise_off", 0)):
        await xt.run([(W, A["NOISE_READ_SIGMA"], sigma)])
        parts = {"inbuf10": 0.0, "cmd": 0.0, "wait": 0.0, "read3": 0.0}
        reps = 20
        for _ in range(reps):
            parts["inbuf10"] += await timed([(W, A["INBUF"] + 4 * k, k * 0x01010101)
                                             for k in range(10)])
            parts["cmd"] += await timed([(W, A["CMD"], regs.OP["VMM_FWD"])])
            parts["wait"] += await timed([(IDLE, 0, xt.model.idle_cycle), (R, A["STATUS"], 0)])
            parts["read3"] += await timed([(R, A["OUTBUF"] + 4 * k, 0) for k in range(3)])
        out[f"vmm_{label}_us"] = {k: v / reps * 1e6 for k, v in parts.items()}
    xt.finish()
    with open(os.environ["CIMTRAIN_FLOOR_OUT"], "w") as f:
        json.dump({k: (round(v, 1) if isinstance(v, float) else
                       {a: round(b, 1) for a, b in v.items()}) for k, v in out.items()}, f)
