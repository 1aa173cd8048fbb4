"""Assemble the user's signals into a bounded `PromptContext` for the tip prompt."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import timezone

from generation.candidates import TipKind
from integrations.todoist.types import TodoistTask

logger = logging.getLogger(__name__)

# Per-task text is cut so one huge description cannot crowd out the rest of the list.
MAX_CONTENT_CHARS = 200
MAX_DESCRIPTION_CHARS = 200
MAX_LABELS = 5


@dataclass(frozen=True)
class ContextTask:
    """One task as the prompt shows it."""

    id: str
    content: str
    description: str
    priority: int
    due: str | None
    overdue_days: int
    deadline: str | None
    duration_minutes: int | None
    labels: tuple[str, ...]
    is_recurring: bool

    def as_prompt_dict(self) -> dict[str, object]:
        """The compact JSON object the model reads; empty fields are left out."""
        data: dict[str, object] = {"id": self.id, "content": self.content, "priority": self.priority}
        optional = {
            "description": self.description,
            "due": self.due,
            "overdue_days": self.overdue_days,
            "deadline": self.deadline,
            "duration_minutes": self.duration_minutes,
            "labels": list(self.labels),
            "recurring": self.is_recurring,
        }
        data.update({key: value for key, value in optional.items() if value})
        return data


@dataclass(frozen=True)
class ContextCounts:
    open: int
    overdue: int
    due_today: int
    not_shown: int  # open tasks left out to keep the prompt bounded


@dataclass(frozen=True)
class PromptContext:
    """The user's signals for one generation: tasks most urgent first, counts, date, feedback."""

    local_date: date
    timezone: str
    tasks: tuple[ContextTask, ...]
    counts: ContextCounts
    feedback: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def task_ids(self) -> frozenset[str]:
        """The ids the model was shown: the only ids a candidate may name."""
        return frozenset(task.id for task in self.tasks)

    def overdue_days(self, task_id: str) -> int:
        """Return how many days the given shown task is overdue (0 if unknown or not overdue)."""
        return next((task.overdue_days for task in self.tasks if task.id == task_id), 0)

    def priority(self, task_id: str) -> int:
        """Return the Todoist priority of the given shown task (0 if unknown)."""
        return next((task.priority for task in self.tasks if task.id == task_id), 0)

    def fingerprint(self) -> str:
        """A stable hash of everything the prompt would show: same fingerprint, same prompt."""
        payload = {
            "date": self.local_date.isoformat(),
            "tz": self.timezone,
            "tasks": [task.as_prompt_dict() for task in self.tasks],
            "counts": [self.counts.open, self.counts.overdue, self.counts.due_today, self.counts.not_shown],
            "feedback": self.feedback,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def resolve_timezone(tz: str | None) -> ZoneInfo:
    """The user's zone, falling back to settings.TIME_ZONE when missing or unknown."""
    name = tz or settings.TIME_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("generation.context: unknown time zone %r, using %s", name, settings.TIME_ZONE)
        return ZoneInfo(settings.TIME_ZONE)


def _due_at(task: TodoistTask, zone: ZoneInfo) -> datetime | None:
    # Todoist's "floating" due times carry no zone: they mean the user's local wall-clock time.
    due = task.due_datetime
    if due is not None and due.tzinfo is None:
        return due.replace(tzinfo=zone)
    return due


def _is_overdue(task: TodoistTask, today: date, now: datetime) -> bool:
    due_at = _due_at(task, now.tzinfo)  # type: ignore[arg-type]
    if due_at is not None:
        return due_at < now
    return task.due_date is not None and task.due_date < today


def _urgency_key(task: TodoistTask, today: date, now: datetime) -> tuple[int, int, date, str]:
    # Overdue first, then Todoist priority (4 is most urgent), then due date (undated last).
    return (0 if _is_overdue(task, today, now) else 1, -task.priority, task.due_date or date.max, task.id)


def _context_task(task: TodoistTask, today: date, now: datetime, zone: ZoneInfo) -> ContextTask:
    due_at = _due_at(task, zone)
    due: str | None
    if due_at is not None:
        due = due_at.astimezone(zone).isoformat(timespec="minutes")
    else:
        due = task.due_date.isoformat() if task.due_date else None
    return ContextTask(
        id=str(task.id),
        content=task.content.strip()[:MAX_CONTENT_CHARS],
        description=task.description.strip()[:MAX_DESCRIPTION_CHARS],
        priority=task.priority,
        due=due,
        overdue_days=task.overdue_days(today) if _is_overdue(task, today, now) else 0,
        deadline=task.deadline.isoformat() if task.deadline else None,
        duration_minutes=task.duration_minutes,
        labels=tuple(task.labels[:MAX_LABELS]),
        is_recurring=task.is_recurring,
    )


def _clean_feedback(feedback: Mapping[str, Mapping[str, int]] | None) -> dict[str, dict[str, int]]:
    kinds = set(TipKind.values)
    return {
        kind: {str(action): int(count) for action, count in sorted(actions.items()) if int(count) > 0}
        for kind, actions in sorted((feedback or {}).items())
        if kind in kinds and actions
    }


def build_context(
    *,
    tasks: Iterable[TodoistTask],
    feedback: Mapping[str, Mapping[str, int]] | None = None,
    tz: str | None = None,
    now: datetime | None = None,
    max_tasks: int | None = None,
    max_chars: int | None = None,
) -> PromptContext:
    """Build the prompt context: open tasks sorted by urgency, capped by count and characters."""
    zone = resolve_timezone(tz)
    now = (now or timezone.now()).astimezone(zone)
    today = now.date()
    max_tasks = settings.GENERATION_CONTEXT_MAX_TASKS if max_tasks is None else max_tasks
    max_chars = settings.GENERATION_CONTEXT_MAX_CHARS if max_chars is None else max_chars

    open_tasks = sorted((t for t in tasks if not t.checked), key=lambda t: _urgency_key(t, today, now))
    shown: list[ContextTask] = []
    used_chars = 0
    for task in open_tasks[:max_tasks]:
        item = _context_task(task, today, now, zone)
        size = len(json.dumps(item.as_prompt_dict(), ensure_ascii=False))
        if used_chars + size > max_chars:
            break  # the list is sorted, so what is left out is the least urgent
        shown.append(item)
        used_chars += size

    overdue = sum(1 for t in open_tasks if _is_overdue(t, today, now))
    due_today = sum(1 for t in open_tasks if t.due_date == today and not _is_overdue(t, today, now))
    return PromptContext(
        local_date=today,
        timezone=str(zone.key),
        tasks=tuple(shown),
        counts=ContextCounts(
            open=len(open_tasks), overdue=overdue, due_today=due_today, not_shown=len(open_tasks) - len(shown)
        ),
        feedback=_clean_feedback(feedback),
    )
