"""make board + make flash: the board flow on the virtual board, through mpremote.

* `make board` prints ``PORT=<pty>`` first; `make flash ... RUN=1` (the real target:
  mpremote over that PTY) copies exactly the firmware, board_cfg.py and MNIST subset the
  test builds independently (compared twice: the files in the board's folder, and the
  SHA-256 the flash read back over mpremote), and trains; its RESULT equals the same
  short training run by make cosim's path on the model (digests of predictions,
  accumulators and conductances: the board runs the same firmware on the same macro).
* Ctrl-C stops the board: no process and no /dev/shm window of it is left.
* Clear errors: no such port, the configuration of another board (heap, macro preset).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path

import pytest

from cimtrain import boards, dataset, flash, fwbuild
from cimtrain.cosim_main import COSIM_OPTIONS

ROOT = Path(__file__).resolve().parents[1]
BOARD = boards.BOARDS["virtual-seed"]
IMAGES = (16, 8)
RUN_ARGS = ["n_train=4", "n_test=4", "batch=2", "n_calib=1", "digest=1", "seed=3", "init_iters=1",
            "lr=-12", "n_min=1", "progress=2"]
DIGESTS = ("pred_digest", "acc_digest", "g_digest", "test_correct", "weight_updates",
           "images_trained", "pulses", "fshift")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for this purpose (its parent reaps it)
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture(scope="module")
def vboard(tmp_path_factory):
    """`make board BOARD=virtual-seed`, in a session of its own; stopped with Ctrl-C."""
    d = tmp_path_factory.mktemp("vboard")
    status = d / "status.json"
    env = dict(os.environ, BOARD=BOARD.name, BOARD_DIR=str(d / "fs"))
    env.pop("MAKEFLAGS", None)
    proc = subprocess.Popen(["make", "-s", "board", f"BOARD_DIR={d / 'fs'}"], cwd=ROOT,
                            env=dict(env, VBOARD_STATUS=str(status)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    first = proc.stdout.readline()
    deadline = time.monotonic() + 60
    st = {}
    while time.monotonic() < deadline and st.get("state") != "ready":
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.1)
        st = json.loads(status.read_text()) if status.exists() else {}
    assert st.get("state") == "ready", st
    yield {"port": st["port"], "first": first, "dir": d / "fs", "status": status,
           "proc": proc}
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(30)


def make_flash(port: str, board: str, *extra: str, timeout: float = 300,
               **env) -> subprocess.CompletedProcess:
    e = dict(os.environ, **env)
    e.pop("MAKEFLAGS", None)
    return subprocess.run(["make", "-s", "flash", f"PORT={port}", f"BOARD={board}", *extra],
                          cwd=ROOT, env=e, capture_output=True, text=True, timeout=timeout)


def expected_files(tmp: Path) -> dict[str, bytes]:
    """What the board must hold, built here: mpy-cross of each module (with its source
    name and the host's -march, the unix port's), main.py, the board's board_cfg.py, and
    the first IMAGES of each MNIST split."""
    # the manifest's modules with the virtual board's HAL transport, written out here
    mods = {"cim_regs", "hal", "hal_ring", "board", "cim", "fixedpoint", "loops",
            "fastloops", "network", "update", "stuck", "mnist", "ckpt", "digest", "train"}
    assert fwbuild.board_modules("ring") == mods
    out = fwbuild.build(tmp / "fw", march=fwbuild.host_march(), only=mods, source_names=True)
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(files) == sorted([m + ".mpy" for m in mods] + ["main.py"])
    files["board_cfg.py"] = boards.render(BOARD).encode()
    for split, n in zip(("train", "test"), IMAGES):
        files[f"data/{split}.bin"] = dataset.pack(split, count=n,
                                                  out=tmp / f"{split}.bin").read_bytes()
    return files


def test_flash_and_train_on_the_virtual_board(vboard, tmp_path):
    port = vboard["port"]
    assert vboard["first"] == f"PORT={port}\n", vboard["first"]
    summary = tmp_path / "flash.json"
    # the independent expectation, run meanwhile: the same training through make cosim's
    # path on the model (the same firmware on the same macro must end the same)
    ref_json = tmp_path / "cosim.json"
    cosim = subprocess.Popen([sys.executable, "-m", "cimtrain.cosim_main", "--backend",
                              "model", "--preset", BOARD.preset, "--n-train", "4",
                              "--n-test", "4", "--seed", "3", "--out", str(ref_json),
                              "--results", str(tmp_path / "results"),  # not the user's
                              *RUN_ARGS], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    t0 = time.monotonic()
    try:
        check_flash_and_train(vboard, tmp_path, summary, cosim, ref_json, t0)
    finally:   # no process outlives the test
        if cosim.poll() is None:
            cosim.kill()
            cosim.communicate()


def check_flash_and_train(vboard, tmp_path, summary, cosim, ref_json, t0) -> None:
    # make cosim puts its COSIM_OPTIONS before RUN_ARGS: the board gets the same list
    r = make_flash(vboard["port"], BOARD.name, f"IMAGES={IMAGES[0]},{IMAGES[1]}", "RUN=1",
                   f"RUN_ARGS={' '.join((*COSIM_OPTIONS, *RUN_ARGS))}",
                   FLASH_JSON=str(summary))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    print(f"make flash RUN=1: {time.monotonic() - t0:.1f} s")
    got = json.loads(summary.read_text())
    want = expected_files(tmp_path)
    # the board's filesystem holds exactly these files, byte for byte ...
    fs = vboard["dir"]
    on_board = {str(p.relative_to(fs)): p.read_bytes() for p in fs.rglob("*") if p.is_file()}
    assert sorted(on_board) == sorted(want)
    for name, data in want.items():
        assert on_board[name] == data, f"{name} differs on the board"
    # ... and what the flash read back over mpremote is their SHA-256
    assert got["digests"] == {n: hashlib.sha256(d).hexdigest() for n, d in want.items()}
    assert got["march"] == fwbuild.host_march()

    res = got["result"]
    assert res is not None and "RESULT " in r.stdout and "epoch 1  4/4 images" in r.stdout
    print(f"flash {got['flash_s']} s (copy {got['copy_s']} s); on the board: init "
          f"{res['init_ms']} ms, calibration {res['calib_ms']} ms, training "
          f"{res['train_ms']} ms, test {res['test_ms']} ms")
    out, _ = cosim.communicate(timeout=300)
    assert cosim.returncode == 0, out[-3000:]
    ref = json.loads(ref_json.read_text())
    print(f"make cosim's run: {ref['wall_s']} s; init {ref['init_ms']} ms, calibration "
          f"{ref['calib_ms']} ms, training {ref['train_ms']} ms, test {ref['test_ms']} ms")
    assert res["weight_updates"] > 0, "the short run must program some weights"
    assert {k: res[k] for k in DIGESTS} == {k: ref[k] for k in DIGESTS}


def test_wrong_board_configuration_is_named(vboard, monkeypatch):
    port = vboard["port"]
    # the virtual board's configuration on the seed board: a heap it does not have
    r = make_flash(port, "virtual", "IMAGES=1,1")
    assert r.returncode == 2
    # (the port reports its heap less the 2 KiB it takes before the firmware runs)
    assert "wrong board configuration 'virtual': HEAP 256 KiB, but the board's " \
           f"MicroPython has {BOARD.heap // 1024 - 2} KiB" in r.stderr, r.stderr
    # a configuration of another preset (LeNet-5's 8 tiles) on the 4-tile macro: copied,
    # then board.check() on the board names both (the heap check let through here)
    other = dataclasses.replace(boards.BOARDS["virtual"], name="other-preset",
                                heap=BOARD.heap, images=(1, 1))
    monkeypatch.setitem(boards.HEAP_NEED, ("lenet5", 16), 0)
    with pytest.raises(flash.FlashError, match=r"^wrong board configuration: board_cfg.py "
                       r"'other-preset': preset default \(8 tiles of 256 x 64\) but the macro "
                       r"at 0x40000000 has 4 tiles of 64 x 64"):
        flash.flash(port, other)
    assert "NAME = 'other-preset'" in (vboard["dir"] / "board_cfg.py").read_text()


def test_board_answers_interrupts_and_resets_as_a_board(vboard):
    """Ctrl-C interrupts running code (mpremote sends it before its raw REPL); an exit of
    the program (sys.exit) is a soft reset, after which the board answers again."""
    port = vboard["port"]
    flash.mpremote(port, "exec", "--no-follow", "while True: pass", timeout=20)
    assert flash.mpremote(port, "exec", "print(6 * 7)", timeout=20).split() == ["42"]
    flash.mpremote(port, "exec", "import sys; sys.exit(3)", timeout=20)
    with pytest.raises(flash.FlashError, match="ZeroDivisionError"):
        flash.mpremote(port, "exec", "1 // 0", timeout=20)
    assert json.loads(vboard["status"].read_text())["state"] == "ready"


def test_no_such_port():
    r = make_flash("/dev/cimtrain-no-such-port", "virtual-seed")
    assert r.returncode == 2
    assert "no such port /dev/cimtrain-no-such-port" in r.stderr, r.stderr


def test_not_a_micropython_board(monkeypatch):
    """A serial device that answers, but not as MicroPython (here: it echoes).  On a PTY
    mpremote waits for the raw REPL's banner for ever (it reads a PTY without a timeout);
    the probe's own timeout names the cause."""
    monkeypatch.setattr(flash, "PROBE_TIMEOUT", 3)
    master, slave = pty.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    stop = threading.Event()

    def echo():
        while not stop.is_set():
            if select.select([master], [], [], 0.1)[0]:
                os.write(master, os.read(master, 1024))

    t = threading.Thread(target=echo, daemon=True)
    t.start()
    try:
        with pytest.raises(flash.FlashError, match="no answer within 3 s: not a MicroPython "
                           "board"):
            flash.probe(os.ttyname(slave))
    finally:
        stop.set()
        t.join(5)
        os.close(master)
        os.close(slave)


def test_out_of_space_is_named(tmp_path):
    f = tmp_path / "a.mpy"
    f.write_bytes(b"x" * 10000)
    assert flash.check_space([(f, "a.mpy")], 20000, {}) == 10000 + flash.FS_SLACK
    assert flash.check_space([(f, "a.mpy")], 20000, {"a.mpy": 9000}) == 1000
    with pytest.raises(flash.FlashError, match="board out of space: .* need 14 KiB more, "
                       "the board's filesystem has 10 KiB free"):
        flash.check_space([(f, "a.mpy")], 10240, {})


def test_board_stops_cleanly_on_ctrl_c(vboard):
    """Last in this module: Ctrl-C ends make board, its interpreter and its server, and
    the window leaves /dev/shm."""
    proc = vboard["proc"]
    st = json.loads(vboard["status"].read_text())
    pids = [st["pid"], st["server_pid"], st["interp_pid"]]
    assert all(_alive(p) for p in pids), st
    window = Path("/dev/shm") / f"cimtrain.{st['window']}"
    assert window.exists()
    os.killpg(proc.pid, signal.SIGINT)       # Ctrl-C in make board's terminal
    # make itself dies of the SIGINT, as on a terminal; the board reports its own stop
    assert proc.wait(30) in (0, -signal.SIGINT), proc.stderr.read()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)]
    assert not window.exists()
    assert json.loads(vboard["status"].read_text())["state"] == "done"


def test_firmware_reads_only_the_keys_boards_defines():
    """board_cfg keys: one source (boards.ON_BOARD); the firmware uses no other."""
    keys = {k for k, _ in boards.ON_BOARD}
    used = set()
    for src in (ROOT / "firmware").glob("*.py"):
        used |= set(re.findall(r"\bcfg\.([A-Z_]+)\b", src.read_text()))
    assert used and used <= keys, used - keys
    ns: dict = {}
    exec(boards.render(BOARD), ns)
    assert {k for k in ns if k.isupper()} == keys
    # the source tree's board_cfg.py is the soc template, rendered (make regs)
    assert boards.main(["--check"]) == 0
