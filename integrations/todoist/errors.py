"""What can go wrong talking to Todoist; messages never carry a token, a URL query or a response body."""


class TodoistError(Exception):
    """Base class; `reason` is a short stable code, str(exc) a readable sentence safe to store and show."""

    reason = "error"

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class TodoistAuthError(TodoistError):
    """Todoist refused the token (401 or 403): it is not good any more; do not call again with it."""

    reason = "token_invalid"


class TodoistUnavailable(TodoistError):
    """Todoist could not be reached or kept failing (timeouts, 5xx) within the call's budget."""

    reason = "unavailable"


class TodoistRateLimited(TodoistUnavailable):
    """Todoist answered 429 and asked us to wait longer than we may (`retry_after_s`)."""

    reason = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float | None, attempts: int = 1) -> None:
        super().__init__(message, status=429, attempts=attempts)
        self.retry_after_s = retry_after_s


class TodoistProtocolError(TodoistError):
    """Todoist answered something we cannot use: garbage, a removed API (410), or another 4xx."""

    reason = "bad_response"


class TodoistRequestRejected(TodoistProtocolError):
    """Todoist rejected the request itself (a 4xx other than 401/403/429), e.g. a wrong OAuth code."""

    reason = "rejected"
