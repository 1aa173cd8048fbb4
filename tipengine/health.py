"""Liveness (/healthz) and readiness (/readyz) probes for load balancers and orchestrators."""

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from tipengine.celery import app
from tipengine.errors import error_body
from tipengine.monitoring import metrics_view
from tipengine.unavailable import Dependency, database, logged_already

PROBE_TIMEOUT_S = 1.0


def check_database() -> None:
    database.reconnect()  # while it is down: a connection of its own, since the pool may be waiting out a delay
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()  # run on a probe thread: hand the connection back to the pool


def check_cache() -> None:
    if hasattr(cache, "ping"):  # Redis: a real round trip, not the misses it degrades to when down
        cache.ping()
        return
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("the cache did not return what was just stored")
    cache.delete(key)


def check_broker() -> None:
    with app.connection_for_write() as conn:
        # kombu measures the timeout against time() and takes seconds as a float; celery-types declares int only.
        conn.ensure_connection(max_retries=1, timeout=PROBE_TIMEOUT_S)  # type: ignore[arg-type]


def check_gateway() -> None:
    # The proxy's liveliness route answers without calling a model (GET /health would call every model).
    response = httpx.get(f"{settings.LITELLM_URL.rstrip('/')}/health/liveliness", timeout=PROBE_TIMEOUT_S)
    response.raise_for_status()


# What the probes last saw of each dependency, so that a failure is logged when it starts and when it ends, not on
# every probe. The database's is the one the API's 503s share (tipengine/unavailable.py): a probe that reaches it
# ends the API's fast-fail window at once.
DEPENDENCIES: dict[str, Dependency] = {
    "database": database,
    **{name: Dependency(f"readiness check {name}") for name in ("cache", "broker", "gateway")},
}


def _timed(name: str, check: Callable[[], None]) -> dict[str, object]:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # any failure means "not ready"; the reason goes to the log, never to the caller
        DEPENDENCIES[name].failed(exc)
        return {"ok": False}
    DEPENDENCIES[name].answered()
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def readiness_checks() -> dict[str, Callable[[], None]]:
    """Return the checks that apply to this deployment, by name (a key of DEPENDENCIES)."""
    checks: dict[str, Callable[[], None]] = {"database": check_database, "cache": check_cache}
    if settings.TASKS_MODE == "celery":
        checks["broker"] = check_broker
    if settings.LITELLM_URL:
        checks["gateway"] = check_gateway
    return checks


def method_not_allowed(request: HttpRequest) -> JsonResponse:
    """Return the error-shaped 405 the probes answer to anything but GET and HEAD."""
    body = error_body("method_not_allowed", f"Method {request.method} is not allowed here; use GET.")
    return JsonResponse(body, status=405, headers={"Allow": "GET, HEAD"})


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers; touches no database."""
    if request.method not in ("GET", "HEAD"):
        return method_not_allowed(request)
    return JsonResponse({"status": "ok"})


class ProbeMiddleware:
    """Answer /healthz and /metrics first: probes and scrapers call the process by its own address, which
    ALLOWED_HOSTS need not list, over plain HTTP, which the HTTPS redirect would otherwise turn away.

    Outermost, it also gives every answer that is not streamed its Content-Length. CommonMiddleware sets one for
    the views behind it, but not for what is answered before it runs: these probes, and the 400 for a bad Host
    header. Those went out chunked, which some probe and load-test clients do not read.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info == "/healthz":
            response: HttpResponseBase = healthz(request)
        elif request.path_info == "/metrics":
            response = metrics_view(request)
        else:
            response = self.get_response(request)
        if isinstance(response, HttpResponse) and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))
        return response


@csrf_exempt  # a POST answers the error-shaped 405, not the CSRF failure page
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: every dependency answers; 503 names the ones that did not."""
    if request.method not in ("GET", "HEAD"):
        return method_not_allowed(request)
    # Side by side: a probe takes as long as its slowest dependency (each bounded by its timeout), not the sum.
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz") as pool:
        futures = {name: pool.submit(_timed, name, check) for name, check in readiness_checks().items()}
        results = {name: future.result() for name, future in futures.items()}
    failed = sorted(name for name, result in results.items() if not result["ok"])
    if failed:
        body = error_body("not_ready", f"Not ready: {', '.join(failed)} failed.", {"checks": results})
        response = JsonResponse(body, status=503)
        logged_already(response)  # each failed check was logged when it started failing
        return response
    return JsonResponse({"status": "ready", "checks": results})
