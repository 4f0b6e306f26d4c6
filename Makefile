# Two commands on a fresh machine:
#   make run    set up .venv and run the whole workflow on the shipped data (results/)
#   make test   set up .venv (+ SLURM and Chromium from Debian when root) and run the tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
# Where torch comes from. Empty: the package index pip is configured with. A plain PyPI install of
# torch==2.13.0 on x86_64 Linux is the multi-GB CUDA build; for the CPU build name PyTorch's CPU
# index: make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=

.PHONY: setup run report test test-quick lint system-deps bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install -q torch==2.13.0 --index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	@# -qq: setuptools' notice about editable installs is for package authors, not users.
	$(BIN)/python -m pip install -qq --no-deps -e .
	touch $@

run: setup
	$(BIN)/snakemake --cores $(CORES)

report: run
	$(BIN)/snakemake --cores $(CORES) --report results/report.html

# Debian packages the tests use for real: a one-node SLURM and a headless browser. Skipped (and the
# tests that need them report why) when not root or without apt-get.
system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get install -y -q --no-install-recommends munge slurmctld slurmd slurm-client chromium >/dev/null 2>&1 \
	   || (apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends munge slurmctld slurmd slurm-client chromium >/dev/null)) \
	  && echo "system-deps: slurm and chromium installed"; \
	else echo "system-deps: not root or no apt-get; SLURM and browser tests will be skipped with a reason"; fi

test: setup system-deps
	$(BIN)/pytest -n 2 --dist loadgroup

test-quick: setup
	$(BIN)/pytest -n 2 --dist loadgroup -m "not slow and not slurm and not browser"

lint: setup
	$(BIN)/ruff check premirna tests benchmarks
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/snakemake --lint --cores 1

bench: setup
	$(BIN)/python benchmarks/bench_fold.py
	$(BIN)/python benchmarks/bench_encode.py

clean:
	rm -rf results/* .snakemake
