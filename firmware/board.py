"""Board support: how the firmware reaches the CIM macro on this board (board_cfg.py).

    import board
    bus = board.bus()          # hal.py does this once, at import
    board.check()              # the macro and the heap match board_cfg.py, else BoardError
    board.train_args()         # main.py: net=, train=, test= of this board

hal.py imports ``board`` and takes its transport from ``bus()``; the training code never
changes between boards.  What differs between boards is board_cfg.py, which make flash
writes from host_tools/cimtrain/boards.py (the one source of its keys, docs/board.md):
BACKEND "mmio" is the SoC (the macro's registers memory-mapped at BASE, reached with
uctypes loads and stores, hal_mmio.py); "ring" is the virtual board of make board (the
bridge window mapped at BASE, hal_ring.py).  The board_cfg.py of the source tree is the
template of a real SoC board.  make cosim's launcher imports board_cosim.py as ``board``
instead.
"""

import board_cfg as cfg

BACKEND = cfg.BACKEND
BASE = cfg.BASE
WAIT_POLL_US = 1        # mmio wait_done: pause between STATUS polls


class BoardError(Exception):
    """board_cfg.py does not describe this board (macro preset, heap, backend)."""


def bus():
    """The HAL transport of this board (hal.py calls it once, at import)."""
    if BACKEND == "mmio":
        import hal_mmio
        return hal_mmio.Mmio(BASE)
    if BACKEND == "ring":
        import hal_ring
        return hal_ring.Ring(BASE)
    raise BoardError("board_cfg.py: BACKEND %r, expected 'mmio' or 'ring'" % BACKEND)


def check():
    """Raise BoardError unless the macro reports the tiles of cfg.PRESET and the heap is
    cfg.HEAP; returns (tiles, rows, cols, heap bytes)."""
    import gc

    import hal
    from cim_regs import R_HWCFG, unpack_hwcfg
    tiles, rows, cols = unpack_hwcfg(hal.rd32(R_HWCFG))
    if (tiles, rows, cols) != (cfg.TILES, cfg.ROWS, cfg.COLS):
        raise BoardError("board_cfg.py %r: preset %s (%d tiles of %d x %d) but the macro at "
                         "0x%08x has %d tiles of %d x %d: flash the configuration of this "
                         "board" % (cfg.NAME, cfg.PRESET, cfg.TILES, cfg.ROWS, cfg.COLS,
                                    BASE, tiles, rows, cols))
    gc.collect()
    heap = gc.mem_free() + gc.mem_alloc()
    # the collector's own tables (3 bits per 16-byte block: 1/42) are not in the sum
    if heap < cfg.HEAP - cfg.HEAP // 32:
        raise BoardError("board_cfg.py %r: HEAP %d bytes but MicroPython has %d"
                         % (cfg.NAME, cfg.HEAP, heap))
    return tiles, rows, cols, heap


def train_args():
    """The training options of this board (main.py puts the user's after them)."""
    check()
    return ["net=" + cfg.NET, "train=%s/train.bin" % cfg.DATA, "test=%s/test.bin" % cfg.DATA]
