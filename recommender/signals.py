"""Receivers that turn other apps' events into rewards and pool refreshes."""

from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from generation.services import pool_forget
from recommender.services.rewards import tips_credit_completion
from recommender.tasks import refresh_candidates
from tipengine.background import enqueue


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


def on_task_source_changed(*, user_id: int, connected: bool, **_: Any) -> None:
    """integrations.signals.task_source_changed: the pool made from the old tasks goes at once, and a connected
    user's new pool is generated in the background right away, so their first tips have LLM tips.
    """
    pool_forget(user_id=int(user_id))
    if connected:
        enqueue(refresh_candidates, int(user_id))
