"""Build and load the C window library (cffi, API mode), on first use.

``load()`` returns ``(ffi, lib)``.  The extension is built into ``build/bridge/<key>/``
under the repository (gitignored; ``CIMTRAIN_BUILD_DIR`` overrides), where ``key``
hashes the C source, the generated protocol constants, the cdef, the compiler and the
Python ABI, so an edit rebuilds and an unchanged tree reuses the cached build.  The
compile calls the C compiler directly (no setuptools), under a file lock so that a
server and a launcher starting together build once.

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
import subprocess
import sys
import sysconfig
from pathlib import Path

import cffi

from . import protocol

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
SOURCE = HERE / "cbridge.c"
MODULE = "_cimbridge"

CDEF = """
typedef struct cb_win cb_win;
cb_win *cb_new(void);
void cb_free(cb_win *w);
void cb_close(cb_win *w);
const char *cb_msg(cb_win *w);
const char *cb_alarm_msg(cb_win *w);
int cb_alarm(cb_win *w);
uint32_t cb_hdr(cb_win *w, uint32_t off);
void cb_hdr_set(cb_win *w, uint32_t off, uint32_t v);
uint32_t *cb_rdbuf(cb_win *w);
uintptr_t cb_base(cb_win *w);
const uint32_t *cb_err_info(cb_win *w);

int cb_server_create(cb_win *w, const char *name, uint32_t kind, uint32_t macro_base,
                     uint32_t macro_bytes, uint32_t version);
int cb_srv_wait_attach(cb_win *w, int timeout_ms);
int cb_srv_fetch(cb_win *w, uint32_t *out, uint32_t max_words, int timeout_ms);
void cb_srv_error(cb_win *w, uint32_t seq, uint32_t op, uint32_t addr, uint32_t resp);
void cb_srv_complete(cb_win *w, uint32_t seq, uint32_t status);
void cb_srv_reset_session(cb_win *w);
void cb_srv_fail(cb_win *w, const char *msg);

int cb_open(cb_win *w, const char *name, uintptr_t addr);
int cb_fw_attach(cb_win *w, int grace_ms);
int cb_fw_detach(cb_win *w, int exit_code, int timeout_ms);
int cb_fw_write(cb_win *w, uint32_t addr, const uint32_t *data, uint32_t n, int fixed,
                int timeout_ms);
int cb_fw_read(cb_win *w, uint32_t addr, uint32_t *out, uint32_t n, int fixed, int timeout_ms);
int cb_fw_wait_done(cb_win *w, uint32_t dev_timeout_ms, int timeout_ms);
int cb_fw_flush(cb_win *w, int timeout_ms);
int cb_fw_post_raw(cb_win *w, const uint32_t *words, uint32_t n);
"""

CFLAGS = ["-O2", "-std=gnu11", "-fPIC", "-Wall", "-Wextra", "-Wno-unused-parameter",
          "-Werror=implicit-function-declaration"]
LIBS = ["-lrt", "-lpthread"]


def _defines() -> str:
    lines = [f"#define CB_{k} {v}" for k, v in sorted(protocol.constants().items())]
    return "/* generated from bridge/protocol.py */\n" + "\n".join(lines) + "\n"


def _compiler() -> list[str]:
    return shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")[:1]


def build_dir() -> Path:
    env = os.environ.get("CIMTRAIN_BUILD_DIR")
    return Path(env) if env else ROOT / "build" / "bridge"


def _key(csrc: str) -> str:
    h = hashlib.sha256()
    for part in (csrc, CDEF, " ".join(_compiler() + CFLAGS + LIBS), cffi.__version__,
                 sysconfig.get_config_var("EXT_SUFFIX") or "", sys.version):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def build(verbose: bool = False) -> Path:
    """Compile the extension if the cache has no build of this source; return its path."""
    csrc = _defines() + SOURCE.read_text()
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    out_dir = build_dir() / _key(csrc)
    so = out_dir / (MODULE + suffix)
    if so.exists():
        return so
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if so.exists():
            return so
        ffib = cffi.FFI()
        ffib.cdef(CDEF)
        ffib.set_source(MODULE, csrc)
        c_file = out_dir / f"{MODULE}.c"
        with contextlib.redirect_stdout(io.StringIO()):   # cffi prints "generating ..."
            ffib.emit_c_code(str(c_file))
        tmp = out_dir / f".{MODULE}.{os.getpid()}{suffix}"
        cmd = [*_compiler(), *CFLAGS, "-shared", f"-I{sysconfig.get_paths()['include']}",
               str(c_file), "-o", str(tmp), *LIBS]
        if verbose:
            print(" ".join(cmd), file=sys.stderr)
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"building the bridge library failed:\n{' '.join(cmd)}\n"
                               f"{res.stdout}{res.stderr}")
        os.replace(tmp, so)
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
