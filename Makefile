# Bangfu Ledger (帮扶链). `make run` sets up and runs everything; `make test` sets up and
# runs ruff, mypy and the tests. Both work from a clean clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_PY := $(VENV)/.installed
STAMP_NPM := node_modules/.installed
WEB_BUNDLE := api/web/static/dist/verify.js
WORKSPACE_BUNDLE := api/web/static/dist/workspace.js
DOCS_ASSETS := api/web/static/dist/swagger-ui/swagger-ui-bundle.js

.PHONY: setup system-deps run test lint typecheck pytest compile chain-up chain-down demo bench clean

setup: $(STAMP_PY) $(STAMP_NPM) $(WEB_BUNDLE) $(WORKSPACE_BUNDLE) $(DOCS_ASSETS)

$(STAMP_PY): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(STAMP_NPM): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# The portal's in-browser verifier (noble hashes/curves), bundled with esbuild.
$(WEB_BUNDLE): $(wildcard web/*.js) package-lock.json $(STAMP_NPM)
	npm run --silent build:web

# The workspaces' script (ethers v6: keystores, EIP-712 signing), bundled with esbuild.
$(WORKSPACE_BUNDLE): $(wildcard web/workspace/*.js) package-lock.json $(STAMP_NPM)
	npm run --silent build:workspace

# The API documentation (/docs): Swagger UI from npm swagger-ui-dist, served from local files so
# that it works offline and on intranets (no CDN).
$(DOCS_ASSETS): package-lock.json $(STAMP_NPM)
	npm run --silent build:docs

# What the tests need from Debian: chromium (browser tests), a CJK font and poppler (reports).
# Each script installs only what is missing.
system-deps:
	bash scripts/ensure_report_deps.sh
	sh scripts/ensure_chromium.sh

compile: setup
	$(BIN)/bangfu compile

lint: setup
	$(BIN)/ruff check ledger api tests scripts
	$(BIN)/ruff format --check ledger api tests scripts
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy ledger api

# Two pytest-xdist workers took 103 s where one took 187 s (tests/batches + tests/library, 2
# cores); --dist loadfile keeps a file's module-scoped chains on one worker. The crash
# matrix then runs alone, under the load it was tuned for (exit 5: no crash test selected).
PYTEST_WORKERS ?= 2
pytest: setup compile
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile -m "not crash" $(PYTEST_ARGS)
	$(BIN)/pytest -q -m crash $(PYTEST_ARGS) || test $$? -eq 5

test: system-deps setup compile lint typecheck pytest

run: setup compile
	$(BIN)/bangfu run

chain-up: setup
	$(BIN)/bangfu chain up

chain-down: setup
	$(BIN)/bangfu chain down

demo: setup
	$(BIN)/bangfu demo

clean:
	rm -rf build var .pytest_cache .mypy_cache .ruff_cache
