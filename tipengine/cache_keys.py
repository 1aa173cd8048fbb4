"""Every cache key tipengine builds itself (DRF's throttles build their own for calls made without a token)."""

import hashlib


def token_digest(key: str) -> str:
    """What the cache knows an API token by: a digest, so the cache never holds a usable token."""
    return hashlib.sha256(key.encode()).hexdigest()


def token_cache_key(key: str) -> str:
    """The user an API token authenticates."""
    return "auth:token:" + token_digest(key)


def token_throttle_key(key: str, scope: str, window: int) -> str:
    """The count of calls an API token made in one fixed throttle window of `scope` (tipengine.throttles)."""
    return f"throttle:{scope}:{token_digest(key)}:{window}"
