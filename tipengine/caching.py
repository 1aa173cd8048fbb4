"""Forgetting cached rows when the database changes under them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Model
from django.db.models.signals import post_delete, post_save


def cache_forget(keys: list[str]) -> None:
    """Delete `keys` now and again once the current transaction commits.

    Now: so the writer itself (and a test inside one transaction) reads fresh. After commit: a concurrent
    reader may have cached the old rows between the two, and must not keep them.
    """
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))


def forget_on_change(model: type[Model], key: Callable[[Any], str]) -> None:
    """Forget `key(row)` from the cache whenever a row of `model` is saved or deleted (through the ORM)."""

    def forget(*, instance: Model, **_: object) -> None:
        cache_forget([key(instance)])

    uid = f"forget_on_change:{model._meta.label}"
    post_save.connect(forget, sender=model, weak=False, dispatch_uid=uid)
    post_delete.connect(forget, sender=model, weak=False, dispatch_uid=uid)
