"""A database that cannot be reached answers 503 with Retry-After in the error shape, never a 500."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.response import Response

from tipengine.errors import api_exception_handler as error_shape_handler
from tipengine.errors import error_body

logger = logging.getLogger(__name__)

# Connection refused or lost, the pool's wait for a connection run out, the server shutting down: all say
# "try again shortly", which a client can act on; none is a bug of ours.
UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)
PROBES = {"/healthz", "/readyz"}


def database_unavailable(exc: BaseException, *, log: bool = True) -> JsonResponse:
    """Return the 503 a client gets while PostgreSQL is unreachable."""
    retry_after = settings.DB_UNAVAILABLE_RETRY_AFTER_S
    if log:
        logger.warning("database unavailable: %s: %s", type(exc).__name__, str(exc)[:300])
    body = error_body(
        "database_unavailable",
        "The database is unavailable right now; retry shortly.",
        {"retry_after_s": retry_after},
    )
    return JsonResponse(body, status=503, headers={"Retry-After": str(retry_after)})


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: database outages go on to DatabaseUnavailableMiddleware, the rest to the
    one error handler (tipengine.errors)."""
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return None  # DRF re-raises it, and the middleware answers
    return error_shape_handler(exc, context)


class DatabaseUnavailableMiddleware:
    """Answer 503 for a view (API, admin) that failed because PostgreSQL is unreachable.

    For DB_UNAVAILABLE_SKIP_S after such a failure this process answers 503 at once instead of each request
    waiting out the pool timeout again (requests queued behind those waits would take several times as long).
    The probes always run: /healthz needs no database, and /readyz must see the recovery.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.down_until = 0.0
        self.last_error: BaseException | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.last_error is not None and time.monotonic() < self.down_until and request.path not in PROBES:
            return database_unavailable(self.last_error, log=False)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, UNAVAILABLE_ERRORS):
            self.last_error = exception
            self.down_until = time.monotonic() + settings.DB_UNAVAILABLE_SKIP_S
            return database_unavailable(exception)
        return None
