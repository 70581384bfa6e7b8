"""The one way to build cim_macro for a simulator and run cocotb modules on it (cocotb 2.x
Python runner).  Used by the macro's cocotb tests (tests/test_cim_macro.py), the RTL
server (rtl_server.py), the RTL replay (bridge/replay.py --rtl) and the benchmarks
(cimtrain.bench, bridge/bench.py --floor).

    s = Sim("cim_tb_top", "seed-chip")          # simulator and waves: SIM, WAVES
    n, failed = s.run("cimtrain.cosim.serve", env={"CIMTRAIN_WINDOW": "demo"})

Tops (``TOPS``): ``cim_macro``, the macro alone, its bus driven from Python (tb.CimTb);
``cim_tb_top`` (cim_tb_top.v), the macro with an HDL clock, transactor and recorder
(tb.XactTb, the RTL server's top).

Build directory: ``sim_build/<top>_<sim>_<preset>[_waves]/``, one per build
configuration, so a waveform run never reuses a build made without the dump (and a
normal run never pays for one).  The simulation runs in that directory too: the
waveform is ``<top>.fst`` there (Icarus) or ``dump.vcd`` (Verilator).  A build is redone
when any of its inputs changed: the content of a source or of an include file, the
parameters, the flags, the cocotb version (hashed into ``.inputs`` in the build
directory; the runner alone compares source mtimes and never looks at includes).  Builds
of one directory are serialized by a file lock (a server and a test starting together).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .. import regs
from ..paths import ROOT
from ..paths import RTL as RTL_DIR

HERE = Path(__file__).resolve().parent

BUILD_ROOT = ROOT / "sim_build"
SIMULATORS = ("icarus", "verilator")
TIMESCALE = ("1ns", "1ps")


def rtl_sources() -> list[Path]:
    """The macro's HDL sources (one module per file): the one list of them for simulation."""
    return sorted([*RTL_DIR.glob("*.v"), *RTL_DIR.glob("*.sv")])


@dataclass(frozen=True)
class Top:
    """An HDL top: its sources beyond the macro's, and simulator flags it needs."""
    extra_sources: tuple[Path, ...] = ()
    includes: tuple[Path, ...] = ()
    verilator_args: tuple[str, ...] = ()


TOPS = {
    "cim_macro": Top(),
    # the HDL clock (`always #`) needs --timing; its multi-driven transactor registers
    # (starter and player, never on the same edge: cim_tb_top.v) warn
    "cim_tb_top": Top(extra_sources=(HERE / "cim_tb_top.v",), includes=(HERE,),
                      verilator_args=("--timing", "-Wno-fatal")),
}


def env_flag(name: str) -> bool:
    """An environment switch: unset, empty, 0, no, false and off are False."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "no", "false", "off")


@dataclass
class Sim:
    """One build configuration of ``top`` for ``preset`` on ``sim``, built on first use."""

    top: str
    preset: str = "default"
    sim: str = field(default_factory=lambda: os.environ.get("SIM", "icarus"))
    waves: bool = field(default_factory=lambda: env_flag("WAVES"))

    def __post_init__(self) -> None:
        if self.top not in TOPS:
            raise ValueError(f"unknown top {self.top!r}; choose from {sorted(TOPS)}")
        if self.preset not in regs.PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}")
        if self.sim not in SIMULATORS:
            raise ValueError(f"SIM={self.sim!r}: choose from {', '.join(SIMULATORS)}")
        self._runner = None
        self.failures: list[str] = []  # "test: message" of each failed test of the last run

    @property
    def build_dir(self) -> Path:
        return BUILD_ROOT / (f"{self.top}_{self.sim}_{self.preset}"
                             + ("_waves" if self.waves else ""))

    @property
    def waves_file(self) -> Path | None:
        """Where a waveform run leaves its dump."""
        if not self.waves:
            return None
        return self.build_dir / (f"{self.top}.fst" if self.sim == "icarus" else "dump.vcd")

    # -- build -------------------------------------------------------------------------
    def _config(self) -> dict:
        t = TOPS[self.top]
        p = regs.PRESETS[self.preset]
        return {
            "sources": [*rtl_sources(), *t.extra_sources],
            "includes": [RTL_DIR, *t.includes],
            "parameters": {"NTiles": p["NTILES"], "Rows": p["ROWS"], "Cols": p["COLS"]},
            "build_args": ["-g2012"] if self.sim == "icarus" else list(t.verilator_args),
        }

    def inputs_digest(self) -> str:
        """Hash of everything the build depends on (see the module docstring)."""
        import cocotb

        cfg = self._config()
        h = hashlib.sha256()
        files = [*cfg["sources"]]
        for d in cfg["includes"]:
            files += sorted(p for p in Path(d).iterdir() if p.suffix in (".vh", ".svh"))
        for f in files:
            h.update(str(f).encode() + b"\0" + f.read_bytes() + b"\0")
        h.update(json.dumps({"top": self.top, "sim": self.sim, "waves": self.waves,
                             "parameters": cfg["parameters"], "args": cfg["build_args"],
                             "timescale": TIMESCALE, "cocotb": cocotb.__version__},
                            sort_keys=True).encode())
        return h.hexdigest()

    def build(self):
        """The cocotb runner with this configuration built (rebuilt if an input changed)."""
        if self._runner is not None:
            return self._runner
        from cocotb_tools.runner import get_runner

        cfg = self._config()
        bd = self.build_dir
        bd.mkdir(parents=True, exist_ok=True)
        runner = get_runner(self.sim)
        with open(bd / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            stamp = bd / ".inputs"
            digest = self.inputs_digest()
            stale = not stamp.exists() or stamp.read_text() != digest
            runner.build(sources=cfg["sources"], includes=cfg["includes"],
                         hdl_toplevel=self.top, parameters=cfg["parameters"], build_dir=bd,
                         build_args=cfg["build_args"], timescale=TIMESCALE,
                         waves=self.waves, always=stale)
            stamp.write_text(digest)
        self._runner = runner
        return runner

    # -- run ---------------------------------------------------------------------------
    def run(self, module: str, testcase: list[str] | None = None, env: dict | None = None,
            seed: int | None = None, path: list[Path] | None = None,
            results: str = "results") -> tuple[int, int]:
        """Run the cocotb module ``module`` (a dotted name importable in the simulator's
        Python: this process's ``sys.path``, with ``path`` in front) in the build
        directory; returns (tests run, tests failed).  ``results``: name of the JUnit XML
        in the build directory (distinct names for runs that may overlap)."""
        from cocotb_tools.runner import get_results

        runner = self.build()
        xml = self.build_dir / f"{results}.xml"
        # the runner gives the simulator's Python this process's sys.path as PYTHONPATH
        # (after extra_env, so that cannot set it)
        saved = sys.path[:]
        sys.path[:0] = [str(p) for p in path or ()]
        try:
            runner.test(hdl_toplevel=self.top, test_module=module, testcase=testcase,
                        test_dir=self.build_dir, seed=seed, waves=self.waves,
                        extra_env=env or {}, results_xml=str(xml))
        except SystemExit as e:
            # Under pytest the runner ends a run with a failed test by sys.exit(1), which
            # pytest shows as a bare "SystemExit: 1"; read the results to say which failed.
            if not xml.exists():
                raise RuntimeError(f"{self.sim} exited with status {e.code} before writing "
                                   f"{xml} (simulator log above)") from None
        finally:
            sys.path[:] = saved
        self.failures = failures(xml)
        return get_results(xml)


def failures(xml: Path) -> list[str]:
    """``"module.test: message"`` for every failed test case of a cocotb results file."""
    import xml.etree.ElementTree as ET

    out = []
    for case in ET.parse(xml).getroot().iter("testcase"):
        for bad in (*case.iter("failure"), *case.iter("error")):
            msg = bad.get("message") or (bad.text or "").strip().splitlines()[-1:] or "failed"
            kind = bad.get("type")
            out.append(f"{case.get('classname')}.{case.get('name')}: "
                       + (f"{kind}: " if kind else "") + "".join(msg))
    return out
