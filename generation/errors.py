"""The few errors generation raises; callers catch `GenerationError` and degrade, never crash."""

from __future__ import annotations

from typing import Any


class GenerationError(Exception):
    """Base: LLM candidates could not be produced. `code` is stable, `details` is safe to log."""

    code = "generation_failed"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class GatewayUnavailable(GenerationError):
    """The gateway or the model behind it did not answer: connection refused, 5xx or timeout."""

    code = "gateway_unavailable"


class RateLimited(GenerationError):
    """The gateway or provider answered 429; try again later."""

    code = "rate_limited"


class RequestRejected(GenerationError):
    """The gateway refused the request itself (4xx other than 429: auth, bad params, unknown alias)."""

    code = "request_rejected"


class InvalidOutput(GenerationError):
    """The model answered, but not with usable JSON, after every allowed correction attempt."""

    code = "invalid_output"


class CircuitOpen(GenerationError):
    """The gateway failed repeatedly; calls are skipped until the cool-down ends."""

    code = "circuit_open"


class NoTaskContext(GenerationError):
    """The user's tasks could not be read (integrations' TasksUnavailable), so there is no context to generate from."""

    code = "tasks_unavailable"


class RefreshInProgress(GenerationError):
    """Another refresh of this user's pool is running; its result will be the pool."""

    code = "refresh_in_progress"


class StaleTaskSource(GenerationError):
    """The user's task source changed while this refresh ran: its candidates were not stored."""

    code = "stale_task_source"
