"""Connecting Todoist with OAuth: the signed single-use `state`, the authorize URL, the code exchange."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.models import User
from django.core import signing
from django.core.cache import cache

from integrations.cache_keys import oauth_state_key
from integrations.client_factory import oauth_configured, todoist_oauth
from integrations.errors import (
    OAuthCodeRejected,
    OAuthExchangeFailed,
    OAuthNotConfigured,
    OAuthStateExpired,
    OAuthStateInvalid,
    OAuthStateUsed,
    TokenRejected,
)
from integrations.models import AuthKind, Integration
from integrations.services.tokens import token_check, token_store
from integrations.todoist.errors import TodoistAuthError, TodoistError, TodoistRequestRejected

OAUTH_STATE_SALT = "integrations.todoist.oauth-state"


def oauth_state_create(*, user: User) -> str:
    """Return a signed, single-use `state` bound to `user`, valid TODOIST_OAUTH_STATE_MAX_AGE_S seconds."""
    nonce = secrets.token_urlsafe(16)
    cache.set(oauth_state_key(nonce), user.pk, timeout=settings.TODOIST_OAUTH_STATE_MAX_AGE_S)
    return signing.dumps({"u": user.pk, "n": nonce}, salt=OAUTH_STATE_SALT)


def oauth_state_consume(*, user: User, state: str) -> None:
    """Accept `state` once, for the user it was made for, before it expires; else an OAuthState* error."""
    try:
        data = signing.loads(state, salt=OAUTH_STATE_SALT, max_age=settings.TODOIST_OAUTH_STATE_MAX_AGE_S)
    except signing.SignatureExpired:
        raise OAuthStateExpired() from None
    except signing.BadSignature:
        raise OAuthStateInvalid() from None
    if not isinstance(data, dict) or data.get("u") != user.pk or not isinstance(data.get("n"), str):
        raise OAuthStateInvalid()
    if not cache.delete(oauth_state_key(data["n"])):
        raise OAuthStateUsed()


def _require_oauth() -> None:
    if not oauth_configured():
        raise OAuthNotConfigured()


def integration_oauth_authorize_url(*, user: User) -> str:
    """Return the Todoist page where `user` grants us access (with a fresh state)."""
    _require_oauth()
    state = oauth_state_create(user=user)
    return todoist_oauth().authorize_url(state=state, scopes=tuple(settings.TODOIST_OAUTH_SCOPES))


def integration_connect_oauth(*, user: User, code: str, state: str) -> Integration:
    """Finish OAuth: check `state`, exchange `code` for a token, check it live and store it."""
    _require_oauth()
    oauth_state_consume(user=user, state=state)
    try:
        token = todoist_oauth().exchange_code(code)
    except TodoistRequestRejected:
        raise OAuthCodeRejected() from None
    except TodoistError as exc:
        raise OAuthExchangeFailed(
            f"Todoist could not be reached to finish connecting ({exc}). Please try again."
        ) from None
    try:
        account, error = token_check(token=token)
    except TodoistAuthError:
        raise TokenRejected() from None
    return token_store(user=user, token=token, auth_kind=AuthKind.OAUTH, account=account, error=error)
