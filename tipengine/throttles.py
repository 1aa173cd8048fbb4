"""Per-user request throttles: each view names its scope, the rates live in settings.API_THROTTLE_RATES."""

from django.conf import settings
from rest_framework.throttling import ScopedRateThrottle


class UserScopeThrottle(ScopedRateThrottle):
    """DRF's scoped throttle (per user, per IP when anonymous), counting in the shared cache.

    Rates are read at request time, so `override_settings` and a changed setting apply at once; a scope
    without a rate is not throttled. While the cache is down the history reads as empty and calls go
    through: Redis must never turn into an outage of its own.
    """

    def get_rate(self) -> str | None:
        if self.scope is None:  # a view without a scope (DRF's allow_request lets it through before asking)
            return None
        return settings.API_THROTTLE_RATES.get(self.scope)
