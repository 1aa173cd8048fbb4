"""Every cache key tipengine builds itself (DRF's throttles build their own)."""

import hashlib


def token_cache_key(key: str) -> str:
    """The user an API token authenticates: a digest, so the cache never holds a usable token."""
    return "auth:token:" + hashlib.sha256(key.encode()).hexdigest()
