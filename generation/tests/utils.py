"""Small builders shared by generation tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from generation.context import PromptContext, build_context
from integrations.todoist.types import TodoistTask

TODAY = date(2026, 3, 10)
NOW = datetime.fromisoformat("2026-03-10T12:00:00+00:00")


def task(
    task_id: str, content: str = "", *, priority: int = 1, due_in_days: int | None = None, **extra: Any
) -> TodoistTask:
    """A Todoist task due `due_in_days` from TODAY (negative: overdue; None: no date)."""
    due = TODAY + timedelta(days=due_in_days) if due_in_days is not None else None
    return TodoistTask(id=task_id, content=content or f"Task {task_id}", priority=priority, due_date=due, **extra)


SAMPLE_TASKS = [
    task("101", "Write the quarterly report", priority=4, due_in_days=-2),
    task("102", "Reply to the landlord", priority=2, due_in_days=0),
    task("103", "Book a dentist appointment", priority=1),
    task("104", "Plan the team offsite", priority=3, due_in_days=3),
]


def sample_context(**kwargs: Any) -> PromptContext:
    return build_context(tasks=kwargs.pop("tasks", SAMPLE_TASKS), tz="UTC", now=NOW, **kwargs)
