"""Build and load the C window library (cffi, API mode), on first use.

``load()`` returns ``(ffi, lib)``.  cffi builds the extension from cbridge.c, its API
header cbridge.h (which is also the cdef: one list of the C functions) and
``cb_protocol.h``, the protocol constants generated from protocol.py as ``#define
CB_<NAME>``; ``FFI.compile`` runs the C compiler (through setuptools).  The build goes to
``build/bridge/<key>/`` under the repository (gitignored; ``CIMTRAIN_BUILD_DIR``
overrides), where ``key`` hashes everything the build reads (C source, header,
generated constants, flags, compiler, cffi and Python versions), so an edit rebuilds and
an unchanged tree reuses the cached build.  A file lock makes a server and a launcher
starting together build once.

    python -m cimtrain.bridge.build      # build now, print the path
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.machinery
import importlib.util
import io
import os
import shlex
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

import cffi

from ..paths import ROOT
from . import protocol

HERE = Path(__file__).resolve().parent

SOURCE = HERE / "cbridge.c"
HEADER = HERE / "cbridge.h"
MODULE = "_cimbridge"

CFLAGS = ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter",
          "-Werror=implicit-function-declaration"]
LIBS = ["rt", "pthread"]


def cdef() -> str:
    """cbridge.h without its preprocessor lines (cffi's parser reads declarations only)."""
    return "\n".join(ln for ln in HEADER.read_text().splitlines()
                     if not ln.lstrip().startswith("#"))


def protocol_header() -> str:
    lines = [f"#define CB_{k} {v}" for k, v in sorted(protocol.constants().items())]
    return ("/* generated from bridge/protocol.py by bridge/build.py: do not edit */\n"
            + "\n".join(lines) + "\n")


def _compiler() -> str:
    return (shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
            or ["cc"])[0]


def build_dir() -> Path:
    env = os.environ.get("CIMTRAIN_BUILD_DIR")
    return Path(env) if env else ROOT / "build" / "bridge"


def _key() -> str:
    h = hashlib.sha256()
    for part in (SOURCE.read_text(), HEADER.read_text(), protocol_header(),
                 " ".join([_compiler(), *CFLAGS, *LIBS]), cffi.__version__,
                 sysconfig.get_config_var("EXT_SUFFIX") or "", sys.version):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def build(verbose: bool = False) -> Path:
    """Compile the extension if the cache has no build of these sources; return its path."""
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    out_dir = build_dir() / _key()
    so = out_dir / (MODULE + suffix)
    if so.exists():
        return so
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if so.exists():
            return so
        (out_dir / "cb_protocol.h").write_text(protocol_header())
        ffib = cffi.FFI()
        ffib.cdef(cdef())
        ffib.set_source(MODULE, '#include "cbridge.h"', sources=[str(SOURCE)],
                        include_dirs=[str(HERE), str(out_dir)], extra_compile_args=CFLAGS,
                        libraries=LIBS)
        with tempfile.TemporaryDirectory(prefix="tmp", dir=out_dir) as tmp:
            log = io.StringIO()
            try:
                with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                    built = ffib.compile(tmpdir=tmp, verbose=verbose)
            except Exception as e:
                raise RuntimeError(f"building the bridge library failed: {e}\n"
                                   f"{log.getvalue()}") from None
            if verbose:
                print(log.getvalue(), file=sys.stderr)
            shutil.move(built, so.with_name(f".{MODULE}.{os.getpid()}{suffix}"))
            os.replace(so.with_name(f".{MODULE}.{os.getpid()}{suffix}"), so)
    return so


_loaded = None


def load():
    """(ffi, lib) of the window library, building it first if needed."""
    global _loaded
    if _loaded is None:
        so = build()
        spec = importlib.util.spec_from_file_location(MODULE, so)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _loaded = (mod.ffi, mod.lib)
    return _loaded


if __name__ == "__main__":
    print(build(verbose=True))
