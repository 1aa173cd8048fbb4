"""Reads of the candidate pool (served from the cache; a saved or deleted pool is forgotten there at once)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.cache import cache
from django.db.models import Exists
from django.utils import timezone

from generation.cache_keys import pool_key
from generation.candidates import TipCandidate
from generation.models import CandidatePool
from tipengine.caching import as_rows, cache_get, from_rows


def fresh_pool(*, user: User) -> list[TipCandidate] | None:
    """Return the user's unexpired LLM candidates (possibly empty), or None when there is no fresh pool.

    A fresh pool is cached until it expires: serving reads it on every call, and it changes only when a
    refresh saves a new one (generation/apps.py forgets the cached copy then).
    """
    now = timezone.now()
    key = pool_key(user.pk)
    cached: tuple[datetime, tuple[tuple[Any, ...], ...]] | None = cache_get(key)
    if cached is None:
        pool = CandidatePool.objects.filter(user=user, expires_at__gt=now).only("candidates", "expires_at").first()
        if pool is None:
            return None
        cached = (pool.expires_at, as_rows(pool.tip_candidates()))  # plain tuples: cheaper to read than pickled objects
        cache.set(key, cached, timeout=max(1, math.ceil((pool.expires_at - now).total_seconds())))
    expires_at, rows = cached
    return from_rows(TipCandidate, rows) if expires_at > now else None


def pools_due_for_refresh(*, now: datetime, horizon: timedelta, active: Exists, limit: int) -> list[int]:
    """Return ids of active users whose pool expires within `horizon` (soonest first, at most `limit`).

    `active` is an `Exists` correlated on `OuterRef("user_id")`: the caller (the recommender, which serves the
    tips) says who counts as active, so generation needs no knowledge of how tips are served.
    """
    return list(
        CandidatePool.objects.filter(expires_at__lt=now + horizon)
        .filter(active)
        .order_by("expires_at")
        .values_list("user_id", flat=True)[:limit]
    )
