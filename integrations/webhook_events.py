"""Reading a signed Todoist webhook body defensively: what it reports, or the outcome that refuses it."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tipengine.jsonsafe import json_storable

# Todoist's events nest four levels or so; anything far deeper is not an event we could act on, and a deep
# payload would only cost recursion in every later reader (json_storable, psycopg's dumps, jsonb).
MAX_DEPTH = 32
TASK_ID_MAX = 64  # TaskCompletion.task_id
# A completion time outside these bounds is not a completion we can credit: the ORM converts to UTC and the
# reward windows add and subtract hours, both of which overflow next to datetime's year 1 and year 9999.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class Refused(Exception):
    """A signed delivery we store but cannot act on; `outcome` is what its row records."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


@dataclass(frozen=True, slots=True)
class Completion:
    task_id: str
    completed_at: datetime


def _no_constant(name: str) -> None:
    """NaN, Infinity and -Infinity are not JSON, and jsonb refuses them: they read as null."""
    return None


def _finite_or_null(text: str) -> float | None:
    value = float(text)  # 1e400 reads as inf, which jsonb refuses too
    return value if math.isfinite(value) else None


def _depth(value: Any) -> int:
    """The nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def event_parse(body: bytes) -> dict[str, Any]:
    """The storable payload of a webhook body; Refused("unreadable") when it is not a readable Todoist event.

    Never raises anything else: a body nested thousands deep, a number too long for int() or invalid UTF-8
    are all just unreadable.
    """
    try:
        payload = json.loads(body, parse_constant=_no_constant, parse_float=_finite_or_null)
    except (ValueError, RecursionError):
        raise Refused("unreadable") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("event_name"), str) or _depth(payload) > MAX_DEPTH:
        raise Refused("unreadable")
    return json_storable(payload)


def _stamp(value: Any) -> datetime | None:
    """The time `value` names, in UTC (a naive one is read as UTC); None when absent; Refused when unusable."""
    if value is None:
        return None
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            raise Refused("refused_time")
        if timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=UTC)
        parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # 9999-12-31T23:59:59-23:59 is in year 10000 once in UTC
        raise Refused("refused_time") from None
    if not EARLIEST <= parsed < LATEST:
        raise Refused("refused_time")
    return parsed


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def completion_of(payload: dict[str, Any]) -> Completion | None:
    """The completion a payload reports (item:completed, or a recurring task's item:updated completing it).

    None when it reports none; Refused when it reports one we cannot record (a task id longer than the column,
    a time out of range), so such a delivery is closed at once instead of failing on every retry.
    """
    event = payload.get("event_name")
    data = _object(payload.get("event_data"))
    extra = _object(payload.get("event_data_extra"))
    completing = event == "item:completed" or (
        event == "item:updated" and extra.get("update_intent") == "item_completed"
    )
    task_id = data.get("id")
    if not completing or not isinstance(task_id, str | int) or isinstance(task_id, bool):
        return None
    if len(str(task_id)) > TASK_ID_MAX:
        raise Refused("refused_task_id")
    # A recurring task stays open (moved to its next date): the event time is the completion time.
    when = _stamp(data.get("completed_at")) or _stamp(payload.get("triggered_at")) or timezone.now()
    return Completion(task_id=str(task_id), completed_at=when)
