"""Per-user request throttles: each view names its scope, the rates live in settings.API_THROTTLE_RATES."""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import ScopedRateThrottle

from tipengine.cache_keys import token_throttle_key

# Where CachedTokenAuthentication leaves the count it took with the token's lookup: (TokenWindow, count or None).
COUNTED_ATTR = "throttle_counted"


@dataclass(frozen=True)
class TokenWindow:
    """The fixed window a call with an API token falls in, and the counter that counts it (ADR 0098)."""

    scope: str
    number: int
    counter: str
    timeout: int


class UserScopeThrottle(ScopedRateThrottle):
    """A fixed window per user (per IP when anonymous) and scope, counted atomically in the shared cache (ADR 0096).

    DRF's own throttles read a history from the cache and write it back, so simultaneous calls all read the same
    history and all pass: 100 at once for one user served 81 against 60/min. Here each call adds one to the
    window's counter in one Redis round trip (INCR and EXPIRE in MULTI/EXEC) and passes while the count is within
    the rate. A window starts at a multiple of the rate's period, so up to twice the rate can pass around the
    boundary between two windows; Retry-After is the rest of the window.

    A call with an API token is counted by its token (a user has one) in the same round trip as the token's lookup
    (tipengine.auth, ADR 0098); this class then reads that count. Other calls count here, per user or IP.

    Rates are read at request time, so `override_settings` and a changed setting apply at once; a scope without
    a rate is not throttled. While the cache is down calls go through: Redis must never turn into an outage of
    its own.
    """

    retry_after_s: float | None = None

    def get_rate(self) -> str | None:
        if self.scope is None:  # a view without a scope (DRF's allow_request lets it through before asking)
            return None
        return settings.API_THROTTLE_RATES.get(self.scope)

    def _window(self, view: Any) -> int | None:
        """Read `view`'s scope and rate; return the number of the window now falls in (None: not throttled)."""
        self.scope = getattr(view, self.scope_attr, None)
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if self.num_requests is None or self.duration is None:
            return None
        self.now = self.timer()
        return int(self.now // self.duration)

    def token_window(self, view: Any, token: str) -> TokenWindow | None:
        """The window a call to `view` with API token `token` is counted in now, or None when it is not throttled."""
        if type(self) not in getattr(view, "throttle_classes", ()):
            return None
        number = self._window(view)
        if number is None or self.scope is None or self.duration is None:
            return None
        # The key names its window: expiry only tidies up.
        return TokenWindow(self.scope, number, token_throttle_key(token, self.scope, number), self.duration + 1)

    def allow_request(self, request: Request, view: Any) -> bool:
        number = self._window(view)
        if number is None or self.num_requests is None or self.duration is None:
            return True
        counted: tuple[TokenWindow, int | None] | None = getattr(request, COUNTED_ATTR, None)
        if counted is not None and counted[0].scope == self.scope:
            window, count = counted
            number = window.number
        else:
            key = f"{self.get_cache_key(request, view)}:{number}"
            count = window_count(key, timeout=self.duration + 1)
        if count is None or count <= self.num_requests:
            return True
        self.retry_after_s = (number + 1) * self.duration - self.now
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


def get_and_count(key: str, window: TokenWindow) -> tuple[Any, int | None]:
    """Return the cached value at `key` and, when it is there, `window`'s count after adding this call to it."""
    if hasattr(cache, "get_and_count"):  # tipengine.redis_cache: one atomic round trip (a Lua script)
        return cache.get_and_count(key, window.counter, window.timeout)
    value = cache.get(key)
    return value, (window_count(window.counter, timeout=window.timeout) if value is not None else None)
