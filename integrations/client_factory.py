"""Todoist clients configured from settings (URLs, timeouts, budget): the one place that reads them."""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings

from integrations.todoist.client import TodoistClient, TodoistOAuth
from integrations.todoist.transport import CallPolicy


def call_policy(*, budget_s: float | None = None) -> CallPolicy:
    """Return the CallPolicy from settings; `budget_s` narrows the budget (never widens it)."""
    policy = CallPolicy(
        timeout_s=settings.TODOIST_TIMEOUT_S,
        budget_s=settings.TODOIST_BUDGET_S,
        max_retry_after_s=settings.TODOIST_MAX_RETRY_AFTER_S,
        max_attempts=max(settings.TODOIST_MAX_ATTEMPTS, 1),
        backoff_base_s=settings.TODOIST_BACKOFF_BASE_S,
    )
    if budget_s is not None:
        policy = replace(policy, budget_s=min(budget_s, policy.budget_s))
    return policy


def todoist_client(token: str, *, budget_s: float | None = None) -> TodoistClient:
    """Return a client for `token` against TODOIST_API_URL."""
    return TodoistClient(token, api_url=settings.TODOIST_API_URL, policy=call_policy(budget_s=budget_s))


def oauth_configured() -> bool:
    """Return True when our Todoist OAuth app is configured (client id and secret)."""
    return bool(settings.TODOIST_CLIENT_ID and settings.TODOIST_CLIENT_SECRET)


def todoist_oauth(*, budget_s: float | None = None) -> TodoistOAuth:
    """Return our OAuth app against TODOIST_OAUTH_URL / TODOIST_API_URL."""
    return TodoistOAuth(
        client_id=settings.TODOIST_CLIENT_ID,
        client_secret=settings.TODOIST_CLIENT_SECRET,
        oauth_url=settings.TODOIST_OAUTH_URL,
        api_url=settings.TODOIST_API_URL,
        policy=call_policy(budget_s=budget_s),
    )
