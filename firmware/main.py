# Entry point of the training firmware: `main.py` runs at boot on a board (make flash
# RUN=1 runs it with options: sys.argv = ["main.py", "key=value", ...]); on the virtual
# platform (make cosim) the launcher runs it with the key=value arguments of
# firmware/train.py.  It stays tiny on purpose: the modules are imported precompiled
# (.mpy), so the heap is not fragmented by compiling them (the training fits a 256 KB
# heap that way).
import sys

import train

try:
    import board
    import board_cfg  # noqa: F401  (a flashed board: network and data from its config)
    args = board.train_args()
except ImportError:     # make cosim: net=, train=, test= come as arguments
    args = []
train.main(args + sys.argv[1:])
