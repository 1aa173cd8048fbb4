"""Receivers that turn other apps' events into rewards and pool refreshes."""

from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from tipengine.background import enqueue


def on_task_completed(*, user_id: int, task_id: str, completed_at: datetime | None = None, **_: Any) -> None:
    """integrations.signals.task_completed: credit the completion to the tips that named the task, in the background.

    Delivering the same completion twice is harmless: the crediting finalizes each tip at most once.
    """
    from recommender.tasks import credit_task_completion

    completed_at = completed_at or timezone.now()
    if timezone.is_naive(completed_at):
        completed_at = completed_at.replace(tzinfo=UTC)
    enqueue(credit_task_completion, int(user_id), str(task_id), completed_at.isoformat())


def on_task_source_changed(*, user_id: int, connected: bool, **_: Any) -> None:
    """integrations.signals.task_source_changed: the pool made from the old tasks goes at once, and a connected
    user's new pool is generated in the background right away, so their first tips have LLM tips.
    """
    from generation.services import pool_forget
    from generation.tasks import refresh_candidates

    pool_forget(user_id=int(user_id))
    if connected:
        enqueue(refresh_candidates, int(user_id))
