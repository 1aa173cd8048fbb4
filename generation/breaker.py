"""A circuit breaker kept in the Django cache (Redis in production), so every process shares it.

Closed: calls go through; `threshold` failures within `window_s` open it. Open: calls are refused
with CircuitOpen for `cooldown_s`. Half-open: after the cool-down exactly one caller may probe; its
success closes the breaker, its failure opens it again at once.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from prometheus_client.core import GaugeMetricFamily

from generation.cache_keys import breaker_key
from generation.errors import CircuitOpen

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CircuitBreaker:
    name: str
    threshold: int
    cooldown_s: float
    window_s: float

    def _key(self, part: str) -> str:
        return breaker_key(self.name, part)

    def state(self) -> str:
        """`open` (calls refused), `half_open` (one probe may go through) or `closed`."""
        found = cache.get_many([self._key("open_until"), self._key("tripped")])
        if self._key("open_until") in found:
            return "open"
        return "half_open" if self._key("tripped") in found else "closed"

    def is_open(self) -> bool:
        """Return True while the cool-down runs (no call may go through)."""
        return cache.get(self._key("open_until")) is not None

    def before_call(self) -> bool:
        """Raise CircuitOpen unless a call may go through now (one cache round trip when closed).

        Returns True when there is failure state that a success must clear (else `record_success` may be skipped).
        """
        state = cache.get_many([self._key("open_until"), self._key("tripped"), self._key("failures")])
        open_until = state.get(self._key("open_until"))
        if open_until is not None:
            retry_in = max(float(open_until) - time.time(), 0.0)
            raise CircuitOpen(
                f"The model gateway failed repeatedly; calls resume in {retry_in:.0f} s.",
                details={"breaker": self.name, "retry_after_s": round(retry_in, 1)},
            )
        # Half-open (tripped, cool-down over): one probe at a time; `add` is atomic, so one caller wins it.
        half_open = self._key("tripped") in state
        if half_open and not cache.add(self._key("probe"), 1, timeout=math.ceil(self._probe_ttl())):
            raise CircuitOpen("The model gateway is being probed after failures.", details={"breaker": self.name})
        return bool(state)

    def record_success(self) -> None:
        """Forget failures; close the breaker if this was the half-open probe (one round trip if healthy)."""
        state = cache.get_many([self._key("failures"), self._key("tripped"), self._key("probe")])
        if not state:
            return
        cache.delete_many(list(state))
        if self._key("tripped") in state:
            logger.info("breaker %s closed after a successful probe", self.name)

    def record_failure(self) -> None:
        if cache.get(self._key("tripped")) is not None:
            self._open(reason="probe failed")
            return
        cache.add(self._key("failures"), 0, timeout=math.ceil(self.window_s))
        try:
            failures = cache.incr(self._key("failures"))
        except ValueError:  # the window expired between add and incr: this failure starts a new one
            cache.set(self._key("failures"), 1, timeout=math.ceil(self.window_s))
            failures = 1
        if failures >= self.threshold:
            self._open(reason=f"{failures} failures")

    def reset(self) -> None:
        cache.delete_many([self._key(p) for p in ("failures", "tripped", "probe", "open_until")])

    def _open(self, *, reason: str) -> None:
        until = time.time() + self.cooldown_s
        cache.set(self._key("open_until"), until, timeout=math.ceil(self.cooldown_s))
        # `tripped` outlives the cool-down: it marks the half-open state that follows.
        cache.set(self._key("tripped"), 1, timeout=math.ceil(self.cooldown_s + self._probe_ttl() + self.window_s))
        cache.delete_many([self._key("failures"), self._key("probe")])
        logger.warning("breaker %s opened for %.0f s (%s)", self.name, self.cooldown_s, reason)

    def _probe_ttl(self) -> float:
        # A probe that never reports back (crashed worker) must not hold the breaker half-open forever.
        return settings.GENERATION_TIMEOUT_S + 5


def gateway_breaker() -> CircuitBreaker:
    """The breaker in front of the tip-generator alias, configured from settings."""
    return CircuitBreaker(
        name="tip-generator",
        threshold=settings.GENERATION_BREAKER_THRESHOLD,
        cooldown_s=settings.GENERATION_BREAKER_COOLDOWN_S,
        window_s=settings.GENERATION_BREAKER_WINDOW_S,
    )


def breaker_state_metrics() -> Iterator[GaugeMetricFamily]:
    """tipengine_llm_breaker_state: 1 for the state the shared breaker is in now, 0 for the others."""
    breaker = gateway_breaker()
    current = breaker.state()
    family = GaugeMetricFamily(
        "tipengine_llm_breaker_state", "The LLM gateway breaker's state (1: current).", labels=["breaker", "state"]
    )
    for state in ("closed", "open", "half_open"):
        family.add_metric([breaker.name, state], 1.0 if state == current else 0.0)
    yield family
