"""Helpers that run firmware on the virtual board from Python (tests, tools).

    with serve_in_thread(unique_name("demo"), CimMacro("seed-chip")) as srv:
        res = run_firmware(srv.name, "firmware/selftest.py", ["--quick"])
    assert res.returncode == 0, res.stderr

The model server runs in a thread of the calling process (the C library releases the
GIL while it waits), the firmware in a launcher subprocess (it maps the window at the
macro's base address and runs the MicroPython unix port in-process).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from contextlib import contextmanager

from ..paths import ROOT
from . import protocol as P
from .model_server import ModelServer
from .window import ServerWindow

_count = itertools.count()


def unique_name(prefix: str = "t") -> str:
    """A window name no other process uses: prefix, pid and a counter."""
    return f"{prefix}-{os.getpid()}-{next(_count)}"


class ThreadServer:
    """A model server on its own thread; ``result`` holds exit codes or the error."""

    def __init__(self, name: str, model, sessions: int = 1, attach_timeout_s: float = 20.0,
                 trace=None, **window_kw) -> None:
        self.name = name
        self.win = ServerWindow(name, kind=P.KIND_MODEL, **window_kw)
        self.server = ModelServer(self.win, model, trace)
        self.model = model
        self.exits: list[int] = []
        self.error: BaseException | None = None
        self._sessions = sessions
        self._attach = attach_timeout_s
        self._thread = threading.Thread(target=self._run, name=f"server-{name}", daemon=True)

    def _run(self) -> None:
        try:
            for _ in range(self._sessions):
                self.exits.append(self.server.serve_session(self._attach))
        except BaseException as e:  # reported by join()
            self.error = e

    def start(self) -> ThreadServer:
        self._thread.start()
        return self

    def join(self, timeout_s: float = 20.0) -> None:
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise TimeoutError(f"server thread of window '{self.name}' still running")

    def close(self) -> None:
        self.win.close()


@contextmanager
def serve_in_thread(name: str, model, sessions: int = 1, attach_timeout_s: float = 20.0,
                    trace=None):
    """A ThreadServer for the duration of the block; ``trace``: a trace.TraceWriter
    (closed by the caller)."""
    srv = ThreadServer(name, model, sessions, attach_timeout_s, trace).start()
    try:
        yield srv
    finally:
        try:
            srv.join(attach_timeout_s + 5)
        finally:
            srv.close()


def launch_cmd(window: str, script: str | os.PathLike, args: list[str] | None = None,
               launcher_args: list[str] | None = None) -> list[str]:
    return [sys.executable, "-m", "cimtrain.bridge.launch", "--window", window,
            *(launcher_args or []), str(script), *(args or [])]


def run_firmware(window: str, script: str | os.PathLike, args: list[str] | None = None,
                 launcher_args: list[str] | None = None,
                 timeout_s: float = 60.0) -> subprocess.CompletedProcess:
    """Run ``script`` on the virtual board attached to ``window``; capture its output."""
    return subprocess.run(launch_cmd(window, script, args, launcher_args), cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout_s)
