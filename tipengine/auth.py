"""Token authentication with a cache in front of the token table, so an API call costs no query to authenticate."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.request import Request

from tipengine.cache_keys import token_cache_key
from tipengine.throttles import COUNTED_ATTR, TokenWindow, UserScopeThrottle, get_and_count, window_count

# What a cached user carries: enough for the API (its id and whether it may log in), never its password hash.
CACHED_USER_FIELDS = ("id", "username", "is_active")


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, remembering token -> user for TOKEN_AUTH_CACHE_S.

    A deleted token and a deactivated user are forgotten at once (the signal receivers below), so the
    cache never lets a revoked credential in; it only saves the lookup for credentials that still work.

    On a throttled view the call is counted in its token's throttle window in the same round trip as the lookup
    (ADR 0098), and the count is left on the request for `UserScopeThrottle`; an unknown token counts nothing.
    """

    _request: Request | None = None

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, Any] | None:
        self._request = request  # for authenticate_credentials, which DRF calls with the key only
        return super().authenticate(request)

    def authenticate_credentials(self, key: str) -> tuple[AbstractBaseUser, Any]:
        cache_key = token_cache_key(key)
        window = self._token_window(key)
        if window is None:
            cached, count = cache.get(cache_key), None
        else:
            cached, count = get_and_count(cache_key, window)
        if cached is not None:
            self._counted(window, count)
            return get_user_model().from_db("default", CACHED_USER_FIELDS, cached), None
        user, _ = super().authenticate_credentials(key)
        cache.set(cache_key, [getattr(user, f) for f in CACHED_USER_FIELDS], timeout=settings.TOKEN_AUTH_CACHE_S)
        if window is not None:  # a token read from the database is counted in the same window, on its own
            self._counted(window, window_count(window.counter, timeout=window.timeout))
        # request.auth is None on both paths (a cache hit has no Token row), so nothing can come to depend on it.
        return user, None

    def _token_window(self, key: str) -> TokenWindow | None:
        view = (self._request.parser_context or {}).get("view") if self._request is not None else None
        return UserScopeThrottle().token_window(view, key) if view is not None else None

    def _counted(self, window: TokenWindow | None, count: int | None) -> None:
        if window is not None and self._request is not None:
            setattr(self._request, COUNTED_ATTR, (window, count))


@receiver(post_delete, sender=Token)
def _forget_deleted_token(sender: type[Token], instance: Token, **kwargs: Any) -> None:
    cache.delete(token_cache_key(instance.key))


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _forget_tokens_of_changed_user(sender: type[AbstractBaseUser], instance: AbstractBaseUser, **kwargs: Any) -> None:
    # A user deactivated (or renamed) must not keep authenticating from the cache.
    update_fields = kwargs.get("update_fields")
    if kwargs.get("created") or (update_fields is not None and set(update_fields) == {"last_login"}):
        return
    keys = Token.objects.filter(user_id=instance.pk).values_list("key", flat=True)
    cache.delete_many([token_cache_key(key) for key in keys])
