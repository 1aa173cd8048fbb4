"""Errors services raise, one class per stable `code` a client can act on; no HTTP (tipengine/errors.py maps them).

The kinds below (`InvalidInput`, `NotFound`, ...) decide the HTTP status. Each error a client can see is a
subclass of one kind, with its `code` (and usually its message) on the class, in its app's `errors.py` (this
module for tipengine's own), so a raise site never types a code: `raise OAuthStateUsed()`.
"""

from typing import Any, ClassVar


class DomainError(Exception):
    """A failure the caller can act on; the kind (a direct subclass) says what sort, `code` says which one."""

    code: ClassVar[str]
    default_message: ClassVar[str] = ""

    def __init__(self, message: str = "", *, details: dict[str, Any] | None = None) -> None:
        if not hasattr(self, "code"):
            raise TypeError(f"{type(self).__name__} is a kind of error: raise one of its subclasses with a code")
        self.message = message or self.default_message
        super().__init__(self.message)
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


class InvalidFields(InvalidInput):
    """Named fields are invalid; `details.fields` maps each to its messages (the shape of a serializer's errors)."""

    code = "invalid"

    @classmethod
    def of(cls, field: str, message: str) -> "InvalidFields":
        return cls(message, details={"fields": {field: [message]}})


class RequestTooLarge(TooLarge):
    """A JSON body over DATA_UPLOAD_MAX_MEMORY_SIZE."""

    code = "request_too_large"
    default_message = "The request body is too large."
