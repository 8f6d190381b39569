# DCVaaS developer commands. `make run` and `make test` work on a fresh machine with only
# Python 3.11 and make: they create .venv and install the locked dependencies first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format typecheck install migrate sandbox bench-web bench-sync bench-webhooks clean lock

# requirements.lock pins what production installs; requirements-dev.lock adds the tests' and
# tools' packages (the same versions for everything both name). Development installs the latter.
$(STAMP): pyproject.toml requirements.lock requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	touch $(STAMP)

install: $(STAMP)

# Everything locally, on embedded defaults: SQLite, the filesystem broker, and the simulators of
# GitHub, Cloudflare, Stripe and DNS. Ctrl-C stops every process.
run: export DEBUG ?= true
run: $(STAMP) .env
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py createcachetable
	@echo
	@echo "  DCVaaS is starting; a 'DCVaaS is ready' line follows once it answers."
	@echo
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile.dev

# Local settings for `python manage.py ...` run by hand (manage.py reads it; never committed).
.env:
	printf '# Written by make run: local development settings, read by manage.py.\nDEBUG=true\n' > .env

# ruff (lint and format), mypy with django-stubs, then the whole pytest suite.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict dcvaas accounts domains billing
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy --strict dcvaas accounts domains billing

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --no-input

# Re-resolve the pinned versions after changing pyproject.toml: production's lock, then the
# development lock, which keeps production's versions for every package both name.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --quiet -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --constraint requirements.lock \
		--python-version 3.11 --quiet -o requirements-dev.lock

# Only the simulators (GitHub, Cloudflare, Stripe, DNS), for pointing other clients at them.
sandbox: export DEBUG ?= true
sandbox: $(STAMP)
	$(BIN)/python manage.py sandbox

# Benchmarks print figures (see README); they start their own servers on loopback.
bench-web: $(STAMP)
	$(BIN)/python bench/web.py

bench-sync: $(STAMP)
	$(BIN)/python bench/sync.py

bench-webhooks: $(STAMP)
	$(BIN)/python bench/webhooks.py

clean:
	rm -rf $(VENV) .sandbox .celery db.sqlite3* staticfiles .pytest_cache .ruff_cache .mypy_cache
