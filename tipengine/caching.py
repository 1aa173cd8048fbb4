"""Reading the cache in one round trip per request, and forgetting cached rows when the database changes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Model
from django.db.models.signals import post_delete, post_save

# Keys fetched ahead for the current request (key -> value, None for a miss); None outside `cache_prefetch`.
_prefetched: ContextVar[dict[str, Any] | None] = ContextVar("cache_prefetched", default=None)


@contextmanager
def cache_prefetch(keys: Iterable[str]) -> Iterator[None]:
    """Fetch `keys` in one round trip; inside the block, `cache_get` and `cache_get_many` answer them from it.

    Serving reads several per-user keys from different modules; on a busy host each round trip costs a
    context switch, so one MGET replaces several GETs. A key written or forgotten inside the block is
    not seen through it: the block is one request's consistent read, like a snapshot.
    """
    keys = list(keys)
    found = cache.get_many(keys)
    token = _prefetched.set({key: found.get(key) for key in keys})
    try:
        yield
    finally:
        _prefetched.reset(token)


def cache_get(key: str) -> Any:
    """Return the cached value of `key` (None when missing), from the current prefetch when it holds the key."""
    prefetched = _prefetched.get()
    if prefetched is not None and key in prefetched:
        return prefetched[key]
    return cache.get(key)


def cache_get_many(keys: list[str]) -> dict[str, Any]:
    """Return {key: value} for the cached keys among `keys`, like `cache.get_many`, honouring the prefetch."""
    prefetched = _prefetched.get() or {}
    found = {key: prefetched[key] for key in keys if prefetched.get(key) is not None}
    rest = [key for key in keys if key not in prefetched]
    return found | (cache.get_many(rest) if rest else {})


def cache_forget(keys: list[str]) -> None:
    """Delete `keys` now and again once the current transaction commits.

    Now: so the writer itself (and a test inside one transaction) reads fresh. After commit: a concurrent
    reader may have cached the old rows between the two, and must not keep them.
    """
    cache.delete_many(keys)
    if transaction.get_connection().in_atomic_block:  # outside one, on_commit would only delete them again
        transaction.on_commit(lambda: cache.delete_many(keys))


def forget_on_change(model: type[Model], key: Callable[[Any], str]) -> None:
    """Forget `key(row)` from the cache whenever a row of `model` is saved or deleted (through the ORM)."""

    def forget(*, instance: Model, **_: object) -> None:
        cache_forget([key(instance)])

    uid = f"forget_on_change:{model._meta.label}"
    post_save.connect(forget, sender=model, weak=False, dispatch_uid=uid)
    post_delete.connect(forget, sender=model, weak=False, dispatch_uid=uid)


def cache_unavailable_reason() -> str:
    """Return why the cache is being skipped right now (a Redis outage), or '' while it works."""
    reason = getattr(cache, "unavailable_reason", None)
    return reason() if reason is not None else ""
