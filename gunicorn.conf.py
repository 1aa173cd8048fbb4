"""gunicorn settings for tipengine's web tier (gunicorn reads ./gunicorn.conf.py; flags override it)."""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
# Two threads per worker: a warm serve waits on Redis and PostgreSQL for a good part of its time, and a second
# thread uses that wait (more threads only add GIL contention on a small host; docs/benchmarks.md).
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
keepalive = 30
accesslog = "-"


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
