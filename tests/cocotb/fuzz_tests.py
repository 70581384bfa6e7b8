"""Fuzzing the macro's bus (top cim_tb_top, XactTb): random register traffic, illegal
accesses included, into the RTL with the bit-exact model side by side (issue 10).

What is checked, and where:
* identical responses: XactTb's scoreboard compares every response (data and AXI
  response) and irq_o at every edge with the model fed the same traffic;
* no X or Z on any output: the recorder logs every handshake's data and response and
  every change of irq_o (a 4-state compare), and XactTb reads the log as integers, so an
  X there fails the run; on top of that, every output of the macro is checked resolvable
  at the end of every program (mid-command as often as not);
* no state change from a refused access: a probe reads every readable register and
  buffer word, makes one access the macro must refuse (read-only, write-only, unmapped,
  misaligned, partial strobe, DBG locked, a config register while BUSY), and reads them
  all again: equal but for ERR_CODE, ERR_ADDR, STATUS.ERR and the cycle counter.

The traffic is generated in the test with a seeded random generator, not with
hypothesis: every program needs the running simulator (one cocotb test, not one per
example), and a replay needs only the seed.  hypothesis drives the model-only properties
(tests/test_fuzz_model.py).  CIM_FUZZ_OPS sets the length (default 5000: about 30 s
in make test), CIM_FUZZ_SEED the seed (default 1; "random" for a new one, logged);
CIM_FUZZ_PLANT=model, x or probe plants a fault the run must report (tests/test_fuzz_rtl.py).
"""

from __future__ import annotations

import os
import random

import cocotb
from cocotb.handle import Force
from cocotb.types import LogicArray

from cimtrain import regs
from cimtrain.cosim.tb import OP_IDLE, OP_READ, OP_WRITE, XactTb

A, OP, MSK, ACCESS = regs.ADDR, regs.OP, regs.MSK, regs.ACCESS
W, R, IDLE = OP_WRITE, OP_READ, OP_IDLE
WINDOW = 0x2000
OUTPUTS = ("s_axil_awready", "s_axil_wready", "s_axil_bvalid", "s_axil_bresp",
           "s_axil_arready", "s_axil_rvalid", "s_axil_rresp", "s_axil_rdata", "irq_o")
# registers that change on their own, or because of the refused access itself
VOLATILE = {"CYCLE_LO", "CYCLE_HI", "ERR_CODE", "ERR_ADDR", "STATUS"}


def _words() -> list[int]:
    """Every word address the macro decodes."""
    out = [a for n, a in A.items() if n not in regs.WORDS]
    for name, n in regs.WORDS.items():
        out += [A[name] + 4 * k for k in range(n)]
    return sorted(out)


def _dump_addrs() -> list[tuple[str, int]]:
    """(name, address) of what a probe reads: readable, without read side effects."""
    out = []
    for name, a in A.items():
        if name in regs.WORDS:
            out += [(f"{name}[{k}]", a + 4 * k) for k in range(regs.WORDS[name])]
        elif ACCESS[name] != "wo" and name not in VOLATILE and not name.startswith("DBG_"):
            out.append((name, a))
    return out


class Gen:
    """Random accesses, legal and illegal, with values at and around every limit."""

    def __init__(self, rng: random.Random, p: dict) -> None:
        self.rng, self.p = rng, p
        self.words = _words()
        self.mapped = set(self.words)
        self.holes = [a for a in range(0, WINDOW, 4) if a not in self.mapped]

    def value(self, name: str | None = None) -> int:
        r, p = self.rng, self.p
        lim = {"TILE": p["NTILES"], "ROW_START": p["ROWS"], "ROW_COUNT": p["ROWS"],
               "COL_START": p["COLS"], "COL_COUNT": p["COLS"], "PULSE_ROW": p["ROWS"],
               "PULSE_SET_AMP": regs.PARAMS["AMP_MAX_MV"],
               "PULSE_RESET_AMP": regs.PARAMS["AMP_MAX_MV"], "PULSE_WIDTH": 4,
               "PULSE_COUNT": 4}.get(name)
        k = r.random()
        if lim is not None and k < 0.7:
            return max(0, lim + r.randrange(-3, 3)) if k < 0.3 else r.randrange(0, lim + 1)
        if k < 0.8:
            return r.choice([0, 1, 2, 3, 7, 8, 0xFF, 0x100, 0xFFFF, 0x7FFFFFFF, 0x80000000,
                             0xFFFFFFFF, 0xFFFFFFFE])
        return r.getrandbits(32)

    def access(self) -> tuple:
        r = self.rng
        k = r.random()
        if k < 0.30:            # a configuration register, at and around its limits
            name = r.choice(["TILE", "ROW_START", "ROW_COUNT", "COL_START", "COL_COUNT",
                             "ADC_GAIN", "ADC_SHIFT", "ADC_OFFSET", "PULSE_ROW",
                             "PULSE_SET_AMP", "PULSE_RESET_AMP", "PULSE_WIDTH", "PULSE_COUNT",
                             "PULSE_SET_MASK_LO", "PULSE_SET_MASK_HI", "PULSE_RESET_MASK_LO",
                             "PULSE_RESET_MASK_HI", "SEED", "NOISE_READ_SIGMA",
                             "NOISE_PULSE_SIGMA", "NOISE_ADC_SIGMA", "STUCK_RATE",
                             "DEAD_COLS_LO", "DEAD_COLS_HI"])
            return (W, A[name], self.value(name))
        if k < 0.40:            # a command: any opcode (0 and 5..15 are illegal), any flags
            op = r.choice([*OP.values(), 0, 5, 15, r.randrange(16)])
            return (W, A["CMD"], op | r.getrandbits(2) << 8 | (r.getrandbits(32) & ~0xFFFF
                                                               if r.random() < 0.1 else 0))
        if k < 0.50:            # INBUF
            return (W, A["INBUF"] + 4 * r.randrange(regs.WORDS["INBUF"]), r.getrandbits(32))
        if k < 0.56:            # control, interrupts, error clear, debug backdoor
            name = r.choice(["CTRL", "IRQ_STATUS", "ERR_CODE", "DBG_ADDR", "DBG_G", "DBG_WC"])
            return (W, A[name], self.value())
        if k < 0.62:            # anything mapped, written (read-only ones refuse)
            return (W, r.choice(self.words), self.value())
        if k < 0.66:            # unmapped or misaligned, either direction
            a = r.choice(self.holes) if r.random() < 0.6 else r.choice(self.words) | \
                r.randrange(1, 4)
            return (W, a, self.value()) if r.random() < 0.5 else (R, a, 0)
        if k < 0.69:            # a partial or empty strobe
            return (W, r.choice(self.words), self.value(), r.randrange(0, 15))
        if k < 0.75:            # idle: a few edges, or until the command ends
            return (IDLE, 0, -1 if r.random() < 0.3 else r.randrange(0, 200))
        return (R, r.choice(self.words), 0)

    def refused(self) -> tuple:
        """One access the macro must refuse, whatever its state (or, if it is BUSY, one
        that BUSY alone refuses)."""
        r = self.rng
        kinds = [lambda: (W, r.choice([A["ID"], A["VERSION"], A["HWCFG"], A["STATUS"],
                                      A["CYCLE_LO"], A["OUTBUF"], A["READBUF"]]), self.value()),
                 lambda: (R, A["CMD"], 0),
                 lambda: (W if r.random() < 0.5 else R, r.choice(self.holes), self.value()),
                 lambda: (W, r.choice(self.words) | r.randrange(1, 4), self.value()),
                 lambda: (W, r.choice([A["SEED"], A["TILE"], A["INBUF"]]), self.value(),
                          r.choice([0x1, 0x3, 0x7, 0xE, 0x0]))]
        return r.choice(kinds)()


def _check_outputs(dut, where: str) -> None:
    for name in OUTPUTS:
        v = getattr(dut, name).value
        assert v.is_resolvable, f"{name} = {v} (X or Z) {where}"


async def _dump(xt: XactTb, addrs: list) -> dict:
    res = await xt.run([(R, a, 0) for _, a in addrs])
    # DEAD_COLS_* answer BAD_TILE while TILE >= NTILES (the same before and after)
    bad = [(n, resp) for (n, _), (_, resp, _) in zip(addrs, res)
           if resp and not n.startswith("DEAD_COLS")]
    assert not bad, f"probe read refused: {bad[:4]}"
    return {n: d for (n, _), (d, _, _) in zip(addrs, res)}


@cocotb.test()
async def test_fuzz_register_traffic(dut):
    """Random register traffic, illegal accesses included: RTL and model agree on every
    response and irq_o edge, no output is ever X or Z, refused accesses change nothing."""
    seed = os.environ.get("CIM_FUZZ_SEED", "1")
    seed = random.randrange(1 << 32) if seed == "random" else int(seed)
    n_ops = int(os.environ.get("CIM_FUZZ_OPS", "5000"))
    dut._log.info("fuzz: seed %d, %d accesses (CIM_FUZZ_SEED, CIM_FUZZ_OPS)", seed, n_ops)
    xt = XactTb(dut)
    await xt.start()
    plant = os.environ.get("CIM_FUZZ_PLANT", "")
    if plant == "model":        # the checker must see a model that differs from the RTL
        write = xt.model.write

        def wrong(addr, data, strb=0xF, cycle=None):
            resp = write(addr, data, strb, cycle)
            return 2 if addr == A["SEED"] and data & 1 else resp
        xt.model.write = wrong
    rng = random.Random(seed)
    gen = Gen(rng, xt.params)
    addrs = _dump_addrs()
    done = probes = refused = 0
    while done < n_ops:
        prog = []
        for _ in range(rng.randrange(1, 24)):
            e = gen.access()
            if e[0] == IDLE:        # an edge: later than the model's now
                e = (IDLE, 0, xt.model.idle_cycle if e[2] < 0 else xt.edge + e[2])
            prog.append(e)
        res = await xt.run(prog)
        refused += sum(1 for _, resp, _ in res if resp)
        done += len(prog)
        if plant == "x" and done > n_ops // 2:   # the check must see an X
            dut.s_axil_rresp.value = Force(LogicArray("XX"))
        _check_outputs(dut, f"after {done} accesses (edge {xt.edge})")
        if rng.random() < 0.15:     # a probe of a refused access, the macro idle
            await xt.run([(IDLE, 0, xt.model.idle_cycle)])
            before = await _dump(xt, addrs)
            acc = gen.refused() if plant != "probe" else (W, A["SEED"], rng.getrandbits(31) | 1)
            [(_, resp, _)] = await xt.run([acc])
            assert resp or plant == "probe", f"the probe's access {acc} was not refused"
            after = await _dump(xt, addrs)
            diff = {n: (before[n], after[n]) for n in before if before[n] != after[n]}
            assert not diff, f"a refused access changed {diff}"
            probes += 1
    await xt.run([(IDLE, 0, xt.model.idle_cycle), (R, A["STATUS"], 0)])
    _check_outputs(dut, "at the end")
    dut._log.info("fuzz: %d accesses, %d refused, %d probes, %d responses checked", done,
                  refused, probes, xt.sb.checked)
    assert refused > n_ops // 20 and probes > 0, (refused, probes)
    xt.finish()
