# Board configuration 'soc': TEMPLATE for a real SoC board: the macro memory-mapped at
# the spec's base address. Copy this entry, set BASE to your SoC's address map, HEAP to
# your port's heap, PRESET to the macro your chip or FPGA carries.
# Written by make flash from host_tools/cimtrain/boards.py (the one source of these keys
# and values; docs/board.md); firmware/board.py reads it.  Integers and strings only.

# board configuration name (python -m cimtrain.boards lists them)
NAME = 'soc'
# HAL transport: mmio: uctypes loads and stores at BASE (hal_mmio.py): the SoC; ring:
# the bridge window's request ring at BASE (hal_ring.py): the virtual board
BACKEND = 'mmio'
# SoC address of the macro's register window
BASE = 0x40000000
# macro preset the firmware is built for; the macro's HWCFG must match TILES, ROWS, COLS
PRESET = 'default'
# tiles the macro must report (HWCFG)
TILES = 8
# rows per tile the macro must report (HWCFG)
ROWS = 256
# columns per tile the macro must report (HWCFG)
COLS = 64
# network main.py trains (lenet5 needs the default preset, seedcnn seed-chip)
NET = 'lenet5'
# bytes of MicroPython heap the board gives the firmware (the virtual board starts its
# interpreter with it; make flash checks a board against it)
HEAP = 262144
# folder on the board of the MNIST subset (train.bin, test.bin)
DATA = 'data'
