# glimmer: `make demo` runs the main job end to end, `make test` runs every check.
# Both create and use .venv themselves. torch is pinned to the CPU build (2.13.0) first, so
# pip never pulls a multi-GB CUDA build; bring your own torch for ROCm/CUDA (see README).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_SPEC ?= torch==2.13.0
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false
export NO_MKDOCS_2_WARNING := 1

.PHONY: all venv test lint typecheck pytest docs demo bench clean

all: test

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH_SPEC)"
	$(PIP) install --quiet -e ".[train,dev]"
	touch $@

venv: $(VENV)/.installed

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples

typecheck: venv
	$(VENV)/bin/mypy

pytest: venv
	$(VENV)/bin/pytest -q

docs: venv
	$(VENV)/bin/mkdocs build --strict --quiet --site-dir site

test: lint typecheck pytest docs

demo: venv
	$(PY) examples/demo.py

bench: venv
	$(PY) benchmarks/parse.py

clean:
	rm -rf $(VENV) site demo-output .pytest_cache .mypy_cache .ruff_cache .hypothesis
