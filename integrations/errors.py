"""Errors other apps see when they read through the integration."""


class TasksUnavailable(Exception):
    """The user's tasks cannot be read now; `reason` says why (a stable code, safe to show and log).

    Reasons: `not_connected` (no integration), `revoked` (disconnected), `token_invalid` (Todoist refused
    the token: the user must reconnect), `unavailable` (Todoist down, slow or out of budget), `rate_limited`,
    `bad_response` (Todoist answered something unusable), `token_unreadable` (no configured key decrypts it).
    """

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or f"Tasks are unavailable: {reason}.")
        self.reason = reason
