"""Receivers that turn other apps' events into rewards."""

from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from recommender.tasks import credit_task_completion
from tipengine.background import enqueue


def on_task_completed(*, user_id: int, task_id: str, completed_at: datetime | None = None, **_: Any) -> None:
    """integrations.signals.task_completed: credit the completion to the tips that named the task, in the background.

    Delivering the same completion twice is harmless: the crediting finalizes each tip at most once.
    """
    completed_at = completed_at or timezone.now()
    if timezone.is_naive(completed_at):
        completed_at = completed_at.replace(tzinfo=UTC)
    enqueue(credit_task_completion, int(user_id), str(task_id), completed_at.isoformat())
