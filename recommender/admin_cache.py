"""The admin's chart pages keep their aggregate and drawn chart for a minute, per period and groups (docs/adr/0093).

An "All time" aggregate reads every tip_scores row and matplotlib then draws it: together up to a second or two
on a million rows on a busy host. Operators reload, sort and switch between pages; within a minute they read
the same figures from the cache. Stale by at most FIGURES_TTL_S: the rows are appended and then updated only by
feedback and finalization, and the page says when its figures were computed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from django.core.cache import cache
from django.utils import timezone

from recommender.cache_keys import admin_figures_key

FIGURES_TTL_S = 60
T = TypeVar("T")


@dataclass(frozen=True)
class Figures(Generic[T]):
    """What a page computed, and when (the page shows the time: its figures may be up to a minute old)."""

    value: T
    computed_at: datetime


def _text(part: object) -> str:
    """A key part without spaces (memcached-safe): a moment as ISO 8601, no bound as "-"."""
    if part is None:
        return "-"
    return part.isoformat() if isinstance(part, datetime) else str(part)


def cached_figures(
    page: str, parts: tuple[object, ...], compute: Callable[[], T], *, timeout: int = FIGURES_TTL_S
) -> Figures[T]:
    """`compute()` for `page` with these `parts` (its period, groups...), or its result of the last `timeout` s."""
    key = admin_figures_key(page, *(_text(part) for part in parts))
    found = cache.get(key)
    if isinstance(found, Figures):
        return found
    figures = Figures(compute(), timezone.now())
    cache.set(key, figures, timeout=timeout)
    return figures
