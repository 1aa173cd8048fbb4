"""Celery tasks for the integration: thin wrappers that take ids and call a service (all idempotent)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from celery import Task, shared_task
from django.db import DatabaseError

from integrations.models import AuthKind, Integration, TokenStatus
from tipengine.background import enqueue

# The services below are imported inside each task: they enqueue these tasks, so they import this module first.

logger = logging.getLogger(__name__)


def _fan_out(task: Task, ids: Iterable[int]) -> int:
    count = 0
    for pk in ids:
        enqueue(task, pk)
        count += 1
    return count


@shared_task(name="integrations.tasks.verify_integration", ignore_result=True)
def verify_integration(integration_id: int, include_invalid: bool = False) -> str:
    """Check one stored token live; returns the resulting token_status (`include_invalid`: operators only)."""
    from integrations.services.tokens import integration_verify

    integration = Integration.objects.filter(pk=integration_id).first()
    if integration is None:
        return "missing"
    return integration_verify(integration=integration, include_invalid=include_invalid).token_status


def _with_token(*statuses: str) -> Iterator[int]:
    return (
        Integration.objects.filter(token_status__in=statuses)
        .exclude(access_token_encrypted="")
        .order_by("pk")
        .values_list("pk", flat=True)
        .iterator()
    )


@shared_task(name="integrations.tasks.verify_all_integrations", ignore_result=True)
def verify_all_integrations() -> int:
    """Daily: re-check every usable token (active, error, unverified); returns how many were queued."""
    return _fan_out(verify_integration, _with_token(TokenStatus.ACTIVE, TokenStatus.ERROR, TokenStatus.UNVERIFIED))


@shared_task(name="integrations.tasks.verify_pending_integrations", ignore_result=True)
def verify_pending_integrations() -> int:
    """Often: re-check tokens not yet verified or whose last check failed for a reason other than the token."""
    return _fan_out(verify_integration, _with_token(TokenStatus.UNVERIFIED, TokenStatus.ERROR))


@shared_task(name="integrations.tasks.pull_completions", ignore_result=True)
def pull_completions(integration_id: int) -> int:
    """Pull one personal-token user's recent completions; returns how many were new."""
    from integrations.completions import integration_pull_completions

    integration = Integration.objects.filter(pk=integration_id).first()
    return 0 if integration is None else integration_pull_completions(integration=integration)


@shared_task(name="integrations.tasks.pull_all_completions", ignore_result=True)
def pull_all_completions() -> int:
    """Periodic: queue a pull for every usable personal-token integration (they get no webhooks)."""
    ids = (
        Integration.objects.filter(
            auth_kind=AuthKind.PERSONAL, token_status__in=[TokenStatus.ACTIVE, TokenStatus.ERROR]
        )
        .exclude(access_token_encrypted="")
        .order_by("pk")
        .values_list("pk", flat=True)
        .iterator()
    )
    return _fan_out(pull_completions, ids)


# A database failure (a lock timeout, a dropped connection) rolls the delivery back unprocessed: try it again.
@shared_task(
    name="integrations.tasks.process_webhook_delivery",
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    max_retries=3,
    retry_backoff=True,
)
def process_webhook_delivery(delivery_id: int) -> str:
    """Apply one stored webhook delivery (a no-op when it was applied before)."""
    from integrations.completions import webhook_delivery_process

    return webhook_delivery_process(delivery_id=delivery_id)


@shared_task(name="integrations.tasks.prune_webhook_deliveries", ignore_result=True)
def prune_webhook_deliveries() -> int:
    """Daily: delete old processed deliveries and retry ones whose processing never finished."""
    from integrations.completions import webhook_deliveries_maintain

    deleted, stale = webhook_deliveries_maintain()
    if stale:
        logger.warning("Retrying %d webhook deliveries that were never processed", len(stale))
    _fan_out(process_webhook_delivery, stale)
    return deleted
