# Two commands do all set-up on a fresh machine: `make run` and `make test`.
# Each target calls dev.py (standard library only), which does the same on macOS and Windows
# without make: `python dev.py run`, `python dev.py test`, ... (`python dev.py --help`).
PYTHON ?= python3
VENV ?= .venv
DEV := $(PYTHON) dev.py

.PHONY: run test test-fast lint bench screenshots clean

run:
	$(DEV) run

test:
	$(DEV) test

# The fast subset (under a minute on 2 cores, in 4 pytest-xdist workers): every test not marked
# slow; a test that trains or converts the demo (demo_model, demo_onnx) is marked slow by
# tests/conftest.py.
test-fast:
	$(DEV) test-fast

lint:
	$(DEV) lint

bench:
	$(DEV) bench

screenshots:
	$(DEV) screenshots

clean:
	$(DEV) clean

# The environment alone: with the extras (`make .venv/.stamp-all`), and the dev tools.
$(VENV)/.stamp-all: pyproject.toml
	$(DEV) setup

$(VENV)/.stamp-dev: pyproject.toml
	$(DEV) dev
