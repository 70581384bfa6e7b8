# MicroPython manifest of the cimtrain firmware: freeze it into a board's image
# (FROZEN_MANIFEST=.../firmware/manifest.py) or let `make flash` copy .mpy files.
# The board's HAL transport is hal_mmio (board.py); hal_ring and board_cosim are the
# virtual board's.  fastloops is viper code for the port's architecture: leave it out
# on a port without native code (network.py then runs its plain twins, loops.py).
metadata(description="cimtrain: mixed-precision CNN training on a CIM macro", version="0.1.0")

for m in ("cim_regs", "hal", "hal_mmio", "board", "cim", "fixedpoint", "loops", "fastloops",
          "network", "update", "mnist", "train"):
    module(m + ".py", opt=3)
