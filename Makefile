# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# Offline-friendly defaults for every tool we run (telemetry of Olive/onnxruntime, no hub).
export ORT_DISABLE_TELEMETRY := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: run test test-fast lint bench screenshots clean

$(PY):
	$(PYTHON) -c 'import sys; sys.exit("Python >= 3.10 is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 10) else None'
	$(PYTHON) -m venv $(VENV)

# The CPU build of torch first: a plain torch requirement would pull a multi-GB CUDA build.
$(VENV)/.stamp-torch: | $(PY)
	$(PIP) install -q torch==2.13.0
	touch $@

# Bytecode compiled once, as pip does for an installed wheel (an editable install leaves it to
# the first import, which PYTHONDONTWRITEBYTECODE turns off: every start would compile again).
$(VENV)/.stamp-all: pyproject.toml $(VENV)/.stamp-torch
	$(PIP) install -q -e '.[all]'
	$(PY) -m compileall -q core tui cli
	touch $@

$(VENV)/.stamp-dev: pyproject.toml $(VENV)/.stamp-all
	$(PIP) install -q -e '.[all,dev]'
	touch $@

run: $(VENV)/.stamp-all
	$(VENV)/bin/slm-wizard

lint: $(VENV)/.stamp-dev
	$(VENV)/bin/ruff check core tui cli tests bench
	$(VENV)/bin/lint-imports

test: lint
	$(PY) -m pytest

# The fast subset (under a minute on 2 cores): every test not marked slow; a test that trains or
# converts the demo (demo_model, demo_onnx) is marked slow by tests/conftest.py.
test-fast: lint
	$(PY) -m pytest -m "not slow"

bench: $(VENV)/.stamp-dev
	$(PY) -m bench

screenshots: $(VENV)/.stamp-dev
	$(PY) -m slm_wizard.tui.screenshots screenshots

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
