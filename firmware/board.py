"""Board configuration: how firmware reaches the CIM macro on this board.

hal.py imports ``board`` and takes its transport from ``bus()``; the training code never
changes between boards.  This file describes the real SoC: the macro's registers are
memory-mapped at BASE and reached with uctypes loads and stores (hal_mmio.py).  The
virtual board (python -m cimtrain.bridge.launch) imports board_cosim.py as ``board``
instead.
"""

from cim_regs import CIM_BASE

BACKEND = "mmio"        # uctypes loads/stores at BASE
BASE = CIM_BASE         # SoC address of the macro's 8 KiB register window
WAIT_POLL_US = 1        # wait_done: pause between STATUS polls


def bus():
    """The HAL transport of this board (hal.py calls it once, at import)."""
    import hal_mmio
    return hal_mmio.Mmio(BASE)
