"""The RTL macro's chip image (model/chip_image.py) read and restored in the simulator.

    img = await read_image(xt)            # {"g", "wc", "seed", "op_count"} of the RTL
    await restore_image(xt, "chip.npz")   # the RTL (and the scoreboard's model) take it

Read: through the bus only, so the scoreboard checks every word against its model:
CTRL.DBG_EN, DBG_ADDR = 0, then per cell pair DBG_WC (write counters, does not advance)
and DBG_G (conductances, advances DBG_ADDR in tile, row, column order), then SEED and
OP_COUNT, and CTRL back as it was.

Restore: the conductances through DBG_G writes (the RTL's derived lane copies of the
weights follow, as for any backdoor write).  The write counters and OP_COUNT have no
write path on the bus (DBG_WC and OP_COUNT are read-only, and a real macro's are not
writable at all), so they are deposited into the RTL's own storage by name (HDL paths
below: the rtl/ files' names, checked by reading everything back through the bus) and
set in the scoreboard's model alike.  Then the image is read back (``read_image``) and
compared: a renamed RTL signal or a lost deposit is an error, not a silent difference.
"""

from __future__ import annotations

import numpy as np

from .. import regs
from .tb import OP_READ, OP_WRITE, XactTb

A = regs.ADDR
# the RTL's storage of what the bus cannot write (rtl/cim_array.sv, rtl/cim_regfile.sv)
WC_MEM = ("u_macro", "u_array", "wc_mem")
OP_COUNT_Q = ("u_macro", "u_regfile", "op_count_q")


def _shape(xt: XactTb) -> tuple[int, int, int, int]:
    p = xt.params
    return p["NTILES"], p["ROWS"], p["COLS"], 2


def _check(res: list, what: str) -> None:
    bad = [i for i, (_, resp, _) in enumerate(res) if resp]
    if bad:
        raise RuntimeError(f"chip image {what}: access {bad[0]} of {len(res)} answered "
                           f"{res[bad[0]][1]}")


async def read_image(xt: XactTb) -> dict:
    """The RTL's conductances, write counters, SEED and OP_COUNT, through the bus."""
    [(ctrl, resp, _)] = await xt.run([(OP_READ, A["CTRL"], 0)])
    shape = _shape(xt)
    pairs = shape[0] * shape[1] * shape[2]
    prog = [(OP_WRITE, A["CTRL"], ctrl | regs.MSK["CTRL_DBG_EN"]), (OP_WRITE, A["DBG_ADDR"], 0)]
    prog += [(OP_READ, A["DBG_WC"], 0), (OP_READ, A["DBG_G"], 0)] * pairs
    prog += [(OP_READ, A["SEED"], 0), (OP_READ, A["OP_COUNT"], 0),
             (OP_WRITE, A["CTRL"], ctrl)]
    res = await xt.run(prog)
    _check(res, "read")
    words = np.array([d for d, _, _ in res[2:2 + 2 * pairs]], dtype=np.int64).reshape(pairs, 2)
    wc = np.stack([words[:, 0] & 0xFFFF, words[:, 0] >> 16], axis=1).reshape(shape)
    g = np.stack([words[:, 1] & 0xFFFF, words[:, 1] >> 16], axis=1).reshape(shape)
    return {"g": g, "wc": wc, "seed": res[-3][0], "op_count": res[-2][0]}


def _handle(xt: XactTb, path: tuple[str, ...]):
    h = xt.dut
    for name in path:
        h = getattr(h, name)
    return h


async def restore_image(xt: XactTb, path) -> dict:
    """Load a chip image (with its OP_COUNT) into the RTL and the scoreboard's model."""
    from ..model.chip_image import load
    img = load(path, xt.model.p)
    g, wc, op = img["g"], img["wc"], int(img.get("op_count", 0))
    if g.shape != _shape(xt):
        raise ValueError(f"{path}: array {g.shape}, the RTL's {_shape(xt)}")
    [(ctrl, _, _)] = await xt.run([(OP_READ, A["CTRL"], 0)])
    flat = g.reshape(-1, 2)
    prog = [(OP_WRITE, A["CTRL"], ctrl | regs.MSK["CTRL_DBG_EN"]), (OP_WRITE, A["DBG_ADDR"], 0)]
    prog += [(OP_WRITE, A["DBG_G"], int(p) | int(n) << 16) for p, n in flat]
    prog.append((OP_WRITE, A["CTRL"], ctrl))
    _check(await xt.run(prog), "restore")
    try:
        mem = _handle(xt, WC_MEM)
        opq = _handle(xt, OP_COUNT_Q)
    except AttributeError as e:
        raise RuntimeError(f"chip image restore: the RTL signal {e} is not reachable from "
                           "the simulator (write counters and OP_COUNT are deposited by "
                           "name; Icarus reaches them)") from None
    for i in np.flatnonzero(wc.ravel()):
        mem[int(i)].value = int(wc.ravel()[i])
    opq.value = op
    m = xt.model
    m.array.wc[...] = wc
    m.op_count = op
    back = await read_image(xt)
    for k, want in (("g", g), ("wc", wc)):
        if not np.array_equal(back[k], want):
            i = np.argwhere(back[k] != want)[0]
            raise RuntimeError(f"chip image restore: {k}{tuple(i)} reads {back[k][tuple(i)]}, "
                               f"the image has {want[tuple(i)]}")
    if back["op_count"] != op:
        raise RuntimeError(f"chip image restore: OP_COUNT reads {back['op_count']}, the image "
                           f"has {op}")
    return img
