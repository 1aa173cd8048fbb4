"""Every cache key the integration uses, and the call that forgets a user's cached tasks."""

from django.core.cache import cache


def open_tasks_key(user_id: int) -> str:
    """The user's open Todoist tasks (v2: as rows of fields), or the reason a recent read failed (open_tasks_fetch)."""
    return f"integrations:open_tasks:v2:{user_id}"


def time_zone_key(user_id: int) -> str:
    """The time zone the user's Todoist account reported (integrations.selectors.user_time_zone)."""
    return f"integrations:time_zone:v1:{user_id}"


def oauth_state_key(nonce: str) -> str:
    """A live OAuth `state`'s nonce, deleted when the state is used (single use)."""
    return f"integrations:oauth_state:{nonce}"


def tasks_cache_invalidate(*, user_id: int) -> None:
    """Forget the cached task list (and cached failure) of a user: the next read asks Todoist."""
    cache.delete(open_tasks_key(user_id))
