# Two commands set everything up on a fresh clone: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-deps lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check "uv>=0.13.9,<0.14"
	$(VENV)/bin/uv pip install --quiet --python $(PY) -e '.[dev]'
	touch $(STAMP)

run: install
	$(VENV)/bin/scriptman db upgrade
	$(VENV)/bin/scriptman serve

lint: install
	$(VENV)/bin/ruff check backend tests
	$(VENV)/bin/ruff format --check backend tests

# Debian packages the suite needs: bubblewrap for the sandbox tests (skipped only when the
# kernel refuses namespaces, never because the package is missing). Installed when absent.
test-deps:
	@command -v bwrap >/dev/null 2>&1 || { \
	  echo "installing bubblewrap (Debian package)"; \
	  { apt-get install -y -qq bubblewrap >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq bubblewrap; }; }; }

test: install test-deps
	$(VENV)/bin/ruff check backend tests
	$(VENV)/bin/python -m pytest -q

bench: install
	$(VENV)/bin/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
