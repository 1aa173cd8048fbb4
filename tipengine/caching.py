"""Reading the cache in one round trip per request, and forgetting cached rows when the database changes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import fields
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import transaction
from django.db.models import Model
from django.db.models.signals import post_delete, post_save

T = TypeVar("T")

# Keys fetched ahead for the current request (key -> value, None for a miss); None outside `cache_prefetch`.
_prefetched: ContextVar[dict[str, Any] | None] = ContextVar("cache_prefetched", default=None)


@contextmanager
def cache_prefetch(keys: Iterable[str]) -> Iterator[None]:
    """Fetch `keys` in one round trip; inside the block, `cache_get` and `cache_get_many` answer them from it.

    Serving reads several per-user keys from different modules; on a busy host each round trip costs a
    context switch, so one MGET replaces several GETs. A key written or forgotten inside the block is
    not seen through it: the block is one request's consistent read, like a snapshot (`cache_keep` adds to it
    what the request itself read from the database).
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


def cache_keep(key: str, value: Any, *, timeout: int) -> None:
    """Cache `value` at `key` (a value just read from the database) and let the current prefetch answer it for the
    rest of the block: what one request had to read from the database, it reads once, even while the cache cannot
    be written (a Redis outage). The one kind of write a prefetch sees: the request's own read."""
    cache.set(key, value, timeout=timeout)
    prefetched = _prefetched.get()
    if prefetched is not None:
        prefetched[key] = value


def cache_get_many(keys: list[str]) -> dict[str, Any]:
    """Return {key: value} for the cached keys among `keys`, like `cache.get_many`, honouring the prefetch."""
    prefetched = _prefetched.get() or {}
    found = {key: prefetched[key] for key in keys if prefetched.get(key) is not None}
    rest = [key for key in keys if key not in prefetched]
    return found | (cache.get_many(rest) if rest else {})


def as_rows(items: Iterable[Any]) -> tuple[tuple[Any, ...], ...]:
    """Dataclass instances as plain tuples of their fields, in field order: the cheap cached form of what serving reads.

    Unpickling a slotted dataclass runs `dataclasses.fields` and one `object.__setattr__` per field in Python;
    a tuple of plain values unpickles in C, and `from_rows` rebuilds the instances through their `__init__` for
    less than that (docs/benchmarks.md, "A lighter warm serve"). A key holding rows names its layout's version:
    rows written by code with other fields must not be read back.
    """
    return tuple(tuple(getattr(item, field.name) for field in fields(item)) for item in items)


def from_rows(cls: Callable[..., T], rows: Iterable[tuple[Any, ...]]) -> list[T]:
    """Rebuild the instances `as_rows` flattened."""
    return [cls(*row) for row in rows]


def cache_forget(keys: list[str]) -> None:
    """Delete `keys` now and again once the current transaction commits.

    Now: so the writer itself (and a test inside one transaction) reads fresh. After commit: a concurrent
    reader may have cached the old rows between the two, and must not keep them.
    """
    cache.delete_many(keys)
    if transaction.get_connection().in_atomic_block:  # outside one, on_commit would only delete them again
        transaction.on_commit(lambda: cache.delete_many(keys))


def forget_on_change(model: type[Model], key: Callable[[Any], str | list[str]]) -> None:
    """Forget `key(row)` (a key or a list of keys) whenever a row of `model` is saved or deleted (through the ORM)."""

    def forget(*, instance: Model, **_: object) -> None:
        keys = key(instance)
        cache_forget(keys if isinstance(keys, list) else [keys])

    uid = f"forget_on_change:{model._meta.label}"
    post_save.connect(forget, sender=model, weak=False, dispatch_uid=uid)
    post_delete.connect(forget, sender=model, weak=False, dispatch_uid=uid)


def cache_unavailable_reason() -> str:
    """Return why the cache is being skipped right now (a Redis outage), or '' while it works."""
    reason = getattr(cache, "unavailable_reason", None)
    return reason() if reason is not None else ""
