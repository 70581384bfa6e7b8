"""Board configuration: how firmware reaches the CIM macro on this board.

hal.py imports ``board`` and picks its backend from BACKEND; the training code never
changes between boards.  This file describes the real SoC: the macro's registers are
memory-mapped at BASE and reached with uctypes loads and stores.  The virtual board
(python -m cimtrain.bridge.launch) imports board_cosim.py as ``board`` instead.
"""

from cim_regs import CIM_BASE

BACKEND = "mmio"        # uctypes loads/stores at BASE
BASE = CIM_BASE         # SoC address of the macro's 8 KiB register window
WAIT_POLL_US = 1        # wait_done: pause between STATUS polls
