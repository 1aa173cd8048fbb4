"""Reading a user's open Todoist tasks: live, and through the short per-user cache that every caller reads."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.utils import timezone

from integrations.cache_keys import open_tasks_key
from integrations.client_factory import todoist_client
from integrations.crypto import TokenDecryptError
from integrations.errors import TasksUnavailable
from integrations.models import Integration, Provider, TokenStatus
from integrations.sample import sample_tasks
from integrations.services.tokens import UNREADABLE, integration_record_check, integration_record_unreadable
from integrations.tasks import verify_integration
from integrations.todoist.errors import TodoistError
from integrations.todoist.types import TodoistTask
from tipengine.background import enqueue
from tipengine.caching import as_rows, cache_get, from_rows


def integration_fetch_open_tasks(*, integration: Integration, budget_s: float | None = None) -> list[TodoistTask]:
    """Read the open tasks live (within `budget_s`) and record what the call showed about the token.

    Raises TasksUnavailable with the failure's reason; a 401/403 marks the token invalid.
    """
    ciphertext = integration.access_token_encrypted
    try:
        token = integration.get_token()
    except TokenDecryptError:
        integration_record_unreadable(integration=integration)
        raise TasksUnavailable("token_unreadable", UNREADABLE) from None
    with todoist_client(token, budget_s=budget_s) as client:
        try:
            tasks = client.active_tasks()
        except TodoistError as exc:
            integration_record_check(integration=integration, ciphertext=ciphertext, error=exc)
            raise TasksUnavailable(exc.reason, str(exc)) from None
    if integration.token_status != TokenStatus.ACTIVE:
        integration_record_check(integration=integration, ciphertext=ciphertext, error=None)
        if not integration.external_user_id:
            # Stored while Todoist was down: learn the account id (webhooks name only that) off the request path.
            enqueue(verify_integration, integration.pk)
    return tasks


# Failures worth remembering for TODOIST_FAILURE_CACHE_S: retrying at once would only hammer Todoist.
_TRANSIENT = {"unavailable", "rate_limited", "bad_response"}


def open_tasks_fetch(*, user: User, budget_s: float | None = None) -> list[TodoistTask]:
    """Return `user`'s open Todoist tasks, from a short per-user cache when fresh (a write: it fills the cache).

    The demo user (sample connection) gets the bundled sample set. Raises TasksUnavailable(reason) when the
    tasks cannot be read; Todoist is never called with a token it refused, nor again within
    TODOIST_FAILURE_CACHE_S after it failed, and one live read never runs past `budget_s`.
    """
    key = open_tasks_key(user.pk)
    cached = cache_get(key)
    if cached is not None:
        kind, value = cached
        if kind == "ok":
            return from_rows(TodoistTask, value)  # cached as plain rows, cheaper to read than pickled tasks
        raise TasksUnavailable(value)
    integration = Integration.objects.filter(user=user, provider=Provider.TODOIST).first()
    if integration is None:
        raise TasksUnavailable("not_connected", "Todoist is not connected.")
    if integration.is_sample:
        tasks = sample_tasks(today=timezone.localdate())
        cache.set(key, ("ok", as_rows(tasks)), timeout=settings.TODOIST_TASKS_CACHE_S)
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
    cache.set(key, ("ok", as_rows(tasks)), timeout=settings.TODOIST_TASKS_CACHE_S)
    return tasks
