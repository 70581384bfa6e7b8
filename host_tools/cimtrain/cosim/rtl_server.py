"""The RTL server: cim_macro in the simulator (cocotb) serving a bridge window.

    python -m cimtrain.cosim.rtl_server --window demo [--preset seed-chip] [--trace F]
    python -m cimtrain.bridge.launch --window demo --wait 60 firmware/entry.py ...

Builds the testbench top cim_tb_top (cim_tb_top.v: cim_macro, clock, transactor,
recorder) once per preset (sim.py), then runs the cocotb module serve.py in the
simulator, which creates the window and serves the firmware.  ``--trace FILE`` records
every transaction (docs/bridge.md, "Transaction traces").  ``--status FILE`` keeps a JSON
status file up to date (bridge/status.py: ready, each session's exit status and
counts, done or failed).  SIM (icarus, verilator) and WAVES from the environment.

Exit status 0 when every session ended with the firmware detaching and the scoreboard
clean, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .. import regs
from ..bridge import status as S
from ..lifetime import ENV as LIFETIME_ENV
from ..lifetime import die_with_parent
from .sim import Sim, env_flag

MODULE = "cimtrain.cosim.serve"     # the cocotb module run in the simulator


def main(argv: list[str] | None = None) -> int:
    die_with_parent()   # a killed make cosim takes its server with it ...
    ap = argparse.ArgumentParser(prog="python -m cimtrain.cosim.rtl_server",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--window", default=os.environ.get("CIMTRAIN_WINDOW"))
    ap.add_argument("--preset", default="default", choices=sorted(regs.PRESETS))
    ap.add_argument("--sessions", type=int, default=1)
    ap.add_argument("--attach-timeout", type=float, default=60.0, metavar="S")
    ap.add_argument("--trace", type=Path, metavar="FILE",
                    help="record every transaction to FILE (binary, docs/bridge.md)")
    ap.add_argument("--ckpt", type=Path, metavar="DIR",
                    help="answer the firmware's SIM_SNAPSHOT: chip images into DIR "
                         "(docs/checkpoint.md)")
    ap.add_argument("--resume-image", type=Path, metavar="FILE",
                    help="start from a checkpoint's chip image (its OP_COUNT too)")
    ap.add_argument("--status", type=Path, metavar="FILE",
                    help="keep a JSON status file (bridge/status.py)")
    ap.add_argument("--waves", action="store_true",
                    help="dump a waveform into the build directory (also WAVES=1)")
    args = ap.parse_args(argv)
    if not args.window:
        ap.error("--window is required (or set CIMTRAIN_WINDOW)")
    status = S.StatusFile(args.status, "rtl", args.window, args.preset) if args.status else None
    sim = Sim("cim_tb_top", args.preset, waves=args.waves or env_flag("WAVES"))
    env = {"CIMTRAIN_WINDOW": args.window, "CIMTRAIN_SESSIONS": str(args.sessions),
           "CIMTRAIN_ATTACH_TIMEOUT": str(args.attach_timeout), "CIMTRAIN_PRESET": args.preset}
    # ... and this server its simulator (serve.py).  In os.environ, not env: the cocotb
    # runner lets the environment override its extra_env.
    os.environ[LIFETIME_ENV] = str(os.getpid())
    if args.trace:
        env["CIMTRAIN_TRACE"] = str(args.trace.resolve())
    if status is not None:
        env["CIMTRAIN_STATUS"] = str(status.path)
    if args.ckpt:
        env["CIMTRAIN_CKPT"] = str(args.ckpt.resolve())
    if args.resume_image:
        env["CIMTRAIN_RESUME_IMAGE"] = str(args.resume_image.resolve())
    try:
        n, failed = sim.run(MODULE, env=env, results=f"results_{args.window}")
    except (Exception, SystemExit) as e:   # the build failed (the runner exits on errors)
        if status is not None:
            status.finish(1, f"rtl server: the simulation did not run: {e}")
        raise
    rc = int(n == 0 or failed != 0)
    if status is not None:
        status.finish(rc, None if rc == 0 else "rtl server: the simulation failed "
                      "(its log is on the server's output)")
    return rc


if __name__ == "__main__":
    sys.exit(main())
