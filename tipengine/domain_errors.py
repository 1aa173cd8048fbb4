"""Errors services raise: a stable `code` a client can act on, a kind, and no HTTP (tipengine/errors.py maps them)."""

from typing import Any


class DomainError(Exception):
    """A failure the caller can act on; subclasses say what kind, `code` says which one."""

    def __init__(self, *, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


class InvalidInput(DomainError):
    """The request's values cannot be accepted as given."""


class NotFound(DomainError):
    """The object does not exist, or is not the caller's (the two answer alike)."""


class NotAllowed(DomainError):
    """The caller may not do this (e.g. a webhook whose signature does not match)."""


class Conflict(DomainError):
    """The object's state no longer allows the change (e.g. a reward already final)."""


class KeyReused(DomainError):
    """An idempotency key was already used with a different request."""


class TooLarge(DomainError):
    """The request body is larger than accepted."""


class NotConfigured(DomainError):
    """This server is not set up for the feature."""


class UpstreamFailed(DomainError):
    """A service we depend on failed or could not be reached."""
