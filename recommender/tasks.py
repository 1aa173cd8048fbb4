"""Celery tasks for learning: thin wrappers that take ids and call a service."""

from datetime import datetime

from celery import shared_task

from recommender.services.rewards import rewards_finalize_expired, tips_credit_completion


@shared_task(name="recommender.finalize_rewards", ignore_result=True)
def finalize_rewards() -> int:
    """Close every expired reward window (periodic, from beat); returns how many tips were finalized."""
    return rewards_finalize_expired()


@shared_task(name="recommender.credit_task_completion", ignore_result=True)
def credit_task_completion(user_id: int, task_id: str, completed_at: str) -> int:
    """Credit one Todoist completion (ISO time) to the tips that named the task; returns how many.

    Kept for messages an older release queued: the receiver now credits in the sender's transaction (ADR 0061).
    """
    return len(
        tips_credit_completion(user_id=user_id, task_id=task_id, completed_at=datetime.fromisoformat(completed_at))
    )
