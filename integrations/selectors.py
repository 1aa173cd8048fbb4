"""Reads for the integration: connections and their statuses."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.core.cache import cache

from integrations.cache_keys import time_zone_key
from integrations.models import Integration, Provider, TokenStatus
from tipengine.caching import cache_get

logger = logging.getLogger(__name__)

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


def integration_get(*, user: User, provider: str = Provider.TODOIST) -> Integration | None:
    """Return `user`'s integration with `provider`, or None."""
    return Integration.objects.filter(user=user, provider=provider).first()


def integration_statuses(*, user: User) -> list[IntegrationStatus]:
    """Return one status per known provider for `user` (one query)."""
    rows = {i.provider: i for i in Integration.objects.filter(user=user)}
    return [IntegrationStatus.of(rows[p]) if p in rows else IntegrationStatus.missing(p) for p in Provider.values]


def integration_status(*, user: User, provider: str = Provider.TODOIST) -> IntegrationStatus:
    """Return `user`'s status with one provider."""
    integration = integration_get(user=user, provider=provider)
    return IntegrationStatus.of(integration) if integration is not None else IntegrationStatus.missing(provider)


def user_time_zone(*, user_id: int) -> str | None:
    """The IANA zone the user's Todoist account reports, or None when unknown (never connected, the sample
    tasks, or Todoist sent none): callers then use settings.TIME_ZONE. Cached until the integration changes.
    """
    key = time_zone_key(user_id)
    cached = cache_get(key)
    if cached is None:
        row = Integration.objects.filter(user_id=user_id, provider=Provider.TODOIST).values_list("time_zone")
        cached = next(iter(row), ("",))[0]
        cache.set(key, cached, timeout=TIME_ZONE_CACHE_S)
    return cached or None
