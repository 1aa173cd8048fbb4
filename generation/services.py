"""Writes: refresh a user's pool of LLM tip candidates."""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from generation.breaker import gateway_breaker
from generation.cache_keys import pool_forgotten_key, pool_refresh_lock_key
from generation.candidates import TipCandidate
from generation.context import PromptContext, build_context, resolve_timezone
from generation.errors import CircuitOpen, NoTaskContext, RefreshInProgress, StaleTaskSource
from generation.models import CandidatePool, candidate_to_dict
from generation.prompting import load_template
from generation.tip_generator import GenerationResult, generate_tips
from integrations import errors as integration_errors
from integrations.selectors import user_time_zone
from integrations.services.open_tasks import open_tasks_fetch
from integrations.todoist.types import TodoistTask

logger = logging.getLogger(__name__)

# The refresh lock outlives the generation budget by this much, then frees itself (crashed worker).
LOCK_MARGIN_S = 30


def pool_refresh(
    *,
    user: User,
    feedback: Mapping[str, Mapping[str, int]] | None = None,
    tasks: list[TodoistTask] | None = None,
    timeout_s: float | None = None,
    tz: str | None = None,
    fresh_for_s: float = 0.0,
) -> list[TipCandidate]:
    """Generate and store the user's candidate pool; return its candidates.

    Idempotent: while the stored pool is fresh and was made from the same context and prompt, it is
    returned without calling the gateway (a refresh-ahead passes `fresh_for_s` so that a pool expiring
    within that many seconds is regenerated all the same). Safe under concurrency: one refresh per user runs at a time
    (a cache lock; others get RefreshInProgress) and an older generation never overwrites a newer one.
    `feedback` (recent actions per tip kind) comes from the caller: generation knows nothing of how tips were
    received. Raises GenerationError subclasses; a failure leaves the stored pool as it was.
    """
    timeout_s = settings.GENERATION_TIMEOUT_S if timeout_s is None else timeout_s
    deadline = time.monotonic() + timeout_s
    if gateway_breaker().is_open():  # before spending time on Todoist for nothing
        raise CircuitOpen("The model gateway is skipped after repeated failures.", details={"user_id": user.pk})
    if tasks is None:
        tasks = _open_tasks(user, budget_s=timeout_s)
    tz = tz or user_time_zone(user_id=user.pk)  # None (unknown): settings.TIME_ZONE
    context = build_context(tasks=tasks, feedback=feedback, tz=tz)
    fingerprint = context.fingerprint()
    prompt_version = load_template().version

    fresh_until = timezone.now() + timedelta(seconds=fresh_for_s)
    reusable = _reusable_pool(user, fingerprint, prompt_version, fresh_until)
    if reusable is not None:
        return reusable.tip_candidates()
    lock_key, token = pool_refresh_lock_key(user.pk), uuid.uuid4().hex
    if not cache.add(lock_key, token, timeout=math.ceil(timeout_s) + LOCK_MARGIN_S):
        raise RefreshInProgress("This user's tip pool is being refreshed.", details={"user_id": user.pk})
    try:
        # Checked again under the lock: a refresh that held it a moment ago may have done the work.
        reusable = _reusable_pool(user, fingerprint, prompt_version, fresh_until)
        if reusable is not None:
            return reusable.tip_candidates()
        generated_at = timezone.now()
        result = generate_tips(context=context, timeout_s=max(deadline - time.monotonic(), 0.0))
        pool = _store_pool(
            user=user, result=result, context=context, fingerprint=fingerprint, generated_at=generated_at
        )
    finally:
        if cache.get(lock_key) == token:  # never free a lock that expired and was taken by another refresh
            cache.delete(lock_key)
    logger.info(
        "pool refreshed user=%s candidates=%d model=%s prompt=%s",
        user.pk,
        len(pool.candidates),
        pool.llm_model,
        pool.prompt_version,
    )
    return pool.tip_candidates()


def pool_forget(*, user_id: int) -> None:
    """Forget the user's pool: its tasks came from a source they left (disconnected, or another source now).

    A refresh that started before this (from the old tasks) will not store its result.
    """
    now = timezone.now()
    cache.set(
        pool_forgotten_key(user_id), now.timestamp(), timeout=math.ceil(settings.GENERATION_TIMEOUT_S) + LOCK_MARGIN_S
    )
    deleted, _ = CandidatePool.objects.filter(user_id=user_id).delete()
    logger.info("pool forgotten user=%s (task source changed; %s row)", user_id, deleted)


def pool_expiry(*, generated_at: datetime, tz: str | None = None) -> datetime:
    """When a pool made now goes stale: after the TTL, or at the user's local midnight if sooner."""
    zone = resolve_timezone(tz)
    local = generated_at.astimezone(zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return min(generated_at + timedelta(seconds=settings.GENERATION_POOL_TTL_S), midnight)


def _reusable_pool(user: User, fingerprint: str, prompt_version: str, fresh_until: datetime) -> CandidatePool | None:
    pool = CandidatePool.objects.filter(user=user).first()
    if (
        pool
        and pool.is_fresh(fresh_until)
        and pool.context_fingerprint == fingerprint
        and pool.prompt_version == prompt_version
    ):
        return pool
    return None


def _store_pool(
    *,
    user: User,
    result: GenerationResult,
    context: PromptContext,
    fingerprint: str,
    generated_at: datetime,
) -> CandidatePool:
    values: dict[str, Any] = {
        "candidates": [candidate_to_dict(c) for c in result.candidates],
        "llm_model": result.llm_model,
        "prompt_version": result.prompt_version,
        "context_fingerprint": fingerprint,
        "generated_at": generated_at,
        "expires_at": pool_expiry(generated_at=generated_at, tz=context.timezone),
        "attempts": result.attempts,
        "dropped": dict(result.dropped),
    }
    forgotten_at = cache.get(pool_forgotten_key(user.pk))
    if forgotten_at is not None and generated_at.timestamp() < forgotten_at:
        # Made from the tasks of a source the user has left since: serving it would be wrong.
        raise StaleTaskSource("The user's task source changed during the refresh.", details={"user_id": user.pk})
    with transaction.atomic():
        pool, created = CandidatePool.objects.select_for_update().get_or_create(user=user, defaults=values)
        if not created and pool.generated_at <= generated_at:
            for name, value in values.items():
                setattr(pool, name, value)
            pool.save(update_fields=list(values))
    return pool


def _open_tasks(user: User, *, budget_s: float) -> list[TodoistTask]:
    try:
        return open_tasks_fetch(user=user, budget_s=budget_s)
    except integration_errors.TasksUnavailable as exc:
        raise NoTaskContext(f"The user's tasks cannot be read: {exc.reason}.", details={"reason": exc.reason}) from exc
