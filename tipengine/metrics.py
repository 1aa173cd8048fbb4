"""Prometheus metrics (tipengine_*) and their exposition, summed over every process of a server (ADR 0074)."""

import hmac
import logging
import os
import struct
import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from tipengine.metrics_dir import MULTIPROC_ENV

logger = logging.getLogger(__name__)

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
_LLM_LATENCY = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0)

HTTP_REQUESTS = Counter(
    "tipengine_http_requests", "HTTP requests answered, by method, route and status.", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "tipengine_http_request_duration_seconds", "Time to answer a request, by route.", ["route"], buckets=_LATENCY
)
DB_QUERIES = Counter("tipengine_db_queries", "Database statements run for requests, by outcome.", ["outcome"])
DB_DURATION = Histogram(
    "tipengine_db_query_duration_seconds", "Time of one database statement run for a request.", buckets=_LATENCY
)
TIPS_SERVED = Counter("tipengine_tips_served", "Tips served, by source and kind.", ["source", "kind"])
DEGRADED = Counter("tipengine_degraded_answers", "Tips answers that said `degraded`, by code.", ["code"])
LLM_CALLS = Counter("tipengine_llm_calls", "Calls to the LLM gateway, by alias and outcome.", ["alias", "outcome"])
LLM_DURATION = Histogram(
    "tipengine_llm_call_duration_seconds", "Time of one LLM gateway call, by alias.", ["alias"], buckets=_LLM_LATENCY
)
LLM_TOKENS = Counter("tipengine_llm_tokens", "Tokens the gateway reported, by alias and kind.", ["alias", "kind"])
FEEDBACK = Counter("tipengine_feedback", "Feedback recorded, by action.", ["action"])
SHADOW_AGREEMENT = Counter(
    "tipengine_shadow_agreement", "Serves the newest (shadow) model scored, by whether it agrees on the first tip.",
    ["agrees"],
)  # fmt: skip
REWARDS_FINALIZED = Counter("tipengine_rewards_finalized", "Served tips whose reward became final.")
CELERY_TASKS = Counter("tipengine_celery_tasks", "Celery tasks run, by task and outcome.", ["task", "outcome"])
CELERY_DURATION = Histogram(
    "tipengine_celery_task_duration_seconds", "Time of one Celery task run, by task.", ["task"], buckets=_LLM_LATENCY
)


def llm_call_observed(
    *, alias: str, outcome: str, seconds: float, prompt_tokens: int | None = None, completion_tokens: int | None = None
) -> None:
    """Count one gateway call (outcome: `ok` or the error code), its time and the tokens it reported."""
    LLM_CALLS.labels(alias, outcome).inc()
    LLM_DURATION.labels(alias).observe(seconds)
    for kind, tokens in (("prompt", prompt_tokens), ("completion", completion_tokens)):
        if tokens:
            LLM_TOKENS.labels(alias, kind).inc(tokens)


class _ScrapeTimeCollector:
    """Collects figures read, when scraped, from state every process shares (the cache); a failing read
    (the cache is down) leaves its figures out rather than failing the scrape."""

    def __init__(self, collect: Callable[[], Iterator[GaugeMetricFamily]]) -> None:
        self._collect = collect

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            families = list(self._collect())
        except Exception:
            logger.warning("metrics: %s failed; its figures are left out", self._collect.__name__, exc_info=True)
            return iter(())
        return iter(families)


_scrape_time: list[Callable[[], Iterator[GaugeMetricFamily]]] = []


def register_scrape_time(collect: Callable[[], Iterator[GaugeMetricFamily]]) -> None:
    """Add a collector that reads shared state at scrape time (e.g. the LLM breaker)."""
    if collect not in _scrape_time:  # ready() may run twice
        _scrape_time.append(collect)


def _all_processes(attempts: int = 3) -> bytes:
    for attempt in range(attempts):
        try:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        except (struct.error, RuntimeError):
            # A process starting as we read (a replaced worker) has created its file but not sized it yet, and
            # prometheus_client reads without a lock: read again a moment later.
            if attempt == attempts - 1:
                raise
            time.sleep(0.01)
    raise AssertionError("unreachable")


def exposition() -> bytes:
    """Return every metric in the Prometheus text format, summed over the server's processes."""
    text = _all_processes() if os.environ.get(MULTIPROC_ENV) else generate_latest(REGISTRY)
    shared = CollectorRegistry()
    for collect in _scrape_time:
        shared.register(_ScrapeTimeCollector(collect))
    return text + generate_latest(shared)


def authorized(header: str, token: str) -> bool:
    """Whether an Authorization header carries the bearer token (compared in constant time)."""
    scheme, _, value = header.partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token)


def worker_metrics_bind(setting: str, queues: Iterable[str]) -> str | None:
    """The host:port a Celery worker's exporter listens on, from CELERY_METRICS_BIND and the worker's queues.

    One host:port serves every worker that reads it, each on its own host or container (compose). Workers that
    share a machine need a port each, so the setting may name one per queue: `celery=127.0.0.1:9808,llm=...:9809`;
    a worker takes the first of its queues that is named there. None: no exporter for this worker.
    ValueError for an entry that is not queue=host:port.
    """
    if "=" not in setting:
        return setting or None
    binds = {}
    for entry in filter(None, (e.strip() for e in setting.split(","))):
        queue, _, bind = entry.partition("=")
        if not (queue and bind):
            raise ValueError(f"CELERY_METRICS_BIND entry {entry!r} is not queue=host:port")
        binds[queue.strip()] = bind.strip()
    return next((binds[queue] for queue in queues if queue in binds), None)
