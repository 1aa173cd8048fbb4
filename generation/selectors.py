"""Reads of the candidate pool."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from generation.models import CandidatePool
from recommender.candidates import TipCandidate


def fresh_pool(*, user: AbstractBaseUser) -> list[TipCandidate] | None:
    """Return the user's unexpired LLM candidates (possibly empty), or None when there is no fresh pool."""
    pool = CandidatePool.objects.filter(user=user, expires_at__gt=timezone.now()).first()
    return None if pool is None else pool.tip_candidates()
