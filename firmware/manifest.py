# MicroPython manifest of the cimtrain firmware: freeze it into a board's image
# (FROZEN_MANIFEST=.../firmware/manifest.py) or let `make flash` copy .mpy files.
metadata(description="cimtrain: mixed-precision CNN training on a CIM macro", version="0.1.0")

for m in ("cim_regs", "hal", "board", "cim", "fixedpoint", "network", "update", "mnist",
          "train"):
    module(m + ".py", opt=3)
