"""A faithful fake of Todoist API v1 and its OAuth endpoints: a real HTTP server on 127.0.0.1.

Stdlib only (no Django), so the test suites of every app and `bench/` can use it. It serves the shapes
described in shared/todoist-api.md, driven through our real client code over real sockets.

    from testsupport.todoist.fake_todoist import FakeTodoist

    with FakeTodoist() as fake:                       # binds an ephemeral port (port 0)
        fake.add_account("tok-alice", user_id="1001")  # a token Todoist accepts
        task = fake.add_task("tok-alice", content="Renew passport", priority=4, due=fake_due("2026-09-01"))
        # point tipengine at it: TODOIST_API_URL=fake.api_url, TODOIST_OAUTH_URL=fake.oauth_url
        fake.reject_token("tok-alice", status=401)     # Todoist now refuses the token
        fake.script("/api/v1/tasks", status=429, headers={"Retry-After": "1"})  # next call: rate limited
        fake.script("/api/v1/", status=503, times=None)  # every call: down (until clear_scripts())
        fake.script("/api/v1/tasks", delay_s=2.0)       # next call: answered after 2 s
        fake.requests_to("/api/v1/tasks")              # what the client sent, for assertions

Behaviours: cursor pagination (`limit` 1..200, default 50, `next_cursor`), completed tasks by completion
date (key `items`), `GET /api/v1/user` (with the account's `tz_info`), 401 (unknown/revoked token) and 403
(`reject_token(status=403)`), 410 Gone for `/rest/v2/...` and `/sync/v9/...`, OAuth code exchange
(`issue_code`) and token revocation (`POST /api/v1/revoke` and the SDK's `DELETE /api/v1/access_tokens`).
Scripts (`script`) override any answer: a status with a Todoist error body, a custom JSON or raw body,
headers, a delay, for N calls.
`webhook_request` builds a signed webhook delivery to post to the app under test.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from testsupport.loopback import LoopbackServer, QuietHandler
from testsupport.todoist.fake_todoist_http import (
    RecordedRequest,
    Reply,
    Script,
    basic_auth,
    form_or_json,
    json_reply,
    page,
    parse_stamp,
)
from testsupport.todoist.todoist_payloads import (  # re-exported: tests import them from here
    error_body,
    fake_due,
    make_task,
    next_id,
    sign_webhook_body,
    tz_info,
    webhook_request,
)

__all__ = [
    "FakeTodoist",
    "error_body",
    "fake_due",
    "make_task",
    "sign_webhook_body",
    "webhook_request",
]

API_PREFIX = "/api/v1"
OAUTH_PREFIX = "/oauth"
GONE_PREFIXES = ("/rest/v2", "/sync/v9")


@dataclass
class Account:
    """A Todoist user as the fake knows it: active and completed tasks."""

    user_id: str
    email: str
    timezone: str | None = "UTC"  # what `/user` reports in `tz_info.timezone` (None: no tz_info at all)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    completed: list[dict[str, Any]] = field(default_factory=list)


class FakeTodoist(LoopbackServer):
    """The fake server; use as a context manager, or call start() and stop()."""

    thread_name = "fake-todoist"

    def __init__(self, *, client_id: str = "fake-client-id", client_secret: str = "fake-client-secret") -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self._accounts: dict[str, Account] = {}
        self._rejected: dict[str, int] = {}  # token -> 401 or 403
        self._codes: dict[str, str] = {}  # OAuth code -> token
        self._scripts: list[Script] = []
        self._requests: list[RecordedRequest] = []
        self.revoked: list[str] = []

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    @property
    def api_url(self) -> str:
        """The value for TODOIST_API_URL."""
        return self.url + API_PREFIX

    @property
    def oauth_url(self) -> str:
        """The value for TODOIST_OAUTH_URL."""
        return self.url + OAUTH_PREFIX

    # -- state -----------------------------------------------------------------------------------------------
    def add_account(
        self, token: str, *, user_id: str | None = None, email: str | None = None, timezone: str | None = "UTC"
    ) -> Account:
        """Make Todoist accept `token` as a user's token (and forget any earlier rejection of it).

        `timezone` is the user's zone in Todoist's settings; an existing account keeps its own."""
        with self._lock:
            uid = user_id or str(next_id() + 1_000_000)
            account = self._accounts.get(token) or Account(
                user_id=uid, email=email or f"user{uid}@example.org", timezone=timezone
            )
            self._accounts[token] = account
            self._rejected.pop(token, None)
            return account

    def set_timezone(self, token: str, timezone: str | None) -> None:
        """Change the zone the user behind `token` has in Todoist's settings (None: `/user` sends no tz_info)."""
        with self._lock:
            self._accounts[token].timezone = timezone

    def add_task(self, token: str, **fields: Any) -> dict[str, Any]:
        """Add an active task to the account behind `token`; returns the task as the API shows it."""
        with self._lock:
            account = self._accounts[token]
            task = make_task(user_id=account.user_id, added_by_uid=account.user_id, **fields)
            account.tasks.append(task)
            return task

    def complete_task(self, token: str, task_id: str, *, completed_at: str | None = None) -> dict[str, Any]:
        """Move an active task to the completed list (completed now unless `completed_at` is given)."""
        with self._lock:
            account = self._accounts[token]
            task = next(t for t in account.tasks if t["id"] == task_id)
            account.tasks.remove(task)
            stamp = completed_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            done = {**task, "checked": True, "completed_at": stamp}
            account.completed.append(done)
            return done

    def reject_token(self, token: str, *, status: int = 401) -> None:
        """Make Todoist refuse `token` from now on with 401 (revoked/bad) or 403 (older APIs)."""
        with self._lock:
            self._rejected[token] = status

    def issue_code(self, code: str, token: str) -> None:
        """Let `POST /oauth/access_token` exchange `code` (once) for `token`."""
        with self._lock:
            self._codes[code] = token

    def script(
        self,
        path: str,
        *,
        status: int = 200,
        json: Any = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
        times: int | None = 1,
        method: str | None = None,
    ) -> None:
        """Override the next `times` answers (None: all) to paths starting with `path`.

        A script with only `delay_s` delays the normal answer; with a `status` >= 400 and no body it answers
        Todoist's error envelope (429 gets `error_extra.retry_after` from a Retry-After header)."""
        passthrough = status == 200 and json is None and body is None
        with self._lock:
            self._scripts.append(
                Script(path, status, json, body, dict(headers or {}), delay_s, times, method, passthrough)
            )

    def clear_scripts(self) -> None:
        with self._lock:
            self._scripts.clear()

    # -- what was received -----------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        """Requests whose path starts with `path` (and method matches, if given)."""
        return [r for r in self.requests if r.path.startswith(path) and (method is None or r.method == method)]

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- request handling (called from the server threads) ----------------------------------------------------
    def _record(self, request: RecordedRequest) -> Script | None:
        with self._lock:
            self._requests.append(request)
            for script in self._scripts:
                if request.path.startswith(script.path) and script.method in (None, request.method):
                    if script.times is not None:
                        script.times -= 1
                        if script.times <= 0:
                            self._scripts.remove(script)
                    return script
            return None

    def _answer(self, req: RecordedRequest) -> Reply:
        if req.path.startswith(GONE_PREFIXES):
            return json_reply(410, error_body(410, "GONE", "This API version has been removed; use /api/v1."))
        if req.path == OAUTH_PREFIX + "/access_token" and req.method == "POST":
            return self._exchange_code(req)
        if not req.path.startswith(API_PREFIX):
            return json_reply(404, error_body(404, "NOT_FOUND", "Not found"))
        route = req.path[len(API_PREFIX) :].rstrip("/")
        if (route, req.method) == ("/revoke", "POST") or (route, req.method) == ("/access_tokens", "DELETE"):
            return self._revoke(req)
        with self._lock:
            token = req.token
            account = self._accounts.get(token or "")
            rejected = self._rejected.get(token or "")
        if rejected == 403:
            return json_reply(403, error_body(403, "AUTH_INVALID_TOKEN", "Invalid token"))
        if account is None or rejected:
            return json_reply(401, error_body(401, "UNAUTHORIZED", "Unauthorized"))
        if req.method != "GET":
            return json_reply(405, error_body(405, "METHOD_NOT_ALLOWED", "Method not allowed"))
        if route == "/user":
            user: dict[str, Any] = {"id": account.user_id, "email": account.email, "full_name": "Fake"}
            if account.timezone is not None:
                user["tz_info"] = tz_info(account.timezone)
            return json_reply(200, user)
        if route == "/tasks":
            return page(req, self._filter_active(account, req), "results")
        if route == "/tasks/completed/by_completion_date":
            return self._completed(req, account)
        return json_reply(404, error_body(404, "NOT_FOUND", "Not found"))

    def _filter_active(self, account: Account, req: RecordedRequest) -> list[dict[str, Any]]:
        with self._lock:
            tasks = list(account.tasks)
        ids = req.param("ids")
        if ids:
            wanted = set(ids.split(","))
            tasks = [t for t in tasks if t["id"] in wanted]
        for key in ("project_id", "section_id", "parent_id"):
            if req.param(key):
                tasks = [t for t in tasks if t.get(key) == req.param(key)]
        if req.param("label"):
            tasks = [t for t in tasks if req.param("label") in (t.get("labels") or [])]
        return tasks

    def _completed(self, req: RecordedRequest, account: Account) -> Reply:
        try:
            since, until = parse_stamp(req.param("since")), parse_stamp(req.param("until"))
        except ValueError:
            return json_reply(400, error_body(400, "INVALID_ARGUMENT", "since and until must be ISO 8601 UTC times"))
        if (until - since).days > 92:
            return json_reply(400, error_body(400, "INVALID_DATE_RANGE", "The window may span at most 3 months"))
        with self._lock:
            items = [t for t in account.completed if since <= parse_stamp(t["completed_at"]) <= until]
        return page(req, items, "items")

    def _exchange_code(self, req: RecordedRequest) -> Reply:
        fields = form_or_json(req)
        if fields.get("client_id") != self.client_id or fields.get("client_secret") != self.client_secret:
            return json_reply(401, {"error": "invalid_client"})
        with self._lock:
            token = self._codes.pop(fields.get("code", ""), None)
        if token is None:
            return json_reply(400, {"error": "invalid_grant"})
        self.add_account(token)
        return json_reply(200, {"access_token": token, "token_type": "Bearer"})

    def _revoke(self, req: RecordedRequest) -> Reply:
        if req.method == "POST":
            client_id, client_secret = basic_auth(req.headers.get("authorization", ""))
            token = form_or_json(req).get("token", "")
        else:
            client_id, client_secret = req.param("client_id"), req.param("client_secret")
            token = req.param("access_token") or ""
        if client_id != self.client_id or client_secret != self.client_secret:
            return json_reply(401, {"error": "invalid_client"})
        with self._lock:
            self.revoked.append(token)
            self._rejected[token] = 401
        return 200, {"Content-Length": "0"}, b""


def _handler_for(fake: FakeTodoist) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def _handle(self) -> None:
            parts = urlsplit(self.path)
            body = self.read_body()
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = RecordedRequest(self.command, parts.path, parse_qs(parts.query), headers, body, time.monotonic())
            script = fake._record(request)
            if script is not None and script.delay_s and not fake.pause(script.delay_s):
                return
            status, out_headers, payload = (
                script.reply() if script is not None and not script.passthrough else fake._answer(request)
            )
            self.send(status, out_headers, payload)

        do_GET = do_POST = do_DELETE = do_PUT = _handle

    return Handler
