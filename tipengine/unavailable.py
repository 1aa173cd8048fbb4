"""A database that cannot be reached answers 503 with Retry-After in the error shape, never a 500."""

from __future__ import annotations

import logging
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


def database_unavailable(exc: BaseException) -> JsonResponse:
    """Return the 503 a client gets while PostgreSQL is unreachable."""
    retry_after = settings.DB_UNAVAILABLE_RETRY_AFTER_S
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
    """Answer 503 for a view (API, admin, probes) that failed because PostgreSQL is unreachable."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, UNAVAILABLE_ERRORS):
            return database_unavailable(exception)
        return None
