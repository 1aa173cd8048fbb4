"""Every cache key the recommender uses (what serving reads per user, the admin's distinct values), and the one
call that forgets the serving state when a write changes it."""

from __future__ import annotations

from tipengine.caching import cache_forget

GLOBAL_ARMS_KEY = "tips:arms:global"


def cooldowns_key(user_id: int) -> str:
    return f"tips:cooldowns:{user_id}"


def arms_key(user_id: int) -> str:
    return f"tips:arms:{user_id}"


def distinct_values_key(model_label: str, field: str) -> str:
    """The distinct values of one column, for an admin filter (recommender.admin_tools.distinct_values)."""
    return f"adminutils:distinct:{model_label}:{field}"


def admin_figures_key(page: str, *parts: object) -> str:
    """An admin page's aggregate and chart for one choice of period and groups (recommender.admin_cache)."""
    return f"admin:figures:{page}:" + ":".join(str(part) for part in parts)


def serving_state_forget(*, user_id: int) -> None:
    """Forget the user's cached cool-downs and arm statistics, now and when the current transaction commits.

    Called by every write that records a cool-down action or moves the user's arm statistics, so the next
    serve reads them fresh: a dismissed tip is never served again from a stale cache.
    """
    cache_forget([cooldowns_key(user_id), arms_key(user_id)])
