"""Celery tasks for generation: thin wrappers that take ids and call a service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.contrib.auth import get_user_model

from generation.errors import GenerationError
from generation.services import pool_refresh

logger = logging.getLogger(__name__)


@shared_task(name="generation.refresh_candidates", ignore_result=True)
def refresh_candidates(user_id: int) -> str:
    """Refresh one user's candidate pool; returns "ok" or the error code (never raises on gateway trouble)."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return "no_user"
    try:
        candidates = pool_refresh(user=user)
    except GenerationError as exc:
        # Expected outcomes (gateway down, breaker open, another refresh running): the old pool stays.
        logger.warning("refresh_candidates user=%s skipped: %s (%s)", user_id, exc.code, exc.message)
        return exc.code
    logger.info("refresh_candidates user=%s ok: %d candidates", user_id, len(candidates))
    return "ok"
