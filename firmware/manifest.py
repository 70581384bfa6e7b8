# MicroPython manifest of the cimtrain firmware of a board: freeze it into a board's image
# (FROZEN_MANIFEST=.../firmware/manifest.py), or let `make flash` copy these modules as
# .mpy files (fwbuild.board_modules reads this list: it is the one list of what a board
# runs).  The HAL transport here is the SoC's, hal_mmio (board_cfg.BACKEND "mmio"); the
# virtual board of make board gets hal_ring in its place.  board_cfg is the SoC template
# (make flash writes each board's own board_cfg.py, which a file system copy overrides:
# sys.path searches the file system before the frozen modules).  fastloops is viper code
# for the port's architecture: leave it out on a port without native code (network.py
# then runs its plain twins, loops.py).  main.py, the boot script, stays a source file.
metadata(description="cimtrain: mixed-precision CNN training on a CIM macro", version="0.1.0")

for m in ("cim_regs", "hal", "hal_mmio", "board", "board_cfg", "cim", "fixedpoint", "loops",
          "fastloops", "network", "update", "stuck", "mnist", "ckpt", "digest", "train"):
    module(m + ".py", opt=3)
