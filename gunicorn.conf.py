"""gunicorn settings for tipengine's web tier (gunicorn reads ./gunicorn.conf.py; flags override it)."""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
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


def on_starting(server: object) -> None:
    """Give the workers one directory to count metrics into, so /metrics sums them all (ADR 0074)."""
    from tipengine.metrics_dir import prepare_multiprocess_dir

    prepare_multiprocess_dir()


def on_exit(server: object) -> None:
    from tipengine.metrics_dir import remove_multiprocess_dir

    remove_multiprocess_dir()


def post_worker_init(worker: object) -> None:
    """Import litellm before this worker takes requests, so no request pays the import inside its LLM budget."""
    import gc

    from generation.gateway import warm_up

    warm_up()
    # Everything imported so far (Django, litellm: ~460k objects) lives as long as the worker. Frozen, the
    # collector stops walking it: a full collection otherwise pauses a request for 100-200 ms (the p99).
    gc.freeze()


def worker_exit(server: object, worker: object) -> None:
    """Let in-flight LLM calls, and the pool refreshes they queue, finish before the worker goes."""
    from recommender.pipeline import shutdown_llm_executor

    shutdown_llm_executor(wait=True)
