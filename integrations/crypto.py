"""Tokens at rest: Fernet under TOKEN_ENCRYPTION_KEYS (the first key encrypts, every key decrypts)."""

from __future__ import annotations

import base64
import hashlib
import logging
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)


class TokenDecryptError(Exception):
    """A stored token could not be decrypted with any configured key (the message never holds ciphertext)."""


def dev_key_from_secret(secret_key: str) -> str:
    """Derive a Fernet key from SECRET_KEY: only for DEBUG runs without TOKEN_ENCRYPTION_KEYS."""
    digest = hashlib.sha256(b"tipengine.integrations.token-key:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def configured_keys() -> tuple[str, ...]:
    """Return the keys in force, newest (encrypting) first."""
    keys = tuple(k.strip() for k in settings.TOKEN_ENCRYPTION_KEYS if k.strip())
    if keys:
        return keys
    if not settings.DEBUG:
        raise ImproperlyConfigured("Set TOKEN_ENCRYPTION_KEYS (comma-separated Fernet keys) when DEBUG is off.")
    return (dev_key_from_secret(settings.SECRET_KEY),)


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError) as exc:  # never echo the key itself
            raise ImproperlyConfigured(
                f"TOKEN_ENCRYPTION_KEYS entry #{position} is not a Fernet key (32 url-safe base64-encoded bytes)."
            ) from exc
    if not settings.TOKEN_ENCRYPTION_KEYS:
        logger.warning("TOKEN_ENCRYPTION_KEYS is empty: tokens are encrypted with a key derived from SECRET_KEY")
    return MultiFernet(fernets)


def token_encrypt(token: str) -> str:
    """Return `token` encrypted under the first key (url-safe text, fit for a text column)."""
    return _fernet(configured_keys()).encrypt(token.encode()).decode("ascii")


def token_decrypt(ciphertext: str) -> str:
    """Return the clear token; TokenDecryptError when no configured key opens it."""
    try:
        return _fernet(configured_keys()).decrypt(ciphertext.encode("ascii")).decode()
    except (InvalidToken, UnicodeError, ValueError):
        raise TokenDecryptError("The stored token cannot be decrypted with any configured key.") from None


def token_reencrypt(ciphertext: str) -> str:
    """Return the same token encrypted under the first key (MultiFernet.rotate; keeps the original timestamp)."""
    try:
        return _fernet(configured_keys()).rotate(ciphertext.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError, ValueError):
        raise TokenDecryptError("The stored token cannot be decrypted with any configured key.") from None


def token_primary_key_opens(ciphertext: str) -> bool:
    """True when the first (encrypting) key alone decrypts `ciphertext`: the row needs no rotation."""
    try:
        Fernet(configured_keys()[0]).decrypt(ciphertext.encode("ascii"))
    except (InvalidToken, UnicodeError, ValueError):
        return False
    return True
