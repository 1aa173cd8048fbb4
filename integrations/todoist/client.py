"""The Todoist API v1 client: the official SDK (todoist-api-python) over our policy-enforcing transport."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from todoist_api_python.api import ResultsPaginator
from todoist_api_python.authentication import get_authentication_url

from integrations.todoist.errors import TodoistAuthError, TodoistProtocolError, TodoistRequestRejected
from integrations.todoist.parsing import CompletedTask, completion_from_api, task_from_api
from integrations.todoist.transport import CallPolicy, Clock, TodoistTransport
from integrations.todoist.types import TodoistTask

DEFAULT_API_URL = "https://api.todoist.com/api/v1"
DEFAULT_OAUTH_URL = "https://todoist.com/oauth"
TASKS_PATH = "tasks"
COMPLETED_PATH = "tasks/completed/by_completion_date"  # answers under the key `items`, not `results`
COMPLETED_WINDOW = timedelta(days=89)  # Todoist allows at most 3 months per completed-tasks query


@dataclass(frozen=True, slots=True)
class TodoistUser:
    """Who a token belongs to at Todoist."""

    id: str
    email: str = ""
    timezone: str | None = None  # an IANA name this machine knows, or None when Todoist sent none usable


def _transport(api_url: str, oauth_url: str, policy: CallPolicy, clock: Clock | None) -> TodoistTransport:
    return TodoistTransport(api_url=api_url, oauth_url=oauth_url, policy=policy, clock=clock)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")  # microseconds kept: `until` must not cut


def _iana_zone(tz_info: Any) -> str | None:
    """Return `tz_info.timezone` when it names a zone we can compute with (Todoist may send none, or junk)."""
    name = tz_info.get("timezone") if isinstance(tz_info, dict) else None
    if not isinstance(name, str) or not name or len(name) > 64:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise TodoistProtocolError("Todoist answered something that is not JSON.") from exc
    if not isinstance(data, dict):
        raise TodoistProtocolError("Todoist answered JSON that is not an object.")
    return data


class TodoistClient:
    """One token's view of Todoist. Every public method is one operation under one CallPolicy budget.

    After Todoist refuses the token (401/403) every further call raises TodoistAuthError without a request.
    The token is never part of this object's repr, of an error message or of a log line. One client serves
    one thread (its budget is per operation): make one per task or request, and close it (context manager).
    """

    def __init__(
        self,
        token: str,
        *,
        api_url: str = DEFAULT_API_URL,
        policy: CallPolicy | None = None,
        clock: Clock | None = None,
        page_size: int = 200,
        max_pages: int = 50,
    ) -> None:
        self._api_url = api_url.rstrip("/")
        self._policy = policy or CallPolicy()
        self._transport = _transport(self._api_url, DEFAULT_OAUTH_URL, self._policy, clock)
        self._http = httpx.Client(transport=self._transport)
        self._token = token
        self._page_size = page_size
        self._max_pages = max_pages

    def __repr__(self) -> str:
        return f"<TodoistClient {self._api_url}>"

    def __enter__(self) -> TodoistClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def token_rejected(self) -> bool:
        """True once Todoist has refused the token."""
        return self._transport.token_rejected

    def get_user(self, *, budget_s: float | None = None) -> TodoistUser:
        """Return the token's Todoist user and time zone; the cheapest live check that a token works (GET /user)."""
        self._transport.start_budget(budget_s)
        response = self._http.get(f"{self._api_url}/user", headers={"Authorization": f"Bearer {self._token}"})
        data = _json_object(response)
        user_id = data.get("id")
        if not isinstance(user_id, str | int) or isinstance(user_id, bool) or str(user_id) == "":
            raise TodoistProtocolError("Todoist's user answer has no id.")
        email = data.get("email")
        return TodoistUser(
            id=str(user_id), email=email if isinstance(email, str) else "", timezone=_iana_zone(data.get("tz_info"))
        )

    def active_tasks(self, *, budget_s: float | None = None) -> list[TodoistTask]:
        """Return every active task, following `next_cursor` across pages (unreadable tasks are skipped)."""
        self._transport.start_budget(budget_s)
        return self._collect(TASKS_PATH, "results", task_from_api, {"limit": self._page_size})

    def completed_since(
        self, since: datetime, *, until: datetime | None = None, budget_s: float | None = None
    ) -> list[CompletedTask]:
        """Return tasks completed in [since, until] (until: now; since clamped to Todoist's 3-month window)."""
        self._transport.start_budget(budget_s)
        until = until or datetime.now(UTC)
        since = max(since, until - COMPLETED_WINDOW)
        params = {"since": _stamp(since), "until": _stamp(until), "limit": self._page_size}
        return self._collect(COMPLETED_PATH, "items", completion_from_api, params)

    def _collect(self, path: str, key: str, parse: Callable[[Any], Any], params: dict[str, Any]) -> list[Any]:
        # The SDK's paginator follows next_cursor; our parser (tolerant, our types) reads each item.
        pages = ResultsPaginator(self._http, f"{self._api_url}/{path}", key, parse, self._token, None, params)
        out: list[Any] = []
        try:
            for count, page in enumerate(pages, start=1):
                if count > self._max_pages:
                    raise TodoistProtocolError(f"Todoist kept paginating past {self._max_pages} pages.")
                out.extend(item for item in page if item is not None)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise TodoistProtocolError("Todoist answered a page we could not read.") from exc
        return out


class TodoistOAuth:
    """Our OAuth app at Todoist: the authorize URL, the code exchange, and token revocation."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        oauth_url: str = DEFAULT_OAUTH_URL,
        api_url: str = DEFAULT_API_URL,
        policy: CallPolicy | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._oauth_url = oauth_url.rstrip("/")
        self._api_url = api_url.rstrip("/")
        self._policy = policy or CallPolicy()
        self._clock = clock

    def authorize_url(self, *, state: str, scopes: tuple[str, ...] = ("data:read",)) -> str:
        """Return the Todoist page that asks the user to grant us `scopes`."""
        url = get_authentication_url(self._client_id, list(scopes), state)  # type: ignore[arg-type]
        return self._oauth_url + url[len(DEFAULT_OAUTH_URL) :]

    def exchange_code(self, code: str) -> str:
        """Return the access token for an authorization `code` (TodoistRequestRejected: a bad or used code)."""
        # Not the SDK's get_auth_token: its AuthResult requires a `state` the documented answer lacks (ADR 0010).
        fields = {"client_id": self._client_id, "client_secret": self._client_secret, "code": code}
        with httpx.Client(transport=_transport(self._api_url, self._oauth_url, self._policy, self._clock)) as http:
            try:
                data = _json_object(http.post(f"{self._oauth_url}/access_token", data=fields))
            except TodoistAuthError as exc:  # 401 here means our client credentials, not a user token
                raise TodoistRequestRejected(
                    "Todoist refused our OAuth client credentials.", status=exc.status
                ) from exc
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise TodoistProtocolError("Todoist's token answer has no access token.")
        return token

    def revoke(self, token: str) -> None:
        """Revoke `token` at Todoist (RFC 7009: the token travels in the body, never in a URL)."""
        transport = _transport(self._api_url, self._oauth_url, replace(self._policy, max_attempts=2), self._clock)
        with httpx.Client(transport=transport) as http:
            try:
                http.post(
                    f"{self._api_url}/revoke",
                    auth=(self._client_id, self._client_secret),
                    json={"token": token, "token_type_hint": "access_token"},
                )
            except TodoistAuthError as exc:
                raise TodoistRequestRejected(
                    "Todoist refused our OAuth client credentials.", status=exc.status
                ) from exc
