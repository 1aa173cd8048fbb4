"""Wire task -> TodoistTask: the SDK's typed models do the parsing; we add tolerance and our own shape."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from todoist_api_python.models import Task

from integrations.todoist.errors import TodoistProtocolError
from integrations.todoist.types import TodoistTask

logger = logging.getLogger(__name__)

# Fields the SDK's Task requires but tipengine does not use: a task missing them is still a task to us.
_PLACEHOLDER_STAMP = "1970-01-01T00:00:00.000000Z"
_SDK_DEFAULTS: dict[str, Any] = {
    "description": "",
    "project_id": "",
    "section_id": None,
    "parent_id": None,
    "labels": [],
    "priority": 1,
    "due": None,
    "deadline": None,
    "duration": None,
    "is_collapsed": False,
    "child_order": 0,
    "responsible_uid": None,
    "assigned_by_uid": None,
    "completed_at": None,
    "added_by_uid": "",
    "added_at": _PLACEHOLDER_STAMP,
    "updated_at": _PLACEHOLDER_STAMP,
}
_MINUTES_PER = {"minute": 1, "day": 24 * 60}


@dataclass(frozen=True, slots=True)
class CompletedTask:
    """A task completion as Todoist reports it (completed tasks endpoint)."""

    task_id: str
    completed_at: datetime
    content: str = ""


def _sdk_task(raw: Any) -> Task | None:
    """Parse with the SDK's model; None (logged, never with task content) when the task is unreadable."""
    if not isinstance(raw, dict):
        raise TodoistProtocolError("Todoist answered a task that is not a JSON object.")
    task_id = raw.get("id")
    if not isinstance(task_id, str | int) or isinstance(task_id, bool) or not isinstance(raw.get("content"), str):
        logger.warning("Skipping a Todoist task without an id or content")
        return None
    present = {k: v for k, v in raw.items() if v is not None}  # a null field takes the SDK's default
    try:
        return Task.from_dict({**_SDK_DEFAULTS, **present, "id": str(task_id)})
    except Exception as exc:  # dataclass-wizard raises several unrelated types for one bad field
        logger.warning("Skipping Todoist task %s that could not be read: %s", task_id, type(exc).__name__)
        return None


def _day(value: date | datetime | None) -> date | None:
    return value.date() if isinstance(value, datetime) else value


def _due_datetime(sdk: Task, raw: dict[str, Any]) -> datetime | None:
    if sdk.due is not None and isinstance(sdk.due.date, datetime):
        return sdk.due.date  # aware for a fixed time (…Z), naive for a floating time (the user's local time)
    extra = (raw.get("due") or {}).get("datetime")  # REST-v2-style `due.datetime`, still seen in the wild
    if isinstance(extra, str):
        try:
            return datetime.fromisoformat(extra)
        except ValueError:
            return None
    return None


def task_from_api(raw: Any) -> TodoistTask | None:
    """Return the TodoistTask for one task object of API v1, or None when it is unreadable (skipped)."""
    sdk = _sdk_task(raw)
    if sdk is None:
        return None
    duration = None
    if sdk.duration is not None:
        duration = sdk.duration.amount * _MINUTES_PER.get(sdk.duration.unit, 1)
    return TodoistTask(
        id=sdk.id,
        content=sdk.content,
        description=sdk.description or "",
        priority=min(max(int(sdk.priority or 1), 1), 4),
        due_date=_day(sdk.due.date) if sdk.due is not None else None,
        due_datetime=_due_datetime(sdk, raw),
        is_recurring=bool(sdk.due and sdk.due.is_recurring),
        deadline=_day(sdk.deadline.date) if sdk.deadline is not None else None,
        duration_minutes=duration,
        labels=tuple(sdk.labels or ()),
        project_id=sdk.project_id or None,
        added_at=sdk.created_at if raw.get("added_at") or raw.get("created_at") else None,
        checked=bool(raw.get("checked")) or sdk.completed_at is not None,
    )


def completion_from_api(raw: Any) -> CompletedTask | None:
    """Return the completion in one item of the completed-tasks answer, or None when unreadable."""
    sdk = _sdk_task(raw)
    if sdk is None or sdk.completed_at is None:
        if sdk is not None:
            logger.warning("Skipping completed Todoist task %s without completed_at", sdk.id)
        return None
    return CompletedTask(task_id=sdk.id, completed_at=sdk.completed_at, content=sdk.content)
