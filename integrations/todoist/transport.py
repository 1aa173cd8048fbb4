"""An httpx transport under the Todoist SDK: our base URLs, a timeout per try, bounded retries, one budget."""

from __future__ import annotations

import email.utils
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import httpx
from todoist_api_python._core.endpoints import API_URL as SDK_API_URL
from todoist_api_python._core.endpoints import OAUTH_URL as SDK_OAUTH_URL

from integrations.todoist.errors import (
    TodoistAuthError,
    TodoistProtocolError,
    TodoistRateLimited,
    TodoistRequestRejected,
    TodoistUnavailable,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallPolicy:
    """How patient one client operation (all its pages and retries together) may be."""

    timeout_s: float = 5.0  # each try: connect, read, write and pool timeouts
    budget_s: float = 10.0  # the whole operation; no try starts and no wait runs past it
    max_retry_after_s: float = 5.0  # the longest Retry-After we wait out; longer: rate_limited at once
    max_attempts: int = 4  # tries per HTTP request (429s and 5xx and network errors count)
    backoff_base_s: float = 0.25  # 5xx/network: base * 2**n, with jitter, capped by backoff_max_s
    backoff_max_s: float = 2.0


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock; tests inject one whose sleep() only advances time."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Return Retry-After in seconds (delta-seconds or an HTTP date), or None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


class TodoistTransport(httpx.BaseTransport):
    """Rewrites the SDK's fixed Todoist URLs to ours and applies a CallPolicy to every request.

    It raises our errors (integrations.todoist.errors) instead of returning non-2xx answers, so the SDK
    only ever sees success. After a 401/403 it refuses every further request: a dead token is not retried.
    """

    def __init__(
        self,
        *,
        api_url: str,
        oauth_url: str,
        policy: CallPolicy,
        clock: Clock | None = None,
        inner: httpx.BaseTransport | None = None,
    ) -> None:
        self.policy = policy
        self.clock = clock or SystemClock()
        self._inner = inner or httpx.HTTPTransport()
        self._rewrites = [(SDK_API_URL, api_url.rstrip("/")), (SDK_OAUTH_URL, oauth_url.rstrip("/"))]
        self._deadline = self.clock.monotonic() + policy.budget_s
        self.token_rejected = False
        self.attempts = 0  # tries made since the budget started (for logs and tests)

    def start_budget(self, budget_s: float | None = None) -> None:
        """Start a new operation: its pages and retries share `budget_s` (default: the policy's)."""
        self._deadline = self.clock.monotonic() + (self.policy.budget_s if budget_s is None else budget_s)
        self.attempts = 0

    def remaining_s(self) -> float:
        return self._deadline - self.clock.monotonic()

    def close(self) -> None:
        self._inner.close()

    def _rewrite(self, request: httpx.Request) -> None:
        url = str(request.url)
        for sdk_base, ours in self._rewrites:
            if sdk_base != ours and url.startswith(sdk_base + "/"):
                request.url = httpx.URL(ours + url[len(sdk_base) :])
                request.headers["Host"] = request.url.netloc.decode("ascii")
                return

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.token_rejected:
            raise TodoistAuthError("Todoist already refused this token; it is not used again.", attempts=0)
        self._rewrite(request)
        what = f"{request.method} {request.url.path}"  # never the query: it may carry credentials
        tries = 0
        while True:
            remaining = self.remaining_s()
            if remaining <= 0:
                raise TodoistUnavailable(f"Todoist did not answer within the time budget ({what}).", attempts=tries)
            tries += 1
            self.attempts += 1
            timeout = min(self.policy.timeout_s, remaining)
            request.extensions["timeout"] = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
            outcome = self._try(request, what, tries)
            if outcome.response is not None:
                return outcome.response
            if tries >= self.policy.max_attempts or outcome.wait_s >= self.remaining_s():
                why = f"after {tries} tries" if tries >= self.policy.max_attempts else "and no time is left to retry"
                message = f"{outcome.reason} {why} ({what})."
                if outcome.status == 429:
                    raise TodoistRateLimited(message, retry_after_s=outcome.wait_s, attempts=tries)
                raise TodoistUnavailable(message, status=outcome.status, attempts=tries)
            logger.info("Todoist %s: %s; retrying in %.2fs (try %d)", what, outcome.reason, outcome.wait_s, tries)
            self.clock.sleep(outcome.wait_s)

    def _backoff(self, tries: int) -> float:
        base = min(self.policy.backoff_base_s * 2 ** (tries - 1), self.policy.backoff_max_s)
        return base * random.uniform(0.5, 1.0)  # jitter spreads the retries of many workers

    def _try(self, request: httpx.Request, what: str, tries: int) -> _Outcome:
        """One try: the response on success, else how long to wait before the next try and why."""
        try:
            response = self._inner.handle_request(request)
        except httpx.TimeoutException:
            return _Outcome(wait_s=self._backoff(tries), reason="Todoist timed out")
        except httpx.TransportError:
            return _Outcome(wait_s=self._backoff(tries), reason="Todoist could not be reached")
        status = response.status_code
        if 200 <= status < 300:
            return _Outcome(response=response, status=status)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        response.close()
        if status in (401, 403):
            self.token_rejected = True
            raise TodoistAuthError(f"Todoist refused the token (HTTP {status}).", status=status, attempts=tries)
        if status == 429:
            if retry_after is not None and retry_after > min(self.policy.max_retry_after_s, self.remaining_s()):
                raise TodoistRateLimited(
                    f"Todoist is rate limiting us and asked to wait {retry_after:.0f}s ({what}).",
                    retry_after_s=retry_after,
                    attempts=tries,
                )
            wait = self._backoff(tries) if retry_after is None else retry_after
            return _Outcome(wait_s=wait, reason="Todoist rate limited us", status=429)
        if status >= 500:
            return _Outcome(wait_s=self._backoff(tries), reason=f"Todoist failed (HTTP {status})", status=status)
        if status == 410:
            raise TodoistProtocolError(f"Todoist says this API is gone (HTTP 410, {what}).", status=410)
        if 300 <= status < 400:
            raise TodoistProtocolError(
                f"Todoist answered an unexpected redirect (HTTP {status}, {what}).", status=status
            )
        raise TodoistRequestRejected(f"Todoist rejected the request (HTTP {status}, {what}).", status=status)


@dataclass
class _Outcome:
    response: httpx.Response | None = None
    wait_s: float = 0.0
    reason: str = ""
    status: int | None = None
