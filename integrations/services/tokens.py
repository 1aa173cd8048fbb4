"""The stored Todoist token: connect with one (or the sample set), check it live and record the outcome, disconnect."""

from __future__ import annotations

import logging

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations.cache_keys import tasks_cache_invalidate, time_zone_key
from integrations.client_factory import oauth_configured, todoist_client, todoist_oauth
from integrations.crypto import TokenDecryptError
from integrations.errors import NotConnected, TokenRejected
from integrations.models import AuthKind, Integration, Provider, TokenStatus
from integrations.signals import task_source_changed
from integrations.todoist.client import TodoistUser
from integrations.todoist.errors import TodoistAuthError, TodoistError
from tipengine.caching import cache_forget

logger = logging.getLogger(__name__)

REVOKE_BUDGET_S = 3.0  # disconnecting never waits long on Todoist: revocation failing does not block it
UNREADABLE = "The stored token cannot be decrypted with the configured TOKEN_ENCRYPTION_KEYS; reconnect Todoist."


def _announce_source_change(*, user_id: int, connected: bool) -> None:
    """Tell other apps (the pool) once the change commits: they must not act on a rolled-back one."""
    transaction.on_commit(lambda: task_source_changed.send(sender=Integration, user_id=user_id, connected=connected))


def _status_after(current: str, error: TodoistError) -> str:
    if isinstance(error, TodoistAuthError):
        return TokenStatus.INVALID
    # A token never shown to work stays `unverified`; one that worked is `error` until the next good check.
    return TokenStatus.UNVERIFIED if current == TokenStatus.UNVERIFIED else TokenStatus.ERROR


def integration_record_check(
    *, integration: Integration, ciphertext: str, error: TodoistError | None, account: TodoistUser | None = None
) -> Integration:
    """Record the outcome of a live check of the token stored as `ciphertext`.

    A compare-and-set on the ciphertext: if the user reconnected (or disconnected) meanwhile, the outcome of
    the old token's check is dropped rather than written over the new state.
    """
    now = timezone.now()
    fields: dict[str, object] = {"checked_at": now, "updated_at": now}
    if error is None:
        fields.update(token_status=TokenStatus.ACTIVE, last_error="")
        if account is not None:
            fields.update(external_user_id=account.id, time_zone=account.timezone or "")
    else:
        fields.update(token_status=_status_after(integration.token_status, error), last_error=str(error)[:300])
    updated = (
        Integration.objects.filter(pk=integration.pk, access_token_encrypted=ciphertext)
        .exclude(token_status=TokenStatus.REVOKED)
        .update(**fields)
    )
    if updated:
        if "time_zone" in fields:  # a queryset update sends no post_save
            cache_forget([time_zone_key(integration.user_id)])
        for name, value in fields.items():
            setattr(integration, name, value)
        if fields["token_status"] == TokenStatus.INVALID:
            logger.warning("Todoist refused the token of user %s: marked invalid", integration.user_id)
            tasks_cache_invalidate(user_id=integration.user_id)
    return integration


def integration_record_unreadable(*, integration: Integration) -> None:
    Integration.objects.filter(pk=integration.pk).update(
        token_status=TokenStatus.ERROR, last_error=UNREADABLE, checked_at=timezone.now()
    )
    logger.error("The Todoist token of user %s cannot be decrypted with any configured key", integration.user_id)


@sensitive_variables("token")
def token_check(*, token: str) -> tuple[TodoistUser | None, TodoistError | None]:
    """Ask Todoist who owns `token`: (account, None), or (None, the non-auth error). Raises TodoistAuthError."""
    with todoist_client(token) as client:
        try:
            return client.get_user(), None
        except TodoistAuthError:
            raise
        except TodoistError as exc:
            return None, exc


@sensitive_variables("token")
def token_store(
    *, user: User, token: str, auth_kind: str, account: TodoistUser | None, error: TodoistError | None
) -> Integration:
    """Store `token` as the user's connection, `active` or (Todoist unreachable: `error`) `unverified`."""
    now = timezone.now()
    with transaction.atomic():
        integration, _ = Integration.objects.select_for_update().get_or_create(
            user=user, provider=Provider.TODOIST, defaults={"auth_kind": auth_kind}
        )
        integration.auth_kind = auth_kind
        integration.set_token(token)
        integration.token_status = TokenStatus.ACTIVE if error is None else TokenStatus.UNVERIFIED
        integration.last_error = "" if error is None else str(error)[:300]
        integration.checked_at = now
        integration.external_user_id = account.id if account is not None else ""
        if account is not None:  # Todoist unreachable: keep the zone a previous connection reported
            integration.time_zone = account.timezone or ""
        integration.connected_at = now
        # First connection: completions before it are not ours to credit. A reconnection resumes where the
        # last pull stopped, so completions made while the token was broken are not lost.
        integration.completions_synced_at = integration.completions_synced_at or now
        integration.save()
        _announce_source_change(user_id=user.pk, connected=True)
    tasks_cache_invalidate(user_id=user.pk)
    logger.info("Todoist connected for user %s (%s, %s)", user.pk, auth_kind, integration.token_status)
    return integration


@sensitive_variables("token")
def integration_connect_token(*, user: User, token: str) -> Integration:
    """Connect Todoist with a personal API token, checked live.

    Todoist refuses it: TokenRejected, nothing stored. Todoist unreachable: stored as
    `unverified` (a periodic task verifies it). Otherwise stored `active`.
    """
    try:
        account, error = token_check(token=token)
    except TodoistAuthError:
        raise TokenRejected() from None
    return token_store(user=user, token=token, auth_kind=AuthKind.PERSONAL, account=account, error=error)


def integration_connect_sample(*, user: User) -> Integration:
    """Make `user` read the bundled SAMPLE task set (the embedded demo user): no token, status active."""
    now = timezone.now()
    with transaction.atomic():
        integration, _ = Integration.objects.update_or_create(
            user=user,
            provider=Provider.TODOIST,
            defaults={
                "auth_kind": AuthKind.SAMPLE,
                "access_token_encrypted": "",
                "token_status": TokenStatus.ACTIVE,
                "checked_at": now,
                "last_error": "",
                "external_user_id": "",
                "time_zone": "",  # the sample tasks live in the server's zone
                "connected_at": now,
            },
        )
        _announce_source_change(user_id=user.pk, connected=True)
    tasks_cache_invalidate(user_id=user.pk)
    return integration


def integration_disconnect(*, user: User) -> Integration:
    """Disconnect: erase the token, keep the row as `revoked`, and revoke an OAuth token at Todoist.

    Idempotent: a connection disconnected before is returned as it is; one never made raises NotConnected.

    Revocation at Todoist is best effort within REVOKE_BUDGET_S: its failure is logged, never blocking.
    """
    with transaction.atomic():
        integration = Integration.objects.select_for_update().filter(user=user, provider=Provider.TODOIST).first()
        if integration is None:
            raise NotConnected()
        if integration.token_status == TokenStatus.REVOKED:
            return integration  # disconnected already: the same answer, and nothing to do again
        token = None
        if integration.auth_kind == AuthKind.OAUTH and integration.has_token:
            try:
                token = integration.get_token()
            except TokenDecryptError:
                token = None
        integration.clear_token()
        integration.token_status = TokenStatus.REVOKED
        integration.last_error = ""
        integration.checked_at = timezone.now()
        integration.external_user_id = ""
        integration.save()
        _announce_source_change(user_id=user.pk, connected=False)
    tasks_cache_invalidate(user_id=user.pk)
    if token and oauth_configured():
        _revoke_at_todoist(token, user_id=user.pk)
    logger.info("Todoist disconnected for user %s", user.pk)
    return integration


@sensitive_variables("token")
def _revoke_at_todoist(token: str, *, user_id: int) -> None:
    try:
        todoist_oauth(budget_s=REVOKE_BUDGET_S).revoke(token)
    except TodoistError as exc:
        logger.warning("Revoking the Todoist token of user %s failed (erased here anyway): %s", user_id, exc)


def integration_verify(*, integration: Integration, include_invalid: bool = False) -> Integration:
    """Check the stored token live and record the outcome.

    Skips sample and revoked rows, and `invalid` ones unless `include_invalid` (an operator's re-check after a
    Todoist incident: automatic paths never call Todoist again with a token it refused).
    """
    retry_invalid = include_invalid and integration.token_status == TokenStatus.INVALID and integration.has_token
    if not (integration.is_usable or retry_invalid):
        return integration
    ciphertext = integration.access_token_encrypted
    try:
        token = integration.get_token()
    except TokenDecryptError:
        integration_record_unreadable(integration=integration)
        return integration
    try:
        account, error = token_check(token=token)
    except TodoistAuthError as exc:
        account, error = None, exc
    return integration_record_check(integration=integration, ciphertext=ciphertext, error=error, account=account)
