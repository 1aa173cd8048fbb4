"""How the fake Todoist reads requests and writes answers: recorded requests, scripts, JSON replies, cursor pages."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from testsupport.todoist.todoist_payloads import error_body

# An answer as the handler sends it: status, headers, body.
Reply = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received (headers lower-cased, `at` from time.monotonic())."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def token(self) -> str | None:
        """Return the bearer token the request carried, if any."""
        auth = self.headers.get("authorization", "")
        return auth[len("Bearer ") :] if auth.startswith("Bearer ") else None

    def param(self, name: str) -> str | None:
        """Return the first value of query parameter `name`."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Script:
    """A scripted answer for requests whose path starts with `path` (and whose method matches, if set)."""

    path: str
    status: int = 200
    json_body: Any = None
    raw_body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    times: int | None = 1  # None: forever
    method: str | None = None
    passthrough: bool = False  # only delay, then answer normally

    def reply(self) -> Reply:
        """The scripted answer (only delaying scripts are passed through to the normal one)."""
        if self.raw_body is not None:
            return self.status, {"Content-Type": "application/json", **self.headers}, self.raw_body
        if self.json_body is not None:
            status, headers, body = json_reply(self.status, self.json_body)
            return status, {**headers, **self.headers}, body
        phrase = HTTPStatus(self.status).phrase
        extra = {"retry_after": int(self.headers["Retry-After"])} if "Retry-After" in self.headers else {}
        envelope = error_body(self.status, phrase.upper().replace(" ", "_"), phrase, **extra)
        status, headers, body = json_reply(self.status, envelope)
        return status, {**headers, **self.headers}, body


def json_reply(status: int, payload: Any) -> Reply:
    """`payload` as a JSON answer with `status`."""
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def page(req: RecordedRequest, items: list[dict[str, Any]], key: str) -> Reply:
    """One cursor page of `items` under `key`, as Todoist pages its lists (`limit` 1..200, default 50)."""
    try:
        limit = int(req.param("limit") or 50)
        offset = _decode_cursor(req.param("cursor"))
    except ValueError:
        return json_reply(400, error_body(400, "INVALID_ARGUMENT", "Invalid limit or cursor"))
    if not 1 <= limit <= 200:
        return json_reply(400, error_body(400, "INVALID_ARGUMENT", "limit must be between 1 and 200"))
    chunk = items[offset : offset + limit]
    more = offset + limit < len(items)
    return json_reply(200, {key: chunk, "next_cursor": _encode_cursor(offset + limit) if more else None})


def form_or_json(req: RecordedRequest) -> dict[str, str]:
    """The fields of a form or JSON object body (empty when it is neither)."""
    if req.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(req.body or b"{}")
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return {k: v[0] for k, v in parse_qs(req.body.decode(errors="replace")).items()}


def basic_auth(header: str) -> tuple[str | None, str | None]:
    """The (user, password) of a Basic Authorization header, or (None, None)."""
    if not header.startswith("Basic "):
        return None, None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, binascii.Error):
        return None, None
    return user, password


def parse_stamp(value: str | None) -> datetime:
    """An ISO 8601 time (naive read as UTC); ValueError when missing or malformed."""
    if not value:
        raise ValueError("missing")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(cursor.encode()))["o"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ValueError("bad cursor") from exc
    if not isinstance(offset, int) or offset < 0:
        raise ValueError("bad cursor")
    return offset
