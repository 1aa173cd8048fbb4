"""OpenAPI: the one error shape as a component, and the error answers every operation can really give."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.settings import api_settings

from tipengine.errors import error_codes

RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}}
# django-guid answers every request the app sees (not gunicorn's own 414) with its request id (settings_logging.py).
REQUEST_ID = {
    "X-Request-ID": {
        "schema": {"type": "string"},
        "description": "This request's id, on its log lines: the caller's X-Request-ID if a UUID, else new hex.",
    }
}
# Todoist's webhook is authenticated by headers, not a user; DRF cannot see that, so they are declared here.
WEBHOOK_PATH = "/api/v1/integrations/todoist/webhook/"
WEBHOOK_HEADERS = [
    {
        "in": "header",
        "name": "X-Todoist-Hmac-SHA256",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
        "description": "Base64 HMAC-SHA256 of the raw body under the OAuth client secret (403 when missing or wrong).",
    },
    {
        "in": "header",
        "name": "X-Todoist-Delivery-ID",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 128},
        "description": "The delivery's id; a repeated one answers `duplicate` (400 when missing).",
    },
]
DESCRIPTIONS = {
    "400": "The request is invalid (parameters or body); `details` says what.",
    "401": "No valid credentials.",
    "403": "Authenticated, but not allowed (e.g. a session call without its CSRF token).",
    "404": "No such object among yours.",
    "413": "The request body is too large.",
    "414": "The URL is longer than the HTTP server takes (gunicorn: 4094 bytes); answered before the app, not JSON.",
    "415": "The body is not JSON.",
    "429": "Too many requests for this user; retry after `Retry-After` seconds.",
    "503": "A dependency (the database) is unavailable; retry after `Retry-After` seconds.",
}


def error_schema() -> dict[str, Any]:
    """The `Error` component; `code` is an enum of every code (error_codes), so generated clients know them."""
    return {
        "type": "object",
        "description": "Every error answers in this shape; `code` is stable, `message` is for people.",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "enum": error_codes(), "example": "invalid"},
                    "message": {"type": "string"},
                    "details": {"type": "object", "additionalProperties": True},
                },
                "required": ["code", "message", "details"],
            }
        },
        "required": ["error"],
    }


def _is_throttled(view_cls: type) -> bool:
    scope = getattr(view_cls, "throttle_scope", None)
    own = list(getattr(view_cls, "throttle_classes", [])) != list(api_settings.DEFAULT_THROTTLE_CLASSES)
    return own or (scope is not None and scope in settings.API_THROTTLE_RATES)


def _error_codes(path: str, operation: dict[str, Any], *, throttled: bool) -> list[str]:
    codes = ["503"]
    if any(p["in"] in ("query", "header") for p in operation.get("parameters", [])) or "requestBody" in operation:
        codes.append("400")
    if any(p["in"] == "query" and p["schema"].get("type") == "string" for p in operation.get("parameters", [])):
        codes.append("414")
    if "requestBody" in operation:
        codes += ["413", "415"]
    if {} not in operation.get("security", [{}]):  # authentication required
        codes += ["401", "403"]
    if "{" in path or any(p["name"] == "cursor" for p in operation.get("parameters", [])):
        codes.append("404")
    if throttled:
        codes.append("429")
    return codes


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry: add the `Error` component and each operation's error answers.

    An operation's own documented error (e.g. a 409 with its reason) is kept, its body the Error component;
    only missing codes are added.
    """
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = error_schema()
    throttled_views = {
        (path, method.lower()) for path, _regex, method, view in generator.endpoints if _is_throttled(view.cls)
    }
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if path == WEBHOOK_PATH:
                operation.setdefault("parameters", []).extend(WEBHOOK_HEADERS)
            responses = operation.setdefault("responses", {})
            for code, response in responses.items():  # an error a view documents by description only
                if code[0] in "45" and code != "414" and "content" not in response:
                    response["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
            for code in _error_codes(path, operation, throttled=(path, method) in throttled_views):
                if code in responses:
                    continue
                documented: dict[str, Any] = {"description": DESCRIPTIONS[code]}
                if code != "414":
                    documented["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                if code in ("429", "503"):
                    documented["headers"] = RETRY_AFTER
                responses[code] = documented
            for code, response in responses.items():
                if code != "414":
                    response["headers"] = {**response.get("headers", {}), **REQUEST_ID}
    return result
