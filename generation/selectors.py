"""Reads of the candidate pool."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef
from django.utils import timezone

from generation.models import CandidatePool
from recommender.candidates import TipCandidate
from recommender.models import TipRequest


def fresh_pool(*, user: AbstractBaseUser) -> list[TipCandidate] | None:
    """Return the user's unexpired LLM candidates (possibly empty), or None when there is no fresh pool."""
    pool = CandidatePool.objects.filter(user=user, expires_at__gt=timezone.now()).first()
    return None if pool is None else pool.tip_candidates()


def pools_due_for_refresh(*, now: datetime, horizon: timedelta, active_since: datetime, limit: int) -> list[int]:
    """Return ids of recently served users whose pool expires within `horizon` (soonest first, at most `limit`)."""
    recently_served = TipRequest.objects.filter(user_id=OuterRef("user_id"), created_at__gte=active_since)
    return list(
        CandidatePool.objects.filter(expires_at__lt=now + horizon)
        .filter(Exists(recently_served))
        .order_by("expires_at")
        .values_list("user_id", flat=True)[:limit]
    )
