#!/usr/bin/env bash
# Install what cimtrain needs on a fresh machine: Icarus Verilog and Verilator
# (Debian packages, when missing and we are root) and a virtualenv with the
# pinned Python dependencies.  Idempotent; `make` calls it through .venv/.stamp.
set -euo pipefail
cd "$(dirname "$0")/.."

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
# Put host_tools/ on the venv's path (the `cimtrain` package) without a build step.
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$PWD/host_tools" > "$site/cimtrain-host-tools.pth"
touch .venv/.stamp
echo "bootstrap: ready ($(iverilog -V 2>/dev/null | head -1))"
