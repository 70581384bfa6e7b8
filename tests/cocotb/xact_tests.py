"""cocotb tests of the fast bench (top cim_tb_top: HDL transactor and recorder, XactTb),
the one the RTL server drives.

* The transactor's timing: back to back a request every 2 edges, the first on the next
  edge, IDLE landing on its edge, programs longer than its memory; WAIT landing on the
  edge a command ends (as the model says), or at its limit, or at once.
* The scoreboard fed from the recorder's log finds what it must: a wrong read, irq_o
  wrong at an access, and irq_o wrong only between accesses (a command completing on
  another edge than the model says), each reported at the right edge.
* A seeded random mix through the transactor (commands, IRQ enable and W1C, idle gaps)
  ends with zero mismatches.
* The scoreboard in a process of its own (the RTL server's) counts and reports as the
  in-process one does.
"""

from __future__ import annotations

import os
import random

import cocotb

from cimtrain import regs
from cimtrain.cosim.tb import OP_IDLE, OP_READ, OP_WAIT, OP_WRITE, XactTb, regression_ops

A, OP, MSK = regs.ADDR, regs.OP, regs.MSK
W, R, IDLE, WAIT = OP_WRITE, OP_READ, OP_IDLE, OP_WAIT
BUSY = MSK["STATUS_BUSY"]


@cocotb.test()
async def test_transactor_timing(dut):
    """Handshakes every 2 edges from the next edge; IDLE lands exactly; long programs."""
    xt = XactTb(dut)
    await xt.start()
    e = xt.edge
    res = await xt.run([(W, A["SEED"], 1), (W, A["SEED"], 2), (R, A["SEED"], 0),
                        (R, A["CYCLE_LO"], 0)])
    assert [t for _, _, t in res] == [e, e + 2, e + 4, e + 6], res
    assert [(d, r) for d, r, _ in res[2:]] == [(2, 0), (e + 6, 0)], res
    assert xt.edge == e + 8, "the program ends on its last response's edge"
    e = xt.edge
    [(d, _, t)] = await xt.run([(IDLE, 0, e + 10), (R, A["CYCLE_LO"], 0)])
    assert t == d == e + 10, (t, d, e)
    e = xt.edge
    [(d, _, t)] = await xt.run([(IDLE, 0, 3), (R, A["CYCLE_LO"], 0)])  # in the past: at once
    assert t == d == e, (t, d, e)
    # IDLE right after a request: to 2 edges later (back to back) and to 3, 4 edges later
    for gap in (2, 3, 4):
        res = await xt.run([(R, A["SEED"], 0), (IDLE, 0, xt.edge + gap), (R, A["CYCLE_LO"], 0)])
        assert res[1][2] - res[0][2] == gap == res[1][0] - res[0][2], (gap, res)
    n = 3 * xt.prog_depth // 2 + 7
    words = regs.WORDS["INBUF"]
    prog = [(W, A["INBUF"] + 4 * (k % words), 0x1000 + k) for k in range(n)]
    prog += [(R, A["INBUF"] + 4 * k, 0) for k in range(words)]
    p0 = xt.programs
    res = await xt.run(prog)
    assert xt.programs - p0 == -(-len(prog) // xt.prog_depth) == 2
    assert len(res) == n + words and all(r == 0 for _, r, _ in res)
    last = {k % words: 0x1000 + k for k in range(n)}
    assert [d for d, _, _ in res[n:]] == [last[k] for k in range(words)]
    edges = [t for _, _, t in res]
    gaps = {b - a for a, b in zip(edges, edges[1:])}
    assert gaps <= {2, 3}, f"handshake gaps {sorted(gaps)}: one program per chunk of " \
                           f"{xt.prog_depth}, 2 edges apart inside"
    xt.finish()


@cocotb.test()
async def test_wait_lands_on_the_command_end(dut):
    """WAIT: the next request hand-shakes on the first edge where BUSY reads 0 (the
    model's idle_cycle), in the program of the CMD write or a later one; or on its limit
    of edges if the command runs longer; or at once when nothing runs."""
    xt = XactTb(dut)
    await xt.start()
    m = xt.model
    await xt.run([(W, A["ROW_COUNT"], 40), (W, A["COL_COUNT"], 30)])
    # in a later program: exactly the model's end of the command
    await xt.run([(W, A["CMD"], OP["VMM_FWD"])])
    end = m.idle_cycle
    assert end > xt.edge + 10, (end, xt.edge)
    [(st, _, t)] = await xt.run([(WAIT, 0, 100000), (R, A["STATUS"], 0)])
    assert t == end and not st & BUSY, (t, end, st)
    # in the CMD's own program: BUSY read on the command's last cycle + 1
    [(_, _, tc), (st, _, t), (dur, _, _)] = await xt.run(
        [(W, A["CMD"], OP["VMM_FWD"]), (WAIT, 0, 100000), (R, A["STATUS"], 0),
         (R, A["LAST_CYCLES"], 0)])
    assert t == tc + dur + 1 and not st & BUSY, (tc, dur, t, st)
    # a limit below the command's length: BUSY still reads 1, N edges after the first
    # edge the read could have hand-shaken on (2 after the CMD's handshake)
    [(_, _, tc), (st, _, t)] = await xt.run([(W, A["CMD"], OP["VMM_FWD"]), (WAIT, 0, 5),
                                             (R, A["STATUS"], 0)])
    assert t == tc + 2 + 5 and st & BUSY, (tc, t, st)
    [(st0, _, tz), (st1, _, _)] = await xt.run([(WAIT, 0, 0), (R, A["STATUS"], 0),
                                                (WAIT, 0, 100000), (R, A["STATUS"], 0)])
    assert tz == t + 2 and st0 & BUSY and not st1 & BUSY, (t, tz, st0, st1)  # limit 0: at once
    # nothing running: at once, in the middle of a program and at its start
    [(_, _, t1), (_, _, t2)] = await xt.run([(R, A["SEED"], 0), (WAIT, 0, 1000),
                                            (R, A["STATUS"], 0)])
    assert t2 == t1 + 2, (t1, t2)
    e = xt.edge
    [(_, _, t)] = await xt.run([(WAIT, 0, 1000), (R, A["STATUS"], 0)])
    assert t == e, (t, e)
    xt.finish()


@cocotb.test()
async def test_scoreboard_finds_faults(dut):
    """Faults injected into the model are reported, at the edge they happen."""
    xt = XactTb(dut)
    await xt.start()
    sb, m = xt.sb, xt.model
    # a wrong read
    await xt.run([(W, A["SEED"], 0x55)])
    m.reg["SEED"] ^= 1
    [(_, _, t)] = await xt.run([(R, A["SEED"], 0)])
    m.reg["SEED"] ^= 1
    assert sb.errors == 1
    assert sb.first_mismatch == (f"read 0x{A['SEED']:04X} at edge {t}: expected data "
                                 "0x00000054 OKAY, got 0x00000055 OKAY"), sb.first_mismatch
    # irq_o at an access: IRQ_EN only in the model while DONE is set
    await xt.run([(W, A["COL_COUNT"], 3), (W, A["CMD"], OP["READ_ROW"])])
    await xt.run([(IDLE, 0, m.idle_cycle), (R, A["STATUS"], 0)])
    assert sb.errors == 1
    m.reg["CTRL"] |= MSK["CTRL_IRQ_EN"]
    [(_, _, t)] = await xt.run([(R, A["ID"], 0)])
    m.reg["CTRL"] &= ~MSK["CTRL_IRQ_EN"]
    # (reported once, on the first edge that differs: both sides hold still after it)
    assert sb.messages[1:] == [f"irq_o = 0, model 1 at edge {t}"], sb.messages
    await xt.run([(W, A["CTRL"], MSK["CTRL_IRQ_EN"])])
    assert sb.errors == 2
    # irq_o between accesses: the model's commands end later / earlier than the RTL's
    dur = regs.PARAMS["CMD_OVERHEAD"] + 2 * 3 * regs.PARAMS["ADC_CYCLES"]
    for shift in (5, -5):
        await xt.run([(W, A["IRQ_STATUS"], 1)])
        m.p["CMD_OVERHEAD"] += shift
        before = sb.errors
        [(_, _, t0)] = await xt.run([(W, A["CMD"], OP["READ_ROW"])])
        m.p["CMD_OVERHEAD"] -= shift
        assert m.dur == dur + shift and m.t0 == t0
        await xt.run([(IDLE, 0, t0 + dur + 20), (R, A["IRQ_STATUS"], 0)])
        first = min(t0 + dur, t0 + dur + shift) + 1
        assert sb.errors > before, f"shift {shift}: no mismatch"
        assert f"irq_o = {int(shift > 0)}, model {int(shift < 0)} at edge {first}" in \
            _errors(xt), (shift, first, _errors(xt))
    m.reset()   # the model diverged; the next test resets DUT and model together


@cocotb.test()
async def test_silent_macro_is_an_error(dut):
    """A macro that never accepts a request ends the program with an error, not a hang."""
    xt = XactTb(dut)
    await xt.start()
    await xt.run([(W, A["SEED"], 1)])
    dut.stall_macro.value = 1           # the slave looks busy for ever (cim_tb_top.v)
    try:
        await xt.run([(W, A["SEED"], 2), (R, A["SEED"], 0)])
    except TimeoutError as e:
        assert "entry 0 of a program of 2 not accepted or not answered within 1000 edges" \
            in str(e), str(e)
    else:
        raise AssertionError("no TimeoutError")
    finally:
        dut.stall_macro.value = 0
    [(d, r, _)] = await xt.run([(R, A["SEED"], 0)])   # and the bench goes on
    assert (d, r) == (1, 0)
    xt.finish()


def _errors(xt: XactTb) -> str:
    return "\n".join(xt.sb.messages)


@cocotb.test()
async def test_random_through_transactor(dut):
    """Seeded random programs: config, INBUF, commands, IRQ enable/W1C, idle gaps."""
    xt = XactTb(dut)
    await xt.start()
    rng = random.Random(int(cocotb.RANDOM_SEED))
    n_ops = max(200, regression_ops(10000) // 10)
    await xt.run([(W, A["ROW_COUNT"], 8), (W, A["COL_COUNT"], 8), (W, A["CTRL"], 1)])
    done = 0
    while done < n_ops:
        prog = []
        for _ in range(rng.randrange(1, 12)):
            k = rng.random()
            if k < 0.25:
                prog.append((W, A["INBUF"] + 4 * rng.randrange(4), rng.getrandbits(32)))
            elif k < 0.4:
                prog.append((W, A["CMD"], rng.choice([OP["VMM_FWD"], OP["READ_ROW"],
                                                      OP["VMM_TRANS"]])))
            elif k < 0.5:
                prog.append((W, A["CTRL"], rng.getrandbits(1)))
            elif k < 0.6:
                prog.append((W, A["IRQ_STATUS"], rng.getrandbits(1)))
            elif k < 0.7:
                prog.append((IDLE, 0, xt.edge + rng.randrange(0, 120)))
            else:
                prog.append((R, rng.choice([A["STATUS"], A["IRQ_STATUS"], A["CYCLE_LO"],
                                            A["OUTBUF"], A["READBUF"], A["SEED"]]), 0))
        await xt.run(prog)
        done += len(prog)
    await xt.run([(IDLE, 0, xt.model.idle_cycle), (R, A["STATUS"], 0)])
    assert xt.sb.checked > n_ops // 2
    xt.finish()


@cocotb.test()
async def test_scoreboard_in_its_own_process(dut):
    """The RTL server's scoreboard (ScoreboardProcess): a forked child checks the log the
    programs send it; clean traffic counts every response, a fault in its model is
    reported with the in-process scoreboard's message, the child ends with close, and a
    child killed is an error naming it."""
    xt = XactTb(dut)
    await xt.start()
    await xt.run([(W, A["SEED"], 0x55)])
    xt.model.reg["SEED"] ^= 1            # the child's model disagrees on SEED from here
    sb = xt.check_in_process()
    xt.model.reg["SEED"] ^= 1            # (the parent's model is not used after the fork)
    res = await xt.run([(W, A["ROW_COUNT"], 8), (W, A["COL_COUNT"], 4),
                        (W, A["CMD"], OP["VMM_FWD"]), (WAIT, 0, 1000), (R, A["STATUS"], 0)])
    sb.sync()  # the SEED write before the fork was checked in process: 1 + 4
    assert sb.errors == 0 and sb.checked == 1 + len(res) == 5, (sb.errors, sb.checked, res)
    [(_, _, t)] = await xt.run([(R, A["SEED"], 0)])
    sb.sync()
    assert sb.errors == 1 and sb.checked == 6
    assert sb.first_mismatch == (f"read 0x{A['SEED']:04X} at edge {t}: expected data "
                                 "0x00000054 OKAY, got 0x00000055 OKAY"), sb.first_mismatch
    pid = sb.pid
    sb.close()
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive, f"scoreboard process {pid} outlived close()"
    # a child that died (killed): the next program's check says so, by name
    xt = XactTb(dut)
    await xt.start()
    sb = xt.check_in_process()
    os.kill(sb.pid, 9)
    os.waitpid(sb.pid, 0)
    try:
        await xt.run([(R, A["SEED"], 0)])
        sb.sync()
        err = ""
    except RuntimeError as e:
        err = str(e)
    assert err.startswith(f"the scoreboard process {sb.pid} ended"), err
    sb.pid = 0  # reaped above
