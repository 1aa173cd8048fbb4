"""Per-user request throttles: each view names its scope, the rates live in settings.API_THROTTLE_RATES."""

from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import ScopedRateThrottle


class UserScopeThrottle(ScopedRateThrottle):
    """A fixed window per user (per IP when anonymous) and scope, counted atomically in the shared cache (ADR 0096).

    DRF's own throttles read a history from the cache and write it back, so simultaneous calls all read the same
    history and all pass: 100 at once for one user served 81 against 60/min. Here each call adds one to the
    window's counter in one Redis round trip (INCR and EXPIRE in MULTI/EXEC) and passes while the count is within
    the rate. A window starts at a multiple of the rate's period, so up to twice the rate can pass around the
    boundary between two windows; Retry-After is the rest of the window.

    Rates are read at request time, so `override_settings` and a changed setting apply at once; a scope without
    a rate is not throttled. While the cache is down calls go through: Redis must never turn into an outage of
    its own.
    """

    retry_after_s: float | None = None

    def get_rate(self) -> str | None:
        if self.scope is None:  # a view without a scope (DRF's allow_request lets it through before asking)
            return None
        return settings.API_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request: Request, view: Any) -> bool:
        self.scope = getattr(view, self.scope_attr, None)
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if self.num_requests is None or self.duration is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        key = f"{self.get_cache_key(request, view)}:{window}"
        count = window_count(key, timeout=self.duration + 1)  # the key names its window: expiry only tidies up
        if count is None or count <= self.num_requests:
            return True
        self.retry_after_s = (window + 1) * self.duration - now
        return False

    def wait(self) -> float | None:
        return self.retry_after_s


def window_count(key: str, *, timeout: int) -> int | None:
    """Add one to the counter at `key` and return it (None: the cache cannot be reached, so nothing is counted)."""
    if hasattr(cache, "count"):  # tipengine.redis_cache: one atomic round trip
        return cache.count(key, timeout)
    # Any other cache (the local-memory one of the embedded run, one process): add and incr, each atomic there.
    cache.add(key, 0, timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between the two: not counted
        return None
