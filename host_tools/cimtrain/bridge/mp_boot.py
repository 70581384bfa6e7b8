# Boot of the virtual board: MicroPython code, run in the unix port by
# cimtrain.bridge.launch after it mapped the bridge window at the macro's base address.
#   argv: mp_boot.py FIRMWARE_DIR BOARD_MODULE ENTRY [ARGS...]
# Makes the board module (firmware/board_cosim.py by default) importable as `board`, so
# that hal.py selects the ring backend without any firmware file changing, then runs
# ENTRY as __main__ with sys.argv = [ENTRY, ARGS...].
import sys


def _boot():
    fwdir, board, entry = sys.argv[1], sys.argv[2], sys.argv[3]
    del sys.argv[:3]
    sys.path[0] = entry.rsplit("/", 1)[0] if "/" in entry else "."
    if fwdir not in sys.path:
        sys.path.insert(1, fwdir)
    sys.modules["board"] = __import__(board)
    return entry


_entry = _boot()
try:
    execfile(_entry, {"__name__": "__main__", "__file__": _entry})  # noqa: F821 (MicroPython)
except SystemExit:
    raise
except BaseException as e:  # the port prints uncaught tracebacks on stdout; use stderr
    sys.print_exception(e, sys.stderr)
    sys.exit(1)
