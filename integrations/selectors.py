"""Reads for the integration: connection statuses, and a user's open tasks (cached briefly)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.utils import timezone

from integrations.errors import TasksUnavailable
from integrations.models import Integration, Provider, TokenStatus
from integrations.sample import sample_tasks
from integrations.services import integration_fetch_open_tasks, tasks_cache_key, time_zone_cache_key
from integrations.todoist.types import TodoistTask
from tipengine.caching import cache_get

logger = logging.getLogger(__name__)

# Failures worth remembering for TODOIST_FAILURE_CACHE_S: retrying at once would only hammer Todoist.
_TRANSIENT = {"unavailable", "rate_limited", "bad_response"}
TIME_ZONE_CACHE_S = 24 * 3600  # forgotten whenever the integration row changes


@dataclass(frozen=True, slots=True)
class IntegrationStatus:
    """What the API shows about one provider for one user (`missing` when never connected)."""

    provider: str
    token_status: str
    connected: bool
    auth_kind: str | None = None
    is_sample: bool = False
    checked_at: datetime | None = None
    last_error: str = ""
    connected_at: datetime | None = None

    @classmethod
    def of(cls, integration: Integration) -> IntegrationStatus:
        return cls(
            provider=integration.provider,
            token_status=integration.token_status,
            connected=integration.connected,
            auth_kind=integration.auth_kind,
            is_sample=integration.is_sample,
            checked_at=integration.checked_at,
            last_error=integration.last_error,
            connected_at=integration.connected_at,
        )

    @classmethod
    def missing(cls, provider: str) -> IntegrationStatus:
        return cls(provider=provider, token_status=TokenStatus.MISSING, connected=False)


def integration_get(*, user: AbstractBaseUser, provider: str = Provider.TODOIST) -> Integration | None:
    """Return `user`'s integration with `provider`, or None."""
    return Integration.objects.filter(user=user, provider=provider).first()


def integration_statuses(*, user: AbstractBaseUser) -> list[IntegrationStatus]:
    """Return one status per known provider for `user` (one query)."""
    rows = {i.provider: i for i in Integration.objects.filter(user=user)}
    return [IntegrationStatus.of(rows[p]) if p in rows else IntegrationStatus.missing(p) for p in Provider.values]


def integration_status(*, user: AbstractBaseUser, provider: str = Provider.TODOIST) -> IntegrationStatus:
    """Return `user`'s status with one provider."""
    integration = integration_get(user=user, provider=provider)
    return IntegrationStatus.of(integration) if integration is not None else IntegrationStatus.missing(provider)


def open_tasks(*, user: AbstractBaseUser, budget_s: float | None = None) -> list[TodoistTask]:
    """Return `user`'s open Todoist tasks, from a short per-user cache when fresh.

    The demo user (sample connection) gets the bundled sample set. Raises TasksUnavailable(reason) when the
    tasks cannot be read; Todoist is never called with a token it refused, nor again within
    TODOIST_FAILURE_CACHE_S after it failed, and one live read never runs past `budget_s`.
    """
    key = tasks_cache_key(user.pk)
    cached = cache_get(key)
    if cached is not None:
        kind, value = cached
        if kind == "ok":
            return list(value)
        raise TasksUnavailable(value)
    integration = integration_get(user=user)
    if integration is None:
        raise TasksUnavailable("not_connected", "Todoist is not connected.")
    if integration.is_sample:
        tasks = sample_tasks(today=timezone.localdate())
        cache.set(key, ("ok", tuple(tasks)), timeout=settings.TODOIST_TASKS_CACHE_S)
        return tasks
    if integration.token_status == TokenStatus.REVOKED or not integration.has_token:
        raise TasksUnavailable("revoked", "Todoist was disconnected.")
    if integration.token_status == TokenStatus.INVALID:
        raise TasksUnavailable("token_invalid", "Todoist refused the token; reconnect Todoist.")
    try:
        tasks = integration_fetch_open_tasks(integration=integration, budget_s=budget_s)
    except TasksUnavailable as exc:
        if exc.reason in _TRANSIENT:
            cache.set(key, ("error", exc.reason), timeout=settings.TODOIST_FAILURE_CACHE_S)
        raise
    cache.set(key, ("ok", tuple(tasks)), timeout=settings.TODOIST_TASKS_CACHE_S)
    return tasks


def user_time_zone(*, user_id: int) -> str | None:
    """The IANA zone the user's Todoist account reports, or None when unknown (never connected, the sample
    tasks, or Todoist sent none): callers then use settings.TIME_ZONE. Cached until the integration changes.
    """
    key = time_zone_cache_key(user_id)
    cached = cache_get(key)
    if cached is None:
        row = Integration.objects.filter(user_id=user_id, provider=Provider.TODOIST).values_list("time_zone")
        cached = next(iter(row), ("",))[0]
        cache.set(key, cached, timeout=TIME_ZONE_CACHE_S)
    return cached or None
