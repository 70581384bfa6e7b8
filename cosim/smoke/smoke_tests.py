"""Smoke tests of rtl/cim_macro (scratch bench of the RTL author; the real benches are
in cosim/cim_macro).  Hand-computed expectations only, no model."""

from __future__ import annotations

import logging
import os
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiLiteBus, AxiLiteMaster

from cimtrain import regs

A, E, OP, MSK, POS = regs.ADDR, regs.ERR, regs.OP, regs.MSK, regs.POS


class Tb:
    def __init__(self, dut):
        self.dut = dut
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk_i, dut.rst_ni,
                                  reset_active_level=False)
        for name in ("cocotb.cim_macro.s_axil", self.axil.write_if.log.name,
                     self.axil.read_if.log.name):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.p = {"NTILES": int(dut.NTiles.value), "ROWS": int(dut.Rows.value),
                  "COLS": int(dut.Cols.value)}

    async def start(self):
        cocotb.start_soon(Clock(self.dut.clk_i, 10, unit="ns").start())
        self.dut.rst_ni.value = 0
        await ClockCycles(self.dut.clk_i, 3)
        self.dut.rst_ni.value = 1

    async def write(self, addr, value):
        addr = A[addr] if isinstance(addr, str) else addr
        r = await self.axil.write(addr, (value & 0xFFFFFFFF).to_bytes(4, "little"))
        return int(r.resp)

    async def read(self, addr):
        addr = A[addr] if isinstance(addr, str) else addr
        r = await self.axil.read(addr, 4)
        return int.from_bytes(r.data, "little"), int(r.resp)

    async def wr(self, addr, value):
        resp = await self.write(addr, value)
        assert resp == 0, f"write {addr}: resp {resp}"

    async def rd(self, addr):
        v, resp = await self.read(addr)
        assert resp == 0, f"read {addr}: resp {resp}"
        return v

    async def wait_idle(self):
        n = 0
        while (await self.rd("STATUS")) & MSK["STATUS_BUSY"]:
            n += 1
        return n


def adc(i, gain, shift, offset):
    y = (i * gain + ((1 << (shift - 1)) if shift else 0)) >> shift
    y += offset
    return max(-128, min(127, y)), not -128 <= y <= 127


@cocotb.test()
async def test_id_and_decode_error(dut):
    tb = Tb(dut)
    await tb.start()
    p = tb.p
    assert await tb.rd("ID") == regs.ID
    assert await tb.rd("VERSION") == regs.VERSION
    hw = await tb.rd("HWCFG")
    assert hw == p["NTILES"] | p["ROWS"] << 8 | p["COLS"] << 20, hex(hw)
    data, resp = await tb.read(0x100)
    assert (data, resp) == (0, 3), (data, resp)
    assert await tb.write(0x06C, 1) == 3
    err = await tb.rd("ERR_CODE")
    assert err == E["DECODE"] | 2 << 16, hex(err)
    assert await tb.rd("ERR_ADDR") == 0x100
    assert (await tb.rd("STATUS")) & MSK["STATUS_ERR"]
    await tb.wr("ERR_CODE", 0)
    assert await tb.rd("ERR_CODE") == 0 and await tb.rd("ERR_ADDR") == 0
    # reset values of the parameter-dependent registers
    assert await tb.rd("ROW_COUNT") == p["ROWS"] and await tb.rd("COL_COUNT") == p["COLS"]


@cocotb.test()
async def test_vmm_hand(dut):
    """Forward VMM, noise off, conductances via the backdoor, vs hand arithmetic."""
    tb = Tb(dut)
    await tb.start()
    for name in ("NOISE_READ_SIGMA", "NOISE_ADC_SIGMA", "NOISE_PULSE_SIGMA"):
        await tb.wr(name, 0)
    await tb.wr("CTRL", MSK["CTRL_DBG_EN"])
    tile, r0, nr, c0, nc = 2, 3, 5, 6, 7
    gp = {(r, c): 100 + 37 * r + 11 * c for r in range(r0, r0 + nr) for c in range(c0, c0 + nc)}
    gn = {(r, c): 900 - 23 * r - 17 * c for r in range(r0, r0 + nr) for c in range(c0, c0 + nc)}
    for r in range(r0, r0 + nr):
        await tb.wr("DBG_ADDR", tile << 24 | r << 8 | c0)  # auto-advance along the row
        for c in range(c0, c0 + nc):
            await tb.wr("DBG_G", gp[r, c] | gn[r, c] << 16)
    # read back one pair; DBG_ADDR advanced
    await tb.wr("DBG_ADDR", tile << 24 | (r0 + 1) << 8 | (c0 + 2))
    v = await tb.rd("DBG_G")
    assert v == gp[r0 + 1, c0 + 2] | gn[r0 + 1, c0 + 2] << 16, hex(v)
    assert await tb.rd("DBG_ADDR") == tile << 24 | (r0 + 1) << 8 | (c0 + 3)
    # inputs: signed int8 on rows r0..r0+nr-1
    x = [17, -128, 127, 0, -5]
    codes = [0] * 256
    for k, xv in enumerate(x):
        codes[r0 + k] = xv & 0xFF
    for w in range(8):
        await tb.wr(A["INBUF"] + 4 * w, int.from_bytes(bytes(codes[4 * w:4 * w + 4]), "little"))
    for name, v in (("TILE", tile), ("ROW_START", r0), ("ROW_COUNT", nr), ("COL_START", c0),
                    ("COL_COUNT", nc), ("ADC_GAIN", 4), ("ADC_SHIFT", 6),
                    ("ADC_OFFSET", (-3) & 0xFFFF)):
        await tb.wr(name, v)
    await tb.wr("CMD", OP["VMM_FWD"] | MSK["CMD_SIGNED"])
    st = await tb.rd("STATUS")
    assert st & MSK["STATUS_BUSY"] and not st & MSK["STATUS_DONE"], hex(st)
    assert (await tb.read("SEED"))[1] == 2, "config not locked while BUSY"
    await tb.wait_idle()
    assert (await tb.rd("STATUS")) & MSK["STATUS_DONE"]
    await tb.wr("ERR_CODE", 0)
    exp_y, exp_sat = {}, {}
    for c in range(c0, c0 + nc):
        i = sum(x[k] * (gp[r0 + k, c] - gn[r0 + k, c]) for k in range(nr))
        exp_y[c], exp_sat[c] = adc(i, 4, 6, -3)
    got = {}
    for w in range(c0 // 4, (c0 + nc + 3) // 4):
        v = await tb.rd(A["OUTBUF"] + 4 * w)
        for b in range(4):
            c = 4 * w + b
            if c0 <= c < c0 + nc:
                got[c] = ((v >> (8 * b)) & 0xFF) - (256 if (v >> (8 * b)) & 0x80 else 0)
    assert got == exp_y, f"OUTBUF {got} != {exp_y}"
    sat = await tb.rd("SATBUF")
    assert [(sat >> c) & 1 for c in range(c0, c0 + nc)] == [int(exp_sat[c]) for c in exp_sat]
    assert await tb.rd("SAT_COUNT") == sum(exp_sat.values())
    assert 0 < sum(exp_sat.values()) < nc, "test should cover saturated and unsaturated"
    dur = regs.PARAMS["CMD_OVERHEAD"] + 2 * min(nc, 8) * regs.PARAMS["ADC_CYCLES"]
    assert await tb.rd("LAST_CYCLES") == dur
    assert await tb.rd("ENERGY_LO") == regs.PARAMS["E_MAC_FJ"] * nr * nc * 2
    assert await tb.rd("OP_COUNT") == 1
    dut._log.info("VMM outputs %s, saturated %s", exp_y, exp_sat)


@cocotb.test()
async def test_busy_timing(dut):
    """BUSY exactly on edges t0 < t <= t0 + D (checked by polling with a cycle stamp)."""
    tb = Tb(dut)
    await tb.start()
    await tb.wr("COL_COUNT", 3)  # READ_ROW: D = 2 + 2 * 3 * 9 = 56
    await tb.wr("CMD", OP["READ_ROW"])
    seen = []
    for _ in range(40):
        c = await tb.rd("CYCLE_LO")
        st = await tb.rd("STATUS")
        seen.append((c, st & 3))
    d = await tb.rd("LAST_CYCLES")
    assert d == 2 + 2 * 3 * regs.PARAMS["ADC_CYCLES"], d
    # the STATUS read comes a fixed number of edges after the CYCLE_LO read
    dut._log.info("D = %d, (cycle, busy|done) samples: %s", d, seen[:6])
    busy = [c for c, s in seen if s & 1]
    idle = [c for c, s in seen if not s & 1]
    assert busy and idle and max(busy) < min(idle)


@cocotb.test()
async def test_full_vmm_timing(dut):
    """Wall time of one full ROWS x COLS forward VMM with default noise and without."""
    tb = Tb(dut)
    await tb.start()
    p = tb.p
    for w in range(64):
        await tb.wr(A["INBUF"] + 4 * w, (0x5A3C1F77 ^ (w * 0x01010101)) & 0xFFFFFFFF)
    n = int(os.environ.get("SMOKE_VMMS", "3"))
    # reference: a plain register write
    t = time.perf_counter()
    for _ in range(n):
        await tb.wr("SEED", 1)
    t_wr = (time.perf_counter() - t) / n
    res = {}
    for label, sigma in (("noise", regs.RESET["NOISE_READ_SIGMA"]), ("no noise", 0)):
        await tb.wr("NOISE_READ_SIGMA", sigma)
        tot = 0.0
        for _ in range(n):
            t = time.perf_counter()
            await tb.wr("CMD", OP["VMM_FWD"])
            tot += time.perf_counter() - t - t_wr
            await tb.wait_idle()
        res[label] = tot / n
        dut._log.info("full %dx%d VMM, %s: %.3f s per VMM (command write minus a plain "
                      "write of %.4f s)", p["ROWS"], p["COLS"], label, res[label], t_wr)


@cocotb.test()
async def test_read_first_and_one_at_a_time(dut):
    """A read and a write issued together: the read is accepted first (sees the old
    value), the write follows; many concurrent accesses all complete."""
    tb = Tb(dut)
    await tb.start()
    await tb.wr("SEED", 0x1111)
    await ClockCycles(dut.clk_i, 2)
    w = cocotb.start_soon(tb.write("SEED", 0x2222))
    r = cocotb.start_soon(tb.read("SEED"))
    assert await w == 0
    assert await r == (0x1111, 0), "read was not accepted before the concurrent write"
    assert await tb.rd("SEED") == 0x2222
    # a burst of concurrent accesses to different registers
    names = ["TILE", "ROW_START", "COL_START", "ADC_GAIN", "PULSE_ROW", "STUCK_RATE"]
    tasks = [cocotb.start_soon(tb.write(n, k + 1)) for k, n in enumerate(names)]
    tasks += [cocotb.start_soon(tb.read("ID")) for _ in range(4)]
    res = [await t for t in tasks]
    assert res[:len(names)] == [0] * len(names)
    assert res[len(names):] == [(regs.ID, 0)] * 4
    for k, n in enumerate(names):
        assert await tb.rd(n) == k + 1, n
