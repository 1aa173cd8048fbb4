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
from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from generation.candidates import TipCandidate
from recommender.cache_keys import GLOBAL_ARMS_KEY, arms_key, cooldowns_key
from recommender.models import ArmStat, FeedbackEvent, TipScore
from recommender.policies.base import ArmEstimate
from recommender.reward_table import COOLDOWN_ACTIONS, Action
from tipengine.caching import cache_get_many, cache_keep

# A snooze holds the tip back until its `until` (else a short cool-down), a dismissal or "not relevant"
# for TIPS_COOLDOWN_DISMISSED_H.


def shrunk_estimate(
    *, user_count: float, user_sum: float, global_count: float, global_sum: float, strength: float | None = None
) -> ArmEstimate:
    """Return the user's estimate of one arm, shrunk toward the global mean (formula in the module docstring);
    `strength` is TIPS_SHRINKAGE_STRENGTH unless given."""
    tau = float(settings.TIPS_SHRINKAGE_STRENGTH) if strength is None else strength
    weight = min(tau, float(global_count))
    if weight <= 0:
        return ArmEstimate(count=float(user_count), reward_sum=float(user_sum))
    global_mean = global_sum / global_count
    return ArmEstimate(count=user_count + weight, reward_sum=user_sum + weight * global_mean)


ArmRows = dict[str, tuple[int, float]]  # arm -> (count, reward_sum), as cached
CooldownRows = list[tuple[str, datetime, datetime | None, Any]]  # (action, created_at, until, tip key), as cached

# What serving reads of its own state when the cache misses: the user's arm statistics, the global ones, and the
# recent cool-down feedback. Whatever misses is read in one statement of scalar subqueries, each aggregated to one
# JSON array: with Redis down every serve misses all three, and one round trip replaces three (docs/benchmarks.md,
# "Serving with Redis down, in fewer statements"). The ORM has no statement for unrelated aggregates side by side.
_PARTS = {
    "mine": "SELECT coalesce(json_agg(json_build_array(arm, count, reward_sum)), '[]') FROM {arms} "
    "WHERE user_id = %(user)s",
    "everyone": "SELECT coalesce(json_agg(json_build_array(arm, count, reward_sum)), '[]') FROM {arms} "
    "WHERE user_id IS NULL",
    "cooldowns": "SELECT coalesce(json_agg(json_build_array(f.action, f.created_at, f.until, t.tip_kind, t.task_ids, "
    "t.title)), '[]') FROM {feedback} f JOIN {tips} t ON t.id = f.tip_id "
    "WHERE f.user_id = %(user)s AND f.action = ANY(%(actions)s) AND f.created_at >= %(since)s",
}


@cache
def _state_sql(parts: tuple[str, ...]) -> str:
    """One statement reading `parts` (keys of _PARTS), its text the same from call to call (ADR 0058)."""
    tables = {"arms": ArmStat._meta.db_table, "feedback": FeedbackEvent._meta.db_table, "tips": TipScore._meta.db_table}
    quoted = {name: connection.ops.quote_name(table) for name, table in tables.items()}
    return "SELECT " + ", ".join(f"({_PARTS[part].format(**quoted)})" for part in parts)


def _state_read(*, user_id: int, parts: tuple[str, ...], now: datetime) -> dict[str, Any]:
    """Read `parts` of the user's serving state from PostgreSQL in one statement and cache each (`cache_keep`)."""
    longest = max(settings.TIPS_COOLDOWN_DISMISSED_H, settings.TIPS_COOLDOWN_SNOOZED_H, settings.TIPS_SNOOZE_MAX_H)
    params: dict[str, Any] = {
        "user": user_id,
        "actions": list(COOLDOWN_ACTIONS),
        "since": now - timedelta(hours=longest),
    }
    with connection.cursor() as cursor:
        cursor.execute(_state_sql(parts), params)
        row = cursor.fetchone()
    read: dict[str, Any] = {}
    for part, rows in zip(parts, row, strict=True):
        if part == "cooldowns":
            read[part] = [
                (action, datetime.fromisoformat(created), datetime.fromisoformat(until) if until else None,
                 tip_key(kind=kind, task_ids=task_ids or (), title=title))
                for action, created, until, kind, task_ids, title in rows
            ]  # fmt: skip
        else:
            read[part] = {arm: (int(count), float(reward_sum)) for arm, count, reward_sum in rows}
    for part, (key, timeout) in _state_keys(user_id).items():
        if part in read:
            cache_keep(key, read[part], timeout=timeout)
    return read


def _state_keys(user_id: int) -> dict[str, tuple[str, int]]:
    return {
        "mine": (arms_key(user_id), settings.TIPS_USER_STATE_CACHE_S),
        "everyone": (GLOBAL_ARMS_KEY, settings.TIPS_GLOBAL_ARMS_CACHE_S),
        "cooldowns": (cooldowns_key(user_id), settings.TIPS_USER_STATE_CACHE_S),
    }


def _serving_state(
    *, user_id: int, parts: tuple[str, ...], now: datetime, also: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The cached `parts` (and `also`) of the user's serving state; what misses is read in one statement. `also` are
    parts only read when `parts` miss anyway (a serve's arm statistics, read with its cool-downs)."""
    keys = _state_keys(user_id)
    cached = cache_get_many([keys[part][0] for part in (*parts, *also)])
    found = {part: cached[keys[part][0]] for part in (*parts, *also) if keys[part][0] in cached}
    missing = tuple(part for part in parts if part not in found)
    if missing:
        found |= _state_read(user_id=user_id, parts=(*missing, *(p for p in also if p not in found)), now=now)
    return found


def arm_estimates(*, user: User) -> dict[str, ArmEstimate]:
    """Return arm -> estimate for this user, from their and the global ArmStat rows (cached; keys in cache_keys.py)."""
    state = _serving_state(user_id=user.pk, parts=("mine", "everyone"), now=timezone.now())
    mine: ArmRows = state["mine"]
    everyone: ArmRows = state["everyone"]
    strength = float(settings.TIPS_SHRINKAGE_STRENGTH)  # read once, not once per arm
    return {
        arm: shrunk_estimate(
            user_count=mine.get(arm, (0, 0.0))[0],
            user_sum=mine.get(arm, (0, 0.0))[1],
            global_count=everyone.get(arm, (0, 0.0))[0],
            global_sum=everyone.get(arm, (0, 0.0))[1],
            strength=strength,
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
    """Return the keys (kind + tasks, or kind + title) of tips the user dismissed or snoozed, still cooling down.

    When they are not cached, the arm statistics that miss are read in the same statement (a serve asks for them
    next, and finds them in its prefetch).
    """
    recent: CooldownRows = _serving_state(user_id=user.pk, parts=("cooldowns",), also=("mine", "everyone"), now=now)[
        "cooldowns"
    ]
    return {tip for action, created_at, until, tip in recent if _cooldown_end(action, created_at, until) > now}
