# Two commands set everything up on a fresh clone: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
NPM ?= npm
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
FRONTEND := frontend
FRONTEND_DEPS := $(FRONTEND)/node_modules/.installed-stamp
FRONTEND_BUILD := $(FRONTEND)/dist/index.html
FRONTEND_SRC := $(shell find $(FRONTEND)/src $(FRONTEND)/public -type f 2>/dev/null) \
	$(FRONTEND)/index.html $(FRONTEND)/vite.config.ts $(FRONTEND)/package-lock.json
CHROMIUM ?= /usr/bin/chromium

.PHONY: install frontend api-types run test test-postgres test-deps lint bench bench-ui screenshots clean

install: $(STAMP) frontend

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check "uv>=0.13.9,<0.14"
	$(VENV)/bin/uv pip install --quiet --python $(PY) -e '.[dev,postgres,celery]'
	touch $(STAMP)

# The web app: npm packages from the lock file, then a build when a source is newer than it.
frontend: $(FRONTEND_BUILD)

$(FRONTEND_DEPS): $(FRONTEND)/package-lock.json $(FRONTEND)/package.json
	@command -v $(NPM) >/dev/null || { echo "Node.js 20.19+ and npm are needed for the web app"; exit 1; }
	cd $(FRONTEND) && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

$(FRONTEND_BUILD): $(FRONTEND_DEPS) $(FRONTEND_SRC)
	cd $(FRONTEND) && $(NPM) run --silent build
	touch $@

# The API contract the web app is typed against: the backend's OpenAPI document (no server needed)
# and the TypeScript generated from it. Both are committed; `make test` fails when they are stale.
api-types: $(STAMP) $(FRONTEND_DEPS)
	$(PY) $(FRONTEND)/scripts/dump_openapi.py > $(FRONTEND)/openapi.json.tmp || { rm -f $(FRONTEND)/openapi.json.tmp; exit 1; }
	mv $(FRONTEND)/openapi.json.tmp $(FRONTEND)/openapi.json
	cd $(FRONTEND) && $(NPM) run --silent api-types

run: install
	$(VENV)/bin/scriptman db upgrade
	$(VENV)/bin/scriptman serve

lint: install
	$(VENV)/bin/ruff check backend tests
	$(VENV)/bin/ruff format --check backend tests

# Debian packages the suite needs, installed when absent: bubblewrap for the sandbox tests
# (skipped only when the kernel refuses namespaces), chromium for the browser tests, and the
# PostgreSQL and Redis servers that the suite starts on loopback ports (tests/servers.py).
test-deps:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { \
	  echo "installing postgresql (Debian package)"; \
	  { apt-get install -y -qq postgresql >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; }; }; }
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (Debian package)"; \
	  { apt-get install -y -qq redis-server >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }; }; }
	@command -v bwrap >/dev/null 2>&1 || { \
	  echo "installing bubblewrap (Debian package)"; \
	  { apt-get install -y -qq bubblewrap >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq bubblewrap; }; }; }
	@test -x $(CHROMIUM) || { \
	  echo "installing chromium (Debian package)"; \
	  { apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; }; }

# The second pytest pass runs the database-touching suites again on a real PostgreSQL that
# tests.servers starts (temporary data folder, loopback port) and stops however the pass ends;
# every test home gets its own database there (tests/conftest.py). Left out, SQLite only: the
# browser tests, and the modules about processes, sandbox, cgroups, the launcher, workspace file
# races, installers and the CLI's own files (the database holds only the run's row there), the
# two that need none (layers, cron), and the Celery and leader-lock modules, which already run
# on a real PostgreSQL in the first pass.
PG_SQLITE_ONLY := tests/e2e tests/test_cgroups.py tests/test_containment.py tests/test_run_containment.py \
	tests/test_run_as_user.py tests/test_launcher.py tests/test_file_race.py tests/test_installs.py \
	tests/test_operations.py tests/test_layers.py tests/test_cron.py tests/test_leader_locks.py

test: install test-deps
	$(VENV)/bin/ruff check backend tests
	cd $(FRONTEND) && $(NPM) run --silent typecheck && $(NPM) run --silent lint && $(NPM) test --silent
	$(FRONTEND)/scripts/check-api-types.sh $(PY)
	SCRIPTMAN_CHROMIUM=$(CHROMIUM) $(VENV)/bin/python -m pytest -q
	$(MAKE) --no-print-directory test-postgres

# The PostgreSQL pass alone (`make test` runs it after the SQLite pass).
test-postgres: install test-deps
	$(PY) -m tests.servers postgres -- $(PY) -m pytest -q -p no:cacheprovider \
	  $(addprefix --ignore=,$(PG_SQLITE_ONLY)) --ignore-glob='tests/test_celery*.py' tests

# Re-takes the README's screenshots from a real browser session (the end-to-end tests).
screenshots: install test-deps
	SCRIPTMAN_CHROMIUM=$(CHROMIUM) SCRIPTMAN_SCREENSHOTS_DIR=docs/screenshots $(VENV)/bin/python -m pytest -q tests/e2e

bench: install
	$(VENV)/bin/python benchmarks/run.py
	$(VENV)/bin/python benchmarks/log_latency.py
	$(VENV)/bin/python benchmarks/sse_clients.py
	$(VENV)/bin/python benchmarks/big_output.py
	$(VENV)/bin/python benchmarks/api.py
	$(VENV)/bin/python benchmarks/deps.py
	$(VENV)/bin/python benchmarks/schedules.py

bench-ui: install test-deps
	SCRIPTMAN_CHROMIUM=$(CHROMIUM) $(VENV)/bin/python benchmarks/ui_log.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache $(FRONTEND)/node_modules $(FRONTEND)/dist
