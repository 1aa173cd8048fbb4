"""Reads over a user's served tips and their feedback."""

from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db.models import Count, Exists, OuterRef, Prefetch, QuerySet
from django.utils import timezone

from recommender.models import FeedbackEvent, TipRequest, TipScore
from recommender.services.stats import LEGACY_KIND


def tips_history(*, user: User) -> QuerySet[TipScore]:
    """Return the user's served tips, newest first, with their feedback events (two queries per page)."""
    events = FeedbackEvent.objects.order_by("created_at", "id").only(
        "id", "tip_id", "action", "created_at", "until", "reward"
    )
    return TipScore.objects.filter(user=user).order_by("-id").prefetch_related(Prefetch("events", queryset=events))


def recent_feedback_by_kind(*, user: User, days: int = 14) -> dict[str, dict[str, int]]:
    """Return how often the user gave each action to each tip kind in the last `days` days.

    E.g. {"do_now": {"accepted": 3, "dismissed": 1}}; tips logged without a kind count as "legacy".
    """
    since = timezone.now() - timedelta(days=days)
    rows = (
        FeedbackEvent.objects.filter(user=user, created_at__gte=since)
        .values_list("tip__tip_kind", "action")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[str, dict[str, int]] = {}
    for kind, action, n in rows:
        counts.setdefault(kind or LEGACY_KIND, {})[action] = n
    return counts


def served_since(*, since: datetime) -> Exists:
    """Return an `Exists` true for a row whose `user_id` was served tips at or after `since` (who is active)."""
    return Exists(TipRequest.objects.filter(user_id=OuterRef("user_id"), created_at__gte=since))
