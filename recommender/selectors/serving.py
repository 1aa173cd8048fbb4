"""Reads for serving: each arm's estimate for one user (shrunk toward the global one), and cool-downs, cached.

Shrinkage (docs/recommender.md): with the user's count n_u and reward sum s_u on an arm, and the global
count n_g and mean m_g = s_g / n_g on the same arm,

    weight  w   = min(TIPS_SHRINKAGE_STRENGTH, n_g)        # the prior is worth at most tau pseudo-tips,
                                                           # and never more than the data behind it
    estimate    = ArmEstimate(count=n_u + w, reward_sum=s_u + w * m_g)
    mean        = (s_u + w * m_g) / (n_u + w)

A new user (n_u = 0) starts at the global mean; the user's own data dominates once n_u >> tau. An arm
nobody has been rewarded on has no estimate, and the policy scores it at its prior.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db.models import QuerySet

from generation.candidates import TipCandidate
from recommender.cache_keys import GLOBAL_ARMS_KEY, arms_key, cooldowns_key
from recommender.models import ArmStat, FeedbackEvent
from recommender.policies.base import ArmEstimate
from recommender.reward_table import COOLDOWN_ACTIONS, Action
from tipengine.caching import cache_get, cache_get_many

# A snooze holds the tip back until its `until` (else a short cool-down), a dismissal or "not relevant"
# for TIPS_COOLDOWN_DISMISSED_H.


def shrunk_estimate(*, user_count: float, user_sum: float, global_count: float, global_sum: float) -> ArmEstimate:
    """Return the user's estimate of one arm, shrunk toward the global mean (formula in the module docstring)."""
    weight = min(float(settings.TIPS_SHRINKAGE_STRENGTH), float(global_count))
    if weight <= 0:
        return ArmEstimate(count=float(user_count), reward_sum=float(user_sum))
    global_mean = global_sum / global_count
    return ArmEstimate(count=user_count + weight, reward_sum=user_sum + weight * global_mean)


def _arm_rows(queryset: QuerySet[ArmStat]) -> dict[str, tuple[float, float]]:
    return {arm: (count, reward_sum) for arm, count, reward_sum in queryset.values_list("arm", "count", "reward_sum")}


def arm_estimates(*, user: User) -> dict[str, ArmEstimate]:
    """Return arm -> estimate for this user, from their and the global ArmStat rows (cached; keys in cache_keys.py)."""
    cached = cache_get_many([arms_key(user.pk), GLOBAL_ARMS_KEY])
    mine = cached.get(arms_key(user.pk))
    everyone = cached.get(GLOBAL_ARMS_KEY)
    if mine is None:
        mine = _arm_rows(ArmStat.objects.filter(user=user))
        cache.set(arms_key(user.pk), mine, timeout=settings.TIPS_USER_STATE_CACHE_S)
    if everyone is None:
        everyone = _arm_rows(ArmStat.objects.filter(user__isnull=True))
        cache.set(GLOBAL_ARMS_KEY, everyone, timeout=settings.TIPS_GLOBAL_ARMS_CACHE_S)
    return {
        arm: shrunk_estimate(
            user_count=mine.get(arm, (0, 0.0))[0],
            user_sum=mine.get(arm, (0, 0.0))[1],
            global_count=everyone.get(arm, (0, 0.0))[0],
            global_sum=everyone.get(arm, (0, 0.0))[1],
        )
        for arm in mine.keys() | everyone.keys()
    }


def _cooldown_end(action: str, created_at: datetime, until: datetime | None) -> datetime:
    if action == Action.SNOOZED:
        return until or created_at + timedelta(hours=settings.TIPS_COOLDOWN_SNOOZED_H)
    hours = settings.TIPS_COOLDOWN_DISMISSED_H
    return created_at + timedelta(hours=hours)


def tip_key(*, kind: str | None, task_ids: Iterable[str], title: str) -> Any:
    """The duplicate key of a served tip: the same as `TipCandidate.key` for the same kind, tasks and title."""
    return TipCandidate(kind=kind or "", source="", title=title, body="", task_ids=tuple(task_ids)).key


def cooling_down_keys(*, user: User, now: datetime) -> set[Any]:
    """Return the keys (kind + tasks, or kind + title) of tips the user dismissed or snoozed, still cooling down."""
    key = cooldowns_key(user.pk)
    recent: list[tuple[str, datetime, datetime | None, Any]] | None = cache_get(key)
    if recent is None:
        longest = max(settings.TIPS_COOLDOWN_DISMISSED_H, settings.TIPS_COOLDOWN_SNOOZED_H, settings.TIPS_SNOOZE_MAX_H)
        events = FeedbackEvent.objects.filter(
            user=user, action__in=COOLDOWN_ACTIONS, created_at__gte=now - timedelta(hours=longest)
        ).values_list("action", "created_at", "until", "tip__tip_kind", "tip__task_ids", "tip__title")
        recent = [
            (action, created_at, until, tip_key(kind=kind, task_ids=task_ids or (), title=title))
            for action, created_at, until, kind, task_ids, title in events
        ]
        cache.set(key, recent, timeout=settings.TIPS_USER_STATE_CACHE_S)
    return {tip for action, created_at, until, tip in recent if _cooldown_end(action, created_at, until) > now}
