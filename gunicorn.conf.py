"""gunicorn settings for tipengine's web tier (gunicorn reads ./gunicorn.conf.py; flags override it)."""

import os


def default_workers() -> int:
    """One worker per core this process may run on, at least 2 (one restarting never stops the site), at most 8.

    Each worker costs its own memory beyond what it shares with the arbiter (ADR 0092): more workers than cores
    only add memory, since the threads already cover the waits on Redis and PostgreSQL.
    """
    return max(2, min(len(os.sched_getaffinity(0)), 8))


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", default_workers()))
# Two threads per worker: a warm serve waits on Redis and PostgreSQL for a good part of its time, and a second
# thread uses that wait (more threads only add GIL contention on a small host; docs/benchmarks.md).
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
keepalive = 30
# No gunicorn access log: tipengine.access logs each request as JSON with its request id (docs/operations.md).
accesslog = None
if os.environ.get("LOG_FORMAT", "json") == "json":
    # gunicorn's own lines (boot, worker timeouts) as JSON too, so the stream parses line by line.
    _json = {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
        "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
    }
    _stderr = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": _json},
        "handlers": {"console": _stderr, "error_console": _stderr},
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False}},
    }


def load_and_freeze() -> None:
    """Load Django and litellm (and build the in-process router), then freeze the heap (ADR 0002, ADR 0092).

    Everything imported so far (Django, litellm: ~460k objects) lives as long as the process. Frozen, the
    collector stops walking it: a full collection otherwise pauses a request for 100-200 ms (the p99), and in
    a forked worker it would write to every page it walks, unsharing them.
    """
    import gc

    import django

    from generation.gateway import warm_up

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipengine.settings")  # as tipengine/wsgi.py does
    django.setup()
    warm_up()
    gc.freeze()


def on_starting(server: object) -> None:
    """In the arbiter, before any worker forks: the metrics directory, then the app and litellm loaded once.

    Workers fork from this process and share these pages copy-on-write instead of each importing litellm into
    memory of its own (~250 MB a worker); no worker, and so no request, pays the import (ADR 0092). The
    metrics directory comes first: prometheus_client reads it when it loads (ADR 0074). New code needs a
    restart of gunicorn, not a HUP, which forks new workers from the arbiter's already loaded modules.
    """
    from tipengine.metrics_dir import prepare_multiprocess_dir

    prepare_multiprocess_dir()
    load_and_freeze()


def on_exit(server: object) -> None:
    from tipengine.metrics_dir import remove_multiprocess_dir

    remove_multiprocess_dir()


def post_worker_init(worker: object) -> None:
    """Before this worker takes requests: the arbiter loaded everything already; freeze what the app added."""
    load_and_freeze()


def worker_exit(server: object, worker: object) -> None:
    """Let in-flight LLM calls, and the pool refreshes they queue, finish before the worker goes."""
    from recommender.pipeline import shutdown_llm_executor

    shutdown_llm_executor(wait=True)
