"""The virtual-board launcher: start-up errors are clear and exit with EXIT_LAUNCH; the
firmware's exit status passes through; a late posted-write error is not lost."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from cimtrain import regs
from cimtrain.bridge import protocol as P
from cimtrain.bridge.harness import (
    ROOT,
    launch_cmd,
    run_firmware,
    serve_in_thread,
    unique_name,
)
from cimtrain.bridge.window import ServerWindow
from cimtrain.model import CimMacro


def _fw(tmp_path: Path, text: str, name: str = "fw.py") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_no_server(tmp_path):
    name = unique_name("absent")
    t0 = time.monotonic()
    proc = run_firmware(name, _fw(tmp_path, "import hal\n"), launcher_args=["--wait", "0.3"])
    assert proc.returncode == P.EXIT_LAUNCH
    assert time.monotonic() - t0 < 5
    assert f"no bridge window '{name}'" in proc.stderr
    assert f"python -m cimtrain.bridge.model_server --window {name}" in proc.stderr


def test_address_taken(tmp_path):
    """Something already occupies the macro's base address in the firmware process."""
    srv = ServerWindow(unique_name("taken"))
    code = (
        "import ctypes, sys\n"
        "libc = ctypes.CDLL(None)\n"
        "libc.mmap.restype = ctypes.c_void_p\n"
        "libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,"
        " ctypes.c_int, ctypes.c_long]\n"
        f"assert libc.mmap({regs.BASE_ADDRESS}, 4096, 3, 0x22 | 0x100000, -1, 0) == "
        f"{regs.BASE_ADDRESS}\n"
        "from cimtrain.bridge.launch import main\n"
        f"sys.exit(main(['--window', {srv.name!r}, {str(_fw(tmp_path, 'import hal'))!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)
    srv.close()
    assert proc.returncode == P.EXIT_LAUNCH, proc.stderr
    assert "address 0x40000000..0x4000b000 is already mapped in this process" in proc.stderr


def test_version_mismatch(tmp_path):
    srv = ServerWindow(unique_name("ver"), version=0x00020003)
    proc = run_firmware(srv.name, _fw(tmp_path, "import hal\n"))
    srv.close()
    assert proc.returncode == P.EXIT_LAUNCH
    assert "bridge protocol version mismatch" in proc.stderr
    mine = f"{P.VERSION >> 16}.{P.VERSION & 0xFFFF}"
    assert "speaks 2.3" in proc.stderr and f"this side speaks {mine}" in proc.stderr


def test_two_firmwares_on_one_window(tmp_path):
    flag = tmp_path / "release"
    first = _fw(tmp_path, f"""
import os, hal
from cim_regs import *
print("RUNNING")
while True:
    try:
        os.stat({str(flag)!r})
        break
    except OSError:
        hal.rd32(R_SEED)
print("RESULT first done")
""", "first.py")
    with serve_in_thread(unique_name("two"), CimMacro("seed-chip")) as srv:
        one = subprocess.Popen(launch_cmd(srv.name, first), cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        assert one.stdout.readline().strip() == "RUNNING"
        two = run_firmware(srv.name, _fw(tmp_path, "import hal\n", "second.py"))
        flag.write_text("")
        out, err = one.communicate(timeout=30)
    assert two.returncode == P.EXIT_LAUNCH
    assert f"already has a firmware attached (pid {one.pid}); one firmware per window" \
        in two.stderr
    assert one.returncode == 0 and "RESULT first done" in out, err
    assert srv.exits == [0]


def test_exit_status_and_late_write_error(tmp_path):
    with serve_in_thread(unique_name("exit"), CimMacro("seed-chip"), sessions=3) as srv:
        ok = run_firmware(srv.name, _fw(tmp_path, "import sys, hal\nsys.exit(5)\n", "a.py"))
        late = run_firmware(srv.name, _fw(tmp_path, (
            "import hal\nfrom cim_regs import *\nhal.wr32(R_HWCFG, 1)  # posted, never checked\n"
        ), "b.py"))
        missing = run_firmware(srv.name, tmp_path / "nope.py", launcher_args=["--wait", "0"])
        heap = run_firmware(srv.name, _fw(tmp_path, (
            "import gc, hal\nprint('RESULT', gc.mem_free() + gc.mem_alloc())\n"), "c.py"),
            launcher_args=["--heap", "3M"])
    assert ok.returncode == 5, ok.stderr
    assert late.returncode == P.EXIT_FLUSH
    assert "bus error: write 0x0008 -> SLVERR" in late.stderr
    assert "a posted write failed after the firmware's last check" in late.stderr
    assert missing.returncode == P.EXIT_LAUNCH and "no firmware entry script" in missing.stderr
    assert heap.returncode == 0 and 3 << 20 >= int(heap.stdout.split()[-1]) > 3_000_000
    assert srv.exits == [5, 0, 0]
