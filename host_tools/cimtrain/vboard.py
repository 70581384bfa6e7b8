"""`make board`: a virtual board to flash and talk to, as a MicroPython board on a PTY.

    make board [BOARD=virtual] [BACKEND=model|rtl] [BOARD_DIR=build/vboard-virtual]
    python -m cimtrain.vboard --board virtual-seed --dir /tmp/b --status /tmp/b.json

Prints ``PORT=/dev/pts/N`` first (what ``make flash PORT=...`` and ``mpremote connect``
take), then runs until Ctrl-C or SIGTERM.  Behind the PTY:

- the MicroPython unix port (the launcher of cimtrain.bridge.launch, ``--repl``), on a
  PTY of its own, its current directory the board's filesystem (``--dir``, kept between
  runs like a board's flash), its heap the board configuration's HEAP;
- the macro's window mapped at its base address in that interpreter's process and served
  by the model server (or the RTL server, ``--backend rtl``) of the configuration's
  preset, so ``import hal`` on the board finds the macro.  The macro keeps its state
  across soft resets, as a powered board does;
- this process relays the bytes between the two PTYs.  The unix port exits on a soft
  reset (Ctrl-D at an empty prompt, or SystemExit); the relay then answers as a board
  does: ``soft reboot``, a fresh interpreter, back in the raw REPL if it was in it
  (mpremote soft-resets the board before its first command).  Ctrl-C (a 0x03 byte)
  while code runs: a board's UART interrupt raises KeyboardInterrupt; the unix port
  reads no byte while it runs code, so the relay sends it SIGINT when the port has its
  handler installed (it does while it runs REPL code, raw-paste included: tested), and
  otherwise (SIGINT at its default would kill the process: seen once with the terminal
  generating SIGINT itself) ends the interpreter and boots a fresh one, which mpremote,
  interrupting to enter the raw REPL, cannot tell from an interrupt.

Both ends of the PTY are raw.  On exit (Ctrl-C, SIGTERM, a failed server) the
interpreter and the server are ended and the window in /dev/shm is removed; the children
also get SIGTERM if this process is killed outright (PR_SET_PDEATHSIG).  ``--status``
keeps a JSON file {"port", "pid", "state": starting|ready|done|failed, "error", "boots",
"server_pid", "interp_pid", "window"} for programs (tests) that start a board.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import json
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
import tty
from pathlib import Path

from . import boards
from .bridge import status as S
from .bridge.harness import unique_name
from .fileio import write_atomic
from .paths import ROOT

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
FRIENDLY_PROMPT = b">>> "
CTRL_A, CTRL_B = 0x01, 0x02
PR_SET_PDEATHSIG = 1
CTRL_C, CTRL_D = 0x03, 0x04
RESET_S = 10.0                       # an interpreter that has not exited this long after
                                     # a soft reset is ended
SYS_READ = 0                         # x86-64 (the launcher runs on x86 only: TSO)
QUEUE_MAX = 1 << 16                  # bytes held for a user who is not reading


class BoardFailed(Exception):
    """The virtual board cannot go on (its server died, the interpreter cannot start)."""


def _log(msg: str) -> None:
    print(f"vboard: {msg}", file=sys.stderr, flush=True)


def _child_setup(ctty: bool) -> None:
    """In a child, before exec: SIGTERM when this process dies; the interpreter's PTY as
    its controlling terminal (as a terminal program has it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if ctty:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _waits_for_input(pid: int) -> bool:
    """The process's main thread is blocked reading stdin (the REPL's prompt)."""
    try:
        sc = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return False
    return len(sc) > 1 and sc[0] == str(SYS_READ) and int(sc[1], 16) == 0


def _catches_sigint(pid: int) -> bool:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
    except OSError:
        pass
    return False


class VirtualBoard:
    def __init__(self, board: boards.Board, fs: Path, backend: str = "model",
                 status: Path | None = None) -> None:
        self.board = board
        self.fs = fs
        self.backend = backend
        self.status_path = status
        self.window = unique_name("vboard")
        self.server: subprocess.Popen | None = None
        self.interp: subprocess.Popen | None = None
        self.boots = 0
        self.raw = False             # the REPL mode the user last selected (Ctrl-A / Ctrl-B)
        self._srv_status = None
        self.to_user = bytearray()   # interpreter -> user
        self.to_interp = bytearray()  # user -> interpreter (held while it reboots)
        self._swallow = False        # until a rebooted interpreter reached the raw REPL
        self._boot_out = b""
        self._sent_ctrl_a = False
        self._hard_reset = False     # the relay ended the interpreter (Ctrl-C, see above)
        self._at_raw_prompt = False  # the raw REPL's ">" was the last output: a Ctrl-D now
                                     # is a soft reset
        self._resetting = 0.0        # when the relay answered a soft reset for the port

    # -- status for programs ------------------------------------------------------------
    def _status(self, state: str, **more) -> None:
        if self.status_path is not None:
            data = {"board": self.board.name, "port": getattr(self, "port", None),
                    "pid": os.getpid(), "dir": str(self.fs), "state": state,
                    "window": self.window,
                    "boots": self.boots, "error": None,
                    "server_pid": self.server.pid if self.server else None,
                    "interp_pid": self.interp.pid if self.interp else None, **more}
            write_atomic(self.status_path, (json.dumps(data) + "\n").encode())

    # -- processes ----------------------------------------------------------------------
    def start_server(self, tmp: Path) -> None:
        self._srv_status = tmp / "server-status.json"
        if self.backend == "rtl":
            mod = "cimtrain.cosim.rtl_server"
        else:
            mod = "cimtrain.bridge.model_server"
        cmd = [sys.executable, "-m", mod, "--window", self.window, "--preset",
               self.board.preset, "--status", str(self._srv_status),
               "--attach-timeout", str(7 * 24 * 3600)]
        # one session per boot of the interpreter, for as long as the board runs (the
        # model server: 0 is forever; the RTL server counts them)
        cmd += ["--sessions", "0" if self.backend == "model" else str(10**9)]
        self.server = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL,
                                       stdout=sys.stderr, stderr=sys.stderr,
                                       start_new_session=True,
                                       preexec_fn=lambda: _child_setup(False))
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            st = (S.read(self._srv_status) or {}).get("state")
            if st == "ready":
                return
            if st in ("done", "failed") or self.server.poll() is not None:
                break
            time.sleep(0.05)
        err = (S.read(self._srv_status) or {}).get("error")
        raise BoardFailed(f"the {self.backend} server did not come up"
                          + (f": {err}" if err else ""))

    def boot(self) -> None:
        """Start an interpreter on the board's PTY (power-on or after a soft reset)."""
        self.boots += 1
        self._started = False
        cmd = [sys.executable, "-m", "cimtrain.bridge.launch", "--window", self.window,
               "--wait", "30", "--heap", str(self.board.heap), "--repl"]
        # the board's filesystem is its current directory, its library folder lib/ (as
        # /lib on a board); nothing of the host's ~/.micropython
        env = dict(os.environ, MICROPYPATH="lib")
        self.interp = subprocess.Popen(cmd, cwd=self.fs, env=env, stdin=self.s2,
                                       stdout=self.s2, stderr=sys.stderr, close_fds=True,
                                       start_new_session=True,
                                       preexec_fn=lambda: _child_setup(True))

    # -- the relay ----------------------------------------------------------------------
    def run(self) -> int:
        self.m1, s1 = pty.openpty()          # the user's side: mpremote opens s1's path
        self.m2, self.s2 = pty.openpty()     # the interpreter's terminal
        tty.setraw(self.m1)
        tty.setraw(s1)
        tty.setraw(self.m2)
        tty.setraw(self.s2)      # no ISIG: a 0x03 byte is data; the relay interrupts
        self.port = os.ttyname(s1)
        self._s1 = s1    # held open: the master would read EIO between two mpremote runs
        self.fs.mkdir(parents=True, exist_ok=True)
        self._status("starting")
        print(f"PORT={self.port}", flush=True)
        tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"cimtrain-{self.window}"
        tmp.mkdir(parents=True, exist_ok=True)
        try:
            self.start_server(tmp)
            self.boot()
            self._status("ready")
            _log(f"board {self.board.name!r} ready: preset {self.board.preset}, "
                 f"{self.backend} server, heap {self.board.heap // 1024} KiB, filesystem "
                 f"{self.fs}; flash it with make flash PORT={self.port}; Ctrl-C stops it")
            self._relay()
        finally:
            self.stop()
            for p in tmp.iterdir():
                p.unlink()
            tmp.rmdir()
        return 0

    def _relay(self) -> None:
        # Queues both ways, written when the other side can take them: a blocking write
        # to one PTY while its reader waits on the other would deadlock the pair.
        while True:
            rd = [self.m1]
            if len(self.to_user) < QUEUE_MAX:   # back-pressure, as a USB CDC port gives
                rd.append(self.m2)
            wr = ([self.m1] if self.to_user else []) + \
                 ([self.m2] if self.to_interp and not self._swallow else [])
            r, w, _ = select.select(rd, wr, [], 0.2)
            if self.m1 in r:
                data = os.read(self.m1, 4096)
                for b in data:
                    if b == CTRL_D and self.raw and self._at_raw_prompt and not self._swallow:
                        self._soft_reset_now()
                    self._at_raw_prompt = False
                    if b == CTRL_A:
                        self.raw = True
                    elif b == CTRL_B:
                        self.raw = False
                    elif b == CTRL_C:
                        self._interrupt()
                self.to_interp += data
            if self.m2 in r:
                try:
                    out = os.read(self.m2, 4096)
                except OSError:      # EIO: the interpreter closed its terminal (exiting)
                    out = b""
                self._from_interp(out)
            if self.m1 in w:
                n = os.write(self.m1, self.to_user)
                del self.to_user[:n]
            if self.m2 in w:
                n = os.write(self.m2, self.to_interp)
                del self.to_interp[:n]
            if self._resetting and time.monotonic() - self._resetting > RESET_S \
                    and self.interp.poll() is None:   # it did not take the Ctrl-D as a reset
                self._hard_reset = True
                os.killpg(self.interp.pid, signal.SIGKILL)
                self.interp.wait()
            if self.interp.poll() is not None:
                self._reboot()
            if self.server.poll() is not None:
                err = (S.read(self._srv_status) or {}).get("error")
                raise BoardFailed(f"the {self.backend} server ended (exit status "
                                  f"{self.server.returncode})" + (f": {err}" if err else ""))

    def _from_interp(self, out: bytes) -> None:
        self._started = self._started or bool(out)
        if self._resetting:          # the old interpreter's last words: answered already
            return
        if not self._swallow:
            self.to_user += out
            self._at_raw_prompt = self.raw and out.endswith(b">")
            return
        # a rebooted interpreter: its banner is not a board's; go back to the raw REPL
        # and pass on what follows from "raw REPL; CTRL-B to exit\r\n"
        self._boot_out += out
        if FRIENDLY_PROMPT in self._boot_out and not self._sent_ctrl_a:
            os.write(self.m2, b"\r\x01")
            self._sent_ctrl_a = True
        k = self._boot_out.find(RAW_BANNER)
        if k >= 0:
            self._swallow = False
            self.to_user += self._boot_out[k:]
            self._at_raw_prompt = self._boot_out.endswith(b">")

    def _interrupt(self) -> None:
        pid = self.interp.pid
        if (not self._started or self._swallow or self.interp.poll() is not None
                or _waits_for_input(pid)):
            return   # booting (not yet the port's handler), or at a prompt: the byte does it
        if _catches_sigint(pid):
            os.kill(pid, signal.SIGINT)
        else:
            self._hard_reset = True
            os.killpg(pid, signal.SIGKILL)
            self.interp.wait()

    def _soft_reset_now(self) -> None:
        """Ctrl-D at the empty raw REPL: a board answers "OK", then "soft reboot" at once.
        The unix port's exit takes a variable while (the launcher detaches, Python ends),
        so the relay answers both for it, as a board would, and drops what the port
        still prints; the Ctrl-D still goes to it, and its exit boots the next
        interpreter.  (mpremote reads a PTY without a byte timeout, so this is for
        fidelity and for a client that has one.)"""
        self.to_user += b"OK\r\nsoft reboot\r\n"
        self._resetting = time.monotonic()

    def _reboot(self) -> None:
        rc = self.interp.returncode
        # drain what the old interpreter still wrote
        while select.select([self.m2], [], [], 0)[0]:
            try:
                out = os.read(self.m2, 4096)
            except OSError:
                break
            if not out:
                break
            self._from_interp(out)
        # Any exit of an interpreter that reached its REPL is a soft reset (Ctrl-D,
        # sys.exit(n): a board resets on both); one that never printed its banner could
        # not start (the launcher's exit status and message say why)
        if self._hard_reset:
            self._hard_reset = False
        elif not self._started:
            raise BoardFailed(f"the interpreter could not start (launcher exit status {rc}; "
                              "its message above)")
        # the new interpreter gets only what the user sends after the reset
        self.to_interp.clear()
        if not self._resetting:
            self.to_user += b"soft reboot\r\n"
        self._resetting = 0.0
        self.boot()
        self._status("ready")
        if self.raw:
            self._swallow, self._boot_out, self._sent_ctrl_a = True, b"", False

    def stop(self) -> None:
        """End the interpreter, then the server (which removes the window).  A server
        waiting for an interpreter to attach sits in one long C call, where its SIGTERM
        handler cannot run: it is killed after a grace and its window removed here (the
        name is this board's own)."""
        for p, grace in ((self.interp, 5), (self.server, 2)):
            if p is None or p.poll() is not None:
                continue
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            except ProcessLookupError:
                p.wait()
        Path(f"/dev/shm/cimtrain.{self.window}").unlink(missing_ok=True)
        for fd in ("m1", "m2", "s2", "_s1"):
            if hasattr(self, fd):
                os.close(getattr(self, fd))
                delattr(self, fd)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cimtrain.vboard",
                                 description=__doc__.splitlines()[0])
    e = os.environ.get
    ap.add_argument("--board", default=e("BOARD") or "virtual",
                    help="board configuration (host_tools/cimtrain/boards.py; a virtual one)")
    ap.add_argument("--backend", default=e("BACKEND") or "model", choices=["model", "rtl"],
                    help="what serves the macro: the bit-exact model or the RTL (SIM=...)")
    ap.add_argument("--dir", type=Path, default=None,
                    help="the board's filesystem (default build/vboard-<board>)")
    ap.add_argument("--status", type=Path, default=e("VBOARD_STATUS") or None,
                    help="keep a JSON status file (default $VBOARD_STATUS)")
    a = ap.parse_args(argv)
    board = boards.get(a.board)
    if not board.virtual:
        ap.error(f"board {board.name!r} is not a virtual board; choose one of "
                 + ", ".join(b.name for b in boards.BOARDS.values() if b.virtual))
    fs = (a.dir or ROOT / "build" / f"vboard-{board.name}").resolve()
    vb = VirtualBoard(board, fs, a.backend, a.status)

    def stop(signum, _frame):
        raise KeyboardInterrupt

    # SIGINT too: a shell starts a background job with SIGINT ignored, and Python then
    # leaves it so; the board must stop on Ctrl-C however it was started
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        vb.run()
    except KeyboardInterrupt:
        _log("stopped")
        vb._status("done")
        return 0
    except BoardFailed as ex:
        _log(str(ex))
        vb._status("failed", error=str(ex))
        return 1
    vb._status("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
