"""Reads for the integration: connections and their statuses."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser

from integrations.models import Integration, Provider, TokenStatus

logger = logging.getLogger(__name__)


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
