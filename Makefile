# grvt-mm — every command a user or CI needs. `make run` and `make test` set everything up.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# hftbacktest (the reference backtester) lives in its own venv: the parity test runs it
HBT_STAMP := .venv-hbt/.installed

.PHONY: setup run demo test lint typecheck contracts unit bench clean system-deps \
	web-build web-test e2e api-client api-client-check audit audit-report

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(HBT_STAMP):
	@test -x .venv-hbt/bin/python || $(PYTHON) -m venv .venv-hbt
	.venv-hbt/bin/pip install --quiet hftbacktest==2.4.4 pydantic
	@touch $(HBT_STAMP)

# Debian packages the tests use for real: a PostgreSQL server (the store's PostgreSQL tests).
system-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "installing PostgreSQL (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi

# nginx unpacked (not installed: no service is started) so the deployment test can run
# `nginx -t` on the example site.
NGINX_BIN := .cache/nginx/usr/sbin/nginx
$(NGINX_BIN):
	mkdir -p .cache
	cd .cache && (apt-get download -qq nginx 2>/dev/null || \
	  (apt-get update -qq && apt-get download -qq nginx)) \
	  && dpkg-deb -x nginx_*.deb nginx && rm -f nginx_*.deb

# The dashboard (web/): npm dependencies, the production build served at /, tests.
WEB_STAMP := web/node_modules/.installed
WEB_INDEX := src/grvtmm/static/index.html
WEB_SOURCES := $(shell find web/src web/public web/index.html web/vite.config.ts \
	web/tsconfig.json -type f 2>/dev/null)

$(WEB_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $(WEB_STAMP)

$(WEB_INDEX): $(WEB_STAMP) $(WEB_SOURCES)
	cd web && npm run --silent build

web-build: $(WEB_INDEX)

api-client: $(STAMP) $(WEB_STAMP)
	cd web && PYTHON=../$(PY) npm run --silent api-client

api-client-check: $(STAMP) $(WEB_STAMP)
	cd web && PYTHON=../$(PY) npm run --silent api-client:check

web-test: $(WEB_STAMP) api-client-check
	cd web && npm run --silent typecheck && npx vitest run

e2e: $(STAMP) $(WEB_INDEX)
	sh web/scripts/e2e.sh

run: $(STAMP) $(WEB_INDEX)
	$(VENV)/bin/grvt-mm serve

demo: $(STAMP)
	$(VENV)/bin/grvt-mm demo --duration 600 --speed max --seed 7

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy src

contracts: $(STAMP)
	$(VENV)/bin/lint-imports

unit: $(STAMP) $(HBT_STAMP) system-deps $(NGINX_BIN)
	$(VENV)/bin/pytest -q

# Dependency audit (pip-audit over the venv, npm audit over the shipped web packages):
# exit 1 = vulnerabilities to fix, 2 = the advisory services could not be reached.
audit: $(STAMP) $(WEB_STAMP)
	scripts/audit.sh

# In `make test`: found vulnerabilities fail the run; an unreachable advisory service is
# reported loudly (nothing proven either way) and does not.
audit-report: $(STAMP) $(WEB_STAMP)
	@scripts/audit.sh; rc=$$?; \
	if [ $$rc -eq 1 ]; then exit 1; fi; \
	if [ $$rc -eq 2 ]; then echo "audit-report: advisory services unreachable from this machine; run 'make audit' where they are"; fi

test: lint typecheck contracts unit web-test e2e audit-report

bench: $(STAMP) $(HBT_STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .venv-hbt web/node_modules src/grvtmm/static .mypy_cache .pytest_cache .ruff_cache .cache
