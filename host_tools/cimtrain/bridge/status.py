"""Status file of a bridge server: where it stands, for the process that started it.

A small JSON file, rewritten atomically (fileio.write_atomic: a reader sees the old file
or the new one, never a part) at each change of state:

    {"server": "rtl", "window": "cosim-1-0", "preset": "default", "pid": 1234,
     "state": "starting" | "ready" | "done" | "failed",
     "sessions": [{"exit": 0, "seconds": 12.3, "mismatches": 0,
                   "stats": {"requests": 10, "writes": 8, "reads": 2, "waits": 1,
                             "bus_errors": 0, "responses_checked": 11, "cycles": 140}}],
     "error": null}

``ready``: the window exists and takes a firmware; one ``sessions`` entry per firmware
that detached (its exit status and the server's counts; ``mismatches`` and the
``responses_checked``/``cycles`` counts only on the RTL server, whose scoreboard checks
every response); ``done`` / ``failed`` when the server ends (``error`` says why it
failed).  Written by the model server (``--status``) and the RTL server (its command
line process and, inside the simulator, cosim/serve.py, one after the other), read by
``make cosim`` (cosim_main.py), the bridge bench and the tests: no process parses
another's printed lines.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..fileio import write_atomic

STATES = ("starting", "ready", "done", "failed")


def read(path: str | os.PathLike) -> dict | None:
    """The status in ``path``, or None while there is none."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None


class StatusFile:
    """Writer of one server's status file.  ``server``/``window``/``preset`` given: a new
    file in state ``starting``; omitted: continue the file another process of the same
    server started (the RTL server's simulator after its command line process)."""

    def __init__(self, path: str | os.PathLike, server: str | None = None,
                 window: str | None = None, preset: str | None = None) -> None:
        self.path = Path(path).resolve()
        if server is not None:
            self._write({"server": server, "window": window, "preset": preset,
                         "pid": os.getpid(), "state": "starting", "sessions": [],
                         "error": None})

    def _write(self, data: dict) -> None:
        write_atomic(self.path, (json.dumps(data, indent=1) + "\n").encode())

    def _update(self, **fields) -> dict:
        data = read(self.path) or {"sessions": [], "error": None}
        data.update(fields)
        self._write(data)
        return data

    def ready(self, **info) -> None:
        """The window exists; ``info``: anything worth reporting (e.g. the DUT's sizes)."""
        self._update(state="ready", pid=os.getpid(), **info)

    def session(self, exit_status: int, seconds: float, stats: dict, **extra) -> None:
        data = read(self.path) or {"sessions": []}
        self._update(sessions=[*data.get("sessions", []),
                               {"exit": exit_status, "seconds": round(seconds, 3),
                                "stats": stats, **extra}])

    def fail(self, error: str) -> None:
        """State ``failed``; the first error reported is kept."""
        data = read(self.path) or {}
        self._update(state="failed", error=data.get("error") or error)

    def finish(self, rc: int, error: str | None = None) -> None:
        """The server ends with exit status ``rc``: ``done`` if 0 (and nothing failed
        before), else ``failed``."""
        data = read(self.path) or {}
        if rc != 0 or data.get("state") == "failed":
            self.fail(error or f"exit status {rc}")
        else:
            self._update(state="done")
