"""Request and task instrumentation: metrics, one access line per request, and the /metrics endpoints."""

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from celery.signals import task_postrun, task_prerun, worker_ready, worker_shutdown
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4 as TEXT_FORMAT  # what Prometheus 2 and 3 read

from tipengine import metrics
from tipengine.errors import error_body
from tipengine.metrics_dir import remove_multiprocess_dir

access_logger = logging.getLogger("tipengine.access")
logger = logging.getLogger(__name__)


def _route(request: HttpRequest) -> str:
    """The URL pattern that answered (ids stay out of the labels), or `unmatched`."""
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None and match.route else "unmatched"


def _count_query(execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
    started = time.perf_counter()
    outcome = "error"
    try:
        result = execute(sql, params, many, context)
        outcome = "ok"
        return result
    finally:
        metrics.DB_QUERIES.labels(outcome).inc()
        metrics.DB_DURATION.observe(time.perf_counter() - started)


class RequestMetricsMiddleware:
    """Counts and times each request and its database statements, and logs one access line for it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        with connection.execute_wrapper(_count_query):
            response = self.get_response(request)
        elapsed = time.perf_counter() - started
        route, status = _route(request), response.status_code
        metrics.HTTP_REQUESTS.labels(request.method, route, str(status)).inc()
        metrics.HTTP_DURATION.labels(route).observe(elapsed)
        # The path without its query string: an OAuth callback's code and state never reach the log.
        access_logger.info(
            "%s %s %s",
            request.method,
            request.path,
            status,
            extra={"method": request.method, "path": request.path, "status": status, "ms": round(elapsed * 1000, 1)},
        )
        return response


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: the Prometheus text format, for a bearer of METRICS_TOKEN (unset: not served)."""
    if request.method not in ("GET", "HEAD"):
        body = error_body("method_not_allowed", f"Method {request.method} is not allowed here; use GET.")
        return JsonResponse(body, status=405, headers={"Allow": "GET, HEAD"})
    if not settings.METRICS_TOKEN:
        return JsonResponse(error_body("not_found", "Metrics are off: set METRICS_TOKEN to serve them."), status=404)
    if not metrics.authorized(request.headers.get("Authorization", ""), settings.METRICS_TOKEN):
        body = error_body("not_authenticated", "Send Authorization: Bearer <METRICS_TOKEN>.")
        return JsonResponse(body, status=401, headers={"WWW-Authenticate": "Bearer"})
    return HttpResponse(metrics.exposition(), content_type=TEXT_FORMAT)


_task_started: dict[str, float] = {}


@task_prerun.connect
def _task_prerun(task_id: str, **kwargs: Any) -> None:
    _task_started[task_id] = time.perf_counter()


@task_postrun.connect
def _task_postrun(task_id: str, task: Any, state: str | None = None, **kwargs: Any) -> None:
    started = _task_started.pop(task_id, None)
    metrics.CELERY_TASKS.labels(task.name, (state or "unknown").lower()).inc()
    if started is not None:
        metrics.CELERY_DURATION.labels(task.name).observe(time.perf_counter() - started)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not worth a log line each."""


def _exporter_app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    if not metrics.authorized(environ.get("HTTP_AUTHORIZATION", ""), settings.METRICS_TOKEN):
        start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
        return [b"Send Authorization: Bearer <METRICS_TOKEN>.\n"]
    start_response("200 OK", [("Content-Type", TEXT_FORMAT)])
    return [metrics.exposition()]


@worker_ready.connect
def _serve_worker_metrics(sender: Any, **kwargs: Any) -> None:
    """Serve a Celery worker's metrics (all its pool processes) at CELERY_METRICS_BIND's address for its queues."""
    bind = None
    try:
        bind = metrics.worker_metrics_bind(settings.CELERY_METRICS_BIND, sender.app.amqp.queues.consume_from)
        if bind:
            start_worker_exporter(bind)
    except (ValueError, OSError) as exc:  # the worker runs on; its metrics are missing, and this line says why
        logger.error(
            "worker metrics: no exporter at %s (%s); workers on one machine need a port each, "
            "e.g. CELERY_METRICS_BIND=celery=127.0.0.1:9808,llm=127.0.0.1:9809",
            bind or settings.CELERY_METRICS_BIND,
            exc,
        )


@worker_shutdown.connect
def _forget_worker_metrics(**kwargs: Any) -> None:
    remove_multiprocess_dir()


def start_worker_exporter(bind: str) -> None:
    """Serve the metrics at http://<bind>/ on a daemon thread."""
    host, _, port = bind.rpartition(":")
    server = make_server(host or "0.0.0.0", int(port), _exporter_app, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics-exporter", daemon=True).start()
    logger.info("worker metrics at http://%s/", bind)
