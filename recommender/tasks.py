"""Celery tasks for learning and pool refreshes: thin wrappers that take ids and call a service."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from generation.errors import GenerationError
from generation.selectors import pools_due_for_refresh
from recommender.models import PolicyEvaluation
from recommender.selectors.history import served_since
from recommender.services.contextual import policy_model_train
from recommender.services.pools import tip_pool_refresh
from recommender.services.rewards import rewards_finalize_expired
from recommender.services.rollup import tip_score_days_refresh
from tipengine.background import enqueue

logger = logging.getLogger(__name__)


@shared_task(name="recommender.finalize_rewards", ignore_result=True)
def finalize_rewards() -> int:
    """Close every expired reward window (periodic, from beat); returns how many tips were finalized."""
    return rewards_finalize_expired()


@shared_task(name="recommender.refresh_tip_score_days", ignore_result=True)
def refresh_tip_score_days() -> int:
    """Roll up the days whose tips all became final (periodic, from beat); returns the rollup rows written."""
    refreshed = tip_score_days_refresh()
    return refreshed.rows if refreshed else 0


@shared_task(name="recommender.refresh_candidates", ignore_result=True)
def refresh_candidates(user_id: int, fresh_for_s: float = 0.0) -> str:
    """Refresh one user's candidate pool; returns "ok" or the error code (never raises on gateway trouble).

    `fresh_for_s` > 0 regenerates a pool that would expire within that many seconds (refresh-ahead).
    """
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return "no_user"
    try:
        candidates = tip_pool_refresh(user=user, fresh_for_s=fresh_for_s)
    except GenerationError as exc:
        # Expected outcomes (gateway down, breaker open, another refresh running): the old pool stays.
        logger.warning("refresh_candidates user=%s skipped: %s (%s)", user_id, exc.code, exc.message)
        return exc.code
    logger.info("refresh_candidates user=%s ok: %d candidates", user_id, len(candidates))
    return "ok"


@shared_task(name="recommender.refresh_expiring_pools", ignore_result=True)
def refresh_expiring_pools() -> int:
    """Queue a refresh for active users whose pool is about to expire, so requests find it fresh; returns how many."""
    now, ahead_s = timezone.now(), settings.GENERATION_REFRESH_AHEAD_S
    user_ids = pools_due_for_refresh(
        now=now,
        horizon=timedelta(seconds=ahead_s),
        active=served_since(since=now - timedelta(days=settings.GENERATION_ACTIVE_DAYS)),
        limit=settings.GENERATION_REFRESH_BATCH,
    )
    for user_id in user_ids:
        enqueue(refresh_candidates, user_id, ahead_s)
    return len(user_ids)


@shared_task(name="recommender.train_policy_model", ignore_result=True)
def train_policy_model() -> int | None:
    """Train the next contextual model version from newly finalized rewards (periodic); returns its id."""
    version = policy_model_train()
    return version.pk if version else None


@shared_task(name="recommender.run_policy_evaluation", ignore_result=True)
def run_policy_evaluation(evaluation_id: int) -> str:
    """Run one queued offline evaluation (the admin's button); returns its status ("missing": no such row)."""
    # Imported here: that service queues this task, so it imports this module first.
    from recommender.services.evaluations import policy_evaluation_perform

    evaluation = PolicyEvaluation.objects.filter(pk=evaluation_id).first()
    if evaluation is None:
        return "missing"
    return policy_evaluation_perform(evaluation=evaluation).status
