"""Child processes that end with the run that started them, however it ends.

A parent that is killed with SIGKILL runs no cleanup, so its children (the RTL or model
server, the firmware launcher, the simulator under the RTL server) would run on.  A
parent that wants its children to follow it sets ``CIMTRAIN_PARENT_PID`` to its own pid
in their environment; each child calls ``die_with_parent()`` first thing, which asks
Linux to send it SIGTERM when that parent dies (prctl PR_SET_PDEATHSIG) and, if the
parent is gone already, sends it now.  Without the variable, or off Linux, it does
nothing (a server started by hand lives on its own).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

ENV = "CIMTRAIN_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def child_env(env: dict | None = None) -> dict:
    """``env`` (default: this process's) with ENV naming this process."""
    return {**(os.environ if env is None else env), ENV: str(os.getpid())}


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Follow the parent named by CIMTRAIN_PARENT_PID; True if armed."""
    want = os.environ.get(ENV, "")
    if not want.isdigit() or not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if os.getppid() != int(want):       # the parent died before prctl took effect
        os.kill(os.getpid(), sig)
    return True
