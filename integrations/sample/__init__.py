"""The bundled SAMPLE task set the embedded demo user reads (tasks.json); due dates are relative to today."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from integrations.todoist.types import TodoistTask

SAMPLE_FILE = Path(__file__).with_name("tasks.json")
SAMPLE_ID_PREFIX = "sample-"  # every sample task id starts with it: sample data is never mistaken for real


@cache
def _raw() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(SAMPLE_FILE.read_text(encoding="utf-8"))["tasks"])


def _offset(today: date, days: int | None) -> date | None:
    return None if days is None else today + timedelta(days=days)


def sample_tasks(*, today: date) -> list[TodoistTask]:
    """Return the sample tasks with due dates placed around `today` (some overdue, some today, some later)."""
    out = []
    for raw in _raw():
        due = _offset(today, raw.get("due_in_days"))
        due_time = raw.get("due_time")
        out.append(
            TodoistTask(
                id=raw["id"],
                content=raw["content"],
                description=raw.get("description", ""),
                priority=raw.get("priority", 1),
                due_date=due,
                # A floating time (naive): "11:00 wherever the user is", as Todoist's floating due times.
                due_datetime=datetime.combine(due, time.fromisoformat(due_time)) if due and due_time else None,
                is_recurring=bool(raw.get("recurring")),
                deadline=_offset(today, raw.get("deadline_in_days")),
                duration_minutes=raw.get("duration_minutes"),
                labels=tuple(raw.get("labels", ())),
                project_id=raw.get("project_id"),
                added_at=datetime.combine(today - timedelta(days=10), time(9, 0), tzinfo=UTC),
            )
        )
    return out


def is_sample_task_id(task_id: str) -> bool:
    """Return True for the id of a bundled sample task."""
    return task_id.startswith(SAMPLE_ID_PREFIX)
