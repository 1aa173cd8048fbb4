"""Todoist wire payloads for tests: tasks and tz_info as API v1 sends them, signed webhook deliveries, errors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

_ids = itertools.count(1)


def next_id() -> int:
    """A process-wide counter, so fake ids never repeat across fakes and tests."""
    return next(_ids)


def fake_due(date: str, *, recurring: bool = False, timezone: str | None = None, string: str = "") -> dict[str, Any]:
    """Return a `due` object; `date` may be YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS or YYYY-MM-DDTHH:MM:SSZ."""
    return {"date": date, "timezone": timezone, "string": string or date, "lang": "en", "is_recurring": recurring}


def make_task(**overrides: Any) -> dict[str, Any]:
    """Return a task as API v1 returns it (every field present), with `overrides` applied."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    task: dict[str, Any] = {
        "id": f"fk{next_id():06d}",
        "user_id": "0",
        "project_id": "proj-inbox",
        "section_id": None,
        "parent_id": None,
        "content": "A task",
        "description": "",
        "labels": [],
        "priority": 1,
        "due": None,
        "deadline": None,
        "duration": None,
        "checked": False,
        "is_deleted": False,
        "is_collapsed": False,
        "child_order": 1,
        "day_order": -1,
        "added_by_uid": "0",
        "assigned_by_uid": None,
        "responsible_uid": None,
        "added_at": now,
        "updated_at": now,
        "completed_at": None,
        "note_count": 0,
    }
    task.update(overrides)
    return task


def tz_info(name: str) -> dict[str, Any]:
    """Todoist's `tz_info` for zone `name` now (an unknown name is reported as given, with a zero offset)."""
    try:
        now = datetime.now(ZoneInfo(name))
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        now = datetime.now(UTC)
    minutes = int(now.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    hours, mins = divmod(abs(minutes), 60)
    sign = "-" if minutes < 0 else "+"
    return {
        "timezone": name,
        "gmt_string": f"{sign}{hours:02d}:{mins:02d}",
        "hours": -hours if minutes < 0 else hours,
        "minutes": mins,
        "is_dst": int(bool(now.dst())),
    }


def sign_webhook_body(body: bytes, client_secret: str) -> str:
    """Return the X-Todoist-Hmac-SHA256 value: base64 of HMAC-SHA256 over the raw body."""
    return base64.b64encode(hmac.new(client_secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook_request(
    event_name: str,
    *,
    user_id: str,
    event_data: dict[str, Any],
    client_secret: str,
    event_data_extra: dict[str, Any] | None = None,
    delivery_id: str | None = None,
    triggered_at: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Return (raw body, headers) of a signed Todoist webhook delivery, as Todoist would POST it."""
    payload: dict[str, Any] = {
        "event_name": event_name,
        "user_id": user_id,
        "version": "10",
        "triggered_at": triggered_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "initiator": {"id": user_id, "email": "someone@example.org", "full_name": "Someone", "is_premium": False},
        "event_data": event_data,
    }
    if event_data_extra is not None:
        payload["event_data_extra"] = event_data_extra
    body = json.dumps(payload).encode()
    headers = {
        "User-Agent": "Todoist-Webhooks",
        "Content-Type": "application/json",
        "X-Todoist-Delivery-ID": delivery_id or str(uuid.uuid4()),
        "X-Todoist-Hmac-SHA256": sign_webhook_body(body, client_secret),
    }
    return body, headers


def error_body(status: int, tag: str, message: str, **extra: Any) -> dict[str, Any]:
    """Return Todoist's error envelope."""
    return {"error": message, "error_code": status * 10, "error_extra": extra, "error_tag": tag, "http_code": status}
