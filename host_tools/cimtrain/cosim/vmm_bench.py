"""cocotb benchmark: Icarus wall time of full-tile VMMs (run by `make bench`).

CIM_BENCH_VMMS VMMs per block (default 10), CIM_BENCH_REPEATS blocks per setting
(default 5): the figures are the medians over the blocks, with every block's figure kept
(the machine is shared: one block can land on a busy moment)."""

from __future__ import annotations

import json
import os
import statistics
import time

import cocotb
import numpy as np

from .. import regs
from .tb import CimTb


@cocotb.test()
async def bench_full_tile_vmm(dut):
    tb = CimTb(dut)
    await tb.start()
    p = tb.params
    n = int(os.environ.get("CIM_BENCH_VMMS", "10"))
    reps = int(os.environ.get("CIM_BENCH_REPEATS", "5"))
    rng = np.random.default_rng(0)
    await tb.set_window(0, 0, p["ROWS"], 0, p["COLS"])
    await tb.load_inputs(rng.integers(0, 256, size=p["ROWS"]))
    results = {}
    for label, sigma in (("noise_on", regs.RESET["NOISE_READ_SIGMA"]), ("noise_off", 0)):
        await tb.wr("NOISE_READ_SIGMA", sigma)
        t_cmd, t_rd = [], []
        for _ in range(reps):
            t = time.perf_counter()
            for _ in range(n):
                await tb.command("VMM_FWD")
            t_cmd.append((time.perf_counter() - t) / n)
            # the same command polled: separate the bus polling from the array evaluation
            t = time.perf_counter()
            for _ in range(n):
                await tb.rd("STATUS")
            t_rd.append((time.perf_counter() - t) / n)
        results[label] = {"s_per_vmm_with_polling": statistics.median(t_cmd),
                          "s_per_bus_read": statistics.median(t_rd),
                          "blocks_s_per_vmm": t_cmd, "blocks_s_per_bus_read": t_rd}
        tb.log.info("%s: %.3f s per %dx%d VMM (incl. polling), %.2f ms per bus read "
                    "(medians of %d blocks of %d)", label, results[label]["s_per_vmm_with_polling"],
                    p["ROWS"], p["COLS"], 1e3 * results[label]["s_per_bus_read"], reps, n)
    out = os.environ.get("CIM_BENCH_OUT")
    if out:
        with open(out, "w") as f:
            json.dump({"rows": p["ROWS"], "cols": p["COLS"], "vmms_per_block": n,
                       "blocks": reps, **results}, f, indent=1)
    tb.finish()
