# Entry point of the training firmware: `main.py` runs at boot on a board; on the virtual
# board the launcher runs it with the key=value arguments of firmware/train.py.  It stays
# tiny on purpose: the modules are imported precompiled (.mpy), so the heap is not
# fragmented by compiling them (the training fits a 256 KB heap that way).
import sys

import train

train.main(sys.argv[1:])
