# Two commands for a newcomer: `make run` (set up and serve on SQLite) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test setup vendor db seed test-pg lint format clean

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing dependencies into $(VENV)..."
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

vendor:
	@./scripts/vendor-htmx.sh
	@./scripts/vendor-chartjs.sh
	@./scripts/vendor-htmx-sse.sh

setup: $(BIN)/.installed vendor

# The embedded default is a developer machine: PORTAL_ENV=development (a fixed secret key is allowed there only).
DEV := PORTAL_ENV=development

db: setup
	@$(DEV) $(BIN)/flask --app wsgi db upgrade heads

seed: db
	@$(DEV) $(BIN)/flask --app wsgi demo seed
	@$(DEV) $(BIN)/flask --app wsgi search rebuild

run: seed
	@echo "Serving the portal on http://$(HOST):$(PORT)  (demo password: demo-pass-2026)"
	@$(DEV) $(BIN)/flask --app wsgi run --host $(HOST) --port $(PORT)

# Parallel workers (pytest-xdist); TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

test: setup
	@$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# The same suite against PostgreSQL (a fresh database on the local server); .ci/run does this too.
test-pg: setup
	@./scripts/test-postgres.sh

# Style: ruff lint (rule set in pyproject.toml) and ruff format, both must be clean.
lint: setup
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .

format: setup
	@$(BIN)/ruff check --fix .
	@$(BIN)/ruff format .

clean:
	rm -rf $(VENV) portal/static/vendor tests/browser/vendor .pytest_cache
