# Two commands set everything up on a fresh clone: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint bench clean

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

test: install
	$(VENV)/bin/ruff check backend tests
	$(VENV)/bin/python -m pytest -q

bench: install
	$(VENV)/bin/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
