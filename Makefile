# The two commands a new user needs: `make run` and `make test`. Both build .venv from the lock file.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
LOCK_HASH := $(shell sha256sum requirements.lock | cut -c1-16)
STAMP := $(VENV)/.installed-$(LOCK_HASH)

.PHONY: run test lint format bench venv proxy-venv llm-local

venv: $(STAMP)

$(STAMP): requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check --quiet --require-hashes --no-deps -r requirements.lock
	rm -f $(VENV)/.installed-* && touch $@

# The embedded default: SQLite, in-process tasks and LiteLLM router, a demo user with sample tasks.
run: export DEBUG ?= 1
run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py runserver 127.0.0.1:8000

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Regenerate the lock after editing pyproject.toml (needs uv: pip install uv).
lock:
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

# The real LiteLLM proxy (a test peer: generation/tests/test_proxy.py) in its own virtualenv, outside the
# work tree so every clone on a machine shares it; rebuilt only when its lock changes. CI requires it.
LITELLM_PROXY_VENV ?= $(HOME)/.cache/tipengine/litellm-proxy
PROXY_LOCK := infra/litellm/proxy/requirements.lock
PROXY_STAMP := $(LITELLM_PROXY_VENV)/.installed-$(shell sha256sum $(PROXY_LOCK) | cut -c1-16)

proxy-venv: $(PROXY_STAMP)

$(PROXY_STAMP): $(PROXY_LOCK)
	test -x $(LITELLM_PROXY_VENV)/bin/python || $(PYTHON) -m venv $(LITELLM_PROXY_VENV)
	$(LITELLM_PROXY_VENV)/bin/pip install --disable-pip-version-check --quiet --require-hashes --no-deps -r $(PROXY_LOCK)
	rm -f $(LITELLM_PROXY_VENV)/.installed-* && touch $@
