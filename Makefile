# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
STAMP := $(VENV)/.installed

.PHONY: run test install test-install migrate demo translations clean serve smoke audit bench screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools

$(STAMP): $(BIN)/python setup.cfg pyproject.toml package.json package-lock.json
	$(BIN)/pip install --quiet -e ".[test]"
	@# axe-core for the accessibility tests (tests/browser/test_accessibility.py), from npm
	if command -v npm >/dev/null; then npm ci --no-audit --no-fund --silent; else echo "npm not found: the accessibility tests will say how to install axe-core"; fi
	touch $(STAMP)

install: $(STAMP)

# The stand-in signs its webhooks with this secret and the app checks them with it (dev only).
DEV_WEBHOOK_SECRET := whsec_crowdfund_dev_only

## make run: install, migrate, load demo data the first time, serve http://127.0.0.1:5000
## with the Stripe stand-in on 127.0.0.1:8420 (test mode; card 4242 4242 4242 4242), both stopped by Ctrl-C
run: install
	$(FLASK) db upgrade
	$(FLASK) crowdfund demo --if-empty
	STRIPE_WEBHOOK_SECRET="$${STRIPE_WEBHOOK_SECRET:-$(DEV_WEBHOOK_SECRET)}" \
	  $(BIN)/python -m crowdfund.devserver --host 127.0.0.1 --port 5000

## make test: the whole suite (PostgreSQL too when CROWDFUND_TEST_DATABASE_URL is set)
test: install
	$(BIN)/pytest -n 2 --dist loadgroup

## make serve: the production-like run (docs/operations.md): migrations, then two gunicorn workers, a
## Celery worker and beat, against the PostgreSQL (DATABASE_URL) and Redis (CELERY_BROKER_URL,
## RATELIMIT_STORAGE_URI) in the environment; with STRIPE_STANDIN=1, the Stripe stand-in too. Ctrl-C stops all.
serve: install
	$(BIN)/python -m crowdfund.serve

## make smoke: only the smoke test (part of `make test`): it starts what `make serve` starts against
## this machine's PostgreSQL and Redis (a database of its own), drives it over HTTP, and stops it
smoke: install
	CROWDFUND_TEST_DATABASE_URL="$${CROWDFUND_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}" \
	CROWDFUND_TEST_REDIS_URL="$${CROWDFUND_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}" \
	  $(BIN)/pytest -p no:randomly tests/smoke

## make audit: known vulnerabilities in the installed dependencies (pip-audit) and high-severity
## findings in the code (bandit)
audit: install
	bash .ci/audit

## make bench: the pages users get (signed in, and anonymous over 1,000 campaigns while pledges land) against
## a bare Flask app, with the two workers of docs/operations.md and with one worker on one core (gunicorn,
## PostgreSQL, Redis, wrk), pledge creation with concurrent backers, gunicorn's worker class; figures in
## docs/benchmarks.md
bench: install
	@command -v wrk >/dev/null || apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }
	$(BIN)/python bench/pages.py --mode two-workers
	$(BIN)/python bench/pages.py --mode one-core
	$(BIN)/python bench/pledging.py
	$(BIN)/python bench/workers.py

## make screenshots: the main pages at 375 px and 1440 px into docs/screenshots/ (shown in the README)
screenshots: install
	$(BIN)/python scripts/screenshots.py

migrate: install
	$(FLASK) db upgrade

demo: install
	$(FLASK) crowdfund demo

## make translations: extract messages, update and compile every catalogue
## (start a new language with: .venv/bin/pybabel init -i crowdfund/translations/messages.pot -d crowdfund/translations -l zh_Hans_CN)
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --ignore-dirs=".venv build" -o crowdfund/translations/messages.pot .
	if ls crowdfund/translations/*/LC_MESSAGES/messages.po >/dev/null 2>&1; then \
	  $(BIN)/pybabel update -i crowdfund/translations/messages.pot -d crowdfund/translations && \
	  $(BIN)/pybabel compile -d crowdfund/translations; fi

clean:
	rm -rf $(VENV) instance *.egg-info .pytest_cache
