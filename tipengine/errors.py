"""The one error shape {"error": {"code", "message", "details"}}, the one map from domain errors to statuses, and
the list of every code a client can get."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.module_loading import autodiscover_modules
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from tipengine import domain_errors

logger = logging.getLogger(__name__)

# Connection refused or lost, the pool's wait for a connection run out, the server shutting down: all say
# "try again shortly", which a client can act on; none is a bug of ours (tipengine/unavailable.py answers them).
DATABASE_UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)

# DRF's own errors the handler answers, each under its `default_code` (a ValidationError answers InvalidFields'
# code instead): parsing, authentication, permissions, routing, content negotiation, throttles.
DRF_ERRORS: tuple[type[exceptions.APIException], ...] = (
    exceptions.ParseError,
    exceptions.AuthenticationFailed,
    exceptions.NotAuthenticated,
    exceptions.PermissionDenied,
    exceptions.NotFound,
    exceptions.MethodNotAllowed,
    exceptions.NotAcceptable,
    exceptions.UnsupportedMediaType,
    exceptions.Throttled,
)
SERVER_ERROR = "server_error"
BAD_REQUEST = "bad_request"
SERVER_ERROR_MESSAGE = "Something went wrong on our side; it has been logged."
# Answered in the error shape outside this handler: the database-outage middleware (tipengine/unavailable.py)
# and /readyz (tipengine/health.py). tipengine/tests/test_error_codes.py checks every error_body() call in the
# code answers a code of error_codes().
ANSWERED_ELSEWHERE = ("database_unavailable", "not_ready")


class ApiError(exceptions.APIException):
    """The HTTP form of a domain error: a DRF exception, so DRF's handler sets the status and rolls back."""

    def __init__(self, *, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status
        self.code = code
        self.message = message
        self.details = details or {}


# The one place a domain error becomes an HTTP status: its kind decides.
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


def coded_errors() -> list[type[domain_errors.DomainError]]:
    """Return every domain error class with a code: the subclasses of the kinds, in every app's `errors.py`."""
    autodiscover_modules("errors")  # an app's errors are all defined once its errors module is imported
    found: list[type[domain_errors.DomainError]] = []
    pending = list(domain_errors.DomainError.__subclasses__())
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if "code" in vars(cls):
            found.append(cls)
    return sorted(found, key=lambda cls: (cls.code, cls.__qualname__))


def error_codes() -> list[str]:
    """Return every code an error answer can carry, sorted: the domain errors', DRF's and the fallbacks'."""
    codes = {cls.code for cls in coded_errors()}
    codes |= {str(cls.default_code) for cls in DRF_ERRORS}
    codes |= {domain_errors.InvalidFields.code, SERVER_ERROR, BAD_REQUEST, *ANSWERED_ELSEWHERE}
    return sorted(codes)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the error envelope every client can rely on."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _describe(exc: exceptions.APIException) -> tuple[str, str, dict[str, Any]]:
    if isinstance(exc, ApiError):
        return exc.code, exc.message, exc.details
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        fields = ", ".join(sorted(str(f) for f in detail))
        return domain_errors.InvalidFields.code, f"The request is invalid: check {fields}.", {"fields": detail}
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
    elif isinstance(exc, Http404):  # what DRF's handler does, done first so the envelope sees DRF's classes
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.APIException) and (response := exception_handler(exc, context)) is not None:
        response.data = error_body(*_describe(exc))
        return response
    logger.exception("Unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
    return Response(error_body(SERVER_ERROR, SERVER_ERROR_MESSAGE), status=status.HTTP_500_INTERNAL_SERVER_ERROR)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """handler404: unknown routes answer in the error shape, not an HTML page."""
    body = error_body(str(exceptions.NotFound.default_code), f"No route matches {request.path}.")
    return JsonResponse(body, status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    """handler500: even Django's own failures answer in the error shape."""
    return JsonResponse(error_body(SERVER_ERROR, SERVER_ERROR_MESSAGE), status=500)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """handler400: e.g. a disallowed Host header."""
    return JsonResponse(error_body(BAD_REQUEST, "The request could not be understood."), status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """handler403: e.g. a failed CSRF check on a session-authenticated call."""
    body = error_body(str(exceptions.PermissionDenied.default_code), "You may not do this.")
    return JsonResponse(body, status=403)
