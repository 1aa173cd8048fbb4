# The tipengine image: web (gunicorn), the Celery workers and beat, and `migrate` all run from it.
# Base pinned by tag and digest (the tag's multi-platform index); bump both together, deliberately.
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 LITELLM_LOCAL_MODEL_COST_MAP=True
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent tipengine
WORKDIR /app
# Runtime dependencies only (no pytest, no ruff): the runtime lock has the dev lock's pins less the dev extra.
COPY requirements-runtime.lock .
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements-runtime.lock
# .dockerignore keeps .venv, var (databases), .env (secrets) and .git out.
COPY . .
# Static files as DEBUG=0 serves them: hashed names and the manifest (staticfiles.json), in /app/var/static.
# DEBUG=1 only spares this step the production secrets; the storage is the same either way (settings.STORAGES).
RUN DEBUG=1 python manage.py collectstatic --noinput && chown tipengine:tipengine var
USER tipengine
EXPOSE 8000
# gunicorn.conf.py: the arbiter loads the app and litellm; gthread workers fork from it (GUNICORN_WORKERS, _THREADS)
CMD ["gunicorn", "tipengine.wsgi"]
