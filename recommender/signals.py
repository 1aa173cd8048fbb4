"""Receivers that turn other apps' events into rewards."""

from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from recommender.services.rewards import tips_credit_completion


def on_task_completed(*, user_id: int, task_id: str, completed_at: datetime | None = None, **_: Any) -> None:
    """integrations.signals.task_completed: credit the completion to the tips that named the task.

    In the sender's transaction, not in the background: the completion is recorded (and its webhook delivery
    marked done) only if the credit commits with it, and a credit that fails fails the sender, which retries.
    Delivering the same completion twice is harmless: the crediting finalizes each tip at most once.
    """
    completed_at = completed_at or timezone.now()
    if timezone.is_naive(completed_at):
        completed_at = completed_at.replace(tzinfo=UTC)
    tips_credit_completion(user_id=int(user_id), task_id=str(task_id), completed_at=completed_at)
