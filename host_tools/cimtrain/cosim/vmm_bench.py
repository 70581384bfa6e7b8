"""cocotb benchmark: Icarus wall time of full-tile VMMs (run by `make bench`)."""

from __future__ import annotations

import json
import os
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
    n = int(os.environ.get("CIM_BENCH_VMMS", "5"))
    rng = np.random.default_rng(0)
    await tb.set_window(0, 0, p["ROWS"], 0, p["COLS"])
    await tb.load_inputs(rng.integers(0, 256, size=p["ROWS"]))
    results = {}
    for label, sigma in (("noise_on", regs.RESET["NOISE_READ_SIGMA"]), ("noise_off", 0)):
        await tb.wr("NOISE_READ_SIGMA", sigma)
        t = time.perf_counter()
        for _ in range(n):
            await tb.command("VMM_FWD")
        t_cmd = (time.perf_counter() - t) / n
        # the same command polled: separate the bus polling from the array evaluation
        t = time.perf_counter()
        for _ in range(n):
            await tb.rd("STATUS")
        t_rd = (time.perf_counter() - t) / n
        results[label] = {"s_per_vmm_with_polling": t_cmd, "s_per_bus_read": t_rd}
        tb.log.info("%s: %.3f s per %dx%d VMM (incl. polling), %.2f ms per bus read", label,
                    t_cmd, p["ROWS"], p["COLS"], 1e3 * t_rd)
    out = os.environ.get("CIM_BENCH_OUT")
    if out:
        with open(out, "w") as f:
            json.dump({"rows": p["ROWS"], "cols": p["COLS"], "vmms": n, **results}, f, indent=1)
    tb.finish()
