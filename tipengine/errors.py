"""The one error shape {"error": {"code", "message", "details"}}, and the one map from domain errors to statuses."""

import logging
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from tipengine import domain_errors

logger = logging.getLogger(__name__)

# Connection refused or lost, the pool's wait for a connection run out, the server shutting down: all say
# "try again shortly", which a client can act on; none is a bug of ours (tipengine/unavailable.py answers them).
DATABASE_UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)


class ApiError(exceptions.APIException):
    """An error a client can act on, raised by views (services raise `tipengine.domain_errors` instead)."""

    def __init__(self, *, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status
        self.code = code
        self.message = message
        self.details = details or {}


# The one place a domain error becomes an HTTP status.
STATUS_BY_ERROR: dict[type[domain_errors.DomainError], int] = {
    domain_errors.InvalidInput: status.HTTP_400_BAD_REQUEST,
    domain_errors.NotAllowed: status.HTTP_403_FORBIDDEN,
    domain_errors.NotFound: status.HTTP_404_NOT_FOUND,
    domain_errors.Conflict: status.HTTP_409_CONFLICT,
    domain_errors.TooLarge: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    domain_errors.KeyReused: status.HTTP_422_UNPROCESSABLE_ENTITY,
    domain_errors.UpstreamFailed: status.HTTP_502_BAD_GATEWAY,
    domain_errors.NotConfigured: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def api_error(exc: domain_errors.DomainError) -> ApiError:
    """Return the HTTP form of a domain error (its class decides the status)."""
    status_code = next(code for kind, code in STATUS_BY_ERROR.items() if isinstance(exc, kind))
    return ApiError(status=status_code, code=exc.code, message=exc.message, details=exc.details)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the error envelope every client can rely on."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _describe(exc: exceptions.APIException) -> tuple[str, str, dict[str, Any]]:
    if isinstance(exc, ApiError):
        return exc.code, exc.message, exc.details
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        fields = ", ".join(sorted(str(f) for f in detail))
        return "invalid", f"The request is invalid: check {fields}.", {"fields": detail}
    message = str(exc.detail) if not isinstance(exc.detail, (list, dict)) else "The request failed."
    code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
    details: dict[str, Any] = {}
    wait = getattr(exc, "wait", None) if isinstance(exc, exceptions.Throttled) else None  # not in the stubs
    if wait is not None:
        details["retry_after_s"] = wait
    return str(code), message, details


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: known errors in the envelope, anything else a logged 500.

    A database outage is left to DatabaseUnavailableMiddleware (DRF re-raises it), which also answers it for
    views outside DRF such as the admin.
    """
    if isinstance(exc, DATABASE_UNAVAILABLE_ERRORS):
        return None
    if isinstance(exc, domain_errors.DomainError):
        exc = api_error(exc)
    response = exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
        return Response(
            error_body("server_error", "Something went wrong on our side; it has been logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    code, message, details = _describe(exc) if isinstance(exc, exceptions.APIException) else ("error", str(exc), {})
    response.data = error_body(code, message, details)
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """handler404: unknown routes answer in the error shape, not an HTML page."""
    return JsonResponse(error_body("not_found", f"No route matches {request.path}."), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    """handler500: even Django's own failures answer in the error shape."""
    return JsonResponse(error_body("server_error", "Something went wrong on our side; it has been logged."), status=500)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """handler400: e.g. a disallowed Host header."""
    return JsonResponse(error_body("bad_request", "The request could not be understood."), status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """handler403: e.g. a failed CSRF check on a session-authenticated call."""
    return JsonResponse(error_body("permission_denied", "You may not do this."), status=403)
