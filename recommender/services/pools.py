"""Writes: refresh a user's generated tip pool with what only the recommender knows (feedback, activity)."""

from __future__ import annotations

import logging

from django.contrib.auth.models import User
from django.db import DatabaseError

from generation.candidates import TipCandidate
from generation.services import pool_refresh
from integrations.todoist.types import TodoistTask
from recommender.selectors.history import recent_feedback_by_kind

logger = logging.getLogger(__name__)


def tip_pool_refresh(
    *,
    user: User,
    tasks: list[TodoistTask] | None = None,
    timeout_s: float | None = None,
    fresh_for_s: float = 0.0,
) -> list[TipCandidate]:
    """Refresh the user's LLM pool (generation.services.pool_refresh), steered by their recent feedback."""
    return pool_refresh(
        user=user, feedback=_recent_feedback(user), tasks=tasks, timeout_s=timeout_s, fresh_for_s=fresh_for_s
    )


def _recent_feedback(user: User) -> dict[str, dict[str, int]]:
    # Feedback only steers the prompt: without it (a database hiccup) we still generate.
    try:
        return recent_feedback_by_kind(user=user)
    except DatabaseError:
        logger.warning("generation: recent feedback unavailable for user %s", user.pk, exc_info=True)
        return {}
