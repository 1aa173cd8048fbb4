"""Task completions from Todoist (webhooks and periodic pulls), each credited once via task_completed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from integrations.cache_keys import tasks_cache_invalidate
from integrations.client_factory import todoist_client
from integrations.crypto import TokenDecryptError
from integrations.errors import WebhookDeliveryIdMissing, WebhookSignatureInvalid, WebhookTooLarge
from integrations.models import (
    AuthKind,
    CompletionSource,
    Integration,
    Provider,
    TaskCompletion,
    TokenStatus,
    WebhookDelivery,
)
from integrations.services.tokens import integration_record_check
from integrations.signals import task_completed
from integrations.tasks import process_webhook_delivery
from integrations.todoist.errors import TodoistError
from integrations.webhook_events import Completion, Refused, completion_of, event_parse
from tipengine.background import enqueue
from tipengine.jsonsafe import json_storable

logger = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 1024 * 1024  # Todoist's own request-body limit
PULL_OVERLAP = timedelta(minutes=5)  # re-read a little: late-indexed completions are not missed (dedup is exact)
STALE_DELIVERY = timedelta(minutes=10)
# The task's own retries, then the daily sweep's: a delivery that still fails after these is closed `gave_up`.
WEBHOOK_MAX_ATTEMPTS = 6


def completions_record(*, user_id: int, completions: Iterable[Completion], source: str) -> int:
    """Record completions of `user_id` and send task_completed for each one not recorded before.

    Constant queries for any number of completions. The user's integration row is locked while recording,
    so a webhook and a pull (or two pulls) crediting the same completion send the signal exactly once; a
    receiver that fails rolls the whole batch back, so nothing is half-credited and a retry credits it.
    """
    wanted = {(c.task_id, c.completed_at): c for c in completions}
    if not wanted:
        return 0
    with transaction.atomic():
        list(Integration.objects.select_for_update().filter(user_id=user_id).values_list("pk", flat=True))
        known = set(
            TaskCompletion.objects.filter(user_id=user_id, task_id__in={task_id for task_id, _ in wanted}).values_list(
                "task_id", "completed_at"
            )
        )
        new = [c for key, c in wanted.items() if key not in known]
        TaskCompletion.objects.bulk_create(
            TaskCompletion(user_id=user_id, task_id=c.task_id, completed_at=c.completed_at, source=source) for c in new
        )
        for c in new:
            task_completed.send(sender=TaskCompletion, user_id=user_id, task_id=c.task_id, completed_at=c.completed_at)
    return len(new)


# -- webhooks ---------------------------------------------------------------------------------------------------
def webhook_signature_valid(*, body: bytes, signature: str | None) -> bool:
    """Return True when `signature` is base64 HMAC-SHA256 of `body` under our client secret (constant time)."""
    secret = settings.TODOIST_CLIENT_SECRET
    if not secret or not signature:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace"))


def webhook_delivery_receive(*, body: bytes, signature: str | None, delivery_id: str | None) -> tuple[str, int]:
    """Accept one webhook delivery: verify, store once, queue its processing. Returns (status, delivery pk).

    A bad signature: WebhookSignatureInvalid and nothing stored. A delivery id seen before: ("duplicate", pk), no work.
    Any signed body is stored with its exact bytes and answered "accepted" (Todoist retries anything else
    forever); one we cannot act on is closed at once with the outcome that says why (webhook_events.Refused).
    """
    if len(body) > MAX_WEBHOOK_BYTES:
        raise WebhookTooLarge()
    if not webhook_signature_valid(body=body, signature=signature):
        logger.warning("Rejected a Todoist webhook with a missing or wrong signature")
        raise WebhookSignatureInvalid()
    delivery_id = (delivery_id or "").strip()
    if not delivery_id or len(delivery_id) > 128:
        raise WebhookDeliveryIdMissing()
    payload: dict[str, Any] = {}
    refusal = ""
    try:
        payload = event_parse(body)
        completion_of(payload)
    except Refused as exc:
        refusal = exc.outcome
    try:
        with transaction.atomic():
            # PostgreSQL takes no NUL in text and no lone surrogate anywhere: the columns get a storable copy
            # (event_parse), raw_body the exact signed bytes.
            delivery = WebhookDelivery.objects.create(
                delivery_id=json_storable(delivery_id),
                event_name=str(payload.get("event_name", ""))[:64],
                external_user_id=str(payload.get("user_id", ""))[:64],
                payload=payload,
                raw_body=body,
                processed_at=timezone.now() if refusal else None,
                outcome=refusal,
            )
    except IntegrityError:
        existing = WebhookDelivery.objects.only("pk").get(delivery_id=delivery_id)
        return "duplicate", existing.pk
    if refusal:
        logger.warning("Stored webhook delivery %s without acting on it: %s", delivery.pk, refusal)
        return "accepted", delivery.pk
    try:
        enqueue(process_webhook_delivery, delivery.pk)
    except Exception:
        # The delivery is stored: answering 200 is right; the daily maintenance task retries unprocessed ones.
        logger.exception("Processing webhook delivery %s failed; it will be retried", delivery.pk)
    return "accepted", delivery.pk


def webhook_delivery_process(*, delivery_id: int) -> str:
    """Apply a stored delivery once: credit a completion, or note that the user's tasks changed.

    Each call counts an attempt; past WEBHOOK_MAX_ATTEMPTS the delivery is closed as `gave_up`, so none fails
    forever. Otherwise one transaction, the delivery row locked: it is marked processed only if its credit
    commits with it, and a credit that fails raises and leaves it unprocessed, for a retry.
    """
    updated = WebhookDelivery.objects.filter(pk=delivery_id, processed_at__isnull=True).update(
        attempts=F("attempts") + 1
    )
    if not updated:
        return "already_processed"
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id, processed_at__isnull=True).first()
        if delivery is None:
            return "already_processed"
        try:
            outcome = _apply(delivery) if delivery.attempts <= WEBHOOK_MAX_ATTEMPTS else "gave_up"
        except Refused as exc:  # stored before parse-time refusals existed
            outcome = exc.outcome
        if outcome == "gave_up":
            logger.error("Gave up on webhook delivery %s after %d attempts", delivery.pk, WEBHOOK_MAX_ATTEMPTS)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(processed_at=timezone.now(), outcome=outcome)
    return outcome


def _apply(delivery: WebhookDelivery) -> str:
    payload = delivery.payload if isinstance(delivery.payload, dict) else {}
    user_ids = list(
        Integration.objects.filter(provider=Provider.TODOIST, external_user_id=delivery.external_user_id)
        .exclude(external_user_id="")
        .exclude(token_status=TokenStatus.REVOKED)
        .values_list("user_id", flat=True)
    )
    completion = completion_of(payload)
    about_tasks = delivery.event_name.startswith("item:")
    if not user_ids:
        outcome = "unknown_user"
    elif completion is not None:
        credited = sum(
            completions_record(user_id=uid, completions=[completion], source=CompletionSource.WEBHOOK)
            for uid in user_ids
        )
        outcome = "credited" if credited else "already_credited"
    else:
        outcome = "tasks_changed" if about_tasks else "ignored"
    for uid in user_ids if about_tasks else ():
        tasks_cache_invalidate(user_id=uid)
    return outcome


def webhook_deliveries_maintain(*, now: datetime | None = None) -> tuple[int, list[int]]:
    """Delete processed deliveries past retention; return (deleted, ids of stale unprocessed ones to retry)."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.TODOIST_WEBHOOK_RETENTION_DAYS)
    deleted, _ = WebhookDelivery.objects.filter(received_at__lt=cutoff, processed_at__isnull=False).delete()
    stale = list(
        WebhookDelivery.objects.filter(processed_at__isnull=True, received_at__lt=now - STALE_DELIVERY)
        .order_by("pk")
        .values_list("pk", flat=True)[:500]
    )
    return deleted, stale


# -- pulls (personal tokens get no webhooks) ---------------------------------------------------------------------
def integration_pull_completions(*, integration: Integration, now: datetime | None = None) -> int:
    """Pull completions since the last pull and credit the new ones; returns how many were new."""
    if integration.auth_kind != AuthKind.PERSONAL or not integration.is_usable:
        return 0
    now = now or timezone.now()
    since = (integration.completions_synced_at or integration.connected_at) - PULL_OVERLAP
    ciphertext = integration.access_token_encrypted
    try:
        token = integration.get_token()
    except TokenDecryptError:
        logger.error("Cannot pull completions for user %s: the token cannot be decrypted", integration.user_id)
        return 0
    with todoist_client(token) as client:
        try:
            items = client.completed_since(since, until=now)
        except TodoistError as exc:
            integration_record_check(integration=integration, ciphertext=ciphertext, error=exc)
            logger.warning("Pulling completions for user %s failed: %s", integration.user_id, exc)
            return 0
    new = completions_record(
        user_id=integration.user_id,
        completions=[Completion(task_id=i.task_id, completed_at=i.completed_at) for i in items],
        source=CompletionSource.PULL,
    )
    Integration.objects.filter(pk=integration.pk, access_token_encrypted=ciphertext).update(completions_synced_at=now)
    if new:
        tasks_cache_invalidate(user_id=integration.user_id)
    return new
